/*  standings — every paper's votes and trending heat, and the lists made
    from them, in memory.

    Each paper has a listing day (UTC) and belongs to the list of that day,
    of its ISO week (Monday to Sunday) and of its month; those lists are
    ordered by upvotes, then trending score, then id. The trending list
    holds every paper with heat, ordered by score, then upvotes, then id.

    Trending score, at time `now`, of a paper:

        score = sum over its votes  v:  2^(-(now - t_v) / H)
              + sum over its signal gains g:  w_source * g * 2^(-(now - t_g) / H)

    H is the half-life: a vote counts 1 when cast, 1/2 after H, 1/4 after
    2H. A signal (Hugging Face upvotes, GitHub stars) counts by how much it
    rose past its highest value seen before, when the rise was recorded,
    times the source's weight. Every score decays by the same factor as
    time passes, so the order changes only when votes and signals arrive:
    the lists are kept sorted as they do and never recomputed. A paper
    leaves the trending list when its score falls below TRENDING_FLOOR.

    The lists order papers by their heat rounded to 20 significant bits
    (scores equal to six digits are ties, broken by upvotes and id), so that
    rounding differences between float sums (a rebuild adds in another order
    than a live worker; a withdrawn vote leaves dust) cannot split a tie
    between workers.

    To keep the sums in range, heats are stored relative to an epoch E
    (a multiple of EPOCH_SPAN half-lives): heat = sum of 2^((t - E) / H),
    and score = heat * 2^(-(now - E) / H). When now passes the next epoch,
    every heat is multiplied by an exact power of two and the lists are
    sorted again (every EPOCH_SPAN half-lives: about once a year and a
    half with a one-day half-life).

    The standings change only by the events they are given (votes cast and
    withdrawn, signals recorded, papers listed): workers given the same
    events in the same order hold the same standings.
*/
#ifndef STANDINGS_H
#define STANDINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STANDINGS_EPOCH_SPAN     512 //  half-lives between two epochs
#define STANDINGS_TRENDING_FLOOR 0.01
#define STANDINGS_NO_PAPER       UINT32_MAX

typedef struct _standings_t standings_t;

typedef enum { WINDOW_DAY, WINDOW_WEEK, WINDOW_MONTH, WINDOW_TRENDING } standings_window_t;

//  One paper of a list.
typedef struct {
    uint32_t paper;   //  paper number (standings_id gives its id)
    uint32_t upvotes; //  votes counted
    double score;     //  trending score now
} standings_hit_t;

//  A page of a list.
typedef struct {
    int32_t first_day, last_day; //  the window (days since 1970), trending: 0
    size_t total;                //  papers in the list
    size_t count;                //  hits on this page
} standings_page_t;

//  Empty standings with half-life HALF_LIFE_MS, their epoch set by NOW_MS.
standings_t *standings_new (int64_t half_life_ms, int64_t now_ms);

//  Accepts NULL; sets *self_p to NULL.
void standings_destroy (standings_t **self_p);

//  The epoch heats are relative to (ms since 1970). A rebuild computes
//  heats against it.
int64_t standings_epoch (standings_t *self);

int64_t standings_half_life (standings_t *self);

//  The number of paper ID, or STANDINGS_NO_PAPER.
uint32_t standings_find (standings_t *self, const char *id);

//  The id of paper PAPER.
const char *standings_id (standings_t *self, uint32_t paper);

size_t standings_paper_count (standings_t *self);

//  Adds paper ID listed on DAY (days since 1970), or moves it to DAY.
//  Returns its number.
uint32_t standings_list_paper (standings_t *self, const char *id, int32_t day);

//  A rebuild: after standings_load_begin, papers are listed and given their
//  votes and weighted signal heat (relative to the epoch) without keeping
//  the lists in order; standings_load_end sorts every list once.
void standings_load_begin (standings_t *self);
void standings_load (standings_t *self, uint32_t paper, uint32_t upvotes, double vote_heat);
void standings_load_signal (standings_t *self, uint32_t paper, double signal_heat);
void standings_load_end (standings_t *self);

//  A vote cast at CAST_AT_MS (UP), or that vote withdrawn (!UP).
void standings_vote (standings_t *self, uint32_t paper, bool up, int64_t cast_at_ms);

//  A signal gain, already weighted, recorded at AT_MS.
void standings_signal (standings_t *self, uint32_t paper, double weighted_gain, int64_t at_ms);

//  Moves the epoch if NOW_MS has passed the next one. Every query calls
//  it, and a worker calls it on a timer; changes apply against the epoch
//  of the moment, which gives the same heats (see standings_weight).
void standings_advance (standings_t *self, int64_t now_ms);

uint32_t standings_upvotes (standings_t *self, uint32_t paper);

//  PAPER's trending score at NOW_MS.
double standings_score (standings_t *self, uint32_t paper, int64_t now_ms);

//  The 2^((t - epoch) / H) of a vote or gain at T_MS: what it adds to a
//  heat; 0 for what came more than 1000 half-lives before the epoch.
double standings_weight (standings_t *self, int64_t t_ms);

//  Reads up to LIMIT hits from OFFSET of the WINDOW list that holds DAY
//  (ignored for trending) into HITS, at NOW_MS. Fills PAGE.
void standings_top (standings_t *self, standings_window_t window, int32_t day, size_t offset,
                    size_t limit, int64_t now_ms, standings_hit_t *hits, standings_page_t *page);

//  The first and last day of the WINDOW that holds DAY.
void standings_window_days (standings_window_t window, int32_t day, int32_t *first, int32_t *last);

#endif
