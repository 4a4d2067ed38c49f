/*  Event log benchmark: committed events per second through pb_eventlog
    (gap-free, commit-ordered seqs from the topic's row) beside a plain INSERT
    of the same rows into a bigserial table (no ordering guarantee), in the
    same run, with 1 and 4 writers and 1 or 100 events per transaction. The
    gap between the two is the price of "a reader never skips an event".
    Prints a markdown section. Needs PAPERBUS_DATABASE_URL (tests/bench/run.sh). */
#include "paperbus.h"
#include "pbbench.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECONDS_PER_RUN 1.0
#define PAYLOAD_BYTES   100

typedef struct {
    const char *url;   //  database
    bool plain;        //  baseline instead of pb_eventlog
    int batch;         //  events per transaction
    int64_t deadline;  //  stop starting transactions after this (ns)
    int64_t committed; //  events committed by this writer
} writer_t;

static const char *const PLAIN_SQL = "INSERT INTO bench_plain_events (topic, payload)"
                                     " SELECT * FROM unnest ($1::text[], $2::bytea[])";

static int s_append_batch (pb_db_t *db, void *arg)
{
    writer_t *writer = arg;
    const void *payloads[100];
    size_t sizes[100];
    static const char payload[PAYLOAD_BYTES] = {0};
    for (int i = 0; i < writer->batch; i++) {
        payloads[i] = payload;
        sizes[i] = PAYLOAD_BYTES;
    }
    if (!writer->plain)
        return pb_eventlog_append_many (db, "bench.event", (size_t)writer->batch, payloads, sizes) <
                       0
                   ? -1
                   : 0;
    pb_db_array_t *topic_array = pb_db_array_new (PB_DB_TEXT);
    pb_db_array_t *payload_array = pb_db_array_new (PB_DB_BYTEA);
    for (int i = 0; i < writer->batch; i++) {
        pb_db_array_add (topic_array, "bench.event", strlen ("bench.event"));
        pb_db_array_add (payload_array, payloads[i], sizes[i]);
    }
    pb_db_params_t params = {0};
    pb_db_params_array (&params, topic_array);
    pb_db_params_array (&params, payload_array);
    int rc = pb_db_run (db, PLAIN_SQL, &params) < 0 ? -1 : 0;
    pb_db_array_destroy (&topic_array);
    pb_db_array_destroy (&payload_array);
    return rc;
}

static void *s_writer (void *arg)
{
    writer_t *writer = arg;
    pb_db_t *db = pb_db_new (writer->url, "bench", 10);
    while (db && pbbench_now_ns () < writer->deadline)
        if (pb_db_transaction (db, s_append_batch, writer) == 0)
            writer->committed += writer->batch;
    pb_db_destroy (&db);
    return NULL;
}

static double s_measure (const char *url, bool plain, int writers, int batch)
{
    writer_t state[8];
    pthread_t threads[8];
    int64_t start = pbbench_now_ns ();
    for (int w = 0; w < writers; w++) {
        state[w] = (writer_t){url, plain, batch, start + (int64_t)(SECONDS_PER_RUN * 1e9), 0};
        pthread_create (&threads[w], NULL, s_writer, &state[w]);
    }
    int64_t committed = 0;
    for (int w = 0; w < writers; w++) {
        pthread_join (threads[w], NULL);
        committed += state[w].committed;
    }
    return (double)committed / ((double)(pbbench_now_ns () - start) / 1e9);
}

int main (void)
{
    pb_log_init ("bench", PB_LOG_WARN);
    const char *url = getenv ("PAPERBUS_DATABASE_URL");
    if (!url) {
        fprintf (stderr, "bench_eventlog: PAPERBUS_DATABASE_URL is unset; run make bench\n");
        return 1;
    }
    pb_db_t *db = pb_db_new (url, "bench", 30);
    if (!db || pb_migrate (db, pb_migrations, pb_migration_count, NULL) ||
        pb_db_script (db,
                      "CREATE TABLE IF NOT EXISTS bench_plain_events ("
                      " seq bigserial PRIMARY KEY, topic text NOT NULL,"
                      " payload bytea NOT NULL, created_at timestamptz NOT NULL DEFAULT now())")) {
        fprintf (stderr, "bench_eventlog: cannot prepare the database\n");
        return 1;
    }
    printf ("## Event log: committed events per second\n\n");
    printf ("Events of %d bytes; each cell is the median of %d runs of %.0f s, paperbus and the "
            "plain insert alternating in the same run. Every transaction commits (fsync on).\n\n",
            PAYLOAD_BYTES, PBBENCH_RUNS, SECONDS_PER_RUN);
    printf ("| writers | events per transaction | pb_eventlog (events/s) | plain bigserial INSERT "
            "(events/s) | pb_eventlog / plain |\n|---:|---:|---:|---:|---:|\n");
    const int configs[][2] = {{1, 1}, {4, 1}, {1, 100}, {4, 100}};
    for (size_t c = 0; c < sizeof configs / sizeof configs[0]; c++) {
        double ours[PBBENCH_RUNS], plain[PBBENCH_RUNS];
        for (int run = 0; run < PBBENCH_RUNS; run++) {
            pb_db_script (db, "TRUNCATE event_log, event_topic, bench_plain_events");
            ours[run] = s_measure (url, false, configs[c][0], configs[c][1]);
            plain[run] = s_measure (url, true, configs[c][0], configs[c][1]);
        }
        double ours_rate = pbbench_median (ours, PBBENCH_RUNS);
        double plain_rate = pbbench_median (plain, PBBENCH_RUNS);
        printf ("| %d | %d | %.0f | %.0f | %.2f |\n", configs[c][0], configs[c][1], ours_rate,
                plain_rate, ours_rate / plain_rate);
        fflush (stdout);
    }
    printf (
        "\nThe plain table gives no order guarantee: a reader following it by seq can skip "
        "an event that commits late. pb_eventlog holds the topic row's lock until commit, so "
        "concurrent single-event transactions queue behind each other's fsync; batching "
        "events into fewer transactions (as ingest and rank do) recovers most of the rate.\n\n");
    pb_db_script (db, "DROP TABLE bench_plain_events; TRUNCATE event_log, event_topic");
    pb_db_destroy (&db);
    return 0;
}
