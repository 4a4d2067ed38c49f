/*  pb_feed: parsing on several threads at once gives the same papers, and
    entity declarations are refused in any encoding. */
#include "paperbus.h"
#include "pb_feed.h"
#include "pbtest.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *name; //  file to parse
    char *data;       //  its bytes
    size_t size;      //  its size
    uint64_t digest;  //  of every paper produced, in order
    long papers;      //  how many
} parse_job_t;

static void s_digest_paper (const void *data, size_t size, void *arg)
{
    parse_job_t *job = arg;
    const unsigned char *bytes = data;
    for (size_t i = 0; i < size; i++)
        job->digest = (job->digest ^ bytes[i]) * 0x100000001b3ULL;
}

static void s_ignore_reject (const char *position, const char *reason, void *arg)
{
    (void)position;
    (void)reason;
    (void)arg;
}

static void *s_parse_many (void *arg)
{
    parse_job_t *job = arg;
    for (int round = 0; round < 20; round++) {
        pb_feed_sink_t sink = {s_digest_paper, s_ignore_reject, job, NULL};
        char error[256];
        job->papers += pb_feed_parse (job->name, job->data, job->size, &sink, error, sizeof error);
    }
    return NULL;
}

Test (feed, parsing_on_two_threads_at_once_gives_the_same_papers)
{
    //  Kaggle records split author and category strings: the splitting must
    //  keep no state shared between threads.
    char *path = pbtest_repo_path ("tests/data/kaggle/arxiv-metadata-oai-snapshot.head200.jsonl");
    size_t size;
    char *data = pbtest_read_file (path, &size);
    cr_assert (data);
    parse_job_t alone = {path, data, size, 0xcbf29ce484222325ULL, 0};
    s_parse_many (&alone);
    parse_job_t jobs[2] = {{path, data, size, 0xcbf29ce484222325ULL, 0},
                           {path, data, size, 0xcbf29ce484222325ULL, 0}};
    pthread_t threads[2];
    for (int t = 0; t < 2; t++)
        pthread_create (&threads[t], NULL, s_parse_many, &jobs[t]);
    for (int t = 0; t < 2; t++) {
        pthread_join (threads[t], NULL);
        cr_assert_eq (jobs[t].papers, alone.papers);
        cr_assert_eq (jobs[t].digest, alone.digest, "thread %d parsed different papers", t);
    }
    free (data);
    free (path);
}

Test (feed, entity_declarations_are_refused_in_utf16_too)
{
    const char *ascii = "<?xml version=\"1.0\"?>\n<!DOCTYPE feed [ <!ENTITY t \"smuggled\"> ]>\n"
                        "<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry><id>2501.00009</id>"
                        "<title>&t;</title></entry></feed>\n";
    //  The same document in UTF-16LE, with no byte order mark.
    size_t length = strlen (ascii);
    char *wide = calloc (2, length);
    for (size_t i = 0; i < length; i++)
        wide[2 * i] = ascii[i];
    long papers = 0;
    pb_feed_sink_t sink = {s_digest_paper, s_ignore_reject, &(parse_job_t){0}, NULL};
    char error[256];
    papers = pb_feed_parse ("wide.xml", wide, 2 * length, &sink, error, sizeof error);
    cr_assert_eq (papers, -1, "a UTF-16 document with entities was parsed");
    cr_assert (strstr (error, "declares XML entities"), "%s", error);
    free (wide);
}

static void s_keep_categories (const void *data, size_t size, void *arg)
{
    char *out = arg;
    pb_arena_t *arena = pb_arena_new ();
    pb_paper_t paper;
    pb_codec_error_t error;
    cr_assert_eq (pb_decode (data, size, size, &pb_paper_schema, &paper, arena, &error), 0, "%s",
                  error.message);
    for (uint32_t i = 0; i < paper.categories.count; i++)
        snprintf (out + strlen (out), 256 - strlen (out), "%s%.*s", i ? "," : "",
                  (int)paper.categories.items[i].len, paper.categories.items[i].ptr);
    pb_arena_destroy (&arena);
}

Test (feed, classification_codes_mixed_into_categories_are_dropped)
{
    //  A real arxiv-daily record lists MSC and ACM classes among its
    //  categories; only the arXiv categories are kept.
    const char line[] = "{\"id\": \"2505.01754\", \"title\": \"T\", \"categories\": [\"cs.AI\","
                        " \"cond-mat.str-el\", \"68T09, 68T50, 68T05,\\n  62R07\","
                        " \"I.2; H.3; I.5\"]}\n";
    char categories[256] = "";
    pb_feed_sink_t sink = {s_keep_categories, s_ignore_reject, categories, NULL};
    char error[256];
    cr_assert_eq (pb_feed_parse ("day.jsonl", line, sizeof line - 1, &sink, error, sizeof error), 1,
                  "%s", error);
    cr_assert_str_eq (categories, "cs.AI,cond-mat.str-el");
}

static void s_keep_authors (const void *data, size_t size, void *arg)
{
    char *out = arg;
    pb_arena_t *arena = pb_arena_new ();
    pb_paper_t paper;
    pb_codec_error_t error;
    cr_assert_eq (pb_decode (data, size, size, &pb_paper_schema, &paper, arena, &error), 0, "%s",
                  error.message);
    for (uint32_t i = 0; i < paper.authors.count; i++)
        snprintf (out + strlen (out), 256 - strlen (out), "%s%.*s", i ? "|" : "",
                  (int)paper.authors.items[i].len, paper.authors.items[i].ptr);
    pb_arena_destroy (&arena);
}

Test (feed, author_strings_split_alike_in_kaggle_and_arxivraw)
{
    const char line[] = "{\"title\": \"T\", \"authors\": \"C. Bal\\\\'azs, E. L. Berger and\\n "
                        " C.-P. Yuan\"}\n";
    char authors[256] = "";
    pb_feed_sink_t sink = {s_keep_authors, s_ignore_reject, authors, NULL};
    char error[256];
    cr_assert_eq (pb_feed_parse ("k.jsonl", line, sizeof line - 1, &sink, error, sizeof error), 1);
    cr_assert_str_eq (authors, "C. Bal\\'azs|E. L. Berger|C.-P. Yuan");

    char *path = pbtest_repo_path ("tests/data/oai/arxivraw");
    char command[4300];
    snprintf (command, sizeof command, "ls %s/*.xml > /tmp/pbtest-raw-%d", path, (int)getpid ());
    cr_assert_eq (system (command), 0);
    snprintf (command, sizeof command, "/tmp/pbtest-raw-%d", (int)getpid ());
    char *list = pbtest_read_file (command, NULL);
    unlink (command);
    list[strcspn (list, "\n")] = '\0';
    size_t size;
    char *xml = pbtest_read_file (list, &size);
    authors[0] = '\0';
    cr_assert_eq (pb_feed_parse (list, xml, size, &sink, error, sizeof error), 1, "%s", error);
    cr_assert_str_eq (authors, "Igor A. Zaliznyak|John M. Tranquada");
    free (xml);
    free (list);
    free (path);
}
