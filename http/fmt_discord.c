/* SPDX-License-Identifier: MIT */
/* fmt_discord.c -- Discord execute-webhook JSON: content and embeds; its
 * Markdown (**bold**, ~~strike~~, [label](url)) turned into XEP-0393. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "http/format.h"
#include "xml/err.h"

static void para(struct rbuf *b, const char *s)
{
    if (!s)
        return;
    rbuf_newline(b);
    rbuf_markdown(b, s);
}

static void discord_embed(struct rbuf *b, const json_t *e)
{
    const json_t *fields = json_object_get(e, "fields"), *f;
    const char *title = fmt_jstr(e, "title");
    size_t i;

    if (fmt_jpath(e, "author", "name", NULL))
        para(b, fmt_jpath(e, "author", "name", NULL));
    if (title) {
        struct rbuf t = {0};

        rbuf_markdown(&t, title);
        rbuf_newline(b);
        if (t.s)
            rbuf_bold(b, t.s);
        rbuf_free(&t);
        if (fmt_jstr(e, "url")) {
            rbuf_puts(b, " (");
            rbuf_puts(b, fmt_jstr(e, "url"));
            rbuf_puts(b, ")");
        }
    }
    para(b, fmt_jstr(e, "description"));
    json_array_foreach(fields, i, f)
    {
        const char *n = fmt_jstr(f, "name"), *v = fmt_jstr(f, "value");

        if (!n && !v)
            continue;
        rbuf_newline(b);
        if (n) {
            rbuf_markdown(b, n);
            rbuf_puts(b, v ? ": " : "");
        }
        if (v)
            rbuf_markdown(b, v);
    }
    if (fmt_jpath(e, "image", "url", NULL)) {
        rbuf_newline(b);
        rbuf_puts(b, fmt_jpath(e, "image", "url", NULL));
    }
    para(b, fmt_jpath(e, "footer", "text", NULL));
}

static int discord_match(const json_t *root, const struct fmt_request *rq)
{
    (void)rq;
    return json_is_array(json_object_get(root, "embeds")) ||
           fmt_jstr(root, "content");
}

static int discord_render(const json_t *root,
                          const struct fmt_request *rq,
                          struct rbuf *b,
                          char *err,
                          size_t errlen)
{
    const json_t *embeds = json_object_get(root, "embeds"), *e;
    size_t i;

    (void)rq;
    para(b, fmt_jstr(root, "content"));
    json_array_foreach(embeds, i, e) discord_embed(b, e);
    if (b->len == 0) {
        snprintf(err, errlen, "Discord payload without content or embeds");
        return XMTA_E_INVAL;
    }
    return 0;
}

const struct fmt_def fmt_discord = {
    .name = "discord",
    .expect = "a Discord webhook (content or embeds)",
    .reply = FMT_REPLY_NONE,
    .json = 1,
    .match = discord_match,
    .render = discord_render,
};
