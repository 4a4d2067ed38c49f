/*  pb_db against a real PostgreSQL: parameters travel as values, arrays in
    binary, transactions commit, roll back, and are run again after deadlocks
    and lost connections. */
#include "pbtest.h"

#include <criterion/criterion.h>
#include <czmq.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static char *s_url;
static pb_db_t *s_db;

static void s_setup (void)
{
    pb_log_init ("test", PB_LOG_WARN);
    s_url = pbtest_database_new (false);
    s_db = pbtest_connect (s_url);
    cr_assert_eq (pb_db_script (s_db,
                                "CREATE TABLE note (id int PRIMARY KEY, body text, raw bytea);"
                                "INSERT INTO note VALUES (1, 'one', NULL), (2, 'two', NULL)"),
                  0, "%s", pb_db_error (s_db));
}

static void s_teardown (void)
{
    pb_db_destroy (&s_db);
    free (s_url);
}

TestSuite (db, .init = s_setup, .fini = s_teardown, .timeout = 60);

Test (db, parameters_are_values_never_sql)
{
    const char *hostile = "'); DROP TABLE note; --";
    const char raw[] = {'\0', '\x01', '\xff', '\0'};
    pb_db_params_t params = {0};
    pb_db_params_int (&params, 3);
    pb_db_params_text (&params, hostile);
    pb_db_params_bytes (&params, raw, sizeof raw);
    cr_assert_eq (pb_db_run (s_db, "INSERT INTO note VALUES ($1, $2, $3)", &params), 1, "%s",
                  pb_db_error (s_db));

    pb_db_params_t lookup = {.binary_result = true};
    pb_db_params_int (&lookup, 3);
    PGresult *result = pb_db_query (s_db, "SELECT body, raw FROM note WHERE id = $1", &lookup);
    cr_assert (result, "%s", pb_db_error (s_db));
    cr_assert_eq (PQntuples (result), 1);
    cr_assert_str_eq (PQgetvalue (result, 0, 0), hostile);
    cr_assert_eq (PQgetlength (result, 0, 1), (int)sizeof raw);
    cr_assert_eq (memcmp (PQgetvalue (result, 0, 1), raw, sizeof raw), 0);
    PQclear (result);
    cr_assert_eq (pb_db_run (s_db, "SELECT 1 FROM note", NULL), 3);
}

Test (db, null_text_parameter_is_sql_null)
{
    pb_db_params_t params = {0};
    pb_db_params_int (&params, 4);
    pb_db_params_text (&params, NULL);
    cr_assert_eq (pb_db_run (s_db, "INSERT INTO note (id, body) VALUES ($1, $2)", &params), 1);
    cr_assert_eq (pb_db_run (s_db, "SELECT 1 FROM note WHERE id = 4 AND body IS NULL", NULL), 1);
}

Test (db, array_parameters_carry_a_whole_batch)
{
    pb_db_array_t *ids = pb_db_array_new (PB_DB_INT8);
    pb_db_array_t *bodies = pb_db_array_new (PB_DB_TEXT);
    const char *texts[] = {"", "naïve résumé", "a\ttab"};
    for (int i = 0; i < 3; i++) {
        pb_db_array_add_int (ids, 10 + i);
        pb_db_array_add (bodies, texts[i], strlen (texts[i]));
    }
    pb_db_params_t params = {0};
    pb_db_params_array (&params, ids);
    pb_db_params_array (&params, bodies);
    cr_assert_eq (
        pb_db_run (s_db,
                   "INSERT INTO note (id, body) SELECT * FROM unnest ($1::int8[], $2::text[])",
                   &params),
        3, "%s", pb_db_error (s_db));
    PGresult *result = pb_db_query (s_db, "SELECT body FROM note WHERE id >= 10 ORDER BY id", NULL);
    cr_assert_eq (PQntuples (result), 3);
    for (int i = 0; i < 3; i++)
        cr_assert_str_eq (PQgetvalue (result, i, 0), texts[i]);
    PQclear (result);
    pb_db_array_destroy (&ids);
    pb_db_array_destroy (&bodies);

    pb_db_array_t *empty = pb_db_array_new (PB_DB_TEXT);
    pb_db_params_t none = {0};
    pb_db_params_array (&none, empty);
    cr_assert_eq (pb_db_run (s_db, "SELECT * FROM unnest ($1::text[])", &none), 0, "%s",
                  pb_db_error (s_db));
    pb_db_array_destroy (&empty);
}

Test (db, sql_errors_report_sqlstate_and_message)
{
    cr_assert_null (pb_db_query (s_db, "SELECT no_such_column FROM note", NULL));
    cr_assert_str_eq (pb_db_sqlstate (s_db), "42703");
    cr_assert (strstr (pb_db_error (s_db), "no_such_column"));
    //  The connection is still usable afterwards.
    cr_assert_eq (pb_db_run (s_db, "SELECT 1", NULL), 1);
    cr_assert_str_eq (pb_db_sqlstate (s_db), "");
}

static int s_insert_then_refuse (pb_db_t *db, void *arg)
{
    (void)arg;
    pb_db_run (db, "INSERT INTO note (id, body) VALUES (20, 'never')", NULL);
    return -1;
}

Test (db, transaction_body_failure_rolls_back)
{
    cr_assert_eq (pb_db_transaction (s_db, s_insert_then_refuse, NULL), -1);
    cr_assert_eq (pb_db_run (s_db, "SELECT 1 FROM note WHERE id = 20", NULL), 0);
}

static int s_ignore_an_error (pb_db_t *db, void *arg)
{
    (void)arg;
    pb_db_run (db, "INSERT INTO note (id, body) VALUES (1, 'duplicate key')", NULL);
    pb_db_run (db, "INSERT INTO note (id, body) VALUES (21, 'after the error')", NULL);
    return 0;
}

Test (db, transaction_that_ignored_an_error_does_not_report_success)
{
    cr_assert_eq (pb_db_transaction (s_db, s_ignore_an_error, NULL), -1);
    cr_assert_str_eq (pb_db_sqlstate (s_db), "23505");
    cr_assert_eq (pb_db_run (s_db, "SELECT 1 FROM note WHERE id = 21", NULL), 0);
}

typedef struct {
    const char *url;   //  database
    int first, second; //  rows to lock, in this order
    int attempts;      //  how often the body ran
    int result;        //  what pb_db_transaction returned
} deadlock_side_t;

static int s_lock_two_rows (pb_db_t *db, void *arg)
{
    deadlock_side_t *side = arg;
    side->attempts++;
    pb_db_params_t first = {0};
    pb_db_params_int (&first, side->first);
    if (pb_db_run (db, "UPDATE note SET body = body || '+' WHERE id = $1", &first) < 0)
        return -1;
    if (pb_db_run (db, "SELECT pg_sleep (0.3)", NULL) < 0)
        return -1;
    pb_db_params_t second = {0};
    pb_db_params_int (&second, side->second);
    if (pb_db_run (db, "UPDATE note SET body = body || '+' WHERE id = $1", &second) < 0)
        return -1;
    return 0;
}

static void *s_deadlock_thread (void *arg)
{
    deadlock_side_t *side = arg;
    pb_db_t *db = pb_db_new (side->url, "deadlock", 10);
    side->result = db ? pb_db_transaction (db, s_lock_two_rows, side) : -2;
    pb_db_destroy (&db);
    return NULL;
}

Test (db, deadlocked_transaction_is_run_again_and_both_commit)
{
    deadlock_side_t a = {s_url, 1, 2, 0, 0}, b = {s_url, 2, 1, 0, 0};
    pthread_t ta, tb;
    pthread_create (&ta, NULL, s_deadlock_thread, &a);
    pthread_create (&tb, NULL, s_deadlock_thread, &b);
    pthread_join (ta, NULL);
    pthread_join (tb, NULL);
    cr_assert_eq (a.result, 0);
    cr_assert_eq (b.result, 0);
    //  PostgreSQL broke the deadlock by failing one side, which ran again
    //  (under load, it can take more than one round); each effect landed once.
    cr_assert_geq (a.attempts + b.attempts, 3, "attempts %d + %d", a.attempts, b.attempts);
    PGresult *result =
        pb_db_query (s_db, "SELECT body FROM note WHERE id IN (1, 2) ORDER BY id", NULL);
    cr_assert_str_eq (PQgetvalue (result, 0, 0), "one++");
    cr_assert_str_eq (PQgetvalue (result, 1, 0), "two++");
    PQclear (result);
}

//  Kills this session's own backend from a second connection, as a
//  PostgreSQL restart would.
static void s_terminate_backend (pb_db_t *victim)
{
    pb_db_t *killer = pbtest_connect (s_url);
    pb_db_params_t params = {0};
    pb_db_params_int (&params, PQbackendPID (pb_db_connection (victim)));
    cr_assert_eq (pb_db_run (killer, "SELECT pg_terminate_backend ($1::int)", &params), 1);
    pb_db_destroy (&killer);
}

Test (db, statement_after_a_lost_connection_reconnects_transparently)
{
    cr_assert_eq (pb_db_run (s_db, "SELECT 1", NULL), 1);
    s_terminate_backend (s_db);
    cr_assert_eq (pb_db_run (s_db, "SELECT 1 FROM note", NULL), 2, "%s", pb_db_error (s_db));
    cr_assert_eq (pb_db_reconnects (s_db), 1);
}

typedef struct {
    int attempts; //  how often the body ran
} cut_off_t;

static int s_write_and_get_cut_off_once (pb_db_t *db, void *arg)
{
    cut_off_t *state = arg;
    state->attempts++;
    if (pb_db_run (db,
                   "INSERT INTO note (id, body) VALUES (30, 'exactly once') ON CONFLICT DO NOTHING",
                   NULL) < 0)
        return -1;
    if (state->attempts == 1)
        s_terminate_backend (db);
    return pb_db_run (db, "UPDATE note SET body = body || '!' WHERE id = 30", NULL) < 0 ? -1 : 0;
}

Test (db, transaction_cut_off_by_a_lost_connection_runs_again_whole)
{
    cut_off_t state = {0};
    cr_assert_eq (pb_db_transaction (s_db, s_write_and_get_cut_off_once, &state), 0, "%s",
                  pb_db_error (s_db));
    cr_assert_eq (state.attempts, 2);
    PGresult *result = pb_db_query (s_db, "SELECT body FROM note WHERE id = 30", NULL);
    cr_assert_str_eq (PQgetvalue (result, 0, 0), "exactly once!");
    PQclear (result);
}

Test (db, unreachable_server_gives_up_after_the_timeout)
{
    int64_t start = zclock_mono ();
    pb_db_t *db = pb_db_new ("postgresql://nobody@127.0.0.1:1/none", "unreachable", 1);
    cr_assert_null (db);
    cr_assert_lt (zclock_mono () - start, 5000);
}

static int s_write_then_lose_the_connection_before_commit (pb_db_t *db, void *arg)
{
    cut_off_t *state = arg;
    state->attempts++;
    if (pb_db_run (db, "INSERT INTO note (id, body) VALUES (40, 'committed once')", NULL) < 0)
        return -1;
    if (state->attempts == 1)
        s_terminate_backend (db);
    return 0; //  the body is done; the connection dies before COMMIT
}

Test (db, commit_on_a_lost_connection_is_never_reported_as_success)
{
    cut_off_t state = {0};
    cr_assert_eq (pb_db_transaction (s_db, s_write_then_lose_the_connection_before_commit, &state),
                  0, "%s", pb_db_error (s_db));
    cr_assert_eq (state.attempts, 2, "the lost COMMIT must run the body again");
    cr_assert_eq (pb_db_run (s_db, "SELECT 1 FROM note WHERE id = 40", NULL), 1);
    cr_assert_str_eq (pb_db_sqlstate (s_db), "", "a success leaves no stale error behind");
}
