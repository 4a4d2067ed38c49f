/*  Codec benchmark: decoding batches of 100 real papers with pb_decode
    (schema-checked, UTF-8 validated, zero-copy) beside msgpack-c's
    msgpack_unpack (an object tree, no checks at all) and beside the safe way
    to use msgpack-c on untrusted bytes (pb_codec_validate, then unpack), in
    the same run on the same bytes. Prints a markdown section. */
#include "paperbus.h"
#include "pbbench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_SIZE 100
#define MAX_PAPERS 20000

typedef struct {
    pb_present_t present;
    pb_str_t id;
    pb_str_t title;
    pb_str_t abstract;
    pb_str_list_t authors;
    pb_str_list_t categories;
} paper_t;

static const pb_field_t s_paper_fields[] = {
    {"id", PB_FIELD_STR, true, offsetof (paper_t, id), 0, 0, 1, 64, 0, NULL, NULL},
    {"title", PB_FIELD_STR, true, offsetof (paper_t, title), 0, 0, 1, 4096, 0, NULL, NULL},
    {"abstract", PB_FIELD_STR, false, offsetof (paper_t, abstract), 0, 0, 0, 65536, 0, NULL, NULL},
    {"authors", PB_FIELD_STR_LIST, false, offsetof (paper_t, authors), 0, 0, 0, 1024, 10000, NULL,
     NULL},
    {"categories", PB_FIELD_STR_LIST, false, offsetof (paper_t, categories), 0, 0, 1, 256, 64, NULL,
     NULL},
};
static const pb_schema_t s_paper_schema = {"paper", s_paper_fields, 5, sizeof (paper_t), NULL};

typedef struct {
    pb_present_t present;
    pb_list_t papers;
} batch_t;

static const pb_field_t s_batch_fields[] = {
    {"papers", PB_FIELD_MAP_LIST, true, offsetof (batch_t, papers), 0, 0, 0, 0, 10000,
     &s_paper_schema, NULL},
};
static const pb_schema_t s_batch_schema = {"batch", s_batch_fields, 1, sizeof (batch_t), NULL};

typedef struct {
    char *data;
    size_t size;
} frame_t;

static pb_str_list_t s_list (char **items, size_t count)
{
    pb_str_list_t list = {malloc ((count ? count : 1) * sizeof (pb_str_t)), (uint32_t)count};
    for (size_t i = 0; i < count; i++)
        list.items[i] = pb_str (items[i]);
    return list;
}

int main (void)
{
    pbbench_paper_t *papers;
    const char *corpus;
    size_t count = pbbench_load_papers (MAX_PAPERS, &papers, &corpus);
    if (count < BATCH_SIZE) {
        fprintf (stderr, "bench_codec: not enough papers\n");
        return 1;
    }
    size_t frame_count = count / BATCH_SIZE;
    frame_t *frames = calloc (frame_count, sizeof *frames);
    size_t total_bytes = 0;
    paper_t *batch_papers = calloc (BATCH_SIZE, sizeof *batch_papers);
    for (size_t f = 0; f < frame_count; f++) {
        for (size_t i = 0; i < BATCH_SIZE; i++) {
            pbbench_paper_t *source = &papers[f * BATCH_SIZE + i];
            paper_t *paper = &batch_papers[i];
            *paper = (paper_t){0};
            paper->id = pb_str (source->id);
            paper->title = pb_str (source->title);
            paper->abstract = pb_str (source->abstract);
            paper->authors = s_list (source->authors, source->author_count);
            paper->categories = s_list (source->categories, source->category_count);
            paper->present = (1u << 2) | (1u << 3) | (1u << 4);
        }
        batch_t batch = {0, {batch_papers, BATCH_SIZE}};
        msgpack_sbuffer buffer;
        msgpack_sbuffer_init (&buffer);
        msgpack_packer packer;
        msgpack_packer_init (&packer, &buffer, msgpack_sbuffer_write);
        pb_encode (&s_batch_schema, &batch, &packer);
        frames[f].data = buffer.data;
        frames[f].size = buffer.size;
        total_bytes += buffer.size;
        for (size_t i = 0; i < BATCH_SIZE; i++) {
            free (batch_papers[i].authors.items);
            free (batch_papers[i].categories.items);
        }
    }

    double ours[PBBENCH_RUNS], plain[PBBENCH_RUNS], safe[PBBENCH_RUNS];
    pb_arena_t *arena = pb_arena_new ();
    msgpack_zone zone;
    msgpack_zone_init (&zone, 1 << 16);
    size_t checksum = 0;
    for (int run = 0; run < PBBENCH_RUNS; run++) {
        int64_t start = pbbench_now_ns ();
        for (size_t f = 0; f < frame_count; f++) {
            batch_t batch;
            pb_codec_error_t error;
            if (pb_decode (frames[f].data, frames[f].size, 1 << 24, &s_batch_schema, &batch, arena,
                           &error)) {
                fprintf (stderr, "bench_codec: %s\n", error.message);
                return 1;
            }
            checksum += batch.papers.count;
            pb_arena_reset (arena);
        }
        ours[run] = (double)(pbbench_now_ns () - start) / 1e9;

        start = pbbench_now_ns ();
        for (size_t f = 0; f < frame_count; f++) {
            msgpack_object object;
            msgpack_unpack (frames[f].data, frames[f].size, NULL, &zone, &object);
            checksum += object.via.map.size;
            msgpack_zone_clear (&zone);
        }
        plain[run] = (double)(pbbench_now_ns () - start) / 1e9;

        start = pbbench_now_ns ();
        for (size_t f = 0; f < frame_count; f++) {
            pb_codec_error_t error;
            msgpack_object object;
            if (pb_codec_validate (frames[f].data, frames[f].size, 1 << 24, &error) == 0)
                msgpack_unpack (frames[f].data, frames[f].size, NULL, &zone, &object);
            checksum += object.via.map.size;
            msgpack_zone_clear (&zone);
        }
        safe[run] = (double)(pbbench_now_ns () - start) / 1e9;
    }
    double ours_s = pbbench_median (ours, PBBENCH_RUNS);
    double plain_s = pbbench_median (plain, PBBENCH_RUNS);
    double safe_s = pbbench_median (safe, PBBENCH_RUNS);
    double mb = (double)total_bytes / 1e6;
    double papers_total = (double)(frame_count * BATCH_SIZE);

    printf ("## Message codec: decoding paper batches\n\n");
    printf ("%zu frames of %d real papers (%.1f MB of msgpack) from %s; median of %d runs.\n\n",
            frame_count, BATCH_SIZE, mb, corpus, PBBENCH_RUNS);
    printf (
        "| decoder | checks | MB/s | papers/s | time vs pb_decode |\n|---|---|---:|---:|---:|\n");
    printf ("| `pb_decode` (paperbus) | schema, limits, UTF-8; zero-copy | %.0f | %.0f | 1.00 |\n",
            mb / ours_s, papers_total / ours_s);
    printf ("| `msgpack_unpack` (msgpack-c) | none: trusts every length | %.0f | %.0f | %.2f |\n",
            mb / plain_s, papers_total / plain_s, plain_s / ours_s);
    printf ("| `pb_codec_validate` + `msgpack_unpack` | limits, UTF-8; no schema | %.0f | %.0f | "
            "%.2f |\n\n",
            mb / safe_s, papers_total / safe_s, safe_s / ours_s);
    fprintf (stderr, "bench_codec: checksum %zu\n", checksum);
    msgpack_zone_destroy (&zone);
    pb_arena_destroy (&arena);
    for (size_t f = 0; f < frame_count; f++)
        free (frames[f].data);
    free (frames);
    free (batch_papers);
    pbbench_papers_free (papers, count);
    return 0;
}
