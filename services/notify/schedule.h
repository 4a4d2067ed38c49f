/*  schedule — when digests are due, and queueing them.

    Every notify process runs the scheduler's clock, but only the one
    holding the lease (a row in notify_lease, renewed on each tick) queues
    digests: one scheduler at a time, and another takes over within a lease
    when it dies. Queueing is one statement that, for every subscription
    whose current period (notify_due_period, migration 0007) is newer than
    the last one queued, marks that period and inserts its job; a
    transaction-scoped advisory lock serialises it with any other queueing
    (`paperctl digests run` on another process), and (subscription, period)
    is unique besides, so a period is never queued twice.
*/
#ifndef SCHEDULE_H
#define SCHEDULE_H

#include "paperbus.h"

//  What one queueing did.
typedef struct {
    int64_t queued;    //  digests queued
    int64_t first_job; //  smallest job id queued, 0 for none
    int64_t last_job;  //  largest job id queued, 0 for none
} schedule_run_t;

//  Takes or renews the scheduler lease for HOLDER for TTL_MS. Returns 1 if
//  HOLDER holds it now, 0 if another process does, -1 on error.
int schedule_lease (pb_db_t *db, const char *holder, int64_t ttl_ms);

//  Queues every digest due at NOW_MS (FORCE: every current period, before
//  its hour too) and wakes the senders. Returns 0 with RUN filled, or -1.
int schedule_queue (pb_db_t *db, int64_t now_ms, bool force, schedule_run_t *run);

//  Forgets what is no longer needed: expired requests, and confirmation
//  jobs finished a week ago (they hold an address). Returns 0 or -1.
int schedule_tidy (pb_db_t *db, int64_t now_ms);

#endif
