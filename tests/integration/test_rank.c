/*  Rank as real processes: a bus, an ingest worker and rank workers on a
    fresh database. Papers go in through ingest.submit (made-up papers with
    chosen listing days) or paperctl ingest (Hugging Face daily papers);
    votes, lists and signals go through rank.vote, rank.unvote, rank.top,
    rank.votes and rank.signal over the bus, and what was committed is read
    back from PostgreSQL (the vote table and the event log). A clock file
    (PAPERBUS_CLOCK_FILE) moves rank's time by days without waiting.

    When a test needs every rank worker's view, it asks until each live
    worker has answered, telling them apart by their served counters in
    bus.status (pbtest_call_tracked). Replies (pbtest answers) and decoded
    events live on the heap and are listed until freed, so that a test that
    fails half-way leaves the teardown something to free rather than leaks
    for LeakSanitizer to report. */
#include "pb_paper.h"
#include "pbtest.h"
#include "pbtest_call.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_EVENT_SETS  8                 //  decoded event lists held at once
#define MAX_PAPERS      PBTEST_SUBMIT_MAX //  papers of one ingest.submit
#define HEARTBEAT_MS    200  //  the bus's heartbeat: a killed worker is gone after 600 ms
#define POLL_MS         20   //  between two looks at something that is catching up
#define CALL_MS         5000 //  deadline of one call
#define TICKS_MS        800  //  more than three trending timer ticks (interval 1000 / 4)
#define DAY_MS          86400000LL
#define HOUR_MS         3600000LL
#define SCORE_TOLERANCE 1e-6

//  The events of one topic, decoded.
typedef struct {
    PGresult *result;  //  the payloads, which the decoded strings point into
    pb_arena_t *arena; //  lists of the decoded events
    char *items;       //  COUNT structs of the topic's message
    size_t size;       //  bytes of one struct
    size_t count;      //  events
} events_t;

static pbtest_stack_t s_stack;                 //  bus, ingest, database and client
static events_t *s_event_sets[MAX_EVENT_SETS]; //  not yet freed
static msgpack_sbuffer s_body;                 //  the request being built
static char s_clock_path[128];                 //  the clock file, once a test sets the time

static void s_events_free (events_t **events_p);
static void s_voters_free (void);

static void s_setup (void)
{
    pb_log_init ("test", PB_LOG_ERROR);
    //  Every rank worker a test starts takes these; a test may change them first.
    setenv ("PAPERBUS_RANK_HALF_LIFE_S", "86400", 1);
    setenv ("PAPERBUS_CLOCK_FILE", "none", 1);
    pbtest_stack_start (&s_stack, HEARTBEAT_MS, 3000);
    msgpack_sbuffer_init (&s_body);
}

static void s_teardown (void)
{
    pbtest_services_kill_all ();
    pbtest_answers_free_all ();
    for (int i = 0; i < MAX_EVENT_SETS; i++)
        s_events_free (&s_event_sets[i]);
    s_voters_free ();
    if (*s_clock_path)
        unlink (s_clock_path);
    msgpack_sbuffer_destroy (&s_body);
    pbtest_stack_stop (&s_stack);
}

TestSuite (rank, .init = s_setup, .fini = s_teardown, .timeout = 90);

/* ==== Processes and the clock ==== */

//  Starts a rank worker, to be killed by the teardown if still running.
static pid_t s_rank_spawn (void)
{
    return pbtest_service_spawn ("rank");
}

//  Starts a rank worker and waits until the bus shows LIVE rank workers.
static pid_t s_rank_start (int live)
{
    return pbtest_service_start ("rank", live);
}

//  Sends SIGNAL to rank worker PID, waits for it to exit and for the bus to
//  show LIVE rank workers.
static void s_rank_stop (pid_t pid, int signal, int live)
{
    pbtest_service_stop ("rank", pid, signal, 10000, live);
}

//  Makes TEXT rank's time: the clock file is replaced whole, so a worker
//  never reads half of it. The first call points the workers started
//  afterwards at the file.
static void s_clock_text (const char *text)
{
    if (!*s_clock_path) {
        snprintf (s_clock_path, sizeof s_clock_path, "/tmp/pbtest-rank-clock-%d", (int)getpid ());
        setenv ("PAPERBUS_CLOCK_FILE", s_clock_path, 1);
    }
    char temporary[160];
    snprintf (temporary, sizeof temporary, "%s.new", s_clock_path);
    FILE *file = fopen (temporary, "w");
    cr_assert (file, "cannot write %s", temporary);
    fprintf (file, "%s\n", text);
    fclose (file);
    cr_assert_eq (rename (temporary, s_clock_path), 0);
}

//  Makes MS (milliseconds since 1970) rank's time.
static void s_clock_ms (int64_t ms)
{
    char text[32];
    snprintf (text, sizeof text, "%lld", (long long)ms);
    s_clock_text (text);
}

//  Midnight UTC of DATE ("2027-06-15"), in milliseconds since 1970.
static int64_t s_day_ms (const char *date)
{
    int64_t seconds;
    cr_assert_eq (pb_date_parse (date, &seconds), 0, "'%s' is not a date", date);
    return seconds * 1000;
}

/* ==== Calls ==== */

//  Calls METHOD with the request built in s_body.
static pbtest_answer_t *s_call (const char *method)
{
    return pbtest_call (s_stack.client, method, s_body.data, s_body.size);
}

//  Builds the vote_request PAPER, USER in BUFFER.
static void s_vote_body (msgpack_sbuffer *buffer, pb_str_t paper, pb_str_t user)
{
    msgpack_packer packer = pbtest_packer (buffer);
    pb_vote_request_t request = {0};
    request.paper = paper;
    request.user = user;
    pb_encode (&pb_vote_request_schema, &request, &packer);
}

//  rank.vote (UP) or rank.unvote of PAPER by USER.
static pbtest_answer_t *s_vote (bool up, const char *paper, const char *user)
{
    s_vote_body (&s_body, pb_str (paper), pb_str (user));
    return s_call (up ? "rank.vote" : "rank.unvote");
}

//  rank.vote (UP) or rank.unvote of PAPER by USER, which must succeed with
//  the reply UPVOTES, VOTED, CHANGED (UPVOTES < 0: not checked).
static void s_vote_expect (bool up, const char *paper, const char *user, int64_t upvotes,
                           bool voted, bool changed)
{
    pbtest_answer_t *answer = s_vote (up, paper, user);
    const char *what = up ? "vote" : "unvote";
    cr_assert_eq (answer->reply.status, PB_OK, "%s %s by %s: %s", what, paper, user,
                  pbtest_describe (answer));
    char id[160];
    cr_assert_str_eq (pbtest_text (answer->vote.paper, id, sizeof id), paper);
    if (upvotes >= 0)
        cr_assert_eq (answer->vote.upvotes, upvotes, "%s %s by %s: upvotes %lld, want %lld", what,
                      paper, user, (long long)answer->vote.upvotes, (long long)upvotes);
    cr_assert_eq (answer->vote.voted, voted, "%s %s by %s: voted is %d", what, paper, user,
                  answer->vote.voted);
    cr_assert_eq (answer->vote.changed, changed, "%s %s by %s: changed is %d", what, paper, user,
                  answer->vote.changed);
    pbtest_answer_free (&answer);
}

//  A rank.top request; NULL and -1 are not sent.
typedef struct {
    const char *window;
    const char *date;
    int64_t offset;
    int64_t limit;
    const char *user;
} top_t;

static void s_top_body (const top_t *top)
{
    msgpack_packer packer = pbtest_packer (&s_body);
    pb_top_request_t request = {0};
    request.window = pb_str (top->window);
    if (top->date) {
        request.date = pb_str (top->date);
        pb_set_present (&request, PB_top_request_date);
    }
    if (top->offset >= 0) {
        request.offset = top->offset;
        pb_set_present (&request, PB_top_request_offset);
    }
    if (top->limit >= 0) {
        request.limit = top->limit;
        pb_set_present (&request, PB_top_request_limit);
    }
    if (top->user) {
        request.user = pb_str (top->user);
        pb_set_present (&request, PB_top_request_user);
    }
    pb_encode (&pb_top_request_schema, &request, &packer);
}

//  rank.top of WINDOW holding DATE (NULL: today), up to 100 papers; must succeed.
static pbtest_answer_t *s_top (const char *window, const char *date)
{
    top_t top = {window, date, -1, 100, NULL};
    s_top_body (&top);
    pbtest_answer_t *answer = s_call ("rank.top");
    cr_assert_eq (answer->reply.status, PB_OK, "rank.top %s %s: %s", window, date ? date : "today",
                  pbtest_describe (answer));
    return answer;
}

//  Builds the rank.votes request for IDS (COUNT) and USER (NULL: none) in s_body.
static void s_votes_body (const char *const *ids, size_t count, const char *user)
{
    msgpack_packer packer = pbtest_packer (&s_body);
    pb_str_t *items = calloc (count + 1, sizeof *items);
    for (size_t i = 0; i < count; i++)
        items[i] = pb_str (ids[i]);
    pb_votes_request_t request = {0};
    request.papers = (pb_str_list_t){items, (uint32_t)count};
    if (user) {
        request.user = pb_str (user);
        pb_set_present (&request, PB_votes_request_user);
    }
    pb_encode (&pb_votes_request_schema, &request, &packer);
    free (items);
}

static pbtest_answer_t *s_votes (const char *const *ids, size_t count, const char *user)
{
    s_votes_body (ids, count, user);
    pbtest_answer_t *answer = s_call ("rank.votes");
    cr_assert_eq (answer->reply.status, PB_OK, "rank.votes: %s", pbtest_describe (answer));
    return answer;
}

//  Builds the signal_observed PAPER, SOURCE, VALUE in BUFFER.
static void s_signal_body (msgpack_sbuffer *buffer, const char *paper, const char *source,
                           double value)
{
    msgpack_packer packer = pbtest_packer (buffer);
    pb_signal_observed_t signal = {0};
    signal.paper = pb_str (paper);
    signal.source = pb_str (source);
    signal.value = value;
    pb_encode (&pb_signal_observed_schema, &signal, &packer);
}

static pbtest_answer_t *s_signal (const char *paper, const char *source, double value)
{
    s_signal_body (&s_body, paper, source, value);
    return s_call ("rank.signal");
}

//  rank.signal that must succeed with GAIN.
static void s_signal_expect (const char *paper, const char *source, double value, double gain)
{
    pbtest_answer_t *answer = s_signal (paper, source, value);
    cr_assert_eq (answer->reply.status, PB_OK, "signal %s %s %g: %s", paper, source, value,
                  pbtest_describe (answer));
    cr_assert_float_eq (answer->signal.gain, gain, 1e-9, "signal %s %s %g: gain %g, want %g", paper,
                        source, value, answer->signal.gain, gain);
    cr_assert_float_eq (answer->signal.value, value, 1e-9);
    pbtest_answer_free (&answer);
}

static const pb_ranked_paper_t *s_listed (const pbtest_answer_t *answer, uint32_t i)
{
    return (const pb_ranked_paper_t *)answer->top.papers.items + i;
}

static const pb_ranked_paper_t *s_counted (const pbtest_answer_t *answer, uint32_t i)
{
    return (const pb_ranked_paper_t *)answer->votes.papers.items + i;
}

//  The ids and upvotes of a top ANSWER, for failure messages.
static const char *s_list_text (const pbtest_answer_t *answer, char *text, size_t size)
{
    size_t used = 0;
    text[0] = '\0';
    for (uint32_t i = 0; i < answer->top.papers.count && used + 1 < size; i++)
        used += (size_t)snprintf (text + used, size - used, "%s%.*s(%lld, %.6g)", i ? " " : "",
                                  (int)s_listed (answer, i)->id.len, s_listed (answer, i)->id.ptr,
                                  (long long)s_listed (answer, i)->upvotes,
                                  s_listed (answer, i)->score);
    return text;
}

//  Asserts that the top ANSWER (WHAT) lists exactly IDS (COUNT), in order,
//  in a list of COUNT papers.
static void s_assert_list (const pbtest_answer_t *answer, const char *const *ids, size_t count,
                           const char *what)
{
    char text[4096];
    cr_assert_eq (answer->top.total, (int64_t)count, "%s: total %lld, want %zu: [%s]", what,
                  (long long)answer->top.total, count, s_list_text (answer, text, sizeof text));
    cr_assert_eq (answer->top.papers.count, count, "%s: %u papers, want %zu: [%s]", what,
                  answer->top.papers.count, count, s_list_text (answer, text, sizeof text));
    for (size_t i = 0; i < count; i++)
        cr_assert (pb_str_eq (s_listed (answer, (uint32_t)i)->id, ids[i]),
                   "%s: paper %zu is not %s: [%s]", what, i, ids[i],
                   s_list_text (answer, text, sizeof text));
}

//  Asserts the first and last day of the top ANSWER (WHAT).
static void s_assert_window (const pbtest_answer_t *answer, const char *first, const char *last,
                             const char *what)
{
    char text[32];
    cr_assert (pb_has (&answer->top, PB_top_reply_first_day), "%s: no first_day", what);
    cr_assert (pb_has (&answer->top, PB_top_reply_last_day), "%s: no last_day", what);
    cr_assert_str_eq (pbtest_text (answer->top.first_day, text, sizeof text), first,
                      "%s: first_day", what);
    cr_assert_str_eq (pbtest_text (answer->top.last_day, text, sizeof text), last, "%s: last_day",
                      what);
}

/* ==== Papers in, and what PostgreSQL holds ==== */

typedef struct {
    const char *id;        //  with its version, "2612.90001v1"
    const char *listed;    //  NULL: not given
    const char *published; //  NULL: not given
} made_up_t;

//  Stores PAPERS through ingest.submit; returns once they are committed.
static void s_submit (const made_up_t *papers, size_t count)
{
    cr_assert_leq (count, MAX_PAPERS);
    pb_paper_t records[MAX_PAPERS];
    char titles[MAX_PAPERS][96];
    pb_str_t authors[] = {pb_str ("Ada Tester")};
    pb_str_t categories[] = {pb_str ("cs.LG")};
    for (size_t i = 0; i < count; i++) {
        records[i] = (pb_paper_t){0};
        records[i].id = pb_str (papers[i].id);
        pb_set_present (&records[i], PB_paper_id);
        snprintf (titles[i], sizeof titles[i], "Rank test paper %s", papers[i].id);
        records[i].title = pb_str (titles[i]);
        records[i].abstract = pb_str ("A made-up paper to be voted on.");
        pb_set_present (&records[i], PB_paper_abstract);
        records[i].authors = (pb_str_list_t){authors, 1};
        pb_set_present (&records[i], PB_paper_authors);
        records[i].categories = (pb_str_list_t){categories, 1};
        pb_set_present (&records[i], PB_paper_categories);
        if (papers[i].listed) {
            records[i].listed = pb_str (papers[i].listed);
            pb_set_present (&records[i], PB_paper_listed);
        }
        if (papers[i].published) {
            records[i].published = pb_str (papers[i].published);
            pb_set_present (&records[i], PB_paper_published);
        }
    }
    pbtest_answer_t *answer = pbtest_submit (s_stack.client, &s_body, records, count);
    cr_assert_eq (answer->submit.inserted, (int64_t)count,
                  "ingest.submit: %lld inserted, %lld updated, %lld rejected of %zu",
                  (long long)answer->submit.inserted, (long long)answer->submit.updated,
                  (long long)answer->submit.rejected, count);
    pbtest_answer_free (&answer);
}

//  The first column of the first row of SQL, with PARAMETER as $1 when given.
static int64_t s_count (const char *sql, const char *parameter)
{
    pb_db_params_t params = {0};
    if (parameter)
        pb_db_params_text (&params, parameter);
    PGresult *result = pb_db_query (s_stack.db, sql, &params);
    cr_assert (result, "%s: %s", sql, pb_db_error (s_stack.db));
    cr_assert_eq (PQntuples (result), 1, "%s: %d rows", sql, PQntuples (result));
    int64_t count = strtoll (PQgetvalue (result, 0, 0), NULL, 10);
    PQclear (result);
    return count;
}

//  Events of TOPIC in the log.
static int64_t s_event_count (const char *topic)
{
    return s_count ("SELECT count(*) FROM event_log WHERE topic = $1", topic);
}

//  Waits up to WITHIN_MS for TOPIC to hold COUNT events; returns how many it holds.
static int64_t s_wait_events (const char *topic, int64_t count, int within_ms)
{
    int64_t started = zclock_mono (), held;
    while ((held = s_event_count (topic)) < count && zclock_mono () - started < within_ms)
        zclock_sleep (POLL_MS);
    return held;
}

static void s_events_free (events_t **events_p)
{
    events_t *events = *events_p;
    if (!events)
        return;
    for (int i = 0; i < MAX_EVENT_SETS; i++)
        if (s_event_sets[i] == events)
            s_event_sets[i] = NULL;
    PQclear (events->result);
    pb_arena_destroy (&events->arena);
    free (events->items);
    free (events);
    *events_p = NULL;
}

//  Every event of TOPIC in the log, in seq order, decoded with SCHEMA.
static events_t *s_events (const char *topic, const pb_schema_t *schema)
{
    events_t *events = NULL;
    for (int i = 0; i < MAX_EVENT_SETS && !events; i++)
        if (!s_event_sets[i])
            events = s_event_sets[i] = calloc (1, sizeof *events);
    cr_assert (events, "more than %d event lists held at once", MAX_EVENT_SETS);
    pb_db_params_t params = {0};
    pb_db_params_text (&params, topic);
    params.binary_result = true;
    events->result = pb_db_query (
        s_stack.db, "SELECT payload FROM event_log WHERE topic = $1 ORDER BY seq", &params);
    cr_assert (events->result, "reading %s: %s", topic, pb_db_error (s_stack.db));
    events->arena = pb_arena_new ();
    events->count = (size_t)PQntuples (events->result);
    events->size = schema->struct_size;
    events->items = calloc (events->count + 1, events->size);
    for (size_t i = 0; i < events->count; i++) {
        pb_codec_error_t error;
        cr_assert_eq (pb_decode (PQgetvalue (events->result, (int)i, 0),
                                 (size_t)PQgetlength (events->result, (int)i, 0), 1 << 20, schema,
                                 events->items + i * events->size, events->arena, &error),
                      0, "%s event %zu is malformed: %s", topic, i, error.message);
    }
    return events;
}

/* ==== Which worker answered ==== */

//  The live rank workers and the replies each has sent, from bus.status.
static void s_served (pbtest_served_t *out)
{
    pbtest_served (s_stack.client, "rank", out);
}

//  Calls METHOD with s_body like s_call, and names in the answer's worker
//  the rank worker that answered.
static pbtest_answer_t *s_call_tracked (const char *method)
{
    return pbtest_call_tracked (s_stack.client, "rank", method, s_body.data, s_body.size);
}

//  Whether ANSWER is the one expected (ARG says what); if not, WHY says why.
typedef bool (check_fn) (const pbtest_answer_t *answer, const void *arg, char *why, size_t size);

//  Sends the request in s_body to METHOD until each of the LIVE rank
//  workers has answered so that CHECK accepts it, for up to WITHIN_MS;
//  fails the test (saying WHAT) otherwise.
static void s_every_worker (const char *method, size_t live, check_fn *check, const void *arg,
                            int within_ms, const char *what)
{
    char agreed[PBTEST_SERVED_MAX][PBTEST_WORKER_ID_MAX];
    size_t agreed_count = 0;
    char last[2400] = "no answer";
    int64_t started = zclock_mono ();
    while (agreed_count < live && zclock_mono () - started <= within_ms) {
        pbtest_answer_t *answer = s_call_tracked (method);
        bool known = false;
        for (size_t i = 0; i < agreed_count; i++)
            known |= strcmp (agreed[i], answer->worker) == 0;
        char why[2048] = "";
        if (!known && answer->reply.status == PB_OK && check (answer, arg, why, sizeof why))
            snprintf (agreed[agreed_count++], PBTEST_WORKER_ID_MAX, "%s", answer->worker);
        else if (!known) {
            snprintf (last, sizeof last, "%s: %s", answer->worker,
                      answer->reply.status == PB_OK ? why : pbtest_describe (answer));
            zclock_sleep (POLL_MS);
        }
        pbtest_answer_free (&answer);
    }
    cr_assert_eq (agreed_count, live, "%s: after %lld ms, %zu of %zu rank workers agree (last: %s)",
                  what, (long long)(zclock_mono () - started), agreed_count, live, last);
}

//  What a rank.votes answer must say: the upvotes of each paper asked.
typedef struct {
    size_t count;
    const char *const *ids;
    const int64_t *upvotes;
} expected_votes_t;

static bool s_check_upvotes (const pbtest_answer_t *answer, const void *arg, char *why, size_t size)
{
    const expected_votes_t *expected = arg;
    if (answer->votes.papers.count != expected->count) {
        snprintf (why, size, "%u papers counted, want %zu (%u missing)", answer->votes.papers.count,
                  expected->count, answer->votes.missing.count);
        return false;
    }
    for (size_t i = 0; i < expected->count; i++) {
        const pb_ranked_paper_t *paper = s_counted (answer, (uint32_t)i);
        if (!pb_str_eq (paper->id, expected->ids[i]) || paper->upvotes != expected->upvotes[i]) {
            snprintf (why, size, "paper %zu is %.*s with %lld upvotes, want %s with %lld", i,
                      (int)paper->id.len, paper->id.ptr, (long long)paper->upvotes,
                      expected->ids[i], (long long)expected->upvotes[i]);
            return false;
        }
    }
    return true;
}

//  Waits until each of LIVE rank workers counts UPVOTES[i] for IDS[i].
static void s_every_worker_counts (const char *const *ids, const int64_t *upvotes, size_t count,
                                   size_t live, const char *what)
{
    expected_votes_t expected = {count, ids, upvotes};
    s_votes_body (ids, count, NULL);
    s_every_worker ("rank.votes", live, s_check_upvotes, &expected, 5000, what);
}

//  What a trending answer must say: these papers first, with these scores.
typedef struct {
    size_t count;
    const char *const *ids;
    const double *scores;
    int64_t total; //  -1: not checked
} expected_trending_t;

static bool s_check_trending (const pbtest_answer_t *answer, const void *arg, char *why,
                              size_t size)
{
    const expected_trending_t *expected = arg;
    char text[2048];
    if (expected->total >= 0 && answer->top.total != expected->total) {
        snprintf (why, size, "total %lld, want %lld: [%s]", (long long)answer->top.total,
                  (long long)expected->total, s_list_text (answer, text, sizeof text));
        return false;
    }
    if (answer->top.papers.count < expected->count) {
        snprintf (why, size, "%u papers, want %zu: [%s]", answer->top.papers.count, expected->count,
                  s_list_text (answer, text, sizeof text));
        return false;
    }
    for (size_t i = 0; i < expected->count; i++) {
        const pb_ranked_paper_t *paper = s_listed (answer, (uint32_t)i);
        if (!pb_str_eq (paper->id, expected->ids[i]) ||
            fabs (paper->score - expected->scores[i]) > SCORE_TOLERANCE) {
            snprintf (why, size, "paper %zu is not %s with score %.9g: [%s]", i, expected->ids[i],
                      expected->scores[i], s_list_text (answer, text, sizeof text));
            return false;
        }
    }
    return true;
}

//  Waits until each of LIVE rank workers has IDS (COUNT) first in trending,
//  with SCORES, and TOTAL papers trending (-1: any).
static void s_every_worker_trends (const char *const *ids, const double *scores, size_t count,
                                   int64_t total, size_t live, const char *what)
{
    expected_trending_t expected = {count, ids, scores, total};
    top_t top = {"trending", NULL, -1, 100, NULL};
    s_top_body (&top);
    s_every_worker ("rank.top", live, s_check_trending, &expected, 5000, what);
}

//  Waits until each of LIVE rank workers lists TOTAL papers in WINDOW of DATE.
static bool s_check_total (const pbtest_answer_t *answer, const void *arg, char *why, size_t size)
{
    int64_t total = *(const int64_t *)arg;
    snprintf (why, size, "total %lld, want %lld", (long long)answer->top.total, (long long)total);
    return answer->top.total == total;
}

static void s_every_worker_lists (const char *window, const char *date, int64_t total, size_t live)
{
    top_t top = {window, date, -1, 100, NULL};
    s_top_body (&top);
    char what[128];
    snprintf (what, sizeof what, "rank.top %s %s", window, date);
    s_every_worker ("rank.top", live, s_check_total, &total, 5000, what);
}

/* ==== Voters: threads that send many votes at once ==== */

//  One vote a voter thread sends.
typedef struct {
    char paper[32]; //  as sent (a version suffix may be on it)
    char user[32];
    size_t pair; //  the distinct (paper, user) it is
} vote_job_t;

typedef struct {
    pb_config_t *config; //  shared, read only
    vote_job_t *jobs;    //  what to send
    size_t count;
    size_t window;   //  requests in flight at once
    bool retry;      //  send a vote again after an error reply or silence, until it succeeds
    size_t gate;     //  jobs from this one on wait for s_gate_open
    int *status;     //  per job: the final status
    bool *changed;   //  per job: the reply's changed
    size_t errors;   //  error replies seen (and votes sent again)
    size_t silences; //  votes sent again after no reply within CALL_MS
    char failure[320];
} voter_t;

static atomic_bool s_gate_open;   //  the voters may go past their gate
static atomic_long s_votes_done;  //  votes answered with success, by every voter
static atomic_bool s_voters_stop; //  the teardown tells voters still running to give up

static uint64_t s_voter_send (pb_client_t *client, msgpack_sbuffer *body, const vote_job_t *job)
{
    s_vote_body (body, pb_str (job->paper), pb_str (job->user));
    return pb_client_send (client, "rank.vote", body->data, body->size);
}

//  Sends the voter's jobs, WINDOW at a time, until each one has its reply.
//  Asserts nothing (Criterion asserts belong to the test's thread): what
//  went wrong goes into failure.
static void *s_voter_run (void *arg)
{
    voter_t *self = arg;
    pb_client_t *client = pb_client_new (self->config);
    if (!client) {
        snprintf (self->failure, sizeof self->failure, "no client");
        return NULL;
    }
    uint64_t *slot_id = calloc (self->window, sizeof *slot_id); //  0: free
    size_t *slot_job = calloc (self->window, sizeof *slot_job);
    int64_t *slot_sent = calloc (self->window, sizeof *slot_sent);
    size_t *again = calloc (self->count + 1, sizeof *again); //  jobs to send again
    size_t again_count = 0, next = 0, done = 0;
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    pb_arena_t *arena = pb_arena_new ();
    int64_t deadline = zclock_mono () + 60000;
    while (done < self->count && !*self->failure && zclock_mono () < deadline &&
           !atomic_load (&s_voters_stop)) {
        for (size_t s = 0; s < self->window; s++) {
            if (slot_id[s])
                continue;
            size_t job;
            if (again_count)
                job = again[--again_count];
            else if (next < self->count && (next < self->gate || atomic_load (&s_gate_open)))
                job = next++;
            else
                break;
            slot_id[s] = s_voter_send (client, &body, &self->jobs[job]);
            slot_job[s] = job;
            slot_sent[s] = zclock_mono ();
            if (!slot_id[s]) {
                snprintf (self->failure, sizeof self->failure, "a vote could not be sent");
                break;
            }
        }
        pb_reply_t reply = {0};
        if (pb_client_recv (client, 100, &reply) == 0) {
            size_t s = 0;
            while (s < self->window && slot_id[s] != reply.request_id)
                s++;
            if (s < self->window) { //  else a late reply to a vote sent again
                size_t job = slot_job[s];
                slot_id[s] = 0;
                pb_vote_reply_t vote = {0};
                pb_codec_error_t error;
                if (reply.status == PB_OK) {
                    if (pb_decode (zframe_data (reply.body), zframe_size (reply.body), 1 << 20,
                                   &pb_vote_reply_schema, &vote, arena, &error))
                        snprintf (self->failure, sizeof self->failure, "a malformed reply: %s",
                                  error.message);
                    self->status[job] = PB_OK;
                    self->changed[job] = vote.changed;
                    done++;
                    atomic_fetch_add (&s_votes_done, 1);
                    pb_arena_reset (arena);
                } else if (self->retry) {
                    self->errors++;
                    again[again_count++] = job;
                } else {
                    self->status[job] = reply.status;
                    done++;
                }
            }
            pb_reply_reset (&reply);
        }
        //  Votes with no reply for too long are sent again (or given up).
        int64_t now = zclock_mono ();
        for (size_t s = 0; s < self->window; s++)
            if (slot_id[s] && now - slot_sent[s] > CALL_MS) {
                slot_id[s] = 0;
                self->silences++;
                if (self->retry)
                    again[again_count++] = slot_job[s];
                else {
                    self->status[slot_job[s]] = PB_E_TIMEOUT;
                    done++;
                }
            }
    }
    if (done < self->count && !*self->failure)
        snprintf (self->failure, sizeof self->failure, "%zu of %zu votes answered in 60 s", done,
                  self->count);
    pb_arena_destroy (&arena);
    msgpack_sbuffer_destroy (&body);
    free (slot_id);
    free (slot_job);
    free (slot_sent);
    free (again);
    pb_client_destroy (&client);
    return NULL;
}

//  Voter threads, their jobs and their results.
typedef struct {
    size_t count; //  voters started
    voter_t voters[8];
    pthread_t threads[8];
    bool running; //  started and not yet joined
} voters_t;

static voters_t s_voters;

//  Starts COUNT voters, voter v sending JOBS_OF[v] (JOB_COUNT each, then
//  owned by the voter).
static void s_voters_start (size_t count, vote_job_t **jobs_of, size_t job_count, size_t window,
                            bool retry, size_t gate)
{
    cr_assert_leq (count, 8);
    memset (&s_voters, 0, sizeof s_voters);
    atomic_store (&s_voters_stop, false);
    for (size_t v = 0; v < count; v++) {
        voter_t *voter = &s_voters.voters[v];
        *voter = (voter_t){.config = s_stack.config,
                           .jobs = jobs_of[v],
                           .count = job_count,
                           .window = window,
                           .retry = retry,
                           .gate = gate,
                           .status = calloc (job_count + 1, sizeof (int)),
                           .changed = calloc (job_count + 1, sizeof (bool))};
        for (size_t j = 0; j < job_count; j++)
            voter->status[j] = -1;
        s_voters.count++;
    }
    s_voters.running = true;
    for (size_t v = 0; v < count; v++)
        cr_assert_eq (pthread_create (&s_voters.threads[v], NULL, s_voter_run, &s_voters.voters[v]),
                      0);
}

static void s_voters_join (void)
{
    for (size_t v = 0; s_voters.running && v < s_voters.count; v++)
        pthread_join (s_voters.threads[v], NULL);
    s_voters.running = false;
}

//  Stops and joins voters still running (a test that failed half-way), and
//  frees the voters' jobs and results.
static void s_voters_free (void)
{
    if (s_voters.running) {
        atomic_store (&s_voters_stop, true);
        s_voters_join ();
    }
    for (size_t v = 0; v < s_voters.count; v++) {
        free (s_voters.voters[v].status);
        free (s_voters.voters[v].changed);
        free (s_voters.voters[v].jobs);
    }
    memset (&s_voters, 0, sizeof s_voters);
}

/* ==== Tests ==== */

Test (rank, votes_are_idempotent_under_retries_and_concurrent_voters)
{
    const char *ids[] = {"2605.90001", "2605.90002", "2605.90003", "2605.90004"};
    made_up_t papers[] = {{"2605.90001v1", "2026-05-26", NULL},
                          {"2605.90002v1", "2026-05-26", NULL},
                          {"2605.90003v1", "2026-05-26", NULL},
                          {"2605.90004v1", "2026-05-26", NULL}};
    s_submit (papers, 4);
    s_rank_start (1);
    s_rank_start (2);

    //  Paper p gets p + 2 voters: 14 distinct votes, each sent 12 times by
    //  four threads at once (3 times each, in a different order, one in
    //  three with a version suffix), over two workers.
    enum { PAIRS = 14, REPEATS = 3, VOTERS = 4, JOBS = PAIRS * REPEATS };
    struct {
        const char *paper;
        char user[24];
    } pairs[PAIRS];
    int64_t expected[4] = {0};
    size_t pair_count = 0;
    for (size_t p = 0; p < 4; p++)
        for (size_t u = 0; u < p + 2; u++) {
            pairs[pair_count].paper = ids[p];
            snprintf (pairs[pair_count].user, sizeof pairs[0].user, "voter-%zu", u);
            expected[p]++;
            pair_count++;
        }
    cr_assert_eq (pair_count, PAIRS);
    vote_job_t *jobs_of[VOTERS];
    for (size_t v = 0; v < VOTERS; v++) {
        jobs_of[v] = calloc (JOBS, sizeof (vote_job_t));
        unsigned seed = (unsigned)v + 1;
        for (size_t j = 0; j < JOBS; j++) {
            size_t pair = j % PAIRS;
            vote_job_t *job = &jobs_of[v][j];
            job->pair = pair;
            snprintf (job->paper, sizeof job->paper, "%s%s", pairs[pair].paper,
                      (j + v) % 3 == 0 ? "v1" : "");
            snprintf (job->user, sizeof job->user, "%s", pairs[pair].user);
        }
        for (size_t j = JOBS - 1; j > 0; j--) {
            size_t other = (size_t)rand_r (&seed) % (j + 1);
            vote_job_t swap = jobs_of[v][j];
            jobs_of[v][j] = jobs_of[v][other];
            jobs_of[v][other] = swap;
        }
    }
    pbtest_served_t before, after;
    s_served (&before);
    atomic_store (&s_gate_open, true);
    s_voters_start (VOTERS, jobs_of, JOBS, 16, false, SIZE_MAX);
    s_voters_join ();
    s_served (&after);

    size_t changed_of[PAIRS] = {0};
    char failure[512] = "";
    for (size_t v = 0; v < VOTERS; v++) {
        voter_t *voter = &s_voters.voters[v];
        if (*voter->failure && !*failure)
            snprintf (failure, sizeof failure, "voter %zu: %s", v, voter->failure);
        for (size_t j = 0; j < JOBS; j++) {
            if (voter->status[j] != PB_OK && !*failure)
                snprintf (failure, sizeof failure, "voter %zu: the vote of %s by %s got status %d",
                          v, jobs_of[v][j].paper, jobs_of[v][j].user, voter->status[j]);
            if (voter->status[j] == PB_OK && voter->changed[j])
                changed_of[jobs_of[v][j].pair]++;
        }
    }
    s_voters_free ();
    cr_assert_str_empty (failure, "%s", failure);
    for (size_t p = 0; p < PAIRS; p++)
        cr_assert_eq (changed_of[p], 1, "%zu replies say the vote of %s by %s changed something",
                      changed_of[p], pairs[p].paper, pairs[p].user);
    //  Both workers took part in the storm.
    cr_assert_eq (after.count, 2, "%zu rank workers live", after.count);
    for (size_t a = 0; a < after.count; a++) {
        int64_t earlier = 0;
        for (size_t b = 0; b < before.count; b++)
            if (strcmp (before.ids[b], after.ids[a]) == 0)
                earlier = before.served[b];
        cr_assert_gt (after.served[a], earlier, "rank worker %s answered none of the votes",
                      after.ids[a]);
    }

    cr_assert_eq (s_count ("SELECT count(*) FROM vote", NULL), PAIRS);
    cr_assert_eq (s_event_count ("vote.cast"), PAIRS);
    events_t *events = s_events ("vote.cast", &pb_vote_cast_schema);
    for (size_t e = 0; e < events->count; e++) {
        const pb_vote_cast_t *cast = (const pb_vote_cast_t *)(events->items + e * events->size);
        cr_assert (cast->up, "vote.cast %zu withdraws a vote", e);
        for (size_t f = 0; f < e; f++) {
            const pb_vote_cast_t *earlier =
                (const pb_vote_cast_t *)(events->items + f * events->size);
            cr_assert_not (cast->paper.len == earlier->paper.len &&
                               cast->user.len == earlier->user.len &&
                               memcmp (cast->paper.ptr, earlier->paper.ptr, cast->paper.len) == 0 &&
                               memcmp (cast->user.ptr, earlier->user.ptr, cast->user.len) == 0,
                           "vote.cast %zu and %zu are the same vote", f, e);
        }
    }
    s_events_free (&events);
    s_every_worker_counts (ids, expected, 4, 2, "upvotes after the storm");
}

Test (rank, unvote)
{
    const char *p = "2605.90011", *q = "2605.90012";
    made_up_t papers[] = {{"2605.90011v1", "2027-02-01", NULL},
                          {"2605.90012v1", "2027-02-01", NULL}};
    s_submit (papers, 2);
    int64_t cast = s_day_ms ("2027-02-01");
    s_clock_ms (cast);
    s_rank_start (1);

    s_vote_expect (true, p, "alice", 1, true, true);
    s_vote_expect (true, p, "bob", 2, true, true);
    //  A day later: alice withdraws, twice; and a vote never cast.
    s_clock_ms (cast + DAY_MS);
    s_vote_expect (false, p, "alice", 1, false, true);
    s_vote_expect (false, p, "alice", 1, false, false);
    s_vote_expect (false, q, "alice", 0, false, false);
    cr_assert_eq (s_count ("SELECT count(*) FROM vote", NULL), 1);

    //  The withdrawal is one event, with the vote's own cast_at.
    events_t *events = s_events ("vote.cast", &pb_vote_cast_schema);
    cr_assert_eq (events->count, 3, "%zu vote.cast events, want 3", events->count);
    const pb_vote_cast_t *withdrawal = (const pb_vote_cast_t *)(events->items + 2 * events->size);
    char text[160];
    cr_assert_str_eq (pbtest_text (withdrawal->paper, text, sizeof text), p);
    cr_assert_str_eq (pbtest_text (withdrawal->user, text, sizeof text), "alice");
    cr_assert_not (withdrawal->up, "the withdrawal's event says up");
    cr_assert_eq (withdrawal->cast_at, cast, "the withdrawal's cast_at is %lld, want %lld",
                  (long long)withdrawal->cast_at, (long long)cast);
    s_events_free (&events);

    //  What is left is bob's vote, a half-life old: 0.5. (Taking the
    //  withdrawn vote off at its own weight, not at today's.)
    const char *both[] = {p, q};
    pbtest_answer_t *answer = s_votes (both, 2, "alice");
    cr_assert_eq (answer->votes.papers.count, 2);
    cr_assert_eq (s_counted (answer, 0)->upvotes, 1);
    cr_assert_float_eq (s_counted (answer, 0)->score, 0.5, SCORE_TOLERANCE, "score %.9g",
                        s_counted (answer, 0)->score);
    cr_assert (pb_has (s_counted (answer, 0), PB_ranked_paper_voted));
    cr_assert_not (s_counted (answer, 0)->voted, "alice still counts as a voter");
    cr_assert_eq (s_counted (answer, 1)->upvotes, 0);
    cr_assert_float_eq (s_counted (answer, 1)->score, 0, SCORE_TOLERANCE);
    pbtest_answer_free (&answer);

    //  Voting again casts a new vote, today.
    s_vote_expect (true, p, "alice", 2, true, true);
    events = s_events ("vote.cast", &pb_vote_cast_schema);
    cr_assert_eq (events->count, 4);
    const pb_vote_cast_t *again = (const pb_vote_cast_t *)(events->items + 3 * events->size);
    cr_assert (again->up);
    cr_assert_eq (again->cast_at, cast + DAY_MS);
    s_events_free (&events);
    answer = s_votes (both, 1, "alice");
    cr_assert_float_eq (s_counted (answer, 0)->score, 1.5, SCORE_TOLERANCE, "score %.9g",
                        s_counted (answer, 0)->score);
    cr_assert (s_counted (answer, 0)->voted);
    pbtest_answer_free (&answer);
}

Test (rank, windows_follow_utc_days_iso_weeks_and_months)
{
    made_up_t papers[] = {
        {"2612.90001v1", "2026-12-27", NULL}, //  a Sunday
        {"2612.90002v1", "2026-12-28", NULL}, //  the Monday after
        {"2612.90003v1", "2026-12-31", NULL},
        {"2612.90004v1", "2027-01-01", NULL},
        {"2612.90005v1", "2027-01-03", NULL},                //  a Sunday
        {"2612.90006v1", "2027-01-04", NULL},                //  the Monday after
        {"2612.90007v1", NULL, "2026-12-31T23:30:00-05:00"}, //  2027-01-01 in UTC
        {"2612.90008v1", "2027-01-01", NULL},
        {"2612.90009v1", "2027-01-03T22:00:00-03:00", NULL}, //  2027-01-04 in UTC
    };
    s_submit (papers, 9);
    s_clock_text ("2027-01-01T12:00:00Z");
    s_rank_start (1);
    s_every_worker_lists ("week", "2027-01-01", 6, 1);
    //  On 2027-01-01: two votes on paper 7, one on paper 4, none on paper 8.
    s_vote_expect (true, "2612.90007", "alice", 1, true, true);
    s_vote_expect (true, "2612.90007", "bob", 2, true, true);
    s_vote_expect (true, "2612.90004", "alice", 1, true, true);

    pbtest_answer_t *answer = s_top ("day", "2026-12-27");
    s_assert_list (answer, (const char *[]){"2612.90001"}, 1, "day 2026-12-27");
    s_assert_window (answer, "2026-12-27", "2026-12-27", "day 2026-12-27");
    pbtest_answer_free (&answer);

    answer = s_top ("day", "2026-12-31");
    s_assert_list (answer, (const char *[]){"2612.90003"}, 1, "day 2026-12-31");
    pbtest_answer_free (&answer);

    const char *new_year[] = {"2612.90007", "2612.90004", "2612.90008"};
    answer = s_top ("day", "2027-01-01");
    s_assert_list (answer, new_year, 3, "day 2027-01-01");
    s_assert_window (answer, "2027-01-01", "2027-01-01", "day 2027-01-01");
    cr_assert_eq (s_listed (answer, 0)->upvotes, 2);
    cr_assert_eq (s_listed (answer, 1)->upvotes, 1);
    cr_assert_eq (s_listed (answer, 2)->upvotes, 0);
    pbtest_answer_free (&answer);

    //  With a user: whose votes these are.
    top_t mine = {"day", "2027-01-01", -1, 100, "alice"};
    s_top_body (&mine);
    answer = s_call ("rank.top");
    cr_assert_eq (answer->reply.status, PB_OK, "%s", pbtest_describe (answer));
    s_assert_list (answer, new_year, 3, "day 2027-01-01 for alice");
    const bool alice_voted[] = {true, true, false};
    for (uint32_t i = 0; i < 3; i++) {
        cr_assert (pb_has (s_listed (answer, i), PB_ranked_paper_voted), "no voted on paper %u", i);
        cr_assert_eq (s_listed (answer, i)->voted, alice_voted[i], "alice's vote on %s: %d",
                      new_year[i], s_listed (answer, i)->voted);
    }
    pbtest_answer_free (&answer);

    //  Today, by the clock file: 2027-01-01.
    answer = s_top ("day", NULL);
    s_assert_list (answer, new_year, 3, "day today (2027-01-01)");
    s_assert_window (answer, "2027-01-01", "2027-01-01", "day today");
    pbtest_answer_free (&answer);

    answer = s_top ("day", "2027-01-02");
    s_assert_list (answer, NULL, 0, "day 2027-01-02");
    s_assert_window (answer, "2027-01-02", "2027-01-02", "day 2027-01-02");
    pbtest_answer_free (&answer);

    answer = s_top ("week", "2026-12-27");
    s_assert_list (answer, (const char *[]){"2612.90001"}, 1, "week of 2026-12-27");
    s_assert_window (answer, "2026-12-21", "2026-12-27", "week of 2026-12-27");
    pbtest_answer_free (&answer);

    //  ISO week 53 of 2026, across the new year: by upvotes, then id.
    const char *week_53[] = {"2612.90007", "2612.90004", "2612.90002",
                             "2612.90003", "2612.90005", "2612.90008"};
    const char *days_of_week_53[] = {"2026-12-28", "2027-01-01", "2027-01-03"};
    for (size_t d = 0; d < 3; d++) {
        char what[64];
        snprintf (what, sizeof what, "week of %s", days_of_week_53[d]);
        answer = s_top ("week", days_of_week_53[d]);
        s_assert_list (answer, week_53, 6, what);
        s_assert_window (answer, "2026-12-28", "2027-01-03", what);
        pbtest_answer_free (&answer);
    }
    answer = s_top ("week", NULL);
    s_assert_list (answer, week_53, 6, "week today");
    pbtest_answer_free (&answer);

    answer = s_top ("week", "2027-01-04");
    s_assert_list (answer, (const char *[]){"2612.90006", "2612.90009"}, 2, "week of 2027-01-04");
    s_assert_window (answer, "2027-01-04", "2027-01-10", "week of 2027-01-04");
    pbtest_answer_free (&answer);

    const char *december[] = {"2612.90001", "2612.90002", "2612.90003"};
    answer = s_top ("month", "2026-12-31");
    s_assert_list (answer, december, 3, "month of 2026-12-31");
    s_assert_window (answer, "2026-12-01", "2026-12-31", "month of 2026-12-31");
    pbtest_answer_free (&answer);

    const char *january[] = {"2612.90007", "2612.90004", "2612.90005",
                             "2612.90006", "2612.90008", "2612.90009"};
    answer = s_top ("month", "2027-01-01");
    s_assert_list (answer, january, 6, "month of 2027-01-01");
    s_assert_window (answer, "2027-01-01", "2027-01-31", "month of 2027-01-01");
    pbtest_answer_free (&answer);

    //  A leap February, with nothing in it.
    answer = s_top ("month", "2028-02-10");
    s_assert_list (answer, NULL, 0, "month of 2028-02-10");
    s_assert_window (answer, "2028-02-01", "2028-02-29", "month of 2028-02-10");
    pbtest_answer_free (&answer);

    //  A page of a list.
    top_t page = {"week", "2027-01-01", 2, 3, NULL};
    s_top_body (&page);
    answer = s_call ("rank.top");
    cr_assert_eq (answer->reply.status, PB_OK, "%s", pbtest_describe (answer));
    cr_assert_eq (answer->top.total, 6);
    cr_assert_eq (answer->top.papers.count, 3);
    for (uint32_t i = 0; i < 3; i++)
        cr_assert (pb_str_eq (s_listed (answer, i)->id, week_53[2 + i]),
                   "week 53 from 2: paper %u is not %s", i, week_53[2 + i]);
    pbtest_answer_free (&answer);
}

Test (rank, trending_decays_over_simulated_days)
{
    const char *a = "2606.90021", *b = "2606.90022";
    made_up_t papers[] = {{"2606.90021v1", "2027-06-15", NULL},
                          {"2606.90022v1", "2027-06-15", NULL}};
    s_submit (papers, 2);
    //  T + 10 days also passes an epoch of the standings (every 512
    //  half-lives from 1970: 2027-06-23), where every heat is rescaled.
    int64_t t = s_day_ms ("2027-06-15");
    s_clock_ms (t);
    s_rank_start (1);
    s_vote_expect (true, a, "alice", 1, true, true);
    s_vote_expect (true, a, "bob", 2, true, true);
    s_vote_expect (true, a, "carol", 3, true, true);

    s_clock_ms (t + HOUR_MS);
    s_every_worker_trends ((const char *[]){a}, (double[]){3 * exp2 (-1.0 / 24)}, 1, 1, 1,
                           "trending at T + 1 hour");

    s_clock_ms (t + 2 * DAY_MS);
    s_vote_expect (true, b, "dave", 1, true, true);
    s_every_worker_trends ((const char *[]){b, a}, (double[]){1, 0.75}, 2, 2, 1,
                           "trending at T + 2 days");

    s_clock_ms (t + 10 * DAY_MS);
    pbtest_answer_t *answer = s_top ("trending", NULL);
    char text[2048];
    cr_assert_eq (answer->top.total, 0, "trending at T + 10 days: [%s]",
                  s_list_text (answer, text, sizeof text));
    cr_assert_eq (answer->top.papers.count, 0);
    cr_assert_not (pb_has (&answer->top, PB_top_reply_first_day), "trending has a first_day");
    pbtest_answer_free (&answer);
    const char *both[] = {a, b};
    answer = s_votes (both, 2, NULL);
    cr_assert_eq (answer->votes.papers.count, 2);
    cr_assert_float_eq (s_counted (answer, 0)->score, 3 * exp2 (-10), 1e-9, "A scores %.9g",
                        s_counted (answer, 0)->score);
    cr_assert_float_eq (s_counted (answer, 1)->score, exp2 (-8), 1e-9, "B scores %.9g",
                        s_counted (answer, 1)->score);
    pbtest_answer_free (&answer);
    answer = s_top ("day", "2027-06-15");
    s_assert_list (answer, both, 2, "day 2027-06-15 at T + 10 days");
    cr_assert_eq (s_listed (answer, 0)->upvotes, 3);
    cr_assert_eq (s_listed (answer, 1)->upvotes, 1);
    pbtest_answer_free (&answer);

    //  After the epoch, a vote counts 1 again.
    s_vote_expect (true, b, "erin", 2, true, true);
    s_every_worker_trends ((const char *[]){b}, (double[]){1 + exp2 (-8)}, 1, 1, 1,
                           "trending after a new vote at T + 10 days");
}

/* ==== Snapshots of a worker's answers ==== */

#define SNAPSHOT_LISTS 7

//  Every list and count a worker gives for a set of papers.
typedef struct {
    pbtest_answer_t *lists[SNAPSHOT_LISTS];
    pbtest_answer_t *votes;
} snapshot_t;

static const top_t s_snapshot_lists[SNAPSHOT_LISTS] = {
    {"day", "2027-03-08", -1, 100, "u1"},   {"day", "2027-03-09", -1, 100, "u1"},
    {"week", "2027-03-08", -1, 100, "u1"},  {"week", "2027-03-15", -1, 100, "u1"},
    {"month", "2027-03-10", -1, 100, "u1"}, {"month", "2027-02-10", -1, 100, "u1"},
    {"trending", NULL, -1, 100, "u1"},
};

static void s_snapshot (snapshot_t *snapshot, const char *const *ids, size_t count)
{
    for (size_t l = 0; l < SNAPSHOT_LISTS; l++) {
        s_top_body (&s_snapshot_lists[l]);
        snapshot->lists[l] = s_call ("rank.top");
        cr_assert_eq (snapshot->lists[l]->reply.status, PB_OK, "%s %s: %s",
                      s_snapshot_lists[l].window, s_snapshot_lists[l].date,
                      pbtest_describe (snapshot->lists[l]));
    }
    snapshot->votes = s_votes (ids, count, "u1");
}

static void s_snapshot_free (snapshot_t *snapshot)
{
    for (size_t l = 0; l < SNAPSHOT_LISTS; l++)
        pbtest_answer_free (&snapshot->lists[l]);
    pbtest_answer_free (&snapshot->votes);
}

//  Whether two scores are the same within 1e-9, relative.
static bool s_same_score (double a, double b)
{
    return fabs (a - b) <= 1e-9 * fmax (fabs (a), fabs (b));
}

//  Asserts that papers A and B (position I of WHAT) are the same.
static void s_assert_same_paper (const pb_ranked_paper_t *a, const pb_ranked_paper_t *b, size_t i,
                                 const char *what)
{
    char a_id[160], b_id[160];
    pbtest_text (a->id, a_id, sizeof a_id);
    pbtest_text (b->id, b_id, sizeof b_id);
    cr_assert_str_eq (a_id, b_id, "%s, paper %zu: %s live, %s rebuilt", what, i, a_id, b_id);
    cr_assert_eq (a->upvotes, b->upvotes, "%s, %s: %lld upvotes live, %lld rebuilt", what, a_id,
                  (long long)a->upvotes, (long long)b->upvotes);
    cr_assert (s_same_score (a->score, b->score), "%s, %s: score %.17g live, %.17g rebuilt", what,
               a_id, a->score, b->score);
    cr_assert_eq (pb_has (a, PB_ranked_paper_voted), pb_has (b, PB_ranked_paper_voted));
    cr_assert_eq (a->voted, b->voted, "%s, %s: voted %d live, %d rebuilt", what, a_id, a->voted,
                  b->voted);
}

static void s_assert_same_snapshot (const snapshot_t *live, const snapshot_t *rebuilt)
{
    for (size_t l = 0; l < SNAPSHOT_LISTS; l++) {
        const pbtest_answer_t *a = live->lists[l], *b = rebuilt->lists[l];
        char what[64], a_text[2048], b_text[2048];
        snprintf (what, sizeof what, "%s %s", s_snapshot_lists[l].window,
                  s_snapshot_lists[l].date ? s_snapshot_lists[l].date : "now");
        cr_assert (a->top.total == b->top.total && a->top.papers.count == b->top.papers.count,
                   "%s: [%s] live, [%s] rebuilt", what, s_list_text (a, a_text, sizeof a_text),
                   s_list_text (b, b_text, sizeof b_text));
        char a_day[16], b_day[16];
        cr_assert_str_eq (pbtest_text (a->top.first_day, a_day, sizeof a_day),
                          pbtest_text (b->top.first_day, b_day, sizeof b_day));
        cr_assert_str_eq (pbtest_text (a->top.last_day, a_day, sizeof a_day),
                          pbtest_text (b->top.last_day, b_day, sizeof b_day));
        for (uint32_t i = 0; i < a->top.papers.count; i++)
            s_assert_same_paper (s_listed (a, i), s_listed (b, i), i, what);
    }
    cr_assert_eq (live->votes->votes.papers.count, rebuilt->votes->votes.papers.count);
    for (uint32_t i = 0; i < live->votes->votes.papers.count; i++)
        s_assert_same_paper (s_counted (live->votes, i), s_counted (rebuilt->votes, i), i,
                             "rank.votes");
}

Test (rank, restart_rebuild_equals_live_state)
{
    int64_t now = s_day_ms ("2027-03-10") + 12 * HOUR_MS;
    s_clock_ms (now - 3 * DAY_MS);
    //  The live worker learns everything from events, papers included.
    pid_t live = s_rank_start (1);
    const char *ids[] = {"2703.90031", "2703.90032", "2703.90033", "2703.90034",
                         "2703.90035", "2703.90036", "2703.90037"};
    made_up_t papers[] = {
        {"2703.90031v1", "2027-03-08", NULL}, {"2703.90032v1", "2027-03-08", NULL},
        {"2703.90033v1", "2027-03-09", NULL}, {"2703.90034v1", "2027-03-15", NULL},
        {"2703.90035v1", "2027-03-31", NULL}, {"2703.90036v1", "2027-02-28", NULL},
        {"2703.90037v1", "2027-03-08", NULL},
    };
    s_submit (papers, 7);
    s_every_worker_lists ("month", "2027-03-10", 6, 1);

    const char *u[] = {"u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8"};
    for (int v = 1; v <= 4; v++)
        s_vote_expect (true, ids[0], u[v], v, true, true);
    s_vote_expect (true, ids[1], u[1], 1, true, true);
    s_vote_expect (true, ids[1], u[2], 2, true, true);
    s_vote_expect (true, ids[5], u[1], 1, true, true);
    s_clock_ms (now - 2 * DAY_MS);
    s_signal_expect (ids[2], "github", 40, 40);
    s_signal_expect (ids[3], "hf", 3, 3);
    s_clock_ms (now - DAY_MS);
    s_vote_expect (true, ids[1], u[5], 3, true, true);
    s_vote_expect (true, ids[1], u[6], 4, true, true);
    for (int v = 1; v <= 3; v++)
        s_vote_expect (true, ids[2], u[v], v, true, true);
    s_vote_expect (true, ids[3], u[1], 1, true, true);
    s_clock_ms (now - 6 * HOUR_MS);
    s_vote_expect (false, ids[0], u[2], 3, false, true);
    s_vote_expect (false, ids[3], u[1], 0, false, true);
    //  Papers 5 and 7: the same votes at the same time, a tie broken by id.
    s_vote_expect (true, ids[4], u[7], 1, true, true);
    s_vote_expect (true, ids[4], u[8], 2, true, true);
    s_vote_expect (true, ids[6], u[7], 1, true, true);
    s_vote_expect (true, ids[6], u[8], 2, true, true);
    s_clock_ms (now - HOUR_MS);
    s_signal_expect (ids[2], "github", 50, 10);
    s_signal_expect (ids[5], "arxiv-listing", 7, 7);
    s_clock_ms (now);
    s_vote_expect (false, ids[1], u[5], 3, false, true);
    s_vote_expect (true, ids[1], u[5], 4, true, true);

    snapshot_t before = {0}, after = {0};
    s_snapshot (&before, ids, 7);
    //  What the live worker says is what was done.
    const int64_t upvotes[] = {3, 4, 3, 0, 2, 1, 2};
    for (uint32_t i = 0; i < 7; i++)
        cr_assert_eq (s_counted (before.votes, i)->upvotes, upvotes[i], "%s: %lld upvotes", ids[i],
                      (long long)s_counted (before.votes, i)->upvotes);
    cr_assert_eq (before.lists[SNAPSHOT_LISTS - 1]->top.total, 7, "%lld papers trending",
                  (long long)before.lists[SNAPSHOT_LISTS - 1]->top.total);
    //  Papers 5 and 7 tie in trending: next to each other, by id.
    const pbtest_answer_t *trending = before.lists[SNAPSHOT_LISTS - 1];
    uint32_t fifth = 0, seventh = 0;
    for (uint32_t i = 0; i < trending->top.papers.count; i++) {
        if (pb_str_eq (s_listed (trending, i)->id, ids[4]))
            fifth = i;
        if (pb_str_eq (s_listed (trending, i)->id, ids[6]))
            seventh = i;
    }
    char text[2048];
    cr_assert_eq (seventh, fifth + 1, "the tied papers are not next to each other by id: [%s]",
                  s_list_text (trending, text, sizeof text));

    s_rank_stop (live, SIGKILL, 0);
    s_rank_start (1);
    s_snapshot (&after, ids, 7);
    s_assert_same_snapshot (&before, &after);
    s_snapshot_free (&before);
    s_snapshot_free (&after);
}

//  The (paper, user) votes of events, sorted, as "paper user" strings.
static int s_compare_strings (const void *a, const void *b)
{
    return strcmp (*(char *const *)a, *(char *const *)b);
}

Test (rank, sigkill_during_vote_storm_loses_and_doubles_nothing)
{
    enum { PAPERS = 30, USERS = 100, PAIRS = PAPERS * USERS, VOTERS = 4, JOBS = PAIRS / VOTERS };
    made_up_t papers[PAPERS];
    char versioned[PAPERS][40];
    char ids_text[PAPERS][32];
    const char *ids[PAPERS];
    for (size_t p = 0; p < PAPERS; p++) {
        snprintf (ids_text[p], sizeof ids_text[p], "2605.91%03zu", p);
        snprintf (versioned[p], sizeof versioned[p], "%sv1", ids_text[p]);
        ids[p] = ids_text[p];
        papers[p] = (made_up_t){versioned[p], "2026-05-27", NULL};
    }
    s_submit (papers, PAPERS);
    pid_t victim = s_rank_start (1);
    s_rank_start (2);

    //  Vote k is user k / PAPERS on paper k % PAPERS; voter v sends the
    //  votes k = v (mod VOTERS), the last third only once the replacement
    //  worker is up.
    vote_job_t *jobs_of[VOTERS];
    for (size_t v = 0; v < VOTERS; v++) {
        jobs_of[v] = calloc (JOBS, sizeof (vote_job_t));
        for (size_t j = 0; j < JOBS; j++) {
            size_t k = j * VOTERS + v;
            vote_job_t *job = &jobs_of[v][j];
            job->pair = k;
            snprintf (job->paper, sizeof job->paper, "%s", ids[k % PAPERS]);
            snprintf (job->user, sizeof job->user, "storm-%03zu", k / PAPERS);
        }
    }
    atomic_store (&s_gate_open, false);
    atomic_store (&s_votes_done, 0);
    s_voters_start (VOTERS, jobs_of, JOBS, 32, true, JOBS * 2 / 3);
    int64_t started = zclock_mono ();
    while (atomic_load (&s_votes_done) < PAIRS / 5 && zclock_mono () - started < 30000)
        zclock_sleep (2);
    long done_at_kill = atomic_load (&s_votes_done);
    s_rank_stop (victim, SIGKILL, 1);
    s_rank_start (2);
    atomic_store (&s_gate_open, true);
    s_voters_join ();

    char failure[512] = "";
    size_t errors = 0, silences = 0;
    for (size_t v = 0; v < VOTERS; v++) {
        voter_t *voter = &s_voters.voters[v];
        errors += voter->errors;
        silences += voter->silences;
        if (*voter->failure && !*failure)
            snprintf (failure, sizeof failure, "voter %zu: %s", v, voter->failure);
        for (size_t j = 0; j < JOBS && !*failure; j++)
            if (voter->status[j] != PB_OK)
                snprintf (failure, sizeof failure, "voter %zu: vote %zu got status %d", v, j,
                          voter->status[j]);
    }
    s_voters_free ();
    cr_log_info ("storm: %ld of %d votes answered at the kill; %zu error replies and %zu "
                 "silences, each sent again",
                 done_at_kill, PAIRS, errors, silences);
    cr_assert_str_empty (failure, "%s", failure);
    cr_assert (done_at_kill > 0 && done_at_kill < PAIRS, "the kill came at %ld of %d votes",
               done_at_kill, PAIRS);

    //  Every vote is stored once, with one event.
    cr_assert_eq (s_count ("SELECT count(*) FROM vote", NULL), PAIRS);
    cr_assert_eq (s_count ("SELECT count(*) FROM vote WHERE user_id LIKE 'storm-%'", NULL), PAIRS);
    cr_assert_eq (s_event_count ("vote.cast"), PAIRS);
    events_t *events = s_events ("vote.cast", &pb_vote_cast_schema);
    char **pairs = calloc (events->count + 1, sizeof *pairs);
    for (size_t e = 0; e < events->count; e++) {
        const pb_vote_cast_t *cast = (const pb_vote_cast_t *)(events->items + e * events->size);
        pairs[e] = calloc (1, 64);
        snprintf (pairs[e], 64, "%.*s %.*s%s", (int)cast->paper.len, cast->paper.ptr,
                  (int)cast->user.len, cast->user.ptr, cast->up ? "" : " (withdrawn)");
    }
    qsort (pairs, events->count, sizeof *pairs, s_compare_strings);
    char twice[64] = "";
    for (size_t e = 0; e < events->count; e++) {
        if (!*twice &&
            (strstr (pairs[e], "withdrawn") || (e && strcmp (pairs[e], pairs[e - 1]) == 0)))
            snprintf (twice, sizeof twice, "%s", pairs[e]);
    }
    for (size_t e = 0; e < events->count; e++)
        free (pairs[e]);
    free (pairs);
    s_events_free (&events);
    cr_assert_str_empty (twice, "vote.cast holds '%s' twice, or a withdrawal", twice);

    //  Every worker, the replacement included, counts what PostgreSQL holds.
    int64_t stored[PAPERS];
    for (size_t p = 0; p < PAPERS; p++) {
        stored[p] = s_count ("SELECT count(*) FROM vote WHERE paper_id = $1", ids[p]);
        cr_assert_eq (stored[p], USERS, "%s has %lld votes stored", ids[p], (long long)stored[p]);
    }
    s_every_worker_counts (ids, stored, PAPERS, 2, "upvotes after the storm");
}

//  Asserts that ANSWER (WHAT) is error CODE (or ALSO, when not 0) with a
//  message that holds WORD; frees it.
static void s_assert_refused (pbtest_answer_t *answer, const char *what, int code, int also,
                              const char *word)
{
    cr_assert (answer->reply.status == code || (also && answer->reply.status == also),
               "%s: want error %s, got %s", what, pb_error_name (code), pbtest_describe (answer));
    char message[1100];
    pbtest_text (answer->error.message, message, sizeof message);
    cr_assert (strcasestr (message, word), "%s: the message '%s' does not say '%s'", what, message,
               word);
    pbtest_answer_free (&answer);
}

Test (rank, bad_requests_get_clear_errors)
{
    const char *paper = "2605.90041";
    made_up_t papers[] = {{"2605.90041v1", "2026-05-26", NULL}};
    s_submit (papers, 1);
    pid_t worker = s_rank_start (1);

    //  Votes.
    s_assert_refused (s_vote (true, "2501.99999", "alice"), "a vote on an unknown paper",
                      PB_E_NOT_FOUND, 0, "2501.99999");
    s_assert_refused (s_vote (false, "2501.99999", "alice"), "an unvote on an unknown paper",
                      PB_E_NOT_FOUND, 0, "2501.99999");
    s_assert_refused (s_vote (true, paper, ""), "an empty user", PB_E_INVALID, PB_E_TOO_LARGE,
                      "user");
    char long_id[130];
    memset (long_id, '7', 129);
    long_id[129] = '\0';
    s_assert_refused (s_vote (true, long_id, "alice"), "a paper id of 129 bytes", PB_E_TOO_LARGE,
                      PB_E_INVALID, "paper");
    s_assert_refused (s_vote (true, paper, "eve\x01"), "a user with a control character",
                      PB_E_INVALID, 0, "control");
    s_assert_refused (s_vote (false, paper, "eve\x1b[31m"), "an unvoter with an escape",
                      PB_E_INVALID, 0, "control");
    s_assert_refused (s_vote (true, paper, "eve\x7f"), "a user with DEL", PB_E_INVALID, 0,
                      "control");

    //  Lists.
    top_t year = {"year", NULL, -1, -1, NULL};
    s_top_body (&year);
    s_assert_refused (s_call ("rank.top"), "window year", PB_E_INVALID, 0, "window");
    top_t no_day = {"day", "2026-02-30", -1, -1, NULL};
    s_top_body (&no_day);
    s_assert_refused (s_call ("rank.top"), "2026-02-30", PB_E_INVALID, 0, "2026-02-30");
    top_t no_month = {"month", "2026-13-01", -1, -1, NULL};
    s_top_body (&no_month);
    s_assert_refused (s_call ("rank.top"), "2026-13-01", PB_E_INVALID, 0, "date");
    top_t short_date = {"day", "2026-2-3", -1, -1, NULL};
    s_top_body (&short_date);
    s_assert_refused (s_call ("rank.top"), "2026-2-3", PB_E_INVALID, 0, "date");
    top_t dated_trending = {"trending", "2026-05-26", -1, -1, NULL};
    s_top_body (&dated_trending);
    s_assert_refused (s_call ("rank.top"), "a date for trending", PB_E_INVALID, 0, "date");
    top_t deep = {"day", "2026-05-26", 950, 100, NULL};
    s_top_body (&deep);
    s_assert_refused (s_call ("rank.top"), "offset 950 + limit 100", PB_E_INVALID, 0, "1000");
    top_t big = {"week", NULL, -1, 101, NULL};
    s_top_body (&big);
    s_assert_refused (s_call ("rank.top"), "limit 101", PB_E_INVALID, 0, "limit");
    //  The edge: offset + limit = 1000 is allowed.
    top_t edge = {"day", "2026-05-26", 900, 100, NULL};
    s_top_body (&edge);
    pbtest_answer_t *answer = s_call ("rank.top");
    cr_assert_eq (answer->reply.status, PB_OK, "offset 900 + limit 100: %s",
                  pbtest_describe (answer));
    cr_assert_eq (answer->top.papers.count, 0);
    pbtest_answer_free (&answer);

    //  Not msgpack at all, to every operation.
    const char garbage[] = "\xc1 not msgpack";
    const char *methods[] = {"rank.vote", "rank.unvote", "rank.top", "rank.votes", "rank.signal"};
    for (size_t m = 0; m < 5; m++)
        s_assert_refused (pbtest_call (s_stack.client, methods[m], garbage, sizeof garbage - 1),
                          methods[m], PB_E_MALFORMED, 0, "msgpack");
    s_assert_refused (pbtest_call (s_stack.client, "rank.frobnicate", "\x80", 1), "rank.frobnicate",
                      PB_E_UNKNOWN_COMMAND, 0, "frobnicate");

    //  Signals.
    s_assert_refused (s_signal (paper, "github", -1), "a negative signal", PB_E_INVALID, 0,
                      "value");
    s_assert_refused (s_signal (paper, "github", NAN), "a NaN signal", PB_E_INVALID, 0, "value");
    s_assert_refused (s_signal (paper, "github", INFINITY), "an infinite signal", PB_E_INVALID, 0,
                      "value");
    s_assert_refused (s_signal (paper, "github", 2e12), "a signal over 10^12", PB_E_INVALID, 0,
                      "value");
    s_assert_refused (s_signal (paper, "GitHub!", 5), "source GitHub!", PB_E_INVALID, 0, "source");
    s_assert_refused (s_signal (paper, "", 5), "an empty source", PB_E_INVALID, PB_E_TOO_LARGE,
                      "source");
    s_assert_refused (s_signal ("2501.99999", "github", 5), "a signal on an unknown paper",
                      PB_E_NOT_FOUND, 0, "2501.99999");

    //  Unknown papers in rank.votes are listed as missing, not an error.
    answer = s_votes ((const char *[]){"2501.99999", paper}, 2, NULL);
    cr_assert_eq (answer->votes.papers.count, 1);
    cr_assert (pb_str_eq (s_counted (answer, 0)->id, paper));
    cr_assert_eq (answer->votes.missing.count, 1);
    cr_assert (pb_str_eq (answer->votes.missing.items[0], "2501.99999"));
    pbtest_answer_free (&answer);

    //  Bad votes sent together with a good one, as one batch: each gets its own answer.
    msgpack_sbuffer bodies[3];
    const char *users[] = {"mallory\x02", "frank", ""};
    uint64_t sent[3];
    for (int i = 0; i < 3; i++) {
        msgpack_sbuffer_init (&bodies[i]);
        s_vote_body (&bodies[i], pb_str (paper), pb_str (users[i]));
    }
    for (int i = 0; i < 3; i++)
        sent[i] = pb_client_send (s_stack.client, "rank.vote", bodies[i].data, bodies[i].size);
    for (int i = 0; i < 3; i++)
        msgpack_sbuffer_destroy (&bodies[i]);
    int status_of[3] = {-1, -1, -1};
    for (int i = 0; i < 3; i++) {
        pb_reply_t reply = {0};
        cr_assert_eq (pb_client_recv (s_stack.client, CALL_MS, &reply), 0,
                      "no reply to a batched vote");
        for (int j = 0; j < 3; j++)
            if (reply.request_id == sent[j])
                status_of[j] = reply.status;
        pb_reply_reset (&reply);
    }
    cr_assert_eq (status_of[0], PB_E_INVALID, "the control character in a batch: %d", status_of[0]);
    cr_assert_eq (status_of[1], PB_OK, "the good vote in a batch: %d", status_of[1]);
    cr_assert_eq (status_of[2], PB_E_INVALID, "the empty user in a batch: %d", status_of[2]);

    //  Nothing bad was stored, and the same worker still takes a good vote.
    cr_assert (pbtest_running (worker), "the rank worker exited");
    cr_assert_eq (s_count ("SELECT count(*) FROM vote", NULL), 1);
    cr_assert_eq (s_event_count ("vote.cast"), 1);
    cr_assert_eq (s_event_count ("signal.recorded"), 0);
    s_vote_expect (true, paper, "grace", 2, true, true);
    cr_assert (pbtest_running (worker), "the rank worker exited");
    pbtest_wait_for_workers ("rank", 1);
}

//  The trending.updated event number I (from 0) of the log.
static const pb_trending_updated_t *s_trending_event (events_t *events, size_t i)
{
    cr_assert_lt (i, events->count);
    return (const pb_trending_updated_t *)(events->items + i * events->size);
}

//  Asserts that EVENT published IDS (COUNT) with SCORES at AT.
static void s_assert_published (const pb_trending_updated_t *event, const char *const *ids,
                                const double *scores, size_t count, int64_t at)
{
    cr_assert_eq (event->at, at, "trending.updated at %lld, want %lld", (long long)event->at,
                  (long long)at);
    cr_assert_eq (event->papers.count, count, "trending.updated lists %u papers, want %zu",
                  event->papers.count, count);
    for (size_t i = 0; i < count; i++) {
        const pb_ranked_paper_t *paper = (const pb_ranked_paper_t *)event->papers.items + i;
        char id[160];
        cr_assert_str_eq (pbtest_text (paper->id, id, sizeof id), ids[i],
                          "trending.updated paper %zu", i);
        cr_assert_float_eq (paper->score, scores[i], SCORE_TOLERANCE,
                            "trending.updated: %s scores %.9g, want %.9g", ids[i], paper->score,
                            scores[i]);
    }
}

Test (rank, trending_updated_at_most_once_per_interval)
{
    const char *x = "2604.90051", *y = "2604.90052";
    made_up_t papers[] = {{"2604.90051v1", "2027-04-01", NULL},
                          {"2604.90052v1", "2027-04-01", NULL},
                          {"2604.90053v1", "2027-04-01", NULL}};
    s_submit (papers, 3);
    setenv ("PAPERBUS_TRENDING_INTERVAL_MS", "1000", 1);
    int64_t start = s_day_ms ("2027-04-01") + 10 * HOUR_MS;
    s_clock_ms (start);
    s_rank_start (1);
    s_rank_start (2);

    //  Nothing trends: nothing to publish.
    zclock_sleep (TICKS_MS);
    cr_assert_eq (s_event_count ("trending.updated"), 0);

    //  A first top: one event, although two workers run.
    s_vote_expect (true, x, "alice", 1, true, true);
    cr_assert_eq (s_wait_events ("trending.updated", 1, 3000), 1, "no trending.updated");
    s_every_worker_trends ((const char *[]){x}, (double[]){1}, 1, 1, 2, "trending with X");
    zclock_sleep (TICKS_MS);
    cr_assert_eq (s_event_count ("trending.updated"), 1, "the first top was published %lld times",
                  (long long)s_event_count ("trending.updated"));
    events_t *events = s_events ("trending.updated", &pb_trending_updated_schema);
    s_assert_published (s_trending_event (events, 0), (const char *[]){x}, (double[]){1}, 1, start);
    s_events_free (&events);

    //  A new top at once: held back while the clock stays within the interval.
    s_vote_expect (true, y, "bob", 1, true, true);
    s_vote_expect (true, y, "carol", 2, true, true);
    s_every_worker_trends ((const char *[]){y, x}, (double[]){2, 1}, 2, 2, 2, "trending with Y");
    zclock_sleep (TICKS_MS);
    cr_assert_eq (s_event_count ("trending.updated"), 1,
                  "a new top was published before the interval passed");
    s_clock_ms (start + 999);
    zclock_sleep (TICKS_MS);
    cr_assert_eq (s_event_count ("trending.updated"), 1,
                  "a new top was published 999 ms after the last");

    //  Once the interval has passed: one event with the new top.
    s_clock_ms (start + 1000);
    cr_assert_eq (s_wait_events ("trending.updated", 2, 3000), 2,
                  "the new top was not published once the interval passed");
    zclock_sleep (TICKS_MS);
    cr_assert_eq (s_event_count ("trending.updated"), 2, "the new top was published %lld times",
                  (long long)s_event_count ("trending.updated") - 1);
    double decay = exp2 (-1000.0 / 86400000.0);
    events = s_events ("trending.updated", &pb_trending_updated_schema);
    s_assert_published (s_trending_event (events, 1), (const char *[]){y, x},
                        (double[]){2 * decay, decay}, 2, start + 1000);
    const pb_ranked_paper_t *first =
        (const pb_ranked_paper_t *)s_trending_event (events, 1)->papers.items;
    cr_assert_eq (first->upvotes, 2);
    s_events_free (&events);

    //  Later, the same top: nothing.
    s_clock_ms (start + 5000);
    zclock_sleep (TICKS_MS);
    cr_assert_eq (s_event_count ("trending.updated"), 2, "an unchanged top was published again");
}

Test (rank, signals_count_their_rise_once)
{
    const char *p = "2605.90061", *q = "2605.90062", *r = "2605.90063";
    made_up_t papers[] = {{"2605.90061v1", "2027-05-01", NULL},
                          {"2605.90062v1", "2027-05-01", NULL},
                          {"2605.90063v1", "2027-05-01", NULL}};
    s_submit (papers, 3);
    setenv ("PAPERBUS_RANK_SIGNAL_WEIGHTS", "github=0.5,*=0.1", 1);
    int64_t now = s_day_ms ("2027-05-01") + 8 * HOUR_MS;
    s_clock_ms (now);
    s_rank_start (1);
    s_rank_start (2);

    pbtest_answer_t *answer = s_signal (p, "github", 100);
    cr_assert_eq (answer->reply.status, PB_OK, "%s", pbtest_describe (answer));
    char text[160];
    cr_assert_str_eq (pbtest_text (answer->signal.paper, text, sizeof text), p);
    cr_assert_str_eq (pbtest_text (answer->signal.source, text, sizeof text), "github");
    cr_assert_float_eq (answer->signal.gain, 100, 1e-9);
    cr_assert_eq (answer->signal.at, now);
    pbtest_answer_free (&answer);
    cr_assert_eq (s_event_count ("signal.recorded"), 1);
    s_signal_expect (p, "github", 100, 0);
    cr_assert_eq (s_event_count ("signal.recorded"), 1, "the same value made an event");
    s_signal_expect (p, "github", 80, 0);
    cr_assert_eq (s_event_count ("signal.recorded"), 1, "a fall made an event");
    s_signal_expect (p, "github", 120, 20);
    cr_assert_eq (s_event_count ("signal.recorded"), 2);
    //  A version suffix names the same paper.
    s_signal_expect ("2605.90061v2", "github", 120, 0);

    //  signal.observed, published by anyone, is heard by both workers and
    //  recorded once.
    pb_publisher_t *publisher = pb_publisher_new (s_stack.config);
    cr_assert (publisher);
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    s_signal_body (&body, q, "github", 50);
    zclock_sleep (300); //  the new connection gets the bus's subscriptions
    pb_publisher_send (publisher, "signal.observed", 0, body.data, body.size);
    int64_t recorded = s_wait_events ("signal.recorded", 3, 3000);
    if (recorded < 3) { //  sent once more, the same value: harmless if it was heard
        pb_publisher_send (publisher, "signal.observed", 0, body.data, body.size);
        recorded = s_wait_events ("signal.recorded", 3, 3000);
    }
    msgpack_sbuffer_destroy (&body);
    pb_publisher_destroy (&publisher);
    cr_assert_eq (recorded, 3, "signal.observed was not recorded");
    zclock_sleep (TICKS_MS);
    cr_assert_eq (s_event_count ("signal.recorded"), 3,
                  "one signal.observed was recorded %lld times",
                  (long long)s_event_count ("signal.recorded") - 2);
    events_t *events = s_events ("signal.recorded", &pb_signal_recorded_schema);
    const pb_signal_recorded_t *observed =
        (const pb_signal_recorded_t *)(events->items + 2 * events->size);
    cr_assert_str_eq (pbtest_text (observed->paper, text, sizeof text), q);
    cr_assert_str_eq (pbtest_text (observed->source, text, sizeof text), "github");
    cr_assert_float_eq (observed->gain, 50, 1e-9);
    cr_assert_eq (observed->at, now);
    s_events_free (&events);

    //  Another source, weighed by '*'.
    s_signal_expect (r, "stars", 30, 30);
    //  P: (100 + 20) * 0.5; Q: 50 * 0.5; R: 30 * 0.1.
    s_every_worker_trends ((const char *[]){p, q, r}, (double[]){60, 25, 3}, 3, 3, 2,
                           "trending by weighted signals");
    answer = s_top ("trending", NULL);
    for (uint32_t i = 0; i < answer->top.papers.count; i++)
        cr_assert_eq (s_listed (answer, i)->upvotes, 0);
    pbtest_answer_free (&answer);
}

//  Hugging Face papers: their ids and upvotes, in the order trending must give.
typedef struct {
    size_t count;
    char ids[64][16];
    int64_t upvotes[64];
} hf_papers_t;

static int s_compare_hf (const void *a, const void *b, void *arg)
{
    const hf_papers_t *papers = arg;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    if (papers->upvotes[x] != papers->upvotes[y])
        return papers->upvotes[x] > papers->upvotes[y] ? -1 : 1;
    return strcmp (papers->ids[x], papers->ids[y]);
}

static bool s_check_follows_upvotes (const pbtest_answer_t *answer, const void *arg, char *why,
                                     size_t size)
{
    const hf_papers_t *papers = arg;
    char text[4096];
    if (answer->top.total != (int64_t)papers->count || answer->top.papers.count != papers->count) {
        snprintf (why, size, "%lld trending, want %zu: [%s]", (long long)answer->top.total,
                  papers->count, s_list_text (answer, text, sizeof text));
        return false;
    }
    for (uint32_t i = 0; i < papers->count; i++) {
        const pb_ranked_paper_t *paper = s_listed (answer, i);
        double ratio = paper->score / s_listed (answer, 0)->score;
        double want = (double)papers->upvotes[i] / (double)papers->upvotes[0];
        if (!pb_str_eq (paper->id, papers->ids[i]) || paper->upvotes != 0 ||
            fabs (ratio - want) > 1e-9) {
            snprintf (why, size, "paper %u is not %s (%lld upvotes on HF): [%s]", i, papers->ids[i],
                      (long long)papers->upvotes[i], s_list_text (answer, text, sizeof text));
            return false;
        }
    }
    return true;
}

Test (rank, hugging_face_upvotes_become_signals)
{
    s_rank_start (1);
    pbtest_paperctl_ingest ("tests/data/hf/daily_papers-2024-10-25.json");

    //  The file's papers and upvotes, read here.
    char *path = pbtest_repo_path ("tests/data/hf/daily_papers-2024-10-25.json");
    json_t *root = json_load_file (path, 0, NULL);
    free (path);
    cr_assert (json_is_array (root));
    hf_papers_t file = {0};
    for (size_t i = 0; i < json_array_size (root) && file.count < 64; i++) {
        json_t *paper = json_object_get (json_array_get (root, i), "paper");
        snprintf (file.ids[file.count], sizeof file.ids[0], "%s",
                  json_string_value (json_object_get (paper, "id")));
        file.upvotes[file.count++] = json_integer_value (json_object_get (paper, "upvotes"));
    }
    json_decref (root);
    cr_assert_eq (file.count, 29);

    //  One signal.recorded per paper, from source hf, gaining its upvotes.
    cr_assert_eq (s_wait_events ("signal.recorded", 29, 3000), 29);
    events_t *events = s_events ("signal.recorded", &pb_signal_recorded_schema);
    int64_t at = ((const pb_signal_recorded_t *)events->items)->at;
    for (size_t e = 0; e < events->count; e++) {
        const pb_signal_recorded_t *signal =
            (const pb_signal_recorded_t *)(events->items + e * events->size);
        char id[160], source[40];
        pbtest_text (signal->paper, id, sizeof id);
        cr_assert_str_eq (pbtest_text (signal->source, source, sizeof source), "hf");
        size_t f = 0;
        while (f < file.count && strcmp (file.ids[f], id) != 0)
            f++;
        cr_assert_lt (f, file.count, "signal.recorded for %s, which is not in the file", id);
        cr_assert_float_eq (signal->value, (double)file.upvotes[f], 1e-9);
        cr_assert_float_eq (signal->gain, (double)file.upvotes[f], 1e-9);
        cr_assert_eq (signal->at, at, "the papers were not recorded at the same time");
    }
    s_events_free (&events);

    //  Trending follows the upvotes (ties by id), every score in proportion.
    size_t order[64];
    for (size_t i = 0; i < file.count; i++)
        order[i] = i;
    qsort_r (order, file.count, sizeof *order, s_compare_hf, &file);
    hf_papers_t expected = {.count = file.count};
    for (size_t i = 0; i < file.count; i++) {
        snprintf (expected.ids[i], sizeof expected.ids[0], "%s", file.ids[order[i]]);
        expected.upvotes[i] = file.upvotes[order[i]];
    }
    top_t trending = {"trending", NULL, -1, 100, NULL};
    s_top_body (&trending);
    s_every_worker ("rank.top", 1, s_check_follows_upvotes, &expected, 5000,
                    "trending after the Hugging Face file");

    //  The same file again: no rise, no event.
    pbtest_paperctl_ingest ("tests/data/hf/daily_papers-2024-10-25.json");
    cr_assert_eq (s_event_count ("signal.recorded"), 29);
}

/* ==== Starts and epochs with nothing trending ==== */

//  Waits up to 10 s for the bus to show LIVE rank workers while rank worker
//  PID runs; fails (saying WHAT) telling how PID exited if it did.
static void s_assert_rank_serves (pid_t pid, size_t live, const char *what)
{
    int64_t started = zclock_mono ();
    pbtest_served_t workers = {0};
    while (zclock_mono () - started < 10000) {
        int status;
        if (waitpid (pid, &status, WNOHANG) == pid) {
            pbtest_service_forget (pid);
            cr_assert_fail ("%s: the rank worker exited (%s %d) instead of serving", what,
                            WIFSIGNALED (status) ? "signal" : "status",
                            WIFSIGNALED (status) ? WTERMSIG (status) : WEXITSTATUS (status));
        }
        s_served (&workers);
        if (workers.count == live)
            return;
        zclock_sleep (50);
    }
    cr_assert_fail ("%s: %zu rank workers live after 10 s, not %zu", what, workers.count, live);
}

Test (rank, starts_on_a_database_where_nothing_trends)
{
    //  Papers stored, no vote and no signal yet: a new instance's first start.
    made_up_t papers[] = {{"2605.90071v1", "2026-05-26", NULL}};
    s_submit (papers, 1);
    pid_t pid = s_rank_spawn ();
    s_assert_rank_serves (pid, 1, "a start with nothing trending");
    s_vote_expect (true, "2605.90071", "alice", 1, true, true);
    cr_assert (pbtest_running (pid), "the rank worker exited");
}

Test (rank, passes_an_epoch_when_nothing_trends)
{
    //  An hour before an epoch of the standings (every 512 half-lives from
    //  1970: 2027-06-23), one paper whose only heat is a signal gain 950
    //  days older: it counts at start (2^-438 of the old epoch), and at the
    //  epoch it rescales below 2^-900, so nothing trends any more.
    int64_t epoch = s_day_ms ("2027-06-23");
    s_clock_ms (epoch - HOUR_MS);
    made_up_t papers[] = {{"2605.90081v1", "2026-05-26", NULL}};
    s_submit (papers, 1);
    pb_db_params_t params = {0};
    pb_db_params_int (&params, epoch - 950 * DAY_MS);
    cr_assert_eq (pb_db_run (s_stack.db,
                             "INSERT INTO signal_gain (paper_id, source, gain, observed_at)"
                             " VALUES ('2605.90081', 'hf', 1, to_timestamp ($1::float8 / 1000))",
                             &params),
                  1, "%s", pb_db_error (s_stack.db));
    pid_t pid = s_rank_spawn ();
    s_assert_rank_serves (pid, 1, "a start with a trace of heat");
    pbtest_answer_t *answer = s_top ("day", "2026-05-26");
    s_assert_list (answer, (const char *[]){"2605.90081"}, 1, "day 2026-05-26 before the epoch");
    pbtest_answer_free (&answer);

    s_clock_ms (epoch + HOUR_MS);
    top_t day = {"day", "2026-05-26", -1, 100, NULL};
    s_top_body (&day);
    answer = s_call ("rank.top");
    cr_assert_eq (answer->reply.status, PB_OK, "rank.top after the epoch: %s",
                  pbtest_describe (answer));
    s_assert_list (answer, (const char *[]){"2605.90081"}, 1, "day 2026-05-26 after the epoch");
    pbtest_answer_free (&answer);
    answer = s_top ("trending", NULL);
    cr_assert_eq (answer->top.total, 0);
    pbtest_answer_free (&answer);
    cr_assert (pbtest_running (pid), "the rank worker exited at the epoch");
}

/* ==== Order and naming ==== */

Test (rank, pipelined_vote_unvote_vote_ends_with_the_vote)
{
    const char *paper = "2605.90091";
    made_up_t papers[] = {{"2605.90091v1", "2026-05-26", NULL}};
    s_submit (papers, 1);
    s_rank_start (1);
    //  One client, one worker: a user votes, takes it back and votes again,
    //  sent one after the other behind other users' votes (so that the
    //  worker reads them together). The last word is the vote.
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    const char *users[] = {"flip-0", "flip-1", "flip-2"};
    for (size_t round = 0; round < 3; round++) {
        size_t sent = 0;
        for (int other = 0; other < 50; other++) {
            char user[32];
            snprintf (user, sizeof user, "crowd-%zu-%d", round, other);
            s_vote_body (&body, pb_str (paper), pb_str (user));
            sent += pb_client_send (s_stack.client, "rank.vote", body.data, body.size) > 0;
        }
        s_vote_body (&body, pb_str (paper), pb_str (users[round]));
        sent += pb_client_send (s_stack.client, "rank.vote", body.data, body.size) > 0;
        sent += pb_client_send (s_stack.client, "rank.unvote", body.data, body.size) > 0;
        sent += pb_client_send (s_stack.client, "rank.vote", body.data, body.size) > 0;
        cr_assert_eq (sent, 53);
        for (size_t i = 0; i < sent; i++) {
            pb_reply_t reply = {0};
            cr_assert_eq (pb_client_recv (s_stack.client, CALL_MS, &reply), 0, "reply %zu of %zu",
                          i, sent);
            cr_assert_eq (reply.status, PB_OK, "%s", reply.error);
            pb_reply_reset (&reply);
        }
    }
    msgpack_sbuffer_destroy (&body);
    for (size_t round = 0; round < 3; round++)
        cr_assert_eq (s_count ("SELECT count(*) FROM vote WHERE user_id = $1", users[round]), 1,
                      "%s voted, withdrew and voted again, in that order, and has no vote",
                      users[round]);
}

Test (rank, votes_counts_a_paper_as_soon_as_it_is_stored)
{
    s_rank_start (1);
    //  ingest.submit answers once the paper is committed: from then on it
    //  is a paper, for rank.votes as for rank.vote.
    made_up_t papers[] = {{"2605.90101v1", "2026-05-26", NULL}};
    s_submit (papers, 1);
    pbtest_answer_t *answer = s_votes ((const char *[]){"2605.90101"}, 1, NULL);
    cr_assert_eq (answer->votes.missing.count, 0,
                  "rank.votes calls the paper just stored missing (not a paper)");
    cr_assert_eq (answer->votes.papers.count, 1);
    cr_assert_eq (s_counted (answer, 0)->upvotes, 0);
    pbtest_answer_free (&answer);
}

Test (rank, a_paper_id_with_a_nul_byte_is_not_that_paper)
{
    made_up_t papers[] = {{"2605.90111v1", "2026-05-26", NULL}};
    s_submit (papers, 1);
    s_rank_start (1);
    //  "2605.90111", a NUL byte, "junk": 15 bytes that name no stored paper.
    s_vote_body (&s_body, (pb_str_t){"2605.90111\0junk", 15}, pb_str ("alice"));
    pbtest_answer_t *answer = s_call ("rank.vote");
    char paper[160] = "";
    if (answer->reply.status == PB_OK)
        pbtest_text (answer->vote.paper, paper, sizeof paper);
    cr_assert (answer->reply.status == PB_E_NOT_FOUND || answer->reply.status == PB_E_INVALID,
               "a vote on '2605.90111\\0junk': %s, counted on paper '%s'", pbtest_describe (answer),
               paper);
    pbtest_answer_free (&answer);
    cr_assert_eq (s_count ("SELECT count(*) FROM vote", NULL), 0);
}
