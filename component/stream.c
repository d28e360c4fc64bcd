/* SPDX-License-Identifier: MIT */
/* stream.c -- the content of the XEP-0114 stream: our header, the
 * handshake, <stream:error>, and the dispatch of incoming stanzas (ping,
 * unhandled iq, error messages, room presence). Callbacks here never tear
 * the connection down: they set a verdict and stop the parser, and
 * component.c acts once xml_stream_feed() has returned. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "component/internal.h"
#include "conf/conf.h"
#include "xml/err.h"
#include "xml/log.h"
#include "xml/xml.h"

/* ---- handshake ---------------------------------------------------------- */

int comp_handshake_digest(const char *id, const char *secret, char out[41])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx;
    int rc = XMTA_E_NOMEM;

    if (!id || !secret || !out)
        return XMTA_E_INVAL;
    if (!(ctx = EVP_MD_CTX_new()))
        return XMTA_E_NOMEM;
    if (EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, id, strlen(id)) != 1 ||
        EVP_DigestUpdate(ctx, secret, strlen(secret)) != 1 ||
        EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 20)
        goto out;
    for (unsigned i = 0; i < 20; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[40] = '\0';
    rc = 0;
out:
    OPENSSL_cleanse(md, sizeof(md));
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* <handshake>DIGEST</handshake>, built as a node; neither the digest nor
 * the serialized element is logged, and both are wiped. */
static int comp_send_handshake(struct comp *c, const char *id)
{
    struct xml_node *n = NULL;
    char digest[41];
    char *s = NULL;
    size_t len = 0;
    int rc;

    if ((rc = comp_handshake_digest(id, c->cfg->secret, digest)) != 0)
        goto out;
    rc = XMTA_E_NOMEM;
    if (!(n = xml_node_new("handshake", NULL)) ||
        xml_node_add_text(n, digest, 40) != 0 ||
        !(s = xml_node_serialize(n, &len)))
        goto out;
    xlog_debug("comp", "send <handshake>(digest not logged)</handshake>");
    rc = comp_send_raw(c, s, len);
out:
    OPENSSL_cleanse(digest, sizeof(digest));
    if (s) {
        OPENSSL_cleanse(s, len);
        free(s);
    }
    xml_node_free(n); /* its text copy is freed without wiping: a digest
                         that is useless once the stream is gone */
    return rc;
}

/* ---- our stream header -------------------------------------------------- */

int comp_stream_open(struct comp *c)
{
    static const char head[] =
        "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept'"
        " xmlns:stream='http://etherx.jabber.org/streams' to='";
    char *dom = xml_escape(c->cfg->domain, strlen(c->cfg->domain));
    int rc = XMTA_E_NOMEM;

    if (!dom)
        return XMTA_E_NOMEM;
    /* No version attribute: neither server negotiates features here. */
    if (comp_send_raw(c, head, sizeof(head) - 1) == 0 &&
        comp_send_raw(c, dom, strlen(dom)) == 0 &&
        comp_send_raw(c, "'>", 2) == 0) {
        xlog_debug("comp", "send %s%s'>", head, dom);
        rc = 0;
    }
    free(dom);
    return rc;
}

/* ---- helpers ------------------------------------------------------------ */

int comp_ns_is_stanza(const char *ns)
{
    return !ns || strcmp(ns, XMTA_NS_COMPONENT) == 0 ||
           strcmp(ns, XMTA_NS_CLIENT) == 0 || strcmp(ns, COMP_NS_SERVER) == 0;
}

static int comp_is(const struct xml_node *n, const char *name, const char *ns)
{
    const char *nns = xml_node_ns(n);

    return strcmp(xml_node_name(n), name) == 0 && nns && strcmp(nns, ns) == 0;
}

const char *comp_stanza_error_condition(const struct xml_node *st)
{
    const struct xml_node *e, *k;

    for (e = xml_node_first_child(st); e; e = xml_node_next(e))
        if (strcmp(xml_node_name(e), "error") == 0 &&
            comp_ns_is_stanza(xml_node_ns(e)))
            break;
    if (!e)
        return NULL;
    for (k = xml_node_first_child(e); k; k = xml_node_next(k)) {
        const char *ns = xml_node_ns(k);

        if (ns && strcmp(ns, XMTA_NS_STANZAS_ERR) == 0 &&
            strcmp(xml_node_name(k), "text") != 0)
            return xml_node_name(k);
    }
    return NULL;
}

/* Stops the parser with a verdict for component.c. */
static int comp_stop(struct comp *c, enum comp_verdict v, const char *why)
{
    c->verdict = v;
    c->stop_why = why;
    return 1;
}

/* ---- <stream:error> ----------------------------------------------------- */

/* What to tell the admin for each condition (PROTOCOL.md 1.5, 2.2). When
 * after is set, the message is before + our domain + after. */
static const struct comp_err_hint {
    const char *cond;
    int config; /* a configuration error, not a passing fault */
    const char *before;
    const char *after;
} comp_err_hints[] = {
    {"conflict", 0,
     "another connection holds this domain: a second xmta (this one "
     "stands by and takes over when it ends), or our own previous "
     "connection that the server still keeps (Prosody's "
     "component_conflict_resolve = \"kick_old\" lets a restart replace it)",
     NULL},
    {"not-authorized", 1,
     "the server rejected the secret: check secret and the server's "
     "component_secret/password",
     NULL},
    {"host-unknown", 1, "the server has no component named ",
     ": check the Component line / ejabberd_service hosts"},
    {"invalid-from", 0, "a stanza was sent from outside ",
     " (the server closed the stream; a bug, please report it)"},
    {"improper-addressing", 0,
     "the header or a stanza lacked a from or to address (a bug, please "
     "report it)",
     NULL},
    {"not-well-formed", 0,
     "the server could not parse what was sent (forbidden characters, or a "
     "stanza over its size limit)",
     NULL},
    {"policy-violation", 0,
     "the server refused a stanza (e.g. ejabberd max_stanza_size)", NULL},
    {"invalid-namespace", 0,
     "the port does not take jabber:component:accept: is it the component "
     "port, and has the server finished starting?",
     NULL},
    {"system-shutdown", 0, "the server is shutting down", NULL},
    {"connection-timeout", 0, "the server timed the stream out", NULL},
    {"reset", 0, "the server reset the stream", NULL},
    {"see-other-host", 0, "the server redirects elsewhere (not followed)",
     NULL},
    {"unsupported-version", 0, "the server refused the stream version", NULL},
};

static int comp_on_stream_error(struct comp *c, const struct xml_node *err)
{
    const struct comp_err_hint *h = NULL;
    const struct xml_node *k;
    const char *cond = NULL;
    char *text = NULL;

    for (k = xml_node_first_child(err); k; k = xml_node_next(k)) {
        const char *ns = xml_node_ns(k);

        if (!ns || strcmp(ns, XMTA_NS_STREAMS_ERR) != 0)
            continue;
        if (strcmp(xml_node_name(k), "text") == 0) {
            if (!text)
                text = xml_node_text(k);
        } else if (!cond) {
            cond = xml_node_name(k);
        }
    }
    if (!cond)
        cond = "undefined-condition";
    if (strcmp(cond, "conflict") == 0)
        c->conflict = text && strstr(text, "Replaced") ? 2 : 1;
    for (size_t i = 0; i < sizeof(comp_err_hints) / sizeof(comp_err_hints[0]);
         i++)
        if (strcmp(cond, comp_err_hints[i].cond) == 0)
            h = &comp_err_hints[i];
    xlog_error("comp", "stream error %s%s%s%s: %s%s%s%s", cond,
               text && *text ? " text=\"" : "", text ? text : "",
               text && *text ? "\"" : "",
               h && h->config ? "configuration error: " : "",
               h ? h->before : "the server closed the stream",
               h && h->after ? c->cfg->domain : "",
               h && h->after ? h->after : "");
    free(text);
    return comp_stop(c, COMP_V_STREAM_ERROR, "stream error");
}

/* ---- iq ----------------------------------------------------------------- */

/* A reply to iq: from and to swapped, same id. */
static struct xml_node *comp_iq_reply(const struct xml_node *iq,
                                      const char *type)
{
    struct xml_node *r = xml_node_new("iq", NULL);

    if (!r || xml_node_set_attr(r, "type", type) != 0 ||
        xml_node_set_attr(r, "id", xml_node_attr(iq, "id")) != 0 ||
        xml_node_set_attr(r, "from", xml_node_attr(iq, "to")) != 0 ||
        xml_node_set_attr(r, "to", xml_node_attr(iq, "from")) != 0) {
        xml_node_free(r);
        return NULL;
    }
    return r;
}

/* 1 when id is one of this connection's keepalive pings (ka-TAG-N): any
 * of them answers, as each may have been asked again. */
static int comp_ping_is_ours(const struct comp *c, const char *id)
{
    size_t n = strlen(c->tag);

    return strncmp(id, "ka-", 3) == 0 && strncmp(id + 3, c->tag, n) == 0 &&
           id[3 + n] == '-';
}

static int comp_on_iq(struct comp *c, const struct xml_node *iq)
{
    const char *type = xml_node_attr(iq, "type");
    const char *id = xml_node_attr(iq, "id");
    const char *from = xml_node_attr(iq, "from");
    const char *to = xml_node_attr(iq, "to");
    const struct xml_node *q = xml_node_first_child(iq);
    struct xml_node *r;

    if (c->state != COMP_READY || !type)
        return 0;
    if (strcmp(type, "result") == 0 || strcmp(type, "error") == 0) {
        /* Any reply to our ping proves the link; never answer either. */
        if (id && c->ping_id[0] && comp_ping_is_ours(c, id))
            comp_on_ping_reply(c);
        else if (id && strncmp(id, "ack-", 4) == 0)
            comp_outbox_on_ack(c, id); /* all sent before it was taken */
        else if (id && strncmp(id, "sp-", 3) == 0)
            comp_rooms_on_iq_reply(c, iq); /* a room self-ping (rooms.c) */
        else if (id && strncmp(id, "up-", 3) == 0)
            comp_upload_on_iq(c, iq); /* XEP-0363 (upload.c) */
        return 0;
    }
    if (strcmp(type, "get") != 0 && strcmp(type, "set") != 0)
        return 0;
    /* Reply only from an address of ours (anything else would be an
     * invalid-from stream error) and only with somewhere to send it. */
    if (!id || !from || !comp_jid_is_ours(c, to)) {
        xlog_debug("comp", "iq id=%s to=%s not answered", id ? id : "-",
                   to ? to : "-");
        return 0;
    }
    if (comp_adhoc_on_iq(c, iq))
        return 0; /* XEP-0050 commands of Alertmanager bots (commands.c) */
    if (comp_bots_on_iq(c, iq))
        return 0; /* disco, ping, version, vCard, errors (bots.c) */
    if (q && comp_is(q, "ping", COMP_NS_PING)) {
        r = comp_iq_reply(iq, "result");
    } else {
        struct xml_node *e;

        r = comp_iq_reply(iq, "error");
        if (r && (!(e = xml_node_add_child(r, "error", NULL)) ||
                  xml_node_set_attr(e, "type", "cancel") != 0 ||
                  !xml_node_add_child(e, "service-unavailable",
                                      XMTA_NS_STANZAS_ERR))) {
            xml_node_free(r);
            r = NULL;
        }
    }
    if (!r || comp_send_node(c, r) != 0)
        xlog_warn("comp", "cannot answer iq id=%s from=%s: out of memory", id,
                  from);
    xml_node_free(r);
    return 0;
}

int comp_ping_send(struct comp *c)
{
    struct xml_node *iq = xml_node_new("iq", NULL);
    char id[sizeof(c->ping_id)];
    int rc = XMTA_E_NOMEM;

    snprintf(id, sizeof(id), "ka-%s-%lu", c->tag, ++c->ping_seq);
    if (iq && xml_node_set_attr(iq, "type", "get") == 0 &&
        xml_node_set_attr(iq, "id", id) == 0 &&
        xml_node_set_attr(iq, "from", c->cfg->domain) == 0 &&
        xml_node_set_attr(iq, "to", c->parent) == 0 &&
        xml_node_add_child(iq, "ping", COMP_NS_PING))
        rc = comp_send_node(c, iq);
    xml_node_free(iq);
    if (rc == 0 && c->t.ping_timeout_ms) {
        memcpy(c->ping_id, id, sizeof(id));
        c->ping_sent_ms = comp_now_ms();
    }
    return rc;
}

/* ---- message, presence, handshake --------------------------------------- */

static int comp_on_message(struct comp *c, const struct xml_node *m)
{
    const char *type = xml_node_attr(m, "type");

    if (c->state != COMP_READY)
        return 0;
    if (type && strcmp(type, "error") == 0) {
        const char *cond = comp_stanza_error_condition(m);
        const char *id = xml_node_attr(m, "id");
        const char *from = xml_node_attr(m, "from");

        /* Never answered: an error reply to an error loops, and rooms
         * kick occupants that send errors (PROTOCOL.md 4.6). Logged with
         * the hook and recipient when the id is a delivery of ours. */
        comp_outbox_on_bounce(c, id, from, cond);
    }
    comp_rooms_on_message(c, m);
    if (!comp_replies_on_message(c, m))
        comp_bots_on_message(c, m);
    return 0;
}

static int comp_on_presence(struct comp *c, const struct xml_node *p)
{
    if (c->state == COMP_READY) {
        comp_rooms_on_presence(c, p);
        comp_bots_on_presence(c, p);
    }
    return 0;
}

static int comp_on_handshake(struct comp *c, const struct xml_node *h)
{
    if (c->state != COMP_HANDSHAKE) {
        xlog_warn("comp", "unexpected <handshake/> in state %s",
                  comp_state_name(c->state));
        return 0;
    }
    comp_on_ready(c);
    return 0;
}

/* ---- the parser's callbacks --------------------------------------------- */

struct comp_route {
    const char *name;
    const char *ns; /* NULL: any stanza namespace (comp_ns_is_stanza) */
    int (*fn)(struct comp *c, const struct xml_node *st);
};

static const struct comp_route comp_routes[] = {
    {"error", XMTA_NS_STREAM, comp_on_stream_error},
    {"handshake", NULL, comp_on_handshake},
    {"iq", NULL, comp_on_iq},
    {"message", NULL, comp_on_message},
    {"presence", NULL, comp_on_presence},
};

static int comp_cb_open(void *ud, const struct xml_node *header)
{
    struct comp *c = ud;
    const char *id = xml_node_attr(header, "id");

    if (c->state != COMP_OPENING)
        return 0;
    if (!id || !*id) {
        /* Prosody sends id='' right before host-unknown: wait for it. */
        xlog_warn("comp", "stream header without an id from %s", c->peer);
        return 0;
    }
    xlog_debug("comp", "stream id=%s from=%s", id,
               xml_node_attr(header, "from") ? xml_node_attr(header, "from")
                                             : "-");
    if (comp_send_handshake(c, id) != 0)
        return comp_stop(c, COMP_V_FAIL, "cannot send the handshake");
    comp_set_state(c, COMP_HANDSHAKE);
    return 0;
}

static int comp_cb_stanza(void *ud, const struct xml_node *st)
{
    struct comp *c = ud;
    const char *name = xml_node_name(st);
    const char *ns = xml_node_ns(st);

    if (XLOG_DEBUG <= xlog_threshold) {
        size_t len = 0;
        char *s = xml_node_serialize(st, &len);

        if (s)
            comp_log_dump("recv", s, len);
        free(s);
    }
    for (size_t i = 0; i < sizeof(comp_routes) / sizeof(comp_routes[0]); i++) {
        const struct comp_route *r = &comp_routes[i];

        if (strcmp(name, r->name) != 0)
            continue;
        if (r->ns ? (ns && strcmp(ns, r->ns) == 0) : comp_ns_is_stanza(ns))
            return r->fn(c, st);
    }
    xlog_debug("comp", "ignored <%s xmlns='%s'>", name, ns ? ns : "");
    return 0;
}

static int comp_cb_close(void *ud)
{
    return comp_stop(ud, COMP_V_CLOSED, "the server closed the stream");
}

struct xml_stream *comp_stream_new(struct comp *c)
{
    static const struct xml_stream_cbs cbs = {
        comp_cb_open,
        comp_cb_stanza,
        comp_cb_close,
    };
    static const struct xml_stream_limits limits = {COMP_IN_STANZA_MAX, 0, 0};

    return xml_stream_new(&cbs, c, &limits);
}
