/* SPDX-License-Identifier: MIT */
/* format.h -- webhook formats: detection, decoders and rendering helpers
 * (internal to http/).
 *
 * Bytes and headers in, message text out: no libevent, no logging, so every
 * decoder is unit-tested and fuzzed without a loop. http.c collects the
 * request into a struct fmt_request and calls format_decode(), which picks a
 * format (forced by name, or detected in the order of FORMATS.md), renders
 * the payload into readable XEP-0393 text and hands that to body_decode()
 * as text/plain, so recipients (query to=/room=), validation and
 * sanitising stay exactly those of the generic path.
 *
 * Rendering conventions (render.c):
 *   - a bold first line ("*🔥 FIRING [2] DiskFull — prod*");
 *   - one line per alert ("item" lines, the unit max_message counts);
 *   - links last, one per line;
 *   - untrusted text escaped for XEP-0393: a U+200B ZERO WIDTH SPACE is put
 *     before a styling directive (* _ ~ `) that could open a span (at the
 *     start of a line or after whitespace) and before a '>' that starts a
 *     line, so "foo_bar_baz", "_x_" and "> y" arrive as typed. Untrusted
 *     text inside a bold line that itself holds a '*' is not bolded. */
#ifndef XMTA_HTTP_FORMAT_H
#define XMTA_HTTP_FORMAT_H

#include <stddef.h>

#include <jansson.h>

struct body_fields;
struct tmpl;

#define FMT_MAX_MESSAGE_DEFAULT 4000 /* characters */
#define FMT_ITEM_MARK '\x01'         /* starts an item line while rendering */

/* ---- the request ------------------------------------------------------- */

struct fmt_header {
    const char *name;
    const char *value;
};

struct fmt_request {
    const char *content_type; /* NULL: none */
    const char *data;         /* the body (not NUL-terminated) */
    size_t len;
    const char *query; /* raw query string; NULL: none */
    const struct fmt_header *headers;
    size_t n_headers;
};

/* The value of header name (case-insensitive), or NULL. */
const char *fmt_header_get(const struct fmt_request *rq, const char *name);
/* The percent-decoded value of query key (exact, lower-case), malloc'd, or
 * NULL. */
char *fmt_query_get(const struct fmt_request *rq, const char *key);

/* ---- the growing text -------------------------------------------------- */

struct rbuf {
    char *s;
    size_t len, cap;
    int oom; /* an allocation failed: the text is incomplete */
};

void rbuf_put(struct rbuf *b, const char *s, size_t len);
void rbuf_puts(struct rbuf *b, const char *s);
void rbuf_printf(struct rbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Text meant to be styled by its sender, as it is (item marks removed). */
void rbuf_text(struct rbuf *b, const char *s);
/* Markdown meant to be styled by its sender: **x** -> *x*, ~~x~~ -> ~x~
 * (whole spans only), [label](http...) -> label (url), :emoji: ->
 * Unicode. */
void rbuf_markdown(struct rbuf *b, const char *s);
/* Untrusted text, escaped for XEP-0393 (see above). */
void rbuf_esc(struct rbuf *b, const char *s);
void rbuf_esc_n(struct rbuf *b, const char *s, size_t len);
/* The same on one line: CR, LF and TAB become spaces. */
void rbuf_esc_line(struct rbuf *b, const char *s);
/* Appends line (already escaped) as bold "*line*" when that is safe (no
 * '*' inside, no blank edges), else as it is. */
void rbuf_bold(struct rbuf *b, const char *line);
/* Ends the current line if it is not empty. */
void rbuf_newline(struct rbuf *b);
/* A new bold line "EMOJI words": fmt holds trusted words and %s for
 * untrusted values, which are escaped (NULL shows as "?"). Only %s. */
void rbuf_headline(struct rbuf *b, const char *emoji, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A new line holding s escaped; nothing when s is NULL. */
void rbuf_line(struct rbuf *b, const char *s);
/* Starts an item line (counted and dropped by max_message). */
void rbuf_item(struct rbuf *b);
void rbuf_free(struct rbuf *b);
/* The text, malloc'd (""), or NULL after an allocation failure. b is
 * emptied on every path. */
char *rbuf_take(struct rbuf *b);

/* ---- JSON helpers ------------------------------------------------------ */

/* The string at key, or NULL when absent, null, not a string or empty. */
const char *fmt_jstr(const json_t *obj, const char *key);
/* The same along a path of keys ending with NULL. */
const char *fmt_jpath(const json_t *obj, ...);
/* Writes a scalar (string, number, true/false) as text into buf; returns
 * buf, or NULL for null, objects and arrays. */
const char *fmt_jscalar(const json_t *v, char *buf, size_t size);
/* Renders any JSON value as indented YAML-like text (escaped). */
void fmt_yaml(struct rbuf *b, const json_t *v, int indent);

/* :short_code: -> UTF-8 emoji, or NULL (code without the colons). */
const char *emoji_lookup(const char *code, size_t len);
/* Copies s converting every known :code: to its emoji. */
void rbuf_emojify(struct rbuf *b, const char *s);

/* ---- formats ----------------------------------------------------------- */

enum fmt_reply {
    FMT_REPLY_JSON, /* 202 {"ok":true,"id":...} */
    FMT_REPLY_OK,   /* 200 text/plain "ok" (Slack, Mattermost) */
    FMT_REPLY_NONE, /* 204 (Discord) */
    FMT_REPLY_COUNT
};

struct fmt_def {
    const char *name;
    const char *expect; /* "an Alertmanager payload (alerts[] and ...)" */
    enum fmt_reply reply;
    int json; /* the payload is a JSON object */
    /* 1 when root (JSON formats; NULL for others) fits this format. */
    int (*match)(const json_t *root, const struct fmt_request *rq);
    /* Renders into out; 0 or XMTA_E_INVAL with err filled. */
    int (*render)(const json_t *root,
                  const struct fmt_request *rq,
                  struct rbuf *out,
                  char *err,
                  size_t errlen);
};

/* The format called name (case-insensitive; "auto" gives NULL), or NULL. */
const struct fmt_def *format_find(const char *name);
/* 1 when name is "auto" or a known format. */
int format_name_ok(const char *name);
/* "alertmanager, grafana, ..." for error messages. */
const char *format_names(void);

/* Decodes rq into *out (overwritten) as format forced (NULL: detect), or
 * through template tpl when not NULL (JSON bodies only). max_message is the
 * limit in characters (0: the default). *used is the format that decoded
 * (never NULL after success). When tree is not NULL, *tree is after success
 * the body itself as a JSON object (json_loadb() without flags), the
 * caller's to json_decref(), or NULL when the body is not one: what
 * http_am_alert(), http_am_labels() and http_attach_url() read, so that the
 * body is parsed once (the tree the format was decoded from, when that is
 * the body's); NULL after an error. Errors as body_decode(), plus
 * XMTA_E_INVAL with "expected ..." when the body does not fit forced. */
int format_decode(const struct fmt_def *forced,
                  const struct tmpl *tpl,
                  const struct fmt_request *rq,
                  size_t max_message,
                  struct body_fields *out,
                  const struct fmt_def **used,
                  json_t **tree,
                  char *err,
                  size_t errlen);

/* Cuts text (malloc'd, taken) to at most max characters on a line
 * boundary, dropping item lines first with "… (N more alerts)", else the
 * last lines with "… (N more lines)"; never inside a UTF-8 sequence. Item
 * marks are removed. Returns the new text or NULL (allocation failure). */
char *fmt_cut(char *text, size_t max);
/* The same; when text is cut and full is not NULL, *full is the whole
 * text without item marks (malloc'd), else NULL. */
char *fmt_cut_full(char *text, size_t max, char **full);

/* The decoders (one file each). */
extern const struct fmt_def fmt_alertmanager, fmt_grafana, fmt_grafana_legacy,
    fmt_slack, fmt_mattermost, fmt_discord, fmt_ntfy, fmt_gotify, fmt_kuma,
    fmt_teams, fmt_github, fmt_gitea, fmt_gitlab, fmt_generic, fmt_text,
    fmt_json;

/* Shared by the Grafana decoders. */
int fmt_grafana_legacy_match(const json_t *root, const struct fmt_request *rq);
int fmt_grafana_legacy_render(const json_t *root,
                              const struct fmt_request *rq,
                              struct rbuf *out,
                              char *err,
                              size_t errlen);
/* Slack mrkdwn text: links, entities and :emoji: converted. */
void fmt_slack_text(struct rbuf *b, const char *s);

/* ---- signatures (signature.c) ------------------------------------------ */

/* Checks the request's signature against secret: X-Hub-Signature-256
 * (sha256=HEX), X-Gitea-Signature (HEX), X-Gitlab-Token (the secret
 * itself) or the header generic (sha256=HEX or HEX; NULL: X-Xmta-Signature),
 * each HMAC-SHA256 of the body compared in constant time. Returns 0,
 * XMTA_E_DENIED with err "missing signature" or "bad signature". */
int fmt_signature_check(const struct fmt_request *rq,
                        const char *secret,
                        const char *generic,
                        char *err,
                        size_t errlen);

/* ---- templates (template.c) -------------------------------------------- */

/* Compiles src. NULL with err filled ("line N: ...", N counted from 1
 * within src) on a syntax error or allocation failure. */
struct tmpl *tmpl_compile(const char *src, char *err, size_t errlen);
/* Renders t over root into b. Missing fields render empty. */
void tmpl_render(const struct tmpl *t, const json_t *root, struct rbuf *b);
void tmpl_free(struct tmpl *t); /* NULL-safe */

#endif
