/*  pb_feed — JSON sources into paper messages, with jansson. */
#include "pb_feed.h"
#include "pb_codec.h"
#include "pb_paper.h"
#include "pb_proto.h"

#include <ctype.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_LIST        10000 //  authors or categories kept per paper
#define MAX_XML_AUTHORS 2000  //  authors kept per paper from XML sources

/* ==== Detection ==== */

static const char *s_skip_space (const char *data, size_t size, size_t *left)
{
    size_t i = 0;
    if (size >= 3 && memcmp (data, "\xef\xbb\xbf", 3) == 0)
        i = 3; //  a UTF-8 byte order mark
    while (i < size && isspace ((unsigned char)data[i]))
        i++;
    *left = size - i;
    return data + i;
}

//  True when NEEDLE occurs in the first WINDOW bytes of DATA.
static bool s_within (const char *data, size_t size, size_t window, const char *needle)
{
    size_t length = strlen (needle);
    size_t limit = size < window ? size : window;
    for (size_t i = 0; i + length <= limit; i++)
        if (strncasecmp (data + i, needle, length) == 0)
            return true;
    return false;
}

pb_feed_format_t pb_feed_detect (const char *data, size_t size)
{
    size_t left;
    const char *start = s_skip_space (data, size, &left);
    if (left == 0)
        return PB_FEED_UNKNOWN;
    if (*start == '{') {
        //  A recorded response is one object with these keys, usually first.
        if (s_within (start, left, 512, "\"status_code\"") &&
            s_within (start, left, 512, "\"url\""))
            return PB_FEED_RECORDED;
        return PB_FEED_JSON_LINES;
    }
    if (*start == '[')
        return s_within (start, left, 4096, "\"paper\"") ? PB_FEED_HF_DAILY : PB_FEED_UNKNOWN;
    if (*start == '<') {
        if (s_within (start, left, 2048, "<html") || s_within (start, left, 2048, "<!doctype html"))
            return PB_FEED_HTML;
        if (s_within (start, left, 4096, "<OAI-PMH"))
            return PB_FEED_OAI;
        if (s_within (start, left, 4096, "<rss") || s_within (start, left, 4096, "<rdf:RDF"))
            return PB_FEED_RSS;
        //  Anything else in angle brackets goes to the XML parser, whose
        //  root element decides (or whose error says what is wrong).
        return PB_FEED_ATOM;
    }
    return PB_FEED_UNKNOWN;
}

const char *pb_feed_source (pb_feed_format_t format)
{
    switch (format) {
    case PB_FEED_HF_DAILY:
        return "hf";
    case PB_FEED_ATOM:
        return "atom";
    case PB_FEED_OAI:
        return "oai";
    case PB_FEED_RSS:
        return "rss";
    case PB_FEED_RECORDED:
        return "recorded";
    default:
        return "jsonl";
    }
}

/* ==== One paper ==== */

//  Builds and emits one paper message; the strings stay owned by the JSON.
typedef struct {
    pb_paper_t paper;                     //  what is being filled
    pb_str_t authors[MAX_LIST];           //  storage for paper.authors
    pb_str_t categories[64];              //  storage for paper.categories
    char *author_text;                    //  "A, B and C" split in place, owned
    char *category_text;                  //  "cs.LG stat.ML" split in place, owned
    xmlChar *owned[64 + MAX_XML_AUTHORS]; //  XML texts the paper points into
    size_t owned_count;                   //  how many
} builder_t;

static void s_set_str (builder_t *b, int field, pb_str_t *slot, json_t *value)
{
    if (json_is_string (value) && json_string_length (value)) {
        *slot = (pb_str_t){json_string_value (value), (uint32_t)json_string_length (value)};
        pb_set_present (&b->paper, field);
    }
}

//  The first of several names a field goes by.
static json_t *s_get (json_t *object, const char *first, const char *second)
{
    json_t *value = json_object_get (object, first);
    return value || !second ? value : json_object_get (object, second);
}

static void s_split_list (char *text, const char *separators, pb_str_t *items, size_t max,
                          uint32_t *count)
{
    *count = 0;
    char *save = NULL;
    for (char *token = strtok_r (text, separators, &save); token && *count < max;
         token = strtok_r (NULL, separators, &save)) {
        while (*token == ' ')
            token++;
        size_t length = strlen (token);
        while (length && token[length - 1] == ' ')
            token[--length] = '\0';
        if (strncmp (token, "and ", 4) == 0) {
            token += 4;
            length -= 4;
        }
        if (length)
            items[(*count)++] = (pb_str_t){token, (uint32_t)length};
    }
}

//  Splits "A, B and C" (Kaggle, arXivRaw) in place into ITEMS.
static void s_split_names (char *text, pb_str_t *items, size_t max, uint32_t *count)
{
    for (char *c = text; *c; c++)
        if (*c == '\n' || *c == '\t')
            *c = ' ';
    for (char *and = strstr (text, " and "); and; and = strstr (and, " and "))
        memcpy (and, ",    ", 5);
    s_split_list (text, ",", items, max, count);
}

//  Authors: an array of strings, an array of {"name": ...}, or one string
//  "A, B and C" (Kaggle), which Kaggle's authors_parsed spells out better.
static void s_authors (builder_t *b, json_t *record)
{
    json_t *authors = s_get (record, "authors", NULL);
    uint32_t count = 0;
    if (json_is_array (authors)) {
        size_t index;
        json_t *item;
        json_array_foreach (authors, index, item)
        {
            if (count == MAX_LIST)
                break;
            json_t *name = json_is_object (item) ? json_object_get (item, "name") : item;
            if (json_is_string (name) && json_string_length (name))
                b->authors[count++] =
                    (pb_str_t){json_string_value (name), (uint32_t)json_string_length (name)};
        }
    } else if (json_is_string (authors)) {
        b->author_text = strdup (json_string_value (authors));
        s_split_names (b->author_text, b->authors, MAX_LIST, &count);
    }
    if (count) {
        b->paper.authors = (pb_str_list_t){b->authors, count};
        pb_set_present (&b->paper, PB_paper_authors);
    }
}

//  True when TEXT (LENGTH bytes) looks like an arXiv category ("cs.LG",
//  "hep-th", "cond-mat.str-el"). Some sources mix MSC or ACM classes
//  ("68T09, 68T50", "I.2; H.3") into the list; those are not kept.
static bool s_arxiv_category (const char *text, size_t length)
{
    if (length == 0 || length > 32 || text[0] < 'a' || text[0] > 'z')
        return false;
    bool dot = false;
    for (size_t i = 0; i < length; i++) {
        char c = text[i];
        if (c == '.') {
            if (dot || i + 1 == length)
                return false;
            dot = true;
        } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-'))
            return false;
    }
    return true;
}

//  Categories: an array, or one space-separated string (Kaggle).
static void s_categories (builder_t *b, json_t *record)
{
    json_t *categories = json_object_get (record, "categories");
    uint32_t count = 0;
    if (json_is_array (categories)) {
        size_t index;
        json_t *item;
        json_array_foreach (categories, index, item)
        {
            if (count == 64)
                break;
            if (json_is_string (item) &&
                s_arxiv_category (json_string_value (item), json_string_length (item)))
                b->categories[count++] =
                    (pb_str_t){json_string_value (item), (uint32_t)json_string_length (item)};
        }
    } else if (json_is_string (categories)) {
        b->category_text = strdup (json_string_value (categories));
        s_split_list (b->category_text, " ", b->categories, 64, &count);
        uint32_t kept = 0;
        for (uint32_t i = 0; i < count; i++)
            if (s_arxiv_category (b->categories[i].ptr, b->categories[i].len))
                b->categories[kept++] = b->categories[i];
        count = kept;
    }
    if (count) {
        b->paper.categories = (pb_str_list_t){b->categories, count};
        pb_set_present (&b->paper, PB_paper_categories);
    }
}

//  Kaggle's versions: [{"version": "v1", "created": RFC 2822}, ...]: the
//  first is the publication, the last is this version.
static void s_versions (builder_t *b, json_t *record)
{
    json_t *versions = json_object_get (record, "versions");
    if (!json_is_array (versions) || json_array_size (versions) == 0)
        return;
    json_t *first = json_array_get (versions, 0);
    json_t *last = json_array_get (versions, json_array_size (versions) - 1);
    s_set_str (b, PB_paper_published, &b->paper.published, json_object_get (first, "created"));
    s_set_str (b, PB_paper_updated, &b->paper.updated, json_object_get (last, "created"));
    const char *label = json_string_value (json_object_get (last, "version"));
    if (label && label[0] == 'v') {
        long version = strtol (label + 1, NULL, 10);
        if (version >= 1 && version <= 10000) {
            b->paper.version = version;
            pb_set_present (&b->paper, PB_paper_version);
        }
    }
}

static void s_emit (builder_t *b, pb_feed_sink_t *sink, msgpack_sbuffer *buffer)
{
    msgpack_sbuffer_clear (buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, buffer, msgpack_sbuffer_write);
    //  A paper without a title is still sent: ingest rejects it by name.
    if (!pb_has (&b->paper, PB_paper_title))
        b->paper.title = pb_str ("");
    pb_encode (&pb_paper_schema, &b->paper, &packer);
    sink->paper (buffer->data, buffer->size, sink->arg);
    free (b->author_text);
    free (b->category_text);
    b->author_text = b->category_text = NULL;
    for (size_t i = 0; i < b->owned_count; i++)
        xmlFree (b->owned[i]);
    b->owned_count = 0;
}

//  Drops what B holds for a record that is not emitted.
static void s_emit_nothing (builder_t *b)
{
    for (size_t i = 0; i < b->owned_count; i++)
        xmlFree (b->owned[i]);
    b->owned_count = 0;
}

//  Fills B from one JSON record of any of the known shapes.
static void s_from_record (builder_t *b, json_t *record, const char *position, const char *listed)
{
    memset (&b->paper, 0, sizeof b->paper);
    b->paper.position = pb_str (position);
    pb_set_present (&b->paper, PB_paper_position);
    s_set_str (b, PB_paper_id, &b->paper.id, json_object_get (record, "id"));
    s_set_str (b, PB_paper_title, &b->paper.title, json_object_get (record, "title"));
    s_set_str (b, PB_paper_abstract, &b->paper.abstract, s_get (record, "abstract", "summary"));
    s_set_str (b, PB_paper_doi, &b->paper.doi, json_object_get (record, "doi"));
    s_set_str (b, PB_paper_comment, &b->paper.comment, s_get (record, "comment", "comments"));
    s_set_str (b, PB_paper_journal_ref, &b->paper.journal_ref,
               s_get (record, "journal_ref", "journal-ref"));
    s_set_str (b, PB_paper_published, &b->paper.published,
               s_get (record, "published", "publishedAt"));
    s_set_str (b, PB_paper_updated, &b->paper.updated, json_object_get (record, "updated"));
    json_t *version = json_object_get (record, "version");
    if (json_is_integer (version)) {
        b->paper.version = json_integer_value (version);
        pb_set_present (&b->paper, PB_paper_version);
    }
    json_t *upvotes = json_object_get (record, "upvotes");
    if (json_is_integer (upvotes)) {
        b->paper.upvotes = json_integer_value (upvotes);
        pb_set_present (&b->paper, PB_paper_upvotes);
    }
    s_authors (b, record);
    s_categories (b, record);
    s_versions (b, record);
    if (listed) {
        b->paper.listed = pb_str (listed);
        pb_set_present (&b->paper, PB_paper_listed);
    }
}

/* ==== Formats ==== */

//  "2026-05-21" from ".../2026-05-21.jsonl", or NULL.
static const char *s_listing_day (const char *name, char *day)
{
    const char *base = strrchr (name, '/');
    base = base ? base + 1 : name;
    int year, month, date, used = 0;
    if (sscanf (base, "%4d-%2d-%2d%n", &year, &month, &date, &used) == 3 && used == 10 &&
        month >= 1 && month <= 12 && date >= 1 && date <= 31) {
        memcpy (day, base, 10);
        day[10] = '\0';
        return day;
    }
    return NULL;
}

static long s_json_lines (const char *name, const char *data, size_t size, pb_feed_sink_t *sink)
{
    char day[11];
    const char *listed = s_listing_day (name, day);
    builder_t *builder = calloc (1, sizeof *builder);
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    long papers = 0;
    size_t line_number = 0;
    for (const char *line = data; line < data + size;) {
        const char *end = memchr (line, '\n', (size_t)(data + size - line));
        size_t length = end ? (size_t)(end - line) : (size_t)(data + size - line);
        line_number++;
        char position[256];
        snprintf (position, sizeof position, "%s:%zu", name, line_number);
        size_t blank = 0;
        while (blank < length && isspace ((unsigned char)line[blank]))
            blank++;
        if (blank < length) {
            json_error_t error;
            json_t *record = json_loadb (line, length, 0, &error);
            if (!record)
                sink->reject (position, error.text, sink->arg);
            else if (!json_is_object (record))
                sink->reject (position, "not a JSON object", sink->arg);
            else {
                s_from_record (builder, record, position, listed);
                s_emit (builder, sink, &buffer);
                papers++;
            }
            json_decref (record);
        }
        line = end ? end + 1 : data + size;
    }
    msgpack_sbuffer_destroy (&buffer);
    free (builder);
    return papers;
}

static long s_hf_daily (const char *name, const char *data, size_t size, pb_feed_sink_t *sink,
                        char *error_text, size_t error_size)
{
    json_error_t error;
    json_t *root = json_loadb (data, size, JSON_REJECT_DUPLICATES, &error);
    if (!json_is_array (root)) {
        snprintf (error_text, error_size, "%s: not a JSON array of papers: %s (line %d)", name,
                  root ? "another JSON value" : error.text, error.line);
        json_decref (root);
        return -1;
    }
    builder_t *builder = calloc (1, sizeof *builder);
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    long papers = 0;
    size_t index;
    json_t *entry;
    json_array_foreach (root, index, entry)
    {
        char position[256];
        snprintf (position, sizeof position, "%s:entry %zu", name, index + 1);
        json_t *paper = json_object_get (entry, "paper");
        if (!json_is_object (paper)) {
            sink->reject (position, "no \"paper\" object", sink->arg);
            continue;
        }
        s_from_record (builder, paper, position, NULL);
        s_emit (builder, sink, &buffer);
        papers++;
    }
    msgpack_sbuffer_destroy (&buffer);
    free (builder);
    json_decref (root);
    return papers;
}

/* ==== XML sources ==== */

//  The first child element of NODE with local name NAME (any namespace:
//  older arXiv responses spell prefixes differently), or NULL.
static xmlNode *s_child (xmlNode *node, const char *name)
{
    for (xmlNode *child = node ? node->children : NULL; child; child = child->next)
        if (child->type == XML_ELEMENT_NODE && strcmp ((const char *)child->name, name) == 0)
            return child;
    return NULL;
}

static xmlNode *s_next (xmlNode *node, const char *name)
{
    for (xmlNode *sibling = node->next; sibling; sibling = sibling->next)
        if (sibling->type == XML_ELEMENT_NODE && strcmp ((const char *)sibling->name, name) == 0)
            return sibling;
    return NULL;
}

//  Keeps TEXT (owned by B until the paper is emitted) and returns it as a pb_str_t.
static pb_str_t s_own (builder_t *b, xmlChar *text)
{
    if (!text)
        return (pb_str_t){"", 0};
    if (b->owned_count == sizeof b->owned / sizeof b->owned[0]) {
        //  Past what one paper keeps (thousands of authors): drop the rest.
        xmlFree (text);
        return (pb_str_t){"", 0};
    }
    b->owned[b->owned_count++] = text;
    return (pb_str_t){(const char *)text, (uint32_t)strlen ((const char *)text)};
}

//  Sets FIELD from the text of NODE's child NAME, if it has one.
static void s_xml_field (builder_t *b, xmlNode *node, const char *name, int field, pb_str_t *slot)
{
    xmlNode *child = s_child (node, name);
    if (!child)
        return;
    pb_str_t text = s_own (b, xmlNodeGetContent (child));
    if (text.len) {
        *slot = text;
        pb_set_present (&b->paper, field);
    }
}

static void s_xml_author (builder_t *b, pb_str_t name)
{
    if (name.len && b->paper.authors.count < MAX_XML_AUTHORS) {
        b->authors[b->paper.authors.count++] = name;
        b->paper.authors.items = b->authors;
        pb_set_present (&b->paper, PB_paper_authors);
    }
}

static void s_xml_category (builder_t *b, pb_str_t term)
{
    if (!s_arxiv_category (term.ptr, term.len))
        return;
    for (uint32_t i = 0; i < b->paper.categories.count; i++)
        if (b->categories[i].len == term.len &&
            memcmp (b->categories[i].ptr, term.ptr, term.len) == 0)
            return;
    if (term.len && b->paper.categories.count < 64) {
        b->categories[b->paper.categories.count++] = term;
        b->paper.categories.items = b->categories;
        pb_set_present (&b->paper, PB_paper_categories);
    }
}

static void s_begin (builder_t *b, const char *position)
{
    memset (&b->paper, 0, sizeof b->paper);
    b->owned_count = 0;
    b->paper.position = pb_str (position);
    pb_set_present (&b->paper, PB_paper_position);
}

static long s_text_long (xmlNode *node, long fallback)
{
    if (!node)
        return fallback;
    xmlChar *text = xmlNodeGetContent (node);
    long value = text ? strtol ((const char *)text, NULL, 10) : fallback;
    xmlFree (text);
    return value;
}

//  arXiv API: <feed> of <entry>; an API error comes back as one entry
//  whose id points into /api/errors.
static long s_atom (const char *name, xmlNode *feed, pb_feed_sink_t *sink, builder_t *b,
                    msgpack_sbuffer *buffer)
{
    if (sink->page) {
        sink->page->total_results = s_text_long (s_child (feed, "totalResults"), -1);
        sink->page->start_index = s_text_long (s_child (feed, "startIndex"), -1);
        sink->page->items_per_page = s_text_long (s_child (feed, "itemsPerPage"), -1);
    }
    long papers = 0, entries = 0;
    for (xmlNode *entry = s_child (feed, "entry"); entry; entry = s_next (entry, "entry")) {
        char position[300];
        snprintf (position, sizeof position, "%s:entry %ld", name, ++entries);
        s_begin (b, position);
        s_xml_field (b, entry, "id", PB_paper_id, &b->paper.id);
        if (pb_has (&b->paper, PB_paper_id) && strstr (b->paper.id.ptr, "/api/errors")) {
            xmlChar *summary = xmlNodeGetContent (s_child (entry, "summary"));
            char reason[300];
            snprintf (reason, sizeof reason, "the arXiv API answered with an error: %s",
                      summary ? (const char *)summary : "(no text)");
            xmlFree (summary);
            sink->reject (position, reason, sink->arg);
            s_emit_nothing (b);
            if (sink->page)
                sink->page->errors++;
            continue;
        }
        s_xml_field (b, entry, "title", PB_paper_title, &b->paper.title);
        s_xml_field (b, entry, "summary", PB_paper_abstract, &b->paper.abstract);
        s_xml_field (b, entry, "published", PB_paper_published, &b->paper.published);
        s_xml_field (b, entry, "updated", PB_paper_updated, &b->paper.updated);
        s_xml_field (b, entry, "comment", PB_paper_comment, &b->paper.comment);
        s_xml_field (b, entry, "journal_ref", PB_paper_journal_ref, &b->paper.journal_ref);
        s_xml_field (b, entry, "doi", PB_paper_doi, &b->paper.doi);
        for (xmlNode *author = s_child (entry, "author"); author;
             author = s_next (author, "author"))
            s_xml_author (b, s_own (b, xmlNodeGetContent (s_child (author, "name"))));
        xmlNode *primary = s_child (entry, "primary_category");
        if (primary)
            s_xml_category (b, s_own (b, xmlGetProp (primary, (const xmlChar *)"term")));
        for (xmlNode *category = s_child (entry, "category"); category;
             category = s_next (category, "category"))
            s_xml_category (b, s_own (b, xmlGetProp (category, (const xmlChar *)"term")));
        s_emit (b, sink, buffer);
        papers++;
    }
    if (sink->page)
        sink->page->entries = entries - sink->page->errors;
    return papers;
}

//  arXivRaw metadata: one authors string, and <version version="vN"> with
//  RFC 2822 dates, the first of which is the publication.
static void s_oai_raw (xmlNode *raw, builder_t *b)
{
    s_xml_field (b, raw, "id", PB_paper_id, &b->paper.id);
    s_xml_field (b, raw, "title", PB_paper_title, &b->paper.title);
    s_xml_field (b, raw, "abstract", PB_paper_abstract, &b->paper.abstract);
    s_xml_field (b, raw, "comments", PB_paper_comment, &b->paper.comment);
    s_xml_field (b, raw, "journal-ref", PB_paper_journal_ref, &b->paper.journal_ref);
    s_xml_field (b, raw, "doi", PB_paper_doi, &b->paper.doi);
    xmlNode *authors = s_child (raw, "authors");
    if (authors) {
        pb_str_t all = s_own (b, xmlNodeGetContent (authors));
        uint32_t count = 0;
        s_split_names ((char *)all.ptr, b->authors, MAX_XML_AUTHORS, &count);
        b->paper.authors = (pb_str_list_t){b->authors, count};
        if (count)
            pb_set_present (&b->paper, PB_paper_authors);
    }
    xmlNode *categories = s_child (raw, "categories");
    if (categories) {
        pb_str_t all = s_own (b, xmlNodeGetContent (categories));
        char *save = NULL;
        for (char *term = strtok_r ((char *)all.ptr, " \t\n", &save); term;
             term = strtok_r (NULL, " \t\n", &save))
            s_xml_category (b, (pb_str_t){term, (uint32_t)strlen (term)});
    }
    int versions = 0;
    for (xmlNode *version = s_child (raw, "version"); version;
         version = s_next (version, "version")) {
        pb_str_t date = s_own (b, xmlNodeGetContent (s_child (version, "date")));
        if (date.len && versions == 0) {
            b->paper.published = date;
            pb_set_present (&b->paper, PB_paper_published);
        }
        if (date.len) {
            b->paper.updated = date;
            pb_set_present (&b->paper, PB_paper_updated);
        }
        versions++;
        //  The label is "vN"; an unreadable one (a test fixture has "v%s")
        //  counts versions instead.
        xmlChar *label = xmlGetProp (version, (const xmlChar *)"version");
        long number = label && label[0] == 'v' ? strtol ((const char *)label + 1, NULL, 10) : 0;
        xmlFree (label);
        b->paper.version = number >= 1 && number <= 10000 ? number : versions;
        pb_set_present (&b->paper, PB_paper_version);
    }
}

//  One OAI-PMH <record>: metadata in the arXiv, arXivRaw or oai_dc format.
static void s_oai_record (xmlNode *record, const char *position, pb_feed_sink_t *sink, builder_t *b,
                          msgpack_sbuffer *buffer, long *papers)
{
    xmlNode *header = s_child (record, "header");
    xmlChar *status = header ? xmlGetProp (header, (const xmlChar *)"status") : NULL;
    bool deleted = status && strcmp ((const char *)status, "deleted") == 0;
    xmlFree (status);
    if (deleted) {
        sink->reject (position, "deleted in the repository (withdrawn)", sink->arg);
        return;
    }
    xmlNode *metadata = s_child (record, "metadata");
    xmlNode *arxiv = s_child (metadata, "arXiv");
    xmlNode *dc = s_child (metadata, "dc");
    xmlNode *raw = s_child (metadata, "arXivRaw");
    s_begin (b, position);
    if (raw) {
        s_oai_raw (raw, b);
    } else if (arxiv) {
        s_xml_field (b, arxiv, "id", PB_paper_id, &b->paper.id);
        s_xml_field (b, arxiv, "title", PB_paper_title, &b->paper.title);
        s_xml_field (b, arxiv, "abstract", PB_paper_abstract, &b->paper.abstract);
        s_xml_field (b, arxiv, "created", PB_paper_published, &b->paper.published);
        s_xml_field (b, arxiv, "updated", PB_paper_updated, &b->paper.updated);
        s_xml_field (b, arxiv, "comments", PB_paper_comment, &b->paper.comment);
        s_xml_field (b, arxiv, "journal-ref", PB_paper_journal_ref, &b->paper.journal_ref);
        s_xml_field (b, arxiv, "doi", PB_paper_doi, &b->paper.doi);
        for (xmlNode *author = s_child (s_child (arxiv, "authors"), "author"); author;
             author = s_next (author, "author")) {
            //  "Forenames Keyname Suffix", as the name is printed.
            xmlChar *parts[3] = {xmlNodeGetContent (s_child (author, "forenames")),
                                 xmlNodeGetContent (s_child (author, "keyname")),
                                 xmlNodeGetContent (s_child (author, "suffix"))};
            char name[512] = "";
            for (int i = 0; i < 3; i++) {
                if (parts[i] && *parts[i])
                    snprintf (name + strlen (name), sizeof name - strlen (name), "%s%s",
                              *name ? " " : "", (const char *)parts[i]);
                xmlFree (parts[i]);
            }
            s_xml_author (b, s_own (b, xmlStrdup ((const xmlChar *)name)));
        }
        xmlNode *categories = s_child (arxiv, "categories");
        if (categories) {
            pb_str_t all = s_own (b, xmlNodeGetContent (categories));
            char *text = (char *)all.ptr;
            char *save = NULL;
            for (char *term = strtok_r (text, " \t\n", &save); term;
                 term = strtok_r (NULL, " \t\n", &save))
                s_xml_category (b, (pb_str_t){term, (uint32_t)strlen (term)});
        }
    } else if (dc) {
        s_xml_field (b, dc, "title", PB_paper_title, &b->paper.title);
        s_xml_field (b, dc, "description", PB_paper_abstract, &b->paper.abstract);
        s_xml_field (b, dc, "date", PB_paper_published, &b->paper.published);
        for (xmlNode *creator = s_child (dc, "creator"); creator;
             creator = s_next (creator, "creator"))
            s_xml_author (b, s_own (b, xmlNodeGetContent (creator)));
        for (xmlNode *subject = s_child (dc, "subject"); subject;
             subject = s_next (subject, "subject"))
            s_xml_category (b, s_own (b, xmlNodeGetContent (subject)));
        for (xmlNode *identifier = s_child (dc, "identifier"); identifier;
             identifier = s_next (identifier, "identifier")) {
            pb_str_t text = s_own (b, xmlNodeGetContent (identifier));
            if (strstr (text.ptr, "arxiv.org/abs/")) {
                b->paper.id = text;
                pb_set_present (&b->paper, PB_paper_id);
            } else if (strncmp (text.ptr, "doi:", 4) == 0 || strncmp (text.ptr, "10.", 3) == 0) {
                b->paper.doi = strncmp (text.ptr, "doi:", 4) == 0
                                   ? (pb_str_t){text.ptr + 4, text.len - 4}
                                   : text;
                pb_set_present (&b->paper, PB_paper_doi);
            }
        }
    } else {
        sink->reject (position, "a record with no arXiv, arXivRaw or oai_dc metadata", sink->arg);
        s_emit_nothing (b);
        return;
    }
    //  Dates in oai_dc come as days or full timestamps; keep them as given.
    s_emit (b, sink, buffer);
    (*papers)++;
}

static long s_oai (const char *name, xmlNode *root, pb_feed_sink_t *sink, builder_t *b,
                   msgpack_sbuffer *buffer, char *error, size_t error_size)
{
    xmlNode *oai_error = s_child (root, "error");
    if (oai_error) {
        xmlChar *code = xmlGetProp (oai_error, (const xmlChar *)"code");
        xmlChar *text = xmlNodeGetContent (oai_error);
        bool empty = code && strcmp ((const char *)code, "noRecordsMatch") == 0;
        if (!empty) {
            char *said = text ? pb_text_normalize ((const char *)text, strlen ((const char *)text))
                              : strdup ("");
            snprintf (error, error_size, "%s: the OAI-PMH server answered %s%s%s", name,
                      code ? (const char *)code : "an error", *said ? ": " : "", said);
            free (said);
        }
        xmlFree (code);
        xmlFree (text);
        return empty ? 0 : -1;
    }
    xmlNode *list = s_child (root, "ListRecords");
    if (!list)
        list = s_child (root, "GetRecord");
    if (!list) {
        snprintf (error, error_size, "%s: an OAI-PMH response without ListRecords or GetRecord",
                  name);
        return -1;
    }
    long papers = 0, records = 0;
    for (xmlNode *record = s_child (list, "record"); record; record = s_next (record, "record")) {
        char position[300];
        snprintf (position, sizeof position, "%s:record %ld", name, ++records);
        s_oai_record (record, position, sink, b, buffer, &papers);
    }
    if (sink->page) {
        sink->page->entries = records;
        sink->page->resumption_token[0] = '\0';
        sink->page->complete_list_size = -1;
        xmlNode *token = s_child (list, "resumptionToken");
        if (token) {
            xmlChar *text = xmlNodeGetContent (token);
            snprintf (sink->page->resumption_token, sizeof sink->page->resumption_token, "%s",
                      text ? (const char *)text : "");
            xmlFree (text);
            xmlChar *size = xmlGetProp (token, (const xmlChar *)"completeListSize");
            if (size)
                sink->page->complete_list_size = strtol ((const char *)size, NULL, 10);
            xmlFree (size);
        }
    }
    return papers;
}

//  RSS 2.0 (<rss><channel><item>) and RSS 1.0 (<rdf:RDF><item>). arXiv's
//  descriptions begin "arXiv:ID Announce Type: new Abstract: ...".
static long s_rss (const char *name, xmlNode *root, pb_feed_sink_t *sink, builder_t *b,
                   msgpack_sbuffer *buffer)
{
    xmlNode *channel = s_child (root, "channel");
    xmlNode *first = s_child (channel ? channel : root, "item");
    if (!first)
        first = s_child (root, "item");
    long papers = 0, items = 0;
    for (xmlNode *item = first; item; item = s_next (item, "item")) {
        char position[300];
        snprintf (position, sizeof position, "%s:item %ld", name, ++items);
        s_begin (b, position);
        s_xml_field (b, item, "title", PB_paper_title, &b->paper.title);
        s_xml_field (b, item, "guid", PB_paper_id, &b->paper.id);
        if (!pb_has (&b->paper, PB_paper_id))
            s_xml_field (b, item, "link", PB_paper_id, &b->paper.id);
        xmlNode *description = s_child (item, "description");
        if (description) {
            pb_str_t text = s_own (b, xmlNodeGetContent (description));
            const char *abstract = strstr (text.ptr, "Abstract:");
            abstract = abstract ? abstract + strlen ("Abstract:") : text.ptr;
            b->paper.abstract = (pb_str_t){abstract, (uint32_t)strlen (abstract)};
            pb_set_present (&b->paper, PB_paper_abstract);
        }
        xmlNode *creator = s_child (item, "creator");
        if (creator) {
            //  One dc:creator with every name, comma-separated.
            pb_str_t all = s_own (b, xmlNodeGetContent (creator));
            char *save = NULL;
            for (char *author = strtok_r ((char *)all.ptr, ",", &save); author;
                 author = strtok_r (NULL, ",", &save)) {
                while (*author == ' ' || *author == '\n')
                    author++;
                s_xml_author (b, (pb_str_t){author, (uint32_t)strlen (author)});
            }
        }
        for (xmlNode *category = s_child (item, "category"); category;
             category = s_next (category, "category"))
            s_xml_category (b, s_own (b, xmlNodeGetContent (category)));
        //  The announcement day is when it was listed, not when v1 appeared.
        s_xml_field (b, item, "pubDate", PB_paper_listed, &b->paper.listed);
        s_emit (b, sink, buffer);
        papers++;
    }
    if (sink->page)
        sink->page->entries = items;
    return papers;
}

//  Parses an XML document and hands it to the reader of FORMAT.
static long s_xml (const char *name, const char *data, size_t size, pb_feed_format_t format,
                   pb_feed_sink_t *sink, char *error, size_t error_size)
{
    //  Entity declarations have no place in these feeds and are how the
    //  "billion laughs" attack works: refuse them before parsing anything.
    if (s_within (data, size, size, "<!ENTITY")) {
        snprintf (error, error_size,
                  "%s declares XML entities, which feeds never need (an entity-expansion "
                  "attack?); refused",
                  name);
        return -1;
    }
    xmlDoc *document = xmlReadMemory (data, (int)size, name, NULL,
                                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!document) {
        const xmlError *last = xmlGetLastError ();
        snprintf (error, error_size, "%s: not well-formed XML (%s), nothing taken from it", name,
                  last && last->message ? last->message : "parse error");
        size_t length = strlen (error);
        while (length && error[length - 1] == '\n')
            error[--length] = '\0';
        return -1;
    }
    //  The byte scan above misses other encodings (UTF-16): refuse any
    //  document whose DTD declares entities, whatever its encoding.
    if (document->intSubset && document->intSubset->entities) {
        snprintf (error, error_size,
                  "%s declares XML entities, which feeds never need (an entity-expansion "
                  "attack?); refused",
                  name);
        xmlFreeDoc (document);
        return -1;
    }
    //  The root element decides, whatever the first bytes suggested.
    xmlNode *root = xmlDocGetRootElement (document);
    const char *root_name = root ? (const char *)root->name : "";
    if (strcmp (root_name, "feed") == 0)
        format = PB_FEED_ATOM;
    else if (strcmp (root_name, "OAI-PMH") == 0)
        format = PB_FEED_OAI;
    else if (strcmp (root_name, "rss") == 0 || strcmp (root_name, "RDF") == 0)
        format = PB_FEED_RSS;
    else {
        snprintf (error, error_size, "%s: an XML document whose root <%s> is no paper feed", name,
                  root_name);
        xmlFreeDoc (document);
        return -1;
    }
    builder_t *builder = calloc (1, sizeof *builder);
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    long papers = format == PB_FEED_ATOM ? s_atom (name, root, sink, builder, &buffer)
                  : format == PB_FEED_OAI
                      ? s_oai (name, root, sink, builder, &buffer, error, error_size)
                      : s_rss (name, root, sink, builder, &buffer);
    msgpack_sbuffer_destroy (&buffer);
    free (builder);
    xmlFreeDoc (document);
    return papers;
}

/* ==== Recorded HTTP responses ==== */

static long s_recorded (const char *name, const char *data, size_t size, pb_feed_sink_t *sink,
                        char *error, size_t error_size)
{
    json_error_t json_error;
    json_t *response = json_loadb (data, size, 0, &json_error);
    json_t *body = json_object_get (response, "body");
    json_t *status = json_object_get (response, "status_code");
    long papers = -1;
    if (!json_is_string (body) || !json_is_integer (status))
        snprintf (error, error_size, "%s: a recorded response needs \"status_code\" and \"body\"",
                  name);
    else if (json_integer_value (status) != 200 && json_integer_value (status) != 400)
        snprintf (error, error_size, "%s: the recorded response has HTTP status %lld", name,
                  (long long)json_integer_value (status));
    else {
        //  arXiv answers a bad query with status 400 and an error entry,
        //  which the Atom reader reports as such.
        const char *inner = json_string_value (body);
        size_t inner_size = json_string_length (body);
        pb_feed_format_t format = pb_feed_detect (inner, inner_size);
        if (format == PB_FEED_RECORDED)
            snprintf (error, error_size, "%s: a recorded response inside another", name);
        else
            papers = pb_feed_parse (name, inner, inner_size, sink, error, error_size);
    }
    json_decref (response);
    return papers;
}

long pb_feed_parse (const char *name, const char *data, size_t size, pb_feed_sink_t *sink,
                    char *error, size_t error_size)
{
    pb_feed_format_t format = pb_feed_detect (data, size);
    switch (format) {
    case PB_FEED_JSON_LINES:
        return s_json_lines (name, data, size, sink);
    case PB_FEED_HF_DAILY:
        return s_hf_daily (name, data, size, sink, error, error_size);
    case PB_FEED_ATOM:
    case PB_FEED_OAI:
    case PB_FEED_RSS:
        return s_xml (name, data, size, format, sink, error, error_size);
    case PB_FEED_RECORDED:
        return s_recorded (name, data, size, sink, error, error_size);
    case PB_FEED_HTML:
        snprintf (error, error_size, "%s is an HTML page, not a paper feed (an error page?)", name);
        return -1;
    default:
        snprintf (error, error_size,
                  "%s: unknown format (want JSON Lines, Hugging Face JSON, arXiv Atom, OAI-PMH "
                  "or RSS)",
                  name);
        return -1;
    }
}
