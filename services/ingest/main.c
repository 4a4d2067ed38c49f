/*  ingest — how papers enter paperbus.

    Serves ingest.submit: a batch of papers from any source (the command line,
    a harvester, another service). Each paper is checked and normalised on its
    own; the good ones are stored in one transaction together with their
    paper.ingested events, which are published on the bus after the commit;
    the reply says what became of each paper: inserted, updated, unchanged, or
    rejected with the reason. Submitting the same batch again changes
    nothing and emits nothing, so clients may retry freely.

    Serves ingest.harvest and ingest.harvest_status too: a harvest of an
    arXiv category is a row in PostgreSQL, worked through one page at a time
    by whichever worker's harvester holds its lease (see harvest.h).
*/
#include "harvest.h"
#include "paperbus.h"
#include "records.h"
#include "store.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    pb_config_t *config;       //  settings
    pb_db_t *db;               //  the paper store
    pb_publisher_t *publisher; //  where paper.ingested goes after commit
} ingest_t;

static const char *const s_change_names[] = {"unchanged", "inserted", "updated"};

static int s_submit (const pb_request_t *request, pb_response_t *response, void *arg)
{
    ingest_t *self = arg;
    pb_arena_t *arena = pb_arena_new ();
    pb_ingest_submit_request_t submit;
    pb_codec_error_t error;
    if (pb_decode (request->body, request->size,
                   (size_t)pb_config_int (self->config, PB_CONF_MAX_FRAME),
                   &pb_ingest_submit_request_schema, &submit, arena, &error)) {
        pb_response_error (response, error.code, "%s", error.message);
        pb_arena_destroy (&arena);
        return -1;
    }
    char source[65];
    snprintf (source, sizeof source, "%.*s", (int)submit.source.len, submit.source.ptr);
    size_t count = submit.papers.count;
    pb_ingest_outcome_t *outcomes = pb_arena_alloc (arena, (count + 1) * sizeof *outcomes);
    record_t *records = calloc (count + 1, sizeof *records);
    size_t *record_of = calloc (count + 1, sizeof *record_of); //  outcome -> record, or SIZE_MAX
    size_t valid = 0;
    pb_ingest_submit_reply_t reply = {0};
    for (size_t i = 0; i < count; i++) {
        char position[257], reason[512];
        pb_ingest_outcome_t *outcome = &outcomes[i];
        outcome->index = (int64_t)i;
        int rc = record_from_msgpack (submit.papers.items[i].ptr, submit.papers.items[i].len,
                                      &records[valid], position, reason);
        if (*position) {
            outcome->position = pb_arena_str (arena, position, strlen (position));
            pb_set_present (outcome, PB_ingest_outcome_position);
        }
        if (rc) {
            outcome->outcome = pb_str ("rejected");
            outcome->reason = pb_arena_str (arena, reason, strlen (reason));
            pb_set_present (outcome, PB_ingest_outcome_reason);
            record_of[i] = SIZE_MAX;
            reply.rejected++;
            continue;
        }
        record_of[i] = valid++;
    }
    store_change_t *changes = calloc (valid + 1, sizeof *changes);
    store_event_t *events = NULL;
    size_t event_count = 0;
    int rc =
        store_batch (self->db, source, records, valid, changes, &events, &event_count, NULL, NULL);
    if (rc) {
        //  A lost database is worth retrying; a statement error is not.
        const char *state = pb_db_sqlstate (self->db);
        bool transient = strncmp (state, "08", 2) == 0 || strcmp (state, "57P01") == 0 ||
                         strcmp (state, "40001") == 0 || strcmp (state, "40P01") == 0;
        pb_response_error (response, transient ? PB_E_UNAVAILABLE : PB_E_INTERNAL,
                           "the papers could not be stored: %s", pb_db_error (self->db));
    } else {
        //  Committed: now tell the bus. A lost publication is found in the
        //  event log by the subscribers.
        for (size_t e = 0; e < event_count; e++)
            pb_publisher_send (self->publisher, events[e].topic, events[e].seq,
                               events[e].body.data, events[e].body.size);
        for (size_t i = 0; i < count; i++) {
            if (record_of[i] == SIZE_MAX)
                continue;
            record_t *record = &records[record_of[i]];
            store_change_t change = changes[record_of[i]];
            pb_ingest_outcome_t *outcome = &outcomes[i];
            outcome->id = pb_arena_str (arena, record->id, strlen (record->id));
            outcome->version = record->version;
            outcome->outcome = pb_str (s_change_names[change]);
            pb_set_present (outcome, PB_ingest_outcome_id);
            pb_set_present (outcome, PB_ingest_outcome_version);
            reply.inserted += change == STORE_INSERTED;
            reply.updated += change == STORE_UPDATED;
            reply.unchanged += change == STORE_UNCHANGED;
        }
        reply.outcomes.items = outcomes;
        reply.outcomes.count = (uint32_t)count;
        pb_encode (&pb_ingest_submit_reply_schema, &reply, &response->packer);
    }
    store_events_free (&events, event_count);
    for (size_t r = 0; r < valid; r++)
        record_reset (&records[r]);
    free (records);
    free (record_of);
    free (changes);
    pb_arena_destroy (&arena);
    return rc;
}

static const char *const HARVEST_STATUS_SQL =
    "SELECT source, state, pages, papers, cursor, coalesce (last_error, '') FROM harvest"
    " WHERE source = $1";

//  Replies with the harvest_status of SOURCE.
static int s_harvest_reply (ingest_t *self, const char *source, pb_response_t *response)
{
    pb_db_params_t params = {0};
    pb_db_params_text (&params, source);
    PGresult *result = pb_db_query (self->db, HARVEST_STATUS_SQL, &params);
    if (!result) {
        pb_response_error (response, PB_E_UNAVAILABLE, "%s", pb_db_error (self->db));
        return -1;
    }
    if (PQntuples (result) == 0) {
        PQclear (result);
        pb_response_error (response, PB_E_NOT_FOUND, "no harvest of '%s'", source);
        return -1;
    }
    pb_harvest_status_t status = {0};
    status.source = pb_str (PQgetvalue (result, 0, 0));
    status.state = pb_str (PQgetvalue (result, 0, 1));
    status.pages = strtoll (PQgetvalue (result, 0, 2), NULL, 10);
    status.papers = strtoll (PQgetvalue (result, 0, 3), NULL, 10);
    status.cursor = pb_str (PQgetvalue (result, 0, 4));
    pb_set_present (&status, PB_harvest_status_cursor);
    status.last_error = pb_str (PQgetvalue (result, 0, 5));
    if (status.last_error.len)
        pb_set_present (&status, PB_harvest_status_last_error);
    pb_encode (&pb_harvest_status_schema, &status, &response->packer);
    PQclear (result);
    return 0;
}

//  Starts a harvest, or resumes an unfinished one of the same source from
//  its cursor; a finished one starts again from the beginning.
static const char *const HARVEST_START_SQL =
    "INSERT INTO harvest AS h (source, kind, base_url, query, since)"
    " VALUES ($1, $2, $3, $4, $5::date)"
    " ON CONFLICT (source) DO UPDATE SET"
    "  cursor = CASE WHEN h.state = 'done' THEN '' ELSE h.cursor END,"
    "  pages = CASE WHEN h.state = 'done' THEN 0 ELSE h.pages END,"
    "  papers = CASE WHEN h.state = 'done' THEN 0 ELSE h.papers END,"
    "  base_url = CASE WHEN h.state = 'done' THEN excluded.base_url ELSE h.base_url END,"
    "  since = CASE WHEN h.state = 'done' THEN excluded.since ELSE h.since END,"
    "  state = CASE WHEN h.state = 'done' OR h.cursor = '' THEN 'pending' ELSE 'running' END,"
    "  empty_pages = 0, last_error = NULL, next_at = now (), updated_at = now ()";

static int s_harvest (const pb_request_t *request, pb_response_t *response, void *arg)
{
    ingest_t *self = arg;
    pb_arena_t *arena = pb_arena_new ();
    pb_harvest_request_t harvest;
    pb_codec_error_t error;
    int rc = -1;
    if (pb_decode (request->body, request->size, 1 << 16, &pb_harvest_request_schema, &harvest,
                   arena, &error)) {
        pb_response_error (response, error.code, "%s", error.message);
        goto done;
    }
    char category[65], method[9] = "oai", since[11] = "", base_url[513], query[160], source[160];
    snprintf (category, sizeof category, "%.*s", (int)harvest.category.len, harvest.category.ptr);
    if (pb_has (&harvest, PB_harvest_request_method))
        snprintf (method, sizeof method, "%.*s", (int)harvest.method.len, harvest.method.ptr);
    if (strcmp (method, "oai") != 0 && strcmp (method, "api") != 0) {
        pb_response_error (response, PB_E_INVALID, "method: '%s' is neither oai nor api", method);
        goto done;
    }
    if (pb_has (&harvest, PB_harvest_request_since)) {
        snprintf (since, sizeof since, "%.*s", (int)harvest.since.len, harvest.since.ptr);
        int64_t seconds;
        if (strlen (since) != 10 || pb_date_parse (since, &seconds)) {
            pb_response_error (response, PB_E_INVALID, "since: '%s' is not YYYY-MM-DD", since);
            goto done;
        }
    }
    if (pb_has (&harvest, PB_harvest_request_base_url))
        snprintf (base_url, sizeof base_url, "%.*s", (int)harvest.base_url.len,
                  harvest.base_url.ptr);
    else
        snprintf (base_url, sizeof base_url, "%s",
                  pb_config_str (self->config, strcmp (method, "oai") == 0
                                                   ? PB_CONF_ARXIV_OAI_URL
                                                   : PB_CONF_ARXIV_API_URL));
    if (strncmp (base_url, "http://", 7) != 0 && strncmp (base_url, "https://", 8) != 0) {
        pb_response_error (response, PB_E_INVALID, "base_url: '%s' is not an http(s) URL",
                           base_url);
        goto done;
    }
    if (strcmp (method, "oai") == 0)
        harvest_oai_set (category, query);
    else
        snprintf (query, sizeof query, "cat:%s", category);
    snprintf (source, sizeof source, "%s:%s", method, category);
    pb_db_params_t params = {0};
    pb_db_params_text (&params, source);
    pb_db_params_text (&params, method);
    pb_db_params_text (&params, base_url);
    pb_db_params_text (&params, query);
    pb_db_params_text (&params, *since ? since : NULL);
    if (pb_db_run (self->db, HARVEST_START_SQL, &params) < 0) {
        pb_response_error (response, PB_E_UNAVAILABLE, "%s", pb_db_error (self->db));
        goto done;
    }
    rc = s_harvest_reply (self, source, response);
done:
    pb_arena_destroy (&arena);
    return rc;
}

static int s_harvest_status (const pb_request_t *request, pb_response_t *response, void *arg)
{
    ingest_t *self = arg;
    pb_arena_t *arena = pb_arena_new ();
    pb_harvest_status_request_t query;
    pb_codec_error_t error;
    int rc = -1;
    if (pb_decode (request->body, request->size, 1 << 16, &pb_harvest_status_request_schema, &query,
                   arena, &error))
        pb_response_error (response, error.code, "%s", error.message);
    else {
        char source[129];
        snprintf (source, sizeof source, "%.*s", (int)query.source.len, query.source.ptr);
        rc = s_harvest_reply (self, source, response);
    }
    pb_arena_destroy (&arena);
    return rc;
}

int main (void)
{
    pb_config_t *config = pb_service_start ("ingest");
    ingest_t ingest = {config, NULL, NULL};
    ingest.db = pb_db_new (pb_config_str (config, PB_CONF_DATABASE_URL), "ingest",
                           (int)pb_config_int (config, PB_CONF_DB_CONNECT_TIMEOUT));
    if (!ingest.db || pb_migrate (ingest.db, pb_migrations, pb_migration_count, NULL)) {
        pb_db_destroy (&ingest.db);
        pb_service_finish (&config);
        return 1;
    }
    ingest.publisher = pb_publisher_new (config);
    pb_worker_t *worker = pb_worker_new (config, "ingest");
    pb_worker_handle (worker, "submit", s_submit, &ingest);
    pb_worker_handle (worker, "harvest", s_harvest, &ingest);
    pb_worker_handle (worker, "harvest_status", s_harvest_status, &ingest);
    //  Leases name their holder: this host and process.
    char owner[64];
    char *host = zsys_hostname ();
    snprintf (owner, sizeof owner, "%.40s-%d", host ? host : "ingest", (int)getpid ());
    zstr_free (&host);
    zactor_t *harvester = harvester_new (config, owner);
    int rc = pb_worker_run (worker);
    zactor_destroy (&harvester);
    pb_worker_destroy (&worker);
    pb_publisher_destroy (&ingest.publisher);
    pb_db_destroy (&ingest.db);
    pb_service_finish (&config);
    return rc == 0 ? 0 : 1;
}
