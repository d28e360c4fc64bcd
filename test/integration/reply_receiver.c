/* SPDX-License-Identifier: MIT */
/* reply_receiver.c -- the far end of xmta's reply webhooks and a fake
 * Alertmanager v2 API, for the integration tests (libevent evhttp on
 * 127.0.0.1):
 *
 *   xmta_reply_receiver --port P --secret KEY --log FILE [--slow-ms MS]
 *   xmta_reply_receiver --secret KEY --sign FILE
 *                       (prints "sha256=HEX" of FILE: to sign webhooks)
 *
 *   POST /reply   checks X-Xmta-Signature (HMAC-SHA256 of the body under
 *                 KEY), answers 200 text/plain "pong: TEXT" (TEXT: the
 *                 JSON's text field), or 401 when the signature is wrong
 *   POST /fail    answers 500
 *   POST /slow    answers after MS milliseconds (default 10000)
 *   POST /am/api/v2/silences   answers {"silenceID":"sil-N"}
 *   GET  /am/api/v2/alerts     answers two firing alerts
 *   GET  /file/N.png           answers N bytes (byte i = i * 7 + 3),
 *                              image/png, for attachments
 *
 * Every request is logged to FILE as one JSON line: method, path, sig_ok
 * (true, false, or null without a signature) and the body parsed as JSON
 * (or null). "ready" is printed on stdout once listening. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

struct rcv {
    struct event_base *base;
    const char *secret;
    FILE *log;
    long slow_ms;
    unsigned silences;
};

struct rcv_later {
    struct evhttp_request *req;
    struct event *ev;
};

static void rcv_send(struct evhttp_request *req,
                     int code,
                     const char *ctype,
                     const char *text)
{
    struct evbuffer *b = evbuffer_new();

    if (ctype)
        evhttp_add_header(evhttp_request_get_output_headers(req),
                          "Content-Type", ctype);
    evbuffer_add(b, text, strlen(text));
    evhttp_send_reply(req, code, code < 300 ? "OK" : "Error", b);
    evbuffer_free(b);
}

static void rcv_on_later(evutil_socket_t fd, short what, void *arg)
{
    struct rcv_later *l = arg;

    rcv_send(l->req, 200, "text/plain", "too late");
    event_free(l->ev);
    free(l);
}

static void
rcv_sign(const struct rcv *r, const char *body, size_t len, char out[72])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    HMAC(EVP_sha256(), r->secret, (int)strlen(r->secret),
         (const unsigned char *)body, len, md, &n);
    strcpy(out, "sha256=");
    for (unsigned i = 0; i < n && i < 32; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

/* 1: valid, 0: wrong, -1: no header. */
static int
rcv_sig(const struct rcv *r, const char *hdr, const char *body, size_t len)
{
    char want[7 + 64 + 1];

    if (!hdr)
        return -1;
    rcv_sign(r, body, len, want);
    return strlen(hdr) == strlen(want) &&
           CRYPTO_memcmp(hdr, want, strlen(want)) == 0;
}

static void rcv_on_request(struct evhttp_request *req, void *arg)
{
    struct rcv *r = arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    const char *path = evhttp_request_get_uri(req);
    size_t len = evbuffer_get_length(in);
    char *body = calloc(1, len + 1), text[4200];
    json_t *doc, *line;
    int sig;

    evbuffer_copyout(in, body, len);
    doc = json_loadb(body, len, 0, NULL);
    sig = rcv_sig(r,
                  evhttp_find_header(evhttp_request_get_input_headers(req),
                                     "X-Xmta-Signature"),
                  body, len);
    line = json_pack(
        "{s:s, s:s, s:o, s:o}", "method",
        evhttp_request_get_command(req) == EVHTTP_REQ_GET ? "GET" : "POST",
        "path", path, "sig_ok", sig < 0 ? json_null() : json_boolean(sig),
        "body", doc ? json_incref(doc) : json_null());
    json_dumpf(line, r->log, JSON_COMPACT);
    fputc('\n', r->log);
    fflush(r->log);
    json_decref(line);

    if (strcmp(path, "/reply") == 0) {
        if (sig != 1) {
            rcv_send(req, 401, "text/plain", "bad signature");
        } else {
            snprintf(text, sizeof(text), "pong: %s",
                     json_string_value(json_object_get(doc, "text")));
            rcv_send(req, 200, "text/plain; charset=utf-8", text);
        }
    } else if (strcmp(path, "/fail") == 0) {
        rcv_send(req, 500, "text/plain", "internal error");
    } else if (strcmp(path, "/slow") == 0) {
        struct rcv_later *l = calloc(1, sizeof(*l));
        struct timeval tv = {r->slow_ms / 1000, (r->slow_ms % 1000) * 1000};

        l->req = req;
        l->ev = evtimer_new(r->base, rcv_on_later, l);
        evtimer_add(l->ev, &tv);
    } else if (strncmp(path, "/file/", 6) == 0) {
        long n = strtol(path + 6, NULL, 10);
        struct evbuffer *b = evbuffer_new();

        for (long i = 0; i < n && n <= (1 << 20); i++) {
            unsigned char ch = (unsigned char)(i * 7 + 3);

            evbuffer_add(b, &ch, 1);
        }
        evhttp_add_header(evhttp_request_get_output_headers(req),
                          "Content-Type", "image/png");
        evhttp_send_reply(req, 200, "OK", b);
        evbuffer_free(b);
    } else if (strcmp(path, "/am/api/v2/silences") == 0) {
        snprintf(text, sizeof(text), "{\"silenceID\":\"sil-%u\"}",
                 ++r->silences);
        rcv_send(req, 200, "application/json", text);
    } else if (strncmp(path, "/am/api/v2/alerts", 17) == 0) {
        rcv_send(req, 200, "application/json",
                 "[{\"labels\":{\"alertname\":\"DiskFull\",\"instance\":"
                 "\"db1:9100\"},\"annotations\":{\"summary\":\"Disk 95% "
                 "full\"}},{\"labels\":{\"alertname\":\"Watchdog\"},"
                 "\"annotations\":{}}]");
    } else {
        rcv_send(req, 404, "text/plain", "not found");
    }
    json_decref(doc);
    free(body);
}

int main(int argc, char **argv)
{
    struct rcv r = {0};
    struct evhttp *http;
    const char *log = NULL;
    long port = 0;

    r.slow_ms = 10000;
    if (argc == 5 && strcmp(argv[1], "--secret") == 0 &&
        strcmp(argv[3], "--sign") == 0) {
        static char data[1 << 20];
        FILE *f = fopen(argv[4], "rb");
        size_t n = f ? fread(data, 1, sizeof(data), f) : 0;
        char sig[7 + 64 + 1];

        if (!f)
            return 1;
        fclose(f);
        r.secret = argv[2];
        rcv_sign(&r, data, n, sig);
        printf("%s\n", sig);
        return 0;
    }
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            port = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--secret") == 0)
            r.secret = argv[i + 1];
        else if (strcmp(argv[i], "--log") == 0)
            log = argv[i + 1];
        else if (strcmp(argv[i], "--slow-ms") == 0)
            r.slow_ms = strtol(argv[i + 1], NULL, 10);
    }
    if (port <= 0 || port > 65535 || !r.secret || !log) {
        fprintf(stderr,
                "usage: %s --port P --secret KEY --log FILE "
                "[--slow-ms MS]\n",
                argv[0]);
        return 2;
    }
    if (!(r.log = fopen(log, "a"))) {
        perror(log);
        return 1;
    }
    r.base = event_base_new();
    http = evhttp_new(r.base);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    evhttp_set_gencb(http, rcv_on_request, &r);
    if (evhttp_bind_socket(http, "127.0.0.1", (unsigned short)port) != 0) {
        fprintf(stderr, "cannot listen on 127.0.0.1:%ld\n", port);
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    event_base_dispatch(r.base);
    evhttp_free(http);
    event_base_free(r.base);
    fclose(r.log);
    return 0;
}
