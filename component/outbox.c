/* SPDX-License-Identifier: MIT */
/* outbox.c -- the deliveries (one per recipient of each message), their
 * durable spool and the server's acknowledgement.
 *
 * Submitting stages the message in the current batch; at the end of the
 * loop iteration the whole batch is written to the spool in one
 * transaction (one fsync) and only then are the submitters told (the HTTP
 * side answers 202, or 503 when the commit failed). The drain writes
 * deliveries while READY, skipping those whose room is not joined yet
 * (they keep their order), and moves them to the sent list; after each
 * drain an XEP-0199 ping "ack-N" goes out. The server handles a stream in
 * order, so its answer (result or error) means every stanza written before
 * it was taken: those rows are deleted then, not before. When the link
 * dies, the sent list goes back to the head of the outbox and is written
 * again after the reconnect, with the same stanza ids (at-least-once). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "component/internal.h"
#include "component/spool.h"
#include "conf/conf.h"
#include "xml/err.h"
#include "xml/jid.h"
#include "xml/log.h"
#include "xml/msg.h"
#include "xml/xml.h"

/* How often a broken spool is reopened, at most. */
#define COMP_SPOOL_RETRY_MS 5000
#define COMP_ACK_PREFIX "ack-"
#define COMP_CHECKPOINT_MS 10000 /* WAL truncation when empty, at most */

/* "local@domain" into out (size bytes), without printf (twice per
 * webhook); cut as snprintf would when too long. */
static void
comp_jid_join(char *out, size_t size, const char *local, const char *domain)
{
    size_t nl = strlen(local), nd = strlen(domain);

    if (nl + nd + 2 > size) {
        snprintf(out, size, "%s@%s", local, domain);
        return;
    }
    memcpy(out, local, nl);
    out[nl] = '@';
    memcpy(out + nl + 1, domain, nd + 1);
}

static int comp_msg_valid(const struct msg *m)
{
    if (!m->from || !*m->from || strlen(m->from) > JID_PART_MAX ||
        strchr(m->from, '@') || strchr(m->from, '/') || !m->body ||
        m->n_to + m->n_rooms == 0)
        return 0;
    for (size_t i = 0; i < m->n_to; i++)
        if (!m->to || !m->to[i] || !*m->to[i])
            return 0;
    for (size_t i = 0; i < m->n_rooms; i++)
        if (!m->rooms || !m->rooms[i] || !*m->rooms[i])
            return 0;
    return 1;
}

/* The addresses comp_msg_addresses_ok() passed last: webhooks of a hook
 * mostly repeat the same bot and recipients, so these skip jid_parse()
 * and the snprintf() before it. Event-loop thread only. */
static struct {
    char domain[JID_PART_MAX + 1];
    char from[JID_PART_MAX + 1], from_norm[JID_PART_MAX + 1];
    char to[COMP_JID_MAX];
} comp_addr_seen;

/* Remembers s in a cache slot of size bytes ("" when it does not fit). */
static void comp_addr_remember(char *slot, size_t size, const char *s)
{
    size_t n = strlen(s);

    if (n < size)
        memcpy(slot, s, n + 1);
    else
        slot[0] = '\0';
}

/* Only JIDs under our domain are ever used as from (anything else makes
 * the server close the stream: invalid-from), and only valid addresses
 * reach the server: the bot localpart must pass nodeprep (it is replaced
 * by its normalised form: "Grafana" -> "grafana"), every recipient must be
 * a valid JID (rooms bare, with a localpart). 1 when m is fine. */
static int comp_msg_addresses_ok(const struct comp *c, struct msg *m)
{
    const char *domain = c->cfg->domain;
    char buf[2 * JID_PART_MAX + 4];
    struct jid jid, *j = NULL; /* 3 KiB: on the stack, used on a miss */
    int ok = 0;

    if (strcmp(comp_addr_seen.domain, domain) != 0) {
        memset(&comp_addr_seen, 0, sizeof(comp_addr_seen));
        comp_addr_remember(comp_addr_seen.domain, sizeof(comp_addr_seen.domain),
                           domain);
    }
    if (!comp_addr_seen.from[0] || strcmp(comp_addr_seen.from, m->from) != 0) {
        j = &jid;
        comp_jid_join(buf, sizeof(buf), m->from, domain);
        if (jid_parse(buf, j, NULL) != 0 || j->resource[0] ||
            strcasecmp(j->domain, domain) != 0)
            goto out;
        comp_addr_remember(comp_addr_seen.from_norm,
                           sizeof(comp_addr_seen.from_norm), j->local);
        comp_addr_remember(comp_addr_seen.from, sizeof(comp_addr_seen.from),
                           comp_addr_seen.from_norm[0] ? m->from : "");
    }
    if (strcmp(comp_addr_seen.from_norm, m->from) != 0) {
        char *norm = strdup(j ? j->local : comp_addr_seen.from_norm);

        if (!norm)
            goto out;
        free(m->from);
        m->from = norm;
    }
    for (size_t i = 0; i < m->n_to; i++) {
        if (comp_addr_seen.to[0] && strcmp(comp_addr_seen.to, m->to[i]) == 0)
            continue;
        j = &jid;
        if (jid_parse(m->to[i], j, NULL) != 0)
            goto out;
        comp_addr_remember(comp_addr_seen.to, sizeof(comp_addr_seen.to),
                           m->to[i]);
    }
    for (size_t i = 0; i < m->n_rooms; i++) {
        j = &jid;
        if (jid_parse(m->rooms[i], j, NULL) != 0 || !j->local[0] ||
            j->resource[0])
            goto out;
    }
    ok = 1;
out:
    return ok;
}

static void comp_delivery_rec(const struct comp_delivery *d,
                              struct spool_rec *r)
{
    const struct msg *m = d->item->m;

    memset(r, 0, sizeof(*r));
    r->seq = d->seq;
    r->created = d->item->created;
    r->id = m->id;
    r->hook = m->hook ? m->hook : "-";
    r->from = m->from;
    r->nick = m->nick;
    r->to = d->to;
    r->room = d->room != NULL;
    r->type = (int)m->type;
    r->subject = m->subject;
    r->body = m->body;
    r->group = m->group;
    r->alert = m->alert;
    r->firing = m->firing;
}

/* Frees d (not linked anywhere); the message goes with its last delivery. */
static void comp_delivery_free(struct comp *c, struct comp_delivery *d)
{
    struct comp_item *item = d->item;

    free(d);
    if (--item->pending == 0) {
        msg_free(item->m);
        free(item);
        c->n_items--;
    }
}

/* d leaves for good (acknowledged or expired): uncount and free it. */
static void comp_delivery_drop(struct comp *c, struct comp_delivery *d)
{
    struct comp_room *room = d->room;

    c->n_deliveries--;
    c->n_bytes -= d->size;
    comp_delivery_free(c, d);
    comp_room_unref(room); /* a room removed by a reload may leave now */
}

static void comp_on_synced(evutil_socket_t fd, short what, void *arg);

/* Tries to open the configured spool (again). */
static void comp_spool_try_open(struct comp *c)
{
    char err[512];

    if (!c->cfg->spool_path || c->spool)
        return;
    c->spool_retry_ms = comp_now_ms() + COMP_SPOOL_RETRY_MS;
    if (spool_open(c->cfg->spool_path, &c->spool, err, sizeof(err)) != 0) {
        if (!c->spool_broken)
            xlog_error("spool",
                       "%s: webhooks are refused (503) until it "
                       "works",
                       err);
        c->spool_broken = 1;
        return;
    }
    if (c->spool_broken)
        xlog_info("spool", "%s is usable again", spool_file(c->spool));
    c->spool_broken = 0;
    /* Without this event commits are synced inline (comp_batch_write). */
    if ((c->synced = event_new(c->base, spool_sync_fd(c->spool),
                               EV_READ | EV_PERSIST, comp_on_synced, c)) &&
        event_add(c->synced, NULL) != 0) {
        event_free(c->synced);
        c->synced = NULL;
    }
}

/* ---- submit and group commit --------------------------------------------- */

static void comp_spool_deleted(struct comp *c);
static void comp_spool_flush_deletes(struct comp *c);

/* The batch (and the deletes waiting) are committed in the next loop
 * iteration, after the requests that are ready by then (the I/O of an
 * iteration runs before its timers): with many senders, one fsync covers
 * more of them. */
static void comp_commit_soon(struct comp *c)
{
    static const struct timeval now = {0, 0};

    if (!evtimer_pending(c->commit, NULL))
        evtimer_add(c->commit, &now);
}

static void comp_pending_free(struct comp *c, struct comp_pending *p)
{
    struct comp_delivery *d;

    while ((d = TAILQ_FIRST(&p->staged))) {
        TAILQ_REMOVE(&p->staged, d, link);
        free(d);
    }
    if (p->item) {
        msg_free(p->item->m);
        free(p->item);
    }
    free(p);
}

int comp_submit_async(struct comp *c,
                      struct msg *m,
                      void (*done)(void *arg, int rc),
                      void *arg)
{
    struct comp_pending *p = NULL;
    struct comp_delivery *d;
    size_t n, bytes = 0;
    int rc = XMTA_E_INVAL;

    if (!c || !m || !comp_msg_valid(m) || !comp_msg_addresses_ok(c, m))
        goto fail;
    /* Full, stopping and out of memory all mean "try again later". */
    rc = XMTA_E_FULL;
    n = m->n_to + m->n_rooms;
    if (c->stopping) {
        c->refusal = "shutting down";
        goto fail;
    }
    if (comp_standby(c)) {
        c->refusal = "standby: another instance holds the XMPP stream";
        goto fail;
    }
    if (c->n_unsent + c->batch_items >= c->cfg->queue_max) {
        c->refusal = "outbox full (queue)";
        goto fail;
    }
    if (c->n_deliveries + c->batch_n + n > c->cfg->spool_max_messages) {
        c->refusal = "spool full (max_messages)";
        goto fail;
    }
    if (c->spool_broken && comp_now_ms() >= c->spool_retry_ms)
        comp_spool_try_open(c);
    if (c->spool_broken) {
        c->refusal = "spool not writable (unusable spool directory)";
        rc = XMTA_E_IO;
        goto fail;
    }
    if (comp_life_on_submit(c, m)) {
        /* A heartbeat hook's webhook, not forwarded: answered like the
         * others, after this iteration's commit, with nothing queued. */
        n = 0;
        c->refusal = "out of memory";
        if (!(p = calloc(1, sizeof(*p))) ||
            !(p->item = calloc(1, sizeof(*p->item))))
            goto fail;
        TAILQ_INIT(&p->staged);
        p->item->m = m;
        goto stage;
    }
    c->refusal = "out of memory";
    if (!(p = calloc(1, sizeof(*p))) ||
        !(p->item = calloc(1, sizeof(*p->item))))
        goto fail;
    TAILQ_INIT(&p->staged);
    p->item->created = (int64_t)time(NULL);
    for (size_t i = 0; i < n; i++) {
        struct spool_rec r;

        if (!(d = calloc(1, sizeof(*d))))
            goto fail;
        TAILQ_INSERT_TAIL(&p->staged, d, link);
        d->item = p->item;
        if (i < m->n_to) {
            d->to = m->to[i];
        } else {
            d->to = m->rooms[i - m->n_to];
            d->room = comp_room_get(c, d->to, m->from, m->nick);
            if (!d->room)
                goto fail;
        }
        p->item->m = m; /* for comp_delivery_rec */
        comp_delivery_rec(d, &r);
        p->item->m = NULL;
        d->size = spool_rec_size(&r);
        bytes += d->size;
    }
    if (c->n_bytes + c->batch_bytes + bytes > c->cfg->spool_max_bytes) {
        c->refusal = "spool full (max_bytes)";
        goto fail;
    }
    p->item->m = m;
    comp_commands_remember(c, m); /* labels, for "ack" in reply */
stage:
    p->item->pending = n;
    p->n = n;
    p->bytes = bytes;
    p->done = done;
    p->arg = arg;
    TAILQ_INSERT_TAIL(&c->batch, p, link);
    c->batch_items++;
    c->batch_n += n;
    c->batch_bytes += bytes;
    if (n)
        comp_upload_submit(c, m); /* an attachment follows the text */
    /* Without a spool there is nothing to wait for: committed (and the
     * submitter answered) now; the drain still runs once per loop
     * iteration, for all of them. With one, in the next iteration. */
    if (!c->cfg->spool_path)
        comp_outbox_commit(c);
    else
        comp_commit_soon(c);
    return 0;
fail:
    if (p) {
        if (p->item)
            p->item->m = NULL; /* m is freed below */
        comp_pending_free(c, p);
    }
    msg_free(m);
    return rc;
}

int comp_submit(struct comp *c, struct msg *m)
{
    return comp_submit_async(c, m, NULL, NULL);
}

/* Writes the batch in one transaction. 0, XMTA_E_FULL or XMTA_E_IO. With
 * the syncer, *ticket is the commit's (its fdatasync is under way). */
static int comp_batch_write(struct comp *c, uint64_t *ticket)
{
    struct comp_pending *p;
    struct comp_delivery *d;
    int rc, deleting = c->n_undeleted > 0;

    if (!c->spool)
        return c->spool_broken ? XMTA_E_IO : 0;
    if ((rc = spool_begin(c->spool)) != 0)
        return rc == XMTA_E_FULL ? rc : XMTA_E_IO;
    /* the rows delivered meanwhile leave in the same transaction; if that
     * fails, the new ones go without them */
    if (c->n_undeleted &&
        spool_remove(c->spool, c->undeleted, c->n_undeleted) != 0) {
        spool_rollback(c->spool);
        if ((rc = spool_begin(c->spool)) != 0)
            return rc == XMTA_E_FULL ? rc : XMTA_E_IO;
        deleting = 0;
    }
    TAILQ_FOREACH (p, &c->batch, link) {
        TAILQ_FOREACH (d, &p->staged, link) {
            struct spool_rec r;

            comp_delivery_rec(d, &r);
            if ((rc = spool_add(c->spool, &r)) != 0) {
                spool_rollback(c->spool);
                return rc == XMTA_E_FULL ? rc : XMTA_E_IO;
            }
            d->seq = r.seq;
        }
    }
    /* With the syncer, the fdatasync runs while the loop goes on. */
    rc = c->synced ? spool_commit_async(c->spool, ticket)
                   : spool_commit(c->spool);
    if (rc == 0 && deleting)
        comp_spool_deleted(c);
    return rc == 0 || rc == XMTA_E_FULL ? rc : XMTA_E_IO;
}

/* ---- back-pressure (COMP_HOLD_*) ---------------------------------------- */

/* Whether the answer to a message accepted now waits. */
static int comp_hold_now(const struct comp *c)
{
    return c->state == COMP_READY && c->out_full &&
           c->n_unsent >=
               (TAILQ_EMPTY(&c->held) ? COMP_HOLD_HIGH : COMP_HOLD_LOW);
}

/* p (accepted, its deliveries in the outbox) is answered later. */
static void comp_hold(struct comp *c, struct comp_pending *p)
{
    if (TAILQ_EMPTY(&c->held)) {
        xlog_debug("comp",
                   "the server is slower than the webhooks: answers wait "
                   "(queued=%zu)",
                   c->n_unsent);
        comp_timer_arm(c->hold_timer, COMP_HOLD_MAX_MS);
    }
    c->counters.held++;
    TAILQ_INSERT_TAIL(&c->held, p, link);
}

void comp_outbox_unhold(struct comp *c)
{
    struct comp_pending *p;

    if (TAILQ_EMPTY(&c->held))
        return;
    evtimer_del(c->hold_timer);
    while ((p = TAILQ_FIRST(&c->held))) {
        TAILQ_REMOVE(&c->held, p, link);
        if (p->done)
            p->done(p->arg, 0);
        comp_pending_free(c, p);
    }
}

/* Answers the submitters of list, whose commit returned rc (0: durable):
 * their deliveries join the outbox, or they get 503. */
static void comp_batch_finish(struct comp *c, struct comp_batch *list, int rc)
{
    struct comp_delivery *d;
    struct comp_pending *p;
    size_t n = 0, msgs = 0;

    if (rc != 0) {
        TAILQ_FOREACH (p, list, link)
            msgs += p->n;
        c->spool_errors++;
        if (rc == XMTA_E_FULL && c->spool)
            spool_checkpoint(c->spool); /* space for the next batch */
        c->refusal = rc == XMTA_E_FULL ? "spool write failed: disk full"
                     : c->spool && spool_readonly(c->spool)
                         ? "spool write failed: read-only file system"
                         : "spool write failed: I/O error (see the log)";
        xlog_error("spool",
                   "%s: cannot store %zu message(s): %s; answered "
                   "503",
                   spool_file(c->spool), msgs,
                   rc == XMTA_E_FULL ? "disk full"
                   : c->spool && spool_readonly(c->spool)
                       ? "the spool is read-only"
                       : "write failed");
    }
    while ((p = TAILQ_FIRST(list))) {
        TAILQ_REMOVE(list, p, link);
        c->batch_items--;
        c->batch_n -= p->n;
        c->batch_bytes -= p->bytes;
        if (p->n == 0) { /* taken by lifecycle.c: nothing to store */
            if (p->done)
                p->done(p->arg, 0);
            comp_pending_free(c, p);
            continue;
        }
        if (rc == 0) {
            const struct msg *m = p->item->m;

            c->n_items++;
            c->n_unsent++;
            p->item->unsent = p->n;
            c->n_deliveries += p->n;
            c->n_bytes += p->bytes;
            TAILQ_FOREACH (d, &p->staged, link) {
                if (d->room)
                    d->room->n_pending++;
            }
            TAILQ_CONCAT(&c->outbox, &p->staged, link);
            xlog_debug("comp",
                       "queued id=%s hook=%s recipients=%zu "
                       "queued=%zu",
                       m->id, m->hook ? m->hook : "-", p->n, c->n_items);
            p->item = NULL;
            n++;
        }
        if (rc == 0 && p->done && comp_hold_now(c)) {
            comp_hold(c, p);
            continue;
        }
        if (p->done)
            p->done(p->arg, rc);
        comp_pending_free(c, p);
    }
    if (n)
        comp_wake_drain(c);
}

/* Commits the batch: one transaction for every submit since the last
 * one. While the disk syncs a commit (spool_commit_async), the loop goes
 * on and commits what comes meanwhile: the syncer's next fdatasync, which
 * starts as soon as the one under way ends, covers all of it (issue 8). */
void comp_outbox_commit(struct comp *c)
{
    struct comp_pending *p;
    uint64_t ticket = 0;
    int rc;

    if (TAILQ_EMPTY(&c->batch)) {
        comp_spool_flush_deletes(c); /* none to go with: on their own */
        return;
    }
    rc = comp_batch_write(c, &ticket);
    if (c->n_undeleted)
        comp_spool_flush_deletes(c); /* the commit failed: on their own */
    if (rc == 0 && c->synced) {
        TAILQ_FOREACH (p, &c->batch, link)
            p->ticket = ticket;
        TAILQ_CONCAT(&c->syncing, &c->batch, link);
        return; /* answered by comp_on_synced() */
    }
    comp_batch_finish(c, &c->batch, rc);
}

/* The rows of commits whose fdatasync failed: answered 503, so they
 * should not come back after a restart (best effort). */
static void comp_syncing_unstore(struct comp *c, const struct comp_batch *list)
{
    struct comp_delivery *d;
    struct comp_pending *p;
    int64_t *seqs;
    size_t n = 0, k = 0;

    TAILQ_FOREACH (p, list, link)
        n += p->n;
    if (!n || !(seqs = calloc(n, sizeof(*seqs))))
        return;
    TAILQ_FOREACH (p, list, link) {
        TAILQ_FOREACH (d, &p->staged, link) {
            if (d->seq && k < n)
                seqs[k++] = d->seq;
        }
    }
    spool_delete(c->spool, seqs, k);
    free(seqs);
}

/* Answers the submitters of the commits the syncs have ended (all of
 * them when wait is set: shutdown), in the order of their commits. */
static void comp_syncing_finish(struct comp *c, int wait)
{
    struct comp_batch ok, bad;
    struct comp_pending *p;
    struct spool_synced r;

    if (wait)
        spool_sync_wait(c->spool, &r);
    else
        spool_sync_result(c->spool, &r);
    TAILQ_INIT(&ok);
    TAILQ_INIT(&bad);
    while ((p = TAILQ_FIRST(&c->syncing)) && p->ticket <= r.upto) {
        TAILQ_REMOVE(&c->syncing, p, link);
        if (r.rc != 0 && p->ticket > r.bad_lo && p->ticket <= r.bad_hi)
            TAILQ_INSERT_TAIL(&bad, p, link);
        else
            TAILQ_INSERT_TAIL(&ok, p, link);
    }
    if (!TAILQ_EMPTY(&bad)) {
        comp_syncing_unstore(c, &bad);
        comp_batch_finish(c, &bad, r.rc);
    }
    comp_batch_finish(c, &ok, 0);
}

/* The syncer ended one or more fdatasyncs. */
static void comp_on_synced(evutil_socket_t fd, short what, void *arg)
{
    struct comp *c = arg;

    comp_syncing_finish(c, 0);
    /* delivered rows to delete: with the next commit, or on their own */
    if (c->n_undeleted)
        comp_commit_soon(c);
}

/* Fails whatever is still pending (shutdown, free): 503 for them. */
static void comp_batch_abort(struct comp *c)
{
    struct comp_pending *p;

    if (!TAILQ_EMPTY(&c->batch))
        c->refusal = "shutting down";
    while ((p = TAILQ_FIRST(&c->batch))) {
        TAILQ_REMOVE(&c->batch, p, link);
        if (p->done)
            p->done(p->arg, XMTA_E_FULL);
        comp_pending_free(c, p);
    }
    c->batch_n = c->batch_bytes = c->batch_items = 0;
}

/* Messages not yet written to the server (submitted ones included). */
size_t comp_queued(const struct comp *c)
{
    return c ? c->n_unsent + c->batch_items : 0;
}

/* d leaves the outbox or the parked list (written or expired). */
static void comp_delivery_unqueue(struct comp *c,
                                  struct comp_outbox *list,
                                  struct comp_delivery *d)
{
    TAILQ_REMOVE(list, d, link);
    if (--d->item->unsent == 0)
        c->n_unsent--;
}

/* ---- recovery ----------------------------------------------------------- */

/* One row read back from the spool: a message with this one recipient. */
static int comp_outbox_restore(void *arg, const struct spool_rec *r)
{
    struct comp *c = arg;
    struct comp_delivery *d = NULL;
    struct comp_item *item = NULL;
    struct msg *m = msg_new();

    if (!m || strlen(r->id) > MSG_ID_LEN || !(m->hook = strdup(r->hook)) ||
        !(m->from = strdup(r->from)) ||
        (r->nick && !(m->nick = strdup(r->nick))) ||
        (r->subject && !(m->subject = strdup(r->subject))) ||
        !(m->body = strdup(r->body)) ||
        (r->group && !(m->group = strdup(r->group))) ||
        (r->room ? msg_add_room(m, r->to) : msg_add_to(m, r->to)) != 0 ||
        !(item = calloc(1, sizeof(*item))) || !(d = calloc(1, sizeof(*d))))
        goto nomem;
    memcpy(m->id, r->id, strlen(r->id) + 1);
    m->type = r->type >= 0 && r->type < MSG_TYPE_COUNT ? (enum msg_type)r->type
                                                       : MSG_CHAT;
    m->alert = m->group && r->alert > 0 && r->alert < MSG_ALERT_COUNT
                   ? r->alert
                   : MSG_ALERT_NONE;
    m->firing = r->firing;
    item->m = m;
    item->pending = 1;
    item->unsent = 1;
    item->created = r->created;
    d->item = item;
    d->seq = r->seq;
    d->size = spool_rec_size(r);
    if (r->room) {
        d->to = m->rooms[0];
        if (!(d->room = comp_room_get(c, d->to, m->from, m->nick)))
            goto nomem;
        d->room->n_pending++;
    } else {
        d->to = m->to[0];
    }
    TAILQ_INSERT_TAIL(&c->outbox, d, link);
    c->n_items++;
    c->n_unsent++;
    c->n_deliveries++;
    c->n_bytes += d->size;
    return 0;
nomem:
    free(d);
    free(item);
    msg_free(m);
    return XMTA_E_NOMEM;
}

static void comp_on_hold_timer(evutil_socket_t fd, short what, void *arg)
{
    comp_outbox_unhold(arg);
}

int comp_outbox_init(struct comp *c)
{
    int rc;

    TAILQ_INIT(&c->sent);
    TAILQ_INIT(&c->batch);
    TAILQ_INIT(&c->syncing);
    TAILQ_INIT(&c->held);
    if (!(c->hold_timer = evtimer_new(c->base, comp_on_hold_timer, c)))
        return XMTA_E_NOMEM;
    if (!c->cfg->spool_path) {
        xlog_info("spool", "no spool (path = none): accepted messages are "
                           "lost on a restart");
        return 0;
    }
    comp_spool_try_open(c);
    if (!c->spool)
        return 0;
    rc = spool_load(c->spool, comp_outbox_restore, c);
    if (rc == XMTA_E_NOMEM)
        return rc;
    xlog_info("spool", "%s: %zu delivery(ies) recovered", spool_file(c->spool),
              c->n_deliveries);
    comp_outbox_expire(c); /* what outlived max_age while we were down */
    return 0;
}

/* ---- the drain ---------------------------------------------------------- */

/* 1:1 from the bare bot JID (an alert group of an on_resolve = correct
 * hook: from its own resource, maybe as a correction, lifecycle.c);
 * groupchat from exactly the JID that joined. */
static int comp_delivery_send(struct comp *c, const struct comp_delivery *d)
{
    const struct msg *m = d->item->m;
    struct xml_buf *b = &c->stanza;
    char bare[COMP_JID_MAX], resource[COMP_LIFE_RESOURCE_LEN];
    char replace[MSG_ID_LEN + 1] = "";
    const char *from = bare;
    int rc;

    if (d->room)
        from = d->room->self;
    else if (comp_life_prepare(c, m, d->to, resource, replace))
        snprintf(bare, sizeof(bare), "%s@%s/%s", m->from, c->cfg->domain,
                 resource);
    else
        comp_jid_join(bare, sizeof(bare), m->from, c->cfg->domain);
    /* Serialized without a tree, into a buffer kept for the next one:
     * some 20 allocations less per webhook (issue 8). */
    b->len = 0;
    b->failed = 0;
    rc = msg_stanza_write_replace(m, from, d->to, d->room != NULL, replace, b);
    if (rc != 0)
        return XMTA_E_NOMEM;
    comp_log_dump("send", b->p, b->len);
    rc = comp_send_raw(c, b->p, b->len);
    if (b->cap > COMP_OUT_LOW) /* a big one: do not keep its memory */
        xml_buf_free(b);
    if (rc == 0)
        xlog_info("comp", "sent id=%s hook=%s to=%s%s%s%s", m->id,
                  m->hook ? m->hook : "-", d->to, d->room ? " (groupchat)" : "",
                  replace[0] ? " correcting " : "", replace);
    return rc;
}

static int comp_delivery_expired(const struct comp *c,
                                 const struct comp_delivery *d,
                                 int64_t now)
{
    return now - d->item->created > (int64_t)c->cfg->spool_max_age;
}

/* The rows in c->undeleted were deleted (committed). */
static void comp_spool_deleted(struct comp *c)
{
    if (c->undeleted_warned)
        xlog_info("spool", "%zu delivered row(s) left %s at last",
                  c->n_undeleted, spool_file(c->spool));
    c->undeleted_warned = 0;
    c->n_undeleted = 0;
    /* Empty: give the WAL's disk space back (not too often: fsyncs). */
    if (c->n_deliveries == 0 && c->batch_n == 0 &&
        comp_now_ms() - c->checkpoint_ms >= COMP_CHECKPOINT_MS) {
        c->checkpoint_ms = comp_now_ms();
        spool_checkpoint(c->spool);
    }
}

/* Deletes the rows waiting in c->undeleted in a transaction of their
 * own. One that fails (a full disk needs room even to delete) truncates
 * the WAL and tries once more; rows still left are retried with the next
 * delete, and at worst sent again after a restart, which at-least-once
 * allows. */
static void comp_spool_flush_deletes(struct comp *c)
{
    size_t k = c->n_undeleted;

    if (!c->spool || k == 0)
        return;
    if (spool_delete(c->spool, c->undeleted, k) != 0 &&
        (spool_checkpoint(c->spool) != 0 ||
         spool_delete(c->spool, c->undeleted, k) != 0)) {
        if (!c->undeleted_warned)
            xlog_warn("spool", "%zu delivered row(s) stay in %s for now", k,
                      spool_file(c->spool));
        c->undeleted_warned = 1;
        return;
    }
    comp_spool_deleted(c);
}

/* Deletes rows seqs[0..n) (delivered or expired). With the spool's sync
 * thread this waits for the next commit, at the end of this loop
 * iteration: the rows leave in the same
 * transaction as the new ones (comp_batch_write), or in one of their own
 * when there are none (comp_outbox_commit), not in one per
 * acknowledgement. A delete needs no fdatasync either way; a crash in
 * between only sends them again. */
static void comp_spool_delete(struct comp *c, const int64_t *seqs, size_t n)
{
    size_t k = c->n_undeleted + n;

    if (!c->spool || k == 0)
        return;
    if (k > c->cap_undeleted) {
        size_t cap = k < 64 ? 64 : 2 * k;
        int64_t *all = realloc(c->undeleted, cap * sizeof(*all));

        if (!all) {
            xlog_warn("spool", "%zu delivered row(s) stay in %s", n,
                      spool_file(c->spool));
            return;
        }
        c->undeleted = all;
        c->cap_undeleted = cap;
    }
    if (n)
        memcpy(c->undeleted + c->n_undeleted, seqs, n * sizeof(*seqs));
    c->n_undeleted = k;
    if (c->synced)
        comp_commit_soon(c);
    else
        comp_spool_flush_deletes(c);
}

/* Deletes the rows of list (unlinked deliveries) and frees them. */
static void
comp_delivery_list_drop(struct comp *c, struct comp_outbox *list, size_t n)
{
    struct comp_delivery *d;
    int64_t *seqs = NULL;
    size_t k = 0;

    if (c->spool && n && (seqs = calloc(n, sizeof(*seqs)))) {
        TAILQ_FOREACH (d, list, link) {
            if (d->seq)
                seqs[k++] = d->seq;
        }
        comp_spool_delete(c, seqs, k);
    }
    free(seqs);
    while ((d = TAILQ_FIRST(list))) {
        TAILQ_REMOVE(list, d, link);
        comp_delivery_drop(c, d);
    }
}

/* Moves an expired delivery from from (the outbox or the parked list)
 * into gone. */
static void comp_delivery_expire(struct comp *c,
                                 struct comp_outbox *from,
                                 struct comp_delivery *d,
                                 struct comp_outbox *gone)
{
    const struct msg *m = d->item->m;

    xlog_warn("comp",
              "expired id=%s hook=%s to=%s: not delivered within "
              "%u s; dropped",
              m->id, m->hook ? m->hook : "-", d->to, c->cfg->spool_max_age);
    c->expired++;
    comp_delivery_unqueue(c, from, d);
    TAILQ_INSERT_TAIL(gone, d, link);
}

/* How often an unanswered ack ping is asked again: 1/16 of the ping
 * timeout. Acks are cumulative, so the answer to a later one covers the
 * earlier ones: with ejabberd, which spreads the stanzas for a domain
 * over every connection holding it, a reply may reach another instance
 * (PROTOCOL.md 1.5), and the next one usually reaches us. */
static unsigned comp_ack_step(const struct comp *c)
{
    unsigned step = c->t.ping_timeout_ms / COMP_PING_RETRIES;

    return step ? step : 1;
}

/* Sends <iq type=get id=ack-TAG-N><ping/></iq> covering every delivery
 * sent since the last one. */
static void comp_ack_send(struct comp *c)
{
    struct xml_node *iq = xml_node_new("iq", NULL);
    struct comp_delivery *d;
    char id[32];
    int rc = XMTA_E_NOMEM;

    snprintf(id, sizeof(id), COMP_ACK_PREFIX "%s-%lu", c->tag, c->ack_seq + 1);
    if (iq && xml_node_set_attr(iq, "type", "get") == 0 &&
        xml_node_set_attr(iq, "id", id) == 0 &&
        xml_node_set_attr(iq, "from", c->cfg->domain) == 0 &&
        xml_node_set_attr(iq, "to", c->parent) == 0 &&
        xml_node_add_child(iq, "ping", COMP_NS_PING))
        rc = comp_send_node(c, iq);
    xml_node_free(iq);
    if (rc != 0)
        return; /* the next drain's ack covers these too */
    c->ack_seq++;
    TAILQ_FOREACH_REVERSE(d, &c->sent, comp_outbox, link)
    {
        if (d->ack)
            break;
        d->ack = c->ack_seq;
    }
    c->ack_last_ms = comp_now_ms();
    if (c->ack_done + 1 == c->ack_seq)
        c->ack_oldest_ms = c->ack_last_ms;
    if (c->t.ping_timeout_ms && !evtimer_pending(c->ack_timer, NULL))
        comp_timer_arm(c->ack_timer, comp_ack_step(c));
}

void comp_outbox_sent_add(struct comp *c, struct comp_outbox *list)
{
    struct comp_delivery *d;

    TAILQ_FOREACH (d, list, link) {
        d->ack = 0;
        c->counters.delivered++; /* written, inside the digest */
    }
    TAILQ_CONCAT(&c->sent, list, link);
    comp_ack_send(c);
}

void comp_outbox_drain(struct comp *c)
{
    struct comp_outbox gone = TAILQ_HEAD_INITIALIZER(gone);
    struct comp_delivery *d, *next;
    struct evbuffer *out;
    int64_t now = (int64_t)time(NULL);
    size_t n_gone = 0, n_sent = 0;

    TAILQ_INIT(&gone);
    if (c->state != COMP_READY || !c->bev)
        return;
    comp_rooms_join_idle(c); /* rooms added by comp_submit() */
    out = bufferevent_get_output(c->bev);
    for (d = TAILQ_FIRST(&c->outbox); d; d = next) {
        next = TAILQ_NEXT(d, link);
        if (evbuffer_get_length(out) >= COMP_OUT_HIGH)
            break; /* the write callback resumes below COMP_OUT_LOW */
        if (comp_delivery_expired(c, d, now)) {
            comp_delivery_expire(c, &c->outbox, d, &gone);
            n_gone++;
            continue;
        }
        if (d->room && d->room->state != ROOM_JOINED) {
            /* waits for its room, in order, out of this walk */
            TAILQ_REMOVE(&c->outbox, d, link);
            TAILQ_INSERT_TAIL(&c->parked, d, link);
            continue;
        }
        /* Over [component] storm: held for the digest (storm.c). */
        if (comp_storm_fold(c, d)) {
            comp_delivery_unqueue(c, &c->outbox, d);
            comp_storm_hold(c, d);
            continue;
        }
        /* Out of memory: stop; the next wake-up (a submit, a write, a
         * join) retries from the head. */
        if (comp_delivery_send(c, d) != 0)
            break;
        comp_delivery_unqueue(c, &c->outbox, d);
        d->ack = 0;
        TAILQ_INSERT_TAIL(&c->sent, d, link);
        n_sent++;
    }
    comp_delivery_list_drop(c, &gone, n_gone);
    c->counters.delivered += n_sent;
    c->out_full = evbuffer_get_length(out) >= COMP_OUT_HIGH;
    if (!TAILQ_EMPTY(&c->held) && !comp_hold_now(c))
        comp_outbox_unhold(c);
    /* One ack in flight at a time: its reply sends the next one (for what
     * was written meanwhile), so a busy link sends one ping and one delete
     * per round trip, not per drain. */
    if (n_sent && c->ack_done == c->ack_seq)
        comp_ack_send(c);
}

/* ---- acknowledgement ---------------------------------------------------- */

/* Remembers an acknowledged delivery for a later bounce. */
static void comp_recent_add(struct comp *c, const struct comp_delivery *d)
{
    struct comp_recent *r = &c->recent[c->recent_next];
    const struct msg *m = d->item->m;
    size_t n = strnlen(m->id, sizeof(r->id) - 1);

    c->recent_next = (c->recent_next + 1) % COMP_RECENT_MAX;
    free(r->hook);
    free(r->to);
    memcpy(r->id, m->id, n); /* as snprintf "%s" did, without printf */
    r->id[n] = '\0';
    r->hook = strdup(m->hook ? m->hook : "-");
    r->to = strdup(d->to);
}

void comp_outbox_on_ack(struct comp *c, const char *id)
{
    struct comp_outbox done = TAILQ_HEAD_INITIALIZER(done);
    struct comp_delivery *d;
    unsigned long n;
    size_t k = 0;
    char *end;

    TAILQ_INIT(&done);
    if (strncmp(id, COMP_ACK_PREFIX, 4) != 0)
        return;
    id += 4;
    if (strncmp(id, c->tag, strlen(c->tag)) != 0 || id[strlen(c->tag)] != '-') {
        /* Another connection's (ejabberd balances a domain's stanzas
         * over all of them), or an old connection's. */
        xlog_debug("comp", "ack reply ack-%s is not for this connection", id);
        return;
    }
    id += strlen(c->tag) + 1;
    if (*id < '0' || *id > '9')
        return;
    n = strtoul(id, &end, 10);
    if (*end || n == 0 || n > c->ack_seq || n <= c->ack_done) {
        xlog_debug("comp", "stale ack %s", id);
        return;
    }
    c->ack_done = n;
    while ((d = TAILQ_FIRST(&c->sent)) && d->ack && d->ack <= n) {
        TAILQ_REMOVE(&c->sent, d, link);
        comp_recent_add(c, d);
        TAILQ_INSERT_TAIL(&done, d, link);
        k++;
    }
    xlog_debug("comp", "ack %s: %zu delivery(ies) taken by the server", id, k);
    c->counters.acknowledged += k;
    comp_delivery_list_drop(c, &done, k);
    evtimer_del(c->ack_timer);
    if (c->ack_done < c->ack_seq) {
        /* A reply just came: the link is alive; give the next one a
         * full timeout from now. */
        c->ack_oldest_ms = comp_now_ms();
        if (c->t.ping_timeout_ms)
            comp_timer_arm(c->ack_timer, comp_ack_step(c));
    }
    /* what was written while that ack was in flight */
    if (c->ack_done == c->ack_seq && (d = TAILQ_LAST(&c->sent, comp_outbox)) &&
        !d->ack)
        comp_ack_send(c);
    if (c->stopping)
        comp_wake_drain(c); /* lets a graceful shutdown see the progress */
}

int comp_outbox_busy(const struct comp *c)
{
    const struct comp_delivery *d;

    if (!TAILQ_EMPTY(&c->sent) || !TAILQ_EMPTY(&c->batch) ||
        !TAILQ_EMPTY(&c->syncing))
        return 1;
    TAILQ_FOREACH (d, &c->outbox, link) {
        if (!d->room || d->room->state == ROOM_JOINED)
            return 1;
    }
    return 0;
}

int comp_outbox_ack_overdue(struct comp *c, uint64_t now_ms)
{
    if (c->state != COMP_READY || c->ack_done >= c->ack_seq ||
        !c->t.ping_timeout_ms)
        return 0;
    if (now_ms - c->ack_oldest_ms >= c->t.ping_timeout_ms) {
        if (c->last_read_ms <= c->ack_oldest_ms)
            return 1; /* not a byte from the server since: dead */
        /* The server talks, only our answer is missing (with ejabberd
         * another connection for the domain may have been handed it):
         * the link is alive; keep asking. */
        xlog_info("comp",
                  "ack ping unanswered for %u ms while the server sends "
                  "other traffic; asking again",
                  c->t.ping_timeout_ms);
        c->ack_oldest_ms = now_ms;
    }
    if (now_ms - c->ack_last_ms >= comp_ack_step(c))
        comp_ack_send(c); /* arms nothing: the timer is ours to arm */
    comp_timer_arm(c->ack_timer, comp_ack_step(c));
    return 0;
}

void comp_outbox_requeue(struct comp *c)
{
    struct comp_delivery *d;
    size_t n = 0;

    comp_storm_release(c, &c->sent); /* folded ones wait no more */
    TAILQ_FOREACH (d, &c->sent, link) {
        d->ack = 0;
        if (d->item->unsent++ == 0)
            c->n_unsent++;
        n++;
    }
    if (n)
        xlog_info("comp",
                  "%zu unacknowledged delivery(ies) will be sent "
                  "again",
                  n);
    /* sent + parked + outbox, in that order, becomes the outbox: a room's
     * parked deliveries came after its written ones (it was joined for
     * those) and before those still in the outbox. The rooms are not
     * joined now: the next drain parks theirs again, in that order. */
    TAILQ_CONCAT(&c->sent, &c->parked, link);
    TAILQ_CONCAT(&c->sent, &c->outbox, link);
    TAILQ_CONCAT(&c->outbox, &c->sent, link);
    c->ack_done = c->ack_seq; /* replies to old acks are stale now */
    if (c->ack_timer)
        evtimer_del(c->ack_timer);
}

void comp_outbox_unpark(struct comp *c, const struct comp_room *r)
{
    struct comp_outbox back = TAILQ_HEAD_INITIALIZER(back);
    struct comp_delivery *d, *next;

    TAILQ_INIT(&back);
    for (d = TAILQ_FIRST(&c->parked); d; d = next) {
        next = TAILQ_NEXT(d, link);
        if (d->room == r) {
            TAILQ_REMOVE(&c->parked, d, link);
            TAILQ_INSERT_TAIL(&back, d, link);
        }
    }
    TAILQ_CONCAT(&back, &c->outbox, link);
    TAILQ_CONCAT(&c->outbox, &back, link);
}

void comp_outbox_expire(struct comp *c)
{
    struct comp_outbox gone = TAILQ_HEAD_INITIALIZER(gone);
    struct comp_outbox *lists[] = {&c->outbox, &c->parked};
    struct comp_delivery *d, *next;
    int64_t now = (int64_t)time(NULL);
    size_t n = 0;

    TAILQ_INIT(&gone);
    for (size_t i = 0; i < 2; i++) {
        for (d = TAILQ_FIRST(lists[i]); d; d = next) {
            next = TAILQ_NEXT(d, link);
            if (comp_delivery_expired(c, d, now)) {
                comp_delivery_expire(c, lists[i], d, &gone);
                n++;
            }
        }
    }
    comp_delivery_list_drop(c, &gone, n);
}

/* ---- bounces ------------------------------------------------------------ */

/* 1 when the bare parts of two JIDs match (case-insensitively; a bounce
 * comes from the recipient, possibly with a resource). */
static int comp_jid_bare_eq(const char *a, const char *b)
{
    size_t la = strcspn(a, "/"), lb = strcspn(b, "/");

    return la == lb && strncasecmp(a, b, la) == 0;
}

/* Counts one more bounce with cond; returns the count for cond. */
static unsigned long comp_bounce_count(struct comp *c, const char *cond)
{
    size_t i;

    c->bounced++;
    for (i = 0; i < COMP_BOUNCE_KINDS && c->bounces[i].cond[0]; i++) {
        if (strcmp(c->bounces[i].cond, cond) == 0)
            return ++c->bounces[i].n;
    }
    if (i == COMP_BOUNCE_KINDS)
        i--; /* the last slot takes the rest */
    snprintf(c->bounces[i].cond, sizeof(c->bounces[i].cond), "%s", cond);
    return ++c->bounces[i].n;
}

void comp_outbox_on_bounce(struct comp *c,
                           const char *id,
                           const char *from,
                           const char *cond)
{
    const char *hook = NULL, *to = NULL;
    struct comp_delivery *d;

    if (!cond)
        cond = "undefined-condition";
    if (!id || !from)
        goto log;
    /* The newest match: still unacknowledged, or recently acknowledged. */
    TAILQ_FOREACH (d, &c->sent, link) {
        if (strcmp(d->item->m->id, id) == 0 && comp_jid_bare_eq(d->to, from)) {
            hook = d->item->m->hook;
            to = d->to;
        }
    }
    for (size_t i = 0; !hook && i < COMP_RECENT_MAX; i++) {
        const struct comp_recent *r = &c->recent[i];

        if (r->to && strcmp(r->id, id) == 0 && comp_jid_bare_eq(r->to, from)) {
            hook = r->hook;
            to = r->to;
        }
    }
log:
    if (hook) {
        unsigned long n = comp_bounce_count(c, cond);

        xlog_warn("comp",
                  "bounced id=%s hook=%s to=%s condition=%s "
                  "count=%lu",
                  id, hook, to, cond, n);
    } else {
        xlog_warn("comp", "delivery error id=%s from=%s condition=%s",
                  id ? id : "-", from ? from : "-", cond);
    }
}

void comp_outbox_free(struct comp *c)
{
    struct comp_delivery *d;

    if (!TAILQ_EMPTY(&c->syncing)) /* answered as the disk says */
        comp_syncing_finish(c, 1);
    c->out_full = 0; /* nothing is held from here on */
    comp_outbox_unhold(c);
    if (c->hold_timer)
        event_free(c->hold_timer);
    c->hold_timer = NULL;
    if (c->synced)
        event_free(c->synced);
    c->synced = NULL;
    comp_batch_abort(c);
    comp_outbox_requeue(c); /* sent and parked too */
    while ((d = TAILQ_FIRST(&c->outbox))) {
        comp_delivery_unqueue(c, &c->outbox, d);
        d->room = NULL; /* going away with it: no leaving now */
        comp_delivery_drop(c, d);
    }
    for (size_t i = 0; i < COMP_RECENT_MAX; i++) {
        free(c->recent[i].hook);
        free(c->recent[i].to);
        c->recent[i].hook = c->recent[i].to = NULL;
    }
    comp_spool_flush_deletes(c);
    spool_close(c->spool);
    c->spool = NULL;
    free(c->undeleted);
    c->undeleted = NULL;
    c->n_undeleted = c->cap_undeleted = 0;
    xml_buf_free(&c->stanza);
}

/* ---- status ------------------------------------------------------------- */

void comp_counters(const struct comp *c, struct comp_counters *out)
{
    *out = c->counters;
}

void comp_spool_status(const struct comp *c, struct comp_spool_status *st)
{
    const struct comp_delivery *a, *b, *p;
    int64_t oldest = 0, now = (int64_t)time(NULL);

    memset(st, 0, sizeof(*st));
    if (!c)
        return;
    st->enabled = c->cfg->spool_path != NULL;
    st->ok = !c->spool_broken;
    st->depth = c->n_deliveries;
    st->bytes = c->n_bytes;
    a = TAILQ_FIRST(&c->sent);
    b = TAILQ_FIRST(&c->outbox);
    p = TAILQ_FIRST(&c->parked);
    if (a)
        oldest = a->item->created;
    if (b && (!oldest || b->item->created < oldest))
        oldest = b->item->created;
    if (p && (!oldest || p->item->created < oldest))
        oldest = p->item->created;
    st->oldest_age = oldest && now > oldest ? (unsigned long)(now - oldest) : 0;
    st->expired = c->expired;
    st->errors = c->spool_errors;
    st->bounced = c->bounced;
}

int comp_bounce_stat(const struct comp *c,
                     size_t i,
                     const char **cond,
                     unsigned long *n)
{
    if (!c || i >= COMP_BOUNCE_KINDS || !c->bounces[i].cond[0])
        return 0;
    *cond = c->bounces[i].cond;
    *n = c->bounces[i].n;
    return 1;
}
