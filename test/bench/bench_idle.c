/* SPDX-License-Identifier: MIT */
/* bench_idle.c -- idle keep-alive connections for the memory bench: opens
 * N connections to 127.0.0.1:PORT, posts one request on each (keep-alive)
 * and reads its answer, then holds them all open, idle, until SIGTERM.
 * Prints "open=N answered=N" once they are all idle. (Raise ulimit -n.)
 *   bench_idle PORT PATH N */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <arpa/inet.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    stop = 1;
}

int main(int argc, char **argv)
{
    struct sockaddr_in sin = {0};
    struct timeval tv = {5, 0};
    char req[1024], buf[4096];
    long n, port, opened = 0, answered = 0;
    int *fds, len;
    char *end;

    if (argc != 4) {
        fprintf(stderr, "usage: bench_idle PORT PATH N\n");
        return 2;
    }
    port = strtol(argv[1], &end, 10);
    if (*end || port < 1 || port > 65535)
        return 2;
    n = strtol(argv[3], &end, 10);
    if (*end || n < 1 || n > 1000000)
        return 2;
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    signal(SIGPIPE, SIG_IGN);
    len = snprintf(req, sizeof(req),
                   "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Content-Type: text/plain\r\nContent-Length: 4\r\n\r\n"
                   "idle",
                   argv[2]);
    if (!(fds = calloc((size_t)n, sizeof(*fds))))
        return 1;
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (long i = 0; i < n; i++) {
        ssize_t r;

        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[i] < 0) {
            fprintf(stderr, "bench_idle: socket: %s (after %ld)\n",
                    strerror(errno), i);
            break;
        }
        setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (connect(fds[i], (struct sockaddr *)&sin, sizeof(sin)) != 0) {
            fprintf(stderr, "bench_idle: connect: %s (after %ld)\n",
                    strerror(errno), i);
            close(fds[i]);
            fds[i] = -1;
            break;
        }
        opened++;
        if (write(fds[i], req, (size_t)len) != len)
            continue;
        /* The answer is small: one read has its status line. */
        r = read(fds[i], buf, sizeof(buf) - 1);
        if (r > 12 && strncmp(buf, "HTTP/1.1 2", 10) == 0)
            answered++;
    }
    printf("open=%ld answered=%ld\n", opened, answered);
    fflush(stdout);
    while (!stop)
        pause();
    for (long i = 0; i < opened; i++)
        close(fds[i]);
    free(fds);
    return 0;
}
