/* SPDX-License-Identifier: MIT */
/* template.c -- the per-hook message template language.
 *
 *   text                 copied; "\n" is a line break, "\\" a backslash
 *   {{ path }}           a value: status, commonLabels.alertname,
 *                        alerts.0.labels.instance; "." is the current item,
 *                        "$.x" starts at the payload's root, "@index" and
 *                        "@key" name the loop position. Values are escaped
 *                        for XEP-0393; a missing value renders empty.
 *   {{ path | f | g(a) }} filters: upper, lower, raw (no escaping),
 *                        default("x"), join(", "), truncate(40),
 *                        date("%H:%M") (RFC 3339 or Unix seconds, UTC)
 *   {{#each path}}..{{/each}}      over an array (or an object's values)
 *   {{#if path}}..{{else}}..{{/if}} truthy: non-empty, non-zero, true
 *   {{#if path == "firing"}}       also !=; the literal is a string
 * Errors name the line within the template. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "http/format.h"

#define TMPL_DEPTH_MAX 16  /* nested blocks */
#define TMPL_FILTERS_MAX 8 /* per value */
#define TMPL_PATH_MAX 16   /* segments */
#define TMPL_ARG_MAX 256

enum tkind { TK_TEXT, TK_VAR, TK_EACH, TK_IF, TK_COUNT };

enum tfilter {
    TF_UPPER,
    TF_LOWER,
    TF_RAW,
    TF_DEFAULT,
    TF_JOIN,
    TF_TRUNCATE,
    TF_DATE,
    TF_COUNT
};

static const char *const filter_names[TF_COUNT] = {
    [TF_UPPER] = "upper",     [TF_LOWER] = "lower", [TF_RAW] = "raw",
    [TF_DEFAULT] = "default", [TF_JOIN] = "join",   [TF_TRUNCATE] = "truncate",
    [TF_DATE] = "date",
};

struct tpath {
    char *seg[TMPL_PATH_MAX];
    size_t n;
    int root;    /* $. */
    int special; /* 1 @index, 2 @key */
};

struct tnode {
    enum tkind kind;
    char *text; /* TK_TEXT */
    struct tpath path;
    enum tfilter filter[TMPL_FILTERS_MAX];
    char *arg[TMPL_FILTERS_MAX];
    size_t n_filters;
    int cmp;       /* TK_IF: 0 none, 1 ==, 2 != */
    char *literal; /* TK_IF with cmp */
    struct tnode *body, *alt, *next;
};

struct tmpl {
    struct tnode *first;
};

struct parser {
    const char *s;
    size_t pos;
    int line;
    char *err;
    size_t errlen;
    int failed;
};

static void node_free(struct tnode *n)
{
    while (n) {
        struct tnode *next = n->next;

        free(n->text);
        for (size_t i = 0; i < n->path.n; i++)
            free(n->path.seg[i]);
        for (size_t i = 0; i < TMPL_FILTERS_MAX; i++)
            free(n->arg[i]); /* also one parsed before an error */
        free(n->literal);
        node_free(n->body);
        node_free(n->alt);
        free(n);
        n = next;
    }
}

void tmpl_free(struct tmpl *t)
{
    if (!t)
        return;
    node_free(t->first);
    free(t);
}

static int perr(struct parser *p, const char *msg)
{
    if (!p->failed && p->err && p->errlen)
        snprintf(p->err, p->errlen, "line %d: %s", p->line, msg);
    p->failed = 1;
    return -1;
}

static void skip_ws(struct parser *p)
{
    while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t')
        p->pos++;
}

static int ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '@' ||
           c == '$' || (unsigned char)c >= 0x80;
}

/* A path: ".", "$.a.b", "a.b.0", "@index", "@key". */
static int parse_path(struct parser *p, struct tpath *out)
{
    const char *s = p->s;

    skip_ws(p);
    memset(out, 0, sizeof(*out));
    if (strncmp(s + p->pos, "@index", 6) == 0) {
        out->special = 1;
        p->pos += 6;
        return 0;
    }
    if (strncmp(s + p->pos, "@key", 4) == 0) {
        out->special = 2;
        p->pos += 4;
        return 0;
    }
    if (s[p->pos] == '$') {
        out->root = 1;
        p->pos++;
    }
    if (s[p->pos] == '.' && !ident_char(s[p->pos + 1])) {
        p->pos++; /* "." or "$." alone: the item itself */
        return 0;
    }
    if (s[p->pos] == '.')
        p->pos++;
    for (;;) {
        size_t start = p->pos;

        while (ident_char(s[p->pos]) && s[p->pos] != '$' && s[p->pos] != '@')
            p->pos++;
        if (p->pos == start)
            return perr(p, "expected a field name");
        if (out->n == TMPL_PATH_MAX)
            return perr(p, "path too long");
        if (!(out->seg[out->n++] = strndup(s + start, p->pos - start)))
            return perr(p, "out of memory");
        if (s[p->pos] != '.')
            return 0;
        p->pos++;
    }
}

/* A "string" literal (\" and \\ escapes). */
static int parse_string(struct parser *p, char **out)
{
    char buf[TMPL_ARG_MAX];
    size_t n = 0;

    skip_ws(p);
    if (p->s[p->pos] != '"')
        return perr(p, "expected a \"string\"");
    p->pos++;
    while (p->s[p->pos] != '"') {
        char c = p->s[p->pos];

        if (c == '\0' || c == '\n')
            return perr(p, "unterminated string");
        if (c == '\\' && p->s[p->pos + 1] != '\0') {
            c = p->s[++p->pos];
            if (c == 'n')
                c = '\n';
        }
        if (n + 1 >= sizeof(buf))
            return perr(p, "string too long");
        buf[n++] = c;
        p->pos++;
    }
    p->pos++;
    buf[n] = '\0';
    if (!(*out = strdup(buf)))
        return perr(p, "out of memory");
    return 0;
}

static int parse_filters(struct parser *p, struct tnode *n)
{
    for (;;) {
        size_t start;
        int f;

        skip_ws(p);
        if (p->s[p->pos] != '|')
            return 0;
        p->pos++;
        skip_ws(p);
        start = p->pos;
        while (p->s[p->pos] >= 'a' && p->s[p->pos] <= 'z')
            p->pos++;
        for (f = 0; f < TF_COUNT; f++)
            if (strlen(filter_names[f]) == p->pos - start &&
                strncmp(p->s + start, filter_names[f], p->pos - start) == 0)
                break;
        if (f == TF_COUNT)
            return perr(p, "unknown filter (upper, lower, raw, default, "
                           "join, truncate, date)");
        if (n->n_filters == TMPL_FILTERS_MAX)
            return perr(p, "too many filters");
        n->filter[n->n_filters] = (enum tfilter)f;
        skip_ws(p);
        if (p->s[p->pos] == '(') {
            p->pos++;
            skip_ws(p);
            if (f == TF_TRUNCATE) {
                char *end;
                long v = strtol(p->s + p->pos, &end, 10);
                char num[24];

                if (end == p->s + p->pos || v < 1 || v > 100000)
                    return perr(p, "truncate needs a length 1..100000");
                p->pos = (size_t)(end - p->s);
                snprintf(num, sizeof(num), "%ld", v);
                if (!(n->arg[n->n_filters] = strdup(num)))
                    return perr(p, "out of memory");
            } else if (parse_string(p, &n->arg[n->n_filters]) != 0) {
                return -1;
            }
            skip_ws(p);
            if (p->s[p->pos] != ')')
                return perr(p, "expected ')'");
            p->pos++;
        } else if (f == TF_DEFAULT || f == TF_TRUNCATE) {
            return perr(p, "this filter needs an argument, as in "
                           "default(\"-\") or truncate(40)");
        }
        n->n_filters++;
    }
}

static int expect_close(struct parser *p)
{
    skip_ws(p);
    if (strncmp(p->s + p->pos, "}}", 2) != 0)
        return perr(p, "expected '}}'");
    p->pos += 2;
    return 0;
}

static struct tnode *parse_seq(struct parser *p, int depth, const char **end);

static struct tnode *node_new(struct parser *p, enum tkind k)
{
    struct tnode *n = calloc(1, sizeof(*n));

    if (!n)
        perr(p, "out of memory");
    else
        n->kind = k;
    return n;
}

/* After "{{#": each or if. */
static struct tnode *parse_block(struct parser *p, int depth)
{
    const char *end = NULL;
    int is_each = strncmp(p->s + p->pos, "each", 4) == 0;
    struct tnode *n;

    if (!is_each && strncmp(p->s + p->pos, "if", 2) != 0) {
        perr(p, "unknown block (use #each or #if)");
        return NULL;
    }
    if (depth >= TMPL_DEPTH_MAX) {
        perr(p, "blocks nested too deep");
        return NULL;
    }
    p->pos += is_each ? 4 : 2;
    if (!(n = node_new(p, is_each ? TK_EACH : TK_IF)))
        return NULL;
    if (parse_path(p, &n->path) != 0)
        goto fail;
    skip_ws(p);
    if (!is_each && (strncmp(p->s + p->pos, "==", 2) == 0 ||
                     strncmp(p->s + p->pos, "!=", 2) == 0)) {
        n->cmp = p->s[p->pos] == '=' ? 1 : 2;
        p->pos += 2;
        if (parse_string(p, &n->literal) != 0)
            goto fail;
    }
    if (expect_close(p) != 0)
        goto fail;
    n->body = parse_seq(p, depth + 1, &end);
    if (p->failed)
        goto fail;
    if (!is_each && end && strcmp(end, "else") == 0) {
        n->alt = parse_seq(p, depth + 1, &end);
        if (p->failed)
            goto fail;
    }
    if (!end || strcmp(end, is_each ? "/each" : "/if") != 0) {
        perr(p, is_each ? "#each without {{/each}}" : "#if without {{/if}}");
        goto fail;
    }
    return n;
fail:
    node_free(n);
    return NULL;
}

/* Text up to the next "{{": \n and \\ escapes; counts lines. */
static struct tnode *parse_text(struct parser *p)
{
    struct rbuf b = {0};
    struct tnode *n;

    while (p->s[p->pos] && strncmp(p->s + p->pos, "{{", 2) != 0) {
        char c = p->s[p->pos++];

        if (c == '\n')
            p->line++;
        if (c == '\\' && (p->s[p->pos] == 'n' || p->s[p->pos] == '\\')) {
            c = p->s[p->pos++] == 'n' ? '\n' : '\\';
        }
        rbuf_put(&b, &c, 1);
    }
    if (!(n = node_new(p, TK_TEXT))) {
        rbuf_free(&b);
        return NULL;
    }
    if (!(n->text = rbuf_take(&b))) {
        free(n);
        perr(p, "out of memory");
        return NULL;
    }
    return n;
}

/* A sequence of nodes up to the end of input, or a {{/x}} or {{else}}
 * (its name returned in *end, static). */
static struct tnode *parse_seq(struct parser *p, int depth, const char **end)
{
    struct tnode *first = NULL, **tail = &first, *n;

    *end = NULL;
    while (p->s[p->pos] && !p->failed) {
        if (strncmp(p->s + p->pos, "{{", 2) != 0) {
            n = parse_text(p);
        } else {
            p->pos += 2;
            skip_ws(p);
            if (p->s[p->pos] == '#') {
                p->pos++;
                n = parse_block(p, depth);
            } else if (strncmp(p->s + p->pos, "/each", 5) == 0 ||
                       strncmp(p->s + p->pos, "/if", 3) == 0 ||
                       strncmp(p->s + p->pos, "else", 4) == 0) {
                const char *w = p->s[p->pos] == 'e'       ? "else"
                                : p->s[p->pos + 1] == 'e' ? "/each"
                                                          : "/if";

                p->pos += strlen(w);
                if (depth == 0) {
                    perr(p, "{{/each}}, {{/if}} or {{else}} without a "
                            "block");
                    break;
                }
                if (expect_close(p) == 0)
                    *end = w;
                break;
            } else if ((n = node_new(p, TK_VAR)) != NULL) {
                if (parse_path(p, &n->path) != 0 || parse_filters(p, n) != 0 ||
                    expect_close(p) != 0) {
                    node_free(n);
                    n = NULL;
                }
            }
        }
        if (!n)
            break;
        *tail = n;
        tail = &n->next;
    }
    if (p->failed) {
        node_free(first);
        return NULL;
    }
    return first;
}

struct tmpl *tmpl_compile(const char *src, char *err, size_t errlen)
{
    struct parser p = {.s = src, .line = 1, .err = err, .errlen = errlen};
    struct tmpl *t = calloc(1, sizeof(*t));
    const char *end = NULL;

    if (err && errlen)
        err[0] = '\0';
    if (!t) {
        perr(&p, "out of memory");
        return NULL;
    }
    t->first = parse_seq(&p, 0, &end);
    if (p.failed) {
        tmpl_free(t);
        return NULL;
    }
    return t;
}

/* ---- rendering --------------------------------------------------------- */

struct scope {
    const json_t *root, *item;
    long index; /* -1 outside a loop */
    const char *key;
};

static const json_t *resolve(const struct tpath *path, const struct scope *sc)
{
    const json_t *v = path->root ? sc->root : sc->item;

    for (size_t i = 0; i < path->n && v; i++) {
        if (json_is_object(v)) {
            v = json_object_get(v, path->seg[i]);
        } else if (json_is_array(v)) {
            char *end;
            long k = strtol(path->seg[i], &end, 10);

            v = *end == '\0' && k >= 0 ? json_array_get(v, (size_t)k) : NULL;
        } else {
            v = NULL;
        }
    }
    return v;
}

static int truthy(const json_t *v)
{
    if (json_is_string(v))
        return json_string_length(v) > 0;
    if (json_is_integer(v))
        return json_integer_value(v) != 0;
    if (json_is_real(v))
        return json_real_value(v) != 0.0;
    if (json_is_array(v))
        return json_array_size(v) > 0;
    if (json_is_object(v))
        return json_object_size(v) > 0;
    return json_is_true(v);
}

/* A value as plain text (arrays and objects joined with sep). */
static void value_text(struct rbuf *b, const json_t *v, const char *sep)
{
    char num[64];
    const char *s = fmt_jscalar(v, num, sizeof(num)), *key;
    const json_t *e;
    size_t i;
    int first = 1;

    if (s) {
        rbuf_puts(b, s);
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, e)
        {
            if ((s = fmt_jscalar(e, num, sizeof(num))) == NULL)
                continue;
            rbuf_puts(b, first ? "" : sep);
            rbuf_puts(b, s);
            first = 0;
        }
    } else if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, e)
        {
            if ((s = fmt_jscalar(e, num, sizeof(num))) == NULL)
                continue;
            rbuf_printf(b, "%s%s=%s", first ? "" : sep, key, s);
            first = 0;
        }
    }
}

/* RFC 3339 or Unix seconds to time_t; -1 when not a (non-zero) time. */
static time_t parse_time(const char *s)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, sec, n = 0, oh, om;
    const char *p;
    char *end;
    long long u = strtoll(s, &end, 10);
    time_t t;

    if (*s && *end == '\0')
        return u > 0 ? (time_t)u : -1;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec,
               &n) != 6 ||
        y <= 1)
        return -1; /* Go's zero time 0001-01-01 is "no time" */
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = timegm(&tm);
    p = s + n;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &oh, &om) == 2)
        t -= (*p == '+' ? 1 : -1) * (time_t)(oh * 3600 + om * 60);
    return t;
}

static void
apply_filter(struct rbuf *cur, enum tfilter f, const char *arg, int *escape)
{
    struct rbuf out = {0};
    char *s = cur->s ? cur->s : "";

    switch (f) {
    case TF_UPPER:
    case TF_LOWER:
        for (char *c = cur->s; c && *c; c++)
            if (f == TF_UPPER && *c >= 'a' && *c <= 'z')
                *c = (char)(*c - 32);
            else if (f == TF_LOWER && *c >= 'A' && *c <= 'Z')
                *c = (char)(*c + 32);
        return;
    case TF_RAW:
        *escape = 0;
        return;
    case TF_DEFAULT:
        if (cur->len == 0)
            rbuf_puts(cur, arg);
        return;
    case TF_JOIN: /* applied when the value was turned into text */
    case TF_COUNT:
        return;
    case TF_TRUNCATE: {
        long max = strtol(arg, NULL, 10), n = 0;
        size_t i = 0;

        while (s[i] && n < max) {
            i++;
            while (((unsigned char)s[i] & 0xc0) == 0x80)
                i++;
            n++;
        }
        if (!s[i])
            return;
        rbuf_put(&out, s, i);
        rbuf_puts(&out, "…");
        break;
    }
    case TF_DATE: {
        time_t t = parse_time(s);
        char buf[128];
        struct tm tm;

        if (t != (time_t)-1 && gmtime_r(&t, &tm) &&
            strftime(buf, sizeof(buf), arg ? arg : "%Y-%m-%d %H:%M UTC", &tm))
            rbuf_puts(&out, buf);
        break;
    }
    }
    rbuf_free(cur);
    *cur = out;
}

static void
render_var(const struct tnode *n, const struct scope *sc, struct rbuf *b)
{
    struct rbuf cur = {0};
    const char *sep = ", ";
    int escape = 1;

    for (size_t i = 0; i < n->n_filters; i++)
        if (n->filter[i] == TF_JOIN && n->arg[i])
            sep = n->arg[i];
    if (n->path.special == 1 && sc->index >= 0)
        rbuf_printf(&cur, "%ld", sc->index);
    else if (n->path.special == 2 && sc->key)
        rbuf_puts(&cur, sc->key);
    else if (!n->path.special)
        value_text(&cur, resolve(&n->path, sc), sep);
    for (size_t i = 0; i < n->n_filters; i++)
        apply_filter(&cur, n->filter[i], n->arg[i], &escape);
    if (cur.oom)
        b->oom = 1;
    if (cur.s && escape)
        rbuf_esc(b, cur.s);
    else if (cur.s)
        rbuf_text(b, cur.s);
    rbuf_free(&cur);
}

static void
render_seq(const struct tnode *n, const struct scope *sc, struct rbuf *b);

static int if_holds(const struct tnode *n, const struct scope *sc)
{
    const json_t *v = resolve(&n->path, sc);
    struct rbuf t = {0};
    int eq;

    if (n->path.special)
        return sc->index > 0 || (n->path.special == 2 && sc->key);
    if (!n->cmp)
        return truthy(v);
    value_text(&t, v, ", ");
    eq = strcmp(t.s ? t.s : "", n->literal) == 0;
    rbuf_free(&t);
    return n->cmp == 1 ? eq : !eq;
}

static void
render_seq(const struct tnode *n, const struct scope *sc, struct rbuf *b)
{
    for (; n; n = n->next) {
        switch (n->kind) {
        case TK_TEXT:
            rbuf_puts(b, n->text);
            break;
        case TK_VAR:
            render_var(n, sc, b);
            break;
        case TK_IF:
            render_seq(if_holds(n, sc) ? n->body : n->alt, sc, b);
            break;
        case TK_EACH: {
            const json_t *v = resolve(&n->path, sc), *e;
            struct scope in = *sc;
            const char *key;
            size_t i;

            if (n->path.special)
                break;
            if (json_is_array(v)) {
                json_array_foreach(v, i, e)
                {
                    in.item = e;
                    in.index = (long)i;
                    in.key = NULL;
                    render_seq(n->body, &in, b);
                }
            } else if (json_is_object(v)) {
                i = 0;
                json_object_foreach((json_t *)v, key, e)
                {
                    in.item = e;
                    in.index = (long)i++;
                    in.key = key;
                    render_seq(n->body, &in, b);
                }
            }
            break;
        }
        case TK_COUNT:
            break;
        }
    }
}

void tmpl_render(const struct tmpl *t, const json_t *root, struct rbuf *b)
{
    struct scope sc = {.root = root, .item = root, .index = -1};

    if (t)
        render_seq(t->first, &sc, b);
}
