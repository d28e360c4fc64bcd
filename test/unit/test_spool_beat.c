/* SPDX-License-Identifier: MIT */
/* test_spool_beat.c -- the spool's heartbeat table (lifecycle.c keeps each
 * heartbeat hook's last webhook and missing state there): a spool made by
 * an older xmta, without the table, gets it; rows are replaced, deleted
 * and read back after a reopen; no write inside a delivery transaction;
 * the lifecycle's writes keep the connection's synchronous setting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "component/spool.h"
#include "xml/err.h"

static char g_dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/xmta-spool-beat.XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    return system(cmd);
}

/* The rows read back, as "hook=last_ms/missing;" in load order. */
static char g_rows[512];

static int collect(void *arg, const struct spool_beat *b)
{
    size_t n = strlen(g_rows);

    (void)arg;
    snprintf(g_rows + n, sizeof(g_rows) - n, "%s=%lld/%d;", b->hook,
             (long long)b->last_ms, b->missing);
    return 0;
}

static int stop_at_first(void *arg, const struct spool_beat *b)
{
    (void)b;
    ++*(int *)arg;
    return 42;
}

static const char *rows(struct spool *s)
{
    g_rows[0] = '\0';
    assert_int_equal(spool_beat_load(s, collect, NULL), 0);
    return g_rows;
}

/* A spool.db of the last release: delivery with the alert columns and
 * the two alert tables, no heartbeat table. */
static void old_spool(void)
{
    char path[128];
    sqlite3 *db;

    snprintf(path, sizeof(path), "%s/spool.db", g_dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(
            db,
            "PRAGMA journal_mode=WAL;"
            "CREATE TABLE delivery (seq INTEGER PRIMARY KEY, created INTEGER "
            "NOT NULL, id TEXT NOT NULL, hook TEXT NOT NULL, bot TEXT NOT "
            "NULL, nick TEXT, rcpt TEXT NOT NULL, room INTEGER NOT NULL, type "
            "INTEGER NOT NULL, subject TEXT, body TEXT NOT NULL, grp TEXT, "
            "alert INTEGER NOT NULL DEFAULT 0, firing INTEGER NOT NULL "
            "DEFAULT 0);"
            "CREATE TABLE alert_sent (bot TEXT NOT NULL, grp TEXT NOT NULL, "
            "rcpt TEXT NOT NULL, first_id TEXT NOT NULL, last_id TEXT NOT "
            "NULL, state INTEGER NOT NULL, firing INTEGER NOT NULL, updated "
            "INTEGER NOT NULL, PRIMARY KEY (bot, grp, rcpt));"
            "CREATE TABLE alert_group (hook TEXT NOT NULL, grp TEXT NOT NULL, "
            "firing INTEGER NOT NULL, updated INTEGER NOT NULL, PRIMARY KEY "
            "(hook, grp));"
            "INSERT INTO alert_group VALUES ('am', '{}:{a}', 2, 1)",
            NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
}

static void test_beat_table(void **state)
{
    struct spool *s;
    struct spool_beat wd = {"wd", 1700000000123LL, 0};
    struct spool_beat dms = {"dms", 1700000005000LL, 1};
    char err[256];
    int calls = 0;

    (void)state;
    old_spool();
    assert_int_equal(spool_open(g_dir, &s, err, sizeof(err)), 0);
    assert_string_equal(rows(s), "");
    assert_int_equal(spool_beat_put(s, &wd), 0);
    assert_int_equal(spool_beat_put(s, &dms), 0);
    wd.last_ms += 60000; /* replaces the row */
    wd.missing = 1;
    assert_int_equal(spool_beat_put(s, &wd), 0);
    assert_string_equal(rows(s), "dms=1700000005000/1;wd=1700000060123/1;");
    /* a non-zero return stops the walk and is returned */
    assert_int_equal(spool_beat_load(s, stop_at_first, &calls), 42);
    assert_int_equal(calls, 1);
    /* not inside a transaction of deliveries */
    assert_int_equal(spool_begin(s), 0);
    assert_int_equal(spool_beat_put(s, &dms), XMTA_E_STATE);
    assert_int_equal(spool_beat_delete(s, "dms"), XMTA_E_STATE);
    spool_rollback(s);
    spool_close(s);

    assert_int_equal(spool_open(g_dir, &s, err, sizeof(err)), 0);
    assert_string_equal(rows(s), "dms=1700000005000/1;wd=1700000060123/1;");
    assert_int_equal(spool_beat_delete(s, "dms"), 0);
    assert_int_equal(spool_beat_delete(s, "nothing"), 0);
    wd.missing = 0;
    assert_int_equal(spool_beat_put(s, &wd), 0);
    spool_close(s);
    assert_int_equal(spool_open(g_dir, &s, err, sizeof(err)), 0);
    assert_string_equal(rows(s), "wd=1700000060123/0;");
    spool_close(s);
}

/* The lifecycle's writes leave the connection's synchronous setting as
 * spool_open chose it: NORMAL in WAL mode, where the fdatasync of each
 * commit is the spool's own (its thread); FULL there would sync the WAL
 * inside every later COMMIT as well, on the event loop. */
static void test_life_writes_keep_synchronous(void **state)
{
    struct spool *s;
    struct spool_beat wd = {"wd", 1, 0};
    struct spool_group g = {"am", "{}:{a}", 1, 1};
    char err[256];
    int mode;

    (void)state;
    assert_int_equal(spool_open(g_dir, &s, err, sizeof(err)), 0);
    mode = spool_synchronous(s);
    assert_true(mode == 1 || mode == 2);
    assert_int_equal(spool_beat_put(s, &wd), 0);
    assert_int_equal(spool_synchronous(s), mode);
    assert_int_equal(spool_group_put(s, &g), 0);
    assert_int_equal(spool_life_expire(s, 0), 0);
    assert_int_equal(spool_synchronous(s), mode);
    spool_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_beat_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_life_writes_keep_synchronous,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
