/* SPDX-License-Identifier: MIT */
/* signature.c -- webhook signatures: GitHub, Gitea, GitLab and a generic
 * HMAC-SHA256 header, compared in constant time. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "http/format.h"
#include "http/internal.h"
#include "xml/err.h"

#define SIG_LEN 32 /* SHA-256 */

/* "sha256=HEX" (prefix optional unless required) to 32 bytes. */
static int sig_parse(const char *v, int need_prefix, unsigned char out[SIG_LEN])
{
    v += strspn(v, " \t");
    if (strncasecmp(v, "sha256=", 7) == 0)
        v += 7;
    else if (need_prefix)
        return -1;
    for (int i = 0; i < SIG_LEN; i++) {
        int hi = http_hex_digit(v[2 * i]),
            lo = hi < 0 ? -1 : http_hex_digit(v[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    v += 2 * SIG_LEN;
    v += strspn(v, " \t");
    return *v ? -1 : 0;
}

static int hmac_ok(const struct fmt_request *rq,
                   const char *secret,
                   const char *value,
                   int need_prefix)
{
    unsigned char want[EVP_MAX_MD_SIZE], got[SIG_LEN];
    unsigned int wlen = 0;

    if (sig_parse(value, need_prefix, got) != 0)
        return 0;
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret),
              (const unsigned char *)rq->data, rq->len, want, &wlen) ||
        wlen != SIG_LEN)
        return 0;
    return CRYPTO_memcmp(want, got, SIG_LEN) == 0;
}

int fmt_signature_check(const struct fmt_request *rq,
                        const char *secret,
                        const char *generic,
                        char *err,
                        size_t errlen)
{
    const char *v;
    int ok;

    if ((v = fmt_header_get(rq, "X-Hub-Signature-256")) != NULL)
        ok = hmac_ok(rq, secret, v, 1);
    else if ((v = fmt_header_get(rq, "X-Gitea-Signature")) != NULL)
        ok = hmac_ok(rq, secret, v, 0);
    else if ((v = fmt_header_get(rq, "X-Gitlab-Token")) != NULL) {
        size_t a = strlen(v), b = strlen(secret);

        /* length differences leak only the length */
        ok = a == b && CRYPTO_memcmp(v, secret, a) == 0;
    } else if ((v = fmt_header_get(rq, generic ? generic
                                               : "X-Xmta-Signature")) != NULL)
        ok = hmac_ok(rq, secret, v, 0);
    else {
        snprintf(err, errlen, "missing signature");
        return XMTA_E_DENIED;
    }
    if (!ok) {
        snprintf(err, errlen, "bad signature");
        return XMTA_E_DENIED;
    }
    return 0;
}
