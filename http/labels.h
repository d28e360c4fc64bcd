/* SPDX-License-Identifier: MIT */
/* labels.h -- what a webhook carries besides its text (issue 7): the labels
 * of an Alertmanager notification, kept with the message so that "ack" in
 * reply to it can silence exactly those alerts, and the URL of a file to
 * attach. No logging. */
#ifndef XMTA_HTTP_LABELS_H
#define XMTA_HTTP_LABELS_H

struct msg;
struct json_t;
typedef struct json_t json_t;

/* Each reads payload, the webhook's body as a JSON object (borrowed; NULL
 * when the body is not one), as format_decode() hands it over: the body is
 * parsed once per request. */

/* For an Alertmanager webhook payload: the labels of its only alert when
 * it carries one, else its commonLabels, else its groupLabels, as a
 * compact JSON object text (malloc'd). NULL when the payload is not
 * Alertmanager's, has no labels, or on allocation failure. */
char *http_am_labels(const json_t *payload);

/* For an Alertmanager or Grafana unified payload (a groupKey, alerts[] and
 * status "firing" or "resolved"): sets m->group (a copy of the groupKey),
 * m->alert and m->firing (its alerts with status firing, plus
 * truncatedAlerts while firing) for the alert lifecycle. Other payloads
 * leave m alone. 0, or -1 on allocation failure. */
int http_am_alert(const json_t *payload, struct msg *m);

/* The URL of a file to attach (issue 7): the query parameter attach, else
 * the payload's fields "attach", "imageURL" (Grafana), "image_url" or
 * attachments[0].image_url (Slack), if it is an http(s) URL without
 * spaces; malloc'd, or NULL. query may be NULL. */
char *http_attach_url(const json_t *payload, const char *query);

#endif
