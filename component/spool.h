/* SPDX-License-Identifier: MIT */
/* spool.h -- the durable store of accepted deliveries: one SQLite database
 * (WAL) in the spool directory, one row per recipient of each message.
 * Writes are grouped by the caller into one transaction per loop
 * iteration (spool_begin, spool_add..., spool_commit or
 * spool_commit_async). Used by the outbox (component/) and its tests
 * only. Event-loop thread only (the spool's syncer thread is internal). */
#ifndef XMTA_SPOOL_H
#define XMTA_SPOOL_H

#include <stddef.h>
#include <stdint.h>

struct spool;

/* One row: a delivery of one message to one recipient. Strings are
 * borrowed (spool_add copies them; spool_load's are valid during the
 * callback only). */
struct spool_rec {
    int64_t seq;     /* row id: the spool order (set by spool_add) */
    int64_t created; /* Unix time in seconds when accepted */
    const char *id;  /* stanza id */
    const char *hook;
    const char *from;    /* bot localpart */
    const char *nick;    /* may be NULL */
    const char *to;      /* user JID or room JID */
    int room;            /* 1: to is a room (groupchat) */
    int type;            /* enum msg_type */
    const char *subject; /* may be NULL */
    const char *body;
    const char *group; /* alert groupKey, or NULL */
    int alert;         /* enum msg_alert */
    unsigned firing;   /* alerts firing in its payload */
};

/* Bytes a record counts against max_bytes. */
size_t spool_rec_size(const struct spool_rec *r);

/* Opens (creating dir and the database when missing) DIR/spool.db. A
 * database that cannot be read at all is moved aside (spool.db.corrupt-T)
 * and a new one started, with an error log. Returns 0 or XMTA_E_IO /
 * XMTA_E_NOMEM; err then says why (with the path). */
int spool_open(const char *dir, struct spool **out, char *err, size_t size);
void spool_close(struct spool *s); /* NULL-safe */
/* The database file's path. */
const char *spool_file(const struct spool *s);

/* Calls fn for every row in spool order; fn returns 0 to go on. Returns 0,
 * fn's non-zero value, or XMTA_E_IO. Rows that cannot be decoded are
 * skipped with a warning. */
int spool_load(struct spool *s,
               int (*fn)(void *arg, const struct spool_rec *r),
               void *arg);

/* A write transaction: spool_begin, spool_add for each row, spool_commit
 * (durable when it returns 0) or spool_rollback. spool_add sets r->seq.
 * Errors: XMTA_E_FULL (disk full), XMTA_E_IO (anything else, logged with
 * the path), XMTA_E_STATE (no transaction). A failed commit rolls back. */
int spool_begin(struct spool *s);
int spool_add(struct spool *s, struct spool_rec *r);
int spool_commit(struct spool *s);
void spool_rollback(struct spool *s);
/* Like spool_commit, but returns once the transaction is in the WAL, with
 * its number in *ticket (1, 2, ...); its fdatasync() (what makes it
 * durable) runs in the spool's thread, so that the caller's loop goes on
 * meanwhile. Commits need not wait for the sync of the one before: one
 * fdatasync covers every commit made before it started, and the next
 * starts as soon as it ends. spool_sync_fd() becomes readable when one
 * ends. A failed commit returns its error at once (rolled back, no
 * ticket, nothing to wait for). */
int spool_commit_async(struct spool *s, uint64_t *ticket);
int spool_sync_fd(const struct spool *s);
/* The outcome of the syncs so far: the commits with a ticket up to upto
 * are synced, except those in (bad_lo, bad_hi] when rc is XMTA_E_IO or
 * XMTA_E_FULL (logged; their rows may or may not be on disk). A failure
 * is told once; rc is 0 when there was none since the last call.
 * spool_sync_wait waits for every commit made so far first. */
struct spool_synced {
    uint64_t upto;
    uint64_t bad_lo, bad_hi;
    int rc;
};
void spool_sync_result(struct spool *s, struct spool_synced *out);
void spool_sync_wait(struct spool *s, struct spool_synced *out);

/* Deletes the rows seqs[0..n) in one transaction. 0 or an error as
 * above (the rows then stay and are delivered again after a restart). */
int spool_delete(struct spool *s, const int64_t *seqs, size_t n);
/* The same inside the transaction spool_begin opened (XMTA_E_STATE
 * without one): committed with it. On an error, roll it back. */
int spool_remove(struct spool *s, const int64_t *seqs, size_t n);

/* Moves the WAL into the database and truncates it: gives disk space
 * back (after a write failed for lack of it, or once the spool is
 * empty). 0 or an error as above. */
int spool_checkpoint(struct spool *s);

/* The connection's PRAGMA synchronous (1 NORMAL, 2 FULL; -1 on error):
 * NORMAL in WAL mode, whatever was written before (for the tests). */
int spool_synchronous(struct spool *s);

/* 1 when the last failure was a write the file system refused (read-only
 * mount, permissions), not a full disk or another error. */
int spool_readonly(const struct spool *s);

/* ---- alert lifecycle (lifecycle.c) ----
 * Two small tables beside the deliveries: alert_sent remembers, per (bot,
 * groupKey, recipient), the id of the first message of an alert series
 * (for XEP-0308 corrections), alert_group the firing count per (hook,
 * groupKey) for the status board. Writes are single statements outside
 * any transaction (XMTA_E_STATE inside one). */
struct spool_alert {
    const char *bot, *group, *rcpt;
    const char *first_id; /* the message corrections replace */
    const char *last_id;  /* the newest message of the series */
    int state;            /* enum msg_alert of the newest */
    unsigned firing;      /* alerts firing in the newest */
    int64_t updated;      /* Unix seconds */
};
struct spool_group {
    const char *hook, *group;
    unsigned firing; /* 0: spool_group_put deletes the row */
    int64_t updated;
};
int spool_alert_put(struct spool *s, const struct spool_alert *a);
int spool_group_put(struct spool *s, const struct spool_group *g);
/* Deletes the entries of both tables last updated before before. */
int spool_life_expire(struct spool *s, int64_t before);
/* Calls alert for every alert_sent row (oldest first), then group for
 * every alert_group row; a non-zero return stops and is returned. */
int spool_life_load(struct spool *s,
                    int (*alert)(void *arg, const struct spool_alert *a),
                    int (*group)(void *arg, const struct spool_group *g),
                    void *arg);

/* ---- heartbeats (lifecycle.c) ----
 * Table heartbeat: per hook with heartbeat =, the wall-clock time of its
 * last webhook (or of the start of the watch) and whether it is missing
 * (the notice was sent), so that a restart keeps both. Writes are single
 * statements like the alert tables' (XMTA_E_STATE inside a transaction). */
struct spool_beat {
    const char *hook;
    int64_t last_ms; /* Unix time in milliseconds */
    int missing;     /* 1: overdue, told */
};
int spool_beat_put(struct spool *s, const struct spool_beat *b);
int spool_beat_delete(struct spool *s, const char *hook);
/* Calls fn for every row (by hook name); a non-zero return stops and is
 * returned. 0 or XMTA_E_IO. */
int spool_beat_load(struct spool *s,
                    int (*fn)(void *arg, const struct spool_beat *b),
                    void *arg);

/* Rows in the database (a query; for tests). -1 on error. */
long spool_count(struct spool *s);

#endif
