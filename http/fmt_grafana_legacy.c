/* SPDX-License-Identifier: MIT */
/* fmt_grafana_legacy.c -- Grafana legacy alerting (before Grafana 8). */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "http/format.h"

struct state_name {
    const char *state, *emoji, *label;
};

static const struct state_name states[] = {
    {"alerting", "🔥", "ALERTING"}, {"ok", "✅", "OK"},
    {"no_data", "❓", "NO DATA"},   {"paused", "⏸️", "PAUSED"},
    {"pending", "⏳", "PENDING"},
};

int fmt_grafana_legacy_match(const json_t *root, const struct fmt_request *rq)
{
    (void)rq;
    return json_object_get(root, "evalMatches") != NULL ||
           json_object_get(root, "ruleName") != NULL;
}

int fmt_grafana_legacy_render(const json_t *root,
                              const struct fmt_request *rq,
                              struct rbuf *b,
                              char *err,
                              size_t errlen)
{
    const char *state = fmt_jstr(root, "state"), *name;
    const json_t *matches = json_object_get(root, "evalMatches"), *m;
    struct rbuf line = {0};
    size_t i;

    (void)rq;
    (void)err;
    (void)errlen;
    name = fmt_jstr(root, "ruleName");
    if (!name)
        name = fmt_jstr(root, "title");
    for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
        if (state && strcmp(state, states[i].state) == 0)
            break;
    if (i < sizeof(states) / sizeof(states[0]))
        rbuf_printf(&line, "%s %s", states[i].emoji, states[i].label);
    else
        rbuf_esc_line(&line, state ? state : "ALERT");
    if (name) {
        rbuf_puts(&line, " ");
        rbuf_esc_line(&line, name);
    }
    if (line.s)
        rbuf_bold(b, line.s);
    rbuf_free(&line);
    if (fmt_jstr(root, "message")) {
        rbuf_newline(b);
        rbuf_esc(b, fmt_jstr(root, "message"));
    }
    json_array_foreach(matches, i, m)
    {
        char num[64];
        const char *v =
            fmt_jscalar(json_object_get(m, "value"), num, sizeof(num));

        rbuf_item(b);
        rbuf_puts(b, "• ");
        rbuf_esc_line(b,
                      fmt_jstr(m, "metric") ? fmt_jstr(m, "metric") : "value");
        rbuf_puts(b, ": ");
        rbuf_esc_line(b, v ? v : "null");
    }
    if (fmt_jstr(root, "ruleUrl")) {
        rbuf_newline(b);
        rbuf_puts(b, "Rule: ");
        rbuf_esc_line(b, fmt_jstr(root, "ruleUrl"));
    }
    if (fmt_jstr(root, "imageUrl")) {
        rbuf_newline(b);
        rbuf_puts(b, "Image: ");
        rbuf_esc_line(b, fmt_jstr(root, "imageUrl"));
    }
    return 0;
}

const struct fmt_def fmt_grafana_legacy = {
    .name = "grafana-legacy",
    .expect = "a Grafana legacy alert (evalMatches or ruleName)",
    .reply = FMT_REPLY_JSON,
    .json = 1,
    .match = fmt_grafana_legacy_match,
    .render = fmt_grafana_legacy_render,
};
