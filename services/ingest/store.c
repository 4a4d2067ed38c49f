/*  store — one statement upserts a whole batch; its changes become events.

    Duplicates within the batch are folded together first (s_fold). The
    statement then inserts new papers and, for existing ones, merges each
    record with the current row inside ON CONFLICT DO UPDATE, where the row
    is locked and up to date, so concurrent writers of a paper never
    overwrite each other's data. The rules: a newer version replaces the row
    but keeps what only the stored row knew (the first version's date, the
    DOI); the same or an older version only fills in what the row lacks; the
    listing day is the earliest. For two different values of one field in
    the same version, the first stored stays. A trigger
    (suppress_redundant_updates_trigger) skips updates that change nothing,
    so a record seen again writes nothing and emits nothing. Rows are
    written in id order, so that workers storing overlapping batches lock
    them in the same order.
*/
#include "store.h"

#include <stdlib.h>
#include <string.h>

//  The batch holds each id once (s_fold merged duplicates). New papers are
//  inserted; for existing ones the merge rules run against the current row,
//  locked: a newer version replaces it but keeps what only the stored row
//  knew (the first version's date, the DOI); the same version or an older
//  one only fills in what the stored row lacks; the listing day is the
//  earliest. The paper_1_skip_unchanged trigger skips updates that change
//  nothing, so those rows are not returned and emit no event.
static const char *const UPSERT_SQL =
    "WITH incoming AS ("
    "  SELECT * FROM unnest ($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[],"
    "   $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])"
    "  AS t (id, version, title, abstract, authors, categories, published, updated, listed,"
    "        doi, comment, journal_ref))"
    " INSERT INTO paper AS p (id, version, title, abstract, authors, categories, published,"
    "  updated, listed, doi, comment, journal_ref, source)"
    " SELECT id, version::integer, title, abstract, string_to_array (authors, E'\\x1f'),"
    "  string_to_array (categories, E'\\x1f'), published::timestamptz, updated::timestamptz,"
    "  listed::date, doi, comment, journal_ref, $13"
    " FROM incoming ORDER BY id"
    " ON CONFLICT (id) DO UPDATE SET"
    "  version = greatest (p.version, excluded.version),"
    "  title = CASE WHEN excluded.version > p.version THEN excluded.title ELSE p.title END,"
    "  abstract = CASE WHEN excluded.version > p.version AND excluded.abstract <> ''"
    "   THEN excluded.abstract WHEN p.abstract = '' THEN excluded.abstract ELSE p.abstract END,"
    "  authors = CASE WHEN excluded.version > p.version AND cardinality (excluded.authors) > 0"
    "   THEN excluded.authors WHEN cardinality (p.authors) = 0 THEN excluded.authors"
    "   ELSE p.authors END,"
    "  categories = CASE WHEN excluded.version > p.version"
    "   AND cardinality (excluded.categories) > 0 THEN excluded.categories"
    "   WHEN cardinality (p.categories) = 0 THEN excluded.categories ELSE p.categories END,"
    "  published = CASE WHEN excluded.version > p.version"
    "   THEN coalesce (excluded.published, p.published)"
    "   ELSE coalesce (p.published, excluded.published) END,"
    "  updated = CASE WHEN excluded.version > p.version THEN excluded.updated"
    "   WHEN excluded.version = p.version THEN coalesce (p.updated, excluded.updated)"
    "   ELSE p.updated END,"
    "  listed = least (p.listed, excluded.listed),"
    "  doi = CASE WHEN excluded.version > p.version THEN coalesce (excluded.doi, p.doi)"
    "   ELSE coalesce (p.doi, excluded.doi) END,"
    "  comment = CASE WHEN excluded.version > p.version THEN excluded.comment"
    "   WHEN excluded.version = p.version THEN coalesce (p.comment, excluded.comment)"
    "   ELSE p.comment END,"
    "  journal_ref = CASE WHEN excluded.version > p.version"
    "   THEN coalesce (excluded.journal_ref, p.journal_ref)"
    "   ELSE coalesce (p.journal_ref, excluded.journal_ref) END,"
    "  source = CASE WHEN excluded.version > p.version THEN excluded.source ELSE p.source END"
    " RETURNING p.id, p.version, (xmax = 0) AS inserted";

//  Hugging Face upvotes are a signal for rank (0006_votes.sql): what rose
//  past its peak is returned, for a signal.recorded event.
static const char *const SIGNAL_SQL =
    "SELECT paper_id, value, gain, round (extract (epoch FROM now ()) * 1000)::int8"
    " FROM signal_observe ($1::text[], 'hf', $2::int8[]::float8[], now ()) WHERE gain > 0";

typedef struct {
    const char *source;      //  where the batch came from
    record_t *records;       //  the batch
    size_t count;            //  its size
    store_change_t *changes; //  per record, filled in
    store_event_t *events;   //  to publish after commit
    size_t event_count;      //  how many
    store_extra_fn *extra;   //  more work for the transaction, or NULL
    void *extra_arg;         //  its argument
} batch_t;

//  One paper of the batch after its duplicates are folded together: the
//  fields point into the batch's records.
typedef struct {
    size_t index;            //  the record that stands for it (for its outcome)
    int version;             //  highest version seen
    const char *title;       //  of the newest version
    const char *abstract;    //  "" when none had one
    const char *authors;     //  joined names
    const char *categories;  //  joined categories
    const char *published;   //  "" when unknown
    const char *updated;     //  "" when unknown
    const char *listed;      //  earliest, "" when unknown
    const char *doi;         //  or NULL
    const char *comment;     //  or NULL
    const char *journal_ref; //  or NULL
    int64_t upvotes;         //  last one given, -1 when none
} folded_t;

static const char *s_filled (const char *kept, const char *offered)
{
    return kept && *kept ? kept : offered;
}

static const char *s_earliest (const char *a, const char *b)
{
    if (!*a)
        return b;
    if (!*b)
        return a;
    return strcmp (a, b) <= 0 ? a : b;
}

//  Folds record R (index I) into F by the same rules as the statement.
static void s_fold_one (folded_t *f, const record_t *r, size_t i)
{
    if (r->version > f->version) {
        f->title = r->title;
        f->abstract = *r->abstract ? r->abstract : f->abstract;
        f->authors = *r->authors ? r->authors : f->authors;
        f->categories = *r->categories ? r->categories : f->categories;
        f->published = s_filled (r->published, f->published);
        f->updated = r->updated;
        f->doi = s_filled (r->doi, f->doi);
        f->comment = r->comment;
        f->journal_ref = s_filled (r->journal_ref, f->journal_ref);
        f->version = r->version;
        f->index = i;
    } else {
        f->abstract = s_filled (f->abstract, r->abstract);
        f->authors = s_filled (f->authors, r->authors);
        f->categories = s_filled (f->categories, r->categories);
        f->published = s_filled (f->published, r->published);
        f->doi = s_filled (f->doi, r->doi);
        f->journal_ref = s_filled (f->journal_ref, r->journal_ref);
        if (r->version == f->version) {
            f->updated = s_filled (f->updated, r->updated);
            f->comment = s_filled (f->comment, r->comment);
            f->index = i;
        }
    }
    f->listed = s_earliest (f->listed, r->listed);
    if (r->upvotes >= 0)
        f->upvotes = r->upvotes;
}

static int s_by_id (const void *a, const void *b, void *arg)
{
    const record_t *records = arg;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int order = strcmp (records[x].id, records[y].id);
    return order ? order : (x > y) - (x < y);
}

//  Folds the records of one id into one, in arrival order. Returns how many
//  papers remain; FOLDED must hold COUNT entries.
static size_t s_fold (const record_t *records, size_t count, folded_t *folded)
{
    size_t *order = malloc ((count + 1) * sizeof *order);
    for (size_t i = 0; i < count; i++)
        order[i] = i;
    qsort_r (order, count, sizeof *order, s_by_id, (void *)records);
    size_t papers = 0;
    for (size_t k = 0; k < count; k++) {
        const record_t *r = &records[order[k]];
        if (k == 0 || strcmp (r->id, records[order[k - 1]].id) != 0) {
            folded_t *f = &folded[papers++];
            *f = (folded_t){order[k],      r->version,     r->title,   r->abstract, r->authors,
                            r->categories, r->published,   r->updated, r->listed,   r->doi,
                            r->comment,    r->journal_ref, r->upvotes};
        } else
            s_fold_one (&folded[papers - 1], r, order[k]);
    }
    free (order);
    return papers;
}

static void s_add_text (pb_db_array_t *array, const char *text)
{
    if (text && *text)
        pb_db_array_add (array, text, strlen (text));
    else if (text)
        pb_db_array_add (array, "", 0);
    else
        pb_db_array_add_null (array);
}

static void s_add_optional (pb_db_array_t *array, const char *text)
{
    if (text && *text)
        pb_db_array_add (array, text, strlen (text));
    else
        pb_db_array_add_null (array);
}

//  Which record of the batch stands for ID: the one its folded paper names
//  (FOLDED is in id order).
static size_t s_winner (batch_t *batch, const folded_t *folded, size_t papers, const char *id)
{
    size_t low = 0, high = papers;
    while (low < high) {
        size_t middle = (low + high) / 2;
        int order = strcmp (batch->records[folded[middle].index].id, id);
        if (order == 0)
            return folded[middle].index;
        if (order < 0)
            low = middle + 1;
        else
            high = middle;
    }
    return SIZE_MAX;
}

static void s_event_body (store_event_t *event, const char *id, int64_t version, bool inserted)
{
    event->topic = "paper.ingested";
    msgpack_sbuffer_init (&event->body);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &event->body, msgpack_sbuffer_write);
    pb_paper_ingested_t body = {0};
    body.id = pb_str (id);
    body.version = version;
    body.change = pb_str (inserted ? "inserted" : "updated");
    pb_encode (&pb_paper_ingested_schema, &body, &packer);
}

//  Records the batch's upvotes, and a signal.recorded event for each rise,
//  after the batch's paper.ingested events.
static int s_signals (pb_db_t *db, batch_t *batch, pb_db_array_t *ids, pb_db_array_t *values)
{
    pb_db_params_t params = {0};
    pb_db_params_array (&params, ids);
    pb_db_params_array (&params, values);
    PGresult *result = pb_db_query (db, SIGNAL_SQL, &params);
    if (!result)
        return -1;
    size_t rows = (size_t)PQntuples (result), first = batch->event_count;
    if (!rows) {
        PQclear (result);
        return 0;
    }
    batch->events = realloc (batch->events, (first + rows + 1) * sizeof *batch->events);
    const void **payloads = calloc (rows, sizeof *payloads);
    size_t *sizes = calloc (rows, sizeof *sizes);
    for (size_t row = 0; row < rows; row++) {
        store_event_t *event = &batch->events[first + row];
        event->topic = "signal.recorded";
        msgpack_sbuffer_init (&event->body);
        msgpack_packer packer;
        msgpack_packer_init (&packer, &event->body, msgpack_sbuffer_write);
        pb_signal_recorded_t body = {.paper = pb_str (PQgetvalue (result, (int)row, 0)),
                                     .source = pb_str ("hf"),
                                     .value = strtod (PQgetvalue (result, (int)row, 1), NULL),
                                     .gain = strtod (PQgetvalue (result, (int)row, 2), NULL),
                                     .at = strtoll (PQgetvalue (result, (int)row, 3), NULL, 10)};
        pb_encode (&pb_signal_recorded_schema, &body, &packer);
        payloads[row] = event->body.data;
        sizes[row] = event->body.size;
    }
    batch->event_count = first + rows;
    PQclear (result);
    int64_t last_seq = pb_eventlog_append_many (db, "signal.recorded", rows, payloads, sizes);
    free (payloads);
    free (sizes);
    if (last_seq < 0)
        return -1;
    for (size_t row = 0; row < rows; row++)
        batch->events[first + row].seq = last_seq - (int64_t)rows + 1 + (int64_t)row;
    return 0;
}

static int s_store (pb_db_t *db, void *arg)
{
    batch_t *batch = arg;
    //  A retried transaction starts again from scratch.
    store_events_free (&batch->events, batch->event_count);
    batch->event_count = 0;
    for (size_t i = 0; i < batch->count; i++)
        batch->changes[i] = STORE_UNCHANGED;

    pb_db_array_t *columns[12];
    static const pb_db_type_t types[12] = {PB_DB_TEXT, PB_DB_INT8, PB_DB_TEXT, PB_DB_TEXT,
                                           PB_DB_TEXT, PB_DB_TEXT, PB_DB_TEXT, PB_DB_TEXT,
                                           PB_DB_TEXT, PB_DB_TEXT, PB_DB_TEXT, PB_DB_TEXT};
    for (int c = 0; c < 12; c++)
        columns[c] = pb_db_array_new (types[c]);
    pb_db_array_t *signal_ids = pb_db_array_new (PB_DB_TEXT);
    pb_db_array_t *signal_values = pb_db_array_new (PB_DB_INT8);
    folded_t *folded = calloc (batch->count + 1, sizeof *folded);
    size_t papers = s_fold (batch->records, batch->count, folded);
    for (size_t i = 0; i < papers; i++) {
        folded_t *r = &folded[i];
        s_add_text (columns[0], batch->records[r->index].id);
        pb_db_array_add_int (columns[1], r->version);
        s_add_text (columns[2], r->title);
        s_add_text (columns[3], r->abstract);
        s_add_text (columns[4], r->authors);
        s_add_text (columns[5], r->categories);
        s_add_optional (columns[6], r->published);
        s_add_optional (columns[7], r->updated);
        s_add_optional (columns[8], r->listed);
        s_add_optional (columns[9], r->doi);
        s_add_optional (columns[10], r->comment);
        s_add_optional (columns[11], r->journal_ref);
        if (r->upvotes >= 0) {
            s_add_text (signal_ids, batch->records[r->index].id);
            pb_db_array_add_int (signal_values, r->upvotes);
        }
    }
    pb_db_params_t params = {0};
    for (int c = 0; c < 12; c++)
        pb_db_params_array (&params, columns[c]);
    pb_db_params_text (&params, batch->source);
    PGresult *result = pb_db_query (db, UPSERT_SQL, &params);
    int rc = -1;
    if (!result)
        goto done;
    int rows = PQntuples (result);
    const void **payloads = calloc ((size_t)rows + 1, sizeof *payloads);
    size_t *sizes = calloc ((size_t)rows + 1, sizeof *sizes);
    batch->events = calloc ((size_t)rows + 1, sizeof *batch->events);
    for (int row = 0; row < rows; row++) {
        const char *id = PQgetvalue (result, row, 0);
        int64_t version = strtoll (PQgetvalue (result, row, 1), NULL, 10);
        bool inserted = strcmp (PQgetvalue (result, row, 2), "t") == 0;
        size_t winner = s_winner (batch, folded, papers, id);
        if (winner != SIZE_MAX)
            batch->changes[winner] = inserted ? STORE_INSERTED : STORE_UPDATED;
        s_event_body (&batch->events[row], id, version, inserted);
        payloads[row] = batch->events[row].body.data;
        sizes[row] = batch->events[row].body.size;
    }
    batch->event_count = (size_t)rows;
    PQclear (result);
    //  Events last: the topic's lock is held from here to the commit.
    int64_t last_seq =
        rows ? pb_eventlog_append_many (db, "paper.ingested", (size_t)rows, payloads, sizes) : 0;
    free (payloads);
    free (sizes);
    if (last_seq < 0)
        goto done;
    for (int row = 0; row < rows; row++)
        batch->events[row].seq = last_seq - rows + 1 + row;
    if (pb_db_array_count (signal_ids) && s_signals (db, batch, signal_ids, signal_values))
        goto done;
    if (batch->extra && batch->extra (db, batch->extra_arg))
        goto done;
    rc = 0;
done:
    free (folded);
    for (int c = 0; c < 12; c++)
        pb_db_array_destroy (&columns[c]);
    pb_db_array_destroy (&signal_ids);
    pb_db_array_destroy (&signal_values);
    return rc;
}

int store_batch (pb_db_t *db, const char *source, record_t *records, size_t count,
                 store_change_t *changes, store_event_t **events, size_t *event_count,
                 store_extra_fn *extra, void *extra_arg)
{
    batch_t batch = {source, records, count, changes, NULL, 0, extra, extra_arg};
    int rc = count || extra ? pb_db_transaction (db, s_store, &batch) : 0;
    if (rc) {
        pb_error ("storing %zu papers from %s failed: %s", count, source, pb_db_error (db));
        store_events_free (&batch.events, batch.event_count);
        batch.event_count = 0;
    }
    *events = batch.events;
    *event_count = batch.event_count;
    return rc;
}

void store_events_free (store_event_t **events, size_t count)
{
    if (!*events)
        return;
    for (size_t i = 0; i < count; i++)
        msgpack_sbuffer_destroy (&(*events)[i].body);
    free (*events);
    *events = NULL;
}
