/*  mailer — hands one message at a time to the mail server, over SMTP
    through libcurl (smtp:// with STARTTLS, or smtps://; AUTH when a user is
    configured). One connection is kept open from message to message.

    The caller's commit function runs just before the end of the message's
    data (the final dot, after which the server holds the message): it
    decides, by committing a mark in PostgreSQL, whether the message may be
    completed at all. When it refuses, the transaction is aborted and the
    server discards the message. This is what lets notify send each digest
    at most once (see sender.h).
*/
#ifndef MAILER_H
#define MAILER_H

#include "paperbus.h"

typedef struct _mailer_t mailer_t;

typedef enum {
    MAILER_SENT,      //  the server took the message (250)
    MAILER_TEMPORARY, //  try again later: a 4xx answer, a timeout, no connection
    MAILER_BOUNCED,   //  the server refused the address or the message for good (5xx)
    MAILER_UNKNOWN,   //  the message was complete but no answer came (timeout, lost
                      //  connection): the server may have it
    MAILER_ABORTED    //  the commit function refused; nothing was delivered
} mailer_outcome_t;

//  Called before the final dot; returns 0 to complete the message, -1 to
//  abort it.
typedef int (mailer_commit_fn) (void *arg);

//  A mailer for the server, credentials and timeouts in CONFIG. Returns NULL
//  with PROBLEM set when the settings cannot work (a bad URL scheme).
mailer_t *mailer_new (pb_config_t *config, char *problem, size_t problem_size);

//  Closes the connection; accepts NULL and sets *self_p to NULL.
void mailer_destroy (mailer_t **self_p);

//  Sends DATA (SIZE bytes, CRLF lines) from FROM to TO. COMMIT (if not
//  NULL) runs before the final dot. REASON gets the server's answer or the
//  error, for the log and the job row. Returns the outcome.
mailer_outcome_t mailer_send (mailer_t *self, const char *from, const char *to, const char *data,
                              size_t size, mailer_commit_fn *commit, void *arg, char *reason,
                              size_t reason_size);

#endif
