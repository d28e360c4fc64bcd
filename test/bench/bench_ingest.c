/* SPDX-License-Identifier: MIT */
/* bench_ingest.c -- a webhook load generator: C keep-alive connections
 * post N small text webhooks in all, as fast as answers come back, and it
 * prints accepted (202) webhooks per second.
 *   bench_ingest PORT TOKEN CLIENTS N */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

struct bench {
    struct event_base *base;
    const char *token;
    unsigned short port;
    long total, sent, done, accepted, other;
};

struct client {
    struct bench *b;
    struct evhttp_connection *conn;
};

static void client_next(struct client *cl);

static void on_answer(struct evhttp_request *req, void *arg)
{
    struct client *cl = arg;
    struct bench *b = cl->b;

    b->done++;
    if (req && evhttp_request_get_response_code(req) == 202)
        b->accepted++;
    else
        b->other++;
    if (b->done == b->total)
        event_base_loopexit(b->base, NULL);
    else
        client_next(cl);
}

static void client_next(struct client *cl)
{
    struct bench *b = cl->b;
    struct evhttp_request *req;
    char path[512], body[64];
    int n;

    if (b->sent >= b->total)
        return;
    req = evhttp_request_new(on_answer, cl);
    n = snprintf(body, sizeof(body), "bench %ld", b->sent);
    snprintf(path, sizeof(path), "/hook/%s", b->token);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host",
                      "127.0.0.1");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain");
    evbuffer_add(evhttp_request_get_output_buffer(req), body, (size_t)n);
    b->sent++;
    if (evhttp_make_request(cl->conn, req, EVHTTP_REQ_POST, path) != 0) {
        fprintf(stderr, "bench_ingest: cannot send a request\n");
        exit(1);
    }
}

static long arg_long(const char *s, long min, long max)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max) {
        fprintf(stderr, "bench_ingest: bad number '%s'\n", s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    struct bench b = {0};
    struct client *cls;
    struct timespec t0, t1;
    long clients;
    double secs;

    if (argc != 5) {
        fprintf(stderr, "usage: bench_ingest PORT TOKEN CLIENTS N\n");
        return 2;
    }
    b.port = (unsigned short)arg_long(argv[1], 1, 65535);
    b.token = argv[2];
    clients = arg_long(argv[3], 1, 1000);
    b.total = arg_long(argv[4], 1, 100000000);
    b.base = event_base_new();
    if (!b.base || !(cls = calloc((size_t)clients, sizeof(*cls))))
        return 1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < clients; i++) {
        cls[i].b = &b;
        cls[i].conn =
            evhttp_connection_base_new(b.base, NULL, "127.0.0.1", b.port);
        evhttp_connection_set_timeout(cls[i].conn, 30);
        client_next(&cls[i]);
    }
    event_base_dispatch(b.base);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) +
           (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("clients=%ld requests=%ld accepted=%ld other=%ld seconds=%.3f "
           "accepted_per_s=%.0f\n",
           clients, b.total, b.accepted, b.other, secs,
           secs > 0 ? (double)b.accepted / secs : 0.0);
    for (long i = 0; i < clients; i++)
        evhttp_connection_free(cls[i].conn);
    free(cls);
    event_base_free(b.base);
    return b.other ? 1 : 0;
}
