/* SPDX-License-Identifier: MIT */
/* fmt_kuma.c -- Uptime Kuma webhooks: {heartbeat, monitor, msg}; both
 * objects are null in a test send. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "http/format.h"

static const char *const kuma_status[][2] = {
    {"🔴", "DOWN"},
    {"✅", "UP"},
    {"🟡", "PENDING"},
    {"🔧", "MAINTENANCE"},
};

static int kuma_match(const json_t *root, const struct fmt_request *rq)
{
    (void)rq;
    return json_object_get(root, "heartbeat") != NULL ||
           json_object_get(root, "monitor") != NULL;
}

static int kuma_render(const json_t *root,
                       const struct fmt_request *rq,
                       struct rbuf *b,
                       char *err,
                       size_t errlen)
{
    const json_t *hb = json_object_get(root, "heartbeat");
    const json_t *mon = json_object_get(root, "monitor");
    json_t *status = json_object_get(hb, "status");
    const char *name = fmt_jstr(mon, "name"), *msg = fmt_jstr(hb, "msg");
    const char *url = fmt_jstr(mon, "url"), *host = fmt_jstr(mon, "hostname");
    const char *when = fmt_jstr(hb, "localDateTime");
    struct rbuf line = {0};
    char num[32];

    (void)rq;
    (void)err;
    (void)errlen;
    if (!json_is_object(hb) && !json_is_object(mon)) {
        /* a test send, or a message of Kuma's own */
        rbuf_esc(b, fmt_jstr(root, "msg") ? fmt_jstr(root, "msg")
                                          : "Uptime Kuma notification");
        return 0;
    }
    if (json_is_integer(status) && json_integer_value(status) >= 0 &&
        json_integer_value(status) <= 3) {
        json_int_t s = json_integer_value(status);

        rbuf_printf(&line, "%s %s", kuma_status[s][0], kuma_status[s][1]);
    } else {
        rbuf_puts(&line, "ℹ️ STATUS");
    }
    if (name) {
        rbuf_puts(&line, " ");
        rbuf_esc_line(&line, name);
    }
    if (line.s)
        rbuf_bold(b, line.s);
    rbuf_free(&line);
    if (msg) {
        rbuf_newline(b);
        rbuf_esc(b, msg);
    } else if (fmt_jstr(root, "msg")) {
        rbuf_newline(b);
        rbuf_esc(b, fmt_jstr(root, "msg"));
    }
    if (when) {
        rbuf_newline(b);
        rbuf_puts(b, "At ");
        rbuf_esc_line(b, when);
        if (fmt_jstr(hb, "timezone")) {
            rbuf_puts(b, " (");
            rbuf_esc_line(b, fmt_jstr(hb, "timezone"));
            rbuf_puts(b, ")");
        }
    }
    if (url && strcmp(url, "https://") != 0 && strcmp(url, "http://") != 0) {
        rbuf_newline(b);
        rbuf_esc_line(b, url);
    } else if (host) {
        const char *port =
            fmt_jscalar(json_object_get(mon, "port"), num, sizeof(num));

        rbuf_newline(b);
        rbuf_esc_line(b, host);
        if (port) {
            rbuf_puts(b, ":");
            rbuf_esc_line(b, port);
        }
    }
    return 0;
}

const struct fmt_def fmt_kuma = {
    .name = "kuma",
    .expect = "an Uptime Kuma webhook (heartbeat and monitor)",
    .reply = FMT_REPLY_JSON,
    .json = 1,
    .match = kuma_match,
    .render = kuma_render,
};
