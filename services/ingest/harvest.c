/*  harvest — one page at a time, under a lease, cursor and papers together. */
#include "harvest.h"
#include "pb_feed.h"
#include "pb_http.h"
#include "records.h"
#include "store.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#define API_PAGE_SIZE    100 //  entries asked of the query API per request
#define EMPTY_PAGE_LIMIT 3   //  empty pages in a row mid-listing before giving up
#define SCHEDULE_EVERY   10  //  ticks between two looks at the schedule

typedef struct {
    pb_config_t *config;       //  settings (not owned)
    char owner[64];            //  this worker's name in leases
    pb_db_t *db;               //  the harvest and paper tables
    pb_publisher_t *publisher; //  paper.ingested after commit
    pb_http_t *http;           //  one connection at a time
    int64_t interval_ms;       //  between two requests of a harvest
    int64_t lease_ms;          //  how long a lease lasts unrenewed
} harvester_t;

//  A harvest as claimed from its row.
typedef struct {
    char source[129];   //  "oai:cs.LG"
    char kind[8];       //  "oai" or "api"
    char base_url[513]; //  endpoint
    char query[129];    //  set or search query
    char since[11];     //  "" or YYYY-MM-DD
    char cursor[513];   //  token or start index
    int empty_pages;    //  empty pages in a row so far
} claim_t;

//  What a page leads to, written with the page's papers.
typedef struct {
    harvester_t *self;  //  for the lease owner and interval
    const char *source; //  the harvest
    char cursor[513];   //  where to go on from
    const char *state;  //  running, done or failed
    int64_t papers;     //  records read from the page
    int empty_pages;    //  empty pages in a row now
    char error[512];    //  last_error, or ""
    bool lease_lost;    //  another worker took over meanwhile
} advance_t;

void harvest_oai_set (const char *category, char *set)
{
    static const char *const groups[] = {"cs",      "econ",  "eess",  "math",
                                         "physics", "q-bio", "q-fin", "stat"};
    const char *dot = strchr (category, '.');
    if (dot) {
        int archive = (int)(dot - category);
        snprintf (set, 96, "%.*s:%.*s:%s", archive, category, archive, category, dot + 1);
        return;
    }
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
        if (strcmp (category, groups[i]) == 0) {
            snprintf (set, 96, "%s", category);
            return;
        }
    snprintf (set, 96, "physics:%s", category);
}

/* ==== Leases ==== */

static const char *const CLAIM_SQL =
    "UPDATE harvest SET lease_owner = $1, lease_until = now () + $2 * interval '1 millisecond',"
    "  state = 'running', updated_at = now ()"
    " WHERE source = (SELECT source FROM harvest"
    "  WHERE state IN ('pending', 'running') AND next_at <= now ()"
    "   AND (lease_until IS NULL OR lease_until < now () OR lease_owner = $1)"
    "  ORDER BY next_at LIMIT 1 FOR UPDATE SKIP LOCKED)"
    " RETURNING source, kind, base_url, query, coalesce (since::text, ''), cursor, empty_pages";

static int s_claim (harvester_t *self, claim_t *claim)
{
    pb_db_params_t params = {0};
    pb_db_params_text (&params, self->owner);
    pb_db_params_int (&params, self->lease_ms);
    PGresult *result = pb_db_query (self->db, CLAIM_SQL, &params);
    if (!result)
        return -1;
    int found = PQntuples (result) == 1;
    if (found) {
        snprintf (claim->source, sizeof claim->source, "%s", PQgetvalue (result, 0, 0));
        snprintf (claim->kind, sizeof claim->kind, "%s", PQgetvalue (result, 0, 1));
        snprintf (claim->base_url, sizeof claim->base_url, "%s", PQgetvalue (result, 0, 2));
        snprintf (claim->query, sizeof claim->query, "%s", PQgetvalue (result, 0, 3));
        snprintf (claim->since, sizeof claim->since, "%s", PQgetvalue (result, 0, 4));
        snprintf (claim->cursor, sizeof claim->cursor, "%s", PQgetvalue (result, 0, 5));
        claim->empty_pages = atoi (PQgetvalue (result, 0, 6));
    }
    PQclear (result);
    return found ? 1 : 0;
}

//  Moves the harvest on, in the transaction that stores the page. It
//  commits only while this worker still holds the lease.
static int s_advance (pb_db_t *db, void *arg)
{
    advance_t *advance = arg;
    pb_db_params_t params = {0};
    pb_db_params_text (&params, advance->source);
    pb_db_params_text (&params, advance->self->owner);
    pb_db_params_text (&params, advance->cursor);
    pb_db_params_text (&params, advance->state);
    pb_db_params_int (&params, advance->papers);
    pb_db_params_int (&params, advance->empty_pages);
    pb_db_params_text (&params, advance->error[0] ? advance->error : NULL);
    pb_db_params_int (&params, advance->self->interval_ms);
    pb_db_params_int (&params, advance->self->lease_ms);
    int64_t rows = pb_db_run (
        db,
        "UPDATE harvest SET cursor = $3, state = $4, pages = pages + 1, papers = papers + $5,"
        " empty_pages = $6, last_error = $7,"
        " next_at = now () + $8 * interval '1 millisecond',"
        " lease_until = now () + $9 * interval '1 millisecond', updated_at = now ()"
        " WHERE source = $1 AND lease_owner = $2",
        &params);
    if (rows == 0)
        advance->lease_lost = true;
    return rows == 1 ? 0 : -1;
}

//  Leaves the cursor alone but notes why this page did not work, and waits
//  longer before trying again.
static void s_delay (harvester_t *self, const char *source, const char *state, const char *why)
{
    pb_db_params_t params = {0};
    pb_db_params_text (&params, source);
    pb_db_params_text (&params, self->owner);
    pb_db_params_text (&params, state);
    pb_db_params_text (&params, why);
    pb_db_params_int (&params, self->interval_ms * 10 + 1000);
    pb_db_run (self->db,
               "UPDATE harvest SET state = $3, last_error = $4, updated_at = now (),"
               " next_at = now () + $5 * interval '1 millisecond'"
               " WHERE source = $1 AND lease_owner = $2",
               &params);
    pb_warn ("harvest %s: %s", source, why);
}

/* ==== One page ==== */

typedef struct {
    record_t *records; //  read from the page
    size_t count;      //  how many
    size_t capacity;   //  allocated
    int64_t read;      //  records seen, rejected ones included
} page_t;

static void s_page_paper (const void *data, size_t size, void *arg)
{
    page_t *page = arg;
    page->read++;
    if (page->count == page->capacity) {
        page->capacity = page->capacity ? page->capacity * 2 : 128;
        page->records = realloc (page->records, page->capacity * sizeof *page->records);
    }
    char position[257], reason[512];
    if (record_from_msgpack (data, size, &page->records[page->count], position, reason) == 0)
        page->count++;
    else
        pb_debug ("harvest: rejected %s: %s", position, reason);
}

static void s_page_reject (const char *position, const char *reason, void *arg)
{
    page_t *page = arg;
    page->read++;
    pb_debug ("harvest: rejected %s: %s", position, reason);
}

static char *s_url (harvester_t *self, const claim_t *claim)
{
    //  curl_easy_escape needs no handle (libcurl 7.82 and later).
    CURL *curl = NULL;
    char *url = NULL;
    if (strcmp (claim->kind, "oai") == 0) {
        char *token = curl_easy_escape (curl, claim->cursor, 0);
        char *set = curl_easy_escape (curl, claim->query, 0);
        if (*claim->cursor)
            (void)!asprintf (&url, "%s?verb=ListRecords&resumptionToken=%s", claim->base_url,
                             token);
        else
            (void)!asprintf (&url, "%s?verb=ListRecords&metadataPrefix=arXiv&set=%s%s%s",
                             claim->base_url, set, *claim->since ? "&from=" : "", claim->since);
        curl_free (token);
        curl_free (set);
    } else {
        char *query = curl_easy_escape (curl, claim->query, 0);
        (void)!asprintf (&url,
                         "%s?search_query=%s&start=%s&max_results=%d"
                         "&sortBy=submittedDate&sortOrder=ascending",
                         claim->base_url, query, *claim->cursor ? claim->cursor : "0",
                         API_PAGE_SIZE);
        curl_free (query);
    }
    (void)self;
    return url;
}

//  Fetches and stores the next page of CLAIM.
static void s_harvest_page (harvester_t *self, const claim_t *claim)
{
    char *url = s_url (self, claim);
    pb_http_response_t response;
    char error[512];
    if (pb_http_get (self->http, url, &response, error, sizeof error)) {
        s_delay (self, claim->source, "running", error);
        free (url);
        return;
    }
    if (response.status != 200 && !(response.status == 400 && strcmp (claim->kind, "api") == 0)) {
        snprintf (error, sizeof error, "%s answered HTTP %ld", url, response.status);
        s_delay (self, claim->source, "running", error);
        free (response.body);
        free (url);
        return;
    }
    page_t page = {0};
    pb_feed_page_t info = {.total_results = -1, .complete_list_size = -1};
    pb_feed_sink_t sink = {s_page_paper, s_page_reject, &page, &info};
    long parsed = pb_feed_parse (url, response.body, response.size, &sink, error, sizeof error);
    free (response.body);
    advance_t advance = {.self = self, .source = claim->source, .state = "running"};
    if (parsed >= 0 && info.errors > 0) {
        //  The API answered with an error entry: the listing cannot go on.
        snprintf (error, sizeof error, "%s: the arXiv API answered with an error", url);
        s_delay (self, claim->source, "failed", error);
    } else if (parsed < 0) {
        //  An OAI-PMH error (a bad token) will not mend by itself; a page
        //  that is not a feed at all (an error page) may.
        bool permanent = strstr (error, "OAI-PMH server answered") != NULL;
        s_delay (self, claim->source, permanent ? "failed" : "running", error);
    } else {
        advance.papers = page.read;
        if (strcmp (claim->kind, "oai") == 0) {
            snprintf (advance.cursor, sizeof advance.cursor, "%s", info.resumption_token);
            advance.state = *info.resumption_token ? "running" : "done";
        } else {
            long start = atol (claim->cursor);
            if (info.entries > 0) {
                snprintf (advance.cursor, sizeof advance.cursor, "%ld", start + info.entries);
                advance.state =
                    info.total_results >= 0 && start + info.entries >= info.total_results
                        ? "done"
                        : "running";
            } else if (info.total_results > start) {
                //  arXiv sometimes answers an empty page in the middle of a
                //  listing: ask again rather than take it for the end.
                snprintf (advance.cursor, sizeof advance.cursor, "%ld", start);
                advance.empty_pages = claim->empty_pages + 1;
                if (advance.empty_pages >= EMPTY_PAGE_LIMIT) {
                    advance.state = "failed";
                    snprintf (advance.error, sizeof advance.error,
                              "%d empty pages in a row at %ld of %ld results", EMPTY_PAGE_LIMIT,
                              start, info.total_results);
                } else
                    snprintf (advance.error, sizeof advance.error,
                              "an empty page at %ld of %ld results; asking again", start,
                              info.total_results);
            } else {
                snprintf (advance.cursor, sizeof advance.cursor, "%ld", start);
                advance.state = "done";
            }
        }
        store_change_t *changes = calloc (page.count + 1, sizeof *changes);
        store_event_t *events = NULL;
        size_t event_count = 0;
        char source[80];
        snprintf (source, sizeof source, "harvest:%s", claim->kind);
        if (store_batch (self->db, source, page.records, page.count, changes, &events, &event_count,
                         s_advance, &advance) == 0) {
            for (size_t e = 0; e < event_count; e++)
                pb_publisher_send (self->publisher, events[e].topic, events[e].seq,
                                   events[e].body.data, events[e].body.size);
            pb_info ("harvest %s: page stored (%zu papers, %zu changed), %s", claim->source,
                     page.count, event_count, advance.state);
        } else if (advance.lease_lost)
            pb_warn ("harvest %s: another worker took the lease; page dropped", claim->source);
        else
            s_delay (self, claim->source, "running", "the page could not be stored; later");
        store_events_free (&events, event_count);
        free (changes);
    }
    for (size_t r = 0; r < page.count; r++)
        record_reset (&page.records[r]);
    free (page.records);
    free (url);
}

/* ==== Schedule ==== */

//  Each scheduled category gets a harvest row; a finished one starts again,
//  from the day before it last ran, once PAPERBUS_HARVEST_EVERY_S has passed.
static void s_schedule (harvester_t *self)
{
    const char *categories = pb_config_str (self->config, PB_CONF_HARVEST_CATEGORIES);
    if (strcmp (categories, "none") == 0)
        return;
    char *list = strdup (categories);
    char *save = NULL;
    for (char *category = strtok_r (list, ", ", &save); category;
         category = strtok_r (NULL, ", ", &save)) {
        char source[160], set[96];
        snprintf (source, sizeof source, "oai:%s", category);
        harvest_oai_set (category, set);
        pb_db_params_t params = {0};
        pb_db_params_text (&params, source);
        pb_db_params_text (&params, pb_config_str (self->config, PB_CONF_ARXIV_OAI_URL));
        pb_db_params_text (&params, set);
        pb_db_params_int (&params, pb_config_int (self->config, PB_CONF_HARVEST_EVERY_S));
        pb_db_run (
            self->db,
            "INSERT INTO harvest AS h (source, kind, base_url, query) VALUES ($1, 'oai', $2, $3)"
            " ON CONFLICT (source) DO UPDATE SET state = 'pending', cursor = '', pages = 0,"
            "  papers = 0, since = (h.updated_at - interval '1 day')::date,"
            "  next_at = now (), updated_at = now ()"
            " WHERE h.state = 'done' AND h.updated_at < now () - $4 * interval '1 second'",
            &params);
    }
    free (list);
}

/* ==== The thread ==== */

typedef struct {
    pb_config_t *config; //  settings
    char owner[64];      //  lease owner name
} harvester_args_t;

static void s_harvester (zsock_t *pipe, void *arg)
{
    harvester_args_t *args = arg;
    harvester_t self = {.config = args->config};
    snprintf (self.owner, sizeof self.owner, "%s", args->owner);
    free (args);
    self.interval_ms = pb_config_int (self.config, PB_CONF_HARVEST_INTERVAL_MS);
    self.lease_ms = pb_config_int (self.config, PB_CONF_HARVEST_LEASE_MS);
    self.db = pb_db_new (pb_config_str (self.config, PB_CONF_DATABASE_URL), "ingest-harvest",
                         (int)pb_config_int (self.config, PB_CONF_DB_CONNECT_TIMEOUT));
    self.publisher = pb_publisher_new (self.config);
    self.http = pb_http_new (self.config);
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, NULL);
    int tick_ms =
        (int)(self.interval_ms < 200 ? (self.interval_ms > 10 ? self.interval_ms : 10) : 200);
    for (int tick = 0; self.db && self.publisher && self.http; tick++) {
        zsock_t *which = zpoller_wait (poller, tick_ms);
        if (which == pipe || zpoller_terminated (poller))
            break; //  $TERM from the main thread, or SIGTERM
        if (tick % SCHEDULE_EVERY == 0)
            s_schedule (&self);
        claim_t claim;
        if (s_claim (&self, &claim) == 1)
            s_harvest_page (&self, &claim);
    }
    zpoller_destroy (&poller);
    pb_http_destroy (&self.http);
    pb_publisher_destroy (&self.publisher);
    pb_db_destroy (&self.db);
}

zactor_t *harvester_new (pb_config_t *config, const char *owner)
{
    harvester_args_t *args = calloc (1, sizeof *args);
    args->config = config;
    snprintf (args->owner, sizeof args->owner, "%s", owner);
    return zactor_new (s_harvester, args);
}
