/* SPDX-License-Identifier: MIT */
/* test_alert_group.c -- http_am_alert(): what the alert lifecycle learns
 * from a payload (groupKey, firing or resolved, alerts firing) for the
 * Alertmanager and Grafana fixtures, and that anything else leaves the
 * message alone; http_am_labels(): the label set "ack" silences. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "http/labels.h"
#include "test/unit/fixture.h"
#include "xml/msg.h"

/* data as format_decode() hands it over: a JSON object, else NULL. */
static json_t *tree_of(const char *data, size_t len)
{
    json_t *t = json_loadb(data, len, 0, NULL);

    if (t && !json_is_object(t)) {
        json_decref(t);
        t = NULL;
    }
    return t;
}

/* http_am_alert over data; the message is returned for the checks. */
static struct msg *alert_of(const char *data, size_t len)
{
    struct msg *m = msg_new();
    json_t *t = tree_of(data, len);

    assert_non_null(m);
    assert_int_equal(http_am_alert(t, m), 0);
    json_decref(t);
    return m;
}

/* http_am_labels over data (malloc'd or NULL). */
static char *labels_of(const char *data, size_t len)
{
    json_t *t = tree_of(data, len);
    char *l = http_am_labels(t);

    json_decref(t);
    return l;
}

static void
check_fixture(const char *file, const char *group, int alert, unsigned firing)
{
    size_t len;
    char *data = fixture_read(file, &len);
    struct msg *m = alert_of(data, len);

    assert_non_null(m->group);
    assert_string_equal(m->group, group);
    assert_int_equal(m->alert, alert);
    assert_int_equal(m->firing, firing);
    msg_free(m);
    free(data);
}

/* Two alerts listed firing and truncatedAlerts 3: 5 firing (the count the
 * rendering shows, "FIRING [5]"). */
static void test_alertmanager_firing(void **state)
{
    (void)state;
    check_fixture("alertmanager_firing.json",
                  "{}/{severity=\"critical\"}:{alertname=\"DiskFull\", "
                  "env=\"prod\"}",
                  MSG_ALERT_FIRING, 5);
}

static void test_alertmanager_resolved(void **state)
{
    (void)state;
    check_fixture("alertmanager_resolved.json", "{}:{alertname=\"Watchdog\"}",
                  MSG_ALERT_RESOLVED, 0);
}

/* Grafana unified alerting: the same shape, a UTF-8 groupKey kept as is. */
static void test_grafana_unified(void **state)
{
    (void)state;
    check_fixture("grafana_unified.json",
                  "{}/{}:{alertname=\"Temp\xc3\xa9rature \xc3\xa9lev\xc3\xa9"
                  "e\"}",
                  MSG_ALERT_FIRING, 1);
}

/* A firing group whose alerts are partly resolved counts only the firing
 * ones; truncatedAlerts of a resolved group and absurd values are not
 * counted. */
static void test_counts(void **state)
{
    static const struct {
        const char *json;
        int alert;
        unsigned firing;
    } cases[] = {
        {"{\"groupKey\":\"g\",\"status\":\"firing\",\"alerts\":["
         "{\"status\":\"firing\"},{\"status\":\"resolved\"},"
         "{\"status\":\"firing\"}]}",
         MSG_ALERT_FIRING, 2},
        {"{\"groupKey\":\"g\",\"status\":\"resolved\",\"truncatedAlerts\":4,"
         "\"alerts\":[{\"status\":\"resolved\"}]}",
         MSG_ALERT_RESOLVED, 0},
        {"{\"groupKey\":\"g\",\"status\":\"firing\","
         "\"truncatedAlerts\":99999999999,\"alerts\":[{\"status\":\"firing\"}]"
         "}",
         MSG_ALERT_FIRING, 1},
        {"{\"groupKey\":\"g\",\"status\":\"firing\",\"truncatedAlerts\":-3,"
         "\"alerts\":[]}",
         MSG_ALERT_FIRING, 0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct msg *m = alert_of(cases[i].json, strlen(cases[i].json));

        assert_non_null(m->group);
        assert_string_equal(m->group, "g");
        assert_int_equal(m->alert, cases[i].alert);
        assert_int_equal(m->firing, cases[i].firing);
        msg_free(m);
    }
}

/* Not an alert group: no groupKey, another shape, a bad status, invalid
 * JSON, "groupKey" only inside a string: m untouched, never an error. */
static void test_not_alerts(void **state)
{
    static const char *const cases[] = {
        "{\"text\":\"hello\"}",
        "{\"text\":\"\\\"groupKey\\\" is a word\"}",
        "{\"groupKey\":\"g\",\"status\":\"pending\",\"alerts\":[]}",
        "{\"groupKey\":\"g\",\"alerts\":[]}",
        "{\"groupKey\":\"g\",\"status\":\"firing\"}",
        "{\"groupKey\":\"g\",\"status\":\"firing\",\"alerts\":{}}",
        "{\"groupKey\":\"\",\"status\":\"firing\",\"alerts\":[]}",
        "{\"groupKey\":7,\"status\":\"firing\",\"alerts\":[]}",
        "{\"groupKey\":\"g\",\"status\":\"firing\",\"alerts\":[",
        "[\"groupKey\"]",
        "",
    };
    size_t len;
    char *data = fixture_read("grafana_legacy.json", &len);
    struct msg *m = alert_of(data, len);

    (void)state;
    assert_null(m->group); /* legacy Grafana has no groups */
    assert_int_equal(m->alert, MSG_ALERT_NONE);
    msg_free(m);
    free(data);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        m = alert_of(cases[i], strlen(cases[i]));
        if (m->group)
            fail_msg("case %zu: group '%s'", i, m->group);
        assert_int_equal(m->alert, MSG_ALERT_NONE);
        assert_int_equal(m->firing, 0);
        msg_free(m);
    }
}

/* The labels of the only alert, else commonLabels, else groupLabels, as
 * compact JSON with sorted keys; none for anything but Alertmanager's
 * shape or labels that are not all strings. */
static void test_labels(void **state)
{
    static const struct {
        const char *file, *labels;
    } fixtures[] = {
        /* two alerts: their commonLabels */
        {"alertmanager_firing.json",
         "{\"alertname\":\"DiskFull\",\"env\":\"prod\",\"severity\":"
         "\"critical\"}"},
        /* one alert: its own labels */
        {"alertmanager_resolved.json",
         "{\"alertname\":\"HighLatency\",\"job\":\"api\"}"},
        {"grafana_unified.json",
         "{\"alertname\":\"Temp\xc3\xa9rature \xc3\xa9lev\xc3\xa9"
         "e\","
         "\"grafana_folder\":\"Serveurs\",\"host\":\"nas-01\"}"},
        {"grafana_legacy.json", NULL},
        {"slack.json", NULL},
    };
    static const struct {
        const char *json, *labels;
    } cases[] = {
        {"{\"groupKey\":\"g\",\"alerts\":[{\"labels\":{\"n\":1}}],"
         "\"commonLabels\":{},\"groupLabels\":{\"z\":\"1\",\"a\":\"2\"}}",
         "{\"a\":\"2\",\"z\":\"1\"}"},
        {"{\"groupKey\":\"g\",\"alerts\":[{\"labels\":{\"n\":1}}]}", NULL},
        {"{\"alerts\":[{\"labels\":{\"a\":\"b\"}}]}", NULL},
        {"{\"groupKey\":\"g\",\"alerts\":{\"labels\":{\"a\":\"b\"}}}", NULL},
        {"[{\"groupKey\":\"g\"}]", NULL},
        {"not json", NULL},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
        size_t len;
        char *data = fixture_read(fixtures[i].file, &len);
        char *l = labels_of(data, len);

        if (!fixtures[i].labels && l)
            fail_msg("%s: labels %s", fixtures[i].file, l);
        if (fixtures[i].labels) {
            assert_non_null(l);
            assert_string_equal(l, fixtures[i].labels);
        }
        free(l);
        free(data);
    }
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *l = labels_of(cases[i].json, strlen(cases[i].json));

        if (!cases[i].labels && l)
            fail_msg("case %zu: labels %s", i, l);
        if (cases[i].labels) {
            assert_non_null(l);
            assert_string_equal(l, cases[i].labels);
        }
        free(l);
    }
    assert_null(http_am_labels(NULL)); /* the body was not an object */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alertmanager_firing),
        cmocka_unit_test(test_alertmanager_resolved),
        cmocka_unit_test(test_grafana_unified),
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_not_alerts),
        cmocka_unit_test(test_labels),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
