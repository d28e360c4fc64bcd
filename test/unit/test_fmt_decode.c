/* SPDX-License-Identifier: MIT */
/* test_fmt_decode.c -- every webhook format: the fixtures in test/fixtures
 * rendered to the exact message text, detection, forcing, ntfy headers,
 * the max_message cut and XEP-0393 escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "http/body.h"
#include "http/format.h"
#include "test/unit/fixture.h"
#include "xml/err.h"

#define ZW "\xe2\x80\x8b" /* U+200B, the escape before a styling directive */

struct fixture_case {
    const char *file, *ctype, *forced;
    const char *header[2];
    const char *format; /* expected decoder */
    const char *text;   /* expected body */
};

static const struct fixture_case cases[] = {
    {"alertmanager_firing.json",
     "application/json",
     NULL,
     {NULL, NULL},
     "alertmanager",
     "*🔥 FIRING [5] DiskFull — prod*\n"
     "🔥 instance=db1:9100 mountpoint=/var/lib/foo_bar_baz: Disk /var is 95% "
     "full\n"
     "🔥 instance=db2:9100 mountpoint=/srv: Disk /srv is " ZW "*97%* full\n"
     "… (3 more alerts not sent)\n"
     "Runbook: https://runbooks.example.org/DiskFull\n"
     "Source: http://prometheus.example.org/graph?g0.expr=disk"},
    {"alertmanager_resolved.json",
     "application/json",
     NULL,
     {NULL, NULL},
     "alertmanager",
     "*✅ RESOLVED [1] HighLatency*\n"
     "✅ p99 latency above 2s\n"
     "Alerts: http://am:9093"},
    {"grafana_unified.json",
     "application/json",
     NULL,
     {NULL, NULL},
     "grafana",
     "*🔥 FIRING [1] Température élevée — Serveurs*\n"
     "🔥 Température du disque: 61 °C\n"
     "Source: https://grafana.example.org/alerting/grafana/abc/view\n"
     "Dashboard: https://grafana.example.org/d/xyz\n"
     "Panel: https://grafana.example.org/d/xyz?viewPanel=2\n"
     "Silence: "
     "https://grafana.example.org/alerting/silence/new?matcher=alertname%3DT\n"
     "Image: https://grafana.example.org/render/abc.png"},
    {"grafana_legacy.json",
     "application/json",
     NULL,
     {NULL, NULL},
     "grafana",
     "*🔥 ALERTING Test notification*\n"
     "Notification Message\n"
     "• High value: 100\n"
     "• Higher Value: 200\n"
     "Rule: http://localhost:3000/\n"
     "Image: https://grafana.com/static/assets/img/blog/mixed_styles.png"},
    {"slack.json",
     "application/json",
     NULL,
     {NULL, NULL},
     "slack",
     "🚨 New alert & more\n"
     "🔴 *[FIRING:1] InstanceDown for api (prod)* "
     "(http://am:9093/#/alerts?receiver=slack)\n"
     "*Alert:* Instance down - `critical`\n"
     "*Description:* api:8080 (http://api:8080) has been down for _5 minutes_ "
     "❌\n"
     "Severity: critical\n"
     "Runbook: https://runbooks/x\n"
     "Prometheus"},
    {"slack_form.txt",
     "application/x-www-form-urlencoded",
     NULL,
     {NULL, NULL},
     "slack",
     "Deploy of *web* to prod (https://ci.example.org/42) finished 🎉"},
    {"mattermost.json",
     "application/json",
     "mattermost",
     {NULL, NULL},
     "mattermost",
     "#### Build failed ❌\n"
     "| job | status |\n"
     "| build | failed |\n"
     "Jenkins\n"
     "🔴 *Job #17* (https://ci/17)\n"
     "See logs"},
    {"discord.json",
     "application/json",
     NULL,
     {NULL, NULL},
     "discord",
     "*Backup* finished ~late~ on time\n"
     "*nightly-2024-05-01* (https://backup.example.org/runs/1)\n"
     "12 GB in 3 min, see the log (https://backup.example.org/runs/1/log)\n"
     "Host: nas-01\n"
     "Duration: 3m02s\n"
     "restic 0.16"},
    {"ntfy.json",
     "application/json",
     NULL,
     {NULL, NULL},
     "ntfy",
     "❗ ⚠️ *Low disk space*\n"
     "Disk space on nas-01 is low: 3% left\n"
     "Tags: nas_01\n"
     "Link: https://nas-01.example.org/storage"},
    {"gotify.json",
     "application/json",
     NULL,
     {NULL, NULL},
     "gotify",
     "‼️ *Watchtower*\n"
     "Updated 2 containers: *nginx*, redis\n"
     "Link: https://watchtower.example.org"},
    {"kuma_down.json",
     "application/json",
     NULL,
     {NULL, NULL},
     "kuma",
     "*🔴 DOWN Nextcloud*\n"
     "connect ECONNREFUSED 10.0.0.5:443\n"
     "At 2024-05-01 14:03:00 (Europe/Berlin)\n"
     "https://cloud.example.org"},
    {"kuma_test.json",
     "application/json",
     NULL,
     {NULL, NULL},
     "kuma",
     "Uptime Kuma Webhook Testing - 2024-05-01 14:03:00"},
    {"teams_messagecard.json",
     "application/json",
     NULL,
     {NULL, NULL},
     "teams",
     "*PROBLEM: High CPU on web-01*\n"
     "CPU load is above 90% for 5m\n"
     "*web-01*\n"
     "Zabbix 6.4\n"
     "Severity: High\n"
     "Event ID: 4711\n"
     "Open in Zabbix: https://zabbix.example.org/tr_events.php?eventid=4711"},
    {"teams_adaptive.json",
     "application/json",
     NULL,
     {NULL, NULL},
     "teams",
     "*Backup failed*\n"
     "Job nightly exited with 1\n"
     "Host: nas-01"},
    {"unknown.json",
     "application/json",
     NULL,
     {NULL, NULL},
     "json",
     "event: backup.finished\n"
     "ok: true\n"
     "size_bytes: 1234\n"
     "host:\n"
     "  name: nas_01\n"
     "  tags:\n"
     "    - a\n"
     "    - b\n"
     "notes: line one\n"
     "  line two\n"
     "empty: {}\n"
     "none: null"},
    {"github_push.json",
     "application/json",
     NULL,
     {"X-GitHub-Event", "push"},
     "github",
     "*📦 alice pushed 2 commits to acme/web:main*\n"
     "• 1a2b3c4 Fix " ZW "_escape_ of labels (Alice)\n"
     "• 9f8e7d6 Bump version (Bob)\n"
     "https://github.com/acme/web/compare/0000000...9f8e7d6"},
    {"github_pull_request.json",
     "application/json",
     NULL,
     {"X-GitHub-Event", "pull_request"},
     "github",
     "*🔀 carol merged pull request #42 in acme/web*\n"
     "Add ntfy headers\n"
     "https://github.com/acme/web/pull/42"},
    {"github_issues.json",
     "application/json",
     NULL,
     {"X-GitHub-Event", "issues"},
     "github",
     "*🐛 dave opened issue #7 in acme/web*\n"
     "Crash on " ZW "* in labels\n"
     "https://github.com/acme/web/issues/7"},
    {"github_release.json",
     "application/json",
     NULL,
     {"X-GitHub-Event", "release"},
     "github",
     "*🚀 alice published release v1.2.0 in acme/web*\n"
     "Spring release\n"
     "https://github.com/acme/web/releases/tag/v1.2.0"},
    {"gitea_push.json",
     "application/json",
     NULL,
     {"X-Gitea-Event", "push"},
     "gitea",
     "*📦 eve pushed 1 commit to ops/infra:dev*\n"
     "• b1c2d3e Add Zabbix media type (Eve)\n"
     "https://git.example.org/ops/infra/compare/a...b"},
    {"gitlab_push.json",
     "application/json",
     NULL,
     {"X-Gitlab-Event", "Push Hook"},
     "gitlab",
     "*📦 John Smith pushed 4 commits to mike/diaspora:master*\n"
     "• b6568db1 Update Catalan translation to e38cb41. (Jordi Mallach)\n"
     "• da156088 fixed readme (GitLab dev user)\n"
     "… (2 more commits)\n"
     "https://gitlab.example.com/mike/diaspora"},
    {"gitlab_merge_request.json",
     "application/json",
     NULL,
     {"X-Gitlab-Event", "Merge Request Hook"},
     "gitlab",
     "*🔀 Administrator open merge request !1 in gitlabhq/gitlab-test*\n"
     "MS-Viewport\n"
     "ms-viewport → master\n"
     "http://example.com/diaspora/merge_requests/1"},
    {"gitlab_pipeline.json",
     "application/json",
     NULL,
     {"X-Gitlab-Event", "Pipeline Hook"},
     "gitlab",
     "*❌ pipeline #31 failed on master in gitlab-org/gitlab-test*\n"
     "http://example.com/gitlab-org/gitlab-test/-/pipelines/31"},
};

/* Decodes data and returns rc; *used and out as format_decode(). */
static int decode(const char *ctype,
                  const char *data,
                  size_t len,
                  const char *query,
                  const struct fmt_header *h,
                  size_t nh,
                  const char *forced,
                  size_t max,
                  struct body_fields *out,
                  const struct fmt_def **used,
                  char *err)
{
    struct fmt_request rq = {.content_type = ctype,
                             .data = data,
                             .len = len,
                             .query = query,
                             .headers = h,
                             .n_headers = nh};

    if (forced)
        assert_non_null(format_find(forced));
    return format_decode(forced ? format_find(forced) : NULL, NULL, &rq, max,
                         out, used, NULL, err, 256);
}

static void test_fixtures(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct fixture_case *c = &cases[i];
        struct fmt_header h = {c->header[0], c->header[1]};
        struct body_fields out;
        const struct fmt_def *used;
        char err[256];
        size_t len;
        char *data = fixture_read(c->file, &len);
        int rc = decode(c->ctype, data, len, NULL, &h, c->header[0] ? 1 : 0,
                        c->forced, 0, &out, &used, err);

        if (rc != 0)
            fail_msg("%s: rc %d: %s", c->file, rc, err);
        assert_string_equal(used->name, c->format);
        if (strcmp(out.body, c->text) != 0)
            fail_msg("%s:\n--- got\n%s\n--- want\n%s", c->file, out.body,
                     c->text);
        assert_null(out.subject);
        body_fields_clear(&out);
        free(data);
    }
}

/* Replies follow the caller: Slack "ok", Discord 204, others 202. */
static void test_replies(void **state)
{
    (void)state;
    assert_int_equal(format_find("slack")->reply, FMT_REPLY_OK);
    assert_int_equal(format_find("mattermost")->reply, FMT_REPLY_OK);
    assert_int_equal(format_find("discord")->reply, FMT_REPLY_NONE);
    assert_int_equal(format_find("alertmanager")->reply, FMT_REPLY_JSON);
    assert_int_equal(format_find("generic")->reply, FMT_REPLY_JSON);
    assert_ptr_equal(format_find("Uptime-Kuma"), format_find("kuma"));
    assert_null(format_find("auto"));
    assert_null(format_find("nope"));
    assert_true(format_name_ok("auto"));
    assert_false(format_name_ok("nope"));
}

static void test_forced_mismatch(void **state)
{
    static const char slack[] = "{\"text\":\"hi\",\"channel\":\"#x\"}";
    struct body_fields out;
    const struct fmt_def *used;
    char err[256];

    (void)state;
    assert_int_equal(decode("application/json", slack, strlen(slack), NULL,
                            NULL, 0, "alertmanager", 0, &out, &used, err),
                     XMTA_E_INVAL);
    assert_string_equal(err, "expected an Alertmanager webhook (alerts[] "
                             "with version \"4\" or groupKey)");
    assert_null(out.body);
    /* not JSON at all for a JSON format */
    assert_int_equal(decode("text/plain", "hi", 2, NULL, NULL, 0, "discord", 0,
                            &out, &used, err),
                     XMTA_E_INVAL);
    assert_string_equal(err, "expected a Discord webhook (content or embeds)");
    /* a GitHub event needs its header */
    assert_int_equal(decode("application/json", "{\"ref\":\"x\"}", 11, NULL,
                            NULL, 0, "github", 0, &out, &used, err),
                     XMTA_E_INVAL);
    /* forced slack on the same body works and converts */
    assert_int_equal(decode("application/json", slack, strlen(slack), NULL,
                            NULL, 0, "slack", 0, &out, &used, err),
                     0);
    assert_string_equal(used->name, "slack");
    assert_string_equal(out.body, "hi");
    body_fields_clear(&out);
}

/* Objects made only of the generic fields stay generic (recipients,
 * subject), even where a format would also match. */
static void test_generic_wins(void **state)
{
    static const char j[] =
        "{\"text\":\"<https://x|y> :fire:\",\"to\":\"bob@example.org\"}";
    static const char c[] = "{\"content\":\"c\",\"title\":\"T\"}";
    struct body_fields out;
    const struct fmt_def *used;
    char err[256];

    (void)state;
    assert_int_equal(decode("application/json", j, strlen(j), NULL, NULL, 0,
                            NULL, 0, &out, &used, err),
                     0);
    assert_string_equal(used->name, "generic");
    assert_string_equal(out.body, "<https://x|y> :fire:");
    assert_int_equal(out.n_to, 1);
    assert_string_equal(out.to[0], "bob@example.org");
    body_fields_clear(&out);
    assert_int_equal(decode("application/json", c, strlen(c), NULL, NULL, 0,
                            NULL, 0, &out, &used, err),
                     0);
    assert_string_equal(used->name, "generic");
    assert_string_equal(out.subject, "T");
    body_fields_clear(&out);
    /* malformed JSON keeps the generic decoder's words */
    assert_int_equal(decode("application/json", "[1]", 3, NULL, NULL, 0, NULL,
                            0, &out, &used, err),
                     XMTA_E_INVAL);
    assert_string_equal(err, "JSON body must be an object");
}

/* 1 when both decodes gave the same fields. */
static int fields_same(const struct body_fields *a, const struct body_fields *b)
{
    if (!!a->body != !!b->body || (a->body && strcmp(a->body, b->body)) ||
        !!a->subject != !!b->subject ||
        (a->subject && strcmp(a->subject, b->subject)) || a->n_to != b->n_to ||
        a->n_rooms != b->n_rooms)
        return 0;
    for (size_t i = 0; i < a->n_to; i++)
        if (strcmp(a->to[i], b->to[i]) != 0)
            return 0;
    for (size_t i = 0; i < a->n_rooms; i++)
        if (strcmp(a->rooms[i], b->rooms[i]) != 0)
            return 0;
    return 1;
}

/* A generic JSON body is parsed once (the detection's tree goes to the
 * generic decoder): the answer is the generic decoder's own, errors and
 * their words included, for every content type and query. */
static void test_generic_parsed_once(void **state)
{
    static const char *const bodies[] = {
        "{\"text\":\"disk full\",\"to\":\"bob@example.org\"}",
        "{\"text\":\"a\",\"to\":\"x@example.org\",\"to\":\"y@example.org\"}",
        "{\"body\":\"b\",\"body\":\"c\"}",
        "{\"message\":\"m\",\"title\":\"line1\\nline2\",\"room\":[\"r@c."
        "example."
        "org\"]}",
        "{\"text\":5}",
        "{\"text\":\"t\",\"to\":[\"a@example.org\",7]}",
        "{\"text\":\"\\u0000x\"}",
        "{\"text\":\"bad \xC3\x28 utf8\"}",
        "{\"text\":\"t\",\"to\":\"not a jid\"}",
        "{\"content\":\"  \"}",
        "{\"text\":\"x\"} trailing",
        "{\"text\":\"nested\",\"kind\":{\"a\":[1,{\"b\":null}]}}",
    };
    static const char *const types[] = {"application/json",
                                        "Application/JSON; charset=utf-8",
                                        "text/plain", NULL};
    static const char *const queries[] = {NULL, "to=q%40example.org",
                                          "to=bad%20jid"};

    (void)state;
    for (size_t b = 0; b < sizeof(bodies) / sizeof(*bodies); b++)
        for (size_t t = 0; t < sizeof(types) / sizeof(*types); t++)
            for (size_t q = 0; q < sizeof(queries) / sizeof(*queries); q++) {
                struct body_fields got, want;
                const struct fmt_def *used;
                char err[256], want_err[256];
                int rc, want_rc;

                rc = decode(types[t], bodies[b], strlen(bodies[b]), queries[q],
                            NULL, 0, "generic", 0, &got, &used, err);
                want_rc =
                    body_decode(types[t], bodies[b], strlen(bodies[b]),
                                queries[q], &want, want_err, sizeof(want_err));
                if (rc != want_rc || (rc && strcmp(err, want_err) != 0) ||
                    (!rc && !fields_same(&got, &want)))
                    fail_msg("body %zu type %zu query %zu: %d '%s' vs %d '%s'",
                             b, t, q, rc, rc ? err : "", want_rc,
                             want_rc ? want_err : "");
                body_fields_clear(&got);
                body_fields_clear(&want);
                /* detected rather than forced: generic the same way */
                rc = decode(types[t], bodies[b], strlen(bodies[b]), queries[q],
                            NULL, 0, NULL, 0, &got, &used, err);
                if (rc == 0 && strcmp(used->name, "generic") == 0) {
                    want_rc = body_decode(types[t], bodies[b],
                                          strlen(bodies[b]), queries[q], &want,
                                          want_err, sizeof(want_err));
                    assert_int_equal(want_rc, 0);
                    assert_true(fields_same(&got, &want));
                    body_fields_clear(&want);
                }
                body_fields_clear(&got);
            }
}

static void test_ntfy_headers(void **state)
{
    static const char body[] = "Backup of nas-01 failed\n";
    const struct fmt_header h[] = {
        {"title", "Backup _failed_"},
        {"X-Priority", "urgent"},
        {"Tags", "warning, skull,backup"},
        {"Click", "https://nas-01/logs"},
    };
    struct body_fields out;
    const struct fmt_def *used;
    char err[256];

    (void)state;
    assert_int_equal(decode("text/plain", body, strlen(body), NULL, h, 4, NULL,
                            0, &out, &used, err),
                     0);
    assert_string_equal(used->name, "ntfy");
    assert_string_equal(out.body, "‼️ ⚠️ 💀 *Backup " ZW "_failed_*\n"
                                  "Backup of nas-01 failed\n"
                                  "Tags: backup\n"
                                  "Link: https://nas-01/logs");
    body_fields_clear(&out);
    /* the query forms, and recipients from the query still apply */
    assert_int_equal(decode(NULL, "disk full", 9, "t=Disk&p=4&to=bob%40x.org",
                            NULL, 0, NULL, 0, &out, &used, err),
                     0);
    assert_string_equal(used->name, "ntfy");
    assert_string_equal(out.body, "❗ *Disk*\ndisk full");
    assert_int_equal(out.n_to, 1);
    body_fields_clear(&out);
    /* no ntfy header: the generic text path, body untouched */
    assert_int_equal(decode("text/plain", "a *b* _c_", 9, NULL, NULL, 0, NULL,
                            0, &out, &used, err),
                     0);
    assert_string_equal(used->name, "generic");
    assert_string_equal(out.body, "a *b* _c_");
    body_fields_clear(&out);
}

/* RFC 2047 encoded-words in ntfy headers (B and Q, UTF-8). */
/* Every ntfy header name (any case) alone makes a text body ntfy; names
 * that only start the same way do not. */
static void test_ntfy_each_header(void **state)
{
    static const char *const names[] = {
        "X-Title", "Title",    "t",      "X-Priority", "Priority",  "prio",
        "p",       "X-Tags",   "Tags",   "Tag",        "ta",        "X-Click",
        "Click",   "X-Attach", "Attach", "a",          "X-Message", "Message",
        "m",       "TITLE",    "T",      "x-tags",     "PRIO",      "A"};
    static const char *const others[] = {
        "Titles", "Ti", "Pr", "X-", "Tx", "Content-Type", "Host", "M-", "Ab"};
    struct body_fields out;
    const struct fmt_def *used;
    char err[256];

    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
        struct fmt_header h = {names[i], "v"};

        assert_int_equal(decode("text/plain", "x", 1, NULL, &h, 1, NULL, 0,
                                &out, &used, err),
                         0);
        if (strcmp(used->name, "ntfy") != 0)
            fail_msg("header %s: %s", names[i], used->name);
        body_fields_clear(&out);
    }
    for (size_t i = 0; i < sizeof(others) / sizeof(*others); i++) {
        struct fmt_header h = {others[i], "v"};

        assert_int_equal(decode("text/plain", "x", 1, NULL, &h, 1, NULL, 0,
                                &out, &used, err),
                         0);
        if (strcmp(used->name, "generic") != 0)
            fail_msg("header %s: %s", others[i], used->name);
        body_fields_clear(&out);
    }
}

static void test_ntfy_encoded_words(void **state)
{
    const struct fmt_header h[] = {
        {"X-Title", "=?UTF-8?B?R3LDvMOfZQ==?= =?utf-8?q?_aus_K=C3=B6ln?="},
    };
    struct body_fields out;
    const struct fmt_def *used;
    char err[256];

    (void)state;
    assert_int_equal(
        decode("text/plain", "x", 1, NULL, h, 1, NULL, 0, &out, &used, err), 0);
    assert_string_equal(out.body, "*Grüße aus Köln*\nx");
    body_fields_clear(&out);
}

/* multipart/form-data: Uptime Kuma's data and Discord's payload_json. */
static void test_multipart_fields(void **state)
{
    static const char kuma[] =
        "--XX\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n"
        "{\"heartbeat\":null,\"monitor\":null,\"msg\":\"Kuma test\"}\r\n"
        "--XX--\r\n";
    static const char discord[] =
        "--XX\r\nContent-Disposition: form-data; name=\"payload_json\"\r\n"
        "\r\n{\"content\":\"**hi**\",\"username\":\"u\"}\r\n"
        "--XX\r\nContent-Disposition: form-data; name=\"files[0]\"; "
        "filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\nPNG\r\n"
        "--XX--\r\n";
    static const char plain[] =
        "--XX\r\nContent-Disposition: form-data; name=\"body\"\r\n\r\n"
        "just text\r\n--XX--\r\n";
    struct body_fields out;
    const struct fmt_def *used;
    char err[256];

    (void)state;
    assert_int_equal(decode("multipart/form-data; boundary=XX", kuma,
                            strlen(kuma), NULL, NULL, 0, NULL, 0, &out, &used,
                            err),
                     0);
    assert_string_equal(used->name, "kuma");
    assert_string_equal(out.body, "Kuma test");
    body_fields_clear(&out);
    assert_int_equal(decode("multipart/form-data; boundary=XX", discord,
                            strlen(discord), NULL, NULL, 0, NULL, 0, &out,
                            &used, err),
                     0);
    assert_string_equal(used->name, "discord");
    assert_string_equal(out.body, "*hi*");
    body_fields_clear(&out);
    assert_int_equal(decode("multipart/form-data; boundary=XX", plain,
                            strlen(plain), NULL, NULL, 0, NULL, 0, &out, &used,
                            err),
                     0);
    assert_string_equal(used->name, "generic");
    assert_string_equal(out.body, "just text");
    body_fields_clear(&out);
}

static void test_escape(void **state)
{
    struct rbuf b = {0};
    char *s;

    (void)state;
    rbuf_esc(&b, "foo_bar_baz *x* _y_ ~z~ `w` a*b\n> q\nx > y");
    s = rbuf_take(&b);
    assert_string_equal(s, "foo_bar_baz " ZW "*x* " ZW "_y_ " ZW "~z~ " ZW
                           "`w` a*b\n" ZW "> q\nx > y");
    free(s);
    rbuf_esc(&b, "*start");
    rbuf_esc_line(&b, " a\nb\t_c");
    s = rbuf_take(&b);
    assert_string_equal(s, ZW "*start a b " ZW "_c");
    free(s);
    /* bold only when no '*' inside */
    rbuf_bold(&b, "safe line");
    rbuf_puts(&b, "|");
    rbuf_bold(&b, "a*b");
    s = rbuf_take(&b);
    assert_string_equal(s, "*safe line*|a*b");
    free(s);
}

static void test_markdown(void **state)
{
    struct rbuf b = {0};
    char *s;

    (void)state;
    rbuf_markdown(&b, "**bold** 2**10 ~~gone~~ ** x** __init__ "
                      "[log](https://x/y) [a](b) :fire:\n**a\nb**");
    s = rbuf_take(&b);
    assert_string_equal(s, "*bold* 2**10 ~gone~ ** x** __init__ "
                           "log (https://x/y) [a](b) 🔥\n**a\nb**");
    free(s);
}

static void test_emoji(void **state)
{
    struct rbuf b = {0};
    char *s;

    (void)state;
    assert_string_equal(emoji_lookup("fire", 4), "🔥");
    assert_string_equal(emoji_lookup("+1", 2), "👍");
    assert_string_equal(emoji_lookup("zap", 3), "⚡");
    assert_string_equal(emoji_lookup("no_bell", 7), "🔕");
    assert_null(emoji_lookup("firex", 5));
    rbuf_emojify(&b, ":tada: at 12:30: :nope: ::");
    s = rbuf_take(&b);
    assert_string_equal(s, "🎉 at 12:30: :nope: ::");
    free(s);
}

/* max_message: items dropped first with "… (N more alerts)", lines
 * otherwise; never inside a UTF-8 sequence. */
static void test_cut(void **state)
{
    char *s;

    (void)state;
    s = strdup("head\n\001alert number one ééé\n\001alert number two ééé\n"
               "\001alert number 3rd ééé\ntail");
    s = fmt_cut(s, 70);
    assert_string_equal(s, "head\nalert number one ééé\n… (2 more alerts)\n"
                           "tail");
    free(s);
    s = strdup("short\n\001item");
    s = fmt_cut(s, 100);
    assert_string_equal(s, "short\nitem");
    free(s);
    s = strdup("line 1 ........................\n"
               "line 2 ........................\n"
               "line 3 ........................\n"
               "line 4 ........................\n"
               "line 5 ........................");
    s = fmt_cut(s, 100);
    assert_string_equal(s, "line 1 ........................\n"
                           "line 2 ........................\n"
                           "… (3 more lines)");
    free(s);
    /* one long line of 2-byte characters: cut between characters */
    s = malloc(2 * 200 + 1);
    for (int i = 0; i < 200; i++)
        memcpy(s + 2 * i, "é", 2);
    s[400] = '\0';
    s = fmt_cut(s, 100);
    assert_int_equal(strlen(s), 2 * 69 + 3); /* 69 é and "…" */
    assert_string_equal(s + 2 * 69, "…");
    free(s);
}

/* long_body = upload: the whole text (without item marks) comes with the
 * cut one, and only when something was cut. */
static void test_cut_full(void **state)
{
    char *s, *full = (char *)1;

    (void)state;
    s = strdup("head\n\001alert number one ééé\n\001alert number two ééé\n"
               "\001alert number 3rd ééé\ntail");
    s = fmt_cut_full(s, 70, &full);
    assert_string_equal(s, "head\nalert number one ééé\n… (2 more alerts)\n"
                           "tail");
    assert_non_null(full);
    assert_string_equal(full, "head\nalert number one ééé\nalert number two "
                              "ééé\nalert number 3rd ééé\ntail");
    free(s);
    free(full);
    s = strdup("short\n\001item");
    s = fmt_cut_full(s, 100, &full);
    assert_string_equal(s, "short\nitem");
    assert_null(full);
    free(s);
}

/* The huge-group case: the default limit holds, the header stays. */
static void test_cut_huge_group(void **state)
{
    json_t *root = json_pack("{s:s,s:s,s:s,s:{s:s},s:[]}", "version", "4",
                             "groupKey", "k", "status", "firing", "groupLabels",
                             "alertname", "Big", "alerts");
    json_t *alerts = json_object_get(root, "alerts");
    struct body_fields out;
    const struct fmt_def *used;
    char err[256], *text;
    size_t n = 0;

    (void)state;
    for (int i = 0; i < 300; i++) {
        json_t *labels = json_object();

        json_object_set_new(labels, "instance", json_sprintf("host-%d", i));
        for (int k = 0; k < 40; k++)
            json_object_set_new(labels, "label_with_a_long_name",
                                json_string("and a long value"));
        json_array_append_new(alerts,
                              json_pack("{s:s,s:o,s:{s:s}}", "status", "firing",
                                        "labels", labels, "annotations",
                                        "summary", "Ünïcödé summary text"));
    }
    text = json_dumps(root, 0);
    assert_int_equal(decode("application/json", text, strlen(text), NULL, NULL,
                            0, NULL, 0, &out, &used, err),
                     0);
    for (const char *p = out.body; *p; p++)
        n += ((unsigned char)*p & 0xc0) != 0x80;
    assert_true(n <= 4000);
    assert_true(strncmp(out.body, "*🔥 FIRING [300] Big*\n", 24) == 0);
    assert_non_null(strstr(out.body, "more alerts)"));
    body_fields_clear(&out);
    free(text);
    json_decref(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_replies),
        cmocka_unit_test(test_forced_mismatch),
        cmocka_unit_test(test_generic_wins),
        cmocka_unit_test(test_generic_parsed_once),
        cmocka_unit_test(test_ntfy_headers),
        cmocka_unit_test(test_ntfy_each_header),
        cmocka_unit_test(test_ntfy_encoded_words),
        cmocka_unit_test(test_multipart_fields),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_markdown),
        cmocka_unit_test(test_emoji),
        cmocka_unit_test(test_cut),
        cmocka_unit_test(test_cut_full),
        cmocka_unit_test(test_cut_huge_group),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
