/* SPDX-License-Identifier: MIT */
/* route.c -- which handler a request path goes to, and the token and
 * format name a /hook path carries. Pure: no libevent, no I/O (fuzzed by
 * test/fuzz/fuzz_route.c). */
#include <stdlib.h>
#include <string.h>

#include "http/internal.h"
#include "xml/err.h"

/* The n bytes at s percent-decoded as evhttp_uridecode() does ("%XX" with
 * two hex digits is a byte, anything else is itself, '+' stays '+').
 * Malloc'd; "" when a byte decodes to NUL (such a token matches none);
 * NULL when out of memory. */
static char *route_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    size_t o = 0;

    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;

        if (s[i] == '%' && i + 2 < n && (hi = http_hex_digit(s[i + 1])) >= 0 &&
            (lo = http_hex_digit(s[i + 2])) >= 0) {
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    if (strlen(out) != o)
        out[0] = '\0';
    return out;
}

int http_route(const char *path, struct http_route *out)
{
    const char *tok, *slash;
    size_t tlen;

    memset(out, 0, sizeof(*out));
    if (!path)
        return 0; /* HTTP_ROUTE_NONE */
    if (strcmp(path, "/health") == 0) {
        out->kind = HTTP_ROUTE_HEALTH;
        return 0;
    }
    if (strcmp(path, "/metrics") == 0) {
        out->kind = HTTP_ROUTE_METRICS;
        return 0;
    }
    if (strcmp(path, "/hook") == 0) {
        out->kind = HTTP_ROUTE_HOOK; /* the token in Authorization */
        return 0;
    }
    if (strncmp(path, "/hook/", 6) != 0)
        return 0;
    out->kind = HTTP_ROUTE_HOOK;
    tok = path + 6;
    if (*tok == '\0')
        return 0; /* "/hook/": as "/hook" */
    tlen = strcspn(tok, "/");
    slash = tok[tlen] == '/' ? tok + tlen : NULL;
    if (slash && slash[1])
        out->format = slash + 1;
    if (!(out->token = route_decode(tok, tlen))) {
        memset(out, 0, sizeof(*out));
        return XMTA_E_NOMEM;
    }
    return 0;
}

void http_route_clear(struct http_route *r)
{
    if (r->token) {
        explicit_bzero(r->token, strlen(r->token));
        free(r->token);
    }
    memset(r, 0, sizeof(*r));
}
