/* SPDX-License-Identifier: MIT */
/* test_route.c -- the request-path router (http/route.c): which handler,
 * the percent-decoded token and the format name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http/internal.h"

static void test_routes(void **state)
{
    static const struct {
        const char *path;
        enum http_route_kind kind;
        const char *token;  /* NULL: none */
        const char *format; /* NULL: none */
    } cases[] = {
        {"/health", HTTP_ROUTE_HEALTH, NULL, NULL},
        {"/metrics", HTTP_ROUTE_METRICS, NULL, NULL},
        {"/hook", HTTP_ROUTE_HOOK, NULL, NULL},
        {"/hook/", HTTP_ROUTE_HOOK, NULL, NULL},
        {"/hook/tok123", HTTP_ROUTE_HOOK, "tok123", NULL},
        {"/hook/tok123/", HTTP_ROUTE_HOOK, "tok123", NULL},
        {"/hook/tok123/slack", HTTP_ROUTE_HOOK, "tok123", "slack"},
        {"/hook/tok/a/b", HTTP_ROUTE_HOOK, "tok", "a/b"},
        {"/hook/a%2Fb%41%6a+c/json", HTTP_ROUTE_HOOK, "a/bAj+c", "json"},
        {"/hook/%4/x%2", HTTP_ROUTE_HOOK, "%4", "x%2"},
        {"/hook/%zz%", HTTP_ROUTE_HOOK, "%zz%", NULL},
        {"/hook/ab%00cd", HTTP_ROUTE_HOOK, "", NULL},
        {"/hook//json", HTTP_ROUTE_HOOK, "", "json"},
        {"/health/", HTTP_ROUTE_NONE, NULL, NULL},
        {"/Health", HTTP_ROUTE_NONE, NULL, NULL},
        {"/metrics2", HTTP_ROUTE_NONE, NULL, NULL},
        {"/hooks", HTTP_ROUTE_NONE, NULL, NULL},
        {"//hook/x", HTTP_ROUTE_NONE, NULL, NULL},
        {"/", HTTP_ROUTE_NONE, NULL, NULL},
        {"", HTTP_ROUTE_NONE, NULL, NULL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct http_route r;

        assert_int_equal(http_route(cases[i].path, &r), 0);
        assert_int_equal(r.kind, cases[i].kind);
        if (cases[i].token)
            assert_string_equal(r.token, cases[i].token);
        else
            assert_null(r.token);
        if (cases[i].format)
            assert_string_equal(r.format, cases[i].format);
        else
            assert_null(r.format);
        http_route_clear(&r);
        assert_null(r.token);
        assert_int_equal(r.kind, HTTP_ROUTE_NONE);
    }
}

static void test_no_path(void **state)
{
    struct http_route r = {.kind = HTTP_ROUTE_HOOK};

    assert_int_equal(http_route(NULL, &r), 0);
    assert_int_equal(r.kind, HTTP_ROUTE_NONE);
    assert_null(r.token);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_no_path),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
