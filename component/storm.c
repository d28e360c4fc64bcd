/* SPDX-License-Identifier: MIT */
/* storm.c -- storm control: more than storm_n messages from one bot to one
 * user within storm_window seconds fold into one digest at the window's end.
 *
 * A window starts with the first message a (user, bot) pair gets and ends
 * storm_window seconds later. The first storm_n deliveries of a window are
 * sent as usual; the later ones are held here, out of the outbox, and at
 * the end of the window one digest names them ("12 more alerts from grafana
 * in the last 60 s:" and their first lines). The held deliveries keep their
 * spool rows: once the digest is written they join the sent list under the
 * ack ping that follows it, and their rows go only when the server has
 * acknowledged that ping -- exactly like a delivery sent on its own. If the
 * link goes down first, they go back to the outbox (comp_outbox_requeue)
 * and are sent, or folded, again. Nothing accepted is dropped. Rooms are
 * never folded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/rand.h>

#include "component/internal.h"
#include "conf/conf.h"
#include "xml/err.h"
#include "xml/log.h"
#include "xml/msg.h"
#include "xml/xml.h"

/* Lines quoted in one digest; the others are only counted. */
#define STORM_DIGEST_LINES 20
/* Bytes kept of each quoted line. */
#define STORM_LINE_MAX 120

/* One (user, bot) pair inside its window. */
struct storm_key {
    TAILQ_ENTRY(storm_key) link;
    struct comp *c;
    char *to;  /* user JID */
    char *bot; /* bot localpart */
    unsigned window;
    unsigned long count;     /* deliveries seen in this window */
    struct comp_outbox held; /* folded, waiting for the digest */
    size_t n_held;
    struct event *timer; /* the end of the window */
};
TAILQ_HEAD(storm_keys, storm_key);

struct comp_storm {
    struct storm_keys keys;
    unsigned long folded;  /* deliveries carried by a digest written */
    unsigned long digests; /* digests written */
};

static void storm_key_free(struct comp_storm *s, struct storm_key *k)
{
    TAILQ_REMOVE(&s->keys, k, link);
    if (k->timer)
        event_free(k->timer);
    free(k->to);
    free(k->bot);
    free(k);
}

/* The first line of a message: its subject, else its body's first line,
 * cut at STORM_LINE_MAX bytes on a UTF-8 boundary. */
static void storm_first_line(const struct msg *m, char *out, size_t size)
{
    const char *s = m->subject && *m->subject ? m->subject : m->body;
    size_t n = strcspn(s, "\n");

    if (n >= size)
        n = size - 1;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--; /* not inside a multibyte character */
    memcpy(out, s, n);
    out[n] = '\0';
}

static int storm_uuid(char out[MSG_ID_LEN + 1])
{
    unsigned char b[16];

    if (RAND_bytes(b, sizeof(b)) != 1)
        return XMTA_E_IO;
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    snprintf(out, MSG_ID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
             b[11], b[12], b[13], b[14], b[15]);
    return 0;
}

/* Appends text to the growing body; 0 or XMTA_E_NOMEM. */
static int storm_cat(char **body, size_t *len, const char *text)
{
    size_t n = strlen(text);
    char *nb = realloc(*body, *len + n + 1);

    if (!nb)
        return XMTA_E_NOMEM;
    memcpy(nb + *len, text, n + 1);
    *body = nb;
    *len += n;
    return 0;
}

/* The digest of k's held deliveries as a message from k's bot. */
static struct msg *storm_digest(const struct storm_key *k)
{
    const struct comp_delivery *d;
    const struct msg *first = TAILQ_FIRST(&k->held)->item->m;
    const char *hooks[3] = {NULL, NULL, NULL};
    size_t n_hooks = 0, len = 0, i = 0;
    int more_hooks = 0, rc = 0;
    char line[STORM_LINE_MAX + 16], head[256], names[200] = "";
    struct msg *m = msg_new();

    if (!m)
        return NULL;
    TAILQ_FOREACH (d, &k->held, link) {
        const char *h = d->item->m->hook ? d->item->m->hook : k->bot;
        size_t j;

        for (j = 0; j < n_hooks && strcmp(hooks[j], h) != 0; j++)
            ;
        if (j < n_hooks)
            continue;
        if (n_hooks < 3)
            hooks[n_hooks++] = h;
        else
            more_hooks = 1;
    }
    for (size_t j = 0; j < n_hooks; j++)
        snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
                 j ? ", " : "", hooks[j]);
    snprintf(head, sizeof(head),
             "%zu more alert%s from %s%s in the last %u s:", k->n_held,
             k->n_held == 1 ? "" : "s", names, more_hooks ? " and others" : "",
             k->window);
    rc = storm_cat(&m->body, &len, head);
    TAILQ_FOREACH (d, &k->held, link) {
        if (rc != 0 || i++ == STORM_DIGEST_LINES)
            break;
        snprintf(line, sizeof(line), "\n- ");
        storm_first_line(d->item->m, line + 3, sizeof(line) - 3);
        rc = storm_cat(&m->body, &len, line);
    }
    if (rc == 0 && k->n_held > STORM_DIGEST_LINES) {
        snprintf(line, sizeof(line), "\n... and %zu more",
                 k->n_held - STORM_DIGEST_LINES);
        rc = storm_cat(&m->body, &len, line);
    }
    if (rc != 0 || storm_uuid(m->id) != 0 || !(m->hook = strdup("storm")) ||
        !(m->from = strdup(k->bot)) ||
        (first->nick && !(m->nick = strdup(first->nick))) ||
        msg_add_to(m, k->to) != 0) {
        msg_free(m);
        return NULL;
    }
    m->type = first->type;
    return m;
}

/* Writes k's digest; on success its deliveries count as sent with it.
 * 0, or a negative XMTA_E_* (they stay held). */
static int storm_flush(struct comp *c, struct storm_key *k)
{
    struct msg *m = storm_digest(k);
    char from[COMP_JID_MAX];
    struct xml_node *st = NULL;
    int rc = XMTA_E_NOMEM;

    snprintf(from, sizeof(from), "%s@%s", k->bot, c->cfg->domain);
    if (m && (st = msg_stanza(m, from, k->to, 0)))
        rc = comp_send_node(c, st);
    if (rc == 0) {
        c->storm->digests++;
        c->storm->folded += k->n_held;
        xlog_info("storm", "digest id=%s to=%s bot=%s folded=%zu window=%u",
                  m->id, k->to, k->bot, k->n_held, k->window);
        comp_outbox_sent_add(c, &k->held);
        k->n_held = 0;
    }
    xml_node_free(st);
    msg_free(m);
    return rc;
}

/* The end of a window: the digest, then the pair is forgotten. */
static void storm_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct storm_key *k = arg;
    struct comp *c = k->c;

    if (k->n_held &&
        (c->state != COMP_READY || !c->bev || storm_flush(c, k) != 0)) {
        /* Not writable now (the held ones normally went back to the
         * outbox with the link): try again in a second. */
        comp_timer_arm(k->timer, 1000);
        return;
    }
    storm_key_free(c->storm, k);
}

int comp_storm_fold(struct comp *c, struct comp_delivery *d)
{
    const struct msg *m = d->item->m;
    struct storm_key *k;

    if (d->room || !c->cfg->storm_n || !c->cfg->storm_window)
        return 0;
    if (!c->storm) {
        if (!(c->storm = calloc(1, sizeof(*c->storm))))
            return 0;
        TAILQ_INIT(&c->storm->keys);
    }
    TAILQ_FOREACH (k, &c->storm->keys, link) {
        if (strcmp(k->to, d->to) == 0 && strcmp(k->bot, m->from) == 0)
            break;
    }
    if (!k) {
        if (!(k = calloc(1, sizeof(*k))))
            return 0;
        k->c = c;
        k->window = c->cfg->storm_window;
        TAILQ_INIT(&k->held);
        k->to = strdup(d->to);
        k->bot = strdup(m->from);
        k->timer = evtimer_new(c->base, storm_on_timer, k);
        TAILQ_INSERT_TAIL(&c->storm->keys, k, link);
        if (!k->to || !k->bot || !k->timer) {
            storm_key_free(c->storm, k);
            return 0; /* out of memory: send it */
        }
        comp_timer_arm(k->timer, k->window * 1000u);
    }
    return ++k->count > c->cfg->storm_n;
}

void comp_storm_hold(struct comp *c, struct comp_delivery *d)
{
    struct storm_key *k;

    TAILQ_FOREACH (k, &c->storm->keys, link) {
        if (strcmp(k->to, d->to) == 0 && strcmp(k->bot, d->item->m->from) == 0)
            break;
    }
    /* comp_storm_fold() just found or made the pair. */
    TAILQ_INSERT_TAIL(&k->held, d, link);
    k->n_held++;
    xlog_debug("storm", "folded id=%s hook=%s to=%s held=%zu", d->item->m->id,
               d->item->m->hook ? d->item->m->hook : "-", d->to, k->n_held);
}

void comp_storm_release(struct comp *c, struct comp_outbox *list)
{
    struct storm_key *k;

    if (!c->storm)
        return;
    TAILQ_FOREACH (k, &c->storm->keys, link) {
        TAILQ_CONCAT(list, &k->held, link);
        k->n_held = 0;
    }
}

void comp_storm_stats(const struct comp *c,
                      unsigned long *folded,
                      unsigned long *digests)
{
    *folded = c && c->storm ? c->storm->folded : 0;
    *digests = c && c->storm ? c->storm->digests : 0;
}

void comp_storm_free(struct comp *c)
{
    struct storm_key *k;

    if (!c->storm)
        return;
    /* comp_outbox_free() already took every held delivery back. */
    while ((k = TAILQ_FIRST(&c->storm->keys)))
        storm_key_free(c->storm, k);
    free(c->storm);
    c->storm = NULL;
}
