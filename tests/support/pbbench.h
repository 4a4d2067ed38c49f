/*  pbbench — what the benchmarks share: a clock, medians of repeated runs,
    and the paper corpus (../shared/corpus when present, else the sample). */
#ifndef PBBENCH_H
#define PBBENCH_H

#include <stddef.h>
#include <stdint.h>

#define PBBENCH_RUNS 5 //  each measurement is repeated and the median kept

//  Nanoseconds on the monotonic clock.
int64_t pbbench_now_ns (void);

//  Sorts VALUES (COUNT of them) and returns the median.
double pbbench_median (double *values, size_t count);

//  Starts PROGRAM with ARGV, the assignments ENVIRONMENT ("NAME=value",
//  NULL-terminated) added to this process's, and stdout to /dev/null.
//  Returns the pid.
int pbbench_spawn (const char *program, char *const argv[], char *const environment[]);

//  Starts the paperbus program NAME of BIN_DIR ("index") with the
//  assignments ("PAPERBUS_...=...") of COMMON and then EXTRA (either may be
//  NULL) as its environment, at most 31 in all. Returns its pid.
int pbbench_start (const char *bin_dir, const char *name, char *const common[],
                   char *const extra[]);

//  The URL of database NAME on the server of URL (the caller frees it).
char *pbbench_database_url (const char *url, const char *name);

//  Sorts LATENCIES (COUNT of them) and sets the median and 99th percentile.
void pbbench_percentiles (double *latencies, size_t count, double *p50, double *p99);

//  A paper as read from the JSON Lines corpus; strings are owned.
typedef struct {
    char *id;
    char *title;
    char *abstract;
    char **authors;
    size_t author_count;
    char **categories;
    size_t category_count;
} pbbench_paper_t;

//  Loads up to LIMIT papers (0: all) from the arxiv-daily corpus and says on
//  stderr which corpus it read. Returns the count; *PAPERS is owned by the
//  caller (free with pbbench_papers_free).
size_t pbbench_load_papers (size_t limit, pbbench_paper_t **papers, const char **corpus_name);

void pbbench_papers_free (pbbench_paper_t *papers, size_t count);

#endif
