/* SPDX-License-Identifier: MIT */
/* internal.h -- what component/'s files share: the link, outbox and room
 * structures and the functions they call on each other. Never included
 * outside component/.
 *
 * Files: component.c (state machine, transport, timers, shutdown),
 * stream.c (stream header, handshake, incoming stanza dispatch, ping),
 * outbox.c (bounded FIFO of deliveries and its drain), rooms.c (MUC joins).
 * Everything runs on the event-loop thread. */
#ifndef XMTA_COMPONENT_INTERNAL_H
#define XMTA_COMPONENT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "component/component.h"
#include "xml/msg.h"
#include "xml/xml.h"

struct bufferevent;
struct event;
struct comp_dns;
struct evutil_addrinfo;
struct xml_node;
struct xml_stream;
struct comp_resolve;
struct comp_bots;
struct spool;
struct comp_life;

/* The resource of every bot's full JID (the JID that joins rooms and sends
 * groupchat). 1:1 messages are sent from the bare bot JID. */
#define COMP_RESOURCE "xmta"

/* Output back-pressure: the drain stops while this much is unsent in the
 * bufferevent and resumes from the write callback below COMP_OUT_LOW. */
#define COMP_OUT_HIGH (64 * 1024)
#define COMP_OUT_LOW (16 * 1024)

/* An unanswered ping (keepalive or ack) is asked again every
 * ping_timeout / COMP_PING_RETRIES: with ejabberd each reply may go to
 * another connection for the domain (at random), and the link is only
 * declared dead when nothing at all came back. */
#define COMP_PING_RETRIES 16

/* Incoming stanza limit: Prosody's own default component limit. */
#define COMP_IN_STANZA_MAX (512 * 1024)

/* Rooms added by messages (not in the config) are capped. */
#define COMP_ROOMS_MAX 256

/* Longest JID we build: local@domain/resource, each part bounded. */
#define COMP_JID_MAX 3200

#define COMP_NS_PING "urn:xmpp:ping"
#define COMP_NS_MUC "http://jabber.org/protocol/muc"
#define COMP_NS_MUC_USER "http://jabber.org/protocol/muc#user"
#define COMP_NS_SERVER "jabber:server"

/* ---- rooms -------------------------------------------------------------- */

enum room_state {
    ROOM_IDLE,    /* not joined; joins when the stream is READY */
    ROOM_JOINING, /* join presence sent, waiting for self-presence (110) */
    ROOM_JOINED,  /* groupchat may flow */
    ROOM_WAIT,    /* a join failed or we were removed: retry timer armed */
    ROOM_FAILED,  /* banned, membership removed, destroyed, or created by
                   * us (201): not rejoined until xmta restarts */
    ROOM_STATE_COUNT
};

/* An occupant whose real JID the room shows (non-anonymous rooms, or
 * the bot is a moderator): by nick, for the commanders check. */
struct comp_occupant {
    char *nick;
    char *jid; /* real bare JID */
};

/* Occupants remembered per room (beyond: not remembered, so commands from
 * them are refused as in an anonymous room). */
#define COMP_OCCUPANTS_MAX 2048

/* One (room, bot) pair: the bot's full JID joins the room once. */
struct comp_room {
    struct comp *c;  /* back pointer (borrowed) */
    char *jid;       /* bare room JID */
    char *bot;       /* bot localpart */
    char *nick;      /* configured nick */
    char *self;      /* bot@domain/xmta: joins and sends */
    char *real_nick; /* nick the room confirmed; NULL unless joined */
    enum room_state state;
    unsigned attempts;    /* failed joins in a row: the backoff exponent */
    unsigned suffix;      /* nick conflicts so far: 0 = configured nick */
    unsigned wait_ms;     /* ROOM_WAIT delay being armed */
    int dynamic;          /* added for a message, not by the config */
    struct event *timer;  /* JOINING: join timeout; WAIT: retry; JOINED:
                           * self-ping after silence (XEP-0410) */
    const char *password; /* room_password of its hook (borrowed), or NULL */
    char last_error[240]; /* why the last join failed or we were removed */
    char ping_id[32];     /* JOINED: our self-ping awaiting its reply */
    int removed;          /* no longer in the config (SIGHUP): left once
                           * its queued deliveries are acknowledged */
    size_t n_pending;     /* deliveries to it in the outbox or sent */
    struct comp_occupant *occ; /* JOINING, JOINED: occupants with a known
                                * real JID (from <item jid=...>) */
    size_t n_occ, cap_occ;
};

/* The real bare JID of occupant nick of r, if the room showed it; NULL
 * otherwise (semi-anonymous room, or not seen). */
const char *comp_room_occupant_jid(const struct comp_room *r, const char *nick);

/* ---- outbox ------------------------------------------------------------- */

/* One submitted message, shared by its deliveries; freed with the last. */
struct comp_item {
    struct msg *m;
    size_t pending;  /* deliveries of m still in the outbox */
    int64_t created; /* Unix seconds when accepted (for max_age) */
    size_t unsent;   /* deliveries of m not yet written */
};

/* One recipient of one message. It is in the outbox until written, then
 * in the sent list until the server acknowledged it (an answered ack
 * ping), and only then removed from the spool. */
struct comp_delivery {
    TAILQ_ENTRY(comp_delivery) link;
    struct comp_item *item;
    const char *to;         /* borrowed from item->m */
    struct comp_room *room; /* NULL: a user (1:1) */
    int64_t seq;            /* spool row; 0 when not spooled */
    size_t size;            /* bytes counted against max_bytes */
    unsigned long ack;      /* sent: the ack ping that covers it, 0: none */
};
TAILQ_HEAD(comp_outbox, comp_delivery);

/* A submitted message waiting for the end of the loop iteration, where
 * the whole batch is committed to the spool in one transaction and then
 * every submitter is told (group commit). */
struct comp_pending {
    TAILQ_ENTRY(comp_pending) link;
    struct comp_item *item;
    struct comp_outbox staged; /* its deliveries */
    size_t n, bytes;
    uint64_t ticket; /* its commit's (spool_commit_async), while syncing */
    void (*done)(void *arg, int rc);
    void *arg;
};
TAILQ_HEAD(comp_batch, comp_pending);

/* A recently acknowledged delivery, to name hook and recipient when the
 * server bounces it later (a small ring). */
#define COMP_RECENT_MAX 1024
struct comp_recent {
    char id[40];
    char *hook;
    char *to;
};

/* Bounce counts per error condition (a few distinct ones at most). */
#define COMP_BOUNCE_KINDS 24
struct comp_bounce_count {
    char cond[48];
    unsigned long n;
};

/* ---- the link ----------------------------------------------------------- */

/* Why the stream parser was stopped from a callback; acted on after
 * xml_stream_feed() returns (never tear down inside a callback). */
enum comp_verdict {
    COMP_V_NONE,
    COMP_V_CLOSED,       /* the server sent </stream:stream> */
    COMP_V_STREAM_ERROR, /* <stream:error> (already logged) */
    COMP_V_FAIL,         /* local failure, see stop_why */
    COMP_V_COUNT
};

struct comp {
    struct event_base *base; /* borrowed */
    const struct conf *cfg;  /* borrowed */
    struct comp_timing t;
    enum comp_state state;
    int started;  /* comp_start() was called */
    int stopping; /* comp_shutdown() was called: no more reconnects */
    void (*done)(void *arg);
    void *done_arg;

    /* connecting */
    struct comp_dns *dns;              /* created on the first connect */
    struct comp_resolve *resolve;      /* lookup under way, or NULL */
    struct evutil_addrinfo *addrs;     /* resolved addresses (owned) */
    struct evutil_addrinfo *addr_next; /* next one to try */
    char peer[80];                     /* "127.0.0.1:5347", "[::1]:5347" */

    /* one connection */
    struct bufferevent *bev;
    struct xml_stream *xs;
    enum comp_verdict verdict;
    const char *stop_why;  /* static text for COMP_V_FAIL */
    int peer_closed;       /* CLOSING: the server's </stream:stream> came */
    char ping_id[40];      /* our ping awaiting its reply, "" if none */
    uint64_t ping_sent_ms; /* when it was sent */
    uint64_t last_read_ms; /* when the server last sent us anything */
    char tag[8];           /* random, per connection: in our ping ids, so a
                            * reply that ejabberd routed to another
                            * connection for the domain is never taken for
                            * one of ours (and the reverse) */
    int conflict;          /* the stream error was conflict: 1, or 2 when
                            * a newer connection replaced us (kick_old) */
    int standby;           /* another connection holds the domain */
    const char *refusal;   /* why the last submit was refused */
    unsigned long ping_seq;
    uint64_t last_write_ms;
    uint64_t ready_at_ms; /* when READY began, 0 when not READY */

    /* reconnecting */
    unsigned failures;      /* link failures in a row: backoff exponent */
    unsigned idle_delay_ms; /* the IDLE deadline: the reconnect delay */

    char *parent; /* ping target: domain minus its first label */
    unsigned long join_seq;

    struct event *deadline;  /* the current state's deadline */
    struct event *keepalive; /* whitespace after write-idle */
    struct event *ping;      /* ping period, then the reply deadline */
    struct event *drain;     /* activated to run the outbox drain */
    struct event *done_ev;   /* activated to call done from the loop */

    struct comp_outbox outbox;
    /* deliveries to rooms not joined, in outbox order: the drain moves
     * them here, so that a room that stays away (and what piles up for
     * it) does not lengthen every drain; its join puts them back */
    struct comp_outbox parked;
    size_t n_items; /* messages in the outbox */

    struct comp_room **rooms;
    size_t n_rooms;

    struct comp_bots *bots; /* bots.c: bot JIDs, subscriptions */

    /* the spool and acknowledgement (outbox.c) */
    struct spool *spool;         /* NULL: in memory, or cannot be opened */
    int spool_broken;            /* configured but not open: 503 */
    uint64_t spool_retry_ms;     /* next attempt to reopen it */
    struct comp_outbox sent;     /* written, not yet acknowledged */
    struct comp_batch batch;     /* submitted this loop iteration */
    struct comp_batch syncing;   /* committed, the disk syncing them */
    struct comp_batch held;      /* accepted, answer held (COMP_HOLD_*) */
    struct event *hold_timer;    /* releases them after COMP_HOLD_MAX_MS */
    int out_full;                /* the last drain stopped at COMP_OUT_HIGH */
    struct event *synced;        /* the spool's syncer is done */
    size_t batch_n, batch_bytes; /* deliveries and bytes in both */
    size_t batch_items;          /* messages in both */
    size_t n_unsent;             /* messages with a delivery not written */
    struct event *commit;        /* activated: commit the batch */
    struct event *expire;        /* periodic max_age sweep */
    struct event *ack_timer;     /* deadline of the oldest ack ping */
    size_t n_deliveries;         /* in outbox + sent */
    size_t n_bytes;              /* their sizes */
    unsigned long ack_seq;       /* last ack ping id number */
    unsigned long ack_done;      /* last answered ack ping */
    uint64_t ack_oldest_ms;      /* when the oldest unanswered was sent */
    uint64_t ack_last_ms;        /* when the newest ack ping was sent */
    unsigned long expired;       /* deliveries dropped after max_age */
    unsigned long spool_errors;  /* failed commits */
    struct xml_buf stanza;       /* each delivery's stanza, reused */
    int64_t *undeleted;          /* delivered rows not deleted yet */
    size_t n_undeleted, cap_undeleted;
    int undeleted_warned;      /* said that rows stay (a delete failed) */
    uint64_t checkpoint_ms;    /* last WAL truncation */
    int grace;                 /* shutdown: flushing before the close */
    struct event *grace_timer; /* its deadline */
    struct comp_recent recent[COMP_RECENT_MAX];
    size_t recent_next;
    struct comp_bounce_count bounces[COMP_BOUNCE_KINDS];
    unsigned long bounced;

    /* two-way bots (replies.c, commands.c, fetch.c) */
    struct comp_fetch *fetch; /* created at the first request */
    unsigned long replies, replies_failed, replies_sent, replies_seq;
    struct comp_cmd_labels *cmd_labels; /* commands.c: labels of recent
                                         * alerts, a ring (lazily made) */
    size_t cmd_labels_next;
    struct comp_room_sid *room_sids; /* replies.c: the rooms' stanza-ids
                                      * of our messages, a ring (lazily) */
    size_t room_sids_next;
    struct comp_upload *upload; /* upload.c: XEP-0363 (lazily made) */
    unsigned long uploads, uploads_failed;
    /* long_body = upload: long texts sent as files, or cut only */
    unsigned long long_bodies, long_bodies_cut;
    struct comp_counters counters; /* for /metrics (issue 6) */

    struct comp_storm *storm; /* storm.c: folding state, or NULL */
    struct comp_life *life;   /* lifecycle.c: alert lifecycle */
};

/* ---- component.c -------------------------------------------------------- */

/* Moves to state s (logging a change at info) and re-arms its deadline;
 * setting the current state again only re-arms. */
void comp_set_state(struct comp *c, enum comp_state s);
/* The stream is dead: tear it down and reconnect after a backoff (or, once
 * shutting down, finish the shutdown). why is logged. Never call it from a
 * parser callback. */
void comp_link_fail(struct comp *c, const char *why);
/* <handshake/> arrived: READY, timers, room joins, drain. */
void comp_on_ready(struct comp *c);
/* An iq result or error answered our pending ping. */
void comp_on_ping_reply(struct comp *c);
/* Writes to the connection (never blocks). 0, XMTA_E_STATE or
 * XMTA_E_NOMEM. comp_send_node() logs the stanza at debug. */
int comp_send_raw(struct comp *c, const char *data, size_t len);
int comp_send_node(struct comp *c, const struct xml_node *n);
/* Logs data at debug as "DIR TEXT", cut at about 300 bytes. */
void comp_log_dump(const char *dir, const char *data, size_t len);
/* Wakes the outbox drain from the loop. */
void comp_wake_drain(struct comp *c);
/* Milliseconds on a monotonic clock. */
uint64_t comp_now_ms(void);
/* Arms a timer event for ms milliseconds (0: the next loop turn). */
void comp_timer_arm(struct event *ev, unsigned ms);
/* Capped exponential backoff with jitter: min * 2^n, at most max, minus a
 * random part of up to a quarter. */
unsigned comp_backoff(unsigned min_ms, unsigned max_ms, unsigned n);
/* 1 when jid's domain part is our domain (the domain or anything@domain,
 * any resource). */
int comp_jid_is_ours(const struct comp *c, const char *jid);

/* ---- stream.c ----------------------------------------------------------- */

/* A parser for a new connection with the component's callbacks. */
struct xml_stream *comp_stream_new(struct comp *c);
/* Sends our stream header. 0 or a negative XMTA_E_*. */
int comp_stream_open(struct comp *c);
/* Sends an XEP-0199 ping to the parent domain and remembers its id. */
int comp_ping_send(struct comp *c);
/* The defined condition of a stanza's <error> child, or NULL. */
const char *comp_stanza_error_condition(const struct xml_node *st);
/* 1 when ns is a stanza namespace (accept, client, server, or NULL). */
int comp_ns_is_stanza(const char *ns);

/* ---- outbox.c ----------------------------------------------------------- */

/* Writes deliveries while READY and the output is below the watermark;
 * then sends an ack ping covering what it wrote. */
void comp_outbox_drain(struct comp *c);
/* Frees every delivery and message still queued (spool rows stay). */
void comp_outbox_free(struct comp *c);
/* Opens the spool and loads what it holds into the outbox (comp_new). 0,
 * or XMTA_E_NOMEM; a spool that cannot be opened is logged and leaves
 * spool_broken set (webhooks get 503 until it opens). */
int comp_outbox_init(struct comp *c);
/* Commits the pending batch and answers its submitters. */
void comp_outbox_commit(struct comp *c);
/* Answers every held submitter (the back-pressure above ends). */
void comp_outbox_unhold(struct comp *c);
/* The link went down: sent but unacknowledged deliveries go back to the
 * head of the outbox, in their order, to be sent again (same id). */
void comp_outbox_requeue(struct comp *c);
/* An ack ping (id "ack-N") was answered (result or error). */
void comp_outbox_on_ack(struct comp *c, const char *id);
/* The ack deadline passed: 1 when an ack ping is overdue. */
int comp_outbox_ack_overdue(struct comp *c, uint64_t now_ms);
/* 1 while something can still be written or awaits its ack. */
int comp_outbox_busy(const struct comp *c);
/* Drops deliveries older than max_age (logged, counted). */
void comp_outbox_expire(struct comp *c);
/* A message error from the server: names hook and recipient when the id
 * is one of ours, and counts the condition. */
void comp_outbox_on_bounce(struct comp *c,
                           const char *id,
                           const char *from,
                           const char *cond);

/* Storm digests (storm.c): deliveries folded into a digest just written
 * join the sent list; an ack ping covering them follows. Empties list. */
void comp_outbox_sent_add(struct comp *c, struct comp_outbox *list);
/* Room r is joined: its parked deliveries go back to the head of the
 * outbox, in their order (they are older than its others there). */
void comp_outbox_unpark(struct comp *c, const struct comp_room *r);

/* ---- storm.c ------------------------------------------------------------ */

/* Counts d (a delivery about to be written) in its (user, bot) window:
 * 1 when it is over [component] storm and must be folded, then the caller
 * takes it out of the outbox and gives it to comp_storm_hold(). */
int comp_storm_fold(struct comp *c, struct comp_delivery *d);
void comp_storm_hold(struct comp *c, struct comp_delivery *d);
/* Moves every held delivery to the tail of list (link down, freeing). */
void comp_storm_release(struct comp *c, struct comp_outbox *list);
void comp_storm_free(struct comp *c);

/* ---- lifecycle.c (alert lifecycle, issue 5) ---------------------------- */

/* "alert-" and 12 hex digits, and the NUL. */
#define COMP_LIFE_RESOURCE_LEN 19

/* After comp_outbox_init() (the spool is open): loads the alert series
 * and firing groups it holds, arms the heartbeat timers. 0 or
 * XMTA_E_NOMEM. */
int comp_life_init(struct comp *c);
/* After c->cfg changed: heartbeat timers follow the hooks (their state
 * is kept by hook name); every bot's presence is sent again. */
void comp_life_reload(struct comp *c);
void comp_life_free(struct comp *c); /* NULL-safe */
/* A valid message was submitted: counts its alert group for the status
 * board and feeds its hook's heartbeat (presence and notices follow).
 * 1 when m is not to be sent: a heartbeat hook without
 * heartbeat_forward; else 0. */
int comp_life_on_submit(struct comp *c, const struct msg *m);
/* Before a 1:1 delivery of m to user to is written: 1 when m belongs to
 * an alert group of a hook with on_resolve = correct; then resource is
 * the full JID resource to send it from, and replace the id it corrects
 * ("" for a new message); the series is remembered. 0: neither. */
int comp_life_prepare(struct comp *c,
                      const struct msg *m,
                      const char *to,
                      char resource[COMP_LIFE_RESOURCE_LEN],
                      char replace[MSG_ID_LEN + 1]);
/* The resource for alert group group: "alert-" and the first 12 hex
 * digits of its SHA-256. */
void comp_life_resource(const char *group, char out[COMP_LIFE_RESOURCE_LEN]);
/* The status board of bot (a localpart): 1 with *show ("xa", "dnd" or
 * NULL) and status ("no heartbeat since HH:MM", "N firing", "all clear");
 * 0 when the bot has no alert hooks (its default presence). */
int comp_life_status(const struct comp *c,
                     const char *bot,
                     const char **show,
                     char *status,
                     size_t size);

/* Appends the status board of bot to presence p (<show/> and <status/>,
 * as comp_life_status() says; nothing for a bot without one): for room
 * joins and updates. 0 or XMTA_E_NOMEM. */
int comp_life_presence_add(const struct comp *c,
                           const char *bot,
                           struct xml_node *p);

/* ---- tls.c -------------------------------------------------------------- */

/* A new bufferevent for the next connection: plain TCP, or with
 * [component] tls an OpenSSL client that verifies the server (SNI and
 * name: tls_name, else server). NULL on failure (logged). */
struct bufferevent *comp_tls_bev_new(struct comp *c);
/* After a failed connect or a link error: logs why TLS failed (the
 * verification result, the OpenSSL errors), if it did. */
void comp_tls_log_error(struct comp *c, struct bufferevent *bev);

/* ---- rooms.c ------------------------------------------------------------ */

/* Builds the room table from every hook's rooms. 0 or XMTA_E_NOMEM. */
int comp_rooms_init(struct comp *c);
/* After c->cfg changed (SIGHUP): rooms new in the config are added (joined
 * by the next drain), rooms no longer in it are left (after what is
 * queued for them was delivered), passwords follow the new config. */
void comp_rooms_reload(struct comp *c);
/* A delivery to r was dropped (acknowledged or expired). */
void comp_room_unref(struct comp_room *r);
void comp_rooms_free(struct comp *c);
/* The (room, bot) entry, added when missing (it joins from the next
 * drain). NULL on allocation failure or past COMP_ROOMS_MAX. */
struct comp_room *comp_room_get(struct comp *c,
                                const char *jid,
                                const char *bot,
                                const char *nick);
/* After the handshake: join every room. */
void comp_rooms_join_all(struct comp *c);
/* While READY: join the rooms that are idle (added since the handshake). */
void comp_rooms_join_idle(struct comp *c);
/* The stream went away: every room is not joined, timers stopped. */
void comp_rooms_reset(struct comp *c);
/* Shutdown: unavailable presence to every joined room. */
void comp_rooms_leave_all(struct comp *c);
/* A result or error for an iq id starting "sp-" (our room self-pings). */
void comp_rooms_on_iq_reply(struct comp *c, const struct xml_node *iq);
/* Incoming presence and message stanzas that may concern our rooms. */
void comp_rooms_on_presence(struct comp *c, const struct xml_node *p);
void comp_rooms_on_message(struct comp *c, const struct xml_node *m);

/* ---- bots.c ------------------------------------------------------------- */

/* Presence subscriptions kept at most (all bots together). */
#define COMP_SUBS_MAX 10000

/* Builds the bots from the hooks (avatars read, subscriptions loaded from
 * the spool directory's "subscribers" file). Called by comp_rooms_init();
 * 0 or XMTA_E_NOMEM. */
int comp_bots_init(struct comp *c);
/* Called by comp_rooms_free(). */
void comp_bots_free(struct comp *c);
/* SIGHUP: the bots built again from c->cfg; subscriptions come back from
 * the subscribers file, or (path = none) from memory. 0 or NOMEM. */
int comp_bots_reload(struct comp *c);
/* A get/set iq to one of our JIDs (the domain, a bot, or an unknown
 * localpart): answers it (disco#info/#items, ping, version, vCard, else
 * an error) and returns 1; returns 0 for results, errors and before
 * comp_bots_init(). */
int comp_bots_on_iq(struct comp *c, const struct xml_node *iq);
/* subscribe / unsubscribe / probe / subscribed / unsubscribed to a bot. */
void comp_bots_on_presence(struct comp *c, const struct xml_node *p);
/* chat/normal messages with a body to a bot get a short help reply. */
void comp_bots_on_message(struct comp *c, const struct xml_node *m);
/* After the handshake (from comp_rooms_join_all()): available presence to
 * every subscriber. */
void comp_bots_on_ready(struct comp *c);
/* Shutdown (from comp_rooms_leave_all()): unavailable presence to every
 * subscriber while the stream is READY. */
void comp_bots_leave_all(struct comp *c);
/* Subscriptions known. */
size_t comp_bots_subscribers(const struct comp *c);
/* The status board of bot (a localpart) changed: its available presence
 * again to every subscriber and to the rooms it joined (while READY). */
void comp_bots_presence_update(struct comp *c, const char *bot);
/* The XEP-0153 hash of bot local's avatar, or NULL (none). */
const char *comp_bots_photo(const struct comp *c, const char *local);

/* ---- replies.c, commands.c (two-way bots) ------------------------------ */

struct conf_hook;
struct msg;

/* A message to a bot that a hook takes (borrowed for one call). */
struct comp_inbound {
    const struct conf_hook *hk; /* the bot's hook with reply_url or
                                 * alertmanager_url */
    const char *bot_jid;        /* bot@domain */
    const char *self;           /* our JID that answers (room: full) */
    const char *from;           /* sender: user full JID or occupant JID */
    const char *sender;         /* user bare JID; in a room, the real
                                 * bare JID the room shows, else NULL */
    const char *room;           /* room bare JID, or NULL (1:1) */
    const char *nick;           /* occupant nick in a room, or NULL */
    const char *type;           /* "chat", "normal" or "groupchat" */
    const char *body;           /* the whole body */
    const char *text;           /* body without a leading "nick:" */
    const char *id;             /* the stanza id, or NULL */
    const char *in_reply_to;    /* XEP-0461 reply id, or our newest alert
                                 * to this user or room, or NULL */
};

/* Where an answer to an inbound message goes (copied: it outlives the
 * stanza and the configuration). */
struct comp_answer;
struct comp_answer *comp_answer_new(struct comp *c,
                                    const struct comp_inbound *in);
/* Sends text as the bot's answer (cleaned, cut at max_message). */
int comp_answer_send(struct comp_answer *a, const char *text, size_t len);
void comp_answer_free(struct comp_answer *a); /* NULL-safe */

/* An incoming message: 1 when a hook with reply_url or commands took it
 * (no help text then), 0 otherwise. */
int comp_replies_on_message(struct comp *c, const struct xml_node *m);
/* Cancels every transfer (comp_free). */
void comp_replies_free(struct comp *c);
/* The id of the newest alert of hook delivered to jid (a bare user or
 * room JID), or NULL. */
const char *comp_replies_last_alert(const struct comp *c,
                                    const char *hook,
                                    const char *jid);
/* XEP-0050 on bots of Alertmanager hooks: disco#items of the command node
 * and <command/> sets ("alerts", "silence"). 1 when answered (now or when
 * Alertmanager answers), 0 when not ours. */
int comp_adhoc_on_iq(struct comp *c, const struct xml_node *iq);
/* 1 when in is an Alertmanager command of its hook (run, answered). */
int comp_commands_try(struct comp *c, const struct comp_inbound *in);
/* Remembers the labels of a submitted alert message (m->labels) by its
 * id, for "ack" in reply to it; frees them all (comp_free). */
void comp_commands_remember(struct comp *c, const struct msg *m);
void comp_commands_free(struct comp *c);

/* ---- upload.c (attachments) --------------------------------------------- */

/* A message with m->attach was accepted: fetch, upload and send the file
 * to its recipients (or the link and why) after it. With m->long_text
 * (taken: set to NULL), upload it as a text file and send its URL after
 * the cut text (on failure only a warning: the cut text stays). */
void comp_upload_submit(struct comp *c, struct msg *m);
/* An iq result or error with an "up-" id: 1 when it was ours. */
int comp_upload_on_iq(struct comp *c, const struct xml_node *iq);
/* Frees every job (after the fetcher: comp_replies_free). */
void comp_upload_free(struct comp *c);

#endif
