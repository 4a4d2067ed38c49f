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

typedef struct {
    char *operation;        //  "search"
    pb_handler_fn *handler; //  what serves it
    void *arg;              //  handler's argument
} route_t;

struct _pb_worker_t {
    pb_config_t *config;  //  settings (not owned)
    char *service;        //  "index"
    zsock_t *socket;      //  DEALER to the bus
    zloop_t *loop;        //  event loop
    zlistx_t *routes;     //  route_t*
    int credit;           //  requests the bus may send ahead
    int64_t heartbeat_ms; //  heartbeat interval
    int64_t last_heard;   //  ms of the bus's last message
    bool draining;        //  stopping: waiting for the bus's goodbye
    bool left;            //  the bus acknowledged our DISCONNECT
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
    pb_error_reply_t error = {0};
    error.code = code;
    error.name = pb_str (pb_error_name (code));
    error.message = pb_str (message);
    pb_encode (&pb_error_reply_schema, &error, &response->packer);
    response->status = code;
}

static route_t *s_route (pb_worker_t *self, const char *operation)
{
    for (route_t *route = zlistx_first (self->routes); route; route = zlistx_next (self->routes))
        if (strcmp (route->operation, operation) == 0)
            return route;
    return NULL;
}

//  Serves one REQUEST [ticket, method, body] and sends the REPLY.
static void s_serve (pb_worker_t *self, zmsg_t *message)
{
    zframe_t *ticket = zmsg_pop (message);
    zframe_t *method_frame = zmsg_pop (message);
    zframe_t *body = zmsg_pop (message);
    if (!ticket || !method_frame || !body || zframe_size (ticket) != 8) {
        pb_warn ("dropped a malformed request from the bus");
        goto done;
    }
    char method[PB_BUS_METHOD_MAX + 1];
    size_t method_length = zframe_size (method_frame);
    size_t service_length;
    if (method_length > PB_BUS_METHOD_MAX) {
        pb_warn ("dropped a request with an overlong method");
        goto done;
    }
    memcpy (method, zframe_data (method_frame), method_length);
    method[method_length] = '\0';

    pb_response_t response = {0};
    msgpack_sbuffer_init (&response.body);
    msgpack_packer_init (&response.packer, &response.body, msgpack_sbuffer_write);
    route_t *route = NULL;
    if (!pb_bus_method_split (method, method_length, &service_length))
        pb_response_error (&response, PB_E_INVALID, "'%s' is not a method", method);
    else if (!(route = s_route (self, method + service_length + 1)))
        pb_response_error (&response, PB_E_UNKNOWN_COMMAND, "%s has no operation '%s'",
                           self->service, method + service_length + 1);
    else {
        pb_request_t request = {method, method + service_length + 1, zframe_data (body),
                                zframe_size (body)};
        if (route->handler (&request, &response, route->arg) != 0 && response.status == PB_OK)
            pb_response_error (&response, PB_E_INTERNAL, "%s failed", method);
    }
    zmsg_t *reply = zmsg_new ();
    zmsg_append (reply, &ticket);
    zmsg_addstrf (reply, "%d", response.status);
    zmsg_addmem (reply, response.body.data, response.body.size);
    msgpack_sbuffer_destroy (&response.body);
    s_send_command (self, PB_BUS_REPLY, &reply);
done:
    zframe_destroy (&ticket);
    zframe_destroy (&method_frame);
    zframe_destroy (&body);
}

static int s_socket_ready (zloop_t *loop, zsock_t *socket, void *arg);

//  Opens a fresh connection and registers; the old socket, if any, goes.
static int s_connect (pb_worker_t *self)
{
    if (self->socket) {
        zloop_reader_end (self->loop, self->socket);
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

//  Handles one message from the bus. Returns -1 when the worker should stop.
static int s_bus_message (pb_worker_t *self, zmsg_t *message)
{
    zframe_t *header = zmsg_pop (message);
    zframe_t *command = zmsg_pop (message);
    int rc = 0;
    if (!header || !command || !zframe_streq (header, PB_BUS_WORKER_HEADER) ||
        zframe_size (command) != 1)
        pb_warn ("dropped a malformed message from the bus");
    else {
        self->last_heard = zclock_mono ();
        switch (zframe_data (command)[0]) {
        case PB_BUS_REQUEST:
            s_serve (self, message);
            break;
        case PB_BUS_HEARTBEAT:
            break;
        case PB_BUS_DISCONNECT:
            if (self->draining) {
                self->left = true;
                rc = -1;
            } else {
                pb_info ("the bus does not know us (it restarted?); registering again");
                s_connect (self);
            }
            break;
        default:
            pb_warn ("dropped an unknown command from the bus");
            break;
        }
    }
    zframe_destroy (&header);
    zframe_destroy (&command);
    return rc;
}

static int s_socket_ready (zloop_t *loop, zsock_t *socket, void *arg)
{
    (void)loop;
    pb_worker_t *self = arg;
    //  A timer may have replaced the socket in this same loop iteration.
    if (socket != self->socket)
        return 0;
    zmsg_t *message = zmsg_recv (socket);
    if (!message)
        return 0;
    s_bus_message (self, message);
    zmsg_destroy (&message);
    return 0;
}

static int s_heartbeat (zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    pb_worker_t *self = arg;
    if (zclock_mono () - self->last_heard > self->heartbeat_ms * PB_BUS_LIVENESS) {
        pb_warn ("the bus has been silent for %lld ms; reconnecting",
                 (long long)(zclock_mono () - self->last_heard));
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
        zmsg_t *message = zmsg_recv (self->socket);
        if (message) {
            s_bus_message (self, message);
            zmsg_destroy (&message);
        }
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
