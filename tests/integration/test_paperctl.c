/*  paperctl as a real process: migrate, follow the event log and stop
    cleanly on SIGTERM, refuse an invalid configuration by name. */
#include "pbtest.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TestSuite (paperctl, .timeout = 60);

static char *s_env (const char *name, const char *value)
{
    char *assignment;
    cr_assert_geq (asprintf (&assignment, "%s=%s", name, value), 0);
    return assignment;
}

Test (paperctl, migrate_creates_the_schema_then_has_nothing_to_do)
{
    char *url = pbtest_database_new (false);
    char *program = pbtest_program ("paperctl");
    char *env[] = {s_env ("PAPERBUS_DATABASE_URL", url), s_env ("PAPERBUS_LOG_LEVEL", "error"),
                   NULL};
    char *argv[] = {program, "migrate", NULL};
    char output[] = "/tmp/pbtest-migrate-XXXXXX";
    close (mkstemp (output));
    cr_assert_eq (pbtest_wait (pbtest_spawn (argv, env, output), 30000), 0);
    char *text = pbtest_read_file (output, NULL);
    char expected[64];
    snprintf (expected, sizeof expected, "%zu migration(s) applied now", pb_migration_count);
    cr_assert (strstr (text, expected), "output: %s", text);
    free (text);
    cr_assert_eq (pbtest_wait (pbtest_spawn (argv, env, output), 30000), 0);
    text = pbtest_read_file (output, NULL);
    cr_assert (strstr (text, "0 migration(s) applied now"), "output: %s", text);
    free (text);
    unlink (output);
    free (env[0]);
    free (env[1]);
    free (program);
    free (url);
}

static int s_append_event (pb_db_t *db, void *arg)
{
    return pb_eventlog_append (db, "paper.ingested", arg, strlen (arg)) < 0 ? -1 : 0;
}

Test (paperctl, events_follow_prints_new_events_and_stops_on_sigterm)
{
    pb_log_init ("test", PB_LOG_WARN);
    char *url = pbtest_database_new (true);
    pb_db_t *db = pbtest_connect (url);
    //  msgpack {"id": "2501.00001"}
    char first[] = "\x81\xa2id\xaa"
                   "2501.00001";
    cr_assert_eq (pb_db_transaction (db, s_append_event, first), 0);

    char *program = pbtest_program ("paperctl");
    char *env[] = {s_env ("PAPERBUS_DATABASE_URL", url), NULL};
    char *argv[] = {program, "events", "paper.ingested", "--follow", NULL};
    char output[] = "/tmp/pbtest-events-XXXXXX";
    close (mkstemp (output));
    pid_t pid = pbtest_spawn (argv, env, output);

    char second[] = "\x81\xa2id\xaa"
                    "2501.00002";
    cr_assert_eq (pb_db_transaction (db, s_append_event, second), 0);
    char *text = NULL;
    for (int waited = 0; waited < 10000; waited += 100) {
        free (text);
        text = pbtest_read_file (output, NULL);
        if (text && strstr (text, "2501.00002"))
            break;
        usleep (100 * 1000);
    }
    cr_assert (strstr (text, "1 paper.ingested {\"id\":\"2501.00001\"}"), "output: %s", text);
    cr_assert (strstr (text, "2 paper.ingested {\"id\":\"2501.00002\"}"), "output: %s", text);
    free (text);

    kill (pid, SIGTERM);
    cr_assert_eq (pbtest_wait (pid, 3000), 0, "paperctl did not exit 0 within 3 s of SIGTERM");
    unlink (output);
    pb_db_destroy (&db);
    free (env[0]);
    free (program);
    free (url);
}

Test (paperctl, invalid_configuration_exits_2_naming_the_variable)
{
    char *program = pbtest_program ("paperctl");
    char command[4200];
    snprintf (command, sizeof command,
              "PAPERBUS_HTTP_PORT=http %s config 2>&1 | grep -q 'PAPERBUS_HTTP_PORT=http: not an "
              "integer' && PAPERBUS_HTTP_PORT=http %s config >/dev/null 2>&1; test $? -eq 2",
              program, program);
    cr_assert_eq (pbtest_shell (command), 0);
    free (program);
}
