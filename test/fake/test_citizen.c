/* SPDX-License-Identifier: MIT */
/* test_citizen.c -- the component as a good XMPP citizen, against the
 * scripted fake server: disco, ping, version and vCard answers, never an
 * error to results, errors or rooms; presence subscriptions, probes, their
 * store in the spool directory, presence after the handshake and on
 * shutdown; the help reply; every MUC error condition (join errors, 201,
 * final and temporary removals, passwords, XEP-0410 self-ping). Short
 * timings through comp_set_timing(); every loop is bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <event2/event.h>

#include "component/component.h"
#include "conf/conf.h"
#include "test/fake/fake_env.h"
#include "test/fake/fake_server.h"
#include "xml/err.h"
#include "xml/msg.h"
#include "xml/xml.h"

#define DOMAIN "notify.localhost"
#define SECRET "s3cret-for-tests"
#define BOT_BARE "bot@" DOMAIN
#define BOT_FULL "bot@" DOMAIN "/xmta"
#define ROOM "ops@conference.localhost"
#define USER "juliet@localhost"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"

/* A 1x1 PNG and the SHA-1 of its bytes. */
static const unsigned char png[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d,
    0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,
    0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00,
    0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x64, 0x60, 0xf8, 0x5f,
    0x0f, 0x00, 0x02, 0x87, 0x01, 0x80, 0xeb, 0x47, 0xba, 0x92, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};

/* ---- loop and environment ----------------------------------------------- */

struct env {
    struct event_base *base;
    struct fake_server *fs;
    struct conf *cfg;
    struct comp *c;
    char dir[64]; /* the spool directory */
    int done;
};

struct env_opts {
    struct fake_opts fo;
    const char *hook_extra;  /* more [hook alerts] lines */
    const char *subscribers; /* initial content of the subscribers file */
};

static void env_open(struct env *e, const struct env_opts *eo)
{
    struct fake_opts fo = eo->fo;
    struct comp_timing t;

    memset(e, 0, sizeof(*e));
    fake_env_mkdtemp(e->dir, sizeof(e->dir), "citizen");
    if (eo->subscribers) {
        char path[128];
        FILE *f;

        snprintf(path, sizeof(path), "%s/subscribers", e->dir);
        assert_non_null(f = fopen(path, "w"));
        fputs(eo->subscribers, f);
        fclose(f);
    }
    fo.domain = DOMAIN;
    fo.secret = SECRET;
    fake_env_server(&e->base, &e->fs, &fo);
    fake_env_comp(e->base, e->fs, NULL, &e->cfg, &e->c,
                  "[spool]\n"
                  "path = %s\n"
                  "[http]\n"
                  "listen = 127.0.0.1:0\n" FAKE_ENV_HOOK(USER) "%s",
                  e->dir, eo->hook_extra ? eo->hook_extra : "");
    comp_get_timing(e->c, &t);
    t.selfping_ms = 0;
    comp_set_timing(e->c, &t);
}

static void env_close(struct env *e)
{
    fake_env_free(&e->base, &e->fs, &e->cfg, &e->c);
    fake_env_rmdir(e->dir);
}

static int is_ready(void *arg)
{
    struct env *e = arg;

    return comp_state(e->c) == COMP_READY;
}

static void start_ready(struct env *e)
{
    fake_env_start(e->base, e->c, 3000);
}

static const char *g_id;

static int got_iq_id(void *arg)
{
    struct env *e = arg;

    return fake_find(e->fs, "iq", "id", g_id, 0) != NULL;
}

/* A ping to the bot from the domain's server: once its result is back,
 * everything sent before it was handled. */
static void barrier(struct env *e, const char *id)
{
    char iq[256];

    snprintf(iq, sizeof(iq),
             "<iq type='get' id='%s' from='localhost' to='" BOT_FULL "'>"
             "<ping xmlns='urn:xmpp:ping'/></iq>",
             id);
    assert_int_equal(fake_send(e->fs, iq), 0);
    g_id = id;
    assert_true(fake_run_until(e->base, got_iq_id, e, 3000));
}

static void
assert_attr(const struct xml_node *n, const char *name, const char *want)
{
    const char *v = xml_node_attr(n, name);

    assert_non_null(n);
    if (!want) {
        assert_null(v);
        return;
    }
    assert_non_null(v);
    assert_string_equal(v, want);
}

static void
assert_child_text(const struct xml_node *n, const char *name, const char *want)
{
    const struct xml_node *k = xml_node_child(n, name, NULL);
    char *t;

    assert_non_null(k);
    t = xml_node_text(k);
    assert_non_null(t);
    assert_string_equal(t, want);
    free(t);
}

/* The iq answering id: asserts it exists and has type. */
static const struct xml_node *
reply(struct env *e, const char *id, const char *type)
{
    const struct xml_node *r = fake_find(e->fs, "iq", "id", id, 0);

    assert_non_null(r);
    assert_attr(r, "type", type);
    return r;
}

static const struct xml_node *error_cond(const struct xml_node *st,
                                         const char *cond)
{
    const struct xml_node *e = xml_node_child(st, "error", NULL);

    assert_non_null(e);
    assert_non_null(xml_node_child(e, cond, NS_STANZAS));
    return e;
}

/* Presence stanzas sent with this type (NULL: available) and to. */
static size_t
count_presence(struct env *e, const char *type, const char *to_prefix)
{
    size_t n = 0;

    for (size_t i = 0; i < fake_count(e->fs); i++) {
        const struct xml_node *p = fake_stanza(e->fs, i);
        const char *t = xml_node_attr(p, "type");
        const char *to = xml_node_attr(p, "to");

        if (strcmp(xml_node_name(p), "presence") != 0)
            continue;
        if ((type == NULL) != (t == NULL) || (type && strcmp(type, t) != 0))
            continue;
        if (to_prefix && (!to || strncmp(to, to_prefix, strlen(to_prefix))))
            continue;
        n++;
    }
    return n;
}

static char *read_file(const char *dir, const char *name)
{
    char path[128], *buf = calloc(1, 4096);
    FILE *f;

    assert_non_null(buf);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (!(f = fopen(path, "r")))
        return buf;
    (void)!fread(buf, 1, 4095, f);
    fclose(f);
    return buf;
}

/* ---- iq ----------------------------------------------------------------- */

static void test_iq_answers(void **state)
{
    struct env_opts eo = {0};
    const struct xml_node *r, *q, *id;
    struct env e;
    size_t before;

    eo.hook_extra = "room = " ROOM "\n";
    env_open(&e, &eo);
    start_ready(&e);
    assert_int_equal(
        fake_send(
            e.fs,
            "<iq type='get' id='d1' from='" USER "/pc' to='" DOMAIN "'>"
            "<query xmlns='" NS_DISCO_INFO "'/></iq>"
            "<iq type='get' id='d2' from='" USER "/pc' to='" DOMAIN "'>"
            "<query xmlns='" NS_DISCO_ITEMS "'/></iq>"
            "<iq type='get' id='d3' from='" USER "/pc' to='" BOT_BARE "'>"
            "<query xmlns='" NS_DISCO_INFO "'/></iq>"
            "<iq type='get' id='d4' from='" USER "/pc' to='" BOT_BARE "'>"
            "<query xmlns='" NS_DISCO_INFO "' node='x'/></iq>"
            "<iq type='get' id='v1' from='" USER "/pc' to='" BOT_FULL "'>"
            "<query xmlns='jabber:iq:version'/></iq>"
            "<iq type='get' id='c1' from='" USER "/pc' to='" BOT_BARE "'>"
            "<vCard xmlns='vcard-temp'/></iq>"
            "<iq type='get' id='p1' from='" USER "/pc' to='" DOMAIN "'>"
            "<ping xmlns='urn:xmpp:ping'/></iq>"
            "<iq type='get' id='t1' from='" USER "/pc' to='" BOT_BARE "'>"
            "<time xmlns='urn:xmpp:time'/></iq>"
            "<iq type='get' id='u1' from='" USER "/pc' to='" BOT_BARE "'>"
            "<query xmlns='jabber:iq:private'/></iq>"
            "<iq type='set' id='u2' from='" USER "/pc' to='" BOT_BARE "'>"
            "<vCard xmlns='vcard-temp'/></iq>"
            "<iq type='get' id='n1' from='" USER "/pc' to='nobody@" DOMAIN
            "'><query xmlns='" NS_DISCO_INFO "'/></iq>"
            "<iq type='result' id='x1' from='" USER "/pc' to='" BOT_BARE "'/>"
            "<iq type='error' id='x2' from='" USER "/pc' to='" BOT_BARE
            "'><error type='cancel'><item-not-found xmlns='" NS_STANZAS
            "'/></error></iq>"
            "<iq type='get' id='x3' from='" ROOM "/alice' to='" BOT_FULL "'>"
            "<query xmlns='jabber:iq:private'/></iq>"),
        0);
    barrier(&e, "b1");
    r = reply(&e, "d1", "result");
    assert_attr(r, "from", DOMAIN);
    assert_attr(r, "to", USER "/pc");
    q = xml_node_child(r, "query", NS_DISCO_INFO);
    id = xml_node_child(q, "identity", NULL);
    assert_attr(id, "category", "component");
    assert_attr(id, "type", "generic");
    r = reply(&e, "d2", "result");
    q = xml_node_child(r, "query", NS_DISCO_ITEMS);
    assert_attr(xml_node_child(q, "item", NULL), "jid", BOT_BARE);
    assert_attr(xml_node_child(q, "item", NULL), "name", "Bot");
    r = reply(&e, "d3", "result");
    assert_attr(r, "from", BOT_BARE);
    q = xml_node_child(r, "query", NS_DISCO_INFO);
    id = xml_node_child(q, "identity", NULL); /* the first one: Dino */
    assert_attr(id, "category", "client");
    assert_attr(id, "type", "bot");
    assert_attr(id, "name", "Bot");
    {
        int vcard = 0, ping = 0;

        for (const struct xml_node *f = xml_node_first_child(q); f;
             f = xml_node_next(f)) {
            const char *var = xml_node_attr(f, "var");

            vcard += var && strcmp(var, "vcard-temp") == 0;
            ping += var && strcmp(var, "urn:xmpp:ping") == 0;
        }
        assert_int_equal(vcard, 1);
        assert_int_equal(ping, 1);
    }
    error_cond(reply(&e, "d4", "error"), "item-not-found");
    r = reply(&e, "v1", "result");
    assert_attr(r, "from", BOT_FULL);
    q = xml_node_child(r, "query", "jabber:iq:version");
    assert_child_text(q, "name", "xmta");
    assert_child_text(q, "version", XMTA_VERSION);
    r = reply(&e, "c1", "result");
    q = xml_node_child(r, "vCard", "vcard-temp");
    assert_child_text(q, "FN", "Bot");
    assert_child_text(q, "NICKNAME", "Bot");
    assert_null(xml_node_child(q, "PHOTO", NULL));
    reply(&e, "p1", "result");
    r = reply(&e, "t1", "result");
    q = xml_node_child(r, "time", "urn:xmpp:time");
    assert_child_text(q, "tzo", "+00:00");
    {
        char *utc = xml_node_text(xml_node_child(q, "utc", NULL));

        assert_non_null(utc);
        assert_int_equal(strlen(utc), 20); /* 2025-01-01T12:00:00Z */
        assert_int_equal(utc[19], 'Z');
        free(utc);
    }
    error_cond(reply(&e, "u1", "error"), "service-unavailable");
    error_cond(reply(&e, "u2", "error"), "service-unavailable");
    error_cond(reply(&e, "n1", "error"), "service-unavailable");
    /* Results and errors are never answered; nor is a room occupant
     * with an error. */
    assert_null(fake_find(e.fs, "iq", "id", "x1", 0));
    assert_null(fake_find(e.fs, "iq", "id", "x2", 0));
    assert_null(fake_find(e.fs, "iq", "id", "x3", 0));
    before = fake_count(e.fs);
    barrier(&e, "b2");
    assert_int_equal(fake_count(e.fs), before + 1);
    env_close(&e);
}

/* ---- presence ----------------------------------------------------------- */

static void test_subscription(void **state)
{
    struct env_opts eo = {0};
    const struct xml_node *p;
    struct env e;
    char *file;

    env_open(&e, &eo);
    start_ready(&e);
    assert_int_equal(fake_send(e.fs, "<presence type='subscribe' from='" USER
                                     "' to='" BOT_BARE "'/>"),
                     0);
    barrier(&e, "b1");
    p = fake_find(e.fs, "presence", "type", "subscribed", 0);
    assert_attr(p, "from", BOT_BARE);
    assert_attr(p, "to", USER);
    p = fake_find(e.fs, "presence", "to", USER, 1); /* the available one */
    assert_attr(p, "type", NULL);
    assert_attr(p, "from", BOT_FULL);
    assert_non_null(xml_node_child(p, "status", NULL));
    assert_non_null(
        xml_node_child(p, "nick", "http://jabber.org/protocol/nick"));
    p = fake_find(e.fs, "presence", "type", "subscribe", 0);
    assert_attr(p, "from", BOT_BARE);
    assert_non_null(
        xml_node_child(p, "nick", "http://jabber.org/protocol/nick"));
    file = read_file(e.dir, "subscribers");
    assert_non_null(strstr(file, "bot\t" USER "\n"));
    free(file);
    assert_int_equal(count_presence(&e, "subscribe", USER), 1);
    /* A repeated subscribe is confirmed but not asked back again. */
    assert_int_equal(fake_send(e.fs, "<presence type='subscribe' from='" USER
                                     "/pc' to='" BOT_FULL "'/>"),
                     0);
    /* A probe is answered; an unknown bot, an error, available presence
     * and our own domain as sender are ignored. */
    assert_int_equal(
        fake_send(e.fs, "<presence type='probe' id='pr1' from='" USER
                        "' to='" BOT_BARE "'/>"
                        "<presence type='subscribe' from='" USER
                        "' to='nobody@" DOMAIN "'/>"
                        "<presence type='error' from='" USER "' to='" BOT_BARE
                        "'><error type='cancel'><gone xmlns='" NS_STANZAS
                        "'/></error></presence>"
                        "<presence from='" USER "/pc' to='" BOT_BARE "'/>"),
        0);
    barrier(&e, "b2");
    assert_int_equal(count_presence(&e, "subscribed", USER), 2);
    assert_int_equal(count_presence(&e, "subscribe", USER), 1);
    assert_int_equal(count_presence(&e, NULL, USER), 3);
    assert_int_equal(fake_count_named(e.fs, "presence", "to", USER), 6);
    /* Unsubscribe: unsubscribed + unavailable, and the store forgets. */
    assert_int_equal(fake_send(e.fs, "<presence type='unsubscribe' from='" USER
                                     "' to='" BOT_BARE "'/>"),
                     0);
    barrier(&e, "b3");
    assert_int_equal(count_presence(&e, "unsubscribed", USER), 1);
    assert_int_equal(count_presence(&e, "unavailable", USER), 1);
    file = read_file(e.dir, "subscribers");
    assert_null(strstr(file, USER));
    free(file);
    env_close(&e);
}

static int is_done(void *arg)
{
    return ((struct env *)arg)->done;
}

static void on_done(void *arg)
{
    ((struct env *)arg)->done++;
}

static size_t g_want;

static int got_available(void *arg)
{
    return count_presence(arg, NULL, "romeo@") >= g_want;
}

/* The store survives a restart: available presence after every handshake,
 * unavailable on shutdown; bad lines are dropped and the file rewritten. */
static void test_subscribers_persist(void **state)
{
    struct env_opts eo = {0};
    struct env e;
    char *file;

    eo.subscribers = "# comment\n"
                     "bot\tromeo@montague.lit\n"
                     "ghost\tjuliet@capulet.lit\n"
                     "bot\tnot a jid@@\n";
    env_open(&e, &eo);
    file = read_file(e.dir, "subscribers");
    assert_non_null(strstr(file, "bot\tromeo@montague.lit\n"));
    assert_null(strstr(file, "ghost"));
    assert_null(strstr(file, "not a jid"));
    free(file);
    start_ready(&e);
    g_want = 1;
    assert_true(fake_run_until(e.base, got_available, &e, 3000));
    assert_attr(fake_find(e.fs, "presence", "to", "romeo@montague.lit", 0),
                "from", BOT_FULL);
    /* Reconnect: presence again after the new handshake. */
    fake_kick(e.fs);
    g_want = 2;
    assert_true(fake_run_until(e.base, got_available, &e, 3000));
    comp_shutdown(e.c, on_done, &e);
    assert_true(fake_run_until(e.base, is_done, &e, 3000));
    assert_int_equal(count_presence(&e, "unavailable", "romeo@"), 1);
    env_close(&e);
}

static void test_avatar(void **state)
{
    struct env_opts eo = {0};
    const struct xml_node *r, *ph, *x;
    char path[128], extra[256];
    struct env e;
    FILE *f;

    snprintf(path, sizeof(path), "/tmp/xmta-citizen-avatar-%ld.png",
             (long)getpid());
    assert_non_null(f = fopen(path, "wb"));
    assert_int_equal(fwrite(png, 1, sizeof(png), f), sizeof(png));
    fclose(f);
    snprintf(extra, sizeof(extra), "avatar = %s\nroom = " ROOM "\n", path);
    eo.hook_extra = extra;
    env_open(&e, &eo);
    unlink(path); /* read at comp_new() */
    start_ready(&e);
    assert_int_equal(fake_send(e.fs, "<iq type='get' id='c1' from='" USER
                                     "/pc' to='" BOT_BARE
                                     "'><vCard xmlns='vcard-temp'/></iq>"
                                     "<presence type='probe' from='" USER
                                     "' to='" BOT_BARE "'/>"),
                     0);
    barrier(&e, "b1");
    r = reply(&e, "c1", "result");
    ph =
        xml_node_child(xml_node_child(r, "vCard", "vcard-temp"), "PHOTO", NULL);
    assert_non_null(ph);
    assert_child_text(ph, "TYPE", "image/png");
    assert_child_text(ph, "BINVAL",
                      "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR"
                      "42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==");
    x = xml_node_child(fake_find(e.fs, "presence", "to", USER, 0), "x",
                       "vcard-temp:x:update");
    assert_non_null(x);
    assert_child_text(x, "photo", "c7a9c45fd419815a5ab1998503a9f03514c0e229");
    /* The room join advertises it too. */
    x = xml_node_child(fake_find(e.fs, "presence", "to", ROOM "/Bot", 0), "x",
                       "vcard-temp:x:update");
    assert_non_null(x);
    assert_child_text(x, "photo", "c7a9c45fd419815a5ab1998503a9f03514c0e229");
    env_close(&e);
}

/* ---- messages ----------------------------------------------------------- */

static void test_help_reply(void **state)
{
    struct env_opts eo = {0};
    const struct xml_node *m;
    struct env e;
    char *body;

    eo.hook_extra = "room = " ROOM "\n";
    env_open(&e, &eo);
    start_ready(&e);
    assert_int_equal(
        fake_send(
            e.fs,
            "<message type='chat' id='m1' from='" USER "/pc' to='" BOT_BARE
            "'><body>hello</body></message>"
            "<message type='chat' id='m2' from='" USER "/pc' to='" BOT_BARE
            "'><body>again</body></message>"
            "<message type='chat' from='romeo@localhost/x' to='" BOT_BARE
            "'><active xmlns='http://jabber.org/protocol/chatstates'/>"
            "</message>"
            "<message type='groupchat' from='" ROOM "/alice' to='" BOT_FULL
            "'><body>hi all</body></message>"
            "<message type='chat' from='" ROOM "/alice' to='" BOT_FULL
            "'><body>a private message</body></message>"
            "<message type='headline' from='romeo@localhost/x' to='" BOT_BARE
            "'><body>news</body></message>"
            "<message type='error' from='romeo@localhost/x' to='" BOT_BARE
            "'><body>x</body><error type='cancel'><gone xmlns='" NS_STANZAS
            "'/></error></message>"
            "<message from='nobody@localhost/x' to='nobody@" DOMAIN
            "'><body>to no bot</body></message>"),
        0);
    barrier(&e, "b1");
    /* One reply: to the first message only (one per sender a minute). */
    assert_int_equal(fake_count_named(e.fs, "message", NULL, NULL), 1);
    m = fake_find(e.fs, "message", NULL, NULL, 0);
    assert_attr(m, "to", USER "/pc");
    assert_attr(m, "from", BOT_BARE);
    assert_attr(m, "type", "chat");
    assert_non_null(xml_node_attr(m, "id"));
    body = xml_node_text(xml_node_child(m, "body", NULL));
    assert_non_null(body);
    assert_non_null(strstr(body, "webhook \"alerts\""));
    assert_non_null(strstr(body, USER));
    assert_non_null(strstr(body, "room " ROOM));
    free(body);
    env_close(&e);
}

/* ---- rooms -------------------------------------------------------------- */

static int got_joins(void *arg)
{
    struct env *e = arg;
    size_t n = 0;

    for (size_t i = 0; i < fake_count(e->fs); i++) {
        const struct xml_node *p = fake_stanza(e->fs, i);

        n += strcmp(xml_node_name(p), "presence") == 0 &&
             xml_node_attr(p, "type") == NULL &&
             xml_node_child(p, "x", "http://jabber.org/protocol/muc");
    }
    return n >= g_want;
}

static size_t joins(struct env *e)
{
    size_t save = g_want, n;

    for (n = 0;; n++) {
        g_want = n + 1;
        if (!got_joins(e))
            break;
    }
    g_want = save;
    return n;
}

static const char *g_state;

static int room_in_state(void *arg)
{
    struct env *e = arg;
    struct comp_room_info ri;

    return comp_room_info(e->c, 0, &ri) == 0 && strcmp(ri.state, g_state) == 0;
}

static void wait_room(struct env *e, const char *st)
{
    g_state = st;
    assert_true(fake_run_until(e->base, room_in_state, e, 3000));
}

static const char *room_error(struct env *e)
{
    struct comp_room_info ri;

    assert_int_equal(comp_room_info(e->c, 0, &ri), 0);
    return ri.error;
}

static void open_room(struct env *e, struct env_opts *eo)
{
    if (!eo->hook_extra)
        eo->hook_extra = "room = " ROOM "\n";
    eo->fo.muc_auto = 1;
    env_open(e, eo);
    start_ready(e);
}

/* Status 201: our join created the room: leave it, report, never rejoin
 * (not even after a reconnect). */
static int got_unavailable(void *arg)
{
    struct env *e = arg;

    return fake_find(e->fs, "presence", "type", "unavailable", 0) != NULL;
}

static void test_room_created(void **state)
{
    struct env_opts eo = {0};
    const struct xml_node *p;
    struct env e;

    eo.fo.muc_status = "201";
    open_room(&e, &eo);
    wait_room(&e, "failed");
    /* sent as the room fails: the fake reads it on a later loop turn */
    assert_true(fake_run_until(e.base, got_unavailable, &e, 3000));
    p = fake_find(e.fs, "presence", "type", "unavailable", 0);
    assert_attr(p, "to", ROOM "/Bot");
    assert_attr(p, "from", BOT_FULL);
    assert_non_null(strstr(room_error(&e), "201"));
    fake_kick(e.fs);
    g_want = 1;
    assert_true(fake_run_until(e.base, NULL, NULL, 300));
    assert_true(fake_run_until(e.base, is_ready, &e, 3000));
    assert_true(fake_run_until(e.base, NULL, NULL, 300));
    assert_int_equal(joins(&e), 1);
    env_close(&e);
}

/* Our unavailable self-presence from the room with inner (status codes,
 * <destroy/>) in its muc#user <x/>. */
static void removal(struct env *e, const char *inner)
{
    char st[1024];

    snprintf(st, sizeof(st),
             "<presence type='unavailable' from='" ROOM "/Bot' to='" BOT_FULL
             "'><x xmlns='http://jabber.org/protocol/muc#user'>"
             "<item affiliation='none' role='none'/>%s"
             "<status code='110'/></x></presence>",
             inner);
    assert_int_equal(fake_send(e->fs, st), 0);
}

/* Stanzas of type error the component sent. */
static size_t errors_sent(struct env *e)
{
    size_t n = 0;

    for (size_t k = 0; k < fake_count(e->fs); k++) {
        const char *t = xml_node_attr(fake_stanza(e->fs, k), "type");

        n += t && strcmp(t, "error") == 0;
    }
    return n;
}

/* Banned (301), membership removed (321, 322), destroyed: not rejoined. */
static void test_room_final_removals(void **state)
{
    static const struct {
        const char *inner, *why;
    } cases[] = {
        {"<status code='301'/>", "banned"},
        {"<status code='321'/>", "affiliation"},
        {"<status code='322'/>", "members-only"},
        {"<destroy jid='new@conference.localhost'><reason>gone</reason>"
         "</destroy>",
         "destroyed"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct env_opts eo = {0};
        struct env e;

        open_room(&e, &eo);
        wait_room(&e, "joined");
        removal(&e, cases[i].inner);
        wait_room(&e, "failed");
        assert_non_null(strstr(room_error(&e), cases[i].why));
        assert_true(fake_run_until(e.base, NULL, NULL, 400));
        assert_int_equal(joins(&e), 1);
        env_close(&e);
    }
}

/* Kicked (307), removed after an error (333), shutdown (332), or told we
 * are not an occupant: joined again. */
static void test_room_rejoins(void **state)
{
    static const char *const cases[] = {"<status code='307'/>",
                                        "<status code='333'/>",
                                        "<status code='332'/>", NULL};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct env_opts eo = {0};
        struct env e;

        open_room(&e, &eo);
        wait_room(&e, "joined");
        if (cases[i])
            removal(&e, cases[i]);
        else
            assert_int_equal(
                fake_send(e.fs,
                          "<message type='error' from='" ROOM "' to='" BOT_FULL
                          "'><error type='cancel'>"
                          "<not-acceptable xmlns='" NS_STANZAS "'/></error>"
                          "</message>"),
                0);
        g_want = 2;
        assert_true(fake_run_until(e.base, got_joins, &e, 3000));
        wait_room(&e, "joined");
        assert_int_equal(errors_sent(&e), 0); /* never an error back */
        env_close(&e);
    }
}

/* Join errors: reported in the room's entry and retried (not final);
 * registration-required names the JID to make a member; once the owner
 * fixes it the join succeeds. */
static void test_room_join_errors(void **state)
{
    static const struct {
        const char *type, *cond, *hint;
    } cases[] = {
        {"auth", "registration-required", "add bot@" DOMAIN " as a member"},
        {"auth", "forbidden", "banned"},
        {"auth", "not-authorized", "room_password"},
        {"cancel", "item-not-found", "no such room"},
        {"cancel", "not-allowed", "creation is restricted"},
        {"cancel", "gone", "destroyed"},
        {"wait", "service-unavailable", "full"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct env_opts eo = {0};
        struct env e;

        eo.fo.muc_error_type = cases[i].type;
        eo.fo.muc_error = cases[i].cond;
        open_room(&e, &eo);
        g_want = 2;
        assert_true(fake_run_until(e.base, got_joins, &e, 3000));
        assert_non_null(strstr(room_error(&e), cases[i].cond));
        assert_non_null(strstr(room_error(&e), cases[i].hint));
        fake_options(e.fs)->muc_error = NULL;
        wait_room(&e, "joined");
        assert_string_equal(room_error(&e), "");
        env_close(&e);
    }
}

/* Status 210: the service changed our nick; the new one is used from then
 * on (self-ping, leaving). */
static void test_room_nick_210(void **state)
{
    struct env_opts eo = {0};
    struct comp_timing t;
    struct env e;

    eo.hook_extra = "room = " ROOM "\n";
    env_open(&e, &eo);
    start_ready(&e);
    g_want = 1;
    assert_true(fake_run_until(e.base, got_joins, &e, 3000));
    assert_int_equal(
        fake_send(e.fs, "<presence from='" ROOM "/Renamed' to='" BOT_FULL "'>"
                        "<x xmlns='http://jabber.org/protocol/muc#user'>"
                        "<item affiliation='none' role='participant'/>"
                        "<status code='110'/><status code='210'/></x>"
                        "</presence>"),
        0);
    wait_room(&e, "joined");
    comp_get_timing(e.c, &t);
    t.selfping_ms = 50;
    comp_set_timing(e.c, &t);
    assert_int_equal(fake_send(e.fs, "<message type='groupchat' from='" ROOM
                                     "/alice' to='" BOT_FULL
                                     "'><body>hi</body></message>"),
                     0);
    assert_true(fake_run_until(e.base, NULL, NULL, 10));
    assert_true(fake_run_until(e.base, NULL, NULL, 200));
    assert_non_null(fake_find(e.fs, "iq", "to", ROOM "/Renamed", 0));
    comp_shutdown(e.c, on_done, &e);
    assert_true(fake_run_until(e.base, is_done, &e, 3000));
    assert_attr(fake_find(e.fs, "presence", "type", "unavailable", 0), "to",
                ROOM "/Renamed");
    env_close(&e);
}

/* room_password goes into the join's <x/>. */
static void test_room_password(void **state)
{
    struct env_opts eo = {0};
    const struct xml_node *x, *pw;
    struct env e;
    char *t;

    eo.hook_extra = "room = " ROOM "\nroom_password = open sesame\n";
    open_room(&e, &eo);
    wait_room(&e, "joined");
    x = xml_node_child(fake_find(e.fs, "presence", "to", ROOM "/Bot", 0), "x",
                       "http://jabber.org/protocol/muc");
    pw = xml_node_child(x, "password", NULL);
    assert_non_null(pw);
    t = xml_node_text(pw);
    assert_string_equal(t, "open sesame");
    free(t);
    env_close(&e);
}

static int got_selfpings(void *arg)
{
    struct env *e = arg;
    size_t n = 0;

    for (size_t i = 0; i < fake_count(e->fs); i++) {
        const struct xml_node *p = fake_stanza(e->fs, i);
        const char *to = xml_node_attr(p, "to");

        n += strcmp(xml_node_name(p), "iq") == 0 && to &&
             strcmp(to, ROOM "/Bot") == 0;
    }
    return n >= g_want;
}

/* XEP-0410: after a silence the bot pings itself in the room; a result
 * keeps it joined, an error or no answer makes it rejoin. */
static void test_room_selfping(void **state)
{
    for (int mode = 0; mode < 3; mode++) {
        struct env_opts eo = {0};
        struct comp_timing t;
        const struct xml_node *iq;
        struct env e;

        if (mode == 1)
            eo.fo.muc_ping_error = "not-acceptable";
        if (mode == 2)
            eo.fo.muc_ping_ignore = 1;
        open_room(&e, &eo);
        comp_get_timing(e.c, &t);
        t.selfping_ms = 100;
        t.join_timeout_ms = 200;
        comp_set_timing(e.c, &t);
        wait_room(&e, "joined");
        /* The join happened before the timing: rejoin to arm it. */
        removal(&e, "<status code='307'/>");
        g_want = 2;
        assert_true(fake_run_until(e.base, got_joins, &e, 3000));
        wait_room(&e, "joined");
        g_want = 1;
        assert_true(fake_run_until(e.base, got_selfpings, &e, 3000));
        iq = fake_find(e.fs, "iq", "to", ROOM "/Bot", 0);
        assert_attr(iq, "from", BOT_FULL);
        assert_attr(iq, "type", "get");
        assert_non_null(xml_node_child(iq, "ping", "urn:xmpp:ping"));
        if (mode == 0) {
            g_want = 2; /* answered: another one later, no rejoin */
            assert_true(fake_run_until(e.base, got_selfpings, &e, 3000));
            assert_int_equal(joins(&e), 2);
        } else {
            g_want = 3; /* not an occupant any more: joins again */
            assert_true(fake_run_until(e.base, got_joins, &e, 3000));
        }
        env_close(&e);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iq_answers),
        cmocka_unit_test(test_subscription),
        cmocka_unit_test(test_subscribers_persist),
        cmocka_unit_test(test_avatar),
        cmocka_unit_test(test_help_reply),
        cmocka_unit_test(test_room_created),
        cmocka_unit_test(test_room_final_removals),
        cmocka_unit_test(test_room_rejoins),
        cmocka_unit_test(test_room_join_errors),
        cmocka_unit_test(test_room_password),
        cmocka_unit_test(test_room_nick_210),
        cmocka_unit_test(test_room_selfping),
    };

    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
