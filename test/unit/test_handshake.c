/* SPDX-License-Identifier: MIT */
/* test_handshake.c -- the XEP-0114 handshake digest against the vectors in
 * PROTOCOL.md 1.3 (computed with sha1sum), plus its argument checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "component/component.h"
#include "xml/err.h"

static void test_vectors(void **state)
{
    static const struct {
        const char *id, *secret, *digest;
    } v[] = {
        {"3BF96D32", "s3cr3t", "ba33290100f616a33656a931798d6c9011cfa840"},
        {"4a7c5d2e-9b1f-4c3a-8e6d-2f0b1a9c8d7e", "s3cr3t",
         "7771c2173aecfd1aa51b667626dc6832b795c64a"},
        {"2134850421482982730", "s3cr3t",
         "cd46598e64e185410fa5f152933fae4525cd2708"},
    };

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char out[41];

        memset(out, 'X', sizeof(out));
        assert_int_equal(comp_handshake_digest(v[i].id, v[i].secret, out), 0);
        assert_string_equal(out, v[i].digest);
    }
}

static void test_lowercase_and_order(void **state)
{
    char a[41], b[41];

    /* Concatenation order matters: id first, then the secret. */
    assert_int_equal(comp_handshake_digest("s3cr3t", "3BF96D32", a), 0);
    assert_string_not_equal(a, "ba33290100f616a33656a931798d6c9011cfa840");
    /* Same concatenation, split differently: same digest. */
    assert_int_equal(comp_handshake_digest("3BF96D32s3c", "r3t", b), 0);
    assert_string_equal(b, "ba33290100f616a33656a931798d6c9011cfa840");
    for (size_t i = 0; i < 40; i++)
        assert_true((a[i] >= '0' && a[i] <= '9') ||
                    (a[i] >= 'a' && a[i] <= 'f'));
    assert_int_equal(strlen(a), 40);
}

static void test_invalid(void **state)
{
    char out[41];

    assert_int_equal(comp_handshake_digest(NULL, "s", out), XMTA_E_INVAL);
    assert_int_equal(comp_handshake_digest("id", NULL, out), XMTA_E_INVAL);
    assert_int_equal(comp_handshake_digest("id", "s", NULL), XMTA_E_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_lowercase_and_order),
        cmocka_unit_test(test_invalid),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
