/* SPDX-License-Identifier: MIT */
/* rooms.c -- MUC rooms: one entry per (room, bot), joined after every
 * handshake as bot@domain/xmta, tracked through self-presence (status 110)
 * or the room subject, retried with backoff after a timeout, an error or a
 * removal, and left on shutdown (XEP-0045; PROTOCOL.md 4). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "component/internal.h"
#include "conf/conf.h"
#include "xml/err.h"
#include "xml/jid.h"
#include "xml/log.h"
#include "xml/xml.h"

static const char *const room_state_names[ROOM_STATE_COUNT] = {
    [ROOM_IDLE] = "idle", [ROOM_JOINING] = "joining", [ROOM_JOINED] = "joined",
    [ROOM_WAIT] = "wait", [ROOM_FAILED] = "failed",
};

#define COMP_SELFPING_DEFAULT_MS (15 * 60 * 1000)

static void comp_room_selfping_arm(struct comp_room *r)
{
    r->ping_id[0] = '\0';
    if (r->state == ROOM_JOINED && r->c->t.selfping_ms)
        comp_timer_arm(r->timer, r->c->t.selfping_ms);
}

/* ---- occupants (real JIDs, for commands in rooms) ---------------------- */

static void comp_room_occ_clear(struct comp_room *r)
{
    for (size_t i = 0; i < r->n_occ; i++) {
        free(r->occ[i].nick);
        free(r->occ[i].jid);
    }
    free(r->occ);
    r->occ = NULL;
    r->n_occ = r->cap_occ = 0;
}

static struct comp_occupant *comp_room_occ_find(const struct comp_room *r,
                                                const char *nick)
{
    for (size_t i = 0; i < r->n_occ; i++)
        if (strcmp(r->occ[i].nick, nick) == 0)
            return &r->occ[i];
    return NULL;
}

static void comp_room_occ_remove(struct comp_room *r, const char *nick)
{
    struct comp_occupant *o = comp_room_occ_find(r, nick);

    if (!o)
        return;
    free(o->nick);
    free(o->jid);
    *o = r->occ[--r->n_occ];
}

/* Remembers nick's real JID (full or bare; kept bare). */
static void
comp_room_occ_set(struct comp_room *r, const char *nick, const char *jid)
{
    struct comp_occupant *o = comp_room_occ_find(r, nick);
    size_t n = strcspn(jid, "/");
    char *bare = strndup(jid, n);

    if (!bare)
        return;
    if (!o) {
        if (r->n_occ == r->cap_occ) {
            size_t cap = r->cap_occ ? 2 * r->cap_occ : 8;
            struct comp_occupant *v;

            if (r->n_occ >= COMP_OCCUPANTS_MAX ||
                !(v = realloc(r->occ, cap * sizeof(*v)))) {
                free(bare);
                return;
            }
            r->occ = v;
            r->cap_occ = cap;
        }
        o = &r->occ[r->n_occ];
        if (!(o->nick = strdup(nick))) {
            free(bare);
            return;
        }
        o->jid = NULL;
        r->n_occ++;
    }
    free(o->jid);
    o->jid = bare;
}

const char *comp_room_occupant_jid(const struct comp_room *r, const char *nick)
{
    const struct comp_occupant *o = nick ? comp_room_occ_find(r, nick) : NULL;

    return o ? o->jid : NULL;
}

static void comp_room_set_state(struct comp_room *r, enum room_state s)
{
    struct comp *c = r->c;

    if (s != ROOM_JOINED && s != r->state)
        comp_room_occ_clear(r); /* a new join brings a new list */

    if (s != r->state)
        xlog_info("comp", "room %s (%s) %s -> %s", r->jid, r->bot,
                  room_state_names[r->state], room_state_names[s]);
    r->state = s;
    evtimer_del(r->timer);
    r->ping_id[0] = '\0';
    if (s == ROOM_JOINING && c->t.join_timeout_ms)
        comp_timer_arm(r->timer, c->t.join_timeout_ms);
    else if (s == ROOM_WAIT)
        comp_timer_arm(r->timer, r->wait_ms);
    else if (s == ROOM_JOINED)
        comp_room_selfping_arm(r);
    if (s == ROOM_JOINED) {
        r->last_error[0] = '\0';
        comp_outbox_unpark(c, r);
    }
    if (s != ROOM_JOINED) {
        free(r->real_nick);
        r->real_nick = NULL;
    }
}

/* The nick to try: the configured one, then "nick-2", "nick-3", ... after
 * conflicts. */
static void comp_room_nick(const struct comp_room *r, char *buf, size_t size)
{
    if (r->suffix == 0)
        snprintf(buf, size, "%s", r->nick);
    else
        snprintf(buf, size, "%s-%u", r->nick, r->suffix + 1);
}

/* Retry later: after a failure the delay grows, capped. */
static void comp_room_retry(struct comp_room *r)
{
    struct comp *c = r->c;

    r->wait_ms = comp_backoff(c->t.join_backoff_min_ms,
                              c->t.join_backoff_max_ms, r->attempts);
    if (r->attempts < 64)
        r->attempts++;
    xlog_info("comp", "room %s: joining again in %u ms", r->jid, r->wait_ms);
    comp_room_set_state(r, ROOM_WAIT);
}

static void comp_room_join(struct comp_room *r)
{
    struct comp *c = r->c;
    struct xml_node *p = xml_node_new("presence", NULL), *x, *h;
    const char *photo = comp_bots_photo(c, r->bot); /* XEP-0153 */
    char nick[1100], to[COMP_JID_MAX], id[32];
    int rc = XMTA_E_NOMEM;

    comp_room_nick(r, nick, sizeof(nick));
    snprintf(to, sizeof(to), "%s/%s", r->jid, nick);
    snprintf(id, sizeof(id), "join-%lu", ++c->join_seq);
    /* No type; <x/> is required in practice; no history replay. */
    if (p && xml_node_set_attr(p, "from", r->self) == 0 &&
        xml_node_set_attr(p, "to", to) == 0 &&
        xml_node_set_attr(p, "id", id) == 0 &&
        (x = xml_node_add_child(p, "x", COMP_NS_MUC)) &&
        (h = xml_node_add_child(x, "history", NULL)) &&
        xml_node_set_attr(h, "maxchars", "0") == 0 &&
        (!r->password ||
         ((h = xml_node_add_child(x, "password", NULL)) &&
          xml_node_add_text(h, r->password, strlen(r->password)) == 0)) &&
        comp_life_presence_add(c, r->bot, p) == 0 && /* status board */
        (!photo || ((h = xml_node_add_child(p, "x", "vcard-temp:x:update")) &&
                    (h = xml_node_add_child(h, "photo", NULL)) &&
                    xml_node_add_text(h, photo, strlen(photo)) == 0)))
        rc = comp_send_node(c, p);
    xml_node_free(p);
    if (rc != 0) {
        comp_room_retry(r);
        return;
    }
    xlog_debug("comp", "joining room %s as %s", r->jid, nick);
    comp_room_set_state(r, ROOM_JOINING);
}

/* XEP-0410: after a silence, ping our own occupant JID; a room that lost
 * us answers with an error, and no answer at all within the join timeout
 * counts as lost too (PROTOCOL.md 4.7). */
static void comp_room_selfping(struct comp_room *r)
{
    struct comp *c = r->c;
    struct xml_node *iq;
    char to[COMP_JID_MAX];
    int rc = XMTA_E_NOMEM;

    if (r->ping_id[0]) {
        xlog_warn("comp", "room %s: no answer to the self-ping: rejoining",
                  r->jid);
        snprintf(r->last_error, sizeof(r->last_error),
                 "self-ping unanswered: rejoined");
        r->attempts = 0;
        comp_room_retry(r);
        return;
    }
    if (c->state != COMP_READY || !r->real_nick)
        return;
    snprintf(to, sizeof(to), "%s/%s", r->jid, r->real_nick);
    snprintf(r->ping_id, sizeof(r->ping_id), "sp-%lu", ++c->join_seq);
    iq = xml_node_new("iq", NULL);
    if (iq && xml_node_set_attr(iq, "type", "get") == 0 &&
        xml_node_set_attr(iq, "id", r->ping_id) == 0 &&
        xml_node_set_attr(iq, "from", r->self) == 0 &&
        xml_node_set_attr(iq, "to", to) == 0 &&
        xml_node_add_child(iq, "ping", COMP_NS_PING))
        rc = comp_send_node(c, iq);
    xml_node_free(iq);
    if (rc != 0) {
        r->ping_id[0] = '\0';
        comp_room_selfping_arm(r);
        return;
    }
    xlog_debug("comp", "room %s: self-ping %s", r->jid, r->ping_id);
    comp_timer_arm(r->timer,
                   c->t.join_timeout_ms ? c->t.join_timeout_ms : 30000);
}

/* 1 while the room should be joined: it is in the config (or was added
 * for a message), or deliveries to it are still queued. */
static int comp_room_wanted(const struct comp_room *r)
{
    return !r->removed || r->n_pending > 0;
}

/* Unavailable presence to ROOM/nick (leaving, or undoing a join). */
static void comp_room_send_leave(struct comp_room *r, const char *nick)
{
    struct xml_node *p;
    char to[COMP_JID_MAX];

    if (r->c->state != COMP_READY || !nick)
        return;
    snprintf(to, sizeof(to), "%s/%s", r->jid, nick);
    p = xml_node_new("presence", NULL);
    if (p && xml_node_set_attr(p, "from", r->self) == 0 &&
        xml_node_set_attr(p, "to", to) == 0 &&
        xml_node_set_attr(p, "type", "unavailable") == 0)
        comp_send_node(r->c, p);
    xml_node_free(p);
}

/* A room removed from the config with nothing queued for it: leave it
 * (while joined or joining) and stop every timer. */
static void comp_room_leave(struct comp_room *r)
{
    char nick[1100];

    if (r->state == ROOM_JOINED && r->real_nick) {
        comp_room_send_leave(r, r->real_nick);
        xlog_info("comp", "left room %s (%s): no longer in the config", r->jid,
                  r->bot);
    } else if (r->state == ROOM_JOINING) {
        comp_room_nick(r, nick, sizeof(nick));
        comp_room_send_leave(r, nick);
    }
    snprintf(r->last_error, sizeof(r->last_error),
             "removed from the config: left");
    comp_room_set_state(r, ROOM_IDLE);
}

void comp_room_unref(struct comp_room *r)
{
    if (!r || r->n_pending == 0)
        return;
    if (--r->n_pending == 0 && r->removed) {
        xlog_info("comp",
                  "room %s (%s): nothing is queued for it any more; "
                  "leaving",
                  r->jid, r->bot);
        comp_room_leave(r);
    }
}

static void comp_room_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct comp_room *r = arg;

    if (!comp_room_wanted(r)) {
        comp_room_set_state(r, ROOM_IDLE);
        return;
    }
    if (r->state == ROOM_JOINING) {
        xlog_warn("comp", "room %s: no answer to the join within %u ms", r->jid,
                  r->c->t.join_timeout_ms);
        comp_room_retry(r);
    } else if (r->state == ROOM_WAIT) {
        if (r->c->state == COMP_READY)
            comp_room_join(r);
        else
            comp_room_set_state(r, ROOM_IDLE);
    } else if (r->state == ROOM_JOINED) {
        comp_room_selfping(r);
    }
}

/* ---- the table ---------------------------------------------------------- */

static struct comp_room *
comp_room_find(const struct comp *c, const char *jid, const char *bot)
{
    for (size_t i = 0; i < c->n_rooms; i++)
        if (strcasecmp(c->rooms[i]->jid, jid) == 0 &&
            strcasecmp(c->rooms[i]->bot, bot) == 0)
            return c->rooms[i];
    return NULL;
}

static void comp_room_free(struct comp_room *r)
{
    if (!r)
        return;
    if (r->timer)
        event_free(r->timer);
    free(r->jid);
    free(r->bot);
    free(r->nick);
    free(r->self);
    free(r->real_nick);
    comp_room_occ_clear(r);
    free(r);
}

static struct comp_room *comp_room_add(struct comp *c,
                                       const char *jid,
                                       const char *bot,
                                       const char *nick,
                                       int dynamic)
{
    struct comp_room *r, **v;
    size_t len;

    if (!(v = realloc(c->rooms, (c->n_rooms + 1) * sizeof(*v))))
        return NULL;
    c->rooms = v;
    if (!(r = calloc(1, sizeof(*r))))
        return NULL;
    r->c = c;
    r->dynamic = dynamic;
    len = strlen(bot) + strlen(c->cfg->domain) + sizeof(COMP_RESOURCE) + 2;
    r->jid = strdup(jid);
    r->bot = strdup(bot);
    r->nick = strdup(nick && *nick ? nick : bot);
    r->self = malloc(len);
    r->timer = evtimer_new(c->base, comp_room_on_timer, r);
    if (!r->jid || !r->bot || !r->nick || !r->self || !r->timer ||
        strlen(r->nick) > JID_PART_MAX) {
        comp_room_free(r);
        return NULL;
    }
    /* A hook's name may serve as the bot's localpart: nodeprep folds its
     * case (hook names are ASCII), so "Grafana" joins as grafana@domain,
     * the same address its 1:1 messages come from. */
    for (char *p = r->bot; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    snprintf(r->self, len, "%s@%s/%s", r->bot, c->cfg->domain, COMP_RESOURCE);
    c->rooms[c->n_rooms++] = r;
    return r;
}

int comp_rooms_init(struct comp *c)
{
    /* The bots are built with the rooms (component.c calls this one). */
    if (comp_bots_init(c) != 0)
        return XMTA_E_NOMEM;
    if (!c->t.selfping_ms)
        c->t.selfping_ms = COMP_SELFPING_DEFAULT_MS;
    for (size_t h = 0; h < c->cfg->n_hooks; h++) {
        const struct conf_hook *hk = &c->cfg->hooks[h];
        const char *bot = hk->from ? hk->from : hk->name;
        for (size_t i = 0; i < hk->n_rooms; i++) {
            struct comp_room *r = NULL;

            if (!bot || (r = comp_room_find(c, hk->rooms[i], bot))) {
                if (r && !r->password)
                    r->password = hk->room_password;
                continue; /* a bot joins a room once, with its first nick */
            }
            if (!(r = comp_room_add(c, hk->rooms[i], bot, hk->nick, 0)))
                return XMTA_E_NOMEM;
            r->password = hk->room_password;
        }
    }
    return 0;
}

/* The hooks of c->cfg that list room jid: whether bot is among them, and
 * the first room_password given for it. */
static int comp_room_listed(const struct comp *c,
                            const struct comp_room *r,
                            const char **pw)
{
    int listed = 0;

    *pw = NULL;
    for (size_t h = 0; h < c->cfg->n_hooks; h++) {
        const struct conf_hook *hk = &c->cfg->hooks[h];
        const char *bot = hk->from ? hk->from : hk->name;

        for (size_t k = 0; k < hk->n_rooms; k++) {
            if (strcasecmp(hk->rooms[k], r->jid) != 0)
                continue;
            if (!*pw)
                *pw = hk->room_password;
            if (bot && strcasecmp(bot, r->bot) == 0)
                listed = 1;
        }
    }
    return listed;
}

void comp_rooms_reload(struct comp *c)
{
    /* Rooms of the old config: passwords are borrowed from the conf (take
     * the new ones); those no longer listed are left. */
    for (size_t i = 0; i < c->n_rooms; i++) {
        struct comp_room *r = c->rooms[i];
        const char *pw;
        int listed = comp_room_listed(c, r, &pw);

        r->password = pw;
        if (listed || r->dynamic || r->removed)
            continue;
        r->removed = 1;
        if (r->n_pending == 0) {
            xlog_info("comp", "reload: room %s (%s) is no longer in the config",
                      r->jid, r->bot);
            comp_room_leave(r);
        } else {
            /* Accepted (202) means delivered: they go first. */
            xlog_warn("comp",
                      "reload: room %s (%s) is no longer in the config; "
                      "leaving once its %zu queued message(s) are delivered",
                      r->jid, r->bot, r->n_pending);
            snprintf(r->last_error, sizeof(r->last_error),
                     "removed from the config: leaving after %zu queued "
                     "message(s)",
                     r->n_pending);
        }
    }
    /* Rooms new in the config (or back in it). */
    for (size_t h = 0; h < c->cfg->n_hooks; h++) {
        const struct conf_hook *hk = &c->cfg->hooks[h];
        const char *bot = hk->from ? hk->from : hk->name;

        for (size_t i = 0; bot && i < hk->n_rooms; i++) {
            struct comp_room *r = comp_room_find(c, hk->rooms[i], bot);

            if (r) {
                if (r->removed || r->dynamic)
                    xlog_info("comp", "reload: room %s (%s) is in the config",
                              r->jid, r->bot);
                if (r->removed)
                    r->last_error[0] = '\0';
                r->removed = 0;
                r->dynamic = 0;
                if (!r->password)
                    r->password = hk->room_password;
                continue;
            }
            if (!(r = comp_room_add(c, hk->rooms[i], bot, hk->nick, 0))) {
                xlog_warn("comp", "reload: cannot add room %s: out of memory",
                          hk->rooms[i]);
                continue;
            }
            r->password = hk->room_password;
            xlog_info("comp", "reload: room %s (%s) added; joining", r->jid,
                      r->bot);
        }
    }
}

void comp_rooms_free(struct comp *c)
{
    comp_bots_free(c);
    for (size_t i = 0; i < c->n_rooms; i++)
        comp_room_free(c->rooms[i]);
    free(c->rooms);
    c->rooms = NULL;
    c->n_rooms = 0;
}

struct comp_room *comp_room_get(struct comp *c,
                                const char *jid,
                                const char *bot,
                                const char *nick)
{
    struct comp_room *r = comp_room_find(c, jid, bot);
    size_t dynamic = 0;

    if (r && r->removed) {
        /* Out of the config, but a caller names it (room=): it becomes a
         * room added for messages again. */
        r->removed = 0;
        r->dynamic = 1;
        r->last_error[0] = '\0';
        xlog_info("comp", "room %s (%s) added for a message", jid, bot);
    }
    if (r)
        return r;
    for (size_t i = 0; i < c->n_rooms; i++)
        dynamic += c->rooms[i]->dynamic != 0;
    if (dynamic >= COMP_ROOMS_MAX) {
        xlog_warn("comp",
                  "room %s refused: %d rooms outside the config "
                  "already",
                  jid, COMP_ROOMS_MAX);
        return NULL;
    }
    if (!(r = comp_room_add(c, jid, bot, nick, 1)))
        return NULL;
    for (size_t h = 0; h < c->cfg->n_hooks && !r->password; h++) {
        const struct conf_hook *hk = &c->cfg->hooks[h];

        if (strcasecmp(hk->from ? hk->from : hk->name, bot) == 0)
            r->password = hk->room_password;
    }
    /* Joined from the drain (comp_rooms_join_idle): submitting never
     * writes. */
    xlog_info("comp", "room %s (%s) added for a message", jid, bot);
    return r;
}

void comp_rooms(const struct comp *c, size_t *joined, size_t *total)
{
    size_t j = 0, n = 0;

    for (size_t i = 0; c && i < c->n_rooms; i++) {
        if (!comp_room_wanted(c->rooms[i]))
            continue; /* removed by a reload: not reported */
        n++;
        j += c->rooms[i]->state == ROOM_JOINED;
    }
    if (joined)
        *joined = j;
    if (total)
        *total = n;
}

void comp_rooms_join_all(struct comp *c)
{
    /* Rejoin after every handshake: a dropped link almost always got the
     * bot kicked, and a join from a joined JID is answered like a fresh
     * one (PROTOCOL.md 4.7). */
    for (size_t i = 0; i < c->n_rooms; i++) {
        if (c->rooms[i]->state == ROOM_FAILED)
            continue; /* banned, removed, destroyed: reported, not retried */
        if (!comp_room_wanted(c->rooms[i]))
            continue; /* removed from the config by a reload */
        c->rooms[i]->attempts = 0;
        comp_room_join(c->rooms[i]);
    }
    comp_bots_on_ready(c);
}

void comp_rooms_join_idle(struct comp *c)
{
    if (c->state != COMP_READY)
        return;
    for (size_t i = 0; i < c->n_rooms; i++)
        if (c->rooms[i]->state == ROOM_IDLE && comp_room_wanted(c->rooms[i]))
            comp_room_join(c->rooms[i]);
}

void comp_rooms_reset(struct comp *c)
{
    for (size_t i = 0; i < c->n_rooms; i++)
        if (c->rooms[i]->state != ROOM_FAILED)
            comp_room_set_state(c->rooms[i], ROOM_IDLE);
}

int comp_room_info(const struct comp *c, size_t i, struct comp_room_info *out)
{
    const struct comp_room *r = NULL;

    if (!c || !out)
        return XMTA_E_NOTFOUND;
    /* The ith room still reported (removed ones are skipped). */
    for (size_t k = 0; k < c->n_rooms; k++) {
        if (!comp_room_wanted(c->rooms[k]))
            continue;
        if (i-- == 0) {
            r = c->rooms[k];
            break;
        }
    }
    if (!r)
        return XMTA_E_NOTFOUND;
    out->jid = r->jid;
    out->bot = r->bot;
    out->state = room_state_names[r->state];
    out->error = r->last_error;
    return 0;
}

void comp_rooms_leave_all(struct comp *c)
{
    comp_bots_leave_all(c);
    for (size_t i = 0; i < c->n_rooms; i++) {
        struct comp_room *r = c->rooms[i];

        if (r->state == ROOM_JOINED && r->real_nick)
            comp_room_send_leave(r, r->real_nick);
    }
}

/* ---- incoming ----------------------------------------------------------- */

/* The entry a stanza from a room to one of our bots is about: the bare
 * part of from is the room, the local part of to the bot. */
static struct comp_room *
comp_room_match(const struct comp *c, const char *from, const char *to)
{
    const char *slash, *at;
    size_t flen, tlen;

    if (!from || !to || !comp_jid_is_ours(c, to) || !(at = strchr(to, '@')))
        return NULL;
    slash = strchr(from, '/');
    flen = slash ? (size_t)(slash - from) : strlen(from);
    tlen = (size_t)(at - to);
    for (size_t i = 0; i < c->n_rooms; i++) {
        struct comp_room *r = c->rooms[i];

        if (strlen(r->jid) == flen && strncasecmp(r->jid, from, flen) == 0 &&
            strlen(r->bot) == tlen && strncasecmp(r->bot, to, tlen) == 0)
            return r;
    }
    return NULL;
}

/* Status codes of a muc#user <x/> as a bit set of the ones we act on. */
enum {
    ST_110 = 1 << 0, /* self-presence */
    ST_201 = 1 << 1, /* room created */
    ST_210 = 1 << 2, /* nick changed by the service */
    ST_301 = 1 << 3, /* banned */
    ST_303 = 1 << 4, /* nick change (unavailable) */
    ST_307 = 1 << 5, /* kicked */
    ST_321 = 1 << 6, /* affiliation change */
    ST_322 = 1 << 7, /* members-only now */
    ST_332 = 1 << 8, /* system shutdown */
    ST_333 = 1 << 9, /* removed after an error */
};

static unsigned comp_muc_statuses(const struct xml_node *x)
{
    static const struct {
        const char *code;
        unsigned bit;
    } codes[] = {{"110", ST_110}, {"201", ST_201}, {"210", ST_210},
                 {"301", ST_301}, {"303", ST_303}, {"307", ST_307},
                 {"321", ST_321}, {"322", ST_322}, {"332", ST_332},
                 {"333", ST_333}};
    unsigned bits = 0;

    for (const struct xml_node *k = xml_node_first_child(x); k;
         k = xml_node_next(k)) {
        const char *code = xml_node_attr(k, "code");

        if (strcmp(xml_node_name(k), "status") != 0 || !code)
            continue;
        for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
            if (strcmp(code, codes[i].code) == 0)
                bits |= codes[i].bit;
    }
    return bits;
}

static const char *comp_removal_reason(unsigned st, int destroyed)
{
    if (destroyed)
        return "the room was destroyed";
    if (st & ST_301)
        return "banned (301)";
    if (st & ST_307)
        return "kicked (307)";
    if (st & ST_321)
        return "affiliation changed (321)";
    if (st & ST_322)
        return "the room became members-only (322)";
    if (st & ST_332)
        return "system shutdown (332)";
    if (st & ST_333)
        return "removed after an error (333)";
    return "left";
}

/* What a failed join most likely means (PROTOCOL.md 4.3). */
static const char *comp_join_hint(const char *cond)
{
    static const struct {
        const char *cond, *hint;
    } hints[] = {
        {"registration-required",
         "members-only room: its owner must make the bot's bare JID a "
         "member"},
        {"forbidden", "banned, or room creation denied by the service"},
        {"not-authorized",
         "the room needs a password: set room_password in the hook (or "
         "check it)"},
        {"item-not-found", "no such room, or it is locked"},
        {"not-allowed", "room creation is restricted on this service"},
        {"gone", "the room was destroyed"},
        {"jid-malformed", "the nick is not valid"},
        {"service-unavailable", "the room is full"},
        {"resource-constraint", "the room or the service is full"},
    };

    for (size_t i = 0; cond && i < sizeof(hints) / sizeof(hints[0]); i++)
        if (strcmp(cond, hints[i].cond) == 0)
            return hints[i].hint;
    return "see the server's MUC logs";
}

static void comp_room_on_error(struct comp_room *r, const struct xml_node *p)
{
    const char *cond = comp_stanza_error_condition(p);
    char nick[1100];

    if (r->state != ROOM_JOINING && r->state != ROOM_JOINED)
        return; /* a late duplicate: a retry is already planned */
    comp_room_nick(r, nick, sizeof(nick));
    if (cond && strcmp(cond, "conflict") == 0) {
        r->suffix++;
        xlog_warn("comp", "room %s: nick %s is taken; trying another", r->jid,
                  nick);
        snprintf(r->last_error, sizeof(r->last_error),
                 "conflict: nick %.160s is taken", nick);
        r->attempts = 0;
    } else if (cond && strcmp(cond, "registration-required") == 0) {
        char bare[COMP_JID_MAX];
        const char *slash = strrchr(r->self, '/');

        snprintf(bare, sizeof(bare), "%.*s",
                 (int)(slash ? (size_t)(slash - r->self) : strlen(r->self)),
                 r->self);
        xlog_error("comp",
                   "room %s is members-only and %s is not a member: ask the "
                   "room's owner to add %s as a member; retrying",
                   r->jid, bare, bare);
        snprintf(r->last_error, sizeof(r->last_error),
                 "registration-required: add %.160s as a member of the room",
                 bare);
    } else {
        xlog_warn("comp", "room %s: cannot join as %s: %s (%s)", r->jid, nick,
                  cond ? cond : "undefined-condition", comp_join_hint(cond));
        snprintf(r->last_error, sizeof(r->last_error), "%s: %s",
                 cond ? cond : "undefined-condition", comp_join_hint(cond));
    }
    comp_room_retry(r);
}

/* Status 201: our join created the room. xmta never creates rooms by
 * accident (PROTOCOL.md 4.4): leave at once and report. */
static void comp_room_created(struct comp_room *r, const char *nick)
{
    struct xml_node *p = xml_node_new("presence", NULL);
    char to[COMP_JID_MAX];

    snprintf(to, sizeof(to), "%s/%s", r->jid, nick ? nick : r->nick);
    if (p && xml_node_set_attr(p, "from", r->self) == 0 &&
        xml_node_set_attr(p, "to", to) == 0 &&
        xml_node_set_attr(p, "type", "unavailable") == 0)
        comp_send_node(r->c, p);
    xml_node_free(p);
    xlog_error("comp",
               "room %s did not exist: joining created it (status 201), so "
               "%s left it again. Create the room (persistent) on the "
               "server or fix the name in the config; not rejoining until "
               "xmta restarts",
               r->jid, r->self);
    snprintf(r->last_error, sizeof(r->last_error),
             "room did not exist (status 201): left it; create it and "
             "restart xmta");
    comp_room_set_state(r, ROOM_FAILED);
}

void comp_rooms_on_presence(struct comp *c, const struct xml_node *p)
{
    const char *from = xml_node_attr(p, "from");
    const char *type = xml_node_attr(p, "type");
    const struct xml_node *x, *item;
    struct comp_room *r = comp_room_match(c, from, xml_node_attr(p, "to"));
    const char *nick, *ijid;
    unsigned st;

    if (!r)
        return; /* not about a room of ours (subscriptions: bots.c) */
    if (r->state == ROOM_JOINED && !r->ping_id[0])
        comp_room_selfping_arm(r); /* the room is alive: silence restarts */
    if (type && strcmp(type, "error") == 0) {
        comp_room_on_error(r, p);
        return;
    }
    if (type && strcmp(type, "unavailable") != 0)
        return;
    if (!(x = xml_node_child(p, "x", COMP_NS_MUC_USER)))
        return;
    st = comp_muc_statuses(x);
    item = xml_node_child(x, "item", NULL);
    ijid = item ? xml_node_attr(item, "jid") : NULL;
    nick = strchr(from, '/') ? strchr(from, '/') + 1 : NULL;
    /* Our own presence: status 110, or (older services) our full JID on
     * the item. Others: their real JID, when the room shows it. */
    if (!(st & ST_110) && !(ijid && strcasecmp(ijid, r->self) == 0)) {
        if (!nick || !*nick)
            return;
        if (!type && ijid && *ijid)
            comp_room_occ_set(r, nick, ijid);
        else
            comp_room_occ_remove(r, nick); /* left, renamed, or hidden */
        return;
    }
    if (!type && !comp_room_wanted(r)) {
        comp_room_send_leave(r, nick); /* a late join: undo it */
        return;
    }
    if (!type) {
        if (st & ST_201) {
            comp_room_created(r, nick);
            return;
        }
        if (r->state == ROOM_JOINED) {
            if (nick && r->real_nick && strcmp(nick, r->real_nick) != 0) {
                char *dup = strdup(nick);

                if (dup) {
                    free(r->real_nick);
                    r->real_nick = dup;
                }
            }
            return;
        }
        comp_room_set_state(r, ROOM_JOINED);
        r->real_nick = strdup(nick && *nick ? nick : r->nick);
        r->attempts = 0;
        xlog_info("comp", "joined room %s as %s", r->jid,
                  r->real_nick ? r->real_nick : r->nick);
        comp_wake_drain(c);
        return;
    }
    /* unavailable */
    if (st & ST_303)
        return; /* a nick change: the new presence follows */
    if (r->state != ROOM_JOINED && r->state != ROOM_JOINING)
        return;
    {
        int destroyed = xml_node_child(x, "destroy", NULL) != NULL;
        int final = destroyed || (st & (ST_301 | ST_321 | ST_322));

        snprintf(r->last_error, sizeof(r->last_error), "removed: %s",
                 comp_removal_reason(st, destroyed));
        if (final) {
            /* Not rejoined: the room's owner acted (PROTOCOL.md 4.7). */
            xlog_error("comp",
                       "removed from room %s: %s; not rejoining until xmta "
                       "restarts",
                       r->jid, comp_removal_reason(st, destroyed));
            comp_room_set_state(r, ROOM_FAILED);
            return;
        }
        xlog_warn("comp", "removed from room %s: %s; rejoining", r->jid,
                  comp_removal_reason(st, destroyed));
        r->attempts = 0;
        comp_room_retry(r);
    }
}

void comp_rooms_on_message(struct comp *c, const struct xml_node *m)
{
    const char *type = xml_node_attr(m, "type");
    struct comp_room *r =
        comp_room_match(c, xml_node_attr(m, "from"), xml_node_attr(m, "to"));

    if (!r || !type)
        return;
    if (r->state == ROOM_JOINED && !r->ping_id[0])
        comp_room_selfping_arm(r);
    if (strcmp(type, "error") == 0) {
        const char *cond = comp_stanza_error_condition(m);

        /* The room no longer counts us as an occupant (PROTOCOL.md 5.6). */
        if (cond && strcmp(cond, "not-acceptable") == 0 &&
            r->state == ROOM_JOINED) {
            xlog_warn("comp", "room %s: not an occupant any more; rejoining",
                      r->jid);
            r->attempts = 0;
            comp_room_retry(r);
        }
        return;
    }
    /* The subject closes the join sequence (PROTOCOL.md 4.2). */
    if (strcmp(type, "groupchat") == 0 && r->state == ROOM_JOINING &&
        xml_node_child(m, "subject", NULL)) {
        char nick[1100];

        comp_room_nick(r, nick, sizeof(nick));
        comp_room_set_state(r, ROOM_JOINED);
        r->real_nick = strdup(nick);
        r->attempts = 0;
        xlog_info("comp", "joined room %s as %s (subject received)", r->jid,
                  nick);
        comp_wake_drain(c);
    }
}

void comp_rooms_on_iq_reply(struct comp *c, const struct xml_node *iq)
{
    const char *id = xml_node_attr(iq, "id");
    const char *type = xml_node_attr(iq, "type");

    for (size_t i = 0; id && type && i < c->n_rooms; i++) {
        struct comp_room *r = c->rooms[i];
        const char *cond;

        if (r->state != ROOM_JOINED || strcmp(r->ping_id, id) != 0)
            continue;
        cond =
            strcmp(type, "error") == 0 ? comp_stanza_error_condition(iq) : NULL;
        /* A result, or an error about the path rather than the room,
         * means we are still an occupant (XEP-0410). */
        if (strcmp(type, "result") == 0 ||
            (cond && (strcmp(cond, "remote-server-not-found") == 0 ||
                      strcmp(cond, "remote-server-timeout") == 0))) {
            xlog_debug("comp", "room %s: self-ping answered", r->jid);
            comp_room_selfping_arm(r);
            return;
        }
        xlog_warn("comp", "room %s: self-ping failed (%s): rejoining", r->jid,
                  cond ? cond : "undefined-condition");
        snprintf(r->last_error, sizeof(r->last_error),
                 "self-ping failed (%s): rejoined",
                 cond ? cond : "undefined-condition");
        r->attempts = 0;
        comp_room_retry(r);
        return;
    }
}
