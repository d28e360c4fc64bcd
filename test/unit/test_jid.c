/* SPDX-License-Identifier: MIT */
/* test_jid.c -- JID parsing, normalisation, bare/full forms and globs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <stringprep.h>

#include "xml/err.h"
#include "xml/jid.h"

struct jid_ok {
    const char *in;
    const char *local;
    const char *domain;
    const char *resource;
};

static void test_jid_valid(void **state)
{
    static const struct jid_ok cases[] = {
        {"alice@example.org", "alice", "example.org", ""},
        {"Alice@Example.ORG/Phone", "alice", "example.org", "Phone"},
        {"example.org", "", "example.org", ""},
        {"example.org.", "", "example.org", ""},
        {"alice@example.org./r", "alice", "example.org", "r"},
        {"notify.example.org/bot", "", "notify.example.org", "bot"},
        /* the first '/' starts the resource, which may hold '@' and '/' */
        {"a@b.org/c/d@e", "a", "b.org", "c/d@e"},
        {"[::1]", "", "[::1]", ""},
        {"alice@[2001:DB8::1]/x", "alice", "[2001:db8::1]", "x"},
        {"alice@1.2.3.4", "alice", "1.2.3.4", ""},
        {"localhost", "", "localhost", ""},
        {"x-1@a-b.c0", "x-1", "a-b.c0", ""},
        /* nodeprep and nameprep fold non-ASCII case too */
        {"\xC3\x84LICE@M\xC3\x9CNCHEN.de", "\xC3\xA4lice", "m\xC3\xBCnchen.de",
         ""},
        /* the resource keeps its case and its spaces */
        {"room@conference.example.org/Alert Bot", "room",
         "conference.example.org", "Alert Bot"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct jid j;
        const char *why = "unset";

        if (jid_parse(cases[i].in, &j, &why) != 0)
            fail_msg("'%s' rejected: %s", cases[i].in, why);
        assert_string_equal(j.local, cases[i].local);
        assert_string_equal(j.domain, cases[i].domain);
        assert_string_equal(j.resource, cases[i].resource);
    }
}

struct jid_bad {
    const char *in;
    const char *why; /* substring of the reason */
};

static void test_jid_invalid(void **state)
{
    static const struct jid_bad cases[] = {
        {"", "empty domainpart"},
        {".", "empty domainpart"},
        {"@example.org", "empty localpart"},
        {"alice@", "empty domainpart"},
        {"alice@/r", "empty domainpart"},
        {"alice@example.org/", "empty resourcepart"},
        {"al ice@example.org", "localpart"},
        {"al\"ice@example.org", "localpart"},
        {"a<b@example.org", "localpart"},
        {"al\xC3\x28ice@example.org", "localpart"}, /* bad UTF-8 */
        {"alice@exa mple.org", "invalid character"},
        {"alice@example..org", "empty label"},
        {"alice@.example.org", "empty label"},
        {"alice@example.org..", "empty label"},
        {"alice@-example.org", "'-'"},
        {"alice@example-.org", "'-'"},
        {"alice@exa_mple.org", "invalid character"},
        {"a@b@example.org", "invalid character"},
        {"alice@[::1", "IPv6"},
        {"alice@[zz::1]", "IPv6"},
        {"alice@[]", "IPv6"},
        {"alice@1.2.3.256", "IPv4"},
        {"alice@123", "IPv4"},
        {"alice@example.org/a\x01", "resourcepart"},
        {"alice@\xC2\xAD", "empty domainpart"}, /* nameprep maps it away */
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct jid j;
        const char *why = NULL;

        if (jid_parse(cases[i].in, &j, &why) != XMTA_E_INVAL)
            fail_msg("'%s' accepted", cases[i].in);
        assert_non_null(why);
        if (!strstr(why, cases[i].why))
            fail_msg("'%s': reason '%s' lacks '%s'", cases[i].in, why,
                     cases[i].why);
    }
    {
        struct jid j;

        assert_int_equal(jid_parse(NULL, &j, NULL), XMTA_E_INVAL);
        assert_int_equal(jid_parse("a@b.c", NULL, NULL), XMTA_E_INVAL);
    }
}

/* libidn's answer for one part: 1 and out filled, or 0 when refused. */
static int idn_prep(const char *s, const Stringprep_profile *profile, char *out)
{
    char buf[4096];

    snprintf(buf, sizeof(buf), "%s", s);
    if (stringprep(buf, sizeof(buf), 0, profile) != STRINGPREP_OK)
        return 0;
    memcpy(out, buf, strlen(buf) + 1);
    return 1;
}

/* One ASCII part through jid_parse() and through libidn directly: the
 * ASCII fast path must agree with stringprep on everything. */
static void ascii_check(const char *part)
{
    char in[64], want[4096];
    const char *why = NULL;
    struct jid j;
    int ok;

    /* localpart: nodeprep */
    if (!strpbrk(part, "@/")) {
        snprintf(in, sizeof(in), "%s@example.org", part);
        ok = idn_prep(part, stringprep_xmpp_nodeprep, want);
        if (ok != (jid_parse(in, &j, &why) == 0))
            fail_msg("'%s': libidn %s, jid_parse %s", in,
                     ok ? "accepts" : "refuses", ok ? why : "accepts");
        if (ok)
            assert_string_equal(j.local, want);
    }
    /* resourcepart: resourceprep, the case kept */
    snprintf(in, sizeof(in), "example.org/%s", part);
    ok = idn_prep(part, stringprep_xmpp_resourceprep, want);
    if (ok != (jid_parse(in, &j, &why) == 0))
        fail_msg("'%s': libidn %s, jid_parse %s", in,
                 ok ? "accepts" : "refuses", ok ? why : "accepts");
    if (ok)
        assert_string_equal(j.resource, want);
    /* domainpart: nameprep, then the host name rules of jid_parse */
    if (!strpbrk(part, "@/[") && part[strlen(part) - 1] != '.') {
        snprintf(in, sizeof(in), "%s", part);
        ok = idn_prep(part, stringprep_nameprep, want);
        if (jid_parse(in, &j, &why) == 0) {
            assert_true(ok);
            for (char *p = want; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                    *p = (char)(*p - 'A' + 'a');
            assert_string_equal(j.domain, want);
        } else if (strstr(why, "nameprep") && ok) {
            fail_msg("'%s': libidn accepts, jid_parse: %s", in, why);
        } else if (!ok && !strstr(why, "nameprep")) {
            fail_msg("'%s': libidn refuses, jid_parse: %s", in, why);
        }
    }
}

static void test_jid_ascii_as_libidn(void **state)
{
    unsigned long seed = 8;
    char part[8];

    (void)state;
    /* every ASCII character alone and between letters */
    for (int c = 1; c < 0x80; c++) {
        snprintf(part, sizeof(part), "%c", c);
        ascii_check(part);
        snprintf(part, sizeof(part), "xY%cz", c);
        ascii_check(part);
    }
    /* and random mixes of them */
    for (int n = 0; n < 3000; n++) {
        size_t len = 1 + n % 6;

        for (size_t i = 0; i < len; i++) {
            seed = seed * 6364136223846793005UL + 1442695040888963407UL;
            part[i] = (char)(1 + (seed >> 33) % 127);
        }
        part[len] = '\0';
        ascii_check(part);
    }
}

static void test_jid_lengths(void **state)
{
    char s[3 * 1024 + 64];
    struct jid j;
    const char *why = NULL;

    (void)state;
    /* 1023 bytes of localpart is the limit, 1024 is over it */
    memset(s, 'a', 1023);
    strcpy(s + 1023, "@example.org");
    assert_int_equal(jid_parse(s, &j, &why), 0);
    assert_int_equal(strlen(j.local), 1023);

    memset(s, 'a', 1024);
    strcpy(s + 1024, "@example.org");
    assert_int_equal(jid_parse(s, &j, &why), XMTA_E_INVAL);
    assert_non_null(strstr(why, "localpart too long"));

    strcpy(s, "alice@example.org/");
    memset(s + 18, 'r', 1024);
    s[18 + 1024] = '\0';
    assert_int_equal(jid_parse(s, &j, &why), XMTA_E_INVAL);
    assert_non_null(strstr(why, "resourcepart too long"));

    strcpy(s, "alice@");
    for (size_t i = 0; i < 1030; i += 2)
        memcpy(s + 6 + i, "a.", 2);
    s[6 + 1030] = 'a';
    s[6 + 1031] = '\0';
    assert_int_equal(jid_parse(s, &j, &why), XMTA_E_INVAL);
    assert_non_null(strstr(why, "domainpart too long"));
}

static void test_jid_bare_full(void **state)
{
    struct jid j;
    char buf[64];

    (void)state;
    assert_int_equal(jid_parse("Alice@Example.org/Res", &j, NULL), 0);
    assert_int_equal(jid_bare(&j, buf, sizeof buf), 0);
    assert_string_equal(buf, "alice@example.org");
    assert_int_equal(jid_full(&j, buf, sizeof buf), 0);
    assert_string_equal(buf, "alice@example.org/Res");

    /* "alice@example.org/Res" is 21 bytes: 22 fit, 21 do not */
    assert_int_equal(jid_full(&j, buf, 22), 0);
    assert_string_equal(buf, "alice@example.org/Res");
    assert_int_equal(jid_full(&j, buf, 21), XMTA_E_LIMIT);
    assert_int_equal(jid_bare(&j, buf, 18), 0);
    assert_int_equal(jid_bare(&j, buf, 17), XMTA_E_LIMIT);
    assert_int_equal(jid_bare(&j, buf, 0), XMTA_E_LIMIT);

    /* no localpart, no resource */
    assert_int_equal(jid_parse("notify.example.org", &j, NULL), 0);
    assert_int_equal(jid_bare(&j, buf, sizeof buf), 0);
    assert_string_equal(buf, "notify.example.org");
    assert_int_equal(jid_full(&j, buf, sizeof buf), 0);
    assert_string_equal(buf, "notify.example.org");
    assert_int_equal(jid_parse("notify.example.org/x", &j, NULL), 0);
    assert_int_equal(jid_full(&j, buf, sizeof buf), 0);
    assert_string_equal(buf, "notify.example.org/x");
}

struct glob_case {
    const char *pattern;
    const char *s;
    int match;
};

static void test_jid_glob(void **state)
{
    static const struct glob_case cases[] = {
        {"*@example.org", "alice@example.org", 1},
        {"*@example.org", "ALICE@Example.Org", 1},
        {"*@EXAMPLE.ORG", "alice@example.org", 1},
        {"*@example.org", "alice@evil.org", 0},
        {"*@example.org", "alice@example.org.evil", 0},
        {"*@example.org", "alice@notexample.org", 0},
        {"*@example.org", "@example.org", 1},
        {"*@example.org", "example.org", 0},
        {"*@example.org", "alice@example.org/phone", 0},
        {"*@*.example.org", "ops@conference.example.org", 1},
        {"*@*.example.org", "ops@example.org", 0},
        {"alice@example.org", "alice@example.org", 1},
        {"alice@example.org", "alice@example.or", 0},
        {"alice@example.org", "alice@example.orgx", 0},
        {"ali?e@example.org", "alice@example.org", 1},
        {"ali?e@example.org", "alie@example.org", 0},
        {"?", "\xC3\xBC", 1}, /* one character, two bytes */
        {"??", "\xC3\xBC", 0},
        {"*", "", 1},
        {"*", "anything@at.all/res", 1},
        {"", "", 1},
        {"", "a", 0},
        {"a", "", 0},
        {"**a**", "a", 1},
        {"a*b*c", "abc", 1},
        {"a*b*c", "aXbYc", 1},
        {"a*b*c", "aXbYcZ", 0},
        {"a*c", "abcbc", 1},
        {"*ab", "aab", 1},
        {"*a*a*a*a*b", "aaaaaaaaaab", 1},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = jid_glob_match(cases[i].pattern, cases[i].s);

        if (got != cases[i].match)
            fail_msg("glob '%s' on '%s': %d, expected %d", cases[i].pattern,
                     cases[i].s, got, cases[i].match);
    }
    assert_int_equal(jid_glob_match(NULL, "a"), 0);
    assert_int_equal(jid_glob_match("a", NULL), 0);
}

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A naive recursive matcher takes exponential time here. */
static void test_jid_glob_pathological(void **state)
{
    size_t n = 200000;
    char *s = malloc(n + 1);
    double t0;

    (void)state;
    assert_non_null(s);
    memset(s, 'a', n);
    s[n] = '\0';
    t0 = now_seconds();
    assert_int_equal(jid_glob_match("*a*a*a*a*b", s), 0);
    assert_int_equal(jid_glob_match("*a*a*a*a*a*a*a*a*a*a*a*a*b", s), 0);
    assert_int_equal(jid_glob_match("*?*?*?*?*?*?*b", s), 0);
    s[n - 1] = 'b';
    assert_int_equal(jid_glob_match("*a*a*a*a*b", s), 1);
    assert_true(now_seconds() - t0 < 2.0);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jid_valid),
        cmocka_unit_test(test_jid_invalid),
        cmocka_unit_test(test_jid_ascii_as_libidn),
        cmocka_unit_test(test_jid_lengths),
        cmocka_unit_test(test_jid_bare_full),
        cmocka_unit_test(test_jid_glob),
        cmocka_unit_test(test_jid_glob_pathological),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
