/* SPDX-License-Identifier: MIT */
/* jid.h -- XMPP addresses (RFC 7622): parsing, validation, normalisation.
 * Uses libidn's stringprep profiles (nodeprep, nameprep, resourceprep). */
#ifndef XMTA_JID_H
#define XMTA_JID_H

#include <stddef.h>

#define JID_PART_MAX 1023

struct jid {
    char local[JID_PART_MAX + 1]; /* "" when absent */
    char domain[JID_PART_MAX + 1];
    char resource[JID_PART_MAX + 1]; /* "" when absent */
};

/* Parses and normalises s into j (local and domain prepped and lowercased,
 * resource resourceprepped). Returns 0, or XMTA_E_INVAL with a short static
 * reason in *why (if why is not NULL). */
int jid_parse(const char *s, struct jid *j, const char **why);

/* Writes the bare (local@domain) or full form of j into buf.
 * Returns 0 or XMTA_E_LIMIT when it does not fit. */
int jid_bare(const struct jid *j, char *buf, size_t size);
int jid_full(const struct jid *j, char *buf, size_t size);

/* Glob match for allow_to patterns: '*' matches any run of characters
 * (including none), '?' one character; comparison is case-insensitive
 * ASCII. Returns 1 on match. */
int jid_glob_match(const char *pattern, const char *s);

#endif
