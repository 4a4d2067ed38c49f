/*  pb_pubsub — publisher and gap-filling subscriber. */
#include "pb_pubsub.h"
#include "pb_bus.h"
#include "pb_log.h"

#include <stdlib.h>
#include <string.h>

#define REPLAY_PAGE 1000 //  events read from the log per query

struct _pb_publisher_t {
    zsock_t *socket; //  PUB to the bus
};

pb_publisher_t *pb_publisher_new (pb_config_t *config)
{
    pb_publisher_t *self = calloc (1, sizeof *self);
    self->socket =
        pb_bus_socket (config, PB_BUS_PUB, pb_config_str (config, PB_CONF_BUS_EVENTS_IN));
    if (!self->socket) {
        free (self);
        return NULL;
    }
    return self;
}

void pb_publisher_destroy (pb_publisher_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zsock_destroy (&(*self_p)->socket);
    free (*self_p);
    *self_p = NULL;
}

int pb_publisher_send (pb_publisher_t *self, const char *topic, int64_t seq, const void *body,
                       size_t size)
{
    zframe_t *frame = pb_bus_event_frame (topic, seq, body, size);
    if (!frame)
        return -1;
    return zframe_send (&frame, self->socket, ZFRAME_DONTWAIT);
}

/* ==== Subscriber ==== */

typedef struct {
    char topic[PB_EVENT_TOPIC_MAX + 1]; //  what is followed
    int64_t position;                   //  last seq delivered
    pb_subscriber_fn *handler;          //  where events go
    void *arg;                          //  handler's argument
    bool stalled;                       //  the handler refused an event
    bool unlogged;                      //  listened to: every event as it comes
} follow_t;

struct _pb_subscriber_t {
    pb_config_t *config;    //  settings (not owned)
    pb_db_t *db;            //  the event log (not owned; may be NULL)
    zsock_t *socket;        //  SUB to the bus
    zloop_t *loop;          //  where the socket is read (not owned)
    zlistx_t *follows;      //  follow_t*
    int64_t heartbeat_ms;   //  the bus's heartbeat interval
    int64_t last_bus_heard; //  ms of the last message from the bus
    pb_bus_wait_t wait;     //  how long the bus has been silent, for the log
    int64_t last_catch_up;  //  ms of the last check of the log
    int64_t replayed;       //  events delivered from the log
    int timer_id;           //  the catch-up timer in loop
};

static int s_socket_ready (zloop_t *loop, zsock_t *socket, void *arg);

//  Subscribes to exactly TOPIC: the filter includes the NUL after the name,
//  so "paper.ingested" does not also match "paper.ingested.v2".
static void s_subscribe (zsock_t *socket, const char *topic)
{
    zmq_setsockopt (zsock_resolve (socket), ZMQ_SUBSCRIBE, topic, strlen (topic) + 1);
}

static void s_subscribe_all (pb_subscriber_t *self)
{
    s_subscribe (self->socket, PB_BUS_HEARTBEAT_TOPIC);
    for (follow_t *follow = zlistx_first (self->follows); follow;
         follow = zlistx_next (self->follows))
        s_subscribe (self->socket, follow->topic);
}

static void s_follow_free (void **item)
{
    free (*item);
    *item = NULL;
}

//  (Re)opens the SUB socket: a new connection re-sends every subscription.
static int s_connect (pb_subscriber_t *self)
{
    if (self->socket) {
        if (self->loop)
            zloop_reader_end (self->loop, self->socket);
        zsock_destroy (&self->socket);
    }
    self->socket = pb_bus_socket (self->config, PB_BUS_SUB,
                                  pb_config_str (self->config, PB_CONF_BUS_EVENTS_OUT));
    if (!self->socket)
        return -1;
    s_subscribe_all (self);
    if (self->loop)
        zloop_reader (self->loop, self->socket, s_socket_ready, self);
    self->last_bus_heard = zclock_mono ();
    return 0;
}

pb_subscriber_t *pb_subscriber_new (pb_config_t *config, pb_db_t *db)
{
    pb_subscriber_t *self = calloc (1, sizeof *self);
    self->config = config;
    self->db = db;
    self->follows = zlistx_new ();
    zlistx_set_destructor (self->follows, s_follow_free);
    self->heartbeat_ms = pb_config_int (config, PB_CONF_HEARTBEAT_MS);
    if (s_connect (self)) {
        pb_subscriber_destroy (&self);
        return NULL;
    }
    return self;
}

void pb_subscriber_destroy (pb_subscriber_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pb_subscriber_t *self = *self_p;
    if (self->loop && self->socket)
        zloop_reader_end (self->loop, self->socket);
    if (self->loop)
        zloop_timer_end (self->loop, self->timer_id);
    zsock_destroy (&self->socket);
    zlistx_destroy (&self->follows);
    free (self);
    *self_p = NULL;
}

static follow_t *s_follow_find (pb_subscriber_t *self, const char *topic)
{
    for (follow_t *follow = zlistx_first (self->follows); follow;
         follow = zlistx_next (self->follows))
        if (strcmp (follow->topic, topic) == 0)
            return follow;
    return NULL;
}

int pb_subscriber_follow (pb_subscriber_t *self, const char *topic, int64_t after,
                          pb_subscriber_fn *handler, void *arg)
{
    if (!pb_eventlog_topic_valid (topic) || s_follow_find (self, topic))
        return -1;
    follow_t *follow = calloc (1, sizeof *follow);
    snprintf (follow->topic, sizeof follow->topic, "%s", topic);
    follow->position = after;
    follow->handler = handler;
    follow->arg = arg;
    zlistx_add_end (self->follows, follow);
    s_subscribe (self->socket, topic);
    return 0;
}

int pb_subscriber_listen (pb_subscriber_t *self, const char *topic, pb_subscriber_fn *handler,
                          void *arg)
{
    if (pb_subscriber_follow (self, topic, 0, handler, arg))
        return -1;
    s_follow_find (self, topic)->unlogged = true;
    return 0;
}

//  Hands EVENT to the handler if it is the next one; returns 0 if delivered.
static int s_deliver (follow_t *follow, const pb_event_t *event)
{
    if (event->seq != follow->position + 1)
        return -1;
    if (follow->handler (event, follow->arg) != 0) {
        follow->stalled = true;
        return -1;
    }
    follow->position = event->seq;
    return 0;
}

typedef struct {
    pb_subscriber_t *self; //  for the replay counter
    follow_t *follow;      //  the topic being replayed
    int64_t until;         //  stop after this seq
} replay_t;

static int s_replay_one (const pb_event_t *event, void *arg)
{
    replay_t *replay = arg;
    if (event->seq > replay->until || s_deliver (replay->follow, event))
        return -1;
    replay->self->replayed++;
    return 0;
}

//  Delivers FOLLOW's events from the log, after its position up to UNTIL.
static void s_replay (pb_subscriber_t *self, follow_t *follow, int64_t until)
{
    if (!self->db)
        return;
    replay_t replay = {self, follow, until};
    while (follow->position < until && !follow->stalled) {
        int64_t before = follow->position;
        int read = pb_eventlog_read (self->db, follow->topic, follow->position, REPLAY_PAGE,
                                     s_replay_one, &replay);
        if (read <= 0 || follow->position == before)
            break;
    }
}

//  Delivers EVENT, from the bus or from its own publisher, in order: the
//  events before it are read from the log first, those already delivered
//  are dropped.
static void s_receive (pb_subscriber_t *self, const pb_event_t *event)
{
    const char *topic = event->topic;
    follow_t *follow = s_follow_find (self, topic);
    if (follow && follow->unlogged)
        follow->handler (event, follow->arg);
    else if (follow && event->seq > follow->position) {
        follow->stalled = false;
        if (event->seq > follow->position + 1) {
            s_replay (self, follow, event->seq - 1);
            if (!self->db && follow->position < event->seq - 1) {
                //  Without the log a gap cannot be filled: say so, go on.
                pb_warn ("%s: events %lld..%lld missed and no event log to read them from", topic,
                         (long long)follow->position + 1, (long long)event->seq - 1);
                follow->position = event->seq - 1;
            }
        }
        s_deliver (follow, event);
    }
}

static int s_socket_ready (zloop_t *loop, zsock_t *socket, void *arg)
{
    (void)loop;
    pb_subscriber_t *self = arg;
    if (socket != self->socket)
        return 0;
    zframe_t *frame = zframe_recv (socket);
    if (!frame)
        return 0;
    self->last_bus_heard = zclock_mono ();
    if (self->wait.since)
        pb_bus_wait_over (&self->wait, pb_config_str (self->config, PB_CONF_BUS_EVENTS_OUT));
    char topic[PB_EVENT_TOPIC_MAX + 1];
    pb_event_t event = {.topic = topic};
    if (pb_bus_event_parse (zframe_data (frame), zframe_size (frame), topic, &event.seq,
                            &event.payload, &event.size))
        pb_warn ("dropped a malformed event");
    else
        s_receive (self, &event);
    zframe_destroy (&frame);
    return 0;
}

void pb_subscriber_offer (pb_subscriber_t *self, const pb_event_t *event)
{
    s_receive (self, event);
}

//  Delivers what FOLLOW missed, up to its topic's head in the log.
static void s_catch_up (pb_subscriber_t *self, follow_t *follow)
{
    int64_t head = pb_eventlog_head (self->db, follow->topic);
    follow->stalled = false;
    if (head > follow->position)
        s_replay (self, follow, head);
}

void pb_subscriber_catch_up (pb_subscriber_t *self)
{
    if (!self->db)
        return;
    self->last_catch_up = zclock_mono ();
    for (follow_t *follow = zlistx_first (self->follows); follow;
         follow = zlistx_next (self->follows))
        if (!follow->unlogged)
            s_catch_up (self, follow);
}

void pb_subscriber_catch_up_topic (pb_subscriber_t *self, const char *topic)
{
    follow_t *follow = s_follow_find (self, topic);
    if (self->db && follow && !follow->unlogged)
        s_catch_up (self, follow);
}

static int s_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    pb_subscriber_t *self = arg;
    int64_t now = zclock_mono ();
    if (now - self->last_bus_heard > self->heartbeat_ms * PB_BUS_LIVENESS) {
        pb_bus_wait_silent (&self->wait, pb_config_str (self->config, PB_CONF_BUS_EVENTS_OUT),
                            now - self->last_bus_heard);
        s_connect (self);
        pb_subscriber_catch_up (self);
    } else if (now - self->last_catch_up >= self->heartbeat_ms * PB_BUS_LIVENESS)
        pb_subscriber_catch_up (self);
    return 0;
}

void pb_subscriber_attach (pb_subscriber_t *self, zloop_t *loop)
{
    self->loop = loop;
    zloop_reader (loop, self->socket, s_socket_ready, self);
    self->timer_id = zloop_timer (loop, (size_t)self->heartbeat_ms, 0, s_tick, self);
}

int64_t pb_subscriber_position (pb_subscriber_t *self, const char *topic)
{
    follow_t *follow = s_follow_find (self, topic);
    return follow ? follow->position : -1;
}

int64_t pb_subscriber_replayed (pb_subscriber_t *self)
{
    return self->replayed;
}
