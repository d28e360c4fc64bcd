/* SPDX-License-Identifier: MIT */
/* fmt_generic.c -- the generic fields (body.c decodes them), JSON of no
 * known format as indented YAML-like text, and the raw text body. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "http/format.h"
#include "xml/err.h"

static int generic_match(const json_t *root, const struct fmt_request *rq)
{
    (void)rq;
    return fmt_jstr(root, "body") != NULL;
}

/* Used with a template over a non-JSON body, and for forced text. */
static int raw_render(const json_t *root,
                      const struct fmt_request *rq,
                      struct rbuf *b,
                      char *err,
                      size_t errlen)
{
    (void)root;
    (void)err;
    (void)errlen;
    rbuf_put(b, rq->data, rq->len);
    return 0;
}

static int json_match(const json_t *root, const struct fmt_request *rq)
{
    (void)rq;
    return root != NULL;
}

static int json_render(const json_t *root,
                       const struct fmt_request *rq,
                       struct rbuf *b,
                       char *err,
                       size_t errlen)
{
    (void)rq;
    if (json_object_size(root) == 0) {
        snprintf(err, errlen, "empty JSON object");
        return XMTA_E_INVAL;
    }
    fmt_yaml(b, root, 0);
    return 0;
}

const struct fmt_def fmt_generic = {
    .name = "generic",
    .expect = "the generic fields (body, text, message, title, to, room)",
    .reply = FMT_REPLY_JSON,
    .json = 0,
    .match = generic_match,
    .render = raw_render,
};

const struct fmt_def fmt_json = {
    .name = "json",
    .expect = "a JSON object",
    .reply = FMT_REPLY_JSON,
    .json = 1,
    .match = json_match,
    .render = json_render,
};

const struct fmt_def fmt_text = {
    .name = "text",
    .expect = "a text body",
    .reply = FMT_REPLY_JSON,
    .json = 0,
    .match = NULL,
    .render = raw_render,
};
