/*  papers — the lists, a paper, similar papers, search and votes.

    Each answer is put together from two services: rank says which papers
    and how many votes, the index what they are (or the other way round
    for search). Answers for anonymous readers are cached (cache.h); a
    signed-in reader's answer is the same body with their votes laid over
    it by one rank.votes call.
*/
#include "cache.h"
#include "gateway.h"
#include "metrics.h"
#include "pb_json.h"

#include <stdlib.h>
#include <string.h>

#define SIMILAR_DEFAULT 10
#define SIMILAR_MAX     50
#define PER_PAGE        20
#define PER_PAGE_MAX    50
#define PAPER_ID_MAX    128
#define EXCERPT_BYTES   300 //  of an abstract, on a list's card

/* ==== Building blocks ==== */

//  A list of the ids of PAPERS (objects with "id").
static json_t *s_ids (json_t *papers)
{
    json_t *ids = json_array ();
    size_t i;
    json_t *paper;
    json_array_foreach (papers, i, paper) json_array_append (ids, json_object_get (paper, "id"));
    return ids;
}

//  The papers the index holds among IDS (stolen), by id. NULL with
//  RESPONSE answered when the index cannot be asked.
static json_t *s_index_papers (gateway_t *gateway, json_t *ids, gw_response_t *response)
{
    json_t *by_id = json_object ();
    if (json_array_size (ids) == 0) {
        json_decref (ids);
        return by_id;
    }
    json_t *reply = gw_call (gateway, "index.get", json_pack ("{s:o}", "ids", ids), response);
    if (!reply) {
        json_decref (by_id);
        return NULL;
    }
    size_t i;
    json_t *paper;
    json_array_foreach (json_object_get (reply, "papers"), i, paper)
        json_object_set (by_id, json_string_value (json_object_get (paper, "id")), paper);
    json_decref (reply);
    return by_id;
}

//  The start of ABSTRACT for a card in a list: about EXCERPT_BYTES, cut
//  after a word, HTML-escaped like the index's search snippets (which
//  take this field's place in search results).
static json_t *s_excerpt (const char *abstract)
{
    size_t length = strlen (abstract), cut = length;
    if (length > EXCERPT_BYTES) {
        cut = EXCERPT_BYTES;
        while (cut > EXCERPT_BYTES / 2 && abstract[cut] != ' ')
            cut--;
        //  Never in the middle of a UTF-8 sequence.
        while (cut > 0 && ((unsigned char)abstract[cut] & 0xC0) == 0x80)
            cut--;
    }
    char *escaped = malloc (cut * 6 + 4), *out = escaped;
    for (size_t i = 0; i < cut; i++) {
        const char *entity = abstract[i] == '<'   ? "&lt;"
                             : abstract[i] == '>' ? "&gt;"
                             : abstract[i] == '&' ? "&amp;"
                             : abstract[i] == '"' ? "&quot;"
                                                  : NULL;
        if (entity)
            out = stpcpy (out, entity);
        else
            *out++ = abstract[i];
    }
    if (cut < length)
        out = stpcpy (out, "\u2026");
    *out = '\0';
    json_t *excerpt = json_string (escaped);
    free (escaped);
    return excerpt;
}

//  A hit for a ranked paper (id, upvotes, score) and what the index has of
//  it (NULL when it has nothing), with an excerpt of its abstract.
static json_t *s_ranked_hit (json_t *ranked, json_t *paper)
{
    json_t *hit = pb_json_ranked_hit (ranked, paper);
    const char *abstract = json_string_value (json_object_get (paper, "abstract"));
    if (abstract && *abstract)
        json_object_set_new (hit, "snippet", s_excerpt (abstract));
    json_object_set (hit, "voted", json_false ());
    return hit;
}

//  Sets "upvotes" and "voted" of each of HITS from rank, as USER sees them
//  (NULL: nobody). Returns 0, or -1 with RESPONSE answered.
static int s_lay_votes (gateway_t *gateway, json_t *hits, const char *user, gw_response_t *response)
{
    if (json_array_size (hits) == 0)
        return 0;
    json_t *request = json_pack ("{s:o}", "papers", s_ids (hits));
    if (user)
        json_object_set_new (request, "user", json_string (user));
    json_t *reply = gw_call (gateway, "rank.votes", request, response);
    if (!reply)
        return -1;
    json_t *by_id = json_object ();
    size_t i;
    json_t *ranked, *hit;
    json_array_foreach (json_object_get (reply, "papers"), i, ranked)
        json_object_set (by_id, json_string_value (json_object_get (ranked, "id")), ranked);
    json_array_foreach (hits, i, hit)
    {
        ranked = json_object_get (by_id, json_string_value (json_object_get (hit, "id")));
        json_object_set_new (
            hit, "upvotes",
            json_integer (json_integer_value (json_object_get (ranked, "upvotes"))));
        json_object_set_new (hit, "voted",
                             json_boolean (json_is_true (json_object_get (ranked, "voted"))));
        //  A paper on its own has no score yet: its trending score, then.
        if (!json_object_get (hit, "score") && ranked)
            json_object_set (hit, "score", json_object_get (ranked, "score"));
    }
    json_decref (by_id);
    json_decref (reply);
    return 0;
}

//  Reads page and per_page. Returns 0, or -1 with RESPONSE answered.
static int s_page (gw_request_t *request, gw_response_t *response, long *page, long *per_page)
{
    if (gw_int_arg (request, response, "page", 1, 1, GW_PAGE_DEEP, page) ||
        gw_int_arg (request, response, "per_page", PER_PAGE, 1, PER_PAGE_MAX, per_page))
        return -1;
    if (*page * *per_page > GW_PAGE_DEEP) {
        gw_error (response, 422, "invalid", "page: at most %d papers deep (page %ld of %ld)",
                  GW_PAGE_DEEP, *page, *per_page);
        return -1;
    }
    return 0;
}

//  True when TEXT is a day written YYYY-MM-DD.
static bool s_is_day (const char *text)
{
    if (strlen (text) != 10 || text[4] != '-' || text[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (text[i] < '0' || text[i] > '9'))
            return false;
    int month = (text[5] - '0') * 10 + text[6] - '0', day = (text[8] - '0') * 10 + text[9] - '0';
    return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

//  Answers RESPONSE with BODY (stolen) for REQUEST's reader: from the
//  anonymous form, with their votes laid over the papers in FIELD.
static void s_answer (gateway_t *gateway, gw_request_t *request, gw_response_t *response,
                      json_t *body, const char *field)
{
    if (request->user.id[0] &&
        s_lay_votes (gateway, json_object_get (body, field), request->user.id, response)) {
        json_decref (body);
        return;
    }
    gw_json (response, 200, body);
}

//  Serves KEY from the cache to an anonymous reader, or returns the cached
//  body as JSON for a signed-in one. NULL when KEY is not cached.
static json_t *s_cached (gateway_t *gateway, gw_request_t *request, gw_response_t *response,
                         const char *key, bool *served)
{
    size_t size;
    char *text = gw_cache_get (gateway->cache, key, &size);
    *served = false;
    if (!text)
        return NULL;
    gw_metrics_cache_hit (gateway->metrics);
    if (!request->user.id[0]) {
        response->status = 200;
        response->content_type = "application/json; charset=utf-8";
        response->body = text;
        response->size = size;
        *served = true;
        return NULL;
    }
    json_t *body = json_loadb (text, size, 0, NULL);
    free (text);
    return body;
}

static void s_cache_store (gateway_t *gateway, const char *key, json_t *body)
{
    char *text = json_dumps (body, JSON_COMPACT);
    if (text)
        gw_cache_put (gateway->cache, key, text, strlen (text));
    free (text);
}

/* ==== The lists ==== */

//  Builds a page of a list: rank.top, then the index for the papers.
static json_t *s_build_list (gateway_t *gateway, gw_response_t *response, const char *window,
                             const char *date, long page, long per_page)
{
    json_t *top_request =
        json_pack ("{s:s,s:I,s:I}", "window", window, "offset", (json_int_t)((page - 1) * per_page),
                   "limit", (json_int_t)per_page);
    if (date)
        json_object_set_new (top_request, "date", json_string (date));
    json_t *top = gw_call (gateway, "rank.top", top_request, response);
    if (!top)
        return NULL;
    json_t *ranked = json_object_get (top, "papers");
    json_t *papers = s_index_papers (gateway, s_ids (ranked), response);
    if (!papers) {
        json_decref (top);
        return NULL;
    }
    json_t *hits = json_array ();
    size_t i;
    json_t *entry;
    json_array_foreach (ranked, i, entry) json_array_append_new (
        hits, s_ranked_hit (entry, json_object_get (
                                       papers, json_string_value (json_object_get (entry, "id")))));
    json_t *body =
        json_pack ("{s:s,s:I,s:I,s:O,s:o}", "window", window, "page", (json_int_t)page, "per_page",
                   (json_int_t)per_page, "total", json_object_get (top, "total"), "papers", hits);
    json_t *first = json_object_get (top, "first_day"), *last = json_object_get (top, "last_day");
    //  Without a date, rank took today: the window's first day stands for it.
    if (date)
        json_object_set_new (body, "date", json_string (date));
    else if (first)
        json_object_set (body, "date", first);
    if (first)
        json_object_set (body, "first_day", first);
    if (last)
        json_object_set (body, "last_day", last);
    json_decref (papers);
    json_decref (top);
    return body;
}

int gw_papers_list (gateway_t *gateway, gw_request_t *request, gw_response_t *response)
{
    const char *window = gw_arg (request, "window");
    if (!window || !*window)
        window = "trending";
    if (strcmp (window, "day") && strcmp (window, "week") && strcmp (window, "month") &&
        strcmp (window, "trending")) {
        gw_error (response, 422, "invalid", "window: day, week, month or trending");
        return 0;
    }
    const char *date;
    if (gw_text_arg (request, response, "date", 64, &date))
        return 0;
    if (date && *date && !s_is_day (date)) {
        gw_error (response, 422, "invalid", "date: a day written YYYY-MM-DD");
        return 0;
    }
    if (date && !*date)
        date = NULL;
    if (date && strcmp (window, "trending") == 0) {
        gw_error (response, 422, "invalid", "date: trending is always now; give no date");
        return 0;
    }
    long page, per_page;
    if (s_page (request, response, &page, &per_page) ||
        gw_identify (gateway, request, response) < 0)
        return 0;

    char key[128];
    snprintf (key, sizeof key, "papers %s %s %ld %ld", window, date ? date : "-", page, per_page);
    bool served;
    json_t *body = s_cached (gateway, request, response, key, &served);
    if (served)
        return 0;
    if (!body) {
        body = s_build_list (gateway, response, window, date, page, per_page);
        if (!body)
            return 0;
        s_cache_store (gateway, key, body);
    }
    s_answer (gateway, request, response, body, "papers");
    return 0;
}

/* ==== Search ==== */

int gw_search (gateway_t *gateway, gw_request_t *request, gw_response_t *response)
{
    const char *query, *sort;
    if (gw_text_arg (request, response, "q", GW_QUERY_MAX, &query) ||
        gw_text_arg (request, response, "sort", 16, &sort))
        return 0;
    if (!query || !query[strspn (query, " ")]) {
        gw_error (response, 400, "missing_field", "q: the words to search for are missing");
        return 0;
    }
    if (!sort || !*sort)
        sort = "relevance";
    if (strcmp (sort, "relevance") && strcmp (sort, "date") && strcmp (sort, "trending")) {
        gw_error (response, 422, "invalid", "sort: relevance, date or trending");
        return 0;
    }
    long page, per_page;
    if (s_page (request, response, &page, &per_page) ||
        gw_identify (gateway, request, response) < 0)
        return 0;

    char *key = NULL;
    if (asprintf (&key, "search %s %ld %ld %s", sort, page, per_page, query) < 0)
        return 0;
    bool served;
    json_t *body = s_cached (gateway, request, response, key, &served);
    if (!served && !body) {
        json_t *found = gw_call (gateway, "index.search",
                                 json_pack ("{s:s,s:s,s:I,s:I,s:b}", "query", query, "sort", sort,
                                            "offset", (json_int_t)((page - 1) * per_page), "limit",
                                            (json_int_t)per_page, "snippets", 1),
                                 response);
        if (found) {
            json_t *hits = json_object_get (found, "hits");
            if (s_lay_votes (gateway, hits, NULL, response) == 0) {
                body = json_pack ("{s:s,s:s,s:I,s:I,s:O,s:O,s:O}", "query", query, "sort", sort,
                                  "page", (json_int_t)page, "per_page", (json_int_t)per_page,
                                  "total", json_object_get (found, "total"), "total_exact",
                                  json_object_get (found, "total_exact"), "hits", hits);
                if (json_object_get (found, "note"))
                    json_object_set (body, "note", json_object_get (found, "note"));
                s_cache_store (gateway, key, body);
            }
            json_decref (found);
        }
    }
    free (key);
    if (body)
        s_answer (gateway, request, response, body, "hits");
    return 0;
}

/* ==== One paper ==== */

//  Checks the {id} of the route. Returns 0, or -1 with RESPONSE answered.
static int s_paper_id (gw_request_t *request, gw_response_t *response)
{
    size_t length = request->param ? strlen (request->param) : 0;
    if (length == 0 || length > PAPER_ID_MAX) {
        gw_error (response, 404, "not_found", "no paper has an id of %zu bytes", length);
        return -1;
    }
    for (size_t i = 0; i < length; i++)
        if ((unsigned char)request->param[i] < 0x20) {
            gw_error (response, 404, "not_found", "paper ids hold no control characters");
            return -1;
        }
    return 0;
}

//  Links to where the paper lives: arXiv for arXiv ids, doi.org for DOIs.
static json_t *s_links (const char *id)
{
    char *abs = NULL, *pdf = NULL;
    json_t *links = json_object ();
    if (strncmp (id, "doi:", 4) == 0) {
        if (asprintf (&abs, "https://doi.org/%s", id + 4) > 0)
            json_object_set_new (links, "doi", json_string (abs));
    } else if (!strchr (id, ':')) {
        if (asprintf (&abs, "https://arxiv.org/abs/%s", id) > 0)
            json_object_set_new (links, "abs", json_string (abs));
        if (asprintf (&pdf, "https://arxiv.org/pdf/%s", id) > 0)
            json_object_set_new (links, "pdf", json_string (pdf));
    }
    free (abs);
    free (pdf);
    return links;
}

int gw_paper_get (gateway_t *gateway, gw_request_t *request, gw_response_t *response)
{
    if (s_paper_id (request, response) || gw_identify (gateway, request, response) < 0)
        return 0;
    json_t *papers = s_index_papers (gateway, json_pack ("[s]", request->param), response);
    if (!papers)
        return 0;
    //  The index answers by the id it holds, which drops a version suffix.
    const char *key;
    json_t *paper = NULL, *value;
    json_object_foreach (papers, key, value) paper = value;
    if (!paper) {
        json_decref (papers);
        gw_error (response, 404, "not_found", "no paper %s", request->param);
        return 0;
    }
    json_t *body = json_deep_copy (paper);
    json_decref (papers);
    json_object_set_new (body, "links", s_links (json_string_value (json_object_get (body, "id"))));
    json_t *one = json_pack ("[O]", body);
    int rc = s_lay_votes (gateway, one, request->user.id[0] ? request->user.id : NULL, response);
    json_decref (one);
    if (rc) {
        json_decref (body);
        return 0;
    }
    gw_json (response, 200, body);
    return 0;
}

int gw_paper_similar (gateway_t *gateway, gw_request_t *request, gw_response_t *response)
{
    long limit;
    if (s_paper_id (request, response) ||
        gw_int_arg (request, response, "limit", SIMILAR_DEFAULT, 1, SIMILAR_MAX, &limit) ||
        gw_identify (gateway, request, response) < 0)
        return 0;
    json_t *found = gw_call (
        gateway, "index.similar",
        json_pack ("{s:s,s:I}", "id", request->param, "limit", (json_int_t)limit), response);
    if (!found)
        return 0;
    json_t *hits = json_object_get (found, "hits");
    if (s_lay_votes (gateway, hits, request->user.id[0] ? request->user.id : NULL, response) == 0)
        gw_json (response, 200, json_pack ("{s:s,s:O}", "id", request->param, "hits", hits));
    json_decref (found);
    return 0;
}

/* ==== Votes ==== */

static int s_vote (gateway_t *gateway, gw_request_t *request, gw_response_t *response,
                   const char *method)
{
    if (s_paper_id (request, response) || gw_require_user (gateway, request, response))
        return 0;
    json_t *reply = gw_call (
        gateway, method, json_pack ("{s:s,s:s}", "paper", request->param, "user", request->user.id),
        response);
    if (!reply)
        return 0;
    gw_json (response, 200,
             json_pack ("{s:O,s:O,s:O,s:O}", "id", json_object_get (reply, "paper"), "upvotes",
                        json_object_get (reply, "upvotes"), "voted",
                        json_object_get (reply, "voted"), "changed",
                        json_object_get (reply, "changed")));
    json_decref (reply);
    return 0;
}

int gw_vote_cast (gateway_t *gateway, gw_request_t *request, gw_response_t *response)
{
    return s_vote (gateway, request, response, "rank.vote");
}

int gw_vote_withdraw (gateway_t *gateway, gw_request_t *request, gw_response_t *response)
{
    return s_vote (gateway, request, response, "rank.unvote");
}
