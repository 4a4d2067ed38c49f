/*  pb_feed — paper sources (JSON, XML) into paper messages. */
#include "pb_feed.h"
#include "pb_codec.h"
#include "pb_paper.h"
#include "pb_proto.h"

#include <ctype.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <yajl/yajl_parse.h>
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

//  Builds and emits one paper message; the strings stay owned by the source.
typedef struct {
    pb_paper_t paper;                     //  what is being filled
    pb_str_t authors[MAX_LIST];           //  storage for paper.authors
    pb_str_t categories[64];              //  storage for paper.categories
    xmlChar *owned[64 + MAX_XML_AUTHORS]; //  XML texts the paper points into
    size_t owned_count;                   //  how many
} builder_t;

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

/* ==== JSON sources ==== */

//  JSON is read with yajl's event callbacks straight into the builder: no
//  tree is built, and only the fields a paper needs are copied. On the
//  arXiv listings this reads 418 MB/s where building a jansson tree read
//  69 MB/s, and parsing was most of the time of a bulk ingest.

#define MAX_JSON_DEPTH 64 //  nesting accepted in a record

//  The fields of a record, under each name a source gives them.
typedef enum {
    KEY_ID,
    KEY_TITLE,
    KEY_ABSTRACT,
    KEY_SUMMARY,
    KEY_DOI,
    KEY_COMMENT,
    KEY_COMMENTS,
    KEY_JOURNAL_REF,
    KEY_JOURNAL_REF_DASH,
    KEY_PUBLISHED,
    KEY_PUBLISHED_AT,
    KEY_UPDATED,
    KEY_VERSION,
    KEY_UPVOTES,
    KEY_AUTHORS,
    KEY_CATEGORIES,
    KEY_VERSIONS,
    KEY_COUNT,
    KEY_OTHER = KEY_COUNT
} json_key_t;

static const char *const JSON_KEYS[KEY_COUNT] = {
    "id",       "title",       "abstract",    "summary",    "doi",         "comment",
    "comments", "journal_ref", "journal-ref", "published",  "publishedAt", "updated",
    "version",  "upvotes",     "authors",     "categories", "versions"};

//  What an open object or array is, so that a value knows where it goes.
typedef enum {
    IN_OTHER,      //  skipped
    IN_ENTRIES,    //  Hugging Face: the top-level array
    IN_ENTRY,      //  Hugging Face: one entry, whose "paper" is the record
    IN_RECORD,     //  the paper's fields
    IN_AUTHORS,    //  names, or objects with a "name"
    IN_AUTHOR,     //  {"name": ...}
    IN_CATEGORIES, //  category names
    IN_VERSIONS,   //  Kaggle: [{"version": "v1", "created": ...}, ...]
    IN_VERSION     //  one of those
} json_role_t;

typedef enum { KEY_NAME_NONE, KEY_NAME, KEY_CREATED, KEY_LABEL, KEY_PAPER } json_inner_key_t;

typedef struct {
    json_role_t role;
    int key; //  in an object: which key's value comes next
} json_level_t;

typedef struct {
    builder_t *builder;
    pb_feed_sink_t *sink;
    msgpack_sbuffer buffer;
    const char *name;   //  the file, for positions
    const char *listed; //  the listing day from the file name, or NULL
    json_level_t levels[MAX_JSON_DEPTH];
    int depth;      //  open objects and arrays
    bool entries;   //  Hugging Face: records are the entries' "paper"
    size_t entry;   //  Hugging Face: the entry being read, from 1
    bool has_paper; //  Hugging Face: the entry had its "paper"
    char *arena;    //  copies of the record's strings, NUL-terminated
    size_t arena_used, arena_size;
    char position[256];       //  of the record being read
    pb_str_t text[KEY_COUNT]; //  string fields, by key
    bool seen[KEY_COUNT];     //  keys met in this record
    int64_t version, upvotes; //  when present
    bool has_version, has_upvotes;
    bool closed;          //  JSON Lines: the record's object ended
    size_t version_items; //  Kaggle versions met
    pb_str_t first_created, last_created, last_label;
    const char *problem; //  why this record is rejected, or NULL
    char problem_text[96];
    long papers;
} json_reader_t;

static pb_str_t s_json_copy (json_reader_t *reader, const unsigned char *text, size_t length)
{
    //  The arena holds the whole input plus one byte per string, and every
    //  string is shorter than its quoted, escaped form: it never overflows.
    char *copy = reader->arena + reader->arena_used;
    memcpy (copy, text, length);
    copy[length] = '\0';
    reader->arena_used += length + 1;
    return (pb_str_t){copy, (uint32_t)length};
}

static void s_json_begin_record (json_reader_t *reader)
{
    builder_t *b = reader->builder;
    memset (&b->paper, 0, sizeof b->paper);
    memset (reader->text, 0, sizeof reader->text);
    memset (reader->seen, 0, sizeof reader->seen);
    reader->has_version = reader->has_upvotes = false;
    reader->version_items = 0;
    reader->first_created = reader->last_created = reader->last_label = (pb_str_t){"", 0};
    reader->problem = NULL;
    reader->arena_used = 0;
}

//  The first non-empty string among a field's names.
static void s_json_field (json_reader_t *reader, int field, pb_str_t *slot, json_key_t first,
                          json_key_t second)
{
    pb_str_t value = reader->text[first].len ? reader->text[first] : reader->text[second];
    if (value.len) {
        *slot = value;
        pb_set_present (&reader->builder->paper, field);
    }
}

static void s_json_end_record (json_reader_t *reader)
{
    builder_t *b = reader->builder;
    pb_paper_t *paper = &b->paper;
    if (reader->problem) {
        reader->sink->reject (reader->position, reader->problem, reader->sink->arg);
        return;
    }
    paper->position = pb_str (reader->position);
    pb_set_present (paper, PB_paper_position);
    s_json_field (reader, PB_paper_id, &paper->id, KEY_ID, KEY_ID);
    s_json_field (reader, PB_paper_title, &paper->title, KEY_TITLE, KEY_TITLE);
    s_json_field (reader, PB_paper_abstract, &paper->abstract, KEY_ABSTRACT, KEY_SUMMARY);
    s_json_field (reader, PB_paper_doi, &paper->doi, KEY_DOI, KEY_DOI);
    s_json_field (reader, PB_paper_comment, &paper->comment, KEY_COMMENT, KEY_COMMENTS);
    s_json_field (reader, PB_paper_journal_ref, &paper->journal_ref, KEY_JOURNAL_REF,
                  KEY_JOURNAL_REF_DASH);
    s_json_field (reader, PB_paper_published, &paper->published, KEY_PUBLISHED, KEY_PUBLISHED_AT);
    s_json_field (reader, PB_paper_updated, &paper->updated, KEY_UPDATED, KEY_UPDATED);
    if (reader->has_version) {
        paper->version = reader->version;
        pb_set_present (paper, PB_paper_version);
    }
    if (reader->has_upvotes) {
        paper->upvotes = reader->upvotes;
        pb_set_present (paper, PB_paper_upvotes);
    }
    //  Kaggle's versions say better when the paper and this version appeared.
    if (reader->version_items) {
        if (reader->first_created.len) {
            paper->published = reader->first_created;
            pb_set_present (paper, PB_paper_published);
        }
        if (reader->last_created.len) {
            paper->updated = reader->last_created;
            pb_set_present (paper, PB_paper_updated);
        }
        const char *label = reader->last_label.ptr;
        if (label[0] == 'v') {
            long version = strtol (label + 1, NULL, 10);
            if (version >= 1 && version <= 10000) {
                paper->version = version;
                pb_set_present (paper, PB_paper_version);
            }
        }
    }
    if (paper->authors.count) {
        paper->authors.items = b->authors;
        pb_set_present (paper, PB_paper_authors);
    }
    if (paper->categories.count) {
        paper->categories.items = b->categories;
        pb_set_present (paper, PB_paper_categories);
    }
    if (reader->listed) {
        paper->listed = pb_str (reader->listed);
        pb_set_present (paper, PB_paper_listed);
    }
    s_emit (b, reader->sink, &reader->buffer);
    reader->papers++;
}

//  "A, B and C" (Kaggle) into authors; "cs.LG stat.ML" into categories.
static void s_json_split_authors (json_reader_t *reader, pb_str_t text)
{
    s_split_names ((char *)text.ptr, reader->builder->authors, MAX_LIST,
                   &reader->builder->paper.authors.count);
}

static void s_json_split_categories (json_reader_t *reader, pb_str_t text)
{
    builder_t *b = reader->builder;
    uint32_t count = 0, kept = 0;
    s_split_list ((char *)text.ptr, " ", b->categories, 64, &count);
    for (uint32_t i = 0; i < count; i++)
        if (s_arxiv_category (b->categories[i].ptr, b->categories[i].len))
            b->categories[kept++] = b->categories[i];
    b->paper.categories.count = kept;
}

static void s_json_add (pb_str_t *items, uint32_t *count, uint32_t max, pb_str_t item)
{
    if (item.len && *count < max)
        items[(*count)++] = item;
}

//  Where the next value goes: its parent and, in an object, its key.
static json_level_t *s_json_parent (json_reader_t *reader)
{
    return reader->depth ? &reader->levels[reader->depth - 1] : NULL;
}

//  Hugging Face: an entry of the top-level array that is not an object.
static void s_json_not_an_entry (json_reader_t *reader)
{
    char position[256];
    snprintf (position, sizeof position, "%s:entry %zu", reader->name, ++reader->entry);
    reader->sink->reject (position, "not an object with a \"paper\"", reader->sink->arg);
}

//  A value of no interest, unless it stands where an entry should.
static void s_json_scalar (json_reader_t *reader)
{
    json_level_t *parent = s_json_parent (reader);
    if (parent && parent->role == IN_ENTRIES)
        s_json_not_an_entry (reader);
}

//  A string: kept when it is a field of the record.
static int s_json_string (void *arg, const unsigned char *text, size_t length)
{
    json_reader_t *reader = arg;
    json_level_t *parent = s_json_parent (reader);
    builder_t *b = reader->builder;
    if (!parent || parent->role == IN_ENTRIES) {
        s_json_scalar (reader);
        return 1;
    }
    if (parent->role == IN_RECORD && parent->key < KEY_COUNT) {
        pb_str_t value = s_json_copy (reader, text, length);
        if (parent->key == KEY_AUTHORS)
            s_json_split_authors (reader, value);
        else if (parent->key == KEY_CATEGORIES)
            s_json_split_categories (reader, value);
        else
            reader->text[parent->key] = value;
    } else if (parent->role == IN_AUTHORS || (parent->role == IN_AUTHOR && parent->key == KEY_NAME))
        s_json_add (b->authors, &b->paper.authors.count, MAX_LIST,
                    s_json_copy (reader, text, length));
    else if (parent->role == IN_CATEGORIES && s_arxiv_category ((const char *)text, length))
        s_json_add (b->categories, &b->paper.categories.count, 64,
                    s_json_copy (reader, text, length));
    else if (parent->role == IN_VERSION && parent->key == KEY_CREATED) {
        reader->last_created = s_json_copy (reader, text, length);
        if (reader->version_items == 1)
            reader->first_created = reader->last_created;
    } else if (parent->role == IN_VERSION && parent->key == KEY_LABEL)
        reader->last_label = s_json_copy (reader, text, length);
    return 1;
}

static int s_json_integer (void *arg, long long value)
{
    json_reader_t *reader = arg;
    json_level_t *parent = s_json_parent (reader);
    if (parent && parent->role == IN_RECORD && parent->key == KEY_VERSION) {
        reader->version = value;
        reader->has_version = true;
    } else if (parent && parent->role == IN_RECORD && parent->key == KEY_UPVOTES) {
        reader->upvotes = value;
        reader->has_upvotes = true;
    } else
        s_json_scalar (reader);
    return 1;
}

static int s_json_null (void *arg)
{
    s_json_scalar (arg);
    return 1;
}

static int s_json_boolean (void *arg, int value)
{
    (void)value;
    s_json_scalar (arg);
    return 1;
}

static int s_json_double (void *arg, double value)
{
    (void)value;
    s_json_scalar (arg);
    return 1;
}

static int s_json_key (void *arg, const unsigned char *text, size_t length)
{
    json_reader_t *reader = arg;
    json_level_t *level = s_json_parent (reader);
    level->key = KEY_OTHER;
    if (level->role == IN_RECORD) {
        for (int key = 0; key < KEY_COUNT; key++)
            if (JSON_KEYS[key][0] == text[0] && strlen (JSON_KEYS[key]) == length &&
                memcmp (JSON_KEYS[key], text, length) == 0) {
                level->key = key;
                break;
            }
        if (level->key < KEY_COUNT && reader->seen[level->key] && !reader->problem) {
            snprintf (reader->problem_text, sizeof reader->problem_text,
                      "the key \"%s\" appears twice", JSON_KEYS[level->key]);
            reader->problem = reader->problem_text;
        }
        if (level->key < KEY_COUNT)
            reader->seen[level->key] = true;
    } else if (level->role == IN_AUTHOR && length == 4 && memcmp (text, "name", 4) == 0)
        level->key = KEY_NAME;
    else if (level->role == IN_VERSION && length == 7 && memcmp (text, "created", 7) == 0)
        level->key = KEY_CREATED;
    else if (level->role == IN_VERSION && length == 7 && memcmp (text, "version", 7) == 0)
        level->key = KEY_LABEL;
    else if (level->role == IN_ENTRY && length == 5 && memcmp (text, "paper", 5) == 0)
        level->key = KEY_PAPER;
    return 1;
}

//  What a new object or array inside PARENT is.
static json_role_t s_json_role (json_reader_t *reader, json_level_t *parent, bool object)
{
    if (!parent) {
        if (reader->entries)
            return object ? IN_OTHER : IN_ENTRIES;
        return object ? IN_RECORD : IN_OTHER;
    }
    switch (parent->role) {
    case IN_ENTRIES:
        return object ? IN_ENTRY : IN_OTHER;
    case IN_ENTRY:
        return object && parent->key == KEY_PAPER ? IN_RECORD : IN_OTHER;
    case IN_RECORD:
        if (object)
            return IN_OTHER;
        return parent->key == KEY_AUTHORS      ? IN_AUTHORS
               : parent->key == KEY_CATEGORIES ? IN_CATEGORIES
               : parent->key == KEY_VERSIONS   ? IN_VERSIONS
                                               : IN_OTHER;
    case IN_AUTHORS:
        return object ? IN_AUTHOR : IN_OTHER;
    case IN_VERSIONS:
        return object ? IN_VERSION : IN_OTHER;
    default:
        return IN_OTHER;
    }
}

static int s_json_open (json_reader_t *reader, bool object)
{
    if (reader->depth == MAX_JSON_DEPTH)
        return 0; //  s_json_parse names the problem
    json_level_t *parent = s_json_parent (reader);
    json_role_t role = s_json_role (reader, parent, object);
    if (parent && parent->role == IN_ENTRIES && !object)
        s_json_not_an_entry (reader);
    else if (role == IN_ENTRY) {
        reader->entry++;
        reader->has_paper = false;
    } else if (role == IN_RECORD) {
        if (reader->entries) {
            reader->has_paper = true;
            snprintf (reader->position, sizeof reader->position, "%s:entry %zu", reader->name,
                      reader->entry);
        }
        s_json_begin_record (reader);
    } else if (role == IN_VERSION) {
        reader->version_items++;
        reader->last_created = reader->last_label = (pb_str_t){"", 0};
    }
    reader->levels[reader->depth++] = (json_level_t){role, KEY_OTHER};
    return 1;
}

static int s_json_close (json_reader_t *reader)
{
    json_role_t role = reader->levels[--reader->depth].role;
    //  A JSON line's record is emitted once the whole line has parsed.
    if (role == IN_RECORD && reader->entries)
        s_json_end_record (reader);
    else if (role == IN_RECORD)
        reader->closed = true;
    else if (role == IN_ENTRY && !reader->has_paper) {
        char position[256];
        snprintf (position, sizeof position, "%s:entry %zu", reader->name, reader->entry);
        reader->sink->reject (position, "no \"paper\" object", reader->sink->arg);
    }
    return 1;
}

static int s_json_start_map (void *arg)
{
    return s_json_open (arg, true);
}

static int s_json_start_array (void *arg)
{
    return s_json_open (arg, false);
}

static int s_json_end (void *arg)
{
    return s_json_close (arg);
}

static const yajl_callbacks JSON_CALLBACKS = {
    .yajl_null = s_json_null,
    .yajl_boolean = s_json_boolean,
    .yajl_integer = s_json_integer,
    .yajl_double = s_json_double,
    .yajl_string = s_json_string,
    .yajl_start_map = s_json_start_map,
    .yajl_map_key = s_json_key,
    .yajl_end_map = s_json_end,
    .yajl_start_array = s_json_start_array,
    .yajl_end_array = s_json_end,
};

//  Parses the JSON text DATA with CALLBACKS, which get CONTEXT. Returns 0,
//  or -1 with what is wrong and where in ERROR.
static int s_json_parse (const yajl_callbacks *callbacks, void *context, const char *data,
                         size_t size, char *error, size_t error_size)
{
    yajl_handle parser = yajl_alloc (callbacks, NULL, context);
    yajl_status status = yajl_parse (parser, (const unsigned char *)data, size);
    if (status == yajl_status_ok)
        status = yajl_complete_parse (parser);
    int rc = 0;
    if (status == yajl_status_client_canceled) {
        snprintf (error, error_size, "nested deeper than %d levels", MAX_JSON_DEPTH);
        rc = -1;
    } else if (status != yajl_status_ok) {
        size_t offset = yajl_get_bytes_consumed (parser);
        unsigned char *message = yajl_get_error (parser, 0, NULL, 0);
        size_t length = strcspn ((const char *)message, "\n");
        snprintf (error, error_size, "invalid JSON at byte %zu: %.*s", offset, (int)length,
                  (const char *)message);
        yajl_free_error (parser, message);
        rc = -1;
    }
    yajl_free (parser);
    return rc;
}

//  Only counts depth: the check of a whole file before anything is emitted.
static int s_json_depth_open (void *arg)
{
    int *depth = arg;
    return ++*depth <= MAX_JSON_DEPTH;
}

static int s_json_depth_close (void *arg)
{
    int *depth = arg;
    --*depth;
    return 1;
}

static const yajl_callbacks JSON_CHECK_CALLBACKS = {
    .yajl_start_map = s_json_depth_open,
    .yajl_end_map = s_json_depth_close,
    .yajl_start_array = s_json_depth_open,
    .yajl_end_array = s_json_depth_close,
};

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

//  Makes READER ready for a JSON text of SIZE bytes.
static void s_json_reader_start (json_reader_t *reader, size_t size)
{
    reader->depth = 0;
    reader->closed = false;
    if (reader->arena_size < size + 1) {
        free (reader->arena);
        reader->arena_size = size + 1;
        reader->arena = malloc (reader->arena_size);
    }
}

static json_reader_t *s_json_reader_new (const char *name, pb_feed_sink_t *sink)
{
    json_reader_t *reader = calloc (1, sizeof *reader);
    reader->builder = calloc (1, sizeof *reader->builder);
    reader->sink = sink;
    reader->name = name;
    msgpack_sbuffer_init (&reader->buffer);
    return reader;
}

static long s_json_reader_destroy (json_reader_t **reader_p)
{
    json_reader_t *reader = *reader_p;
    long papers = reader->papers;
    msgpack_sbuffer_destroy (&reader->buffer);
    free (reader->arena);
    free (reader->builder);
    free (reader);
    *reader_p = NULL;
    return papers;
}

//  One object per line; a bad line is rejected with its number and the
//  others are kept.
static long s_json_lines (const char *name, const char *data, size_t size, pb_feed_sink_t *sink)
{
    char day[11];
    json_reader_t *reader = s_json_reader_new (name, sink);
    reader->listed = s_listing_day (name, day);
    size_t line_number = 0;
    for (const char *line = data; line < data + size;) {
        const char *end = memchr (line, '\n', (size_t)(data + size - line));
        size_t length = end ? (size_t)(end - line) : (size_t)(data + size - line);
        line_number++;
        snprintf (reader->position, sizeof reader->position, "%s:%zu", name, line_number);
        size_t blank = 0;
        while (blank < length && isspace ((unsigned char)line[blank]))
            blank++;
        if (blank < length) {
            char error[160];
            s_json_reader_start (reader, length);
            if (line[blank] != '{')
                sink->reject (reader->position, "not a JSON object", sink->arg);
            else if (s_json_parse (&JSON_CALLBACKS, reader, line, length, error, sizeof error))
                sink->reject (reader->position, error, sink->arg);
            else if (reader->closed)
                s_json_end_record (reader);
        }
        line = end ? end + 1 : data + size;
    }
    return s_json_reader_destroy (&reader);
}

//  Hugging Face daily papers: an array of entries, each with its "paper".
//  The whole file is checked first, so that a truncated one emits nothing.
static long s_hf_daily (const char *name, const char *data, size_t size, pb_feed_sink_t *sink,
                        char *error_text, size_t error_size)
{
    char problem[160];
    int depth = 0;
    if (s_json_parse (&JSON_CHECK_CALLBACKS, &depth, data, size, problem, sizeof problem)) {
        snprintf (error_text, error_size, "%s: not a JSON array of papers: %s", name, problem);
        return -1;
    }
    json_reader_t *reader = s_json_reader_new (name, sink);
    reader->entries = true;
    s_json_reader_start (reader, size);
    if (s_json_parse (&JSON_CALLBACKS, reader, data, size, problem, sizeof problem))
        snprintf (error_text, error_size, "%s: %s", name, problem);
    return s_json_reader_destroy (&reader);
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
