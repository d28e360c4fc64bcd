/* SPDX-License-Identifier: MIT */
/* test_component.c -- the XEP-0114 link against the scripted fake server:
 * handshake, nothing before <handshake/>, wrong secret and backoff, silent
 * server, close mid-stanza, stream errors, one byte at a time, ping and
 * liveness, incoming iq, error messages, the outbox bound, rooms and the
 * clean shutdown. Short timings through comp_set_timing(); every loop is
 * bounded. An optional argument selects tests by cmocka glob. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <event2/event.h>

#include "component/component.h"
#include "conf/conf.h"
#include "test/fake/fake_env.h"
#include "test/fake/fake_server.h"
#include "xml/err.h"
#include "xml/log.h"
#include "xml/msg.h"
#include "xml/xml.h"

#define DOMAIN "notify.localhost"
#define SECRET "s3cret-for-tests"
#define BOT_BARE "bot@" DOMAIN
#define BOT_FULL "bot@" DOMAIN "/xmta"
#define ROOM "ops@conference.localhost"
#define USER "juliet@localhost"

/* ---- loop helpers ------------------------------------------------------- */

/* ---- stderr capture (to check what is logged) --------------------------- */

struct capture {
    FILE *tmp;
    int saved;
};

static void capture_start(struct capture *cap)
{
    fflush(stderr);
    cap->tmp = tmpfile();
    assert_non_null(cap->tmp);
    cap->saved = dup(2);
    assert_true(cap->saved >= 0);
    assert_true(dup2(fileno(cap->tmp), 2) >= 0);
}

/* Returns what was logged (malloc'd) and echoes it to the real stderr. */
static char *capture_stop(struct capture *cap)
{
    long len;
    char *text;

    fflush(stderr);
    dup2(cap->saved, 2);
    close(cap->saved);
    len = ftell(cap->tmp);
    assert_true(len >= 0);
    text = calloc(1, (size_t)len + 1);
    assert_non_null(text);
    rewind(cap->tmp);
    assert_int_equal(fread(text, 1, (size_t)len, cap->tmp), (size_t)len);
    fclose(cap->tmp);
    fputs(text, stderr);
    return text;
}

/* ---- the environment: base, fake server, conf, component ---------------- */

struct env {
    struct event_base *base;
    struct fake_server *fs;
    struct conf *cfg;
    struct comp *c;
    const char *spool; /* eo->spool */
    int done;
};

struct env_opts {
    struct fake_opts fo;
    const char *hook_extra;  /* more [hook] lines, e.g. "room = ..." */
    const char *secret;      /* the component's secret (default SECRET) */
    const char *server;      /* default 127.0.0.1 */
    unsigned short port;     /* default: the fake's */
    unsigned queue;          /* 0: default */
    const char *spool;       /* [spool] path; NULL: none (in memory) */
    const char *spool_extra; /* more [spool] lines */
};

static void env_open(struct env *e, const struct env_opts *eo)
{
    const struct fake_env_conf fc = {.domain = DOMAIN,
                                     .secret = eo->secret ? eo->secret : SECRET,
                                     .server = eo->server,
                                     .port = eo->port};
    struct fake_opts fo = eo->fo;
    char queue[64] = "";

    memset(e, 0, sizeof(*e));
    e->spool = eo->spool;
    if (!fo.domain)
        fo.domain = DOMAIN;
    if (!fo.secret)
        fo.secret = SECRET;
    fake_env_server(&e->base, &e->fs, &fo);
    if (eo->queue)
        snprintf(queue, sizeof(queue), "queue = %u\n", eo->queue);
    fake_env_comp(e->base, e->fs, &fc, &e->cfg, &e->c,
                  "%s"
                  "[spool]\n"
                  "path = %s\n"
                  "%s"
                  "[http]\n"
                  "listen = 127.0.0.1:0\n" FAKE_ENV_HOOK(USER) "%s",
                  queue, eo->spool ? eo->spool : "none",
                  eo->spool_extra ? eo->spool_extra : "",
                  eo->hook_extra ? eo->hook_extra : "");
}

static void env_close(struct env *e)
{
    fake_env_free(&e->base, &e->fs, &e->cfg, &e->c);
}

static void env_set_timing(struct env *e,
                           unsigned ping_interval,
                           unsigned ping_timeout,
                           unsigned read_timeout)
{
    struct comp_timing t;

    comp_get_timing(e->c, &t);
    t.ping_interval_ms = ping_interval;
    t.ping_timeout_ms = ping_timeout;
    t.read_timeout_ms = read_timeout;
    comp_set_timing(e->c, &t);
}

static struct msg *
make_msg(const char *id, const char *body, const char *to, const char *room)
{
    struct msg *m = msg_new();

    assert_non_null(m);
    snprintf(m->id, sizeof(m->id), "%s", id);
    m->hook = strdup("alerts");
    m->from = strdup("bot");
    m->nick = strdup("Bot");
    m->body = strdup(body);
    m->type = MSG_CHAT;
    assert_non_null(m->hook);
    assert_non_null(m->body);
    if (to)
        assert_int_equal(msg_add_to(m, to), 0);
    if (room)
        assert_int_equal(msg_add_room(m, room), 0);
    return m;
}

static void submit(struct env *e,
                   const char *id,
                   const char *body,
                   const char *to,
                   const char *room)
{
    assert_int_equal(comp_submit(e->c, make_msg(id, body, to, room)), 0);
}

/* The text of child name of n ("" when absent), malloc'd. */
static char *child_text(const struct xml_node *n, const char *name)
{
    const struct xml_node *k = xml_node_child(n, name, NULL);
    char *t = k ? xml_node_text(k) : strdup("");

    assert_non_null(t);
    return t;
}

static void
assert_attr(const struct xml_node *n, const char *name, const char *want)
{
    const char *v = xml_node_attr(n, name);

    if (!want) {
        assert_null(v);
        return;
    }
    assert_non_null(v);
    assert_string_equal(v, want);
}

/* 1 when s holds a run of 40 lowercase hex digits (a SHA-1 digest). */
static int has_hex40(const char *s)
{
    size_t run = 0;

    for (; *s; s++) {
        run = ((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')) ? run + 1
                                                                     : 0;
        if (run >= 40)
            return 1;
    }
    return 0;
}

/* The nth iq whose id is PREFIX-TAG-N (our pings carry a per-connection
 * tag): nth 0 is the first. NULL when there is none. */
static const struct xml_node *
find_ping(const struct env *e, const char *prefix, unsigned long n)
{
    for (size_t i = 0; i < fake_count(e->fs); i++) {
        const struct xml_node *p = fake_stanza(e->fs, i);
        const char *id = xml_node_attr(p, "id"), *dash;

        if (strcmp(xml_node_name(p), "iq") != 0 || !id ||
            strncmp(id, prefix, strlen(prefix)) != 0)
            continue;
        dash = strrchr(id, '-');
        if (dash && strtoul(dash + 1, NULL, 10) == n)
            return p;
    }
    return NULL;
}

/* ---- predicates --------------------------------------------------------- */

static int is_ready(void *arg)
{
    struct env *e = arg;

    return comp_state(e->c) == COMP_READY;
}

static int not_ready(void *arg)
{
    return !is_ready(arg);
}

static int is_idle(void *arg)
{
    struct env *e = arg;

    return comp_state(e->c) == COMP_IDLE;
}

static int room_joined(void *arg)
{
    struct env *e = arg;
    size_t joined = 0;

    comp_rooms(e->c, &joined, NULL);
    return joined > 0;
}

static size_t g_want;

static int got_messages(void *arg)
{
    struct env *e = arg;

    return fake_count_named(e->fs, "message", NULL, NULL) >= g_want;
}

static int got_groupchat(void *arg)
{
    struct env *e = arg;

    return fake_count_named(e->fs, "message", "type", "groupchat") >= g_want;
}

static int got_joins(void *arg)
{
    struct env *e = arg;
    size_t n = 0;

    for (size_t i = 0; i < fake_count(e->fs); i++) {
        const struct xml_node *p = fake_stanza(e->fs, i);

        n += strcmp(xml_node_name(p), "presence") == 0 &&
             xml_node_attr(p, "type") == NULL;
    }
    return n >= g_want;
}

static int got_connections(void *arg)
{
    struct env *e = arg;

    return fake_connections(e->fs) >= g_want;
}

static int got_auths(void *arg)
{
    struct env *e = arg;

    return fake_auths(e->fs) >= g_want;
}

static const char *g_id;

static int got_iq_id(void *arg)
{
    struct env *e = arg;

    return fake_find(e->fs, "iq", "id", g_id, 0) != NULL;
}

static int is_done(void *arg)
{
    struct env *e = arg;

    return e->done;
}

static void on_done(void *arg)
{
    struct env *e = arg;

    e->done++;
}

/* Sends a ping to a bot and waits for its result: everything sent before
 * it has been processed by then. */
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

static void start_ready(struct env *e)
{
    fake_env_start(e->base, e->c, 3000);
}

/* ---- tests -------------------------------------------------------------- */

/* Handshake, READY, and a message queued before the connection goes out
 * with the right from/to/type/id/body/origin-id, in the component's
 * namespace. */
static void test_happy_path(void **state)
{
    struct env_opts eo = {0};
    const struct xml_node *m, *oid;
    struct capture cap;
    struct env e;
    char *body, *log;

    env_open(&e, &eo);
    submit(&e, "6f1c1b9e-6a39-4c8e-9d86-6d0c8f6f6401", "disk <full> & 'hot'",
           USER, NULL);
    assert_int_equal(comp_queued(e.c), 1);
    assert_int_equal(comp_state(e.c), COMP_IDLE);
    xlog_set_level(XLOG_DEBUG);
    capture_start(&cap);
    assert_int_equal(comp_start(e.c), 0);
    assert_int_equal(comp_start(e.c), XMTA_E_STATE);
    g_want = 1;
    assert_true(fake_run_until(e.base, got_messages, &e, 3000));
    log = capture_stop(&cap);
    xlog_set_level(XLOG_INFO);
    /* Stanza dumps at debug, but never the secret or the digest. */
    assert_non_null(strstr(log, "send <message"));
    assert_non_null(strstr(log, "digest not logged"));
    assert_null(strstr(log, SECRET));
    assert_false(has_hex40(log));
    assert_non_null(strstr(log, "state connecting -> opening"));
    assert_non_null(strstr(log, "authenticated as " DOMAIN));
    free(log);
    assert_int_equal(comp_state(e.c), COMP_READY);
    assert_string_equal(fake_header_to(e.fs), DOMAIN);
    assert_false(fake_header_version(e.fs));
    assert_int_equal(fake_connections(e.fs), 1);
    assert_int_equal(fake_auths(e.fs), 1);
    assert_int_equal(fake_bad_auths(e.fs), 0);
    /* The handshake is the first stanza; then the message. */
    assert_string_equal(xml_node_name(fake_stanza(e.fs, 0)), "handshake");
    m = fake_find(e.fs, "message", NULL, NULL, 0);
    assert_non_null(m);
    assert_string_equal(xml_node_ns(m), XMTA_NS_COMPONENT);
    assert_attr(m, "from", BOT_BARE);
    assert_attr(m, "to", USER);
    assert_attr(m, "type", "chat");
    assert_attr(m, "id", "6f1c1b9e-6a39-4c8e-9d86-6d0c8f6f6401");
    body = child_text(m, "body");
    assert_string_equal(body, "disk <full> & 'hot'");
    free(body);
    oid = xml_node_child(m, "origin-id", "urn:xmpp:sid:0");
    assert_non_null(oid);
    assert_attr(oid, "id", "6f1c1b9e-6a39-4c8e-9d86-6d0c8f6f6401");
    assert_null(xml_node_child(m, "subject", NULL));
    assert_int_equal(comp_queued(e.c), 0);
    env_close(&e);
}

/* Nothing but the handshake goes out before <handshake/>, even with
 * messages queued and keepalive/ping timers that would fire meanwhile. */
static void test_nothing_before_handshake(void **state)
{
    struct env_opts eo = {0};
    struct comp_timing t;
    struct env e;

    eo.fo.handshake_delay_ms = 300;
    env_open(&e, &eo);
    comp_get_timing(e.c, &t);
    t.keepalive_ms = 20;
    t.ping_interval_ms = 20;
    t.ping_timeout_ms = 2000;
    comp_set_timing(e.c, &t);
    submit(&e, "id-1", "one", USER, NULL);
    submit(&e, "id-2", "two", USER, NULL);
    assert_int_equal(comp_start(e.c), 0);
    g_want = 2;
    assert_true(fake_run_until(e.base, got_messages, &e, 3000));
    assert_int_equal(fake_auths(e.fs), 1);
    assert_int_equal(fake_preauth_stanzas(e.fs), 0);
    assert_int_equal(fake_preauth_bytes(e.fs), 0);
    assert_string_equal(xml_node_name(fake_stanza(e.fs, 0)), "handshake");
    /* After READY the timers do run. */
    assert_true(fake_run_until(e.base, NULL, NULL, 200));
    assert_true(fake_pings(e.fs) >= 1);
    env_close(&e);
}

/* A wrong secret: never READY, reconnects continue with backoff (several
 * attempts, but far from a tight loop), logged as a configuration error. */
static void test_wrong_secret(void **state)
{
    struct env_opts eo = {0};
    struct capture cap;
    unsigned n;
    char *log;
    struct env e;

    eo.secret = "not-the-right-one";
    env_open(&e, &eo);
    capture_start(&cap);
    assert_int_equal(comp_start(e.c), 0);
    assert_false(fake_run_until(e.base, is_ready, &e, 1500));
    log = capture_stop(&cap);
    n = fake_connections(e.fs);
    /* Delays 50, 100, then 200 (minus up to 25% jitter): 8-12 attempts in
     * 1.5 s; without backoff there would be hundreds. */
    assert_true(n >= 4);
    assert_true(n <= 13);
    assert_int_equal(fake_auths(e.fs), 0);
    assert_true(fake_bad_auths(e.fs) >= n - 1);
    assert_non_null(strstr(log, "stream error not-authorized"));
    assert_non_null(strstr(log, "configuration error"));
    assert_non_null(strstr(log, "component_secret"));
    assert_null(strstr(log, SECRET));
    assert_null(strstr(log, "not-the-right-one"));
    free(log);
    env_close(&e);
}

/* A server that accepts TCP but never answers: the handshake deadline
 * closes the connection and the component reconnects. */
static void test_silent_server(void **state)
{
    struct env_opts eo = {0};
    struct comp_timing t;
    struct env e;

    eo.fo.mode = FAKE_SILENT;
    env_open(&e, &eo);
    comp_get_timing(e.c, &t);
    t.handshake_ms = 150;
    comp_set_timing(e.c, &t);
    assert_int_equal(comp_start(e.c), 0);
    g_want = 3;
    assert_true(fake_run_until(e.base, got_connections, &e, 3000));
    assert_int_equal(fake_auths(e.fs), 0);
    assert_int_equal(fake_count(e.fs), 0); /* no handshake without a header */
    assert_string_equal(fake_header_to(e.fs), DOMAIN);
    assert_int_not_equal(comp_state(e.c), COMP_READY);
    env_close(&e);
}

/* The first connection dies in the middle of a stanza; the messages
 * queued before and while it was down arrive in order on the next one. */
static void test_close_mid_stanza(void **state)
{
    struct env_opts eo = {0};
    struct comp_timing t;
    struct env e;
    char id[16];

    eo.fo.mode = FAKE_CLOSE_MID;
    eo.fo.mode_conns = 1;
    env_open(&e, &eo);
    comp_get_timing(e.c, &t);
    t.backoff_min_ms = 300;
    comp_set_timing(e.c, &t);
    submit(&e, "m1", "1", USER, NULL);
    submit(&e, "m2", "2", USER, NULL);
    submit(&e, "m3", "3", USER, NULL);
    assert_int_equal(comp_start(e.c), 0);
    g_want = 1;
    assert_true(fake_run_until(e.base, got_connections, &e, 3000));
    /* Wait for the drop: back in IDLE, waiting to reconnect. */
    assert_true(fake_run_until(e.base, is_idle, &e, 3000));
    assert_int_equal(fake_connections(e.fs), 1);
    assert_int_equal(fake_auths(e.fs), 0);
    assert_int_equal(comp_state(e.c), COMP_IDLE);
    submit(&e, "m4", "4", USER, NULL);
    submit(&e, "m5", "5", USER, NULL);
    assert_int_equal(comp_queued(e.c), 5);
    g_want = 5;
    assert_true(fake_run_until(e.base, got_messages, &e, 3000));
    assert_int_equal(fake_connections(e.fs), 2);
    for (int i = 0; i < 5; i++) {
        const struct xml_node *m = fake_find(e.fs, "message", NULL, NULL, i);

        snprintf(id, sizeof(id), "m%d", i + 1);
        assert_attr(m, "id", id);
    }
    for (size_t i = 0; i < fake_count(e.fs); i++)
        if (strcmp(xml_node_name(fake_stanza(e.fs, i)), "message") == 0)
            assert_int_equal(fake_stanza_conn(e.fs, i), 2);
    assert_int_equal(comp_queued(e.c), 0);
    env_close(&e);
}

/* A READY link that drops: messages submitted while it is down wait and
 * arrive in order after the reconnect. */
static void test_drop_and_drain(void **state)
{
    struct env_opts eo = {0};
    struct comp_timing t;
    struct env e;

    env_open(&e, &eo);
    comp_get_timing(e.c, &t);
    t.backoff_min_ms = 300;
    comp_set_timing(e.c, &t);
    start_ready(&e);
    fake_kick(e.fs);
    assert_true(fake_run_until(e.base, not_ready, &e, 2000));
    submit(&e, "d1", "1", USER, NULL);
    submit(&e, "d2", "2", USER, NULL);
    submit(&e, "d3", "3", USER, NULL);
    assert_int_equal(comp_queued(e.c), 3);
    assert_int_equal(fake_count_named(e.fs, "message", NULL, NULL), 0);
    g_want = 3;
    assert_true(fake_run_until(e.base, got_messages, &e, 3000));
    assert_attr(fake_find(e.fs, "message", NULL, NULL, 0), "id", "d1");
    assert_attr(fake_find(e.fs, "message", NULL, NULL, 1), "id", "d2");
    assert_attr(fake_find(e.fs, "message", NULL, NULL, 2), "id", "d3");
    assert_int_equal(fake_connections(e.fs), 2);
    assert_int_equal(fake_auths(e.fs), 2);
    env_close(&e);
}

/* Backoff grows while attempts fail and starts over once a link has been
 * READY for stable_ms. */
static void test_backoff_reset(void **state)
{
    struct env_opts eo = {0};
    struct comp_timing t;
    struct env e;
    uint64_t t0, t1, t2;

    eo.fo.mode = FAKE_STREAM_ERROR;
    eo.fo.mode_conns = 3;
    eo.fo.err_condition = "system-shutdown"; /* conflict: standby timing */
    env_open(&e, &eo);
    comp_get_timing(e.c, &t);
    t.backoff_min_ms = 100;
    t.backoff_max_ms = 2000;
    t.stable_ms = 200;
    comp_set_timing(e.c, &t);
    t0 = fake_now_ms();
    assert_int_equal(comp_start(e.c), 0);
    g_want = 3;
    assert_true(fake_run_until(e.base, got_connections, &e, 3000));
    t1 = fake_now_ms();
    /* Delays 100 and 200 (each minus up to a quarter) came before the
     * third attempt. */
    assert_true(t1 - t0 >= 225);
    g_want = 4; /* then 400: the fourth attempt succeeds */
    assert_true(fake_run_until(e.base, got_connections, &e, 3000));
    assert_true(fake_now_ms() - t1 >= 300);
    assert_true(fake_run_until(e.base, is_ready, &e, 3000));
    assert_true(fake_run_until(e.base, NULL, NULL, 300)); /* > stable_ms */
    fake_kick(e.fs);
    assert_true(fake_run_until(e.base, not_ready, &e, 1000));
    t2 = fake_now_ms();
    g_want = 5;
    assert_true(fake_run_until(e.base, got_connections, &e, 3000));
    /* Back to about 100 ms, not 800. */
    assert_true(fake_now_ms() - t2 < 500);
    env_close(&e);
}

/* Malformed XML from the server: the link is dropped and re-established. */
static void test_bad_xml(void **state)
{
    struct env_opts eo = {0};
    struct env e;

    env_open(&e, &eo);
    start_ready(&e);
    assert_int_equal(fake_send(e.fs, "<message><<</message>"), 0);
    g_want = 2;
    assert_true(fake_run_until(e.base, got_auths, &e, 3000));
    assert_true(fake_run_until(e.base, is_ready, &e, 3000));
    assert_int_equal(fake_connections(e.fs), 2);
    env_close(&e);
}

/* <stream:error><conflict/> (another connection holds the domain: a
 * second instance) is logged with its text and the admin hint; the
 * component is a standby (webhooks refused, with the reason) that asks
 * again every standby_ms and takes over as soon as the other is gone. */
static void test_stream_error_conflict(void **state)
{
    struct env_opts eo = {0};
    struct comp_timing t;
    struct capture cap;
    struct env e;
    uint64_t t0;
    char *log;

    eo.fo.mode = FAKE_STREAM_ERROR;
    eo.fo.mode_conns = 3;
    eo.fo.err_condition = "conflict";
    eo.fo.err_text = "Component already connected";
    env_open(&e, &eo);
    comp_get_timing(e.c, &t);
    t.standby_ms = 300;
    t.backoff_min_ms = 5000; /* a conflict never waits this long */
    comp_set_timing(e.c, &t);
    capture_start(&cap);
    assert_int_equal(comp_start(e.c), 0);
    g_want = 1;
    assert_true(fake_run_until(e.base, got_connections, &e, 3000));
    assert_true(fake_run_until(e.base, is_idle, &e, 3000));
    /* Standby: webhooks refused with the reason, /health's state. */
    assert_int_equal(comp_standby(e.c), 1);
    assert_int_equal(comp_submit(e.c, make_msg("s1", "x", USER, NULL)),
                     XMTA_E_FULL);
    assert_non_null(strstr(comp_refusal(e.c), "standby"));
    /* It keeps asking every standby_ms (minus jitter): the other
     * connection still holds the domain twice more, then it is gone. */
    t0 = fake_now_ms();
    assert_true(fake_run_until(e.base, is_ready, &e, 3000));
    assert_true(fake_now_ms() - t0 < 2000);
    log = capture_stop(&cap);
    assert_int_equal(fake_connections(e.fs), 4);
    assert_int_equal(comp_standby(e.c), 0);
    assert_non_null(strstr(log, "stream error conflict"));
    assert_non_null(strstr(log, "Component already connected"));
    assert_non_null(strstr(log, "component_conflict_resolve"));
    assert_non_null(strstr(log, "standby: another connection holds " DOMAIN));
    assert_non_null(strstr(log, "standby over: this instance holds " DOMAIN));
    assert_non_null(strstr(log, "authenticated as " DOMAIN));
    free(log);
    /* Active now: accepted and delivered. */
    submit(&e, "s2", "x", USER, NULL);
    g_want = 1;
    assert_true(fake_run_until(e.base, got_messages, &e, 3000));
    env_close(&e);
}

/* host-unknown (the header named a domain the server does not know) is a
 * configuration error naming the domain. */
static void test_stream_error_host_unknown(void **state)
{
    struct env_opts eo = {0};
    struct capture cap;
    struct env e;
    char *log;

    eo.fo.domain = "other.localhost"; /* the fake expects another name */
    env_open(&e, &eo);
    capture_start(&cap);
    assert_int_equal(comp_start(e.c), 0);
    g_want = 2;
    assert_true(fake_run_until(e.base, got_connections, &e, 3000));
    assert_false(is_ready(&e));
    log = capture_stop(&cap);
    assert_non_null(strstr(log, "stream error host-unknown"));
    assert_non_null(strstr(log, "the server has no component named " DOMAIN));
    assert_int_equal(fake_auths(e.fs), 0);
    free(log);
    env_close(&e);
}

/* The server's bytes arrive one at a time: everything still works. */
static void test_bytewise(void **state)
{
    struct env_opts eo = {0};
    struct comp_timing t;
    struct env e;

    eo.fo.bytewise = 1;
    eo.fo.muc_auto = 1;
    eo.hook_extra = "room = " ROOM "\n";
    env_open(&e, &eo);
    /* A byte per 1 ms tick is a few hundred ms per stream header on an idle
     * machine, but seconds on a loaded one under ASan: this test is about
     * parsing, so the handshake may take as long as it needs. */
    comp_get_timing(e.c, &t);
    t.handshake_ms = 30000;
    t.join_timeout_ms = 30000;
    comp_set_timing(e.c, &t);
    submit(&e, "b1", "one", USER, ROOM);
    assert_int_equal(comp_start(e.c), 0);
    g_want = 2;
    assert_true(fake_run_until(e.base, got_messages, &e, 60000));
    assert_int_equal(fake_connections(e.fs), 1);
    assert_attr(fake_find(e.fs, "message", "type", "groupchat", 0), "from",
                BOT_FULL);
    barrier(&e, "bw-ping");
    env_close(&e);
}

/* Pings answered: the link stays up. */
static void test_ping_answered(void **state)
{
    struct env_opts eo = {0};
    const struct xml_node *p;
    struct env e;

    env_open(&e, &eo);
    env_set_timing(&e, 100, 200, 0);
    start_ready(&e);
    assert_true(fake_run_until(e.base, NULL, NULL, 1200));
    assert_int_equal(comp_state(e.c), COMP_READY);
    assert_int_equal(fake_connections(e.fs), 1);
    assert_true(fake_pings(e.fs) >= 4);
    p = find_ping(&e, "ka-", 1);
    assert_non_null(p);
    assert_attr(p, "type", "get");
    assert_attr(p, "from", DOMAIN);
    assert_attr(p, "to", "localhost"); /* the parent domain */
    assert_non_null(xml_node_child(p, "ping", "urn:xmpp:ping"));
    env_close(&e);
}

/* Pings ignored: the link is declared dead and re-established. */
static void test_ping_ignored(void **state)
{
    struct env_opts eo = {0};
    struct capture cap;
    struct env e;
    char *log;

    eo.fo.mode = FAKE_IGNORE_PINGS;
    eo.fo.mode_conns = 1;
    env_open(&e, &eo);
    env_set_timing(&e, 100, 150, 0);
    capture_start(&cap);
    assert_int_equal(comp_start(e.c), 0);
    g_want = 2;
    assert_true(fake_run_until(e.base, got_auths, &e, 3000));
    log = capture_stop(&cap);
    assert_int_equal(fake_connections(e.fs), 2);
    /* asked again (every quarter of the timeout) before giving up */
    assert_true(fake_pings(e.fs) >= 3);
    assert_non_null(strstr(log, "no reply to ping ka-"));
    assert_non_null(strstr(log, "ping timeout"));
    free(log);
    env_close(&e);
}

/* The read timeout backstop: no pings, a server that sends nothing. */
static void test_read_timeout(void **state)
{
    struct env_opts eo = {0};
    struct env e;

    env_open(&e, &eo);
    env_set_timing(&e, 0, 0, 200);
    start_ready(&e);
    g_want = 2;
    assert_true(fake_run_until(e.base, got_auths, &e, 3000));
    assert_int_equal(fake_connections(e.fs), 2);
    env_close(&e);
}

/* Incoming iq: ping answered, unknown get/set refused with
 * service-unavailable, nothing answered for other domains, results or
 * errors. */
static void test_incoming_iq(void **state)
{
    struct env_opts eo = {0};
    const struct xml_node *r, *err;
    struct env e;

    env_open(&e, &eo);
    start_ready(&e);
    assert_int_equal(
        fake_send(e.fs,
                  "<iq type='get' id='p1' from='localhost' to='" DOMAIN "'>"
                  "<ping xmlns='urn:xmpp:ping'/></iq>"
                  "<iq type='get' id='u1' from='" USER "/pc' to='" BOT_BARE
                  "'><query xmlns='jabber:iq:private'/></iq>"
                  "<iq type='set' id='u2' from='" USER "/pc' to='" DOMAIN
                  "'><foo xmlns='urn:example:foo'/></iq>"
                  "<iq type='get' id='x1' from='" USER "/pc' "
                  "to='other.localhost'><ping xmlns='urn:xmpp:ping'/></iq>"
                  "<iq type='get' id='x2' from='" USER "/pc'>"
                  "<ping xmlns='urn:xmpp:ping'/></iq>"
                  "<iq type='result' id='r1' from='localhost' to='" DOMAIN "'/>"
                  "<iq type='error' id='e1' from='localhost' to='" DOMAIN "'>"
                  "<error type='cancel'><service-unavailable "
                  "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
                  "<iq xmlns='jabber:client' type='get' id='c1' "
                  "from='" USER "/pc' to='" BOT_BARE "'>"
                  "<ping xmlns='urn:xmpp:ping'/></iq>"),
        0);
    barrier(&e, "p-last");
    r = fake_find(e.fs, "iq", "id", "p1", 0);
    assert_non_null(r);
    assert_attr(r, "type", "result");
    assert_attr(r, "from", DOMAIN);
    assert_attr(r, "to", "localhost");
    assert_null(xml_node_first_child(r));
    r = fake_find(e.fs, "iq", "id", "u1", 0);
    assert_non_null(r);
    assert_attr(r, "type", "error");
    assert_attr(r, "from", BOT_BARE);
    assert_attr(r, "to", USER "/pc");
    err = xml_node_child(r, "error", NULL);
    assert_non_null(err);
    assert_attr(err, "type", "cancel");
    assert_non_null(
        xml_node_child(err, "service-unavailable", XMTA_NS_STANZAS_ERR));
    r = fake_find(e.fs, "iq", "id", "u2", 0);
    assert_non_null(r);
    assert_attr(r, "type", "error");
    assert_attr(r, "from", DOMAIN);
    assert_null(fake_find(e.fs, "iq", "id", "x1", 0));
    assert_null(fake_find(e.fs, "iq", "id", "x2", 0));
    assert_null(fake_find(e.fs, "iq", "id", "r1", 0));
    assert_null(fake_find(e.fs, "iq", "id", "e1", 0));
    r = fake_find(e.fs, "iq", "id", "c1", 0); /* jabber:client accepted */
    assert_non_null(r);
    assert_attr(r, "type", "result");
    r = fake_find(e.fs, "iq", "id", "p-last", 0);
    assert_attr(r, "from", BOT_FULL);
    assert_int_equal(comp_state(e.c), COMP_READY);
    env_close(&e);
}

/* An error message (a bounce) is logged and never answered (what bots
 * answer is tested in test_citizen.c). */
static void test_error_message(void **state)
{
    struct env_opts eo = {0};
    struct capture cap;
    struct env e;
    size_t before;
    char *log;

    env_open(&e, &eo);
    start_ready(&e);
    before = fake_count(e.fs);
    capture_start(&cap);
    assert_int_equal(
        fake_send(e.fs,
                  "<message type='error' id='m-9' from='" USER "' to='" BOT_BARE
                  "'><error type='cancel'><service-unavailable "
                  "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
                  "</message>"),
        0);
    barrier(&e, "after-error");
    log = capture_stop(&cap);
    /* Only the barrier's result came back. */
    assert_int_equal(fake_count(e.fs), before + 1);
    assert_non_null(strstr(log, "delivery error id=m-9 from=" USER
                                " condition=service-unavailable"));
    free(log);
    env_close(&e);
}

/* ---- spool and acknowledgement ------------------------------------------ */

static char *spool_dir_new(void)
{
    char *dir = strdup("/tmp/xmta-fake-spool.XXXXXX");

    assert_non_null(dir);
    assert_non_null(mkdtemp(dir));
    return dir;
}

static void spool_dir_free(char *dir)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    free(dir);
}

static size_t spool_depth(struct env *e)
{
    struct comp_spool_status st;

    comp_spool_status(e->c, &st);
    return st.depth;
}

static int depth_zero(void *arg)
{
    return spool_depth(arg) == 0;
}

static int spool_empty(void *arg)
{
    struct env *e = arg;

    return fake_env_spool_empty(e->c, e->spool);
}

/* Messages written to a server that never answers the ack ping stay in
 * the spool; when the link drops they are written again after the
 * reconnect, in order and with the same ids, and only the answered ack
 * removes them from the spool. */
static void test_ack_and_resend(void **state)
{
    enum { N = 5 };
    struct env_opts eo = {0};
    char *dir = spool_dir_new();
    struct env e;
    char id[16];

    eo.spool = dir;
    eo.fo.mode = FAKE_IGNORE_PINGS;
    eo.fo.mode_conns = 1;
    env_open(&e, &eo);
    start_ready(&e);
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "r-%d", i);
        submit(&e, id, "x", USER, NULL);
    }
    g_want = N;
    assert_true(fake_run_until(e.base, got_messages, &e, 3000));
    /* written, an ack ping went out, no answer: nothing may be deleted */
    assert_true(fake_run_until(e.base, NULL, NULL, 200));
    assert_true(find_ping(&e, "ack-", 1) != NULL);
    assert_int_equal(spool_depth(&e), N);
    assert_int_equal(fake_env_spool_rows(dir), N);
    assert_int_equal(comp_queued(e.c), 0); /* written, not queued */

    fake_kick(e.fs); /* the link dies; the next connection is NORMAL */
    g_want = 2 * N;
    assert_true(fake_run_until(e.base, got_messages, &e, 5000));
    assert_true(fake_run_until(e.base, spool_empty, &e, 3000));
    assert_int_equal(fake_connections(e.fs), 2);
    for (int i = 0; i < N; i++) {
        const struct xml_node *first, *again;

        snprintf(id, sizeof(id), "r-%d", i);
        first = fake_find(e.fs, "message", NULL, NULL, (size_t)i);
        again = fake_find(e.fs, "message", NULL, NULL, (size_t)(N + i));
        assert_attr(first, "id", id);
        assert_attr(again, "id", id); /* same id: receivers de-duplicate */
    }
    env_close(&e);
    spool_dir_free(dir);
}

/* One ack ping in flight at a time (issue 8): what is written while it
 * waits gets no ping of its own, and stays in the spool until a later
 * ack covers it (here, after the reconnect). */
static void test_one_ack_in_flight(void **state)
{
    enum { N = 3 };
    struct env_opts eo = {0};
    char *dir = spool_dir_new();
    struct env e;
    char id[16];

    eo.spool = dir;
    eo.fo.mode = FAKE_IGNORE_PINGS;
    eo.fo.mode_conns = 1;
    env_open(&e, &eo);
    start_ready(&e);
    submit(&e, "f-0", "x", USER, NULL);
    g_want = 1;
    assert_true(fake_run_until(e.base, got_messages, &e, 3000));
    assert_true(fake_run_until(e.base, NULL, NULL, 100));
    assert_non_null(find_ping(&e, "ack-", 1));
    for (int i = 1; i <= N; i++) {
        snprintf(id, sizeof(id), "f-%d", i);
        submit(&e, id, "x", USER, NULL);
        assert_true(fake_run_until(e.base, NULL, NULL, 50));
    }
    g_want = N + 1;
    assert_true(fake_run_until(e.base, got_messages, &e, 3000));
    assert_true(fake_run_until(e.base, NULL, NULL, 200));
    assert_int_equal(fake_pings(e.fs), 1); /* ack-1 only */
    assert_null(find_ping(&e, "ack-", 2));
    assert_int_equal(spool_depth(&e), N + 1);

    fake_kick(e.fs); /* answers pings from now on */
    g_want = 2 * (N + 1);
    assert_true(fake_run_until(e.base, got_messages, &e, 5000));
    assert_true(fake_run_until(e.base, spool_empty, &e, 3000));
    env_close(&e);
    spool_dir_free(dir);
}

/* Spooled messages outlive the process: a new comp on the same spool
 * sends them, in order, and the ack empties the spool. */
static void test_spool_restart(void **state)
{
    struct env_opts eo = {0};
    char *dir = spool_dir_new();
    struct env e;

    eo.spool = dir;
    env_open(&e, &eo);
    submit(&e, "s-1", "1", USER, NULL);
    submit(&e, "s-2", "2", USER, "ops@conference.localhost");
    assert_true(fake_run_until(e.base, NULL, NULL, 50)); /* the commit */
    assert_int_equal(fake_env_spool_rows(dir), 3);
    env_close(&e); /* never connected: like a crash */

    eo.fo.muc_auto = 1;
    env_open(&e, &eo);
    assert_int_equal(comp_queued(e.c), 3); /* one message per row */
    start_ready(&e);
    g_want = 3;
    assert_true(fake_run_until(e.base, got_messages, &e, 5000));
    assert_attr(fake_find(e.fs, "message", "to", USER, 0), "id", "s-1");
    assert_attr(fake_find(e.fs, "message", "to", USER, 1), "id", "s-2");
    assert_attr(fake_find(e.fs, "message", "type", "groupchat", 0), "id",
                "s-2");
    assert_true(fake_run_until(e.base, spool_empty, &e, 3000));
    env_close(&e);
    spool_dir_free(dir);
}

/* An ack ping without an answer within ping_timeout kills the link (a
 * silent server); the messages go out again on the next one. */
static void test_ack_timeout(void **state)
{
    struct env_opts eo = {0};
    struct env e;

    eo.fo.mode = FAKE_IGNORE_PINGS;
    eo.fo.mode_conns = 1;
    env_open(&e, &eo);
    env_set_timing(&e, 0, 300, 0);
    start_ready(&e);
    submit(&e, "t-1", "1", USER, NULL);
    g_want = 2;
    assert_true(fake_run_until(e.base, got_messages, &e, 5000));
    assert_int_equal(fake_connections(e.fs), 2);
    assert_attr(fake_find(e.fs, "message", NULL, NULL, 1), "id", "t-1");
    assert_true(fake_run_until(e.base, depth_zero, &e, 3000));
    env_close(&e);
}

/* A message error for one of our ids names hook, recipient and condition
 * and is counted per condition. */
static void test_bounce(void **state)
{
    struct env_opts eo = {0};
    struct capture cap;
    const char *cond = NULL;
    unsigned long n = 0;
    struct env e;
    char *log;

    env_open(&e, &eo);
    start_ready(&e);
    submit(&e, "b-1", "1", USER, NULL);
    g_want = 1;
    assert_true(fake_run_until(e.base, got_messages, &e, 3000));
    assert_true(
        fake_run_until(e.base, depth_zero, &e, 3000)); /* acknowledged */
    capture_start(&cap);
    assert_int_equal(
        fake_send(e.fs,
                  "<message type='error' id='b-1' from='" USER
                  "/phone' to='" BOT_BARE
                  "'><error type='cancel'><item-not-found "
                  "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
                  "</message>"
                  "<message type='error' id='b-1' from='" USER "' to='" BOT_BARE
                  "'><error type='cancel'><item-not-found "
                  "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
                  "</message>"),
        0);
    barrier(&e, "after-bounce");
    log = capture_stop(&cap);
    assert_non_null(strstr(log, "bounced id=b-1 hook=alerts to=" USER
                                " condition=item-not-found count=1"));
    free(log);
    assert_int_equal(comp_bounce_stat(e.c, 0, &cond, &n), 1);
    assert_string_equal(cond, "item-not-found");
    assert_int_equal(n, 2);
    assert_int_equal(comp_bounce_stat(e.c, 1, &cond, &n), 0);
    env_close(&e);
}

/* SIGTERM's grace: what was accepted before the shutdown is written and
 * acknowledged before the stream closes. */
static void test_shutdown_flushes(void **state)
{
    struct env_opts eo = {0};
    char *dir = spool_dir_new();
    struct env e;

    eo.spool = dir;
    env_open(&e, &eo);
    start_ready(&e);
    submit(&e, "g-1", "1", USER, NULL);
    submit(&e, "g-2", "2", USER, NULL);
    comp_shutdown(e.c, on_done, &e); /* before the batch is even stored */
    assert_true(fake_run_until(e.base, is_done, &e, 5000));
    assert_int_equal(fake_count_named(e.fs, "message", NULL, NULL), 2);
    assert_int_equal(fake_closes(e.fs), 1);
    assert_int_equal(spool_depth(&e), 0);
    env_close(&e); /* the delivered rows leave by the time comp is freed */
    assert_int_equal(fake_env_spool_rows(dir), 0);
    spool_dir_free(dir);
}

/* ... and what the server did not acknowledge within the grace period
 * stays in the spool for the next start. */
static void test_shutdown_grace_expires(void **state)
{
    struct env_opts eo = {0};
    char *dir = spool_dir_new();
    struct comp_timing t;
    struct capture cap;
    struct env e;
    char *log;

    eo.spool = dir;
    eo.fo.mode = FAKE_IGNORE_PINGS;
    env_open(&e, &eo);
    comp_get_timing(e.c, &t);
    t.grace_ms = 300;
    comp_set_timing(e.c, &t);
    start_ready(&e);
    submit(&e, "h-1", "1", USER, NULL);
    g_want = 1;
    assert_true(fake_run_until(e.base, got_messages, &e, 3000));
    capture_start(&cap);
    comp_shutdown(e.c, on_done, &e);
    assert_true(fake_run_until(e.base, is_done, &e, 5000));
    log = capture_stop(&cap);
    assert_non_null(strstr(log, "not acknowledged within 300 ms"));
    free(log);
    assert_int_equal(fake_env_spool_rows(dir), 1);
    env_close(&e);
    spool_dir_free(dir);
}

/* A reload with a new hook and room keeps the stream and joins the room;
 * a changed [component] server reconnects. */
static void test_reload(void **state)
{
    struct env_opts eo = {0};
    struct conf_diag diag;
    struct conf *c2, *c3;
    char text[1024];
    struct env e;

    eo.fo.muc_auto = 1;
    env_open(&e, &eo);
    start_ready(&e);
    snprintf(text, sizeof(text),
             "[component]\ndomain = " DOMAIN "\nserver = 127.0.0.1\n"
             "port = %u\nsecret = " SECRET "\n[spool]\npath = none\n"
             "[hook alerts]\ntoken = 0123456789abcdef0123456789abcdef\n"
             "from = bot\nto = " USER "\n"
             "[hook ops]\ntoken = abcdef0123456789abcdef0123456789\n"
             "from = opsbot\nroom = " ROOM "\n",
             (unsigned)fake_port(e.fs));
    assert_non_null(c2 = conf_load_string(text, "t2.conf", &diag));
    assert_int_equal(comp_reload(e.c, c2), 0);
    conf_free(e.cfg);
    e.cfg = c2;
    g_want = 1;
    assert_true(fake_run_until(e.base, got_joins, &e, 3000));
    assert_attr(fake_find(e.fs, "presence", NULL, NULL, 0), "to", ROOM "/ops");
    assert_int_equal(fake_connections(e.fs), 1);
    assert_int_equal(comp_state(e.c), COMP_READY);

    snprintf(text, sizeof(text),
             "[component]\ndomain = " DOMAIN "\nserver = localhost\n"
             "port = %u\nsecret = " SECRET "\n[spool]\npath = none\n"
             "[hook alerts]\ntoken = 0123456789abcdef0123456789abcdef\n"
             "from = bot\nto = " USER "\n",
             (unsigned)fake_port(e.fs));
    assert_non_null(c3 = conf_load_string(text, "t3.conf", &diag));
    assert_int_equal(comp_reload(e.c, c3), 0);
    conf_free(e.cfg);
    e.cfg = c3;
    g_want = 2;
    assert_true(fake_run_until(e.base, got_auths, &e, 5000));
    assert_int_equal(fake_connections(e.fs), 2);
    env_close(&e);
}

/* The outbox holds queue_max messages (not deliveries); the next one gets
 * XMTA_E_FULL; invalid messages get XMTA_E_INVAL. */
static void test_outbox_full(void **state)
{
    struct env_opts eo = {0};
    struct msg *bad;
    struct env e;

    eo.queue = 3;
    env_open(&e, &eo);
    assert_int_equal(comp_submit(e.c, make_msg("q1", "1", USER, NULL)), 0);
    {
        struct msg *two = make_msg("q2", "2", USER, NULL);

        assert_int_equal(msg_add_to(two, "romeo@localhost"), 0);
        assert_int_equal(comp_submit(e.c, two), 0);
    }
    assert_int_equal(comp_submit(e.c, make_msg("q3", "3", USER, NULL)), 0);
    assert_int_equal(comp_queued(e.c), 3);
    assert_int_equal(comp_submit(e.c, make_msg("q4", "4", USER, NULL)),
                     XMTA_E_FULL);
    assert_int_equal(comp_queued(e.c), 3);
    bad = make_msg("q5", "5", NULL, NULL); /* no recipient */
    assert_int_equal(comp_submit(e.c, bad), XMTA_E_INVAL);
    assert_int_equal(comp_submit(e.c, NULL), XMTA_E_INVAL);
    assert_int_equal(comp_submit(NULL, make_msg("q6", "6", USER, NULL)),
                     XMTA_E_INVAL);
    start_ready(&e);
    g_want = 4;
    assert_true(fake_run_until(e.base, got_messages, &e, 3000));
    assert_int_equal(comp_queued(e.c), 0);
    assert_attr(fake_find(e.fs, "message", NULL, NULL, 1), "to", USER);
    assert_attr(fake_find(e.fs, "message", NULL, NULL, 2), "to",
                "romeo@localhost");
    assert_null(fake_find(e.fs, "message", "id", "q4", 0));
    assert_int_equal(comp_submit(e.c, make_msg("q7", "7", USER, NULL)), 0);
    env_close(&e);
}

static const char self_presence[] =
    "<presence from='" ROOM "/Bot' to='" BOT_FULL "'>"
    "<x xmlns='http://jabber.org/protocol/muc#user'>"
    "<item affiliation='owner' role='moderator' jid='" BOT_FULL "'/>"
    "<status code='110'/></x></presence>";

/* The room kicked the bot (307). */
static const char kicked_presence[] =
    "<presence type='unavailable' from='" ROOM "/Bot' to='" BOT_FULL "'>"
    "<x xmlns='http://jabber.org/protocol/muc#user'>"
    "<item affiliation='none' role='none'/>"
    "<status code='307'/><status code='110'/></x></presence>";

/* A room message waits until the room confirms the join (110), without
 * holding up a user message; then it goes out as groupchat from exactly
 * the full JID that joined. A kick (307) leads to a rejoin. */
static void test_room(void **state)
{
    struct env_opts eo = {0};
    const struct xml_node *j, *x, *h, *m;
    struct capture cap;
    size_t joined, total;
    struct env e;
    char *log;

    eo.hook_extra = "room = " ROOM "\n";
    env_open(&e, &eo);
    comp_rooms(e.c, &joined, &total);
    assert_int_equal(joined, 0);
    assert_int_equal(total, 1);
    submit(&e, "r1", "to both", USER, ROOM);
    submit(&e, "r2", "room only", NULL, ROOM);
    start_ready(&e);
    g_want = 1;
    assert_true(fake_run_until(e.base, got_joins, &e, 3000));
    assert_true(fake_run_until(e.base, got_messages, &e, 3000));
    /* The join. */
    j = fake_find(e.fs, "presence", NULL, NULL, 0);
    assert_attr(j, "from", BOT_FULL);
    assert_attr(j, "to", ROOM "/Bot");
    assert_attr(j, "type", NULL);
    assert_non_null(xml_node_attr(j, "id"));
    x = xml_node_child(j, "x", "http://jabber.org/protocol/muc");
    assert_non_null(x);
    h = xml_node_child(x, "history", NULL);
    assert_non_null(h);
    assert_attr(h, "maxchars", "0");
    /* Only the user's copy went out; the room's wait. */
    assert_true(fake_run_until(e.base, NULL, NULL, 200));
    assert_int_equal(fake_count_named(e.fs, "message", NULL, NULL), 1);
    assert_attr(fake_find(e.fs, "message", NULL, NULL, 0), "to", USER);
    assert_int_equal(comp_queued(e.c), 2);
    /* Another occupant's presence is not ours. */
    assert_int_equal(
        fake_send(e.fs, "<presence from='" ROOM "/alice' to='" BOT_FULL "'>"
                        "<x xmlns='http://jabber.org/protocol/muc#user'>"
                        "<item affiliation='member' role='participant'/>"
                        "</x></presence>"),
        0);
    barrier(&e, "room-b1");
    comp_rooms(e.c, &joined, &total);
    assert_int_equal(joined, 0);
    assert_int_equal(fake_count_named(e.fs, "message", NULL, NULL), 1);
    /* Self-presence: joined, the room messages go out in order. */
    capture_start(&cap);
    assert_int_equal(fake_send(e.fs, self_presence), 0);
    g_want = 2;
    assert_true(fake_run_until(e.base, got_groupchat, &e, 3000));
    log = capture_stop(&cap);
    assert_non_null(strstr(log, "joined room " ROOM " as Bot"));
    free(log);
    comp_rooms(e.c, &joined, &total);
    assert_int_equal(joined, 1);
    assert_int_equal(total, 1);
    for (int i = 0; i < 2; i++) {
        m = fake_find(e.fs, "message", "type", "groupchat", (size_t)i);
        assert_attr(m, "from", BOT_FULL);
        assert_attr(m, "to", ROOM);
        assert_attr(m, "id", i == 0 ? "r1" : "r2");
        assert_null(xml_node_child(m, "subject", NULL));
    }
    assert_int_equal(comp_queued(e.c), 0);
    /* Kicked: not joined, and joins again after a backoff. */
    assert_int_equal(fake_send(e.fs, kicked_presence), 0);
    g_want = 2;
    assert_true(fake_run_until(e.base, got_joins, &e, 3000));
    comp_rooms(e.c, &joined, &total);
    assert_int_equal(joined, 0);
    /* While not joined, a new room message waits again. */
    submit(&e, "r3", "after kick", NULL, ROOM);
    assert_true(fake_run_until(e.base, NULL, NULL, 100));
    assert_null(fake_find(e.fs, "message", "id", "r3", 0));
    assert_int_equal(fake_send(e.fs, self_presence), 0);
    g_want = 3;
    assert_true(fake_run_until(e.base, got_groupchat, &e, 3000));
    env_close(&e);
}

/* Join failures: no answer -> join again; nick conflict -> a suffix;
 * other errors -> retry later. A room subject also completes a join. */
static void test_room_retry(void **state)
{
    struct env_opts eo = {0};
    struct comp_timing t;
    size_t joined, total;
    struct env e;

    eo.hook_extra = "room = " ROOM "\n";
    env_open(&e, &eo);
    comp_get_timing(e.c, &t);
    t.join_timeout_ms = 150;
    comp_set_timing(e.c, &t);
    start_ready(&e);
    g_want = 2; /* the first join times out */
    assert_true(fake_run_until(e.base, got_joins, &e, 3000));
    assert_attr(fake_find(e.fs, "presence", NULL, NULL, 1), "to", ROOM "/Bot");
    t.join_timeout_ms = 5000;
    comp_set_timing(e.c, &t);
    g_want = 3; /* the third, after another timeout, waits 5 s */
    assert_true(fake_run_until(e.base, got_joins, &e, 3000));
    assert_int_equal(
        fake_send(e.fs,
                  "<presence type='error' from='" ROOM "/Bot' to='" BOT_FULL
                  "'><error type='cancel'><conflict "
                  "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
                  "</presence>"),
        0);
    g_want = 4;
    assert_true(fake_run_until(e.base, got_joins, &e, 3000));
    assert_attr(fake_find(e.fs, "presence", NULL, NULL, 3), "to",
                ROOM "/Bot-2");
    assert_int_equal(
        fake_send(e.fs,
                  "<presence type='error' from='" ROOM "/Bot-2' to='" BOT_FULL
                  "'><error type='auth'><registration-required "
                  "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
                  "</presence>"),
        0);
    g_want = 5;
    assert_true(fake_run_until(e.base, got_joins, &e, 3000));
    /* The subject message completes the join. */
    assert_int_equal(fake_send(e.fs,
                               "<message type='groupchat' from='" ROOM
                               "' to='" BOT_FULL "'><subject>ops</subject>"
                               "</message>"),
                     0);
    barrier(&e, "subj");
    comp_rooms(e.c, &joined, &total);
    assert_int_equal(joined, 1);
    submit(&e, "s1", "hi", NULL, ROOM);
    g_want = 1;
    assert_true(fake_run_until(e.base, got_groupchat, &e, 3000));
    assert_attr(fake_find(e.fs, "message", "type", "groupchat", 0), "from",
                BOT_FULL);
    env_close(&e);
}

static int expired_three(void *arg)
{
    struct env *e = arg;
    struct comp_spool_status st;

    comp_spool_status(e->c, &st);
    return st.expired >= 3;
}

/* Messages for a room that is not joined wait aside (the drain parks
 * them, so that what piles up for a room that stays away is not walked
 * again by every drain): a user message submitted after 200 of them goes
 * out at once; at the join the 200 go out in order, before one submitted
 * after the join. */
static void test_room_waiting(void **state)
{
    struct env_opts eo = {0};
    const struct xml_node *m;
    struct env e;
    char id[32];

    eo.hook_extra = "room = " ROOM "\n";
    env_open(&e, &eo);
    start_ready(&e);
    g_want = 1;
    assert_true(fake_run_until(e.base, got_joins, &e, 3000));
    for (int i = 0; i < 200; i++) {
        snprintf(id, sizeof(id), "w%d", i);
        submit(&e, id, "waits for the room", NULL, ROOM);
    }
    submit(&e, "u1", "for the user", USER, NULL);
    g_want = 1;
    assert_true(fake_run_until(e.base, got_messages, &e, 3000));
    assert_attr(fake_find(e.fs, "message", NULL, NULL, 0), "id", "u1");
    assert_int_equal(comp_queued(e.c), 200);
    assert_int_equal(fake_send(e.fs, self_presence), 0);
    barrier(&e, "joined");
    submit(&e, "after", "after the join", NULL, ROOM);
    g_want = 201;
    assert_true(fake_run_until(e.base, got_groupchat, &e, 5000));
    for (int i = 0; i < 200; i++) {
        snprintf(id, sizeof(id), "w%d", i);
        m = fake_find(e.fs, "message", "type", "groupchat", (size_t)i);
        assert_attr(m, "id", id);
        assert_attr(m, "to", ROOM);
    }
    assert_attr(fake_find(e.fs, "message", "type", "groupchat", 200), "id",
                "after");
    assert_int_equal(comp_queued(e.c), 0);
    env_close(&e);
}

/* Waiting (parked) room messages are dropped by the max_age sweep: with
 * max_age = 1 and a sweep every 100 ms, three of them expire while the
 * room stays away, and none goes out when it joins later. */
static void test_room_waiting_expires(void **state)
{
    struct env_opts eo = {0};
    struct comp_timing t;
    struct env e;

    eo.hook_extra = "room = " ROOM "\n";
    eo.spool_extra = "max_age = 1\n";
    env_open(&e, &eo);
    comp_get_timing(e.c, &t);
    t.expire_ms = 100;
    comp_set_timing(e.c, &t);
    start_ready(&e);
    for (int i = 0; i < 3; i++)
        submit(&e, i == 0 ? "x0" : i == 1 ? "x1" : "x2", "expires", NULL, ROOM);
    submit(&e, "u1", "for the user", USER, NULL); /* a drain has run */
    g_want = 1;
    assert_true(fake_run_until(e.base, got_messages, &e, 3000));
    assert_int_equal(comp_queued(e.c), 3);
    assert_true(fake_run_until(e.base, expired_three, &e, 5000));
    assert_int_equal(comp_queued(e.c), 0);
    assert_int_equal(fake_send(e.fs, self_presence), 0);
    barrier(&e, "joined");
    assert_true(fake_run_until(e.base, NULL, NULL, 200));
    assert_int_equal(fake_count_named(e.fs, "message", "type", "groupchat"), 0);
    env_close(&e);
}

/* After a link loss, a room's written but unacknowledged message goes
 * out again before its parked one: "a" is written (no ack: the first
 * server ignores pings), the bot is kicked, "b" waits, the link dies; in
 * the new session, once joined, "a" then "b". */
static void test_room_waiting_resend_order(void **state)
{
    struct env_opts eo = {0};
    size_t joined, total;
    struct env e;

    eo.hook_extra = "room = " ROOM "\n";
    eo.fo.mode = FAKE_IGNORE_PINGS;
    eo.fo.mode_conns = 1;
    env_open(&e, &eo);
    start_ready(&e);
    g_want = 1;
    assert_true(fake_run_until(e.base, got_joins, &e, 3000));
    assert_int_equal(fake_send(e.fs, self_presence), 0);
    barrier(&e, "joined");
    submit(&e, "a", "written", NULL, ROOM);
    g_want = 1;
    assert_true(fake_run_until(e.base, got_groupchat, &e, 3000));
    assert_int_equal(fake_send(e.fs, kicked_presence), 0);
    barrier(&e, "kicked");
    comp_rooms(e.c, &joined, &total);
    assert_int_equal(joined, 0);
    submit(&e, "b", "parked", NULL, ROOM);
    assert_true(fake_run_until(e.base, NULL, NULL, 100));
    assert_int_equal(fake_count_named(e.fs, "message", "type", "groupchat"), 1);
    fake_kick(e.fs);
    g_want = 2;
    assert_true(fake_run_until(e.base, got_connections, &e, 5000));
    assert_true(fake_run_until(e.base, is_ready, &e, 5000));
    assert_true(fake_run_until(e.base, got_joins, &e, 3000));
    assert_int_equal(fake_send(e.fs, self_presence), 0);
    g_want = 3;
    assert_true(fake_run_until(e.base, got_groupchat, &e, 3000));
    assert_attr(fake_find(e.fs, "message", "type", "groupchat", 1), "id", "a");
    assert_attr(fake_find(e.fs, "message", "type", "groupchat", 2), "id", "b");
    env_close(&e);
}

/* A room that is not in the config is joined for the message. */
static void test_room_dynamic(void **state)
{
    struct env_opts eo = {0};
    size_t joined, total;
    struct env e;

    eo.fo.muc_auto = 1;
    env_open(&e, &eo);
    comp_rooms(e.c, &joined, &total);
    assert_int_equal(total, 0);
    start_ready(&e);
    submit(&e, "dyn1", "hello", NULL, "dev@conference.localhost");
    g_want = 1;
    assert_true(fake_run_until(e.base, got_groupchat, &e, 3000));
    assert_attr(fake_find(e.fs, "presence", NULL, NULL, 0), "to",
                "dev@conference.localhost/Bot");
    assert_attr(fake_find(e.fs, "message", "type", "groupchat", 0), "to",
                "dev@conference.localhost");
    comp_rooms(e.c, &joined, &total);
    assert_int_equal(joined, 1);
    assert_int_equal(total, 1);
    env_close(&e);
}

/* Shutdown while READY: unavailable presence to joined rooms, then
 * </stream:stream>; done is called from the loop; no reconnect after. */
static void test_shutdown(void **state)
{
    struct env_opts eo = {0};
    const struct xml_node *p;
    size_t joined, total;
    struct env e;

    eo.fo.muc_auto = 1;
    eo.hook_extra = "room = " ROOM "\n";
    env_open(&e, &eo);
    start_ready(&e);
    assert_true(fake_run_until(e.base, room_joined, &e, 3000));
    comp_shutdown(e.c, on_done, &e);
    assert_int_equal(e.done, 0); /* never from inside comp_shutdown */
    assert_true(fake_run_until(e.base, is_done, &e, 3000));
    assert_int_equal(e.done, 1);
    assert_int_equal(fake_closes(e.fs), 1);
    p = fake_find(e.fs, "presence", "type", "unavailable", 0);
    assert_non_null(p);
    assert_attr(p, "from", BOT_FULL);
    assert_attr(p, "to", ROOM "/Bot");
    assert_int_equal(comp_state(e.c), COMP_IDLE);
    comp_rooms(e.c, &joined, &total);
    assert_int_equal(joined, 0);
    assert_int_equal(comp_submit(e.c, make_msg("late", "x", USER, NULL)),
                     XMTA_E_FULL);
    assert_true(fake_run_until(e.base, NULL, NULL, 300));
    assert_int_equal(fake_connections(e.fs), 1);
    assert_int_equal(e.done, 1);
    env_close(&e);
}

/* Shutdown when the server never closes its side: done after close_ms. */
static void test_shutdown_timeout(void **state)
{
    struct env_opts eo = {0};
    struct comp_timing t;
    struct env e;
    uint64_t t0;

    eo.fo.no_close_reply = 1;
    env_open(&e, &eo);
    comp_get_timing(e.c, &t);
    t.close_ms = 300;
    comp_set_timing(e.c, &t);
    start_ready(&e);
    t0 = fake_now_ms();
    comp_shutdown(e.c, on_done, &e);
    assert_int_equal(comp_state(e.c), COMP_CLOSING);
    assert_true(fake_run_until(e.base, is_done, &e, 3000));
    assert_true(fake_now_ms() - t0 >= 250);
    assert_int_equal(fake_closes(e.fs), 1);
    env_close(&e);
}

/* Shutdown before connecting, or while waiting to reconnect: done comes
 * from the loop at once and no connection follows. */
static void test_shutdown_idle(void **state)
{
    struct env_opts eo = {0};
    struct comp_timing t;
    struct env e;

    env_open(&e, &eo);
    comp_shutdown(e.c, on_done, &e);
    assert_int_equal(e.done, 0);
    assert_true(fake_run_until(e.base, is_done, &e, 1000));
    assert_int_equal(comp_start(e.c), XMTA_E_STATE);
    env_close(&e);

    eo.fo.mode = FAKE_STREAM_ERROR;
    env_open(&e, &eo);
    comp_get_timing(e.c, &t);
    t.backoff_min_ms = 400;
    comp_set_timing(e.c, &t);
    assert_int_equal(comp_start(e.c), 0);
    g_want = 1;
    assert_true(fake_run_until(e.base, got_connections, &e, 3000));
    assert_true(fake_run_until(e.base, is_idle, &e, 3000));
    comp_shutdown(e.c, on_done, &e);
    assert_true(fake_run_until(e.base, is_done, &e, 1000));
    assert_true(fake_run_until(e.base, NULL, NULL, 600));
    assert_int_equal(fake_connections(e.fs), 1);
    env_close(&e);
}

/* A body of n 'x' (malloc'd), and e opened (stanzas recorded light), READY,
 * with the server not reading: the stream's output backs up. */
static char *open_paused(struct env *e, size_t n)
{
    struct env_opts eo = {0};
    char *big = malloc(n + 1);

    assert_non_null(big);
    memset(big, 'x', n);
    big[n] = '\0';
    eo.fo.light = 1;
    env_open(e, &eo);
    start_ready(e);
    fake_pause(e->fs, 1);
    return big;
}

/* Output back-pressure: with the server not reading, the drain stops at
 * the watermark (messages stay in the outbox rather than piling up in the
 * output buffer), and everything arrives in order once it reads again.
 * 800 x 16 KiB is more than the loopback socket buffers take, so without
 * the watermark the outbox would be empty. */
static void test_backpressure(void **state)
{
    enum { N = 800, BODY = 16384 };
    struct env e;
    char *big = open_paused(&e, BODY);
    char id[16];
    size_t q;

    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "bp-%d", i);
        submit(&e, id, big, USER, NULL);
    }
    assert_true(fake_run_until(e.base, NULL, NULL, 500));
    q = comp_queued(e.c);
    fprintf(stderr, "back-pressure: %zu of %d messages still queued\n", q,
            (int)N);
    assert_true(q > 0);
    assert_true(q < N);
    fake_pause(e.fs, 0);
    g_want = N;
    assert_true(fake_run_until(e.base, got_messages, &e, 30000));
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "bp-%d", i);
        assert_attr(fake_find(e.fs, "message", NULL, NULL, (size_t)i), "id",
                    id);
    }
    assert_int_equal(comp_queued(e.c), 0);
    assert_int_equal(fake_connections(e.fs), 1);
    free(big);
    env_close(&e);
}

static unsigned g_answered, g_answered_ok;

static void on_answer(void *arg, int rc)
{
    (void)arg;
    g_answered++;
    g_answered_ok += rc == 0;
}

static int all_answered(void *arg)
{
    (void)arg;
    return g_answered >= g_want;
}

/* Back-pressure to the submitters: with the server not reading (the
 * stream's output full) and COMP_HOLD_HIGH messages waiting, a new
 * message is accepted but its answer waits: at most COMP_HOLD_MAX_MS,
 * and not when the stream goes down; everything is delivered in order
 * once the server reads. */
static void test_answers_held(void **state)
{
    /* more than the loopback socket buffers take (about 10 MB) plus
     * COMP_HOLD_HIGH */
    enum { N = COMP_HOLD_HIGH + 4000, BODY = 4096 };
    struct comp_counters cn;
    struct env e;
    char *big = open_paused(&e, BODY);
    char id[16];

    (void)state;
    g_answered = g_answered_ok = 0;
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "h-%d", i);
        assert_int_equal(comp_submit_async(e.c, make_msg(id, big, USER, NULL),
                                           on_answer, NULL),
                         0);
        if (i % 256 == 0) /* let the stream write (and fill up) */
            fake_run_until(e.base, NULL, NULL, 20);
    }
    fake_run_until(e.base, NULL, NULL, 300);
    comp_counters(e.c, &cn);
    fprintf(stderr, "held: %lu of %d answers, %u answered\n", cn.held, (int)N,
            g_answered);
    assert_true(cn.held > 0);
    assert_int_equal(g_answered_ok, g_answered);
    assert_true(comp_queued(e.c) >= COMP_HOLD_HIGH);
    /* the server still reads nothing: answered after COMP_HOLD_MAX_MS */
    g_want = N;
    assert_true(
        fake_run_until(e.base, all_answered, NULL, COMP_HOLD_MAX_MS + 2000));
    assert_int_equal(g_answered_ok, N);
    /* held again (still COMP_HOLD_HIGH waiting); the stream going down
     * answers them at once */
    g_answered = g_answered_ok = 0;
    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof(id), "k-%d", i);
        assert_int_equal(comp_submit_async(e.c, make_msg(id, big, USER, NULL),
                                           on_answer, NULL),
                         0);
    }
    fake_run_until(e.base, NULL, NULL, 50);
    assert_int_equal(g_answered, 0);
    fake_kick(e.fs);
    g_want = 3;
    assert_true(fake_run_until(e.base, all_answered, NULL, 1000));
    assert_int_equal(g_answered_ok, 3);
    /* everything arrives once the server reads (again) */
    fake_pause(e.fs, 0);
    g_want = N + 3;
    assert_true(fake_run_until(e.base, got_messages, &e, 60000));
    assert_int_equal(comp_queued(e.c), 0);
    free(big);
    env_close(&e);
}

/* A host name resolving to several addresses (localhost: maybe ::1 first,
 * the fake listens on 127.0.0.1 only): each is tried in turn. */
static void test_resolve_localhost(void **state)
{
    struct env_opts eo = {0};
    struct capture cap;
    struct env e;
    char *log;

    eo.server = "localhost";
    env_open(&e, &eo);
    capture_start(&cap);
    assert_int_equal(comp_start(e.c), 0);
    assert_true(fake_run_until(e.base, is_ready, &e, 5000));
    log = capture_stop(&cap);
    assert_non_null(strstr(log, "connected to 127.0.0.1:"));
    free(log);
    env_close(&e);
}

/* Nobody listening: connection refused, retried with backoff. */
static void test_refused(void **state)
{
    struct env_opts eo = {0};
    struct fake_server *gone;
    struct event_base *b2 = event_base_new();
    struct fake_opts fo = {0};
    struct capture cap;
    struct env e;
    char *log;

    /* A port that was just free: bind one, note it, close it. */
    fo.domain = DOMAIN;
    fo.secret = SECRET;
    assert_non_null(b2);
    gone = fake_new(b2, &fo);
    assert_non_null(gone);
    eo.port = fake_port(gone);
    fake_free(gone);
    event_base_free(b2);
    env_open(&e, &eo);
    capture_start(&cap);
    assert_int_equal(comp_start(e.c), 0);
    assert_false(fake_run_until(e.base, is_ready, &e, 400));
    log = capture_stop(&cap);
    assert_non_null(strstr(log, "failed"));
    assert_non_null(strstr(log, "reconnecting in"));
    assert_int_equal(fake_connections(e.fs), 0);
    free(log);
    env_close(&e);
}

/* Freeing the component in any state is clean (ASan checks the rest). */
static void test_free_while_connecting(void **state)
{
    struct env_opts eo = {0};
    struct env e;

    eo.fo.mode = FAKE_SILENT;
    env_open(&e, &eo);
    submit(&e, "f1", "x", USER, ROOM);
    assert_int_equal(comp_start(e.c), 0);
    g_want = 1;
    assert_true(fake_run_until(e.base, got_connections, &e, 3000));
    env_close(&e);
}

/* ---- reload: rooms removed; ack replies that reach another connection -- */

#define ROOM2 "dev@conference.localhost"

static void reload_rooms(struct env *e, const char *name, const char *rooms)
{
    struct conf_diag diag;
    struct conf *c2;
    char text[1024];

    snprintf(text, sizeof(text),
             "[component]\ndomain = " DOMAIN "\nserver = 127.0.0.1\n"
             "port = %u\nsecret = " SECRET "\n[spool]\npath = none\n"
             "[hook alerts]\ntoken = 0123456789abcdef0123456789abcdef\n"
             "from = bot\nnick = Bot\nto = " USER "\n%s",
             (unsigned)fake_port(e->fs), rooms);
    c2 = conf_load_string(text, name, &diag);
    if (!c2)
        fail_msg("conf: %s:%d: %s", diag.file, diag.line, diag.msg);
    assert_int_equal(comp_reload(e->c, c2), 0);
    conf_free(e->cfg);
    e->cfg = c2;
}

/* Unavailable presences from the bot to ROOM/Bot so far. */
static size_t leaves_to(const struct env *e, const char *to)
{
    size_t n = 0;

    for (size_t i = 0; i < fake_count(e->fs); i++) {
        const struct xml_node *p = fake_stanza(e->fs, i);
        const char *type = xml_node_attr(p, "type");
        const char *pto = xml_node_attr(p, "to");

        n += strcmp(xml_node_name(p), "presence") == 0 && type &&
             strcmp(type, "unavailable") == 0 && pto && strcmp(pto, to) == 0;
    }
    return n;
}

static int left_room2(void *arg)
{
    return leaves_to(arg, ROOM2 "/Bot") >= 1;
}

static size_t rooms_total(const struct env *e)
{
    size_t total = 0;

    comp_rooms(e->c, NULL, &total);
    return total;
}

/* SIGHUP: a room removed from the config is left at once (unavailable
 * presence) and leaves /health; one added is joined; a removed room with
 * a message still queued for it stays until that message was delivered
 * and acknowledged, then it is left. The stream stays up throughout. */
static void test_reload_rooms(void **state)
{
    struct env_opts eo = {0};
    struct comp_room_info ri;
    struct capture cap;
    size_t joined, total;
    struct env e;
    char *log;

    eo.hook_extra = "room = " ROOM "\n";
    env_open(&e, &eo);
    start_ready(&e);
    g_want = 1;
    assert_true(fake_run_until(e.base, got_joins, &e, 3000));
    assert_int_equal(fake_send(e.fs, self_presence), 0);
    assert_true(fake_run_until(e.base, room_joined, &e, 3000));

    /* Removed: left at once, gone from the room list. */
    capture_start(&cap);
    reload_rooms(&e, "t1.conf", "");
    barrier(&e, "rr-1");
    log = capture_stop(&cap);
    assert_int_equal(leaves_to(&e, ROOM "/Bot"), 1);
    assert_attr(fake_find(e.fs, "presence", "type", "unavailable", 0), "from",
                BOT_FULL);
    assert_non_null(strstr(log, "left room " ROOM " (bot)"));
    free(log);
    comp_rooms(e.c, &joined, &total);
    assert_int_equal(joined, 0);
    assert_int_equal(total, 0);
    assert_int_equal(comp_room_info(e.c, 0, &ri), XMTA_E_NOTFOUND);
    /* Not joined again by a later drain. */
    submit(&e, "rr-u1", "user", USER, NULL);
    g_want = 1;
    assert_true(fake_run_until(e.base, got_messages, &e, 3000));
    g_want = 2;
    assert_false(fake_run_until(e.base, got_joins, &e, 200));

    /* Back, and a new one: both joined (ROOM2 never answers here). */
    reload_rooms(&e, "t2.conf", "room = " ROOM "\nroom = " ROOM2 "\n");
    g_want = 3;
    assert_true(fake_run_until(e.base, got_joins, &e, 3000));
    assert_int_equal(fake_send(e.fs, self_presence), 0);
    assert_true(fake_run_until(e.base, room_joined, &e, 3000));
    comp_rooms(e.c, &joined, &total);
    assert_int_equal(joined, 1);
    assert_int_equal(total, 2);

    /* A message waits for ROOM2; ROOM2 is removed: kept until it is
     * delivered, and reported meanwhile. */
    submit(&e, "rr-r2", "for dev", NULL, ROOM2);
    assert_true(fake_run_until(e.base, NULL, NULL, 100));
    reload_rooms(&e, "t3.conf", "room = " ROOM "\n");
    barrier(&e, "rr-2");
    assert_int_equal(leaves_to(&e, ROOM2 "/Bot"), 0);
    assert_int_equal(rooms_total(&e), 2);
    assert_int_equal(comp_room_info(e.c, 1, &ri), 0);
    assert_string_equal(ri.jid, ROOM2);
    assert_non_null(strstr(ri.error, "leaving after 1 queued message"));
    assert_int_equal(
        fake_send(e.fs, "<presence from='" ROOM2 "/Bot' to='" BOT_FULL "'>"
                        "<x xmlns='http://jabber.org/protocol/muc#user'>"
                        "<item affiliation='member' role='participant'/>"
                        "<status code='110'/></x></presence>"),
        0);
    assert_true(fake_run_until(e.base, left_room2, &e, 3000));
    assert_non_null(fake_find(e.fs, "message", "id", "rr-r2", 0));
    assert_attr(fake_find(e.fs, "message", "id", "rr-r2", 0), "to", ROOM2);
    assert_int_equal(rooms_total(&e), 1);
    assert_int_equal(comp_room_info(e.c, 0, &ri), 0);
    assert_string_equal(ri.jid, ROOM);
    assert_int_equal(comp_room_info(e.c, 1, &ri), XMTA_E_NOTFOUND);
    /* One stream all along. */
    assert_int_equal(fake_connections(e.fs), 1);
    assert_int_equal(comp_state(e.c), COMP_READY);
    env_close(&e);
}

/* ejabberd spreads the stanzas for a domain over every connection that
 * holds it, so the answer to our ack ping may reach another instance:
 * replies with another connection's tag are ignored, an unanswered ack is
 * asked again (a later answer covers the earlier pings) and, while the
 * server sends other traffic, the link is not declared dead. */
static void test_ack_elsewhere(void **state)
{
    struct env_opts eo = {0};
    const struct xml_node *p;
    char reply[256];
    struct env e;
    size_t k;

    eo.spool = spool_dir_new();
    eo.fo.mode = FAKE_IGNORE_PINGS;
    env_open(&e, &eo);
    env_set_timing(&e, 300, 400, 0); /* keepalive pings unanswered too */
    start_ready(&e);
    submit(&e, "ae-1", "x", USER, NULL);
    g_want = 1;
    assert_true(fake_run_until(e.base, got_messages, &e, 3000));
    assert_true(fake_run_until(e.base, NULL, NULL, 50));
    assert_non_null(p = find_ping(&e, "ack-", 1));
    /* Another connection's answer: not ours. */
    assert_int_equal(
        fake_send(e.fs, "<iq type='result' id='ack-0000000-1' from='localhost'"
                        " to='" DOMAIN "'/>"),
        0);
    /* Other traffic keeps flowing, our answers never come: for three
     * ping timeouts the link stays up, and the ack is asked again. */
    for (int i = 0; i < 12; i++) {
        snprintf(reply, sizeof(reply),
                 "<message type='chat' id='t%d' from='" USER "' to='" BOT_BARE
                 "'/>",
                 i);
        assert_int_equal(fake_send(e.fs, reply), 0);
        assert_true(fake_run_until(e.base, NULL, NULL, 100));
    }
    assert_int_equal(fake_connections(e.fs), 1);
    assert_int_equal(comp_state(e.c), COMP_READY);
    assert_int_equal(spool_depth(&e), 1);
    for (k = 2; find_ping(&e, "ack-", k); k++)
        ;
    assert_true(k > 3); /* asked again several times */
    /* The answer to the latest one (ours) acknowledges everything. */
    p = find_ping(&e, "ack-", k - 1);
    snprintf(reply, sizeof(reply),
             "<iq type='result' id='%s' from='localhost' to='" DOMAIN "'/>",
             xml_node_attr(p, "id"));
    assert_int_equal(fake_send(e.fs, reply), 0);
    assert_true(fake_run_until(e.base, depth_zero, &e, 3000));
    /* Silence now: the link is declared dead after the timeout. */
    assert_int_equal(comp_submit(e.c, make_msg("ae-2", "y", USER, NULL)), 0);
    assert_true(fake_run_until(e.base, not_ready, &e, 3000));
    env_close(&e);
    spool_dir_free((char *)eo.spool);
}

/* Only valid addresses under our domain reach the server: the bot
 * localpart is nodeprepped ("BOT" is sent as bot@domain), an invalid one
 * or an invalid recipient is refused with XMTA_E_INVAL. */
static void test_addresses(void **state)
{
    struct env_opts eo = {0};
    struct msg *m;
    struct env e;

    env_open(&e, &eo);
    m = make_msg("ad-1", "x", USER, NULL);
    free(m->from);
    m->from = strdup("BOT");
    assert_int_equal(comp_submit(e.c, m), 0);
    m = make_msg("ad-2", "x", USER, NULL);
    free(m->from);
    m->from = strdup("b ot"); /* nodeprep forbids spaces */
    assert_int_equal(comp_submit(e.c, m), XMTA_E_INVAL);
    m = make_msg("ad-3", "x", USER, NULL);
    free(m->from);
    m->from = strdup("b<t");
    assert_int_equal(comp_submit(e.c, m), XMTA_E_INVAL);
    assert_int_equal(
        comp_submit(e.c, make_msg("ad-4", "x", "a b@localhost", NULL)),
        XMTA_E_INVAL);
    assert_int_equal(comp_submit(e.c, make_msg("ad-5", "x", NULL,
                                               "room@conf.localhost/nick")),
                     XMTA_E_INVAL);
    /* The addresses passed last are remembered: the same bot again is
     * normalised again, and what was refused stays refused. */
    m = make_msg("ad-6", "x", USER, NULL);
    free(m->from);
    m->from = strdup("BOT");
    assert_int_equal(comp_submit(e.c, m), 0);
    m = make_msg("ad-7", "x", USER, NULL);
    free(m->from);
    m->from = strdup("b ot");
    assert_int_equal(comp_submit(e.c, m), XMTA_E_INVAL);
    assert_int_equal(
        comp_submit(e.c, make_msg("ad-8", "x", "a b@localhost", NULL)),
        XMTA_E_INVAL);
    assert_int_equal(comp_queued(e.c), 2);
    start_ready(&e);
    g_want = 2;
    assert_true(fake_run_until(e.base, got_messages, &e, 3000));
    assert_attr(fake_find(e.fs, "message", "id", "ad-1", 0), "from", BOT_BARE);
    assert_attr(fake_find(e.fs, "message", "id", "ad-6", 0), "from", BOT_BARE);
    env_close(&e);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_happy_path),
        cmocka_unit_test(test_nothing_before_handshake),
        cmocka_unit_test(test_wrong_secret),
        cmocka_unit_test(test_silent_server),
        cmocka_unit_test(test_close_mid_stanza),
        cmocka_unit_test(test_drop_and_drain),
        cmocka_unit_test(test_backoff_reset),
        cmocka_unit_test(test_bad_xml),
        cmocka_unit_test(test_stream_error_conflict),
        cmocka_unit_test(test_stream_error_host_unknown),
        cmocka_unit_test(test_bytewise),
        cmocka_unit_test(test_ping_answered),
        cmocka_unit_test(test_ping_ignored),
        cmocka_unit_test(test_read_timeout),
        cmocka_unit_test(test_incoming_iq),
        cmocka_unit_test(test_error_message),
        cmocka_unit_test(test_outbox_full),
        cmocka_unit_test(test_room),
        cmocka_unit_test(test_room_retry),
        cmocka_unit_test(test_room_waiting),
        cmocka_unit_test(test_room_waiting_expires),
        cmocka_unit_test(test_room_waiting_resend_order),
        cmocka_unit_test(test_room_dynamic),
        cmocka_unit_test(test_shutdown),
        cmocka_unit_test(test_shutdown_timeout),
        cmocka_unit_test(test_shutdown_idle),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_answers_held),
        cmocka_unit_test(test_resolve_localhost),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_free_while_connecting),
        cmocka_unit_test(test_ack_and_resend),
        cmocka_unit_test(test_one_ack_in_flight),
        cmocka_unit_test(test_spool_restart),
        cmocka_unit_test(test_ack_timeout),
        cmocka_unit_test(test_bounce),
        cmocka_unit_test(test_shutdown_flushes),
        cmocka_unit_test(test_shutdown_grace_expires),
        cmocka_unit_test(test_reload),
        cmocka_unit_test(test_reload_rooms),
        cmocka_unit_test(test_ack_elsewhere),
        cmocka_unit_test(test_addresses),
    };

    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
