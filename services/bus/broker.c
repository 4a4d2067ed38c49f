/*  broker — the paperbus bus: requests routed to named services, events
    forwarded from publishers to subscribers. See proto/PROTOCOL.md.

    Requests: one ROUTER socket serves clients (header PBC1) and workers
    (PBW1), as in Majordomo (ZeroMQ RFC 18, MDP/0.2), with the differences
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

    The request path is the hot one, so it works on zmq_msg_t directly:
    frames are moved from the message that brought them to the message that
    takes them on, never copied, and requests live in a slab indexed by their
    ticket, so routing a request allocates nothing but its slot's first use.
*/
#include "broker.h"

#include "paperbus.h"
#include "pb_bus.h"
#include "pb_proto.h"

#include <stdlib.h>
#include <string.h>

#define MAX_FRAMES    8     //  frames in any valid message; more is garbage
#define TICK_MS       50    //  how often queued requests are checked for expiry
#define EVENT_BURST   512   //  events forwarded per wake-up before other sockets get a turn
#define REQUEST_BURST 256   //  request-socket messages handled per wake-up
#define SLAB_CHUNK    1024  //  request slots allocated at a time
#define ADDRESS_MAX   255   //  bytes of a ZeroMQ routing id
#define MAX_SERVICES  10000 //  services the bus keeps track of at once

typedef struct _service_t service_t;
typedef struct _worker_t worker_t;

//  A request from a client, queued at the bus or in flight at a worker. It
//  lives in a slot of the slab; its ticket is the slot number and the slot's
//  generation, so a stale ticket never finds a newer request.
typedef struct {
    zmq_msg_t client;     //  client routing id
    zmq_msg_t request_id; //  the client's id for it
    zmq_msg_t method;     //  "service.operation"
    zmq_msg_t body;       //  msgpack body
    service_t *service;   //  where it goes
    worker_t *worker;     //  who has it, when in flight
    int64_t deadline;     //  queued: give up waiting for a worker at this time (ms);
                          //  in flight: answer timeout at this time
    uint32_t generation;  //  bumped each time the slot is reused
    uint32_t next_free;   //  free list link while the slot is unused
    bool used;            //  holds a request
} request_t;

struct _worker_t {
    char id[2 * ADDRESS_MAX + 1]; //  hex routing id, the key in broker->workers
    uint8_t address[ADDRESS_MAX]; //  routing id
    size_t address_size;          //  its length
    service_t *service;           //  what it serves
    int64_t credit;               //  requests it accepts at once
    int64_t in_flight;            //  requests given and not yet answered
    int64_t served;               //  replies received from it
    int64_t last_heard;           //  ms of its last message
    int64_t last_given;           //  dispatch counter when it last got a request (LRU)
    bool draining;                //  it said DISCONNECT: no new requests
};

struct _service_t {
    char name[PB_BUS_SERVICE_MAX + 1]; //  "index", "rank", ...
    zlistx_t *workers;                 //  worker_t*, live ones
    uint32_t *queue;                   //  slots of requests waiting, a ring
    size_t queue_head;                 //  index of the oldest waiting
    size_t queue_size;                 //  how many wait
    size_t queue_capacity;             //  ring size (a power of two)
    bool ever_had_worker;              //  a worker registered since the bus started
    int64_t requests;                  //  requests received
    int64_t errors;                    //  error replies
    int64_t expired_workers;           //  workers dropped for silence
};

struct _broker_t {
    pb_config_t *config;        //  settings (not owned)
    zsock_t *router;            //  requests and replies
    void *router_handle;        //  its libzmq socket
    zsock_t *xsub;              //  events in
    zsock_t *xpub;              //  events out
    zhashx_t *services;         //  name -> service_t
    zhashx_t *workers;          //  hex routing id -> worker_t
    request_t **slab;           //  chunks of SLAB_CHUNK request slots
    size_t slab_chunks;         //  chunks allocated
    uint32_t free_slot;         //  first unused slot, UINT32_MAX if none
    int64_t dispatches;         //  requests given to workers, for LRU order
    int64_t heartbeat_ms;       //  heartbeat interval
    int64_t wait_ms;            //  how long a request may wait for a worker
    int64_t work_ms;            //  how long a worker may hold a request
    int64_t started;            //  ms at creation
    int64_t last_heartbeat;     //  ms of the last heartbeat round
    pb_bus_counters_t counters; //  whole-bus counters, sent as they are by bus.status
};

/* ==== Frames ==== */

//  Sends MESSAGE (moved; closed if the send fails) as one part.
static void s_send_msg (broker_t *self, zmq_msg_t *message, bool more)
{
    if (zmq_msg_send (message, self->router_handle, more ? ZMQ_SNDMORE : 0) < 0) {
        //  Left empty, so that the owner's own close later is harmless.
        zmq_msg_close (message);
        zmq_msg_init (message);
    }
}

static void s_send_bytes (broker_t *self, const void *data, size_t size, bool more)
{
    zmq_send (self->router_handle, data, size, more ? ZMQ_SNDMORE : 0);
}

static bool s_msg_equals (zmq_msg_t *message, const char *text)
{
    size_t length = strlen (text);
    return zmq_msg_size (message) == length && memcmp (zmq_msg_data (message), text, length) == 0;
}

static void s_hex (const void *data, size_t size, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const uint8_t *bytes = data;
    for (size_t i = 0; i < size; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * size] = '\0';
}

static int64_t s_msg_int (zmq_msg_t *message, int64_t fallback)
{
    char text[24];
    size_t size = zmq_msg_size (message);
    if (size == 0 || size >= sizeof text)
        return fallback;
    memcpy (text, zmq_msg_data (message), size);
    text[size] = '\0';
    char *end;
    long long value = strtoll (text, &end, 10);
    return *end ? fallback : value;
}

/* ==== The request slab ==== */

static request_t *s_slot (broker_t *self, uint32_t slot)
{
    return &self->slab[slot / SLAB_CHUNK][slot % SLAB_CHUNK];
}

//  Takes a free slot, growing the slab when none is left. Returns its number.
static uint32_t s_slot_take (broker_t *self)
{
    if (self->free_slot == UINT32_MAX) {
        size_t chunk = self->slab_chunks;
        self->slab = realloc (self->slab, (chunk + 1) * sizeof *self->slab);
        self->slab[chunk] = calloc (SLAB_CHUNK, sizeof (request_t));
        self->slab_chunks++;
        //  Thread the new slots onto the free list, lowest first.
        for (uint32_t i = SLAB_CHUNK; i-- > 0;) {
            request_t *request = &self->slab[chunk][i];
            request->next_free = self->free_slot;
            self->free_slot = (uint32_t)(chunk * SLAB_CHUNK + i);
        }
    }
    uint32_t slot = self->free_slot;
    request_t *request = s_slot (self, slot);
    self->free_slot = request->next_free;
    request->used = true;
    request->generation++;
    request->worker = NULL;
    zmq_msg_init (&request->client);
    zmq_msg_init (&request->request_id);
    zmq_msg_init (&request->method);
    zmq_msg_init (&request->body);
    return slot;
}

static void s_slot_free (broker_t *self, uint32_t slot)
{
    request_t *request = s_slot (self, slot);
    zmq_msg_close (&request->client);
    zmq_msg_close (&request->request_id);
    zmq_msg_close (&request->method);
    zmq_msg_close (&request->body);
    request->used = false;
    request->next_free = self->free_slot;
    self->free_slot = slot;
}

static uint64_t s_ticket (broker_t *self, uint32_t slot)
{
    return (uint64_t)s_slot (self, slot)->generation << 32 | slot;
}

//  The slot a ticket names, or UINT32_MAX if it names no live request.
static uint32_t s_ticket_slot (broker_t *self, uint64_t ticket)
{
    uint32_t slot = (uint32_t)ticket;
    if (slot / SLAB_CHUNK >= self->slab_chunks)
        return UINT32_MAX;
    request_t *request = s_slot (self, slot);
    if (!request->used || request->generation != (uint32_t)(ticket >> 32))
        return UINT32_MAX;
    return slot;
}

/* ==== Replies ==== */

//  Packs the msgpack body that FILL writes into a new message BODY.
static void s_body (zmq_msg_t *body, void (*fill) (msgpack_packer *packer, const void *arg),
                    const void *arg)
{
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &buffer, msgpack_sbuffer_write);
    fill (&packer, arg);
    zmq_msg_init_size (body, buffer.size);
    memcpy (zmq_msg_data (body), buffer.data, buffer.size);
    msgpack_sbuffer_destroy (&buffer);
}

typedef struct {
    int code;            //  error code
    const char *message; //  its text
} error_body_t;

static void s_fill_error (msgpack_packer *packer, const void *arg)
{
    const error_body_t *error = arg;
    pb_bus_pack_error (packer, error->code, error->message);
}

static void s_fill_status (msgpack_packer *packer, const void *arg)
{
    pb_encode (&pb_status_reply_schema, arg, packer);
}

//  Sends the reply to a client: [client] PBC1 request_id status body. The
//  CLIENT, REQUEST_ID and BODY frames are moved.
static void s_reply (broker_t *self, zmq_msg_t *client, zmq_msg_t *request_id, int status,
                     zmq_msg_t *body)
{
    char status_text[16];
    size_t status_length = pb_bus_status_text (status, status_text);
    s_send_msg (self, client, true);
    s_send_bytes (self, PB_BUS_CLIENT_HEADER, 4, true);
    s_send_msg (self, request_id, true);
    s_send_bytes (self, status_text, status_length, true);
    s_send_msg (self, body, false);
    self->counters.replies++;
    if (status != PB_OK)
        self->counters.errors++;
}

//  Answers with an error_reply body; CLIENT and REQUEST_ID are moved.
static void s_reply_error (broker_t *self, zmq_msg_t *client, zmq_msg_t *request_id,
                           service_t *service, int code, const char *format, ...)
    __attribute__ ((format (printf, 6, 7)));

static void s_reply_error (broker_t *self, zmq_msg_t *client, zmq_msg_t *request_id,
                           service_t *service, int code, const char *format, ...)
{
    char message[512];
    va_list args;
    va_start (args, format);
    vsnprintf (message, sizeof message, format, args);
    va_end (args);
    zmq_msg_t body;
    s_body (&body, s_fill_error, &(error_body_t){code, message});
    if (service)
        service->errors++;
    s_reply (self, client, request_id, code, &body);
}

//  Answers the request in SLOT with an error and frees the slot.
static void s_fail_request (broker_t *self, uint32_t slot, int code, const char *format, ...)
    __attribute__ ((format (printf, 4, 5)));

static void s_fail_request (broker_t *self, uint32_t slot, int code, const char *format, ...)
{
    request_t *request = s_slot (self, slot);
    char message[256];
    va_list args;
    va_start (args, format);
    vsnprintf (message, sizeof message, format, args);
    va_end (args);
    s_reply_error (self, &request->client, &request->request_id, request->service, code, "%s",
                   message);
    s_slot_free (self, slot);
}

/* ==== Services and workers ==== */

static service_t *s_service_find (broker_t *self, const char *name, size_t length)
{
    char key[PB_BUS_SERVICE_MAX + 1];
    memcpy (key, name, length);
    key[length] = '\0';
    return zhashx_lookup (self->services, key);
}

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
    service->queue_capacity = 16;
    service->queue = malloc (service->queue_capacity * sizeof *service->queue);
    zhashx_insert (self->services, key, service);
    return service;
}

static void s_service_free (void **item)
{
    service_t *service = *item;
    if (!service)
        return;
    zlistx_destroy (&service->workers);
    free (service->queue);
    free (service);
    *item = NULL;
}

static void s_queue_push (service_t *service, uint32_t slot)
{
    if (service->queue_size == service->queue_capacity) {
        //  Grow the ring, unrolling it so the oldest is first again.
        size_t capacity = service->queue_capacity * 2;
        uint32_t *grown = malloc (capacity * sizeof *grown);
        for (size_t i = 0; i < service->queue_size; i++)
            grown[i] = service->queue[(service->queue_head + i) & (service->queue_capacity - 1)];
        free (service->queue);
        service->queue = grown;
        service->queue_capacity = capacity;
        service->queue_head = 0;
    }
    service->queue[(service->queue_head + service->queue_size) & (service->queue_capacity - 1)] =
        slot;
    service->queue_size++;
}

static uint32_t s_queue_peek (service_t *service)
{
    return service->queue_size ? service->queue[service->queue_head] : UINT32_MAX;
}

static void s_queue_pop (service_t *service)
{
    service->queue_head = (service->queue_head + 1) & (service->queue_capacity - 1);
    service->queue_size--;
}

//  Sends WORKER a command with no further frames.
static void s_worker_command (broker_t *self, worker_t *worker, pb_bus_command_t command)
{
    uint8_t byte = (uint8_t)command;
    s_send_bytes (self, worker->address, worker->address_size, true);
    s_send_bytes (self, PB_BUS_WORKER_HEADER, 4, true);
    s_send_bytes (self, &byte, 1, false);
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

//  Sends the request in SLOT to WORKER: [worker] PBW1 REQUEST ticket method
//  body. The method and body frames move to the worker.
static void s_give (broker_t *self, worker_t *worker, uint32_t slot)
{
    request_t *request = s_slot (self, slot);
    request->worker = worker;
    request->deadline = zclock_mono () + self->work_ms;
    worker->in_flight++;
    worker->last_given = ++self->dispatches;
    uint64_t ticket = s_ticket (self, slot);
    uint8_t ticket_bytes[8];
    for (int i = 7; i >= 0; i--, ticket >>= 8)
        ticket_bytes[i] = (uint8_t)ticket;
    uint8_t command = PB_BUS_REQUEST;
    s_send_bytes (self, worker->address, worker->address_size, true);
    s_send_bytes (self, PB_BUS_WORKER_HEADER, 4, true);
    s_send_bytes (self, &command, 1, true);
    s_send_bytes (self, ticket_bytes, 8, true);
    s_send_msg (self, &request->method, true);
    s_send_msg (self, &request->body, false);
}

//  Gives queued requests of SERVICE to workers while any has spare credit.
static void s_dispatch (broker_t *self, service_t *service)
{
    uint32_t slot;
    worker_t *worker;
    while ((slot = s_queue_peek (service)) != UINT32_MAX && (worker = s_pick_worker (service))) {
        s_queue_pop (service);
        s_give (self, worker, slot);
    }
}

//  Removes WORKER; every request it held gets a worker_died error reply.
static void s_worker_remove (broker_t *self, worker_t *worker, const char *why)
{
    service_t *service = worker->service;
    for (size_t chunk = 0; worker->in_flight > 0 && chunk < self->slab_chunks; chunk++)
        for (uint32_t i = 0; i < SLAB_CHUNK; i++) {
            request_t *request = &self->slab[chunk][i];
            if (request->used && request->worker == worker) {
                s_fail_request (self, (uint32_t)(chunk * SLAB_CHUNK + i), PB_E_WORKER_DIED,
                                "the %s worker handling this request died (%lld requests lost "
                                "with it)",
                                service->name, (long long)worker->in_flight);
            }
        }
    void *handle = zlistx_find (service->workers, worker);
    if (handle)
        zlistx_delete (service->workers, handle);
    pb_info ("worker %s of %s removed: %s", worker->id, service->name, why);
    zhashx_delete (self->workers, worker->id);
}

static void s_worker_free (void **item)
{
    free (*item);
    *item = NULL;
}

static worker_t *s_worker_lookup (broker_t *self, zmq_msg_t *address)
{
    char hex[2 * ADDRESS_MAX + 1];
    if (zmq_msg_size (address) > ADDRESS_MAX)
        return NULL;
    s_hex (zmq_msg_data (address), zmq_msg_size (address), hex);
    return zhashx_lookup (self->workers, hex);
}

/* ==== Messages from clients ==== */

static void s_handle_status (broker_t *self, uint32_t slot);

//  parts: [0] address [1] PBC1 [2] method [3] request id [4] body
static void s_client_message (broker_t *self, zmq_msg_t *parts, int count)
{
    if (count != 5) {
        if (count >= 4)
            s_reply_error (self, &parts[0], &parts[3], NULL, PB_E_MALFORMED,
                           "a request has 4 frames (header, method, request id, body), not %d",
                           count - 1);
        else
            self->counters.dropped_frames++;
        return;
    }
    self->counters.requests++;
    if (zmq_msg_size (&parts[3]) > 64) {
        //  Answered, with the id it gave, though the id breaks the rule.
        s_reply_error (self, &parts[0], &parts[3], NULL, PB_E_MALFORMED,
                       "a request id is at most 64 bytes, not %zu", zmq_msg_size (&parts[3]));
        return;
    }
    const char *method = zmq_msg_data (&parts[2]);
    size_t method_length = zmq_msg_size (&parts[2]);
    size_t service_length;
    if (!pb_bus_method_split (method, method_length, &service_length)) {
        s_reply_error (self, &parts[0], &parts[3], NULL, PB_E_INVALID,
                       "'%.*s' is not a method: want service.operation, service of [a-z0-9_-]",
                       (int)(method_length > 64 ? 64 : method_length), method);
        return;
    }
    service_t *service = s_service_find (self, method, service_length);
    if (!service && zhashx_size (self->services) >= MAX_SERVICES) {
        //  Names nobody serves cannot grow the bus without bound.
        s_reply_error (self, &parts[0], &parts[3], NULL, PB_E_UNKNOWN_SERVICE,
                       "no worker of service '%.*s' has registered, and the bus already tracks "
                       "%d services",
                       (int)service_length, method, MAX_SERVICES);
        return;
    }
    if (!service)
        service = s_service_require (self, method, service_length);
    service->requests++;
    uint32_t slot = s_slot_take (self);
    request_t *request = s_slot (self, slot);
    zmq_msg_move (&request->client, &parts[0]);
    zmq_msg_move (&request->method, &parts[2]);
    zmq_msg_move (&request->request_id, &parts[3]);
    zmq_msg_move (&request->body, &parts[4]);
    request->service = service;
    if (strcmp (service->name, "bus") == 0) {
        s_handle_status (self, slot);
        return;
    }
    //  The common case, a worker with room and nobody waiting: straight on.
    worker_t *worker = service->queue_size ? NULL : s_pick_worker (service);
    if (worker) {
        s_give (self, worker, slot);
        return;
    }
    request->deadline = zclock_mono () + self->wait_ms;
    s_queue_push (service, slot);
}

/* ==== Messages from workers ==== */

//  parts: [0] address [1] PBW1 [2] READY [3] service [4] credit
static void s_worker_ready (broker_t *self, zmq_msg_t *parts, int count)
{
    const char *name = count == 5 ? zmq_msg_data (&parts[3]) : NULL;
    size_t name_length = count == 5 ? zmq_msg_size (&parts[3]) : 0;
    int64_t credit = count == 5 ? s_msg_int (&parts[4], -1) : -1;
    if (!name || !pb_bus_service_valid (name, name_length) || credit < 1 || credit > 100000 ||
        (name_length == 3 && memcmp (name, "bus", 3) == 0) ||
        zmq_msg_size (&parts[0]) > ADDRESS_MAX) {
        self->counters.dropped_frames++;
        return;
    }
    worker_t *existing = s_worker_lookup (self, &parts[0]);
    if (existing)
        s_worker_remove (self, existing, "registered again");
    worker_t *worker = calloc (1, sizeof *worker);
    worker->address_size = zmq_msg_size (&parts[0]);
    memcpy (worker->address, zmq_msg_data (&parts[0]), worker->address_size);
    s_hex (worker->address, worker->address_size, worker->id);
    worker->service = s_service_require (self, name, name_length);
    worker->service->ever_had_worker = true;
    worker->credit = credit;
    worker->last_heard = zclock_mono ();
    zhashx_insert (self->workers, worker->id, worker);
    zlistx_add_end (worker->service->workers, worker);
    pb_info ("worker %s ready for %s (credit %lld)", worker->id, worker->service->name,
             (long long)credit);
    s_dispatch (self, worker->service);
}

//  parts: [0] address [1] PBW1 [2] REPLY [3] ticket [4] status [5] body
static void s_worker_reply (broker_t *self, worker_t *worker, zmq_msg_t *parts, int count)
{
    if (count < 4 || zmq_msg_size (&parts[3]) != 8) {
        self->counters.dropped_frames++;
        return;
    }
    uint64_t ticket = 0;
    const uint8_t *ticket_bytes = zmq_msg_data (&parts[3]);
    for (int i = 0; i < 8; i++)
        ticket = (ticket << 8) | ticket_bytes[i];
    uint32_t slot = s_ticket_slot (self, ticket);
    if (slot == UINT32_MAX || s_slot (self, slot)->worker != worker) {
        self->counters.dropped_frames++;
        return;
    }
    request_t *request = s_slot (self, slot);
    int64_t status = count == 6 ? s_msg_int (&parts[4], PB_E_INTERNAL) : PB_E_INTERNAL;
    if (status < 0 || status > 65535)
        status = PB_E_INTERNAL;
    if (count != 6) {
        //  A reply we cannot pass on still ends the request, with an error.
        self->counters.dropped_frames++;
        s_reply_error (self, &request->client, &request->request_id, worker->service, PB_E_INTERNAL,
                       "the %s worker sent a malformed reply (%d frames)", worker->service->name,
                       count - 1);
    } else {
        if (status != PB_OK)
            worker->service->errors++;
        s_reply (self, &request->client, &request->request_id, (int)status, &parts[5]);
    }
    s_slot_free (self, slot);
    worker->in_flight--;
    worker->served++;
    if (worker->draining && worker->in_flight == 0) {
        //  The last answer of a departing worker: acknowledge, then forget it.
        s_worker_command (self, worker, PB_BUS_DISCONNECT);
        s_worker_remove (self, worker, "left");
        return;
    }
    s_dispatch (self, worker->service);
}

static void s_worker_message (broker_t *self, zmq_msg_t *parts, int count)
{
    if (count < 3 || zmq_msg_size (&parts[2]) != 1) {
        self->counters.dropped_frames++;
        return;
    }
    int command = *(uint8_t *)zmq_msg_data (&parts[2]);
    if (command == PB_BUS_READY) {
        s_worker_ready (self, parts, count);
        return;
    }
    worker_t *worker = s_worker_lookup (self, &parts[0]);
    if (!worker) {
        //  A worker this bus does not know (it restarted, or expired the
        //  worker): tell it to register again.
        if (command != PB_BUS_DISCONNECT) {
            uint8_t disconnect = PB_BUS_DISCONNECT;
            s_send_msg (self, &parts[0], true);
            s_send_bytes (self, PB_BUS_WORKER_HEADER, 4, true);
            s_send_bytes (self, &disconnect, 1, false);
        }
        self->counters.dropped_frames += command == PB_BUS_REPLY;
        return;
    }
    worker->last_heard = zclock_mono ();
    switch (command) {
    case PB_BUS_REPLY:
        s_worker_reply (self, worker, parts, count);
        break;
    case PB_BUS_HEARTBEAT:
        break;
    case PB_BUS_DISCONNECT:
        if (worker->in_flight == 0) {
            s_worker_command (self, worker, PB_BUS_DISCONNECT);
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

//  Reads one message into PARTS (at most MAX_FRAMES; a longer message is read
//  to its end and dropped). Returns the part count, -1 if there was nothing
//  to read, or 0 for a dropped message.
static int s_receive (broker_t *self, zmq_msg_t *parts)
{
    int count = 0;
    bool more = true;
    while (more) {
        zmq_msg_t *part = &parts[count < MAX_FRAMES ? count : MAX_FRAMES];
        zmq_msg_init (part);
        if (zmq_msg_recv (part, self->router_handle, count ? 0 : ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (part);
            break;
        }
        more = zmq_msg_more (part);
        if (count < MAX_FRAMES)
            count++;
        else {
            zmq_msg_close (part);
            count = MAX_FRAMES + 1;
        }
    }
    if (count == 0)
        return -1;
    if (count > MAX_FRAMES) {
        for (int i = 0; i < MAX_FRAMES; i++)
            zmq_msg_close (&parts[i]);
        return 0;
    }
    return count;
}

//  Handles one message from the request socket; false if none was waiting.
static bool s_router_message (broker_t *self)
{
    zmq_msg_t parts[MAX_FRAMES + 1];
    int count = s_receive (self, parts);
    if (count < 0)
        return false;
    if (count < 2)
        self->counters.dropped_frames++;
    else if (s_msg_equals (&parts[1], PB_BUS_CLIENT_HEADER))
        s_client_message (self, parts, count);
    else if (s_msg_equals (&parts[1], PB_BUS_WORKER_HEADER))
        s_worker_message (self, parts, count);
    else if (zmq_msg_size (&parts[1]) == 4 && memcmp (zmq_msg_data (&parts[1]), "PBC", 3) == 0 &&
             count >= 5)
        //  A client of another protocol version: say so rather than drop.
        s_reply_error (self, &parts[0], &parts[3], NULL, PB_E_UNSUPPORTED_VERSION,
                       "this bus speaks %s, not %.4s", PB_BUS_CLIENT_HEADER,
                       (const char *)zmq_msg_data (&parts[1]));
    else
        self->counters.dropped_frames++;
    for (int i = 0; i < count; i++)
        zmq_msg_close (&parts[i]);
    return true;
}

static int s_router_ready (zloop_t *loop, zsock_t *router, void *arg)
{
    (void)loop;
    (void)router;
    broker_t *self = arg;
    //  Take a burst of messages per wake-up: a poll per message would cost
    //  more than routing it.
    for (int burst = 0; burst < REQUEST_BURST && s_router_message (self); burst++)
        ;
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

static void s_expire_requests (broker_t *self, int64_t now)
{
    for (service_t *service = zhashx_first (self->services); service;
         service = zhashx_next (self->services)) {
        uint32_t slot;
        while ((slot = s_queue_peek (service)) != UINT32_MAX &&
               s_slot (self, slot)->deadline <= now) {
            s_queue_pop (service);
            if (!service->ever_had_worker)
                s_fail_request (self, slot, PB_E_UNKNOWN_SERVICE,
                                "no worker of service '%s' has registered since the bus "
                                "started (waited %lld ms)",
                                service->name, (long long)self->wait_ms);
            else if (zlistx_size (service->workers) == 0)
                s_fail_request (self, slot, PB_E_NO_WORKER,
                                "no live worker for service '%s' within %lld ms", service->name,
                                (long long)self->wait_ms);
            else
                s_fail_request (self, slot, PB_E_TIMEOUT,
                                "every %s worker stayed busy for %lld ms; try again later",
                                service->name, (long long)self->wait_ms);
        }
    }
}

//  Requests a worker has held past their deadline are answered timeout and
//  give the worker its credit back; a late reply then finds no ticket.
static void s_expire_in_flight (broker_t *self, int64_t now)
{
    for (size_t chunk = 0; chunk < self->slab_chunks; chunk++)
        for (uint32_t i = 0; i < SLAB_CHUNK; i++) {
            request_t *request = &self->slab[chunk][i];
            if (!request->used || !request->worker || request->deadline > now)
                continue;
            worker_t *worker = request->worker;
            worker->in_flight--;
            s_fail_request (self, (uint32_t)(chunk * SLAB_CHUNK + i), PB_E_TIMEOUT,
                            "the %s worker did not answer within %lld ms", worker->service->name,
                            (long long)self->work_ms);
            s_dispatch (self, worker->service);
        }
}

//  Forgets services that nobody serves and nobody waits for, so that
//  requests for made-up names leave nothing behind.
static void s_forget_unserved (broker_t *self)
{
    zlistx_t *idle = zlistx_new ();
    for (service_t *service = zhashx_first (self->services); service;
         service = zhashx_next (self->services))
        if (!service->ever_had_worker && service->queue_size == 0 &&
            zlistx_size (service->workers) == 0 && strcmp (service->name, "bus") != 0)
            zlistx_add_end (idle, service->name);
    for (char *name = zlistx_first (idle); name; name = zlistx_next (idle))
        zhashx_delete (self->services, name);
    zlistx_destroy (&idle);
}

static int s_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    broker_t *self = arg;
    int64_t now = zclock_mono ();
    s_expire_requests (self, now);
    s_expire_in_flight (self, now);
    if (now - self->last_heartbeat < self->heartbeat_ms)
        return 0;
    s_forget_unserved (self);
    self->last_heartbeat = now;
    //  Heartbeat every worker; forget those silent for too long.
    zlistx_t *expired = zlistx_new ();
    for (worker_t *worker = zhashx_first (self->workers); worker;
         worker = zhashx_next (self->workers)) {
        if (now - worker->last_heard > self->heartbeat_ms * PB_BUS_LIVENESS)
            zlistx_add_end (expired, worker);
        else
            s_worker_command (self, worker, PB_BUS_HEARTBEAT);
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

static void s_handle_status (broker_t *self, uint32_t slot)
{
    request_t *request = s_slot (self, slot);
    if (!s_msg_equals (&request->method, "bus.status")) {
        s_reply_error (self, &request->client, &request->request_id, request->service,
                       PB_E_UNKNOWN_COMMAND, "the bus serves only bus.status, not '%.*s'",
                       (int)zmq_msg_size (&request->method),
                       (const char *)zmq_msg_data (&request->method));
        s_slot_free (self, slot);
        return;
    }
    pb_status_request_t query;
    pb_codec_error_t error;
    pb_arena_t *arena = pb_arena_new ();
    if (pb_decode (zmq_msg_data (&request->body), zmq_msg_size (&request->body),
                   (size_t)pb_config_int (self->config, PB_CONF_MAX_FRAME),
                   &pb_status_request_schema, &query, arena, &error)) {
        s_reply_error (self, &request->client, &request->request_id, request->service, error.code,
                       "bus.status: %s", error.message);
        pb_arena_destroy (&arena);
        s_slot_free (self, slot);
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
        status->queued = (int64_t)service->queue_size;
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
    zmq_msg_t body;
    s_body (&body, s_fill_status, &reply);
    s_reply (self, &request->client, &request->request_id, PB_OK, &body);
    pb_arena_destroy (&arena);
    s_slot_free (self, slot);
}

/* ==== Life ==== */

broker_t *broker_new (pb_config_t *config)
{
    broker_t *self = calloc (1, sizeof *self);
    self->config = config;
    self->heartbeat_ms = pb_config_int (config, PB_CONF_HEARTBEAT_MS);
    self->wait_ms = pb_config_int (config, PB_CONF_BUS_WAIT_MS);
    self->work_ms = pb_config_int (config, PB_CONF_REQUEST_TIMEOUT_MS);
    self->started = zclock_mono ();
    self->free_slot = UINT32_MAX;
    self->services = zhashx_new ();
    zhashx_set_destructor (self->services, s_service_free);
    self->workers = zhashx_new ();
    zhashx_set_destructor (self->workers, s_worker_free);
    self->router =
        pb_bus_socket (config, PB_BUS_ROUTER, pb_config_str (config, PB_CONF_BUS_REQUESTS));
    self->xsub = pb_bus_socket (config, PB_BUS_XSUB, pb_config_str (config, PB_CONF_BUS_EVENTS_IN));
    self->xpub =
        pb_bus_socket (config, PB_BUS_XPUB, pb_config_str (config, PB_CONF_BUS_EVENTS_OUT));
    if (!self->router || !self->xsub || !self->xpub) {
        broker_destroy (&self);
        return NULL;
    }
    self->router_handle = zsock_resolve (self->router);
    //  Subscribe to every event on behalf of all subscribers.
    zframe_t *all = zframe_new ("\x01", 1);
    zframe_send (&all, self->xsub, 0);
    return self;
}

void broker_destroy (broker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_t *self = *self_p;
    for (size_t chunk = 0; chunk < self->slab_chunks; chunk++) {
        for (uint32_t i = 0; i < SLAB_CHUNK; i++)
            if (self->slab[chunk][i].used)
                s_slot_free (self, (uint32_t)(chunk * SLAB_CHUNK + i));
        free (self->slab[chunk]);
    }
    free (self->slab);
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
