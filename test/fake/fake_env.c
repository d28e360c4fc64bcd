/* SPDX-License-Identifier: MIT */
/* fake_env.c -- the fake tests' common environment (see fake_env.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include <event2/event.h>

#include "component/component.h"
#include "component/spool.h"
#include "conf/conf.h"
#include "test/fake/fake_env.h"
#include "test/fake/fake_server.h"

void fake_env_server(struct event_base **base,
                     struct fake_server **fs,
                     const struct fake_opts *o)
{
    *base = event_base_new();
    assert_non_null(*base);
    *fs = fake_new(*base, o);
    assert_non_null(*fs);
}

void fake_env_comp(struct event_base *base,
                   struct fake_server *fs,
                   const struct fake_env_conf *fc,
                   struct conf **cfg,
                   struct comp **c,
                   const char *fmt,
                   ...)
{
    const struct fake_opts *o = fake_options(fs);
    const struct fake_env_conf none = {0};
    struct conf_diag diag;
    struct comp_timing t;
    char text[4096];
    va_list ap;
    int n, m;

    if (!fc)
        fc = &none;
    n = snprintf(text, sizeof(text),
                 "[component]\n"
                 "domain = %s\n"
                 "server = %s\n"
                 "port = %u\n"
                 "secret = %s\n",
                 fc->domain ? fc->domain : o->domain,
                 fc->server ? fc->server : "127.0.0.1",
                 fc->port ? (unsigned)fc->port : (unsigned)fake_port(fs),
                 fc->secret ? fc->secret : o->secret);
    assert_true(n > 0 && (size_t)n < sizeof(text));
    va_start(ap, fmt);
    m = vsnprintf(text + n, sizeof(text) - (size_t)n, fmt, ap);
    va_end(ap);
    assert_true(m >= 0 && (size_t)m < sizeof(text) - (size_t)n);
    *cfg = conf_load_string(text, "test.conf", &diag);
    if (!*cfg)
        fail_msg("conf: %s:%d: %s", diag.file, diag.line, diag.msg);
    *c = comp_new(base, *cfg);
    assert_non_null(*c);
    comp_get_timing(*c, &t);
    t.connect_ms = 2000;
    t.handshake_ms = 1000;
    t.backoff_min_ms = 50;
    t.backoff_max_ms = 200;
    t.ping_interval_ms = 0; /* tests that want pings turn them on */
    t.ping_timeout_ms = 0;
    t.read_timeout_ms = 0;
    t.close_ms = 1000;
    t.join_timeout_ms = 2000;
    t.join_backoff_min_ms = 50;
    t.join_backoff_max_ms = 200;
    comp_set_timing(*c, &t);
}

static int comp_ready(void *arg)
{
    return comp_state(arg) == COMP_READY;
}

void fake_env_start(struct event_base *base, struct comp *c, unsigned ms)
{
    assert_int_equal(comp_start(c), 0);
    assert_true(fake_run_until(base, comp_ready, c, ms));
}

void fake_env_comp_free(struct conf **cfg, struct comp **c)
{
    comp_free(*c);
    conf_free(*cfg);
    *c = NULL;
    *cfg = NULL;
}

void fake_env_free(struct event_base **base,
                   struct fake_server **fs,
                   struct conf **cfg,
                   struct comp **c)
{
    fake_env_comp_free(cfg, c);
    fake_free(*fs);
    *fs = NULL;
    /* Let deferred frees (abandoned lookups) run before the base goes. */
    event_base_loop(*base, EVLOOP_NONBLOCK);
    event_base_free(*base);
    *base = NULL;
}

void fake_env_mkdtemp(char *dir, size_t size, const char *name)
{
    int n = snprintf(dir, size, "/tmp/xmta-%s.XXXXXX", name);

    assert_true(n > 0 && (size_t)n < size);
    assert_non_null(mkdtemp(dir));
}

void fake_env_rmdir(const char *dir)
{
    char cmd[128];
    int n = snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);

    assert_true(n > 0 && (size_t)n < sizeof(cmd));
    assert_int_equal(system(cmd), 0);
}

long fake_env_spool_rows(const char *dir)
{
    struct spool *s;
    char err[256];
    long n;

    if (spool_open(dir, &s, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    n = spool_count(s);
    spool_close(s);
    return n;
}

int fake_env_spool_empty(struct comp *c, const char *dir)
{
    struct comp_spool_status st;

    comp_spool_status(c, &st);
    return st.depth == 0 && fake_env_spool_rows(dir) == 0;
}
