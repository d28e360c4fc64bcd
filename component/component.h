/* SPDX-License-Identifier: MIT */
/* component.h -- the XEP-0114 link to one XMPP server: connect, handshake,
 * keepalive and ping, reconnect with backoff, the outbox, room joins, and
 * routing of incoming stanzas. Event-loop thread only. */
#ifndef XMTA_COMPONENT_H
#define XMTA_COMPONENT_H

#include <stddef.h>

struct event_base;
struct conf;
struct msg;
struct comp;

enum comp_state {
    COMP_IDLE,       /* not connected; a reconnect timer may be armed */
    COMP_RESOLVING,  /* asynchronous name resolution (evdns) */
    COMP_CONNECTING, /* TCP connect in progress */
    COMP_OPENING,    /* stream header sent, waiting for the server's */
    COMP_HANDSHAKE,  /* <handshake> sent, waiting for <handshake/> */
    COMP_READY,      /* authenticated: stanzas flow */
    COMP_CLOSING,    /* </stream:stream> sent, draining */
    COMP_STATE_COUNT
};

/* Static name of a state ("idle", "ready", ...). */
const char *comp_state_name(enum comp_state s);

/* Idle until comp_start(). Borrows base and cfg: they must outlive it. */
struct comp *comp_new(struct event_base *base, const struct conf *cfg);
/* Starts connecting (and reconnects forever). 0 or a negative XMTA_E_*. */
int comp_start(struct comp *c);

/* Takes m on every path. Queues one delivery per recipient in the bounded
 * in-memory outbox and wakes the drain; never writes to the socket itself.
 * Returns 0, XMTA_E_FULL (outbox full) or XMTA_E_INVAL. */
int comp_submit(struct comp *c, struct msg *m);

enum comp_state comp_state(const struct comp *c);
size_t comp_queued(const struct comp *c);
void comp_rooms(const struct comp *c, size_t *joined, size_t *total);

/* Clean shutdown: leaves rooms, sends </stream:stream>, waits briefly for
 * the output to drain (and the server's close), then calls done(arg) once
 * from the loop. If not connected, done is called from the loop at once. */
void comp_shutdown(struct comp *c, void (*done)(void *arg), void *arg);

void comp_free(struct comp *c); /* NULL-safe */

/* ---- tuning and helpers (tests; defaults suit production) --------------- */

/* Every timer of the link, in milliseconds. A value of 0 turns that timer
 * off (for backoff_min_ms: reconnect at once). comp_new() fills the
 * defaults: the conf values for keepalive and ping, the rest fixed. */
struct comp_timing {
    unsigned connect_ms;          /* per state RESOLVING, CONNECTING: 10000 */
    unsigned handshake_ms;        /* per state OPENING, HANDSHAKE: 15000 */
    unsigned backoff_min_ms;      /* first reconnect delay: 1000 */
    unsigned backoff_max_ms;      /* reconnect delay cap: 60000 */
    unsigned stable_ms;           /* READY this long resets backoff: 60000 */
    unsigned keepalive_ms;        /* write-idle before ' ': conf keepalive */
    unsigned ping_interval_ms;    /* XEP-0199 ping period: conf */
    unsigned ping_timeout_ms;     /* ping reply deadline: conf */
    unsigned read_timeout_ms;     /* READY read backstop: 2 x ping + timeout */
    unsigned close_ms;            /* CLOSING: wait for the server: 2000 */
    unsigned join_timeout_ms;     /* room join reply deadline: 30000 */
    unsigned join_backoff_min_ms; /* first room rejoin delay: 2000 */
    unsigned join_backoff_max_ms; /* room rejoin delay cap: 300000 */
};

/* Reads or replaces the timings; changes apply to timers armed later, so
 * set them before comp_start(). */
void comp_get_timing(const struct comp *c, struct comp_timing *t);
void comp_set_timing(struct comp *c, const struct comp_timing *t);

/* The XEP-0114 handshake digest: lowercase hex of SHA-1(id || secret) into
 * out (40 characters and a NUL). Returns 0 or XMTA_E_INVAL / XMTA_E_NOMEM.
 * The result is a credential: never log it. */
int comp_handshake_digest(const char *id, const char *secret, char out[41]);

#endif
