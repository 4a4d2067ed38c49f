/*  Notify as real processes: a bus, an ingest worker, index and rank
    workers and one or two notify processes on a fresh database, mailing a
    real SMTP server (deploy/mailcatcher.py, aiosmtpd) that each test starts
    on a port of its own and that keeps every mail it accepts as an .eml
    file, with a JSON line per transaction in its log. The mails are read
    back with Python's MIME parser (tests/support/mailbox.py), whose JSON
    is parsed here with jansson.

    Papers go in through paperctl ingest (the sample arXiv listing of
    2026-05-25 and the Hugging Face daily papers, whose upvotes make the
    trending list) or ingest.submit (made-up papers); requests go over the
    bus (notify.subscribe, notify.confirm, notify.unsubscribe, notify.run,
    notify.status), and what was stored is read back from PostgreSQL
    (subscription, subscription_request, mail_job, mail_handed,
    digest_paper, and digest.sent in the event log). A confirmation token
    is not stored in the clear once its mail is sent: the tests take it
    from the mail, as a subscriber would.

    A clock file (PAPERBUS_CLOCK_FILE, read by rank and notify) sets the
    time: which digests are due, when a confirmation link expires, and when
    a mail refused for now is due again (the clock does not move by itself,
    so a test that expects a retry moves it). Subscribers that need no
    confirmation mail are inserted directly in SQL.

    Replies (pbtest answers), parsed mailboxes and decoded events live on
    the heap and are listed until freed, so that a test that fails half-way
    leaves the teardown something to free rather than leaks for
    LeakSanitizer to report. */
#include "pb_paper.h"
#include "pbtest.h"
#include "pbtest_call.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <dirent.h>
#include <jansson.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define HEARTBEAT_MS     200 //  the bus's heartbeat: a killed worker is gone after 600 ms
#define POLL_MS          20  //  between two looks at something that is catching up
#define DAY_MS           86400000LL
#define HOUR_MS          3600000LL
#define PUBLIC_URL       "https://papers.example.org"
#define MAIL_FROM        "paperbus <digests@paperbus.example.org>"
#define CONFIRM_TTL_S    120 //  PAPERBUS_NOTIFY_CONFIRM_TTL_S
#define CONFIRM_TTL_TEXT "120"
#define MAX_HELD         16 //  parsed mailboxes and event lists held at once
#define MAX_PAPERS       8  //  papers of one s_submit
#define HF_FILE          "deploy/sample/hf/daily_papers-2024-10-25.json"
#define ARXIV_FILE       "deploy/sample/arxiv-daily/2026-05-25.jsonl"
#define TRENDING         3 //  the trending top most subscribers here ask for

//  The digest.sent events of the log, decoded.
typedef struct {
    pb_arena_t *arena;       //  the payloads and the decoded strings
    pb_digest_sent_t *items; //  COUNT events, in seq order
    size_t count;
    size_t capacity;
} sent_events_t;

static pbtest_stack_t s_stack;                 //  bus, ingest, database and client
static msgpack_sbuffer s_body;                 //  the request being built
static char s_dir[128];                        //  this test's files
static char s_clock_path[192];                 //  the clock file
static char s_mail_dir[192];                   //  where the catcher stores mails
static char s_mail_log[192];                   //  the catcher's transaction log
static pid_t s_catcher;                        //  the mail catcher, 0 when none runs
static json_t *s_held_json[MAX_HELD];          //  parsed mailboxes not yet freed
static sent_events_t *s_held_events[MAX_HELD]; //  event lists not yet freed
static pb_client_t *s_extra_clients[2];        //  more clients of the bus, for concurrent calls

static void s_clock_ms (int64_t ms);
static int64_t s_time (const char *text);

static void s_setup (void)
{
    pb_log_init ("test", PB_LOG_ERROR);
    //  First the bus and ingest (which read no clock): a setup that fails
    //  gets no teardown, and leaves no directory behind then.
    pbtest_stack_start (&s_stack, HEARTBEAT_MS, 3000);
    msgpack_sbuffer_init (&s_body);
    snprintf (s_dir, sizeof s_dir, "/tmp/pbtest-notify-XXXXXX");
    cr_assert (mkdtemp (s_dir), "cannot make a directory for the test");
    snprintf (s_clock_path, sizeof s_clock_path, "%s/clock", s_dir);
    snprintf (s_mail_dir, sizeof s_mail_dir, "%s/mail", s_dir);
    snprintf (s_mail_log, sizeof s_mail_log, "%s/smtp.log", s_dir);
    //  Every process a test starts takes these; a test may change them first.
    setenv ("PAPERBUS_CLOCK_FILE", s_clock_path, 1);
    s_clock_ms (s_time ("2026-12-01T06:00:00Z")); //  a Tuesday, before 08:00 UTC
    //  Hugging Face upvotes observed now stay trending whatever the clock says.
    setenv ("PAPERBUS_RANK_HALF_LIFE_S", "31536000", 1);
    setenv ("PAPERBUS_NOTIFY_SENDERS", "2", 1);
    setenv ("PAPERBUS_NOTIFY_RETRY_MS", "100", 1);
    setenv ("PAPERBUS_NOTIFY_ATTEMPTS", "10", 1);
    setenv ("PAPERBUS_NOTIFY_SCHEDULE_MS", "3600000", 1); //  only the tick at start
    setenv ("PAPERBUS_NOTIFY_CONFIRM_TTL_S", CONFIRM_TTL_TEXT, 1);
    setenv ("PAPERBUS_NOTIFY_DIGEST_PAPERS", "20", 1);
    setenv ("PAPERBUS_MAIL_FROM", MAIL_FROM, 1);
    //  With a trailing slash, which links must not double.
    setenv ("PAPERBUS_PUBLIC_URL", PUBLIC_URL "/", 1);
    setenv ("PAPERBUS_SMTP_TLS", "off", 1);
    setenv ("PAPERBUS_SMTP_TIMEOUT_MS", "10000", 1);
    setenv ("PAPERBUS_SMTP_URL", "smtp://127.0.0.1:1", 1); //  until a catcher runs
}

static void s_json_free (json_t **json_p);
static void s_events_free (sent_events_t **events_p);

static void s_teardown (void)
{
    pbtest_services_kill_all ();
    pbtest_mailcatcher_stop (&s_catcher);
    pbtest_answers_free_all ();
    for (int i = 0; i < MAX_HELD; i++) {
        s_json_free (&s_held_json[i]);
        s_events_free (&s_held_events[i]);
    }
    for (int i = 0; i < 2; i++)
        pb_client_destroy (&s_extra_clients[i]);
    msgpack_sbuffer_destroy (&s_body);
    pbtest_stack_stop (&s_stack);
    if (*s_dir && !getenv ("PBTEST_KEEP_FILES")) {
        char command[256];
        snprintf (command, sizeof command, "rm -rf '%s'", s_dir);
        pbtest_shell (command);
    }
}

TestSuite (notify, .init = s_setup, .fini = s_teardown, .timeout = 120);

/* ==== The clock ==== */

//  Makes MS (milliseconds since 1970) the time of rank and notify: the
//  file is replaced whole, so a process never reads half of it.
static void s_clock_ms (int64_t ms)
{
    char temporary[256];
    snprintf (temporary, sizeof temporary, "%s.new", s_clock_path);
    FILE *file = fopen (temporary, "w");
    cr_assert (file, "cannot write %s", temporary);
    fprintf (file, "%lld\n", (long long)ms);
    fclose (file);
    cr_assert_eq (rename (temporary, s_clock_path), 0);
}

//  The time TEXT ("2026-12-01T06:00:00Z") in milliseconds since 1970.
static int64_t s_time (const char *text)
{
    int64_t seconds;
    cr_assert_eq (pb_date_parse (text, &seconds), 0, "'%s' is not a time", text);
    return seconds * 1000;
}

/* ==== The mail catcher and the mailbox ==== */

//  Starts the mail catcher with OPTIONS (NULL-terminated; NULL for none)
//  and points the notify processes started afterwards at it.
static void s_catcher_start (const char *const *options)
{
    const char *all[32] = {"--log", s_mail_log};
    size_t count = 2;
    for (size_t i = 0; options && options[i] && count < 31; i++)
        all[count++] = options[i];
    all[count] = NULL;
    s_catcher = pbtest_mailcatcher_spawn (s_dir, s_mail_dir, all);
    pbtest_mailcatcher_wait (s_catcher, s_dir);
}

//  How many mails the catcher has stored (.eml files).
static size_t s_mail_count (void)
{
    DIR *dir = opendir (s_mail_dir);
    if (!dir)
        return 0;
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir)) != NULL) {
        size_t length = strlen (entry->d_name);
        count += length > 4 && strcmp (entry->d_name + length - 4, ".eml") == 0;
    }
    closedir (dir);
    return count;
}

//  Waits up to WITHIN_MS for COUNT mails; returns how many are stored.
static size_t s_wait_mails (size_t count, int within_ms)
{
    int64_t started = zclock_mono ();
    size_t stored;
    while ((stored = s_mail_count ()) < count && zclock_mono () - started < within_ms)
        zclock_sleep (POLL_MS);
    return stored;
}

static void s_json_free (json_t **json_p)
{
    json_t *json = *json_p;
    if (!json)
        return;
    for (int i = 0; i < MAX_HELD; i++)
        if (s_held_json[i] == json)
            s_held_json[i] = NULL;
    json_decref (json);
    *json_p = NULL;
}

//  Every stored mail, parsed by tests/support/mailbox.py (which first waits
//  up to WITHIN_MS for COUNT of them): a JSON array, one object per mail in
//  the order stored.
static json_t *s_mailbox (size_t count, int within_ms)
{
    char *script = pbtest_repo_path ("tests/support/mailbox.py");
    char wait[32], timeout[32], output[256];
    snprintf (wait, sizeof wait, "%zu", count);
    snprintf (timeout, sizeof timeout, "%d", within_ms);
    snprintf (output, sizeof output, "%s/mailbox.json", s_dir);
    char *argv[] = {"/usr/bin/python3", script,  s_mail_dir, "--wait", wait,
                    "--timeout-ms",     timeout, NULL};
    int status = pbtest_wait (pbtest_spawn (argv, NULL, output), within_ms + 60000);
    free (script);
    cr_assert_eq (status, 0, "mailbox.py exited with %d", status);
    json_error_t error;
    json_t *mails = json_load_file (output, 0, &error);
    cr_assert (mails, "mailbox.py printed no JSON: %s", error.text);
    for (int i = 0; i < MAX_HELD; i++)
        if (!s_held_json[i]) {
            s_held_json[i] = mails;
            break;
        }
    cr_assert (json_is_array (mails), "mailbox.py printed no JSON array");
    return mails;
}

//  The first value of header NAME (lower case) of MAIL, decoded; RAW: as
//  in the file. NULL when it has none.
static const char *s_header (json_t *mail, const char *name, bool raw)
{
    json_t *values =
        json_object_get (json_object_get (mail, raw ? "raw_headers" : "headers"), name);
    return json_string_value (json_array_get (values, 0));
}

//  How many values header NAME has in MAIL.
static size_t s_header_count (json_t *mail, const char *name)
{
    return json_array_size (json_object_get (json_object_get (mail, "headers"), name));
}

//  The part of MAIL with CONTENT_TYPE, or NULL.
static json_t *s_part (json_t *mail, const char *content_type)
{
    size_t i;
    json_t *part;
    json_array_foreach (
        json_object_get (mail, "parts"), i,
        part) if (strcmp (json_string_value (json_object_get (part, "content_type")),
                          content_type) == 0) return part;
    return NULL;
}

//  The decoded text of MAIL's part CONTENT_TYPE; fails the test if none.
static const char *s_part_text (json_t *mail, const char *content_type)
{
    json_t *part = s_part (mail, content_type);
    cr_assert (part, "the mail to %s has no %s part", s_header (mail, "to", false), content_type);
    const char *text = json_string_value (json_object_get (part, "text"));
    cr_assert (text, "the %s part has no text", content_type);
    return text;
}

//  How many of MAIL's links are LINK.
static size_t s_link_count (json_t *mail, const char *link)
{
    size_t i, count = 0;
    json_t *item;
    json_array_foreach (json_object_get (mail, "links"), i, item) count +=
        strcmp (json_string_value (item), link) == 0;
    return count;
}

//  Whether MAIL is a digest (else a confirmation).
static bool s_is_digest (json_t *mail)
{
    const char *subject = s_header (mail, "subject", false);
    return subject && strncmp (subject, "paperbus ", 9) == 0;
}

//  The mails of MAILS to ADDRESS that are digests (DIGESTS) or not; the
//  first goes to *FIRST. Returns how many.
static size_t s_mails_to (json_t *mails, const char *address, bool digests, json_t **first)
{
    size_t i, count = 0;
    json_t *mail;
    if (first)
        *first = NULL;
    json_array_foreach (mails, i, mail)
    {
        const char *to = s_header (mail, "to", false);
        if (to && strcmp (to, address) == 0 && s_is_digest (mail) == digests) {
            if (first && !*first)
                *first = mail;
            count++;
        }
    }
    return count;
}

//  Lines of the catcher's log with STAGE ("DATA" or "RCPT") and CODE (0:
//  any) for a transaction to ADDRESS (NULL: any).
static size_t s_log_count (const char *stage, int code, const char *address)
{
    char *text = pbtest_read_file (s_mail_log, NULL);
    size_t count = 0;
    for (char *line = text; line && *line;) {
        char *end = strchr (line, '\n');
        if (end)
            *end = 0;
        json_t *record = json_loads (line, 0, NULL);
        if (record) {
            bool match = strcmp (json_string_value (json_object_get (record, "stage")), stage) == 0;
            if (code)
                match = match && json_integer_value (json_object_get (record, "code")) == code;
            if (address) {
                bool listed = false;
                size_t i;
                json_t *rcpt;
                json_array_foreach (json_object_get (record, "rcpt"), i, rcpt) listed |=
                    strcmp (json_string_value (rcpt), address) == 0;
                match = match && listed;
            }
            count += match;
            json_decref (record);
        }
        line = end ? end + 1 : line + strlen (line);
    }
    free (text);
    return count;
}

/* ==== PostgreSQL ==== */

//  The first column of the only row of SQL with PARAMS (may be NULL).
static int64_t s_query_int (const char *sql, pb_db_params_t *params)
{
    pb_db_params_t none = {0};
    PGresult *result = pb_db_query (s_stack.db, sql, params ? params : &none);
    cr_assert (result, "%s: %s", sql, pb_db_error (s_stack.db));
    cr_assert_eq (PQntuples (result), 1, "%s: %d rows", sql, PQntuples (result));
    int64_t value = PQgetisnull (result, 0, 0) ? -1 : strtoll (PQgetvalue (result, 0, 0), NULL, 10);
    PQclear (result);
    return value;
}

//  s_query_int with the text $1 TEXT (none when NULL).
static int64_t s_count (const char *sql, const char *text)
{
    pb_db_params_t params = {0};
    if (text)
        pb_db_params_text (&params, text);
    return s_query_int (sql, &params);
}

//  s_query_int with the integer $1 NUMBER.
static int64_t s_count_id (const char *sql, int64_t number)
{
    pb_db_params_t params = {0};
    pb_db_params_int (&params, number);
    return s_query_int (sql, &params);
}

//  The first column of the only row of SQL with the text $1 TEXT, into
//  OUT; "" when NULL.
static const char *s_query_text (const char *sql, const char *text, char *out, size_t size)
{
    pb_db_params_t params = {0};
    if (text)
        pb_db_params_text (&params, text);
    PGresult *result = pb_db_query (s_stack.db, sql, &params);
    cr_assert (result, "%s: %s", sql, pb_db_error (s_stack.db));
    cr_assert_eq (PQntuples (result), 1, "%s: %d rows", sql, PQntuples (result));
    snprintf (out, size, "%s", PQgetvalue (result, 0, 0));
    PQclear (result);
    return out;
}

//  Waits up to WITHIN_MS until SQL (with the text $1 TEXT) counts WANT;
//  returns the last count.
static int64_t s_wait_count (const char *sql, const char *text, int64_t want, int within_ms)
{
    int64_t started = zclock_mono (), count;
    while ((count = s_count (sql, text)) != want && zclock_mono () - started < within_ms)
        zclock_sleep (POLL_MS);
    return count;
}

//  Inserts a confirmed subscription, as notify.confirm would make it:
//  EMAIL follows CATEGORIES (a text[] literal, "{cs.PL}") and the trending
//  top TRENDING, CADENCE at HOUR in ZONE, confirmed at CONFIRMED_MS.
//  Returns its id.
static int64_t s_insert_subscription (const char *email, const char *categories, int trending,
                                      const char *cadence, int hour, const char *zone,
                                      int64_t confirmed_ms)
{
    pb_db_params_t params = {0};
    pb_db_params_text (&params, email);
    pb_db_params_text (&params, categories);
    pb_db_params_int (&params, trending);
    pb_db_params_text (&params, cadence);
    pb_db_params_int (&params, hour);
    pb_db_params_text (&params, zone);
    pb_db_params_int (&params, confirmed_ms);
    return s_query_int ("INSERT INTO subscription (email, categories, trending_top, cadence, "
                        "  send_hour, time_zone, confirmed_at) "
                        "VALUES ($1, $2::text[], $3, $4, $5, $6, to_timestamp ($7::float8 / 1000)) "
                        "RETURNING id",
                        &params);
}

//  Inserts COUNT subscribers PREFIX1@example.org ... PREFIXn@example.org
//  of the trending top, daily at 08:00 UTC, confirmed at CONFIRMED_MS.
static void s_insert_readers (const char *prefix, int64_t count, int64_t confirmed_ms)
{
    pb_db_params_t params = {0};
    pb_db_params_text (&params, prefix);
    pb_db_params_int (&params, count);
    pb_db_params_int (&params, confirmed_ms);
    pb_db_params_int (&params, TRENDING);
    int64_t inserted =
        pb_db_run (s_stack.db,
                   "INSERT INTO subscription (email, trending_top, cadence, send_hour, time_zone, "
                   "  confirmed_at) "
                   "SELECT format ('%s%s@example.org', $1::text, g), $4, 'daily', 8, 'UTC', "
                   "       to_timestamp ($3::float8 / 1000) FROM generate_series (1, $2) g",
                   &params);
    cr_assert_eq (inserted, count, "%s", pb_db_error (s_stack.db));
}

/* ==== The event log ==== */

static void s_events_free (sent_events_t **events_p)
{
    sent_events_t *events = *events_p;
    if (!events)
        return;
    for (int i = 0; i < MAX_HELD; i++)
        if (s_held_events[i] == events)
            s_held_events[i] = NULL;
    pb_arena_destroy (&events->arena);
    free (events->items);
    free (events);
    *events_p = NULL;
}

static int s_collect_sent (const pb_event_t *event, void *arg)
{
    sent_events_t *events = arg;
    if (events->count == events->capacity) {
        events->capacity = events->capacity ? events->capacity * 2 : 64;
        events->items = realloc (events->items, events->capacity * sizeof *events->items);
    }
    //  The payload lives only as long as this call: the decoded strings
    //  point into a copy.
    char *payload = pb_arena_alloc (events->arena, event->size + 1);
    memcpy (payload, event->payload, event->size);
    pb_codec_error_t error;
    if (pb_decode (payload, event->size, 1 << 20, &pb_digest_sent_schema,
                   &events->items[events->count], events->arena, &error))
        return -1;
    events->count++;
    return 0;
}

//  Every digest.sent event of the log, in seq order.
static sent_events_t *s_sent_events (void)
{
    sent_events_t *events = calloc (1, sizeof *events);
    events->arena = pb_arena_new ();
    for (int i = 0; i < MAX_HELD; i++)
        if (!s_held_events[i]) {
            s_held_events[i] = events;
            break;
        }
    int64_t head = pb_eventlog_head (s_stack.db, "digest.sent");
    cr_assert_geq (head, 0, "%s", pb_db_error (s_stack.db));
    int read = pb_eventlog_read (s_stack.db, "digest.sent", 0, 100000, s_collect_sent, events);
    cr_assert_eq (read, (int)events->count,
                  "a digest.sent event is malformed (%d read, %zu decoded)", read, events->count);
    cr_assert_eq ((int64_t)events->count, head, "digest.sent has %lld events, %zu read",
                  (long long)head, events->count);
    return events;
}

/* ==== Processes ==== */

//  Ingests the Hugging Face daily papers (the trending list) and, with
//  ARXIV, the sample arXiv listing of 2026-05-25.
static void s_load_papers (bool arxiv)
{
    pbtest_paperctl_ingest (HF_FILE);
    if (arxiv)
        pbtest_paperctl_ingest (ARXIV_FILE);
}

//  Calls METHOD with the request built in s_body.
static pbtest_answer_t *s_call (const char *method)
{
    return pbtest_call (s_stack.client, method, s_body.data, s_body.size);
}

//  Whether the index holds paper ID (index.get finds it).
static bool s_indexed (const char *id)
{
    msgpack_packer packer = pbtest_packer (&s_body);
    pb_str_t ids[] = {pb_str (id)};
    pb_index_get_request_t request = {0};
    request.ids = (pb_str_list_t){ids, 1};
    pb_encode (&pb_index_get_request_schema, &request, &packer);
    pbtest_answer_t *answer = s_call ("index.get");
    bool found = answer->reply.status == PB_OK && answer->get.papers.count == 1;
    pbtest_answer_free (&answer);
    return found;
}

//  Waits up to 10 s for the index to hold paper ID.
static void s_wait_indexed (const char *id)
{
    int64_t started = zclock_mono ();
    while (!s_indexed (id)) {
        cr_assert_lt (zclock_mono () - started, 10000, "the index does not hold %s after 10 s", id);
        zclock_sleep (POLL_MS);
    }
}

//  Waits until rank lists COUNT papers trending and the index holds them
//  (the digests' trending part); the ids go to IDS (COUNT of 32 bytes).
static void s_wait_trending (size_t count, char ids[][32])
{
    int64_t started = zclock_mono ();
    while (true) {
        msgpack_packer packer = pbtest_packer (&s_body);
        pb_top_request_t request = {0};
        request.window = pb_str ("trending");
        request.limit = (int64_t)count;
        pb_set_present (&request, PB_top_request_limit);
        pb_encode (&pb_top_request_schema, &request, &packer);
        pbtest_answer_t *answer = s_call ("rank.top");
        bool ready = answer->reply.status == PB_OK && answer->top.papers.count == count;
        for (size_t i = 0; ready && i < count; i++)
            pbtest_text (((const pb_ranked_paper_t *)answer->top.papers.items)[i].id, ids[i], 32);
        pbtest_answer_free (&answer);
        if (ready)
            break;
        cr_assert_lt (zclock_mono () - started, 10000, "rank lists fewer than %zu trending papers",
                      count);
        zclock_sleep (POLL_MS);
    }
    for (size_t i = 0; i < count; i++)
        s_wait_indexed (ids[i]);
}

//  Starts a notify process and waits until the bus shows LIVE notify workers.
static pid_t s_notify_start (int live)
{
    return pbtest_service_start ("notify", live);
}

//  Kills notify process PID with SIGKILL and waits until the bus shows
//  LIVE notify workers.
static void s_notify_kill (pid_t pid, int live)
{
    pbtest_service_stop ("notify", pid, SIGKILL, 5000, live);
}

/* ==== Requests ==== */

//  A notify.subscribe request; NULL and -1 are not sent.
typedef struct {
    const char *email;
    const char *query;
    const char *const *categories; //  NULL-terminated
    const char *const *authors;    //  NULL-terminated
    int64_t trending;
    const char *cadence;
    int64_t hour;
    const char *time_zone;
} subscribe_t;

//  A subscribe_t with TRENDING and HOUR not sent unless given (which
//  overrides the defaults: hence the pragma).
#pragma GCC diagnostic ignored "-Woverride-init"
#define SUBSCRIBE(...) ((subscribe_t){.trending = -1, .hour = -1, __VA_ARGS__})

static size_t s_list (const char *const *items, pb_str_t *out, size_t max)
{
    size_t count = 0;
    while (items && items[count] && count < max) {
        out[count] = pb_str (items[count]);
        count++;
    }
    return count;
}

static pbtest_answer_t *s_subscribe (subscribe_t subscribe)
{
    msgpack_packer packer = pbtest_packer (&s_body);
    pb_subscribe_request_t request = {0};
    pb_str_t categories[20], authors[20];
    request.email = pb_str (subscribe.email);
    if (subscribe.query) {
        request.query = pb_str (subscribe.query);
        pb_set_present (&request, PB_subscribe_request_query);
    }
    if (subscribe.categories) {
        request.categories =
            (pb_str_list_t){categories, (uint32_t)s_list (subscribe.categories, categories, 20)};
        pb_set_present (&request, PB_subscribe_request_categories);
    }
    if (subscribe.authors) {
        request.authors =
            (pb_str_list_t){authors, (uint32_t)s_list (subscribe.authors, authors, 20)};
        pb_set_present (&request, PB_subscribe_request_authors);
    }
    if (subscribe.trending >= 0) {
        request.trending = subscribe.trending;
        pb_set_present (&request, PB_subscribe_request_trending);
    }
    if (subscribe.cadence) {
        request.cadence = pb_str (subscribe.cadence);
        pb_set_present (&request, PB_subscribe_request_cadence);
    }
    if (subscribe.hour >= 0) {
        request.hour = subscribe.hour;
        pb_set_present (&request, PB_subscribe_request_hour);
    }
    if (subscribe.time_zone) {
        request.time_zone = pb_str (subscribe.time_zone);
        pb_set_present (&request, PB_subscribe_request_time_zone);
    }
    pb_encode (&pb_subscribe_request_schema, &request, &packer);
    return s_call ("notify.subscribe");
}

static pbtest_answer_t *s_confirm (const char *token)
{
    msgpack_packer packer = pbtest_packer (&s_body);
    pb_confirm_request_t request = {0};
    request.token = pb_str (token);
    pb_encode (&pb_confirm_request_schema, &request, &packer);
    return s_call ("notify.confirm");
}

//  notify.unsubscribe with EMAIL or (if EMAIL is NULL) TOKEN.
static pbtest_answer_t *s_unsubscribe (const char *email, const char *token)
{
    msgpack_packer packer = pbtest_packer (&s_body);
    pb_unsubscribe_request_t request = {0};
    if (email) {
        request.email = pb_str (email);
        pb_set_present (&request, PB_unsubscribe_request_email);
    } else {
        request.token = pb_str (token);
        pb_set_present (&request, PB_unsubscribe_request_token);
    }
    pb_encode (&pb_unsubscribe_request_schema, &request, &packer);
    return s_call ("notify.unsubscribe");
}

//  Builds a notify.run request (NOW: `paperctl digests run --now`) in BUFFER.
static void s_run_body (msgpack_sbuffer *buffer, bool now)
{
    msgpack_packer packer = pbtest_packer (buffer);
    pb_digests_run_request_t request = {0};
    request.now = now;
    pb_set_present (&request, PB_digests_run_request_now);
    pb_encode (&pb_digests_run_request_schema, &request, &packer);
}

//  notify.status (of run RUN, 0: of every mail), which must succeed.
static pb_notify_status_reply_t s_status (int64_t run)
{
    msgpack_packer packer = pbtest_packer (&s_body);
    pb_notify_status_request_t request = {0};
    if (run) {
        request.run = run;
        pb_set_present (&request, PB_notify_status_request_run);
    }
    pb_encode (&pb_notify_status_request_schema, &request, &packer);
    pbtest_answer_t *answer = s_call ("notify.status");
    cr_assert_eq (answer->reply.status, PB_OK, "notify.status: %s", pbtest_describe (answer));
    cr_assert_eq (pb_has (&answer->notify, PB_notify_status_reply_run_done), run != 0,
                  "notify.status says run_done only for a run");
    pb_notify_status_reply_t status = answer->notify;
    pbtest_answer_free (&answer);
    return status;
}

//  notify.run (NOW: `paperctl digests run --now`), which must succeed;
//  waits until the scheduler has queued the run (notify.status says
//  run_done) and returns how many digests it queued.
static int64_t s_run (bool now)
{
    s_run_body (&s_body, now);
    pbtest_answer_t *answer = s_call ("notify.run");
    cr_assert_eq (answer->reply.status, PB_OK, "notify.run: %s", pbtest_describe (answer));
    int64_t run = answer->digests.run;
    pbtest_answer_free (&answer);
    cr_assert_gt (run, 0, "notify.run answered run %lld", (long long)run);
    int64_t started = zclock_mono ();
    while (!s_status (run).run_done) {
        cr_assert_lt (zclock_mono () - started, 15000, "run %lld not queued after 15 s",
                      (long long)run);
        zclock_sleep (POLL_MS);
    }
    int64_t queued = s_count_id ("SELECT queued FROM digest_run WHERE id = $1", run);
    cr_assert_eq (s_count_id ("SELECT count(*) FROM mail_job WHERE run_id = $1", run), queued,
                  "run %lld says it queued %lld digests", (long long)run, (long long)queued);
    return queued;
}

//  Waits up to WITHIN_MS until no mail job is queued (due now or later),
//  as `paperctl digests run` does, through notify.status.
static void s_wait_jobs_done (int within_ms)
{
    int64_t started = zclock_mono ();
    while (true) {
        pb_notify_status_reply_t status = s_status (0);
        if (status.queued + status.retrying == 0)
            break;
        cr_assert_lt (zclock_mono () - started, within_ms,
                      "after %d ms, %lld mails are due and %lld wait for a retry", within_ms,
                      (long long)status.queued, (long long)status.retrying);
        zclock_sleep (POLL_MS);
    }
}

//  Asserts that ANSWER is the error CODE whose message holds WORD, then frees it.
static void s_assert_refused (pbtest_answer_t *answer, int code, const char *word, const char *what)
{
    char message[600];
    pbtest_text (answer->error.message, message, sizeof message);
    cr_assert_eq (answer->reply.status, code, "%s: %s, want %s", what, pbtest_describe (answer),
                  pb_error_name (code));
    if (word)
        cr_assert (strstr (message, word), "%s: the message '%s' does not name %s", what, message,
                   word);
    pbtest_answer_free (&answer);
}

/* ==== Confirmations ==== */

//  The token of the confirmation mail MAIL: its text part says "paperctl
//  confirm TOKEN", and both parts link to PUBLIC_URL's confirmation page
//  with it. Written to TOKEN (SIZE bytes).
static const char *s_token_of (json_t *mail, char *token, size_t size)
{
    const char *text = s_part_text (mail, "text/plain");
    const char *at = strstr (text, "paperctl confirm ");
    cr_assert (at, "the confirmation mail does not say 'paperctl confirm TOKEN': %s", text);
    at += strlen ("paperctl confirm ");
    size_t length = strcspn (at, " \r\n");
    cr_assert (length > 0 && length < size, "a token of %zu bytes", length);
    memcpy (token, at, length);
    token[length] = 0;
    char link[256];
    snprintf (link, sizeof link, PUBLIC_URL "/api/subscriptions/confirm?token=%s", token);
    cr_assert_eq (s_link_count (mail, link), 2,
                  "the confirmation mail does not link to %s once in each part", link);
    return token;
}

//  Waits for the one confirmation mail to EMAIL (as the COUNT-th mail
//  stored) and writes its token to TOKEN.
static void s_confirmation_token (const char *email, size_t count, char *token, size_t size)
{
    json_t *mails = s_mailbox (count, 10000);
    json_t *mail;
    cr_assert_eq (s_mails_to (mails, email, false, &mail), 1,
                  "%zu confirmation mails to %s, want 1 (%zu mails in all)",
                  s_mails_to (mails, email, false, NULL), email, json_array_size (mails));
    s_token_of (mail, token, size);
    s_json_free (&mails);
}

//  Subscribes EMAIL as SUBSCRIBE says and confirms it with the token its
//  confirmation mail (the COUNT-th mail stored) holds.
static void s_subscribe_confirmed (subscribe_t subscribe, size_t count)
{
    pbtest_answer_t *answer = s_subscribe (subscribe);
    cr_assert_eq (answer->reply.status, PB_OK, "subscribing %s: %s", subscribe.email,
                  pbtest_describe (answer));
    pbtest_answer_free (&answer);
    char token[128];
    s_confirmation_token (subscribe.email, count, token, sizeof token);
    answer = s_confirm (token);
    cr_assert_eq (answer->reply.status, PB_OK, "confirming %s: %s", subscribe.email,
                  pbtest_describe (answer));
    pbtest_answer_free (&answer);
}

/* ==== Digests ==== */

//  Asserts that the digest MAIL has links to exactly the papers that
//  digest_paper holds for job JOB, and to no paper in EXCLUDED
//  (NULL-terminated, may be NULL).
static void s_assert_digest_links (json_t *mail, int64_t job, const char *const *excluded)
{
    pb_db_params_t params = {0};
    pb_db_params_int (&params, job);
    PGresult *result = pb_db_query (
        s_stack.db, "SELECT paper_id FROM digest_paper WHERE job_id = $1 ORDER BY paper_id",
        &params);
    cr_assert (result, "%s", pb_db_error (s_stack.db));
    size_t papers = (size_t)PQntuples (result);
    char ids[64][32];
    for (size_t i = 0; i < papers && i < 64; i++)
        snprintf (ids[i], sizeof ids[i], "%s", PQgetvalue (result, (int)i, 0));
    PQclear (result);
    cr_assert_gt (papers, 0, "job %lld recorded no paper", (long long)job);
    //  Every paper sent is linked, in the text and in the HTML.
    for (size_t i = 0; i < papers && i < 64; i++) {
        char link[128];
        snprintf (link, sizeof link, PUBLIC_URL "/papers/%s", ids[i]);
        cr_assert_eq (s_link_count (mail, link), 2,
                      "the digest links to %s %zu times, not once in each part", link,
                      s_link_count (mail, link));
    }
    //  And nothing else is.
    size_t i, linked = 0;
    json_t *item;
    json_array_foreach (json_object_get (mail, "links"), i, item)
    {
        const char *link = json_string_value (item);
        if (strncmp (link, PUBLIC_URL "/papers/", strlen (PUBLIC_URL "/papers/")) != 0)
            continue;
        linked++;
        const char *id = link + strlen (PUBLIC_URL "/papers/");
        for (size_t e = 0; excluded && excluded[e]; e++)
            cr_assert_str_neq (id, excluded[e], "the digest links to %s again", id);
    }
    cr_assert_eq (linked, 2 * papers, "the digest has %zu paper links for %zu papers", linked,
                  papers);
}

//  The token of the one-click unsubscribe link of digest MAIL, checked
//  against its List-Unsubscribe header and its links.
static const char *s_unsubscribe_token (json_t *mail, char *token, size_t size)
{
    const char *header = s_header (mail, "list-unsubscribe", false);
    cr_assert (header, "the digest has no List-Unsubscribe header");
    const char *prefix = "<" PUBLIC_URL "/api/unsubscribe?token=";
    cr_assert (strncmp (header, prefix, strlen (prefix)) == 0,
               "List-Unsubscribe is '%s', not <" PUBLIC_URL "/api/unsubscribe?token=...>", header);
    const char *start = header + strlen (prefix);
    const char *end = strchr (start, '>');
    cr_assert (end && end[1] == 0 && (size_t)(end - start) < size && end > start,
               "List-Unsubscribe is '%s'", header);
    memcpy (token, start, (size_t)(end - start));
    token[end - start] = 0;
    cr_assert_str_eq (s_header (mail, "list-unsubscribe-post", false),
                      "List-Unsubscribe=One-Click");
    char link[256];
    snprintf (link, sizeof link, PUBLIC_URL "/api/unsubscribe?token=%s", token);
    cr_assert_eq (s_link_count (mail, link), 2, "the digest does not link to %s once in each part",
                  link);
    return token;
}

//  Asserts that MAIL is clean MIME: multipart/alternative of a text/plain
//  and a text/html part, both UTF-8 and quoted-printable, without defects,
//  over-long lines or bare LFs, and with no remote resources.
static void s_assert_clean_mime (json_t *mail)
{
    const char *to = s_header (mail, "to", false);
    cr_assert_str_eq (json_string_value (json_object_get (mail, "content_type")),
                      "multipart/alternative", "the mail to %s", to);
    json_t *parts = json_object_get (mail, "parts");
    cr_assert_eq (json_array_size (parts), 2, "the mail to %s has %zu parts", to,
                  json_array_size (parts));
    const char *types[] = {"text/plain", "text/html"};
    for (size_t i = 0; i < 2; i++) {
        json_t *part = json_array_get (parts, i);
        cr_assert_str_eq (json_string_value (json_object_get (part, "content_type")), types[i]);
        cr_assert_str_eq (json_string_value (json_object_get (part, "charset")), "utf-8",
                          "the %s part's charset", types[i]);
        cr_assert_str_eq (json_string_value (json_object_get (part, "transfer_encoding")),
                          "quoted-printable", "the %s part's encoding", types[i]);
        cr_assert (
            json_is_null (json_object_get (part, "disposition")) ||
                strcmp (json_string_value (json_object_get (part, "disposition")), "inline") == 0,
            "the %s part is an attachment", types[i]);
    }
    json_t *defects = json_object_get (mail, "defects");
    cr_assert_eq (json_array_size (defects), 0, "the mail to %s has MIME defects, the first: %s",
                  to, json_string_value (json_array_get (defects, 0)));
    cr_assert (json_is_false (json_object_get (mail, "line_too_long")),
               "the mail to %s has a line over 998 octets", to);
    cr_assert (json_is_false (json_object_get (mail, "bare_lf")), "the mail to %s has a bare LF",
               to);
    cr_assert (json_is_false (json_object_get (mail, "html_has_remote_images")),
               "the mail to %s loads something remote", to);
    cr_assert_str_eq (s_header (mail, "from", false), MAIL_FROM);
    cr_assert_eq (s_header_count (mail, "message-id"), 1);
    cr_assert_eq (s_header_count (mail, "date"), 1);
}

//  The mail of MAILS whose Message-ID is MESSAGE_ID; fails the test if none.
static json_t *s_mail_with_id (json_t *mails, const char *message_id)
{
    size_t i;
    json_t *mail;
    json_array_foreach (mails, i, mail)
    {
        const char *id = s_header (mail, "message-id", false);
        if (id && strcmp (id, message_id) == 0)
            return mail;
    }
    cr_assert_fail ("no mail has the Message-ID %s", message_id);
    return NULL;
}

//  Asserts that the header NAME of every mail of MAILS is different.
static void s_assert_distinct (json_t *mails, const char *name)
{
    zhashx_t *seen = zhashx_new ();
    size_t i;
    json_t *mail;
    char twice[300] = "";
    json_array_foreach (mails, i, mail)
    {
        const char *value = s_header (mail, name, false);
        if (!value || zhashx_insert (seen, value, (void *)1) != 0) {
            snprintf (twice, sizeof twice, "%s", value ? value : "(none)");
            break;
        }
    }
    zhashx_destroy (&seen);
    cr_assert_str_empty (twice, "two mails have the %s %s", name, twice);
}

//  Asserts that MAILS are COUNT digests, one to each of PREFIX1@example.org
//  ... PREFIXn@example.org, with COUNT different Message-IDs.
static void s_assert_one_digest_each (json_t *mails, const char *prefix, size_t count)
{
    cr_assert_eq (json_array_size (mails), count, "%zu mails stored, want %zu",
                  json_array_size (mails), count);
    s_assert_distinct (mails, "to");
    s_assert_distinct (mails, "message-id");
    size_t i;
    json_t *mail;
    json_array_foreach (mails, i, mail)
    {
        const char *to = s_header (mail, "to", false);
        char *end = NULL;
        long number = strncmp (to, prefix, strlen (prefix)) == 0
                          ? strtol (to + strlen (prefix), &end, 10)
                          : 0;
        cr_assert (number >= 1 && (size_t)number <= count && end &&
                       strcmp (end, "@example.org") == 0,
                   "a mail to %s, who did not subscribe", to);
        cr_assert (s_is_digest (mail), "the mail to %s is not a digest", to);
    }
}

/* ==== Subscribing and confirming ==== */

Test (notify, subscribing_mails_one_confirmation_whose_token_confirms_once)
{
    cr_assert_geq (sodium_init (), 0);
    int64_t t0 = s_time ("2026-12-01T06:00:00Z");
    s_catcher_start (NULL);
    s_notify_start (1);
    const char *email = "ada.reader@example.org";
    const char *categories[] = {"cs.PL", "cs.LO", NULL};
    pbtest_answer_t *answer =
        s_subscribe (SUBSCRIBE (.email = "Ada.Reader@Example.ORG", .categories = categories,
                                .trending = 5, .hour = 7, .time_zone = "Europe/Paris"));
    cr_assert_eq (answer->reply.status, PB_OK, "subscribe: %s", pbtest_describe (answer));
    char text[300];
    cr_assert_str_eq (pbtest_text (answer->subscribe.email, text, sizeof text), email);
    cr_assert_eq (answer->subscribe.expires_at, t0 + CONFIRM_TTL_S * 1000);
    pbtest_answer_free (&answer);

    //  One mail, to that address: the confirmation, with the token in its link.
    json_t *mails = s_mailbox (1, 10000);
    cr_assert_eq (json_array_size (mails), 1);
    json_t *mail = json_array_get (mails, 0);
    s_assert_clean_mime (mail);
    cr_assert_str_eq (s_header (mail, "to", false), email);
    cr_assert_str_eq (s_header (mail, "subject", false), "Confirm your paperbus digest");
    char token[128];
    s_token_of (mail, token, sizeof token);
    cr_assert_eq (strlen (token), 43, "the token '%s' is not 32 bytes in base64", token);
    s_json_free (&mails);

    //  Once the mail is sent, PostgreSQL holds the token's BLAKE2b hash
    //  only: not the token, anywhere.
    cr_assert_eq (s_wait_count ("SELECT count(*) FROM mail_job WHERE kind = 'confirm' "
                                "AND state = 'sent' AND email = $1",
                                email, 1, 5000),
                  1, "the confirmation job is not recorded sent");
    cr_assert_eq (s_count ("SELECT count(*) FROM mail_job WHERE token IS NOT NULL", NULL), 0,
                  "mail_job keeps the token after sending");
    unsigned char bytes[32], hash[32];
    size_t decoded = 0;
    cr_assert_eq (sodium_base642bin (bytes, sizeof bytes, token, strlen (token), NULL, &decoded,
                                     NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                  0);
    cr_assert_eq (decoded, 32);
    crypto_generichash (hash, sizeof hash, bytes, sizeof bytes, NULL, 0);
    char hex[65], stored[128];
    sodium_bin2hex (hex, sizeof hex, hash, sizeof hash);
    s_query_text ("SELECT encode (token_hash, 'hex') FROM subscription_request WHERE email = $1",
                  email, stored, sizeof stored);
    cr_assert_str_eq (stored, hex, "the request does not hold the BLAKE2b-256 of the token");
    const char *holding =
        "SELECT coalesce (sum ((xpath ('/row/c/text()', query_to_xml (format ("
        "  'SELECT count(*) AS c FROM %I t WHERE strpos (t::text, %L) > 0', table_name, $1::text),"
        "  false, true, '')))[1]::text::int), 0) "
        "FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE "
        "TABLE'";
    cr_assert_eq (s_count (holding, token), 0, "a row of PostgreSQL holds the token %s", token);

    //  Before confirming, nothing is due for the address, even --now.
    cr_assert_eq (s_run (true), 0);
    cr_assert_eq (s_count ("SELECT count(*) FROM subscription", NULL), 0);
    cr_assert_eq (s_count ("SELECT count(*) FROM mail_job WHERE kind = 'digest'", NULL), 0);

    //  Tokens that are not the mailed one.
    char wrong[128];
    snprintf (wrong, sizeof wrong, "%s", token);
    wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
    s_assert_refused (s_confirm (wrong), PB_E_NOT_FOUND, NULL, "a token one character off");
    s_assert_refused (s_confirm ("not a token!"), PB_E_INVALID, "token", "a malformed token");
    s_assert_refused (s_confirm ("abc"), PB_E_INVALID, "token", "a short token");
    char longer[160];
    snprintf (longer, sizeof longer, "%.100sAAAA", token);
    s_assert_refused (s_confirm (longer), PB_E_INVALID, "token", "a token with more bytes");
    cr_assert_eq (s_count ("SELECT count(*) FROM subscription", NULL), 0);

    //  The mailed token confirms, ten seconds later.
    s_clock_ms (t0 + 10000);
    answer = s_confirm (token);
    cr_assert_eq (answer->reply.status, PB_OK, "confirm: %s", pbtest_describe (answer));
    const pb_subscription_t *made = &answer->subscription;
    cr_assert_str_eq (pbtest_text (made->email, text, sizeof text), email);
    cr_assert_str_eq (pbtest_text (made->query, text, sizeof text), "");
    cr_assert_eq (made->categories.count, 2);
    cr_assert (pb_str_eq (made->categories.items[0], "cs.PL") &&
               pb_str_eq (made->categories.items[1], "cs.LO"));
    cr_assert_eq (made->authors.count, 0);
    cr_assert_eq (made->trending, 5);
    cr_assert_str_eq (pbtest_text (made->cadence, text, sizeof text), "daily");
    cr_assert_eq (made->hour, 7);
    cr_assert_str_eq (pbtest_text (made->time_zone, text, sizeof text), "Europe/Paris");
    pbtest_answer_free (&answer);
    cr_assert_eq (s_count ("SELECT count(*) FROM subscription WHERE email = $1 "
                           "AND categories = '{cs.PL,cs.LO}' AND trending_top = 5 "
                           "AND cadence = 'daily' AND send_hour = 7 "
                           "AND time_zone = 'Europe/Paris' AND bouncing_since IS NULL",
                           email),
                  1, "the subscription is not as asked");
    cr_assert_eq (s_count ("SELECT (extract (epoch FROM confirmed_at) * 1000)::bigint "
                           "FROM subscription WHERE email = $1",
                           email),
                  t0 + 10000);

    //  Following the link again, later, is harmless: the same answer, no
    //  second subscription, the first confirmation time kept.
    s_clock_ms (t0 + 20000);
    answer = s_confirm (token);
    cr_assert_eq (answer->reply.status, PB_OK, "confirm again: %s", pbtest_describe (answer));
    cr_assert_str_eq (pbtest_text (answer->subscription.email, text, sizeof text), email);
    cr_assert_eq (answer->subscription.trending, 5);
    cr_assert_eq (answer->subscription.hour, 7);
    cr_assert_eq (answer->subscription.categories.count, 2);
    pbtest_answer_free (&answer);
    cr_assert_eq (s_count ("SELECT count(*) FROM subscription", NULL), 1);
    cr_assert_eq (s_count ("SELECT (extract (epoch FROM confirmed_at) * 1000)::bigint "
                           "FROM subscription WHERE email = $1",
                           email),
                  t0 + 10000, "confirming again moved the confirmation time");

    //  A link followed after PAPERBUS_NOTIFY_CONFIRM_TTL_S no longer works.
    const char *late = "late.reader@example.org";
    answer = s_subscribe (SUBSCRIBE (.email = late, .trending = 3));
    cr_assert_eq (answer->reply.status, PB_OK, "subscribe: %s", pbtest_describe (answer));
    cr_assert_eq (answer->subscribe.expires_at, t0 + 20000 + CONFIRM_TTL_S * 1000);
    pbtest_answer_free (&answer);
    char late_token[128];
    s_confirmation_token (late, 2, late_token, sizeof late_token);
    cr_assert_str_neq (late_token, token);
    s_clock_ms (t0 + 20000 + CONFIRM_TTL_S * 1000 + 1000);
    s_assert_refused (s_confirm (late_token), PB_E_NOT_FOUND, NULL, "an expired token");
    cr_assert_eq (s_count ("SELECT count(*) FROM subscription WHERE email = $1", late), 0);

    //  Two confirmations were mailed, and nothing else.
    cr_assert_eq (s_wait_mails (3, 500), 2, "a third mail was sent");
    cr_assert_eq (s_log_count ("DATA", 0, NULL), 2);
}

/* ==== What a digest looks like ==== */

#define XSS_TITLE "Attention <script>alert(\"x\")</script> & \"quotes\" is all you need"
#define XSS_TITLE_HTML                                                                             \
    "Attention &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &quot;quotes&quot; is all " \
    "you need"

//  A made-up paper submitted through ingest.submit.
typedef struct {
    const char *id;
    const char *title;
    const char *author;
    const char *abstract;
    const char *category;
    const char *listed;
} made_up_t;

static void s_submit (const made_up_t *papers, size_t count)
{
    cr_assert_leq (count, MAX_PAPERS);
    pb_paper_t records[MAX_PAPERS];
    pb_str_t authors[MAX_PAPERS], categories[MAX_PAPERS];
    for (size_t i = 0; i < count; i++) {
        records[i] = (pb_paper_t){0};
        records[i].id = pb_str (papers[i].id);
        pb_set_present (&records[i], PB_paper_id);
        records[i].title = pb_str (papers[i].title);
        records[i].abstract = pb_str (papers[i].abstract);
        pb_set_present (&records[i], PB_paper_abstract);
        authors[i] = pb_str (papers[i].author);
        records[i].authors = (pb_str_list_t){&authors[i], 1};
        pb_set_present (&records[i], PB_paper_authors);
        categories[i] = pb_str (papers[i].category);
        records[i].categories = (pb_str_list_t){&categories[i], 1};
        pb_set_present (&records[i], PB_paper_categories);
        records[i].listed = pb_str (papers[i].listed);
        pb_set_present (&records[i], PB_paper_listed);
    }
    pbtest_answer_t *answer = pbtest_submit (s_stack.client, &s_body, records, count);
    cr_assert_eq (answer->submit.inserted, (int64_t)count, "ingest.submit: %lld of %zu inserted",
                  (long long)answer->submit.inserted, count);
    pbtest_answer_free (&answer);
}

Test (notify, a_digest_is_clean_mime_with_escaped_titles_and_working_links)
{
    s_load_papers (true);
    made_up_t xss = {"2605.99901v1",
                     XSS_TITLE,
                     "Mallory <img src=\"http://evil.example/x.png\">",
                     "Shows <iframe src=\"https://evil.example/\"></iframe> in an abstract.",
                     "cs.PL",
                     "2026-05-25"};
    s_submit (&xss, 1);
    pbtest_service_start ("index", 1);
    pbtest_service_start ("rank", 1);
    char trending[TRENDING][32];
    s_wait_trending (TRENDING, trending);
    s_wait_indexed ("2605.99901");
    s_catcher_start (NULL);
    s_notify_start (1);
    const char *email = "reader@example.org";
    const char *categories[] = {"cs.PL", NULL};
    s_subscribe_confirmed (
        SUBSCRIBE (.email = email, .categories = categories, .trending = TRENDING), 1);
    cr_assert_eq (s_run (true), 1);
    s_wait_jobs_done (20000);
    int64_t job =
        s_count ("SELECT id FROM mail_job WHERE kind = 'digest' AND state = 'sent'", NULL);
    int64_t papers = s_count_id ("SELECT papers FROM mail_job WHERE id = $1", job);
    cr_assert_gt (papers, TRENDING, "the digest holds %lld papers: no cs.PL paper",
                  (long long)papers);
    cr_assert_eq (s_count_id ("SELECT count(*) FROM digest_paper WHERE job_id = $1", job), papers);
    cr_assert_eq (s_count_id ("SELECT count(*) FROM digest_paper WHERE job_id = $1 "
                              "AND paper_id = '2605.99901'",
                              job),
                  1, "the paper with the HTML title is not in the digest");
    for (size_t i = 0; i < TRENDING; i++)
        cr_assert_eq (
            s_count ("SELECT count(*) FROM digest_paper WHERE paper_id = $1", trending[i]), 1,
            "trending paper %s is not in the digest", trending[i]);

    json_t *mails = s_mailbox (2, 10000);
    cr_assert_eq (json_array_size (mails), 2, "%zu mails, want a confirmation and a digest",
                  json_array_size (mails));
    json_t *digest;
    cr_assert_eq (s_mails_to (mails, email, true, &digest), 1);
    s_assert_clean_mime (digest);
    cr_assert_str_eq (s_header (digest, "to", false), email);
    cr_assert_str_eq (s_header (digest, "date", false), "Tue, 01 Dec 2026 06:00:00 +0000");

    //  The subject, with its em dash, is RFC 2047 encoded in the file and
    //  decodes to the text.
    char subject[160];
    snprintf (subject, sizeof subject, "paperbus daily \u2014 %lld new papers in cs.PL",
              (long long)papers);
    cr_assert_str_eq (s_header (digest, "subject", false), subject);
    const char *raw_subject = s_header (digest, "subject", true);
    cr_assert (strstr (raw_subject, "=?UTF-8?B?") || strstr (raw_subject, "=?utf-8?"),
               "the raw Subject is not an encoded word: '%s'", raw_subject);
    for (const char *c = raw_subject; *c; c++)
        cr_assert ((unsigned char)*c < 128, "the raw Subject holds 8-bit bytes: '%s'", raw_subject);

    //  Every paper links to PUBLIC_URL/papers/ID in both parts, and the
    //  unsubscribe link is there too.
    s_assert_digest_links (digest, job, NULL);
    char token[128];
    s_unsubscribe_token (digest, token, sizeof token);

    //  The HTML escapes the title, the author and the abstract; the text
    //  shows them as they are.
    const char *html = s_part_text (digest, "text/html");
    const char *text = s_part_text (digest, "text/plain");
    cr_assert (strstr (html, XSS_TITLE_HTML), "the HTML part lacks the escaped title");
    cr_assert (strstr (html, "Mallory &lt;img src=&quot;http://evil.example/x.png&quot;&gt;"),
               "the HTML part lacks the escaped author");
    cr_assert (strstr (html, "&lt;iframe src=&quot;https://evil.example/&quot;&gt;"),
               "the HTML part lacks the escaped abstract");
    cr_assert_null (strcasestr (html, "<script"), "the HTML part holds a raw <script>");
    cr_assert_null (strcasestr (html, "<img"), "the HTML part holds a raw <img>");
    cr_assert_null (strcasestr (html, "<iframe"), "the HTML part holds a raw <iframe>");
    cr_assert (strstr (text, XSS_TITLE), "the text part lacks the title as it is");

    //  digest.sent names the mail.
    sent_events_t *events = s_sent_events ();
    cr_assert_eq (events->count, 1);
    char message_id[300];
    cr_assert_str_eq (pbtest_text (events->items[0].message_id, message_id, sizeof message_id),
                      s_header (digest, "message-id", false));
    cr_assert_eq (events->items[0].job, job);
    cr_assert_eq (events->items[0].papers, papers);
    cr_assert (events->items[0].confirmed);
    char period[16];
    cr_assert_str_eq (pbtest_text (events->items[0].period, period, sizeof period), "2026-12-01");
}

/* ==== Leaving ==== */

Test (notify, one_click_unsubscribe_deletes_the_address_everywhere)
{
    int64_t t0 = s_time ("2026-12-01T06:00:00Z");
    s_load_papers (false);
    pbtest_service_start ("index", 1);
    pbtest_service_start ("rank", 1);
    char trending[TRENDING][32];
    s_wait_trending (TRENDING, trending);
    s_catcher_start (NULL);
    s_notify_start (1);
    //  Alice subscribes through the API (a request and a confirmation
    //  mail), Bob is inserted; both get a digest.
    const char *alice = "alice@example.org", *bob = "bob@example.org";
    s_subscribe_confirmed (SUBSCRIBE (.email = alice, .trending = TRENDING), 1);
    int64_t bob_id = s_insert_subscription (bob, "{}", TRENDING, "daily", 8, "UTC", t0 - HOUR_MS);
    int64_t alice_id = s_count ("SELECT id FROM subscription WHERE email = $1", alice);
    cr_assert_eq (s_run (true), 2);
    s_wait_jobs_done (20000);
    json_t *mails = s_mailbox (3, 10000);
    json_t *alice_digest, *bob_digest;
    cr_assert_eq (s_mails_to (mails, alice, true, &alice_digest), 1);
    cr_assert_eq (s_mails_to (mails, bob, true, &bob_digest), 1);
    char alice_token[128], bob_token[128];
    s_unsubscribe_token (alice_digest, alice_token, sizeof alice_token);
    s_unsubscribe_token (bob_digest, bob_token, sizeof bob_token);
    char prefix[32];
    snprintf (prefix, sizeof prefix, "%lld.", (long long)alice_id);
    cr_assert (strncmp (alice_token, prefix, strlen (prefix)) == 0,
               "Alice's token '%s' does not name subscription %lld", alice_token,
               (long long)alice_id);
    s_json_free (&mails);

    //  Forged tokens: one character of the signature changed, and Bob's
    //  number with Alice's signature.
    const char *rows = "SELECT (SELECT count(*) FROM subscription) * 1000000 "
                       "  + (SELECT count(*) FROM subscription_request) * 10000 "
                       "  + (SELECT count(*) FROM mail_job) * 100 "
                       "  + (SELECT count(*) FROM digest_paper)";
    int64_t before = s_count (rows, NULL);
    char forged[160];
    snprintf (forged, sizeof forged, "%s", alice_token);
    char *signature = strchr (forged, '.') + 1;
    signature[0] = signature[0] == 'A' ? 'B' : 'A';
    s_assert_refused (s_unsubscribe (NULL, forged), PB_E_INVALID, "token",
                      "a signature one character off");
    snprintf (forged, sizeof forged, "%lld%s", (long long)bob_id, strchr (alice_token, '.'));
    s_assert_refused (s_unsubscribe (NULL, forged), PB_E_INVALID, "token",
                      "Bob's number with Alice's signature");
    snprintf (forged, sizeof forged, "0%s", alice_token);
    s_assert_refused (s_unsubscribe (NULL, forged), PB_E_INVALID, "token",
                      "Alice's token with a leading zero");
    s_assert_refused (s_unsubscribe (NULL, "alice"), PB_E_INVALID, "token", "not a token");
    cr_assert_eq (s_count (rows, NULL), before, "a refused token deleted something");

    //  Alice's link deletes her subscription, her request, her mails and
    //  the record of papers she was sent: no row anywhere holds her address.
    pbtest_answer_t *answer = s_unsubscribe (NULL, alice_token);
    cr_assert_eq (answer->reply.status, PB_OK, "unsubscribe: %s", pbtest_describe (answer));
    cr_assert (answer->unsubscribe.removed);
    pbtest_answer_free (&answer);
    const char *holding =
        "SELECT coalesce (sum ((xpath ('/row/c/text()', query_to_xml (format ("
        "  'SELECT count(*) AS c FROM %I t WHERE strpos (t::text, %L) > 0', table_name, $1::text),"
        "  false, true, '')))[1]::text::int), 0) "
        "  + (SELECT count(*) FROM event_log WHERE position (convert_to ($1, 'UTF8') IN payload) > "
        "0) "
        "FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE "
        "TABLE'";
    cr_assert_eq (s_count (holding, alice), 0, "rows still hold %s", alice);
    cr_assert_eq (
        s_count_id ("SELECT count(*) FROM digest_paper WHERE subscription_id = $1", alice_id), 0);
    cr_assert_eq (s_count ("SELECT count(*) FROM mail_handed", NULL), 0);
    //  Bob's things are untouched.
    cr_assert_eq (
        s_count_id ("SELECT count(*) FROM digest_paper WHERE subscription_id = $1", bob_id),
        TRENDING);
    cr_assert_eq (s_count ("SELECT count(*) FROM mail_job WHERE email = $1", bob), 1);
    //  Following the link again: nothing left to delete, not an error.
    answer = s_unsubscribe (NULL, alice_token);
    cr_assert_eq (answer->reply.status, PB_OK, "unsubscribe again: %s", pbtest_describe (answer));
    cr_assert_not (answer->unsubscribe.removed);
    pbtest_answer_free (&answer);

    //  `paperctl unsubscribe EMAIL` names the address (case does not matter).
    answer = s_unsubscribe ("Bob@Example.ORG", NULL);
    cr_assert_eq (answer->reply.status, PB_OK, "unsubscribe: %s", pbtest_describe (answer));
    cr_assert (answer->unsubscribe.removed);
    pbtest_answer_free (&answer);
    cr_assert_eq (s_count (holding, bob), 0, "rows still hold %s", bob);
    cr_assert_eq (s_count ("SELECT count(*) FROM digest_paper", NULL), 0);
    answer = s_unsubscribe (bob, NULL);
    cr_assert_eq (answer->reply.status, PB_OK);
    cr_assert_not (answer->unsubscribe.removed);
    pbtest_answer_free (&answer);
    //  Bob's link, signed for a subscription that is gone: nothing to do.
    answer = s_unsubscribe (NULL, bob_token);
    cr_assert_eq (answer->reply.status, PB_OK, "Bob's link: %s", pbtest_describe (answer));
    cr_assert_not (answer->unsubscribe.removed);
    pbtest_answer_free (&answer);

    //  A request not yet confirmed goes too, and its link stops working.
    const char *dora = "dora@example.org";
    answer = s_subscribe (SUBSCRIBE (.email = dora, .trending = TRENDING));
    cr_assert_eq (answer->reply.status, PB_OK, "subscribe: %s", pbtest_describe (answer));
    pbtest_answer_free (&answer);
    char dora_token[128];
    s_confirmation_token (dora, 4, dora_token, sizeof dora_token);
    answer = s_unsubscribe (dora, NULL);
    cr_assert_eq (answer->reply.status, PB_OK, "unsubscribe: %s", pbtest_describe (answer));
    cr_assert (answer->unsubscribe.removed, "Dora's request was not counted as removed");
    pbtest_answer_free (&answer);
    cr_assert_eq (s_count (holding, dora), 0, "rows still hold %s", dora);
    s_assert_refused (s_confirm (dora_token), PB_E_NOT_FOUND, NULL, "a deleted request's link");
    cr_assert_eq (s_count ("SELECT count(*) FROM subscription", NULL), 0);

    //  The digest.sent events stay: they name subscriptions by number only.
    sent_events_t *events = s_sent_events ();
    cr_assert_eq (events->count, 2);
    cr_assert_eq (s_wait_mails (5, 300), 4, "a mail went out after unsubscribing");
}

/* ==== Bad requests ==== */

Test (notify, bad_subscriptions_get_clear_errors_and_store_nothing)
{
    int64_t t0 = s_time ("2026-12-01T06:00:00Z");
    pbtest_service_start ("index", 1);
    s_catcher_start (NULL);
    s_notify_start (1);

    //  Addresses.
    char long_local[128], too_long[300];
    snprintf (long_local, sizeof long_local, "%065d@example.org", 0);
    memset (too_long, 'a', 243);
    snprintf (too_long + 243, sizeof too_long - 243, "@example.org"); //  255 bytes
    const struct {
        const char *email;
        int code;
    } addresses[] = {
        {"reader.example.org", PB_E_INVALID},
        {"a@b@example.org", PB_E_INVALID},
        {"a b@example.org", PB_E_INVALID},
        {" reader@example.org", PB_E_INVALID},
        {"a@b", PB_E_INVALID},
        {"a@example.org\r\nBcc: x@evil.org", PB_E_INVALID},
        {"a@example.org\nBcc: x@evil.org", PB_E_INVALID},
        {"a@example.org\r", PB_E_INVALID},
        {"\"a b\"@example.org", PB_E_INVALID},
        {"r\xc3\xa9sum\xc3\xa9@example.org", PB_E_INVALID},
        {"reader@exa_mple.org", PB_E_INVALID},
        {"reader@-example.org", PB_E_INVALID},
        {"reader@192.168.0.1", PB_E_INVALID},
        {"a..b@example.org", PB_E_INVALID},
        {".a@example.org", PB_E_INVALID},
        {"@example.org", PB_E_INVALID},
        {long_local, PB_E_INVALID},
        //  Over the protocol's limit of 254 bytes: the codec refuses it,
        //  as every string over its limit (PROTOCOL.md: too_large).
        {too_long, PB_E_TOO_LARGE},
    };
    for (size_t i = 0; i < sizeof addresses / sizeof *addresses; i++) {
        char what[400];
        snprintf (what, sizeof what, "address %zu ('%s')", i, addresses[i].email);
        s_assert_refused (s_subscribe (SUBSCRIBE (.email = addresses[i].email)), addresses[i].code,
                          "email", what);
    }

    //  The rest of a request.
    const char *ok = "reader@example.org";
    char long_query[600];
    memset (long_query, 'q', 513);
    long_query[513] = 0;
    const char *crlf_author[] = {"Ada\r\nLovelace", NULL};
    const char *escape_author[] = {"Ada \x1b[31mLovelace", NULL};
    const char *quoted_author[] = {"Ada \" OR au:x", NULL};
    const char *bad_category[] = {"cs LG", NULL};
    const struct {
        subscribe_t request;
        int code;
        const char *word;
    } requests[] = {
        {SUBSCRIBE (.email = ok, .query = "diffusion\r\nBcc: x@evil.org"), PB_E_INVALID, "query"},
        {SUBSCRIBE (.email = ok, .query = "diffusion\x01"), PB_E_INVALID, "query"},
        {SUBSCRIBE (.email = ok, .query = "diffusion\x7f"), PB_E_INVALID, "query"},
        {SUBSCRIBE (.email = ok, .query = long_query), PB_E_TOO_LARGE, "query"},
        {SUBSCRIBE (.email = ok, .query = "since:notadate"), PB_E_INVALID, "query"},
        {SUBSCRIBE (.email = ok, .authors = crlf_author), PB_E_INVALID, "authors"},
        {SUBSCRIBE (.email = ok, .authors = escape_author), PB_E_INVALID, "authors"},
        {SUBSCRIBE (.email = ok, .authors = quoted_author), PB_E_INVALID, "authors"},
        {SUBSCRIBE (.email = ok, .categories = bad_category), PB_E_INVALID, "categories"},
        {SUBSCRIBE (.email = ok, .time_zone = "Mars/Olympus_Mons"), PB_E_INVALID, "time_zone"},
        {SUBSCRIBE (.email = ok, .time_zone = "UTC'; DROP TABLE subscription; --"), PB_E_INVALID,
         "time_zone"},
        {SUBSCRIBE (.email = ok, .hour = 24), PB_E_INVALID, "hour"},
        {SUBSCRIBE (.email = ok, .cadence = "hourly"), PB_E_INVALID, "cadence"},
        {SUBSCRIBE (.email = ok, .trending = 0), PB_E_INVALID, "trending"},
        {SUBSCRIBE (.email = ok, .trending = 51), PB_E_INVALID, "trending"},
    };
    for (size_t i = 0; i < sizeof requests / sizeof *requests; i++) {
        char what[64];
        snprintf (what, sizeof what, "request %zu (%s)", i, requests[i].word);
        s_assert_refused (s_subscribe (requests[i].request), requests[i].code, requests[i].word,
                          what);
    }
    //  Nothing of them is stored, so nothing can be mailed.
    cr_assert_eq (s_count ("SELECT count(*) FROM subscription_request", NULL), 0);
    cr_assert_eq (s_count ("SELECT count(*) FROM mail_job", NULL), 0);
    cr_assert_eq (s_count ("SELECT count(*) FROM subscription", NULL), 0);

    //  Five confirmation mails an hour to one address, then rate_limited,
    //  however the address is spelled.
    const char *flood = "flood@example.org";
    const char *spellings[] = {"flood@example.org", "Flood@example.org", "FLOOD@example.org",
                               "flood@Example.org", "flood@EXAMPLE.ORG"};
    for (size_t i = 0; i < 5; i++) {
        pbtest_answer_t *answer = s_subscribe (SUBSCRIBE (.email = spellings[i], .trending = 3));
        cr_assert_eq (answer->reply.status, PB_OK, "request %zu for %s: %s", i + 1, spellings[i],
                      pbtest_describe (answer));
        pbtest_answer_free (&answer);
    }
    s_assert_refused (s_subscribe (SUBSCRIBE (.email = "fLoOd@example.org", .trending = 3)),
                      PB_E_RATE_LIMITED, flood, "a sixth request within the hour");
    cr_assert_eq (s_count ("SELECT count(*) FROM subscription_request WHERE email = $1", flood), 5);
    cr_assert_eq (s_count ("SELECT count(*) FROM mail_job", NULL), 5);
    cr_assert_eq (s_wait_mails (5, 10000), 5);
    cr_assert_eq (s_wait_mails (6, 500), 5, "a sixth mail went out");
    json_t *mails = s_mailbox (5, 1000);
    cr_assert_eq (s_mails_to (mails, flood, false, NULL), 5);
    s_json_free (&mails);
    cr_assert_eq (s_log_count ("DATA", 0, NULL), 5);

    //  An hour later, one more may go.
    s_clock_ms (t0 + HOUR_MS + 1000);
    pbtest_answer_t *answer = s_subscribe (SUBSCRIBE (.email = flood, .trending = 3));
    cr_assert_eq (answer->reply.status, PB_OK, "an hour later: %s", pbtest_describe (answer));
    pbtest_answer_free (&answer);
    cr_assert_eq (s_wait_mails (6, 10000), 6);
}

/* ==== When the mail server says no ==== */

//  Starts index and rank on the Hugging Face papers, waits for the
//  trending top, then starts the catcher with OPTIONS.
static void s_trending_stack (const char *const *options)
{
    s_load_papers (false);
    pbtest_service_start ("index", 1);
    pbtest_service_start ("rank", 1);
    char trending[TRENDING][32];
    s_wait_trending (TRENDING, trending);
    s_catcher_start (options);
}

Test (notify, a_temporary_failure_is_retried_and_the_digest_arrives_once)
{
    int64_t t0 = s_time ("2026-12-01T06:00:00Z");
    s_trending_stack ((const char *[]){"--temporary-failures", "1", NULL});
    const char *email = "patient@example.org";
    int64_t id = s_insert_subscription (email, "{}", TRENDING, "daily", 8, "UTC", t0 - HOUR_MS);
    s_notify_start (1);
    cr_assert_eq (s_run (true), 1);

    //  The first DATA gets 451: the digest waits PAPERBUS_NOTIFY_RETRY_MS.
    cr_assert_eq (s_wait_count ("SELECT count(*) FROM mail_job WHERE state = 'queued' "
                                "AND attempts = 1 AND last_error LIKE '%451%'",
                                NULL, 1, 10000),
                  1, "the digest was not put back after the 451");
    pb_notify_status_reply_t status = s_status (0);
    cr_assert_eq (status.retrying, 1);
    cr_assert_eq (status.queued, 0);
    cr_assert_eq (s_mail_count (), 0);
    cr_assert_eq (s_count ("SELECT count(*) FROM mail_handed", NULL), 0,
                  "the refused attempt's mark stayed");

    //  Once the retry is due, the digest goes, once.
    s_clock_ms (t0 + 1000);
    s_wait_jobs_done (10000);
    cr_assert_eq (s_count_id ("SELECT count(*) FROM mail_job WHERE subscription_id = $1 "
                              "AND state = 'sent' AND attempts = 2 AND last_error IS NULL",
                              id),
                  1, "the digest is not sent at the second attempt");
    cr_assert_eq (s_wait_mails (1, 5000), 1);
    s_clock_ms (t0 + HOUR_MS);
    cr_assert_eq (s_wait_mails (2, 1000), 1, "the digest arrived twice");
    cr_assert_eq (s_log_count ("DATA", 451, email), 1);
    cr_assert_eq (s_log_count ("DATA", 250, email), 1);

    json_t *mails = s_mailbox (1, 1000);
    json_t *mail = json_array_get (mails, 0);
    cr_assert_str_eq (s_header (mail, "to", false), email);
    const char *message_id = s_header (mail, "message-id", false);
    sent_events_t *events = s_sent_events ();
    cr_assert_eq (events->count, 1, "%zu digest.sent events", events->count);
    char text[300];
    cr_assert_str_eq (pbtest_text (events->items[0].message_id, text, sizeof text), message_id);
    cr_assert_eq (events->items[0].subscription, id);
    cr_assert_eq (events->items[0].papers, TRENDING);
    cr_assert (events->items[0].confirmed);
    //  Both attempts carried the same Message-ID, so a receiver can tell a
    //  retry from a new mail.
    char *log = pbtest_read_file (s_mail_log, NULL);
    char quoted[320];
    snprintf (quoted, sizeof quoted, "\"message_id\": \"%s\"", message_id);
    char *first = strstr (log, quoted);
    bool twice = first && strstr (first + 1, quoted);
    free (log);
    cr_assert (twice, "the retry's Message-ID differs from the first attempt's");
}

Test (notify, a_refused_address_bounces_and_is_mailed_no_more)
{
    int64_t t0 = s_time ("2026-12-01T06:00:00Z");
    s_trending_stack ((const char *[]){"--reject-rcpt", "^bounce@example\\.org$", NULL});
    const char *bounce = "bounce@example.org", *fine = "fine@example.org";
    int64_t bounce_id =
        s_insert_subscription (bounce, "{}", TRENDING, "daily", 8, "UTC", t0 - HOUR_MS);
    int64_t fine_id = s_insert_subscription (fine, "{}", TRENDING, "daily", 8, "UTC", t0 - HOUR_MS);
    s_notify_start (1);
    cr_assert_eq (s_run (true), 2);
    s_wait_jobs_done (20000);

    //  550 to RCPT: bounced at once, and the address marked.
    cr_assert_eq (s_count_id ("SELECT count(*) FROM mail_job WHERE subscription_id = $1 "
                              "AND state = 'bounced' AND attempts = 1 AND last_error LIKE '%550%'",
                              bounce_id),
                  1, "the refused digest is not bounced");
    cr_assert_eq (s_count_id ("SELECT (extract (epoch FROM bouncing_since) * 1000)::bigint "
                              "FROM subscription WHERE id = $1",
                              bounce_id),
                  t0, "bouncing_since is not the time of the bounce");
    cr_assert_eq (s_count_id ("SELECT count(*) FROM subscription WHERE id = $1 "
                              "AND bounce_reason LIKE '%550%'",
                              bounce_id),
                  1);
    cr_assert_eq (s_count_id ("SELECT count(*) FROM mail_job WHERE subscription_id = $1 "
                              "AND state = 'sent'",
                              fine_id),
                  1);
    cr_assert_eq (
        s_count_id ("SELECT count(*) FROM digest_paper WHERE subscription_id = $1", bounce_id), 0,
        "papers are recorded as sent to the bounced address");
    cr_assert_eq (s_log_count ("RCPT", 550, bounce), 1);
    cr_assert_eq (s_log_count ("DATA", 0, bounce), 0);
    cr_assert_eq (s_wait_mails (1, 5000), 1);
    pb_notify_status_reply_t status = s_status (0);
    cr_assert_eq (status.bouncing, 1);
    cr_assert_eq (status.bounced, 1);

    //  The next day, after the hour: the scheduler's run queues the others
    //  (a newcomer gets its digest), never the bounced address.
    s_clock_ms (t0 + DAY_MS + 3 * HOUR_MS);
    const char *newcomer = "newcomer@example.org";
    int64_t newcomer_id = s_insert_subscription (newcomer, "{}", TRENDING, "daily", 8, "UTC",
                                                 t0 + DAY_MS - 6 * HOUR_MS);
    cr_assert_eq (s_run (false), 2);
    cr_assert_eq (
        s_count_id ("SELECT count(*) FROM mail_job WHERE subscription_id = $1", bounce_id), 1,
        "a digest was queued for the bounced address");
    s_wait_jobs_done (20000);
    cr_assert_eq (s_count_id ("SELECT count(*) FROM mail_job WHERE subscription_id = $1 "
                              "AND state = 'sent' AND period = '2026-12-02'",
                              newcomer_id),
                  1);
    cr_assert_eq (s_wait_mails (2, 5000), 2);
    json_t *mails = s_mailbox (2, 1000);
    cr_assert_eq (s_mails_to (mails, newcomer, true, NULL), 1);
    cr_assert_eq (s_mails_to (mails, fine, true, NULL), 1);
    cr_assert_eq (s_mails_to (mails, bounce, true, NULL), 0);
    cr_assert_eq (s_log_count ("RCPT", 0, bounce), 1, "the bounced address was tried again");
}

/* ==== Senders that die ==== */

//  The addresses of the jobs whose mark is in mail_handed, joined by
//  spaces, in OUT; returns how many.
static size_t s_handed (char *out, size_t size)
{
    PGresult *result = pb_db_query (s_stack.db,
                                    "SELECT j.email FROM mail_handed h JOIN mail_job j "
                                    "ON j.id = h.job_id ORDER BY j.email",
                                    &(pb_db_params_t){0});
    cr_assert (result, "%s", pb_db_error (s_stack.db));
    size_t count = (size_t)PQntuples (result), used = 0;
    out[0] = 0;
    for (size_t i = 0; i < count && used < size; i++)
        used += (size_t)snprintf (out + used, size - used, "%s%s", i ? " " : "",
                                  PQgetvalue (result, (int)i, 0));
    PQclear (result);
    return count;
}

Test (notify, a_notify_killed_mid_run_sends_each_digest_once)
{
    int64_t t0 = s_time ("2026-12-01T06:00:00Z");
    //  The killed process holds the scheduler lease until it expires (three
    //  ticks): short ticks, so that the new process takes over soon.
    setenv ("PAPERBUS_NOTIFY_SCHEDULE_MS", "500", 1);
    s_trending_stack ((const char *[]){"--delay-ms", "30", NULL});
    s_insert_readers ("reader", 60, t0 - HOUR_MS);
    pid_t notify = s_notify_start (1);
    cr_assert_eq (s_run (true), 60);

    //  Once some mails are stored, SIGKILL while both senders wait for the
    //  server's answer to a mail it has stored (their marks committed), so
    //  that every digest must arrive exactly once. (A sender that dies
    //  after its mark is committed and before its final dot is sent loses
    //  that digest by design, at most once: see the next test.)
    int64_t started = zclock_mono ();
    size_t stored = 0;
    char handed[600];
    while (true) {
        cr_assert_lt (zclock_mono () - started, 20000,
                      "after 20 s, %zu mails stored and never both senders waiting on one", stored);
        stored = s_mail_count ();
        cr_assert_lt (stored, 60, "every digest went before the kill");
        if (stored >= 10 && s_handed (handed, sizeof handed) == 2) {
            char *second = strchr (handed, ' ');
            *second = 0;
            if (s_log_count ("DATA", 250, handed) == 1 &&
                s_log_count ("DATA", 250, second + 1) == 1)
                break;
        }
        zclock_sleep (1);
    }
    s_notify_kill (notify, 0);
    size_t stored_at_kill = s_mail_count ();
    cr_assert_lt (stored_at_kill, 60);
    size_t marked = s_handed (handed, sizeof handed);
    cr_assert_geq (marked, 1, "no mark survived the kill");
    int64_t sent_at_kill = s_count ("SELECT count(*) FROM mail_job WHERE state = 'sent'", NULL);
    cr_assert_lt (sent_at_kill, 60);
    cr_log_info ("killed with %zu mails stored, %lld recorded sent, %zu marked", stored_at_kill,
                 (long long)sent_at_kill, marked);

    //  A new process finishes the run; running it again queues nothing.
    s_notify_start (1);
    cr_assert_eq (s_run (true), 0, "the run again queued digests of a period already queued");
    s_wait_jobs_done (30000);
    cr_assert_eq (s_wait_mails (61, 1000), 60, "more than 60 mails");
    json_t *mails = s_mailbox (60, 1000);
    s_assert_one_digest_each (mails, "reader", 60);
    cr_assert_eq (s_log_count ("DATA", 250, NULL), 60);

    //  One sent job per subscriber, no mark left, one event each; the
    //  marked ones are counted as sent without the server's answer.
    cr_assert_eq (
        s_count ("SELECT count(*) FROM subscription s WHERE (SELECT count(*) "
                 "FROM mail_job j WHERE j.subscription_id = s.id AND j.state = 'sent') = 1",
                 NULL),
        60);
    cr_assert_eq (s_count ("SELECT count(*) FROM mail_job", NULL), 60);
    cr_assert_eq (s_count ("SELECT count(*) FROM mail_handed", NULL), 0);
    cr_assert_eq (
        s_count ("SELECT count(*) FROM mail_job WHERE last_error LIKE '%counted as sent%'", NULL),
        (int64_t)marked);
    sent_events_t *events = s_sent_events ();
    cr_assert_eq (events->count, 60);
    zhashx_t *subscriptions = zhashx_new ();
    size_t unconfirmed = 0, distinct = 0;
    for (size_t i = 0; i < events->count; i++) {
        char key[32];
        snprintf (key, sizeof key, "%lld", (long long)events->items[i].subscription);
        distinct += zhashx_insert (subscriptions, key, (void *)1) == 0;
        unconfirmed += !events->items[i].confirmed;
    }
    zhashx_destroy (&subscriptions);
    cr_assert_eq (distinct, 60, "digest.sent names %zu subscriptions, not 60", distinct);
    cr_assert_eq (unconfirmed, marked);
}

Test (notify, a_notify_killed_at_any_moment_never_sends_a_digest_twice)
{
    int64_t t0 = s_time ("2026-12-01T06:00:00Z");
    setenv ("PAPERBUS_NOTIFY_SCHEDULE_MS", "500", 1); //  the lease passes on soon
    s_trending_stack ((const char *[]){"--delay-ms", "30", NULL});
    s_insert_readers ("anytime", 40, t0 - HOUR_MS);
    pid_t notify = s_notify_start (1);
    cr_assert_eq (s_run (true), 40);
    //  SIGKILL at a moment the test does not choose: 0 to 36 ms after the
    //  fifth mail is stored (a sender may be composing, in DATA, waiting
    //  for its mark's commit, or for the server's answer).
    cr_assert_geq (s_wait_mails (5, 20000), 5);
    unsigned seed = (unsigned)zclock_usecs ();
    zclock_sleep ((int)(rand_r (&seed) % 37));
    s_notify_kill (notify, 0);
    s_notify_start (1);
    s_wait_jobs_done (30000);

    //  Never twice; one sent job and one digest.sent per subscriber.
    json_t *mails = s_mailbox (40, 2000);
    s_assert_distinct (mails, "to");
    s_assert_distinct (mails, "message-id");
    cr_assert_eq (
        s_count ("SELECT count(*) FROM subscription s WHERE (SELECT count(*) "
                 "FROM mail_job j WHERE j.subscription_id = s.id AND j.state = 'sent') = 1",
                 NULL),
        40);
    sent_events_t *events = s_sent_events ();
    cr_assert_eq (events->count, 40);
    //  A digest missing from the mailbox may only be one whose mark was
    //  committed before the kill and whose final dot never went: counted
    //  as sent without the server's answer (README, Exactly once).
    size_t missing = 0, unconfirmed = 0;
    for (int64_t n = 1; n <= 40; n++) {
        char address[64];
        snprintf (address, sizeof address, "anytime%lld@example.org", (long long)n);
        if (s_mails_to (mails, address, true, NULL) == 1)
            continue;
        missing++;
        cr_assert_eq (s_count ("SELECT count(*) FROM mail_job WHERE email = $1 "
                               "AND last_error LIKE '%counted as sent%'",
                               address),
                      1, "the digest to %s is lost, and not as a mark without an outcome", address);
    }
    for (size_t i = 0; i < events->count; i++)
        unconfirmed += !events->items[i].confirmed;
    cr_assert_leq (missing, unconfirmed);
    cr_assert_leq (missing, 2, "more digests lost than there are senders");
    if (missing)
        cr_log_warn ("the kill lost %zu digest(s) between a committed mark and the final dot",
                     missing);
}

Test (notify, a_notify_killed_after_the_final_dot_never_sends_again)
{
    int64_t t0 = s_time ("2026-12-01T06:00:00Z");
    setenv ("PAPERBUS_NOTIFY_SCHEDULE_MS", "500", 1); //  the lease passes on soon
    //  The catcher stores the message, then waits 3 s before its 250.
    s_trending_stack ((const char *[]){"--delay-ms", "3000", NULL});
    const char *email = "slow@example.org";
    int64_t id = s_insert_subscription (email, "{}", TRENDING, "daily", 8, "UTC", t0 - HOUR_MS);
    pid_t notify = s_notify_start (1);
    cr_assert_eq (s_run (true), 1);
    int64_t job = s_count_id ("SELECT id FROM mail_job WHERE subscription_id = $1", id);
    cr_assert_eq (s_wait_count ("SELECT count(*) FROM mail_handed", NULL, 1, 10000), 1,
                  "no mark before the final dot");
    cr_assert_eq (s_wait_mails (1, 2000), 1, "the catcher did not store the mail");
    s_notify_kill (notify, 0);
    cr_assert_eq (s_count_id ("SELECT count(*) FROM mail_job WHERE id = $1 AND state = 'queued' "
                              "AND attempts = 0",
                              job),
                  1, "the outcome was recorded before the server's answer");
    cr_assert_eq (s_count_id ("SELECT count(*) FROM mail_handed WHERE job_id = $1 "
                              "AND cardinality (paper_ids) = 3",
                              job),
                  1);

    //  A new process finds the mark and records the digest sent, unconfirmed.
    s_notify_start (1);
    cr_assert_eq (
        s_wait_count ("SELECT count(*) FROM mail_job WHERE state = 'sent'", NULL, 1, 10000), 1,
        "the marked job is not recorded sent");
    cr_assert_eq (s_count_id ("SELECT count(*) FROM mail_job WHERE id = $1 AND attempts = 1 "
                              "AND papers = 3 AND last_error LIKE '%counted as sent%'",
                              job),
                  1);
    cr_assert_eq (s_count ("SELECT count(*) FROM mail_handed", NULL), 0);
    cr_assert_eq (s_count_id ("SELECT count(*) FROM digest_paper WHERE job_id = $1", job), 3);
    json_t *mails = s_mailbox (1, 1000);
    sent_events_t *events = s_sent_events ();
    cr_assert_eq (events->count, 1);
    cr_assert_not (events->items[0].confirmed, "digest.sent says the server confirmed it");
    cr_assert_eq (events->items[0].job, job);
    cr_assert_eq (events->items[0].papers, 3);
    char message_id[300];
    cr_assert_str_eq (pbtest_text (events->items[0].message_id, message_id, sizeof message_id),
                      s_header (json_array_get (mails, 0), "message-id", false));

    //  However long the wait and whatever the clock says, no second copy.
    s_clock_ms (t0 + HOUR_MS);
    cr_assert_eq (s_run (true), 0);
    cr_assert_eq (s_wait_mails (2, 4000), 1, "the catcher received a second copy");
    cr_assert_eq (s_log_count ("DATA", 0, NULL), 1);
}

Test (notify, an_answer_that_never_comes_after_the_final_dot_counts_as_sent)
{
    int64_t t0 = s_time ("2026-12-01T06:00:00Z");
    //  The catcher stores the message and answers after 3 s; notify gives
    //  up waiting after 1 s (twice PAPERBUS_SMTP_TIMEOUT_MS).
    setenv ("PAPERBUS_SMTP_TIMEOUT_MS", "500", 1);
    s_trending_stack ((const char *[]){"--delay-ms", "3000", NULL});
    const char *email = "unanswered@example.org";
    int64_t id = s_insert_subscription (email, "{}", TRENDING, "daily", 8, "UTC", t0 - HOUR_MS);
    s_notify_start (1);
    cr_assert_eq (s_run (true), 1);
    cr_assert_eq (
        s_wait_count ("SELECT count(*) FROM mail_job WHERE state <> 'queued'", NULL, 1, 10000), 1,
        "the digest is not done after 10 s");
    cr_assert_eq (s_count_id ("SELECT count(*) FROM mail_job WHERE subscription_id = $1 "
                              "AND state = 'sent' AND attempts = 1 "
                              "AND last_error LIKE '%counted as sent%'",
                              id),
                  1, "a complete message without an answer is not counted as sent");
    cr_assert_eq (s_count ("SELECT count(*) FROM mail_handed", NULL), 0);
    sent_events_t *events = s_sent_events ();
    cr_assert_eq (events->count, 1);
    cr_assert_not (events->items[0].confirmed, "digest.sent says the server confirmed it");
    //  Never sent again.
    s_clock_ms (t0 + HOUR_MS);
    cr_assert_eq (s_wait_mails (2, 1500), 1, "the catcher received a second copy");
    cr_assert_eq (s_log_count ("DATA", 0, NULL), 1);
}

/* ==== Several processes ==== */

Test (notify, two_schedulers_and_concurrent_runs_queue_each_period_once)
{
    int64_t t0 = s_time ("2026-12-01T06:00:00Z");
    setenv ("PAPERBUS_NOTIFY_SCHEDULE_MS", "100", 1);
    setenv ("PAPERBUS_NOTIFY_SENDERS", "2", 1);
    s_trending_stack (NULL);
    s_insert_readers ("early", 40, t0 - HOUR_MS); //  daily at 08:00 UTC
    //  Both schedulers tick before the hour: nothing is due.
    s_clock_ms (t0 + 2 * HOUR_MS - 1000);
    pid_t first = s_notify_start (1);
    pid_t second = s_notify_start (2);
    zclock_sleep (400);
    cr_assert_eq (s_count ("SELECT count(*) FROM mail_job", NULL), 0, "queued before the hour");

    //  08:00: due at the lease holder's next tick, and asked for by two
    //  clients at once, with and without --now, while it ticks.
    for (int i = 0; i < 2; i++) {
        s_extra_clients[i] = pb_client_new (s_stack.config);
        cr_assert (s_extra_clients[i]);
    }
    msgpack_sbuffer bodies[2];
    msgpack_sbuffer_init (&bodies[0]);
    msgpack_sbuffer_init (&bodies[1]);
    s_run_body (&bodies[0], false);
    s_run_body (&bodies[1], true);
    s_clock_ms (t0 + 2 * HOUR_MS + 1000);
    size_t sent = 0;
    for (int round = 0; round < 5; round++)
        for (int c = 0; c < 2; c++) {
            msgpack_sbuffer *body = &bodies[(round + c) % 2];
            sent += pb_client_send (s_extra_clients[c], "notify.run", body->data, body->size) > 0;
        }
    msgpack_sbuffer_destroy (&bodies[0]);
    msgpack_sbuffer_destroy (&bodies[1]);
    cr_assert_eq (sent, 10);
    int64_t runs[10];
    size_t run_count = 0;
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < 5; i++) {
            pb_reply_t reply = {0};
            cr_assert_eq (pb_client_recv (s_extra_clients[c], 5000, &reply), 0,
                          "notify.run %d of client %d: no reply", i, c);
            int status = reply.status;
            pb_digests_run_reply_t run = {0};
            pb_arena_t *arena = pb_arena_new ();
            pb_codec_error_t error;
            int decoded =
                status ? -1
                       : pb_decode (zframe_data (reply.body), zframe_size (reply.body), 1 << 20,
                                    &pb_digests_run_reply_schema, &run, arena, &error);
            pb_arena_destroy (&arena);
            char problem[600];
            snprintf (problem, sizeof problem, "%s", reply.error);
            pb_reply_reset (&reply);
            cr_assert_eq (status, PB_OK, "notify.run: %s", problem);
            cr_assert_eq (decoded, 0);
            runs[run_count++] = run.run;
        }
    for (size_t i = 0; i < run_count; i++) {
        int64_t waited = zclock_mono ();
        while (!s_status (runs[i]).run_done) {
            cr_assert_lt (zclock_mono () - waited, 15000, "run %lld not queued after 15 s",
                          (long long)runs[i]);
            zclock_sleep (POLL_MS);
        }
    }
    cr_assert_eq (s_count ("SELECT count(DISTINCT id) FROM digest_run", NULL), 10);
    cr_assert_leq (s_count ("SELECT sum(queued) FROM digest_run", NULL), 40);

    //  One job per subscriber and period, one mail each.
    cr_assert_eq (s_wait_count ("SELECT count(*) FROM mail_job", NULL, 40, 5000), 40);
    s_wait_jobs_done (30000);
    cr_assert_eq (s_count ("SELECT count(*) FROM (SELECT DISTINCT subscription_id, period "
                           "FROM mail_job WHERE period = '2026-12-01' AND state = 'sent') d",
                           NULL),
                  40);
    cr_assert_eq (s_wait_mails (40, 5000), 40);
    //  Later ticks of both processes queue nothing more.
    s_clock_ms (t0 + 3 * HOUR_MS);
    zclock_sleep (500);
    cr_assert_eq (s_count ("SELECT count(*) FROM mail_job", NULL), 40);
    cr_assert_eq (s_wait_mails (41, 500), 40, "more than 40 mails");
    json_t *mails = s_mailbox (40, 1000);
    s_assert_one_digest_each (mails, "early", 40);

    //  The lease has one holder: one of the two processes.
    cr_assert_eq (s_count ("SELECT count(*) FROM notify_lease", NULL), 1);
    char holder[160], first_pid[32], second_pid[32];
    s_query_text ("SELECT holder FROM notify_lease", NULL, holder, sizeof holder);
    snprintf (first_pid, sizeof first_pid, ":%d:", (int)first);
    snprintf (second_pid, sizeof second_pid, ":%d:", (int)second);
    cr_assert (strstr (holder, first_pid) || strstr (holder, second_pid),
               "the lease holder '%s' is neither notify process", holder);
}

Test (notify, four_senders_in_two_processes_mail_two_hundred_readers_once)
{
    int64_t t0 = s_time ("2026-12-01T06:00:00Z");
    setenv ("PAPERBUS_NOTIFY_SENDERS", "2", 1);
    s_trending_stack (NULL);
    s_insert_readers ("many", 200, t0 - HOUR_MS);
    s_notify_start (1);
    s_notify_start (2);
    cr_assert_eq (s_run (true), 200);
    s_wait_jobs_done (60000);
    cr_assert_eq (
        s_count ("SELECT count(*) FROM mail_job WHERE state = 'sent' AND attempts = 1", NULL), 200);
    cr_assert_eq (s_wait_mails (200, 5000), 200);
    cr_assert_eq (s_wait_mails (201, 500), 200, "more than 200 mails");
    json_t *mails = s_mailbox (200, 1000);
    s_assert_one_digest_each (mails, "many", 200);
    cr_assert_eq (s_log_count ("DATA", 250, NULL), 200);
    sent_events_t *events = s_sent_events ();
    cr_assert_eq (events->count, 200);
}

/* ==== Nothing new ==== */

Test (notify, nothing_new_sends_nothing_and_no_paper_goes_twice)
{
    //  The day after the sample listing of 2026-05-25 (three cs.PL papers).
    int64_t t0 = s_time ("2026-05-26T06:00:00Z");
    s_clock_ms (t0);
    s_load_papers (true);
    pbtest_service_start ("index", 1);
    pbtest_service_start ("rank", 1);
    char trending[TRENDING][32];
    s_wait_trending (TRENDING, trending);
    s_catcher_start (NULL);
    const char *email = "steady@example.org";
    int64_t id =
        s_insert_subscription (email, "{cs.PL}", TRENDING, "daily", 8, "UTC", t0 - HOUR_MS);
    s_notify_start (1);

    //  Day 1: the trending top and the cs.PL papers.
    cr_assert_eq (s_run (true), 1);
    s_wait_jobs_done (20000);
    int64_t first_job = s_count_id ("SELECT id FROM mail_job WHERE subscription_id = $1 "
                                    "AND state = 'sent'",
                                    id);
    int64_t first_papers = s_count_id ("SELECT papers FROM mail_job WHERE id = $1", first_job);
    cr_assert_gt (first_papers, TRENDING, "no cs.PL paper in the first digest");
    cr_assert_eq (s_count_id ("SELECT count(*) FROM digest_paper WHERE subscription_id = $1", id),
                  first_papers);
    pb_db_params_t params = {0};
    pb_db_params_int (&params, first_job);
    PGresult *result =
        pb_db_query (s_stack.db, "SELECT paper_id FROM digest_paper WHERE job_id = $1", &params);
    cr_assert (result);
    char sent_ids[32][32];
    const char *excluded[33] = {NULL};
    for (int i = 0; i < PQntuples (result) && i < 32; i++) {
        snprintf (sent_ids[i], sizeof sent_ids[i], "%s", PQgetvalue (result, i, 0));
        excluded[i] = sent_ids[i];
    }
    PQclear (result);
    cr_assert_eq (s_wait_mails (1, 5000), 1);

    //  Day 2, after the hour: the same trending list and nothing new
    //  ingested. The job ends empty and nothing is mailed.
    s_clock_ms (t0 + DAY_MS + 3 * HOUR_MS);
    cr_assert_eq (s_run (false), 1);
    s_wait_jobs_done (20000);
    cr_assert_eq (s_count_id ("SELECT count(*) FROM mail_job WHERE subscription_id = $1 "
                              "AND period = '2026-05-27' AND state = 'empty' AND papers = 0",
                              id),
                  1, "the digest of nothing new is not empty");
    cr_assert_eq (s_count_id ("SELECT count(*) FROM digest_paper WHERE subscription_id = $1", id),
                  first_papers);
    cr_assert_eq (s_wait_mails (2, 500), 1, "a digest of nothing new was mailed");
    cr_assert_eq (s_count ("SELECT count(*) FROM event_log WHERE topic = 'digest.sent'", NULL), 1);

    //  A new cs.PL paper, listed on day 2: day 3's digest holds it alone.
    made_up_t paper = {"2605.99911v1", "Typed holes for program synthesis",
                       "Grace Tester", "A made-up paper for the digest of day 3.",
                       "cs.PL",        "2026-05-27"};
    s_submit (&paper, 1);
    s_wait_indexed ("2605.99911");
    s_clock_ms (t0 + 2 * DAY_MS + 3 * HOUR_MS);
    cr_assert_eq (s_run (false), 1);
    s_wait_jobs_done (20000);
    int64_t third_job = s_count_id ("SELECT id FROM mail_job WHERE subscription_id = $1 "
                                    "AND period = '2026-05-28' AND state = 'sent' AND papers = 1",
                                    id);
    cr_assert_gt (third_job, 0, "day 3's digest is not sent with one paper");
    cr_assert_eq (s_count_id ("SELECT count(*) FROM digest_paper WHERE job_id = $1 "
                              "AND paper_id = '2605.99911'",
                              third_job),
                  1);
    cr_assert_eq (s_wait_mails (2, 5000), 2);
    json_t *mails = s_mailbox (2, 1000);
    sent_events_t *events = s_sent_events ();
    cr_assert_eq (events->count, 2);
    cr_assert_eq (events->items[1].job, third_job);
    char message_id[300];
    json_t *mail = s_mail_with_id (
        mails, pbtest_text (events->items[1].message_id, message_id, sizeof message_id));
    s_assert_clean_mime (mail);
    s_assert_digest_links (mail, third_job, excluded);
    cr_assert_str_eq (s_header (mail, "subject", false),
                      "paperbus daily \u2014 1 new paper in cs.PL");
}

/* ==== The schedule ==== */

//  The periods queued for subscription ID, in order, joined by commas.
static const char *s_periods (int64_t id, char *out, size_t size)
{
    char number[32];
    snprintf (number, sizeof number, "%lld", (long long)id);
    return s_query_text ("SELECT coalesce (string_agg (period::text, ',' ORDER BY period), '') "
                         "FROM mail_job WHERE subscription_id = $1::bigint",
                         number, out, size);
}

Test (notify, digests_are_due_at_their_hour_in_their_time_zone)
{
    //  America/New_York is UTC-5 in December: 08:00 there is 13:00 UTC.
    //  Nothing is mailed: the index is empty, so every digest is empty.
    s_clock_ms (s_time ("2026-12-01T12:00:00Z"));
    pbtest_service_start ("index", 1);
    s_catcher_start (NULL);
    int64_t daily = s_insert_subscription ("daily@example.org", "{cs.PL}", 0, "daily", 8,
                                           "America/New_York", s_time ("2026-11-30T18:00:00Z"));
    int64_t weekly = s_insert_subscription ("weekly@example.org", "{cs.PL}", 0, "weekly", 8,
                                            "America/New_York", s_time ("2026-11-30T18:00:00Z"));
    //  Confirmed on Tuesday after 08:00 UTC, its hour.
    int64_t late = s_insert_subscription ("late@example.org", "{cs.PL}", 0, "daily", 8, "UTC",
                                          s_time ("2026-12-01T10:00:00Z"));
    s_notify_start (1);
    char periods[200];

    //  Tuesday 12:59:59 UTC: not yet.
    s_clock_ms (s_time ("2026-12-01T12:59:59Z"));
    cr_assert_eq (s_run (false), 0, "due before 08:00 in New York");
    //  13:00 UTC: the daily one; the weekly one waits for Monday, the late
    //  one for tomorrow.
    s_clock_ms (s_time ("2026-12-01T13:00:00Z"));
    cr_assert_eq (s_run (false), 1);
    cr_assert_str_eq (s_periods (daily, periods, sizeof periods), "2026-12-01");
    cr_assert_str_eq (s_periods (weekly, periods, sizeof periods), "");
    cr_assert_str_eq (s_periods (late, periods, sizeof periods), "");
    //  Wednesday: the late one at 08:00 UTC, not a second before.
    s_clock_ms (s_time ("2026-12-02T07:59:59Z"));
    cr_assert_eq (s_run (false), 0);
    s_clock_ms (s_time ("2026-12-02T08:00:00Z"));
    cr_assert_eq (s_run (false), 1);
    cr_assert_str_eq (s_periods (late, periods, sizeof periods), "2026-12-02");
    //  Sunday evening: the daily ones, not the weekly one.
    s_clock_ms (s_time ("2026-12-06T20:00:00Z"));
    cr_assert_eq (s_run (false), 2);
    cr_assert_str_eq (s_periods (weekly, periods, sizeof periods), "");
    //  Monday 12:59:59 UTC: still not the weekly one (the late one is due).
    s_clock_ms (s_time ("2026-12-07T12:59:59Z"));
    cr_assert_eq (s_run (false), 1);
    cr_assert_str_eq (s_periods (weekly, periods, sizeof periods), "");
    //  Monday 13:00 UTC: the weekly one, for the week of that Monday.
    s_clock_ms (s_time ("2026-12-07T13:00:00Z"));
    cr_assert_eq (s_run (false), 2);
    cr_assert_str_eq (s_periods (weekly, periods, sizeof periods), "2026-12-07");
    cr_assert_str_eq (s_periods (daily, periods, sizeof periods),
                      "2026-12-01,2026-12-06,2026-12-07");
    //  Tuesday: the daily ones again, the weekly one not.
    s_clock_ms (s_time ("2026-12-08T13:00:00Z"));
    cr_assert_eq (s_run (false), 2);
    cr_assert_str_eq (s_periods (weekly, periods, sizeof periods), "2026-12-07");
    cr_assert_str_eq (s_periods (late, periods, sizeof periods),
                      "2026-12-02,2026-12-06,2026-12-07,2026-12-08");

    //  Confirmed after today's hour: tomorrow, unless run with --now.
    s_clock_ms (s_time ("2026-12-08T14:00:00Z"));
    int64_t eager = s_insert_subscription ("eager@example.org", "{cs.PL}", 0, "daily", 8, "UTC",
                                           s_time ("2026-12-08T13:30:00Z"));
    cr_assert_eq (s_run (false), 0);
    cr_assert_str_eq (s_periods (eager, periods, sizeof periods), "");
    cr_assert_eq (s_run (true), 1, "--now queues more than the new subscription's day");
    cr_assert_str_eq (s_periods (eager, periods, sizeof periods), "2026-12-08");
    cr_assert_eq (s_run (true), 0);

    //  Every one of those digests was empty: nothing was mailed.
    s_wait_jobs_done (20000);
    cr_assert_eq (s_count ("SELECT count(*) FROM mail_job WHERE state <> 'empty'", NULL), 0);
    cr_assert_eq (s_mail_count (), 0);
}

//  Makes a self-signed certificate for 127.0.0.1 in this test's directory.
static void s_certificate (char *certificate, char *key, size_t size)
{
    snprintf (certificate, size, "%s/smtp.crt", s_dir);
    snprintf (key, size, "%s/smtp.key", s_dir);
    char command[768];
    snprintf (command, sizeof command,
              "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
              "-addext subjectAltName=IP:127.0.0.1 -keyout '%s' -out '%s' 2>/dev/null",
              key, certificate);
    cr_assert_eq (pbtest_shell (command), 0, "openssl could not make a certificate");
}

Test (notify, mail_goes_through_starttls_with_a_login_and_a_wrong_password_is_not_a_bounce)
{
    int64_t t0 = s_time ("2026-12-01T06:00:00Z");
    char certificate[256], key[256];
    s_certificate (certificate, key, sizeof certificate);
    s_trending_stack ((const char *[]){"--tls-cert", certificate, "--tls-key", key, "--require-tls",
                                       "--auth", "reader:s3cret", NULL});
    setenv ("PAPERBUS_SMTP_TLS", "require", 1);
    setenv ("PAPERBUS_SMTP_CA_FILE", certificate, 1);
    setenv ("PAPERBUS_SMTP_USER", "reader", 1);
    setenv ("PAPERBUS_SMTP_PASSWORD", "wrong", 1);
    const char *email = "private@example.org";
    int64_t id = s_insert_subscription (email, "{}", TRENDING, "daily", 8, "UTC", t0 - HOUR_MS);

    //  A wrong password is the sender's problem, not the address's: the
    //  mail waits for a retry and the address is not marked bouncing.
    pid_t notify = s_notify_start (1);
    cr_assert_eq (s_run (true), 1);
    cr_assert_eq (s_wait_count ("SELECT count(*) FROM mail_job WHERE state = 'queued' "
                                "AND attempts >= 1",
                                NULL, 1, 10000),
                  1, "the refused login did not put the digest back for a retry");
    cr_assert_eq (s_count_id ("SELECT count(*) FROM subscription WHERE id = $1 "
                              "AND bouncing_since IS NULL",
                              id),
                  1, "a refused login marked the address as bouncing");
    cr_assert_eq (s_mail_count (), 0);
    s_notify_kill (notify, 0);

    //  With the right password, over STARTTLS, the digest goes once.
    setenv ("PAPERBUS_SMTP_PASSWORD", "s3cret", 1);
    s_notify_start (1);
    s_clock_ms (t0 + HOUR_MS);
    s_wait_jobs_done (10000);
    cr_assert_eq (s_wait_mails (1, 5000), 1);
    cr_assert_eq (s_count_id ("SELECT count(*) FROM mail_job WHERE subscription_id = $1 "
                              "AND state = 'sent'",
                              id),
                  1);
    char *log = pbtest_read_file (s_mail_log, NULL);
    cr_assert (log);
    char *accepted = strstr (log, "\"code\": 250");
    cr_assert (accepted, "no accepted mail in the catcher's log: %s", log);
    char *line_end = strchr (accepted, '\n');
    char *line_start = accepted;
    while (line_start > log && line_start[-1] != '\n')
        line_start--;
    char *line =
        strndup (line_start, line_end ? (size_t)(line_end - line_start) : strlen (line_start));
    cr_expect (strstr (line, "\"tls\": true"), "the mail was not sent over TLS: %s", line);
    cr_expect (strstr (line, "\"auth_user\": \"reader\""), "the sender did not log in: %s", line);
    free (line);
    free (log);
}

/* ==== Signing in ==== */

#define SIGNIN_LINK PUBLIC_URL "/signin?token="

//  notify.signin for EMAIL.
static pbtest_answer_t *s_signin (const char *email)
{
    msgpack_packer packer = pbtest_packer (&s_body);
    pb_signin_request_t request = {.email = pb_str (email)};
    pb_encode (&pb_signin_request_schema, &request, &packer);
    return s_call ("notify.signin");
}

//  notify.session with the sign-in TOKEN.
static pbtest_answer_t *s_session_open (const char *token)
{
    msgpack_packer packer = pbtest_packer (&s_body);
    pb_session_open_request_t request = {.token = pb_str (token)};
    pb_encode (&pb_session_open_request_schema, &request, &packer);
    return s_call ("notify.session");
}

//  METHOD (notify.whoami or notify.signout) with SESSION.
static pbtest_answer_t *s_session_check (const char *method, const char *session)
{
    msgpack_packer packer = pbtest_packer (&s_body);
    pb_session_check_request_t request = {.session = pb_str (session)};
    pb_encode (&pb_session_check_request_schema, &request, &packer);
    return s_call (method);
}

//  notify.token for SESSION with LABEL.
static pbtest_answer_t *s_api_token (const char *session, const char *label)
{
    msgpack_packer packer = pbtest_packer (&s_body);
    pb_api_token_request_t request = {.session = pb_str (session), .label = pb_str (label)};
    pb_encode (&pb_api_token_request_schema, &request, &packer);
    return s_call ("notify.token");
}

//  How many rows of PostgreSQL (any table, and the event log's payloads)
//  hold TEXT.
static int64_t s_rows_holding (const char *text)
{
    return s_count (
        "SELECT coalesce (sum ((xpath ('/row/c/text()', query_to_xml (format ("
        "  'SELECT count(*) AS c FROM %I t WHERE strpos (t::text, %L) > 0', table_name, $1::text),"
        "  false, true, '')))[1]::text::int), 0) "
        "  + (SELECT count(*) FROM event_log WHERE position (convert_to ($1, 'UTF8') IN payload) > "
        "0) "
        "FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE "
        "TABLE'",
        text);
}

//  BLAKE2b-256 of the 32 bytes base64url TOKEN holds, in hex, into HEX.
static const char *s_token_hash_hex (const char *token, char hex[65])
{
    unsigned char bytes[32], hash[32];
    size_t decoded = 0;
    cr_assert_eq (sodium_base642bin (bytes, sizeof bytes, token, strlen (token), NULL, &decoded,
                                     NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                  0, "'%s' is not base64url", token);
    cr_assert_eq (decoded, 32, "'%s' is not 32 bytes", token);
    crypto_generichash (hash, sizeof hash, bytes, sizeof bytes, NULL, 0);
    return sodium_bin2hex (hex, 65, hash, sizeof hash);
}

//  Waits for COUNT mails, asserts that EMAIL got SIGNINS sign-in mails
//  (clean MIME, the token only in the link, once in each part) and writes
//  the token of the last one to TOKEN.
static void s_signin_token (const char *email, size_t count, size_t signins, char *token,
                            size_t size)
{
    json_t *mails = s_mailbox (count, 10000);
    json_t *last = NULL;
    size_t found = 0, i;
    json_t *mail;
    json_array_foreach (mails, i, mail)
    {
        const char *to = s_header (mail, "to", false);
        const char *subject = s_header (mail, "subject", false);
        if (to && strcmp (to, email) == 0 && subject &&
            strcmp (subject, "Sign in to paperbus") == 0) {
            last = mail;
            found++;
        }
    }
    cr_assert_eq (found, signins, "%zu sign-in mails to %s, want %zu (%zu mails in all)", found,
                  email, signins, json_array_size (mails));
    s_assert_clean_mime (last);
    cr_assert_null (s_header (last, "list-unsubscribe", false), "a sign-in mail is not a list");
    const char *link = NULL;
    json_array_foreach (json_object_get (last, "links"), i, mail)
    {
        const char *candidate = json_string_value (mail);
        if (strncmp (candidate, SIGNIN_LINK, strlen (SIGNIN_LINK)) == 0)
            link = candidate;
    }
    cr_assert (link, "the sign-in mail has no link to " SIGNIN_LINK "...");
    cr_assert_eq (s_link_count (last, link), 2, "the mail does not link to %s once in each part",
                  link);
    snprintf (token, size, "%s", link + strlen (SIGNIN_LINK));
    cr_assert_eq (strlen (token), 43, "the token '%s' is not 32 bytes in base64url", token);
    //  The token is in the link and nowhere else in the mail.
    const char *parts[] = {"text/plain", "text/html"};
    for (size_t p = 0; p < 2; p++) {
        const char *text = s_part_text (last, parts[p]);
        const char *first = strstr (text, token);
        cr_assert (first && !strstr (first + 1, token), "the %s part holds the token %s times",
                   parts[p], first ? "several" : "no");
        cr_assert (first - text >= (ptrdiff_t)strlen (SIGNIN_LINK) &&
                       strncmp (first - strlen (SIGNIN_LINK), SIGNIN_LINK, strlen (SIGNIN_LINK)) ==
                           0,
                   "the %s part holds the token outside the link", parts[p]);
    }
    s_json_free (&mails);
}

//  Signs EMAIL in through its mail (the COUNT-th stored, its SIGNINS-th
//  sign-in mail) and writes the session to SESSION and the user to USER.
static void s_signed_in (const char *email, size_t count, size_t signins, char session[64],
                         char user[32])
{
    pbtest_answer_t *answer = s_signin (email);
    cr_assert_eq (answer->reply.status, PB_OK, "signin %s: %s", email, pbtest_describe (answer));
    pbtest_answer_free (&answer);
    char token[128];
    s_signin_token (email, count, signins, token, sizeof token);
    answer = s_session_open (token);
    cr_assert_eq (answer->reply.status, PB_OK, "session for %s: %s", email,
                  pbtest_describe (answer));
    cr_assert (pb_has (&answer->session, PB_session_reply_session), "no session in the reply");
    pbtest_text (answer->session.session, session, 64);
    pbtest_text (answer->session.user, user, 32);
    pbtest_answer_free (&answer);
}

Test (notify, a_signin_link_opens_one_session_and_signing_out_closes_it)
{
    cr_assert_geq (sodium_init (), 0);
    int64_t t0 = s_time ("2026-12-01T06:00:00Z");
    setenv ("PAPERBUS_SIGNIN_TTL_S", "600", 1);
    setenv ("PAPERBUS_SESSION_TTL_S", "86400", 1);
    s_catcher_start (NULL);
    s_notify_start (1);
    const char *email = "ada.signin@example.org";
    pbtest_answer_t *answer = s_signin ("Ada.Signin@Example.ORG");
    cr_assert_eq (answer->reply.status, PB_OK, "signin: %s", pbtest_describe (answer));
    char text[300];
    cr_assert_str_eq (pbtest_text (answer->signin.email, text, sizeof text), email);
    cr_assert_eq (answer->signin.expires_in_s, 600);
    pbtest_answer_free (&answer);
    char token[128];
    s_signin_token (email, 1, 1, token, sizeof token);

    //  Once the mail is sent, PostgreSQL holds the token's hash only, and
    //  no account exists before the link is followed.
    cr_assert_eq (s_wait_count ("SELECT count(*) FROM mail_job WHERE kind = 'signin' "
                                "AND state = 'sent' AND email = $1",
                                email, 1, 5000),
                  1, "the sign-in mail is not recorded sent");
    cr_assert_eq (s_count ("SELECT count(*) FROM mail_job WHERE token IS NOT NULL", NULL), 0);
    cr_assert_eq (s_rows_holding (token), 0, "a row of PostgreSQL holds the token %s", token);
    char hex[65], stored[128];
    s_query_text ("SELECT encode (token_hash, 'hex') FROM signin_request WHERE email = $1", email,
                  stored, sizeof stored);
    cr_assert_str_eq (stored, s_token_hash_hex (token, hex));
    cr_assert_eq (s_count ("SELECT count(*) FROM account", NULL), 0);

    //  The link opens a browser session, ten seconds later.
    s_clock_ms (t0 + 10000);
    answer = s_session_open (token);
    cr_assert_eq (answer->reply.status, PB_OK, "session: %s", pbtest_describe (answer));
    const pb_session_reply_t *opened = &answer->session;
    char session[64], user[32], expected_user[32];
    cr_assert (pb_has (opened, PB_session_reply_session));
    pbtest_text (opened->session, session, sizeof session);
    cr_assert_eq (strlen (session), 43, "the session '%s' is not 32 bytes in base64url", session);
    snprintf (expected_user, sizeof expected_user, "u%lld",
              (long long)s_count ("SELECT id FROM account WHERE email = $1", email));
    cr_assert_str_eq (pbtest_text (opened->user, user, sizeof user), expected_user);
    cr_assert_str_eq (pbtest_text (opened->email, text, sizeof text), email);
    cr_assert_str_eq (pbtest_text (opened->kind, text, sizeof text), "browser");
    cr_assert_eq (opened->expires_at, t0 + 10000 + 86400 * 1000LL);
    cr_assert_not (pb_has (opened, PB_session_reply_label));
    pbtest_answer_free (&answer);
    cr_assert_eq (s_rows_holding (session), 0, "a row of PostgreSQL holds the session");
    cr_assert_eq (s_count ("SELECT count(*) FROM account_session WHERE kind = 'browser' "
                           "AND encode (token_hash, 'hex') = $1",
                           s_token_hash_hex (session, hex)),
                  1, "the session is not stored as its hash");

    //  whoami names the holder, without the session.
    answer = s_session_check ("notify.whoami", session);
    cr_assert_eq (answer->reply.status, PB_OK, "whoami: %s", pbtest_describe (answer));
    cr_assert_not (pb_has (&answer->session, PB_session_reply_session));
    cr_assert_str_eq (pbtest_text (answer->session.user, text, sizeof text), user);
    cr_assert_str_eq (pbtest_text (answer->session.email, text, sizeof text), email);
    cr_assert_str_eq (pbtest_text (answer->session.kind, text, sizeof text), "browser");
    cr_assert_eq (answer->session.expires_at, t0 + 10000 + 86400 * 1000LL);
    pbtest_answer_free (&answer);

    //  The link works once.
    s_assert_refused (s_session_open (token), PB_E_NOT_FOUND, "used", "the link a second time");
    cr_assert_eq (s_count ("SELECT count(*) FROM account_session", NULL), 1);

    //  Unsubscribing the address from digests leaves the account be.
    answer = s_unsubscribe (email, NULL);
    cr_assert_eq (answer->reply.status, PB_OK, "unsubscribe: %s", pbtest_describe (answer));
    cr_assert_not (answer->unsubscribe.removed);
    pbtest_answer_free (&answer);
    cr_assert_eq (s_count ("SELECT count(*) FROM account WHERE email = $1", email), 1);
    cr_assert_eq (s_count ("SELECT count(*) FROM account_session", NULL), 1);
    cr_assert_eq (s_count ("SELECT count(*) FROM mail_job WHERE kind = 'signin'", NULL), 1);

    //  Signing in again: the same account, another session.
    char second[64], second_user[32];
    s_signed_in (email, 2, 2, second, second_user);
    cr_assert_str_eq (second_user, user);
    cr_assert_str_neq (second, session);
    cr_assert_eq (s_count ("SELECT count(*) FROM account", NULL), 1);
    cr_assert_eq (s_count ("SELECT count(*) FROM account_session", NULL), 2);

    //  Signing out closes that session only; doing it again is harmless.
    answer = s_session_check ("notify.signout", session);
    cr_assert_eq (answer->reply.status, PB_OK, "signout: %s", pbtest_describe (answer));
    cr_assert (answer->signout.closed);
    pbtest_answer_free (&answer);
    s_assert_refused (s_session_check ("notify.whoami", session), PB_E_NOT_FOUND, "session",
                      "whoami after signing out");
    answer = s_session_check ("notify.signout", session);
    cr_assert_eq (answer->reply.status, PB_OK, "signout again: %s", pbtest_describe (answer));
    cr_assert_not (answer->signout.closed);
    pbtest_answer_free (&answer);
    answer = s_session_check ("notify.whoami", second);
    cr_assert_eq (answer->reply.status, PB_OK, "the other session: %s", pbtest_describe (answer));
    pbtest_answer_free (&answer);
    cr_assert_eq (s_count ("SELECT count(*) FROM account_session", NULL), 1);
    cr_assert_eq (s_wait_mails (3, 500), 2, "a third mail was sent");
}

Test (notify, an_expired_signin_link_or_session_is_refused_and_tidied_away)
{
    int64_t t0 = s_time ("2026-12-01T06:00:00Z");
    setenv ("PAPERBUS_SIGNIN_TTL_S", "1", 1);
    setenv ("PAPERBUS_SESSION_TTL_S", "60", 1);
    setenv ("PAPERBUS_NOTIFY_SCHEDULE_MS", "200", 1); //  tidying often
    s_catcher_start (NULL);
    s_notify_start (1);
    pbtest_answer_t *answer = s_signin ("late@example.org");
    cr_assert_eq (answer->reply.status, PB_OK, "signin: %s", pbtest_describe (answer));
    cr_assert_eq (answer->signin.expires_in_s, 1);
    pbtest_answer_free (&answer);
    char token[128];
    s_signin_token ("late@example.org", 1, 1, token, sizeof token);
    s_clock_ms (t0 + 1000);
    s_assert_refused (s_session_open (token), PB_E_NOT_FOUND, "expired", "a link one second old");
    cr_assert_eq (s_count ("SELECT count(*) FROM account", NULL), 0);
    cr_assert_eq (s_count ("SELECT count(*) FROM account_session", NULL), 0);

    //  A link followed in time opens a session that lasts 60 s.
    s_clock_ms (t0 + 2000);
    char session[64], user[32];
    s_signed_in ("timely@example.org", 2, 1, session, user);
    answer = s_session_check ("notify.whoami", session);
    cr_assert_eq (answer->reply.status, PB_OK, "whoami: %s", pbtest_describe (answer));
    cr_assert_eq (answer->session.expires_at, t0 + 2000 + 60000);
    pbtest_answer_free (&answer);
    s_clock_ms (t0 + 2000 + 60000 + 1);
    s_assert_refused (s_session_check ("notify.whoami", session), PB_E_NOT_FOUND, "expired",
                      "a session past its end");

    //  The scheduler deletes expired sessions, and sign-in requests (with
    //  their mails) once their hour of rate limiting is over.
    cr_assert_eq (s_wait_count ("SELECT count(*) FROM account_session", NULL, 0, 5000), 0,
                  "the expired session is still stored");
    cr_assert_eq (s_count ("SELECT count(*) FROM signin_request", NULL), 2);
    s_clock_ms (t0 + HOUR_MS + 4000);
    cr_assert_eq (s_wait_count ("SELECT count(*) FROM signin_request", NULL, 0, 5000), 0,
                  "expired sign-in requests are still stored");
    cr_assert_eq (s_count ("SELECT count(*) FROM mail_job", NULL), 0);
    cr_assert_eq (s_count ("SELECT count(*) FROM account", NULL), 1, "the account went too");
}

Test (notify, an_api_token_made_from_a_session_says_who_holds_it)
{
    int64_t t0 = s_time ("2026-12-01T06:00:00Z");
    setenv ("PAPERBUS_API_TOKEN_TTL_S", "3600", 1);
    s_catcher_start (NULL);
    s_notify_start (1);
    const char *email = "bot.owner@example.org";
    const char *label = "nightly sync \xe2\x80\x94 laptop";
    char session[64], user[32], api[64], text[300];
    s_signed_in (email, 1, 1, session, user);
    pbtest_answer_t *answer = s_api_token (session, label);
    cr_assert_eq (answer->reply.status, PB_OK, "token: %s", pbtest_describe (answer));
    cr_assert (pb_has (&answer->session, PB_session_reply_session), "no token in the reply");
    pbtest_text (answer->session.session, api, sizeof api);
    cr_assert_eq (strlen (api), 43);
    cr_assert_str_neq (api, session);
    cr_assert_str_eq (pbtest_text (answer->session.kind, text, sizeof text), "api");
    cr_assert_str_eq (pbtest_text (answer->session.user, text, sizeof text), user);
    cr_assert_str_eq (pbtest_text (answer->session.email, text, sizeof text), email);
    cr_assert (pb_has (&answer->session, PB_session_reply_label));
    cr_assert_str_eq (pbtest_text (answer->session.label, text, sizeof text), label);
    cr_assert_eq (answer->session.expires_at, t0 + 3600 * 1000LL);
    pbtest_answer_free (&answer);
    cr_assert_eq (s_rows_holding (api), 0, "a row of PostgreSQL holds the API token");

    answer = s_session_check ("notify.whoami", api);
    cr_assert_eq (answer->reply.status, PB_OK, "whoami: %s", pbtest_describe (answer));
    cr_assert_not (pb_has (&answer->session, PB_session_reply_session));
    cr_assert_str_eq (pbtest_text (answer->session.kind, text, sizeof text), "api");
    cr_assert_str_eq (pbtest_text (answer->session.user, text, sizeof text), user);
    cr_assert_str_eq (pbtest_text (answer->session.label, text, sizeof text), label);
    pbtest_answer_free (&answer);

    //  An API token cannot make another.
    s_assert_refused (s_api_token (api, "successor"), PB_E_INVALID, "API token",
                      "a token made from an API token");
    cr_assert_eq (s_count ("SELECT count(*) FROM account_session", NULL), 2);

    //  Closing the token leaves the session, and a closed session makes none.
    answer = s_session_check ("notify.signout", api);
    cr_assert_eq (answer->reply.status, PB_OK, "signout: %s", pbtest_describe (answer));
    cr_assert (answer->signout.closed);
    pbtest_answer_free (&answer);
    s_assert_refused (s_session_check ("notify.whoami", api), PB_E_NOT_FOUND, "session",
                      "a closed API token");
    answer = s_session_check ("notify.whoami", session);
    cr_assert_eq (answer->reply.status, PB_OK, "the session: %s", pbtest_describe (answer));
    pbtest_answer_free (&answer);
    answer = s_session_check ("notify.signout", session);
    cr_assert_eq (answer->reply.status, PB_OK, "signout: %s", pbtest_describe (answer));
    pbtest_answer_free (&answer);
    s_assert_refused (s_api_token (session, "late"), PB_E_NOT_FOUND, "session",
                      "a token from a closed session");
    cr_assert_eq (s_count ("SELECT count(*) FROM account_session", NULL), 0);
}

Test (notify, bad_signin_requests_get_named_errors_and_store_nothing)
{
    cr_assert_geq (sodium_init (), 0);
    int64_t t0 = s_time ("2026-12-01T06:00:00Z");
    s_catcher_start (NULL);
    s_notify_start (1);
    char too_long[300];
    memset (too_long, 'a', 243);
    snprintf (too_long + 243, sizeof too_long - 243, "@example.org"); //  255 bytes
    const struct {
        const char *email;
        int code;
    } addresses[] = {
        {"", PB_E_INVALID},
        {"reader.example.org", PB_E_INVALID},
        {"a b@example.org", PB_E_INVALID},
        {"a@example.org\r\nBcc: x@evil.org", PB_E_INVALID},
        {"a@b", PB_E_INVALID},
        {"\"a b\"@example.org", PB_E_INVALID},
        {"r\xc3\xa9sum\xc3\xa9@example.org", PB_E_INVALID},
        {"reader@192.168.0.1", PB_E_INVALID},
        {too_long, PB_E_TOO_LARGE},
    };
    for (size_t i = 0; i < sizeof addresses / sizeof *addresses; i++) {
        char what[400];
        snprintf (what, sizeof what, "address %zu ('%s')", i, addresses[i].email);
        s_assert_refused (s_signin (addresses[i].email), addresses[i].code, "email", what);
    }
    //  Well-formed, but never mailed.
    unsigned char bytes[32];
    char unknown[64];
    randombytes_buf (bytes, sizeof bytes);
    sodium_bin2base64 (unknown, sizeof unknown, bytes, sizeof bytes,
                       sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    s_assert_refused (s_session_open (""), PB_E_INVALID, "token", "an empty token");
    s_assert_refused (s_session_open ("not a token!"), PB_E_INVALID, "token", "a malformed token");
    s_assert_refused (s_session_open (unknown), PB_E_NOT_FOUND, "unknown", "an unknown token");
    s_assert_refused (s_session_check ("notify.whoami", ""), PB_E_INVALID, "session",
                      "whoami, an empty session");
    s_assert_refused (s_session_check ("notify.whoami", "short"), PB_E_INVALID, "session",
                      "whoami, a malformed session");
    s_assert_refused (s_session_check ("notify.whoami", unknown), PB_E_NOT_FOUND, "session",
                      "whoami, an unknown session");
    s_assert_refused (s_session_check ("notify.signout", ""), PB_E_INVALID, "session",
                      "signout, an empty session");
    s_assert_refused (s_api_token (unknown, "ci"), PB_E_NOT_FOUND, "session",
                      "a token for an unknown session");
    pbtest_answer_t *answer = s_session_check ("notify.signout", unknown);
    cr_assert_eq (answer->reply.status, PB_OK, "signout unknown: %s", pbtest_describe (answer));
    cr_assert_not (answer->signout.closed);
    pbtest_answer_free (&answer);
    const char *tables[] = {"signin_request", "mail_job", "account", "account_session"};
    for (size_t i = 0; i < 4; i++) {
        char sql[64];
        snprintf (sql, sizeof sql, "SELECT count(*) FROM %s", tables[i]);
        cr_assert_eq (s_count (sql, NULL), 0, "%s holds rows after bad requests", tables[i]);
    }

    //  Labels, from a real session.
    char session[64], user[32], long_label[80];
    s_signed_in ("labels@example.org", 1, 1, session, user);
    memset (long_label, 'l', 65);
    long_label[65] = 0;
    const struct {
        const char *label;
        int code;
    } labels[] = {
        {long_label, PB_E_TOO_LARGE},
        {"", PB_E_INVALID},
        {"tab\there", PB_E_INVALID},
        {"new\nline", PB_E_INVALID},
        {"cr\r", PB_E_INVALID},
        {"esc \x1b[31mred", PB_E_INVALID},
        {"del\x7f", PB_E_INVALID},
        {"c1 \xc2\x85 next line", PB_E_INVALID},
        {"bad \xff utf-8", PB_E_INVALID_UTF8},
    };
    for (size_t i = 0; i < sizeof labels / sizeof *labels; i++) {
        char what[64];
        snprintf (what, sizeof what, "label %zu", i);
        s_assert_refused (s_api_token (session, labels[i].label), labels[i].code, "label", what);
    }
    cr_assert_eq (s_count ("SELECT count(*) FROM account_session WHERE kind = 'api'", NULL), 0);

    //  Five sign-in mails an hour to one address, then rate_limited,
    //  however the address is spelled.
    const char *flood = "flood@example.org";
    const char *spellings[] = {"flood@example.org", "Flood@example.org", "FLOOD@example.org",
                               "flood@Example.org", "flood@EXAMPLE.ORG"};
    for (size_t i = 0; i < 5; i++) {
        answer = s_signin (spellings[i]);
        cr_assert_eq (answer->reply.status, PB_OK, "sign-in %zu for %s: %s", i + 1, spellings[i],
                      pbtest_describe (answer));
        pbtest_answer_free (&answer);
    }
    s_assert_refused (s_signin ("fLoOd@example.org"), PB_E_RATE_LIMITED, "5 an hour",
                      "a sixth sign-in within the hour");
    cr_assert_eq (s_count ("SELECT count(*) FROM signin_request WHERE email = $1", flood), 5);
    cr_assert_eq (s_count ("SELECT count(*) FROM mail_job WHERE email = $1", flood), 5);
    cr_assert_eq (s_wait_mails (6, 10000), 6);
    cr_assert_eq (s_wait_mails (7, 500), 6, "a sixth sign-in mail went out");
    //  Following the links does not lift the limit: the mails were sent.
    char token[128];
    s_signin_token (flood, 6, 5, token, sizeof token);
    answer = s_session_open (token);
    cr_assert_eq (answer->reply.status, PB_OK, "session: %s", pbtest_describe (answer));
    pbtest_answer_free (&answer);
    s_assert_refused (s_signin (flood), PB_E_RATE_LIMITED, flood, "a sign-in after using a link");

    //  An hour later, one more may go.
    s_clock_ms (t0 + HOUR_MS + 1000);
    answer = s_signin (flood);
    cr_assert_eq (answer->reply.status, PB_OK, "an hour later: %s", pbtest_describe (answer));
    pbtest_answer_free (&answer);
    cr_assert_eq (s_wait_mails (7, 10000), 7);
}

Test (notify, a_notify_killed_while_opening_a_session_leaves_the_link_usable_once)
{
    s_catcher_start (NULL);
    pid_t notify = s_notify_start (1);
    const char *email = "killed@example.org";
    pbtest_answer_t *answer = s_signin (email);
    cr_assert_eq (answer->reply.status, PB_OK, "signin: %s", pbtest_describe (answer));
    pbtest_answer_free (&answer);
    char token[128], hex[65];
    s_signin_token (email, 1, 1, token, sizeof token);
    s_token_hash_hex (token, hex);

    //  The test holds the request's row, so that notify's redemption waits
    //  inside its transaction; notify is killed there.
    cr_assert_geq (pb_db_run (s_stack.db, "BEGIN", NULL), 0);
    cr_assert_eq (s_count ("SELECT count(*) FROM (SELECT 1 FROM signin_request "
                           "WHERE encode (token_hash, 'hex') = $1 FOR UPDATE) l",
                           hex),
                  1);
    s_extra_clients[0] = pb_client_new (s_stack.config);
    msgpack_packer packer = pbtest_packer (&s_body);
    pb_session_open_request_t request = {.token = pb_str (token)};
    pb_encode (&pb_session_open_request_schema, &request, &packer);
    cr_assert_gt (pb_client_send (s_extra_clients[0], "notify.session", s_body.data, s_body.size),
                  0);
    int64_t started = zclock_mono ();
    while (s_count ("SELECT count(*) FROM pg_locks WHERE NOT granted", NULL) == 0) {
        cr_assert_lt (zclock_mono () - started, 5000, "notify's redemption never waited");
        zclock_sleep (POLL_MS);
    }
    s_notify_kill (notify, 0);
    pb_reply_t reply = {0};
    cr_assert_eq (pb_client_recv (s_extra_clients[0], 5000, &reply), 0, "no answer from the bus");
    int status = reply.status;
    pb_reply_reset (&reply);
    cr_assert_eq (status, PB_E_WORKER_DIED, "the redemption answered %d", status);
    cr_assert_geq (pb_db_run (s_stack.db, "ROLLBACK", NULL), 0);
    //  Its transaction ends without a commit when PostgreSQL sees it gone.
    cr_assert_eq (s_wait_count ("SELECT count(*) FROM pg_stat_activity "
                                "WHERE application_name = 'notify'",
                                NULL, 0, 10000),
                  0, "the killed notify's connection lingers");
    cr_assert_eq (s_count ("SELECT count(*) FROM account_session", NULL), 0);
    cr_assert_eq (s_count ("SELECT count(*) FROM signin_request WHERE used_at IS NULL", NULL), 1);

    //  The link works once, with a new notify.
    s_notify_start (1);
    answer = s_session_open (token);
    cr_assert_eq (answer->reply.status, PB_OK, "session: %s", pbtest_describe (answer));
    pbtest_answer_free (&answer);
    s_assert_refused (s_session_open (token), PB_E_NOT_FOUND, "used", "the link again");
    cr_assert_eq (s_count ("SELECT count(*) FROM account_session", NULL), 1);
}

Test (notify, a_notify_killed_while_mailing_a_signin_link_mails_it_once)
{
    //  The catcher stores the message, then waits 3 s before its 250: notify
    //  is killed after the final dot, before it records the answer.
    s_catcher_start ((const char *[]){"--delay-ms", "3000", NULL});
    pid_t notify = s_notify_start (1);
    const char *email = "slow.signin@example.org";
    pbtest_answer_t *answer = s_signin (email);
    cr_assert_eq (answer->reply.status, PB_OK, "signin: %s", pbtest_describe (answer));
    pbtest_answer_free (&answer);
    cr_assert_eq (s_wait_count ("SELECT count(*) FROM mail_handed", NULL, 1, 10000), 1,
                  "no mark before the final dot");
    cr_assert_eq (s_wait_mails (1, 2000), 1, "the catcher did not store the mail");
    s_notify_kill (notify, 0);
    cr_assert_eq (s_count ("SELECT count(*) FROM mail_job WHERE state = 'queued' "
                           "AND token IS NOT NULL",
                           NULL),
                  1, "the outcome was recorded before the server's answer");

    //  A new process records it sent without sending it again, and drops
    //  the token; the mailed link works, once.
    s_notify_start (1);
    cr_assert_eq (s_wait_count ("SELECT count(*) FROM mail_job WHERE state = 'sent' "
                                "AND token IS NULL AND last_error LIKE '%counted as sent%'",
                                NULL, 1, 10000),
                  1, "the marked sign-in mail is not recorded sent");
    char token[128];
    s_signin_token (email, 1, 1, token, sizeof token);
    cr_assert_eq (s_rows_holding (token), 0, "a row of PostgreSQL holds the token");
    answer = s_session_open (token);
    cr_assert_eq (answer->reply.status, PB_OK, "session: %s", pbtest_describe (answer));
    pbtest_answer_free (&answer);
    s_assert_refused (s_session_open (token), PB_E_NOT_FOUND, "used", "the link again");
    cr_assert_eq (s_wait_mails (2, 4000), 1, "the catcher received a second copy");
    cr_assert_eq (s_log_count ("DATA", 0, NULL), 1);
}
