/* SPDX-License-Identifier: MIT */
/* log.c -- one line per event: "level area message k=v" on stderr (time
 * first) or as a datagram to the syslog socket. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "xml/err.h"
#include "xml/log.h"

enum xlog_level xlog_threshold = XLOG_INFO;

/* The syslog socket (-1: stderr) and what every datagram starts with. */
static int xlog_fd = -1;
static struct sockaddr_un xlog_addr;
static char xlog_ident[64];

static const char *const xlog_names[XLOG_LEVEL_COUNT] = {
    [XLOG_ERROR] = "error",
    [XLOG_WARN] = "warn",
    [XLOG_INFO] = "info",
    [XLOG_DEBUG] = "debug",
};

/* RFC 5424 severities: err 3, warning 4, info 6, debug 7. */
static const int xlog_severity[XLOG_LEVEL_COUNT] = {
    [XLOG_ERROR] = 3,
    [XLOG_WARN] = 4,
    [XLOG_INFO] = 6,
    [XLOG_DEBUG] = 7,
};

#define XLOG_FACILITY_DAEMON 3

/* Lines for stderr waiting for xlog_flush() (see xlog_set_flusher). */
static char xlog_buf[16384];
static size_t xlog_len;
static void (*xlog_flusher)(void *arg);
static void *xlog_flusher_arg;

void xlog_set_level(enum xlog_level level)
{
    xlog_threshold = level;
}

static int xlog_syslog_connect(void)
{
    return connect(xlog_fd, (const struct sockaddr *)&xlog_addr,
                   sizeof(xlog_addr));
}

int xlog_syslog_open(const char *path, const char *ident)
{
    int fd;

    if (!path)
        path = "/dev/log";
    if (!ident || strlen(path) >= sizeof(xlog_addr.sun_path))
        return XMTA_E_INVAL;
    if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
        return XMTA_E_IO;
    xlog_syslog_close();
    xlog_fd = fd;
    memset(&xlog_addr, 0, sizeof(xlog_addr));
    xlog_addr.sun_family = AF_UNIX;
    memcpy(xlog_addr.sun_path, path, strlen(path) + 1);
    snprintf(xlog_ident, sizeof(xlog_ident), "%s", ident);
    if (xlog_syslog_connect() != 0) {
        int err = errno;

        xlog_syslog_close();
        errno = err;
        return XMTA_E_IO;
    }
    return 0;
}

void xlog_syslog_close(void)
{
    if (xlog_fd >= 0)
        close(xlog_fd);
    xlog_fd = -1;
}

/* One datagram; 0 when sent. Never blocks: when the daemon's queue is full
 * the line goes to stderr instead (under systemd: the journal), so a slow
 * syslog cannot stall the event loop. A restarted syslog daemon refuses
 * the old connection once: connect again and retry. */
static int xlog_syslog_send(enum xlog_level level, const char *text, size_t n)
{
    static const char *const months[12] = {"Jan", "Feb", "Mar", "Apr",
                                           "May", "Jun", "Jul", "Aug",
                                           "Sep", "Oct", "Nov", "Dec"};
    char dgram[4096 + 160];
    time_t now = time(NULL);
    struct tm tm;
    int o;

    localtime_r(&now, &tm);
    o = snprintf(dgram, sizeof(dgram), "<%d>%s %2d %02d:%02d:%02d %s[%ld]: ",
                 XLOG_FACILITY_DAEMON * 8 + xlog_severity[level],
                 months[tm.tm_mon % 12], tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec, xlog_ident, (long)getpid());
    if (o < 0 || (size_t)o >= sizeof(dgram))
        return -1;
    if (n > sizeof(dgram) - (size_t)o)
        n = sizeof(dgram) - (size_t)o;
    memcpy(dgram + o, text, n);
    n += (size_t)o;
    for (int tries = 0; tries < 2; tries++) {
        if (send(xlog_fd, dgram, n, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)n)
            return 0;
        if (errno == EAGAIN || errno == EWOULDBLOCK ||
            xlog_syslog_connect() != 0)
            break;
    }
    return -1;
}

/* One line for stderr: written now, or kept for xlog_flush() while a
 * flusher is set (errors and warnings are written at once, after what
 * waits, so that they are never held back). */
static void xlog_out(enum xlog_level level, const char *line, size_t n)
{
    if (!xlog_flusher || level <= XLOG_WARN || n > sizeof(xlog_buf)) {
        xlog_flush();
        fwrite(line, 1, n, stderr);
        return;
    }
    if (n > sizeof(xlog_buf) - xlog_len)
        xlog_flush();
    if (xlog_len == 0)
        xlog_flusher(xlog_flusher_arg);
    memcpy(xlog_buf + xlog_len, line, n);
    xlog_len += n;
}

/* "2026-11-22T10:00:00.123Z " into out (32 bytes); the date and time of
 * the current second are formatted once per second, not per line (a
 * webhook logs two lines: issue 8's profile). */
static size_t xlog_stamp(char *out)
{
    static time_t last = (time_t)-1;
    static char date[24];
    static size_t date_len;
    struct timespec now;
    long ms;

    clock_gettime(CLOCK_REALTIME, &now);
    if (now.tv_sec != last) {
        struct tm tm;

        gmtime_r(&now.tv_sec, &tm);
        date_len = strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
        last = now.tv_sec;
    }
    ms = now.tv_nsec / 1000000L;
    memcpy(out, date, date_len);
    out[date_len] = '.';
    out[date_len + 1] = (char)('0' + ms / 100);
    out[date_len + 2] = (char)('0' + ms / 10 % 10);
    out[date_len + 3] = (char)('0' + ms % 10);
    out[date_len + 4] = 'Z';
    out[date_len + 5] = ' ';
    return date_len + 6;
}

/* Appends the decimal form of v (negative when neg) at buf[*o]. */
static void
xlog_num(char *buf, size_t size, size_t *o, unsigned long long v, int neg)
{
    char tmp[24], *p = tmp + sizeof(tmp);

    do
        *--p = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    if (neg)
        *--p = '-';
    while (p < tmp + sizeof(tmp) && *o + 1 < size)
        buf[(*o)++] = *p++;
}

/* vsnprintf() into buf for formats of plain %s, %d, %u, %ld, %lu, %zu
 * and %% only (no flags, width or precision), which is what the lines of
 * every webhook use: glibc's printf machinery was a third of a line's
 * cost (issue 8). Any other format goes to vsnprintf(); the text is the
 * same either way. */
static void xlog_format(char *buf, size_t size, const char *fmt, va_list ap)
{
    size_t o = 0;

    for (const char *f = fmt; (f = strchr(f, '%')) != NULL;) {
        f++;
        if (*f == '%' || *f == 's' || *f == 'd' || *f == 'u') {
            f++;
        } else if ((f[0] == 'l' && (f[1] == 'd' || f[1] == 'u')) ||
                   (f[0] == 'z' && f[1] == 'u')) {
            f += 2;
        } else {
            vsnprintf(buf, size, fmt, ap);
            return;
        }
    }
    for (const char *f = fmt; *f && o + 1 < size; f++) {
        if (*f != '%') {
            buf[o++] = *f;
            continue;
        }
        switch (*++f) {
        case '%':
            buf[o++] = '%';
            break;
        case 's': {
            const char *v = va_arg(ap, const char *);

            if (!v)
                v = "(null)";
            while (*v && o + 1 < size)
                buf[o++] = *v++;
            break;
        }
        case 'd': {
            int v = va_arg(ap, int);

            xlog_num(buf, size, &o,
                     v < 0 ? 0ull - (unsigned long long)v
                           : (unsigned long long)v,
                     v < 0);
            break;
        }
        case 'u':
            xlog_num(buf, size, &o, va_arg(ap, unsigned), 0);
            break;
        case 'l':
            if (*++f == 'd') {
                long v = va_arg(ap, long);

                xlog_num(buf, size, &o,
                         v < 0 ? 0ull - (unsigned long long)v
                               : (unsigned long long)v,
                         v < 0);
            } else {
                xlog_num(buf, size, &o, va_arg(ap, unsigned long), 0);
            }
            break;
        case 'z':
            f++;
            xlog_num(buf, size, &o, va_arg(ap, size_t), 0);
            break;
        }
    }
    buf[o] = '\0';
}

void xlog_write(enum xlog_level level, const char *area, const char *fmt, ...)
{
    static const char hex[] = "0123456789abcdef";
    static int journal = -1; /* stderr goes to journald: no time stamp */
    char msg[2048], line[4096 + 64];
    size_t o = 0, start, n;
    va_list ap;

    if (level >= XLOG_LEVEL_COUNT)
        level = XLOG_ERROR;
    if (journal < 0)
        journal = getenv("JOURNAL_STREAM") != NULL;
    va_start(ap, fmt);
    xlog_format(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (xlog_fd < 0 && !journal)
        o = xlog_stamp(line);
    start = o;
    /* "level area " (area is one of ours: short) */
    n = strlen(xlog_names[level]);
    memcpy(line + o, xlog_names[level], n);
    o += n;
    line[o++] = ' ';
    n = strnlen(area, 64);
    memcpy(line + o, area, n);
    o += n;
    line[o++] = ' ';
    /* Escape control characters so untrusted text cannot forge lines. */
    for (const unsigned char *p = (const unsigned char *)msg;
         *p && o + 5 < sizeof(line); p++) {
        if (*p < 0x20 || *p == 0x7f) {
            line[o++] = '\\';
            line[o++] = 'x';
            line[o++] = hex[*p >> 4];
            line[o++] = hex[*p & 15];
        } else {
            line[o++] = (char)*p;
        }
    }
    if (xlog_fd >= 0 && xlog_syslog_send(level, line + start, o - start) == 0)
        return;
    line[o++] = '\n';
    xlog_out(level, line, o);
}

void xlog_flush(void)
{
    if (xlog_len)
        fwrite(xlog_buf, 1, xlog_len, stderr);
    xlog_len = 0;
}

void xlog_set_flusher(void (*schedule)(void *arg), void *arg)
{
    static int registered;

    xlog_flush();
    xlog_flusher = schedule;
    xlog_flusher_arg = arg;
    if (schedule && !registered)
        registered = atexit(xlog_flush) == 0;
}
