/*  pb_http — fetching a URL politely, with libcurl.

    One handle keeps one connection open (arXiv asks for one connection at a
    time), sends paperbus's User-Agent, follows redirects, caps the size of
    what it accepts, and retries temporary failures (timeouts, 429, 5xx) with
    exponential backoff, honouring Retry-After.
*/
#ifndef PB_HTTP_H
#define PB_HTTP_H

#include "pb_config.h"

#include <stddef.h>

#define PB_HTTP_MAX_BODY (256u << 20) //  the largest response accepted

typedef struct _pb_http_t pb_http_t;

//  One response; the body is NUL-terminated and owned by the caller.
typedef struct {
    long status;  //  HTTP status of the last attempt
    char *body;   //  its body (free it)
    size_t size;  //  body bytes
    int attempts; //  how many requests it took
} pb_http_response_t;

//  A handle with settings (user agent, timeout) from CONFIG.
pb_http_t *pb_http_new (pb_config_t *config);

//  Closes the connection; accepts NULL and sets *self_p to NULL.
void pb_http_destroy (pb_http_t **self_p);

//  GETs URL. Returns 0 with RESPONSE filled when a response came (whatever
//  its status, after retries of temporary failures), or -1 with ERROR saying
//  why none did.
int pb_http_get (pb_http_t *self, const char *url, pb_http_response_t *response, char *error,
                 size_t error_size);

#endif
