/*  pb_db — PostgreSQL access with reconnect, prepared statements, and
    transactions that are retried whole. */
#include "pb_db.h"
#include "pb_log.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TRANSACTION_ATTEMPTS 5
#define BACKOFF_FIRST_MS     100
#define BACKOFF_MAX_MS       2000
#define ARRAY_HEADER_BYTES   20

struct _pb_db_t {
    PGconn *conn;             //  the live connection, or NULL between attempts
    char *url;                //  where to connect
    char *application;        //  application_name shown by pg_stat_activity
    int timeout_s;            //  how long to keep trying to connect
    zhashx_t *statements;     //  SQL text -> prepared statement name
    int64_t statement_serial; //  numbers the next prepared statement
    int64_t reconnects;       //  reconnections since creation
    bool in_transaction;      //  pb_db_transaction is running a body
    char error[512];          //  last failure message
    char sqlstate[6];         //  last failure SQLSTATE
};

struct _pb_db_array_t {
    pb_db_type_t type;   //  element type
    unsigned char *data; //  ARRAY_HEADER_BYTES reserved, then elements
    size_t size;         //  bytes used in data
    size_t capacity;     //  bytes allocated for data
    size_t count;        //  elements added
    bool has_nulls;      //  some element is NULL
};

/* ==== Connection ==== */

static void s_set_error (pb_db_t *self, const char *sqlstate, const char *message)
{
    snprintf (self->sqlstate, sizeof self->sqlstate, "%s", sqlstate ? sqlstate : "");
    snprintf (self->error, sizeof self->error, "%s", message ? message : "");
    //  libpq messages end in a newline; a log line must not.
    size_t len = strlen (self->error);
    while (len && (self->error[len - 1] == '\n' || self->error[len - 1] == ' '))
        self->error[--len] = '\0';
}

//  Server notices ("relation already exists, skipping") are debug detail,
//  not something to print on stderr.
static void s_notice (void *arg, const char *message)
{
    (void)arg;
    pb_debug ("PostgreSQL: %.*s", (int)strcspn (message, "\n"), message);
}

static int64_t s_now_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

//  Opens a fresh connection, retrying with backoff until the deadline.
static int s_connect (pb_db_t *self)
{
    if (self->conn) {
        PQfinish (self->conn);
        self->conn = NULL;
    }
    zhashx_purge (self->statements);
    //  TCP keepalives and a user timeout, so that a query in flight when
    //  the network to PostgreSQL goes away fails in seconds rather than
    //  waiting out TCP's retransmissions (minutes): the process reconnects
    //  and stays responsive. They come before the URL, which may override them.
    const char *keywords[] = {"keepalives",       "keepalives_idle",  "keepalives_interval",
                              "keepalives_count", "tcp_user_timeout", "dbname",
                              "application_name", "connect_timeout",  NULL};
    const char *values[] = {"1", "10", "3", "3", "10000", self->url, self->application, "5", NULL};
    int64_t deadline = s_now_ms () + (int64_t)self->timeout_s * 1000;
    int backoff_ms = BACKOFF_FIRST_MS;
    for (int attempt = 1;; attempt++) {
        PGconn *conn = PQconnectdbParams (keywords, values, 1);
        if (conn && PQstatus (conn) == CONNECTION_OK) {
            self->conn = conn;
            PQsetNoticeProcessor (conn, s_notice, NULL);
            if (attempt > 1)
                pb_info ("connected to PostgreSQL after %d attempts", attempt);
            return 0;
        }
        s_set_error (self, "08001", conn ? PQerrorMessage (conn) : "out of memory");
        PQfinish (conn);
        if (zsys_interrupted) {
            pb_info ("stopped while waiting for PostgreSQL (attempt %d): %s", attempt, self->error);
            return -1;
        }
        if (s_now_ms () + backoff_ms > deadline) {
            pb_error ("cannot reach PostgreSQL, giving up after %d attempts (%d s, "
                      "PAPERBUS_DB_CONNECT_TIMEOUT): %s",
                      attempt, self->timeout_s, self->error);
            return -1;
        }
        pb_warn ("waiting for PostgreSQL (attempt %d, next in %d ms): %s", attempt, backoff_ms,
                 self->error);
        zclock_sleep (backoff_ms);
        backoff_ms = backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff_ms * 2;
    }
}

pb_db_t *pb_db_new (const char *url, const char *application, int timeout_s)
{
    pb_db_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->url = strdup (url);
    self->application = strdup (application);
    self->timeout_s = timeout_s;
    self->statements = zhashx_new ();
    if (!self->url || !self->application || !self->statements) {
        pb_db_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->statements, (zhashx_destructor_fn *)zstr_free);
    if (s_connect (self))
        pb_db_destroy (&self);
    return self;
}

void pb_db_destroy (pb_db_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pb_db_t *self = *self_p;
    if (self->conn)
        PQfinish (self->conn);
    zhashx_destroy (&self->statements);
    free (self->url);
    free (self->application);
    free (self);
    *self_p = NULL;
}

/* ==== Statements ==== */

static bool s_connection_lost (pb_db_t *self)
{
    return !self->conn || PQstatus (self->conn) == CONNECTION_BAD;
}

static bool s_inside_transaction (pb_db_t *self)
{
    if (self->in_transaction)
        return true;
    PGTransactionStatusType status = self->conn ? PQtransactionStatus (self->conn) : PQTRANS_IDLE;
    return status == PQTRANS_INTRANS || status == PQTRANS_INERROR;
}

//  Records why RESULT failed (NULL result: the connection's message).
static void s_record_failure (pb_db_t *self, PGresult *result)
{
    if (s_connection_lost (self)) {
        s_set_error (self, "08006",
                     self->conn ? PQerrorMessage (self->conn) : "no connection to PostgreSQL");
        return;
    }
    const char *state = result ? PQresultErrorField (result, PG_DIAG_SQLSTATE) : NULL;
    s_set_error (self, state, result ? PQresultErrorMessage (result) : PQerrorMessage (self->conn));
}

//  Returns the cached prepared statement name for SQL, preparing it first.
static const char *s_prepared (pb_db_t *self, const char *sql, int param_count)
{
    const char *name = zhashx_lookup (self->statements, sql);
    if (name)
        return name;
    char fresh[32];
    snprintf (fresh, sizeof fresh, "pb_%lld", (long long)++self->statement_serial);
    PGresult *result = PQprepare (self->conn, fresh, sql, param_count, NULL);
    if (!result || PQresultStatus (result) != PGRES_COMMAND_OK) {
        s_record_failure (self, result);
        PQclear (result);
        return NULL;
    }
    PQclear (result);
    zhashx_insert (self->statements, sql, strdup (fresh));
    return zhashx_lookup (self->statements, sql);
}

static PGresult *s_execute (pb_db_t *self, const char *sql, const pb_db_params_t *params)
{
    int count = params ? params->count : 0;
    const char *name = s_prepared (self, sql, count);
    if (!name)
        return NULL;
    PGresult *result = PQexecPrepared (
        self->conn, name, count, params ? params->values : NULL, params ? params->lengths : NULL,
        params ? params->formats : NULL, params && params->binary_result ? 1 : 0);
    ExecStatusType status = result ? PQresultStatus (result) : PGRES_FATAL_ERROR;
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)
        return result;
    s_record_failure (self, result);
    PQclear (result);
    return NULL;
}

PGresult *pb_db_query (pb_db_t *self, const char *sql, const pb_db_params_t *params)
{
    if (params && params->count > PB_DB_MAX_PARAMS) {
        s_set_error (self, "54023", "too many parameters");
        return NULL;
    }
    //  In an aborted transaction every statement fails; keep the error that
    //  aborted it rather than PostgreSQL's "transaction is aborted".
    if (self->conn && PQtransactionStatus (self->conn) == PQTRANS_INERROR)
        return NULL;
    s_set_error (self, "", "");
    bool retried = false;
    for (;;) {
        if (s_connection_lost (self)) {
            if (s_inside_transaction (self)) {
                s_set_error (self, "08006", "connection to PostgreSQL lost during a transaction");
                return NULL;
            }
            if (s_connect (self))
                return NULL;
            self->reconnects++;
        }
        PGresult *result = s_execute (self, sql, params);
        if (result)
            return result;
        //  Only a lost connection outside a transaction is worth one retry.
        if (!s_connection_lost (self) || self->in_transaction || retried)
            return NULL;
        pb_warn ("lost the PostgreSQL connection (%s); reconnecting", self->error);
        retried = true;
    }
}

int64_t pb_db_run (pb_db_t *self, const char *sql, const pb_db_params_t *params)
{
    PGresult *result = pb_db_query (self, sql, params);
    if (!result)
        return -1;
    const char *affected = PQcmdTuples (result);
    int64_t rows = *affected ? strtoll (affected, NULL, 10) : 0;
    PQclear (result);
    return rows;
}

int pb_db_script (pb_db_t *self, const char *sql)
{
    if (s_connection_lost (self) && !s_inside_transaction (self)) {
        if (s_connect (self))
            return -1;
        self->reconnects++;
    }
    PGresult *result = PQexec (self->conn, sql);
    ExecStatusType status = result ? PQresultStatus (result) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
        PQclear (result);
        return 0;
    }
    s_record_failure (self, result);
    PQclear (result);
    return -1;
}

/* ==== Transactions ==== */

//  Failures after which running the transaction again can succeed.
static bool s_retryable (const char *sqlstate)
{
    return strncmp (sqlstate, "08", 2) == 0    //  connection exception
           || strcmp (sqlstate, "40001") == 0  //  serialization failure
           || strcmp (sqlstate, "40P01") == 0  //  deadlock detected
           || strcmp (sqlstate, "57P01") == 0; //  admin shutdown (restart)
}

//  Ends a failed transaction, keeping the error that failed it.
static void s_abandon_transaction (pb_db_t *self)
{
    if (s_connection_lost (self) || PQtransactionStatus (self->conn) == PQTRANS_IDLE)
        return;
    char sqlstate[sizeof self->sqlstate];
    char error[sizeof self->error];
    memcpy (sqlstate, self->sqlstate, sizeof sqlstate);
    memcpy (error, self->error, sizeof error);
    PQclear (PQexec (self->conn, "ROLLBACK"));
    memcpy (self->sqlstate, sqlstate, sizeof sqlstate);
    memcpy (self->error, error, sizeof error);
}

int pb_db_transaction (pb_db_t *self, pb_db_transaction_fn *body, void *arg)
{
    for (int attempt = 1;; attempt++) {
        if (pb_db_run (self, "BEGIN", NULL) >= 0) {
            //  From here to the end of COMMIT a lost connection must fail the
            //  statement, never reconnect and carry on outside the transaction:
            //  a COMMIT sent again on a new connection "succeeds" with nothing
            //  to commit.
            self->in_transaction = true;
            int outcome = body (self, arg);
            if (outcome == 0) {
                //  A body that ignored a failed statement leaves the
                //  transaction aborted; COMMIT would quietly roll it back.
                if (PQtransactionStatus (self->conn) != PQTRANS_INTRANS) {
                    if (self->sqlstate[0] == '\0')
                        s_set_error (self, "25P02", "transaction aborted by an earlier error");
                } else if (pb_db_run (self, "COMMIT", NULL) >= 0) {
                    self->in_transaction = false;
                    s_set_error (self, "", "");
                    return 0;
                }
            }
            self->in_transaction = false;
        }
        s_abandon_transaction (self);
        if (!s_retryable (self->sqlstate) || attempt == TRANSACTION_ATTEMPTS)
            return -1;
        //  A lost connection is reopened by the next BEGIN. When COMMIT
        //  itself was cut off its outcome is unknown; running the body again
        //  is safe because every paperbus write is idempotent.
        pb_warn ("transaction failed (%s: %s), running it again (attempt %d of %d)", self->sqlstate,
                 self->error, attempt + 1, TRANSACTION_ATTEMPTS);
    }
}

const char *pb_db_error (pb_db_t *self)
{
    return self->error;
}

const char *pb_db_sqlstate (pb_db_t *self)
{
    return self->sqlstate;
}

PGconn *pb_db_connection (pb_db_t *self)
{
    return self->conn;
}

int pb_db_notifications (pb_db_t *self)
{
    PGconn *connection = self->conn;
    int count = 0;
    if (connection && PQconsumeInput (connection)) {
        PGnotify *notify;
        while ((notify = PQnotifies (connection)) != NULL) {
            PQfreemem (notify);
            count++;
        }
    }
    return count;
}

int64_t pb_db_reconnects (pb_db_t *self)
{
    return self->reconnects;
}

/* ==== Parameters ==== */

static int s_next_param (pb_db_params_t *params)
{
    //  Overflow is a programming error; pb_db_query rejects count > max.
    if (params->count >= PB_DB_MAX_PARAMS) {
        params->count = PB_DB_MAX_PARAMS + 1;
        return -1;
    }
    return params->count++;
}

void pb_db_params_text (pb_db_params_t *params, const char *text)
{
    int index = s_next_param (params);
    if (index < 0)
        return;
    params->values[index] = text;
    params->lengths[index] = 0;
    params->formats[index] = 0;
}

void pb_db_params_int (pb_db_params_t *params, int64_t value)
{
    int index = s_next_param (params);
    if (index < 0)
        return;
    snprintf (params->numbers[index], sizeof params->numbers[index], "%lld", (long long)value);
    params->values[index] = params->numbers[index];
    params->lengths[index] = 0;
    params->formats[index] = 0;
}

void pb_db_params_bytes (pb_db_params_t *params, const void *data, size_t size)
{
    int index = s_next_param (params);
    if (index < 0)
        return;
    //  A zero-length binary value must still be non-NULL, or it means NULL.
    params->values[index] = data ? data : "";
    params->lengths[index] = (int)size;
    params->formats[index] = 1;
}

/* ==== Array parameters (PostgreSQL binary array format) ==== */

static void s_put_be32 (unsigned char *p, uint32_t value)
{
    uint32_t be = htonl (value);
    memcpy (p, &be, 4);
}

static const uint32_t s_element_oid[] = {[PB_DB_TEXT] = 25, [PB_DB_BYTEA] = 17, [PB_DB_INT8] = 20};

pb_db_array_t *pb_db_array_new (pb_db_type_t type)
{
    pb_db_array_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->type = type;
    self->capacity = 1024;
    self->data = malloc (self->capacity);
    if (!self->data) {
        free (self);
        return NULL;
    }
    self->size = ARRAY_HEADER_BYTES;
    return self;
}

void pb_db_array_destroy (pb_db_array_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->data);
    free (*self_p);
    *self_p = NULL;
}

int pb_db_array_add (pb_db_array_t *self, const void *data, size_t size)
{
    if (size > INT32_MAX)
        return -1;
    if (self->size + 4 + size > self->capacity) {
        size_t capacity = self->capacity * 2;
        while (capacity < self->size + 4 + size)
            capacity *= 2;
        unsigned char *grown = realloc (self->data, capacity);
        if (!grown)
            return -1;
        self->data = grown;
        self->capacity = capacity;
    }
    s_put_be32 (self->data + self->size, (uint32_t)size);
    if (size)
        memcpy (self->data + self->size + 4, data, size);
    self->size += 4 + size;
    self->count++;
    return 0;
}

int pb_db_array_add_int (pb_db_array_t *self, int64_t value)
{
    unsigned char be[8];
    uint64_t bits = (uint64_t)value;
    for (int i = 7; i >= 0; i--, bits >>= 8)
        be[i] = (unsigned char)bits;
    return pb_db_array_add (self, be, 8);
}

int pb_db_array_add_null (pb_db_array_t *self)
{
    //  A NULL element is a length of -1 and no bytes.
    if (pb_db_array_add (self, NULL, 0))
        return -1;
    s_put_be32 (self->data + self->size - 4, UINT32_MAX);
    self->has_nulls = true;
    return 0;
}

size_t pb_db_array_count (pb_db_array_t *self)
{
    return self->count;
}

void pb_db_params_array (pb_db_params_t *params, pb_db_array_t *array)
{
    //  The header (dimensions, flags, element type, size, lower bound) goes
    //  in the reserved space now that the count is known. An empty array has
    //  no dimension, so its shorter header ends where the elements would start.
    unsigned char *header = array->data;
    uint32_t oid = s_element_oid[array->type];
    if (array->count == 0) {
        header += ARRAY_HEADER_BYTES - 12;
        s_put_be32 (header, 0);
        s_put_be32 (header + 4, 0);
        s_put_be32 (header + 8, oid);
    } else {
        s_put_be32 (header, 1);
        s_put_be32 (header + 4, array->has_nulls ? 1 : 0);
        s_put_be32 (header + 8, oid);
        s_put_be32 (header + 12, (uint32_t)array->count);
        s_put_be32 (header + 16, 1);
    }
    pb_db_params_bytes (params, header, array->size - (size_t)(header - array->data));
}

int64_t pb_db_binary_int (const PGresult *result, int row, int column)
{
    const unsigned char *value = (const unsigned char *)PQgetvalue (result, row, column);
    int length = PQgetlength (result, row, column);
    uint64_t bits = 0;
    for (int i = 0; i < length && i < 8; i++)
        bits = (bits << 8) | value[i];
    if (length == 4)
        return (int32_t)bits;
    return (int64_t)bits;
}
