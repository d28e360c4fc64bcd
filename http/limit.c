/* SPDX-License-Identifier: MIT */
/* limit.c -- per-hook token buckets (rate =, burst =) and the status_allow
 * address list. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "conf/conf.h"
#include "http/internal.h"

uint64_t http_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

struct http_bucket *http_buckets_new(const struct conf *cfg,
                                     const struct conf *old_cfg,
                                     const struct http_bucket *old)
{
    struct http_bucket *b = calloc(cfg->n_hooks ? cfg->n_hooks : 1, sizeof(*b));
    uint64_t now = http_now_us();

    for (size_t i = 0; b && i < cfg->n_hooks; i++) {
        const struct conf_hook *hk = &cfg->hooks[i];

        b[i].tokens = hk->burst;
        b[i].last_us = now;
        for (size_t j = 0; old && old_cfg && j < old_cfg->n_hooks; j++) {
            if (strcmp(old_cfg->hooks[j].name, hk->name) == 0 &&
                old_cfg->hooks[j].rate_n) {
                b[i] = old[j]; /* a reload does not refill a bucket */
                if (b[i].tokens > hk->burst)
                    b[i].tokens = hk->burst;
            }
        }
    }
    return b;
}

unsigned long http_bucket_take(struct http_bucket *b,
                               const struct conf_hook *hk,
                               uint64_t now_us)
{
    double per_us, wait;

    if (!hk->rate_n || !hk->rate_period)
        return 0;
    per_us = (double)hk->rate_n / ((double)hk->rate_period * 1e6);
    if (now_us > b->last_us) {
        b->tokens += (double)(now_us - b->last_us) * per_us;
        if (b->tokens > hk->burst)
            b->tokens = hk->burst;
    }
    b->last_us = now_us;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return 0;
    }
    wait = ceil((1.0 - b->tokens) / per_us / 1e6);
    return wait < 1 ? 1 : (unsigned long)wait;
}

/* 1 when the first bits of a and b are equal. */
static int
net_match(const unsigned char *a, const unsigned char *b, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;

    if (memcmp(a, b, whole) != 0)
        return 0;
    if (rest == 0)
        return 1;
    return ((a[whole] ^ b[whole]) & (0xFF00 >> rest) & 0xFF) == 0;
}

int http_status_allowed(const struct conf *cfg, const char *addr)
{
    unsigned char a[16];
    int family;

    if (cfg->n_status_allow == 0)
        return 1;
    if (!addr)
        return 0;
    if (inet_pton(AF_INET, addr, a) == 1) {
        family = 4;
    } else if (inet_pton(AF_INET6, addr, a) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0,    0,
                                                 0, 0, 0, 0, 0xFF, 0xFF};

        family = 6;
        if (memcmp(a, mapped, 12) == 0) { /* ::ffff:a.b.c.d */
            memmove(a, a + 12, 4);
            family = 4;
        }
    } else {
        return 0;
    }
    for (size_t i = 0; i < cfg->n_status_allow; i++) {
        const struct conf_net *n = &cfg->status_allow[i];

        if (n->family == family && net_match(a, n->addr, n->prefix))
            return 1;
    }
    return 0;
}
