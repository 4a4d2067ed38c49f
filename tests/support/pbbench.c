/*  pbbench — timing, medians and corpus loading for the benchmarks. */
#include "pbbench.h"

#include <glob.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

int64_t pbbench_now_ns (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

static int s_compare_doubles (const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double pbbench_median (double *values, size_t count)
{
    qsort (values, count, sizeof *values, s_compare_doubles);
    return count % 2 ? values[count / 2] : (values[count / 2 - 1] + values[count / 2]) / 2;
}

int pbbench_spawn (const char *program, char *const argv[], char *const environment[])
{
    pid_t pid = fork ();
    if (pid == 0) {
        for (char *const *assignment = environment; assignment && *assignment; assignment++)
            putenv (*assignment);
        int null = open ("/dev/null", O_WRONLY);
        dup2 (null, STDOUT_FILENO);
        execv (program, argv);
        _exit (127);
    }
    return pid;
}

void pbbench_percentiles (double *latencies, size_t count, double *p50, double *p99)
{
    pbbench_median (latencies, count); //  sorts
    *p50 = latencies[(count - 1) / 2];
    *p99 = latencies[(size_t)((double)(count - 1) * 0.99 + 0.5)];
}

static char **s_string_list (json_t *array, size_t *count)
{
    *count = json_is_array (array) ? json_array_size (array) : 0;
    char **list = calloc (*count ? *count : 1, sizeof *list);
    for (size_t i = 0; i < *count; i++)
        list[i] = strdup (json_string_value (json_array_get (array, i)) ?: "");
    return list;
}

size_t pbbench_load_papers (size_t limit, pbbench_paper_t **papers, const char **corpus_name)
{
    const char *root = getenv ("PAPERBUS_ROOT") ?: ".";
    char shared[4096], sample[4096];
    snprintf (shared, sizeof shared, "%s/../shared/corpus/arxiv-daily", root);
    snprintf (sample, sizeof sample, "%s/deploy/sample/arxiv-daily", root);
    char pattern[8200];
    glob_t files;
    snprintf (pattern, sizeof pattern, "%s/*.jsonl", shared);
    *corpus_name = "shared/corpus/arxiv-daily";
    if (glob (pattern, 0, NULL, &files) != 0) {
        fprintf (stderr, "bench: ../shared/corpus is absent; using the bundled sample instead\n");
        snprintf (pattern, sizeof pattern, "%s/*.jsonl", sample);
        *corpus_name = "deploy/sample/arxiv-daily (shared corpus absent)";
        if (glob (pattern, 0, NULL, &files) != 0)
            return 0;
    }
    size_t count = 0, capacity = 1024;
    *papers = malloc (capacity * sizeof **papers);
    for (size_t f = 0; f < files.gl_pathc && (!limit || count < limit); f++) {
        FILE *file = fopen (files.gl_pathv[f], "r");
        char *line = NULL;
        size_t line_size = 0;
        while (file && getline (&line, &line_size, file) > 0 && (!limit || count < limit)) {
            json_t *record = json_loads (line, 0, NULL);
            if (!record)
                continue;
            if (count == capacity) {
                capacity *= 2;
                *papers = realloc (*papers, capacity * sizeof **papers);
            }
            pbbench_paper_t *paper = &(*papers)[count++];
            paper->id = strdup (json_string_value (json_object_get (record, "id")) ?: "");
            paper->title = strdup (json_string_value (json_object_get (record, "title")) ?: "");
            paper->abstract =
                strdup (json_string_value (json_object_get (record, "summary")) ?: "");
            paper->authors =
                s_string_list (json_object_get (record, "authors"), &paper->author_count);
            paper->categories =
                s_string_list (json_object_get (record, "categories"), &paper->category_count);
            json_decref (record);
        }
        free (line);
        if (file)
            fclose (file);
    }
    globfree (&files);
    return count;
}

void pbbench_papers_free (pbbench_paper_t *papers, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free (papers[i].id);
        free (papers[i].title);
        free (papers[i].abstract);
        for (size_t a = 0; a < papers[i].author_count; a++)
            free (papers[i].authors[a]);
        free (papers[i].authors);
        for (size_t c = 0; c < papers[i].category_count; c++)
            free (papers[i].categories[c]);
        free (papers[i].categories);
    }
    free (papers);
}

int pbbench_start (const char *bin_dir, const char *name, char *const common[], char *const extra[])
{
    char program[4200];
    snprintf (program, sizeof program, "%s/%s", bin_dir, name);
    char *argv[] = {program, NULL};
    char *environment[32];
    size_t count = 0;
    for (char *const *assignment = common; assignment && *assignment && count < 31; assignment++)
        environment[count++] = *assignment;
    for (char *const *assignment = extra; assignment && *assignment && count < 31; assignment++)
        environment[count++] = *assignment;
    environment[count] = NULL;
    return pbbench_spawn (program, argv, environment);
}

char *pbbench_database_url (const char *url, const char *name)
{
    const char *slash = strrchr (url, '/');
    size_t keep = slash ? (size_t)(slash - url) : strlen (url);
    char *out = malloc (keep + strlen (name) + 2);
    sprintf (out, "%.*s/%s", (int)keep, url, name);
    return out;
}
