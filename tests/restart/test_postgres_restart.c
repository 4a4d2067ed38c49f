/*  A real PostgreSQL restart (deploy/stack.sh db-restart): connections
    recover by themselves, nothing committed is lost, and votes sent through
    it are counted once. Runs alone, after the other suites, since it takes
    the server away from everyone. */
#include "pbtest.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
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

/* ==== Votes through a restart ==== */

#define STORM_PAPERS 50
#define STORM_VOTES  1500

typedef struct {
    pb_config_t *config;
    volatile int done; //  votes acknowledged so far
} storm_t;

static void s_vote_body (int n, msgpack_sbuffer *body)
{
    char paper[32], user[32];
    snprintf (paper, sizeof paper, "r%05d", n % STORM_PAPERS);
    snprintf (user, sizeof user, "user-%d", n / STORM_PAPERS);
    msgpack_sbuffer_clear (body);
    msgpack_packer packer;
    msgpack_packer_init (&packer, body, msgpack_sbuffer_write);
    pb_vote_request_t request = {.paper = pb_str (paper), .user = pb_str (user)};
    pb_encode (&pb_vote_request_schema, &request, &packer);
}

//  Sends every vote until it is acknowledged, whatever comes back meanwhile.
static void *s_storm (void *arg)
{
    storm_t *storm = arg;
    pb_client_t *client = pb_client_new (storm->config);
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    int64_t deadline = zclock_mono () + 90000;
    for (int n = 0; n < STORM_VOTES && zclock_mono () < deadline;) {
        s_vote_body (n, &body);
        pb_reply_t reply = {0};
        if (pb_client_call (client, "rank.vote", body.data, body.size, 2000, 2, &reply) == 0 &&
            reply.status == PB_OK)
            storm->done = ++n;
        else
            zclock_sleep (50); //  not stored: the same vote again
        pb_reply_reset (&reply);
    }
    msgpack_sbuffer_destroy (&body);
    pb_client_destroy (&client);
    return NULL;
}

//  The upvotes rank answers for every paper, summed; -1 on failure.
static int64_t s_upvotes_total (pb_config_t *config)
{
    pb_client_t *client = pb_client_new (config);
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &body, msgpack_sbuffer_write);
    pb_str_t ids[STORM_PAPERS];
    char names[STORM_PAPERS][16];
    for (int p = 0; p < STORM_PAPERS; p++) {
        snprintf (names[p], sizeof names[p], "r%05d", p);
        ids[p] = pb_str (names[p]);
    }
    pb_votes_request_t request = {.papers = {ids, STORM_PAPERS}};
    pb_encode (&pb_votes_request_schema, &request, &packer);
    pb_reply_t reply = {0};
    int64_t total = -1;
    if (pb_client_call (client, "rank.votes", body.data, body.size, 3000, 1, &reply) == 0 &&
        reply.status == PB_OK) {
        pb_arena_t *arena = pb_arena_new ();
        pb_votes_reply_t votes;
        pb_codec_error_t error;
        if (pb_decode (zframe_data (reply.body), zframe_size (reply.body), 1 << 20,
                       &pb_votes_reply_schema, &votes, arena, &error) == 0) {
            total = 0;
            for (uint32_t i = 0; i < votes.papers.count; i++)
                total += ((pb_ranked_paper_t *)votes.papers.items)[i].upvotes;
        }
        pb_arena_destroy (&arena);
    }
    pb_reply_reset (&reply);
    msgpack_sbuffer_destroy (&body);
    pb_client_destroy (&client);
    return total;
}

static int64_t s_count (pb_db_t *db, const char *sql)
{
    PGresult *result = pb_db_query (db, sql, NULL);
    cr_assert_not_null (result, "%s", pb_db_error (db));
    int64_t count = strtoll (PQgetvalue (result, 0, 0), NULL, 10);
    PQclear (result);
    return count;
}

Test (restart, votes_through_a_postgres_restart_are_counted_once, .timeout = 180)
{
    pb_log_init ("test", PB_LOG_ERROR);
    pbtest_bus_environment (200, 2000);
    char *url = pbtest_database_new (true);
    setenv ("PAPERBUS_DATABASE_URL", url, 1);
    pb_db_t *db = pbtest_connect (url);
    cr_assert_eq (pb_db_script (db, "INSERT INTO paper (id, version, title, source, listed)"
                                    " SELECT 'r' || lpad (g::text, 5, '0'), 1, 'Paper ' || g,"
                                    "  'test', DATE '2026-05-21'"
                                    " FROM generate_series (0, 49) g"),
                  0, "%s", pb_db_error (db));
    pid_t bus = pbtest_bus_start ();
    char *program = pbtest_program ("rank");
    char *argv[] = {program, NULL};
    pid_t ranks[2] = {pbtest_spawn (argv, NULL, NULL), pbtest_spawn (argv, NULL, NULL)};
    pbtest_wait_for_workers ("rank", 2);
    pb_config_t *config = pbtest_config ();

    storm_t storm = {config, 0};
    pthread_t thread;
    pthread_create (&thread, NULL, s_storm, &storm);
    while (storm.done < STORM_VOTES / 4)
        zclock_sleep (10);
    char *stack = pbtest_repo_path ("deploy/stack.sh");
    char command[4200];
    snprintf (command, sizeof command, "%s db-restart", stack);
    cr_assert_eq (pbtest_shell (command), 0, "PostgreSQL did not restart");
    int before_the_end = storm.done;
    pthread_join (thread, NULL);
    cr_assert_lt (before_the_end, STORM_VOTES, "the storm was over before the restart");
    cr_assert_eq (storm.done, STORM_VOTES, "only %d votes were acknowledged", storm.done);

    //  Each vote stored once, with one event; both workers count them all.
    cr_assert_eq (s_count (db, "SELECT count(*) FROM vote"), STORM_VOTES);
    cr_assert_eq (s_count (db, "SELECT count(*) FROM event_log WHERE topic = 'vote.cast'"),
                  STORM_VOTES);
    for (int w = 0; w < 2; w++) {
        int64_t total = -1;
        for (int attempt = 0; attempt < 100 && total != STORM_VOTES; attempt++) {
            total = s_upvotes_total (config);
            if (total != STORM_VOTES)
                zclock_sleep (100);
        }
        cr_assert_eq (total, STORM_VOTES, "rank counts %lld votes", (long long)total);
        //  Then the other worker alone.
        kill (ranks[w], SIGTERM);
        cr_assert_eq (pbtest_wait (ranks[w], 10000), 0);
    }
    kill (bus, SIGTERM);
    pbtest_wait (bus, 10000);
    pb_config_destroy (&config);
    pb_db_destroy (&db);
    free (stack);
    free (program);
    free (url);
}
