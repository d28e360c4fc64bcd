/* SPDX-License-Identifier: MIT */
/* lifecycle.c -- the alert lifecycle (issue 5): XEP-0308 corrections of an
 * alert group's message when it resolves (on_resolve = correct), the
 * dead man's switch (heartbeat =) and the bots' presence as a status board
 * (firing counts per Alertmanager/Grafana group).
 *
 * Corrections: each alert group (groupKey) is sent to users from its own
 * full JID, bot@domain/alert-<12 hex of SHA-256(groupKey)>, because
 * Conversations applies a correction only to the newest message from the
 * same full JID (PROTOCOL.md 7.7). Per (bot, groupKey, user) we remember
 * the id of the first message of the series; later notifications of the
 * group (resolved, or firing with no more alerts than before) replace it.
 * In memory, and in the spool database's tables alert_sent/alert_group
 * when the durable spool is on, forgotten after LIFE_MAX_AGE.
 *
 * Heartbeats: per hook with heartbeat =, the wall-clock time of its last
 * webhook (or of the start of the watch) and whether it is missing, kept
 * in the spool's table heartbeat as well, so that after a restart a
 * silence is reported one period after the last webhook seen, and a
 * heartbeat missing before it still comes "back". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "component/internal.h"
#include "component/spool.h"
#include "conf/conf.h"
#include "xml/err.h"
#include "xml/log.h"
#include "xml/msg.h"
#include "xml/xml.h"

#define LIFE_MAX_AGE (7 * 86400) /* entries unused this long are dropped */
#define LIFE_SENT_MAX 10000      /* (bot, group, user) series kept */
#define LIFE_GROUPS_MAX 10000    /* (hook, group) firing counts kept */
#define LIFE_SWEEP_MS 3600000u   /* expiry sweep period */
#define LIFE_BEAT_WAIT_MS 250u   /* standby, or not yet READY: ask again */

/* One alert series sent to one user. */
struct life_sent {
    char *bot, *group, *rcpt;
    char first[MSG_ID_LEN + 1]; /* the message corrections replace */
    char last[MSG_ID_LEN + 1];  /* the newest message of the series */
    int state;                  /* enum msg_alert of the newest */
    unsigned firing;            /* alerts firing in the newest */
    int64_t updated;
};

/* The firing alerts of one group of one hook (the status board). */
struct life_group {
    char *hook, *group;
    unsigned firing;
    int64_t updated;
};

/* A hook with heartbeat =. */
struct life_beat {
    struct comp *c;
    char *hook;
    unsigned period;        /* seconds */
    int missing;            /* the heartbeat is overdue (told once) */
    int64_t last_ms;        /* wall clock: last webhook, or the start */
    unsigned long received; /* webhooks since start (/metrics) */
    unsigned long missed;   /* times it went missing since start */
    struct event *timer;
};

struct comp_life {
    struct life_sent *sent;
    size_t n_sent;
    struct life_group *groups;
    size_t n_groups;
    struct life_beat *beats;
    size_t n_beats;
    char **seen; /* hooks that sent alert payloads since the start */
    size_t n_seen;
    struct event *sweep;
    int internal; /* submitting our own notice: not a webhook */
    /* counters since start, for /metrics */
    unsigned long corrections;   /* deliveries written as a correction */
    unsigned long resolved_new;  /* resolved, written as a new message */
    unsigned long board_updates; /* status board changes sent */
};

/* ---- helpers ------------------------------------------------------------ */

static const struct conf_hook *life_hook(const struct comp *c, const char *name)
{
    for (size_t i = 0; name && i < c->cfg->n_hooks; i++)
        if (strcmp(c->cfg->hooks[i].name, name) == 0)
            return &c->cfg->hooks[i];
    return NULL;
}

static const char *life_bot_of(const struct conf_hook *hk)
{
    return hk->from ? hk->from : hk->name;
}

/* Wall-clock time in milliseconds (persisted: not monotonic). */
static int64_t life_wall_ms(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return (int64_t)time(NULL) * 1000;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static time_t life_secs(int64_t ms)
{
    return (time_t)(ms / 1000);
}

/* "HH:MM" of t, local time. */
static void life_hhmm(time_t t, char out[8])
{
    struct tm tm;

    if (!localtime_r(&t, &tm) || strftime(out, 8, "%H:%M", &tm) == 0)
        snprintf(out, 8, "?");
}

void comp_life_resource(const char *group, char out[COMP_LIFE_RESOURCE_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    static const char hex[] = "0123456789abcdef";

    memcpy(out, "alert-", 6);
    if (EVP_Digest(group, strlen(group), md, &mdlen, EVP_sha256(), NULL) != 1 ||
        mdlen < 6)
        memset(md, 0, 6);
    for (size_t i = 0; i < 6; i++) {
        out[6 + 2 * i] = hex[md[i] >> 4];
        out[7 + 2 * i] = hex[md[i] & 15];
    }
    out[18] = '\0';
}

static void life_sent_free(struct life_sent *s)
{
    free(s->bot);
    free(s->group);
    free(s->rcpt);
}

static struct life_sent *life_sent_find(struct comp_life *l,
                                        const char *bot,
                                        const char *group,
                                        const char *rcpt)
{
    for (size_t i = 0; i < l->n_sent; i++) {
        struct life_sent *s = &l->sent[i];

        if (strcmp(s->group, group) == 0 && strcmp(s->rcpt, rcpt) == 0 &&
            strcmp(s->bot, bot) == 0)
            return s;
    }
    return NULL;
}

/* A new entry (the oldest one makes room past LIFE_SENT_MAX). */
static struct life_sent *life_sent_add(struct comp_life *l,
                                       const char *bot,
                                       const char *group,
                                       const char *rcpt)
{
    struct life_sent *s;

    if (l->n_sent >= LIFE_SENT_MAX) {
        size_t old = 0;

        for (size_t i = 1; i < l->n_sent; i++)
            if (l->sent[i].updated < l->sent[old].updated)
                old = i;
        life_sent_free(&l->sent[old]);
        l->sent[old] = l->sent[--l->n_sent];
    } else if ((l->n_sent & (l->n_sent - 1)) == 0) { /* 0, 1, 2, 4, ... */
        size_t cap = l->n_sent ? l->n_sent * 2 : 8;
        struct life_sent *ns = realloc(l->sent, cap * sizeof(*ns));

        if (!ns)
            return NULL;
        l->sent = ns;
    }
    s = &l->sent[l->n_sent];
    memset(s, 0, sizeof(*s));
    if (!(s->bot = strdup(bot)) || !(s->group = strdup(group)) ||
        !(s->rcpt = strdup(rcpt))) {
        life_sent_free(s);
        return NULL;
    }
    l->n_sent++;
    return s;
}

static void life_sent_store(struct comp *c, const struct life_sent *s)
{
    struct spool_alert a = {s->bot,  s->group, s->rcpt,   s->first,
                            s->last, s->state, s->firing, s->updated};

    if (c->spool)
        spool_alert_put(c->spool, &a); /* a failure is logged */
}

static struct life_group *
life_group_find(struct comp_life *l, const char *hook, const char *group)
{
    for (size_t i = 0; i < l->n_groups; i++)
        if (strcmp(l->groups[i].group, group) == 0 &&
            strcmp(l->groups[i].hook, hook) == 0)
            return &l->groups[i];
    return NULL;
}

static void life_group_remove(struct comp_life *l, struct life_group *g)
{
    free(g->hook);
    free(g->group);
    *g = l->groups[--l->n_groups];
}

/* Sets the firing count of (hook, group); 0 removes it. 0 or NOMEM. */
static int life_group_set(struct comp_life *l,
                          const char *hook,
                          const char *group,
                          unsigned firing,
                          int64_t now)
{
    struct life_group *g = life_group_find(l, hook, group);

    if (g && firing == 0) {
        life_group_remove(l, g);
        return 0;
    }
    if (!g && firing == 0)
        return 0;
    if (!g) {
        if (l->n_groups >= LIFE_GROUPS_MAX)
            return XMTA_E_FULL;
        if ((l->n_groups & (l->n_groups - 1)) == 0) {
            size_t cap = l->n_groups ? l->n_groups * 2 : 8;
            struct life_group *ng = realloc(l->groups, cap * sizeof(*ng));

            if (!ng)
                return XMTA_E_NOMEM;
            l->groups = ng;
        }
        g = &l->groups[l->n_groups];
        memset(g, 0, sizeof(*g));
        if (!(g->hook = strdup(hook)) || !(g->group = strdup(group))) {
            free(g->hook);
            free(g->group);
            return XMTA_E_NOMEM;
        }
        l->n_groups++;
    }
    g->firing = firing;
    g->updated = now;
    return 0;
}

static int life_seen(const struct comp_life *l, const char *hook)
{
    for (size_t i = 0; i < l->n_seen; i++)
        if (strcmp(l->seen[i], hook) == 0)
            return 1;
    return 0;
}

static void life_seen_add(struct comp_life *l, const char *hook)
{
    char **ns;

    if (life_seen(l, hook) || l->n_seen >= 4096 ||
        !(ns = realloc(l->seen, (l->n_seen + 1) * sizeof(*ns))))
        return;
    l->seen = ns;
    if ((ns[l->n_seen] = strdup(hook)))
        l->n_seen++;
}

static struct life_beat *life_beat_find(struct comp_life *l, const char *hook)
{
    for (size_t i = 0; hook && i < l->n_beats; i++)
        if (strcmp(l->beats[i].hook, hook) == 0)
            return &l->beats[i];
    return NULL;
}

/* ---- the status board --------------------------------------------------- */

int comp_life_status(const struct comp *c,
                     const char *bot,
                     const char **show,
                     char *status,
                     size_t size)
{
    const struct comp_life *l = c->life;
    unsigned long firing = 0;
    time_t since = 0;
    int board = 0, missing = 0;

    *show = NULL;
    if (!l)
        return 0;
    for (size_t i = 0; i < c->cfg->n_hooks; i++) {
        const struct conf_hook *hk = &c->cfg->hooks[i];
        const struct life_beat *b = life_beat_find(c->life, hk->name);

        if (strcmp(life_bot_of(hk), bot) != 0)
            continue;
        if (hk->heartbeat || hk->on_resolve_correct || life_seen(l, hk->name) ||
            (hk->format && (strcmp(hk->format, "alertmanager") == 0 ||
                            strcmp(hk->format, "grafana") == 0)))
            board = 1;
        if (b && b->missing && (!missing || life_secs(b->last_ms) < since)) {
            missing = 1;
            since = life_secs(b->last_ms);
        }
        for (size_t j = 0; j < l->n_groups; j++)
            if (strcmp(l->groups[j].hook, hk->name) == 0)
                firing += l->groups[j].firing;
    }
    if (missing) {
        char hhmm[8];

        life_hhmm(since, hhmm);
        *show = "xa";
        snprintf(status, size, "no heartbeat since %s", hhmm);
    } else if (firing) {
        *show = "dnd";
        snprintf(status, size, "%lu firing", firing);
    } else if (board) {
        snprintf(status, size, "all clear");
    }
    return board || missing || firing;
}

int comp_life_presence_add(const struct comp *c,
                           const char *bot,
                           struct xml_node *p)
{
    const char *show;
    char status[128];
    struct xml_node *n;

    if (!comp_life_status(c, bot, &show, status, sizeof(status)))
        return 0;
    if (show && (!(n = xml_node_add_child(p, "show", NULL)) ||
                 xml_node_add_text(n, show, strlen(show)) != 0))
        return XMTA_E_NOMEM;
    if (!(n = xml_node_add_child(p, "status", NULL)) ||
        xml_node_add_text(n, status, strlen(status)) != 0)
        return XMTA_E_NOMEM;
    return 0;
}

/* Sends the presence of bot again when its status differs from before. */
static void life_board_changed(struct comp *c,
                               const char *bot,
                               const char *old_show,
                               const char *old_status)
{
    const char *show;
    char status[128];

    if (!comp_life_status(c, bot, &show, status, sizeof(status)))
        status[0] = '\0';
    if ((old_show == show ||
         (old_show && show && strcmp(old_show, show) == 0)) &&
        strcmp(old_status, status) == 0)
        return;
    c->life->board_updates++;
    xlog_info("life", "bot %s: %s%s%s", bot, show ? show : "available",
              status[0] ? ": " : "", status);
    comp_bots_presence_update(c, bot);
}

/* ---- heartbeat ---------------------------------------------------------- */

static int life_uuid(char out[MSG_ID_LEN + 1])
{
    unsigned char b[16];

    if (RAND_bytes(b, sizeof(b)) != 1)
        return XMTA_E_IO;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, MSG_ID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x"
             "%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
             b[11], b[12], b[13], b[14], b[15]);
    return 0;
}

/* A notice of the lifecycle (heartbeat lost or back) to the recipients of
 * hook hk, through the outbox like a webhook's message. */
static void
life_notice(struct comp *c, const struct conf_hook *hk, const char *text)
{
    struct msg *m = msg_new();
    int rc = XMTA_E_NOMEM;

    if (!m || life_uuid(m->id) != 0 || !(m->hook = strdup(hk->name)) ||
        !(m->from = strdup(life_bot_of(hk))) ||
        (hk->nick && !(m->nick = strdup(hk->nick))) ||
        !(m->body = strdup(text)))
        goto out;
    m->type = hk->type;
    for (size_t i = 0; i < hk->n_to; i++)
        if (msg_add_to(m, hk->to[i]) != 0)
            goto out;
    for (size_t i = 0; i < hk->n_rooms; i++)
        if (msg_add_room(m, hk->rooms[i]) != 0)
            goto out;
    if (m->n_to + m->n_rooms == 0) {
        rc = 0; /* no default recipients: the presence tells */
        goto out;
    }
    c->life->internal = 1;
    rc = comp_submit(c, m); /* takes m */
    c->life->internal = 0;
    m = NULL;
out:
    msg_free(m);
    if (rc != 0)
        xlog_warn("life", "hook=%s: heartbeat notice not queued: %s", hk->name,
                  xmta_strerror(rc));
}

/* The heartbeat's state into the spool (nothing in memory mode). */
static void life_beat_store(struct comp *c, const struct life_beat *b)
{
    struct spool_beat sb = {b->hook, b->last_ms, b->missing};

    if (c->spool)
        spool_beat_put(c->spool, &sb); /* a failure is logged */
}

/* Arms the timer for one period after b->last_ms (at once when that is
 * past; at most a period from now when the clock went back). */
static void life_beat_arm(struct life_beat *b, int64_t now_ms)
{
    int64_t period_ms = (int64_t)b->period * 1000;
    int64_t left = b->last_ms + period_ms - now_ms;

    if (left < 0)
        left = 0;
    if (left > period_ms)
        left = period_ms;
    comp_timer_arm(b->timer, (unsigned)left);
}

static void life_on_beat_timer(evutil_socket_t fd, short what, void *arg)
{
    struct life_beat *b = arg;
    struct comp *c = b->c;
    const struct conf_hook *hk = life_hook(c, b->hook);
    const char *old_show;
    char old_status[128], hhmm[8], text[512];
    int64_t now = life_wall_ms();

    (void)fd;
    (void)what;
    if (!hk || b->missing)
        return;
    if (comp_standby(c)) {
        /* A standby (HA) gets no webhooks: the active instance watches.
         * The period starts over while it stands by, so that after a
         * takeover a whole one passes. */
        b->last_ms = now;
        comp_timer_arm(b->timer, LIFE_BEAT_WAIT_MS);
        return;
    }
    if (c->counters.ready == 0) {
        /* Overdue before the stream was ever up (a silence carried over
         * a restart): only the server tells a standby that it is one,
         * and a standby must not report, nor queue a notice for after a
         * takeover. Asked again until the stream is up or standby. */
        comp_timer_arm(b->timer, LIFE_BEAT_WAIT_MS);
        return;
    }
    if (now - b->last_ms < (int64_t)b->period * 1000) {
        life_beat_arm(b, now); /* not due: a standby's period restarted */
        return;
    }
    if (!comp_life_status(c, life_bot_of(hk), &old_show, old_status,
                          sizeof(old_status)))
        old_status[0] = '\0';
    b->missing = 1;
    b->missed++;
    life_beat_store(c, b);
    life_hhmm(life_secs(b->last_ms), hhmm);
    xlog_warn("life", "hook=%s: no heartbeat since %s (every %us expected)",
              hk->name, hhmm, b->period);
    snprintf(text, sizeof(text),
             "\xe2\x9a\xa0\xef\xb8\x8f *No heartbeat* from %s since %s "
             "(expected every %us): the monitoring may be down.",
             hk->name, hhmm, b->period);
    life_notice(c, hk, text);
    life_board_changed(c, life_bot_of(hk), old_show, old_status);
}

/* A webhook for a heartbeat hook arrived. */
static void
life_beat_seen(struct comp *c, struct life_beat *b, const struct conf_hook *hk)
{
    int64_t now = life_wall_ms();

    b->received++;
    if (b->missing) {
        const char *old_show;
        char old_status[128], hhmm[8], text[512];

        if (!comp_life_status(c, life_bot_of(hk), &old_show, old_status,
                              sizeof(old_status)))
            old_status[0] = '\0';
        b->missing = 0;
        life_hhmm(life_secs(b->last_ms), hhmm);
        xlog_info("life", "hook=%s: heartbeat back (missing since %s)",
                  hk->name, hhmm);
        snprintf(text, sizeof(text),
                 "\xe2\x9c\x85 *Heartbeat back* from %s (missing since %s).",
                 hk->name, hhmm);
        life_notice(c, hk, text);
        b->last_ms = now;
        life_board_changed(c, life_bot_of(hk), old_show, old_status);
    }
    b->last_ms = now;
    life_beat_store(c, b);
    comp_timer_arm(b->timer, b->period * 1000u);
}

static void life_beat_array_free(struct life_beat *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i].timer)
            event_free(a[i].timer);
        free(a[i].hook);
    }
    free(a);
}

static void life_beats_free(struct comp_life *l)
{
    life_beat_array_free(l->beats, l->n_beats);
    l->beats = NULL;
    l->n_beats = 0;
}

/* One timer per hook with heartbeat =; state carried over from old by
 * hook name: the beats before a reload, or at the start those the spool
 * held (their counters 0). A hook new to the watch starts now, and that
 * is stored; the spool's rows of hooks no longer watched are deleted.
 * 0 or XMTA_E_NOMEM. */
static int
life_beats_build(struct comp *c, const struct life_beat *old, size_t n_old)
{
    struct comp_life *l = c->life;
    int64_t now = life_wall_ms();
    size_t n = 0;

    for (size_t i = 0; i < c->cfg->n_hooks; i++)
        n += c->cfg->hooks[i].heartbeat != 0;
    if (n && !(l->beats = calloc(n, sizeof(*l->beats))))
        return XMTA_E_NOMEM;
    for (size_t i = 0; i < c->cfg->n_hooks; i++) {
        const struct conf_hook *hk = &c->cfg->hooks[i];
        struct life_beat *b;
        int found = 0;

        if (!hk->heartbeat)
            continue;
        b = &l->beats[l->n_beats]; /* not before: beats is NULL with none */
        b->c = c;
        b->period = hk->heartbeat;
        b->last_ms = now; /* new: a whole period from now */
        if (!(b->hook = strdup(hk->name)) ||
            !(b->timer = evtimer_new(c->base, life_on_beat_timer, b))) {
            free(b->hook);
            b->hook = NULL;
            return XMTA_E_NOMEM;
        }
        l->n_beats++;
        for (size_t j = 0; j < n_old; j++)
            if (strcmp(old[j].hook, hk->name) == 0) {
                b->last_ms = old[j].last_ms;
                b->missing = old[j].missing;
                b->received = old[j].received;
                b->missed = old[j].missed;
                found = 1;
            }
        if (!found)
            life_beat_store(c, b);
        if (b->missing)
            continue; /* the next webhook brings it back */
        life_beat_arm(b, now);
    }
    for (size_t j = 0; c->spool && j < n_old; j++)
        if (!life_beat_find(l, old[j].hook))
            spool_beat_delete(c->spool, old[j].hook); /* logged */
    return 0;
}

/* The spool's heartbeat rows, collected for life_beats_build(). */
struct life_beat_rows {
    struct life_beat *a;
    size_t n;
};

static int life_load_beat(void *arg, const struct spool_beat *sb)
{
    struct life_beat_rows *rows = arg;
    struct life_beat *na;

    if (rows->n >= 4096)
        return 0;
    if (!(na = realloc(rows->a, (rows->n + 1) * sizeof(*na))))
        return XMTA_E_NOMEM;
    rows->a = na;
    memset(&na[rows->n], 0, sizeof(*na));
    if (!(na[rows->n].hook = strdup(sb->hook)))
        return XMTA_E_NOMEM;
    na[rows->n].last_ms = sb->last_ms;
    na[rows->n].missing = sb->missing;
    rows->n++;
    return 0;
}

/* ---- submit: counts, heartbeats ----------------------------------------- */

int comp_life_on_submit(struct comp *c, const struct msg *m)
{
    struct comp_life *l = c->life;
    const struct conf_hook *hk;
    struct life_beat *b;

    if (!l || l->internal || !(hk = life_hook(c, m->hook)))
        return 0;
    if ((b = life_beat_find(l, hk->name))) {
        life_beat_seen(c, b, hk);
        /* The webhooks of a dead man's switch (Watchdog: always firing)
         * are not alerts: not counted, and not sent unless asked. */
        return hk->heartbeat_forward ? 0 : 1;
    }
    if (m->group && m->alert != MSG_ALERT_NONE) {
        const char *old_show;
        char old_status[128];
        unsigned firing = m->alert == MSG_ALERT_FIRING ? m->firing : 0;
        int64_t now = (int64_t)time(NULL);
        struct spool_group g = {hk->name, m->group, firing, now};

        if (!comp_life_status(c, life_bot_of(hk), &old_show, old_status,
                              sizeof(old_status)))
            old_status[0] = '\0';
        life_seen_add(l, hk->name);
        if (life_group_set(l, hk->name, m->group, firing, now) == 0 && c->spool)
            spool_group_put(c->spool, &g);
        life_board_changed(c, life_bot_of(hk), old_show, old_status);
    }
    return 0;
}

/* ---- the drain: corrections --------------------------------------------- */

static int life_prepare(struct comp *c,
                        const struct msg *m,
                        const char *to,
                        char resource[COMP_LIFE_RESOURCE_LEN],
                        char replace[MSG_ID_LEN + 1])
{
    struct comp_life *l = c->life;
    const struct conf_hook *hk;
    struct life_sent *s;
    int64_t now = (int64_t)time(NULL);
    int correct = 0;

    resource[0] = replace[0] = '\0';
    if (!l || !m->group || m->alert == MSG_ALERT_NONE ||
        !(hk = life_hook(c, m->hook)) || !hk->on_resolve_correct)
        return 0;
    comp_life_resource(m->group, resource);
    s = life_sent_find(l, m->from, m->group, to);
    if (s && strcmp(s->first, m->id) == 0)
        return 1; /* the first message itself, sent again */
    if (s && now - s->updated > LIFE_MAX_AGE) {
        correct = 0; /* too old to correct: a new message */
    } else if (s && strcmp(s->last, m->id) == 0) {
        correct = 1; /* this correction, sent again */
    } else if (s && s->state == MSG_ALERT_FIRING) {
        /* Resolved, or still firing without new alerts: the message of
         * the series is brought up to date. More alerts firing than it
         * shows: a new message (it notifies), which starts a series. */
        correct = m->alert == MSG_ALERT_RESOLVED || m->firing <= s->firing;
    } else if (s) {
        /* The series was resolved: firing again is a new incident (a new
         * message); resolved again refreshes the same text. */
        correct = m->alert == MSG_ALERT_RESOLVED;
    }
    if (!s && m->alert == MSG_ALERT_RESOLVED)
        return 1; /* nothing of it was sent here: a new message */
    if (!s && !(s = life_sent_add(l, m->from, m->group, to)))
        return 1; /* out of memory: a new message, not remembered */
    if (correct) {
        memcpy(replace, s->first, sizeof(s->first));
    } else {
        memcpy(s->first, m->id, sizeof(s->first));
        s->firing = 0;
    }
    memcpy(s->last, m->id, sizeof(s->last));
    s->state = m->alert;
    if (m->alert == MSG_ALERT_FIRING && (!correct || m->firing > s->firing))
        s->firing = m->firing;
    s->updated = now;
    life_sent_store(c, s);
    return 1;
}

/* Counted here like xmta_messages_delivered_total: a delivery written
 * again after a reconnect counts again. */
int comp_life_prepare(struct comp *c,
                      const struct msg *m,
                      const char *to,
                      char resource[COMP_LIFE_RESOURCE_LEN],
                      char replace[MSG_ID_LEN + 1])
{
    int rc = life_prepare(c, m, to, resource, replace);

    if (rc && replace[0])
        c->life->corrections++;
    else if (rc && m->alert == MSG_ALERT_RESOLVED)
        c->life->resolved_new++;
    return rc;
}

/* ---- /metrics ----------------------------------------------------------- */

void comp_life_stats(const struct comp *c, struct comp_life_stats *st)
{
    const struct comp_life *l = c ? c->life : NULL;

    memset(st, 0, sizeof(*st));
    if (!l)
        return;
    st->groups = l->n_groups;
    for (size_t i = 0; i < l->n_groups; i++)
        st->firing += l->groups[i].firing;
    st->series = l->n_sent;
    st->corrections = l->corrections;
    st->resolved_new = l->resolved_new;
    st->board_updates = l->board_updates;
}

int comp_heartbeat_stat(const struct comp *c,
                        size_t i,
                        struct comp_heartbeat_stat *out)
{
    const struct comp_life *l = c ? c->life : NULL;
    const struct life_beat *b;

    if (!l || i >= l->n_beats)
        return 0;
    b = &l->beats[i];
    out->hook = b->hook;
    out->ok = !b->missing;
    out->received = b->received;
    out->missed = b->missed;
    return 1;
}

/* ---- set-up, expiry ----------------------------------------------------- */

static int life_load_sent(void *arg, const struct spool_alert *a)
{
    struct comp_life *l = arg;
    struct life_sent *s;

    if (strlen(a->first_id) > MSG_ID_LEN || strlen(a->last_id) > MSG_ID_LEN)
        return 0;
    if (!(s = life_sent_find(l, a->bot, a->group, a->rcpt)) &&
        !(s = life_sent_add(l, a->bot, a->group, a->rcpt)))
        return XMTA_E_NOMEM;
    memcpy(s->first, a->first_id, strlen(a->first_id) + 1);
    memcpy(s->last, a->last_id, strlen(a->last_id) + 1);
    s->state = a->state;
    s->firing = a->firing;
    s->updated = a->updated;
    return 0;
}

static int life_load_group(void *arg, const struct spool_group *g)
{
    struct comp_life *l = arg;

    if (life_group_set(l, g->hook, g->group, g->firing, g->updated) ==
        XMTA_E_NOMEM)
        return XMTA_E_NOMEM;
    life_seen_add(l, g->hook);
    return 0;
}

static void life_expire(struct comp *c)
{
    struct comp_life *l = c->life;
    int64_t before = (int64_t)time(NULL) - LIFE_MAX_AGE;

    for (size_t i = 0; i < l->n_sent;) {
        if (l->sent[i].updated < before) {
            life_sent_free(&l->sent[i]);
            l->sent[i] = l->sent[--l->n_sent];
        } else {
            i++;
        }
    }
    for (size_t i = 0; i < l->n_groups;) {
        if (l->groups[i].updated < before)
            life_group_remove(l, &l->groups[i]);
        else
            i++;
    }
    if (c->spool)
        spool_life_expire(c->spool, before);
}

static void life_on_sweep(evutil_socket_t fd, short what, void *arg)
{
    struct comp *c = arg;

    (void)fd;
    (void)what;
    life_expire(c);
    comp_timer_arm(c->life->sweep, LIFE_SWEEP_MS);
}

int comp_life_init(struct comp *c)
{
    struct comp_life *l = calloc(1, sizeof(*l));
    struct life_beat_rows rows = {NULL, 0};
    int rc;

    if (!l)
        return XMTA_E_NOMEM;
    c->life = l;
    if (!(l->sweep = evtimer_new(c->base, life_on_sweep, c)))
        return XMTA_E_NOMEM;
    if (c->spool && spool_life_load(c->spool, life_load_sent, life_load_group,
                                    l) == XMTA_E_NOMEM)
        return XMTA_E_NOMEM;
    if (l->n_sent || l->n_groups)
        xlog_info("life", "%zu alert series and %zu firing group(s) recovered",
                  l->n_sent, l->n_groups);
    life_expire(c);
    comp_timer_arm(l->sweep, LIFE_SWEEP_MS);
    if (c->spool &&
        spool_beat_load(c->spool, life_load_beat, &rows) == XMTA_E_NOMEM) {
        life_beat_array_free(rows.a, rows.n);
        return XMTA_E_NOMEM;
    }
    rc = life_beats_build(c, rows.a, rows.n);
    for (size_t i = 0; i < l->n_beats; i++)
        for (size_t j = 0; j < rows.n; j++)
            if (strcmp(rows.a[j].hook, l->beats[i].hook) == 0) {
                char hhmm[8];

                life_hhmm(life_secs(l->beats[i].last_ms), hhmm);
                xlog_info("life", "hook=%s: heartbeat %s since %s (spool)",
                          l->beats[i].hook,
                          l->beats[i].missing ? "missing" : "seen", hhmm);
            }
    life_beat_array_free(rows.a, rows.n);
    return rc;
}

void comp_life_reload(struct comp *c)
{
    struct comp_life *l = c->life;
    struct comp_life old = {0};

    if (!l)
        return;
    old.beats = l->beats;
    old.n_beats = l->n_beats;
    for (size_t i = 0; i < old.n_beats; i++)
        if (old.beats[i].timer)
            evtimer_del(old.beats[i].timer);
    l->beats = NULL;
    l->n_beats = 0;
    if (life_beats_build(c, old.beats, old.n_beats) != 0)
        xlog_error("life", "reload: out of memory building heartbeats");
    life_beats_free(&old);
    /* A heartbeat dropped while missing, a hook moved to another bot:
     * every bot's presence again (once per bot; SIGHUP is rare). */
    for (size_t i = 0; i < c->cfg->n_hooks; i++) {
        const char *bot = life_bot_of(&c->cfg->hooks[i]);
        size_t j = 0;

        while (j < i && strcmp(life_bot_of(&c->cfg->hooks[j]), bot) != 0)
            j++;
        if (j == i)
            comp_bots_presence_update(c, bot);
    }
}

void comp_life_free(struct comp *c)
{
    struct comp_life *l = c ? c->life : NULL;

    if (!l)
        return;
    life_beats_free(l);
    for (size_t i = 0; i < l->n_sent; i++)
        life_sent_free(&l->sent[i]);
    free(l->sent);
    for (size_t i = 0; i < l->n_groups; i++) {
        free(l->groups[i].hook);
        free(l->groups[i].group);
    }
    free(l->groups);
    for (size_t i = 0; i < l->n_seen; i++)
        free(l->seen[i]);
    free(l->seen);
    if (l->sweep)
        event_free(l->sweep);
    free(l);
    c->life = NULL;
}
