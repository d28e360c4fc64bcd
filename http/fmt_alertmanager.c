/* SPDX-License-Identifier: MIT */
/* fmt_alertmanager.c -- Alertmanager webhook v4 and Grafana unified
 * alerting (the same shape plus title/state/message and per-alert URLs). */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "http/format.h"
#include "xml/err.h"

#define AM_LABELS_MAX 4 /* distinguishing labels shown per alert */
#define AM_LINKS_MAX 8

/* Labels that name where an alert is, in the header when common. */
static const char *const context_keys[] = {"env", "environment", "cluster",
                                           "namespace"};

static int am_shape(const json_t *root)
{
    const char *v = fmt_jstr(root, "version");

    return json_is_array(json_object_get(root, "alerts")) &&
           ((v && strcmp(v, "4") == 0) || fmt_jstr(root, "groupKey"));
}

static int grafana_marked(const json_t *root)
{
    const char *v = fmt_jstr(root, "version");

    return json_object_get(root, "orgId") || fmt_jstr(root, "state") ||
           fmt_jstr(root, "title") || (v && strcmp(v, "1") == 0);
}

static int am_match(const json_t *root, const struct fmt_request *rq)
{
    (void)rq;
    return am_shape(root);
}

static int grafana_match(const json_t *root, const struct fmt_request *rq)
{
    return (am_shape(root) && grafana_marked(root)) ||
           fmt_grafana_legacy_match(root, rq);
}

static int is_resolved(const char *status)
{
    return status && strcmp(status, "resolved") == 0;
}

/* The header line: "🔥 FIRING [2] DiskFull — prod". */
static void am_header(struct rbuf *b, const json_t *root, size_t n_status)
{
    const char *status = fmt_jstr(root, "status");
    const json_t *group = json_object_get(root, "groupLabels");
    const json_t *common = json_object_get(root, "commonLabels");
    const char *name = fmt_jstr(group, "alertname"), *key;
    struct rbuf line = {0};
    json_t *v;
    int ctx = 0;

    if (!name)
        name = fmt_jstr(common, "alertname");
    if (!name)
        name = fmt_jstr(root, "receiver");
    rbuf_printf(&line, "%s %s [%zu]", is_resolved(status) ? "✅" : "🔥",
                is_resolved(status) ? "RESOLVED" : "FIRING", n_status);
    if (name) {
        rbuf_puts(&line, " ");
        rbuf_esc_line(&line, name);
    }
    json_object_foreach((json_t *)group, key, v)
    {
        if (strcmp(key, "alertname") == 0 || !json_is_string(v) ||
            !*json_string_value(v))
            continue;
        rbuf_puts(&line, ctx++ ? ", " : " — ");
        rbuf_esc_line(&line, json_string_value(v));
    }
    for (size_t i = 0; !ctx && i < sizeof(context_keys) / sizeof(*context_keys);
         i++) {
        const char *c = fmt_jstr(common, context_keys[i]);

        if (c) {
            rbuf_puts(&line, " — ");
            rbuf_esc_line(&line, c);
            ctx = 1;
        }
    }
    if (line.s)
        rbuf_bold(b, line.s);
    rbuf_free(&line);
}

/* One alert: "🔥 instance=db1 severity=page: Disk 95% full". */
static void am_alert(struct rbuf *b,
                     const json_t *alert,
                     const json_t *common,
                     const char *group_name)
{
    const json_t *labels = json_object_get(alert, "labels");
    const json_t *ann = json_object_get(alert, "annotations");
    const char *name = fmt_jstr(labels, "alertname"), *key, *summary;
    const char *inst = fmt_jstr(labels, "instance");
    json_t *v;
    size_t shown = 0;
    int any = 0;

    rbuf_item(b);
    rbuf_puts(b, is_resolved(fmt_jstr(alert, "status")) ? "✅" : "🔥");
    if (name && (!group_name || strcmp(name, group_name) != 0)) {
        rbuf_puts(b, " ");
        rbuf_esc_line(b, name);
        any = 1;
    }
    if (inst) {
        rbuf_puts(b, " instance=");
        rbuf_esc_line(b, inst);
        any = 1;
    }
    json_object_foreach((json_t *)labels, key, v)
    {
        const char *c = fmt_jstr(common, key);

        if (strcmp(key, "alertname") == 0 || strcmp(key, "instance") == 0 ||
            !json_is_string(v) || (c && strcmp(c, json_string_value(v)) == 0))
            continue;
        if (shown++ == AM_LABELS_MAX) {
            rbuf_puts(b, " …");
            break;
        }
        rbuf_puts(b, " ");
        rbuf_esc_line(b, key);
        rbuf_puts(b, "=");
        rbuf_esc_line(b, json_string_value(v));
        any = 1;
    }
    summary = fmt_jstr(ann, "summary");
    if (!summary)
        summary = fmt_jstr(ann, "description");
    if (!summary)
        summary = fmt_jstr(ann, "message");
    if (summary) {
        rbuf_puts(b, any ? ": " : " ");
        rbuf_esc_line(b, summary);
    } else if (!any) {
        rbuf_puts(b, " ");
        rbuf_esc_line(b, name ? name : "alert");
    }
}

struct links {
    const char *url[AM_LINKS_MAX];
    const char *label[AM_LINKS_MAX];
    size_t n;
};

static void link_add(struct links *l, const char *label, const char *url)
{
    if (!url || l->n == AM_LINKS_MAX)
        return;
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->url[i], url) == 0)
            return;
    l->label[l->n] = label;
    l->url[l->n++] = url;
}

static void am_links(struct rbuf *b, const json_t *alerts, const json_t *root)
{
    struct links l = {0};
    const json_t *a;
    size_t i;

    json_array_foreach(alerts, i, a)
    {
        link_add(&l, "Runbook",
                 fmt_jpath(a, "annotations", "runbook_url", NULL));
        link_add(&l, "Source", fmt_jstr(a, "generatorURL"));
        link_add(&l, "Dashboard", fmt_jstr(a, "dashboardURL"));
        link_add(&l, "Panel", fmt_jstr(a, "panelURL"));
        link_add(&l, "Silence", fmt_jstr(a, "silenceURL"));
        link_add(&l, "Image", fmt_jstr(a, "imageURL"));
    }
    if (l.n == 0)
        link_add(&l, "Alerts", fmt_jstr(root, "externalURL"));
    for (i = 0; i < l.n; i++) {
        rbuf_newline(b);
        rbuf_printf(b, "%s: ", l.label[i]);
        rbuf_esc_line(b, l.url[i]);
    }
}

static int am_render(const json_t *root,
                     const struct fmt_request *rq,
                     struct rbuf *b,
                     char *err,
                     size_t errlen)
{
    const json_t *alerts = json_object_get(root, "alerts");
    const json_t *common = json_object_get(root, "commonLabels");
    const char *status = fmt_jstr(root, "status");
    const char *group_name = fmt_jpath(root, "groupLabels", "alertname", NULL);
    json_int_t truncated =
        json_integer_value(json_object_get(root, "truncatedAlerts"));
    const json_t *a;
    size_t i, n_status = 0;

    (void)rq;
    (void)err;
    (void)errlen;
    if (!group_name)
        group_name = fmt_jstr(common, "alertname");
    json_array_foreach(alerts, i, a) if (is_resolved(fmt_jstr(a, "status")) ==
                                         is_resolved(status)) n_status++;
    if (truncated > 0)
        n_status += (size_t)truncated;
    if (json_array_size(alerts) == 0 && fmt_jstr(root, "message")) {
        /* Grafana with no alerts: its own rendering */
        if (fmt_jstr(root, "title")) {
            struct rbuf t = {0};

            rbuf_esc_line(&t, fmt_jstr(root, "title"));
            if (t.s)
                rbuf_bold(b, t.s);
            rbuf_free(&t);
            rbuf_newline(b);
        }
        rbuf_esc(b, fmt_jstr(root, "message"));
        return 0;
    }
    am_header(b, root, n_status);
    json_array_foreach(alerts, i, a) am_alert(b, a, common, group_name);
    if (truncated > 0) {
        rbuf_newline(b);
        rbuf_printf(b, "… (%lld more alerts not sent)", (long long)truncated);
    }
    am_links(b, alerts, root);
    return 0;
}

static int grafana_render(const json_t *root,
                          const struct fmt_request *rq,
                          struct rbuf *b,
                          char *err,
                          size_t errlen)
{
    if (!am_shape(root))
        return fmt_grafana_legacy_render(root, rq, b, err, errlen);
    return am_render(root, rq, b, err, errlen);
}

const struct fmt_def fmt_alertmanager = {
    .name = "alertmanager",
    .expect = "an Alertmanager webhook (alerts[] with version \"4\" or "
              "groupKey)",
    .reply = FMT_REPLY_JSON,
    .json = 1,
    .match = am_match,
    .render = am_render,
};

const struct fmt_def fmt_grafana = {
    .name = "grafana",
    .expect = "a Grafana webhook (unified: alerts[] with groupKey and orgId, "
              "state or title; legacy: evalMatches or ruleName)",
    .reply = FMT_REPLY_JSON,
    .json = 1,
    .match = grafana_match,
    .render = grafana_render,
};
