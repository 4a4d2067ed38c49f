/*  index — search over every paper, in memory.

    At start the worker streams every paper from PostgreSQL into its own
    in-memory index (loader.h), in one snapshot that also gives the
    position of paper.ingested it covers; then it follows paper.ingested
    from there, replaying missed events from the event log, and reads each
    named paper again, in batches, within a second of its event. Workers
    share nothing but PostgreSQL and the bus: start as many as the query
    load needs, and each converges to the same index.

    Serves index.search (the query language of search.h: ranked OR with
    phrases, exclusions, fields, categories and dates; hits with snippets),
    index.similar (papers like a paper) and index.get (papers by id, for the
    gateway and notify).
*/
#include "index.h"
#include "loader.h"
#include "paperbus.h"
#include "pb_paper.h"
#include "pb_paper_queue.h"
#include "search.h"

#include <stdlib.h>
#include <string.h>

#define REREAD_MS 50 //  how long a paper named by an event may wait to be read

typedef struct {
    pb_config_t *config;
    pb_db_t *db;
    index_t *index;
    searcher_t *searcher;
    pb_paper_queue_t *changed; //  papers to read again
} service_t;

/* ==== Following paper.ingested ==== */

//  Reads papers named by paper.ingested again (pb_paper_queue).
static int s_reread (const char *const *ids, size_t count, void *arg)
{
    service_t *self = arg;
    if (loader_refresh (self->db, self->index, ids, count) == 0)
        return 0;
    pb_warn ("re-reading %zu papers failed (%s); trying again", count, pb_db_error (self->db));
    return -1;
}

/* ==== Replies ==== */

//  Splits TEXT at 0x1f into a list in ARENA.
static pb_str_list_t s_list (pb_arena_t *arena, const char *text)
{
    uint32_t count = 0;
    for (const char *c = text; *c; c++)
        count += *c == '\x1f';
    count += *text != '\0';
    pb_str_t *items = pb_arena_alloc (arena, (count + 1) * sizeof *items);
    uint32_t used = 0;
    while (*text) {
        size_t length = strcspn (text, "\x1f");
        if (length)
            items[used++] = (pb_str_t){text, (uint32_t)length};
        text += length + (text[length] == '\x1f');
    }
    return (pb_str_list_t){items, used};
}

//  The hits of RESULT as a reply, with snippets when asked.
static void s_reply_hits (service_t *self, const search_result_t *result, bool snippets,
                          pb_response_t *response)
{
    pb_arena_t *arena = pb_arena_new ();
    pb_index_search_reply_t reply = {0};
    reply.total = (int64_t)result->total;
    reply.total_exact = result->total_exact;
    pb_search_hit_t *hits = pb_arena_alloc (arena, (result->count + 1) * sizeof *hits);
    uint32_t count = 0;
    for (size_t i = 0; i < result->count; i++) {
        index_paper_t paper;
        pb_search_hit_t *hit = &hits[count];
        memset (hit, 0, sizeof *hit);
        if (searcher_paper (self->searcher, result->hits[i].doc, &paper)) {
            pb_error ("document %u could not be unpacked; left out", result->hits[i].doc);
            continue;
        }
        count++;
        hit->id = pb_arena_str (arena, paper.id, strlen (paper.id));
        hit->title = pb_arena_str (arena, paper.title, strlen (paper.title));
        hit->authors =
            s_list (arena, pb_arena_str (arena, paper.authors, strlen (paper.authors)).ptr);
        hit->categories =
            s_list (arena, pb_arena_str (arena, paper.categories, strlen (paper.categories)).ptr);
        const char *day = *paper.published ? paper.published : paper.listed;
        if (strlen (day) >= 10) {
            hit->published = pb_arena_str (arena, day, 10);
            pb_set_present (hit, PB_search_hit_published);
        }
        hit->score = result->hits[i].score;
        if (result->hits[i].pinned) {
            hit->pinned = true;
            pb_set_present (hit, PB_search_hit_pinned);
        }
        if (snippets) {
            char snippet[4096];
            searcher_snippet (self->searcher, result->hits[i].doc, snippet, sizeof snippet);
            hit->snippet = pb_arena_str (arena, snippet, strlen (snippet));
            pb_set_present (hit, PB_search_hit_snippet);
        }
    }
    reply.hits = (pb_list_t){hits, count};
    if (result->note) {
        reply.note = pb_str (result->note);
        pb_set_present (&reply, PB_index_search_reply_note);
    }
    pb_encode (&pb_index_search_reply_schema, &reply, &response->packer);
    pb_arena_destroy (&arena);
}

static int s_search (const pb_request_t *request, pb_response_t *response, void *arg)
{
    service_t *self = arg;
    pb_arena_t *arena = pb_arena_new ();
    pb_index_search_request_t query;
    pb_codec_error_t error;
    int rc = -1;
    if (pb_decode (request->body, request->size, 1 << 16, &pb_index_search_request_schema, &query,
                   arena, &error)) {
        pb_response_error (response, error.code, "%s", error.message);
        goto done;
    }
    search_sort_t sort = SEARCH_RELEVANCE;
    if (pb_has (&query, PB_index_search_request_sort) && !pb_str_eq (query.sort, "relevance")) {
        if (pb_str_eq (query.sort, "date"))
            sort = SEARCH_DATE;
        else if (pb_str_eq (query.sort, "trending"))
            sort = SEARCH_TRENDING;
        else {
            pb_response_error (response, PB_E_INVALID,
                               "sort: '%.*s' is not relevance, date or trending",
                               (int)query.sort.len, query.sort.ptr);
            goto done;
        }
    }
    size_t offset = pb_has (&query, PB_index_search_request_offset) ? (size_t)query.offset : 0;
    size_t limit = pb_has (&query, PB_index_search_request_limit) ? (size_t)query.limit : 10;
    bool snippets = !pb_has (&query, PB_index_search_request_snippets) || query.snippets;
    search_result_t *result = malloc (sizeof *result);
    if (searcher_search (self->searcher, query.query.ptr, query.query.len, sort, offset, limit,
                         result))
        pb_response_error (response,
                           query.query.len > SEARCH_MAX_QUERY ? PB_E_TOO_LARGE : PB_E_INVALID, "%s",
                           result->error);
    else {
        s_reply_hits (self, result, snippets, response);
        rc = 0;
    }
    free (result);
done:
    pb_arena_destroy (&arena);
    return rc;
}

static int s_similar (const pb_request_t *request, pb_response_t *response, void *arg)
{
    service_t *self = arg;
    pb_arena_t *arena = pb_arena_new ();
    pb_index_similar_request_t query;
    pb_codec_error_t error;
    int rc = -1;
    if (pb_decode (request->body, request->size, 1 << 16, &pb_index_similar_request_schema, &query,
                   arena, &error))
        pb_response_error (response, error.code, "%s", error.message);
    else {
        char id[PB_PAPER_ID_MAX + 1];
        pb_paper_id_from (query.id.ptr, query.id.len, id);
        size_t limit = pb_has (&query, PB_index_similar_request_limit) ? (size_t)query.limit : 10;
        search_result_t *result = malloc (sizeof *result);
        if (searcher_similar (self->searcher, id, limit, result))
            pb_response_error (response,
                               index_lookup (self->index, id) < 0 ? PB_E_NOT_FOUND : PB_E_INTERNAL,
                               "%s", result->error);
        else {
            s_reply_hits (self, result, false, response);
            rc = 0;
        }
        free (result);
    }
    pb_arena_destroy (&arena);
    return rc;
}

static void s_optional (pb_arena_t *arena, pb_indexed_paper_t *message, int field, pb_str_t *slot,
                        const char *text)
{
    if (*text) {
        *slot = pb_arena_str (arena, text, strlen (text));
        pb_set_present (message, field);
    }
}

static int s_get (const pb_request_t *request, pb_response_t *response, void *arg)
{
    service_t *self = arg;
    pb_arena_t *arena = pb_arena_new ();
    pb_index_get_request_t query;
    pb_codec_error_t error;
    if (pb_decode (request->body, request->size, 1 << 20, &pb_index_get_request_schema, &query,
                   arena, &error)) {
        pb_response_error (response, error.code, "%s", error.message);
        pb_arena_destroy (&arena);
        return -1;
    }
    uint32_t count = query.ids.count;
    pb_indexed_paper_t *papers = pb_arena_alloc (arena, (count + 1) * sizeof *papers);
    pb_str_t *missing = pb_arena_alloc (arena, (count + 1) * sizeof *missing);
    pb_index_get_reply_t reply = {0};
    reply.papers.items = papers;
    reply.missing.items = missing;
    for (uint32_t i = 0; i < count; i++) {
        char id[PB_PAPER_ID_MAX + 1];
        pb_paper_id_from (query.ids.items[i].ptr, query.ids.items[i].len, id);
        int64_t doc = index_lookup (self->index, id);
        index_paper_t paper;
        if (doc < 0 || searcher_paper (self->searcher, (uint32_t)doc, &paper)) {
            missing[reply.missing.count++] = query.ids.items[i];
            continue;
        }
        pb_indexed_paper_t *out = &papers[reply.papers.count++];
        memset (out, 0, sizeof *out);
        out->id = pb_arena_str (arena, paper.id, strlen (paper.id));
        out->version = paper.version;
        out->title = pb_arena_str (arena, paper.title, strlen (paper.title));
        out->abstract = pb_arena_str (arena, paper.abstract, strlen (paper.abstract));
        out->authors =
            s_list (arena, pb_arena_str (arena, paper.authors, strlen (paper.authors)).ptr);
        out->categories =
            s_list (arena, pb_arena_str (arena, paper.categories, strlen (paper.categories)).ptr);
        s_optional (arena, out, PB_indexed_paper_published, &out->published, paper.published);
        s_optional (arena, out, PB_indexed_paper_updated, &out->updated, paper.updated);
        s_optional (arena, out, PB_indexed_paper_listed, &out->listed, paper.listed);
        s_optional (arena, out, PB_indexed_paper_doi, &out->doi, paper.doi);
        s_optional (arena, out, PB_indexed_paper_comment, &out->comment, paper.comment);
        s_optional (arena, out, PB_indexed_paper_journal_ref, &out->journal_ref, paper.journal_ref);
    }
    pb_encode (&pb_index_get_reply_schema, &reply, &response->packer);
    pb_arena_destroy (&arena);
    return 0;
}

int main (void)
{
    pb_config_t *config = pb_service_start ("index");
    service_t service = {.config = config};
    service.db = pb_db_new (pb_config_str (config, PB_CONF_DATABASE_URL), "index",
                            (int)pb_config_int (config, PB_CONF_DB_CONNECT_TIMEOUT));
    int64_t position = 0;
    service.index = index_new ();
    int64_t started = zclock_mono ();
    if (!service.db || pb_migrate (service.db, pb_migrations, pb_migration_count, NULL) ||
        loader_load (service.db, &service.index, &position)) {
        index_destroy (&service.index);
        pb_db_destroy (&service.db);
        pb_service_finish (&config);
        return 1;
    }
    pb_info ("indexed %zu papers in %lld ms (%.0f MB, %.2f of their text); following "
             "paper.ingested after %lld",
             index_size (service.index), (long long)(zclock_mono () - started),
             index_memory (service.index) / 1e6,
             (double)index_memory (service.index) / (double)(index_raw_bytes (service.index) + 1),
             (long long)position);
    service.searcher = searcher_new (service.index);
    pb_worker_t *worker = pb_worker_new (config, "index");
    pb_worker_handle (worker, "search", s_search, &service);
    pb_worker_handle (worker, "similar", s_similar, &service);
    pb_worker_handle (worker, "get", s_get, &service);
    pb_subscriber_t *subscriber = pb_subscriber_new (config, service.db);
    service.changed = pb_paper_queue_new (s_reread, &service);
    pb_subscriber_follow (subscriber, "paper.ingested", position, pb_paper_queue_on_event,
                          service.changed);
    pb_subscriber_attach (subscriber, pb_worker_loop (worker));
    pb_paper_queue_attach (service.changed, pb_worker_loop (worker), REREAD_MS);
    int rc = pb_worker_run (worker);
    pb_subscriber_destroy (&subscriber);
    pb_worker_destroy (&worker);
    pb_paper_queue_destroy (&service.changed);
    searcher_destroy (&service.searcher);
    index_destroy (&service.index);
    pb_db_destroy (&service.db);
    pb_service_finish (&config);
    return rc == 0 ? 0 : 1;
}
