/* SPDX-License-Identifier: MIT */
/* bench_post.c -- an HTTP POST load generator for the end-to-end bench:
 * CONNS keep-alive connections each post BODY to PATH, one request at a
 * time, for SECONDS (or until TOTAL requests when TOTAL > 0). "@TS@" in
 * BODY becomes "xmtabench:NANOS;" (CLOCK_REALTIME at sending), which
 * bench_client reads back. Prints one line:
 *   sent=N ok=N non2xx=N errors=N seconds=S per_s=R p50_ms=A p99_ms=B
 *   bench_post PORT PATH CONTENT-TYPE BODY CONNS SECONDS [TOTAL] */
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
    const char *path, *ctype, *pre, *post;
    unsigned short port;
    long total, sent, done, ok, non2xx, errors;
    int stopping;
    double *lat;
    size_t n_lat, cap_lat;
};

struct client {
    struct bench *b;
    struct evhttp_connection *conn;
    struct timespec t_sent;
};

static void client_next(struct client *cl);

static double ts_diff_ms(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) * 1e3 +
           (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

static void on_answer(struct evhttp_request *req, void *arg)
{
    struct client *cl = arg;
    struct bench *b = cl->b;
    struct timespec now;
    int code = req ? evhttp_request_get_response_code(req) : 0;

    clock_gettime(CLOCK_MONOTONIC, &now);
    b->done++;
    if (code >= 200 && code < 300)
        b->ok++;
    else if (code)
        b->non2xx++;
    else
        b->errors++;
    if (b->n_lat < b->cap_lat)
        b->lat[b->n_lat++] = ts_diff_ms(&cl->t_sent, &now);
    if (b->stopping || (b->total && b->sent >= b->total)) {
        if (b->done == b->sent)
            event_base_loopexit(b->base, NULL);
        return;
    }
    client_next(cl);
}

static void client_next(struct client *cl)
{
    struct bench *b = cl->b;
    struct evhttp_request *req = evhttp_request_new(on_answer, cl);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    clock_gettime(CLOCK_MONOTONIC, &cl->t_sent);
    evhttp_add_header(h, "Host", "127.0.0.1");
    evhttp_add_header(h, "Content-Type", b->ctype);
    evbuffer_add(out, b->pre, strlen(b->pre));
    if (b->post) {
        evbuffer_add_printf(out, "xmtabench:%lld;",
                            (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
        evbuffer_add(out, b->post, strlen(b->post));
    }
    b->sent++;
    if (evhttp_make_request(cl->conn, req, EVHTTP_REQ_POST, b->path) != 0) {
        fprintf(stderr, "bench_post: cannot send a request\n");
        exit(1);
    }
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    struct bench *b = arg;

    b->stopping = 1;
    if (b->done == b->sent)
        event_base_loopexit(b->base, NULL);
}

static long arg_long(const char *s, long min, long max)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max) {
        fprintf(stderr, "bench_post: bad number '%s'\n", s);
        exit(2);
    }
    return v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    struct bench b = {0};
    struct client *cls;
    struct timespec t0, t1;
    struct timeval dur;
    struct event *stop;
    char *body, *mark;
    long conns, seconds;
    double secs;

    if (argc != 7 && argc != 8) {
        fprintf(stderr, "usage: bench_post PORT PATH CONTENT-TYPE BODY CONNS "
                        "SECONDS [TOTAL]\n");
        return 2;
    }
    b.port = (unsigned short)arg_long(argv[1], 1, 65535);
    b.path = argv[2];
    b.ctype = argv[3];
    body = strdup(argv[4]);
    if (body && (mark = strstr(body, "@TS@"))) {
        *mark = '\0';
        b.post = mark + 4;
    }
    b.pre = body;
    conns = arg_long(argv[5], 1, 10000);
    seconds = arg_long(argv[6], 1, 3600);
    b.total = argc == 8 ? arg_long(argv[7], 0, 100000000) : 0;
    b.cap_lat = 4000000;
    b.base = event_base_new();
    if (!body || !b.base || !(cls = calloc((size_t)conns, sizeof(*cls))) ||
        !(b.lat = malloc(b.cap_lat * sizeof(*b.lat))))
        return 1;
    dur.tv_sec = seconds;
    dur.tv_usec = 0;
    stop = evtimer_new(b.base, on_stop, &b);
    evtimer_add(stop, &dur);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < conns; i++) {
        cls[i].b = &b;
        cls[i].conn =
            evhttp_connection_base_new(b.base, NULL, "127.0.0.1", b.port);
        evhttp_connection_set_timeout(cls[i].conn, 30);
        client_next(&cls[i]);
    }
    event_base_dispatch(b.base);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = ts_diff_ms(&t0, &t1) / 1e3;
    qsort(b.lat, b.n_lat, sizeof(*b.lat), cmp_double);
    printf("sent=%ld ok=%ld non2xx=%ld errors=%ld seconds=%.3f per_s=%.0f "
           "p50_ms=%.2f p99_ms=%.2f\n",
           b.sent, b.ok, b.non2xx, b.errors, secs,
           secs > 0 ? (double)b.ok / secs : 0.0,
           b.n_lat ? b.lat[b.n_lat / 2] : 0,
           b.n_lat ? b.lat[b.n_lat * 99 / 100] : 0);
    for (long i = 0; i < conns; i++)
        evhttp_connection_free(cls[i].conn);
    free(cls);
    free(b.lat);
    free(body);
    event_free(stop);
    event_base_free(b.base);
    return 0;
}
