/* SPDX-License-Identifier: MIT */
/* xml.c -- XML node tree, escaping, character checks and the serializer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xml/err.h"
#include "xml/xml.h"

struct xml_attr {
    char *name;
    char *value;
};

enum xml_kind { XML_NODE_ELEMENT, XML_NODE_TEXT, XML_NODE_KIND_COUNT };

/* An element or a text child. Children form a singly linked list with a
 * tail pointer so that appending is O(1). */
struct xml_node {
    enum xml_kind kind;
    char *name; /* element: local name; text: NULL */
    char *ns;   /* element: namespace or NULL (inherited) */
    struct xml_attr *attrs;
    size_t n_attrs;
    size_t cap_attrs;
    char *text; /* text node: the characters (NUL-terminated) */
    size_t text_len;
    size_t text_cap; /* bytes allocated for text */
    struct xml_node *first;
    struct xml_node *last;
    struct xml_node *sibling;
};

/* ---- tree -------------------------------------------------------------- */

struct xml_node *xml_node_new(const char *name, const char *ns)
{
    struct xml_node *n;

    if (!name)
        return NULL;
    n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    n->kind = XML_NODE_ELEMENT;
    n->name = strdup(name);
    if (!n->name)
        goto fail;
    if (ns) {
        n->ns = strdup(ns);
        if (!n->ns)
            goto fail;
    }
    return n;
fail:
    xml_node_free(n);
    return NULL;
}

void xml_node_free(struct xml_node *n)
{
    struct xml_node *c, *next;

    if (!n)
        return;
    for (c = n->first; c; c = next) {
        next = c->sibling;
        xml_node_free(c);
    }
    for (size_t i = 0; i < n->n_attrs; i++) {
        free(n->attrs[i].name);
        free(n->attrs[i].value);
    }
    free(n->attrs);
    free(n->name);
    free(n->ns);
    free(n->text);
    free(n);
}

/* Appends child as the last child of parent (no allocation). */
static void node_link(struct xml_node *parent, struct xml_node *child)
{
    child->sibling = NULL;
    if (parent->last)
        parent->last->sibling = child;
    else
        parent->first = child;
    parent->last = child;
}

static struct xml_node *text_new(const char *text, size_t len)
{
    struct xml_node *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    t->kind = XML_NODE_TEXT;
    t->text = malloc(len + 1);
    if (!t->text) {
        free(t);
        return NULL;
    }
    memcpy(t->text, text, len);
    t->text[len] = '\0';
    t->text_len = len;
    t->text_cap = len + 1;
    return t;
}

struct xml_node *xml_node_copy(const struct xml_node *n)
{
    struct xml_node *d;
    const struct xml_node *c;

    if (!n)
        return NULL;
    if (n->kind == XML_NODE_TEXT)
        return text_new(n->text, n->text_len);
    d = xml_node_new(n->name, n->ns);
    if (!d)
        return NULL;
    for (size_t i = 0; i < n->n_attrs; i++)
        if (xml_node_set_attr(d, n->attrs[i].name, n->attrs[i].value) != 0)
            goto fail;
    for (c = n->first; c; c = c->sibling) {
        struct xml_node *cc = xml_node_copy(c);

        if (!cc)
            goto fail;
        node_link(d, cc);
    }
    return d;
fail:
    xml_node_free(d);
    return NULL;
}

static struct xml_attr *attr_find(const struct xml_node *n, const char *name)
{
    for (size_t i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0)
            return &n->attrs[i];
    return NULL;
}

int xml_node_set_attr(struct xml_node *n, const char *name, const char *value)
{
    struct xml_attr *a;
    char *v = NULL, *nm = NULL;

    if (!n || !name || n->kind != XML_NODE_ELEMENT)
        return XMTA_E_INVAL;
    a = attr_find(n, name);
    if (!value) {
        if (a) {
            size_t i = (size_t)(a - n->attrs);

            free(a->name);
            free(a->value);
            memmove(a, a + 1, (n->n_attrs - i - 1) * sizeof(*a));
            n->n_attrs--;
        }
        return 0;
    }
    v = strdup(value);
    if (!v)
        return XMTA_E_NOMEM;
    if (a) {
        free(a->value);
        a->value = v;
        return 0;
    }
    if (n->n_attrs == n->cap_attrs) {
        size_t cap = n->cap_attrs ? n->cap_attrs * 2 : 4;
        struct xml_attr *na = realloc(n->attrs, cap * sizeof(*na));

        if (!na)
            goto nomem;
        n->attrs = na;
        n->cap_attrs = cap;
    }
    nm = strdup(name);
    if (!nm)
        goto nomem;
    n->attrs[n->n_attrs].name = nm;
    n->attrs[n->n_attrs].value = v;
    n->n_attrs++;
    return 0;
nomem:
    free(v);
    return XMTA_E_NOMEM;
}

struct xml_node *
xml_node_add_child(struct xml_node *parent, const char *name, const char *ns)
{
    struct xml_node *c;

    if (!parent || parent->kind != XML_NODE_ELEMENT)
        return NULL;
    c = xml_node_new(name, ns);
    if (c)
        node_link(parent, c);
    return c;
}

int xml_node_append(struct xml_node *parent, struct xml_node *child)
{
    if (!parent || !child || parent->kind != XML_NODE_ELEMENT) {
        xml_node_free(child);
        return XMTA_E_INVAL;
    }
    node_link(parent, child);
    return 0;
}

int xml_node_add_text(struct xml_node *n, const char *text, size_t len)
{
    struct xml_node *t, *last;

    if (!n || !text || n->kind != XML_NODE_ELEMENT)
        return XMTA_E_INVAL;
    if (len == (size_t)-1)
        len = strlen(text);
    if (len == 0)
        return 0;
    last = n->last;
    if (last && last->kind == XML_NODE_TEXT) {
        /* Merge with the previous text child: expat delivers text in
         * pieces (every newline separately), and one text node per run
         * keeps trees comparable. Grow geometrically so that this stays
         * linear. */
        size_t need;

        if (len > SIZE_MAX / 2 - last->text_len - 1)
            return XMTA_E_NOMEM;
        need = last->text_len + len + 1;
        if (need > last->text_cap) {
            size_t cap = last->text_cap * 2 > need ? last->text_cap * 2 : need;
            char *nt = realloc(last->text, cap);

            if (!nt)
                return XMTA_E_NOMEM;
            last->text = nt;
            last->text_cap = cap;
        }
        memcpy(last->text + last->text_len, text, len);
        last->text_len += len;
        last->text[last->text_len] = '\0';
        return 0;
    }
    t = text_new(text, len);
    if (!t)
        return XMTA_E_NOMEM;
    node_link(n, t);
    return 0;
}

const char *xml_node_name(const struct xml_node *n)
{
    return n ? n->name : NULL;
}

const char *xml_node_ns(const struct xml_node *n)
{
    return n ? n->ns : NULL;
}

const char *xml_node_attr(const struct xml_node *n, const char *name)
{
    const struct xml_attr *a;

    if (!n || !name)
        return NULL;
    a = attr_find(n, name);
    return a ? a->value : NULL;
}

static struct xml_node *element_from(struct xml_node *c)
{
    while (c && c->kind != XML_NODE_ELEMENT)
        c = c->sibling;
    return c;
}

struct xml_node *
xml_node_child(const struct xml_node *n, const char *name, const char *ns)
{
    struct xml_node *c;

    if (!n || !name)
        return NULL;
    for (c = element_from(n->first); c; c = element_from(c->sibling)) {
        if (strcmp(c->name, name) != 0)
            continue;
        if (!ns || (c->ns && strcmp(c->ns, ns) == 0))
            return c;
    }
    return NULL;
}

struct xml_node *xml_node_first_child(const struct xml_node *n)
{
    return n ? element_from(n->first) : NULL;
}

struct xml_node *xml_node_next(const struct xml_node *n)
{
    return n ? element_from(n->sibling) : NULL;
}

char *xml_node_text(const struct xml_node *n)
{
    const struct xml_node *c;
    size_t len = 0, o = 0;
    char *s;

    if (!n)
        return NULL;
    for (c = n->first; c; c = c->sibling)
        if (c->kind == XML_NODE_TEXT)
            len += c->text_len;
    s = malloc(len + 1);
    if (!s)
        return NULL;
    for (c = n->first; c; c = c->sibling) {
        if (c->kind != XML_NODE_TEXT)
            continue;
        memcpy(s + o, c->text, c->text_len);
        o += c->text_len;
    }
    s[o] = '\0';
    return s;
}

/* ---- characters -------------------------------------------------------- */

/* Decodes one UTF-8 sequence at s[0..len). Returns its length (1-4) and
 * sets *cp, or 0 when the bytes at s do not start a valid sequence
 * (overlong, surrogate, beyond U+10FFFF, truncated, stray continuation). */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
    uint32_t c;
    size_t n;

    if (len == 0)
        return 0;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        n = 2;
        c = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        n = 3;
        c = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        n = 4;
        c = s[0] & 0x07;
    } else {
        return 0; /* continuation byte, 0xc0/0xc1 overlong, or > 0xf4 */
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) || c > 0x10ffff ||
        (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return n;
}

/* Characters XML 1.0 does not allow (surrogates are already excluded by
 * the decoder). */
static int char_forbidden(uint32_t c)
{
    if (c < 0x20)
        return c != '\t' && c != '\n' && c != '\r';
    return c == 0xfffe || c == 0xffff;
}

int xml_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    uint32_t cp;

    if (!s)
        return len == 0;
    while (i < len) {
        size_t n = utf8_decode(p + i, len - i, &cp);

        if (n == 0)
            return 0;
        i += n;
    }
    return 1;
}

size_t xml_text_sanitize(char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, o = 0;
    uint32_t cp;

    if (!s)
        return 0;
    while (i < len) {
        size_t n = utf8_decode(p + i, len - i, &cp);

        if (n == 0) {
            i++; /* drop one invalid byte and resynchronise */
            continue;
        }
        if (!char_forbidden(cp)) {
            memmove(s + o, s + i, n);
            o += n;
        }
        i += n;
    }
    s[o] = '\0';
    return o;
}

/* ---- serializer -------------------------------------------------------- */

static void buf_add(struct xml_buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (n >= b->cap - b->len || !b->p) {
        size_t cap = b->cap ? b->cap : 256;
        char *np;

        while (cap - b->len <= n) {
            if (cap > SIZE_MAX / 2) {
                b->failed = 1;
                return;
            }
            cap *= 2;
        }
        np = realloc(b->p, cap);
        if (!np) {
            b->failed = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_str(struct xml_buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

enum esc_mode {
    ESC_TEXT, /* & < > and CR */
    ESC_ATTR, /* & < > ' " and TAB LF CR (kept through normalisation) */
    ESC_MODE_COUNT
};

/* Appends text[0..len) escaped, dropping invalid UTF-8 and characters XML
 * 1.0 forbids. '>' is always escaped so "]]>" cannot appear; CR (and in
 * attributes TAB and LF) become character references because a parser
 * would otherwise normalise them away. */
static void
buf_escaped(struct xml_buf *b, const char *text, size_t len, enum esc_mode mode)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t i = 0, run = 0;
    uint32_t cp;

    while (i < len) {
        size_t n;
        const char *rep = NULL;

        /* Printable ASCII other than &<>'" stays as it is: no decoding. */
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '&' && p[i] != '<' &&
            p[i] != '>' && p[i] != '\'' && p[i] != '"') {
            i++;
            continue;
        }
        n = utf8_decode(p + i, len - i, &cp);

        if (n == 0 || char_forbidden(cp)) {
            buf_add(b, text + run, i - run);
            i += n ? n : 1;
            run = i;
            continue;
        }
        switch (cp) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '\r':
            rep = "&#13;";
            break;
        case '\'':
            rep = mode == ESC_ATTR ? "&apos;" : NULL;
            break;
        case '"':
            rep = mode == ESC_ATTR ? "&quot;" : NULL;
            break;
        case '\t':
            rep = mode == ESC_ATTR ? "&#9;" : NULL;
            break;
        case '\n':
            rep = mode == ESC_ATTR ? "&#10;" : NULL;
            break;
        default:
            break;
        }
        if (rep) {
            buf_add(b, text + run, i - run);
            buf_str(b, rep);
            i += n;
            run = i;
        } else {
            i += n;
        }
    }
    buf_add(b, text + run, i - run);
}

char *xml_escape(const char *text, size_t len)
{
    struct xml_buf b = {0};

    if (!text)
        return NULL;
    if (len == (size_t)-1)
        len = strlen(text);
    buf_add(&b, "", 0);
    buf_escaped(&b, text, len, ESC_ATTR);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* parent_ns: the effective namespace of the parent (NULL: unknown, i.e.
 * the root inherits the stream's). */
static void serialize_node(struct xml_buf *b,
                           const struct xml_node *n,
                           const char *parent_ns)
{
    const char *eff = n->ns ? n->ns : parent_ns;
    const struct xml_node *c;

    if (n->kind == XML_NODE_TEXT) {
        buf_escaped(b, n->text, n->text_len, ESC_TEXT);
        return;
    }
    buf_add(b, "<", 1);
    buf_str(b, n->name);
    if (n->ns && (!parent_ns || strcmp(n->ns, parent_ns) != 0)) {
        buf_str(b, " xmlns='");
        buf_escaped(b, n->ns, strlen(n->ns), ESC_ATTR);
        buf_add(b, "'", 1);
    }
    for (size_t i = 0; i < n->n_attrs; i++) {
        /* The namespace is the node's ns, never an attribute. */
        if (strcmp(n->attrs[i].name, "xmlns") == 0)
            continue;
        buf_add(b, " ", 1);
        buf_str(b, n->attrs[i].name);
        buf_add(b, "='", 2);
        buf_escaped(b, n->attrs[i].value, strlen(n->attrs[i].value), ESC_ATTR);
        buf_add(b, "'", 1);
    }
    if (!n->first) {
        buf_add(b, "/>", 2);
        return;
    }
    buf_add(b, ">", 1);
    for (c = n->first; c; c = c->sibling)
        serialize_node(b, c, eff);
    buf_add(b, "</", 2);
    buf_str(b, n->name);
    buf_add(b, ">", 1);
}

char *xml_node_serialize(const struct xml_node *n, size_t *len)
{
    struct xml_buf b = {0};

    if (!n)
        return NULL;
    serialize_node(&b, n, NULL);
    if (b.failed || !b.p) {
        free(b.p);
        return NULL;
    }
    if (len)
        *len = b.len;
    return b.p;
}

void xml_buf_add(struct xml_buf *b, const char *s, size_t n)
{
    buf_add(b, s, n);
}

void xml_buf_text(struct xml_buf *b, const char *s, size_t n)
{
    buf_escaped(b, s, n, ESC_TEXT);
}

void xml_buf_attr(struct xml_buf *b, const char *s, size_t n)
{
    buf_escaped(b, s, n, ESC_ATTR);
}

void xml_buf_free(struct xml_buf *b)
{
    if (!b)
        return;
    free(b->p);
    memset(b, 0, sizeof(*b));
}
