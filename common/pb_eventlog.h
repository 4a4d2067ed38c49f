/*  pb_eventlog — the durable event log in PostgreSQL.

    A writer appends events inside its own transaction, after its other
    writes: appending takes the log's head row lock, held until commit, which
    makes sequence numbers follow commit order with no holes (see
    deploy/migrations/0001_event_log.sql). So a reader that asks for "events
    after N" in seq order never skips one, however many writers run at once.
    The lock is also why appending belongs at the end of a transaction: it
    serialises only the last moments of concurrent writers.

    Consumers keep their position as a cursor row, which they move in the
    same transaction as the effects of the events they consumed.
*/
#ifndef PB_EVENTLOG_H
#define PB_EVENTLOG_H

#include "pb_db.h"

#define PB_EVENT_TOPIC_MAX 128

//  One event as read back from the log.
typedef struct {
    int64_t seq;         //  position in the log, from 1, no holes
    const char *topic;   //  "paper.ingested", ...
    const void *payload; //  msgpack body
    size_t size;         //  payload bytes
} pb_event_t;

//  Called for each event read; return 0 to go on, -1 to stop.
typedef int (pb_event_fn) (const pb_event_t *event, void *arg);

//  Appends one event in the caller's open transaction. Returns its seq, or -1.
int64_t pb_eventlog_append (pb_db_t *db, const char *topic, const void *payload, size_t size);

//  Appends COUNT events at once (topics[i], payloads[i] of sizes[i] bytes) in
//  the caller's open transaction. Returns the seq of the last one (the first
//  is that minus COUNT - 1), or -1.
int64_t pb_eventlog_append_many (pb_db_t *db, size_t count, const char *const *topics,
                                 const void *const *payloads, const size_t *sizes);

//  Calls FN for up to LIMIT committed events with seq > AFTER, in seq order.
//  Returns how many were passed to FN, or -1.
int pb_eventlog_read (pb_db_t *db, int64_t after, int limit, pb_event_fn *fn, void *arg);

//  Returns the seq of the last committed event (0 for an empty log), or -1.
int64_t pb_eventlog_head (pb_db_t *db);

//  Returns CONSUMER's cursor: the last seq it has consumed, 0 if it has none
//  yet, -1 on error.
int64_t pb_eventlog_cursor (pb_db_t *db, const char *consumer);

//  Moves CONSUMER's cursor forward to SEQ (never backward). Run it inside the
//  transaction that applied the events. Returns 0 or -1.
int pb_eventlog_cursor_set (pb_db_t *db, const char *consumer, int64_t seq);

#endif
