/* SPDX-License-Identifier: MIT */
/* fake_env.h -- the environment every test of the component against the
 * fake server sets up: an event base with the fake server on it, a
 * configuration text naming the fake's port, the component built on it
 * with fast timings and started until READY; and the teardown of it all.
 * The pieces are the caller's (its struct env keeps base, fs, cfg, c):
 * these functions fill and free them. They fail the test (cmocka) rather
 * than return errors. */
#ifndef XMTA_FAKE_ENV_H
#define XMTA_FAKE_ENV_H

#include <stddef.h>

struct comp;
struct conf;
struct event_base;
struct fake_opts;
struct fake_server;

/* The token of the tests' hooks, and the [hook alerts] section most of
 * them use: bot "bot" (nick Bot) to user to. */
#define FAKE_ENV_TOKEN "0123456789abcdef0123456789abcdef"
#define FAKE_ENV_HOOK(to)                                                      \
    "[hook alerts]\n"                                                          \
    "token = " FAKE_ENV_TOKEN "\n"                                             \
    "from = bot\n"                                                             \
    "nick = Bot\n"                                                             \
    "to = " to "\n"

/* What the [component] section names instead of the fake server's own
 * values; each NULL or 0 means the fake's (its domain, secret, port) or
 * 127.0.0.1 for server. */
struct fake_env_conf {
    const char *domain;
    const char *secret;
    const char *server;
    unsigned short port;
};

/* A new event base in *base and the fake server on it in *fs, with o
 * (copied; its strings must stay valid). */
void fake_env_server(struct event_base **base,
                     struct fake_server **fs,
                     const struct fake_opts *o);

/* Loads the configuration text
 *   [component] domain, server, port and secret (see fc; fc may be NULL)
 * followed by fmt (printf): the rest of [component], [spool], [hook ...],
 * into *cfg, and builds the component on base in *c with the tests'
 * timings: connect 2 s, handshake 1 s, reconnect after 50 to 200 ms, no
 * pings and no read timeout, close 1 s, room joins 2 s and rejoins after
 * 50 to 200 ms. Change them with comp_set_timing() before starting it. Not
 * started. */
void fake_env_comp(struct event_base *base,
                   struct fake_server *fs,
                   const struct fake_env_conf *fc,
                   struct conf **cfg,
                   struct comp **c,
                   const char *fmt,
                   ...) __attribute__((format(printf, 6, 7)));

/* comp_start(c), then runs base until c is READY, for up to ms. */
void fake_env_start(struct event_base *base, struct comp *c, unsigned ms);

/* Frees *c and *cfg (a restart keeps the base and the fake server) and
 * sets them NULL. */
void fake_env_comp_free(struct conf **cfg, struct comp **c);

/* fake_env_comp_free(), then the fake server and, once the callbacks it
 * deferred have run (abandoned lookups), the base; all set NULL. */
void fake_env_free(struct event_base **base,
                   struct fake_server **fs,
                   struct conf **cfg,
                   struct comp **c);

/* A new directory "/tmp/xmta-NAME.XXXXXX" into dir[0..size) (a spool);
 * fake_env_rmdir() removes it and everything in it. */
void fake_env_mkdtemp(char *dir, size_t size, const char *name);
void fake_env_rmdir(const char *dir);

/* Rows in the spool at dir, read through a second connection. */
long fake_env_spool_rows(const char *dir);

/* Whether c has nothing queued and its spool at dir no row left. A
 * delivered row leaves with the next commit, not in the loop iteration of
 * its ack, so "nothing queued" alone does not mean the rows are gone. */
int fake_env_spool_empty(struct comp *c, const char *dir);

#endif
