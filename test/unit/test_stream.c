/* SPDX-License-Identifier: MIT */
/* test_stream.c -- the restricted, bounded XMPP stream parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xml/err.h"
#include "xml/xml.h"

/* What the callbacks saw, one line per event. */
struct rec {
    char *log;
    size_t len;
    unsigned n_open, n_stanza, n_close;
    unsigned stop_at; /* event number (1-based) that returns non-zero */
    unsigned events;
    char lang[16]; /* xml:lang of the header */
};

static void rec_line(struct rec *r, const char *a, const char *b)
{
    size_t la = strlen(a), lb = b ? strlen(b) : 0;

    r->log = realloc(r->log, r->len + la + lb + 2);
    assert_non_null(r->log);
    memcpy(r->log + r->len, a, la);
    if (lb)
        memcpy(r->log + r->len + la, b, lb);
    r->len += la + lb;
    r->log[r->len++] = '\n';
    r->log[r->len] = '\0';
}

static int rec_event(struct rec *r)
{
    r->events++;
    return r->stop_at && r->events == r->stop_at;
}

static int on_open(void *ud, const struct xml_node *h)
{
    struct rec *r = ud;
    char *s = xml_node_serialize(h, NULL);
    const char *lang = xml_node_attr(h, "xml:lang");

    assert_string_equal(xml_node_name(h), "stream");
    assert_string_equal(xml_node_ns(h), XMTA_NS_STREAM);
    assert_null(xml_node_first_child(h));
    if (lang)
        snprintf(r->lang, sizeof(r->lang), "%s", lang);
    r->n_open++;
    rec_line(r, "open ", s);
    free(s);
    return rec_event(r);
}

static int on_stanza(void *ud, const struct xml_node *st)
{
    struct rec *r = ud;
    char *s = xml_node_serialize(st, NULL);

    r->n_stanza++;
    rec_line(r, "stanza ", s);
    free(s);
    return rec_event(r);
}

static int on_close(void *ud)
{
    struct rec *r = ud;

    r->n_close++;
    rec_line(r, "close", NULL);
    return rec_event(r);
}

static const struct xml_stream_cbs cbs = {on_open, on_stanza, on_close};

/* Feeds data in pieces of at most `step` bytes (0: whole), or split once at
 * `cut` when step is (size_t)-1. Returns the first non-zero result. */
static int feed_pieces(
    struct xml_stream *s, const char *data, size_t len, size_t step, size_t cut)
{
    int rc;

    if (step == (size_t)-1) {
        rc = xml_stream_feed(s, data, cut);
        if (rc != 0)
            return rc;
        return xml_stream_feed(s, data + cut, len - cut);
    }
    if (step == 0)
        return xml_stream_feed(s, data, len);
    for (size_t o = 0; o < len; o += step) {
        size_t n = len - o < step ? len - o : step;

        rc = xml_stream_feed(s, data + o, n);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Runs data through a fresh parser; returns the result, fills r. */
static int run(const char *data,
               size_t step,
               size_t cut,
               const struct xml_stream_limits *lim,
               struct rec *r)
{
    struct xml_stream *s = xml_stream_new(&cbs, r, lim);
    int rc;

    assert_non_null(s);
    rc = feed_pieces(s, data, strlen(data), step, cut);
    if (rc != 0)
        assert_true(xml_stream_error(s)[0] != '\0');
    else
        assert_string_equal(xml_stream_error(s), "");
    xml_stream_free(s);
    return rc;
}

/* ---- realistic streams ------------------------------------------------- */

static const char prosody_stream[] =
    "<?xml version='1.0'?>"
    "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
    "xml:lang='en' xmlns='jabber:component:accept' "
    "id='4a7c5d2e-9b1f-4c3a-8e6d-2f0b1a9c8d7e' from='notify.example.org'>"
    "<handshake/>"
    " "
    "<iq type='get' id='ping-1' from='example.org' to='notify.example.org'>"
    "<ping xmlns='urn:xmpp:ping'/></iq>\n"
    "<message from='alice@example.org/phone' to='alerts@notify.example.org' "
    "type='chat' id='m&amp;1' xml:lang='en'>"
    "<body>Disk &lt;80%&gt; on \"db1\" &amp; it&apos;s fine \xe2\x9c\x93"
    "\nsecond line</body>"
    "<active xmlns='http://jabber.org/protocol/chatstates'/></message>"
    "\n\n  \t"
    "<presence from='ops@conference.example.org/alerts' "
    "to='alerts@notify.example.org/xmta'>"
    "<x xmlns='http://jabber.org/protocol/muc#user'>"
    "<item affiliation='none' role='participant'/>"
    "<status code='110'/></x></presence>"
    " "
    "</stream:stream>";

static const char prosody_log[] =
    "open <stream xmlns='http://etherx.jabber.org/streams' xml:lang='en' "
    "id='4a7c5d2e-9b1f-4c3a-8e6d-2f0b1a9c8d7e' from='notify.example.org'/>\n"
    "stanza <handshake xmlns='jabber:component:accept'/>\n"
    "stanza <iq xmlns='jabber:component:accept' type='get' id='ping-1' "
    "from='example.org' to='notify.example.org'>"
    "<ping xmlns='urn:xmpp:ping'/></iq>\n"
    "stanza <message xmlns='jabber:component:accept' "
    "from='alice@example.org/phone' to='alerts@notify.example.org' "
    "type='chat' id='m&amp;1' xml:lang='en'>"
    "<body>Disk &lt;80%&gt; on \"db1\" &amp; it's fine \xe2\x9c\x93"
    "\nsecond line</body>"
    "<active xmlns='http://jabber.org/protocol/chatstates'/></message>\n"
    "stanza <presence xmlns='jabber:component:accept' "
    "from='ops@conference.example.org/alerts' "
    "to='alerts@notify.example.org/xmta'>"
    "<x xmlns='http://jabber.org/protocol/muc#user'>"
    "<item affiliation='none' role='participant'/>"
    "<status code='110'/></x></presence>\n"
    "close\n";

static const char ejabberd_stream[] =
    "<?xml version='1.0'?>"
    "<stream:stream id='7830175151112861697' xml:lang='en' "
    "xmlns:stream='http://etherx.jabber.org/streams' "
    "from='notify.example.org' xmlns='jabber:component:accept'>"
    "<handshake/>"
    "<iq xml:lang='en' to='notify.example.org' from='bob@example.org/gajim' "
    "type='get' id='d1'>"
    "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
    "\r\n"
    "<message xml:lang='en' to='alerts@notify.example.org' "
    "from='ops@conference.example.org/bob' type='groupchat' id='g1'>"
    "<body>ack</body>"
    "<stanza-id xmlns='urn:xmpp:sid:0' by='ops@conference.example.org' "
    "id='1690000000000000'/></message>"
    " "
    "<stream:error><system-shutdown "
    "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"
    "</stream:stream>";

static const char ejabberd_log[] =
    "open <stream xmlns='http://etherx.jabber.org/streams' "
    "id='7830175151112861697' xml:lang='en' from='notify.example.org'/>\n"
    "stanza <handshake xmlns='jabber:component:accept'/>\n"
    "stanza <iq xmlns='jabber:component:accept' xml:lang='en' "
    "to='notify.example.org' from='bob@example.org/gajim' type='get' "
    "id='d1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>\n"
    "stanza <message xmlns='jabber:component:accept' xml:lang='en' "
    "to='alerts@notify.example.org' from='ops@conference.example.org/bob' "
    "type='groupchat' id='g1'><body>ack</body>"
    "<stanza-id xmlns='urn:xmpp:sid:0' by='ops@conference.example.org' "
    "id='1690000000000000'/></message>\n"
    "stanza <error xmlns='http://etherx.jabber.org/streams'>"
    "<system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
    "</error>\n"
    "close\n";

/* The same log whole, byte by byte and split at every position. */
static void check_all_splits(const char *stream, const char *want)
{
    size_t len = strlen(stream);
    struct rec r = {0};

    assert_int_equal(run(stream, 0, 0, NULL, &r), 0);
    assert_string_equal(r.log, want);
    assert_int_equal(r.n_open, 1);
    assert_int_equal(r.n_close, 1);
    assert_string_equal(r.lang, "en");
    free(r.log);

    memset(&r, 0, sizeof(r));
    assert_int_equal(run(stream, 1, 0, NULL, &r), 0);
    assert_string_equal(r.log, want);
    free(r.log);

    for (size_t cut = 0; cut <= len; cut++) {
        memset(&r, 0, sizeof(r));
        assert_int_equal(run(stream, (size_t)-1, cut, NULL, &r), 0);
        if (strcmp(r.log, want) != 0)
            fail_msg("split at %zu differs:\n%s", cut, r.log);
        free(r.log);
    }
}

static void test_prosody_stream(void **state)
{
    check_all_splits(prosody_stream, prosody_log);
}

static void test_ejabberd_stream(void **state)
{
    check_all_splits(ejabberd_stream, ejabberd_log);
}

/* Each stanza is delivered as soon as its end tag is complete, without
 * waiting for more bytes (reparse deferral is off). */
static void test_stanza_delivered_promptly(void **state)
{
    static const char hdr[] =
        "<stream:stream xmlns='jabber:component:accept' "
        "xmlns:stream='http://etherx.jabber.org/streams' id='x'>";
    struct rec r = {0};
    struct xml_stream *s = xml_stream_new(&cbs, &r, NULL);

    assert_int_equal(xml_stream_feed(s, hdr, strlen(hdr)), 0);
    assert_int_equal(r.n_open, 1);
    assert_int_equal(xml_stream_feed(s, "<handshake", 10), 0);
    assert_int_equal(r.n_stanza, 0);
    assert_int_equal(xml_stream_feed(s, "/>", 2), 0);
    assert_int_equal(r.n_stanza, 1);
    assert_int_equal(xml_stream_feed(s, "<iq><a>t</a></iq>", 17), 0);
    assert_int_equal(r.n_stanza, 2);
    assert_int_equal(xml_stream_feed(s, "  ", 2), 0);
    assert_int_equal(xml_stream_feed(s, "</stream:stream>", 16), 0);
    assert_int_equal(r.n_close, 1);
    xml_stream_free(s);
    free(r.log);
}

/* ---- restricted XML and bad input ------------------------------------- */

#define HDR                                                                    \
    "<stream:stream xmlns='jabber:component:accept' "                          \
    "xmlns:stream='http://etherx.jabber.org/streams'>"

static void test_restricted(void **state)
{
    static const struct {
        const char *in;
        int rc;
    } cases[] = {
        {"<?xml version='1.0'?><!DOCTYPE stream:stream>" HDR,
         XMTA_E_RESTRICTED},
        {"<!DOCTYPE x [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;'>]>" HDR
         "<message>&b;</message>",
         XMTA_E_RESTRICTED},
        {"<!DOCTYPE x SYSTEM 'file:///etc/passwd'>" HDR, XMTA_E_RESTRICTED},
        {HDR "<!-- hello -->", XMTA_E_RESTRICTED},
        {"<!-- before -->" HDR, XMTA_E_RESTRICTED},
        {HDR "<message><!--c--></message>", XMTA_E_RESTRICTED},
        {HDR "<?php echo 1; ?>", XMTA_E_RESTRICTED},
        {"<?xml-stylesheet href='x'?>" HDR, XMTA_E_RESTRICTED},
        {HDR "<message><?pi?></message>", XMTA_E_RESTRICTED},
        {"<?xml version='1.0' encoding='ISO-8859-1'?>" HDR, XMTA_E_RESTRICTED},
        {"<?xml version='1.0' standalone='no'?>" HDR, XMTA_E_RESTRICTED},
        {"<?xml version='1.1'?>" HDR, XMTA_E_RESTRICTED},
        /* Undeclared entities, forbidden character references. */
        {HDR "<message><body>&foo;</body></message>", XMTA_E_PARSE},
        {HDR "<message to='&foo;'/>", XMTA_E_PARSE},
        {HDR "<message><body>&#1;</body></message>", XMTA_E_PARSE},
        {HDR "<message><body>&#x1B;</body></message>", XMTA_E_PARSE},
        {HDR "<message><body>&#0;</body></message>", XMTA_E_PARSE},
        {HDR "<message><body>&#xFFFE;</body></message>", XMTA_E_PARSE},
        {HDR "<message><body>&#xD800;</body></message>", XMTA_E_PARSE},
        {HDR "<message a='&#2;'/>", XMTA_E_PARSE},
        /* Raw forbidden characters and invalid UTF-8. */
        {HDR "<message><body>\x01</body></message>", XMTA_E_PARSE},
        {HDR "<message><body>\xef\xbf\xbf</body></message>", XMTA_E_PARSE},
        {HDR "<message><body>\xff</body></message>", XMTA_E_PARSE},
        {HDR "<message><body>\xc0\xaf</body></message>", XMTA_E_PARSE},
        {HDR "<message><body>\xed\xa0\x80</body></message>", XMTA_E_PARSE},
        {HDR "<message><body>\xe2\x82</body></message>", XMTA_E_PARSE},
        {HDR "<message a='\xf8\x88\x80\x80\x80'/>", XMTA_E_PARSE},
        /* Not a stream, not well-formed. */
        {"<foo xmlns='jabber:component:accept'>", XMTA_E_PARSE},
        {"<stream xmlns='jabber:component:accept'>", XMTA_E_PARSE},
        {"<stream:stream xmlns:stream='urn:wrong'>", XMTA_E_PARSE},
        {HDR "<message></iq>", XMTA_E_PARSE},
        {HDR "<x:message/>", XMTA_E_PARSE},
        {HDR "<message a='1' a='2'/>", XMTA_E_PARSE},
        {HDR "<message><xml:body/></message>", XMTA_E_PARSE},
        {HDR "<message><xmlns:body/></message>", XMTA_E_PARSE},
        {HDR "<message xmlns:xml='urn:x'/>", XMTA_E_PARSE},
        {HDR "</stream:stream><message/>", XMTA_E_PARSE},
        {HDR "<?xml version='1.0'?>", XMTA_E_PARSE},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = strlen(cases[i].in);

        for (size_t step = 0; step <= 1; step++) {
            struct rec r = {0};
            int rc = run(cases[i].in, step, 0, NULL, &r);

            if (rc != cases[i].rc)
                fail_msg("case %zu step %zu: got %d want %d", i, step, rc,
                         cases[i].rc);
            /* Nothing inside the bad construct was delivered. */
            if (r.n_stanza != 0)
                fail_msg("case %zu: stanza delivered", i);
            free(r.log);
        }
        (void)len;
    }
}

/* NUL is never XML; and expat must not be talked into UTF-16. */
static void test_nul_and_utf16(void **state)
{
    static const char with_nul[] = HDR "<iq/><message>a\0b</message>";
    static const char hdr16[] = "<stream:stream xmlns:stream="
                                "'http://etherx.jabber.org/streams'>";
    char utf16[2 * sizeof(hdr16) + 2];
    size_t n = 0;

    for (size_t step = 0; step <= 1; step++) {
        struct rec r = {0};
        struct xml_stream *s = xml_stream_new(&cbs, &r, NULL);

        assert_int_equal(
            feed_pieces(s, with_nul, sizeof(with_nul) - 1, step, 0),
            XMTA_E_PARSE);
        assert_non_null(strstr(xml_stream_error(s), "NUL"));
        assert_int_equal(r.n_open, 1);
        assert_int_equal(r.n_stanza, 1); /* the iq before it, not more */
        xml_stream_free(s);
        free(r.log);
    }

    /* The same header in UTF-16LE, with and without a byte order mark. */
    for (int bom = 0; bom <= 1; bom++) {
        struct rec r = {0};
        struct xml_stream *s = xml_stream_new(&cbs, &r, NULL);

        n = 0;
        if (bom) {
            utf16[n++] = '\xff';
            utf16[n++] = '\xfe';
        }
        for (size_t i = 0; i < sizeof(hdr16) - 1; i++) {
            utf16[n++] = hdr16[i];
            utf16[n++] = '\0';
        }
        assert_int_not_equal(xml_stream_feed(s, utf16, n), 0);
        assert_int_equal(r.n_open, 0);
        xml_stream_free(s);
        free(r.log);
    }

    /* A UTF-16 byte order mark alone (expat would switch to UTF-16 on it
     * and wait) is refused at once; so is 0xFE/0xFF anywhere later. */
    static const char *const boms[] = {"\xff\xfe", "\xfe\xff",
                                       "\xff\xfe\x3c\x4e", HDR "<iq/>\xfe"};
    for (size_t i = 0; i < sizeof(boms) / sizeof(boms[0]); i++) {
        struct rec r = {0};
        struct xml_stream *s = xml_stream_new(&cbs, &r, NULL);

        assert_int_equal(xml_stream_feed(s, boms[i], strlen(boms[i])),
                         XMTA_E_PARSE);
        assert_non_null(strstr(xml_stream_error(s), "not UTF-8"));
        assert_int_equal(r.n_open, i == 3);
        assert_int_equal(r.n_stanza, i == 3);
        assert_int_equal(xml_stream_feed(s, HDR, strlen(HDR)), XMTA_E_PARSE);
        xml_stream_free(s);
        free(r.log);
    }
}

static void test_error_strings(void **state)
{
    struct rec r = {0};
    struct xml_stream *s = xml_stream_new(&cbs, &r, NULL);
    static const char bad[] = HDR "\n<message>\n  <body></bdy>";
    int rc;

    assert_string_equal(xml_stream_error(s), "");
    rc = xml_stream_feed(s, bad, strlen(bad));
    assert_int_equal(rc, XMTA_E_PARSE);
    assert_non_null(strstr(xml_stream_error(s), "line 3"));
    assert_non_null(strstr(xml_stream_error(s), "mismatched tag"));
    /* The parser stays dead with the same error, and silent. */
    assert_int_equal(xml_stream_feed(s, "</stream:stream>", 16), XMTA_E_PARSE);
    assert_int_equal(r.n_close, 0);
    xml_stream_free(s);
    free(r.log);

    memset(&r, 0, sizeof(r));
    s = xml_stream_new(&cbs, &r, NULL);
    rc = xml_stream_feed(s, HDR "<!-- x -->", strlen(HDR "<!-- x -->"));
    assert_int_equal(rc, XMTA_E_RESTRICTED);
    assert_non_null(strstr(xml_stream_error(s), "comment"));
    xml_stream_free(s);
    free(r.log);
}

static void test_predefined_entities(void **state)
{
    struct rec r = {0};
    static const char in[] =
        HDR "<message a='&lt;&amp;&gt;&apos;&quot;&#65;'>"
            "<body>&lt;&amp;&gt;&apos;&quot;&#65;&#x42;&#x1F600;</body>"
            "</message>";

    assert_int_equal(run(in, 0, 0, NULL, &r), 0);
    assert_non_null(strstr(r.log, "a='&lt;&amp;&gt;&apos;&quot;A'"));
    assert_non_null(
        strstr(r.log, "<body>&lt;&amp;&gt;'\"AB\xf0\x9f\x98\x80</body>"));
    free(r.log);
}

/* Text and whitespace between stanzas are ignored. */
static void test_depth1_text_ignored(void **state)
{
    struct rec r = {0};
    static const char in[] =
        HDR " \n\t stray text <iq/> \n more </stream:stream>";

    assert_int_equal(run(in, 0, 0, NULL, &r), 0);
    assert_int_equal(r.n_stanza, 1);
    assert_int_equal(r.n_close, 1);
    assert_non_null(
        strstr(r.log, "stanza <iq xmlns='jabber:component:accept'/>"));
    free(r.log);
}

/* ---- limits ------------------------------------------------------------ */

static void test_limit_depth(void **state)
{
    struct xml_stream_limits lim = {.max_depth = 4};
    struct rec r = {0};
    struct xml_stream *s;

    /* stream(1) message(2) a(3) b(4) is fine, c(5) is not. */
    assert_int_equal(run(HDR "<message><a><b/></a></message>", 0, 0, &lim, &r),
                     0);
    assert_int_equal(r.n_stanza, 1);
    free(r.log);
    memset(&r, 0, sizeof(r));
    s = xml_stream_new(&cbs, &r, &lim);
    assert_int_equal(xml_stream_feed(s, HDR, strlen(HDR)), 0);
    assert_int_equal(xml_stream_feed(s, "<message><a><b><c/>", 19),
                     XMTA_E_LIMIT);
    assert_non_null(strstr(xml_stream_error(s), "depth"));
    assert_int_equal(r.n_stanza, 0);
    xml_stream_free(s);
    free(r.log);

    /* The default is 32. */
    memset(&r, 0, sizeof(r));
    {
        char deep[512];
        size_t o = 0;

        o += (size_t)snprintf(deep + o, sizeof(deep) - o, "%s", HDR);
        for (int i = 0; i < 32; i++)
            o += (size_t)snprintf(deep + o, sizeof(deep) - o, "<a>");
        assert_int_equal(run(deep, 0, 0, NULL, &r), XMTA_E_LIMIT);
    }
    free(r.log);
}

static void test_limit_attrs(void **state)
{
    struct xml_stream_limits lim = {.max_attrs = 3};
    struct rec r = {0};

    assert_int_equal(run(HDR "<iq a='1' b='2' c='3'><q x='1' y='2' z='3'/>"
                             "</iq>",
                         0, 0, &lim, &r),
                     0);
    assert_int_equal(r.n_stanza, 1);
    free(r.log);
    memset(&r, 0, sizeof(r));
    assert_int_equal(
        run(HDR "<iq><q a='1' b='2' c='3' d='4'/></iq>", 0, 0, &lim, &r),
        XMTA_E_LIMIT);
    assert_int_equal(r.n_stanza, 0);
    free(r.log);
    /* The header counts too (namespace declarations do not). */
    memset(&r, 0, sizeof(r));
    assert_int_equal(run("<stream:stream xmlns='jabber:component:accept' "
                         "xmlns:stream='http://etherx.jabber.org/streams' "
                         "a='1' b='2' c='3' d='4'>",
                         0, 0, &lim, &r),
                     XMTA_E_LIMIT);
    assert_int_equal(r.n_open, 0);
    free(r.log);
}

/* A stanza of exactly max bytes passes; one more byte fails, however the
 * bytes arrive. Whitespace between stanzas does not count. */
static void test_limit_bytes(void **state)
{
    enum { MAX = 100 };
    struct xml_stream_limits lim = {.max_stanza_bytes = MAX};
    char ok[MAX + 1], big[MAX + 2], in[4096];
    size_t steps[] = {0, 1, 7, 64};

    /* "<message><body>" + x... + "</body></message>" = MAX bytes. */
    snprintf(ok, sizeof(ok), "<message><body>%0*d</body></message>", MAX - 32,
             0);
    assert_int_equal(strlen(ok), MAX);
    snprintf(big, sizeof(big), "<message><body>%0*d</body></message>", MAX - 31,
             0);
    assert_int_equal(strlen(big), MAX + 1);

    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct rec r = {0};

        snprintf(in, sizeof(in), "%s%s%*s%s%*s%s", HDR, ok, 300, "", ok, 300,
                 "", "</stream:stream>");
        assert_int_equal(run(in, steps[i], 0, &lim, &r), 0);
        assert_int_equal(r.n_stanza, 2);
        free(r.log);

        memset(&r, 0, sizeof(r));
        snprintf(in, sizeof(in), "%s%s %s%s", HDR, ok, big, ok);
        assert_int_equal(run(in, steps[i], 0, &lim, &r), XMTA_E_LIMIT);
        assert_int_equal(r.n_stanza, 1);
        free(r.log);
    }
}

/* An element that never ends (one huge start tag or text) is caught
 * without any callback to mark it. */
static void test_limit_bytes_unterminated(void **state)
{
    struct xml_stream_limits lim = {.max_stanza_bytes = 1000};
    struct rec r = {0};
    struct xml_stream *s = xml_stream_new(&cbs, &r, &lim);
    char junk[5000];
    int rc = 0;

    memset(junk, 'a', sizeof(junk));
    assert_int_equal(xml_stream_feed(s, HDR, strlen(HDR)), 0);
    assert_int_equal(xml_stream_feed(s, "<message a='", 12), 0);
    for (int i = 0; i < 10 && rc == 0; i++)
        rc = xml_stream_feed(s, junk, 100);
    assert_int_equal(rc, XMTA_E_LIMIT);
    assert_non_null(strstr(xml_stream_error(s), "1000 bytes"));
    xml_stream_free(s);
    free(r.log);

    /* The header itself is bounded too. */
    memset(&r, 0, sizeof(r));
    s = xml_stream_new(&cbs, &r, &lim);
    assert_int_equal(xml_stream_feed(s, "<stream:stream a='", 18), 0);
    assert_int_equal(xml_stream_feed(s, junk, sizeof(junk)), XMTA_E_LIMIT);
    assert_int_equal(r.n_open, 0);
    xml_stream_free(s);
    free(r.log);
}

/* No overflow with an unbounded limit; many small text pieces (expat
 * reports each newline apart) stay cheap and arrive as one text. */
static void test_limit_huge_and_many_pieces(void **state)
{
    struct xml_stream_limits lim = {.max_stanza_bytes = SIZE_MAX};
    struct rec r = {0};
    char *in;
    size_t o = 0, n = 60000;

    assert_int_equal(run(prosody_stream, 0, 0, &lim, &r), 0);
    assert_int_equal(r.n_stanza, 4);
    free(r.log);

    in = malloc(strlen(HDR) + n + 64);
    assert_non_null(in);
    o += (size_t)sprintf(in, "%s<message><body>", HDR);
    memset(in + o, '\n', n);
    o += n;
    strcpy(in + o, "</body></message>");
    memset(&r, 0, sizeof(r));
    assert_int_equal(run(in, 0, 0, NULL, &r), 0);
    assert_int_equal(r.n_stanza, 1);
    {
        static const char want[] = "stanza <message xmlns='jabber:component:"
                                   "accept'><body></body></message>\n";
        const char *st = strstr(r.log, "stanza ");

        assert_non_null(st);
        assert_int_equal(strlen(st), strlen(want) + n);
    }
    free(r.log);
    free(in);
}

/* ---- stopping from a callback ------------------------------------------ */

static void test_stop(void **state)
{
    size_t len = strlen(prosody_stream);

    /* Stop at each event in turn: nothing after it, whatever the feeding. */
    for (unsigned at = 1; at <= 6; at++) {
        for (size_t step = 0; step <= 1; step++) {
            struct rec r = {.stop_at = at};
            struct xml_stream *s = xml_stream_new(&cbs, &r, NULL);
            int rc = feed_pieces(s, prosody_stream, len, step, 0);

            assert_int_equal(rc, XMTA_E_STOPPED);
            assert_int_equal(r.events, at);
            assert_int_equal(xml_stream_feed(s, "<iq/>", 5), XMTA_E_STOPPED);
            assert_int_equal(r.events, at);
            assert_non_null(strstr(xml_stream_error(s), "callback"));
            xml_stream_free(s);
            free(r.log);
        }
    }
}

/* Stopping on an empty element must not call anything for its end tag. */
static void test_stop_empty_element(void **state)
{
    struct rec r = {.stop_at = 2};
    static const char in[] = HDR "<handshake/><iq/><iq/></stream:stream>";

    assert_int_equal(run(in, 0, 0, NULL, &r), XMTA_E_STOPPED);
    assert_int_equal(r.n_stanza, 1);
    assert_int_equal(r.n_close, 0);
    free(r.log);
}

static void test_null_callbacks(void **state)
{
    struct xml_stream_cbs none = {0};
    struct xml_stream *s = xml_stream_new(&none, NULL, NULL);

    assert_int_equal(xml_stream_feed(s, prosody_stream, strlen(prosody_stream)),
                     0);
    xml_stream_free(s);
    xml_stream_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prosody_stream),
        cmocka_unit_test(test_ejabberd_stream),
        cmocka_unit_test(test_stanza_delivered_promptly),
        cmocka_unit_test(test_restricted),
        cmocka_unit_test(test_nul_and_utf16),
        cmocka_unit_test(test_error_strings),
        cmocka_unit_test(test_predefined_entities),
        cmocka_unit_test(test_depth1_text_ignored),
        cmocka_unit_test(test_limit_depth),
        cmocka_unit_test(test_limit_attrs),
        cmocka_unit_test(test_limit_bytes),
        cmocka_unit_test(test_limit_bytes_unterminated),
        cmocka_unit_test(test_limit_huge_and_many_pieces),
        cmocka_unit_test(test_stop),
        cmocka_unit_test(test_stop_empty_element),
        cmocka_unit_test(test_null_callbacks),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
