/*  The gateway as real processes: a bus, ingest, index, rank and notify
    workers on a fresh database, a real SMTP server (deploy/mailcatcher.py,
    whose mails are read back by tests/support/mailbox.py), and one or two
    `gateway` processes, asked over HTTP with libcurl as any client would
    (and over raw sockets for what libcurl will not send). Bodies are
    checked with jansson, feeds with libxml2.

    Each test starts its own stack with the sample papers loaded: the
    arXiv listing of 2026-05-21 (the day, week and month lists; a made-up
    paper is listed on 2026-05-22) and the Hugging Face daily papers, whose
    upvotes make the trending list, plus an old-style id (hep-th/9901001) and a paper whose
    title holds markup. The services start while the papers go in, as
    after any restart. Sign-in and subscription links are taken from the
    mails the catcher stored, as a person would; a clock file
    (PAPERBUS_CLOCK_FILE, read by rank and notify) ages the links that must
    expire. Every client address the tests
    use is on loopback (127.0.0.1 by default; 127.0.0.2 and up for the
    clients that must not share the first one's rate limits).

    Responses, parsed mailboxes and XML documents live on the heap and are
    listed until freed, so that a test that fails half-way leaves the
    teardown something to free. */
#include "pb_paper.h"
#include "pbtest.h"
#include "pbtest_call.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HEARTBEAT_MS    500 //  the bus's heartbeat (the default): a killed worker is gone after 1.5 s
#define BUS_WAIT_MS     3000 //  the bus's wait for a worker: longer than the gateway's timeout
#define GATEWAY_TIMEOUT 1500 //  PAPERBUS_GATEWAY_TIMEOUT_MS
#define POLL_MS         20   //  between two looks at something that is catching up
#define CALL_MS         5000 //  deadline of one HTTP request
#define MAX_HELD        32   //  responses, mailboxes and documents held at once
#define MAX_GATEWAYS    2    //  gateway processes one test runs
#define DAY_1           "2026-05-21" //  a Thursday of the sample listings
#define DAY_2           "2026-05-22" //  the Friday after it, in the same ISO week
#define ARXIV_DAY_1     "deploy/sample/arxiv-daily/2026-05-21.jsonl"
#define HF_FILE         "deploy/sample/hf/daily_papers-2024-10-25.json"
#define OLD_STYLE_ID    "hep-th/9901001"
#define HOSTILE_ID      "2605.99907"
#define HOSTILE_TITLE   "Quokkas <script>alert(\"x\")</script> & \"friends\" are <b>all</b> you need"
#define EVIL_ORIGIN     "http://evil.example"

//  One HTTP response.
typedef struct {
    long status;   //  HTTP status, 0 when no response came
    char *headers; //  the header block, as received
    size_t headers_size;
    char *body;     //  NUL-terminated
    size_t size;    //  of the body
    json_t *json;   //  the body parsed, when it is JSON
    double seconds; //  from the start of the request to its end
    char curl_error[CURL_ERROR_SIZE];
} http_t;

//  One HTTP request: only what is set is sent.
typedef struct {
    const char *method;       //  GET when NULL
    const char *path;         //  path and query, as sent
    const char *body;         //  NULL for none
    size_t body_size;         //  0: strlen (body)
    const char *content_type; //  of the body: application/json when NULL
    const char *cookie;       //  the pb_session value
    const char *bearer;       //  an API token
    const char *origin;       //  the Origin header
    const char *accept;       //  the Accept header
    const char *header;       //  one more header line ("Name: value")
    bool chunked;             //  send the body chunked, without Content-Length
    const char *source;       //  the local address to connect from (127.0.0.1 when NULL)
    int gateway;              //  which gateway (0 or 1)
} request_t;

#define REQUEST(...) ((request_t){__VA_ARGS__})

static pbtest_stack_t s_stack;          //  bus, ingest, database and client
static msgpack_sbuffer s_body;          //  the bus request being built
static char s_dir[128];                 //  this test's files
static char s_mail_dir[192];            //  where the catcher stores mails
static pid_t s_catcher;                 //  the mail catcher, 0 when none runs
static pid_t s_gateways[MAX_GATEWAYS];  //  gateway processes, 0 when none
static int s_ports[MAX_GATEWAYS];       //  their HTTP ports
static char s_public_url[64];           //  PAPERBUS_PUBLIC_URL, gateway 0's first port
static http_t *s_held_http[MAX_HELD];   //  responses not yet freed
static json_t *s_held_json[MAX_HELD];   //  parsed mailboxes not yet freed
static xmlDoc *s_held_xml[MAX_HELD];    //  XML documents not yet freed
static pid_t s_index, s_rank, s_notify; //  the service workers

static void s_http_free (http_t **http_p);
static void s_json_free (json_t **json_p);
static void s_xml_free (xmlDoc **doc_p);
static double s_metric (const char *text, const char *metric, const char *const *labels);

static void s_setup (void)
{
    pb_log_init ("test", PB_LOG_ERROR);
    curl_global_init (CURL_GLOBAL_DEFAULT);
    msgpack_sbuffer_init (&s_body);
    snprintf (s_dir, sizeof s_dir, "/tmp/pbtest-gateway-XXXXXX");
    cr_assert (mkdtemp (s_dir), "cannot make a directory for the test");
    snprintf (s_mail_dir, sizeof s_mail_dir, "%s/mail", s_dir);
    //  The mail catcher (Python) starts while the stack does.
    s_catcher = pbtest_mailcatcher_spawn (s_dir, s_mail_dir, NULL);
    pbtest_stack_start (&s_stack, HEARTBEAT_MS, BUS_WAIT_MS);
    for (int i = 0; i < MAX_GATEWAYS; i++)
        s_ports[i] = pbtest_free_port ();
    //  Every process a test starts takes these.
    snprintf (s_public_url, sizeof s_public_url, "http://127.0.0.1:%d", s_ports[0]);
    setenv ("PAPERBUS_PUBLIC_URL", s_public_url, 1);
    setenv ("PAPERBUS_CLOCK_FILE", "none", 1);
    setenv ("PAPERBUS_RANK_HALF_LIFE_S", "31536000", 1);
    setenv ("PAPERBUS_TRENDING_INTERVAL_MS", "200", 1);
    setenv ("PAPERBUS_NOTIFY_SENDERS", "1", 1);
    setenv ("PAPERBUS_NOTIFY_RETRY_MS", "100", 1);
    setenv ("PAPERBUS_NOTIFY_SCHEDULE_MS", "3600000", 1);
    setenv ("PAPERBUS_MAIL_FROM", "paperbus <papers@paperbus.example.org>", 1);
    setenv ("PAPERBUS_SMTP_TLS", "off", 1);
    setenv ("PAPERBUS_SMTP_TIMEOUT_MS", "10000", 1);
    char timeout[16];
    snprintf (timeout, sizeof timeout, "%d", GATEWAY_TIMEOUT);
    setenv ("PAPERBUS_GATEWAY_TIMEOUT_MS", timeout, 1);
    pbtest_mailcatcher_wait (s_catcher, s_dir);
}

static void s_teardown (void)
{
    for (int i = 0; i < MAX_GATEWAYS; i++)
        if (s_gateways[i] > 0) {
            kill (s_gateways[i], SIGKILL);
            pbtest_wait (s_gateways[i], 5000);
            s_gateways[i] = 0;
        }
    pbtest_services_kill_all ();
    pbtest_mailcatcher_stop (&s_catcher);
    for (int i = 0; i < MAX_HELD; i++) {
        s_http_free (&s_held_http[i]);
        s_json_free (&s_held_json[i]);
        s_xml_free (&s_held_xml[i]);
    }
    pbtest_answers_free_all ();
    msgpack_sbuffer_destroy (&s_body);
    pbtest_stack_stop (&s_stack);
    curl_global_cleanup ();
    if (*s_dir && !getenv ("PBTEST_KEEP_FILES")) {
        char command[256];
        snprintf (command, sizeof command, "rm -rf '%s'", s_dir);
        pbtest_shell (command);
    }
}

TestSuite (gateway, .init = s_setup, .fini = s_teardown, .timeout = 60);

/* ==== HTTP ==== */

static size_t s_collect (char *data, size_t size, size_t count, void *arg)
{
    FILE *out = arg;
    return fwrite (data, size, count, out);
}

static void s_http_free (http_t **http_p)
{
    http_t *http = *http_p;
    if (!http)
        return;
    for (int i = 0; i < MAX_HELD; i++)
        if (s_held_http[i] == http)
            s_held_http[i] = NULL;
    free (http->headers);
    free (http->body);
    json_decref (http->json);
    free (http);
    *http_p = NULL;
}

//  Sends REQUEST to its gateway and returns the response (status 0 when
//  none came within CALL_MS).
static http_t *s_request (request_t request)
{
    http_t *http = calloc (1, sizeof *http);
    int slot = 0;
    while (slot < MAX_HELD && s_held_http[slot])
        slot++;
    cr_assert_lt (slot, MAX_HELD, "more than %d responses held: free some", MAX_HELD);
    s_held_http[slot] = http;

    CURL *curl = curl_easy_init ();
    char url[8192];
    snprintf (url, sizeof url, "http://127.0.0.1:%d%s", s_ports[request.gateway], request.path);
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, (long)CALL_MS);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, http->curl_error);
    if (request.source)
        curl_easy_setopt (curl, CURLOPT_INTERFACE, request.source);
    const char *method = request.method ? request.method : "GET";
    if (strcmp (method, "HEAD") == 0)
        curl_easy_setopt (curl, CURLOPT_NOBODY, 1L);
    else if (strcmp (method, "GET") != 0)
        curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, method);
    struct curl_slist *headers = NULL;
    char line[8192];
    if (request.body) {
        size_t size = request.body_size ? request.body_size : strlen (request.body);
        curl_easy_setopt (curl, CURLOPT_POSTFIELDS, request.body);
        curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE, (long)size);
        snprintf (line, sizeof line, "Content-Type: %s",
                  request.content_type ? request.content_type : "application/json");
        headers = curl_slist_append (headers, line);
    } else if (strcmp (method, "POST") == 0) {
        curl_easy_setopt (curl, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE, 0L);
    }
    //  No "Expect: 100-continue" for large bodies: the answer comes at once.
    headers = curl_slist_append (headers, "Expect:");
    if (request.cookie) {
        snprintf (line, sizeof line, "Cookie: pb_session=%s", request.cookie);
        headers = curl_slist_append (headers, line);
    }
    if (request.bearer) {
        snprintf (line, sizeof line, "Authorization: Bearer %s", request.bearer);
        headers = curl_slist_append (headers, line);
    }
    if (request.origin) {
        snprintf (line, sizeof line, "Origin: %s", request.origin);
        headers = curl_slist_append (headers, line);
    }
    if (request.header)
        headers = curl_slist_append (headers, request.header);
    if (request.chunked)
        headers = curl_slist_append (headers, "Transfer-Encoding: chunked");
    if (request.accept) {
        snprintf (line, sizeof line, "Accept: %s", request.accept);
        headers = curl_slist_append (headers, line);
    }
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    FILE *header_out = open_memstream (&http->headers, &http->headers_size);
    FILE *body_out = open_memstream (&http->body, &http->size);
    curl_easy_setopt (curl, CURLOPT_HEADERFUNCTION, s_collect);
    curl_easy_setopt (curl, CURLOPT_HEADERDATA, header_out);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_collect);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, body_out);
    int64_t started = zclock_mono ();
    CURLcode code = curl_easy_perform (curl);
    http->seconds = (double)(zclock_mono () - started) / 1000.0;
    fclose (header_out);
    fclose (body_out);
    if (code == CURLE_OK)
        curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &http->status);
    else if (!*http->curl_error)
        snprintf (http->curl_error, sizeof http->curl_error, "%s", curl_easy_strerror (code));
    curl_slist_free_all (headers);
    curl_easy_cleanup (curl);
    http->json = json_loadb (http->body, http->size, 0, NULL);
    return http;
}

//  The value of the last header NAME of HTTP (case-insensitive), into
//  VALUE; NULL when it has none.
static const char *s_header (const http_t *http, const char *name, char *value, size_t size)
{
    const char *found = NULL;
    size_t length = strlen (name);
    for (const char *line = http->headers; line && *line;) {
        const char *end = strchr (line, '\n');
        if (strncasecmp (line, name, length) == 0 && line[length] == ':') {
            const char *start = line + length + 1;
            start += strspn (start, " \t");
            size_t span = end ? (size_t)(end - start) : strlen (start);
            while (span > 0 && (start[span - 1] == '\r' || start[span - 1] == ' '))
                span--;
            snprintf (value, size, "%.*s", (int)span, start);
            found = value;
        }
        line = end ? end + 1 : line + strlen (line);
    }
    return found;
}

//  A short account of HTTP for failure messages (a static buffer).
static const char *s_describe (const http_t *http)
{
    static char text[600];
    if (http->status == 0)
        snprintf (text, sizeof text, "no response (%s)", http->curl_error);
    else
        snprintf (text, sizeof text, "%ld %.500s", http->status, http->body ? http->body : "");
    return text;
}

static http_t *s_get (const char *path)
{
    return s_request (REQUEST (.path = path));
}

//  GET PATH, failing the test unless it is 200 with a JSON object.
static http_t *s_get_ok (const char *path)
{
    http_t *http = s_get (path);
    cr_assert_eq (http->status, 200, "GET %s: %s", path, s_describe (http));
    cr_assert (json_is_object (http->json), "GET %s: not a JSON object: %.300s", path, http->body);
    return http;
}

//  Fails the test unless HTTP is a JSON error with STATUS, CODE (any when
//  NULL) and a message containing NAMING (any when NULL).
static void s_assert_error (const http_t *http, long status, const char *code, const char *naming,
                            const char *what)
{
    cr_assert_eq (http->status, status, "%s: %s, not %ld", what, s_describe (http), status);
    char type[128];
    cr_assert (s_header (http, "Content-Type", type, sizeof type) &&
                   strcmp (type, "application/json; charset=utf-8") == 0,
               "%s: the error's Content-Type is %s", what, type);
    json_t *error = json_object_get (http->json, "error");
    const char *got_code = json_string_value (json_object_get (error, "code"));
    const char *message = json_string_value (json_object_get (error, "message"));
    cr_assert (got_code && message, "%s: not an {\"error\": {code, message}} body: %s", what,
               http->body);
    if (code)
        cr_assert_str_eq (got_code, code, "%s: code %s, not %s (%s)", what, got_code, code,
                          message);
    if (naming)
        cr_assert (strstr (message, naming), "%s: the message '%s' does not name '%s'", what,
                   message, naming);
}

/* ==== Processes ==== */

//  Makes MS (milliseconds since 1970) the time of the processes started
//  after the first call (rank and notify read PAPERBUS_CLOCK_FILE).
static void s_clock_ms (int64_t ms)
{
    char path[256], temporary[256];
    snprintf (path, sizeof path, "%s/clock", s_dir);
    snprintf (temporary, sizeof temporary, "%s/clock.new", s_dir);
    FILE *file = fopen (temporary, "w");
    cr_assert (file, "cannot write %s", temporary);
    fprintf (file, "%lld\n", (long long)ms);
    fclose (file);
    cr_assert_eq (rename (temporary, path), 0);
    setenv ("PAPERBUS_CLOCK_FILE", path, 1);
}

//  Starts gateway WHICH on its port, with SETTING ("NAME=value", NULL
//  for none) besides the environment, and waits until it answers /healthz.
//  A port another process took since it was picked is picked again (the
//  gateway exits when it cannot listen); gateway 0's own origin stays
//  PAPERBUS_PUBLIC_URL, which the mailed links use.
static void s_gateway_start (int which, const char *setting)
{
    char *program = pbtest_program ("gateway");
    char port[64], output[256];
    snprintf (output, sizeof output, "%s/gateway-%d.out", s_dir, which);
    char *argv[] = {program, NULL};
    char *environment[] = {port, "PAPERBUS_HTTP_ADDRESS=127.0.0.1", (char *)setting, NULL};
    int64_t started = zclock_mono ();
    for (int attempt = 0;; attempt++) {
        snprintf (port, sizeof port, "PAPERBUS_HTTP_PORT=%d", s_ports[which]);
        s_gateways[which] = pbtest_spawn (argv, environment, output);
        zclock_sleep (100);
        if (pbtest_running (s_gateways[which]) || attempt == 3)
            break;
        s_ports[which] = pbtest_free_port ();
    }
    free (program);
    while (true) {
        cr_assert (pbtest_running (s_gateways[which]), "gateway %d exited at start", which);
        http_t *http = s_request (REQUEST (.path = "/healthz", .gateway = which));
        long status = http->status;
        s_http_free (&http);
        if (status == 200)
            break;
        cr_assert_lt (zclock_mono () - started, 10000,
                      "gateway %d: /healthz is not 200 within 10 s (last: %ld)", which, status);
        zclock_sleep (50);
    }
}

//  Whether the index holds paper ID.
static bool s_indexed (const char *id)
{
    msgpack_packer packer = pbtest_packer (&s_body);
    pb_str_t ids[] = {pb_str (id)};
    pb_index_get_request_t request = {0};
    request.ids = (pb_str_list_t){ids, 1};
    pb_encode (&pb_index_get_request_schema, &request, &packer);
    pbtest_answer_t *answer = pbtest_call (s_stack.client, "index.get", s_body.data, s_body.size);
    bool found = answer->reply.status == PB_OK && answer->get.papers.count == 1;
    pbtest_answer_free (&answer);
    return found;
}

//  A made-up paper, through ingest.submit.
static void s_submit (const char *id, const char *title, const char *abstract, const char *listed)
{
    pb_paper_t paper = {0};
    pb_str_t author = pb_str ("Ada Lovelace"), category = pb_str ("cs.LG");
    paper.id = pb_str (id);
    pb_set_present (&paper, PB_paper_id);
    paper.title = pb_str (title);
    paper.abstract = pb_str (abstract);
    pb_set_present (&paper, PB_paper_abstract);
    paper.authors = (pb_str_list_t){&author, 1};
    pb_set_present (&paper, PB_paper_authors);
    paper.categories = (pb_str_list_t){&category, 1};
    pb_set_present (&paper, PB_paper_categories);
    paper.listed = pb_str (listed);
    pb_set_present (&paper, PB_paper_listed);
    pbtest_answer_t *answer = pbtest_submit (s_stack.client, &s_body, &paper, 1);
    pbtest_answer_free (&answer);
}

//  Loads the sample papers (and an old-style id and a hostile title),
//  starts index, rank and notify and the first gateway, and waits until
//  the trending list has papers.
static void s_start (void)
{
    //  The services start while the papers go in: they catch up from the
    //  event log, as they would after any restart.
    s_index = pbtest_service_spawn ("index");
    s_rank = pbtest_service_spawn ("rank");
    s_notify = pbtest_service_spawn ("notify");
    char *program = pbtest_program ("paperctl");
    char *files[] = {pbtest_repo_path (HF_FILE), pbtest_repo_path (ARXIV_DAY_1)};
    char *argv[] = {program, "ingest", files[0], files[1], NULL};
    char output[256];
    snprintf (output, sizeof output, "%s/ingest.out", s_dir);
    int status = pbtest_wait (pbtest_spawn (argv, NULL, output), 60000);
    free (program);
    for (int i = 0; i < 2; i++)
        free (files[i]);
    cr_assert_eq (status, 0, "paperctl ingest of the sample papers exited with %d", status);
    s_submit (OLD_STYLE_ID, "Quokka strings on the old style lattice",
              "Old-style identifiers keep their archive name and a slash.", DAY_1);
    s_submit (HOSTILE_ID, HOSTILE_TITLE,
              "Quokkas appear in feeds whose titles hold markup <i>and</i> ampersands & such.",
              DAY_2);
    pbtest_wait_for_workers ("index", 1);
    pbtest_wait_for_workers ("rank", 1);
    pbtest_wait_for_workers ("notify", 1);
    int64_t started = zclock_mono ();
    while (!s_indexed (HOSTILE_ID)) {
        cr_assert_lt (zclock_mono () - started, 10000, "the index does not hold the papers");
        zclock_sleep (POLL_MS);
    }
    s_gateway_start (0, NULL);
    started = zclock_mono ();
    while (true) {
        http_t *http = s_get ("/api/papers?window=trending");
        size_t count = json_array_size (json_object_get (http->json, "papers"));
        s_http_free (&http);
        if (count >= 5)
            break;
        cr_assert_lt (zclock_mono () - started, 10000, "fewer than 5 papers trending after 10 s");
        zclock_sleep (100);
    }
}

/* ==== Mail ==== */

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

//  Every stored mail, parsed by tests/support/mailbox.py once there are
//  COUNT (or 10 s have passed).
static json_t *s_mailbox (size_t count)
{
    char *script = pbtest_repo_path ("tests/support/mailbox.py");
    char wait[32], output[256];
    snprintf (wait, sizeof wait, "%zu", count);
    snprintf (output, sizeof output, "%s/mailbox.json", s_dir);
    char *argv[] = {"/usr/bin/python3", script,  s_mail_dir, "--wait", wait,
                    "--timeout-ms",     "10000", NULL};
    int status = pbtest_wait (pbtest_spawn (argv, NULL, output), 30000);
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
    cr_assert (json_is_array (mails));
    return mails;
}

//  The token of the first link to ADDRESS that starts with PREFIX (after
//  the public URL), from the mails: waits for the mail to come. Into TOKEN.
static const char *s_mailed_token (const char *address, const char *prefix, char *token,
                                   size_t size)
{
    char start[256];
    snprintf (start, sizeof start, "%s%s", s_public_url, prefix);
    int64_t started = zclock_mono ();
    for (size_t want = 1;; want++) {
        json_t *mails = s_mailbox (want);
        size_t i;
        json_t *mail;
        json_array_foreach (mails, i, mail)
        {
            const char *to = json_string_value (
                json_array_get (json_object_get (json_object_get (mail, "headers"), "to"), 0));
            if (!to || !strcasestr (to, address))
                continue;
            size_t j;
            json_t *link;
            json_array_foreach (json_object_get (mail, "links"), j, link)
            {
                const char *url = json_string_value (link);
                if (strncmp (url, start, strlen (start)) == 0) {
                    snprintf (token, size, "%s", url + strlen (start));
                    s_json_free (&mails);
                    return token;
                }
            }
        }
        size_t stored = json_array_size (mails);
        s_json_free (&mails);
        cr_assert_lt (zclock_mono () - started, 15000,
                      "no mail to %s with a link %s... (%zu mails)", address, start, stored);
        want = stored;
    }
}

//  The List-Unsubscribe link of the first mail to ADDRESS that has one,
//  after the public URL (waits for it), into OUT.
static const char *s_unsubscribe_link (const char *address, char *out, size_t size)
{
    char public_url[80];
    snprintf (public_url, sizeof public_url, "<%s", s_public_url);
    int64_t started = zclock_mono ();
    for (size_t want = 1;; want++) {
        json_t *mails = s_mailbox (want);
        size_t i;
        json_t *mail;
        json_array_foreach (mails, i, mail)
        {
            json_t *headers = json_object_get (mail, "headers");
            const char *to =
                json_string_value (json_array_get (json_object_get (headers, "to"), 0));
            const char *link = json_string_value (
                json_array_get (json_object_get (headers, "list-unsubscribe"), 0));
            if (to && strcasestr (to, address) && link &&
                strncmp (link, public_url, strlen (public_url)) == 0) {
                snprintf (out, size, "%.*s", (int)strcspn (link + strlen (public_url), ">"),
                          link + strlen (public_url));
                s_json_free (&mails);
                return out;
            }
        }
        size_t stored = json_array_size (mails);
        s_json_free (&mails);
        cr_assert_lt (zclock_mono () - started, 15000, "no digest to %s with List-Unsubscribe",
                      address);
        want = stored;
    }
}

/* ==== Signing in ==== */

//  Signs ADDRESS in through the mailed link, from SOURCE (a client
//  address, NULL for the default); the session cookie's value goes to COOKIE.
static const char *s_sign_in (const char *address, const char *source, char *cookie, size_t size)
{
    char body[512], token[256];
    snprintf (body, sizeof body, "{\"email\": \"%s\"}", address);
    http_t *http = s_request (
        REQUEST (.method = "POST", .path = "/api/signin", .body = body, .source = source));
    cr_assert_eq (http->status, 202, "POST /api/signin: %s", s_describe (http));
    cr_assert_str_eq (json_string_value (json_object_get (http->json, "status")), "link_sent");
    s_http_free (&http);
    s_mailed_token (address, "/signin?token=", token, sizeof token);
    snprintf (body, sizeof body, "{\"token\": \"%s\"}", token);
    http = s_request (REQUEST (.method = "POST", .path = "/api/session", .body = body));
    cr_assert_eq (http->status, 200, "POST /api/session: %s", s_describe (http));
    char set_cookie[1024];
    cr_assert (s_header (http, "Set-Cookie", set_cookie, sizeof set_cookie),
               "POST /api/session set no cookie");
    cr_assert (strncmp (set_cookie, "pb_session=", 11) == 0, "Set-Cookie: %s", set_cookie);
    snprintf (cookie, size, "%.*s", (int)strcspn (set_cookie + 11, ";"), set_cookie + 11);
    cr_assert_gt (strlen (cookie), 0);
    s_http_free (&http);
    return cookie;
}

/* ==== Shapes ==== */

//  Fails unless HIT has the shape of a hit in a list: id, title, authors,
//  categories, published, score, upvotes and voted.
static void s_assert_hit (json_t *hit, const char *where)
{
    const char *id = json_string_value (json_object_get (hit, "id"));
    cr_assert (id && *id, "%s: a hit without an id", where);
    cr_assert (json_is_string (json_object_get (hit, "title")), "%s: %s has no title", where, id);
    cr_assert (json_is_array (json_object_get (hit, "authors")) &&
                   json_array_size (json_object_get (hit, "authors")) > 0,
               "%s: %s has no authors", where, id);
    //  Hugging Face papers come without categories: the list may be empty.
    cr_assert (json_is_array (json_object_get (hit, "categories")), "%s: %s has no categories",
               where, id);
    const char *published = json_string_value (json_object_get (hit, "published"));
    cr_assert (published && strlen (published) == 10 && published[4] == '-',
               "%s: %s's published is not YYYY-MM-DD", where, id);
    cr_assert (json_is_number (json_object_get (hit, "score")), "%s: %s has no score", where, id);
    cr_assert (json_is_integer (json_object_get (hit, "upvotes")) &&
                   json_integer_value (json_object_get (hit, "upvotes")) >= 0,
               "%s: %s has no upvotes", where, id);
    cr_assert (json_is_boolean (json_object_get (hit, "voted")), "%s: %s has no voted", where, id);
}

//  The ids of the list at KEY of PAGE, space-separated, into OUT.
static const char *s_ids (json_t *page, const char *key, char *out, size_t size)
{
    size_t used = 0, i;
    json_t *hit;
    out[0] = 0;
    json_array_foreach (json_object_get (page, key), i, hit) used +=
        (size_t)snprintf (out + used, used < size ? size - used : 0, "%s ",
                          json_string_value (json_object_get (hit, "id")));
    return out;
}

//  The hit with ID in the list at KEY of PAGE, or NULL.
static json_t *s_find (json_t *page, const char *key, const char *id)
{
    size_t i;
    json_t *hit;
    json_array_foreach (json_object_get (page, key), i,
                        hit) if (strcmp (json_string_value (json_object_get (hit, "id")), id) ==
                                 0) return hit;
    return NULL;
}

/* ==== Lists ==== */

Test (gateway, lists_are_pages_of_hits_that_do_not_overlap_and_dates_move_the_window)
{
    s_start ();
    const char *windows[] = {"trending", "day", "week", "month"};
    for (int w = 0; w < 4; w++) {
        char path[256], first_ids[4096], second_ids[4096];
        bool dated = w > 0;
        snprintf (path, sizeof path, "/api/papers?window=%s%s&per_page=5", windows[w],
                  dated ? "&date=" DAY_1 : "");
        http_t *first = s_get_ok (path);
        json_t *papers = json_object_get (first->json, "papers");
        cr_assert_eq (json_array_size (papers), 5, "%s: %zu papers, not 5", path,
                      json_array_size (papers));
        size_t i;
        json_t *hit;
        json_array_foreach (papers, i, hit) s_assert_hit (hit, path);
        cr_assert_str_eq (json_string_value (json_object_get (first->json, "window")), windows[w]);
        cr_assert_eq (json_integer_value (json_object_get (first->json, "page")), 1);
        cr_assert_eq (json_integer_value (json_object_get (first->json, "per_page")), 5);
        cr_assert_gt (json_integer_value (json_object_get (first->json, "total")), 5, "%s", path);
        //  Trending has no window of days.
        cr_assert_eq (json_object_get (first->json, "first_day") != NULL, dated, "%s: first_day",
                      path);
        cr_assert_eq (json_object_get (first->json, "last_day") != NULL, dated, "%s: last_day",
                      path);
        //  Page 2 holds other papers.
        snprintf (path + strlen (path), sizeof path - strlen (path), "&page=2");
        http_t *second = s_get_ok (path);
        cr_assert_eq (json_array_size (json_object_get (second->json, "papers")), 5, "%s", path);
        s_ids (first->json, "papers", first_ids, sizeof first_ids);
        json_array_foreach (json_object_get (second->json, "papers"), i, hit)
        {
            char id[160];
            snprintf (id, sizeof id, "%s ", json_string_value (json_object_get (hit, "id")));
            cr_assert_null (strstr (first_ids, id), "%s: %s is on pages 1 and 2", path, id);
        }
        cr_assert_eq (json_integer_value (json_object_get (second->json, "total")),
                      json_integer_value (json_object_get (first->json, "total")));
        s_ids (second->json, "papers", second_ids, sizeof second_ids);
        s_http_free (&first);
        s_http_free (&second);
    }
    //  The window follows date: the day, the ISO week (Monday to Sunday), the month.
    struct {
        const char *query, *first_day, *last_day;
    } windows_of[] = {{"window=day&date=" DAY_1, DAY_1, DAY_1},
                      {"window=day&date=" DAY_2, DAY_2, DAY_2},
                      {"window=week&date=" DAY_1, "2026-05-18", "2026-05-24"},
                      {"window=week&date=2026-05-25", "2026-05-25", "2026-05-31"},
                      {"window=month&date=" DAY_1, "2026-05-01", "2026-05-31"}};
    char day_ids[2][4096];
    for (size_t i = 0; i < sizeof windows_of / sizeof windows_of[0]; i++) {
        char path[256];
        snprintf (path, sizeof path, "/api/papers?%s&per_page=50", windows_of[i].query);
        http_t *http = s_get_ok (path);
        cr_assert_str_eq (json_string_value (json_object_get (http->json, "first_day")),
                          windows_of[i].first_day, "%s", path);
        cr_assert_str_eq (json_string_value (json_object_get (http->json, "last_day")),
                          windows_of[i].last_day, "%s", path);
        if (i < 2)
            s_ids (http->json, "papers", day_ids[i], sizeof day_ids[i]);
        if (i == 3)
            cr_assert_eq (json_integer_value (json_object_get (http->json, "total")), 0,
                          "nothing was listed in the week of 2026-05-25");
        s_http_free (&http);
    }
    cr_assert_str_neq (day_ids[0], day_ids[1], "two days list the same papers");
    //  The page is rank.top's: the same papers, order, upvotes and scores.
    http_t *http = s_get_ok ("/api/papers?window=week&date=" DAY_2 "&per_page=10&page=2");
    msgpack_packer packer = pbtest_packer (&s_body);
    pb_top_request_t top = {0};
    top.window = pb_str ("week");
    top.date = pb_str (DAY_2);
    pb_set_present (&top, PB_top_request_date);
    top.offset = 10;
    pb_set_present (&top, PB_top_request_offset);
    top.limit = 10;
    pb_set_present (&top, PB_top_request_limit);
    pb_encode (&pb_top_request_schema, &top, &packer);
    pbtest_answer_t *answer = pbtest_call (s_stack.client, "rank.top", s_body.data, s_body.size);
    cr_assert_eq (answer->reply.status, PB_OK, "rank.top: %s", pbtest_describe (answer));
    json_t *papers = json_object_get (http->json, "papers");
    cr_assert_eq (json_array_size (papers), answer->top.papers.count);
    cr_assert_eq (json_integer_value (json_object_get (http->json, "total")), answer->top.total);
    for (uint32_t i = 0; i < answer->top.papers.count; i++) {
        const pb_ranked_paper_t *ranked = (const pb_ranked_paper_t *)answer->top.papers.items + i;
        json_t *hit = json_array_get (papers, i);
        char id[160];
        cr_assert_str_eq (json_string_value (json_object_get (hit, "id")),
                          pbtest_text (ranked->id, id, sizeof id), "paper %u of the page", i);
        cr_assert_eq (json_integer_value (json_object_get (hit, "upvotes")), ranked->upvotes);
        double score = json_number_value (json_object_get (hit, "score"));
        cr_assert (score > ranked->score - 1e-6 && score < ranked->score + 1e-6,
                   "%s: score %g, rank says %g", id, score, ranked->score);
    }
    pbtest_answer_free (&answer);
    s_http_free (&http);
    //  Defaults: trending, page 1 of 20; the day list is today's (UTC).
    http = s_get_ok ("/api/papers");
    cr_assert_str_eq (json_string_value (json_object_get (http->json, "window")), "trending");
    cr_assert_eq (json_integer_value (json_object_get (http->json, "page")), 1);
    cr_assert_eq (json_integer_value (json_object_get (http->json, "per_page")), 20);
    cr_assert_null (json_object_get (http->json, "date"));
    s_http_free (&http);
    char today[16], after[16];
    time_t now = time (NULL);
    strftime (today, sizeof today, "%Y-%m-%d", gmtime (&now));
    http = s_get_ok ("/api/papers?window=day");
    now = time (NULL);
    strftime (after, sizeof after, "%Y-%m-%d", gmtime (&now));
    const char *first = json_string_value (json_object_get (http->json, "first_day"));
    cr_assert (first && (strcmp (first, today) == 0 || strcmp (first, after) == 0),
               "the default day is %s, not today (%s)", first ? first : "absent", today);
    cr_assert_str_eq (json_string_value (json_object_get (http->json, "last_day")), first);
    //  Without a date asked, "date" is the window's first day.
    cr_assert (json_string_value (json_object_get (http->json, "date")),
               "a day list without a date asked has no \"date\": %s", http->body);
    cr_assert_str_eq (json_string_value (json_object_get (http->json, "date")), first);
    s_http_free (&http);
}

Test (gateway, bad_list_parameters_are_json_errors_naming_the_parameter)
{
    s_start ();
    struct {
        const char *query, *parameter;
    } bad[] = {
        {"window=fortnight", "window"},          {"window=day&date=2026-13-01", "date"},
        {"window=day&date=yesterday", "date"},   {"window=day&date=2026-02-30", "date"},
        {"window=day&page=0", "page"},           {"window=day&page=-1", "page"},
        {"window=day&page=abc", "page"},         {"window=day&per_page=51", "per_page"},
        {"window=day&per_page=0", "per_page"},   {"window=day&page=21&per_page=50", "page"},
        {"window=trending&date=" DAY_1, "date"}, {"window=day&page=99999999999999999999", "page"},
        {"window=day&per_page=5.5", "per_page"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[256];
        snprintf (path, sizeof path, "/api/papers?%s", bad[i].query);
        http_t *http = s_get (path);
        cr_assert (http->status == 400 || http->status == 422, "GET %s: %s, not 400 or 422", path,
                   s_describe (http));
        s_assert_error (http, http->status, NULL, bad[i].parameter, path);
        s_http_free (&http);
    }
}

/* ==== Papers ==== */

Test (gateway, papers_are_found_by_new_and_old_style_ids_and_unknown_ids_are_404)
{
    s_start ();
    http_t *http = s_get_ok ("/api/papers/" HOSTILE_ID);
    json_t *paper = http->json;
    cr_assert_str_eq (json_string_value (json_object_get (paper, "id")), HOSTILE_ID);
    cr_assert_str_eq (json_string_value (json_object_get (paper, "title")), HOSTILE_TITLE,
                      "the title is not returned verbatim");
    const char *fields[] = {"version", "abstract", "authors", "categories",
                            "upvotes", "voted",    "links"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        cr_assert (json_object_get (paper, fields[i]), "the paper has no %s", fields[i]);
    cr_assert_str_eq (json_string_value (json_object_get (json_object_get (paper, "links"), "abs")),
                      "https://arxiv.org/abs/" HOSTILE_ID);
    cr_assert_str_eq (json_string_value (json_object_get (json_object_get (paper, "links"), "pdf")),
                      "https://arxiv.org/pdf/" HOSTILE_ID);
    cr_assert_eq (json_is_false (json_object_get (paper, "voted")), true);
    char type[128];
    cr_assert_str_eq (s_header (http, "Content-Type", type, sizeof type),
                      "application/json; charset=utf-8");
    s_http_free (&http);
    //  A version suffix is ignored.
    http = s_get_ok ("/api/papers/" HOSTILE_ID "v1");
    cr_assert_str_eq (json_string_value (json_object_get (http->json, "id")), HOSTILE_ID);
    s_http_free (&http);
    //  An old-style id, its slash literal or encoded.
    const char *spellings[] = {"/api/papers/hep-th/9901001", "/api/papers/hep-th%2F9901001",
                               "/api/papers/hep-th%2f9901001"};
    for (int i = 0; i < 3; i++) {
        http = s_get_ok (spellings[i]);
        cr_assert_str_eq (json_string_value (json_object_get (http->json, "id")), OLD_STYLE_ID,
                          "GET %s", spellings[i]);
        cr_assert_str_eq (
            json_string_value (json_object_get (json_object_get (http->json, "links"), "abs")),
            "https://arxiv.org/abs/" OLD_STYLE_ID);
        s_http_free (&http);
    }
    http = s_get ("/api/papers/2501.99999");
    s_assert_error (http, 404, "not_found", "2501.99999", "an unknown paper");
    s_http_free (&http);
    http = s_get ("/api/papers/hep-th%2F9999999");
    s_assert_error (http, 404, "not_found", NULL, "an unknown old-style paper");
    s_http_free (&http);
}

Test (gateway, similar_papers_are_hits_like_index_similar_and_unknown_ids_are_404)
{
    s_start ();
    http_t *list = s_get_ok ("/api/papers?window=day&date=" DAY_1 "&per_page=1");
    char id[128];
    snprintf (id, sizeof id, "%s",
              json_string_value (json_object_get (
                  json_array_get (json_object_get (list->json, "papers"), 0), "id")));
    s_http_free (&list);
    char path[256];
    snprintf (path, sizeof path, "/api/papers/%s/similar?limit=4", id);
    http_t *http = s_get_ok (path);
    cr_assert_str_eq (json_string_value (json_object_get (http->json, "id")), id);
    json_t *hits = json_object_get (http->json, "hits");
    cr_assert_eq (json_array_size (hits), 4, "%s: %zu hits", path, json_array_size (hits));
    size_t i;
    json_t *hit;
    json_array_foreach (hits, i, hit)
    {
        s_assert_hit (hit, path);
        cr_assert_str_neq (json_string_value (json_object_get (hit, "id")), id,
                           "a paper is similar to itself");
    }
    //  The same papers as index.similar, in the same order.
    msgpack_packer packer = pbtest_packer (&s_body);
    pb_index_similar_request_t request = {0};
    request.id = pb_str (id);
    request.limit = 4;
    pb_set_present (&request, PB_index_similar_request_limit);
    pb_encode (&pb_index_similar_request_schema, &request, &packer);
    pbtest_answer_t *answer =
        pbtest_call (s_stack.client, "index.similar", s_body.data, s_body.size);
    cr_assert_eq (answer->reply.status, PB_OK, "%s", pbtest_describe (answer));
    cr_assert_eq (answer->search.hits.count, 4);
    for (uint32_t h = 0; h < 4; h++) {
        char expected[128];
        pbtest_text (((pb_search_hit_t *)answer->search.hits.items)[h].id, expected,
                     sizeof expected);
        cr_assert_str_eq (json_string_value (json_object_get (json_array_get (hits, h), "id")),
                          expected, "similar hit %u", h);
    }
    pbtest_answer_free (&answer);
    s_http_free (&http);
    http = s_get ("/api/papers/2501.99999/similar");
    s_assert_error (http, 404, "not_found", NULL, "similar to an unknown paper");
    s_http_free (&http);
    snprintf (path, sizeof path, "/api/papers/%s/similar?limit=51", id);
    http = s_get (path);
    cr_assert (http->status == 400 || http->status == 422, "limit=51: %s", s_describe (http));
    s_assert_error (http, http->status, NULL, "limit", "limit=51");
    s_http_free (&http);
}

/* ==== Search ==== */

//  Fails unless the hits of the gateway's search PAGE are index.search's
//  for QUERY and SORT (the first PER_PAGE), with upvotes and voted added.
static void s_assert_search_matches_index (json_t *page, const char *query, const char *sort,
                                           int per_page)
{
    msgpack_packer packer = pbtest_packer (&s_body);
    pb_index_search_request_t request = {0};
    request.query = pb_str (query);
    request.sort = pb_str (sort);
    pb_set_present (&request, PB_index_search_request_sort);
    request.limit = per_page;
    pb_set_present (&request, PB_index_search_request_limit);
    pb_encode (&pb_index_search_request_schema, &request, &packer);
    pbtest_answer_t *answer =
        pbtest_call (s_stack.client, "index.search", s_body.data, s_body.size);
    cr_assert_eq (answer->reply.status, PB_OK, "index.search %s: %s", query,
                  pbtest_describe (answer));
    json_t *hits = json_object_get (page, "hits");
    cr_assert_eq (json_array_size (hits), answer->search.hits.count,
                  "%s (%s): %zu hits, index.search has %u", query, sort, json_array_size (hits),
                  answer->search.hits.count);
    cr_assert_eq (json_integer_value (json_object_get (page, "total")), answer->search.total,
                  "%s: total", query);
    cr_assert_eq (json_is_true (json_object_get (page, "total_exact")), answer->search.total_exact);
    for (uint32_t h = 0; h < answer->search.hits.count; h++) {
        const pb_search_hit_t *expected = (const pb_search_hit_t *)answer->search.hits.items + h;
        json_t *hit = json_array_get (hits, h);
        char text[4096];
        cr_assert_str_eq (json_string_value (json_object_get (hit, "id")),
                          pbtest_text (expected->id, text, sizeof text), "%s (%s): hit %u", query,
                          sort, h);
        cr_assert_str_eq (json_string_value (json_object_get (hit, "title")),
                          pbtest_text (expected->title, text, sizeof text));
        if (pb_has (expected, PB_search_hit_snippet))
            cr_assert_str_eq (json_string_value (json_object_get (hit, "snippet")),
                              pbtest_text (expected->snippet, text, sizeof text));
        double score = json_number_value (json_object_get (hit, "score"));
        cr_assert (score > expected->score - 1e-6 && score < expected->score + 1e-6,
                   "%s: hit %u's score %g, index says %g", query, h, score, expected->score);
        s_assert_hit (hit, query);
    }
    pbtest_answer_free (&answer);
}

Test (gateway, search_hits_are_index_search_hits_with_votes_in_every_sort_and_marked)
{
    s_start ();
    const char *sorts[] = {"relevance", "date", "trending"};
    for (int s = 0; s < 3; s++) {
        char path[256];
        snprintf (path, sizeof path, "/api/search?q=diffusion+models&sort=%s&per_page=10",
                  sorts[s]);
        http_t *http = s_get_ok (path);
        cr_assert_str_eq (json_string_value (json_object_get (http->json, "query")),
                          "diffusion models");
        cr_assert_str_eq (json_string_value (json_object_get (http->json, "sort")), sorts[s]);
        cr_assert_eq (json_integer_value (json_object_get (http->json, "per_page")), 10);
        s_assert_search_matches_index (http->json, "diffusion models", sorts[s], 10);
        if (s == 0) {
            json_t *hit = json_array_get (json_object_get (http->json, "hits"), 0);
            const char *snippet = json_string_value (json_object_get (hit, "snippet"));
            cr_assert (snippet && strstr (snippet, "<mark>") && strstr (snippet, "</mark>"),
                       "the first hit's snippet has no <mark>: %s", snippet ? snippet : "(none)");
        }
        if (s == 1) {
            json_t *hits = json_object_get (http->json, "hits");
            for (size_t i = 1; i < json_array_size (hits); i++)
                cr_assert_geq (strcmp (json_string_value (json_object_get (
                                           json_array_get (hits, i - 1), "published")),
                                       json_string_value (json_object_get (json_array_get (hits, i),
                                                                           "published"))),
                               0, "sort=date: hit %zu is newer than hit %zu", i, i - 1);
        }
        s_http_free (&http);
    }
    //  A phrase and filters, as the index reads them; page 2 follows page 1.
    http_t *page1 = s_get_ok ("/api/search?q=%22language+models%22+-survey&per_page=5");
    s_assert_search_matches_index (page1->json, "\"language models\" -survey", "relevance", 5);
    http_t *page2 = s_get_ok ("/api/search?q=%22language+models%22+-survey&per_page=5&page=2");
    char ids1[2048], ids2[2048];
    s_ids (page1->json, "hits", ids1, sizeof ids1);
    s_ids (page2->json, "hits", ids2, sizeof ids2);
    cr_assert_gt (strlen (ids2), 0, "no second page of hits");
    cr_assert_str_neq (ids1, ids2);
    s_http_free (&page1);
    s_http_free (&page2);
    //  Stop words alone match nothing, and say so.
    http_t *http = s_get_ok ("/api/search?q=the+of+and");
    cr_assert_eq (json_integer_value (json_object_get (http->json, "total")), 0);
    cr_assert (json_string_value (json_object_get (http->json, "note")), "no note: %s", http->body);
    s_http_free (&http);
    const char *pages[][2] = {{"/api/search?q=diffusion&per_page=51", "per_page"},
                              {"/api/search?q=diffusion&page=21&per_page=50", "page"},
                              {"/api/search?q=diffusion&page=0", "page"}};
    for (int i = 0; i < 3; i++) {
        http = s_get (pages[i][0]);
        cr_assert (http->status == 400 || http->status == 422, "%s: %s", pages[i][0],
                   s_describe (http));
        s_assert_error (http, http->status, NULL, pages[i][1], pages[i][0]);
        s_http_free (&http);
    }
    http = s_get ("/api/search?q=diffusion&sort=popularity");
    cr_assert (http->status == 400 || http->status == 422, "sort=popularity: %s",
               s_describe (http));
    s_assert_error (http, http->status, NULL, "sort", "sort=popularity");
    s_http_free (&http);
    http = s_get ("/api/search");
    cr_assert (http->status == 400 || http->status == 422, "no q: %s", s_describe (http));
    s_assert_error (http, http->status, NULL, "q", "no q");
    s_http_free (&http);
}

Test (gateway, odd_queries_are_clear_4xx_errors_never_5xx)
{
    s_start ();
    char long_query[3200], path[8192];
    for (size_t i = 0; i + 1 < sizeof long_query; i++)
        long_query[i] = i % 6 == 5 ? '+' : 'q';
    long_query[3072] = 0;
    struct {
        const char *query; //  as sent, percent-encoded
        const char *what;
        long status; //  0: any 4xx
    } odd[] = {
        {"%22unbalanced+quotes", "unbalanced quotes", 0},
        {long_query, "a 3 KB query", 0},
        {"diffusion%01%07models", "control characters", 0},
        {"caf%C3+models", "invalid UTF-8", 400},
        {"%FF%FE", "invalid UTF-8 alone", 400},
        {"", "an empty query", 0},
        {"since%3A2026-99", "an unreadable date", 0},
    };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        snprintf (path, sizeof path, "/api/search?q=%s", odd[i].query);
        http_t *http = s_get (path);
        if (http->status == 200 && i == 0) {
            //  An unbalanced quote may be read as a phrase to the end: fine, if it is JSON.
            cr_assert (json_is_array (json_object_get (http->json, "hits")));
            s_http_free (&http);
            continue;
        }
        cr_assert (http->status >= 400 && http->status < 500, "%s: %s, not a 4xx", odd[i].what,
                   s_describe (http));
        s_assert_error (http, odd[i].status ? odd[i].status : http->status, NULL, NULL,
                        odd[i].what);
        s_http_free (&http);
    }
    //  The feed takes the same queries, and refuses them alike.
    http_t *http = s_get ("/feeds/search.atom?q=%FF%FE");
    cr_assert (http->status >= 400 && http->status < 500, "feed, invalid UTF-8: %s",
               s_describe (http));
    s_http_free (&http);
}

/* ==== Votes and sessions ==== */

//  The upvotes and voted of paper ID, as the gateway says for COOKIE.
static int64_t s_upvotes (const char *id, const char *cookie, bool *voted)
{
    char path[256];
    snprintf (path, sizeof path, "/api/papers/%s", id);
    http_t *http = s_request (REQUEST (.path = path, .cookie = cookie));
    cr_assert_eq (http->status, 200, "GET %s: %s", path, s_describe (http));
    int64_t upvotes = json_integer_value (json_object_get (http->json, "upvotes"));
    if (voted)
        *voted = json_is_true (json_object_get (http->json, "voted"));
    s_http_free (&http);
    return upvotes;
}

//  POST (UP) or DELETE a vote for ID; fails unless the answer is STATUS.
//  Returns the response for more checks.
static http_t *s_vote (const char *id, bool up, request_t request, long status)
{
    char path[256];
    snprintf (path, sizeof path, "/api/papers/%s/vote", id);
    request.path = path;
    request.method = up ? "POST" : "DELETE";
    http_t *http = s_request (request);
    cr_assert_eq (http->status, status, "%s %s: %s, not %ld", request.method, path,
                  s_describe (http), status);
    return http;
}

Test (gateway, votes_need_a_session_from_the_mailed_link_and_count_once)
{
    s_start ();
    const char *id = HOSTILE_ID;
    http_t *http = s_vote (id, true, REQUEST (0), 401);
    s_assert_error (http, 401, "unauthorized", NULL, "a vote without a session");
    s_http_free (&http);
    http = s_get ("/api/session");
    s_assert_error (http, 401, "unauthorized", NULL, "who is signed in, nobody");
    s_http_free (&http);

    char cookie[512];
    s_sign_in ("Reader@Example.org", NULL, cookie, sizeof cookie);
    http = s_request (REQUEST (.path = "/api/session", .cookie = cookie));
    cr_assert_eq (http->status, 200, "GET /api/session: %s", s_describe (http));
    json_t *user = json_object_get (http->json, "user");
    cr_assert_str_eq (json_string_value (json_object_get (user, "email")), "reader@example.org");
    cr_assert (json_string_value (json_object_get (user, "id")));
    s_http_free (&http);

    bool voted;
    int64_t before = s_upvotes (id, cookie, &voted);
    cr_assert_not (voted);
    http = s_vote (id, true, REQUEST (.cookie = cookie), 200);
    cr_assert_str_eq (json_string_value (json_object_get (http->json, "id")), id);
    cr_assert_eq (json_integer_value (json_object_get (http->json, "upvotes")), before + 1);
    cr_assert (json_is_true (json_object_get (http->json, "voted")));
    cr_assert (json_is_true (json_object_get (http->json, "changed")));
    s_http_free (&http);
    cr_assert_eq (s_upvotes (id, cookie, &voted), before + 1);
    cr_assert (voted, "the paper does not say the reader voted");
    cr_assert_eq (s_upvotes (id, NULL, &voted), before + 1);
    cr_assert_not (voted, "voted is true for nobody signed in");
    //  The list says so too.
    http = s_request (
        REQUEST (.path = "/api/papers?window=day&date=" DAY_2 "&per_page=50", .cookie = cookie));
    json_t *hit = s_find (http->json, "papers", id);
    cr_assert (hit, "the voted paper is not first in its day's list: %.300s", http->body);
    cr_assert (json_is_true (json_object_get (hit, "voted")));
    s_http_free (&http);

    http = s_request (REQUEST (.path = "/api/search?q=quokkas", .cookie = cookie));
    hit = s_find (http->json, "hits", id);
    cr_assert (hit, "the search for quokkas lacks %s: %s", id, s_describe (http));
    cr_assert (json_is_true (json_object_get (hit, "voted")),
               "search says the reader did not vote");
    cr_assert_eq (json_integer_value (json_object_get (hit, "upvotes")), before + 1);
    s_http_free (&http);
    http = s_vote (id, true, REQUEST (.cookie = cookie), 200);
    cr_assert_eq (json_integer_value (json_object_get (http->json, "upvotes")), before + 1);
    cr_assert (json_is_false (json_object_get (http->json, "changed")), "a second vote counted");
    s_http_free (&http);
    http = s_vote (id, false, REQUEST (.cookie = cookie), 200);
    cr_assert_eq (json_integer_value (json_object_get (http->json, "upvotes")), before);
    cr_assert (json_is_false (json_object_get (http->json, "voted")));
    cr_assert (json_is_true (json_object_get (http->json, "changed")));
    s_http_free (&http);
    http = s_vote (id, false, REQUEST (.cookie = cookie), 200);
    cr_assert (json_is_false (json_object_get (http->json, "changed")));
    s_http_free (&http);
    http = s_vote ("2501.99999", true, REQUEST (.cookie = cookie), 404);
    s_http_free (&http);
    //  A forged cookie is nobody.
    http = s_vote (id, true, REQUEST (.cookie = "forged-session-value"), 401);
    s_http_free (&http);
    //  The session cookie among a browser's other cookies.
    char cookies[700];
    snprintf (cookies, sizeof cookies, "Cookie: theme=dark; pb_session=%s; lang=en", cookie);
    http = s_request (REQUEST (.path = "/api/session", .header = cookies));
    cr_assert_eq (http->status, 200, "the session among other cookies: %s", s_describe (http));
    s_http_free (&http);
}

Test (gateway, the_session_cookie_is_httponly_lax_and_signing_out_closes_it)
{
    int64_t now = zclock_time ();
    s_clock_ms (now);
    s_start ();
    char body[512], token[256];
    http_t *http = s_request (REQUEST (.method = "POST", .path = "/api/signin",
                                       .body = "{\"email\": \"cookie@example.org\"}"));
    cr_assert_eq (http->status, 202, "%s", s_describe (http));
    cr_assert_str_eq (json_string_value (json_object_get (http->json, "email")),
                      "cookie@example.org");
    s_http_free (&http);
    s_mailed_token ("cookie@example.org", "/signin?token=", token, sizeof token);
    //  A mail scanner that fetches the link does not use the token up.
    snprintf (body, sizeof body, "/signin?token=%s", token);
    http = s_get (body);
    cr_assert_eq (http->status, 200, "GET %s: %s", body, s_describe (http));
    s_http_free (&http);
    snprintf (body, sizeof body, "{\"token\": \"%s\"}", token);
    http = s_request (REQUEST (.method = "POST", .path = "/api/session", .body = body));
    cr_assert_eq (http->status, 200, "POST /api/session: %s", s_describe (http));
    char set_cookie[1024];
    cr_assert (s_header (http, "Set-Cookie", set_cookie, sizeof set_cookie));
    cr_assert (strcasestr (set_cookie, "HttpOnly"), "Set-Cookie: %s", set_cookie);
    cr_assert (strcasestr (set_cookie, "SameSite=Lax"), "Set-Cookie: %s", set_cookie);
    cr_assert (strcasestr (set_cookie, "Path=/"), "Set-Cookie: %s", set_cookie);
    cr_assert_null (strcasestr (set_cookie, "Secure"), "Secure over http: %s", set_cookie);
    char cookie[512];
    snprintf (cookie, sizeof cookie, "%.*s", (int)strcspn (set_cookie + 11, ";"), set_cookie + 11);
    s_http_free (&http);
    //  The token works once.
    http = s_request (REQUEST (.method = "POST", .path = "/api/session", .body = body));
    s_assert_error (http, 401, "unauthorized", NULL, "a used sign-in token");
    s_http_free (&http);
    http = s_request (
        REQUEST (.method = "POST", .path = "/api/session", .body = "{\"token\": \"not-a-token\"}"));
    s_assert_error (http, 401, "unauthorized", NULL, "a made-up sign-in token");
    s_http_free (&http);
    http = s_request (REQUEST (.method = "DELETE", .path = "/api/session", .cookie = cookie));
    cr_assert_eq (http->status, 204, "DELETE /api/session: %s", s_describe (http));
    cr_assert (s_header (http, "Set-Cookie", set_cookie, sizeof set_cookie),
               "signing out does not clear the cookie");
    cr_assert (strncmp (set_cookie, "pb_session=;", 12) == 0 ||
                   strcasestr (set_cookie, "Max-Age=0") ||
                   strcasestr (set_cookie, "Expires=Thu, 01 Jan 1970"),
               "the cookie is not cleared: %s", set_cookie);
    s_http_free (&http);
    http = s_request (REQUEST (.path = "/api/session", .cookie = cookie));
    s_assert_error (http, 401, "unauthorized", NULL, "a closed session");
    s_http_free (&http);
    //  Behind https, the cookie is Secure.
    s_gateway_start (1, "PAPERBUS_PUBLIC_URL=https://papers.example.org");
    http = s_request (REQUEST (.method = "POST", .path = "/api/signin",
                               .body = "{\"email\": \"secure@example.org\"}"));
    cr_assert_eq (http->status, 202, "%s", s_describe (http));
    s_http_free (&http);
    s_mailed_token ("secure@example.org", "/signin?token=", token, sizeof token);
    snprintf (body, sizeof body, "{\"token\": \"%s\"}", token);
    http =
        s_request (REQUEST (.method = "POST", .path = "/api/session", .body = body, .gateway = 1));
    cr_assert_eq (http->status, 200, "POST /api/session (https): %s", s_describe (http));
    cr_assert (s_header (http, "Set-Cookie", set_cookie, sizeof set_cookie));
    cr_assert (strcasestr (set_cookie, "Secure"), "no Secure behind https: %s", set_cookie);
    s_http_free (&http);
    //  A sign-in link works for 15 minutes (PAPERBUS_SIGNIN_TTL_S).
    http = s_request (REQUEST (.method = "POST", .path = "/api/signin",
                               .body = "{\"email\": \"slow@example.org\"}"));
    cr_assert_eq (http->status, 202, "%s", s_describe (http));
    s_http_free (&http);
    s_mailed_token ("slow@example.org", "/signin?token=", token, sizeof token);
    s_clock_ms (now + 16 * 60 * 1000);
    snprintf (body, sizeof body, "{\"token\": \"%s\"}", token);
    http = s_request (REQUEST (.method = "POST", .path = "/api/session", .body = body));
    s_assert_error (http, 401, "unauthorized", NULL, "a sign-in link 16 minutes old");
    s_http_free (&http);
}

Test (gateway, api_tokens_vote_by_bearer_and_cookie_votes_from_other_origins_are_403)
{
    s_start ();
    char cookie[512];
    s_sign_in ("script@example.org", NULL, cookie, sizeof cookie);
    http_t *http =
        s_request (REQUEST (.method = "POST", .path = "/api/tokens",
                            .body = "{\"label\": \"nightly script\"}", .cookie = cookie));
    cr_assert_eq (http->status, 201, "POST /api/tokens: %s", s_describe (http));
    cr_assert_str_eq (json_string_value (json_object_get (http->json, "label")), "nightly script");
    cr_assert (json_object_get (http->json, "expires_at"));
    char token[512];
    snprintf (token, sizeof token, "%s", json_string_value (json_object_get (http->json, "token")));
    cr_assert_gt (strlen (token), 16);
    s_http_free (&http);
    http =
        s_request (REQUEST (.method = "POST", .path = "/api/tokens", .body = "{\"label\": \"x\"}"));
    s_assert_error (http, 401, "unauthorized", NULL, "a token without a session");
    s_http_free (&http);

    const char *id = OLD_STYLE_ID;
    int64_t before = s_upvotes ("hep-th%2F9901001", cookie, NULL);
    http = s_vote ("hep-th%2F9901001", true, REQUEST (.bearer = token), 200);
    cr_assert_str_eq (json_string_value (json_object_get (http->json, "id")), id);
    cr_assert_eq (json_integer_value (json_object_get (http->json, "upvotes")), before + 1);
    s_http_free (&http);
    http = s_request (REQUEST (.path = "/api/session", .bearer = token));
    cr_assert_eq (http->status, 200, "GET /api/session by bearer: %s", s_describe (http));
    cr_assert_str_eq (
        json_string_value (json_object_get (json_object_get (http->json, "user"), "email")),
        "script@example.org");
    s_http_free (&http);
    //  The token and the cookie are the same person: one vote.
    http = s_vote ("hep-th%2F9901001", true, REQUEST (.cookie = cookie), 200);
    cr_assert (json_is_false (json_object_get (http->json, "changed")));
    s_http_free (&http);
    //  The old-style id with its slash as it is.
    http = s_vote ("hep-th/9901001", false, REQUEST (.bearer = token), 200);
    cr_assert_str_eq (json_string_value (json_object_get (http->json, "id")), id);
    cr_assert_eq (json_integer_value (json_object_get (http->json, "upvotes")), before);
    cr_assert (json_is_true (json_object_get (http->json, "changed")));
    s_http_free (&http);
    http = s_vote (HOSTILE_ID, true, REQUEST (.bearer = "pbt_forged"), 401);
    s_http_free (&http);

    //  A cookie sent along by another site's page is refused, and counts
    //  nothing (the counts of a signed-in reader are fresh, never cached).
    int64_t hostile_before = s_upvotes (HOSTILE_ID, cookie, NULL);
    http = s_vote (HOSTILE_ID, true, REQUEST (.cookie = cookie, .origin = EVIL_ORIGIN), 403);
    s_assert_error (http, 403, "forbidden", NULL, "a cross-origin cookie vote");
    s_http_free (&http);
    http =
        s_request (REQUEST (.method = "POST", .path = "/api/tokens", .body = "{\"label\": \"x\"}",
                            .cookie = cookie, .origin = EVIL_ORIGIN));
    s_assert_error (http, 403, "forbidden", NULL, "a cross-origin token request");
    s_http_free (&http);
    http = s_request (REQUEST (.method = "DELETE", .path = "/api/session", .cookie = cookie,
                               .origin = EVIL_ORIGIN));
    s_assert_error (http, 403, "forbidden", NULL, "a cross-origin sign-out");
    s_http_free (&http);
    char other_port[64];
    snprintf (other_port, sizeof other_port, "http://127.0.0.1:%d", s_ports[1]);
    const char *origins[] = {"null", other_port, "https://127.0.0.1",
                             "http://127.0.0.1.evil.example"};
    for (int i = 0; i < 4; i++) {
        http = s_vote (HOSTILE_ID, true, REQUEST (.cookie = cookie, .origin = origins[i]), 403);
        s_assert_error (http, 403, "forbidden", NULL, origins[i]);
        s_http_free (&http);
    }
    cr_assert_eq (s_upvotes (HOSTILE_ID, cookie, NULL), hostile_before);
    //  The gateway's own origin is fine; a bearer token is not a cookie.
    char origin[64];
    snprintf (origin, sizeof origin, "http://127.0.0.1:%d", s_ports[0]);
    http = s_vote (HOSTILE_ID, true, REQUEST (.cookie = cookie, .origin = origin), 200);
    s_http_free (&http);
    http = s_vote (HOSTILE_ID, false, REQUEST (.bearer = token, .origin = EVIL_ORIGIN), 200);
    s_http_free (&http);
    //  A script revokes its token: it votes no more, and the browser's
    //  session it was made from stays open.
    http = s_request (REQUEST (.method = "DELETE", .path = "/api/session", .bearer = token));
    cr_assert_eq (http->status, 204, "DELETE /api/session by bearer: %s", s_describe (http));
    s_http_free (&http);
    http = s_vote (HOSTILE_ID, true, REQUEST (.bearer = token), 401);
    s_http_free (&http);
    http = s_request (REQUEST (.path = "/api/session", .cookie = cookie));
    cr_assert_eq (http->status, 200, "the browser's session after revoking a token: %s",
                  s_describe (http));
    s_http_free (&http);
}

/* ==== Subscriptions ==== */

Test (gateway, subscribing_mails_a_link_that_confirms_and_one_click_unsubscribes)
{
    int64_t now = zclock_time ();
    s_clock_ms (now);
    s_start ();
    http_t *http = s_request (REQUEST (
            .method = "POST", .path = "/api/subscriptions",
            .body =
                "{\"email\": \"Json@Example.org\", \"query\": \"diffusion\", \"trending\": 3}"));
    cr_assert_eq (http->status, 202, "POST /api/subscriptions: %s", s_describe (http));
    cr_assert_str_eq (json_string_value (json_object_get (http->json, "email")),
                      "json@example.org");
    cr_assert_str_eq (json_string_value (json_object_get (http->json, "status")),
                      "confirmation_sent");
    s_http_free (&http);
    http = s_request (REQUEST (.method = "POST", .path = "/api/subscriptions",
                               .body = "{\"email\": \"browser@example.org\", \"trending\": 3}"));
    cr_assert_eq (http->status, 202, "%s", s_describe (http));
    s_http_free (&http);
    http = s_request (REQUEST (.method = "POST", .path = "/api/subscriptions",
                               .body = "{\"email\": \"late@example.org\", \"trending\": 3}"));
    cr_assert_eq (http->status, 202, "%s", s_describe (http));
    s_http_free (&http);

    //  Each field is checked, and a refused request mails nothing.
    const char *bad[][2] = {
        {"{\"email\": \"a@example.org\", \"hour\": 24}", "hour"},
        {"{\"email\": \"a@example.org\", \"cadence\": \"hourly\"}", "cadence"},
        {"{\"email\": \"a@example.org\", \"time_zone\": \"Mars/Olympus_Mons\"}", "time_zone"},
        {"{\"email\": \"a@example.org\", \"trending\": 51}", "trending"},
        {"{\"email\": \"a@example.org\", \"colour\": \"blue\"}", "colour"},
        {"{\"email\": \"a@example.org\\r\\nBcc: x@evil.example\"}", "email"},
        {"{\"query\": \"diffusion\"}", "email"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        http =
            s_request (REQUEST (.method = "POST", .path = "/api/subscriptions", .body = bad[i][0]));
        cr_assert (http->status == 400 || http->status == 422, "%s: %s", bad[i][0],
                   s_describe (http));
        s_assert_error (http, http->status, NULL, bad[i][1], bad[i][0]);
        s_http_free (&http);
    }
    char json_token[256], browser_token[256], path[512];
    s_mailed_token ("json@example.org", "/api/subscriptions/confirm?token=", json_token,
                    sizeof json_token);
    s_mailed_token ("browser@example.org", "/api/subscriptions/confirm?token=", browser_token,
                    sizeof browser_token);
    //  A JSON client gets the subscription.
    snprintf (path, sizeof path, "/api/subscriptions/confirm?token=%s", json_token);
    http = s_request (REQUEST (.path = path, .accept = "application/json"));
    cr_assert_eq (http->status, 200, "confirm (JSON): %s", s_describe (http));
    cr_assert_str_eq (json_string_value (json_object_get (http->json, "status")), "confirmed");
    cr_assert_str_eq (json_string_value (json_object_get (http->json, "email")),
                      "json@example.org");
    s_http_free (&http);
    //  A browser is sent to the page.
    char location[512];
    snprintf (path, sizeof path, "/api/subscriptions/confirm?token=%s", browser_token);
    http =
        s_request (REQUEST (.path = path, .accept = "text/html,application/xhtml+xml,*/*;q=0.8"));
    cr_assert_eq (http->status, 303, "confirm (browser): %s", s_describe (http));
    cr_assert (s_header (http, "Location", location, sizeof location));
    cr_assert (strstr (location, "/?subscription=confirmed"), "Location: %s", location);
    s_http_free (&http);
    http = s_request (
        REQUEST (.path = "/api/subscriptions/confirm?token=bogus", .accept = "text/html"));
    cr_assert_eq (http->status, 303, "a bogus token (browser): %s", s_describe (http));
    cr_assert (s_header (http, "Location", location, sizeof location));
    cr_assert (strstr (location, "/?subscription=invalid"), "Location: %s", location);
    s_http_free (&http);
    http = s_request (
        REQUEST (.path = "/api/subscriptions/confirm?token=bogus", .accept = "application/json"));
    cr_assert (http->status >= 400 && http->status < 500, "a bogus token (JSON): %s",
               s_describe (http));
    s_assert_error (http, http->status, NULL, NULL, "a bogus confirmation token");
    s_http_free (&http);
    pb_db_params_t none = {0};
    PGresult *result = pb_db_query (s_stack.db, "SELECT count(*) FROM subscription", &none);
    cr_assert (result, "%s", pb_db_error (s_stack.db));
    cr_assert_str_eq (PQgetvalue (result, 0, 0), "2", "two subscriptions are confirmed");
    PQclear (result);
    result = pb_db_query (s_stack.db,
                          "SELECT count(*) FROM subscription_request WHERE email = 'a@example.org'",
                          &none);
    cr_assert (result, "%s", pb_db_error (s_stack.db));
    cr_assert_str_eq (PQgetvalue (result, 0, 0), "0", "a refused request was stored");
    PQclear (result);

    //  The digests carry RFC 8058 headers; a POST to the link unsubscribes.
    msgpack_packer packer = pbtest_packer (&s_body);
    pb_digests_run_request_t run = {0};
    run.now = true;
    pb_set_present (&run, PB_digests_run_request_now);
    pb_encode (&pb_digests_run_request_schema, &run, &packer);
    pbtest_answer_t *answer = pbtest_call (s_stack.client, "notify.run", s_body.data, s_body.size);
    cr_assert_eq (answer->reply.status, PB_OK, "notify.run: %s", pbtest_describe (answer));
    pbtest_answer_free (&answer);
    char link[512];
    s_unsubscribe_link ("json@example.org", link, sizeof link);
    http = s_request (REQUEST (.method = "POST", .path = link, .body = "List-Unsubscribe=One-Click",
                               .content_type = "application/x-www-form-urlencoded"));
    cr_assert_eq (http->status, 200, "one-click POST %s: %s", link, s_describe (http));
    cr_assert_str_eq (json_string_value (json_object_get (http->json, "status")), "unsubscribed");
    s_http_free (&http);
    //  Again: already gone is no error.
    http = s_request (REQUEST (.method = "POST", .path = link, .body = "List-Unsubscribe=One-Click",
                               .content_type = "application/x-www-form-urlencoded"));
    cr_assert_eq (http->status, 200, "a second one-click POST: %s", s_describe (http));
    s_http_free (&http);
    //  A browser following the other digest's link is sent to the page.
    s_unsubscribe_link ("browser@example.org", link, sizeof link);
    http = s_request (REQUEST (.path = link, .accept = "text/html"));
    cr_assert_eq (http->status, 303, "GET %s (browser): %s", link, s_describe (http));
    cr_assert (s_header (http, "Location", location, sizeof location));
    cr_assert (strstr (location, "/?unsubscribed=1"), "Location: %s", location);
    s_http_free (&http);
    //  A forged unsubscribe link sends the browser to the page, saying so.
    http = s_request (REQUEST (.path = "/api/unsubscribe?token=forged", .accept = "text/html"));
    cr_assert_eq (http->status, 303, "a forged unsubscribe link (browser): %s", s_describe (http));
    cr_assert (s_header (http, "Location", location, sizeof location));
    cr_assert (strstr (location, "/?unsubscribed=invalid"), "Location: %s", location);
    s_http_free (&http);
    result = pb_db_query (s_stack.db, "SELECT count(*) FROM subscription", &none);
    cr_assert (result, "%s", pb_db_error (s_stack.db));
    cr_assert_str_eq (PQgetvalue (result, 0, 0), "0", "subscriptions remain after unsubscribing");
    PQclear (result);
    //  A link of the right form that was never mailed is invalid; one
    //  followed after it expired (48 h) is expired.
    http = s_request (
        REQUEST (.path =
                     "/api/subscriptions/confirm?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                 .accept = "text/html"));
    cr_assert_eq (http->status, 303, "an unknown token (browser): %s", s_describe (http));
    cr_assert (s_header (http, "Location", location, sizeof location));
    cr_assert (strstr (location, "/?subscription=invalid"),
               "a token never mailed is sent to %s, not /?subscription=invalid", location);
    s_http_free (&http);
    char late_token[256];
    s_mailed_token ("late@example.org", "/api/subscriptions/confirm?token=", late_token,
                    sizeof late_token);
    s_clock_ms (now + 3 * 86400000LL);
    snprintf (path, sizeof path, "/api/subscriptions/confirm?token=%s", late_token);
    http = s_request (REQUEST (.path = path, .accept = "text/html"));
    cr_assert_eq (http->status, 303, "an expired token (browser): %s", s_describe (http));
    cr_assert (s_header (http, "Location", location, sizeof location));
    cr_assert (strstr (location, "/?subscription=expired"), "Location: %s", location);
    s_http_free (&http);
}

/* ==== Limits and hostile requests ==== */

Test (gateway, oversized_malformed_and_misdirected_requests_get_their_4xx)
{
    s_start ();
    //  A body over 16 KiB.
    size_t size = 17 * 1024;
    char *big = malloc (size + 1);
    memset (big, ' ', size);
    memcpy (big, "{\"email\": \"big@example.org\"", 27);
    big[size - 1] = '}';
    big[size] = 0;
    http_t *http = s_request (REQUEST (.method = "POST", .path = "/api/signin", .body = big));
    free (big);
    s_assert_error (http, 413, "too_large", NULL, "a 17 KiB body");
    s_http_free (&http);
    //  A URL over 4 KiB.
    char path[5000] = "/api/search?q=";
    memset (path + 14, 'a', 4500);
    path[4514] = 0;
    http = s_get (path);
    s_assert_error (http, 414, "uri_too_long", NULL, "a 4.5 KiB URL");
    s_http_free (&http);
    //  A body that is not JSON, or not well-formed.
    http = s_request (REQUEST (.method = "POST", .path = "/api/signin",
                               .body = "email=plain@example.org", .content_type = "text/plain"));
    s_assert_error (http, 415, "unsupported_media_type", NULL, "a text/plain POST");
    s_http_free (&http);
    http = s_request (REQUEST (.method = "POST", .path = "/api/subscriptions",
                               .body = "email=form@example.org",
                               .content_type = "application/x-www-form-urlencoded"));
    s_assert_error (http, 415, "unsupported_media_type", NULL, "a form POST to subscriptions");
    s_http_free (&http);
    http = s_request (
        REQUEST (.method = "POST", .path = "/api/signin", .body = "{\"email\": \"x@example.org\""));
    s_assert_error (http, 400, "malformed", NULL, "malformed JSON");
    s_http_free (&http);
    http = s_request (REQUEST (.method = "POST", .path = "/api/signin", .body = "[1, 2]"));
    cr_assert (http->status == 400 || http->status == 422, "a JSON array: %s", s_describe (http));
    s_http_free (&http);
    http = s_request (REQUEST (.method = "POST", .path = "/api/signin", .body = "{\"email\": 42}"));
    s_assert_error (http, 400, NULL, "email", "an email that is a number");
    s_http_free (&http);
    http = s_request (REQUEST (.method = "POST", .path = "/api/subscriptions",
                               .body = "{\"email\": \"not an address\"}"));
    cr_assert (http->status == 400 || http->status == 422, "a bad address: %s", s_describe (http));
    s_assert_error (http, http->status, NULL, "email", "a bad address");
    s_http_free (&http);
    //  Media types take parameters and any case.
    const char *json_types[] = {"application/json; charset=utf-8", "Application/JSON",
                                "application/json;charset=UTF-8"};
    for (int i = 0; i < 3; i++) {
        char body[128];
        snprintf (body, sizeof body, "{\"email\": \"typed%d@example.org\"}", i);
        http = s_request (REQUEST (.method = "POST", .path = "/api/signin", .body = body,
                                   .content_type = json_types[i]));
        cr_assert_eq (http->status, 202, "Content-Type %s: %s", json_types[i], s_describe (http));
        s_http_free (&http);
    }
    //  The same body chunked, without a length to refuse it by.
    big = malloc (size + 1);
    memset (big, ' ', size);
    memcpy (big, "{\"email\": \"big@example.org\"", 27);
    big[size - 1] = '}';
    big[size] = 0;
    http =
        s_request (REQUEST (.method = "POST", .path = "/api/signin", .body = big, .chunked = true));
    free (big);
    s_assert_error (http, 413, "too_large", NULL, "a 17 KiB chunked body");
    s_http_free (&http);
    //  JSON nested past any parser's depth.
    char deep[8200];
    memset (deep, '[', 8192);
    deep[8192] = 0;
    http = s_request (REQUEST (.method = "POST", .path = "/api/signin", .body = deep));
    s_assert_error (http, 400, "malformed", NULL, "JSON nested 8192 deep");
    s_http_free (&http);
    //  A HEAD is a GET without the body.
    http = s_request (REQUEST (.method = "HEAD", .path = "/api/papers?window=trending"));
    cr_assert_eq (http->status, 200, "HEAD /api/papers: %s", s_describe (http));
    cr_assert_eq (http->size, 0);
    s_http_free (&http);
    //  A method the route does not serve.
    char allow[128];
    http = s_request (REQUEST (.method = "PUT", .path = "/api/search?q=x", .body = "{}"));
    s_assert_error (http, 405, "method_not_allowed", NULL, "PUT /api/search");
    cr_assert (s_header (http, "Allow", allow, sizeof allow), "405 without Allow");
    cr_assert (strstr (allow, "GET") && !strstr (allow, "PUT"), "Allow: %s", allow);
    s_http_free (&http);
    http = s_request (REQUEST (.method = "DELETE", .path = "/api/unsubscribe?token=x"));
    s_assert_error (http, 405, "method_not_allowed", NULL, "DELETE /api/unsubscribe");
    cr_assert (s_header (http, "Allow", allow, sizeof allow), "405 without Allow");
    cr_assert (strstr (allow, "GET") && strstr (allow, "POST"), "Allow: %s", allow);
    s_http_free (&http);
    http = s_get ("/api/papers/" HOSTILE_ID "/vote");
    s_assert_error (http, 405, "method_not_allowed", NULL, "GET .../vote");
    cr_assert (s_header (http, "Allow", allow, sizeof allow), "405 without Allow");
    cr_assert (strstr (allow, "POST") && strstr (allow, "DELETE"), "Allow: %s", allow);
    s_http_free (&http);
    //  Broken escapes are read leniently (a lone % stays a %) or refused,
    //  never a server error.
    const char *broken[] = {"/api/papers/%zz", "/api/papers/2605.9990%00", "/api/search?q=%",
                            "/api/search?q=a%2", "/api/papers?window=%00day"};
    for (int i = 0; i < 5; i++) {
        http = s_get (broken[i]);
        cr_assert (http->status >= 200 && http->status < 500 && json_is_object (http->json),
                   "GET %s: %s, not a JSON 2xx or 4xx", broken[i], s_describe (http));
        s_http_free (&http);
    }
    //  The page's routes serve the page, and its files their types.
    const char *pages[] = {"/", "/search?q=diffusion", "/signin?token=abc",
                           "/papers/hep-th/9901001", "/papers/" HOSTILE_ID};
    char type[128];
    for (int i = 0; i < 5; i++) {
        http = s_get (pages[i]);
        cr_assert_eq (http->status, 200, "GET %s: %s", pages[i], s_describe (http));
        cr_assert (s_header (http, "Content-Type", type, sizeof type) &&
                       strncmp (type, "text/html", 9) == 0,
                   "GET %s: Content-Type %s", pages[i], type);
        s_http_free (&http);
    }
    http = s_get ("/static/app.js");
    cr_assert_eq (http->status, 200, "GET /static/app.js: %s", s_describe (http));
    cr_assert (s_header (http, "Content-Type", type, sizeof type) && strstr (type, "javascript"),
               "/static/app.js: Content-Type %s", type);
    s_http_free (&http);
    //  Paths that lead nowhere, however they are spelt.
    const char *nowhere[] = {"/static/../../etc/passwd", "/static/..%2F..%2Fetc%2Fpasswd",
                             "/static/%2e%2e/%2e%2e/etc/passwd", "/../../etc/passwd",
                             "/api/nothing-here"};
    for (int i = 0; i < 5; i++) {
        http = s_get (nowhere[i]);
        cr_assert_eq (http->status, 404, "GET %s: %s", nowhere[i], s_describe (http));
        cr_assert_null (strstr (http->body, "root:"), "GET %s served /etc/passwd", nowhere[i]);
        s_http_free (&http);
    }
}

//  Opens a TCP connection to gateway 0 from 127.0.0.1; -1 on failure.
static int s_connect (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons ((uint16_t)s_ports[0])};
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    if (connect (fd, (struct sockaddr *)&address, sizeof address) != 0) {
        close (fd);
        return -1;
    }
    return fd;
}

Test (gateway, slow_partial_requests_and_header_floods_do_not_block_other_clients)
{
    s_start ();
    //  Slowloris: many connections that each send half a request and wait.
    enum { SLOW = 64 };
    int slow[SLOW];
    for (int i = 0; i < SLOW; i++) {
        slow[i] = s_connect ();
        cr_assert_geq (slow[i], 0, "connection %d refused", i);
        const char *partial = "GET /api/papers HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
        cr_assert_gt (write (slow[i], partial, strlen (partial)), 0);
    }
    //  A header flood: 256 KiB of headers on one connection.
    int flood = s_connect ();
    cr_assert_geq (flood, 0);
    const char *start = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    cr_assert_gt (write (flood, start, strlen (start)), 0);
    char header[1024];
    memset (header, 'h', sizeof header);
    memcpy (header, "X-Flood: ", 9);
    header[sizeof header - 2] = '\r';
    header[sizeof header - 1] = '\n';
    for (int i = 0; i < 256; i++)
        if (send (flood, header, sizeof header, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
            break; //  the gateway stopped reading, or closed: fine
    //  Another client is served at once, from another address.
    for (int i = 0; i < 5; i++) {
        http_t *http = s_request (
            REQUEST (.path = "/api/papers?window=trending&per_page=3", .source = "127.0.0.2"));
        cr_assert_eq (http->status, 200, "request %d beside the slow clients: %s", i,
                      s_describe (http));
        cr_assert_lt (http->seconds, 2.0, "request %d took %.2f s beside the slow clients", i,
                      http->seconds);
        s_http_free (&http);
    }
    //  The flood is answered with a 4xx, or the connection closed, within 5 s.
    struct pollfd waiting = {.fd = flood, .events = POLLIN};
    char answer[256] = "";
    if (poll (&waiting, 1, 5000) == 1) {
        ssize_t got = recv (flood, answer, sizeof answer - 1, 0);
        if (got > 0) {
            answer[got] = 0;
            cr_assert (strncmp (answer, "HTTP/1.1 4", 10) == 0 ||
                           strncmp (answer, "HTTP/1.0 4", 10) == 0,
                       "a header flood is answered: %.40s", answer);
        }
    } else
        cr_assert_fail ("a header flood of 256 KiB is neither answered nor closed within 5 s");
    close (flood);
    for (int i = 0; i < SLOW; i++)
        close (slow[i]);
    //  And afterwards, from the slow clients' own address too.
    http_t *http = s_get ("/healthz");
    cr_assert_eq (http->status, 200, "%s", s_describe (http));
    s_http_free (&http);
}

/* ==== Rate limits ==== */

//  Sends REQUEST until the answer is 429, at most MAX times, each with the
//  body {"email": "PREFIXn@example.org"} (none when PREFIX is NULL), n the
//  attempt; fails unless one is 429, with Retry-After, and the others
//  ACCEPTED. Returns how many were accepted before.
static int s_until_limited (request_t request, const char *prefix, int max, long accepted)
{
    for (int i = 0; i < max; i++) {
        char body[256];
        snprintf (body, sizeof body, "{\"email\": \"%s%d@example.org\"}", prefix ? prefix : "", i);
        request.body = prefix ? body : NULL;
        http_t *http = s_request (request);
        if (http->status == 429) {
            s_assert_error (http, 429, "rate_limited", NULL, request.path);
            char retry[32];
            cr_assert (s_header (http, "Retry-After", retry, sizeof retry),
                       "%s: 429 without Retry-After", request.path);
            cr_assert (atoi (retry) >= 1 && atoi (retry) <= 3600, "Retry-After: %s", retry);
            s_http_free (&http);
            return i;
        }
        cr_assert_eq (http->status, accepted, "%s %s, attempt %d: %s", request.method, request.path,
                      i, s_describe (http));
        s_http_free (&http);
    }
    cr_assert_fail ("%s %s: %d requests from one address and none is refused 429", request.method,
                    request.path, max);
    return max;
}

Test (gateway, signin_subscribe_and_vote_beyond_their_limits_are_429_with_retry_after)
{
    s_start ();
    int signins =
        s_until_limited (REQUEST (.method = "POST", .path = "/api/signin", .source = "127.0.0.3"),
                         "signin", 200, 202);
    cr_assert_gt (signins, 0, "the first sign-in was refused");
    //  The limit is the address's: another address is still served.
    http_t *http =
        s_request (REQUEST (.method = "POST", .path = "/api/signin",
                            .body = "{\"email\": \"other@example.org\"}", .source = "127.0.0.4"));
    cr_assert_eq (http->status, 202, "another address after the limit: %s", s_describe (http));
    s_http_free (&http);
    //  A client cannot pass for many by saying so (no proxy is trusted here).
    for (int i = 0; i < 200; i++) {
        char forwarded[64], body[128];
        snprintf (forwarded, sizeof forwarded, "X-Forwarded-For: 10.1.%d.%d", i / 200, i % 200);
        snprintf (body, sizeof body, "{\"email\": \"forwarded%d@example.org\"}", i);
        http = s_request (REQUEST (.method = "POST", .path = "/api/signin", .body = body,
                                   .header = forwarded, .source = "127.0.0.7"));
        long status = http->status;
        s_http_free (&http);
        if (status == 429)
            break;
        cr_assert_eq (status, 202, "sign-in %d with X-Forwarded-For", i);
        cr_assert_lt (i, signins + 1, "X-Forwarded-For passes the sign-in limit");
    }
    //  One e-mail address is limited whoever asks for it.
    for (int i = 0;; i++) {
        char source[32];
        snprintf (source, sizeof source, "127.0.1.%d", i + 1);
        http =
            s_request (REQUEST (.method = "POST", .path = "/api/signin",
                                .body = "{\"email\": \"popular@example.org\"}", .source = source));
        if (http->status == 429) {
            char retry[32];
            s_assert_error (http, 429, "rate_limited", NULL, "one address signing in often");
            cr_assert (s_header (http, "Retry-After", retry, sizeof retry),
                       "429 for an e-mail address without Retry-After");
            s_http_free (&http);
            break;
        }
        cr_assert_eq (http->status, 202, "sign-in %d of one e-mail address: %s", i,
                      s_describe (http));
        s_http_free (&http);
        cr_assert_lt (i, 20, "one e-mail address got 20 sign-in links in a row");
    }
    int subscribes = s_until_limited (
        REQUEST (.method = "POST", .path = "/api/subscriptions", .source = "127.0.0.5"), "sub", 200,
        202);
    cr_assert_gt (subscribes, 0);
    char cookie[512];
    s_sign_in ("voter@example.org", "127.0.0.6", cookie, sizeof cookie);
    char path[128];
    snprintf (path, sizeof path, "/api/papers/%s/vote", HOSTILE_ID);
    int votes = s_until_limited (
        REQUEST (.method = "POST", .path = path, .cookie = cookie, .source = "127.0.0.6"), NULL,
        1000, 200);
    cr_assert_gt (votes, 0);
    //  What was refused is counted.
    http = s_get ("/metrics");
    cr_assert_eq (http->status, 200);
    cr_assert (strstr (http->body, "paperbus_http_rate_limited_total{class=\"signin\"}"),
               "no rate-limited count for signin");
    s_http_free (&http);
}

/* ==== Services down ==== */

Test (gateway, a_killed_index_makes_search_503_within_the_timeout_and_a_restart_heals_it)
{
    s_start ();
    http_t *http = s_get_ok ("/api/search?q=transformers");
    s_http_free (&http);
    kill (s_index, SIGKILL);
    pbtest_wait (s_index, 5000);
    pbtest_service_forget (s_index);
    //  Right away (the bus still counts the worker) and once it has expired.
    for (int attempt = 0; attempt < 2; attempt++) {
        char path[128];
        snprintf (path, sizeof path, "/api/search?q=attention+%d", attempt);
        http = s_get (path);
        s_assert_error (http, 503, NULL, "index", "search with index killed");
        cr_assert_lt (http->seconds, GATEWAY_TIMEOUT / 1000.0 + 1.0,
                      "search took %.2f s with index killed (timeout %d ms)", http->seconds,
                      GATEWAY_TIMEOUT);
        s_http_free (&http);
        if (attempt == 0)
            pbtest_wait_for_workers ("index", 0);
    }
    http = s_get ("/metrics");
    const char *index_label[] = {"service=\"index\"", NULL};
    cr_assert_geq (s_metric (http->body, "paperbus_bus_timeouts_total", index_label), 1,
                   "no bus timeout counted for index");
    s_http_free (&http);
    http = s_get ("/healthz");
    cr_assert_eq (http->status, 503, "/healthz with index down: %s", s_describe (http));
    cr_assert_str_eq (json_string_value (json_object_get (http->json, "status")), "unavailable");
    cr_assert (strstr (http->body, "index"), "/healthz does not name index: %s", http->body);
    s_http_free (&http);
    s_index = pbtest_service_start ("index", 1);
    http = s_get_ok ("/api/search?q=attention+2");
    cr_assert_gt (json_array_size (json_object_get (http->json, "hits")), 0);
    s_http_free (&http);
    http = s_get ("/healthz");
    cr_assert_eq (http->status, 200, "/healthz after the restart: %s", s_describe (http));
    s_http_free (&http);
}

Test (gateway, healthz_is_200_when_all_live_and_a_dead_bus_is_503_everywhere)
{
    s_start ();
    http_t *http = s_get_ok ("/healthz");
    cr_assert_str_eq (json_string_value (json_object_get (http->json, "status")), "ok");
    const char *services[] = {"index", "rank", "notify"};
    for (int i = 0; i < 3; i++)
        cr_assert_geq (json_integer_value (json_object_get (
                           json_object_get (json_object_get (http->json, "services"), services[i]),
                           "live_workers")),
                       1, "/healthz: %s has no live worker: %s", services[i], http->body);
    s_http_free (&http);
    //  Without notify, signing in is 503 naming it, and /healthz says so.
    pbtest_service_stop ("notify", s_notify, SIGKILL, 5000, 0);
    http = s_request (REQUEST (.method = "POST", .path = "/api/signin",
                               .body = "{\"email\": \"nobody@example.org\"}"));
    s_assert_error (http, 503, NULL, "notify", "signing in with notify down");
    cr_assert_lt (http->seconds, GATEWAY_TIMEOUT / 1000.0 + 1.0, "signing in took %.2f s",
                  http->seconds);
    s_http_free (&http);
    http = s_get ("/healthz");
    cr_assert_eq (http->status, 503, "/healthz with notify down: %s", s_describe (http));
    cr_assert (strstr (http->body, "notify"), "/healthz does not name notify: %s", http->body);
    s_http_free (&http);
    kill (s_stack.bus, SIGKILL);
    pbtest_wait (s_stack.bus, 5000);
    s_stack.bus = 0;
    const char *paths[] = {"/api/search?q=bus+down", "/api/papers/" HOSTILE_ID};
    for (int i = 0; i < 2; i++) {
        http = s_get (paths[i]);
        s_assert_error (http, 503, NULL, NULL, paths[i]);
        cr_assert_lt (http->seconds, GATEWAY_TIMEOUT / 1000.0 + 1.0, "GET %s took %.2f s", paths[i],
                      http->seconds);
        s_http_free (&http);
    }
    http = s_get ("/healthz");
    cr_assert_eq (http->status, 503, "/healthz with the bus down: %s", s_describe (http));
    cr_assert_lt (http->seconds, GATEWAY_TIMEOUT / 1000.0 + 1.0, "/healthz took %.2f s",
                  http->seconds);
    cr_assert_str_eq (json_string_value (json_object_get (http->json, "status")), "unavailable");
    s_http_free (&http);
    //  A bus back on its endpoints: the gateway finds it again by itself.
    s_stack.bus = pbtest_bus_start ();
    pbtest_wait_for_workers ("index", 1);
    int64_t started = zclock_mono ();
    while (true) {
        http = s_get ("/api/search?q=bus+back");
        long status = http->status;
        s_http_free (&http);
        if (status == 200)
            break;
        cr_assert_lt (zclock_mono () - started, 10000, "search is %ld 10 s after the bus came back",
                      status);
        zclock_sleep (100);
    }
}

/* ==== Metrics ==== */

//  The value of the sample of METRIC whose labels include every one of
//  LABELS ("route=\"/healthz\"", NULL-terminated) in TEXT; -1 if none.
static double s_metric (const char *text, const char *metric, const char *const *labels)
{
    size_t length = strlen (metric);
    for (const char *line = text; line && *line;) {
        const char *end = strchr (line, '\n');
        size_t span = end ? (size_t)(end - line) : strlen (line);
        if (strncmp (line, metric, length) == 0 && line[length] == ' ' && !labels[0])
            return strtod (line + length + 1, NULL);
        if (strncmp (line, metric, length) == 0 && line[length] == '{') {
            char copy[1024];
            snprintf (copy, sizeof copy, "%.*s", (int)span, line);
            char *close = strrchr (copy, '}');
            bool match = close != NULL;
            for (int i = 0; match && labels[i]; i++) {
                char *found = strstr (copy, labels[i]);
                match = found && found < close && (found[-1] == '{' || found[-1] == ',');
            }
            if (match)
                return strtod (close + 1, NULL);
        }
        line = end ? end + 1 : NULL;
    }
    return -1;
}

Test (gateway, metrics_count_this_tests_requests_by_route_template_and_status)
{
    s_start ();
    http_t *before = s_get ("/metrics");
    cr_assert_eq (before->status, 200);
    const char *paper_ok[] = {"route=\"/api/papers/{id}\"", "status=\"200\"", NULL};
    const char *paper_missing[] = {"route=\"/api/papers/{id}\"", "status=\"404\"", NULL};
    double ok_before = s_metric (before->body, "paperbus_http_requests_total", paper_ok);
    double missing_before = s_metric (before->body, "paperbus_http_requests_total", paper_missing);
    const char *none[] = {NULL};
    double hits_before = s_metric (before->body, "paperbus_gateway_cache_hits_total", none);
    s_http_free (&before);
    for (int i = 0; i < 3; i++) {
        http_t *http = s_get_ok ("/api/papers/" HOSTILE_ID);
        s_http_free (&http);
    }
    for (int i = 0; i < 2; i++) {
        http_t *http = s_get ("/api/papers/2501.9999"
                              "8");
        cr_assert_eq (http->status, 404);
        s_http_free (&http);
    }
    //  The same list twice for nobody signed in: the second from the cache.
    for (int i = 0; i < 2; i++) {
        http_t *http = s_get_ok ("/api/papers?window=month&date=" DAY_1);
        s_http_free (&http);
    }
    http_t *http = s_get ("/api/nothing-like-this-route");
    cr_assert_eq (http->status, 404);
    s_http_free (&http);
    http = s_get ("/metrics");
    cr_assert_eq (http->status, 200, "%s", s_describe (http));
    char type[128];
    cr_assert (s_header (http, "Content-Type", type, sizeof type) &&
                   strncmp (type, "text/plain", 10) == 0 && strstr (type, "version=0.0.4"),
               "/metrics Content-Type: %s", type);
    double ok = s_metric (http->body, "paperbus_http_requests_total", paper_ok);
    double missing = s_metric (http->body, "paperbus_http_requests_total", paper_missing);
    cr_assert_eq (ok - (ok_before < 0 ? 0 : ok_before), 3,
                  "paperbus_http_requests_total{route=/api/papers/{id},status=200} went from "
                  "%g to %g, not up by 3",
                  ok_before, ok);
    cr_assert_eq (missing - (missing_before < 0 ? 0 : missing_before), 2,
                  "status=404 went from %g to %g, not up by 2", missing_before, missing);
    const char *paper_route[] = {"route=\"/api/papers/{id}\"", NULL};
    cr_assert_geq (
        s_metric (http->body, "paperbus_http_request_duration_seconds_count", paper_route), 5,
        "no request durations for /api/papers/{id}");
    const char *not_found[] = {"route=\"/api/papers/{id}\"", "code=\"not_found\"", NULL};
    cr_assert_geq (s_metric (http->body, "paperbus_http_errors_total", not_found), 2);
    //  Routes are templates, never raw paths.
    cr_assert_null (strstr (http->body, "2501.99998"), "a raw path is a label in /metrics");
    cr_assert_null (strstr (http->body, HOSTILE_ID), "a raw path is a label in /metrics");
    cr_assert_null (strstr (http->body, "nothing-like-this-route"),
                    "an unknown path is a label in /metrics");
    cr_assert (strstr (http->body, "# TYPE paperbus_http_requests_total counter"),
               "no TYPE line for paperbus_http_requests_total");
    double hits = s_metric (http->body, "paperbus_gateway_cache_hits_total", none);
    cr_assert_geq (hits - hits_before, 1, "paperbus_gateway_cache_hits_total went from %g to %g",
                   hits_before, hits);
    s_http_free (&http);
}

/* ==== Feeds ==== */

static void s_xml_free (xmlDoc **doc_p)
{
    xmlDoc *doc = *doc_p;
    if (!doc)
        return;
    for (int i = 0; i < MAX_HELD; i++)
        if (s_held_xml[i] == doc)
            s_held_xml[i] = NULL;
    xmlFreeDoc (doc);
    *doc_p = NULL;
}

//  The first child element of NODE named NAME in the Atom namespace.
static xmlNode *s_child (xmlNode *node, const char *name)
{
    for (xmlNode *child = node ? node->children : NULL; child; child = child->next)
        if (child->type == XML_ELEMENT_NODE && strcmp ((const char *)child->name, name) == 0 &&
            child->ns && strcmp ((const char *)child->ns->href, "http://www.w3.org/2005/Atom") == 0)
            return child;
    return NULL;
}

//  The text of NODE's Atom child NAME (attribute ATTRIBUTE of it when not
//  NULL), copied into OUT ("" when there is none), so that nothing
//  libxml2 allocated is left to leak when an assertion fails.
static const char *s_xml_text (xmlNode *node, const char *name, const char *attribute, char *out,
                               size_t size)
{
    xmlNode *child = s_child (node, name);
    xmlChar *text = !child      ? NULL
                    : attribute ? xmlGetProp (child, (const xmlChar *)attribute)
                                : xmlNodeGetContent (child);
    snprintf (out, size, "%s", text ? (const char *)text : "");
    xmlFree (text);
    return out;
}

//  Parses the Atom feed at PATH (strictly: a well-formedness error fails
//  the test) and checks every entry has id, title, updated and a link.
//  Returns the document; the entry titled TITLE (if any) goes to *FOUND.
static xmlDoc *s_feed (const char *path, const char *title, xmlNode **found, size_t *entries)
{
    http_t *http = s_get (path);
    cr_assert_eq (http->status, 200, "GET %s: %s", path, s_describe (http));
    char type[128];
    cr_assert (s_header (http, "Content-Type", type, sizeof type) &&
                   strncmp (type, "application/atom+xml", 20) == 0,
               "%s: Content-Type %s", path, type);
    xmlDoc *doc = xmlReadMemory (http->body, (int)http->size, path, NULL,
                                 XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    cr_assert (doc, "%s is not well-formed XML: %.300s", path, http->body);
    s_http_free (&http);
    for (int i = 0; i < MAX_HELD; i++)
        if (!s_held_xml[i]) {
            s_held_xml[i] = doc;
            break;
        }
    xmlNode *feed = xmlDocGetRootElement (doc);
    cr_assert (feed && strcmp ((const char *)feed->name, "feed") == 0 && feed->ns &&
                   strcmp ((const char *)feed->ns->href, "http://www.w3.org/2005/Atom") == 0,
               "%s: the root is not an Atom feed", path);
    cr_assert (s_child (feed, "id") && s_child (feed, "title") && s_child (feed, "updated"),
               "%s: the feed lacks id, title or updated", path);
    *entries = 0;
    if (found)
        *found = NULL;
    char today[16];
    time_t now = time (NULL);
    strftime (today, sizeof today, "%Y-%m-%d", gmtime (&now));
    for (xmlNode *entry = feed->children; entry; entry = entry->next) {
        if (entry->type != XML_ELEMENT_NODE || strcmp ((const char *)entry->name, "entry") != 0)
            continue;
        (*entries)++;
        const char *parts[] = {"id", "title", "updated", "link"};
        for (int i = 0; i < 4; i++)
            cr_assert (s_child (entry, parts[i]), "%s: entry %zu has no %s", path, *entries,
                       parts[i]);
        char updated[64], href[512], text[2048];
        s_xml_text (entry, "updated", NULL, updated, sizeof updated);
        int year, month, day, hour, minute, second;
        char zone = 0;
        cr_assert (sscanf (updated, "%4d-%2d-%2dT%2d:%2d:%2d%c", &year, &month, &day, &hour,
                           &minute, &second, &zone) == 7 &&
                       strchr ("Z+-.", zone),
                   "%s: entry %zu's updated is not RFC 3339: %s", path, *entries, updated);
        //  Every paper here was last changed months ago (the sample
        //  listings, the made-up papers' listing days): an entry dated
        //  today took the time of the request, which changes on every poll.
        cr_assert (strncmp (updated, today, 10) != 0,
                   "%s: entry %zu (%s) is updated %s, the time of the request, not its paper's",
                   path, *entries, s_xml_text (entry, "id", NULL, text, sizeof text), updated);
        s_xml_text (entry, "link", "href", href, sizeof href);
        cr_assert (strncmp (href, "http", 4) == 0, "%s: entry %zu's link has no href", path,
                   *entries);
        s_xml_text (entry, "title", NULL, text, sizeof text);
        if (found && title && strcmp (text, title) == 0)
            *found = entry;
    }
    return doc;
}

Test (gateway, feeds_are_well_formed_atom_and_hostile_titles_stay_text)
{
    s_start ();
    size_t entries;
    xmlDoc *trending = s_feed ("/feeds/trending.atom", NULL, NULL, &entries);
    cr_assert_geq (entries, 5, "the trending feed has %zu entries", entries);
    s_xml_free (&trending);
    xmlNode *hostile;
    xmlDoc *search = s_feed ("/feeds/search.atom?q=quokkas", HOSTILE_TITLE, &hostile, &entries);
    cr_assert_geq (entries, 1);
    cr_assert (hostile, "the search feed has no entry titled '%s'", HOSTILE_TITLE);
    //  The markup is text: the title element holds no element.
    for (xmlNode *child = s_child (hostile, "title")->children; child; child = child->next)
        cr_assert_neq (child->type, XML_ELEMENT_NODE, "the title's markup became elements");
    s_xml_free (&search);
    //  A query with markup, which the feed may echo, stays text too.
    xmlDoc *echo = s_feed ("/feeds/search.atom?q=quokkas+-%22%3C%2Ftitle%3E%3Cscript%3E%26amp%22",
                           HOSTILE_TITLE, &hostile, &entries);
    cr_assert (hostile, "the feed of a query with markup lost its entry");
    s_xml_free (&echo);
    //  Newest first: the papers of the search sorted by date, in its order.
    http_t *sorted = s_get_ok ("/api/search?q=transformer&sort=date&per_page=50");
    xmlDoc *dated = s_feed ("/feeds/search.atom?q=transformer", NULL, NULL, &entries);
    cr_assert_geq (entries, 2);
    size_t n = 0;
    for (xmlNode *entry = xmlDocGetRootElement (dated)->children; entry; entry = entry->next) {
        if (entry->type != XML_ELEMENT_NODE || strcmp ((const char *)entry->name, "entry") != 0)
            continue;
        char id[512];
        s_xml_text (entry, "id", NULL, id, sizeof id);
        const char *expected = json_string_value (
            json_object_get (json_array_get (json_object_get (sorted->json, "hits"), n), "id"));
        cr_assert (expected, "the feed has more entries than the search has hits");
        size_t length = strlen (expected);
        cr_assert (strlen (id) > length && strcmp (id + strlen (id) - length, expected) == 0 &&
                       id[strlen (id) - length - 1] == '/',
                   "feed entry %zu is %s, the search sorted by date has %s", n, id, expected);
        n++;
    }
    s_http_free (&sorted);
    s_xml_free (&dated);
    //  And the JSON API returns the title as it is.
    http_t *http = s_get_ok ("/api/search?q=quokkas");
    json_t *hit = s_find (http->json, "hits", HOSTILE_ID);
    cr_assert (hit, "the search has no hit %s", HOSTILE_ID);
    cr_assert_str_eq (json_string_value (json_object_get (hit, "title")), HOSTILE_TITLE);
    s_http_free (&http);
}

/* ==== Many clients at once ==== */

#define CLIENTS         8  //  threads asking at once
#define CLIENT_REQUESTS 25 //  requests of each

//  One client thread: its paths, and what came back.
typedef struct {
    int port;
    const char *cookie; //  NULL: anonymous
    long statuses[CLIENT_REQUESTS];
    char bodies_ok[CLIENT_REQUESTS]; //  1 when the body was a JSON object
} client_t;

static size_t s_discard (char *data, size_t size, size_t count, void *arg)
{
    FILE *out = arg;
    return fwrite (data, size, count, out);
}

static void *s_client_run (void *arg)
{
    client_t *client = arg;
    const char *paths[] = {"/api/papers?window=trending&per_page=10", "/api/search?q=learning",
                           "/api/papers/" HOSTILE_ID, "/api/papers?window=week&date=" DAY_1,
                           "/api/session"};
    CURL *curl = curl_easy_init ();
    char line[700];
    struct curl_slist *headers = NULL;
    if (client->cookie) {
        snprintf (line, sizeof line, "Cookie: pb_session=%s", client->cookie);
        headers = curl_slist_append (headers, line);
    }
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, (long)CALL_MS);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_discard);
    for (int i = 0; i < CLIENT_REQUESTS; i++) {
        char url[256];
        const char *path = paths[i % (client->cookie ? 5 : 4)];
        snprintf (url, sizeof url, "http://127.0.0.1:%d%s", client->port, path);
        char *body = NULL;
        size_t size = 0;
        FILE *out = open_memstream (&body, &size);
        curl_easy_setopt (curl, CURLOPT_URL, url);
        curl_easy_setopt (curl, CURLOPT_WRITEDATA, out);
        client->statuses[i] = 0;
        if (curl_easy_perform (curl) == CURLE_OK)
            curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &client->statuses[i]);
        fclose (out);
        json_t *json = json_loadb (body, size, 0, NULL);
        client->bodies_ok[i] = json_is_object (json);
        json_decref (json);
        free (body);
    }
    curl_slist_free_all (headers);
    curl_easy_cleanup (curl);
    return NULL;
}

Test (gateway, many_clients_at_once_are_all_served_and_counted)
{
    s_start ();
    char cookie[512];
    s_sign_in ("busy@example.org", NULL, cookie, sizeof cookie);
    http_t *before = s_get ("/metrics");
    const char *search[] = {"route=\"/api/search\"", "status=\"200\"", NULL};
    double searches_before = s_metric (before->body, "paperbus_http_requests_total", search);
    s_http_free (&before);
    client_t clients[CLIENTS];
    pthread_t threads[CLIENTS];
    for (int c = 0; c < CLIENTS; c++) {
        clients[c] = (client_t){.port = s_ports[0], .cookie = c % 2 ? cookie : NULL};
        cr_assert_eq (pthread_create (&threads[c], NULL, s_client_run, &clients[c]), 0);
    }
    for (int c = 0; c < CLIENTS; c++)
        pthread_join (threads[c], NULL);
    int searches = 0;
    for (int c = 0; c < CLIENTS; c++)
        for (int i = 0; i < CLIENT_REQUESTS; i++) {
            cr_assert_eq (clients[c].statuses[i], 200, "client %d, request %d: %ld", c, i,
                          clients[c].statuses[i]);
            cr_assert (clients[c].bodies_ok[i], "client %d, request %d: not a JSON object", c, i);
            searches += i % (c % 2 ? 5 : 4) == 1;
        }
    http_t *after = s_get ("/metrics");
    double searches_after = s_metric (after->body, "paperbus_http_requests_total", search);
    cr_assert_eq (searches_after - (searches_before < 0 ? 0 : searches_before), searches,
                  "/metrics counts %g searches of %d", searches_after - searches_before, searches);
    s_http_free (&after);
}

/* ==== Two gateways ==== */

Test (gateway, two_gateways_on_one_bus_answer_the_same)
{
    s_start ();
    s_gateway_start (1, NULL);
    char cookie[512];
    s_sign_in ("twice@example.org", NULL, cookie, sizeof cookie);
    const char *paths[] = {"/api/papers?window=day&date=" DAY_1 "&per_page=10",
                           "/api/papers?window=week&date=" DAY_2 "&page=2&per_page=7",
                           "/api/search?q=reinforcement+learning&per_page=10",
                           "/api/papers/" HOSTILE_ID, "/api/papers/hep-th%2F9901001/similar"};
    for (int i = 0; i < 5; i++) {
        http_t *first = s_request (REQUEST (.path = paths[i], .cookie = cookie));
        http_t *second = s_request (REQUEST (.path = paths[i], .cookie = cookie, .gateway = 1));
        cr_assert_eq (first->status, 200, "gateway 0, %s: %s", paths[i], s_describe (first));
        cr_assert_eq (second->status, 200, "gateway 1, %s: %s", paths[i], s_describe (second));
        cr_assert (json_equal (first->json, second->json), "%s differs:\n%.400s\n%.400s", paths[i],
                   first->body, second->body);
        s_http_free (&first);
        s_http_free (&second);
    }
    //  A session opened through one is good at the other; a vote through
    //  one shows at both.
    http_t *http = s_request (REQUEST (.path = "/api/session", .cookie = cookie, .gateway = 1));
    cr_assert_eq (http->status, 200, "gateway 1 does not know gateway 0's session: %s",
                  s_describe (http));
    s_http_free (&http);
    int64_t before = s_upvotes (HOSTILE_ID, cookie, NULL);
    http = s_vote (HOSTILE_ID, true, REQUEST (.cookie = cookie, .gateway = 1), 200);
    s_http_free (&http);
    char path[128];
    snprintf (path, sizeof path, "/api/papers/%s", HOSTILE_ID);
    for (int g = 0; g < 2; g++) {
        http = s_request (REQUEST (.path = path, .cookie = cookie, .gateway = g));
        cr_assert_eq (json_integer_value (json_object_get (http->json, "upvotes")), before + 1,
                      "gateway %d: %s", g, s_describe (http));
        cr_assert (json_is_true (json_object_get (http->json, "voted")), "gateway %d", g);
        s_http_free (&http);
    }
    //  Signing out through one closes the session at both, at once.
    http = s_request (
        REQUEST (.method = "DELETE", .path = "/api/session", .cookie = cookie, .gateway = 1));
    cr_assert_eq (http->status, 204, "DELETE /api/session: %s", s_describe (http));
    s_http_free (&http);
    for (int g = 0; g < 2; g++) {
        http = s_request (REQUEST (.path = "/api/session", .cookie = cookie, .gateway = g));
        cr_assert_eq (http->status, 401,
                      "gateway %d still knows a session closed through gateway 1: %s", g,
                      s_describe (http));
        s_http_free (&http);
        http = s_vote (HOSTILE_ID, false, REQUEST (.cookie = cookie, .gateway = g), 401);
        s_http_free (&http);
    }
}
