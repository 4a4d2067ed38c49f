/*  pb_eventlog — append in commit order per topic, read after a cursor. */
#include "pb_eventlog.h"
#include "pb_log.h"

#include <stdlib.h>
#include <string.h>

//  One statement per batch: reserve COUNT numbers on the topic's row (taking
//  its lock until commit, creating it on first use) and insert every event
//  numbered from there.
static const char *const APPEND_SQL =
    "WITH head AS (INSERT INTO event_topic AS t (topic, last_seq) VALUES ($1, $3)"
    "  ON CONFLICT (topic) DO UPDATE SET last_seq = t.last_seq + excluded.last_seq"
    "  RETURNING last_seq),"
    " inserted AS (INSERT INTO event_log (topic, seq, payload)"
    "  SELECT $1, head.last_seq - $3 + e.ordinal, e.payload"
    "  FROM head, unnest ($2::bytea[]) WITH ORDINALITY AS e (payload, ordinal))"
    " SELECT last_seq FROM head";

bool pb_eventlog_topic_valid (const char *topic)
{
    size_t length = strlen (topic);
    if (length == 0 || length > PB_EVENT_TOPIC_MAX)
        return false;
    for (size_t i = 0; i < length; i++) {
        char c = topic[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

int64_t pb_eventlog_append (pb_db_t *db, const char *topic, const void *payload, size_t size)
{
    const void *payloads[] = {payload};
    size_t sizes[] = {size};
    return pb_eventlog_append_many (db, topic, 1, payloads, sizes);
}

int64_t pb_eventlog_append_many (pb_db_t *db, const char *topic, size_t count,
                                 const void *const *payloads, const size_t *sizes)
{
    if (!pb_eventlog_topic_valid (topic)) {
        pb_error ("event topic '%.40s' is not 1..%d bytes of [a-z0-9_.-]", topic,
                  PB_EVENT_TOPIC_MAX);
        return -1;
    }
    if (count == 0)
        return pb_eventlog_head (db, topic);
    pb_db_array_t *payload_array = pb_db_array_new (PB_DB_BYTEA);
    int64_t last_seq = -1;
    if (!payload_array)
        return -1;
    for (size_t i = 0; i < count; i++)
        if (pb_db_array_add (payload_array, payloads[i], sizes[i])) {
            pb_db_array_destroy (&payload_array);
            return -1;
        }
    pb_db_params_t params = {0};
    pb_db_params_text (&params, topic);
    pb_db_params_array (&params, payload_array);
    pb_db_params_int (&params, (int64_t)count);
    PGresult *result = pb_db_query (db, APPEND_SQL, &params);
    if (result) {
        last_seq = strtoll (PQgetvalue (result, 0, 0), NULL, 10);
        PQclear (result);
    }
    pb_db_array_destroy (&payload_array);
    return last_seq;
}

int pb_eventlog_read (pb_db_t *db, const char *topic, int64_t after, int limit, pb_event_fn *fn,
                      void *arg)
{
    pb_db_params_t params = {.binary_result = true};
    pb_db_params_text (&params, topic);
    pb_db_params_int (&params, after);
    pb_db_params_int (&params, limit);
    PGresult *result = pb_db_query (db,
                                    "SELECT seq, payload FROM event_log"
                                    " WHERE topic = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                                    &params);
    if (!result)
        return -1;
    int rows = PQntuples (result);
    int delivered = 0;
    for (int row = 0; row < rows; row++) {
        pb_event_t event = {
            .topic = topic,
            .seq = pb_db_binary_int (result, row, 0),
            .payload = PQgetvalue (result, row, 1),
            .size = (size_t)PQgetlength (result, row, 1),
        };
        delivered++;
        if (fn (&event, arg))
            break;
    }
    PQclear (result);
    return delivered;
}

int64_t pb_eventlog_head (pb_db_t *db, const char *topic)
{
    //  event_topic counts numbers reserved by transactions still open too;
    //  the log itself holds only committed events.
    pb_db_params_t params = {0};
    pb_db_params_text (&params, topic);
    PGresult *result =
        pb_db_query (db, "SELECT coalesce (max (seq), 0) FROM event_log WHERE topic = $1", &params);
    if (!result)
        return -1;
    int64_t head = strtoll (PQgetvalue (result, 0, 0), NULL, 10);
    PQclear (result);
    return head;
}

int64_t pb_eventlog_cursor (pb_db_t *db, const char *consumer, const char *topic)
{
    pb_db_params_t params = {0};
    pb_db_params_text (&params, consumer);
    pb_db_params_text (&params, topic);
    PGresult *result = pb_db_query (
        db, "SELECT last_seq FROM event_cursor WHERE consumer = $1 AND topic = $2", &params);
    if (!result)
        return -1;
    int64_t cursor = PQntuples (result) ? strtoll (PQgetvalue (result, 0, 0), NULL, 10) : 0;
    PQclear (result);
    return cursor;
}

int pb_eventlog_cursor_set (pb_db_t *db, const char *consumer, const char *topic, int64_t seq)
{
    pb_db_params_t params = {0};
    pb_db_params_text (&params, consumer);
    pb_db_params_text (&params, topic);
    pb_db_params_int (&params, seq);
    int64_t rows = pb_db_run (db,
                              "INSERT INTO event_cursor (consumer, topic, last_seq)"
                              " VALUES ($1, $2, $3) ON CONFLICT (consumer, topic) DO UPDATE"
                              " SET last_seq = greatest (event_cursor.last_seq, excluded.last_seq),"
                              " updated_at = now ()",
                              &params);
    return rows < 0 ? -1 : 0;
}
