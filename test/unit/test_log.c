/* SPDX-License-Identifier: MIT */
/* test_log.c -- xml/log.c: the line format "level area message k=v" on
 * stderr, escaping, the level threshold, and syslog datagrams to a unix
 * socket of the test's own (no syslog daemon needed), with the fallback to
 * stderr when the socket goes away. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "xml/err.h"
#include "xml/log.h"

struct capture {
    FILE *tmp;
    int saved;
};

static void capture_start(struct capture *cap)
{
    fflush(stderr);
    assert_non_null(cap->tmp = tmpfile());
    cap->saved = dup(2);
    assert_true(cap->saved >= 0);
    assert_true(dup2(fileno(cap->tmp), 2) >= 0);
}

static char *capture_stop(struct capture *cap)
{
    long len;
    char *text;

    fflush(stderr);
    dup2(cap->saved, 2);
    close(cap->saved);
    len = ftell(cap->tmp);
    assert_true(len >= 0);
    assert_non_null(text = calloc(1, (size_t)len + 1));
    rewind(cap->tmp);
    assert_int_equal(fread(text, 1, (size_t)len, cap->tmp), (size_t)len);
    fclose(cap->tmp);
    return text;
}

/* stderr: "TIME level area message", one line, controls escaped. */
static void test_log_stderr(void **state)
{
    struct capture cap;
    char *text, *sp;

    (void)state;
    unsetenv("JOURNAL_STREAM");
    xlog_set_level(XLOG_INFO);
    capture_start(&cap);
    xlog_info("http", "accepted hook=%s id=%d", "grafana", 7);
    xlog_debug("http", "not shown");
    xlog_warn("comp", "evil\nforged line");
    text = capture_stop(&cap);
    /* 2026-11-22T07:33:32.828Z: 24 characters, then the event */
    sp = strchr(text, ' ');
    assert_non_null(sp);
    assert_int_equal(sp - text, 24);
    assert_int_equal(text[23], 'Z');
    assert_true(strncmp(sp + 1, "info http accepted hook=grafana id=7\n", 37) ==
                0);
    assert_null(strstr(text, "not shown"));
    assert_non_null(strstr(text, " warn comp evil\\x0aforged line\n"));
    assert_int_equal(strchr(sp, '\n')[1] != '\0', 1);
    free(text);
}

/* The message of one xlog_info() line is what snprintf() makes of the
 * same format: log.c formats plain %s %d %u %ld %lu %zu %% itself. */
#define FMT_CHECK(...)                                                         \
    do {                                                                       \
        struct capture cap;                                                    \
        char want[2048], line[2100], *text;                                    \
                                                                               \
        snprintf(want, sizeof(want), __VA_ARGS__);                             \
        snprintf(line, sizeof(line), " info t %s\n", want);                    \
        capture_start(&cap);                                                   \
        xlog_info("t", __VA_ARGS__);                                           \
        text = capture_stop(&cap);                                             \
        if (!strstr(text, line))                                               \
            fail_msg("got '%s', want '%s'", text, line);                       \
        free(text);                                                            \
    } while (0)

static void test_log_format(void **state)
{
    const char *volatile none = NULL;
    static char big[3000];
    const char *volatile bigp = big; /* its length unknown to -Wformat */

    (void)state;
    unsetenv("JOURNAL_STREAM");
    xlog_set_level(XLOG_INFO);
    FMT_CHECK("hook=%s status=%d id=%s peer=%s", "grafana", 202,
              "0b6c3f5e-8a51-4d7e-9a0c-2f1e3d4c5b6a", "127.0.0.1:4242");
    FMT_CHECK("%d %d %d %d %u %u", 0, -1, INT_MIN, INT_MAX, 0u, UINT_MAX);
    FMT_CHECK("%ld %ld %lu %zu %zu 100%%", LONG_MIN, LONG_MAX, ULONG_MAX,
              (size_t)0, SIZE_MAX);
    FMT_CHECK("null=%s empty=%s end", none, "");
    FMT_CHECK("%%s %%d literal, trailing %s", "x");
    /* formats log.c leaves to vsnprintf */
    FMT_CHECK("%5d|%x|%.3s|%c|%-4s|%lld", 42, 255u, "abcdef", 'q', "ab", -7ll);
    FMT_CHECK("%.*s and %s", 3, "abcdef", "more");
    /* cut at the message buffer, the same way */
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    FMT_CHECK("%s tail %d", bigp, 5);
    FMT_CHECK("%d %s", 17, bigp);
}

static int schedules;

static void count_schedule(void *arg)
{
    (void)arg;
    schedules++;
}

/* With a flusher: info lines wait for xlog_flush() (one schedule per
 * batch), a warning goes out at once after them, order kept; every
 * character of a long burst arrives. */
static void test_log_coalesce(void **state)
{
    struct capture cap;
    char *text, *a, *b, *c;
    long pos;

    (void)state;
    unsetenv("JOURNAL_STREAM");
    xlog_set_level(XLOG_INFO);
    capture_start(&cap);
    schedules = 0;
    xlog_set_flusher(count_schedule, NULL);
    xlog_info("http", "first");
    xlog_info("http", "second");
    assert_int_equal(schedules, 1);
    fflush(stderr);
    assert_int_equal(ftell(cap.tmp), 0); /* nothing written yet */
    xlog_warn("comp", "third");
    pos = ftell(cap.tmp);
    assert_true(pos > 0);
    xlog_info("http", "fourth");
    assert_int_equal(schedules, 2);
    assert_int_equal(ftell(cap.tmp), pos);
    xlog_flush();
    assert_true(ftell(cap.tmp) > pos);
    for (int i = 0; i < 1000; i++) /* more than the buffer holds */
        xlog_info("http", "burst %04d", i);
    xlog_set_flusher(NULL, NULL); /* writes what waits */
    xlog_info("http", "direct");
    text = capture_stop(&cap);
    a = strstr(text, " info http first\n");
    b = strstr(text, " info http second\n");
    c = strstr(text, " warn comp third\n");
    assert_true(a && b && c && a < b && b < c);
    assert_true(strstr(text, " info http fourth\n") > c);
    for (int i = 0; i < 1000; i++) {
        char want[32];

        snprintf(want, sizeof(want), " info http burst %04d\n", i);
        assert_non_null(strstr(text, want));
    }
    assert_non_null(strstr(text, " info http direct\n"));
    free(text);
}

static int dgram_bind(const char *path)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    unlink(path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* One datagram (NUL-terminated into buf), or "" when none is waiting. */
static void dgram_read(int fd, char *buf, size_t size)
{
    ssize_t n = recv(fd, buf, size - 1, MSG_DONTWAIT);

    buf[n > 0 ? n : 0] = '\0';
}

/* syslog: "<PRI>Mmm dd hh:mm:ss ident[pid]: level area message" with the
 * daemon facility and the mapped severity; nothing on stderr; when the
 * socket is gone, lines fall back to stderr. */
static void test_log_syslog(void **state)
{
    char path[64], buf[8192], want[128];
    struct capture cap;
    char *text;
    int fd;

    (void)state;
    snprintf(path, sizeof(path), "/tmp/xmta-log-test.%ld", (long)getpid());
    fd = dgram_bind(path);
    assert_int_equal(xlog_syslog_open("/nonexistent/socket", "xmta"),
                     XMTA_E_IO);
    assert_int_equal(xlog_syslog_open(path, "xmta"), 0);
    xlog_set_level(XLOG_DEBUG);
    capture_start(&cap);
    xlog_info("main", "started domain=%s", "notify.example.org");
    xlog_error("spool", "disk full");
    xlog_warn("comp", "a\x01"
                      "b");
    xlog_debug("comp", "dump");
    text = capture_stop(&cap);
    assert_string_equal(text, ""); /* all went to syslog */
    free(text);

    snprintf(want, sizeof(want),
             " xmta[%ld]: info main started "
             "domain=notify.example.org",
             (long)getpid());
    dgram_read(fd, buf, sizeof(buf));
    assert_true(strncmp(buf, "<30>", 4) == 0); /* daemon.info */
    assert_non_null(strstr(buf, want));
    assert_int_equal(buf[strlen(buf) - 1], 'g'); /* no newline */
    assert_null(strchr(buf, '\n'));
    dgram_read(fd, buf, sizeof(buf));
    assert_true(strncmp(buf, "<27>", 4) == 0); /* daemon.err */
    assert_non_null(strstr(buf, "]: error spool disk full"));
    dgram_read(fd, buf, sizeof(buf));
    assert_true(strncmp(buf, "<28>", 4) == 0); /* daemon.warning */
    assert_non_null(strstr(buf, "]: warn comp a\\x01b"));
    dgram_read(fd, buf, sizeof(buf));
    assert_true(strncmp(buf, "<31>", 4) == 0); /* daemon.debug */
    dgram_read(fd, buf, sizeof(buf));
    assert_string_equal(buf, ""); /* exactly four */

    /* The daemon goes away: the line is not lost, it goes to stderr. */
    close(fd);
    unlink(path);
    capture_start(&cap);
    xlog_info("main", "after the daemon left");
    text = capture_stop(&cap);
    assert_non_null(strstr(text, "info main after the daemon left\n"));
    free(text);
    xlog_syslog_close();
    xlog_set_level(XLOG_INFO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_stderr),
        cmocka_unit_test(test_log_format),
        cmocka_unit_test(test_log_coalesce),
        cmocka_unit_test(test_log_syslog),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
