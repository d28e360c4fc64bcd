/* SPDX-License-Identifier: MIT */
/* conf.h -- xmta's configuration: INI file (libinih), typed and validated.
 *
 * The loaded configuration is plain data, read-only after conf_load(); the
 * modules borrow it. Every error is reported as FILE:LINE: reason through a
 * struct conf_diag; the loader itself never logs or exits. */
#ifndef XMTA_CONF_H
#define XMTA_CONF_H

#include <stddef.h>
#include "xml/msg.h"

/* The spool directory when [spool] path is not set. */
#define CONF_SPOOL_DEFAULT_PATH "/var/lib/xmta"

struct conf_diag {
    char file[512];
    int line;      /* 0 when the error is not about one line */
    char msg[512]; /* never contains a secret or token */
};

struct conf_hook {
    char *name;  /* from "[hook NAME]" */
    int line;    /* line of the section header */
    char *token; /* webhook token (secret: never log) */
    char *from;  /* bot localpart (default: the hook name) */
    char *nick;  /* display name / room nick (default: the hook name) */
    char **to;   /* default user recipients (normalised JIDs) */
    size_t n_to;
    char **rooms; /* default rooms (normalised bare JIDs) */
    size_t n_rooms;
    char **allow_to; /* globs for caller-chosen recipients */
    size_t n_allow_to;
    enum msg_type type;      /* default MSG_CHAT */
    char *room_password;     /* password of the hook's rooms, or NULL (secret:
                              * never log) */
    char *avatar;            /* path of the bot's avatar image (resolved
                              * against the config's directory), or NULL */
    const char *avatar_type; /* static MIME type ("image/png"), or NULL */
    /* webhook formats (issue 5; names and templates are checked by
     * http_conf_check(), which reports FILE:LINE like conf_load) */
    char *format; /* format = NAME, or NULL: auto */
    int format_line;
    char *tmpl;      /* template = lines joined with '\n', or NULL */
    int *tmpl_lines; /* the config line of each template line */
    size_t n_tmpl_lines;
    size_t max_message; /* characters; default 4000 */
    char *sig_secret;   /* secret = (signature key: never log), or NULL */
    char *sig_header;   /* signature_header =, or NULL: X-Xmta-Signature */
    /* two-way bots (issue 7) */
    char *reply_url;        /* reply_url =: messages to the bot are POSTed
                             * here (signed with sig_secret), or NULL */
    unsigned reply_timeout; /* seconds per attempt; default 10 */
    char *alertmanager_url; /* alertmanager_url = (API base), or NULL */
    char **commanders;      /* globs of the JIDs that may run commands */
    size_t n_commanders;
    char **attach_hosts; /* host globs an attach URL may name (none:
                          * attach URLs are sent as links) */
    size_t n_attach_hosts;
    size_t attach_max;    /* bytes of a fetched attachment; default 10M */
    int long_body_upload; /* long_body = upload: a body over max_message
                           * is cut inline and also uploaded whole as a
                           * text file (XEP-0363); 0: cut only (default) */
    /* production (issue 6) */
    int has_token_sha256;           /* token_sha256 = instead of token = */
    unsigned char token_sha256[32]; /* SHA-256 of the token (not secret) */
    unsigned rate_n;                /* rate = N/PERIOD; 0: unlimited */
    unsigned rate_period;           /* seconds of PERIOD */
    unsigned burst;                 /* bucket size; default rate_n */
    /* alert lifecycle (issue 5, component/lifecycle.c) */
    int on_resolve_correct; /* on_resolve = correct (1) or new (0, default) */
    unsigned heartbeat;     /* heartbeat = DURATION in seconds; 0: off */
    int heartbeat_forward;  /* heartbeat_forward = yes: the webhooks of a
                             * heartbeat hook are sent too (default no) */
};

/* Largest avatar file taken (bytes): the vCard carrying it in base64 must
 * stay well under the servers' stanza limits. */
#define CONF_AVATAR_MAX (64 * 1024)

struct conf_listen {
    char *host; /* "127.0.0.1", "::1", "0.0.0.0" -- without brackets */
    unsigned short port;
    int line;
    int tls; /* "listen = HOST:PORT tls": HTTPS with tls_cert/tls_key */
};

/* An address or network of status_allow = (10.0.0.0/8, ::1). */
struct conf_net {
    int family;             /* 4 or 6 */
    unsigned char addr[16]; /* network byte order; 4 bytes for IPv4 */
    unsigned prefix;        /* bits: 32 or 128 for one address */
};

struct conf {
    char *path;

    /* [component] */
    char *domain;           /* the component's JID domain (lowercase) */
    char *server;           /* host name or address of the component listener */
    unsigned short port;    /* default 5347 */
    char *secret;           /* from secret= or secret_file= (never log) */
    unsigned ping_interval; /* seconds between XEP-0199 pings; default 120 */
    unsigned ping_timeout;  /* seconds to wait for a ping reply; default 30 */
    unsigned keepalive;     /* write-idle seconds before ' '; default 60 */
    size_t queue_max;       /* outbox bound in messages; default 10000 */
    int tls;                /* tls = true: Direct TLS to the server */
    int tls_verify;         /* verify its certificate and name; default 1 */
    char *tls_ca;           /* CA file (PEM), or NULL: the system's CAs */
    char *tls_name;         /* name to verify, or NULL: server */
    unsigned storm_n;       /* storm = N/WINDOW: more than N messages to */
    unsigned storm_window;  /* one recipient in WINDOW s fold into a
                             * digest; 0: off (default) */
    int log_syslog;         /* log = syslog (default stderr) */
    char *upload_service;   /* XEP-0363 service JID, or NULL: disco on the
                             * parent domain (issue 7) */

    /* [http] */
    struct conf_listen *listen; /* at least one; default 127.0.0.1:8080 */
    size_t n_listen;
    size_t max_body; /* bytes; "1M", "512k", "1048576"; default 1M */
    /* production (issue 6) */
    char *tls_cert;           /* PEM chain for the tls listeners, or NULL */
    char *tls_key;            /* PEM private key, or NULL (never log it) */
    size_t max_headers;       /* bytes of request line + headers; 16k */
    unsigned header_timeout;  /* seconds to receive the headers; 10 */
    unsigned body_timeout;    /* seconds to receive the body after; 30 */
    unsigned idle_timeout;    /* seconds a kept-alive connection idles; 60 */
    unsigned max_connections; /* open HTTP connections; 1024 */
    struct conf_net *status_allow; /* who may GET /health, /metrics; */
    size_t n_status_allow;         /* none: everyone */

    /* [http_client] (outgoing HTTP: reply_url, Alertmanager, uploads) */
    char *http_ca_file; /* CA bundle (PEM) to verify HTTPS with instead
                         * of the system's, or NULL */

    /* [spool] */
    char *spool_path;          /* directory; NULL: in memory (path = none);
                                * default CONF_SPOOL_DEFAULT_PATH */
    size_t spool_max_messages; /* deliveries spooled; default 100000 */
    size_t spool_max_bytes;    /* bytes of spooled messages; default 256M */
    unsigned spool_max_age;    /* seconds before a message expires; 24h */

    /* [hook NAME] ... */
    struct conf_hook *hooks;
    size_t n_hooks;

    unsigned file_mode; /* permission bits of the loaded file; 0: a string */
};

/* Loads and validates path. Returns a new conf, or NULL with *diag filled
 * (file, line, reason). Checks: unknown sections and keys, missing
 * required keys (domain, server, secret, token), duplicate tokens and hook
 * names, a hook with no recipient and no allow_to, bad ports, bad sizes,
 * bad JIDs, bad types, unreadable secret_file. */
struct conf *conf_load(const char *path, struct conf_diag *diag);

/* Same, from a string (tests, fuzzing); name is used as the file name. */
struct conf *
conf_load_string(const char *text, const char *name, struct conf_diag *diag);

void conf_free(struct conf *c); /* NULL-safe */

/* The hook whose token equals token, or NULL. Every configured token is
 * compared, each in constant time, so the time taken does not reveal how
 * much of a token matched or which hook it belongs to. Plaintext token =
 * only: the HTTP frontend matches token_sha256 = hooks too, through
 * SHA-256 digests (http/auth.c). */
const struct conf_hook *conf_hook_by_token(const struct conf *c,
                                           const char *token);

/* The server-side block that registers this component with a server,
 * for `xmta setup`: server is "prosody" (a Component section with
 * component_secret and component_conflict_resolve = "kick_old", the
 * global port lines as comments) or "ejabberd" (one ejabberd_service item
 * for the listen: list). On success *out is a new NUL-terminated text the
 * caller frees; it contains the secret. Returns 0, XMTA_E_INVAL (unknown
 * server) or XMTA_E_NOMEM. (conf/setup.c) */
int conf_setup_text(const struct conf *c, const char *server, char **out);

/* Parses a size such as "1M", "64k", "1048576" (K/M/G, powers of 1024).
 * Returns 0 or XMTA_E_INVAL. */
int conf_parse_size(const char *s, size_t *out);

#endif
