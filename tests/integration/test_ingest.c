/*  Ingest as real processes: a bus, the ingest service and paperctl ingest,
    on a fresh database, with the real files in deploy/sample and tests/data
    and small broken copies made here. Counts are checked against the files
    themselves. */
#include "pbtest.h"

#include <criterion/criterion.h>
#include <glob.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *s_url;
static pb_db_t *s_db;
static pid_t s_bus, s_ingest;

static void s_setup (void)
{
    pb_log_init ("test", PB_LOG_ERROR);
    pbtest_bus_environment (200, 2000);
    s_url = pbtest_database_new (true);
    setenv ("PAPERBUS_DATABASE_URL", s_url, 1);
    s_db = pbtest_connect (s_url);
    s_bus = pbtest_bus_start ();
    char *program = pbtest_program ("ingest");
    char *argv[] = {program, NULL};
    s_ingest = pbtest_spawn (argv, NULL, NULL);
    free (program);
    pbtest_wait_for_workers ("ingest", 1);
}

static void s_teardown (void)
{
    kill (s_ingest, SIGKILL);
    kill (s_bus, SIGKILL);
    pb_db_destroy (&s_db);
    free (s_url);
}

TestSuite (ingest, .init = s_setup, .fini = s_teardown, .timeout = 120);

//  Runs paperctl ingest on FILES; returns its exit status and its output.
static int s_paperctl_ingest (char *const files[], char **output)
{
    char *program = pbtest_program ("paperctl");
    char *argv[16] = {program, "ingest"};
    int argc = 2;
    for (int i = 0; files[i] && argc < 15; i++)
        argv[argc++] = files[i];
    argv[argc] = NULL;
    char path[] = "/tmp/pbtest-ingest-XXXXXX";
    close (mkstemp (path));
    int status = pbtest_wait (pbtest_spawn (argv, NULL, path), 60000);
    *output = pbtest_read_file (path, NULL);
    unlink (path);
    free (program);
    return status;
}

static int64_t s_count (const char *sql)
{
    PGresult *result = pb_db_query (s_db, sql, NULL);
    cr_assert (result, "%s: %s", sql, pb_db_error (s_db));
    int64_t count = strtoll (PQgetvalue (result, 0, 0), NULL, 10);
    PQclear (result);
    return count;
}

//  Distinct "id" values in JSON Lines FILES, read independently of paperbus.
static size_t s_distinct_ids (char *const files[])
{
    zhashx_t *ids = zhashx_new ();
    for (int i = 0; files[i]; i++) {
        FILE *file = fopen (files[i], "r");
        cr_assert (file, "cannot open %s", files[i]);
        char *line = NULL;
        size_t size = 0;
        while (getline (&line, &size, file) > 0) {
            json_t *record = json_loads (line, 0, NULL);
            const char *id = json_string_value (json_object_get (record, "id"));
            if (id)
                zhashx_insert (ids, id, (void *)1);
            json_decref (record);
        }
        free (line);
        fclose (file);
    }
    size_t count = zhashx_size (ids);
    zhashx_destroy (&ids);
    return count;
}

static char *s_write_temp (const char *name, const void *data, size_t size)
{
    char *path;
    cr_assert_geq (asprintf (&path, "/tmp/pbtest-%d-%s", (int)getpid (), name), 0);
    FILE *file = fopen (path, "wb");
    fwrite (data, 1, size, file);
    fclose (file);
    return path;
}

Test (ingest, sample_days_store_each_paper_once_with_one_event_each)
{
    char *days[4];
    days[0] = pbtest_repo_path ("deploy/sample/arxiv-daily/2026-05-21.jsonl");
    days[1] = pbtest_repo_path ("deploy/sample/arxiv-daily/2026-05-22.jsonl");
    days[2] = pbtest_repo_path ("deploy/sample/arxiv-daily/2026-05-25.jsonl");
    days[3] = NULL;
    size_t distinct = s_distinct_ids (days);
    char *output;
    cr_assert_eq (s_paperctl_ingest (days, &output), 0, "output: %s", output);
    char expected[64];
    snprintf (expected, sizeof expected, "%zu inserted, 0 updated", distinct);
    cr_assert (strstr (output, expected), "want '%s', got: %s", expected, output);
    free (output);
    cr_assert_eq (s_count ("SELECT count(*) FROM paper"), (int64_t)distinct);
    cr_assert_eq (s_count ("SELECT count(*) FROM event_log WHERE topic = 'paper.ingested'"),
                  (int64_t)distinct);
    //  The listing day comes from the file name; the earliest one is kept.
    cr_assert_eq (s_count ("SELECT count(*) FROM paper WHERE listed IS NULL"), 0);
    cr_assert_eq (s_count ("SELECT count(*) FROM paper WHERE listed > '2026-05-25'"), 0);

    //  Again: nothing changes, nothing is emitted.
    cr_assert_eq (s_paperctl_ingest (days, &output), 0);
    cr_assert (strstr (output, "0 inserted, 0 updated"), "second run: %s", output);
    free (output);
    cr_assert_eq (s_count ("SELECT count(*) FROM event_log WHERE topic = 'paper.ingested'"),
                  (int64_t)distinct);
    for (int i = 0; i < 3; i++)
        free (days[i]);
}

Test (ingest, newer_version_replaces_the_older_and_the_older_changes_nothing)
{
    const char v1[] = "{\"id\": \"2501.00001v1\", \"title\": \"First  title\\n  broken\","
                      " \"summary\": \"One.\", \"authors\": [\"A. Author\"]}\n";
    const char v2[] = "{\"id\": \"http://arxiv.org/abs/2501.00001v2\", \"title\": \"Second title\","
                      " \"summary\": \"Two.\", \"authors\": [\"A. Author\", \"B. Author\"]}\n";
    char *first = s_write_temp ("v1.jsonl", v1, sizeof v1 - 1);
    char *second = s_write_temp ("v2.jsonl", v2, sizeof v2 - 1);
    char *output;
    char *files[] = {first, NULL};
    cr_assert_eq (s_paperctl_ingest (files, &output), 0, "%s", output);
    free (output);
    PGresult *row =
        pb_db_query (s_db, "SELECT title, version FROM paper WHERE id = '2501.00001'", NULL);
    cr_assert_str_eq (PQgetvalue (row, 0, 0), "First title broken");
    PQclear (row);
    files[0] = second;
    cr_assert_eq (s_paperctl_ingest (files, &output), 0, "%s", output);
    cr_assert (strstr (output, "0 inserted, 1 updated"), "%s", output);
    free (output);
    files[0] = first;
    cr_assert_eq (s_paperctl_ingest (files, &output), 0, "%s", output);
    cr_assert (strstr (output, "0 inserted, 0 updated, 1 unchanged"), "%s", output);
    free (output);
    row = pb_db_query (s_db,
                       "SELECT title, version, array_length (authors, 1) FROM paper"
                       " WHERE id = '2501.00001'",
                       NULL);
    cr_assert_str_eq (PQgetvalue (row, 0, 0), "Second title");
    cr_assert_str_eq (PQgetvalue (row, 0, 1), "2");
    cr_assert_str_eq (PQgetvalue (row, 0, 2), "2");
    PQclear (row);
    cr_assert_eq (s_count ("SELECT count(*) FROM event_log WHERE topic = 'paper.ingested'"), 2);
    unlink (first);
    unlink (second);
    free (first);
    free (second);
}

Test (ingest, bad_records_are_rejected_with_their_line_and_the_rest_are_kept)
{
    char abstract[70001];
    memset (abstract, 'a', sizeof abstract - 1);
    abstract[sizeof abstract - 1] = '\0';
    char *data;
    cr_assert_geq (
        asprintf (
            &data,
            "{\"id\": \"2501.00002\", \"title\": \"Good one\"}\n"
            "{\"id\": \"2501.00003\", \"summary\": \"no title here\"}\n"
            "{\"id\": \"not-an-id\", \"title\": \"Bad id\"}\n"
            "{\"id\": \"2501.00004\", \"title\": \"Bad \xff\xfe bytes\"}\n"
            "{\"id\": \"2501.00005\", \"title\": \"Too long\", \"abstract\": \"%s\"}\n"
            "{\"id\": \"2501.00006\", \"title\": \"truncated\n"
            "{\"id\": \"2501.00007\", \"title\": \"Bad date\", \"published\": \"yesterday\"}\n"
            "{\"title\": \"Minimal record\", \"abstract\": \"Only a title and abstract.\"}\n",
            abstract),
        0);
    char *path = s_write_temp ("bad.jsonl", data, strlen (data));
    char *files[] = {path, NULL};
    char *output;
    cr_assert_eq (s_paperctl_ingest (files, &output), 1, "rejections must fail the run");
    const char *expected[] = {":2: title: ",
                              ":3: id 'not-an-id' is not an arXiv identifier",
                              ":4: ",
                              ":5: abstract: 70000 bytes, longer than the limit",
                              ":6: ",
                              ":7: published 'yesterday' is not a date",
                              "2 inserted, 0 updated, 0 unchanged, 6 rejected"};
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
        cr_assert (strstr (output, expected[i]), "missing '%s' in: %s", expected[i], output);
    free (output);
    cr_assert_eq (s_count ("SELECT count(*) FROM paper"), 2);
    //  The record without an id got a stable id; sent again it is the same row.
    cr_assert_eq (s_count ("SELECT count(*) FROM paper WHERE id LIKE 't:%'"), 1);
    s_paperctl_ingest (files, &output);
    cr_assert (strstr (output, "0 inserted, 0 updated, 2 unchanged"), "%s", output);
    free (output);
    unlink (path);
    free (path);
    free (data);
}

Test (ingest, html_page_and_unknown_formats_are_refused_clearly)
{
    const char page[] = "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>";
    char *path = s_write_temp ("page.xml", page, sizeof page - 1);
    char *files[] = {path, NULL};
    char *program = pbtest_program ("paperctl");
    char command[8400];
    snprintf (command, sizeof command, "%s ingest %s 2>&1 | grep -q 'is an HTML page'", program,
              path);
    cr_assert_eq (pbtest_shell (command), 0);
    char *output;
    cr_assert_eq (s_paperctl_ingest (files, &output), 1);
    free (output);
    cr_assert_eq (s_count ("SELECT count(*) FROM paper"), 0);
    unlink (path);
    free (path);
    free (program);
}

Test (ingest, kaggle_snapshot_and_hugging_face_daily_papers_are_read)
{
    char *kaggle = pbtest_repo_path ("tests/data/kaggle/arxiv-metadata-oai-snapshot.head200.jsonl");
    char *hf = pbtest_repo_path ("tests/data/hf/daily_papers-2024-10-25.json");
    char *files[] = {kaggle, hf, NULL};
    char *output;
    cr_assert_eq (s_paperctl_ingest (files, &output), 0, "%s", output);
    cr_assert (strstr (output, "229 inserted"), "%s", output);
    free (output);
    //  Kaggle: versions give the dates, "authors" the names, a string the categories.
    PGresult *row = pb_db_query (s_db,
                                 "SELECT published, authors[1], categories[1], doi, version"
                                 " FROM paper WHERE id = '0704.0001'",
                                 NULL);
    cr_assert_eq (PQntuples (row), 1);
    cr_assert_str_eq (PQgetvalue (row, 0, 0), "2007-04-02 19:18:42+00");
    cr_assert_str_eq (PQgetvalue (row, 0, 1), "C. Bal\\'azs");
    cr_assert_str_eq (PQgetvalue (row, 0, 2), "hep-ph");
    cr_assert_str_eq (PQgetvalue (row, 0, 3), "10.1103/PhysRevD.76.013009");
    cr_assert_str_eq (PQgetvalue (row, 0, 4), "2");
    PQclear (row);
    //  Hugging Face: the upvotes become the paper's external signal.
    cr_assert_eq (s_count ("SELECT count(*) FROM paper_signal WHERE source = 'hf'"), 29);
    json_t *root = json_load_file (hf, 0, NULL);
    json_t *first = json_object_get (json_array_get (root, 0), "paper");
    char sql[256];
    snprintf (sql, sizeof sql, "SELECT value FROM paper_signal WHERE paper_id = '%s'",
              json_string_value (json_object_get (first, "id")));
    cr_assert_eq (s_count (sql), json_integer_value (json_object_get (first, "upvotes")));
    json_decref (root);
    free (kaggle);
    free (hf);
}

//  Occurrences of NEEDLE in the file at PATH.
static int s_occurrences (const char *path, const char *needle)
{
    char *text = pbtest_read_file (path, NULL);
    cr_assert (text, "cannot read %s", path);
    int count = 0;
    for (const char *at = strstr (text, needle); at; at = strstr (at + 1, needle))
        count++;
    free (text);
    return count;
}

//  Runs paperctl ingest on every file matching PATTERN (a shell glob in the
//  repository); returns its output.
static char *s_ingest_glob (const char *pattern, int *status)
{
    char *program = pbtest_program ("paperctl");
    char *root = pbtest_repo_path ("");
    char command[8400];
    char path[] = "/tmp/pbtest-glob-XXXXXX";
    close (mkstemp (path));
    snprintf (command, sizeof command, "%s ingest %s%s > %s 2>&1", program, root, pattern, path);
    *status = pbtest_shell (command);
    char *output = pbtest_read_file (path, NULL);
    unlink (path);
    free (program);
    free (root);
    return output;
}

Test (ingest, arxiv_api_atom_responses_are_read_and_api_errors_rejected)
{
    int status;
    char *output = s_ingest_glob ("tests/data/atom/*.json", &status);
    //  Every <entry> is a paper but the one API error entry.
    glob_t files;
    char *pattern = pbtest_repo_path ("tests/data/atom/*.json");
    cr_assert_eq (glob (pattern, 0, NULL, &files), 0);
    int entries = 0, errors = 0;
    for (size_t i = 0; i < files.gl_pathc; i++) {
        entries += s_occurrences (files.gl_pathv[i], "<entry>");
        errors += s_occurrences (files.gl_pathv[i], "/api/errors#");
    }
    globfree (&files);
    free (pattern);
    cr_assert_eq (errors, 2, "the error entry names /api/errors in its id and its link");
    int64_t inserted, updated, unchanged, rejected;
    const char *summary = strstr (output, " inserted, ");
    cr_assert (summary, "%s", output);
    while (summary > output && summary[-1] != '\n')
        summary--;
    cr_assert_eq (sscanf (summary, "%ld inserted, %ld updated, %ld unchanged, %ld rejected",
                          &inserted, &updated, &unchanged, &rejected),
                  4, "%s", output);
    cr_assert_eq (rejected, 1, "%s", output);
    cr_assert_eq (inserted + updated + unchanged, entries - 1);
    cr_assert (strstr (output, "the arXiv API answered with an error: incorrect id format for abc"),
               "%s", output);
    cr_assert_eq (s_count ("SELECT count(*) FROM paper"), inserted);
    free (output);
}

Test (ingest, oai_pmh_arxiv_records_are_read_with_authors_and_dates)
{
    int status;
    char *output = s_ingest_glob ("tests/data/oai/*.xml", &status);
    cr_assert_eq (status, 0, "%s", output);
    glob_t files;
    char *pattern = pbtest_repo_path ("tests/data/oai/*.xml");
    cr_assert_eq (glob (pattern, 0, NULL, &files), 0);
    int records = 0;
    for (size_t i = 0; i < files.gl_pathc; i++)
        records += s_occurrences (files.gl_pathv[i], "<record>");
    globfree (&files);
    free (pattern);
    int64_t inserted, updated, unchanged, rejected;
    cr_assert_eq (sscanf (output, "%ld inserted, %ld updated, %ld unchanged, %ld rejected",
                          &inserted, &updated, &unchanged, &rejected),
                  4, "%s", output);
    cr_assert_eq (inserted + updated + unchanged, records, "%s", output);
    PGresult *row = pb_db_query (s_db,
                                 "SELECT authors[2], published::date, categories[1] FROM paper"
                                 " WHERE id = '1601.03238'",
                                 NULL);
    cr_assert_eq (PQntuples (row), 1);
    cr_assert_str_eq (PQgetvalue (row, 0, 0), "Jieci Wang");
    cr_assert_str_eq (PQgetvalue (row, 0, 1), "2016-01-13");
    PQclear (row);
    free (output);
}

Test (ingest, rss_listings_and_older_atom_spellings_are_read)
{
    char *rss = pbtest_repo_path ("tests/data/rss/cs.LG.rss");
    char *atom = pbtest_repo_path ("tests/data/atom-old/query-2009.xml");
    char *files[] = {rss, atom, NULL};
    char *output;
    cr_assert_eq (s_paperctl_ingest (files, &output), 0, "%s", output);
    cr_assert (strstr (output, "4 inserted"), "%s", output);
    free (output);
    PGresult *row = pb_db_query (s_db,
                                 "SELECT abstract, authors[2], listed, version FROM paper"
                                 " WHERE id = '2605.20001'",
                                 NULL);
    cr_assert_str_eq (PQgetvalue (row, 0, 0),
                      "We propose a method in which the learning rate is itself learned.");
    cr_assert_str_eq (PQgetvalue (row, 0, 1), "Alan Turing");
    cr_assert_str_eq (PQgetvalue (row, 0, 2), "2026-05-21");
    PQclear (row);
    row = pb_db_query (s_db,
                       "SELECT title, version, categories, published FROM paper"
                       " WHERE id = 'hep-th/9901001'",
                       NULL);
    cr_assert_str_eq (PQgetvalue (row, 0, 0), "A test title split over two lines");
    cr_assert_str_eq (PQgetvalue (row, 0, 1), "3");
    cr_assert_str_eq (PQgetvalue (row, 0, 2), "{hep-th,gr-qc}", "the primary category first");
    cr_assert_str_eq (PQgetvalue (row, 0, 3), "1999-01-01 17:00:00+00");
    PQclear (row);
    free (rss);
    free (atom);
}

Test (ingest, entity_expansion_and_truncated_xml_are_refused_whole)
{
    const char bomb[] =
        "<?xml version=\"1.0\"?>\n<!DOCTYPE feed [\n"
        " <!ENTITY a \"aaaaaaaaaa\">\n <!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">\n"
        " <!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">\n]>\n"
        "<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry><id>2501.00009</id>"
        "<title>&c;</title></entry></feed>\n";
    char *original = pbtest_repo_path ("tests/data/atom-old/query-2009.xml");
    size_t size;
    char *whole = pbtest_read_file (original, &size);
    char *bomb_path = s_write_temp ("bomb.xml", bomb, sizeof bomb - 1);
    //  Cut in the middle of the second entry: the first is complete, but a
    //  truncated document yields nothing at all.
    char *cut = strstr (whole, "Second entry");
    char *truncated_path = s_write_temp ("truncated.xml", whole, (size_t)(cut - whole));
    char *program = pbtest_program ("paperctl");
    char command[8400];
    snprintf (command, sizeof command,
              "%s ingest %s 2>&1 | grep -q 'declares XML entities' && "
              "%s ingest %s 2>&1 | grep -q 'not well-formed XML'",
              program, bomb_path, program, truncated_path);
    cr_assert_eq (pbtest_shell (command), 0);
    cr_assert_eq (s_count ("SELECT count(*) FROM paper"), 0);
    unlink (bomb_path);
    unlink (truncated_path);
    free (bomb_path);
    free (truncated_path);
    free (whole);
    free (original);
    free (program);
}

//  Starts one more ingest worker.
static pid_t s_start_ingest (void)
{
    char *program = pbtest_program ("ingest");
    char *argv[] = {program, NULL};
    pid_t pid = pbtest_spawn (argv, NULL, NULL);
    free (program);
    return pid;
}

//  Sums "N inserted, N updated" over a run's output.
static int64_t s_changes (const char *output)
{
    long inserted = 0, updated = 0;
    const char *summary = strstr (output, " inserted, ");
    while (summary && summary > output && summary[-1] != '\n')
        summary--;
    if (summary)
        sscanf (summary, "%ld inserted, %ld updated", &inserted, &updated);
    return inserted + updated;
}

Test (ingest, three_workers_ingesting_overlapping_files_store_each_paper_once)
{
    pid_t more[2] = {s_start_ingest (), s_start_ingest ()};
    pbtest_wait_for_workers ("ingest", 3);
    char *day[3] = {pbtest_repo_path ("deploy/sample/arxiv-daily/2026-05-21.jsonl"),
                    pbtest_repo_path ("deploy/sample/arxiv-daily/2026-05-22.jsonl"),
                    pbtest_repo_path ("deploy/sample/arxiv-daily/2026-05-25.jsonl")};
    char *all[] = {day[0], day[1], day[2], NULL};
    size_t distinct = s_distinct_ids (all);
    //  Three clients at once, each with two of the three days.
    char *program = pbtest_program ("paperctl");
    pid_t clients[3];
    char outputs[3][64];
    for (int c = 0; c < 3; c++) {
        snprintf (outputs[c], sizeof outputs[c], "/tmp/pbtest-overlap-%d-%d", (int)getpid (), c);
        char *argv[] = {program, "ingest", day[c], day[(c + 1) % 3], NULL};
        clients[c] = pbtest_spawn (argv, NULL, outputs[c]);
    }
    int64_t changes = 0;
    for (int c = 0; c < 3; c++) {
        cr_assert_eq (pbtest_wait (clients[c], 60000), 0, "client %d failed", c);
        char *output = pbtest_read_file (outputs[c], NULL);
        changes += s_changes (output);
        free (output);
        unlink (outputs[c]);
    }
    cr_assert_eq (s_count ("SELECT count(*) FROM paper"), (int64_t)distinct);
    //  One event per real change, whatever the interleaving.
    cr_assert_eq (s_count ("SELECT count(*) FROM event_log WHERE topic = 'paper.ingested'"),
                  changes);
    cr_assert_eq (s_count ("SELECT max (seq) - count(*) FROM event_log"
                           " WHERE topic = 'paper.ingested'"),
                  0, "event seqs have holes");
    //  The result is the one a single sequential run gives: each paper's
    //  earliest listing day.
    cr_assert_eq (s_count ("SELECT count(*) FROM paper WHERE id = '2605.20388'"
                           " AND listed = '2026-05-21'"),
                  1);
    for (int i = 0; i < 3; i++)
        free (day[i]);
    free (program);
    kill (more[0], SIGKILL);
    kill (more[1], SIGKILL);
}

Test (ingest, worker_killed_mid_batch_loses_and_doubles_nothing)
{
    pid_t second = s_start_ingest ();
    pbtest_wait_for_workers ("ingest", 2);
    char *day[3] = {pbtest_repo_path ("deploy/sample/arxiv-daily/2026-05-21.jsonl"),
                    pbtest_repo_path ("deploy/sample/arxiv-daily/2026-05-22.jsonl"),
                    pbtest_repo_path ("deploy/sample/arxiv-daily/2026-05-25.jsonl")};
    char *all[] = {day[0], day[1], day[2], NULL};
    size_t distinct = s_distinct_ids (all);
    char *program = pbtest_program ("paperctl");
    char output_path[64];
    snprintf (output_path, sizeof output_path, "/tmp/pbtest-kill-%d", (int)getpid ());
    char *argv[] = {program, "ingest", day[0], day[1], day[2], NULL};
    pid_t client = pbtest_spawn (argv, NULL, output_path);
    //  Kill the first worker while batches are flowing; the client sends the
    //  batch it held again, and the surviving worker stores it.
    zclock_sleep (60);
    kill (s_ingest, SIGKILL);
    cr_assert_eq (pbtest_wait (client, 60000), 0, "the run did not recover");
    unlink (output_path);
    //  And the whole ingest again, as an operator would after a crash.
    char *again;
    cr_assert_eq (s_paperctl_ingest (all, &again), 0, "%s", again);
    cr_assert (strstr (again, "0 inserted, 0 updated"), "%s", again);
    free (again);
    cr_assert_eq (s_count ("SELECT count(*) FROM paper"), (int64_t)distinct);
    cr_assert_eq (s_count ("SELECT count(*) FROM event_log WHERE topic = 'paper.ingested'"),
                  (int64_t)distinct, "one event per paper, none lost, none doubled");
    for (int i = 0; i < 3; i++)
        free (day[i]);
    free (program);
    s_ingest = second; //  the teardown kills the survivor
}

//  Starts tests/support/fixture_server.py on tests/data; returns its port.
static int s_fixture_server (pid_t *pid, char *log_path)
{
    char *script = pbtest_repo_path ("tests/support/fixture_server.py");
    char *data = pbtest_repo_path ("tests/data");
    char port_path[64];
    snprintf (port_path, sizeof port_path, "/tmp/pbtest-port-%d", (int)getpid ());
    snprintf (log_path, 64, "/tmp/pbtest-http-%d.log", (int)getpid ());
    unlink (port_path);
    unlink (log_path);
    char *argv[] = {"/usr/bin/python3", script, data, port_path, log_path, NULL};
    *pid = pbtest_spawn (argv, NULL, NULL);
    int port = 0;
    for (int waited = 0; waited < 10000 && !port; waited += 50) {
        char *text = pbtest_read_file (port_path, NULL);
        port = text ? atoi (text) : 0;
        free (text);
        if (!port)
            usleep (50 * 1000);
    }
    cr_assert (port, "the fixture server did not start");
    unlink (port_path);
    free (script);
    free (data);
    return port;
}

Test (ingest, urls_are_fetched_with_retries_and_our_user_agent)
{
    pid_t server;
    char log_path[64];
    int port = s_fixture_server (&server, log_path);
    char rss[128], flaky[128], atom[128], missing[128];
    snprintf (rss, sizeof rss, "http://127.0.0.1:%d/file/rss/cs.LG.rss", port);
    snprintf (flaky, sizeof flaky, "http://127.0.0.1:%d/flaky/atom-old/query-2009.xml?fail=2",
              port);
    snprintf (atom, sizeof atom,
              "http://127.0.0.1:%d/atom/atom/id_2104.12255v1_s0_m100_6ae69987ffe1.json", port);
    snprintf (missing, sizeof missing, "http://127.0.0.1:%d/file/no/such/file", port);
    char *ok[] = {"--url", rss, "--url", flaky, "--url", atom, NULL};
    char *output;
    cr_assert_eq (s_paperctl_ingest (ok, &output), 0, "%s", output);
    cr_assert (strstr (output, "5 inserted"), "%s", output);
    free (output);
    cr_assert_eq (s_count ("SELECT count(*) FROM paper WHERE id = '2104.12255'"), 1);
    //  The flaky URL took three requests, all with paperbus's User-Agent.
    cr_assert_eq (s_occurrences (log_path, "/flaky/atom-old/query-2009.xml"), 3);
    cr_assert_eq (s_occurrences (log_path, " paperbus/"), 5);
    char *bad[] = {"--url", missing, NULL};
    cr_assert_eq (s_paperctl_ingest (bad, &output), 1);
    free (output);
    char *program = pbtest_program ("paperctl");
    char command[512];
    snprintf (command, sizeof command, "%s ingest --url %s 2>&1 | grep -q 'answered HTTP 404'",
              program, missing);
    cr_assert_eq (pbtest_shell (command), 0);
    free (program);
    kill (server, SIGKILL);
    unlink (log_path);
}

/* ==== Harvesting ==== */

static void s_harvest_setup (void)
{
    setenv ("PAPERBUS_HARVEST_INTERVAL_MS", "50", 1);
    setenv ("PAPERBUS_HARVEST_LEASE_MS", "1500", 1);
    s_setup ();
}

TestSuite (harvest, .init = s_harvest_setup, .fini = s_teardown, .timeout = 120);

//  Runs paperctl harvest arxiv with ARGS (NULL-terminated); returns its status.
static int s_paperctl_harvest (char *const args[], char **output)
{
    char *program = pbtest_program ("paperctl");
    char *argv[16] = {program, "harvest", "arxiv"};
    int argc = 3;
    for (int i = 0; args[i] && argc < 15; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    char path[] = "/tmp/pbtest-harvest-XXXXXX";
    close (mkstemp (path));
    int status = pbtest_wait (pbtest_spawn (argv, NULL, path), 90000);
    *output = pbtest_read_file (path, NULL);
    unlink (path);
    free (program);
    return status;
}

//  Distinct arXiv ids in the recorded API pages the fixture server serves.
static int64_t s_api_fixture_papers (void)
{
    char *root = pbtest_repo_path ("tests/data/atom");
    char command[8400];
    char path[] = "/tmp/pbtest-ids-XXXXXX";
    close (mkstemp (path));
    snprintf (command, sizeof command,
              "cd %s && cat q_testing_s0_m10_*.json q_testing_s[1-5]0_m10_*.json"
              " | grep -o '<id>http://arxiv.org/abs/[^<]*'"
              " | sed 's/v[0-9]*$//' | sort -u | wc -l > %s",
              root, path);
    cr_assert_eq (pbtest_shell (command), 0);
    char *text = pbtest_read_file (path, NULL);
    int64_t count = atoll (text);
    free (text);
    unlink (path);
    free (root);
    return count;
}

Test (harvest, api_pages_through_and_asks_again_after_an_empty_page)
{
    pid_t server;
    char log_path[64];
    int port = s_fixture_server (&server, log_path);
    char base[128];
    snprintf (base, sizeof base, "http://127.0.0.1:%d/api/empty-at-20", port);
    char *args[] = {"--category", "testing", "--api", "--base-url", base, "--wait", NULL};
    char *output;
    cr_assert_eq (s_paperctl_harvest (args, &output), 0, "%s", output);
    cr_assert (strstr (output, "api:testing done"), "%s", output);
    free (output);
    int64_t expected = s_api_fixture_papers ();
    cr_assert_geq (expected, 40, "the recorded pages hold %lld papers", (long long)expected);
    cr_assert_eq (s_count ("SELECT count(*) FROM paper"), expected);
    cr_assert_eq (s_count ("SELECT count(*) FROM event_log WHERE topic = 'paper.ingested'"),
                  expected);
    //  The empty page was asked for again, every other page once.
    cr_assert_eq (s_occurrences (log_path, "&start=20&"), 2);
    cr_assert_eq (s_occurrences (log_path, "&start=0&"), 1);
    cr_assert_eq (s_occurrences (log_path, "&start=50&"), 1);
    kill (server, SIGKILL);
    unlink (log_path);
}

Test (harvest, oai_pmh_follows_resumption_tokens_to_the_end)
{
    pid_t server;
    char log_path[64];
    int port = s_fixture_server (&server, log_path);
    char base[128];
    snprintf (base, sizeof base, "http://127.0.0.1:%d/oai", port);
    char *args[] = {"--category", "cs.LG", "--since", "2010-01-01",
                    "--base-url", base,    "--wait",  NULL};
    char *output;
    cr_assert_eq (s_paperctl_harvest (args, &output), 0, "%s", output);
    cr_assert (strstr (output, "oai:cs.LG done: 4 pages, 8 papers"), "%s", output);
    free (output);
    cr_assert_eq (s_occurrences (log_path, "set=cs%3Acs%3ALG&from=2010-01-01"), 1);
    cr_assert_eq (s_occurrences (log_path, "resumptionToken=ListRecords4.xml"), 1);
    //  Half of the eight records are deletions; the other four are the same
    //  record (one identifier, one title) on each page, stored once.
    cr_assert_eq (s_count ("SELECT count(*) FROM paper"), 1);
    kill (server, SIGKILL);
    unlink (log_path);
}

Test (harvest, resumes_from_its_cursor_after_the_worker_is_killed)
{
    pid_t server;
    char log_path[64];
    int port = s_fixture_server (&server, log_path);
    char base[128];
    snprintf (base, sizeof base, "http://127.0.0.1:%d/api/slow", port);
    char *args[] = {"--category", "testing", "--api", "--base-url", base, NULL};
    char *output;
    cr_assert_eq (s_paperctl_harvest (args, &output), 0, "%s", output);
    free (output);
    //  Let two pages commit, then kill the worker in the middle of the rest.
    for (int waited = 0; waited < 20000; waited += 50) {
        if (s_count ("SELECT pages FROM harvest WHERE source = 'api:testing'") >= 2)
            break;
        usleep (50 * 1000);
    }
    kill (s_ingest, SIGKILL);
    int64_t pages_at_kill = s_count ("SELECT pages FROM harvest WHERE source = 'api:testing'");
    cr_assert_geq (pages_at_kill, 2);
    cr_assert_lt (pages_at_kill, 6, "the harvest finished before the kill");
    //  Nobody restarts the harvest: a new worker takes over once the lease ends.
    char *program = pbtest_program ("ingest");
    char *argv[] = {program, NULL};
    s_ingest = pbtest_spawn (argv, NULL, NULL);
    free (program);
    for (int waited = 0; waited < 30000; waited += 100) {
        if (s_count ("SELECT count(*) FROM harvest WHERE state = 'done'") == 1)
            break;
        usleep (100 * 1000);
    }
    cr_assert_eq (s_count ("SELECT count(*) FROM harvest WHERE state = 'done'"), 1);
    int64_t expected = s_api_fixture_papers ();
    cr_assert_eq (s_count ("SELECT count(*) FROM paper"), expected);
    cr_assert_eq (s_count ("SELECT count(*) FROM event_log WHERE topic = 'paper.ingested'"),
                  expected, "nothing lost, nothing doubled");
    //  It went on from the cursor: the first page was never fetched again.
    cr_assert_eq (s_occurrences (log_path, "&start=0&"), 1);
    kill (server, SIGKILL);
    unlink (log_path);
}

Test (harvest, two_workers_never_fetch_the_same_page)
{
    char *program = pbtest_program ("ingest");
    char *argv[] = {program, NULL};
    pid_t second = pbtest_spawn (argv, NULL, NULL);
    free (program);
    pbtest_wait_for_workers ("ingest", 2);
    pid_t server;
    char log_path[64];
    int port = s_fixture_server (&server, log_path);
    char base[128];
    snprintf (base, sizeof base, "http://127.0.0.1:%d/api", port);
    char *args[] = {"--category", "testing", "--api", "--base-url", base, "--wait", NULL};
    char *output;
    cr_assert_eq (s_paperctl_harvest (args, &output), 0, "%s", output);
    free (output);
    for (int start = 0; start <= 50; start += 10) {
        char needle[32];
        snprintf (needle, sizeof needle, "&start=%d&", start);
        cr_assert_eq (s_occurrences (log_path, needle), 1, "page %d fetched more than once", start);
    }
    kill (second, SIGKILL);
    kill (server, SIGKILL);
    unlink (log_path);
}

Test (ingest, a_paper_twice_in_one_run_with_its_upvotes_is_stored_once)
{
    //  Two parser threads may put both copies of a paper in one batch; its
    //  signal must not make the batch fail.
    char *hf = pbtest_repo_path ("tests/data/hf/daily_papers-2024-10-25.json");
    char *files[] = {hf, hf, NULL};
    char *output;
    cr_assert_eq (s_paperctl_ingest (files, &output), 0, "%s", output);
    cr_assert (strstr (output, "29 inserted, 0 updated, 29 unchanged, 0 rejected"), "%s", output);
    free (output);
    cr_assert_eq (s_count ("SELECT count(*) FROM paper_signal"), 29);
    free (hf);
}

Test (ingest, an_older_version_arriving_late_fills_in_what_the_newer_lacks)
{
    const char v2[] = "{\"id\": \"2501.00021v2\", \"title\": \"Second version\"}\n";
    const char v1[] = "{\"id\": \"2501.00021v1\", \"title\": \"First version\","
                      " \"doi\": \"10.1000/xyz\", \"published\": \"2025-01-02\"}\n";
    char *newer = s_write_temp ("late-v2.jsonl", v2, sizeof v2 - 1);
    char *older = s_write_temp ("late-v1.jsonl", v1, sizeof v1 - 1);
    char *output;
    char *first[] = {newer, NULL};
    char *second[] = {older, NULL};
    cr_assert_eq (s_paperctl_ingest (first, &output), 0, "%s", output);
    free (output);
    cr_assert_eq (s_paperctl_ingest (second, &output), 0, "%s", output);
    cr_assert (strstr (output, "0 inserted, 1 updated"), "%s", output);
    free (output);
    PGresult *row = pb_db_query (s_db,
                                 "SELECT version, title, doi, published::date FROM paper"
                                 " WHERE id = '2501.00021'",
                                 NULL);
    cr_assert_str_eq (PQgetvalue (row, 0, 0), "2");
    cr_assert_str_eq (PQgetvalue (row, 0, 1), "Second version");
    cr_assert_str_eq (PQgetvalue (row, 0, 2), "10.1000/xyz");
    cr_assert_str_eq (PQgetvalue (row, 0, 3), "2025-01-02");
    PQclear (row);
    //  Both orders end in the same row.
    cr_assert_eq (s_paperctl_ingest (first, &output), 0, "%s", output);
    cr_assert (strstr (output, "0 inserted, 0 updated, 1 unchanged"), "%s", output);
    free (output);
    unlink (newer);
    unlink (older);
    free (newer);
    free (older);
}

Test (ingest, duplicates_within_one_batch_are_folded_not_dropped)
{
    const char lines[] = "{\"id\": \"2501.00031\", \"title\": \"T\", \"summary\": \"Kept.\"}\n"
                         "{\"id\": \"2501.00031\", \"title\": \"T\", \"doi\": \"10.1/d\"}\n";
    char *path = s_write_temp ("dup.jsonl", lines, sizeof lines - 1);
    char *files[] = {path, NULL};
    char *output;
    cr_assert_eq (s_paperctl_ingest (files, &output), 0, "%s", output);
    cr_assert (strstr (output, "1 inserted, 0 updated, 1 unchanged"), "%s", output);
    free (output);
    PGresult *row =
        pb_db_query (s_db, "SELECT abstract, doi FROM paper WHERE id = '2501.00031'", NULL);
    cr_assert_str_eq (PQgetvalue (row, 0, 0), "Kept.");
    cr_assert_str_eq (PQgetvalue (row, 0, 1), "10.1/d");
    PQclear (row);
    cr_assert_eq (s_count ("SELECT count(*) FROM event_log WHERE topic = 'paper.ingested'"), 1);
    unlink (path);
    free (path);
}
