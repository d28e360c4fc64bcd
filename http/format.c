/* SPDX-License-Identifier: MIT */
/* format.c -- which webhook format a request is, and decoding it into the
 * generic body fields. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "http/body.h"
#include "http/format.h"
#include "http/internal.h"
#include "xml/err.h"

/* Every format, in the order of auto-detection (FORMATS.md, with the
 * forge events first since their header decides, and Teams adaptive cards
 * before Slack since both use attachments[]). */
static const struct fmt_def *const fmt_all[] = {
    &fmt_github,       &fmt_gitea,          &fmt_gitlab,     &fmt_grafana,
    &fmt_alertmanager, &fmt_grafana_legacy, &fmt_kuma,       &fmt_discord,
    &fmt_teams,        &fmt_slack,          &fmt_mattermost, &fmt_ntfy,
    &fmt_gotify,       &fmt_generic,        &fmt_json,       &fmt_text,
};

#define FMT_COUNT (sizeof(fmt_all) / sizeof(fmt_all[0]))

/* Keys of the generic JSON shape: an object with nothing else is generic,
 * so that {"text": ...} from a script keeps its 202 and recipients. */
static const char *const generic_keys[] = {
    "body", "text", "message", "content", "title", "subject", "to",
    "room", "type", "nick",    "oob_url", "html",  "kind",    "from",
};

const struct fmt_def *format_find(const char *name)
{
    if (!name)
        return NULL;
    if (strcasecmp(name, "uptime-kuma") == 0)
        name = "kuma";
    else if (strcasecmp(name, "forgejo") == 0)
        name = "gitea";
    else if (strcasecmp(name, "msteams") == 0)
        name = "teams";
    for (size_t i = 0; i < FMT_COUNT; i++)
        if (strcasecmp(fmt_all[i]->name, name) == 0)
            return fmt_all[i];
    return NULL;
}

int format_name_ok(const char *name)
{
    return name && (strcasecmp(name, "auto") == 0 || format_find(name));
}

const char *format_names(void)
{
    return "auto, alertmanager, grafana, grafana-legacy, slack, mattermost, "
           "discord, ntfy, gotify, kuma, teams, github, gitea, gitlab, "
           "generic, json, text";
}

/* ---- request helpers --------------------------------------------------- */

static unsigned char ascii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

const char *fmt_header_get(const struct fmt_request *rq, const char *name)
{
    /* The detection asks for some 20 names a request mostly lacks: the
     * first letter rules most headers out before strcasecmp(). */
    unsigned char first = ascii_lower((unsigned char)name[0]);

    for (size_t i = 0; i < rq->n_headers; i++)
        if (ascii_lower((unsigned char)rq->headers[i].name[0]) == first &&
            strcasecmp(rq->headers[i].name, name) == 0)
            return rq->headers[i].value;
    return NULL;
}

/* Percent-decodes s[0..len) ('+' is a space); malloc'd, NULL on a bad
 * escape, an embedded NUL or no memory. */
static char *pct_dup(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    size_t o = 0;

    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;

        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] != '%') {
            out[o++] = s[i];
        } else if (len - i >= 3 && (hi = http_hex_digit(s[i + 1])) >= 0 &&
                   (lo = http_hex_digit(s[i + 2])) >= 0 && (hi | lo) != 0) {
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            free(out);
            return NULL;
        }
    }
    out[o] = '\0';
    return out;
}

/* The decoded value of key in a urlencoded string. */
static char *form_get(const char *s, size_t len, const char *key)
{
    size_t klen = strlen(key), pos = 0;

    while (pos < len) {
        const char *pair = s + pos, *amp = memchr(pair, '&', len - pos);
        size_t plen = amp ? (size_t)(amp - pair) : len - pos;

        if (plen > klen && memcmp(pair, key, klen) == 0 && pair[klen] == '=')
            return pct_dup(pair + klen + 1, plen - klen - 1);
        pos += plen + 1;
    }
    return NULL;
}

char *fmt_query_get(const struct fmt_request *rq, const char *key)
{
    return rq->query ? form_get(rq->query, strlen(rq->query), key) : NULL;
}

/* ---- parsing ----------------------------------------------------------- */

/* The media type of rq, lower-cased into buf ("" when none). */
static const char *
media_type(const struct fmt_request *rq, char *buf, size_t size)
{
    const char *ct = rq->content_type ? rq->content_type : "";
    size_t n = 0;

    ct += strspn(ct, " \t");
    while (ct[n] && ct[n] != ';' && ct[n] != ' ' && ct[n] != '\t' &&
           n + 1 < size) {
        buf[n] = (char)(ct[n] >= 'A' && ct[n] <= 'Z' ? ct[n] + 32 : ct[n]);
        n++;
    }
    buf[n] = '\0';
    return buf;
}

static int is_form(const char *mt)
{
    return !*mt || strcmp(mt, "application/x-www-form-urlencoded") == 0;
}

/* Parses the payload when it is JSON: a JSON content type, a Slack form
 * payload=, or a body that starts with '{' sent as text or form (curl -d
 * without -H). *slack_form is set for payload=, *from_body when the body itself
 * was parsed (*root is then the body, or NULL: not a JSON object). Returns
 * 0 with *root (or NULL: not a JSON object), or XMTA_E_PARSE for a bad
 * payload=. */
static int payload_parse(const struct fmt_request *rq,
                         json_t **root,
                         int *slack_form,
                         int *strict,
                         int *from_body,
                         char *err,
                         size_t errlen)
{
    char mt[64];
    json_error_t jerr;
    const char *d = rq->data;
    size_t len = rq->len, skip = 0;
    int declared;

    *root = NULL;
    *slack_form = *strict = *from_body = 0;
    media_type(rq, mt, sizeof(mt));
    declared = strcmp(mt, "application/json") == 0 ||
               (strncmp(mt, "application/", 12) == 0 && strlen(mt) > 5 &&
                strcmp(mt + strlen(mt) - 5, "+json") == 0);
    if (is_form(mt) && len > 8 && memcmp(d, "payload=", 8) == 0) {
        char *p = form_get(d, len, "payload");

        if (!p) {
            snprintf(err, errlen, "malformed form: bad payload= value");
            return XMTA_E_PARSE;
        }
        *root = json_loads(p, 0, &jerr);
        free(p);
        if (!*root || !json_is_object(*root)) {
            json_decref(*root);
            *root = NULL;
            snprintf(err, errlen, "payload= is not a JSON object");
            return XMTA_E_PARSE;
        }
        *slack_form = 1;
        return 0;
    }
    if (strcmp(mt, "multipart/form-data") == 0) {
        /* Discord's payload_json, Uptime Kuma's data */
        static const char *const fields[] = {"payload_json", "data"};
        char *v = NULL;

        for (size_t i = 0; i < 2 && !v; i++)
            if (body_form_field(rq->content_type, d, len, fields[i], &v) != 0)
                v = NULL;
        if (v && (*root = json_loads(v, 0, &jerr)) != NULL &&
            !json_is_object(*root)) {
            json_decref(*root);
            *root = NULL;
        }
        free(v);
        return 0;
    }
    while (skip < len && strchr(" \t\r\n", d[skip]))
        skip++;
    if (!declared && !(skip < len && d[skip] == '{' &&
                       (is_form(mt) || strcmp(mt, "text/plain") == 0)))
        return 0;
    /* As the generic decoder parses (duplicate keys refused), so that it
     * can take this tree instead of parsing the body again; with
     * duplicates the detection still looks at the last of each. */
    *from_body = 1;
    *root = json_loadb(d, len, JSON_REJECT_DUPLICATES, &jerr);
    if (*root)
        *strict = 1;
    else
        *root = json_loadb(d, len, 0, &jerr);
    if (*root && json_is_object(*root))
        return 0;
    /* Not a JSON object: the generic decoder says what is wrong in its
     * words (or takes text that merely starts with '{'). */
    json_decref(*root);
    *root = NULL;
    return 0;
}

static int generic_only(const json_t *root)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)root, key, v)
    {
        size_t i;

        for (i = 0; i < sizeof(generic_keys) / sizeof(generic_keys[0]); i++)
            if (strcmp(key, generic_keys[i]) == 0)
                break;
        if (i == sizeof(generic_keys) / sizeof(generic_keys[0]))
            return 0;
    }
    return 1;
}

static const struct fmt_def *detect(const json_t *root,
                                    const struct fmt_request *rq)
{
    if (root && generic_only(root))
        return &fmt_generic;
    for (size_t i = 0; i < FMT_COUNT; i++) {
        const struct fmt_def *f = fmt_all[i];

        if (f->match && f->match(root, rq))
            return f;
    }
    return &fmt_generic;
}

/* ---- decoding ---------------------------------------------------------- */

/* *tree for format_decode(): the body itself as a JSON object (as
 * json_loadb() without flags gives it), or NULL. root is the tree the
 * format was decoded from, from_body says it is the body's (root taken). */
static void body_tree(const struct fmt_request *rq,
                      json_t *root,
                      int from_body,
                      json_t **tree)
{
    size_t skip = 0;

    if (from_body) {
        *tree = root; /* NULL: the body is not a JSON object */
        return;
    }
    json_decref(root); /* a form field's (Slack, Discord, Kuma), or none */
    /* Only a body that starts with '{' can be an object: other content
     * types (e.g. application/octet-stream with a JSON body), a multipart
     * preamble. */
    while (skip < rq->len && strchr(" \t\r\n", rq->data[skip]))
        skip++;
    *tree = skip < rq->len && rq->data[skip] == '{'
                ? json_loadb(rq->data, rq->len, 0, NULL)
                : NULL;
    if (*tree && !json_is_object(*tree)) {
        json_decref(*tree);
        *tree = NULL;
    }
}

int format_decode(const struct fmt_def *forced,
                  const struct tmpl *tpl,
                  const struct fmt_request *rq,
                  size_t max_message,
                  struct body_fields *out,
                  const struct fmt_def **used,
                  json_t **tree,
                  char *err,
                  size_t errlen)
{
    const struct fmt_def *f = forced;
    struct rbuf b = {0};
    json_t *root = NULL;
    char *text = NULL, *full = NULL;
    int slack_form = 0, strict = 0, from_body = 0, rc;

    memset(out, 0, sizeof(*out));
    *used = NULL;
    if (tree)
        *tree = NULL;
    if (err && errlen)
        err[0] = '\0';
    rc =
        payload_parse(rq, &root, &slack_form, &strict, &from_body, err, errlen);
    if (rc != 0 && !(forced && !forced->json))
        goto out;
    rc = 0;
    if (!f)
        f = slack_form ? &fmt_slack : detect(root, rq);
    else if (f->json && (!root || (f->match && !f->match(root, rq)))) {
        snprintf(err, errlen, "expected %s", f->expect);
        rc = XMTA_E_INVAL;
        goto out;
    }
    *used = f;
    if (f == &fmt_generic && !tpl) { /* the tree parsed above, if JSON */
        rc = body_decode_parsed(rq->content_type, rq->data, rq->len,
                                strict ? root : NULL, rq->query, out, err,
                                errlen);
        goto out;
    }
    if (tpl && root)
        tmpl_render(tpl, root, &b);
    else if ((rc = f->render(root, rq, &b, err, errlen)) != 0)
        goto out;
    if (!(text = rbuf_take(&b)) ||
        !(text = fmt_cut_full(text, max_message, &full))) {
        rc = XMTA_E_NOMEM;
        goto out;
    }
    rc = body_decode("text/plain", text, strlen(text), rq->query, out, err,
                     errlen);
    if (rc == 0 && full) {
        /* The whole text, cleaned the same way (long_body = upload). */
        struct body_fields whole = {0};

        if (body_decode("text/plain", full, strlen(full), NULL, &whole, NULL,
                        0) == 0) {
            out->full = whole.body;
            whole.body = NULL;
        }
        body_fields_clear(&whole);
    }
out:
    if (rc == XMTA_E_NOMEM && err && errlen)
        snprintf(err, errlen, "out of memory");
    rbuf_free(&b);
    free(text);
    free(full);
    if (rc == 0 && tree)
        body_tree(rq, root, from_body, tree); /* takes root */
    else
        json_decref(root);
    return rc;
}
