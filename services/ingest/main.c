/*  ingest — how papers enter paperbus.

    Serves ingest.submit: a batch of papers from any source (the command line,
    a harvester, another service). Each paper is checked and normalised on its
    own; the good ones are stored in one transaction together with their
    paper.ingested events, which are published on the bus after the commit;
    the reply says what became of each paper: inserted, updated, unchanged, or
    rejected with the reason. Submitting the same batch again changes
    nothing and emits nothing, so clients may retry freely.
*/
#include "paperbus.h"
#include "records.h"
#include "store.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    pb_config_t *config;       //  settings
    pb_db_t *db;               //  the paper store
    pb_publisher_t *publisher; //  where paper.ingested goes after commit
} ingest_t;

static const char *const s_change_names[] = {"unchanged", "inserted", "updated"};

static pb_str_t s_arena_str (pb_arena_t *arena, const char *text)
{
    size_t length = strlen (text);
    char *copy = pb_arena_alloc (arena, length + 1);
    memcpy (copy, text, length + 1);
    return (pb_str_t){copy, (uint32_t)length};
}

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
            outcome->position = s_arena_str (arena, position);
            pb_set_present (outcome, PB_ingest_outcome_position);
        }
        if (rc) {
            outcome->outcome = pb_str ("rejected");
            outcome->reason = s_arena_str (arena, reason);
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
    int rc = store_batch (self->db, source, records, valid, changes, &events, &event_count);
    if (rc)
        pb_response_error (response, PB_E_UNAVAILABLE, "the papers could not be stored: %s",
                           pb_db_error (self->db));
    else {
        //  Committed: now tell the bus. A lost publication is found in the
        //  event log by the subscribers.
        for (size_t e = 0; e < event_count; e++)
            pb_publisher_send (self->publisher, "paper.ingested", events[e].seq,
                               events[e].body.data, events[e].body.size);
        for (size_t i = 0; i < count; i++) {
            if (record_of[i] == SIZE_MAX)
                continue;
            record_t *record = &records[record_of[i]];
            store_change_t change = changes[record_of[i]];
            pb_ingest_outcome_t *outcome = &outcomes[i];
            outcome->id = s_arena_str (arena, record->id);
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
    int rc = pb_worker_run (worker);
    pb_worker_destroy (&worker);
    pb_publisher_destroy (&ingest.publisher);
    pb_db_destroy (&ingest.db);
    pb_service_finish (&config);
    return rc == 0 ? 0 : 1;
}
