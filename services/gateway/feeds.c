/*  feeds — Atom (RFC 4287) feeds of trending papers and of a saved search,
    so readers can follow them in any feed reader.

    Written with libxml2's text writer, which escapes what needs escaping;
    characters XML 1.0 cannot carry at all (most control characters) are
    dropped first, so a hostile title cannot break the document.
*/
#include "cache.h"
#include "gateway.h"
#include "metrics.h"

#include <curl/curl.h>
#include <libxml/xmlwriter.h>
#include <string.h>
#include <time.h>

#define FEED_PAPERS  50
#define FEED_AUTHORS 20 //  authors named per entry
#define ATOM_NS      "http://www.w3.org/2005/Atom"

//  TEXT without the characters XML 1.0 forbids (C0 controls but tab, LF, CR).
static char *s_xml_clean (const char *text)
{
    size_t length = strlen (text);
    char *clean = malloc (length + 1), *out = clean;
    for (const char *in = text; *in; in++)
        if ((unsigned char)*in >= 0x20 || *in == '\t' || *in == '\n' || *in == '\r')
            *out++ = *in;
    *out = '\0';
    return clean;
}

static void s_element (xmlTextWriterPtr writer, const char *name, const char *text)
{
    char *clean = s_xml_clean (text ? text : "");
    xmlTextWriterWriteElement (writer, BAD_CAST name, BAD_CAST clean);
    free (clean);
}

static void s_link (xmlTextWriterPtr writer, const char *rel, const char *type, const char *href)
{
    xmlTextWriterStartElement (writer, BAD_CAST "link");
    xmlTextWriterWriteAttribute (writer, BAD_CAST "rel", BAD_CAST rel);
    if (type)
        xmlTextWriterWriteAttribute (writer, BAD_CAST "type", BAD_CAST type);
    char *clean = s_xml_clean (href);
    xmlTextWriterWriteAttribute (writer, BAD_CAST "href", BAD_CAST clean);
    free (clean);
    xmlTextWriterEndElement (writer);
}

//  FIELD of PAPER (the index's "YYYY-MM-DD HH:MM:SS+00"), else when it was
//  published or listed, as RFC 3339; FALLBACK when none is there.
static void s_timestamp (json_t *paper, const char *field, const char *fallback, char out[32])
{
    //  A paper never updated was last changed when it appeared.
    const char *text = json_string_value (json_object_get (paper, field));
    if (!text)
        text = json_string_value (json_object_get (paper, "published"));
    if (!text)
        text = json_string_value (json_object_get (paper, "listed"));
    if (text && strlen (text) >= 19)
        snprintf (out, 32, "%.10sT%.8sZ", text, text + 11);
    else if (text && strlen (text) >= 10)
        snprintf (out, 32, "%.10sT00:00:00Z", text);
    else
        snprintf (out, 32, "%s", fallback);
}

static void s_entry (gateway_t *gateway, xmlTextWriterPtr writer, json_t *paper, const char *now)
{
    const char *id = json_string_value (json_object_get (paper, "id"));
    //  Percent-encoded by libcurl (unreserved bytes kept; the handle is unused).
    char *encoded = curl_easy_escape (NULL, id, 0);
    char *page = NULL, *arxiv = NULL;
    if (asprintf (&page, "%s/papers/%s", gateway->public_url, encoded) < 0)
        page = NULL;
    char updated[32], published[32];
    s_timestamp (paper, "updated", now, updated);
    s_timestamp (paper, "published", updated, published);

    xmlTextWriterStartElement (writer, BAD_CAST "entry");
    s_element (writer, "id", page);
    s_element (writer, "title", json_string_value (json_object_get (paper, "title")));
    s_element (writer, "updated", updated);
    s_element (writer, "published", published);
    size_t i;
    json_t *author;
    json_array_foreach (json_object_get (paper, "authors"), i, author)
    {
        if (i == FEED_AUTHORS)
            break;
        xmlTextWriterStartElement (writer, BAD_CAST "author");
        s_element (writer, "name", json_string_value (author));
        xmlTextWriterEndElement (writer);
    }
    s_link (writer, "alternate", "text/html", page);
    if (!strchr (id, ':') && asprintf (&arxiv, "https://arxiv.org/abs/%s", id) > 0)
        s_link (writer, "related", "text/html", arxiv);
    json_t *category;
    json_array_foreach (json_object_get (paper, "categories"), i, category)
    {
        xmlTextWriterStartElement (writer, BAD_CAST "category");
        char *clean = s_xml_clean (json_string_value (category));
        xmlTextWriterWriteAttribute (writer, BAD_CAST "term", BAD_CAST clean);
        free (clean);
        xmlTextWriterEndElement (writer);
    }
    s_element (writer, "summary", json_string_value (json_object_get (paper, "abstract")));
    xmlTextWriterEndElement (writer);
    curl_free (encoded);
    free (page);
    free (arxiv);
}

//  Writes the feed of PAPERS (index.get papers, in order) into RESPONSE.
static void s_feed (gateway_t *gateway, gw_response_t *response, const char *title,
                    const char *self_url, json_t *papers)
{
    char now[32];
    time_t seconds = time (NULL);
    struct tm tm;
    gmtime_r (&seconds, &tm);
    strftime (now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", &tm);

    xmlBufferPtr buffer = xmlBufferCreate ();
    xmlTextWriterPtr writer = xmlNewTextWriterMemory (buffer, 0);
    xmlTextWriterStartDocument (writer, NULL, "UTF-8", NULL);
    xmlTextWriterStartElementNS (writer, NULL, BAD_CAST "feed", BAD_CAST ATOM_NS);
    s_element (writer, "id", self_url);
    s_element (writer, "title", title);
    //  The feed changed when its newest entry did.
    char newest[32];
    snprintf (newest, sizeof newest, "1970-01-01T00:00:00Z");
    size_t i;
    json_t *paper;
    json_array_foreach (papers, i, paper)
    {
        char updated[32];
        s_timestamp (paper, "updated", now, updated);
        if (strcmp (updated, newest) > 0)
            memcpy (newest, updated, sizeof newest);
    }
    s_element (writer, "updated", json_array_size (papers) ? newest : now);
    s_link (writer, "self", "application/atom+xml", self_url);
    char *home = NULL;
    if (asprintf (&home, "%s/", gateway->public_url) > 0)
        s_link (writer, "alternate", "text/html", home);
    free (home);
    s_element (writer, "generator", "paperbus");
    json_array_foreach (papers, i, paper) s_entry (gateway, writer, paper, now);
    xmlTextWriterEndDocument (writer);
    xmlFreeTextWriter (writer);

    response->status = 200;
    response->content_type = "application/atom+xml; charset=utf-8";
    response->size = (size_t)xmlBufferLength (buffer);
    response->body = malloc (response->size + 1);
    memcpy (response->body, xmlBufferContent (buffer), response->size);
    response->body[response->size] = '\0';
    response->cache_control = "public, max-age=60";
    xmlBufferFree (buffer);
}

//  Serves KEY from the cache. True when it did.
static bool s_from_cache (gateway_t *gateway, gw_response_t *response, const char *key)
{
    size_t size;
    char *body = gw_cache_get (gateway->cache, key, &size);
    if (!body)
        return false;
    gw_metrics_cache_hit (gateway->metrics);
    response->status = 200;
    response->content_type = "application/atom+xml; charset=utf-8";
    response->cache_control = "public, max-age=60";
    response->body = body;
    response->size = size;
    return true;
}

//  The papers the index holds among IDS (stolen), in the order of IDS.
//  NULL with RESPONSE answered when the index cannot be asked.
static json_t *s_papers_in_order (gateway_t *gateway, json_t *ids, gw_response_t *response)
{
    if (json_array_size (ids) == 0) {
        json_decref (ids);
        return json_array ();
    }
    json_t *reply = gw_call (gateway, "index.get", json_pack ("{s:o}", "ids", ids), response);
    if (!reply)
        return NULL;
    json_t *papers = json_incref (json_object_get (reply, "papers"));
    json_decref (reply);
    return papers;
}

int gw_feed_trending (gateway_t *gateway, gw_request_t *request, gw_response_t *response)
{
    (void)request;
    const char *key = "feed trending";
    if (s_from_cache (gateway, response, key))
        return 0;
    json_t *top =
        gw_call (gateway, "rank.top",
                 json_pack ("{s:s,s:i}", "window", "trending", "limit", FEED_PAPERS), response);
    if (!top)
        return 0;
    json_t *ids = json_array ();
    size_t i;
    json_t *ranked;
    json_array_foreach (json_object_get (top, "papers"), i, ranked)
        json_array_append (ids, json_object_get (ranked, "id"));
    json_decref (top);
    json_t *papers = s_papers_in_order (gateway, ids, response);
    if (!papers)
        return 0;
    char *self_url = NULL;
    if (asprintf (&self_url, "%s/feeds/trending.atom", gateway->public_url) > 0) {
        s_feed (gateway, response, "paperbus: trending papers", self_url, papers);
        gw_cache_put (gateway->cache, key, response->body, response->size);
    }
    free (self_url);
    json_decref (papers);
    return 0;
}

int gw_feed_search (gateway_t *gateway, gw_request_t *request, gw_response_t *response)
{
    const char *query;
    if (gw_text_arg (request, response, "q", GW_QUERY_MAX, &query))
        return 0;
    if (!query || !query[strspn (query, " ")]) {
        gw_error (response, 400, "missing_field", "q: the words to search for are missing");
        return 0;
    }
    char *key = NULL;
    if (asprintf (&key, "feed search %s", query) < 0)
        return 0;
    if (s_from_cache (gateway, response, key)) {
        free (key);
        return 0;
    }
    json_t *found = gw_call (gateway, "index.search",
                             json_pack ("{s:s,s:s,s:i,s:b}", "query", query, "sort", "date",
                                        "limit", FEED_PAPERS, "snippets", 0),
                             response);
    json_t *papers = NULL;
    if (found) {
        json_t *ids = json_array ();
        size_t i;
        json_t *hit;
        json_array_foreach (json_object_get (found, "hits"), i, hit)
            json_array_append (ids, json_object_get (hit, "id"));
        json_decref (found);
        papers = s_papers_in_order (gateway, ids, response);
    }
    if (papers) {
        char *encoded = curl_easy_escape (NULL, query, 0), *self_url = NULL, *title = NULL;
        if (asprintf (&self_url, "%s/feeds/search.atom?q=%s", gateway->public_url, encoded) > 0 &&
            asprintf (&title, "paperbus: %s", query) > 0) {
            s_feed (gateway, response, title, self_url, papers);
            gw_cache_put (gateway->cache, key, response->body, response->size);
        }
        curl_free (encoded);
        free (self_url);
        free (title);
        json_decref (papers);
    }
    free (key);
    return 0;
}
