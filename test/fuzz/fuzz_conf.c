/* SPDX-License-Identifier: MIT */
/* fuzz_conf.c -- libFuzzer target for the configuration loader and the
 * checks http/ adds to it (xmta check): they must never crash, whatever
 * they accept must be complete and consistent, and a refusal names the
 * file and a line of the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "http/http.h"
#include "xml/err.h"

/* A loaded configuration must hold what conf.h promises. */
static void fuzz_conf_check(const struct conf *c)
{
    if (!c->domain || !c->server || !c->secret || !c->secret[0] || !c->path ||
        c->port == 0 || c->n_listen == 0 || c->max_body == 0 ||
        c->queue_max == 0 || c->ping_interval < 5 || c->ping_timeout == 0 ||
        c->keepalive == 0)
        abort();
    for (size_t i = 0; i < c->n_listen; i++) {
        if (!c->listen[i].host || !c->listen[i].host[0])
            abort();
    }
    for (size_t i = 0; i < c->n_hooks; i++) {
        const struct conf_hook *h = &c->hooks[i];

        /* token = or token_sha256 =, exactly one */
        if (!h->token == !h->has_token_sha256 ||
            (h->token && strlen(h->token) < 16))
            abort();
        if (!h->name || !h->from || !h->from[0] || !h->nick || !h->nick[0] ||
            h->n_to + h->n_rooms + h->n_allow_to == 0 || h->line <= 0)
            abort();
        if (h->type != MSG_CHAT && h->type != MSG_NORMAL &&
            h->type != MSG_HEADLINE)
            abort();
        if (h->token && conf_hook_by_token(c, h->token) != h)
            abort();
        for (size_t k = 0; k < h->n_rooms; k++) {
            if (strchr(h->rooms[k], '/') || !strchr(h->rooms[k], '@'))
                abort();
        }
        for (size_t k = 0; k < h->n_to; k++) {
            if (!strchr(h->to[k], '@'))
                abort();
        }
    }
}

static int fuzz_conf_has(const uint8_t *data, size_t size, const char *word)
{
    size_t n = strlen(word);

    for (size_t i = 0; i + n <= size; i++) {
        if (memcmp(data + i, word, n) == 0)
            return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct conf_diag diag;
    struct conf *c;
    char *text;
    int lines = 1;

    /* secret_file would read whatever file the input names, /dev/stdin
     * included, and block; the loader's file handling has unit tests. */
    if (fuzz_conf_has(data, size, "secret_file"))
        return 0;
    if (!(text = malloc(size + 1)))
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';

    c = conf_load_string(text, "fuzz.conf", &diag);
    if (c) {
        char *cert = c->tls_cert, *key = c->tls_key;
        int rc;

        fuzz_conf_check(c);
        /* Not the certificate files: they are whatever the input names
         * (tests/integration/https.sh loads real ones). */
        c->tls_cert = c->tls_key = NULL;
        memset(&diag, 0, sizeof(diag));
        rc = http_conf_check(c, &diag);
        if (rc != 0 && (rc != XMTA_E_INVAL || !diag.msg[0] || diag.line < 0 ||
                        diag.line > lines ||
                        strcmp(diag.file, c->path ? c->path : "config") != 0))
            abort();
        c->tls_cert = cert;
        c->tls_key = key;
        conf_free(c);
    } else if (!diag.msg[0] || diag.line < 0 || diag.line > lines ||
               strcmp(diag.file, "fuzz.conf") != 0) {
        abort();
    }
    free(text);
    return 0;
}
