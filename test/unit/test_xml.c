/* SPDX-License-Identifier: MIT */
/* test_xml.c -- node tree, serializer, escaping and character checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xml/err.h"
#include "xml/xml.h"

/* Serializes n and compares with want. */
static void assert_xml(const struct xml_node *n, const char *want)
{
    size_t len = 0;
    char *s = xml_node_serialize(n, &len);

    assert_non_null(s);
    assert_string_equal(s, want);
    assert_int_equal(len, strlen(want));
    free(s);
}

static void test_tree_build(void **state)
{
    struct xml_node *m = xml_node_new("message", NULL);
    struct xml_node *b, *x, *c;
    char *t;

    assert_non_null(m);
    assert_string_equal(xml_node_name(m), "message");
    assert_null(xml_node_ns(m));
    assert_int_equal(xml_node_set_attr(m, "to", "a@b"), 0);
    assert_int_equal(xml_node_set_attr(m, "id", "1"), 0);
    assert_int_equal(xml_node_set_attr(m, "to", "c@d"), 0); /* replaces */
    assert_string_equal(xml_node_attr(m, "to"), "c@d");
    assert_null(xml_node_attr(m, "from"));
    assert_int_equal(xml_node_set_attr(m, "id", NULL), 0); /* removes */
    assert_null(xml_node_attr(m, "id"));
    assert_int_equal(xml_node_set_attr(m, "nope", NULL), 0);

    assert_int_equal(xml_node_add_text(m, "lead ", (size_t)-1), 0);
    b = xml_node_add_child(m, "body", NULL);
    assert_non_null(b);
    assert_int_equal(xml_node_add_text(b, "hello", 3), 0);
    assert_int_equal(xml_node_add_text(b, " world", (size_t)-1), 0);
    x = xml_node_new("x", "jabber:x:oob");
    assert_int_equal(xml_node_append(m, x), 0);
    assert_int_equal(xml_node_add_text(m, "tail", (size_t)-1), 0);
    c = xml_node_add_child(m, "body", "urn:other");
    assert_non_null(c);

    /* Element iteration skips text children. */
    assert_ptr_equal(xml_node_first_child(m), b);
    assert_ptr_equal(xml_node_next(b), x);
    assert_ptr_equal(xml_node_next(x), c);
    assert_null(xml_node_next(c));
    assert_ptr_equal(xml_node_child(m, "x", "jabber:x:oob"), x);
    assert_null(xml_node_child(m, "x", "jabber:x:data"));
    assert_ptr_equal(xml_node_child(m, "body", NULL), b);
    assert_ptr_equal(xml_node_child(m, "body", "urn:other"), c);
    assert_null(xml_node_child(m, "subject", NULL));

    t = xml_node_text(b);
    assert_string_equal(t, "hel world");
    free(t);
    t = xml_node_text(m); /* direct text children only */
    assert_string_equal(t, "lead tail");
    free(t);
    t = xml_node_text(c);
    assert_string_equal(t, "");
    free(t);

    assert_xml(m, "<message to='c@d'>lead <body>hel world</body>"
                  "<x xmlns='jabber:x:oob'/>tail"
                  "<body xmlns='urn:other'/></message>");
    xml_node_free(m);
    xml_node_free(NULL);
}

static void test_tree_copy(void **state)
{
    struct xml_node *m = xml_node_new("iq", "jabber:component:accept");
    struct xml_node *q, *cp;
    char *a, *b;

    xml_node_set_attr(m, "type", "result");
    q = xml_node_add_child(m, "query", "http://jabber.org/protocol/disco#info");
    xml_node_set_attr(xml_node_add_child(q, "identity", NULL), "category",
                      "component");
    xml_node_add_text(q, "t & t", (size_t)-1);
    cp = xml_node_copy(m);
    assert_non_null(cp);
    assert_ptr_not_equal(cp, m);
    a = xml_node_serialize(m, NULL);
    b = xml_node_serialize(cp, NULL);
    assert_string_equal(a, b);
    free(b);
    /* The copy is independent of the original. */
    xml_node_free(m);
    xml_node_set_attr(cp, "type", "error");
    b = xml_node_serialize(cp, NULL);
    assert_string_not_equal(a, b);
    assert_non_null(strstr(b, "type='error'"));
    free(a);
    free(b);
    xml_node_free(cp);
    assert_null(xml_node_copy(NULL));
}

static void test_escape_text_and_attrs(void **state)
{
    struct xml_node *n = xml_node_new("body", NULL);
    char *e;

    xml_node_set_attr(n, "a", "x<y>z&'\"");
    xml_node_add_text(n, "<b>&'\" ]]> end", (size_t)-1);
    assert_xml(n, "<body a='x&lt;y&gt;z&amp;&apos;&quot;'>"
                  "&lt;b&gt;&amp;'\" ]]&gt; end</body>");
    xml_node_free(n);

    e = xml_escape("a'b\"c<d>&e]]>", (size_t)-1);
    assert_string_equal(e, "a&apos;b&quot;c&lt;d&gt;&amp;e]]&gt;");
    free(e);
    e = xml_escape("abc", 1);
    assert_string_equal(e, "a");
    free(e);
    /* Whitespace a parser would normalise in attributes survives. */
    e = xml_escape("t\tl\nr\r", (size_t)-1);
    assert_string_equal(e, "t&#9;l&#10;r&#13;");
    free(e);
}

static void test_forbidden_chars_removed(void **state)
{
    struct xml_node *n = xml_node_new("body", NULL);
    char *e;

    /* \x01, ESC, U+FFFE, U+FFFF, a stray byte, NUL inside len: all go;
     * TAB/LF, DEL and non-ASCII stay. */
    static const char text[] = "a\x01"
                               "b\x1b"
                               "c\xef\xbf\xbe"
                               "d\xef\xbf\xbf"
                               "e\xff"
                               "f\0g\t\n\x7f\xc3\xa9";
    xml_node_add_text(n, text, sizeof(text) - 1);
    xml_node_set_attr(n, "v",
                      "1\x02"
                      "2\xef\xbf\xbf"
                      "3");
    assert_xml(n, "<body v='123'>abcdefg\t\n\x7f\xc3\xa9</body>");
    xml_node_free(n);

    e = xml_escape("x\x1b[31my", (size_t)-1);
    assert_string_equal(e, "x[31my");
    free(e);
}

static void test_namespace_inheritance(void **state)
{
    struct xml_node *root = xml_node_new("message", "jabber:component:accept");
    struct xml_node *body, *same, *other, *inner, *back;

    body = xml_node_add_child(root, "body", NULL);
    same = xml_node_add_child(root, "thread", "jabber:component:accept");
    other = xml_node_add_child(root, "x", "urn:a");
    inner = xml_node_add_child(other, "y", "urn:a");
    back = xml_node_add_child(other, "z", "jabber:component:accept");
    xml_node_add_child(inner, "w", NULL);
    (void)body;
    (void)same;
    (void)back;
    assert_xml(root, "<message xmlns='jabber:component:accept'><body/>"
                     "<thread/><x xmlns='urn:a'><y><w/></y>"
                     "<z xmlns='jabber:component:accept'/></x></message>");
    xml_node_free(root);

    /* A root with ns NULL writes no xmlns: it inherits the stream's. */
    root = xml_node_new("presence", NULL);
    xml_node_add_child(root, "status", NULL);
    xml_node_add_child(root, "c", "http://jabber.org/protocol/caps");
    xml_node_add_child(root, "none", "");
    assert_xml(root, "<presence><status/>"
                     "<c xmlns='http://jabber.org/protocol/caps'/>"
                     "<none xmlns=''/></presence>");
    /* An attribute called xmlns never doubles the namespace. */
    xml_node_set_attr(root, "xmlns", "jabber:client");
    assert_xml(root, "<presence><status/>"
                     "<c xmlns='http://jabber.org/protocol/caps'/>"
                     "<none xmlns=''/></presence>");
    xml_node_free(root);
}

static void test_utf8_valid(void **state)
{
    static const struct {
        const char *s;
        size_t len;
        int valid;
    } cases[] = {
        {"", 0, 1},
        {"plain ascii", 11, 1},
        {"\0", 1, 1},                   /* NUL is valid UTF-8 */
        {"\xc2\x80", 2, 1},             /* U+0080 */
        {"\xdf\xbf", 2, 1},             /* U+07FF */
        {"\xc0\x80", 2, 0},             /* overlong NUL */
        {"\xc1\xbf", 2, 0},             /* overlong */
        {"\xe0\x80\x80", 3, 0},         /* overlong 3-byte */
        {"\xe0\x9f\xbf", 3, 0},         /* overlong U+07FF */
        {"\xe0\xa0\x80", 3, 1},         /* U+0800 */
        {"\xed\x9f\xbf", 3, 1},         /* U+D7FF */
        {"\xed\xa0\x80", 3, 0},         /* U+D800 surrogate */
        {"\xed\xbf\xbf", 3, 0},         /* U+DFFF surrogate */
        {"\xee\x80\x80", 3, 1},         /* U+E000 */
        {"\xef\xbf\xbe", 3, 1},         /* U+FFFE: valid UTF-8 */
        {"\xf0\x80\x80\x80", 4, 0},     /* overlong 4-byte */
        {"\xf0\x8f\xbf\xbf", 4, 0},     /* overlong U+FFFF */
        {"\xf0\x90\x80\x80", 4, 1},     /* U+10000 */
        {"\xf4\x8f\xbf\xbf", 4, 1},     /* U+10FFFF */
        {"\xf4\x90\x80\x80", 4, 0},     /* U+110000 */
        {"\xf5\x80\x80\x80", 4, 0},     /* lead byte > F4 */
        {"\xf8\x88\x80\x80\x80", 5, 0}, /* 5-byte form */
        {"\xfe", 1, 0},
        {"\xff", 1, 0},
        {"\x80", 1, 0},                /* lone continuation */
        {"a\xe2\x82", 3, 0},           /* truncated euro sign */
        {"\xe2\x82\xac", 3, 1},        /* euro sign */
        {"\xe2\x82\xac", 2, 0},        /* len cuts it */
        {"\xe2\x28\xa1", 3, 0},        /* bad continuation */
        {"\xf0\x9f\x98\x80 ok", 7, 1}, /* emoji */
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (xml_utf8_valid(cases[i].s, cases[i].len) != cases[i].valid)
            fail_msg("case %zu: expected %d", i, cases[i].valid);
    }
}

static void test_text_sanitize(void **state)
{
    char a[] = "ok\x01\x02 \t\n\r\x7f\x1f!";
    char b[] = "x\xed\xa0\x80y\xc3z\xc3\xa9\xef\xbf\xbf\xef\xbf\xbd";
    char c[] = "a\0b";
    char d[] = "trunc\xf0\x9f\x98";
    size_t n;

    n = xml_text_sanitize(a, strlen(a));
    assert_int_equal(n, 8);
    assert_string_equal(a, "ok \t\n\r\x7f!");

    /* Each invalid byte goes; valid sequences, U+FFFD included, stay. */
    n = xml_text_sanitize(b, strlen(b));
    assert_string_equal(b, "xyz\xc3\xa9\xef\xbf\xbd");
    assert_int_equal(n, strlen(b));

    n = xml_text_sanitize(c, 3);
    assert_int_equal(n, 2);
    assert_memory_equal(c, "ab", 3);

    n = xml_text_sanitize(d, strlen(d));
    assert_string_equal(d, "trunc");
    assert_int_equal(n, 5);
}

/* ---- parse -> serialize -> parse ------------------------------------- */

struct grab {
    char *out;
    unsigned n;
};

static int grab_stanza(void *ud, const struct xml_node *st)
{
    struct grab *g = ud;

    g->n++;
    free(g->out);
    g->out = xml_node_serialize(st, NULL);
    return 0;
}

#define HDR                                                                    \
    "<stream:stream xmlns='jabber:component:accept' "                          \
    "xmlns:stream='http://etherx.jabber.org/streams'>"

/* Parses one stanza inside a stream header and returns its serialization. */
static char *parse_one(const char *stanza)
{
    struct xml_stream_cbs cbs = {.stanza = grab_stanza};
    struct grab g = {0};
    struct xml_stream *s = xml_stream_new(&cbs, &g, NULL);

    assert_non_null(s);
    assert_int_equal(xml_stream_feed(s, HDR, strlen(HDR)), 0);
    assert_int_equal(xml_stream_feed(s, stanza, strlen(stanza)), 0);
    assert_int_equal(g.n, 1);
    xml_stream_free(s);
    return g.out;
}

static void test_roundtrip(void **state)
{
    static const char *const in[] = {
        "<message from='a@b/c' to='d@e' type='chat' id='x1' xml:lang='de'>"
        "<body>1 &lt; 2 &amp;&amp; 3 &gt; 2, &apos;q&apos; &quot;dq&quot;"
        " ]]&gt; &#x263A; caf\xc3\xa9 line\nline2</body>"
        "<html xmlns='http://jabber.org/protocol/xhtml-im'>"
        "<body xmlns='http://www.w3.org/1999/xhtml'><p>hi</p></body></html>"
        "<stream:error/></message>",
        ("<iq type='get' id='p'><query xmlns:p='urn:p' p:attr='v&#10;w' "
         "xmlns='jabber:iq:version'/><r xmlns=''><s/></r></iq>"),
        "<presence><![CDATA[<raw> & ]]]]><![CDATA[>]]>x&#13;y\t</presence>",
    };
    static const char *const want[] = {
        "<message xmlns='jabber:component:accept' from='a@b/c' to='d@e' "
        "type='chat' id='x1' xml:lang='de'>"
        "<body>1 &lt; 2 &amp;&amp; 3 &gt; 2, 'q' \"dq\" ]]&gt; "
        "\xe2\x98\xba caf\xc3\xa9 line\nline2</body>"
        "<html xmlns='http://jabber.org/protocol/xhtml-im'>"
        "<body xmlns='http://www.w3.org/1999/xhtml'><p>hi</p></body></html>"
        "<error xmlns='http://etherx.jabber.org/streams'/></message>",
        ("<iq xmlns='jabber:component:accept' type='get' id='p'>"
         "<query xmlns='jabber:iq:version' p:attr='v&#10;w' xmlns:p='urn:p'/>"
         "<r xmlns=''><s/></r></iq>"),
        ("<presence xmlns='jabber:component:accept'>"
         "&lt;raw&gt; &amp; ]]&gt;x&#13;y\t</presence>"),
    };

    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        char *s1 = parse_one(in[i]);
        char *s2 = parse_one(s1);

        assert_string_equal(s1, want[i]);
        assert_string_equal(s2, s1);
        free(s1);
        free(s2);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree_build),
        cmocka_unit_test(test_tree_copy),
        cmocka_unit_test(test_escape_text_and_attrs),
        cmocka_unit_test(test_forbidden_chars_removed),
        cmocka_unit_test(test_namespace_inheritance),
        cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_text_sanitize),
        cmocka_unit_test(test_roundtrip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
