/* SPDX-License-Identifier: MIT */
/* auth.c -- webhook tokens: plaintext or SHA-256, compared in constant
 * time through their digests. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "conf/conf.h"
#include "http/internal.h"

#define AUTH_TOKEN_MAX 4096 /* longer: matches nothing, not hashed */

/* SHA-256 of a request's token. OpenSSL 3's SHA256() looks the algorithm
 * up and allocates a context on every call, more than half of its cost
 * for a token (issue 8's profile): both are kept here. 0 or -1. */
static int auth_sha256(const char *s, size_t len, unsigned char md[32])
{
    static EVP_MD *sha256;
    static EVP_MD_CTX *ctx;

#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    if (!sha256 && !(sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)))
        return -1;
#else
    sha256 = (EVP_MD *)EVP_sha256();
#endif
    if (!ctx && !(ctx = EVP_MD_CTX_new()))
        return -1;
    if (EVP_DigestInit_ex(ctx, sha256, NULL) != 1 ||
        EVP_DigestUpdate(ctx, s, len) != 1 ||
        EVP_DigestFinal_ex(ctx, md, NULL) != 1)
        return -1;
    return 0;
}

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
    if (auth_sha256(token, len, md) != 0)
        return NULL;
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
