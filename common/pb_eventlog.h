/*  pb_eventlog — the durable event log in PostgreSQL.

    Events belong to a topic ("paper.ingested", "vote.cast", ...), and each
    topic numbers its events 1, 2, 3, ... A writer appends inside its own
    transaction, after its other writes: appending takes the topic's row lock,
    held until commit, which makes a topic's numbers follow commit order with
    no holes (see deploy/migrations/0001_event_log.sql). So a reader asking for
    "events of T after N" never skips one, however many writers run at once,
    and a subscriber that sees seq N+2 after N knows it missed one. The lock is
    also why appending belongs at the end of a transaction: it serialises only
    the last moments of concurrent writers of the same topic.

    Consumers keep their position per topic as a cursor row, which they move
    in the same transaction as the effects of the events they consumed.
*/
#ifndef PB_EVENTLOG_H
#define PB_EVENTLOG_H

#include "pb_db.h"

#define PB_EVENT_TOPIC_MAX 128

//  One event as read back from the log.
typedef struct {
    const char *topic;   //  "paper.ingested", ...
    int64_t seq;         //  position in its topic, from 1, no holes
    const void *payload; //  msgpack body
    size_t size;         //  payload bytes
} pb_event_t;

//  Called for each event read; return 0 to go on, -1 to stop.
typedef int (pb_event_fn) (const pb_event_t *event, void *arg);

//  True when TOPIC is a valid topic name: 1..128 bytes of [a-z0-9_.-].
bool pb_eventlog_topic_valid (const char *topic);

//  Appends one event to TOPIC in the caller's open transaction. Returns its
//  seq, or -1.
int64_t pb_eventlog_append (pb_db_t *db, const char *topic, const void *payload, size_t size);

//  Appends COUNT events to TOPIC at once (payloads[i] of sizes[i] bytes) in
//  the caller's open transaction. Returns the seq of the last one (the first
//  is that minus COUNT - 1), or -1.
int64_t pb_eventlog_append_many (pb_db_t *db, const char *topic, size_t count,
                                 const void *const *payloads, const size_t *sizes);

//  Calls FN for up to LIMIT committed events of TOPIC with seq > AFTER, in
//  seq order. Returns how many were passed to FN, or -1.
int pb_eventlog_read (pb_db_t *db, const char *topic, int64_t after, int limit, pb_event_fn *fn,
                      void *arg);

//  Returns the seq of TOPIC's last committed event (0 when it has none), or -1.
int64_t pb_eventlog_head (pb_db_t *db, const char *topic);

//  Returns CONSUMER's cursor in TOPIC: the last seq it has consumed, 0 if it
//  has none yet, -1 on error.
int64_t pb_eventlog_cursor (pb_db_t *db, const char *consumer, const char *topic);

//  Moves CONSUMER's cursor in TOPIC forward to SEQ (never backward). Run it
//  inside the transaction that applied the events. Returns 0 or -1.
int pb_eventlog_cursor_set (pb_db_t *db, const char *consumer, const char *topic, int64_t seq);

#endif
