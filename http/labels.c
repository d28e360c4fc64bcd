/* SPDX-License-Identifier: MIT */
/* labels.c -- the label set an "ack" silences (see labels.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "http/labels.h"

/* obj when it is a non-empty object of strings only. */
static json_t *labels_usable(json_t *obj)
{
    const char *k;
    json_t *v;

    if (!json_is_object(obj) || json_object_size(obj) == 0)
        return NULL;
    json_object_foreach(obj, k, v)
    {
        if (!json_is_string(v))
            return NULL;
    }
    return obj;
}

char *http_am_labels(const char *data, size_t len)
{
    json_t *root = json_loadb(data, len, 0, NULL), *alerts, *pick = NULL;
    char *out = NULL;

    alerts = json_object_get(root, "alerts");
    if (!json_is_array(alerts) || !json_object_get(root, "groupKey"))
        goto out; /* not Alertmanager's */
    if (json_array_size(alerts) == 1)
        pick =
            labels_usable(json_object_get(json_array_get(alerts, 0), "labels"));
    if (!pick)
        pick = labels_usable(json_object_get(root, "commonLabels"));
    if (!pick)
        pick = labels_usable(json_object_get(root, "groupLabels"));
    if (pick)
        out = json_dumps(pick, JSON_COMPACT | JSON_SORT_KEYS);
out:
    json_decref(root);
    return out;
}

static char *attach_ok(const char *s)
{
    if (!s || strlen(s) > 2000 || strpbrk(s, " \t\r\n") ||
        (strncasecmp(s, "https://", 8) != 0 &&
         strncasecmp(s, "http://", 7) != 0))
        return NULL;
    return strdup(s);
}

char *http_attach_url(const char *data, size_t len, const char *query)
{
    static const char *const keys[] = {"attach", "imageURL", "image_url"};
    struct evkeyvalq q;
    json_t *root;
    char *out = NULL;

    if (query && evhttp_parse_query_str(query, &q) == 0) {
        out = attach_ok(evhttp_find_header(&q, "attach"));
        evhttp_clear_headers(&q);
        if (out)
            return out;
    }
    root = json_loadb(data, len, 0, NULL);
    for (size_t i = 0; !out && json_is_object(root) && i < 3; i++)
        out = attach_ok(json_string_value(json_object_get(root, keys[i])));
    if (!out)
        out = attach_ok(json_string_value(json_object_get(
            json_array_get(json_object_get(root, "attachments"), 0),
            "image_url")));
    json_decref(root);
    return out;
}
