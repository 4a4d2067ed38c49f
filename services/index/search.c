/*  search — parsing, ranking, snippets and similar papers; see search.h. */
#include "search.h"
#include "pb_codec.h"
#include "pb_paper.h"
#include "tokenizer.h"

#include <ctype.h>
#include <libstemmer.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#define FIELDS_ANY     0
#define FIELDS_TITLE   1
#define FIELDS_AUTHORS 2
#define MAX_GROUP      8  //  terms of one excluded word or phrase
#define MAX_PHRASE     16 //  words of a phrase that are checked
#define SNIPPET_WORDS  30
#define RECENT_WORDS   4096 //  words a searcher remembers the terms of

/* ==== A parsed query ==== */

typedef struct {
    uint32_t term;
    uint8_t fields; //  FIELDS_*: where it must appear
    double idf;
    double bound; //  the most it can add to a paper's score
} query_term_t;

//  Words that must appear in this order (folded, stop words included).
typedef struct {
    char words[MAX_PHRASE][TOKENIZER_MAX_WORD + 1];
    size_t count;
    uint8_t fields;
} phrase_t;

//  What a paper must not hold: all of TERMS (in FIELDS), and PHRASE when it
//  has words.
typedef struct {
    uint32_t terms[MAX_GROUP];
    size_t count;
    uint8_t fields;
    phrase_t phrase;
} exclusion_t;

typedef struct {
    query_term_t optional[SEARCH_MAX_UNITS * 2];
    size_t optional_count;
    query_term_t required[SEARCH_MAX_UNITS * 2];
    size_t required_count;
    phrase_t phrases[8];
    size_t phrase_count;
    exclusion_t exclusions[16];
    size_t exclusion_count;
    uint32_t categories[16];
    size_t category_count;
    bool category_given;  //  a cat: was asked for, known or not
    int32_t since, until; //  days since 1970, or INDEX_NO_DATE
    bool id_given;
    int64_t id_doc;    //  when id_given: the paper asked for, or -1
    int64_t pin_doc;   //  -1 when none
    bool impossible;   //  a required word no paper has
    size_t stop_words; //  plain words dropped as stop words
    size_t words;      //  plain words given
} query_t;

/* ==== Posting cursors ==== */

typedef struct {
    const term_t *term;
    const uint8_t *at; //  the next posting's bytes
    const uint8_t *end;
    uint32_t base;       //  the document before the next posting
    uint32_t position;   //  postings consumed
    uint32_t doc;        //  current document, UINT32_MAX past the end
    uint8_t frequencies; //  of the current posting
} cursor_t;

static void s_cursor_next (cursor_t *cursor)
{
    if (cursor->at >= cursor->end) {
        cursor->doc = UINT32_MAX;
        return;
    }
    uint32_t gap = 0;
    int shift = 0;
    uint8_t byte;
    do {
        byte = *cursor->at++;
        gap |= (uint32_t)(byte & 0x7f) << shift;
        shift += 7;
    } while (byte & 0x80);
    cursor->doc = cursor->base + gap;
    cursor->base = cursor->doc;
    cursor->frequencies = *cursor->at++;
    cursor->position++;
}

static void s_cursor_open (cursor_t *cursor, const term_t *term)
{
    *cursor = (cursor_t){term, term->bytes, term->bytes + term->size, 0, 0, 0, 0};
    s_cursor_next (cursor);
}

//  Moves to the first posting at or after TARGET, jumping whole blocks.
static void s_cursor_seek (cursor_t *cursor, uint32_t target)
{
    if (cursor->doc >= target)
        return;
    const term_t *term = cursor->term;
    //  Block b (b >= 1) starts after skips[b-1]'s document; the current
    //  block is the one holding the posting just read.
    uint32_t block = (cursor->position - 1) / INDEX_BLOCK;
    uint32_t jump = block;
    while (jump < TERM_SKIPS (term) && term->skips[2 * jump + 1] < target)
        jump++;
    if (jump > block) {
        cursor->at = term->bytes + term->skips[2 * (jump - 1)];
        cursor->base = term->skips[2 * (jump - 1) + 1];
        cursor->position = jump * INDEX_BLOCK;
    }
    do
        s_cursor_next (cursor);
    while (cursor->doc < target);
}

static bool s_in_fields (uint8_t frequencies, uint8_t fields)
{
    return fields == FIELDS_ANY     ? (frequencies != 0)
           : fields == FIELDS_TITLE ? TF_TITLE (frequencies) != 0
                                    : TF_AUTHORS (frequencies) != 0;
}

/* ==== The searcher ==== */

typedef struct {
    uint32_t doc;
    double score;
    double key; //  what the sort orders by
} ranked_t;

struct _searcher_t {
    index_t *index;
    index_view_t view;
    struct sb_stemmer *stemmer;
    ZSTD_DCtx *dctx;
    char *buffer; //  an unpacked paper
    size_t buffer_size;
    char *verify_buffer; //  another, for phrase checks during a search
    size_t verify_size;
    query_t query;
    search_sort_t sort;
    //  The best papers so far: a min-heap on (key, score, ...).
    ranked_t *heap;
    size_t heap_count, heap_capacity;
    size_t matched;                            //  papers that passed every check
    size_t phrase_checked, phrase_passed;      //  papers whose phrases were checked, and passed
    size_t phrase_unchecked;                   //  matches counted without the check
    cursor_t exclusion_cursors[16][MAX_GROUP]; //  per excluded term
    //  Words met lately and their terms (-1: none), so that snippets and
    //  similar papers do not stem every word of every abstract. Cleared
    //  when the index has new terms, which may give a word one.
    struct {
        char word[16];
        int64_t term;
    } * recent;
    uint32_t recent_terms;               //  the index's term count when filled
    struct snippet_words *snippet_words; //  a snippet's words, kept between snippets
    //  Similar papers: accumulated scores per document.
    float *accumulator;
    uint32_t *touched;
    size_t accumulator_size;
};

searcher_t *searcher_new (index_t *index)
{
    searcher_t *self = calloc (1, sizeof *self);
    self->index = index;
    self->stemmer = sb_stemmer_new ("english", NULL);
    self->dctx = ZSTD_createDCtx ();
    self->recent = calloc (RECENT_WORDS, sizeof *self->recent);
    return self;
}

void searcher_destroy (searcher_t **self_p)
{
    searcher_t *self = *self_p;
    if (!self)
        return;
    sb_stemmer_delete (self->stemmer);
    ZSTD_freeDCtx (self->dctx);
    free (self->buffer);
    free (self->verify_buffer);
    free (self->heap);
    free (self->recent);
    free (self->snippet_words);
    free (self->accumulator);
    free (self->touched);
    free (self);
    *self_p = NULL;
}

int searcher_paper (searcher_t *self, uint32_t doc, index_paper_t *paper)
{
    return index_paper (self->index, doc, paper, &self->buffer, &self->buffer_size, self->dctx);
}

//  The term of a folded word, through the searcher's recent words.
static int64_t s_term (searcher_t *self, const char *word, size_t length)
{
    if (length >= sizeof self->recent[0].word)
        return index_term (self->index, word, length, self->stemmer);
    if (self->recent_terms != self->view.term_count) {
        memset (self->recent, 0, RECENT_WORDS * sizeof *self->recent);
        self->recent_terms = self->view.term_count;
    }
    uint32_t hash = 2166136261u;
    for (size_t i = 0; i < length; i++)
        hash = (hash ^ (unsigned char)word[i]) * 16777619u;
    __typeof__ (self->recent[0]) *slot = &self->recent[hash % RECENT_WORDS];
    if (memcmp (slot->word, word, length + 1) == 0 && length)
        return slot->term;
    memcpy (slot->word, word, length + 1);
    slot->term = index_term (self->index, word, length, self->stemmer);
    return slot->term;
}

/* ==== Parsing ==== */

static double s_idf (const index_view_t *view, uint32_t df)
{
    double n = view->live_count;
    return log (1 + (n - df + 0.5) / (df + 0.5));
}

static void s_add_term (searcher_t *self, query_term_t *list, size_t *count, uint32_t term,
                        uint8_t fields)
{
    for (size_t i = 0; i < *count; i++)
        if (list[i].term == term && list[i].fields == fields)
            return;
    if (*count == SEARCH_MAX_UNITS * 2)
        return;
    const term_t *postings = &self->view.terms[term];
    double idf = s_idf (&self->view, postings->df);
    //  The term's bound is taken at the index's bound_length, at least the
    //  average length; a smaller average only lowers a paper's factor.
    list[(*count)++] = (query_term_t){term, fields, idf, idf * postings->bound};
}

typedef struct {
    searcher_t *searcher;
    int64_t terms[SEARCH_MAX_UNITS];
    size_t count;
    size_t stop_words;
    bool unknown; //  a word no paper has
    phrase_t phrase;
} unit_words_t;

static bool s_unit_word (const token_t *token, void *arg)
{
    unit_words_t *unit = arg;
    if (unit->phrase.count < MAX_PHRASE)
        memcpy (unit->phrase.words[unit->phrase.count++], token->word, token->length + 1);
    if (index_stop_word (token->word, token->length)) {
        unit->stop_words++;
        return true;
    }
    int64_t term = s_term (unit->searcher, token->word, token->length);
    if (term < 0)
        unit->unknown = true;
    else if (unit->count < SEARCH_MAX_UNITS)
        unit->terms[unit->count++] = term;
    return true;
}

//  Days since 1970 of "YYYY-MM-DD", "YYYY-MM" or "YYYY" (the first day of
//  the period; LAST asks for its last day), or INDEX_NO_DATE.
static int32_t s_parse_day (const char *text, size_t length, bool last)
{
    int year = 0, month = 1, day = 1, used = 0;
    char copy[16];
    if (length >= sizeof copy)
        return INDEX_NO_DATE;
    memcpy (copy, text, length);
    copy[length] = '\0';
    int fields = sscanf (copy, "%4d-%2d-%2d%n", &year, &month, &day, &used);
    if (fields < 3) {
        used = 0;
        fields = sscanf (copy, "%4d-%2d%n", &year, &month, &used);
        if (fields < 2) {
            used = 0;
            fields = sscanf (copy, "%4d%n", &year, &used);
        }
    }
    if (used != (int)length || year < 1900 || year > 2200 || month < 1 || month > 12 || day < 1 ||
        day > 31)
        return INDEX_NO_DATE;
    struct tm tm = {.tm_year = year - 1900, .tm_mon = month - 1, .tm_mday = day, .tm_hour = 12};
    if (last && fields == 1)
        tm = (struct tm){.tm_year = year - 1900 + 1, .tm_mon = 0, .tm_mday = 0, .tm_hour = 12};
    else if (last && fields == 2)
        tm = (struct tm){.tm_year = year - 1900, .tm_mon = month, .tm_mday = 0, .tm_hour = 12};
    time_t seconds = timegm (&tm);
    struct tm check;
    gmtime_r (&seconds, &check);
    if (fields == 3 && check.tm_mday != day)
        return INDEX_NO_DATE; //  "2026-02-31"
    return (int32_t)(seconds / 86400);
}

static int s_fail (search_result_t *result, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

static int s_fail (search_result_t *result, const char *format, ...)
{
    va_list arguments;
    va_start (arguments, format);
    vsnprintf (result->error, sizeof result->error, format, arguments);
    va_end (arguments);
    return -1;
}

//  Reads one unit of the query (a word, a phrase, a filter) from *AT.
static int s_parse_unit (searcher_t *self, const char **at, const char *end,
                         search_result_t *result)
{
    query_t *query = &self->query;
    const char *p = *at;
    bool negated = false;
    if (*p == '-' && p + 1 < end && *(p + 1) != ' ') {
        negated = true;
        p++;
    }
    static const char *const prefixes[] = {"ti:", "au:", "cat:", "since:", "until:", "id:"};
    int prefix = -1;
    for (int i = 0; i < 6; i++) {
        size_t length = strlen (prefixes[i]);
        if ((size_t)(end - p) >= length && strncasecmp (p, prefixes[i], length) == 0) {
            prefix = i;
            p += length;
            break;
        }
    }
    const char *value = p;
    bool quoted = p < end && *p == '"';
    if (quoted) {
        value = ++p;
        while (p < end && *p != '"')
            p++;
    } else
        while (p < end && *p != ' ')
            p++;
    size_t value_length = (size_t)(p - value);
    *at = quoted && p < end ? p + 1 : p; //  an unbalanced quote runs to the end

    if (prefix == 2) { //  cat:
        int64_t term = index_category_term (self->index, value, value_length);
        if (negated) {
            if (term >= 0 && query->exclusion_count < 16)
                query->exclusions[query->exclusion_count++] =
                    (exclusion_t){{(uint32_t)term}, 1, FIELDS_ANY, {.count = 0}};
        } else {
            query->category_given = true;
            if (term >= 0 && query->category_count < 16)
                query->categories[query->category_count++] = (uint32_t)term;
        }
        return 0;
    }
    if (prefix == 3 || prefix == 4) { //  since:, until:
        int32_t day = s_parse_day (value, value_length, prefix == 4);
        if (day == INDEX_NO_DATE || negated)
            return s_fail (result, "%s wants a date like 2026-01-31, 2026-01 or 2026",
                           prefixes[prefix]);
        if (prefix == 3)
            query->since = day;
        else
            query->until = day;
        return 0;
    }
    if (prefix == 5) { //  id:
        char id[PB_PAPER_ID_MAX + 1];
        int version;
        if (negated)
            return s_fail (result, "%s", "-id: is not supported; ask for the paper itself");
        query->id_given = true;
        if (value_length <= PB_PAPER_ID_MAX &&
            pb_arxiv_id_parse (value, value_length, id, &version) == 0)
            query->id_doc = index_lookup (self->index, id);
        else if (value_length <= PB_PAPER_ID_MAX) {
            memcpy (id, value, value_length);
            id[value_length] = '\0';
            query->id_doc = index_lookup (self->index, id);
        } else
            query->id_doc = -1;
        return 0;
    }
    uint8_t fields = prefix == 0 ? FIELDS_TITLE : prefix == 1 ? FIELDS_AUTHORS : FIELDS_ANY;
    unit_words_t unit = {.searcher = self};
    unit.phrase.fields = fields;
    tokenize (value, value_length, s_unit_word, &unit);
    query->words += unit.count + unit.stop_words + unit.unknown;
    query->stop_words += unit.stop_words;
    if (negated) {
        //  A phrase of stop words alone ("-\"of the\"") is checked as a phrase.
        bool phrase = quoted && unit.phrase.count > 1;
        if ((unit.count || phrase) && !unit.unknown && query->exclusion_count < 16) {
            exclusion_t *exclusion = &query->exclusions[query->exclusion_count++];
            exclusion->count = 0;
            exclusion->fields = fields;
            for (size_t i = 0; i < unit.count && i < MAX_GROUP; i++)
                exclusion->terms[exclusion->count++] = (uint32_t)unit.terms[i];
            exclusion->phrase = quoted && unit.phrase.count > 1 ? unit.phrase : (phrase_t){0};
        }
        return 0;
    }
    if (quoted || prefix == 0 || prefix == 1) {
        //  Phrases and fielded words must be there: all their words.
        if (unit.unknown)
            query->impossible = true;
        for (size_t i = 0; i < unit.count; i++)
            s_add_term (self, query->required, &query->required_count, (uint32_t)unit.terms[i],
                        fields);
        if (quoted && unit.phrase.count > 1 && query->phrase_count < 8)
            query->phrases[query->phrase_count++] = unit.phrase;
        return 0;
    }
    for (size_t i = 0; i < unit.count; i++)
        s_add_term (self, query->optional, &query->optional_count, (uint32_t)unit.terms[i],
                    FIELDS_ANY);
    return 0;
}

//  The paper a whole query names: an arXiv id, or an exact title.
static int64_t s_pinned (searcher_t *self, const char *text, size_t length)
{
    char id[PB_PAPER_ID_MAX + 1];
    int version;
    if (length <= PB_PAPER_ID_MAX && pb_arxiv_id_parse (text, length, id, &version) == 0)
        return index_lookup (self->index, id);
    return index_lookup_title (self->index, text, length);
}

static int s_parse (searcher_t *self, const char *text, size_t length, search_result_t *result)
{
    query_t *query = &self->query;
    memset (query, 0, sizeof *query);
    query->since = query->until = INDEX_NO_DATE;
    query->pin_doc = -1;
    if (length > SEARCH_MAX_QUERY) {
        snprintf (result->error, sizeof result->error,
                  "the query is %zu bytes long; at most %d are accepted", length, SEARCH_MAX_QUERY);
        return -1;
    }
    if (!pb_utf8_valid (text, length))
        return s_fail (result, "%s", "the query is not valid UTF-8");
    char copy[SEARCH_MAX_QUERY + 1];
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\t' || c == '\n' || c == '\r')
            c = ' ';
        else if (c < 0x20 || c == 0x7f)
            return s_fail (result, "%s", "the query contains control characters");
        copy[i] = (char)c;
    }
    const char *at = copy, *end = copy + length;
    size_t units = 0;
    while (true) {
        while (at < end && *at == ' ')
            at++;
        if (at == end)
            break;
        if (++units > SEARCH_MAX_UNITS) {
            snprintf (result->error, sizeof result->error,
                      "the query has more than %d words and filters", SEARCH_MAX_UNITS);
            return -1;
        }
        if (s_parse_unit (self, &at, end, result))
            return -1;
    }
    if (units == 0)
        return s_fail (result, "%s", "the query is empty");
    //  A query that is exactly an id or a title, with nothing else.
    const char *start = copy;
    while (start < end && *start == ' ')
        start++;
    size_t trimmed = (size_t)(end - start);
    while (trimmed && start[trimmed - 1] == ' ')
        trimmed--;
    if (query->required_count == 0 && !query->category_given && !query->id_given &&
        query->since == INDEX_NO_DATE && query->until == INDEX_NO_DATE &&
        query->exclusion_count == 0)
        query->pin_doc = s_pinned (self, start, trimmed);
    return 0;
}

/* ==== Checking and ranking one paper ==== */

static bool s_live (const index_view_t *view, uint32_t doc)
{
    return view->live[doc / 64] >> (doc % 64) & 1;
}

//  The last words of the text, as many as the phrase has, in a ring.
typedef struct {
    const phrase_t *phrase;
    char window[MAX_PHRASE][TOKENIZER_MAX_WORD + 1];
    size_t seen; //  words read so far
    bool found;
} phrase_match_t;

static bool s_phrase_word (const token_t *token, void *arg)
{
    phrase_match_t *match = arg;
    const phrase_t *phrase = match->phrase;
    memcpy (match->window[match->seen % phrase->count], token->word, token->length + 1);
    match->seen++;
    if (match->seen < phrase->count)
        return true;
    //  The window's oldest word is the phrase's first.
    size_t first = match->seen - phrase->count;
    for (size_t k = 0; k < phrase->count; k++)
        if (strcmp (match->window[(first + k) % phrase->count], phrase->words[k]) != 0)
            return true;
    match->found = true;
    return false;
}

//  True when DOC's text holds PHRASE, word for word.
static bool s_has_phrase (searcher_t *self, uint32_t doc, const phrase_t *phrase)
{
    index_paper_t paper;
    if (index_paper (self->index, doc, &paper, &self->verify_buffer, &self->verify_size,
                     self->dctx))
        return false;
    const char *texts[2] = {paper.title, paper.abstract};
    size_t count = 2;
    if (phrase->fields == FIELDS_TITLE)
        count = 1;
    else if (phrase->fields == FIELDS_AUTHORS) {
        texts[0] = paper.authors;
        count = 1;
    }
    for (size_t i = 0; i < count; i++) {
        phrase_match_t match = {.phrase = phrase};
        tokenize (texts[i], strlen (texts[i]), s_phrase_word, &match);
        if (match.found)
            return true;
    }
    return false;
}

//  Whether a term's postings hold DOC (a fresh cursor: for rare checks).
//  Whether excluded term T of exclusion E holds DOC in its fields. Its
//  cursor only moves forward: candidates come in document order.
static bool s_excluded_term_has (searcher_t *self, size_t e, size_t t, uint32_t doc)
{
    cursor_t *cursor = &self->exclusion_cursors[e][t];
    s_cursor_seek (cursor, doc);
    return cursor->doc == doc &&
           s_in_fields (cursor->frequencies, self->query.exclusions[e].fields);
}

//  The filters that need no scoring: live, dates, exclusions.
static bool s_passes_filters (searcher_t *self, uint32_t doc)
{
    const query_t *query = &self->query;
    if (!s_live (&self->view, doc))
        return false;
    int32_t date = self->view.date[doc];
    if (query->since != INDEX_NO_DATE && (date == INDEX_NO_DATE || date < query->since))
        return false;
    if (query->until != INDEX_NO_DATE && (date == INDEX_NO_DATE || date > query->until))
        return false;
    for (size_t e = 0; e < query->exclusion_count; e++) {
        const exclusion_t *exclusion = &query->exclusions[e];
        bool all = true;
        for (size_t t = 0; t < exclusion->count && all; t++)
            all = s_excluded_term_has (self, e, t, doc);
        if (all && (exclusion->phrase.count == 0 || s_has_phrase (self, doc, &exclusion->phrase)))
            return false;
    }
    return true;
}

static double s_term_score (const searcher_t *self, const query_term_t *term, uint32_t doc,
                            uint8_t frequencies)
{
    return term->idf *
           index_tf_factor (frequencies, self->view.length[doc], self->view.average_length);
}

static int s_compare_ids (searcher_t *self, uint32_t a, uint32_t b)
{
    size_t a_length, b_length;
    const char *a_id = index_doc_id (self->index, a, &a_length);
    const char *b_id = index_doc_id (self->index, b, &b_length);
    int order = memcmp (a_id, b_id, a_length < b_length ? a_length : b_length);
    return order ? order : (a_length > b_length) - (a_length < b_length);
}

//  True when A ranks below B: a lower key, then score, then date; ties go
//  by paper id, so that any build of the same papers answers alike.
static bool s_below (searcher_t *self, const ranked_t *a, const ranked_t *b)
{
    if (a->key != b->key)
        return a->key < b->key;
    if (a->score != b->score)
        return a->score < b->score;
    int32_t a_date = self->view.date[a->doc], b_date = self->view.date[b->doc];
    if (a_date != b_date)
        return a_date < b_date;
    return s_compare_ids (self, a->doc, b->doc) > 0;
}

static void s_sift_down (searcher_t *self, size_t at)
{
    ranked_t *heap = self->heap;
    while (true) {
        size_t smallest = at, left = 2 * at + 1, right = left + 1;
        if (left < self->heap_count && s_below (self, &heap[left], &heap[smallest]))
            smallest = left;
        if (right < self->heap_count && s_below (self, &heap[right], &heap[smallest]))
            smallest = right;
        if (smallest == at)
            return;
        ranked_t swap = heap[at];
        heap[at] = heap[smallest];
        heap[smallest] = swap;
        at = smallest;
    }
}

static void s_push (searcher_t *self, uint32_t doc, double score)
{
    double key = self->sort == SEARCH_DATE       ? self->view.date[doc]
                 : self->sort == SEARCH_TRENDING ? self->view.trend[doc]
                                                 : score;
    ranked_t entry = {doc, score, key};
    if (self->heap_count < self->heap_capacity) {
        size_t at = self->heap_count++;
        self->heap[at] = entry;
        while (at && s_below (self, &self->heap[at], &self->heap[(at - 1) / 2])) {
            ranked_t swap = self->heap[at];
            self->heap[at] = self->heap[(at - 1) / 2];
            self->heap[(at - 1) / 2] = swap;
            at = (at - 1) / 2;
        }
    } else if (s_below (self, &self->heap[0], &entry)) {
        self->heap[0] = entry;
        s_sift_down (self, 0);
    }
}

//  The score a paper must beat to enter the heap (relevance order only).
static double s_threshold (const searcher_t *self)
{
    return self->heap_count == self->heap_capacity ? self->heap[0].score : 0;
}

//  Required phrases hold: checked last, as they unpack the paper.
static bool s_passes_phrases (searcher_t *self, uint32_t doc)
{
    for (size_t p = 0; p < self->query.phrase_count; p++)
        if (!s_has_phrase (self, doc, &self->query.phrases[p]))
            return false;
    return true;
}

//  Category filter: in one of the categories asked for.
static bool s_passes_categories (searcher_t *self, cursor_t *categories, uint32_t doc)
{
    if (!self->query.category_given)
        return true;
    for (size_t c = 0; c < self->query.category_count; c++) {
        s_cursor_seek (&categories[c], doc);
        if (categories[c].doc == doc)
            return true;
    }
    return false;
}

/* ==== Evaluation ==== */

//  Ranked OR over the optional terms, pruned with MaxScore. Only for
//  relevance order without filters: every candidate is a match.
static void s_maxscore (searcher_t *self, cursor_t *cursors, query_term_t *terms, size_t count)
{
    //  Terms by bound, ascending; prefix[i] is the most terms 0..i add.
    double prefix[SEARCH_MAX_UNITS * 2];
    for (size_t i = 0; i < count; i++)
        prefix[i] = terms[i].bound + (i ? prefix[i - 1] : 0);
    double contribution[SEARCH_MAX_UNITS * 2];
    //  Block-max: within [doc, region_end] every term stays in one block,
    //  whose bound (block_prefix, summed like prefix) caps what a paper
    //  there can score; a region that cannot reach the heap is skipped.
    uint32_t shallow[SEARCH_MAX_UNITS * 2] = {0}; //  each term's block
    double block_prefix[SEARCH_MAX_UNITS * 2];
    uint32_t region_end = 0;
    bool region = false;
    size_t essential = 0; //  terms below this index are non-essential
    while (true) {
        double threshold = s_threshold (self);
        //  Only what cannot reach the heap's least is pruned: a paper
        //  scoring exactly as much may still win the tie-break.
        while (essential < count && prefix[essential] < threshold)
            essential++;
        if (essential == count)
            break;
        uint32_t doc = UINT32_MAX;
        for (size_t i = essential; i < count; i++)
            if (cursors[i].doc < doc)
                doc = cursors[i].doc;
        if (doc == UINT32_MAX)
            break;
        bool full = self->heap_count == self->heap_capacity;
        if (full && (!region || doc > region_end)) {
            region = true;
            region_end = UINT32_MAX;
            for (size_t i = 0; i < count; i++) {
                const term_t *term = cursors[i].term;
                double bound = 0;
                if (doc <= term->last_doc) {
                    while (shallow[i] < TERM_SKIPS (term) && term->skips[2 * shallow[i] + 1] < doc)
                        shallow[i]++;
                    bound = terms[i].idf * term->block_bounds[shallow[i]];
                    uint32_t end = TERM_BLOCK_END (term, shallow[i]);
                    if (end < region_end)
                        region_end = end;
                }
                block_prefix[i] = bound + (i ? block_prefix[i - 1] : 0);
            }
        }
        if (full && block_prefix[count - 1] < threshold) {
            if (region_end == UINT32_MAX)
                break;
            for (size_t i = essential; i < count; i++)
                s_cursor_seek (&cursors[i], region_end + 1);
            continue;
        }
        bool live = s_live (&self->view, doc);
        double score = 0;
        //  contribution[i] is set for the terms the paper has: no clearing
        //  of the whole array per paper.
        uint64_t has = 0, has_high = 0;
        for (size_t i = essential; i < count; i++)
            if (cursors[i].doc == doc) {
                if (live) {
                    score += contribution[i] =
                        s_term_score (self, &terms[i], doc, cursors[i].frequencies);
                    *(i < 64 ? &has : &has_high) |= 1ULL << (i % 64);
                }
                s_cursor_next (&cursors[i]);
            }
        if (!live)
            continue;
        self->matched++;
        for (size_t i = essential; i-- > 0;) {
            if (score + (full ? block_prefix[i] : prefix[i]) < threshold)
                break;
            s_cursor_seek (&cursors[i], doc);
            if (cursors[i].doc == doc) {
                score += contribution[i] =
                    s_term_score (self, &terms[i], doc, cursors[i].frequencies);
                *(i < 64 ? &has : &has_high) |= 1ULL << (i % 64);
            }
        }
        //  Summed again in term order: the same paper scores the same
        //  whichever terms were essential when it was met.
        score = 0;
        for (size_t i = 0; i < count; i++)
            if ((i < 64 ? has : has_high) >> (i % 64) & 1)
                score += contribution[i];
        if (score >= threshold)
            s_push (self, doc, score);
    }
}

//  Checks candidate DOC against the whole query and ranks it. Cursors are
//  sought to DOC, never past it.
static void s_evaluate (searcher_t *self, uint32_t doc, cursor_t *optional, cursor_t *required,
                        cursor_t *categories)
{
    query_t *query = &self->query;
    double score = 0;
    for (size_t r = 0; r < query->required_count; r++) {
        s_cursor_seek (&required[r], doc);
        if (required[r].doc != doc ||
            !s_in_fields (required[r].frequencies, query->required[r].fields))
            return;
        score += s_term_score (self, &query->required[r], doc, required[r].frequencies);
    }
    bool any_optional = false;
    for (size_t i = 0; i < query->optional_count; i++) {
        s_cursor_seek (&optional[i], doc);
        if (optional[i].doc == doc) {
            any_optional = true;
            score += s_term_score (self, &query->optional[i], doc, optional[i].frequencies);
        }
    }
    if (!query->required_count && query->optional_count && !any_optional)
        return;
    if (!s_passes_categories (self, categories, doc) || !s_passes_filters (self, doc))
        return;
    self->matched++;
    if (query->phrase_count) {
        //  Phrases unpack the paper: checked only for papers that would
        //  enter the heap. The others are counted unchecked, and the total
        //  is then an estimate.
        ranked_t entry = {doc, score,
                          self->sort == SEARCH_DATE       ? self->view.date[doc]
                          : self->sort == SEARCH_TRENDING ? self->view.trend[doc]
                                                          : score};
        if (self->heap_count == self->heap_capacity && !s_below (self, &self->heap[0], &entry)) {
            self->phrase_unchecked++;
            return;
        }
        self->phrase_checked++;
        if (!s_passes_phrases (self, doc)) {
            self->matched--;
            return;
        }
        self->phrase_passed++;
    }
    s_push (self, doc, score);
}

//  Every candidate visited: for filters, required words, and date or
//  trending order. The candidates come from the rarest required term, else
//  the union of the optional terms, else the categories, else every paper.
static void s_exhaustive (searcher_t *self, cursor_t *optional, cursor_t *required,
                          cursor_t *categories)
{
    query_t *query = &self->query;
    size_t driver = 0;
    for (size_t r = 1; r < query->required_count; r++)
        if (required[r].term->df < required[driver].term->df)
            driver = r;
    bool every_paper = !query->required_count && !query->optional_count && !query->category_given;
    uint32_t doc = 0;
    while (true) {
        if (query->required_count)
            doc = required[driver].doc;
        else if (query->optional_count) {
            doc = UINT32_MAX;
            for (size_t i = 0; i < query->optional_count; i++)
                if (optional[i].doc < doc)
                    doc = optional[i].doc;
        } else if (query->category_given) {
            doc = UINT32_MAX;
            for (size_t c = 0; c < query->category_count; c++)
                if (categories[c].doc < doc)
                    doc = categories[c].doc;
        }
        if (doc == UINT32_MAX || doc >= self->view.doc_count)
            break;
        s_evaluate (self, doc, optional, required, categories);
        //  Past DOC, for whichever cursors chose it.
        if (every_paper)
            doc++;
        else if (query->required_count)
            s_cursor_next (&required[driver]);
        else if (query->optional_count) {
            for (size_t i = 0; i < query->optional_count; i++)
                if (optional[i].doc == doc)
                    s_cursor_next (&optional[i]);
        } else
            for (size_t c = 0; c < query->category_count; c++)
                if (categories[c].doc == doc)
                    s_cursor_next (&categories[c]);
    }
}

static int s_by_rank (const void *a, const void *b, void *arg)
{
    searcher_t *self = arg;
    const ranked_t *x = a, *y = b;
    return s_below (self, x, y) ? 1 : s_below (self, y, x) ? -1 : 0;
}

int searcher_search (searcher_t *self, const char *text, size_t length, search_sort_t sort,
                     size_t offset, size_t limit, search_result_t *result)
{
    memset (result, 0, offsetof (search_result_t, hits));
    result->note = NULL;
    result->error[0] = '\0';
    if (limit > SEARCH_MAX_LIMIT || offset + limit > SEARCH_MAX_DEPTH) {
        snprintf (result->error, sizeof result->error,
                  "a page holds at most %d hits and reaches at most hit %d", SEARCH_MAX_LIMIT,
                  SEARCH_MAX_DEPTH);
        return -1;
    }
    index_view (self->index, &self->view);
    if (s_parse (self, text, length, result))
        return -1;
    query_t *query = &self->query;
    self->sort = sort;
    self->matched = self->phrase_checked = self->phrase_passed = self->phrase_unchecked = 0;
    self->heap_count = 0;
    //  At least one place: pruning compares against the heap's least.
    size_t depth = offset + limit + (query->pin_doc >= 0);
    if (depth == 0)
        depth = 1;
    if (depth > self->heap_capacity) {
        self->heap = realloc (self->heap, depth * sizeof *self->heap);
    }
    self->heap_capacity = depth;
    result->total_exact = true;
    bool scored_terms = query->optional_count || query->required_count;
    bool nothing = false;
    if (!scored_terms && !query->category_given && !query->id_given &&
        query->since == INDEX_NO_DATE && query->until == INDEX_NO_DATE) {
        result->note = query->words && query->stop_words == query->words
                           ? "every word of the query is a stop word"
                           : "no paper has any of these words";
        nothing = true;
    } else if (query->impossible || (query->category_given && query->category_count == 0) ||
               (query->id_given && query->id_doc < 0)) {
        result->note = query->impossible ? "no paper has every required word" : NULL;
        nothing = true;
    }
    if (nothing) {
        //  An id alone ("2501.01234v2") matches no words but names a paper.
        if (query->pin_doc >= 0 && s_live (&self->view, (uint32_t)query->pin_doc)) {
            result->note = NULL;
            result->total = 1;
            if (offset == 0 && limit)
                result->hits[result->count++] = (search_hit_t){(uint32_t)query->pin_doc, 0, true};
        }
        return 0;
    }
    //  Without words, relevance means nothing: newest first.
    if (!scored_terms && sort == SEARCH_RELEVANCE)
        self->sort = SEARCH_DATE;

    cursor_t optional[SEARCH_MAX_UNITS * 2], required[SEARCH_MAX_UNITS * 2], categories[16];
    //  MaxScore wants the terms by bound, ascending.
    for (size_t i = 1; i < query->optional_count; i++)
        for (size_t j = i; j > 0 && query->optional[j].bound < query->optional[j - 1].bound; j--) {
            query_term_t swap = query->optional[j];
            query->optional[j] = query->optional[j - 1];
            query->optional[j - 1] = swap;
        }
    for (size_t i = 0; i < query->optional_count; i++)
        s_cursor_open (&optional[i], &self->view.terms[query->optional[i].term]);
    for (size_t i = 0; i < query->required_count; i++)
        s_cursor_open (&required[i], &self->view.terms[query->required[i].term]);
    for (size_t i = 0; i < query->category_count; i++)
        s_cursor_open (&categories[i], &self->view.terms[query->categories[i]]);
    for (size_t e = 0; e < query->exclusion_count; e++)
        for (size_t t = 0; t < query->exclusions[e].count; t++)
            s_cursor_open (&self->exclusion_cursors[e][t],
                           &self->view.terms[query->exclusions[e].terms[t]]);

    bool filtered = query->category_given || query->exclusion_count ||
                    query->since != INDEX_NO_DATE || query->until != INDEX_NO_DATE;
    if (query->id_given) {
        uint32_t doc = (uint32_t)query->id_doc;
        bool match = s_passes_categories (self, categories, doc) && s_passes_filters (self, doc);
        double score = 0;
        for (size_t r = 0; r < query->required_count && match; r++) {
            s_cursor_seek (&required[r], doc);
            match = required[r].doc == doc &&
                    s_in_fields (required[r].frequencies, query->required[r].fields);
            if (match)
                score += s_term_score (self, &query->required[r], doc, required[r].frequencies);
        }
        for (size_t i = 0; i < query->optional_count && match; i++) {
            s_cursor_seek (&optional[i], doc);
            if (optional[i].doc == doc)
                score += s_term_score (self, &query->optional[i], doc, optional[i].frequencies);
        }
        if (match && s_passes_phrases (self, doc)) {
            self->matched = 1;
            s_push (self, doc, score);
        }
    } else if (query->optional_count && !query->required_count && !query->phrase_count &&
               !filtered && self->sort == SEARCH_RELEVANCE) {
        s_maxscore (self, optional, query->optional, query->optional_count);
        //  Pruning skipped papers: estimate the union, as if the terms
        //  occurred independently.
        if (query->optional_count > 1 && self->view.live_count) {
            double n = self->view.live_count, none = 1;
            for (size_t i = 0; i < query->optional_count; i++)
                none *= 1 - self->view.terms[query->optional[i].term].df / n;
            //  Never fewer than the papers actually met.
            size_t estimate = (size_t)llround (n * (1 - none));
            if (estimate > self->matched)
                self->matched = estimate;
            result->total_exact = false;
        } else if (query->optional_count > 1)
            self->matched = 0;
        else
            self->matched = self->view.terms[query->optional[0].term].df;
    } else
        s_exhaustive (self, optional, required, categories);
    if (self->phrase_unchecked) {
        //  Unchecked matches pass phrases at the rate checked ones did.
        result->total_exact = false;
        double rate = self->phrase_checked ? (double)self->phrase_passed / self->phrase_checked : 1;
        self->matched =
            self->phrase_passed + (size_t)llround ((double)self->phrase_unchecked * rate);
    }
    result->total = self->matched;

    //  The ranked list: the pinned paper first, then the heap, best first.
    qsort_r (self->heap, self->heap_count, sizeof *self->heap, s_by_rank, self);
    size_t position = 0;
    bool pinned = query->pin_doc >= 0 && s_live (&self->view, (uint32_t)query->pin_doc);
    if (pinned) {
        uint32_t pin = (uint32_t)query->pin_doc;
        double score = self->heap_count ? self->heap[0].score : 0;
        for (size_t i = 0; i < self->heap_count; i++)
            if (self->heap[i].doc == pin) {
                score = self->heap[i].score;
                memmove (&self->heap[i], &self->heap[i + 1],
                         (self->heap_count - i - 1) * sizeof *self->heap);
                self->heap_count--;
                break;
            }
        if (offset == 0 && limit)
            result->hits[result->count++] = (search_hit_t){pin, score, true};
        position = 1;
    }
    for (size_t i = 0; i < self->heap_count && result->count < limit; i++, position++)
        if (position >= offset)
            result->hits[result->count++] =
                (search_hit_t){self->heap[i].doc, self->heap[i].score, false};
    return 0;
}

/* ==== Snippets ==== */

typedef struct snippet_words {
    searcher_t *searcher;
    size_t starts[4096], ends[4096];
    bool marked[4096];
    size_t count;
} snippet_words_t;

static bool s_query_has_term (const query_t *query, int64_t term)
{
    for (size_t i = 0; i < query->optional_count; i++)
        if (query->optional[i].term == term)
            return true;
    for (size_t i = 0; i < query->required_count; i++)
        if (query->required[i].term == term)
            return true;
    return false;
}

static bool s_snippet_word (const token_t *token, void *arg)
{
    snippet_words_t *words = arg;
    if (words->count == 4096)
        return false;
    //  Stop words have no term.
    int64_t term = s_term (words->searcher, token->word, token->length);
    words->starts[words->count] = token->start;
    words->ends[words->count] = token->end;
    words->marked[words->count] = term >= 0 && s_query_has_term (&words->searcher->query, term);
    words->count++;
    return true;
}

//  Appends TEXT (LENGTH bytes) HTML-escaped to OUT.
static void s_escape (char *out, size_t size, size_t *used, const char *text, size_t length)
{
    for (size_t i = 0; i < length && *used + 7 < size; i++) {
        const char *entity = text[i] == '<'   ? "&lt;"
                             : text[i] == '>' ? "&gt;"
                             : text[i] == '&' ? "&amp;"
                             : text[i] == '"' ? "&quot;"
                                              : NULL;
        if (entity) {
            memcpy (out + *used, entity, strlen (entity));
            *used += strlen (entity);
        } else
            out[(*used)++] = text[i];
    }
}

static void s_append (char *out, size_t size, size_t *used, const char *text)
{
    size_t length = strlen (text);
    if (*used + length + 1 < size) {
        memcpy (out + *used, text, length);
        *used += length;
    }
}

void searcher_snippet (searcher_t *self, uint32_t doc, char *out, size_t size)
{
    out[0] = '\0';
    index_view (self->index, &self->view);
    index_paper_t paper;
    if (size < 16 || searcher_paper (self, doc, &paper))
        return;
    if (!self->snippet_words)
        self->snippet_words = malloc (sizeof *self->snippet_words);
    snippet_words_t *words = self->snippet_words;
    words->searcher = self;
    words->count = 0;
    const char *text = paper.abstract;
    tokenize (text, strlen (text), s_snippet_word, words);
    //  The window of SNIPPET_WORDS words with the most marked ones.
    size_t best = 0, best_marks = 0, marks = 0;
    for (size_t i = 0; i < words->count; i++) {
        marks += words->marked[i];
        if (i >= SNIPPET_WORDS)
            marks -= words->marked[i - SNIPPET_WORDS];
        if (marks > best_marks) {
            best_marks = marks;
            best = i + 1 > SNIPPET_WORDS ? i + 1 - SNIPPET_WORDS : 0;
        }
    }
    size_t used = 0;
    if (words->count) {
        size_t last = best + SNIPPET_WORDS < words->count ? best + SNIPPET_WORDS : words->count;
        size_t from = best ? words->starts[best] : 0;
        size_t to = last < words->count ? words->ends[last - 1] : strlen (text);
        if (best)
            s_append (out, size, &used, "\xe2\x80\xa6 ");
        for (size_t i = best; i < last; i++) {
            //  Whole words only, with room for their escaping (at most six
            //  bytes a byte), the marks and the ellipsis: never a cut
            //  character nor an unclosed mark.
            if (used + 6 * (words->ends[i] - from) + 32 >= size) {
                last = i;
                to = from;
                break;
            }
            s_escape (out, size, &used, text + from, words->starts[i] - from);
            if (words->marked[i])
                s_append (out, size, &used, "<mark>");
            s_escape (out, size, &used, text + words->starts[i], words->ends[i] - words->starts[i]);
            if (words->marked[i])
                s_append (out, size, &used, "</mark>");
            from = words->ends[i];
        }
        if (to > from && used + 6 * (to - from) + 16 < size)
            s_escape (out, size, &used, text + from, to - from);
        if (last < words->count)
            s_append (out, size, &used, " \xe2\x80\xa6");
    }
    out[used] = '\0';
}

/* ==== Similar papers ==== */

typedef struct {
    searcher_t *searcher;
    uint32_t terms[1024];
    uint32_t frequencies[1024];
    size_t count;
} bag_t;

static bool s_bag_word (const token_t *token, void *arg)
{
    bag_t *bag = arg;
    int64_t term = s_term (bag->searcher, token->word, token->length);
    if (term < 0)
        return true;
    for (size_t i = 0; i < bag->count; i++)
        if (bag->terms[i] == term) {
            bag->frequencies[i]++;
            return true;
        }
    if (bag->count < 1024) {
        bag->terms[bag->count] = (uint32_t)term;
        bag->frequencies[bag->count++] = 1;
    }
    return true;
}

typedef struct {
    uint32_t term;
    double weight;
} weighted_t;

static int s_by_weight (const void *a, const void *b)
{
    const weighted_t *x = a, *y = b;
    return x->weight < y->weight   ? 1
           : x->weight > y->weight ? -1
                                   : (x->term > y->term) - (x->term < y->term);
}

int searcher_similar (searcher_t *self, const char *id, size_t limit, search_result_t *result)
{
    memset (result, 0, offsetof (search_result_t, hits));
    result->note = NULL;
    result->error[0] = '\0';
    index_view (self->index, &self->view);
    if (limit > SEARCH_MAX_LIMIT)
        limit = SEARCH_MAX_LIMIT;
    int64_t source = index_lookup (self->index, id);
    if (source < 0) {
        snprintf (result->error, sizeof result->error, "no paper '%.200s' in the index", id);
        return -1;
    }
    index_paper_t paper;
    if (searcher_paper (self, (uint32_t)source, &paper))
        return s_fail (result, "%s", "the paper could not be read");
    bag_t *bag = calloc (1, sizeof *bag);
    bag->searcher = self;
    tokenize (paper.title, strlen (paper.title), s_bag_word, bag);
    tokenize (paper.abstract, strlen (paper.abstract), s_bag_word, bag);
    //  The query vector (SMART ltc): log frequency times idf, the strongest
    //  terms only; papers are weighted lnc (log frequency, cosine norm).
    weighted_t weighted[1024] = {{0, 0}};
    for (size_t i = 0; i < bag->count; i++)
        weighted[i] = (weighted_t){bag->terms[i],
                                   (1 + log (bag->frequencies[i])) *
                                       s_idf (&self->view, self->view.terms[bag->terms[i]].df)};
    size_t count = bag->count;
    free (bag);
    qsort (weighted, count, sizeof *weighted, s_by_weight);
    if (count > SEARCH_SIMILAR_TERMS)
        count = SEARCH_SIMILAR_TERMS;
    if (self->accumulator_size < self->view.doc_count) {
        free (self->accumulator);
        free (self->touched);
        self->accumulator_size = self->view.doc_count + 4096;
        self->accumulator = calloc (self->accumulator_size, sizeof *self->accumulator);
        self->touched = malloc (self->accumulator_size * sizeof *self->touched);
    }
    size_t touched = 0;
    for (size_t i = 0; i < count; i++) {
        cursor_t cursor;
        for (s_cursor_open (&cursor, &self->view.terms[weighted[i].term]); cursor.doc != UINT32_MAX;
             s_cursor_next (&cursor)) {
            unsigned frequency = TF_TITLE (cursor.frequencies) + TF_ABSTRACT (cursor.frequencies);
            if (!frequency || self->view.norm[cursor.doc] == 0)
                continue;
            if (self->accumulator[cursor.doc] == 0)
                self->touched[touched++] = cursor.doc;
            self->accumulator[cursor.doc] +=
                (float)(weighted[i].weight * (1 + log (frequency)) / self->view.norm[cursor.doc]);
        }
    }
    self->sort = SEARCH_RELEVANCE;
    self->heap_count = 0;
    if (limit > self->heap_capacity)
        self->heap = realloc (self->heap, limit * sizeof *self->heap);
    self->heap_capacity = limit;
    for (size_t i = 0; i < touched; i++) {
        uint32_t doc = self->touched[i];
        if (doc != source && limit && s_live (&self->view, doc))
            s_push (self, doc, self->accumulator[doc]);
        self->accumulator[doc] = 0;
    }
    qsort_r (self->heap, self->heap_count, sizeof *self->heap, s_by_rank, self);
    for (size_t i = 0; i < self->heap_count; i++)
        result->hits[result->count++] =
            (search_hit_t){self->heap[i].doc, self->heap[i].score, false};
    result->total = result->count;
    result->total_exact = true;
    memset (&self->query, 0, sizeof self->query);
    return 0;
}
