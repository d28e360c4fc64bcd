/* SPDX-License-Identifier: MIT */
/* replies.c -- two-way bots (XMPP to HTTP): a chat message to a bot, or a
 * groupchat message in a joined room that names the bot's nick, is POSTed
 * as signed JSON to its hook's reply_url (component/fetch.c); a 2xx text
 * answer comes back as the bot's reply, a failure as a short "could not
 * deliver". Commands for Alertmanager hooks are tried first
 * (commands.c). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "component/fetch.h"
#include "component/internal.h"
#include "conf/conf.h"
#include "xml/err.h"
#include "xml/jid.h"
#include "xml/log.h"
#include "xml/xml.h"

#define NS_REPLY "urn:xmpp:reply:0"
#define NS_DELAY "urn:xmpp:delay"
#define NS_SID "urn:xmpp:sid:0"
#define REPLIES_ROOM_SIDS 512 /* room messages whose stanza-id is kept */
#define REPLIES_RESPONSE_MAX (16 * 1024)
#define REPLIES_RUNNING 8
#define REPLIES_WAITING 64

/* Where an answer goes: copied, because the transfer outlives the stanza
 * (and possibly the configuration, after a reload). */
struct comp_answer {
    struct comp *c;
    char *hook;
    char *to;   /* the user's full JID, or the room's bare JID */
    char *from; /* the bot's bare JID, or its full JID in the room */
    char type[16];
    size_t max_len; /* bytes of answer text kept */
};

/* ---- answers ------------------------------------------------------------ */

void comp_answer_free(struct comp_answer *a)
{
    if (!a)
        return;
    free(a->hook);
    free(a->to);
    free(a->from);
    free(a);
}

struct comp_answer *comp_answer_new(struct comp *c,
                                    const struct comp_inbound *in)
{
    struct comp_answer *a = calloc(1, sizeof(*a));

    if (!a)
        return NULL;
    a->c = c;
    a->max_len = in->hk->max_message ? in->hk->max_message : 4000;
    snprintf(a->type, sizeof(a->type), "%s", in->room ? "groupchat" : in->type);
    if (!(a->hook = strdup(in->hk->name)) ||
        !(a->to = strdup(in->room ? in->room : in->from)) ||
        !(a->from = strdup(in->self))) {
        comp_answer_free(a);
        return NULL;
    }
    return a;
}

/* Sends text (any bytes: cleaned to valid XML text, cut at max_len on a
 * character boundary) as the bot's message. 0 or a negative XMTA_E_*. */
int comp_answer_send(struct comp_answer *a, const char *text, size_t len)
{
    struct xml_node *m = NULL, *b;
    char *t = NULL, id[48];
    int rc = XMTA_E_NOMEM;

    if (a->c->state != COMP_READY) {
        xlog_warn("reply", "%s: answer to %s dropped: not connected", a->hook,
                  a->to);
        return XMTA_E_STATE;
    }
    if (len > a->max_len) {
        len = a->max_len;
        while (len && ((unsigned char)text[len] & 0xc0) == 0x80)
            len--; /* do not split a UTF-8 sequence */
    }
    if (!(t = malloc(len + 1)))
        goto out;
    memcpy(t, text, len);
    t[len] = '\0';
    len = xml_text_sanitize(t, len);
    snprintf(id, sizeof(id), "re-%lu", ++a->c->replies_seq);
    if (!(m = xml_node_new("message", NULL)) ||
        xml_node_set_attr(m, "from", a->from) != 0 ||
        xml_node_set_attr(m, "to", a->to) != 0 ||
        xml_node_set_attr(m, "type", a->type) != 0 ||
        xml_node_set_attr(m, "id", id) != 0 ||
        !(b = xml_node_add_child(m, "body", NULL)) ||
        xml_node_add_text(b, t, len) != 0)
        goto out;
    rc = comp_send_node(a->c, m);
out:
    if (rc != 0)
        xlog_warn("reply", "%s: cannot answer %s: %s", a->hook, a->to,
                  xmta_strerror(rc));
    xml_node_free(m);
    free(t);
    return rc;
}

/* ---- the reply webhook -------------------------------------------------- */

/* "sha256=" and the lowercase hex HMAC-SHA256 of body under key. */
static int replies_sign(const char *key,
                        const char *body,
                        size_t len,
                        char out[7 + 64 + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (!HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)body,
              len, md, &mdlen) ||
        mdlen != 32)
        return XMTA_E_INVAL;
    memcpy(out, "sha256=", 7);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
    return 0;
}

/* The JSON document POSTed to reply_url (malloc'd) or NULL. */
static char *replies_json(const struct comp_inbound *in)
{
    json_t *o = json_object();
    char *s = NULL;

    if (!o)
        return NULL;
#define J_STR(k, v)                                                            \
    json_object_set_new(o, k, (v) ? json_string(v) : json_null())
    if (J_STR("hook", in->hk->name) == 0 && J_STR("from", in->from) == 0 &&
        J_STR("to", in->bot_jid) == 0 && J_STR("room", in->room) == 0 &&
        J_STR("nick", in->nick) == 0 && J_STR("body", in->body) == 0 &&
        J_STR("text", in->text) == 0 && J_STR("id", in->id) == 0 &&
        J_STR("in_reply_to", in->in_reply_to) == 0 &&
        J_STR("jid", in->sender) == 0)
        s = json_dumps(o, JSON_COMPACT);
#undef J_STR
    json_decref(o);
    return s;
}

/* 1 when a response of this type is text we may show. */
static int replies_is_text(const char *ctype)
{
    return !ctype || strncasecmp(ctype, "text/", 5) == 0;
}

static void replies_on_done(void *arg, const struct comp_fetch_result *r)
{
    struct comp_answer *a = arg;
    struct comp *c = a->c;
    char why[160];

    if (r->rc == XMTA_E_STOPPED)
        goto out; /* comp_free(): c is going away */
    if (r->rc == 0 && r->status >= 200 && r->status < 300) {
        size_t n = r->body_len;

        while (n && isspace((unsigned char)r->body[n - 1]))
            n--;
        xlog_info("reply", "%s: message from %s delivered (HTTP %ld)", a->hook,
                  a->to, r->status);
        if (n && replies_is_text(r->content_type) &&
            xml_utf8_valid(r->body, n) && comp_answer_send(a, r->body, n) == 0)
            c->replies_sent++;
        goto out;
    }
    if (r->rc == 0)
        snprintf(why, sizeof(why), "HTTP %ld", r->status);
    else if (r->timed_out)
        snprintf(why, sizeof(why), "no answer in time");
    else if (r->tls_error)
        snprintf(why, sizeof(why), "TLS error");
    else
        snprintf(why, sizeof(why), "%s",
                 r->rc == XMTA_E_LIMIT ? "answer too large" : "unreachable");
    c->replies_failed++;
    xlog_warn("reply", "%s: message from %s not delivered: %s%s%s", a->hook,
              a->to, why, r->error[0] ? ": " : "", r->error);
    {
        char text[256];

        snprintf(text, sizeof(text),
                 "Could not deliver your message (%s). Please try again "
                 "later.",
                 why);
        comp_answer_send(a, text, strlen(text));
    }
out:
    comp_answer_free(a);
}

/* POSTs in to the hook's reply_url; the answer follows from the loop. */
static void replies_forward(struct comp *c, const struct comp_inbound *in)
{
    const struct conf_hook *hk = in->hk;
    struct comp_fetch_req rq = {0};
    struct comp_answer *a = NULL;
    char sig[96] = "X-Xmta-Signature: ", *json = NULL;
    const char *hdrs[3];
    int rc = XMTA_E_NOMEM;

    c->replies++;
    if (!c->fetch &&
        !(c->fetch = comp_fetch_new(c->base, REPLIES_RUNNING, REPLIES_WAITING)))
        goto fail;
    if (!(a = comp_answer_new(c, in)) || !(json = replies_json(in)) ||
        replies_sign(hk->sig_secret, json, strlen(json), sig + 18) != 0)
        goto fail;
    hdrs[0] = "Content-Type: application/json";
    hdrs[1] = sig;
    hdrs[2] = "Expect:"; /* no 100-continue round trip */
    rq.method = "POST";
    rq.url = hk->reply_url;
    rq.headers = hdrs;
    rq.n_headers = 3;
    rq.body = json;
    rq.body_len = strlen(json);
    rq.timeout_ms = hk->reply_timeout * 1000u;
    rq.retries = 2; /* refused connections and 502/503/504 only */
    rq.max_response = REPLIES_RESPONSE_MAX;
    rq.ca_file = c->cfg->http_ca_file;
    if ((rc = comp_fetch_start(c->fetch, &rq, replies_on_done, a)) != 0)
        goto fail;
    xlog_info("reply", "%s: message from %s forwarded to its reply_url",
              hk->name, in->from);
    free(json);
    return;
fail:
    c->replies_failed++;
    xlog_warn("reply", "%s: cannot forward the message from %s: %s", hk->name,
              in->from, xmta_strerror(rc));
    if (a) {
        const char *text = rc == XMTA_E_FULL
                               ? "Could not deliver your message (busy). "
                                 "Please try again later."
                               : "Could not deliver your message.";

        comp_answer_send(a, text, strlen(text));
    }
    comp_answer_free(a);
    free(json);
}

/* ---- incoming messages -------------------------------------------------- */

/* The first hook of bot local that can take messages, or NULL. */
static const struct conf_hook *
replies_hook(const struct comp *c, const char *local, size_t len)
{
    for (size_t i = 0; i < c->cfg->n_hooks; i++) {
        const struct conf_hook *hk = &c->cfg->hooks[i];
        const char *name = hk->from ? hk->from : hk->name;

        if ((hk->reply_url || hk->alertmanager_url) && strlen(name) == len &&
            strncasecmp(name, local, len) == 0)
            return hk;
    }
    return NULL;
}

/* The id of the newest alert of hook delivered to jid (a bare user or
 * room JID), from the ring of acknowledged deliveries, or NULL. */
const char *
comp_replies_last_alert(const struct comp *c, const char *hook, const char *jid)
{
    for (size_t k = 1; k <= COMP_RECENT_MAX; k++) {
        const struct comp_recent *r =
            &c->recent[(c->recent_next + COMP_RECENT_MAX - k) %
                       COMP_RECENT_MAX];

        if (!r->hook)
            break;
        if (strcmp(r->hook, hook) == 0 && r->to && strcasecmp(r->to, jid) == 0)
            return r->id;
    }
    return NULL;
}

/* The first case-insensitive (ASCII) occurrence of needle, or NULL. */
static const char *replies_find(const char *hay, const char *needle)
{
    size_t n = strlen(needle);

    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return hay;
    return NULL;
}

/* 1 when body names nick as a word (case-insensitive); *rest is set past
 * a leading "nick:" or "nick," address. */
static int
replies_mentions(const char *body, const char *nick, const char **rest)
{
    size_t n = strlen(nick);

    *rest = body;
    if (!n)
        return 0;
    for (const char *p = body; (p = replies_find(p, nick)); p++) {
        int before = p == body || !isalnum((unsigned char)p[-1]);
        int after = !isalnum((unsigned char)p[n]);

        if (!before || !after)
            continue;
        if (p == body) {
            const char *q = p + n;

            if (*q == ':' || *q == ',')
                q++;
            while (*q == ' ')
                q++;
            *rest = q;
        }
        return 1;
    }
    return 0;
}

/* The joined room and bot this groupchat message reached, or NULL. */
static struct comp_room *
replies_room(const struct comp *c, const char *from, const char *to)
{
    const char *slash = strchr(from, '/');
    size_t flen = slash ? (size_t)(slash - from) : 0;

    for (size_t i = 0; slash && i < c->n_rooms; i++) {
        struct comp_room *r = c->rooms[i];

        if (r->state == ROOM_JOINED && r->real_nick && strlen(r->jid) == flen &&
            strncasecmp(r->jid, from, flen) == 0 &&
            strcasecmp(r->self, to) == 0)
            return r;
    }
    return NULL;
}

/* 1 when nick is the nick of one of our bots in room (any hook's: bots
 * never answer each other). */
static int
replies_from_our_bot(const struct comp *c, const char *room, const char *nick)
{
    for (size_t i = 0; i < c->n_rooms; i++) {
        const struct comp_room *r = c->rooms[i];

        if (r->real_nick && strcasecmp(r->jid, room) == 0 &&
            strcmp(r->real_nick, nick) == 0)
            return 1;
    }
    return 0;
}

/* ---- room stanza-ids ---------------------------------------------------
 * In a room, an XEP-0461 reply names the message by the stanza-id the
 * room gave it (XEP-0359 <stanza-id by=ROOM>, added by MUC archiving), not
 * by our id (XEP-0461 "Business rules"; Conversations and Gajim do so).
 * The room's echo of each message we send carries both, so the pairs of
 * the latest REPLIES_ROOM_SIDS are kept to name our message again. */

struct comp_room_sid {
    char *room, *sid;
    char id[MSG_ID_LEN + 1];
};

/* The echo m of one of our messages in room: its pair, when it has one. */
static void
replies_note_echo(struct comp *c, const char *room, const struct xml_node *m)
{
    const struct xml_node *oid = xml_node_child(m, "origin-id", NS_SID);
    const char *id = oid ? xml_node_attr(oid, "id") : xml_node_attr(m, "id");
    const char *sid = NULL;
    struct comp_room_sid *e;

    for (const struct xml_node *k = xml_node_first_child(m); k;
         k = xml_node_next(k)) {
        const char *by = xml_node_attr(k, "by");

        if (strcmp(xml_node_name(k), "stanza-id") == 0 && xml_node_ns(k) &&
            strcmp(xml_node_ns(k), NS_SID) == 0 && by &&
            strcasecmp(by, room) == 0) {
            sid = xml_node_attr(k, "id");
            break;
        }
    }
    if (!sid || !*sid || !id || !*id || strlen(id) > MSG_ID_LEN)
        return;
    if (!c->room_sids &&
        !(c->room_sids = calloc(REPLIES_ROOM_SIDS, sizeof(*c->room_sids))))
        return;
    for (size_t i = 0; i < REPLIES_ROOM_SIDS; i++) { /* one per message */
        e = &c->room_sids[i];
        if (e->sid && strcmp(e->sid, sid) == 0 && strcmp(e->room, room) == 0)
            return;
    }
    e = &c->room_sids[c->room_sids_next];
    free(e->room);
    free(e->sid);
    e->room = strdup(room);
    e->sid = strdup(sid);
    if (!e->room || !e->sid) {
        free(e->room);
        free(e->sid);
        e->room = e->sid = NULL;
        return;
    }
    snprintf(e->id, sizeof(e->id), "%s", id);
    c->room_sids_next = (c->room_sids_next + 1) % REPLIES_ROOM_SIDS;
}

/* Our id of the message the room calls sid, or NULL. */
static const char *
replies_room_sid_id(const struct comp *c, const char *room, const char *sid)
{
    for (size_t i = 0; c->room_sids && i < REPLIES_ROOM_SIDS; i++) {
        const struct comp_room_sid *e = &c->room_sids[i];

        if (e->sid && strcmp(e->sid, sid) == 0 &&
            strcasecmp(e->room, room) == 0)
            return e->id;
    }
    return NULL;
}

static void replies_room_sids_free(struct comp *c)
{
    for (size_t i = 0; c->room_sids && i < REPLIES_ROOM_SIDS; i++) {
        free(c->room_sids[i].room);
        free(c->room_sids[i].sid);
    }
    free(c->room_sids);
    c->room_sids = NULL;
    c->room_sids_next = 0;
}

/* 1 when from is one of our rooms or an occupant of one. */
static int replies_from_room(const struct comp *c, const char *from)
{
    const char *slash = strchr(from, '/');
    size_t n = slash ? (size_t)(slash - from) : strlen(from);

    for (size_t i = 0; i < c->n_rooms; i++)
        if (strlen(c->rooms[i]->jid) == n &&
            strncasecmp(c->rooms[i]->jid, from, n) == 0)
            return 1;
    return 0;
}

int comp_replies_on_message(struct comp *c, const struct xml_node *m)
{
    const char *type = xml_node_attr(m, "type");
    const char *from = xml_node_attr(m, "from");
    const char *to = xml_node_attr(m, "to");
    const struct xml_node *bn = xml_node_child(m, "body", NULL);
    const struct xml_node *rep = xml_node_child(m, "reply", NS_REPLY);
    struct comp_inbound in = {0};
    struct comp_room *r = NULL;
    struct jid *j = NULL;
    const char *at, *nl, *rid;
    char bare[COMP_JID_MAX], bot_jid[COMP_JID_MAX];
    char *body = NULL;
    int taken = 0;

    if (!c->cfg || !from || !to || !bn || c->state != COMP_READY ||
        !comp_jid_is_ours(c, to) || comp_jid_is_ours(c, from))
        return 0;
    if (!type)
        type = "normal";
    if (strcmp(type, "groupchat") == 0) {
        if (!(r = replies_room(c, from, to)))
            return 0; /* not a room of ours */
        if (replies_from_our_bot(c, r->jid, strchr(from, '/') + 1)) {
            replies_note_echo(c, r->jid, m); /* our own (or another bot's) */
            return 0;
        }
        if (xml_node_child(m, "delay", NS_DELAY) ||
            xml_node_child(m, "subject", NULL))
            return 0; /* history, the subject */
    } else if (strcmp(type, "chat") != 0 && strcmp(type, "normal") != 0) {
        return 0;
    } else if (replies_from_room(c, from)) {
        return 0; /* private messages from occupants: not taken */
    }
    if (!(at = strchr(to, '@')))
        return 0;
    in.hk = replies_hook(c, to, (size_t)(at - to));
    if (!in.hk || !(body = xml_node_text(bn)) || !body[0])
        goto out;
    in.text = body;
    if (r && !replies_mentions(body, r->real_nick, &in.text))
        goto out; /* room talk not meant for the bot */
    if (!(j = malloc(sizeof(*j))))
        goto out;
    nl = strchr(to, '/');
    snprintf(bot_jid, sizeof(bot_jid), "%.*s",
             (int)(nl ? nl - to : (long)strlen(to)), to);
    in.bot_jid = bot_jid;
    in.self = r ? r->self : bot_jid;
    in.from = from;
    in.type = type;
    in.body = body;
    in.id = xml_node_attr(m, "id");
    if (r) {
        in.room = r->jid;
        in.nick = strchr(from, '/') + 1;
        /* The real JID, when the room shows it (non-anonymous). */
        in.sender = comp_room_occupant_jid(r, in.nick);
    } else {
        if (jid_parse(from, j, NULL) != 0 || !j->local[0] ||
            jid_bare(j, bare, sizeof(bare)) != 0)
            goto out;
        in.sender = bare;
    }
    in.in_reply_to = rep ? xml_node_attr(rep, "id") : NULL;
    if (in.in_reply_to && r &&
        (rid = replies_room_sid_id(c, r->jid, in.in_reply_to)))
        in.in_reply_to = rid; /* the room's stanza-id: ours */
    if (!in.in_reply_to)
        in.in_reply_to =
            comp_replies_last_alert(c, in.hk->name, r ? r->jid : in.sender);
    taken = 1;
    if (comp_commands_try(c, &in))
        goto out;
    if (in.hk->reply_url)
        replies_forward(c, &in);
    else
        taken = 0; /* a command hook only: the help text answers */
out:
    free(j);
    free(body);
    return taken;
}

void comp_replies_free(struct comp *c)
{
    comp_fetch_free(c->fetch);
    c->fetch = NULL;
    comp_commands_free(c);
    comp_upload_free(c);
    replies_room_sids_free(c);
}

void comp_fetch_stats(const struct comp *c, struct comp_fetch_stats *st)
{
    if (!st)
        return;
    memset(st, 0, sizeof(*st));
    if (!c)
        return;
    comp_fetch_counters(c->fetch, st);
    st->replies = c->replies;
    st->replies_failed = c->replies_failed;
    st->replies_sent = c->replies_sent;
    st->uploads = c->uploads;
    st->uploads_failed = c->uploads_failed;
    st->long_bodies = c->long_bodies;
    st->long_bodies_cut = c->long_bodies_cut;
}
