/* SPDX-License-Identifier: MIT */
/* fmt_slack.c -- Slack incoming webhooks (JSON or form payload=) and
 * Mattermost's superset: text, attachments with fields, blocks; mrkdwn
 * kept (its *bold* _italic_ ~strike~ are XEP-0393's), <url|label> links,
 * entities and :emoji: converted. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "http/format.h"
#include "xml/err.h"

static void slack_link(struct rbuf *b, const char *s, size_t len)
{
    const char *bar = memchr(s, '|', len);
    size_t ulen = bar ? (size_t)(bar - s) : len;

    if (len > 0 && (*s == '!' || *s == '@' || *s == '#')) {
        /* <!channel>, <@U123|name>, <#C123|name> */
        rbuf_put(b, *s == '#' ? "#" : "@", 1);
        if (bar)
            rbuf_put(b, bar + 1, len - ulen - 1);
        else
            rbuf_put(b, s + 1, ulen - 1);
        return;
    }
    if (bar && len - ulen - 1 > 0) {
        rbuf_put(b, bar + 1, len - ulen - 1);
        rbuf_puts(b, " (");
        rbuf_put(b, s, ulen);
        rbuf_puts(b, ")");
    } else {
        rbuf_put(b, s, ulen);
    }
}

void fmt_slack_text(struct rbuf *b, const char *s)
{
    struct rbuf tmp = {0};

    while (s && *s) {
        const char *close;

        if (*s == '<' && (close = strchr(s + 1, '>')) != NULL &&
            !memchr(s + 1, '\n', (size_t)(close - s - 1))) {
            slack_link(&tmp, s + 1, (size_t)(close - s - 1));
            s = close + 1;
        } else if (strncmp(s, "&amp;", 5) == 0) {
            rbuf_puts(&tmp, "&");
            s += 5;
        } else if (strncmp(s, "&lt;", 4) == 0) {
            rbuf_puts(&tmp, "<");
            s += 4;
        } else if (strncmp(s, "&gt;", 4) == 0) {
            rbuf_puts(&tmp, ">");
            s += 4;
        } else {
            if (*s != FMT_ITEM_MARK)
                rbuf_put(&tmp, s, 1);
            s++;
        }
    }
    if (tmp.s)
        rbuf_emojify(b, tmp.s);
    if (tmp.oom)
        b->oom = 1;
    rbuf_free(&tmp);
}

static const char *color_dot(const char *color)
{
    if (!color)
        return NULL;
    if (strcmp(color, "danger") == 0 || strcasecmp(color, "#ff0000") == 0)
        return "🔴";
    if (strcmp(color, "warning") == 0)
        return "🟡";
    if (strcmp(color, "good") == 0 || strcasecmp(color, "#36a64f") == 0)
        return "🟢";
    return NULL;
}

static void slack_para(struct rbuf *b, const char *s)
{
    if (!s)
        return;
    rbuf_newline(b);
    fmt_slack_text(b, s);
}

static void slack_attachment(struct rbuf *b, const json_t *a)
{
    const char *dot = color_dot(fmt_jstr(a, "color"));
    const char *title = fmt_jstr(a, "title");
    const json_t *fields = json_object_get(a, "fields"), *f;
    size_t i;
    int content = title || fmt_jstr(a, "pretext") || fmt_jstr(a, "text") ||
                  fmt_jstr(a, "author_name") || json_array_size(fields) > 0;

    slack_para(b, fmt_jstr(a, "pretext"));
    if (fmt_jstr(a, "author_name")) {
        rbuf_newline(b);
        fmt_slack_text(b, fmt_jstr(a, "author_name"));
    }
    if (title || dot) {
        rbuf_newline(b);
        if (dot)
            rbuf_printf(b, "%s%s", dot, title ? " " : "");
        if (title) {
            struct rbuf t = {0};

            fmt_slack_text(&t, title);
            if (t.s)
                rbuf_bold(b, t.s);
            rbuf_free(&t);
        }
        if (title && fmt_jstr(a, "title_link")) {
            rbuf_puts(b, " (");
            rbuf_puts(b, fmt_jstr(a, "title_link"));
            rbuf_puts(b, ")");
        }
    }
    slack_para(b, fmt_jstr(a, "text"));
    json_array_foreach(fields, i, f)
    {
        const char *t = fmt_jstr(f, "title"), *v = fmt_jstr(f, "value");

        if (!t && !v)
            continue;
        rbuf_newline(b);
        if (t) {
            fmt_slack_text(b, t);
            rbuf_puts(b, v ? ": " : "");
        }
        if (v)
            fmt_slack_text(b, v);
    }
    if (!content)
        slack_para(b, fmt_jstr(a, "fallback"));
    if (fmt_jstr(a, "image_url")) {
        rbuf_newline(b);
        rbuf_puts(b, fmt_jstr(a, "image_url"));
    }
    slack_para(b, fmt_jstr(a, "footer"));
}

static void slack_block(struct rbuf *b, const json_t *blk)
{
    const char *type = fmt_jstr(blk, "type");
    const json_t *list, *e;
    size_t i;

    if (!type)
        return;
    if (strcmp(type, "header") == 0) {
        struct rbuf t = {0};

        fmt_slack_text(&t, fmt_jpath(blk, "text", "text", NULL));
        rbuf_newline(b);
        if (t.s)
            rbuf_bold(b, t.s);
        rbuf_free(&t);
    } else if (strcmp(type, "section") == 0) {
        slack_para(b, fmt_jpath(blk, "text", "text", NULL));
        list = json_object_get(blk, "fields");
        json_array_foreach(list, i, e) slack_para(b, fmt_jstr(e, "text"));
    } else if (strcmp(type, "context") == 0) {
        list = json_object_get(blk, "elements");
        json_array_foreach(list, i, e) slack_para(b, fmt_jstr(e, "text"));
    }
}

static int slack_match(const json_t *root, const struct fmt_request *rq)
{
    (void)rq;
    return fmt_jstr(root, "text") ||
           json_is_array(json_object_get(root, "attachments")) ||
           json_is_array(json_object_get(root, "blocks"));
}

static int slack_render(const json_t *root,
                        const struct fmt_request *rq,
                        struct rbuf *b,
                        char *err,
                        size_t errlen)
{
    const json_t *list, *e;
    size_t i;

    (void)rq;
    slack_para(b, fmt_jstr(root, "text"));
    list = json_object_get(root, "blocks");
    json_array_foreach(list, i, e) slack_block(b, e);
    list = json_object_get(root, "attachments");
    json_array_foreach(list, i, e) slack_attachment(b, e);
    if (b->len == 0) {
        snprintf(err, errlen, "Slack payload without text");
        return XMTA_E_INVAL;
    }
    return 0;
}

const struct fmt_def fmt_slack = {
    .name = "slack",
    .expect = "a Slack webhook (text, attachments or blocks)",
    .reply = FMT_REPLY_OK,
    .json = 1,
    .match = slack_match,
    .render = slack_render,
};

const struct fmt_def fmt_mattermost = {
    .name = "mattermost",
    .expect = "a Mattermost webhook (text or attachments)",
    .reply = FMT_REPLY_OK,
    .json = 1,
    .match = slack_match,
    .render = slack_render,
};
