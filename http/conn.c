/* SPDX-License-Identifier: MIT */
/* conn.c -- every HTTP connection: counted, a deadline per phase against
 * slow and idle clients, HTTPS through bufferevent_openssl. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "conf/conf.h"
#include "http/internal.h"
#include "http/metrics.h"
#include "xml/err.h"
#include "xml/log.h"

/* TLS 1.2 suites with forward secrecy and AEAD (1.3 keeps OpenSSL's). */
#define CONN_TLS12_CIPHERS                                                     \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"               \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"               \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

enum conn_phase {
    CONN_HEAD,    /* reading the request line and headers */
    CONN_BODY,    /* headers in, reading the body */
    CONN_REQUEST, /* evhttp handed us the request: answering it */
    CONN_IDLE,    /* answered; waiting for the next kept-alive request */
    CONN_PHASE_COUNT
};

static const char *const conn_phase_names[CONN_PHASE_COUNT] = {
    [CONN_HEAD] = "headers",
    [CONN_BODY] = "body",
    [CONN_REQUEST] = "request",
    [CONN_IDLE] = "idle",
};

struct conn {
    TAILQ_ENTRY(conn) link;
    struct http_conns *cs;
    struct bufferevent *bev;         /* we hold one reference */
    struct evhttp_connection *evcon; /* once attached */
    struct evbuffer_cb_entry *input_cb;
    struct event *deadline;
    struct event *attach;
    enum conn_phase phase;
    int fd;          /* its slot in by_fd, or -1 */
    size_t line_len; /* HEAD: the current line has a byte other than CR */
    size_t lines;    /* HEAD: complete lines so far */
};
TAILQ_HEAD(conn_list, conn);

struct http_conns {
    struct event_base *base;
    unsigned timeout[CONN_PHASE_COUNT]; /* seconds; 0: none */
    unsigned max;                       /* max_connections */
    SSL_CTX *ssl;                       /* NULL: no tls listener */
    struct conn_list conns;
    /* the attached connections by descriptor: a request finds its own
     * without a walk through every open one (10,000 idle keep-alive
     * connections took ingest from 78,000 to 6,300 webhooks/s) */
    struct conn **by_fd;
    size_t n_by_fd;
    size_t n_open;
    struct evconnlistener **lev; /* borrowed: paused at max */
    size_t n_lev;
    int paused;
    unsigned long accepted;
    unsigned long closed[CONN_PHASE_COUNT]; /* by their deadline */
    unsigned long n_paused;                 /* times max was reached */
    time_t paused_logged; /* last pause logged: once a minute at most */
};

/* ---- limits ------------------------------------------------------------ */

static void conns_check(struct http_conns *cs)
{
    if (!cs->paused && cs->n_open >= cs->max) {
        for (size_t i = 0; i < cs->n_lev; i++)
            evconnlistener_disable(cs->lev[i]);
        cs->paused = 1;
        cs->n_paused++;
        /* Under a flood this flips often: one line a minute says it. */
        if (time(NULL) - cs->paused_logged >= 60) {
            cs->paused_logged = time(NULL);
            xlog_warn("http",
                      "max_connections=%u reached: new connections wait "
                      "until one closes (%lu times so far)",
                      cs->max, cs->n_paused);
        }
    } else if (cs->paused && cs->n_open < cs->max) {
        for (size_t i = 0; i < cs->n_lev; i++)
            evconnlistener_enable(cs->lev[i]);
        cs->paused = 0;
        xlog_debug("http", "accepting connections again (%zu open)",
                   cs->n_open);
    }
}

static void conn_phase_set(struct conn *c, enum conn_phase phase)
{
    unsigned s = c->cs->timeout[phase];

    c->phase = phase;
    c->line_len = 0;
    c->lines = 0;
    evtimer_del(c->deadline);
    if (s) {
        struct timeval tv = {(time_t)s, 0};

        evtimer_add(c->deadline, &tv);
    }
}

/* Files c under its descriptor; without memory for the table, c is still
 * found by http_conns_request(), by walking the list. */
static void conn_index(struct conn *c, int fd)
{
    struct http_conns *cs = c->cs;

    if (fd < 0)
        return;
    if ((size_t)fd >= cs->n_by_fd) {
        size_t n = cs->n_by_fd ? cs->n_by_fd : 64;
        struct conn **t;

        while (n <= (size_t)fd)
            n *= 2;
        if (!(t = realloc(cs->by_fd, n * sizeof(*t))))
            return;
        memset(t + cs->n_by_fd, 0, (n - cs->n_by_fd) * sizeof(*t));
        cs->by_fd = t;
        cs->n_by_fd = n;
    }
    cs->by_fd[fd] = c;
    c->fd = fd;
}

/* Forgets c: its connection is going away (or never came). Its
 * descriptor is closed after this (we hold a reference to the
 * bufferevent until the end), so no newer connection has it yet. */
static void conn_drop(struct conn *c)
{
    struct http_conns *cs = c->cs;

    if (c->fd >= 0 && cs->by_fd[c->fd] == c)
        cs->by_fd[c->fd] = NULL;
    TAILQ_REMOVE(&cs->conns, c, link);
    cs->n_open--;
    if (c->input_cb)
        evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->input_cb);
    event_free(c->deadline);
    event_free(c->attach);
    bufferevent_decref(c->bev); /* evhttp frees its own reference */
    free(c);
    conns_check(cs);
}

/* ---- events ------------------------------------------------------------ */

static void conn_on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    char *addr = NULL;
    ev_uint16_t port = 0;

    if (!c->evcon)
        return;
    c->cs->closed[c->phase]++;
    evhttp_connection_get_peer(c->evcon, &addr, &port);
    /* Idle keep-alive ends quietly; a stalled request is worth a line. */
    if (c->phase == CONN_IDLE)
        xlog_debug("http", "closing an idle connection peer=%s:%u",
                   addr ? addr : "?", (unsigned)port);
    else
        xlog_info("http",
                  "closing a slow connection: %s not received in "
                  "%us peer=%s:%u",
                  conn_phase_names[c->phase], c->cs->timeout[c->phase],
                  addr ? addr : "?", (unsigned)port);
    evhttp_connection_free(c->evcon); /* calls conn_on_close: c is gone */
}

static void conn_on_close(struct evhttp_connection *evcon, void *arg)
{
    conn_drop(arg);
}

/* Scans what arrived for the empty line that ends the headers, a line at
 * a time (memchr: not a byte at a time, issue 8). */
static void conn_scan(struct conn *c, const unsigned char *p, size_t n)
{
    while (n > 0 && c->phase == CONN_HEAD) {
        const unsigned char *nl = memchr(p, '\n', n);
        size_t k = nl ? (size_t)(nl - p) : n;

        for (size_t i = 0; i < k && c->line_len == 0; i++)
            if (p[i] != '\r')
                c->line_len = 1; /* not empty: its length does not matter */
        if (!nl)
            return;
        if (c->line_len == 0 && c->lines > 0) {
            conn_phase_set(c, CONN_BODY);
            return;
        }
        c->lines++;
        c->line_len = 0;
        p = nl + 1;
        n -= k + 1;
    }
}

static void conn_on_input(struct evbuffer *buf,
                          const struct evbuffer_cb_info *info,
                          void *arg)
{
    struct conn *c = arg;
    struct evbuffer_ptr pos;
    struct evbuffer_iovec vec[8];
    size_t len = evbuffer_get_length(buf), left = info->n_added;

    if (left == 0 || left > len)
        return;
    if (c->phase == CONN_IDLE)
        conn_phase_set(c, CONN_HEAD);
    if (c->phase != CONN_HEAD)
        return;
    if (evbuffer_ptr_set(buf, &pos, len - left, EVBUFFER_PTR_SET) != 0)
        return;
    while (left > 0 && c->phase == CONN_HEAD) {
        int n = evbuffer_peek(buf, (ev_ssize_t)left, &pos, vec, 8);
        size_t done = 0;

        if (n <= 0)
            break;
        for (int i = 0; i < n && i < 8 && done < left; i++) {
            size_t k =
                vec[i].iov_len < left - done ? vec[i].iov_len : left - done;

            conn_scan(c, vec[i].iov_base, k);
            done += k;
        }
        if (done == 0 ||
            evbuffer_ptr_set(buf, &pos, done, EVBUFFER_PTR_ADD) != 0)
            break;
        left -= done;
    }
}

/* Runs once the accept is over: evhttp has made its connection on our
 * bufferevent and set itself as the bufferevent's callback argument
 * (libevent 2.1's evhttp_start_read_), which is how we find it. */
static void conn_on_attach(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    bufferevent_data_cb readcb = NULL;
    void *cbarg = NULL;

    bufferevent_getcb(c->bev, &readcb, NULL, NULL, &cbarg);
    if (!readcb || !cbarg) { /* evhttp gave up on it already */
        conn_drop(c);
        return;
    }
    c->evcon = cbarg;
    evhttp_connection_set_closecb(c->evcon, conn_on_close, c);
    conn_index(c, bufferevent_getfd(c->bev));
}

static struct bufferevent *
conn_new(struct http_conns *cs, struct event_base *base, int tls)
{
    struct bufferevent *bev = NULL;
    struct conn *c;

    if (tls) {
        SSL *ssl = cs->ssl ? SSL_new(cs->ssl) : NULL;

        if (ssl) /* takes ssl on every path */
            bev = bufferevent_openssl_socket_new(base, -1, ssl,
                                                 BUFFEREVENT_SSL_ACCEPTING,
                                                 BEV_OPT_CLOSE_ON_FREE);
        if (bev)
            bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    } else {
        bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    if (!bev || !(c = calloc(1, sizeof(*c))))
        goto fail;
    c->cs = cs;
    c->bev = bev;
    c->fd = -1;
    c->deadline = evtimer_new(base, conn_on_deadline, c);
    c->attach = event_new(base, -1, 0, conn_on_attach, c);
    c->input_cb = evbuffer_add_cb(bufferevent_get_input(bev), conn_on_input, c);
    if (!c->deadline || !c->attach || !c->input_cb) {
        if (c->input_cb)
            evbuffer_remove_cb_entry(bufferevent_get_input(bev), c->input_cb);
        if (c->deadline)
            event_free(c->deadline);
        if (c->attach)
            event_free(c->attach);
        free(c);
        goto fail;
    }
    bufferevent_incref(bev);
    TAILQ_INSERT_TAIL(&cs->conns, c, link);
    cs->n_open++;
    cs->accepted++;
    conn_phase_set(c, CONN_HEAD);
    event_active(c->attach, EV_TIMEOUT, 1);
    conns_check(cs);
    return bev;
fail:
    /* evhttp makes a plain bufferevent of its own: for a TLS listener the
     * handshake then fails and the connection closes. */
    if (bev)
        bufferevent_free(bev);
    xlog_error("http", "out of memory for a new connection");
    return NULL;
}

static struct bufferevent *conn_bev_plain(struct event_base *base, void *arg)
{
    return conn_new(arg, base, 0);
}

static struct bufferevent *conn_bev_tls(struct event_base *base, void *arg)
{
    return conn_new(arg, base, 1);
}

/* ---- TLS ---------------------------------------------------------------- */

/* "what path: OpenSSL's last error" into err. */
static void tls_error(char *err, size_t n, const char *what, const char *path)
{
    char buf[256] = "unknown error";
    unsigned long e, last = 0;

    while ((e = ERR_get_error()) != 0)
        last = e;
    if (last)
        ERR_error_string_n(last, buf, sizeof(buf));
    snprintf(err, n, "%s %s: %s", what, path, buf);
}

/* A server context for cfg's certificate and key: TLS 1.2 and later, no
 * compression or renegotiation, forward-secret AEAD suites. NULL with err
 * filled (the file named, never its content). */
static SSL_CTX *tls_ctx_new(const struct conf *cfg, char *err, size_t n)
{
    SSL_CTX *ctx;

    ERR_clear_error();
    if (!(ctx = SSL_CTX_new(TLS_server_method()))) {
        tls_error(err, n, "cannot create a TLS context for", cfg->tls_cert);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_set_cipher_list(ctx, CONN_TLS12_CIPHERS) != 1) {
        tls_error(err, n, "cannot set the TLS ciphers for", cfg->tls_cert);
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
        tls_error(err, n, "cannot load tls_cert", cfg->tls_cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1) {
        tls_error(err, n, "cannot load tls_key", cfg->tls_key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        tls_error(err, n, "tls_key does not match tls_cert", cfg->tls_cert);
        goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

int http_conns_tls_check(const struct conf *cfg, char *err, size_t n)
{
    SSL_CTX *ctx;

    if (!cfg->tls_cert || !cfg->tls_key)
        return 0;
    if (!(ctx = tls_ctx_new(cfg, err, n)))
        return XMTA_E_INVAL;
    SSL_CTX_free(ctx);
    return 0;
}

/* ---- life cycle --------------------------------------------------------- */

struct http_conns *http_conns_new(struct event_base *base,
                                  const struct conf *cfg)
{
    struct http_conns *cs = calloc(1, sizeof(*cs));

    if (!cs)
        return NULL;
    cs->base = base;
    TAILQ_INIT(&cs->conns);
    if (http_conns_set_conf(cs, cfg) != 0) {
        free(cs);
        return NULL;
    }
    return cs;
}

int http_conns_set_conf(struct http_conns *cs, const struct conf *cfg)
{
    SSL_CTX *ctx = NULL;

    if (cfg->tls_cert && cfg->tls_key) {
        char err[512];

        if (!(ctx = tls_ctx_new(cfg, err, sizeof(err)))) {
            xlog_error("http", "%s", err);
            return XMTA_E_INVAL;
        }
        if (cs->ssl)
            xlog_info("http", "reloaded tls_cert %s", cfg->tls_cert);
    }
    if (ctx || !cs->ssl) {     /* running TLS listeners keep theirs */
        SSL_CTX_free(cs->ssl); /* connections hold their own reference */
        cs->ssl = ctx;
    }
    cs->timeout[CONN_HEAD] = cfg->header_timeout;
    cs->timeout[CONN_BODY] = cfg->body_timeout;
    cs->timeout[CONN_REQUEST] = 0; /* evhttp's write timeout still holds */
    cs->timeout[CONN_IDLE] = cfg->idle_timeout;
    cs->max = cfg->max_connections ? cfg->max_connections : 1;
    conns_check(cs);
    return 0;
}

void http_conns_attach(struct http_conns *cs, struct evhttp *eh, int tls)
{
    evhttp_set_bevcb(eh, tls ? conn_bev_tls : conn_bev_plain, cs);
}

int http_conns_listener(struct http_conns *cs, struct evconnlistener *lev)
{
    struct evconnlistener **v =
        realloc(cs->lev, (cs->n_lev + 1) * sizeof(*cs->lev));

    if (!v)
        return XMTA_E_NOMEM;
    cs->lev = v;
    cs->lev[cs->n_lev++] = lev;
    if (cs->paused)
        evconnlistener_disable(lev);
    return 0;
}

void http_conns_listeners_clear(struct http_conns *cs)
{
    if (!cs)
        return;
    free(cs->lev);
    cs->lev = NULL;
    cs->n_lev = 0;
}

/* The reply is sent: the connection idles until the next request. */
static void conn_on_replied(struct evhttp_request *req, void *arg)
{
    conn_phase_set(arg, CONN_IDLE);
}

void http_conns_request(struct http_conns *cs, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev =
        evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    struct conn *c = NULL;

    if (!bev)
        return;
    if (fd >= 0 && (size_t)fd < cs->n_by_fd && cs->by_fd[fd] &&
        cs->by_fd[fd]->bev == bev)
        c = cs->by_fd[fd];
    else /* not filed (no memory for the table) */
        TAILQ_FOREACH (c, &cs->conns, link)
            if (c->bev == bev)
                break;
    if (!c)
        return;
    conn_phase_set(c, CONN_REQUEST);
    evhttp_request_set_on_complete_cb(req, conn_on_replied, c);
}

size_t http_conns_open(const struct http_conns *cs)
{
    return cs ? cs->n_open : 0;
}

void http_conns_metrics(const struct http_conns *cs, struct metrics *m)
{
    metrics_gauge(m, "xmta_http_connections", "Open HTTP connections.",
                  (double)cs->n_open);
    metrics_gauge(m, "xmta_http_connections_max", "The max_connections limit.",
                  (double)cs->max);
    metrics_counter(m, "xmta_http_connections_accepted_total",
                    "HTTP connections accepted.", (double)cs->accepted);
    metrics_family(m, "xmta_http_connections_timed_out_total", METRICS_COUNTER,
                   "HTTP connections closed by a deadline, by what was "
                   "awaited (headers, body, idle).");
    for (int p = 0; p < CONN_PHASE_COUNT; p++) {
        if (p == CONN_REQUEST)
            continue;
        metrics_sample(m, "xmta_http_connections_timed_out_total",
                       (double)cs->closed[p], "phase", conn_phase_names[p],
                       NULL);
    }
    metrics_counter(m, "xmta_http_connections_limited_total",
                    "Times max_connections was reached and accepting "
                    "paused.",
                    (double)cs->n_paused);
}

void http_conns_free(struct http_conns *cs)
{
    struct conn *c;

    if (!cs)
        return;
    while ((c = TAILQ_FIRST(&cs->conns)) != NULL) {
        cs->n_lev = 0; /* no listener to resume any more */
        conn_drop(c);
    }
    SSL_CTX_free(cs->ssl);
    free(cs->lev);
    free(cs->by_fd);
    free(cs);
}
