/* SPDX-License-Identifier: MIT */
/* internal.h -- what the files of http/ share: connection guard and TLS
 * (conn.c), token lookup (auth.c), rate limits and address lists
 * (limit.c). Not for other modules. Event-loop thread only. */
#ifndef XMTA_HTTP_INTERNAL_H
#define XMTA_HTTP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* The value of hex digit c (either case), or -1: for the percent, quoted-
 * printable and signature decoders of http/. */
static inline int http_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

struct bufferevent;
struct event_base;
struct evconnlistener;
struct evhttp;
struct evhttp_request;
struct conf;
struct conf_hook;
struct metrics;

/* ---- conn.c: every accepted connection, its deadlines, HTTPS --------- */

/* Connections of both evhttp servers (plain and TLS): counted against
 * max_connections (the listeners pause at the limit and resume below
 * it), each with a deadline per phase: the request line and headers
 * within header_timeout, then the body within body_timeout, and between
 * kept-alive requests idle_timeout. Past a deadline the connection is
 * closed, so a client that never finishes its headers holds one slot for
 * header_timeout at most. */
struct http_conns;

struct http_conns *http_conns_new(struct event_base *base,
                                  const struct conf *cfg);
/* New limits and a fresh TLS context when cfg has tls_cert (a SIGHUP:
 * the certificate files are read again). On error (logged with the file)
 * nothing changes: XMTA_E_INVAL. */
int http_conns_set_conf(struct http_conns *cs, const struct conf *cfg);
/* 0 when cfg's tls_cert and tls_key load (or are not set), else
 * XMTA_E_INVAL with "cannot load tls_cert PATH: reason" in err. */
int http_conns_tls_check(const struct conf *cfg, char *err, size_t n);
/* Sets evhttp's bevcb so that its connections are guarded; tls: HTTPS. */
void http_conns_attach(struct http_conns *cs, struct evhttp *eh, int tls);
/* A listener to pause at max_connections (borrowed until _free). */
int http_conns_listener(struct http_conns *cs, struct evconnlistener *lev);
void http_conns_listeners_clear(struct http_conns *cs);
/* The request is complete (evhttp called us): no deadline until the
 * reply is sent. */
void http_conns_request(struct http_conns *cs, struct evhttp_request *req);
/* Families: open connections, closed by deadline, paused accepts. */
void http_conns_metrics(const struct http_conns *cs, struct metrics *m);
size_t http_conns_open(const struct http_conns *cs);
/* After evhttp_free() of every server using it. NULL-safe. */
void http_conns_free(struct http_conns *cs);

/* ---- auth.c: tokens ---------------------------------------------------- */

/* The SHA-256 of every hook's token (token = hashed here, token_sha256 =
 * as given), n_hooks x 32 bytes; NULL when out of memory. */
unsigned char *http_auth_digests(const struct conf *cfg);
/* The hook whose token is token: its SHA-256 is compared with every
 * hook's digest in constant time, whichever matches. NULL: none. */
const struct conf_hook *http_auth_find(const struct conf *cfg,
                                       const unsigned char *digests,
                                       const char *token);
/* Lowercase hex SHA-256 of token into out (65 bytes). */
void http_auth_sha256_hex(const char *token, char out[65]);

/* ---- limit.c: rate limits, address lists ------------------------------- */

/* One token bucket per hook (rate = N/PERIOD, burst = B). */
struct http_bucket {
    double tokens;    /* available requests */
    uint64_t last_us; /* monotonic time of the last refill */
};

/* Buckets for cfg's hooks; a hook also in old_cfg (same name) keeps its
 * level from old. NULL when out of memory (or no hooks: check n_hooks). */
struct http_bucket *http_buckets_new(const struct conf *cfg,
                                     const struct conf *old_cfg,
                                     const struct http_bucket *old);
/* Takes one request from hook's bucket at now_us: 0 when allowed, else
 * the whole seconds until one is available (for Retry-After, >= 1). */
unsigned long http_bucket_take(struct http_bucket *b,
                               const struct conf_hook *hook,
                               uint64_t now_us);
uint64_t http_now_us(void); /* monotonic */

/* 1 when addr (text, as evhttp gives the peer) is in cfg's status_allow
 * (or the list is empty), else 0. */
int http_status_allowed(const struct conf *cfg, const char *addr);

/* ---- route.c: the request path ----------------------------------------- */

enum http_route_kind {
    HTTP_ROUTE_NONE, /* 404 (or no path at all) */
    HTTP_ROUTE_HEALTH,
    HTTP_ROUTE_METRICS,
    HTTP_ROUTE_HOOK,
    HTTP_ROUTE_KIND_COUNT
};

/* Where a request goes: /health, /metrics, /hook, /hook/TOKEN and
 * /hook/TOKEN/FORMAT (exact paths: no trailing slash, no case folding). */
struct http_route {
    enum http_route_kind kind;
    /* HOOK with /hook/TOKEN: TOKEN percent-decoded, malloc'd; "" when it
     * decodes to a NUL byte (matches no token). NULL for /hook and
     * /hook/: the token is then in "Authorization: Bearer". */
    char *token;
    /* HOOK: FORMAT of /hook/TOKEN/FORMAT (everything after the slash,
     * not decoded), pointing into the path; NULL when absent or empty. */
    const char *format;
};

/* Fills *out for path (borrowed: out->format points into it). 0, or
 * XMTA_E_NOMEM (*out then cleared). */
int http_route(const char *path, struct http_route *out);
/* Wipes and frees the token; *r cleared. */
void http_route_clear(struct http_route *r);

#endif
