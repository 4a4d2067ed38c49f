/*  standings — papers, their votes and heat, and the lists made from them. */
#include "standings.h"
#include "ranking.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HEAT_FLUSH 0x1p-900 //  heats below this are zero (no subnormal sums)
#define KEY_BITS   20       //  significant bits of the heat the lists order by

typedef struct {
    char *id;           //  "2501.01234"
    int32_t day;        //  listing day, days since 1970 (UTC)
    uint32_t upvotes;   //  votes counted
    double vote_heat;   //  sum of 2^((t - epoch) / H) over its votes
    double signal_heat; //  the same over its weighted signal gains
} paper_t;

//  The list of one day, week or month. Key 0 marks a free slot.
typedef struct {
    int64_t key;        //  window kind << 32 | day, Monday or month number
    ranking_t *ranking; //  its papers
} bucket_t;

struct _standings_t {
    int64_t half_life_ms;
    int64_t epoch_ms; //  heats are relative to it
    bool epoch_set;   //  epoch_ms has been set (0 is an epoch too)
    paper_t *papers;  //  by paper number
    size_t paper_count;
    size_t paper_capacity;
    uint32_t *id_slots;   //  open addressing by id hash: paper number + 1, 0 free
    size_t id_slot_count; //  a power of two
    bucket_t *buckets;    //  open addressing by key
    size_t bucket_count;  //  slots, a power of two
    size_t bucket_used;
    ranking_t *trending; //  papers with heat, by score
    bool sorted;         //  the lists are kept current (false during a rebuild)
};

/* ==== Calendar ==== */

static int32_t s_floor_mod (int32_t value, int32_t modulus)
{
    int32_t rest = value % modulus;
    return rest < 0 ? rest + modulus : rest;
}

//  The Monday of DAY's ISO week: 1970-01-01 was a Thursday.
static int32_t s_monday (int32_t day)
{
    return day - s_floor_mod (day + 3, 7);
}

//  Months since year 0 of DAY, and the first day of that month.
static int32_t s_month (int32_t day, int32_t *first_day)
{
    time_t seconds = (time_t)day * 86400;
    struct tm tm;
    gmtime_r (&seconds, &tm);
    if (first_day)
        *first_day = day - (tm.tm_mday - 1);
    return (tm.tm_year + 1900) * 12 + tm.tm_mon;
}

void standings_window_days (standings_window_t window, int32_t day, int32_t *first, int32_t *last)
{
    switch (window) {
    case WINDOW_DAY:
        *first = *last = day;
        return;
    case WINDOW_WEEK:
        *first = s_monday (day);
        *last = *first + 6;
        return;
    case WINDOW_MONTH: {
        int32_t month = s_month (day, first);
        int32_t next = *first + 27;
        while (s_month (next + 1, NULL) == month)
            next++;
        *last = next;
        return;
    }
    case WINDOW_TRENDING:
        *first = *last = 0;
        return;
    }
}

static int64_t s_window_key (standings_window_t window, int32_t day)
{
    int32_t number = window == WINDOW_DAY    ? day
                     : window == WINDOW_WEEK ? s_monday (day)
                                             : s_month (day, NULL);
    return (int64_t)(window + 1) << 32 | (uint32_t)number;
}

/* ==== Tables ==== */

static uint64_t s_hash (const char *text)
{
    uint64_t hash = 0xcbf29ce484222325ull;
    for (; *text; text++)
        hash = (hash ^ (uint8_t)*text) * 0x100000001b3ull;
    return hash ^ (hash >> 29);
}

static uint64_t s_hash_key (int64_t key)
{
    uint64_t hash = (uint64_t)key * 0x9e3779b97f4a7c15ull;
    return hash ^ (hash >> 31);
}

static int s_tiebreak (uint32_t a, uint32_t b, void *arg)
{
    standings_t *self = arg;
    return strcmp (self->papers[a].id, self->papers[b].id);
}

static void s_id_slots_grow (standings_t *self)
{
    size_t count = self->id_slot_count ? self->id_slot_count * 2 : 1024;
    uint32_t *slots = calloc (count, sizeof *slots);
    for (size_t p = 0; p < self->paper_count; p++) {
        size_t slot = s_hash (self->papers[p].id) & (count - 1);
        while (slots[slot])
            slot = (slot + 1) & (count - 1);
        slots[slot] = (uint32_t)p + 1;
    }
    free (self->id_slots);
    self->id_slots = slots;
    self->id_slot_count = count;
}

//  The list of WINDOW holding DAY; created when CREATE, else NULL if none.
static ranking_t *s_bucket (standings_t *self, standings_window_t window, int32_t day, bool create)
{
    int64_t key = s_window_key (window, day);
    if (create && (self->bucket_used + 1) * 2 > self->bucket_count) {
        size_t count = self->bucket_count ? self->bucket_count * 2 : 256;
        bucket_t *buckets = calloc (count, sizeof *buckets);
        for (size_t b = 0; b < self->bucket_count; b++) {
            if (!self->buckets[b].key)
                continue;
            size_t slot = s_hash_key (self->buckets[b].key) & (count - 1);
            while (buckets[slot].key)
                slot = (slot + 1) & (count - 1);
            buckets[slot] = self->buckets[b];
        }
        free (self->buckets);
        self->buckets = buckets;
        self->bucket_count = count;
    }
    if (!self->bucket_count)
        return NULL;
    size_t slot = s_hash_key (key) & (self->bucket_count - 1);
    while (self->buckets[slot].key) {
        if (self->buckets[slot].key == key)
            return self->buckets[slot].ranking;
        slot = (slot + 1) & (self->bucket_count - 1);
    }
    if (!create)
        return NULL;
    self->buckets[slot].key = key;
    self->buckets[slot].ranking = ranking_new (
        window == WINDOW_TRENDING ? RANKING_BY_SCORE : RANKING_BY_UPVOTES, s_tiebreak, self);
    self->bucket_used++;
    return self->buckets[slot].ranking;
}

/* ==== Standings ==== */

standings_t *standings_new (int64_t half_life_ms, int64_t now_ms)
{
    standings_t *self = calloc (1, sizeof *self);
    self->half_life_ms = half_life_ms > 0 ? half_life_ms : 1;
    self->trending = ranking_new (RANKING_BY_SCORE, s_tiebreak, self);
    self->sorted = true;
    s_id_slots_grow (self);
    standings_advance (self, now_ms);
    return self;
}

void standings_destroy (standings_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    standings_t *self = *self_p;
    for (size_t p = 0; p < self->paper_count; p++)
        free (self->papers[p].id);
    for (size_t b = 0; b < self->bucket_count; b++)
        ranking_destroy (&self->buckets[b].ranking);
    ranking_destroy (&self->trending);
    free (self->buckets);
    free (self->id_slots);
    free (self->papers);
    free (self);
    *self_p = NULL;
}

int64_t standings_epoch (standings_t *self)
{
    return self->epoch_ms;
}

int64_t standings_half_life (standings_t *self)
{
    return self->half_life_ms;
}

uint32_t standings_find (standings_t *self, const char *id)
{
    size_t mask = self->id_slot_count - 1;
    for (size_t slot = s_hash (id) & mask; self->id_slots[slot]; slot = (slot + 1) & mask)
        if (strcmp (self->papers[self->id_slots[slot] - 1].id, id) == 0)
            return self->id_slots[slot] - 1;
    return STANDINGS_NO_PAPER;
}

const char *standings_id (standings_t *self, uint32_t paper)
{
    return self->papers[paper].id;
}

size_t standings_paper_count (standings_t *self)
{
    return self->paper_count;
}

//  What the lists order a paper by: its heat to KEY_BITS significant bits
//  (about six digits). Heats are float sums: a rebuild adds in another
//  order than a live worker, and a withdrawn vote leaves rounding dust of
//  up to an ulp of the sum it was taken from. Rounding the key keeps that
//  dust from splitting a tie between workers, unless it lands across a
//  rounding boundary: a chance of about 2^(g - 33) when the withdrawn vote
//  weighed 2^g times what is left (1 in 8000 at g = 20, 20 half-lives newer;
//  by then what is left is far below the trending floor).
static double s_key (double heat)
{
    if (!(heat > 0))
        return 0;
    int exponent;
    double mantissa = frexp (heat, &exponent);
    return ldexp (nearbyint (ldexp (mantissa, KEY_BITS)), exponent - KEY_BITS);
}

static ranking_entry_t s_entry (standings_t *self, uint32_t paper)
{
    const paper_t *p = &self->papers[paper];
    return (ranking_entry_t){s_key (p->vote_heat + p->signal_heat), p->upvotes, paper};
}

static const standings_window_t s_windows[] = {WINDOW_DAY, WINDOW_WEEK, WINDOW_MONTH};

//  Takes PAPER out of its lists, before its key changes.
static void s_detach (standings_t *self, uint32_t paper)
{
    if (!self->sorted)
        return;
    ranking_entry_t entry = s_entry (self, paper);
    for (int w = 0; w < 3; w++)
        ranking_remove (s_bucket (self, s_windows[w], self->papers[paper].day, false), entry);
    if (entry.score > 0)
        ranking_remove (self->trending, entry);
}

//  Puts PAPER back into its lists, after its key changed.
static void s_attach (standings_t *self, uint32_t paper)
{
    if (!self->sorted)
        return;
    ranking_entry_t entry = s_entry (self, paper);
    for (int w = 0; w < 3; w++)
        ranking_insert (s_bucket (self, s_windows[w], self->papers[paper].day, true), entry);
    if (entry.score > 0)
        ranking_insert (self->trending, entry);
}

uint32_t standings_list_paper (standings_t *self, const char *id, int32_t day)
{
    uint32_t paper = standings_find (self, id);
    if (paper != STANDINGS_NO_PAPER) {
        if (self->papers[paper].day != day) {
            s_detach (self, paper);
            self->papers[paper].day = day;
            s_attach (self, paper);
        }
        return paper;
    }
    if (self->paper_count == self->paper_capacity) {
        self->paper_capacity = self->paper_capacity ? self->paper_capacity * 2 : 1024;
        self->papers = realloc (self->papers, self->paper_capacity * sizeof *self->papers);
    }
    paper = (uint32_t)self->paper_count++;
    self->papers[paper] = (paper_t){.id = strdup (id), .day = day};
    if (self->paper_count * 2 > self->id_slot_count)
        s_id_slots_grow (self);
    else {
        size_t mask = self->id_slot_count - 1;
        size_t slot = s_hash (id) & mask;
        while (self->id_slots[slot])
            slot = (slot + 1) & mask;
        self->id_slots[slot] = paper + 1;
    }
    s_attach (self, paper);
    return paper;
}

void standings_load_begin (standings_t *self)
{
    self->sorted = false;
}

void standings_load (standings_t *self, uint32_t paper, uint32_t upvotes, double vote_heat)
{
    paper_t *p = &self->papers[paper];
    p->upvotes = upvotes;
    p->vote_heat = upvotes && vote_heat >= HEAT_FLUSH ? vote_heat : 0;
}

void standings_load_signal (standings_t *self, uint32_t paper, double signal_heat)
{
    if (signal_heat >= HEAT_FLUSH)
        self->papers[paper].signal_heat += signal_heat;
}

//  Entries of one list, gathered before it is filled.
typedef struct {
    ranking_entry_t *entries;
    size_t count, capacity;
} gathered_t;

static void s_gather (gathered_t *gathered, ranking_entry_t entry)
{
    if (gathered->count == gathered->capacity) {
        gathered->capacity = gathered->capacity ? gathered->capacity * 2 : 16;
        gathered->entries =
            realloc (gathered->entries, gathered->capacity * sizeof *gathered->entries);
    }
    gathered->entries[gathered->count++] = entry;
}

//  Fills every list from the papers, sorting each once.
static void s_sort_all (standings_t *self)
{
    for (size_t p = 0; p < self->paper_count; p++)
        for (int w = 0; w < 3; w++)
            s_bucket (self, s_windows[w], self->papers[p].day, true);
    gathered_t *lists = calloc (self->bucket_count, sizeof *lists);
    gathered_t trending = {0};
    size_t mask = self->bucket_count - 1;
    for (size_t p = 0; p < self->paper_count; p++) {
        ranking_entry_t entry = s_entry (self, (uint32_t)p);
        for (int w = 0; w < 3; w++) {
            int64_t key = s_window_key (s_windows[w], self->papers[p].day);
            size_t slot = s_hash_key (key) & mask;
            while (self->buckets[slot].key != key)
                slot = (slot + 1) & mask;
            s_gather (&lists[slot], entry);
        }
        if (entry.score > 0)
            s_gather (&trending, entry);
    }
    for (size_t b = 0; b < self->bucket_count; b++) {
        if (self->buckets[b].key)
            ranking_fill (self->buckets[b].ranking, lists[b].entries, lists[b].count);
        free (lists[b].entries);
    }
    ranking_fill (self->trending, trending.entries, trending.count);
    free (trending.entries);
    free (lists);
    self->sorted = true;
}

void standings_load_end (standings_t *self)
{
    s_sort_all (self);
}

double standings_weight (standings_t *self, int64_t t_ms)
{
    //  2^(k + r / H), with k whole half-lives and r the rest: r does not
    //  depend on the epoch (a multiple of H), so a weight against the next
    //  epoch is this one times an exact power of two, bit for bit.
    int64_t since = t_ms - self->epoch_ms;
    int64_t halvings = since / self->half_life_ms;
    int64_t rest = since % self->half_life_ms;
    if (rest < 0) {
        rest += self->half_life_ms;
        halvings--;
    }
    if (halvings < -1000)
        return 0;
    if (halvings > 1000)
        halvings = 1000;
    return ldexp (exp2 ((double)rest / (double)self->half_life_ms), (int)halvings);
}

void standings_vote (standings_t *self, uint32_t paper, bool up, int64_t cast_at_ms)
{
    paper_t *p = &self->papers[paper];
    if (!up && !p->upvotes)
        return;
    s_detach (self, paper);
    double weight = standings_weight (self, cast_at_ms);
    if (up) {
        p->upvotes++;
        p->vote_heat += weight;
    } else {
        p->upvotes--;
        p->vote_heat -= weight;
        //  Subtraction leaves rounding dust: no votes is no heat.
        if (!p->upvotes || p->vote_heat < HEAT_FLUSH)
            p->vote_heat = 0;
    }
    s_attach (self, paper);
}

void standings_signal (standings_t *self, uint32_t paper, double weighted_gain, int64_t at_ms)
{
    if (!(weighted_gain > 0))
        return;
    s_detach (self, paper);
    self->papers[paper].signal_heat += weighted_gain * standings_weight (self, at_ms);
    s_attach (self, paper);
}

void standings_advance (standings_t *self, int64_t now_ms)
{
    int64_t span = self->half_life_ms * STANDINGS_EPOCH_SPAN;
    int64_t epoch = now_ms / span * span;
    if (self->epoch_set && epoch <= self->epoch_ms)
        return;
    if (self->paper_count && self->epoch_set) {
        //  An exact power of two: every heat keeps its bits, the order holds.
        int64_t halvings = (epoch - self->epoch_ms) / self->half_life_ms;
        double factor = ldexp (1.0, halvings > 2048 ? -2048 : -(int)halvings);
        for (size_t p = 0; p < self->paper_count; p++) {
            paper_t *paper = &self->papers[p];
            paper->vote_heat *= factor;
            paper->signal_heat *= factor;
            if (paper->vote_heat < HEAT_FLUSH)
                paper->vote_heat = 0;
            if (paper->signal_heat < HEAT_FLUSH)
                paper->signal_heat = 0;
        }
    }
    self->epoch_ms = epoch;
    self->epoch_set = true;
    if (self->paper_count && self->sorted)
        s_sort_all (self);
}

uint32_t standings_upvotes (standings_t *self, uint32_t paper)
{
    return self->papers[paper].upvotes;
}

//  What a heat is worth at NOW_MS.
static double s_decay (standings_t *self, int64_t now_ms)
{
    return exp2 ((double)(self->epoch_ms - now_ms) / (double)self->half_life_ms);
}

double standings_score (standings_t *self, uint32_t paper, int64_t now_ms)
{
    const paper_t *p = &self->papers[paper];
    return (p->vote_heat + p->signal_heat) * s_decay (self, now_ms);
}

void standings_top (standings_t *self, standings_window_t window, int32_t day, size_t offset,
                    size_t limit, int64_t now_ms, standings_hit_t *hits, standings_page_t *page)
{
    standings_advance (self, now_ms);
    memset (page, 0, sizeof *page);
    standings_window_days (window, day, &page->first_day, &page->last_day);
    double decay = s_decay (self, now_ms);
    ranking_t *ranking = self->trending;
    if (window == WINDOW_TRENDING)
        page->total = ranking_count_scored (ranking, STANDINGS_TRENDING_FLOOR / decay);
    else {
        ranking = s_bucket (self, window, day, false);
        page->total = ranking ? ranking_count (ranking) : 0;
    }
    if (offset >= page->total)
        return;
    if (limit > page->total - offset)
        limit = page->total - offset;
    ranking_entry_t *entries = malloc (limit * sizeof *entries);
    page->count = ranking_page (ranking, offset, limit, entries);
    //  The score shown is the heat itself, not the rounded key.
    for (size_t i = 0; i < page->count; i++) {
        const paper_t *paper = &self->papers[entries[i].paper];
        hits[i] = (standings_hit_t){entries[i].paper, entries[i].upvotes,
                                    (paper->vote_heat + paper->signal_heat) * decay};
    }
    free (entries);
}
