/*  store — a batch of records into PostgreSQL, with its events, at once. */
#ifndef STORE_H
#define STORE_H

#include "records.h"

//  What happened to one record.
typedef enum { STORE_UNCHANGED, STORE_INSERTED, STORE_UPDATED } store_change_t;

//  Stores COUNT records from SOURCE in one transaction: new papers are
//  inserted, newer versions (or same versions with more data) replace what
//  is stored, anything else changes nothing. Each change appends its
//  paper.ingested event in the same transaction; HF upvotes are recorded
//  as signals (signal_observe), with signal.recorded events when they rose; EXTRA, when given, runs
//  last in the same transaction. CHANGES[i] receives each record's fate; EVENTS receives the events
//  to publish after commit (as msgpack bodies with their seqs). Returns 0 once committed, -1 after
//  logging why not.
typedef struct {
    const char *topic;    //  paper.ingested, or signal.recorded for upvotes that rose
    int64_t seq;          //  the event's seq in its topic
    msgpack_sbuffer body; //  its body
} store_event_t;

//  More work for the same transaction (a harvest moving its cursor): return
//  0, or -1 to roll everything back.
typedef int (store_extra_fn) (pb_db_t *db, void *arg);

int store_batch (pb_db_t *db, const char *source, record_t *records, size_t count,
                 store_change_t *changes, store_event_t **events, size_t *event_count,
                 store_extra_fn *extra, void *extra_arg);

//  Frees the events store_batch returned.
void store_events_free (store_event_t **events, size_t count);

#endif
