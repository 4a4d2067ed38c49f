/*  pb_worker — serves one service's operations over the bus.

    A service's main is: pb_worker_new, one pb_worker_handle per operation,
    pb_worker_run (until SIGTERM), pb_worker_destroy. The worker registers
    with the bus, keeps the heartbeat both ways, reconnects and registers
    again when the bus goes away or restarts, and on SIGTERM stops taking
    requests, answers those it already has, and leaves.

    Handlers run one at a time in the worker's thread. The worker lets the bus
    send it up to `credit` requests ahead (PAPERBUS_WORKER_CREDIT), so the
    next request is already waiting when a handler returns.
*/
#ifndef PB_WORKER_H
#define PB_WORKER_H

#include "pb_config.h"

#include <czmq.h>
#include <msgpack.h>

typedef struct _pb_worker_t pb_worker_t;

//  One request, as a handler sees it.
typedef struct {
    const char *method;    //  "index.search"
    const char *operation; //  "search"
    const void *body;      //  msgpack body
    size_t size;           //  body bytes
} pb_request_t;

//  What a handler answers: pack the reply body with packer; or call
//  pb_response_error.
typedef struct {
    int status;            //  0, or the error code set by pb_response_error
    msgpack_sbuffer body;  //  the reply body
    msgpack_packer packer; //  packs into body
} pb_response_t;

//  A handler: returns 0 once RESPONSE holds the reply.
typedef int (pb_handler_fn) (const pb_request_t *request, pb_response_t *response, void *arg);

//  Makes RESPONSE an error reply with CODE and a message (printf-style).
void pb_response_error (pb_response_t *response, int code, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

//  Creates a worker for SERVICE ("index") with settings from CONFIG.
pb_worker_t *pb_worker_new (pb_config_t *config, const char *service);

//  Leaves the bus if still registered; accepts NULL, sets *self_p to NULL.
void pb_worker_destroy (pb_worker_t **self_p);

//  Routes OPERATION ("search" for "index.search") to HANDLER with ARG.
void pb_worker_handle (pb_worker_t *self, const char *operation, pb_handler_fn *handler, void *arg);

//  A batch handler: answers COUNT requests of one operation at once,
//  RESPONSES[i] for REQUESTS[i] (each response as a handler fills it).
typedef void (pb_batch_fn) (const pb_request_t *requests, pb_response_t *responses, size_t count,
                            void *arg);

//  Routes OPERATION to HANDLER in batches: the requests for it that are
//  already waiting when the worker looks (up to the credit) are answered in
//  one call, for work that is cheaper together, such as one commit for many
//  votes. Requests are still served in arrival order: a request for another
//  operation ends the batch before it. Raise the credit so batches can grow.
void pb_worker_handle_batch (pb_worker_t *self, const char *operation, pb_batch_fn *handler,
                             void *arg);

//  Overrides PAPERBUS_WORKER_CREDIT for this worker (call before run).
void pb_worker_set_credit (pb_worker_t *self, int credit);

//  The worker's event loop, for services that also watch other sockets or
//  timers (a subscriber, a scheduler): add them before pb_worker_run.
zloop_t *pb_worker_loop (pb_worker_t *self);

//  Serves until SIGINT or SIGTERM, then drains and leaves. Returns 0.
int pb_worker_run (pb_worker_t *self);

#endif
