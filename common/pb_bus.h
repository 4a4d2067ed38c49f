/*  pb_bus — the wire protocol's constants, and the one place where bus
    sockets are made (see proto/PROTOCOL.md).

    Every bus socket in paperbus, in the bus and in every client, worker,
    publisher and subscriber, comes from pb_bus_socket. That is where CURVE
    encryption is switched on for all of them by configuration
    (PAPERBUS_CURVE_SECRET_KEY on the bus, PAPERBUS_CURVE_PUBLIC_KEY
    everywhere else), and where the frame size limit is set.
*/
#ifndef PB_BUS_H
#define PB_BUS_H

#include "pb_config.h"

#include <czmq.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#define PB_BUS_CLIENT_HEADER   "PBC1" //  first frame of client <-> bus messages
#define PB_BUS_WORKER_HEADER   "PBW1" //  first frame of worker <-> bus messages
#define PB_BUS_LIVENESS        3      //  heartbeats missed before a peer is dead
#define PB_BUS_METHOD_MAX      128    //  bytes of "service.operation"
#define PB_BUS_SERVICE_MAX     64     //  bytes of a service name
#define PB_BUS_HEARTBEAT_TOPIC "bus.heartbeat"

//  Worker commands: the one-byte second frame of worker <-> bus messages.
typedef enum {
    PB_BUS_READY = 1,      //  worker -> bus: service, credit
    PB_BUS_REQUEST = 2,    //  bus -> worker: ticket, method, body
    PB_BUS_REPLY = 3,      //  worker -> bus: ticket, status, body
    PB_BUS_HEARTBEAT = 4,  //  both ways, no body
    PB_BUS_DISCONNECT = 5, //  both ways, no body
} pb_bus_command_t;

//  The role a socket plays, which decides its type and bind/connect.
typedef enum {
    PB_BUS_ROUTER, //  the bus's request socket (binds)
    PB_BUS_XSUB,   //  the bus's publisher-facing socket (binds)
    PB_BUS_XPUB,   //  the bus's subscriber-facing socket (binds)
    PB_BUS_DEALER, //  a client's or worker's request socket (connects)
    PB_BUS_PUB,    //  a publisher's socket (connects)
    PB_BUS_SUB,    //  a subscriber's socket (connects)
} pb_bus_role_t;

//  Creates the socket for ROLE on ENDPOINT (bound for the bus's roles,
//  connected otherwise), with CURVE, frame size limit and linger from
//  CONFIG. Returns NULL after logging why (for example a port in use).
zsock_t *pb_bus_socket (pb_config_t *config, pb_bus_role_t role, const char *endpoint);

//  True when NAME is a valid service name: 1..64 bytes of [a-z0-9_-].
bool pb_bus_service_valid (const char *name, size_t length);

//  Splits METHOD ("index.search") at its first dot; true when the service
//  part is valid and the operation is 1..63 printable bytes.
bool pb_bus_method_split (const char *method, size_t length, size_t *service_length);

//  Writes STATUS (0..99999) in decimal into TEXT (at least 8 bytes), as the
//  status frame carries it; returns its length. Cheaper than snprintf, which
//  showed up in the bus's profile.
size_t pb_bus_status_text (int status, char *text);

//  Packs an error_reply body (CODE, its wire name, MESSAGE): the body of
//  every reply whose status is not 0, from the bus or from a worker.
void pb_bus_pack_error (msgpack_packer *packer, int code, const char *message);

//  Builds the one-frame event: TOPIC, a NUL, SEQ as 8 bytes big-endian, BODY.
zframe_t *pb_bus_event_frame (const char *topic, int64_t seq, const void *body, size_t size);

//  Parses an event frame. Returns 0 with TOPIC (NUL-terminated copy into
//  TOPIC_BUFFER of at least 129 bytes), SEQ and BODY, or -1 if malformed.
int pb_bus_event_parse (const void *data, size_t size, char *topic_buffer, int64_t *seq,
                        const void **body, size_t *body_size);

//  A process's wait for a silent bus, as the log tells it: one line when the
//  bus is first found silent (a process started before the bus, or a bus that
//  went away), more at growing intervals while it stays silent, and one when
//  it answers, so that the wait is plain without flooding the log.
typedef struct {
    int64_t since;    //  zclock_mono ms the bus fell silent; 0 while it answers
    int64_t next_log; //  zclock_mono ms of the next "still waiting" line
    int64_t gap;      //  ms from that line to the one after it
} pb_bus_wait_t;

//  Notes that the bus at ENDPOINT has been silent for SILENT_MS (the caller
//  reconnects and tries again); logs it when a line is due.
void pb_bus_wait_silent (pb_bus_wait_t *wait, const char *endpoint, int64_t silent_ms);

//  Notes that the bus at ENDPOINT answered; logs the end of a wait, if any.
void pb_bus_wait_over (pb_bus_wait_t *wait, const char *endpoint);

#endif
