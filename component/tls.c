/* SPDX-License-Identifier: MIT */
/* tls.c -- Direct TLS for the component link ([component] tls): an OpenSSL
 * client bufferevent that verifies the server's certificate and name.
 *
 * XEP-0114 has no STARTTLS: the TLS handshake comes first on the socket
 * (ejabberd's ejabberd_service listener with tls: true). The name checked
 * (and sent as SNI) is tls_name, else server; an IP address is matched
 * against the certificate's IP addresses. A new SSL_CTX is built for every
 * connection, so a reload that changes tls_ca takes effect at the next
 * connect. */
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "component/internal.h"
#include "conf/conf.h"
#include "xml/log.h"

static int tls_is_ip(const char *name)
{
    unsigned char buf[16];

    return inet_pton(AF_INET, name, buf) == 1 ||
           inet_pton(AF_INET6, name, buf) == 1;
}

/* The OpenSSL error queue as one log line each, then emptied. */
static void tls_log_queue(const char *what)
{
    unsigned long e;
    char buf[256];

    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        xlog_error("tls", "%s: %s", what, buf);
    }
}

static SSL *tls_ssl_new(struct comp *c)
{
    const struct conf *cfg = c->cfg;
    const char *name = cfg->tls_name ? cfg->tls_name : cfg->server;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = NULL;
    X509_VERIFY_PARAM *param;

    if (!ctx)
        goto fail;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (cfg->tls_verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if (cfg->tls_ca
                ? SSL_CTX_load_verify_locations(ctx, cfg->tls_ca, NULL) != 1
                : SSL_CTX_set_default_verify_paths(ctx) != 1) {
            xlog_error("tls", "cannot load the CA certificates from %s",
                       cfg->tls_ca ? cfg->tls_ca : "the system store");
            goto fail;
        }
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    if (!(ssl = SSL_new(ctx)))
        goto fail;
    SSL_CTX_free(ctx); /* ssl holds its own reference */
    ctx = NULL;
    if (!tls_is_ip(name) && SSL_set_tlsext_host_name(ssl, name) != 1)
        goto fail;
    if (cfg->tls_verify) {
        param = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(param,
                                        X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (tls_is_ip(name) ? X509_VERIFY_PARAM_set1_ip_asc(param, name) != 1
                            : X509_VERIFY_PARAM_set1_host(param, name, 0) != 1)
            goto fail;
    }
    return ssl;
fail:
    tls_log_queue("setting up TLS");
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return NULL;
}

struct bufferevent *comp_tls_bev_new(struct comp *c)
{
    struct bufferevent *bev;
    SSL *ssl;

    if (!c->cfg->tls)
        return bufferevent_socket_new(c->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!(ssl = tls_ssl_new(c)))
        return NULL;
    /* Takes ssl on every path. */
    bev = bufferevent_openssl_socket_new(
        c->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
    if (bev) /* a server that closes without close_notify: plain EOF */
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

void comp_tls_log_error(struct comp *c, struct bufferevent *bev)
{
    const char *name = c->cfg->tls_name ? c->cfg->tls_name : c->cfg->server;
    SSL *ssl;
    unsigned long e;
    long vr;
    char buf[256];

    if (!c->cfg->tls || !bev || !(ssl = bufferevent_openssl_get_ssl(bev)))
        return;
    vr = SSL_get_verify_result(ssl);
    if (c->cfg->tls_verify && vr != X509_V_OK)
        xlog_error("tls",
                   "the certificate of %s was refused: %s expected_name=%s "
                   "ca=%s",
                   c->peer, X509_verify_cert_error_string(vr), name,
                   c->cfg->tls_ca ? c->cfg->tls_ca : "system");
    while ((e = bufferevent_get_openssl_error(bev)) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        xlog_warn("tls", "connection to %s: %s", c->peer, buf);
    }
}
