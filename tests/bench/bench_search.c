/*  Search benchmark: paperbus's index beside PostgreSQL full-text search,
    SQLite FTS5 and Xapian, on the same corpus and queries, in the same run.

    The corpus is shared/corpus/arxiv-daily (67,802 papers) and a corpus of
    1,000,000 papers synthesised from it (tests/bench/synth_corpus.py:
    copies with new ids, shuffled sentences and title words), both as TSV
    under $PAPERBUS_VAR_DIR/search, made once. Queries are
    shared/corpus/queries.txt. Our index is measured in-process (build,
    memory, latency, queries/s on 1 and 2 threads) and, for the first
    corpus, through the bus: papers ingested into PostgreSQL, index
    workers started and asked over TCP. The peers are measured by
    tests/bench/search_peers.py (Debian's python3 with xapian, psycopg2,
    sqlite3) and read back from its JSON. Prints a markdown section. */
#include "index/index.h"
#include "index/search.h"
#include "paperbus.h"
#include "pbbench.h"

#include <glob.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#define RUNS        5 //  latency passes over the query list
#define QPS_PASSES  3 //  passes per thread for queries/s
#define MAX_QUERIES 1000
#define BIG_CORPUS  1000000

static char *s_bus_environment[] = {
    "PAPERBUS_BUS_REQUESTS=tcp://127.0.0.1:5641", "PAPERBUS_BUS_EVENTS_IN=tcp://127.0.0.1:5642",
    "PAPERBUS_BUS_EVENTS_OUT=tcp://127.0.0.1:5643", "PAPERBUS_LOG_LEVEL=error", NULL};

/* ==== Corpus ==== */

typedef struct {
    char *text;            //  the TSV, split in place
    index_paper_t *papers; //  pointing into it
    size_t count;
    size_t raw_bytes; //  title, authors, categories, abstract
} corpus_t;

static int s_load_corpus (const char *path, corpus_t *corpus)
{
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    fseek (file, 0, SEEK_END);
    long size = ftell (file);
    rewind (file);
    corpus->text = malloc ((size_t)size + 1);
    if (fread (corpus->text, 1, (size_t)size, file) != (size_t)size) {
        fclose (file);
        return -1;
    }
    fclose (file);
    corpus->text[size] = '\0';
    size_t lines = 0;
    for (long i = 0; i < size; i++)
        lines += corpus->text[i] == '\n';
    corpus->papers = calloc (lines + 1, sizeof *corpus->papers);
    corpus->count = corpus->raw_bytes = 0;
    char *line = corpus->text;
    while (*line) {
        char *end = strchr (line, '\n');
        if (end)
            *end = '\0';
        char *fields[6];
        char *at = line;
        int found = 0;
        for (; found < 6 && at; found++) {
            fields[found] = at;
            at = strchr (at, '\t');
            if (at)
                *at++ = '\0';
        }
        if (found == 6) {
            //  Authors "A, B" and categories "x y" become 0x1f-joined lists.
            char *out = fields[3];
            for (char *in = fields[3]; *in; in++) {
                if (in[0] == ',' && in[1] == ' ') {
                    *out++ = '\x1f';
                    in++;
                } else
                    *out++ = *in;
            }
            *out = '\0';
            for (char *c = fields[4]; *c; c++)
                if (*c == ' ')
                    *c = '\x1f';
            index_paper_t *paper = &corpus->papers[corpus->count++];
            *paper = (index_paper_t){.id = fields[0],
                                     .version = 1,
                                     .title = fields[2],
                                     .abstract = fields[5],
                                     .authors = fields[3],
                                     .categories = fields[4],
                                     .listed = fields[1]};
            corpus->raw_bytes +=
                strlen (fields[2]) + strlen (fields[3]) + strlen (fields[4]) + strlen (fields[5]);
        }
        if (!end)
            break;
        line = end + 1;
    }
    return 0;
}

static void s_free_corpus (corpus_t *corpus)
{
    free (corpus->text);
    free (corpus->papers);
}

static size_t s_load_queries (const char *path, char **queries)
{
    FILE *file = fopen (path, "r");
    if (!file)
        return 0;
    size_t count = 0;
    char *line = NULL;
    size_t size = 0;
    while (count < MAX_QUERIES && getline (&line, &size, file) > 0) {
        line[strcspn (line, "\n")] = '\0';
        if (*line)
            queries[count++] = strdup (line);
    }
    free (line);
    fclose (file);
    return count;
}

/* ==== Our index, in-process ==== */

typedef struct {
    double build_s;
    size_t memory;
    double p50_ms, p99_ms;
    double qps[2];
    char *top10[MAX_QUERIES]; //  "id id ..." per query
} measured_t;

//  One thread's share of a queries/s run: the query list from START, in
//  process against INDEX, or through the bus with CONFIG.
typedef struct {
    index_t *index;
    pb_config_t *config;
    char **queries;
    size_t query_count;
    size_t start;
    size_t done;
} qps_job_t;

static void *s_qps_thread (void *arg)
{
    qps_job_t *job = arg;
    searcher_t *searcher = searcher_new (job->index);
    search_result_t *result = malloc (sizeof *result);
    for (size_t i = 0; i < QPS_PASSES * job->query_count; i++) {
        const char *query = job->queries[(job->start + i) % job->query_count];
        searcher_search (searcher, query, strlen (query), SEARCH_RELEVANCE, 0, 10, result);
        job->done++;
    }
    free (result);
    searcher_destroy (&searcher);
    return NULL;
}

static double s_qps (index_t *index, pb_config_t *config, char **queries, size_t count,
                     int threads);

static void s_measure_ours (corpus_t *corpus, char **queries, size_t query_count, int builds,
                            measured_t *out)
{
    double build[5];
    index_t *index = NULL;
    for (int b = 0; b < builds; b++) {
        index_destroy (&index);
        int64_t start = pbbench_now_ns ();
        index = index_new ();
        index_put_many (index, corpus->papers, corpus->count);
        index_trim (index);
        build[b] = (double)(pbbench_now_ns () - start) / 1e9;
    }
    out->build_s = pbbench_median (build, (size_t)builds);
    out->memory = index_memory (index);
    searcher_t *searcher = searcher_new (index);
    search_result_t *result = malloc (sizeof *result);
    double *latencies = malloc (query_count * sizeof *latencies);
    double p50[RUNS], p99[RUNS];
    for (int run = -1; run < RUNS; run++) {
        for (size_t q = 0; q < query_count; q++) {
            int64_t start = pbbench_now_ns ();
            searcher_search (searcher, queries[q], strlen (queries[q]), SEARCH_RELEVANCE, 0, 10,
                             result);
            latencies[q] = (double)(pbbench_now_ns () - start) / 1e6;
            if (run == -1) {
                //  The warm-up pass keeps the ids, for the overlap check.
                char ids[2048] = "";
                for (size_t h = 0; h < result->count; h++) {
                    size_t length;
                    const char *id = index_doc_id (index, result->hits[h].doc, &length);
                    snprintf (ids + strlen (ids), sizeof ids - strlen (ids), "%s%.*s", h ? " " : "",
                              (int)length, id);
                }
                out->top10[q] = strdup (ids);
            }
        }
        if (run >= 0)
            pbbench_percentiles (latencies, query_count, &p50[run], &p99[run]);
    }
    out->p50_ms = pbbench_median (p50, RUNS);
    out->p99_ms = pbbench_median (p99, RUNS);
    out->qps[0] = s_qps (index, NULL, queries, query_count, 1);
    out->qps[1] = s_qps (index, NULL, queries, query_count, 2);
    free (latencies);
    free (result);
    searcher_destroy (&searcher);
    index_destroy (&index);
}

/* ==== Through the bus ==== */

static void s_search_body (const char *query, msgpack_sbuffer *body)
{
    msgpack_sbuffer_clear (body);
    msgpack_packer packer;
    msgpack_packer_init (&packer, body, msgpack_sbuffer_write);
    pb_index_search_request_t request = {0};
    request.query = pb_str (query);
    pb_encode (&pb_index_search_request_schema, &request, &packer);
}

//  Waits until an index worker answers; returns the seconds it took.
static double s_wait_ready (pb_config_t *config, int64_t since)
{
    pb_client_t *client = pb_client_new (config);
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    s_search_body ("ready", &body);
    double seconds = -1;
    for (int attempt = 0; attempt < 600; attempt++) {
        pb_reply_t reply = {0};
        int rc = pb_client_call (client, "index.search", body.data, body.size, 1000, 0, &reply);
        bool ok = rc == 0 && reply.status == PB_OK;
        pb_reply_reset (&reply);
        if (ok) {
            seconds = (double)(pbbench_now_ns () - since) / 1e9;
            break;
        }
        zclock_sleep (50);
    }
    msgpack_sbuffer_destroy (&body);
    pb_client_destroy (&client);
    return seconds;
}

static void *s_bus_thread (void *arg)
{
    qps_job_t *job = arg;
    pb_client_t *client = pb_client_new (job->config);
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    for (size_t i = 0; i < QPS_PASSES * job->query_count; i++) {
        s_search_body (job->queries[(job->start + i) % job->query_count], &body);
        pb_reply_t reply = {0};
        if (pb_client_call (client, "index.search", body.data, body.size, 10000, 0, &reply) == 0 &&
            reply.status == PB_OK)
            job->done++;
        pb_reply_reset (&reply);
    }
    msgpack_sbuffer_destroy (&body);
    pb_client_destroy (&client);
    return NULL;
}

//  Queries/s of THREADS threads, each asking the whole list QPS_PASSES times:
//  in process when INDEX is given, else through the bus with CONFIG.
static double s_qps (index_t *index, pb_config_t *config, char **queries, size_t count, int threads)
{
    qps_job_t jobs[2];
    pthread_t ids[2];
    int64_t start = pbbench_now_ns ();
    for (int t = 0; t < threads; t++) {
        jobs[t] = (qps_job_t){index, config, queries, count, (size_t)t * count / 2, 0};
        pthread_create (&ids[t], NULL, index ? s_qps_thread : s_bus_thread, &jobs[t]);
    }
    size_t done = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join (ids[t], NULL);
        done += jobs[t].done;
    }
    return (double)done / ((double)(pbbench_now_ns () - start) / 1e9);
}

typedef struct {
    double load_s; //  worker start to first answer: the index read from PostgreSQL
    double p50_ms, p99_ms;
    double qps[2]; //  1 worker and 1 client; 2 workers and 2 clients
    bool done;
} bus_measured_t;

//  Ingests the arxiv-daily files, starts the bus and index workers, and asks
//  them the queries over TCP, with snippets as the gateway will.
static void s_measure_bus (const char *bin, const char *files_pattern, char **queries,
                           size_t query_count, bus_measured_t *out)
{
    for (char **assignment = s_bus_environment; *assignment; assignment++)
        putenv (*assignment);
    char error[256];
    pb_config_t *config = pb_config_load (error, sizeof error);
    pb_db_t *db = pb_db_new (pb_config_str (config, PB_CONF_DATABASE_URL), "bench", 30);
    if (!db || pb_migrate (db, pb_migrations, pb_migration_count, NULL)) {
        pb_db_destroy (&db);
        pb_config_destroy (&config);
        return;
    }
    pb_db_script (db, "TRUNCATE paper_signal, paper, event_log, event_topic, event_cursor");
    char bus_program[4200], ingest_program[4200], index_program[4200], paperctl[4200];
    snprintf (bus_program, sizeof bus_program, "%s/bus", bin);
    snprintf (ingest_program, sizeof ingest_program, "%s/ingest", bin);
    snprintf (index_program, sizeof index_program, "%s/index", bin);
    snprintf (paperctl, sizeof paperctl, "%s/paperctl", bin);
    char *bus_argv[] = {bus_program, NULL}, *ingest_argv[] = {ingest_program, NULL},
         *index_argv[] = {index_program, NULL};
    pid_t bus = pbbench_spawn (bus_program, bus_argv, s_bus_environment);
    pid_t ingest = pbbench_spawn (ingest_program, ingest_argv, s_bus_environment);
    glob_t files;
    if (glob (files_pattern, 0, NULL, &files) == 0) {
        char **argv = calloc (files.gl_pathc + 3, sizeof *argv);
        argv[0] = paperctl;
        argv[1] = "ingest";
        for (size_t f = 0; f < files.gl_pathc; f++)
            argv[f + 2] = files.gl_pathv[f];
        zclock_sleep (500);
        pid_t client = pbbench_spawn (paperctl, argv, s_bus_environment);
        waitpid (client, NULL, 0);
        free (argv);
        globfree (&files);
    }
    int64_t start = pbbench_now_ns ();
    pid_t workers[2] = {pbbench_spawn (index_program, index_argv, s_bus_environment), 0};
    out->load_s = s_wait_ready (config, start);
    pb_client_t *client = pb_client_new (config);
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    double *latencies = malloc (query_count * sizeof *latencies);
    double p50[RUNS], p99[RUNS];
    for (int run = -1; run < RUNS; run++) {
        for (size_t q = 0; q < query_count; q++) {
            s_search_body (queries[q], &body);
            pb_reply_t reply = {0};
            int64_t begin = pbbench_now_ns ();
            pb_client_call (client, "index.search", body.data, body.size, 10000, 0, &reply);
            latencies[q] = (double)(pbbench_now_ns () - begin) / 1e6;
            pb_reply_reset (&reply);
        }
        if (run >= 0)
            pbbench_percentiles (latencies, query_count, &p50[run], &p99[run]);
    }
    out->p50_ms = pbbench_median (p50, RUNS);
    out->p99_ms = pbbench_median (p99, RUNS);
    out->qps[0] = s_qps (NULL, config, queries, query_count, 1);
    workers[1] = pbbench_spawn (index_program, index_argv, s_bus_environment);
    zclock_sleep (200);
    s_wait_ready (config, pbbench_now_ns ());
    //  Both workers registered: the second answers once loaded.
    zclock_sleep ((int)(out->load_s * 1000) + 500);
    out->qps[1] = s_qps (NULL, config, queries, query_count, 2);
    out->done = true;
    free (latencies);
    msgpack_sbuffer_destroy (&body);
    pb_client_destroy (&client);
    pid_t children[] = {workers[0], workers[1], ingest, bus};
    for (size_t c = 0; c < 4; c++) {
        kill (children[c], SIGTERM);
        waitpid (children[c], NULL, 0);
    }
    pb_db_script (db, "TRUNCATE paper_signal, paper, event_log, event_topic, event_cursor");
    pb_db_destroy (&db);
    pb_config_destroy (&config);
}

/* ==== The peers ==== */

//  Runs search_peers.py for ENGINES on CORPUS; returns its JSON, or NULL.
static json_t *s_run_peers (const char *root, const char *var, const char *corpus,
                            const char *queries, const char *engines, const char *tag, int runs,
                            int qps_passes)
{
    char out[4200], command[16384];
    snprintf (out, sizeof out, "%s/peers-%s.json", var, tag);
    snprintf (command, sizeof command,
              "/usr/bin/python3 '%s/tests/bench/search_peers.py' --corpus '%s' --queries '%s'"
              " --engines %s --pg-url '%s' --runs %d --qps-passes %d --out '%s' >&2",
              root, corpus, queries, engines, getenv ("PAPERBUS_DATABASE_URL"), runs, qps_passes,
              out);
    if (system (command) != 0) {
        fprintf (stderr, "bench_search: the peers failed (%s)\n", command);
        return NULL;
    }
    return json_load_file (out, 0, NULL);
}

//  Mean share of Xapian's top 10 that OURS also returned, over the queries.
static double s_overlap (json_t *xapian, char **queries, size_t count, measured_t *ours)
{
    json_t *top10 = json_object_get (xapian, "top10");
    double sum = 0;
    size_t counted = 0;
    for (size_t q = 0; q < count; q++) {
        json_t *theirs = json_object_get (top10, queries[q]);
        size_t size = json_array_size (theirs);
        if (!size)
            continue;
        size_t shared = 0;
        for (size_t i = 0; i < size; i++) {
            const char *id = json_string_value (json_array_get (theirs, i));
            char padded[256];
            snprintf (padded, sizeof padded, " %s ", id);
            char mine[2100];
            snprintf (mine, sizeof mine, " %s ", ours->top10[q]);
            shared += strstr (mine, padded) != NULL;
        }
        sum += (double)shared / (double)size;
        counted++;
    }
    return counted ? sum / (double)counted : 0;
}

static void s_row (const char *name, const char *semantics, double build_s, size_t papers,
                   double memory, size_t raw, double p50, double p99, double qps1, double qps2,
                   const char *overlap)
{
    printf ("| %s | %s | %.1f | %.0f | %.1f MB, %.0f B/paper (%.2f) | %.3f | %.3f | %.0f | %.0f | "
            "%s |\n",
            name, semantics, build_s, (double)papers / build_s, memory / 1e6,
            memory / (double)papers, memory / (double)raw, p50, p99, qps1, qps2, overlap);
}

static void s_peer_rows (json_t *peers, size_t papers, size_t raw, measured_t *ours, char **queries,
                         size_t query_count)
{
    static const char *const names[][2] = {{"xapian", "Xapian 1.4 (BM25), ranked OR"},
                                           {"sqlite", "SQLite FTS5 (bm25), ranked OR"},
                                           {"pg", "PostgreSQL FTS (ts_rank_cd, GIN), ranked OR"}};
    json_t *engines = json_object_get (peers, "engines");
    json_t *xapian = json_object_get (engines, "xapian");
    for (size_t e = 0; e < 3; e++) {
        json_t *engine = json_object_get (engines, names[e][0]);
        if (!engine)
            continue;
        char overlap[32] = "1.00 (itself)";
        if (e > 0 && xapian) {
            //  Their overlap with Xapian, from their own top 10s.
            measured_t theirs = {0};
            json_t *top10 = json_object_get (engine, "top10");
            for (size_t q = 0; q < query_count; q++) {
                json_t *list = json_object_get (top10, queries[q]);
                char ids[2048] = "";
                for (size_t i = 0; i < json_array_size (list); i++)
                    snprintf (ids + strlen (ids), sizeof ids - strlen (ids), "%s%s", i ? " " : "",
                              json_string_value (json_array_get (list, i)));
                theirs.top10[q] = strdup (ids);
            }
            snprintf (overlap, sizeof overlap, "%.2f",
                      s_overlap (xapian, queries, query_count, &theirs));
            for (size_t q = 0; q < query_count; q++)
                free (theirs.top10[q]);
        } else if (!xapian)
            snprintf (overlap, sizeof overlap, "n/a");
        json_t *qps = json_object_get (engine, "qps");
        s_row (names[e][1], "on disk, Python driver",
               json_number_value (json_object_get (engine, "build_s")), papers,
               json_number_value (json_object_get (engine, "index_bytes")), raw,
               json_number_value (json_object_get (engine, "p50_ms")),
               json_number_value (json_object_get (engine, "p99_ms")),
               json_number_value (json_object_get (qps, "1")),
               json_number_value (json_object_get (qps, "2")), overlap);
    }
    (void)ours;
}

int main (void)
{
    pb_log_init ("bench", PB_LOG_WARN);
    //  Each table row as soon as it is measured: the whole run takes a while.
    setvbuf (stdout, NULL, _IOLBF, 0);
    const char *root = getenv ("PAPERBUS_ROOT") ?: ".";
    const char *bin = getenv ("PAPERBUS_BIN_DIR");
    const char *var_dir = getenv ("PAPERBUS_VAR_DIR");
    if (!bin || !var_dir || !getenv ("PAPERBUS_DATABASE_URL")) {
        fprintf (stderr, "bench_search: run it with make bench\n");
        return 1;
    }
    char var[4200], daily[4300], queries_path[4400], small[4300], big[4300], command[20000];
    snprintf (var, sizeof var, "%s/search", var_dir);
    mkdir (var, 0755);
    snprintf (daily, sizeof daily, "%s/../shared/corpus/arxiv-daily", root);
    snprintf (queries_path, sizeof queries_path, "%s/../shared/corpus/queries.txt", root);
    struct stat info;
    bool shared = stat (daily, &info) == 0 && stat (queries_path, &info) == 0;
    if (!shared) {
        fprintf (stderr, "bench_search: ../shared/corpus is absent; using the bundled sample "
                         "and its titles as queries\n");
        snprintf (daily, sizeof daily, "%s/deploy/sample/arxiv-daily", root);
    }
    snprintf (small, sizeof small, "%s/%s.tsv", var, shared ? "arxiv-daily" : "sample");
    snprintf (big, sizeof big, "%s/synthetic-%d.tsv", var, BIG_CORPUS);
    if (stat (small, &info) != 0) {
        snprintf (command, sizeof command,
                  "/usr/bin/python3 '%s/tests/bench/synth_corpus.py' --from-jsonl '%s' --out '%s'",
                  root, daily, small);
        if (system (command) != 0)
            return 1;
    }
    if (shared && stat (big, &info) != 0) {
        snprintf (command, sizeof command,
                  "/usr/bin/python3 '%s/tests/bench/synth_corpus.py' --scale %d --in '%s' "
                  "--out '%s'",
                  root, BIG_CORPUS, small, big);
        if (system (command) != 0)
            return 1;
    }
    char *queries[MAX_QUERIES];
    size_t query_count = 0;
    corpus_t corpus = {0};
    if (s_load_corpus (small, &corpus))
        return 1;
    if (shared)
        query_count = s_load_queries (queries_path, queries);
    else {
        snprintf (queries_path, sizeof queries_path, "%s/queries.txt", var);
        FILE *file = fopen (queries_path, "w");
        for (size_t i = 0; i < corpus.count && query_count < 100; i += corpus.count / 100 + 1) {
            queries[query_count++] = strdup (corpus.papers[i].title);
            fprintf (file, "%s\n", corpus.papers[i].title);
        }
        fclose (file);
    }

    printf ("## Search: the index beside PostgreSQL, SQLite FTS5 and Xapian\n\n");
    printf ("%zu queries from %s, each a ranked OR of its words, top 10, on every engine. "
            "Latency: each query timed alone, every query once to warm up, then %d passes; p50 "
            "and p99 of each pass, the median over passes. Queries/s: 1 or 2 threads, each with "
            "its own searcher (or connection, or database handle), %d passes each. paperbus "
            "in-process times the search alone (ids and scores); through the bus adds the "
            "client, TCP, the bus, snippets and every hit's fields. Our build: the median of 5 "
            "builds in-process (1 at a million papers), from papers already in memory. The peers "
            "are timed from "
            "Python around the engine call (the measured call overhead is a few microseconds); "
            "their memory column is the index size on disk. Memory: in all, per paper, and in "
            "brackets against the raw text (titles, authors, categories, abstracts). Overlap: the "
            "mean share of Xapian's top 10 that the engine also returned.\n\n",
            query_count, shared ? "shared/corpus/queries.txt" : "sample titles", RUNS, QPS_PASSES);

    const char *header = "| engine | how | build s | papers/s | memory | p50 ms | p99 ms | "
                         "q/s 1 thread | q/s 2 threads | top-10 overlap with Xapian |\n"
                         "|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n";
    measured_t *ours = calloc (1, sizeof *ours);
    s_measure_ours (&corpus, queries, query_count, 5, ours);
    fprintf (stderr, "bench_search: in-process: build %.2f s, p50 %.3f ms, p99 %.3f ms\n",
             ours->build_s, ours->p50_ms, ours->p99_ms);
    bus_measured_t bus = {0};
    char files_pattern[4400];
    snprintf (files_pattern, sizeof files_pattern, "%s/*.jsonl", daily);
    s_measure_bus (bin, files_pattern, queries, query_count, &bus);
    fprintf (stderr, "bench_search: through the bus: load %.2f s, p50 %.3f ms, p99 %.3f ms\n",
             bus.load_s, bus.p50_ms, bus.p99_ms);
    json_t *peers =
        s_run_peers (root, var, small, queries_path, "xapian,sqlite,pg", "small", RUNS, QPS_PASSES);
    printf ("### %zu papers (%s)\n\n%s", corpus.count,
            shared ? "shared/corpus/arxiv-daily" : "the bundled sample", header);
    char overlap[32] = "n/a";
    json_t *xapian = json_object_get (json_object_get (peers, "engines"), "xapian");
    if (xapian)
        snprintf (overlap, sizeof overlap, "%.2f", s_overlap (xapian, queries, query_count, ours));
    s_row ("**paperbus index**", "in memory, in-process", ours->build_s, corpus.count,
           (double)ours->memory, corpus.raw_bytes, ours->p50_ms, ours->p99_ms, ours->qps[0],
           ours->qps[1], overlap);
    if (bus.done)
        printf ("| paperbus index through the bus | 1 worker; 2 workers for 2 clients | %.1f | "
                "%.0f | | %.3f | %.3f | %.0f | %.0f | |\n",
                bus.load_s, (double)corpus.count / bus.load_s, bus.p50_ms, bus.p99_ms, bus.qps[0],
                bus.qps[1]);
    if (peers)
        s_peer_rows (peers, corpus.count, corpus.raw_bytes, ours, queries, query_count);
    printf ("\nThrough the bus, build is the worker's start: reading every paper from "
            "PostgreSQL in one snapshot and indexing it, until it answers.\n\n");
    double small_p50 = ours->p50_ms, small_p99 = ours->p99_ms;
    for (size_t q = 0; q < query_count; q++)
        free (ours->top10[q]);
    json_decref (peers);
    s_free_corpus (&corpus);

    if (shared && s_load_corpus (big, &corpus) == 0) {
        memset (ours, 0, sizeof *ours);
        s_measure_ours (&corpus, queries, query_count, 1, ours);
        //  One pass each: a query of SQLite's takes a third of a second here.
        peers = s_run_peers (root, var, big, queries_path, "sqlite", "big", 1, 1);
        printf ("### %zu papers (synthesised from shared/corpus/arxiv-daily)\n\n%s", corpus.count,
                header);
        s_row ("**paperbus index**", "in memory, in-process", ours->build_s, corpus.count,
               (double)ours->memory, corpus.raw_bytes, ours->p50_ms, ours->p99_ms, ours->qps[0],
               ours->qps[1], "n/a");
        if (peers)
            s_peer_rows (peers, corpus.count, corpus.raw_bytes, ours, queries, query_count);
        printf ("\nAt this size only SQLite FTS5 runs beside us, over one pass of the queries "
                "(one for queries/s too): building Xapian's index and PostgreSQL's would take "
                "tens of minutes on every `make bench`. Our index is built once here.\n\n");
        for (size_t q = 0; q < query_count; q++)
            free (ours->top10[q]);
        json_decref (peers);
        s_free_corpus (&corpus);
    }
    printf ("Targets: at %s papers p50 <= 0.1 ms and p99 <= 1 ms (measured %.3f / %.3f), "
            "build < 3 s, memory below the raw text.\n\n",
            shared ? "67,802" : "the sample's", small_p50, small_p99);
    for (size_t q = 0; q < query_count; q++)
        free (queries[q]);
    free (ours);
    return 0;
}
