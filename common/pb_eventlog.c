/*  pb_eventlog — append in commit order, read after a cursor. */
#include "pb_eventlog.h"
#include "pb_log.h"

#include <stdlib.h>
#include <string.h>

//  One statement per batch: reserve COUNT numbers on the head row (taking its
//  lock until commit) and insert every event numbered from there.
static const char *const APPEND_SQL =
    "WITH head AS (UPDATE event_log_head SET last_seq = last_seq + $3 RETURNING last_seq),"
    " inserted AS (INSERT INTO event_log (seq, topic, payload)"
    "  SELECT head.last_seq - $3 + e.ordinal, e.topic, e.payload"
    "  FROM head, unnest ($1::text[], $2::bytea[]) WITH ORDINALITY AS e (topic, payload, ordinal))"
    " SELECT last_seq FROM head";

int64_t pb_eventlog_append (pb_db_t *db, const char *topic, const void *payload, size_t size)
{
    const char *topics[] = {topic};
    const void *payloads[] = {payload};
    size_t sizes[] = {size};
    return pb_eventlog_append_many (db, 1, topics, payloads, sizes);
}

int64_t pb_eventlog_append_many (pb_db_t *db, size_t count, const char *const *topics,
                                 const void *const *payloads, const size_t *sizes)
{
    if (count == 0)
        return pb_eventlog_head (db);
    pb_db_array_t *topic_array = pb_db_array_new (PB_DB_TEXT);
    pb_db_array_t *payload_array = pb_db_array_new (PB_DB_BYTEA);
    int64_t last_seq = -1;
    if (!topic_array || !payload_array)
        goto done;
    for (size_t i = 0; i < count; i++) {
        size_t topic_len = strlen (topics[i]);
        if (topic_len == 0 || topic_len > PB_EVENT_TOPIC_MAX) {
            pb_error ("event topic of %zu bytes: must be 1..%d", topic_len, PB_EVENT_TOPIC_MAX);
            goto done;
        }
        if (pb_db_array_add (topic_array, topics[i], topic_len) ||
            pb_db_array_add (payload_array, payloads[i], sizes[i]))
            goto done;
    }
    pb_db_params_t params = {0};
    pb_db_params_array (&params, topic_array);
    pb_db_params_array (&params, payload_array);
    pb_db_params_int (&params, (int64_t)count);
    PGresult *result = pb_db_query (db, APPEND_SQL, &params);
    if (result) {
        last_seq = strtoll (PQgetvalue (result, 0, 0), NULL, 10);
        PQclear (result);
    }
done:
    pb_db_array_destroy (&topic_array);
    pb_db_array_destroy (&payload_array);
    return last_seq;
}

int pb_eventlog_read (pb_db_t *db, int64_t after, int limit, pb_event_fn *fn, void *arg)
{
    pb_db_params_t params = {.binary_result = true};
    pb_db_params_int (&params, after);
    pb_db_params_int (&params, limit);
    PGresult *result = pb_db_query (
        db, "SELECT seq, topic, payload FROM event_log WHERE seq > $1 ORDER BY seq LIMIT $2",
        &params);
    if (!result)
        return -1;
    int rows = PQntuples (result);
    int delivered = 0;
    char topic[PB_EVENT_TOPIC_MAX + 1];
    for (int row = 0; row < rows; row++) {
        int topic_len = PQgetlength (result, row, 1);
        if (topic_len > PB_EVENT_TOPIC_MAX)
            topic_len = PB_EVENT_TOPIC_MAX;
        memcpy (topic, PQgetvalue (result, row, 1), (size_t)topic_len);
        topic[topic_len] = '\0';
        pb_event_t event = {
            .seq = pb_db_binary_int (result, row, 0),
            .topic = topic,
            .payload = PQgetvalue (result, row, 2),
            .size = (size_t)PQgetlength (result, row, 2),
        };
        delivered++;
        if (fn (&event, arg))
            break;
    }
    PQclear (result);
    return delivered;
}

int64_t pb_eventlog_head (pb_db_t *db)
{
    //  The head row counts reserved numbers, including those of transactions
    //  still open; the log itself holds only committed events.
    PGresult *result = pb_db_query (db, "SELECT coalesce (max (seq), 0) FROM event_log", NULL);
    if (!result)
        return -1;
    int64_t head = strtoll (PQgetvalue (result, 0, 0), NULL, 10);
    PQclear (result);
    return head;
}

int64_t pb_eventlog_cursor (pb_db_t *db, const char *consumer)
{
    pb_db_params_t params = {0};
    pb_db_params_text (&params, consumer);
    PGresult *result =
        pb_db_query (db, "SELECT last_seq FROM event_cursor WHERE consumer = $1", &params);
    if (!result)
        return -1;
    int64_t cursor = PQntuples (result) ? strtoll (PQgetvalue (result, 0, 0), NULL, 10) : 0;
    PQclear (result);
    return cursor;
}

int pb_eventlog_cursor_set (pb_db_t *db, const char *consumer, int64_t seq)
{
    pb_db_params_t params = {0};
    pb_db_params_text (&params, consumer);
    pb_db_params_int (&params, seq);
    return pb_db_run (db,
                      "INSERT INTO event_cursor (consumer, last_seq) VALUES ($1, $2)"
                      " ON CONFLICT (consumer) DO UPDATE"
                      " SET last_seq = greatest (event_cursor.last_seq, excluded.last_seq),"
                      " updated_at = now ()",
                      &params) < 0
               ? -1
               : 0;
}
