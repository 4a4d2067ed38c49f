/*  Index as real processes: a bus, ingest and index workers on a fresh
    database. Papers go in through paperctl ingest (the sample listings in
    deploy/sample) or ingest.submit (small made-up papers), and come out
    through index.search, index.similar and index.get, called over the bus.
    When a test needs to know which of several workers answered, it reads
    the workers' served counters from bus.status before and after the call
    (pbtest_call_tracked). Replies are pbtest answers, which the teardown
    frees when a test fails half-way. */
#include "pbtest.h"
#include "pbtest_call.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INDEXES 4  //  index workers one test runs
#define MAX_QUERIES 10 //  queries compared between workers
#define POLL_MS     50 //  between two looks at an index that is catching up

static pbtest_stack_t s_stack; //  bus, ingest, database and client
static msgpack_sbuffer s_body; //  the request being built

static void s_setup (void)
{
    pb_log_init ("test", PB_LOG_ERROR);
    //  The default heartbeat: an index worker re-reading a few hundred
    //  papers under ASan can keep its loop busy for a third of a second.
    pbtest_stack_start (&s_stack, 500, 2000);
    msgpack_sbuffer_init (&s_body);
}

static void s_teardown (void)
{
    pbtest_services_kill_all ();
    pbtest_answers_free_all ();
    msgpack_sbuffer_destroy (&s_body);
    pbtest_stack_stop (&s_stack);
}

TestSuite (index, .init = s_setup, .fini = s_teardown, .timeout = 120);

/* ==== Processes ==== */

//  Starts an index worker and waits until the bus shows LIVE index workers
//  (a worker registers once its index is loaded).
static pid_t s_index_start (int live)
{
    return pbtest_service_start ("index", live);
}

//  Stops index worker PID (it leaves the bus cleanly; killed if it lingers)
//  and waits until the bus shows LIVE index workers.
static void s_index_stop (pid_t pid, int live)
{
    pbtest_service_stop ("index", pid, SIGTERM, 5000, live);
}

/* ==== Calls ==== */

//  Calls METHOD with the request built in s_body.
static pbtest_answer_t *s_call (const char *method)
{
    return pbtest_call (s_stack.client, method, s_body.data, s_body.size);
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
    msgpack_packer packer = pbtest_packer (&s_body);
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
static pbtest_answer_t *s_search (const char *query)
{
    search_t search = {query, 0, -1, -1, NULL};
    s_search_body (&search);
    return s_call ("index.search");
}

//  Builds the index.get request for IDS (COUNT of them) in s_body.
static void s_get_body (const char *const *ids, size_t count)
{
    msgpack_packer packer = pbtest_packer (&s_body);
    pb_str_t items[8];
    cr_assert_leq (count, 8);
    for (size_t i = 0; i < count; i++)
        items[i] = pb_str (ids[i]);
    pb_index_get_request_t request = {0};
    request.ids = (pb_str_list_t){items, (uint32_t)count};
    cr_assert_eq (pb_encode (&pb_index_get_request_schema, &request, &packer), 0);
}

static pbtest_answer_t *s_get (const char *const *ids, size_t count)
{
    s_get_body (ids, count);
    return s_call ("index.get");
}

static const pb_search_hit_t *s_hit (const pbtest_answer_t *answer, uint32_t i)
{
    return &((const pb_search_hit_t *)answer->search.hits.items)[i];
}

static const pb_indexed_paper_t *s_paper (const pbtest_answer_t *answer, uint32_t i)
{
    return &((const pb_indexed_paper_t *)answer->get.papers.items)[i];
}

//  True when a successful search ANSWER lists paper ID among its hits.
static bool s_finds (const pbtest_answer_t *answer, const char *id)
{
    if (answer->reply.status != PB_OK)
        return false;
    for (uint32_t i = 0; i < answer->search.hits.count; i++)
        if (pb_str_eq (s_hit (answer, i)->id, id))
            return true;
    return false;
}

//  The ids of ANSWER's hits, for failure messages.
static const char *s_hit_ids (const pbtest_answer_t *answer, char *text, size_t size)
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
    pb_paper_t records[8];
    cr_assert_leq (count, 8);
    pb_str_t authors[] = {pb_str ("Ada Tester"), pb_str ("Bo Checker")};
    pb_str_t categories[] = {pb_str ("cs.LG")};
    for (size_t i = 0; i < count; i++) {
        records[i] = (pb_paper_t){0};
        records[i].id = pb_str (papers[i].id);
        pb_set_present (&records[i], PB_paper_id);
        records[i].title = pb_str (papers[i].title);
        records[i].abstract = pb_str (papers[i].abstract);
        pb_set_present (&records[i], PB_paper_abstract);
        records[i].authors = (pb_str_list_t){authors, 2};
        pb_set_present (&records[i], PB_paper_authors);
        records[i].categories = (pb_str_list_t){categories, 1};
        pb_set_present (&records[i], PB_paper_categories);
        records[i].listed = pb_str ("2026-05-26");
        pb_set_present (&records[i], PB_paper_listed);
    }
    pbtest_answer_t *answer = pbtest_submit (s_stack.client, &s_body, records, count);
    const pb_ingest_submit_reply_t *result = &answer->submit;
    cr_assert_eq (result->inserted + result->updated, (int64_t)count,
                  "ingest.submit: %lld inserted, %lld updated, %lld unchanged, %lld rejected",
                  (long long)result->inserted, (long long)result->updated,
                  (long long)result->unchanged, (long long)result->rejected);
    pbtest_answer_free (&answer);
}

/* ==== Which worker answered ==== */

//  Calls METHOD with s_body like s_call, and names in the answer's worker
//  the index worker that answered.
static pbtest_answer_t *s_call_tracked (const char *method)
{
    return pbtest_call_tracked (s_stack.client, "index", method, s_body.data, s_body.size);
}

//  Waits until index.get of paper ID shows version VERSION from every one of
//  the WORKERS live index workers, for up to WITHIN_MS after STARTED
//  (zclock_mono).
static void s_wait_converged (const char *id, int64_t version, size_t workers, int64_t started,
                              int64_t within_ms)
{
    char converged[MAX_INDEXES][PBTEST_WORKER_ID_MAX];
    size_t converged_count = 0;
    const char *ids[] = {id};
    char last[1200] = "no answer";
    while (converged_count < workers && zclock_mono () - started <= within_ms) {
        s_get_body (ids, 1);
        pbtest_answer_t *answer = s_call_tracked ("index.get");
        bool known = false;
        for (size_t i = 0; i < converged_count; i++)
            known |= strcmp (converged[i], answer->worker) == 0;
        if (!known && answer->reply.status == PB_OK && answer->get.papers.count == 1 &&
            s_paper (answer, 0)->version == version)
            snprintf (converged[converged_count++], PBTEST_WORKER_ID_MAX, "%s", answer->worker);
        else if (!known) {
            if (answer->reply.status != PB_OK)
                snprintf (last, sizeof last, "%s", pbtest_describe (answer));
            else
                snprintf (last, sizeof last, "%s: %u found, version %lld", answer->worker,
                          answer->get.papers.count,
                          answer->get.papers.count ? (long long)s_paper (answer, 0)->version : 0LL);
            zclock_sleep (POLL_MS / 5);
        }
        pbtest_answer_free (&answer);
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
static bool s_same_results (const pbtest_answer_t *a, const pbtest_answer_t *b, char *why,
                            size_t size)
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
    pbtest_paperctl_ingest ("deploy/sample/arxiv-daily/2026-05-21.jsonl");
    s_index_start (1);
    pbtest_answer_t *answer = s_search ("NaP-Control diffusion prior character control");
    char ids[2048];
    cr_assert_eq (answer->reply.status, PB_OK, "%s", pbtest_describe (answer));
    cr_assert (s_finds (answer, "2605.20209"), "the loaded sample paper is not found: [%s]",
               s_hit_ids (answer, ids, sizeof ids));
    pbtest_answer_free (&answer);

    //  A new paper, with a word no other paper has.
    made_up_t paper = {"2605.99901v1", "Zorblaxine gradients for sparse attention",
                       "We introduce zorblaxine, a made-up word that only this paper holds."};
    s_submit (&paper, 1);
    int64_t committed = zclock_mono (), took = -1;
    while (took < 0 && zclock_mono () - committed <= 1000) {
        answer = s_search ("zorblaxine");
        if (s_finds (answer, "2605.99901"))
            took = zclock_mono () - committed;
        pbtest_answer_free (&answer);
        if (took < 0)
            zclock_sleep (POLL_MS);
    }
    cr_assert (took >= 0 && took <= 1000,
               "index.search did not find the new paper within 1000 ms of its commit");
}

Test (index, a_new_version_replaces_the_old_text)
{
    pbtest_paperctl_ingest ("deploy/sample/arxiv-daily/2026-05-21.jsonl");
    s_index_start (1);
    made_up_t first = {"2605.99911v1", "Marsupial dynamics in attention heads",
                       "We study quokkanomics in transformer attention heads."};
    s_submit (&first, 1);
    int64_t committed = zclock_mono ();
    bool found = false;
    while (!found && zclock_mono () - committed <= 1000) {
        pbtest_answer_t *answer = s_search ("quokkanomics");
        found = s_finds (answer, "2605.99911");
        pbtest_answer_free (&answer);
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
        pbtest_answer_t *answer = s_search ("quokkanomics");
        old_found = s_finds (answer, "2605.99911");
        pbtest_answer_free (&answer);
        answer = s_search ("wombatonics");
        new_found = s_finds (answer, "2605.99911");
        pbtest_answer_free (&answer);
        answer = s_get (ids, 1);
        version = answer->reply.status == PB_OK && answer->get.papers.count == 1
                      ? s_paper (answer, 0)->version
                      : 0;
        pbtest_answer_free (&answer);
        if (!old_found && new_found && version == 2)
            break;
        zclock_sleep (POLL_MS);
    }
    cr_assert_not (old_found, "the old version's word still finds the paper after 1000 ms");
    cr_assert (new_found, "the new version's word does not find the paper after 1000 ms");
    cr_assert_eq (version, 2, "index.get returns version %lld after 1000 ms", (long long)version);
    //  And the text it serves is the new one.
    pbtest_answer_t *answer = s_get (ids, 1);
    cr_assert_eq (answer->get.papers.count, 1);
    char abstract[256];
    pbtest_text (s_paper (answer, 0)->abstract, abstract, sizeof abstract);
    cr_assert (strstr (abstract, "wombatonics") && !strstr (abstract, "quokkanomics"),
               "index.get returns the abstract '%s'", abstract);
    pbtest_answer_free (&answer);
}

Test (index, replicas_converge_to_the_same_results)
{
    pbtest_paperctl_ingest ("deploy/sample/arxiv-daily/2026-05-21.jsonl");
    s_index_start (1);
    //  The first worker gets these through events, the second from its load.
    pbtest_paperctl_ingest ("deploy/sample/arxiv-daily/2026-05-22.jsonl");
    s_index_start (2);
    //  Both get these through events: a day, a new version of a paper of
    //  the first day, and a new paper last.
    pbtest_paperctl_ingest ("deploy/sample/arxiv-daily/2026-05-25.jsonl");
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
    pbtest_served_t workers;
    pbtest_served (s_stack.client, "index", &workers);
    cr_assert_eq (workers.count, 2);
    for (size_t q = 0; q < set.count; q++) {
        search_t search = {set.queries[q], 0, 10, -1, NULL};
        pbtest_answer_t *first[2] = {NULL, NULL};
        for (int attempt = 0; attempt < 20 && !(first[0] && first[1]); attempt++) {
            s_search_body (&search);
            pbtest_answer_t *answer = s_call_tracked ("index.search");
            cr_assert_eq (answer->reply.status, PB_OK, "'%s': %s", set.queries[q],
                          pbtest_describe (answer));
            int w = strcmp (answer->worker, workers.ids[0]) == 0   ? 0
                    : strcmp (answer->worker, workers.ids[1]) == 0 ? 1
                                                                   : -1;
            cr_assert_geq (w, 0, "'%s' was answered by a worker that was not live before",
                           set.queries[q]);
            const pbtest_answer_t *earlier = first[0] ? first[0] : first[1];
            char why[4200];
            if (earlier)
                cr_assert (s_same_results (earlier, answer, why, sizeof why),
                           "'%s': workers %s and %s answer differently: %s", set.queries[q],
                           earlier->worker, answer->worker, why);
            if (first[w])
                pbtest_answer_free (&answer);
            else
                first[w] = answer;
        }
        cr_assert (first[0] && first[1], "'%s' was not answered by both workers in 20 tries",
                   set.queries[q]);
        cr_assert_gt (first[0]->search.total, 0, "'%s' matches nothing: a weak comparison",
                      set.queries[q]);
        pbtest_answer_free (&first[0]);
        pbtest_answer_free (&first[1]);
    }
}

//  The top 10 and the total of each query of SET, from the live worker.
static void s_collect (const query_set_t *set, pbtest_answer_t **answers)
{
    for (size_t q = 0; q < set->count; q++) {
        answers[q] = s_search (set->queries[q]);
        cr_assert_eq (answers[q]->reply.status, PB_OK, "'%s': %s", set->queries[q],
                      pbtest_describe (answers[q]));
    }
}

Test (index, restart_rebuild_equals_incremental_build)
{
    //  The first worker starts empty and receives every paper as an event,
    //  a paper of the first day in a new version among them.
    pid_t incremental = s_index_start (1);
    pbtest_paperctl_ingest ("deploy/sample/arxiv-daily/2026-05-21.jsonl");
    pbtest_paperctl_ingest ("deploy/sample/arxiv-daily/2026-05-22.jsonl");
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
    pbtest_answer_t *incremental_answers[MAX_QUERIES], *rebuilt_answers[MAX_QUERIES];
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
        pbtest_answer_free (&incremental_answers[q]);
        pbtest_answer_free (&rebuilt_answers[q]);
    }
}

//  Asserts that SEARCH (WHAT, in messages) is refused with error CODE (or
//  ALSO, when not 0) and a message that holds WORD.
static void s_assert_refused (const search_t *search, const char *what, int code, int also,
                              const char *word)
{
    s_search_body (search);
    pbtest_answer_t *answer = s_call ("index.search");
    cr_assert (answer->reply.status == code || (also && answer->reply.status == also),
               "%s: want error %s, got %s", what, pb_error_name (code), pbtest_describe (answer));
    char message[1100];
    pbtest_text (answer->error.message, message, sizeof message);
    cr_assert (strcasestr (message, word), "%s: the message '%s' does not say '%s'", what, message,
               word);
    pbtest_answer_free (&answer);
}

Test (index, bad_queries_get_clear_errors_and_the_worker_survives)
{
    pbtest_paperctl_ingest ("deploy/sample/arxiv-daily/2026-05-21.jsonl");
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
    pbtest_answer_t *answer = s_search ("the of and");
    cr_assert_eq (answer->reply.status, PB_OK, "only stop words: %s", pbtest_describe (answer));
    cr_assert_eq (answer->search.total, 0);
    cr_assert_eq (answer->search.hits.count, 0);
    cr_assert (pb_has (&answer->search, PB_index_search_reply_note), "only stop words: no note");
    char note[300];
    pbtest_text (answer->search.note, note, sizeof note);
    cr_assert (strstr (note, "stop word"), "only stop words: the note is '%s'", note);
    pbtest_answer_free (&answer);

    //  An unbalanced quote: refused naming the quote, or read as the phrase
    //  running to the end of the query.
    answer = s_search ("\"mixture of");
    if (answer->reply.status != PB_OK) {
        cr_assert_eq (answer->reply.status, PB_E_INVALID, "an unbalanced quote: %s",
                      pbtest_describe (answer));
        char message[1100];
        pbtest_text (answer->error.message, message, sizeof message);
        cr_assert (strcasestr (message, "quote"), "an unbalanced quote: '%s'", message);
    } else {
        pbtest_answer_t *closed = s_search ("\"mixture of\"");
        char why[4200];
        cr_assert (s_same_results (answer, closed, why, sizeof why),
                   "an unbalanced quote is neither refused nor read as the closed phrase: %s", why);
        pbtest_answer_free (&closed);
    }
    pbtest_answer_free (&answer);

    //  The same worker still answers ordinary searches.
    cr_assert (pbtest_running (worker), "the index worker exited");
    pbtest_wait_for_workers ("index", 1);
    answer = s_search ("NaP-Control diffusion prior character control");
    cr_assert_eq (answer->reply.status, PB_OK, "%s", pbtest_describe (answer));
    cr_assert (s_finds (answer, "2605.20209"), "a normal search no longer finds the paper");
    pbtest_answer_free (&answer);
    cr_assert (pbtest_running (worker), "the index worker exited");
}

Test (index, similar_papers_and_get_by_id)
{
    pbtest_paperctl_ingest ("deploy/sample/arxiv-daily/2026-05-21.jsonl");
    s_index_start (1);

    msgpack_packer packer = pbtest_packer (&s_body);
    pb_index_similar_request_t request = {0};
    request.id = pb_str ("2605.20209");
    pb_encode (&pb_index_similar_request_schema, &request, &packer);
    pbtest_answer_t *answer = s_call ("index.similar");
    cr_assert_eq (answer->reply.status, PB_OK, "%s", pbtest_describe (answer));
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
    pbtest_answer_free (&answer);

    //  One id bare, one with a version, one unknown.
    const char *ids[] = {"2605.20209", "2605.20274v2", "2605.00000"};
    answer = s_get (ids, 3);
    cr_assert_eq (answer->reply.status, PB_OK, "%s", pbtest_describe (answer));
    cr_assert_eq (answer->get.papers.count, 2);
    char text[2048];
    cr_assert_str_eq (pbtest_text (s_paper (answer, 0)->id, text, sizeof text), "2605.20209");
    cr_assert_str_eq (pbtest_text (s_paper (answer, 0)->title, text, sizeof text),
                      "NaP-Control: Navigating Diffusion Prior for Versatile and Fast Character "
                      "Control");
    cr_assert_str_eq (pbtest_text (s_paper (answer, 1)->id, text, sizeof text), "2605.20274");
    cr_assert_eq (answer->get.missing.count, 1);
    cr_assert_str_eq (pbtest_text (answer->get.missing.items[0], text, sizeof text), "2605.00000");
    pbtest_answer_free (&answer);
}
