/* SPDX-License-Identifier: MIT */
/* stub_libcurl.c -- built under libcurl's SONAME but without any of its
 * functions (test/unit/fetch_dlopen.sh): with it first on
 * LD_LIBRARY_PATH, a configuration that needs libcurl must be refused
 * with an error that names the library and dlerror(). */
int xmta_stub_libcurl(void);

int xmta_stub_libcurl(void)
{
    return 0;
}
