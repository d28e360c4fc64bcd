/* SPDX-License-Identifier: MIT */
/* xmpp_client.c -- a libstrophe test client: log in, join rooms, record
 * every received message that has a body as one JSON line.
 *
 * Used by the integration scripts against a real Prosody:
 *
 *   xmta_test_client --jid alice@localhost --password pw
 *                    [--host 127.0.0.1] [--port 15222]
 *                    [--join room@conference.localhost/nick]...
 *                    [--send TO --body TEXT [--reply-id ID]]
 *                    [--expect N] [--timeout S] [--duration S]
 *                    [--out FILE] [--verbose]
 *                    [--raw XML]... [--stanzas FILE] [--control FILE]
 *   xmta_test_client --get FILE INDEX FIELD
 *
 * "ready" is printed on stdout (flushed) once the client is online and
 * every room is joined. Without --duration the client exits 0 as soon as
 * N messages arrived (at once after "ready" when N is 0) and 1 when the
 * timeout passes first. With --duration it stays online that many seconds
 * after "ready" and then exits 0 if at least N messages arrived. Every
 * wait is bounded: the event loop runs in slices against a deadline.
 *
 * --raw sends XML as is once the client is ready (in order; e.g. disco
 * queries, a subscribe). --stanzas records every received presence and
 * iq, one serialized stanza per line. --control names a file the client
 * polls while online: each complete new line is sent as raw XML (a script
 * appends a kick or an affiliation change while the client stays in its
 * rooms).
 *
 * --get prints one field of the INDEX-th (0-based) JSON line of FILE,
 * strings as raw UTF-8 without a newline, so shell scripts can compare
 * bodies byte for byte without a JSON tool. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <strophe.h>

#define CLIENT_MAX_JOINS 8
#define CLIENT_MAX_RAW 16
#define CLIENT_SLICE_MS 50
#define CLIENT_LOGOUT_MS 3000

#define NS_MUC "http://jabber.org/protocol/muc"
#define NS_SID "urn:xmpp:sid:0"
#define NS_DELAY "urn:xmpp:delay"

struct client_opts {
    const char *jid;
    const char *password;
    const char *host;
    unsigned short port;
    const char *joins[CLIENT_MAX_JOINS]; /* room@service/nick */
    size_t n_joins;
    const char *send_to;
    const char *send_body;
    const char *reply_id; /* XEP-0461 <reply id=.../> on the --send message */
    long expect;
    long timeout;  /* seconds, overall */
    long duration; /* seconds after ready; 0: none */
    const char *out;
    int verbose;
    const char *raw[CLIENT_MAX_RAW];
    size_t n_raw;
    const char *stanzas;
    const char *control;
};

struct client {
    const struct client_opts *o;
    xmpp_ctx_t *ctx;
    xmpp_conn_t *conn;
    FILE *out;
    long received;
    int joined_flags[CLIENT_MAX_JOINS];
    size_t joined;
    int connected;
    int ready;
    int logging_out; /* we asked for the disconnect */
    int failed;      /* a fatal error was reported: exit 1 */
    double ready_at;
    FILE *stanzas;    /* --stanzas */
    long control_off; /* bytes of --control already sent */
};

static volatile sig_atomic_t client_stop_signal;

static void on_signal(int sig)
{
    client_stop_signal = sig;
}

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *f)
{
    fputs("usage: xmta_test_client --jid JID --password PW [--host H] "
          "[--port P]\n"
          "         [--join ROOM/NICK]... [--send TO --body TEXT]\n"
          "         [--expect N] [--timeout S] [--duration S] [--out FILE] "
          "[--verbose]\n"
          "         [--raw XML]... [--stanzas FILE] [--control FILE]\n"
          "       xmta_test_client --get FILE INDEX FIELD\n",
          f);
}

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static void
client_log(void *ud, xmpp_log_level_t level, const char *area, const char *msg)
{
    const struct client_opts *o = ud;
    static const char *names[] = {"debug", "info", "warn", "error"};

    if (level < XMPP_LEVEL_WARN && !o->verbose)
        return;
    fprintf(stderr, "xmta_test_client: strophe %s %s: %s\n", names[level], area,
            msg);
}

/* The nick part of "room@service/nick", or NULL. */
static const char *join_nick(const char *join)
{
    const char *slash = strchr(join, '/');

    return slash && slash[1] ? slash + 1 : NULL;
}

static int join_matches(const char *join, const char *from)
{
    return from && strcmp(join, from) == 0;
}

static void client_send_chat(struct client *cl)
{
    xmpp_stanza_t *m;
    char *id = xmpp_uuid_gen(cl->ctx);

    m = xmpp_message_new(cl->ctx, "chat", cl->o->send_to, id);
    if (m && xmpp_message_set_body(m, cl->o->send_body) == XMPP_EOK) {
        if (cl->o->reply_id) {
            xmpp_stanza_t *r = xmpp_stanza_new(cl->ctx);

            xmpp_stanza_set_name(r, "reply");
            xmpp_stanza_set_ns(r, "urn:xmpp:reply:0");
            xmpp_stanza_set_attribute(r, "to", cl->o->send_to);
            xmpp_stanza_set_attribute(r, "id", cl->o->reply_id);
            xmpp_stanza_add_child(m, r);
            xmpp_stanza_release(r);
        }
        xmpp_send(cl->conn, m);
    } else {
        cl->failed = 1;
    }
    if (m)
        xmpp_stanza_release(m);
    xmpp_free(cl->ctx, id);
}

static void client_become_ready(struct client *cl)
{
    if (cl->ready)
        return;
    cl->ready = 1;
    cl->ready_at = now_seconds();
    fputs("ready\n", stdout);
    fflush(stdout);
    if (cl->o->send_to)
        client_send_chat(cl);
    for (size_t i = 0; i < cl->o->n_raw; i++)
        xmpp_send_raw_string(cl->conn, "%s", cl->o->raw[i]);
}

/* One received stanza as one line of --stanzas. */
static void client_record(struct client *cl, xmpp_stanza_t *st)
{
    char *text = NULL;
    size_t len = 0;

    if (!cl->stanzas || xmpp_stanza_to_text(st, &text, &len) != XMPP_EOK)
        return;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\n' || text[i] == '\r')
            text[i] = ' ';
    fprintf(cl->stanzas, "%s\n", text);
    fflush(cl->stanzas);
    xmpp_free(cl->ctx, text);
}

static int on_iq(xmpp_conn_t *conn, xmpp_stanza_t *st, void *ud)
{
    client_record(ud, st);
    (void)conn;
    return 1;
}

/* Sends the complete lines appended to --control since the last call. */
static void client_poll_control(struct client *cl)
{
    FILE *f;
    char line[8192];

    if (!cl->o->control || !cl->ready || !cl->connected ||
        !(f = fopen(cl->o->control, "r")))
        return;
    if (fseek(f, cl->control_off, SEEK_SET) == 0) {
        while (fgets(line, sizeof(line), f)) {
            size_t n = strlen(line);

            if (n == 0 || line[n - 1] != '\n')
                break; /* not complete yet: read again next time */
            cl->control_off += (long)n;
            line[n - 1] = '\0';
            if (line[0])
                xmpp_send_raw_string(cl->conn, "%s", line);
        }
    }
    fclose(f);
}

static int on_presence(xmpp_conn_t *conn, xmpp_stanza_t *st, void *ud)
{
    struct client *cl = ud;
    const char *from = xmpp_stanza_get_from(st);
    const char *type = xmpp_stanza_get_type(st);

    client_record(cl, st);
    for (size_t i = 0; i < cl->o->n_joins; i++) {
        const char *join = cl->o->joins[i];

        if (!join_matches(join, from))
            continue;
        if (type && strcmp(type, "error") == 0) {
            char *text = NULL;
            size_t len = 0;

            xmpp_stanza_to_text(st, &text, &len);
            fprintf(stderr, "xmta_test_client: join %s failed: %s\n", join,
                    text ? text : "(error)");
            xmpp_free(cl->ctx, text);
            cl->failed = 1;
        } else if (!type && !cl->joined_flags[i]) {
            /* Self-presence: the room echoes our own occupant JID. */
            cl->joined_flags[i] = 1;
            if (++cl->joined == cl->o->n_joins)
                client_become_ready(cl);
        }
    }
    (void)conn;
    return 1;
}

static void json_set_string(json_t *obj, const char *key, const char *v)
{
    json_object_set_new(obj, key, v ? json_string(v) : json_null());
}

static int on_message(xmpp_conn_t *conn, xmpp_stanza_t *st, void *ud)
{
    struct client *cl = ud;
    char *body = xmpp_message_get_body(st);
    xmpp_stanza_t *origin;
    const char *type = xmpp_stanza_get_type(st);
    json_t *obj;
    char *line;

    if (!body)
        return 1; /* room subjects, chat states, receipts: not recorded */
    origin = xmpp_stanza_get_child_by_name_and_ns(st, "origin-id", NS_SID);
    obj = json_object();
    json_set_string(obj, "type", type ? type : "normal");
    json_set_string(obj, "from", xmpp_stanza_get_from(st));
    json_set_string(obj, "to", xmpp_stanza_get_to(st));
    json_set_string(obj, "id", xmpp_stanza_get_id(st));
    json_set_string(obj, "body", body);
    json_object_set_new(
        obj, "subject",
        json_boolean(xmpp_stanza_get_child_by_name(st, "subject") != NULL));
    json_set_string(obj, "origin_id",
                    origin ? xmpp_stanza_get_attribute(origin, "id") : NULL);
    {
        /* XEP-0359: the stanza-id a room (or the server) gave it, or null */
        xmpp_stanza_t *sid =
            xmpp_stanza_get_child_by_name_and_ns(st, "stanza-id", NS_SID);

        json_set_string(obj, "stanza_id",
                        sid ? xmpp_stanza_get_attribute(sid, "id") : NULL);
    }
    {
        /* XEP-0066: the URL of an attached file, or null */
        xmpp_stanza_t *x =
            xmpp_stanza_get_child_by_name_and_ns(st, "x", "jabber:x:oob");
        xmpp_stanza_t *u = x ? xmpp_stanza_get_child_by_name(x, "url") : NULL;
        char *url = u ? xmpp_stanza_get_text(u) : NULL;

        json_set_string(obj, "oob", url);
        if (url)
            xmpp_free(cl->ctx, url);
    }
    {
        /* XEP-0308: the id a correction replaces, or null */
        xmpp_stanza_t *r = xmpp_stanza_get_child_by_name_and_ns(
            st, "replace", "urn:xmpp:message-correct:0");

        json_set_string(obj, "replace",
                        r ? xmpp_stanza_get_attribute(r, "id") : NULL);
    }
    json_object_set_new(obj, "delay",
                        json_boolean(xmpp_stanza_get_child_by_name_and_ns(
                                         st, "delay", NS_DELAY) != NULL));
    line = json_dumps(obj, JSON_COMPACT);
    if (line && cl->out) {
        fprintf(cl->out, "%s\n", line);
        fflush(cl->out);
    }
    if (cl->o->verbose && line)
        fprintf(stderr, "xmta_test_client: got %s\n", line);
    free(line);
    json_decref(obj);
    xmpp_free(cl->ctx, body);
    cl->received++;
    (void)conn;
    return 1;
}

static void client_send_joins(struct client *cl)
{
    for (size_t i = 0; i < cl->o->n_joins; i++) {
        xmpp_stanza_t *p = xmpp_presence_new(cl->ctx);
        xmpp_stanza_t *x = xmpp_stanza_new(cl->ctx);
        xmpp_stanza_t *h = xmpp_stanza_new(cl->ctx);

        xmpp_stanza_set_to(p, cl->o->joins[i]);
        xmpp_stanza_set_name(x, "x");
        xmpp_stanza_set_ns(x, NS_MUC);
        xmpp_stanza_set_name(h, "history");
        xmpp_stanza_set_attribute(h, "maxstanzas", "0");
        xmpp_stanza_add_child_ex(x, h, 0);
        xmpp_stanza_add_child_ex(p, x, 0);
        xmpp_send(cl->conn, p);
        xmpp_stanza_release(p);
    }
}

static void on_conn(xmpp_conn_t *conn,
                    xmpp_conn_event_t event,
                    int error,
                    xmpp_stream_error_t *stream_error,
                    void *ud)
{
    struct client *cl = ud;

    if (event == XMPP_CONN_CONNECT) {
        xmpp_stanza_t *pres = xmpp_presence_new(cl->ctx);

        cl->connected = 1;
        xmpp_handler_add(conn, on_message, NULL, "message", NULL, cl);
        xmpp_handler_add(conn, on_presence, NULL, "presence", NULL, cl);
        xmpp_handler_add(conn, on_iq, NULL, "iq", NULL, cl);
        xmpp_send(conn, pres);
        xmpp_stanza_release(pres);
        if (cl->o->n_joins > 0)
            client_send_joins(cl);
        else
            client_become_ready(cl);
        return;
    }
    if (cl->logging_out) {
        cl->connected = 0;
        return;
    }
    fprintf(stderr, "xmta_test_client: %s: disconnected (error %d%s%s)\n",
            cl->o->jid, error, stream_error ? ", stream error " : "",
            stream_error && stream_error->text ? stream_error->text : "");
    cl->connected = 0;
    cl->failed = 1;
}

static int client_finished(struct client *cl, double now, int *rc)
{
    const struct client_opts *o = cl->o;

    if (client_stop_signal) {
        *rc = 1;
        return 1;
    }
    if (cl->failed) {
        *rc = 1;
        return 1;
    }
    if (!cl->ready)
        return 0;
    if (o->duration > 0) {
        if (now - cl->ready_at < (double)o->duration)
            return 0;
        *rc = cl->received >= o->expect ? 0 : 1;
        return 1;
    }
    if (cl->received >= o->expect) {
        *rc = 0;
        return 1;
    }
    return 0;
}

static int client_run(const struct client_opts *o)
{
    struct client cl = {0};
    xmpp_log_t log = {client_log, (void *)o};
    double deadline = now_seconds() + (double)o->timeout;
    int rc = 1;

    cl.o = o;
    if (o->out && !(cl.out = fopen(o->out, "w"))) {
        fprintf(stderr, "xmta_test_client: %s: %s\n", o->out, strerror(errno));
        return 1;
    }
    if (o->stanzas && !(cl.stanzas = fopen(o->stanzas, "w"))) {
        fprintf(stderr, "xmta_test_client: %s: %s\n", o->stanzas,
                strerror(errno));
        if (cl.out)
            fclose(cl.out);
        return 1;
    }
    xmpp_initialize();
    if (!(cl.ctx = xmpp_ctx_new(NULL, &log)) ||
        !(cl.conn = xmpp_conn_new(cl.ctx)))
        goto out;
    xmpp_conn_set_flags(cl.conn, XMPP_CONN_FLAG_DISABLE_TLS);
    xmpp_conn_set_jid(cl.conn, o->jid);
    xmpp_conn_set_pass(cl.conn, o->password);
    if (xmpp_connect_client(cl.conn, o->host, o->port, on_conn, &cl) !=
        XMPP_EOK) {
        fprintf(stderr, "xmta_test_client: cannot connect to %s:%u\n",
                o->host ? o->host : "(srv)", (unsigned)o->port);
        goto out;
    }
    for (;;) {
        double now = now_seconds();

        if (client_finished(&cl, now, &rc))
            break;
        if (now >= deadline) {
            fprintf(stderr,
                    "xmta_test_client: %s: timeout after %lds (%s, %ld of "
                    "%ld messages)\n",
                    o->jid, o->timeout, cl.ready ? "online" : "not online",
                    cl.received, o->expect);
            rc = 1;
            break;
        }
        xmpp_run_once(cl.ctx, CLIENT_SLICE_MS);
        client_poll_control(&cl);
    }
    if (cl.connected) {
        double stop = now_seconds() + CLIENT_LOGOUT_MS / 1000.0;

        cl.logging_out = 1;
        xmpp_disconnect(cl.conn);
        while (!xmpp_conn_is_disconnected(cl.conn) && now_seconds() < stop)
            xmpp_run_once(cl.ctx, CLIENT_SLICE_MS);
    }
out:
    fprintf(stderr, "xmta_test_client: %s: received %ld message(s), exit %d\n",
            o->jid, cl.received, rc);
    if (cl.conn)
        xmpp_conn_release(cl.conn);
    if (cl.ctx)
        xmpp_ctx_free(cl.ctx);
    xmpp_shutdown();
    if (cl.out)
        fclose(cl.out);
    if (cl.stanzas)
        fclose(cl.stanzas);
    return rc;
}

/* --get FILE INDEX FIELD */
static int client_get(const char *path, const char *index, const char *field)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    long want;
    long n = 0;
    int rc = 1;

    if (!f) {
        fprintf(stderr, "xmta_test_client: %s: %s\n", path, strerror(errno));
        return 1;
    }
    if (parse_long(index, 0, LONG_MAX, &want) != 0) {
        fprintf(stderr, "xmta_test_client: bad index '%s'\n", index);
        goto out;
    }
    while (getline(&line, &cap, f) >= 0) {
        json_error_t jerr;
        json_t *obj, *v;

        if (n++ != want)
            continue;
        if (!(obj = json_loads(line, 0, &jerr))) {
            fprintf(stderr, "xmta_test_client: line %ld: %s\n", want,
                    jerr.text);
            goto out;
        }
        v = json_object_get(obj, field);
        if (json_is_string(v)) {
            fwrite(json_string_value(v), 1, json_string_length(v), stdout);
            rc = 0;
        } else if (json_is_boolean(v)) {
            fputs(json_is_true(v) ? "true" : "false", stdout);
            rc = 0;
        } else if (json_is_null(v)) {
            rc = 0; /* prints nothing */
        } else {
            fprintf(stderr, "xmta_test_client: no field '%s'\n", field);
        }
        json_decref(obj);
        goto out;
    }
    fprintf(stderr, "xmta_test_client: %s has %ld line(s), no index %ld\n",
            path, n, want);
out:
    free(line);
    fclose(f);
    return rc;
}

int main(int argc, char **argv)
{
    struct client_opts o = {.host = "127.0.0.1", .port = 15222, .timeout = 30};
    struct sigaction sa;

    if (argc == 5 && strcmp(argv[1], "--get") == 0)
        return client_get(argv[2], argv[3], argv[4]);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;

        if (strcmp(a, "--verbose") == 0) {
            o.verbose = 1;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            usage(stderr);
            return 2;
        }
        i++;
        if (strcmp(a, "--jid") == 0) {
            o.jid = v;
        } else if (strcmp(a, "--password") == 0) {
            o.password = v;
        } else if (strcmp(a, "--host") == 0) {
            o.host = v;
        } else if (strcmp(a, "--port") == 0 &&
                   parse_long(v, 1, 65535, &n) == 0) {
            o.port = (unsigned short)n;
        } else if (strcmp(a, "--join") == 0 && join_nick(v) &&
                   o.n_joins < CLIENT_MAX_JOINS) {
            o.joins[o.n_joins++] = v;
        } else if (strcmp(a, "--send") == 0) {
            o.send_to = v;
        } else if (strcmp(a, "--body") == 0) {
            o.send_body = v;
        } else if (strcmp(a, "--reply-id") == 0) {
            o.reply_id = v;
        } else if (strcmp(a, "--expect") == 0 &&
                   parse_long(v, 0, 1000000, &n) == 0) {
            o.expect = n;
        } else if (strcmp(a, "--timeout") == 0 &&
                   parse_long(v, 1, 86400, &n) == 0) {
            o.timeout = n;
        } else if (strcmp(a, "--duration") == 0 &&
                   parse_long(v, 0, 86400, &n) == 0) {
            o.duration = n;
        } else if (strcmp(a, "--out") == 0) {
            o.out = v;
        } else if (strcmp(a, "--raw") == 0 && o.n_raw < CLIENT_MAX_RAW) {
            o.raw[o.n_raw++] = v;
        } else if (strcmp(a, "--stanzas") == 0) {
            o.stanzas = v;
        } else if (strcmp(a, "--control") == 0) {
            o.control = v;
        } else {
            fprintf(stderr, "xmta_test_client: bad option %s %s\n", a, v);
            usage(stderr);
            return 2;
        }
    }
    if (!o.jid || !o.password || (!o.send_to != !o.send_body)) {
        usage(stderr);
        return 2;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    return client_run(&o);
}
