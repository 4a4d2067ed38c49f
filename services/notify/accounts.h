/*  accounts — who is signed in: sign-in links, browser sessions and API
    tokens, in PostgreSQL (migration 0008). The gateway has no SQL of its
    own and signs people in through these.

    notify.signin stores a sign-in request that holds only the BLAKE2b hash
    of a token of 32 random bytes, and queues a mail whose link holds the
    token; the token sits in the mail's job row until the mail server has
    the mail, as a confirmation's does. notify.session redeems the token:
    one statement, in a transaction, marks the request used (only if it is
    neither used nor expired), makes the account at the first sign-in and
    opens a browser session. So it happens whole or not at all: two
    redemptions at once make one session, and a notify killed before the
    commit leaves the link unused. A session token is returned once
    and stored as its hash too; a browser session may make API tokens for
    scripts. Checking any of them (notify.whoami) is one SELECT by the
    hash, the table's primary key.
*/
#ifndef ACCOUNTS_H
#define ACCOUNTS_H

#include "paperbus.h"

#define ACCOUNTS_SIGNINS_MAX 5 //  sign-in mails to one address per hour

//  Stores a sign-in request for EMAIL (checked, lower case) at NOW_MS, its
//  link lasting TTL_S, and queues its mail. Returns 0, or a pb_error_t code
//  with PROBLEM set (rate_limited, unavailable).
int accounts_signin (pb_db_t *db, const char *email, int64_t now_ms, int64_t ttl_s, char *problem,
                     size_t problem_size);

//  Redeems the sign-in TOKEN at NOW_MS: makes the account if it is the
//  first sign-in, opens a browser session lasting TTL_S, and packs a
//  `session_reply` with the session's token into PACKER. Returns 0, or a
//  pb_error_t code with PROBLEM set (not_found for a token unknown, used or
//  expired).
int accounts_session_open (pb_db_t *db, const char *token, int64_t now_ms, int64_t ttl_s,
                           msgpack_packer *packer, char *problem, size_t problem_size);

//  Packs the `session_reply` (without the token) of SESSION, a session or
//  API token, at NOW_MS into PACKER. Returns 0, or a pb_error_t code with
//  PROBLEM set (not_found when unknown or expired).
int accounts_whoami (pb_db_t *db, const char *session, int64_t now_ms, msgpack_packer *packer,
                     char *problem, size_t problem_size);

//  Closes SESSION (a session or API token). *CLOSED tells whether it was
//  open. Returns 0, or a pb_error_t code with PROBLEM set.
int accounts_signout (pb_db_t *db, const char *session, int64_t now_ms, bool *closed, char *problem,
                      size_t problem_size);

//  Makes an API token named LABEL, lasting TTL_S, for the holder of browser
//  SESSION, and packs its `session_reply` with the token into PACKER.
//  Returns 0, or a pb_error_t code with PROBLEM set.
int accounts_api_token (pb_db_t *db, const char *session, pb_str_t label, int64_t now_ms,
                        int64_t ttl_s, msgpack_packer *packer, char *problem, size_t problem_size);

//  Whether LABEL can name an API token: no control characters (C0, DEL or
//  C1), so that it shows as it is wherever it is listed.
bool accounts_label_valid (pb_str_t label);

#endif
