/*  pb_client — calls paperbus services over the bus.

    pb_client_call is the simple way: one request, one reply, with a
    deadline, and with retries (Lazy Pirate: on a timeout the socket is
    closed, a new one opened and the request sent again) for idempotent
    operations, which every paperbus write is. pb_client_send and
    pb_client_recv pipeline many requests over one connection; each reply
    carries its request's id.

    A reply's status is 0 for success; anything else is a pb_error_t code and
    the body is an error_reply message, summarised in reply->error.
*/
#ifndef PB_CLIENT_H
#define PB_CLIENT_H

#include "pb_config.h"

#include <czmq.h>
#include <stdint.h>

typedef struct _pb_client_t pb_client_t;

//  One reply. Reset it with pb_reply_reset before reuse or when done.
typedef struct {
    uint64_t request_id; //  the id pb_client_send returned
    int status;          //  0, or an error code
    zframe_t *body;      //  msgpack body (owned)
    char error[512];     //  "code name: message" when status != 0
} pb_reply_t;

//  Connects to the bus's request endpoint from CONFIG.
pb_client_t *pb_client_new (pb_config_t *config);

//  Disconnects; accepts NULL and sets *self_p to NULL.
void pb_client_destroy (pb_client_t **self_p);

//  Disconnects at once: requests not yet sent to the bus are dropped, not
//  delivered when it comes back (after a call gave up on them). Accepts NULL.
void pb_client_abandon (pb_client_t **self_p);

//  Sends METHOD ("index.search") with BODY (msgpack). Returns the request's
//  id (> 0), or 0 if it could not be sent.
uint64_t pb_client_send (pb_client_t *self, const char *method, const void *body, size_t size);

//  Waits up to TIMEOUT_MS for the next reply. Returns 0 with REPLY filled, or
//  -1 on timeout or interruption.
int pb_client_recv (pb_client_t *self, int timeout_ms, pb_reply_t *reply);

//  Sends METHOD with BODY and waits for its reply for up to TIMEOUT_MS;
//  when none comes, reconnects and sends again, up to RETRIES more times.
//  Returns 0 with REPLY filled (its status may be an error from the bus or
//  the service), or -1 when no reply came at all (REPLY->error says so).
int pb_client_call (pb_client_t *self, const char *method, const void *body, size_t size,
                    int timeout_ms, int retries, pb_reply_t *reply);

//  Frees the body of REPLY and clears it.
void pb_reply_reset (pb_reply_t *reply);

#endif
