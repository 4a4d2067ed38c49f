/*  subscriptions — see subscriptions.h. */
#include "subscriptions.h"
#include "message.h"

#include <ctype.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_BYTES 32
#define MAC_BYTES   16

/* ==== Keys and tokens ==== */

int subscriptions_key_load (pb_db_t *db, subscriptions_key_t *key)
{
    unsigned char fresh[SUBSCRIPTIONS_KEY_BYTES];
    randombytes_buf (fresh, sizeof fresh);
    pb_db_params_t params = {0};
    pb_db_params_bytes (&params, fresh, sizeof fresh);
    params.binary_result = true;
    //  The first notify process stores its key; every later one reads it.
    PGresult *result = pb_db_query (db,
                                    "WITH made AS (INSERT INTO notify_secret (name, value) "
                                    "VALUES ('unsubscribe', $1) ON CONFLICT (name) DO NOTHING "
                                    "RETURNING value) "
                                    "SELECT value FROM made UNION ALL "
                                    "SELECT value FROM notify_secret WHERE name = 'unsubscribe'",
                                    &params);
    sodium_memzero (fresh, sizeof fresh);
    int rc = -1;
    if (result && PQntuples (result) >= 1 &&
        PQgetlength (result, 0, 0) == SUBSCRIPTIONS_KEY_BYTES) {
        memcpy (key->bytes, PQgetvalue (result, 0, 0), SUBSCRIPTIONS_KEY_BYTES);
        rc = 0;
    }
    PQclear (result);
    return rc;
}

void subscriptions_unsubscribe_token (const subscriptions_key_t *key, int64_t id, const char *email,
                                      char token[SUBSCRIPTIONS_TOKEN_MAX])
{
    char signed_text[300];
    int length =
        snprintf (signed_text, sizeof signed_text, "unsubscribe %lld %s", (long long)id, email);
    unsigned char mac[MAC_BYTES];
    crypto_generichash (mac, sizeof mac, (const unsigned char *)signed_text, (size_t)length,
                        key->bytes, sizeof key->bytes);
    int prefix = snprintf (token, SUBSCRIPTIONS_TOKEN_MAX, "%lld.", (long long)id);
    sodium_bin2base64 (token + prefix, (size_t)(SUBSCRIPTIONS_TOKEN_MAX - prefix), mac, sizeof mac,
                       sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

void subscriptions_token_new (char token[SUBSCRIPTIONS_TOKEN_MAX], unsigned char hash[32])
{
    unsigned char bytes[TOKEN_BYTES];
    randombytes_buf (bytes, sizeof bytes);
    sodium_bin2base64 (token, SUBSCRIPTIONS_TOKEN_MAX, bytes, sizeof bytes,
                       sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    crypto_generichash (hash, 32, bytes, sizeof bytes, NULL, 0);
    sodium_memzero (bytes, sizeof bytes);
}

int subscriptions_token_hash (const char *token, unsigned char hash[32])
{
    unsigned char bytes[TOKEN_BYTES];
    size_t size = 0;
    const char *end = NULL;
    if (sodium_base642bin (bytes, sizeof bytes, token, strlen (token), NULL, &size, &end,
                           sodium_base64_VARIANT_URLSAFE_NO_PADDING) ||
        size != TOKEN_BYTES || *end)
        return -1;
    crypto_generichash (hash, 32, bytes, sizeof bytes, NULL, 0);
    return 0;
}

//  The subscription a signed unsubscribe TOKEN names, once its signature
//  is checked against the address stored for it: 0 with *ID set, 1 when
//  there is no such subscription (left already), -1 when TOKEN is forged
//  or malformed or PostgreSQL fails (PROBLEM says which).
static int s_token_subscription (pb_db_t *db, const subscriptions_key_t *key, const char *token,
                                 int64_t *id, char *problem, size_t problem_size)
{
    char *dot = NULL;
    long long number = strtoll (token, &dot, 10);
    if (number <= 0 || !dot || *dot != '.' || strlen (token) >= SUBSCRIPTIONS_TOKEN_MAX) {
        snprintf (problem, problem_size, "token: this is not an unsubscribe token");
        return -1;
    }
    pb_db_params_t params = {0};
    pb_db_params_int (&params, number);
    PGresult *result = pb_db_query (db, "SELECT email FROM subscription WHERE id = $1", &params);
    if (!result) {
        snprintf (problem, problem_size, "PostgreSQL: %s", pb_db_error (db));
        return -1;
    }
    int rc = 1;
    if (PQntuples (result) == 1) {
        char expected[SUBSCRIPTIONS_TOKEN_MAX];
        subscriptions_unsubscribe_token (key, number, PQgetvalue (result, 0, 0), expected);
        if (strlen (expected) == strlen (token) &&
            sodium_memcmp (expected, token, strlen (token)) == 0) {
            *id = number;
            rc = 0;
        } else {
            snprintf (problem, problem_size, "token: the signature does not match");
            rc = -1;
        }
    }
    PQclear (result);
    return rc;
}

/* ==== Checking a request ==== */

static bool s_has_control (pb_str_t text)
{
    for (uint32_t i = 0; i < text.len; i++)
        if ((unsigned char)text.ptr[i] < 32 || text.ptr[i] == 127)
            return true;
    return false;
}

static bool s_category_valid (pb_str_t category)
{
    for (uint32_t i = 0; i < category.len; i++)
        if (!isalnum ((unsigned char)category.ptr[i]) && !strchr (".-", category.ptr[i]))
            return false;
    return category.len > 0;
}

int subscriptions_check_email (pb_str_t email, char address[MESSAGE_ADDRESS_MAX + 1], char *problem,
                               size_t problem_size)
{
    const char *why = NULL;
    if (s_has_control (email) || email.len > MESSAGE_ADDRESS_MAX) {
        snprintf (problem, problem_size, "email: control characters are not allowed");
        return -1;
    }
    for (uint32_t i = 0; i < email.len; i++)
        address[i] = (char)tolower ((unsigned char)email.ptr[i]);
    address[email.len] = 0;
    if (!message_address_valid (address, &why)) {
        snprintf (problem, problem_size, "email: '%s': %s", address, why);
        return -1;
    }
    return 0;
}

int subscriptions_check (const pb_subscribe_request_t *request, subscriptions_prefs_t *prefs,
                         char *problem, size_t problem_size)
{
    *prefs = (subscriptions_prefs_t){.cadence = "daily", .hour = 8, .time_zone = "UTC"};
    prefs->categories = pb_db_array_new (PB_DB_TEXT);
    prefs->authors = pb_db_array_new (PB_DB_TEXT);
    if (subscriptions_check_email (request->email, prefs->email, problem, problem_size))
        return -1;
    if (pb_has (request, PB_subscribe_request_query)) {
        if (s_has_control (request->query)) {
            snprintf (problem, problem_size, "query: control characters are not allowed");
            return -1;
        }
        memcpy (prefs->query, request->query.ptr, request->query.len);
        prefs->query[request->query.len] = 0;
    }
    if (pb_has (request, PB_subscribe_request_categories))
        for (uint32_t i = 0; i < request->categories.count; i++) {
            pb_str_t category = request->categories.items[i];
            if (!s_category_valid (category)) {
                snprintf (problem, problem_size,
                          "categories: '%.*s' is not a category (letters, digits, . and -)",
                          (int)category.len, category.ptr);
                return -1;
            }
            pb_db_array_add (prefs->categories, category.ptr, category.len);
        }
    if (pb_has (request, PB_subscribe_request_authors))
        for (uint32_t i = 0; i < request->authors.count; i++) {
            pb_str_t author = request->authors.items[i];
            if (s_has_control (author) || memchr (author.ptr, '"', author.len)) {
                snprintf (problem, problem_size,
                          "authors: a name cannot hold quotes or control characters");
                return -1;
            }
            pb_db_array_add (prefs->authors, author.ptr, author.len);
        }
    bool follows = prefs->query[0] || pb_db_array_count (prefs->categories) ||
                   pb_db_array_count (prefs->authors);
    prefs->trending = pb_has (request, PB_subscribe_request_trending) ? (int)request->trending
                      : follows                                       ? 0
                                                                      : 10;
    if (!follows && prefs->trending == 0) {
        snprintf (problem, problem_size,
                  "nothing to send: give a query, categories, authors or trending > 0");
        return -1;
    }
    if (pb_has (request, PB_subscribe_request_cadence)) {
        if (pb_str_eq (request->cadence, "daily"))
            prefs->cadence = "daily";
        else if (pb_str_eq (request->cadence, "weekly"))
            prefs->cadence = "weekly";
        else {
            snprintf (problem, problem_size, "cadence: '%.*s' is not daily or weekly",
                      (int)request->cadence.len, request->cadence.ptr);
            return -1;
        }
    }
    if (pb_has (request, PB_subscribe_request_hour))
        prefs->hour = (int)request->hour;
    if (pb_has (request, PB_subscribe_request_time_zone)) {
        pb_str_t zone = request->time_zone;
        for (uint32_t i = 0; i < zone.len; i++)
            if (!isalnum ((unsigned char)zone.ptr[i]) && !strchr ("/_+-", zone.ptr[i])) {
                snprintf (problem, problem_size, "time_zone: '%.*s' is not a time zone name",
                          (int)zone.len, zone.ptr);
                return -1;
            }
        memcpy (prefs->time_zone, zone.ptr, zone.len);
        prefs->time_zone[zone.len] = 0;
    }
    return 0;
}

void subscriptions_prefs_free (subscriptions_prefs_t *prefs)
{
    pb_db_array_destroy (&prefs->categories);
    pb_db_array_destroy (&prefs->authors);
}

char *subscriptions_describe (const char *query, const char *const *categories,
                              size_t category_count, const char *const *authors,
                              size_t author_count)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    if (!out)
        return NULL;
    if (query && *query)
        fprintf (out, "on \u201c%s\u201d", query);
    for (size_t i = 0; i < category_count; i++)
        fprintf (out, "%s%s", i ? " or " : ftell (out) ? " in " : "in ", categories[i]);
    for (size_t i = 0; i < author_count; i++)
        fprintf (out, "%s%s", i ? " or " : ftell (out) ? " by " : "by ", authors[i]);
    fclose (out);
    return text;
}

/* ==== Requests and confirmations ==== */

typedef struct {
    const subscriptions_prefs_t *prefs;
    int64_t now_ms;
    int64_t ttl_s;
    char token[SUBSCRIPTIONS_TOKEN_MAX];
    unsigned char hash[32];
    int code;
    char *problem;
    size_t problem_size;
} request_tx_t;

static int s_request_tx (pb_db_t *db, void *arg)
{
    request_tx_t *tx = arg;
    const subscriptions_prefs_t *prefs = tx->prefs;
    pb_db_params_t params = {0};
    pb_db_params_text (&params, prefs->email);
    pb_db_params_int (&params, tx->now_ms);
    pb_db_params_text (&params, prefs->time_zone);
    //  A confirmation mail could be used to flood an inbox: a few an hour.
    PGresult *result = pb_db_query (
        db,
        "SELECT (SELECT count(*) FROM subscription_request WHERE email = $1 "
        "        AND created_at > to_timestamp ($2::float8 / 1000) - interval '1 hour'), "
        "       (SELECT count(*) FROM pg_timezone_names WHERE name = $3)",
        &params);
    if (!result) {
        tx->code = PB_E_UNAVAILABLE;
        snprintf (tx->problem, tx->problem_size, "PostgreSQL: %s", pb_db_error (db));
        return -1;
    }
    int64_t recent = strtoll (PQgetvalue (result, 0, 0), NULL, 10);
    bool zone_known = strcmp (PQgetvalue (result, 0, 1), "0") != 0;
    PQclear (result);
    if (!zone_known) {
        tx->code = PB_E_INVALID;
        snprintf (tx->problem, tx->problem_size,
                  "time_zone: '%s' is not a time zone PostgreSQL knows (\"Europe/Paris\", \"UTC\")",
                  prefs->time_zone);
        return -1;
    }
    if (recent >= SUBSCRIPTIONS_REQUESTS_MAX) {
        tx->code = PB_E_RATE_LIMITED;
        snprintf (tx->problem, tx->problem_size,
                  "%lld confirmation mails went to %s in the last hour; try again later",
                  (long long)recent, prefs->email);
        return -1;
    }
    subscriptions_token_new (tx->token, tx->hash);
    params = (pb_db_params_t){0};
    pb_db_params_bytes (&params, tx->hash, sizeof tx->hash);
    pb_db_params_text (&params, prefs->email);
    pb_db_params_text (&params, prefs->query);
    pb_db_params_array (&params, prefs->categories);
    pb_db_params_array (&params, prefs->authors);
    pb_db_params_int (&params, prefs->trending);
    pb_db_params_text (&params, prefs->cadence);
    pb_db_params_int (&params, prefs->hour);
    pb_db_params_text (&params, prefs->time_zone);
    pb_db_params_int (&params, tx->now_ms);
    pb_db_params_int (&params, tx->ttl_s);
    pb_db_params_text (&params, tx->token);
    if (pb_db_run (
            db,
            "WITH request AS (INSERT INTO subscription_request (token_hash, email, query, "
            "  categories, authors, trending_top, cadence, send_hour, time_zone, "
            "  created_at, expires_at) "
            "  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, to_timestamp ($10::float8 / 1000), "
            "          to_timestamp ($10::float8 / 1000) + make_interval (secs => $11)) "
            "  RETURNING token_hash, email, created_at) "
            "INSERT INTO mail_job (kind, email, request_hash, token, due_at) "
            "SELECT 'confirm', email, token_hash, $12, created_at FROM request",
            &params) != 1 ||
        pb_db_run (db, "NOTIFY mail_job", NULL) < 0) {
        tx->code = PB_E_UNAVAILABLE;
        snprintf (tx->problem, tx->problem_size, "PostgreSQL: %s", pb_db_error (db));
        return -1;
    }
    return 0;
}

int subscriptions_request (pb_db_t *db, const subscriptions_prefs_t *prefs, int64_t now_ms,
                           int64_t ttl_s, int64_t *expires_ms, char *problem, size_t problem_size)
{
    request_tx_t tx = {.prefs = prefs,
                       .now_ms = now_ms,
                       .ttl_s = ttl_s,
                       .problem = problem,
                       .problem_size = problem_size};
    if (pb_db_transaction (db, s_request_tx, &tx)) {
        if (tx.code == 0) {
            tx.code = PB_E_UNAVAILABLE;
            snprintf (problem, problem_size, "PostgreSQL: %s", pb_db_error (db));
        }
        return tx.code;
    }
    sodium_memzero (tx.token, sizeof tx.token);
    *expires_ms = now_ms + ttl_s * 1000;
    return 0;
}

//  Packs a `subscription` message from one row of EMAIL, QUERY,
//  CATEGORIES (JSON), AUTHORS (JSON), TRENDING, CADENCE, HOUR, TIME_ZONE.
static int s_pack_subscription (PGresult *result, msgpack_packer *packer)
{
    json_t *lists[2] = {json_loads (PQgetvalue (result, 0, 2), 0, NULL),
                        json_loads (PQgetvalue (result, 0, 3), 0, NULL)};
    pb_str_t items[2][16 + 8];
    pb_subscription_t subscription = {
        .email = pb_str (PQgetvalue (result, 0, 0)),
        .query = pb_str (PQgetvalue (result, 0, 1)),
        .trending = strtoll (PQgetvalue (result, 0, 4), NULL, 10),
        .cadence = pb_str (PQgetvalue (result, 0, 5)),
        .hour = strtoll (PQgetvalue (result, 0, 6), NULL, 10),
        .time_zone = pb_str (PQgetvalue (result, 0, 7)),
    };
    pb_str_list_t *targets[2] = {&subscription.categories, &subscription.authors};
    for (int l = 0; l < 2; l++) {
        size_t index;
        json_t *item;
        targets[l]->items = items[l];
        json_array_foreach (lists[l], index, item) if (json_is_string (item) && index < 24)
            items[l][targets[l]->count++] = pb_str (json_string_value (item));
    }
    int rc = pb_encode (&pb_subscription_schema, &subscription, packer);
    json_decref (lists[0]);
    json_decref (lists[1]);
    return rc;
}

typedef struct {
    unsigned char hash[32];
    int64_t now_ms;
    msgpack_packer *packer;
    int code;
    char *problem;
    size_t problem_size;
} confirm_tx_t;

static int s_confirm_tx (pb_db_t *db, void *arg)
{
    confirm_tx_t *tx = arg;
    pb_db_params_t params = {0};
    pb_db_params_bytes (&params, tx->hash, sizeof tx->hash);
    pb_db_params_int (&params, tx->now_ms);
    //  The first confirmation of a request makes (or replaces) the
    //  subscription and drops the address's other requests; a repeated one
    //  only reads it. Confirming also clears a bounce: the mail got through.
    PGresult *result = pb_db_query (
        db,
        "WITH request AS (UPDATE subscription_request "
        "  SET confirmed_at = coalesce (confirmed_at, to_timestamp ($2::float8 / 1000)) "
        "  WHERE token_hash = $1 AND expires_at > to_timestamp ($2::float8 / 1000) "
        "  RETURNING *, confirmed_at = to_timestamp ($2::float8 / 1000) AS first), "
        "made AS (INSERT INTO subscription (email, query, categories, authors, trending_top, "
        "  cadence, send_hour, time_zone, confirmed_at) "
        "  SELECT email, query, categories, authors, trending_top, cadence, send_hour, time_zone, "
        "         confirmed_at FROM request WHERE first "
        "  ON CONFLICT (email) DO UPDATE SET query = EXCLUDED.query, "
        "    categories = EXCLUDED.categories, authors = EXCLUDED.authors, "
        "    trending_top = EXCLUDED.trending_top, cadence = EXCLUDED.cadence, "
        "    send_hour = EXCLUDED.send_hour, time_zone = EXCLUDED.time_zone, "
        "    bouncing_since = NULL, bounce_reason = NULL "
        "  RETURNING email), "
        "superseded AS (DELETE FROM subscription_request r USING request "
        "  WHERE request.first AND r.email = request.email AND r.token_hash <> request.token_hash "
        "  AND r.confirmed_at IS NULL) "
        "SELECT email, query, to_json (categories), to_json (authors), trending_top, cadence, "
        "       send_hour, time_zone FROM request",
        &params);
    if (!result) {
        tx->code = PB_E_UNAVAILABLE;
        snprintf (tx->problem, tx->problem_size, "PostgreSQL: %s", pb_db_error (db));
        return -1;
    }
    int rc = 0;
    if (PQntuples (result) != 1) {
        //  Say which: a reader with an old link should know it was right once.
        pb_db_params_t by_hash = {0};
        pb_db_params_bytes (&by_hash, tx->hash, sizeof tx->hash);
        PGresult *known =
            pb_db_query (db, "SELECT 1 FROM subscription_request WHERE token_hash = $1", &by_hash);
        bool expired = known && PQntuples (known) == 1;
        PQclear (known);
        tx->code = PB_E_NOT_FOUND;
        snprintf (tx->problem, tx->problem_size, "%s",
                  expired ? "this confirmation link has expired; subscribe again"
                          : "this confirmation link is unknown; subscribe again");
        rc = -1;
    } else if (s_pack_subscription (result, tx->packer)) {
        tx->code = PB_E_INTERNAL;
        snprintf (tx->problem, tx->problem_size, "the subscription could not be encoded");
        rc = -1;
    }
    PQclear (result);
    return rc;
}

int subscriptions_confirm (pb_db_t *db, const char *token, int64_t now_ms, msgpack_packer *packer,
                           char *problem, size_t problem_size)
{
    confirm_tx_t tx = {
        .now_ms = now_ms, .packer = packer, .problem = problem, .problem_size = problem_size};
    if (subscriptions_token_hash (token, tx.hash)) {
        snprintf (problem, problem_size, "token: this is not a confirmation token");
        return PB_E_INVALID;
    }
    if (pb_db_transaction (db, s_confirm_tx, &tx))
        return tx.code ? tx.code : PB_E_UNAVAILABLE;
    return 0;
}

/* ==== Leaving ==== */

typedef struct {
    const char *email; //  the address, or NULL
    int64_t id;        //  else the subscription
    bool removed;      //  out: whether anything was deleted
} remove_tx_t;

static int s_remove_tx (pb_db_t *db, void *arg)
{
    remove_tx_t *tx = arg;
    pb_db_params_t params = {0};
    pb_db_params_text (&params, tx->email ? tx->email : "");
    pb_db_params_int (&params, tx->id);
    PGresult *result = pb_db_query (db,
                                    "SELECT $1 WHERE $1 <> '' UNION "
                                    "SELECT email FROM subscription WHERE id = $2",
                                    &params);
    if (!result)
        return -1;
    char *email = PQntuples (result) == 1 ? strdup (PQgetvalue (result, 0, 0)) : NULL;
    PQclear (result);
    if (!email)
        return 0;
    //  The mails first: a mail being sent holds its job's row lock, so this
    //  waits for it to finish and then deletes its record too. Taking the
    //  job rows before the subscription's is the order senders take them in.
    //  Sign-in mails belong to the address's account, which stays.
    params = (pb_db_params_t){0};
    pb_db_params_text (&params, email);
    int64_t subscriptions = -1, requests = -1;
    if (pb_db_run (db,
                   "WITH jobs AS (DELETE FROM mail_job WHERE email = $1 AND kind <> 'signin' "
                   "  RETURNING id) "
                   "DELETE FROM mail_handed WHERE job_id IN (SELECT id FROM jobs)",
                   &params) >= 0 &&
        (requests = pb_db_run (db, "DELETE FROM subscription_request WHERE email = $1", &params)) >=
            0)
        subscriptions = pb_db_run (db, "DELETE FROM subscription WHERE email = $1", &params);
    free (email);
    if (subscriptions < 0)
        return -1;
    tx->removed = requests + subscriptions > 0;
    return 0;
}

int subscriptions_remove (pb_db_t *db, const subscriptions_key_t *key, const char *email,
                          const char *token, bool *removed, char *problem, size_t problem_size)
{
    *removed = false;
    remove_tx_t tx = {.email = email};
    if (token) {
        int found = s_token_subscription (db, key, token, &tx.id, problem, problem_size);
        if (found == 1)
            return 0; //  gone already: leaving twice is not an error
        if (found < 0)
            return strncmp (problem, "token", 5) == 0 ? PB_E_INVALID : PB_E_UNAVAILABLE;
    }
    if (pb_db_transaction (db, s_remove_tx, &tx)) {
        snprintf (problem, problem_size, "PostgreSQL: %s", pb_db_error (db));
        return PB_E_UNAVAILABLE;
    }
    *removed = tx.removed;
    return 0;
}
