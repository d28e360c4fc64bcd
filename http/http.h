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

struct http_status {
    int online;        /* the component stream is authenticated */
    const char *state; /* e.g. "online", "connecting" (static string) */
    size_t queued;     /* messages waiting in the outbox */
    size_t rooms_joined;
    size_t rooms_total;
};

struct http_backend {
    /* Takes m on every path. Returns 0 (accepted: answer 202),
     * XMTA_E_FULL (answer 503 with Retry-After) or XMTA_E_INVAL (400). */
    int (*submit)(void *ud, struct msg *m);
    void (*status)(void *ud, struct http_status *st);
    void *ud;
};

/* Borrows base, cfg and backend (they must outlive it). NULL on failure. */
struct http *http_new(struct event_base *base,
                      const struct conf *cfg,
                      const struct http_backend *backend);

/* Binds every [http] listen address. Returns 0 or XMTA_E_IO (logged with
 * the address). */
int http_start(struct http *h);

/* The port actually bound for the first listener (tests bind port 0). */
unsigned short http_port(const struct http *h);

/* Stops accepting new requests (in-flight ones are answered). */
void http_stop(struct http *h);
void http_free(struct http *h); /* NULL-safe */

#endif
