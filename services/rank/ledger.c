/*  ledger — rank's reads and writes in PostgreSQL; see ledger.h. */
#include "ledger.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PAGE             5000 //  rows per FETCH of a rebuild
#define WEIGHTS_MAX      32   //  sources with a weight of their own
#define SIGNAL_VALUE_MAX 1e12

/* ==== Signal weights ==== */

struct _ledger_weights_t {
    size_t count;
    char sources[WEIGHTS_MAX][33];
    double weights[WEIGHTS_MAX];
    double otherwise; //  "*", for sources not named
};

//  Where SOURCE is in SELF's table, or -1.
static int s_source_index (const ledger_weights_t *self, const char *source)
{
    for (size_t i = 0; i < self->count; i++)
        if (strcmp (self->sources[i], source) == 0)
            return (int)i;
    return -1;
}

//  True when SOURCE is a source name: 1..32 bytes of [a-z0-9_.-].
static bool s_source_valid (const char *source)
{
    size_t length = strlen (source);
    return length >= 1 && length <= 32 &&
           strspn (source, "abcdefghijklmnopqrstuvwxyz0123456789_.-") == length;
}

ledger_weights_t *ledger_weights_new (const char *text, char *error, size_t error_size)
{
    ledger_weights_t *self = calloc (1, sizeof *self);
    char *copy = strdup (text);
    char *save = NULL;
    bool star_given = false;
    for (char *item = strtok_r (copy, ",", &save); item; item = strtok_r (NULL, ",", &save)) {
        char *equals = strchr (item, '=');
        const char *value = equals ? equals + 1 : "";
        char *end = NULL;
        double weight = equals ? strtod (value, &end) : NAN;
        if (equals)
            *equals = '\0';
        bool star = strcmp (item, "*") == 0;
        if (!equals || !(star || s_source_valid (item)) || end == value || *end ||
            !(weight >= 0 && weight <= 1000))
            snprintf (error, error_size,
                      "'%s%s%s' is not source=weight, a source of [a-z0-9_.-] (or *) with a "
                      "weight from 0 to 1000",
                      item, equals ? "=" : "", value);
        else if (star ? star_given : s_source_index (self, item) >= 0)
            snprintf (error, error_size, "source '%s' is given twice", item);
        else if (!star && self->count == WEIGHTS_MAX)
            snprintf (error, error_size, "more than %d sources", WEIGHTS_MAX);
        else {
            if (star) {
                self->otherwise = weight;
                star_given = true;
            } else {
                snprintf (self->sources[self->count], sizeof self->sources[0], "%s", item);
                self->weights[self->count++] = weight;
            }
            continue;
        }
        free (copy);
        free (self);
        return NULL;
    }
    free (copy);
    return self;
}

void ledger_weights_destroy (ledger_weights_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free (*self_p);
    *self_p = NULL;
}

double ledger_weight (const ledger_weights_t *self, const char *source)
{
    int index = s_source_index (self, source);
    return index >= 0 ? self->weights[index] : self->otherwise;
}

/* ==== Events ==== */

static void s_events_reserve (ledger_events_t *events, size_t count)
{
    events->count = count;
    events->seqs = calloc (count + 1, sizeof *events->seqs);
    events->bodies = calloc (count + 1, sizeof *events->bodies);
    for (size_t i = 0; i < count; i++)
        msgpack_sbuffer_init (&events->bodies[i]);
}

void ledger_events_free (ledger_events_t *events)
{
    for (size_t i = 0; i < events->count; i++)
        msgpack_sbuffer_destroy (&events->bodies[i]);
    free (events->seqs);
    free (events->bodies);
    memset (events, 0, sizeof *events);
}

//  Appends EVENTS to TOPIC in the open transaction and numbers them.
static int s_events_append (pb_db_t *db, const char *topic, ledger_events_t *events)
{
    if (!events->count)
        return 0;
    const void **payloads = calloc (events->count, sizeof *payloads);
    size_t *sizes = calloc (events->count, sizeof *sizes);
    for (size_t i = 0; i < events->count; i++) {
        payloads[i] = events->bodies[i].data;
        sizes[i] = events->bodies[i].size;
    }
    int64_t last = pb_eventlog_append_many (db, topic, events->count, payloads, sizes);
    free (payloads);
    free (sizes);
    if (last < 0)
        return -1;
    for (size_t i = 0; i < events->count; i++)
        events->seqs[i] = last - (int64_t)events->count + 1 + (int64_t)i;
    return 0;
}

/* ==== Votes ==== */

static const char *const KNOWN_SQL = "SELECT id FROM paper WHERE id = ANY ($1::text[])";

static const char *const CAST_SQL =
    "INSERT INTO vote (paper_id, user_id, cast_at)"
    " SELECT g.paper_id, g.user_id, to_timestamp ($3::float8 / 1000)"
    " FROM unnest ($1::text[], $2::text[]) AS g (paper_id, user_id)"
    " JOIN paper p ON p.id = g.paper_id"
    " ORDER BY 1, 2"
    " ON CONFLICT DO NOTHING"
    " RETURNING paper_id, user_id";

static const char *const WITHDRAW_SQL =
    "DELETE FROM vote v USING unnest ($1::text[], $2::text[]) AS g (paper_id, user_id)"
    " WHERE v.paper_id = g.paper_id AND v.user_id = g.user_id"
    " RETURNING v.paper_id, v.user_id,"
    "  round (extract (epoch FROM v.cast_at) * 1000)::int8";

typedef struct {
    bool up;
    ledger_vote_t *votes;
    size_t count;
    size_t *order; //  votes by paper and user: rows are locked in one order
    int64_t at_ms;
    ledger_events_t *events;
} vote_batch_t;

//  The first position in the batch's order whose vote does not come before
//  PAPER (and USER, when given).
static size_t s_lower_bound (vote_batch_t *batch, const char *paper, const char *user)
{
    size_t low = 0, high = batch->count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        ledger_vote_t *vote = &batch->votes[batch->order[middle]];
        int order = strcmp (vote->paper, paper);
        if (!order && user)
            order = strcmp (vote->user, user);
        if (order < 0)
            low = middle + 1;
        else
            high = middle;
    }
    return low;
}

//  The first vote of the batch for PAPER and USER not yet marked changed
//  (a batch may name one vote twice; the first counts).
static ledger_vote_t *s_vote_of (vote_batch_t *batch, const char *paper, const char *user)
{
    for (size_t at = s_lower_bound (batch, paper, user); at < batch->count; at++) {
        ledger_vote_t *vote = &batch->votes[batch->order[at]];
        if (strcmp (vote->paper, paper) || strcmp (vote->user, user))
            break;
        if (!vote->changed)
            return vote;
    }
    return NULL;
}

//  Marks every vote of the batch for PAPER as for a stored paper.
static void s_mark_known (vote_batch_t *batch, const char *paper)
{
    for (size_t at = s_lower_bound (batch, paper, NULL); at < batch->count; at++) {
        ledger_vote_t *vote = &batch->votes[batch->order[at]];
        if (strcmp (vote->paper, paper))
            break;
        vote->known = true;
    }
}

static int s_votes (pb_db_t *db, void *arg)
{
    vote_batch_t *batch = arg;
    ledger_events_free (batch->events);
    pb_db_array_t *papers = pb_db_array_new (PB_DB_TEXT);
    pb_db_array_t *users = pb_db_array_new (PB_DB_TEXT);
    for (size_t i = 0; i < batch->count; i++) {
        ledger_vote_t *vote = &batch->votes[batch->order[i]];
        vote->known = vote->changed = false;
        vote->cast_at = batch->at_ms;
        pb_db_array_add (papers, vote->paper, strlen (vote->paper));
        pb_db_array_add (users, vote->user, strlen (vote->user));
    }
    int rc = -1;
    pb_db_params_t params = {0};
    pb_db_params_array (&params, papers);
    PGresult *result = pb_db_query (db, KNOWN_SQL, &params);
    if (!result)
        goto done;
    for (int row = 0; row < PQntuples (result); row++)
        s_mark_known (batch, PQgetvalue (result, row, 0));
    PQclear (result);
    pb_db_params_array (&params, users);
    if (batch->up)
        pb_db_params_int (&params, batch->at_ms);
    result = pb_db_query (db, batch->up ? CAST_SQL : WITHDRAW_SQL, &params);
    if (!result)
        goto done;
    int rows = PQntuples (result);
    s_events_reserve (batch->events, (size_t)rows);
    for (int row = 0; row < rows; row++) {
        ledger_vote_t *vote =
            s_vote_of (batch, PQgetvalue (result, row, 0), PQgetvalue (result, row, 1));
        if (!vote)
            continue; //  cannot be: the row came from the batch
        vote->changed = true;
        //  Stored, so the paper exists, even if it came after the check.
        s_mark_known (batch, vote->paper);
        if (!batch->up)
            vote->cast_at = strtoll (PQgetvalue (result, row, 2), NULL, 10);
        pb_vote_cast_t event = {.paper = pb_str (vote->paper),
                                .user = pb_str (vote->user),
                                .up = batch->up,
                                .cast_at = vote->cast_at};
        msgpack_packer packer;
        msgpack_packer_init (&packer, &batch->events->bodies[row], msgpack_sbuffer_write);
        pb_encode (&pb_vote_cast_schema, &event, &packer);
    }
    PQclear (result);
    rc = s_events_append (db, "vote.cast", batch->events);
done:
    pb_db_array_destroy (&papers);
    pb_db_array_destroy (&users);
    return rc;
}

static __thread ledger_vote_t *s_sorting;

static int s_compare_votes (const void *a, const void *b)
{
    const ledger_vote_t *x = &s_sorting[*(const size_t *)a], *y = &s_sorting[*(const size_t *)b];
    int order = strcmp (x->paper, y->paper);
    if (!order)
        order = strcmp (x->user, y->user);
    if (!order)
        order = *(const size_t *)a < *(const size_t *)b ? -1 : 1;
    return order;
}

int ledger_votes (pb_db_t *db, bool up, ledger_vote_t *votes, size_t count, int64_t at_ms,
                  ledger_events_t *events)
{
    memset (events, 0, sizeof *events);
    vote_batch_t batch = {up, votes, count, calloc (count + 1, sizeof (size_t)), at_ms, events};
    for (size_t i = 0; i < count; i++)
        batch.order[i] = i;
    s_sorting = votes;
    qsort (batch.order, count, sizeof *batch.order, s_compare_votes);
    int rc = pb_db_transaction (db, s_votes, &batch);
    free (batch.order);
    if (rc)
        ledger_events_free (events);
    return rc;
}

int ledger_voted (pb_db_t *db, const char *user, const char *const *papers, size_t count,
                  bool *voted)
{
    memset (voted, 0, count * sizeof *voted);
    pb_db_array_t *ids = pb_db_array_new (PB_DB_TEXT);
    for (size_t i = 0; i < count; i++)
        pb_db_array_add (ids, papers[i], strlen (papers[i]));
    pb_db_params_t params = {0};
    pb_db_params_text (&params, user);
    pb_db_params_array (&params, ids);
    PGresult *result = pb_db_query (
        db, "SELECT paper_id FROM vote WHERE user_id = $1 AND paper_id = ANY ($2::text[])",
        &params);
    pb_db_array_destroy (&ids);
    if (!result)
        return -1;
    for (int row = 0; row < PQntuples (result); row++)
        for (size_t i = 0; i < count; i++)
            if (strcmp (papers[i], PQgetvalue (result, row, 0)) == 0)
                voted[i] = true;
    PQclear (result);
    return 0;
}

/* ==== Signals ==== */

typedef struct {
    const char *paper, *source;
    double value;
    int64_t at_ms;
    bool known;
    double gain;
    ledger_events_t *events;
} signal_t;

static int s_signal (pb_db_t *db, void *arg)
{
    signal_t *signal = arg;
    ledger_events_free (signal->events);
    signal->gain = 0;
    pb_db_params_t params = {0};
    pb_db_params_text (&params, signal->paper);
    PGresult *result = pb_db_query (db, "SELECT 1 FROM paper WHERE id = $1", &params);
    if (!result)
        return -1;
    signal->known = PQntuples (result) == 1;
    PQclear (result);
    if (!signal->known)
        return 0;
    pb_db_array_t *ids = pb_db_array_new (PB_DB_TEXT);
    pb_db_array_t *values = pb_db_array_new (PB_DB_TEXT);
    char value[64];
    snprintf (value, sizeof value, "%.17g", signal->value);
    pb_db_array_add (ids, signal->paper, strlen (signal->paper));
    pb_db_array_add (values, value, strlen (value));
    pb_db_params_t observe = {0};
    pb_db_params_array (&observe, ids);
    pb_db_params_text (&observe, signal->source);
    pb_db_params_array (&observe, values);
    pb_db_params_int (&observe, signal->at_ms);
    result = pb_db_query (db,
                          "SELECT gain FROM signal_observe ($1::text[], $2, $3::text[]::float8[],"
                          " to_timestamp ($4::float8 / 1000))",
                          &observe);
    pb_db_array_destroy (&ids);
    pb_db_array_destroy (&values);
    if (!result)
        return -1;
    if (PQntuples (result) == 1)
        signal->gain = strtod (PQgetvalue (result, 0, 0), NULL);
    PQclear (result);
    if (!(signal->gain > 0))
        return 0;
    s_events_reserve (signal->events, 1);
    pb_signal_recorded_t event = {.paper = pb_str (signal->paper),
                                  .source = pb_str (signal->source),
                                  .value = signal->value,
                                  .gain = signal->gain,
                                  .at = signal->at_ms};
    msgpack_packer packer;
    msgpack_packer_init (&packer, &signal->events->bodies[0], msgpack_sbuffer_write);
    pb_encode (&pb_signal_recorded_schema, &event, &packer);
    return s_events_append (db, "signal.recorded", signal->events);
}

int ledger_signal (pb_db_t *db, const char *paper, const char *source, double value, int64_t at_ms,
                   double *gain, ledger_events_t *events)
{
    memset (events, 0, sizeof *events);
    signal_t signal = {paper, source, value, at_ms, false, 0, events};
    if (pb_db_transaction (db, s_signal, &signal)) {
        ledger_events_free (events);
        return -1;
    }
    *gain = signal.gain;
    return signal.known ? 0 : PB_E_NOT_FOUND;
}

/* ==== Trending ==== */

typedef struct {
    pb_db_array_t *top;
    int64_t now_ms, interval_ms;
    const msgpack_sbuffer *body;
    int64_t seq;
} trending_t;

static int s_trending (pb_db_t *db, void *arg)
{
    trending_t *trending = arg;
    trending->seq = 0;
    pb_db_params_t params = {0};
    pb_db_params_array (&params, trending->top);
    pb_db_params_int (&params, trending->now_ms);
    pb_db_params_int (&params, trending->interval_ms);
    int64_t moved =
        pb_db_run (db,
                   "UPDATE trending_state SET top = $1::text[], published_at = to_timestamp "
                   "($2::float8 / 1000)"
                   " WHERE top IS DISTINCT FROM $1::text[]"
                   "  AND published_at <= to_timestamp (($2::float8 - $3::float8) / 1000)",
                   &params);
    if (moved < 0)
        return -1;
    if (moved == 0)
        return 0;
    trending->seq =
        pb_eventlog_append (db, "trending.updated", trending->body->data, trending->body->size);
    return trending->seq < 0 ? -1 : 0;
}

int ledger_trending (pb_db_t *db, const char *const *top, size_t count, int64_t now_ms,
                     int64_t interval_ms, const msgpack_sbuffer *body, int64_t *seq)
{
    trending_t trending = {pb_db_array_new (PB_DB_TEXT), now_ms, interval_ms, body, 0};
    for (size_t i = 0; i < count; i++)
        pb_db_array_add (trending.top, top[i], strlen (top[i]));
    int rc = pb_db_transaction (db, s_trending, &trending);
    pb_db_array_destroy (&trending.top);
    *seq = rc ? 0 : trending.seq;
    return rc;
}

/* ==== Papers and the rebuild ==== */

//  A paper's listing day, in days since 1970: the day it was listed, else
//  the day its first version appeared, else the day it was ingested (UTC).
#define PAPER_DAY                                                                                  \
    "(coalesce (p.listed, (p.published AT TIME ZONE 'UTC')::date,"                                 \
    " (p.ingested_at AT TIME ZONE 'UTC')::date) - DATE '1970-01-01')"

int ledger_list_papers (pb_db_t *db, standings_t *standings, const char *const *ids, size_t count)
{
    pb_db_array_t *array = pb_db_array_new (PB_DB_TEXT);
    for (size_t i = 0; i < count; i++)
        pb_db_array_add (array, ids[i], strlen (ids[i]));
    pb_db_params_t params = {0};
    pb_db_params_array (&params, array);
    PGresult *result = pb_db_query (
        db, "SELECT p.id, " PAPER_DAY " FROM paper p WHERE p.id = ANY ($1::text[])", &params);
    pb_db_array_destroy (&array);
    if (!result)
        return -1;
    for (int row = 0; row < PQntuples (result); row++)
        standings_list_paper (standings, PQgetvalue (result, row, 0),
                              atoi (PQgetvalue (result, row, 1)));
    PQclear (result);
    return 0;
}

//  What a vote or gain at column TIME adds to a heat: 2^((t - epoch) / H),
//  with the epoch in $1 and H in $2 (milliseconds), bounded as
//  standings_weight bounds it.
#define HALVINGS(time) "((date_part ('epoch', " time ") * 1000 - $1::float8) / $2::float8)"
#define HEAT_OF(time)                                                                              \
    "CASE WHEN " HALVINGS (time) " < -1000 THEN 0"                                                 \
                                 " ELSE power (2::float8, least (" HALVINGS (time) ", 1000)) END"

typedef struct {
    standings_t **standings;
    const ledger_weights_t *weights;
    ledger_positions_t *positions;
    bool started; //  a retry starts again on empty standings
} load_t;

static int64_t s_head (PGresult *result, int column)
{
    return strtoll (PQgetvalue (result, 0, column), NULL, 10);
}

static int s_load (pb_db_t *db, void *arg)
{
    load_t *load = arg;
    standings_t *standings = *load->standings;
    if (load->started) {
        int64_t half_life = standings_half_life (standings), epoch = standings_epoch (standings);
        standings_destroy (load->standings);
        standings = *load->standings = standings_new (half_life, epoch);
    }
    load->started = true;
    standings_load_begin (standings);
    if (pb_db_script (db, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        return -1;
    PGresult *result = pb_db_query (
        db,
        "SELECT coalesce ((SELECT last_seq FROM event_topic WHERE topic = 'paper.ingested'), 0),"
        " coalesce ((SELECT last_seq FROM event_topic WHERE topic = 'vote.cast'), 0),"
        " coalesce ((SELECT last_seq FROM event_topic WHERE topic = 'signal.recorded'), 0)",
        NULL);
    if (!result)
        return -1;
    load->positions->papers = s_head (result, 0);
    load->positions->votes = s_head (result, 1);
    load->positions->signals = s_head (result, 2);
    PQclear (result);
    //  Plain queries rather than a cursor: PostgreSQL runs them in parallel.
    result = pb_db_query (db, "SELECT p.id, " PAPER_DAY " FROM paper p", NULL);
    if (!result)
        return -1;
    for (int row = 0; row < PQntuples (result); row++)
        standings_list_paper (standings, PQgetvalue (result, row, 0),
                              atoi (PQgetvalue (result, row, 1)));
    PQclear (result);
    pb_db_params_t heat = {0};
    pb_db_params_int (&heat, standings_epoch (standings));
    pb_db_params_int (&heat, standings_half_life (standings));
    result = pb_db_query (
        db, "SELECT paper_id, count(*), sum (" HEAT_OF ("cast_at") ") FROM vote GROUP BY paper_id",
        &heat);
    if (!result)
        return -1;
    for (int row = 0; row < PQntuples (result); row++) {
        uint32_t paper = standings_find (standings, PQgetvalue (result, row, 0));
        if (paper != STANDINGS_NO_PAPER)
            standings_load (standings, paper,
                            (uint32_t)strtoul (PQgetvalue (result, row, 1), NULL, 10),
                            strtod (PQgetvalue (result, row, 2), NULL));
    }
    PQclear (result);
    result = pb_db_query (db,
                          "SELECT paper_id, source, sum (gain * " HEAT_OF (
                              "observed_at") ") FROM signal_gain GROUP BY paper_id, source",
                          &heat);
    if (!result)
        return -1;
    for (int row = 0; row < PQntuples (result); row++) {
        uint32_t paper = standings_find (standings, PQgetvalue (result, row, 0));
        if (paper != STANDINGS_NO_PAPER)
            standings_load_signal (standings, paper,
                                   ledger_weight (load->weights, PQgetvalue (result, row, 1)) *
                                       strtod (PQgetvalue (result, row, 2), NULL));
    }
    PQclear (result);
    return 0;
}

int ledger_load (pb_db_t *db, standings_t **standings, const ledger_weights_t *weights,
                 ledger_positions_t *positions)
{
    load_t load = {standings, weights, positions, false};
    if (pb_db_transaction (db, s_load, &load)) {
        pb_error ("rebuilding the standings failed: %s", pb_db_error (db));
        return -1;
    }
    standings_load_end (*standings);
    return 0;
}
