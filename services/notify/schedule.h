/*  schedule — when digests are due, and queueing them.

    Every notify process runs a scheduler thread, but only the one holding
    the lease (a row in notify_lease, renewed as it works) queues digests:
    one scheduler at a time, and another takes over within a lease when it
    dies. It queues on its clock (every PAPERBUS_NOTIFY_SCHEDULE_MS) and for
    each digest_run that notify.run recorded, woken by a NOTIFY.

    Queueing goes through the subscriptions in chunks, one transaction each
    (so the senders start on the first chunk while the next is queued): for
    every subscription whose current period (notify_due_period, migration
    0007) is newer than the last one queued, it marks that period and
    inserts its job. A transaction-scoped advisory lock serialises chunks
    with any other queueing, and (subscription, period) is unique besides,
    so a period is never queued twice, whatever runs at once.
*/
#ifndef SCHEDULE_H
#define SCHEDULE_H

#include "paperbus.h"

//  Takes or renews the scheduler lease for HOLDER for TTL_MS. Returns 1 if
//  HOLDER holds it now, 0 if another process does, -1 on error.
int schedule_lease (pb_db_t *db, const char *holder, int64_t ttl_ms);

//  Gives up the lease if HOLDER has it, so that another process takes over
//  at once.
void schedule_release (pb_db_t *db, const char *holder);

//  Queues every digest due at NOW_MS (FORCE: every current period, before
//  its hour too), marking the jobs with RUN (0 for none), and wakes the
//  senders. Returns the number queued, or -1.
int64_t schedule_queue (pb_db_t *db, int64_t now_ms, bool force, int64_t run);

//  Records a run for notify.run, at NOW_MS, and wakes the scheduler.
//  Returns its number, or -1.
int64_t schedule_request_run (pb_db_t *db, int64_t now_ms, bool force);

//  Queues the digests of every run not done yet, oldest first, and marks
//  each done. Returns 0, or -1 (the rest waits for the next call).
int schedule_pending_runs (pb_db_t *db);

//  Forgets what is no longer needed: expired requests (sign-in requests an
//  hour later) and sessions, confirmation jobs finished a week ago (they
//  hold an address), runs older than a month.
//  Returns 0 or -1.
int schedule_tidy (pb_db_t *db, int64_t now_ms);

//  What schedule_actor needs.
typedef struct {
    pb_config_t *config; //  settings
    char holder[128];    //  this process, as the lease names it
} schedule_args_t;

//  The body of the zactor of the scheduler thread (ARGS: schedule_args_t),
//  until $TERM. Says "ready" once started, or "failed" (having logged why).
void schedule_actor (zsock_t *pipe, void *args);

#endif
