/*  ranking — a sorted sequence in chunks. */
#include "ranking.h"

#include <stdlib.h>
#include <string.h>

#define CHUNK_FIRST_CAPACITY 8 //  small lists (a quiet day) stay small

typedef struct {
    uint32_t count;           //  entries in use
    uint32_t capacity;        //  entries allocated
    ranking_entry_t *entries; //  sorted
} chunk_t;

struct _ranking_t {
    ranking_order_t order;
    ranking_tiebreak_fn *tiebreak;
    void *tiebreak_arg;
    chunk_t *chunks;    //  in order; none is empty
    size_t chunk_count; //  chunks in use
    size_t chunk_capacity;
    size_t count; //  entries in all chunks
};

ranking_t *ranking_new (ranking_order_t order, ranking_tiebreak_fn *tiebreak, void *arg)
{
    ranking_t *self = calloc (1, sizeof *self);
    self->order = order;
    self->tiebreak = tiebreak;
    self->tiebreak_arg = arg;
    return self;
}

static void s_clear (ranking_t *self)
{
    for (size_t c = 0; c < self->chunk_count; c++)
        free (self->chunks[c].entries);
    self->chunk_count = 0;
    self->count = 0;
}

void ranking_destroy (ranking_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ranking_t *self = *self_p;
    s_clear (self);
    free (self->chunks);
    free (self);
    *self_p = NULL;
}

//  Below 0 when A comes before B, 0 for the same paper.
static int s_compare (const ranking_t *self, const ranking_entry_t *a, const ranking_entry_t *b)
{
    if (a->paper == b->paper)
        return 0;
    if (self->order == RANKING_BY_UPVOTES && a->upvotes != b->upvotes)
        return a->upvotes > b->upvotes ? -1 : 1;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    if (a->upvotes != b->upvotes)
        return a->upvotes > b->upvotes ? -1 : 1;
    return self->tiebreak (a->paper, b->paper, self->tiebreak_arg);
}

//  The chunk where ENTRY belongs: the last whose first entry does not come
//  after it (chunk 0 when it comes before every chunk).
static size_t s_chunk_for (const ranking_t *self, const ranking_entry_t *entry)
{
    size_t low = 0, high = self->chunk_count;
    while (high - low > 1) {
        size_t middle = low + (high - low) / 2;
        if (s_compare (self, &self->chunks[middle].entries[0], entry) <= 0)
            low = middle;
        else
            high = middle;
    }
    return low;
}

//  The first position in CHUNK whose entry does not come before ENTRY.
static uint32_t s_position_in (const ranking_t *self, const chunk_t *chunk,
                               const ranking_entry_t *entry)
{
    uint32_t low = 0, high = chunk->count;
    while (low < high) {
        uint32_t middle = low + (high - low) / 2;
        if (s_compare (self, &chunk->entries[middle], entry) < 0)
            low = middle + 1;
        else
            high = middle;
    }
    return low;
}

static void s_reserve (chunk_t *chunk, uint32_t capacity)
{
    if (chunk->capacity >= capacity)
        return;
    uint32_t grown = chunk->capacity ? chunk->capacity : CHUNK_FIRST_CAPACITY;
    while (grown < capacity)
        grown *= 2;
    if (grown > RANKING_CHUNK)
        grown = RANKING_CHUNK;
    chunk->entries = realloc (chunk->entries, grown * sizeof *chunk->entries);
    chunk->capacity = grown;
}

//  Opens an empty chunk at position AT.
static chunk_t *s_chunk_open (ranking_t *self, size_t at)
{
    if (self->chunk_count == self->chunk_capacity) {
        self->chunk_capacity = self->chunk_capacity ? self->chunk_capacity * 2 : 4;
        self->chunks = realloc (self->chunks, self->chunk_capacity * sizeof *self->chunks);
    }
    memmove (&self->chunks[at + 1], &self->chunks[at],
             (self->chunk_count - at) * sizeof *self->chunks);
    self->chunk_count++;
    self->chunks[at] = (chunk_t){0};
    return &self->chunks[at];
}

void ranking_insert (ranking_t *self, ranking_entry_t entry)
{
    if (!self->chunk_count)
        s_chunk_open (self, 0);
    size_t at = s_chunk_for (self, &entry);
    chunk_t *chunk = &self->chunks[at];
    if (chunk->count == RANKING_CHUNK) {
        //  Full: its second half becomes the next chunk.
        chunk_t *next = s_chunk_open (self, at + 1);
        chunk = &self->chunks[at];
        uint32_t half = RANKING_CHUNK / 2;
        s_reserve (next, half);
        memcpy (next->entries, chunk->entries + half, half * sizeof *chunk->entries);
        next->count = half;
        chunk->count = half;
        if (s_compare (self, &next->entries[0], &entry) <= 0)
            chunk = next;
    }
    uint32_t position = s_position_in (self, chunk, &entry);
    s_reserve (chunk, chunk->count + 1);
    memmove (&chunk->entries[position + 1], &chunk->entries[position],
             (chunk->count - position) * sizeof *chunk->entries);
    chunk->entries[position] = entry;
    chunk->count++;
    self->count++;
}

int ranking_remove (ranking_t *self, ranking_entry_t entry)
{
    if (!self->chunk_count)
        return -1;
    size_t at = s_chunk_for (self, &entry);
    chunk_t *chunk = &self->chunks[at];
    uint32_t position = s_position_in (self, chunk, &entry);
    if (position == chunk->count || chunk->entries[position].paper != entry.paper)
        return -1;
    memmove (&chunk->entries[position], &chunk->entries[position + 1],
             (chunk->count - position - 1) * sizeof *chunk->entries);
    chunk->count--;
    self->count--;
    if (!chunk->count) {
        free (chunk->entries);
        memmove (&self->chunks[at], &self->chunks[at + 1],
                 (self->chunk_count - at - 1) * sizeof *self->chunks);
        self->chunk_count--;
    }
    return 0;
}

//  qsort has no argument for its comparison: the list being sorted is here.
static __thread const ranking_t *s_sorting;

static int s_qsort_compare (const void *a, const void *b)
{
    return s_compare (s_sorting, a, b);
}

void ranking_fill (ranking_t *self, const ranking_entry_t *entries, size_t count)
{
    ranking_entry_t *sorted = calloc (count + 1, sizeof *sorted);
    if (count)
        memcpy (sorted, entries, count * sizeof *sorted);
    s_sorting = self;
    qsort (sorted, count, sizeof *sorted, s_qsort_compare);
    s_clear (self);
    //  Chunks three quarters full leave room for votes before a split.
    const size_t per_chunk = RANKING_CHUNK * 3 / 4;
    for (size_t done = 0; done < count; done += per_chunk) {
        size_t take = count - done < per_chunk ? count - done : per_chunk;
        chunk_t *chunk = s_chunk_open (self, self->chunk_count);
        s_reserve (chunk, (uint32_t)take);
        memcpy (chunk->entries, sorted + done, take * sizeof *sorted);
        chunk->count = (uint32_t)take;
    }
    self->count = count;
    free (sorted);
}

size_t ranking_count (const ranking_t *self)
{
    return self->count;
}

size_t ranking_page (const ranking_t *self, size_t offset, size_t limit, ranking_entry_t *out)
{
    size_t copied = 0;
    for (size_t c = 0; c < self->chunk_count && copied < limit; c++) {
        const chunk_t *chunk = &self->chunks[c];
        if (offset >= chunk->count) {
            offset -= chunk->count;
            continue;
        }
        size_t take = chunk->count - offset;
        if (take > limit - copied)
            take = limit - copied;
        memcpy (out + copied, chunk->entries + offset, take * sizeof *out);
        copied += take;
        offset = 0;
    }
    return copied;
}

size_t ranking_count_scored (const ranking_t *self, double minimum)
{
    size_t count = 0;
    for (size_t c = 0; c < self->chunk_count; c++) {
        const chunk_t *chunk = &self->chunks[c];
        if (chunk->entries[chunk->count - 1].score >= minimum) {
            count += chunk->count;
            continue;
        }
        uint32_t low = 0, high = chunk->count;
        while (low < high) {
            uint32_t middle = low + (high - low) / 2;
            if (chunk->entries[middle].score >= minimum)
                low = middle + 1;
            else
                high = middle;
        }
        return count + low;
    }
    return count;
}
