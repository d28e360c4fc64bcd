/* SPDX-License-Identifier: MIT */
/* fuzz_route.c -- libFuzzer target for the request-path router
 * (http/route.c). The input, up to its first NUL, is the path.
 *
 * Properties checked (abort() on violation):
 *  - the kind is exactly what the paths promise: "/health", "/metrics",
 *    "/hook" and "/hook/..." and nothing else (no prefix, case or slash
 *    games);
 *  - a token is given only for /hook/TOKEN, never holds a NUL, is the
 *    segment itself when it has no '%', and is never longer than it;
 *  - the format points into the path right after the token's slash;
 *  - the token and format percent-encoded back into /hook/TOKEN/FORMAT
 *    (upper- or lowercase hex) route to the same token and format. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static enum http_route_kind expected_kind(const char *p)
{
    if (strcmp(p, "/health") == 0)
        return HTTP_ROUTE_HEALTH;
    if (strcmp(p, "/metrics") == 0)
        return HTTP_ROUTE_METRICS;
    if (strcmp(p, "/hook") == 0 || strncmp(p, "/hook/", 6) == 0)
        return HTTP_ROUTE_HOOK;
    return HTTP_ROUTE_NONE;
}

static void check_route(const char *p, const struct http_route *r)
{
    const char *seg = p + 6, *end;
    size_t slen;

    if (r->kind != expected_kind(p))
        abort();
    if (r->kind != HTTP_ROUTE_HOOK || strcmp(p, "/hook") == 0 ||
        strcmp(p, "/hook/") == 0) {
        if (r->token || r->format)
            abort();
        return;
    }
    slen = strcspn(seg, "/");
    end = seg + slen;
    if (!r->token || strlen(r->token) > slen)
        abort();
    if (!memchr(seg, '%', slen) &&
        (strlen(r->token) != slen || memcmp(r->token, seg, slen) != 0))
        abort();
    if (*end == '/' && end[1]) {
        if (r->format != end + 1)
            abort();
    } else if (r->format) {
        abort();
    }
}

/* "/hook/" + token with every byte as %XX + "/" + format. Malloc'd. */
static char *encode_path(const char *token, const char *format, int lower)
{
    static const char up[] = "0123456789ABCDEF", low[] = "0123456789abcdef";
    const char *hex = lower ? low : up;
    size_t tl = strlen(token), fl = format ? strlen(format) : 0;
    char *p = malloc(6 + 3 * tl + 1 + fl + 1), *o;

    if (!p)
        abort();
    o = p + 6;
    memcpy(p, "/hook/", 6);
    for (size_t i = 0; i < tl; i++) {
        unsigned char c = (unsigned char)token[i];

        *o++ = '%';
        *o++ = hex[c >> 4];
        *o++ = hex[c & 15];
    }
    if (format) {
        *o++ = '/';
        memcpy(o, format, fl);
        o += fl;
    }
    *o = '\0';
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_route r, r2;
    char *path, *again;
    size_t n = 0;

    while (n < size && data[n] != 0)
        n++;
    if (!(path = malloc(n + 1)))
        return 0;
    memcpy(path, data, n);
    path[n] = '\0';

    if (http_route(path, &r) != 0)
        abort(); /* only out of memory */
    check_route(path, &r);
    if (r.token && r.token[0]) {
        again = encode_path(r.token, r.format, size & 1);
        if (http_route(again, &r2) != 0 || r2.kind != HTTP_ROUTE_HOOK ||
            !r2.token || strcmp(r2.token, r.token) != 0 ||
            (!r.format != !r2.format) ||
            (r.format && strcmp(r.format, r2.format) != 0)) {
            fprintf(stderr, "round trip failed: %s -> %s\n", path, again);
            abort();
        }
        http_route_clear(&r2);
        free(again);
    }
    http_route_clear(&r);
    if (r.token || r.format || r.kind != HTTP_ROUTE_NONE)
        abort();
    free(path);
    return 0;
}
