/*  Notify benchmark: email digests for 100,000 subscribers over the shared
    corpus.

    Setup: the corpus ingested, through paperctl ingest, the bus and two
    ingest workers, into a database of its own (paperbus_bench_notify, kept
    in the bench cluster and made again when absent or stale), and 100,000
    confirmed daily subscriptions inserted by SQL, their interests drawn
    from the corpus with a fixed seed (categories, queries, authors, the
    trending top). Then the bus, two index workers and a rank worker
    (release binaries), and votes and Hugging Face signals cast through rank
    so that trending is not empty.

    1. Composition, in process: digest_source_candidates, digest_source_papers
       and message_compose_digest for every subscriber, through the bus to
       the index and rank workers, as a sender does it (answers remembered
       through the run) on 1 and 4 threads, beside the baseline that forgets
       them before every digest (every subscriber asks the index itself).
    2. The whole pipeline: notify processes sending every digest, queued by
       notify.run, to a fast SMTP sink in this process; 1 and 4 sender
       threads, and 2 processes of 2. Every subscriber is checked to get
       exactly one mail.
    3. Mails per second to the development mail catcher
       (deploy/mailcatcher.py) with 1 and 4 senders, on 3,000 subscribers,
       beside the sink on the same subscribers.

    Prints a markdown section. Needs PAPERBUS_DATABASE_URL and
    PAPERBUS_BIN_DIR (tests/bench/run.sh). For development,
    PAPERBUS_BENCH_NOTIFY_SUBSCRIBERS (100000), PAPERBUS_BENCH_NOTIFY_RUNS (3),
    PAPERBUS_BENCH_NOTIFY_PORT (5661, the first of the bus's three ports)
    PAPERBUS_BENCH_NOTIFY_PARTS (123: which parts run) and
    PAPERBUS_BENCH_NOTIFY_PIPELINES (0123: which rows of the pipeline's
    table) change the sizes, the ports and what runs. */
#include "notify/digest.h"
#include "notify/message.h"
#include "notify/subscriptions.h"
#include "paperbus.h"
#include "pbbench.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <glob.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SUBSCRIBERS         100000 //  default population
#define RUNS                3      //  default runs of each measurement
#define BASELINE_EVERY      10     //  the baseline composes every 10th subscriber
#define CATCHER_SUBSCRIBERS 3000   //  population mailed to the mail catcher
#define DIGEST_PAPERS       20     //  PAPERBUS_NOTIFY_DIGEST_PAPERS's default
#define INDEX_WORKERS       2
#define VOTED_PAPERS        300
#define SIGNALLED_PAPERS    40
#define THREADS_MAX         4
#define TARGET_S            30.0
#define STALL_S             120 //  a pipeline run with no progress this long has failed
#define DATABASE            "paperbus_bench_notify"
#define MIX                 "mix 1" //  change when the drawing of interests changes

static const char *s_bin;
static char *s_database_url;   //  the bench's own database
static char *s_environment[8]; //  for every process started
static size_t s_population;
static int s_runs;
static const char *s_parts; //  "123": which parts run

/* ==== Processes ==== */

static pid_t s_start (const char *name, char *const extra[])
{
    return pbbench_start (s_bin, name, s_environment, extra);
}

static void s_stop (pid_t pid)
{
    if (pid <= 0)
        return;
    kill (pid, SIGTERM);
    waitpid (pid, NULL, 0);
}

static double s_seconds_since (int64_t start_ns)
{
    return (double)(pbbench_now_ns () - start_ns) / 1e9;
}

//  A service's live workers and requests served so far, from bus.status;
//  -1 when the bus did not answer.
static int64_t s_bus_status (pb_client_t *client, const char *service, int64_t *requests)
{
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &body, msgpack_sbuffer_write);
    pb_status_request_t request = {0};
    pb_encode (&pb_status_request_schema, &request, &packer);
    pb_reply_t reply = {0};
    int64_t live = -1;
    if (pb_client_call (client, "bus.status", body.data, body.size, 2000, 0, &reply) == 0 &&
        reply.status == PB_OK) {
        pb_arena_t *arena = pb_arena_new ();
        pb_status_reply_t status;
        pb_codec_error_t error;
        if (pb_decode (zframe_data (reply.body), zframe_size (reply.body), zframe_size (reply.body),
                       &pb_status_reply_schema, &status, arena, &error) == 0) {
            live = 0;
            const pb_service_status_t *services = status.services.items;
            for (uint32_t i = 0; i < status.services.count; i++)
                if (pb_str_eq (services[i].name, service)) {
                    live = services[i].live_workers;
                    if (requests)
                        *requests = services[i].requests;
                }
        }
        pb_arena_destroy (&arena);
    }
    pb_reply_reset (&reply);
    msgpack_sbuffer_destroy (&body);
    return live;
}

//  Waits until SERVICE has COUNT live workers. Returns 0, or -1 after TIMEOUT_S.
static int s_wait_workers (pb_client_t *client, const char *service, int64_t count, int timeout_s)
{
    int64_t start = pbbench_now_ns ();
    while (s_seconds_since (start) < timeout_s) {
        if (s_bus_status (client, service, NULL) >= count)
            return 0;
        zclock_sleep (50);
    }
    fprintf (stderr, "bench_notify: %s has not %lld workers after %d s\n", service,
             (long long)count, timeout_s);
    return -1;
}

/* ==== The database ==== */

static char *s_ready_value (pb_db_t *db, const char *name)
{
    pb_db_params_t params = {0};
    pb_db_params_text (&params, name);
    PGresult *result = pb_db_query (db, "SELECT value FROM bench_ready WHERE name = $1", &params);
    char *value = result && PQntuples (result) == 1 ? strdup (PQgetvalue (result, 0, 0)) : NULL;
    PQclear (result);
    return value;
}

static void s_set_ready (pb_db_t *db, const char *name, const char *value)
{
    pb_db_params_t params = {0};
    pb_db_params_text (&params, name);
    pb_db_params_text (&params, value);
    pb_db_run (db,
               "INSERT INTO bench_ready (name, value) VALUES ($1, $2) "
               "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
               &params);
}

//  The corpus files, and a signature telling whether the database holds them.
static const char *s_corpus_files (glob_t *files, char *signature, size_t size)
{
    const char *root = getenv ("PAPERBUS_ROOT") ?: ".";
    char pattern[4200];
    const char *name = "shared/corpus/arxiv-daily";
    snprintf (pattern, sizeof pattern, "%s/../shared/corpus/arxiv-daily/*.jsonl", root);
    if (glob (pattern, 0, NULL, files) != 0) {
        fprintf (stderr, "bench_notify: ../shared/corpus is absent; using the bundled sample\n");
        snprintf (pattern, sizeof pattern, "%s/deploy/sample/arxiv-daily/*.jsonl", root);
        name = "deploy/sample/arxiv-daily (shared corpus absent)";
        if (glob (pattern, 0, NULL, files) != 0)
            return NULL;
    }
    long long bytes = 0;
    for (size_t f = 0; f < files->gl_pathc; f++) {
        struct stat info;
        if (stat (files->gl_pathv[f], &info) == 0)
            bytes += info.st_size;
    }
    snprintf (signature, size, "%s: %zu files, %lld bytes", name, files->gl_pathc, bytes);
    return name;
}

//  The corpus through paperctl ingest, the bus and two ingest workers.
static int s_ingest (pb_db_t *db, pb_client_t *client, glob_t *files)
{
    pb_db_script (db, "TRUNCATE vote, signal_gain, paper_signal, paper, event_log, event_topic,"
                      " event_cursor, trending_state, subscription CASCADE");
    pb_db_script (db, "INSERT INTO trending_state (top, published_at) VALUES ('{}', '-infinity')");
    pid_t workers[2] = {s_start ("ingest", NULL), s_start ("ingest", NULL)};
    if (s_wait_workers (client, "ingest", 2, 60)) {
        s_stop (workers[0]);
        s_stop (workers[1]);
        return -1;
    }
    char paperctl[4200];
    snprintf (paperctl, sizeof paperctl, "%s/paperctl", s_bin);
    char **argv = calloc (files->gl_pathc + 3, sizeof *argv);
    argv[0] = paperctl;
    argv[1] = "ingest";
    for (size_t f = 0; f < files->gl_pathc; f++)
        argv[f + 2] = files->gl_pathv[f];
    int status = -1;
    waitpid (pbbench_spawn (paperctl, argv, s_environment), &status, 0);
    free (argv);
    s_stop (workers[0]);
    s_stop (workers[1]);
    pb_db_script (db, "VACUUM ANALYZE paper");
    return WIFEXITED (status) && WEXITSTATUS (status) == 0 ? 0 : -1;
}

/* ==== Subscribers ==== */

static uint64_t s_random (uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static size_t s_below (uint64_t *state, size_t n)
{
    return (size_t)(s_random (state) % n);
}

static bool s_category_ok (const char *category)
{
    for (const char *c = category; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '-'))
            return false;
    return *category && strlen (category) <= 32;
}

//  As notify.subscribe takes them: no quotes, no control characters.
static bool s_author_ok (const char *author)
{
    size_t length = strlen (author);
    if (length < 4 || length > 64 || !strchr (author, ' '))
        return false;
    for (const char *c = author; *c; c++)
        if ((unsigned char)*c < 32 || *c == '"' || *c == '\\' || *c == 127)
            return false;
    return true;
}

static bool s_stopword (const char *word)
{
    static const char *const words[] = {
        "about", "after", "against", "among", "based",   "between", "beyond", "could",
        "every", "from",  "their",   "these", "through", "towards", "toward", "using",
        "under", "which", "while",   "with",  "within",  "without", "where",  "when",
        "what",  "other", "into",    "over",  "more",    "than",    "that",   "this",
        "your",  "does",  "via",     "the",   "and",     "for",     "are",    NULL};
    for (const char *const *w = words; *w; w++)
        if (strcmp (word, *w) == 0)
            return true;
    return false;
}

//  The plain lower-case words of TITLE (letters only, MIN_LENGTH or more,
//  no stopwords), with whether each follows the previous one directly.
static size_t s_title_words (const char *title, char words[][32], bool *adjacent, size_t max,
                             size_t min_length)
{
    size_t count = 0;
    bool previous_kept = false;
    const char *c = title;
    while (*c && count < max) {
        while (*c == ' ')
            c++;
        const char *start = c;
        while (*c && *c != ' ')
            c++;
        size_t length = (size_t)(c - start);
        bool plain = length >= min_length && length < 32;
        for (size_t i = 0; i < length && plain; i++)
            plain = (start[i] >= 'a' && start[i] <= 'z') || (start[i] >= 'A' && start[i] <= 'Z');
        if (plain) {
            for (size_t i = 0; i < length; i++)
                words[count][i] = (char)(start[i] | 0x20);
            words[count][length] = 0;
            plain = !s_stopword (words[count]);
        }
        if (plain) {
            adjacent[count] = previous_kept;
            count++;
        }
        previous_kept = plain;
    }
    return count;
}

static size_t s_load_queries (char **queries, size_t max)
{
    const char *root = getenv ("PAPERBUS_ROOT") ?: ".";
    char path[4200];
    snprintf (path, sizeof path, "%s/../shared/corpus/queries.txt", root);
    FILE *file = fopen (path, "r");
    if (!file)
        return 0;
    size_t count = 0;
    char *line = NULL;
    size_t size = 0;
    while (count < max && getline (&line, &size, file) > 0) {
        line[strcspn (line, "\r\n")] = 0;
        if (*line)
            queries[count++] = strdup (line);
    }
    free (line);
    fclose (file);
    return count;
}

//  A random paper's primary category, from a paper whose primary is in cs.
static const char *s_cs_category (const pbbench_paper_t *papers, size_t count, uint64_t *state)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        const pbbench_paper_t *paper = &papers[s_below (state, count)];
        if (paper->category_count && strncmp (paper->categories[0], "cs.", 3) == 0 &&
            s_category_ok (paper->categories[0]))
            return paper->categories[0];
    }
    return "cs.LG";
}

//  Makes COUNT subscriptions, their interests drawn from the corpus with a
//  fixed seed: 35% one or two categories, 30% a query (a line of
//  queries.txt, title words, or a phrase of a title; some with a category),
//  10% one or two authors, 25% the trending top only (5 to 20). A fifth of
//  those that follow something take the trending top 5 or 10 too. Daily,
//  at 00:00 UTC, confirmed now.
static int s_make_subscribers (pb_db_t *db, size_t count)
{
    pbbench_paper_t *papers = NULL;
    const char *corpus = NULL;
    size_t paper_count = pbbench_load_papers (0, &papers, &corpus);
    char *queries[1000];
    size_t query_count = s_load_queries (queries, 1000);
    if (paper_count == 0) {
        fprintf (stderr, "bench_notify: no papers to draw interests from\n");
        return -1;
    }
    pb_db_script (db, "TRUNCATE subscription, mail_job, mail_handed, digest_paper,"
                      " subscription_request CASCADE");
    uint64_t state = 2026;
    json_t *batch = json_array ();
    int rc = 0;
    for (size_t n = 1; n <= count && rc == 0; n++) {
        char email[64];
        snprintf (email, sizeof email, "bench%06zu@example.org", n);
        json_t *categories = json_array (), *authors = json_array ();
        char query[512] = "";
        int trending = 0;
        size_t kind = s_below (&state, 100);
        if (kind < 35) {
            //  One or two categories, as often as papers have them.
            const pbbench_paper_t *paper = &papers[s_below (&state, paper_count)];
            if (paper->category_count && s_category_ok (paper->categories[0]))
                json_array_append_new (categories, json_string (paper->categories[0]));
            if (s_below (&state, 100) < 40) {
                const pbbench_paper_t *other = paper->category_count > 1 && s_below (&state, 2)
                                                   ? paper
                                                   : &papers[s_below (&state, paper_count)];
                const char *second = other == paper          ? other->categories[1]
                                     : other->category_count ? other->categories[0]
                                                             : "";
                bool taken = false;
                size_t index;
                json_t *item;
                json_array_foreach (categories, index, item) taken =
                    taken || strcmp (json_string_value (item), second) == 0;
                if (!taken && s_category_ok (second))
                    json_array_append_new (categories, json_string (second));
            }
            if (json_array_size (categories) == 0)
                json_array_append_new (categories, json_string ("cs.CV"));
        } else if (kind < 65) {
            size_t how = s_below (&state, 100);
            if (how < 40 && query_count) {
                snprintf (query, sizeof query, "%s", queries[s_below (&state, query_count)]);
                if (s_below (&state, 100) < 30)
                    json_array_append_new (
                        categories, json_string (s_cs_category (papers, paper_count, &state)));
            } else {
                //  Words or a phrase of a random title, sometimes in its category.
                const pbbench_paper_t *paper = NULL;
                char words[40][32];
                bool adjacent[40];
                size_t word_count = 0;
                for (int attempt = 0; attempt < 50 && word_count < 2; attempt++) {
                    paper = &papers[s_below (&state, paper_count)];
                    word_count = s_title_words (paper->title, words, adjacent, 40, 4);
                }
                if (word_count == 0)
                    snprintf (query, sizeof query, "diffusion");
                else if (how < 70 || word_count < 2) {
                    size_t first = s_below (&state, word_count);
                    if (word_count > 1 && s_below (&state, 2)) {
                        size_t second = (first + 1 + s_below (&state, word_count - 1)) % word_count;
                        snprintf (query, sizeof query, "%s %s", words[first], words[second]);
                    } else
                        snprintf (query, sizeof query, "%s", words[first]);
                } else {
                    size_t pairs[40], pair_count = 0;
                    for (size_t w = 1; w < word_count; w++)
                        if (adjacent[w])
                            pairs[pair_count++] = w;
                    if (pair_count) {
                        size_t w = pairs[s_below (&state, pair_count)];
                        snprintf (query, sizeof query, "\"%s %s\"", words[w - 1], words[w]);
                    } else
                        snprintf (query, sizeof query, "%s", words[0]);
                }
                if (paper && paper->category_count && s_category_ok (paper->categories[0]) &&
                    s_below (&state, 100) < 30)
                    json_array_append_new (categories, json_string (paper->categories[0]));
            }
        } else if (kind < 75) {
            size_t wanted = s_below (&state, 100) < 20 ? 2 : 1;
            for (int attempt = 0; attempt < 200 && json_array_size (authors) < wanted; attempt++) {
                const pbbench_paper_t *paper = &papers[s_below (&state, paper_count)];
                if (!paper->author_count)
                    continue;
                size_t shown = paper->author_count < 3 ? paper->author_count : 3;
                const char *author = paper->authors[s_below (&state, shown)];
                if (s_author_ok (author))
                    json_array_append_new (authors, json_string (author));
            }
            if (json_array_size (authors) == 0)
                json_array_append_new (authors, json_string ("Yann LeCun"));
        } else
            trending = 5 + (int)s_below (&state, 16);
        if (kind < 75 && s_below (&state, 100) < 20)
            trending = s_below (&state, 2) ? 5 : 10;
        json_t *row = json_pack ("{s:s, s:s, s:o, s:o, s:i}", "e", email, "q", query, "c",
                                 categories, "a", authors, "t", trending);
        json_array_append_new (batch, row);
        if (json_array_size (batch) == 5000 || n == count) {
            char *text = json_dumps (batch, JSON_COMPACT);
            pb_db_params_t params = {0};
            pb_db_params_text (&params, text);
            if (pb_db_run (db,
                           "INSERT INTO subscription (email, query, categories, authors, "
                           "  trending_top, cadence, send_hour, time_zone, confirmed_at) "
                           "SELECT r->>'e', r->>'q', "
                           "  ARRAY (SELECT jsonb_array_elements_text (r->'c')), "
                           "  ARRAY (SELECT jsonb_array_elements_text (r->'a')), "
                           "  (r->>'t')::int, 'daily', 0, 'UTC', now () "
                           "FROM jsonb_array_elements ($1::jsonb) WITH ORDINALITY AS x (r, n) "
                           "ORDER BY n",
                           &params) < 0) {
                fprintf (stderr, "bench_notify: inserting subscriptions: %s\n", pb_db_error (db));
                rc = -1;
            }
            free (text);
            json_array_clear (batch);
        }
    }
    json_decref (batch);
    for (size_t q = 0; q < query_count; q++)
        free (queries[q]);
    pbbench_papers_free (papers, paper_count);
    pb_db_script (db, "VACUUM ANALYZE subscription");
    return rc;
}

//  Makes the database, or finds it made for this corpus and population.
static int s_prepare_database (pb_db_t *main_db, pb_client_t *client, const char **corpus,
                               bool *ingested, bool *subscribed)
{
    PGresult *result =
        pb_db_query (main_db, "SELECT 1 FROM pg_database WHERE datname = '" DATABASE "'", NULL);
    bool exists = result && PQntuples (result) == 1;
    PQclear (result);
    if (!exists && pb_db_script (main_db, "CREATE DATABASE " DATABASE))
        return -1;
    pb_db_t *db = pb_db_new (s_database_url, "bench", 30);
    if (db && pb_migrate (db, pb_migrations, pb_migration_count, NULL)) {
        //  A migration changed since the database was made: made again.
        fprintf (stderr, "bench_notify: %s is stale; made again\n", DATABASE);
        pb_db_destroy (&db);
        if (pb_db_script (main_db, "DROP DATABASE " DATABASE) ||
            pb_db_script (main_db, "CREATE DATABASE " DATABASE))
            return -1;
        db = pb_db_new (s_database_url, "bench", 30);
    }
    if (!db || pb_migrate (db, pb_migrations, pb_migration_count, NULL) ||
        pb_db_script (db, "CREATE TABLE IF NOT EXISTS bench_ready (name text PRIMARY KEY,"
                          " value text NOT NULL)")) {
        pb_db_destroy (&db);
        return -1;
    }
    glob_t files;
    char papers_signature[600], subscribers_signature[800];
    *corpus = s_corpus_files (&files, papers_signature, sizeof papers_signature);
    if (!*corpus) {
        pb_db_destroy (&db);
        return -1;
    }
    snprintf (subscribers_signature, sizeof subscribers_signature, "%s; %zu subscribers; %s", MIX,
              s_population, papers_signature);
    int rc = 0;
    char *papers = s_ready_value (db, "papers");
    if (!papers || strcmp (papers, papers_signature) != 0) {
        fprintf (stderr, "bench_notify: ingesting %s into %s, once\n", *corpus, DATABASE);
        s_set_ready (db, "subscribers", "none");
        rc = s_ingest (db, client, &files);
        if (rc == 0)
            s_set_ready (db, "papers", papers_signature);
        *ingested = true;
    }
    free (papers);
    char *subscribers = s_ready_value (db, "subscribers");
    if (rc == 0 && (!subscribers || strcmp (subscribers, subscribers_signature) != 0)) {
        fprintf (stderr, "bench_notify: making %zu subscriptions, once\n", s_population);
        rc = s_make_subscribers (db, s_population);
        if (rc == 0)
            s_set_ready (db, "subscribers", subscribers_signature);
        *subscribed = true;
    }
    free (subscribers);
    globfree (&files);
    pb_db_destroy (&db);
    return rc;
}

/* ==== Trending ==== */

//  Votes on VOTED_PAPERS papers (heavy-tailed: the first a few hundred,
//  most a few) and Hugging Face upvotes for SIGNALLED_PAPERS, through rank.
static int s_cast_votes (pb_db_t *db, pb_client_t *client, size_t *votes_cast, size_t *signals_sent)
{
    PGresult *result = pb_db_query (db, "SELECT id FROM paper ORDER BY id", NULL);
    int rows = result ? PQntuples (result) : 0;
    if (rows == 0) {
        PQclear (result);
        return -1;
    }
    uint64_t state = 77;
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    size_t sent = 0, answered = 0, failed = 0;
    for (int p = 0; p < VOTED_PAPERS + SIGNALLED_PAPERS; p++) {
        const char *paper = PQgetvalue (result, (int)s_below (&state, (size_t)rows), 0);
        msgpack_packer packer;
        if (p < VOTED_PAPERS) {
            int votes = 1 + 300 / (p + 1);
            for (int v = 0; v < votes; v++) {
                char user[32];
                snprintf (user, sizeof user, "bench-reader-%d", v);
                msgpack_sbuffer_clear (&body);
                msgpack_packer_init (&packer, &body, msgpack_sbuffer_write);
                pb_vote_request_t request = {.paper = pb_str (paper), .user = pb_str (user)};
                pb_encode (&pb_vote_request_schema, &request, &packer);
                sent += pb_client_send (client, "rank.vote", body.data, body.size) > 0;
            }
        } else {
            msgpack_sbuffer_clear (&body);
            msgpack_packer_init (&packer, &body, msgpack_sbuffer_write);
            pb_signal_observed_t signal = {.paper = pb_str (paper),
                                           .source = pb_str ("hf"),
                                           .value = 5 + 200.0 / (p - VOTED_PAPERS + 1)};
            pb_encode (&pb_signal_observed_schema, &signal, &packer);
            sent += pb_client_send (client, "rank.signal", body.data, body.size) > 0;
            (*signals_sent)++;
        }
    }
    PQclear (result);
    while (answered < sent) {
        pb_reply_t reply = {0};
        if (pb_client_recv (client, 30000, &reply))
            break;
        failed += reply.status != PB_OK;
        answered++;
        pb_reply_reset (&reply);
    }
    msgpack_sbuffer_destroy (&body);
    *votes_cast = sent - *signals_sent;
    if (failed || answered < sent) {
        fprintf (stderr, "bench_notify: %zu of %zu votes and signals failed\n",
                 failed + sent - answered, sent);
        return -1;
    }
    return 0;
}

//  How many papers rank lists as trending (top 50 asked).
static int s_trending_count (pb_client_t *client)
{
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &body, msgpack_sbuffer_write);
    pb_top_request_t request = {.window = pb_str ("trending"), .limit = 50};
    pb_set_present (&request, PB_top_request_limit);
    pb_encode (&pb_top_request_schema, &request, &packer);
    pb_reply_t reply = {0};
    int count = -1;
    if (pb_client_call (client, "rank.top", body.data, body.size, 5000, 0, &reply) == 0 &&
        reply.status == PB_OK) {
        pb_arena_t *arena = pb_arena_new ();
        pb_top_reply_t top;
        pb_codec_error_t error;
        if (pb_decode (zframe_data (reply.body), zframe_size (reply.body), zframe_size (reply.body),
                       &pb_top_reply_schema, &top, arena, &error) == 0)
            count = (int)top.papers.count;
        pb_arena_destroy (&arena);
    }
    pb_reply_reset (&reply);
    msgpack_sbuffer_destroy (&body);
    return count;
}

/* ==== 1. Composition in process ==== */

typedef struct {
    char *email;
    char *query;
    char **categories;
    size_t category_count;
    char **authors;
    size_t author_count;
    int trending;
    int64_t id;
} subscriber_t;

static char **s_json_strings (const char *text, size_t *count)
{
    json_t *array = json_loads (text, 0, NULL);
    *count = json_array_size (array);
    char **strings = calloc (*count + 1, sizeof *strings);
    for (size_t i = 0; i < *count; i++)
        strings[i] = strdup (json_string_value (json_array_get (array, i)) ?: "");
    json_decref (array);
    return strings;
}

static subscriber_t *s_load_subscribers (pb_db_t *db, size_t *count)
{
    PGresult *result = pb_db_query (db,
                                    "SELECT id, email, query, to_json (categories), "
                                    "  to_json (authors), trending_top "
                                    "FROM subscription ORDER BY id",
                                    NULL);
    *count = result ? (size_t)PQntuples (result) : 0;
    subscriber_t *subscribers = calloc (*count + 1, sizeof *subscribers);
    for (size_t i = 0; i < *count; i++) {
        int row = (int)i;
        subscriber_t *s = &subscribers[i];
        s->id = strtoll (PQgetvalue (result, row, 0), NULL, 10);
        s->email = strdup (PQgetvalue (result, row, 1));
        s->query = strdup (PQgetvalue (result, row, 2));
        s->categories = s_json_strings (PQgetvalue (result, row, 3), &s->category_count);
        s->authors = s_json_strings (PQgetvalue (result, row, 4), &s->author_count);
        s->trending = atoi (PQgetvalue (result, row, 5));
    }
    PQclear (result);
    return subscribers;
}

static void s_free_subscribers (subscriber_t *subscribers, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        subscriber_t *s = &subscribers[i];
        for (size_t c = 0; c < s->category_count; c++)
            free (s->categories[c]);
        for (size_t a = 0; a < s->author_count; a++)
            free (s->authors[a]);
        free (s->categories);
        free (s->authors);
        free (s->email);
        free (s->query);
    }
    free (subscribers);
}

//  The searches a subscriber's digest asks of the index (digest.c's
//  s_query): one per author, else one if it follows anything.
static size_t s_distinct_searches (const subscriber_t *subscribers, size_t count)
{
    zhashx_t *seen = zhashx_new ();
    for (size_t i = 0; i < count; i++) {
        const subscriber_t *s = &subscribers[i];
        if (!s->query[0] && !s->category_count && !s->author_count)
            continue;
        size_t searches = s->author_count ? s->author_count : 1;
        for (size_t a = 0; a < searches; a++) {
            char query[2048];
            size_t used = (size_t)snprintf (query, sizeof query, "%s", s->query);
            for (size_t c = 0; c < s->category_count && used < sizeof query; c++)
                used += (size_t)snprintf (query + used, sizeof query - used, " cat:%s",
                                          s->categories[c]);
            if (s->author_count && used < sizeof query)
                snprintf (query + used, sizeof query - used, " au:\"%s\"", s->authors[a]);
            zhashx_insert (seen, query, (void *)1);
        }
    }
    size_t distinct = zhashx_size (seen);
    zhashx_destroy (&seen);
    return distinct;
}

//  One thread's share of a composition run.
typedef struct {
    pb_config_t *config;
    const subscriber_t *subscribers;
    const size_t *order; //  positions of the subscribers to compose
    size_t count;        //  of order
    size_t first, step;  //  this thread takes order[first], order[first + step], ...
    bool forget;         //  the baseline: forget every answer before each digest
    const char *since;   //  papers from this day on, NULL for a first digest
    const subscriptions_key_t *key;
    pthread_barrier_t *barrier;
    //  What it did
    size_t digests, empty, failed, papers;
    uint64_t bytes;
    int64_t candidates_ns, papers_ns, compose_ns;
} compose_job_t;

//  One digest, as sender.c's s_compose_digest makes it (less the look-up
//  of papers sent before: none were). Returns 1 composed, 0 empty, -1 failed.
static int s_compose_one (compose_job_t *job, digest_source_t *source, const subscriber_t *s,
                          const char *period, int64_t now_ms, pb_arena_t *arena, message_t *message)
{
    digest_interest_t interest = {
        .query = s->query,
        .categories = (const char *const *)s->categories,
        .category_count = s->category_count,
        .authors = (const char *const *)s->authors,
        .author_count = s->author_count,
        .trending = s->trending,
        .since = job->since,
        .limit = DIGEST_PAPERS,
    };
    char problem[512];
    int64_t t0 = pbbench_now_ns ();
    digest_candidates_t candidates;
    if (digest_source_candidates (source, &interest, arena, &candidates, problem, sizeof problem)) {
        fprintf (stderr, "bench_notify: candidates: %s\n", problem);
        return -1;
    }
    int64_t t1 = pbbench_now_ns ();
    size_t total = candidates.trending_count + candidates.matching_count;
    const char **fresh = pb_arena_alloc (arena, (total + 1) * sizeof *fresh);
    message_paper_t *papers = pb_arena_alloc (arena, (total + 1) * sizeof *papers);
    zhashx_t *excluded = zhashx_new ();
    size_t trending = 0, matching = 0;
    for (size_t i = 0; i < total; i++) {
        bool is_trending = i < candidates.trending_count;
        const char *id = is_trending ? candidates.trending[i]
                                     : candidates.matching[i - candidates.trending_count];
        if (!is_trending && matching == interest.limit)
            break;
        if (zhashx_lookup (excluded, id))
            continue;
        zhashx_insert (excluded, id, (void *)1);
        fresh[trending + matching] = id;
        if (is_trending)
            trending++;
        else
            matching++;
    }
    zhashx_destroy (&excluded);
    size_t count = trending + matching;
    job->candidates_ns += t1 - t0;
    if (count == 0)
        return 0;
    if (digest_source_papers (source, fresh, count, papers, problem, sizeof problem)) {
        fprintf (stderr, "bench_notify: papers: %s\n", problem);
        return -1;
    }
    int64_t t2 = pbbench_now_ns ();
    job->papers_ns += t2 - t1;
    size_t kept = 0, kept_trending = 0;
    for (size_t i = 0; i < count; i++)
        if (papers[i].title) {
            kept_trending += i < trending;
            papers[kept++] = papers[i];
        }
    if (kept == 0)
        return 0;
    char token[SUBSCRIPTIONS_TOKEN_MAX];
    subscriptions_unsubscribe_token (job->key, s->id, s->email, token);
    char *described =
        subscriptions_describe (s->query, (const char *const *)s->categories, s->category_count,
                                (const char *const *)s->authors, s->author_count);
    //  The Message-ID as sender.c makes it.
    char text[64], hex[17], message_id[160];
    int length = snprintf (text, sizeof text, "message-id %lld", (long long)s->id);
    unsigned char hash[8];
    crypto_generichash (hash, sizeof hash, (const unsigned char *)text, (size_t)length,
                        job->key->bytes, sizeof job->key->bytes);
    sodium_bin2hex (hex, sizeof hex, hash, sizeof hash);
    snprintf (message_id, sizeof message_id, "<paperbus.digest.%lld.%s@localhost>",
              (long long)s->id, hex);
    message_digest_t digest = {
        .from = "paperbus <paperbus@localhost>",
        .to = s->email,
        .message_id = message_id,
        .date_ms = now_ms,
        .public_url = "http://127.0.0.1:8080",
        .unsubscribe_token = token,
        .period = period,
        .weekly = false,
        .interest = described && *described ? described : NULL,
        .trending = papers,
        .trending_count = kept_trending,
        .matching = papers + kept_trending,
        .matching_count = kept - kept_trending,
    };
    message_reset (message);
    int rc = message_compose_digest (message, &digest);
    free (described);
    job->compose_ns += pbbench_now_ns () - t2;
    if (rc)
        return -1;
    job->papers += kept;
    job->bytes += message->size;
    return 1;
}

static void *s_compose_thread (void *arg)
{
    compose_job_t *job = arg;
    pb_client_t *client = pb_client_new (job->config);
    digest_source_t *source = digest_source_new (client, 10000);
    message_t message = {0};
    pb_arena_t *arena = pb_arena_new ();
    int64_t now_ms = pb_clock_now_ms ();
    char period[16];
    time_t seconds = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r (&seconds, &tm);
    strftime (period, sizeof period, "%Y-%m-%d", &tm);
    pthread_barrier_wait (job->barrier);
    for (size_t i = job->first; i < job->count; i += job->step) {
        if (job->forget)
            digest_source_forget (source);
        int composed = s_compose_one (job, source, &job->subscribers[job->order[i]], period, now_ms,
                                      arena, &message);
        job->digests += composed == 1;
        job->empty += composed == 0;
        job->failed += composed < 0;
        pb_arena_reset (arena);
    }
    pthread_barrier_wait (job->barrier);
    pb_arena_destroy (&arena);
    message_free (&message);
    digest_source_destroy (&source);
    pb_client_destroy (&client);
    return NULL;
}

typedef struct {
    double seconds;
    size_t composed, digests, empty, failed, papers;
    uint64_t bytes;
    int64_t candidates_ns, papers_ns, compose_ns; //  summed over threads
    int64_t index_requests, rank_requests;        //  asked of the workers in the run
} composed_t;

static composed_t s_compose (pb_config_t *config, pb_client_t *status_client,
                             const subscriber_t *subscribers, const size_t *order, size_t count,
                             int threads, bool forget, const char *since,
                             const subscriptions_key_t *key)
{
    composed_t out = {.composed = count};
    compose_job_t jobs[THREADS_MAX];
    pthread_t ids[THREADS_MAX];
    pthread_barrier_t barrier;
    pthread_barrier_init (&barrier, NULL, (unsigned)threads + 1);
    int64_t index_before = 0, rank_before = 0, index_after = 0, rank_after = 0;
    s_bus_status (status_client, "index", &index_before);
    s_bus_status (status_client, "rank", &rank_before);
    for (int t = 0; t < threads; t++) {
        jobs[t] = (compose_job_t){.config = config,
                                  .subscribers = subscribers,
                                  .order = order,
                                  .count = count,
                                  .first = (size_t)t,
                                  .step = (size_t)threads,
                                  .forget = forget,
                                  .since = since,
                                  .key = key,
                                  .barrier = &barrier};
        pthread_create (&ids[t], NULL, s_compose_thread, &jobs[t]);
    }
    pthread_barrier_wait (&barrier); //  every thread connected
    int64_t start = pbbench_now_ns ();
    pthread_barrier_wait (&barrier); //  every thread done
    out.seconds = s_seconds_since (start);
    for (int t = 0; t < threads; t++) {
        pthread_join (ids[t], NULL);
        out.digests += jobs[t].digests;
        out.empty += jobs[t].empty;
        out.failed += jobs[t].failed;
        out.papers += jobs[t].papers;
        out.bytes += jobs[t].bytes;
        out.candidates_ns += jobs[t].candidates_ns;
        out.papers_ns += jobs[t].papers_ns;
        out.compose_ns += jobs[t].compose_ns;
    }
    pthread_barrier_destroy (&barrier);
    s_bus_status (status_client, "index", &index_after);
    s_bus_status (status_client, "rank", &rank_after);
    out.index_requests = index_after - index_before;
    out.rank_requests = rank_after - rank_before;
    if (out.failed)
        fprintf (stderr, "bench_notify: %zu digests failed to compose\n", out.failed);
    return out;
}

/* ==== An SMTP sink ==== */

//  Accepts every mail at once and counts it, by recipient
//  (benchNNNNNN@example.org), so that a lost or doubled mail shows.
typedef struct {
    int listener;
    int port;
    pthread_t thread;
    atomic_long messages;
    atomic_llong bytes;
    atomic_long unknown;  //  mails to an address not of the bench
    atomic_int *received; //  per subscriber number
    size_t capacity;      //  of received
} sink_t;

typedef struct {
    sink_t *sink;
    int fd;
} sink_connection_t;

#define SINK_BUFFER (1 << 20)

static void s_reply (int fd, const char *text)
{
    size_t length = strlen (text), done = 0;
    while (done < length) {
        ssize_t sent = send (fd, text + done, length - done, MSG_NOSIGNAL);
        if (sent <= 0)
            return;
        done += (size_t)sent;
    }
}

static bool s_command (const char *line, size_t length, const char *verb)
{
    return length >= 4 && strncasecmp (line, verb, 4) == 0;
}

static void *s_sink_connection (void *arg)
{
    sink_connection_t *connection = arg;
    sink_t *sink = connection->sink;
    int fd = connection->fd;
    free (connection);
    int on = 1;
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    char *buffer = malloc (SINK_BUFFER);
    size_t used = 0, message_bytes = 0;
    bool data = false, quit = false;
    long recipients[16];
    size_t recipient_count = 0;
    s_reply (fd, "220 sink ESMTP\r\n");
    while (!quit) {
        ssize_t got = recv (fd, buffer + used, SINK_BUFFER - used, 0);
        if (got <= 0)
            break;
        used += (size_t)got;
        size_t start = 0;
        char *newline;
        while (!quit && (newline = memchr (buffer + start, '\n', used - start))) {
            char *line = buffer + start;
            size_t length = (size_t)(newline - line) + 1;
            start += length;
            if (data) {
                if (line[0] == '.' && (length == 2 || (length == 3 && line[1] == '\r'))) {
                    data = false;
                    atomic_fetch_add (&sink->messages, 1);
                    atomic_fetch_add (&sink->bytes, (long long)message_bytes);
                    for (size_t r = 0; r < recipient_count; r++)
                        if (recipients[r] > 0 && (size_t)recipients[r] < sink->capacity)
                            atomic_fetch_add (&sink->received[recipients[r]], 1);
                        else
                            atomic_fetch_add (&sink->unknown, 1);
                    recipient_count = 0;
                    s_reply (fd, "250 2.0.0 OK\r\n");
                } else
                    message_bytes += length;
            } else if (s_command (line, length, "EHLO"))
                s_reply (fd, "250-sink\r\n250-8BITMIME\r\n250 SIZE 52428800\r\n");
            else if (s_command (line, length, "HELO"))
                s_reply (fd, "250 sink\r\n");
            else if (s_command (line, length, "MAIL")) {
                recipient_count = 0;
                s_reply (fd, "250 2.1.0 OK\r\n");
            } else if (s_command (line, length, "RCPT")) {
                const char *at = memmem (line, length, "<bench", 6);
                if (recipient_count < 16)
                    recipients[recipient_count++] = at ? strtol (at + 6, NULL, 10) : -1;
                s_reply (fd, "250 2.1.5 OK\r\n");
            } else if (s_command (line, length, "DATA")) {
                data = true;
                message_bytes = 0;
                s_reply (fd, "354 End data with <CR><LF>.<CR><LF>\r\n");
            } else if (s_command (line, length, "RSET")) {
                recipient_count = 0;
                s_reply (fd, "250 2.0.0 OK\r\n");
            } else if (s_command (line, length, "NOOP"))
                s_reply (fd, "250 2.0.0 OK\r\n");
            else if (s_command (line, length, "QUIT")) {
                s_reply (fd, "221 2.0.0 Bye\r\n");
                quit = true;
            } else
                s_reply (fd, "502 5.5.2 Command not implemented\r\n");
        }
        memmove (buffer, buffer + start, used - start);
        used -= start;
        if (used == SINK_BUFFER) { //  a line longer than the buffer
            if (!data)
                break;
            message_bytes += used;
            used = 0;
        }
    }
    free (buffer);
    close (fd);
    return NULL;
}

static void *s_sink_accept (void *arg)
{
    sink_t *sink = arg;
    while (true) {
        int fd = accept (sink->listener, NULL, NULL);
        if (fd < 0)
            break;
        sink_connection_t *connection = malloc (sizeof *connection);
        *connection = (sink_connection_t){sink, fd};
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init (&attributes);
        pthread_attr_setdetachstate (&attributes, PTHREAD_CREATE_DETACHED);
        if (pthread_create (&thread, &attributes, s_sink_connection, connection)) {
            close (fd);
            free (connection);
        }
        pthread_attr_destroy (&attributes);
    }
    return NULL;
}

static int s_sink_start (sink_t *sink, size_t capacity)
{
    memset (sink, 0, sizeof *sink);
    sink->capacity = capacity;
    sink->received = calloc (capacity, sizeof *sink->received);
    sink->listener = socket (AF_INET, SOCK_STREAM, 0);
    int on = 1;
    setsockopt (sink->listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    if (bind (sink->listener, (struct sockaddr *)&address, sizeof address) ||
        listen (sink->listener, 128) ||
        getsockname (sink->listener, (struct sockaddr *)&address, &size))
        return -1;
    sink->port = ntohs (address.sin_port);
    return pthread_create (&sink->thread, NULL, s_sink_accept, sink) ? -1 : 0;
}

static void s_sink_reset (sink_t *sink)
{
    atomic_store (&sink->messages, 0);
    atomic_store (&sink->bytes, 0);
    atomic_store (&sink->unknown, 0);
    for (size_t i = 0; i < sink->capacity; i++)
        atomic_store (&sink->received[i], 0);
}

static void s_sink_stop (sink_t *sink)
{
    shutdown (sink->listener, SHUT_RDWR);
    close (sink->listener);
    pthread_join (sink->thread, NULL);
    free (sink->received);
}

/* ==== 2 and 3. The pipeline ==== */

//  Forgets every mail: no job, no paper sent, no period queued; every
//  subscription confirmed now, so that the scheduler of a starting notify
//  finds nothing due until notify.run (or the bench) queues it. DAILY:
//  every subscriber had a digest on the corpus's last day, so the next
//  shows the papers since two days before it (sender.c); else each is a
//  first digest, from every paper.
static void s_reset_mail (pb_db_t *db, bool daily)
{
    pb_db_script (db, "TRUNCATE mail_job, mail_handed, digest_paper, digest_run, notify_lease");
    pb_db_script (db, "DELETE FROM event_log WHERE topic = 'digest.sent'");
    pb_db_script (db, "UPDATE subscription SET last_period = NULL, last_sent_at = NULL,"
                      " bouncing_since = NULL, bounce_reason = NULL, confirmed_at = now ()");
    if (daily)
        pb_db_script (db, "UPDATE subscription SET last_sent_at ="
                          " (SELECT max (listed) FROM paper)::timestamp AT TIME ZONE 'UTC'");
    pb_db_script (db, "VACUUM ANALYZE subscription");
    pb_db_script (db, "VACUUM ANALYZE event_log");
    pb_db_script (db, "VACUUM ANALYZE mail_job");
}

typedef struct {
    double seconds;   //  from queueing to the last job done
    double queue_s;   //  notify.run's answer (the jobs inserted)
    int64_t expected; //  jobs queued
    int64_t sent, empty, failed, other;
    long delivered;     //  mails the server took
    long long bytes;    //  their bytes
    bool status_agrees; //  notify.status {run} says the run is over, with these counts
    int64_t doubled;    //  subscribers mailed more than once
    int64_t missing;    //  sent jobs whose subscriber got no mail
    bool ok;
} piped_t;

//  The sink's count of mails to every job's subscriber against the job's
//  state: each sent job's subscriber got exactly one, others none.
static void s_check_sink (pb_db_t *db, sink_t *sink, piped_t *out)
{
    PGresult *result = pb_db_query (db, "SELECT email, state FROM mail_job", NULL);
    for (int row = 0; result && row < PQntuples (result); row++) {
        const char *email = PQgetvalue (result, row, 0);
        long number = strncmp (email, "bench", 5) == 0 ? strtol (email + 5, NULL, 10) : -1;
        int got = number > 0 && (size_t)number < sink->capacity
                      ? atomic_load (&sink->received[number])
                      : -1;
        bool sent = strcmp (PQgetvalue (result, row, 1), "sent") == 0;
        if (got > 1 || (!sent && got != 0))
            out->doubled++;
        if (sent && got != 1)
            out->missing++;
    }
    PQclear (result);
}

static void s_job_states (pb_db_t *db, piped_t *out)
{
    PGresult *result = pb_db_query (db,
                                    "SELECT count(*) FILTER (WHERE state = 'sent'), "
                                    "  count(*) FILTER (WHERE state = 'empty'), "
                                    "  count(*) FILTER (WHERE state IN ('failed', 'bounced')), "
                                    "  count(*) FILTER (WHERE state = 'queued') "
                                    "FROM mail_job",
                                    NULL);
    if (result && PQntuples (result) == 1) {
        out->sent = strtoll (PQgetvalue (result, 0, 0), NULL, 10);
        out->empty = strtoll (PQgetvalue (result, 0, 1), NULL, 10);
        out->failed = strtoll (PQgetvalue (result, 0, 2), NULL, 10);
        out->other = strtoll (PQgetvalue (result, 0, 3), NULL, 10);
    }
    PQclear (result);
}

//  Whether notify.status says RUN is over, with the counts OUT has.
static bool s_status_agrees (pb_client_t *client, int64_t run, const piped_t *out)
{
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &body, msgpack_sbuffer_write);
    pb_notify_status_request_t request = {.run = run};
    pb_set_present (&request, PB_notify_status_request_run);
    pb_encode (&pb_notify_status_request_schema, &request, &packer);
    pb_reply_t reply = {0};
    bool agrees = false;
    if (pb_client_call (client, "notify.status", body.data, body.size, 30000, 0, &reply) == 0 &&
        reply.status == PB_OK) {
        pb_arena_t *arena = pb_arena_new ();
        pb_notify_status_reply_t status;
        pb_codec_error_t error;
        if (pb_decode (zframe_data (reply.body), zframe_size (reply.body), zframe_size (reply.body),
                       &pb_notify_status_reply_schema, &status, arena, &error) == 0)
            agrees = status.run_done && status.queued == 0 && status.retrying == 0 &&
                     status.sent == out->sent && status.empty == out->empty;
        pb_arena_destroy (&arena);
    }
    pb_reply_reset (&reply);
    msgpack_sbuffer_destroy (&body);
    if (!agrees)
        fprintf (stderr, "bench_notify: notify.status does not say run %lld is over\n",
                 (long long)run);
    return agrees;
}

//  PROCESSES notify processes of SENDERS senders each mail every due
//  digest through SMTP_PORT: all subscribers (queued by notify.run) when
//  SUBSET is 0, else SUBSET of them, queued by SQL. SINK, when given, is
//  the server, and is checked.
static piped_t s_pipeline (pb_db_t *db, pb_client_t *client, int processes, int senders,
                           int smtp_port, sink_t *sink, size_t subset, bool daily)
{
    piped_t out = {0};
    s_reset_mail (db, daily);
    if (sink)
        s_sink_reset (sink);
    char senders_setting[64], smtp_setting[96];
    snprintf (senders_setting, sizeof senders_setting, "PAPERBUS_NOTIFY_SENDERS=%d", senders);
    snprintf (smtp_setting, sizeof smtp_setting, "PAPERBUS_SMTP_URL=smtp://127.0.0.1:%d",
              smtp_port);
    char *extra[] = {senders_setting, smtp_setting, "PAPERBUS_NOTIFY_SCHEDULE_MS=3600000",
                     "PAPERBUS_CLOCK_FILE=none", NULL};
    pid_t notify[8] = {0};
    int64_t run = 0;
    for (int p = 0; p < processes; p++)
        notify[p] = s_start ("notify", extra);
    if (s_wait_workers (client, "notify", processes, 60) == 0) {
        zclock_sleep (200);
        int64_t start = pbbench_now_ns ();
        if (subset == 0) {
            //  notify.run records a run; the scheduler thread queues it.
            msgpack_sbuffer body;
            msgpack_sbuffer_init (&body);
            msgpack_packer packer;
            msgpack_packer_init (&packer, &body, msgpack_sbuffer_write);
            pb_digests_run_request_t request = {.now = true};
            pb_set_present (&request, PB_digests_run_request_now);
            pb_encode (&pb_digests_run_request_schema, &request, &packer);
            pb_reply_t reply = {0};
            if (pb_client_call (client, "notify.run", body.data, body.size, 30000, 0, &reply) ==
                    0 &&
                reply.status == PB_OK) {
                pb_arena_t *arena = pb_arena_new ();
                pb_digests_run_reply_t answer;
                pb_codec_error_t error;
                if (pb_decode (zframe_data (reply.body), zframe_size (reply.body),
                               zframe_size (reply.body), &pb_digests_run_reply_schema, &answer,
                               arena, &error) == 0)
                    run = answer.run;
                pb_arena_destroy (&arena);
            } else
                fprintf (stderr, "bench_notify: notify.run: %s\n", reply.error);
            pb_reply_reset (&reply);
            msgpack_sbuffer_destroy (&body);
        } else {
            //  Every (population / subset)th subscriber, queued as the
            //  scheduler queues them.
            pb_db_params_t params = {0};
            pb_db_params_int (&params, (int64_t)(s_population / subset));
            pb_db_params_int (&params, (int64_t)subset);
            out.expected = pb_db_run (
                db,
                "WITH chosen AS (SELECT id, email FROM subscription "
                "  WHERE id % $1 = 0 ORDER BY id LIMIT $2), "
                "marked AS (UPDATE subscription s SET last_period = current_date FROM chosen "
                "  WHERE s.id = chosen.id RETURNING s.id, s.email) "
                "INSERT INTO mail_job (kind, subscription_id, email, period, due_at) "
                "SELECT 'digest', id, email, current_date, now () FROM marked ORDER BY id",
                &params);
            pb_db_script (db, "NOTIFY mail_job");
            out.queue_s = s_seconds_since (start);
        }
        //  Until the run is queued and no job is left queued. Cheap to ask
        //  (an EXISTS on the queue's index, the event head): counting the
        //  queued jobs every 50 ms would load PostgreSQL as much as a sender.
        int64_t progress = -1, last_progress = pbbench_now_ns ();
        bool queued = subset > 0;
        while (run > 0 || out.expected > 0) {
            zclock_sleep (50);
            pb_db_params_t params = {0};
            pb_db_params_int (&params, run);
            PGresult *result = pb_db_query (
                db,
                "SELECT coalesce ((SELECT done_at IS NOT NULL FROM digest_run WHERE id = $1), "
                "  true), coalesce ((SELECT queued FROM digest_run WHERE id = $1), 0), "
                "  EXISTS (SELECT 1 FROM mail_job WHERE state = 'queued'), "
                "  coalesce ((SELECT last_seq FROM event_topic WHERE topic = 'digest.sent'), 0)",
                &params);
            if (!result || PQntuples (result) != 1) {
                PQclear (result);
                break;
            }
            bool run_done = PQgetvalue (result, 0, 0)[0] == 't';
            bool left = PQgetvalue (result, 0, 2)[0] == 't';
            int64_t now_progress = strtoll (PQgetvalue (result, 0, 3), NULL, 10) +
                                   (sink ? atomic_load (&sink->messages) : 0);
            if (run && run_done && !queued) {
                queued = true;
                out.expected = strtoll (PQgetvalue (result, 0, 1), NULL, 10);
                out.queue_s = s_seconds_since (start);
            }
            PQclear (result);
            if (now_progress != progress)
                last_progress = pbbench_now_ns ();
            progress = now_progress;
            if (queued && !left)
                break;
            if (s_seconds_since (last_progress) > STALL_S) {
                fprintf (stderr, "bench_notify: no mail for %d s, jobs still queued\n", STALL_S);
                break;
            }
        }
        out.seconds = s_seconds_since (start);
    }
    s_job_states (db, &out);
    out.status_agrees = subset > 0 || s_status_agrees (client, run, &out);
    for (int p = 0; p < processes; p++)
        s_stop (notify[p]);
    if (sink) {
        out.delivered = atomic_load (&sink->messages);
        out.bytes = atomic_load (&sink->bytes);
        s_check_sink (db, sink, &out);
        out.doubled += atomic_load (&sink->unknown);
    }
    out.ok = out.expected > 0 && out.status_agrees && out.other == 0 && out.failed == 0 &&
             out.sent + out.empty == out.expected && out.doubled == 0 && out.missing == 0 &&
             (!sink || out.delivered == out.sent);
    if (!out.ok)
        fprintf (stderr,
                 "bench_notify: pipeline %d×%d: expected %lld, sent %lld, empty %lld, failed "
                 "%lld, queued %lld, delivered %ld, doubled %lld, missing %lld\n",
                 processes, senders, (long long)out.expected, (long long)out.sent,
                 (long long)out.empty, (long long)out.failed, (long long)out.other, out.delivered,
                 (long long)out.doubled, (long long)out.missing);
    return out;
}

//  The mail catcher, on a free port, writing into DIRECTORY. Returns its
//  pid with *PORT set, or -1.
static pid_t s_catcher_start (const char *directory, int *port)
{
    const char *root = getenv ("PAPERBUS_ROOT") ?: ".";
    char script[4200], mail[4200], ready[4200];
    snprintf (script, sizeof script, "%s/deploy/mailcatcher.py", root);
    snprintf (mail, sizeof mail, "%s/mail", directory);
    snprintf (ready, sizeof ready, "%s/port", directory);
    unlink (ready);
    char *argv[] = {"/usr/bin/python3", script, "--port", "0", "--dir", mail,
                    "--ready-file",     ready,  NULL};
    pid_t pid = pbbench_spawn ("/usr/bin/python3", argv, NULL);
    for (int attempt = 0; attempt < 300; attempt++) {
        FILE *file = fopen (ready, "r");
        if (file) {
            int got = fscanf (file, "%d", port);
            fclose (file);
            if (got == 1)
                return pid;
        }
        zclock_sleep (50);
    }
    fprintf (stderr, "bench_notify: the mail catcher did not start\n");
    s_stop (pid);
    return -1;
}

//  The .eml files in DIRECTORY/mail, removed as they are counted.
static long s_catcher_files (const char *directory)
{
    char mail[4200];
    snprintf (mail, sizeof mail, "%s/mail", directory);
    DIR *dir = opendir (mail);
    long count = 0;
    struct dirent *entry;
    while (dir && (entry = readdir (dir))) {
        size_t length = strlen (entry->d_name);
        if (entry->d_name[0] == '.')
            continue;
        count += length > 4 && strcmp (entry->d_name + length - 4, ".eml") == 0;
        char path[8400];
        snprintf (path, sizeof path, "%s/%s", mail, entry->d_name);
        unlink (path);
    }
    if (dir)
        closedir (dir);
    return count;
}

/* ==== Main ==== */

typedef struct {
    bool daily;  //  a daily run, else first digests
    bool forget; //  the baseline
    int threads;
    bool subset; //  every BASELINE_EVERY-th subscriber, else all
} compose_case_t;

static const compose_case_t s_compose_cases[] = {
    {false, true, 1, true},   {false, false, 1, true}, {false, false, 1, false},
    {false, false, 4, false}, {true, true, 1, true},   {true, false, 1, false},
    {true, false, 4, false},
};
#define COMPOSE_CASES (sizeof s_compose_cases / sizeof s_compose_cases[0])

typedef struct {
    bool daily;
    int processes, senders;
} pipeline_case_t;

//  First digests are bound by the index (composition, above): one setting.
static const pipeline_case_t s_pipeline_cases[] = {
    {true, 1, 1}, {true, 1, 4}, {true, 2, 2}, {false, 1, 4}};
#define PIPELINE_CASES (sizeof s_pipeline_cases / sizeof s_pipeline_cases[0])

static double s_median_of (const double *values, int count)
{
    double copy[16];
    memcpy (copy, values, (size_t)count * sizeof *copy);
    return pbbench_median (copy, (size_t)count);
}

static void s_print_compose_row (const compose_case_t *how, const composed_t *runs, double rate,
                                 double seconds, double baseline_rate)
{
    const composed_t *t = &runs[0];
    double busy = (double)(t->candidates_ns + t->papers_ns + t->compose_ns);
    if (busy <= 0)
        busy = 1;
    printf ("| %s | %s | %d | %zu | %zu | %.2f | **%.0f** | %.2f | %lld / %lld | %.0f%%, %.0f%%, "
            "%.0f%% |\n",
            how->daily ? "daily" : "first",
            how->forget ? "baseline: forgotten before each digest"
                        : "as senders do: kept through the run",
            how->threads, t->composed, t->digests, seconds, rate, rate / baseline_rate,
            (long long)t->index_requests, (long long)t->rank_requests,
            100 * (double)t->candidates_ns / busy, 100 * (double)t->papers_ns / busy,
            100 * (double)t->compose_ns / busy);
}

int main (void)
{
    pb_log_init ("bench", PB_LOG_WARN);
    const char *url = getenv ("PAPERBUS_DATABASE_URL");
    s_bin = getenv ("PAPERBUS_BIN_DIR");
    if (!url || !s_bin) {
        fprintf (stderr, "bench_notify: run it with make bench\n");
        return 1;
    }
    if (sodium_init () < 0)
        return 1;
    s_population = getenv ("PAPERBUS_BENCH_NOTIFY_SUBSCRIBERS")
                       ? strtoul (getenv ("PAPERBUS_BENCH_NOTIFY_SUBSCRIBERS"), NULL, 10)
                       : SUBSCRIBERS;
    s_runs =
        getenv ("PAPERBUS_BENCH_NOTIFY_RUNS") ? atoi (getenv ("PAPERBUS_BENCH_NOTIFY_RUNS")) : RUNS;
    int port =
        getenv ("PAPERBUS_BENCH_NOTIFY_PORT") ? atoi (getenv ("PAPERBUS_BENCH_NOTIFY_PORT")) : 5661;
    if (s_population < 100 || s_runs < 1 || s_runs > 15 || port < 1024 || port > 65000) {
        fprintf (stderr, "bench_notify: bad PAPERBUS_BENCH_NOTIFY_* setting\n");
        return 1;
    }
    s_parts = getenv ("PAPERBUS_BENCH_NOTIFY_PARTS") ?: "123";
    s_database_url = pbbench_database_url (url, DATABASE);
    static char endpoints[3][64], database[700];
    snprintf (endpoints[0], sizeof endpoints[0], "PAPERBUS_BUS_REQUESTS=tcp://127.0.0.1:%d", port);
    snprintf (endpoints[1], sizeof endpoints[1], "PAPERBUS_BUS_EVENTS_IN=tcp://127.0.0.1:%d",
              port + 1);
    snprintf (endpoints[2], sizeof endpoints[2], "PAPERBUS_BUS_EVENTS_OUT=tcp://127.0.0.1:%d",
              port + 2);
    snprintf (database, sizeof database, "PAPERBUS_DATABASE_URL=%s", s_database_url);
    s_environment[0] = endpoints[0];
    s_environment[1] = endpoints[1];
    s_environment[2] = endpoints[2];
    s_environment[3] = database;
    s_environment[4] = "PAPERBUS_LOG_LEVEL=error";
    s_environment[5] = NULL;
    for (int i = 0; i < 3; i++)
        putenv (endpoints[i]);
    char error[256];
    pb_config_t *config = pb_config_load (error, sizeof error);
    pb_db_t *main_db = pb_db_new (url, "bench", 30);
    if (!config || !main_db) {
        fprintf (stderr, "bench_notify: %s\n", config ? "no database" : error);
        return 1;
    }
    pb_client_t *client = pb_client_new (config);
    pid_t bus = s_start ("bus", NULL);
    zclock_sleep (300);

    //  Setup
    const char *corpus = NULL;
    bool ingested = false, subscribed = false;
    if (s_prepare_database (main_db, client, &corpus, &ingested, &subscribed)) {
        fprintf (stderr, "bench_notify: the database could not be prepared\n");
        s_stop (bus);
        return 1;
    }
    pb_db_destroy (&main_db);
    pb_db_t *db = pb_db_new (s_database_url, "bench", 30);
    pb_db_script (db, "TRUNCATE vote, signal_gain, paper_signal");
    pb_db_script (db, "UPDATE trending_state SET top = '{}', published_at = '-infinity'");
    s_reset_mail (db, false);
    pid_t workers[INDEX_WORKERS + 1];
    int64_t start = pbbench_now_ns ();
    for (int w = 0; w < INDEX_WORKERS; w++)
        workers[w] = s_start ("index", NULL);
    workers[INDEX_WORKERS] = s_start ("rank", NULL);
    size_t votes = 0, signals = 0;
    int trending = -1;
    if (s_wait_workers (client, "index", INDEX_WORKERS, 300) == 0 &&
        s_wait_workers (client, "rank", 1, 300) == 0 &&
        s_cast_votes (db, client, &votes, &signals) == 0)
        trending = s_trending_count (client);
    double workers_s = s_seconds_since (start);
    if (trending <= 0) {
        fprintf (stderr, "bench_notify: the workers did not start, or trending is empty\n");
        for (int w = 0; w <= INDEX_WORKERS; w++)
            s_stop (workers[w]);
        s_stop (bus);
        return 1;
    }
    size_t subscriber_count = 0;
    subscriber_t *subscribers = s_load_subscribers (db, &subscriber_count);
    PGresult *result = pb_db_query (
        db,
        "SELECT (SELECT count(*) FROM paper), count(*), "
        "  count(*) FILTER (WHERE query = '' AND authors = '{}' AND categories <> '{}'), "
        "  count(*) FILTER (WHERE query <> ''), "
        "  count(*) FILTER (WHERE query <> '' AND categories <> '{}'), "
        "  count(*) FILTER (WHERE authors <> '{}'), "
        "  count(*) FILTER (WHERE query = '' AND authors = '{}' AND categories = '{}'), "
        "  count(*) FILTER (WHERE trending_top > 0 AND (query <> '' OR authors <> '{}' "
        "    OR categories <> '{}')), "
        "  count(DISTINCT (query, categories, authors, trending_top)), "
        "  count(DISTINCT (query, categories, authors)) "
        "    FILTER (WHERE query <> '' OR authors <> '{}' OR categories <> '{}'), "
        "  count(*) FILTER (WHERE query LIKE '%\"%'), "
        "  (SELECT to_char (max (listed), 'YYYY-MM-DD') FROM paper), "
        "  (SELECT to_char (max (listed) - 2, 'YYYY-MM-DD') FROM paper), "
        "  (SELECT count(*) FROM paper WHERE listed >= (SELECT max (listed) - 2 FROM paper)) "
        "FROM subscription",
        NULL);
    int64_t mix[14] = {0};
    char last_day[16] = "", since[16] = "";
    for (int c = 0; result && c < 14; c++)
        mix[c] = strtoll (PQgetvalue (result, 0, c), NULL, 10);
    if (result) {
        snprintf (last_day, sizeof last_day, "%s", PQgetvalue (result, 0, 11));
        snprintf (since, sizeof since, "%s", PQgetvalue (result, 0, 12));
    }
    PQclear (result);
    size_t searches = s_distinct_searches (subscribers, subscriber_count);
    subscriptions_key_t key;
    subscriptions_key_load (db, &key);

    //  1. Composition
    size_t *all = malloc ((subscriber_count + 1) * sizeof *all);
    size_t *subset = malloc ((subscriber_count / BASELINE_EVERY + 1) * sizeof *subset);
    size_t subset_count = 0;
    for (size_t i = 0; i < subscriber_count; i++) {
        all[i] = i;
        if (i % BASELINE_EVERY == 0)
            subset[subset_count++] = i;
    }
    static composed_t composed[COMPOSE_CASES][15]; //  zero for the parts not run
    for (int run = 0; run < s_runs && strchr (s_parts, '1'); run++)
        for (size_t c = 0; c < COMPOSE_CASES; c++) {
            const compose_case_t *how = &s_compose_cases[c];
            fprintf (stderr, "bench_notify: composing, run %d, case %zu\n", run + 1, c + 1);
            composed[c][run] =
                s_compose (config, client, subscribers, how->subset ? subset : all,
                           how->subset ? subset_count : subscriber_count, how->threads, how->forget,
                           how->daily ? since : NULL, &key);
        }

    //  2. The pipeline, to the sink
    sink_t sink;
    if (s_sink_start (&sink, s_population + 2)) {
        fprintf (stderr, "bench_notify: the SMTP sink could not start\n");
        return 1;
    }
    static piped_t piped[PIPELINE_CASES][15];
    for (int run = 0; run < s_runs && strchr (s_parts, '2'); run++)
        for (size_t c = 0; c < PIPELINE_CASES; c++) {
            const pipeline_case_t *how = &s_pipeline_cases[c];
            if (!strchr (getenv ("PAPERBUS_BENCH_NOTIFY_PIPELINES") ?: "0123", (int)('0' + c)))
                continue;
            fprintf (stderr, "bench_notify: pipeline, run %d, %s, %d×%d senders\n", run + 1,
                     how->daily ? "daily" : "first digests", how->processes, how->senders);
            piped[c][run] = s_pipeline (db, client, how->processes, how->senders, sink.port, &sink,
                                        0, how->daily);
        }

    //  3. The mail catcher, beside the sink, on fewer subscribers
    size_t catcher_population =
        s_population < CATCHER_SUBSCRIBERS ? s_population : CATCHER_SUBSCRIBERS;
    char directory[] = "/tmp/bench-notify-XXXXXX";
    bool have_directory = mkdtemp (directory) != NULL;
    static piped_t caught[4][15];
    static const int catcher_senders[2] = {1, 4};
    for (int run = 0; run < s_runs && have_directory && strchr (s_parts, '3'); run++)
        for (int c = 0; c < 4; c++) {
            int senders = catcher_senders[c % 2];
            fprintf (stderr, "bench_notify: %s, run %d, %d senders\n",
                     c < 2 ? "mail catcher" : "sink", run + 1, senders);
            if (c >= 2) {
                caught[c][run] = s_pipeline (db, client, 1, senders, sink.port, &sink,
                                             catcher_population, false);
                continue;
            }
            int catcher_port = 0;
            pid_t catcher = s_catcher_start (directory, &catcher_port);
            if (catcher < 0) {
                caught[c][run] = (piped_t){0};
                continue;
            }
            caught[c][run] =
                s_pipeline (db, client, 1, senders, catcher_port, NULL, catcher_population, false);
            s_stop (catcher);
            caught[c][run].delivered = s_catcher_files (directory);
            if (caught[c][run].delivered != caught[c][run].sent)
                caught[c][run].ok = false;
        }
    if (have_directory) {
        char path[200];
        snprintf (path, sizeof path, "%s/mail", directory);
        rmdir (path);
        snprintf (path, sizeof path, "%s/port", directory);
        unlink (path);
        rmdir (directory);
    }
    s_sink_stop (&sink);
    s_reset_mail (db, false);
    for (int w = 0; w <= INDEX_WORKERS; w++)
        s_stop (workers[w]);
    s_stop (bus);

    /* ==== The report ==== */
    printf ("## Notify: digests for %zu subscribers\n\n", subscriber_count);
    printf ("%lld papers of %s (listed up to %s), ingested through `paperctl ingest` into a "
            "database of the bench cluster kept between runs (`%s`%s). The bus, %d index "
            "workers and a rank worker (release build), %.1f s to start and take %zu votes on "
            "%d papers and %zu Hugging Face signals cast through rank, so trending lists %d "
            "papers. %lld confirmed daily subscriptions (00:00 UTC) inserted by SQL, interests "
            "drawn from the corpus with a fixed seed: %lld one or two categories, %lld a query "
            "(a line of queries.txt, title words, or a quoted phrase of a title: %lld; %lld "
            "within a category), %lld one or two authors, %lld the trending top only (5 to "
            "20); %lld of those that follow something take the trending top 5 or 10 too. That "
            "is **%lld distinct interests** (%lld distinct things followed besides trending), "
            "which ask the index **%zu distinct searches**. The machine was shared with other "
            "engineers' builds and tests; each figure is the median of %d runs, the cases "
            "alternating in each run.\n\n",
            (long long)mix[0], corpus, last_day, DATABASE,
            ingested     ? "; made in this run"
            : subscribed ? "; its subscriptions made in this run"
                         : "",
            INDEX_WORKERS, workers_s, votes, VOTED_PAPERS, signals, trending, (long long)mix[1],
            (long long)mix[2], (long long)mix[3], (long long)mix[10], (long long)mix[4],
            (long long)mix[5], (long long)mix[6], (long long)mix[7], (long long)mix[8],
            (long long)mix[9], searches, s_runs);
    printf ("Two kinds of run. **Daily**: every subscriber had yesterday's digest (on %s, the "
            "corpus's last day), so the sender asks for papers since %s (two days before, "
            "sender.c), %lld of them: the routine run. **First**: nobody had a digest yet, so "
            "every search goes over the whole corpus, newest first: the run after 100,000 "
            "people subscribe at once, the worst case.\n\n",
            last_day, since, (long long)mix[13]);

    //  Composition
    double rate[COMPOSE_CASES], seconds[COMPOSE_CASES];
    for (size_t c = 0; c < COMPOSE_CASES; c++) {
        double rates[15] = {0}, times[15] = {0};
        for (int run = 0; run < s_runs; run++) {
            times[run] = composed[c][run].seconds;
            rates[run] = times[run] > 0 ? (double)composed[c][run].composed / times[run] : 0;
        }
        rate[c] = s_median_of (rates, s_runs);
        seconds[c] = s_median_of (times, s_runs);
    }
    //  The rows, by position in s_compose_cases
    enum { FIRST_BASE, FIRST_SUBSET, FIRST_ONE, FIRST_FOUR, DAILY_BASE, DAILY_ONE, DAILY_FOUR };
    const composed_t *first = &composed[FIRST_ONE][0], *daily = &composed[DAILY_ONE][0];
    printf ("### Composition, in process\n\n");
    printf ("Each subscriber's digest as a sender composes it: `digest_source_candidates` "
            "(index.search newest first; rank.top for trending), `digest_source_papers` "
            "(index.get) and `message_compose_digest` (MIME: %.1f KB and %.1f papers a first "
            "digest, %.1f KB and %.1f papers a daily one), through the bus to the workers; what "
            "a sender adds around it (PostgreSQL, SMTP) is in the pipeline below. The baseline "
            "forgets every answer before each digest, so every subscriber asks the index "
            "itself; being slow, it composes one subscriber in %d (%zu), and the senders' way "
            "is measured on the same ones too (first digests). Threads have their own client "
            "and answers, and take every Nth subscriber, as senders claim jobs. Requests, and "
            "where the time goes (search and trending, papers, MIME; summed over threads), "
            "are from the first run.\n\n",
            first->digests ? (double)first->bytes / (double)first->digests / 1024 : 0,
            first->digests ? (double)first->papers / (double)first->digests : 0,
            daily->digests ? (double)daily->bytes / (double)daily->digests / 1024 : 0,
            daily->digests ? (double)daily->papers / (double)daily->digests : 0, BASELINE_EVERY,
            subset_count);
    printf ("| run | answers | threads | subscribers | digests not empty | seconds | digests/s "
            "| vs baseline | requests to index / rank | time in search, papers, MIME |\n"
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for (size_t c = 0; c < COMPOSE_CASES; c++)
        s_print_compose_row (&s_compose_cases[c], composed[c], rate[c], seconds[c],
                             s_compose_cases[c].daily ? rate[DAILY_BASE] : rate[FIRST_BASE]);
    size_t failed = 0;
    for (size_t c = 0; c < COMPOSE_CASES; c++)
        for (int run = 0; run < s_runs; run++)
            failed += composed[c][run].failed;
    printf ("\nAt the baseline's rate %zu first digests would take %.0f s, and %zu daily ones "
            "%.0f s. Digests that failed to compose: %zu.\n\n",
            subscriber_count,
            rate[FIRST_BASE] > 0 ? (double)subscriber_count / rate[FIRST_BASE] : 0,
            subscriber_count,
            rate[DAILY_BASE] > 0 ? (double)subscriber_count / rate[DAILY_BASE] : 0, failed);

    //  Pipeline
    printf ("### The whole pipeline, to an SMTP sink\n\n");
    printf (
        "`notify` processes (release build) mail every digest: `notify.run {now: true}` "
        "records a run, the scheduler thread queues its digests (chunks of 2000), each "
        "sender claims a job (`FOR UPDATE SKIP LOCKED`), composes it, looks up the papers "
        "sent before (not for a first digest: there are none; for a daily one the table "
        "starts empty here), commits the mark, hands the mail over SMTP (libcurl) and commits the "
        "outcome with its `digest.sent` event; an empty digest ends the job without mail. "
        "The server is a sink in the bench process (a thread per connection, answers at "
        "once, counts mails by recipient), so what is timed is notify. Timed from "
        "notify.run to the last job done (polled every 50 ms). Checked after each run: every "
        "job sent or empty, notify.status agrees, the sink's mails = jobs sent, each sent "
        "job's subscriber mailed exactly once and nobody else.\n\n");
    printf ("| run | notify processes × senders | seconds | digests/s | all queued after s | "
            "sent | empty | MB at the sink | every subscriber mailed once |\n"
            "|---|---|---:|---:|---:|---:|---:|---:|---|\n");
    double pipeline_s[PIPELINE_CASES];
    for (size_t c = 0; c < PIPELINE_CASES; c++) {
        double times[15] = {0}, queues[15] = {0};
        bool ok = true;
        for (int run = 0; run < s_runs; run++) {
            times[run] = piped[c][run].seconds;
            queues[run] = piped[c][run].queue_s;
            ok = ok && piped[c][run].ok;
        }
        pipeline_s[c] = s_median_of (times, s_runs);
        const piped_t *last = &piped[c][s_runs - 1];
        printf ("| %s | %d × %d | %.1f | **%.0f** | %.1f | %lld | %lld | %.1f | %s |\n",
                s_pipeline_cases[c].daily ? "daily" : "first", s_pipeline_cases[c].processes,
                s_pipeline_cases[c].senders, pipeline_s[c],
                pipeline_s[c] > 0 ? (double)last->expected / pipeline_s[c] : 0,
                s_median_of (queues, s_runs), (long long)last->sent, (long long)last->empty,
                (double)last->bytes / 1e6, ok ? "yes, every run" : "**no**");
    }
    printf ("\n");

    //  Mail catcher
    printf ("### Mails per second to the development mail catcher\n\n");
    printf ("The pipeline again on %zu subscribers (one in %zu, first digests, queued by SQL "
            "as the scheduler queues them), to `deploy/mailcatcher.py` (aiosmtpd, each mail an "
            "fsynced .eml file in a temporary directory), beside the sink on the same "
            "subscribers; one notify process. Checked: .eml files = jobs sent.\n\n",
            catcher_population, s_population / catcher_population);
    printf ("| server | senders | seconds | mails/s | every mail stored |\n"
            "|---|---:|---:|---:|---|\n");
    for (int c = 0; c < 4; c++) {
        double rates[15] = {0}, times[15] = {0};
        bool ok = have_directory;
        for (int run = 0; run < s_runs && have_directory; run++) {
            times[run] = caught[c][run].seconds;
            rates[run] = caught[c][run].seconds > 0
                             ? (double)caught[c][run].sent / caught[c][run].seconds
                             : 0;
            ok = ok && caught[c][run].ok;
        }
        printf ("| %s | %d | %.2f | **%.0f** | %s |\n",
                c < 2 ? "mail catcher (aiosmtpd, .eml files)" : "SMTP sink (in the bench)",
                catcher_senders[c % 2], have_directory ? s_median_of (times, s_runs) : 0,
                have_directory ? s_median_of (rates, s_runs) : 0, ok ? "yes" : "**no**");
    }
    printf ("\n");

    double daily_s = rate[DAILY_ONE] > 0 ? (double)subscriber_count / rate[DAILY_ONE] : 0;
    double first_s = rate[FIRST_ONE] > 0 ? (double)subscriber_count / rate[FIRST_ONE] : 0;
    double best_daily = 0;
    for (size_t c = 0; c < PIPELINE_CASES; c++)
        if (s_pipeline_cases[c].daily && (best_daily == 0 || pipeline_s[c] < best_daily))
            best_daily = pipeline_s[c];
    double daily_four = seconds[DAILY_FOUR], first_four = seconds[FIRST_FOUR];
    bool daily_met = daily_four > 0 && (daily_s <= TARGET_S || daily_four <= TARGET_S);
    printf ("**Target: %zu digests composed in at most %.0f s.** The figure that answers it is "
            "the composition of a daily run as senders do it: **%.1f s on one thread** (%.0f "
            "digests/s) **and %.1f s on 4** (%.0f digests/s): %s. First digests for everyone "
            "at once take %.1f s on one thread and %.1f s on 4: %s. Composed and mailed end to "
            "end by notify, a daily run took %.1f s at best (table above): %s.\n\n",
            subscriber_count, TARGET_S, daily_s, rate[DAILY_ONE], daily_four, rate[DAILY_FOUR],
            !daily_met            ? "**not met**"
            : daily_s <= TARGET_S ? "met"
                                  : "met with 4 threads (4 senders), not with one",
            first_s, first_four,
            first_four > 0 && (first_s <= TARGET_S || first_four <= TARGET_S) ? "met too"
                                                                              : "**not met**",
            best_daily, best_daily > 0 && best_daily <= TARGET_S ? "met too" : "**not met**");
    s_free_subscribers (subscribers, subscriber_count);
    free (all);
    free (subset);
    pb_client_destroy (&client);
    pb_db_destroy (&db);
    pb_config_destroy (&config);
    free (s_database_url);
    return 0;
}
