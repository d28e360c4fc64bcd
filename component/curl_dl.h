/* SPDX-License-Identifier: MIT */
/* curl_dl.h -- libcurl loaded at run time (dlopen), only by configurations
 * that make outgoing HTTP requests (component/curl_dl.c). fetch.c calls
 * libcurl through comp_curl.NAME, NAME being the curl_NAME function of
 * <curl/curl.h> with that exact type. Event-loop thread only (or before
 * the loop runs). */
#ifndef XMTA_COMPONENT_CURL_DL_H
#define XMTA_COMPONENT_CURL_DL_H

#include <stddef.h>

#include <curl/curl.h>

struct comp_curl_api {
    __typeof__(curl_global_init) *global_init;
    __typeof__(curl_easy_init) *easy_init;
    __typeof__(curl_easy_setopt) *easy_setopt;
    __typeof__(curl_easy_getinfo) *easy_getinfo;
    __typeof__(curl_easy_strerror) *easy_strerror;
    __typeof__(curl_easy_cleanup) *easy_cleanup;
    __typeof__(curl_slist_append) *slist_append;
    __typeof__(curl_slist_free_all) *slist_free_all;
    __typeof__(curl_multi_init) *multi_init;
    __typeof__(curl_multi_setopt) *multi_setopt;
    __typeof__(curl_multi_add_handle) *multi_add_handle;
    __typeof__(curl_multi_remove_handle) *multi_remove_handle;
    __typeof__(curl_multi_socket_action) *multi_socket_action;
    __typeof__(curl_multi_assign) *multi_assign;
    __typeof__(curl_multi_info_read) *multi_info_read;
    __typeof__(curl_multi_cleanup) *multi_cleanup;
};

/* Filled by the first successful comp_curl_load(); all NULL before. */
extern struct comp_curl_api comp_curl;

/* Loads libcurl by its SONAME (XMTA_CURL_SONAME, libcurl.so.4), resolves
 * every function of comp_curl and runs curl_global_init(), once: later
 * calls return 0 at once. The library is never unloaded. Returns 0, or
 * XMTA_E_NOTFOUND (no such library, or a function missing: why names the
 * library and dlerror()) or XMTA_E_IO (curl_global_init failed), with why
 * filled; a failed load can be tried again. */
int comp_curl_load(char *why, size_t len);

#endif
