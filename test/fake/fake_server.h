/* SPDX-License-Identifier: MIT */
/* fake_server.h -- a scripted fake XMPP server for the component's tests:
 * listens on 127.0.0.1 port 0 in the caller's event loop, speaks the
 * server side of XEP-0114 (it checks the handshake digest with its own
 * SHA-1), and records everything the component sends. */
#ifndef XMTA_FAKE_SERVER_H
#define XMTA_FAKE_SERVER_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct xml_node;
struct fake_server;

enum fake_mode {
    FAKE_NORMAL,       /* header, digest check, <handshake/>, pings */
    FAKE_SILENT,       /* accepts TCP and reads, never sends a byte */
    FAKE_CLOSE_MID,    /* header; on the handshake half a stanza, close */
    FAKE_STREAM_ERROR, /* header; on the handshake a stream error, close */
    FAKE_IGNORE_PINGS, /* like NORMAL but pings get no reply */
    FAKE_MODE_COUNT
};

struct fake_opts {
    const char *domain;  /* the component domain the header must name */
    const char *secret;  /* the digest must match; else not-authorized */
    enum fake_mode mode; /* for the first mode_conns connections */
    unsigned mode_conns; /* 0: for every connection; then NORMAL */
    int bytewise;        /* send everything one byte per millisecond */
    int muc_auto;        /* answer joins with a 110 self-presence */
    int no_close_reply;  /* ignore the component's </stream:stream> */
    int light;           /* record stanzas as name + attributes only */
    unsigned handshake_delay_ms; /* wait this long before <handshake/> */
    const char *err_condition;   /* FAKE_STREAM_ERROR; default conflict */
    const char *err_text;        /* FAKE_STREAM_ERROR; may be NULL */
    /* muc_auto: answer joins with this MUC error instead ("auth",
     * "registration-required"; NULL: join) and add this status code to
     * the self-presence ("201"; NULL: 110 only). */
    const char *muc_error_type;
    const char *muc_error;
    const char *muc_status;
    /* Pings to an occupant JID (room@service/nick: XEP-0410 self-pings)
     * get this error condition (cancel) instead of a result, or no
     * answer at all with muc_ping_ignore. */
    const char *muc_ping_error;
    int muc_ping_ignore;
};

/* Starts listening. Borrows base; copies o (strings must stay valid). */
struct fake_server *fake_new(struct event_base *base,
                             const struct fake_opts *o);
void fake_free(struct fake_server *fs); /* NULL-safe; closes everything */

unsigned short fake_port(const struct fake_server *fs);
/* The live options: changes apply to what happens next. */
struct fake_opts *fake_options(struct fake_server *fs);

/* Counters over the server's life. */
unsigned fake_connections(const struct fake_server *fs); /* accepted */
unsigned fake_open(const struct fake_server *fs);        /* still open */
unsigned fake_auths(const struct fake_server *fs);       /* <handshake/> sent */
unsigned fake_bad_auths(const struct fake_server *fs);   /* wrong digests */
unsigned fake_pings(const struct fake_server *fs);       /* pings received */
unsigned fake_closes(const struct fake_server *fs); /* </stream:stream> in */
/* Stanzas other than <handshake> received before the handshake was
 * accepted, and bytes received after the handshake and before its
 * acceptance: both must stay 0. */
unsigned fake_preauth_stanzas(const struct fake_server *fs);
size_t fake_preauth_bytes(const struct fake_server *fs);
/* The last stream header received: its to (NULL if none yet) and whether
 * it had a version attribute. */
const char *fake_header_to(const struct fake_server *fs);
int fake_header_version(const struct fake_server *fs);

/* Every stanza received, in order (handshakes included). */
size_t fake_count(const struct fake_server *fs);
const struct xml_node *fake_stanza(const struct fake_server *fs, size_t i);
const char *fake_stanza_xml(const struct fake_server *fs, size_t i);
unsigned fake_stanza_conn(const struct fake_server *fs, size_t i); /* 1.. */
/* How many recorded stanzas have this name (and, if attr is not NULL,
 * attribute attr equal to value). */
size_t fake_count_named(const struct fake_server *fs,
                        const char *name,
                        const char *attr,
                        const char *value);
/* The nth (0-based) recorded stanza with this name and attr=value, or
 * NULL. */
const struct xml_node *fake_find(const struct fake_server *fs,
                                 const char *name,
                                 const char *attr,
                                 const char *value,
                                 size_t nth);

/* Sends raw bytes on the newest open connection (honours bytewise).
 * Returns 0, or -1 when no connection is open. */
int fake_send(struct fake_server *fs, const char *raw);
/* Stops (1) or resumes (0) reading on every open connection, so that the
 * component's writes back up. */
void fake_pause(struct fake_server *fs, int paused);
/* Closes every open connection at once (no stream close, like a crash). */
void fake_kick(struct fake_server *fs);

/* Loop helpers for the tests. fake_now_ms: CLOCK_MONOTONIC in ms.
 * fake_run_until: runs base in 5 ms slices until pred(arg) holds or ms
 * pass; returns whether pred holds (pred NULL: just runs for ms). */
uint64_t fake_now_ms(void);
int fake_run_until(struct event_base *base,
                   int (*pred)(void *),
                   void *arg,
                   unsigned ms);

#endif
