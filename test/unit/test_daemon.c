/* SPDX-License-Identifier: MIT */
/* test_daemon.c -- the xmta binary under a fake systemd. NOTIFY_SOCKET gets
 * exactly READY=1 once it listens, RELOADING=1 then READY=1 around SIGHUP,
 * STOPPING=1 on SIGTERM and nothing else, each datagram exactly those bytes
 * and sent by xmta's own pid (SCM_CREDENTIALS, what systemd checks for
 * NotifyAccess=main), and it exits 0. Four runs: NOTIFY_SOCKET a path, an
 * abstract socket ("@name"), unset (runs, reloads and stops without a
 * word about notify) and not a socket address (a warning, never fatal).
 * With log = syslog and -v its log lines reach the test's syslog socket
 * ($XMTA_SYSLOG_SOCKET) in the "level area message" form and neither they
 * nor stderr carry the secret or the token. No XMPP server: the component
 * port refuses.
 * usage: test_daemon PATH-TO-XMTA */
#define _GNU_SOURCE /* struct ucred, SCM_CREDENTIALS */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#define SECRET "component-secret-XYZZY-4711"
#define TOKEN "TOKENtokenTOKEN0123456789abcdefgh"

static int failures;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);               \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            failures++;                                                        \
        }                                                                      \
    } while (0)

enum run_mode {
    RUN_PATH,     /* NOTIFY_SOCKET=/tmp/.../notify */
    RUN_ABSTRACT, /* NOTIFY_SOCKET=@xmta-test-... */
    RUN_UNSET,    /* no NOTIFY_SOCKET */
    RUN_BAD,      /* NOTIFY_SOCKET=notify (neither '/' nor '@') */
    RUN_MODE_COUNT
};

static const char *const run_names[RUN_MODE_COUNT] = {
    [RUN_PATH] = "path",
    [RUN_ABSTRACT] = "abstract",
    [RUN_UNSET] = "unset",
    [RUN_BAD] = "bad",
};

/* A datagram socket bound to path, or to the abstract name path + 1 when
 * path starts with '@' (as systemd reads NOTIFY_SOCKET). */
static int dgram_bind(const char *path)
{
    struct sockaddr_un sa;
    size_t n = strlen(path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (fd < 0 || n >= sizeof(sa.sun_path))
        goto fail;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, n);
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    else
        unlink(path);
    if (bind(fd, (struct sockaddr *)&sa,
             (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) != 0)
        goto fail;
    return fd;
fail:
    if (fd >= 0)
        close(fd);
    return -1;
}

/* Every syslog datagram, checked as it arrives (the socket's queue is
 * short: the daemon would send the rest to stderr). */
static int g_lines, g_started, g_reloaded, g_notify_warned;
static char g_started_want[64];

/* xmta, and its wait status once it has exited (the waits below stop
 * then instead of running into ctest's timeout). */
static pid_t g_child;
static int g_child_reaped, g_child_status;

static int child_alive(void)
{
    if (!g_child_reaped && g_child > 0 &&
        waitpid(g_child, &g_child_status, WNOHANG) == g_child)
        g_child_reaped = 1;
    return !g_child_reaped;
}

static void log_read(int lfd)
{
    char buf[8192];
    ssize_t n;

    while ((n = recv(lfd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
        const char *colon;

        buf[n] = '\0';
        g_lines++;
        CHECK(buf[0] == '<' && strchr(buf, '>'), "no priority: %s", buf);
        CHECK((colon = strstr(buf, "]: ")) != NULL, "no ident: %s", buf);
        if (colon)
            CHECK(strncmp(colon + 3, "error ", 6) == 0 ||
                      strncmp(colon + 3, "warn ", 5) == 0 ||
                      strncmp(colon + 3, "info ", 5) == 0 ||
                      strncmp(colon + 3, "debug ", 6) == 0,
                  "no level: %s", buf);
        CHECK(!strstr(buf, SECRET) && !strstr(buf, TOKEN), "secret in: %s",
              buf);
        g_started |= g_started_want[0] && strstr(buf, g_started_want) &&
                     strncmp(buf, "<30>", 4) == 0;
        g_reloaded |= strstr(buf, " info main reloaded: ") != NULL;
        g_notify_warned |= strstr(buf, " warn main notify ") != NULL;
    }
}

/* Waits up to ms for the next notification, reading log lines meanwhile.
 * 1 when it is exactly the bytes of want and came from pid; anything
 * else (another state, a trailing NUL, another sender) fails. */
static int notify_expect(int nfd, int lfd, pid_t pid, const char *want, int ms)
{
    for (int waited = 0; waited < ms; waited += 50) {
        struct pollfd p[2] = {{nfd, POLLIN, 0}, {lfd, POLLIN, 0}};
        union {
            struct cmsghdr h;
            char buf[CMSG_SPACE(sizeof(struct ucred))];
        } ctl;
        char buf[512];
        struct iovec iov = {buf, sizeof(buf) - 1};
        struct msghdr mh = {0};
        struct cmsghdr *c;
        struct ucred cred = {0};
        ssize_t n;

        if (poll(p, 2, 50) <= 0) {
            if (!child_alive()) /* what it sent is read by now */
                return 0;
            continue;
        }
        if (p[1].revents & POLLIN)
            log_read(lfd);
        if (!(p[0].revents & POLLIN))
            continue;
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof(ctl.buf);
        n = recvmsg(nfd, &mh, 0);
        if (n < 0) {
            CHECK(0, "recvmsg: %s", strerror(errno));
            return 0;
        }
        buf[n] = '\0';
        for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS)
                memcpy(&cred, CMSG_DATA(c), sizeof(cred));
        CHECK((size_t)n == strlen(want) && memcmp(buf, want, (size_t)n) == 0,
              "notify: got '%s' (%zd bytes) waiting for '%s'", buf, n, want);
        CHECK(cred.pid == pid, "notify: '%s' from pid %ld, not xmta's %ld", buf,
              (long)cred.pid, (long)pid);
        return (size_t)n == strlen(want) && memcmp(buf, want, (size_t)n) == 0 &&
               cred.pid == pid;
    }
    return 0;
}

/* Reads log lines until *flag is set or ms have passed. */
static int log_wait(int lfd, const int *flag, int ms)
{
    for (int waited = 0; waited < ms && !*flag; waited += 50) {
        struct pollfd p = {lfd, POLLIN, 0};

        if (poll(&p, 1, 50) > 0)
            log_read(lfd);
        else if (!child_alive())
            break;
    }
    return *flag;
}

/* One start, SIGHUP, SIGTERM of xmta in mode; its stderr goes to errf. */
static void run(const char *xmta, const char *dir, enum run_mode mode)
{
    char conf[128], nsock[128], lsock[128], errf[128], buf[8192];
    int nfd = -1, lfd, status = 0;
    FILE *f;
    pid_t pid;

    g_lines = g_started = g_reloaded = g_notify_warned = 0;
    snprintf(conf, sizeof(conf), "%s/xmta.conf", dir);
    if (mode == RUN_ABSTRACT)
        snprintf(nsock, sizeof(nsock), "@xmta-test-notify-%ld-%s",
                 (long)getpid(), dir + strlen(dir) - 6);
    else if (mode == RUN_BAD)
        snprintf(nsock, sizeof(nsock), "notify");
    else
        snprintf(nsock, sizeof(nsock), "%s/notify", dir);
    snprintf(lsock, sizeof(lsock), "%s/log", dir);
    snprintf(errf, sizeof(errf), "%s/stderr", dir);
    if (!(f = fopen(conf, "w"))) {
        CHECK(0, "cannot write %s", conf);
        return;
    }
    fprintf(f,
            "[component]\ndomain = notify.localhost\nserver = 127.0.0.1\n"
            "port = 15431\nsecret = " SECRET "\nlog = syslog\n"
            "[http]\nlisten = 127.0.0.1:0\n"
            "[spool]\npath = %s/spool\n"
            "[hook alerts]\ntoken = " TOKEN "\nto = juliet@localhost\n",
            dir);
    fclose(f);
    chmod(conf, 0600);
    if (mode == RUN_PATH || mode == RUN_ABSTRACT) {
        int on = 1;

        nfd = dgram_bind(nsock);
        CHECK(nfd >= 0 && setsockopt(nfd, SOL_SOCKET, SO_PASSCRED, &on,
                                     sizeof(on)) == 0,
              "notify socket %s: %s", nsock, strerror(errno));
    }
    lfd = dgram_bind(lsock);
    CHECK(lfd >= 0, "syslog socket %s: %s", lsock, strerror(errno));
    if ((nfd < 0 && (mode == RUN_PATH || mode == RUN_ABSTRACT)) || lfd < 0)
        return;
    if ((pid = fork()) == 0) {
        int efd = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0600);

        dup2(efd, 2);
        if (mode == RUN_UNSET)
            unsetenv("NOTIFY_SOCKET");
        else
            setenv("NOTIFY_SOCKET", nsock, 1);
        setenv("XMTA_SYSLOG_SOCKET", lsock, 1);
        unsetenv("JOURNAL_STREAM");
        execl(xmta, "xmta", "-v", "-c", conf, (char *)NULL);
        _exit(127);
    }
    CHECK(pid > 0, "fork");
    g_child = pid;
    g_child_reaped = 0;
    snprintf(g_started_want, sizeof(g_started_want),
             " xmta[%ld]: info main xmta ", (long)pid);
    if (nfd >= 0) {
        CHECK(notify_expect(nfd, lfd, pid, "READY=1", 15000),
              "READY=1 at start");
        kill(pid, SIGHUP);
        CHECK(notify_expect(nfd, lfd, pid, "RELOADING=1", 10000),
              "RELOADING=1");
        CHECK(notify_expect(nfd, lfd, pid, "READY=1", 10000),
              "READY=1 after reload");
        kill(pid, SIGTERM);
        CHECK(notify_expect(nfd, lfd, pid, "STOPPING=1", 10000), "STOPPING=1");
    } else {
        CHECK(log_wait(lfd, &g_started, 15000), "no started line");
        kill(pid, SIGHUP);
        CHECK(log_wait(lfd, &g_reloaded, 10000), "no reloaded line");
        kill(pid, SIGTERM);
    }
    for (int i = 0; i < 200 && child_alive(); i++) {
        log_read(lfd);
        usleep(50000);
    }
    if (child_alive()) {
        CHECK(0, "still running 10 s after SIGTERM");
        kill(pid, SIGKILL);
        waitpid(pid, &g_child_status, 0);
    }
    status = g_child_status;
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status 0x%x",
          status);
    if (nfd >= 0) {
        ssize_t n = recv(nfd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

        buf[n > 0 ? n : 0] = '\0';
        CHECK(n < 0, "notify after STOPPING=1: '%s'", buf);
        close(nfd);
    }

    log_read(lfd);
    close(lfd);
    CHECK(g_lines >= 5, "only %d syslog lines", g_lines);
    CHECK(g_started, "no '<30>... info main xmta ... started' line");
    /* Unset: the protocol is a no-op. Not an address: warned, and the
     * daemon ran as usual (checked above). */
    CHECK(g_notify_warned == (mode == RUN_BAD), "notify warning: %s",
          g_notify_warned ? "unexpected" : "missing");
    if ((f = fopen(errf, "r"))) {
        size_t len = fread(buf, 1, sizeof(buf) - 1, f);

        buf[len] = '\0';
        fclose(f);
        CHECK(!strstr(buf, SECRET) && !strstr(buf, TOKEN), "secret on stderr");
        CHECK(!strstr(buf, " info main xmta "), "log went to stderr: %s", buf);
    }
    if (mode == RUN_PATH)
        unlink(nsock);
    unlink(lsock);
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/xmta-daemon.XXXXXX";
    char cmd[128];

    if (argc != 2) {
        fprintf(stderr, "usage: test_daemon PATH-TO-XMTA\n");
        return 2;
    }
    if (!mkdtemp(dir))
        return 1;
    for (int m = 0; m < RUN_MODE_COUNT; m++) {
        int before = failures;

        run(argv[1], dir, (enum run_mode)m);
        printf("%s NOTIFY_SOCKET %s: %d syslog lines\n",
               failures == before ? "ok" : "not ok", run_names[m], g_lines);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        failures++;
    printf("%s: %d failure(s)\n", argv[0], failures);
    return failures ? 1 : 0;
}
