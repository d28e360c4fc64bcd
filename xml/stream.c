/* SPDX-License-Identifier: MIT */
/* stream.c -- a restricted, bounded XMPP stream parser on top of expat. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <expat.h>

#include "xml/err.h"
#include "xml/xml.h"

#define NS_SEP '\x01'
#define NS_XML "http://www.w3.org/XML/1998/namespace"

#define DEFAULT_MAX_STANZA_BYTES (64 * 1024)
#define DEFAULT_MAX_DEPTH 32
#define DEFAULT_MAX_ATTRS 64

struct xml_stream {
    XML_Parser p;
    struct xml_stream_cbs cbs;
    void *ud;
    struct xml_stream_limits lim;
    unsigned depth;          /* 0 before the header, 1 inside the stream */
    struct xml_node *stanza; /* the depth-2 element being built */
    struct xml_node **path;  /* open elements of the stanza, [0] = stanza */
    unsigned long long fed;  /* bytes handed to expat so far */
    unsigned long long mark; /* end of the last event at depth <= 1 */
    int err;                 /* first error; the parser is dead when set */
    char msg[256];
};

/* Records the first error and stops expat; later handlers see s->err and
 * return at once (expat may still deliver a few queued events). */
static void stream_fail(struct xml_stream *s, int err, const char *what)
{
    if (s->err)
        return;
    s->err = err;
    snprintf(s->msg, sizeof(s->msg), "%s", what);
    XML_StopParser(s->p, XML_FALSE);
}

/* Absolute offset of the end of the event being reported. */
static unsigned long long event_end(const struct xml_stream *s)
{
    XML_Index at = XML_GetCurrentByteIndex(s->p);
    int count = XML_GetCurrentByteCount(s->p);

    if (at < 0)
        return s->fed;
    return (unsigned long long)at + (unsigned long long)(count > 0 ? count : 0);
}

/* An expat name split into its parts; all point into buf (malloc'd). */
struct qname {
    char *buf;
    const char *uri; /* NULL when not namespaced */
    const char *local;
    const char *prefix; /* NULL when absent */
};

/* Splits expat's "uri\1local[\1prefix]" (or "local"); free q->buf after. */
static int qname_split(const char *name, struct qname *q)
{
    char *sep, *sep2;

    memset(q, 0, sizeof(*q));
    q->buf = strdup(name);
    if (!q->buf)
        return XMTA_E_NOMEM;
    sep = strchr(q->buf, NS_SEP);
    if (!sep) {
        q->local = q->buf;
        return 0;
    }
    *sep = '\0';
    q->uri = q->buf;
    q->local = sep + 1;
    sep2 = strchr(sep + 1, NS_SEP);
    if (sep2) {
        *sep2 = '\0';
        q->prefix = sep2 + 1;
    }
    return 0;
}

/* Copies expat's attributes to n. A namespaced attribute keeps its prefix
 * ("xml:lang"); for prefixes other than xml the declaration is kept as an
 * xmlns:prefix attribute so that the serialized element stays valid. */
static int node_set_attrs(struct xml_node *n, const char **atts)
{
    int rc = 0;

    for (size_t i = 0; atts[i] && rc == 0; i += 2) {
        struct qname q;
        char *full;
        size_t fl;

        rc = qname_split(atts[i], &q);
        if (rc != 0)
            break;
        if (!q.uri) {
            rc = xml_node_set_attr(n, q.local, atts[i + 1]);
            free(q.buf);
            continue;
        }
        if (!q.prefix)
            q.prefix = strcmp(q.uri, NS_XML) == 0 ? "xml" : "ns";
        fl = strlen(q.prefix) + strlen(q.local) + 7;
        full = malloc(fl);
        if (!full) {
            free(q.buf);
            rc = XMTA_E_NOMEM;
            break;
        }
        snprintf(full, fl, "%s:%s", q.prefix, q.local);
        rc = xml_node_set_attr(n, full, atts[i + 1]);
        if (rc == 0 && strcmp(q.uri, NS_XML) != 0) {
            snprintf(full, fl, "xmlns:%s", q.prefix);
            rc = xml_node_set_attr(n, full, q.uri);
        }
        free(full);
        free(q.buf);
    }
    return rc;
}

/* A new element for expat's name; a name without namespace gets ns "" so
 * that it serializes with xmlns='' rather than inheriting one. */
static struct xml_node *node_from_expat(const char *name)
{
    struct qname q;
    struct xml_node *n;

    if (qname_split(name, &q) != 0)
        return NULL;
    n = xml_node_new(q.local, q.uri ? q.uri : "");
    free(q.buf);
    return n;
}

static void on_start(void *ud, const char *name, const char **atts)
{
    struct xml_stream *s = ud;
    struct xml_node *n;
    unsigned n_attrs = 0;
    char why[128];

    if (s->err)
        return;
    while (atts[2 * n_attrs])
        n_attrs++;
    if (s->depth + 1 > s->lim.max_depth) {
        snprintf(why, sizeof(why), "element depth exceeds %u",
                 s->lim.max_depth);
        stream_fail(s, XMTA_E_LIMIT, why);
        return;
    }
    if (n_attrs > s->lim.max_attrs) {
        snprintf(why, sizeof(why), "element has more than %u attributes",
                 s->lim.max_attrs);
        stream_fail(s, XMTA_E_LIMIT, why);
        return;
    }
    n = node_from_expat(name);
    if (!n || node_set_attrs(n, atts) != 0) {
        xml_node_free(n);
        stream_fail(s, XMTA_E_NOMEM, "out of memory");
        return;
    }
    if (strcmp(xml_node_ns(n), NS_XML) == 0) {
        /* <xml:foo/>: legal XML, but no XMPP element lives there and it
         * cannot be written back with a default namespace declaration. */
        xml_node_free(n);
        stream_fail(s, XMTA_E_PARSE, "element in the xml: namespace");
        return;
    }
    if (s->depth == 0 && (strcmp(xml_node_name(n), "stream") != 0 ||
                          strcmp(xml_node_ns(n), XMTA_NS_STREAM) != 0)) {
        xml_node_free(n);
        stream_fail(s, XMTA_E_PARSE,
                    "root element is not {" XMTA_NS_STREAM "}stream");
        return;
    }
    if (s->depth == 0) {
        s->depth = 1;
        s->mark = event_end(s);
        if (s->cbs.open && s->cbs.open(s->ud, n) != 0)
            stream_fail(s, XMTA_E_STOPPED, "stopped by callback");
        xml_node_free(n);
        return;
    }
    if (s->depth == 1) {
        s->stanza = n;
    } else if (xml_node_append(s->path[s->depth - 2], n) != 0) {
        stream_fail(s, XMTA_E_NOMEM, "out of memory");
        return;
    }
    s->path[s->depth - 1] = n;
    s->depth++;
}

static void on_end(void *ud, const char *name)
{
    struct xml_stream *s = ud;
    struct xml_node *st;
    unsigned long long end;
    char why[128];

    if (s->err)
        return;
    if (s->depth == 1) {
        s->depth = 0;
        s->mark = event_end(s);
        if (s->cbs.close && s->cbs.close(s->ud) != 0)
            stream_fail(s, XMTA_E_STOPPED, "stopped by callback");
        return;
    }
    s->depth--;
    if (s->depth > 1)
        return;
    end = event_end(s);
    st = s->stanza;
    s->stanza = NULL;
    if (end - s->mark > s->lim.max_stanza_bytes) {
        snprintf(why, sizeof(why), "stanza exceeds %zu bytes",
                 s->lim.max_stanza_bytes);
        stream_fail(s, XMTA_E_LIMIT, why);
    } else {
        s->mark = end;
        if (s->cbs.stanza && s->cbs.stanza(s->ud, st) != 0)
            stream_fail(s, XMTA_E_STOPPED, "stopped by callback");
    }
    xml_node_free(st);
}

static void on_text(void *ud, const char *text, int len)
{
    struct xml_stream *s = ud;

    if (s->err)
        return;
    if (s->depth <= 1) {
        /* Whitespace keepalives and stray text between stanzas. */
        s->mark = event_end(s);
        return;
    }
    if (xml_node_add_text(s->path[s->depth - 2], text, (size_t)len) != 0)
        stream_fail(s, XMTA_E_NOMEM, "out of memory");
}

static void
on_xmldecl(void *ud, const char *version, const char *encoding, int standalone)
{
    struct xml_stream *s = ud;

    if (s->err)
        return;
    if (!version || strcmp(version, "1.0") != 0 ||
        (encoding && strcasecmp(encoding, "UTF-8") != 0) || standalone == 0)
        stream_fail(s, XMTA_E_RESTRICTED,
                    "XML declaration must be version 1.0, UTF-8");
}

static void on_doctype(void *ud,
                       const char *name,
                       const char *sysid,
                       const char *pubid,
                       int has_internal)
{
    stream_fail(ud, XMTA_E_RESTRICTED, "DOCTYPE not allowed");
}

static void on_comment(void *ud, const char *data)
{
    stream_fail(ud, XMTA_E_RESTRICTED, "comment not allowed");
}

static void on_pi(void *ud, const char *target, const char *data)
{
    stream_fail(ud, XMTA_E_RESTRICTED, "processing instruction not allowed");
}

static void on_entity_decl(void *ud,
                           const char *name,
                           int is_param,
                           const char *value,
                           int value_len,
                           const char *base,
                           const char *sysid,
                           const char *pubid,
                           const char *notation)
{
    stream_fail(ud, XMTA_E_RESTRICTED, "entity declaration not allowed");
}

static void on_skipped_entity(void *ud, const char *name, int is_param)
{
    stream_fail(ud, XMTA_E_RESTRICTED, "entity reference not allowed");
}

/* Everything without a handler lands here; its presence also keeps expat
 * from expanding internal entities. */
static void on_default(void *ud, const char *data, int len)
{
}

struct xml_stream *xml_stream_new(const struct xml_stream_cbs *cbs,
                                  void *ud,
                                  const struct xml_stream_limits *limits)
{
    struct xml_stream *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    if (cbs)
        s->cbs = *cbs;
    s->ud = ud;
    if (limits)
        s->lim = *limits;
    if (s->lim.max_stanza_bytes == 0)
        s->lim.max_stanza_bytes = DEFAULT_MAX_STANZA_BYTES;
    if (s->lim.max_depth == 0)
        s->lim.max_depth = DEFAULT_MAX_DEPTH;
    if (s->lim.max_attrs == 0)
        s->lim.max_attrs = DEFAULT_MAX_ATTRS;
    s->path = calloc(s->lim.max_depth, sizeof(*s->path));
    if (!s->path)
        goto fail;
    s->p = XML_ParserCreateNS("UTF-8", NS_SEP);
    if (!s->p)
        goto fail;
#ifdef HAVE_XML_SETREPARSEDEFERRALENABLED
    /* Otherwise expat may sit on a complete stanza until more bytes come,
     * which on an idle stream is forever. */
    XML_SetReparseDeferralEnabled(s->p, XML_FALSE);
#endif
    XML_SetReturnNSTriplet(s->p, XML_TRUE);
    XML_SetUserData(s->p, s);
    XML_SetElementHandler(s->p, on_start, on_end);
    XML_SetCharacterDataHandler(s->p, on_text);
    XML_SetXmlDeclHandler(s->p, on_xmldecl);
    XML_SetStartDoctypeDeclHandler(s->p, on_doctype);
    XML_SetCommentHandler(s->p, on_comment);
    XML_SetProcessingInstructionHandler(s->p, on_pi);
    XML_SetEntityDeclHandler(s->p, on_entity_decl);
    XML_SetSkippedEntityHandler(s->p, on_skipped_entity);
    XML_SetDefaultHandler(s->p, on_default);
    XML_SetParamEntityParsing(s->p, XML_PARAM_ENTITY_PARSING_NEVER);
    return s;
fail:
    xml_stream_free(s);
    return NULL;
}

void xml_stream_free(struct xml_stream *s)
{
    if (!s)
        return;
    if (s->p)
        XML_ParserFree(s->p);
    xml_node_free(s->stanza);
    free(s->path);
    free(s);
}

/* Feeds one piece to expat. Returns 0 or an error (s->err set). */
static int stream_parse(struct xml_stream *s, const char *buf, size_t len)
{
    enum XML_Status st;

    st = XML_Parse(s->p, buf, (int)len, XML_FALSE);
    s->fed += len;
    if (s->err)
        return s->err;
    if (st != XML_STATUS_OK) {
        enum XML_Error e = XML_GetErrorCode(s->p);

        s->err = XMTA_E_PARSE;
        snprintf(s->msg, sizeof(s->msg), "line %lu column %lu: %s",
                 (unsigned long)XML_GetCurrentLineNumber(s->p),
                 (unsigned long)XML_GetCurrentColumnNumber(s->p),
                 XML_ErrorString(e) ? XML_ErrorString(e) : "parse error");
        return s->err;
    }
    return 0;
}

/* Feeds buf to expat in pieces: bytes since the last depth-1 boundary all
 * belong to one stanza (or to the header), so feed at most enough to go
 * one byte over the limit and an oversized stanza is caught however large
 * the read was. */
static int
stream_feed_bounded(struct xml_stream *s, const char *buf, size_t len)
{
    const size_t max = s->lim.max_stanza_bytes;
    int rc;

    while (len > 0) {
        unsigned long long pending = s->fed - s->mark;
        size_t left = pending >= max ? 0 : max - (size_t)pending;
        size_t n = len <= left ? len : left + 1;

        if (n > (size_t)1 << 30)
            n = (size_t)1 << 30; /* XML_Parse takes an int */
        rc = stream_parse(s, buf, n);
        if (rc != 0)
            return rc;
        if (s->fed - s->mark > max) {
            s->err = XMTA_E_LIMIT;
            snprintf(s->msg, sizeof(s->msg), "%s exceeds %zu bytes",
                     s->depth >= 1 ? "stanza" : "stream header", max);
            return s->err;
        }
        buf += n;
        len -= n;
    }
    return 0;
}

/* The first byte XML over a UTF-8 stream never holds: NUL, 0xFE or 0xFF
 * (no UTF-8 sequence has them). Its offset, or len when there is none. */
static size_t stream_bad_byte(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];

        if (c == 0 || c >= 0xFE)
            return i;
    }
    return len;
}

int xml_stream_feed(struct xml_stream *s, const char *buf, size_t len)
{
    size_t bad;
    int rc;

    if (!s || (!buf && len))
        return XMTA_E_INVAL;
    if (s->err)
        return s->err;
    /* Stop at these ourselves: expat, even with UTF-8 forced, takes "x\0"
     * or "\0x" at the start for UTF-16, and a UTF-16 byte order mark
     * (FE FF, FF FE) for a switch to UTF-16. */
    bad = stream_bad_byte(buf, len);
    rc = stream_feed_bounded(s, buf, bad);
    if (rc == 0 && bad < len) {
        s->err = XMTA_E_PARSE;
        if (buf[bad] == '\0')
            snprintf(s->msg, sizeof(s->msg), "NUL byte in stream");
        else
            snprintf(s->msg, sizeof(s->msg),
                     "byte 0x%02X in stream: not UTF-8 (a UTF-16 byte order "
                     "mark?)",
                     (unsigned)(unsigned char)buf[bad]);
        rc = s->err;
    }
    return rc;
}

const char *xml_stream_error(const struct xml_stream *s)
{
    if (!s || !s->err)
        return "";
    return s->msg;
}
