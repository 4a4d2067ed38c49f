/*  digest — see digest.h. */
#include "digest.h"

#include <stdlib.h>
#include <string.h>

#define REMEMBER_MS  60000 //  longest an answer is reused
#define TRENDING_MAX 50    //  the trending top asked for once, then sliced
#define SEARCH_SPARE 30    //  hits asked beyond the limit, for papers already sent
#define SEARCH_MAX   100   //  index.search's page limit
#define GET_BATCH    100   //  ids per index.get

//  One remembered search: ids with their days, newest first.
typedef struct {
    size_t count; //  hits
    char **ids;   //  their ids
    char **days;  //  their published days ("" when unknown)
} hits_t;

//  One remembered paper, as a mail shows it.
typedef struct {
    message_paper_t paper; //  strings owned here
    char *storage;         //  one allocation holding them all
} remembered_paper_t;

struct _digest_source_t {
    pb_client_t *client;    //  the bus
    int timeout_ms;         //  per answer
    zhashx_t *searches;     //  query text -> hits_t
    zhashx_t *papers;       //  id -> remembered_paper_t
    hits_t *trending;       //  the trending top, or NULL
    int64_t remembered_at;  //  when the oldest answer was taken (monotonic ms), 0 for none
    msgpack_sbuffer buffer; //  request bodies
};

static void s_hits_destroy (void **item)
{
    hits_t *hits = *item;
    if (!hits)
        return;
    for (size_t i = 0; i < hits->count; i++) {
        free (hits->ids[i]);
        free (hits->days[i]);
    }
    free (hits->ids);
    free (hits->days);
    free (hits);
    *item = NULL;
}

static void s_paper_destroy (void **item)
{
    remembered_paper_t *paper = *item;
    if (!paper)
        return;
    free (paper->storage);
    free (paper);
    *item = NULL;
}

digest_source_t *digest_source_new (pb_client_t *client, int timeout_ms)
{
    digest_source_t *self = calloc (1, sizeof *self);
    self->client = client;
    self->timeout_ms = timeout_ms;
    self->searches = zhashx_new ();
    zhashx_set_destructor (self->searches, s_hits_destroy);
    self->papers = zhashx_new ();
    zhashx_set_destructor (self->papers, s_paper_destroy);
    msgpack_sbuffer_init (&self->buffer);
    return self;
}

void digest_source_destroy (digest_source_t **self_p)
{
    if (!*self_p)
        return;
    digest_source_t *self = *self_p;
    digest_source_forget (self);
    zhashx_destroy (&self->searches);
    zhashx_destroy (&self->papers);
    msgpack_sbuffer_destroy (&self->buffer);
    free (self);
    *self_p = NULL;
}

void digest_source_forget (digest_source_t *self)
{
    zhashx_purge (self->searches);
    zhashx_purge (self->papers);
    void *trending = self->trending;
    s_hits_destroy (&trending);
    self->trending = NULL;
    self->remembered_at = 0;
}

//  Answers older than REMEMBER_MS are all forgotten at once.
static void s_expire (digest_source_t *self)
{
    int64_t now = zclock_mono ();
    if (self->remembered_at && now - self->remembered_at > REMEMBER_MS)
        digest_source_forget (self);
    if (!self->remembered_at)
        self->remembered_at = now;
}

//  Calls METHOD with the message in self->buffer; on success REPLY holds
//  the answer. Returns 0, or the error code with PROBLEM set.
static int s_call (digest_source_t *self, const char *method, pb_reply_t *reply, char *problem,
                   size_t problem_size)
{
    if (pb_client_call (self->client, method, self->buffer.data, self->buffer.size,
                        self->timeout_ms, 1, reply)) {
        snprintf (problem, problem_size, "%s: no answer (%s)", method, reply->error);
        return PB_E_TIMEOUT;
    }
    if (reply->status) {
        snprintf (problem, problem_size, "%s: %s", method, reply->error);
        return reply->status;
    }
    return 0;
}

/* ==== Searches ==== */

//  Asks index.search for QUERY, newest first; remembers and returns it.
static hits_t *s_search (digest_source_t *self, const char *query, size_t limit, char *problem,
                         size_t problem_size)
{
    hits_t *hits = zhashx_lookup (self->searches, query);
    if (hits)
        return hits;
    msgpack_sbuffer_clear (&self->buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &self->buffer, msgpack_sbuffer_write);
    pb_index_search_request_t request = {.query = pb_str (query),
                                         .sort = pb_str ("date"),
                                         .limit = (int64_t)limit,
                                         .snippets = false};
    pb_set_present (&request, PB_index_search_request_sort);
    pb_set_present (&request, PB_index_search_request_limit);
    pb_set_present (&request, PB_index_search_request_snippets);
    pb_encode (&pb_index_search_request_schema, &request, &packer);
    pb_reply_t reply = {0};
    if (s_call (self, "index.search", &reply, problem, problem_size)) {
        pb_reply_reset (&reply);
        return NULL;
    }
    pb_arena_t *arena = pb_arena_new ();
    pb_index_search_reply_t answer;
    pb_codec_error_t error;
    if (pb_decode (zframe_data (reply.body), zframe_size (reply.body), zframe_size (reply.body),
                   &pb_index_search_reply_schema, &answer, arena, &error) == 0) {
        hits = calloc (1, sizeof *hits);
        hits->ids = calloc (answer.hits.count + 1, sizeof *hits->ids);
        hits->days = calloc (answer.hits.count + 1, sizeof *hits->days);
        const pb_search_hit_t *hit = answer.hits.items;
        for (uint32_t i = 0; i < answer.hits.count; i++) {
            hits->ids[i] = pb_str_dup (hit[i].id);
            hits->days[i] = pb_has (&hit[i], PB_search_hit_published)
                                ? pb_str_dup (hit[i].published)
                                : strdup ("");
        }
        hits->count = answer.hits.count;
        zhashx_insert (self->searches, query, hits);
    } else
        snprintf (problem, problem_size, "index.search answered with a bad message: %s",
                  error.message);
    pb_arena_destroy (&arena);
    pb_reply_reset (&reply);
    return hits;
}

//  Appends ` au:"NAME"`-style filters of INTEREST (but the authors) to QUERY.
static void s_query (const digest_interest_t *interest, const char *author, char *query,
                     size_t size)
{
    size_t used = (size_t)snprintf (query, size, "%s", interest->query);
    for (size_t i = 0; i < interest->category_count && used < size; i++)
        used += (size_t)snprintf (query + used, size - used, " cat:%s", interest->categories[i]);
    if (author && used < size)
        used += (size_t)snprintf (query + used, size - used, " au:\"%s\"", author);
    if (interest->since && used < size)
        snprintf (query + used, size - used, " since:%s", interest->since);
}

int digest_source_candidates (digest_source_t *self, const digest_interest_t *interest,
                              pb_arena_t *arena, digest_candidates_t *candidates, char *problem,
                              size_t problem_size)
{
    s_expire (self);
    *candidates = (digest_candidates_t){0};
    if (interest->trending > 0) {
        if (!self->trending) {
            msgpack_sbuffer_clear (&self->buffer);
            msgpack_packer packer;
            msgpack_packer_init (&packer, &self->buffer, msgpack_sbuffer_write);
            pb_top_request_t request = {.window = pb_str ("trending"), .limit = TRENDING_MAX};
            pb_set_present (&request, PB_top_request_limit);
            pb_encode (&pb_top_request_schema, &request, &packer);
            pb_reply_t reply = {0};
            if (s_call (self, "rank.top", &reply, problem, problem_size)) {
                pb_reply_reset (&reply);
                return -1;
            }
            pb_arena_t *scratch = pb_arena_new ();
            pb_top_reply_t answer;
            pb_codec_error_t error;
            int decoded = pb_decode (zframe_data (reply.body), zframe_size (reply.body),
                                     zframe_size (reply.body), &pb_top_reply_schema, &answer,
                                     scratch, &error);
            if (decoded == 0) {
                hits_t *top = calloc (1, sizeof *top);
                top->ids = calloc (answer.papers.count + 1, sizeof *top->ids);
                top->days = calloc (answer.papers.count + 1, sizeof *top->days);
                const pb_ranked_paper_t *ranked = answer.papers.items;
                for (uint32_t i = 0; i < answer.papers.count; i++) {
                    top->ids[i] = pb_str_dup (ranked[i].id);
                    top->days[i] = strdup ("");
                }
                top->count = answer.papers.count;
                self->trending = top;
            } else
                snprintf (problem, problem_size, "rank.top answered with a bad message: %s",
                          error.message);
            pb_arena_destroy (&scratch);
            pb_reply_reset (&reply);
            if (decoded)
                return -1;
        }
        size_t count = (size_t)interest->trending < self->trending->count
                           ? (size_t)interest->trending
                           : self->trending->count;
        candidates->trending = pb_arena_alloc (arena, (count + 1) * sizeof (char *));
        //  Copied: the remembered answers may be forgotten (s_expire) by
        //  the next call, digest_source_papers included.
        for (size_t i = 0; i < count; i++)
            candidates->trending[i] =
                pb_arena_str (arena, self->trending->ids[i], strlen (self->trending->ids[i])).ptr;
        candidates->trending_count = count;
    }
    bool follows = interest->query[0] || interest->category_count || interest->author_count;
    if (!follows)
        return 0;
    //  Authors are alternatives, and au: filters all apply at once: one
    //  search per author, merged newest first.
    size_t searches = interest->author_count ? interest->author_count : 1;
    size_t limit =
        interest->limit + SEARCH_SPARE < SEARCH_MAX ? interest->limit + SEARCH_SPARE : SEARCH_MAX;
    hits_t **found = pb_arena_alloc (arena, searches * sizeof *found);
    size_t *next = pb_arena_alloc (arena, searches * sizeof *next);
    for (size_t s = 0; s < searches; s++) {
        char query[2048];
        s_query (interest, interest->author_count ? interest->authors[s] : NULL, query,
                 sizeof query);
        found[s] = s_search (self, query, limit, problem, problem_size);
        if (!found[s])
            return -1;
        next[s] = 0;
    }
    candidates->matching = pb_arena_alloc (arena, (limit + 1) * sizeof (char *));
    while (candidates->matching_count < limit) {
        //  The newest next hit of all searches, skipping ids already taken.
        size_t best = searches;
        for (size_t s = 0; s < searches; s++)
            if (next[s] < found[s]->count &&
                (best == searches ||
                 strcmp (found[s]->days[next[s]], found[best]->days[next[best]]) > 0))
                best = s;
        if (best == searches)
            break;
        const char *id = found[best]->ids[next[best]++];
        bool taken = false;
        for (size_t i = 0; i < candidates->matching_count && !taken; i++)
            taken = strcmp (candidates->matching[i], id) == 0;
        if (!taken)
            candidates->matching[candidates->matching_count++] =
                pb_arena_str (arena, id, strlen (id)).ptr;
    }
    return 0;
}

/* ==== Papers ==== */

//  Remembers PAPER (from index.get) as a mail shows it.
static void s_remember (digest_source_t *self, const pb_indexed_paper_t *paper)
{
    char *id = pb_str_dup (paper->id);
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    //  Offsets into one buffer: id, title, authors, categories, day, excerpt.
    long offsets[6];
    offsets[0] = ftell (out);
    fprintf (out, "%s%c", id, 0);
    offsets[1] = ftell (out);
    fprintf (out, "%.*s%c", (int)paper->title.len, paper->title.ptr, 0);
    offsets[2] = ftell (out);
    for (uint32_t i = 0; i < paper->authors.count && i < DIGEST_AUTHORS_SHOWN; i++)
        fprintf (out, "%s%.*s", i ? ", " : "", (int)paper->authors.items[i].len,
                 paper->authors.items[i].ptr);
    if (paper->authors.count > DIGEST_AUTHORS_SHOWN)
        fprintf (out, " et al.");
    fputc (0, out);
    offsets[3] = ftell (out);
    for (uint32_t i = 0; i < paper->categories.count; i++)
        fprintf (out, "%s%.*s", i ? ", " : "", (int)paper->categories.items[i].len,
                 paper->categories.items[i].ptr);
    fputc (0, out);
    offsets[4] = ftell (out);
    if (pb_has (paper, PB_indexed_paper_published) && paper->published.len >= 10)
        fprintf (out, "%.10s", paper->published.ptr);
    fputc (0, out);
    offsets[5] = ftell (out);
    //  The abstract's start, cut after a whole word (and a whole UTF-8
    //  character) with an ellipsis.
    size_t cut = paper->abstract.len;
    if (cut > DIGEST_EXCERPT_BYTES) {
        cut = DIGEST_EXCERPT_BYTES;
        while (cut > DIGEST_EXCERPT_BYTES / 2 && paper->abstract.ptr[cut] != ' ')
            cut--;
        while (cut > 0 && ((unsigned char)paper->abstract.ptr[cut] & 0xC0) == 0x80)
            cut--;
    }
    fprintf (out, "%.*s%s", (int)cut, paper->abstract.ptr,
             cut < paper->abstract.len ? " \u2026" : "");
    fputc (0, out);
    fclose (out);
    remembered_paper_t *remembered = calloc (1, sizeof *remembered);
    remembered->storage = text;
    remembered->paper = (message_paper_t){
        .id = text + offsets[0],
        .title = text + offsets[1],
        .authors = text + offsets[2],
        .categories = text + offsets[3],
        .published = text[offsets[4]] ? text + offsets[4] : NULL,
        .excerpt = text + offsets[5],
    };
    zhashx_insert (self->papers, id, remembered);
    free (id);
}

int digest_source_papers (digest_source_t *self, const char *const *ids, size_t count,
                          message_paper_t *papers, char *problem, size_t problem_size)
{
    s_expire (self);
    //  Ask for the ones not remembered, a batch at a time.
    const char *missing[GET_BATCH];
    size_t missing_count = 0;
    for (size_t i = 0; i <= count; i++) {
        if (i < count && !zhashx_lookup (self->papers, ids[i]))
            missing[missing_count++] = ids[i];
        if (missing_count == 0 || (missing_count < GET_BATCH && i < count))
            continue;
        msgpack_sbuffer_clear (&self->buffer);
        msgpack_packer packer;
        msgpack_packer_init (&packer, &self->buffer, msgpack_sbuffer_write);
        pb_str_t items[GET_BATCH];
        for (size_t m = 0; m < missing_count; m++)
            items[m] = pb_str (missing[m]);
        pb_index_get_request_t request = {.ids = {items, (uint32_t)missing_count}};
        pb_encode (&pb_index_get_request_schema, &request, &packer);
        missing_count = 0;
        pb_reply_t reply = {0};
        if (s_call (self, "index.get", &reply, problem, problem_size)) {
            pb_reply_reset (&reply);
            return -1;
        }
        pb_arena_t *arena = pb_arena_new ();
        pb_index_get_reply_t answer;
        pb_codec_error_t error;
        int decoded =
            pb_decode (zframe_data (reply.body), zframe_size (reply.body), zframe_size (reply.body),
                       &pb_index_get_reply_schema, &answer, arena, &error);
        if (decoded == 0) {
            const pb_indexed_paper_t *found = answer.papers.items;
            for (uint32_t p = 0; p < answer.papers.count; p++)
                s_remember (self, &found[p]);
        } else
            snprintf (problem, problem_size, "index.get answered with a bad message: %s",
                      error.message);
        pb_arena_destroy (&arena);
        pb_reply_reset (&reply);
        if (decoded)
            return -1;
    }
    for (size_t i = 0; i < count; i++) {
        remembered_paper_t *remembered = zhashx_lookup (self->papers, ids[i]);
        papers[i] = remembered ? remembered->paper : (message_paper_t){.id = ids[i]};
    }
    return 0;
}

int digest_source_check_query (digest_source_t *self, const char *query, char *problem,
                               size_t problem_size)
{
    msgpack_sbuffer_clear (&self->buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &self->buffer, msgpack_sbuffer_write);
    pb_index_search_request_t request = {.query = pb_str (query), .limit = 0};
    pb_set_present (&request, PB_index_search_request_limit);
    pb_encode (&pb_index_search_request_schema, &request, &packer);
    pb_reply_t reply = {0};
    int rc = s_call (self, "index.search", &reply, problem, problem_size);
    pb_reply_reset (&reply);
    return rc;
}
