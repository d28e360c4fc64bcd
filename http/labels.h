/* SPDX-License-Identifier: MIT */
/* labels.h -- the labels of an Alertmanager notification, kept with the
 * message so that "ack" in reply to it can silence exactly those alerts
 * (issue 7). No libevent, no logging. */
#ifndef XMTA_HTTP_LABELS_H
#define XMTA_HTTP_LABELS_H

#include <stddef.h>

/* For an Alertmanager webhook payload data[0..len): the labels of its
 * only alert when it carries one, else its commonLabels, else its
 * groupLabels, as a compact JSON object text (malloc'd). NULL when the
 * payload is not Alertmanager's, has no labels, or on allocation
 * failure. */
char *http_am_labels(const char *data, size_t len);

#endif
