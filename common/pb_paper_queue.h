/*  pb_paper_queue — the papers named by paper.ingested, handed on in
    batches.

    A service that keeps papers in memory (index, rank) follows
    paper.ingested and must read each named paper again from PostgreSQL.
    One read per event would be one query per paper in a bulk ingest; the
    queue gathers the ids and hands them to the service's reader together,
    when PB_PAPER_QUEUE_MAX are waiting or every FLUSH_MS on the loop's
    timer. A reader that fails keeps the batch for the next try, and the
    subscriber is asked to offer the event again when the queue is full.
*/
#ifndef PB_PAPER_QUEUE_H
#define PB_PAPER_QUEUE_H

#include "pb_eventlog.h"
#include <czmq.h>

#define PB_PAPER_QUEUE_MAX 500

typedef struct _pb_paper_queue_t pb_paper_queue_t;

//  Reads papers IDS (COUNT) again. Returns 0, or -1 to keep them for a retry.
typedef int (pb_paper_reader_fn) (const char *const *ids, size_t count, void *arg);

pb_paper_queue_t *pb_paper_queue_new (pb_paper_reader_fn *reader, void *arg);

//  Accepts NULL; sets *self_p to NULL.
void pb_paper_queue_destroy (pb_paper_queue_t **self_p);

//  The subscriber handler for paper.ingested (pb_subscriber_follow with the
//  queue as its argument).
int pb_paper_queue_on_event (const pb_event_t *event, void *arg);

//  Hands on what is waiting now. Returns 0, or -1 when the reader failed.
int pb_paper_queue_flush (pb_paper_queue_t *self);

//  Flushes every FLUSH_MS on LOOP.
void pb_paper_queue_attach (pb_paper_queue_t *self, zloop_t *loop, int flush_ms);

#endif
