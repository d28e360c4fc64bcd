/* SPDX-License-Identifier: MIT */
/* curl_dl.c -- libcurl through dlopen(), so that only configurations that
 * make outgoing HTTP requests (reply_url, alertmanager_url, attach_hosts,
 * long_body = upload) pay for it. Linked, libcurl mapped itself and its
 * dependency tree (GnuTLS, nettle, gmp, p11-kit, Kerberos, LDAP, SASL,
 * libssh2, librtmp, ...) into every xmta: about 4 MiB of the idle RSS of a
 * daemon that, configured as most are, never sends a request (issue 8).
 * systemd loads its optional libraries (libcryptsetup, libidn2, libpcre2,
 * ...) with dlopen for the same reason (src/shared/dlfcn-util.h). xmta is
 * still built against <curl/curl.h> (pkg-config libcurl), and the struct
 * in curl_dl.h takes each pointer's type from it. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "component/curl_dl.h"
#include "xml/err.h"

#ifndef XMTA_CURL_SONAME
#error "XMTA_CURL_SONAME (libcurl's SONAME) comes from CMakeLists.txt"
#endif

struct comp_curl_api comp_curl;

/* Every field of struct comp_curl_api and the symbol it is read from. */
#define CURL_DL_SYM(f)                                                         \
    {                                                                          \
        "curl_" #f, offsetof(struct comp_curl_api, f)                          \
    }
static const struct {
    const char *name;
    size_t off;
} curl_dl_syms[] = {
    CURL_DL_SYM(global_init),         CURL_DL_SYM(easy_init),
    CURL_DL_SYM(easy_setopt),         CURL_DL_SYM(easy_getinfo),
    CURL_DL_SYM(easy_strerror),       CURL_DL_SYM(easy_cleanup),
    CURL_DL_SYM(slist_append),        CURL_DL_SYM(slist_free_all),
    CURL_DL_SYM(multi_init),          CURL_DL_SYM(multi_setopt),
    CURL_DL_SYM(multi_add_handle),    CURL_DL_SYM(multi_remove_handle),
    CURL_DL_SYM(multi_socket_action), CURL_DL_SYM(multi_assign),
    CURL_DL_SYM(multi_info_read),     CURL_DL_SYM(multi_cleanup),
};
#undef CURL_DL_SYM

/* Each entry fills one pointer, and dlsym's void * is copied into it
 * (POSIX: object and function pointers have the same representation). */
_Static_assert(sizeof(curl_dl_syms) / sizeof(curl_dl_syms[0]) *
                       sizeof(void *) ==
                   sizeof(struct comp_curl_api),
               "curl_dl_syms must list every field of comp_curl_api");
_Static_assert(sizeof(void *) == sizeof(comp_curl.global_init),
               "function pointers the size of void *");

int comp_curl_load(char *why, size_t len)
{
    static void *lib; /* kept once every symbol resolved: never closed */
    static int ready; /* curl_global_init() succeeded */
    struct comp_curl_api t;
    CURLcode rc;

    if (ready)
        return 0;
    if (!lib) {
        void *h = dlopen(XMTA_CURL_SONAME, RTLD_NOW | RTLD_LOCAL);

        if (!h) {
            snprintf(why, len, "cannot load libcurl (%s)", dlerror());
            return XMTA_E_NOTFOUND;
        }
        for (size_t i = 0; i < sizeof(curl_dl_syms) / sizeof(curl_dl_syms[0]);
             i++) {
            void *p = dlsym(h, curl_dl_syms[i].name);

            if (!p) {
                snprintf(why, len, "cannot load libcurl (%s)", dlerror());
                dlclose(h);
                return XMTA_E_NOTFOUND;
            }
            memcpy((char *)&t + curl_dl_syms[i].off, &p, sizeof(p));
        }
        comp_curl = t;
        lib = h;
    }
    /* Once per process, before any other curl call, from one thread. */
    if ((rc = comp_curl.global_init(CURL_GLOBAL_DEFAULT)) != CURLE_OK) {
        snprintf(why, len, "%s: curl_global_init failed: %s", XMTA_CURL_SONAME,
                 comp_curl.easy_strerror(rc));
        return XMTA_E_IO;
    }
    ready = 1;
    return 0;
}
