/* SPDX-License-Identifier: MIT */
/* test_lifecycle.c -- the alert lifecycle (issue 5) against the fake
 * server: on_resolve = correct sends an alert group from its own resource
 * and corrects the first message (<replace id/>), also after a restart
 * with the spool; heartbeat = 1s turns the presence xa with one message
 * and back with one; the presence counts firing alerts (dnd, "N firing",
 * "all clear"); the counters behind /metrics, exactly; the heartbeat's
 * state across restarts on the spool (heartbeat table). */
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
#include <openssl/evp.h>
#include <sqlite3.h>

#include "component/component.h"
#include "conf/conf.h"
#include "test/fake/fake_env.h"
#include "test/fake/fake_server.h"
#include "xml/msg.h"
#include "xml/xml.h"

#define DOMAIN "notify.localhost"
#define SECRET "s3cret-for-lifecycle-tests"
#define USER "juliet@localhost"
#define BOT "bot@" DOMAIN
#define GROUP "{}/{severity=\"page\"}:{alertname=\"DiskFull\"}"
#define GROUP2 "{}:{alertname=\"Load\"}"
#define NS_CORRECT "urn:xmpp:message-correct:0"

struct env {
    struct event_base *base;
    struct fake_server *fs;
    struct conf *cfg;
    struct comp *c;
    char dir[64];
    const char *hooks; /* the [hook] sections */
    int spool;         /* [spool] path = dir, else none */
};

static int is_ready(void *arg)
{
    struct env *e = arg;

    return comp_state(e->c) == COMP_READY;
}

/* env_open: the fake answers this many connections with a conflict
 * stream error (another instance holds the domain): a standby first. */
static unsigned g_conflicts;

static void env_comp(struct env *e)
{
    struct comp_timing t;

    fake_env_comp(e->base, e->fs, NULL, &e->cfg, &e->c,
                  "[spool]\npath = %s\n%s", e->spool ? e->dir : "none",
                  e->hooks);
    comp_get_timing(e->c, &t);
    t.backoff_max_ms = 100;
    t.standby_ms = 300;
    comp_set_timing(e->c, &t);
    assert_int_equal(comp_start(e->c), 0);
    assert_true(fake_run_until(e->base, is_ready, e, 3000 + g_conflicts * 400));
}

static void env_open(struct env *e, const char *hooks, int spool)
{
    struct fake_opts fo = {0};

    memset(e, 0, sizeof(*e));
    e->hooks = hooks;
    e->spool = spool;
    fake_env_mkdtemp(e->dir, sizeof(e->dir), "life");
    fo.domain = DOMAIN;
    fo.secret = SECRET;
    fo.muc_auto = 1; /* rooms are joined at once (110 self-presence) */
    if (g_conflicts) {
        fo.mode = FAKE_STREAM_ERROR;
        fo.mode_conns = g_conflicts;
        fo.err_condition = "conflict";
    }
    fake_env_server(&e->base, &e->fs, &fo);
    env_comp(e);
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

/* A webhook's message as http/ builds it for an alert group. */
static void submit_alert(struct env *e,
                         const char *hook,
                         const char *id,
                         const char *group,
                         int alert,
                         unsigned firing)
{
    struct msg *m = msg_new();

    assert_non_null(m);
    snprintf(m->id, sizeof(m->id), "%s", id);
    m->hook = strdup(hook);
    m->from = strdup("bot");
    m->body = strdup(alert == MSG_ALERT_RESOLVED ? "RESOLVED" : "FIRING");
    if (group) {
        m->group = strdup(group);
        m->alert = alert;
        m->firing = firing;
    }
    assert_int_equal(msg_add_to(m, USER), 0);
    assert_int_equal(comp_submit(e->c, m), 0);
}

static const char *g_id;

static int got_id(void *arg)
{
    struct env *e = arg;

    return fake_find(e->fs, "message", "id", g_id, 0) != NULL;
}

/* The message with stanza id id, waited for. */
static const struct xml_node *wait_msg(struct env *e, const char *id)
{
    g_id = id;
    assert_true(fake_run_until(e->base, got_id, e, 3000));
    return fake_find(e->fs, "message", "id", id, 0);
}

/* The resource an alert group is sent from, computed here on its own. */
static void group_jid(const char *group, char *out, size_t size)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;

    assert_int_equal(
        EVP_Digest(group, strlen(group), md, &n, EVP_sha256(), NULL), 1);
    snprintf(out, size, BOT "/alert-%02x%02x%02x%02x%02x%02x", md[0], md[1],
             md[2], md[3], md[4], md[5]);
}

/* The id of the <replace/> of message st, or NULL. */
static const char *replace_of(const struct xml_node *st)
{
    const struct xml_node *r = xml_node_child(st, "replace", NS_CORRECT);

    return r ? xml_node_attr(r, "id") : NULL;
}

/* ---- presence ----------------------------------------------------------- */

/* The newest available presence of the bot to USER. */
static const struct xml_node *last_presence(struct env *e)
{
    const struct xml_node *last = NULL;

    for (size_t i = 0; i < fake_count(e->fs); i++) {
        const struct xml_node *p = fake_stanza(e->fs, i);
        const char *to = xml_node_attr(p, "to");

        if (strcmp(xml_node_name(p), "presence") == 0 && to &&
            strcmp(to, USER) == 0 && !xml_node_attr(p, "type"))
            last = p;
    }
    return last;
}

/* Text of child name of n ("" when missing); static buffer. */
static const char *child_text(const struct xml_node *n, const char *name)
{
    static char buf[256];
    const struct xml_node *ch = n ? xml_node_child(n, name, NULL) : NULL;
    char *t = ch ? xml_node_text(ch) : NULL;

    snprintf(buf, sizeof(buf), "%s", t ? t : "");
    free(t);
    return buf;
}

static const char *g_status;

static int got_status(void *arg)
{
    return strcmp(child_text(last_presence(arg), "status"), g_status) == 0;
}

/* Waits for the bot's newest presence to show status, then checks its
 * <show/> ("" for none). */
static void want_presence(struct env *e, const char *show, const char *status)
{
    g_status = status;
    if (!fake_run_until(e->base, got_status, e, 3000))
        fail_msg("presence status '%s', wanted '%s'",
                 child_text(last_presence(e), "status"), status);
    assert_string_equal(child_text(last_presence(e), "show"), show);
    assert_string_equal(xml_node_attr(last_presence(e), "from"), BOT "/xmta");
}

static void subscribe(struct env *e)
{
    assert_int_equal(fake_send(e->fs, "<presence type='subscribe' from='" USER
                                      "' to='" BOT "'/>"),
                     0);
}

#define HOOK_CORRECT                                                           \
    "[hook am]\ntoken = 0123456789abcdef0123456789abcdef\nfrom = bot\n"        \
    "to = " USER "\non_resolve = correct\n"

/* firing -> resolved is a correction from the group's own full JID, and
 * the mapping survives a restart through the spool. */
static void test_correct_restart(void **state)
{
    struct env e;
    const struct xml_node *st;
    char jid[128], jid2[128];

    (void)state;
    group_jid(GROUP, jid, sizeof(jid));
    group_jid(GROUP2, jid2, sizeof(jid2));
    env_open(&e, HOOK_CORRECT, 1);
    submit_alert(&e, "am", "fire-1", GROUP, MSG_ALERT_FIRING, 2);
    st = wait_msg(&e, "fire-1");
    assert_string_equal(xml_node_attr(st, "from"), jid);
    assert_null(replace_of(st));
    /* Another group in between: its own resource, not a correction. */
    submit_alert(&e, "am", "other-1", GROUP2, MSG_ALERT_FIRING, 1);
    st = wait_msg(&e, "other-1");
    assert_string_equal(xml_node_attr(st, "from"), jid2);
    assert_null(replace_of(st));
    /* A message that is no alert group: the bare bot JID as always. */
    submit_alert(&e, "am", "plain-1", NULL, 0, 0);
    st = wait_msg(&e, "plain-1");
    assert_string_equal(xml_node_attr(st, "from"), BOT);

    /* Restart: the series comes back from the spool database, and so do
     * the firing counts (2 + 1) of the status board. */
    env_comp_close(&e);
    env_comp(&e);
    subscribe(&e);
    want_presence(&e, "dnd", "3 firing");
    submit_alert(&e, "am", "resolve-1", GROUP, MSG_ALERT_RESOLVED, 0);
    st = wait_msg(&e, "resolve-1");
    assert_string_equal(xml_node_attr(st, "from"), jid);
    assert_non_null(replace_of(st));
    assert_string_equal(replace_of(st), "fire-1");
    /* The same group firing again later: a new incident, a new message. */
    submit_alert(&e, "am", "fire-2", GROUP, MSG_ALERT_FIRING, 1);
    st = wait_msg(&e, "fire-2");
    assert_string_equal(xml_node_attr(st, "from"), jid);
    assert_null(replace_of(st));
    /* A repeat with no more alerts firing: corrects fire-2 (repeated
     * edits always name the first id). */
    submit_alert(&e, "am", "fire-2b", GROUP, MSG_ALERT_FIRING, 1);
    st = wait_msg(&e, "fire-2b");
    assert_string_equal(replace_of(st), "fire-2");
    /* More alerts firing than shown: a new message, which notifies. */
    submit_alert(&e, "am", "fire-3", GROUP, MSG_ALERT_FIRING, 3);
    st = wait_msg(&e, "fire-3");
    assert_null(replace_of(st));
    submit_alert(&e, "am", "resolve-3", GROUP, MSG_ALERT_RESOLVED, 0);
    st = wait_msg(&e, "resolve-3");
    assert_string_equal(replace_of(st), "fire-3");
    /* Resolved for a group never sent here: a new message. */
    submit_alert(&e, "am", "resolve-x", "{}:{alertname=\"Never\"}",
                 MSG_ALERT_RESOLVED, 0);
    st = wait_msg(&e, "resolve-x");
    assert_null(replace_of(st));
    env_close(&e);
}

/* Without a spool the series live in memory; on_resolve = new (the
 * default) never corrects and sends from the bare JID. */
static void test_correct_memory_and_new(void **state)
{
    struct env e;
    const struct xml_node *st;
    char jid[128];

    (void)state;
    group_jid(GROUP, jid, sizeof(jid));
    env_open(&e,
             HOOK_CORRECT "[hook plain]\ntoken = "
                          "fedcba9876543210fedcba9876543210\nfrom = bot\n"
                          "to = " USER "\n",
             0);
    submit_alert(&e, "am", "m-fire", GROUP, MSG_ALERT_FIRING, 1);
    st = wait_msg(&e, "m-fire");
    assert_string_equal(xml_node_attr(st, "from"), jid);
    submit_alert(&e, "am", "m-resolve", GROUP, MSG_ALERT_RESOLVED, 0);
    st = wait_msg(&e, "m-resolve");
    assert_string_equal(xml_node_attr(st, "from"), jid);
    assert_string_equal(replace_of(st), "m-fire");

    submit_alert(&e, "plain", "p-fire", GROUP2, MSG_ALERT_FIRING, 1);
    st = wait_msg(&e, "p-fire");
    assert_string_equal(xml_node_attr(st, "from"), BOT);
    submit_alert(&e, "plain", "p-resolve", GROUP2, MSG_ALERT_RESOLVED, 0);
    st = wait_msg(&e, "p-resolve");
    assert_string_equal(xml_node_attr(st, "from"), BOT);
    assert_null(replace_of(st));
    env_close(&e);
}

/* The presence counts firing alerts per group: dnd "N firing", then "all
 * clear" once every group resolved. */
static void test_status_board(void **state)
{
    struct env e;

    (void)state;
    env_open(&e, HOOK_CORRECT, 0);
    subscribe(&e);
    want_presence(&e, "", "all clear");
    submit_alert(&e, "am", "sb-1", GROUP, MSG_ALERT_FIRING, 3);
    want_presence(&e, "dnd", "3 firing");
    submit_alert(&e, "am", "sb-2", GROUP2, MSG_ALERT_FIRING, 2);
    want_presence(&e, "dnd", "5 firing");
    submit_alert(&e, "am", "sb-3", GROUP, MSG_ALERT_FIRING, 1);
    want_presence(&e, "dnd", "3 firing");
    submit_alert(&e, "am", "sb-4", GROUP, MSG_ALERT_RESOLVED, 0);
    want_presence(&e, "dnd", "2 firing");
    submit_alert(&e, "am", "sb-5", GROUP2, MSG_ALERT_RESOLVED, 0);
    want_presence(&e, "", "all clear");
    env_close(&e);
}

#define HOOK_BEAT                                                              \
    "[hook watchdog]\ntoken = 0123456789abcdef0123456789abcdef\nfrom = bot\n"  \
    "to = " USER "\nheartbeat = 1s\n"

static size_t g_msgs;

static int got_msgs(void *arg)
{
    struct env *e = arg;

    return fake_count_named(e->fs, "message", "to", USER) >= g_msgs;
}

static char *msg_body(struct env *e, size_t nth)
{
    const struct xml_node *m = fake_find(e->fs, "message", "to", USER, nth);
    const struct xml_node *b = m ? xml_node_child(m, "body", NULL) : NULL;

    return b ? xml_node_text(b) : NULL;
}

/* heartbeat = 1s: after a second without a webhook the presence is xa
 * "no heartbeat since HH:MM" and exactly one message is sent; a webhook
 * brings one "back" message and available presence; the webhooks
 * themselves are not forwarded. */
static void test_heartbeat(void **state)
{
    struct env e;
    char want[64], hhmm[8], *body;
    time_t last;
    struct tm tm;
    uint64_t t0;

    (void)state;
    env_open(&e, HOOK_BEAT, 0);
    t0 = fake_now_ms();
    subscribe(&e);
    want_presence(&e, "", "all clear");
    /* A webhook in time: not forwarded, the heartbeat is fine. */
    last = time(NULL);
    submit_alert(&e, "watchdog", "wd-0", "{}:{alertname=\"Watchdog\"}",
                 MSG_ALERT_FIRING, 1);
    assert_true(fake_run_until(e.base, NULL, NULL, 300));
    assert_int_equal(fake_count_named(e.fs, "message", "to", USER), 0);
    g_msgs = 1;
    assert_true(fake_run_until(e.base, got_msgs, &e, 3000));
    /* About a second after the last webhook, not before. */
    assert_true(fake_now_ms() - t0 >= 1000);
    localtime_r(&last, &tm);
    strftime(hhmm, sizeof(hhmm), "%H:%M", &tm);
    snprintf(want, sizeof(want), "no heartbeat since %s", hhmm);
    want_presence(&e, "xa", want);
    body = msg_body(&e, 0);
    assert_non_null(body);
    assert_non_null(strstr(body, "No heartbeat"));
    assert_non_null(strstr(body, "watchdog"));
    free(body);
    /* Silence goes on: still that one message. */
    assert_true(fake_run_until(e.base, NULL, NULL, 2200));
    assert_int_equal(fake_count_named(e.fs, "message", "to", USER), 1);
    /* A webhook: one "back" message, available again, none forwarded. */
    submit_alert(&e, "watchdog", "wd-1", "{}:{alertname=\"Watchdog\"}",
                 MSG_ALERT_FIRING, 1);
    g_msgs = 2;
    assert_true(fake_run_until(e.base, got_msgs, &e, 3000));
    want_presence(&e, "", "all clear");
    body = msg_body(&e, 1);
    assert_non_null(body);
    assert_non_null(strstr(body, "Heartbeat back"));
    free(body);
    assert_null(fake_find(e.fs, "message", "id", "wd-1", 0));
    assert_null(fake_find(e.fs, "message", "id", "wd-0", 0));
    /* Webhooks keep coming every 500 ms: no new notice. */
    for (int i = 0; i < 4; i++) {
        char id[16];

        snprintf(id, sizeof(id), "wd-k%d", i);
        submit_alert(&e, "watchdog", id, "{}:{alertname=\"Watchdog\"}",
                     MSG_ALERT_FIRING, 1);
        assert_true(fake_run_until(e.base, NULL, NULL, 500));
    }
    assert_int_equal(fake_count_named(e.fs, "message", "to", USER), 2);
    env_close(&e);
}

/* SIGHUP without the heartbeat while it is missing: the presence leaves
 * xa at once (the bot's plain status again). */
static void test_heartbeat_reload(void **state)
{
    struct env e;
    struct conf_diag diag;
    struct conf *cfg2;
    char text[2048];

    (void)state;
    env_open(&e, HOOK_BEAT, 0);
    subscribe(&e);
    g_status = "no heartbeat since ";
    for (int i = 0; i < 300; i++) {
        if (strncmp(child_text(last_presence(&e), "status"), g_status,
                    strlen(g_status)) == 0)
            break;
        fake_run_until(e.base, NULL, NULL, 10);
    }
    assert_string_equal(child_text(last_presence(&e), "show"), "xa");
    snprintf(text, sizeof(text),
             "[component]\ndomain = " DOMAIN "\nserver = 127.0.0.1\n"
             "port = %u\nsecret = " SECRET "\n[spool]\npath = none\n"
             "[hook watchdog]\ntoken = 0123456789abcdef0123456789abcdef\n"
             "from = bot\nto = " USER "\n",
             (unsigned)fake_port(e.fs));
    cfg2 = conf_load_string(text, "lifecycle2.conf", &diag);
    assert_non_null(cfg2);
    assert_int_equal(comp_reload(e.c, cfg2), 0);
    conf_free(e.cfg);
    e.cfg = cfg2;
    want_presence(&e, "", "Sends notifications (webhook watchdog)");
    env_close(&e);
}

/* A standby (HA: another instance holds the stream) does not watch the
 * heartbeat: after it takes over, the bot is not xa at once and has sent
 * no notice; a whole period later it is. */
static void test_heartbeat_standby(void **state)
{
    struct env e;
    const struct xml_node *first = NULL;
    uint64_t t0 = fake_now_ms();

    (void)state;
    g_conflicts = 8; /* about 2.4 s of standby: the 1 s period passes */
    env_open(&e, HOOK_BEAT, 0);
    g_conflicts = 0;
    assert_true(fake_now_ms() - t0 >= 1500);
    assert_true(fake_connections(e.fs) > 8);
    subscribe(&e);
    for (int i = 0; i < 300 && !first; i++) {
        for (size_t j = 0; j < fake_count(e.fs) && !first; j++) {
            const struct xml_node *p = fake_stanza(e.fs, j);
            const char *to = xml_node_attr(p, "to");

            if (strcmp(xml_node_name(p), "presence") == 0 && to &&
                strcmp(to, USER) == 0 && !xml_node_attr(p, "type"))
                first = p;
        }
        if (!first)
            fake_run_until(e.base, NULL, NULL, 10);
    }
    assert_non_null(first);
    assert_string_equal(child_text(first, "status"), "all clear");
    assert_string_equal(child_text(first, "show"), "");
    assert_int_equal(fake_count_named(e.fs, "message", "to", USER), 0);
    /* Active now: the heartbeat is watched. */
    g_msgs = 1;
    assert_true(fake_run_until(e.base, got_msgs, &e, 3000));
    assert_string_equal(child_text(last_presence(&e), "show"), "xa");
    env_close(&e);
}

/* heartbeat_forward = yes: the webhooks are sent as well. */
static void test_heartbeat_forward(void **state)
{
    struct env e;

    (void)state;
    env_open(&e, HOOK_BEAT "heartbeat_forward = yes\n", 0);
    submit_alert(&e, "watchdog", "fw-1", NULL, 0, 0);
    assert_non_null(wait_msg(&e, "fw-1"));
    env_close(&e);
}

/* ---- rooms ------------------------------------------------------------- */

#define ROOM "ops@conference.localhost"
#define NS_MUC "http://jabber.org/protocol/muc"

static int room_joined(void *arg)
{
    struct env *e = arg;
    struct comp_room_info ri;

    return comp_room_info(e->c, 0, &ri) == 0 && strcmp(ri.state, "joined") == 0;
}

/* The newest presence of the bot to its occupant JID in ROOM (join or
 * update), or NULL. */
static const struct xml_node *last_room_presence(struct env *e)
{
    const struct xml_node *last = NULL;

    for (size_t i = 0; i < fake_count(e->fs); i++) {
        const struct xml_node *p = fake_stanza(e->fs, i);
        const char *to = xml_node_attr(p, "to");

        if (strcmp(xml_node_name(p), "presence") == 0 && to &&
            strncmp(to, ROOM "/", strlen(ROOM) + 1) == 0 &&
            !xml_node_attr(p, "type"))
            last = p;
    }
    return last;
}

static int got_room_status(void *arg)
{
    return strcmp(child_text(last_room_presence(arg), "status"), g_status) == 0;
}

/* A room gets the status board too: in the join presence and as
 * presence updates to the bot's occupant JID (no MUC <x/>, from the JID
 * that joined); the heartbeat notice of another hook of the same bot goes
 * to the room once; an alert group of an on_resolve = correct hook is
 * never corrected in a room (groupchat from the joined JID, no
 * <replace/>). */
static void test_room_board(void **state)
{
    struct env e;
    const struct xml_node *p, *st;
    size_t n;

    (void)state;
    env_open(&e,
             "[hook am]\ntoken = 0123456789abcdef0123456789abcdef\n"
             "from = bot\nroom = " ROOM "\non_resolve = correct\n"
             "[hook wd]\ntoken = fedcba9876543210fedcba9876543210\n"
             "from = bot\nroom = " ROOM "\nheartbeat = 1s\n",
             0);
    assert_true(fake_run_until(e.base, room_joined, &e, 3000));
    /* The join itself shows the board. */
    p = last_room_presence(&e);
    assert_non_null(p);
    assert_non_null(xml_node_child(p, "x", NS_MUC));
    assert_string_equal(child_text(p, "status"), "all clear");
    assert_string_equal(child_text(p, "show"), "");

    /* A firing group: dnd "2 firing" as an update, not a second join. */
    {
        struct msg *m = msg_new();

        assert_non_null(m);
        snprintf(m->id, sizeof(m->id), "room-fire");
        m->hook = strdup("am");
        m->from = strdup("bot");
        m->body = strdup("FIRING");
        m->group = strdup(GROUP);
        m->alert = MSG_ALERT_FIRING;
        m->firing = 2;
        assert_int_equal(msg_add_room(m, ROOM), 0);
        assert_int_equal(comp_submit(e.c, m), 0);
    }
    g_status = "2 firing";
    assert_true(fake_run_until(e.base, got_room_status, &e, 3000));
    p = last_room_presence(&e);
    assert_null(xml_node_child(p, "x", NS_MUC));
    assert_string_equal(xml_node_attr(p, "from"), BOT "/xmta");
    assert_string_equal(child_text(p, "show"), "dnd");
    st = wait_msg(&e, "room-fire");
    assert_string_equal(xml_node_attr(st, "type"), "groupchat");
    assert_string_equal(xml_node_attr(st, "from"), BOT "/xmta");
    assert_null(replace_of(st));
    {
        struct msg *m = msg_new();

        assert_non_null(m);
        snprintf(m->id, sizeof(m->id), "room-resolve");
        m->hook = strdup("am");
        m->from = strdup("bot");
        m->body = strdup("RESOLVED");
        m->group = strdup(GROUP);
        m->alert = MSG_ALERT_RESOLVED;
        assert_int_equal(msg_add_room(m, ROOM), 0);
        assert_int_equal(comp_submit(e.c, m), 0);
    }
    st = wait_msg(&e, "room-resolve");
    assert_string_equal(xml_node_attr(st, "from"), BOT "/xmta");
    assert_null(replace_of(st));

    /* No webhook for a second: the room sees xa and one notice. */
    g_status = "no heartbeat since ";
    for (int i = 0; i < 300; i++) {
        if (strncmp(child_text(last_room_presence(&e), "status"), g_status,
                    strlen(g_status)) == 0)
            break;
        fake_run_until(e.base, NULL, NULL, 10);
    }
    p = last_room_presence(&e);
    assert_string_equal(child_text(p, "show"), "xa");
    assert_non_null(strstr(child_text(p, "status"), "no heartbeat since "));
    n = 0;
    for (size_t i = 0; i < fake_count(e.fs); i++) {
        const struct xml_node *m = fake_stanza(e.fs, i);
        const struct xml_node *b = xml_node_child(m, "body", NULL);
        char *t = b ? xml_node_text(b) : NULL;

        if (strcmp(xml_node_name(m), "message") == 0 &&
            strcmp(xml_node_attr(m, "to"), ROOM) == 0 && t &&
            strstr(t, "No heartbeat"))
            n++;
        free(t);
    }
    assert_int_equal(n, 1);
    env_close(&e);
}

static int spool_empty(void *arg)
{
    struct env *e = arg;
    struct comp_spool_status st;

    comp_spool_status(e->c, &st);
    return st.depth == 0;
}

/* ---- /metrics -------------------------------------------------------- */

static void want_life_stats(struct env *e,
                            size_t groups,
                            unsigned long firing,
                            size_t series,
                            unsigned long corrections,
                            unsigned long resolved_new,
                            unsigned long board_updates)
{
    struct comp_life_stats ls;

    comp_life_stats(e->c, &ls);
    assert_int_equal(ls.groups, groups);
    assert_int_equal(ls.firing, firing);
    assert_int_equal(ls.series, series);
    assert_int_equal(ls.corrections, corrections);
    assert_int_equal(ls.resolved_new, resolved_new);
    assert_int_equal(ls.board_updates, board_updates);
}

/* The lifecycle's counters after a scripted sequence: groups and alerts
 * firing, series, corrections, resolved notifications sent as new
 * messages, status board changes (each one a presence that changed). */
static void test_metrics_alerts(void **state)
{
    struct env e;
    const struct xml_node *st;

    (void)state;
    env_open(&e, HOOK_CORRECT, 0);
    comp_life_stats(NULL, &(struct comp_life_stats){0}); /* NULL-safe */
    want_life_stats(&e, 0, 0, 0, 0, 0, 0);
    subscribe(&e);
    want_presence(&e, "", "all clear");
    want_life_stats(&e, 0, 0, 0, 0, 0, 0); /* a probe answer: no change */

    submit_alert(&e, "am", "ms-f1", GROUP, MSG_ALERT_FIRING, 2);
    wait_msg(&e, "ms-f1");
    want_presence(&e, "dnd", "2 firing");
    want_life_stats(&e, 1, 2, 1, 0, 0, 1);
    submit_alert(&e, "am", "ms-g1", GROUP2, MSG_ALERT_FIRING, 1);
    wait_msg(&e, "ms-g1");
    want_presence(&e, "dnd", "3 firing");
    want_life_stats(&e, 2, 3, 2, 0, 0, 2);
    /* resolved: a correction of ms-f1 */
    submit_alert(&e, "am", "ms-r1", GROUP, MSG_ALERT_RESOLVED, 0);
    st = wait_msg(&e, "ms-r1");
    assert_string_equal(replace_of(st), "ms-f1");
    want_presence(&e, "dnd", "1 firing");
    want_life_stats(&e, 1, 1, 2, 1, 0, 3);
    /* resolved for a group never sent here: a new message; the board
     * does not change (the group was not firing) */
    submit_alert(&e, "am", "ms-r3", "{}:{alertname=\"Never\"}",
                 MSG_ALERT_RESOLVED, 0);
    st = wait_msg(&e, "ms-r3");
    assert_null(replace_of(st));
    want_life_stats(&e, 1, 1, 2, 1, 1, 3);
    /* a repeat of GROUP2, as many alerts: a correction, no board change */
    submit_alert(&e, "am", "ms-g2", GROUP2, MSG_ALERT_FIRING, 1);
    st = wait_msg(&e, "ms-g2");
    assert_string_equal(replace_of(st), "ms-g1");
    want_life_stats(&e, 1, 1, 2, 2, 1, 3);
    /* more alerts than shown: a new message (not counted), the board
     * changes */
    submit_alert(&e, "am", "ms-g3", GROUP2, MSG_ALERT_FIRING, 4);
    st = wait_msg(&e, "ms-g3");
    assert_null(replace_of(st));
    want_presence(&e, "dnd", "4 firing");
    want_life_stats(&e, 1, 4, 2, 2, 1, 4);
    /* resolved after it: corrects ms-g3; all clear */
    submit_alert(&e, "am", "ms-r2", GROUP2, MSG_ALERT_RESOLVED, 0);
    st = wait_msg(&e, "ms-r2");
    assert_string_equal(replace_of(st), "ms-g3");
    want_presence(&e, "", "all clear");
    want_life_stats(&e, 0, 0, 2, 3, 1, 5);
    /* a hook without heartbeat has no heartbeat entry */
    assert_int_equal(
        comp_heartbeat_stat(e.c, 0, &(struct comp_heartbeat_stat){0}), 0);
    env_close(&e);
}

static void
want_beat(struct env *e, int ok, unsigned long received, unsigned long missed)
{
    struct comp_heartbeat_stat hb;

    assert_int_equal(comp_heartbeat_stat(e->c, 0, &hb), 1);
    assert_string_equal(hb.hook, "watchdog");
    assert_int_equal(hb.ok, ok);
    assert_int_equal(hb.received, received);
    assert_int_equal(hb.missed, missed);
    assert_int_equal(comp_heartbeat_stat(e->c, 1, &hb), 0);
}

/* Heartbeat counters: missing (ok 0, missed 1), back (ok 1, received),
 * webhooks in time (received only); the board changes with it. */
static void test_metrics_heartbeat(void **state)
{
    struct env e;
    struct comp_life_stats ls;

    (void)state;
    env_open(&e, HOOK_BEAT, 0);
    subscribe(&e);
    g_msgs = 1;
    assert_true(fake_run_until(e.base, got_msgs, &e, 3000));
    want_beat(&e, 0, 0, 1);
    comp_life_stats(e.c, &ls);
    assert_int_equal(ls.board_updates, 1); /* xa */
    submit_alert(&e, "watchdog", "mh-1", NULL, 0, 0);
    g_msgs = 2;
    assert_true(fake_run_until(e.base, got_msgs, &e, 3000));
    want_beat(&e, 1, 1, 1);
    submit_alert(&e, "watchdog", "mh-2", NULL, 0, 0);
    want_beat(&e, 1, 2, 1);
    comp_life_stats(e.c, &ls);
    assert_int_equal(ls.board_updates, 2); /* back to all clear */
    assert_int_equal(ls.corrections + ls.resolved_new + ls.groups, 0);
    /* Silent again: missed 2, one more notice. */
    g_msgs = 3;
    assert_true(fake_run_until(e.base, got_msgs, &e, 3000));
    want_beat(&e, 0, 2, 2);
    env_close(&e);
}

/* ---- the heartbeat across restarts (spool) ---------------------------- */

#define HOOK_BEAT3                                                             \
    "[hook watchdog]\ntoken = 0123456789abcdef0123456789abcdef\nfrom = bot\n"  \
    "to = " USER "\nheartbeat = 3s\n"

/* The heartbeat row of hook watchdog in e's spool: 1 with *last_ms and
 * *missing, 0 when there is none; *rows the table's row count. */
static int beat_row(struct env *e, int64_t *last_ms, int *missing, int *rows)
{
    char path[128];
    sqlite3 *db;
    sqlite3_stmt *st;
    int found = 0;

    snprintf(path, sizeof(path), "%s/spool.db", e->dir);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT count(*) FROM heartbeat", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    *rows = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT last_ms, missing FROM heartbeat"
                                        " WHERE hook = 'watchdog'",
                                        -1, &st, NULL),
                     SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *last_ms = sqlite3_column_int64(st, 0);
        *missing = sqlite3_column_int(st, 1);
        found = 1;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return found;
}

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void hhmm_of(time_t t, char out[8])
{
    struct tm tm;

    localtime_r(&t, &tm);
    strftime(out, 8, "%H:%M", &tm);
}

/* heartbeat = 3s with the spool: the last webhook at T, xmta down from
 * T+0.1 s to T+2 s; the silence is reported at T+3 s (one period after
 * the webhook, not T+5 s, one after the restart), naming T's time. A
 * restart while it is missing keeps it: xa at once, no second notice,
 * and the next webhook is "back". A restart without heartbeat = drops
 * the row. */
static void test_heartbeat_persist(void **state)
{
    struct env e;
    char hhmm0[8], hhmm1[8], want0[200], want1[200], *body;
    time_t t0, t1;
    uint64_t t;
    int64_t last_ms, before;
    int missing, rows;

    (void)state;
    env_open(&e, HOOK_BEAT3, 1);
    assert_int_equal(beat_row(&e, &last_ms, &missing, &rows), 1);
    assert_int_equal(missing, 0); /* the watch's start is stored */
    t = fake_now_ms();
    before = wall_ms();
    t0 = time(NULL);
    submit_alert(&e, "watchdog", "wp-1", NULL, 0, 0);
    t1 = time(NULL);
    assert_int_equal(beat_row(&e, &last_ms, &missing, &rows), 1);
    assert_true(last_ms >= before && last_ms <= wall_ms());
    assert_int_equal(missing, 0);
    assert_int_equal(rows, 1);
    assert_true(fake_run_until(e.base, NULL, NULL, 100));
    env_comp_close(&e);
    assert_true(fake_run_until(e.base, NULL, NULL, 1900));
    env_comp(&e);
    subscribe(&e);
    g_msgs = 1;
    assert_true(fake_run_until(e.base, got_msgs, &e, 4000));
    t = fake_now_ms() - t;
    if (t < 2950 || t > 4300)
        fail_msg("the notice came %llu ms after the webhook, wanted 3000",
                 (unsigned long long)t);
    hhmm_of(t0, hhmm0);
    hhmm_of(t1, hhmm1);
    snprintf(want0, sizeof(want0),
             "\xe2\x9a\xa0\xef\xb8\x8f *No heartbeat* from watchdog since %s "
             "(expected every 3s): the monitoring may be down.",
             hhmm0);
    snprintf(want1, sizeof(want1),
             "\xe2\x9a\xa0\xef\xb8\x8f *No heartbeat* from watchdog since %s "
             "(expected every 3s): the monitoring may be down.",
             hhmm1);
    body = msg_body(&e, 0);
    assert_non_null(body);
    if (strcmp(body, want0) != 0)
        assert_string_equal(body, want1);
    free(body);
    snprintf(want0, sizeof(want0), "no heartbeat since %s", hhmm0);
    snprintf(want1, sizeof(want1), "no heartbeat since %s", hhmm1);
    g_status = want0;
    if (!fake_run_until(e.base, got_status, &e, 3000))
        want_presence(&e, "xa", want1);
    assert_string_equal(child_text(last_presence(&e), "show"), "xa");
    assert_int_equal(beat_row(&e, &last_ms, &missing, &rows), 1);
    assert_int_equal(missing, 1);
    want_beat(&e, 0, 0, 1);

    /* Restart while missing: xa at once, no second notice. (The notice
     * acknowledged first: an unacknowledged one is sent again.) */
    assert_true(fake_run_until(e.base, spool_empty, &e, 3000));
    env_comp_close(&e);
    env_comp(&e);
    want_beat(&e, 0, 0, 0);
    subscribe(&e);
    g_status = want0;
    if (!fake_run_until(e.base, got_status, &e, 3000))
        want_presence(&e, "xa", want1);
    assert_true(fake_run_until(e.base, NULL, NULL, 3500));
    assert_int_equal(fake_count_named(e.fs, "message", "to", USER), 1);
    /* The next webhook: "back" (missing since T's time). */
    submit_alert(&e, "watchdog", "wp-2", NULL, 0, 0);
    g_msgs = 2;
    assert_true(fake_run_until(e.base, got_msgs, &e, 3000));
    body = msg_body(&e, 1);
    assert_non_null(body);
    snprintf(want0, sizeof(want0),
             "\xe2\x9c\x85 *Heartbeat back* from watchdog (missing since %s).",
             hhmm0);
    snprintf(want1, sizeof(want1),
             "\xe2\x9c\x85 *Heartbeat back* from watchdog (missing since %s).",
             hhmm1);
    if (strcmp(body, want0) != 0)
        assert_string_equal(body, want1);
    free(body);
    want_presence(&e, "", "all clear");
    want_beat(&e, 1, 1, 0);
    assert_int_equal(beat_row(&e, &last_ms, &missing, &rows), 1);
    assert_int_equal(missing, 0);

    /* Without heartbeat = the row goes; with it again, a new watch. */
    assert_true(fake_run_until(e.base, spool_empty, &e, 3000));
    env_comp_close(&e);
    e.hooks = HOOK_CORRECT;
    env_comp(&e);
    assert_int_equal(beat_row(&e, &last_ms, &missing, &rows), 0);
    assert_int_equal(rows, 0);
    env_comp_close(&e);
    e.hooks = HOOK_BEAT3;
    before = wall_ms();
    env_comp(&e);
    assert_int_equal(beat_row(&e, &last_ms, &missing, &rows), 1);
    assert_true(last_ms >= before);
    env_close(&e);
}

/* Memory mode (path = none): nothing is kept; after a restart a whole
 * period passes before a silence is reported. */
static void test_heartbeat_memory_restart(void **state)
{
    struct env e;
    uint64_t t;

    (void)state;
    env_open(&e, HOOK_BEAT3, 0);
    submit_alert(&e, "watchdog", "wm-1", NULL, 0, 0);
    env_comp_close(&e);
    assert_true(fake_run_until(e.base, NULL, NULL, 2000));
    t = fake_now_ms();
    env_comp(&e);
    g_msgs = 1;
    assert_true(fake_run_until(e.base, got_msgs, &e, 5000));
    assert_true(fake_now_ms() - t >= 2950);
    env_close(&e);
}

/* A standby started on a spool whose heartbeat is overdue reports
 * nothing: it learns from the server that it is one only after its
 * timers fired. After the takeover no notice at once; a whole period
 * later one. */
static void test_heartbeat_persist_standby(void **state)
{
    struct env e;
    struct fake_opts *fo;
    const struct xml_node *first = NULL;

    (void)state;
    env_open(&e, HOOK_BEAT, 1);
    submit_alert(&e, "watchdog", "ws-1", NULL, 0, 0);
    env_comp_close(&e);
    assert_true(fake_run_until(e.base, NULL, NULL, 1200)); /* overdue */
    fo = fake_options(e.fs);
    fo->mode = FAKE_STREAM_ERROR;
    fo->mode_conns = fake_connections(e.fs) + 8;
    fo->err_condition = "conflict";
    g_conflicts = 8;
    env_comp(&e);
    g_conflicts = 0;
    subscribe(&e);
    for (int i = 0; i < 300 && !first; i++) {
        first = last_presence(&e);
        if (!first)
            fake_run_until(e.base, NULL, NULL, 10);
    }
    assert_non_null(first);
    assert_string_equal(child_text(first, "status"), "all clear");
    assert_int_equal(fake_count_named(e.fs, "message", "to", USER), 0);
    g_msgs = 1;
    assert_true(fake_run_until(e.base, got_msgs, &e, 3000));
    assert_string_equal(child_text(last_presence(&e), "show"), "xa");
    env_close(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_correct_restart),
        cmocka_unit_test(test_correct_memory_and_new),
        cmocka_unit_test(test_status_board),
        cmocka_unit_test(test_heartbeat),
        cmocka_unit_test(test_heartbeat_forward),
        cmocka_unit_test(test_heartbeat_reload),
        cmocka_unit_test(test_heartbeat_standby),
        cmocka_unit_test(test_room_board),
        cmocka_unit_test(test_metrics_alerts),
        cmocka_unit_test(test_metrics_heartbeat),
        cmocka_unit_test(test_heartbeat_persist),
        cmocka_unit_test(test_heartbeat_memory_restart),
        cmocka_unit_test(test_heartbeat_persist_standby),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
