/*  Migrations: applied once each, a second run is a no-op, concurrent
    runners apply each exactly once, a failing one leaves nothing behind, and
    an applied file that changed is refused. */
#include "pbtest.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char *s_url;

static void s_setup (void)
{
    pb_log_init ("test", PB_LOG_ERROR);
    s_url = pbtest_database_new (false);
}

static void s_teardown (void)
{
    free (s_url);
}

TestSuite (migrate, .init = s_setup, .fini = s_teardown, .timeout = 60);

static int64_t s_count (pb_db_t *db, const char *sql)
{
    PGresult *result = pb_db_query (db, sql, NULL);
    cr_assert (result, "%s: %s", sql, pb_db_error (db));
    int64_t count = strtoll (PQgetvalue (result, 0, 0), NULL, 10);
    PQclear (result);
    return count;
}

Test (migrate, shipped_migrations_apply_once_and_twice_is_a_no_op)
{
    pb_db_t *db = pbtest_connect (s_url);
    int applied = -1;
    cr_assert_eq (pb_migrate (db, pb_migrations, pb_migration_count, &applied), 0);
    cr_assert_eq (applied, (int)pb_migration_count);
    cr_assert_eq (pb_migrate (db, pb_migrations, pb_migration_count, &applied), 0);
    cr_assert_eq (applied, 0);
    cr_assert_eq (s_count (db, "SELECT count(*) FROM schema_migrations"),
                  (int64_t)pb_migration_count);
    cr_assert_eq (s_count (db, "SELECT count(*) FROM event_topic"), 0);
    pb_db_destroy (&db);
}

static const pb_migration_t s_counting[] = {
    {"0001_hits", "CREATE TABLE hits (migration int NOT NULL); INSERT INTO hits VALUES (1);"},
    {"0002_slow", "SELECT pg_sleep (0.2); INSERT INTO hits VALUES (2);"},
    {"0003_more", "INSERT INTO hits VALUES (3);"},
};

Test (migrate, concurrent_runners_apply_each_migration_exactly_once)
{
    enum { RUNNERS = 4 };
    pid_t children[RUNNERS];
    for (int i = 0; i < RUNNERS; i++) {
        children[i] = fork ();
        cr_assert_geq (children[i], 0);
        if (children[i] == 0) {
            pb_db_t *db = pb_db_new (s_url, "migrator", 10);
            int rc = db ? pb_migrate (db, s_counting, 3, NULL) : -1;
            pb_db_destroy (&db);
            _exit (rc == 0 ? 0 : 1);
        }
    }
    for (int i = 0; i < RUNNERS; i++) {
        int status;
        waitpid (children[i], &status, 0);
        cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0, "runner %d failed", i);
    }
    pb_db_t *db = pbtest_connect (s_url);
    cr_assert_eq (s_count (db, "SELECT count(*) FROM hits"), 3);
    cr_assert_eq (s_count (db, "SELECT count(DISTINCT migration) FROM hits"), 3);
    cr_assert_eq (s_count (db, "SELECT count(*) FROM schema_migrations"), 3);
    pb_db_destroy (&db);
}

Test (migrate, failing_migration_leaves_nothing_and_stops_the_rest)
{
    const pb_migration_t list[] = {
        {"0001_good", "CREATE TABLE good (n int);"},
        {"0002_bad", "CREATE TABLE half_done (n int); SELECT no_such_function ();"},
        {"0003_after", "CREATE TABLE after_bad (n int);"},
    };
    pb_db_t *db = pbtest_connect (s_url);
    int applied = -1;
    cr_assert_eq (pb_migrate (db, list, 3, &applied), -1);
    cr_assert_eq (applied, 1);
    cr_assert_eq (s_count (db, "SELECT count(*) FROM schema_migrations"), 1);
    cr_assert_eq (
        s_count (db,
                 "SELECT count(*) FROM pg_tables WHERE tablename IN ('half_done', 'after_bad')"),
        0);
    pb_db_destroy (&db);
}

Test (migrate, edited_applied_migration_is_refused)
{
    const pb_migration_t original[] = {{"0001_t", "CREATE TABLE t (n int);"}};
    const pb_migration_t edited[] = {{"0001_t", "CREATE TABLE t (n bigint);"}};
    pb_db_t *db = pbtest_connect (s_url);
    cr_assert_eq (pb_migrate (db, original, 1, NULL), 0);
    cr_assert_eq (pb_migrate (db, edited, 1, NULL), -1);
    cr_assert_eq (pb_migrate (db, original, 1, NULL), 0);
    pb_db_destroy (&db);
}
