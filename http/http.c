/* SPDX-License-Identifier: MIT */
/* http.c -- the webhook frontend: evhttp routing, token auth, /health,
 * /metrics. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "conf/conf.h"
#include "http/body.h"
#include "http/format.h"
#include "http/http.h"
#include "http/internal.h"
#include "http/labels.h"
#include "http/metrics.h"
#include "xml/err.h"
#include "xml/log.h"
#include "xml/msg.h"
#include "xml/xml.h"

#define HTTP_TIMEOUT 30       /* seconds to write a reply (at least) */
#define HTTP_COUNTS_MAX 4096  /* (hook, status) pairs counted */
#define HTTP_RETRY_AFTER "30" /* seconds, when the outbox is full */
#define HTTP_BACKLOG 128

/* Every method reaches on_request(), so that a wrong one gets our JSON 405
 * with an Allow header instead of evhttp's HTML 501. */
#define HTTP_ALL_METHODS                                                       \
    (EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |     \
     EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |               \
     EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH)

/* Requests answered, by hook ("" before one is known) and status. */
struct http_count {
    char hook[72];
    int code;
    unsigned long n;
};

struct http {
    struct event_base *base;
    const struct conf *cfg;
    const struct http_backend *backend;
    struct evhttp *eh;                  /* plain listeners */
    struct evhttp *eh_tls;              /* listen = ... tls, or NULL */
    struct evhttp_bound_socket **bound; /* one per [http] listen */
    struct evhttp **bound_eh;           /* the server of each */
    size_t n_bound;
    unsigned short port; /* of the first listener */
    struct tmpl **tmpls; /* compiled template = of each hook, or NULL */
    /* issue 6 */
    struct http_conns *conns;    /* connection limits, deadlines, TLS */
    unsigned char *digests;      /* SHA-256 of each hook's token */
    struct http_bucket *buckets; /* rate = of each hook */
    struct http_count *counts;   /* for /metrics */
    size_t n_counts;
    struct metrics_histogram latency;
};

/* One request being answered: what the log line needs. */
struct call {
    struct http *h;
    struct evhttp_request *req;
    char peer[INET6_ADDRSTRLEN + 10];
    const char *hook; /* the hook's name once the token matched */
    uint64_t start_us;
};

/* Counts one answer for /metrics: its hook and status, and its time. */
static void
http_count(struct http *h, const char *hook, int code, uint64_t start_us)
{
    uint64_t now = http_now_us();
    struct http_count *c = NULL;

    if (!h)
        return;
    if (!hook)
        hook = "";
    metrics_histogram_observe(
        &h->latency, now > start_us ? (double)(now - start_us) / 1e6 : 0);
    for (size_t i = 0; i < h->n_counts && !c; i++)
        if (h->counts[i].code == code && strcmp(h->counts[i].hook, hook) == 0)
            c = &h->counts[i];
    if (!c && h->n_counts < HTTP_COUNTS_MAX) {
        struct http_count *v =
            realloc(h->counts, (h->n_counts + 1) * sizeof(*v));

        if (!v)
            return;
        h->counts = v;
        c = &v[h->n_counts++];
        snprintf(c->hook, sizeof(c->hook), "%s", hook);
        c->code = code;
        c->n = 0;
    }
    if (c)
        c->n++;
}

/* ---- replies ----------------------------------------------------------- */

/* The Date header evhttp would add (RFC 7231 form, C locale), formatted
 * once per second rather than for every answer (issue 8's profile). Added
 * last, where evhttp puts its own, so the headers come out as before. */
static void http_date(struct evkeyvalq *hdr)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed",
                                    "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr",
                                       "May", "Jun", "Jul", "Aug",
                                       "Sep", "Oct", "Nov", "Dec"};
    static time_t last = (time_t)-1;
    static char date[40];
    time_t now = time(NULL);

    if (now != last) {
        struct tm tm;

        gmtime_r(&now, &tm);
        snprintf(date, sizeof(date), "%s, %02d %s %04d %02d:%02d:%02d GMT",
                 days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
                 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
        last = now;
    }
    evhttp_add_header(hdr, "Date", date);
}

/* Sends obj (taken) as the JSON body of a reply with status code. */
static void reply_json(struct evhttp_request *req, int code, json_t *obj)
{
    struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    struct evbuffer *buf = text ? evbuffer_new() : NULL;

    json_decref(obj);
    if (!buf || evbuffer_add(buf, text, strlen(text)) != 0 ||
        evbuffer_add(buf, "\n", 1) != 0) {
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        goto out;
    }
    evhttp_add_header(hdr, "Content-Type", "application/json");
    evhttp_add_header(hdr, "Cache-Control", "no-store");
    http_date(hdr);
    evhttp_send_reply(req, code, NULL, buf);
out:
    if (buf)
        evbuffer_free(buf);
    free(text);
}

/* {"ok":false,"error":error} */
static void reply_error(struct evhttp_request *req, int code, const char *error)
{
    char safe[512];
    size_t n = strlen(error);

    /* The text may quote the request: keep the JSON string valid. */
    if (n >= sizeof(safe))
        n = sizeof(safe) - 1;
    memcpy(safe, error, n);
    xml_text_sanitize(safe, n);
    reply_json(req, code, json_pack("{s:b,s:s}", "ok", 0, "error", safe));
}

static void call_log(const struct call *c, int code, const char *reason)
{
    http_count(c->h, c->hook, code, c->start_us);
    if (c->hook)
        xlog_info("http", "hook=%s status=%d reason=%s peer=%s", c->hook, code,
                  reason, c->peer);
    else
        xlog_info("http", "status=%d reason=%s peer=%s", code, reason, c->peer);
}

/* Answers an error and logs it; log_reason NULL logs error itself. */
static void call_fail(const struct call *c,
                      int code,
                      const char *error,
                      const char *log_reason)
{
    reply_error(c->req, code, error);
    call_log(c, code, log_reason ? log_reason : error);
}

/* ---- /hook ------------------------------------------------------------- */

/* A random (version 4) UUID in its 36-character text form. The random
 * bytes are drawn from OpenSSL for 32 ids at a time: one RAND_bytes call
 * per id cost about 5% of a webhook's CPU (issue 8's profile). */
static int uuid_v4(char out[MSG_ID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    static unsigned char pool[32 * 16];
    static size_t used = sizeof(pool);
    unsigned char b[16];
    size_t o = 0;

    if (used == sizeof(pool)) {
        if (RAND_bytes(pool, sizeof(pool)) != 1)
            return XMTA_E_IO;
        used = 0;
    }
    memcpy(b, pool + used, sizeof(b));
    explicit_bzero(pool + used, sizeof(b));
    used += sizeof(b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    for (size_t i = 0; i < sizeof(b); i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
    return 0;
}

/* The token of /hook/TOKEN (taken from rt) or from "Authorization:
 * Bearer TOKEN". Malloc'd; NULL when there is none. */
static char *token_get(struct evhttp_request *req, struct http_route *rt)
{
    const char *auth, *t;
    char *tok;
    size_t n;

    if (rt->token) {
        tok = rt->token;
        rt->token = NULL;
        return tok;
    }
    auth = evhttp_find_header(evhttp_request_get_input_headers(req),
                              "Authorization");
    if (!auth || strncasecmp(auth, "Bearer", 6) != 0 ||
        (auth[6] != ' ' && auth[6] != '\t'))
        return NULL;
    t = auth + 6;
    t += strspn(t, " \t");
    n = strlen(t);
    while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
        n--;
    if (n == 0)
        return NULL;
    return strndup(t, n);
}

/* The status for a body_decode() or body_msg_new() error. */
static int decode_status(int rc)
{
    switch (rc) {
    case XMTA_E_NOTFOUND:
        return 415;
    case XMTA_E_DENIED:
        return 403;
    case XMTA_E_NOMEM:
        return 500;
    default:
        return 400;
    }
}

/* ---- formats (issue 5) ------------------------------------------------ */

/* The answer to an accepted message, as its format's callers expect:
 * Slack's notifiers check for "ok", Discord's answer is 204. */
static void
reply_accepted(struct evhttp_request *req, int reply, const char *id)
{
    struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
    struct evbuffer *buf;

    if (reply == FMT_REPLY_NONE) {
        http_date(hdr);
        evhttp_send_reply(req, 204, "No Content", NULL);
        return;
    }
    if (reply != FMT_REPLY_OK) {
        /* {"ok":true,"id":ID}: the id is a UUID (nothing to escape), so
         * no JSON object is built for the most frequent answer */
        static const char head[] = "{\"ok\":true,\"id\":\"";
        char text[sizeof(head) + MSG_ID_LEN + 3];
        size_t n = strnlen(id, MSG_ID_LEN);

        memcpy(text, head, sizeof(head) - 1);
        memcpy(text + sizeof(head) - 1, id, n);
        memcpy(text + sizeof(head) - 1 + n, "\"}\n", 3);
        buf = evhttp_request_get_output_buffer(req);
        if (evbuffer_add(buf, text, sizeof(head) - 1 + n + 3) != 0) {
            evhttp_send_error(req, HTTP_INTERNAL, NULL);
            return;
        }
        evhttp_add_header(hdr, "Content-Type", "application/json");
        evhttp_add_header(hdr, "Cache-Control", "no-store");
        http_date(hdr);
        evhttp_send_reply(req, 202, NULL, NULL);
        return;
    }
    if (!(buf = evbuffer_new()) || evbuffer_add(buf, "ok", 2) != 0) {
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
    } else {
        evhttp_add_header(hdr, "Content-Type", "text/plain; charset=utf-8");
        evhttp_add_header(hdr, "Cache-Control", "no-store");
        http_date(hdr);
        evhttp_send_reply(req, 200, "OK", buf);
    }
    if (buf)
        evbuffer_free(buf);
}

/* Decodes the request's body for hook in its format: /hook/TOKEN/NAME,
 * else the hook's format =, else detected. Checks the signature when the
 * hook has a secret. Returns 0 (f filled, *reply set) or an HTTP status
 * with err filled; *quotes_body when err may quote the body. */
static int hook_decode(struct call *c,
                       const struct conf_hook *hook,
                       const struct http_route *rt,
                       const char *data,
                       size_t len,
                       struct body_fields *f,
                       json_t **tree,
                       int *reply,
                       int *quotes_body,
                       char *err,
                       size_t errlen)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(c->req);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(c->req);
    const char *name = rt->format ? rt->format : hook->format;
    const struct fmt_def *forced = NULL, *used = NULL;
    struct fmt_request rq = {0};
    struct fmt_header *hdrs = NULL;
    struct evkeyval *kv;
    size_t n = 0;
    int rc, code = 0;

    *quotes_body = 0;
    if (name && strcasecmp(name, "auto") != 0 &&
        !(forced = format_find(name))) {
        snprintf(err, errlen, "unknown format '%.40s' (known: %s)", name,
                 format_names());
        return 404;
    }
    TAILQ_FOREACH (kv, in, next)
        n++;
    if (n && !(hdrs = calloc(n, sizeof(*hdrs)))) {
        snprintf(err, errlen, "out of memory");
        return 500;
    }
    n = 0;
    TAILQ_FOREACH (kv, in, next) {
        hdrs[n].name = kv->key;
        hdrs[n++].value = kv->value;
    }
    rq.content_type = evhttp_find_header(in, "Content-Type");
    rq.data = data;
    rq.len = len;
    rq.query = uri ? evhttp_uri_get_query(uri) : NULL;
    rq.headers = hdrs;
    rq.n_headers = n;
    if (hook->sig_secret &&
        fmt_signature_check(&rq, hook->sig_secret, hook->sig_header, err,
                            errlen) != 0) {
        code = 401;
        goto out;
    }
    rc = format_decode(
        forced, c->h->tmpls ? c->h->tmpls[hook - c->h->cfg->hooks] : NULL, &rq,
        hook->max_message, f, &used, tree, err, errlen);
    if (rc != 0) {
        code = decode_status(rc);
        *quotes_body = rc == XMTA_E_PARSE;
        goto out;
    }
    *reply = used ? (int)used->reply : FMT_REPLY_JSON;
    xlog_debug("http", "hook=%s format=%s", hook->name,
               used ? used->name : "?");
out:
    free(hdrs);
    return code;
}

/* The status reply_accepted() answers with. */
static int reply_code(int reply)
{
    return reply == FMT_REPLY_OK ? 200 : reply == FMT_REPLY_NONE ? 204 : 202;
}

/* A request whose answer waits for the spool's group commit: what the
 * reply and its log line need, copied (a reload may free the hook). */
struct http_wait {
    struct http *h;
    uint64_t start_us;
    struct evhttp_request *req;
    const struct http_backend *be; /* for the refusal's reason */
    char id[MSG_ID_LEN + 1];
    char peer[INET6_ADDRSTRLEN + 10];
    int reply; /* enum fmt_reply */
    char hook[];
};

static struct http_wait *
http_wait_new(const struct call *c, const char *hook, const char *id)
{
    size_t n = strlen(hook) + 1;
    struct http_wait *w = malloc(sizeof(*w) + n);

    if (!w)
        return NULL;
    w->h = c->h;
    w->start_us = c->start_us;
    w->req = c->req;
    w->be = c->h->backend;
    memcpy(w->id, id, sizeof(w->id));
    memcpy(w->peer, c->peer, sizeof(w->peer));
    memcpy(w->hook, hook, n);
    return w;
}

/* The backend's answer: 202 once the message is durable, else 503. */
static void http_wait_done(void *arg, int rc)
{
    struct http_wait *w = arg;
    struct call c = {
        .h = w->h, .req = w->req, .hook = w->hook, .start_us = w->start_us};

    memcpy(c.peer, w->peer, sizeof(c.peer));
    if (rc == 0) {
        reply_accepted(w->req, w->reply, w->id);
        http_count(w->h, w->hook, reply_code(w->reply), w->start_us);
        xlog_info("http", "hook=%s status=%d id=%s peer=%s", w->hook,
                  w->reply == FMT_REPLY_OK     ? 200
                  : w->reply == FMT_REPLY_NONE ? 204
                                               : 202,
                  w->id, w->peer);
    } else {
        evhttp_add_header(evhttp_request_get_output_headers(w->req),
                          "Retry-After", HTTP_RETRY_AFTER);
        call_fail(&c, 503,
                  w->be && w->be->refusal ? w->be->refusal(w->be->ud)
                  : rc == XMTA_E_FULL     ? "outbox full"
                                          : "spool unavailable",
                  NULL);
    }
    free(w);
}

/* rate = / burst =: over the hook's bucket, 429 with Retry-After. */
static int hook_rate_limited(struct call *c, const struct conf_hook *hook)
{
    struct http *h = c->h;
    unsigned long wait;
    char secs[24], error[128];

    if (!h->buckets || !hook->rate_n)
        return 0;
    wait = http_bucket_take(&h->buckets[hook - h->cfg->hooks], hook,
                            http_now_us());
    if (wait == 0)
        return 0;
    snprintf(secs, sizeof(secs), "%lu", wait);
    snprintf(error, sizeof(error), "rate limit exceeded: %u/%us, burst %u",
             hook->rate_n, hook->rate_period, hook->burst);
    evhttp_add_header(evhttp_request_get_output_headers(c->req), "Retry-After",
                      secs);
    reply_json(c->req, 429,
               json_pack("{s:b,s:s,s:I}", "ok", 0, "error", error,
                         "retry_after", (json_int_t)wait));
    call_log(c, 429, "rate limited");
    return 1;
}

static void handle_hook(struct call *c, struct http_route *rt)
{
    struct evhttp_request *req = c->req;
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    const struct conf *cfg = c->h->cfg;
    const struct http_backend *be = c->h->backend;
    struct body_fields f = {0};
    const struct conf_hook *hook;
    struct msg *m = NULL;
    json_t *tree = NULL; /* the body as a JSON object, parsed once */
    char err[BODY_ERR_MAX], id[MSG_ID_LEN + 1];
    const char *data, *error = err, *log_reason = NULL;
    size_t len;
    char *token = NULL, *full = NULL;
    int rc, code, reply = FMT_REPLY_JSON, quotes_body = 0;

    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        evhttp_add_header(out, "Allow", "POST");
        code = 405;
        error = "method not allowed";
        goto fail;
    }
    token = token_get(req, rt);
    hook = token ? http_auth_find(cfg, c->h->digests, token) : NULL;
    if (!hook) {
        evhttp_add_header(out, "WWW-Authenticate", "Bearer realm=\"xmta\"");
        code = 401;
        error = token ? "unknown token" : "missing token";
        goto fail;
    }
    explicit_bzero(token, strlen(token));
    free(token);
    token = NULL;
    c->hook = hook->name;
    if (hook_rate_limited(c, hook))
        return;

    len = evbuffer_get_length(in);
    data = len ? (const char *)evbuffer_pullup(in, -1) : "";
    if (len > cfg->max_body) { /* evhttp enforces it already */
        code = 413;
        error = "request body too large";
        goto fail;
    }
    if (!data) {
        code = 500;
        error = "out of memory";
        goto fail;
    }
    xlog_debug("http", "hook=%s body_len=%zu", hook->name, len);
    code = hook_decode(c, hook, rt, data, len, &f, &tree, &reply, &quotes_body,
                       err, sizeof(err));
    if (code != 0) {
        if (code == 401)
            evhttp_add_header(out, "WWW-Authenticate", "Signature");
        if (quotes_body) /* err may quote the body: not for logs */
            log_reason = "malformed body";
        goto fail;
    }
    full = f.full; /* the uncut text of a rendered format, or NULL */
    f.full = NULL;
    rc = body_msg_new(hook, &f, &m, err, sizeof(err)); /* clears f */
    if (rc != 0) {
        free(full);
        code = decode_status(rc);
        goto fail;
    }
    /* Every body is cut at max_message, plain text and the generic fields
     * too, not only the rendered formats (a 900 kB text/plain post must not
     * become one 900 kB chat message); with long_body = upload the whole
     * text follows as a file. */
    if (!full && !(m->body = fmt_cut_full(m->body, hook->max_message, &full))) {
        msg_free(m);
        code = 500;
        error = "out of memory";
        goto fail;
    }
    if (hook->long_body_upload)
        m->long_text = full;
    else
        free(full);
    if (http_am_alert(tree, m) != 0) { /* the alert lifecycle */
        msg_free(m);
        code = 500;
        error = "out of memory";
        goto fail;
    }
    if (hook->alertmanager_url) /* for "ack" in reply (issue 7) */
        m->labels = http_am_labels(tree);
    if (hook->n_attach_hosts) /* a file to upload after the text */
        m->attach = http_attach_url(
            tree, evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req)));
    json_decref(tree);
    tree = NULL;
    if (uuid_v4(m->id) != 0) {
        msg_free(m);
        code = 500;
        error = "no random bytes for the message id";
        goto fail;
    }
    memcpy(id, m->id, sizeof(id));
    if (be->submit_async) {
        struct http_wait *w = http_wait_new(c, hook->name, id);

        if (!w) {
            msg_free(m);
            code = 500;
            error = "out of memory";
            goto fail;
        }
        w->reply = reply;
        rc = be->submit_async(be->ud, m, http_wait_done, w); /* takes m */
        if (rc == 0)
            return; /* answered by http_wait_done() */
        free(w);
    } else {
        rc = be->submit(be->ud, m); /* takes m */
    }
    if (rc == XMTA_E_IO) {
        evhttp_add_header(out, "Retry-After", HTTP_RETRY_AFTER);
        code = 503;
        error = be->refusal ? be->refusal(be->ud) : "spool unavailable";
        goto fail;
    }
    if (rc == XMTA_E_FULL) {
        evhttp_add_header(out, "Retry-After", HTTP_RETRY_AFTER);
        code = 503;
        error = be->refusal ? be->refusal(be->ud) : "outbox full";
        goto fail;
    }
    if (rc != 0) {
        code = 400;
        error = "message rejected";
        log_reason = xmta_strerror(rc);
        goto fail;
    }
    reply_accepted(req, reply, id);
    http_count(c->h, hook->name, reply_code(reply), c->start_us);
    xlog_info("http", "hook=%s status=%d id=%s peer=%s", hook->name,
              reply == FMT_REPLY_OK     ? 200
              : reply == FMT_REPLY_NONE ? 204
                                        : 202,
              id, c->peer);
    return;

fail:
    if (token) {
        explicit_bzero(token, strlen(token));
        free(token);
    }
    json_decref(tree);
    call_fail(c, code, error, log_reason);
}

/* ---- /health, /metrics ------------------------------------------------- */

/* GET or HEAD from an address of status_allow; else answered here (405,
 * 403) and 0. */
static int status_check(struct call *c)
{
    enum evhttp_cmd_type method = evhttp_request_get_command(c->req);
    struct evhttp_connection *conn = evhttp_request_get_connection(c->req);
    char *addr = NULL;
    ev_uint16_t port = 0;

    if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
        evhttp_add_header(evhttp_request_get_output_headers(c->req), "Allow",
                          "GET, HEAD");
        call_fail(c, 405, "method not allowed", NULL);
        return 0;
    }
    if (conn)
        evhttp_connection_get_peer(conn, &addr, &port);
    if (!http_status_allowed(c->h->cfg, addr)) {
        call_fail(c, 403, "forbidden", "not in status_allow");
        return 0;
    }
    return 1;
}

/* The families built from the backend's status. */
static void metrics_status(struct metrics *m, const struct http_status *st)
{
    static const char *const room_states[] = {"joined", "joining", "wait",
                                              "failed", "idle"};

    metrics_gauge(m, "xmta_stream_up",
                  "1 when the component stream is authenticated.", st->online);
    metrics_family(m, "xmta_stream_state", METRICS_GAUGE,
                   "The component stream's state (1 for the current one).");
    metrics_sample(m, "xmta_stream_state", 1, "state",
                   st->online  ? "online"
                   : st->state ? st->state
                               : "offline",
                   NULL);
    metrics_counter(m, "xmta_stream_reconnects_total",
                    "Times the stream was authenticated again after the "
                    "first.",
                    (double)st->reconnects);
    metrics_counter(m, "xmta_messages_delivered_total",
                    "Deliveries (one per recipient) written to the stream.",
                    (double)st->delivered);
    metrics_counter(m, "xmta_messages_acknowledged_total",
                    "Deliveries the server acknowledged.",
                    (double)st->acknowledged);
    metrics_counter(m, "xmta_messages_bounced_total",
                    "Message errors from the server matched to a "
                    "delivery.",
                    (double)st->bounced);
    metrics_counter(m, "xmta_messages_expired_total",
                    "Deliveries dropped after [spool] max_age.",
                    (double)st->spool_expired);
    metrics_gauge(m, "xmta_outbox_messages", "Messages waiting in the outbox.",
                  (double)st->queued);
    metrics_gauge(m, "xmta_spool_enabled", "1 when the spool is on disk.",
                  st->spool_enabled);
    metrics_gauge(m, "xmta_spool_ok", "0 when the spool cannot be written.",
                  st->spool_ok);
    metrics_gauge(m, "xmta_spool_depth",
                  "Deliveries not yet acknowledged by the server.",
                  (double)st->spool_depth);
    metrics_gauge(m, "xmta_spool_oldest_age_seconds",
                  "Age of the oldest unacknowledged delivery.",
                  (double)st->spool_oldest_age);
    metrics_family(m, "xmta_rooms", METRICS_GAUGE, "Rooms by state.");
    for (size_t s = 0; s < sizeof(room_states) / sizeof(room_states[0]); s++) {
        size_t n = 0;

        for (size_t i = 0; i < st->n_room && i < HTTP_ROOMS_MAX; i++)
            n += st->room[i].state &&
                 strcmp(st->room[i].state, room_states[s]) == 0;
        metrics_sample(m, "xmta_rooms", (double)n, "state", room_states[s],
                       NULL);
    }
    metrics_family(m, "xmta_room_state", METRICS_GAUGE,
                   "Each room's state (1 for the current one).");
    for (size_t i = 0; i < st->n_room && i < HTTP_ROOMS_MAX; i++)
        metrics_sample(m, "xmta_room_state", 1, "room",
                       st->room[i].jid ? st->room[i].jid : "", "bot",
                       st->room[i].bot ? st->room[i].bot : "", "state",
                       st->room[i].state ? st->room[i].state : "", NULL);
}

/* The families counted here: answers by hook and status, accepted and
 * rate-limited by hook, latency. */
static void metrics_http(struct metrics *m, const struct http *h)
{
    char code[8];

    metrics_family(m, "xmta_http_requests_total", METRICS_COUNTER,
                   "HTTP requests answered, by hook (\"\" before a token "
                   "matched) and status code.");
    for (size_t i = 0; i < h->n_counts; i++) {
        snprintf(code, sizeof(code), "%d", h->counts[i].code);
        metrics_sample(m, "xmta_http_requests_total", (double)h->counts[i].n,
                       "hook", h->counts[i].hook, "code", code, NULL);
    }
    metrics_family(m, "xmta_messages_accepted_total", METRICS_COUNTER,
                   "Webhook messages accepted (answered 2xx), by hook.");
    metrics_family(m, "xmta_http_rate_limited_total", METRICS_COUNTER,
                   "Webhook requests refused with 429 by rate =, by hook.");
    /* Every configured hook has both, 0 until it counts. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t k = 0; k < h->cfg->n_hooks; k++) {
            const char *name = h->cfg->hooks[k].name;
            unsigned long n = 0;

            for (size_t i = 0; i < h->n_counts; i++) {
                int cd = h->counts[i].code;

                if (strcmp(h->counts[i].hook, name) == 0 &&
                    (pass ? cd == 429 : cd >= 200 && cd < 300))
                    n += h->counts[i].n;
            }
            metrics_sample(m,
                           pass ? "xmta_http_rate_limited_total"
                                : "xmta_messages_accepted_total",
                           (double)n, "hook", name, NULL);
        }
    }
    metrics_histogram_write(m, "xmta_http_request_duration_seconds",
                            "Time from a complete request to its answer.",
                            &h->latency);
}

static void handle_metrics(struct call *c)
{
    const struct http_backend *be = c->h->backend;
    struct evkeyvalq *hdr = evhttp_request_get_output_headers(c->req);
    struct http_status st = {0};
    struct evbuffer *buf;
    struct metrics *m = NULL;

    if (!status_check(c))
        return;
    /* Counted before writing, so that it shows itself. */
    http_count(c->h, NULL, 200, c->start_us);
    if (!(buf = evbuffer_new()) || !(m = metrics_new(buf))) {
        evhttp_send_error(c->req, HTTP_INTERNAL, NULL);
        goto out;
    }
    if (be->status)
        be->status(be->ud, &st);
    metrics_http(m, c->h);
    http_conns_metrics(c->h->conns, m);
    metrics_status(m, &st);
    if (be->metrics)
        be->metrics(be->ud, m);
    if (metrics_error(m) != 0) {
        evhttp_send_error(c->req, HTTP_INTERNAL, NULL);
        goto out;
    }
    evhttp_add_header(hdr, "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_add_header(hdr, "Cache-Control", "no-store");
    http_date(hdr);
    evhttp_send_reply(c->req, 200, "OK", buf);
    xlog_debug("http", "metrics peer=%s", c->peer);
out:
    metrics_free(m);
    if (buf)
        evbuffer_free(buf);
}

static void handle_health(struct call *c)
{
    const struct http_backend *be = c->h->backend;
    struct http_status st = {0};
    const char *state;
    json_t *list, *bounced;
    int code;

    if (!status_check(c))
        return;
    if (be->status)
        be->status(be->ud, &st);
    state = st.online ? "online" : st.state ? st.state : "offline";
    code = st.online ? 200 : 503;
    list = json_array();
    for (size_t i = 0; list && i < st.n_room && i < HTTP_ROOMS_MAX; i++) {
        const struct http_room *r = &st.room[i];

        json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:s}", "room",
                                              r->jid ? r->jid : "", "bot",
                                              r->bot ? r->bot : "", "state",
                                              r->state ? r->state : "", "error",
                                              r->error ? r->error : ""));
    }
    /* Bounces per condition: {"service-unavailable": 2, ...}. */
    bounced = json_object();
    for (size_t i = 0; bounced && i < st.n_bounce && i < HTTP_BOUNCES_MAX; i++)
        if (st.bounce[i].cond)
            json_object_set_new(bounced, st.bounce[i].cond,
                                json_integer((json_int_t)st.bounce[i].n));
    reply_json(
        c->req, code,
        json_pack(
            "{s:s,s:I,s:{s:I,s:I,s:o},s:{s:b,s:b,s:I,s:I,s:I},s:I,s:o}",
            "component", state, "queued", (json_int_t)st.queued, "rooms",
            "joined", (json_int_t)st.rooms_joined, "total",
            (json_int_t)st.rooms_total, "list", list ? list : json_array(),
            "spool", "enabled", st.spool_enabled, "ok", st.spool_ok, "depth",
            (json_int_t)st.spool_depth, "oldest_age",
            (json_int_t)st.spool_oldest_age, "expired",
            (json_int_t)st.spool_expired, "bounced", (json_int_t)st.bounced,
            "bounced_by", bounced ? bounced : json_object()));
    /* Monitoring polls this: debug, not info. */
    http_count(c->h, NULL, code, c->start_us);
    xlog_debug("http", "health status=%d component=%s peer=%s", code, state,
               c->peer);
}

/* ---- routing ----------------------------------------------------------- */

static void peer_format(struct evhttp_request *req, char *out, size_t size)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    char *addr = NULL;
    ev_uint16_t port = 0;

    char num[8], *p = num + sizeof(num);
    size_t n, o = 0;
    int v6;

    if (conn)
        evhttp_connection_get_peer(conn, &addr, &port);
    if (!addr) {
        snprintf(out, size, "?");
        return;
    }
    n = strlen(addr);
    v6 = strchr(addr, ':') != NULL;
    if (n + 10 > size) { /* cut, as printf would */
        snprintf(out, size, v6 ? "[%s]:%u" : "%s:%u", addr, (unsigned)port);
        return;
    }
    /* "[v6]:port" or "v4:port", without printf (every request) */
    if (v6)
        out[o++] = '[';
    memcpy(out + o, addr, n);
    o += n;
    if (v6)
        out[o++] = ']';
    out[o++] = ':';
    *--p = '\0';
    do
        *--p = (char)('0' + port % 10);
    while ((port /= 10) != 0);
    memcpy(out + o, p, (size_t)(num + sizeof(num) - p));
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct call c = {.h = arg, .req = req, .start_us = http_now_us()};
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    struct http_route rt;

    http_conns_request(c.h->conns, req);
    peer_format(req, c.peer, sizeof(c.peer));
    if (!path) {
        call_fail(&c, 400, "bad request", NULL);
        return;
    }
    if (http_route(path, &rt) != 0) {
        call_fail(&c, 500, "out of memory", NULL);
        return;
    }
    switch (rt.kind) {
    case HTTP_ROUTE_HEALTH:
        handle_health(&c);
        break;
    case HTTP_ROUTE_METRICS:
        handle_metrics(&c);
        break;
    case HTTP_ROUTE_HOOK:
        handle_hook(&c, &rt);
        break;
    default:
        call_fail(&c, 404, "not found", NULL);
        break;
    }
    http_route_clear(&rt);
}

/* ---- life cycle -------------------------------------------------------- */

/* evhttp's own limits on both servers. */
static void http_limits_set(struct http *h, const struct conf *cfg)
{
    struct evhttp *servers[2] = {h->eh, h->eh_tls};
    size_t max_body = cfg->max_body;
    unsigned t = HTTP_TIMEOUT;

    if (max_body > (size_t)EV_SSIZE_MAX)
        max_body = (size_t)EV_SSIZE_MAX;
    /* evhttp's timeout is per read or write; our deadlines (conn.c) are
     * the real ones for reading, this one bounds a slow reader of a
     * reply. */
    if (t < cfg->header_timeout + 1)
        t = cfg->header_timeout + 1;
    if (t < cfg->idle_timeout + 1)
        t = cfg->idle_timeout + 1;
    if (t < cfg->body_timeout + 1)
        t = cfg->body_timeout + 1;
    for (int i = 0; i < 2; i++) {
        if (!servers[i])
            continue;
        /* Over max_body, evhttp answers 413 itself (an HTML page: libevent
         * 2.1 offers no hook to see a request's headers before it reads
         * the body, evhttp_set_newreqcb is 2.2). Lingering close makes it
         * read and drop the rest of the body first, so that the client
         * sees the 413 instead of a reset connection. */
        evhttp_set_max_body_size(servers[i], (ev_ssize_t)max_body);
        evhttp_set_max_headers_size(servers[i], (ev_ssize_t)cfg->max_headers);
        evhttp_set_timeout(servers[i], (int)t);
        evhttp_set_allowed_methods(servers[i], HTTP_ALL_METHODS);
        evhttp_set_flags(servers[i], EVHTTP_SERVER_LINGERING_CLOSE);
        evhttp_set_gencb(servers[i], on_request, h);
    }
}

struct http *http_new(struct event_base *base,
                      const struct conf *cfg,
                      const struct http_backend *backend)
{
    struct http *h = calloc(1, sizeof(*h));
    int tls = 0;

    if (!h)
        return NULL;
    h->base = base;
    h->cfg = cfg;
    h->backend = backend;
    for (size_t i = 0; i < cfg->n_listen; i++)
        tls |= cfg->listen[i].tls;
    if (!(h->eh = evhttp_new(base)) ||
        (tls && !(h->eh_tls = evhttp_new(base))) ||
        !(h->conns = http_conns_new(base, cfg)) ||
        !(h->digests = http_auth_digests(cfg)) ||
        !(h->buckets = http_buckets_new(cfg, NULL, NULL))) {
        http_free(h);
        return NULL;
    }
    http_conns_attach(h->conns, h->eh, 0);
    if (h->eh_tls)
        http_conns_attach(h->conns, h->eh_tls, 1);
    http_limits_set(h, cfg);
    if (cfg->n_hooks && !(h->tmpls = calloc(cfg->n_hooks, sizeof(*h->tmpls)))) {
        http_free(h);
        return NULL;
    }
    for (size_t i = 0; i < cfg->n_hooks; i++) {
        char err[256];

        if (!cfg->hooks[i].tmpl)
            continue;
        h->tmpls[i] = tmpl_compile(cfg->hooks[i].tmpl, err, sizeof(err));
        if (!h->tmpls[i]) { /* http_conf_check() reports it with FILE:LINE */
            xlog_error("http", "[hook %s] bad template: %s", cfg->hooks[i].name,
                       err);
            http_free(h);
            return NULL;
        }
    }
    return h;
}

int http_set_conf(struct http *h, const struct conf *cfg)
{
    struct tmpl **tmpls = NULL;
    unsigned char *digests = NULL;
    struct http_bucket *buckets = NULL;

    if (!(digests = http_auth_digests(cfg)) ||
        !(buckets = http_buckets_new(cfg, h->cfg, h->buckets)) ||
        (cfg->n_hooks && !(tmpls = calloc(cfg->n_hooks, sizeof(*tmpls))))) {
        free(digests);
        free(buckets);
        return XMTA_E_NOMEM;
    }
    for (size_t i = 0; i < cfg->n_hooks; i++) {
        char err[256];

        if (!cfg->hooks[i].tmpl)
            continue;
        if (!(tmpls[i] = tmpl_compile(cfg->hooks[i].tmpl, err, sizeof(err)))) {
            xlog_error("http", "[hook %s] bad template: %s", cfg->hooks[i].name,
                       err);
            for (size_t j = 0; j < i; j++)
                tmpl_free(tmpls[j]);
            free(tmpls);
            free(digests);
            free(buckets);
            return XMTA_E_INVAL;
        }
    }
    /* Last, as it cannot be undone: the certificate files read again. */
    if (http_conns_set_conf(h->conns, cfg) != 0) {
        for (size_t i = 0; i < cfg->n_hooks; i++)
            tmpl_free(tmpls[i]);
        free(tmpls);
        free(digests);
        free(buckets);
        return XMTA_E_INVAL;
    }
    for (size_t i = 0; h->tmpls && i < h->cfg->n_hooks; i++)
        tmpl_free(h->tmpls[i]);
    free(h->tmpls);
    h->tmpls = tmpls;
    OPENSSL_cleanse(h->digests, 32 * (h->cfg->n_hooks ? h->cfg->n_hooks : 1));
    free(h->digests);
    h->digests = digests;
    free(h->buckets);
    h->buckets = buckets;
    h->cfg = cfg;
    http_limits_set(h, cfg);
    return 0;
}

void http_token_sha256(const char *token, char out[65])
{
    http_auth_sha256_hex(token, out);
}

/* A token = whose SHA-256 is another hook's token_sha256 =. */
static int conf_check_digests(const struct conf *cfg, struct conf_diag *diag)
{
    unsigned char *d = http_auth_digests(cfg);

    if (!d)
        return XMTA_E_NOMEM;
    for (size_t i = 0; i < cfg->n_hooks; i++) {
        for (size_t j = 0; j < cfg->n_hooks; j++) {
            if (i == j || !cfg->hooks[i].token ||
                memcmp(d + 32 * i, d + 32 * j, 32) != 0)
                continue;
            snprintf(diag->file, sizeof(diag->file), "%s",
                     cfg->path ? cfg->path : "config");
            diag->line = cfg->hooks[i].line;
            snprintf(diag->msg, sizeof(diag->msg),
                     "the token of [hook %s] is the token_sha256 of [hook "
                     "%s]: each hook needs its own token",
                     cfg->hooks[i].name, cfg->hooks[j].name);
            free(d);
            return XMTA_E_INVAL;
        }
    }
    free(d);
    return 0;
}

int http_conf_check(const struct conf *cfg, struct conf_diag *diag)
{
    int rc = conf_check_digests(cfg, diag);

    if (rc != 0)
        return rc;
    if (http_conns_tls_check(cfg, diag->msg, sizeof(diag->msg)) != 0) {
        snprintf(diag->file, sizeof(diag->file), "%s",
                 cfg->path ? cfg->path : "config");
        diag->line = 0;
        return XMTA_E_INVAL;
    }
    for (size_t i = 0; i < cfg->n_hooks; i++) {
        const struct conf_hook *hk = &cfg->hooks[i];
        char err[256];
        struct tmpl *t;
        long line;

        snprintf(diag->file, sizeof(diag->file), "%s",
                 cfg->path ? cfg->path : "config");
        if (hk->format && !format_name_ok(hk->format)) {
            diag->line = hk->format_line;
            snprintf(diag->msg, sizeof(diag->msg),
                     "unknown format '%s' in [hook %s] (known: %s)", hk->format,
                     hk->name, format_names());
            return XMTA_E_INVAL;
        }
        if (!hk->tmpl)
            continue;
        if ((t = tmpl_compile(hk->tmpl, err, sizeof(err))) != NULL) {
            tmpl_free(t);
            continue;
        }
        /* err is "line N: reason", N counted within the template */
        line = strtol(err + 5, NULL, 10);
        diag->line = line >= 1 && (size_t)line <= hk->n_tmpl_lines
                         ? hk->tmpl_lines[line - 1]
                         : hk->line;
        snprintf(diag->msg, sizeof(diag->msg), "bad template in [hook %s]: %s",
                 hk->name, strchr(err, ':') ? strchr(err, ':') + 2 : err);
        return XMTA_E_INVAL;
    }
    return 0;
}

static void
listen_name(const char *host, unsigned short port, char *out, size_t size)
{
    if (strchr(host, ':'))
        snprintf(out, size, "[%s]:%u", host, (unsigned)port);
    else
        snprintf(out, size, "%s:%u", host, (unsigned)port);
}

static unsigned short bound_port(struct evhttp_bound_socket *b)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    evutil_socket_t fd = evhttp_bound_socket_get_fd(b);

    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

/* Binds one address (a literal or a name: its first address). IPv6
 * sockets are IPv6-only so that "0.0.0.0" and "::" can share a port. */
static int listen_one(struct http *h, const struct conf_listen *l)
{
    struct addrinfo hints = {0}, *res = NULL;
    struct evconnlistener *lev;
    struct evhttp_bound_socket *bound;
    char name[300], port[8];
    unsigned flags =
        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE;
    int gai;

    listen_name(l->host, l->port, name, sizeof(name));
    snprintf(port, sizeof(port), "%u", (unsigned)l->port);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if ((gai = getaddrinfo(l->host, port, &hints, &res)) != 0) {
        xlog_error("http", "cannot listen on %s: %s", name, gai_strerror(gai));
        return XMTA_E_IO;
    }
    if (res->ai_family == AF_INET6)
        flags |= LEV_OPT_BIND_IPV6ONLY;
    lev = evconnlistener_new_bind(h->base, NULL, NULL, flags, HTTP_BACKLOG,
                                  res->ai_addr, (int)res->ai_addrlen);
    freeaddrinfo(res);
    if (!lev) {
        xlog_error("http", "cannot listen on %s: %s", name, strerror(errno));
        return XMTA_E_IO;
    }
    if (!(bound = evhttp_bind_listener(l->tls ? h->eh_tls : h->eh, lev))) {
        evconnlistener_free(lev);
        xlog_error("http", "cannot listen on %s: out of memory", name);
        return XMTA_E_NOMEM;
    }
    h->bound_eh[h->n_bound] = l->tls ? h->eh_tls : h->eh;
    h->bound[h->n_bound++] = bound;
    if (http_conns_listener(h->conns, lev) != 0) {
        xlog_error("http", "cannot listen on %s: out of memory", name);
        return XMTA_E_NOMEM;
    }
    listen_name(l->host, bound_port(bound), name, sizeof(name));
    xlog_info("http", "listening on %s%s", name, l->tls ? " (https)" : "");
    return 0;
}

int http_start(struct http *h)
{
    const struct conf *cfg = h->cfg;
    int rc = 0;

    if (h->bound)
        return XMTA_E_STATE;
    if (!(h->bound =
              calloc(cfg->n_listen ? cfg->n_listen : 1, sizeof(*h->bound))) ||
        !(h->bound_eh = calloc(cfg->n_listen ? cfg->n_listen : 1,
                               sizeof(*h->bound_eh)))) {
        free(h->bound);
        h->bound = NULL;
        return XMTA_E_NOMEM;
    }
    for (size_t i = 0; i < cfg->n_listen && rc == 0; i++)
        rc = listen_one(h, &cfg->listen[i]);
    if (rc != 0) {
        http_stop(h);
        return rc == XMTA_E_NOMEM ? rc : XMTA_E_IO;
    }
    h->port = h->n_bound ? bound_port(h->bound[0]) : 0;
    return 0;
}

unsigned short http_port(const struct http *h)
{
    return h ? h->port : 0;
}

void http_stop(struct http *h)
{
    if (!h)
        return;
    http_conns_listeners_clear(h->conns);
    for (size_t i = 0; i < h->n_bound; i++) /* closes it */
        evhttp_del_accept_socket(h->bound_eh[i], h->bound[i]);
    if (h->n_bound)
        xlog_info("http", "stopped accepting requests");
    h->n_bound = 0;
}

void http_free(struct http *h)
{
    if (!h)
        return;
    http_conns_listeners_clear(h->conns); /* evhttp_free frees them */
    /* also the remaining sockets and connections */
    if (h->eh)
        evhttp_free(h->eh);
    if (h->eh_tls)
        evhttp_free(h->eh_tls);
    http_conns_free(h->conns);
    for (size_t i = 0; h->tmpls && i < h->cfg->n_hooks; i++)
        tmpl_free(h->tmpls[i]);
    free(h->tmpls);
    if (h->digests)
        OPENSSL_cleanse(h->digests,
                        32 * (h->cfg->n_hooks ? h->cfg->n_hooks : 1));
    free(h->digests);
    free(h->buckets);
    free(h->counts);
    free(h->bound);
    free(h->bound_eh);
    free(h);
}
