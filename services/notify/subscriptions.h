/*  subscriptions — who gets what, in PostgreSQL: subscribing (a request
    plus its confirmation mail), confirming, unsubscribing.

    Double opt-in: notify.subscribe stores a request and queues a mail with
    a link holding a token of 32 random bytes. Only the token's BLAKE2b hash
    is stored with the request; the token itself sits in the mail's job row
    until the mail server has the mail. Following the link (notify.confirm)
    turns the request into a subscription; before that, nothing but the
    confirmation goes to the address.

    Every digest carries a link to leave: a token naming the subscription
    and signed with a key only notify holds (keyed BLAKE2b, the key made
    once and kept in notify_secret), so it needs no storage and cannot be
    forged for another subscription. Leaving deletes the subscription, its
    requests, its mails and the record of papers sent: the address is gone.
*/
#ifndef SUBSCRIPTIONS_H
#define SUBSCRIPTIONS_H

#include "message.h"
#include "paperbus.h"

#define SUBSCRIPTIONS_KEY_BYTES    32
#define SUBSCRIPTIONS_TOKEN_MAX    96
#define SUBSCRIPTIONS_REQUESTS_MAX 5 //  confirmation mails to one address per hour

//  The key that signs unsubscribe links.
typedef struct {
    unsigned char bytes[SUBSCRIPTIONS_KEY_BYTES]; //  shared by every notify process
} subscriptions_key_t;

//  What an address asks for, checked (subscriptions_check) and normalised.
typedef struct {
    char email[MESSAGE_ADDRESS_MAX + 1]; //  lower case
    char query[513];                     //  "" for none
    pb_db_array_t *categories;           //  text[]
    pb_db_array_t *authors;              //  text[]
    int trending;                        //  trending top N, 0 for none
    const char *cadence;                 //  "daily" or "weekly"
    int hour;                            //  0..23
    char time_zone[65];                  //  IANA name
} subscriptions_prefs_t;

//  Reads the signing key, making it first if no notify process has yet.
int subscriptions_key_load (pb_db_t *db, subscriptions_key_t *key);

//  Checks EMAIL as an address paperbus mails (message_address_valid) and
//  writes it in lower case to ADDRESS. Returns 0, or -1 with PROBLEM naming
//  the field and what is wrong.
int subscriptions_check_email (pb_str_t email, char address[MESSAGE_ADDRESS_MAX + 1], char *problem,
                               size_t problem_size);

//  Checks REQUEST and fills PREFS (free with subscriptions_prefs_free).
//  Returns 0, or -1 with PROBLEM naming the field and what is wrong.
int subscriptions_check (const pb_subscribe_request_t *request, subscriptions_prefs_t *prefs,
                         char *problem, size_t problem_size);

//  Frees the arrays PREFS holds.
void subscriptions_prefs_free (subscriptions_prefs_t *prefs);

//  The words saying which new papers a subscription follows ("on
//  \u201cdiffusion\u201d in cs.CV or cs.LG by Ada Lovelace"), "" for none.
//  Caller frees.
char *subscriptions_describe (const char *query, const char *const *categories,
                              size_t category_count, const char *const *authors,
                              size_t author_count);

//  Stores a request for PREFS and queues its confirmation mail, at NOW_MS
//  (the link lasting TTL_S). Returns 0 with *EXPIRES_MS set; otherwise a
//  pb_error_t code with PROBLEM set (rate_limited, invalid time zone,
//  unavailable).
int subscriptions_request (pb_db_t *db, const subscriptions_prefs_t *prefs, int64_t now_ms,
                           int64_t ttl_s, int64_t *expires_ms, char *problem, size_t problem_size);

//  Confirms the request whose link holds TOKEN, packing the subscription
//  into PACKER as a `subscription` message. Following a link again is
//  harmless. Returns 0, or a pb_error_t code with PROBLEM set.
int subscriptions_confirm (pb_db_t *db, const char *token, int64_t now_ms, msgpack_packer *packer,
                           char *problem, size_t problem_size);

//  Deletes the subscription of EMAIL, or the one TOKEN names, with all that
//  belongs to it. *REMOVED tells whether there was anything. Returns 0, or a
//  pb_error_t code with PROBLEM set.
int subscriptions_remove (pb_db_t *db, const subscriptions_key_t *key, const char *email,
                          const char *token, bool *removed, char *problem, size_t problem_size);

//  Writes the unsubscribe token of subscription ID at EMAIL to TOKEN.
void subscriptions_unsubscribe_token (const subscriptions_key_t *key, int64_t id, const char *email,
                                      char token[SUBSCRIPTIONS_TOKEN_MAX]);

//  Makes a secret token: 32 random bytes as base64url text (43
//  characters), and its BLAKE2b-256 hash, the only form stored. Confirmation
//  links, sign-in links, sessions and API tokens are all such tokens.
void subscriptions_token_new (char token[SUBSCRIPTIONS_TOKEN_MAX], unsigned char hash[32]);

//  The hash of TOKEN (as subscriptions_token_new makes), or -1 if TOKEN
//  cannot be one.
int subscriptions_token_hash (const char *token, unsigned char hash[32]);

#endif
