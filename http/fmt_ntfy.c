/* SPDX-License-Identifier: MIT */
/* fmt_ntfy.c -- ntfy style: a plain body with Title/Priority/Tags/Click
 * headers (or their query forms), or ntfy's JSON {topic, message, ...}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "http/format.h"
#include "http/internal.h"
#include "xml/err.h"

enum ntfy_field {
    NTFY_TITLE,
    NTFY_PRIORITY,
    NTFY_TAGS,
    NTFY_CLICK,
    NTFY_ATTACH,
    NTFY_MESSAGE,
    NTFY_COUNT
};

/* Header names (case-insensitive) and query keys, NULL-terminated. */
static const char *const ntfy_headers[NTFY_COUNT][5] = {
    [NTFY_TITLE] = {"X-Title", "Title", "t", NULL},
    [NTFY_PRIORITY] = {"X-Priority", "Priority", "prio", "p", NULL},
    [NTFY_TAGS] = {"X-Tags", "Tags", "Tag", "ta", NULL},
    [NTFY_CLICK] = {"X-Click", "Click", NULL},
    [NTFY_ATTACH] = {"X-Attach", "Attach", "a", NULL},
    [NTFY_MESSAGE] = {"X-Message", "Message", "m", NULL},
};

static const char *const ntfy_query[NTFY_COUNT][4] = {
    [NTFY_TITLE] = {"title", "t", NULL},
    [NTFY_PRIORITY] = {"priority", "prio", "p"},
    [NTFY_TAGS] = {"tags", "tag", "ta"},
    [NTFY_CLICK] = {"click", NULL},
    [NTFY_ATTACH] = {"attach", "a", NULL},
    [NTFY_MESSAGE] = {"message", "m", NULL},
};

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* One RFC 2047 encoded-word "=?UTF-8?B|Q?text?=" at s (UTF-8 and ASCII
 * charsets only): appends the decoded text and returns the length used,
 * or 0 when s is not such a word. */
static size_t encoded_word(struct rbuf *b, const char *s)
{
    const char *cs, *q1, *q2, *end;
    char enc;

    if (strncmp(s, "=?", 2) != 0)
        return 0;
    cs = s + 2;
    q1 = strchr(cs, '?');
    if (!q1 || !q1[1] || q1[2] != '?')
        return 0;
    if (!((q1 - cs == 5 && strncasecmp(cs, "UTF-8", 5) == 0) ||
          (q1 - cs == 8 && strncasecmp(cs, "US-ASCII", 8) == 0)))
        return 0;
    enc = q1[1];
    q2 = q1 + 3;
    if (!(end = strstr(q2, "?=")))
        return 0;
    if (enc == 'B' || enc == 'b') {
        unsigned acc = 0;
        int bits = 0;

        for (const char *p = q2; p < end && *p != '='; p++) {
            int v = b64val(*p);

            if (v < 0)
                return 0;
            acc = (acc << 6) | (unsigned)v;
            bits += 6;
            if (bits >= 8) {
                char c = (char)((acc >> (bits - 8)) & 0xff);

                bits -= 8;
                rbuf_put(b, &c, 1);
            }
        }
    } else if (enc == 'Q' || enc == 'q') {
        for (const char *p = q2; p < end; p++) {
            char c = *p == '_' ? ' ' : *p;

            if (*p == '=' && end - p >= 3 && http_hex_digit(p[1]) >= 0 &&
                http_hex_digit(p[2]) >= 0) {
                c = (char)(http_hex_digit(p[1]) << 4 | http_hex_digit(p[2]));
                p += 2;
            }
            rbuf_put(b, &c, 1);
        }
    } else {
        return 0;
    }
    return (size_t)(end + 2 - s);
}

/* A header value with its RFC 2047 encoded-words decoded (the blanks
 * between two words dropped); malloc'd or NULL. */
static char *header_decode(const char *v)
{
    struct rbuf b = {0};
    int prev_word = 0;

    while (*v) {
        size_t n = encoded_word(&b, v), ws;

        if (n) {
            v += n;
            prev_word = 1;
            continue;
        }
        ws = strspn(v, " \t");
        if (prev_word && ws && strncmp(v + ws, "=?", 2) == 0) {
            v += ws; /* between two encoded-words */
            continue;
        }
        rbuf_put(&b, v, 1);
        v++;
        prev_word = 0;
    }
    return rbuf_take(&b);
}

/* The field from a header or the query; malloc'd or NULL. */
static char *ntfy_get(const struct fmt_request *rq, enum ntfy_field f)
{
    for (int i = 0; i < 5 && ntfy_headers[f][i]; i++) {
        const char *v = fmt_header_get(rq, ntfy_headers[f][i]);

        if (v && *v)
            return header_decode(v);
    }
    for (int i = 0; i < 3 && ntfy_query[f][i]; i++) {
        char *v = fmt_query_get(rq, ntfy_query[f][i]);

        if (v && *v)
            return v;
        free(v);
    }
    return NULL;
}

/* 1..5 from "1".."5" or min/low/default/high/max/urgent; 3 otherwise. */
static int ntfy_priority(const char *p)
{
    static const char *const names[] = {"min",  "low", "default",
                                        "high", "max", "urgent"};

    if (!p)
        return 3;
    if (p[0] >= '1' && p[0] <= '5' && p[1] == '\0')
        return p[0] - '0';
    for (int i = 0; i < 6; i++)
        if (strcasecmp(p, names[i]) == 0)
            return i < 5 ? i + 1 : 5;
    return 3;
}

struct ntfy_msg {
    const char *title, *message, *click, *attach;
    int priority;
    const char *tags[16];
    size_t tag_len[16];
    size_t n_tags;
};

static void tags_split(struct ntfy_msg *m, const char *s)
{
    while (s && *s && m->n_tags < 16) {
        size_t n = strcspn(s, ",");
        const char *t = s;

        s += n + (s[n] == ',');
        while (n > 0 && *t == ' ') {
            t++;
            n--;
        }
        while (n > 0 && t[n - 1] == ' ')
            n--;
        if (n == 0)
            continue;
        m->tags[m->n_tags] = t;
        m->tag_len[m->n_tags++] = n;
    }
}

static void ntfy_build(struct rbuf *b, const struct ntfy_msg *m)
{
    struct rbuf line = {0};
    int others = 0;

    if (m->priority == 5)
        rbuf_puts(&line, "‼️ ");
    else if (m->priority == 4)
        rbuf_puts(&line, "❗ ");
    for (size_t i = 0; i < m->n_tags; i++) {
        const char *e = emoji_lookup(m->tags[i], m->tag_len[i]);

        if (e) {
            rbuf_puts(&line, e);
            rbuf_puts(&line, " ");
        } else {
            others++;
        }
    }
    if (m->title) {
        struct rbuf t = {0};

        rbuf_esc_line(&t, m->title);
        if (t.s)
            rbuf_bold(&line, t.s);
        rbuf_free(&t);
        if (line.s)
            rbuf_puts(b, line.s);
        rbuf_newline(b);
        rbuf_text(b, m->message);
    } else {
        if (line.s)
            rbuf_puts(b, line.s);
        rbuf_text(b, m->message);
    }
    rbuf_free(&line);
    if (others) {
        int n = 0;

        rbuf_newline(b);
        rbuf_puts(b, "Tags: ");
        for (size_t i = 0; i < m->n_tags; i++) {
            if (emoji_lookup(m->tags[i], m->tag_len[i]))
                continue;
            rbuf_puts(b, n++ ? ", " : "");
            rbuf_esc_n(b, m->tags[i], m->tag_len[i]);
        }
    }
    if (m->click) {
        rbuf_newline(b);
        rbuf_puts(b, "Link: ");
        rbuf_esc_line(b, m->click);
    }
    if (m->attach) {
        rbuf_newline(b);
        rbuf_puts(b, "Attachment: ");
        rbuf_esc_line(b, m->attach);
    }
}

static int ntfy_json_render(const json_t *root, struct rbuf *b)
{
    struct ntfy_msg m = {0};
    const json_t *tags = json_object_get(root, "tags"), *t;
    json_t *prio = json_object_get(root, "priority");
    size_t i;

    m.title = fmt_jstr(root, "title");
    m.message = fmt_jstr(root, "message");
    m.click = fmt_jstr(root, "click");
    m.attach = fmt_jstr(root, "attach");
    m.priority = json_is_integer(prio) ? (int)json_integer_value(prio) : 3;
    json_array_foreach(tags, i, t)
    {
        if (!json_is_string(t) || m.n_tags == 16 || !*json_string_value(t))
            continue;
        m.tags[m.n_tags] = json_string_value(t);
        m.tag_len[m.n_tags++] = json_string_length(t);
    }
    ntfy_build(b, &m);
    return 0;
}

/* 1 when some header could be one of ntfy_headers: by the first two
 * letters of the name, lower-cased ("t" and "ti", "x-" ...), the test
 * every plain text webhook goes through (issue 8). */
static int ntfy_header_maybe(const struct fmt_request *rq)
{
    for (size_t i = 0; i < rq->n_headers; i++) {
        const char *n = rq->headers[i].name;
        char a = (char)(n[0] | 0x20), b = n[0] ? (char)(n[1] | 0x20) : 0;

        if (!n[0])
            continue;
        for (int f = 0; f < NTFY_COUNT; f++)
            for (int k = 0; k < 5 && ntfy_headers[f][k]; k++) {
                const char *h = ntfy_headers[f][k];

                if ((h[0] | 0x20) == a &&
                    (h[1] ? (h[1] | 0x20) == b : n[1] == '\0'))
                    return 1;
            }
    }
    return 0;
}

static int ntfy_match(const json_t *root, const struct fmt_request *rq)
{
    const char *ct = rq->content_type ? rq->content_type : "";

    if (root)
        return fmt_jstr(root, "topic") && fmt_jstr(root, "message");
    ct += strspn(ct, " \t");
    /* curl -d sends a form type: a "form" without '=' is text (body.c) */
    if (*ct && strncasecmp(ct, "text/", 5) != 0 &&
        !(strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0 &&
          !(rq->len && memchr(rq->data, '=', rq->len))))
        return 0; /* forms with fields and multipart stay generic */
    if (!rq->query && !ntfy_header_maybe(rq))
        return 0;
    for (int f = 0; f < NTFY_COUNT; f++) {
        char *v = ntfy_get(rq, (enum ntfy_field)f);

        if (v) {
            free(v);
            return 1;
        }
    }
    return 0;
}

static int ntfy_render(const json_t *root,
                       const struct fmt_request *rq,
                       struct rbuf *b,
                       char *err,
                       size_t errlen)
{
    char *v[NTFY_COUNT] = {0}, *body = NULL;
    struct ntfy_msg m = {0};
    int rc = 0;

    if (root)
        return ntfy_json_render(root, b);
    for (int f = 0; f < NTFY_COUNT; f++)
        v[f] = ntfy_get(rq, (enum ntfy_field)f);
    if (!(body = strndup(rq->data, rq->len))) {
        rc = XMTA_E_NOMEM;
        goto out;
    }
    m.message = *body ? body : v[NTFY_MESSAGE];
    if (!m.message) {
        snprintf(err, errlen, "no message text");
        rc = XMTA_E_INVAL;
        goto out;
    }
    m.title = v[NTFY_TITLE];
    m.priority = ntfy_priority(v[NTFY_PRIORITY]);
    m.click = v[NTFY_CLICK];
    m.attach = v[NTFY_ATTACH];
    tags_split(&m, v[NTFY_TAGS]);
    ntfy_build(b, &m);
out:
    for (int f = 0; f < NTFY_COUNT; f++)
        free(v[f]);
    free(body);
    return rc;
}

const struct fmt_def fmt_ntfy = {
    .name = "ntfy",
    .expect = "an ntfy message (a text body, or JSON with topic and message)",
    .reply = FMT_REPLY_JSON,
    .json = 0,
    .match = ntfy_match,
    .render = ntfy_render,
};
