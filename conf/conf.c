/* SPDX-License-Identifier: MIT */
/* conf.c -- the INI configuration loader: libinih splits the lines, the
 * key table here types and validates them. */
#include "conf/conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <ini.h>

#include "xml/err.h"
#include "xml/jid.h"
#include "xml/msg.h"

#define CONF_FILE_MAX (1024 * 1024) /* bytes of configuration text */
#define CONF_SECRET_MAX 1024        /* bytes of a secret_file's line */
#define CONF_TOKEN_MIN 16
#define CONF_TOKEN_MAX 256
#define CONF_HOOK_NAME_MAX 64
#define CONF_HOOKS_MAX 4096
#define CONF_LIST_MAX 1024 /* to, room, allow_to per hook; listen */
#define CONF_SECONDS_MAX 86400
#define CONF_QUEUE_MAX 10000000
#define CONF_BODY_MAX ((size_t)1 << 30)
#define CONF_KEYS_MAX 32 /* keys in the largest section */

#define CONF_DEFAULT_PORT 5347
#define CONF_DEFAULT_PING_INTERVAL 120
#define CONF_DEFAULT_PING_TIMEOUT 30
#define CONF_DEFAULT_KEEPALIVE 60
#define CONF_DEFAULT_QUEUE 10000
#define CONF_DEFAULT_LISTEN_HOST "127.0.0.1"
#define CONF_DEFAULT_LISTEN_PORT 8080
#define CONF_DEFAULT_MAX_BODY ((size_t)1024 * 1024)
#define CONF_DEFAULT_SPOOL_MESSAGES 100000
#define CONF_DEFAULT_SPOOL_BYTES ((size_t)256 * 1024 * 1024)
#define CONF_DEFAULT_SPOOL_AGE 86400
#define CONF_SPOOL_AGE_MAX (365UL * 86400) /* one year */
#define CONF_DEFAULT_MAX_HEADERS ((size_t)16 * 1024)
#define CONF_DEFAULT_HEADER_TIMEOUT 10
#define CONF_DEFAULT_BODY_TIMEOUT 30
#define CONF_DEFAULT_IDLE_TIMEOUT 60
#define CONF_DEFAULT_MAX_CONNECTIONS 1024
#define CONF_CONNECTIONS_MAX 100000
#define CONF_RATE_MAX 1000000

enum conf_sec {
    CONF_SEC_NONE,
    CONF_SEC_COMPONENT,
    CONF_SEC_HTTP,
    CONF_SEC_HOOK,
    CONF_SEC_SPOOL,
    CONF_SEC_HTTP_CLIENT,
    CONF_SEC_COUNT
};

/* The loader's state while libinih walks the text. libinih (as Debian
 * builds it) does not pass line numbers to the handler and does not call it
 * for section headers, so the line reader below counts lines and parses the
 * headers itself; the handler only sees name = value pairs. */
struct conf_parse {
    struct conf *c;
    struct conf_diag *diag;
    const char *dir; /* for a relative secret_file; NULL: as given */

    const char *text;
    size_t len;
    size_t pos;
    int lineno;
    int failed; /* diag holds the first error; stop reading */

    enum conf_sec sec;
    int sec_line;
    char sec_label[CONF_HOOK_NAME_MAX + 16]; /* "[hook NAME]" for messages */
    int seen[CONF_KEYS_MAX]; /* line of each key in the current section */

    int component_line;
    int http_line;
    int spool_line;
    int http_client_line;
};

struct conf_key {
    const char *name;
    int repeatable;
    int (*set)(struct conf_parse *p, const char *value);
};

__attribute__((format(printf, 3, 4))) static int
conf_fail(struct conf_parse *p, int line, const char *fmt, ...)
{
    va_list ap;

    if (p->failed)
        return -1; /* keep the first error */
    p->failed = 1;
    p->diag->line = line;
    va_start(ap, fmt);
    vsnprintf(p->diag->msg, sizeof p->diag->msg, fmt, ap);
    va_end(ap);
    /* Values are quoted back: keep their control bytes off the terminal. */
    for (char *s = p->diag->msg; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7F)
            *s = '?';
    }
    return -1;
}

/* Grows *v when *n reaches a power of two, so that n appends cost O(n). */
static int conf_grow(void **v, size_t n, size_t elem)
{
    void *nv;
    size_t cap;

    if (n != 0 && (n & (n - 1)) != 0)
        return 0;
    cap = n ? n * 2 : 4;
    nv = realloc(*v, cap * elem);
    if (!nv)
        return XMTA_E_NOMEM;
    *v = nv;
    return 0;
}

static int conf_strv_push(char ***v, size_t *n, const char *s)
{
    char *copy = strdup(s);

    if (!copy || conf_grow((void **)v, *n, sizeof **v) < 0) {
        free(copy);
        return XMTA_E_NOMEM;
    }
    (*v)[(*n)++] = copy;
    return 0;
}

static int conf_nomem(struct conf_parse *p)
{
    return conf_fail(p, p->lineno, "out of memory");
}

static int conf_set_str(struct conf_parse *p, char **dst, const char *s)
{
    char *copy = strdup(s);

    if (!copy)
        return conf_nomem(p);
    free(*dst);
    *dst = copy;
    return 0;
}

static struct conf_hook *conf_cur_hook(struct conf_parse *p)
{
    return &p->c->hooks[p->c->n_hooks - 1];
}

/* Decimal only: no sign, no spaces, no hex. */
static int conf_parse_ulong(const char *s,
                            unsigned long min,
                            unsigned long max,
                            unsigned long *out)
{
    unsigned long v;
    char *end;

    if (s[0] < '0' || s[0] > '9')
        return XMTA_E_INVAL;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return XMTA_E_INVAL;
    *out = v;
    return 0;
}

int conf_parse_size(const char *s, size_t *out)
{
    unsigned long long v;
    unsigned shift = 0;
    char *end;

    if (!s || !out || s[0] < '0' || s[0] > '9')
        return XMTA_E_INVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0)
        return XMTA_E_INVAL;
    switch (*end) {
    case '\0':
        break;
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    default:
        return XMTA_E_INVAL;
    }
    if (shift && end[1] != '\0')
        return XMTA_E_INVAL;
    if (v > (unsigned long long)(SIZE_MAX >> shift))
        return XMTA_E_INVAL;
    *out = (size_t)v << shift;
    return 0;
}

/* ---- [component] ---- */

static int conf_key_domain(struct conf_parse *p, const char *v)
{
    struct jid j;
    const char *why = NULL;

    if (jid_parse(v, &j, &why) < 0)
        return conf_fail(p, p->lineno, "bad domain '%s': %s", v, why);
    if (j.local[0] || j.resource[0])
        return conf_fail(p, p->lineno,
                         "bad domain '%s': must be a bare domain such as "
                         "notify.example.org, without '@' or '/'",
                         v);
    return conf_set_str(p, &p->c->domain, j.domain);
}

/* An IPv6 address (no brackets), an IPv4 address, or a host name. */
static int conf_host_ok(const char *h)
{
    unsigned char bin[16];
    int numeric = 1;

    if (!*h)
        return 0;
    if (strchr(h, ':'))
        return inet_pton(AF_INET6, h, bin) == 1;
    for (const char *s = h; *s; s++) {
        if (!(*s >= '0' && *s <= '9') && *s != '.')
            numeric = 0;
        if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
            !(*s >= '0' && *s <= '9') && *s != '.' && *s != '-' && *s != '_')
            return 0;
    }
    return !numeric || inet_pton(AF_INET, h, bin) == 1;
}

static int conf_key_server(struct conf_parse *p, const char *v)
{
    size_t len = strlen(v);
    char *host;

    if (v[0] == '[' && len > 2 && v[len - 1] == ']') {
        v++; /* "[::1]": the brackets are URL syntax, not the address */
        len -= 2;
    }
    if (!(host = strndup(v, len)))
        return conf_nomem(p);
    if (!conf_host_ok(host)) {
        free(host);
        return conf_fail(p, p->lineno,
                         "bad server '%s': expected a host name or an IP "
                         "address (the port goes in port =)",
                         v);
    }
    free(p->c->server);
    p->c->server = host;
    return 0;
}

static int conf_key_port(struct conf_parse *p, const char *v)
{
    unsigned long n;

    if (conf_parse_ulong(v, 1, 65535, &n) < 0)
        return conf_fail(p, p->lineno,
                         "bad port '%s': expected a number from 1 to 65535", v);
    p->c->port = (unsigned short)n;
    return 0;
}

static int conf_key_secret(struct conf_parse *p, const char *v)
{
    if (p->c->secret)
        return conf_fail(p, p->lineno,
                         "both secret and secret_file are set in "
                         "[component]: keep one");
    return conf_set_str(p, &p->c->secret, v);
}

/* The secret is the first line of the file, without its line ending. */
static int conf_key_secret_file(struct conf_parse *p, const char *v)
{
    char buf[CONF_SECRET_MAX + 3];
    char *path = NULL;
    FILE *f = NULL;
    size_t n;
    int rc = -1;

    if (p->c->secret)
        return conf_fail(p, p->lineno,
                         "both secret and secret_file are set in "
                         "[component]: keep one");
    if (v[0] != '/' && p->dir) {
        size_t len = strlen(p->dir) + strlen(v) + 2;

        if (!(path = malloc(len)))
            return conf_nomem(p);
        snprintf(path, len, "%s/%s", p->dir, v);
    } else if (!(path = strdup(v))) {
        return conf_nomem(p);
    }
    if (!(f = fopen(path, "r"))) {
        conf_fail(p, p->lineno, "cannot read secret_file '%s': %s", path,
                  strerror(errno));
        goto out;
    }
    errno = 0;
    if (!fgets(buf, sizeof buf, f)) {
        if (ferror(f))
            conf_fail(p, p->lineno, "cannot read secret_file '%s': %s", path,
                      strerror(errno ? errno : EIO));
        else
            conf_fail(p, p->lineno, "secret_file '%s' is empty", path);
        goto out;
    }
    n = strlen(buf);
    if (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    else if (n > CONF_SECRET_MAX) {
        conf_fail(p, p->lineno,
                  "secret_file '%s': the first line is longer than %d bytes",
                  path, CONF_SECRET_MAX);
        goto out;
    }
    if (n > 0 && buf[n - 1] == '\r')
        buf[--n] = '\0';
    if (n == 0) {
        conf_fail(p, p->lineno,
                  "secret_file '%s' is empty (the secret is its first line)",
                  path);
        goto out;
    }
    if (conf_set_str(p, &p->c->secret, buf) < 0)
        goto out;
    rc = 0;
out:
    explicit_bzero(buf, sizeof buf);
    if (f)
        fclose(f);
    free(path);
    return rc;
}

static int conf_seconds(struct conf_parse *p,
                        const char *key,
                        const char *v,
                        unsigned long min,
                        unsigned *out)
{
    unsigned long n;

    if (conf_parse_ulong(v, min, CONF_SECONDS_MAX, &n) < 0)
        return conf_fail(p, p->lineno,
                         "bad %s '%s': expected seconds from %lu to %d", key, v,
                         min, CONF_SECONDS_MAX);
    *out = (unsigned)n;
    return 0;
}

static int conf_key_ping_interval(struct conf_parse *p, const char *v)
{
    return conf_seconds(p, "ping_interval", v, 5, &p->c->ping_interval);
}

static int conf_key_ping_timeout(struct conf_parse *p, const char *v)
{
    return conf_seconds(p, "ping_timeout", v, 1, &p->c->ping_timeout);
}

static int conf_key_keepalive(struct conf_parse *p, const char *v)
{
    return conf_seconds(p, "keepalive", v, 1, &p->c->keepalive);
}

static int conf_key_queue(struct conf_parse *p, const char *v)
{
    unsigned long n;

    if (conf_parse_ulong(v, 1, CONF_QUEUE_MAX, &n) < 0)
        return conf_fail(p, p->lineno,
                         "bad queue '%s': expected a number of messages "
                         "from 1 to %d",
                         v, CONF_QUEUE_MAX);
    p->c->queue_max = n;
    return 0;
}

/* ---- [component] TLS, storm control, log (issue 6) ---- */

static int
conf_bool(struct conf_parse *p, const char *key, const char *v, int *out)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 ||
        strcmp(v, "on") == 0 || strcmp(v, "1") == 0)
        *out = 1;
    else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0 ||
             strcmp(v, "off") == 0 || strcmp(v, "0") == 0)
        *out = 0;
    else
        return conf_fail(p, p->lineno, "bad %s '%s': expected true or false",
                         key, v);
    return 0;
}

static int conf_key_tls(struct conf_parse *p, const char *v)
{
    return conf_bool(p, "tls", v, &p->c->tls);
}

static int conf_key_tls_verify(struct conf_parse *p, const char *v)
{
    return conf_bool(p, "tls_verify", v, &p->c->tls_verify);
}

/* A relative path is relative to the config file's folder. */
static int conf_key_tls_ca(struct conf_parse *p, const char *v)
{
    size_t len;

    if (v[0] == '/' || !p->dir)
        return conf_set_str(p, &p->c->tls_ca, v);
    len = strlen(p->dir) + strlen(v) + 2;
    free(p->c->tls_ca);
    if (!(p->c->tls_ca = malloc(len)))
        return conf_nomem(p);
    snprintf(p->c->tls_ca, len, "%s/%s", p->dir, v);
    return 0;
}

static int conf_key_tls_name(struct conf_parse *p, const char *v)
{
    if (!conf_host_ok(v))
        return conf_fail(p, p->lineno,
                         "bad tls_name '%s': expected a host name", v);
    return conf_set_str(p, &p->c->tls_name, v);
}

/* storm = N/WINDOW (WINDOW: seconds, or with s, m or h), or off. */
static int conf_key_storm(struct conf_parse *p, const char *v)
{
    unsigned long n, w, unit = 1;
    char num[24], win[24];
    const char *slash = strchr(v, '/');
    size_t wl;

    if (strcmp(v, "off") == 0) {
        p->c->storm_n = p->c->storm_window = 0;
        return 0;
    }
    if (!slash || (size_t)(slash - v) >= sizeof(num) ||
        strlen(slash + 1) >= sizeof(win))
        goto bad;
    memcpy(num, v, (size_t)(slash - v));
    num[slash - v] = '\0';
    snprintf(win, sizeof(win), "%s", slash + 1);
    wl = strlen(win);
    if (wl > 1 && strchr("smh", win[wl - 1])) {
        unit = win[wl - 1] == 's' ? 1 : win[wl - 1] == 'm' ? 60 : 3600;
        win[wl - 1] = '\0';
    }
    if (conf_parse_ulong(num, 1, 100000, &n) < 0 ||
        conf_parse_ulong(win, 1, 86400, &w) < 0 || w * unit > 86400)
        goto bad;
    p->c->storm_n = (unsigned)n;
    p->c->storm_window = (unsigned)(w * unit);
    return 0;
bad:
    return conf_fail(p, p->lineno,
                     "bad storm '%s': expected MESSAGES/WINDOW such as 10/60s "
                     "(1-100000 messages, a window of 1 s to 24 h) or off",
                     v);
}

static int conf_key_log(struct conf_parse *p, const char *v)
{
    if (strcmp(v, "stderr") == 0)
        p->c->log_syslog = 0;
    else if (strcmp(v, "syslog") == 0)
        p->c->log_syslog = 1;
    else
        return conf_fail(p, p->lineno,
                         "bad log '%s': expected stderr or syslog", v);
    return 0;
}

/* A bare domain, as domain =. */
static int conf_key_upload_service(struct conf_parse *p, const char *v)
{
    struct jid j;
    const char *why = NULL;

    if (jid_parse(v, &j, &why) < 0 || j.local[0] || j.resource[0])
        return conf_fail(p, p->lineno,
                         "bad upload_service '%s': expected the domain of "
                         "an XEP-0363 service, such as upload.example.org",
                         v);
    return conf_set_str(p, &p->c->upload_service, j.domain);
}

/* ---- [http] ---- */

/* "HOST:PORT" or "[V6]:PORT" into host (no brackets) and port. */
static int conf_parse_listen(const char *v,
                             char *host,
                             size_t size,
                             unsigned short *port,
                             const char **why)
{
    const char *colon, *h = v;
    unsigned long n;
    size_t hlen;

    if (v[0] == '[') {
        const char *close = strchr(v, ']');

        if (!close || close[1] != ':') {
            *why = "expected [ADDRESS]:PORT";
            return XMTA_E_INVAL;
        }
        h = v + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(v, ':');
        if (!colon) {
            *why = "expected HOST:PORT";
            return XMTA_E_INVAL;
        }
        hlen = (size_t)(colon - v);
        if (memchr(v, ':', hlen)) {
            *why = "an IPv6 address needs brackets, as in [::1]:8080";
            return XMTA_E_INVAL;
        }
    }
    if (hlen == 0) {
        *why = "empty host (0.0.0.0 or [::] listen on every address)";
        return XMTA_E_INVAL;
    }
    if (hlen >= size) {
        *why = "host too long";
        return XMTA_E_INVAL;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    if ((v[0] == '[') != (strchr(host, ':') != NULL) || !conf_host_ok(host)) {
        *why = "bad host: expected an IP address or a host name";
        return XMTA_E_INVAL;
    }
    if (conf_parse_ulong(colon + 1, 0, 65535, &n) < 0) {
        *why = "bad port: expected a number from 0 to 65535";
        return XMTA_E_INVAL;
    }
    *port = (unsigned short)n;
    return 0;
}

static int conf_add_listen(struct conf_parse *p,
                           const char *host,
                           unsigned short port,
                           int line)
{
    struct conf *c = p->c;
    struct conf_listen *l;
    char *copy;

    if (c->n_listen >= CONF_LIST_MAX)
        return conf_fail(p, line, "too many listen addresses (at most %d)",
                         CONF_LIST_MAX);
    for (size_t i = 0; port != 0 && i < c->n_listen; i++) {
        if (c->listen[i].port == port && strcmp(c->listen[i].host, host) == 0)
            return conf_fail(p, line,
                             "duplicate listen address (first at line %d)",
                             c->listen[i].line);
    }
    if (!(copy = strdup(host)) ||
        conf_grow((void **)&c->listen, c->n_listen, sizeof *c->listen) < 0) {
        free(copy);
        return conf_nomem(p);
    }
    l = &c->listen[c->n_listen++];
    l->host = copy;
    l->port = port;
    l->line = line;
    l->tls = 0; /* conf_key_listen() sets it; the default listener has none */
    return 0;
}

/* HOST:PORT, optionally followed by "tls" (HTTPS on that address). */
static int conf_key_listen(struct conf_parse *p, const char *v)
{
    char host[256], addr[300];
    unsigned short port = 0;
    const char *why = NULL, *opt;
    size_t alen = strcspn(v, " \t");
    int tls = 0;

    opt = v + alen + strspn(v + alen, " \t");
    if (*opt) {
        if (strcmp(opt, "tls") != 0)
            return conf_fail(p, p->lineno,
                             "bad listen '%s': expected HOST:PORT, optionally "
                             "followed by tls",
                             v);
        tls = 1;
    }
    if (alen >= sizeof addr)
        return conf_fail(p, p->lineno, "bad listen '%s': host too long", v);
    memcpy(addr, v, alen);
    addr[alen] = '\0';
    if (conf_parse_listen(addr, host, sizeof host, &port, &why) < 0)
        return conf_fail(p, p->lineno, "bad listen '%s': %s", v, why);
    if (conf_add_listen(p, host, port, p->lineno) < 0)
        return -1;
    p->c->listen[p->c->n_listen - 1].tls = tls;
    return 0;
}

static int conf_key_max_body(struct conf_parse *p, const char *v)
{
    size_t n;

    if (conf_parse_size(v, &n) < 0 || n < 1 || n > CONF_BODY_MAX)
        return conf_fail(p, p->lineno,
                         "bad max_body '%s': expected a size from 1 to 1G, "
                         "such as 1M, 512k or 65536",
                         v);
    p->c->max_body = n;
    return 0;
}

/* ---- [http]: production (issue 6) ---- */

/* A file name, relative to the configuration's folder unless absolute. */
static int conf_set_path(struct conf_parse *p, char **dst, const char *v)
{
    size_t len;

    free(*dst);
    *dst = NULL;
    if (v[0] == '/' || !p->dir)
        return conf_set_str(p, dst, v);
    len = strlen(p->dir) + strlen(v) + 2;
    if (!(*dst = malloc(len)))
        return conf_nomem(p);
    snprintf(*dst, len, "%s/%s", p->dir, v);
    return 0;
}

static int conf_key_tls_cert(struct conf_parse *p, const char *v)
{
    return conf_set_path(p, &p->c->tls_cert, v);
}

static int conf_key_tls_key(struct conf_parse *p, const char *v)
{
    return conf_set_path(p, &p->c->tls_key, v);
}

static int conf_key_max_headers(struct conf_parse *p, const char *v)
{
    size_t n;

    if (conf_parse_size(v, &n) < 0 || n < 1024 || n > 1024 * 1024)
        return conf_fail(p, p->lineno,
                         "bad max_headers '%s': expected a size from 1k to "
                         "1M, such as 16k",
                         v);
    p->c->max_headers = n;
    return 0;
}

static int conf_key_header_timeout(struct conf_parse *p, const char *v)
{
    return conf_seconds(p, "header_timeout", v, 1, &p->c->header_timeout);
}

static int conf_key_body_timeout(struct conf_parse *p, const char *v)
{
    return conf_seconds(p, "body_timeout", v, 1, &p->c->body_timeout);
}

static int conf_key_idle_timeout(struct conf_parse *p, const char *v)
{
    return conf_seconds(p, "idle_timeout", v, 1, &p->c->idle_timeout);
}

static int conf_key_max_connections(struct conf_parse *p, const char *v)
{
    unsigned long n;

    if (conf_parse_ulong(v, 1, CONF_CONNECTIONS_MAX, &n) < 0)
        return conf_fail(p, p->lineno,
                         "bad max_connections '%s': expected a number from 1 "
                         "to %d",
                         v, CONF_CONNECTIONS_MAX);
    p->c->max_connections = (unsigned)n;
    return 0;
}

/* One ADDRESS or ADDRESS/BITS into n. */
static int conf_parse_net(const char *s, struct conf_net *n)
{
    char addr[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(s, '/');
    size_t len = slash ? (size_t)(slash - s) : strlen(s);
    unsigned long bits;

    if (len == 0 || len >= sizeof addr)
        return XMTA_E_INVAL;
    memcpy(addr, s, len);
    addr[len] = '\0';
    memset(n, 0, sizeof *n);
    if (inet_pton(AF_INET, addr, n->addr) == 1)
        n->family = 4;
    else if (inet_pton(AF_INET6, addr, n->addr) == 1)
        n->family = 6;
    else
        return XMTA_E_INVAL;
    n->prefix = n->family == 4 ? 32 : 128;
    if (slash) {
        if (conf_parse_ulong(slash + 1, 0, n->prefix, &bits) < 0)
            return XMTA_E_INVAL;
        n->prefix = (unsigned)bits;
    }
    return 0;
}

/* Repeatable, each a comma-separated list of addresses or networks. */
static int conf_key_status_allow(struct conf_parse *p, const char *v)
{
    struct conf *c = p->c;
    const char *s = v;

    while (*s) {
        char item[64];
        size_t len;

        s += strspn(s, " \t,");
        len = strcspn(s, " \t,");
        if (len == 0)
            break;
        if (len >= sizeof item)
            return conf_fail(p, p->lineno, "bad status_allow entry '%.*s'",
                             (int)(len > 60 ? 60 : len), s);
        memcpy(item, s, len);
        item[len] = '\0';
        s += len;
        if (c->n_status_allow >= CONF_LIST_MAX)
            return conf_fail(p, p->lineno,
                             "too many status_allow entries (at most %d)",
                             CONF_LIST_MAX);
        if (conf_grow((void **)&c->status_allow, c->n_status_allow,
                      sizeof *c->status_allow) < 0)
            return conf_nomem(p);
        if (conf_parse_net(item, &c->status_allow[c->n_status_allow]) < 0)
            return conf_fail(p, p->lineno,
                             "bad status_allow entry '%s': expected an IP "
                             "address or a network such as 10.0.0.0/8",
                             item);
        c->n_status_allow++;
    }
    return 0;
}

/* ---- [hook NAME] ---- */

static int conf_token_char_ok(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '~' ||
           ch == '-';
}

/* Never quotes the token: it is a secret. */
static int conf_key_token(struct conf_parse *p, const char *v)
{
    struct conf_hook *h = conf_cur_hook(p);
    size_t len = strlen(v);

    if (len < CONF_TOKEN_MIN || len > CONF_TOKEN_MAX)
        return conf_fail(p, p->lineno,
                         "token of %s must be %d to %d characters long "
                         "(`xmta token` prints a good one)",
                         p->sec_label, CONF_TOKEN_MIN, CONF_TOKEN_MAX);
    for (size_t i = 0; i < len; i++) {
        if (!conf_token_char_ok(v[i]))
            return conf_fail(p, p->lineno,
                             "token of %s may only contain A-Z a-z 0-9 and "
                             ". _ ~ - (`xmta token` prints a good one)",
                             p->sec_label);
    }
    for (size_t i = 0; i + 1 < p->c->n_hooks; i++) {
        const struct conf_hook *o = &p->c->hooks[i];

        if (o->token && strcmp(o->token, v) == 0)
            return conf_fail(p, p->lineno,
                             "token of %s is already used by [hook %s] "
                             "(line %d): each hook needs its own token",
                             p->sec_label, o->name, o->line);
    }
    return conf_set_str(p, &h->token, v);
}

/* 64 hex digits: the SHA-256 of the token (`xmta token` prints it). */
static int conf_key_token_sha256(struct conf_parse *p, const char *v)
{
    struct conf_hook *h = conf_cur_hook(p);

    if (strlen(v) != 64 || strspn(v, "0123456789abcdefABCDEF") != 64)
        return conf_fail(p, p->lineno,
                         "token_sha256 of %s must be 64 hex digits (`xmta "
                         "token` prints one)",
                         p->sec_label);
    for (size_t i = 0; i < 32; i++) {
        char byte[3] = {v[2 * i], v[2 * i + 1], '\0'};

        h->token_sha256[i] = (unsigned char)strtoul(byte, NULL, 16);
    }
    for (size_t i = 0; i + 1 < p->c->n_hooks; i++) {
        const struct conf_hook *o = &p->c->hooks[i];

        if (o->has_token_sha256 &&
            memcmp(o->token_sha256, h->token_sha256, 32) == 0)
            return conf_fail(p, p->lineno,
                             "token_sha256 of %s is already used by [hook %s] "
                             "(line %d): each hook needs its own token",
                             p->sec_label, o->name, o->line);
    }
    h->has_token_sha256 = 1;
    return 0;
}

/* N/PERIOD: 30/min, 5/s, 100/hour, 1000/day. */
static int conf_key_rate(struct conf_parse *p, const char *v)
{
    static const struct {
        const char *name;
        unsigned seconds;
    } periods[] = {{"s", 1},     {"sec", 1},     {"second", 1}, {"m", 60},
                   {"min", 60},  {"minute", 60}, {"h", 3600},   {"hour", 3600},
                   {"d", 86400}, {"day", 86400}};
    const char *slash = strchr(v, '/');
    char num[16];
    unsigned long n;
    size_t len = slash ? (size_t)(slash - v) : 0;

    if (!slash || len == 0 || len >= sizeof num)
        goto bad;
    memcpy(num, v, len);
    num[len] = '\0';
    if (conf_parse_ulong(num, 1, CONF_RATE_MAX, &n) < 0)
        goto bad;
    for (size_t i = 0; i < sizeof periods / sizeof periods[0]; i++) {
        if (strcmp(slash + 1, periods[i].name) == 0) {
            conf_cur_hook(p)->rate_n = (unsigned)n;
            conf_cur_hook(p)->rate_period = periods[i].seconds;
            return 0;
        }
    }
bad:
    return conf_fail(p, p->lineno,
                     "bad rate '%s': expected N/PERIOD such as 30/min, 5/s, "
                     "100/hour or 1000/day",
                     v);
}

static int conf_key_burst(struct conf_parse *p, const char *v)
{
    unsigned long n;

    if (conf_parse_ulong(v, 1, CONF_RATE_MAX, &n) < 0)
        return conf_fail(p, p->lineno,
                         "bad burst '%s': expected a number of requests from "
                         "1 to %d",
                         v, CONF_RATE_MAX);
    conf_cur_hook(p)->burst = (unsigned)n;
    return 0;
}

/* A bot localpart: nodeprep-valid, normalised, into out. */
static int conf_prep_local(const char *v, char *out, const char **why)
{
    char buf[JID_PART_MAX + 16];
    struct jid j;

    if (strchr(v, '@') || strchr(v, '/')) {
        *why = "must not contain '@' or '/'";
        return XMTA_E_INVAL;
    }
    if (strlen(v) > JID_PART_MAX) {
        *why = "localpart too long";
        return XMTA_E_INVAL;
    }
    /* jid_parse checks a localpart only in a whole JID; any valid domain
     * serves, it is thrown away. */
    snprintf(buf, sizeof buf, "%s@localhost", v);
    if (jid_parse(buf, &j, why) < 0)
        return XMTA_E_INVAL;
    memcpy(out, j.local, sizeof j.local);
    return 0;
}

static int conf_key_from(struct conf_parse *p, const char *v)
{
    char local[JID_PART_MAX + 1];
    const char *why = NULL;

    if (conf_prep_local(v, local, &why) < 0)
        return conf_fail(p, p->lineno,
                         "bad from '%s': %s (expected a localpart such as "
                         "'grafana')",
                         v, why);
    return conf_set_str(p, &conf_cur_hook(p)->from, local);
}

/* The nick becomes a room occupant's resourcepart: resourceprep it. */
static int conf_prep_nick(const char *v, char *out, const char **why)
{
    char buf[JID_PART_MAX + 16];
    struct jid j;

    if (strlen(v) > JID_PART_MAX) {
        *why = "too long";
        return XMTA_E_INVAL;
    }
    snprintf(buf, sizeof buf, "localhost/%s", v);
    if (jid_parse(buf, &j, why) < 0)
        return XMTA_E_INVAL;
    memcpy(out, j.resource, sizeof j.resource);
    return 0;
}

static int conf_key_nick(struct conf_parse *p, const char *v)
{
    char nick[JID_PART_MAX + 1];
    const char *why = NULL;

    if (conf_prep_nick(v, nick, &why) < 0)
        return conf_fail(p, p->lineno, "bad nick '%s': %s", v, why);
    return conf_set_str(p, &conf_cur_hook(p)->nick, nick);
}

static int conf_key_room_password(struct conf_parse *p, const char *v)
{
    if (!*v || strlen(v) > CONF_SECRET_MAX)
        return conf_fail(p, p->lineno,
                         "bad room_password in %s: empty or longer than %d "
                         "bytes",
                         p->sec_label, CONF_SECRET_MAX);
    if (conf_set_str(p, &conf_cur_hook(p)->room_password, v) < 0)
        return -1;
    return 0;
}

/* avatar = FILE: a PNG, JPEG, GIF or WebP image of at most
 * CONF_AVATAR_MAX bytes, checked here so that a bad file is a config
 * error with its line; component/ reads it at start. */
static int conf_key_avatar(struct conf_parse *p, const char *v)
{
    static const struct {
        const char *ext, *type;
    } types[] = {{".png", "image/png"},
                 {".jpg", "image/jpeg"},
                 {".jpeg", "image/jpeg"},
                 {".gif", "image/gif"},
                 {".webp", "image/webp"}};
    struct conf_hook *h = conf_cur_hook(p);
    const char *type = NULL, *dot = strrchr(v, '.');
    char *path = NULL;
    FILE *f = NULL;
    long size;
    int rc = -1;

    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcasecmp(dot, types[i].ext) == 0)
            type = types[i].type;
    if (!type)
        return conf_fail(p, p->lineno,
                         "bad avatar '%s': expected a .png, .jpg, .jpeg, "
                         ".gif or .webp file",
                         v);
    if (v[0] != '/' && p->dir) {
        size_t len = strlen(p->dir) + strlen(v) + 2;

        if (!(path = malloc(len)))
            return conf_nomem(p);
        snprintf(path, len, "%s/%s", p->dir, v);
    } else if (!(path = strdup(v))) {
        return conf_nomem(p);
    }
    if (!(f = fopen(path, "rb")) || fseek(f, 0, SEEK_END) != 0 ||
        (size = ftell(f)) < 0) {
        conf_fail(p, p->lineno, "cannot read avatar '%s': %s", path,
                  strerror(errno ? errno : EIO));
        goto out;
    }
    if (size == 0 || size > CONF_AVATAR_MAX) {
        conf_fail(p, p->lineno,
                  "avatar '%s' is %ld bytes: expected 1 to %d (keep it "
                  "small, e.g. 96x96)",
                  path, size, CONF_AVATAR_MAX);
        goto out;
    }
    if (conf_set_str(p, &h->avatar, path) < 0)
        goto out;
    h->avatar_type = type;
    rc = 0;
out:
    if (f)
        fclose(f);
    free(path);
    return rc;
}

static int conf_hook_list_add(
    struct conf_parse *p, const char *key, char ***v, size_t *n, const char *s)
{
    if (*n >= CONF_LIST_MAX)
        return conf_fail(p, p->lineno, "too many %s entries in %s (at most %d)",
                         key, p->sec_label, CONF_LIST_MAX);
    for (size_t i = 0; i < *n; i++) {
        if (strcmp((*v)[i], s) == 0)
            return conf_fail(p, p->lineno, "duplicate %s '%s' in %s", key, s,
                             p->sec_label);
    }
    if (conf_strv_push(v, n, s) < 0)
        return conf_nomem(p);
    return 0;
}

static int conf_key_to(struct conf_parse *p, const char *v)
{
    struct conf_hook *h = conf_cur_hook(p);
    char full[3 * (JID_PART_MAX + 1) + 2];
    const char *why = NULL;
    struct jid j;

    if (jid_parse(v, &j, &why) < 0)
        return conf_fail(p, p->lineno, "bad to '%s': %s", v, why);
    if (!j.local[0])
        return conf_fail(p, p->lineno,
                         "bad to '%s': expected a user JID such as "
                         "alice@example.org",
                         v);
    if (jid_full(&j, full, sizeof full) < 0)
        return conf_fail(p, p->lineno, "bad to '%s': too long", v);
    return conf_hook_list_add(p, "to", &h->to, &h->n_to, full);
}

static int conf_key_room(struct conf_parse *p, const char *v)
{
    struct conf_hook *h = conf_cur_hook(p);
    char bare[2 * (JID_PART_MAX + 1) + 2];
    const char *why = NULL;
    struct jid j;

    if (jid_parse(v, &j, &why) < 0)
        return conf_fail(p, p->lineno, "bad room '%s': %s", v, why);
    if (!j.local[0] || j.resource[0])
        return conf_fail(p, p->lineno,
                         "bad room '%s': expected a bare room JID such as "
                         "ops@conference.example.org (no /nick)",
                         v);
    if (jid_bare(&j, bare, sizeof bare) < 0)
        return conf_fail(p, p->lineno, "bad room '%s': too long", v);
    return conf_hook_list_add(p, "room", &h->rooms, &h->n_rooms, bare);
}

static int conf_key_allow_to(struct conf_parse *p, const char *v)
{
    struct conf_hook *h = conf_cur_hook(p);

    if (strlen(v) > 3 * JID_PART_MAX + 2)
        return conf_fail(p, p->lineno, "bad allow_to: pattern too long");
    for (const unsigned char *s = (const unsigned char *)v; *s; s++) {
        if (*s <= ' ' || *s == 0x7F)
            return conf_fail(p, p->lineno,
                             "bad allow_to '%s': spaces and control "
                             "characters are not allowed",
                             v);
    }
    return conf_hook_list_add(p, "allow_to", &h->allow_to, &h->n_allow_to, v);
}

static int conf_key_type(struct conf_parse *p, const char *v)
{
    enum msg_type t;

    if (msg_type_parse(v, &t) < 0)
        return conf_fail(p, p->lineno,
                         "bad type '%s': expected chat, normal or headline", v);
    conf_cur_hook(p)->type = t;
    return 0;
}

/* ---- [spool] ---- */

static int conf_key_spool_path(struct conf_parse *p, const char *v)
{
    free(p->c->spool_path);
    p->c->spool_path = NULL;
    if (strcmp(v, "none") == 0)
        return 0; /* in memory: nothing survives a restart */
    if (v[0] != '/')
        return conf_fail(p, p->lineno,
                         "bad spool path '%s': expected an absolute "
                         "directory or none",
                         v);
    return conf_set_str(p, &p->c->spool_path, v) < 0 ? -1 : 0;
}

static int conf_key_spool_messages(struct conf_parse *p, const char *v)
{
    unsigned long n;

    if (conf_parse_ulong(v, 1, CONF_QUEUE_MAX, &n) < 0)
        return conf_fail(p, p->lineno,
                         "bad max_messages '%s': expected a number from 1 "
                         "to %d",
                         v, CONF_QUEUE_MAX);
    p->c->spool_max_messages = n;
    return 0;
}

static int conf_key_spool_bytes(struct conf_parse *p, const char *v)
{
    size_t n;

    if (conf_parse_size(v, &n) < 0 || n < 1024)
        return conf_fail(p, p->lineno,
                         "bad max_bytes '%s': expected a size of at least "
                         "1k such as 256M",
                         v);
    p->c->spool_max_bytes = n;
    return 0;
}

/* Seconds, or a number with s, m, h or d ("24h"). */
static int conf_key_spool_age(struct conf_parse *p, const char *v)
{
    static const char units[] = "smhd";
    static const unsigned long mult[] = {1, 60, 3600, 86400};
    char num[32];
    size_t len = strlen(v);
    unsigned long n, m = 1;
    const char *u;

    if (len > 0 && len < sizeof num && (u = strchr(units, v[len - 1])) && *u) {
        m = mult[u - units];
        len--;
    }
    if (len == 0 || len >= sizeof num)
        goto bad;
    memcpy(num, v, len);
    num[len] = '\0';
    if (conf_parse_ulong(num, 1, CONF_SPOOL_AGE_MAX, &n) < 0 ||
        n > CONF_SPOOL_AGE_MAX / m)
        goto bad;
    p->c->spool_max_age = (unsigned)(n * m);
    return 0;
bad:
    return conf_fail(p, p->lineno,
                     "bad max_age '%s': expected a duration such as 3600, "
                     "90m, 24h or 7d (at most 365d)",
                     v);
}

/* ---- [hook NAME]: webhook formats (issue 5) ---- */

#define CONF_MAX_MESSAGE_MIN 100
#define CONF_MAX_MESSAGE_MAX 100000
#define CONF_TEMPLATE_LINES_MAX 200

static void conf_secret_free(char *s);

/* The name is checked against the known formats by http_conf_check(). */
static int conf_key_format(struct conf_parse *p, const char *v)
{
    struct conf_hook *h = conf_cur_hook(p);

    if (strlen(v) > 32 || strspn(v, "abcdefghijklmnopqrstuvwxyz-") != strlen(v))
        return conf_fail(p, p->lineno,
                         "bad format '%s': expected auto or a format name "
                         "such as alertmanager",
                         v);
    h->format_line = p->lineno;
    return conf_set_str(p, &h->format, v);
}

/* Repeatable: each template = line is one line of the template. */
static int conf_key_template(struct conf_parse *p, const char *v)
{
    struct conf_hook *h = conf_cur_hook(p);
    size_t old = h->tmpl ? strlen(h->tmpl) : 0, n = strlen(v);
    int *lines;
    char *t;

    if (h->n_tmpl_lines >= CONF_TEMPLATE_LINES_MAX)
        return conf_fail(p, p->lineno, "template too long (at most %d lines)",
                         CONF_TEMPLATE_LINES_MAX);
    if (!(lines =
              realloc(h->tmpl_lines, (h->n_tmpl_lines + 1) * sizeof(*lines))))
        return conf_nomem(p);
    h->tmpl_lines = lines;
    if (!(t = realloc(h->tmpl, old + n + 2)))
        return conf_nomem(p);
    if (old)
        t[old++] = '\n';
    memcpy(t + old, v, n + 1);
    h->tmpl = t;
    lines[h->n_tmpl_lines++] = p->lineno;
    return 0;
}

static int conf_key_max_message(struct conf_parse *p, const char *v)
{
    unsigned long n;

    if (conf_parse_ulong(v, CONF_MAX_MESSAGE_MIN, CONF_MAX_MESSAGE_MAX, &n) < 0)
        return conf_fail(p, p->lineno,
                         "bad max_message '%s': expected a number of "
                         "characters from %d to %d",
                         v, CONF_MAX_MESSAGE_MIN, CONF_MAX_MESSAGE_MAX);
    conf_cur_hook(p)->max_message = n;
    return 0;
}

/* ---- [hook NAME]: alert lifecycle (issue 5) ---- */

#define CONF_HEARTBEAT_MAX (7u * 86400u)

static int conf_key_on_resolve(struct conf_parse *p, const char *v)
{
    struct conf_hook *h = conf_cur_hook(p);

    if (strcmp(v, "new") == 0)
        h->on_resolve_correct = 0;
    else if (strcmp(v, "correct") == 0)
        h->on_resolve_correct = 1;
    else
        return conf_fail(p, p->lineno,
                         "bad on_resolve '%s': expected new or correct", v);
    return 0;
}

/* Seconds, or a number with s, m or h ("15m"); 1s to 7 days, or off. */
static int conf_key_heartbeat(struct conf_parse *p, const char *v)
{
    static const char units[] = "smh";
    static const unsigned long mult[] = {1, 60, 3600};
    char num[32];
    size_t len = strlen(v);
    unsigned long n, m = 1;
    const char *u;

    if (strcmp(v, "off") == 0 || strcmp(v, "0") == 0) {
        conf_cur_hook(p)->heartbeat = 0;
        return 0;
    }
    if (len > 0 && len < sizeof num && (u = strchr(units, v[len - 1])) && *u) {
        m = mult[u - units];
        len--;
    }
    if (len == 0 || len >= sizeof num)
        goto bad;
    memcpy(num, v, len);
    num[len] = '\0';
    if (conf_parse_ulong(num, 1, CONF_HEARTBEAT_MAX, &n) < 0 ||
        n > CONF_HEARTBEAT_MAX / m)
        goto bad;
    conf_cur_hook(p)->heartbeat = (unsigned)(n * m);
    return 0;
bad:
    return conf_fail(p, p->lineno,
                     "bad heartbeat '%s': expected a duration such as 90s, "
                     "15m or 1h (at most 168h), or off",
                     v);
}

static int conf_key_heartbeat_forward(struct conf_parse *p, const char *v)
{
    return conf_bool(p, "heartbeat_forward", v,
                     &conf_cur_hook(p)->heartbeat_forward);
}

/* Never quotes the value: it is a secret. */
static int conf_key_sig_secret(struct conf_parse *p, const char *v)
{
    struct conf_hook *h = conf_cur_hook(p);

    if (strlen(v) < 8)
        return conf_fail(p, p->lineno,
                         "secret of %s is too short (at least 8 characters)",
                         p->sec_label);
    conf_secret_free(h->sig_secret);
    if (!(h->sig_secret = strdup(v)))
        return conf_nomem(p);
    return 0;
}

static int conf_key_sig_header(struct conf_parse *p, const char *v)
{
    for (const char *c = v; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'))
            return conf_fail(p, p->lineno,
                             "bad signature_header '%s': expected a header "
                             "name such as X-Signature",
                             v);
    return conf_set_str(p, &conf_cur_hook(p)->sig_header, v);
}

/* An outgoing URL: https://HOST..., or http:// to a loopback host only
 * (the request carries the user's text); no spaces or control
 * characters. */
static int
conf_url(struct conf_parse *p, const char *key, const char *v, char **dst)
{
    static const char *const loop[] = {"127.0.0.1", "localhost", "[::1]"};
    const char *host = NULL;
    int ok = 0;

    if (strncmp(v, "https://", 8) == 0)
        host = v + 8;
    else if (strncmp(v, "http://", 7) == 0)
        host = v + 7;
    for (const char *c = v; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            host = NULL;
    if (host && strlen(v) <= 2000 && *host && *host != '/' && *host != ':') {
        ok = host == v + 8;
        for (size_t i = 0; !ok && i < sizeof(loop) / sizeof(loop[0]); i++) {
            size_t n = strlen(loop[i]);

            ok = strncmp(host, loop[i], n) == 0 &&
                 (host[n] == '\0' || host[n] == ':' || host[n] == '/');
        }
    }
    if (!ok)
        return conf_fail(p, p->lineno,
                         "bad %s '%s': expected https://HOST/PATH (http:// "
                         "only to 127.0.0.1, localhost or [::1])",
                         key, v);
    return conf_set_str(p, dst, v);
}

static int conf_key_reply_url(struct conf_parse *p, const char *v)
{
    return conf_url(p, "reply_url", v, &conf_cur_hook(p)->reply_url);
}

static int conf_key_reply_timeout(struct conf_parse *p, const char *v)
{
    unsigned long n;

    if (conf_parse_ulong(v, 1, 120, &n) < 0)
        return conf_fail(p, p->lineno,
                         "bad reply_timeout '%s': expected seconds from 1 to "
                         "120",
                         v);
    conf_cur_hook(p)->reply_timeout = (unsigned)n;
    return 0;
}

static int conf_key_alertmanager_url(struct conf_parse *p, const char *v)
{
    return conf_url(p, "alertmanager_url", v,
                    &conf_cur_hook(p)->alertmanager_url);
}

/* Globs over bare JIDs, as allow_to. */
static int conf_key_commanders(struct conf_parse *p, const char *v)
{
    struct conf_hook *h = conf_cur_hook(p);

    if (strlen(v) > 1024)
        return conf_fail(p, p->lineno, "bad commanders: pattern too long");
    for (const char *c = v; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            return conf_fail(p, p->lineno,
                             "bad commanders '%s': spaces and control "
                             "characters are not allowed",
                             v);
    return conf_hook_list_add(p, "commanders", &h->commanders, &h->n_commanders,
                              v);
}

/* Host globs (no scheme, port or path). */
static int conf_key_attach_hosts(struct conf_parse *p, const char *v)
{
    struct conf_hook *h = conf_cur_hook(p);

    if (strlen(v) > 255 || strspn(v, "abcdefghijklmnopqrstuvwxyz"
                                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789.-*?[]:") != strlen(v))
        return conf_fail(p, p->lineno,
                         "bad attach_hosts '%s': expected a host name or "
                         "glob such as *.example.org",
                         v);
    return conf_hook_list_add(p, "attach_hosts", &h->attach_hosts,
                              &h->n_attach_hosts, v);
}

static int conf_key_attach_max(struct conf_parse *p, const char *v)
{
    size_t n;

    if (conf_parse_size(v, &n) < 0 || n < 1024 || n > 100 * 1024 * 1024)
        return conf_fail(p, p->lineno,
                         "bad attach_max '%s': expected a size from 1k to "
                         "100M",
                         v);
    conf_cur_hook(p)->attach_max = n;
    return 0;
}

static int conf_key_long_body(struct conf_parse *p, const char *v)
{
    if (strcmp(v, "cut") != 0 && strcmp(v, "upload") != 0)
        return conf_fail(p, p->lineno,
                         "bad long_body '%s': expected cut or upload", v);
    conf_cur_hook(p)->long_body_upload = strcmp(v, "upload") == 0;
    return 0;
}

/* [http_client] ca_file: relative to the config's directory; it must be
 * readable now (a typo would otherwise show only as failing requests). */
static int conf_key_http_ca_file(struct conf_parse *p, const char *v)
{
    FILE *fp;
    char *path;
    size_t len;

    if (v[0] == '/' || !p->dir) {
        path = strdup(v);
    } else {
        len = strlen(p->dir) + strlen(v) + 2;
        if ((path = malloc(len)))
            snprintf(path, len, "%s/%s", p->dir, v);
    }
    if (!path)
        return conf_nomem(p);
    if (!(fp = fopen(path, "r"))) {
        int rc = conf_fail(p, p->lineno, "cannot read ca_file '%s': %s", path,
                           strerror(errno));

        free(path);
        return rc;
    }
    fclose(fp);
    free(p->c->http_ca_file);
    p->c->http_ca_file = path;
    return 0;
}

/* ---- the key tables ---- */

static const struct conf_key conf_keys_component[] = {
    {"domain", 0, conf_key_domain},
    {"server", 0, conf_key_server},
    {"port", 0, conf_key_port},
    {"secret", 0, conf_key_secret},
    {"secret_file", 0, conf_key_secret_file},
    {"ping_interval", 0, conf_key_ping_interval},
    {"ping_timeout", 0, conf_key_ping_timeout},
    {"keepalive", 0, conf_key_keepalive},
    {"queue", 0, conf_key_queue},
    {"tls", 0, conf_key_tls},
    {"tls_verify", 0, conf_key_tls_verify},
    {"tls_ca", 0, conf_key_tls_ca},
    {"tls_name", 0, conf_key_tls_name},
    {"storm", 0, conf_key_storm},
    {"log", 0, conf_key_log},
    {"upload_service", 0, conf_key_upload_service},
    {NULL, 0, NULL},
};

static const struct conf_key conf_keys_http[] = {
    {"listen", 1, conf_key_listen},
    {"max_body", 0, conf_key_max_body},
    {"tls_cert", 0, conf_key_tls_cert},
    {"tls_key", 0, conf_key_tls_key},
    {"max_headers", 0, conf_key_max_headers},
    {"header_timeout", 0, conf_key_header_timeout},
    {"body_timeout", 0, conf_key_body_timeout},
    {"idle_timeout", 0, conf_key_idle_timeout},
    {"max_connections", 0, conf_key_max_connections},
    {"status_allow", 1, conf_key_status_allow},
    {NULL, 0, NULL},
};

static const struct conf_key conf_keys_hook[] = {
    {"token", 0, conf_key_token},
    {"from", 0, conf_key_from},
    {"nick", 0, conf_key_nick},
    {"to", 1, conf_key_to},
    {"room", 1, conf_key_room},
    {"allow_to", 1, conf_key_allow_to},
    {"type", 0, conf_key_type},
    {"room_password", 0, conf_key_room_password},
    {"avatar", 0, conf_key_avatar},
    {"format", 0, conf_key_format},
    {"template", 1, conf_key_template},
    {"max_message", 0, conf_key_max_message},
    {"secret", 0, conf_key_sig_secret},
    {"signature_header", 0, conf_key_sig_header},
    {"reply_url", 0, conf_key_reply_url},
    {"reply_timeout", 0, conf_key_reply_timeout},
    {"alertmanager_url", 0, conf_key_alertmanager_url},
    {"commanders", 1, conf_key_commanders},
    {"attach_hosts", 1, conf_key_attach_hosts},
    {"attach_max", 0, conf_key_attach_max},
    {"long_body", 0, conf_key_long_body},
    {"token_sha256", 0, conf_key_token_sha256},
    {"rate", 0, conf_key_rate},
    {"burst", 0, conf_key_burst},
    {"on_resolve", 0, conf_key_on_resolve},
    {"heartbeat", 0, conf_key_heartbeat},
    {"heartbeat_forward", 0, conf_key_heartbeat_forward},
    {NULL, 0, NULL},
};

static const struct conf_key conf_keys_spool[] = {
    {"path", 0, conf_key_spool_path},
    {"max_messages", 0, conf_key_spool_messages},
    {"max_bytes", 0, conf_key_spool_bytes},
    {"max_age", 0, conf_key_spool_age},
    {NULL, 0, NULL},
};

static const struct conf_key conf_keys_http_client[] = {
    {"ca_file", 0, conf_key_http_ca_file},
    {NULL, 0, NULL},
};

static const struct conf_key *const conf_keys[CONF_SEC_COUNT] = {
    [CONF_SEC_NONE] = NULL,
    [CONF_SEC_COMPONENT] = conf_keys_component,
    [CONF_SEC_HTTP] = conf_keys_http,
    [CONF_SEC_HOOK] = conf_keys_hook,
    [CONF_SEC_SPOOL] = conf_keys_spool,
    [CONF_SEC_HTTP_CLIENT] = conf_keys_http_client,
};

static const char *const conf_sec_names[CONF_SEC_COUNT] = {
    [CONF_SEC_NONE] = "",         [CONF_SEC_COMPONENT] = "[component]",
    [CONF_SEC_HTTP] = "[http]",   [CONF_SEC_HOOK] = "[hook NAME]",
    [CONF_SEC_SPOOL] = "[spool]", [CONF_SEC_HTTP_CLIENT] = "[http_client]",
};

static char conf_lower(char ch)
{
    return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

/* Case-insensitive Levenshtein distance; 99 for long strings. */
static size_t conf_distance(const char *a, const char *b)
{
    size_t row[64], la = strlen(a), lb = strlen(b);

    if (la >= 64 || lb >= 64)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];

        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (conf_lower(a[i - 1]) != conf_lower(b[j - 1]));

            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static int conf_prefix_of(const char *a, const char *b)
{
    size_t la = strlen(a);

    if (la < 3 || la > strlen(b))
        return 0;
    for (size_t i = 0; i < la; i++) {
        if (conf_lower(a[i]) != conf_lower(b[i]))
            return 0;
    }
    return 1;
}

/* The known name most like word: an edit distance of at most 2 (1 for
 * short names), else one being a prefix of the other. NULL when nothing
 * is close. */
static const char *
conf_suggest(const char *word, const char *const *names, size_t n)
{
    const char *best = NULL;
    size_t best_score = 99;

    for (size_t i = 0; i < n; i++) {
        size_t d = conf_distance(word, names[i]);
        size_t score = 99;

        if (d <= (strlen(names[i]) <= 4 ? 1u : 2u))
            score = d;
        else if (conf_prefix_of(word, names[i]) ||
                 conf_prefix_of(names[i], word))
            score = 3;
        if (score < best_score) {
            best = names[i];
            best_score = score;
        }
    }
    return best;
}

static int conf_unknown_key(struct conf_parse *p, const char *name)
{
    const struct conf_key *keys = conf_keys[p->sec];
    const char *names[CONF_KEYS_MAX];
    const char *hint;
    size_t n = 0;

    for (; keys[n].name && n < CONF_KEYS_MAX; n++)
        names[n] = keys[n].name;
    if ((hint = conf_suggest(name, names, n)))
        return conf_fail(p, p->lineno,
                         "unknown key '%s' in %s (did you mean '%s'?)", name,
                         p->sec_label, hint);
    /* A key that belongs to another section. */
    for (int s = CONF_SEC_COMPONENT; s < CONF_SEC_COUNT; s++) {
        for (const struct conf_key *k = conf_keys[s]; k->name; k++) {
            if (strcmp(k->name, name) == 0)
                return conf_fail(p, p->lineno,
                                 "unknown key '%s' in %s (it belongs in %s)",
                                 name, p->sec_label, conf_sec_names[s]);
        }
    }
    return conf_fail(p, p->lineno, "unknown key '%s' in %s", name,
                     p->sec_label);
}

/* Cuts a " ; comment" off value (copy in *out). libinih as Debian builds it
 * already does; this keeps the format the same with a build that does
 * not. A ';' not preceded by a space is part of the value. */
static char *conf_value_dup(const char *value)
{
    char *v = strdup(value);
    size_t n;

    if (!v)
        return NULL;
    for (char *s = v; *s; s++) {
        if (*s == ';' && s > v && (s[-1] == ' ' || s[-1] == '\t')) {
            *s = '\0';
            break;
        }
    }
    n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        v[--n] = '\0';
    return v;
}

static int conf_on_pair(void *user,
                        const char *section,
                        const char *name,
                        const char *value)
{
    struct conf_parse *p = user;
    const struct conf_key *k;
    char *v = NULL;
    size_t i;
    int rc;

    (void)section; /* libinih cuts long names; p->sec is the real one */
    if (p->failed)
        return 0;
    if (p->sec == CONF_SEC_NONE) {
        conf_fail(p, p->lineno,
                  "key '%s' comes before any section such as [component]",
                  name);
        return 0;
    }
    for (i = 0, k = conf_keys[p->sec]; k->name; i++, k++) {
        if (strcmp(k->name, name) == 0)
            break;
    }
    if (!k->name) {
        conf_unknown_key(p, name);
        return 0;
    }
    if (!k->repeatable && p->seen[i]) {
        conf_fail(p, p->lineno, "duplicate key '%s' in %s (first at line %d)",
                  name, p->sec_label, p->seen[i]);
        return 0;
    }
    p->seen[i] = p->lineno;
    if (!(v = conf_value_dup(value))) {
        conf_nomem(p);
        return 0;
    }
    if (!v[0])
        rc = conf_fail(p, p->lineno, "empty value for '%s' in %s", name,
                       p->sec_label);
    else
        rc = k->set(p, v);
    explicit_bzero(v, strlen(v)); /* may be a secret or a token */
    free(v);
    return rc == 0;
}

/* ---- section headers ---- */

static int conf_hook_name_ok(const char *s, size_t len)
{
    if (len == 0 || len > CONF_HOOK_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];

        if (!(ch >= 'a' && ch <= 'z') && !(ch >= 'A' && ch <= 'Z') &&
            !(ch >= '0' && ch <= '9') && ch != '_' && ch != '.' && ch != '-')
            return 0;
    }
    return 1;
}

static int conf_begin_hook(struct conf_parse *p, const char *name, size_t len)
{
    struct conf *c = p->c;
    struct conf_hook *h;

    if (!conf_hook_name_ok(name, len))
        return conf_fail(p, p->lineno,
                         "bad hook name '%.*s': use 1 to %d of A-Z a-z 0-9 "
                         "_ . -",
                         (int)(len > 80 ? 80 : len), name, CONF_HOOK_NAME_MAX);
    for (size_t i = 0; i < c->n_hooks; i++) {
        if (strlen(c->hooks[i].name) == len &&
            strncasecmp(c->hooks[i].name, name, len) == 0)
            return conf_fail(p, p->lineno,
                             "duplicate hook '%.*s' (first at line %d)",
                             (int)len, name, c->hooks[i].line);
    }
    if (c->n_hooks >= CONF_HOOKS_MAX)
        return conf_fail(p, p->lineno, "too many hooks (at most %d)",
                         CONF_HOOKS_MAX);
    if (conf_grow((void **)&c->hooks, c->n_hooks, sizeof *c->hooks) < 0)
        return conf_nomem(p);
    h = &c->hooks[c->n_hooks];
    memset(h, 0, sizeof *h);
    if (!(h->name = strndup(name, len)))
        return conf_nomem(p);
    c->n_hooks++;
    h->line = p->lineno;
    h->type = MSG_CHAT;
    h->max_message = 4000; /* FMT_MAX_MESSAGE_DEFAULT */
    h->reply_timeout = 10;
    h->attach_max = 10 * 1024 * 1024;
    snprintf(p->sec_label, sizeof p->sec_label, "[hook %s]", h->name);
    return 0;
}

/* line[0..len) is "[...]" possibly followed by a comment. */
static int
conf_begin_section(struct conf_parse *p, const char *line, size_t len)
{
    static const char *const names[] = {"component", "http", "hook", "spool",
                                        "http_client"};
    const char *close = memchr(line, ']', len);
    const char *s, *e, *rest;
    const char *hint;
    int *first = NULL;

    if (!close)
        return conf_fail(p, p->lineno, "section header without ']'");
    for (rest = close + 1; rest < line + len; rest++) {
        if (*rest == ';' || *rest == '#')
            break;
        if (*rest != ' ' && *rest != '\t')
            return conf_fail(p, p->lineno, "text after the section header");
    }
    s = line + 1;
    e = close;
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;

    memset(p->seen, 0, sizeof p->seen);
    p->sec_line = p->lineno;
    if ((size_t)(e - s) >= 4 && memcmp(s, "hook", 4) == 0 &&
        (e - s == 4 || s[4] == ' ' || s[4] == '\t')) {
        const char *n = s + 4;

        while (n < e && (*n == ' ' || *n == '\t'))
            n++;
        if (n == e)
            return conf_fail(p, p->lineno,
                             "[hook] needs a name, as in [hook grafana]");
        p->sec = CONF_SEC_HOOK;
        return conf_begin_hook(p, n, (size_t)(e - n));
    }
    if (e - s == 9 && memcmp(s, "component", 9) == 0) {
        p->sec = CONF_SEC_COMPONENT;
        first = &p->component_line;
    } else if (e - s == 4 && memcmp(s, "http", 4) == 0) {
        p->sec = CONF_SEC_HTTP;
        first = &p->http_line;
    } else if (e - s == 5 && memcmp(s, "spool", 5) == 0) {
        p->sec = CONF_SEC_SPOOL;
        first = &p->spool_line;
    } else if (e - s == 11 && memcmp(s, "http_client", 11) == 0) {
        p->sec = CONF_SEC_HTTP_CLIENT;
        first = &p->http_client_line;
    } else {
        char word[64];
        size_t wl = 0;

        while (s + wl < e && s[wl] != ' ' && s[wl] != '\t' &&
               wl < sizeof word - 1)
            wl++;
        memcpy(word, s, wl);
        word[wl] = '\0';
        if ((hint = conf_suggest(word, names, 5)))
            return conf_fail(p, p->lineno,
                             "unknown section [%.*s] (did you mean [%s%s]?)",
                             (int)(e - s > 80 ? 80 : e - s), s, hint,
                             strcmp(hint, "hook") == 0 ? " NAME" : "");
        return conf_fail(p, p->lineno,
                         "unknown section [%.*s] (known: [component], "
                         "[http], [hook NAME], [spool], [http_client])",
                         (int)(e - s > 80 ? 80 : e - s), s);
    }
    if (*first)
        return conf_fail(p, p->lineno,
                         "duplicate section %s (first at line %d)",
                         conf_sec_names[p->sec], *first);
    *first = p->lineno;
    snprintf(p->sec_label, sizeof p->sec_label, "%s", conf_sec_names[p->sec]);
    return 0;
}

/* libinih's fgets-like reader over p->text: one line per call, so that
 * p->lineno is the line the handler is looking at. Leading blanks are
 * dropped (an indented key is a key, not a continuation of the previous
 * value), as are a UTF-8 BOM and '\r'. A line that would not fit libinih's
 * buffer is an error rather than being split in two. */
static char *conf_read_line(char *str, int num, void *stream)
{
    struct conf_parse *p = stream;
    const char *line, *nl;
    size_t len;

    if (p->failed || p->pos >= p->len)
        return NULL;
    line = p->text + p->pos;
    nl = memchr(line, '\n', p->len - p->pos);
    len = nl ? (size_t)(nl - line) : p->len - p->pos;
    p->pos += len + (nl ? 1 : 0);
    p->lineno++;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (p->lineno == 1 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
        line += 3;
        len -= 3;
    }
    while (len > 0 && (*line == ' ' || *line == '\t')) {
        line++;
        len--;
    }
    if (num < 3 || len > (size_t)num - 3) {
        conf_fail(p, p->lineno, "line too long (at most %d characters)",
                  num < 3 ? 0 : num - 3);
        return NULL;
    }
    if (len > 0 && line[0] == '[' && conf_begin_section(p, line, len) < 0)
        return NULL;
    memcpy(str, line, len);
    str[len] = '\n';
    str[len + 1] = '\0';
    return str;
}

/* ---- after the last line ---- */

static int conf_finish_hook(struct conf_parse *p, struct conf_hook *h)
{
    char buf[JID_PART_MAX + 1];
    const char *why = NULL;

    if (!h->token && !h->has_token_sha256)
        return conf_fail(p, h->line,
                         "[hook %s] has no token or token_sha256 (`xmta "
                         "token` prints both)",
                         h->name);
    if (h->token && h->has_token_sha256)
        return conf_fail(p, h->line,
                         "[hook %s] has both token and token_sha256: keep "
                         "one",
                         h->name);
    if (h->burst && !h->rate_n)
        return conf_fail(p, h->line, "[hook %s] has burst but no rate",
                         h->name);
    if (h->rate_n && !h->burst)
        h->burst = h->rate_n;
    if (h->n_to == 0 && h->n_rooms == 0 && h->n_allow_to == 0)
        return conf_fail(p, h->line,
                         "[hook %s] has no to, room or allow_to: it could "
                         "not send anything",
                         h->name);
    if (h->reply_url && !h->sig_secret)
        return conf_fail(p, h->line,
                         "[hook %s] has reply_url but no secret: replies "
                         "are signed with it",
                         h->name);
    if (!h->from) {
        if (conf_prep_local(h->name, buf, &why) < 0)
            return conf_fail(p, h->line,
                             "[hook %s] needs from = (the name is not a "
                             "valid localpart: %s)",
                             h->name, why);
        if (conf_set_str(p, &h->from, buf) < 0)
            return -1;
    }
    if (!h->nick) {
        if (conf_prep_nick(h->name, buf, &why) < 0)
            return conf_fail(p, h->line, "[hook %s] needs nick = (%s)", h->name,
                             why);
        if (conf_set_str(p, &h->nick, buf) < 0)
            return -1;
    }
    return 0;
}

/* listen = ... tls needs tls_cert and tls_key, and they need it. */
static int conf_finish_tls(struct conf_parse *p)
{
    const struct conf *c = p->c;
    int tls_line = 0;

    for (size_t i = 0; i < c->n_listen && !tls_line; i++)
        if (c->listen[i].tls)
            tls_line = c->listen[i].line;
    if (tls_line && (!c->tls_cert || !c->tls_key))
        return conf_fail(p, tls_line,
                         "listen ... tls needs tls_cert and tls_key in "
                         "[http]");
    if (!tls_line && (c->tls_cert || c->tls_key))
        return conf_fail(p, p->http_line,
                         "tls_cert/tls_key are set but no listen = "
                         "HOST:PORT tls uses them");
    return 0;
}

static int conf_finish(struct conf_parse *p)
{
    struct conf *c = p->c;

    if (!p->component_line)
        return conf_fail(p, 0, "missing [component] section");
    if (!c->domain)
        return conf_fail(p, p->component_line,
                         "[component] has no domain (the component's "
                         "JID, such as notify.example.org)");
    if (!c->server)
        return conf_fail(p, p->component_line,
                         "[component] has no server (the XMPP server's "
                         "component listener, such as 127.0.0.1)");
    if (!c->secret)
        return conf_fail(p, p->component_line,
                         "[component] has no secret or secret_file");
    if (c->n_listen == 0 && conf_add_listen(p, CONF_DEFAULT_LISTEN_HOST,
                                            CONF_DEFAULT_LISTEN_PORT, 0) < 0)
        return -1;
    if (conf_finish_tls(p) < 0)
        return -1;
    for (size_t i = 0; i < c->n_hooks; i++) {
        if (conf_finish_hook(p, &c->hooks[i]) < 0)
            return -1;
    }
    return 0;
}

static struct conf *conf_parse_text(const char *text,
                                    size_t len,
                                    const char *name,
                                    const char *dir,
                                    struct conf_diag *diag)
{
    struct conf_parse p;
    struct conf *c;
    int rc;

    memset(&p, 0, sizeof p);
    p.diag = diag;
    p.dir = dir;
    p.text = text;
    p.len = len;
    if (!(c = calloc(1, sizeof *c)) || !(c->path = strdup(name))) {
        free(c);
        snprintf(diag->msg, sizeof diag->msg, "out of memory");
        return NULL;
    }
    c->port = CONF_DEFAULT_PORT;
    c->ping_interval = CONF_DEFAULT_PING_INTERVAL;
    c->ping_timeout = CONF_DEFAULT_PING_TIMEOUT;
    c->keepalive = CONF_DEFAULT_KEEPALIVE;
    c->queue_max = CONF_DEFAULT_QUEUE;
    c->tls_verify = 1;
    c->max_body = CONF_DEFAULT_MAX_BODY;
    c->max_headers = CONF_DEFAULT_MAX_HEADERS;
    c->header_timeout = CONF_DEFAULT_HEADER_TIMEOUT;
    c->body_timeout = CONF_DEFAULT_BODY_TIMEOUT;
    c->idle_timeout = CONF_DEFAULT_IDLE_TIMEOUT;
    c->max_connections = CONF_DEFAULT_MAX_CONNECTIONS;
    c->spool_max_messages = CONF_DEFAULT_SPOOL_MESSAGES;
    c->spool_max_bytes = CONF_DEFAULT_SPOOL_BYTES;
    c->spool_max_age = CONF_DEFAULT_SPOOL_AGE;
    if (!(c->spool_path = strdup(CONF_SPOOL_DEFAULT_PATH))) {
        conf_free(c);
        snprintf(diag->msg, sizeof diag->msg, "out of memory");
        return NULL;
    }
    p.c = c;

    rc = ini_parse_stream(conf_read_line, &p, conf_on_pair, &p);
    /* rc is the first line libinih found wrong: one without '=' (or a
     * handler failure, which p.diag already describes). */
    if (rc > 0 && (!p.failed || rc < p.diag->line)) {
        p.failed = 0;
        conf_fail(&p, rc,
                  "malformed line: expected key = value, [section] or a "
                  "comment");
    } else if (rc < 0 && !p.failed) {
        conf_fail(&p, 0, "out of memory");
    }
    if (!p.failed)
        conf_finish(&p);
    if (p.failed) {
        conf_free(c);
        return NULL;
    }
    return c;
}

static void conf_diag_init(struct conf_diag *diag, const char *name)
{
    memset(diag, 0, sizeof *diag);
    snprintf(diag->file, sizeof diag->file, "%s", name);
}

struct conf *
conf_load_string(const char *text, const char *name, struct conf_diag *diag)
{
    struct conf_diag dummy;

    if (!diag)
        diag = &dummy;
    if (!name)
        name = "(string)";
    conf_diag_init(diag, name);
    if (!text) {
        snprintf(diag->msg, sizeof diag->msg, "no configuration text");
        return NULL;
    }
    return conf_parse_text(text, strlen(text), name, NULL, diag);
}

/* Reads all of path (at most CONF_FILE_MAX bytes) into a string. */
static char *conf_read_file(const char *path,
                            size_t *len,
                            unsigned *mode,
                            struct conf_diag *diag)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t n = 0;
    const char *nul;
    struct stat st;

    if (!f) {
        snprintf(diag->msg, sizeof diag->msg, "%s", strerror(errno));
        return NULL;
    }
    *mode = fstat(fileno(f), &st) == 0 ? (unsigned)(st.st_mode & 07777) : 0;
    if (!(buf = malloc(CONF_FILE_MAX + 2))) {
        snprintf(diag->msg, sizeof diag->msg, "out of memory");
        goto fail;
    }
    n = fread(buf, 1, CONF_FILE_MAX + 1, f);
    if (ferror(f)) {
        snprintf(diag->msg, sizeof diag->msg, "%s", strerror(errno));
        goto fail;
    }
    if (n > CONF_FILE_MAX) {
        snprintf(diag->msg, sizeof diag->msg, "file larger than %d bytes",
                 CONF_FILE_MAX);
        goto fail;
    }
    buf[n] = '\0';
    if ((nul = memchr(buf, '\0', n))) {
        diag->line = 1;
        for (const char *s = buf; s < nul; s++)
            diag->line += *s == '\n';
        snprintf(diag->msg, sizeof diag->msg, "NUL byte in the file");
        goto fail;
    }
    fclose(f);
    *len = n;
    return buf;
fail:
    free(buf);
    fclose(f);
    return NULL;
}

struct conf *conf_load(const char *path, struct conf_diag *diag)
{
    struct conf_diag dummy;
    struct conf *c = NULL;
    char *text = NULL, *dir = NULL, *slash;
    size_t len = 0;
    unsigned mode = 0;

    if (!diag)
        diag = &dummy;
    conf_diag_init(diag, path ? path : "(null)");
    if (!path) {
        snprintf(diag->msg, sizeof diag->msg, "no configuration file");
        return NULL;
    }
    if (!(text = conf_read_file(path, &len, &mode, diag)))
        return NULL;
    /* A relative secret_file is relative to the configuration's folder. */
    if ((slash = strrchr(path, '/'))) {
        if (!(dir =
                  strndup(path, slash == path ? 1 : (size_t)(slash - path)))) {
            snprintf(diag->msg, sizeof diag->msg, "out of memory");
            goto out;
        }
    }
    c = conf_parse_text(text, len, path, dir, diag);
    if (c)
        c->file_mode = mode;
out:
    free(dir);
    free(text);
    return c;
}

static void conf_strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void conf_secret_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

void conf_free(struct conf *c)
{
    if (!c)
        return;
    free(c->path);
    free(c->domain);
    free(c->server);
    free(c->spool_path);
    free(c->upload_service);
    free(c->http_ca_file);
    conf_secret_free(c->secret);
    free(c->tls_ca);
    free(c->tls_name);
    for (size_t i = 0; i < c->n_listen; i++)
        free(c->listen[i].host);
    free(c->listen);
    free(c->tls_cert);
    free(c->tls_key);
    free(c->status_allow);
    for (size_t i = 0; i < c->n_hooks; i++) {
        struct conf_hook *h = &c->hooks[i];

        free(h->name);
        conf_secret_free(h->token);
        free(h->from);
        free(h->nick);
        conf_strv_free(h->to, h->n_to);
        conf_strv_free(h->rooms, h->n_rooms);
        conf_strv_free(h->allow_to, h->n_allow_to);
        conf_secret_free(h->room_password);
        free(h->avatar);
        free(h->format);
        free(h->tmpl);
        free(h->tmpl_lines);
        conf_secret_free(h->sig_secret);
        free(h->sig_header);
        free(h->reply_url);
        free(h->alertmanager_url);
        conf_strv_free(h->commanders, h->n_commanders);
        conf_strv_free(h->attach_hosts, h->n_attach_hosts);
    }
    free(c->hooks);
    free(c);
}

/* 1 when a[0..alen) equals b[0..blen), in time that depends only on
 * max(alen, blen): no early exit, the length difference folded in. */
static unsigned
conf_ct_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen > blen ? alen : blen;
    size_t dl = alen ^ blen;
    volatile unsigned acc = 0;

    acc |= (unsigned)((dl | (0 - dl)) >> (sizeof dl * 8 - 1));
    for (size_t i = 0; i < n; i++) {
        unsigned char x = i < alen ? (unsigned char)a[i] : 0;
        unsigned char y = i < blen ? (unsigned char)b[i] : 0;

        acc |= (unsigned)(x ^ y);
    }
    return ((acc - 1u) >> 31) & 1u; /* acc is at most 0xFF */
}

const struct conf_hook *conf_hook_by_token(const struct conf *c,
                                           const char *token)
{
    size_t len, pick = 0;

    if (!c || !token)
        return NULL;
    len = strnlen(token, CONF_TOKEN_MAX + 1);
    if (len < CONF_TOKEN_MIN || len > CONF_TOKEN_MAX)
        return NULL; /* no configured token has such a length */
    /* Every hook is compared and the match picked with a mask, so the time
     * does not depend on which hook (if any) matched. */
    for (size_t i = 0; i < c->n_hooks; i++) {
        const char *t = c->hooks[i].token;
        size_t eq = t ? conf_ct_equal(t, strlen(t), token, len) : 0;

        pick |= (0 - eq) & (i + 1);
    }
    return pick ? &c->hooks[pick - 1] : NULL;
}
