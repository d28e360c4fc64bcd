/* SPDX-License-Identifier: MIT */
/* log.h -- leveled logging: one line per event, "level area message k=v".
 * Writes to stderr (prefixed with the UTC time, unless journald already
 * stamps it: $JOURNAL_STREAM) or to syslog (xlog_syslog_open). The level
 * is checked before anything is formatted. Never pass secrets or tokens:
 * name the hook instead. */
#ifndef XMTA_LOG_H
#define XMTA_LOG_H

enum xlog_level {
    XLOG_ERROR,
    XLOG_WARN,
    XLOG_INFO,
    XLOG_DEBUG,
    XLOG_LEVEL_COUNT
};

extern enum xlog_level xlog_threshold; /* default XLOG_INFO */

void xlog_set_level(enum xlog_level level);

/* Sends the lines to the syslog socket at path (a unix datagram socket;
 * NULL: "/dev/log") as RFC 3164 datagrams "<PRI>TIMESTAMP ident[pid]:
 * level area message", facility daemon, the level mapped to err, warning,
 * info, debug. Our own small client, not syslog(3), so that tests can
 * listen on a socket of their own. A line that cannot be sent goes to
 * stderr, and so does a line the socket would block on (a full queue).
 * Returns 0, or a negative XMTA_E_* (nothing changed) when the
 * socket cannot be created. */
int xlog_syslog_open(const char *path, const char *ident);
/* Back to stderr (closes the syslog socket). */
void xlog_syslog_close(void);

/* Coalescing (issue 8): with a flusher set, info and debug lines for
 * stderr are kept in a buffer, and schedule(arg) is called when the first
 * one is kept: it must arrange for xlog_flush() to be called soon (main:
 * at the end of the loop iteration), which writes them all in one write.
 * Errors and warnings are written at once (with what waits before them),
 * and so is everything when the buffer is full. NULL (the default) writes
 * every line at once; setting a flusher flushes first. xlog_flush() also
 * runs at exit(). Syslog datagrams are never held. */
void xlog_set_flusher(void (*schedule)(void *arg), void *arg);
void xlog_flush(void);

/* Formats and writes one line: "<time> <level> <area> <message>\n".
 * Control characters in the message are escaped so that untrusted text
 * cannot forge log lines. */
void xlog_write(enum xlog_level level, const char *area, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define xlog(level, area, ...)                                                 \
    do {                                                                       \
        if ((level) <= xlog_threshold)                                         \
            xlog_write((level), (area), __VA_ARGS__);                          \
    } while (0)
#define xlog_error(area, ...) xlog(XLOG_ERROR, area, __VA_ARGS__)
#define xlog_warn(area, ...) xlog(XLOG_WARN, area, __VA_ARGS__)
#define xlog_info(area, ...) xlog(XLOG_INFO, area, __VA_ARGS__)
#define xlog_debug(area, ...) xlog(XLOG_DEBUG, area, __VA_ARGS__)

#endif
