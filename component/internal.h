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

struct bufferevent;
struct event;
struct comp_dns;
struct evutil_addrinfo;
struct xml_node;
struct xml_stream;
struct comp_resolve;

/* The resource of every bot's full JID (the JID that joins rooms and sends
 * groupchat). 1:1 messages are sent from the bare bot JID. */
#define COMP_RESOURCE "xmta"

/* Output back-pressure: the drain stops while this much is unsent in the
 * bufferevent and resumes from the write callback below COMP_OUT_LOW. */
#define COMP_OUT_HIGH (64 * 1024)
#define COMP_OUT_LOW (16 * 1024)

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
    ROOM_STATE_COUNT
};

/* One (room, bot) pair: the bot's full JID joins the room once. */
struct comp_room {
    struct comp *c;  /* back pointer (borrowed) */
    char *jid;       /* bare room JID */
    char *bot;       /* bot localpart */
    char *nick;      /* configured nick */
    char *self;      /* bot@domain/xmta: joins and sends */
    char *real_nick; /* nick the room confirmed; NULL unless joined */
    enum room_state state;
    unsigned attempts;   /* failed joins in a row: the backoff exponent */
    unsigned suffix;     /* nick conflicts so far: 0 = configured nick */
    unsigned wait_ms;    /* ROOM_WAIT delay being armed */
    int dynamic;         /* added for a message, not by the config */
    struct event *timer; /* JOINING: join timeout; WAIT: retry */
};

/* ---- outbox ------------------------------------------------------------- */

/* One submitted message, shared by its deliveries; freed with the last. */
struct comp_item {
    struct msg *m;
    size_t pending; /* deliveries of m still in the outbox */
};

/* One recipient of one message. */
struct comp_delivery {
    TAILQ_ENTRY(comp_delivery) link;
    struct comp_item *item;
    const char *to;         /* borrowed from item->m */
    struct comp_room *room; /* NULL: a user (1:1) */
};
TAILQ_HEAD(comp_outbox, comp_delivery);

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
    const char *stop_why; /* static text for COMP_V_FAIL */
    int peer_closed;      /* CLOSING: the server's </stream:stream> came */
    char ping_id[32];     /* our ping awaiting its reply, "" if none */
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
    size_t n_items; /* messages in the outbox */

    struct comp_room **rooms;
    size_t n_rooms;
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

/* Writes deliveries while READY and the output is below the watermark. */
void comp_outbox_drain(struct comp *c);
/* Frees every delivery and message still queued. */
void comp_outbox_free(struct comp *c);

/* ---- rooms.c ------------------------------------------------------------ */

/* Builds the room table from every hook's rooms. 0 or XMTA_E_NOMEM. */
int comp_rooms_init(struct comp *c);
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
/* Incoming presence and message stanzas that may concern our rooms. */
void comp_rooms_on_presence(struct comp *c, const struct xml_node *p);
void comp_rooms_on_message(struct comp *c, const struct xml_node *m);

#endif
