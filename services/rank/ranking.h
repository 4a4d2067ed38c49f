/*  ranking — the papers of one list (a day, a week, a month, or trending),
    in order.

    An ordered set of entries {score, upvotes, paper}, kept as one sorted
    sequence cut into chunks of at most RANKING_CHUNK entries (the shape of
    Python's sortedcontainers). Finding an entry's place is a binary search
    over the chunks' first entries and then inside one chunk, and moving it
    costs at most one chunk's memmove: a vote moves a paper in about a
    microsecond, however long the list. A page is read straight off the
    front, and the top 50 is in the first chunk.

    Two orders: by upvotes (then score), for the day, week and month lists;
    by score (then upvotes), for trending. Ties after both go to the
    caller's tie-break (the paper ids), so every worker orders alike.
*/
#ifndef RANKING_H
#define RANKING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RANKING_CHUNK 512

typedef struct _ranking_t ranking_t;

typedef enum { RANKING_BY_UPVOTES, RANKING_BY_SCORE } ranking_order_t;

//  One paper in a list. The key is all three fields: to move a paper,
//  remove its old entry and insert the new one.
typedef struct {
    double score;     //  trending heat (see standings.h), never NaN
    uint32_t upvotes; //  votes counted
    uint32_t paper;   //  the caller's paper number
} ranking_entry_t;

//  Orders papers A and B that tie on score and upvotes: below 0 when A
//  comes first. Must never return 0 for two different papers.
typedef int (ranking_tiebreak_fn) (uint32_t a, uint32_t b, void *arg);

ranking_t *ranking_new (ranking_order_t order, ranking_tiebreak_fn *tiebreak, void *arg);

//  Accepts NULL; sets *self_p to NULL.
void ranking_destroy (ranking_t **self_p);

//  Adds ENTRY (its paper must not be in the list yet).
void ranking_insert (ranking_t *self, ranking_entry_t entry);

//  Removes ENTRY, matched by its whole key. Returns 0, or -1 if absent.
int ranking_remove (ranking_t *self, ranking_entry_t entry);

//  Replaces the list's content with COUNT entries (in any order), sorting
//  them once: how a rebuild fills a list.
void ranking_fill (ranking_t *self, const ranking_entry_t *entries, size_t count);

size_t ranking_count (const ranking_t *self);

//  Copies up to LIMIT entries from position OFFSET (0 is the top) to OUT.
//  Returns how many.
size_t ranking_page (const ranking_t *self, size_t offset, size_t limit, ranking_entry_t *out);

//  How many entries from the top have a score of at least MINIMUM (for a
//  list by score).
size_t ranking_count_scored (const ranking_t *self, double minimum);

#endif
