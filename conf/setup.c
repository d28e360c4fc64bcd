/* SPDX-License-Identifier: MIT */
/* setup.c -- the registration block `xmta setup prosody|ejabberd` prints:
 * the exact server-side text for the configured domain, port and secret
 * (PROTOCOL.md 3.1, 3.2). */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "xml/err.h"

/* A growing text buffer; failed is sticky. */
struct setup_buf {
    char *s;
    size_t len, cap;
    int failed;
};

static void setup_put(struct setup_buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *ns;

        while (cap < b->len + n + 1)
            cap *= 2;
        if (!(ns = realloc(b->s, cap))) {
            b->failed = 1;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

__attribute__((format(printf, 2, 3))) static void
setup_printf(struct setup_buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        b->failed = 1;
        return;
    }
    setup_put(b, tmp, (size_t)n);
}

/* s as the body of a double-quoted string: Lua (\ddd escapes) or YAML
 * (\xHH escapes) for backslash, quote and control bytes; UTF-8 as is. */
static void setup_quoted(struct setup_buf *b, const char *s, int yaml)
{
    setup_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch == '\\' || ch == '"') {
            char esc[2] = {'\\', (char)ch};

            setup_put(b, esc, 2);
        } else if (ch < 0x20 || ch == 0x7F) {
            if (yaml)
                setup_printf(b, "\\x%02X", ch);
            else
                setup_printf(b, "\\%03u", ch);
        } else {
            setup_put(b, s, 1);
        }
    }
    setup_put(b, "\"", 1);
}

/* The address the server should listen on for the component: the
 * configured server when it is an address literal ("localhost" as
 * 127.0.0.1), else NULL (a host name: the admin picks the interface). */
static const char *setup_listen_ip(const struct conf *c)
{
    unsigned char addr[16];

    if (!c->server)
        return NULL;
    if (strcmp(c->server, "localhost") == 0)
        return "127.0.0.1";
    if (inet_pton(AF_INET, c->server, addr) == 1 ||
        inet_pton(AF_INET6, c->server, addr) == 1)
        return c->server;
    return NULL;
}

static void setup_prosody(struct setup_buf *b, const struct conf *c)
{
    const char *ip = setup_listen_ip(c);

    setup_printf(b,
                 "-- xmta: in the global section of prosody.cfg.lua (before "
                 "any VirtualHost),\n"
                 "-- unless already set:\n"
                 "--   component_ports = { %u }\n",
                 (unsigned)c->port);
    if (ip)
        setup_printf(b, "--   component_interfaces = { \"%s\" }\n", ip);
    setup_printf(b, "-- and this section at the end:\n");
    setup_put(b, "Component ", 10);
    setup_quoted(b, c->domain, 0);
    setup_put(b, "\n    component_secret = ", 24);
    setup_quoted(b, c->secret, 0);
    setup_printf(b, "\n    component_conflict_resolve = \"kick_old\"\n"
                    "    -- two xmta for this domain (one a standby): "
                    "\"kick_new\" instead\n");
}

static void setup_ejabberd(struct setup_buf *b, const struct conf *c)
{
    const char *ip = setup_listen_ip(c);

    setup_printf(b, "# xmta: add this item to the listen: list of "
                    "ejabberd.yml\n"
                    "  -\n");
    setup_printf(b, "    port: %u\n", (unsigned)c->port);
    if (ip)
        setup_printf(b, "    ip: \"%s\"\n", ip);
    else
        setup_printf(b, "    # ip: \"127.0.0.1\"  (the default is every "
                        "IPv4 address)\n");
    setup_printf(b, "    module: ejabberd_service\n"
                    "    hosts:\n"
                    "      ");
    setup_quoted(b, c->domain, 1);
    setup_printf(b, ":\n        password: ");
    setup_quoted(b, c->secret, 1);
    setup_put(b, "\n", 1);
}

int conf_setup_text(const struct conf *c, const char *server, char **out)
{
    struct setup_buf b = {0};

    if (!c || !server || !out || !c->domain || !c->secret)
        return XMTA_E_INVAL;
    *out = NULL;
    if (strcmp(server, "prosody") == 0)
        setup_prosody(&b, c);
    else if (strcmp(server, "ejabberd") == 0)
        setup_ejabberd(&b, c);
    else
        return XMTA_E_INVAL;
    if (b.failed || !b.s) {
        free(b.s);
        return XMTA_E_NOMEM;
    }
    *out = b.s;
    return 0;
}
