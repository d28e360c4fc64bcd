/* SPDX-License-Identifier: MIT */
/* commands.c -- Alertmanager actions from XMPP: "ack" and "silence 2h
 * [matcher...]" in reply to an alert create a silence through the v2 API
 * (POST /api/v2/silences) for that alert's labels, "alerts" lists what is
 * firing (GET /api/v2/alerts). In a direct chat, or in a room that shows
 * the sender's real JID, and only from JIDs that match the hook's
 * commanders globs. The labels of recent alerts are
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
#include "xml/xml.h"

#define CMD_LABELS_MAX 512       /* alerts whose labels are remembered */
#define CMD_DEFAULT_S (2 * 3600) /* ack: two hours */
#define CMD_MAX_S (90 * 86400)   /* longest silence taken */
#define CMD_LIST_MAX 20          /* alerts listed by "alerts" */
#define CMD_MATCHERS_MAX 16
#define CMD_RESPONSE_MAX (1024 * 1024)
#define CMD_TIMEOUT_MS 10000
#define NS_COMMANDS "http://jabber.org/protocol/commands"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_DATA "jabber:x:data"

/* The labels of one alert message, by its id (a ring in struct comp). */
struct comp_cmd_labels {
    char id[MSG_ID_LEN + 1];
    char *hook;
    char *labels; /* JSON object text */
};

enum cmd_kind { CMD_SILENCE, CMD_ALERTS, CMD_KIND_COUNT };

struct cmd_call {
    struct comp *c;
    struct comp_answer *a; /* a chat answer, or */
    struct xml_node *iq;   /* the XEP-0050 request to answer */
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

static void adhoc_completed(struct cmd_call *k, const char *text, size_t len);

/* The answer to a command: a chat message, or the ad-hoc result. */
static void cmd_say_n(struct cmd_call *k, const char *text, size_t len)
{
    if (k->a)
        comp_answer_send(k->a, text, len);
    else if (k->iq)
        adhoc_completed(k, text, len);
}

static void cmd_say(struct cmd_call *k, const char *text)
{
    cmd_say_n(k, text, strlen(text));
}

static void cmd_call_free(struct cmd_call *k)
{
    if (!k)
        return;
    comp_answer_free(k->a);
    xml_node_free(k->iq);
    free(k);
}

/* "N firing:" and one line per alert. */
static void cmd_list(struct cmd_call *a, const char *body, size_t len)
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
    cmd_say_n(a, text, out < cap ? out : cap - 1);
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
                     r->timed_out   ? "no answer in time"
                     : r->tls_error ? "TLS error"
                                    : "unreachable");
        xlog_warn("cmd", "Alertmanager %s failed: %s%s%s",
                  k->kind == CMD_SILENCE ? "silence" : "alerts", text,
                  r->error[0] ? ": " : "", r->error);
        {
            char say[1200];

            snprintf(say, sizeof(say), "Alertmanager did not take it (%s).",
                     text);
            cmd_say(k, say);
        }
        goto out;
    }
    if (k->kind == CMD_ALERTS) {
        cmd_list(k, r->body, r->body_len);
    } else {
        json_t *o = json_loadb(r->body, r->body_len, 0, NULL);
        const char *sid = json_string_value(json_object_get(o, "silenceID"));

        xlog_info("cmd", "silence %s created for %s: %s", sid ? sid : "?",
                  k->duration, k->what);
        snprintf(text, sizeof(text), "Silenced for %s (silence %s): %s",
                 k->duration, sid ? sid : "?", k->what);
        cmd_say(k, text);
        json_decref(o);
    }
out:
    cmd_call_free(k);
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
    rq.ca_file = c->cfg->http_ca_file;
    rc = comp_fetch_start(c->fetch, &rq, cmd_on_done, k);
    free(url);
    return rc;
}

/* POSTs a silence of matchers for secs; k's answer follows from the loop.
 * 0 (k is then owned by the transfer) or a negative XMTA_E_*. */
static int cmd_silence(struct comp *c,
                       const struct conf_hook *hk,
                       struct cmd_call *k,
                       long secs,
                       json_t *matchers,
                       const char *sender,
                       const char *verb)
{
    char now_s[32], end_s[32], comment[300], *body = NULL;
    time_t now = time(NULL);
    json_t *si;
    int rc = XMTA_E_NOMEM;

    k->kind = CMD_SILENCE;
    cmd_iso(now, now_s, sizeof(now_s));
    cmd_iso(now + secs, end_s, sizeof(end_s));
    if (secs % 86400 == 0)
        snprintf(k->duration, sizeof(k->duration), "%ldd", secs / 86400);
    else if (secs % 3600 == 0)
        snprintf(k->duration, sizeof(k->duration), "%ldh", secs / 3600);
    else
        snprintf(k->duration, sizeof(k->duration), "%ldm", secs / 60);
    cmd_describe(matchers, k->what, sizeof(k->what));
    snprintf(comment, sizeof(comment), "%s from XMPP (xmta hook %s)", verb,
             hk->name);
    si = json_pack("{s:O, s:s, s:s, s:s, s:s}", "matchers", matchers,
                   "startsAt", now_s, "endsAt", end_s, "createdBy", sender,
                   "comment", comment);
    if (si && (body = json_dumps(si, JSON_COMPACT)))
        rc = cmd_call(c, hk, k, "POST", "/api/v2/silences", body);
    if (rc == 0)
        xlog_info("cmd", "%s: %s silences %s for %s", hk->name, sender, k->what,
                  k->duration);
    json_decref(si);
    free(body);
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
    char buf[1024], *tok, *save = NULL;
    struct cmd_call *k = NULL;
    json_t *matchers = NULL;
    const char *labels, *verb;
    long secs = CMD_DEFAULT_S;
    int rc = XMTA_E_NOMEM;
    enum cmd_kind kind;

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
    k->c = c;
    k->kind = kind;
    if (!in->sender) {
        /* A room that hides real JIDs: who asks cannot be checked. */
        xlog_warn("cmd",
                  "%s: command from %s refused: the room does not show "
                  "real JIDs",
                  hk->name, in->from);
        cmd_say(k, "I cannot see your JID in this room: send the command "
                   "to me in a direct chat.");
        goto done;
    }
    if (!cmd_authorized(hk, in->sender)) {
        xlog_warn("cmd", "%s: %s may not run commands (commanders)", hk->name,
                  in->sender);
        cmd_say(k, "You are not allowed to run commands here.");
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
            cmd_say(k, "Usage: silence DURATION [name=value ...], e.g. "
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
            cmd_say(k, buf);
            goto done;
        }
    }
    if (json_array_size(matchers) == 0) {
        labels = cmd_labels_of(c, hk->name, in->in_reply_to);
        if (!labels || cmd_label_matchers(matchers, labels) != 0) {
            cmd_say(k, "Which alert? Reply to an alert message, or give "
                       "matchers: silence 2h alertname=DiskFull.");
            goto done;
        }
    }
    if ((rc = cmd_silence(c, hk, k, secs, matchers, in->sender, verb)) != 0)
        goto fail;
    json_decref(matchers);
    return 1;
fail:
    xlog_warn("cmd", "%s: command from %s failed: %s", hk->name, in->from,
              xmta_strerror(rc));
    if (k && k->a)
        cmd_say(k, "Could not run the command now. Please try again later.");
done:
    json_decref(matchers);
    cmd_call_free(k);
    return 1;
}

/* ---- XEP-0050 ad-hoc commands ------------------------------------------- */

/* The Alertmanager hook of the bot a JID names, or NULL. */
static const struct conf_hook *adhoc_hook(const struct comp *c, const char *to)
{
    const char *at = to ? strchr(to, '@') : NULL;

    for (size_t i = 0; at && i < c->cfg->n_hooks; i++) {
        const struct conf_hook *hk = &c->cfg->hooks[i];
        const char *name = hk->from ? hk->from : hk->name;

        if (hk->alertmanager_url && strlen(name) == (size_t)(at - to) &&
            strncasecmp(name, to, (size_t)(at - to)) == 0)
            return hk;
    }
    return NULL;
}

static struct xml_node *adhoc_reply(const struct xml_node *iq, const char *type)
{
    struct xml_node *r = xml_node_new("iq", NULL);

    if (r && (xml_node_set_attr(r, "type", type) != 0 ||
              xml_node_set_attr(r, "id", xml_node_attr(iq, "id")) != 0 ||
              xml_node_set_attr(r, "from", xml_node_attr(iq, "to")) != 0 ||
              xml_node_set_attr(r, "to", xml_node_attr(iq, "from")) != 0)) {
        xml_node_free(r);
        return NULL;
    }
    return r;
}

static void adhoc_send(struct comp *c, struct xml_node *r)
{
    if (!r || comp_send_node(c, r) != 0)
        xlog_warn("cmd", "cannot answer an ad-hoc command");
    xml_node_free(r);
}

static void adhoc_error(struct comp *c,
                        const struct xml_node *iq,
                        const char *etype,
                        const char *cond)
{
    struct xml_node *r = adhoc_reply(iq, "error"), *e;

    if (r && (!(e = xml_node_add_child(r, "error", NULL)) ||
              xml_node_set_attr(e, "type", etype) != 0 ||
              !xml_node_add_child(e, cond, XMTA_NS_STANZAS_ERR))) {
        xml_node_free(r);
        r = NULL;
    }
    adhoc_send(c, r);
}

/* <command node=N sessionid=S status=ST/> in a result; NULL on failure. */
static struct xml_node *adhoc_command(struct xml_node *r,
                                      const struct xml_node *req,
                                      const char *status)
{
    const char *node = xml_node_attr(req, "node");
    const char *sid = xml_node_attr(req, "sessionid");
    struct xml_node *cmd = xml_node_add_child(r, "command", NS_COMMANDS);

    if (!cmd || xml_node_set_attr(cmd, "node", node ? node : "") != 0 ||
        xml_node_set_attr(cmd, "sessionid",
                          sid ? sid : xml_node_attr(r, "id")) != 0 ||
        xml_node_set_attr(cmd, "status", status) != 0)
        return NULL;
    return cmd;
}

/* The result of a finished command with text as its note. */
static void adhoc_completed(struct cmd_call *k, const char *text, size_t len)
{
    const struct xml_node *req = xml_node_child(k->iq, "command", NS_COMMANDS);
    struct xml_node *r = adhoc_reply(k->iq, "result"), *cmd, *note;

    if (r && (!(cmd = adhoc_command(r, req, "completed")) ||
              !(note = xml_node_add_child(cmd, "note", NULL)) ||
              xml_node_set_attr(note, "type", "info") != 0 ||
              xml_node_add_text(note, text, len) != 0)) {
        xml_node_free(r);
        r = NULL;
    }
    adhoc_send(k->c, r);
}

static int adhoc_items(struct comp *c, const struct xml_node *iq)
{
    static const char *const nodes[][2] = {{"alerts", "Firing alerts"},
                                           {"silence", "Silence alerts"}};
    struct xml_node *r = adhoc_reply(iq, "result"), *q, *it;
    const char *to = xml_node_attr(iq, "to");

    if (!r || !(q = xml_node_add_child(r, "query", NS_DISCO_ITEMS)) ||
        xml_node_set_attr(q, "node", NS_COMMANDS) != 0)
        goto fail;
    for (size_t i = 0; i < 2; i++)
        if (!(it = xml_node_add_child(q, "item", NULL)) ||
            xml_node_set_attr(it, "jid", to) != 0 ||
            xml_node_set_attr(it, "node", nodes[i][0]) != 0 ||
            xml_node_set_attr(it, "name", nodes[i][1]) != 0)
            goto fail;
    adhoc_send(c, r);
    return 1;
fail:
    xml_node_free(r);
    return 1;
}

static int adhoc_field(struct xml_node *x,
                       const char *var,
                       const char *type,
                       const char *label,
                       const char *const *values,
                       size_t n)
{
    struct xml_node *f = xml_node_add_child(x, "field", NULL), *v;

    if (!f || xml_node_set_attr(f, "var", var) != 0 ||
        xml_node_set_attr(f, "type", type) != 0 ||
        xml_node_set_attr(f, "label", label) != 0)
        return XMTA_E_NOMEM;
    for (size_t i = 0; i < n; i++)
        if (!(v = xml_node_add_child(f, "value", NULL)) ||
            xml_node_add_text(v, values[i], (size_t)-1) != 0)
            return XMTA_E_NOMEM;
    return 0;
}

/* The silence form: duration, and matchers prefilled with the labels of
 * the newest alert of the hook sent to this user. */
static void adhoc_silence_form(struct comp *c,
                               const struct conf_hook *hk,
                               const struct xml_node *iq,
                               const char *bare)
{
    const struct xml_node *req = xml_node_child(iq, "command", NS_COMMANDS);
    struct xml_node *r = adhoc_reply(iq, "result"), *cmd, *acts, *x, *t;
    const char *id = comp_replies_last_alert(c, hk->name, bare);
    const char *labels = cmd_labels_of(c, hk->name, id);
    const char *dur[] = {"2h"}, *vals[CMD_MATCHERS_MAX];
    char lines[CMD_MATCHERS_MAX][600];
    size_t n = 0;
    json_t *o = labels ? json_loads(labels, 0, NULL) : NULL, *v;
    const char *key;

    json_object_foreach(o, key, v)
    {
        if (n < CMD_MATCHERS_MAX && json_is_string(v)) {
            snprintf(lines[n], sizeof(lines[n]), "%s=%s", key,
                     json_string_value(v));
            vals[n] = lines[n];
            n++;
        }
    }
    if (!r || !(cmd = adhoc_command(r, req, "executing")) ||
        !(acts = xml_node_add_child(cmd, "actions", NULL)) ||
        xml_node_set_attr(acts, "execute", "complete") != 0 ||
        !xml_node_add_child(acts, "complete", NULL) ||
        !(x = xml_node_add_child(cmd, "x", NS_DATA)) ||
        xml_node_set_attr(x, "type", "form") != 0 ||
        !(t = xml_node_add_child(x, "title", NULL)) ||
        xml_node_add_text(t, "Silence alerts", (size_t)-1) != 0 ||
        adhoc_field(x, "duration", "text-single", "Duration (30m, 2h, 1d)", dur,
                    1) != 0 ||
        adhoc_field(x, "matchers", "text-multi",
                    "Matchers, one per line (name=value, name=~regex)", vals,
                    n) != 0) {
        xml_node_free(r);
        r = NULL;
    }
    json_decref(o);
    adhoc_send(c, r);
}

/* The values of field var of a submitted form, one string each. */
static size_t
adhoc_values(const struct xml_node *x, const char *var, char **out, size_t max)
{
    size_t n = 0;

    for (const struct xml_node *f = xml_node_first_child(x); f;
         f = xml_node_next(f)) {
        const char *fv = xml_node_attr(f, "var");

        if (strcmp(xml_node_name(f), "field") != 0 || !fv ||
            strcmp(fv, var) != 0)
            continue;
        for (const struct xml_node *v = xml_node_first_child(f); v && n < max;
             v = xml_node_next(v))
            if (strcmp(xml_node_name(v), "value") == 0 &&
                (out[n] = xml_node_text(v)))
                n++;
    }
    return n;
}

static void adhoc_silence_submit(struct comp *c,
                                 const struct conf_hook *hk,
                                 const struct xml_node *iq,
                                 const struct xml_node *x,
                                 const char *bare)
{
    char *dur[1] = {NULL}, *m[CMD_MATCHERS_MAX];
    size_t nm = adhoc_values(x, "matchers", m, CMD_MATCHERS_MAX);
    size_t nd = adhoc_values(x, "duration", dur, 1);
    json_t *matchers = json_array();
    struct cmd_call *k = calloc(1, sizeof(*k));
    long secs = nd ? cmd_duration(dur[0]) : CMD_DEFAULT_S;
    const char *bad = NULL;

    if (!k || !matchers || !(k->iq = xml_node_copy(iq))) {
        adhoc_error(c, iq, "wait", "resource-constraint");
        cmd_call_free(k);
        k = NULL;
        goto out;
    }
    k->c = c;
    for (size_t i = 0; i < nm && !bad; i++)
        if (m[i][0] && cmd_matcher(matchers, m[i]) != 0)
            bad = "Not a matcher (expected name=value, name!=value, "
                  "name=~regex or name!~regex).";
    if (!secs)
        bad = "Bad duration: expected 1m to 90d, such as 30m, 2h or 1d.";
    else if (!bad && json_array_size(matchers) == 0)
        bad = "Give at least one matcher.";
    if (bad) {
        cmd_say(k, bad);
        cmd_call_free(k);
    } else if (cmd_silence(c, hk, k, secs, matchers, bare, "silence") != 0) {
        cmd_say(k, "Could not run the command now. Please try again later.");
        cmd_call_free(k);
    }
out:
    for (size_t i = 0; i < nm; i++)
        free(m[i]);
    free(dur[0]);
    json_decref(matchers);
}

int comp_adhoc_on_iq(struct comp *c, const struct xml_node *iq)
{
    const char *type = xml_node_attr(iq, "type");
    const struct xml_node *q = xml_node_first_child(iq);
    const struct conf_hook *hk = adhoc_hook(c, xml_node_attr(iq, "to"));
    const char *qns = q ? xml_node_ns(q) : NULL, *node, *action;
    const struct xml_node *x;
    struct jid *j = NULL;
    char bare[COMP_JID_MAX];
    struct cmd_call *k;

    if (!hk || !q || !qns || !type)
        return 0;
    if (strcmp(type, "get") == 0 && strcmp(xml_node_name(q), "query") == 0 &&
        strcmp(qns, NS_DISCO_ITEMS) == 0 && xml_node_attr(q, "node") &&
        strcmp(xml_node_attr(q, "node"), NS_COMMANDS) == 0)
        return adhoc_items(c, iq);
    if (strcmp(type, "set") != 0 || strcmp(xml_node_name(q), "command") != 0 ||
        strcmp(qns, NS_COMMANDS) != 0)
        return 0;
    node = xml_node_attr(q, "node");
    action = xml_node_attr(q, "action");
    if (!(j = malloc(sizeof(*j))) ||
        jid_parse(xml_node_attr(iq, "from"), j, NULL) != 0 || !j->local[0] ||
        jid_bare(j, bare, sizeof(bare)) != 0) {
        free(j);
        adhoc_error(c, iq, "modify", "bad-request");
        return 1;
    }
    free(j);
    if (!cmd_authorized(hk, bare)) {
        xlog_warn("cmd", "%s: %s may not run commands (commanders)", hk->name,
                  bare);
        adhoc_error(c, iq, "auth", "forbidden");
        return 1;
    }
    if (!node ||
        (strcmp(node, "alerts") != 0 && strcmp(node, "silence") != 0)) {
        adhoc_error(c, iq, "cancel", "item-not-found");
        return 1;
    }
    if (action && strcmp(action, "cancel") == 0) {
        struct xml_node *r = adhoc_reply(iq, "result");

        if (r && !adhoc_command(r, q, "canceled")) {
            xml_node_free(r);
            r = NULL;
        }
        adhoc_send(c, r);
        return 1;
    }
    if (strcmp(node, "silence") == 0) {
        x = xml_node_child(q, "x", NS_DATA);
        if (x && xml_node_attr(x, "type") &&
            strcmp(xml_node_attr(x, "type"), "submit") == 0)
            adhoc_silence_submit(c, hk, iq, x, bare);
        else
            adhoc_silence_form(c, hk, iq, bare);
        return 1;
    }
    if (!(k = calloc(1, sizeof(*k))) || !(k->iq = xml_node_copy(iq)) ||
        (k->c = c, k->kind = CMD_ALERTS,
         cmd_call(c, hk, k, "GET",
                  "/api/v2/alerts?active=true&silenced=false&inhibited=false",
                  NULL) != 0)) {
        adhoc_error(c, iq, "wait", "resource-constraint");
        cmd_call_free(k);
    }
    return 1;
}
