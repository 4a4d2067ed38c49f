/*  sender — see sender.h. */
#include "sender.h"
#include "digest.h"
#include "mailer.h"
#include "message.h"

#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define BACKOFF_MAX_MS (6 * 3600 * 1000LL)
#define REASON_MAX     512

struct _sender_t {
    char *name;                     //  "notify-sender-1"
    pb_db_t *db;                    //  claims and outcomes, in one transaction per job
    pb_db_t *marks;                 //  the mark before the final dot, committed on its own
    pb_client_t *client;            //  asks index and rank
    pb_publisher_t *publisher;      //  digest.sent
    digest_source_t *source;        //  candidates and papers
    mailer_t *mailer;               //  the mail server
    const subscriptions_key_t *key; //  signs unsubscribe links
    char from[512];                 //  PAPERBUS_MAIL_FROM as given
    char from_address[MESSAGE_ADDRESS_MAX + 1]; //  its bare address
    const char *domain;                         //  the part of from_address after @
    char *public_url;                           //  PAPERBUS_PUBLIC_URL without a trailing /
    int64_t retry_ms;                           //  first retry's wait
    int64_t attempts_max;                       //  attempts before giving up
    size_t digest_papers;                       //  most matching papers per digest
    int64_t listening_since; //  db reconnect count when LISTEN was sent; -1 before
    message_t message;       //  the mail being composed
};

//  One claimed job, as read in the claim.
typedef struct {
    int64_t id;                 //  mail_job.id
    bool digest;                //  a digest
    bool signin;                //  a sign-in mail; neither: a confirmation
    const char *email;          //  the recipient
    const char *token;          //  a confirmation's or sign-in mail's token
    const char *period;         //  a digest's period
    int64_t attempts;           //  attempts before this one
    int64_t subscription;       //  a digest's subscription
    digest_interest_t interest; //  what it follows
    bool weekly;                //  its cadence
    bool bouncing;              //  its address bounced since the job was queued
    bool handed;                //  a mark exists: the message was completed before
    int64_t expires_ms;         //  when a confirmation's or sign-in link stops working
    const char **marked;        //  the papers the mark names
    size_t marked_count;        //  how many
} job_t;

//  Whether URL can go into a mail's links and headers as it is.
static bool s_public_url_valid (const char *url)
{
    if (strncmp (url, "http://", 7) != 0 && strncmp (url, "https://", 8) != 0)
        return false;
    for (const unsigned char *c = (const unsigned char *)url; *c; c++)
        if (*c <= 32 || *c >= 127 || strchr ("\"'<>\\`", *c))
            return false;
    return true;
}

sender_t *sender_new (pb_config_t *config, const subscriptions_key_t *key, const char *name)
{
    sender_t *self = calloc (1, sizeof *self);
    self->name = strdup (name);
    self->key = key;
    self->listening_since = -1;
    snprintf (self->from, sizeof self->from, "%s", pb_config_str (config, PB_CONF_MAIL_FROM));
    if (!message_sender_valid (self->from, self->from_address)) {
        pb_error ("PAPERBUS_MAIL_FROM: '%s' is not an address or `Name <address>`", self->from);
        sender_destroy (&self);
        return NULL;
    }
    self->domain = strchr (self->from_address, '@') + 1;
    self->public_url = strdup (pb_config_str (config, PB_CONF_PUBLIC_URL));
    if (!s_public_url_valid (self->public_url)) {
        pb_error ("PAPERBUS_PUBLIC_URL: '%s' is not an http:// or https:// URL without spaces, "
                  "quotes or angle brackets",
                  self->public_url);
        sender_destroy (&self);
        return NULL;
    }
    size_t length = strlen (self->public_url);
    while (length > 0 && self->public_url[length - 1] == '/')
        self->public_url[--length] = 0;
    self->retry_ms = pb_config_int (config, PB_CONF_NOTIFY_RETRY_MS);
    self->attempts_max = pb_config_int (config, PB_CONF_NOTIFY_ATTEMPTS);
    self->digest_papers = (size_t)pb_config_int (config, PB_CONF_NOTIFY_DIGEST_PAPERS);
    char problem[256];
    self->mailer = mailer_new (config, problem, sizeof problem);
    if (!self->mailer) {
        pb_error ("%s", problem);
        sender_destroy (&self);
        return NULL;
    }
    int timeout_s = (int)pb_config_int (config, PB_CONF_DB_CONNECT_TIMEOUT);
    const char *url = pb_config_str (config, PB_CONF_DATABASE_URL);
    self->db = pb_db_new (url, name, timeout_s);
    self->marks = self->db ? pb_db_new (url, name, timeout_s) : NULL;
    if (!self->marks) {
        sender_destroy (&self);
        return NULL;
    }
    self->client = pb_client_new (config);
    self->publisher = pb_publisher_new (config);
    self->source =
        digest_source_new (self->client, (int)pb_config_int (config, PB_CONF_REQUEST_TIMEOUT_MS));
    return self;
}

void sender_destroy (sender_t **self_p)
{
    if (!*self_p)
        return;
    sender_t *self = *self_p;
    digest_source_destroy (&self->source);
    pb_publisher_destroy (&self->publisher);
    pb_client_destroy (&self->client);
    mailer_destroy (&self->mailer);
    pb_db_destroy (&self->marks);
    pb_db_destroy (&self->db);
    message_free (&self->message);
    free (self->public_url);
    free (self->name);
    free (self);
    *self_p = NULL;
}

/* ==== Claiming ==== */

//  The strings of JSON array TEXT, in ARENA.
static const char **s_strings (const char *text, pb_arena_t *arena, size_t *count)
{
    *count = 0;
    json_t *array = json_loads (text, 0, NULL);
    size_t size = json_array_size (array);
    const char **strings = pb_arena_alloc (arena, (size + 1) * sizeof *strings);
    size_t index;
    json_t *item;
    json_array_foreach (array, index, item) if (json_is_string (item)) strings[(*count)++] =
        pb_arena_str (arena, json_string_value (item), json_string_length (item)).ptr;
    json_decref (array);
    return strings;
}

static const char *s_column (PGresult *result, int column, pb_arena_t *arena)
{
    if (PQgetisnull (result, 0, column))
        return NULL;
    return pb_arena_str (arena, PQgetvalue (result, 0, column),
                         (size_t)PQgetlength (result, 0, column))
        .ptr;
}

//  Claims the oldest due job (in the open transaction). Returns 1 with JOB
//  filled, 0 when none is due, -1 on error.
static int s_claim (sender_t *self, int64_t now_ms, pb_arena_t *arena, job_t *job)
{
    pb_db_params_t params = {0};
    pb_db_params_int (&params, now_ms);
    PGresult *result = pb_db_query (
        self->db,
        "SELECT j.id, j.kind = 'digest', j.email, j.token, j.period::text, j.attempts, "
        "       coalesce (s.id, 0), coalesce (s.query, r.query), "
        "       to_json (coalesce (s.categories, r.categories)), "
        "       to_json (coalesce (s.authors, r.authors)), "
        "       coalesce (s.trending_top, r.trending_top), coalesce (s.cadence, r.cadence), "
        "       ((s.last_sent_at AT TIME ZONE 'UTC')::date "
        "        - CASE s.cadence WHEN 'weekly' THEN 8 ELSE 2 END)::text, "
        "       s.bouncing_since IS NOT NULL, h.job_id IS NOT NULL, to_json (h.paper_ids), "
        "       coalesce ((extract (epoch FROM coalesce (r.expires_at, g.expires_at)) * 1000)"
        "                 ::bigint, 0), j.kind = 'signin' "
        "FROM mail_job j "
        "LEFT JOIN subscription s ON s.id = j.subscription_id "
        "LEFT JOIN subscription_request r ON r.token_hash = j.request_hash "
        "LEFT JOIN signin_request g ON g.token_hash = j.signin_hash "
        "LEFT JOIN mail_handed h ON h.job_id = j.id "
        "WHERE j.state = 'queued' AND j.due_at <= to_timestamp ($1::float8 / 1000) "
        "ORDER BY j.due_at, j.id LIMIT 1 FOR UPDATE OF j SKIP LOCKED",
        &params);
    if (!result)
        return -1;
    if (PQntuples (result) == 0) {
        PQclear (result);
        return 0;
    }
    *job = (job_t){
        .id = strtoll (PQgetvalue (result, 0, 0), NULL, 10),
        .digest = PQgetvalue (result, 0, 1)[0] == 't',
        .email = s_column (result, 2, arena),
        .token = s_column (result, 3, arena),
        .period = s_column (result, 4, arena),
        .attempts = strtoll (PQgetvalue (result, 0, 5), NULL, 10),
        .subscription = strtoll (PQgetvalue (result, 0, 6), NULL, 10),
        .weekly = strcmp (PQgetvalue (result, 0, 11), "weekly") == 0,
        .bouncing = PQgetvalue (result, 0, 13)[0] == 't',
        .handed = PQgetvalue (result, 0, 14)[0] == 't',
        .expires_ms = strtoll (PQgetvalue (result, 0, 16), NULL, 10),
        .signin = PQgetvalue (result, 0, 17)[0] == 't',
    };
    const char *query = s_column (result, 7, arena);
    job->interest.query = query ? query : "";
    job->interest.categories =
        s_strings (PQgetvalue (result, 0, 8), arena, &job->interest.category_count);
    job->interest.authors =
        s_strings (PQgetvalue (result, 0, 9), arena, &job->interest.author_count);
    job->interest.trending = (int)strtol (PQgetvalue (result, 0, 10), NULL, 10);
    job->interest.since = s_column (result, 12, arena);
    job->interest.limit = self->digest_papers;
    if (job->handed)
        job->marked = s_strings (PQgetvalue (result, 0, 15), arena, &job->marked_count);
    //  A link that has expired is not worth a mail.
    if (!job->digest && job->expires_ms <= now_ms)
        job->token = NULL;
    PQclear (result);
    return 1;
}

/* ==== Outcomes ==== */

//  Drops JOB's mark (in the open transaction): its outcome is known now.
static int s_unmark (sender_t *self, const job_t *job)
{
    pb_db_params_t params = {0};
    pb_db_params_int (&params, job->id);
    return pb_db_run (self->db, "DELETE FROM mail_handed WHERE job_id = $1", &params) < 0 ? -1 : 0;
}

//  Records JOB as sent with PAPERS (in the open transaction) and packs its
//  digest.sent event into EVENT. Returns the event's seq (0 for a
//  confirmation), or -1.
static int64_t s_record_sent (sender_t *self, const job_t *job, const char *const *papers,
                              size_t count, bool confirmed, const char *message_id, int64_t now_ms,
                              msgpack_sbuffer *event)
{
    pb_db_array_t *ids = pb_db_array_new (PB_DB_TEXT);
    for (size_t i = 0; i < count; i++)
        pb_db_array_add (ids, papers[i], strlen (papers[i]));
    pb_db_params_t params = {0};
    pb_db_params_int (&params, job->id);
    pb_db_params_int (&params, now_ms);
    pb_db_params_int (&params, (int64_t)count);
    pb_db_params_text (&params, confirmed ? NULL
                                          : "the sender stopped before the server's answer "
                                            "was recorded; counted as sent");
    pb_db_params_int (&params, job->subscription);
    pb_db_params_array (&params, ids);
    //  One statement, one round trip: the job, its mark, the papers now
    //  sent to this subscriber, and when.
    int64_t recorded = pb_db_run (
        self->db,
        "WITH unmarked AS (DELETE FROM mail_handed WHERE job_id = $1), "
        "papers AS (INSERT INTO digest_paper (subscription_id, paper_id, job_id) "
        "  SELECT $5::bigint, unnest ($6::text[]), $1 WHERE $5::bigint > 0 "
        "  ON CONFLICT DO NOTHING), "
        "subscriber AS (UPDATE subscription SET last_sent_at = to_timestamp ($2::float8 / 1000) "
        "  WHERE id = $5::bigint) "
        "UPDATE mail_job SET state = 'sent', done_at = to_timestamp ($2::float8 / 1000), "
        "  attempts = attempts + 1, papers = $3, token = NULL, last_error = $4 "
        "WHERE id = $1",
        &params);
    pb_db_array_destroy (&ids);
    if (recorded != 1)
        return -1;
    if (!job->digest)
        return 0;
    msgpack_packer packer;
    msgpack_packer_init (&packer, event, msgpack_sbuffer_write);
    pb_digest_sent_t body = {
        .subscription = job->subscription,
        .job = job->id,
        .period = pb_str (job->period),
        .papers = (int64_t)count,
        .message_id = pb_str (message_id),
        .sent_at = now_ms,
        .confirmed = confirmed,
    };
    pb_encode (&pb_digest_sent_schema, &body, &packer);
    return pb_eventlog_append (self->db, "digest.sent", event->data, event->size);
}

//  Records a failed attempt: later (TEMPORARY), never (BOUNCED, or out of
//  attempts). Drops this attempt's mark, if any.
static int s_record_failure (sender_t *self, const job_t *job, bool bounced, const char *reason,
                             int64_t now_ms)
{
    int64_t attempts = job->attempts + 1;
    int shift = attempts - 1 < 30 ? (int)(attempts - 1) : 30;
    int64_t backoff = self->retry_ms << shift;
    if (backoff > BACKOFF_MAX_MS || backoff <= 0)
        backoff = BACKOFF_MAX_MS;
    const char *state = bounced ? "bounced" : attempts >= self->attempts_max ? "failed" : "queued";
    pb_db_params_t params = {0};
    pb_db_params_int (&params, job->id);
    pb_db_params_text (&params, state);
    pb_db_params_int (&params, now_ms);
    pb_db_params_int (&params, backoff);
    pb_db_params_text (&params, reason);
    if (pb_db_run (self->db,
                   "UPDATE mail_job SET state = $2, attempts = attempts + 1, last_error = $5, "
                   "  token = CASE WHEN $2 = 'queued' THEN token END, "
                   "  due_at = to_timestamp (($3::bigint + $4::bigint)::float8 / 1000), "
                   "  done_at = CASE WHEN $2 = 'queued' THEN NULL "
                   "                 ELSE to_timestamp ($3::float8 / 1000) END "
                   "WHERE id = $1",
                   &params) != 1 ||
        s_unmark (self, job))
        return -1;
    if (bounced && job->digest) {
        params = (pb_db_params_t){0};
        pb_db_params_int (&params, job->subscription);
        pb_db_params_int (&params, now_ms);
        pb_db_params_text (&params, reason);
        if (pb_db_run (self->db,
                       "UPDATE subscription SET bouncing_since = to_timestamp ($2::float8 / 1000), "
                       "  bounce_reason = $3 WHERE id = $1",
                       &params) < 0)
            return -1;
    }
    //  The log names jobs, not addresses, which leave with their subscription.
    if (bounced)
        pb_warn ("%s: mail %lld bounced (%s); its address is mailed no more", self->name,
                 (long long)job->id, reason);
    else
        pb_info ("%s: mail %lld failed for now (%s); %s", self->name, (long long)job->id, reason,
                 attempts >= self->attempts_max ? "given up" : "retried later");
    return 0;
}

//  Ends a job that needs no mail with STATE and REASON.
static int s_record_skip (sender_t *self, const job_t *job, const char *state, const char *reason,
                          int64_t now_ms)
{
    pb_db_params_t params = {0};
    pb_db_params_int (&params, job->id);
    pb_db_params_text (&params, state);
    pb_db_params_int (&params, now_ms);
    pb_db_params_text (&params, reason);
    return pb_db_run (self->db,
                      "UPDATE mail_job SET state = $2, done_at = to_timestamp ($3::float8 / 1000), "
                      "  token = NULL, last_error = $4 WHERE id = $1",
                      &params) == 1
               ? 0
               : -1;
}

/* ==== Composing ==== */

//  The papers of JOB's digest: its candidates less those already sent,
//  trending first, each once. Sets the message fields. Returns 0, or -1
//  with PROBLEM set.
static int s_compose_digest (sender_t *self, const job_t *job, int64_t now_ms, pb_arena_t *arena,
                             const char ***ids, size_t *count, const char *message_id,
                             char *problem, size_t problem_size)
{
    digest_candidates_t candidates;
    if (digest_source_candidates (self->source, &job->interest, arena, &candidates, problem,
                                  problem_size))
        return -1;
    size_t total = candidates.trending_count + candidates.matching_count;
    const char **all = pb_arena_alloc (arena, (total + 1) * sizeof *all);
    //  A list with nothing in it may be NULL, which memcpy must not get.
    if (candidates.trending_count)
        memcpy (all, candidates.trending, candidates.trending_count * sizeof *all);
    if (candidates.matching_count)
        memcpy (all + candidates.trending_count, candidates.matching,
                candidates.matching_count * sizeof *all);
    //  Which of them this subscriber has had. Papers are recorded only with
    //  a sent digest, which sets last_sent_at and so since: without since,
    //  there is nothing to look up.
    zhashx_t *excluded = zhashx_new ();
    if (job->interest.since && total > 0) {
        pb_db_array_t *asked = pb_db_array_new (PB_DB_TEXT);
        for (size_t i = 0; i < total; i++)
            pb_db_array_add (asked, all[i], strlen (all[i]));
        pb_db_params_t params = {0};
        pb_db_params_int (&params, job->subscription);
        pb_db_params_array (&params, asked);
        PGresult *result =
            pb_db_query (self->db,
                         "SELECT paper_id FROM digest_paper WHERE subscription_id = $1 "
                         "AND paper_id = ANY ($2::text[])",
                         &params);
        pb_db_array_destroy (&asked);
        if (!result) {
            snprintf (problem, problem_size, "PostgreSQL: %s", pb_db_error (self->db));
            zhashx_destroy (&excluded);
            return -1;
        }
        for (int row = 0; row < PQntuples (result); row++)
            zhashx_insert (excluded, PQgetvalue (result, row, 0), (void *)1);
        PQclear (result);
    }
    message_paper_t *papers = pb_arena_alloc (arena, (total + 1) * sizeof *papers);
    const char **fresh = pb_arena_alloc (arena, (total + 1) * sizeof *fresh);
    size_t trending = 0, matching = 0;
    for (size_t i = 0; i < total; i++) {
        bool is_trending = i < candidates.trending_count;
        if (!is_trending && matching == job->interest.limit)
            break;
        if (zhashx_lookup (excluded, all[i]))
            continue;
        zhashx_insert (excluded, all[i], (void *)1); //  a trending match shows once
        fresh[trending + matching] = all[i];
        if (is_trending)
            trending++;
        else
            matching++;
    }
    zhashx_destroy (&excluded);
    *ids = fresh;
    *count = trending + matching;
    if (*count == 0)
        return 0;
    if (digest_source_papers (self->source, fresh, *count, papers, problem, problem_size))
        return -1;
    //  A paper the index no longer holds is left out, and not recorded.
    size_t kept = 0, kept_trending = 0;
    for (size_t i = 0; i < *count; i++)
        if (papers[i].title) {
            kept_trending += i < trending;
            papers[kept] = papers[i];
            fresh[kept++] = fresh[i];
        }
    *count = kept;
    if (kept == 0)
        return 0;
    char token[SUBSCRIPTIONS_TOKEN_MAX];
    subscriptions_unsubscribe_token (self->key, job->subscription, job->email, token);
    char *interest = subscriptions_describe (job->interest.query, job->interest.categories,
                                             job->interest.category_count, job->interest.authors,
                                             job->interest.author_count);
    message_digest_t digest = {
        .from = self->from,
        .to = job->email,
        .message_id = message_id,
        .date_ms = now_ms,
        .public_url = self->public_url,
        .unsubscribe_token = token,
        .period = job->period,
        .weekly = job->weekly,
        .interest = interest && *interest ? interest : NULL,
        .trending = papers,
        .trending_count = kept_trending,
        .matching = papers + kept_trending,
        .matching_count = kept - kept_trending,
    };
    message_reset (&self->message);
    int rc = message_compose_digest (&self->message, &digest);
    free (interest);
    if (rc)
        snprintf (problem, problem_size, "out of memory composing the digest");
    return rc;
}

static int s_compose_signin (sender_t *self, const job_t *job, int64_t now_ms,
                             const char *message_id)
{
    message_signin_t mail = {
        .from = self->from,
        .to = job->email,
        .message_id = message_id,
        .date_ms = now_ms,
        .public_url = self->public_url,
        .token = job->token,
        .expires_ms = job->expires_ms,
    };
    message_reset (&self->message);
    return message_compose_signin (&self->message, &mail);
}

static int s_compose_confirmation (sender_t *self, const job_t *job, int64_t now_ms,
                                   const char *message_id)
{
    char *interest = subscriptions_describe (job->interest.query, job->interest.categories,
                                             job->interest.category_count, job->interest.authors,
                                             job->interest.author_count);
    char trending[64] = "";
    if (job->interest.trending)
        snprintf (trending, sizeof trending, "the trending top %d", job->interest.trending);
    bool follows = interest && *interest;
    char what[1200];
    snprintf (what, sizeof what, "%s digests%s of %s%s%s%s", job->weekly ? "weekly" : "daily",
              job->weekly ? " (on Mondays)" : "", follows ? "new papers " : "",
              follows ? interest : "", follows && *trending ? ", and " : "", trending);
    message_confirmation_t mail = {
        .from = self->from,
        .to = job->email,
        .message_id = message_id,
        .date_ms = now_ms,
        .public_url = self->public_url,
        .token = job->token,
        .interest = what,
        .expires_ms = job->expires_ms,
    };
    message_reset (&self->message);
    int rc = message_compose_confirmation (&self->message, &mail);
    free (interest);
    return rc;
}

/* ==== A job ==== */

//  The Message-ID of JOB: the same at every attempt, so that a receiver
//  can tell a retry from a new mail, and different in every deployment
//  (job numbers restart with a new database), thanks to a hash keyed with
//  the deployment's secret.
static void s_message_id (sender_t *self, const job_t *job, char *id, size_t size)
{
    char text[64];
    int length = snprintf (text, sizeof text, "message-id %lld", (long long)job->id);
    unsigned char hash[8];
    crypto_generichash (hash, sizeof hash, (const unsigned char *)text, (size_t)length,
                        self->key->bytes, sizeof self->key->bytes);
    char hex[sizeof hash * 2 + 1];
    sodium_bin2hex (hex, sizeof hex, hash, sizeof hash);
    snprintf (id, size, "<paperbus.%s.%lld.%s@%s>",
              job->digest   ? "digest"
              : job->signin ? "signin"
                            : "confirm",
              (long long)job->id, hex, self->domain);
}

//  What the mark before the final dot needs.
typedef struct {
    sender_t *self;
    int64_t job;
    pb_db_array_t *papers;
} mark_t;

static int s_mark (void *arg)
{
    mark_t *mark = arg;
    pb_db_params_t params = {0};
    pb_db_params_int (&params, mark->job);
    pb_db_params_array (&params, mark->papers);
    int64_t inserted = pb_db_run (mark->self->marks,
                                  "INSERT INTO mail_handed (job_id, paper_ids) VALUES ($1, $2) "
                                  "ON CONFLICT (job_id) DO NOTHING",
                                  &params);
    if (inserted == 1)
        return 0;
    pb_warn ("%s: mail %lld not completed: %s", mark->self->name, (long long)mark->job,
             inserted == 0 ? "another sender completed it" : pb_db_error (mark->self->marks));
    return -1;
}

static int s_finish (sender_t *self, int rc)
{
    if (rc == 1 && pb_db_run (self->db, "COMMIT", NULL) < 0) {
        pb_warn ("%s: committing a mail's outcome failed (%s); a completed mail counts as sent "
                 "by its mark",
                 self->name, pb_db_error (self->db));
        return -1;
    }
    if (rc != 1)
        pb_db_run (self->db, "ROLLBACK", NULL);
    return rc;
}

int sender_step (sender_t *self)
{
    if (pb_db_run (self->db, "BEGIN", NULL) < 0)
        return -1;
    int64_t now_ms = pb_clock_now_ms ();
    pb_arena_t *arena = pb_arena_new ();
    job_t job;
    int claimed = s_claim (self, now_ms, arena, &job);
    if (claimed <= 0) {
        pb_arena_destroy (&arena);
        if (claimed == 0)
            return s_finish (self, 1) == 1 ? 0 : -1;
        s_finish (self, -1);
        return -1;
    }
    char message_id[MESSAGE_ADDRESS_MAX + 64];
    s_message_id (self, &job, message_id, sizeof message_id);
    msgpack_sbuffer event;
    msgpack_sbuffer_init (&event);
    int64_t seq = 0;
    int rc = -1;
    char problem[REASON_MAX] = "";
    if (job.handed) {
        //  Completed before, outcome unknown: counted as sent (sender.h).
        seq = s_record_sent (self, &job, job.marked, job.marked_count, false, message_id, now_ms,
                             &event);
        rc = seq < 0 ? -1 : 1;
        goto done;
    }
    if (job.digest && job.bouncing) {
        rc = s_record_skip (self, &job, "bounced", "the address bounced since this was queued",
                            now_ms)
                 ? -1
                 : 1;
        goto done;
    }
    if (!job.digest && !job.token) {
        rc = s_record_skip (self, &job, "failed", "the request expired before its mail went out",
                            now_ms)
                 ? -1
                 : 1;
        goto done;
    }
    const char **papers = NULL;
    size_t count = 0;
    if (job.digest) {
        if (s_compose_digest (self, &job, now_ms, arena, &papers, &count, message_id, problem,
                              sizeof problem)) {
            pb_warn ("%s: digest %lld not composed: %s; tried again later", self->name,
                     (long long)job.id, problem);
            rc = s_record_failure (self, &job, false, problem, now_ms) ? -1 : 1;
            goto done;
        }
        if (count == 0) {
            rc = s_record_skip (self, &job, "empty", NULL, now_ms) ? -1 : 1;
            goto done;
        }
    } else if (job.signin ? s_compose_signin (self, &job, now_ms, message_id)
                          : s_compose_confirmation (self, &job, now_ms, message_id)) {
        rc = -1;
        goto done;
    }
    mark_t mark = {self, job.id, pb_db_array_new (PB_DB_TEXT)};
    for (size_t i = 0; i < count; i++)
        pb_db_array_add (mark.papers, papers[i], strlen (papers[i]));
    mailer_outcome_t outcome =
        mailer_send (self->mailer, self->from_address, job.email, self->message.data,
                     self->message.size, s_mark, &mark, problem, sizeof problem);
    pb_db_array_destroy (&mark.papers);
    switch (outcome) {
    case MAILER_SENT:
    case MAILER_UNKNOWN: //  the server may have it: counted as sent (sender.h)
        seq = s_record_sent (self, &job, papers, count, outcome == MAILER_SENT, message_id, now_ms,
                             &event);
        rc = seq < 0 ? -1 : 1;
        break;
    case MAILER_TEMPORARY:
    case MAILER_BOUNCED:
        rc = s_record_failure (self, &job, outcome == MAILER_BOUNCED, problem, now_ms) ? -1 : 1;
        break;
    case MAILER_ABORTED:
        rc = -1;
        break;
    }
done:
    if (rc < 0)
        pb_warn ("%s: mail %lld left queued (%s)%s%s", self->name, (long long)job.id,
                 *problem ? problem : "not sent", *pb_db_error (self->db) ? "; PostgreSQL: " : "",
                 pb_db_error (self->db));
    rc = s_finish (self, rc);
    if (rc == 1 && seq > 0)
        pb_publisher_send (self->publisher, "digest.sent", seq, event.data, event.size);
    msgpack_sbuffer_destroy (&event);
    pb_arena_destroy (&arena);
    return rc;
}

/* ==== Waiting, and the thread ==== */

int sender_wait (sender_t *self, zsock_t *pipe, int timeout_ms)
{
    digest_source_forget (self->source); //  a run is over: answers may be stale next time
    if (self->listening_since != pb_db_reconnects (self->db)) {
        //  A new connection has forgotten the LISTEN.
        if (pb_db_run (self->db, "LISTEN mail_job", NULL) >= 0)
            self->listening_since = pb_db_reconnects (self->db);
    }
    if (pb_db_notifications (self->db) > 0)
        timeout_ms = 0; //  new jobs came while the connection was busy
    PGconn *connection = pb_db_connection (self->db);
    zmq_pollitem_t items[2] = {
        {pipe ? zsock_resolve (pipe) : NULL, 0, ZMQ_POLLIN, 0},
        {NULL, connection ? PQsocket (connection) : -1, ZMQ_POLLIN, 0},
    };
    zmq_pollitem_t *first = pipe ? &items[0] : &items[1];
    int count = (pipe ? 1 : 0) + (items[1].fd >= 0 ? 1 : 0);
    if (count == 0) {
        zclock_sleep (timeout_ms);
        return 0;
    }
    if (zmq_poll (first, count, timeout_ms) < 0)
        return pipe && zsys_interrupted ? 1 : 0;
    pb_db_notifications (self->db);
    return pipe && (items[0].revents & ZMQ_POLLIN) ? 1 : 0;
}

void sender_actor (zsock_t *pipe, void *args)
{
    sender_args_t *given = args;
    sender_t *self = sender_new (given->config, given->key, given->name);
    zsock_signal (pipe, 0); //  zactor_new waits for this, whatever happened
    zstr_send (pipe, self ? "ready" : "failed");
    if (!self)
        return;
    int idle_ms = (int)(pb_config_int (given->config, PB_CONF_NOTIFY_RETRY_MS) < 1000
                            ? pb_config_int (given->config, PB_CONF_NOTIFY_RETRY_MS)
                            : 1000);
    while (true) {
        int worked = sender_step (self);
        zmq_pollitem_t item = {zsock_resolve (pipe), 0, ZMQ_POLLIN, 0};
        bool told = worked == 1 ? zmq_poll (&item, 1, 0) > 0
                                : sender_wait (self, pipe, worked == 0 ? idle_ms : 1000) == 1;
        if (told) {
            char *command = zstr_recv (pipe);
            bool stop = !command || streq (command, "$TERM");
            zstr_free (&command);
            if (stop)
                break;
        }
    }
    sender_destroy (&self);
}
