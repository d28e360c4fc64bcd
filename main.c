/* SPDX-License-Identifier: MIT */
/* main.c -- argv, config load, build the modules, wire them, signals. */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/rand.h>

#include "component/component.h"
#include "conf/conf.h"
#include "http/http.h"
#include "http/metrics.h"
#include "xml/err.h"
#include "xml/log.h"
#include "xml/msg.h"

static void usage(FILE *f)
{
    fputs("usage: xmta [-v] -c FILE        run in the foreground\n"
          "       xmta check -c FILE       validate the configuration\n"
          "       xmta token               print a new random webhook token\n"
          "                                (token = and token_sha256 = lines)\n"
          "       xmta setup prosody|ejabberd -c FILE\n"
          "                                print the server's component block\n"
          "       xmta --version\n",
          f);
}

/* A token of 256 random bits, base64url without padding (43 characters). */
static int cmd_token(void)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        "0123456789-_";
    unsigned char raw[33];
    char out[45];
    size_t o = 0;

    if (RAND_bytes(raw, 32) != 1) {
        fputs("xmta: OpenSSL RAND_bytes failed\n", stderr);
        return 1;
    }
    raw[32] = 0;
    for (size_t i = 0; i < 33; i += 3) {
        unsigned v =
            (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 | raw[i + 2];
        out[o++] = abc[(v >> 18) & 63];
        out[o++] = abc[(v >> 12) & 63];
        out[o++] = abc[(v >> 6) & 63];
        out[o++] = abc[v & 63];
    }
    out[43] = '\0'; /* 256 bits = 43 base64 characters */
    {
        char hex[65];

        http_token_sha256(out, hex);
        /* Either line goes into a [hook]: the first is what callers
         * send, the second lets the file hold only its hash. */
        printf("token = %s\ntoken_sha256 = %s\n", out, hex);
    }
    return 0;
}

static struct conf *load(const char *path);

/* systemd's Type=notify (conf/xmta.service): READY=1, RELOADING=1 and
 * STOPPING=1, each as one datagram to $NOTIFY_SOCKET, a socket path or,
 * with a leading '@', an abstract socket; nothing when it is not set.
 * sd_notify(3) documents the protocol as stable and, in its NOTES
 * (systemd >= 254), gives a reference implementation for daemons that do
 * not link libsystemd; this is it, with sendto(MSG_NOSIGNAL) as
 * libsystemd's own sd_notify sends. Linking libsystemd for this one
 * datagram mapped five libraries into xmta (issue 8: idle RSS). A
 * failure is a warning, never fatal, as it was with sd_notify. */
static void notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    size_t n, len = strlen(state);
    ssize_t sent;
    int fd, err = 0;

    if (!path)
        return;
    n = strlen(path);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (path[0] != '/' && path[0] != '@') {
        err = EAFNOSUPPORT;
    } else if (n >= sizeof(sa.sun_path)) {
        err = ENAMETOOLONG;
    } else if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
        err = errno;
    } else {
        memcpy(sa.sun_path, path, n);
        if (sa.sun_path[0] == '@')
            sa.sun_path[0] = '\0'; /* abstract: no NUL terminator */
        sent = sendto(fd, state, len, MSG_NOSIGNAL, (struct sockaddr *)&sa,
                      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
        if (sent < 0)
            err = errno;
        else if ((size_t)sent != len)
            err = EPROTO;
        close(fd);
    }
    if (err)
        xlog_warn("main", "notify %s to %s: %s", state, path, strerror(err));
}

/* [component] log: syslog (the socket is $XMTA_SYSLOG_SOCKET, for tests
 * and chroots, else /dev/log) or stderr. A syslog that cannot be reached
 * is reported on stderr, which stays in use. */
static void log_target(const struct conf *cfg)
{
    const char *path = getenv("XMTA_SYSLOG_SOCKET");

    if (!cfg->log_syslog) {
        xlog_syslog_close();
        return;
    }
    if (xlog_syslog_open(path && *path ? path : NULL, "xmta") != 0)
        xlog_error("main",
                   "log = syslog: cannot reach %s: %s; logging to "
                   "stderr",
                   path && *path ? path : "/dev/log", strerror(errno));
}

/* xmta setup prosody|ejabberd -c FILE: the registration block for the
 * configured domain and secret, on stdout. */
static int cmd_setup(int argc, char **argv)
{
    struct conf *cfg;
    char *text = NULL;
    int rc;

    if (argc != 5 || strcmp(argv[3], "-c") != 0 ||
        (strcmp(argv[2], "prosody") != 0 && strcmp(argv[2], "ejabberd") != 0)) {
        usage(stderr);
        return 2;
    }
    if (!(cfg = load(argv[4])))
        return 1;
    rc = conf_setup_text(cfg, argv[2], &text);
    if (rc == 0)
        fputs(text, stdout);
    else
        fprintf(stderr, "xmta: setup: %s\n", xmta_strerror(rc));
    free(text);
    conf_free(cfg);
    return rc == 0 ? 0 : 1;
}

static struct conf *load(const char *path)
{
    struct conf_diag diag;
    struct conf *cfg = conf_load(path, &diag);

    if (cfg && (http_conf_check(cfg, &diag) != 0 ||  /* formats, templates */
                comp_conf_check(cfg, &diag) != 0)) { /* libcurl if needed */
        conf_free(cfg);
        cfg = NULL;
    }
    /* Tokens and secrets inside: only its owner should read it. */
    if (cfg && (cfg->file_mode & 077))
        xlog_warn("conf",
                  "%s is readable by group or others (mode %04o): it holds "
                  "secrets; chmod 600 it (or 640 for a service group)",
                  path, cfg->file_mode);
    if (!cfg) {
        if (diag.line > 0)
            fprintf(stderr, "%s:%d: %s\n", diag.file, diag.line, diag.msg);
        else
            fprintf(stderr, "%s: %s\n", diag.file, diag.msg);
    }
    return cfg;
}

struct app {
    struct event_base *base;
    struct conf *cfg;
    struct comp *comp;
    struct http *http;
    struct event *log_flush; /* writes the log lines of an iteration */
    int stopping;
};

/* Log lines are written together once per loop iteration, by a timer that
 * runs after the iteration's I/O callbacks: one write instead of two per
 * webhook (issue 8). */
static void on_log_flush(evutil_socket_t fd, short what, void *arg)
{
    xlog_flush();
}

static void log_flush_schedule(void *arg)
{
    static const struct timeval now = {0, 0};
    struct event *ev = arg;

    if (!evtimer_pending(ev, NULL))
        evtimer_add(ev, &now);
}

static int backend_submit(void *ud, struct msg *m)
{
    struct app *app = ud;

    if (app->stopping) {
        msg_free(m);
        return XMTA_E_FULL;
    }
    return comp_submit(app->comp, m);
}

/* 0 and done(req, rc) later once the spool's group commit is over. */
static int backend_submit_async(void *ud,
                                struct msg *m,
                                void (*done)(void *req, int rc),
                                void *req)
{
    struct app *app = ud;

    if (app->stopping) {
        msg_free(m);
        return XMTA_E_FULL;
    }
    return comp_submit_async(app->comp, m, done, req);
}

static void backend_status(void *ud, struct http_status *st)
{
    struct app *app = ud;
    enum comp_state s = comp_state(app->comp);
    struct comp_spool_status sp;

    st->online = s == COMP_READY;
    st->state = st->online                ? "online"
                : comp_standby(app->comp) ? "standby"
                                          : comp_state_name(s);
    st->queued = comp_queued(app->comp);
    comp_rooms(app->comp, &st->rooms_joined, &st->rooms_total);
    for (st->n_room = 0; st->n_room < HTTP_ROOMS_MAX; st->n_room++) {
        struct comp_room_info ri;

        if (comp_room_info(app->comp, st->n_room, &ri) != 0)
            break;
        st->room[st->n_room] =
            (struct http_room){ri.jid, ri.bot, ri.state, ri.error};
    }
    comp_spool_status(app->comp, &sp);
    st->spool_enabled = sp.enabled;
    st->spool_ok = sp.ok;
    st->spool_depth = sp.depth;
    st->spool_oldest_age = sp.oldest_age;
    st->spool_expired = sp.expired;
    st->bounced = sp.bounced;
    for (st->n_bounce = 0; st->n_bounce < HTTP_BOUNCES_MAX; st->n_bounce++) {
        struct http_bounce *b = &st->bounce[st->n_bounce];

        if (!comp_bounce_stat(app->comp, st->n_bounce, &b->cond, &b->n))
            break;
    }
    {
        struct comp_counters cn;

        comp_counters(app->comp, &cn);
        st->delivered = cn.delivered;
        st->acknowledged = cn.acknowledged;
        st->reconnects = cn.ready > 1 ? cn.ready - 1 : 0;
    }
}

/* The reason for a 503 (disk full, standby, ...). */
static const char *backend_refusal(void *ud)
{
    struct app *app = ud;

    return app->stopping ? "shutting down" : comp_refusal(app->comp);
}

/* The alert lifecycle's families (README "Alert lifecycle"). */
static void life_metrics(const struct comp *comp, struct metrics *m)
{
    struct comp_life_stats ls;
    struct comp_heartbeat_stat hb;

    comp_life_stats(comp, &ls);
    metrics_gauge(m, "xmta_alert_groups",
                  "Alert groups (hook, groupKey) with alerts firing, as the "
                  "status board counts them.",
                  (double)ls.groups);
    metrics_gauge(m, "xmta_alerts_firing",
                  "Alerts firing, summed over those groups.",
                  (double)ls.firing);
    metrics_gauge(m, "xmta_alert_series",
                  "Alert series (bot, groupKey, user) remembered for "
                  "XEP-0308 corrections.",
                  (double)ls.series);
    metrics_counter(m, "xmta_alert_corrections_total",
                    "Deliveries written as an XEP-0308 correction of an "
                    "alert group's message (on_resolve = correct).",
                    (double)ls.corrections);
    metrics_counter(m, "xmta_alert_resolved_new_total",
                    "Resolved notifications of on_resolve = correct hooks "
                    "written to a user as a new message (no firing message "
                    "known there, or one older than 7 days).",
                    (double)ls.resolved_new);
    metrics_counter(m, "xmta_status_board_updates_total",
                    "Status board changes: a bot's presence sent again with "
                    "a new show or status.",
                    (double)ls.board_updates);
    metrics_family(m, "xmta_heartbeats_received_total", METRICS_COUNTER,
                   "Webhooks received by hooks with heartbeat =.");
    for (size_t i = 0; comp_heartbeat_stat(comp, i, &hb); i++)
        metrics_sample(m, "xmta_heartbeats_received_total", (double)hb.received,
                       "hook", hb.hook, NULL);
    metrics_family(m, "xmta_heartbeats_missed_total", METRICS_COUNTER,
                   "Times a heartbeat went missing (one notice each).");
    for (size_t i = 0; comp_heartbeat_stat(comp, i, &hb); i++)
        metrics_sample(m, "xmta_heartbeats_missed_total", (double)hb.missed,
                       "hook", hb.hook, NULL);
    metrics_family(m, "xmta_heartbeat_ok", METRICS_GAUGE,
                   "1 while a hook's heartbeat is on time, 0 while it is "
                   "missing.");
    for (size_t i = 0; comp_heartbeat_stat(comp, i, &hb); i++)
        metrics_sample(m, "xmta_heartbeat_ok", (double)hb.ok, "hook", hb.hook,
                       NULL);
}

/* The component's own families for GET /metrics (http/metrics.h). */
static void backend_metrics(void *ud, struct metrics *m)
{
    struct app *app = ud;
    struct comp_fetch_stats fs;
    const char *cond;
    unsigned long n, folded, digests;

    metrics_family(m, "xmta_bounces_total", METRICS_COUNTER,
                   "Message errors from the server, by error condition.");
    for (size_t i = 0; comp_bounce_stat(app->comp, i, &cond, &n); i++)
        metrics_sample(m, "xmta_bounces_total", (double)n, "condition", cond,
                       NULL);

    {
        struct comp_counters cn;

        comp_counters(app->comp, &cn);
        metrics_counter(m, "xmta_answers_held_total",
                        "Webhook answers held back while the server took "
                        "stanzas more slowly than they came (back-pressure).",
                        (double)cn.held);
    }
    comp_storm_stats(app->comp, &folded, &digests);
    metrics_counter(m, "xmta_storm_folded_total",
                    "Messages folded into storm digests.", (double)folded);
    metrics_counter(m, "xmta_storm_digests_total",
                    "Storm digest messages sent.", (double)digests);

    comp_fetch_stats(app->comp, &fs);
    metrics_family(m, "xmta_fetch_requests_total", METRICS_COUNTER,
                   "Outgoing HTTP requests (reply webhooks, Alertmanager, "
                   "uploads), by outcome.");
    metrics_sample(m, "xmta_fetch_requests_total", (double)fs.ok, "outcome",
                   "ok", NULL);
    metrics_sample(m, "xmta_fetch_requests_total", (double)fs.http_errors,
                   "outcome", "http_error", NULL);
    metrics_sample(m, "xmta_fetch_requests_total",
                   (double)(fs.failures - fs.timeouts), "outcome", "failed",
                   NULL);
    metrics_sample(m, "xmta_fetch_requests_total", (double)fs.timeouts,
                   "outcome", "timeout", NULL);
    metrics_sample(m, "xmta_fetch_requests_total", (double)fs.rejected,
                   "outcome", "rejected", NULL);
    metrics_counter(m, "xmta_fetch_retries_total",
                    "Outgoing HTTP attempts after the first.",
                    (double)fs.retries);
    metrics_gauge(m, "xmta_fetch_running", "Outgoing HTTP transfers under way.",
                  (double)fs.running);
    metrics_gauge(m, "xmta_fetch_waiting",
                  "Outgoing HTTP requests waiting for a slot or a retry.",
                  (double)fs.waiting);
    metrics_family(m, "xmta_replies_total", METRICS_COUNTER,
                   "User messages to bots POSTed to reply_url, by outcome.");
    metrics_sample(m, "xmta_replies_total",
                   (double)(fs.replies - fs.replies_failed), "outcome",
                   "delivered", NULL);
    metrics_sample(m, "xmta_replies_total", (double)fs.replies_failed,
                   "outcome", "failed", NULL);
    metrics_counter(m, "xmta_replies_answered_total",
                    "Reply texts sent back to XMPP.", (double)fs.replies_sent);
    metrics_family(m, "xmta_uploads_total", METRICS_COUNTER,
                   "Attachments, by how they were sent.");
    metrics_sample(m, "xmta_uploads_total", (double)fs.uploads, "outcome",
                   "file", NULL);
    metrics_sample(m, "xmta_uploads_total", (double)fs.uploads_failed,
                   "outcome", "link", NULL);
    metrics_family(m, "xmta_long_bodies_total", METRICS_COUNTER,
                   "Bodies over max_message with long_body = upload, by "
                   "outcome (file: uploaded; cut: the cut text only).");
    metrics_sample(m, "xmta_long_bodies_total", (double)fs.long_bodies,
                   "outcome", "file", NULL);
    metrics_sample(m, "xmta_long_bodies_total", (double)fs.long_bodies_cut,
                   "outcome", "cut", NULL);
    metrics_counter(m, "xmta_fetch_tls_failures_total",
                    "Outgoing HTTPS requests that failed in TLS (unknown CA, "
                    "wrong name, handshake).",
                    (double)fs.tls_failures);
    life_metrics(app->comp, m);
}

static void on_shutdown_done(void *arg)
{
    struct app *app = arg;

    event_base_loopexit(app->base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct app *app = arg;

    if (app->stopping) {
        xlog_warn("main", "second signal: exiting now");
        event_base_loopbreak(app->base);
        return;
    }
    xlog_info("main", "signal %d: shutting down", (int)sig);
    notify("STOPPING=1");
    app->stopping = 1;
    http_stop(app->http);
    comp_shutdown(app->comp, on_shutdown_done, app);
}

/* SIGHUP: load the file again; on success every module switches to the
 * new configuration and the old one is freed; on error (already printed as
 * FILE:LINE: reason) the running one stays. The stream stays up unless
 * [component] changed. */
static void on_reload(evutil_socket_t sig, short what, void *arg)
{
    struct app *app = arg;
    struct conf *cfg;

    if (app->stopping)
        return;
    xlog_info("main", "SIGHUP: reloading %s", app->cfg->path);
    notify("RELOADING=1");
    if (!(cfg = load(app->cfg->path))) {
        xlog_error("main", "reload rejected: keeping the running "
                           "configuration");
        notify("READY=1");
        return;
    }
    if (http_set_conf(app->http, cfg) != 0) {
        xlog_error("main", "reload failed: keeping the running "
                           "configuration");
        conf_free(cfg);
        notify("READY=1");
        return;
    }
    if (comp_reload(app->comp, cfg) != 0) {
        http_set_conf(app->http, app->cfg); /* back to the old one */
        xlog_error("main", "reload failed: keeping the running "
                           "configuration");
        conf_free(cfg);
        notify("READY=1");
        return;
    }
    conf_free(app->cfg);
    app->cfg = cfg;
    log_target(cfg);
    xlog_info("main", "reloaded: domain=%s hooks=%zu", cfg->domain,
              cfg->n_hooks);
    notify("READY=1");
}

static void on_libevent_log(int severity, const char *msg)
{
    enum xlog_level lvl = severity >= EVENT_LOG_ERR    ? XLOG_ERROR
                          : severity >= EVENT_LOG_WARN ? XLOG_WARN
                          : severity >= EVENT_LOG_MSG  ? XLOG_INFO
                                                       : XLOG_DEBUG;
    xlog(lvl, "libevent", "%s", msg);
}

/* The loop's base. With the epoll changelist, the interest changes of one
 * loop iteration are merged and made by one epoll_ctl per descriptor:
 * evhttp otherwise makes about four per request (read off, write on,
 * write off, read on). libevent's caveat for it is descriptors shared
 * through dup(), which xmta does not make. */
static struct event_base *new_base(void)
{
    struct event_config *ec = event_config_new();
    struct event_base *b;

    if (!ec)
        return NULL;
    event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    b = event_base_new_with_config(ec);
    event_config_free(ec);
    return b ? b : event_base_new();
}

static int run(const char *path)
{
    struct app app = {0};
    struct event *sigs[3] = {NULL, NULL, NULL};
    struct http_backend backend = {
        backend_submit,       backend_status,  &app,
        backend_submit_async, backend_metrics, backend_refusal};
    int rc = 1;

    if (!(app.cfg = load(path)))
        return 2;
    log_target(app.cfg);
    signal(SIGPIPE, SIG_IGN);
    event_set_log_callback(on_libevent_log);
    if (!(app.base = new_base())) {
        xlog_error("main", "event_base_new failed");
        goto out;
    }
    app.comp = comp_new(app.base, app.cfg);
    app.http = app.comp ? http_new(app.base, app.cfg, &backend) : NULL;
    if (!app.http) {
        xlog_error("main", "cannot set up (out of memory, or see above)");
        goto out;
    }
    if ((app.log_flush = evtimer_new(app.base, on_log_flush, NULL)))
        xlog_set_flusher(log_flush_schedule, app.log_flush);
    sigs[0] = evsignal_new(app.base, SIGTERM, on_signal, &app);
    sigs[1] = evsignal_new(app.base, SIGINT, on_signal, &app);
    sigs[2] = evsignal_new(app.base, SIGHUP, on_reload, &app);
    if (!sigs[0] || !sigs[1] || !sigs[2] || evsignal_add(sigs[0], NULL) ||
        evsignal_add(sigs[1], NULL) || evsignal_add(sigs[2], NULL))
        goto out;
    if (http_start(app.http) != 0)
        goto out;
    if (comp_start(app.comp) != 0)
        goto out;
    xlog_info("main", "xmta %s started domain=%s hooks=%zu", XMTA_VERSION,
              app.cfg->domain, app.cfg->n_hooks);
    notify("READY=1");
    if (event_base_dispatch(app.base) < 0)
        goto out;
    rc = 0;
    xlog_set_flusher(NULL, NULL); /* the loop is done: write at once */
    xlog_info("main", "stopped");
out:
    xlog_set_flusher(NULL, NULL);
    if (app.log_flush)
        event_free(app.log_flush);
    for (int i = 0; i < 3; i++)
        if (sigs[i])
            event_free(sigs[i]);
    /* comp first: it answers the requests still waiting for the spool
     * (503) while http is alive. */
    comp_free(app.comp);
    http_free(app.http);
    if (app.base)
        event_base_free(app.base);
    conf_free(app.cfg);
    xlog_syslog_close();
    return rc;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    int check = 0;
    int i = 1;

    if (argc > 1 && strcmp(argv[1], "token") == 0)
        return argc == 2 ? cmd_token() : (usage(stderr), 2);
    if (argc > 1 && strcmp(argv[1], "setup") == 0)
        return cmd_setup(argc, argv);
    if (argc > 1 && strcmp(argv[1], "check") == 0) {
        check = 1;
        i = 2;
    }
    for (; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(argv[i], "-v") == 0) {
            xlog_set_level(XLOG_DEBUG);
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("xmta %s\n", XMTA_VERSION);
            return 0;
        } else if (strcmp(argv[i], "-h") == 0 ||
                   strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    if (check) {
        struct conf *cfg = load(path);

        if (!cfg)
            return 1;
        printf("%s: ok (domain %s, %zu hook%s, %zu listener%s)\n", path,
               cfg->domain, cfg->n_hooks, cfg->n_hooks == 1 ? "" : "s",
               cfg->n_listen, cfg->n_listen == 1 ? "" : "s");
        conf_free(cfg);
        return 0;
    }
    return run(path);
}
