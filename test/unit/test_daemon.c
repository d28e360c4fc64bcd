/* SPDX-License-Identifier: MIT */
/* test_daemon.c -- the xmta binary under a fake systemd: NOTIFY_SOCKET gets
 * READY=1 once it listens, RELOADING=1 then READY=1 around SIGHUP,
 * STOPPING=1 on SIGTERM, and it exits 0; with log = syslog and -v its log
 * lines reach the test's syslog socket ($XMTA_SYSLOG_SOCKET) in the
 * "level area message" form and neither they nor stderr carry the secret
 * or the token. No XMPP server: the component port refuses.
 * usage: test_daemon PATH-TO-XMTA */
#include <errno.h>
#include <poll.h>
#include <signal.h>
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

static int dgram_bind(const char *path)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Every syslog datagram, checked as it arrives (the socket's queue is
 * short: the daemon would send the rest to stderr). */
static int g_lines, g_started;
static char g_started_want[64];

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
    }
}

/* Waits up to ms for a notification that is exactly want (others, e.g.
 * STATUS=, are skipped), reading log lines meanwhile. */
static int notify_expect(int nfd, int lfd, const char *want, int ms)
{
    char buf[512];

    for (int waited = 0; waited < ms; waited += 50) {
        struct pollfd p[2] = {{nfd, POLLIN, 0}, {lfd, POLLIN, 0}};
        ssize_t n;

        if (poll(p, 2, 50) <= 0)
            continue;
        if (p[1].revents & POLLIN)
            log_read(lfd);
        if (!(p[0].revents & POLLIN))
            continue;
        n = recv(nfd, buf, sizeof(buf) - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
        if (strcmp(buf, want) == 0)
            return 1;
        fprintf(stderr, "notify: got '%s' waiting for '%s'\n", buf, want);
    }
    return 0;
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/xmta-daemon.XXXXXX";
    char conf[128], nsock[128], lsock[128], errf[128], buf[8192];
    int nfd, lfd, status = 0;
    FILE *f;
    pid_t pid;

    if (argc != 2) {
        fprintf(stderr, "usage: test_daemon PATH-TO-XMTA\n");
        return 2;
    }
    if (!mkdtemp(dir))
        return 1;
    snprintf(conf, sizeof(conf), "%s/xmta.conf", dir);
    snprintf(nsock, sizeof(nsock), "%s/notify", dir);
    snprintf(lsock, sizeof(lsock), "%s/log", dir);
    snprintf(errf, sizeof(errf), "%s/stderr", dir);
    if (!(f = fopen(conf, "w")))
        return 1;
    fprintf(f,
            "[component]\ndomain = notify.localhost\nserver = 127.0.0.1\n"
            "port = 15431\nsecret = " SECRET "\nlog = syslog\n"
            "[http]\nlisten = 127.0.0.1:0\n"
            "[spool]\npath = %s/spool\n"
            "[hook alerts]\ntoken = " TOKEN "\nto = juliet@localhost\n",
            dir);
    fclose(f);
    chmod(conf, 0600);
    nfd = dgram_bind(nsock);
    lfd = dgram_bind(lsock);
    if (nfd < 0 || lfd < 0) {
        perror("bind");
        return 1;
    }
    if ((pid = fork()) == 0) {
        int efd = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0600);

        dup2(efd, 2);
        setenv("NOTIFY_SOCKET", nsock, 1);
        setenv("XMTA_SYSLOG_SOCKET", lsock, 1);
        unsetenv("JOURNAL_STREAM");
        execl(argv[1], "xmta", "-v", "-c", conf, (char *)NULL);
        _exit(127);
    }
    CHECK(pid > 0, "fork");
    snprintf(g_started_want, sizeof(g_started_want),
             " xmta[%ld]: info main xmta ", (long)pid);
    CHECK(notify_expect(nfd, lfd, "READY=1", 15000), "READY=1 at start");
    kill(pid, SIGHUP);
    CHECK(notify_expect(nfd, lfd, "RELOADING=1", 10000), "RELOADING=1");
    CHECK(notify_expect(nfd, lfd, "READY=1", 10000), "READY=1 after reload");
    kill(pid, SIGTERM);
    CHECK(notify_expect(nfd, lfd, "STOPPING=1", 10000), "STOPPING=1");
    for (int i = 0; i < 200 && waitpid(pid, &status, WNOHANG) == 0; i++) {
        log_read(lfd);
        usleep(50000);
    }
    if (waitpid(pid, &status, WNOHANG) == 0) {
        CHECK(0, "still running 10 s after SIGTERM");
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status 0x%x",
          status);

    log_read(lfd);
    CHECK(g_lines >= 5, "only %d syslog lines", g_lines);
    CHECK(g_started, "no '<30>... info main xmta ... started' line");
    if ((f = fopen(errf, "r"))) {
        size_t len = fread(buf, 1, sizeof(buf) - 1, f);

        buf[len] = '\0';
        fclose(f);
        CHECK(!strstr(buf, SECRET) && !strstr(buf, TOKEN), "secret on stderr");
        CHECK(!strstr(buf, " info main xmta "), "log went to stderr: %s", buf);
    }
    snprintf(buf, sizeof(buf), "rm -rf '%s'", dir);
    if (system(buf) != 0)
        failures++;
    printf("%s: %d syslog lines, %d failure(s)\n", argv[0], g_lines, failures);
    return failures ? 1 : 0;
}
