/* SPDX-License-Identifier: MIT */
/* test_conf.c -- the configuration loader: good files, every error with its
 * line, token lookup, sizes, secret_file, the shipped example. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "conf/conf.h"
#include "xml/err.h"
#include "xml/msg.h"

#define TOKEN_A "aaaaaaaaaaaaaaaa"
#define TOKEN_B "Zm9vYmFy_-.~0123456789"
#define SECRET "s3cret-value"

static const char good_conf[] =
    "; xmta test configuration\n"                     /* 1 */
    "[component]\n"                                   /* 2 */
    "domain = Notify.Example.ORG   ; the component\n" /* 3 */
    "server = 127.0.0.1\n"                            /* 4 */
    "port = 5348\n"                                   /* 5 */
    "secret = " SECRET " ; a comment\n"               /* 6 */
    "ping_interval = 60\n"                            /* 7 */
    "ping_timeout = 10\n"                             /* 8 */
    "keepalive = 30\n"                                /* 9 */
    "queue = 500\n"                                   /* 10 */
    "\n"                                              /* 11 */
    "[http]\n"                                        /* 12 */
    "listen = 127.0.0.1:8080\n"                       /* 13 */
    "listen = [::1]:8081\n"                           /* 14 */
    "listen = localhost:0\n"                          /* 15 */
    "max_body = 512k\n"                               /* 16 */
    "\n"                                              /* 17 */
    "[hook Grafana]   ; first hook\n"                 /* 18 */
    "    token = " TOKEN_A "\n"                       /* 19 */
    "    to = Alice@Example.org\n"                    /* 20 */
    "    to = bob@example.org/Phone\n"                /* 21 */
    "    room = Ops@Conference.Example.org\n"         /* 22 */
    "    allow_to = *@example.org\n"                  /* 23 */
    "    allow_to = carol@other.org\n"                /* 24 */
    "    type = headline\n"                           /* 25 */
    "# another comment\n"                             /* 26 */
    "[hook alert-manager]\r\n"                        /* 27 */
    "token = " TOKEN_B "\r\n"                         /* 28 */
    "from = AM\r\n"                                   /* 29 */
    "nick = Alert Manager\r\n"                        /* 30 */
    "room = ops@conference.example.org\r\n";          /* 31 */

static void test_conf_good(void **state)
{
    struct conf_diag diag;
    struct conf *c = conf_load_string(good_conf, "good.conf", &diag);
    const struct conf_hook *h;

    (void)state;
    if (!c)
        fail_msg("%s:%d: %s", diag.file, diag.line, diag.msg);
    assert_string_equal(c->path, "good.conf");
    assert_string_equal(c->domain, "notify.example.org");
    assert_string_equal(c->server, "127.0.0.1");
    assert_int_equal(c->port, 5348);
    assert_string_equal(c->secret, SECRET);
    assert_int_equal(c->ping_interval, 60);
    assert_int_equal(c->ping_timeout, 10);
    assert_int_equal(c->keepalive, 30);
    assert_int_equal(c->queue_max, 500);

    assert_int_equal(c->n_listen, 3);
    assert_string_equal(c->listen[0].host, "127.0.0.1");
    assert_int_equal(c->listen[0].port, 8080);
    assert_int_equal(c->listen[0].line, 13);
    assert_string_equal(c->listen[1].host, "::1");
    assert_int_equal(c->listen[1].port, 8081);
    assert_int_equal(c->listen[1].line, 14);
    assert_string_equal(c->listen[2].host, "localhost");
    assert_int_equal(c->listen[2].port, 0);
    assert_int_equal(c->max_body, 512 * 1024);

    assert_int_equal(c->n_hooks, 2);
    h = &c->hooks[0];
    assert_string_equal(h->name, "Grafana");
    assert_int_equal(h->line, 18);
    assert_string_equal(h->token, TOKEN_A);
    assert_string_equal(h->from, "grafana"); /* the name, lowercased */
    assert_string_equal(h->nick, "Grafana"); /* the name as written */
    assert_int_equal(h->n_to, 2);
    assert_string_equal(h->to[0], "alice@example.org");
    assert_string_equal(h->to[1], "bob@example.org/Phone");
    assert_int_equal(h->n_rooms, 1);
    assert_string_equal(h->rooms[0], "ops@conference.example.org");
    assert_int_equal(h->n_allow_to, 2);
    assert_string_equal(h->allow_to[0], "*@example.org");
    assert_string_equal(h->allow_to[1], "carol@other.org");
    assert_int_equal(h->type, MSG_HEADLINE);

    h = &c->hooks[1];
    assert_string_equal(h->name, "alert-manager");
    assert_int_equal(h->line, 27);
    assert_string_equal(h->token, TOKEN_B);
    assert_string_equal(h->from, "am");
    assert_string_equal(h->nick, "Alert Manager");
    assert_int_equal(h->n_to, 0);
    assert_int_equal(h->n_allow_to, 0);
    assert_int_equal(h->n_rooms, 1);
    assert_string_equal(h->rooms[0], "ops@conference.example.org");
    assert_int_equal(h->type, MSG_CHAT);
    conf_free(c);
}

static void test_conf_defaults(void **state)
{
    static const char text[] = "[component]\n"
                               "domain = notify.example.org\n"
                               "server = xmpp.example.org\n"
                               "secret = x\n";
    struct conf_diag diag;
    struct conf *c = conf_load_string(text, NULL, &diag);

    (void)state;
    if (!c)
        fail_msg("%d: %s", diag.line, diag.msg);
    assert_int_equal(c->port, 5347);
    assert_int_equal(c->ping_interval, 120);
    assert_int_equal(c->ping_timeout, 30);
    assert_int_equal(c->keepalive, 60);
    assert_int_equal(c->queue_max, 10000);
    assert_int_equal(c->n_listen, 1);
    assert_string_equal(c->listen[0].host, "127.0.0.1");
    assert_int_equal(c->listen[0].port, 8080);
    assert_int_equal(c->listen[0].line, 0);
    assert_int_equal(c->listen[0].tls, 0); /* the default is plain HTTP */
    assert_int_equal(c->max_body, 1024 * 1024);
    assert_string_equal(c->spool_path, "/var/lib/xmta");
    assert_int_equal(c->spool_max_messages, 100000);
    assert_int_equal(c->spool_max_bytes, 256 * 1024 * 1024);
    assert_int_equal(c->spool_max_age, 86400);
    assert_int_equal(c->n_hooks, 0);
    assert_null(conf_hook_by_token(c, TOKEN_A));
    conf_free(c);
    conf_free(NULL);
}

#define COMP                                                                   \
    "[component]\n"                 /* 1 */                                    \
    "domain = notify.example.org\n" /* 2 */                                    \
    "server = 127.0.0.1\n"          /* 3 */                                    \
    "secret = " SECRET "\n"         /* 4 */
#define HOOK_A                                                                 \
    "[hook a]\n"               /* 5 */                                         \
    "token = " TOKEN_A "\n"    /* 6 */                                         \
    "to = alice@example.org\n" /* 7 */

/* SHA-256 of TOKEN_A */
#define SHA_A "0c0beacef8877bbf2416eb00f2b5dc96354e26dd1df5517320459b1236860f8c"

struct bad_case {
    const char *text;
    int line;
    const char *reason; /* a substring of diag.msg */
};

static const struct bad_case bad_cases[] = {
    /* unknown keys, with a hint when one is close */
    {COMP HOOK_A "tokne = x\n", 8,
     "unknown key 'tokne' in [hook a] (did you mean 'token'?)"},
    {COMP "secret_fil = /x\n", 5,
     "unknown key 'secret_fil' in [component] (did you mean 'secret_file'?)"},
    {COMP "Port = 1\n", 5, "did you mean 'port'?"},
    {COMP "token = " TOKEN_A "\n", 5,
     "unknown key 'token' in [component] (it belongs in [hook NAME])"},
    {COMP "frobnicate = 1\n", 5, "unknown key 'frobnicate' in [component]"},
    {"[http]\nlisten = 127.0.0.1:1\nbogus = 1\n", 3,
     "unknown key 'bogus' in [http]"},
    {"domain = x.org\n" COMP, 1, "before any section"},
    /* sections */
    {COMP "[hoook x]\n", 5,
     "unknown section [hoook x] (did you mean [hook NAME]?)"},
    {COMP "[Component]\n", 5, "did you mean [component]?"},
    {COMP "[nonsense]\n", 5, "unknown section [nonsense]"},
    {COMP "[component]\n", 5,
     "duplicate section [component] (first at line 1)"},
    {COMP "[http]\n[http]\n", 6, "duplicate section [http] (first at line 5)"},
    {COMP "[hook]\n", 5, "needs a name"},
    {COMP "[hook a/b]\n", 5, "bad hook name"},
    {COMP "[hook a b]\n", 5, "bad hook name"},
    {COMP "[http\n", 5, "without ']'"},
    {COMP "[http] junk\n", 5, "text after the section header"},
    {COMP HOOK_A "[hook a]\ntoken = " TOKEN_B "\nto = b@example.org\n", 8,
     "duplicate hook 'a' (first at line 5)"},
    {COMP HOOK_A "[hook A]\n", 8, "duplicate hook 'A' (first at line 5)"},
    /* tokens */
    {COMP HOOK_A "[hook b]\ntoken = " TOKEN_A "\nto = b@example.org\n", 9,
     "token of [hook b] is already used by [hook a] (line 5)"},
    {COMP "[hook a]\ntoken = short\n", 6, "16 to 256 characters"},
    {COMP "[hook a]\ntoken = " TOKEN_A "$\n", 6, "may only contain"},
    {COMP "[hook a]\ntoken = " TOKEN_A "/x\n", 6, "may only contain"},
    {COMP "[hook a]\nto = alice@example.org\n", 5, "[hook a] has no token"},
    {COMP HOOK_A "token = " TOKEN_B "\n", 8,
     "duplicate key 'token' in [hook a] (first at line 6)"},
    /* recipients */
    {COMP "[hook a]\ntoken = " TOKEN_A "\n", 5, "has no to, room or allow_to"},
    {COMP "[hook a]\ntoken = " TOKEN_A "\n[hook b]\n", 5,
     "[hook a] has no to, room or allow_to"},
    {COMP HOOK_A "to = alice@\n", 8, "bad to 'alice@': empty domainpart"},
    {COMP HOOK_A "to = example.org\n", 8, "expected a user JID"},
    {COMP HOOK_A "to = al ice@example.org\n", 8,
     "bad to 'al ice@example.org': invalid localpart"},
    {COMP HOOK_A "to = Alice@Example.org\n", 8,
     "duplicate to 'alice@example.org' in [hook a]"},
    {COMP HOOK_A "room = ops@conference.example.org/nick\n", 8,
     "bare room JID"},
    {COMP HOOK_A "room = conference.example.org\n", 8, "bare room JID"},
    {COMP HOOK_A "room = @conference.example.org\n", 8, "empty localpart"},
    {COMP HOOK_A "allow_to = a\x01@x\n", 8, "control characters"},
    {COMP HOOK_A "type = groupchat\n", 8, "bad type 'groupchat'"},
    {COMP HOOK_A "type = \n", 8, "empty value for 'type'"},
    {COMP HOOK_A "from = a b\n", 8, "bad from 'a b'"},
    {COMP HOOK_A "from = a@b\n", 8, "bad from 'a@b'"},
    {COMP HOOK_A "nick = a\x01\n", 8, "bad nick"},
    /* two-way bots (issue 7) */
    {COMP HOOK_A "reply_url = http://example.org/r\n", 8, "bad reply_url"},
    {COMP HOOK_A "reply_url = ftp://example.org/r\n", 8, "bad reply_url"},
    {COMP HOOK_A "reply_url = https://\n", 8, "bad reply_url"},
    {COMP HOOK_A "reply_url = http://127.0.0.1.evil/r\n", 8, "bad reply_url"},
    {COMP HOOK_A "reply_url = https://example.org/r\n", 5,
     "has reply_url but no secret"},
    {COMP HOOK_A "reply_timeout = 0\n", 8, "bad reply_timeout '0'"},
    {COMP HOOK_A "reply_timeout = 121\n", 8, "bad reply_timeout"},
    {COMP HOOK_A "alertmanager_url = am:9093\n", 8, "bad alertmanager_url"},
    {COMP HOOK_A "commanders = a b@x\n", 8, "bad commanders"},
    {COMP HOOK_A "commanders = *@x\ncommanders = *@x\n", 9,
     "duplicate commanders"},
    {COMP HOOK_A "attach_hosts = http://x\n", 8, "bad attach_hosts"},
    {COMP HOOK_A "attach_max = 10\n", 8, "bad attach_max '10'"},
    {COMP HOOK_A "attach_max = 1G\n", 8, "bad attach_max"},
    {COMP "upload_service = a@upload.example.org\n", 5, "bad upload_service"},
    {COMP HOOK_A "long_body = file\n", 8,
     "bad long_body 'file': expected cut or upload"},
    {COMP HOOK_A "[http_client]\nca_file = /nonexistent/ca.pem\n", 9,
     "cannot read ca_file '/nonexistent/ca.pem'"},
    {COMP HOOK_A "[http_clients]\n", 8, "did you mean [http_client]"},
    {COMP HOOK_A "[http_client]\ntls_ca = /x\n", 9,
     "unknown key 'tls_ca' in [http_client] (it belongs in [component])"},
    /* [component] */
    {"[component]\ndomain = alice@notify.example.org\n", 2, "bare domain"},
    {"[component]\ndomain = notify.example.org/x\n", 2, "bare domain"},
    {"[component]\ndomain = notify..example.org\n", 2,
     "bad domain 'notify..example.org': empty label"},
    {"[component]\nserver = 127.0.0.1:5347\n", 2, "bad server"},
    {"[component]\nserver = a b\n", 2, "bad server"},
    {COMP "port = 0\n", 5, "bad port '0'"},
    {COMP "port = 70000\n", 5, "bad port '70000'"},
    {COMP "port = abc\n", 5, "bad port 'abc'"},
    {COMP "port = -1\n", 5, "bad port"},
    {COMP "port = 0x10\n", 5, "bad port"},
    {COMP "port = 99999999999999999999999\n", 5, "bad port"},
    {COMP "server = ::1\n", 5,
     "duplicate key 'server' in [component] (first at line 3)"},
    {COMP "ping_interval = 4\n", 5, "bad ping_interval '4'"},
    {COMP "ping_timeout = 0\n", 5, "bad ping_timeout"},
    {COMP "keepalive = 1s\n", 5, "bad keepalive"},
    {COMP "queue = 0\n", 5, "bad queue"},
    {COMP "tls = maybe\n", 5, "bad tls 'maybe': expected true or false"},
    {COMP "tls_verify = 2\n", 5, "bad tls_verify"},
    {COMP "tls_name = a b\n", 5, "bad tls_name"},
    {COMP "storm = 10\n", 5, "bad storm '10'"},
    {COMP "storm = 0/60s\n", 5, "bad storm"},
    {COMP "storm = 10/0\n", 5, "bad storm"},
    {COMP "storm = 10/25h\n", 5, "bad storm"},
    {COMP "storm = 10/60x\n", 5, "bad storm"},
    {COMP "storm = -1/60\n", 5, "bad storm"},
    {COMP "log = journal\n", 5, "bad log 'journal'"},
    {"[component]\ndomain = notify.example.org\nserver = h\n", 1,
     "no secret or secret_file"},
    {"[component]\nserver = h\nsecret = x\n", 1, "no domain"},
    {"[component]\ndomain = notify.example.org\nsecret = x\n", 1, "no server"},
    {"[http]\nlisten = 127.0.0.1:1\n", 0, "missing [component] section"},
    {"", 0, "missing [component] section"},
    {COMP "secret_file = /nonexistent/xmta-secret\n", 5,
     "both secret and secret_file"},
    {"[component]\nsecret_file = /nonexistent/xmta-secret\n", 2,
     "cannot read secret_file '/nonexistent/xmta-secret': No such file or "
     "directory"},
    {"[component]\nsecret_file = /\n", 2, "cannot read secret_file '/'"},
    /* [http] */
    {COMP "[http]\nlisten = 127.0.0.1:70000\n", 6, "bad port"},
    {COMP "[http]\nlisten = 127.0.0.1:http\n", 6, "bad port"},
    {COMP "[http]\nlisten = 127.0.0.1\n", 6, "expected HOST:PORT"},
    {COMP "[http]\nlisten = ::1:8080\n", 6, "needs brackets"},
    {COMP "[http]\nlisten = [::1]8080\n", 6, "expected [ADDRESS]:PORT"},
    {COMP "[http]\nlisten = [1.2.3.4]:80\n", 6, "bad host"},
    {COMP "[http]\nlisten = :8080\n", 6, "empty host"},
    {COMP "[http]\nlisten = 1.2.3.256:80\n", 6, "bad host"},
    {COMP "[http]\nlisten = 127.0.0.1:1\nlisten = 127.0.0.1:1\n", 7,
     "duplicate listen address (first at line 6)"},
    {COMP "[http]\nmax_body = 1X\n", 6, "bad max_body '1X'"},
    {COMP "[http]\nmax_body = 0\n", 6, "bad max_body"},
    {COMP "[http]\nmax_body = -1\n", 6, "bad max_body"},
    {COMP "[http]\nmax_body = 2G\n", 6, "bad max_body"},
    /* [http] production (issue 6) */
    {COMP "[http]\nlisten = 127.0.0.1:1 tsl\n", 6,
     "optionally followed by tls"},
    {COMP "[http]\nlisten = 127.0.0.1:1 tls\n", 6,
     "listen ... tls needs tls_cert and tls_key"},
    {COMP "[http]\nlisten = 127.0.0.1:1 tls\ntls_cert = /c.pem\n", 6,
     "needs tls_cert and tls_key"},
    {COMP "[http]\nlisten = 127.0.0.1:1\ntls_cert = /c.pem\n"
          "tls_key = /k.pem\n",
     5, "no listen = HOST:PORT tls uses them"},
    {COMP "[http]\nmax_headers = 100\n", 6, "bad max_headers '100'"},
    {COMP "[http]\nheader_timeout = 0\n", 6, "bad header_timeout '0'"},
    {COMP "[http]\nbody_timeout = 10s\n", 6, "bad body_timeout"},
    {COMP "[http]\nidle_timeout = 100000\n", 6, "bad idle_timeout"},
    {COMP "[http]\nmax_connections = 0\n", 6, "bad max_connections '0'"},
    {COMP "[http]\nstatus_allow = 127.0.0.1, localhost\n", 6,
     "bad status_allow entry 'localhost'"},
    {COMP "[http]\nstatus_allow = 10.0.0.0/33\n", 6,
     "bad status_allow entry '10.0.0.0/33'"},
    {COMP "[http]\nstatus_allow = ::1/129\n", 6, "bad status_allow"},
    {COMP HOOK_A "rate = 30\n", 8, "bad rate '30'"},
    {COMP HOOK_A "rate = 0/min\n", 8, "bad rate '0/min'"},
    {COMP HOOK_A "rate = 5/week\n", 8, "bad rate '5/week'"},
    {COMP HOOK_A "rate = -5/s\n", 8, "bad rate"},
    {COMP HOOK_A "burst = 0\n", 8, "bad burst '0'"},
    /* alert lifecycle (issue 5) */
    {COMP HOOK_A "on_resolve = edit\n", 8,
     "bad on_resolve 'edit': expected new or correct"},
    {COMP HOOK_A "on_resolve =\n", 8, "empty value for 'on_resolve'"},
    {COMP HOOK_A "heartbeat = 15x\n", 8, "bad heartbeat '15x'"},
    {COMP HOOK_A "heartbeat = m\n", 8, "bad heartbeat 'm'"},
    {COMP HOOK_A "heartbeat = -5m\n", 8, "bad heartbeat '-5m'"},
    {COMP HOOK_A "heartbeat = 169h\n", 8, "bad heartbeat '169h'"},
    {COMP HOOK_A "heartbeat = 99999999999999999999s\n", 8, "bad heartbeat"},
    {COMP HOOK_A "heartbeat_forward = maybe\n", 8,
     "bad heartbeat_forward 'maybe'"},
    {COMP HOOK_A "burst = 5\n", 5, "[hook a] has burst but no rate"},
    {COMP "[hook a]\ntoken_sha256 = abc\nto = a@example.org\n", 6,
     "token_sha256 of [hook a] must be 64 hex digits"},
    {COMP HOOK_A "token_sha256 = " SHA_A "\n", 5,
     "[hook a] has both token and token_sha256"},
    {COMP "[hook a]\ntoken_sha256 = " SHA_A "\nto = a@example.org\n"
          "[hook b]\ntoken_sha256 = " SHA_A "\nto = a@example.org\n",
     9, "token_sha256 of [hook b] is already used by [hook a] (line 5)"},
    /* [spool] */
    {COMP "[spool]\npath = relative/dir\n", 6, "bad spool path"},
    {COMP "[spool]\nmax_messages = 0\n", 6, "bad max_messages '0'"},
    {COMP "[spool]\nmax_bytes = 10\n", 6, "bad max_bytes '10'"},
    {COMP "[spool]\nmax_age = 0\n", 6, "bad max_age '0'"},
    {COMP "[spool]\nmax_age = 366d\n", 6, "bad max_age"},
    {COMP "[spool]\nmax_age = h\n", 6, "bad max_age"},
    {COMP "[spool]\nmax_age = 1w\n", 6, "bad max_age"},
    {COMP "[spool]\n[spool]\n", 6, "duplicate section [spool]"},
    {COMP "[spool]\npth = /tmp\n", 6, "did you mean 'path'"},
    {COMP "[spol]\n", 5, "did you mean [spool]"},
    /* lines */
    {COMP "this is not a key\n", 5, "malformed line"},
    {COMP HOOK_A "to = bob@example.org\nnot a key either\nbogus = 1\n", 9,
     "malformed line"},
    {COMP "to = "
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "@example.org\n",
     5, "line too long"},
};

/* [http] and [hook] keys of issue 6: HTTPS listeners, limits, status_allow,
 * token_sha256, rate and burst; and their defaults. */
static void test_conf_production(void **state)
{
    static const char text[] = COMP "[http]\n"
                                    "listen = 127.0.0.1:8080\n"
                                    "listen = [::1]:8443   tls\n"
                                    "tls_cert = cert.pem\n"
                                    "tls_key = /etc/xmta/key.pem\n"
                                    "max_headers = 8k\n"
                                    "header_timeout = 5\n"
                                    "body_timeout = 20\n"
                                    "idle_timeout = 15\n"
                                    "max_connections = 64\n"
                                    "status_allow = 127.0.0.1, ::1\n"
                                    "status_allow = 10.0.0.0/8\n"
                                    "[hook a]\n"
                                    "token_sha256 = " SHA_A "\n"
                                    "to = alice@example.org\n"
                                    "rate = 30/min\n"
                                    "burst = 10\n"
                                    "[hook b]\n"
                                    "token = " TOKEN_B "\n"
                                    "to = bob@example.org\n"
                                    "rate = 5/s\n";
    struct conf_diag diag;
    struct conf *c;
    char path[] = "/tmp/xmta-conf-XXXXXX";
    int fd;

    (void)state;
    if (!(c = conf_load_string(text, "p.conf", &diag)))
        fail_msg("%d: %s", diag.line, diag.msg);
    assert_int_equal(c->n_listen, 2);
    assert_int_equal(c->listen[0].tls, 0);
    assert_int_equal(c->listen[1].tls, 1);
    assert_string_equal(c->listen[1].host, "::1");
    assert_int_equal(c->listen[1].port, 8443);
    assert_string_equal(c->tls_cert, "cert.pem"); /* a string: no folder */
    assert_string_equal(c->tls_key, "/etc/xmta/key.pem");
    assert_int_equal(c->max_headers, 8192);
    assert_int_equal(c->header_timeout, 5);
    assert_int_equal(c->body_timeout, 20);
    assert_int_equal(c->idle_timeout, 15);
    assert_int_equal(c->max_connections, 64);
    assert_int_equal(c->n_status_allow, 3);
    assert_int_equal(c->status_allow[0].family, 4);
    assert_int_equal(c->status_allow[0].prefix, 32);
    assert_memory_equal(c->status_allow[0].addr, "\x7f\0\0\x01", 4);
    assert_int_equal(c->status_allow[1].family, 6);
    assert_int_equal(c->status_allow[1].prefix, 128);
    assert_int_equal(c->status_allow[1].addr[15], 1);
    assert_int_equal(c->status_allow[2].prefix, 8);
    assert_int_equal(c->status_allow[2].addr[0], 10);
    assert_null(c->hooks[0].token);
    assert_int_equal(c->hooks[0].has_token_sha256, 1);
    assert_int_equal(c->hooks[0].token_sha256[0], 0x0c);
    assert_int_equal(c->hooks[0].token_sha256[31], 0x8c);
    assert_int_equal(c->hooks[0].rate_n, 30);
    assert_int_equal(c->hooks[0].rate_period, 60);
    assert_int_equal(c->hooks[0].burst, 10);
    assert_int_equal(c->hooks[1].has_token_sha256, 0);
    assert_int_equal(c->hooks[1].rate_n, 5);
    assert_int_equal(c->hooks[1].rate_period, 1);
    assert_int_equal(c->hooks[1].burst, 5); /* the rate's N by default */
    assert_int_equal(c->file_mode, 0);
    conf_free(c);

    /* Defaults; a file's mode and relative paths against its folder. */
    assert_true((fd = mkstemp(path)) >= 0);
    assert_int_equal(write(fd, COMP, strlen(COMP)), (ssize_t)strlen(COMP));
    assert_int_equal(fchmod(fd, 0640), 0);
    close(fd);
    if (!(c = conf_load(path, &diag)))
        fail_msg("%d: %s", diag.line, diag.msg);
    assert_int_equal(c->file_mode, 0640);
    assert_int_equal(c->max_headers, 16384);
    assert_int_equal(c->header_timeout, 10);
    assert_int_equal(c->body_timeout, 30);
    assert_int_equal(c->idle_timeout, 60);
    assert_int_equal(c->max_connections, 1024);
    assert_int_equal(c->n_status_allow, 0);
    assert_null(c->tls_cert);
    conf_free(c);
    unlink(path);
}

static void test_conf_spool(void **state)
{
    static const char base[] = "[component]\n"
                               "domain = notify.example.org\n"
                               "server = h\n"
                               "secret = x\n"
                               "[spool]\n";
    static const struct {
        const char *keys;
        const char *path; /* NULL: none */
        size_t messages, bytes;
        unsigned age;
    } cases[] = {
        {"path = /srv/xmta\nmax_messages = 5\nmax_bytes = 1M\n"
         "max_age = 3600\n",
         "/srv/xmta", 5, 1024 * 1024, 3600},
        {"path = none\nmax_age = 90m\n", NULL, 100000, 256u << 20, 5400},
        {"max_age = 7d\nmax_bytes = 2048\n", "/var/lib/xmta", 100000, 2048,
         7 * 86400},
        {"max_age = 30s\n", "/var/lib/xmta", 100000, 256u << 20, 30},
        {"max_age = 24h\n", "/var/lib/xmta", 100000, 256u << 20, 86400},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512];
        struct conf_diag diag;
        struct conf *c;

        snprintf(text, sizeof text, "%s%s", base, cases[i].keys);
        if (!(c = conf_load_string(text, "s.conf", &diag)))
            fail_msg("case %zu: %d: %s", i, diag.line, diag.msg);
        if (cases[i].path)
            assert_string_equal(c->spool_path, cases[i].path);
        else
            assert_null(c->spool_path);
        assert_int_equal(c->spool_max_messages, cases[i].messages);
        assert_int_equal(c->spool_max_bytes, cases[i].bytes);
        assert_int_equal(c->spool_max_age, cases[i].age);
        conf_free(c);
    }
}

/* [component] tls*, storm and log: defaults and parsed values. */
static void test_conf_issue6(void **state)
{
    static const char base[] = "[component]\n"
                               "domain = notify.example.org\n"
                               "server = xmpp.example.org\n"
                               "secret = x\n";
    static const struct {
        const char *extra;
        unsigned n, window;
    } storms[] = {
        {"storm = 10/60s\n", 10, 60}, {"storm = 3/2\n", 3, 2},
        {"storm = 5/2m\n", 5, 120},   {"storm = 1/24h\n", 1, 86400},
        {"storm = off\n", 0, 0},      {"", 0, 0},
    };
    struct conf_diag diag;
    char text[512];
    struct conf *c = conf_load_string(base, NULL, &diag);

    (void)state;
    assert_non_null(c);
    assert_int_equal(c->tls, 0);
    assert_int_equal(c->tls_verify, 1);
    assert_null(c->tls_ca);
    assert_null(c->tls_name);
    assert_int_equal(c->storm_n, 0);
    assert_int_equal(c->log_syslog, 0);
    conf_free(c);

    snprintf(text, sizeof text,
             "%stls = true\ntls_verify = false\ntls_ca = /etc/xmta/ca.pem\n"
             "tls_name = XMPP.example.org\nlog = syslog\n",
             base);
    c = conf_load_string(text, NULL, &diag);
    if (!c)
        fail_msg("%d: %s", diag.line, diag.msg);
    assert_int_equal(c->tls, 1);
    assert_int_equal(c->tls_verify, 0);
    assert_string_equal(c->tls_ca, "/etc/xmta/ca.pem");
    assert_string_equal(c->tls_name, "XMPP.example.org");
    assert_int_equal(c->log_syslog, 1);
    conf_free(c);

    for (size_t i = 0; i < sizeof storms / sizeof storms[0]; i++) {
        snprintf(text, sizeof text, "%s%s", base, storms[i].extra);
        c = conf_load_string(text, NULL, &diag);
        if (!c)
            fail_msg("case %zu: %d: %s", i, diag.line, diag.msg);
        assert_int_equal(c->storm_n, storms[i].n);
        assert_int_equal(c->storm_window, storms[i].window);
        conf_free(c);
    }
}

static void test_conf_bad(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const struct bad_case *b = &bad_cases[i];
        struct conf_diag diag;
        struct conf *c;

        memset(&diag, 0x55, sizeof diag);
        c = conf_load_string(b->text, "bad.conf", &diag);
        if (c) {
            conf_free(c);
            fail_msg("case %zu loaded:\n%s", i, b->text);
        }
        assert_string_equal(diag.file, "bad.conf");
        if (diag.line != b->line || !strstr(diag.msg, b->reason))
            fail_msg("case %zu: got %d: '%s'; expected %d: '%s'", i, diag.line,
                     diag.msg, b->line, b->reason);
        /* secrets never reach a diagnostic */
        if (strstr(diag.msg, TOKEN_A) || strstr(diag.msg, TOKEN_B) ||
            strstr(diag.msg, SECRET))
            fail_msg("case %zu: secret in '%s'", i, diag.msg);
    }
}

static void test_conf_reply(void **state)
{
    static const char text[] =
        COMP HOOK_A "secret = sign-key-123\n"
                    "reply_url = https://bots.example.org/reply?x=1\n"
                    "reply_timeout = 3\n"
                    "alertmanager_url = http://127.0.0.1:9093\n"
                    "commanders = *@example.org\n"
                    "commanders = ops@corp.example\n"
                    "attach_hosts = *.example.org\n"
                    "attach_hosts = 127.0.0.1\n"
                    "attach_max = 2M\n"
                    "long_body = upload\n"
                    "[http_client]\n"
                    "ca_file = /dev/null\n"
                    "[hook b]\n"
                    "token = " TOKEN_B "\n"
                    "to = bob@example.org\n"
                    "reply_url = http://[::1]:8000/r\n"
                    "secret = another-key\n";
    struct conf_diag diag;
    struct conf *c = conf_load_string(text, "reply.conf", &diag);

    (void)state;
    if (!c)
        fail_msg("%d: %s", diag.line, diag.msg);
    assert_string_equal(c->hooks[0].reply_url,
                        "https://bots.example.org/reply?x=1");
    assert_int_equal(c->hooks[0].reply_timeout, 3);
    assert_string_equal(c->hooks[0].alertmanager_url, "http://127.0.0.1:9093");
    assert_int_equal(c->hooks[0].n_commanders, 2);
    assert_string_equal(c->hooks[0].commanders[1], "ops@corp.example");
    assert_string_equal(c->hooks[1].reply_url, "http://[::1]:8000/r");
    assert_int_equal(c->hooks[1].reply_timeout, 10); /* the default */
    assert_null(c->hooks[1].alertmanager_url);
    assert_int_equal(c->hooks[0].n_attach_hosts, 2);
    assert_string_equal(c->hooks[0].attach_hosts[0], "*.example.org");
    assert_int_equal(c->hooks[0].attach_max, 2 * 1024 * 1024);
    assert_int_equal(c->hooks[1].attach_max, 10 * 1024 * 1024);
    assert_null(c->upload_service);
    assert_int_equal(c->hooks[1].n_commanders, 0);
    assert_int_equal(c->hooks[0].long_body_upload, 1);
    assert_int_equal(c->hooks[1].long_body_upload, 0); /* default: cut */
    assert_string_equal(c->http_ca_file, "/dev/null");
    conf_free(c);
}

static void test_conf_upload_service(void **state)
{
    struct conf *c = conf_load_string(
        COMP "upload_service = Upload.Example.ORG\n" HOOK_A, "up.conf", NULL);

    (void)state;
    assert_non_null(c);
    assert_string_equal(c->upload_service, "upload.example.org");
    conf_free(c);
}

static void test_conf_by_token(void **state)
{
    struct conf *c = conf_load_string(good_conf, "good.conf", NULL);

    (void)state;
    assert_non_null(c);
    assert_ptr_equal(conf_hook_by_token(c, TOKEN_A), &c->hooks[0]);
    assert_ptr_equal(conf_hook_by_token(c, TOKEN_B), &c->hooks[1]);
    /* a prefix, an extension, another case, nothing */
    assert_null(conf_hook_by_token(c, "aaaaaaaaaaaaaaa"));
    assert_null(conf_hook_by_token(c, TOKEN_A "a"));
    assert_null(conf_hook_by_token(c, TOKEN_B "x"));
    assert_null(conf_hook_by_token(c, "Zm9vYmFy_-.~012345678"));
    assert_null(conf_hook_by_token(c, "AAAAAAAAAAAAAAAA"));
    assert_null(conf_hook_by_token(c, "aaaaaaaaaaaaaaab"));
    assert_null(conf_hook_by_token(c, "baaaaaaaaaaaaaaa"));
    assert_null(conf_hook_by_token(c, ""));
    assert_null(conf_hook_by_token(c, NULL));
    assert_null(conf_hook_by_token(NULL, TOKEN_A));
    conf_free(c);
}

static void test_conf_parse_size(void **state)
{
    static const struct {
        const char *s;
        size_t v;
    } good[] = {
        {"0", 0},
        {"1", 1},
        {"1048576", 1048576},
        {"1M", 1048576},
        {"1m", 1048576},
        {"512k", 524288},
        {"64K", 65536},
        {"1G", (size_t)1 << 30},
        {"3g", (size_t)3 << 30},
    };
    static const char *const bad[] = {
        "",
        "M",
        "k1",
        "1.5M",
        "-1",
        "+1",
        " 1",
        "1 ",
        "1MB",
        "1T",
        "0x10",
        "99999999999999999999999",
        "18014398509481984G",
    };
    size_t v;

    (void)state;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        v = 7;
        assert_int_equal(conf_parse_size(good[i].s, &v), 0);
        assert_int_equal(v, good[i].v);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (conf_parse_size(bad[i], &v) != XMTA_E_INVAL)
            fail_msg("size '%s' accepted", bad[i]);
    }
    assert_int_equal(conf_parse_size(NULL, &v), XMTA_E_INVAL);
}

/* A scratch directory with a configuration and its secret file. */
struct scratch {
    char dir[64];
    char conf[128];
    char secret[128];
};

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void
scratch_make(struct scratch *s, const char *conf, const char *secret)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(s->dir, sizeof s->dir, "%s/xmta-conf-XXXXXX",
             tmp && strlen(tmp) < 32 ? tmp : "/tmp");
    assert_non_null(mkdtemp(s->dir));
    snprintf(s->conf, sizeof s->conf, "%s/xmta.conf", s->dir);
    snprintf(s->secret, sizeof s->secret, "%s/secret", s->dir);
    write_file(s->conf, conf, strlen(conf));
    if (secret)
        write_file(s->secret, secret, strlen(secret));
}

static void scratch_remove(struct scratch *s)
{
    unlink(s->conf);
    unlink(s->secret);
    rmdir(s->dir);
}

static const char secret_file_conf[] = "[component]\n"
                                       "domain = notify.example.org\n"
                                       "server = 127.0.0.1\n"
                                       "secret_file = secret\n";

static void test_conf_secret_file(void **state)
{
    struct scratch s;
    struct conf_diag diag;
    struct conf *c;

    (void)state;
    /* relative to the configuration's folder; first line only, no CRLF */
    scratch_make(&s, secret_file_conf, "top secret\r\nsecond line\n");
    c = conf_load(s.conf, &diag);
    if (!c)
        fail_msg("%s:%d: %s", diag.file, diag.line, diag.msg);
    assert_string_equal(c->secret, "top secret");
    assert_string_equal(c->path, s.conf);
    conf_free(c);
    scratch_remove(&s);

    /* no trailing newline at all */
    scratch_make(&s, secret_file_conf, "abc");
    c = conf_load(s.conf, &diag);
    assert_non_null(c);
    assert_string_equal(c->secret, "abc");
    conf_free(c);
    scratch_remove(&s);

    /* empty file, or an empty first line */
    scratch_make(&s, secret_file_conf, "");
    assert_null(conf_load(s.conf, &diag));
    assert_int_equal(diag.line, 4);
    assert_non_null(strstr(diag.msg, "is empty"));
    assert_non_null(strstr(diag.msg, s.secret));
    scratch_remove(&s);

    scratch_make(&s, secret_file_conf, "\nsecret on line two\n");
    assert_null(conf_load(s.conf, &diag));
    assert_int_equal(diag.line, 4);
    assert_non_null(strstr(diag.msg, "is empty"));
    scratch_remove(&s);

    /* missing */
    scratch_make(&s, secret_file_conf, NULL);
    assert_null(conf_load(s.conf, &diag));
    assert_int_equal(diag.line, 4);
    assert_non_null(strstr(diag.msg, "No such file or directory"));
    assert_non_null(strstr(diag.msg, s.secret));
    scratch_remove(&s);
}

static void test_conf_file_errors(void **state)
{
    static const char with_nul[] = "[component]\n"
                                   "domain = notify.example.org\n"
                                   "server = a\0b\n";
    struct scratch s;
    struct conf_diag diag;

    (void)state;
    assert_null(conf_load("/nonexistent/xmta.conf", &diag));
    assert_string_equal(diag.file, "/nonexistent/xmta.conf");
    assert_int_equal(diag.line, 0);
    assert_non_null(strstr(diag.msg, "No such file or directory"));

    scratch_make(&s, "", NULL);
    write_file(s.conf, with_nul, sizeof with_nul - 1);
    assert_null(conf_load(s.conf, &diag));
    assert_int_equal(diag.line, 3);
    assert_non_null(strstr(diag.msg, "NUL"));
    scratch_remove(&s);

    /* the same error from a file gives the same line as from a string */
    scratch_make(&s, COMP "port = 70000\n", NULL);
    assert_null(conf_load(s.conf, &diag));
    assert_string_equal(diag.file, s.conf);
    assert_int_equal(diag.line, 5);
    assert_non_null(strstr(diag.msg, "bad port"));
    scratch_remove(&s);
}

/* on_resolve, heartbeat, heartbeat_forward: defaults and values. */
static void test_conf_lifecycle(void **state)
{
    static const struct {
        const char *v;
        unsigned secs;
    } beats[] = {{"1s", 1},    {"90", 90},       {"15m", 900},
                 {"2h", 7200}, {"168h", 604800}, {"off", 0}};
    struct conf_diag diag;
    struct conf *c;
    char text[512];

    (void)state;
    c = conf_load_string(COMP HOOK_A, "l.conf", &diag);
    assert_non_null(c);
    assert_int_equal(c->hooks[0].on_resolve_correct, 0); /* new */
    assert_int_equal(c->hooks[0].heartbeat, 0);
    assert_int_equal(c->hooks[0].heartbeat_forward, 0);
    conf_free(c);
    c = conf_load_string(COMP HOOK_A "on_resolve = correct\n"
                                     "heartbeat_forward = yes\n",
                         "l.conf", &diag);
    assert_non_null(c);
    assert_int_equal(c->hooks[0].on_resolve_correct, 1);
    assert_int_equal(c->hooks[0].heartbeat_forward, 1);
    conf_free(c);
    for (size_t i = 0; i < sizeof(beats) / sizeof(*beats); i++) {
        snprintf(text, sizeof(text), COMP HOOK_A "heartbeat = %s\n",
                 beats[i].v);
        if (!(c = conf_load_string(text, "l.conf", &diag)))
            fail_msg("%s: %d: %s", beats[i].v, diag.line, diag.msg);
        assert_int_equal(c->hooks[0].heartbeat, beats[i].secs);
        conf_free(c);
    }
}

static void test_conf_example(void **state)
{
    const char *path = XMTA_SOURCE_DIR "/conf/xmta.conf.example";
    struct conf_diag diag;
    struct conf *c = conf_load(path, &diag);

    (void)state;
    if (!c)
        fail_msg("%s:%d: %s", diag.file, diag.line, diag.msg);
    assert_string_equal(c->domain, "notify.example.org");
    assert_non_null(c->secret);
    assert_true(c->n_hooks >= 1);
    for (size_t i = 0; i < c->n_hooks; i++) {
        const struct conf_hook *h = &c->hooks[i];

        assert_ptr_equal(conf_hook_by_token(c, h->token), h);
        assert_true(h->n_to + h->n_rooms + h->n_allow_to > 0);
    }
    conf_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf_good),
        cmocka_unit_test(test_conf_defaults),
        cmocka_unit_test(test_conf_bad),
        cmocka_unit_test(test_conf_issue6),
        cmocka_unit_test(test_conf_spool),
        cmocka_unit_test(test_conf_reply),
        cmocka_unit_test(test_conf_upload_service),
        cmocka_unit_test(test_conf_production),
        cmocka_unit_test(test_conf_by_token),
        cmocka_unit_test(test_conf_parse_size),
        cmocka_unit_test(test_conf_secret_file),
        cmocka_unit_test(test_conf_file_errors),
        cmocka_unit_test(test_conf_lifecycle),
        cmocka_unit_test(test_conf_example),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
