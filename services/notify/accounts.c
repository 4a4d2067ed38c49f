/*  accounts — see accounts.h. */
#include "accounts.h"
#include "subscriptions.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIGNIN_LOCK 0x70627369 //  advisory lock class of sign-in requests ("pbsi")
#define USER_MAX    32         //  "u" and an account number

//  Writes "PostgreSQL: why" to PROBLEM and returns unavailable.
static int s_unavailable (pb_db_t *db, char *problem, size_t problem_size)
{
    snprintf (problem, problem_size, "PostgreSQL: %s", pb_db_error (db));
    return PB_E_UNAVAILABLE;
}

//  The hash of session token SESSION, or invalid with PROBLEM set.
static int s_session_hash (const char *session, unsigned char hash[32], char *problem,
                           size_t problem_size)
{
    if (subscriptions_token_hash (session, hash) == 0)
        return 0;
    snprintf (problem, problem_size,
              "session: this is not a session or API token (43 characters of base64url)");
    return PB_E_INVALID;
}

//  Packs a `session_reply` from row 0 of RESULT: account id, email, kind,
//  expires_at (ms), label (NULL for none); with SESSION when not NULL.
static int s_pack_session (PGresult *result, const char *session, msgpack_packer *packer)
{
    char user[USER_MAX];
    snprintf (user, sizeof user, "u%s", PQgetvalue (result, 0, 0));
    pb_session_reply_t reply = {
        .user = pb_str (user),
        .email = pb_str (PQgetvalue (result, 0, 1)),
        .kind = pb_str (PQgetvalue (result, 0, 2)),
        .expires_at = strtoll (PQgetvalue (result, 0, 3), NULL, 10),
    };
    if (session) {
        reply.session = pb_str (session);
        pb_set_present (&reply, PB_session_reply_session);
    }
    if (!PQgetisnull (result, 0, 4)) {
        reply.label = pb_str (PQgetvalue (result, 0, 4));
        pb_set_present (&reply, PB_session_reply_label);
    }
    return pb_encode (&pb_session_reply_schema, &reply, packer);
}

/* ==== Signing in ==== */

typedef struct {
    const char *email;   //  the address, checked
    int64_t now_ms;      //  the time taken for now
    int64_t ttl_s;       //  how long the link works
    int code;            //  out: the error, 0 for none
    char *problem;       //  out: what went wrong
    size_t problem_size; //  its size
} signin_tx_t;

static int s_signin_tx (pb_db_t *db, void *arg)
{
    signin_tx_t *tx = arg;
    //  A sign-in mail could be used to flood an inbox: a few an hour. The
    //  lock makes concurrent requests for one address count one another.
    pb_db_params_t params = {0};
    pb_db_params_int (&params, SIGNIN_LOCK);
    pb_db_params_text (&params, tx->email);
    if (pb_db_run (db, "SELECT pg_advisory_xact_lock ($1::int, hashtext ($2))", &params) < 0) {
        tx->code = s_unavailable (db, tx->problem, tx->problem_size);
        return -1;
    }
    params = (pb_db_params_t){0};
    pb_db_params_text (&params, tx->email);
    pb_db_params_int (&params, tx->now_ms);
    PGresult *result =
        pb_db_query (db,
                     "SELECT count(*) FROM signin_request WHERE email = $1 "
                     "AND created_at > to_timestamp ($2::float8 / 1000) - interval '1 hour'",
                     &params);
    if (!result) {
        tx->code = s_unavailable (db, tx->problem, tx->problem_size);
        return -1;
    }
    int64_t recent = strtoll (PQgetvalue (result, 0, 0), NULL, 10);
    PQclear (result);
    if (recent >= ACCOUNTS_SIGNINS_MAX) {
        tx->code = PB_E_RATE_LIMITED;
        snprintf (tx->problem, tx->problem_size,
                  "%lld sign-in mails went to %s in the last hour, the most there may be (%d an "
                  "hour); try again later",
                  (long long)recent, tx->email, ACCOUNTS_SIGNINS_MAX);
        return -1;
    }
    char token[SUBSCRIPTIONS_TOKEN_MAX];
    unsigned char hash[32];
    subscriptions_token_new (token, hash);
    params = (pb_db_params_t){0};
    pb_db_params_bytes (&params, hash, sizeof hash);
    pb_db_params_text (&params, tx->email);
    pb_db_params_int (&params, tx->now_ms);
    pb_db_params_int (&params, tx->ttl_s);
    pb_db_params_text (&params, token);
    int64_t queued = pb_db_run (
        db,
        "WITH request AS (INSERT INTO signin_request (token_hash, email, created_at, expires_at) "
        "  VALUES ($1, $2, to_timestamp ($3::float8 / 1000), "
        "          to_timestamp ($3::float8 / 1000) + make_interval (secs => $4)) "
        "  RETURNING token_hash, email, created_at) "
        "INSERT INTO mail_job (kind, email, signin_hash, token, due_at) "
        "SELECT 'signin', email, token_hash, $5, created_at FROM request",
        &params);
    sodium_memzero (token, sizeof token);
    if (queued != 1 || pb_db_run (db, "NOTIFY mail_job", NULL) < 0) {
        tx->code = s_unavailable (db, tx->problem, tx->problem_size);
        return -1;
    }
    return 0;
}

int accounts_signin (pb_db_t *db, const char *email, int64_t now_ms, int64_t ttl_s, char *problem,
                     size_t problem_size)
{
    signin_tx_t tx = {.email = email,
                      .now_ms = now_ms,
                      .ttl_s = ttl_s,
                      .problem = problem,
                      .problem_size = problem_size};
    if (pb_db_transaction (db, s_signin_tx, &tx))
        return tx.code ? tx.code : s_unavailable (db, problem, problem_size);
    return 0;
}

typedef struct {
    unsigned char request_hash[32]; //  of the sign-in token
    unsigned char session_hash[32]; //  of the new session's token
    int64_t now_ms;                 //  the time taken for now
    int64_t expires_ms;             //  the session's end
    PGresult *opened;               //  out: the session_reply row, or NULL
} session_tx_t;

static int s_session_tx (pb_db_t *db, void *arg)
{
    session_tx_t *tx = arg;
    pb_db_params_t params = {0};
    pb_db_params_bytes (&params, tx->request_hash, sizeof tx->request_hash);
    pb_db_params_int (&params, tx->now_ms);
    pb_db_params_bytes (&params, tx->session_hash, sizeof tx->session_hash);
    pb_db_params_int (&params, tx->expires_ms);
    //  One statement: the request used once (a concurrent redemption waits
    //  for the row lock, then finds it used), the account made or found (DO
    //  UPDATE, so that it is returned either way), the session opened. In a
    //  transaction, so that a notify that dies before the commit leaves the
    //  link as it was: unused.
    PQclear (tx->opened);
    tx->opened = pb_db_query (
        db,
        "WITH request AS (UPDATE signin_request SET used_at = to_timestamp ($2::float8 / 1000) "
        "  WHERE token_hash = $1 AND used_at IS NULL "
        "    AND expires_at > to_timestamp ($2::float8 / 1000) "
        "  RETURNING email), "
        "person AS (INSERT INTO account (email, created_at) "
        "  SELECT email, to_timestamp ($2::float8 / 1000) FROM request "
        "  ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email RETURNING id, email), "
        "opened AS (INSERT INTO account_session (token_hash, account_id, kind, created_at, "
        "    expires_at, last_used_at) "
        "  SELECT $3, id, 'browser', to_timestamp ($2::float8 / 1000), "
        "         to_timestamp ($4::float8 / 1000), to_timestamp ($2::float8 / 1000) FROM person "
        "  RETURNING account_id, expires_at) "
        "SELECT p.id, p.email, 'browser', (extract (epoch FROM o.expires_at) * 1000)::bigint, "
        "       NULL FROM person p JOIN opened o ON o.account_id = p.id",
        &params);
    return tx->opened ? 0 : -1;
}

int accounts_session_open (pb_db_t *db, const char *token, int64_t now_ms, int64_t ttl_s,
                           msgpack_packer *packer, char *problem, size_t problem_size)
{
    session_tx_t tx = {.now_ms = now_ms, .expires_ms = now_ms + ttl_s * 1000};
    if (subscriptions_token_hash (token, tx.request_hash)) {
        snprintf (problem, problem_size,
                  "token: this is not a sign-in token (43 characters of base64url)");
        return PB_E_INVALID;
    }
    char session[SUBSCRIPTIONS_TOKEN_MAX];
    subscriptions_token_new (session, tx.session_hash);
    int code = 0;
    if (pb_db_transaction (db, s_session_tx, &tx))
        code = s_unavailable (db, problem, problem_size);
    else if (PQntuples (tx.opened) != 1) {
        code = PB_E_NOT_FOUND;
        snprintf (problem, problem_size,
                  "sign-in link unknown, used or expired; ask for a new one");
    } else if (s_pack_session (tx.opened, session, packer)) {
        code = PB_E_INTERNAL;
        snprintf (problem, problem_size, "the session could not be encoded");
    }
    PQclear (tx.opened);
    sodium_memzero (session, sizeof session);
    return code;
}

/* ==== Sessions and API tokens ==== */

int accounts_whoami (pb_db_t *db, const char *session, int64_t now_ms, msgpack_packer *packer,
                     char *problem, size_t problem_size)
{
    unsigned char hash[32];
    int code = s_session_hash (session, hash, problem, problem_size);
    if (code)
        return code;
    pb_db_params_t params = {0};
    pb_db_params_bytes (&params, hash, sizeof hash);
    pb_db_params_int (&params, now_ms);
    PGresult *result = pb_db_query (
        db,
        "SELECT a.id, a.email, s.kind, (extract (epoch FROM s.expires_at) * 1000)::bigint, "
        "       s.label, s.last_used_at < to_timestamp ($2::float8 / 1000) - interval '1 hour' "
        "FROM account_session s JOIN account a ON a.id = s.account_id "
        "WHERE s.token_hash = $1 AND s.expires_at > to_timestamp ($2::float8 / 1000)",
        &params);
    if (!result)
        return s_unavailable (db, problem, problem_size);
    bool stale = false;
    if (PQntuples (result) != 1) {
        code = PB_E_NOT_FOUND;
        snprintf (problem, problem_size, "session unknown, closed or expired; sign in again");
    } else if (s_pack_session (result, NULL, packer)) {
        code = PB_E_INTERNAL;
        snprintf (problem, problem_size, "the session could not be encoded");
    } else
        stale = PQgetvalue (result, 0, 5)[0] == 't';
    PQclear (result);
    //  When it was last used matters to the hour (to see which tokens are
    //  forgotten), so most checks write nothing; a failed write costs only
    //  that precision.
    if (stale)
        pb_db_run (db,
                   "UPDATE account_session SET last_used_at = to_timestamp ($2::float8 / 1000) "
                   "WHERE token_hash = $1",
                   &params);
    return code;
}

int accounts_signout (pb_db_t *db, const char *session, int64_t now_ms, bool *closed, char *problem,
                      size_t problem_size)
{
    *closed = false;
    unsigned char hash[32];
    int code = s_session_hash (session, hash, problem, problem_size);
    if (code)
        return code;
    pb_db_params_t params = {0};
    pb_db_params_bytes (&params, hash, sizeof hash);
    pb_db_params_int (&params, now_ms);
    PGresult *result =
        pb_db_query (db,
                     "WITH closed AS (DELETE FROM account_session WHERE token_hash = $1 "
                     "  RETURNING expires_at) "
                     "SELECT count(*) FROM closed "
                     "WHERE expires_at > to_timestamp ($2::float8 / 1000)",
                     &params);
    if (!result)
        return s_unavailable (db, problem, problem_size);
    *closed = strcmp (PQgetvalue (result, 0, 0), "0") != 0;
    PQclear (result);
    return 0;
}

bool accounts_label_valid (pb_str_t label)
{
    const unsigned char *bytes = (const unsigned char *)label.ptr;
    for (uint32_t i = 0; i < label.len; i++) {
        if (bytes[i] < 32 || bytes[i] == 127)
            return false;
        //  U+0080..U+009F, the C1 controls, are C2 80..C2 9F in UTF-8.
        if (bytes[i] == 0xC2 && i + 1 < label.len && bytes[i + 1] >= 0x80 && bytes[i + 1] <= 0x9F)
            return false;
    }
    return label.len > 0;
}

int accounts_api_token (pb_db_t *db, const char *session, pb_str_t label, int64_t now_ms,
                        int64_t ttl_s, msgpack_packer *packer, char *problem, size_t problem_size)
{
    unsigned char owner_hash[32], token_hash[32];
    int code = s_session_hash (session, owner_hash, problem, problem_size);
    if (code)
        return code;
    if (!accounts_label_valid (label)) {
        snprintf (problem, problem_size, "label: control characters are not allowed");
        return PB_E_INVALID;
    }
    char text[65];
    snprintf (text, sizeof text, "%.*s", (int)label.len, label.ptr);
    char token[SUBSCRIPTIONS_TOKEN_MAX];
    subscriptions_token_new (token, token_hash);
    pb_db_params_t params = {0};
    pb_db_params_bytes (&params, owner_hash, sizeof owner_hash);
    pb_db_params_int (&params, now_ms);
    pb_db_params_bytes (&params, token_hash, sizeof token_hash);
    pb_db_params_int (&params, now_ms + ttl_s * 1000);
    pb_db_params_text (&params, text);
    //  Only a browser session makes tokens: a leaked API token cannot mint
    //  itself successors that outlive it.
    PGresult *result = pb_db_query (
        db,
        "WITH owner AS (SELECT account_id, kind FROM account_session "
        "  WHERE token_hash = $1 AND expires_at > to_timestamp ($2::float8 / 1000)), "
        "made AS (INSERT INTO account_session (token_hash, account_id, kind, label, created_at, "
        "    expires_at, last_used_at) "
        "  SELECT $3, account_id, 'api', $5::text, to_timestamp ($2::float8 / 1000), "
        "         to_timestamp ($4::float8 / 1000), to_timestamp ($2::float8 / 1000) "
        "  FROM owner WHERE kind = 'browser' RETURNING account_id, expires_at) "
        "SELECT a.id, a.email, 'api', (extract (epoch FROM m.expires_at) * 1000)::bigint, "
        "       $5::text, o.kind FROM owner o JOIN account a ON a.id = o.account_id "
        "LEFT JOIN made m ON m.account_id = o.account_id",
        &params);
    if (!result)
        code = s_unavailable (db, problem, problem_size);
    else if (PQntuples (result) != 1) {
        code = PB_E_NOT_FOUND;
        snprintf (problem, problem_size, "session unknown, closed or expired; sign in again");
    } else if (strcmp (PQgetvalue (result, 0, 5), "browser") != 0) {
        code = PB_E_INVALID;
        snprintf (problem, problem_size,
                  "session: an API token cannot make another; use a signed-in browser session");
    } else if (s_pack_session (result, token, packer)) {
        code = PB_E_INTERNAL;
        snprintf (problem, problem_size, "the API token could not be encoded");
    }
    PQclear (result);
    sodium_memzero (token, sizeof token);
    return code;
}
