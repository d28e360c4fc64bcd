/* SPDX-License-Identifier: MIT */
/* upload.c -- attachments (HTTP to XMPP files, PROTOCOL.md 6): a message
 * with an attach URL is delivered as usual, then the file is fetched
 * (allowed hosts, size cap), a slot is asked of the server's XEP-0363
 * service (upload_service, or found by disco on the parent domain), the
 * bytes are PUT with libcurl and a second message carries exactly the GET
 * URL with XEP-0066 OOB. Any failure sends the link with the reason
 * instead: the notification itself is never lost. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <openssl/rand.h>

#include "component/fetch.h"
#include "component/internal.h"
#include "conf/conf.h"
#include "xml/err.h"
#include "xml/jid.h"
#include "xml/log.h"
#include "xml/msg.h"
#include "xml/xml.h"

#define NS_UPLOAD "urn:xmpp:http:upload:0"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define UP_IQ_PREFIX "up-"
#define UP_STEP_MS 30000 /* slot reply, discovery: per step */
#define UP_JOBS_MAX 32
#define UP_DISCO_MAX 16 /* disco#info queries in one discovery */

enum up_disco {
    UP_DISCO_NONE,    /* not started */
    UP_DISCO_RUNNING, /* waiting for disco answers */
    UP_DISCO_FOUND,   /* service known */
    UP_DISCO_MISSING, /* the server has none */
    UP_DISCO_COUNT
};

enum up_step {
    UP_FETCH, /* GET of the attach URL */
    UP_WAIT,  /* waiting for discovery */
    UP_SLOT,  /* slot iq sent */
    UP_PUT,   /* PUT under way */
    UP_STEP_COUNT
};

struct up_job {
    TAILQ_ENTRY(up_job) link;
    struct comp *c;
    enum up_step step;
    int long_body;    /* the whole text of a cut body (long_body =
                       * upload), not an attach URL */
    struct msg *tmpl; /* recipients, bot, hook: the messages to send */
    char *src;        /* the attach URL */
    char *data;       /* fetched bytes */
    size_t len;
    char ctype[128];
    char filename[128];
    char iq_id[32];
    char *get_url;
    struct event *timer; /* the slot reply deadline */
};
TAILQ_HEAD(up_jobs, up_job);

struct comp_upload {
    enum up_disco disco;
    char *service; /* JID of the upload service */
    size_t max_size;
    char disco_ids[UP_DISCO_MAX][32];
    size_t n_disco; /* answers still awaited */
    struct up_jobs jobs;
    size_t n_jobs;
    unsigned long seq;
    struct event *disco_timer;
};

static void up_slot_request(struct up_job *j);
static void up_after_fetch(struct up_job *j);

/* ---- jobs --------------------------------------------------------------- */

/* A random (v4) UUID for a message id. */
static void up_uuid(char out[MSG_ID_LEN + 1])
{
    unsigned char b[16];

    if (RAND_bytes(b, sizeof(b)) != 1)
        for (size_t i = 0; i < sizeof(b); i++)
            b[i] = (unsigned char)rand();
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, MSG_ID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x"
             "%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
             b[11], b[12], b[13], b[14], b[15]);
}

static void up_job_free(struct up_job *j)
{
    if (!j)
        return;
    msg_free(j->tmpl);
    free(j->src);
    free(j->data);
    free(j->get_url);
    if (j->timer)
        event_free(j->timer);
    free(j);
}

/* Sends body to the job's recipients (oob: body is the file URL). */
static void up_send(struct up_job *j, const char *body, int oob)
{
    struct msg *m = msg_new();
    int rc = XMTA_E_NOMEM;

    if (!m)
        goto out;
    if (!(m->hook = strdup(j->tmpl->hook)) ||
        !(m->from = strdup(j->tmpl->from)) ||
        (j->tmpl->nick && !(m->nick = strdup(j->tmpl->nick))) ||
        !(m->body = strdup(body)))
        goto out;
    m->type = j->tmpl->type;
    m->oob = oob;
    for (size_t i = 0; i < j->tmpl->n_to; i++)
        if (msg_add_to(m, j->tmpl->to[i]) != 0)
            goto out;
    for (size_t i = 0; i < j->tmpl->n_rooms; i++)
        if (msg_add_room(m, j->tmpl->rooms[i]) != 0)
            goto out;
    up_uuid(m->id);
    rc = comp_submit(j->c, m); /* takes m */
    m = NULL;
out:
    msg_free(m);
    if (rc != 0)
        xlog_warn("upload", "%s: cannot queue the file message: %s",
                  j->tmpl->hook, xmta_strerror(rc));
}

/* The job ends: the file message, or the link and why. */
static void up_done(struct up_job *j, const char *why)
{
    struct comp_upload *u = j->c->upload;
    char text[2400];

    if (j->long_body && !why) {
        xlog_info("upload", "%s: long message uploaded (%zu bytes): %s",
                  j->tmpl->hook, j->len, j->get_url);
        j->c->long_bodies++;
        up_send(j, j->get_url, 1);
    } else if (j->long_body) {
        /* The recipients already have the text cut at max_message (sent
         * durably before): that is the fallback, nothing more to send. */
        xlog_warn("upload",
                  "%s: long message (%zu bytes) not uploaded: %s; the "
                  "recipients have it cut at max_message only",
                  j->tmpl->hook, j->len, why);
        j->c->long_bodies_cut++;
    } else if (!why) {
        xlog_info("upload", "%s: %s uploaded (%zu bytes): %s", j->tmpl->hook,
                  j->filename, j->len, j->get_url);
        j->c->uploads++;
        up_send(j, j->get_url, 1);
    } else {
        xlog_warn("upload", "%s: attachment %s not uploaded: %s", j->tmpl->hook,
                  j->src, why);
        j->c->uploads_failed++;
        snprintf(text, sizeof(text), "📎 %s (not attached: %s)", j->src, why);
        up_send(j, text, 0);
    }
    TAILQ_REMOVE(&u->jobs, j, link);
    u->n_jobs--;
    up_job_free(j);
}

/* ---- the PUT ------------------------------------------------------------ */

static void up_on_put(void *arg, const struct comp_fetch_result *r)
{
    struct up_job *j = arg;
    char why[80];

    if (r->rc == XMTA_E_STOPPED)
        return; /* comp_upload_free() frees the job */
    if (r->rc == 0 && r->status >= 200 && r->status < 300) {
        up_done(j, NULL);
        return;
    }
    if (r->rc == 0)
        snprintf(why, sizeof(why), "upload refused with HTTP %ld", r->status);
    else
        snprintf(why, sizeof(why), "upload failed: %s",
                 r->timed_out   ? "timeout"
                 : r->tls_error ? "TLS error"
                                : "unreachable");
    up_done(j, why);
}

/* Copies an allowed <header> of the slot's <put> into hdr. */
static int up_put_header(const struct xml_node *h, char *hdr, size_t size)
{
    const char *name = xml_node_attr(h, "name");
    char *v = xml_node_text(h);
    int ok = 0;

    if (name && v &&
        (strcasecmp(name, "Authorization") == 0 ||
         strcasecmp(name, "Cookie") == 0 || strcasecmp(name, "Expires") == 0)) {
        for (char *p = v; *p; p++)
            if (*p == '\r' || *p == '\n')
                *p = ' '; /* XEP-0363: strip newlines */
        ok = snprintf(hdr, size, "%s: %s", name, v) < (int)size;
    }
    free(v);
    return ok;
}

static void up_on_slot(struct up_job *j, const struct xml_node *iq)
{
    const struct xml_node *slot = xml_node_child(iq, "slot", NS_UPLOAD);
    const struct xml_node *put =
        slot ? xml_node_child(slot, "put", NULL) : NULL;
    const struct xml_node *get =
        slot ? xml_node_child(slot, "get", NULL) : NULL;
    const char *put_url = put ? xml_node_attr(put, "url") : NULL;
    const char *get_url = get ? xml_node_attr(get, "url") : NULL;
    char hbuf[4][1024], ctype[200];
    const char *hdrs[6];
    size_t n = 0;
    struct comp_fetch_req rq = {0};
    char why[200];

    evtimer_del(j->timer);
    if (strcmp(xml_node_attr(iq, "type"), "error") == 0) {
        const char *cond = comp_stanza_error_condition(iq);

        snprintf(why, sizeof(why), "slot refused (%s)",
                 cond ? cond : "undefined-condition");
        up_done(j, why);
        return;
    }
    if (!put_url || !get_url || !(j->get_url = strdup(get_url))) {
        up_done(j, "the upload service gave no slot");
        return;
    }
    snprintf(ctype, sizeof(ctype), "Content-Type: %s", j->ctype);
    hdrs[n++] = ctype;
    hdrs[n++] = "Expect:";
    for (const struct xml_node *h = xml_node_first_child(put); h && n < 6;
         h = xml_node_next(h))
        if (strcmp(xml_node_name(h), "header") == 0 &&
            up_put_header(h, hbuf[n - 2], sizeof(hbuf[0])))
            hdrs[n] = hbuf[n - 2], n++;
    rq.method = "PUT";
    rq.url = put_url;
    rq.headers = hdrs;
    rq.n_headers = n;
    rq.body = j->data;
    rq.body_len = j->len;
    rq.timeout_ms = 120000;
    rq.retries = 1;
    rq.ca_file = j->c->cfg->http_ca_file;
    j->step = UP_PUT;
    if (comp_fetch_start(j->c->fetch, &rq, up_on_put, j) != 0)
        up_done(j, "cannot start the upload");
}

/* ---- discovery ---------------------------------------------------------- */

static int up_iq_send(struct comp *c,
                      const char *to,
                      const char *from,
                      char id[32],
                      struct xml_node *payload)
{
    struct xml_node *iq = xml_node_new("iq", NULL);
    int rc = XMTA_E_NOMEM;

    snprintf(id, 32, UP_IQ_PREFIX "%lu", ++c->upload->seq);
    if (iq && xml_node_set_attr(iq, "type", "get") == 0 &&
        xml_node_set_attr(iq, "id", id) == 0 &&
        xml_node_set_attr(iq, "from", from) == 0 &&
        xml_node_set_attr(iq, "to", to) == 0 &&
        xml_node_append(iq, payload) == 0) {
        payload = NULL;
        rc = comp_send_node(c, iq);
    }
    xml_node_free(payload);
    xml_node_free(iq);
    return rc;
}

static void up_disco_end(struct comp *c, const char *service, size_t max)
{
    struct comp_upload *u = c->upload;
    struct up_job *j, *next;

    evtimer_del(u->disco_timer);
    u->n_disco = 0;
    if (service && (u->service = strdup(service))) {
        u->disco = UP_DISCO_FOUND;
        u->max_size = max;
        xlog_info("upload", "upload service %s (max %zu bytes)", service, max);
    } else {
        u->disco = UP_DISCO_MISSING;
        xlog_warn("upload",
                  "no XEP-0363 upload service found on %s: "
                  "attachments are sent as links",
                  c->parent);
    }
    for (j = TAILQ_FIRST(&u->jobs); j; j = next) {
        next = TAILQ_NEXT(j, link);
        if (j->step != UP_WAIT)
            continue;
        if (u->disco == UP_DISCO_FOUND)
            up_slot_request(j);
        else
            up_done(j, "the server has no upload service");
    }
}

static void up_on_disco_timeout(evutil_socket_t fd, short what, void *arg)
{
    up_disco_end(arg, NULL, 0);
}

static void up_disco_start(struct comp *c)
{
    struct comp_upload *u = c->upload;
    struct xml_node *q = xml_node_new("query", NS_DISCO_ITEMS);

    u->disco = UP_DISCO_RUNNING;
    u->n_disco = 1;
    if (up_iq_send(c, c->parent, c->cfg->domain, u->disco_ids[0], q) != 0) {
        up_disco_end(c, NULL, 0);
        return;
    }
    comp_timer_arm(u->disco_timer, UP_STEP_MS);
}

/* The max-file-size of a disco#info answer that has the upload feature
 * (0 when no size is given), or -1 without the feature. */
static long long up_info_size(const struct xml_node *q)
{
    int feature = 0;
    long long max = 0;

    for (const struct xml_node *k = xml_node_first_child(q); k;
         k = xml_node_next(k)) {
        if (strcmp(xml_node_name(k), "feature") == 0 &&
            xml_node_attr(k, "var") &&
            strcmp(xml_node_attr(k, "var"), NS_UPLOAD) == 0)
            feature = 1;
        if (strcmp(xml_node_name(k), "x") != 0)
            continue;
        for (const struct xml_node *f = xml_node_first_child(k); f;
             f = xml_node_next(f)) {
            const char *var = xml_node_attr(f, "var");
            const struct xml_node *v = xml_node_child(f, "value", NULL);
            char *t, *end;

            if (!var || strcmp(var, "max-file-size") != 0 || !v ||
                !(t = xml_node_text(v)))
                continue;
            max = strtoll(t, &end, 10);
            if (*end || max < 0)
                max = 0;
            free(t);
        }
    }
    return feature ? max : -1;
}

static void up_on_disco(struct comp *c, size_t slot, const struct xml_node *iq)
{
    struct comp_upload *u = c->upload;
    const struct xml_node *q = xml_node_first_child(iq);
    const char *type = xml_node_attr(iq, "type");
    long long max;

    u->disco_ids[slot][0] = '\0';
    u->n_disco--;
    if (strcmp(type, "result") == 0 && q &&
        strcmp(xml_node_name(q), "query") == 0 && xml_node_ns(q) &&
        strcmp(xml_node_ns(q), NS_DISCO_ITEMS) == 0) {
        /* the parent itself, then every item but us */
        const char *jids[UP_DISCO_MAX];
        size_t n = 0;

        jids[n++] = c->parent;
        for (const struct xml_node *it = xml_node_first_child(q);
             it && n < UP_DISCO_MAX; it = xml_node_next(it)) {
            const char *jid = xml_node_attr(it, "jid");

            if (jid && strcasecmp(jid, c->cfg->domain) != 0 &&
                !strchr(jid, '@') && !strchr(jid, '/'))
                jids[n++] = jid;
        }
        for (size_t i = 0; i < n; i++) {
            struct xml_node *info = xml_node_new("query", NS_DISCO_INFO);

            if (up_iq_send(c, jids[i], c->cfg->domain, u->disco_ids[i], info) ==
                0)
                u->n_disco++;
        }
    } else if (strcmp(type, "result") == 0 && q &&
               (max = up_info_size(q)) >= 0) {
        up_disco_end(c, xml_node_attr(iq, "from"), (size_t)max);
        return;
    }
    if (u->n_disco == 0 && u->disco == UP_DISCO_RUNNING)
        up_disco_end(c, NULL, 0);
}

/* ---- the slot ----------------------------------------------------------- */

static void up_on_slot_timeout(evutil_socket_t fd, short what, void *arg)
{
    up_done(arg, "the upload service did not answer");
}

static void up_slot_request(struct up_job *j)
{
    struct comp *c = j->c;
    struct comp_upload *u = c->upload;
    struct xml_node *rq = xml_node_new("request", NS_UPLOAD);
    char size[32], from[COMP_JID_MAX], why[120];

    if (u->max_size && j->len > u->max_size) {
        snprintf(why, sizeof(why), "%zu bytes, the server takes at most %zu",
                 j->len, u->max_size);
        xml_node_free(rq);
        up_done(j, why);
        return;
    }
    snprintf(size, sizeof(size), "%zu", j->len);
    /* From the bot's JID: user-style, as ejabberd's ACLs expect. */
    snprintf(from, sizeof(from), "%s@%s", j->tmpl->from, c->cfg->domain);
    if (!rq || xml_node_set_attr(rq, "filename", j->filename) != 0 ||
        xml_node_set_attr(rq, "size", size) != 0 ||
        xml_node_set_attr(rq, "content-type", j->ctype) != 0 ||
        up_iq_send(c, u->service, from, j->iq_id, rq) != 0) {
        up_done(j, "cannot ask for an upload slot");
        return;
    }
    j->step = UP_SLOT;
    comp_timer_arm(j->timer, UP_STEP_MS);
}

/* ---- the fetch ---------------------------------------------------------- */

/* A file name from the URL's last path segment ([A-Za-z0-9._-] only). */
static void up_filename(const char *url, char *out, size_t size)
{
    const char *p = strstr(url, "://"), *q, *seg;
    size_t n = 0;

    p = p ? p + 3 : url;
    q = p + strcspn(p, "?#");
    seg = q;
    while (seg > p && seg[-1] != '/')
        seg--;
    for (; seg < q && n + 1 < size; seg++)
        if (isalnum((unsigned char)*seg) || strchr("._-", *seg))
            out[n++] = *seg;
    out[n] = '\0';
    if (!n || out[0] == '.' || !strchr(url + (p - url), '/'))
        snprintf(out, size, "attachment");
}

static void up_on_fetch(void *arg, const struct comp_fetch_result *r)
{
    struct up_job *j = arg;
    char why[120];

    if (r->rc == XMTA_E_STOPPED)
        return;
    if (r->rc != 0 || r->status < 200 || r->status >= 300) {
        if (r->rc == XMTA_E_LIMIT)
            snprintf(why, sizeof(why), "larger than attach_max");
        else if (r->rc == 0)
            snprintf(why, sizeof(why), "fetching it gave HTTP %ld", r->status);
        else
            snprintf(why, sizeof(why), "cannot fetch it%s",
                     r->tls_error ? " (TLS error)" : "");
        up_done(j, why);
        return;
    }
    if (!r->body_len) {
        up_done(j, "the file is empty");
        return;
    }
    if (!(j->data = malloc(r->body_len))) {
        up_done(j, "out of memory");
        return;
    }
    memcpy(j->data, r->body, r->body_len);
    j->len = r->body_len;
    snprintf(j->ctype, sizeof(j->ctype), "%.*s",
             (int)strcspn(r->content_type ? r->content_type
                                          : "application/octet-stream",
                          "; \t"),
             r->content_type ? r->content_type : "application/octet-stream");
    if (!j->ctype[0] || strpbrk(j->ctype, "\r\n"))
        snprintf(j->ctype, sizeof(j->ctype), "application/octet-stream");
    up_after_fetch(j);
}

/* The bytes are there: a slot now, or after discovery. */
static void up_after_fetch(struct up_job *j)
{
    struct comp_upload *u = j->c->upload;

    if (u->disco == UP_DISCO_FOUND) {
        up_slot_request(j);
    } else if (u->disco == UP_DISCO_MISSING) {
        up_done(j, "the server has no upload service");
    } else {
        j->step = UP_WAIT;
        if (u->disco == UP_DISCO_NONE)
            up_disco_start(j->c);
    }
}

/* ---- entry points ------------------------------------------------------- */

/* The host of an http(s) URL, lowercased, without port; 0 or -1. */
static int up_host(const char *url, char *out, size_t size)
{
    const char *p = strstr(url, "://"), *end;
    size_t n;

    if (!p)
        return -1;
    p += 3;
    end = p + strcspn(p, "/?#");
    if (memchr(p, '@', (size_t)(end - p)))
        return -1; /* no credentials in attach URLs */
    if (*p == '[') {
        const char *close = memchr(p, ']', (size_t)(end - p));

        if (!close)
            return -1;
        end = close + 1;
    } else {
        const char *colon = memchr(p, ':', (size_t)(end - p));

        if (colon)
            end = colon;
    }
    n = (size_t)(end - p);
    if (!n || n >= size)
        return -1;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)p[i]);
    out[n] = '\0';
    return 0;
}

static struct up_job *
up_job_new(struct comp *c, const struct msg *m, const char *src)
{
    struct up_job *j = calloc(1, sizeof(*j));
    struct msg *t = msg_new();

    if (!j || !t)
        goto fail;
    j->c = c;
    j->tmpl = t;
    if (!(t->hook = strdup(m->hook ? m->hook : "-")) ||
        !(t->from = strdup(m->from)) ||
        (m->nick && !(t->nick = strdup(m->nick))) || !(t->body = strdup("")) ||
        !(j->src = strdup(src)) ||
        !(j->timer = evtimer_new(c->base, up_on_slot_timeout, j)))
        goto fail;
    t->type = m->type;
    for (size_t i = 0; i < m->n_to; i++)
        if (msg_add_to(t, m->to[i]) != 0)
            goto fail;
    for (size_t i = 0; i < m->n_rooms; i++)
        if (msg_add_room(t, m->rooms[i]) != 0)
            goto fail;
    up_filename(src, j->filename, sizeof(j->filename));
    return j;
fail:
    if (j)
        j->tmpl = t;
    up_job_free(j);
    if (!j)
        msg_free(t);
    return NULL;
}

static int up_init(struct comp *c)
{
    struct comp_upload *u;

    if (c->upload)
        return 0;
    if (!(u = calloc(1, sizeof(*u))))
        return XMTA_E_NOMEM;
    TAILQ_INIT(&u->jobs);
    c->upload = u;
    if (!(u->disco_timer = evtimer_new(c->base, up_on_disco_timeout, c)))
        return XMTA_E_NOMEM;
    if (c->cfg->upload_service) {
        if (!(u->service = strdup(c->cfg->upload_service)))
            return XMTA_E_NOMEM;
        u->disco = UP_DISCO_FOUND;
    }
    return 0;
}

/* The whole text of a body cut at max_message (taken) goes up as a text
 * file: no fetch, straight to the slot. */
static void up_long_body(struct comp *c, const struct msg *m, char *text)
{
    struct up_job *j;

    if (up_init(c) != 0 ||
        (!c->fetch && !(c->fetch = comp_fetch_new(c->base, 8, 64))) ||
        !(j = up_job_new(c, m, "message.txt"))) {
        xlog_warn("upload",
                  "%s: long message not uploaded: out of memory; the "
                  "recipients have it cut at max_message only",
                  m->hook ? m->hook : "-");
        c->long_bodies_cut++;
        free(text);
        return;
    }
    j->long_body = 1;
    snprintf(j->filename, sizeof(j->filename), "message.txt");
    j->data = text;
    j->len = strlen(text);
    snprintf(j->ctype, sizeof(j->ctype), "text/plain; charset=utf-8");
    TAILQ_INSERT_TAIL(&c->upload->jobs, j, link);
    c->upload->n_jobs++;
    if (c->upload->n_jobs > UP_JOBS_MAX) {
        up_done(j, "too many uploads at once");
        return;
    }
    up_after_fetch(j);
}

void comp_upload_submit(struct comp *c, struct msg *m)
{
    const struct conf_hook *hk = NULL;
    struct comp_fetch_req rq = {0};
    struct up_job *j;
    char host[256];

    if (m->long_text) {
        char *text = m->long_text;

        m->long_text = NULL; /* the job keeps it, not the spooled message */
        up_long_body(c, m, text);
    }
    if (!m->attach)
        return;
    for (size_t i = 0; i < c->cfg->n_hooks && m->hook; i++)
        if (strcmp(c->cfg->hooks[i].name, m->hook) == 0)
            hk = &c->cfg->hooks[i];
    if (!hk || up_init(c) != 0 ||
        (!c->fetch && !(c->fetch = comp_fetch_new(c->base, 8, 64))) ||
        !(j = up_job_new(c, m, m->attach))) {
        xlog_warn("upload", "%s: attachment %s dropped: out of memory",
                  m->hook ? m->hook : "-", m->attach);
        return;
    }
    TAILQ_INSERT_TAIL(&c->upload->jobs, j, link);
    c->upload->n_jobs++;
    if (c->upload->n_jobs > UP_JOBS_MAX) {
        up_done(j, "too many attachments at once");
        return;
    }
    if (up_host(j->src, host, sizeof(host)) != 0) {
        up_done(j, "not an http(s) URL");
        return;
    }
    {
        int ok = 0;

        for (size_t i = 0; i < hk->n_attach_hosts && !ok; i++)
            ok = jid_glob_match(hk->attach_hosts[i], host);
        if (!ok) {
            up_done(j, "host not in attach_hosts");
            return;
        }
    }
    rq.url = j->src;
    rq.timeout_ms = 30000;
    rq.retries = 1;
    rq.retry_timeouts = 1;
    rq.max_response = hk->attach_max;
    rq.ca_file = c->cfg->http_ca_file;
    j->step = UP_FETCH;
    if (comp_fetch_start(c->fetch, &rq, up_on_fetch, j) != 0)
        up_done(j, "cannot fetch it");
}

int comp_upload_on_iq(struct comp *c, const struct xml_node *iq)
{
    struct comp_upload *u = c->upload;
    const char *id = xml_node_attr(iq, "id");
    struct up_job *j;

    if (!u || !id || strncmp(id, UP_IQ_PREFIX, 3) != 0)
        return 0;
    for (size_t i = 0; i < UP_DISCO_MAX; i++)
        if (u->disco == UP_DISCO_RUNNING && strcmp(u->disco_ids[i], id) == 0) {
            up_on_disco(c, i, iq);
            return 1;
        }
    TAILQ_FOREACH (j, &u->jobs, link)
        if (j->step == UP_SLOT && strcmp(j->iq_id, id) == 0) {
            up_on_slot(j, iq);
            return 1;
        }
    return 1;
}

void comp_upload_free(struct comp *c)
{
    struct comp_upload *u = c->upload;
    struct up_job *j;

    if (!u)
        return;
    while ((j = TAILQ_FIRST(&u->jobs))) {
        TAILQ_REMOVE(&u->jobs, j, link);
        up_job_free(j);
    }
    if (u->disco_timer)
        event_free(u->disco_timer);
    free(u->service);
    free(u);
    c->upload = NULL;
}
