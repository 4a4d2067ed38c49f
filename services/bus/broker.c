/*  broker — the paperbus bus: requests routed to named services, events
    forwarded from publishers to subscribers. See proto/PROTOCOL.md.

    Requests: one ROUTER socket serves clients (header PBC1) and workers
    (PBW1), as in Majordomo (ZeroMQ RFC 18, MDP/0.2), with three differences
    documented in PROTOCOL.md: workers announce a credit (how many requests
    they take at once), the bus gives each request a ticket that the worker
    echoes instead of the client's address, and clients tag requests with an
    id so they can pipeline and drop stale replies.

    Events: publishers connect to the XSUB socket, subscribers to the XPUB
    socket. The XSUB socket subscribes to everything itself, so publishers
    never depend on subscriptions travelling upstream; after a bus restart
    they reconnect and carry on (this is what breaks in libzmq issue 4057).
    Subscribers filter at the XPUB socket.

    State is in memory only: after a restart workers re-register (they get a
    DISCONNECT when they speak to a bus that does not know them) and clients
    retry.
*/
#include "broker.h"

#include "paperbus.h"
#include "pb_bus.h"
#include "pb_proto.h"

#include <stdlib.h>
#include <string.h>

#define MAX_FRAMES  8   //  frames in any valid message; more is garbage
#define TICK_MS     50  //  how often queued requests are checked for expiry
#define EVENT_BURST 512 //  events forwarded per wake-up before other sockets get a turn

typedef struct _service_t service_t;
typedef struct _worker_t worker_t;

//  A request from a client, queued at the bus or in flight at a worker.
typedef struct {
    uint64_t ticket;      //  the bus's number for it, echoed by the worker
    zframe_t *client;     //  client routing id
    zframe_t *request_id; //  the client's id for it
    zframe_t *method;     //  "service.operation"
    zframe_t *body;       //  msgpack body
    service_t *service;   //  where it goes
    worker_t *worker;     //  who has it, when in flight
    int64_t deadline;     //  when queued: give up at this time (ms)
} request_t;

struct _worker_t {
    char id[24];        //  hex routing id, the key in broker->workers
    zframe_t *address;  //  routing id
    service_t *service; //  what it serves
    int64_t credit;     //  requests it accepts at once
    int64_t in_flight;  //  requests given and not yet answered
    int64_t served;     //  replies received from it
    int64_t last_heard; //  ms of its last message
    int64_t last_given; //  dispatch counter when it last got a request (LRU)
    bool draining;      //  it said DISCONNECT: no new requests
};

struct _service_t {
    char name[PB_BUS_SERVICE_MAX + 1]; //  "index", "rank", ...
    zlistx_t *workers;                 //  worker_t*, live ones
    zlistx_t *queue;                   //  request_t*, waiting for a worker
    int64_t requests;                  //  requests received
    int64_t errors;                    //  error replies
    int64_t expired_workers;           //  workers dropped for silence
};

struct _broker_t {
    pb_config_t *config;        //  settings (not owned)
    zsock_t *router;            //  requests and replies
    zsock_t *xsub;              //  events in
    zsock_t *xpub;              //  events out
    zhashx_t *services;         //  name -> service_t
    zhashx_t *workers;          //  hex routing id -> worker_t
    zhashx_t *tickets;          //  ticket (as key) -> request_t in flight
    uint64_t next_ticket;       //  ticket of the next request
    int64_t dispatches;         //  requests given to workers, for LRU order
    int64_t heartbeat_ms;       //  heartbeat interval
    int64_t wait_ms;            //  how long a request may wait for a worker
    int64_t started;            //  ms at creation
    int64_t last_heartbeat;     //  ms of the last heartbeat round
    pb_bus_counters_t counters; //  whole-bus counters, sent as they are by bus.status
};

/* ==== Tickets as hash keys ==== */

static size_t s_ticket_hash (const void *key)
{
    return (size_t)(uintptr_t)key * 0x9E3779B97F4A7C15ULL;
}

static int s_ticket_compare (const void *a, const void *b)
{
    return (uintptr_t)a < (uintptr_t)b ? -1 : (uintptr_t)a > (uintptr_t)b;
}

static void *s_ticket_duplicate (const void *key)
{
    return (void *)key;
}

static void s_ticket_destroy (void **key)
{
    *key = NULL;
}

static void *s_ticket_key (uint64_t ticket)
{
    return (void *)(uintptr_t)ticket;
}

/* ==== Requests ==== */

static void s_request_destroy (request_t **self_p)
{
    if (!*self_p)
        return;
    request_t *self = *self_p;
    zframe_destroy (&self->client);
    zframe_destroy (&self->request_id);
    zframe_destroy (&self->method);
    zframe_destroy (&self->body);
    free (self);
    *self_p = NULL;
}

//  Sends a reply to CLIENT for REQUEST_ID with STATUS and BODY (taken).
static void s_reply (broker_t *self, zframe_t *client, zframe_t *request_id, int status,
                     zframe_t **body_p)
{
    zmsg_t *reply = zmsg_new ();
    zmsg_append (reply, &(zframe_t *){zframe_dup (client)});
    zmsg_addstr (reply, PB_BUS_CLIENT_HEADER);
    zmsg_append (reply, &(zframe_t *){zframe_dup (request_id)});
    zmsg_addstrf (reply, "%d", status);
    zmsg_append (reply, body_p);
    zmsg_send (&reply, self->router);
    self->counters.replies++;
    if (status != PB_OK)
        self->counters.errors++;
}

//  Answers a request with an error reply: the error_reply message.
static void s_reply_error (broker_t *self, zframe_t *client, zframe_t *request_id,
                           service_t *service, int code, const char *format, ...)
    __attribute__ ((format (printf, 6, 7)));

static void s_reply_error (broker_t *self, zframe_t *client, zframe_t *request_id,
                           service_t *service, int code, const char *format, ...)
{
    char message[512];
    va_list args;
    va_start (args, format);
    vsnprintf (message, sizeof message, format, args);
    va_end (args);
    pb_error_reply_t error = {0};
    error.code = code;
    error.name = pb_str (pb_error_name (code));
    error.message = pb_str (message);
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &buffer, msgpack_sbuffer_write);
    pb_encode (&pb_error_reply_schema, &error, &packer);
    zframe_t *body = zframe_new (buffer.data, buffer.size);
    msgpack_sbuffer_destroy (&buffer);
    if (service)
        service->errors++;
    s_reply (self, client, request_id, code, &body);
}

/* ==== Services and workers ==== */

static service_t *s_service_require (broker_t *self, const char *name, size_t length)
{
    char key[PB_BUS_SERVICE_MAX + 1];
    memcpy (key, name, length);
    key[length] = '\0';
    service_t *service = zhashx_lookup (self->services, key);
    if (service)
        return service;
    service = calloc (1, sizeof *service);
    memcpy (service->name, key, length + 1);
    service->workers = zlistx_new ();
    service->queue = zlistx_new ();
    zhashx_insert (self->services, key, service);
    return service;
}

static void s_service_free (void **item)
{
    service_t *service = *item;
    if (!service)
        return;
    zlistx_destroy (&service->workers);
    request_t *request;
    while ((request = zlistx_detach (service->queue, NULL)))
        s_request_destroy (&request);
    zlistx_destroy (&service->queue);
    free (service);
    *item = NULL;
}

static void s_worker_send (broker_t *self, worker_t *worker, pb_bus_command_t command,
                           zmsg_t **rest_p)
{
    zmsg_t *message = rest_p && *rest_p ? *rest_p : zmsg_new ();
    if (rest_p)
        *rest_p = NULL;
    zmsg_pushmem (message, &(uint8_t){(uint8_t)command}, 1);
    zmsg_pushstr (message, PB_BUS_WORKER_HEADER);
    zmsg_push (message, zframe_dup (worker->address));
    zmsg_send (&message, self->router);
}

//  Picks the live worker with spare credit and the fewest requests in
//  flight, the least recently given one among equals; NULL if none.
static worker_t *s_pick_worker (service_t *service)
{
    worker_t *best = NULL;
    for (worker_t *worker = zlistx_first (service->workers); worker;
         worker = zlistx_next (service->workers)) {
        if (worker->draining || worker->in_flight >= worker->credit)
            continue;
        if (!best || worker->in_flight < best->in_flight ||
            (worker->in_flight == best->in_flight && worker->last_given < best->last_given))
            best = worker;
    }
    return best;
}

static void s_give (broker_t *self, worker_t *worker, request_t *request)
{
    request->worker = worker;
    worker->in_flight++;
    worker->last_given = ++self->dispatches;
    zhashx_insert (self->tickets, s_ticket_key (request->ticket), request);
    zmsg_t *message = zmsg_new ();
    uint8_t ticket[8];
    for (int i = 7, shift = 0; i >= 0; i--, shift += 8)
        ticket[i] = (uint8_t)(request->ticket >> shift);
    zmsg_addmem (message, ticket, 8);
    zmsg_append (message, &(zframe_t *){zframe_dup (request->method)});
    zmsg_append (message, &(zframe_t *){zframe_dup (request->body)});
    s_worker_send (self, worker, PB_BUS_REQUEST, &message);
}

//  Gives queued requests of SERVICE to workers while any has spare credit.
static void s_dispatch (broker_t *self, service_t *service)
{
    request_t *request;
    worker_t *worker;
    while ((request = zlistx_first (service->queue)) && (worker = s_pick_worker (service))) {
        zlistx_detach (service->queue, NULL);
        s_give (self, worker, request);
    }
}

//  Removes WORKER; every request it held gets a worker_died error reply.
static void s_worker_remove (broker_t *self, worker_t *worker, const char *why)
{
    service_t *service = worker->service;
    if (worker->in_flight) {
        //  Requests in flight are found through the tickets they hold.
        zlistx_t *lost = zlistx_new ();
        for (request_t *request = zhashx_first (self->tickets); request;
             request = zhashx_next (self->tickets))
            if (request->worker == worker)
                zlistx_add_end (lost, request);
        for (request_t *request = zlistx_first (lost); request; request = zlistx_next (lost)) {
            zhashx_delete (self->tickets, s_ticket_key (request->ticket));
            s_reply_error (self, request->client, request->request_id, service, PB_E_WORKER_DIED,
                           "the %s worker handling this request %s", service->name, why);
            s_request_destroy (&request);
        }
        zlistx_destroy (&lost);
    }
    void *handle = zlistx_find (service->workers, worker);
    if (handle)
        zlistx_delete (service->workers, handle);
    pb_info ("worker %s of %s removed: %s", worker->id, service->name, why);
    zhashx_delete (self->workers, worker->id);
}

static void s_worker_free (void **item)
{
    worker_t *worker = *item;
    if (!worker)
        return;
    zframe_destroy (&worker->address);
    free (worker);
    *item = NULL;
}

/* ==== Messages from clients ==== */

static void s_handle_status (broker_t *self, request_t *request);

static void s_client_message (broker_t *self, zframe_t *address, zframe_t **frames, int count)
{
    //  [header] method request_id body
    if (count != 4) {
        if (count >= 3)
            s_reply_error (self, address, frames[2], NULL, PB_E_MALFORMED,
                           "a request has 4 frames (header, method, request id, body), not %d",
                           count);
        else
            self->counters.dropped_frames++;
        return;
    }
    self->counters.requests++;
    const char *method = (const char *)zframe_data (frames[1]);
    size_t method_length = zframe_size (frames[1]);
    size_t service_length;
    if (zframe_size (frames[2]) > 64) {
        self->counters.dropped_frames++;
        return;
    }
    if (!pb_bus_method_split (method, method_length, &service_length)) {
        s_reply_error (self, address, frames[2], NULL, PB_E_INVALID,
                       "'%.*s' is not a method: want service.operation, service of [a-z0-9_-]",
                       (int)(method_length > 64 ? 64 : method_length), method);
        return;
    }
    service_t *service = s_service_require (self, method, service_length);
    service->requests++;
    request_t *request = calloc (1, sizeof *request);
    request->ticket = ++self->next_ticket;
    request->client = zframe_dup (address);
    request->request_id = frames[2];
    request->method = frames[1];
    request->body = frames[3];
    frames[1] = frames[2] = frames[3] = NULL;
    request->service = service;
    if (strcmp (service->name, "bus") == 0) {
        s_handle_status (self, request);
        s_request_destroy (&request);
        return;
    }
    request->deadline = zclock_mono () + self->wait_ms;
    zlistx_add_end (service->queue, request);
    s_dispatch (self, service);
}

/* ==== Messages from workers ==== */

static worker_t *s_worker_lookup (broker_t *self, zframe_t *address)
{
    char *hex = zframe_strhex (address);
    worker_t *worker = zhashx_lookup (self->workers, hex);
    free (hex);
    return worker;
}

static int64_t s_frame_int (zframe_t *frame, int64_t fallback)
{
    char text[24];
    size_t size = zframe_size (frame);
    if (size == 0 || size >= sizeof text)
        return fallback;
    memcpy (text, zframe_data (frame), size);
    text[size] = '\0';
    char *end;
    long long value = strtoll (text, &end, 10);
    return *end ? fallback : value;
}

static void s_worker_ready (broker_t *self, zframe_t *address, zframe_t **frames, int count)
{
    //  [header] [command] service credit
    const char *name = count == 4 ? (const char *)zframe_data (frames[2]) : NULL;
    int64_t credit = count == 4 ? s_frame_int (frames[3], -1) : -1;
    if (!name || !pb_bus_service_valid (name, zframe_size (frames[2])) || credit < 1 ||
        credit > 100000 || strncmp (name, "bus", zframe_size (frames[2])) == 0) {
        self->counters.dropped_frames++;
        return;
    }
    worker_t *existing = s_worker_lookup (self, address);
    if (existing)
        s_worker_remove (self, existing, "registered again");
    worker_t *worker = calloc (1, sizeof *worker);
    char *hex = zframe_strhex (address);
    snprintf (worker->id, sizeof worker->id, "%s", hex);
    free (hex);
    worker->address = zframe_dup (address);
    worker->service = s_service_require (self, name, zframe_size (frames[2]));
    worker->credit = credit;
    worker->last_heard = zclock_mono ();
    zhashx_insert (self->workers, worker->id, worker);
    zlistx_add_end (worker->service->workers, worker);
    pb_info ("worker %s ready for %s (credit %lld)", worker->id, worker->service->name,
             (long long)credit);
    s_dispatch (self, worker->service);
}

static void s_worker_reply (broker_t *self, worker_t *worker, zframe_t **frames, int count)
{
    //  [header] [command] ticket status body
    if (count != 5 || zframe_size (frames[2]) != 8) {
        self->counters.dropped_frames++;
        return;
    }
    uint64_t ticket = 0;
    for (int i = 0; i < 8; i++)
        ticket = (ticket << 8) | zframe_data (frames[2])[i];
    request_t *request = zhashx_lookup (self->tickets, s_ticket_key (ticket));
    if (!request || request->worker != worker) {
        self->counters.dropped_frames++;
        return;
    }
    zhashx_delete (self->tickets, s_ticket_key (ticket));
    int64_t status = s_frame_int (frames[3], PB_E_INTERNAL);
    if (status != PB_OK)
        worker->service->errors++;
    s_reply (self, request->client, request->request_id, (int)status, &frames[4]);
    s_request_destroy (&request);
    worker->in_flight--;
    worker->served++;
    if (worker->draining && worker->in_flight == 0) {
        //  The last answer of a departing worker: acknowledge, then forget it.
        s_worker_send (self, worker, PB_BUS_DISCONNECT, NULL);
        s_worker_remove (self, worker, "left");
        return;
    }
    s_dispatch (self, worker->service);
}

static void s_worker_message (broker_t *self, zframe_t *address, zframe_t **frames, int count)
{
    if (count < 2 || zframe_size (frames[1]) != 1) {
        self->counters.dropped_frames++;
        return;
    }
    int command = zframe_data (frames[1])[0];
    if (command == PB_BUS_READY) {
        s_worker_ready (self, address, frames, count);
        return;
    }
    worker_t *worker = s_worker_lookup (self, address);
    if (!worker) {
        //  A worker this bus does not know (it restarted, or expired the
        //  worker): tell it to register again.
        if (command != PB_BUS_DISCONNECT) {
            zmsg_t *message = zmsg_new ();
            zmsg_append (message, &(zframe_t *){zframe_dup (address)});
            zmsg_addstr (message, PB_BUS_WORKER_HEADER);
            zmsg_addmem (message, &(uint8_t){PB_BUS_DISCONNECT}, 1);
            zmsg_send (&message, self->router);
        }
        self->counters.dropped_frames += command == PB_BUS_REPLY;
        return;
    }
    worker->last_heard = zclock_mono ();
    switch (command) {
    case PB_BUS_REPLY:
        s_worker_reply (self, worker, frames, count);
        break;
    case PB_BUS_HEARTBEAT:
        break;
    case PB_BUS_DISCONNECT:
        if (worker->in_flight == 0) {
            s_worker_send (self, worker, PB_BUS_DISCONNECT, NULL);
            s_worker_remove (self, worker, "left");
        } else
            worker->draining = true;
        break;
    default:
        self->counters.dropped_frames++;
        break;
    }
}

/* ==== Socket handlers ==== */

//  Reads one message of at most MAX_FRAMES frames; the rest of a longer
//  message is read and dropped. Returns the frame count, or -1 if too long.
static int s_receive (zsock_t *socket, zframe_t **frames)
{
    int count = 0;
    bool too_long = false;
    do {
        zframe_t *frame = zframe_recv (socket);
        if (!frame)
            break;
        if (count < MAX_FRAMES)
            frames[count++] = frame;
        else {
            zframe_destroy (&frame);
            too_long = true;
        }
    } while (zsock_rcvmore (socket));
    return too_long ? -1 : count;
}

static int s_router_ready (zloop_t *loop, zsock_t *router, void *arg)
{
    (void)loop;
    broker_t *self = arg;
    zframe_t *frames[MAX_FRAMES + 1] = {0};
    int count = s_receive (router, frames);
    if (count < 2) {
        self->counters.dropped_frames++;
    } else {
        //  frames[0] is the sender's routing id; then the protocol header.
        zframe_t *address = frames[0];
        if (zframe_streq (frames[1], PB_BUS_CLIENT_HEADER))
            s_client_message (self, address, frames + 1, count - 1);
        else if (zframe_streq (frames[1], PB_BUS_WORKER_HEADER))
            s_worker_message (self, address, frames + 1, count - 1);
        else if (zframe_size (frames[1]) == 4 && memcmp (zframe_data (frames[1]), "PBC", 3) == 0 &&
                 count >= 4)
            //  A client of another protocol version: say so rather than drop.
            s_reply_error (self, address, frames[3], NULL, PB_E_UNSUPPORTED_VERSION,
                           "this bus speaks %s, not %.4s", PB_BUS_CLIENT_HEADER,
                           (const char *)zframe_data (frames[1]));
        else
            self->counters.dropped_frames++;
    }
    for (int i = 0; i < MAX_FRAMES; i++)
        zframe_destroy (&frames[i]);
    return 0;
}

static int s_xsub_ready (zloop_t *loop, zsock_t *xsub, void *arg)
{
    (void)loop;
    broker_t *self = arg;
    void *in = zsock_resolve (xsub);
    void *out = zsock_resolve (self->xpub);
    //  Forward a burst without going back to the loop: events come in floods.
    for (int burst = 0; burst < EVENT_BURST; burst++) {
        zmq_msg_t message;
        zmq_msg_init (&message);
        if (zmq_msg_recv (&message, in, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&message);
            break;
        }
        bool more = zmq_msg_more (&message);
        char topic[PB_EVENT_TOPIC_MAX + 1];
        int64_t seq;
        const void *body;
        size_t body_size;
        if (more || pb_bus_event_parse (zmq_msg_data (&message), zmq_msg_size (&message), topic,
                                        &seq, &body, &body_size)) {
            //  Malformed, or a multi-frame message: drop it and its parts.
            self->counters.dropped_events++;
            zmq_msg_close (&message);
            while (more) {
                zmq_msg_init (&message);
                if (zmq_msg_recv (&message, in, ZMQ_DONTWAIT) < 0)
                    more = false;
                else
                    more = zmq_msg_more (&message);
                zmq_msg_close (&message);
            }
            continue;
        }
        self->counters.events++;
        if (zmq_msg_send (&message, out, ZMQ_DONTWAIT) < 0)
            zmq_msg_close (&message);
    }
    return 0;
}

static int s_xpub_ready (zloop_t *loop, zsock_t *xpub, void *arg)
{
    (void)loop;
    (void)arg;
    //  Subscriptions need not travel upstream (XSUB takes everything); read
    //  them so they do not pile up.
    zframe_t *frame = zframe_recv (xpub);
    zframe_destroy (&frame);
    return 0;
}

/* ==== Timers ==== */

static void s_publish_heartbeat (broker_t *self)
{
    //  msgpack {} : subscribers use these to notice a bus that went away.
    zframe_t *frame = pb_bus_event_frame (PB_BUS_HEARTBEAT_TOPIC, 0, "\x80", 1);
    zframe_send (&frame, self->xpub, ZFRAME_DONTWAIT);
}

static int s_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    broker_t *self = arg;
    int64_t now = zclock_mono ();
    //  Requests that waited too long for a worker.
    for (service_t *service = zhashx_first (self->services); service;
         service = zhashx_next (self->services)) {
        request_t *request;
        while ((request = zlistx_first (service->queue)) && request->deadline <= now) {
            zlistx_detach (service->queue, NULL);
            if (zlistx_size (service->workers) == 0)
                s_reply_error (self, request->client, request->request_id, service, PB_E_NO_WORKER,
                               "no live worker for service '%s' within %lld ms", service->name,
                               (long long)self->wait_ms);
            else
                s_reply_error (self, request->client, request->request_id, service, PB_E_TIMEOUT,
                               "every %s worker stayed busy for %lld ms; try again later",
                               service->name, (long long)self->wait_ms);
            s_request_destroy (&request);
        }
    }
    if (now - self->last_heartbeat < self->heartbeat_ms)
        return 0;
    self->last_heartbeat = now;
    //  Heartbeat every worker; forget those silent for too long.
    zlistx_t *expired = zlistx_new ();
    for (worker_t *worker = zhashx_first (self->workers); worker;
         worker = zhashx_next (self->workers)) {
        if (now - worker->last_heard > self->heartbeat_ms * PB_BUS_LIVENESS)
            zlistx_add_end (expired, worker);
        else
            s_worker_send (self, worker, PB_BUS_HEARTBEAT, NULL);
    }
    for (worker_t *worker = zlistx_first (expired); worker; worker = zlistx_next (expired)) {
        worker->service->expired_workers++;
        self->counters.expired_workers++;
        s_worker_remove (self, worker, "went silent (missed heartbeats)");
    }
    zlistx_destroy (&expired);
    s_publish_heartbeat (self);
    return 0;
}

/* ==== The status service ==== */

static void s_handle_status (broker_t *self, request_t *request)
{
    const char *method = (const char *)zframe_data (request->method);
    if (zframe_size (request->method) != strlen ("bus.status") ||
        memcmp (method, "bus.status", strlen ("bus.status")) != 0) {
        s_reply_error (self, request->client, request->request_id, request->service,
                       PB_E_UNKNOWN_COMMAND, "the bus serves only bus.status, not '%.*s'",
                       (int)zframe_size (request->method), method);
        return;
    }
    pb_status_request_t query;
    pb_codec_error_t error;
    pb_arena_t *arena = pb_arena_new ();
    if (pb_decode (zframe_data (request->body), zframe_size (request->body),
                   (size_t)pb_config_int (self->config, PB_CONF_MAX_FRAME),
                   &pb_status_request_schema, &query, arena, &error)) {
        s_reply_error (self, request->client, request->request_id, request->service, error.code,
                       "bus.status: %s", error.message);
        pb_arena_destroy (&arena);
        return;
    }
    int64_t now = zclock_mono ();
    size_t service_count = zhashx_size (self->services);
    pb_service_status_t *services = pb_arena_alloc (arena, (service_count + 1) * sizeof *services);
    size_t index = 0;
    for (service_t *service = zhashx_first (self->services); service;
         service = zhashx_next (self->services), index++) {
        pb_service_status_t *status = &services[index];
        status->name = pb_str (service->name);
        status->live_workers = (int64_t)zlistx_size (service->workers);
        status->queued = (int64_t)zlistx_size (service->queue);
        status->requests = service->requests;
        status->errors = service->errors;
        status->expired_workers = service->expired_workers;
        if (query.workers)
            pb_set_present (status, PB_service_status_workers);
        size_t worker_count = zlistx_size (service->workers);
        pb_worker_status_t *workers = pb_arena_alloc (arena, (worker_count + 1) * sizeof *workers);
        size_t w = 0;
        for (worker_t *worker = zlistx_first (service->workers); worker;
             worker = zlistx_next (service->workers), w++) {
            workers[w].id = pb_str (worker->id);
            workers[w].credit = worker->credit;
            workers[w].in_flight = worker->in_flight;
            workers[w].served = worker->served;
            workers[w].silent_ms = now - worker->last_heard;
            status->in_flight += worker->in_flight;
        }
        status->workers.items = workers;
        status->workers.count = (uint32_t)worker_count;
    }
    pb_status_reply_t reply = {0};
    reply.services.items = services;
    reply.services.count = (uint32_t)service_count;
    reply.counters = self->counters;
    reply.counters.uptime_ms = now - self->started;
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &buffer, msgpack_sbuffer_write);
    pb_encode (&pb_status_reply_schema, &reply, &packer);
    zframe_t *body = zframe_new (buffer.data, buffer.size);
    msgpack_sbuffer_destroy (&buffer);
    s_reply (self, request->client, request->request_id, PB_OK, &body);
    pb_arena_destroy (&arena);
}

/* ==== Life ==== */

broker_t *broker_new (pb_config_t *config)
{
    broker_t *self = calloc (1, sizeof *self);
    self->config = config;
    self->heartbeat_ms = pb_config_int (config, PB_CONF_HEARTBEAT_MS);
    self->wait_ms = pb_config_int (config, PB_CONF_BUS_WAIT_MS);
    self->started = zclock_mono ();
    self->router =
        pb_bus_socket (config, PB_BUS_ROUTER, pb_config_str (config, PB_CONF_BUS_REQUESTS));
    self->xsub = pb_bus_socket (config, PB_BUS_XSUB, pb_config_str (config, PB_CONF_BUS_EVENTS_IN));
    self->xpub =
        pb_bus_socket (config, PB_BUS_XPUB, pb_config_str (config, PB_CONF_BUS_EVENTS_OUT));
    if (!self->router || !self->xsub || !self->xpub) {
        broker_destroy (&self);
        return NULL;
    }
    //  Subscribe to every event on behalf of all subscribers.
    zframe_t *all = zframe_new ("\x01", 1);
    zframe_send (&all, self->xsub, 0);
    self->services = zhashx_new ();
    zhashx_set_destructor (self->services, s_service_free);
    self->workers = zhashx_new ();
    zhashx_set_destructor (self->workers, s_worker_free);
    self->tickets = zhashx_new ();
    zhashx_set_key_hasher (self->tickets, s_ticket_hash);
    zhashx_set_key_comparator (self->tickets, s_ticket_compare);
    zhashx_set_key_duplicator (self->tickets, s_ticket_duplicate);
    zhashx_set_key_destructor (self->tickets, s_ticket_destroy);
    return self;
}

void broker_destroy (broker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_t *self = *self_p;
    if (self->tickets) {
        for (request_t *request = zhashx_first (self->tickets); request;
             request = zhashx_next (self->tickets))
            s_request_destroy (&request);
        zhashx_destroy (&self->tickets);
    }
    zhashx_destroy (&self->workers);
    zhashx_destroy (&self->services);
    zsock_destroy (&self->router);
    zsock_destroy (&self->xsub);
    zsock_destroy (&self->xpub);
    free (self);
    *self_p = NULL;
}

int broker_run (broker_t *self)
{
    zloop_t *loop = zloop_new ();
    zloop_reader (loop, self->router, s_router_ready, self);
    zloop_reader (loop, self->xsub, s_xsub_ready, self);
    zloop_reader (loop, self->xpub, s_xpub_ready, self);
    zloop_timer (loop, TICK_MS, 0, s_tick, self);
    //  zloop returns when SIGINT/SIGTERM arrives (zsys_interrupted).
    zloop_start (loop);
    zloop_destroy (&loop);
    return 0;
}
