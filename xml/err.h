/* SPDX-License-Identifier: MIT */
/* err.h -- the one project-wide error enum (negative values) and strerror. */
#ifndef XMTA_ERR_H
#define XMTA_ERR_H

enum xmta_err {
    XMTA_OK = 0,
    XMTA_E_NOMEM = -1,       /* allocation failed */
    XMTA_E_INVAL = -2,       /* invalid argument or input */
    XMTA_E_PARSE = -3,       /* malformed input (XML, JSON, form, config) */
    XMTA_E_LIMIT = -4,       /* a size, depth or count limit was exceeded */
    XMTA_E_FULL = -5,        /* a queue is full: back-pressure, try later */
    XMTA_E_IO = -6,          /* a system call failed; see errno */
    XMTA_E_STATE = -7,       /* not allowed in the current state */
    XMTA_E_NOTFOUND = -8,    /* no such item */
    XMTA_E_DENIED = -9,      /* not authorized / not allowed */
    XMTA_E_RESTRICTED = -10, /* restricted XML: DTD, comment, PI, entity */
    XMTA_E_STOPPED = -11,    /* a callback asked the parser to stop */
    XMTA_E_COUNT_ = -12      /* sentinel; keep last */
};

/* A static English string for an xmta_err value (never NULL). */
const char *xmta_strerror(int err);

#endif
