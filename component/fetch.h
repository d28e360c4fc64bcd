/* SPDX-License-Identifier: MIT */
/* fetch.h -- outgoing HTTP(S) requests on the event loop: one libcurl multi
 * handle driven by libevent (socket and timer callbacks, as curl's
 * hiperfifo example), per-request timeouts, TLS always verified, a bound on
 * concurrent transfers with a bounded wait queue, and retries with capped
 * exponential backoff. Used by component/ for reply webhooks (XMPP to
 * HTTP); it knows nothing of the stream. Event-loop thread only; no call
 * ever blocks. */
#ifndef XMTA_COMPONENT_FETCH_H
#define XMTA_COMPONENT_FETCH_H

#include <stddef.h>

struct event_base;
struct comp_fetch;
struct comp_fetch_stats; /* component/component.h */

/* One request. Every pointer is copied by comp_fetch_start(). */
struct comp_fetch_req {
    const char *method;   /* "GET", "POST", "PUT"; NULL: GET */
    const char *url;      /* http:// or https:// only; no redirects */
    const char **headers; /* "Name: value" lines (no CR/LF), or NULL */
    size_t n_headers;
    const void *body; /* request body, or NULL */
    size_t body_len;
    unsigned timeout_ms; /* per attempt, connect included; 0: 10000 */
    unsigned retries;    /* further attempts after a retryable failure */
    unsigned backoff_ms; /* delay before the first retry (doubled each
                          * time, at most 30 s, minus some jitter); 0: 500 */
    int retry_timeouts;  /* also retry timeouts and broken responses
                          * (only when repeating the request is harmless) */
    size_t max_response; /* response body bytes kept; more fails the
                          * request with XMTA_E_LIMIT; 0: 64 KiB */
    const char *ca_file; /* CA bundle (PEM) to verify with instead of the
                          * system's ([http_client] ca_file), or NULL */
};

/* What a request ended with, borrowed by the done callback only. */
struct comp_fetch_result {
    int rc;           /* 0: an HTTP response arrived (any status);
                       * XMTA_E_IO: no usable response (refused, reset,
                       * TLS, timeout: see timed_out); XMTA_E_LIMIT: the
                       * body was larger than max_response;
                       * XMTA_E_STOPPED: comp_fetch_free() cancelled it */
    int timed_out;    /* the last attempt hit timeout_ms */
    int tls_error;    /* the last attempt failed in TLS (handshake,
                       * unknown CA, wrong name, bad CA file) */
    long status;      /* HTTP status when rc is 0, else 0 */
    const char *body; /* response body, NUL-terminated ("" if none) */
    size_t body_len;
    const char *content_type; /* "text/plain; charset=utf-8", or NULL */
    const char *error;        /* curl's reason when rc is not 0 ("" else) */
    unsigned attempts;        /* 1 + retries made */
};

/* A multi handle on base (borrowed; must outlive it). max_running
 * transfers at once (0: 8), and up to max_waiting more queued (0: 256).
 * NULL on failure. */
struct comp_fetch *comp_fetch_new(struct event_base *base,
                                  unsigned max_running,
                                  unsigned max_waiting);

/* Starts (or queues) a request; done(arg, result) is then called exactly
 * once from the loop, never from inside this call. Returns 0, XMTA_E_INVAL
 * (no URL, a scheme other than http/https, a header with CR/LF),
 * XMTA_E_FULL (the wait queue is full; counted as rejected) or
 * XMTA_E_NOMEM; done is not called then. done may start new requests but
 * must not free f. */
int comp_fetch_start(struct comp_fetch *f,
                     const struct comp_fetch_req *rq,
                     void (*done)(void *arg, const struct comp_fetch_result *r),
                     void *arg);

/* Counters since comp_fetch_new(), and the transfers running and waiting
 * now (fills the fetch fields of st, leaves the others alone). */
void comp_fetch_counters(const struct comp_fetch *f,
                         struct comp_fetch_stats *st);

/* Cancels everything: each pending done is called with XMTA_E_STOPPED
 * (so that callers free what arg holds; they must not start requests
 * then). NULL-safe. */
void comp_fetch_free(struct comp_fetch *f);

#endif
