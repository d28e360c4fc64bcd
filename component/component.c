/* SPDX-License-Identifier: MIT */
/* component.c -- the XEP-0114 link's state machine: name resolution, TCP
 * connect, timers (deadlines, keepalive, ping), reconnect with backoff and
 * the clean shutdown. The stream's content is handled in stream.c. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "component/internal.h"
#include "conf/conf.h"
#include "xml/err.h"
#include "xml/log.h"
#include "xml/xml.h"

/* The resolver. Lookups cancelled by the comp still call back later, and
 * evdns must outlive those callbacks: if the comp is freed first, the last
 * callback frees this (from the loop). */
struct comp_dns {
    struct evdns_base *dns;
    struct event_base *base;
    unsigned lookups; /* callbacks still to come */
    int orphaned;     /* the comp is gone */
};

/* A name lookup under way. If the comp gives up on it (timeout, close) it
 * sets c to NULL and cancels; the callback then only frees this. */
struct comp_resolve {
    struct comp *c;
    struct comp_dns *d;
    struct evdns_getaddrinfo_request *req;
};

static const char *const comp_state_names[COMP_STATE_COUNT] = {
    [COMP_IDLE] = "idle",
    [COMP_RESOLVING] = "resolving",
    [COMP_CONNECTING] = "connecting",
    [COMP_OPENING] = "opening",
    [COMP_HANDSHAKE] = "handshake",
    [COMP_READY] = "ready",
    [COMP_CLOSING] = "closing",
};

const char *comp_state_name(enum comp_state s)
{
    if ((unsigned)s >= COMP_STATE_COUNT)
        return "invalid";
    return comp_state_names[s];
}

/* ---- small helpers ------------------------------------------------------ */

uint64_t comp_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void comp_timer_arm(struct event *ev, unsigned ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};

    evtimer_add(ev, &tv);
}

unsigned comp_backoff(unsigned min_ms, unsigned max_ms, unsigned n)
{
    uint64_t d = min_ms;
    uint32_t r = 0;

    for (unsigned i = 0; i < n && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    /* Jitter: many instances restarted together should not reconnect in
     * lockstep. Take off up to a quarter. */
    if (d >= 4) {
        evutil_secure_rng_get_bytes(&r, sizeof(r));
        d -= r % (d / 4 + 1);
    }
    return (unsigned)d;
}

int comp_jid_is_ours(const struct comp *c, const char *jid)
{
    const char *dom = jid, *at, *slash;
    size_t len;

    if (!jid)
        return 0;
    slash = strchr(jid, '/');
    len = slash ? (size_t)(slash - jid) : strlen(jid);
    at = memchr(jid, '@', len);
    if (at) {
        len -= (size_t)(at + 1 - jid);
        dom = at + 1;
    }
    return len == strlen(c->cfg->domain) &&
           strncasecmp(dom, c->cfg->domain, len) == 0;
}

void comp_log_dump(const char *dir, const char *data, size_t len)
{
    enum { DUMP_MAX = 300 };

    if (XLOG_DEBUG > xlog_threshold)
        return;
    xlog_debug("comp", "%s %.*s%s", dir, (int)(len > DUMP_MAX ? DUMP_MAX : len),
               data, len > DUMP_MAX ? "..." : "");
}

int comp_send_raw(struct comp *c, const char *data, size_t len)
{
    if (!c->bev)
        return XMTA_E_STATE;
    if (bufferevent_write(c->bev, data, len) != 0)
        return XMTA_E_NOMEM;
    c->last_write_ms = comp_now_ms();
    return 0;
}

int comp_send_node(struct comp *c, const struct xml_node *n)
{
    size_t len = 0;
    char *s = xml_node_serialize(n, &len);
    int rc;

    if (!s)
        return XMTA_E_NOMEM;
    comp_log_dump("send", s, len);
    rc = comp_send_raw(c, s, len);
    free(s);
    return rc;
}

void comp_wake_drain(struct comp *c)
{
    event_active(c->drain, EV_TIMEOUT, 1);
}

/* "127.0.0.1:5347" or "[::1]:5347". */
static void comp_format_addr(const struct sockaddr *sa, char *out, size_t size)
{
    char host[64] = "?";
    unsigned port = 0;

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

        evutil_inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
        snprintf(out, size, "%s:%u", host, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

        evutil_inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
        snprintf(out, size, "[%s]:%u", host, port);
    } else {
        snprintf(out, size, "(family %d)", (int)sa->sa_family);
    }
}

/* TCP options once connected: no Nagle delay for small stanzas, and
 * kernel keepalive plus a user timeout so that a dead peer or unacknowledged
 * writes are noticed within about a minute and a half (PROTOCOL.md 2.2). */
static void comp_tcp_tune(evutil_socket_t fd)
{
    static const struct {
        int level, name, value;
        const char *what;
    } opts[] = {
        {IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY"},
        {SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE"},
#ifdef TCP_KEEPIDLE
        {IPPROTO_TCP, TCP_KEEPIDLE, 60, "TCP_KEEPIDLE"},
#endif
#ifdef TCP_KEEPINTVL
        {IPPROTO_TCP, TCP_KEEPINTVL, 30, "TCP_KEEPINTVL"},
#endif
#ifdef TCP_KEEPCNT
        {IPPROTO_TCP, TCP_KEEPCNT, 3, "TCP_KEEPCNT"},
#endif
#ifdef TCP_USER_TIMEOUT
        {IPPROTO_TCP, TCP_USER_TIMEOUT, 60000, "TCP_USER_TIMEOUT"},
#endif
    };

    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        int v = opts[i].value;

        if (setsockopt(fd, opts[i].level, opts[i].name, &v, sizeof(v)) != 0)
            xlog_warn("comp", "setsockopt %s: %s", opts[i].what,
                      strerror(errno));
    }
}

/* ---- state -------------------------------------------------------------- */

void comp_set_state(struct comp *c, enum comp_state s)
{
    unsigned ms = 0;
    int arm = 0;

    if (s != c->state)
        xlog_info("comp", "state %s -> %s", comp_state_name(c->state),
                  comp_state_name(s));
    c->state = s;
    if (s != COMP_READY) { /* nothing is written: no reason to wait */
        c->out_full = 0;
        comp_outbox_unhold(c);
    }
    evtimer_del(c->deadline);
    switch (s) {
    case COMP_IDLE: /* the reconnect delay, unless stopped or not started */
        arm = c->started && !c->stopping;
        ms = c->idle_delay_ms;
        break;
    case COMP_RESOLVING:
    case COMP_CONNECTING:
        ms = c->t.connect_ms;
        arm = ms > 0;
        break;
    case COMP_OPENING:
    case COMP_HANDSHAKE:
        ms = c->t.handshake_ms;
        arm = ms > 0;
        break;
    case COMP_READY: /* liveness is the ping's job */
        break;
    case COMP_CLOSING:
        ms = c->t.close_ms;
        arm = ms > 0;
        break;
    case COMP_STATE_COUNT:
        break;
    }
    if (arm)
        comp_timer_arm(c->deadline, ms);
}

/* Abandons a lookup under way (see struct comp_resolve). */
static void comp_resolve_abandon(struct comp *c)
{
    struct comp_resolve *r = c->resolve;

    if (!r)
        return;
    c->resolve = NULL;
    r->c = NULL;
    if (r->req)
        evdns_getaddrinfo_cancel(r->req);
}

/* Tears the transport down; the state is left to the caller. */
static void comp_link_close(struct comp *c)
{
    comp_resolve_abandon(c);
    if (c->addrs)
        evutil_freeaddrinfo(c->addrs);
    c->addrs = c->addr_next = NULL;
    if (c->bev)
        bufferevent_free(c->bev);
    c->bev = NULL;
    xml_stream_free(c->xs);
    c->xs = NULL;
    if (c->keepalive) /* NULL only when comp_new failed half-way */
        evtimer_del(c->keepalive);
    if (c->ping)
        evtimer_del(c->ping);
    c->ping_id[0] = '\0';
    c->verdict = COMP_V_NONE;
    c->stop_why = NULL;
    c->peer_closed = 0;
    c->ready_at_ms = 0;
    comp_rooms_reset(c);
    comp_outbox_requeue(c);
}

/* Shutdown is over (or was never connected): close, stay IDLE, and call
 * done from the loop. */
static void comp_close_finish(struct comp *c)
{
    c->grace = 0;
    if (c->grace_timer)
        evtimer_del(c->grace_timer);
    comp_link_close(c);
    comp_set_state(c, COMP_IDLE);
    event_active(c->done_ev, EV_TIMEOUT, 1);
}

void comp_link_fail(struct comp *c, const char *why)
{
    uint64_t now = comp_now_ms();

    if (c->stopping) {
        xlog_info("comp", "link closed: %s", why);
        comp_close_finish(c);
        return;
    }
    /* A link that stayed up long enough proves the settings work: start
     * the backoff over. */
    if (c->ready_at_ms && now - c->ready_at_ms >= c->t.stable_ms)
        c->failures = 0;
    if (c->conflict == 1 && c->t.standby_ms) {
        /* Another connection holds the domain (Prosody kick_new: a second
         * instance, or our own dead connection it still keeps): stand by
         * and ask again soon, to take over within seconds of its end. */
        if (!c->standby)
            xlog_warn("comp",
                      "standby: another connection holds %s; webhooks are "
                      "answered 503 until this instance takes over",
                      c->cfg->domain);
        c->standby = 1;
        c->idle_delay_ms = comp_backoff(c->t.standby_ms, c->t.standby_ms, 0);
    } else {
        if (c->conflict == 2) {
            /* Replaced (kick_old): asking again at once would replace
             * the other one in turn; back off as usual. */
            xlog_error("comp",
                       "another instance took %s over (Prosody kick_old): "
                       "two instances with kick_old take the stream from "
                       "each other in turn; for a standby set "
                       "component_conflict_resolve = \"kick_new\" (README, "
                       "High availability)",
                       c->cfg->domain);
            c->standby = 1;
        } else {
            c->standby = 0;
        }
        c->idle_delay_ms =
            comp_backoff(c->t.backoff_min_ms, c->t.backoff_max_ms, c->failures);
        if (c->failures < 64)
            c->failures++;
    }
    c->conflict = 0;
    xlog_warn("comp", "link down: %s; reconnecting in %u ms", why,
              c->idle_delay_ms);
    comp_link_close(c);
    comp_set_state(c, COMP_IDLE);
}

/* ---- connecting --------------------------------------------------------- */

static void comp_on_read(struct bufferevent *bev, void *arg);
static void comp_on_write(struct bufferevent *bev, void *arg);
static void comp_on_event(struct bufferevent *bev, short what, void *arg);

/* Tries the next resolved address; when none is left the attempt failed. */
static void comp_connect_next(struct comp *c)
{
    if (c->bev)
        bufferevent_free(c->bev);
    c->bev = NULL;
    while (c->addr_next) {
        struct evutil_addrinfo *ai = c->addr_next;

        c->addr_next = ai->ai_next;
        comp_format_addr(ai->ai_addr, c->peer, sizeof(c->peer));
        c->bev = comp_tls_bev_new(c); /* tls.c: plain or TLS */
        if (!c->bev)
            break;
        bufferevent_setcb(c->bev, comp_on_read, comp_on_write, comp_on_event,
                          c);
        comp_set_state(c, COMP_CONNECTING);
        xlog_debug("comp", "connecting to %s", c->peer);
        if (bufferevent_socket_connect(c->bev, ai->ai_addr,
                                       (int)ai->ai_addrlen) == 0)
            return; /* the event callback says how it went */
        xlog_warn("comp", "connect to %s failed: %s", c->peer,
                  evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
    xlog_warn("comp", "cannot connect to %s port %u", c->cfg->server,
              (unsigned)c->cfg->port);
    comp_link_fail(c, "no address of the server accepted a connection");
}

static void comp_dns_free_cb(evutil_socket_t fd, short what, void *arg)
{
    struct comp_dns *d = arg;

    evdns_base_free(d->dns, 0);
    free(d);
}

static void comp_on_resolved(int err, struct evutil_addrinfo *ai, void *arg)
{
    struct comp_resolve *r = arg;
    struct comp_dns *d = r->d;
    struct comp *c = r->c;

    free(r);
    d->lookups--;
    if (!c) { /* abandoned */
        if (ai)
            evutil_freeaddrinfo(ai);
        if (d->orphaned && d->lookups == 0) {
            struct timeval now = {0, 0};

            /* Not from inside evdns's own callback. */
            event_base_once(d->base, -1, EV_TIMEOUT, comp_dns_free_cb, d, &now);
        }
        return;
    }
    c->resolve = NULL;
    if (err != 0 || !ai) {
        if (ai)
            evutil_freeaddrinfo(ai);
        xlog_error("comp", "cannot resolve %s: %s", c->cfg->server,
                   evutil_gai_strerror(err));
        comp_link_fail(c, "name resolution failed");
        return;
    }
    c->addrs = c->addr_next = ai;
    comp_connect_next(c);
}

/* IDLE -> RESOLVING: look the server up (IPv4 and IPv6) without blocking.
 * A numeric address is answered at once, from inside evdns_getaddrinfo. */
static void comp_connect_begin(struct comp *c)
{
    struct evdns_getaddrinfo_request *req;
    struct evutil_addrinfo hints;
    struct comp_resolve *r;
    char port[8];

    if (!c->dns && (c->dns = calloc(1, sizeof(*c->dns)))) {
        c->dns->base = c->base;
        c->dns->dns =
            evdns_base_new(c->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                        EVDNS_BASE_DISABLE_WHEN_INACTIVE);
        if (!c->dns->dns) {
            free(c->dns);
            c->dns = NULL;
        }
    }
    if (!c->dns) {
        comp_link_fail(c, "cannot set up the DNS resolver");
        return;
    }
    if (!(r = calloc(1, sizeof(*r)))) {
        comp_link_fail(c, "out of memory");
        return;
    }
    r->c = c;
    r->d = c->dns;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    snprintf(port, sizeof(port), "%u", (unsigned)c->cfg->port);
    c->resolve = r;
    c->dns->lookups++;
    comp_set_state(c, COMP_RESOLVING);
    req = evdns_getaddrinfo(c->dns->dns, c->cfg->server, port, &hints,
                            comp_on_resolved, r);
    if (req) /* not answered yet: r is still alive */
        r->req = req;
}

static void comp_on_connected(struct comp *c)
{
    evutil_freeaddrinfo(c->addrs);
    c->addrs = c->addr_next = NULL;
    comp_tcp_tune(bufferevent_getfd(c->bev));
    xlog_info("comp", "connected to %s", c->peer);
    {
        static const char hex[] = "0123456789abcdef";
        unsigned char rnd[(sizeof(c->tag) - 1) / 2];

        evutil_secure_rng_get_bytes(rnd, sizeof(rnd));
        for (size_t i = 0; i < sizeof(rnd); i++) {
            c->tag[2 * i] = hex[rnd[i] >> 4];
            c->tag[2 * i + 1] = hex[rnd[i] & 15];
        }
        c->tag[2 * sizeof(rnd)] = '\0';
    }
    c->last_read_ms = comp_now_ms();
    if (!(c->xs = comp_stream_new(c))) {
        comp_link_fail(c, "out of memory");
        return;
    }
    bufferevent_setwatermark(c->bev, EV_WRITE, COMP_OUT_LOW, 0);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    comp_set_state(c, COMP_OPENING);
    if (comp_stream_open(c) != 0)
        comp_link_fail(c, "cannot send the stream header");
}

/* ---- the connection's callbacks ----------------------------------------- */

/* CLOSING: done once the server closed its stream and our output left. */
static void comp_close_check(struct comp *c)
{
    if (c->state != COMP_CLOSING || !c->peer_closed || !c->bev)
        return;
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
        xlog_info("comp", "stream closed");
        comp_close_finish(c);
    }
}

/* The parser stopped: act on what the callback asked for, now that no
 * expat frame is on the stack. */
static void comp_on_stream_stop(struct comp *c, int rc)
{
    enum comp_verdict v = c->verdict;

    if (rc != XMTA_E_STOPPED) {
        xlog_error("comp", "unacceptable XML from the server: %s (%s)",
                   xmta_strerror(rc), xml_stream_error(c->xs));
        v = COMP_V_FAIL;
        c->stop_why = "bad XML from the server";
    }
    xml_stream_free(c->xs); /* unusable after a stop */
    c->xs = NULL;
    c->verdict = COMP_V_NONE;
    switch (v) {
    case COMP_V_CLOSED:
        if (c->state == COMP_CLOSING) {
            c->peer_closed = 1;
            comp_close_check(c);
            return;
        }
        xlog_warn("comp", "the server closed the stream");
        comp_link_fail(c, "the server closed the stream");
        return;
    case COMP_V_STREAM_ERROR:
        comp_link_fail(c, "stream error");
        return;
    case COMP_V_FAIL:
        comp_link_fail(c, c->stop_why ? c->stop_why : "stream failure");
        return;
    case COMP_V_NONE:
    case COMP_V_COUNT:
        break;
    }
    comp_link_fail(c, "parser stopped");
}

static void comp_on_read(struct bufferevent *bev, void *arg)
{
    struct comp *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char buf[4096];
    int n, rc = 0;

    c->last_read_ms = comp_now_ms(); /* the link is alive (see the pings) */
    while ((n = evbuffer_remove(in, buf, sizeof(buf))) > 0) {
        if (!c->xs)
            continue; /* after the server's </stream:stream>: discard */
        if ((rc = xml_stream_feed(c->xs, buf, (size_t)n)) != 0)
            break;
    }
    if (rc != 0)
        comp_on_stream_stop(c, rc);
}

static void comp_on_write(struct bufferevent *bev, void *arg)
{
    struct comp *c = arg;

    if (c->state == COMP_READY)
        comp_outbox_drain(c); /* below the low watermark again */
    else if (c->state == COMP_CLOSING)
        comp_close_check(c);
}

static void comp_on_event(struct bufferevent *bev, short what, void *arg)
{
    struct comp *c = arg;
    int err = EVUTIL_SOCKET_ERROR();

    if (c->state == COMP_CONNECTING) {
        if (what & BEV_EVENT_CONNECTED) {
            comp_on_connected(c);
            return;
        }
        comp_tls_log_error(c, bev);
        xlog_warn("comp", "connect to %s failed: %s", c->peer,
                  err ? evutil_socket_error_to_string(err) : "error");
        comp_connect_next(c);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        xlog_warn("comp", "no data from %s for %u ms", c->peer,
                  c->t.read_timeout_ms);
        comp_link_fail(c, "read timeout");
    } else if (what & BEV_EVENT_EOF) {
        if (c->state == COMP_CLOSING) {
            xlog_info("comp", "the server closed the connection");
            comp_close_finish(c);
            return;
        }
        comp_link_fail(c, "the server closed the connection");
    } else if (what & BEV_EVENT_ERROR) {
        comp_tls_log_error(c, bev);
        xlog_warn("comp", "connection to %s: %s", c->peer,
                  err ? evutil_socket_error_to_string(err) : "error");
        comp_link_fail(c, "socket error");
    }
}

/* ---- timers ------------------------------------------------------------- */

/* The step function: what a state does when its deadline passes. */
static void comp_on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct comp *c = arg;

    switch (c->state) {
    case COMP_IDLE:
        comp_connect_begin(c);
        break;
    case COMP_RESOLVING:
        xlog_warn("comp", "resolving %s timed out", c->cfg->server);
        comp_link_fail(c, "name resolution timed out");
        break;
    case COMP_CONNECTING:
        xlog_warn("comp", "connect to %s timed out", c->peer);
        comp_connect_next(c);
        break;
    case COMP_OPENING:
        xlog_warn("comp", "no stream header from %s within %u ms", c->peer,
                  c->t.handshake_ms);
        comp_link_fail(c, "handshake timeout");
        break;
    case COMP_HANDSHAKE:
        xlog_warn("comp", "no handshake reply from %s within %u ms", c->peer,
                  c->t.handshake_ms);
        comp_link_fail(c, "handshake timeout");
        break;
    case COMP_READY:
        break;
    case COMP_CLOSING:
        xlog_info("comp", "the server did not close the stream within %u ms",
                  c->t.close_ms);
        comp_close_finish(c);
        break;
    case COMP_STATE_COUNT:
        break;
    }
}

/* Whitespace after keepalive_ms without a write (checked lazily so that
 * writes need not re-arm the timer). */
static void comp_on_keepalive(evutil_socket_t fd, short what, void *arg)
{
    struct comp *c = arg;
    uint64_t idle;

    if (c->state != COMP_READY || c->t.keepalive_ms == 0)
        return;
    idle = comp_now_ms() - c->last_write_ms;
    if (idle >= c->t.keepalive_ms) {
        comp_send_raw(c, " ", 1);
        idle = 0;
    }
    comp_timer_arm(c->keepalive, c->t.keepalive_ms - (unsigned)idle);
}

/* Every ping_interval_ms a ping; a reply, or anything else from the
 * server, must come within ping_timeout_ms or the link is dead. While
 * none came the ping is asked again COMP_PING_RETRIES times: with
 * ejabberd, which spreads the stanzas for a domain over every connection
 * holding it, the reply may have gone to another instance (PROTOCOL.md
 * 1.5). */
static void comp_on_ping_timer(evutil_socket_t fd, short what, void *arg)
{
    struct comp *c = arg;
    unsigned step = c->t.ping_timeout_ms / COMP_PING_RETRIES
                        ? c->t.ping_timeout_ms / COMP_PING_RETRIES
                        : 1;
    uint64_t now = comp_now_ms(), first = c->ping_sent_ms;

    if (c->state != COMP_READY)
        return;
    if (c->ping_id[0] && c->last_read_ms > c->ping_sent_ms) {
        /* No reply, but the server sent other things since: alive. */
        xlog_debug("comp", "ping %s unanswered, but the link is alive",
                   c->ping_id);
        comp_on_ping_reply(c);
        return;
    }
    if (c->ping_id[0] && now - first >= c->t.ping_timeout_ms) {
        xlog_warn("comp", "no reply to ping %s within %u ms", c->ping_id,
                  c->t.ping_timeout_ms);
        comp_link_fail(c, "ping timeout");
        return;
    }
    if (c->ping_id[0]) { /* ask again; the deadline stays the first's */
        unsigned left = c->t.ping_timeout_ms - (unsigned)(now - first);

        if (comp_ping_send(c) == 0)
            c->ping_sent_ms = first;
        comp_timer_arm(c->ping, left < step ? left : step);
        return;
    }
    if (comp_ping_send(c) == 0 && c->ping_id[0])
        comp_timer_arm(c->ping, step);
    else
        comp_timer_arm(c->ping, c->t.ping_interval_ms);
}

void comp_on_ping_reply(struct comp *c)
{
    xlog_debug("comp", "ping %s answered", c->ping_id);
    c->ping_id[0] = '\0';
    evtimer_del(c->ping);
    if (c->t.ping_interval_ms)
        comp_timer_arm(c->ping, c->t.ping_interval_ms);
}

void comp_on_ready(struct comp *c)
{
    comp_set_state(c, COMP_READY);
    c->counters.ready++;
    xlog_info("comp", "authenticated as %s", c->cfg->domain);
    if (c->standby)
        xlog_warn("comp", "standby over: this instance holds %s now",
                  c->cfg->domain);
    c->standby = 0;
    c->ready_at_ms = comp_now_ms();
    if (c->t.read_timeout_ms) {
        struct timeval tv = {(time_t)(c->t.read_timeout_ms / 1000),
                             (suseconds_t)(c->t.read_timeout_ms % 1000) * 1000};

        bufferevent_set_timeouts(c->bev, &tv, NULL);
    }
    if (c->t.keepalive_ms)
        comp_timer_arm(c->keepalive, c->t.keepalive_ms);
    if (c->t.ping_interval_ms)
        comp_timer_arm(c->ping, c->t.ping_interval_ms);
    comp_rooms_join_all(c);
    comp_wake_drain(c);
}

static void comp_close_stream(struct comp *c);

static void comp_on_drain(evutil_socket_t fd, short what, void *arg)
{
    struct comp *c = arg;

    comp_outbox_drain(c);
    if (c->grace && c->state == COMP_READY && !comp_outbox_busy(c)) {
        xlog_info("comp", "shutdown: everything written was acknowledged");
        comp_close_stream(c);
    }
}

static void comp_on_grace(evutil_socket_t fd, short what, void *arg)
{
    struct comp *c = arg;

    if (!c->grace || c->state != COMP_READY)
        return;
    xlog_warn("comp",
              "shutdown: %zu delivery(ies) not acknowledged within "
              "%u ms stay in the spool",
              c->n_deliveries, c->t.grace_ms);
    comp_close_stream(c);
}

static void comp_on_commit(evutil_socket_t fd, short what, void *arg)
{
    comp_outbox_commit(arg);
}

/* An ack ping unanswered for ping_timeout: the link is dead even if TCP
 * does not say so. */
static void comp_on_ack_timer(evutil_socket_t fd, short what, void *arg)
{
    struct comp *c = arg;

    if (comp_outbox_ack_overdue(c, comp_now_ms())) {
        xlog_warn("comp", "no reply to ack ping %lu within %u ms",
                  c->ack_done + 1, c->t.ping_timeout_ms);
        comp_link_fail(c, "ping timeout");
    }
}

/* The max_age sweep, also while the link is down. */
static void comp_on_expire(evutil_socket_t fd, short what, void *arg)
{
    struct comp *c = arg;

    comp_outbox_expire(c);
    comp_timer_arm(c->expire, c->t.expire_ms);
}

static void comp_on_done(evutil_socket_t fd, short what, void *arg)
{
    struct comp *c = arg;
    void (*done)(void *) = c->done;

    c->done = NULL;
    if (done)
        done(c->done_arg); /* may free c: touch nothing after */
}

/* ---- public ------------------------------------------------------------- */

static void comp_timing_default(const struct conf *cfg, struct comp_timing *t)
{
    memset(t, 0, sizeof(*t));
    t->connect_ms = 10000;
    t->handshake_ms = 15000;
    t->backoff_min_ms = 1000;
    t->backoff_max_ms = 60000;
    t->stable_ms = 60000;
    t->keepalive_ms = cfg->keepalive * 1000u;
    t->ping_interval_ms = cfg->ping_interval * 1000u;
    t->ping_timeout_ms = cfg->ping_timeout * 1000u;
    t->read_timeout_ms = 2 * t->ping_interval_ms + t->ping_timeout_ms;
    if (t->ping_interval_ms == 0)
        t->read_timeout_ms = 0; /* no regular inbound traffic to expect */
    t->close_ms = 2000;
    t->join_timeout_ms = 30000;
    t->join_backoff_min_ms = 2000;
    t->join_backoff_max_ms = 300000;
    t->grace_ms = 5000;
    t->standby_ms = 3000;
    t->expire_ms = 60000;
}

struct comp *comp_new(struct event_base *base, const struct conf *cfg)
{
    struct comp *c;
    const char *dot;

    if (!base || !cfg || !cfg->domain || !cfg->server || !cfg->secret)
        return NULL;
    if (!(c = calloc(1, sizeof(*c))))
        return NULL;
    c->base = base;
    c->cfg = cfg;
    c->state = COMP_IDLE;
    TAILQ_INIT(&c->outbox);
    TAILQ_INIT(&c->parked);
    TAILQ_INIT(&c->sent);
    TAILQ_INIT(&c->batch);
    TAILQ_INIT(&c->syncing);
    comp_timing_default(cfg, &c->t);
    /* Ping the parent server (notify.example.org -> example.org); a
     * domain without a dot pings itself through the server. */
    dot = strchr(cfg->domain, '.');
    c->parent = strdup(dot && dot[1] ? dot + 1 : cfg->domain);
    c->deadline = evtimer_new(base, comp_on_deadline, c);
    c->keepalive = evtimer_new(base, comp_on_keepalive, c);
    c->ping = evtimer_new(base, comp_on_ping_timer, c);
    c->drain = event_new(base, -1, 0, comp_on_drain, c);
    c->done_ev = event_new(base, -1, 0, comp_on_done, c);
    c->commit = event_new(base, -1, 0, comp_on_commit, c);
    c->ack_timer = evtimer_new(base, comp_on_ack_timer, c);
    c->expire = evtimer_new(base, comp_on_expire, c);
    c->grace_timer = evtimer_new(base, comp_on_grace, c);
    if (!c->parent || !c->deadline || !c->keepalive || !c->ping || !c->drain ||
        !c->done_ev || !c->commit || !c->ack_timer || !c->expire ||
        !c->grace_timer || comp_rooms_init(c) != 0 ||
        comp_outbox_init(c) != 0 || comp_life_init(c) != 0) {
        comp_free(c);
        return NULL;
    }
    return c;
}

int comp_start(struct comp *c)
{
    if (!c)
        return XMTA_E_INVAL;
    if (c->started || c->stopping)
        return XMTA_E_STATE;
    c->started = 1;
    c->idle_delay_ms = 0;
    comp_timer_arm(c->expire, c->t.expire_ms); /* the max_age sweep */
    comp_set_state(c, COMP_IDLE); /* connects from the loop at once */
    return 0;
}

enum comp_state comp_state(const struct comp *c)
{
    return c ? c->state : COMP_IDLE;
}

int comp_standby(const struct comp *c)
{
    return c && c->standby && c->state != COMP_READY;
}

const char *comp_refusal(const struct comp *c)
{
    return c && c->refusal ? c->refusal : "try again later";
}

void comp_shutdown(struct comp *c, void (*done)(void *arg), void *arg)
{
    if (!c)
        return;
    c->done = done;
    c->done_arg = arg;
    if (c->stopping) {
        /* Already under way: only the callback changes; if it is over,
         * call the new one. */
        if (c->state == COMP_IDLE)
            event_active(c->done_ev, EV_TIMEOUT, 1);
        return;
    }
    c->stopping = 1;
    if (c->state != COMP_READY) {
        xlog_info("comp", "shutdown (not connected)");
        comp_close_finish(c);
        return;
    }
    if (c->t.grace_ms && comp_outbox_busy(c)) {
        xlog_info("comp",
                  "shutdown: flushing %zu delivery(ies) for up to %u "
                  "ms",
                  c->n_deliveries, c->t.grace_ms);
        c->grace = 1;
        comp_timer_arm(c->grace_timer, c->t.grace_ms);
        comp_wake_drain(c);
        return;
    }
    comp_close_stream(c);
}

/* READY -> CLOSING: leave the rooms and close our stream. */
static void comp_close_stream(struct comp *c)
{
    c->grace = 0;
    evtimer_del(c->grace_timer);
    xlog_info("comp", "shutdown: leaving rooms and closing the stream");
    comp_rooms_leave_all(c);
    comp_rooms_reset(c);
    evtimer_del(c->keepalive);
    evtimer_del(c->ping);
    c->ping_id[0] = '\0';
    comp_send_raw(c, "</stream:stream>", 16);
    /* The write callback must fire when the output is empty. */
    bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
    comp_set_state(c, COMP_CLOSING);
}

static int comp_str_differs(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

int comp_reload(struct comp *c, const struct conf *cfg)
{
    const struct conf *old;
    struct comp_timing def;
    char *parent;
    const char *dot;
    int relink;

    if (!c || !cfg || !cfg->domain || !cfg->server || !cfg->secret)
        return XMTA_E_INVAL;
    old = c->cfg;
    relink = comp_str_differs(old->domain, cfg->domain) ||
             comp_str_differs(old->server, cfg->server) ||
             old->port != cfg->port ||
             comp_str_differs(old->secret, cfg->secret) ||
             old->tls != cfg->tls || old->tls_verify != cfg->tls_verify ||
             comp_str_differs(old->tls_ca, cfg->tls_ca) ||
             comp_str_differs(old->tls_name, cfg->tls_name);
    if (comp_str_differs(old->spool_path, cfg->spool_path))
        xlog_warn("comp",
                  "reload: [spool] path changes only with a restart; "
                  "still using %s",
                  old->spool_path ? old->spool_path : "none");
    dot = strchr(cfg->domain, '.');
    if (!(parent = strdup(dot && dot[1] ? dot + 1 : cfg->domain)))
        return XMTA_E_NOMEM;
    /* Timers that come from the file follow it; the others stay. */
    comp_timing_default(cfg, &def);
    if (old->keepalive != cfg->keepalive)
        c->t.keepalive_ms = def.keepalive_ms;
    if (old->ping_interval != cfg->ping_interval ||
        old->ping_timeout != cfg->ping_timeout) {
        c->t.ping_interval_ms = def.ping_interval_ms;
        c->t.ping_timeout_ms = def.ping_timeout_ms;
        c->t.read_timeout_ms = def.read_timeout_ms;
    }
    c->cfg = cfg;
    /* The spool path stays what was opened (the bots read it too). */
    free(c->parent);
    c->parent = parent;
    /* The bots borrow their hooks from the conf: build them again (their
     * subscriptions come back from the spool directory's file, or from
     * memory). */
    if (comp_bots_reload(c) != 0)
        xlog_error("comp", "reload: out of memory building the bots");
    /* Rooms added, removed (left), passwords changed (rooms.c). */
    comp_rooms_reload(c);
    comp_life_reload(c); /* heartbeat timers follow the hooks */
    if (relink && c->started && !c->stopping && c->state != COMP_IDLE) {
        xlog_warn("comp", "reload: [component] changed: reconnecting");
        c->failures = 0;
        comp_link_fail(c, "configuration reloaded");
        c->idle_delay_ms = 0;
        comp_set_state(c, COMP_IDLE); /* at once, with the new settings */
    } else if (c->state == COMP_READY) {
        comp_wake_drain(c);
    }
    return 0;
}

void comp_get_timing(const struct comp *c, struct comp_timing *t)
{
    if (c && t)
        *t = c->t;
}

void comp_set_timing(struct comp *c, const struct comp_timing *t)
{
    if (c && t)
        c->t = *t;
}

void comp_free(struct comp *c)
{
    if (!c)
        return;
    comp_link_close(c);
    if (c->dns) {
        if (c->dns->lookups == 0) {
            evdns_base_free(c->dns->dns, 0);
            free(c->dns);
        } else {
            c->dns->orphaned = 1; /* the last callback frees it */
        }
    }
    comp_replies_free(c);
    comp_outbox_free(c);
    comp_life_free(c);
    comp_storm_free(c);
    comp_rooms_free(c);
    if (c->deadline)
        event_free(c->deadline);
    if (c->keepalive)
        event_free(c->keepalive);
    if (c->ping)
        event_free(c->ping);
    if (c->drain)
        event_free(c->drain);
    if (c->done_ev)
        event_free(c->done_ev);
    if (c->commit)
        event_free(c->commit);
    if (c->ack_timer)
        event_free(c->ack_timer);
    if (c->expire)
        event_free(c->expire);
    if (c->grace_timer)
        event_free(c->grace_timer);
    free(c->parent);
    free(c);
}
