/* SPDX-License-Identifier: MIT */
/* test_msg.c -- the message type and the stanzas built from it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xml/err.h"
#include "xml/msg.h"
#include "xml/xml.h"

#define ID "0b6c3f5e-8a51-4d7e-9a0c-2f1e3d4c5b6a"

static struct msg *msg_sample(const char *subject, const char *body)
{
    struct msg *m = msg_new();

    assert_non_null(m);
    memcpy(m->id, ID, sizeof(ID));
    m->hook = strdup("grafana");
    m->from = strdup("alerts");
    m->type = MSG_CHAT;
    m->subject = subject ? strdup(subject) : NULL;
    m->body = strdup(body);
    return m;
}

static char *stanza_string(const struct msg *m,
                           const char *from,
                           const char *to,
                           int groupchat)
{
    struct xml_node *st = msg_stanza(m, from, to, groupchat);
    char *s;

    assert_non_null(st);
    assert_null(xml_node_ns(st));
    s = xml_node_serialize(st, NULL);
    assert_non_null(s);
    xml_node_free(st);
    return s;
}

static void test_type_names(void **state)
{
    enum msg_type t = MSG_HEADLINE;

    assert_string_equal(msg_type_name(MSG_CHAT), "chat");
    assert_string_equal(msg_type_name(MSG_NORMAL), "normal");
    assert_string_equal(msg_type_name(MSG_HEADLINE), "headline");
    assert_null(msg_type_name(MSG_TYPE_COUNT));
    assert_null(msg_type_name((enum msg_type) - 1));

    assert_int_equal(msg_type_parse("chat", &t), 0);
    assert_int_equal(t, MSG_CHAT);
    assert_int_equal(msg_type_parse("headline", &t), 0);
    assert_int_equal(t, MSG_HEADLINE);
    assert_int_equal(msg_type_parse("normal", &t), 0);
    assert_int_equal(t, MSG_NORMAL);
    t = MSG_CHAT;
    assert_int_equal(msg_type_parse("groupchat", &t), XMTA_E_INVAL);
    assert_int_equal(msg_type_parse("Chat", &t), XMTA_E_INVAL);
    assert_int_equal(msg_type_parse("", &t), XMTA_E_INVAL);
    assert_int_equal(msg_type_parse("chat ", &t), XMTA_E_INVAL);
    assert_int_equal(msg_type_parse(NULL, &t), XMTA_E_INVAL);
    assert_int_equal(t, MSG_CHAT); /* untouched on failure */
}

static void test_recipients_and_free(void **state)
{
    struct msg *m = msg_new();
    char jid[] = "alice@example.org";

    assert_non_null(m);
    assert_null(m->to);
    assert_int_equal(m->n_to, 0);
    assert_int_equal(msg_add_to(m, jid), 0);
    jid[0] = 'A'; /* a copy was stored */
    assert_int_equal(msg_add_to(m, "bob@example.org"), 0);
    assert_int_equal(msg_add_room(m, "ops@conference.example.org"), 0);
    assert_int_equal(m->n_to, 2);
    assert_int_equal(m->n_rooms, 1);
    assert_string_equal(m->to[0], "alice@example.org");
    assert_string_equal(m->to[1], "bob@example.org");
    assert_string_equal(m->rooms[0], "ops@conference.example.org");
    assert_int_equal(msg_add_to(m, NULL), XMTA_E_INVAL);
    assert_int_equal(m->n_to, 2);
    m->nick = strdup("Alerts");
    m->subject = strdup("s");
    m->body = strdup("b");
    msg_free(m); /* ASan checks that everything is released */
    msg_free(NULL);
}

static void test_body_text(void **state)
{
    struct msg *m = msg_sample("Disk full", "db1 at 99%");
    char *t = msg_body_text(m);

    assert_string_equal(t, "*Disk full*\ndb1 at 99%");
    free(t);
    free(m->subject);
    m->subject = NULL;
    t = msg_body_text(m);
    assert_string_equal(t, "db1 at 99%");
    free(t);
    m->subject = strdup(""); /* an empty title is no title */
    t = msg_body_text(m);
    assert_string_equal(t, "db1 at 99%");
    free(t);
    msg_free(m);
}

static void test_user_stanza(void **state)
{
    struct msg *m = msg_sample("Disk full", "db1 at 99%");
    char *s =
        stanza_string(m, "alerts@notify.example.org", "alice@example.org", 0);

    assert_string_equal(
        s, "<message type='chat' from='alerts@notify.example.org' "
           "to='alice@example.org' id='" ID "'>"
           "<body>*Disk full*\ndb1 at 99%</body>"
           "<origin-id xmlns='urn:xmpp:sid:0' id='" ID "'/></message>");
    free(s);

    m->type = MSG_HEADLINE;
    s = stanza_string(m, "alerts@notify.example.org/x", "bob@example.org", 0);
    assert_non_null(strstr(s, "<message type='headline' "
                              "from='alerts@notify.example.org/x' "));
    assert_null(strstr(s, "<subject"));
    free(s);
    msg_free(m);
}

static void test_groupchat_stanza(void **state)
{
    struct msg *m = msg_sample("Deploy", "v1.2 is live");
    char *s;

    m->type = MSG_HEADLINE; /* ignored for rooms */
    s = stanza_string(m, "ops@conference.example.org/Alerts",
                      "ops@conference.example.org", 1);
    assert_string_equal(s, "<message type='groupchat' "
                           "from='ops@conference.example.org/Alerts' "
                           "to='ops@conference.example.org' id='" ID "'>"
                           "<body>*Deploy*\nv1.2 is live</body>"
                           "<origin-id xmlns='urn:xmpp:sid:0' id='" ID
                           "'/></message>");
    /* Never a <subject>: it would change the room's topic. */
    assert_null(strstr(s, "subject"));
    free(s);
    msg_free(m);
}

struct grab {
    struct xml_node *st;
    unsigned n;
};

static int grab_stanza(void *ud, const struct xml_node *st)
{
    struct grab *g = ud;

    g->n++;
    xml_node_free(g->st);
    g->st = xml_node_copy(st);
    return 0;
}

static void test_injection_escaped(void **state)
{
    static const char evil[] =
        "</body></message><message to='bob@x'><body>pwned";
    static const char hdr[] =
        "<stream:stream xmlns='jabber:component:accept' "
        "xmlns:stream='http://etherx.jabber.org/streams'>";
    struct msg *m = msg_sample("a'b\"<c>", evil);
    struct xml_stream_cbs cbs = {.stanza = grab_stanza};
    struct grab g = {0};
    struct xml_stream *s;
    char *out, *body;

    out = stanza_string(m, "alerts@notify.example.org", "alice@example.org", 0);
    assert_non_null(
        strstr(out, "<body>*a'b\"&lt;c&gt;*\n&lt;/body&gt;&lt;/message&gt;"
                    "&lt;message to='bob@x'&gt;&lt;body&gt;pwned</body>"));
    /* What a server parses is one message to alice with the text intact. */
    s = xml_stream_new(&cbs, &g, NULL);
    assert_int_equal(xml_stream_feed(s, hdr, strlen(hdr)), 0);
    assert_int_equal(xml_stream_feed(s, out, strlen(out)), 0);
    assert_int_equal(g.n, 1);
    assert_string_equal(xml_node_attr(g.st, "to"), "alice@example.org");
    body = xml_node_text(xml_node_child(g.st, "body", NULL));
    assert_string_equal(body, "*a'b\"<c>*\n"
                              "</body></message>"
                              "<message to='bob@x'><body>pwned");
    free(body);
    xml_node_free(g.st);
    xml_stream_free(s);
    free(out);

    /* Attribute injection through the JIDs is escaped as well. */
    out = stanza_string(m, "a@b' evil='1", "c@d", 0);
    assert_non_null(strstr(out, "from='a@b&apos; evil=&apos;1'"));
    free(out);
    msg_free(m);
}

static void test_forbidden_chars_in_body(void **state)
{
    struct msg *m = msg_sample(NULL, "bell\x07 esc\x1b[0m nul-free \xef\xbf\xbf"
                                     "end");
    char *s = stanza_string(m, "a@n", "b@e", 0);

    assert_non_null(strstr(s, "<body>bell esc[0m nul-free end</body>"));
    free(s);
    msg_free(m);
}

/* msg_stanza_write() gives byte for byte what the tree gives, for every
 * shape of message: subject or not, empty and hostile text, invalid UTF-8
 * and forbidden characters, oob, no id, groupchat, any type. */
static void test_stanza_write_as_tree(void **state)
{
    static const char *const texts[] = {
        "",
        "disk /var on db1 is 95% full",
        "a < b && c > d 'q' \"dq\" ]]>",
        "tab\there\nline\r\nend",
        "ctl\x01\x08\x1f\x7f del",
        "bad \xC3\x28 utf8 \xE2\x82 cut \xF0\x9F\x92",
        "\xEF\xBF\xBE\xEF\xBF\xBF nonchars",
        "\xC3\xA4\xE2\x82\xAC\xF0\x9F\x94\xA5 utf8",
        "\x01",
        "*",
    };
    const char *const jids[] = {"alerts@notify.example.org",
                                "r\xC3\xA4um@conf.example.org/Bot 'x' <y>",
                                "a&b\"c\td\ne"};
    struct xml_buf b = {0};
    size_t n = sizeof(texts) / sizeof(texts[0]);

    (void)state;
    for (size_t i = 0; i < n * n; i++) {
        for (int shape = 0; shape < 8; shape++) {
            struct msg *m =
                msg_sample(shape & 1 ? texts[i / n] : NULL, texts[i % n]);
            const char *to = jids[(i + (size_t)shape) % 3];
            char *want;

            m->oob = (shape & 2) != 0;
            if (shape & 4)
                m->id[0] = '\0';
            m->type = (enum msg_type)(i % (MSG_TYPE_COUNT + 1));
            want = stanza_string(m, jids[i % 3], to, shape == 5);
            b.len = 0;
            assert_int_equal(
                msg_stanza_write(m, jids[i % 3], to, shape == 5, &b), 0);
            assert_int_equal(b.len, strlen(want));
            assert_memory_equal(b.p, want, b.len);
            free(want);
            msg_free(m);
        }
    }
    /* appends: two stanzas in one buffer */
    {
        struct msg *m = msg_sample(NULL, "x");
        char *one = stanza_string(m, "a@b", "c@d", 0);
        size_t len = strlen(one);

        b.len = 0;
        assert_int_equal(msg_stanza_write(m, "a@b", "c@d", 0, &b), 0);
        assert_int_equal(msg_stanza_write(m, "a@b", "c@d", 0, &b), 0);
        assert_int_equal(b.len, 2 * len);
        assert_memory_equal(b.p + len, one, len);
        assert_int_equal(msg_stanza_write(NULL, "a@b", "c@d", 0, &b),
                         XMTA_E_INVAL);
        free(one);
        msg_free(m);
    }
    xml_buf_free(&b);
    assert_null(b.p);
}

/* XEP-0308: msg_stanza_write_replace() writes <replace/> in place, as the
 * last child; without a replace id (NULL or "") it writes exactly what
 * msg_stanza_write() does. The id is escaped as any attribute. */
static void test_stanza_write_replace(void **state)
{
    static const char plain[] =
        "<message type='chat' from='alerts@notify.example.org/alert-1' "
        "to='alice@example.org' id='" ID "'><body>*Disk*\nfull &amp; "
        "&lt;hot&gt;</body><origin-id xmlns='urn:xmpp:sid:0' id='" ID
        "'/></message>";
    static const char corrected[] =
        "<message type='chat' from='alerts@notify.example.org/alert-1' "
        "to='alice@example.org' id='" ID "'><body>*Disk*\nfull &amp; "
        "&lt;hot&gt;</body><origin-id xmlns='urn:xmpp:sid:0' id='" ID
        "'/><replace xmlns='urn:xmpp:message-correct:0' "
        "id='6f1c3a52-8d0e-4f57-a4c9-1b2e3d4f5a6b'/></message>";
    static const char hostile[] =
        "<message type='groupchat' from='ops@conf.example.org/Bot' "
        "to='ops@conf.example.org' id='" ID "'><body>*Disk*\nfull &amp; "
        "&lt;hot&gt;</body><origin-id xmlns='urn:xmpp:sid:0' id='" ID
        "'/><replace xmlns='urn:xmpp:message-correct:0' "
        "id='a&apos;b&quot;c&lt;d&gt;e&amp;f&#9;g&#10;h'/></message>";
    const char *from = "alerts@notify.example.org/alert-1";
    struct msg *m = msg_sample("Disk", "full & <hot>");
    struct xml_buf b = {0};

    (void)state;
    assert_int_equal(msg_stanza_write(m, from, "alice@example.org", 0, &b), 0);
    assert_int_equal(b.len, strlen(plain));
    assert_memory_equal(b.p, plain, b.len);
    for (int i = 0; i < 2; i++) { /* NULL and "": no <replace/> */
        b.len = 0;
        assert_int_equal(msg_stanza_write_replace(m, from, "alice@example.org",
                                                  0, i ? "" : NULL, &b),
                         0);
        assert_int_equal(b.len, strlen(plain));
        assert_memory_equal(b.p, plain, b.len);
    }
    b.len = 0;
    assert_int_equal(
        msg_stanza_write_replace(m, from, "alice@example.org", 0,
                                 "6f1c3a52-8d0e-4f57-a4c9-1b2e3d4f5a6b", &b),
        0);
    assert_int_equal(b.len, strlen(corrected));
    assert_memory_equal(b.p, corrected, b.len);
    b.len = 0;
    assert_int_equal(msg_stanza_write_replace(m, "ops@conf.example.org/Bot",
                                              "ops@conf.example.org", 1,
                                              "a'b\"c<d>e&f\tg\nh", &b),
                     0);
    assert_int_equal(b.len, strlen(hostile));
    assert_memory_equal(b.p, hostile, b.len);
    assert_int_equal(
        msg_stanza_write_replace(NULL, from, "alice@example.org", 0, "x", &b),
        XMTA_E_INVAL);
    xml_buf_free(&b);
    msg_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_recipients_and_free),
        cmocka_unit_test(test_body_text),
        cmocka_unit_test(test_user_stanza),
        cmocka_unit_test(test_groupchat_stanza),
        cmocka_unit_test(test_injection_escaped),
        cmocka_unit_test(test_forbidden_chars_in_body),
        cmocka_unit_test(test_stanza_write_as_tree),
        cmocka_unit_test(test_stanza_write_replace),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
