/* SPDX-License-Identifier: MIT */
/* spool.c -- the durable spool on SQLite: WAL journal, one row per
 * delivery. A commit is durable once the WAL is fsync'd: SQLite runs with
 * synchronous=NORMAL and the fdatasync() of the WAL that synchronous=FULL
 * would do inside COMMIT is done here, inline (spool_commit) or in a thread
 * of the spool's own (spool_commit_async) so that the event loop goes on
 * while the disk syncs (issue 8). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "component/spool.h"
#include "xml/err.h"
#include "xml/log.h"

struct spool {
    sqlite3 *db;
    char *file;
    sqlite3_stmt *ins;
    sqlite3_stmt *del;
    sqlite3_stmt *begin, *commit; /* BEGIN IMMEDIATE, COMMIT: prepared */
    int in_tx;
    int readonly; /* the last failure was a refused write (EROFS, EACCES) */
    int wal;      /* journal_mode is WAL (else synchronous=FULL does it) */
    int wal_fd;   /* FILE-wal, for fdatasync(); -1 until needed */
    /* the syncer thread: each commit gets a ticket (committed counts
     * them); one fdatasync covers every commit made before it started,
     * and the next starts as soon as it ends while there are commits it
     * did not cover. Under mu; notify[1] gets a byte when one ends. */
    pthread_t syncer;
    int syncer_up;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t committed; /* the last ticket given */
    uint64_t synced;    /* every commit up to this ticket is synced */
    /* failed syncs not taken yet: the tickets in (bad_lo, bad_hi] */
    uint64_t bad_lo, bad_hi;
    int bad_err; /* errno of the first of them, or 0 */
    int stop;
    int locks; /* mu and cv were initialised */
    int notify[2];
};

/* seq without AUTOINCREMENT (its sqlite_sequence update cost 40% of an
 * insert, issue 8): a new row's seq is still above every row there, so
 * the spool order holds; a seq may come back once its row is gone, and
 * only rows still there are ever named by one. Spools made before keep
 * AUTOINCREMENT (CREATE TABLE IF NOT EXISTS), which works the same. */
static const char spool_schema[] = "CREATE TABLE IF NOT EXISTS delivery ("
                                   " seq INTEGER PRIMARY KEY,"
                                   " created INTEGER NOT NULL,"
                                   " id TEXT NOT NULL,"
                                   " hook TEXT NOT NULL,"
                                   " bot TEXT NOT NULL,"
                                   " nick TEXT,"
                                   " rcpt TEXT NOT NULL,"
                                   " room INTEGER NOT NULL,"
                                   " type INTEGER NOT NULL,"
                                   " subject TEXT,"
                                   " body TEXT NOT NULL)";

/* Alert lifecycle (lifecycle.c): columns added to delivery by
 * spool_db_migrate(), and its tables (heartbeat: the last webhook, or the
 * start of the watch, per hook with heartbeat =). */
static const char spool_schema_life[] =
    "CREATE TABLE IF NOT EXISTS alert_sent ("
    " bot TEXT NOT NULL, grp TEXT NOT NULL, rcpt TEXT NOT NULL,"
    " first_id TEXT NOT NULL, last_id TEXT NOT NULL,"
    " state INTEGER NOT NULL, firing INTEGER NOT NULL,"
    " updated INTEGER NOT NULL, PRIMARY KEY (bot, grp, rcpt));"
    "CREATE TABLE IF NOT EXISTS alert_group ("
    " hook TEXT NOT NULL, grp TEXT NOT NULL, firing INTEGER NOT NULL,"
    " updated INTEGER NOT NULL, PRIMARY KEY (hook, grp));"
    "CREATE TABLE IF NOT EXISTS heartbeat ("
    " hook TEXT NOT NULL PRIMARY KEY, last_ms INTEGER NOT NULL,"
    " missing INTEGER NOT NULL)";

size_t spool_rec_size(const struct spool_rec *r)
{
    size_t n = 64; /* row overhead, roughly */

    n += r->id ? strlen(r->id) : 0;
    n += r->hook ? strlen(r->hook) : 0;
    n += r->from ? strlen(r->from) : 0;
    n += r->nick ? strlen(r->nick) : 0;
    n += r->to ? strlen(r->to) : 0;
    n += r->subject ? strlen(r->subject) : 0;
    n += r->body ? strlen(r->body) : 0;
    n += r->group ? strlen(r->group) : 0;
    return n;
}

/* The error for a failed SQLite call; logs it with the path. */
static int spool_fail(struct spool *s, int src, const char *what)
{
    int rc = (src & 0xff) == SQLITE_FULL ? XMTA_E_FULL : XMTA_E_IO;
    int sys = s->db ? sqlite3_system_errno(s->db) : 0;

    s->readonly = (src & 0xff) == SQLITE_READONLY || sys == EROFS ||
                  sys == EACCES || sys == EPERM;
    xlog_error("spool", "%s: %s failed: %s%s%s%s", s->file, what,
               sqlite3_errstr(src), sys ? ": " : "", sys ? strerror(sys) : "",
               rc == XMTA_E_FULL ? " (the disk is full)"
               : s->readonly     ? " (the spool is not writable)"
                                 : "");
    return rc;
}

static int spool_exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* Runs a prepared statement without rows (BEGIN, COMMIT: not parsed
 * again for every transaction). SQLITE_OK or the error. */
static int spool_step(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Creates dir (one level) when missing, mode 0700. */
static int spool_mkdir(const char *dir, char *err, size_t size)
{
    struct stat st;

    if (stat(dir, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return 0;
        snprintf(err, size, "spool path %s is not a directory", dir);
        return XMTA_E_IO;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, size, "cannot create spool directory %s: %s", dir,
                 strerror(errno));
        return XMTA_E_IO;
    }
    return 0;
}

/* A spool written by an older xmta lacks the alert columns: adds them. */
static int spool_db_migrate(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT grp FROM delivery LIMIT 0", -1, &st,
                                NULL);

    sqlite3_finalize(st);
    if (rc == SQLITE_OK)
        return rc;
    rc = spool_exec(db, "ALTER TABLE delivery ADD COLUMN grp TEXT");
    if (rc == SQLITE_OK)
        rc = spool_exec(db, "ALTER TABLE delivery ADD COLUMN alert INTEGER"
                            " NOT NULL DEFAULT 0");
    if (rc == SQLITE_OK)
        rc = spool_exec(db, "ALTER TABLE delivery ADD COLUMN firing INTEGER"
                            " NOT NULL DEFAULT 0");
    return rc;
}

/* PRAGMA journal_mode=WAL; s->wal says whether the database is in WAL
 * mode now (a file system without shared memory keeps another mode). */
static int spool_wal_mode(struct spool *s)
{
    sqlite3_stmt *st = NULL;
    int rc =
        sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);

    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(st, 0);

        s->wal = mode && strcmp(mode, "wal") == 0;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Opens file and checks that it reads: 0, or the SQLite error. In WAL
 * mode synchronous=NORMAL syncs the WAL before each checkpoint, the
 * database after it and the WAL header when the WAL is reused; FULL adds
 * one fdatasync() of the WAL per commit, which spool_commit() and the
 * syncer do instead. Outside WAL mode, FULL. */
static int spool_db_open(struct spool *s)
{
    int rc = sqlite3_open_v2(
        s->file, &s->db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_busy_timeout(s->db, 2000);
    if (rc == SQLITE_OK)
        rc = spool_wal_mode(s);
    if (rc == SQLITE_OK)
        rc = spool_exec(s->db, s->wal ? "PRAGMA synchronous=NORMAL"
                                      : "PRAGMA synchronous=FULL");
    if (rc == SQLITE_OK)
        rc = spool_exec(s->db, spool_schema);
    if (rc == SQLITE_OK)
        rc = spool_exec(s->db, spool_schema_life);
    if (rc == SQLITE_OK)
        rc = spool_exec(s->db, "SELECT count(*) FROM delivery");
    if (rc == SQLITE_OK)
        rc = spool_db_migrate(s->db);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->db,
                                "INSERT INTO delivery (created, id, hook, bot,"
                                " nick, rcpt, room, type, subject, body,"
                                " grp, alert, firing)"
                                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                                -1, &s->ins, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(
            s->db, "DELETE FROM delivery WHERE seq BETWEEN ? AND ?", -1,
            &s->del, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->db, "BEGIN IMMEDIATE", -1, &s->begin, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->db, "COMMIT", -1, &s->commit, NULL);
    return rc;
}

static void spool_db_close(struct spool *s)
{
    sqlite3_finalize(s->ins);
    sqlite3_finalize(s->del);
    sqlite3_finalize(s->begin);
    sqlite3_finalize(s->commit);
    s->ins = s->del = s->begin = s->commit = NULL;
    sqlite3_close(s->db);
    s->db = NULL;
    if (s->wal_fd >= 0)
        close(s->wal_fd);
    s->wal_fd = -1;
}

/* fdatasync() of the WAL: what synchronous=FULL does at each commit.
 * Never unlinked while our connection is open, so the descriptor opened
 * at the first sync stays the WAL's. 0 or an errno. */
static int spool_wal_sync(struct spool *s, int fd)
{
    if (fd < 0)
        return 0; /* not WAL: COMMIT synced (synchronous=FULL) */
    return fdatasync(fd) == 0 ? 0 : errno;
}

/* The WAL's descriptor (opened at the first commit, which creates the
 * file), or -1 when not in WAL mode; -2 with errno when it cannot be
 * opened. */
static int spool_wal_fd(struct spool *s)
{
    char path[4200];

    if (!s->wal)
        return -1;
    if (s->wal_fd >= 0)
        return s->wal_fd;
    snprintf(path, sizeof(path), "%s-wal", s->file);
    if ((s->wal_fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return -2;
    return s->wal_fd;
}

/* Wakes the loop: a byte in the pipe (one there already does too). */
static void spool_notify(struct spool *s)
{
    if (write(s->notify[1], "s", 1) < 0) {
        /* full: the loop has bytes to read already */
    }
}

/* A sync of the commits up to ticket upto ended with err (0 or an
 * errno). Under mu. */
static void spool_synced_upto(struct spool *s, uint64_t upto, int err)
{
    if (err) {
        if (!s->bad_err) {
            s->bad_lo = s->synced;
            s->bad_err = err;
        }
        s->bad_hi = upto;
    }
    s->synced = upto;
}

static void *spool_syncer(void *arg)
{
    struct spool *s = arg;

    pthread_mutex_lock(&s->mu);
    for (;;) {
        uint64_t upto;
        int fd, err;

        while (s->synced == s->committed && !s->stop)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->synced == s->committed)
            break; /* stopping, nothing left to sync */
        upto = s->committed;
        fd = s->wal_fd;
        pthread_mutex_unlock(&s->mu);
        err = spool_wal_sync(s, fd);
        pthread_mutex_lock(&s->mu);
        spool_synced_upto(s, upto, err);
        pthread_cond_broadcast(&s->cv);
        spool_notify(s);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Stops and joins the syncer (after the fdatasync it may be doing). */
static void spool_syncer_stop(struct spool *s)
{
    if (!s->syncer_up)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->syncer, NULL);
    s->syncer_up = 0;
}

/* Moves file (and its -wal, -shm) aside as FILE.corrupt-TIME. */
static void spool_move_aside(const char *file)
{
    static const char *const ext[] = {"", "-wal", "-shm"};
    char from[4200], to[4300];
    long now = (long)time(NULL);

    for (size_t i = 0; i < 3; i++) {
        snprintf(from, sizeof(from), "%s%s", file, ext[i]);
        snprintf(to, sizeof(to), "%s.corrupt-%ld%s", file, now, ext[i]);
        if (rename(from, to) == 0 && i == 0)
            xlog_error("spool", "%s is unreadable: moved aside to %s", from,
                       to);
    }
}

/* Close-on-exec and non-blocking. 0 or -1. */
static int spool_fd_flags(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
        return -1;
    return 0;
}

int spool_open(const char *dir, struct spool **out, char *err, size_t size)
{
    struct spool *s;
    size_t len;
    int rc;

    *out = NULL;
    if (!dir || !*dir) {
        snprintf(err, size, "no spool directory");
        return XMTA_E_INVAL;
    }
    if (spool_mkdir(dir, err, size) != 0)
        return XMTA_E_IO;
    if (!(s = calloc(1, sizeof(*s))))
        goto nomem;
    s->wal_fd = s->notify[0] = s->notify[1] = -1;
    if (pthread_mutex_init(&s->mu, NULL) != 0)
        goto nomem;
    if (pthread_cond_init(&s->cv, NULL) != 0) {
        pthread_mutex_destroy(&s->mu);
        goto nomem;
    }
    s->locks = 1;
    if (pipe(s->notify) != 0 || spool_fd_flags(s->notify[0]) != 0 ||
        spool_fd_flags(s->notify[1]) != 0) {
        snprintf(err, size, "cannot create a pipe for the spool: %s",
                 strerror(errno));
        spool_close(s);
        return XMTA_E_IO;
    }
    len = strlen(dir) + sizeof("/spool.db");
    if (!(s->file = malloc(len)))
        goto nomem;
    snprintf(s->file, len, "%s/spool.db", dir);
    rc = spool_db_open(s);
    if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) {
        /* Never fatal: what cannot be read is kept for a human, and new
         * webhooks are accepted into a new file. */
        spool_db_close(s);
        spool_move_aside(s->file);
        rc = spool_db_open(s);
    }
    if (rc != SQLITE_OK) {
        snprintf(err, size, "cannot open spool %s: %s", s->file,
                 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        spool_close(s);
        return XMTA_E_IO;
    }
    *out = s;
    return 0;
nomem:
    spool_close(s);
    snprintf(err, size, "out of memory");
    return XMTA_E_NOMEM;
}

void spool_close(struct spool *s)
{
    if (!s)
        return;
    spool_syncer_stop(s);
    if (s->in_tx)
        spool_rollback(s);
    spool_db_close(s);
    for (int i = 0; i < 2; i++)
        if (s->notify[i] >= 0)
            close(s->notify[i]);
    if (s->locks) {
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
    }
    free(s->file);
    free(s);
}

const char *spool_file(const struct spool *s)
{
    return s ? s->file : "";
}

static const char *spool_col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

int spool_load(struct spool *s,
               int (*fn)(void *arg, const struct spool_rec *r),
               void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc, ret = 0;

    rc = sqlite3_prepare_v2(s->db,
                            "SELECT seq, created, id, hook, bot, nick, rcpt,"
                            " room, type, subject, body, grp, alert, firing"
                            " FROM delivery"
                            " ORDER BY seq",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return spool_fail(s, rc, "reading the spool");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct spool_rec r = {
            .seq = sqlite3_column_int64(st, 0),
            .created = sqlite3_column_int64(st, 1),
            .id = spool_col(st, 2),
            .hook = spool_col(st, 3),
            .from = spool_col(st, 4),
            .nick = spool_col(st, 5),
            .to = spool_col(st, 6),
            .room = sqlite3_column_int(st, 7) != 0,
            .type = sqlite3_column_int(st, 8),
            .subject = spool_col(st, 9),
            .body = spool_col(st, 10),
            .group = spool_col(st, 11),
            .alert = sqlite3_column_int(st, 12),
            .firing = (unsigned)sqlite3_column_int64(st, 13),
        };

        if (!r.id || !r.hook || !r.from || !r.to || !r.body) {
            xlog_warn("spool", "%s: row %lld is incomplete: skipped", s->file,
                      (long long)r.seq);
            continue;
        }
        if ((ret = fn(arg, &r)) != 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = spool_fail(s, rc, "reading the spool");
    sqlite3_finalize(st);
    return ret;
}

int spool_begin(struct spool *s)
{
    int rc;

    if (s->in_tx)
        return XMTA_E_STATE;
    if ((rc = spool_step(s->begin)) != SQLITE_OK)
        return spool_fail(s, rc, "BEGIN");
    s->in_tx = 1;
    return 0;
}

static void spool_bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

int spool_add(struct spool *s, struct spool_rec *r)
{
    sqlite3_stmt *st = s->ins;
    int rc;

    if (!s->in_tx)
        return XMTA_E_STATE;
    /* every parameter is bound below (NULL for a missing text), and the
     * statement was reset after its last step */
    sqlite3_bind_int64(st, 1, r->created);
    spool_bind_text(st, 2, r->id);
    spool_bind_text(st, 3, r->hook);
    spool_bind_text(st, 4, r->from);
    spool_bind_text(st, 5, r->nick);
    spool_bind_text(st, 6, r->to);
    sqlite3_bind_int(st, 7, r->room ? 1 : 0);
    sqlite3_bind_int(st, 8, r->type);
    spool_bind_text(st, 9, r->subject);
    spool_bind_text(st, 10, r->body);
    spool_bind_text(st, 11, r->group);
    sqlite3_bind_int(st, 12, r->alert);
    sqlite3_bind_int64(st, 13, r->firing);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return spool_fail(s, rc, "INSERT");
    r->seq = sqlite3_last_insert_rowid(s->db);
    return 0;
}

/* COMMIT, not synced yet in WAL mode. */
static int spool_commit_tx(struct spool *s)
{
    int rc;

    if (!s->in_tx)
        return XMTA_E_STATE;
    if ((rc = spool_step(s->commit)) != SQLITE_OK) {
        int ret = spool_fail(s, rc, "COMMIT");

        spool_rollback(s);
        return ret;
    }
    s->in_tx = 0;
    return 0;
}

/* The error for a failed fdatasync() of the WAL (logged). */
static int spool_sync_fail(struct spool *s, int err)
{
    s->readonly = err == EROFS;
    xlog_error("spool", "%s: syncing the WAL (fdatasync) failed: %s", s->file,
               strerror(err));
    return err == ENOSPC || err == EDQUOT ? XMTA_E_FULL : XMTA_E_IO;
}

int spool_commit(struct spool *s)
{
    int rc = spool_commit_tx(s), fd;

    if (rc != 0)
        return rc;
    if ((fd = spool_wal_fd(s)) == -2)
        return spool_sync_fail(s, errno);
    if ((rc = spool_wal_sync(s, fd)) != 0)
        return spool_sync_fail(s, rc);
    return 0;
}

int spool_commit_async(struct spool *s, uint64_t *ticket)
{
    int rc, fd, err = 0;

    if ((rc = spool_commit_tx(s)) != 0)
        return rc;
    if ((fd = spool_wal_fd(s)) == -2)
        err = errno ? errno : EIO;
    pthread_mutex_lock(&s->mu);
    *ticket = ++s->committed;
    if (fd >= 0 && !s->syncer_up &&
        pthread_create(&s->syncer, NULL, spool_syncer, s) == 0)
        s->syncer_up = 1;
    if (fd >= 0 && s->syncer_up) {
        pthread_cond_broadcast(&s->cv);
    } else {
        /* not WAL (COMMIT synced), no WAL descriptor, or no thread (the
         * sync is done here): the answer is there at once. Without the
         * thread nothing else is waiting for a sync. */
        if (fd >= 0)
            err = spool_wal_sync(s, fd);
        spool_synced_upto(s, *ticket, err);
        spool_notify(s);
    }
    pthread_mutex_unlock(&s->mu);
    return 0;
}

int spool_sync_fd(const struct spool *s)
{
    return s ? s->notify[0] : -1;
}

/* What the syncs ended since the last take; under mu. The failure, if
 * any, is logged by the caller (spool_sync_fail), outside of mu. */
static int spool_sync_take(struct spool *s, struct spool_synced *out)
{
    char buf[64];
    int err = 0;

    /* bytes of syncs whose result is taken below: all of them go */
    while (read(s->notify[0], buf, sizeof(buf)) == (ssize_t)sizeof(buf))
        ;
    out->upto = s->synced;
    out->bad_lo = out->bad_hi = 0;
    if (s->bad_err) {
        out->bad_lo = s->bad_lo;
        out->bad_hi = s->bad_hi;
        err = s->bad_err;
        s->bad_err = 0;
    }
    return err;
}

/* Takes the outcome of the syncs so far; with wait, after every commit
 * made so far is synced. */
static void
spool_synced_get(struct spool *s, struct spool_synced *out, int wait)
{
    int err;

    pthread_mutex_lock(&s->mu);
    while (wait && s->synced != s->committed && s->syncer_up)
        pthread_cond_wait(&s->cv, &s->mu);
    err = spool_sync_take(s, out);
    pthread_mutex_unlock(&s->mu);
    out->rc = err ? spool_sync_fail(s, err) : 0;
}

void spool_sync_result(struct spool *s, struct spool_synced *out)
{
    spool_synced_get(s, out, 0);
}

void spool_sync_wait(struct spool *s, struct spool_synced *out)
{
    spool_synced_get(s, out, 1);
}

void spool_rollback(struct spool *s)
{
    if (!s->in_tx)
        return;
    if (sqlite3_get_autocommit(s->db) == 0)
        spool_exec(s->db, "ROLLBACK");
    s->in_tx = 0;
}

int spool_remove(struct spool *s, const int64_t *seqs, size_t n)
{
    int rc;

    if (!s->in_tx)
        return XMTA_E_STATE;
    /* a run of consecutive seqs (acknowledgements come in order) is one
     * range: one statement for it, not one per row */
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && seqs[j] == seqs[j - 1] + 1; j++)
            ;
        sqlite3_bind_int64(s->del, 1, seqs[i]);
        sqlite3_bind_int64(s->del, 2, seqs[j - 1]);
        rc = sqlite3_step(s->del);
        sqlite3_reset(s->del);
        if (rc != SQLITE_DONE)
            return spool_fail(s, rc, "DELETE");
    }
    return 0;
}

int spool_delete(struct spool *s, const int64_t *seqs, size_t n)
{
    int rc;

    if (n == 0)
        return 0;
    /* A delete need not wait for the disk: if power fails before the next
     * fsync (the next insert's commit syncs the WAL and with it this
     * transaction) the rows are sent again, which at-least-once allows.
     * So its COMMIT is not followed by an fdatasync (outside WAL mode,
     * synchronous=FULL still syncs it). */
    if ((rc = spool_begin(s)) != 0)
        return rc;
    if ((rc = spool_remove(s, seqs, n)) != 0) {
        spool_rollback(s);
        return rc;
    }
    return spool_commit_tx(s);
}

int spool_checkpoint(struct spool *s)
{
    int rc;

    if (s->in_tx)
        return XMTA_E_STATE;
    rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
                                   NULL, NULL);
    return rc == SQLITE_OK ? 0 : spool_fail(s, rc, "checkpoint");
}

int spool_synchronous(struct spool *s)
{
    sqlite3_stmt *st = NULL;
    int level = -1;

    if (sqlite3_prepare_v2(s->db, "PRAGMA synchronous", -1, &st, NULL) ==
            SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        level = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return level;
}

int spool_readonly(const struct spool *s)
{
    return s && s->readonly;
}

long spool_count(struct spool *s)
{
    sqlite3_stmt *st = NULL;
    long n = -1;

    if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM delivery", -1, &st,
                           NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* ---- alert lifecycle ---------------------------------------------------- */

/* Runs one statement of sql with the bindings done by bind; the lifecycle
 * tables are a cache of what was sent, so a write need not wait for the
 * disk (synchronous=NORMAL, like spool_delete). In WAL mode the connection
 * runs with NORMAL anyway (spool_db_open) and must stay so: FULL would
 * sync the WAL inside every later COMMIT, on the event loop. */
static int spool_life_run(struct spool *s,
                          const char *sql,
                          void (*bind)(sqlite3_stmt *st, const void *arg),
                          const void *arg,
                          const char *what)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (s->in_tx)
        return XMTA_E_STATE;
    if ((rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL)) != SQLITE_OK)
        return spool_fail(s, rc, what);
    if (bind)
        bind(st, arg);
    if (!s->wal)
        spool_exec(s->db, "PRAGMA synchronous=NORMAL");
    rc = sqlite3_step(st);
    if (!s->wal)
        spool_exec(s->db, "PRAGMA synchronous=FULL");
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : spool_fail(s, rc, what);
}

static void spool_alert_bind(sqlite3_stmt *st, const void *arg)
{
    const struct spool_alert *a = arg;

    spool_bind_text(st, 1, a->bot);
    spool_bind_text(st, 2, a->group);
    spool_bind_text(st, 3, a->rcpt);
    spool_bind_text(st, 4, a->first_id);
    spool_bind_text(st, 5, a->last_id);
    sqlite3_bind_int(st, 6, a->state);
    sqlite3_bind_int64(st, 7, a->firing);
    sqlite3_bind_int64(st, 8, a->updated);
}

int spool_alert_put(struct spool *s, const struct spool_alert *a)
{
    return spool_life_run(s,
                          "INSERT OR REPLACE INTO alert_sent (bot, grp, rcpt,"
                          " first_id, last_id, state, firing, updated)"
                          " VALUES (?,?,?,?,?,?,?,?)",
                          spool_alert_bind, a, "INSERT alert_sent");
}

static void spool_group_bind(sqlite3_stmt *st, const void *arg)
{
    const struct spool_group *g = arg;

    spool_bind_text(st, 1, g->hook);
    spool_bind_text(st, 2, g->group);
    sqlite3_bind_int64(st, 3, g->firing);
    sqlite3_bind_int64(st, 4, g->updated);
}

int spool_group_put(struct spool *s, const struct spool_group *g)
{
    if (g->firing == 0)
        return spool_life_run(s,
                              "DELETE FROM alert_group WHERE hook = ?1 AND"
                              " grp = ?2",
                              spool_group_bind, g, "DELETE alert_group");
    return spool_life_run(s,
                          "INSERT OR REPLACE INTO alert_group (hook, grp,"
                          " firing, updated) VALUES (?,?,?,?)",
                          spool_group_bind, g, "INSERT alert_group");
}

static void spool_expire_bind(sqlite3_stmt *st, const void *arg)
{
    sqlite3_bind_int64(st, 1, *(const int64_t *)arg);
}

int spool_life_expire(struct spool *s, int64_t before)
{
    int rc = spool_life_run(s, "DELETE FROM alert_sent WHERE updated < ?",
                            spool_expire_bind, &before, "DELETE alert_sent");

    if (rc == 0)
        rc = spool_life_run(s, "DELETE FROM alert_group WHERE updated < ?",
                            spool_expire_bind, &before, "DELETE alert_group");
    return rc;
}

int spool_life_load(struct spool *s,
                    int (*alert)(void *arg, const struct spool_alert *a),
                    int (*group)(void *arg, const struct spool_group *g),
                    void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc, ret = 0;

    rc = sqlite3_prepare_v2(s->db,
                            "SELECT bot, grp, rcpt, first_id, last_id, state,"
                            " firing, updated FROM alert_sent"
                            " ORDER BY updated",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return spool_fail(s, rc, "reading alert_sent");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct spool_alert a = {
            .bot = spool_col(st, 0),
            .group = spool_col(st, 1),
            .rcpt = spool_col(st, 2),
            .first_id = spool_col(st, 3),
            .last_id = spool_col(st, 4),
            .state = sqlite3_column_int(st, 5),
            .firing = (unsigned)sqlite3_column_int64(st, 6),
            .updated = sqlite3_column_int64(st, 7),
        };

        if (a.bot && a.group && a.rcpt && a.first_id && a.last_id &&
            (ret = alert(arg, &a)) != 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = spool_fail(s, rc, "reading alert_sent");
    sqlite3_finalize(st);
    if (ret != 0)
        return ret;
    rc = sqlite3_prepare_v2(s->db,
                            "SELECT hook, grp, firing, updated FROM"
                            " alert_group",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return spool_fail(s, rc, "reading alert_group");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct spool_group g = {
            .hook = spool_col(st, 0),
            .group = spool_col(st, 1),
            .firing = (unsigned)sqlite3_column_int64(st, 2),
            .updated = sqlite3_column_int64(st, 3),
        };

        if (g.hook && g.group && (ret = group(arg, &g)) != 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = spool_fail(s, rc, "reading alert_group");
    sqlite3_finalize(st);
    return ret;
}

/* ---- heartbeats (lifecycle.c) ------------------------------------------- */

static void spool_beat_bind(sqlite3_stmt *st, const void *arg)
{
    const struct spool_beat *b = arg;

    spool_bind_text(st, 1, b->hook);
    sqlite3_bind_int64(st, 2, b->last_ms);
    sqlite3_bind_int(st, 3, b->missing != 0);
}

int spool_beat_put(struct spool *s, const struct spool_beat *b)
{
    return spool_life_run(s,
                          "INSERT OR REPLACE INTO heartbeat (hook, last_ms,"
                          " missing) VALUES (?,?,?)",
                          spool_beat_bind, b, "INSERT heartbeat");
}

static void spool_hook_bind(sqlite3_stmt *st, const void *arg)
{
    spool_bind_text(st, 1, arg);
}

int spool_beat_delete(struct spool *s, const char *hook)
{
    return spool_life_run(s, "DELETE FROM heartbeat WHERE hook = ?",
                          spool_hook_bind, hook, "DELETE heartbeat");
}

int spool_beat_load(struct spool *s,
                    int (*fn)(void *arg, const struct spool_beat *b),
                    void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc, ret = 0;

    rc = sqlite3_prepare_v2(s->db,
                            "SELECT hook, last_ms, missing FROM heartbeat"
                            " ORDER BY hook",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return spool_fail(s, rc, "reading heartbeat");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct spool_beat b = {
            .hook = spool_col(st, 0),
            .last_ms = sqlite3_column_int64(st, 1),
            .missing = sqlite3_column_int(st, 2) != 0,
        };

        if (b.hook && (ret = fn(arg, &b)) != 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = spool_fail(s, rc, "reading heartbeat");
    sqlite3_finalize(st);
    return ret;
}
