/* SPDX-License-Identifier: MIT */
/* body.h -- http/'s pure request decoders (internal to http/).
 *
 * Bytes in, fields out: no libevent, no sockets, no logging, so the decoders
 * are unit-tested and fuzzed without a loop. http.c reads the request, calls
 * body_decode() and then body_msg_new() with the authenticated hook.
 *
 * Content types (parameters such as charset are ignored, names compared
 * case-insensitively):
 *   text/plain, or none       the whole body is the message text
 *   application/x-www-form-urlencoded, multipart/form-data
 *                             fields body|text|message|content, title|subject,
 *                             to and room (repeatable)
 *   application/json          an object with the same names; to and room are
 *                             a string or an array of strings; null is absent
 * When several aliases of the text (or of the title) are present, the first
 * in the order above wins. The query string's to= and room= (repeatable) are
 * added to the recipients of every content type; its other keys are ignored.
 */
#ifndef XMTA_HTTP_BODY_H
#define XMTA_HTTP_BODY_H

#include <stddef.h>

struct conf_hook;
struct msg;
struct json_t;
typedef struct json_t json_t;

#define BODY_MAX_RECIPIENTS                                                    \
    64                      /* to and room together, after de-duplication      \
                             */
#define BODY_MAX_PARTS 64   /* multipart parts */
#define BODY_MAX_FIELDS 256 /* urlencoded pairs (body and query each) */
#define BODY_ERR_MAX 256    /* a good size for the err buffers below */

/* What a request asked for. Every string is malloc'd and owned by the
 * struct; body_fields_clear() frees them. */
struct body_fields {
    char *body;    /* valid UTF-8 without characters XML forbids, trailing
                      whitespace removed, never empty (after success) */
    char *subject; /* the same, on one line (CR, LF, TAB become spaces) and
                      trimmed; NULL when absent or blank */
    char **to;     /* normalised JIDs (full when a resource was given) */
    size_t n_to;
    char **rooms; /* normalised bare JIDs */
    size_t n_rooms;
    char *full; /* format_decode(): the whole text when body was cut at
                   max_message (cleaned like body), else NULL */
};

/* Decodes data[0..len) of type content_type (NULL or "" means text/plain)
 * plus the raw query string query (may be NULL) into *out (overwritten:
 * clear a used one first). Returns 0, or on error fills err (a message
 * meant for the HTTP client) and returns
 *   XMTA_E_NOTFOUND  unsupported content type (answer 415)
 *   XMTA_E_PARSE     malformed JSON, form or multipart: err may quote the
 *                    input, so do not log it
 *   XMTA_E_INVAL     invalid UTF-8, no message text, invalid JID, a field of
 *                    the wrong type: err quotes no message text
 *   XMTA_E_LIMIT     too many parts, fields or recipients
 *   XMTA_E_NOMEM
 * On error *out is left cleared. */
int body_decode(const char *content_type,
                const char *data,
                size_t len,
                const char *query,
                struct body_fields *out,
                char *err,
                size_t errlen);

/* body_decode() for a body that format detection parsed already: parsed,
 * when not NULL, is data[0..len) as a JSON object parsed with duplicate
 * keys refused (JSON_REJECT_DUPLICATES), and is used (borrowed) instead of
 * parsing the body again when the content type makes it JSON: the same
 * result, without jansson's parser twice (issue 8). */
int body_decode_parsed(const char *content_type,
                       const char *data,
                       size_t len,
                       json_t *parsed,
                       const char *query,
                       struct body_fields *out,
                       char *err,
                       size_t errlen);

/* The value of the form field name (the first one) of a urlencoded or
 * multipart/form-data body, malloc'd into *out: how Discord's payload_json
 * and Uptime Kuma's data fields are found. Returns 0, XMTA_E_NOTFOUND (no
 * such field, or another content type), XMTA_E_PARSE, XMTA_E_LIMIT or
 * XMTA_E_NOMEM. */
int body_form_field(const char *content_type,
                    const char *data,
                    size_t len,
                    const char *name,
                    char **out);

/* Frees the strings of f and zeroes it (NULL-safe). */
void body_fields_clear(struct body_fields *f);

/* Builds the message for hook from decoded fields: from, nick and type from
 * the hook; recipients chosen by the caller (f->to and f->rooms) must each
 * match one of hook->allow_to on their bare JID, and without any the hook's
 * own to and rooms are used. Moves f's body and subject into the message
 * (f is cleared on every path). The id is left empty for the caller.
 * Returns 0 and *out, or fills err and returns
 *   XMTA_E_DENIED   a recipient allow_to does not allow (err names it: 403)
 *   XMTA_E_INVAL    no recipient at all (400)
 *   XMTA_E_NOMEM */
int body_msg_new(const struct conf_hook *hook,
                 struct body_fields *f,
                 struct msg **out,
                 char *err,
                 size_t errlen);

#endif
