/* SPDX-License-Identifier: MIT */
/* bench_sink.c -- the sink XMPP server of the benchmark: the server side
 * of XEP-0114 (stream header, the handshake digest checked), answers
 * pings so that acknowledgements flow, and discards everything else
 * without parsing it: after the handshake it only looks for "<iq "
 * (answered when a ping) and counts "<message ". xmta's serializer writes
 * '<' in text and attributes as "&lt;", so these only ever start an
 * element. Issue 8 asks for a sink that "reads and discards as fast as
 * possible" so that the ingest figure is xmta's own: the fake server
 * used before parsed and recorded every stanza, which cost about a third
 * of xmta's own CPU per webhook on the same two cores.
 * Prints "port N" once listening, "messages N" when SIGTERM ends it.
 *   bench_sink DOMAIN SECRET */
#define _GNU_SOURCE /* memmem */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/sha.h>

#define SINK_HEADER_MAX (64 * 1024) /* bytes before the handshake */

enum sink_state { SINK_HEADER, SINK_HANDSHAKE, SINK_READY, SINK_CLOSING };

struct sink {
    const char *domain, *secret;
    unsigned long conns;
    unsigned long long messages, pings;
};

struct sink_conn {
    struct sink *s;
    struct bufferevent *bev;
    enum sink_state state;
    char id[32];
};

static void sink_close(struct sink_conn *c)
{
    bufferevent_free(c->bev);
    free(c);
}

static void sink_write(struct sink_conn *c, const char *s, size_t n)
{
    bufferevent_write(c->bev, s, n);
}

static void sink_puts(struct sink_conn *c, const char *s)
{
    sink_write(c, s, strlen(s));
}

/* The value of name='...' (or "...") in the start tag [tag, end): its
 * start and length, or NULL. */
static const char *
attr_get(const char *tag, const char *end, const char *name, size_t *len)
{
    size_t n = strlen(name);

    for (const char *p = tag; p + n + 3 < end; p++) {
        const char *q, *v;

        if (p[0] != ' ' || memcmp(p + 1, name, n) != 0 || p[n + 1] != '=' ||
            (p[n + 2] != '\'' && p[n + 2] != '"'))
            continue;
        v = p + n + 3;
        if (!(q = memchr(v, p[n + 2], (size_t)(end - v))))
            return NULL;
        *len = (size_t)(q - v);
        return v;
    }
    return NULL;
}

/* One <iq ...> element [iq, stop) whose start tag ends at gt: a ping
 * (type get with a <ping/>) gets its result, from and to swapped. */
static void sink_on_iq(struct sink_conn *c,
                       const char *iq,
                       const char *gt,
                       const char *stop)
{
    const char *type, *id, *from, *to;
    size_t tl, il, fl, ol;

    type = attr_get(iq, gt, "type", &tl);
    id = attr_get(iq, gt, "id", &il);
    from = attr_get(iq, gt, "from", &fl);
    to = attr_get(iq, gt, "to", &ol);
    if (!type || tl != 3 || memcmp(type, "get", 3) != 0 || !id || !from ||
        !to || !memmem(gt, (size_t)(stop - gt), "<ping", 5))
        return;
    c->s->pings++;
    sink_puts(c, "<iq type='result' id='");
    sink_write(c, id, il);
    sink_puts(c, "' from='");
    sink_write(c, to, ol);
    sink_puts(c, "' to='");
    sink_write(c, from, fl);
    sink_puts(c, "'/>");
}

/* After the handshake: pings answered, messages counted, the rest
 * dropped. What may be the start of an element cut by the read stays. */
static void sink_ready(struct sink_conn *c, struct evbuffer *in)
{
    size_t len = evbuffer_get_length(in);
    const char *d = (const char *)evbuffer_pullup(in, -1), *end = d + len;
    const char *p, *keep = len > 16 ? end - 16 : d;

    for (p = d; (p = memmem(p, (size_t)(end - p), "<iq ", 4));) {
        const char *gt = memchr(p, '>', (size_t)(end - p)), *stop = NULL;

        if (gt && gt[-1] == '/')
            stop = gt + 1;
        else if (gt)
            stop = memmem(gt, (size_t)(end - gt), "</iq>", 5);
        if (!stop) { /* not complete yet: from here on next time */
            if (p < keep)
                keep = p;
            break;
        }
        if (stop != gt + 1)
            stop += 5;
        sink_on_iq(c, p, gt, stop);
        p = stop;
    }
    for (p = d; p < keep && (p = memmem(p, (size_t)(end - p), "<message", 8)) &&
                p < keep;
         p += 8)
        c->s->messages++;
    if (memmem(d, len, "</stream:stream>", 16)) {
        sink_puts(c, "</stream:stream>");
        c->state = SINK_CLOSING;
        evbuffer_drain(in, len);
        return;
    }
    evbuffer_drain(in, (size_t)(keep - d));
}

static int sink_digest_ok(const struct sink_conn *c, const char *got, size_t n)
{
    unsigned char md[SHA_DIGEST_LENGTH];
    char buf[512], hex[2 * SHA_DIGEST_LENGTH + 1];

    snprintf(buf, sizeof(buf), "%s%s", c->id, c->s->secret);
    SHA1((const unsigned char *)buf, strlen(buf), md);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return n == 2 * SHA_DIGEST_LENGTH && memcmp(got, hex, n) == 0;
}

static void sink_on_read(struct bufferevent *bev, void *arg)
{
    struct sink_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);

    for (;;) {
        size_t len = evbuffer_get_length(in);
        const char *d = (const char *)evbuffer_pullup(in, -1), *p, *q;

        if (!len)
            return;
        switch (c->state) {
        case SINK_HEADER:
            if (!(p = memmem(d, len, "<stream:stream", 14)) ||
                !(q = memchr(p, '>', len - (size_t)(p - d)))) {
                if (len > SINK_HEADER_MAX)
                    sink_close(c);
                return;
            }
            sink_puts(c, "<?xml version='1.0'?><stream:stream "
                         "xmlns:stream='http://etherx.jabber.org/streams' "
                         "xmlns='jabber:component:accept' id='");
            sink_puts(c, c->id);
            sink_puts(c, "' from='");
            sink_puts(c, c->s->domain);
            sink_puts(c, "'>");
            evbuffer_drain(in, (size_t)(q + 1 - d));
            c->state = SINK_HANDSHAKE;
            break;
        case SINK_HANDSHAKE:
            if (!(p = memmem(d, len, "<handshake>", 11)) ||
                !(q = memmem(p, len - (size_t)(p - d), "</handshake>", 12))) {
                if (len > SINK_HEADER_MAX)
                    sink_close(c);
                return;
            }
            if (!sink_digest_ok(c, p + 11, (size_t)(q - p - 11))) {
                sink_puts(c, "<stream:error><not-authorized "
                             "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                             "</stream:error></stream:stream>");
                c->state = SINK_CLOSING;
                evbuffer_drain(in, len);
                return;
            }
            sink_puts(c, "<handshake/>");
            evbuffer_drain(in, (size_t)(q + 12 - d));
            c->state = SINK_READY;
            break;
        case SINK_READY:
            sink_ready(c, in);
            return;
        case SINK_CLOSING:
            evbuffer_drain(in, len);
            return;
        }
    }
}

static void sink_on_write(struct bufferevent *bev, void *arg)
{
    struct sink_conn *c = arg;

    if (c->state == SINK_CLOSING)
        sink_close(c); /* everything written */
}

static void sink_on_event(struct bufferevent *bev, short what, void *arg)
{
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        sink_close(arg);
}

static void sink_on_accept(struct evconnlistener *l,
                           evutil_socket_t fd,
                           struct sockaddr *sa,
                           int salen,
                           void *arg)
{
    struct sink *s = arg;
    struct sink_conn *c = calloc(1, sizeof(*c));

    if (!c || !(c->bev = bufferevent_socket_new(evconnlistener_get_base(l), fd,
                                                BEV_OPT_CLOSE_ON_FREE))) {
        evutil_closesocket(fd);
        free(c);
        return;
    }
    c->s = s;
    snprintf(c->id, sizeof(c->id), "sink%lu", ++s->conns);
    bufferevent_setcb(c->bev, sink_on_read, sink_on_write, sink_on_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void on_term(evutil_socket_t sig, short what, void *arg)
{
    event_base_loopexit(arg, NULL);
}

int main(int argc, char **argv)
{
    struct sink s = {0};
    struct event_base *base;
    struct evconnlistener *l;
    struct sockaddr_in sin = {0};
    socklen_t sl = sizeof(sin);
    struct event *term;

    if (argc != 3) {
        fprintf(stderr, "usage: bench_sink DOMAIN SECRET\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    s.domain = argv[1];
    s.secret = argv[2];
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (!(base = event_base_new()) ||
        !(l = evconnlistener_new_bind(base, sink_on_accept, &s,
                                      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                                      16, (struct sockaddr *)&sin,
                                      sizeof(sin))) ||
        getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&sin, &sl)) {
        fprintf(stderr, "bench_sink: cannot listen\n");
        return 1;
    }
    term = evsignal_new(base, SIGTERM, on_term, base);
    evsignal_add(term, NULL);
    printf("port %u\n", (unsigned)ntohs(sin.sin_port));
    fflush(stdout);
    event_base_dispatch(base);
    printf("messages %llu\n", s.messages);
    evconnlistener_free(l);
    event_free(term);
    event_base_free(base);
    return 0;
}
