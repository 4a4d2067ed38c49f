/*  pb_worker — registration, heartbeats, reconnection, dispatch, drain. */
#include "pb_worker.h"
#include "pb_bus.h"
#include "pb_error.h"
#include "pb_log.h"
#include "pb_proto.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define DRAIN_LIMIT_MS 5000 //  longest a stopping worker waits for the bus's goodbye
#define BURST_MAX      256  //  requests read before the loop polls again

typedef struct {
    char *operation;        //  "search"
    pb_handler_fn *handler; //  what serves it one at a time, or
    pb_batch_fn *batch;     //  what serves it in batches
    void *arg;              //  handler's argument
} route_t;

//  A request held for its route's batch: the ticket and the body.
typedef struct {
    route_t *route;
    zmq_msg_t ticket;
    zmq_msg_t body;
    char method[PB_BUS_METHOD_MAX + 1];
} parked_t;

struct _pb_worker_t {
    pb_config_t *config;          //  settings (not owned)
    char *service;                //  "index"
    zsock_t *socket;              //  DEALER to the bus
    zloop_t *loop;                //  event loop
    zlistx_t *routes;             //  route_t*
    int credit;                   //  requests the bus may send ahead
    int64_t heartbeat_ms;         //  heartbeat interval
    int64_t last_heard;           //  ms of the bus's last message
    bool draining;                //  stopping: waiting for the bus's goodbye
    bool left;                    //  the bus acknowledged our DISCONNECT
    pb_bus_wait_t wait;           //  how long the bus has been silent, for the log
    msgpack_sbuffer reply_buffer; //  where replies are packed, reused across requests
    parked_t *parked;             //  requests waiting for their batch
    size_t parked_count;
};

static void s_send_command (pb_worker_t *self, pb_bus_command_t command, zmsg_t **rest_p)
{
    zmsg_t *message = rest_p && *rest_p ? *rest_p : zmsg_new ();
    if (rest_p)
        *rest_p = NULL;
    zmsg_pushmem (message, &(uint8_t){(uint8_t)command}, 1);
    zmsg_pushstr (message, PB_BUS_WORKER_HEADER);
    zmsg_send (&message, self->socket);
}

void pb_response_error (pb_response_t *response, int code, const char *format, ...)
{
    char message[1024];
    va_list args;
    va_start (args, format);
    vsnprintf (message, sizeof message, format, args);
    va_end (args);
    msgpack_sbuffer_clear (&response->body);
    pb_bus_pack_error (&response->packer, code, message);
    response->status = code;
}

static route_t *s_route (pb_worker_t *self, const char *operation)
{
    for (route_t *route = zlistx_first (self->routes); route; route = zlistx_next (self->routes))
        if (strcmp (route->operation, operation) == 0)
            return route;
    return NULL;
}

//  Sends the reply to TICKET: PBW1, REPLY, ticket, status, body. TICKET is
//  consumed.
static void s_send_reply (pb_worker_t *self, zmq_msg_t *ticket, const pb_response_t *response)
{
    void *socket = zsock_resolve (self->socket);
    uint8_t command = PB_BUS_REPLY;
    char status[16];
    size_t status_length = pb_bus_status_text (response->status, status);
    zmq_send (socket, PB_BUS_WORKER_HEADER, 4, ZMQ_SNDMORE);
    zmq_send (socket, &command, 1, ZMQ_SNDMORE);
    if (zmq_msg_send (ticket, socket, ZMQ_SNDMORE) < 0) {
        //  Left empty, so that the caller's close later is harmless.
        zmq_msg_close (ticket);
        zmq_msg_init (ticket);
    }
    zmq_send (socket, status, status_length, ZMQ_SNDMORE);
    zmq_send (socket, response->body.data, response->body.size, 0);
}

static void s_response_init (pb_response_t *response, msgpack_sbuffer buffer)
{
    memset (response, 0, sizeof *response);
    response->body = buffer;
    msgpack_sbuffer_clear (&response->body);
    msgpack_packer_init (&response->packer, &response->body, msgpack_sbuffer_write);
}

//  Answers every parked request in arrival order: each run of requests for
//  one route is one batch, so that a pipeline of vote, unvote, vote from
//  one client is served in that order.
static void s_flush_batches (pb_worker_t *self)
{
    if (!self->parked_count)
        return;
    pb_request_t *requests = calloc (self->parked_count, sizeof *requests);
    pb_response_t *responses = calloc (self->parked_count, sizeof *responses);
    for (size_t first = 0, end; first < self->parked_count; first = end) {
        route_t *route = self->parked[first].route;
        for (end = first; end < self->parked_count && self->parked[end].route == route; end++) {
            parked_t *parked = &self->parked[end];
            size_t service_length;
            pb_bus_method_split (parked->method, strlen (parked->method), &service_length);
            requests[end - first] =
                (pb_request_t){parked->method, parked->method + service_length + 1,
                               zmq_msg_data (&parked->body), zmq_msg_size (&parked->body)};
            msgpack_sbuffer buffer;
            msgpack_sbuffer_init (&buffer);
            s_response_init (&responses[end - first], buffer);
        }
        route->batch (requests, responses, end - first, route->arg);
        for (size_t i = first; i < end; i++) {
            parked_t *parked = &self->parked[i];
            s_send_reply (self, &parked->ticket, &responses[i - first]);
            msgpack_sbuffer_destroy (&responses[i - first].body);
            zmq_msg_close (&parked->ticket);
            zmq_msg_close (&parked->body);
        }
    }
    self->parked_count = 0;
    free (requests);
    free (responses);
}

//  Serves one REQUEST (parts: PBW1, REQUEST, ticket, method, body): answers
//  it, or holds it for its route's batch.
static void s_serve (pb_worker_t *self, zmq_msg_t *parts, int count)
{
    size_t method_length = count == 5 ? zmq_msg_size (&parts[3]) : 0;
    if (count != 5 || zmq_msg_size (&parts[2]) != 8 || method_length > PB_BUS_METHOD_MAX) {
        pb_warn ("dropped a malformed request from the bus");
        return;
    }
    char method[PB_BUS_METHOD_MAX + 1];
    memcpy (method, zmq_msg_data (&parts[3]), method_length);
    method[method_length] = '\0';
    size_t service_length;
    //  The reply buffer is the worker's, reused: no allocation per request.
    pb_response_t response;
    s_response_init (&response, self->reply_buffer);
    route_t *route = NULL;
    if (pb_bus_method_split (method, method_length, &service_length))
        route = s_route (self, method + service_length + 1);
    if (route && route->batch) {
        if (self->parked_count == BURST_MAX)
            s_flush_batches (self);
        parked_t *parked = &self->parked[self->parked_count++];
        parked->route = route;
        memcpy (parked->method, method, method_length + 1);
        zmq_msg_init (&parked->ticket);
        zmq_msg_init (&parked->body);
        zmq_msg_move (&parked->ticket, &parts[2]);
        zmq_msg_move (&parked->body, &parts[4]);
        return;
    }
    //  Requests that came before this one are answered before it.
    s_flush_batches (self);
    if (!pb_bus_method_split (method, method_length, &service_length))
        pb_response_error (&response, PB_E_INVALID, "'%s' is not a method", method);
    else if (!route)
        pb_response_error (&response, PB_E_UNKNOWN_COMMAND, "%s has no operation '%s'",
                           self->service, method + service_length + 1);
    else {
        pb_request_t request = {method, method + service_length + 1, zmq_msg_data (&parts[4]),
                                zmq_msg_size (&parts[4])};
        if (route->handler (&request, &response, route->arg) != 0 && response.status == PB_OK)
            pb_response_error (&response, PB_E_INTERNAL, "%s failed", method);
    }
    s_send_reply (self, &parts[2], &response);
    self->reply_buffer = response.body;
}

//  Reads one message from the bus into PARTS (at most 8 are kept). Returns
//  the part count, or -1 when nothing was waiting.
static int s_receive (pb_worker_t *self, zmq_msg_t *parts)
{
    void *socket = zsock_resolve (self->socket);
    int count = 0;
    bool more = true;
    while (more) {
        zmq_msg_t *part = &parts[count < 8 ? count : 8];
        zmq_msg_init (part);
        if (zmq_msg_recv (part, socket, count ? 0 : ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (part);
            break;
        }
        more = zmq_msg_more (part);
        if (count < 8)
            count++;
        else
            zmq_msg_close (part);
    }
    return count ? count : -1;
}

static int s_socket_ready (zloop_t *loop, zsock_t *socket, void *arg);

//  Opens a fresh connection and registers; the old socket, if any, goes.
static int s_connect (pb_worker_t *self)
{
    if (self->socket) {
        zloop_reader_end (self->loop, self->socket);
        //  Linger 0: what the old socket still holds (its READY, heartbeats,
        //  replies) must not reach the bus once the link is back, or the bus
        //  would register a worker whose socket is gone and hand it requests
        //  until it expires.
        zsock_set_linger (self->socket, 0);
        zsock_destroy (&self->socket);
    }
    self->socket = pb_bus_socket (self->config, PB_BUS_DEALER,
                                  pb_config_str (self->config, PB_CONF_BUS_REQUESTS));
    if (!self->socket)
        return -1;
    zloop_reader (self->loop, self->socket, s_socket_ready, self);
    zmsg_t *ready = zmsg_new ();
    zmsg_addstr (ready, self->service);
    zmsg_addstrf (ready, "%d", self->credit);
    s_send_command (self, PB_BUS_READY, &ready);
    self->last_heard = zclock_mono ();
    return 0;
}

//  Handles one message from the bus (PARTS, COUNT of them). Returns -1 when
//  the worker should stop.
static int s_bus_message (pb_worker_t *self, zmq_msg_t *parts, int count)
{
    if (count < 2 || zmq_msg_size (&parts[0]) != 4 ||
        memcmp (zmq_msg_data (&parts[0]), PB_BUS_WORKER_HEADER, 4) != 0 ||
        zmq_msg_size (&parts[1]) != 1) {
        pb_warn ("dropped a malformed message from the bus");
        return 0;
    }
    self->last_heard = zclock_mono ();
    if (self->wait.since)
        pb_bus_wait_over (&self->wait, pb_config_str (self->config, PB_CONF_BUS_REQUESTS));
    switch (*(uint8_t *)zmq_msg_data (&parts[1])) {
    case PB_BUS_REQUEST:
        s_serve (self, parts, count);
        return 0;
    case PB_BUS_HEARTBEAT:
        return 0;
    case PB_BUS_DISCONNECT:
        if (self->draining) {
            self->left = true;
            return -1;
        }
        pb_info ("the bus does not know us (it restarted?); registering again");
        s_connect (self);
        return 0;
    default:
        pb_warn ("dropped an unknown command from the bus");
        return 0;
    }
}

//  Reads and handles one waiting message. Returns 1 if one was handled, 0 if
//  none was waiting, -1 when the worker should stop.
static int s_handle_one (pb_worker_t *self)
{
    zmq_msg_t parts[9];
    int count = s_receive (self, parts);
    if (count < 0)
        return 0;
    int rc = s_bus_message (self, parts, count);
    for (int i = 0; i < count; i++)
        zmq_msg_close (&parts[i]);
    return rc < 0 ? -1 : 1;
}

static int s_socket_ready (zloop_t *loop, zsock_t *socket, void *arg)
{
    (void)loop;
    pb_worker_t *self = arg;
    //  A timer may have replaced the socket in this same loop iteration.
    if (socket != self->socket)
        return 0;
    //  Serve every request already queued before polling again; those of
    //  batched operations are answered together at the end.
    for (int burst = 0; burst < BURST_MAX && socket == self->socket; burst++)
        if (s_handle_one (self) <= 0)
            break;
    s_flush_batches (self);
    return 0;
}

static int s_heartbeat (zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    pb_worker_t *self = arg;
    //  After a long handler the bus's heartbeats may be waiting unread:
    //  that is not silence, and the reader will note them next.
    bool waiting = zsock_events (self->socket) & ZMQ_POLLIN;
    if (!waiting && zclock_mono () - self->last_heard > self->heartbeat_ms * PB_BUS_LIVENESS) {
        pb_bus_wait_silent (&self->wait, pb_config_str (self->config, PB_CONF_BUS_REQUESTS),
                            zclock_mono () - self->last_heard);
        s_connect (self);
        return 0;
    }
    s_send_command (self, PB_BUS_HEARTBEAT, NULL);
    return 0;
}

pb_worker_t *pb_worker_new (pb_config_t *config, const char *service)
{
    pb_worker_t *self = calloc (1, sizeof *self);
    self->config = config;
    self->service = strdup (service);
    self->routes = zlistx_new ();
    self->loop = zloop_new ();
    self->credit = (int)pb_config_int (config, PB_CONF_WORKER_CREDIT);
    self->heartbeat_ms = pb_config_int (config, PB_CONF_HEARTBEAT_MS);
    msgpack_sbuffer_init (&self->reply_buffer);
    self->parked = calloc (BURST_MAX, sizeof *self->parked);
    return self;
}

void pb_worker_destroy (pb_worker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pb_worker_t *self = *self_p;
    route_t *route;
    while ((route = zlistx_detach (self->routes, NULL))) {
        free (route->operation);
        free (route);
    }
    zlistx_destroy (&self->routes);
    zloop_destroy (&self->loop);
    zsock_destroy (&self->socket);
    msgpack_sbuffer_destroy (&self->reply_buffer);
    for (size_t i = 0; i < self->parked_count; i++) {
        zmq_msg_close (&self->parked[i].ticket);
        zmq_msg_close (&self->parked[i].body);
    }
    free (self->parked);
    free (self->service);
    free (self);
    *self_p = NULL;
}

void pb_worker_handle (pb_worker_t *self, const char *operation, pb_handler_fn *handler, void *arg)
{
    route_t *route = calloc (1, sizeof *route);
    route->operation = strdup (operation);
    route->handler = handler;
    route->arg = arg;
    zlistx_add_end (self->routes, route);
}

void pb_worker_handle_batch (pb_worker_t *self, const char *operation, pb_batch_fn *handler,
                             void *arg)
{
    route_t *route = calloc (1, sizeof *route);
    route->operation = strdup (operation);
    route->batch = handler;
    route->arg = arg;
    zlistx_add_end (self->routes, route);
}

void pb_worker_set_credit (pb_worker_t *self, int credit)
{
    self->credit = credit;
}

zloop_t *pb_worker_loop (pb_worker_t *self)
{
    return self->loop;
}

//  After SIGTERM: tell the bus we leave, answer what it already sent us, and
//  stop at its goodbye (or after DRAIN_LIMIT_MS if it is gone).
static void s_drain (pb_worker_t *self)
{
    self->draining = true;
    s_send_command (self, PB_BUS_DISCONNECT, NULL);
    int64_t deadline = zclock_mono () + DRAIN_LIMIT_MS;
    while (!self->left && zclock_mono () < deadline) {
        zmq_pollitem_t item = {zsock_resolve (self->socket), 0, ZMQ_POLLIN, 0};
        int ready = zmq_poll (&item, 1, (long)(deadline - zclock_mono ()));
        if (ready < 0 && zmq_errno () != EINTR)
            break;
        if (ready <= 0)
            continue;
        while (s_handle_one (self) > 0)
            ;
        s_flush_batches (self);
    }
}

int pb_worker_run (pb_worker_t *self)
{
    if (s_connect (self))
        return -1;
    pb_info ("serving %s (credit %d)", self->service, self->credit);
    zloop_timer (self->loop, (size_t)self->heartbeat_ms, 0, s_heartbeat, self);
    zloop_start (self->loop);
    s_drain (self);
    pb_info ("left the bus%s", self->left ? "" : " (it did not answer; it may be down)");
    return 0;
}
