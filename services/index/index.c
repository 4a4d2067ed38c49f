/*  index — the papers and their inverted index, in memory; see index.h. */
#include "index.h"
#include "tokenizer.h"

#include <libstemmer.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#define FIELD_SEPARATOR   '\x1e' //  between a stored paper's fields
#define DICTIONARY_BYTES  (112 * 1024)
#define COMPRESSION_LEVEL 1
#define CATEGORY_PREFIX   '\x01' //  category terms: never a folded word

/* ==== Hashing and a string map ==== */

static uint64_t s_hash (const char *key, size_t length)
{
    uint64_t hash = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < length; i++)
        hash = (hash ^ (unsigned char)key[i]) * 0x100000001b3ULL;
    return hash ^ (hash >> 29);
}

//  Keys (up to 255 bytes) to int32 values, open addressing. Keys live in
//  one pool; entries are never removed (a value may be set to -1).
typedef struct {
    uint32_t key_offset; //  into pool
    int32_t value;
    uint8_t key_length;
} strmap_entry_t;

typedef struct {
    uint64_t *slots;   //  hash in the high 32 bits, entry + 1 in the low (0: empty)
    uint32_t capacity; //  slots, a power of two
    uint32_t count;    //  entries
    strmap_entry_t *entries;
    uint32_t entry_capacity;
    char *pool;
    size_t pool_size, pool_capacity;
} strmap_t;

static void s_strmap_grow_slots (strmap_t *map)
{
    uint32_t capacity = map->capacity ? map->capacity * 2 : 1024;
    uint64_t *slots = calloc (capacity, sizeof *slots);
    for (uint32_t i = 0; i < map->capacity; i++) {
        uint64_t slot = map->slots[i];
        if (!slot)
            continue;
        uint32_t at = (uint32_t)(slot >> 32) & (capacity - 1);
        while (slots[at])
            at = (at + 1) & (capacity - 1);
        slots[at] = slot;
    }
    free (map->slots);
    map->slots = slots;
    map->capacity = capacity;
}

//  The entry of KEY, or -1.
static int64_t s_strmap_find (const strmap_t *map, const char *key, size_t length, uint64_t hash)
{
    if (!map->capacity || length > 255)
        return -1;
    uint32_t hash32 = (uint32_t)hash;
    for (uint32_t at = hash32 & (map->capacity - 1);; at = (at + 1) & (map->capacity - 1)) {
        uint64_t slot = map->slots[at];
        if (!slot)
            return -1;
        if ((uint32_t)(slot >> 32) != hash32)
            continue;
        const strmap_entry_t *entry = &map->entries[(uint32_t)slot - 1];
        if (entry->key_length == length && memcmp (map->pool + entry->key_offset, key, length) == 0)
            return (uint32_t)slot - 1;
    }
}

//  Adds KEY (not present, at most 255 bytes) with VALUE; returns its entry.
static uint32_t s_strmap_add (strmap_t *map, const char *key, size_t length, uint64_t hash,
                              int32_t value)
{
    if ((map->count + 1) * 4 > map->capacity * 3)
        s_strmap_grow_slots (map);
    if (map->count == map->entry_capacity) {
        map->entry_capacity = map->entry_capacity ? map->entry_capacity * 2 : 1024;
        map->entries = realloc (map->entries, map->entry_capacity * sizeof *map->entries);
    }
    if (map->pool_size + length > map->pool_capacity) {
        map->pool_capacity = (map->pool_capacity + length) * 2;
        map->pool = realloc (map->pool, map->pool_capacity);
    }
    uint32_t entry = map->count++;
    memcpy (map->pool + map->pool_size, key, length);
    map->entries[entry] = (strmap_entry_t){(uint32_t)map->pool_size, value, (uint8_t)length};
    map->pool_size += length;
    uint32_t hash32 = (uint32_t)hash;
    uint32_t at = hash32 & (map->capacity - 1);
    while (map->slots[at])
        at = (at + 1) & (map->capacity - 1);
    map->slots[at] = (uint64_t)hash32 << 32 | (entry + 1);
    return entry;
}

static size_t s_strmap_memory (const strmap_t *map)
{
    return map->capacity * sizeof (uint64_t) + map->entry_capacity * sizeof (strmap_entry_t) +
           map->pool_capacity;
}

//  Gives back the slack of the entry and key arrays.
static void s_strmap_trim (strmap_t *map)
{
    if (map->entry_capacity > map->count && map->count) {
        map->entries = realloc (map->entries, map->count * sizeof *map->entries);
        map->entry_capacity = map->count;
    }
    if (map->pool_capacity > map->pool_size && map->pool_size) {
        map->pool = realloc (map->pool, map->pool_size);
        map->pool_capacity = map->pool_size;
    }
}

static void s_strmap_free (strmap_t *map)
{
    free (map->slots);
    free (map->entries);
    free (map->pool);
    memset (map, 0, sizeof *map);
}

/* ==== The index ==== */

//  A few thousand frequent words, direct-mapped, small enough to stay in
//  the processor's cache: most words of a text are among them, and a hit
//  costs no walk through the big map.
#define HOT_WORDS    16384
#define HOT_WORD_MAX 15

//  The word, zero-padded to 16 bytes: compared as two machine words.
struct hot_word {
    uint64_t key[2];
    int32_t term;
};

struct _index_t {
    term_t *terms;
    uint32_t term_count, term_capacity;
    strmap_t words;       //  folded word -> term (-1: stop word), during a bulk load
    bool words_cached;    //  until index_trim: then words are stemmed each time
    struct hot_word *hot; //  in front of words during a bulk load
    strmap_t stems;       //  stem (or category term) -> term
    strmap_t ids;         //  paper id -> live document (-1: none)
    struct sb_stemmer *stemmer;

    //  Per document.
    uint32_t doc_count, doc_capacity;
    uint32_t *id_entry;   //  entry in ids
    uint32_t *length;     //  weighted length
    float *norm;          //  of the title+abstract vector
    int32_t *date;        //  days since 1970
    float *trend;         //  from rank
    uint64_t *title_hash; //  of the folded title
    uint64_t *blob_offset;
    uint32_t *blob_size;
    uint64_t *live;
    uint32_t live_count;
    double bound_length;   //  the average length term bounds hold for (at most)
    uint64_t total_length; //  of live documents: an integer, so that any order of puts and
                           //  removals leaves the same average
    size_t raw_bytes;      //  text of live documents

    //  Exact titles: folded-title hash -> document, open addressing.
    uint64_t *title_keys;
    int32_t *title_docs;
    uint32_t title_capacity, title_count;

    //  The stored papers.
    char *blob;
    uint64_t blob_size_used, blob_capacity;
    ZSTD_CCtx *cctx;
    ZSTD_DCtx *dctx;
    ZSTD_CDict *cdict;
    ZSTD_DDict *ddict;
    char *dictionary; //  the first papers' text, once there is enough
    size_t dictionary_size;

    //  Scratch for one put.
    uint8_t *scratch_tf; //  per term, this document's frequencies
    uint32_t *touched;   //  terms with a frequency
    uint32_t touched_count, scratch_capacity;
    char *record; //  the paper as stored, before compression
    size_t record_capacity;
    char *unpacked; //  a stored paper, unpacked
    size_t unpacked_capacity;
};

static const char *const STOP_WORDS[] = {
    "a",       "about",  "above",   "after",  "again",   "against", "all",   "also",    "am",
    "an",      "and",    "any",     "are",    "as",      "at",      "be",    "been",    "before",
    "being",   "below",  "between", "both",   "but",     "by",      "can",   "could",   "did",
    "do",      "does",   "doing",   "down",   "during",  "each",    "few",   "for",     "from",
    "further", "had",    "has",     "have",   "having",  "he",      "her",   "here",    "hers",
    "him",     "his",    "how",     "i",      "if",      "in",      "into",  "is",      "it",
    "its",     "itself", "just",    "may",    "me",      "might",   "more",  "most",    "must",
    "my",      "no",     "nor",     "not",    "of",      "off",     "on",    "once",    "only",
    "or",      "other",  "our",     "ours",   "out",     "over",    "own",   "same",    "she",
    "should",  "so",     "some",    "such",   "than",    "that",    "the",   "their",   "theirs",
    "them",    "then",   "there",   "these",  "they",    "this",    "those", "through", "to",
    "too",     "under",  "until",   "up",     "upon",    "us",      "very",  "via",     "was",
    "we",      "were",   "what",    "when",   "where",   "which",   "while", "who",     "whom",
    "why",     "will",   "with",    "within", "without", "would",   "you",   "your",    "yours"};

bool index_stop_word (const char *word, size_t length)
{
    //  The list is sorted: a binary search.
    size_t low = 0, high = sizeof STOP_WORDS / sizeof STOP_WORDS[0];
    while (low < high) {
        size_t middle = (low + high) / 2;
        const char *stop = STOP_WORDS[middle];
        size_t stop_length = strlen (stop);
        int order = memcmp (stop, word, stop_length < length ? stop_length : length);
        if (order == 0)
            order = (stop_length > length) - (stop_length < length);
        if (order == 0)
            return true;
        if (order < 0)
            low = middle + 1;
        else
            high = middle;
    }
    return false;
}

index_t *index_new (void)
{
    index_t *self = calloc (1, sizeof *self);
    self->stemmer = sb_stemmer_new ("english", NULL);
    self->words_cached = true;
    self->hot = calloc (HOT_WORDS, sizeof *self->hot);
    self->cctx = ZSTD_createCCtx ();
    self->dctx = ZSTD_createDCtx ();
    return self;
}

void index_destroy (index_t **self_p)
{
    index_t *self = *self_p;
    if (!self)
        return;
    for (uint32_t t = 0; t < self->term_count; t++) {
        free (self->terms[t].bytes);
        free (self->terms[t].skips);
        free (self->terms[t].block_bounds);
    }
    free (self->terms);
    s_strmap_free (&self->words);
    free (self->hot);
    s_strmap_free (&self->stems);
    s_strmap_free (&self->ids);
    sb_stemmer_delete (self->stemmer);
    free (self->id_entry);
    free (self->length);
    free (self->norm);
    free (self->date);
    free (self->trend);
    free (self->title_hash);
    free (self->blob_offset);
    free (self->blob_size);
    free (self->live);
    free (self->title_keys);
    free (self->title_docs);
    free (self->blob);
    ZSTD_freeCCtx (self->cctx);
    ZSTD_freeDCtx (self->dctx);
    ZSTD_freeCDict (self->cdict);
    ZSTD_freeDDict (self->ddict);
    free (self->dictionary);
    free (self->scratch_tf);
    free (self->touched);
    free (self->record);
    free (self->unpacked);
    free (self);
    *self_p = NULL;
}

/* ==== Terms ==== */

static int64_t s_new_term (index_t *self, const char *stem, size_t length, uint64_t hash)
{
    if (self->term_count == self->term_capacity) {
        self->term_capacity = self->term_capacity ? self->term_capacity * 2 : 4096;
        self->terms = realloc (self->terms, self->term_capacity * sizeof *self->terms);
        self->scratch_tf = realloc (self->scratch_tf, self->term_capacity);
        memset (self->scratch_tf + self->term_count, 0, self->term_capacity - self->term_count);
        self->touched = realloc (self->touched, self->term_capacity * sizeof *self->touched);
    }
    uint32_t term = self->term_count++;
    memset (&self->terms[term], 0, sizeof self->terms[term]);
    s_strmap_add (&self->stems, stem, length, hash, (int32_t)term);
    return term;
}

//  The stem of WORD with STEMMER, or the word itself when stemming would
//  not be sensible (digits, other scripts).
static const char *s_stem (struct sb_stemmer *stemmer, const char *word, size_t length,
                           size_t *stem_length)
{
    for (size_t i = 0; i < length; i++)
        if (!(word[i] >= 'a' && word[i] <= 'z')) {
            *stem_length = length;
            return word;
        }
    const sb_symbol *stem = sb_stemmer_stem (stemmer, (const sb_symbol *)word, (int)length);
    if (!stem) {
        *stem_length = length;
        return word;
    }
    *stem_length = (size_t)sb_stemmer_length (stemmer);
    return (const char *)stem;
}

int64_t index_term (index_t *self, const char *word, size_t length, void *stemmer)
{
    uint64_t hash = s_hash (word, length);
    int64_t entry = s_strmap_find (&self->words, word, length, hash);
    if (entry >= 0)
        return self->words.entries[entry].value;
    if (index_stop_word (word, length))
        return -1;
    size_t stem_length;
    const char *stem = s_stem (stemmer, word, length, &stem_length);
    entry = s_strmap_find (&self->stems, stem, stem_length, s_hash (stem, stem_length));
    return entry >= 0 ? self->stems.entries[entry].value : -1;
}

static int64_t s_word_term_cached (index_t *self, const char *word, size_t length, uint64_t hash);

//  The term of WORD, made when new; -1 for a stop word.
static int64_t s_word_term (index_t *self, const char *word, size_t length)
{
    uint64_t hash = s_hash (word, length);
    if (!self->words_cached || length > HOT_WORD_MAX)
        return s_word_term_cached (self, word, length, hash);
    uint64_t key[2] = {0, 0};
    memcpy (key, word, length);
    struct hot_word *hot = &self->hot[(hash >> 20) & (HOT_WORDS - 1)];
    if (hot->key[0] == key[0] && hot->key[1] == key[1] && (key[0] || key[1]))
        return hot->term;
    int64_t term = s_word_term_cached (self, word, length, hash);
    hot->key[0] = key[0];
    hot->key[1] = key[1];
    hot->term = (int32_t)term;
    return term;
}

//  The term of WORD through the word map, made when new.
static int64_t s_word_term_cached (index_t *self, const char *word, size_t length, uint64_t hash)
{
    int64_t entry = s_strmap_find (&self->words, word, length, hash);
    if (entry >= 0)
        return self->words.entries[entry].value;
    int64_t term = -1;
    if (!index_stop_word (word, length)) {
        size_t stem_length;
        const char *stem = s_stem (self->stemmer, word, length, &stem_length);
        uint64_t stem_hash = s_hash (stem, stem_length);
        int64_t stem_entry = s_strmap_find (&self->stems, stem, stem_length, stem_hash);
        term = stem_entry >= 0 ? self->stems.entries[stem_entry].value
                               : s_new_term (self, stem, stem_length, stem_hash);
    }
    if (self->words_cached)
        s_strmap_add (&self->words, word, length, hash, (int32_t)term);
    return term;
}

//  "\x01cs.lg" for "cs.LG": category terms share the stem map.
static size_t s_category_key (const char *category, size_t length, char *key)
{
    if (length > 100)
        length = 100;
    key[0] = CATEGORY_PREFIX;
    for (size_t i = 0; i < length; i++)
        key[i + 1] =
            (char)(category[i] >= 'A' && category[i] <= 'Z' ? category[i] + 32 : category[i]);
    return length + 1;
}

int64_t index_category_term (index_t *self, const char *category, size_t length)
{
    char key[128];
    size_t key_length = s_category_key (category, length, key);
    int64_t entry = s_strmap_find (&self->stems, key, key_length, s_hash (key, key_length));
    return entry >= 0 ? self->stems.entries[entry].value : -1;
}

static void s_append_posting (term_t *term, uint32_t doc, uint8_t frequencies, float bound)
{
    if (term->size + 6 > term->capacity) {
        //  A trimmed list may be any size: grow by at least a posting.
        uint32_t capacity = term->capacity * 2;
        if (capacity < term->size + 6)
            capacity = term->size + 6;
        term->capacity = capacity < 8 ? 8 : capacity;
        term->bytes = realloc (term->bytes, term->capacity);
    }
    if (term->count % INDEX_BLOCK == 0) {
        uint32_t block = term->count / INDEX_BLOCK;
        if (block) {
            term->skips = realloc (term->skips, block * 2 * sizeof (uint32_t));
            term->skips[2 * (block - 1)] = term->size;
            term->skips[2 * (block - 1) + 1] = term->last_doc;
        }
        term->block_bounds = realloc (term->block_bounds, (block + 1) * sizeof (float));
        term->block_bounds[block] = 0;
    }
    uint32_t gap = term->count ? doc - term->last_doc : doc;
    while (gap >= 0x80) {
        term->bytes[term->size++] = (uint8_t)(gap | 0x80);
        gap >>= 7;
    }
    term->bytes[term->size++] = (uint8_t)gap;
    term->bytes[term->size++] = frequencies;
    term->count++;
    term->df++;
    term->last_doc = doc;
    if (bound > term->bound)
        term->bound = bound;
    float *block_bound = &term->block_bounds[(term->count - 1) / INDEX_BLOCK];
    if (bound > *block_bound)
        *block_bound = bound;
}

//  A bound stored as a float, rounded up so that it never falls below the
//  score it bounds.
static float s_bound (double factor)
{
    float bound = (float)factor;
    return bound < factor ? nextafterf (bound, INFINITY) : bound;
}

//  Every term's bound again, for the current bound_length: when the
//  average length outgrows it (rarely: it is set with room to spare).
static void s_recompute_bounds (index_t *self)
{
    for (uint32_t t = 0; t < self->term_count; t++) {
        term_t *term = &self->terms[t];
        term->bound = 0;
        const uint8_t *at = term->bytes, *end = term->bytes + term->size;
        uint32_t doc = 0, posting = 0;
        while (at < end) {
            uint32_t gap = 0;
            int shift = 0;
            uint8_t byte;
            do {
                byte = *at++;
                gap |= (uint32_t)(byte & 0x7f) << shift;
                shift += 7;
            } while (byte & 0x80);
            doc += gap;
            uint8_t frequencies = *at++;
            float bound =
                s_bound (index_tf_factor (frequencies, self->length[doc], self->bound_length));
            if (bound > term->bound)
                term->bound = bound;
            //  A block's first posting resets its bound.
            float *block_bound = &term->block_bounds[posting / INDEX_BLOCK];
            if (posting++ % INDEX_BLOCK == 0 || bound > *block_bound)
                *block_bound = bound;
        }
    }
}

//  Term bounds hold while the average length stays under bound_length.
static void s_check_bounds (index_t *self)
{
    double average = self->live_count ? (double)self->total_length / self->live_count : 0;
    if (average > self->bound_length) {
        //  With room: bounds are recomputed each time the average grows
        //  by a quarter, which a steady corpus soon stops doing.
        self->bound_length = average * 1.25;
        s_recompute_bounds (self);
    }
}

/* ==== Counting a paper's words ==== */

typedef enum { FIELD_ABSTRACT, FIELD_TITLE, FIELD_AUTHORS } field_t;

typedef struct {
    index_t *index;
    field_t field;
    uint32_t words; //  counted in this field
} counter_t;

static void s_touch (index_t *self, uint32_t term)
{
    if (self->scratch_tf[term] == 0)
        self->touched[self->touched_count++] = term;
}

//  Counts WORD (folded, NUL-terminated) in FIELD; returns 1 when it is
//  a word with a term (not a stop word).
static uint32_t s_count (index_t *self, const char *word, size_t length, field_t field)
{
    int64_t term = s_word_term (self, word, length);
    if (term < 0)
        return 0;
    uint8_t tf = self->scratch_tf[term];
    s_touch (self, (uint32_t)term);
    if (field == FIELD_ABSTRACT && TF_ABSTRACT (tf) < 15)
        tf = (uint8_t)(tf + 1);
    else if (field == FIELD_TITLE && TF_TITLE (tf) < 3)
        tf = (uint8_t)(tf + (1 << 4));
    else if (field == FIELD_AUTHORS && TF_AUTHORS (tf) < 3)
        tf = (uint8_t)(tf + (1 << 6));
    self->scratch_tf[term] = tf;
    return 1;
}

static bool s_count_word (const token_t *token, void *arg)
{
    counter_t *counter = arg;
    counter->words += s_count (counter->index, token->word, token->length, counter->field);
    return true;
}

static uint32_t s_count_field (index_t *self, const char *text, field_t field)
{
    counter_t counter = {self, field, 0};
    if (text)
        tokenize (text, strlen (text), s_count_word, &counter);
    return counter.words;
}

/* ==== Papers cut ahead, for bulk loads ==== */

//  A paper's words, cut and folded by a second thread while the first
//  indexes the paper before: each word is its length byte, its bytes and
//  a NUL; the fields come in FIELD order.
typedef struct {
    char *words;
    size_t size, capacity;
    uint32_t counts[3]; //  words per field_t
    uint64_t title_hash;
    bool ready;
} prepared_t;

typedef struct {
    prepared_t *prepared;
    field_t field;
} preparer_t;

static bool s_prepare_word (const token_t *token, void *arg)
{
    preparer_t *preparer = arg;
    prepared_t *prepared = preparer->prepared;
    if (prepared->size + token->length + 2 > prepared->capacity) {
        prepared->capacity = (prepared->size + token->length + 2) * 2;
        prepared->words = realloc (prepared->words, prepared->capacity);
    }
    prepared->words[prepared->size++] = (char)token->length;
    memcpy (prepared->words + prepared->size, token->word, token->length + 1);
    prepared->size += token->length + 1;
    prepared->counts[preparer->field]++;
    return true;
}

static uint64_t s_title_hash (const char *text, size_t length);

static void s_prepare (const index_paper_t *paper, prepared_t *prepared)
{
    prepared->size = 0;
    memset (prepared->counts, 0, sizeof prepared->counts);
    prepared->ready = false;
    if (!paper->title || !*paper->title || !paper->id)
        return;
    //  The same fields, in the same order, as s_put counts them.
    const char *texts[3] = {paper->abstract, paper->title, paper->authors};
    for (field_t field = FIELD_ABSTRACT; field <= FIELD_AUTHORS; field++) {
        preparer_t preparer = {prepared, field};
        if (texts[field])
            tokenize (texts[field], strlen (texts[field]), s_prepare_word, &preparer);
    }
    prepared->title_hash = s_title_hash (paper->title, strlen (paper->title));
    prepared->ready = true;
}

/* ==== Per-document arrays ==== */

static void s_grow_docs (index_t *self)
{
    if (self->doc_count < self->doc_capacity)
        return;
    uint32_t capacity = self->doc_capacity ? self->doc_capacity * 2 : 4096;
    self->id_entry = realloc (self->id_entry, capacity * sizeof *self->id_entry);
    self->length = realloc (self->length, capacity * sizeof *self->length);
    self->norm = realloc (self->norm, capacity * sizeof *self->norm);
    self->date = realloc (self->date, capacity * sizeof *self->date);
    self->trend = realloc (self->trend, capacity * sizeof *self->trend);
    self->title_hash = realloc (self->title_hash, capacity * sizeof *self->title_hash);
    self->blob_offset = realloc (self->blob_offset, capacity * sizeof *self->blob_offset);
    self->blob_size = realloc (self->blob_size, capacity * sizeof *self->blob_size);
    self->live = realloc (self->live, capacity / 64 * sizeof *self->live);
    memset (self->live + self->doc_capacity / 64, 0, (capacity - self->doc_capacity) / 8);
    self->doc_capacity = capacity;
}

//  Days since 1970 of "YYYY-MM-DD...", or INDEX_NO_DATE.
static int32_t s_days (const char *text)
{
    int year, month, day;
    if (!text || sscanf (text, "%4d-%2d-%2d", &year, &month, &day) != 3)
        return INDEX_NO_DATE;
    struct tm tm = {.tm_year = year - 1900, .tm_mon = month - 1, .tm_mday = day, .tm_hour = 12};
    return (int32_t)(timegm (&tm) / 86400);
}

/* ==== Titles ==== */

typedef struct {
    uint64_t hash;
    bool any;
} title_fold_t;

static bool s_fold_title_word (const token_t *token, void *arg)
{
    title_fold_t *fold = arg;
    for (size_t i = 0; i < token->length; i++)
        fold->hash = (fold->hash ^ (unsigned char)token->word[i]) * 0x100000001b3ULL;
    fold->hash = (fold->hash ^ ' ') * 0x100000001b3ULL;
    fold->any = true;
    return true;
}

//  A hash of TEXT's folded words, so that "Attention is all you need." and
//  "attention is all you need" agree; 0 for text without words.
static uint64_t s_title_hash (const char *text, size_t length)
{
    title_fold_t fold = {0xcbf29ce484222325ULL, false};
    tokenize (text, length, s_fold_title_word, &fold);
    return fold.any ? fold.hash | 1 : 0;
}

static int64_t s_title_slot (index_t *self, uint64_t hash)
{
    if (!self->title_capacity)
        return -1;
    for (uint32_t at = (uint32_t)hash & (self->title_capacity - 1);;
         at = (at + 1) & (self->title_capacity - 1)) {
        if (self->title_keys[at] == hash || self->title_keys[at] == 0)
            return at;
    }
}

static void s_title_set (index_t *self, uint64_t hash, int32_t doc)
{
    if ((self->title_count + 1) * 4 > self->title_capacity * 3) {
        uint32_t capacity = self->title_capacity ? self->title_capacity * 2 : 4096;
        uint64_t *keys = calloc (capacity, sizeof *keys);
        int32_t *docs = calloc (capacity, sizeof *docs);
        for (uint32_t i = 0; i < self->title_capacity; i++) {
            if (!self->title_keys[i])
                continue;
            uint32_t at = (uint32_t)self->title_keys[i] & (capacity - 1);
            while (keys[at])
                at = (at + 1) & (capacity - 1);
            keys[at] = self->title_keys[i];
            docs[at] = self->title_docs[i];
        }
        free (self->title_keys);
        free (self->title_docs);
        self->title_keys = keys;
        self->title_docs = docs;
        self->title_capacity = capacity;
    }
    int64_t at = s_title_slot (self, hash);
    if (!self->title_keys[at])
        self->title_count++;
    self->title_keys[at] = hash;
    self->title_docs[at] = doc;
}

int64_t index_lookup_title (index_t *self, const char *text, size_t length)
{
    uint64_t hash = s_title_hash (text, length);
    int64_t at = hash ? s_title_slot (self, hash) : -1;
    return at >= 0 && self->title_keys[at] ? self->title_docs[at] : -1;
}

/* ==== Stored papers ==== */

static void s_record_append (index_t *self, size_t *used, const char *text, bool last)
{
    size_t length = text ? strlen (text) : 0;
    if (*used + length + 1 > self->record_capacity) {
        self->record_capacity = (*used + length + 1) * 2;
        self->record = realloc (self->record, self->record_capacity);
    }
    memcpy (self->record + *used, text, length);
    *used += length;
    self->record[(*used)++] = last ? '\0' : FIELD_SEPARATOR;
}

//  Compresses SIZE bytes of DATA onto the end of the blob; returns where.
static uint64_t s_store (index_t *self, const char *data, size_t size, uint32_t *stored)
{
    size_t bound = ZSTD_compressBound (size);
    if (self->blob_size_used + bound > self->blob_capacity) {
        self->blob_capacity = (self->blob_size_used + bound) * 2;
        self->blob = realloc (self->blob, self->blob_capacity);
    }
    char *out = self->blob + self->blob_size_used;
    size_t written =
        self->cdict ? ZSTD_compress_usingCDict (self->cctx, out, bound, data, size, self->cdict)
                    : ZSTD_compressCCtx (self->cctx, out, bound, data, size, COMPRESSION_LEVEL);
    uint64_t offset = self->blob_size_used;
    self->blob_size_used += written;
    *stored = (uint32_t)written;
    return offset;
}

//  Unpacks document DOC into *BUFFER; returns its size, or 0.
static size_t s_unpack (index_t *self, uint32_t doc, char **buffer, size_t *capacity,
                        ZSTD_DCtx *dctx)
{
    const char *frame = self->blob + self->blob_offset[doc];
    unsigned long long size = ZSTD_getFrameContentSize (frame, self->blob_size[doc]);
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN)
        return 0;
    if (size + 1 > *capacity) {
        *capacity = (size_t)size + 1 + 4096;
        *buffer = realloc (*buffer, *capacity);
    }
    size_t got = self->ddict
                     ? ZSTD_decompress_usingDDict (dctx, *buffer, *capacity, frame,
                                                   self->blob_size[doc], self->ddict)
                     : ZSTD_decompressDCtx (dctx, *buffer, *capacity, frame, self->blob_size[doc]);
    if (ZSTD_isError (got))
        return 0;
    (*buffer)[got] = '\0';
    return got;
}

//  Once the first papers give enough text, they become the dictionary
//  every paper is compressed against, and are compressed again with it.
static void s_maybe_make_dictionary (index_t *self)
{
    if (self->cdict || self->blob_size_used < DICTIONARY_BYTES / 3)
        return;
    self->dictionary = malloc (DICTIONARY_BYTES);
    size_t used = 0;
    for (uint32_t doc = 0; doc < self->doc_count && used < DICTIONARY_BYTES; doc++) {
        size_t size = s_unpack (self, doc, &self->unpacked, &self->unpacked_capacity, self->dctx);
        size_t take = size < DICTIONARY_BYTES - used ? size : DICTIONARY_BYTES - used;
        memcpy (self->dictionary + used, self->unpacked, take);
        used += take;
    }
    if (used < DICTIONARY_BYTES / 2) {
        free (self->dictionary);
        self->dictionary = NULL;
        return;
    }
    self->dictionary_size = used;
    //  Text without zstd's dictionary header is taken as raw content.
    self->cdict = ZSTD_createCDict (self->dictionary, used, COMPRESSION_LEVEL);
    //  Compress what is stored again, into a new blob.
    char *old_blob = self->blob;
    uint64_t *old_offset = malloc (self->doc_count * sizeof *old_offset);
    uint32_t *old_size = malloc (self->doc_count * sizeof *old_size);
    memcpy (old_offset, self->blob_offset, self->doc_count * sizeof *old_offset);
    memcpy (old_size, self->blob_size, self->doc_count * sizeof *old_size);
    self->blob = NULL;
    self->blob_size_used = self->blob_capacity = 0;
    //  One buffer, as large as the largest paper.
    size_t packed_capacity = 1;
    for (uint32_t doc = 0; doc < self->doc_count; doc++) {
        size_t size = (size_t)ZSTD_getFrameContentSize (old_blob + old_offset[doc], old_size[doc]);
        if (size + 1 > packed_capacity)
            packed_capacity = size + 1;
    }
    char *packed = malloc (packed_capacity);
    for (uint32_t doc = 0; doc < self->doc_count; doc++) {
        const char *frame = old_blob + old_offset[doc];
        size_t size =
            ZSTD_decompressDCtx (self->dctx, packed, packed_capacity, frame, old_size[doc]);
        self->blob_offset[doc] = s_store (self, packed, size, &self->blob_size[doc]);
    }
    free (packed);
    free (old_blob);
    free (old_offset);
    free (old_size);
    self->ddict = ZSTD_createDDict (self->dictionary, used);
}

/* ==== Retiring a document ==== */

static bool s_touch_word (const token_t *token, void *arg)
{
    index_t *self = arg;
    int64_t term = s_word_term (self, token->word, token->length);
    if (term >= 0 && self->scratch_tf[term] == 0) {
        self->scratch_tf[term] = 1;
        self->touched[self->touched_count++] = (uint32_t)term;
    }
    return true;
}

//  The terms of stored document DOC into touched (scratch_tf marks them).
static void s_doc_terms (index_t *self, uint32_t doc)
{
    index_paper_t paper;
    index_paper (self, doc, &paper, &self->unpacked, &self->unpacked_capacity, self->dctx);
    const char *texts[] = {paper.title, paper.abstract, paper.authors};
    for (int i = 0; i < 3; i++)
        tokenize (texts[i], strlen (texts[i]), s_touch_word, self);
    const char *category = paper.categories;
    while (*category) {
        size_t length = strcspn (category, "\x1f");
        int64_t term = index_category_term (self, category, length);
        if (term >= 0 && self->scratch_tf[term] == 0) {
            self->scratch_tf[term] = 1;
            self->touched[self->touched_count++] = (uint32_t)term;
        }
        category += length + (category[length] == '\x1f');
    }
}

static void s_retire (index_t *self, uint32_t doc)
{
    self->touched_count = 0;
    s_doc_terms (self, doc);
    for (uint32_t i = 0; i < self->touched_count; i++) {
        self->terms[self->touched[i]].df--;
        self->scratch_tf[self->touched[i]] = 0;
    }
    self->touched_count = 0;
    self->live[doc / 64] &= ~(1ULL << (doc % 64));
    self->live_count--;
    self->total_length -= self->length[doc];
    s_check_bounds (self);
    int64_t at = self->title_hash[doc] ? s_title_slot (self, self->title_hash[doc]) : -1;
    if (at >= 0 && self->title_keys[at] && self->title_docs[at] == (int32_t)doc)
        self->title_docs[at] = -1;
}

/* ==== Putting a paper ==== */

static size_t s_text_bytes (const index_paper_t *paper)
{
    return strlen (paper->title) + strlen (paper->abstract ? paper->abstract : "") +
           strlen (paper->authors ? paper->authors : "") +
           strlen (paper->categories ? paper->categories : "");
}

static int64_t s_put (index_t *self, const index_paper_t *given, const prepared_t *prepared);

int64_t index_put (index_t *self, const index_paper_t *given)
{
    return s_put (self, given, NULL);
}

//  Adds or replaces GIVEN; PREPARED, when not NULL, holds its words.
static int64_t s_put (index_t *self, const index_paper_t *given, const prepared_t *prepared)
{
    index_paper_t paper = *given;
    const char **texts[] = {&paper.abstract,  &paper.authors, &paper.categories,
                            &paper.published, &paper.updated, &paper.listed,
                            &paper.doi,       &paper.comment, &paper.journal_ref};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if (!*texts[i])
            *texts[i] = "";
    size_t id_length = paper.id ? strlen (paper.id) : 0;
    if (id_length == 0 || id_length > 255 || !paper.title || !*paper.title)
        return -1;
    uint64_t id_hash = s_hash (paper.id, id_length);
    int64_t id_entry = s_strmap_find (&self->ids, paper.id, id_length, id_hash);
    if (id_entry >= 0 && self->ids.entries[id_entry].value >= 0) {
        uint32_t old = (uint32_t)self->ids.entries[id_entry].value;
        index_paper_t previous;
        index_paper (self, old, &previous, &self->unpacked, &self->unpacked_capacity, self->dctx);
        self->raw_bytes -= s_text_bytes (&previous);
        s_retire (self, old);
    }
    if (id_entry < 0)
        id_entry = s_strmap_add (&self->ids, paper.id, id_length, id_hash, -1);
    s_grow_docs (self);
    uint32_t doc = self->doc_count++;

    //  Count the words of each field, then append one posting per term.
    self->touched_count = 0;
    uint32_t title_words = 0, abstract_words = 0, author_words = 0;
    if (prepared && prepared->ready) {
        uint32_t *counted[3] = {&abstract_words, &title_words, &author_words};
        const char *at = prepared->words;
        for (field_t field = FIELD_ABSTRACT; field <= FIELD_AUTHORS; field++)
            for (uint32_t w = 0; w < prepared->counts[field]; w++) {
                size_t length = (unsigned char)*at++;
                *counted[field] += s_count (self, at, length, field);
                at += length + 1;
            }
    } else {
        //  In field order, as prepared papers are: the same terms arrive in
        //  the same order either way.
        abstract_words = s_count_field (self, paper.abstract, FIELD_ABSTRACT);
        title_words = s_count_field (self, paper.title, FIELD_TITLE);
        author_words = s_count_field (self, paper.authors, FIELD_AUTHORS);
    }
    self->length[doc] = INDEX_WEIGHT_TITLE * title_words + INDEX_WEIGHT_ABSTRACT * abstract_words +
                        INDEX_WEIGHT_AUTHORS * author_words;
    self->live_count++;
    self->total_length += self->length[doc];
    s_check_bounds (self);
    double norm = 0;
    for (uint32_t i = 0; i < self->touched_count; i++) {
        uint32_t term = self->touched[i];
        uint8_t tf = self->scratch_tf[term];
        unsigned text_tf = TF_TITLE (tf) + TF_ABSTRACT (tf);
        if (text_tf) {
            double weight = 1 + log (text_tf);
            norm += weight * weight;
        }
        s_append_posting (&self->terms[term], doc, tf,
                          s_bound (index_tf_factor (tf, self->length[doc], self->bound_length)));
        self->scratch_tf[term] = 0;
    }
    self->touched_count = 0;
    const char *category = paper.categories;
    while (*category) {
        size_t length = strcspn (category, "\x1f");
        if (length) {
            char key[128];
            size_t key_length = s_category_key (category, length, key);
            uint64_t hash = s_hash (key, key_length);
            int64_t entry = s_strmap_find (&self->stems, key, key_length, hash);
            uint32_t term = entry >= 0 ? (uint32_t)self->stems.entries[entry].value
                                       : (uint32_t)s_new_term (self, key, key_length, hash);
            //  A paper listing a category twice has one posting.
            if (self->terms[term].count == 0 || self->terms[term].last_doc != doc)
                s_append_posting (&self->terms[term], doc, 0, 0);
        }
        category += length + (category[length] == '\x1f');
    }

    self->id_entry[doc] = (uint32_t)id_entry;
    self->ids.entries[id_entry].value = (int32_t)doc;
    self->norm[doc] = (float)sqrt (norm);
    int32_t date = s_days (paper.published);
    self->date[doc] = date != INDEX_NO_DATE ? date : s_days (paper.listed);
    self->trend[doc] = (float)paper.trend;
    self->live[doc / 64] |= 1ULL << (doc % 64);
    self->raw_bytes += s_text_bytes (&paper);
    self->title_hash[doc] = prepared && prepared->ready
                                ? prepared->title_hash
                                : s_title_hash (paper.title, strlen (paper.title));
    if (self->title_hash[doc])
        s_title_set (self, self->title_hash[doc], (int32_t)doc);

    char version[16];
    snprintf (version, sizeof version, "%d", paper.version > 0 ? paper.version : 1);
    const char *fields[] = {paper.id,      version,          paper.title,     paper.abstract,
                            paper.authors, paper.categories, paper.published, paper.updated,
                            paper.listed,  paper.doi,        paper.comment,   paper.journal_ref};
    size_t used = 0;
    size_t field_count = sizeof fields / sizeof fields[0];
    for (size_t i = 0; i < field_count; i++)
        s_record_append (self, &used, fields[i], i + 1 == field_count);
    self->blob_offset[doc] = s_store (self, self->record, used - 1, &self->blob_size[doc]);
    s_maybe_make_dictionary (self);
    return doc;
}

#define PREPARE_CHUNK 256 //  papers cut ahead at a time

typedef struct {
    const index_paper_t *papers;
    size_t count;
    prepared_t *prepared;
} chunk_t;

static void *s_prepare_chunk (void *arg)
{
    chunk_t *chunk = arg;
    for (size_t i = 0; i < chunk->count; i++)
        s_prepare (&chunk->papers[i], &chunk->prepared[i]);
    return NULL;
}

size_t index_put_many (index_t *self, const index_paper_t *papers, size_t count)
{
    //  Two chunks: while this thread indexes one, another cuts the next.
    prepared_t *prepared[2] = {calloc (PREPARE_CHUNK, sizeof (prepared_t)),
                               calloc (PREPARE_CHUNK, sizeof (prepared_t))};
    size_t put = 0, current = 0;
    chunk_t first = {papers, count < PREPARE_CHUNK ? count : PREPARE_CHUNK, prepared[0]};
    s_prepare_chunk (&first);
    for (size_t start = 0; start < count; start += PREPARE_CHUNK) {
        size_t size = count - start < PREPARE_CHUNK ? count - start : PREPARE_CHUNK;
        size_t next = start + PREPARE_CHUNK;
        chunk_t ahead = {papers + next, 0, prepared[1 - current]};
        pthread_t cutter;
        bool cutting = false;
        if (next < count) {
            ahead.count = count - next < PREPARE_CHUNK ? count - next : PREPARE_CHUNK;
            cutting = pthread_create (&cutter, NULL, s_prepare_chunk, &ahead) == 0;
        }
        for (size_t i = 0; i < size; i++)
            put += s_put (self, &papers[start + i], &prepared[current][i]) >= 0;
        if (cutting)
            pthread_join (cutter, NULL);
        else if (next < count)
            s_prepare_chunk (&ahead);
        current = 1 - current;
    }
    for (int c = 0; c < 2; c++) {
        for (size_t i = 0; i < PREPARE_CHUNK; i++)
            free (prepared[c][i].words);
        free (prepared[c]);
    }
    return put;
}

int index_remove (index_t *self, const char *id)
{
    size_t length = strlen (id);
    int64_t entry = s_strmap_find (&self->ids, id, length, s_hash (id, length));
    if (entry < 0 || self->ids.entries[entry].value < 0)
        return -1;
    uint32_t doc = (uint32_t)self->ids.entries[entry].value;
    index_paper_t previous;
    index_paper (self, doc, &previous, &self->unpacked, &self->unpacked_capacity, self->dctx);
    self->raw_bytes -= s_text_bytes (&previous);
    s_retire (self, doc);
    self->ids.entries[entry].value = -1;
    return 0;
}

int64_t index_lookup (index_t *self, const char *id)
{
    size_t length = strlen (id);
    int64_t entry = s_strmap_find (&self->ids, id, length, s_hash (id, length));
    return entry >= 0 ? self->ids.entries[entry].value : -1;
}

const char *index_doc_id (index_t *self, uint32_t doc, size_t *length)
{
    uint32_t entry = self->id_entry[doc];
    *length = self->ids.entries[entry].key_length;
    return self->ids.pool + self->ids.entries[entry].key_offset;
}

int index_paper (index_t *self, uint32_t doc, index_paper_t *paper, char **buffer, size_t *size,
                 void *dctx)
{
    memset (paper, 0, sizeof *paper);
    if (doc >= self->doc_count || !s_unpack (self, doc, buffer, size, dctx))
        return -1;
    const char **fields[] = {&paper->id,      &paper->title,      &paper->abstract,
                             &paper->authors, &paper->categories, &paper->published,
                             &paper->updated, &paper->listed,     &paper->doi,
                             &paper->comment, &paper->journal_ref};
    char *cursor = *buffer;
    char *version = NULL;
    for (size_t i = 0; i < 12; i++) {
        char *end = strchr (cursor, FIELD_SEPARATOR);
        if (end)
            *end = '\0';
        if (i == 1)
            version = cursor;
        else
            *fields[i < 1 ? 0 : i - 1] = cursor;
        cursor = end ? end + 1 : cursor + strlen (cursor);
    }
    paper->version = version ? atoi (version) : 1;
    paper->trend = self->trend[doc];
    return 0;
}

size_t index_size (index_t *self)
{
    return self->live_count;
}

size_t index_raw_bytes (index_t *self)
{
    return self->raw_bytes;
}

size_t index_memory (index_t *self)
{
    size_t bytes =
        sizeof *self + (size_t)self->term_capacity * (sizeof (term_t) + 1 + sizeof (uint32_t));
    for (uint32_t t = 0; t < self->term_count; t++)
        bytes += self->terms[t].capacity + TERM_SKIPS (&self->terms[t]) * 2 * sizeof (uint32_t) +
                 (TERM_SKIPS (&self->terms[t]) + 1) * sizeof (float);
    bytes += s_strmap_memory (&self->words) + s_strmap_memory (&self->stems) +
             s_strmap_memory (&self->ids);
    bytes += (size_t)self->doc_capacity * (4 + 4 + 4 + 4 + 4 + 8 + 8 + 4) + self->doc_capacity / 8;
    bytes += (size_t)self->title_capacity * 12;
    bytes += self->blob_capacity + self->dictionary_size + self->record_capacity +
             self->unpacked_capacity;
    return bytes;
}

//  Shrinks ARRAY (of COUNT items of SIZE bytes) to exactly COUNT.
static void *s_shrink (void *array, size_t count, size_t size)
{
    //  A failed shrink leaves the larger array, still valid.
    void *smaller = realloc (array, count ? count * size : 1);
    // cppcheck-suppress memleak
    return smaller ? smaller : array;
}

void index_trim (index_t *self)
{
    for (uint32_t t = 0; t < self->term_count; t++) {
        term_t *term = &self->terms[t];
        if (term->capacity > term->size) {
            term->bytes = s_shrink (term->bytes, term->size, 1);
            term->capacity = term->size;
        }
    }
    self->terms = s_shrink (self->terms, self->term_count, sizeof *self->terms);
    self->scratch_tf = s_shrink (self->scratch_tf, self->term_count, 1);
    self->touched = s_shrink (self->touched, self->term_count, sizeof *self->touched);
    self->term_capacity = self->term_count;
    uint32_t docs = (self->doc_count + 63) / 64 * 64;
    if (docs < self->doc_capacity) {
        self->id_entry = s_shrink (self->id_entry, docs, sizeof *self->id_entry);
        self->length = s_shrink (self->length, docs, sizeof *self->length);
        self->norm = s_shrink (self->norm, docs, sizeof *self->norm);
        self->date = s_shrink (self->date, docs, sizeof *self->date);
        self->trend = s_shrink (self->trend, docs, sizeof *self->trend);
        self->title_hash = s_shrink (self->title_hash, docs, sizeof *self->title_hash);
        self->blob_offset = s_shrink (self->blob_offset, docs, sizeof *self->blob_offset);
        self->blob_size = s_shrink (self->blob_size, docs, sizeof *self->blob_size);
        self->live = s_shrink (self->live, docs / 64, sizeof *self->live);
        self->doc_capacity = docs;
    }
    if (self->blob_capacity > self->blob_size_used) {
        self->blob = s_shrink (self->blob, self->blob_size_used, 1);
        self->blob_capacity = self->blob_size_used;
    }
    //  The word cache pays during a bulk load; afterwards the few words of
    //  each update are stemmed again rather than kept in memory.
    s_strmap_free (&self->words);
    free (self->hot);
    self->hot = NULL;
    self->words_cached = false;
    s_strmap_trim (&self->stems);
    s_strmap_trim (&self->ids);
}

void index_view (index_t *self, index_view_t *view)
{
    view->terms = self->terms;
    view->term_count = self->term_count;
    view->live = self->live;
    view->doc_count = self->doc_count;
    view->live_count = self->live_count;
    view->length = self->length;
    view->norm = self->norm;
    view->date = self->date;
    view->trend = self->trend;
    view->average_length = self->live_count ? (double)self->total_length / self->live_count : 1;
}
