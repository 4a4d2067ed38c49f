/*  schedule — see schedule.h. */
#include "schedule.h"

#include <stdlib.h>

#define QUEUE_LOCK 0x70627371 //  advisory lock key of queueing ("pbsq")
#define CHUNK      2000       //  subscriptions per transaction (about 0.1 s)

int schedule_lease (pb_db_t *db, const char *holder, int64_t ttl_ms)
{
    pb_db_params_t params = {0};
    pb_db_params_text (&params, holder);
    pb_db_params_int (&params, ttl_ms);
    //  The lease runs on PostgreSQL's clock, shared by every process.
    return (int)pb_db_run (
        db,
        "INSERT INTO notify_lease (name, holder, expires_at) "
        "VALUES ('scheduler', $1, now () + make_interval (secs => $2::float8 / 1000)) "
        "ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, "
        "  expires_at = EXCLUDED.expires_at "
        "WHERE notify_lease.holder = EXCLUDED.holder "
        "   OR notify_lease.expires_at < now ()",
        &params);
}

void schedule_release (pb_db_t *db, const char *holder)
{
    pb_db_params_t params = {0};
    pb_db_params_text (&params, holder);
    pb_db_run (db, "DELETE FROM notify_lease WHERE name = 'scheduler' AND holder = $1", &params);
}

typedef struct {
    int64_t now_ms; //  the time taken for now
    bool force;     //  every current period, before its hour too
    int64_t run;    //  the run marking the jobs, 0 for none
    int64_t after;  //  the chunk starts after this subscription id
    int64_t last;   //  out: the chunk's last subscription id, 0 when none was left
    int64_t queued; //  out: jobs queued by the chunk
} chunk_tx_t;

static int s_chunk_tx (pb_db_t *db, void *arg)
{
    chunk_tx_t *tx = arg;
    pb_db_params_t params = {0};
    pb_db_params_int (&params, QUEUE_LOCK);
    if (pb_db_run (db, "SELECT pg_advisory_xact_lock ($1)", &params) < 0)
        return -1;
    params = (pb_db_params_t){0};
    pb_db_params_int (&params, tx->now_ms);
    pb_db_params_text (&params, tx->force ? "true" : "false");
    pb_db_params_int (&params, tx->after);
    pb_db_params_int (&params, CHUNK);
    pb_db_params_int (&params, tx->run);
    //  The UPDATE checks the period against last_period again under the
    //  row lock, so a period is marked, and queued, once.
    PGresult *result = pb_db_query (
        db,
        "WITH chunk AS (SELECT id FROM subscription WHERE id > $3 ORDER BY id LIMIT $4), "
        "due AS (SELECT s.id, s.email, notify_due_period (s.cadence, s.send_hour, "
        "    s.time_zone, s.confirmed_at, to_timestamp ($1::float8 / 1000), $2::boolean) AS period "
        "  FROM subscription s JOIN chunk USING (id) WHERE s.bouncing_since IS NULL), "
        "marked AS (UPDATE subscription s SET last_period = due.period FROM due "
        "  WHERE s.id = due.id AND due.period IS NOT NULL "
        "    AND (s.last_period IS NULL OR due.period > s.last_period) "
        "  RETURNING s.id, s.email, due.period), "
        "queued AS (INSERT INTO mail_job (kind, subscription_id, email, period, due_at, run_id) "
        "  SELECT 'digest', id, email, period, to_timestamp ($1::float8 / 1000), "
        "         nullif ($5::bigint, 0) FROM marked "
        "  ORDER BY id ON CONFLICT (subscription_id, period) DO NOTHING RETURNING id) "
        "SELECT (SELECT count(*) FROM queued), (SELECT coalesce (max (id), 0) FROM chunk)",
        &params);
    if (!result)
        return -1;
    tx->queued = strtoll (PQgetvalue (result, 0, 0), NULL, 10);
    tx->last = strtoll (PQgetvalue (result, 0, 1), NULL, 10);
    PQclear (result);
    if (tx->queued > 0 && pb_db_run (db, "NOTIFY mail_job", NULL) < 0)
        return -1;
    return 0;
}

int64_t schedule_queue (pb_db_t *db, int64_t now_ms, bool force, int64_t run)
{
    chunk_tx_t tx = {.now_ms = now_ms, .force = force, .run = run};
    int64_t queued = 0;
    do {
        if (pb_db_transaction (db, s_chunk_tx, &tx))
            return -1;
        queued += tx.queued;
        tx.after = tx.last;
    } while (tx.last != 0);
    return queued;
}

int64_t schedule_request_run (pb_db_t *db, int64_t now_ms, bool force)
{
    pb_db_params_t params = {0};
    pb_db_params_text (&params, force ? "true" : "false");
    pb_db_params_int (&params, now_ms);
    //  One statement: the NOTIFY is sent when the insert commits.
    PGresult *result =
        pb_db_query (db,
                     "WITH run AS (INSERT INTO digest_run (forced, at) "
                     "  VALUES ($1::boolean, to_timestamp ($2::float8 / 1000)) RETURNING id) "
                     "SELECT id, pg_notify ('digest_run', id::text) FROM run",
                     &params);
    int64_t run =
        result && PQntuples (result) == 1 ? strtoll (PQgetvalue (result, 0, 0), NULL, 10) : -1;
    PQclear (result);
    return run;
}

int schedule_pending_runs (pb_db_t *db)
{
    for (;;) {
        PGresult *result = pb_db_query (
            db,
            "SELECT id, forced, (extract (epoch FROM at) * 1000)::bigint FROM digest_run "
            "WHERE done_at IS NULL ORDER BY id LIMIT 1",
            NULL);
        if (!result)
            return -1;
        if (PQntuples (result) == 0) {
            PQclear (result);
            return 0;
        }
        int64_t run = strtoll (PQgetvalue (result, 0, 0), NULL, 10);
        bool force = PQgetvalue (result, 0, 1)[0] == 't';
        int64_t at = strtoll (PQgetvalue (result, 0, 2), NULL, 10);
        PQclear (result);
        int64_t queued = schedule_queue (db, at, force, run);
        if (queued < 0)
            return -1;
        pb_db_params_t params = {0};
        pb_db_params_int (&params, run);
        pb_db_params_int (&params, queued);
        if (pb_db_run (db, "UPDATE digest_run SET done_at = now (), queued = $2 WHERE id = $1",
                       &params) != 1)
            return -1;
        pb_info ("run %lld: %lld digests queued%s", (long long)run, (long long)queued,
                 force ? " (now)" : "");
    }
}

int schedule_tidy (pb_db_t *db, int64_t now_ms)
{
    pb_db_params_t params = {0};
    pb_db_params_int (&params, now_ms);
    //  Sign-in requests stay an hour past expiry: the hourly limit of
    //  sign-in mails counts them (their mail jobs go with them).
    if (pb_db_run (db,
                   "DELETE FROM subscription_request "
                   "WHERE expires_at < to_timestamp ($1::float8 / 1000)",
                   &params) < 0 ||
        pb_db_run (db,
                   "DELETE FROM signin_request "
                   "WHERE expires_at < to_timestamp ($1::float8 / 1000) - interval '1 hour'",
                   &params) < 0 ||
        pb_db_run (
            db, "DELETE FROM account_session WHERE expires_at < to_timestamp ($1::float8 / 1000)",
            &params) < 0 ||
        pb_db_run (db,
                   "DELETE FROM digest_run "
                   "WHERE done_at < to_timestamp ($1::float8 / 1000) - interval '30 days'",
                   &params) < 0)
        return -1;
    return pb_db_run (db,
                      "DELETE FROM mail_job WHERE kind = 'confirm' AND state <> 'queued' "
                      "AND done_at < to_timestamp ($1::float8 / 1000) - interval '7 days'",
                      &params) < 0
               ? -1
               : 0;
}

/* ==== The scheduler thread ==== */

//  Waits up to TIMEOUT_MS for a NOTIFY on DB's connection or a message on
//  PIPE. Returns 1 when PIPE has a message.
static int s_wait (pb_db_t *db, zsock_t *pipe, int64_t timeout_ms)
{
    if (pb_db_notifications (db) > 0)
        timeout_ms = 0; //  a run was asked for while the connection was busy
    PGconn *connection = pb_db_connection (db);
    zmq_pollitem_t items[2] = {
        {zsock_resolve (pipe), 0, ZMQ_POLLIN, 0},
        {NULL, connection ? PQsocket (connection) : -1, ZMQ_POLLIN, 0},
    };
    zmq_poll (items, items[1].fd >= 0 ? 2 : 1, (long)(timeout_ms > 0 ? timeout_ms : 0));
    pb_db_notifications (db);
    return (items[0].revents & ZMQ_POLLIN) ? 1 : 0;
}

void schedule_actor (zsock_t *pipe, void *args)
{
    schedule_args_t *given = args;
    pb_db_t *db =
        pb_db_new (pb_config_str (given->config, PB_CONF_DATABASE_URL), "notify-scheduler",
                   (int)pb_config_int (given->config, PB_CONF_DB_CONNECT_TIMEOUT));
    zsock_signal (pipe, 0); //  zactor_new waits for this, whatever happened
    zstr_send (pipe, db ? "ready" : "failed");
    if (!db)
        return;
    int64_t tick_ms = pb_config_int (given->config, PB_CONF_NOTIFY_SCHEDULE_MS);
    int64_t listening_since = -1;
    int64_t next_tick = zclock_mono ();
    bool held = false;
    while (true) {
        if (listening_since != pb_db_reconnects (db) &&
            pb_db_run (db, "LISTEN digest_run", NULL) >= 0)
            listening_since = pb_db_reconnects (db);
        int lease = schedule_lease (db, given->holder, tick_ms * 3);
        if ((lease == 1) != held)
            pb_info ("%s the scheduler lease", lease == 1 ? "took" : "lost");
        held = lease == 1;
        if (held && schedule_pending_runs (db))
            pb_warn ("queueing a requested run failed (%s); tried again", pb_db_error (db));
        if (held && zclock_mono () >= next_tick) {
            int64_t now = pb_clock_now_ms ();
            int64_t queued = schedule_queue (db, now, false, 0);
            if (queued < 0)
                pb_warn ("queueing the due digests failed (%s); tried again next tick",
                         pb_db_error (db));
            else if (queued > 0)
                pb_info ("%lld digests queued", (long long)queued);
            schedule_tidy (db, now);
        }
        if (zclock_mono () >= next_tick)
            next_tick = zclock_mono () + tick_ms;
        if (s_wait (db, pipe, next_tick - zclock_mono ())) {
            char *command = zstr_recv (pipe);
            bool stop = !command || streq (command, "$TERM");
            zstr_free (&command);
            if (stop)
                break;
        }
    }
    if (held)
        schedule_release (db, given->holder);
    pb_db_destroy (&db);
}
