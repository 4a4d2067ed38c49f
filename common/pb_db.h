/*  pb_db — one PostgreSQL connection, used the paperbus way.

    - Connects with retry and exponential backoff for up to a bounded time,
      so services can start before PostgreSQL is ready.
    - Reconnects by itself after PostgreSQL restarts: a statement outside a
      transaction that fails because the connection was lost is sent again
      once on a new connection (every paperbus write is idempotent, see
      DESIGN.md); inside a transaction the error goes to pb_db_transaction,
      which runs the whole transaction again.
    - Parameterised statements only: SQL text is a constant and values travel
      as parameters. Statements are prepared once per connection and cached.
*/
#ifndef PB_DB_H
#define PB_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PB_DB_MAX_PARAMS 16

typedef struct _pb_db_t pb_db_t;
typedef struct _pb_db_array_t pb_db_array_t;

//  The parameters of one statement. Values are borrowed, not copied: they
//  must stay valid until the statement has run.
typedef struct {
    int count;                            //  parameters added so far
    const char *values[PB_DB_MAX_PARAMS]; //  text or binary value, NULL for SQL NULL
    int lengths[PB_DB_MAX_PARAMS];        //  length of binary values
    int formats[PB_DB_MAX_PARAMS];        //  0 text, 1 binary
    char numbers[PB_DB_MAX_PARAMS][24];   //  storage for integers as text
    bool binary_result;                   //  ask for results in binary format
} pb_db_params_t;

//  Element types of array parameters.
typedef enum { PB_DB_TEXT, PB_DB_BYTEA, PB_DB_INT8 } pb_db_type_t;

//  The signature of a transaction body: return 0 to commit, -1 to roll back.
typedef int (pb_db_transaction_fn) (pb_db_t *db, void *arg);

//  Connects to URL, retrying with backoff for up to TIMEOUT_S seconds (or
//  until SIGINT/SIGTERM). APPLICATION names the connection in
//  pg_stat_activity. Returns NULL, after logging why, when it gives up.
pb_db_t *pb_db_new (const char *url, const char *application, int timeout_s);

//  Closes the connection; accepts NULL and sets *self_p to NULL.
void pb_db_destroy (pb_db_t **self_p);

//  Runs one statement. Returns its result (the caller PQclear()s it), or NULL
//  on failure with pb_db_error/pb_db_sqlstate telling why.
PGresult *pb_db_query (pb_db_t *self, const char *sql, const pb_db_params_t *params);

//  Runs one statement whose rows are not needed. Returns the number of rows
//  it affected, or -1.
int64_t pb_db_run (pb_db_t *self, const char *sql, const pb_db_params_t *params);

//  Runs SQL that may hold several statements and no parameters (migrations).
int pb_db_script (pb_db_t *self, const char *sql);

//  Runs BODY inside BEGIN .. COMMIT. When the transaction fails because the
//  connection was lost, or on a serialization failure or deadlock, it is run
//  again from the start (up to 5 times), so BODY must only touch the
//  database and its own ARG. Returns 0 once committed; -1 when BODY asked for
//  a rollback or the transaction could not be completed.
int pb_db_transaction (pb_db_t *self, pb_db_transaction_fn *body, void *arg);

//  The message of the last failure, or "".
const char *pb_db_error (pb_db_t *self);

//  The SQLSTATE of the last failure ("08006" for a lost connection), or "".
const char *pb_db_sqlstate (pb_db_t *self);

//  The raw connection, for COPY. Do not close it.
PGconn *pb_db_connection (pb_db_t *self);

//  Reads what the connection has received and drops the notifications
//  (LISTEN/NOTIFY) waiting in it. Returns how many there were. Call it
//  before waiting on the connection's socket: a notification that came with
//  a statement's results waits in libpq, where the socket does not show it.
int pb_db_notifications (pb_db_t *self);

//  How many times this handle has reconnected since it was created.
int64_t pb_db_reconnects (pb_db_t *self);

//  Parameter builders: each appends one parameter ($1, $2, ... in order).
void pb_db_params_text (pb_db_params_t *params, const char *text);
void pb_db_params_int (pb_db_params_t *params, int64_t value);
void pb_db_params_bytes (pb_db_params_t *params, const void *data, size_t size);
void pb_db_params_array (pb_db_params_t *params, pb_db_array_t *array);

//  An array parameter in PostgreSQL's binary array format, for statements
//  such as `... FROM unnest($1::text[])` that take a whole batch at once.
pb_db_array_t *pb_db_array_new (pb_db_type_t type);
void pb_db_array_destroy (pb_db_array_t **self_p);
int pb_db_array_add (pb_db_array_t *self, const void *data, size_t size);
int pb_db_array_add_int (pb_db_array_t *self, int64_t value);
int pb_db_array_add_null (pb_db_array_t *self);
size_t pb_db_array_count (pb_db_array_t *self);

//  Reads a binary-format int8 or int4 column value.
int64_t pb_db_binary_int (const PGresult *result, int row, int column);

#endif
