/* SPDX-License-Identifier: MIT */
/* test_fetch.c -- libcurl multi on the libevent loop (component/fetch.c)
 * against an in-process evhttp server on 127.0.0.1: bodies and headers
 * both ways, no retry on 500, retries with backoff on 503 and on a
 * refused connection, the per-request timeout, the response cap, the
 * bound on concurrent transfers and the wait queue, bad requests, and
 * cancellation by comp_fetch_free(), and HTTPS against an in-process
 * libevent TLS server whose certificate is made here (OpenSSL): verified
 * with the test CA given as ca_file; refused (and counted) with an
 * unknown CA or the wrong name. Every loop is bounded. */
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
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "component/component.h"
#include "component/fetch.h"
#include "xml/err.h"
#include "xml/log.h"

/* ---- the server --------------------------------------------------------- */

struct srv {
    struct event_base *base;
    struct evhttp *http;
    unsigned short port;
    unsigned hits;       /* requests received */
    unsigned flaky_left; /* /flaky answers 503 this many times */
    unsigned inflight;   /* /slow requests not yet answered */
    unsigned max_inflight;
    char method[16];
    char body[256];
    char header[128];      /* X-Test */
    struct slow *slow[32]; /* unanswered /slow requests (freed at the end) */
};

struct slow {
    int slot;
    struct srv *s;
    struct evhttp_request *req;
    struct event *ev;
};

static void srv_reply(struct evhttp_request *req, int code, const char *text)
{
    struct evbuffer *b = evbuffer_new();

    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; charset=utf-8");
    evbuffer_add(b, text, strlen(text));
    evhttp_send_reply(req, code, code == 200 ? "OK" : "Err", b);
    evbuffer_free(b);
}

static void srv_slow_done(evutil_socket_t fd, short what, void *arg)
{
    struct slow *sl = arg;

    sl->s->inflight--;
    sl->s->slow[sl->slot] = NULL;
    srv_reply(sl->req, 200, "slow");
    event_free(sl->ev);
    free(sl);
}

static void srv_on_request(struct evhttp_request *req, void *arg)
{
    struct srv *s = arg;
    const char *uri = evhttp_request_get_uri(req);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    const char *h;
    size_t n;

    s->hits++;
    switch (evhttp_request_get_command(req)) {
    case EVHTTP_REQ_GET:
        snprintf(s->method, sizeof(s->method), "GET");
        break;
    case EVHTTP_REQ_POST:
        snprintf(s->method, sizeof(s->method), "POST");
        break;
    case EVHTTP_REQ_PUT:
        snprintf(s->method, sizeof(s->method), "PUT");
        break;
    default:
        snprintf(s->method, sizeof(s->method), "OTHER");
    }
    n = evbuffer_get_length(in);
    if (n >= sizeof(s->body))
        n = sizeof(s->body) - 1;
    evbuffer_copyout(in, s->body, n);
    s->body[n] = '\0';
    h = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Test");
    snprintf(s->header, sizeof(s->header), "%s", h ? h : "");
    if (strcmp(uri, "/ok") == 0) {
        srv_reply(req, 200, "hello");
    } else if (strcmp(uri, "/500") == 0) {
        srv_reply(req, 500, "broken");
    } else if (strcmp(uri, "/flaky") == 0) {
        if (s->flaky_left) {
            s->flaky_left--;
            srv_reply(req, 503, "busy");
        } else {
            srv_reply(req, 200, "finally");
        }
    } else if (strcmp(uri, "/big") == 0) {
        char *big = malloc(100001);

        memset(big, 'x', 100000);
        big[100000] = '\0';
        srv_reply(req, 200, big);
        free(big);
    } else if (strncmp(uri, "/slow/", 6) == 0) {
        struct slow *sl = calloc(1, sizeof(*sl));
        long ms = strtol(uri + 6, NULL, 10);
        struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

        for (sl->slot = 0; s->slow[sl->slot]; sl->slot++)
            ;
        s->slow[sl->slot] = sl;
        sl->s = s;
        sl->req = req;
        sl->ev = evtimer_new(s->base, srv_slow_done, sl);
        evtimer_add(sl->ev, &tv);
        if (++s->inflight > s->max_inflight)
            s->max_inflight = s->inflight;
    } else {
        srv_reply(req, 404, "no");
    }
}

static void srv_start(struct srv *s, struct event_base *base)
{
    struct evhttp_bound_socket *bs;
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);

    memset(s, 0, sizeof(*s));
    s->base = base;
    s->http = evhttp_new(base);
    assert_non_null(s->http);
    evhttp_set_gencb(s->http, srv_on_request, s);
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
                                            EVHTTP_REQ_PUT);
    bs = evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0);
    assert_non_null(bs);
    getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin, &len);
    s->port = ntohs(sin.sin_port);
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

/* ---- the client side ---------------------------------------------------- */

struct outcome {
    int called;
    int rc, timed_out, tls_error;
    long status;
    char body[128];
    size_t body_len;
    char ctype[64];
    unsigned attempts;
};

static void on_done(void *arg, const struct comp_fetch_result *r)
{
    struct outcome *o = arg;

    o->called++;
    o->rc = r->rc;
    o->timed_out = r->timed_out;
    o->tls_error = r->tls_error;
    o->status = r->status;
    o->body_len = r->body_len;
    snprintf(o->body, sizeof(o->body), "%s", r->body);
    snprintf(o->ctype, sizeof(o->ctype), "%s",
             r->content_type ? r->content_type : "");
    o->attempts = r->attempts;
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Runs the loop until n outcomes were reported or ms pass. */
static int run_until_called(struct event_base *base,
                            struct outcome *o,
                            size_t n,
                            unsigned ms)
{
    uint64_t end = now_ms() + ms;

    for (;;) {
        struct timeval slice = {0, 5000};
        size_t k = 0;

        for (size_t i = 0; i < n; i++)
            k += o[i].called ? 1 : 0;
        if (k == n)
            return 1;
        if (now_ms() >= end)
            return 0;
        event_base_loopexit(base, &slice);
        event_base_dispatch(base);
    }
}

struct fx {
    struct event_base *base;
    struct srv srv;
    struct comp_fetch *f;
    char url[128];
};

static int fx_setup(void **state)
{
    struct fx *x = calloc(1, sizeof(*x));

    x->base = event_base_new();
    srv_start(&x->srv, x->base);
    x->f = comp_fetch_new(x->base, 2, 6);
    assert_non_null(x->f);
    *state = x;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *x = *state;

    comp_fetch_free(x->f);
    for (int i = 0; i < 32; i++) {
        if (x->srv.slow[i]) {
            event_free(x->srv.slow[i]->ev);
            free(x->srv.slow[i]);
        }
    }
    evhttp_free(x->srv.http);
    event_base_free(x->base);
    free(x);
    return 0;
}

static const char *fx_url(struct fx *x, const char *path)
{
    snprintf(x->url, sizeof(x->url), "http://127.0.0.1:%u%s", x->srv.port,
             path);
    return x->url;
}

static void fx_stats(struct fx *x, struct comp_fetch_stats *st)
{
    memset(st, 0, sizeof(*st));
    comp_fetch_counters(x->f, st);
}

/* ---- tests -------------------------------------------------------------- */

static void test_get_ok(void **state)
{
    struct fx *x = *state;
    struct comp_fetch_req rq = {0};
    struct outcome o = {0};
    struct comp_fetch_stats st;

    rq.url = fx_url(x, "/ok");
    assert_int_equal(comp_fetch_start(x->f, &rq, on_done, &o), 0);
    assert_int_equal(o.called, 0); /* never from inside the call */
    assert_true(run_until_called(x->base, &o, 1, 5000));
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.body, "hello");
    assert_int_equal(o.body_len, 5);
    assert_string_equal(o.ctype, "text/plain; charset=utf-8");
    assert_int_equal(o.attempts, 1);
    assert_string_equal(x->srv.method, "GET");
    fx_stats(x, &st);
    assert_int_equal(st.requests, 1);
    assert_int_equal(st.ok, 1);
    assert_int_equal(st.running, 0);
    assert_int_equal(st.waiting, 0);
}

static void test_post_body_headers(void **state)
{
    struct fx *x = *state;
    const char *hdrs[] = {"X-Test: abc 123", "Content-Type: application/json"};
    struct comp_fetch_req rq = {0};
    struct outcome o = {0};

    rq.method = "POST";
    rq.url = fx_url(x, "/ok");
    rq.headers = hdrs;
    rq.n_headers = 2;
    rq.body = "{\"a\":1}";
    rq.body_len = 7;
    assert_int_equal(comp_fetch_start(x->f, &rq, on_done, &o), 0);
    assert_true(run_until_called(x->base, &o, 1, 5000));
    assert_int_equal(o.status, 200);
    assert_string_equal(x->srv.method, "POST");
    assert_string_equal(x->srv.body, "{\"a\":1}");
    assert_string_equal(x->srv.header, "abc 123");

    memset(&o, 0, sizeof(o));
    rq.method = "PUT";
    rq.body = "put-bytes";
    rq.body_len = 9;
    assert_int_equal(comp_fetch_start(x->f, &rq, on_done, &o), 0);
    assert_true(run_until_called(x->base, &o, 1, 5000));
    assert_int_equal(o.status, 200);
    assert_string_equal(x->srv.method, "PUT");
    assert_string_equal(x->srv.body, "put-bytes");
}

static void test_500_not_retried(void **state)
{
    struct fx *x = *state;
    struct comp_fetch_req rq = {0};
    struct outcome o = {0};
    struct comp_fetch_stats st;

    rq.url = fx_url(x, "/500");
    rq.retries = 3;
    rq.backoff_ms = 10;
    assert_int_equal(comp_fetch_start(x->f, &rq, on_done, &o), 0);
    assert_true(run_until_called(x->base, &o, 1, 5000));
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.status, 500);
    assert_string_equal(o.body, "broken");
    assert_int_equal(o.attempts, 1);
    assert_int_equal(x->srv.hits, 1);
    fx_stats(x, &st);
    assert_int_equal(st.http_errors, 1);
    assert_int_equal(st.retries, 0);
}

static void test_503_retried_with_backoff(void **state)
{
    struct fx *x = *state;
    struct comp_fetch_req rq = {0};
    struct outcome o = {0};
    struct comp_fetch_stats st;
    uint64_t t0 = now_ms();

    x->srv.flaky_left = 2;
    rq.url = fx_url(x, "/flaky");
    rq.retries = 3;
    rq.backoff_ms = 100;
    assert_int_equal(comp_fetch_start(x->f, &rq, on_done, &o), 0);
    assert_true(run_until_called(x->base, &o, 1, 5000));
    assert_int_equal(o.status, 200);
    assert_string_equal(o.body, "finally");
    assert_int_equal(o.attempts, 3);
    assert_int_equal(x->srv.hits, 3);
    /* 100 ms then 200 ms, each minus up to a quarter of jitter */
    assert_true(now_ms() - t0 >= 75 + 150);
    fx_stats(x, &st);
    assert_int_equal(st.retries, 2);
    assert_int_equal(st.ok, 1);

    /* Retries run out: the last 503 is the answer. */
    memset(&o, 0, sizeof(o));
    x->srv.flaky_left = 5;
    rq.retries = 1;
    rq.backoff_ms = 10;
    assert_int_equal(comp_fetch_start(x->f, &rq, on_done, &o), 0);
    assert_true(run_until_called(x->base, &o, 1, 5000));
    assert_int_equal(o.status, 503);
    assert_int_equal(o.attempts, 2);
}

static void test_refused_retried_then_fails(void **state)
{
    struct fx *x = *state;
    struct comp_fetch_req rq = {0};
    struct outcome o = {0};
    struct comp_fetch_stats st;
    char url[64];

    snprintf(url, sizeof(url), "http://127.0.0.1:%u/x", dead_port());
    rq.url = url;
    rq.retries = 2;
    rq.backoff_ms = 10;
    assert_int_equal(comp_fetch_start(x->f, &rq, on_done, &o), 0);
    assert_true(run_until_called(x->base, &o, 1, 5000));
    assert_int_equal(o.rc, XMTA_E_IO);
    assert_int_equal(o.timed_out, 0);
    assert_int_equal(o.status, 0);
    assert_int_equal(o.attempts, 3);
    fx_stats(x, &st);
    assert_int_equal(st.failures, 1);
    assert_int_equal(st.retries, 2);
}

static void test_timeout(void **state)
{
    struct fx *x = *state;
    struct comp_fetch_req rq = {0};
    struct outcome o = {0};
    struct comp_fetch_stats st;
    uint64_t t0 = now_ms();

    rq.method = "POST";
    rq.url = fx_url(x, "/slow/3000");
    rq.timeout_ms = 300;
    rq.retries = 2; /* a POST timeout is not retried by default */
    assert_int_equal(comp_fetch_start(x->f, &rq, on_done, &o), 0);
    assert_true(run_until_called(x->base, &o, 1, 5000));
    assert_int_equal(o.rc, XMTA_E_IO);
    assert_int_equal(o.timed_out, 1);
    assert_int_equal(o.attempts, 1);
    assert_true(now_ms() - t0 < 1500);
    fx_stats(x, &st);
    assert_int_equal(st.timeouts, 1);
    assert_int_equal(st.failures, 1);
}

static void test_response_cap(void **state)
{
    struct fx *x = *state;
    struct comp_fetch_req rq = {0};
    struct outcome o = {0};

    rq.url = fx_url(x, "/big");
    rq.max_response = 1000;
    rq.retries = 2;
    assert_int_equal(comp_fetch_start(x->f, &rq, on_done, &o), 0);
    assert_true(run_until_called(x->base, &o, 1, 5000));
    assert_int_equal(o.rc, XMTA_E_LIMIT);
    assert_int_equal(o.attempts, 1);

    memset(&o, 0, sizeof(o));
    rq.max_response = 200000;
    assert_int_equal(comp_fetch_start(x->f, &rq, on_done, &o), 0);
    assert_true(run_until_called(x->base, &o, 1, 5000));
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.body_len, 100000);
}

static void test_concurrency_bound(void **state)
{
    struct fx *x = *state;
    struct comp_fetch_req rq = {0};
    struct outcome o[7];
    struct comp_fetch_stats st;

    memset(o, 0, sizeof(o));
    rq.url = fx_url(x, "/slow/150");
    for (int i = 0; i < 6; i++)
        assert_int_equal(comp_fetch_start(x->f, &rq, on_done, &o[i]), 0);
    /* max_waiting is 6: the seventh is refused at once */
    assert_int_equal(comp_fetch_start(x->f, &rq, on_done, &o[6]), XMTA_E_FULL);
    fx_stats(x, &st);
    assert_int_equal(st.rejected, 1);
    assert_int_equal(st.waiting, 6);
    assert_true(run_until_called(x->base, o, 6, 5000));
    for (int i = 0; i < 6; i++) {
        assert_int_equal(o[i].status, 200);
        assert_string_equal(o[i].body, "slow");
    }
    assert_int_equal(o[6].called, 0);
    assert_int_equal(x->srv.max_inflight, 2); /* max_running */
    fx_stats(x, &st);
    assert_int_equal(st.ok, 6);
    assert_int_equal(st.running, 0);
    assert_int_equal(st.waiting, 0);
}

static void test_bad_requests(void **state)
{
    struct fx *x = *state;
    const char *bad_hdr[] = {"X-Test: a\r\nInjected: b"};
    struct comp_fetch_req rq = {0};
    struct outcome o = {0};

    rq.url = "ftp://127.0.0.1/x";
    assert_int_equal(comp_fetch_start(x->f, &rq, on_done, &o), XMTA_E_INVAL);
    rq.url = "file:///etc/passwd";
    assert_int_equal(comp_fetch_start(x->f, &rq, on_done, &o), XMTA_E_INVAL);
    rq.url = NULL;
    assert_int_equal(comp_fetch_start(x->f, &rq, on_done, &o), XMTA_E_INVAL);
    rq.url = fx_url(x, "/ok");
    rq.headers = bad_hdr;
    rq.n_headers = 1;
    assert_int_equal(comp_fetch_start(x->f, &rq, on_done, &o), XMTA_E_INVAL);
    assert_int_equal(o.called, 0);
    assert_int_equal(x->srv.hits, 0);
}

/* TLS is verified: a plain-HTTP server behind https:// fails (handshake),
 * and nothing is retried as if it were a refusal. */
static void test_tls_to_plain_port_fails(void **state)
{
    struct fx *x = *state;
    struct comp_fetch_req rq = {0};
    struct outcome o = {0};
    char url[64];

    snprintf(url, sizeof(url), "https://127.0.0.1:%u/ok", x->srv.port);
    rq.url = url;
    rq.timeout_ms = 2000;
    assert_int_equal(comp_fetch_start(x->f, &rq, on_done, &o), 0);
    assert_true(run_until_called(x->base, &o, 1, 5000));
    assert_int_equal(o.rc, XMTA_E_IO);
    assert_int_equal(o.status, 0);
}

/* ---- HTTPS with a test CA ------------------------------------------------ */

/* A certificate for key: a CA (self-signed when issuer is NULL) or a
 * server certificate for 127.0.0.1 signed by issuer. */
static X509 *tls_cert(EVP_PKEY *key,
                      const char *cn,
                      X509 *issuer,
                      EVP_PKEY *issuer_key,
                      long serial)
{
    X509 *x = X509_new();
    X509_NAME *n;
    X509V3_CTX v3;
    const char *exts[][2] = {
        {"basicConstraints", issuer ? "CA:FALSE" : "critical,CA:TRUE"},
        {"keyUsage",
         issuer ? "critical,digitalSignature" : "critical,keyCertSign,cRLSign"},
        {"subjectKeyIdentifier", "hash"},
        {"subjectAltName", issuer ? "IP:127.0.0.1" : NULL},
    };

    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn,
                               -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
    for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
        X509_EXTENSION *e;

        if (!exts[i][1])
            continue;
        e = X509V3_EXT_conf(NULL, &v3, exts[i][0], exts[i][1]);
        assert_non_null(e);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    assert_true(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
    return x;
}

static void tls_write_pem(const char *path, X509 *x)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    assert_int_equal(PEM_write_X509(fp, x), 1);
    fclose(fp);
}

struct tls_fx {
    struct fx x; /* the plain server, the loop and the fetcher */
    SSL_CTX *ctx;
    struct evhttp *https;
    unsigned short port;
    char ca[64], other_ca[64]; /* PEM files: the signing CA, another */
};

static struct bufferevent *tls_bevcb(struct event_base *base, void *arg)
{
    return bufferevent_openssl_socket_new(base, -1, SSL_new(arg),
                                          BUFFEREVENT_SSL_ACCEPTING,
                                          BEV_OPT_CLOSE_ON_FREE);
}

static int tls_setup(void **state)
{
    struct tls_fx *t = calloc(1, sizeof(*t));
    EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *other_key = EVP_EC_gen("P-256");
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *ca, *other, *cert;
    int fd;

    assert_non_null(t);
    assert_non_null(ca_key);
    assert_non_null(other_key);
    assert_non_null(key);
    t->x.base = event_base_new();
    assert_non_null(t->x.base);
    t->x.f = comp_fetch_new(t->x.base, 2, 6);
    assert_non_null(t->x.f);
    ca = tls_cert(ca_key, "xmta test CA", NULL, NULL, 1);
    other = tls_cert(other_key, "another CA", NULL, NULL, 2);
    cert = tls_cert(key, "127.0.0.1", ca, ca_key, 3);
    snprintf(t->ca, sizeof(t->ca), "/tmp/xmta-fetch-ca-XXXXXX");
    fd = mkstemp(t->ca);
    assert_true(fd >= 0);
    close(fd);
    tls_write_pem(t->ca, ca);
    snprintf(t->other_ca, sizeof(t->other_ca), "/tmp/xmta-fetch-ca-XXXXXX");
    fd = mkstemp(t->other_ca);
    assert_true(fd >= 0);
    close(fd);
    tls_write_pem(t->other_ca, other);
    t->ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(t->ctx);
    assert_int_equal(SSL_CTX_use_certificate(t->ctx, cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(t->ctx, key), 1);
    X509_free(ca);
    X509_free(other);
    X509_free(cert);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(other_key);
    EVP_PKEY_free(key);
    *state = t;
    return 0;
}

static int tls_teardown(void **state)
{
    struct tls_fx *t = *state;

    comp_fetch_free(t->x.f);
    if (t->https)
        evhttp_free(t->https);
    if (t->x.srv.http)
        evhttp_free(t->x.srv.http);
    SSL_CTX_free(t->ctx);
    unlink(t->ca);
    unlink(t->other_ca);
    event_base_free(t->x.base);
    free(t);
    return 0;
}

/* The servers of t: plain srv (for counting) and HTTPS, both on t->x.srv
 * (which must not move: the callbacks hold its address). */
static void tls_listen(struct tls_fx *t)
{
    struct evhttp_bound_socket *bs;
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);

    srv_start(&t->x.srv, t->x.base);
    t->https = evhttp_new(t->x.base);
    assert_non_null(t->https);
    evhttp_set_gencb(t->https, srv_on_request, &t->x.srv);
    evhttp_set_bevcb(t->https, tls_bevcb, t->ctx);
    bs = evhttp_bind_socket_with_handle(t->https, "127.0.0.1", 0);
    assert_non_null(bs);
    getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin, &len);
    t->port = ntohs(sin.sin_port);
}

/* Verified against the test CA given as ca_file: the request goes through. */
static void test_tls_test_ca(void **state)
{
    struct tls_fx *t = *state;
    struct comp_fetch_req rq = {0};
    struct outcome o = {0};
    struct comp_fetch_stats st;
    char url[64];

    tls_listen(t);
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/ok", t->port);
    rq.url = url;
    rq.ca_file = t->ca;
    rq.timeout_ms = 5000;
    assert_int_equal(comp_fetch_start(t->x.f, &rq, on_done, &o), 0);
    assert_true(run_until_called(t->x.base, &o, 1, 8000));
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.tls_error, 0);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.body, "hello");
    assert_int_equal(t->x.srv.hits, 1);
    fx_stats(&t->x, &st);
    assert_int_equal(st.ok, 1);
    assert_int_equal(st.failures, 0);
    assert_int_equal(st.tls_failures, 0);
}

/* An unknown CA (another CA file, or the system's), and a name the
 * certificate does not carry: refused in TLS, not retried, counted, and
 * the server never sees a request. */
static void test_tls_refused(void **state)
{
    struct tls_fx *t = *state;
    struct comp_fetch_req rq = {0};
    struct outcome o[3];
    struct comp_fetch_stats st;
    char url[64], url_name[64];

    memset(o, 0, sizeof(o));
    tls_listen(t);
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/ok", t->port);
    snprintf(url_name, sizeof(url_name), "https://localhost:%u/ok", t->port);
    rq.timeout_ms = 5000;
    rq.retries = 2;
    rq.retry_timeouts = 1;
    rq.url = url;
    rq.ca_file = t->other_ca; /* not the one that signed it */
    assert_int_equal(comp_fetch_start(t->x.f, &rq, on_done, &o[0]), 0);
    rq.ca_file = NULL; /* the system's CAs do not know it either */
    assert_int_equal(comp_fetch_start(t->x.f, &rq, on_done, &o[1]), 0);
    rq.url = url_name; /* the right CA, the wrong name */
    rq.ca_file = t->ca;
    assert_int_equal(comp_fetch_start(t->x.f, &rq, on_done, &o[2]), 0);
    assert_true(run_until_called(t->x.base, o, 3, 15000));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(o[i].rc, XMTA_E_IO);
        assert_int_equal(o[i].tls_error, 1);
        assert_int_equal(o[i].status, 0);
        assert_int_equal(o[i].attempts, 1); /* TLS failures are final */
    }
    assert_int_equal(t->x.srv.hits, 0);
    fx_stats(&t->x, &st);
    assert_int_equal(st.failures, 3);
    assert_int_equal(st.tls_failures, 3);
    assert_int_equal(st.retries, 0);
    assert_int_equal(st.ok, 0);
}

static void test_free_cancels(void **state)
{
    struct fx *x = *state;
    struct comp_fetch_req rq = {0};
    struct outcome o[3];

    memset(o, 0, sizeof(o));
    rq.url = fx_url(x, "/slow/2000");
    for (int i = 0; i < 3; i++)
        assert_int_equal(comp_fetch_start(x->f, &rq, on_done, &o[i]), 0);
    run_until_called(x->base, o, 3, 200); /* two run, one waits */
    comp_fetch_free(x->f);
    x->f = NULL;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(o[i].called, 1);
        assert_int_equal(o[i].rc, XMTA_E_STOPPED);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_ok, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_post_body_headers, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_500_not_retried, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_503_retried_with_backoff, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_refused_retried_then_fails,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_timeout, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_response_cap, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_concurrency_bound, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_tls_to_plain_port_fails, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_free_cancels, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_tls_test_ca, tls_setup,
                                        tls_teardown),
        cmocka_unit_test_setup_teardown(test_tls_refused, tls_setup,
                                        tls_teardown),
    };

    xlog_set_level(XLOG_WARN);
    signal(SIGPIPE, SIG_IGN); /* a refused TLS client closes on the server */
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
