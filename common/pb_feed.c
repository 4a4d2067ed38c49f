/*  pb_feed — JSON sources into paper messages, with jansson. */
#include "pb_feed.h"
#include "pb_codec.h"
#include "pb_proto.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_LIST 10000 //  authors or categories kept per paper

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

pb_feed_format_t pb_feed_detect (const char *data, size_t size)
{
    size_t left;
    const char *start = s_skip_space (data, size, &left);
    if (left == 0)
        return PB_FEED_UNKNOWN;
    if (*start == '{')
        return PB_FEED_JSON_LINES;
    if (*start == '[') {
        //  An array of {"paper": {...}} objects is the Hugging Face shape.
        size_t window = left < 4096 ? left : 4096;
        char head[4097];
        memcpy (head, start, window);
        head[window] = '\0';
        return strstr (head, "\"paper\"") ? PB_FEED_HF_DAILY : PB_FEED_UNKNOWN;
    }
    if (*start == '<') {
        size_t window = left < 1024 ? left : 1024;
        for (size_t i = 0; i + 5 <= window; i++)
            if (strncasecmp (start + i, "<html", 5) == 0 ||
                strncasecmp (start + i, "<!doc", 5) == 0)
                return PB_FEED_HTML;
    }
    return PB_FEED_UNKNOWN;
}

const char *pb_feed_format_name (pb_feed_format_t format)
{
    switch (format) {
    case PB_FEED_JSON_LINES:
        return "JSON Lines";
    case PB_FEED_HF_DAILY:
        return "Hugging Face daily papers";
    case PB_FEED_HTML:
        return "an HTML page";
    default:
        return "an unknown format";
    }
}

const char *pb_feed_source (pb_feed_format_t format)
{
    return format == PB_FEED_HF_DAILY ? "hf" : "jsonl";
}

/* ==== One paper ==== */

//  Builds and emits one paper message; the strings stay owned by the JSON.
typedef struct {
    pb_paper_t paper;           //  what is being filled
    pb_str_t authors[MAX_LIST]; //  storage for paper.authors
    pb_str_t categories[64];    //  storage for paper.categories
    char *author_text;          //  "A, B and C" split in place, owned
    char *category_text;        //  "cs.LG stat.ML" split in place, owned
    char version_text[16];      //  scratch
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
    for (char *token = strtok (text, separators); token && *count < max;
         token = strtok (NULL, separators)) {
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
        //  "A, B and C": split at commas and at " and ".
        for (char *and = strstr (b->author_text, " and "); and; and = strstr (and, " and ")) {
            and[0] = ',';
            and[1] = ' ';
            and[2] = ' ';
            and[3] = ' ';
            and[4] = ' ';
        }
        s_split_list (b->author_text, ",", b->authors, MAX_LIST, &count);
    }
    if (count) {
        b->paper.authors = (pb_str_list_t){b->authors, count};
        pb_set_present (&b->paper, PB_paper_authors);
    }
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
            if (json_is_string (item) && json_string_length (item))
                b->categories[count++] =
                    (pb_str_t){json_string_value (item), (uint32_t)json_string_length (item)};
        }
    } else if (json_is_string (categories)) {
        b->category_text = strdup (json_string_value (categories));
        s_split_list (b->category_text, " ", b->categories, 64, &count);
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
            json_t *record = json_loadb (line, length, JSON_REJECT_DUPLICATES, &error);
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

long pb_feed_parse (const char *name, const char *data, size_t size, pb_feed_sink_t *sink,
                    char *error, size_t error_size)
{
    pb_feed_format_t format = pb_feed_detect (data, size);
    switch (format) {
    case PB_FEED_JSON_LINES:
        return s_json_lines (name, data, size, sink);
    case PB_FEED_HF_DAILY:
        return s_hf_daily (name, data, size, sink, error, error_size);
    case PB_FEED_HTML:
        snprintf (error, error_size, "%s is an HTML page, not a paper feed (an error page?)", name);
        return -1;
    default:
        snprintf (error, error_size,
                  "%s: unknown format (want JSON Lines or Hugging Face daily papers JSON)", name);
        return -1;
    }
}
