/* SPDX-License-Identifier: MIT */
/* fixture.h -- the unit tests' reader of test/fixtures (XMTA_FIXTURES_DIR,
 * set by test/http.cmake). Include after <cmocka.h>. */
#ifndef XMTA_TEST_FIXTURE_H
#define XMTA_TEST_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

/* The fixture file's bytes, NUL-terminated and malloc'd; *len their count
 * (a missing or empty file fails the test). */
static char *fixture_read(const char *name, size_t *len)
{
    char path[1024];
    FILE *f;
    char *buf;
    long n;

    snprintf(path, sizeof(path), "%s/%s", XMTA_FIXTURES_DIR, name);
    f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

#endif
