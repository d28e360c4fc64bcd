/* SPDX-License-Identifier: MIT */
/* labels.c -- the label set an "ack" silences (see labels.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "http/labels.h"
#include "xml/msg.h"

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

/* 1 when data[0..len) holds needle (memmem is a GNU extension). */
static int has_text(const char *data, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    const char *p = data, *end = data + len;

    while ((size_t)(end - p) >= n &&
           (p = memchr(p, needle[0], (size_t)(end - p) - n + 1))) {
        if (memcmp(p, needle, n) == 0)
            return 1;
        p++;
    }
    return 0;
}

int http_am_alert(const char *data, size_t len, struct msg *m)
{
    json_t *root, *alerts, *a;
    const char *key, *status;
    size_t i;
    json_int_t trunc;
    unsigned firing = 0;
    int rc = 0;

    /* Most payloads are not alert groups: no second parse for them. */
    if (!has_text(data, len, "\"groupKey\""))
        return 0;
    root = json_loadb(data, len, 0, NULL);
    alerts = json_object_get(root, "alerts");
    key = json_string_value(json_object_get(root, "groupKey"));
    status = json_string_value(json_object_get(root, "status"));
    if (!json_is_array(alerts) || !key || !*key || !status ||
        (strcmp(status, "firing") != 0 && strcmp(status, "resolved") != 0))
        goto out;
    json_array_foreach(alerts, i, a)
    {
        const char *st = json_string_value(json_object_get(a, "status"));

        if (st && strcmp(st, "firing") == 0)
            firing++;
    }
    trunc = json_integer_value(json_object_get(root, "truncatedAlerts"));
    if (strcmp(status, "firing") == 0 && trunc > 0 && trunc < 1000000)
        firing += (unsigned)trunc; /* not listed, counted as firing */
    if (!(m->group = strdup(key))) {
        rc = -1;
        goto out;
    }
    m->alert =
        strcmp(status, "firing") == 0 ? MSG_ALERT_FIRING : MSG_ALERT_RESOLVED;
    m->firing = m->alert == MSG_ALERT_FIRING ? firing : 0;
out:
    json_decref(root);
    return rc;
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
