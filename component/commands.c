/* SPDX-License-Identifier: MIT */
/* commands.c -- Alertmanager actions from XMPP: "ack" and "silence 2h
 * [matcher...]" in reply to an alert create a silence through the v2 API
 * (POST /api/v2/silences) for that alert's labels, "alerts" lists what is
 * firing (GET /api/v2/alerts). Only in a direct chat, and only from JIDs
 * that match the hook's commanders globs. The labels of recent alerts are
 * remembered by message id when they are submitted. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "component/fetch.h"
#include "component/internal.h"
#include "conf/conf.h"
#include "xml/err.h"
#include "xml/jid.h"
#include "xml/log.h"
#include "xml/msg.h"

#define CMD_LABELS_MAX 512       /* alerts whose labels are remembered */
#define CMD_DEFAULT_S (2 * 3600) /* ack: two hours */
#define CMD_MAX_S (90 * 86400)   /* longest silence taken */
#define CMD_LIST_MAX 20          /* alerts listed by "alerts" */
#define CMD_MATCHERS_MAX 16
#define CMD_RESPONSE_MAX (1024 * 1024)
#define CMD_TIMEOUT_MS 10000

/* The labels of one alert message, by its id (a ring in struct comp). */
struct comp_cmd_labels {
    char id[MSG_ID_LEN + 1];
    char *hook;
    char *labels; /* JSON object text */
};

enum cmd_kind { CMD_SILENCE, CMD_ALERTS, CMD_KIND_COUNT };

struct cmd_call {
    struct comp_answer *a;
    enum cmd_kind kind;
    char what[512]; /* silence: the matchers, for the answer */
    char duration[32];
};

/* ---- labels of recent alerts -------------------------------------------- */

void comp_commands_remember(struct comp *c, const struct msg *m)
{
    struct comp_cmd_labels *r;

    if (!m || !m->labels || !m->hook)
        return;
    if (!c->cmd_labels &&
        !(c->cmd_labels = calloc(CMD_LABELS_MAX, sizeof(*c->cmd_labels))))
        return;
    r = &c->cmd_labels[c->cmd_labels_next];
    c->cmd_labels_next = (c->cmd_labels_next + 1) % CMD_LABELS_MAX;
    free(r->hook);
    free(r->labels);
    memcpy(r->id, m->id, sizeof(r->id));
    r->hook = strdup(m->hook);
    r->labels = strdup(m->labels);
}

void comp_commands_free(struct comp *c)
{
    for (size_t i = 0; c->cmd_labels && i < CMD_LABELS_MAX; i++) {
        free(c->cmd_labels[i].hook);
        free(c->cmd_labels[i].labels);
    }
    free(c->cmd_labels);
    c->cmd_labels = NULL;
}

static const char *
cmd_labels_of(const struct comp *c, const char *hook, const char *id)
{
    for (size_t i = 0; c->cmd_labels && id && i < CMD_LABELS_MAX; i++) {
        const struct comp_cmd_labels *r = &c->cmd_labels[i];

        if (r->labels && r->hook && strcmp(r->id, id) == 0 &&
            strcmp(r->hook, hook) == 0)
            return r->labels;
    }
    return NULL;
}

/* ---- parsing ------------------------------------------------------------ */

/* "30m", "2h", "1d", "90s" into seconds; 0 on error. */
static long cmd_duration(const char *s)
{
    char *end;
    long n, unit;

    if (!isdigit((unsigned char)s[0]))
        return 0;
    n = strtol(s, &end, 10);
    switch (*end) {
    case 's':
        unit = 1;
        break;
    case 'm':
        unit = 60;
        break;
    case 'h':
        unit = 3600;
        break;
    case 'd':
        unit = 86400;
        break;
    case 'w':
        unit = 7 * 86400;
        break;
    default:
        return 0;
    }
    if (end[1] || n <= 0 || n > CMD_MAX_S / unit || n * unit < 60)
        return 0;
    return n * unit;
}

/* One matcher "name=value", "name!=value", "name=~re", "name!~re" (value
 * may be in double quotes) appended to arr. 0 or XMTA_E_INVAL. */
static int cmd_matcher(json_t *arr, const char *tok)
{
    const char *op = strpbrk(tok, "=!");
    int equal = 1, regex = 0;
    size_t nlen, vlen;
    const char *v;
    char name[128], value[512];

    if (!op || op == tok)
        return XMTA_E_INVAL;
    nlen = (size_t)(op - tok);
    if (op[0] == '!') {
        if (op[1] != '=' && op[1] != '~')
            return XMTA_E_INVAL;
        equal = 0;
        regex = op[1] == '~';
        v = op + 2;
    } else {
        regex = op[1] == '~';
        v = op + 1 + regex;
    }
    vlen = strlen(v);
    if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
        v++;
        vlen -= 2;
    }
    if (nlen >= sizeof(name) || vlen >= sizeof(value))
        return XMTA_E_INVAL;
    for (size_t i = 0; i < nlen; i++)
        if (!isalnum((unsigned char)tok[i]) && tok[i] != '_')
            return XMTA_E_INVAL;
    memcpy(name, tok, nlen);
    name[nlen] = '\0';
    memcpy(value, v, vlen);
    value[vlen] = '\0';
    return json_array_append_new(arr, json_pack("{s:s, s:s, s:b, s:b}", "name",
                                                name, "value", value, "isRegex",
                                                regex, "isEqual", equal)) == 0
               ? 0
               : XMTA_E_NOMEM;
}

/* The alert's labels (a JSON object text) as equality matchers. */
static int cmd_label_matchers(json_t *arr, const char *labels)
{
    json_t *o = json_loads(labels, 0, NULL), *v;
    const char *k;
    int rc = XMTA_E_INVAL;

    if (!json_is_object(o) || json_object_size(o) == 0)
        goto out;
    json_object_foreach(o, k, v)
    {
        if (!json_is_string(v))
            continue;
        if (json_array_append_new(arr,
                                  json_pack("{s:s, s:s, s:b, s:b}", "name", k,
                                            "value", json_string_value(v),
                                            "isRegex", 0, "isEqual", 1)) != 0) {
            rc = XMTA_E_NOMEM;
            goto out;
        }
    }
    rc = json_array_size(arr) ? 0 : XMTA_E_INVAL;
out:
    json_decref(o);
    return rc;
}

/* "alertname=DiskFull, instance=db1" for the answer. */
static void cmd_describe(json_t *arr, char *buf, size_t size)
{
    size_t i, len = 0;
    json_t *m;

    buf[0] = '\0';
    json_array_foreach(arr, i, m)
    {
        int eq = json_is_true(json_object_get(m, "isEqual"));
        int re = json_is_true(json_object_get(m, "isRegex"));

        if (len < size)
            len += (size_t)snprintf(
                buf + len, size - len, "%s%s%s%s", i ? ", " : "",
                json_string_value(json_object_get(m, "name")),
                eq ? (re ? "=~" : "=") : (re ? "!~" : "!="),
                json_string_value(json_object_get(m, "value")));
    }
}

static void cmd_iso(time_t t, char *buf, size_t size)
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- the API calls ------------------------------------------------------ */

static void cmd_say(struct comp_answer *a, const char *text)
{
    comp_answer_send(a, text, strlen(text));
}

/* "N firing:" and one line per alert. */
static void cmd_list(struct comp_answer *a, const char *body, size_t len)
{
    json_t *arr = json_loadb(body, len, 0, NULL), *al;
    size_t i, n = 0, out = 0, cap = 8192;
    char *text = malloc(cap);

    if (!text || !json_is_array(arr)) {
        cmd_say(a, "Alertmanager answered something that is not a list of "
                   "alerts.");
        goto done;
    }
    n = json_array_size(arr);
    if (n == 0) {
        cmd_say(a, "No alerts are firing.");
        goto done;
    }
    out = (size_t)snprintf(text, cap, "%zu alert%s firing:", n,
                           n == 1 ? "" : "s");
    json_array_foreach(arr, i, al)
    {
        const json_t *lb = json_object_get(al, "labels");
        const json_t *an = json_object_get(al, "annotations");
        const char *name = json_string_value(json_object_get(lb, "alertname"));
        const char *inst = json_string_value(json_object_get(lb, "instance"));
        const char *sum = json_string_value(json_object_get(an, "summary"));

        if (i >= CMD_LIST_MAX) {
            if (out < cap)
                out += (size_t)snprintf(text + out, cap - out,
                                        "\n… and %zu more", n - i);
            break;
        }
        if (out < cap)
            out += (size_t)snprintf(text + out, cap - out, "\n• %s%s%s%s%s",
                                    name ? name : "(no alertname)",
                                    inst ? " on " : "", inst ? inst : "",
                                    sum ? ": " : "", sum ? sum : "");
    }
    comp_answer_send(a, text, out < cap ? out : cap - 1);
done:
    free(text);
    json_decref(arr);
}

static void cmd_on_done(void *arg, const struct comp_fetch_result *r)
{
    struct cmd_call *k = arg;
    char text[1024];

    if (r->rc == XMTA_E_STOPPED)
        goto out;
    if (r->rc != 0 || r->status < 200 || r->status >= 300) {
        if (r->rc == 0)
            snprintf(text, sizeof(text), "HTTP %ld", r->status);
        else
            snprintf(text, sizeof(text), "%s",
                     r->timed_out ? "no answer in time" : "unreachable");
        xlog_warn("cmd", "Alertmanager %s failed: %s%s%s",
                  k->kind == CMD_SILENCE ? "silence" : "alerts", text,
                  r->error[0] ? ": " : "", r->error);
        {
            char say[1200];

            snprintf(say, sizeof(say), "Alertmanager did not take it (%s).",
                     text);
            cmd_say(k->a, say);
        }
        goto out;
    }
    if (k->kind == CMD_ALERTS) {
        cmd_list(k->a, r->body, r->body_len);
    } else {
        json_t *o = json_loadb(r->body, r->body_len, 0, NULL);
        const char *sid = json_string_value(json_object_get(o, "silenceID"));

        xlog_info("cmd", "silence %s created for %s: %s", sid ? sid : "?",
                  k->duration, k->what);
        snprintf(text, sizeof(text), "Silenced for %s (silence %s): %s",
                 k->duration, sid ? sid : "?", k->what);
        cmd_say(k->a, text);
        json_decref(o);
    }
out:
    comp_answer_free(k->a);
    free(k);
}

static int cmd_call(struct comp *c,
                    const struct conf_hook *hk,
                    struct cmd_call *k,
                    const char *method,
                    const char *path,
                    const char *body)
{
    const char *hdrs[] = {"Content-Type: application/json", "Expect:"};
    struct comp_fetch_req rq = {0};
    size_t blen = strlen(hk->alertmanager_url);
    char *url = malloc(blen + strlen(path) + 1);
    int rc;

    if (!url)
        return XMTA_E_NOMEM;
    while (blen && hk->alertmanager_url[blen - 1] == '/')
        blen--;
    memcpy(url, hk->alertmanager_url, blen);
    strcpy(url + blen, path);
    if (!c->fetch && !(c->fetch = comp_fetch_new(c->base, 8, 64))) {
        free(url);
        return XMTA_E_NOMEM;
    }
    rq.method = method;
    rq.url = url;
    rq.headers = body ? hdrs : NULL;
    rq.n_headers = body ? 2 : 0;
    rq.body = body;
    rq.body_len = body ? strlen(body) : 0;
    rq.timeout_ms = CMD_TIMEOUT_MS;
    rq.retries = 2;
    rq.retry_timeouts = body == NULL; /* GET only */
    rq.max_response = CMD_RESPONSE_MAX;
    rc = comp_fetch_start(c->fetch, &rq, cmd_on_done, k);
    free(url);
    return rc;
}

/* ---- the entry point ---------------------------------------------------- */

static int cmd_authorized(const struct conf_hook *hk, const char *bare)
{
    for (size_t i = 0; bare && i < hk->n_commanders; i++)
        if (jid_glob_match(hk->commanders[i], bare))
            return 1;
    return 0;
}

int comp_commands_try(struct comp *c, const struct comp_inbound *in)
{
    const struct conf_hook *hk = in->hk;
    char buf[1024], *tok, *save = NULL, *body_json = NULL, now_s[32], end_s[32];
    struct cmd_call *k = NULL;
    json_t *matchers = NULL, *si = NULL;
    const char *labels, *verb;
    long secs = CMD_DEFAULT_S;
    int rc = XMTA_E_NOMEM;
    enum cmd_kind kind;
    time_t now;

    if (!hk->alertmanager_url)
        return 0;
    snprintf(buf, sizeof(buf), "%s", in->text);
    if (!(tok = strtok_r(buf, " \t\r\n", &save)))
        return 0;
    for (char *p = tok; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (strcmp(tok, "alerts") == 0)
        kind = CMD_ALERTS;
    else if (strcmp(tok, "ack") == 0 || strcmp(tok, "silence") == 0)
        kind = CMD_SILENCE;
    else
        return 0; /* not a command: to reply_url, if any */
    verb = strcmp(tok, "ack") == 0 ? "ack" : "silence";
    if (!(k = calloc(1, sizeof(*k))) || !(k->a = comp_answer_new(c, in)))
        goto fail;
    k->kind = kind;
    if (!in->sender) {
        cmd_say(k->a, "Commands are taken in a direct chat with the bot only.");
        goto done;
    }
    if (!cmd_authorized(hk, in->sender)) {
        xlog_warn("cmd", "%s: %s may not run commands (commanders)", hk->name,
                  in->sender);
        cmd_say(k->a, "You are not allowed to run commands here.");
        goto done;
    }
    if (kind == CMD_ALERTS) {
        rc = cmd_call(c, hk, k, "GET",
                      "/api/v2/alerts?active=true&silenced=false&inhibited="
                      "false",
                      NULL);
        if (rc != 0)
            goto fail;
        xlog_info("cmd", "%s: %s asked for the firing alerts", hk->name,
                  in->sender);
        return 1;
    }
    if (strcmp(verb, "silence") == 0) {
        tok = strtok_r(NULL, " \t\r\n", &save);
        if (!tok || !(secs = cmd_duration(tok))) {
            cmd_say(k->a, "Usage: silence DURATION [name=value ...], e.g. "
                          "silence 2h (in reply to an alert) or silence 30m "
                          "alertname=DiskFull. DURATION: 1m to 90d.");
            goto done;
        }
    }
    if (!(matchers = json_array()))
        goto fail;
    while ((tok = strtok_r(NULL, " \t\r\n", &save))) {
        if (json_array_size(matchers) >= CMD_MATCHERS_MAX ||
            cmd_matcher(matchers, tok) != 0) {
            snprintf(buf, sizeof(buf),
                     "Not a matcher: %.200s (expected name=value, "
                     "name!=value, name=~regex or name!~regex).",
                     tok);
            cmd_say(k->a, buf);
            goto done;
        }
    }
    if (json_array_size(matchers) == 0) {
        labels = cmd_labels_of(c, hk->name, in->in_reply_to);
        if (!labels || cmd_label_matchers(matchers, labels) != 0) {
            cmd_say(k->a, "Which alert? Reply to an alert message, or give "
                          "matchers: silence 2h alertname=DiskFull.");
            goto done;
        }
    }
    now = time(NULL);
    cmd_iso(now, now_s, sizeof(now_s));
    cmd_iso(now + secs, end_s, sizeof(end_s));
    if (secs % 86400 == 0)
        snprintf(k->duration, sizeof(k->duration), "%ldd", secs / 86400);
    else if (secs % 3600 == 0)
        snprintf(k->duration, sizeof(k->duration), "%ldh", secs / 3600);
    else
        snprintf(k->duration, sizeof(k->duration), "%ldm", secs / 60);
    cmd_describe(matchers, k->what, sizeof(k->what));
    snprintf(buf, sizeof(buf), "%s from XMPP (xmta hook %s)", verb, hk->name);
    if (!(si = json_pack("{s:O, s:s, s:s, s:s, s:s}", "matchers", matchers,
                         "startsAt", now_s, "endsAt", end_s, "createdBy",
                         in->sender, "comment", buf)) ||
        !(body_json = json_dumps(si, JSON_COMPACT)))
        goto fail;
    if ((rc = cmd_call(c, hk, k, "POST", "/api/v2/silences", body_json)) != 0)
        goto fail;
    xlog_info("cmd", "%s: %s silences %s for %s", hk->name, in->sender, k->what,
              k->duration);
    json_decref(matchers);
    json_decref(si);
    free(body_json);
    return 1;
fail:
    xlog_warn("cmd", "%s: command from %s failed: %s", hk->name, in->from,
              xmta_strerror(rc));
    if (k && k->a)
        cmd_say(k->a, "Could not run the command now. Please try again later.");
done:
    json_decref(matchers);
    json_decref(si);
    free(body_json);
    if (k)
        comp_answer_free(k->a);
    free(k);
    return 1;
}
