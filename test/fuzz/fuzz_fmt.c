/* SPDX-License-Identifier: MIT */
/* fuzz_fmt.c -- every webhook decoder over arbitrary bytes: detection
 * and each forced format, with JSON, form and text content types, the
 * forge event headers and a small max_message. The tree a successful
 * decode hands over must be the body parsed on its own (what the alert
 * lifecycle, labels and attachment read). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "http/body.h"
#include "http/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const formats[] = {
    NULL,     "alertmanager", "grafana", "grafana-legacy", "slack",  "discord",
    "ntfy",   "gotify",       "kuma",    "teams",          "github", "gitea",
    "gitlab", "generic",      "json",    "text",
};

static const char *const ctypes[] = {
    "application/json", "application/x-www-form-urlencoded", "text/plain",
    "multipart/form-data; boundary=XX", NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The input's first line is also a header value (RFC 2047 words). */
    char title[256];
    size_t tl = 0;

    while (tl < size && tl + 1 < sizeof(title) && data[tl] != '\n' &&
           data[tl] != '\0') {
        title[tl] = (char)data[tl];
        tl++;
    }
    title[tl] = '\0';

    const struct fmt_header hdrs[] = {
        {"X-GitHub-Event", "push"},
        {"X-Gitea-Event", "pull_request"},
        {"X-Gitlab-Event", "Push Hook"},
        {"Title", title},
        {"Tags", "fire,x"},
        {"Priority", "5"},
    };

    json_t *alone = json_loadb((const char *)data, size, 0, NULL);

    if (alone && !json_is_object(alone)) {
        json_decref(alone);
        alone = NULL;
    }
    for (size_t c = 0; c < sizeof(ctypes) / sizeof(ctypes[0]); c++) {
        for (size_t f = 0; f < sizeof(formats) / sizeof(formats[0]); f++) {
            struct fmt_request rq = {.content_type = ctypes[c],
                                     .data = (const char *)data,
                                     .len = size,
                                     .query = "t=x&to=a%40b.c",
                                     .headers = hdrs,
                                     .n_headers = f % 7};
            struct body_fields out;
            const struct fmt_def *used;
            json_t *tree;
            char err[BODY_ERR_MAX];

            if (format_decode(formats[f] ? format_find(formats[f]) : NULL, NULL,
                              &rq, f % 2 ? 120 : 0, &out, &used, &tree, err,
                              sizeof(err)) != 0) {
                if (tree)
                    abort();
                continue;
            }
            if (!tree != !alone || (tree && !json_equal(tree, alone)))
                abort();
            json_decref(tree);
            body_fields_clear(&out);
        }
    }
    json_decref(alone);
    return 0;
}
