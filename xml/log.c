/* SPDX-License-Identifier: MIT */
/* log.c -- one line per event on stderr: "time level area message". */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "xml/log.h"

enum xlog_level xlog_threshold = XLOG_INFO;

void xlog_set_level(enum xlog_level level)
{
    xlog_threshold = level;
}

void xlog_write(enum xlog_level level, const char *area, const char *fmt, ...)
{
    static const char *const names[XLOG_LEVEL_COUNT] = {
        [XLOG_ERROR] = "error",
        [XLOG_WARN] = "warn",
        [XLOG_INFO] = "info",
        [XLOG_DEBUG] = "debug",
    };
    char msg[2048], line[4096 + 64], ts[32];
    struct timespec now;
    struct tm tm;
    size_t o = 0;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    o = (size_t)snprintf(line, sizeof(line), "%s.%03ldZ %s %s ", ts,
                         now.tv_nsec / 1000000L,
                         level < XLOG_LEVEL_COUNT ? names[level] : "?", area);
    /* Escape control characters so untrusted text cannot forge lines. */
    for (const unsigned char *p = (const unsigned char *)msg;
         *p && o + 5 < sizeof(line); p++) {
        if (*p < 0x20 || *p == 0x7f)
            o += (size_t)snprintf(line + o, sizeof(line) - o, "\\x%02x", *p);
        else
            line[o++] = (char)*p;
    }
    line[o++] = '\n';
    fwrite(line, 1, o, stderr);
}
