/* SPDX-License-Identifier: MIT */
/* fetch.c -- libcurl's multi interface on the libevent loop (curl's
 * hiperfifo.c): curl tells us which sockets to watch (socket callback,
 * one event per socket attached with curl_multi_assign) and when to call
 * it back (timer callback, one timer); we call curl_multi_socket_action
 * from those events only, and read finished transfers after each call.
 * libcurl is not linked: comp_curl.NAME is curl_NAME, loaded by
 * component/curl_dl.c when the configuration needs it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "component/component.h"
#include "component/curl_dl.h"
#include "component/fetch.h"
#include "component/internal.h"
#include "conf/conf.h"
#include "xml/err.h"
#include "xml/log.h"

#define FETCH_TIMEOUT_MS 10000
#define FETCH_CONNECT_MS 10000
#define FETCH_BACKOFF_MS 500
#define FETCH_BACKOFF_MAX_MS 30000
#define FETCH_RESPONSE_MAX (64 * 1024)
#define FETCH_RUNNING 8
#define FETCH_WAITING 256

enum fetch_state {
    FETCH_WAIT,    /* queued for a free transfer slot */
    FETCH_RUN,     /* in the multi handle */
    FETCH_BACKOFF, /* retry timer armed */
    FETCH_STATE_COUNT
};

struct fetch_req {
    TAILQ_ENTRY(fetch_req) link; /* f->waiting or f->active */
    struct comp_fetch *f;
    enum fetch_state state;
    CURL *easy;
    struct curl_slist *headers;
    char *url;
    char *body;
    size_t body_len;
    char *resp;
    size_t resp_len, resp_cap, max_response;
    int too_big;
    unsigned retries_left, attempts, backoff_ms;
    int retry_timeouts;
    struct event *retry; /* FETCH_BACKOFF */
    void (*done)(void *arg, const struct comp_fetch_result *r);
    void *arg;
    char errbuf[CURL_ERROR_SIZE];
};
TAILQ_HEAD(fetch_list, fetch_req);

/* One socket curl asked us to watch. */
struct fetch_sock {
    struct event *ev;
};

struct comp_fetch {
    struct event_base *base; /* borrowed */
    CURLM *multi;
    struct event *timer;       /* curl's one timeout */
    struct fetch_list waiting; /* FETCH_WAIT, in order */
    struct fetch_list active;  /* FETCH_RUN and FETCH_BACKOFF */
    unsigned max_running, max_waiting;
    size_t n_running, n_waiting, n_backoff;
    struct comp_fetch_stats st;
};

/* ---- requests ----------------------------------------------------------- */

static void fetch_req_free(struct fetch_req *q)
{
    if (!q)
        return;
    if (q->easy)
        comp_curl.easy_cleanup(q->easy);
    comp_curl.slist_free_all(q->headers);
    if (q->retry)
        event_free(q->retry);
    free(q->url);
    free(q->body);
    free(q->resp);
    free(q);
}

static size_t fetch_on_write(char *data, size_t size, size_t n, void *arg)
{
    struct fetch_req *q = arg;
    size_t len = size * n;

    if (len > q->max_response - q->resp_len) {
        q->too_big = 1;
        return 0; /* CURLE_WRITE_ERROR ends the transfer */
    }
    if (q->resp_len + len + 1 > q->resp_cap) {
        size_t cap = q->resp_cap ? q->resp_cap : 1024;
        char *v;

        while (cap < q->resp_len + len + 1)
            cap *= 2;
        if (!(v = realloc(q->resp, cap)))
            return 0;
        q->resp = v;
        q->resp_cap = cap;
    }
    memcpy(q->resp + q->resp_len, data, len);
    q->resp_len += len;
    q->resp[q->resp_len] = '\0';
    return len;
}

/* 1 when url starts with http:// or https:// (any case). */
static int fetch_scheme_ok(const char *url)
{
    return url && (strncasecmp(url, "http://", 7) == 0 ||
                   strncasecmp(url, "https://", 8) == 0);
}

static int fetch_easy_setup(struct fetch_req *q,
                            const struct comp_fetch_req *rq)
{
    const char *method = rq->method ? rq->method : "GET";
    unsigned timeout = rq->timeout_ms ? rq->timeout_ms : FETCH_TIMEOUT_MS;
    CURL *e = q->easy;
    CURLcode rc = CURLE_OK;

#define FETCH_SET(opt, val)                                                    \
    do {                                                                       \
        if (rc == CURLE_OK)                                                    \
            rc = comp_curl.easy_setopt(e, opt, val);                           \
    } while (0)
    FETCH_SET(CURLOPT_URL, q->url);
    FETCH_SET(CURLOPT_PRIVATE, q);
    FETCH_SET(CURLOPT_NOSIGNAL, 1L);
    FETCH_SET(CURLOPT_PROTOCOLS_STR, "http,https");
    FETCH_SET(CURLOPT_FOLLOWLOCATION, 0L);
    FETCH_SET(CURLOPT_SSL_VERIFYPEER, 1L);
    FETCH_SET(CURLOPT_SSL_VERIFYHOST, 2L);
    FETCH_SET(CURLOPT_TIMEOUT_MS, (long)timeout);
    FETCH_SET(CURLOPT_CONNECTTIMEOUT_MS,
              (long)(timeout < FETCH_CONNECT_MS ? timeout : FETCH_CONNECT_MS));
    FETCH_SET(CURLOPT_WRITEFUNCTION, fetch_on_write);
    FETCH_SET(CURLOPT_WRITEDATA, q);
    FETCH_SET(CURLOPT_ERRORBUFFER, q->errbuf);
    FETCH_SET(CURLOPT_USERAGENT, "xmta/" XMTA_VERSION);
    if (rq->ca_file)
        FETCH_SET(CURLOPT_CAINFO, rq->ca_file);
    if (q->body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
        FETCH_SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
        FETCH_SET(CURLOPT_POSTFIELDS, q->body ? q->body : "");
        if (strcmp(method, "POST") != 0)
            FETCH_SET(CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") != 0) {
        FETCH_SET(CURLOPT_CUSTOMREQUEST, method);
    }
    if (q->headers)
        FETCH_SET(CURLOPT_HTTPHEADER, q->headers);
#undef FETCH_SET
    return rc == CURLE_OK ? 0 : XMTA_E_INVAL;
}

/* ---- the multi handle on the loop --------------------------------------- */

static void fetch_check_done(struct comp_fetch *f);
static void fetch_pump(struct comp_fetch *f);

static void fetch_on_socket_event(evutil_socket_t fd, short what, void *arg)
{
    struct comp_fetch *f = arg;
    int action = ((what & EV_READ) ? CURL_CSELECT_IN : 0) |
                 ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    int running = 0;

    comp_curl.multi_socket_action(f->multi, fd, action, &running);
    fetch_check_done(f);
    if (running == 0 && f->timer)
        evtimer_del(f->timer);
}

static void fetch_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct comp_fetch *f = arg;
    int running = 0;

    comp_curl.multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    fetch_check_done(f);
}

/* CURLMOPT_SOCKETFUNCTION: watch s for what curl wants, or stop. */
static int
fetch_on_socket(CURL *e, curl_socket_t s, int what, void *arg, void *sockp)
{
    struct comp_fetch *f = arg;
    struct fetch_sock *fs = sockp;
    short kind = EV_PERSIST;

    if (what == CURL_POLL_REMOVE) {
        if (fs) {
            event_free(fs->ev);
            free(fs);
            comp_curl.multi_assign(f->multi, s, NULL);
        }
        return 0;
    }
    if (!fs) {
        if (!(fs = calloc(1, sizeof(*fs))))
            return -1;
        comp_curl.multi_assign(f->multi, s, fs);
    } else {
        event_free(fs->ev);
        fs->ev = NULL;
    }
    if (what & CURL_POLL_IN)
        kind |= EV_READ;
    if (what & CURL_POLL_OUT)
        kind |= EV_WRITE;
    if (!(fs->ev = event_new(f->base, s, kind, fetch_on_socket_event, f)) ||
        event_add(fs->ev, NULL) != 0) {
        xlog_error("fetch", "cannot watch a socket");
        return -1;
    }
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: only arms or stops our timer (never calls curl
 * from here: hiperfifo's rule). */
static int fetch_on_curl_timer(CURLM *multi, long timeout_ms, void *arg)
{
    struct comp_fetch *f = arg;
    struct timeval tv;

    if (timeout_ms < 0) {
        evtimer_del(f->timer);
        return 0;
    }
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    return evtimer_add(f->timer, &tv) == 0 ? 0 : -1;
}

/* ---- attempts, retries, completion -------------------------------------- */

static int fetch_attempt(struct comp_fetch *f, struct fetch_req *q)
{
    q->resp_len = 0;
    q->too_big = 0;
    q->errbuf[0] = '\0';
    if (q->resp)
        q->resp[0] = '\0';
    q->attempts++;
    if (comp_curl.multi_add_handle(f->multi, q->easy) != CURLM_OK)
        return XMTA_E_NOMEM;
    q->state = FETCH_RUN;
    TAILQ_INSERT_TAIL(&f->active, q, link);
    f->n_running++;
    return 0;
}

static void fetch_finish(struct comp_fetch *f,
                         struct fetch_req *q,
                         struct comp_fetch_result *r)
{
    if (r->rc == 0 && r->status >= 200 && r->status < 300)
        f->st.ok++;
    else if (r->rc == 0)
        f->st.http_errors++;
    else if (r->rc != XMTA_E_STOPPED)
        f->st.failures++;
    if (r->tls_error)
        f->st.tls_failures++;
    if (r->timed_out)
        f->st.timeouts++;
    r->attempts = q->attempts;
    if (!r->body)
        r->body = "";
    if (!r->error)
        r->error = "";
    q->done(q->arg, r);
    fetch_req_free(q);
}

static void fetch_on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct fetch_req *q = arg;
    struct comp_fetch *f = q->f;

    TAILQ_REMOVE(&f->active, q, link);
    f->n_backoff--;
    /* Back in line: a retry waits for a slot like any new request. */
    q->state = FETCH_WAIT;
    TAILQ_INSERT_HEAD(&f->waiting, q, link);
    f->n_waiting++;
    fetch_pump(f);
}

/* 1 when this outcome is worth another attempt. */
static int fetch_retryable(const struct fetch_req *q, CURLcode res, long status)
{
    if (res == CURLE_OK)
        return status == 429 || status == 502 || status == 503 || status == 504;
    if (res == CURLE_COULDNT_CONNECT || res == CURLE_COULDNT_RESOLVE_HOST)
        return 1; /* nothing reached the peer */
    return q->retry_timeouts &&
           (res == CURLE_OPERATION_TIMEDOUT || res == CURLE_GOT_NOTHING ||
            res == CURLE_RECV_ERROR || res == CURLE_SEND_ERROR);
}

/* 1 when res is a TLS failure (never retried: it will not change). */
static int fetch_tls_failed(CURLcode res)
{
    switch (res) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
        return 1;
    default:
        return 0;
    }
}

/* One transfer ended: retry it later, or report it. */
static void fetch_ended(struct comp_fetch *f, struct fetch_req *q, CURLcode res)
{
    struct comp_fetch_result r = {0};
    long status = 0;
    char *ctype = NULL;

    TAILQ_REMOVE(&f->active, q, link);
    f->n_running--;
    comp_curl.multi_remove_handle(f->multi, q->easy);
    if (res == CURLE_OK)
        comp_curl.easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &status);
    if (!q->too_big && q->retries_left && fetch_retryable(q, res, status)) {
        unsigned ms =
            comp_backoff(q->backoff_ms, FETCH_BACKOFF_MAX_MS, q->attempts - 1);

        /* scheme://host[:port] only: a path or query may hold a token */
        xlog_info("fetch", "%.*s: %s; retry %u in %u ms",
                  (int)(strcspn(q->url + 8, "/?#") + 8), q->url,
                  res == CURLE_OK ? "server busy"
                  : q->errbuf[0]  ? q->errbuf
                                  : comp_curl.easy_strerror(res),
                  q->attempts, ms);
        q->retries_left--;
        f->st.retries++;
        q->state = FETCH_BACKOFF;
        TAILQ_INSERT_TAIL(&f->active, q, link);
        f->n_backoff++;
        comp_timer_arm(q->retry, ms);
        return;
    }
    if (q->too_big) {
        r.rc = XMTA_E_LIMIT;
        r.error = "response too large";
    } else if (res != CURLE_OK) {
        r.rc = XMTA_E_IO;
        r.timed_out = res == CURLE_OPERATION_TIMEDOUT;
        r.tls_error = fetch_tls_failed(res);
        r.error = q->errbuf[0] ? q->errbuf : comp_curl.easy_strerror(res);
    } else {
        r.status = status;
        r.body = q->resp;
        r.body_len = q->resp_len;
        if (comp_curl.easy_getinfo(q->easy, CURLINFO_CONTENT_TYPE, &ctype) ==
            CURLE_OK)
            r.content_type = ctype;
    }
    fetch_finish(f, q, &r);
}

static void fetch_check_done(struct comp_fetch *f)
{
    CURLMsg *msg;
    int left = 0;

    while ((msg = comp_curl.multi_info_read(f->multi, &left))) {
        struct fetch_req *q = NULL;
        CURL *e = msg->easy_handle;
        CURLcode res = msg->data.result;

        if (msg->msg != CURLMSG_DONE)
            continue;
        comp_curl.easy_getinfo(e, CURLINFO_PRIVATE, (char **)&q);
        if (q)
            fetch_ended(f, q, res);
    }
    fetch_pump(f);
}

/* Starts waiting requests while there is a free slot. */
static void fetch_pump(struct comp_fetch *f)
{
    struct fetch_req *q;

    while (f->n_running < f->max_running && (q = TAILQ_FIRST(&f->waiting))) {
        TAILQ_REMOVE(&f->waiting, q, link);
        f->n_waiting--;
        if (fetch_attempt(f, q) != 0) {
            struct comp_fetch_result r = {0};

            r.rc = XMTA_E_IO;
            r.error = "cannot start the transfer";
            fetch_finish(f, q, &r);
        }
    }
}

/* ---- public ------------------------------------------------------------- */

struct comp_fetch *comp_fetch_new(struct event_base *base,
                                  unsigned max_running,
                                  unsigned max_waiting)
{
    struct comp_fetch *f;
    char why[512];

    if (!base)
        return NULL;
    /* Loaded already when the configuration needs it (comp_conf_check);
     * else (tests) now. */
    if (comp_curl_load(why, sizeof(why)) != 0) {
        xlog_error("fetch", "%s", why);
        return NULL;
    }
    if (!(f = calloc(1, sizeof(*f))))
        return NULL;
    f->base = base;
    f->max_running = max_running ? max_running : FETCH_RUNNING;
    f->max_waiting = max_waiting ? max_waiting : FETCH_WAITING;
    TAILQ_INIT(&f->waiting);
    TAILQ_INIT(&f->active);
    if (!(f->multi = comp_curl.multi_init()) ||
        !(f->timer = evtimer_new(base, fetch_on_timer, f)) ||
        comp_curl.multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION,
                               fetch_on_socket) != CURLM_OK ||
        comp_curl.multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f) != CURLM_OK ||
        comp_curl.multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION,
                               fetch_on_curl_timer) != CURLM_OK ||
        comp_curl.multi_setopt(f->multi, CURLMOPT_TIMERDATA, f) != CURLM_OK) {
        comp_fetch_free(f);
        return NULL;
    }
    return f;
}

int comp_fetch_start(struct comp_fetch *f,
                     const struct comp_fetch_req *rq,
                     void (*done)(void *arg, const struct comp_fetch_result *r),
                     void *arg)
{
    struct fetch_req *q = NULL;
    int rc = XMTA_E_NOMEM;

    if (!f || !rq || !done || !fetch_scheme_ok(rq->url))
        return XMTA_E_INVAL;
    for (size_t i = 0; i < rq->n_headers; i++)
        if (!rq->headers[i] || strpbrk(rq->headers[i], "\r\n"))
            return XMTA_E_INVAL;
    if (f->n_waiting + f->n_backoff >= f->max_waiting) {
        f->st.rejected++;
        return XMTA_E_FULL;
    }
    if (!(q = calloc(1, sizeof(*q))))
        return XMTA_E_NOMEM;
    q->f = f;
    q->done = done;
    q->arg = arg;
    q->retries_left = rq->retries;
    q->backoff_ms = rq->backoff_ms ? rq->backoff_ms : FETCH_BACKOFF_MS;
    q->retry_timeouts = rq->retry_timeouts;
    q->max_response = rq->max_response ? rq->max_response : FETCH_RESPONSE_MAX;
    if (!(q->url = strdup(rq->url)) || !(q->easy = comp_curl.easy_init()) ||
        !(q->retry = evtimer_new(f->base, fetch_on_retry, q)))
        goto fail;
    if (rq->body) {
        if (!(q->body = malloc(rq->body_len + 1)))
            goto fail;
        memcpy(q->body, rq->body, rq->body_len);
        q->body[rq->body_len] = '\0';
        q->body_len = rq->body_len;
    }
    for (size_t i = 0; i < rq->n_headers; i++) {
        struct curl_slist *l =
            comp_curl.slist_append(q->headers, rq->headers[i]);

        if (!l)
            goto fail;
        q->headers = l;
    }
    if ((rc = fetch_easy_setup(q, rq)) != 0)
        goto fail;
    f->st.requests++;
    q->state = FETCH_WAIT;
    TAILQ_INSERT_TAIL(&f->waiting, q, link);
    f->n_waiting++;
    /* Started from the loop, so done never runs inside this call. */
    comp_timer_arm(f->timer, 0);
    return 0;
fail:
    fetch_req_free(q);
    return rc;
}

void comp_fetch_counters(const struct comp_fetch *f,
                         struct comp_fetch_stats *st)
{
    if (!f || !st)
        return;
    st->requests = f->st.requests;
    st->ok = f->st.ok;
    st->http_errors = f->st.http_errors;
    st->failures = f->st.failures;
    st->timeouts = f->st.timeouts;
    st->retries = f->st.retries;
    st->rejected = f->st.rejected;
    st->tls_failures = f->st.tls_failures;
    st->running = f->n_running;
    st->waiting = f->n_waiting + f->n_backoff;
}

void comp_fetch_free(struct comp_fetch *f)
{
    struct fetch_req *q;

    if (!f)
        return;
    while ((q = TAILQ_FIRST(&f->waiting)) || (q = TAILQ_FIRST(&f->active))) {
        struct comp_fetch_result r = {0};

        if (q->state == FETCH_WAIT) {
            TAILQ_REMOVE(&f->waiting, q, link);
            f->n_waiting--;
        } else {
            TAILQ_REMOVE(&f->active, q, link);
            if (q->state == FETCH_RUN) {
                comp_curl.multi_remove_handle(f->multi, q->easy);
                f->n_running--;
            } else {
                f->n_backoff--;
            }
        }
        r.rc = XMTA_E_STOPPED;
        r.error = "stopped";
        fetch_finish(f, q, &r);
    }
    if (f->multi)
        comp_curl.multi_cleanup(f->multi);
    if (f->timer)
        event_free(f->timer);
    free(f);
}

/* The first hook of cfg that makes outgoing HTTP requests, and the key
 * that makes it, or NULL. */
static const struct conf_hook *fetch_conf_user(const struct conf *cfg,
                                               const char **key)
{
    for (size_t i = 0; i < cfg->n_hooks; i++) {
        const struct conf_hook *hk = &cfg->hooks[i];

        *key = hk->reply_url          ? "reply_url"
               : hk->alertmanager_url ? "alertmanager_url"
               : hk->n_attach_hosts   ? "attach_hosts"
               : hk->long_body_upload ? "long_body = upload"
                                      : NULL;
        if (*key)
            return hk;
    }
    return NULL;
}

int comp_conf_check(const struct conf *cfg, struct conf_diag *diag)
{
    const struct conf_hook *hk;
    const char *key = NULL;
    char why[400];
    int rc;

    if (!(hk = fetch_conf_user(cfg, &key)) ||
        (rc = comp_curl_load(why, sizeof(why))) == 0)
        return 0;
    snprintf(diag->file, sizeof(diag->file), "%s",
             cfg->path ? cfg->path : "config");
    diag->line = hk->line;
    snprintf(diag->msg, sizeof(diag->msg),
             "[hook %s] %s makes outgoing HTTP requests, which need "
             "libcurl: %s",
             hk->name, key, why);
    return rc;
}
