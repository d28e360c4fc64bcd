/* SPDX-License-Identifier: MIT */
/* fmt_teams.c -- Microsoft Teams: legacy MessageCard and Workflows
 * adaptive cards. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "http/format.h"
#include "xml/err.h"

#define ADAPTIVE "application/vnd.microsoft.card.adaptive"
#define CARD_DEPTH_MAX 6

static void para(struct rbuf *b, const char *s)
{
    if (!s)
        return;
    rbuf_newline(b);
    rbuf_text(b, s);
}

static void bold_line(struct rbuf *b, const char *s)
{
    struct rbuf t = {0};

    if (!s)
        return;
    rbuf_esc_line(&t, s);
    rbuf_newline(b);
    if (t.s)
        rbuf_bold(b, t.s);
    rbuf_free(&t);
}

static void facts(struct rbuf *b, const json_t *list, const char *k)
{
    const json_t *f;
    size_t i;

    json_array_foreach(list, i, f)
    {
        rbuf_newline(b);
        rbuf_esc_line(b, fmt_jstr(f, k) ? fmt_jstr(f, k) : "");
        rbuf_puts(b, ": ");
        rbuf_text(b, fmt_jstr(f, "value"));
    }
}

static void card_items(struct rbuf *b, const json_t *items, int depth)
{
    const json_t *e;
    size_t i;

    if (depth > CARD_DEPTH_MAX)
        return;
    json_array_foreach(items, i, e)
    {
        const char *type = fmt_jstr(e, "type");

        if (!type)
            continue;
        if (strcmp(type, "TextBlock") == 0) {
            const char *w = fmt_jstr(e, "weight");

            if (w && strcmp(w, "bolder") == 0)
                bold_line(b, fmt_jstr(e, "text"));
            else
                para(b, fmt_jstr(e, "text"));
        } else if (strcmp(type, "FactSet") == 0) {
            facts(b, json_object_get(e, "facts"), "title");
        } else if (strcmp(type, "Container") == 0) {
            card_items(b, json_object_get(e, "items"), depth + 1);
        } else if (strcmp(type, "ColumnSet") == 0) {
            const json_t *cols = json_object_get(e, "columns"), *c;
            size_t j;

            json_array_foreach(cols, j, c)
                card_items(b, json_object_get(c, "items"), depth + 1);
        }
    }
}

static int is_adaptive(const json_t *root)
{
    const json_t *atts = json_object_get(root, "attachments"), *a;
    size_t i;

    json_array_foreach(atts, i, a)
    {
        const char *ct = fmt_jstr(a, "contentType");

        if (ct && strcmp(ct, ADAPTIVE) == 0)
            return 1;
    }
    return 0;
}

static int teams_match(const json_t *root, const struct fmt_request *rq)
{
    const char *type = fmt_jstr(root, "@type");

    (void)rq;
    return (type && strcmp(type, "MessageCard") == 0) || is_adaptive(root);
}

static int teams_render(const json_t *root,
                        const struct fmt_request *rq,
                        struct rbuf *b,
                        char *err,
                        size_t errlen)
{
    const json_t *list, *e;
    size_t i;

    (void)rq;
    if (is_adaptive(root)) {
        list = json_object_get(root, "attachments");
        json_array_foreach(list, i, e) card_items(
            b, json_object_get(json_object_get(e, "content"), "body"), 0);
    } else {
        const char *title = fmt_jstr(root, "title");

        bold_line(b, title ? title : fmt_jstr(root, "summary"));
        para(b, fmt_jstr(root, "text"));
        list = json_object_get(root, "sections");
        json_array_foreach(list, i, e)
        {
            bold_line(b, fmt_jstr(e, "activityTitle"));
            para(b, fmt_jstr(e, "activitySubtitle"));
            facts(b, json_object_get(e, "facts"), "name");
            para(b, fmt_jstr(e, "text"));
        }
        list = json_object_get(root, "potentialAction");
        json_array_foreach(list, i, e)
        {
            const json_t *targets = json_object_get(e, "targets"), *t;
            size_t j;

            json_array_foreach(targets, j, t)
            {
                if (!fmt_jstr(t, "uri"))
                    continue;
                rbuf_newline(b);
                rbuf_esc_line(b, fmt_jstr(e, "name") ? fmt_jstr(e, "name")
                                                     : "Link");
                rbuf_puts(b, ": ");
                rbuf_esc_line(b, fmt_jstr(t, "uri"));
            }
        }
    }
    if (b->len == 0) {
        snprintf(err, errlen, "Teams card without text");
        return XMTA_E_INVAL;
    }
    return 0;
}

const struct fmt_def fmt_teams = {
    .name = "teams",
    .expect = "a Teams card (@type MessageCard, or an adaptive card "
              "attachment)",
    .reply = FMT_REPLY_JSON,
    .json = 1,
    .match = teams_match,
    .render = teams_render,
};
