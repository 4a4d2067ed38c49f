/*  search — queries against the index: parsing, ranking, snippets, similar
    papers.

    The query language: plain words are a ranked OR (papers matching more
    of them, and rarer ones, first; BM25F over title, abstract and
    authors); "an exact phrase" must appear as written; -word or -"a
    phrase" excludes; ti:word and au:word (or ti:"...", au:"...") must
    appear in the title or among the authors; cat:cs.LG keeps papers of
    that category (several cat: are an OR); since:2026-01-01 and until:
    bound the date (first version, else the listing day); id:2501.01234
    asks for one paper. A query that is exactly an arXiv id, or exactly a
    paper's title, puts that paper first.

    Ranked OR is evaluated document at a time with MaxScore: terms whose
    best possible contribution cannot lift a paper into the top k are only
    looked up, through the skip entries, for papers the others already
    found. Totals are exact when every match was visited and an estimate
    (said so) when pruning skipped some.

    A searcher is one thread's scratch: several searchers may search one
    index at once, between the index's writes.
*/
#ifndef SEARCH_H
#define SEARCH_H

#include "index.h"

#define SEARCH_MAX_QUERY     2048 //  bytes
#define SEARCH_MAX_LIMIT     100  //  hits per page
#define SEARCH_MAX_DEPTH     1000 //  offset + limit
#define SEARCH_MAX_UNITS     64   //  words, phrases and filters in one query
#define SEARCH_SIMILAR_TERMS 32   //  of a paper's words drive its similar papers

typedef enum { SEARCH_RELEVANCE, SEARCH_DATE, SEARCH_TRENDING } search_sort_t;

typedef struct {
    uint32_t doc;
    double score;
    bool pinned; //  an exact id or title match, put first
} search_hit_t;

typedef struct {
    size_t total;     //  papers matching
    bool total_exact; //  false: an estimate
    size_t count;     //  hits
    search_hit_t hits[SEARCH_MAX_LIMIT];
    const char *note; //  when the query matched nothing for a reason worth saying, or NULL
    char error[256];  //  when the search failed: what is wrong with the query
} search_result_t;

typedef struct _searcher_t searcher_t;

//  Creates a searcher of INDEX.
searcher_t *searcher_new (index_t *index);

//  Frees it; accepts NULL and sets *self_p to NULL.
void searcher_destroy (searcher_t **self_p);

//  Runs QUERY (LENGTH bytes): hits OFFSET to OFFSET+LIMIT in SORT order.
//  Returns 0, or -1 with RESULT->error naming what is wrong with the query.
int searcher_search (searcher_t *self, const char *query, size_t length, search_sort_t sort,
                     size_t offset, size_t limit, search_result_t *result);

//  A snippet of DOC's abstract for the last search, HTML-escaped, with the
//  query's words marked <mark>...</mark>, into OUT (SIZE bytes).
void searcher_snippet (searcher_t *self, uint32_t doc, char *out, size_t size);

//  The papers most like paper ID (tf-idf cosine over title and abstract).
//  Returns 0, or -1 with RESULT->error when there is no such paper.
int searcher_similar (searcher_t *self, const char *id, size_t limit, search_result_t *result);

//  Unpacks DOC into PAPER; its strings stay valid until the next call.
int searcher_paper (searcher_t *self, uint32_t doc, index_paper_t *paper);

#endif
