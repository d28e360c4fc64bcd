/* SPDX-License-Identifier: MIT */
/* tcp_proxy.c -- a loopback TCP proxy for the fault tests: forwards
 * 127.0.0.1:LISTEN to 127.0.0.1:TARGET. SIGUSR1 freezes every connection
 * open at that moment: nothing more is forwarded either way, yet nothing
 * is closed (a link gone silent). Later connections forward normally.
 * Prints "ready" on stdout once listening; SIGTERM ends it.
 *   tcp_proxy LISTEN_PORT TARGET_PORT */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

struct pair {
    struct bufferevent *a, *b; /* client side, server side */
    int frozen;
    struct pair *next;
};

static struct event_base *g_base;
static struct pair *g_pairs;
static unsigned short g_target;

static void pair_free(struct pair *p)
{
    struct pair **pp;

    for (pp = &g_pairs; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    bufferevent_free(p->a);
    bufferevent_free(p->b);
    free(p);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct pair *p = arg;
    struct bufferevent *to = bev == p->a ? p->b : p->a;

    if (p->frozen)
        return;
    bufferevent_write_buffer(to, bufferevent_get_input(bev));
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct pair *p = arg;

    if (what & BEV_EVENT_CONNECTED)
        return;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        if (p->frozen)
            return; /* silent: the other side learns nothing */
        pair_free(p);
    }
}

static void on_accept(struct evconnlistener *l,
                      evutil_socket_t fd,
                      struct sockaddr *sa,
                      int len,
                      void *arg)
{
    struct sockaddr_in to;
    struct pair *p = calloc(1, sizeof(*p));

    if (!p) {
        evutil_closesocket(fd);
        return;
    }
    p->a = bufferevent_socket_new(g_base, fd, BEV_OPT_CLOSE_ON_FREE);
    p->b = bufferevent_socket_new(g_base, -1, BEV_OPT_CLOSE_ON_FREE);
    memset(&to, 0, sizeof(to));
    to.sin_family = AF_INET;
    to.sin_port = htons(g_target);
    to.sin_addr.s_addr = htonl(0x7f000001);
    bufferevent_setcb(p->a, on_read, NULL, on_event, p);
    bufferevent_setcb(p->b, on_read, NULL, on_event, p);
    bufferevent_enable(p->a, EV_READ | EV_WRITE);
    bufferevent_enable(p->b, EV_READ | EV_WRITE);
    p->next = g_pairs;
    g_pairs = p;
    if (bufferevent_socket_connect(p->b, (struct sockaddr *)&to, sizeof(to)) !=
        0)
        pair_free(p);
}

static void on_usr1(evutil_socket_t sig, short what, void *arg)
{
    unsigned n = 0;

    for (struct pair *p = g_pairs; p; p = p->next) {
        if (!p->frozen) {
            p->frozen = 1;
            bufferevent_disable(p->a, EV_READ);
            bufferevent_disable(p->b, EV_READ);
            n++;
        }
    }
    fprintf(stderr, "tcp_proxy: froze %u connection(s)\n", n);
}

static void on_term(evutil_socket_t sig, short what, void *arg)
{
    event_base_loopexit(g_base, NULL);
}

static int port_arg(const char *s, unsigned short *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < 1 || v > 65535)
        return -1;
    *out = (unsigned short)v;
    return 0;
}

int main(int argc, char **argv)
{
    struct sockaddr_in sin;
    struct evconnlistener *l;
    struct event *usr1, *term;
    unsigned short port;

    if (argc != 3 || port_arg(argv[1], &port) || port_arg(argv[2], &g_target)) {
        fprintf(stderr, "usage: tcp_proxy LISTEN_PORT TARGET_PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    g_base = event_base_new();
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(0x7f000001);
    l = evconnlistener_new_bind(g_base, on_accept, NULL,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
                                (struct sockaddr *)&sin, sizeof(sin));
    if (!l) {
        fprintf(stderr, "tcp_proxy: cannot listen on %u: %s\n", port,
                strerror(errno));
        return 1;
    }
    usr1 = evsignal_new(g_base, SIGUSR1, on_usr1, NULL);
    term = evsignal_new(g_base, SIGTERM, on_term, NULL);
    evsignal_add(usr1, NULL);
    evsignal_add(term, NULL);
    printf("ready\n");
    fflush(stdout);
    event_base_dispatch(g_base);
    while (g_pairs)
        pair_free(g_pairs);
    evconnlistener_free(l);
    event_free(usr1);
    event_free(term);
    event_base_free(g_base);
    return 0;
}
