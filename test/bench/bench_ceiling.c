/* SPDX-License-Identifier: MIT */
/* bench_ceiling.c -- the ingest ceiling: a minimal evhttp server on the
 * same libevent as xmta that answers every request 202 with a tiny JSON
 * body and does nothing else. Prints "port N" once listening; SIGTERM
 * ends it.
 *   bench_ceiling [PORT]   (0 or absent: any free port on 127.0.0.1) */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

static void on_request(struct evhttp_request *req, void *arg)
{
    static const char body[] = "{\"ok\":true}\n";
    struct evbuffer *out = evhttp_request_get_output_buffer(req);

    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    evbuffer_add(out, body, sizeof(body) - 1);
    evhttp_send_reply(req, 202, "Accepted", NULL);
}

static void on_term(evutil_socket_t sig, short what, void *arg)
{
    event_base_loopexit(arg, NULL);
}

int main(int argc, char **argv)
{
    struct event_base *base;
    struct evhttp *eh;
    struct evhttp_bound_socket *bound;
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);
    struct event *term;
    long port = 0;
    char *end;

    if (argc > 2 || (argc == 2 && ((port = strtol(argv[1], &end, 10)) < 0 ||
                                   port > 65535 || *end))) {
        fprintf(stderr, "usage: bench_ceiling [PORT]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (!(base = event_base_new()) || !(eh = evhttp_new(base)))
        return 1;
    evhttp_set_gencb(eh, on_request, NULL);
    if (!(bound = evhttp_bind_socket_with_handle(eh, "127.0.0.1",
                                                 (unsigned short)port))) {
        fprintf(stderr, "bench_ceiling: cannot listen\n");
        return 1;
    }
    if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sin,
                    &sl) != 0)
        return 1;
    term = evsignal_new(base, SIGTERM, on_term, base);
    evsignal_add(term, NULL);
    printf("port %u\n", (unsigned)ntohs(sin.sin_port));
    fflush(stdout);
    event_base_dispatch(base);
    evhttp_free(eh);
    event_free(term);
    event_base_free(base);
    return 0;
}
