/*  gateway — what every part of the gateway shares: one HTTP request as
    a handler sees it, the response it fills, and the gateway's state.

    A handler never writes to the connection: it fills a gw_response_t,
    and server.c sends it, counts it and times it. Handlers run on the
    HTTP server's threads, several at once; what they share (cache, rate
    limits, metrics) is safe for that.
*/
#ifndef GATEWAY_H
#define GATEWAY_H

#include "paperbus.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define GW_BODY_MAX  (16 * 1024) //  largest request body accepted
#define GW_URL_MAX   4096        //  longest path + query accepted
#define GW_QUERY_MAX 2048        //  longest search query (the index's own limit)
#define GW_PAGE_DEEP 1000        //  page * per_page at most this (the services' limit)

typedef struct _gw_cache_t gw_cache_t;
typedef struct _gw_limits_t gw_limits_t;
typedef struct _gw_metrics_t gw_metrics_t;

//  The gateway: settings read once, and the state its threads share.
typedef struct {
    pb_config_t *config;
    const char *public_url; //  PAPERBUS_PUBLIC_URL, without a trailing slash
    bool public_https;      //  it is https, so cookies are Secure
    bool trust_proxy;       //  believe X-Forwarded-For/-Proto
    int timeout_ms;         //  longest wait for a service
    gw_cache_t *cache;
    gw_limits_t *limits;
    gw_metrics_t *metrics;
} gateway_t;

//  Who made a request, once known.
typedef struct {
    char id[129];    //  "u42", what rank knows the voter as; "" when anonymous
    char email[255]; //  their address
    char kind[16];   //  "browser" (cookie) or "api" (bearer token)
    bool by_cookie;  //  signed in by the session cookie (so the origin matters)
} gw_user_t;

//  One request, as the handlers see it.
typedef struct {
    void *connection;   //  struct MHD_Connection
    const char *method; //  "GET", "POST", ... (HEAD is served as GET)
    const char *path;   //  percent-decoded path, without the query
    const char *param;  //  the {id} or {file} of the route, or NULL
    const char *body;   //  request body (NUL-terminated), or NULL
    size_t body_size;
    char client[64];        //  the client's address (rate limits, logs)
    bool https;             //  the client reached us over TLS (as the proxy says)
    const char *credential; //  the session cookie or bearer token, when one came
    gw_user_t user;         //  filled by gw_identify
    bool identified;        //  gw_identify has run
    const char *error_code; //  the error this request ended with, for metrics
} gw_request_t;

//  What a handler answers. server.c sends it and frees what it owns.
typedef struct {
    int status;
    const char *content_type; //  static string
    char *body;               //  owned unless body_static
    size_t size;
    bool body_static;
    const char *cache_control; //  static string, or NULL for no-store on the API
    char location[2048];       //  Location, for redirects
    char set_cookie[512];      //  Set-Cookie
    char allow[64];            //  Allow, for 405
    char etag[40];             //  ETag
    int retry_after;           //  Retry-After seconds, when > 0
    const char *error_code;    //  the error's wire name, for metrics and logs
} gw_response_t;

typedef int (gw_handler_fn) (gateway_t *gateway, gw_request_t *request, gw_response_t *response);

//  Answers RESPONSE with JSON (a new reference, stolen) and STATUS.
void gw_json (gw_response_t *response, int status, json_t *json);

//  Answers RESPONSE with {"error": {"code": CODE, "message": ...}} and STATUS.
void gw_error (gw_response_t *response, int status, const char *code, const char *format, ...)
    __attribute__ ((format (printf, 4, 5)));

//  Answers a bus error reply (its status code and "code name: message" text).
void gw_error_from_reply (gw_response_t *response, const char *service, int status,
                          const char *text);

//  A query-string argument, or NULL.
const char *gw_arg (gw_request_t *request, const char *name);

//  A request header, or NULL.
const char *gw_header (gw_request_t *request, const char *name);

//  Reads argument NAME as an integer in MIN..MAX (FALLBACK when absent).
//  Returns 0, or -1 with RESPONSE answered 422 naming the argument.
int gw_int_arg (gw_request_t *request, gw_response_t *response, const char *name, long fallback,
                long min, long max, long *value);

//  Reads argument NAME as text of at most MAX_BYTES of valid UTF-8 without
//  control characters. Returns 0 (VALUE NULL when absent), or -1 with
//  RESPONSE answered naming the argument.
int gw_text_arg (gw_request_t *request, gw_response_t *response, const char *name, size_t max_bytes,
                 const char **value);

//  Parses the request body as a JSON object. Returns it (a new reference),
//  or NULL with RESPONSE answered (415 not JSON, 400 malformed, 422 not an
//  object).
json_t *gw_body_object (gw_request_t *request, gw_response_t *response);

//  True when the client wants a web page rather than JSON (a browser
//  following a link from a mail).
bool gw_wants_html (gw_request_t *request);

/* ---- bus (backend.c) ---- */

//  Calls METHOD on the bus with REQUEST (JSON, stolen) from this thread's
//  own connection, waiting at most the gateway's timeout. Returns the
//  reply as JSON (a new reference), or NULL with RESPONSE answered: 503
//  naming the service when it is down or slow, else the service's error.
json_t *gw_call (gateway_t *gateway, const char *method, json_t *request, gw_response_t *response);

/* ---- who is asking (accounts.c) ---- */

//  Fills REQUEST->user from the session cookie or the bearer token.
//  Returns 1 when signed in, 0 when anonymous (or the credential is not
//  valid), -1 with RESPONSE answered when notify could not be asked.
int gw_identify (gateway_t *gateway, gw_request_t *request, gw_response_t *response);

//  Answers 401 unless someone is signed in, and 403 when they are signed
//  in by cookie and the request comes from another site's page (its
//  Origin is not ours). Returns 0 when the request may go on, else -1.
int gw_require_user (gateway_t *gateway, gw_request_t *request, gw_response_t *response);

/* ---- handlers ---- */

//  papers.c
gw_handler_fn gw_papers_list, gw_paper_get, gw_paper_similar, gw_vote_cast, gw_vote_withdraw,
    gw_search;
//  accounts.c
gw_handler_fn gw_subscribe, gw_subscription_confirm, gw_unsubscribe, gw_signin, gw_session_open,
    gw_session_get, gw_session_close, gw_token_create;
//  feeds.c
gw_handler_fn gw_feed_trending, gw_feed_search;
//  site.c
gw_handler_fn gw_site_page, gw_site_static;
//  health.c
gw_handler_fn gw_healthz, gw_metrics_page;

//  Prepares the embedded web files (their ETags). Call once at start.
void gw_site_init (void);

#endif
