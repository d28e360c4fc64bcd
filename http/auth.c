/* SPDX-License-Identifier: MIT */
/* auth.c -- webhook tokens: plaintext or SHA-256, compared in constant
 * time through their digests. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "conf/conf.h"
#include "http/internal.h"

#define AUTH_TOKEN_MAX 4096 /* longer: matches nothing, not hashed */

unsigned char *http_auth_digests(const struct conf *cfg)
{
    unsigned char *d = calloc(cfg->n_hooks ? cfg->n_hooks : 1, 32);

    for (size_t i = 0; d && i < cfg->n_hooks; i++) {
        const struct conf_hook *hk = &cfg->hooks[i];

        if (hk->has_token_sha256)
            memcpy(d + 32 * i, hk->token_sha256, 32);
        else if (hk->token)
            SHA256((const unsigned char *)hk->token, strlen(hk->token),
                   d + 32 * i);
    }
    return d;
}

const struct conf_hook *http_auth_find(const struct conf *cfg,
                                       const unsigned char *digests,
                                       const char *token)
{
    unsigned char md[32];
    size_t len, pick = 0;

    if (!cfg || !digests || !token)
        return NULL;
    len = strnlen(token, AUTH_TOKEN_MAX + 1);
    if (len == 0 || len > AUTH_TOKEN_MAX)
        return NULL;
    SHA256((const unsigned char *)token, len, md);
    /* Every hook is compared and the match picked with a mask: the time
     * does not depend on which hook matched, or how much. */
    for (size_t i = 0; i < cfg->n_hooks; i++) {
        size_t eq = CRYPTO_memcmp(md, digests + 32 * i, 32) == 0;

        pick |= (0 - eq) & (i + 1);
    }
    OPENSSL_cleanse(md, sizeof(md));
    return pick ? &cfg->hooks[pick - 1] : NULL;
}

void http_auth_sha256_hex(const char *token, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[32];

    SHA256((const unsigned char *)token, strlen(token), md);
    for (size_t i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
    OPENSSL_cleanse(md, sizeof(md));
}
