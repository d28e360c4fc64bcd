/* SPDX-License-Identifier: MIT */
/* fuzz_fmt_tmpl.c -- the template compiler over arbitrary source, and the
 * renderer of what compiles over a fixed Alertmanager-like payload. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "http/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char payload[] =
    "{\"status\":\"firing\",\"version\":\"4\",\"title\":\"T\","
    "\"groupLabels\":{\"alertname\":\"A_b\"},\"n\":1700000000,\"e\":[],"
    "\"o\":{\"k\":\"V\",\"n\":null},\"x\":[{\"y\":[1,\"2\"]}],"
    "\"alerts\":[{\"status\":\"firing\",\"labels\":{\"instance\":\"h\"},"
    "\"annotations\":{\"summary\":\"s *x*\"},\"startsAt\":"
    "\"2024-05-01T12:03:00.5+02:00\",\"endsAt\":\"0001-01-01T00:00:00Z\","
    "\"values\":{\"B\":1.5}},{\"status\":\"resolved\",\"labels\":{}}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *src = malloc(size + 1), err[256], *text;
    struct tmpl *t;
    struct rbuf b = {0};
    json_t *root;

    if (!src)
        return 0;
    memcpy(src, data, size);
    src[size] = '\0'; /* an embedded NUL ends the template, as in conf */
    t = tmpl_compile(src, err, sizeof(err));
    if (t && (root = json_loads(payload, 0, NULL)) != NULL) {
        tmpl_render(t, root, &b);
        text = rbuf_take(&b);
        free(fmt_cut(text, 200));
        json_decref(root);
    }
    tmpl_free(t);
    free(src);
    return 0;
}
