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

char *http_am_labels(const json_t *payload)
{
    json_t *alerts, *pick = NULL;

    alerts = json_object_get(payload, "alerts");
    if (!json_is_array(alerts) || !json_object_get(payload, "groupKey"))
        return NULL; /* not Alertmanager's */
    if (json_array_size(alerts) == 1)
        pick =
            labels_usable(json_object_get(json_array_get(alerts, 0), "labels"));
    if (!pick)
        pick = labels_usable(json_object_get(payload, "commonLabels"));
    if (!pick)
        pick = labels_usable(json_object_get(payload, "groupLabels"));
    return pick ? json_dumps(pick, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
}

int http_am_alert(const json_t *payload, struct msg *m)
{
    json_t *alerts, *a;
    const char *key, *status;
    size_t i;
    json_int_t trunc;
    unsigned firing = 0;

    alerts = json_object_get(payload, "alerts");
    key = json_string_value(json_object_get(payload, "groupKey"));
    status = json_string_value(json_object_get(payload, "status"));
    if (!json_is_array(alerts) || !key || !*key || !status ||
        (strcmp(status, "firing") != 0 && strcmp(status, "resolved") != 0))
        return 0;
    json_array_foreach(alerts, i, a)
    {
        const char *st = json_string_value(json_object_get(a, "status"));

        if (st && strcmp(st, "firing") == 0)
            firing++;
    }
    trunc = json_integer_value(json_object_get(payload, "truncatedAlerts"));
    if (strcmp(status, "firing") == 0 && trunc > 0 && trunc < 1000000)
        firing += (unsigned)trunc; /* not listed, counted as firing */
    if (!(m->group = strdup(key)))
        return -1;
    m->alert =
        strcmp(status, "firing") == 0 ? MSG_ALERT_FIRING : MSG_ALERT_RESOLVED;
    m->firing = m->alert == MSG_ALERT_FIRING ? firing : 0;
    return 0;
}

static char *attach_ok(const char *s)
{
    if (!s || strlen(s) > 2000 || strpbrk(s, " \t\r\n") ||
        (strncasecmp(s, "https://", 8) != 0 &&
         strncasecmp(s, "http://", 7) != 0))
        return NULL;
    return strdup(s);
}

char *http_attach_url(const json_t *payload, const char *query)
{
    static const char *const keys[] = {"attach", "imageURL", "image_url"};
    struct evkeyvalq q;
    char *out = NULL;

    if (query && evhttp_parse_query_str(query, &q) == 0) {
        out = attach_ok(evhttp_find_header(&q, "attach"));
        evhttp_clear_headers(&q);
        if (out)
            return out;
    }
    for (size_t i = 0; !out && json_is_object(payload) && i < 3; i++)
        out = attach_ok(json_string_value(json_object_get(payload, keys[i])));
    if (!out)
        out = attach_ok(json_string_value(json_object_get(
            json_array_get(json_object_get(payload, "attachments"), 0),
            "image_url")));
    return out;
}
