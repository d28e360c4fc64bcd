/* SPDX-License-Identifier: MIT */
/* bots.c -- the bots as XMPP entities: disco#info/#items, ping, version and
 * vCard answers on the domain and the bot JIDs, presence subscriptions and
 * probes (persisted in the spool directory), presence after every
 * handshake and on shutdown, and a short help reply to chat messages
 * (PROTOCOL.md 5). Nothing here ever answers an error or a result. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "component/internal.h"
#include "conf/conf.h"
#include "xml/err.h"
#include "xml/jid.h"
#include "xml/log.h"
#include "xml/xml.h"

#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_VERSION "jabber:iq:version"
#define NS_VCARD "vcard-temp"
#define NS_VCARD_UPDATE "vcard-temp:x:update"
#define NS_NICK "http://jabber.org/protocol/nick"
#define NS_TIME "urn:xmpp:time"

#define BOTS_SUBS_FILE "subscribers"
#define BOTS_HELP_RING 64      /* senders remembered for the help limit */
#define BOTS_HELP_EVERY_S 60   /* one help reply per sender this often */
#define BOTS_ONE_LINE_MAX 3300 /* a line of the subscribers file */

/* One bot JID: the hooks that send from it share it. */
struct comp_bot {
    char *local;                    /* localpart */
    char *nick;                     /* nick of its first hook */
    const struct conf_hook **hooks; /* borrowed from the conf */
    size_t n_hooks;
    char *photo_b64;        /* avatar in base64, or NULL */
    const char *photo_type; /* its MIME type */
    char photo_sha1[41];    /* XEP-0153 hash of the raw bytes */
};

/* A user subscribed to a bot's presence. */
struct comp_sub {
    struct comp_bot *bot;
    char *jid; /* bare JID of the user */
};

struct comp_help_seen {
    char jid[256];
    time_t at;
};

struct comp_bots {
    struct comp_bot *bots;
    size_t n_bots;
    struct comp_sub *subs;
    size_t n_subs;
    char *subs_path; /* NULL: subscriptions in memory only */
    struct comp_help_seen seen[BOTS_HELP_RING];
    size_t seen_next;
    unsigned long seq; /* ids of our help replies */
};

/* ---- helpers ------------------------------------------------------------ */

static int bots_is(const struct xml_node *n, const char *name, const char *ns)
{
    const char *nns = n ? xml_node_ns(n) : NULL;

    return nns && strcmp(xml_node_name(n), name) == 0 && strcmp(nns, ns) == 0;
}

/* The bot a JID names (bot@domain or bot@domain/anything), or NULL. The
 * domain is known to be ours. */
static struct comp_bot *bots_find(const struct comp *c, const char *jid)
{
    const struct comp_bots *b = c->bots;
    const char *at = jid ? strchr(jid, '@') : NULL;
    const char *slash = jid ? strchr(jid, '/') : NULL;

    if (!b || !at || (slash && slash < at))
        return NULL;
    for (size_t i = 0; i < b->n_bots; i++)
        if (strlen(b->bots[i].local) == (size_t)(at - jid) &&
            strncasecmp(b->bots[i].local, jid, (size_t)(at - jid)) == 0)
            return &b->bots[i];
    return NULL;
}

/* 1 when jid is exactly our domain, with or without a resource. */
static int bots_is_domain(const struct comp *c, const char *jid)
{
    size_t n = strlen(c->cfg->domain);

    return jid && !strchr(jid, '@') &&
           strncasecmp(jid, c->cfg->domain, n) == 0 &&
           (jid[n] == '\0' || jid[n] == '/');
}

/* The normalized bare form of jid into out; 0 or XMTA_E_INVAL. */
static int bots_bare(const char *jid, char *out, size_t size)
{
    struct jid *j = malloc(sizeof(*j));
    int rc = XMTA_E_INVAL;

    if (!j)
        return XMTA_E_NOMEM;
    if (jid && jid_parse(jid, j, NULL) == 0 && j->local[0] &&
        jid_bare(j, out, size) == 0)
        rc = 0;
    free(j);
    return rc;
}

static void bots_self(const struct comp *c,
                      const struct comp_bot *bot,
                      char *buf,
                      size_t size,
                      int full)
{
    snprintf(buf, size, "%s@%s%s", bot->local, c->cfg->domain,
             full ? "/" COMP_RESOURCE : "");
}

static int bots_send(struct comp *c, struct xml_node *n)
{
    int rc = n ? comp_send_node(c, n) : XMTA_E_NOMEM;

    if (rc != 0)
        xlog_warn("bots", "cannot send a stanza: %s", xmta_strerror(rc));
    xml_node_free(n);
    return rc;
}

static int bots_text_child(struct xml_node *parent,
                           const char *name,
                           const char *ns,
                           const char *text)
{
    struct xml_node *k = xml_node_add_child(parent, name, ns);

    return k && xml_node_add_text(k, text, strlen(text)) == 0 ? 0
                                                              : XMTA_E_NOMEM;
}

/* 1 when jid is one of our rooms or an occupant of one. */
static int bots_from_room(const struct comp *c, const char *jid)
{
    const char *slash = jid ? strchr(jid, '/') : NULL;
    size_t n = jid ? (slash ? (size_t)(slash - jid) : strlen(jid)) : 0;

    for (size_t i = 0; jid && i < c->n_rooms; i++)
        if (strlen(c->rooms[i]->jid) == n &&
            strncasecmp(c->rooms[i]->jid, jid, n) == 0)
            return 1;
    return 0;
}

/* ---- the avatar --------------------------------------------------------- */

/* Reads the avatar file (already checked by conf/) into base64 and its
 * SHA-1; on any failure the bot simply has no avatar (logged). */
static void bots_load_avatar(struct comp_bot *bot, const struct conf_hook *hk)
{
    unsigned char *raw = NULL, md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    FILE *f = NULL;
    size_t n = 0;

    if (!hk->avatar)
        return;
    errno = 0;
    if (!(raw = malloc(CONF_AVATAR_MAX + 1)) || !(f = fopen(hk->avatar, "rb")))
        goto fail;
    n = fread(raw, 1, CONF_AVATAR_MAX + 1, f);
    if (n == 0 || n > CONF_AVATAR_MAX || ferror(f))
        goto fail;
    if (!(bot->photo_b64 = malloc(4 * ((n + 2) / 3) + 1)))
        goto fail;
    EVP_EncodeBlock((unsigned char *)bot->photo_b64, raw, (int)n);
    if (EVP_Digest(raw, n, md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20)
        goto fail;
    for (unsigned i = 0; i < 20; i++)
        snprintf(bot->photo_sha1 + 2 * i, 3, "%02x", md[i]);
    bot->photo_type = hk->avatar_type;
    xlog_info("bots", "%s: avatar %s (%zu bytes, sha1 %s)", bot->local,
              hk->avatar, n, bot->photo_sha1);
    goto out;
fail:
    xlog_warn("bots", "%s: cannot use avatar %s (%s): going without",
              bot->local, hk->avatar,
              n > CONF_AVATAR_MAX ? "too big"
              : errno             ? strerror(errno)
                                  : "read error");
    free(bot->photo_b64);
    bot->photo_b64 = NULL;
    bot->photo_sha1[0] = '\0';
out:
    if (f)
        fclose(f);
    free(raw);
}

/* ---- the subscription store --------------------------------------------- */

static struct comp_sub *bots_sub_find(const struct comp_bots *b,
                                      const struct comp_bot *bot,
                                      const char *jid)
{
    for (size_t i = 0; i < b->n_subs; i++)
        if (b->subs[i].bot == bot && strcmp(b->subs[i].jid, jid) == 0)
            return &b->subs[i];
    return NULL;
}

/* Writes the store: temp file, fsync, rename, fsync of the directory, so
 * that a crash leaves the old or the new file, never half of one. */
static void bots_subs_save(const struct comp *c)
{
    const struct comp_bots *b = c->bots;
    char *tmp = NULL, *dir = NULL, *slash;
    FILE *f = NULL;
    int fd = -1, ok = 0;
    size_t len;

    if (!b->subs_path)
        return;
    len = strlen(b->subs_path) + 8;
    if (!(tmp = malloc(len)) || !(dir = strdup(b->subs_path)))
        goto out;
    snprintf(tmp, len, "%s.tmp", b->subs_path);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
        !(f = fdopen(fd, "w")))
        goto out;
    fd = -1; /* owned by f now */
    fputs("# xmta presence subscriptions: BOT<TAB>USER (bare JIDs)\n", f);
    for (size_t i = 0; i < b->n_subs; i++)
        fprintf(f, "%s\t%s\n", b->subs[i].bot->local, b->subs[i].jid);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        goto out;
    if (fclose(f) != 0) {
        f = NULL;
        goto out;
    }
    f = NULL;
    if (rename(tmp, b->subs_path) != 0)
        goto out;
    if ((slash = strrchr(dir, '/')))
        *(slash == dir ? slash + 1 : slash) = '\0';
    else
        strcpy(dir, ".");
    if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0)
        fsync(fd);
    ok = 1;
out:
    if (!ok)
        xlog_error("bots", "cannot save %s: %s", b->subs_path,
                   errno ? strerror(errno) : "out of memory");
    if (f)
        fclose(f);
    if (fd >= 0)
        close(fd);
    if (!ok && tmp)
        unlink(tmp);
    free(tmp);
    free(dir);
}

static int
bots_sub_add(struct comp_bots *b, struct comp_bot *bot, const char *jid)
{
    struct comp_sub *v;
    char *dup;

    if (bots_sub_find(b, bot, jid))
        return 0;
    if (b->n_subs >= COMP_SUBS_MAX) {
        xlog_warn("bots", "%s: subscription from %s refused: %d already",
                  bot->local, jid, COMP_SUBS_MAX);
        return XMTA_E_LIMIT;
    }
    if (!(dup = strdup(jid)) ||
        !(v = realloc(b->subs, (b->n_subs + 1) * sizeof(*v)))) {
        free(dup);
        return XMTA_E_NOMEM;
    }
    b->subs = v;
    b->subs[b->n_subs].bot = bot;
    b->subs[b->n_subs].jid = dup;
    b->n_subs++;
    return 1;
}

static void bots_sub_remove(struct comp_bots *b, struct comp_sub *s)
{
    size_t i = (size_t)(s - b->subs);

    free(s->jid);
    memmove(&b->subs[i], &b->subs[i + 1], (b->n_subs - i - 1) * sizeof(*s));
    b->n_subs--;
}

/* Loads the store; lines for bots no longer configured or with a bad JID
 * are dropped (and the file rewritten). */
static void bots_subs_load(struct comp *c)
{
    struct comp_bots *b = c->bots;
    char line[BOTS_ONE_LINE_MAX], bare[COMP_JID_MAX];
    FILE *f;
    int lineno = 0, dropped = 0;

    if (!b->subs_path)
        return;
    if (!(f = fopen(b->subs_path, "r"))) {
        if (errno != ENOENT)
            xlog_error("bots", "cannot read %s: %s", b->subs_path,
                       strerror(errno));
        return;
    }
    while (fgets(line, sizeof(line), f)) {
        char *tab, *nl = strchr(line, '\n'),
                   jid[BOTS_ONE_LINE_MAX + JID_PART_MAX + 2];
        struct comp_bot *bot;

        lineno++;
        if (nl)
            *nl = '\0';
        if (!line[0] || line[0] == '#')
            continue;
        tab = strchr(line, '\t');
        if (tab)
            *tab = '\0';
        snprintf(jid, sizeof(jid), "%s@%s", line, c->cfg->domain);
        bot = tab ? bots_find(c, jid) : NULL;
        if (!bot || bots_bare(tab + 1, bare, sizeof(bare)) != 0 ||
            bots_sub_add(b, bot, bare) < 0) {
            dropped++;
            continue;
        }
    }
    fclose(f);
    xlog_info("bots", "%zu presence subscription(s) loaded from %s", b->n_subs,
              b->subs_path);
    if (dropped) {
        xlog_warn("bots", "%s: %d line(s) dropped (unknown bot or bad JID)",
                  b->subs_path, dropped);
        bots_subs_save(c);
    }
}

/* ---- init and free ------------------------------------------------------ */

static struct comp_bot *bots_add(struct comp_bots *b,
                                 const struct conf_hook *hk)
{
    const char *local = hk->from ? hk->from : hk->name;
    struct comp_bot *bot = NULL, *v;
    const struct conf_hook **hv;

    for (size_t i = 0; i < b->n_bots; i++)
        if (strcasecmp(b->bots[i].local, local) == 0)
            bot = &b->bots[i];
    if (!bot) {
        if (!(v = realloc(b->bots, (b->n_bots + 1) * sizeof(*v))))
            return NULL;
        b->bots = v;
        bot = &b->bots[b->n_bots];
        memset(bot, 0, sizeof(*bot));
        bot->local = strdup(local);
        bot->nick = strdup(hk->nick ? hk->nick : hk->name);
        b->n_bots++;
        if (!bot->local || !bot->nick)
            return NULL;
        bots_load_avatar(bot, hk);
    } else if (!bot->photo_b64) {
        bots_load_avatar(bot, hk);
    }
    if (!(hv = realloc(bot->hooks, (bot->n_hooks + 1) * sizeof(*hv))))
        return NULL;
    bot->hooks = hv;
    bot->hooks[bot->n_hooks++] = hk;
    return bot;
}

int comp_bots_init(struct comp *c)
{
    struct comp_bots *b;

    if (c->bots)
        return 0;
    if (!(b = calloc(1, sizeof(*b))))
        return XMTA_E_NOMEM;
    c->bots = b;
    for (size_t h = 0; h < c->cfg->n_hooks; h++)
        if (!bots_add(b, &c->cfg->hooks[h]))
            return XMTA_E_NOMEM;
    if (c->cfg->spool_path) {
        size_t len = strlen(c->cfg->spool_path) + sizeof(BOTS_SUBS_FILE) + 2;

        if (!(b->subs_path = malloc(len)))
            return XMTA_E_NOMEM;
        snprintf(b->subs_path, len, "%s/%s", c->cfg->spool_path,
                 BOTS_SUBS_FILE);
    }
    bots_subs_load(c);
    return 0;
}

static void bots_free(struct comp_bots *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n_bots; i++) {
        free(b->bots[i].local);
        free(b->bots[i].nick);
        free(b->bots[i].hooks);
        free(b->bots[i].photo_b64);
    }
    for (size_t i = 0; i < b->n_subs; i++)
        free(b->subs[i].jid);
    free(b->bots);
    free(b->subs);
    free(b->subs_path);
    free(b);
}

void comp_bots_free(struct comp *c)
{
    bots_free(c->bots);
    c->bots = NULL;
}

int comp_bots_reload(struct comp *c)
{
    struct comp_bots *old = c->bots;
    int rc;

    c->bots = NULL;
    rc = comp_bots_init(c);
    /* Without a subscribers file they live only here: carried over for
     * the bots that remain (by localpart). */
    for (size_t i = 0; rc == 0 && old && !c->bots->subs_path && i < old->n_subs;
         i++) {
        char jid[COMP_JID_MAX];
        struct comp_bot *bot;

        snprintf(jid, sizeof(jid), "%s@%s", old->subs[i].bot->local,
                 c->cfg->domain);
        if ((bot = bots_find(c, jid)) &&
            bots_sub_add(c->bots, bot, old->subs[i].jid) == XMTA_E_NOMEM)
            rc = XMTA_E_NOMEM;
    }
    bots_free(old);
    return rc;
}

const char *comp_bots_photo(const struct comp *c, const char *local)
{
    const struct comp_bots *b = c ? c->bots : NULL;

    for (size_t i = 0; b && local && i < b->n_bots; i++)
        if (strcasecmp(b->bots[i].local, local) == 0)
            return b->bots[i].photo_b64 ? b->bots[i].photo_sha1 : NULL;
    return NULL;
}

size_t comp_bots_subscribers(const struct comp *c)
{
    return c && c->bots ? c->bots->n_subs : 0;
}

/* ---- presence ----------------------------------------------------------- */

/* The bot's available presence (or unavailable) to one user. */
static int bots_presence(struct comp *c,
                         const struct comp_bot *bot,
                         const char *to,
                         const char *type)
{
    struct xml_node *p = xml_node_new("presence", NULL), *x;
    char from[COMP_JID_MAX], status[512];
    const char *show = NULL;

    bots_self(c, bot, from, sizeof(from), 1);
    if (!p || xml_node_set_attr(p, "from", from) != 0 ||
        xml_node_set_attr(p, "to", to) != 0)
        goto fail;
    if (type) {
        if (xml_node_set_attr(p, "type", type) != 0)
            goto fail;
        return bots_send(c, p);
    }
    if (!comp_life_status(c, bot->local, &show, status, sizeof(status)))
        snprintf(status, sizeof(status), "Sends notifications (webhook %s%s)",
                 bot->hooks[0]->name, bot->n_hooks > 1 ? ", ..." : "");
    if ((show && bots_text_child(p, "show", NULL, show) != 0) ||
        bots_text_child(p, "status", NULL, status) != 0 ||
        bots_text_child(p, "nick", NS_NICK, bot->nick) != 0)
        goto fail;
    if (bot->photo_b64) {
        if (!(x = xml_node_add_child(p, "x", NS_VCARD_UPDATE)) ||
            bots_text_child(x, "photo", NULL, bot->photo_sha1) != 0)
            goto fail;
    }
    return bots_send(c, p);
fail:
    xml_node_free(p);
    return XMTA_E_NOMEM;
}

static int bots_presence_type(struct comp *c,
                              const struct comp_bot *bot,
                              const char *to,
                              const char *type,
                              int with_nick)
{
    struct xml_node *p = xml_node_new("presence", NULL);
    char from[COMP_JID_MAX];

    bots_self(c, bot, from, sizeof(from), 0);
    if (!p || xml_node_set_attr(p, "from", from) != 0 ||
        xml_node_set_attr(p, "to", to) != 0 ||
        xml_node_set_attr(p, "type", type) != 0 ||
        (with_nick && bots_text_child(p, "nick", NS_NICK, bot->nick) != 0)) {
        xml_node_free(p);
        return XMTA_E_NOMEM;
    }
    return bots_send(c, p);
}

void comp_bots_on_ready(struct comp *c)
{
    struct comp_bots *b = c->bots;

    for (size_t i = 0; b && i < b->n_subs; i++)
        bots_presence(c, b->subs[i].bot, b->subs[i].jid, NULL);
    if (b && b->n_subs)
        xlog_info("bots", "available presence sent to %zu subscriber(s)",
                  b->n_subs);
}

/* The status board in a room: a presence update to our occupant JID
 * (no MUC <x/>: not a join), with the avatar hash like the join. */
static void bots_room_presence(struct comp *c, const struct comp_room *r)
{
    struct xml_node *p = xml_node_new("presence", NULL), *x;
    const char *photo = comp_bots_photo(c, r->bot);
    char to[COMP_JID_MAX];

    snprintf(to, sizeof(to), "%s/%s", r->jid, r->real_nick);
    if (!p || xml_node_set_attr(p, "from", r->self) != 0 ||
        xml_node_set_attr(p, "to", to) != 0 ||
        comp_life_presence_add(c, r->bot, p) != 0 ||
        (photo && (!(x = xml_node_add_child(p, "x", NS_VCARD_UPDATE)) ||
                   bots_text_child(x, "photo", NULL, photo) != 0))) {
        xml_node_free(p);
        return;
    }
    bots_send(c, p);
}

void comp_bots_presence_update(struct comp *c, const char *local)
{
    struct comp_bots *b = c->bots;
    const char *show;
    char status[128];

    if (!b || c->state != COMP_READY)
        return;
    for (size_t i = 0; i < b->n_subs; i++)
        if (strcasecmp(b->subs[i].bot->local, local) == 0)
            bots_presence(c, b->subs[i].bot, b->subs[i].jid, NULL);
    if (!comp_life_status(c, local, &show, status, sizeof(status)))
        return;
    for (size_t i = 0; i < c->n_rooms; i++) {
        const struct comp_room *r = c->rooms[i];

        if (r->state == ROOM_JOINED && r->real_nick &&
            strcasecmp(r->bot, local) == 0)
            bots_room_presence(c, r);
    }
}

void comp_bots_leave_all(struct comp *c)
{
    struct comp_bots *b = c->bots;

    if (!b || c->state != COMP_READY)
        return;
    for (size_t i = 0; i < b->n_subs; i++)
        bots_presence(c, b->subs[i].bot, b->subs[i].jid, "unavailable");
}

void comp_bots_on_presence(struct comp *c, const struct xml_node *p)
{
    struct comp_bots *b = c->bots;
    const char *type = xml_node_attr(p, "type");
    const char *from = xml_node_attr(p, "from");
    const char *to = xml_node_attr(p, "to");
    struct comp_bot *bot;
    struct comp_sub *s;
    char user[COMP_JID_MAX];
    int rc;

    if (!b || !type || !from || !comp_jid_is_ours(c, to))
        return; /* available/unavailable: rooms, or users we follow */
    if (strcmp(type, "subscribe") != 0 && strcmp(type, "unsubscribe") != 0 &&
        strcmp(type, "probe") != 0 && strcmp(type, "subscribed") != 0 &&
        strcmp(type, "unsubscribed") != 0)
        return; /* error: never answered */
    if (!(bot = bots_find(c, to)) || comp_jid_is_ours(c, from) ||
        bots_bare(from, user, sizeof(user)) != 0) {
        xlog_debug("bots", "presence %s from %s to %s ignored", type, from, to);
        return;
    }
    s = bots_sub_find(b, bot, user);
    if (strcmp(type, "subscribe") == 0) {
        rc = bots_sub_add(b, bot, user);
        if (rc < 0) {
            bots_presence_type(c, bot, user, "unsubscribed", 0);
            return;
        }
        bots_presence_type(c, bot, user, "subscribed", 0);
        bots_presence(c, bot, user, NULL);
        if (rc == 1) {
            xlog_info("bots", "%s: %s subscribed", bot->local, user);
            bots_subs_save(c);
            /* Ask back, so that the user's client may send receipts and
             * show the bot as a mutual contact. */
            bots_presence_type(c, bot, user, "subscribe", 1);
        }
    } else if (strcmp(type, "unsubscribe") == 0) {
        bots_presence_type(c, bot, user, "unsubscribed", 0);
        bots_presence(c, bot, user, "unavailable");
        if (s) {
            bots_sub_remove(b, s);
            xlog_info("bots", "%s: %s unsubscribed", bot->local, user);
            bots_subs_save(c);
        }
    } else if (strcmp(type, "probe") == 0) {
        /* Servers probe only for users with a subscription to the bot:
         * remember one we did not know (a lost store heals). */
        if (!s && bots_sub_add(b, bot, user) == 1) {
            xlog_info("bots", "%s: %s probed: subscription recorded",
                      bot->local, user);
            bots_subs_save(c);
        }
        bots_presence(c, bot, from, NULL);
    } else {
        xlog_debug("bots", "%s: %s answered our subscription: %s", bot->local,
                   user, type);
    }
}

/* ---- iq ----------------------------------------------------------------- */

static struct xml_node *bots_iq_reply(const struct xml_node *iq,
                                      const char *type)
{
    struct xml_node *r = xml_node_new("iq", NULL);

    if (!r || xml_node_set_attr(r, "type", type) != 0 ||
        xml_node_set_attr(r, "id", xml_node_attr(iq, "id")) != 0 ||
        xml_node_set_attr(r, "from", xml_node_attr(iq, "to")) != 0 ||
        xml_node_set_attr(r, "to", xml_node_attr(iq, "from")) != 0) {
        xml_node_free(r);
        return NULL;
    }
    return r;
}

static struct xml_node *
bots_iq_error(const struct xml_node *iq, const char *etype, const char *cond)
{
    struct xml_node *r = bots_iq_reply(iq, "error"), *e;

    if (r && (!(e = xml_node_add_child(r, "error", NULL)) ||
              xml_node_set_attr(e, "type", etype) != 0 ||
              !xml_node_add_child(e, cond, XMTA_NS_STANZAS_ERR))) {
        xml_node_free(r);
        return NULL;
    }
    return r;
}

static int bots_feature(struct xml_node *q, const char *var)
{
    struct xml_node *f = xml_node_add_child(q, "feature", NULL);

    return f && xml_node_set_attr(f, "var", var) == 0 ? 0 : XMTA_E_NOMEM;
}

/* 1 when one of the bot's hooks takes XEP-0050 commands (commands.c). */
static int bots_has_commands(const struct comp_bot *bot)
{
    for (size_t i = 0; i < bot->n_hooks; i++)
        if (bot->hooks[i]->alertmanager_url)
            return 1;
    return 0;
}

static struct xml_node *bots_disco_info(const struct xml_node *iq,
                                        const struct comp_bot *bot)
{
    struct xml_node *r = bots_iq_reply(iq, "result"), *q, *id;
    int rc = XMTA_E_NOMEM;

    if (!r || !(q = xml_node_add_child(r, "query", NS_DISCO_INFO)) ||
        !(id = xml_node_add_child(q, "identity", NULL)))
        goto out;
    /* Dino files a chat by the first identity: never "conference". */
    if (xml_node_set_attr(id, "category", bot ? "client" : "component") != 0 ||
        xml_node_set_attr(id, "type", bot ? "bot" : "generic") != 0 ||
        xml_node_set_attr(id, "name", bot ? bot->nick : "xmta") != 0 ||
        bots_feature(q, NS_DISCO_INFO) != 0 ||
        (!bot && bots_feature(q, NS_DISCO_ITEMS) != 0) ||
        bots_feature(q, COMP_NS_PING) != 0 ||
        bots_feature(q, NS_VERSION) != 0 || bots_feature(q, NS_TIME) != 0 ||
        (bot && bots_feature(q, NS_VCARD) != 0) ||
        (bot && bots_has_commands(bot) &&
         bots_feature(q, "http://jabber.org/protocol/commands") != 0))
        goto out;
    rc = 0;
out:
    if (rc != 0) {
        xml_node_free(r);
        return NULL;
    }
    return r;
}

static struct xml_node *bots_disco_items(const struct comp *c,
                                         const struct xml_node *iq)
{
    struct xml_node *r = bots_iq_reply(iq, "result"), *q, *it;
    char jid[COMP_JID_MAX];

    if (!r || !(q = xml_node_add_child(r, "query", NS_DISCO_ITEMS)))
        goto fail;
    for (size_t i = 0; i < c->bots->n_bots; i++) {
        const struct comp_bot *bot = &c->bots->bots[i];

        bots_self(c, bot, jid, sizeof(jid), 0);
        if (!(it = xml_node_add_child(q, "item", NULL)) ||
            xml_node_set_attr(it, "jid", jid) != 0 ||
            xml_node_set_attr(it, "name", bot->nick) != 0)
            goto fail;
    }
    return r;
fail:
    xml_node_free(r);
    return NULL;
}

static struct xml_node *bots_version(const struct xml_node *iq)
{
    struct xml_node *r = bots_iq_reply(iq, "result"), *q;

    if (!r || !(q = xml_node_add_child(r, "query", NS_VERSION)) ||
        bots_text_child(q, "name", NULL, "xmta") != 0 ||
        bots_text_child(q, "version", NULL, XMTA_VERSION) != 0) {
        xml_node_free(r);
        return NULL;
    }
    return r;
}

/* XEP-0202: the time in UTC. */
static struct xml_node *bots_time(const struct xml_node *iq)
{
    struct xml_node *r = bots_iq_reply(iq, "result"), *q;
    time_t now = time(NULL);
    struct tm tm;
    char utc[32];

    if (!gmtime_r(&now, &tm) ||
        strftime(utc, sizeof(utc), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        utc[0] = '\0';
    if (!r || !utc[0] || !(q = xml_node_add_child(r, "time", NS_TIME)) ||
        bots_text_child(q, "tzo", NULL, "+00:00") != 0 ||
        bots_text_child(q, "utc", NULL, utc) != 0) {
        xml_node_free(r);
        return NULL;
    }
    return r;
}

static struct xml_node *bots_vcard(const struct xml_node *iq,
                                   const struct comp_bot *bot)
{
    struct xml_node *r = bots_iq_reply(iq, "result"), *v, *ph;

    if (!r || !(v = xml_node_add_child(r, "vCard", NS_VCARD)) ||
        bots_text_child(v, "FN", NULL, bot->nick) != 0 ||
        bots_text_child(v, "NICKNAME", NULL, bot->nick) != 0)
        goto fail;
    if (bot->photo_b64 &&
        (!(ph = xml_node_add_child(v, "PHOTO", NULL)) ||
         bots_text_child(ph, "TYPE", NULL, bot->photo_type) != 0 ||
         bots_text_child(ph, "BINVAL", NULL, bot->photo_b64) != 0))
        goto fail;
    return r;
fail:
    xml_node_free(r);
    return NULL;
}

int comp_bots_on_iq(struct comp *c, const struct xml_node *iq)
{
    const char *type = xml_node_attr(iq, "type");
    const char *to = xml_node_attr(iq, "to");
    const struct xml_node *q = xml_node_first_child(iq);
    struct comp_bot *bot = NULL;
    struct xml_node *r = NULL;
    int get = type && strcmp(type, "get") == 0;
    int domain = bots_is_domain(c, to);

    if (!c->bots || !type || (!get && strcmp(type, "set") != 0))
        return 0; /* results and errors are never answered */
    if (!domain && !(bot = bots_find(c, to))) {
        /* No such entity here (RFC 6121 8.5.1: service-unavailable,
         * which also reveals nothing). */
        r = bots_iq_error(iq, "cancel", "service-unavailable");
    } else if (!q) {
        r = bots_iq_error(iq, "modify", "bad-request");
    } else if (get && bots_is(q, "query", NS_DISCO_INFO)) {
        r = xml_node_attr(q, "node")
                ? bots_iq_error(iq, "cancel", "item-not-found")
                : bots_disco_info(iq, bot);
    } else if (get && domain && bots_is(q, "query", NS_DISCO_ITEMS)) {
        r = xml_node_attr(q, "node")
                ? bots_iq_error(iq, "cancel", "item-not-found")
                : bots_disco_items(c, iq);
    } else if (get && bot && bots_is(q, "query", NS_DISCO_ITEMS)) {
        r = bots_iq_reply(iq, "result");
        if (r && !xml_node_add_child(r, "query", NS_DISCO_ITEMS)) {
            xml_node_free(r);
            r = NULL;
        }
    } else if (get && bots_is(q, "ping", COMP_NS_PING)) {
        r = bots_iq_reply(iq, "result");
    } else if (get && bots_is(q, "time", NS_TIME)) {
        r = bots_time(iq);
    } else if (get && bots_is(q, "query", NS_VERSION)) {
        r = bots_version(iq);
    } else if (get && bot && bots_is(q, "vCard", NS_VCARD)) {
        r = bots_vcard(iq, bot);
    } else {
        r = bots_iq_error(iq, "cancel", "service-unavailable");
    }
    if (!r) {
        xlog_warn("bots", "cannot answer iq from %s: out of memory",
                  xml_node_attr(iq, "from"));
        return 1;
    }
    if (strcmp(xml_node_attr(r, "type"), "error") == 0 &&
        bots_from_room(c, xml_node_attr(iq, "from"))) {
        /* Never an error stanza to a room or an occupant: rooms kick
         * for it (PROTOCOL.md 4.6). */
        xlog_debug("bots", "iq id=%s from room %s not answered",
                   xml_node_attr(iq, "id"), xml_node_attr(iq, "from"));
        xml_node_free(r);
        return 1;
    }
    bots_send(c, r);
    return 1;
}

/* ---- messages ----------------------------------------------------------- */

/* 1 when sender got a help reply less than BOTS_HELP_EVERY_S ago; else
 * records now. Keeps two bots from answering each other forever. */
static int bots_help_limited(struct comp_bots *b, const char *sender)
{
    time_t now = time(NULL);

    for (size_t i = 0; i < BOTS_HELP_RING; i++)
        if (strcmp(b->seen[i].jid, sender) == 0 &&
            now - b->seen[i].at < BOTS_HELP_EVERY_S)
            return 1;
    snprintf(b->seen[b->seen_next].jid, sizeof(b->seen[0].jid), "%s", sender);
    b->seen[b->seen_next].at = now;
    b->seen_next = (b->seen_next + 1) % BOTS_HELP_RING;
    return 0;
}

/* "This is xmta's bot for webhook alerts: it sends ... to alice@..." */
static void bots_help_text(const struct comp_bot *bot, char *buf, size_t size)
{
    size_t len;

    snprintf(buf, size,
             "I am a notification bot (xmta). I send what is posted to the "
             "webhook%s",
             bot->n_hooks > 1 ? "s" : "");
    for (size_t i = 0; i < bot->n_hooks; i++) {
        const struct conf_hook *hk = bot->hooks[i];

        len = strlen(buf);
        snprintf(buf + len, size - len, "%s \"%s\" (to ", i ? ";" : "",
                 hk->name);
        for (size_t k = 0; k < hk->n_to && k < 3; k++) {
            len = strlen(buf);
            snprintf(buf + len, size - len, "%s%s", k ? ", " : "", hk->to[k]);
        }
        for (size_t k = 0; k < hk->n_rooms && k < 3; k++) {
            len = strlen(buf);
            snprintf(buf + len, size - len, "%sroom %s",
                     k || hk->n_to ? ", " : "", hk->rooms[k]);
        }
        if (!hk->n_to && !hk->n_rooms) {
            len = strlen(buf);
            snprintf(buf + len, size - len, "the recipients its caller names");
        }
        len = strlen(buf);
        snprintf(buf + len, size - len, ")");
    }
    len = strlen(buf);
    snprintf(buf + len, size - len,
             ". Messages sent to me are not read by anyone.");
}

void comp_bots_on_message(struct comp *c, const struct xml_node *m)
{
    const char *type = xml_node_attr(m, "type");
    const char *from = xml_node_attr(m, "from");
    const char *to = xml_node_attr(m, "to");
    struct comp_bot *bot;
    struct xml_node *r;
    char self[COMP_JID_MAX], text[2048], bare[COMP_JID_MAX], id[32];

    if (!c->bots || !from || !xml_node_child(m, "body", NULL))
        return; /* chat states, receipts, markers: no body */
    if (type && strcmp(type, "chat") != 0 && strcmp(type, "normal") != 0)
        return; /* groupchat, headline, error: never answered */
    if (!(bot = bots_find(c, to)) || comp_jid_is_ours(c, from))
        return;
    if (bots_bare(from, bare, sizeof(bare)) != 0 || bots_from_room(c, from))
        return; /* a private message from a room occupant */
    if (bots_help_limited(c->bots, from)) {
        xlog_debug("bots", "%s: no help reply to %s (sent one recently)",
                   bot->local, from);
        return;
    }
    bots_help_text(bot, text, sizeof(text));
    bots_self(c, bot, self, sizeof(self), 0);
    snprintf(id, sizeof(id), "help-%lu", ++c->bots->seq);
    r = xml_node_new("message", NULL);
    if (!r || xml_node_set_attr(r, "from", self) != 0 ||
        xml_node_set_attr(r, "id", id) != 0 ||
        xml_node_set_attr(r, "to", from) != 0 ||
        xml_node_set_attr(r, "type", type ? type : "normal") != 0 ||
        bots_text_child(r, "body", NULL, text) != 0) {
        xml_node_free(r);
        return;
    }
    xlog_info("bots", "%s: help reply to %s", bot->local, from);
    bots_send(c, r);
}
