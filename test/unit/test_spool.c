/* SPDX-License-Identifier: MIT */
/* test_spool.c -- the durable spool: order, rollback, crash consistency
 * (the WAL cut at every byte of its last commit), an unreadable file, the
 * asynchronous commit and its syncer (its fdatasync held or failed by the
 * test), and the outbox on top of it: recovery, expiry, limits, commits
 * while the disk syncs. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <sqlite3.h>

#include "component/component.h"
#include "component/spool.h"
#include "conf/conf.h"
#include "xml/err.h"
#include "xml/log.h"
#include "xml/msg.h"

static char g_dir[64];

/* ---- the syncer's fdatasync() (linked with --wrap=fdatasync) ------------ */

/* While g_hold is set, each call says so with a byte on g_entered and
 * waits for one on g_gate; g_fail_next makes the next call fail (EIO). */
static int g_hold, g_fail_next;
static int g_entered[2] = {-1, -1}, g_gate[2] = {-1, -1};

int __real_fdatasync(int fd);
int __wrap_fdatasync(int fd);

int __wrap_fdatasync(int fd)
{
    if (__atomic_load_n(&g_hold, __ATOMIC_ACQUIRE)) {
        char b;

        /* a closed pipe (a failed test's teardown) lets it go */
        if (write(g_entered[1], "e", 1) == 1 && read(g_gate[0], &b, 1) != 1)
            b = 0;
    }
    if (__atomic_exchange_n(&g_fail_next, 0, __ATOMIC_ACQ_REL)) {
        errno = EIO;
        return -1;
    }
    return __real_fdatasync(fd);
}

static void hold_start(void)
{
    assert_int_equal(pipe(g_entered), 0);
    assert_int_equal(pipe(g_gate), 0);
    __atomic_store_n(&g_hold, 1, __ATOMIC_RELEASE);
}

/* Waits (10 s at most) until the syncer is in a held fdatasync. */
static void hold_entered(void)
{
    struct pollfd pfd = {.fd = g_entered[0], .events = POLLIN};
    char b;

    assert_int_equal(poll(&pfd, 1, 10000), 1);
    assert_int_equal(read(g_entered[0], &b, 1), 1);
}

/* Whether the syncer entered a held fdatasync within ms. */
static int hold_entered_within(int ms)
{
    struct pollfd pfd = {.fd = g_entered[0], .events = POLLIN};
    char b;

    if (poll(&pfd, 1, ms) != 1)
        return 0;
    return read(g_entered[0], &b, 1) == 1;
}

static void hold_release(int fail)
{
    __atomic_store_n(&g_fail_next, fail, __ATOMIC_RELEASE);
    assert_int_equal(write(g_gate[1], "g", 1), 1);
}

/* Stops holding: the fdatasync held now (if any) is let go. */
static void hold_stop(int held)
{
    __atomic_store_n(&g_hold, 0, __ATOMIC_RELEASE);
    if (held)
        hold_release(0);
}

static void hold_close(void)
{
    for (int i = 0; i < 2; i++) {
        if (g_entered[i] >= 0)
            close(g_entered[i]);
        if (g_gate[i] >= 0)
            close(g_gate[i]);
        g_entered[i] = g_gate[i] = -1;
    }
}

static int setup(void **state)
{
    snprintf(g_dir, sizeof(g_dir), "/tmp/xmta-spool-test.XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    return 0;
}

static int rm_rf(const char *dir)
{
    char cmd[200];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd);
}

static int teardown(void **state)
{
    __atomic_store_n(&g_hold, 0, __ATOMIC_RELEASE);
    hold_close(); /* after a failure: a held fdatasync goes on */
    rm_rf(g_dir);
    return 0;
}

static void rec_fill(struct spool_rec *r, int i, char *id, char *body)
{
    memset(r, 0, sizeof(*r));
    sprintf(id, "id-%d", i);
    sprintf(body, "body %d", i);
    r->created = (int64_t)time(NULL);
    r->id = id;
    r->hook = "alerts";
    r->from = "bot";
    r->nick = i % 2 ? "Bot" : NULL;
    r->to = i % 3 ? "juliet@localhost" : "ops@conference.localhost";
    r->room = i % 3 == 0;
    r->type = MSG_HEADLINE;
    r->subject = i % 2 ? NULL : "title";
    r->body = body;
}

/* Opens a transaction with rows first..last in it. */
static void begin_rows(struct spool *s, int first, int last)
{
    assert_int_equal(spool_begin(s), 0);
    for (int i = first; i <= last; i++) {
        struct spool_rec r;
        char id[32], body[32];

        rec_fill(&r, i, id, body);
        assert_int_equal(spool_add(s, &r), 0);
        assert_true(r.seq > 0);
    }
}

/* Adds rows first..last in one transaction. */
static void add_rows(struct spool *s, int first, int last)
{
    begin_rows(s, first, last);
    assert_int_equal(spool_commit(s), 0);
}

/* The same with spool_commit_async: its ticket. */
static uint64_t commit_rows(struct spool *s, int first, int last)
{
    uint64_t ticket = 0;

    begin_rows(s, first, last);
    assert_int_equal(spool_commit_async(s, &ticket), 0);
    return ticket;
}

struct seen {
    int n;
    int ids[256];
    int64_t last_seq;
    int bad;
};

static int on_row(void *arg, const struct spool_rec *r)
{
    struct seen *sn = arg;
    char id[32], body[32];
    struct spool_rec want;
    int i;

    if (sscanf(r->id, "id-%d", &i) != 1 || sn->n >= 256) {
        sn->bad++;
        return 0;
    }
    rec_fill(&want, i, id, body);
    if (r->seq <= sn->last_seq || strcmp(r->body, want.body) != 0 ||
        strcmp(r->to, want.to) != 0 || r->room != want.room ||
        r->type != want.type || strcmp(r->hook, "alerts") != 0 ||
        (want.nick ? !r->nick || strcmp(r->nick, want.nick)
                   : r->nick != NULL) ||
        (want.subject ? !r->subject || strcmp(r->subject, want.subject)
                      : r->subject != NULL))
        sn->bad++;
    sn->last_seq = r->seq;
    sn->ids[sn->n++] = i;
    return 0;
}

static struct seen load_all(struct spool *s)
{
    struct seen sn = {0};

    assert_int_equal(spool_load(s, on_row, &sn), 0);
    return sn;
}

/* Rows come back in the order they were added; a rollback leaves none;
 * deleted rows are gone after a reopen; a new row sorts after the rest. */
static void test_order_and_delete(void **state)
{
    struct spool *s;
    struct seen sn;
    char err[256];
    int64_t del[5];

    assert_int_equal(spool_open(g_dir, &s, err, sizeof(err)), 0);
    add_rows(s, 1, 5);
    add_rows(s, 6, 10);
    /* rolled back: never seen */
    assert_int_equal(spool_begin(s), 0);
    {
        struct spool_rec r;
        char id[32], body[32];

        rec_fill(&r, 99, id, body);
        assert_int_equal(spool_add(s, &r), 0);
    }
    spool_rollback(s);
    assert_int_equal(spool_begin(s), 0);
    assert_int_equal(spool_begin(s), XMTA_E_STATE);
    spool_rollback(s);
    sn = load_all(s);
    assert_int_equal(sn.n, 10);
    assert_int_equal(sn.bad, 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(sn.ids[i], i + 1);
    spool_close(s);

    assert_int_equal(spool_open(g_dir, &s, err, sizeof(err)), 0);
    assert_int_equal(spool_count(s), 10);
    spool_close(s);
    /* seq values are the row ids 1..10 in a new database (99 was rolled
     * back): delete rows 1, 5 to 7 (one range) and 10, the last; the new
     * row may take seq 10 again (no AUTOINCREMENT) and still sorts after
     * the rest */
    del[0] = 1;
    del[1] = 5;
    del[2] = 6;
    del[3] = 7;
    del[4] = 10;
    assert_int_equal(spool_open(g_dir, &s, err, sizeof(err)), 0);
    assert_int_equal(spool_delete(s, del, 5), 0);
    add_rows(s, 11, 11);
    spool_close(s);
    assert_int_equal(spool_open(g_dir, &s, err, sizeof(err)), 0);
    sn = load_all(s);
    assert_int_equal(sn.n, 6);
    assert_int_equal(sn.bad, 0);
    {
        static const int want[] = {2, 3, 4, 8, 9, 11};

        for (int i = 0; i < 6; i++)
            assert_int_equal(sn.ids[i], want[i]);
    }
    /* out of order: 9 alone, then 2 to 3 */
    del[0] = 9;
    del[1] = 2;
    del[2] = 3;
    assert_int_equal(spool_delete(s, del, 3), 0);
    sn = load_all(s);
    assert_int_equal(sn.n, 3);
    assert_int_equal(sn.ids[0], 4);
    assert_int_equal(sn.ids[1], 8);
    assert_int_equal(sn.ids[2], 11);
    spool_close(s);
}

static int copy_file(const char *from, const char *to, off_t len)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    char buf[8192];
    off_t left = len;
    int rc = -1;

    if (!in || !out)
        goto out;
    while (left != 0) {
        size_t want =
            left < 0 || left > (off_t)sizeof(buf) ? sizeof(buf) : (size_t)left;
        size_t n = fread(buf, 1, want, in);

        if (n == 0)
            break;
        if (fwrite(buf, 1, n, out) != n)
            goto out;
        if (left > 0)
            left -= (off_t)n;
    }
    rc = 0;
out:
    if (in)
        fclose(in);
    if (out && fclose(out) != 0)
        rc = -1;
    return rc;
}

static off_t file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* A crash while the last commit was being written: the WAL is cut at
 * every byte offset inside that commit's frames (and its last byte is
 * flipped). Reopening is never fatal, and every earlier row is intact;
 * the last row is there only when its commit is complete. */
static void test_crash_consistency(void **state)
{
    char err[256], live_db[128], live_wal[128], cdir[128], cdb[160], cwal[160],
        cshm[160];
    struct spool *s, *r;
    off_t before, after;
    unsigned opened = 0, with_last = 0;

    assert_int_equal(spool_open(g_dir, &s, err, sizeof(err)), 0);
    add_rows(s, 1, 3);
    add_rows(s, 4, 6);
    snprintf(live_db, sizeof(live_db), "%s/spool.db", g_dir);
    snprintf(live_wal, sizeof(live_wal), "%s/spool.db-wal", g_dir);
    before = file_size(live_wal);
    assert_true(before > 0);
    add_rows(s, 7, 7); /* the last record */
    after = file_size(live_wal);
    assert_true(after > before);
    snprintf(cdir, sizeof(cdir), "%s/crash", g_dir);
    snprintf(cdb, sizeof(cdb), "%s/spool.db", cdir);
    snprintf(cwal, sizeof(cwal), "%s/spool.db-wal", cdir);
    snprintf(cshm, sizeof(cshm), "%s/spool.db-shm", cdir);
    assert_int_equal(mkdir(cdir, 0700), 0);
    for (off_t cut = before; cut <= after + 1; cut++) {
        struct seen sn;
        int flip = cut == after + 1;

        assert_int_equal(copy_file(live_db, cdb, -1), 0);
        assert_int_equal(copy_file(live_wal, cwal, flip ? after : cut), 0);
        unlink(cshm);
        if (flip) { /* a torn sector: the commit's last byte is wrong */
            FILE *f = fopen(cwal, "r+b");
            int ch;

            assert_non_null(f);
            assert_int_equal(fseeko(f, after - 1, SEEK_SET), 0);
            ch = fgetc(f);
            assert_int_equal(fseeko(f, after - 1, SEEK_SET), 0);
            fputc(ch ^ 0x5a, f);
            fclose(f);
        }
        if (spool_open(cdir, &r, err, sizeof(err)) != 0)
            fail_msg("cut at %lld of %lld: %s", (long long)cut,
                     (long long)after, err);
        opened++;
        sn = load_all(r);
        assert_int_equal(sn.bad, 0);
        if (sn.n != 6 && sn.n != 7)
            fail_msg("cut at %lld: %d rows", (long long)cut, sn.n);
        for (int i = 0; i < sn.n; i++)
            assert_int_equal(sn.ids[i], i + 1);
        if (sn.n == 7)
            with_last++;
        /* the complete WAL, and only it, has the last row */
        assert_int_equal(sn.n == 7, cut == after);
        /* and the reopened spool takes new rows (fsync: not every time) */
        if ((cut - before) % 97 == 0 || flip)
            add_rows(r, 8, 8);
        spool_close(r);
    }
    assert_int_equal(opened, (unsigned)(after - before + 2));
    assert_int_equal(with_last, 1);
    spool_close(s);
}

/* A file that is not a database is moved aside; the spool starts empty. */
static void test_garbage_file(void **state)
{
    char path[128], err[256];
    struct spool *s;
    FILE *f;

    snprintf(path, sizeof(path), "%s/spool.db", g_dir);
    assert_non_null(f = fopen(path, "wb"));
    for (int i = 0; i < 4096; i++)
        fputc("garbage!"[i % 8], f);
    fclose(f);
    assert_int_equal(spool_open(g_dir, &s, err, sizeof(err)), 0);
    assert_int_equal(spool_count(s), 0);
    add_rows(s, 1, 2);
    assert_int_equal(spool_count(s), 2);
    spool_close(s);
}

static int g_loaded_alert;
static const char *g_group;

static int load_group_col(void *arg, const struct spool_rec *r)
{
    (void)arg;
    if (g_group ? r->group && strcmp(r->group, g_group) == 0 &&
                      r->alert == MSG_ALERT_RESOLVED && r->firing == 0
                : r->group == NULL && r->alert == 0)
        g_loaded_alert++;
    return 0;
}

static int life_alert(void *arg, const struct spool_alert *a)
{
    int *n = arg;

    assert_string_equal(a->bot, "bot");
    assert_string_equal(a->first_id, "first");
    assert_string_equal(a->last_id, "last");
    assert_int_equal(a->state, MSG_ALERT_FIRING);
    assert_int_equal(a->firing, 3);
    n[0]++;
    return 0;
}

static int life_group(void *arg, const struct spool_group *g)
{
    int *n = arg;

    assert_string_equal(g->hook, "am");
    assert_int_equal(g->firing, 2);
    n[1]++;
    return 0;
}

/* A spool.db of an older xmta (no alert columns) opens: its rows load
 * with no group, new rows keep theirs; the lifecycle tables store,
 * replace, delete and expire. */
static void test_alert_columns_and_tables(void **state)
{
    char path[128], err[256];
    struct spool *s;
    struct spool_rec r = {0};
    sqlite3 *db;
    int n[2] = {0, 0};
    int64_t now = (int64_t)time(NULL);
    struct spool_alert a = {"bot",
                            "{}:{a=\"b\"}",
                            "juliet@localhost",
                            "first",
                            "last",
                            MSG_ALERT_FIRING,
                            3,
                            now};
    struct spool_alert old = {"bot", "{}:{old}", "juliet@localhost",
                              "o1",  "o1",       MSG_ALERT_FIRING,
                              1,     now - 100};
    struct spool_group g = {"am", "{}:{a=\"b\"}", 2, now};
    struct spool_group g2 = {"am", "{}:{c}", 1, now};

    snprintf(path, sizeof(path), "%s/spool.db", g_dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "CREATE TABLE delivery (seq INTEGER PRIMARY KEY "
                     "AUTOINCREMENT, created INTEGER NOT NULL, id TEXT NOT "
                     "NULL, hook TEXT NOT NULL, bot TEXT NOT NULL, nick TEXT,"
                     " rcpt TEXT NOT NULL, room INTEGER NOT NULL, type "
                     "INTEGER NOT NULL, subject TEXT, body TEXT NOT NULL);"
                     "INSERT INTO delivery (created, id, hook, bot, rcpt, "
                     "room, type, body) VALUES (1, 'old', 'am', 'bot', "
                     "'juliet@localhost', 0, 0, 'old body')",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(spool_open(g_dir, &s, err, sizeof(err)), 0);
    assert_int_equal(spool_synchronous(s), 1); /* WAL: NORMAL */
    g_group = NULL;
    g_loaded_alert = 0;
    assert_int_equal(spool_load(s, load_group_col, NULL), 0);
    assert_int_equal(g_loaded_alert, 1);
    r.created = now;
    r.id = "new";
    r.hook = "am";
    r.from = "bot";
    r.to = "juliet@localhost";
    r.body = "resolved";
    r.group = "{}:{a=\"b\"}";
    r.alert = MSG_ALERT_RESOLVED;
    assert_int_equal(spool_begin(s), 0);
    assert_int_equal(spool_add(s, &r), 0);
    assert_int_equal(spool_commit(s), 0);
    spool_close(s);
    assert_int_equal(spool_open(g_dir, &s, err, sizeof(err)), 0);
    g_group = r.group;
    g_loaded_alert = 0;
    assert_int_equal(spool_load(s, load_group_col, NULL), 0);
    assert_int_equal(g_loaded_alert, 1);

    assert_int_equal(spool_alert_put(s, &old), 0);
    a.state = MSG_ALERT_RESOLVED;
    assert_int_equal(spool_alert_put(s, &a), 0);
    a.state = MSG_ALERT_FIRING; /* replaces the row */
    assert_int_equal(spool_alert_put(s, &a), 0);
    assert_int_equal(spool_group_put(s, &g), 0);
    assert_int_equal(spool_group_put(s, &g2), 0);
    g2.firing = 0; /* deletes it */
    assert_int_equal(spool_group_put(s, &g2), 0);
    assert_int_equal(spool_life_expire(s, now - 50), 0); /* drops old */
    /* the lifecycle writes leave the connection as it was: NORMAL (the
     * WAL's fdatasync is the spool's own), not FULL (a sync per commit in
     * the event loop) */
    assert_int_equal(spool_synchronous(s), 1);
    spool_close(s);
    assert_int_equal(spool_open(g_dir, &s, err, sizeof(err)), 0);
    assert_int_equal(spool_life_load(s, life_alert, life_group, n), 0);
    assert_int_equal(n[0], 1);
    assert_int_equal(n[1], 1);
    spool_close(s);
}

/* A spool path that cannot be a directory: an error naming it, no crash. */
static void test_unusable_dir(void **state)
{
    char path[128], err[256];
    struct spool *s = (struct spool *)1;
    FILE *f;

    snprintf(path, sizeof(path), "%s/file", g_dir);
    assert_non_null(f = fopen(path, "wb"));
    fclose(f);
    assert_int_equal(spool_open(path, &s, err, sizeof(err)), XMTA_E_IO);
    assert_null(s);
    assert_non_null(strstr(err, path));
}

/* ---- the outbox on the spool -------------------------------------------- */

struct env {
    struct event_base *base;
    struct conf *cfg;
    struct comp *c;
};

static void env_open(struct env *e, const char *spool_keys)
{
    char text[1024];
    struct conf_diag diag;

    snprintf(text, sizeof(text),
             "[component]\n"
             "domain = notify.localhost\n"
             "server = 127.0.0.1\n"
             "port = 1\n"
             "secret = s\n"
             "[spool]\n"
             "path = %s\n"
             "%s",
             g_dir, spool_keys);
    assert_non_null(e->base = event_base_new());
    e->cfg = conf_load_string(text, "t.conf", &diag);
    if (!e->cfg)
        fail_msg("%d: %s", diag.line, diag.msg);
    assert_non_null(e->c = comp_new(e->base, e->cfg));
}

static void env_close(struct env *e)
{
    comp_free(e->c);
    conf_free(e->cfg);
    event_base_free(e->base);
}

static struct msg *make_msg(int i, const char *body)
{
    struct msg *m = msg_new();

    assert_non_null(m);
    snprintf(m->id, sizeof(m->id), "m-%d", i);
    m->hook = strdup("alerts");
    m->from = strdup("bot");
    m->body = strdup(body);
    assert_int_equal(msg_add_to(m, "juliet@localhost"), 0);
    return m;
}

struct answers {
    int n, ok, full, io;
};

static void on_done(void *arg, int rc)
{
    struct answers *a = arg;

    a->n++;
    if (rc == 0)
        a->ok++;
    else if (rc == XMTA_E_FULL)
        a->full++;
    else if (rc == XMTA_E_IO)
        a->io++;
}

/* Runs the loop until n submits in all were answered: the commit, then
 * the fdatasync in the spool's thread (at most 10 s). */
static void env_answered(struct env *e, const struct answers *a, int n)
{
    for (int i = 0; i < 10000 && a->n < n; i++) {
        event_base_loop(e->base, EVLOOP_NONBLOCK);
        if (a->n < n)
            usleep(1000);
    }
    assert_int_equal(a->n, n);
}

/* Accepted messages are answered only after the loop's commit; they
 * survive comp_free and come back, in order, in the next comp. Old rows
 * are dropped at start-up with a counter. */
static void test_outbox_recovery_and_expiry(void **state)
{
    struct comp_spool_status st;
    struct answers a = {0};
    struct spool *s;
    struct env e;
    char err[256];

    env_open(&e, "");
    for (int i = 0; i < 5; i++)
        assert_int_equal(comp_submit_async(e.c, make_msg(i, "x"), on_done, &a),
                         0);
    assert_int_equal(a.n, 0); /* not before the commit */
    assert_int_equal(comp_queued(e.c), 5);
    env_answered(&e, &a, 5);
    assert_int_equal(a.ok, 5);
    comp_spool_status(e.c, &st);
    assert_true(st.enabled && st.ok);
    assert_int_equal(st.depth, 5);
    env_close(&e);

    /* two old rows, as if xmta had been down for two days */
    assert_int_equal(spool_open(g_dir, &s, err, sizeof(err)), 0);
    assert_int_equal(spool_count(s), 5);
    assert_int_equal(spool_begin(s), 0);
    for (int i = 0; i < 2; i++) {
        struct spool_rec r;
        char id[32], body[32];

        rec_fill(&r, 50 + i, id, body);
        r.created -= 2 * 86400;
        assert_int_equal(spool_add(s, &r), 0);
    }
    assert_int_equal(spool_commit(s), 0);
    spool_close(s);

    env_open(&e, "max_age = 1d\n");
    assert_int_equal(comp_queued(e.c), 5);
    comp_spool_status(e.c, &st);
    assert_int_equal(st.depth, 5);
    assert_int_equal(st.expired, 2);
    env_close(&e);
    assert_int_equal(spool_open(g_dir, &s, err, sizeof(err)), 0);
    assert_int_equal(spool_count(s), 5);
    spool_close(s);
}

/* max_messages and max_bytes: the next submit is refused (503), counting
 * what waits for the commit too. */
static void test_outbox_limits(void **state)
{
    struct answers a = {0};
    struct env e;
    char big[2048];

    env_open(&e, "max_messages = 3\nmax_bytes = 4k\n");
    assert_int_equal(comp_submit_async(e.c, make_msg(1, "a"), on_done, &a), 0);
    assert_int_equal(comp_submit_async(e.c, make_msg(2, "b"), on_done, &a), 0);
    assert_int_equal(comp_submit_async(e.c, make_msg(3, "c"), on_done, &a), 0);
    assert_int_equal(comp_submit_async(e.c, make_msg(4, "d"), on_done, &a),
                     XMTA_E_FULL);
    env_answered(&e, &a, 3);
    assert_int_equal(a.ok, 3);
    assert_int_equal(comp_submit_async(e.c, make_msg(5, "e"), on_done, &a),
                     XMTA_E_FULL);
    env_close(&e);
    rm_rf(g_dir);
    assert_int_equal(mkdir(g_dir, 0700), 0);

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    env_open(&e, "max_bytes = 5k\n");
    assert_int_equal(comp_submit_async(e.c, make_msg(1, big), on_done, &a), 0);
    assert_int_equal(comp_submit_async(e.c, make_msg(2, big), on_done, &a), 0);
    assert_int_equal(comp_submit_async(e.c, make_msg(3, big), on_done, &a),
                     XMTA_E_FULL);
    assert_int_equal(comp_submit_async(e.c, make_msg(4, "small"), on_done, &a),
                     0);
    env_answered(&e, &a, 6);
    assert_int_equal(a.ok, 6);
    env_close(&e);
}

/* The commit's fdatasync in the spool's thread, its end signalled on the
 * descriptor, the rows durable and readable by another connection. A
 * commit need not wait for the sync of the one before: each gets the next
 * ticket, and the syncs that follow cover them all. Deletes between need
 * no sync. */
static void test_async_commit(void **state)
{
    struct spool_synced r;
    struct spool *s, *t;
    struct pollfd pfd;
    uint64_t ticket = 0, last = 0;
    char err[256];

    (void)state;
    assert_int_equal(spool_open(g_dir, &s, err, sizeof(err)), 0);
    spool_sync_result(s, &r); /* none asked */
    assert_int_equal(r.upto, 0);
    assert_int_equal(r.rc, 0);
    for (int round = 0; round < 3; round++) {
        /* two commits back to back, the first one's sync not taken */
        for (int half = 0; half < 2; half++) {
            int first = 10 * round + 2 * half;

            assert_int_equal(ticket = commit_rows(s, first, first + 1),
                             last + 1);
            last = ticket;
        }
        pfd.fd = spool_sync_fd(s);
        pfd.events = POLLIN;
        assert_int_equal(poll(&pfd, 1, 10000), 1);
        if (round == 2) {
            spool_sync_wait(s, &r);
        } else {
            do { /* the first sync may cover only the first commit */
                assert_int_equal(poll(&pfd, 1, 10000), 1);
                spool_sync_result(s, &r);
                assert_int_equal(r.rc, 0);
            } while (r.upto < last);
        }
        assert_int_equal(r.upto, last);
        assert_int_equal(r.rc, 0);
        assert_int_equal(poll(&pfd, 1, 0), 0); /* the bytes were read */
    }
    assert_int_equal(spool_open(g_dir, &t, err, sizeof(err)), 0);
    assert_int_equal(spool_count(t), 12);
    spool_close(t);
    {
        int64_t seqs[2] = {1, 2};

        assert_int_equal(spool_delete(s, seqs, 2), 0);
    }
    assert_int_equal(spool_count(s), 10);
    /* closing with a sync asked: it finishes first */
    add_rows(s, 40, 41);
    assert_int_equal(spool_begin(s), 0);
    assert_int_equal(spool_commit_async(s, &ticket), 0);
    spool_close(s);
    assert_int_equal(spool_open(g_dir, &s, err, sizeof(err)), 0);
    assert_int_equal(spool_count(s), 12);
    spool_close(s);
}

/* The result of the syncs so far, once spool_sync_fd() is readable. */
static void synced_wait(struct spool *s, struct spool_synced *r)
{
    struct pollfd pfd = {.fd = spool_sync_fd(s), .events = POLLIN};

    assert_int_equal(poll(&pfd, 1, 10000), 1);
    spool_sync_result(s, r);
}

/* The syncer, its fdatasync held by the test: a sync covers the commits
 * made before it started and not one made while it runs; the next starts
 * by itself when it ends; a failed one fails its commits only, and is
 * told once. */
static void test_sync_pipeline(void **state)
{
    struct spool_synced r;
    struct spool *s;
    char err[256];

    (void)state;
    hold_start();
    assert_int_equal(spool_open(g_dir, &s, err, sizeof(err)), 0);
    assert_int_equal(commit_rows(s, 0, 1), 1);
    hold_entered(); /* syncing ticket 1 */
    assert_int_equal(commit_rows(s, 2, 3), 2);
    spool_sync_result(s, &r);
    assert_int_equal(r.upto, 0); /* nothing ended yet */
    hold_release(0);
    synced_wait(s, &r);
    assert_int_equal(r.upto, 1); /* not 2: it was made during the sync */
    assert_int_equal(r.rc, 0);
    hold_entered(); /* the sync of ticket 2, with nothing asked */
    assert_int_equal(commit_rows(s, 4, 5), 3);
    hold_release(1); /* it fails */
    synced_wait(s, &r);
    assert_int_equal(r.upto, 2);
    assert_int_equal(r.rc, XMTA_E_IO);
    assert_int_equal(r.bad_lo, 1);
    assert_int_equal(r.bad_hi, 2);
    hold_entered(); /* ticket 3 */
    hold_release(0);
    synced_wait(s, &r);
    assert_int_equal(r.upto, 3);
    assert_int_equal(r.rc, 0);              /* the failure was told once */
    assert_false(hold_entered_within(100)); /* nothing left to sync */
    hold_stop(0);
    spool_close(s);
    hold_close();
}

/* A long run of async commits and deletes (far more than SQLite's
 * 1000-page autocheckpoint) leaves every row right and a WAL of bounded
 * size: the checkpoints complete and the WAL is reused. Without them the
 * WAL would hold every page written: 24 MB or more here. */
static void test_wal_bounded(void **state)
{
    char err[256], wal[160], body[600];
    struct spool_synced done;
    uint64_t ticket;
    struct spool *s;
    struct stat st;
    off_t max_wal = 0;

    (void)state;
    memset(body, 'x', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';
    snprintf(wal, sizeof(wal), "%s/spool.db-wal", g_dir);
    assert_int_equal(spool_open(g_dir, &s, err, sizeof(err)), 0);
    for (int round = 0; round < 3000; round++) {
        int64_t del[8];
        size_t n = 0;

        assert_int_equal(spool_begin(s), 0);
        for (int i = 0; i < 8; i++) {
            struct spool_rec r = {0};
            char id[32];

            snprintf(id, sizeof(id), "ck%d-%d", round, i);
            r.created = 1;
            r.id = id;
            r.hook = "h";
            r.from = "bot";
            r.to = "juliet@localhost";
            r.body = body;
            assert_int_equal(spool_add(s, &r), 0);
            if (round > 0)
                del[n++] = r.seq - 8; /* the previous round's rows */
        }
        assert_int_equal(spool_commit_async(s, &ticket), 0);
        spool_sync_wait(s, &done);
        assert_int_equal(done.rc, 0);
        assert_int_equal(done.upto, ticket);
        assert_int_equal(spool_delete(s, del, n), 0);
        if (stat(wal, &st) == 0 && st.st_size > max_wal)
            max_wal = st.st_size;
    }
    /* 6000 commits of at least a 4 KiB page each went through the WAL */
    assert_true(max_wal > 0);
    assert_true(max_wal < 16 * 1024 * 1024);
    assert_int_equal(spool_count(s), 8); /* the last round's */
    spool_close(s);
    assert_int_equal(spool_open(g_dir, &s, err, sizeof(err)), 0);
    assert_int_equal(spool_count(s), 8);
    assert_int_equal(spool_synchronous(s), 1);
    spool_close(s);
}

/* While the disk syncs a commit, what is submitted is committed too, and
 * its sync follows by itself; each submitter is answered as its own
 * commit's sync says (a failed one: 503, its rows gone from the spool).
 * comp_free answers the commits still syncing (as the disk says:
 * accepted) and their rows are there for the next start. */
static void test_outbox_commit_while_syncing(void **state)
{
    struct comp_spool_status st;
    struct answers a = {0};
    struct spool *s, *t;
    struct env e;
    char err[256];

    hold_start();
    env_open(&e, "");
    for (int i = 0; i < 2; i++)
        assert_int_equal(comp_submit_async(e.c, make_msg(i, "x"), on_done, &a),
                         0);
    event_base_loop(e.base, EVLOOP_NONBLOCK); /* the commit */
    hold_entered();                           /* its sync, held */
    for (int i = 2; i < 5; i++)
        assert_int_equal(comp_submit_async(e.c, make_msg(i, "x"), on_done, &a),
                         0);
    event_base_loop(e.base, EVLOOP_NONBLOCK); /* committed at once */
    assert_int_equal(spool_open(g_dir, &t, err, sizeof(err)), 0);
    assert_int_equal(spool_count(t), 5);
    assert_int_equal(a.n, 0); /* nobody answered before the sync */
    hold_release(0);
    env_answered(&e, &a, 2);
    assert_int_equal(a.ok, 2);
    hold_entered(); /* the second commit's sync */
    hold_release(1);
    env_answered(&e, &a, 5);
    assert_int_equal(a.ok, 2);
    assert_int_equal(a.io, 3);
    comp_spool_status(e.c, &st);
    assert_int_equal(st.depth, 2);
    assert_int_equal(spool_count(t), 2); /* the failed rows left */
    assert_int_equal(comp_submit_async(e.c, make_msg(5, "y"), on_done, &a), 0);
    event_base_loop(e.base, EVLOOP_NONBLOCK);
    hold_entered();
    hold_stop(1);
    env_close(&e); /* waits for the sync under way */
    hold_close();
    assert_int_equal(a.n, 6);
    assert_int_equal(a.ok, 3);
    spool_close(t);
    assert_int_equal(spool_open(g_dir, &s, err, sizeof(err)), 0);
    assert_int_equal(spool_count(s), 3);
    spool_close(s);
}

/* The lowest free descriptor becomes the limit: the next open() fails
 * (EMFILE), as the spool's first open of its WAL does here. */
static void fd_limit_squeeze(struct rlimit *saved)
{
    struct rlimit lim;
    int fd = dup(0);

    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(getrlimit(RLIMIT_NOFILE, saved), 0);
    lim = *saved;
    lim.rlim_cur = (rlim_t)fd;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
}

/* A commit whose WAL cannot be synced: its submitters get 503 (XMTA_E_IO)
 * and its rows leave the spool again; the next commit works. */
static void test_outbox_sync_failure(void **state)
{
    struct comp_spool_status st;
    struct answers a = {0};
    struct rlimit saved;
    struct spool *s;
    struct env e;
    char err[256];

    env_open(&e, "");
    for (int i = 0; i < 2; i++)
        assert_int_equal(comp_submit_async(e.c, make_msg(i, "x"), on_done, &a),
                         0);
    fd_limit_squeeze(&saved);
    event_base_loop(e.base, EVLOOP_NONBLOCK); /* the commit, no WAL fd */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
    env_answered(&e, &a, 2);
    assert_int_equal(a.io, 2);
    comp_spool_status(e.c, &st);
    assert_int_equal(st.depth, 0);
    assert_int_equal(comp_submit_async(e.c, make_msg(2, "y"), on_done, &a), 0);
    env_answered(&e, &a, 3);
    assert_int_equal(a.ok, 1);
    env_close(&e);
    assert_int_equal(spool_open(g_dir, &s, err, sizeof(err)), 0);
    assert_int_equal(spool_count(s), 1);
    spool_close(s);
}

/* A spool directory that cannot be created: comp runs, submits get
 * XMTA_E_IO (503) and the status says so. */
static void test_outbox_unwritable(void **state)
{
    struct comp_spool_status st;
    struct answers a = {0};
    struct env e;
    char path[128];
    FILE *f;

    snprintf(path, sizeof(path), "%s/notadir", g_dir);
    assert_non_null(f = fopen(path, "wb"));
    fclose(f);
    {
        char text[512];
        struct conf_diag diag;

        snprintf(text, sizeof(text),
                 "[component]\ndomain = notify.localhost\nserver = h\n"
                 "secret = s\n[spool]\npath = %s\n",
                 path);
        assert_non_null(e.base = event_base_new());
        assert_non_null(e.cfg = conf_load_string(text, "t.conf", &diag));
        assert_non_null(e.c = comp_new(e.base, e.cfg));
    }
    assert_int_equal(comp_submit_async(e.c, make_msg(1, "a"), on_done, &a),
                     XMTA_E_IO);
    comp_spool_status(e.c, &st);
    assert_true(st.enabled);
    assert_false(st.ok);
    env_close(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_order_and_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_consistency, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_garbage_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_columns_and_tables, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unusable_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_recovery_and_expiry, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_outbox_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_pipeline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_commit_while_syncing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_outbox_sync_failure, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_outbox_unwritable, setup,
                                        teardown),
    };

    xlog_set_level(XLOG_WARN);
    signal(SIGPIPE, SIG_IGN); /* a held fdatasync after a failed test */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
