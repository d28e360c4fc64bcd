/* SPDX-License-Identifier: MIT */
/* fuzz_body.c -- libFuzzer target for http/'s body decoders.
 *
 * Input: byte 0 chooses the content type (low 3 bits) and whether a query
 * string is given (bit 3: the bytes after the first '#' are the query).
 * The rest is the body. A successful decode must yield text that is valid
 * UTF-8 without characters XML 1.0 forbids, and recipients that parse as
 * JIDs again; body_msg_new() then runs against a hook that allows all. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "http/body.h"
#include "xml/err.h"
#include "xml/jid.h"
#include "xml/msg.h"
#include "xml/xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const types[8] = {
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=XyZ",
    "application/json",
    NULL,
    "multipart/form-data; boundary=\"a b\"",
    "Application/JSON; charset=utf-8",
    "image/png",
};

/* Aborts unless s is clean UTF-8 text: no C0 control other than TAB, LF
 * and CR, no U+FFFE/U+FFFF. one_line: no TAB, LF, CR either. */
static void check_text(const char *s, int one_line)
{
    size_t len = strlen(s);

    if (!xml_utf8_valid(s, len))
        abort();
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 && (one_line || (c != '\t' && c != '\n' && c != '\r')))
            abort();
        if (c == 0xEF && i + 2 < len && (unsigned char)s[i + 1] == 0xBF &&
            ((unsigned char)s[i + 2] == 0xBE ||
             (unsigned char)s[i + 2] == 0xBF))
            abort();
    }
}

static void check_jid(const char *s, int room)
{
    struct jid j;

    check_text(s, 1);
    if (jid_parse(s, &j, NULL) != 0)
        abort();
    if (room && (j.resource[0] || !j.local[0]))
        abort();
}

static void check_fields(const struct body_fields *f)
{
    if (!f->body || !f->body[0])
        abort();
    check_text(f->body, 0);
    if (f->subject) {
        if (!f->subject[0] || f->subject[0] == ' ')
            abort();
        check_text(f->subject, 1);
    }
    if (f->n_to + f->n_rooms > BODY_MAX_RECIPIENTS)
        abort();
    for (size_t i = 0; i < f->n_to; i++)
        check_jid(f->to[i], 0);
    for (size_t i = 0; i < f->n_rooms; i++)
        check_jid(f->rooms[i], 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *star[] = {"*"};
    static char *dflt[] = {"default@example.org"};
    static const struct conf_hook hook = {
        .name = "fuzz",
        .from = "fuzz",
        .to = dflt,
        .n_to = 1,
        .allow_to = star,
        .n_allow_to = 1,
    };
    struct body_fields f = {0};
    char err[BODY_ERR_MAX], *query = NULL;
    const char *body;
    size_t len;
    struct msg *m = NULL;
    int rc;

    if (size < 1)
        return 0;
    body = (const char *)data + 1;
    len = size - 1;
    if (data[0] & 8) {
        const char *hash = memchr(body, '#', len);

        if (hash) {
            size_t qlen = len - (size_t)(hash - body) - 1;

            if (!(query = malloc(qlen + 1)))
                return 0;
            memcpy(query, hash + 1, qlen);
            query[qlen] = '\0';
            len = (size_t)(hash - body);
        }
    }
    rc =
        body_decode(types[data[0] & 7], body, len, query, &f, err, sizeof(err));
    if (memchr(err, '\0', sizeof(err)) == NULL)
        abort();
    if (rc == 0) {
        check_fields(&f);
        rc = body_msg_new(&hook, &f, &m, err, sizeof(err));
        if (rc == 0 && (!m || !m->body || m->n_to + m->n_rooms == 0))
            abort();
        if (rc != 0 && rc != XMTA_E_NOMEM)
            abort(); /* allow_to "*" accepts every recipient */
        msg_free(m);
    } else if (f.body || f.to || f.rooms || f.subject) {
        abort(); /* an error leaves *out cleared */
    }
    body_fields_clear(&f);
    free(query);
    return 0;
}
