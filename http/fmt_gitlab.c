/* SPDX-License-Identifier: MIT */
/* fmt_gitlab.c -- GitLab events by X-Gitlab-Event: push and tag push,
 * issues, merge requests, pipelines, releases; others by name. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "http/format.h"

#define COMMITS_MAX 10

static const char *ref_name(const char *ref)
{
    if (ref && strncmp(ref, "refs/heads/", 11) == 0)
        return ref + 11;
    if (ref && strncmp(ref, "refs/tags/", 10) == 0)
        return ref + 10;
    return ref;
}

static const char *user(const json_t *root)
{
    const char *u = fmt_jstr(root, "user_name");

    if (!u)
        u = fmt_jpath(root, "user", "name", NULL);
    if (!u)
        u = fmt_jpath(root, "user", "username", NULL);
    return u ? u : "someone";
}

static void push(struct rbuf *b, const json_t *root, const char *proj, int tag)
{
    const json_t *commits = json_object_get(root, "commits"), *c;
    json_t *total = json_object_get(root, "total_commits_count");
    size_t i, n = json_is_integer(total) ? (size_t)json_integer_value(total)
                                         : json_array_size(commits);
    char count[48];

    if (tag) {
        rbuf_headline(b, "🏷️", "%s pushed tag %s to %s", user(root),
                      ref_name(fmt_jstr(root, "ref")), proj);
        return;
    }
    snprintf(count, sizeof(count), "%zu commit%s", n, n == 1 ? "" : "s");
    rbuf_headline(b, "📦", "%s pushed %s to %s:%s", user(root), count, proj,
                  ref_name(fmt_jstr(root, "ref")));
    json_array_foreach(commits, i, c)
    {
        const char *id = fmt_jstr(c, "id"), *msg = fmt_jstr(c, "message");

        if (i == COMMITS_MAX)
            break;
        rbuf_item(b);
        rbuf_puts(b, "• ");
        rbuf_esc_n(b, id ? id : "", id ? strnlen(id, 8) : 0);
        rbuf_puts(b, " ");
        rbuf_esc_n(b, msg ? msg : "", msg ? strcspn(msg, "\r\n") : 0);
        if (fmt_jpath(c, "author", "name", NULL)) {
            rbuf_puts(b, " (");
            rbuf_esc_line(b, fmt_jpath(c, "author", "name", NULL));
            rbuf_puts(b, ")");
        }
    }
    if (n > json_array_size(commits) ||
        json_array_size(commits) > COMMITS_MAX) {
        size_t shown = json_array_size(commits) < COMMITS_MAX
                           ? json_array_size(commits)
                           : COMMITS_MAX;

        rbuf_newline(b);
        rbuf_printf(b, "… (%zu more commits)", n > shown ? n - shown : 0);
    }
}

static int gitlab_match(const json_t *root, const struct fmt_request *rq)
{
    return root && fmt_header_get(rq, "X-Gitlab-Event");
}

static int gitlab_render(const json_t *root,
                         const struct fmt_request *rq,
                         struct rbuf *b,
                         char *err,
                         size_t errlen)
{
    const char *ev = fmt_header_get(rq, "X-Gitlab-Event");
    const json_t *oa = json_object_get(root, "object_attributes");
    const char *proj = fmt_jpath(root, "project", "path_with_namespace", NULL);
    const char *action = fmt_jstr(oa, "action");
    char num[32];
    const char *iid = fmt_jscalar(json_object_get(oa, "iid"), num, sizeof(num));

    (void)err;
    (void)errlen;
    if (!ev)
        ev = "event";
    if (!proj)
        proj = "?";
    if (strcmp(ev, "Push Hook") == 0 || strcmp(ev, "Tag Push Hook") == 0) {
        push(b, root, proj, strcmp(ev, "Tag Push Hook") == 0);
        rbuf_line(b, fmt_jpath(root, "project", "web_url", NULL));
    } else if (strcmp(ev, "Issue Hook") == 0 ||
               strcmp(ev, "Confidential Issue Hook") == 0) {
        rbuf_headline(b, "🐛", "%s %s issue #%s in %s", user(root),
                      action ? action : "updated", iid, proj);
        rbuf_line(b, fmt_jstr(oa, "title"));
        rbuf_line(b, fmt_jstr(oa, "url"));
    } else if (strcmp(ev, "Merge Request Hook") == 0) {
        rbuf_headline(b, "🔀", "%s %s merge request !%s in %s", user(root),
                      action ? action : "updated", iid, proj);
        rbuf_line(b, fmt_jstr(oa, "title"));
        if (fmt_jstr(oa, "source_branch") && fmt_jstr(oa, "target_branch")) {
            rbuf_newline(b);
            rbuf_esc_line(b, fmt_jstr(oa, "source_branch"));
            rbuf_puts(b, " → ");
            rbuf_esc_line(b, fmt_jstr(oa, "target_branch"));
        }
        rbuf_line(b, fmt_jstr(oa, "url"));
    } else if (strcmp(ev, "Pipeline Hook") == 0) {
        const char *st = fmt_jstr(oa, "status");
        const char *emoji = !st                           ? "⏳"
                            : strcmp(st, "success") == 0  ? "✅"
                            : strcmp(st, "failed") == 0   ? "❌"
                            : strcmp(st, "canceled") == 0 ? "⏹️"
                                                          : "⏳";
        const char *id =
            fmt_jscalar(json_object_get(oa, "id"), num, sizeof(num));

        rbuf_headline(b, emoji, "pipeline #%s %s on %s in %s", id, st,
                      fmt_jstr(oa, "ref"), proj);
        rbuf_line(b, fmt_jstr(oa, "url"));
    } else if (strcmp(ev, "Release Hook") == 0) {
        rbuf_headline(b, "🚀", "release %s %s in %s", fmt_jstr(root, "tag"),
                      fmt_jstr(root, "action") ? fmt_jstr(root, "action")
                                               : "updated",
                      proj);
        rbuf_line(b, fmt_jstr(root, "name"));
        rbuf_line(b, fmt_jstr(root, "url"));
    } else {
        rbuf_headline(b, "🔔", "%s in %s", ev, proj);
        rbuf_line(b, fmt_jstr(oa, "url"));
    }
    return 0;
}

const struct fmt_def fmt_gitlab = {
    .name = "gitlab",
    .expect = "a GitLab event (X-Gitlab-Event header and JSON)",
    .reply = FMT_REPLY_JSON,
    .json = 1,
    .match = gitlab_match,
    .render = gitlab_render,
};
