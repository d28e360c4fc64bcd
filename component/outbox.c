/* SPDX-License-Identifier: MIT */
/* outbox.c -- the bounded in-memory FIFO of deliveries (one per recipient
 * of each message) and its drain. Submitting only appends and wakes the
 * drain; the drain writes while READY, skipping deliveries whose room is
 * not joined yet (they keep their order), and pauses at the output
 * watermark. A message leaves the outbox once its last delivery has been
 * written to the bufferevent: what is written but not yet flushed when the
 * link dies is lost (the durable spool is a later step). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "component/internal.h"
#include "conf/conf.h"
#include "xml/err.h"
#include "xml/jid.h"
#include "xml/log.h"
#include "xml/msg.h"
#include "xml/xml.h"

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

int comp_submit(struct comp *c, struct msg *m)
{
    struct comp_outbox staged = TAILQ_HEAD_INITIALIZER(staged);
    struct comp_delivery *d;
    struct comp_item *item = NULL;
    size_t n;
    int rc = XMTA_E_INVAL;

    TAILQ_INIT(&staged);
    if (!c || !m || !comp_msg_valid(m))
        goto fail;
    /* Full, stopping and out of memory all mean "try again later". */
    rc = XMTA_E_FULL;
    if (c->stopping || c->n_items >= c->cfg->queue_max)
        goto fail;
    if (!(item = calloc(1, sizeof(*item))))
        goto fail;
    n = m->n_to + m->n_rooms;
    for (size_t i = 0; i < n; i++) {
        if (!(d = calloc(1, sizeof(*d))))
            goto fail;
        TAILQ_INSERT_TAIL(&staged, d, link);
        d->item = item;
        if (i < m->n_to) {
            d->to = m->to[i];
        } else {
            d->to = m->rooms[i - m->n_to];
            d->room = comp_room_get(c, d->to, m->from, m->nick);
            if (!d->room)
                goto fail;
        }
    }
    item->m = m;
    item->pending = n;
    TAILQ_CONCAT(&c->outbox, &staged, link);
    c->n_items++;
    xlog_debug("comp", "queued id=%s hook=%s recipients=%zu queued=%zu", m->id,
               m->hook ? m->hook : "-", n, c->n_items);
    comp_wake_drain(c);
    return 0;
fail:
    while ((d = TAILQ_FIRST(&staged))) {
        TAILQ_REMOVE(&staged, d, link);
        free(d);
    }
    free(item);
    msg_free(m);
    return rc;
}

size_t comp_queued(const struct comp *c)
{
    return c ? c->n_items : 0;
}

/* Removes d; the message goes with its last delivery. */
static void comp_delivery_done(struct comp *c, struct comp_delivery *d)
{
    struct comp_item *item = d->item;

    TAILQ_REMOVE(&c->outbox, d, link);
    free(d);
    if (--item->pending == 0) {
        msg_free(item->m);
        free(item);
        c->n_items--;
    }
}

/* 1:1 from the bare bot JID; groupchat from exactly the JID that joined. */
static int comp_delivery_send(struct comp *c, const struct comp_delivery *d)
{
    const struct msg *m = d->item->m;
    char bare[COMP_JID_MAX];
    const char *from = bare;
    struct xml_node *st;
    int rc;

    if (d->room)
        from = d->room->self;
    else
        snprintf(bare, sizeof(bare), "%s@%s", m->from, c->cfg->domain);
    if (!(st = msg_stanza(m, from, d->to, d->room != NULL)))
        return XMTA_E_NOMEM;
    rc = comp_send_node(c, st);
    xml_node_free(st);
    if (rc == 0)
        xlog_info("comp", "sent id=%s hook=%s to=%s%s", m->id,
                  m->hook ? m->hook : "-", d->to,
                  d->room ? " (groupchat)" : "");
    return rc;
}

void comp_outbox_drain(struct comp *c)
{
    struct comp_delivery *d, *next;
    struct evbuffer *out;

    if (c->state != COMP_READY || !c->bev)
        return;
    comp_rooms_join_idle(c); /* rooms added by comp_submit() */
    out = bufferevent_get_output(c->bev);
    for (d = TAILQ_FIRST(&c->outbox); d; d = next) {
        next = TAILQ_NEXT(d, link);
        if (evbuffer_get_length(out) >= COMP_OUT_HIGH)
            break; /* the write callback resumes below COMP_OUT_LOW */
        if (d->room && d->room->state != ROOM_JOINED)
            continue; /* waits for its room, in order */
        /* Out of memory: stop; the next wake-up (a submit, a write, a
         * join) retries from the head. */
        if (comp_delivery_send(c, d) != 0)
            break;
        comp_delivery_done(c, d);
    }
}

void comp_outbox_free(struct comp *c)
{
    struct comp_delivery *d;

    while ((d = TAILQ_FIRST(&c->outbox)))
        comp_delivery_done(c, d);
}
