/* SPDX-License-Identifier: MIT */
/* test_http_prod.c -- the webhook frontend's production side in-process
 * (issue 6): rate limits (429 + Retry-After), status_allow, token_sha256,
 * GET /metrics parsed exactly, slow and idle clients, max_connections. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
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

#include "conf/conf.h"
#include "http/http.h"
#include "http/internal.h"
#include "http/metrics.h"
#include "xml/err.h"
#include "xml/msg.h"

#define TOK_A "tok-alerts-0123456789abcdef"
#define TOK_B "tok-ci-fedcba9876543210"
/* token_sha256 of TOK_H: printf %s TOK_H | sha256sum */
#define TOK_H "hashed-token-0123456789"

#define COMP                                                                   \
    "[component]\n"                                                            \
    "domain = notify.example.org\n"                                            \
    "server = 127.0.0.1\n"                                                     \
    "secret = s3cret-s3cret\n"

/* ---- fixture: a fake backend and the frontend on 127.0.0.1 port 0 ----- */

struct fx {
    struct event_base *base;
    struct conf *cfg;
    struct http *http;
    struct http_backend backend;
    struct http_status st;
    int n_submit;
    unsigned short port;
};

static int fake_submit(void *ud, struct msg *m)
{
    ((struct fx *)ud)->n_submit++;
    msg_free(m);
    return 0;
}

static void fake_status(void *ud, struct http_status *st)
{
    *st = ((struct fx *)ud)->st;
}

/* The backend's own family, as main.c writes bounces by condition. */
static void fake_metrics(void *ud, struct metrics *m)
{
    metrics_family(m, "xmta_bounces_total", METRICS_COUNTER,
                   "Message errors from the server, by error condition.");
    metrics_sample(m, "xmta_bounces_total", 3, "condition", "item-not-found",
                   NULL);
    metrics_sample(m, "xmta_bounces_total", 1, "condition",
                   "a \"quoted\\\" one\n", NULL);
}

static struct fx *fx_open(const char *text)
{
    struct fx *fx = calloc(1, sizeof(*fx));
    struct conf_diag diag;

    assert_non_null(fx);
    assert_non_null(fx->base = event_base_new());
    fx->cfg = conf_load_string(text, "prod.conf", &diag);
    if (!fx->cfg)
        fail_msg("%s:%d: %s", diag.file, diag.line, diag.msg);
    assert_int_equal(http_conf_check(fx->cfg, &diag), 0);
    fx->backend.submit = fake_submit;
    fx->backend.status = fake_status;
    fx->backend.metrics = fake_metrics;
    fx->backend.ud = fx;
    fx->st = (struct http_status){.online = 1,
                                  .state = "online",
                                  .queued = 3,
                                  .rooms_joined = 1,
                                  .rooms_total = 2,
                                  .spool_enabled = 1,
                                  .spool_ok = 1,
                                  .spool_depth = 7,
                                  .spool_oldest_age = 42,
                                  .spool_expired = 1,
                                  .bounced = 4,
                                  .delivered = 11,
                                  .acknowledged = 9,
                                  .reconnects = 2,
                                  .n_room = 2};
    fx->st.room[0] = (struct http_room){"ops@conference.example.org", "alerts",
                                        "joined", ""};
    fx->st.room[1] = (struct http_room){"dev@conference.example.org", "ci",
                                        "failed", "forbidden"};
    assert_non_null(fx->http = http_new(fx->base, fx->cfg, &fx->backend));
    assert_int_equal(http_start(fx->http), 0);
    assert_true((fx->port = http_port(fx->http)) != 0);
    return fx;
}

static void fx_close(struct fx *fx)
{
    http_free(fx->http);
    conf_free(fx->cfg);
    event_base_free(fx->base);
    free(fx);
}

/* ---- the client -------------------------------------------------------- */

struct resp {
    int done;
    int code; /* 0: no answer */
    char body[65536];
    char ctype[128], retry_after[32];
};

static void on_response(struct evhttp_request *req, void *arg)
{
    struct resp *r = arg;
    struct evkeyvalq *in;
    const char *v;
    size_t n;

    r->done = 1;
    if (!req)
        return;
    r->code = evhttp_request_get_response_code(req);
    n = evbuffer_remove(evhttp_request_get_input_buffer(req), r->body,
                        sizeof(r->body) - 1);
    r->body[n] = '\0';
    in = evhttp_request_get_input_headers(req);
    v = evhttp_find_header(in, "Content-Type");
    snprintf(r->ctype, sizeof(r->ctype), "%s", v ? v : "");
    v = evhttp_find_header(in, "Retry-After");
    snprintf(r->retry_after, sizeof(r->retry_after), "%s", v ? v : "");
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    ((struct resp *)arg)->done = 1;
}

/* One request on a new connection, the loop run until its answer (or 10
 * seconds: r->code 0). */
static void request(struct fx *fx,
                    enum evhttp_cmd_type method,
                    const char *path,
                    const char *body,
                    struct resp *r)
{
    struct timeval tv = {10, 0};
    struct evhttp_connection *conn;
    struct evhttp_request *req;
    struct event *timer;

    memset(r, 0, sizeof(*r));
    assert_non_null(conn = evhttp_connection_base_new(fx->base, NULL,
                                                      "127.0.0.1", fx->port));
    assert_non_null(req = evhttp_request_new(on_response, r));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host", "x");
    if (body)
        evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
    timer = evtimer_new(fx->base, on_timeout, r);
    evtimer_add(timer, &tv);
    assert_int_equal(evhttp_make_request(conn, req, method, path), 0);
    while (!r->done)
        event_base_loop(fx->base, EVLOOP_ONCE);
    event_free(timer);
    evhttp_connection_free(conn);
}

static void post(struct fx *fx, const char *path, struct resp *r)
{
    request(fx, EVHTTP_REQ_POST, path, "hello", r);
}

static void get(struct fx *fx, const char *path, struct resp *r)
{
    request(fx, EVHTTP_REQ_GET, path, NULL, r);
}

static void assert_json_error(const struct resp *r, int code, const char *e)
{
    json_t *j;

    assert_int_equal(r->code, code);
    assert_string_equal(r->ctype, "application/json");
    assert_non_null(j = json_loads(r->body, 0, NULL));
    assert_true(json_is_false(json_object_get(j, "ok")));
    assert_string_equal(json_string_value(json_object_get(j, "error")), e);
    json_decref(j);
}

/* Runs the loop for ms milliseconds. */
static void run_for(struct fx *fx, unsigned ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    event_base_loopexit(fx->base, &tv);
    event_base_dispatch(fx->base);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A raw non-blocking client connection that sends text. */
static int raw_open(struct fx *fx, const char *text)
{
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons(fx->port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    if (text)
        assert_int_equal(send(fd, text, strlen(text), 0),
                         (ssize_t)strlen(text));
    return fd;
}

/* 1 when the server closed fd (EOF or reset), 0 when it is still open. */
static int raw_closed(int fd)
{
    char buf[4096];
    ssize_t n;

    while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
        ; /* an error page may come first */
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* ---- metrics: an exact parser of the text format ----------------------- */

#define SERIES_MAX 512

struct series {
    char name[128];
    char labels[512]; /* as written, between the braces */
    double value;
};

struct family {
    char name[128];
    char type[16];
    int has_help;
};

struct exposition {
    struct series s[SERIES_MAX];
    size_t n;
    struct family f[128];
    size_t n_f;
};

static int name_ok(const char *s, size_t n)
{
    if (n == 0 ||
        !(s[0] == '_' || s[0] == ':' || (s[0] >= 'a' && s[0] <= 'z') ||
          (s[0] >= 'A' && s[0] <= 'Z')))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!(s[i] == '_' || s[i] == ':' || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
            return 0;
    return 1;
}

static struct family *family_of(struct exposition *e, const char *sample)
{
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};

    for (size_t i = 0; i < e->n_f; i++) {
        size_t n = strlen(e->f[i].name);

        if (strcmp(e->f[i].name, sample) == 0)
            return &e->f[i];
        if (strcmp(e->f[i].type, "histogram") != 0 ||
            strncmp(sample, e->f[i].name, n) != 0)
            continue;
        for (size_t k = 0; k < 3; k++)
            if (strcmp(sample + n, suffixes[k]) == 0)
                return &e->f[i];
    }
    return NULL;
}

/* Parses text strictly (Prometheus text format 0.0.4): HELP then TYPE
 * per family, once each, before its samples; names and label names
 * valid; label values with only \\ \" \n escapes; a number as value; no
 * series twice; counters end in _total. Fails the test otherwise. */
static void expo_parse(const char *text, struct exposition *e)
{
    const char *line = text;

    memset(e, 0, sizeof(*e));
    assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
    while (*line) {
        const char *end = strchr(line, '\n'), *p = line;
        struct series *s;
        char num[64];
        size_t n;
        char *vend;

        assert_non_null(end);
        if (strncmp(line, "# HELP ", 7) == 0) {
            p = line + 7;
            n = strcspn(p, " \n");
            assert_true(name_ok(p, n));
            assert_true(e->n_f < 128);
            for (size_t i = 0; i < e->n_f; i++)
                if (strlen(e->f[i].name) == n &&
                    strncmp(e->f[i].name, p, n) == 0)
                    fail_msg("family %.*s twice", (int)n, p);
            memcpy(e->f[e->n_f].name, p, n);
            e->f[e->n_f].has_help = 1;
            e->n_f++;
            for (p += n; p < end; p++)
                if (*p == '\\')
                    assert_non_null(strchr("\\n", *++p));
        } else if (strncmp(line, "# TYPE ", 7) == 0) {
            struct family *f = e->n_f ? &e->f[e->n_f - 1] : NULL;

            p = line + 7;
            n = strcspn(p, " \n");
            assert_non_null(f); /* HELP came first */
            if (strlen(f->name) != n || strncmp(f->name, p, n) != 0)
                fail_msg("TYPE %.*s after HELP %s", (int)n, p, f->name);
            assert_int_equal(f->type[0], '\0');
            p += n + 1;
            n = (size_t)(end - p);
            assert_true(n < sizeof(f->type));
            memcpy(f->type, p, n);
            assert_true(strcmp(f->type, "counter") == 0 ||
                        strcmp(f->type, "gauge") == 0 ||
                        strcmp(f->type, "histogram") == 0);
            if (strcmp(f->type, "counter") == 0)
                assert_true(n > 0 && strlen(f->name) > 6 &&
                            strcmp(f->name + strlen(f->name) - 6, "_total") ==
                                0);
        } else {
            struct family *f;

            assert_int_not_equal(line[0], '#');
            assert_true(e->n < SERIES_MAX);
            s = &e->s[e->n];
            n = strcspn(p, "{ ");
            assert_true(name_ok(p, n) && n < sizeof(s->name));
            memcpy(s->name, p, n);
            assert_non_null(f = family_of(e, s->name));
            assert_true(f->type[0] != '\0');
            p += n;
            if (*p == '{') {
                const char *lb = ++p;

                while (*p != '}') {
                    n = strcspn(p, "=");
                    assert_true(name_ok(p, n));
                    p += n;
                    assert_int_equal(*p++, '=');
                    assert_int_equal(*p++, '"');
                    while (*p != '"') {
                        assert_true(p < end);
                        if (*p == '\\')
                            assert_non_null(strchr("\\\"n", *++p));
                        p++;
                    }
                    p++;
                    if (*p == ',')
                        p++;
                    else
                        assert_int_equal(*p, '}');
                }
                n = (size_t)(p - lb);
                assert_true(n < sizeof(s->labels));
                memcpy(s->labels, lb, n);
                p++;
            }
            assert_int_equal(*p++, ' ');
            n = (size_t)(end - p);
            assert_true(n > 0 && n < sizeof(num));
            memcpy(num, p, n);
            num[n] = '\0';
            if (strcmp(num, "+Inf") == 0)
                s->value = INFINITY;
            else {
                s->value = strtod(num, &vend);
                assert_true(*vend == '\0');
            }
            for (size_t i = 0; i < e->n; i++)
                if (strcmp(e->s[i].name, s->name) == 0 &&
                    strcmp(e->s[i].labels, s->labels) == 0)
                    fail_msg("series %s{%s} twice", s->name, s->labels);
            e->n++;
        }
        line = end + 1;
    }
    for (size_t i = 0; i < e->n_f; i++)
        assert_true(e->f[i].has_help && e->f[i].type[0]);
}

/* The value of one series; fails when it is absent. */
static double
expo_get(const struct exposition *e, const char *name, const char *labels)
{
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->s[i].name, name) == 0 &&
            strcmp(e->s[i].labels, labels ? labels : "") == 0)
            return e->s[i].value;
    fail_msg("no series %s{%s}", name, labels ? labels : "");
    return -1;
}

static const char *expo_type(const struct exposition *e, const char *name)
{
    for (size_t i = 0; i < e->n_f; i++)
        if (strcmp(e->f[i].name, name) == 0)
            return e->f[i].type;
    fail_msg("no family %s", name);
    return NULL;
}

static void metrics_get(struct fx *fx, struct exposition *e)
{
    static struct resp r;

    get(fx, "/metrics", &r);
    assert_int_equal(r.code, 200);
    assert_string_equal(r.ctype, "text/plain; version=0.0.4; charset=utf-8");
    expo_parse(r.body, e);
}

/* ---- tests -------------------------------------------------------------- */

static const char rate_conf[] = COMP "[http]\n"
                                     "listen = 127.0.0.1:0\n"
                                     "[hook alerts]\n"
                                     "token = " TOK_A "\n"
                                     "to = alice@example.org\n"
                                     "rate = 1/min\n"
                                     "burst = 2\n"
                                     "[hook ci]\n"
                                     "token = " TOK_B "\n"
                                     "to = bob@example.org\n";

/* burst = 2 requests pass, the third gets 429 with Retry-After: 60 (one
 * request a minute, the bucket just emptied) and a JSON reason; another
 * hook is not affected; a reload keeps the bucket empty. */
static void test_rate_429(void **state)
{
    struct fx *fx = fx_open(rate_conf);
    static struct resp r;
    static struct exposition e;
    struct conf *cfg2;
    struct conf_diag diag;
    json_t *j;

    post(fx, "/hook/" TOK_A, &r);
    assert_int_equal(r.code, 202);
    post(fx, "/hook/" TOK_A, &r);
    assert_int_equal(r.code, 202);
    assert_string_equal(r.retry_after, "");
    post(fx, "/hook/" TOK_A, &r);
    assert_int_equal(r.code, 429);
    assert_string_equal(r.retry_after, "60");
    assert_string_equal(r.ctype, "application/json");
    assert_non_null(j = json_loads(r.body, 0, NULL));
    assert_true(json_is_false(json_object_get(j, "ok")));
    assert_string_equal(json_string_value(json_object_get(j, "error")),
                        "rate limit exceeded: 1/60s, burst 2");
    assert_int_equal(json_integer_value(json_object_get(j, "retry_after")), 60);
    json_decref(j);
    assert_int_equal(fx->n_submit, 2); /* the 429 submitted nothing */
    for (int i = 0; i < 5; i++) {      /* no limit on ci */
        post(fx, "/hook/" TOK_B, &r);
        assert_int_equal(r.code, 202);
    }
    /* A reload does not refill the bucket. */
    assert_non_null(cfg2 = conf_load_string(rate_conf, "prod.conf", &diag));
    assert_int_equal(http_set_conf(fx->http, cfg2), 0);
    conf_free(fx->cfg);
    fx->cfg = cfg2;
    post(fx, "/hook/" TOK_A, &r);
    assert_int_equal(r.code, 429);
    assert_string_equal(r.retry_after, "60");

    metrics_get(fx, &e);
    assert_true(
        expo_get(&e, "xmta_http_rate_limited_total", "hook=\"alerts\"") == 2);
    assert_true(expo_get(&e, "xmta_http_rate_limited_total", "hook=\"ci\"") ==
                0);
    assert_true(
        expo_get(&e, "xmta_messages_accepted_total", "hook=\"alerts\"") == 2);
    assert_true(expo_get(&e, "xmta_messages_accepted_total", "hook=\"ci\"") ==
                5);
    assert_true(expo_get(&e, "xmta_http_requests_total",
                         "hook=\"alerts\",code=\"429\"") == 2);
    fx_close(fx);
}

/* The bucket alone, with a clock of our own: refill rate and cap. */
static void test_bucket(void **state)
{
    struct conf_hook hk = {.rate_n = 30, .rate_period = 60, .burst = 10};
    struct http_bucket b = {.tokens = 10, .last_us = 1000000};
    uint64_t t = 1000000;

    for (int i = 0; i < 10; i++)
        assert_int_equal(http_bucket_take(&b, &hk, t), 0);
    assert_int_equal(http_bucket_take(&b, &hk, t), 2); /* 1 per 2 s */
    assert_int_equal(http_bucket_take(&b, &hk, t + 1500000), 1);
    assert_int_equal(http_bucket_take(&b, &hk, t + 2000000), 0);
    assert_int_equal(http_bucket_take(&b, &hk, t + 2000000), 2);
    /* an hour later: full again, never above burst */
    t += 3600000000u;
    for (int i = 0; i < 10; i++)
        assert_int_equal(http_bucket_take(&b, &hk, t), 0);
    assert_true(http_bucket_take(&b, &hk, t) > 0);
    hk.rate_n = 0; /* no rate: never limited */
    assert_int_equal(http_bucket_take(&b, &hk, t), 0);
}

/* status_allow: /health and /metrics answer 403 to other addresses; the
 * hooks are not affected. */
static void test_status_allow(void **state)
{
    static const char deny[] = COMP "[http]\n"
                                    "listen = 127.0.0.1:0\n"
                                    "status_allow = 10.0.0.0/8, ::1\n"
                                    "[hook alerts]\n"
                                    "token = " TOK_A "\n"
                                    "to = alice@example.org\n";
    static const char allow[] = COMP "[http]\n"
                                     "listen = 127.0.0.1:0\n"
                                     "status_allow = ::1\n"
                                     "status_allow = 127.0.0.0/8\n"
                                     "[hook alerts]\n"
                                     "token = " TOK_A "\n"
                                     "to = alice@example.org\n";
    struct fx *fx = fx_open(deny);
    static struct resp r;
    struct conf_diag diag;
    struct conf *c;

    get(fx, "/health", &r);
    assert_json_error(&r, 403, "forbidden");
    get(fx, "/metrics", &r);
    assert_json_error(&r, 403, "forbidden");
    post(fx, "/hook/" TOK_A, &r);
    assert_int_equal(r.code, 202);
    fx_close(fx);

    fx = fx_open(allow);
    get(fx, "/health", &r);
    assert_int_equal(r.code, 200);
    get(fx, "/metrics", &r);
    assert_int_equal(r.code, 200);
    request(fx, EVHTTP_REQ_POST, "/metrics", NULL, &r);
    assert_json_error(&r, 405, "method not allowed");
    fx_close(fx);

    /* The matcher: prefixes, IPv6, IPv4-mapped, garbage. */
    assert_non_null(
        c = conf_load_string(COMP "[http]\nstatus_allow = 192.168.1.0/25, "
                                  "2001:db8::/32, 10.1.2.3\n",
                             "m.conf", &diag));
    assert_true(http_status_allowed(c, "192.168.1.127"));
    assert_false(http_status_allowed(c, "192.168.1.128"));
    assert_true(http_status_allowed(c, "10.1.2.3"));
    assert_false(http_status_allowed(c, "10.1.2.4"));
    assert_true(http_status_allowed(c, "2001:db8:1::5"));
    assert_false(http_status_allowed(c, "2001:db9::1"));
    assert_true(http_status_allowed(c, "::ffff:10.1.2.3"));
    assert_false(http_status_allowed(c, "::1"));
    assert_false(http_status_allowed(c, "not-an-address"));
    assert_false(http_status_allowed(c, NULL));
    conf_free(c);
}

/* token_sha256 = authenticates the token whose hash it is; the digest
 * itself is not a token; a token = equal to another hook's hash is a
 * config error. */
static void test_token_sha256(void **state)
{
    char hex[65], text[1024];
    struct fx *fx;
    static struct resp r;
    struct conf_diag diag;
    struct conf *c;

    http_token_sha256(TOK_H, hex);
    assert_string_equal(
        hex,
        "b22fd458dbe2426bebe59cfafe4c46e013df3efd439e4d91cda767ac3052ddd0");
    snprintf(text, sizeof(text),
             COMP "[http]\nlisten = 127.0.0.1:0\n"
                  "[hook hashed]\ntoken_sha256 = %s\nto = a@example.org\n"
                  "[hook plain]\ntoken = " TOK_A "\nto = b@example.org\n",
             hex);
    fx = fx_open(text);
    post(fx, "/hook/" TOK_H, &r);
    assert_int_equal(r.code, 202);
    post(fx, "/hook/" TOK_A, &r);
    assert_int_equal(r.code, 202);
    request(fx, EVHTTP_REQ_POST, "/hook/" TOK_H "x", "x", &r);
    assert_json_error(&r, 401, "unknown token");
    snprintf(text, sizeof(text), "/hook/%s", hex);
    post(fx, text, &r);
    assert_json_error(&r, 401, "unknown token");
    assert_int_equal(fx->n_submit, 2);
    fx_close(fx);

    /* the lookup alone */
    snprintf(text, sizeof(text),
             COMP "[hook a]\ntoken = " TOK_A "\nto = a@example.org\n"
                  "[hook b]\ntoken_sha256 = %s\nto = a@example.org\n",
             hex);
    assert_non_null(c = conf_load_string(text, "t.conf", &diag));
    {
        unsigned char *d = http_auth_digests(c);

        assert_non_null(d);
        assert_string_equal(http_auth_find(c, d, TOK_A)->name, "a");
        assert_string_equal(http_auth_find(c, d, TOK_H)->name, "b");
        assert_null(http_auth_find(c, d, ""));
        assert_null(http_auth_find(c, d, "tok"));
        assert_null(http_auth_find(c, d, NULL));
        free(d);
    }
    conf_free(c);

    snprintf(text, sizeof(text),
             COMP "[hook a]\ntoken = " TOK_H "\nto = a@example.org\n"
                  "[hook b]\ntoken_sha256 = %s\nto = a@example.org\n",
             hex);
    assert_non_null(c = conf_load_string(text, "t.conf", &diag));
    assert_int_equal(http_conf_check(c, &diag), XMTA_E_INVAL);
    assert_int_equal(diag.line, 5);
    assert_string_equal(diag.msg, "the token of [hook a] is the token_sha256 "
                                  "of [hook b]: each hook needs its own "
                                  "token");
    conf_free(c);
}

/* GET /metrics parsed exactly; the values of every family checked. */
static void test_metrics(void **state)
{
    struct fx *fx = fx_open(rate_conf);
    static struct resp r;
    static struct exposition e;
    double count;

    post(fx, "/hook/" TOK_A, &r);              /* 202 */
    post(fx, "/hook/" TOK_B, &r);              /* 202 */
    post(fx, "/hook/nope-nope-nope-nope", &r); /* 401 */
    get(fx, "/nowhere", &r);                   /* 404 */
    get(fx, "/health", &r);                    /* 200 */
    metrics_get(fx, &e);

    assert_string_equal(expo_type(&e, "xmta_http_requests_total"), "counter");
    assert_true(expo_get(&e, "xmta_http_requests_total",
                         "hook=\"alerts\",code=\"202\"") == 1);
    assert_true(expo_get(&e, "xmta_http_requests_total",
                         "hook=\"ci\",code=\"202\"") == 1);
    assert_true(expo_get(&e, "xmta_http_requests_total",
                         "hook=\"\",code=\"401\"") == 1);
    assert_true(expo_get(&e, "xmta_http_requests_total",
                         "hook=\"\",code=\"404\"") == 1);
    /* /health, and this /metrics itself */
    assert_true(expo_get(&e, "xmta_http_requests_total",
                         "hook=\"\",code=\"200\"") == 2);
    assert_true(
        expo_get(&e, "xmta_messages_accepted_total", "hook=\"alerts\"") == 1);
    assert_true(
        expo_get(&e, "xmta_http_rate_limited_total", "hook=\"alerts\"") == 0);
    /* the latency histogram: cumulative buckets, +Inf = _count = 6 */
    assert_string_equal(expo_type(&e, "xmta_http_request_duration_seconds"),
                        "histogram");
    count = expo_get(&e, "xmta_http_request_duration_seconds_count", NULL);
    assert_true(count == 6);
    assert_true(expo_get(&e, "xmta_http_request_duration_seconds_bucket",
                         "le=\"+Inf\"") == 6);
    assert_true(expo_get(&e, "xmta_http_request_duration_seconds_bucket",
                         "le=\"10\"") == 6); /* all fast */
    assert_true(expo_get(&e, "xmta_http_request_duration_seconds_bucket",
                         "le=\"0.001\"") <=
                expo_get(&e, "xmta_http_request_duration_seconds_bucket",
                         "le=\"0.5\""));
    assert_true(expo_get(&e, "xmta_http_request_duration_seconds_sum", NULL) <
                6);
    /* connections */
    assert_string_equal(expo_type(&e, "xmta_http_connections"), "gauge");
    assert_true(expo_get(&e, "xmta_http_connections", NULL) == 1); /* us */
    assert_true(expo_get(&e, "xmta_http_connections_max", NULL) == 1024);
    assert_true(expo_get(&e, "xmta_http_connections_accepted_total", NULL) ==
                6);
    assert_true(expo_get(&e, "xmta_http_connections_timed_out_total",
                         "phase=\"headers\"") == 0);
    assert_true(expo_get(&e, "xmta_http_connections_limited_total", NULL) == 0);
    /* from the backend's status */
    assert_true(expo_get(&e, "xmta_stream_up", NULL) == 1);
    assert_true(expo_get(&e, "xmta_stream_state", "state=\"online\"") == 1);
    assert_true(expo_get(&e, "xmta_stream_reconnects_total", NULL) == 2);
    assert_true(expo_get(&e, "xmta_messages_delivered_total", NULL) == 11);
    assert_true(expo_get(&e, "xmta_messages_acknowledged_total", NULL) == 9);
    assert_true(expo_get(&e, "xmta_messages_bounced_total", NULL) == 4);
    assert_true(expo_get(&e, "xmta_messages_expired_total", NULL) == 1);
    assert_true(expo_get(&e, "xmta_outbox_messages", NULL) == 3);
    assert_true(expo_get(&e, "xmta_spool_depth", NULL) == 7);
    assert_true(expo_get(&e, "xmta_spool_oldest_age_seconds", NULL) == 42);
    assert_true(expo_get(&e, "xmta_spool_ok", NULL) == 1);
    assert_true(expo_get(&e, "xmta_rooms", "state=\"joined\"") == 1);
    assert_true(expo_get(&e, "xmta_rooms", "state=\"failed\"") == 1);
    assert_true(expo_get(&e, "xmta_rooms", "state=\"joining\"") == 0);
    assert_true(expo_get(&e, "xmta_room_state",
                         "room=\"ops@conference.example.org\",bot=\"alerts\","
                         "state=\"joined\"") == 1);
    /* from the backend's callback, label values escaped */
    assert_true(expo_get(&e, "xmta_bounces_total",
                         "condition=\"item-not-found\"") == 3);
    assert_true(expo_get(&e, "xmta_bounces_total",
                         "condition=\"a \\\"quoted\\\\\\\" one\\n\"") == 1);

    /* The stream down: state and up follow. */
    fx->st.online = 0;
    fx->st.state = "connecting";
    metrics_get(fx, &e);
    assert_true(expo_get(&e, "xmta_stream_up", NULL) == 0);
    assert_true(expo_get(&e, "xmta_stream_state", "state=\"connecting\"") == 1);
    fx_close(fx);
}

/* The writer alone: number forms and HELP escapes. */
static void test_metrics_writer(void **state)
{
    struct evbuffer *b = evbuffer_new();
    struct metrics *m = metrics_new(b);
    struct metrics_histogram hg = {0};
    char text[4096];
    size_t n;

    metrics_gauge(m, "x_ratio", "a\\b\nc", 0.25);
    metrics_counter(m, "x_total", "n", 12345678);
    metrics_histogram_observe(&hg, 0.002);
    metrics_histogram_observe(&hg, 0.3);
    metrics_histogram_observe(&hg, 99);
    metrics_histogram_write(m, "x_seconds", "h", &hg);
    assert_int_equal(metrics_error(m), 0);
    n = evbuffer_remove(b, text, sizeof(text) - 1);
    text[n] = '\0';
    assert_string_equal(text, "# HELP x_ratio a\\\\b\\nc\n"
                              "# TYPE x_ratio gauge\n"
                              "x_ratio 0.25\n"
                              "# HELP x_total n\n"
                              "# TYPE x_total counter\n"
                              "x_total 12345678\n"
                              "# HELP x_seconds h\n"
                              "# TYPE x_seconds histogram\n"
                              "x_seconds_bucket{le=\"0.001\"} 0\n"
                              "x_seconds_bucket{le=\"0.0025\"} 1\n"
                              "x_seconds_bucket{le=\"0.005\"} 1\n"
                              "x_seconds_bucket{le=\"0.01\"} 1\n"
                              "x_seconds_bucket{le=\"0.025\"} 1\n"
                              "x_seconds_bucket{le=\"0.05\"} 1\n"
                              "x_seconds_bucket{le=\"0.1\"} 1\n"
                              "x_seconds_bucket{le=\"0.25\"} 1\n"
                              "x_seconds_bucket{le=\"0.5\"} 2\n"
                              "x_seconds_bucket{le=\"1\"} 2\n"
                              "x_seconds_bucket{le=\"2.5\"} 2\n"
                              "x_seconds_bucket{le=\"10\"} 2\n"
                              "x_seconds_bucket{le=\"+Inf\"} 3\n"
                              "x_seconds_sum 99.302\n"
                              "x_seconds_count 3\n");
    metrics_free(m);
    metrics_free(NULL);
    evbuffer_free(b);
}

static const char slow_conf[] = COMP "[http]\n"
                                     "listen = 127.0.0.1:0\n"
                                     "header_timeout = 1\n"
                                     "body_timeout = 1\n"
                                     "idle_timeout = 1\n"
                                     "max_connections = 8\n"
                                     "[hook alerts]\n"
                                     "token = " TOK_A "\n"
                                     "to = alice@example.org\n";

/* Three clients that never finish their headers and one that never
 * finishes its body: the others are answered at once meanwhile, and the
 * stalled ones are closed after their timeout, counted by phase. */
static void test_slowloris(void **state)
{
    struct fx *fx = fx_open(slow_conf);
    static struct resp r;
    static struct exposition e;
    int fd[4];
    double t0;

    for (int i = 0; i < 3; i++)
        fd[i] = raw_open(fx, "POST /hook/" TOK_A " HTTP/1.1\r\nHost: x\r\n"
                             "X-Slow: ");
    fd[3] = raw_open(fx, "POST /hook/" TOK_A " HTTP/1.1\r\nHost: x\r\n"
                         "Content-Length: 100\r\n\r\nonly ten b");
    run_for(fx, 100);
    t0 = now_s();
    for (int i = 0; i < 5; i++) {
        post(fx, "/hook/" TOK_A, &r);
        assert_int_equal(r.code, 202);
    }
    assert_true(now_s() - t0 < 0.9); /* not held up by the stalled ones */
    for (int i = 0; i < 4; i++)
        assert_false(raw_closed(fd[i]));
    run_for(fx, 1300);
    for (int i = 0; i < 4; i++) {
        assert_true(raw_closed(fd[i]));
        close(fd[i]);
    }
    assert_int_equal(fx->n_submit, 5);
    metrics_get(fx, &e);
    assert_true(expo_get(&e, "xmta_http_connections_timed_out_total",
                         "phase=\"headers\"") == 3);
    assert_true(expo_get(&e, "xmta_http_connections_timed_out_total",
                         "phase=\"body\"") == 1);
    assert_true(expo_get(&e, "xmta_http_connections", NULL) == 1);
    fx_close(fx);
}

/* A client that trickles a header byte by byte still has header_timeout
 * in all, not per byte; a kept-alive connection is closed after
 * idle_timeout. */
static void test_trickle_and_idle(void **state)
{
    struct fx *fx = fx_open(slow_conf);
    const char *req = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    char buf[4096];
    double t0 = now_s(), closed_at = -1;
    int fd = raw_open(fx, "GET /health HTTP/1.1\r\nX-A: ");
    ssize_t n;

    for (int i = 0; i < 30 && closed_at < 0; i++) {
        send(fd, "a", 1, MSG_NOSIGNAL); /* every 100 ms: never ends */
        run_for(fx, 100);
        if (raw_closed(fd))
            closed_at = now_s() - t0;
    }
    assert_true(closed_at > 0.9 && closed_at < 2.5); /* header_timeout */
    close(fd);

    fd = raw_open(fx, req);
    run_for(fx, 200);
    assert_true((n = recv(fd, buf, sizeof(buf) - 1, 0)) > 0);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "HTTP/1.1 200"));
    assert_false(raw_closed(fd)); /* kept alive */
    assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL),
                     (ssize_t)strlen(req)); /* a second request */
    run_for(fx, 200);
    assert_true((n = recv(fd, buf, sizeof(buf) - 1, 0)) > 0);
    run_for(fx, 1200);
    assert_true(raw_closed(fd)); /* idle_timeout */
    close(fd);
    fx_close(fx);
}

/* Reads an answer from fd into buf (NUL-terminated), running the loop
 * meanwhile: at most 5 s. Its length, or -1. */
static ssize_t raw_answer(struct fx *fx, int fd, char *buf, size_t size)
{
    ssize_t n = -1;

    for (int i = 0; i < 500 && (n = recv(fd, buf, size - 1, 0)) <= 0; i++)
        run_for(fx, 10);
    if (n > 0)
        buf[n] = '\0';
    return n;
}

/* Opens n connections that each send req, and checks each is answered
 * 200 (and kept alive: nothing closes them here). */
static void raw_open_answered(struct fx *fx, int *fd, int n, const char *req)
{
    char buf[4096];

    for (int i = 0; i < n; i++)
        fd[i] = raw_open(fx, req);
    for (int i = 0; i < n; i++) {
        assert_true(raw_answer(fx, fd[i], buf, sizeof(buf)) > 0);
        assert_non_null(strstr(buf, "HTTP/1.1 200"));
    }
}

/* Each connection's phase follows its own requests, found by descriptor
 * (conn.c): 20 kept-alive connections, 10 of them closed by the client
 * and replaced (the server's descriptors come back), all answered, then
 * closed by idle_timeout and counted as idle. A request filed under the
 * wrong connection, or none, leaves its connection in the body phase. */
static void test_phase_per_connection(void **state)
{
    static const char text[] = COMP "[http]\n"
                                    "listen = 127.0.0.1:0\n"
                                    "header_timeout = 1\n"
                                    "body_timeout = 1\n"
                                    "idle_timeout = 1\n"
                                    "max_connections = 64\n"
                                    "[hook alerts]\n"
                                    "token = " TOK_A "\n"
                                    "to = alice@example.org\n";
    const char *req = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    struct fx *fx = fx_open(text);
    static struct exposition e;
    int fd[20];

    raw_open_answered(fx, fd, 20, req);
    for (int i = 0; i < 10; i++)
        close(fd[i]);
    run_for(fx, 100);
    metrics_get(fx, &e);
    /* the 10 left and the one asking */
    assert_true(expo_get(&e, "xmta_http_connections", NULL) == 11);
    raw_open_answered(fx, fd, 10, req);
    for (int i = 0; i < 20; i++)
        assert_false(raw_closed(fd[i])); /* kept alive */
    run_for(fx, 2500);
    for (int i = 0; i < 20; i++) {
        assert_true(raw_closed(fd[i]));
        close(fd[i]);
    }
    metrics_get(fx, &e);
    assert_true(expo_get(&e, "xmta_http_connections_timed_out_total",
                         "phase=\"idle\"") == 20);
    assert_true(expo_get(&e, "xmta_http_connections_timed_out_total",
                         "phase=\"body\"") == 0);
    assert_true(expo_get(&e, "xmta_http_connections_timed_out_total",
                         "phase=\"headers\"") == 0);
    fx_close(fx);
}

/* max_connections = 2: two stalled clients fill it; a third client waits
 * in the listen backlog (not refused) and is answered once the stalled
 * ones are closed by header_timeout; the pause is counted. */
static void test_max_connections(void **state)
{
    static const char text[] = COMP "[http]\n"
                                    "listen = 127.0.0.1:0\n"
                                    "header_timeout = 1\n"
                                    "max_connections = 2\n"
                                    "[hook alerts]\n"
                                    "token = " TOK_A "\n"
                                    "to = alice@example.org\n";
    struct fx *fx = fx_open(text);
    static struct resp r;
    static struct exposition e;
    int fd[2];
    double t0, took;

    fd[0] = raw_open(fx, "GET /health HTTP/1.1\r\n");
    fd[1] = raw_open(fx, "");
    run_for(fx, 100);
    t0 = now_s();
    post(fx, "/hook/" TOK_A, &r);
    took = now_s() - t0;
    assert_int_equal(r.code, 202);
    assert_true(took > 0.7 && took < 3); /* waited for a free slot */
    for (int i = 0; i < 2; i++) {
        assert_true(raw_closed(fd[i]));
        close(fd[i]);
    }
    metrics_get(fx, &e);
    assert_true(expo_get(&e, "xmta_http_connections_limited_total", NULL) >= 1);
    assert_true(expo_get(&e, "xmta_http_connections_timed_out_total",
                         "phase=\"headers\"") == 2);
    assert_true(expo_get(&e, "xmta_http_connections_max", NULL) == 2);
    fx_close(fx);
}

/* max_headers: a request with more header bytes is refused (400 from
 * evhttp) and the connection closed; a smaller one passes. */
static void test_max_headers(void **state)
{
    static const char text[] = COMP "[http]\n"
                                    "listen = 127.0.0.1:0\n"
                                    "max_headers = 1k\n"
                                    "[hook alerts]\n"
                                    "token = " TOK_A "\n"
                                    "to = alice@example.org\n";
    struct fx *fx = fx_open(text);
    char big[2048], buf[4096];
    ssize_t n;
    int fd;

    memset(big, 'a', sizeof(big));
    memcpy(big, "GET /health HTTP/1.1\r\nX-Big: ", 29);
    memcpy(big + sizeof(big) - 5, "\r\n\r\n", 5);
    fd = raw_open(fx, big);
    run_for(fx, 200);
    n = recv(fd, buf, sizeof(buf) - 1, 0);
    if (n > 0) {
        buf[n] = '\0';
        assert_null(strstr(buf, "200 OK"));
    }
    assert_true(raw_closed(fd));
    close(fd);
    fd = raw_open(fx, "GET /health HTTP/1.1\r\nX-Small: a\r\n\r\n");
    run_for(fx, 200);
    assert_true((n = recv(fd, buf, sizeof(buf) - 1, 0)) > 0);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "HTTP/1.1 200"));
    close(fd);
    fx_close(fx);
}

/* A reload with other listen lines (they change only with a restart):
 * stopping still closes the sockets actually bound. */
static void test_reload_listen(void **state)
{
    static const char two[] = COMP "[http]\n"
                                   "listen = 127.0.0.1:0\n"
                                   "listen = 127.0.0.1:0\n"
                                   "[hook alerts]\n"
                                   "token = " TOK_A "\n"
                                   "to = alice@example.org\n";
    static const char none[] = COMP "[hook alerts]\n"
                                    "token = " TOK_A "\n"
                                    "to = alice@example.org\n";
    struct fx *fx = fx_open(two);
    struct conf_diag diag;
    struct conf *cfg2;
    static struct resp r;

    assert_non_null(cfg2 = conf_load_string(none, "prod.conf", &diag));
    assert_int_equal(http_set_conf(fx->http, cfg2), 0);
    conf_free(fx->cfg);
    fx->cfg = cfg2;
    post(fx, "/hook/" TOK_A, &r); /* still on the old address */
    assert_int_equal(r.code, 202);
    http_stop(fx->http);
    post(fx, "/hook/" TOK_A, &r);
    assert_int_equal(r.code, 0);
    fx_close(fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_429),
        cmocka_unit_test(test_bucket),
        cmocka_unit_test(test_status_allow),
        cmocka_unit_test(test_token_sha256),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_metrics_writer),
        cmocka_unit_test(test_slowloris),
        cmocka_unit_test(test_trickle_and_idle),
        cmocka_unit_test(test_phase_per_connection),
        cmocka_unit_test(test_max_connections),
        cmocka_unit_test(test_max_headers),
        cmocka_unit_test(test_reload_listen),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
