/* SPDX-License-Identifier: MIT */
/* fmt_gotify.c -- Gotify messages: {title, message, priority, extras}. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "http/format.h"

static int gotify_match(const json_t *root, const struct fmt_request *rq)
{
    (void)rq;
    return fmt_jstr(root, "message") != NULL;
}

static int gotify_render(const json_t *root,
                         const struct fmt_request *rq,
                         struct rbuf *b,
                         char *err,
                         size_t errlen)
{
    json_t *prio = json_object_get(root, "priority");
    const char *title = fmt_jstr(root, "title");
    const char *click =
        fmt_jpath(root, "extras", "client::notification", "click", "url", NULL);
    const char *ctype =
        fmt_jpath(root, "extras", "client::display", "contentType", NULL);
    struct rbuf line = {0};

    (void)rq;
    (void)err;
    (void)errlen;
    if (json_is_integer(prio) && json_integer_value(prio) >= 8)
        rbuf_puts(&line, "‼️ ");
    if (title) {
        struct rbuf t = {0};

        rbuf_esc_line(&t, title);
        if (t.s)
            rbuf_bold(&line, t.s);
        rbuf_free(&t);
    }
    if (line.s) {
        rbuf_puts(b, line.s);
        if (title)
            rbuf_newline(b);
    }
    rbuf_free(&line);
    if (ctype && strcmp(ctype, "text/markdown") == 0)
        rbuf_markdown(b, fmt_jstr(root, "message"));
    else
        rbuf_text(b, fmt_jstr(root, "message"));
    if (click) {
        rbuf_newline(b);
        rbuf_puts(b, "Link: ");
        rbuf_esc_line(b, click);
    }
    return 0;
}

const struct fmt_def fmt_gotify = {
    .name = "gotify",
    .expect = "a Gotify message (JSON with message)",
    .reply = FMT_REPLY_JSON,
    .json = 1,
    .match = gotify_match,
    .render = gotify_render,
};
