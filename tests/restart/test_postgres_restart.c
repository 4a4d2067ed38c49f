/*  A real PostgreSQL restart (deploy/stack.sh db-restart): connections
    recover by themselves and nothing committed is lost. Runs alone, after
    the other suites, since it takes the server away from everyone. */
#include "pbtest.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

static int s_append (pb_db_t *db, void *arg)
{
    (void)arg;
    int64_t seq = pb_eventlog_append (db, "test.restart", "x", 1);
    if (seq < 0)
        return -1;
    return pb_eventlog_cursor_set (db, "restart-consumer", "test.restart", seq);
}

Test (restart, handles_recover_after_postgres_restarts_and_keep_committed_state, .timeout = 120)
{
    pb_log_init ("test", PB_LOG_WARN);
    char *url = pbtest_database_new (true);
    pb_db_t *db = pbtest_connect (url);
    cr_assert_eq (pb_db_transaction (db, s_append, NULL), 0);

    char *stack = pbtest_repo_path ("deploy/stack.sh");
    char command[4200];
    snprintf (command, sizeof command, "%s db-restart", stack);
    cr_assert_eq (pbtest_shell (command), 0, "PostgreSQL did not restart");

    //  The old connection is dead; the handle notices and reconnects.
    cr_assert_eq (pb_eventlog_head (db, "test.restart"), 1, "%s", pb_db_error (db));
    cr_assert_geq (pb_db_reconnects (db), 1);
    cr_assert_eq (pb_eventlog_cursor (db, "restart-consumer", "test.restart"), 1);

    //  A transaction on the restarted server commits as usual.
    cr_assert_eq (pb_db_transaction (db, s_append, NULL), 0, "%s", pb_db_error (db));
    cr_assert_eq (pb_eventlog_head (db, "test.restart"), 2);
    pb_db_destroy (&db);
    free (stack);
    free (url);
}
