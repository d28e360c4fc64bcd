/* SPDX-License-Identifier: MIT */
/* body.c -- webhook body decoders: text, urlencoded form, multipart, JSON. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "conf/conf.h"
#include "http/body.h"
#include "http/internal.h"
#include "xml/err.h"
#include "xml/jid.h"
#include "xml/msg.h"
#include "xml/xml.h"

/* The text and title fields and their aliases, in order of precedence. */
enum slot {
    SLOT_BODY,
    SLOT_TEXT,
    SLOT_MESSAGE,
    SLOT_CONTENT,
    SLOT_TITLE,
    SLOT_SUBJECT,
    SLOT_COUNT
};

static const char *const slot_names[SLOT_COUNT] = {
    [SLOT_BODY] = "body",       [SLOT_TEXT] = "text",
    [SLOT_MESSAGE] = "message", [SLOT_CONTENT] = "content",
    [SLOT_TITLE] = "title",     [SLOT_SUBJECT] = "subject",
};

#define JID_TEXT_MAX (3 * (JID_PART_MAX + 1)) /* local@domain/resource */
#define MULTIPART_BOUNDARY_MAX 70             /* RFC 2046 */
#define MULTIPART_HEADERS_MAX 16              /* header lines per part */
#define FIELD_NAME_MAX 128

/* One decode in progress. */
struct decoder {
    char *slot[SLOT_COUNT]; /* raw field values, not yet validated */
    size_t slot_len[SLOT_COUNT];
    struct body_fields *out; /* recipients go straight here */
    char *err;
    size_t errlen;
    const char *want; /* body_form_field(): only this field, into got */
    char *got;
};

static int fail(struct decoder *d, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct decoder *d, int rc, const char *fmt, ...)
{
    va_list ap;

    if (d->err && d->errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(d->err, d->errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Case-insensitive comparison of s[0..len) with the NUL-terminated lit. */
static int span_eq_ci(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && strncasecmp(s, lit, len) == 0;
}

static int span_eq(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

static char *span_dup(const char *s, size_t len)
{
    char *p = malloc(len + 1);

    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

/* ---- fields ------------------------------------------------------------ */

static int slot_set(struct decoder *d, enum slot s, const char *v, size_t len)
{
    if (d->slot[s])
        return fail(d, XMTA_E_INVAL, "repeated field '%s'", slot_names[s]);
    if (!(d->slot[s] = span_dup(v, len)))
        return XMTA_E_NOMEM;
    d->slot_len[s] = len;
    return 0;
}

static int list_has(char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return 1;
    return 0;
}

static int list_push(char ***list, size_t *n, const char *s)
{
    char **grown = realloc(*list, (*n + 1) * sizeof(**list));
    char *copy;

    if (!grown)
        return XMTA_E_NOMEM;
    *list = grown;
    if (!(copy = strdup(s)))
        return XMTA_E_NOMEM;
    grown[(*n)++] = copy;
    return 0;
}

/* Validates and normalises one recipient and appends it (once). */
static int recipient_add(struct decoder *d, int room, const char *v, size_t len)
{
    struct body_fields *o = d->out;
    char raw[JID_TEXT_MAX + 1], norm[JID_TEXT_MAX + 1];
    const char *why = NULL, *field = room ? "room" : "to";
    struct jid j;
    int rc;

    while (len > 0 && is_space(*v)) {
        v++;
        len--;
    }
    while (len > 0 && is_space(v[len - 1]))
        len--;
    if (len == 0)
        return fail(d, XMTA_E_INVAL, "invalid JID in '%s': empty", field);
    if (len > JID_TEXT_MAX)
        return fail(d, XMTA_E_INVAL, "invalid JID in '%s': too long", field);
    if (memchr(v, '\0', len))
        return fail(d, XMTA_E_INVAL, "invalid JID in '%s': contains NUL",
                    field);
    if (!xml_utf8_valid(v, len))
        return fail(d, XMTA_E_INVAL, "invalid UTF-8 in '%s'", field);
    memcpy(raw, v, len);
    raw[len] = '\0';
    if (jid_parse(raw, &j, &why) != 0)
        return fail(d, XMTA_E_INVAL, "invalid JID in '%s': %s", field,
                    why ? why : "malformed");
    if (room && (j.resource[0] || !j.local[0]))
        return fail(d, XMTA_E_INVAL,
                    "invalid JID in '%s': a room must be a bare JID "
                    "room@service",
                    field);
    rc = j.resource[0] ? jid_full(&j, norm, sizeof(norm))
                       : jid_bare(&j, norm, sizeof(norm));
    if (rc != 0)
        return fail(d, XMTA_E_INVAL, "invalid JID in '%s': too long", field);
    if (list_has(room ? o->rooms : o->to, room ? o->n_rooms : o->n_to, norm))
        return 0;
    if (o->n_to + o->n_rooms >= BODY_MAX_RECIPIENTS)
        return fail(d, XMTA_E_LIMIT, "too many recipients (at most %d)",
                    BODY_MAX_RECIPIENTS);
    return room ? list_push(&o->rooms, &o->n_rooms, norm)
                : list_push(&o->to, &o->n_to, norm);
}

/* One named field of a form (or, with recipients_only, of the query
 * string). Unknown names are ignored. */
static int field_put(struct decoder *d,
                     const char *name,
                     size_t nlen,
                     const char *v,
                     size_t vlen,
                     int recipients_only)
{
    if (d->want) {
        if (!d->got && span_eq(name, nlen, d->want) &&
            !(d->got = span_dup(v, vlen)))
            return XMTA_E_NOMEM;
        return 0;
    }
    if (span_eq(name, nlen, "to"))
        return recipient_add(d, 0, v, vlen);
    if (span_eq(name, nlen, "room"))
        return recipient_add(d, 1, v, vlen);
    if (recipients_only)
        return 0;
    for (int s = 0; s < SLOT_COUNT; s++)
        if (span_eq(name, nlen, slot_names[s]))
            return slot_set(d, (enum slot)s, v, vlen);
    return 0;
}

/* ---- application/x-www-form-urlencoded (and the query string) ---------- */

/* Percent-decodes s[0..len) into out ('+' is a space); out has room for
 * len bytes. Returns the decoded length, or -1 on a bad escape. */
static long pct_decode(const char *s, size_t len, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%') {
            int hi, lo;

            if (len - i < 3)
                return -1;
            hi = http_hex_digit(s[i + 1]);
            lo = http_hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    return (long)o;
}

static int form_parse(struct decoder *d,
                      const char *s,
                      size_t len,
                      int recipients_only,
                      const char *what)
{
    char *buf = NULL;
    size_t pos = 0, fields = 0;
    int rc = 0;

    if (len == 0)
        return 0;
    if (!(buf = malloc(len)))
        return XMTA_E_NOMEM;
    while (pos < len && rc == 0) {
        const char *pair = s + pos, *amp = memchr(pair, '&', len - pos);
        size_t plen = amp ? (size_t)(amp - pair) : len - pos;
        const char *eq = memchr(pair, '=', plen);
        size_t klen = eq ? (size_t)(eq - pair) : plen;
        long kdec, vdec;

        pos += plen + 1;
        if (plen == 0)
            continue;
        if (++fields > BODY_MAX_FIELDS) {
            rc = fail(d, XMTA_E_LIMIT, "too many fields in %s (at most %d)",
                      what, BODY_MAX_FIELDS);
            break;
        }
        /* Key and value decode into one buffer: key first, value after. */
        kdec = pct_decode(pair, klen, buf);
        vdec = eq ? pct_decode(eq + 1, plen - klen - 1, buf + klen) : 0;
        if (kdec < 0 || vdec < 0) {
            rc = fail(d, XMTA_E_PARSE, "malformed %s: bad %%-escape", what);
            break;
        }
        rc = field_put(d, buf, (size_t)kdec, buf + klen, (size_t)vdec,
                       recipients_only);
    }
    free(buf);
    return rc;
}

/* ---- header values: media type and parameters -------------------------- */

/* The first token of a header value (before ';'), trimmed. */
static size_t header_main(const char *v, size_t len, const char **start)
{
    size_t end = 0;

    while (len > 0 && is_ows(*v)) {
        v++;
        len--;
    }
    while (end < len && v[end] != ';')
        end++;
    while (end > 0 && is_ows(v[end - 1]))
        end--;
    *start = v;
    return end;
}

/* Looks for parameter name (case-insensitive) in a header value such as
 * 'form-data; name="to"; filename=a.txt'. Copies its (unquoted) value into
 * out. Returns 1 when found, 0 when absent, -1 when the value is malformed
 * or does not fit. */
static int header_param(
    const char *v, size_t len, const char *name, char *out, size_t outsz)
{
    size_t i = 0;

    while (i < len && v[i] != ';') /* skip the main value */
        i++;
    while (i < len) {
        size_t ns, ne, o = 0;
        int match;

        while (i < len && (is_ows(v[i]) || v[i] == ';'))
            i++;
        if (i >= len)
            break;
        ns = i;
        while (i < len && v[i] != '=' && v[i] != ';')
            i++;
        ne = i;
        while (ne > ns && is_ows(v[ne - 1]))
            ne--;
        match = span_eq_ci(v + ns, ne - ns, name);
        if (i >= len || v[i] == ';')
            continue; /* a parameter without a value */
        i++;          /* '=' */
        while (i < len && is_ows(v[i]))
            i++;
        if (i < len && v[i] == '"') {
            for (i++;; i++) {
                if (i >= len)
                    return -1; /* unterminated quoted-string */
                if (v[i] == '"')
                    break;
                if (v[i] == '\\' && i + 1 < len)
                    i++;
                if (match) {
                    if (o + 1 >= outsz)
                        return -1;
                    out[o++] = v[i];
                }
            }
            i++; /* closing quote */
            while (i < len && v[i] != ';')
                i++; /* junk after the quoted-string: ignored */
        } else {
            size_t vs = i, ve;

            while (i < len && v[i] != ';')
                i++;
            ve = i;
            while (ve > vs && is_ows(v[ve - 1]))
                ve--;
            if (match) {
                if (ve - vs + 1 > outsz)
                    return -1;
                memcpy(out, v + vs, ve - vs);
                o = ve - vs;
            }
        }
        if (match) {
            out[o] = '\0';
            return 1;
        }
    }
    return 0;
}

/* ---- multipart/form-data ----------------------------------------------- */

struct delim {
    size_t at;   /* offset of "--boundary" */
    size_t next; /* offset just after the delimiter line */
    int close;   /* "--boundary--": the last one */
};

/* memmem() is a GNU extension; needles here are at most 72 bytes. */
static const char *
span_find(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
    const char *p = hay, *end = hay + hlen;

    while ((size_t)(end - p) >= nlen &&
           (p = memchr(p, needle[0], (size_t)(end - p) - nlen + 1))) {
        if (memcmp(p, needle, nlen) == 0)
            return p;
        p++;
    }
    return NULL;
}

/* Finds the next delimiter line at or after from: "--boundary" at the start
 * of the data or of a line, followed by "--" or by optional blanks and a
 * line break (CRLF, or a bare LF from lenient senders). Returns 1 if
 * found. */
static int delim_find(const char *s,
                      size_t len,
                      size_t from,
                      const char *dash,
                      size_t dlen,
                      struct delim *out)
{
    while (from < len) {
        const char *p = span_find(s + from, len - from, dash, dlen);
        size_t at, i;

        if (!p)
            return 0;
        at = (size_t)(p - s);
        from = at + 1;
        if (at > 0 && s[at - 1] != '\n')
            continue;
        i = at + dlen;
        if (i + 2 <= len && s[i] == '-' && s[i + 1] == '-') {
            out->at = at;
            out->next = i + 2;
            out->close = 1;
            return 1;
        }
        while (i < len && is_ows(s[i]))
            i++;
        if (i < len && s[i] == '\n')
            i++;
        else if (i + 1 < len && s[i] == '\r' && s[i + 1] == '\n')
            i += 2;
        else
            continue;
        out->at = at;
        out->next = i;
        out->close = 0;
        return 1;
    }
    return 0;
}

/* Reads the header lines of a part starting at *pos, up to and including
 * the empty line. Keeps Content-Disposition and Content-Type (borrowed). */
static int part_headers(struct decoder *d,
                        const char *s,
                        size_t len,
                        size_t *pos,
                        const char **disp,
                        size_t *displen,
                        const char **ctype,
                        size_t *ctypelen)
{
    size_t i = *pos;
    int lines = 0;

    *disp = *ctype = NULL;
    *displen = *ctypelen = 0;
    for (;;) {
        const char *line = s + i, *nl = memchr(line, '\n', len - i);
        size_t llen, nlen;
        const char *colon, *val;
        size_t vlen;

        if (!nl)
            return fail(d, XMTA_E_PARSE,
                        "malformed multipart: truncated "
                        "part headers");
        llen = (size_t)(nl - line);
        i += llen + 1;
        if (llen > 0 && line[llen - 1] == '\r')
            llen--;
        if (llen == 0)
            break;
        if (++lines > MULTIPART_HEADERS_MAX)
            return fail(d, XMTA_E_LIMIT,
                        "malformed multipart: too many part headers");
        if (!(colon = memchr(line, ':', llen)))
            return fail(d, XMTA_E_PARSE,
                        "malformed multipart: bad part header");
        nlen = (size_t)(colon - line);
        val = colon + 1;
        vlen = llen - nlen - 1;
        while (vlen > 0 && is_ows(*val)) {
            val++;
            vlen--;
        }
        while (vlen > 0 && is_ows(val[vlen - 1]))
            vlen--;
        if (span_eq_ci(line, nlen, "content-disposition")) {
            *disp = val;
            *displen = vlen;
        } else if (span_eq_ci(line, nlen, "content-type")) {
            *ctype = val;
            *ctypelen = vlen;
        }
    }
    *pos = i;
    return 0;
}

/* One part: a form field, or a file. A file is taken as the field of its
 * name when it is text (curl -F body=@message.txt); other files are
 * ignored. */
static int part_put(struct decoder *d,
                    const char *disp,
                    size_t displen,
                    const char *ctype,
                    size_t ctypelen,
                    const char *content,
                    size_t clen)
{
    char name[FIELD_NAME_MAX], file[FIELD_NAME_MAX];
    const char *type = NULL;
    size_t tlen = 0;
    int has_name, is_file;

    if (disp)
        tlen = header_main(disp, displen, &type);
    if (!disp || !span_eq_ci(type, tlen, "form-data"))
        return fail(d, XMTA_E_PARSE,
                    "malformed multipart: part is not form-data");
    has_name = header_param(disp, displen, "name", name, sizeof(name));
    if (has_name < 0)
        return fail(d, XMTA_E_PARSE, "malformed multipart: bad field name");
    if (has_name == 0)
        return fail(d, XMTA_E_PARSE,
                    "malformed multipart: part without a name");
    /* The file name itself is not used: only whether there is one. A
     * name too long for the buffer (-1) still means a file. */
    is_file = header_param(disp, displen, "filename", file, sizeof(file)) ||
              header_param(disp, displen, "filename*", file, sizeof(file));
    if (is_file && ctype) {
        tlen = header_main(ctype, ctypelen, &type);
        if (!span_eq_ci(type, tlen, "text/plain"))
            return 0;
    }
    return field_put(d, name, strlen(name), content, clen, 0);
}

static int multipart_parse(struct decoder *d,
                           const char *boundary,
                           const char *s,
                           size_t len)
{
    char dash[MULTIPART_BOUNDARY_MAX + 3];
    size_t dlen = strlen(boundary) + 2;
    struct delim cur, next;
    int parts = 0, rc;

    dash[0] = dash[1] = '-';
    memcpy(dash + 2, boundary, dlen - 2);
    dash[dlen] = '\0';
    if (!delim_find(s, len, 0, dash, dlen, &cur))
        return fail(d, XMTA_E_PARSE,
                    "malformed multipart: boundary not "
                    "found");
    while (!cur.close) {
        const char *disp, *ctype;
        size_t displen, ctypelen, pos = cur.next, end;

        if (++parts > BODY_MAX_PARTS)
            return fail(d, XMTA_E_LIMIT,
                        "malformed multipart: too many parts (at most %d)",
                        BODY_MAX_PARTS);
        rc = part_headers(d, s, len, &pos, &disp, &displen, &ctype, &ctypelen);
        if (rc != 0)
            return rc;
        /* The line break before a delimiter belongs to the delimiter. An
         * empty part may have its delimiter right after the blank line. */
        if (!delim_find(s, len, pos, dash, dlen, &next))
            return fail(d, XMTA_E_PARSE,
                        "malformed multipart: missing "
                        "final boundary");
        end = next.at;
        if (end > pos && s[end - 1] == '\n')
            end--;
        if (end > pos && s[end - 1] == '\r')
            end--;
        rc = part_put(d, disp, displen, ctype, ctypelen, s + pos, end - pos);
        if (rc != 0)
            return rc;
        cur = next;
    }
    return 0; /* the epilogue after the close delimiter is ignored */
}

/* ---- application/json -------------------------------------------------- */

static int json_recipients(struct decoder *d, json_t *root, int room)
{
    const char *key = room ? "room" : "to";
    json_t *v = json_object_get(root, key), *item;
    size_t i;
    int rc;

    if (!v || json_is_null(v))
        return 0;
    if (json_is_string(v))
        return recipient_add(d, room, json_string_value(v),
                             json_string_length(v));
    if (!json_is_array(v))
        goto bad;
    json_array_foreach(v, i, item)
    {
        if (!json_is_string(item))
            goto bad;
        rc = recipient_add(d, room, json_string_value(item),
                           json_string_length(item));
        if (rc != 0)
            return rc;
    }
    return 0;
bad:
    return fail(d, XMTA_E_INVAL, "'%s' must be a string or an array of strings",
                key);
}

/* parsed: the body as a JSON object, parsed already (with duplicate keys
 * refused), or NULL. */
static int
json_parse(struct decoder *d, const char *s, size_t len, json_t *parsed)
{
    json_error_t jerr;
    json_t *root = parsed;
    int rc = 0;

    /* JSON is UTF-8 (RFC 8259); say so plainly rather than in jansson's
     * words. */
    if (!xml_utf8_valid(s, len))
        return fail(d, XMTA_E_INVAL, "invalid UTF-8");
    /* Duplicate keys are ambiguous ("to" twice): refuse them. Strings
     * holding \u0000 are refused too (no JSON_ALLOW_NUL). */
    if (root)
        json_incref(root);
    else
        root =
            json_loadb(s, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!root)
        return fail(d, XMTA_E_PARSE,
                    "invalid JSON: %s at line %d, column %d (byte %d)",
                    jerr.text, jerr.line, jerr.column, jerr.position);
    if (!json_is_object(root)) {
        rc = fail(d, XMTA_E_INVAL, "JSON body must be an object");
        goto out;
    }
    for (int i = 0; i < SLOT_COUNT && rc == 0; i++) {
        json_t *v = json_object_get(root, slot_names[i]);

        if (!v || json_is_null(v))
            continue;
        if (!json_is_string(v))
            rc = fail(d, XMTA_E_INVAL, "'%s' must be a string", slot_names[i]);
        else
            rc = slot_set(d, (enum slot)i, json_string_value(v),
                          json_string_length(v));
    }
    if (rc == 0)
        rc = json_recipients(d, root, 0);
    if (rc == 0)
        rc = json_recipients(d, root, 1);
out:
    json_decref(root);
    return rc;
}

/* ---- validation of the text -------------------------------------------- */

/* Validates s[0..len) (malloc'd, len+1 bytes) as UTF-8 and removes what XML
 * forbids. Returns the new length, or -1 for invalid UTF-8. */
static long text_clean(char *s, size_t len)
{
    if (!xml_utf8_valid(s, len))
        return -1;
    return (long)xml_text_sanitize(s, len);
}

static int decoder_finish(struct decoder *d)
{
    struct body_fields *o = d->out;
    int s;
    long n;

    for (s = SLOT_BODY; s <= SLOT_CONTENT && !d->slot[s]; s++)
        ;
    if (s > SLOT_CONTENT)
        return fail(d, XMTA_E_INVAL, "no message text");
    if ((n = text_clean(d->slot[s], d->slot_len[s])) < 0)
        return fail(d, XMTA_E_INVAL, "invalid UTF-8");
    /* Trailing whitespace is noise (echo adds a newline); leading
     * whitespace may be indentation and is kept. */
    while (n > 0 && is_space(d->slot[s][n - 1]))
        n--;
    d->slot[s][n] = '\0';
    if (n == 0)
        return fail(d, XMTA_E_INVAL, "no message text");
    o->body = d->slot[s];
    d->slot[s] = NULL;

    for (s = SLOT_TITLE; s <= SLOT_SUBJECT && !d->slot[s]; s++)
        ;
    if (s <= SLOT_SUBJECT) {
        char *t = d->slot[s], *start;

        if ((n = text_clean(t, d->slot_len[s])) < 0)
            return fail(d, XMTA_E_INVAL, "invalid UTF-8");
        /* A title is one line: it becomes "*title*" above the text. */
        for (long i = 0; i < n; i++)
            if (is_space(t[i]))
                t[i] = ' ';
        while (n > 0 && t[n - 1] == ' ')
            n--;
        t[n] = '\0';
        start = t + strspn(t, " ");
        if (*start) {
            memmove(t, start, strlen(start) + 1);
            o->subject = t;
            d->slot[s] = NULL;
        }
    }
    return 0;
}

/* ---- entry points ------------------------------------------------------ */

enum kind { KIND_TEXT, KIND_FORM, KIND_MULTIPART, KIND_JSON, KIND_COUNT };

static int content_kind(struct decoder *d,
                        const char *ct,
                        enum kind *kind,
                        char *boundary,
                        size_t bsize)
{
    static const char *const names[KIND_COUNT] = {
        [KIND_TEXT] = "text/plain",
        [KIND_FORM] = "application/x-www-form-urlencoded",
        [KIND_MULTIPART] = "multipart/form-data",
        [KIND_JSON] = "application/json",
    };
    size_t len = ct ? strlen(ct) : 0, tlen;
    const char *type;
    int found;

    tlen = header_main(ct ? ct : "", len, &type);
    if (tlen == 0) {
        *kind = KIND_TEXT;
        return 0;
    }
    for (int k = 0; k < KIND_COUNT; k++) {
        if (span_eq_ci(type, tlen, names[k])) {
            *kind = (enum kind)k;
            goto known;
        }
    }
    return fail(d, XMTA_E_NOTFOUND, "unsupported content type: %.*s",
                (int)(tlen > 64 ? 64 : tlen), type);
known:
    if (*kind != KIND_MULTIPART)
        return 0;
    found = header_param(ct, len, "boundary", boundary, bsize);
    if (found == 0)
        return fail(d, XMTA_E_PARSE,
                    "malformed multipart: no boundary parameter");
    if (found < 0 || boundary[0] == '\0')
        return fail(d, XMTA_E_PARSE, "malformed multipart: bad boundary");
    return 0;
}

int body_decode(const char *content_type,
                const char *data,
                size_t len,
                const char *query,
                struct body_fields *out,
                char *err,
                size_t errlen)
{
    return body_decode_parsed(content_type, data, len, NULL, query, out, err,
                              errlen);
}

int body_decode_parsed(const char *content_type,
                       const char *data,
                       size_t len,
                       json_t *parsed,
                       const char *query,
                       struct body_fields *out,
                       char *err,
                       size_t errlen)
{
    struct decoder d = {.out = out, .err = err, .errlen = errlen};
    char boundary[MULTIPART_BOUNDARY_MAX + 1];
    enum kind kind = KIND_TEXT;
    int rc;

    if (err && errlen > 0)
        err[0] = '\0';
    memset(out, 0, sizeof(*out));
    if (!data)
        data = "";
    rc = content_kind(&d, content_type, &kind, boundary, sizeof(boundary));
    if (rc != 0)
        goto out;
    switch (kind) {
    case KIND_TEXT:
        rc = slot_set(&d, SLOT_BODY, data, len);
        break;
    case KIND_FORM:
        /* `curl -d 'disk full'` sends plain text labelled as a form: a
         * "form" without a single '=' has no fields, so take it as text. */
        if (len > 0 && !memchr(data, '=', len))
            rc = slot_set(&d, SLOT_BODY, data, len);
        else
            rc = form_parse(&d, data, len, 0, "form data");
        break;
    case KIND_MULTIPART:
        rc = multipart_parse(&d, boundary, data, len);
        break;
    case KIND_JSON:
        rc = json_parse(&d, data, len,
                        parsed && json_is_object(parsed) ? parsed : NULL);
        break;
    case KIND_COUNT:
        break;
    }
    if (rc == 0 && query)
        rc = form_parse(&d, query, strlen(query), 1, "query string");
    if (rc == 0)
        rc = decoder_finish(&d);
out:
    for (int s = 0; s < SLOT_COUNT; s++)
        free(d.slot[s]);
    if (rc == XMTA_E_NOMEM)
        fail(&d, rc, "out of memory");
    if (rc != 0)
        body_fields_clear(out);
    return rc;
}

int body_form_field(const char *content_type,
                    const char *data,
                    size_t len,
                    const char *name,
                    char **out)
{
    struct body_fields unused = {0};
    struct decoder d = {.out = &unused, .want = name};
    char boundary[MULTIPART_BOUNDARY_MAX + 1];
    enum kind kind = KIND_TEXT;
    int rc;

    *out = NULL;
    rc = content_kind(&d, content_type, &kind, boundary, sizeof(boundary));
    if (rc == 0 && kind == KIND_MULTIPART)
        rc = multipart_parse(&d, boundary, data ? data : "", len);
    else if (rc == 0 && kind == KIND_FORM)
        rc = form_parse(&d, data ? data : "", len, 0, "form data");
    if (rc == 0 && d.got)
        *out = d.got;
    else
        free(d.got);
    body_fields_clear(&unused);
    return rc != 0 ? rc : *out ? 0 : XMTA_E_NOTFOUND;
}

static void list_free(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

void body_fields_clear(struct body_fields *f)
{
    if (!f)
        return;
    free(f->body);
    free(f->subject);
    free(f->full);
    list_free(f->to, f->n_to);
    list_free(f->rooms, f->n_rooms);
    memset(f, 0, sizeof(*f));
}

static int hook_allows(const struct conf_hook *hook, const char *jid)
{
    char bare[JID_TEXT_MAX + 1];
    size_t n = strcspn(jid, "/"); /* normalised: no '/' before the resource */

    if (n >= sizeof(bare))
        return 0;
    memcpy(bare, jid, n);
    bare[n] = '\0';
    for (size_t i = 0; i < hook->n_allow_to; i++)
        if (jid_glob_match(hook->allow_to[i], bare))
            return 1;
    return 0;
}

int body_msg_new(const struct conf_hook *hook,
                 struct body_fields *f,
                 struct msg **out,
                 char *err,
                 size_t errlen)
{
    struct decoder d = {.err = err, .errlen = errlen};
    char *const *to = f->to, *const *rooms = f->rooms;
    size_t n_to = f->n_to, n_rooms = f->n_rooms;
    const char *from = hook->from ? hook->from : hook->name;
    struct msg *m = NULL;
    int rc = 0;

    *out = NULL;
    if (err && errlen > 0)
        err[0] = '\0';
    for (size_t i = 0; i < f->n_to && rc == 0; i++)
        if (!hook_allows(hook, f->to[i]))
            rc = fail(&d, XMTA_E_DENIED, "recipient not allowed: %s", f->to[i]);
    for (size_t i = 0; i < f->n_rooms && rc == 0; i++)
        if (!hook_allows(hook, f->rooms[i]))
            rc = fail(&d, XMTA_E_DENIED, "recipient not allowed: %s",
                      f->rooms[i]);
    if (rc != 0)
        goto out;
    if (n_to + n_rooms == 0) { /* the caller chose none: the defaults */
        to = hook->to;
        n_to = hook->n_to;
        rooms = hook->rooms;
        n_rooms = hook->n_rooms;
    }
    if (n_to + n_rooms == 0) {
        rc = fail(&d, XMTA_E_INVAL, "no recipients");
        goto out;
    }
    if (!f->body) {
        rc = fail(&d, XMTA_E_INVAL, "no message text");
        goto out;
    }
    rc = XMTA_E_NOMEM;
    if (!(m = msg_new()) || !(m->hook = strdup(hook->name)) ||
        !(m->from = strdup(from)) ||
        (hook->nick && !(m->nick = strdup(hook->nick))))
        goto out;
    m->type = hook->type;
    for (size_t i = 0; i < n_to; i++)
        if (msg_add_to(m, to[i]) != 0)
            goto out;
    for (size_t i = 0; i < n_rooms; i++)
        if (msg_add_room(m, rooms[i]) != 0)
            goto out;
    m->body = f->body;
    m->subject = f->subject;
    f->body = f->subject = NULL;
    *out = m;
    m = NULL;
    rc = 0;
out:
    if (rc == XMTA_E_NOMEM)
        fail(&d, rc, "out of memory");
    msg_free(m);
    body_fields_clear(f);
    return rc;
}
