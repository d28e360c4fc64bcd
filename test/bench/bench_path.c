/* SPDX-License-Identifier: MIT */
/* bench_path.c -- the decode-build-serialize path of one webhook, without
 * sockets: format_decode() (the format detected, as for a hook without
 * format =), body_msg_new(), what the alert lifecycle and "ack" learn from
 * the payload (http_am_alert(), http_am_labels(): the hook has an
 * alertmanager_url), msg_stanza() and xml_node_serialize(), in
 * path_once(). Under callgrind (--toggle-collect=path_once) the collected
 * instructions divided by N are the instructions per webhook.
 *   bench_path FIXTURES_DIR list        the case names
 *   bench_path FIXTURES_DIR CASE N      runs CASE N times, prints ns/op */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf/conf.h"
#include "http/body.h"
#include "http/format.h"
#include "http/labels.h"
#include "xml/msg.h"
#include "xml/xml.h"

struct bench_case {
    const char *name;
    const char *file; /* in FIXTURES_DIR, or NULL: text */
    const char *ctype;
    const char *text;
};

static const struct bench_case cases[] = {
    {"text", NULL, "text/plain", "disk /var on db1 is 95% full"},
    {"generic", "generic.json", "application/json", NULL},
    {"alertmanager", "alertmanager_firing.json", "application/json", NULL},
    {"grafana", "grafana_unified.json", "application/json", NULL},
    {"github", "github_push.json", "application/json", NULL},
    {"gitlab", "gitlab_pipeline.json", "application/json", NULL},
    {"slack", "slack.json", "application/json", NULL},
    {"discord", "discord.json", "application/json", NULL},
    {"teams", "teams_adaptive.json", "application/json", NULL},
    {"kuma", "kuma_down.json", "application/json", NULL},
};
#define N_CASES (sizeof(cases) / sizeof(cases[0]))

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
        fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) &&
        fread(buf, 1, (size_t)n, f) == (size_t)n) {
        buf[n] = '\0';
        *len = (size_t)n;
    } else {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

/* One webhook: decode, build the message, one stanza per recipient,
 * serialized as the daemon does (msg_stanza_write into a buffer kept from
 * one to the next). Returns the bytes serialized (0 on failure). */
__attribute__((noinline)) static size_t path_once(const struct conf_hook *hook,
                                                  const struct fmt_request *rq,
                                                  struct xml_buf *b)
{
    struct body_fields f = {0};
    const struct fmt_def *used = NULL;
    struct msg *m = NULL;
    json_t *tree = NULL;
    char err[BODY_ERR_MAX], from[256];
    size_t total = 0;

    if (format_decode(NULL, NULL, rq, hook->max_message, &f, &used, &tree, err,
                      sizeof(err)) != 0 ||
        body_msg_new(hook, &f, &m, err, sizeof(err)) != 0) {
        body_fields_clear(&f);
        json_decref(tree);
        return 0;
    }
    /* As handle_hook() does after decoding. */
    if (http_am_alert(tree, m) != 0) {
        json_decref(tree);
        msg_free(m);
        return 0;
    }
    if (hook->alertmanager_url)
        m->labels = http_am_labels(tree);
    json_decref(tree);
    memcpy(m->id, "6f1c3a52-8d0e-4f57-a4c9-1b2e3d4f5a6b", MSG_ID_LEN + 1);
    snprintf(from, sizeof(from), "%s@notify.localhost", m->from);
    for (size_t i = 0; i < m->n_to; i++) {
        b->len = 0;
        b->failed = 0;
        if (msg_stanza_write(m, from, m->to[i], 0, b) == 0)
            total += b->len;
    }
    msg_free(m);
    return total;
}

int main(int argc, char **argv)
{
    static char *to[] = {"alice@localhost"};
    struct conf_hook hook = {.name = "bench",
                             .from = "bench",
                             .nick = "bench",
                             .to = to,
                             .n_to = 1,
                             .type = MSG_CHAT,
                             .alertmanager_url = "http://127.0.0.1:9093",
                             .max_message = FMT_MAX_MESSAGE_DEFAULT};
    const struct bench_case *c = NULL;
    struct fmt_request rq = {0};
    struct xml_buf b = {0};
    struct timespec t0, t1;
    char path[4096], *data = NULL, *end;
    size_t len = 0, bytes = 0;
    long n;

    if (argc == 3 && strcmp(argv[2], "list") == 0) {
        for (size_t i = 0; i < N_CASES; i++)
            printf("%s\n", cases[i].name);
        return 0;
    }
    if (argc != 4) {
        fprintf(stderr, "usage: bench_path FIXTURES_DIR list|CASE N\n");
        return 2;
    }
    for (size_t i = 0; i < N_CASES; i++)
        if (strcmp(cases[i].name, argv[2]) == 0)
            c = &cases[i];
    n = strtol(argv[3], &end, 10);
    if (!c || *end || n < 1 || n > 100000000) {
        fprintf(stderr, "bench_path: unknown case or bad N\n");
        return 2;
    }
    if (c->file) {
        snprintf(path, sizeof(path), "%s/%s", argv[1], c->file);
        if (!(data = read_all(path, &len))) {
            fprintf(stderr, "bench_path: cannot read %s\n", path);
            return 1;
        }
    } else {
        data = strdup(c->text);
        len = strlen(c->text);
    }
    rq.content_type = c->ctype;
    rq.data = data;
    rq.len = len;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++)
        bytes += path_once(&hook, &rq, &b);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    xml_buf_free(&b);
    free(data);
    if (bytes == 0) {
        fprintf(stderr, "bench_path: %s did not decode\n", c->name);
        return 1;
    }
    printf("case=%s n=%ld ns_per_op=%.0f stanza_bytes=%zu\n", c->name, n,
           ((double)(t1.tv_sec - t0.tv_sec) * 1e9 +
            (double)(t1.tv_nsec - t0.tv_nsec)) /
               (double)n,
           bytes / (size_t)n);
    return 0;
}
