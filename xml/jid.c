/* SPDX-License-Identifier: MIT */
/* jid.c -- XMPP addresses (RFC 7622): split, stringprep, validate, glob. */
#include "xml/jid.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <stringprep.h>

#include "xml/err.h"

/* stringprep works in place and may lengthen its input (NFKC, case
 * folding), so each part is prepared in a larger buffer and its length
 * checked afterwards. */
#define JID_PREP_SIZE (4 * (JID_PART_MAX + 1))

static int jid_is_ascii_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
}

static unsigned char jid_ascii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

enum jid_profile {
    JID_NODEPREP,
    JID_NAMEPREP,
    JID_RESOURCEPREP,
    JID_PROFILE_COUNT
};

/* What each profile does to ASCII, which most JIDs are: the mapping table
 * B.1 and NFKC change no ASCII character, so nodeprep and nameprep only
 * fold A-Z (table B.2), resourceprep nothing; of ASCII, nodeprep
 * prohibits the space (C.1.1), the controls (C.2.1) and "&'/:<>@, and
 * resourceprep the controls, nameprep nothing (RFC 3491, RFC 3920
 * appendices A and B). test_jid checks this against libidn for every
 * ASCII character. Returns 1 when s[0..len) is ASCII: out or *why set,
 * *rc 0 or XMTA_E_INVAL. libidn's stringprep costs some 20,000
 * instructions per part, several times the rest of a webhook (issue 8). */
static int jid_prep_ascii(const char *s,
                          size_t len,
                          enum jid_profile profile,
                          char *out,
                          const char *bad,
                          int *rc,
                          const char **why)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80)
            return 0;
    *rc = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int control = c < 0x20 || c == 0x7f;

        if ((profile == JID_NODEPREP &&
             (control || (c != '\0' && strchr(" \"&'/:<>@", c)))) ||
            (profile == JID_RESOURCEPREP && control)) {
            out[0] = '\0';
            *rc = XMTA_E_INVAL;
            *why = bad;
            return 1;
        }
        out[i] = (char)(profile == JID_RESOURCEPREP ? c : jid_ascii_lower(c));
    }
    out[len] = '\0';
    return 1;
}

/* Runs the stringprep profile over s[0..len) into out (JID_PART_MAX + 1
 * bytes). Returns 0, or XMTA_E_INVAL with *why set to bad or toolong. */
static int jid_prep(const char *s,
                    size_t len,
                    enum jid_profile profile,
                    char *out,
                    const char *bad,
                    const char *toolong,
                    const char **why)
{
    static const Stringprep_profile *const profiles[JID_PROFILE_COUNT] = {
        [JID_NODEPREP] = stringprep_xmpp_nodeprep,
        [JID_NAMEPREP] = stringprep_nameprep,
        [JID_RESOURCEPREP] = stringprep_xmpp_resourceprep,
    };
    char buf[JID_PREP_SIZE];
    size_t n;
    int rc;

    if (len > JID_PART_MAX) {
        *why = toolong;
        return XMTA_E_INVAL;
    }
    if (jid_prep_ascii(s, len, profile, out, bad, &rc, why))
        return rc;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (stringprep(buf, sizeof buf, 0, profiles[profile]) != STRINGPREP_OK) {
        *why = bad;
        return XMTA_E_INVAL;
    }
    n = strlen(buf);
    if (n > JID_PART_MAX) {
        *why = toolong;
        return XMTA_E_INVAL;
    }
    memcpy(out, buf, n + 1);
    return 0;
}

/* "[v6]" as given, lowercased, after checking the address. */
static int
jid_domain_ip6(const char *s, size_t len, char *out, const char **why)
{
    char addr[JID_PART_MAX + 1];
    unsigned char bin[16];

    if (len < 3 || s[len - 1] != ']' || len > JID_PART_MAX) {
        *why = "invalid IPv6 literal in domainpart";
        return XMTA_E_INVAL;
    }
    memcpy(addr, s + 1, len - 2);
    addr[len - 2] = '\0';
    if (inet_pton(AF_INET6, addr, bin) != 1) {
        *why = "invalid IPv6 literal in domainpart";
        return XMTA_E_INVAL;
    }
    for (size_t i = 0; i < len; i++)
        out[i] = (char)jid_ascii_lower((unsigned char)s[i]);
    out[len] = '\0';
    return 0;
}

/* Checks a nameprepped host name: dot-separated labels of letters, digits
 * and hyphens (non-ASCII letters are left to nameprep), no empty label, no
 * label starting or ending with a hyphen; all-numeric names must be IPv4
 * addresses. */
static int jid_domain_check(const char *d, const char **why)
{
    unsigned char bin[4];
    const char *label = d;
    int numeric = 1;

    for (const char *p = d; *p; p++) {
        if (*p != '.' && (*p < '0' || *p > '9'))
            numeric = 0;
    }
    if (numeric) {
        if (inet_pton(AF_INET, d, bin) != 1) {
            *why = "invalid IPv4 address in domainpart";
            return XMTA_E_INVAL;
        }
        return 0;
    }
    for (const char *p = d;; p++) {
        unsigned char c = (unsigned char)*p;

        if (c == '.' || c == '\0') {
            if (p == label) {
                *why = "empty label in domainpart";
                return XMTA_E_INVAL;
            }
            if (label[0] == '-' || p[-1] == '-') {
                *why = "domain label starts or ends with '-'";
                return XMTA_E_INVAL;
            }
            if (c == '\0')
                return 0;
            label = p + 1;
        } else if (!jid_is_ascii_alnum(c) && c != '-' && c < 0x80) {
            *why = "invalid character in domainpart";
            return XMTA_E_INVAL;
        }
    }
}

static int jid_domain(const char *s, size_t len, char *out, const char **why)
{
    int rc;

    if (len > 0 && s[len - 1] == '.')
        len--; /* a fully qualified "example.org." names the same host */
    if (len == 0) {
        *why = "empty domainpart";
        return XMTA_E_INVAL;
    }
    if (s[0] == '[')
        return jid_domain_ip6(s, len, out, why);
    rc = jid_prep(s, len, JID_NAMEPREP, out, "invalid domainpart (nameprep)",
                  "domainpart too long", why);
    if (rc < 0)
        return rc;
    if (out[0] == '\0') {
        *why = "empty domainpart";
        return XMTA_E_INVAL;
    }
    for (char *p = out; *p; p++)
        *p = (char)jid_ascii_lower((unsigned char)*p);
    return jid_domain_check(out, why);
}

int jid_parse(const char *s, struct jid *j, const char **why)
{
    const char *dummy;
    const char *slash, *at, *dom;
    size_t head;
    int rc;

    if (!why)
        why = &dummy;
    if (!s || !j) {
        *why = "no JID";
        return XMTA_E_INVAL;
    }
    j->local[0] = j->domain[0] = j->resource[0] = '\0'; /* 3 KiB: not memset */

    /* RFC 7622 3.2: the first '/' starts the resourcepart (which may hold
     * '@' and '/'); the first '@' before it ends the localpart. */
    slash = strchr(s, '/');
    head = slash ? (size_t)(slash - s) : strlen(s);
    at = memchr(s, '@', head);
    dom = at ? at + 1 : s;

    if (at) {
        if (at == s) {
            *why = "empty localpart";
            return XMTA_E_INVAL;
        }
        rc =
            jid_prep(s, (size_t)(at - s), JID_NODEPREP, j->local,
                     "invalid localpart (nodeprep)", "localpart too long", why);
        if (rc < 0)
            return rc;
        if (j->local[0] == '\0') {
            *why = "empty localpart";
            return XMTA_E_INVAL;
        }
    }
    rc = jid_domain(dom, head - (size_t)(dom - s), j->domain, why);
    if (rc < 0)
        return rc;
    if (slash) {
        if (slash[1] == '\0') {
            *why = "empty resourcepart";
            return XMTA_E_INVAL;
        }
        rc = jid_prep(slash + 1, strlen(slash + 1), JID_RESOURCEPREP,
                      j->resource, "invalid resourcepart (resourceprep)",
                      "resourcepart too long", why);
        if (rc < 0)
            return rc;
        if (j->resource[0] == '\0') {
            *why = "empty resourcepart";
            return XMTA_E_INVAL;
        }
    }
    return 0;
}

int jid_bare(const struct jid *j, char *buf, size_t size)
{
    int n;

    if (!j || !buf || size == 0)
        return XMTA_E_LIMIT;
    if (j->local[0])
        n = snprintf(buf, size, "%s@%s", j->local, j->domain);
    else
        n = snprintf(buf, size, "%s", j->domain);
    return n < 0 || (size_t)n >= size ? XMTA_E_LIMIT : 0;
}

int jid_full(const struct jid *j, char *buf, size_t size)
{
    size_t n;
    int rc = jid_bare(j, buf, size);

    if (rc < 0 || !j->resource[0])
        return rc;
    n = strlen(buf);
    if (size - n < strlen(j->resource) + 2)
        return XMTA_E_LIMIT;
    buf[n] = '/';
    memcpy(buf + n + 1, j->resource, strlen(j->resource) + 1);
    return 0;
}

/* Past one UTF-8 character, so that '?' matches a character, not a byte. */
static const char *jid_utf8_next(const char *s)
{
    s++;
    while (((unsigned char)*s & 0xC0) == 0x80)
        s++;
    return s;
}

int jid_glob_match(const char *pattern, const char *s)
{
    const char *p = pattern;
    const char *star_p = NULL; /* pattern just after the last '*' */
    const char *star_s = NULL; /* where that '*' currently stops in s */

    if (!pattern || !s)
        return 0;
    /* Greedy with one backtracking point: only the last '*' ever needs to
     * grow, since whatever an earlier '*' could absorb the later one can
     * too. Time is O(len(pattern) * len(s)) at worst, no recursion. */
    while (*s) {
        if (*p == '*') {
            while (*p == '*')
                p++;
            if (!*p)
                return 1;
            star_p = p;
            star_s = s;
        } else if (*p == '?') {
            p++;
            s = jid_utf8_next(s);
        } else if (*p && jid_ascii_lower((unsigned char)*p) ==
                             jid_ascii_lower((unsigned char)*s)) {
            p++;
            s++;
        } else if (star_p) {
            star_s = jid_utf8_next(star_s);
            s = star_s;
            p = star_p;
        } else {
            return 0;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}
