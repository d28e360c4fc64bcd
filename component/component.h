/* SPDX-License-Identifier: MIT */
/* component.h -- the XEP-0114 link to one XMPP server: connect, handshake,
 * keepalive and ping, reconnect with backoff, the outbox, room joins, and
 * routing of incoming stanzas. Event-loop thread only. */
#ifndef XMTA_COMPONENT_H
#define XMTA_COMPONENT_H

#include <stddef.h>

struct event_base;
struct conf;
struct conf_diag;
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

/* Checks what conf/ leaves to component/: outgoing HTTP (a hook with
 * reply_url, alertmanager_url, attach_hosts or long_body = upload) needs
 * libcurl, which xmta loads only for such a configuration; this loads it
 * (once: it is never unloaded). Call it on every configuration before
 * comp_new() or comp_reload() takes it. Returns 0, or XMTA_E_NOTFOUND /
 * XMTA_E_IO with *diag filled (FILE:LINE of the first such hook: the key,
 * the library and dlerror()). */
int comp_conf_check(const struct conf *cfg, struct conf_diag *diag);

/* Idle until comp_start(). Borrows base and cfg: they must outlive it. */
struct comp *comp_new(struct event_base *base, const struct conf *cfg);
/* Starts connecting (and reconnects forever). 0 or a negative XMTA_E_*. */
int comp_start(struct comp *c);

/* Takes m on every path. Queues one delivery per recipient in the bounded
 * in-memory outbox and wakes the drain; never writes to the socket itself.
 * Returns 0, XMTA_E_FULL (outbox full) or XMTA_E_INVAL. */
int comp_submit(struct comp *c, struct msg *m);

/* Like comp_submit, but durable: m joins the batch of this loop
 * iteration, which is written to the spool in one transaction at its end;
 * then done(arg, rc) is called once from the loop: rc 0 when m is stored
 * (safe to answer 202), XMTA_E_FULL or XMTA_E_IO when it is not (503).
 * Returns 0 (done follows) or, without calling done, XMTA_E_INVAL,
 * XMTA_E_FULL (a limit, or stopping) or XMTA_E_IO (the spool is not
 * usable). Takes m on every path. comp_submit(c, m) is this without
 * done. */
int comp_submit_async(struct comp *c,
                      struct msg *m,
                      void (*done)(void *arg, int rc),
                      void *arg);

/* The spool for /health. */
struct comp_spool_status {
    int enabled;              /* [spool] path is a directory (not none) */
    int ok;                   /* 0: configured but not usable (503) */
    size_t depth;             /* deliveries not yet acknowledged */
    size_t bytes;             /* their size */
    unsigned long oldest_age; /* seconds since the oldest was accepted */
    unsigned long expired;    /* dropped after max_age, since start */
    unsigned long errors;     /* failed spool writes, since start */
    unsigned long bounced;    /* message errors matched to a delivery */
};
void comp_spool_status(const struct comp *c, struct comp_spool_status *st);
/* The ith bounce condition and its count: 1, or 0 past the last. */
int comp_bounce_stat(const struct comp *c,
                     size_t i,
                     const char **cond,
                     unsigned long *n);

/* Storm control ([component] storm): deliveries folded into a digest that
 * was written, and digests written, since start. NULL-safe (0, 0). */
void comp_storm_stats(const struct comp *c,
                      unsigned long *folded,
                      unsigned long *digests);

/* Outgoing HTTP (component/fetch.c: reply webhooks) for /metrics:
 * counters since start, and the transfers running and waiting now. */
struct comp_fetch_stats {
    unsigned long requests;        /* accepted requests */
    unsigned long ok;              /* ended with a 2xx status */
    unsigned long http_errors;     /* ended with another status */
    unsigned long failures;        /* no usable response (timeouts too) */
    unsigned long timeouts;        /* of those, timed out */
    unsigned long retries;         /* attempts after the first */
    unsigned long rejected;        /* refused: the wait queue was full */
    size_t running;                /* transfers under way */
    size_t waiting;                /* queued for a free slot or a retry */
    unsigned long replies;         /* user messages POSTed to a reply_url */
    unsigned long replies_failed;  /* of those, not delivered (user told) */
    unsigned long replies_sent;    /* reply texts sent back to XMPP */
    unsigned long uploads;         /* attachments sent as files */
    unsigned long uploads_failed;  /* attachments sent as links instead */
    unsigned long long_bodies;     /* long_body = upload: sent as files */
    unsigned long long_bodies_cut; /* ... not uploaded: cut text only */
    unsigned long tls_failures;    /* of failures, TLS (unknown CA, name) */
};
void comp_fetch_stats(const struct comp *c, struct comp_fetch_stats *st);

/* Back-pressure to the webhook senders: while the server takes stanzas
 * more slowly than webhooks come (the stream's output is full) and
 * COMP_HOLD_HIGH messages wait to be written, a new message is accepted
 * (queued, spooled) but its answer waits until fewer than COMP_HOLD_LOW
 * do, the stream goes down, or COMP_HOLD_MAX_MS have passed. The queue
 * and the delivery latency stay bounded, and the senders slow down to
 * the server's pace instead of taking its CPU. */
#define COMP_HOLD_HIGH 4096
#define COMP_HOLD_LOW 2048
#define COMP_HOLD_MAX_MS 2000

/* Counters since start, for /metrics. */
struct comp_counters {
    unsigned long delivered;    /* deliveries written to the stream */
    unsigned long acknowledged; /* deliveries the server acknowledged */
    unsigned long ready;        /* times the stream became READY */
    unsigned long held;         /* answers held back (COMP_HOLD_HIGH) */
};
void comp_counters(const struct comp *c, struct comp_counters *out);

/* The alert lifecycle (lifecycle.c) for /metrics: gauges of now and
 * counters since start. NULL-safe (zeros). */
struct comp_life_stats {
    size_t groups;               /* (hook, groupKey) with alerts firing */
    unsigned long firing;        /* their alerts firing, summed */
    size_t series;               /* (bot, groupKey, user) remembered for
                                  * corrections */
    unsigned long corrections;   /* 1:1 deliveries written as an XEP-0308
                                  * correction */
    unsigned long resolved_new;  /* resolved notifications of on_resolve =
                                  * correct hooks written to a user as a
                                  * new message (no firing message known
                                  * there, or older than 7 days) */
    unsigned long board_updates; /* status board changes (a bot's presence
                                  * sent again with a new show/status) */
};
void comp_life_stats(const struct comp *c, struct comp_life_stats *st);

/* The ith hook with heartbeat = (configuration order): 1, or 0 past the
 * last. hook is borrowed until the loop runs again. */
struct comp_heartbeat_stat {
    const char *hook;
    int ok;                 /* 1: on time; 0: missing (told) */
    unsigned long received; /* its webhooks since start */
    unsigned long missed;   /* times it went missing since start */
};
int comp_heartbeat_stat(const struct comp *c,
                        size_t i,
                        struct comp_heartbeat_stat *out);

enum comp_state comp_state(const struct comp *c);
/* 1 while another connection holds our domain (the server answered
 * conflict): this instance is a standby, refuses webhooks (503) and keeps
 * trying every standby_ms to take over. 0 once it holds the stream. */
int comp_standby(const struct comp *c);
/* Why the last submit was refused, or its done() got an error: a short
 * static text for the 503 answer ("disk full", "standby", ...). */
const char *comp_refusal(const struct comp *c);
size_t comp_queued(const struct comp *c);
void comp_rooms(const struct comp *c, size_t *joined, size_t *total);

/* One room for /health: strings borrowed from c, valid until the loop
 * runs again. */
struct comp_room_info {
    const char *jid;   /* bare room JID */
    const char *bot;   /* bot localpart */
    const char *state; /* "joined", "joining", "wait", "failed", "idle" */
    const char *error; /* why it last failed ("" if never) */
};
/* The ith room (0 <= i < total of comp_rooms()): 0, or XMTA_E_NOTFOUND. */
int comp_room_info(const struct comp *c, size_t i, struct comp_room_info *out);

/* Clean shutdown: new submits are refused; while READY, what is queued is
 * written and acknowledged for up to grace_ms; then it leaves rooms, sends
 * </stream:stream>, waits briefly for the output to drain (and the
 * server's close), then calls done(arg) once from the loop. What was not
 * acknowledged stays in the spool. If not connected, done is called from
 * the loop at once. */
void comp_shutdown(struct comp *c, void (*done)(void *arg), void *arg);

void comp_free(struct comp *c); /* NULL-safe */

/* A new configuration (SIGHUP), borrowed like the first: the old one may
 * be freed once this returns. Hooks, tokens and limits take effect at
 * once; rooms of new hooks are joined. A change of [component] domain,
 * server, port, secret or tls* closes the stream and reconnects (logged); the
 * spool path is kept until a restart (logged). 0 or XMTA_E_INVAL. */
int comp_reload(struct comp *c, const struct conf *cfg);

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
    unsigned selfping_ms;         /* room silence before an XEP-0410 self-
                                   * ping: 900000 (set by comp_new) */
    unsigned grace_ms;   /* shutdown: flush and acknowledge for up to: 5000 */
    unsigned standby_ms; /* conflict (another connection holds the domain):
                          * try again every: 3000 */
    unsigned expire_ms;  /* the max_age sweep runs every: 60000 */
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
