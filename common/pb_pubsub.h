/*  pb_pubsub — events on the bus: publish after commit, follow with no gap.

    An event travels as one frame: topic, a NUL byte, the seq as 8 bytes big
    endian, then the msgpack body (proto/PROTOCOL.md). Publishing is fire and
    forget: ZeroMQ drops events when the bus is down or a subscriber is slow.
    That is fine, because every event is in the event log first:

    pb_subscriber follows topics from a position and hands each event to its
    handler exactly once, in seq order. When an event arrives with a seq past
    the next one, the missed ones are read from the event log first; events
    already seen are dropped. It also checks the log's head every few
    heartbeats (catching events whose publisher died right after commit), and
    when the bus's heartbeat stops it reconnects, which re-sends the
    subscriptions to a restarted bus.
*/
#ifndef PB_PUBSUB_H
#define PB_PUBSUB_H

#include "pb_config.h"
#include "pb_db.h"
#include "pb_eventlog.h"

#include <czmq.h>

typedef struct _pb_publisher_t pb_publisher_t;
typedef struct _pb_subscriber_t pb_subscriber_t;

//  Connects a publisher to the bus's events-in endpoint from CONFIG.
pb_publisher_t *pb_publisher_new (pb_config_t *config);

//  Disconnects; accepts NULL and sets *self_p to NULL.
void pb_publisher_destroy (pb_publisher_t **self_p);

//  Publishes event SEQ of TOPIC with BODY. Call it after the commit that
//  put the event in the log. Returns 0, or -1 if it could not be queued.
int pb_publisher_send (pb_publisher_t *self, const char *topic, int64_t seq, const void *body,
                       size_t size);

//  Handles one event; return 0 when applied, -1 to have it offered again
//  later (the subscriber does not move past it).
typedef int (pb_subscriber_fn) (const pb_event_t *event, void *arg);

//  Connects a subscriber to the bus's events-out endpoint. DB, when not
//  NULL, is where missed events are read from; it stays the caller's.
pb_subscriber_t *pb_subscriber_new (pb_config_t *config, pb_db_t *db);

//  Disconnects; accepts NULL and sets *self_p to NULL.
void pb_subscriber_destroy (pb_subscriber_t **self_p);

//  Follows TOPIC: every event after seq AFTER goes to HANDLER once, in order.
//  Events already in the log are replayed at the next catch-up.
int pb_subscriber_follow (pb_subscriber_t *self, const char *topic, int64_t after,
                          pb_subscriber_fn *handler, void *arg);

//  Listens to TOPIC, whose events are not in the log (seq 0, published by
//  anyone): each one that arrives goes to HANDLER, once, with no replay.
int pb_subscriber_listen (pb_subscriber_t *self, const char *topic, pb_subscriber_fn *handler,
                          void *arg);

//  Hands EVENT, which this process has just committed and published, to
//  its topic's handler now, as if it had come back from the bus (in order,
//  once): so a worker sees its own writes in its own state at once.
void pb_subscriber_offer (pb_subscriber_t *self, const pb_event_t *event);

//  Adds the subscriber's socket and timer to LOOP (a worker's, or its own).
//  LOOP must outlive the subscriber.
void pb_subscriber_attach (pb_subscriber_t *self, zloop_t *loop);

//  Reads the log for every followed topic now, delivering what was missed.
void pb_subscriber_catch_up (pb_subscriber_t *self);

//  The same for TOPIC alone.
void pb_subscriber_catch_up_topic (pb_subscriber_t *self, const char *topic);

//  The last seq of TOPIC handed to the handler (-1 if not followed).
int64_t pb_subscriber_position (pb_subscriber_t *self, const char *topic);

//  Events delivered from the log rather than the bus, since creation.
int64_t pb_subscriber_replayed (pb_subscriber_t *self);

#endif
