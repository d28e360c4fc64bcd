/* SPDX-License-Identifier: MIT */
/* test_replies.c -- two-way bots against the scripted fake XMPP server and
 * an in-process evhttp receiver that plays the reply webhook and a fake
 * Alertmanager: the signed JSON (HMAC checked here), in_reply_to from
 * XEP-0461 and from the newest alert, the answer coming back to the user
 * or room, a room mention, the failure answers (500, timeout, nothing
 * listening), and "ack", "silence", "alerts" with commanders. Every loop
 * is bounded. An optional argument selects tests by cmocka glob. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

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
#define SIGKEY "sign-key-for-tests"
#define BOT_BARE "bot@" DOMAIN
#define BOT_FULL "bot@" DOMAIN "/xmta"
#define ROOM "ops@conference.localhost"
#define USER "juliet@localhost"
#define USER_FULL "juliet@localhost/phone"

/* ---- the receiver: reply webhook and fake Alertmanager ------------------ */

enum rx_mode {
    RX_ANSWER, /* 200 text/plain "got: BODY" */
    RX_500,
    RX_SLOW, /* answers after 3 s */
    RX_JSON, /* 200 application/json: nothing is sent back */
    RX_MODE_COUNT
};

struct rx {
    struct event_base *base;
    struct evhttp *http;
    unsigned short port;
    enum rx_mode mode;
    unsigned hits;
    char path[256];
    char body[4096];
    char sig[128];
    struct evhttp_request *slow;
    struct event *slow_ev;
    char silence[4096]; /* the last POST /api/v2/silences body */
    unsigned silences, alert_gets;
};

static void rx_reply(struct evhttp_request *req,
                     int code,
                     const char *ctype,
                     const char *text)
{
    struct evbuffer *b = evbuffer_new();

    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      ctype);
    evbuffer_add(b, text, strlen(text));
    evhttp_send_reply(req, code, "X", b);
    evbuffer_free(b);
}

static void rx_slow_done(evutil_socket_t fd, short what, void *arg)
{
    struct rx *x = arg;

    rx_reply(x->slow, 200, "text/plain", "too late");
    x->slow = NULL;
}

static void rx_on_request(struct evhttp_request *req, void *arg)
{
    struct rx *x = arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    const char *uri = evhttp_request_get_uri(req), *sig;
    size_t n = evbuffer_get_length(in);
    char text[4200];

    x->hits++;
    snprintf(x->path, sizeof(x->path), "%s", uri);
    if (n >= sizeof(x->body))
        n = sizeof(x->body) - 1;
    evbuffer_copyout(in, x->body, n);
    x->body[n] = '\0';
    sig = evhttp_find_header(evhttp_request_get_input_headers(req),
                             "X-Xmta-Signature");
    snprintf(x->sig, sizeof(x->sig), "%s", sig ? sig : "");
    if (strcmp(uri, "/am/api/v2/silences") == 0) {
        snprintf(x->silence, sizeof(x->silence), "%s", x->body);
        x->silences++;
        rx_reply(req, 200, "application/json", "{\"silenceID\":\"sil-42\"}");
        return;
    }
    if (strncmp(uri, "/am/api/v2/alerts", 17) == 0) {
        x->alert_gets++;
        rx_reply(req, 200, "application/json",
                 "[{\"labels\":{\"alertname\":\"DiskFull\",\"instance\":"
                 "\"db1\"},\"annotations\":{\"summary\":\"disk 97%\"}},"
                 "{\"labels\":{\"alertname\":\"Load\"},\"annotations\":{}}]");
        return;
    }
    switch (x->mode) {
    case RX_ANSWER: {
        json_t *j = json_loads(x->body, 0, NULL);

        snprintf(text, sizeof(text), "got: %s\n",
                 json_string_value(json_object_get(j, "text")));
        json_decref(j);
        rx_reply(req, 200, "text/plain; charset=utf-8", text);
        break;
    }
    case RX_500:
        rx_reply(req, 500, "text/plain", "boom");
        break;
    case RX_JSON:
        rx_reply(req, 200, "application/json", "{\"ok\":true}");
        break;
    default:
        x->slow = req;
        x->slow_ev = evtimer_new(x->base, rx_slow_done, x);
        {
            struct timeval tv = {3, 0};

            evtimer_add(x->slow_ev, &tv);
        }
    }
}

static void rx_start(struct rx *x, struct event_base *base)
{
    struct evhttp_bound_socket *bs;
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);

    memset(x, 0, sizeof(*x));
    x->base = base;
    x->http = evhttp_new(base);
    assert_non_null(x->http);
    evhttp_set_gencb(x->http, rx_on_request, x);
    evhttp_set_allowed_methods(x->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    bs = evhttp_bind_socket_with_handle(x->http, "127.0.0.1", 0);
    assert_non_null(bs);
    getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin, &len);
    x->port = ntohs(sin.sin_port);
}

static void rx_stop(struct rx *x)
{
    if (x->slow_ev)
        event_free(x->slow_ev);
    evhttp_free(x->http);
}

/* A loopback port with nothing listening (bound, then closed). */
static unsigned short dead_port(void)
{
    struct sockaddr_in sin = {0};
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    unsigned short port;

    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    getsockname(fd, (struct sockaddr *)&sin, &len);
    port = ntohs(sin.sin_port);
    close(fd);
    return port;
}

/* ---- loop and environment ----------------------------------------------- */

struct env {
    struct event_base *base;
    struct fake_server *fs;
    struct rx rx;
    struct conf *cfg;
    struct comp *c;
    const char *want_to; /* run_until: a message to this JID */
    size_t want_nth;     /* ... the nth one (0-based) */
    unsigned want_hits;  /* run_until: the receiver saw this many */
};

/* reply_port 0: the receiver's; muc: a room and fake joins. */
static void env_open(struct env *e, unsigned short reply_port, int muc)
{
    struct fake_opts fo = {0};

    memset(e, 0, sizeof(*e));
    fo.domain = DOMAIN;
    fo.secret = SECRET;
    fo.muc_auto = muc;
    fake_env_server(&e->base, &e->fs, &fo);
    rx_start(&e->rx, e->base);
    fake_env_comp(e->base, e->fs, NULL, &e->cfg, &e->c,
                  "[spool]\n"
                  "path = none\n"
                  "%s"
                  "%s"
                  "secret = " SIGKEY "\n"
                  "reply_url = http://127.0.0.1:%u/reply\n"
                  "reply_timeout = 1\n"
                  "alertmanager_url = http://127.0.0.1:%u/am/\n"
                  "commanders = juliet@*\n",
                  FAKE_ENV_HOOK(USER), muc ? "room = " ROOM "\n" : "",
                  reply_port ? reply_port : e->rx.port, e->rx.port);
}

static void env_close(struct env *e)
{
    fake_env_comp_free(&e->cfg, &e->c);
    rx_stop(&e->rx);
    fake_env_free(&e->base, &e->fs, &e->cfg, &e->c);
}

static int rooms_joined(void *arg)
{
    struct env *e = arg;
    size_t joined = 0, total = 0;

    comp_rooms(e->c, &joined, &total);
    return total && joined == total;
}

static int got_message(void *arg)
{
    struct env *e = arg;

    return fake_find(e->fs, "message", "to", e->want_to, e->want_nth) != NULL;
}

static int got_hits(void *arg)
{
    struct env *e = arg;

    return e->rx.hits >= e->want_hits;
}

static int spool_empty(void *arg)
{
    struct env *e = arg;
    struct comp_spool_status st;

    comp_spool_status(e->c, &st);
    return comp_queued(e->c) == 0 && st.depth == 0;
}

static void start_ready(struct env *e)
{
    fake_env_start(e->base, e->c, 3000);
}

/* The body of the nth message to `to`, waiting up to ms (malloc'd). */
static char *wait_body(struct env *e, const char *to, size_t nth, unsigned ms)
{
    const struct xml_node *m;

    e->want_to = to;
    e->want_nth = nth;
    if (!fake_run_until(e->base, got_message, e, ms))
        fail_msg("no message %zu to %s", nth, to);
    m = fake_find(e->fs, "message", "to", to, nth);
    return xml_node_text(xml_node_child(m, "body", NULL));
}

static void
user_says(struct env *e, const char *id, const char *body, const char *reply_id)
{
    char raw[1024];

    snprintf(raw, sizeof(raw),
             "<message from='" USER_FULL "' to='" BOT_BARE
             "' type='chat' id='%s'><body>%s</body>%s%s%s</message>",
             id, body,
             reply_id ? "<reply xmlns='urn:xmpp:reply:0' to='" BOT_BARE "' id='"
                      : "",
             reply_id ? reply_id : "", reply_id ? "'/>" : "");
    assert_int_equal(fake_send(e->fs, raw), 0);
}

/* Submits an alert to USER (labels: JSON or NULL) and waits for its ack. */
static void send_alert(struct env *e, const char *id, const char *labels)
{
    struct msg *m = msg_new();

    assert_non_null(m);
    snprintf(m->id, sizeof(m->id), "%s", id);
    m->hook = strdup("alerts");
    m->from = strdup("bot");
    m->nick = strdup("Bot");
    m->body = strdup("DiskFull on db1");
    m->labels = labels ? strdup(labels) : NULL;
    assert_int_equal(msg_add_to(m, USER), 0);
    assert_int_equal(comp_submit(e->c, m), 0);
    assert_true(fake_run_until(e->base, spool_empty, e, 3000));
}

/* The hex HMAC-SHA256 of body under SIGKEY, as "sha256=HEX". */
static void expected_sig(const char *body, char out[80])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    assert_non_null(HMAC(EVP_sha256(), SIGKEY, (int)strlen(SIGKEY),
                         (const unsigned char *)body, strlen(body), md, &n));
    strcpy(out, "sha256=");
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

/* Seconds since the epoch of "YYYY-MM-DDTHH:MM:SSZ". */
static long iso_secs(const char *s)
{
    struct tm tm = {0};

    assert_int_equal(sscanf(s, "%d-%d-%dT%d:%d:%dZ", &tm.tm_year, &tm.tm_mon,
                            &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec),
                     6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (long)timegm(&tm);
}

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* ---- tests -------------------------------------------------------------- */

/* A chat message goes out as signed JSON; the text answer comes back. */
static void test_forward_and_answer(void **state)
{
    struct env e;
    struct comp_fetch_stats st;
    char sig[80], *body;
    json_t *j;

    env_open(&e, 0, 0);
    start_ready(&e);
    user_says(&e, "u1", "hello &amp; bot", "alert-7");
    body = wait_body(&e, USER_FULL, 0, 3000);
    assert_string_equal(body, "got: hello & bot");
    free(body);
    assert_string_equal(e.rx.path, "/reply");
    expected_sig(e.rx.body, sig);
    assert_string_equal(e.rx.sig, sig);
    j = json_loads(e.rx.body, 0, NULL);
    assert_non_null(j);
    assert_string_equal(jstr(j, "hook"), "alerts");
    assert_string_equal(jstr(j, "from"), USER_FULL);
    assert_string_equal(jstr(j, "to"), BOT_BARE);
    assert_true(json_is_null(json_object_get(j, "room")));
    assert_string_equal(jstr(j, "body"), "hello & bot");
    assert_string_equal(jstr(j, "id"), "u1");
    assert_string_equal(jstr(j, "in_reply_to"), "alert-7");
    json_decref(j);
    /* the answer: from the bare bot JID, as chat */
    {
        const struct xml_node *m =
            fake_find(e.fs, "message", "to", USER_FULL, 0);

        assert_string_equal(xml_node_attr(m, "from"), BOT_BARE);
        assert_string_equal(xml_node_attr(m, "type"), "chat");
    }
    comp_fetch_stats(e.c, &st);
    assert_int_equal(st.replies, 1);
    assert_int_equal(st.replies_sent, 1);
    assert_int_equal(st.replies_failed, 0);
    assert_int_equal(st.requests, 1);
    assert_int_equal(st.ok, 1);

    /* Without a XEP-0461 reply: the newest alert to the user. */
    send_alert(&e, "11111111-2222-3333-4444-555555555555", NULL);
    user_says(&e, "u2", "thanks", NULL);
    body = wait_body(&e, USER_FULL, 1, 3000);
    assert_string_equal(body, "got: thanks");
    free(body);
    j = json_loads(e.rx.body, 0, NULL);
    assert_string_equal(jstr(j, "in_reply_to"),
                        "11111111-2222-3333-4444-555555555555");
    json_decref(j);

    /* A JSON answer is not shown: nothing comes back, nothing fails. */
    e.rx.mode = RX_JSON;
    user_says(&e, "u3", "quiet", NULL);
    e.want_hits = 3;
    assert_true(fake_run_until(e.base, got_hits, &e, 3000));
    fake_run_until(e.base, NULL, NULL, 200);
    assert_null(fake_find(e.fs, "message", "to", USER_FULL, 2));
    comp_fetch_stats(e.c, &st);
    assert_int_equal(st.replies, 3);
    assert_int_equal(st.replies_failed, 0);
    env_close(&e);
}

static void test_failures(void **state)
{
    struct env e;
    struct comp_fetch_stats st;
    char *body;
    uint64_t t0;

    env_open(&e, 0, 0);
    start_ready(&e);
    e.rx.mode = RX_500;
    user_says(&e, "f1", "one", NULL);
    body = wait_body(&e, USER_FULL, 0, 3000);
    assert_non_null(strstr(body, "Could not deliver your message (HTTP 500)"));
    free(body);
    assert_int_equal(e.rx.hits, 1); /* a 500 is not retried */

    e.rx.mode = RX_SLOW;
    t0 = fake_now_ms();
    user_says(&e, "f2", "two", NULL);
    body = wait_body(&e, USER_FULL, 1, 4000);
    assert_non_null(strstr(body, "(no answer in time)"));
    assert_true(fake_now_ms() - t0 < 2500); /* reply_timeout = 1 */
    free(body);
    comp_fetch_stats(e.c, &st);
    assert_int_equal(st.replies_failed, 2);
    assert_int_equal(st.timeouts, 1);
    assert_int_equal(st.http_errors, 1);
    env_close(&e);

    /* Nothing listening: retried, then "unreachable". */
    env_open(&e, dead_port(), 0);
    start_ready(&e);
    user_says(&e, "f3", "three", NULL);
    body = wait_body(&e, USER_FULL, 0, 8000);
    assert_non_null(
        strstr(body, "Could not deliver your message (unreachable)"));
    free(body);
    comp_fetch_stats(e.c, &st);
    assert_int_equal(st.replies_failed, 1);
    assert_int_equal(st.retries, 2);
    assert_int_equal(st.failures, 1);
    env_close(&e);
}

/* In a room: only messages naming the bot's nick, never its own echo;
 * the answer goes to the room as groupchat. */
static void test_room_mention(void **state)
{
    struct env e;
    char *body;
    json_t *j;
    const struct xml_node *m;

    env_open(&e, 0, 1);
    start_ready(&e);
    assert_true(fake_run_until(e.base, rooms_joined, &e, 3000));
    fake_send(e.fs, "<message from='" ROOM "/alice' to='" BOT_FULL
                    "' type='groupchat' id='g1'><body>lunch anyone?</body>"
                    "</message>");
    fake_send(e.fs, "<message from='" ROOM "/Bot' to='" BOT_FULL
                    "' type='groupchat' id='g2'><body>Bot: echo</body>"
                    "</message>");
    fake_send(e.fs, "<message from='" ROOM "/alice' to='" BOT_FULL
                    "' type='groupchat' id='g3'><body>Robot: no</body>"
                    "</message>");
    fake_send(e.fs, "<message from='" ROOM "/alice' to='" BOT_FULL
                    "' type='groupchat' id='g4'><body>bot: status?</body>"
                    "</message>");
    body = wait_body(&e, ROOM, 0, 3000);
    assert_string_equal(body, "got: status?");
    free(body);
    assert_int_equal(e.rx.hits, 1);
    m = fake_find(e.fs, "message", "to", ROOM, 0);
    assert_string_equal(xml_node_attr(m, "type"), "groupchat");
    assert_string_equal(xml_node_attr(m, "from"), BOT_FULL);
    j = json_loads(e.rx.body, 0, NULL);
    assert_string_equal(jstr(j, "room"), ROOM);
    assert_string_equal(jstr(j, "nick"), "alice");
    assert_string_equal(jstr(j, "from"), ROOM "/alice");
    assert_string_equal(jstr(j, "body"), "bot: status?");
    assert_string_equal(jstr(j, "text"), "status?");
    assert_string_equal(jstr(j, "id"), "g4");
    assert_true(json_is_null(json_object_get(j, "jid"))); /* not shown */
    json_decref(j);
    env_close(&e);
}

#define MUC_USER "http://jabber.org/protocol/muc#user"

/* An occupant's presence with its real JID (jid NULL: hidden). */
static void occupant(struct env *e, const char *nick, const char *jid)
{
    char raw[512];

    snprintf(raw, sizeof(raw),
             "<presence from='" ROOM "/%s' to='" BOT_FULL "'>"
             "<x xmlns='" MUC_USER "'><item affiliation='member' "
             "role='participant'%s%s%s/></x></presence>",
             nick, jid ? " jid='" : "", jid ? jid : "", jid ? "'" : "");
    assert_int_equal(fake_send(e->fs, raw), 0);
}

static void room_says(struct env *e,
                      const char *nick,
                      const char *id,
                      const char *body,
                      const char *extra)
{
    char raw[1024];

    snprintf(raw, sizeof(raw),
             "<message from='" ROOM "/%s' to='" BOT_FULL
             "' type='groupchat' id='%s'><body>%s</body>%s</message>",
             nick, id, body, extra ? extra : "");
    assert_int_equal(fake_send(e->fs, raw), 0);
}

/* Commands in a room: the commanders check on the real JID the room
 * shows; refused in the room when it hides it; never for history, the
 * subject or our own messages; never an error stanza to the room. */
static void test_room_commands(void **state)
{
    struct env e;
    char *body;
    json_t *j;

    env_open(&e, 0, 1);
    start_ready(&e);
    assert_true(fake_run_until(e.base, rooms_joined, &e, 3000));
    occupant(&e, "jules", USER_FULL);              /* a commander */
    occupant(&e, "mal", "mallory@evil.example/x"); /* not one */
    occupant(&e, "anon", NULL);                    /* JID hidden */

    /* History and the subject are never taken, nor our own messages. */
    room_says(&e, "jules", "h1", "Bot: alerts",
              "<delay xmlns='urn:xmpp:delay' stamp='2024-01-01T00:00:00Z'/>");
    room_says(&e, "jules", "h2", "Bot: alerts",
              "<subject>Bot: alerts</subject>");
    room_says(&e, "Bot", "h3", "Bot: alerts", NULL);
    fake_run_until(e.base, NULL, NULL, 300);
    assert_int_equal(e.rx.alert_gets, 0);
    assert_null(fake_find(e.fs, "message", "to", ROOM, 0));

    /* A commander named by the room: the command runs, answered there. */
    room_says(&e, "jules", "r1", "Bot, alerts", NULL);
    body = wait_body(&e, ROOM, 0, 3000);
    assert_string_equal(body, "2 alerts firing:\n• DiskFull on db1: disk 97%\n"
                              "• Load");
    free(body);
    assert_int_equal(e.rx.alert_gets, 1);
    assert_string_equal(
        xml_node_attr(fake_find(e.fs, "message", "to", ROOM, 0), "type"),
        "groupchat");
    room_says(&e, "jules", "r2", "bot: silence 1h alertname=Load", NULL);
    body = wait_body(&e, ROOM, 1, 3000);
    assert_string_equal(body, "Silenced for 1h (silence sil-42): "
                              "alertname=Load");
    free(body);
    assert_int_equal(e.rx.silences, 1);
    j = json_loads(e.rx.silence, 0, NULL);
    assert_string_equal(jstr(j, "createdBy"), USER); /* the real bare JID */
    json_decref(j);

    /* Not a commander: refused in the room. */
    room_says(&e, "mal", "r3", "Bot: silence 1h a=b", NULL);
    body = wait_body(&e, ROOM, 2, 3000);
    assert_string_equal(body, "You are not allowed to run commands here.");
    free(body);
    /* The room hides the JID: refused in the room. */
    room_says(&e, "anon", "r4", "Bot: ack", NULL);
    body = wait_body(&e, ROOM, 3, 3000);
    assert_non_null(strstr(body, "cannot see your JID in this room"));
    free(body);
    /* Once gone, the nick's JID is forgotten. */
    fake_send(e.fs, "<presence from='" ROOM "/jules' to='" BOT_FULL
                    "' type='unavailable'><x xmlns='" MUC_USER "'><item "
                    "affiliation='member' role='none' jid='" USER_FULL
                    "'/></x></presence>");
    room_says(&e, "jules", "r5", "Bot: silence 1h a=b", NULL);
    body = wait_body(&e, ROOM, 4, 3000);
    assert_non_null(strstr(body, "cannot see your JID in this room"));
    free(body);
    assert_int_equal(e.rx.silences, 1);

    /* Other text from a shown JID goes to reply_url with it. */
    occupant(&e, "jules", USER_FULL);
    room_says(&e, "jules", "r6", "Bot: thanks", NULL);
    body = wait_body(&e, ROOM, 5, 3000);
    assert_string_equal(body, "got: thanks");
    free(body);
    j = json_loads(e.rx.body, 0, NULL);
    assert_string_equal(jstr(j, "jid"), USER);
    assert_string_equal(jstr(j, "nick"), "jules");
    json_decref(j);
    /* Nothing but groupchat messages went to the room. */
    for (size_t i = 0; i < 6; i++) {
        const struct xml_node *m = fake_find(e.fs, "message", "to", ROOM, i);

        assert_non_null(m);
        assert_string_equal(xml_node_attr(m, "type"), "groupchat");
        assert_null(xml_node_child(m, "error", NULL));
    }
    assert_null(fake_find(e.fs, "message", "to", ROOM, 6));
    env_close(&e);
}

/* XEP-0461 in a room: the reply names the room's stanza-id of the alert
 * (from the echo), not ours; "ack" still finds the alert's labels, and
 * reply_url gets our id as in_reply_to. An unknown stanza-id is not
 * taken for another alert. */
static void test_room_reply_by_stanza_id(void **state)
{
    struct env e;
    struct msg *m = msg_new();
    const struct xml_node *sent;
    char *body, echo[1024];
    json_t *j;

    env_open(&e, 0, 1);
    start_ready(&e);
    assert_true(fake_run_until(e.base, rooms_joined, &e, 3000));
    occupant(&e, "jules", USER_FULL);
    assert_non_null(m);
    snprintf(m->id, sizeof(m->id), "%s",
             "bbbbbbbb-2222-3333-4444-555555555555");
    m->hook = strdup("alerts");
    m->from = strdup("bot");
    m->nick = strdup("Bot");
    m->body = strdup("DiskFull on db1");
    m->labels = strdup("{\"alertname\":\"DiskFull\",\"instance\":\"db1\"}");
    assert_int_equal(msg_add_room(m, ROOM), 0);
    assert_int_equal(comp_submit(e.c, m), 0);
    body = wait_body(&e, ROOM, 0, 3000);
    free(body);
    sent = fake_find(e.fs, "message", "to", ROOM, 0);
    assert_string_equal(xml_node_attr(sent, "id"),
                        "bbbbbbbb-2222-3333-4444-555555555555");
    /* the room's echo, as with MUC archiving: origin-id and stanza-id */
    snprintf(echo, sizeof(echo),
             "<message from='" ROOM "/Bot' to='" BOT_FULL
             "' type='groupchat' id='%s'><body>DiskFull on db1</body>"
             "<origin-id xmlns='urn:xmpp:sid:0' id='%s'/>"
             "<stanza-id xmlns='urn:xmpp:sid:0' by='" ROOM
             "' id='room-sid-1'/></message>",
             xml_node_attr(sent, "id"), xml_node_attr(sent, "id"));
    assert_int_equal(fake_send(e.fs, echo), 0);

    room_says(&e, "jules", "s1", "Bot: ack",
              "<reply xmlns='urn:xmpp:reply:0' to='" ROOM
              "/Bot' id='room-sid-1'/>");
    body = wait_body(&e, ROOM, 1, 3000);
    assert_string_equal(body, "Silenced for 2h (silence sil-42): "
                              "alertname=DiskFull, instance=db1");
    free(body);
    assert_int_equal(e.rx.silences, 1);

    /* reply_url: in_reply_to is our id */
    room_says(&e, "jules", "s2", "Bot: thanks",
              "<reply xmlns='urn:xmpp:reply:0' to='" ROOM
              "/Bot' id='room-sid-1'/>");
    body = wait_body(&e, ROOM, 2, 3000);
    assert_string_equal(body, "got: thanks");
    free(body);
    j = json_loads(e.rx.body, 0, NULL);
    assert_non_null(j);
    assert_string_equal(jstr(j, "in_reply_to"),
                        "bbbbbbbb-2222-3333-4444-555555555555");
    json_decref(j);

    /* a stanza-id nobody knows names no alert */
    room_says(&e, "jules", "s3", "Bot: ack",
              "<reply xmlns='urn:xmpp:reply:0' to='" ROOM
              "/Bot' id='room-sid-unknown'/>");
    body = wait_body(&e, ROOM, 3, 3000);
    assert_non_null(strstr(body, "Which alert?"));
    free(body);
    assert_int_equal(e.rx.silences, 1);
    env_close(&e);
}

static void test_alertmanager_commands(void **state)
{
    struct env e;
    char *body;
    json_t *j, *mt;

    env_open(&e, 0, 0);
    start_ready(&e);
    send_alert(&e, "aaaaaaaa-2222-3333-4444-555555555555",
               "{\"alertname\":\"DiskFull\",\"instance\":\"db1\"}");
    user_says(&e, "c1", "ack", "aaaaaaaa-2222-3333-4444-555555555555");
    body = wait_body(&e, USER_FULL, 0, 3000);
    assert_string_equal(body, "Silenced for 2h (silence sil-42): "
                              "alertname=DiskFull, instance=db1");
    free(body);
    assert_int_equal(e.rx.silences, 1);
    j = json_loads(e.rx.silence, 0, NULL);
    assert_non_null(j);
    assert_string_equal(jstr(j, "createdBy"), USER);
    mt = json_object_get(j, "matchers");
    assert_int_equal(json_array_size(mt), 2);
    assert_string_equal(jstr(json_array_get(mt, 0), "name"), "alertname");
    assert_string_equal(jstr(json_array_get(mt, 0), "value"), "DiskFull");
    assert_true(
        json_is_true(json_object_get(json_array_get(mt, 0), "isEqual")));
    assert_true(
        json_is_false(json_object_get(json_array_get(mt, 0), "isRegex")));
    assert_int_equal(
        iso_secs(jstr(j, "endsAt")) - iso_secs(jstr(j, "startsAt")), 2 * 3600);
    json_decref(j);
    assert_int_equal(e.rx.hits, 1); /* the reply_url saw nothing */

    /* Explicit matchers and a duration, without replying to anything. */
    user_says(&e, "c2", "silence 30m alertname=~Disk.* env!=dev", NULL);
    body = wait_body(&e, USER_FULL, 1, 3000);
    assert_string_equal(body, "Silenced for 30m (silence sil-42): "
                              "alertname=~Disk.*, env!=dev");
    free(body);
    j = json_loads(e.rx.silence, 0, NULL);
    mt = json_object_get(j, "matchers");
    assert_int_equal(json_array_size(mt), 2);
    assert_true(
        json_is_true(json_object_get(json_array_get(mt, 0), "isRegex")));
    assert_true(
        json_is_false(json_object_get(json_array_get(mt, 1), "isEqual")));
    json_decref(j);

    /* "alerts" lists what is firing. */
    user_says(&e, "c3", "Alerts", NULL);
    body = wait_body(&e, USER_FULL, 2, 3000);
    assert_string_equal(body, "2 alerts firing:\n• DiskFull on db1: disk 97%\n"
                              "• Load");
    free(body);
    assert_int_equal(e.rx.alert_gets, 1);
    assert_non_null(strstr(e.rx.path, "active=true"));

    /* Bad usage, unknown alert: answered, nothing created. */
    user_says(&e, "c4", "silence forever", NULL);
    body = wait_body(&e, USER_FULL, 3, 3000);
    assert_non_null(strstr(body, "Usage: silence DURATION"));
    free(body);
    user_says(&e, "c5", "ack", "no-such-alert");
    body = wait_body(&e, USER_FULL, 4, 3000);
    assert_non_null(strstr(body, "Which alert?"));
    free(body);
    assert_int_equal(e.rx.silences, 2);

    /* Not a commander: refused, nothing created. */
    fake_send(e.fs, "<message from='mallory@evil.example/x' to='" BOT_BARE
                    "' type='chat' id='c6'><body>silence 1h a=b</body>"
                    "</message>");
    body = wait_body(&e, "mallory@evil.example/x", 0, 3000);
    assert_string_equal(body, "You are not allowed to run commands here.");
    free(body);
    assert_int_equal(e.rx.silences, 2);

    /* Any other text still goes to the reply_url. */
    user_says(&e, "c7", "what is this?", NULL);
    body = wait_body(&e, USER_FULL, 5, 3000);
    assert_string_equal(body, "got: what is this?");
    free(body);
    env_close(&e);
}

static const struct xml_node *wait_iq(struct env *e, const char *id)
{
    uint64_t end = fake_now_ms() + 3000;
    const struct xml_node *r;

    while (!(r = fake_find(e->fs, "iq", "id", id, 0)) && fake_now_ms() < end)
        fake_run_until(e->base, NULL, NULL, 10);
    if (!r)
        fail_msg("no answer to iq %s", id);
    return r;
}

/* The text of the first descendant named name (depth-first), malloc'd. */
static char *find_text(const struct xml_node *n, const char *name)
{
    for (const struct xml_node *k = xml_node_first_child(n); k;
         k = xml_node_next(k)) {
        char *t;

        if (strcmp(xml_node_name(k), name) == 0)
            return xml_node_text(k);
        if ((t = find_text(k, name)))
            return t;
    }
    return NULL;
}

/* XEP-0050: the command list, "alerts", the silence form prefilled with
 * the newest alert's labels and its submission, a stranger refused. */
static void test_adhoc_commands(void **state)
{
    struct env e;
    const struct xml_node *r, *cmd, *q;
    char *t;
    json_t *j, *mt;

    env_open(&e, 0, 0);
    start_ready(&e);
    fake_send(e.fs, "<iq type='get' id='di' from='" USER_FULL "' to='" BOT_BARE
                    "'><query xmlns='http://jabber.org/protocol/disco#info'/>"
                    "</iq>");
    r = wait_iq(&e, "di");
    {
        int found = 0;

        q = xml_node_first_child(r);
        for (const struct xml_node *f = xml_node_first_child(q); f;
             f = xml_node_next(f))
            if (xml_node_attr(f, "var") &&
                strcmp(xml_node_attr(f, "var"),
                       "http://jabber.org/protocol/commands") == 0)
                found = 1;
        assert_true(found);
    }
    fake_send(e.fs, "<iq type='get' id='li' from='" USER_FULL "' to='" BOT_BARE
                    "'><query xmlns='http://jabber.org/protocol/disco#items' "
                    "node='http://jabber.org/protocol/commands'/></iq>");
    r = wait_iq(&e, "li");
    assert_string_equal(xml_node_attr(r, "type"), "result");
    q = xml_node_first_child(r);
    assert_string_equal(xml_node_attr(xml_node_first_child(q), "node"),
                        "alerts");
    assert_string_equal(
        xml_node_attr(xml_node_next(xml_node_first_child(q)), "node"),
        "silence");

    fake_send(e.fs, "<iq type='set' id='al' from='" USER_FULL "' to='" BOT_BARE
                    "'><command xmlns='http://jabber.org/protocol/commands' "
                    "node='alerts' action='execute'/></iq>");
    r = wait_iq(&e, "al");
    cmd = xml_node_child(r, "command", "http://jabber.org/protocol/commands");
    assert_non_null(cmd);
    assert_string_equal(xml_node_attr(cmd, "status"), "completed");
    t = find_text(cmd, "note");
    assert_string_equal(t, "2 alerts firing:\n• DiskFull on db1: disk 97%\n"
                           "• Load");
    free(t);

    send_alert(&e, "bbbbbbbb-2222-3333-4444-555555555555",
               "{\"alertname\":\"DiskFull\",\"instance\":\"db1\"}");
    fake_send(e.fs, "<iq type='set' id='s1' from='" USER_FULL "' to='" BOT_BARE
                    "'><command xmlns='http://jabber.org/protocol/commands' "
                    "node='silence' action='execute'/></iq>");
    r = wait_iq(&e, "s1");
    cmd = xml_node_child(r, "command", "http://jabber.org/protocol/commands");
    assert_string_equal(xml_node_attr(cmd, "status"), "executing");
    t = xml_node_serialize(r, NULL);
    assert_non_null(strstr(t, "<value>alertname=DiskFull</value>"
                              "<value>instance=db1</value>"));
    free(t);
    assert_int_equal(e.rx.silences, 0);

    fake_send(e.fs,
              "<iq type='set' id='s2' from='" USER_FULL "' to='" BOT_BARE
              "'><command xmlns='http://jabber.org/protocol/commands' "
              "node='silence' sessionid='x1'><x xmlns='jabber:x:data' "
              "type='submit'><field var='duration'><value>1h</value></field>"
              "<field var='matchers'><value>alertname=DiskFull</value>"
              "<value>instance=~db.*</value></field></x></command></iq>");
    r = wait_iq(&e, "s2");
    cmd = xml_node_child(r, "command", "http://jabber.org/protocol/commands");
    assert_string_equal(xml_node_attr(cmd, "status"), "completed");
    assert_string_equal(xml_node_attr(cmd, "sessionid"), "x1");
    t = find_text(cmd, "note");
    assert_string_equal(t, "Silenced for 1h (silence sil-42): "
                           "alertname=DiskFull, instance=~db.*");
    free(t);
    assert_int_equal(e.rx.silences, 1);
    j = json_loads(e.rx.silence, 0, NULL);
    mt = json_object_get(j, "matchers");
    assert_int_equal(json_array_size(mt), 2);
    assert_true(
        json_is_true(json_object_get(json_array_get(mt, 1), "isRegex")));
    assert_string_equal(jstr(j, "createdBy"), USER);
    json_decref(j);

    fake_send(e.fs, "<iq type='set' id='s3' from='mallory@evil.example/x' "
                    "to='" BOT_BARE "'><command "
                    "xmlns='http://jabber.org/protocol/commands' "
                    "node='alerts'/></iq>");
    r = wait_iq(&e, "s3");
    assert_string_equal(xml_node_attr(r, "type"), "error");
    assert_non_null(xml_node_child(xml_node_child(r, "error", NULL),
                                   "forbidden",
                                   "urn:ietf:params:xml:ns:xmpp-stanzas"));
    assert_int_equal(e.rx.alert_gets, 1);
    env_close(&e);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_and_answer),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_room_mention),
        cmocka_unit_test(test_room_commands),
        cmocka_unit_test(test_room_reply_by_stanza_id),
        cmocka_unit_test(test_alertmanager_commands),
        cmocka_unit_test(test_adhoc_commands),
    };

    xlog_set_level(XLOG_WARN);
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
