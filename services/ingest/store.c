/*  store — one statement upserts a whole batch; its changes become events.

    The statement merges each incoming record with the stored row: a newer
    version replaces it (keeping what only the old one knew, such as the
    first version's date); the same version only fills in what the stored
    row lacks, and keeps the earliest listing day; a record seen again
    changes nothing. (Known limits: an older version arriving after a newer
    one does not fill in what the newer lacks, and two writers merging the
    same paper at the same moment can lose one's fill-ins; both are in the
    ingest issue's notes.) The merged row is hashed and written only when its hash differs,
    so re-ingesting changes nothing and emits nothing. Rows are written in id order, so that two
   workers storing overlapping batches lock them in the same order; ON CONFLICT makes the second
   writer of a new paper see the first one's row.
*/
#include "store.h"

#include <stdlib.h>
#include <string.h>

static const char *const UPSERT_SQL =
    "WITH incoming AS ("
    "  SELECT DISTINCT ON (t.id) t.*"
    "  FROM unnest ($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::text[],"
    "               $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])"
    "       WITH ORDINALITY AS t (id, version, title, abstract, authors, categories, published,"
    "                             updated, listed, doi, comment, journal_ref, ordinal)"
    "  ORDER BY t.id, t.version DESC, t.ordinal DESC),"
    " merged AS ("
    "  SELECT i.id, i.version::integer AS version,"
    "   CASE WHEN p.version = i.version THEN p.title ELSE i.title END AS title,"
    "   CASE WHEN p.version = i.version AND p.abstract <> '' THEN p.abstract"
    "        ELSE i.abstract END AS abstract,"
    "   CASE WHEN p.version = i.version AND cardinality (p.authors) > 0 THEN p.authors"
    "        ELSE string_to_array (i.authors, E'\\x1f') END AS authors,"
    "   CASE WHEN p.version = i.version AND cardinality (p.categories) > 0 THEN p.categories"
    "        ELSE string_to_array (i.categories, E'\\x1f') END AS categories,"
    "   CASE WHEN p.version = i.version THEN coalesce (p.published, i.published::timestamptz)"
    "        ELSE coalesce (i.published::timestamptz, p.published) END AS published,"
    "   CASE WHEN p.version = i.version THEN coalesce (p.updated, i.updated::timestamptz)"
    "        ELSE i.updated::timestamptz END AS updated,"
    "   least (i.listed::date, p.listed) AS listed,"
    "   CASE WHEN p.version = i.version THEN coalesce (p.doi, i.doi)"
    "        ELSE coalesce (i.doi, p.doi) END AS doi,"
    "   CASE WHEN p.version = i.version THEN coalesce (p.comment, i.comment)"
    "        ELSE i.comment END AS comment,"
    "   CASE WHEN p.version = i.version THEN coalesce (p.journal_ref, i.journal_ref)"
    "        ELSE coalesce (i.journal_ref, p.journal_ref) END AS journal_ref"
    "  FROM incoming i LEFT JOIN paper p ON p.id = i.id"
    "  WHERE p.id IS NULL OR p.version <= i.version),"
    " hashed AS ("
    "  SELECT m.*, md5 (format ('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', m.version, m.title,"
    "   m.abstract, m.authors, m.categories, m.published, m.updated, m.listed, m.doi,"
    "   m.comment, m.journal_ref, length (m.title))) AS content_hash"
    "  FROM merged m ORDER BY m.id)"
    " INSERT INTO paper AS p (id, version, title, abstract, authors, categories, published,"
    "  updated, listed, doi, comment, journal_ref, source, content_hash)"
    " SELECT id, version, title, abstract, authors, categories, published, updated, listed,"
    "  doi, comment, journal_ref, $13, content_hash FROM hashed"
    " ON CONFLICT (id) DO UPDATE SET version = excluded.version, title = excluded.title,"
    "  abstract = excluded.abstract, authors = excluded.authors,"
    "  categories = excluded.categories, published = excluded.published,"
    "  updated = excluded.updated, listed = excluded.listed, doi = excluded.doi,"
    "  comment = excluded.comment, journal_ref = excluded.journal_ref,"
    "  source = excluded.source, content_hash = excluded.content_hash, changed_at = now ()"
    " WHERE p.version <= excluded.version AND p.content_hash <> excluded.content_hash"
    " RETURNING p.id, p.version, (xmax = 0) AS inserted";

static const char *const SIGNAL_SQL =
    "INSERT INTO paper_signal AS s (paper_id, source, value)"
    " SELECT DISTINCT ON (t.id) t.id, 'hf', t.value"
    " FROM unnest ($1::text[], $2::int8[]) WITH ORDINALITY AS t (id, value, ordinal)"
    " ORDER BY t.id, t.ordinal DESC"
    " ON CONFLICT (paper_id, source) DO UPDATE SET value = excluded.value, observed_at = now ()"
    " WHERE s.value <> excluded.value";

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

//  Which record of the batch stands for ID: the highest version, the last
//  among equals (the same rule as DISTINCT ON in the statement).
static size_t s_winner (batch_t *batch, const char *id)
{
    size_t winner = SIZE_MAX;
    for (size_t i = 0; i < batch->count; i++)
        if (strcmp (batch->records[i].id, id) == 0 &&
            (winner == SIZE_MAX || batch->records[i].version >= batch->records[winner].version))
            winner = i;
    return winner;
}

static void s_event_body (store_event_t *event, const char *id, int64_t version, bool inserted)
{
    msgpack_sbuffer_init (&event->body);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &event->body, msgpack_sbuffer_write);
    pb_paper_ingested_t body = {0};
    body.id = pb_str (id);
    body.version = version;
    body.change = pb_str (inserted ? "inserted" : "updated");
    pb_encode (&pb_paper_ingested_schema, &body, &packer);
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
    for (size_t i = 0; i < batch->count; i++) {
        record_t *r = &batch->records[i];
        s_add_text (columns[0], r->id);
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
            s_add_text (signal_ids, r->id);
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
        size_t winner = s_winner (batch, id);
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
    if (pb_db_array_count (signal_ids)) {
        pb_db_params_t signal_params = {0};
        pb_db_params_array (&signal_params, signal_ids);
        pb_db_params_array (&signal_params, signal_values);
        if (pb_db_run (db, SIGNAL_SQL, &signal_params) < 0)
            goto done;
    }
    if (batch->extra && batch->extra (db, batch->extra_arg))
        goto done;
    rc = 0;
done:
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
