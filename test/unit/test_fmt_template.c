/* SPDX-License-Identifier: MIT */
/* test_fmt_template.c -- the template language (rendering, filters,
 * errors), the hook keys of issue 5 with http_conf_check(), and webhook
 * signatures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "conf/conf.h"
#include "http/body.h"
#include "http/format.h"
#include "http/http.h"
#include "test/unit/fixture.h"
#include "xml/err.h"

#define ZW "\xe2\x80\x8b"

/* Renders src over the fixture (or inline JSON) and compares. */
static void expect_render(const char *src, const char *json, const char *want)
{
    char err[256], *got;
    struct tmpl *t = tmpl_compile(src, err, sizeof(err));
    struct rbuf b = {0};
    json_t *root;
    json_error_t je;

    if (!t)
        fail_msg("compile %s: %s", src, err);
    if (json[0] == '{') {
        root = json_loads(json, 0, &je);
    } else {
        size_t len;
        char *data = fixture_read(json, &len);

        root = json_loadb(data, len, 0, &je);
        free(data);
    }
    assert_non_null(root);
    tmpl_render(t, root, &b);
    got = rbuf_take(&b);
    if (strcmp(got, want) != 0)
        fail_msg("template %s:\n--- got\n%s\n--- want\n%s", src, got, want);
    free(got);
    json_decref(root);
    tmpl_free(t);
}

static void expect_error(const char *src, const char *want)
{
    char err[256];
    struct tmpl *t = tmpl_compile(src, err, sizeof(err));

    if (t)
        fail_msg("compiled: %s", src);
    assert_string_equal(err, want);
}

/* The README's Alertmanager example. */
static void test_alertmanager_ok(void **state)
{
    (void)state;
    expect_render(
        "{{#if status == \"firing\"}}🔥{{else}}✅{{/if}} "
        "*{{ status | upper }}* {{ groupLabels.alertname }}\\n"
        "{{#each alerts}}• {{ labels.instance | default(\"?\") }} "
        "{{ labels.mountpoint }}: {{ annotations.summary }} "
        "(since {{ startsAt | date(\"%H:%M\") }}){{ endsAt | date(\" "
        "until %H:%M\") }}\\n{{/each}}"
        "{{ externalURL }}",
        "alertmanager_firing.json",
        "🔥 *FIRING* DiskFull\n"
        "• db1:9100 /var/lib/foo_bar_baz: Disk /var is 95% full (since "
        "12:03)\n"
        "• db2:9100 /srv: Disk /srv is " ZW "*97%* full (since 12:04)\n"
        "http://alertmanager.example.org:9093");
}

/* The README's Grafana example: offsets, objects joined, @index, $. */
static void test_grafana(void **state)
{
    (void)state;
    expect_render("{{ title | truncate(12) }}\\n"
                  "{{#each alerts}}{{ @index }}. {{ labels.host | upper }} "
                  "{{ values | join(\" \") }} at "
                  "{{ startsAt | date(\"%H:%M UTC\") }} [{{ $.state }}]\\n"
                  "{{ dashboardURL }}{{/each}}",
                  "grafana_unified.json",
                  "[FIRING:1] T…\n"
                  "0. NAS-01 B=61.5 C=1 at 10:03 UTC [alerting]\n"
                  "https://grafana.example.org/d/xyz");
}

static void test_missing_and_filters(void **state)
{
    (void)state;
    expect_render("[{{ nope.x.y }}][{{ a.9.b }}][{{ a.x }}][{{ . | raw }}]",
                  "{\"a\":[1]}", "[][][][]");
    expect_render("{{ s }}|{{ s | raw }}|{{ s | lower }}|{{ n }}|{{ f }}|"
                  "{{ t }}|{{ l | join(\"+\") }}|{{ l }}",
                  "{\"s\":\"_X_\",\"n\":42,\"f\":1.5,\"t\":true,"
                  "\"l\":[\"a\",1,null,{}]}",
                  /* after '|' a directive opens no span: no escape */
                  ZW "_X_|_X_|_x_|42|1.5|true|a+1|a, 1");
    expect_render("{{#each o}}{{ @key }}={{ . }};{{/each}}"
                  "{{#if e}}yes{{else}}no{{/if}}"
                  "{{#if z}}yes{{else}}no{{/if}}"
                  "{{#if s != \"x\"}}ne{{/if}}{{ d | default(\"-\") }}"
                  "{{ u | date }}",
                  "{\"o\":{\"a\":1,\"b\":\"c\"},\"e\":[],\"z\":0,\"s\":\"y\","
                  "\"u\":0}",
                  "a=1;b=c;nonone-");
    expect_render("a\\nb \\\\n {{ d | date(\"%Y\") }}", "{\"d\":1700000000}",
                  "a\nb \\n 2023");
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("{{ x", "line 1: expected '}}'");
    expect_error("a\n{{#each x}}", "line 2: #each without {{/each}}");
    expect_error("{{ x | nope }}", "line 1: unknown filter (upper, lower, "
                                   "raw, default, join, truncate, date)");
    expect_error("x\ny\n{{/if}}",
                 "line 3: {{/each}}, {{/if}} or {{else}} without a block");
    expect_error("{{#if x}}{{/each}}", "line 1: #if without {{/if}}");
    expect_error("{{#for x}}", "line 1: unknown block (use #each or #if)");
    expect_error("{{ x | truncate(0) }}",
                 "line 1: truncate needs a length 1..100000");
    expect_error("{{ x | default }}",
                 "line 1: this filter needs an argument, as in "
                 "default(\"-\") or truncate(40)");
    expect_error("{{ }}", "line 1: expected a field name");
    expect_error("{{#if x == y}}{{/if}}", "line 1: expected a \"string\"");
}

/* ---- configuration ----------------------------------------------------- */

#define CONF_HEAD                                                              \
    "[component]\n"                                                            \
    "domain = notify.example.org\n"                                            \
    "server = 127.0.0.1\n"                                                     \
    "secret = s3cret-s3cret\n"                                                 \
    "[hook alerts]\n"                                                          \
    "token = tok-alerts-0123456789abcdef\n"                                    \
    "to = alice@example.org\n"

static void test_conf_keys(void **state)
{
    struct conf_diag diag;
    struct conf *c;

    (void)state;
    c = conf_load_string(CONF_HEAD "format = slack\n"
                                   "max_message = 500\n"
                                   "secret = hmac-key-123\n"
                                   "signature_header = X-Signature\n"
                                   "template = {{ status }}\n"
                                   "template = {{#each alerts}}x{{/each}}\n",
                         "t.conf", &diag);
    assert_non_null(c);
    assert_string_equal(c->hooks[0].format, "slack");
    assert_int_equal(c->hooks[0].max_message, 500);
    assert_string_equal(c->hooks[0].sig_secret, "hmac-key-123");
    assert_string_equal(c->hooks[0].sig_header, "X-Signature");
    assert_string_equal(c->hooks[0].tmpl,
                        "{{ status }}\n{{#each alerts}}x{{/each}}");
    assert_int_equal(c->hooks[0].n_tmpl_lines, 2);
    assert_int_equal(http_conf_check(c, &diag), 0);
    conf_free(c);

    c = conf_load_string(CONF_HEAD, "t.conf", &diag);
    assert_non_null(c);
    assert_int_equal(c->hooks[0].max_message, 4000);
    assert_null(c->hooks[0].format);
    conf_free(c);

    assert_null(
        conf_load_string(CONF_HEAD "max_message = 5\n", "t.conf", &diag));
    assert_int_equal(diag.line, 8);
    assert_null(
        conf_load_string(CONF_HEAD "secret = short\n", "t.conf", &diag));
    assert_null(strstr(diag.msg, "short\'")); /* never quoted */
    assert_null(
        conf_load_string(CONF_HEAD "format = Slack!\n", "t.conf", &diag));

    /* names and templates: FILE:LINE from http_conf_check() */
    c = conf_load_string(CONF_HEAD "format = nosuch\n", "t.conf", &diag);
    assert_non_null(c);
    assert_int_equal(http_conf_check(c, &diag), XMTA_E_INVAL);
    assert_int_equal(diag.line, 8);
    assert_non_null(strstr(diag.msg, "unknown format 'nosuch' in [hook "
                                     "alerts]"));
    conf_free(c);
    c = conf_load_string(CONF_HEAD "template = ok {{ a }}\n"
                                   "nick = Bot\n"
                                   "template = {{#each x}} never closed\n",
                         "t.conf", &diag);
    assert_non_null(c);
    assert_int_equal(http_conf_check(c, &diag), XMTA_E_INVAL);
    assert_string_equal(diag.file, "t.conf");
    assert_int_equal(diag.line, 10);
    assert_string_equal(diag.msg, "bad template in [hook alerts]: #each "
                                  "without {{/each}}");
    conf_free(c);
}

/* ---- signatures -------------------------------------------------------- */

static int sig(const char *name, const char *value, const char *generic)
{
    /* GitHub's documented example: secret and payload below give
     * 757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17 */
    static const char body[] = "Hello, World!";
    struct fmt_header h = {name, value};
    struct fmt_request rq = {.data = body,
                             .len = strlen(body),
                             .headers = &h,
                             .n_headers = name ? 1 : 0};
    char err[64];

    return fmt_signature_check(&rq, "It's a Secret to Everybody", generic, err,
                               sizeof(err));
}

#define GOOD "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
#define BAD "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e18"

static void test_signatures(void **state)
{
    (void)state;
    assert_int_equal(sig("X-Hub-Signature-256", "sha256=" GOOD, NULL), 0);
    assert_int_equal(sig("x-hub-signature-256", "sha256=" BAD, NULL),
                     XMTA_E_DENIED);
    assert_int_equal(sig("X-Hub-Signature-256", GOOD, NULL), XMTA_E_DENIED);
    assert_int_equal(sig("X-Gitea-Signature", GOOD, NULL), 0);
    assert_int_equal(sig("X-Gitea-Signature", "sha256=" BAD, NULL),
                     XMTA_E_DENIED);
    assert_int_equal(sig("X-Gitlab-Token", "It's a Secret to Everybody", NULL),
                     0);
    assert_int_equal(sig("X-Gitlab-Token", "It's a Secret to Everybod", NULL),
                     XMTA_E_DENIED);
    assert_int_equal(sig("X-Xmta-Signature", "sha256=" GOOD, NULL), 0);
    assert_int_equal(sig("X-Xmta-Signature", GOOD "00", NULL), XMTA_E_DENIED);
    assert_int_equal(sig("X-Sig", GOOD, "X-Sig"), 0);
    assert_int_equal(sig("X-Xmta-Signature", GOOD, "X-Sig"), XMTA_E_DENIED);
    assert_int_equal(sig(NULL, NULL, NULL), XMTA_E_DENIED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alertmanager_ok),
        cmocka_unit_test(test_grafana),
        cmocka_unit_test(test_missing_and_filters),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_conf_keys),
        cmocka_unit_test(test_signatures),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
