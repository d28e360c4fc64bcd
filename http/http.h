/* SPDX-License-Identifier: MIT */
/* http.h -- the webhook frontend: evhttp on every configured listen address.
 *
 * http/ decodes and authorizes requests and builds a struct msg; it never
 * sees the XMPP stream. It hands messages to a backend (implemented by
 * component/ and wired by main.c) and answers each request exactly once.
 * Event-loop thread only. */
#ifndef XMTA_HTTP_H
#define XMTA_HTTP_H

#include <stddef.h>

struct event_base;
struct conf;
struct msg;
struct http;
struct metrics; /* http/metrics.h */

/* One MUC room in /health (strings borrowed for the status call). */
struct http_room {
    const char *jid;   /* bare room JID */
    const char *bot;   /* bot localpart */
    const char *state; /* "joined", "joining", "wait", "failed", "idle" */
    const char *error; /* last join failure or removal, "" if none */
};
#define HTTP_ROOMS_MAX 64   /* rooms listed in /health */
#define HTTP_BOUNCES_MAX 32 /* bounce conditions listed in /health */

struct http_status {
    int online;        /* the component stream is authenticated */
    const char *state; /* e.g. "online", "connecting" (static string) */
    size_t queued;     /* messages waiting in the outbox */
    size_t rooms_joined;
    size_t rooms_total;
    /* the spool (issue 3) */
    int spool_enabled;              /* 0: in memory (path = none) */
    int spool_ok;                   /* 0: the spool cannot be written: 503s */
    size_t spool_depth;             /* deliveries not yet acknowledged */
    unsigned long spool_oldest_age; /* seconds */
    unsigned long spool_expired;    /* dropped after max_age */
    unsigned long bounced;          /* message errors from the server */
    /* per-room detail (issue 4): the first n_room rooms */
    struct http_room room[HTTP_ROOMS_MAX];
    size_t n_room;
    /* bounces per error condition (issue 3): the first n_bounce */
    struct http_bounce {
        const char *cond; /* e.g. "service-unavailable" (borrowed) */
        unsigned long n;
    } bounce[HTTP_BOUNCES_MAX];
    size_t n_bounce;
    /* counters since start for GET /metrics (issue 6); 0: not counted */
    unsigned long delivered;    /* deliveries written to the stream */
    unsigned long acknowledged; /* deliveries the server acknowledged */
    unsigned long reconnects;   /* times the stream became ready again */
};

struct http_backend {
    /* Takes m on every path. Returns 0 (accepted: answer 202),
     * XMTA_E_FULL (answer 503 with Retry-After) or XMTA_E_INVAL (400). */
    int (*submit)(void *ud, struct msg *m);
    void (*status)(void *ud, struct http_status *st);
    void *ud;
    /* Optional; when set it is used instead of submit. Takes m on every
     * path. Returns XMTA_E_FULL (503 with Retry-After), XMTA_E_IO (503:
     * the spool cannot be written) or XMTA_E_INVAL (400) at once, or 0:
     * then done(req, rc) is called exactly once later, from the loop,
     * with rc 0 (the message is durable: 202), XMTA_E_FULL or XMTA_E_IO
     * (503). The backend must call every pending done before http_free. */
    int (*submit_async)(void *ud,
                        struct msg *m,
                        void (*done)(void *req, int rc),
                        void *req);
    /* Optional: appends the backend's own families to GET /metrics with
     * the writer of http/metrics.h (e.g. bounces by condition), after
     * http/'s and those built from status. */
    void (*metrics)(void *ud, struct metrics *m);
    /* Optional: why the last submit was refused (or its done got an
     * error), a short static text for the 503 answer's "error" ("spool
     * write failed: disk full", "standby: ..."). */
    const char *(*refusal)(void *ud);
};

struct conf_diag;

/* Checks what conf/ leaves to http/: each hook's format = names a known
 * format and its template = compiles, no token = is another hook's
 * token_sha256 =, tls_cert and tls_key load. Returns 0, or XMTA_E_INVAL with
 * *diag filled (FILE:LINE: reason, as conf_load reports). */
int http_conf_check(const struct conf *cfg, struct conf_diag *diag);

/* Borrows base, cfg and backend (they must outlive it). NULL on failure. */
struct http *http_new(struct event_base *base,
                      const struct conf *cfg,
                      const struct http_backend *backend);

/* A reloaded configuration (SIGHUP), borrowed like the first; the old one
 * may be freed once this returns 0. Hooks, tokens, templates, rate limits
 * (buckets keep their level by hook name), limits, status_allow and
 * max_body change at once, and tls_cert/tls_key are read again (requests
 * waiting for the backend copied what they need); listen addresses only
 * change with a restart. 0, or
 * XMTA_E_INVAL / XMTA_E_NOMEM with the old configuration kept. */
int http_set_conf(struct http *h, const struct conf *cfg);

/* Binds every [http] listen address. Returns 0 or XMTA_E_IO (logged with
 * the address). */
int http_start(struct http *h);

/* The port actually bound for the first listener (tests bind port 0). */
unsigned short http_port(const struct http *h);

/* The SHA-256 of token in lowercase hex, as token_sha256 = takes it
 * (`xmta token`). */
void http_token_sha256(const char *token, char out[65]);

/* Stops accepting new requests (in-flight ones are answered). */
void http_stop(struct http *h);
void http_free(struct http *h); /* NULL-safe */

#endif
