/* SPDX-License-Identifier: MIT */
/* fake_server.c -- the scripted fake XMPP server (see fake_server.h). It
 * reads the component's stream with the project's xml_stream parser and
 * computes the handshake digest with OpenSSL's SHA1() itself, so a wrong
 * digest in the component is caught here. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/sha.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "test/fake/fake_server.h"
#include "xml/xml.h"

#define NS_PING "urn:xmpp:ping"
#define NS_MUC "http://jabber.org/protocol/muc"

struct fake_record {
    unsigned conn;
    char *xml;
    struct xml_node *node;
};

struct fake_conn {
    TAILQ_ENTRY(fake_conn) link;
    struct fake_server *fs;
    struct bufferevent *bev;
    struct xml_stream *xs;
    unsigned index; /* 1 for the first connection */
    enum fake_mode mode;
    int hs_seen; /* the component's <handshake> arrived */
    int authed;  /* we sent <handshake/> */
    int closing; /* close once everything is flushed */
    char id[32];
    struct evbuffer *trickle; /* bytewise: bytes still to send */
    struct event *tick;       /* bytewise: one byte per tick */
    struct event *hs_timer;   /* delayed <handshake/> */
    struct event *close_ev;   /* closes from the loop */
};
TAILQ_HEAD(fake_conns, fake_conn);

struct fake_server {
    struct event_base *base;
    struct evconnlistener *lis;
    struct fake_opts o;
    unsigned short port;
    struct fake_conns conns;
    unsigned n_conns, n_open, n_auths, n_bad, n_pings, n_closes;
    unsigned preauth_stanzas;
    size_t preauth_bytes;
    char *header_to;
    int header_version;
    struct fake_record *rec;
    size_t n_rec, cap_rec;
};

/* ---- output ------------------------------------------------------------- */

static void fake_conn_maybe_close(struct fake_conn *fc)
{
    if (fc->closing && evbuffer_get_length(fc->trickle) == 0 &&
        evbuffer_get_length(bufferevent_get_output(fc->bev)) == 0)
        event_active(fc->close_ev, EV_TIMEOUT, 1);
}

static void fake_on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct fake_conn *fc = arg;
    struct timeval ms = {0, 1000};
    char b;

    if (evbuffer_remove(fc->trickle, &b, 1) == 1)
        bufferevent_write(fc->bev, &b, 1);
    if (evbuffer_get_length(fc->trickle) > 0)
        evtimer_add(fc->tick, &ms);
}

static void fake_write(struct fake_conn *fc, const char *data, size_t len)
{
    if (!fc->fs->o.bytewise) {
        bufferevent_write(fc->bev, data, len);
        return;
    }
    evbuffer_add(fc->trickle, data, len);
    if (!evtimer_pending(fc->tick, NULL)) {
        struct timeval ms = {0, 1000};

        evtimer_add(fc->tick, &ms);
    }
}

static void fake_write_str(struct fake_conn *fc, const char *s)
{
    fake_write(fc, s, strlen(s));
}

static void fake_write_node(struct fake_conn *fc, struct xml_node *n)
{
    size_t len = 0;
    char *s = n ? xml_node_serialize(n, &len) : NULL;

    if (s)
        fake_write(fc, s, len);
    free(s);
    xml_node_free(n);
}

static void fake_close_later(struct fake_conn *fc)
{
    fc->closing = 1;
    bufferevent_disable(fc->bev, EV_READ);
    fake_conn_maybe_close(fc);
}

/* <stream:error><COND/><text>TEXT</text></stream:error></stream:stream>,
 * then close, as servers do. cond comes from the tests. */
static void
fake_stream_error(struct fake_conn *fc, const char *cond, const char *text)
{
    fake_write_str(fc, "<stream:error><");
    fake_write_str(fc, cond);
    fake_write_str(fc, " xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>");
    if (text) {
        char *esc = xml_escape(text, strlen(text));

        fake_write_str(fc,
                       "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>");
        fake_write_str(fc, esc ? esc : "");
        fake_write_str(fc, "</text>");
        free(esc);
    }
    fake_write_str(fc, "</stream:error></stream:stream>");
    fake_close_later(fc);
}

/* ---- recording ---------------------------------------------------------- */

static void
fake_record(struct fake_server *fs, unsigned conn, const struct xml_node *st)
{
    if (fs->n_rec == fs->cap_rec) {
        size_t cap = fs->cap_rec ? 2 * fs->cap_rec : 64;
        struct fake_record *v = realloc(fs->rec, cap * sizeof(*v));

        if (!v)
            abort();
        fs->rec = v;
        fs->cap_rec = cap;
    }
    fs->rec[fs->n_rec].conn = conn;
    if (fs->o.light) { /* the element and its attributes, no content */
        static const char *const attrs[] = {"id", "type", "from", "to"};
        struct xml_node *n = xml_node_new(xml_node_name(st), xml_node_ns(st));

        for (size_t i = 0; n && i < sizeof(attrs) / sizeof(attrs[0]); i++)
            xml_node_set_attr(n, attrs[i], xml_node_attr(st, attrs[i]));
        fs->rec[fs->n_rec].node = n;
        fs->rec[fs->n_rec].xml = n ? xml_node_serialize(n, NULL) : NULL;
    } else {
        fs->rec[fs->n_rec].xml = xml_node_serialize(st, NULL);
        fs->rec[fs->n_rec].node = xml_node_copy(st);
    }
    if (!fs->rec[fs->n_rec].xml || !fs->rec[fs->n_rec].node)
        abort();
    fs->n_rec++;
}

/* ---- the component's stream --------------------------------------------- */

static void fake_accept_handshake(struct fake_conn *fc)
{
    fc->authed = 1;
    fc->fs->n_auths++;
    fake_write_str(fc, "<handshake/>");
}

static void fake_on_hs_timer(evutil_socket_t fd, short what, void *arg)
{
    fake_accept_handshake(arg);
}

static int fake_cb_open(void *ud, const struct xml_node *h)
{
    struct fake_conn *fc = ud;
    struct fake_server *fs = fc->fs;
    const char *to = xml_node_attr(h, "to");

    free(fs->header_to);
    fs->header_to = strdup(to ? to : "");
    fs->header_version = xml_node_attr(h, "version") != NULL;
    if (fc->mode == FAKE_SILENT)
        return 0;
    fake_write_str(fc, "<?xml version='1.0'?><stream:stream "
                       "xmlns:stream='http://etherx.jabber.org/streams' "
                       "xml:lang='en' xmlns='jabber:component:accept' id='");
    fake_write_str(fc, fc->id);
    fake_write_str(fc, "' from='");
    fake_write_str(fc, fs->o.domain);
    fake_write_str(fc, "'>");
    if (!to || strcmp(to, fs->o.domain) != 0)
        fake_stream_error(fc, "host-unknown", "no such component");
    return 0;
}

static int fake_digest_ok(const struct fake_conn *fc, const char *got)
{
    unsigned char md[SHA_DIGEST_LENGTH];
    char buf[512], hex[2 * SHA_DIGEST_LENGTH + 1];

    snprintf(buf, sizeof(buf), "%s%s", fc->id, fc->fs->o.secret);
    SHA1((const unsigned char *)buf, strlen(buf), md);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return strcmp(got, hex) == 0;
}

static void fake_on_handshake(struct fake_conn *fc, const struct xml_node *st)
{
    struct fake_server *fs = fc->fs;
    char *text = xml_node_text(st);

    fc->hs_seen = 1;
    if (fc->mode == FAKE_CLOSE_MID) {
        fake_write_str(fc, "<message from='juliet@localhost' to='");
        fake_write_str(fc, fs->o.domain);
        fake_write_str(fc, "'><body>half a sta");
        fake_close_later(fc);
    } else if (!text || !fake_digest_ok(fc, text) || xml_node_first_child(st)) {
        fs->n_bad++;
        fake_stream_error(fc, "not-authorized",
                          "Given token does not match calculated token");
    } else if (fc->mode == FAKE_STREAM_ERROR) {
        fake_stream_error(
            fc, fs->o.err_condition ? fs->o.err_condition : "conflict",
            fs->o.err_text);
    } else if (fs->o.handshake_delay_ms) {
        struct timeval tv = {0, (suseconds_t)fs->o.handshake_delay_ms * 1000};

        tv.tv_sec = tv.tv_usec / 1000000;
        tv.tv_usec %= 1000000;
        evtimer_add(fc->hs_timer, &tv);
    } else {
        fake_accept_handshake(fc);
    }
    free(text);
}

/* A reply with from and to swapped. */
static struct xml_node *
fake_reply(const struct xml_node *st, const char *name, const char *type)
{
    struct xml_node *r = xml_node_new(name, NULL);

    xml_node_set_attr(r, "type", type);
    xml_node_set_attr(r, "id", xml_node_attr(st, "id"));
    xml_node_set_attr(r, "from", xml_node_attr(st, "to"));
    xml_node_set_attr(r, "to", xml_node_attr(st, "from"));
    return r;
}

static void fake_on_join(struct fake_conn *fc, const struct xml_node *st)
{
    struct xml_node *p = fake_reply(st, "presence", NULL), *x, *item;
    const struct fake_opts *o = &fc->fs->o;

    if (o->muc_error) {
        x = xml_node_add_child(p, "error", NULL);
        xml_node_set_attr(x, "type",
                          o->muc_error_type ? o->muc_error_type : "cancel");
        xml_node_add_child(x, o->muc_error,
                           "urn:ietf:params:xml:ns:xmpp-stanzas");
        xml_node_set_attr(p, "type", "error");
        fake_write_node(fc, p);
        return;
    }
    xml_node_set_attr(p, "type", NULL);
    x = xml_node_add_child(p, "x", "http://jabber.org/protocol/muc#user");
    item = xml_node_add_child(x, "item", NULL);
    xml_node_set_attr(item, "affiliation", "member");
    xml_node_set_attr(item, "role", "participant");
    xml_node_set_attr(item, "jid", xml_node_attr(st, "from"));
    xml_node_set_attr(xml_node_add_child(x, "status", NULL), "code", "110");
    if (o->muc_status)
        xml_node_set_attr(xml_node_add_child(x, "status", NULL), "code",
                          o->muc_status);
    fake_write_node(fc, p);
}

static int fake_cb_stanza(void *ud, const struct xml_node *st)
{
    struct fake_conn *fc = ud;
    struct fake_server *fs = fc->fs;
    const char *name = xml_node_name(st);
    const char *type = xml_node_attr(st, "type");
    const struct xml_node *q = xml_node_first_child(st);

    fake_record(fs, fc->index, st);
    if (strcmp(name, "handshake") == 0) {
        if (!fc->hs_seen && !fc->authed)
            fake_on_handshake(fc, st);
        return 0;
    }
    if (!fc->authed) {
        fs->preauth_stanzas++;
        return 0;
    }
    if (strcmp(name, "iq") == 0 && type && strcmp(type, "get") == 0 && q &&
        strcmp(xml_node_name(q), "ping") == 0 && xml_node_ns(q) &&
        strcmp(xml_node_ns(q), NS_PING) == 0) {
        const char *to = xml_node_attr(st, "to");
        int occupant = to && strchr(to, '@') && strchr(to, '/');

        fs->n_pings++;
        if (occupant && fs->o.muc_ping_ignore) {
            /* no answer */
        } else if (occupant && fs->o.muc_ping_error) {
            struct xml_node *r = fake_reply(st, "iq", "error"), *e;

            e = xml_node_add_child(r, "error", NULL);
            xml_node_set_attr(e, "type", "cancel");
            xml_node_add_child(e, fs->o.muc_ping_error,
                               "urn:ietf:params:xml:ns:xmpp-stanzas");
            fake_write_node(fc, r);
        } else if (fc->mode != FAKE_IGNORE_PINGS) {
            fake_write_node(fc, fake_reply(st, "iq", "result"));
        }
    } else if (strcmp(name, "presence") == 0 && !type && fs->o.muc_auto &&
               xml_node_child(st, "x", NS_MUC)) {
        fake_on_join(fc, st);
    }
    return 0;
}

static int fake_cb_close(void *ud)
{
    struct fake_conn *fc = ud;

    fc->fs->n_closes++;
    if (fc->fs->o.no_close_reply)
        return 1;
    fake_write_str(fc, "</stream:stream>");
    fake_close_later(fc);
    return 1;
}

/* ---- connections -------------------------------------------------------- */

static void fake_conn_free(struct fake_conn *fc)
{
    struct fake_server *fs = fc->fs;

    TAILQ_REMOVE(&fs->conns, fc, link);
    fs->n_open--;
    bufferevent_free(fc->bev);
    xml_stream_free(fc->xs);
    evbuffer_free(fc->trickle);
    event_free(fc->tick);
    event_free(fc->hs_timer);
    event_free(fc->close_ev);
    free(fc);
}

static void fake_on_close_ev(evutil_socket_t fd, short what, void *arg)
{
    fake_conn_free(arg);
}

static void fake_on_read(struct bufferevent *bev, void *arg)
{
    struct fake_conn *fc = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char buf[4096];
    int n;

    while ((n = evbuffer_remove(in, buf, sizeof(buf))) > 0) {
        if (fc->hs_seen && !fc->authed)
            fc->fs->preauth_bytes += (size_t)n;
        if (!fc->xs)
            continue;
        if (xml_stream_feed(fc->xs, buf, (size_t)n) != 0) {
            xml_stream_free(fc->xs); /* stopped after the close, or bad */
            fc->xs = NULL;
        }
    }
}

static void fake_on_write(struct bufferevent *bev, void *arg)
{
    fake_conn_maybe_close(arg);
}

static void fake_on_event(struct bufferevent *bev, short what, void *arg)
{
    struct fake_conn *fc = arg;

    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        event_active(fc->close_ev, EV_TIMEOUT, 1);
}

static void fake_on_accept(struct evconnlistener *lis,
                           evutil_socket_t fd,
                           struct sockaddr *sa,
                           int socklen,
                           void *arg)
{
    static const struct xml_stream_cbs cbs = {fake_cb_open, fake_cb_stanza,
                                              fake_cb_close};
    struct fake_server *fs = arg;
    struct fake_conn *fc = calloc(1, sizeof(*fc));

    if (!fc)
        abort();
    fc->fs = fs;
    fc->index = ++fs->n_conns;
    fc->mode = fs->o.mode_conns == 0 || fc->index <= fs->o.mode_conns
                   ? fs->o.mode
                   : FAKE_NORMAL;
    snprintf(fc->id, sizeof(fc->id), "fake-%u-%u", fc->index,
             (unsigned)(fc->index * 2654435761u));
    fc->bev = bufferevent_socket_new(fs->base, fd, BEV_OPT_CLOSE_ON_FREE);
    fc->xs = xml_stream_new(&cbs, fc, NULL);
    fc->trickle = evbuffer_new();
    fc->tick = evtimer_new(fs->base, fake_on_tick, fc);
    fc->hs_timer = evtimer_new(fs->base, fake_on_hs_timer, fc);
    fc->close_ev = event_new(fs->base, -1, 0, fake_on_close_ev, fc);
    if (!fc->bev || !fc->xs || !fc->trickle || !fc->tick || !fc->hs_timer ||
        !fc->close_ev)
        abort();
    TAILQ_INSERT_TAIL(&fs->conns, fc, link);
    fs->n_open++;
    bufferevent_setcb(fc->bev, fake_on_read, fake_on_write, fake_on_event, fc);
    bufferevent_enable(fc->bev, EV_READ | EV_WRITE);
}

/* ---- public ------------------------------------------------------------- */

struct fake_server *fake_new(struct event_base *base, const struct fake_opts *o)
{
    struct fake_server *fs = calloc(1, sizeof(*fs));
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);

    if (!fs)
        return NULL;
    fs->base = base;
    fs->o = *o;
    TAILQ_INIT(&fs->conns);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = 0;
    fs->lis = evconnlistener_new_bind(base, fake_on_accept, fs,
                                      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                                      -1, (struct sockaddr *)&sin, sizeof(sin));
    if (!fs->lis || getsockname(evconnlistener_get_fd(fs->lis),
                                (struct sockaddr *)&sin, &len) != 0) {
        fake_free(fs);
        return NULL;
    }
    fs->port = ntohs(sin.sin_port);
    return fs;
}

void fake_free(struct fake_server *fs)
{
    struct fake_conn *fc;

    if (!fs)
        return;
    while ((fc = TAILQ_FIRST(&fs->conns)))
        fake_conn_free(fc);
    if (fs->lis)
        evconnlistener_free(fs->lis);
    for (size_t i = 0; i < fs->n_rec; i++) {
        free(fs->rec[i].xml);
        xml_node_free(fs->rec[i].node);
    }
    free(fs->rec);
    free(fs->header_to);
    free(fs);
}

unsigned short fake_port(const struct fake_server *fs)
{
    return fs->port;
}

struct fake_opts *fake_options(struct fake_server *fs)
{
    return &fs->o;
}

unsigned fake_connections(const struct fake_server *fs)
{
    return fs->n_conns;
}

unsigned fake_open(const struct fake_server *fs)
{
    return fs->n_open;
}

unsigned fake_auths(const struct fake_server *fs)
{
    return fs->n_auths;
}

unsigned fake_bad_auths(const struct fake_server *fs)
{
    return fs->n_bad;
}

unsigned fake_pings(const struct fake_server *fs)
{
    return fs->n_pings;
}

unsigned fake_closes(const struct fake_server *fs)
{
    return fs->n_closes;
}

unsigned fake_preauth_stanzas(const struct fake_server *fs)
{
    return fs->preauth_stanzas;
}

size_t fake_preauth_bytes(const struct fake_server *fs)
{
    return fs->preauth_bytes;
}

const char *fake_header_to(const struct fake_server *fs)
{
    return fs->header_to;
}

int fake_header_version(const struct fake_server *fs)
{
    return fs->header_version;
}

size_t fake_count(const struct fake_server *fs)
{
    return fs->n_rec;
}

const struct xml_node *fake_stanza(const struct fake_server *fs, size_t i)
{
    return i < fs->n_rec ? fs->rec[i].node : NULL;
}

const char *fake_stanza_xml(const struct fake_server *fs, size_t i)
{
    return i < fs->n_rec ? fs->rec[i].xml : NULL;
}

unsigned fake_stanza_conn(const struct fake_server *fs, size_t i)
{
    return i < fs->n_rec ? fs->rec[i].conn : 0;
}

static int fake_match(const struct xml_node *n,
                      const char *name,
                      const char *attr,
                      const char *value)
{
    const char *v;

    if (strcmp(xml_node_name(n), name) != 0)
        return 0;
    if (!attr)
        return 1;
    v = xml_node_attr(n, attr);
    return value ? v && strcmp(v, value) == 0 : v == NULL;
}

size_t fake_count_named(const struct fake_server *fs,
                        const char *name,
                        const char *attr,
                        const char *value)
{
    size_t n = 0;

    for (size_t i = 0; i < fs->n_rec; i++)
        n += fake_match(fs->rec[i].node, name, attr, value);
    return n;
}

const struct xml_node *fake_find(const struct fake_server *fs,
                                 const char *name,
                                 const char *attr,
                                 const char *value,
                                 size_t nth)
{
    for (size_t i = 0; i < fs->n_rec; i++)
        if (fake_match(fs->rec[i].node, name, attr, value) && nth-- == 0)
            return fs->rec[i].node;
    return NULL;
}

int fake_send(struct fake_server *fs, const char *raw)
{
    struct fake_conn *fc = TAILQ_LAST(&fs->conns, fake_conns);

    while (fc && fc->closing)
        fc = TAILQ_PREV(fc, fake_conns, link);
    if (!fc)
        return -1;
    fake_write_str(fc, raw);
    return 0;
}

void fake_pause(struct fake_server *fs, int paused)
{
    struct fake_conn *fc;

    TAILQ_FOREACH (fc, &fs->conns, link) {
        if (paused)
            bufferevent_disable(fc->bev, EV_READ);
        else if (!fc->closing)
            bufferevent_enable(fc->bev, EV_READ);
    }
}

void fake_kick(struct fake_server *fs)
{
    struct fake_conn *fc;

    while ((fc = TAILQ_FIRST(&fs->conns)))
        fake_conn_free(fc);
}

uint64_t fake_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int fake_run_until(struct event_base *base,
                   int (*pred)(void *),
                   void *arg,
                   unsigned ms)
{
    uint64_t end = fake_now_ms() + ms;

    for (;;) {
        struct timeval slice = {0, 5000};

        if (pred && pred(arg))
            return 1;
        if (fake_now_ms() >= end)
            return pred ? pred(arg) : 1;
        event_base_loopexit(base, &slice);
        event_base_dispatch(base);
    }
}
