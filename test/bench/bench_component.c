/* SPDX-License-Identifier: MIT */
/* bench_component.c -- the component ceiling: a minimal XEP-0114
 * component that handshakes and then writes pre-serialized chat messages
 * to one user as fast as the socket takes them, for SECONDS (each body
 * carries "xmtabench:NANOS;" for bench_client). No component can deliver
 * faster through that server. Prints "sent=N seconds=S per_s=R". With
 * "xmta" the messages have the shape of xmta's (a UUID id, the body the
 * bench posts, XEP-0359 origin-id), which costs the server more to route:
 * the same ceiling for xmta's stanzas.
 *   bench_component HOST PORT DOMAIN SECRET TO SECONDS [xmta] */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include <openssl/sha.h>

#define BATCH 64 /* messages per write */

_Noreturn static void die(const char *what)
{
    fprintf(stderr, "bench_component: %s\n", what);
    exit(1);
}

static double now_s(clockid_t clk)
{
    struct timespec ts;

    clock_gettime(clk, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void send_all(int fd, const char *s, size_t n)
{
    size_t off = 0;

    while (off < n) {
        ssize_t w = write(fd, s + off, n - off);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("write failed (the server closed the stream?)");
        off += (size_t)w;
    }
}

/* Reads until buf holds needle; returns the bytes read. */
static size_t read_until(int fd, char *buf, size_t size, const char *needle)
{
    size_t len = 0;

    for (;;) {
        ssize_t r;

        buf[len] = '\0';
        if (strstr(buf, needle))
            return len;
        if (len + 1 >= size)
            die("reply too long");
        r = read(fd, buf + len, size - 1 - len);
        if (r <= 0)
            die("connection closed during the handshake");
        len += (size_t)r;
    }
}

int main(int argc, char **argv)
{
    struct addrinfo hints = {0}, *res;
    char buf[8192], id[256], *p, *q, hs[512], *batch;
    unsigned char md[SHA_DIGEST_LENGTH];
    size_t cap = BATCH * 512;
    double secs, t0, t;
    long sent = 0;
    char *end;
    int fd, shaped;

    if (argc != 7 && !(argc == 8 && strcmp(argv[7], "xmta") == 0)) {
        fprintf(stderr, "usage: bench_component HOST PORT DOMAIN SECRET TO "
                        "SECONDS [xmta]\n");
        return 2;
    }
    shaped = argc == 8;
    secs = strtod(argv[6], &end);
    if (*end || secs <= 0 || secs > 3600)
        die("bad SECONDS");
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(argv[1], argv[2], &hints, &res) != 0)
        die("bad address");
    if ((fd = socket(res->ai_family, SOCK_STREAM, 0)) < 0 ||
        connect(fd, res->ai_addr, res->ai_addrlen) != 0)
        die("cannot connect");
    freeaddrinfo(res);
    snprintf(buf, sizeof(buf),
             "<?xml version='1.0'?><stream:stream "
             "xmlns='jabber:component:accept' "
             "xmlns:stream='http://etherx.jabber.org/streams' to='%s'>",
             argv[3]);
    send_all(fd, buf, strlen(buf));
    read_until(fd, buf, sizeof(buf), ">");
    /* the stream header's id='...' or id="..." */
    if (!(p = strstr(buf, " id=")) || (p[4] != '\'' && p[4] != '"') ||
        !(q = strchr(p + 5, p[4])) || (size_t)(q - p - 5) >= sizeof(id))
        die("no stream id");
    memcpy(id, p + 5, (size_t)(q - p - 5));
    id[q - p - 5] = '\0';
    snprintf(buf, sizeof(buf), "%s%s", id, argv[4]);
    SHA1((unsigned char *)buf, strlen(buf), md);
    p = hs + snprintf(hs, sizeof(hs), "<handshake>");
    for (size_t i = 0; i < sizeof(md); i++)
        p += sprintf(p, "%02x", md[i]);
    strcpy(p, "</handshake>");
    send_all(fd, hs, strlen(hs));
    read_until(fd, buf, sizeof(buf), "<handshake");

    if (!(batch = malloc(cap)))
        die("out of memory");
    t0 = now_s(CLOCK_MONOTONIC);
    do {
        struct timespec ts;
        size_t n = 0;
        ssize_t r;

        clock_gettime(CLOCK_REALTIME, &ts);
        for (int i = 0; i < BATCH; i++, sent++) {
            long long nanos = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;

            if (shaped) /* what xmta writes for "bench @TS@" */
                n += (size_t)snprintf(
                    batch + n, cap - n,
                    "<message type='chat' from='bench@%s' to='%s' "
                    "id='%08lx-0000-4000-8000-000000000000'>"
                    "<body>bench xmtabench:%lld;</body>"
                    "<origin-id xmlns='urn:xmpp:sid:0' "
                    "id='%08lx-0000-4000-8000-000000000000'/></message>",
                    argv[3], argv[5], sent, nanos, sent);
            else
                n += (size_t)snprintf(
                    batch + n, cap - n,
                    "<message type='chat' from='bench@%s' to='%s' id='b%ld'>"
                    "<body>xmtabench:%lld;</body></message>",
                    argv[3], argv[5], sent, nanos);
        }
        send_all(fd, batch, n);
        /* drop whatever the server says (errors) without blocking */
        while ((r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
            ;
        t = now_s(CLOCK_MONOTONIC);
    } while (t - t0 < secs);
    printf("sent=%ld seconds=%.3f per_s=%.0f\n", sent, t - t0,
           (double)sent / (t - t0));
    send_all(fd, "</stream:stream>", 16);
    sleep(1);
    close(fd);
    free(batch);
    return 0;
}
