/* SPDX-License-Identifier: MIT */
/* test_http.c -- the webhook frontend in-process: evhttp on 127.0.0.1 port
 * 0, a fake backend, requests made with libevent's HTTP client. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "conf/conf.h"
#include "http/http.h"
#include "xml/err.h"
#include "xml/log.h"
#include "xml/msg.h"

#define TOK_ALERTS "tok-alerts-0123456789abcdef"
#define TOK_CI "tok-ci-fedcba9876543210"

static const char conf_text[] = "[component]\n"
                                "domain = notify.example.org\n"
                                "server = 127.0.0.1\n"
                                "secret = s3cret-s3cret\n"
                                "\n"
                                "[http]\n"
                                "listen = 127.0.0.1:0\n"
                                "max_body = 4k\n"
                                "\n"
                                "[hook alerts]\n"
                                "token = " TOK_ALERTS "\n"
                                "from = alertbot\n"
                                "nick = Alert Bot\n"
                                "to = alice@example.org\n"
                                "room = ops@conference.example.org\n"
                                "type = normal\n"
                                "\n"
                                "[hook ci]\n"
                                "token = " TOK_CI "\n"
                                "to = bob@example.org\n"
                                "allow_to = *@example.org\n"
                                "allow_to = builds@conference.example.org\n";

/* ---- the fake backend -------------------------------------------------- */

struct fake {
    int submit_rc;    /* what submit answers */
    int n_submit;     /* calls */
    struct msg *last; /* the last accepted message */
    struct http_status st;
    struct event_base *base; /* for the asynchronous answers */
    int async_rc;            /* what the later done() says */
    int n_async;             /* answers deferred */
};

static int fake_submit(void *ud, struct msg *m)
{
    struct fake *fk = ud;

    fk->n_submit++;
    if (fk->submit_rc != 0) {
        msg_free(m);
        return fk->submit_rc;
    }
    msg_free(fk->last);
    fk->last = m;
    return 0;
}

/* The asynchronous contract: done(req, async_rc) from the loop later. */
struct fake_wait {
    void (*done)(void *req, int rc);
    void *req;
    int rc;
};

static void fake_answer(evutil_socket_t fd, short what, void *arg)
{
    struct fake_wait *w = arg;

    w->done(w->req, w->rc);
    free(w);
}

static int fake_submit_async(void *ud,
                             struct msg *m,
                             void (*done)(void *req, int rc),
                             void *req)
{
    struct fake *fk = ud;
    struct fake_wait *w;
    struct timeval now = {0, 0};
    int rc = fake_submit(ud, m);

    if (rc != 0)
        return rc;
    assert_non_null(w = calloc(1, sizeof(*w)));
    w->done = done;
    w->req = req;
    w->rc = fk->async_rc;
    fk->n_async++;
    assert_int_equal(
        event_base_once(fk->base, -1, EV_TIMEOUT, fake_answer, w, &now), 0);
    return 0;
}

static const char *fake_refusal(void *ud)
{
    (void)ud;
    return "spool write failed: disk full";
}

static void fake_status(void *ud, struct http_status *st)
{
    *st = ((struct fake *)ud)->st;
}

/* ---- fixture ----------------------------------------------------------- */

struct fx {
    struct event_base *base;
    struct conf *cfg;
    struct http *http;
    struct fake fake;
    struct http_backend backend;
    const char *host; /* where requests go */
    unsigned short port;
};

static int fx_open(void **state, const char *text)
{
    struct fx *fx = calloc(1, sizeof(*fx));
    struct conf_diag diag;

    assert_non_null(fx);
    assert_non_null(fx->base = event_base_new());
    fx->cfg = conf_load_string(text, "test.conf", &diag);
    if (!fx->cfg)
        fail_msg("%s:%d: %s", diag.file, diag.line, diag.msg);
    fx->backend.submit = fake_submit;
    fx->backend.status = fake_status;
    fx->backend.ud = &fx->fake;
    fx->fake.base = fx->base;
    fx->fake.st = (struct http_status){
        .online = 1,
        .state = "online",
        .queued = 3,
        .rooms_joined = 1,
        .rooms_total = 2,
        .spool_enabled = 1,
        .spool_ok = 1,
        .spool_depth = 7,
        .spool_oldest_age = 42,
        .spool_expired = 1,
        .bounced = 2,
        .bounce = {{"item-not-found", 1}, {"service-unavailable", 1}},
        .n_bounce = 2};
    assert_non_null(fx->http = http_new(fx->base, fx->cfg, &fx->backend));
    assert_int_equal(http_start(fx->http), 0);
    fx->port = http_port(fx->http);
    assert_true(fx->port != 0);
    fx->host = "127.0.0.1";
    *state = fx;
    return 0;
}

static int setup(void **state)
{
    return fx_open(state, conf_text);
}

static int teardown(void **state)
{
    struct fx *fx = *state;

    http_free(fx->http);
    conf_free(fx->cfg);
    msg_free(fx->fake.last);
    event_base_free(fx->base);
    free(fx);
    return 0;
}

/* ---- the client -------------------------------------------------------- */

struct resp {
    int done;
    int code; /* 0: no answer */
    char body[8192];
    size_t body_len;
    char ctype[128], www_auth[128], retry_after[32], allow[64];
    char date[64];
    int n_date; /* Date headers */
};

static void copy_header(struct evhttp_request *req,
                        const char *name,
                        char *out,
                        size_t size)
{
    const char *v =
        evhttp_find_header(evhttp_request_get_input_headers(req), name);

    snprintf(out, size, "%s", v ? v : "");
}

static void on_response(struct evhttp_request *req, void *arg)
{
    struct resp *r = arg;
    struct evbuffer *in;

    r->done = 1;
    if (!req)
        return;
    r->code = evhttp_request_get_response_code(req);
    in = evhttp_request_get_input_buffer(req);
    r->body_len = evbuffer_remove(in, r->body, sizeof(r->body) - 1);
    r->body[r->body_len] = '\0';
    copy_header(req, "Content-Type", r->ctype, sizeof(r->ctype));
    copy_header(req, "WWW-Authenticate", r->www_auth, sizeof(r->www_auth));
    copy_header(req, "Retry-After", r->retry_after, sizeof(r->retry_after));
    copy_header(req, "Allow", r->allow, sizeof(r->allow));
    copy_header(req, "Date", r->date, sizeof(r->date));
    {
        struct evkeyval *kv;

        TAILQ_FOREACH (kv, evhttp_request_get_input_headers(req), next)
            r->n_date += strcasecmp(kv->key, "Date") == 0;
    }
}

/* One Date header, as evhttp writes it, of now (or the second before). */
static void assert_date(const struct resp *r)
{
    char want[2][64];
    time_t now = time(NULL);

    assert_int_equal(r->n_date, 1);
    for (int i = 0; i < 2; i++) {
        time_t t = now - i;
        struct tm tm;

        gmtime_r(&t, &tm);
        strftime(want[i], sizeof(want[i]), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    }
    if (strcmp(r->date, want[0]) != 0 && strcmp(r->date, want[1]) != 0)
        fail_msg("Date: '%s', want '%s'", r->date, want[0]);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    ((struct resp *)arg)->done = 1;
}

/* Makes one request on a new connection and runs the loop until the answer
 * (or 10 seconds). r->code is 0 when there was none. */
static void request(struct fx *fx,
                    enum evhttp_cmd_type method,
                    const char *path,
                    const char *ctype,
                    const char *auth,
                    const char *body,
                    size_t len,
                    struct resp *r)
{
    struct timeval tv = {10, 0};
    struct evhttp_connection *conn;
    struct evhttp_request *req;
    struct evkeyvalq *hdr;
    struct event *timer;

    memset(r, 0, sizeof(*r));
    conn = evhttp_connection_base_new(fx->base, NULL, fx->host, fx->port);
    assert_non_null(conn);
    req = evhttp_request_new(on_response, r);
    assert_non_null(req);
    hdr = evhttp_request_get_output_headers(req);
    evhttp_add_header(hdr, "Host", "localhost");
    if (ctype)
        evhttp_add_header(hdr, "Content-Type", ctype);
    if (auth)
        evhttp_add_header(hdr, "Authorization", auth);
    if (body)
        evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
    timer = evtimer_new(fx->base, on_timeout, r);
    evtimer_add(timer, &tv);
    assert_int_equal(evhttp_make_request(conn, req, method, path), 0);
    while (!r->done)
        event_base_loop(fx->base, EVLOOP_ONCE);
    event_free(timer);
    evhttp_connection_free(conn);
}

#define POST(fx, path, ctype, auth, lit, r)                                    \
    request((fx), EVHTTP_REQ_POST, (path), (ctype), (auth), (lit),             \
            sizeof(lit) - 1, (r))

/* Asserts a JSON error answer {"ok":false,"error":error}. */
static void assert_error(const struct resp *r, int code, const char *error)
{
    json_t *j;

    assert_int_equal(r->code, code);
    assert_string_equal(r->ctype, "application/json");
    assert_date(r);
    assert_non_null(j = json_loads(r->body, 0, NULL));
    assert_true(json_is_false(json_object_get(j, "ok")));
    assert_string_equal(json_string_value(json_object_get(j, "error")), error);
    json_decref(j);
}

/* Asserts 202 {"ok":true,"id":UUIDv4} for the last submitted message. */
static void assert_accepted(const struct fx *fx, const struct resp *r)
{
    const char *id;
    json_t *j;

    assert_int_equal(r->code, 202);
    assert_string_equal(r->ctype, "application/json");
    assert_date(r);
    assert_non_null(j = json_loads(r->body, 0, NULL));
    assert_true(json_is_true(json_object_get(j, "ok")));
    assert_non_null(id = json_string_value(json_object_get(j, "id")));
    assert_int_equal(strlen(id), MSG_ID_LEN);
    for (int i = 0; i < MSG_ID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(id[i], '-');
        else
            assert_non_null(strchr("0123456789abcdef", id[i]));
    }
    assert_int_equal(id[14], '4');           /* version */
    assert_non_null(strchr("89ab", id[19])); /* variant */
    assert_non_null(fx->fake.last);
    assert_string_equal(fx->fake.last->id, id);
    json_decref(j);
}

/* ---- 202 --------------------------------------------------------------- */

static void test_text_202(void **state)
{
    struct fx *fx = *state;
    struct resp r;
    const struct msg *m;

    POST(fx, "/hook/" TOK_ALERTS, "text/plain; charset=utf-8", NULL,
         "disk full \xF0\x9F\x94\xA5 on db1\n", &r);
    assert_accepted(fx, &r);
    assert_int_equal(fx->fake.n_submit, 1);
    m = fx->fake.last;
    assert_string_equal(m->hook, "alerts");
    assert_string_equal(m->from, "alertbot");
    assert_string_equal(m->nick, "Alert Bot");
    assert_int_equal(m->type, MSG_NORMAL);
    assert_int_equal(m->n_to, 1);
    assert_string_equal(m->to[0], "alice@example.org");
    assert_int_equal(m->n_rooms, 1);
    assert_string_equal(m->rooms[0], "ops@conference.example.org");
    assert_null(m->subject);
    assert_string_equal(m->body, "disk full \xF0\x9F\x94\xA5 on db1");

    /* Two requests get two ids. */
    {
        char first[MSG_ID_LEN + 1];

        memcpy(first, m->id, sizeof(first));
        POST(fx, "/hook/" TOK_ALERTS, NULL, NULL, "no content type", &r);
        assert_accepted(fx, &r);
        assert_string_equal(fx->fake.last->body, "no content type");
        assert_string_not_equal(fx->fake.last->id, first);
    }
}

static void test_form_bearer_202(void **state)
{
    struct fx *fx = *state;
    struct resp r;
    const struct msg *m;

    POST(fx, "/hook?to=dave%40example.org", "application/x-www-form-urlencoded",
         "Bearer " TOK_CI,
         "message=build+%2342+ok+%F0%9F%8E%89&to=carol%40example.org"
         "&title=CI+%E2%9C%93",
         &r);
    assert_accepted(fx, &r);
    m = fx->fake.last;
    assert_string_equal(m->hook, "ci");
    assert_string_equal(m->from, "ci"); /* the hook's name by default */
    assert_int_equal(m->type, MSG_CHAT);
    assert_int_equal(m->n_to, 2);
    assert_string_equal(m->to[0], "carol@example.org");
    assert_string_equal(m->to[1], "dave@example.org");
    assert_int_equal(m->n_rooms, 0); /* chosen: no defaults added */
    assert_string_equal(m->subject, "CI \xE2\x9C\x93");
    assert_string_equal(m->body, "build #42 ok \xF0\x9F\x8E\x89");

    /* The scheme name is case-insensitive. */
    POST(fx, "/hook", "text/plain", "bearer   " TOK_CI "  ", "x", &r);
    assert_accepted(fx, &r);
    assert_string_equal(fx->fake.last->to[0], "bob@example.org");
}

static void test_json_202(void **state)
{
    struct fx *fx = *state;
    struct resp r;
    const struct msg *m;

    POST(fx, "/hook/" TOK_CI, "Application/JSON; charset=utf-8", NULL,
         "{\"title\":\"Backup\",\"text\":\"nightly \\u2713 \xF0\x9F\x8E\x89\","
         "\"to\":[\"Bob@Example.org\"],"
         "\"room\":\"builds@conference.example.org\"}",
         &r);
    assert_accepted(fx, &r);
    m = fx->fake.last;
    assert_int_equal(m->n_to, 1);
    assert_string_equal(m->to[0], "bob@example.org");
    assert_int_equal(m->n_rooms, 1);
    assert_string_equal(m->rooms[0], "builds@conference.example.org");
    assert_string_equal(m->subject, "Backup");
    assert_string_equal(m->body, "nightly \xE2\x9C\x93 \xF0\x9F\x8E\x89");
}

static void test_multipart_202(void **state)
{
    struct fx *fx = *state;
    struct resp r;
    const struct msg *m;

    POST(fx, "/hook/" TOK_ALERTS,
         "multipart/form-data; boundary=\"----xmta boundary\"", NULL,
         "------xmta boundary\r\n"
         "Content-Disposition: form-data; name=\"body\"\r\n"
         "\r\n"
         "two\r\nlines \xC3\xA9\r\n"
         "------xmta boundary\r\n"
         "Content-Disposition: form-data; name=\"subject\"\r\n"
         "\r\n"
         "Sub\x01ject\r\n"
         "------xmta boundary--\r\n",
         &r);
    assert_accepted(fx, &r);
    m = fx->fake.last;
    assert_string_equal(m->body, "two\r\nlines \xC3\xA9");
    assert_string_equal(m->subject, "Subject"); /* U+0001 removed */
    assert_int_equal(m->n_to, 1);               /* the hook's defaults */
    assert_int_equal(m->n_rooms, 1);
}

/* ---- errors ------------------------------------------------------------ */

static void test_401(void **state)
{
    struct fx *fx = *state;
    struct resp r;

    POST(fx, "/hook", "text/plain", NULL, "x", &r);
    assert_error(&r, 401, "missing token");
    assert_string_equal(r.www_auth, "Bearer realm=\"xmta\"");
    POST(fx, "/hook/", "text/plain", NULL, "x", &r);
    assert_error(&r, 401, "missing token");
    POST(fx, "/hook", "text/plain", "Basic dXNlcjpwYXNz", "x", &r);
    assert_error(&r, 401, "missing token");
    POST(fx, "/hook", "text/plain", "Bearer", "x", &r);
    assert_error(&r, 401, "missing token");
    POST(fx, "/hook/tok-nope", "text/plain", NULL, "x", &r);
    assert_error(&r, 401, "unknown token");
    assert_string_equal(r.www_auth, "Bearer realm=\"xmta\"");
    POST(fx, "/hook", "text/plain", "Bearer " TOK_CI "x", "x", &r);
    assert_error(&r, 401, "unknown token");
    /* A token prefix is not the token. */
    POST(fx, "/hook/tok-ci", "text/plain", NULL, "x", &r);
    assert_error(&r, 401, "unknown token");
    POST(fx, "/hook/tok%00", "text/plain", NULL, "x", &r);
    assert_error(&r, 401, "unknown token");
    assert_int_equal(fx->fake.n_submit, 0);
    /* Percent-encoding in the path is decoded. */
    POST(fx, "/hook/tok-ci-fedcba98765432%31%30", "text/plain", NULL, "x", &r);
    assert_accepted(fx, &r);
}

static void test_403(void **state)
{
    struct fx *fx = *state;
    struct resp r;

    POST(fx, "/hook/" TOK_CI "?to=mallory%40evil.example", "text/plain", NULL,
         "x", &r);
    assert_error(&r, 403, "recipient not allowed: mallory@evil.example");
    POST(fx, "/hook/" TOK_CI, "application/json", NULL,
         "{\"body\":\"x\",\"to\":\"a@example.org\","
         "\"room\":\"ops@conference.example.org\"}",
         &r);
    assert_error(&r, 403, "recipient not allowed: ops@conference.example.org");
    /* No allow_to: the caller may not choose, even the default. */
    POST(fx, "/hook/" TOK_ALERTS "?to=alice@example.org", "text/plain", NULL,
         "x", &r);
    assert_error(&r, 403, "recipient not allowed: alice@example.org");
    assert_int_equal(fx->fake.n_submit, 0);
}

static void test_400(void **state)
{
    struct fx *fx = *state;
    struct resp r;
    json_t *j;

    POST(fx, "/hook/" TOK_ALERTS, "text/plain", NULL, " \r\n", &r);
    assert_error(&r, 400, "no message text");
    POST(fx, "/hook/" TOK_ALERTS, "text/plain", NULL, "bad \xff byte", &r);
    assert_error(&r, 400, "invalid UTF-8");
    POST(fx, "/hook/" TOK_CI, "text/plain", NULL, "x", &r); /* fine */
    assert_accepted(fx, &r);
    POST(fx, "/hook/" TOK_CI "?to=%40example.org", "text/plain", NULL, "x", &r);
    assert_int_equal(r.code, 400);
    assert_non_null(strstr(r.body, "\"invalid JID in 'to': "));
    POST(fx, "/hook/" TOK_CI, "application/json", NULL, "[\"x\"]", &r);
    assert_error(&r, 400, "JSON body must be an object");
    POST(fx, "/hook/" TOK_CI, "application/json", NULL, "{\"body\": x}", &r);
    assert_int_equal(r.code, 400);
    assert_non_null(j = json_loads(r.body, 0, NULL));
    assert_true(strncmp(json_string_value(json_object_get(j, "error")),
                        "invalid JSON: ", 14) == 0);
    assert_non_null(strstr(json_string_value(json_object_get(j, "error")),
                           "line 1, column"));
    json_decref(j);
    POST(fx, "/hook/" TOK_CI, "multipart/form-data; boundary=B", NULL,
         "--B\r\nContent-Disposition: form-data; name=\"body\"\r\n\r\nx\r\n",
         &r);
    assert_error(&r, 400, "malformed multipart: missing final boundary");
    assert_int_equal(fx->fake.n_submit, 1);
}

static void test_404_405(void **state)
{
    struct fx *fx = *state;
    struct resp r;

    request(fx, EVHTTP_REQ_GET, "/nope", NULL, NULL, NULL, 0, &r);
    assert_error(&r, 404, "not found");
    POST(fx, "/hooks/" TOK_CI, "text/plain", NULL, "x", &r);
    assert_error(&r, 404, "not found");
    request(fx, EVHTTP_REQ_GET, "/hook/" TOK_CI, NULL, NULL, NULL, 0, &r);
    assert_error(&r, 405, "method not allowed");
    assert_string_equal(r.allow, "POST");
    request(fx, EVHTTP_REQ_PUT, "/hook", "text/plain", NULL, "x", 1, &r);
    assert_error(&r, 405, "method not allowed");
    assert_string_equal(r.allow, "POST");
    request(fx, EVHTTP_REQ_PATCH, "/hook/x", NULL, NULL, NULL, 0, &r);
    assert_error(&r, 405, "method not allowed");
    request(fx, EVHTTP_REQ_OPTIONS, "/hook", NULL, NULL, NULL, 0, &r);
    assert_error(&r, 405, "method not allowed");
    request(fx, EVHTTP_REQ_DELETE, "/health", NULL, NULL, NULL, 0, &r);
    assert_error(&r, 405, "method not allowed");
    assert_string_equal(r.allow, "GET, HEAD");
    POST(fx, "/health", "text/plain", NULL, "x", &r);
    assert_error(&r, 405, "method not allowed");
    assert_int_equal(fx->fake.n_submit, 0);
}

static void test_413(void **state)
{
    struct fx *fx = *state;
    size_t big = 200 * 1024;
    char *buf = malloc(big);
    struct resp r;

    assert_non_null(buf);
    memset(buf, 'a', big);
    /* Exactly max_body (4k) is fine. */
    request(fx, EVHTTP_REQ_POST, "/hook/" TOK_ALERTS, "text/plain", NULL, buf,
            4096, &r);
    assert_accepted(fx, &r);
    /* ... and its text is cut at max_message (4000 characters), in a
     * character boundary, with a mark that says so. */
    assert_true(strlen(fx->fake.last->body) < 4096);
    assert_true(strlen(fx->fake.last->body) > 3900);
    assert_non_null(strstr(fx->fake.last->body, "\xE2\x80\xA6"));
    assert_true(strspn(fx->fake.last->body, "a") >= 3900);
    /* One byte more, and much more: evhttp answers 413 (its own page). */
    request(fx, EVHTTP_REQ_POST, "/hook/" TOK_ALERTS, "text/plain", NULL, buf,
            4097, &r);
    assert_int_equal(r.code, 413);
    request(fx, EVHTTP_REQ_POST, "/hook/" TOK_ALERTS, "text/plain", NULL, buf,
            big, &r);
    assert_int_equal(r.code, 413);
    assert_int_equal(fx->fake.n_submit, 1);
    /* The server still works. */
    POST(fx, "/hook/" TOK_ALERTS, "text/plain", NULL, "after", &r);
    assert_accepted(fx, &r);
    free(buf);
}

static void test_415(void **state)
{
    struct fx *fx = *state;
    struct resp r;

    POST(fx, "/hook/" TOK_ALERTS, "image/png", NULL, "\x89PNG", &r);
    assert_error(&r, 415, "unsupported content type: image/png");
    POST(fx, "/hook/" TOK_ALERTS, "text/html", NULL, "<b>x</b>", &r);
    assert_int_equal(r.code, 415);
    /* Authentication comes first. */
    POST(fx, "/hook/nope", "image/png", NULL, "x", &r);
    assert_int_equal(r.code, 401);
    assert_int_equal(fx->fake.n_submit, 0);
}

static void test_503_and_rejected(void **state)
{
    struct fx *fx = *state;
    struct resp r;

    fx->fake.submit_rc = XMTA_E_FULL;
    POST(fx, "/hook/" TOK_ALERTS, "text/plain", NULL, "x", &r);
    assert_error(&r, 503, "outbox full");
    assert_string_equal(r.retry_after, "30");
    assert_int_equal(fx->fake.n_submit, 1);
    fx->fake.submit_rc = XMTA_E_INVAL;
    POST(fx, "/hook/" TOK_ALERTS, "text/plain", NULL, "x", &r);
    assert_error(&r, 400, "message rejected");
    assert_int_equal(fx->fake.n_submit, 2);
    assert_null(fx->fake.last);
}

/* With submit_async the answer waits for done(): 202 when the backend
 * stored the message, 503 with Retry-After when it could not. */
static void test_async_submit(void **state)
{
    struct fx *fx = *state;
    struct resp r;

    fx->backend.submit_async = fake_submit_async;
    POST(fx, "/hook/" TOK_ALERTS, "text/plain", NULL, "x", &r);
    assert_int_equal(r.code, 202);
    assert_int_equal(fx->fake.n_async, 1);
    assert_non_null(fx->fake.last);
    assert_non_null(strstr(r.body, fx->fake.last->id));
    fx->fake.async_rc = XMTA_E_IO;
    POST(fx, "/hook/" TOK_ALERTS, "text/plain", NULL, "x", &r);
    assert_error(&r, 503, "spool unavailable");
    assert_string_equal(r.retry_after, "30");
    fx->fake.async_rc = XMTA_E_FULL;
    POST(fx, "/hook/" TOK_ALERTS, "text/plain", NULL, "x", &r);
    assert_error(&r, 503, "outbox full");
    assert_int_equal(fx->fake.n_async, 3);
    /* Refused at once: no done() follows. */
    fx->fake.submit_rc = XMTA_E_IO;
    POST(fx, "/hook/" TOK_ALERTS, "text/plain", NULL, "x", &r);
    assert_error(&r, 503, "spool unavailable");
    assert_int_equal(fx->fake.n_async, 3);
    /* The backend says why: its reason is the answer's error. */
    fx->backend.refusal = fake_refusal;
    fx->fake.async_rc = XMTA_E_FULL;
    fx->fake.submit_rc = 0;
    POST(fx, "/hook/" TOK_ALERTS, "text/plain", NULL, "x", &r);
    assert_error(&r, 503, "spool write failed: disk full");
    fx->fake.submit_rc = XMTA_E_IO;
    POST(fx, "/hook/" TOK_ALERTS, "text/plain", NULL, "x", &r);
    assert_error(&r, 503, "spool write failed: disk full");
    assert_string_equal(r.retry_after, "30");
    fx->backend.refusal = NULL;
    fx->backend.submit_async = NULL;
}

static void test_health(void **state)
{
    struct fx *fx = *state;
    struct resp r;

    request(fx, EVHTTP_REQ_GET, "/health", NULL, NULL, NULL, 0, &r);
    assert_int_equal(r.code, 200);
    assert_string_equal(r.ctype, "application/json");
    assert_string_equal(r.body,
                        "{\"component\":\"online\",\"queued\":3,"
                        "\"rooms\":{\"joined\":1,\"total\":2,\"list\":[]},"
                        "\"spool\":{\"enabled\":true,\"ok\":true,"
                        "\"depth\":7,\"oldest_age\":42,\"expired\":1},"
                        "\"bounced\":2,\"bounced_by\":{\"item-not-found\":1,"
                        "\"service-unavailable\":1}}\n");
    request(fx, EVHTTP_REQ_HEAD, "/health", NULL, NULL, NULL, 0, &r);
    assert_int_equal(r.code, 200);
    assert_int_equal(r.body_len, 0);

    fx->fake.st = (struct http_status){.online = 0,
                                       .state = "connecting",
                                       .queued = 12,
                                       .rooms_joined = 0,
                                       .rooms_total = 2};
    request(fx, EVHTTP_REQ_GET, "/health", NULL, NULL, NULL, 0, &r);
    assert_int_equal(r.code, 503);
    assert_string_equal(r.body,
                        "{\"component\":\"connecting\",\"queued\":12,"
                        "\"rooms\":{\"joined\":0,\"total\":2,\"list\":[]},"
                        "\"spool\":{\"enabled\":false,\"ok\":false,"
                        "\"depth\":0,\"oldest_age\":0,\"expired\":0},"
                        "\"bounced\":0,\"bounced_by\":{}}\n");
    request(fx, EVHTTP_REQ_HEAD, "/health", NULL, NULL, NULL, 0, &r);
    assert_int_equal(r.code, 503);
    assert_int_equal(r.body_len, 0);
}

static void test_stop(void **state)
{
    struct fx *fx = *state;
    struct resp r;

    request(fx, EVHTTP_REQ_GET, "/health", NULL, NULL, NULL, 0, &r);
    assert_int_equal(r.code, 200);
    http_stop(fx->http);
    request(fx, EVHTTP_REQ_GET, "/health", NULL, NULL, NULL, 0, &r);
    assert_int_equal(r.done, 1);
    assert_int_equal(r.code, 0); /* connection refused */
    http_stop(fx->http);         /* twice is harmless */
}

/* Every line logged while fn runs, via a temporary stderr. */
static char *capture_log(struct fx *fx, void (*fn)(struct fx *))
{
    FILE *tmp = tmpfile();
    int saved = dup(STDERR_FILENO);
    char *text;
    long n;

    assert_non_null(tmp);
    assert_true(saved >= 0);
    fflush(stderr);
    assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
    fn(fx);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    n = ftell(tmp);
    assert_true(n >= 0);
    rewind(tmp);
    text = calloc(1, (size_t)n + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)n, tmp), (size_t)n);
    fclose(tmp);
    return text;
}

static char log_id[MSG_ID_LEN + 1];

static void log_requests(struct fx *fx)
{
    struct resp r;

    POST(fx, "/hook/" TOK_ALERTS, "text/plain", NULL, "SECRET-BODY-TEXT", &r);
    assert_int_equal(r.code, 202);
    memcpy(log_id, fx->fake.last->id, sizeof(log_id));
    POST(fx, "/hook", "text/plain", "Bearer " TOK_CI "-wrong", "x", &r);
    assert_int_equal(r.code, 401);
    POST(fx, "/hook/" TOK_CI, "application/json", NULL,
         "{\"body\": SECRET-JSON}", &r);
    assert_int_equal(r.code, 400);
}

static void test_log_lines(void **state)
{
    struct fx *fx = *state;
    enum xlog_level saved = xlog_threshold;
    char want[128];
    char *log;

    xlog_set_level(XLOG_DEBUG); /* even debug leaks no token or text */
    log = capture_log(fx, log_requests);
    xlog_set_level(saved);
    snprintf(want, sizeof(want),
             "http hook=alerts status=202 id=%s peer=127.0.0.1:", log_id);
    assert_non_null(strstr(log, want));
    assert_non_null(strstr(log, "http status=401 reason=unknown token "
                                "peer=127.0.0.1:"));
    assert_non_null(strstr(log, "http hook=ci status=400 reason=malformed "
                                "body"));
    assert_null(strstr(log, "tok-"));
    assert_null(strstr(log, "SECRET"));
    free(log);
}

/* ---- IPv6 and several listeners ---------------------------------------- */

static int have_ipv6_loopback(void)
{
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6,
                              .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int fd = socket(AF_INET6, SOCK_STREAM, 0), ok;

    if (fd < 0)
        return 0;
    ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

static void test_ipv6_and_two_listeners(void **state)
{
    static const char text[] = "[component]\n"
                               "domain = notify.example.org\n"
                               "server = 127.0.0.1\n"
                               "secret = s3cret-s3cret\n"
                               "[http]\n"
                               "listen = [::1]:0\n"
                               "listen = 127.0.0.1:0\n"
                               "[hook alerts]\n"
                               "token = " TOK_ALERTS "\n"
                               "to = alice@example.org\n";
    struct fx *fx;
    struct resp r;
    void *st = NULL;

    if (!have_ipv6_loopback())
        skip();
    fx_open(&st, text);
    fx = st;
    fx->host = "::1";
    POST(fx, "/hook/" TOK_ALERTS, NULL, NULL, "over IPv6", &r);
    assert_accepted(fx, &r);
    assert_string_equal(fx->fake.last->body, "over IPv6");
    assert_string_equal(fx->fake.last->nick, "alerts");
    teardown(&st);
}

/* What handle_hook() learns from the body besides its text, from the one
 * tree the decoder parsed: the alert lifecycle (group, firing or resolved,
 * alerts firing) for every hook, the labels "ack" silences only with
 * alertmanager_url, the file to attach only with attach_hosts. A form
 * field holding such JSON (Slack's payload=) is not the body: nothing. */
static void test_alert_extras(void **state)
{
    static const char text[] = "[component]\n"
                               "domain = notify.example.org\n"
                               "server = 127.0.0.1\n"
                               "secret = s3cret-s3cret\n"
                               "[http]\n"
                               "listen = 127.0.0.1:0\n"
                               "[hook am]\n"
                               "token = " TOK_ALERTS "\n"
                               "to = alice@example.org\n"
                               "alertmanager_url = http://127.0.0.1:9093\n"
                               "attach_hosts = img.example.org\n"
                               "[hook ci]\n"
                               "token = " TOK_CI "\n"
                               "to = bob@example.org\n";
#define AM_BODY                                                                \
    "{\"version\":\"4\",\"groupKey\":\"{}:{alertname=\\\"Disk\\\"}\","         \
    "\"status\":\"firing\",\"truncatedAlerts\":2,\"receiver\":\"xmpp\","       \
    "\"imageURL\":\"https://img.example.org/a.png\","                          \
    "\"groupLabels\":{\"alertname\":\"Disk\"},"                                \
    "\"commonLabels\":{\"alertname\":\"Disk\",\"env\":\"prod\"},"              \
    "\"alerts\":[{\"status\":\"firing\",\"labels\":{\"alertname\":\"Disk\","   \
    "\"env\":\"prod\",\"host\":\"db1\"},\"annotations\":{}},"                  \
    "{\"status\":\"resolved\",\"labels\":{\"alertname\":\"Disk\","             \
    "\"env\":\"prod\",\"host\":\"db2\"},\"annotations\":{}}]}"
    static const char form[] = "payload=%7B%22text%22%3A%22hi%22%2C"
                               "%22groupKey%22%3A%22g%22%2C%22status%22%3A"
                               "%22firing%22%2C%22alerts%22%3A%5B%5D%2C"
                               "%22imageURL%22%3A%22https%3A%2F%2F"
                               "img.example.org%2Fa.png%22%7D";
    struct fx *fx;
    struct resp r;
    const struct msg *m;
    void *st = NULL;

    (void)state;
    fx_open(&st, text);
    fx = st;
    POST(fx, "/hook/" TOK_ALERTS, "application/json", NULL, AM_BODY, &r);
    assert_accepted(fx, &r);
    m = fx->fake.last;
    assert_non_null(strstr(m->body, "FIRING"));
    assert_non_null(m->group);
    assert_string_equal(m->group, "{}:{alertname=\"Disk\"}");
    assert_int_equal(m->alert, MSG_ALERT_FIRING);
    assert_int_equal(m->firing, 3); /* one listed firing, two truncated */
    assert_non_null(m->labels);
    assert_string_equal(m->labels, "{\"alertname\":\"Disk\",\"env\":\"prod\"}");
    assert_non_null(m->attach);
    assert_string_equal(m->attach, "https://img.example.org/a.png");

    /* The same body sent as text (curl -d): the same tree. */
    POST(fx, "/hook/" TOK_ALERTS, "text/plain", NULL, " \r\n" AM_BODY, &r);
    assert_accepted(fx, &r);
    m = fx->fake.last;
    assert_non_null(m->group);
    assert_int_equal(m->firing, 3);
    assert_non_null(m->labels);
    assert_non_null(m->attach);

    /* A hook without alertmanager_url and attach_hosts: the lifecycle
     * only. */
    POST(fx, "/hook/" TOK_CI, "application/json", NULL, AM_BODY, &r);
    assert_accepted(fx, &r);
    m = fx->fake.last;
    assert_non_null(m->group);
    assert_string_equal(m->group, "{}:{alertname=\"Disk\"}");
    assert_int_equal(m->alert, MSG_ALERT_FIRING);
    assert_null(m->labels);
    assert_null(m->attach);

    /* Slack's payload= field: not the body. */
    POST(fx, "/hook/" TOK_ALERTS, "application/x-www-form-urlencoded", NULL,
         form, &r);
    assert_int_equal(r.code, 200);
    m = fx->fake.last;
    assert_string_equal(m->body, "hi");
    assert_null(m->group);
    assert_int_equal(m->alert, MSG_ALERT_NONE);
    assert_null(m->labels);
    assert_null(m->attach);

    /* Plain text: nothing. */
    POST(fx, "/hook/" TOK_ALERTS, "text/plain", NULL, "groupKey", &r);
    assert_accepted(fx, &r);
    m = fx->fake.last;
    assert_null(m->group);
    assert_null(m->labels);
    assert_null(m->attach);
    teardown(&st);
#undef AM_BODY
}

static void test_bind_failure(void **state)
{
    struct fx *fx = *state;
    struct conf_diag diag;
    char text[sizeof(conf_text) + 64];
    struct conf *cfg;
    struct http *h;

    /* The port fx already holds: the second bind fails (logged). */
    snprintf(text, sizeof(text),
             "[component]\ndomain = n.example.org\nserver = 127.0.0.1\n"
             "secret = x\n[http]\nlisten = 127.0.0.1:%u\n"
             "[hook a]\ntoken = t-0123456789abcdef\nto = a@example.org\n",
             (unsigned)fx->port);
    cfg = conf_load_string(text, "bind.conf", &diag);
    if (!cfg)
        fail_msg("%s:%d: %s", diag.file, diag.line, diag.msg);
    assert_non_null(h = http_new(fx->base, cfg, &fx->backend));
    assert_int_equal(http_start(h), XMTA_E_IO);
    http_free(h);
    conf_free(cfg);
    http_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_text_202, setup, teardown),
        cmocka_unit_test_setup_teardown(test_form_bearer_202, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_202, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multipart_202, setup, teardown),
        cmocka_unit_test_setup_teardown(test_401, setup, teardown),
        cmocka_unit_test_setup_teardown(test_403, setup, teardown),
        cmocka_unit_test_setup_teardown(test_400, setup, teardown),
        cmocka_unit_test_setup_teardown(test_404_405, setup, teardown),
        cmocka_unit_test_setup_teardown(test_413, setup, teardown),
        cmocka_unit_test_setup_teardown(test_415, setup, teardown),
        cmocka_unit_test_setup_teardown(test_503_and_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_submit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_lines, setup, teardown),
        cmocka_unit_test(test_ipv6_and_two_listeners),
        cmocka_unit_test(test_alert_extras),
        cmocka_unit_test_setup_teardown(test_bind_failure, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
