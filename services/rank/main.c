/*  rank — votes, and the lists they make: the top papers of a day, a week,
    a month, and what is trending now.

    Serves rank.vote and rank.unvote: one vote per user per paper, so a
    vote sent twice counts once and retries are harmless. The requests that
    are waiting together are committed together, each vote with its
    vote.cast event, and answered once committed. Serves rank.top (a page
    of a list), rank.votes (counts, and a user's votes, for a page of
    papers in one call) and rank.signal (a paper's value on another site).

    The lists live in memory (standings.h): rebuilt from one snapshot of
    PostgreSQL at start (ledger.h), then kept current by the events that
    follow it, the worker's own included: paper.ingested (new papers and
    their listing days), vote.cast, and signal.recorded. signal.observed,
    which any service may publish, is recorded like rank.signal. Every
    worker applies the same events in the same order, so all agree, and a
    worker killed at any moment loses nothing: what it committed is in the
    log, and what it did not commit was never acknowledged.

    When the top of trending changes, one worker publishes trending.updated
    (at most once per PAPERBUS_TRENDING_INTERVAL_MS, whatever the number of
    workers).
*/
#include "ledger.h"
#include "paperbus.h"
#include "pb_paper.h"
#include "pb_paper_queue.h"
#include "standings.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LIST_MS          50 //  how long a new paper may wait to be listed
#define PAGE_MAX         1000
#define SIGNAL_VALUE_MAX 1e12

typedef struct {
    pb_config_t *config;
    pb_db_t *db;
    standings_t *standings;
    ledger_weights_t *weights;
    pb_publisher_t *publisher;
    pb_subscriber_t *subscriber;
    pb_paper_queue_t *new_papers; //  named by paper.ingested, to list
    int64_t trending_interval_ms;
    size_t trending_top;
} rank_t;

/* ==== Events ==== */

//  Publishes events just committed to TOPIC, and applies them here at once.
static void s_announce (rank_t *self, const char *topic, const ledger_events_t *events)
{
    for (size_t i = 0; i < events->count; i++) {
        pb_publisher_send (self->publisher, topic, events->seqs[i], events->bodies[i].data,
                           events->bodies[i].size);
        pb_event_t event = {topic, events->seqs[i], events->bodies[i].data, events->bodies[i].size};
        pb_subscriber_offer (self->subscriber, &event);
    }
}

//  Lists papers named by paper.ingested (pb_paper_queue).
static int s_list_papers (const char *const *ids, size_t count, void *arg)
{
    rank_t *self = arg;
    if (ledger_list_papers (self->db, self->standings, ids, count) == 0)
        return 0;
    pb_warn ("listing %zu new papers failed (%s); trying again", count, pb_db_error (self->db));
    return -1;
}

//  Decodes EVENT into BODY, or says why it is skipped. Returns 0 if decoded.
static int s_event_body (const pb_event_t *event, const pb_schema_t *schema, void *body,
                         pb_arena_t *arena)
{
    pb_codec_error_t error;
    if (pb_decode (event->payload, event->size, event->size, schema, body, arena, &error) == 0)
        return 0;
    //  A bad event cannot become good: skip it, loudly.
    pb_error ("%s %lld is malformed (%s); skipped", event->topic, (long long)event->seq,
              error.message);
    return -1;
}

//  The number of paper ID, listing it first if it is new here (its
//  paper.ingested may not have been applied yet). STANDINGS_NO_PAPER when
//  PostgreSQL cannot be read or has no such paper; *FAILED tells which.
static uint32_t s_paper (rank_t *self, const char *id, bool *failed)
{
    *failed = false;
    uint32_t paper = standings_find (self->standings, id);
    if (paper != STANDINGS_NO_PAPER)
        return paper;
    if (ledger_list_papers (self->db, self->standings, &id, 1)) {
        *failed = true;
        return STANDINGS_NO_PAPER;
    }
    return standings_find (self->standings, id);
}

static int s_on_vote_cast (const pb_event_t *event, void *arg)
{
    rank_t *self = arg;
    pb_arena_t *arena = pb_arena_new ();
    pb_vote_cast_t body;
    int rc = 0;
    if (s_event_body (event, &pb_vote_cast_schema, &body, arena) == 0) {
        char *id = pb_str_dup (body.paper);
        bool failed;
        uint32_t paper = s_paper (self, id, &failed);
        if (failed)
            rc = -1; //  offered again once PostgreSQL answers
        else if (paper == STANDINGS_NO_PAPER)
            pb_error ("vote.cast %lld names paper '%s', which is not stored; skipped",
                      (long long)event->seq, id);
        else
            standings_vote (self->standings, paper, body.up, body.cast_at);
        free (id);
    }
    pb_arena_destroy (&arena);
    return rc;
}

static int s_on_signal_recorded (const pb_event_t *event, void *arg)
{
    rank_t *self = arg;
    pb_arena_t *arena = pb_arena_new ();
    pb_signal_recorded_t body;
    int rc = 0;
    if (s_event_body (event, &pb_signal_recorded_schema, &body, arena) == 0) {
        char *id = pb_str_dup (body.paper);
        char *source = pb_str_dup (body.source);
        bool failed = false;
        uint32_t paper = STANDINGS_NO_PAPER;
        bool sane = body.gain >= 0 && body.gain <= SIGNAL_VALUE_MAX;
        if (sane)
            paper = s_paper (self, id, &failed);
        if (!sane)
            pb_error ("signal.recorded %lld has a gain of %g; skipped", (long long)event->seq,
                      body.gain);
        else if (failed)
            rc = -1;
        else if (paper == STANDINGS_NO_PAPER)
            pb_error ("signal.recorded %lld names paper '%s', which is not stored; skipped",
                      (long long)event->seq, id);
        else
            standings_signal (self->standings, paper,
                              ledger_weight (self->weights, source) * body.gain, body.at);
        free (id);
        free (source);
    }
    pb_arena_destroy (&arena);
    return rc;
}

/* ==== Signals ==== */

//  Checks a signal; writes why not into ERROR. Returns 0 when it is good.
static int s_signal_check (const pb_signal_observed_t *signal, char *error, size_t size)
{
    char id[PB_PAPER_ID_MAX + 1];
    if (pb_paper_id_from (signal->paper.ptr, signal->paper.len, id)) {
        snprintf (error, size, "paper: control characters are not allowed");
        return -1;
    }
    for (uint32_t i = 0; i < signal->source.len; i++) {
        char c = signal->source.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-')) {
            snprintf (error, size, "source: '%.*s' is not made of [a-z0-9_.-]",
                      (int)signal->source.len, signal->source.ptr);
            return -1;
        }
    }
    if (!(signal->value >= 0 && signal->value <= SIGNAL_VALUE_MAX)) {
        snprintf (error, size, "value: %g is not a count from 0 to 10^12", signal->value);
        return -1;
    }
    return 0;
}

//  Records SIGNAL now. Returns 0, PB_E_NOT_FOUND, or -1; sets *GAIN, *AT.
static int s_record_signal (rank_t *self, const pb_signal_observed_t *signal, double *gain,
                            int64_t *at)
{
    char id[PB_PAPER_ID_MAX + 1];
    pb_paper_id_from (signal->paper.ptr, signal->paper.len, id);
    char *source = pb_str_dup (signal->source);
    *at = pb_clock_now_ms ();
    ledger_events_t events;
    int rc = ledger_signal (self->db, id, source, signal->value, *at, gain, &events);
    if (rc == 0) {
        s_announce (self, "signal.recorded", &events);
        ledger_events_free (&events);
    }
    free (source);
    return rc;
}

static int s_on_signal_observed (const pb_event_t *event, void *arg)
{
    rank_t *self = arg;
    pb_arena_t *arena = pb_arena_new ();
    pb_signal_observed_t body;
    char error[256];
    double gain;
    int64_t at;
    if (s_event_body (event, &pb_signal_observed_schema, &body, arena) == 0) {
        if (s_signal_check (&body, error, sizeof error))
            pb_warn ("signal.observed dropped: %s", error);
        else {
            int rc = s_record_signal (self, &body, &gain, &at);
            if (rc == PB_E_NOT_FOUND)
                pb_warn ("signal.observed dropped: paper '%.*s' is not stored", (int)body.paper.len,
                         body.paper.ptr);
            else if (rc)
                //  Not logged, so not replayed: its publisher sends it again.
                pb_warn ("signal.observed dropped: %s", pb_db_error (self->db));
        }
    }
    pb_arena_destroy (&arena);
    return 0;
}

static int s_signal (const pb_request_t *request, pb_response_t *response, void *arg)
{
    rank_t *self = arg;
    pb_arena_t *arena = pb_arena_new ();
    pb_signal_observed_t body;
    pb_codec_error_t error;
    char reason[256];
    double gain = 0;
    int64_t at = 0;
    int rc = -1;
    if (pb_decode (request->body, request->size, 1 << 16, &pb_signal_observed_schema, &body, arena,
                   &error))
        pb_response_error (response, error.code, "%s", error.message);
    else if (s_signal_check (&body, reason, sizeof reason))
        pb_response_error (response, PB_E_INVALID, "%s", reason);
    else if ((rc = s_record_signal (self, &body, &gain, &at)) == PB_E_NOT_FOUND)
        pb_response_error (response, PB_E_NOT_FOUND, "paper '%.*s' is not known",
                           (int)body.paper.len, body.paper.ptr);
    else if (rc)
        pb_response_error (response, PB_E_UNAVAILABLE, "the signal could not be stored: %s",
                           pb_db_error (self->db));
    else {
        char id[PB_PAPER_ID_MAX + 1];
        pb_paper_id_from (body.paper.ptr, body.paper.len, id);
        pb_signal_recorded_t reply = {.paper = pb_str (id),
                                      .source = body.source,
                                      .value = body.value,
                                      .gain = gain,
                                      .at = at};
        pb_encode (&pb_signal_recorded_schema, &reply, &response->packer);
    }
    pb_arena_destroy (&arena);
    return rc ? -1 : 0;
}

/* ==== Votes ==== */

//  Why a user id is refused, or NULL.
static const char *s_user_problem (pb_str_t user)
{
    for (uint32_t i = 0; i < user.len; i++)
        if ((unsigned char)user.ptr[i] < 0x20 || user.ptr[i] == 0x7f)
            return "user: control characters are not allowed";
    return NULL;
}

static void s_vote_batch (const pb_request_t *requests, pb_response_t *responses, size_t count,
                          void *arg)
{
    rank_t *self = arg;
    bool up = strcmp (requests[0].operation, "vote") == 0;
    pb_arena_t *arena = pb_arena_new ();
    ledger_vote_t *votes = calloc (count + 1, sizeof *votes);
    size_t *answer_of = calloc (count + 1, sizeof *answer_of); //  vote -> request
    size_t valid = 0;
    for (size_t r = 0; r < count; r++) {
        pb_vote_request_t body;
        pb_codec_error_t error;
        const char *problem;
        if (pb_decode (requests[r].body, requests[r].size, 4096, &pb_vote_request_schema, &body,
                       arena, &error)) {
            pb_response_error (&responses[r], error.code, "%s", error.message);
            continue;
        }
        if ((problem = s_user_problem (body.user))) {
            pb_response_error (&responses[r], PB_E_INVALID, "%s", problem);
            continue;
        }
        char *id = pb_arena_alloc (arena, PB_PAPER_ID_MAX + 1);
        if (pb_paper_id_from (body.paper.ptr, body.paper.len, id)) {
            pb_response_error (&responses[r], PB_E_INVALID,
                               "paper: control characters are not allowed");
            continue;
        }
        votes[valid] = (ledger_vote_t){
            .paper = id, .user = pb_arena_str (arena, body.user.ptr, body.user.len).ptr};
        answer_of[valid++] = r;
    }
    ledger_events_t events = {0};
    if (valid && ledger_votes (self->db, up, votes, valid, pb_clock_now_ms (), &events)) {
        for (size_t v = 0; v < valid; v++)
            pb_response_error (&responses[answer_of[v]], PB_E_UNAVAILABLE,
                               "the vote could not be stored (%s); send it again",
                               pb_db_error (self->db));
        valid = 0;
    }
    s_announce (self, "vote.cast", &events);
    ledger_events_free (&events);
    //  A vote that changed nothing may have been stored a moment ago by
    //  another worker (or by this one, in an attempt whose commit went
    //  through as the connection dropped): read the log now, so that the
    //  counts in the replies include it.
    bool unchanged = false;
    for (size_t v = 0; v < valid; v++)
        unchanged |= votes[v].known && !votes[v].changed;
    if (unchanged)
        pb_subscriber_catch_up_topic (self->subscriber, "vote.cast");
    for (size_t v = 0; v < valid; v++) {
        pb_response_t *response = &responses[answer_of[v]];
        bool failed = false;
        uint32_t paper =
            votes[v].known ? s_paper (self, votes[v].paper, &failed) : STANDINGS_NO_PAPER;
        if (!votes[v].known || paper == STANDINGS_NO_PAPER) {
            if (failed)
                pb_response_error (response, PB_E_UNAVAILABLE, "paper '%s' could not be read",
                                   votes[v].paper);
            else
                pb_response_error (response, PB_E_NOT_FOUND, "paper '%s' is not known",
                                   votes[v].paper);
            continue;
        }
        pb_vote_reply_t reply = {.paper = pb_str (votes[v].paper),
                                 .upvotes = standings_upvotes (self->standings, paper),
                                 .voted = up,
                                 .changed = votes[v].changed};
        pb_encode (&pb_vote_reply_schema, &reply, &response->packer);
    }
    free (votes);
    free (answer_of);
    pb_arena_destroy (&arena);
}

/* ==== Lists ==== */

static void s_day_text (int32_t day, char *out)
{
    time_t seconds = (time_t)day * 86400;
    struct tm tm;
    gmtime_r (&seconds, &tm);
    strftime (out, 11, "%Y-%m-%d", &tm);
}

//  Fills PAPERS[i] for HITS[i], with whether USER (when given) voted.
//  Returns 0, or -1 when the votes could not be read.
static int s_ranked (rank_t *self, const standings_hit_t *hits, size_t count, pb_str_t user,
                     pb_arena_t *arena, pb_ranked_paper_t *papers)
{
    const char **ids = pb_arena_alloc (arena, (count + 1) * sizeof *ids);
    for (size_t i = 0; i < count; i++) {
        ids[i] = standings_id (self->standings, hits[i].paper);
        papers[i] = (pb_ranked_paper_t){
            .id = pb_str (ids[i]), .upvotes = hits[i].upvotes, .score = hits[i].score};
    }
    if (!user.ptr || !count)
        return 0;
    bool *voted = pb_arena_alloc (arena, count * sizeof *voted);
    const char *name = pb_arena_str (arena, user.ptr, user.len).ptr;
    if (ledger_voted (self->db, name, ids, count, voted))
        return -1;
    for (size_t i = 0; i < count; i++) {
        papers[i].voted = voted[i];
        pb_set_present (&papers[i], PB_ranked_paper_voted);
    }
    return 0;
}

static const char *const s_window_names[] = {"day", "week", "month", "trending"};

static int s_top (const pb_request_t *request, pb_response_t *response, void *arg)
{
    rank_t *self = arg;
    pb_arena_t *arena = pb_arena_new ();
    pb_top_request_t query;
    pb_codec_error_t error;
    int rc = -1;
    if (pb_decode (request->body, request->size, 4096, &pb_top_request_schema, &query, arena,
                   &error)) {
        pb_response_error (response, error.code, "%s", error.message);
        goto done;
    }
    const char *problem = pb_has (&query, PB_top_request_user) ? s_user_problem (query.user) : NULL;
    if (problem) {
        pb_response_error (response, PB_E_INVALID, "%s", problem);
        goto done;
    }
    int window = -1;
    for (int w = 0; w < 4; w++)
        if (pb_str_eq (query.window, s_window_names[w]))
            window = w;
    if (window < 0) {
        pb_response_error (response, PB_E_INVALID,
                           "window: '%.*s' is not day, week, month or trending",
                           (int)query.window.len, query.window.ptr);
        goto done;
    }
    int64_t now = pb_clock_now_ms ();
    int32_t day = (int32_t)(now / 86400000);
    if (pb_has (&query, PB_top_request_date)) {
        char text[11];
        int64_t seconds;
        snprintf (text, sizeof text, "%.*s", (int)query.date.len, query.date.ptr);
        if (window == WINDOW_TRENDING) {
            pb_response_error (response, PB_E_INVALID,
                               "date: trending is always now; a date is for day, week or month");
            goto done;
        }
        if (query.date.len != 10 || pb_date_parse (text, &seconds)) {
            pb_response_error (response, PB_E_INVALID, "date: '%s' is not a day (YYYY-MM-DD)",
                               text);
            goto done;
        }
        day = (int32_t)(seconds / 86400);
    }
    size_t offset = pb_has (&query, PB_top_request_offset) ? (size_t)query.offset : 0;
    size_t limit = pb_has (&query, PB_top_request_limit) ? (size_t)query.limit : 20;
    if (offset + limit > PAGE_MAX) {
        pb_response_error (response, PB_E_INVALID,
                           "offset + limit is %zu; lists are read up to paper %d", offset + limit,
                           PAGE_MAX);
        goto done;
    }
    standings_hit_t *hits = pb_arena_alloc (arena, (limit + 1) * sizeof *hits);
    standings_page_t page;
    standings_top (self->standings, (standings_window_t)window, day, offset, limit, now, hits,
                   &page);
    pb_top_reply_t reply = {.window = pb_str (s_window_names[window]),
                            .total = (int64_t)page.total};
    pb_ranked_paper_t *papers = pb_arena_alloc (arena, (page.count + 1) * sizeof *papers);
    pb_str_t user = pb_has (&query, PB_top_request_user) ? query.user : (pb_str_t){0};
    if (s_ranked (self, hits, page.count, user, arena, papers)) {
        pb_response_error (response, PB_E_UNAVAILABLE, "the user's votes could not be read: %s",
                           pb_db_error (self->db));
        goto done;
    }
    reply.papers = (pb_list_t){papers, (uint32_t)page.count};
    char first[11], last[11];
    if (window != WINDOW_TRENDING) {
        s_day_text (page.first_day, first);
        s_day_text (page.last_day, last);
        reply.first_day = pb_str (first);
        reply.last_day = pb_str (last);
        pb_set_present (&reply, PB_top_reply_first_day);
        pb_set_present (&reply, PB_top_reply_last_day);
    }
    pb_encode (&pb_top_reply_schema, &reply, &response->packer);
    rc = 0;
done:
    pb_arena_destroy (&arena);
    return rc;
}

static int s_votes (const pb_request_t *request, pb_response_t *response, void *arg)
{
    rank_t *self = arg;
    pb_arena_t *arena = pb_arena_new ();
    pb_votes_request_t query;
    pb_codec_error_t error;
    int rc = -1;
    if (pb_decode (request->body, request->size, 1 << 20, &pb_votes_request_schema, &query, arena,
                   &error)) {
        pb_response_error (response, error.code, "%s", error.message);
        goto done;
    }
    const char *problem =
        pb_has (&query, PB_votes_request_user) ? s_user_problem (query.user) : NULL;
    if (problem) {
        pb_response_error (response, PB_E_INVALID, "%s", problem);
        goto done;
    }
    int64_t now = pb_clock_now_ms ();
    standings_advance (self->standings, now);
    uint32_t count = query.papers.count;
    standings_hit_t *hits = pb_arena_alloc (arena, (count + 1) * sizeof *hits);
    pb_str_t *missing = pb_arena_alloc (arena, (count + 1) * sizeof *missing);
    char **ids = pb_arena_alloc (arena, (count + 1) * sizeof *ids);
    const char **unlisted = pb_arena_alloc (arena, (count + 1) * sizeof *unlisted);
    size_t found = 0, absent = 0, new_here = 0;
    for (uint32_t i = 0; i < count; i++) {
        ids[i] = pb_arena_alloc (arena, PB_PAPER_ID_MAX + 1);
        if (pb_paper_id_from (query.papers.items[i].ptr, query.papers.items[i].len, ids[i]) == 0 &&
            standings_find (self->standings, ids[i]) == STANDINGS_NO_PAPER)
            unlisted[new_here++] = ids[i];
    }
    //  Papers stored but not yet listed here (their paper.ingested is on its
    //  way) are read now, all in one query.
    if (new_here && ledger_list_papers (self->db, self->standings, unlisted, new_here)) {
        pb_response_error (response, PB_E_UNAVAILABLE, "the papers could not be read: %s",
                           pb_db_error (self->db));
        goto done;
    }
    for (uint32_t i = 0; i < count; i++) {
        uint32_t paper = *ids[i] ? standings_find (self->standings, ids[i]) : STANDINGS_NO_PAPER;
        if (paper == STANDINGS_NO_PAPER)
            missing[absent++] = query.papers.items[i];
        else
            hits[found++] = (standings_hit_t){paper, standings_upvotes (self->standings, paper),
                                              standings_score (self->standings, paper, now)};
    }
    pb_ranked_paper_t *papers = pb_arena_alloc (arena, (found + 1) * sizeof *papers);
    pb_str_t user = pb_has (&query, PB_votes_request_user) ? query.user : (pb_str_t){0};
    if (s_ranked (self, hits, found, user, arena, papers)) {
        pb_response_error (response, PB_E_UNAVAILABLE, "the user's votes could not be read: %s",
                           pb_db_error (self->db));
        goto done;
    }
    pb_votes_reply_t reply = {.papers = {papers, (uint32_t)found},
                              .missing = {missing, (uint32_t)absent}};
    pb_encode (&pb_votes_reply_schema, &reply, &response->packer);
    rc = 0;
done:
    pb_arena_destroy (&arena);
    return rc;
}

/* ==== trending.updated ==== */

static int s_on_trending_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    rank_t *self = arg;
    int64_t now = pb_clock_now_ms ();
    standings_advance (self->standings, now);
    standings_hit_t hits[100];
    standings_page_t page;
    standings_top (self->standings, WINDOW_TRENDING, 0, 0, self->trending_top, now, hits, &page);
    pb_arena_t *arena = pb_arena_new ();
    pb_ranked_paper_t *papers = pb_arena_alloc (arena, (page.count + 1) * sizeof *papers);
    s_ranked (self, hits, page.count, (pb_str_t){0}, arena, papers);
    const char **ids = pb_arena_alloc (arena, (page.count + 1) * sizeof *ids);
    for (size_t i = 0; i < page.count; i++)
        ids[i] = papers[i].id.ptr;
    pb_trending_updated_t body = {.at = now, .papers = {papers, (uint32_t)page.count}};
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &buffer, msgpack_sbuffer_write);
    pb_encode (&pb_trending_updated_schema, &body, &packer);
    int64_t seq = 0;
    if (ledger_trending (self->db, ids, page.count, now, self->trending_interval_ms, &buffer, &seq))
        pb_warn ("trending.updated could not be stored: %s", pb_db_error (self->db));
    else if (seq) {
        pb_publisher_send (self->publisher, "trending.updated", seq, buffer.data, buffer.size);
        pb_info ("trending.updated %lld: %zu papers, %s first", (long long)seq, page.count,
                 page.count ? ids[0] : "none");
    }
    msgpack_sbuffer_destroy (&buffer);
    pb_arena_destroy (&arena);
    return 0;
}

/* ==== Start ==== */

int main (void)
{
    pb_config_t *config = pb_service_start ("rank");
    pb_clock_use (pb_config_str (config, PB_CONF_CLOCK_FILE));
    rank_t rank = {.config = config};
    char error[256];
    rank.weights = ledger_weights_new (pb_config_str (config, PB_CONF_RANK_SIGNAL_WEIGHTS), error,
                                       sizeof error);
    if (!rank.weights) {
        pb_error ("PAPERBUS_RANK_SIGNAL_WEIGHTS: %s", error);
        pb_service_finish (&config);
        return 1;
    }
    rank.trending_interval_ms = pb_config_int (config, PB_CONF_TRENDING_INTERVAL_MS);
    rank.trending_top = (size_t)pb_config_int (config, PB_CONF_TRENDING_TOP);
    rank.db = pb_db_new (pb_config_str (config, PB_CONF_DATABASE_URL), "rank",
                         (int)pb_config_int (config, PB_CONF_DB_CONNECT_TIMEOUT));
    int64_t started = zclock_mono ();
    rank.standings =
        standings_new (pb_config_int (config, PB_CONF_RANK_HALF_LIFE_S) * 1000, pb_clock_now_ms ());
    ledger_positions_t positions = {0};
    if (!rank.db || pb_migrate (rank.db, pb_migrations, pb_migration_count, NULL) ||
        ledger_load (rank.db, &rank.standings, rank.weights, &positions)) {
        standings_destroy (&rank.standings);
        ledger_weights_destroy (&rank.weights);
        pb_db_destroy (&rank.db);
        pb_service_finish (&config);
        return 1;
    }
    pb_info ("standings of %zu papers rebuilt in %lld ms; following paper.ingested after %lld, "
             "vote.cast after %lld, signal.recorded after %lld",
             standings_paper_count (rank.standings), (long long)(zclock_mono () - started),
             (long long)positions.papers, (long long)positions.votes, (long long)positions.signals);
    rank.publisher = pb_publisher_new (config);
    pb_worker_t *worker = pb_worker_new (config, "rank");
    pb_worker_set_credit (worker, (int)pb_config_int (config, PB_CONF_RANK_CREDIT));
    pb_worker_handle_batch (worker, "vote", s_vote_batch, &rank);
    pb_worker_handle_batch (worker, "unvote", s_vote_batch, &rank);
    pb_worker_handle (worker, "top", s_top, &rank);
    pb_worker_handle (worker, "votes", s_votes, &rank);
    pb_worker_handle (worker, "signal", s_signal, &rank);
    rank.subscriber = pb_subscriber_new (config, rank.db);
    rank.new_papers = pb_paper_queue_new (s_list_papers, &rank);
    pb_subscriber_follow (rank.subscriber, "paper.ingested", positions.papers,
                          pb_paper_queue_on_event, rank.new_papers);
    pb_subscriber_follow (rank.subscriber, "vote.cast", positions.votes, s_on_vote_cast, &rank);
    pb_subscriber_follow (rank.subscriber, "signal.recorded", positions.signals,
                          s_on_signal_recorded, &rank);
    pb_subscriber_listen (rank.subscriber, "signal.observed", s_on_signal_observed, &rank);
    zloop_t *loop = pb_worker_loop (worker);
    pb_subscriber_attach (rank.subscriber, loop);
    pb_paper_queue_attach (rank.new_papers, loop, LIST_MS);
    int64_t tick = rank.trending_interval_ms / 4;
    zloop_timer (loop,
                 (size_t)(tick < 50      ? 50
                          : tick > 15000 ? 15000
                                         : tick),
                 0, s_on_trending_timer, &rank);
    int rc = pb_worker_run (worker);
    pb_subscriber_destroy (&rank.subscriber);
    pb_worker_destroy (&worker);
    pb_publisher_destroy (&rank.publisher);
    pb_paper_queue_destroy (&rank.new_papers);
    standings_destroy (&rank.standings);
    ledger_weights_destroy (&rank.weights);
    pb_db_destroy (&rank.db);
    pb_service_finish (&config);
    return rc == 0 ? 0 : 1;
}
