/* SPDX-License-Identifier: MIT */
/* metrics.c -- the Prometheus text format writer behind GET /metrics. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "http/metrics.h"
#include "xml/err.h"

struct metrics {
    struct evbuffer *out; /* borrowed */
    int error;
};

const double metrics_bounds[METRICS_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};

static const char *const metrics_type_names[METRICS_TYPE_COUNT] = {
    [METRICS_COUNTER] = "counter",
    [METRICS_GAUGE] = "gauge",
    [METRICS_HISTOGRAM] = "histogram",
};

struct metrics *metrics_new(struct evbuffer *out)
{
    struct metrics *m = calloc(1, sizeof(*m));

    if (m)
        m->out = out;
    return m;
}

int metrics_error(const struct metrics *m)
{
    return m->error;
}

void metrics_free(struct metrics *m)
{
    free(m);
}

__attribute__((format(printf, 2, 3))) static void
metrics_printf(struct metrics *m, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (evbuffer_add_vprintf(m->out, fmt, ap) < 0)
        m->error = XMTA_E_NOMEM;
    va_end(ap);
}

/* The text with the escapes a HELP line (quote 0) or a label value
 * (quote 1) needs. */
static void metrics_escaped(struct metrics *m, const char *s, int quote)
{
    for (; *s; s++) {
        const char *esc = NULL;

        if (*s == '\\')
            esc = "\\\\";
        else if (*s == '\n')
            esc = "\\n";
        else if (*s == '"' && quote)
            esc = "\\\"";
        if (evbuffer_add(m->out, esc ? esc : s, esc ? 2 : 1) != 0)
            m->error = XMTA_E_NOMEM;
    }
}

static void metrics_value(struct metrics *m, double v)
{
    if (isinf(v))
        metrics_printf(m, " %s\n", v > 0 ? "+Inf" : "-Inf");
    else if (isnan(v))
        metrics_printf(m, " NaN\n");
    else if (v == floor(v) && fabs(v) < 1e15)
        metrics_printf(m, " %.0f\n", v);
    else
        metrics_printf(m, " %.9g\n", v);
}

void metrics_family(struct metrics *m,
                    const char *name,
                    enum metrics_type type,
                    const char *help)
{
    metrics_printf(m, "# HELP %s ", name);
    metrics_escaped(m, help, 0);
    metrics_printf(m, "\n# TYPE %s %s\n", name, metrics_type_names[type]);
}

static void
metrics_vsample(struct metrics *m, const char *name, double value, va_list ap)
{
    const char *k;
    int n = 0;

    metrics_printf(m, "%s", name);
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);

        metrics_printf(m, "%s%s=\"", n++ ? "," : "{", k);
        metrics_escaped(m, v ? v : "", 1);
        metrics_printf(m, "\"");
    }
    if (n)
        metrics_printf(m, "}");
    metrics_value(m, value);
}

void metrics_sample(struct metrics *m, const char *name, double value, ...)
{
    va_list ap;

    va_start(ap, value);
    metrics_vsample(m, name, value, ap);
    va_end(ap);
}

void metrics_counter(struct metrics *m,
                     const char *name,
                     const char *help,
                     double value)
{
    metrics_family(m, name, METRICS_COUNTER, help);
    metrics_sample(m, name, value, NULL);
}

void metrics_gauge(struct metrics *m,
                   const char *name,
                   const char *help,
                   double value)
{
    metrics_family(m, name, METRICS_GAUGE, help);
    metrics_sample(m, name, value, NULL);
}

void metrics_histogram_observe(struct metrics_histogram *hg, double v)
{
    for (size_t i = 0; i < METRICS_BUCKETS; i++) {
        if (v <= metrics_bounds[i]) {
            hg->bucket[i]++;
            break;
        }
    }
    hg->count++;
    hg->sum += v;
}

void metrics_histogram_write(struct metrics *m,
                             const char *name,
                             const char *help,
                             const struct metrics_histogram *hg)
{
    unsigned long cum = 0;
    char sample[128], le[32];

    metrics_family(m, name, METRICS_HISTOGRAM, help);
    snprintf(sample, sizeof(sample), "%s_bucket", name);
    for (size_t i = 0; i < METRICS_BUCKETS; i++) {
        cum += hg->bucket[i];
        snprintf(le, sizeof(le), "%g", metrics_bounds[i]);
        metrics_sample(m, sample, (double)cum, "le", le, NULL);
    }
    metrics_sample(m, sample, (double)hg->count, "le", "+Inf", NULL);
    snprintf(sample, sizeof(sample), "%s_sum", name);
    metrics_sample(m, sample, hg->sum, NULL);
    snprintf(sample, sizeof(sample), "%s_count", name);
    metrics_sample(m, sample, (double)hg->count, NULL);
}
