/*  loader — papers from PostgreSQL into the index; see loader.h. */
#include "loader.h"

#include <stdlib.h>
#include <string.h>

#define PAGE 5000 //  rows per FETCH

//  The columns index_paper_t takes, in its order; the trend is the paper's
//  Hugging Face upvotes until rank publishes scores of its own.
#define PAPER_COLUMNS                                                                              \
    "p.id, p.version, p.title, p.abstract, array_to_string (p.authors, E'\\x1f'),"                 \
    " array_to_string (p.categories, E'\\x1f'),"                                                   \
    " coalesce (to_char (p.published AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS+00'), ''),"        \
    " coalesce (to_char (p.updated AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS+00'), ''),"          \
    " coalesce (p.listed::text, ''), coalesce (p.doi, ''), coalesce (p.comment, ''),"              \
    " coalesce (p.journal_ref, ''), coalesce (s.value, 0)"                                         \
    " FROM paper p LEFT JOIN paper_signal s ON s.paper_id = p.id AND s.source = 'hf'"

static void s_put_rows (index_t *index, PGresult *result)
{
    int rows = PQntuples (result);
    index_paper_t *papers = calloc ((size_t)rows + 1, sizeof *papers);
    for (int row = 0; row < rows; row++)
        papers[row] = (index_paper_t){
            .id = PQgetvalue (result, row, 0),
            .version = atoi (PQgetvalue (result, row, 1)),
            .title = PQgetvalue (result, row, 2),
            .abstract = PQgetvalue (result, row, 3),
            .authors = PQgetvalue (result, row, 4),
            .categories = PQgetvalue (result, row, 5),
            .published = PQgetvalue (result, row, 6),
            .updated = PQgetvalue (result, row, 7),
            .listed = PQgetvalue (result, row, 8),
            .doi = PQgetvalue (result, row, 9),
            .comment = PQgetvalue (result, row, 10),
            .journal_ref = PQgetvalue (result, row, 11),
            .trend = strtod (PQgetvalue (result, row, 12), NULL),
        };
    size_t put = index_put_many (index, papers, (size_t)rows);
    if (put < (size_t)rows)
        pb_warn ("%zu of %d papers could not be indexed (no title?)", (size_t)rows - put, rows);
    free (papers);
}

typedef struct {
    index_t *index;
    int64_t position;
    bool started; //  a retry starts again on an empty index
} load_t;

static int s_load (pb_db_t *db, void *arg)
{
    load_t *load = arg;
    if (load->started) {
        index_destroy (&load->index);
        load->index = index_new ();
    }
    load->started = true;
    if (pb_db_script (db, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        return -1;
    PGresult *result = pb_db_query (
        db,
        "SELECT coalesce ((SELECT last_seq FROM event_topic WHERE topic = 'paper.ingested'), 0)",
        NULL);
    if (!result)
        return -1;
    load->position = strtoll (PQgetvalue (result, 0, 0), NULL, 10);
    PQclear (result);
    //  In id order: every worker numbers the papers alike.
    if (pb_db_script (db,
                      "DECLARE papers NO SCROLL CURSOR FOR SELECT " PAPER_COLUMNS " ORDER BY p.id"))
        return -1;
    while (true) {
        result = pb_db_query (db, "FETCH 5000 FROM papers", NULL);
        if (!result)
            return -1;
        int rows = PQntuples (result);
        s_put_rows (load->index, result);
        PQclear (result);
        if (rows < PAGE)
            break;
    }
    return pb_db_script (db, "CLOSE papers");
}

int loader_load (pb_db_t *db, index_t **index, int64_t *position)
{
    load_t load = {*index, 0, false};
    int rc = pb_db_transaction (db, s_load, &load);
    *index = load.index;
    if (rc) {
        pb_error ("loading the papers failed: %s", pb_db_error (db));
        return -1;
    }
    index_trim (*index);
    *position = load.position;
    return 0;
}

int loader_refresh (pb_db_t *db, index_t *index, const char *const *ids, size_t count)
{
    pb_db_array_t *array = pb_db_array_new (PB_DB_TEXT);
    for (size_t i = 0; i < count; i++)
        pb_db_array_add (array, ids[i], strlen (ids[i]));
    pb_db_params_t params = {0};
    pb_db_params_array (&params, array);
    PGresult *result =
        pb_db_query (db, "SELECT " PAPER_COLUMNS " WHERE p.id = ANY ($1::text[])", &params);
    pb_db_array_destroy (&array);
    if (!result)
        return -1;
    s_put_rows (index, result);
    //  Named by an event but no longer stored: gone from the index too.
    for (size_t i = 0; i < count; i++) {
        bool found = false;
        for (int row = 0; row < PQntuples (result) && !found; row++)
            found = strcmp (PQgetvalue (result, row, 0), ids[i]) == 0;
        if (!found)
            index_remove (index, ids[i]);
    }
    PQclear (result);
    return 0;
}
