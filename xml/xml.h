/* SPDX-License-Identifier: MIT */
/* xml.h -- XML node tree, serializer and a restricted, bounded stream
 * parser (expat) for XMPP streams. No I/O: bytes in, nodes out.
 *
 * Ownership: a node owns its attributes, text and children. Strings passed
 * in are copied. xml_node_free() frees a whole subtree (NULL-safe). */
#ifndef XMTA_XML_H
#define XMTA_XML_H

#include <stddef.h>

#define XMTA_NS_STREAM "http://etherx.jabber.org/streams"
#define XMTA_NS_COMPONENT "jabber:component:accept"
#define XMTA_NS_CLIENT "jabber:client"
#define XMTA_NS_STREAMS_ERR "urn:ietf:params:xml:ns:xmpp-streams"
#define XMTA_NS_STANZAS_ERR "urn:ietf:params:xml:ns:xmpp-stanzas"

struct xml_node;

/* ---- tree -------------------------------------------------------------- */

/* A new element. ns may be NULL: the element then inherits its parent's
 * namespace on output (top-level stanzas in jabber:component:accept are
 * built with ns NULL so no xmlns is written). NULL on allocation failure. */
struct xml_node *xml_node_new(const char *name, const char *ns);
void xml_node_free(struct xml_node *n);

/* Deep copy (NULL on allocation failure). */
struct xml_node *xml_node_copy(const struct xml_node *n);

/* Sets (or replaces) attribute name=value. value NULL removes it.
 * Returns 0 or XMTA_E_NOMEM. */
int xml_node_set_attr(struct xml_node *n, const char *name, const char *value);

/* Creates a child element appended to parent and returns it (owned by
 * parent), or NULL on allocation failure. */
struct xml_node *
xml_node_add_child(struct xml_node *parent, const char *name, const char *ns);

/* Appends an existing node as last child; parent takes child on every path
 * (returns 0, or XMTA_E_NOMEM after freeing child). */
int xml_node_append(struct xml_node *parent, struct xml_node *child);

/* Appends text (a text child). len may be (size_t)-1 for strlen.
 * Returns 0 or XMTA_E_NOMEM. */
int xml_node_add_text(struct xml_node *n, const char *text, size_t len);

/* Accessors; returned strings are borrowed from the node. */
const char *xml_node_name(const struct xml_node *n);
const char *xml_node_ns(const struct xml_node *n); /* NULL if inherited */
const char *xml_node_attr(const struct xml_node *n, const char *name);

/* First child element with this local name and namespace (ns NULL: any). */
struct xml_node *
xml_node_child(const struct xml_node *n, const char *name, const char *ns);
/* Child elements in order: first, then next sibling element (NULL at end). */
struct xml_node *xml_node_first_child(const struct xml_node *n);
struct xml_node *xml_node_next(const struct xml_node *n);

/* Concatenated text of the node's direct text children, as a malloc'd
 * string the caller frees ("" when none; NULL only on allocation failure).
 */
char *xml_node_text(const struct xml_node *n);

/* ---- serializer -------------------------------------------------------- */

/* Serializes n (and its subtree) to a malloc'd NUL-terminated string, *len
 * set to its length if len is not NULL. An xmlns attribute is written only
 * where an element's namespace differs from its parent's (for the root:
 * when ns is not NULL). Text and attribute values are escaped (& < > ' ")
 * and characters XML 1.0 forbids are removed (see xml_text_sanitize).
 * Returns NULL on allocation failure. */
char *xml_node_serialize(const struct xml_node *n, size_t *len);

/* Appends the escaped form of text[0..len) to a malloc'd buffer; exposed for
 * the stream header. Returns a new malloc'd string or NULL. */
char *xml_escape(const char *text, size_t len);

/* ---- writer ------------------------------------------------------------ */

/* A growing output buffer for a stanza written without a tree (the webhook
 * path, issue 8) with the serializer's own escaping: what it gives is what
 * xml_node_serialize() gives for the same tree. Starts zeroed; reusable
 * (set len to 0); p is NUL-terminated once anything was added. On
 * allocation failure failed is set and later appends do nothing. */
struct xml_buf {
    char *p;
    size_t len;
    size_t cap;
    int failed;
};

/* Appends s[0..n) as it is (markup). */
void xml_buf_add(struct xml_buf *b, const char *s, size_t n);
/* Appends s[0..n) escaped as character data / as an attribute value. */
void xml_buf_text(struct xml_buf *b, const char *s, size_t n);
void xml_buf_attr(struct xml_buf *b, const char *s, size_t n);
/* Frees the memory and zeroes b (NULL-safe). */
void xml_buf_free(struct xml_buf *b);

/* ---- characters -------------------------------------------------------- */

/* Returns 1 when s[0..len) is valid UTF-8 (no overlongs, no surrogates, no
 * code point > U+10FFFF), else 0. */
int xml_utf8_valid(const char *s, size_t len);

/* Removes, in place, every character XML 1.0 forbids: C0 controls other than
 * TAB, LF, CR; U+FFFE and U+FFFF; and any invalid UTF-8 byte. Returns the
 * new length and NUL-terminates (s must have room for len+1 bytes). */
size_t xml_text_sanitize(char *s, size_t len);

/* ---- stream parser ----------------------------------------------------- */

struct xml_stream;

/* Callbacks. Each returns 0 to continue or non-zero to stop the parser:
 * xml_stream_feed() then returns XMTA_E_STOPPED without further callbacks
 * (never tear the connection down from inside a callback: stop, then act). */
struct xml_stream_cbs {
    /* The stream header (depth 1 element, no children): name "stream", ns
     * XMTA_NS_STREAM, its attributes (id, from, ...). Borrowed. */
    int (*open)(void *ud, const struct xml_node *header);
    /* A complete depth-2 element. Borrowed: freed when the callback
     * returns; copy what you keep. The stanza's namespace is as parsed
     * (e.g. jabber:component:accept). */
    int (*stanza)(void *ud, const struct xml_node *stanza);
    /* </stream:stream> was received. */
    int (*close)(void *ud);
};

struct xml_stream_limits {
    size_t max_stanza_bytes; /* bytes fed while one stanza is open; 0: 64 KiB */
    unsigned max_depth;      /* element depth including the stream; 0: 32 */
    unsigned max_attrs;      /* attributes per element; 0: 64 */
};

/* A parser for one stream (one TCP connection). expat is created with '\x01'
 * as namespace separator and reparse deferral off. DTDs, comments,
 * processing instructions and entity references other than the five
 * predefined and numeric character references are rejected. limits may be
 * NULL for the defaults. NULL on allocation failure. */
struct xml_stream *xml_stream_new(const struct xml_stream_cbs *cbs,
                                  void *ud,
                                  const struct xml_stream_limits *limits);
void xml_stream_free(struct xml_stream *s);

/* Feeds bytes. Returns 0, XMTA_E_STOPPED (a callback returned non-zero),
 * XMTA_E_PARSE (not well-formed), XMTA_E_RESTRICTED, or XMTA_E_LIMIT. After a
 * non-zero return the parser is unusable; xml_stream_error() says why. */
int xml_stream_feed(struct xml_stream *s, const char *buf, size_t len);

/* A static or parser-owned description of the last error ("" if none). */
const char *xml_stream_error(const struct xml_stream *s);

#endif
