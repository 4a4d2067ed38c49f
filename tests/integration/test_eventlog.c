/*  The event log: a topic's events come back in commit order with no holes,
    topics are numbered independently, a reader racing several writers sees
    every committed event exactly once and never one that was rolled back, and
    cursors persist and only move forward. */
#include "pbtest.h"

#include <criterion/criterion.h>
#include <czmq.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static char *s_url;
static pb_db_t *s_db;

static void s_setup (void)
{
    pb_log_init ("test", PB_LOG_WARN);
    s_url = pbtest_database_new (true);
    s_db = pbtest_connect (s_url);
}

static void s_teardown (void)
{
    pb_db_destroy (&s_db);
    free (s_url);
}

TestSuite (eventlog, .init = s_setup, .fini = s_teardown, .timeout = 120);

typedef struct {
    int64_t seqs[16];      //  seqs seen
    char payloads[16][32]; //  payloads seen
    int count;             //  events seen
} collected_t;

static int s_collect (const pb_event_t *event, void *arg)
{
    collected_t *collected = arg;
    collected->seqs[collected->count] = event->seq;
    snprintf (collected->payloads[collected->count], 32, "%.*s", (int)event->size,
              (const char *)event->payload);
    collected->count++;
    return 0;
}

static int s_append_three (pb_db_t *db, void *arg)
{
    int64_t *last = arg;
    const void *payloads[] = {"a", "bb", "ccc"};
    size_t sizes[] = {1, 2, 3};
    *last = pb_eventlog_append_many (db, "paper.ingested", 3, payloads, sizes);
    return *last < 0 || pb_eventlog_append (db, "vote.cast", "v", 1) != 1 ? -1 : 0;
}

Test (eventlog, appended_events_read_back_in_order_numbered_per_topic)
{
    int64_t last = 0;
    cr_assert_eq (pb_db_transaction (s_db, s_append_three, &last), 0, "%s", pb_db_error (s_db));
    cr_assert_eq (last, 3);
    cr_assert_eq (pb_eventlog_head (s_db, "paper.ingested"), 3);
    cr_assert_eq (pb_eventlog_head (s_db, "vote.cast"), 1);
    cr_assert_eq (pb_eventlog_head (s_db, "never.used"), 0);
    collected_t collected = {0};
    cr_assert_eq (pb_eventlog_read (s_db, "paper.ingested", 0, 10, s_collect, &collected), 3);
    cr_assert_eq (collected.seqs[0], 1);
    cr_assert_eq (collected.seqs[2], 3);
    cr_assert_str_eq (collected.payloads[0], "a");
    cr_assert_str_eq (collected.payloads[1], "bb");
    cr_assert_str_eq (collected.payloads[2], "ccc");

    collected_t after = {0};
    cr_assert_eq (pb_eventlog_read (s_db, "paper.ingested", 2, 10, s_collect, &after), 1);
    cr_assert_eq (after.seqs[0], 3);
    collected_t votes = {0};
    cr_assert_eq (pb_eventlog_read (s_db, "vote.cast", 0, 10, s_collect, &votes), 1);
    cr_assert_str_eq (votes.payloads[0], "v");
}

static int s_append_then_refuse (pb_db_t *db, void *arg)
{
    (void)arg;
    pb_eventlog_append (db, "vote.cast", "x", 1);
    return -1;
}

static int s_append_one (pb_db_t *db, void *arg)
{
    int64_t *seq = arg;
    *seq = pb_eventlog_append (db, "vote.cast", "y", 1);
    return *seq < 0 ? -1 : 0;
}

Test (eventlog, rolled_back_events_leave_no_hole)
{
    cr_assert_eq (pb_db_transaction (s_db, s_append_then_refuse, NULL), -1);
    int64_t seq = 0;
    cr_assert_eq (pb_db_transaction (s_db, s_append_one, &seq), 0);
    cr_assert_eq (seq, 1, "the rolled-back event used up seq 1");
    cr_assert_eq (pb_eventlog_head (s_db, "vote.cast"), 1);
}

Test (eventlog, cursor_persists_and_only_moves_forward)
{
    cr_assert_eq (pb_eventlog_cursor (s_db, "index@a", "paper.ingested"), 0);
    cr_assert_eq (pb_eventlog_cursor_set (s_db, "index@a", "paper.ingested", 5), 0);
    cr_assert_eq (pb_eventlog_cursor_set (s_db, "index@a", "paper.ingested", 3), 0);
    cr_assert_eq (pb_eventlog_cursor (s_db, "index@a", "paper.ingested"), 5);
    cr_assert_eq (pb_eventlog_cursor (s_db, "index@a", "vote.cast"), 0);
    cr_assert_eq (pb_eventlog_cursor (s_db, "index@b", "paper.ingested"), 0);
    //  A new connection (a restarted consumer) finds the same cursor.
    pb_db_t *again = pbtest_connect (s_url);
    cr_assert_eq (pb_eventlog_cursor (again, "index@a", "paper.ingested"), 5);
    pb_db_destroy (&again);
}

static int s_move_cursor_then_refuse (pb_db_t *db, void *arg)
{
    (void)arg;
    pb_eventlog_cursor_set (db, "rank", "vote.cast", 9);
    return -1;
}

Test (eventlog, cursor_moved_in_a_rolled_back_transaction_stays)
{
    cr_assert_eq (pb_eventlog_cursor_set (s_db, "rank", "vote.cast", 2), 0);
    cr_assert_eq (pb_db_transaction (s_db, s_move_cursor_then_refuse, NULL), -1);
    cr_assert_eq (pb_eventlog_cursor (s_db, "rank", "vote.cast"), 2);
}

Test (eventlog, bad_topics_are_refused)
{
    char long_topic[200];
    memset (long_topic, 't', sizeof long_topic - 1);
    long_topic[sizeof long_topic - 1] = '\0';
    cr_assert_eq (pb_eventlog_append (s_db, "", "x", 1), -1);
    cr_assert_eq (pb_eventlog_append (s_db, long_topic, "x", 1), -1);
    cr_assert_eq (pb_eventlog_append (s_db, "Paper Ingested", "x", 1), -1);
    cr_assert_eq (pb_eventlog_append (s_db, "paper\n", "x", 1), -1);
    cr_assert (pb_eventlog_topic_valid ("paper.ingested"));
    PGresult *topics = pb_db_query (s_db, "SELECT count(*) FROM event_log", NULL);
    cr_assert_str_eq (PQgetvalue (topics, 0, 0), "0");
    PQclear (topics);
}

/* ==== Concurrent writers, one racing reader ==== */

#define WRITERS      4
#define TRANSACTIONS 120
#define MAX_EVENTS   (WRITERS * TRANSACTIONS * 3)

typedef struct {
    const char *url;     //  database
    int writer;          //  this writer's number
    int transaction;     //  current transaction number
    int pending;         //  events of the transaction being attempted
    int committed;       //  events this writer got committed
    int failures;        //  transactions that failed unexpectedly
    unsigned int random; //  rand_r state
} writer_t;

static atomic_int s_writers_running;

//  Appends 1..3 events, then lingers while holding the log's lock so the
//  reader polls in the middle of open transactions; one in ten rolls back.
static int s_writer_body (pb_db_t *db, void *arg)
{
    writer_t *writer = arg;
    int events = 1 + rand_r (&writer->random) % 3;
    char payloads[3][32];
    const void *bodies[3];
    size_t sizes[3];
    for (int e = 0; e < events; e++) {
        sizes[e] = (size_t)snprintf (payloads[e], 32, "w%d-t%d-e%d", writer->writer,
                                     writer->transaction, e);
        bodies[e] = payloads[e];
    }
    if (pb_eventlog_append_many (db, "test.event", (size_t)events, bodies, sizes) < 0)
        return -1;
    pb_db_params_t params = {0};
    char delay[16];
    snprintf (delay, sizeof delay, "0.00%d", rand_r (&writer->random) % 4);
    pb_db_params_text (&params, delay);
    if (pb_db_run (db, "SELECT pg_sleep ($1::float8)", &params) < 0)
        return -1;
    if (rand_r (&writer->random) % 10 == 0)
        return -1; //  deliberate rollback: these events must never be read
    writer->pending = events;
    return 0;
}

static void *s_writer_thread (void *arg)
{
    writer_t *writer = arg;
    pb_db_t *db = pb_db_new (writer->url, "writer", 10);
    for (writer->transaction = 0; db && writer->transaction < TRANSACTIONS; writer->transaction++) {
        if (pb_db_transaction (db, s_writer_body, writer) == 0)
            writer->committed += writer->pending;
        else if (pb_db_sqlstate (db)[0] != '\0')
            writer->failures++;
    }
    pb_db_destroy (&db);
    atomic_fetch_sub (&s_writers_running, 1);
    return NULL;
}

typedef struct {
    int64_t last_seq;   //  cursor
    int64_t skipped;    //  events whose seq was not last_seq + 1
    zhashx_t *seen;     //  payloads seen
    int64_t duplicates; //  payloads seen twice
} reader_t;

static int s_reader_take (const pb_event_t *event, void *arg)
{
    reader_t *reader = arg;
    if (event->seq != reader->last_seq + 1)
        reader->skipped++;
    reader->last_seq = event->seq;
    char key[64];
    snprintf (key, sizeof key, "%.*s", (int)event->size, (const char *)event->payload);
    if (zhashx_insert (reader->seen, key, (void *)1) != 0)
        reader->duplicates++;
    return 0;
}

Test (eventlog, reader_racing_concurrent_writers_sees_each_event_exactly_once)
{
    writer_t writers[WRITERS];
    pthread_t threads[WRITERS];
    atomic_store (&s_writers_running, WRITERS);
    for (int w = 0; w < WRITERS; w++) {
        writers[w] = (writer_t){.url = s_url, .writer = w, .random = 1000u + (unsigned)w};
        pthread_create (&threads[w], NULL, s_writer_thread, &writers[w]);
    }
    reader_t reader = {.seen = zhashx_new ()};
    //  Poll without pause while writers run, then once more after they end.
    bool final_pass = false;
    while (true) {
        bool writers_done = atomic_load (&s_writers_running) == 0;
        cr_assert_geq (
            pb_eventlog_read (s_db, "test.event", reader.last_seq, 500, s_reader_take, &reader), 0);
        if (final_pass)
            break;
        final_pass = writers_done;
    }
    int committed = 0;
    for (int w = 0; w < WRITERS; w++) {
        pthread_join (threads[w], NULL);
        cr_assert_eq (writers[w].failures, 0, "writer %d had failures", w);
        committed += writers[w].committed;
    }
    cr_assert_eq (reader.skipped, 0, "the reader skipped %lld events", (long long)reader.skipped);
    cr_assert_eq (reader.duplicates, 0);
    cr_assert_eq ((int)zhashx_size (reader.seen), committed, "seen %zu, committed %d",
                  zhashx_size (reader.seen), committed);
    cr_assert_eq (reader.last_seq, committed, "seqs have holes");
    //  Rolled-back events are absent: every seen payload is from a commit,
    //  and the counts match, so none of the one-in-ten rollbacks got in.
    cr_assert_gt (committed, WRITERS * TRANSACTIONS / 2);
    zhashx_destroy (&reader.seen);
}
