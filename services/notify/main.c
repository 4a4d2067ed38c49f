/*  notify — email digests: "get trending papers in your email inbox".

    Serves notify.subscribe (a request, and its confirmation mail: double
    opt-in), notify.confirm, notify.unsubscribe (by address, or by the
    signed token of the link in every digest), notify.run (ask for the
    digests due now, `paperctl digests run`) and notify.status.

    It also signs people in, for the gateway, which has no SQL of its own:
    notify.signin mails a sign-in link, notify.session redeems it for a
    browser session, notify.whoami says who holds a session or API token,
    notify.signout closes one, and notify.token makes an API token
    (accounts.h).

    Every notify process runs a scheduler thread, and the one holding the
    lease in PostgreSQL queues the digests that are due, on its clock and
    for each run that notify.run records (schedule.h).
    Each process also runs PAPERBUS_NOTIFY_SENDERS sender threads, which
    claim due mails from PostgreSQL, ask index and rank what is new, and
    hand the mails to the SMTP server, each digest once (sender.h). So
    senders scale by running more notify processes, on any host.
*/
#include "accounts.h"
#include "digest.h"
#include "paperbus.h"
#include "schedule.h"
#include "sender.h"
#include "subscriptions.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BODY_MAX 65536

typedef struct {
    pb_config_t *config;
    pb_db_t *db;             //  requests and the scheduler
    pb_client_t *client;     //  to ask the index whether a query parses
    digest_source_t *source; //  the same, through digest.h
    subscriptions_key_t key; //  signs unsubscribe links
} notify_t;

/* ==== Requests ==== */

//  Decodes REQUEST into BODY with SCHEMA, or makes RESPONSE the error.
static int s_decode (const pb_request_t *request, const pb_schema_t *schema, void *body,
                     pb_arena_t *arena, pb_response_t *response)
{
    pb_codec_error_t error;
    if (pb_decode (request->body, request->size, BODY_MAX, schema, body, arena, &error) == 0)
        return 0;
    pb_response_error (response, error.code, "%s", error.message);
    return -1;
}

//  A string field as C text, refused when it holds a NUL.
static char *s_text (pb_str_t field, pb_arena_t *arena)
{
    if (memchr (field.ptr, 0, field.len))
        return NULL;
    return (char *)pb_arena_str (arena, field.ptr, field.len).ptr;
}

static int s_subscribe (const pb_request_t *request, pb_response_t *response, void *arg)
{
    notify_t *self = arg;
    pb_arena_t *arena = pb_arena_new ();
    pb_subscribe_request_t body;
    subscriptions_prefs_t prefs = {0};
    char problem[512];
    if (s_decode (request, &pb_subscribe_request_schema, &body, arena, response))
        goto done;
    if (subscriptions_check (&body, &prefs, problem, sizeof problem)) {
        pb_response_error (response, PB_E_INVALID, "%s", problem);
        goto done;
    }
    if (prefs.query[0]) {
        int code = digest_source_check_query (self->source, prefs.query, problem, sizeof problem);
        if (code) {
            pb_response_error (response, code == PB_E_INVALID ? PB_E_INVALID : PB_E_UNAVAILABLE,
                               "query: %s", problem);
            goto done;
        }
    }
    int64_t expires_ms;
    int code = subscriptions_request (self->db, &prefs, pb_clock_now_ms (),
                                      pb_config_int (self->config, PB_CONF_NOTIFY_CONFIRM_TTL_S),
                                      &expires_ms, problem, sizeof problem);
    if (code) {
        pb_response_error (response, code, "%s", problem);
        goto done;
    }
    pb_subscribe_reply_t reply = {.email = pb_str (prefs.email), .expires_at = expires_ms};
    pb_encode (&pb_subscribe_reply_schema, &reply, &response->packer);
    pb_info ("a confirmation mail is queued"); //  addresses stay out of logs
done:
    subscriptions_prefs_free (&prefs);
    pb_arena_destroy (&arena);
    return 0;
}

static int s_confirm (const pb_request_t *request, pb_response_t *response, void *arg)
{
    notify_t *self = arg;
    pb_arena_t *arena = pb_arena_new ();
    pb_confirm_request_t body;
    char problem[512];
    if (s_decode (request, &pb_confirm_request_schema, &body, arena, response) == 0) {
        char *token = s_text (body.token, arena);
        int code = token ? subscriptions_confirm (self->db, token, pb_clock_now_ms (),
                                                  &response->packer, problem, sizeof problem)
                         : PB_E_INVALID;
        if (!token)
            snprintf (problem, sizeof problem, "token: this is not a confirmation token");
        if (code)
            pb_response_error (response, code, "%s", problem);
    }
    pb_arena_destroy (&arena);
    return 0;
}

static int s_unsubscribe (const pb_request_t *request, pb_response_t *response, void *arg)
{
    notify_t *self = arg;
    pb_arena_t *arena = pb_arena_new ();
    pb_unsubscribe_request_t body;
    char problem[512];
    if (s_decode (request, &pb_unsubscribe_request_schema, &body, arena, response))
        goto done;
    bool by_email = pb_has (&body, PB_unsubscribe_request_email);
    bool by_token = pb_has (&body, PB_unsubscribe_request_token);
    if (by_email == by_token) {
        pb_response_error (response, PB_E_INVALID, "give either email or token");
        goto done;
    }
    char *email = by_email ? s_text (body.email, arena) : NULL;
    char *token = by_token ? s_text (body.token, arena) : NULL;
    const char *why = NULL;
    if (email) {
        for (char *c = email; *c; c++)
            *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
        if (!message_address_valid (email, &why)) {
            pb_response_error (response, PB_E_INVALID, "email: %s", why);
            goto done;
        }
    }
    if (!email && !token) {
        pb_response_error (response, PB_E_INVALID, "email or token holds a NUL byte");
        goto done;
    }
    bool removed;
    int code = subscriptions_remove (self->db, &self->key, email, token, &removed, problem,
                                     sizeof problem);
    if (code) {
        pb_response_error (response, code, "%s", problem);
        goto done;
    }
    pb_unsubscribe_reply_t reply = {.removed = removed};
    pb_encode (&pb_unsubscribe_reply_schema, &reply, &response->packer);
    if (removed)
        pb_info ("a subscription was deleted%s", by_token ? " through its unsubscribe link" : "");
done:
    pb_arena_destroy (&arena);
    return 0;
}

/* ==== Signing in ==== */

static int s_signin (const pb_request_t *request, pb_response_t *response, void *arg)
{
    notify_t *self = arg;
    pb_arena_t *arena = pb_arena_new ();
    pb_signin_request_t body;
    char email[MESSAGE_ADDRESS_MAX + 1], problem[512];
    if (s_decode (request, &pb_signin_request_schema, &body, arena, response))
        goto done;
    if (subscriptions_check_email (body.email, email, problem, sizeof problem)) {
        pb_response_error (response, PB_E_INVALID, "%s", problem);
        goto done;
    }
    int64_t ttl_s = pb_config_int (self->config, PB_CONF_SIGNIN_TTL_S);
    int code =
        accounts_signin (self->db, email, pb_clock_now_ms (), ttl_s, problem, sizeof problem);
    if (code) {
        pb_response_error (response, code, "%s", problem);
        goto done;
    }
    pb_signin_reply_t reply = {.email = pb_str (email), .expires_in_s = ttl_s};
    pb_encode (&pb_signin_reply_schema, &reply, &response->packer);
    pb_info ("a sign-in mail is queued"); //  addresses stay out of logs
done:
    pb_arena_destroy (&arena);
    return 0;
}

static int s_session (const pb_request_t *request, pb_response_t *response, void *arg)
{
    notify_t *self = arg;
    pb_arena_t *arena = pb_arena_new ();
    pb_session_open_request_t body;
    char problem[512];
    if (s_decode (request, &pb_session_open_request_schema, &body, arena, response) == 0) {
        char *token = s_text (body.token, arena);
        int code = token
                       ? accounts_session_open (self->db, token, pb_clock_now_ms (),
                                                pb_config_int (self->config, PB_CONF_SESSION_TTL_S),
                                                &response->packer, problem, sizeof problem)
                       : PB_E_INVALID;
        if (!token)
            snprintf (problem, sizeof problem, "token: this is not a sign-in token");
        if (code)
            pb_response_error (response, code, "%s", problem);
        else
            pb_info ("a session was opened");
    }
    pb_arena_destroy (&arena);
    return 0;
}

//  SESSION (a session or API token field) as C text, or NULL with the
//  error in RESPONSE.
static char *s_session_text (pb_str_t session, pb_arena_t *arena, pb_response_t *response)
{
    char *text = s_text (session, arena);
    if (!text)
        pb_response_error (response, PB_E_INVALID, "session: this is not a session or API token");
    return text;
}

static int s_whoami (const pb_request_t *request, pb_response_t *response, void *arg)
{
    notify_t *self = arg;
    pb_arena_t *arena = pb_arena_new ();
    pb_session_check_request_t body;
    char problem[512];
    char *session = NULL;
    if (s_decode (request, &pb_session_check_request_schema, &body, arena, response) == 0 &&
        (session = s_session_text (body.session, arena, response)) != NULL) {
        int code = accounts_whoami (self->db, session, pb_clock_now_ms (), &response->packer,
                                    problem, sizeof problem);
        if (code)
            pb_response_error (response, code, "%s", problem);
    }
    pb_arena_destroy (&arena);
    return 0;
}

static int s_signout (const pb_request_t *request, pb_response_t *response, void *arg)
{
    notify_t *self = arg;
    pb_arena_t *arena = pb_arena_new ();
    pb_session_check_request_t body;
    char problem[512];
    char *session = NULL;
    if (s_decode (request, &pb_session_check_request_schema, &body, arena, response) == 0 &&
        (session = s_session_text (body.session, arena, response)) != NULL) {
        bool closed;
        int code = accounts_signout (self->db, session, pb_clock_now_ms (), &closed, problem,
                                     sizeof problem);
        if (code)
            pb_response_error (response, code, "%s", problem);
        else {
            pb_signout_reply_t reply = {.closed = closed};
            pb_encode (&pb_signout_reply_schema, &reply, &response->packer);
        }
    }
    pb_arena_destroy (&arena);
    return 0;
}

static int s_token (const pb_request_t *request, pb_response_t *response, void *arg)
{
    notify_t *self = arg;
    pb_arena_t *arena = pb_arena_new ();
    pb_api_token_request_t body;
    char problem[512];
    char *session = NULL;
    if (s_decode (request, &pb_api_token_request_schema, &body, arena, response) == 0 &&
        (session = s_session_text (body.session, arena, response)) != NULL) {
        int code = accounts_api_token (self->db, session, body.label, pb_clock_now_ms (),
                                       pb_config_int (self->config, PB_CONF_API_TOKEN_TTL_S),
                                       &response->packer, problem, sizeof problem);
        if (code)
            pb_response_error (response, code, "%s", problem);
        else
            pb_info ("an API token was made");
    }
    pb_arena_destroy (&arena);
    return 0;
}

/* ==== Digests ==== */

static int s_run (const pb_request_t *request, pb_response_t *response, void *arg)
{
    notify_t *self = arg;
    pb_arena_t *arena = pb_arena_new ();
    pb_digests_run_request_t body;
    if (s_decode (request, &pb_digests_run_request_schema, &body, arena, response) == 0) {
        bool force = pb_has (&body, PB_digests_run_request_now) && body.now;
        int64_t run = schedule_request_run (self->db, pb_clock_now_ms (), force);
        if (run < 0)
            pb_response_error (response, PB_E_UNAVAILABLE, "the run could not be recorded: %s",
                               pb_db_error (self->db));
        else {
            pb_digests_run_reply_t reply = {.run = run};
            pb_encode (&pb_digests_run_reply_schema, &reply, &response->packer);
        }
    }
    pb_arena_destroy (&arena);
    return 0;
}

static int s_status (const pb_request_t *request, pb_response_t *response, void *arg)
{
    notify_t *self = arg;
    pb_arena_t *arena = pb_arena_new ();
    pb_notify_status_request_t body;
    if (s_decode (request, &pb_notify_status_request_schema, &body, arena, response))
        goto done;
    pb_db_params_t params = {0};
    pb_db_params_int (&params, pb_clock_now_ms ());
    int64_t run = pb_has (&body, PB_notify_status_request_run) ? body.run : 0;
    pb_db_params_int (&params, run);
    PGresult *result = pb_db_query (
        self->db,
        "SELECT (SELECT count(*) FROM subscription), "
        "  (SELECT count(*) FROM subscription WHERE bouncing_since IS NOT NULL), "
        "  (SELECT count(*) FROM subscription_request WHERE confirmed_at IS NULL "
        "     AND expires_at > to_timestamp ($1::float8 / 1000)), "
        "  count(*) FILTER (WHERE state = 'queued' AND due_at <= to_timestamp ($1::float8 / "
        "1000)), "
        "  count(*) FILTER (WHERE state = 'queued' AND due_at > to_timestamp ($1::float8 / 1000)), "
        "  count(*) FILTER (WHERE state = 'sent'), count(*) FILTER (WHERE state = 'empty'), "
        "  count(*) FILTER (WHERE state = 'failed'), count(*) FILTER (WHERE state = 'bounced'), "
        "  (SELECT done_at IS NOT NULL FROM digest_run WHERE id = $2) "
        "FROM mail_job WHERE $2 = 0 OR run_id = $2",
        &params);
    if (!result) {
        pb_response_error (response, PB_E_UNAVAILABLE, "PostgreSQL: %s", pb_db_error (self->db));
        goto done;
    }
    int64_t counts[9];
    for (int column = 0; column < 9; column++)
        counts[column] = strtoll (PQgetvalue (result, 0, column), NULL, 10);
    bool run_known = !PQgetisnull (result, 0, 9);
    bool run_done = run_known && PQgetvalue (result, 0, 9)[0] == 't';
    PQclear (result);
    pb_notify_status_reply_t reply = {.subscriptions = counts[0],
                                      .bouncing = counts[1],
                                      .pending = counts[2],
                                      .queued = counts[3],
                                      .retrying = counts[4],
                                      .sent = counts[5],
                                      .empty = counts[6],
                                      .failed = counts[7],
                                      .bounced = counts[8],
                                      .run_done = run_done};
    if (run && !run_known) {
        pb_response_error (response, PB_E_NOT_FOUND, "run: there is no run %lld", (long long)run);
        goto done;
    }
    if (run)
        pb_set_present (&reply, PB_notify_status_reply_run_done);
    pb_encode (&pb_notify_status_reply_schema, &reply, &response->packer);
done:
    pb_arena_destroy (&arena);
    return 0;
}

/* ==== Main ==== */

int main (void)
{
    pb_config_t *config = pb_service_start ("notify");
    pb_clock_use (pb_config_str (config, PB_CONF_CLOCK_FILE));
    if (sodium_init () < 0 || curl_global_init (CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        pb_error ("libsodium or libcurl could not start");
        pb_service_finish (&config);
        return 1;
    }
    notify_t notify = {.config = config};
    schedule_args_t schedule = {.config = config};
    char host[64] = "";
    gethostname (host, sizeof host - 1);
    snprintf (schedule.holder, sizeof schedule.holder, "%s:%d:%08x", host, (int)getpid (),
              randombytes_random ());
    notify.db = pb_db_new (pb_config_str (config, PB_CONF_DATABASE_URL), "notify",
                           (int)pb_config_int (config, PB_CONF_DB_CONNECT_TIMEOUT));
    if (!notify.db || pb_migrate (notify.db, pb_migrations, pb_migration_count, NULL) ||
        subscriptions_key_load (notify.db, &notify.key)) {
        if (notify.db)
            pb_error ("the notify tables could not be prepared: %s", pb_db_error (notify.db));
        pb_db_destroy (&notify.db);
        curl_global_cleanup ();
        pb_service_finish (&config);
        return 1;
    }
    notify.client = pb_client_new (config);
    notify.source =
        digest_source_new (notify.client, (int)pb_config_int (config, PB_CONF_REQUEST_TIMEOUT_MS));

    int rc = 0;
    zactor_t *scheduler = zactor_new (schedule_actor, &schedule);
    char *started = zstr_recv (scheduler);
    if (!started || !streq (started, "ready"))
        rc = 1; //  it logged why
    zstr_free (&started);
    int64_t sender_count = pb_config_int (config, PB_CONF_NOTIFY_SENDERS);
    zactor_t **senders = calloc ((size_t)sender_count, sizeof *senders);
    sender_args_t *args = calloc ((size_t)sender_count, sizeof *args);
    for (int64_t i = 0; i < sender_count && rc == 0; i++) {
        args[i] = (sender_args_t){.config = config, .key = &notify.key};
        snprintf (args[i].name, sizeof args[i].name, "notify-sender-%lld", (long long)i + 1);
        senders[i] = zactor_new (sender_actor, &args[i]);
        char *sender_started = zstr_recv (senders[i]);
        if (!sender_started || !streq (sender_started, "ready"))
            rc = 1; //  it logged why
        zstr_free (&sender_started);
    }
    if (rc == 0) {
        pb_info ("%lld senders mailing through %s; scheduler tick every %lld ms",
                 (long long)sender_count, pb_config_str (config, PB_CONF_SMTP_URL),
                 (long long)pb_config_int (config, PB_CONF_NOTIFY_SCHEDULE_MS));
        pb_worker_t *worker = pb_worker_new (config, "notify");
        pb_worker_handle (worker, "subscribe", s_subscribe, &notify);
        pb_worker_handle (worker, "confirm", s_confirm, &notify);
        pb_worker_handle (worker, "unsubscribe", s_unsubscribe, &notify);
        pb_worker_handle (worker, "run", s_run, &notify);
        pb_worker_handle (worker, "status", s_status, &notify);
        pb_worker_handle (worker, "signin", s_signin, &notify);
        pb_worker_handle (worker, "session", s_session, &notify);
        pb_worker_handle (worker, "whoami", s_whoami, &notify);
        pb_worker_handle (worker, "signout", s_signout, &notify);
        pb_worker_handle (worker, "token", s_token, &notify);
        rc = pb_worker_run (worker) == 0 ? 0 : 1;
        pb_worker_destroy (&worker);
    }
    for (int64_t i = 0; i < sender_count; i++)
        zactor_destroy (&senders[i]);
    zactor_destroy (&scheduler);
    free (senders);
    free (args);
    digest_source_destroy (&notify.source);
    pb_client_destroy (&notify.client);
    pb_db_destroy (&notify.db);
    curl_global_cleanup ();
    pb_service_finish (&config);
    return rc;
}
