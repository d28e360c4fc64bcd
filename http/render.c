/* SPDX-License-Identifier: MIT */
/* render.c -- building readable XEP-0393 text: buffer, escaping, JSON
 * helpers, YAML-like dump, the max_message cut. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "http/format.h"

#define ZWSP "\xe2\x80\x8b" /* U+200B ZERO WIDTH SPACE */
#define YAML_DEPTH_MAX 12

/* ---- the buffer -------------------------------------------------------- */

static int rbuf_grow(struct rbuf *b, size_t more)
{
    size_t cap;
    char *s;

    if (b->oom)
        return -1;
    if (b->len + more + 1 <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    if (!(s = realloc(b->s, cap))) {
        b->oom = 1;
        return -1;
    }
    b->s = s;
    b->cap = cap;
    return 0;
}

void rbuf_put(struct rbuf *b, const char *s, size_t len)
{
    if (rbuf_grow(b, len) != 0)
        return;
    memcpy(b->s + b->len, s, len);
    b->len += len;
    b->s[b->len] = '\0';
}

void rbuf_puts(struct rbuf *b, const char *s)
{
    if (s)
        rbuf_put(b, s, strlen(s));
}

void rbuf_printf(struct rbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || rbuf_grow(b, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

void rbuf_text(struct rbuf *b, const char *s)
{
    while (s && *s) {
        size_t n = strcspn(s, "\x01");

        rbuf_put(b, s, n);
        s += n + (s[n] != '\0');
    }
}

/* Escapes one chunk; line: CR, LF, TAB become spaces. */
static void esc(struct rbuf *b, const char *s, size_t len, int line)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        char prev = b->len ? b->s[b->len - 1] : '\n';

        if (c == FMT_ITEM_MARK)
            continue;
        if (line && (c == '\n' || c == '\r' || c == '\t'))
            c = ' ';
        if ((c == '*' || c == '_' || c == '~' || c == '`') && is_ws(prev))
            rbuf_puts(b, ZWSP);
        else if (c == '>' && prev == '\n')
            rbuf_puts(b, ZWSP);
        rbuf_put(b, &c, 1);
    }
}

void rbuf_esc(struct rbuf *b, const char *s)
{
    if (s)
        esc(b, s, strlen(s), 0);
}

void rbuf_esc_n(struct rbuf *b, const char *s, size_t len)
{
    esc(b, s, len, 0);
}

void rbuf_esc_line(struct rbuf *b, const char *s)
{
    if (s)
        esc(b, s, strlen(s), 1);
}

void rbuf_bold(struct rbuf *b, const char *line)
{
    size_t n = strlen(line);

    if (n == 0)
        return;
    if (strchr(line, '*') || strchr(line, '\n') || is_ws(line[0]) ||
        is_ws(line[n - 1])) {
        rbuf_puts(b, line);
        return;
    }
    rbuf_puts(b, "*");
    rbuf_puts(b, line);
    rbuf_puts(b, "*");
}

void rbuf_headline(struct rbuf *b, const char *emoji, const char *fmt, ...)
{
    struct rbuf line = {0};
    va_list ap;

    rbuf_puts(&line, emoji);
    rbuf_puts(&line, " ");
    va_start(ap, fmt);
    for (const char *p = fmt; *p; p++) {
        if (p[0] == '%' && p[1] == 's') {
            const char *v = va_arg(ap, const char *);

            rbuf_esc_line(&line, v ? v : "?");
            p++;
        } else {
            rbuf_put(&line, p, 1);
        }
    }
    va_end(ap);
    rbuf_newline(b);
    if (line.s)
        rbuf_bold(b, line.s);
    rbuf_free(&line);
}

void rbuf_line(struct rbuf *b, const char *s)
{
    if (!s)
        return;
    rbuf_newline(b);
    rbuf_esc_line(b, s);
}

void rbuf_newline(struct rbuf *b)
{
    if (b->len && b->s[b->len - 1] != '\n')
        rbuf_puts(b, "\n");
}

void rbuf_item(struct rbuf *b)
{
    char mark = FMT_ITEM_MARK;

    rbuf_newline(b);
    rbuf_put(b, &mark, 1);
}

void rbuf_free(struct rbuf *b)
{
    free(b->s);
    memset(b, 0, sizeof(*b));
}

char *rbuf_take(struct rbuf *b)
{
    char *s = b->s;

    if (b->oom) {
        rbuf_free(b);
        return NULL;
    }
    if (!s)
        s = strdup("");
    memset(b, 0, sizeof(*b));
    return s;
}

/* The end of a "**x**" or "~~x~~" span opening at s (at the start or
 * after whitespace, not before whitespace, closed on the same line after
 * a non-blank), or NULL. */
static const char *md_span_end(const char *start, const char *s)
{
    const char *e;

    if (!((s[0] == '*' && s[1] == '*') || (s[0] == '~' && s[1] == '~')))
        return NULL;
    if ((s > start && !is_ws(s[-1])) || s[2] == '\0' || is_ws(s[2]))
        return NULL;
    for (e = s + 3; *e && *e != '\n'; e++)
        if (e[0] == s[0] && e[1] == s[0] && !is_ws(e[-1]))
            return e;
    return NULL;
}

/* Markdown (Discord, Gotify) to XEP-0393: **x** -> *x*, ~~x~~ -> ~x~ (only
 * as whole spans: 2**10 stays), [label](http...) -> label (url), :emoji:
 * short-codes to Unicode. Other text is kept. */
void rbuf_markdown(struct rbuf *b, const char *s)
{
    const char *start = s;
    struct rbuf tmp = {0};

    while (s && *s) {
        const char *mid, *end;

        if ((end = md_span_end(start, s)) != NULL) {
            rbuf_put(&tmp, s, 1);
            rbuf_put(&tmp, s + 2, (size_t)(end - s - 2));
            rbuf_put(&tmp, s, 1);
            s = end + 2;
        } else if (*s == '[' && (mid = strstr(s, "](")) != NULL &&
                   !memchr(s, '\n', (size_t)(mid - s)) &&
                   strncmp(mid + 2, "http", 4) == 0 &&
                   (end = strchr(mid + 2, ')')) != NULL &&
                   !memchr(mid, '\n', (size_t)(end - mid))) {
            rbuf_put(&tmp, s + 1, (size_t)(mid - s - 1));
            rbuf_puts(&tmp, " (");
            rbuf_put(&tmp, mid + 2, (size_t)(end - mid - 2));
            rbuf_puts(&tmp, ")");
            s = end + 1;
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

/* ---- JSON -------------------------------------------------------------- */

const char *fmt_jstr(const json_t *obj, const char *key)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;

    return s && *s ? s : NULL;
}

const char *fmt_jpath(const json_t *obj, ...)
{
    const json_t *v = obj;
    const char *key, *s;
    va_list ap;

    va_start(ap, obj);
    while ((key = va_arg(ap, const char *)) != NULL)
        v = json_is_object(v) ? json_object_get(v, key) : NULL;
    va_end(ap);
    s = json_is_string(v) ? json_string_value(v) : NULL;
    return s && *s ? s : NULL;
}

const char *fmt_jscalar(const json_t *v, char *buf, size_t size)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v))
        snprintf(buf, size, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, size, "%g", json_real_value(v));
    else if (json_is_true(v))
        snprintf(buf, size, "true");
    else if (json_is_false(v))
        snprintf(buf, size, "false");
    else
        return NULL;
    return buf;
}

static void yaml_indent(struct rbuf *b, int indent)
{
    for (int i = 0; i < indent; i++)
        rbuf_puts(b, "  ");
}

/* A scalar after "key: " or "- ": multi-line strings continue indented. */
static void yaml_scalar(struct rbuf *b, const json_t *v, int indent)
{
    char num[64];
    const char *s = fmt_jscalar(v, num, sizeof(num));

    if (!s) {
        rbuf_puts(b, json_is_null(v) ? "null" : "");
        return;
    }
    if (json_is_string(v) && *s == '\0') {
        rbuf_puts(b, "\"\"");
        return;
    }
    for (const char *nl; (nl = strchr(s, '\n')) != NULL; s = nl + 1) {
        rbuf_esc_n(b, s, (size_t)(nl - s));
        rbuf_puts(b, "\n");
        yaml_indent(b, indent + 1);
    }
    rbuf_esc(b, s);
}

static int yaml_is_nested(const json_t *v)
{
    return (json_is_object(v) && json_object_size(v) > 0) ||
           (json_is_array(v) && json_array_size(v) > 0);
}

static void yaml_value(struct rbuf *b, const json_t *v, int indent, int depth);

static void yaml_entry(struct rbuf *b, const json_t *v, int indent, int depth)
{
    if (yaml_is_nested(v)) {
        rbuf_puts(b, "\n");
        yaml_value(b, v, indent + 1, depth + 1);
    } else {
        rbuf_puts(b, " ");
        if (json_is_object(v))
            rbuf_puts(b, "{}");
        else if (json_is_array(v))
            rbuf_puts(b, "[]");
        else
            yaml_scalar(b, v, indent);
        rbuf_puts(b, "\n");
    }
}

static void yaml_value(struct rbuf *b, const json_t *v, int indent, int depth)
{
    const char *key;
    json_t *item;
    size_t i;

    if (depth > YAML_DEPTH_MAX) {
        yaml_indent(b, indent);
        rbuf_puts(b, "…\n");
        return;
    }
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, item)
        {
            yaml_indent(b, indent);
            rbuf_esc_line(b, key);
            rbuf_puts(b, ":");
            yaml_entry(b, item, indent, depth);
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, item)
        {
            yaml_indent(b, indent);
            rbuf_puts(b, "-");
            yaml_entry(b, item, indent, depth);
        }
    } else {
        yaml_indent(b, indent);
        yaml_scalar(b, v, indent);
        rbuf_puts(b, "\n");
    }
}

void fmt_yaml(struct rbuf *b, const json_t *v, int indent)
{
    yaml_value(b, v, indent, 0);
}

/* ---- max_message ------------------------------------------------------- */

static size_t chars(const char *s, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            n++;
    return n;
}

struct line {
    const char *s;
    size_t len; /* without the mark and the newline */
    int item;
};

/* Appends the kept lines and the "… (N more X)" line. */
static char *cut_join(struct line *lines,
                      size_t n,
                      const char *keep,
                      size_t dropped,
                      const char *noun,
                      size_t more_at)
{
    struct rbuf b = {0};
    int first = 1;

    for (size_t i = 0; i < n; i++) {
        if (i == more_at && dropped) {
            rbuf_printf(&b, "%s… (%zu more %s)", first ? "" : "\n", dropped,
                        noun);
            first = 0;
        }
        if (!keep[i])
            continue;
        if (!first)
            rbuf_puts(&b, "\n");
        rbuf_put(&b, lines[i].s, lines[i].len);
        first = 0;
    }
    if (more_at >= n && dropped)
        rbuf_printf(&b, "%s… (%zu more %s)", first ? "" : "\n", dropped, noun);
    return rbuf_take(&b);
}

/* Cuts one line inside, at a character boundary, adding "…". */
static char *cut_chars(const char *s, size_t max)
{
    size_t i = 0, n = 0;
    char *out;

    while (s[i] && n + 1 < max) {
        i++;
        while (((unsigned char)s[i] & 0xc0) == 0x80)
            i++;
        n++;
    }
    if (!(out = malloc(i + 4)))
        return NULL;
    memcpy(out, s, i);
    memcpy(out + i, "…", 4);
    return out;
}

static void unmark(char *s)
{
    char *o = s;

    for (const char *p = s; *p; p++)
        if (*p != FMT_ITEM_MARK)
            *o++ = *p;
    *o = '\0';
}

char *fmt_cut(char *text, size_t max)
{
    return fmt_cut_full(text, max, NULL);
}

char *fmt_cut_full(char *text, size_t max, char **full)
{
    struct line *lines = NULL;
    char *keep = NULL, *out = NULL;
    size_t n = 0, total = 0, items = 0, dropped = 0, more_at = 0, used;
    const char *p;

    if (full)
        *full = NULL;
    if (!text)
        return NULL;
    if (max == 0)
        max = FMT_MAX_MESSAGE_DEFAULT;
    if (chars(text, strlen(text)) <= max) {
        unmark(text);
        return text;
    }
    for (p = text; *p; p++)
        if (*p == '\n')
            n++;
    n++;
    if (!(lines = calloc(n, sizeof(*lines))) || !(keep = calloc(n, 1)))
        goto out;
    n = 0;
    for (p = text;;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        int item = len > 0 && *p == FMT_ITEM_MARK;

        lines[n].s = p + item;
        lines[n].len = len - (size_t)item;
        lines[n].item = item;
        items += (size_t)item;
        n++;
        if (!nl)
            break;
        p = nl + 1;
    }
    /* The non-item lines stay; items are kept while they fit, leaving room
     * for "… (N more alerts)" (at most 30 characters). */
    for (size_t i = 0; i < n; i++)
        if (!lines[i].item)
            total += chars(lines[i].s, lines[i].len) + 1;
    if (items && total + 30 <= max) {
        used = total + 30;
        for (size_t i = 0; i < n; i++) {
            size_t c = chars(lines[i].s, lines[i].len) + 1;

            if (!lines[i].item) {
                keep[i] = 1;
            } else if (!dropped && used + c <= max) {
                keep[i] = 1;
                used += c;
            } else if (dropped++ == 0) {
                more_at = i; /* "… (N more alerts)" goes here */
            }
        }
        out = cut_join(lines, n, keep, dropped, "alerts", more_at);
        goto out;
    }
    /* No items or too long anyway: keep the first lines that fit. */
    used = 30;
    for (size_t i = 0; i < n; i++) {
        size_t c = chars(lines[i].s, lines[i].len) + 1;

        if (!dropped && used + c <= max) {
            keep[i] = 1;
            used += c;
        } else {
            dropped++;
        }
    }
    if (!keep[0]) { /* one huge first line */
        char *first = strndup(lines[0].s, lines[0].len);

        out = first ? cut_chars(first, max > 30 ? max - 30 : 1) : NULL;
        free(first);
        if (out && n > 1) {
            struct rbuf b = {0};

            rbuf_puts(&b, out);
            rbuf_printf(&b, "\n… (%zu more lines)", n - 1);
            free(out);
            out = rbuf_take(&b);
        }
        goto out;
    }
    out = cut_join(lines, n, keep, dropped, "lines", n);
out:
    free(lines);
    free(keep);
    if (full && out) {
        unmark(text);
        *full = text; /* the whole text, for long_body = upload */
    } else {
        free(text);
    }
    if (out)
        unmark(out);
    return out;
}
