/*  pb_feed: parsing on several threads at once gives the same papers,
    entity declarations are refused in any encoding, and JSON sources are
    read field by field with each bad record rejected by its position. */
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

//  What a parse produced: every paper decoded, every rejection by position.
typedef struct {
    int papers;
    char ids[512];        //  "id|id|..." of the papers, in order
    char rejected[2048];  //  "position: reason\n" for each rejection
    pb_paper_t last;      //  the last paper, decoded
    char last_copy[8192]; //  its message, where its strings point
    pb_arena_t *arena;    //  where its lists are
} outcome_t;

static void s_record_paper (const void *data, size_t size, void *arg)
{
    outcome_t *outcome = arg;
    cr_assert (size <= sizeof outcome->last_copy);
    memcpy (outcome->last_copy, data, size);
    pb_arena_destroy (&outcome->arena);
    outcome->arena = pb_arena_new ();
    pb_codec_error_t error;
    cr_assert_eq (pb_decode (outcome->last_copy, size, size, &pb_paper_schema, &outcome->last,
                             outcome->arena, &error),
                  0, "%s", error.message);
    size_t used = strlen (outcome->ids);
    snprintf (outcome->ids + used, sizeof outcome->ids - used, "%s%.*s", used ? "|" : "",
              (int)outcome->last.id.len, outcome->last.id.ptr);
    outcome->papers++;
}

static void s_record_reject (const char *position, const char *reason, void *arg)
{
    outcome_t *outcome = arg;
    size_t used = strlen (outcome->rejected);
    snprintf (outcome->rejected + used, sizeof outcome->rejected - used, "%s: %s\n", position,
              reason);
}

Test (feed, each_bad_json_line_is_rejected_once_by_its_number_and_the_rest_kept)
{
    char deep[200] = "{\"id\": \"2501.00003\", \"x\": ";
    for (int i = 0; i < 70; i++)
        strcat (deep, "[");
    const char lines[] = "{\"id\": \"2501.00001\", \"title\": \"Good\"}\n"
                         "[1, 2]\n"
                         "{\"id\": \"2501.00002\", \"title\": \"Cut short\n"
                         "{\"id\": \"2501.00004\", \"title\": \"Trailing\"} garbage\n"
                         "{\"id\": \"2501.00005\", \"title\": \"A\", \"title\": \"B\"}\n"
                         "{\"id\": \"2501.00006\", \"title\": \"Bad \xc3\x28 UTF-8\"}\n"
                         "\n"
                         "{\"id\": \"2501.00007\", \"title\": \"Also good\"}\n";
    char *data = malloc (sizeof lines + sizeof deep + 2);
    sprintf (data, "%s%s\n", lines, deep);
    outcome_t outcome = {0};
    pb_feed_sink_t sink = {s_record_paper, s_record_reject, &outcome, NULL};
    char error[256];
    cr_assert_eq (pb_feed_parse ("day.jsonl", data, strlen (data), &sink, error, sizeof error), 2);
    pb_arena_destroy (&outcome.arena);
    cr_assert_str_eq (outcome.ids, "2501.00001|2501.00007");
    const char *expected[] = {
        "day.jsonl:2: not a JSON object", "day.jsonl:3: invalid JSON",
        "day.jsonl:4: invalid JSON",      "day.jsonl:5: the key \"title\" appears twice",
        "day.jsonl:6: invalid JSON",      "day.jsonl:9: nested deeper than 64 levels"};
    const char *line = outcome.rejected;
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        cr_assert (strncmp (line, expected[i], strlen (expected[i])) == 0,
                   "rejection %zu: want \"%s\", got:\n%s", i, expected[i], outcome.rejected);
        line = strchr (line, '\n') + 1;
    }
    cr_assert_eq (*line, '\0', "more rejections than expected:\n%s", outcome.rejected);
    free (data);
}

Test (feed, json_fields_are_read_under_each_name_sources_give_them)
{
    //  Kaggle: versions give both dates and the version; "abstract" wins
    //  over "summary"; authors may be objects with a name.
    const char line[] =
        "{\"id\": \"0704.0001\", \"title\": \"T\", \"summary\": \"S\", \"abstract\": \"A\","
        " \"journal-ref\": \"J\", \"comments\": \"C\", \"upvotes\": 7,"
        " \"authors\": [{\"name\": \"Ada\"}, {\"affiliation\": \"x\", \"name\": \"Bob\"}, 3],"
        " \"versions\": [{\"version\": \"v1\", \"created\": \"Mon, 2 Apr 2007 19:18:42 GMT\"},"
        " {\"version\": \"v3\", \"created\": \"Tue, 24 Jul 2007 20:10:27 GMT\"}],"
        " \"extra\": {\"title\": \"not this one\", \"deeper\": [{\"id\": \"nor this\"}]}}\n";
    outcome_t outcome = {0};
    pb_feed_sink_t sink = {s_record_paper, s_record_reject, &outcome, NULL};
    char error[256];
    cr_assert_eq (pb_feed_parse ("k.jsonl", line, sizeof line - 1, &sink, error, sizeof error), 1,
                  "%s", outcome.rejected);
    pb_paper_t *paper = &outcome.last;
    cr_assert (pb_str_eq (paper->title, "T"));
    cr_assert (pb_str_eq (paper->abstract, "A"));
    cr_assert (pb_str_eq (paper->journal_ref, "J"));
    cr_assert (pb_str_eq (paper->comment, "C"));
    cr_assert_eq (paper->upvotes, 7);
    cr_assert_eq (paper->version, 3);
    cr_assert (pb_str_eq (paper->published, "Mon, 2 Apr 2007 19:18:42 GMT"));
    cr_assert (pb_str_eq (paper->updated, "Tue, 24 Jul 2007 20:10:27 GMT"));
    cr_assert_eq (paper->authors.count, 2);
    cr_assert (pb_str_eq (paper->authors.items[0], "Ada"));
    cr_assert (pb_str_eq (paper->authors.items[1], "Bob"));
    pb_arena_destroy (&outcome.arena);
}

Test (feed, a_truncated_hugging_face_file_gives_an_error_and_no_papers)
{
    char *path = pbtest_repo_path ("tests/data/hf/daily_papers-2024-10-25.json");
    size_t size;
    char *data = pbtest_read_file (path, &size);
    outcome_t outcome = {0};
    pb_feed_sink_t sink = {s_record_paper, s_record_reject, &outcome, NULL};
    char error[256];
    long whole = pb_feed_parse (path, data, size, &sink, error, sizeof error);
    cr_assert_gt (whole, 1, "%s", error);
    pb_arena_destroy (&outcome.arena);
    memset (&outcome, 0, sizeof outcome);
    cr_assert_eq (pb_feed_parse (path, data, size * 2 / 3, &sink, error, sizeof error), -1);
    cr_assert_eq (outcome.papers, 0, "a truncated file emitted %d papers", outcome.papers);
    cr_assert (strstr (error, "not a JSON array of papers: invalid JSON"), "%s", error);
    free (data);
    free (path);
}

Test (feed, hugging_face_entries_without_a_paper_are_rejected_by_number)
{
    const char file[] =
        "[{\"paper\": {\"id\": \"2410.00001\", \"title\": \"One\", \"upvotes\": 3}},"
        " 17, {\"title\": \"no paper\"}, [\"paper\"],"
        " {\"paper\": {\"id\": \"2410.00002\", \"title\": \"Two\"}}]";
    outcome_t outcome = {0};
    pb_feed_sink_t sink = {s_record_paper, s_record_reject, &outcome, NULL};
    char error[256];
    cr_assert_eq (pb_feed_parse ("hf.json", file, sizeof file - 1, &sink, error, sizeof error), 2,
                  "%s", error);
    cr_assert_str_eq (outcome.ids, "2410.00001|2410.00002");
    pb_arena_destroy (&outcome.arena);
    cr_assert_str_eq (outcome.rejected, "hf.json:entry 2: not an object with a \"paper\"\n"
                                        "hf.json:entry 3: no \"paper\" object\n"
                                        "hf.json:entry 4: not an object with a \"paper\"\n");
}
