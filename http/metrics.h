/* SPDX-License-Identifier: MIT */
/* metrics.h -- a small writer of the Prometheus text format (0.0.4), for
 * GET /metrics.
 *
 * http/ writes its own families and then calls the backend's metrics
 * callback (struct http_backend), which appends the component's: one
 * metrics_family() per family, then its samples. Names follow Prometheus:
 * xmta_ prefix, snake_case, counters end in _total, units in the name
 * (_seconds, _bytes). Label values are escaped here. Event-loop thread
 * only; a writer lives for one request. */
#ifndef XMTA_HTTP_METRICS_H
#define XMTA_HTTP_METRICS_H

#include <stddef.h>

struct evbuffer;
struct metrics; /* opaque: one exposition being written */

enum metrics_type {
    METRICS_COUNTER,
    METRICS_GAUGE,
    METRICS_HISTOGRAM,
    METRICS_TYPE_COUNT
};

/* Writes into out (borrowed). NULL when out of memory. */
struct metrics *metrics_new(struct evbuffer *out);
/* 0, or XMTA_E_NOMEM when a write failed (the text is then incomplete). */
int metrics_error(const struct metrics *m);
void metrics_free(struct metrics *m); /* NULL-safe */

/* "# HELP name help" and "# TYPE name type". For a counter, name is the
 * sample name with its _total; for a histogram, the base name. A family
 * must be written once, before its samples. */
void metrics_family(struct metrics *m,
                    const char *name,
                    enum metrics_type type,
                    const char *help);

/* One sample line: name{k1="v1",...} value. The arguments after value are
 * label name and value pairs (strings), ended by NULL. Values are
 * escaped (\\, \", \n); integers print without a fraction. */
void metrics_sample(struct metrics *m, const char *name, double value, ...)
    __attribute__((sentinel));

/* A family with one unlabelled sample. */
void metrics_counter(struct metrics *m,
                     const char *name,
                     const char *help,
                     double value);
void metrics_gauge(struct metrics *m,
                   const char *name,
                   const char *help,
                   double value);

/* A histogram of durations in seconds with fixed upper bounds
 * (METRICS_BUCKETS of them, then +Inf). */
#define METRICS_BUCKETS 12
extern const double metrics_bounds[METRICS_BUCKETS];
struct metrics_histogram {
    unsigned long bucket[METRICS_BUCKETS]; /* not cumulative */
    unsigned long count;                   /* including over the last */
    double sum;
};
void metrics_histogram_observe(struct metrics_histogram *hg, double v);
/* Writes the family (HELP, TYPE, cumulative _bucket lines, _sum,
 * _count). */
void metrics_histogram_write(struct metrics *m,
                             const char *name,
                             const char *help,
                             const struct metrics_histogram *hg);

#endif
