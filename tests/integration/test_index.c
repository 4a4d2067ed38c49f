/*  Index as real processes: a bus, ingest and index workers on a fresh
    database. Papers go in through paperctl ingest (the sample listings in
    deploy/sample) or ingest.submit (small made-up papers), and come out
    through index.search, index.similar and index.get, called over the bus.
    When a test needs to know which of several workers answered, it reads
    the workers' served counters from bus.status before and after the call.

    Replies live on the heap and are listed until freed, so that a test that
    fails half-way leaves the teardown something to free rather than leaks
    for LeakSanitizer to report. */
#include "pbtest.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_INDEXES   4    //  index workers one test runs
#define MAX_ANSWERS   64   //  replies held at once
#define MAX_QUERIES   10   //  queries compared between workers
#define WORKER_ID_MAX 80   //  bytes of a worker's name in bus.status
#define POLL_MS       50   //  between two looks at an index that is catching up
#define CALL_MS       5000 //  deadline of one call

//  One reply, and the message decoded from it: the method's reply message
//  when the status is 0, else the error_reply.
typedef struct {
    pb_reply_t reply;                //  status and body (owned)
    pb_arena_t *arena;               //  lists of the decoded message
    pb_index_search_reply_t search;  //  index.search and index.similar
    pb_index_get_reply_t get;        //  index.get
    pb_ingest_submit_reply_t submit; //  ingest.submit
    pb_status_reply_t status;        //  bus.status
    pb_error_reply_t error;          //  when the status is not 0
    char worker[WORKER_ID_MAX];      //  the index worker that answered, when tracked
} answer_t;

static char *s_url;
static pb_db_t *s_db;
static pid_t s_bus, s_ingest;
static pid_t s_indexes[MAX_INDEXES];
static pb_config_t *s_config;
static pb_client_t *s_client;
static answer_t *s_answers[MAX_ANSWERS]; //  not yet freed
static msgpack_sbuffer s_body;           //  the request being built
static msgpack_sbuffer s_status_body;    //  the bus.status request

static void s_answer_free (answer_t **answer_p);

static void s_setup (void)
{
    pb_log_init ("test", PB_LOG_ERROR);
    //  The default heartbeat: an index worker re-reading a few hundred
    //  papers under ASan can keep its loop busy for a third of a second.
    pbtest_bus_environment (500, 2000);
    s_url = pbtest_database_new (true);
    setenv ("PAPERBUS_DATABASE_URL", s_url, 1);
    s_db = pbtest_connect (s_url);
    s_bus = pbtest_bus_start ();
    char *program = pbtest_program ("ingest");
    char *argv[] = {program, NULL};
    s_ingest = pbtest_spawn (argv, NULL, NULL);
    free (program);
    pbtest_wait_for_workers ("ingest", 1);
    s_config = pbtest_config ();
    s_client = pb_client_new (s_config);
    cr_assert (s_client);
    msgpack_sbuffer_init (&s_body);
    msgpack_sbuffer_init (&s_status_body);
}

static void s_teardown (void)
{
    for (int i = 0; i < MAX_INDEXES; i++)
        if (s_indexes[i] > 0) {
            kill (s_indexes[i], SIGKILL);
            s_indexes[i] = 0;
        }
    kill (s_ingest, SIGKILL);
    kill (s_bus, SIGKILL);
    for (int i = 0; i < MAX_ANSWERS; i++)
        s_answer_free (&s_answers[i]);
    msgpack_sbuffer_destroy (&s_body);
    msgpack_sbuffer_destroy (&s_status_body);
    pb_client_destroy (&s_client);
    pb_config_destroy (&s_config);
    pb_db_destroy (&s_db);
    free (s_url);
}

TestSuite (index, .init = s_setup, .fini = s_teardown, .timeout = 120);

/* ==== Processes ==== */

//  Starts an index worker and waits until the bus shows LIVE index workers
//  (a worker registers once its index is loaded).
static pid_t s_index_start (int live)
{
    char *program = pbtest_program ("index");
    char *argv[] = {program, NULL};
    pid_t pid = pbtest_spawn (argv, NULL, NULL);
    free (program);
    for (int i = 0; i < MAX_INDEXES; i++)
        if (s_indexes[i] == 0) {
            s_indexes[i] = pid;
            break;
        }
    pbtest_wait_for_workers ("index", live);
    return pid;
}

//  Stops index worker PID (it leaves the bus cleanly; killed if it lingers)
//  and waits until the bus shows LIVE index workers.
static void s_index_stop (pid_t pid, int live)
{
    kill (pid, SIGTERM);
    if (pbtest_wait (pid, 5000) < 0) {
        kill (pid, SIGKILL);
        pbtest_wait (pid, 5000);
    }
    for (int i = 0; i < MAX_INDEXES; i++)
        if (s_indexes[i] == pid)
            s_indexes[i] = 0;
    pbtest_wait_for_workers ("index", live);
}

//  True while PID has not exited.
static bool s_running (pid_t pid)
{
    int status;
    return waitpid (pid, &status, WNOHANG) == 0;
}

//  Runs paperctl ingest on FILE (a path in the repository).
static void s_paperctl_ingest (const char *file)
{
    char *program = pbtest_program ("paperctl");
    char *path = pbtest_repo_path (file);
    char *argv[] = {program, "ingest", path, NULL};
    char output_path[] = "/tmp/pbtest-index-XXXXXX";
    close (mkstemp (output_path));
    int status = pbtest_wait (pbtest_spawn (argv, NULL, output_path), 60000);
    free (path);
    free (program);
    static char output[4096];
    char *text = pbtest_read_file (output_path, NULL);
    snprintf (output, sizeof output, "%s", text ? text : "");
    free (text);
    unlink (output_path);
    cr_assert_eq (status, 0, "paperctl ingest %s: %s", file, output);
}

/* ==== Calls ==== */

static answer_t *s_answer_new (void)
{
    for (int i = 0; i < MAX_ANSWERS; i++)
        if (!s_answers[i]) {
            s_answers[i] = calloc (1, sizeof (answer_t));
            s_answers[i]->arena = pb_arena_new ();
            return s_answers[i];
        }
    cr_assert_fail ("more than %d replies held at once", MAX_ANSWERS);
    return NULL;
}

static void s_answer_free (answer_t **answer_p)
{
    answer_t *answer = *answer_p;
    if (!answer)
        return;
    for (int i = 0; i < MAX_ANSWERS; i++)
        if (s_answers[i] == answer)
            s_answers[i] = NULL;
    pb_reply_reset (&answer->reply);
    pb_arena_destroy (&answer->arena);
    free (answer);
    *answer_p = NULL;
}

//  STR as a NUL-terminated string in TEXT (SIZE bytes).
static const char *s_text (pb_str_t str, char *text, size_t size)
{
    snprintf (text, size, "%.*s", (int)str.len, str.ptr ? str.ptr : "");
    return text;
}

//  What an answer says, for failure messages.
static const char *s_describe (const answer_t *answer)
{
    static char text[1200];
    if (answer->reply.status == PB_OK)
        snprintf (text, sizeof text, "status 0");
    else
        snprintf (text, sizeof text, "status %d %s: %.*s", answer->reply.status,
                  pb_error_name (answer->reply.status), (int)answer->error.message.len,
                  answer->error.message.ptr ? answer->error.message.ptr : "");
    return text;
}

//  Calls METHOD with BODY (msgpack) and decodes the reply; fails the test
//  when no reply comes or it is malformed.
static answer_t *s_call_with (const char *method, const msgpack_sbuffer *body)
{
    answer_t *answer = s_answer_new ();
    cr_assert_eq (
        pb_client_call (s_client, method, body->data, body->size, CALL_MS, 0, &answer->reply), 0,
        "%s: no reply: %s", method, answer->reply.error);
    const void *data = zframe_data (answer->reply.body);
    size_t size = zframe_size (answer->reply.body);
    const pb_schema_t *schema = &pb_index_search_reply_schema;
    void *out = &answer->search;
    if (answer->reply.status != PB_OK) {
        schema = &pb_error_reply_schema;
        out = &answer->error;
    } else if (strcmp (method, "index.get") == 0) {
        schema = &pb_index_get_reply_schema;
        out = &answer->get;
    } else if (strcmp (method, "ingest.submit") == 0) {
        schema = &pb_ingest_submit_reply_schema;
        out = &answer->submit;
    } else if (strcmp (method, "bus.status") == 0) {
        schema = &pb_status_reply_schema;
        out = &answer->status;
    }
    pb_codec_error_t error;
    cr_assert_eq (pb_decode (data, size, 1 << 24, schema, out, answer->arena, &error), 0,
                  "%s: a malformed reply: %s", method, error.message);
    return answer;
}

//  Calls METHOD with the request built in s_body.
static answer_t *s_call (const char *method)
{
    return s_call_with (method, &s_body);
}

//  A packer that starts s_body afresh.
static msgpack_packer s_packer (void)
{
    msgpack_sbuffer_clear (&s_body);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &s_body, msgpack_sbuffer_write);
    return packer;
}

typedef struct {
    const char *query; //  NUL-terminated unless LENGTH is given
    size_t length;     //  bytes of QUERY; 0: strlen
    int64_t limit;     //  -1: not sent
    int64_t offset;    //  -1: not sent
    const char *sort;  //  NULL: not sent
} search_t;

//  Builds the index.search request SEARCH in s_body (without snippets).
static void s_search_body (const search_t *search)
{
    msgpack_packer packer = s_packer ();
    pb_index_search_request_t request = {0};
    size_t length = search->length ? search->length : strlen (search->query);
    request.query = (pb_str_t){search->query, (uint32_t)length};
    if (search->limit >= 0) {
        request.limit = search->limit;
        pb_set_present (&request, PB_index_search_request_limit);
    }
    if (search->offset >= 0) {
        request.offset = search->offset;
        pb_set_present (&request, PB_index_search_request_offset);
    }
    if (search->sort) {
        request.sort = pb_str (search->sort);
        pb_set_present (&request, PB_index_search_request_sort);
    }
    request.snippets = false;
    pb_set_present (&request, PB_index_search_request_snippets);
    cr_assert_eq (pb_encode (&pb_index_search_request_schema, &request, &packer), 0);
}

//  index.search for QUERY, the default page (10 hits).
static answer_t *s_search (const char *query)
{
    search_t search = {query, 0, -1, -1, NULL};
    s_search_body (&search);
    return s_call ("index.search");
}

//  Builds the index.get request for IDS (COUNT of them) in s_body.
static void s_get_body (const char *const *ids, size_t count)
{
    msgpack_packer packer = s_packer ();
    pb_str_t items[8];
    cr_assert_leq (count, 8);
    for (size_t i = 0; i < count; i++)
        items[i] = pb_str (ids[i]);
    pb_index_get_request_t request = {0};
    request.ids = (pb_str_list_t){items, (uint32_t)count};
    cr_assert_eq (pb_encode (&pb_index_get_request_schema, &request, &packer), 0);
}

static answer_t *s_get (const char *const *ids, size_t count)
{
    s_get_body (ids, count);
    return s_call ("index.get");
}

static const pb_search_hit_t *s_hit (const answer_t *answer, uint32_t i)
{
    return &((const pb_search_hit_t *)answer->search.hits.items)[i];
}

static const pb_indexed_paper_t *s_paper (const answer_t *answer, uint32_t i)
{
    return &((const pb_indexed_paper_t *)answer->get.papers.items)[i];
}

//  True when a successful search ANSWER lists paper ID among its hits.
static bool s_finds (const answer_t *answer, const char *id)
{
    if (answer->reply.status != PB_OK)
        return false;
    for (uint32_t i = 0; i < answer->search.hits.count; i++)
        if (pb_str_eq (s_hit (answer, i)->id, id))
            return true;
    return false;
}

//  The ids of ANSWER's hits, for failure messages.
static const char *s_hit_ids (const answer_t *answer, char *text, size_t size)
{
    size_t used = 0;
    text[0] = '\0';
    for (uint32_t i = 0; i < answer->search.hits.count && used + 1 < size; i++)
        used += (size_t)snprintf (text + used, size - used, "%s%.*s", i ? " " : "",
                                  (int)s_hit (answer, i)->id.len, s_hit (answer, i)->id.ptr);
    return text;
}

/* ==== Papers in ==== */

typedef struct {
    const char *id; //  with its version, "2605.99901v1"
    const char *title;
    const char *abstract;
} made_up_t;

//  Stores PAPERS through ingest.submit; returns once they are committed.
static void s_submit (const made_up_t *papers, size_t count)
{
    msgpack_sbuffer encoded[8];
    pb_str_t raw[8];
    cr_assert_leq (count, 8);
    pb_str_t authors[] = {pb_str ("Ada Tester"), pb_str ("Bo Checker")};
    pb_str_t categories[] = {pb_str ("cs.LG")};
    for (size_t i = 0; i < count; i++) {
        msgpack_sbuffer_init (&encoded[i]);
        msgpack_packer packer;
        msgpack_packer_init (&packer, &encoded[i], msgpack_sbuffer_write);
        pb_paper_t paper = {0};
        paper.id = pb_str (papers[i].id);
        pb_set_present (&paper, PB_paper_id);
        paper.title = pb_str (papers[i].title);
        paper.abstract = pb_str (papers[i].abstract);
        pb_set_present (&paper, PB_paper_abstract);
        paper.authors = (pb_str_list_t){authors, 2};
        pb_set_present (&paper, PB_paper_authors);
        paper.categories = (pb_str_list_t){categories, 1};
        pb_set_present (&paper, PB_paper_categories);
        paper.listed = pb_str ("2026-05-26");
        pb_set_present (&paper, PB_paper_listed);
        pb_encode (&pb_paper_schema, &paper, &packer);
        raw[i] = (pb_str_t){encoded[i].data, (uint32_t)encoded[i].size};
    }
    msgpack_packer packer = s_packer ();
    pb_ingest_submit_request_t request = {0};
    request.source = pb_str ("test");
    request.papers = (pb_str_list_t){raw, (uint32_t)count};
    pb_encode (&pb_ingest_submit_request_schema, &request, &packer);
    for (size_t i = 0; i < count; i++)
        msgpack_sbuffer_destroy (&encoded[i]);
    answer_t *answer = s_call ("ingest.submit");
    cr_assert_eq (answer->reply.status, PB_OK, "ingest.submit: %s", s_describe (answer));
    const pb_ingest_submit_reply_t *result = &answer->submit;
    cr_assert_eq (result->inserted + result->updated, (int64_t)count,
                  "ingest.submit: %lld inserted, %lld updated, %lld unchanged, %lld rejected",
                  (long long)result->inserted, (long long)result->updated,
                  (long long)result->unchanged, (long long)result->rejected);
    s_answer_free (&answer);
}

/* ==== Which worker answered ==== */

typedef struct {
    size_t count;
    char ids[MAX_INDEXES * 2][WORKER_ID_MAX];
    int64_t served[MAX_INDEXES * 2];
} served_t;

//  The live index workers and the replies each has sent, from bus.status.
static void s_served (served_t *out)
{
    memset (out, 0, sizeof *out);
    msgpack_sbuffer_clear (&s_status_body);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &s_status_body, msgpack_sbuffer_write);
    pb_status_request_t request = {0};
    request.workers = true;
    pb_set_present (&request, PB_status_request_workers);
    pb_encode (&pb_status_request_schema, &request, &packer);
    answer_t *answer = s_call_with ("bus.status", &s_status_body);
    cr_assert_eq (answer->reply.status, PB_OK, "bus.status: %s", s_describe (answer));
    for (uint32_t s = 0; s < answer->status.services.count; s++) {
        const pb_service_status_t *service =
            (const pb_service_status_t *)answer->status.services.items + s;
        if (!pb_str_eq (service->name, "index"))
            continue;
        cr_assert (pb_has (service, PB_service_status_workers), "bus.status lists no workers");
        for (uint32_t w = 0; w < service->workers.count && out->count < MAX_INDEXES * 2; w++) {
            const pb_worker_status_t *worker =
                (const pb_worker_status_t *)service->workers.items + w;
            s_text (worker->id, out->ids[out->count], WORKER_ID_MAX);
            out->served[out->count++] = worker->served;
        }
    }
    s_answer_free (&answer);
}

//  Calls METHOD with s_body like s_call, and names in the answer's worker
//  the index worker that answered: the one whose served count went up.
static answer_t *s_call_tracked (const char *method)
{
    served_t before, after;
    s_served (&before);
    answer_t *answer = s_call (method);
    s_served (&after);
    for (size_t a = 0; a < after.count; a++) {
        int64_t earlier = 0;
        for (size_t b = 0; b < before.count; b++)
            if (strcmp (before.ids[b], after.ids[a]) == 0)
                earlier = before.served[b];
        if (after.served[a] == earlier + 1) {
            snprintf (answer->worker, sizeof answer->worker, "%s", after.ids[a]);
            return answer;
        }
    }
    cr_assert_fail ("%s: no live index worker counts this reply (%s; %zu live workers before, "
                    "%zu after)",
                    method, s_describe (answer), before.count, after.count);
    return NULL;
}

//  Waits until index.get of paper ID shows version VERSION from every one of
//  the WORKERS live index workers, for up to WITHIN_MS after STARTED
//  (zclock_mono).
static void s_wait_converged (const char *id, int64_t version, size_t workers, int64_t started,
                              int64_t within_ms)
{
    char converged[MAX_INDEXES][WORKER_ID_MAX];
    size_t converged_count = 0;
    const char *ids[] = {id};
    char last[1200] = "no answer";
    while (converged_count < workers && zclock_mono () - started <= within_ms) {
        s_get_body (ids, 1);
        answer_t *answer = s_call_tracked ("index.get");
        bool known = false;
        for (size_t i = 0; i < converged_count; i++)
            known |= strcmp (converged[i], answer->worker) == 0;
        if (!known && answer->reply.status == PB_OK && answer->get.papers.count == 1 &&
            s_paper (answer, 0)->version == version)
            snprintf (converged[converged_count++], WORKER_ID_MAX, "%s", answer->worker);
        else if (!known) {
            if (answer->reply.status != PB_OK)
                snprintf (last, sizeof last, "%s", s_describe (answer));
            else
                snprintf (last, sizeof last, "%s: %u found, version %lld", answer->worker,
                          answer->get.papers.count,
                          answer->get.papers.count ? (long long)s_paper (answer, 0)->version : 0LL);
            zclock_sleep (POLL_MS / 5);
        }
        s_answer_free (&answer);
    }
    cr_assert_eq (converged_count, workers,
                  "after %lld ms, %zu of %zu index workers hold version %lld of %s (last: %s)",
                  (long long)(zclock_mono () - started), converged_count, workers,
                  (long long)version, id, last);
}

/* ==== Queries compared between indexes ==== */

typedef struct {
    size_t count;
    char queries[MAX_QUERIES][256];
} query_set_t;

//  The first MAX_QUERIES lines of the shared corpus's queries.txt, or a
//  fixed list when the corpus is not there.
static void s_query_set (query_set_t *set)
{
    static const char *const fixed[MAX_QUERIES] = {
        "mixture of experts",        "speculative decoding",   "kv cache compression",
        "diffusion policy",          "reinforcement learning", "vision language model",
        "\"large language models\"", "graph neural network",   "benchmark reasoning -math",
        "ti:learning cat:cs.LG"};
    memset (set, 0, sizeof *set);
    char *path = pbtest_repo_path ("../shared/corpus/queries.txt");
    FILE *file = fopen (path, "r");
    free (path);
    if (file) {
        char line[256];
        while (set->count < MAX_QUERIES && fgets (line, sizeof line, file)) {
            line[strcspn (line, "\r\n")] = '\0';
            if (*line)
                snprintf (set->queries[set->count++], sizeof set->queries[0], "%s", line);
        }
        fclose (file);
    }
    for (size_t i = 0; set->count < MAX_QUERIES; i++)
        snprintf (set->queries[set->count++], sizeof set->queries[0], "%s", fixed[i]);
}

//  True when A and B list the same papers in the same order, with the same
//  total when it is exact; otherwise WHY says how they differ.
static bool s_same_results (const answer_t *a, const answer_t *b, char *why, size_t size)
{
    char a_ids[2048], b_ids[2048];
    if (a->reply.status != b->reply.status)
        snprintf (why, size, "status %d and %d", a->reply.status, b->reply.status);
    //  An estimated total depends on the order the papers were numbered in
    //  (a worker fed by events numbers them as batches arrive), so only
    //  exact totals must agree; the hits always must.
    else if (a->search.total_exact != b->search.total_exact ||
             (a->search.total_exact && a->search.total != b->search.total))
        snprintf (why, size, "totals %s%lld and %s%lld", a->search.total_exact ? "" : "~",
                  (long long)a->search.total, b->search.total_exact ? "" : "~",
                  (long long)b->search.total);
    else {
        bool same = a->search.hits.count == b->search.hits.count;
        for (uint32_t i = 0; same && i < a->search.hits.count; i++)
            same = s_hit (a, i)->id.len == s_hit (b, i)->id.len &&
                   memcmp (s_hit (a, i)->id.ptr, s_hit (b, i)->id.ptr, s_hit (a, i)->id.len) == 0;
        if (same)
            return true;
        snprintf (why, size, "hits [%s] and [%s]", s_hit_ids (a, a_ids, sizeof a_ids),
                  s_hit_ids (b, b_ids, sizeof b_ids));
    }
    return false;
}

/* ==== Tests ==== */

Test (index, papers_ingested_are_searchable_within_a_second)
{
    s_paperctl_ingest ("deploy/sample/arxiv-daily/2026-05-21.jsonl");
    s_index_start (1);
    answer_t *answer = s_search ("NaP-Control diffusion prior character control");
    char ids[2048];
    cr_assert_eq (answer->reply.status, PB_OK, "%s", s_describe (answer));
    cr_assert (s_finds (answer, "2605.20209"), "the loaded sample paper is not found: [%s]",
               s_hit_ids (answer, ids, sizeof ids));
    s_answer_free (&answer);

    //  A new paper, with a word no other paper has.
    made_up_t paper = {"2605.99901v1", "Zorblaxine gradients for sparse attention",
                       "We introduce zorblaxine, a made-up word that only this paper holds."};
    s_submit (&paper, 1);
    int64_t committed = zclock_mono (), took = -1;
    while (took < 0 && zclock_mono () - committed <= 1000) {
        answer = s_search ("zorblaxine");
        if (s_finds (answer, "2605.99901"))
            took = zclock_mono () - committed;
        s_answer_free (&answer);
        if (took < 0)
            zclock_sleep (POLL_MS);
    }
    cr_assert (took >= 0 && took <= 1000,
               "index.search did not find the new paper within 1000 ms of its commit");
}

Test (index, a_new_version_replaces_the_old_text)
{
    s_paperctl_ingest ("deploy/sample/arxiv-daily/2026-05-21.jsonl");
    s_index_start (1);
    made_up_t first = {"2605.99911v1", "Marsupial dynamics in attention heads",
                       "We study quokkanomics in transformer attention heads."};
    s_submit (&first, 1);
    int64_t committed = zclock_mono ();
    bool found = false;
    while (!found && zclock_mono () - committed <= 1000) {
        answer_t *answer = s_search ("quokkanomics");
        found = s_finds (answer, "2605.99911");
        s_answer_free (&answer);
        if (!found)
            zclock_sleep (POLL_MS);
    }
    cr_assert (found, "version 1 is not searchable within 1000 ms");

    made_up_t second = {"2605.99911v2", "Marsupial dynamics in attention heads",
                        "We study wombatonics in transformer attention heads."};
    s_submit (&second, 1);
    committed = zclock_mono ();
    const char *ids[] = {"2605.99911"};
    bool old_found = true, new_found = false;
    int64_t version = 0;
    while (zclock_mono () - committed <= 1000) {
        answer_t *answer = s_search ("quokkanomics");
        old_found = s_finds (answer, "2605.99911");
        s_answer_free (&answer);
        answer = s_search ("wombatonics");
        new_found = s_finds (answer, "2605.99911");
        s_answer_free (&answer);
        answer = s_get (ids, 1);
        version = answer->reply.status == PB_OK && answer->get.papers.count == 1
                      ? s_paper (answer, 0)->version
                      : 0;
        s_answer_free (&answer);
        if (!old_found && new_found && version == 2)
            break;
        zclock_sleep (POLL_MS);
    }
    cr_assert_not (old_found, "the old version's word still finds the paper after 1000 ms");
    cr_assert (new_found, "the new version's word does not find the paper after 1000 ms");
    cr_assert_eq (version, 2, "index.get returns version %lld after 1000 ms", (long long)version);
    //  And the text it serves is the new one.
    answer_t *answer = s_get (ids, 1);
    cr_assert_eq (answer->get.papers.count, 1);
    char abstract[256];
    s_text (s_paper (answer, 0)->abstract, abstract, sizeof abstract);
    cr_assert (strstr (abstract, "wombatonics") && !strstr (abstract, "quokkanomics"),
               "index.get returns the abstract '%s'", abstract);
    s_answer_free (&answer);
}

Test (index, replicas_converge_to_the_same_results)
{
    s_paperctl_ingest ("deploy/sample/arxiv-daily/2026-05-21.jsonl");
    s_index_start (1);
    //  The first worker gets these through events, the second from its load.
    s_paperctl_ingest ("deploy/sample/arxiv-daily/2026-05-22.jsonl");
    s_index_start (2);
    //  Both get these through events: a day, a new version of a paper of
    //  the first day, and a new paper last.
    s_paperctl_ingest ("deploy/sample/arxiv-daily/2026-05-25.jsonl");
    made_up_t papers[] = {
        {"2605.20209v2", "NaP-Control: Navigating Diffusion Prior for Fast Character Control",
         "A shorter abstract: reinforcement learning steers the noise of a diffusion policy."},
        {"2605.99931v1", "Replica convergence for language model retrieval",
         "Mixture of experts and speculative decoding, seen from a replicated index."}};
    s_submit (papers, 2);
    int64_t committed = zclock_mono ();
    s_wait_converged ("2605.99931", 1, 2, committed, 2000);
    s_wait_converged ("2605.20209", 2, 2, committed, 2000);

    //  Each query is asked until both workers have answered it; every
    //  answer must be the first one.
    query_set_t set;
    s_query_set (&set);
    served_t workers;
    s_served (&workers);
    cr_assert_eq (workers.count, 2);
    for (size_t q = 0; q < set.count; q++) {
        search_t search = {set.queries[q], 0, 10, -1, NULL};
        answer_t *first[2] = {NULL, NULL};
        for (int attempt = 0; attempt < 20 && !(first[0] && first[1]); attempt++) {
            s_search_body (&search);
            answer_t *answer = s_call_tracked ("index.search");
            cr_assert_eq (answer->reply.status, PB_OK, "'%s': %s", set.queries[q],
                          s_describe (answer));
            int w = strcmp (answer->worker, workers.ids[0]) == 0   ? 0
                    : strcmp (answer->worker, workers.ids[1]) == 0 ? 1
                                                                   : -1;
            cr_assert_geq (w, 0, "'%s' was answered by a worker that was not live before",
                           set.queries[q]);
            const answer_t *earlier = first[0] ? first[0] : first[1];
            char why[4200];
            if (earlier)
                cr_assert (s_same_results (earlier, answer, why, sizeof why),
                           "'%s': workers %s and %s answer differently: %s", set.queries[q],
                           earlier->worker, answer->worker, why);
            if (first[w])
                s_answer_free (&answer);
            else
                first[w] = answer;
        }
        cr_assert (first[0] && first[1], "'%s' was not answered by both workers in 20 tries",
                   set.queries[q]);
        cr_assert_gt (first[0]->search.total, 0, "'%s' matches nothing: a weak comparison",
                      set.queries[q]);
        s_answer_free (&first[0]);
        s_answer_free (&first[1]);
    }
}

//  The top 10 and the total of each query of SET, from the live worker.
static void s_collect (const query_set_t *set, answer_t **answers)
{
    for (size_t q = 0; q < set->count; q++) {
        answers[q] = s_search (set->queries[q]);
        cr_assert_eq (answers[q]->reply.status, PB_OK, "'%s': %s", set->queries[q],
                      s_describe (answers[q]));
    }
}

Test (index, restart_rebuild_equals_incremental_build)
{
    //  The first worker starts empty and receives every paper as an event,
    //  a paper of the first day in a new version among them.
    pid_t incremental = s_index_start (1);
    s_paperctl_ingest ("deploy/sample/arxiv-daily/2026-05-21.jsonl");
    s_paperctl_ingest ("deploy/sample/arxiv-daily/2026-05-22.jsonl");
    made_up_t papers[] = {
        {"2605.20209v2", "NaP-Control: Navigating Diffusion Prior for Fast Character Control",
         "A shorter abstract: reinforcement learning steers the noise of a diffusion policy."},
        {"2605.99941v1", "Incremental and rebuilt indexes for language model search",
         "Mixture of experts, vision language models and retrieval augmented generation."}};
    s_submit (papers, 2);
    s_wait_converged ("2605.99941", 1, 1, zclock_mono (), 5000);
    s_wait_converged ("2605.20209", 2, 1, zclock_mono (), 5000);
    query_set_t set;
    s_query_set (&set);
    answer_t *incremental_answers[MAX_QUERIES], *rebuilt_answers[MAX_QUERIES];
    s_collect (&set, incremental_answers);

    //  The second loads everything from PostgreSQL.
    s_index_stop (incremental, 0);
    s_index_start (1);
    s_collect (&set, rebuilt_answers);
    for (size_t q = 0; q < set.count; q++) {
        char why[4200];
        cr_assert (s_same_results (incremental_answers[q], rebuilt_answers[q], why, sizeof why),
                   "'%s': built from events and loaded from PostgreSQL differ: %s", set.queries[q],
                   why);
        cr_assert_gt (incremental_answers[q]->search.total, 0,
                      "'%s' matches nothing: a weak comparison", set.queries[q]);
        s_answer_free (&incremental_answers[q]);
        s_answer_free (&rebuilt_answers[q]);
    }
}

//  Asserts that SEARCH (WHAT, in messages) is refused with error CODE (or
//  ALSO, when not 0) and a message that holds WORD.
static void s_assert_refused (const search_t *search, const char *what, int code, int also,
                              const char *word)
{
    s_search_body (search);
    answer_t *answer = s_call ("index.search");
    cr_assert (answer->reply.status == code || (also && answer->reply.status == also),
               "%s: want error %s, got %s", what, pb_error_name (code), s_describe (answer));
    char message[1100];
    s_text (answer->error.message, message, sizeof message);
    cr_assert (strcasestr (message, word), "%s: the message '%s' does not say '%s'", what, message,
               word);
    s_answer_free (&answer);
}

Test (index, bad_queries_get_clear_errors_and_the_worker_survives)
{
    s_paperctl_ingest ("deploy/sample/arxiv-daily/2026-05-21.jsonl");
    pid_t worker = s_index_start (1);

    search_t empty = {"", 0, -1, -1, NULL};
    s_assert_refused (&empty, "an empty query", PB_E_INVALID, 0, "empty");
    search_t blank = {"   ", 0, -1, -1, NULL};
    s_assert_refused (&blank, "a blank query", PB_E_INVALID, 0, "empty");
    //  10 KB: within the message's limit (16 KB), over the query's (2 KB).
    static char long_query[10241];
    for (size_t i = 0; i < 10240; i += 8)
        memcpy (long_query + i, "mixture ", 8);
    search_t too_long = {long_query, 0, -1, -1, NULL};
    s_assert_refused (&too_long, "a 10 KB query", PB_E_TOO_LARGE, PB_E_INVALID, "2048");
    search_t controls = {"mixture\x01of\x1b[31m experts", 0, -1, -1, NULL};
    s_assert_refused (&controls, "control characters", PB_E_INVALID, 0, "control");
    search_t bad_utf8 = {"mixture \xc3\x28 experts \xff", 0, -1, -1, NULL};
    s_assert_refused (&bad_utf8, "invalid UTF-8", PB_E_INVALID_UTF8, 0, "UTF-8");
    search_t bad_date = {"diffusion since:notadate", 0, -1, -1, NULL};
    s_assert_refused (&bad_date, "since:notadate", PB_E_INVALID, 0, "since:");
    search_t big_limit = {"diffusion", 0, 101, -1, NULL};
    s_assert_refused (&big_limit, "limit 101", PB_E_INVALID, 0, "limit");
    search_t deep = {"diffusion", 0, 100, 950, NULL};
    s_assert_refused (&deep, "offset 950 + limit 100", PB_E_INVALID, 0, "1000");
    search_t bad_sort = {"diffusion", 0, -1, -1, "popularity"};
    s_assert_refused (&bad_sort, "sort popularity", PB_E_INVALID, 0, "sort");

    //  Only stop words: no error, nothing found, and a note saying why.
    answer_t *answer = s_search ("the of and");
    cr_assert_eq (answer->reply.status, PB_OK, "only stop words: %s", s_describe (answer));
    cr_assert_eq (answer->search.total, 0);
    cr_assert_eq (answer->search.hits.count, 0);
    cr_assert (pb_has (&answer->search, PB_index_search_reply_note), "only stop words: no note");
    char note[300];
    s_text (answer->search.note, note, sizeof note);
    cr_assert (strstr (note, "stop word"), "only stop words: the note is '%s'", note);
    s_answer_free (&answer);

    //  An unbalanced quote: refused naming the quote, or read as the phrase
    //  running to the end of the query.
    answer = s_search ("\"mixture of");
    if (answer->reply.status != PB_OK) {
        cr_assert_eq (answer->reply.status, PB_E_INVALID, "an unbalanced quote: %s",
                      s_describe (answer));
        char message[1100];
        s_text (answer->error.message, message, sizeof message);
        cr_assert (strcasestr (message, "quote"), "an unbalanced quote: '%s'", message);
    } else {
        answer_t *closed = s_search ("\"mixture of\"");
        char why[4200];
        cr_assert (s_same_results (answer, closed, why, sizeof why),
                   "an unbalanced quote is neither refused nor read as the closed phrase: %s", why);
        s_answer_free (&closed);
    }
    s_answer_free (&answer);

    //  The same worker still answers ordinary searches.
    cr_assert (s_running (worker), "the index worker exited");
    pbtest_wait_for_workers ("index", 1);
    answer = s_search ("NaP-Control diffusion prior character control");
    cr_assert_eq (answer->reply.status, PB_OK, "%s", s_describe (answer));
    cr_assert (s_finds (answer, "2605.20209"), "a normal search no longer finds the paper");
    s_answer_free (&answer);
    cr_assert (s_running (worker), "the index worker exited");
}

Test (index, similar_papers_and_get_by_id)
{
    s_paperctl_ingest ("deploy/sample/arxiv-daily/2026-05-21.jsonl");
    s_index_start (1);

    msgpack_packer packer = s_packer ();
    pb_index_similar_request_t request = {0};
    request.id = pb_str ("2605.20209");
    pb_encode (&pb_index_similar_request_schema, &request, &packer);
    answer_t *answer = s_call ("index.similar");
    cr_assert_eq (answer->reply.status, PB_OK, "%s", s_describe (answer));
    uint32_t count = answer->search.hits.count;
    cr_assert (count > 0 && count <= 10, "%u similar papers", count);
    for (uint32_t i = 0; i < count; i++) {
        const pb_search_hit_t *hit = s_hit (answer, i);
        cr_assert_not (pb_str_eq (hit->id, "2605.20209"), "the paper is among its own similar");
        if (i)
            cr_assert_geq (s_hit (answer, i - 1)->score, hit->score,
                           "hit %u scores %f, above hit %u's %f", i, hit->score, i - 1,
                           s_hit (answer, i - 1)->score);
    }
    s_answer_free (&answer);

    //  One id bare, one with a version, one unknown.
    const char *ids[] = {"2605.20209", "2605.20274v2", "2605.00000"};
    answer = s_get (ids, 3);
    cr_assert_eq (answer->reply.status, PB_OK, "%s", s_describe (answer));
    cr_assert_eq (answer->get.papers.count, 2);
    char text[2048];
    cr_assert_str_eq (s_text (s_paper (answer, 0)->id, text, sizeof text), "2605.20209");
    cr_assert_str_eq (s_text (s_paper (answer, 0)->title, text, sizeof text),
                      "NaP-Control: Navigating Diffusion Prior for Versatile and Fast Character "
                      "Control");
    cr_assert_str_eq (s_text (s_paper (answer, 1)->id, text, sizeof text), "2605.20274");
    cr_assert_eq (answer->get.missing.count, 1);
    cr_assert_str_eq (s_text (answer->get.missing.items[0], text, sizeof text), "2605.00000");
    s_answer_free (&answer);
}
