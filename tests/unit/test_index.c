/*  The index engine in-process: tokenising, ranking, the query language,
    updates, snippets, similar papers, and queries that must not hurt. */
#include "index/index.h"
#include "index/search.h"
#include "index/tokenizer.h"
#include "pb_codec.h"
#include "pbtest.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char joined[512];
} words_t;

static bool s_collect (const token_t *token, void *arg)
{
    words_t *words = arg;
    size_t used = strlen (words->joined);
    snprintf (words->joined + used, sizeof words->joined - used, "%s%s", used ? " " : "",
              token->word);
    return true;
}

static void s_expect_words (const char *text, const char *expected)
{
    words_t words = {""};
    tokenize (text, strlen (text), s_collect, &words);
    cr_assert_str_eq (words.joined, expected, "tokenize (\"%s\")", text);
}

Test (index, words_are_folded_accents_and_latex_removed)
{
    s_expect_words ("Attention Is All You Need", "attention is all you need");
    s_expect_words ("Bernhard Sch\xc3\xb6lkopf, C. Bal\\'azs and M{\\\"u}ller",
                    "bernhard scholkopf c balazs and muller");
    s_expect_words ("Stra\xc3\x9f"
                    "e \xc5\x81uk\xc3\xa1sz",
                    "strasse lukasz");
    s_expect_words ("$\\alpha$-stable laws in $\\mathbb{R}^n$", "alpha stable laws in mathbb r n");
    s_expect_words ("fine-tuning (PEFT) of 3D LLMs: 2.5x", "fine tuning peft of 3d llms 2 5x");
    s_expect_words ("\xce\xb1\xce\xb2 \xe2\x80\x94 x\xe2\x80\x99s", "\xce\xb1\xce\xb2 x s");
    s_expect_words ("bad \xff\xfe bytes \xe2\x82", "bad bytes");
    s_expect_words ("\\v{S}ar\\c{c}", "sarc");
}

/* ==== A small index ==== */

static index_t *s_index;
static searcher_t *s_searcher;

static void s_put (const char *id, int version, const char *title, const char *abstract,
                   const char *authors, const char *categories, const char *published)
{
    index_paper_t paper = {.id = id,
                           .version = version,
                           .title = title,
                           .abstract = abstract,
                           .authors = authors,
                           .categories = categories,
                           .published = published};
    cr_assert_geq (index_put (s_index, &paper), 0, "%s not indexed", id);
}

static void s_small_corpus (void)
{
    s_index = index_new ();
    s_put ("2501.00001", 1, "Attention Is All You Need",
           "The dominant sequence transduction models are based on recurrent networks. We "
           "propose the Transformer, based solely on attention mechanisms.",
           "Ashish Vaswani\x1fNoam Shazeer",
           "cs.CL\x1f"
           "cs.LG",
           "2017-06-12 00:00:00+00");
    s_put ("2501.00002", 1, "Mixture of Experts for Language Models",
           "Sparse mixture of experts layers route each token to a few experts, scaling "
           "language models at constant cost.",
           "Noam Shazeer", "cs.LG", "2024-01-10 00:00:00+00");
    s_put ("2501.00003", 1, "Experts in Mixtures: A Survey",
           "We survey how experts are mixed; a mixture of ideas from statistics.", "Jane Doe",
           "stat.ML", "2025-03-01 00:00:00+00");
    s_put ("2501.00004", 1, "Speculative Decoding Accelerates Transformers",
           "A small draft model proposes tokens that the large transformer verifies; decoding "
           "gets faster without changing outputs.",
           "Yaniv Leviathan\x1f"
           "Bernhard Sch\xc3\xb6lkopf",
           "cs.LG", "2026-01-05 00:00:00+00");
    s_put ("2501.00005", 1, "Graph Neural Networks for Molecules",
           "Message passing networks predict molecular properties.", "Ada Lovelace", "q-bio.QM",
           "2026-02-01 00:00:00+00");
    s_searcher = searcher_new (s_index);
}

static void s_teardown (void)
{
    searcher_destroy (&s_searcher);
    index_destroy (&s_index);
}

//  The ids of QUERY's hits, joined by spaces; asserts the search succeeds.
static char *s_ids (const char *query, search_sort_t sort, size_t *total)
{
    static char joined[1024];
    search_result_t *result = malloc (sizeof *result);
    cr_assert_eq (searcher_search (s_searcher, query, strlen (query), sort, 0, 10, result), 0,
                  "%s: %s", query, result->error);
    joined[0] = '\0';
    for (size_t i = 0; i < result->count; i++) {
        index_paper_t paper;
        cr_assert_eq (searcher_paper (s_searcher, result->hits[i].doc, &paper), 0);
        snprintf (joined + strlen (joined), sizeof joined - strlen (joined), "%s%s", i ? " " : "",
                  paper.id);
    }
    if (total)
        *total = result->total;
    free (result);
    return joined;
}

static const char *s_error (const char *query, size_t length)
{
    static char error[256];
    search_result_t *result = malloc (sizeof *result);
    int rc = searcher_search (s_searcher, query, length, SEARCH_RELEVANCE, 0, 10, result);
    snprintf (error, sizeof error, "%s", rc ? result->error : "");
    free (result);
    return error;
}

TestSuite (search, .init = s_small_corpus, .fini = s_teardown);

Test (search, an_exact_title_comes_first)
{
    cr_assert (strncmp (s_ids ("attention is all you need", SEARCH_RELEVANCE, NULL), "2501.00001",
                        10) == 0);
    //  The words alone would rank the survey first; the title pins the other.
    cr_assert (strncmp (s_ids ("Experts in Mixtures: a survey", SEARCH_RELEVANCE, NULL),
                        "2501.00003", 10) == 0);
    cr_assert (strncmp (s_ids ("2501.00005v1", SEARCH_RELEVANCE, NULL), "2501.00005", 10) == 0);
}

Test (search, words_are_stemmed)
{
    //  "transformers" finds "Transformer" (and "transformer").
    char *ids = s_ids ("transformers", SEARCH_RELEVANCE, NULL);
    cr_assert (strstr (ids, "2501.00001") && strstr (ids, "2501.00004"), "%s", ids);
    cr_assert_str_eq (s_ids ("molecule", SEARCH_RELEVANCE, NULL), "2501.00005");
}

Test (search, more_matched_words_rank_higher_and_title_beats_abstract)
{
    //  Both words, in the title: the MoE paper; the survey has them in the
    //  title too but "language" only in the first.
    char *ids = s_ids ("mixture experts language", SEARCH_RELEVANCE, NULL);
    cr_assert (strncmp (ids, "2501.00002", 10) == 0, "%s", ids);
    //  "decoding" is in 00004's title and abstract, nowhere else.
    cr_assert_str_eq (s_ids ("decoding", SEARCH_RELEVANCE, NULL), "2501.00004");
}

Test (search, a_phrase_needs_its_words_in_order)
{
    size_t total;
    char *ids = s_ids ("\"mixture of experts\"", SEARCH_RELEVANCE, &total);
    cr_assert_str_eq (ids, "2501.00002");
    cr_assert_eq (total, 1);
    //  The same words unquoted: any of them.
    ids = s_ids ("mixture of experts", SEARCH_RELEVANCE, &total);
    cr_assert (strstr (ids, "2501.00002") && strstr (ids, "2501.00003"), "%s", ids);
}

Test (search, a_phrase_with_repeated_words_is_found_after_a_false_start)
{
    s_put ("2501.00006", 1, "Bayes Bayes Bayes", "a model model model of data", "", "", "");
    cr_assert_str_eq (s_ids ("\"model model of\"", SEARCH_RELEVANCE, NULL), "2501.00006");
    cr_assert_str_eq (s_ids ("ti:\"bayes bayes bayes\"", SEARCH_RELEVANCE, NULL), "2501.00006");
    cr_assert_str_eq (s_ids ("\"model of model\"", SEARCH_RELEVANCE, NULL), "");
}

Test (search, a_page_of_zero_hits_still_counts)
{
    search_result_t *result = malloc (sizeof *result);
    cr_assert_eq (searcher_search (s_searcher, "experts", 7, SEARCH_RELEVANCE, 0, 0, result), 0);
    cr_assert_eq (result->count, 0);
    cr_assert_eq (result->total, 2);
    cr_assert_eq (searcher_search (s_searcher, "experts -survey", 15, SEARCH_DATE, 0, 0, result),
                  0);
    cr_assert_eq (result->total, 1);
    free (result);
}

Test (search, tied_papers_are_ordered_alike_on_every_page_size)
{
    //  Same words, same length: a tie, broken by date (newer first).
    s_put ("2501.00007", 1, "Quasar lenses", "Quasar lenses bend light.", "", "", "2020-01-01");
    s_put ("2501.00008", 1, "Quasar lenses", "Quasar lenses bend light.", "", "", "2021-01-01");
    cr_assert_str_eq (s_ids ("quasar", SEARCH_RELEVANCE, NULL), "2501.00008 2501.00007");
    search_result_t *result = malloc (sizeof *result);
    cr_assert_eq (searcher_search (s_searcher, "quasar", 6, SEARCH_RELEVANCE, 0, 1, result), 0);
    cr_assert_eq (result->count, 1);
    index_paper_t paper;
    searcher_paper (s_searcher, result->hits[0].doc, &paper);
    cr_assert_str_eq (paper.id, "2501.00008", "the first of one is the first of two");
    cr_assert_eq (searcher_search (s_searcher, "quasar", 6, SEARCH_RELEVANCE, 1, 1, result), 0);
    searcher_paper (s_searcher, result->hits[0].doc, &paper);
    cr_assert_str_eq (paper.id, "2501.00007", "the second page holds the other");
    free (result);
}

Test (search, a_phrase_of_stop_words_is_checked_in_every_order)
{
    //  "of the" has no terms; the words beside it drive the search.
    char relevance[1024];
    snprintf (relevance, sizeof relevance, "%s",
              s_ids ("networks \"of the\"", SEARCH_RELEVANCE, NULL));
    cr_assert_str_eq (relevance, "", "no paper here says \"of the\": %s", relevance);
    cr_assert_str_eq (s_ids ("networks \"of the\"", SEARCH_DATE, NULL), "");
    cr_assert_str_eq (s_ids ("mixture \"of experts\"", SEARCH_RELEVANCE, NULL), "2501.00002");
}

Test (search, a_negated_field_excludes_only_in_that_field)
{
    //  Shazeer is an author of 00001 and 00002; "transformer" is elsewhere.
    cr_assert_str_eq (s_ids ("transformer -au:shazeer", SEARCH_RELEVANCE, NULL), "2501.00004");
    s_put ("2501.00009", 1, "On Shazeer's Work", "A history of the transformer.", "Ann Author", "",
           "");
    //  00009 names Shazeer in its title, not among its authors: kept.
    char *ids = s_ids ("transformer -au:shazeer", SEARCH_RELEVANCE, NULL);
    cr_assert (strstr (ids, "2501.00009"), "%s", ids);
    cr_assert (!strstr (s_ids ("transformer -ti:shazeer", SEARCH_RELEVANCE, NULL), "2501.00009"));
}

Test (search, snippets_of_long_words_stay_whole_and_closed)
{
    //  Unspaced CJK is one long word: a snippet must not cut a character
    //  nor leave a mark open when it runs out of room.
    char abstract[8192] = "dragon ";
    for (int i = 0; i < 600; i++)
        strcat (abstract, "\xe9\xbe\x8d"); //  U+9F8D
    strcat (abstract, " dragon tail");
    s_put ("2501.00010", 1, "Dragons", abstract, "", "", "");
    search_result_t *result = malloc (sizeof *result);
    cr_assert_eq (searcher_search (s_searcher, "dragon", 6, SEARCH_RELEVANCE, 0, 1, result), 0);
    char snippet[1024];
    searcher_snippet (s_searcher, result->hits[0].doc, snippet, sizeof snippet);
    cr_assert (pb_utf8_valid (snippet, strlen (snippet)), "a cut character: %s", snippet);
    size_t opened = 0, closed = 0;
    for (const char *at = snippet; (at = strstr (at, "<mark>")); at++)
        opened++;
    for (const char *at = snippet; (at = strstr (at, "</mark>")); at++)
        closed++;
    cr_assert_eq (opened, closed, "%s", snippet);
    cr_assert_gt (opened, 0);
    free (result);
}

Test (search, excluded_words_remove_papers)
{
    char *ids = s_ids ("experts -survey", SEARCH_RELEVANCE, NULL);
    cr_assert_str_eq (ids, "2501.00002");
    ids = s_ids ("transformer -\"draft model\"", SEARCH_RELEVANCE, NULL);
    cr_assert_str_eq (ids, "2501.00001");
}

Test (search, fields_categories_and_dates_filter)
{
    cr_assert_str_eq (s_ids ("au:shazeer", SEARCH_DATE, NULL), "2501.00002 2501.00001");
    //  Accents are optional in author names.
    cr_assert_str_eq (s_ids ("au:scholkopf", SEARCH_RELEVANCE, NULL), "2501.00004");
    cr_assert_str_eq (s_ids ("ti:transformers", SEARCH_RELEVANCE, NULL), "2501.00004");
    cr_assert_str_eq (s_ids ("experts cat:stat.ML", SEARCH_RELEVANCE, NULL), "2501.00003");
    cr_assert_str_eq (s_ids ("cat:cs.lg", SEARCH_RELEVANCE, NULL),
                      "2501.00004 2501.00002 2501.00001");
    cr_assert_str_eq (s_ids ("cat:q-bio.QM cat:stat.ML", SEARCH_RELEVANCE, NULL),
                      "2501.00005 2501.00003");
    cr_assert_str_eq (s_ids ("networks since:2026-01-01", SEARCH_RELEVANCE, NULL), "2501.00005");
    cr_assert_str_eq (s_ids ("networks until:2017", SEARCH_RELEVANCE, NULL), "2501.00001");
    cr_assert_str_eq (s_ids ("id:2501.00003", SEARCH_RELEVANCE, NULL), "2501.00003");
    cr_assert_str_eq (s_ids ("cat:no.such", SEARCH_RELEVANCE, NULL), "");
}

Test (search, sort_by_date_newest_first)
{
    //  "model" (of "draft model") counts as "models".
    cr_assert_str_eq (s_ids ("networks models", SEARCH_DATE, NULL),
                      "2501.00005 2501.00004 2501.00002 2501.00001");
}

Test (search, a_new_version_replaces_the_old_text)
{
    s_put ("2501.00005", 2, "Graph Transformers for Crystals",
           "Attention over atoms predicts crystal properties.", "Ada Lovelace", "cond-mat",
           "2026-02-01 00:00:00+00");
    cr_assert_str_eq (s_ids ("molecules", SEARCH_RELEVANCE, NULL), "");
    cr_assert_str_eq (s_ids ("crystals", SEARCH_RELEVANCE, NULL), "2501.00005");
    cr_assert_str_eq (s_ids ("cat:q-bio.QM", SEARCH_RELEVANCE, NULL), "");
    cr_assert_eq (index_size (s_index), 5);
    index_paper_t paper;
    cr_assert_eq (
        searcher_paper (s_searcher, (uint32_t)index_lookup (s_index, "2501.00005"), &paper), 0);
    cr_assert_eq (paper.version, 2);
    cr_assert_eq (index_remove (s_index, "2501.00005"), 0);
    cr_assert_str_eq (s_ids ("crystals", SEARCH_RELEVANCE, NULL), "");
    cr_assert_eq (index_size (s_index), 4);
}

Test (search, snippets_mark_the_matched_words)
{
    search_result_t *result = malloc (sizeof *result);
    cr_assert_eq (searcher_search (s_searcher, "draft tokens", 12, SEARCH_RELEVANCE, 0, 10, result),
                  0);
    char snippet[1024];
    searcher_snippet (s_searcher, result->hits[0].doc, snippet, sizeof snippet);
    cr_assert (strstr (snippet, "A small <mark>draft</mark> model proposes <mark>tokens</mark>"),
               "%s", snippet);
    free (result);
}

Test (search, similar_papers_share_words)
{
    search_result_t *result = malloc (sizeof *result);
    cr_assert_eq (searcher_similar (s_searcher, "2501.00002", 10, result), 0);
    cr_assert_gt (result->count, 0);
    index_paper_t paper;
    searcher_paper (s_searcher, result->hits[0].doc, &paper);
    cr_assert_str_eq (paper.id, "2501.00003", "the other mixture-of-experts paper first");
    for (size_t i = 0; i < result->count; i++) {
        searcher_paper (s_searcher, result->hits[i].doc, &paper);
        cr_assert_str_neq (paper.id, "2501.00002", "a paper is not similar to itself");
        if (i)
            cr_assert_geq (result->hits[i - 1].score, result->hits[i].score);
    }
    cr_assert_eq (searcher_similar (s_searcher, "9999.99999", 10, result), -1);
    cr_assert (strstr (result->error, "9999.99999"));
    free (result);
}

Test (search, bad_queries_get_clear_answers)
{
    cr_assert (strstr (s_error ("", 0), "empty"));
    cr_assert (strstr (s_error ("   ", 3), "empty"));
    char *long_query = malloc (10240);
    memset (long_query, 'a', 10240);
    cr_assert (strstr (s_error (long_query, 10240), "at most 2048"));
    free (long_query);
    cr_assert (strstr (s_error ("caf\xc3", 4), "UTF-8"));
    cr_assert (strstr (s_error ("a\x01z", 3), "control"));
    cr_assert (strstr (s_error ("since:yesterday", 15), "since:"));
    cr_assert (strstr (s_error ("until:2026-02-31", 16), "until:"));
    //  Answers, not errors: an unbalanced quote runs to the end.
    cr_assert_str_eq (s_error ("\"mixture of", 11), "");
    cr_assert_str_eq (s_ids ("\"mixture of", SEARCH_RELEVANCE, NULL), "2501.00003 2501.00002");
    search_result_t *result = malloc (sizeof *result);
    cr_assert_eq (searcher_search (s_searcher, "the of and", 10, SEARCH_RELEVANCE, 0, 10, result),
                  0);
    cr_assert_eq (result->count, 0);
    cr_assert (result->note && strstr (result->note, "stop word"));
    cr_assert_eq (searcher_search (s_searcher, "experts", 7, SEARCH_RELEVANCE, 995, 10, result),
                  -1);
    free (result);
}

/* ==== The bundled sample ==== */

//  Loads the bundled sample papers into INDEX, in file order or reversed,
//  their ids followed by SUFFIX.
static size_t s_load_sample_as (index_t *index, bool reversed, const char *suffix)
{
    char *path = pbtest_repo_path ("deploy/sample/arxiv-daily/2026-05-21.jsonl");
    size_t size;
    char *data = pbtest_read_file (path, &size);
    cr_assert (data);
    char *lines[2000];
    size_t count = 0;
    for (char *line = strtok (data, "\n"); line && count < 2000; line = strtok (NULL, "\n"))
        lines[count++] = line;
    for (size_t k = 0; k < count; k++) {
        char *line = lines[reversed ? count - 1 - k : k];
        //  Only what the test needs: "id" and "title" and "summary".
        char id[64] = "", title[1024] = "", abstract[8192] = "";
        const char *at = strstr (line, "\"id\": \"");
        if (at)
            sscanf (at + 7, "%63[^\"]", id);
        at = strstr (line, "\"title\": \"");
        if (at)
            sscanf (at + 10, "%1023[^\"]", title);
        at = strstr (line, "\"summary\": \"");
        if (at)
            sscanf (at + 12, "%8191[^\"]", abstract);
        strncat (id, suffix, sizeof id - strlen (id) - 1);
        index_paper_t paper = {
            .id = id, .title = title, .abstract = abstract, .published = "2026-05-21 00:00:00+00"};
        index_put (index, &paper);
    }
    free (data);
    free (path);
    return count;
}

static size_t s_load_sample (index_t *index, bool reversed)
{
    return s_load_sample_as (index, reversed, "");
}

Test (index, any_order_of_puts_gives_the_same_answers)
{
    index_t *forward = index_new (), *backward = index_new ();
    s_load_sample (forward, false);
    s_load_sample (backward, true);
    //  And the same papers put twice more in the second.
    s_load_sample (backward, false);
    cr_assert_eq (index_size (forward), index_size (backward));
    searcher_t *a = searcher_new (forward), *b = searcher_new (backward);
    const char *queries[] = {"language models", "reinforcement learning agents",
                             "\"large language\"", "diffusion -image", "graph neural network"};
    search_result_t *x = malloc (sizeof *x), *y = malloc (sizeof *y);
    for (size_t q = 0; q < sizeof queries / sizeof queries[0]; q++) {
        cr_assert_eq (
            searcher_search (a, queries[q], strlen (queries[q]), SEARCH_RELEVANCE, 0, 10, x), 0);
        cr_assert_eq (
            searcher_search (b, queries[q], strlen (queries[q]), SEARCH_RELEVANCE, 0, 10, y), 0);
        cr_assert_gt (x->count, 0, "%s found nothing", queries[q]);
        cr_assert_eq (x->count, y->count);
        cr_assert_eq (x->total, y->total, "%s", queries[q]);
        for (size_t i = 0; i < x->count; i++) {
            index_paper_t p, r;
            searcher_paper (a, x->hits[i].doc, &p);
            char id[64];
            snprintf (id, sizeof id, "%s", p.id);
            searcher_paper (b, y->hits[i].doc, &r);
            cr_assert_str_eq (id, r.id, "%s: hit %zu differs", queries[q], i);
            cr_assert_eq (x->hits[i].score, y->hits[i].score);
        }
    }
    free (x);
    free (y);
    searcher_destroy (&a);
    searcher_destroy (&b);
    index_destroy (&forward);
    index_destroy (&backward);
}

Test (index, papers_put_after_a_bulk_load_are_found)
{
    //  A bulk load ends with index_trim, which leaves every list exactly
    //  full: the next postings must grow them (AddressSanitizer watches).
    index_t *index = index_new ();
    s_load_sample (index, false);
    index_trim (index);
    size_t papers = index_size (index);
    //  The same texts again under other ids: their rare words have short,
    //  exactly full lists.
    s_load_sample_as (index, true, "-copy");
    cr_assert_eq (index_size (index), 2 * papers);
    searcher_t *searcher = searcher_new (index);
    search_result_t *result = malloc (sizeof *result);
    const char query[] = "diffusion";
    cr_assert_eq (searcher_search (searcher, query, strlen (query), SEARCH_DATE, 0, 100, result),
                  0);
    cr_assert_gt (result->total, 0);
    cr_assert_eq (result->total % 2, 0, "each paper and its copy: %zu", result->total);
    free (result);
    searcher_destroy (&searcher);
    index_destroy (&index);
}

Test (index, a_bulk_load_on_two_threads_equals_puts_one_by_one)
{
    char *path = pbtest_repo_path ("deploy/sample/arxiv-daily/2026-05-22.jsonl");
    size_t size;
    char *data = pbtest_read_file (path, &size);
    index_paper_t papers[2000];
    char *texts[2000][3];
    size_t count = 0;
    for (char *line = strtok (data, "\n"); line && count < 2000; line = strtok (NULL, "\n")) {
        const char *keys[3] = {"\"id\": \"", "\"title\": \"", "\"summary\": \""};
        for (int k = 0; k < 3; k++) {
            const char *at = strstr (line, keys[k]);
            texts[count][k] = calloc (1, 8192);
            if (at)
                sscanf (at + strlen (keys[k]), "%8191[^\"]", texts[count][k]);
        }
        papers[count] = (index_paper_t){.id = texts[count][0],
                                        .title = texts[count][1],
                                        .abstract = texts[count][2],
                                        .published = "2026-05-22 00:00:00+00"};
        count++;
    }
    //  Over several chunks of the bulk path: the papers put twice over.
    index_t *one = index_new (), *bulk = index_new ();
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < count; i++)
            index_put (one, &papers[i]);
        cr_assert_eq (index_put_many (bulk, papers, count), count);
    }
    cr_assert_eq (index_size (one), index_size (bulk));
    cr_assert_eq (index_memory (one), index_memory (bulk));
    searcher_t *a = searcher_new (one), *b = searcher_new (bulk);
    search_result_t *x = malloc (sizeof *x), *y = malloc (sizeof *y);
    const char *queries[] = {"language models", "\"reinforcement learning\"", "robot -survey"};
    for (size_t q = 0; q < 3; q++) {
        cr_assert_eq (
            searcher_search (a, queries[q], strlen (queries[q]), SEARCH_RELEVANCE, 0, 10, x), 0);
        cr_assert_eq (
            searcher_search (b, queries[q], strlen (queries[q]), SEARCH_RELEVANCE, 0, 10, y), 0);
        cr_assert_gt (x->count, 0);
        cr_assert_eq (x->count, y->count);
        cr_assert_eq (x->total, y->total);
        for (size_t i = 0; i < x->count; i++) {
            cr_assert_eq (x->hits[i].doc, y->hits[i].doc, "%s: hit %zu", queries[q], i);
            cr_assert_eq (x->hits[i].score, y->hits[i].score);
        }
    }
    cr_assert_eq (searcher_similar (a, papers[0].id, 10, x), 0);
    cr_assert_eq (searcher_similar (b, papers[0].id, 10, y), 0);
    for (size_t i = 0; i < x->count; i++)
        cr_assert_eq (x->hits[i].score, y->hits[i].score);
    free (x);
    free (y);
    searcher_destroy (&a);
    searcher_destroy (&b);
    index_destroy (&one);
    index_destroy (&bulk);
    for (size_t i = 0; i < count; i++)
        for (int k = 0; k < 3; k++)
            free (texts[i][k]);
    free (data);
    free (path);
}

Test (index, pruned_ranking_equals_exhaustive_ranking)
{
    //  MaxScore skips papers; forcing every candidate to be visited (a
    //  filter that keeps everything) must give the same top ten.
    index_t *index = index_new ();
    s_load_sample (index, false);
    searcher_t *searcher = searcher_new (index);
    const char *queries[][2] = {
        {"language models agents", "language models agents until:2200"},
        {"diffusion image generation", "diffusion image generation until:2200"},
        {"robot learning", "robot learning until:2200"}};
    search_result_t *x = malloc (sizeof *x), *y = malloc (sizeof *y);
    for (size_t q = 0; q < 3; q++) {
        //  The sample has no dates: give every paper one in range.
        cr_assert_eq (searcher_search (searcher, queries[q][0], strlen (queries[q][0]),
                                       SEARCH_RELEVANCE, 0, 10, x),
                      0);
        cr_assert_eq (searcher_search (searcher, queries[q][1], strlen (queries[q][1]),
                                       SEARCH_RELEVANCE, 0, 10, y),
                      0);
        cr_assert_eq (x->count, 10);
        cr_assert_eq (y->count, 10, "%s: %zu", queries[q][1], y->count);
        for (size_t i = 0; i < 10; i++) {
            cr_assert_eq (x->hits[i].doc, y->hits[i].doc, "%s: hit %zu", queries[q][0], i);
            cr_assert_float_eq (x->hits[i].score, y->hits[i].score, 1e-9);
        }
    }
    free (x);
    free (y);
    searcher_destroy (&searcher);
    index_destroy (&index);
}
