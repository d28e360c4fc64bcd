/* SPDX-License-Identifier: MIT */
/* bench_sink.c -- a sink XMPP server for the benchmark: the fake server
 * (handshake, answers pings, so acknowledgements flow) recording only
 * names, on 127.0.0.1. Prints "port N" once listening; prints the number
 * of messages taken when SIGTERM ends it.
 *   bench_sink DOMAIN SECRET */
#include <signal.h>
#include <stdio.h>

#include <event2/event.h>

#include "test/fake/fake_server.h"

static void on_term(evutil_socket_t sig, short what, void *arg)
{
    event_base_loopexit(arg, NULL);
}

int main(int argc, char **argv)
{
    struct fake_opts o = {0};
    struct event_base *base;
    struct fake_server *fs;
    struct event *term;

    if (argc != 3) {
        fprintf(stderr, "usage: bench_sink DOMAIN SECRET\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    o.domain = argv[1];
    o.secret = argv[2];
    o.light = 1;
    if (!base || !(fs = fake_new(base, &o))) {
        fprintf(stderr, "bench_sink: cannot listen\n");
        return 1;
    }
    term = evsignal_new(base, SIGTERM, on_term, base);
    evsignal_add(term, NULL);
    printf("port %u\n", (unsigned)fake_port(fs));
    fflush(stdout);
    event_base_dispatch(base);
    printf("messages %zu\n", fake_count_named(fs, "message", NULL, NULL));
    fake_free(fs);
    event_free(term);
    event_base_free(base);
    return 0;
}
