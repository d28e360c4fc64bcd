/* SPDX-License-Identifier: MIT */
/* err.c -- strings for the project-wide error enum. */
#include "xml/err.h"

const char *xmta_strerror(int err)
{
    static const char *const names[] = {
        [0] = "success",
        [-XMTA_E_NOMEM] = "out of memory",
        [-XMTA_E_INVAL] = "invalid argument",
        [-XMTA_E_PARSE] = "malformed input",
        [-XMTA_E_LIMIT] = "limit exceeded",
        [-XMTA_E_FULL] = "queue full",
        [-XMTA_E_IO] = "I/O error",
        [-XMTA_E_STATE] = "not allowed in this state",
        [-XMTA_E_NOTFOUND] = "not found",
        [-XMTA_E_DENIED] = "denied",
        [-XMTA_E_RESTRICTED] = "restricted XML",
        [-XMTA_E_STOPPED] = "stopped by callback",
    };

    if (err > 0 || err <= XMTA_E_COUNT_ || !names[-err])
        return "unknown error";
    return names[-err];
}
