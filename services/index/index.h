/*  index — every searchable paper in memory: the inverted index and the
    papers themselves, compressed.

    A paper gets a document number when it is put; putting a paper again
    (a new version, a correction) retires the old number and indexes the
    new text under a fresh one, so posting lists only ever grow at their
    end. Each term's postings are variable-byte document gaps, each with
    one byte of term frequencies per field (abstract, title, authors), and
    a skip entry every INDEX_BLOCK postings so that a search can jump.
    Words are folded (tokenizer.h), stop words dropped, the rest stemmed
    with Snowball's English stemmer; a cache from folded word to term
    keeps the stemmer out of the build's hot path. The papers are kept as
    zstd frames against a dictionary cut from the first papers, and are
    unpacked only for results, snippets and phrase checks.

    One thread writes (index_put, index_remove); searches (search.h) may
    run on several threads at once between writes.
*/
#ifndef INDEX_H
#define INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INDEX_BLOCK   128 //  postings between skip entries
#define INDEX_NO_DATE INT32_MIN

//  Field weights of BM25F, and its parameters.
#define INDEX_WEIGHT_TITLE    3
#define INDEX_WEIGHT_ABSTRACT 1
#define INDEX_WEIGHT_AUTHORS  2
#define INDEX_BM25_K1         1.2
#define INDEX_BM25_B          0.75

//  A posting's frequency byte: abstract in bits 0-3, title 4-5, authors 6-7
//  (each capped: BM25 saturates long before).
#define TF_ABSTRACT(f) ((f)&15u)
#define TF_TITLE(f)    (((f) >> 4) & 3u)
#define TF_AUTHORS(f)  (((f) >> 6) & 3u)

//  BM25's frequency factor of a posting: how much of a term's idf a paper of
//  weighted LENGTH with frequencies F earns, for average length AVERAGE.
static inline double index_tf_factor (uint8_t f, double length, double average)
{
    double weight = INDEX_WEIGHT_TITLE * TF_TITLE (f) + INDEX_WEIGHT_ABSTRACT * TF_ABSTRACT (f) +
                    INDEX_WEIGHT_AUTHORS * TF_AUTHORS (f);
    return weight * (INDEX_BM25_K1 + 1) /
           (weight + INDEX_BM25_K1 * (1 - INDEX_BM25_B + INDEX_BM25_B * length / average));
}

typedef struct _index_t index_t;

//  A paper as the index takes and gives it. Lists are joined with 0x1f;
//  absent texts are "".
typedef struct {
    const char *id; //  "2501.01234"
    int version;
    const char *title;
    const char *abstract;
    const char *authors;    //  names joined by 0x1f
    const char *categories; //  joined by 0x1f, the primary first
    const char *published;  //  "YYYY-MM-DD HH:MM:SS+00" or ""
    const char *updated;
    const char *listed; //  "YYYY-MM-DD" or ""
    const char *doi;
    const char *comment;
    const char *journal_ref;
    double trend; //  trending score from rank, 0 when none
} index_paper_t;

//  One term's postings. Most terms are rare: the struct is kept small.
typedef struct {
    uint8_t *bytes;      //  gap varints, each followed by its frequency byte
    uint32_t *skips;     //  per block after the first: byte offset, then the doc before it
    uint32_t size;       //  bytes used
    uint32_t capacity;   //  bytes allocated
    uint32_t count;      //  postings, of live and retired documents
    uint32_t df;         //  live documents holding the term
    uint32_t last_doc;   //  of the last posting, for the next gap
    float bound;         //  the largest BM25 frequency factor of any posting, for an
                         //  average length up to the index's bound_length
    float *block_bounds; //  the same per block of INDEX_BLOCK postings, for skipping
} term_t;

//  Blocks after the first, each with a skip entry.
#define TERM_SKIPS(term) ((term)->count ? ((term)->count - 1) / INDEX_BLOCK : 0)

//  The last document of block BLOCK of TERM: the one before the next block.
#define TERM_BLOCK_END(term, block)                                                                \
    ((block) < TERM_SKIPS (term) ? (term)->skips[2 * (block) + 1] : (term)->last_doc)

//  The read-only view a search needs (search.c).
typedef struct {
    term_t *terms; //  by term number
    uint32_t term_count;
    uint64_t *live;         //  bit per document
    uint32_t doc_count;     //  documents numbered so far (live or retired)
    uint32_t live_count;    //  live documents
    const uint32_t *length; //  weighted length per document
    const float *norm;      //  title+abstract vector norm per document (similar)
    const int32_t *date;    //  days since 1970 per document, or INDEX_NO_DATE
    const float *trend;     //  trending score per document
    double average_length;  //  over live documents
} index_view_t;

//  Creates an empty index.
index_t *index_new (void);

//  Frees the index; accepts NULL and sets *self_p to NULL.
void index_destroy (index_t **self_p);

//  Adds PAPER, or replaces the paper of the same id. Returns its document
//  number, or -1 (an empty id or title).
int64_t index_put (index_t *self, const index_paper_t *paper);

//  Puts COUNT papers, cutting each paper's words on a second thread while
//  this one indexes the paper before: for bulk loads. Returns how many
//  were put (index_put's -1s are left out).
size_t index_put_many (index_t *self, const index_paper_t *papers, size_t count);

//  Removes the paper ID. Returns 0, or -1 when there is none.
int index_remove (index_t *self, const char *id);

//  The live document of paper ID, or -1.
int64_t index_lookup (index_t *self, const char *id);

//  The live document whose title folds to the same words as TEXT, or -1.
int64_t index_lookup_title (index_t *self, const char *text, size_t length);

//  Live papers.
size_t index_size (index_t *self);

//  Bytes the index holds (allocated), and the raw text it was given
//  (titles, abstracts, authors and categories of live papers).
size_t index_memory (index_t *self);
size_t index_raw_bytes (index_t *self);

//  Frees the slack of growing arrays; call after a bulk load.
void index_trim (index_t *self);

//  The term a folded word stands for, or -1 (unknown, or a stop word).
//  STEMMER is the caller's (struct sb_stemmer *), for words the index has
//  not met: their stems may still be known.
int64_t index_term (index_t *self, const char *word, size_t length, void *stemmer);

//  The term of category CATEGORY ("cs.LG", any case), or -1.
int64_t index_category_term (index_t *self, const char *category, size_t length);

//  True when WORD (folded) is a stop word.
bool index_stop_word (const char *word, size_t length);

//  The arrays a search reads. Valid until the next write.
void index_view (index_t *self, index_view_t *view);

//  The paper of document DOC, unpacked into *BUFFER (grown as needed, the
//  caller's to free; *SIZE its size), with DCTX a ZSTD_DCtx of the caller's
//  thread. Returns 0, or -1 for a document out of range.
int index_paper (index_t *self, uint32_t doc, index_paper_t *paper, char **buffer, size_t *size,
                 void *dctx);

//  The paper id of document DOC (live or retired), LENGTH bytes, not
//  NUL-terminated.
const char *index_doc_id (index_t *self, uint32_t doc, size_t *length);

#endif
