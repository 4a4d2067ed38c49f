/*  paperctl as a real process: migrate, follow the event log and stop
    cleanly on SIGTERM, refuse an invalid configuration by name; vote and
    read the lists against real services. */
#include "pbtest.h"

#include <criterion/criterion.h>
#include <jansson.h>
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

//  Runs paperctl with ARGS (a shell word list) and returns its stdout
//  (the caller frees it); *STATUS gets its exit status.
static char *s_paperctl (const char *args, int *status)
{
    char *program = pbtest_program ("paperctl");
    char output[] = "/tmp/pbtest-paperctl-XXXXXX";
    close (mkstemp (output));
    char command[8192];
    snprintf (command, sizeof command, "%s %s >%s 2>&1", program, args, output);
    *status = pbtest_shell (command);
    char *text = pbtest_read_file (output, NULL);
    unlink (output);
    free (program);
    return text;
}

//  The hits of `paperctl trending ARGS --json`, once every hit has a title.
static json_t *s_trending (const char *args)
{
    char command[512];
    snprintf (command, sizeof command, "trending %s --json", args);
    for (int attempt = 0; attempt < 100; attempt++) {
        int status;
        char *text = s_paperctl (command, &status);
        json_t *json = status == 0 ? json_loads (text, 0, NULL) : NULL;
        free (text);
        bool titled = json != NULL;
        size_t i;
        json_t *hit;
        json_array_foreach (json_object_get (json, "hits"), i, hit) titled =
            titled && json_object_get (hit, "title");
        if (titled)
            return json;
        json_decref (json);
        usleep (100 * 1000);
    }
    cr_assert_fail ("paperctl %s never listed indexed papers", command);
    return NULL;
}

static void s_expect_hit (json_t *trending, size_t at, const char *id, int upvotes)
{
    json_t *hit = json_array_get (json_object_get (trending, "hits"), at);
    cr_assert_not_null (hit, "no hit %zu", at);
    cr_assert_str_eq (json_string_value (json_object_get (hit, "id")), id, "hit %zu", at);
    cr_assert_eq (json_integer_value (json_object_get (hit, "upvotes")), upvotes, "hit %zu", at);
}

Test (paperctl, vote_unvote_and_trending_show_the_lists_as_search_hits_with_upvotes)
{
    pb_log_init ("test", PB_LOG_ERROR);
    pbtest_bus_environment (200, 2000);
    char *url = pbtest_database_new (true);
    setenv ("PAPERBUS_DATABASE_URL", url, 1);
    pid_t bus = pbtest_bus_start ();
    pid_t services[3];
    const char *names[] = {"ingest", "index", "rank"};
    for (int s = 0; s < 3; s++) {
        char *program = pbtest_program (names[s]);
        char *argv[] = {program, NULL};
        services[s] = pbtest_spawn (argv, NULL, NULL);
        free (program);
        pbtest_wait_for_workers (names[s], 1);
    }
    char papers[] = "/tmp/pbtest-vote-XXXXXX";
    int fd = mkstemp (papers);
    dprintf (fd, "{\"id\":\"2605.00001\",\"title\":\"Alpha\",\"authors\":[\"A. One\"],"
                 "\"categories\":[\"cs.LG\"],\"published\":\"2026-05-21\"}\n"
                 "{\"id\":\"2605.00002\",\"title\":\"Beta\",\"authors\":[\"B. Two\"],"
                 "\"published\":\"2026-05-21\"}\n"
                 "{\"id\":\"2605.00003\",\"title\":\"Gamma\",\"authors\":[\"C. Three\"],"
                 "\"published\":\"2026-05-22\"}\n");
    close (fd);
    char args[256];
    snprintf (args, sizeof args, "ingest %s", papers);
    int status;
    free (s_paperctl (args, &status));
    cr_assert_eq (status, 0);

    char *text = s_paperctl ("vote 2605.00002v1 --user ada", &status);
    cr_assert_eq (status, 0, "%s", text);
    cr_assert_str_eq (text, "2605.00002: 1 upvote (vote counted)\n");
    free (text);
    text = s_paperctl ("vote 2605.00002 --user ada", &status);
    cr_assert_str_eq (text, "2605.00002: 1 upvote (already counted)\n");
    free (text);
    free (s_paperctl ("vote 2605.00002 --user bob", &status));
    free (s_paperctl ("vote 2605.00001 --user bob", &status));

    //  The day's list: by upvotes, the papers of that day only, as search hits.
    json_t *day = s_trending ("--window day --date 2026-05-21");
    cr_assert_eq (json_integer_value (json_object_get (day, "total")), 2);
    cr_assert_str_eq (json_string_value (json_object_get (day, "first_day")), "2026-05-21");
    s_expect_hit (day, 0, "2605.00002", 2);
    s_expect_hit (day, 1, "2605.00001", 1);
    json_t *hit = json_array_get (json_object_get (day, "hits"), 1);
    cr_assert_str_eq (json_string_value (json_object_get (hit, "title")), "Alpha");
    cr_assert_str_eq (json_string_value (json_array_get (json_object_get (hit, "authors"), 0)),
                      "A. One");
    cr_assert_str_eq (json_string_value (json_array_get (json_object_get (hit, "categories"), 0)),
                      "cs.LG");
    cr_assert_str_eq (json_string_value (json_object_get (hit, "published")), "2026-05-21");
    cr_assert (json_number_value (json_object_get (hit, "score")) > 0.99);
    json_decref (day);
    //  The week holds both days.
    json_t *week = s_trending ("--window week --date 2026-05-22 --user bob");
    cr_assert_eq (json_integer_value (json_object_get (week, "total")), 3);
    s_expect_hit (week, 2, "2605.00003", 0);
    cr_assert (json_is_true (
        json_object_get (json_array_get (json_object_get (week, "hits"), 0), "voted")));
    cr_assert (json_is_false (
        json_object_get (json_array_get (json_object_get (week, "hits"), 2), "voted")));
    json_decref (week);

    text = s_paperctl ("unvote 2605.00002 --user ada", &status);
    cr_assert_str_eq (text, "2605.00002: 1 upvote (vote withdrawn)\n");
    free (text);
    json_t *trending = s_trending ("--limit 5");
    cr_assert_eq (json_integer_value (json_object_get (trending, "total")), 2);
    s_expect_hit (trending, 0, "2605.00001", 1); //  one vote each: ties go by id
    s_expect_hit (trending, 1, "2605.00002", 1);
    json_decref (trending);

    text = s_paperctl ("trending --window year", &status);
    cr_assert_neq (status, 0);
    cr_assert (strstr (text, "window: 'year' is not day, week, month or trending"), "%s", text);
    free (text);
    text = s_paperctl ("vote 2605.09999 --user ada", &status);
    cr_assert_neq (status, 0);
    cr_assert (strstr (text, "paper '2605.09999' is not known"), "%s", text);
    free (text);

    unlink (papers);
    for (int s = 0; s < 3; s++) {
        kill (services[s], SIGTERM);
        cr_assert_eq (pbtest_wait (services[s], 10000), 0, "%s did not stop cleanly", names[s]);
    }
    kill (bus, SIGTERM);
    pbtest_wait (bus, 10000);
    free (url);
}
