/* SPDX-License-Identifier: MIT */
/* bench_client.c -- a fast counting XMPP client for the end-to-end bench:
 * logs in over plaintext c2s (SASL PLAIN, bind, presence), prints "ready",
 * then counts the messages whose body carries "xmtabench:NANOS;" (the
 * sender's CLOCK_REALTIME) and measures each one's latency ("xmtabench:0;"
 * counts without a latency: bulk load beside a timestamped probe). It stops
 * after EXPECT messages, or IDLE seconds without one once the first came, or
 * MAX seconds in all (or SIGTERM), and prints one line:
 *   received=N seconds=S per_s=R p50_ms=A p99_ms=B max_ms=C
 * Raw sockets and memmem, not a full XML parser: it only has to keep up.
 *   bench_client HOST PORT USER DOMAIN PASSWORD EXPECT IDLE MAX */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#define MARK "xmtabench:"
#define MARK_LEN (sizeof(MARK) - 1)
#define BUF_SIZE (1 << 18)

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    stop = 1;
}

static double now_s(clockid_t clk)
{
    struct timespec ts;

    clock_gettime(clk, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

_Noreturn static void die(const char *what)
{
    fprintf(stderr, "bench_client: %s\n", what);
    exit(1);
}

static void send_all(int fd, const char *s)
{
    size_t n = strlen(s), off = 0;

    while (off < n) {
        ssize_t w = write(fd, s + off, n - off);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("write failed");
        off += (size_t)w;
    }
}

/* Reads into buf until it holds needle (or, when alt, alt: returns 2). */
static int read_until(int fd, const char *needle, const char *alt)
{
    static char buf[65536];
    size_t len = 0;

    for (;;) {
        ssize_t r;

        buf[len] = '\0';
        if (strstr(buf, needle))
            return 1;
        if (alt && strstr(buf, alt))
            return 2;
        if (len + 1 >= sizeof(buf))
            die("login reply too long");
        r = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (r <= 0)
            die("connection closed during login");
        len += (size_t)r;
    }
}

static void b64(const unsigned char *in, size_t n, char *out)
{
    static const char t[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;

    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;

        if (i + 1 < n)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = t[(v >> 18) & 63];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? t[v & 63] : '=';
    }
    out[o] = '\0';
}

static long arg_long(const char *s, long min, long max)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max)
        die("bad number");
    return v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    struct addrinfo hints = {0}, *res;
    char open[512], auth[512], plain[256], *buf;
    size_t len = 0, n_lat = 0, cap_lat = 1 << 16, pn;
    double *lat, t_first = 0, t_last = 0, t_start, idle, max_s, t_ready;
    long expect, received = 0;
    int fd;

    if (argc != 9) {
        fprintf(stderr, "usage: bench_client HOST PORT USER DOMAIN PASSWORD "
                        "EXPECT IDLE MAX\n");
        return 2;
    }
    expect = arg_long(argv[6], 0, 1000000000);
    idle = (double)arg_long(argv[7], 1, 3600);
    max_s = (double)arg_long(argv[8], 1, 36000);
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    signal(SIGPIPE, SIG_IGN);
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(argv[1], argv[2], &hints, &res) != 0)
        die("bad address");
    if ((fd = socket(res->ai_family, SOCK_STREAM, 0)) < 0 ||
        connect(fd, res->ai_addr, res->ai_addrlen) != 0)
        die("cannot connect");
    freeaddrinfo(res);
    snprintf(open, sizeof(open),
             "<?xml version='1.0'?><stream:stream to='%s' "
             "xmlns='jabber:client' "
             "xmlns:stream='http://etherx.jabber.org/streams' "
             "version='1.0'>",
             argv[4]);
    send_all(fd, open);
    read_until(fd, "</stream:features>", NULL);
    pn = (size_t)snprintf(plain, sizeof(plain), "%c%s%c%s", 0, argv[3], 0,
                          argv[5]);
    if (pn >= sizeof(plain) / 2)
        die("user or password too long");
    b64((unsigned char *)plain, pn, plain + pn + 1);
    snprintf(auth, sizeof(auth),
             "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
             "mechanism='PLAIN'>%s</auth>",
             plain + pn + 1);
    send_all(fd, auth);
    if (read_until(fd, "<success", "<failure") != 1)
        die("authentication failed");
    send_all(fd, open);
    read_until(fd, "</stream:features>", NULL);
    send_all(fd, "<iq type='set' id='b1'><bind "
                 "xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>bench"
                 "</resource></bind></iq>");
    read_until(fd, "</iq>", NULL);
    send_all(fd, "<iq type='set' id='s1'><session "
                 "xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>"
                 "<presence/>");
    printf("ready\n");
    fflush(stdout);

    if (!(buf = malloc(BUF_SIZE + 1)) ||
        !(lat = malloc(cap_lat * sizeof(*lat))))
        die("out of memory");
    t_start = now_s(CLOCK_MONOTONIC);
    t_ready = now_s(CLOCK_REALTIME);
    while (!stop && (expect == 0 || received < expect)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        double t = now_s(CLOCK_MONOTONIC), wall;
        char *s, *keep;
        ssize_t r;
        int rc;

        if (t - t_start > max_s || (received && t - t_last > idle))
            break;
        rc = poll(&p, 1, 200);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            continue;
        r = read(fd, buf + len, BUF_SIZE - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        buf[len] = '\0';
        t = now_s(CLOCK_MONOTONIC);
        wall = now_s(CLOCK_REALTIME);
        s = buf;
        keep = NULL;
        while ((s = memmem(s, len - (size_t)(s - buf), MARK, MARK_LEN))) {
            char *end, *semi = memchr(s, ';', len - (size_t)(s - buf));
            double sent;

            if (!semi) {
                keep = s; /* the rest comes with the next read */
                break;
            }
            sent = (double)strtoull(s + MARK_LEN, &end, 10) / 1e9;
            /* older marks: offline messages of an earlier run; a zero
             * mark counts without a latency (bulk load, not a probe) */
            if (end == semi && (sent == 0 || sent >= t_ready - 1.0)) {
                if (sent != 0 && n_lat == cap_lat) {
                    cap_lat *= 2;
                    if (!(lat = realloc(lat, cap_lat * sizeof(*lat))))
                        die("out of memory");
                }
                if (sent != 0)
                    lat[n_lat++] = (wall - sent) * 1e3;
                if (!received)
                    t_first = t;
                t_last = t;
                received++;
            }
            s = semi + 1;
        }
        if (!keep) /* a mark may be split at the end */
            keep = len > MARK_LEN ? buf + len - MARK_LEN : buf;
        len -= (size_t)(keep - buf);
        memmove(buf, keep, len);
    }
    qsort(lat, n_lat, sizeof(*lat), cmp_double);
    printf("received=%ld seconds=%.3f per_s=%.0f p50_ms=%.1f p99_ms=%.1f "
           "max_ms=%.1f\n",
           received, t_last - t_first,
           t_last > t_first ? (double)(received - 1) / (t_last - t_first) : 0,
           n_lat ? lat[n_lat / 2] : 0, n_lat ? lat[n_lat * 99 / 100] : 0,
           n_lat ? lat[n_lat - 1] : 0);
    send_all(fd, "</stream:stream>");
    close(fd);
    free(lat);
    free(buf);
    return 0;
}
