/*  schedule — see schedule.h. */
#include "schedule.h"

#include <stdlib.h>

#define QUEUE_LOCK 0x70627371 //  advisory lock key of queueing ("pbsq")

int schedule_lease (pb_db_t *db, const char *holder, int64_t ttl_ms)
{
    pb_db_params_t params = {0};
    pb_db_params_text (&params, holder);
    pb_db_params_int (&params, ttl_ms);
    //  The lease runs on PostgreSQL's clock, shared by every process.
    return (int)pb_db_run (db,
                           "INSERT INTO notify_lease (name, holder, expires_at) "
                           "VALUES ('scheduler', $1, now () + make_interval (secs => $2::float8 / 1000)) "
                           "ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, "
                           "  expires_at = EXCLUDED.expires_at "
                           "WHERE notify_lease.holder = EXCLUDED.holder "
                           "   OR notify_lease.expires_at < now ()",
                           &params);
}

typedef struct {
    int64_t now_ms;
    bool force;
    schedule_run_t *run;
} queue_tx_t;

static int s_queue_tx (pb_db_t *db, void *arg)
{
    queue_tx_t *tx = arg;
    pb_db_params_t params = {0};
    pb_db_params_int (&params, QUEUE_LOCK);
    if (pb_db_run (db, "SELECT pg_advisory_xact_lock ($1)", &params) < 0)
        return -1;
    params = (pb_db_params_t){0};
    pb_db_params_int (&params, tx->now_ms);
    pb_db_params_text (&params, tx->force ? "true" : "false");
    //  The UPDATE checks the period against last_period again under the
    //  row lock, so a period is marked, and queued, once.
    PGresult *result = pb_db_query (
        db,
        "WITH due AS (SELECT s.id, s.email, notify_due_period (s.cadence, s.send_hour, "
        "    s.time_zone, s.confirmed_at, to_timestamp ($1::float8 / 1000), $2::boolean) AS period "
        "  FROM subscription s WHERE s.bouncing_since IS NULL), "
        "marked AS (UPDATE subscription s SET last_period = due.period FROM due "
        "  WHERE s.id = due.id AND due.period IS NOT NULL "
        "    AND (s.last_period IS NULL OR due.period > s.last_period) "
        "  RETURNING s.id, s.email, due.period), "
        "queued AS (INSERT INTO mail_job (kind, subscription_id, email, period, due_at) "
        "  SELECT 'digest', id, email, period, to_timestamp ($1::float8 / 1000) FROM marked "
        "  ORDER BY id ON CONFLICT (subscription_id, period) DO NOTHING RETURNING id) "
        "SELECT count(*), coalesce (min (id), 0), coalesce (max (id), 0) FROM queued",
        &params);
    if (!result)
        return -1;
    tx->run->queued = strtoll (PQgetvalue (result, 0, 0), NULL, 10);
    tx->run->first_job = strtoll (PQgetvalue (result, 0, 1), NULL, 10);
    tx->run->last_job = strtoll (PQgetvalue (result, 0, 2), NULL, 10);
    PQclear (result);
    if (tx->run->queued > 0 && pb_db_run (db, "NOTIFY mail_job", NULL) < 0)
        return -1;
    return 0;
}

int schedule_queue (pb_db_t *db, int64_t now_ms, bool force, schedule_run_t *run)
{
    *run = (schedule_run_t){0};
    queue_tx_t tx = {now_ms, force, run};
    return pb_db_transaction (db, s_queue_tx, &tx);
}

int schedule_tidy (pb_db_t *db, int64_t now_ms)
{
    pb_db_params_t params = {0};
    pb_db_params_int (&params, now_ms);
    if (pb_db_run (db,
                   "DELETE FROM subscription_request "
                   "WHERE expires_at < to_timestamp ($1::float8 / 1000)",
                   &params) < 0)
        return -1;
    return pb_db_run (db,
                      "DELETE FROM mail_job WHERE kind = 'confirm' AND state <> 'queued' "
                      "AND done_at < to_timestamp ($1::float8 / 1000) - interval '7 days'",
                      &params) < 0
               ? -1
               : 0;
}
