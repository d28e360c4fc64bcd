/* SPDX-License-Identifier: MIT */
/* test_storm.c -- storm control ([component] storm) against the fake
 * server: exactly N messages per window go out on their own, the rest fold
 * into one digest at the window's end, counted exactly; folded messages
 * stay in the spool until the digest's ack, come back after a link drop
 * and survive a restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <event2/event.h>

#include "component/component.h"
#include "conf/conf.h"
#include "test/fake/fake_env.h"
#include "test/fake/fake_server.h"
#include "xml/msg.h"
#include "xml/xml.h"

#define DOMAIN "notify.localhost"
#define SECRET "s3cret-for-storm-tests"
#define USER "juliet@localhost"
#define USER2 "romeo@localhost"

struct env {
    struct event_base *base;
    struct fake_server *fs;
    struct conf *cfg;
    struct comp *c;
    char dir[64];
};

static void env_comp(struct env *e, const char *storm)
{
    struct comp_timing t;

    fake_env_comp(e->base, e->fs, NULL, &e->cfg, &e->c,
                  "storm = %s\n"
                  "[spool]\npath = %s\n"
                  "[hook alerts]\ntoken = " FAKE_ENV_TOKEN "\n"
                  "from = bot\nto = " USER "\n",
                  storm, e->dir);
    comp_get_timing(e->c, &t);
    t.backoff_max_ms = 100;
    comp_set_timing(e->c, &t);
}

static void env_open(struct env *e, const char *storm)
{
    struct fake_opts fo = {0};

    memset(e, 0, sizeof(*e));
    fake_env_mkdtemp(e->dir, sizeof(e->dir), "storm");
    fo.domain = DOMAIN;
    fo.secret = SECRET;
    fake_env_server(&e->base, &e->fs, &fo);
    env_comp(e, storm);
    fake_env_start(e->base, e->c, 3000);
}

static void env_comp_close(struct env *e)
{
    fake_env_comp_free(&e->cfg, &e->c);
}

static void env_close(struct env *e)
{
    fake_env_free(&e->base, &e->fs, &e->cfg, &e->c);
    fake_env_rmdir(e->dir);
}

static void submit_hook(struct env *e, int i, const char *to, const char *hook)
{
    struct msg *m = msg_new();
    char body[64];

    assert_non_null(m);
    snprintf(m->id, sizeof(m->id), "storm-%d", i);
    snprintf(body, sizeof(body), "alert %d\nsecond line %d", i, i);
    m->hook = strdup(hook);
    m->from = strdup("bot");
    m->body = strdup(body);
    assert_non_null(m->body);
    assert_int_equal(msg_add_to(m, to), 0);
    assert_int_equal(comp_submit(e->c, m), 0);
}

static void submit(struct env *e, int i, const char *to)
{
    submit_hook(e, i, to, "alerts");
}

/* Messages the fake received for to (digests included). */
static size_t messages_to(struct env *e, const char *to)
{
    return fake_count_named(e->fs, "message", "to", to);
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

    return fake_env_spool_empty(e->c, e->dir);
}

static size_t g_want;
static const char *g_to;

static int got_to(void *arg)
{
    return messages_to(arg, g_to) >= g_want;
}

/* The body of the nth message to to, malloc'd. */
static char *body_of(struct env *e, const char *to, size_t nth)
{
    const struct xml_node *m = fake_find(e->fs, "message", "to", to, nth);
    const struct xml_node *b = m ? xml_node_child(m, "body", NULL) : NULL;
    char *t = b ? xml_node_text(b) : NULL;

    assert_non_null(t);
    return t;
}

/* storm = 3/1: 10 messages to one user give 3 messages then, at the end
 * of the window, one digest naming the 7 others by their first lines;
 * another user is not affected; every row leaves the spool once acked. */
static void test_storm_fold(void **state)
{
    struct comp_counters cnt;
    unsigned long folded, digests;
    const struct xml_node *dg;
    uint64_t t0;
    struct env e;
    char *body, want[64];

    (void)state;
    env_open(&e, "3/1");
    t0 = fake_now_ms();
    for (int i = 0; i < 10; i++)
        submit(&e, i, USER);
    submit(&e, 10, USER2);
    submit(&e, 11, USER2);
    g_to = USER;
    g_want = 3;
    assert_true(fake_run_until(e.base, got_to, &e, 2000));
    assert_true(fake_run_until(e.base, NULL, NULL, 300));
    assert_int_equal(messages_to(&e, USER), 3); /* the rest is held */
    assert_int_equal(messages_to(&e, USER2), 2);
    assert_int_equal(spool_depth(&e), 7); /* held ones stay spooled */
    comp_storm_stats(e.c, &folded, &digests);
    assert_int_equal(digests, 0);

    g_want = 4;
    assert_true(fake_run_until(e.base, got_to, &e, 3000));
    assert_true(fake_now_ms() - t0 >= 900); /* at the end of the window */
    for (int i = 0; i < 3; i++) {
        body = body_of(&e, USER, (size_t)i);
        snprintf(want, sizeof(want), "alert %d\nsecond line %d", i, i);
        assert_string_equal(body, want);
        free(body);
    }
    dg = fake_find(e.fs, "message", "to", USER, 3);
    assert_string_equal(xml_node_attr(dg, "from"), "bot@" DOMAIN);
    assert_string_equal(xml_node_attr(dg, "type"), "chat");
    body = body_of(&e, USER, 3);
    assert_true(
        strncmp(body, "7 more alerts from alerts in the last 1 s:", 42) == 0);
    for (int i = 3; i < 10; i++) {
        snprintf(want, sizeof(want), "\n- alert %d", i);
        assert_non_null(strstr(body, want));
    }
    assert_null(strstr(body, "alert 2\n"));
    assert_null(strstr(body, "second line")); /* first lines only */
    free(body);
    assert_true(fake_run_until(e.base, spool_empty, &e, 2000));
    comp_storm_stats(e.c, &folded, &digests);
    assert_int_equal(folded, 7);
    assert_int_equal(digests, 1);
    /* /metrics: the 7 folded count as written (in the digest) and acked */
    comp_counters(e.c, &cnt);
    assert_int_equal(cnt.delivered, 12);
    assert_int_equal(cnt.acknowledged, 12);

    /* A new window: the next message goes out on its own. */
    submit(&e, 20, USER);
    g_want = 5;
    assert_true(fake_run_until(e.base, got_to, &e, 2000));
    body = body_of(&e, USER, 4);
    assert_string_equal(body, "alert 20\nsecond line 20");
    free(body);
    assert_true(fake_run_until(e.base, NULL, NULL, 1200));
    assert_int_equal(messages_to(&e, USER), 5); /* no empty digest */
    comp_storm_stats(e.c, &folded, &digests);
    assert_int_equal(folded, 7);
    assert_int_equal(digests, 1);
    env_close(&e);
}

/* The link drops while messages are held: they go back to the outbox and
 * are folded again after the reconnect; the digest still carries all of
 * them and the spool empties. */
static void test_storm_link_drop(void **state)
{
    unsigned long folded, digests;
    struct env e;
    char *body;

    (void)state;
    env_open(&e, "2/1");
    for (int i = 0; i < 5; i++)
        submit(&e, i, USER);
    g_to = USER;
    g_want = 2;
    assert_true(fake_run_until(e.base, got_to, &e, 2000));
    assert_true(fake_run_until(e.base, NULL, NULL, 100));
    assert_int_equal(spool_depth(&e), 3);
    fake_kick(e.fs);
    g_want = 3;
    assert_true(fake_run_until(e.base, got_to, &e, 3000));
    assert_int_equal(fake_connections(e.fs), 2);
    body = body_of(&e, USER, 2);
    assert_true(strncmp(body, "3 more alerts from alerts", 25) == 0);
    free(body);
    assert_true(fake_run_until(e.base, spool_empty, &e, 2000));
    comp_storm_stats(e.c, &folded, &digests);
    assert_int_equal(folded, 3);
    assert_int_equal(digests, 1);
    assert_int_equal(messages_to(&e, USER), 3);
    env_close(&e);
}

/* Held messages are durable: xmta stops before the window ends, and a new
 * instance (storm off) delivers every one of them. */
static void test_storm_restart(void **state)
{
    struct env e;

    (void)state;
    env_open(&e, "1/60s");
    for (int i = 0; i < 4; i++)
        submit(&e, i, USER);
    g_to = USER;
    g_want = 1;
    assert_true(fake_run_until(e.base, got_to, &e, 2000));
    assert_true(fake_run_until(e.base, NULL, NULL, 200));
    assert_int_equal(spool_depth(&e), 3);
    env_comp_close(&e);
    assert_int_equal(fake_env_spool_rows(e.dir), 3);

    env_comp(&e, "off");
    assert_int_equal(comp_start(e.c), 0);
    g_want = 4;
    assert_true(fake_run_until(e.base, got_to, &e, 3000));
    assert_true(fake_run_until(e.base, depth_zero, &e, 2000));
    for (int i = 1; i < 4; i++) {
        char want[32];

        snprintf(want, sizeof(want), "storm-%d", i);
        assert_non_null(fake_find(e.fs, "message", "id", want, 0));
    }
    env_close(&e);
}

/* A big fold: 20 first lines, then "... and K more"; every hook named. */
static void test_storm_digest_shape(void **state)
{
    unsigned long folded, digests;
    struct env e;
    char *body, *p;
    size_t items = 0;

    (void)state;
    env_open(&e, "1/1");
    for (int i = 0; i < 26; i++)
        submit_hook(&e, i, USER, i % 2 ? "grafana" : "alerts");
    g_to = USER;
    g_want = 2;
    assert_true(fake_run_until(e.base, got_to, &e, 3000));
    body = body_of(&e, USER, 1);
    assert_true(strncmp(body,
                        "25 more alerts from grafana, alerts in the last 1 s:",
                        52) == 0);
    for (p = body; (p = strstr(p, "\n- ")); p++)
        items++;
    assert_int_equal(items, 20);
    assert_non_null(strstr(body, "\n- alert 20"));
    assert_null(strstr(body, "\n- alert 21"));
    assert_non_null(strstr(body, "\n... and 5 more"));
    free(body);
    assert_true(fake_run_until(e.base, depth_zero, &e, 2000));
    comp_storm_stats(e.c, &folded, &digests);
    assert_int_equal(folded, 25);
    assert_int_equal(digests, 1);
    env_close(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_storm_fold),
        cmocka_unit_test(test_storm_link_drop),
        cmocka_unit_test(test_storm_restart),
        cmocka_unit_test(test_storm_digest_shape),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
