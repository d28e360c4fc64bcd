/* SPDX-License-Identifier: MIT */
/* fmt_github.c -- GitHub and Gitea/Forgejo/Gogs events (the same JSON
 * shapes), chosen by their event header: push, issues, pull_request,
 * release, workflow_run, ping; other events by name. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "http/format.h"

#define COMMITS_MAX 10

static const char *const gitea_headers[] = {"X-Gitea-Event", "X-Forgejo-Event",
                                            "X-Gogs-Event"};

static const char *gitea_event(const struct fmt_request *rq)
{
    for (size_t i = 0; i < sizeof(gitea_headers) / sizeof(*gitea_headers); i++)
        if (fmt_header_get(rq, gitea_headers[i]))
            return fmt_header_get(rq, gitea_headers[i]);
    return NULL;
}

static const char *who(const json_t *root)
{
    const char *s = fmt_jpath(root, "sender", "login", NULL);

    if (!s)
        s = fmt_jpath(root, "pusher", "name", NULL);
    if (!s)
        s = fmt_jpath(root, "pusher", "login", NULL);
    return s ? s : "someone";
}

static void first_line(struct rbuf *b, const char *s)
{
    size_t n = s ? strcspn(s, "\r\n") : 0;

    rbuf_esc_n(b, s ? s : "", n);
}

static const char *branch(const char *ref)
{
    if (ref && strncmp(ref, "refs/heads/", 11) == 0)
        return ref + 11;
    if (ref && strncmp(ref, "refs/tags/", 10) == 0)
        return ref + 10;
    return ref ? ref : "?";
}

static void push(struct rbuf *b, const json_t *root, const char *repo)
{
    const json_t *commits = json_object_get(root, "commits"), *c;
    size_t i, n = json_array_size(commits);
    char count[32];

    snprintf(count, sizeof(count), "%zu commit%s", n, n == 1 ? "" : "s");
    rbuf_headline(b, "📦", "%s pushed %s to %s:%s", who(root), count, repo,
                  branch(fmt_jstr(root, "ref")));
    json_array_foreach(commits, i, c)
    {
        const char *id = fmt_jstr(c, "id");

        if (i == COMMITS_MAX)
            break;
        rbuf_item(b);
        rbuf_puts(b, "• ");
        rbuf_esc_n(b, id ? id : "", id ? strnlen(id, 7) : 0);
        rbuf_puts(b, " ");
        first_line(b, fmt_jstr(c, "message"));
        if (fmt_jpath(c, "author", "name", NULL)) {
            rbuf_puts(b, " (");
            rbuf_esc_line(b, fmt_jpath(c, "author", "name", NULL));
            rbuf_puts(b, ")");
        }
    }
    if (n > COMMITS_MAX) {
        rbuf_newline(b);
        rbuf_printf(b, "… (%zu more commits)", n - COMMITS_MAX);
    }
    rbuf_line(b, fmt_jstr(root, "compare") ? fmt_jstr(root, "compare")
                                           : fmt_jstr(root, "compare_url"));
}

static void numbered(struct rbuf *b,
                     const json_t *root,
                     const char *repo,
                     const char *key,
                     const char *emoji,
                     const char *what)
{
    const json_t *obj = json_object_get(root, key);
    const char *action = fmt_jstr(root, "action");
    char num[32];
    const char *n =
        fmt_jscalar(json_object_get(obj, "number"), num, sizeof(num));

    if (action && strcmp(action, "closed") == 0 &&
        json_is_true(json_object_get(obj, "merged")))
        action = "merged";
    rbuf_headline(b, emoji, "%s %s %s #%s in %s", who(root),
                  action ? action : "", what, n ? n : "?", repo);
    if (fmt_jstr(obj, "title")) {
        rbuf_newline(b);
        rbuf_esc_line(b, fmt_jstr(obj, "title"));
    }
    rbuf_line(b, fmt_jstr(obj, "html_url"));
}

/* Shared by GitHub and Gitea. */
static int forge_render(const char *event, const json_t *root, struct rbuf *b)
{
    const char *repo = fmt_jpath(root, "repository", "full_name", NULL);
    const char *action = fmt_jstr(root, "action");

    if (!repo)
        repo = "?";
    if (strcmp(event, "ping") == 0) {
        rbuf_headline(b, "🔔", "webhook for %s is set up", repo);
        if (fmt_jstr(root, "zen")) {
            rbuf_newline(b);
            rbuf_esc_line(b, fmt_jstr(root, "zen"));
        }
    } else if (strcmp(event, "push") == 0) {
        push(b, root, repo);
    } else if (strcmp(event, "issues") == 0) {
        numbered(b, root, repo, "issue", "🐛", "issue");
    } else if (strcmp(event, "pull_request") == 0) {
        numbered(b, root, repo, "pull_request", "🔀", "pull request");
    } else if (strcmp(event, "release") == 0) {
        const json_t *rel = json_object_get(root, "release");

        rbuf_headline(
            b, "🚀", "%s %s release %s in %s", who(root), action ? action : "",
            fmt_jstr(rel, "tag_name") ? fmt_jstr(rel, "tag_name") : "?", repo);
        if (fmt_jstr(rel, "name")) {
            rbuf_newline(b);
            rbuf_esc_line(b, fmt_jstr(rel, "name"));
        }
        rbuf_line(b, fmt_jstr(rel, "html_url"));
    } else if (strcmp(event, "workflow_run") == 0) {
        const json_t *run = json_object_get(root, "workflow_run");
        const char *concl = fmt_jstr(run, "conclusion");
        const char *emoji = !concl                          ? "⏳"
                            : strcmp(concl, "success") == 0 ? "✅"
                                                            : "❌";

        rbuf_headline(
            b, emoji, "workflow %s %s on %s in %s",
            fmt_jstr(run, "name") ? fmt_jstr(run, "name") : "?",
            concl ? concl
                  : (fmt_jstr(run, "status") ? fmt_jstr(run, "status") : "?"),
            fmt_jstr(run, "head_branch") ? fmt_jstr(run, "head_branch") : "?",
            repo);
        rbuf_line(b, fmt_jstr(run, "html_url"));
    } else {
        rbuf_headline(b, "🔔", "%s %s in %s", event, action ? action : "", repo);
        rbuf_line(b, fmt_jpath(root, "repository", "html_url", NULL));
    }
    return 0;
}

static int github_match(const json_t *root, const struct fmt_request *rq)
{
    return root && fmt_header_get(rq, "X-GitHub-Event") && !gitea_event(rq);
}

static int gitea_match(const json_t *root, const struct fmt_request *rq)
{
    return root && gitea_event(rq);
}

static int github_render(const json_t *root,
                         const struct fmt_request *rq,
                         struct rbuf *b,
                         char *err,
                         size_t errlen)
{
    const char *ev = gitea_event(rq);

    (void)err;
    (void)errlen;
    if (!ev)
        ev = fmt_header_get(rq, "X-GitHub-Event");
    return forge_render(ev ? ev : "event", root, b);
}

const struct fmt_def fmt_github = {
    .name = "github",
    .expect = "a GitHub event (X-GitHub-Event header and JSON)",
    .reply = FMT_REPLY_JSON,
    .json = 1,
    .match = github_match,
    .render = github_render,
};

const struct fmt_def fmt_gitea = {
    .name = "gitea",
    .expect = "a Gitea/Forgejo event (X-Gitea-Event header and JSON)",
    .reply = FMT_REPLY_JSON,
    .json = 1,
    .match = gitea_match,
    .render = github_render,
};
