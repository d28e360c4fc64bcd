/* SPDX-License-Identifier: MIT */
/* test_body.c -- the webhook body decoders and body_msg_new(), no loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conf/conf.h"
#include "http/body.h"
#include "xml/err.h"
#include "xml/msg.h"

static struct body_fields f;
static char err[BODY_ERR_MAX];

static int teardown(void **state)
{
    body_fields_clear(&f);
    return 0;
}

/* Decodes a string literal (embedded NULs included). */
#define DEC(ct, lit, query)                                                    \
    body_decode((ct), (lit), sizeof(lit) - 1, (query), &f, err, sizeof(err))

#define JSON "application/json"
#define FORM "application/x-www-form-urlencoded"

static void assert_cleared(void)
{
    assert_null(f.body);
    assert_null(f.subject);
    assert_null(f.to);
    assert_null(f.rooms);
    assert_int_equal(f.n_to, 0);
    assert_int_equal(f.n_rooms, 0);
}

static void assert_fails(int want, const char *err_prefix)
{
    assert_true(strncmp(err, err_prefix, strlen(err_prefix)) == 0);
    (void)want;
    assert_cleared();
}

#define FAILS(call, want, prefix)                                              \
    do {                                                                       \
        assert_int_equal((call), (want));                                      \
        assert_fails((want), (prefix));                                        \
    } while (0)

/* ---- text/plain -------------------------------------------------------- */

static void test_text_plain(void **state)
{
    assert_int_equal(DEC("text/plain; charset=UTF-8",
                         "disk full \xF0\x9F\x94\xA5 on db1\n", NULL),
                     0);
    assert_string_equal(f.body, "disk full \xF0\x9F\x94\xA5 on db1");
    assert_null(f.subject);
    assert_int_equal(f.n_to + f.n_rooms, 0);
}

static void test_text_missing_and_odd_content_type(void **state)
{
    assert_int_equal(DEC(NULL, "a", NULL), 0);
    assert_string_equal(f.body, "a");
    body_fields_clear(&f);
    assert_int_equal(DEC("", "b", NULL), 0);
    assert_string_equal(f.body, "b");
    body_fields_clear(&f);
    assert_int_equal(DEC(" TEXT/Plain ;charset=latin1", "c", NULL), 0);
    assert_string_equal(f.body, "c");
}

static void test_text_whitespace(void **state)
{
    /* Trailing whitespace goes, leading indentation stays. */
    assert_int_equal(DEC("text/plain", "  indented\r\n\t \n", NULL), 0);
    assert_string_equal(f.body, "  indented");
    body_fields_clear(&f);
    FAILS(DEC("text/plain", "", NULL), XMTA_E_INVAL, "no message text");
    FAILS(DEC("text/plain", " \r\n\t ", NULL), XMTA_E_INVAL, "no message text");
    /* Only forbidden characters: nothing left. */
    FAILS(DEC("text/plain", "\x01\x02\n", NULL), XMTA_E_INVAL,
          "no message text");
}

static void test_text_invalid_utf8(void **state)
{
    FAILS(DEC("text/plain", "ab\xff", NULL), XMTA_E_INVAL, "invalid UTF-8");
    FAILS(DEC("text/plain", "\xc0\xaf", NULL), XMTA_E_INVAL, "invalid UTF-8");
    FAILS(DEC("text/plain", "\xed\xa0\x80", NULL), XMTA_E_INVAL,
          "invalid UTF-8");
    FAILS(DEC("text/plain", "\xf4\x90\x80\x80", NULL), XMTA_E_INVAL,
          "invalid UTF-8");
    FAILS(DEC("text/plain", "\xe2\x82", NULL), XMTA_E_INVAL, "invalid UTF-8");
}

static void test_text_forbidden_chars_removed(void **state)
{
    /* NUL, C0 controls, ESC and U+FFFE/U+FFFF go; TAB, CR, LF stay. */
    assert_int_equal(DEC("text/plain",
                         "a\x01"
                         "b\0c\x1b"
                         "d\te\r\nf\xef\xbf\xbeg\xef\xbf\xbfh",
                         NULL),
                     0);
    assert_string_equal(f.body, "abcd\te\r\nfgh");
}

static void test_unsupported_content_type(void **state)
{
    FAILS(DEC("image/png", "x", NULL), XMTA_E_NOTFOUND,
          "unsupported content type: image/png");
    FAILS(DEC("text/html; charset=utf-8", "x", NULL), XMTA_E_NOTFOUND,
          "unsupported content type: text/html");
    FAILS(DEC("application/xml", "x", NULL), XMTA_E_NOTFOUND,
          "unsupported content type");
    FAILS(DEC("text/plainx", "x", NULL), XMTA_E_NOTFOUND,
          "unsupported content type");
}

/* ---- application/x-www-form-urlencoded --------------------------------- */

static void test_form(void **state)
{
    assert_int_equal(DEC(FORM "; charset=UTF-8",
                         "body=hello+world%21&to=alice%40example.org"
                         "&to=Bob@Example.ORG&room=ops%40conference."
                         "example.org&subject=Deploy+%2342&foo=bar",
                         NULL),
                     0);
    assert_string_equal(f.body, "hello world!");
    assert_string_equal(f.subject, "Deploy #42");
    assert_int_equal(f.n_to, 2);
    assert_string_equal(f.to[0], "alice@example.org");
    assert_string_equal(f.to[1], "bob@example.org");
    assert_int_equal(f.n_rooms, 1);
    assert_string_equal(f.rooms[0], "ops@conference.example.org");
}

static void test_form_percent_utf8_and_empty_pairs(void **state)
{
    assert_int_equal(DEC(FORM, "&&body=%F0%9F%94%a5%20ok&", NULL), 0);
    assert_string_equal(f.body, "\xF0\x9F\x94\xA5 ok");
    body_fields_clear(&f);
    /* A literal '+' is %2B; '=' inside a value is fine. */
    assert_int_equal(DEC(FORM, "body=1%2B1=2", NULL), 0);
    assert_string_equal(f.body, "1+1=2");
    body_fields_clear(&f);
    FAILS(DEC(FORM, "body=%FF", NULL), XMTA_E_INVAL, "invalid UTF-8");
}

static void test_form_aliases(void **state)
{
    assert_int_equal(DEC(FORM, "message=m1&title=T", NULL), 0);
    assert_string_equal(f.body, "m1");
    assert_string_equal(f.subject, "T");
    body_fields_clear(&f);
    assert_int_equal(DEC(FORM, "text=t1", NULL), 0);
    assert_string_equal(f.body, "t1");
    body_fields_clear(&f);
    /* Several aliases: body, text, message, content; title, subject. */
    assert_int_equal(
        DEC(FORM, "message=a&body=b&text=c&subject=s&title=t", NULL), 0);
    assert_string_equal(f.body, "b");
    assert_string_equal(f.subject, "t");
    body_fields_clear(&f);
    assert_int_equal(DEC(FORM, "message=a&text=c", NULL), 0);
    assert_string_equal(f.body, "c");
}

static void test_form_errors(void **state)
{
    FAILS(DEC(FORM, "body=%zz", NULL), XMTA_E_PARSE, "malformed form data");
    FAILS(DEC(FORM, "body=abc%4", NULL), XMTA_E_PARSE, "malformed form data");
    FAILS(DEC(FORM, "body=abc%", NULL), XMTA_E_PARSE, "malformed form data");
    FAILS(DEC(FORM, "body=a&body=b", NULL), XMTA_E_INVAL,
          "repeated field 'body'");
    FAILS(DEC(FORM, "foo=bar", NULL), XMTA_E_INVAL, "no message text");
    FAILS(DEC(FORM, "body=x&to=", NULL), XMTA_E_INVAL,
          "invalid JID in 'to': empty");
    FAILS(DEC(FORM, "body=x&to=a%00b@example.org", NULL), XMTA_E_INVAL,
          "invalid JID");
}

/* curl -d 'text' labels plain text as a form: no '=' means no fields. */
static void test_form_without_fields_is_text(void **state)
{
    assert_int_equal(DEC(FORM, "disk full on db1 & db2", "to=bob@example.org"),
                     0);
    assert_string_equal(f.body, "disk full on db1 & db2");
    assert_int_equal(f.n_to, 1);
    assert_string_equal(f.to[0], "bob@example.org");
    body_fields_clear(&f);
    /* Not percent-decoded: it was never encoded. */
    assert_int_equal(DEC(FORM, "50%+ used", NULL), 0);
    assert_string_equal(f.body, "50%+ used");
    body_fields_clear(&f);
    FAILS(DEC(FORM, "   ", NULL), XMTA_E_INVAL, "no message text");
    FAILS(DEC(FORM, "\xff", NULL), XMTA_E_INVAL, "invalid UTF-8");
}

static void test_form_too_many_fields(void **state)
{
    char buf[BODY_MAX_FIELDS * 4 + 16];
    size_t o = 0;

    for (int i = 0; i <= BODY_MAX_FIELDS; i++)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "x=1&");
    assert_int_equal(body_decode(FORM, buf, o, NULL, &f, err, sizeof(err)),
                     XMTA_E_LIMIT);
    assert_cleared();
}

/* ---- recipients and the query string ----------------------------------- */

static void test_query_merge(void **state)
{
    assert_int_equal(DEC("text/plain", "hi",
                         "to=carol%40example.org&room=r%40conf.example.org"
                         "&to=dave@example.org&body=ignored&title=ignored"),
                     0);
    assert_string_equal(f.body, "hi");
    assert_null(f.subject);
    assert_int_equal(f.n_to, 2);
    assert_string_equal(f.to[0], "carol@example.org");
    assert_string_equal(f.to[1], "dave@example.org");
    assert_int_equal(f.n_rooms, 1);
    assert_string_equal(f.rooms[0], "r@conf.example.org");
    body_fields_clear(&f);

    /* Body recipients first, then the query's; duplicates once. */
    assert_int_equal(DEC(JSON, "{\"body\":\"x\",\"to\":\"a@example.org\"}",
                         "to=b@example.org&to=A@EXAMPLE.org"),
                     0);
    assert_int_equal(f.n_to, 2);
    assert_string_equal(f.to[0], "a@example.org");
    assert_string_equal(f.to[1], "b@example.org");
    body_fields_clear(&f);

    /* The query never provides the text. */
    FAILS(DEC("text/plain", "", "body=x"), XMTA_E_INVAL, "no message text");
    FAILS(DEC("text/plain", "hi", "to=%zz"), XMTA_E_PARSE,
          "malformed query string");
    FAILS(DEC("text/plain", "hi", "to=@example.org"), XMTA_E_INVAL,
          "invalid JID in 'to': ");
}

static void test_recipient_forms(void **state)
{
    /* A user may be a full JID; a room must be bare, with a local part. */
    assert_int_equal(DEC(FORM, "body=x&to=+alice@example.org/phone+", NULL), 0);
    assert_int_equal(f.n_to, 1);
    assert_string_equal(f.to[0], "alice@example.org/phone");
    body_fields_clear(&f);
    FAILS(DEC(FORM, "body=x&room=ops@conf.example.org/nick", NULL),
          XMTA_E_INVAL, "invalid JID in 'room': a room must be a bare JID");
    FAILS(DEC(FORM, "body=x&room=conf.example.org", NULL), XMTA_E_INVAL,
          "invalid JID in 'room': a room must be a bare JID");
    /* Callers' JIDs are normalised with nodeprep/nameprep (case folded,
     * also beyond ASCII); the resource keeps its case (resourceprep). */
    assert_int_equal(DEC(FORM,
                         "body=x&to=%C3%84LICE@EXAMPLE.ORG/Phone"
                         "&room=OPS@Conference.Example.org",
                         NULL),
                     0);
    assert_int_equal(f.n_to, 1);
    assert_string_equal(f.to[0], "\xC3\xA4lice@example.org/Phone");
    assert_int_equal(f.n_rooms, 1);
    assert_string_equal(f.rooms[0], "ops@conference.example.org");
    body_fields_clear(&f);
    /* An invalid one is refused, naming the field and the reason. */
    FAILS(DEC(FORM, "body=x&to=al%20ice@example.org", NULL), XMTA_E_INVAL,
          "invalid JID in 'to': invalid localpart (nodeprep)");
    FAILS(DEC(JSON, "{\"body\":\"x\",\"room\":\"r@exa_mple.org\"}", NULL),
          XMTA_E_INVAL, "invalid JID in 'room': invalid character");
    FAILS(DEC(FORM, "body=x&to=%FF@example.org", NULL), XMTA_E_INVAL,
          "invalid UTF-8");
}

static void test_too_many_recipients(void **state)
{
    char buf[BODY_MAX_RECIPIENTS * 32 + 32];
    size_t o = (size_t)snprintf(buf, sizeof(buf), "body=x");

    for (int i = 0; i < BODY_MAX_RECIPIENTS; i++)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "&to=u%d@example.org",
                              i);
    assert_int_equal(body_decode(FORM, buf, o, NULL, &f, err, sizeof(err)), 0);
    assert_int_equal(f.n_to, BODY_MAX_RECIPIENTS);
    body_fields_clear(&f);
    o += (size_t)snprintf(buf + o, sizeof(buf) - o, "&room=r@example.org");
    assert_int_equal(body_decode(FORM, buf, o, NULL, &f, err, sizeof(err)),
                     XMTA_E_LIMIT);
    assert_fails(XMTA_E_LIMIT, "too many recipients");
}

/* ---- multipart/form-data ----------------------------------------------- */

#define MP "multipart/form-data; boundary="

static void test_multipart(void **state)
{
    assert_int_equal(DEC(MP "XyZ",
                         "--XyZ\r\n"
                         "Content-Disposition: form-data; name=\"body\"\r\n"
                         "\r\n"
                         "line one\r\nline two\r\n"
                         "--XyZ\r\n"
                         "content-disposition: form-data; name=to\r\n"
                         "Content-Type: text/plain; charset=utf-8\r\n"
                         "\r\n"
                         "alice@example.org\r\n"
                         "--XyZ\r\n"
                         "Content-Disposition: form-data; name=\"to\"\r\n"
                         "\r\n"
                         "bob@example.org\r\n"
                         "--XyZ\r\n"
                         "Content-Disposition: form-data; name=\"title\"\r\n"
                         "\r\n"
                         "T\r\n"
                         "--XyZ--\r\n",
                         NULL),
                     0);
    assert_string_equal(f.body, "line one\r\nline two");
    assert_string_equal(f.subject, "T");
    assert_int_equal(f.n_to, 2);
    assert_string_equal(f.to[0], "alice@example.org");
    assert_string_equal(f.to[1], "bob@example.org");
}

static void test_multipart_quoted_boundary(void **state)
{
    /* Quoted boundary with a space and a colon; a preamble and an epilogue;
     * text that resembles the delimiter but is not one. */
    assert_int_equal(DEC("Multipart/Form-Data; charset=x; boundary=\"a b:c\"",
                         "preamble\r\n"
                         "--a b:c  \r\n"
                         "Content-Disposition: form-data; name=\"message\"\r\n"
                         "\r\n"
                         "x --a b:c y\r\n--a b:cz\r\n"
                         "--a b:c\r\n"
                         "Content-Disposition: form-data; name=\"room\"\r\n"
                         "\r\n"
                         "ops@conf.example.org\r\n"
                         "--a b:c--\r\n"
                         "epilogue --a b:c\r\n",
                         NULL),
                     0);
    assert_string_equal(f.body, "x --a b:c y\r\n--a b:cz");
    assert_int_equal(f.n_rooms, 1);
    assert_string_equal(f.rooms[0], "ops@conf.example.org");
}

static void test_multipart_lf_and_empty_part(void **state)
{
    assert_int_equal(DEC(MP "b",
                         "--b\n"
                         "Content-Disposition: form-data; name=\"title\"\n"
                         "\n"
                         "--b\n"
                         "Content-Disposition: form-data; name=\"text\"\n"
                         "\n"
                         "lf only\n"
                         "--b--",
                         NULL),
                     0);
    assert_string_equal(f.body, "lf only");
    assert_null(f.subject); /* the empty title part */
}

static void test_multipart_files(void **state)
{
    /* A text file is taken as its field (curl -F body=@msg.txt); another
     * file is ignored. */
    assert_int_equal(DEC(MP "B",
                         "--B\r\n"
                         "Content-Disposition: form-data; name=\"body\"; "
                         "filename=\"img.png\"\r\n"
                         "Content-Type: image/png\r\n"
                         "\r\n"
                         "\x89PNG\r\n"
                         "--B\r\n"
                         "Content-Disposition: form-data; name=\"text\"; "
                         "filename=\"msg.txt\"\r\n"
                         "Content-Type: text/plain\r\n"
                         "\r\n"
                         "from a file\n\r\n"
                         "--B--\r\n",
                         NULL),
                     0);
    assert_string_equal(f.body, "from a file");
    body_fields_clear(&f);
    FAILS(DEC(MP "B",
              "--B\r\n"
              "Content-Disposition: form-data; name=\"body\"; "
              "filename=\"a.bin\"\r\n"
              "Content-Type: application/octet-stream\r\n"
              "\r\n"
              "data\r\n"
              "--B--\r\n",
              NULL),
          XMTA_E_INVAL, "no message text");
}

static void test_multipart_errors(void **state)
{
    FAILS(DEC(MP "B",
              "--B\r\n"
              "Content-Disposition: form-data; name=\"body\"\r\n"
              "\r\n"
              "no end\r\n",
              NULL),
          XMTA_E_PARSE, "malformed multipart: missing final boundary");
    FAILS(DEC(MP "B",
              "--B\r\n"
              "Content-Disposition: form-data; name=\"body\"\r\n"
              "\r\n"
              "no end\r\n--B",
              NULL),
          XMTA_E_PARSE, "malformed multipart: missing final boundary");
    FAILS(DEC(MP "B", "body=x", NULL), XMTA_E_PARSE,
          "malformed multipart: boundary not found");
    FAILS(DEC("multipart/form-data", "--B--", NULL), XMTA_E_PARSE,
          "malformed multipart: no boundary parameter");
    FAILS(DEC(MP "\"unterminated", "--B--", NULL), XMTA_E_PARSE,
          "malformed multipart: bad boundary");
    FAILS(DEC(MP "\"\"", "----", NULL), XMTA_E_PARSE,
          "malformed multipart: bad boundary");
    FAILS(DEC(MP "B",
              "--B\r\n"
              "Content-Disposition: form-data; name=\"body\"\r\n",
              NULL),
          XMTA_E_PARSE, "malformed multipart: truncated part headers");
    FAILS(DEC(MP "B",
              "--B\r\n"
              "Content-Disposition: form-data\r\n"
              "\r\n"
              "x\r\n"
              "--B--\r\n",
              NULL),
          XMTA_E_PARSE, "malformed multipart: part without a name");
    FAILS(DEC(MP "B",
              "--B\r\n"
              "\r\n"
              "x\r\n"
              "--B--\r\n",
              NULL),
          XMTA_E_PARSE, "malformed multipart: part is not form-data");
    FAILS(DEC(MP "B",
              "--B\r\n"
              "no colon here\r\n"
              "\r\n"
              "x\r\n"
              "--B--\r\n",
              NULL),
          XMTA_E_PARSE, "malformed multipart: bad part header");
    /* Only a close delimiter: no fields at all. */
    FAILS(DEC(MP "B", "--B--\r\n", NULL), XMTA_E_INVAL, "no message text");
}

static void test_multipart_too_many_parts(void **state)
{
    static const char part[] = "--B\r\n"
                               "Content-Disposition: form-data; name=x\r\n"
                               "\r\n"
                               "1\r\n";
    char *buf = malloc((BODY_MAX_PARTS + 1) * (sizeof(part) - 1) + 8);
    size_t o = 0;

    assert_non_null(buf);
    for (int i = 0; i <= BODY_MAX_PARTS; i++) {
        memcpy(buf + o, part, sizeof(part) - 1);
        o += sizeof(part) - 1;
    }
    memcpy(buf + o, "--B--", 5);
    o += 5;
    assert_int_equal(body_decode(MP "B", buf, o, NULL, &f, err, sizeof(err)),
                     XMTA_E_LIMIT);
    assert_cleared();
    free(buf);
}

/* ---- application/json -------------------------------------------------- */

static void test_json(void **state)
{
    assert_int_equal(
        DEC(JSON "; charset=utf-8",
            "{\"body\":\"backup done \\u2713 \\ud83d\\udd25\","
            "\"to\":\"alice@example.org\","
            "\"room\":[\"r1@conf.example.org\",\"R2@Conf.example.org\"],"
            "\"title\":\"Backup\",\"extra\":{\"x\":[1,2]}}",
            NULL),
        0);
    assert_string_equal(f.body, "backup done \xE2\x9C\x93 \xF0\x9F\x94\xA5");
    assert_string_equal(f.subject, "Backup");
    assert_int_equal(f.n_to, 1);
    assert_string_equal(f.to[0], "alice@example.org");
    assert_int_equal(f.n_rooms, 2);
    assert_string_equal(f.rooms[0], "r1@conf.example.org");
    assert_string_equal(f.rooms[1], "r2@conf.example.org");
    body_fields_clear(&f);
    assert_int_equal(
        DEC(JSON, "{\"text\":\"t\",\"to\":[],\"room\":null}", NULL), 0);
    assert_string_equal(f.body, "t");
    assert_int_equal(f.n_to + f.n_rooms, 0);
}

static void test_json_aliases(void **state)
{
    assert_int_equal(DEC(JSON,
                         "{\"content\":\"c\",\"message\":\"m\","
                         "\"text\":\"t\"}",
                         NULL),
                     0);
    assert_string_equal(f.body, "t");
    body_fields_clear(&f);
    assert_int_equal(DEC(JSON, "{\"content\":\"c\",\"message\":\"m\"}", NULL),
                     0);
    assert_string_equal(f.body, "m");
    body_fields_clear(&f);
    assert_int_equal(DEC(JSON, "{\"content\":\"c\"}", NULL), 0);
    assert_string_equal(f.body, "c");
    body_fields_clear(&f);
    /* null counts as absent */
    assert_int_equal(DEC(JSON, "{\"body\":null,\"message\":\"m\"}", NULL), 0);
    assert_string_equal(f.body, "m");
    body_fields_clear(&f);
    assert_int_equal(DEC(JSON,
                         "{\"subject\":\"S\",\"title\":\"T\","
                         "\"body\":\"b\"}",
                         NULL),
                     0);
    assert_string_equal(f.subject, "T");
    body_fields_clear(&f);
    assert_int_equal(DEC(JSON, "{\"subject\":\"S\",\"body\":\"b\"}", NULL), 0);
    assert_string_equal(f.subject, "S");
}

static void test_json_bad_types(void **state)
{
    FAILS(DEC(JSON, "{\"body\":5}", NULL), XMTA_E_INVAL,
          "'body' must be a string");
    FAILS(DEC(JSON, "{\"body\":\"x\",\"title\":[\"t\"]}", NULL), XMTA_E_INVAL,
          "'title' must be a string");
    FAILS(DEC(JSON, "{\"body\":\"x\",\"to\":5}", NULL), XMTA_E_INVAL,
          "'to' must be a string or an array of strings");
    FAILS(DEC(JSON, "{\"body\":\"x\",\"room\":[\"r@c.example.org\",5]}", NULL),
          XMTA_E_INVAL, "'room' must be a string or an array of strings");
    FAILS(DEC(JSON, "{\"body\":\"x\",\"to\":{\"a\":1}}", NULL), XMTA_E_INVAL,
          "'to' must be");
    FAILS(DEC(JSON, "{\"body\":\"x\",\"to\":\"@example.org\"}", NULL),
          XMTA_E_INVAL, "invalid JID in 'to': ");
    FAILS(DEC(JSON, "{\"to\":\"a@example.org\"}", NULL), XMTA_E_INVAL,
          "no message text");
}

static void test_json_bad(void **state)
{
    FAILS(DEC(JSON, "{\"body\":", NULL), XMTA_E_PARSE, "invalid JSON: ");
    assert_non_null(strstr(err, "line 1"));
    FAILS(DEC(JSON, "", NULL), XMTA_E_PARSE, "invalid JSON: ");
    FAILS(DEC(JSON, "{\"body\":\"a\"} x", NULL), XMTA_E_PARSE,
          "invalid JSON: ");
    FAILS(DEC(JSON, "{\"body\":\"a\",\"body\":\"b\"}", NULL), XMTA_E_PARSE,
          "invalid JSON: ");
    FAILS(DEC(JSON, "{\"body\":\"a\\u0000b\"}", NULL), XMTA_E_PARSE,
          "invalid JSON: ");
    FAILS(DEC(JSON, "{\"body\":\"\\ud800\"}", NULL), XMTA_E_PARSE,
          "invalid JSON: ");
    FAILS(DEC(JSON, "[{\"body\":\"a\"}]", NULL), XMTA_E_INVAL,
          "JSON body must be an object");
    FAILS(DEC(JSON, "\"body\"", NULL), XMTA_E_INVAL,
          "JSON body must be an object");
    FAILS(DEC(JSON, "{\"body\":\"\xff\"}", NULL), XMTA_E_INVAL,
          "invalid UTF-8");
    FAILS(DEC(JSON, "{\"body\":\"  \\n\"}", NULL), XMTA_E_INVAL,
          "no message text");
}

static void test_json_forbidden_chars(void **state)
{
    assert_int_equal(DEC(JSON,
                         "{\"body\":\"a\\u0001b\\u001bc\\ufffed\\uffff"
                         "\",\"title\":\" T\\u0007\\r\\nU\\t \"}",
                         NULL),
                     0);
    assert_string_equal(f.body, "abcd");
    /* A title is one line, trimmed. */
    assert_string_equal(f.subject, "T  U");
    body_fields_clear(&f);
    assert_int_equal(DEC(JSON, "{\"body\":\"b\",\"title\":\" \\n \"}", NULL),
                     0);
    assert_null(f.subject);
}

/* ---- body_msg_new ------------------------------------------------------ */

static char *hook_to[] = {"alice@example.org"};
static char *hook_rooms[] = {"ops@conference.example.org"};
static char *hook_allow[] = {"*@example.org", "builds@conference.example.org"};

static const struct conf_hook hook_defaults = {
    .name = "alerts",
    .token = "secret-token",
    .from = "alertbot",
    .nick = "Alert Bot",
    .to = hook_to,
    .n_to = 1,
    .rooms = hook_rooms,
    .n_rooms = 1,
    .type = MSG_NORMAL,
};

static const struct conf_hook hook_allow_only = {
    .name = "ci",
    .token = "other-token",
    .allow_to = hook_allow,
    .n_allow_to = 2,
    .type = MSG_CHAT,
};

static void test_msg_defaults(void **state)
{
    struct msg *m = NULL;

    assert_int_equal(DEC(JSON, "{\"body\":\"b\",\"title\":\"t\"}", NULL), 0);
    assert_int_equal(body_msg_new(&hook_defaults, &f, &m, err, sizeof(err)), 0);
    assert_cleared();
    assert_non_null(m);
    assert_string_equal(m->hook, "alerts");
    assert_string_equal(m->from, "alertbot");
    assert_string_equal(m->nick, "Alert Bot");
    assert_int_equal(m->type, MSG_NORMAL);
    assert_string_equal(m->body, "b");
    assert_string_equal(m->subject, "t");
    assert_int_equal(m->n_to, 1);
    assert_string_equal(m->to[0], "alice@example.org");
    assert_int_equal(m->n_rooms, 1);
    assert_string_equal(m->rooms[0], "ops@conference.example.org");
    assert_string_equal(m->id, "");
    msg_free(m);
}

static void test_msg_allow_to(void **state)
{
    struct msg *m = NULL;

    assert_int_equal(DEC(FORM,
                         "body=b&to=carol@Example.org/laptop"
                         "&room=builds@conference.example.org",
                         NULL),
                     0);
    assert_int_equal(body_msg_new(&hook_allow_only, &f, &m, err, sizeof(err)),
                     0);
    assert_string_equal(m->from, "ci"); /* defaults to the hook's name */
    assert_null(m->nick);
    assert_int_equal(m->type, MSG_CHAT);
    assert_int_equal(m->n_to, 1);
    assert_string_equal(m->to[0], "carol@example.org/laptop");
    assert_int_equal(m->n_rooms, 1);
    assert_string_equal(m->rooms[0], "builds@conference.example.org");
    assert_null(m->subject);
    msg_free(m);
}

static void test_msg_denied(void **state)
{
    struct msg *m = NULL;

    assert_int_equal(DEC(FORM, "body=b&to=mallory@evil.example", NULL), 0);
    assert_int_equal(body_msg_new(&hook_allow_only, &f, &m, err, sizeof(err)),
                     XMTA_E_DENIED);
    assert_null(m);
    assert_string_equal(err, "recipient not allowed: mallory@evil.example");
    assert_cleared();

    /* A room that only looks like an allowed user pattern. */
    assert_int_equal(DEC(FORM, "body=b&room=ops@conference.example.org", NULL),
                     0);
    assert_int_equal(body_msg_new(&hook_allow_only, &f, &m, err, sizeof(err)),
                     XMTA_E_DENIED);
    assert_string_equal(err,
                        "recipient not allowed: ops@conference.example.org");

    /* A hook without allow_to: every caller-chosen recipient is refused,
     * even one of its own defaults. */
    assert_int_equal(DEC(FORM, "body=b&to=alice@example.org", NULL), 0);
    assert_int_equal(body_msg_new(&hook_defaults, &f, &m, err, sizeof(err)),
                     XMTA_E_DENIED);
    assert_null(m);
}

static void test_msg_no_recipients(void **state)
{
    struct msg *m = NULL;

    assert_int_equal(DEC("text/plain", "b", NULL), 0);
    assert_int_equal(body_msg_new(&hook_allow_only, &f, &m, err, sizeof(err)),
                     XMTA_E_INVAL);
    assert_null(m);
    assert_string_equal(err, "no recipients");
    assert_cleared();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_text_plain, teardown),
        cmocka_unit_test_teardown(test_text_missing_and_odd_content_type,
                                  teardown),
        cmocka_unit_test_teardown(test_text_whitespace, teardown),
        cmocka_unit_test_teardown(test_text_invalid_utf8, teardown),
        cmocka_unit_test_teardown(test_text_forbidden_chars_removed, teardown),
        cmocka_unit_test_teardown(test_unsupported_content_type, teardown),
        cmocka_unit_test_teardown(test_form, teardown),
        cmocka_unit_test_teardown(test_form_percent_utf8_and_empty_pairs,
                                  teardown),
        cmocka_unit_test_teardown(test_form_aliases, teardown),
        cmocka_unit_test_teardown(test_form_errors, teardown),
        cmocka_unit_test_teardown(test_form_without_fields_is_text, teardown),
        cmocka_unit_test_teardown(test_form_too_many_fields, teardown),
        cmocka_unit_test_teardown(test_query_merge, teardown),
        cmocka_unit_test_teardown(test_recipient_forms, teardown),
        cmocka_unit_test_teardown(test_too_many_recipients, teardown),
        cmocka_unit_test_teardown(test_multipart, teardown),
        cmocka_unit_test_teardown(test_multipart_quoted_boundary, teardown),
        cmocka_unit_test_teardown(test_multipart_lf_and_empty_part, teardown),
        cmocka_unit_test_teardown(test_multipart_files, teardown),
        cmocka_unit_test_teardown(test_multipart_errors, teardown),
        cmocka_unit_test_teardown(test_multipart_too_many_parts, teardown),
        cmocka_unit_test_teardown(test_json, teardown),
        cmocka_unit_test_teardown(test_json_aliases, teardown),
        cmocka_unit_test_teardown(test_json_bad_types, teardown),
        cmocka_unit_test_teardown(test_json_bad, teardown),
        cmocka_unit_test_teardown(test_json_forbidden_chars, teardown),
        cmocka_unit_test_teardown(test_msg_defaults, teardown),
        cmocka_unit_test_teardown(test_msg_allow_to, teardown),
        cmocka_unit_test_teardown(test_msg_denied, teardown),
        cmocka_unit_test_teardown(test_msg_no_recipients, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
