/*  Ingest benchmark: the whole arxiv-daily corpus, file to PostgreSQL with
    events, through paperctl ingest, the bus and the ingest service; beside a
    plain COPY of the same rows (parsed from the same files) into a bare
    table, in the same run. Prints a markdown section. Needs
    PAPERBUS_DATABASE_URL and PAPERBUS_BIN_DIR (tests/bench/run.sh). */
#include "paperbus.h"
#include "pbbench.h"

#include <glob.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#define RUNS 3

static char *s_bus_environment[] = {
    "PAPERBUS_BUS_REQUESTS=tcp://127.0.0.1:5631", "PAPERBUS_BUS_EVENTS_IN=tcp://127.0.0.1:5632",
    "PAPERBUS_BUS_EVENTS_OUT=tcp://127.0.0.1:5633", "PAPERBUS_LOG_LEVEL=error", NULL};

static void s_append_escaped (msgpack_sbuffer *out, const char *text)
{
    //  COPY text format: backslash, tab and newline escaped.
    for (const char *c = text; *c; c++) {
        if (*c == '\\' || *c == '\t' || *c == '\n' || *c == '\r') {
            char escaped[2] = {'\\', *c == '\t' ? 't' : *c == '\n' ? 'n' : *c == '\r' ? 'r' : '\\'};
            msgpack_sbuffer_write (out, escaped, 2);
        } else
            msgpack_sbuffer_write (out, c, 1);
    }
}

//  COPYs the rows (ROWS of them, in COPY text form in TEXT) into a new bare
//  table, timing only the COPY. Returns rows/s.
static double s_plain_copy (pb_db_t *db, msgpack_sbuffer *text, size_t rows)
{
    pb_db_script (db, "DROP TABLE IF EXISTS bench_copy;"
                      " CREATE TABLE bench_copy (id text, title text, abstract text,"
                      " authors text, categories text, comment text)");
    PGconn *conn = pb_db_connection (db);
    int64_t start = pbbench_now_ns ();
    PQclear (PQexec (conn, "COPY bench_copy FROM STDIN"));
    for (size_t offset = 0; offset < text->size; offset += 1 << 20) {
        size_t chunk = text->size - offset < (1u << 20) ? text->size - offset : 1u << 20;
        PQputCopyData (conn, text->data + offset, (int)chunk);
    }
    PQputCopyEnd (conn, NULL);
    PQclear (PQgetResult (conn));
    return (double)rows / ((double)(pbbench_now_ns () - start) / 1e9);
}

//  The records of FILES as COPY text rows in ROWS_TEXT, beforehand and
//  untimed: every field an arxiv-daily record has (its pdf and abs links
//  follow from the id). Returns how many rows.
static size_t s_copy_rows (glob_t *files, msgpack_sbuffer *rows_text)
{
    size_t rows = 0;
    for (size_t f = 0; f < files->gl_pathc; f++) {
        FILE *file = fopen (files->gl_pathv[f], "r");
        char *text = NULL;
        size_t size = 0;
        while (getline (&text, &size, file) > 0) {
            json_t *record = json_loads (text, 0, NULL);
            if (!record)
                continue;
            const char *fields[] = {"id", "title", "summary"};
            for (int i = 0; i < 3; i++) {
                s_append_escaped (rows_text,
                                  json_string_value (json_object_get (record, fields[i])) ?: "");
                msgpack_sbuffer_write (rows_text, "\t", 1);
            }
            const char *lists[] = {"authors", "categories"};
            for (int i = 0; i < 2; i++) {
                json_t *list = json_object_get (record, lists[i]);
                size_t index;
                json_t *item;
                json_array_foreach (list, index, item)
                {
                    if (index)
                        msgpack_sbuffer_write (rows_text, "|", 1);
                    s_append_escaped (rows_text, json_string_value (item) ?: "");
                }
                msgpack_sbuffer_write (rows_text, "\t", 1);
            }
            const char *comment = json_string_value (json_object_get (record, "comment"));
            if (comment)
                s_append_escaped (rows_text, comment);
            else
                msgpack_sbuffer_write (rows_text, "\\N", 2);
            msgpack_sbuffer_write (rows_text, "\n", 1);
            rows++;
            json_decref (record);
        }
        free (text);
        fclose (file);
    }
    return rows;
}

int main (void)
{
    pb_log_init ("bench", PB_LOG_WARN);
    const char *url = getenv ("PAPERBUS_DATABASE_URL");
    const char *bin = getenv ("PAPERBUS_BIN_DIR");
    const char *root = getenv ("PAPERBUS_ROOT") ?: ".";
    if (!url || !bin) {
        fprintf (stderr, "bench_ingest: run it with make bench\n");
        return 1;
    }
    char pattern[4096];
    const char *corpus = "shared/corpus/arxiv-daily";
    snprintf (pattern, sizeof pattern, "%s/../shared/corpus/arxiv-daily/*.jsonl", root);
    glob_t files;
    if (glob (pattern, 0, NULL, &files) != 0) {
        fprintf (stderr, "bench_ingest: ../shared/corpus is absent; using the bundled sample\n");
        snprintf (pattern, sizeof pattern, "%s/deploy/sample/arxiv-daily/*.jsonl", root);
        corpus = "deploy/sample/arxiv-daily (shared corpus absent)";
        if (glob (pattern, 0, NULL, &files) != 0)
            return 1;
    }
    pb_db_t *db = pb_db_new (url, "bench", 30);
    if (!db || pb_migrate (db, pb_migrations, pb_migration_count, NULL))
        return 1;
    for (char **assignment = s_bus_environment; *assignment; assignment++)
        putenv (*assignment);
    char bus_program[4200], ingest_program[4200], paperctl[4200];
    snprintf (bus_program, sizeof bus_program, "%s/bus", bin);
    snprintf (ingest_program, sizeof ingest_program, "%s/ingest", bin);
    snprintf (paperctl, sizeof paperctl, "%s/paperctl", bin);
    char *bus_argv[] = {bus_program, NULL};
    char *ingest_argv[] = {ingest_program, NULL};
    pid_t bus = pbbench_spawn (bus_program, bus_argv, s_bus_environment);
    pid_t workers[2] = {pbbench_spawn (ingest_program, ingest_argv, s_bus_environment),
                        pbbench_spawn (ingest_program, ingest_argv, s_bus_environment)};
    zclock_sleep (1500);

    char **argv = calloc (files.gl_pathc + 3, sizeof *argv);
    argv[0] = paperctl;
    argv[1] = "ingest";
    for (size_t f = 0; f < files.gl_pathc; f++)
        argv[f + 2] = files.gl_pathv[f];
    double ours[RUNS], plain[RUNS];
    msgpack_sbuffer rows_text;
    msgpack_sbuffer_init (&rows_text);
    size_t records = s_copy_rows (&files, &rows_text), papers = 0, events = 0;
    for (int run = 0; run < RUNS; run++) {
        pb_db_script (db, "TRUNCATE paper_signal, paper, event_log, event_topic, event_cursor");
        int64_t start = pbbench_now_ns ();
        pid_t client = pbbench_spawn (paperctl, argv, s_bus_environment);
        int status;
        waitpid (client, &status, 0);
        double seconds = (double)(pbbench_now_ns () - start) / 1e9;
        PGresult *result = pb_db_query (db,
                                        "SELECT (SELECT count(*) FROM paper),"
                                        " (SELECT count(*) FROM event_log)",
                                        NULL);
        papers = (size_t)strtoll (PQgetvalue (result, 0, 0), NULL, 10);
        events = (size_t)strtoll (PQgetvalue (result, 0, 1), NULL, 10);
        PQclear (result);
        plain[run] = s_plain_copy (db, &rows_text, records);
        ours[run] = (double)records / seconds;
    }
    kill (workers[0], SIGTERM);
    kill (workers[1], SIGTERM);
    kill (bus, SIGTERM);
    for (int i = 0; i < 2; i++)
        waitpid (workers[i], NULL, 0);
    waitpid (bus, NULL, 0);
    pb_db_script (db, "DROP TABLE bench_copy; TRUNCATE paper_signal, paper, event_log,"
                      " event_topic, event_cursor");
    double ours_rate = pbbench_median (ours, RUNS);
    double plain_rate = pbbench_median (plain, RUNS);
    printf ("## Ingest: files to PostgreSQL\n\n");
    printf ("%zu records (%zu distinct papers) in %zu files of %s. paperbus: `paperctl ingest` "
            "(files parsed on two threads, batches of 2000 over the bus, four in flight) to two "
            "ingest workers (normalise, merge, upsert, one `paper.ingested` event per change, "
            "commit), timed from the start of paperctl to its exit — %zu papers and %zu events "
            "stored. Plain COPY: the same records as rows prepared beforehand (id, title, "
            "abstract, authors, categories, comment), COPYed into a bare table with no index "
            "and no constraint, the COPY alone timed. Median of %d runs, the two alternating in "
            "the same run.\n\n",
            records, papers, files.gl_pathc, corpus, papers, events, RUNS);
    printf ("| path | records/s | vs plain COPY |\n|---|---:|---:|\n");
    printf ("| plain COPY into a bare table | %.0f | 1.00 |\n", plain_rate);
    printf ("| paperbus ingest, end to end | %.0f | %.2f |\n\n", ours_rate, ours_rate / plain_rate);
    msgpack_sbuffer_destroy (&rows_text);
    globfree (&files);
    free (argv);
    pb_db_destroy (&db);
    return 0;
}
