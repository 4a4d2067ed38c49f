/*  sender — claims mail jobs from PostgreSQL, composes and sends them.

    Each sender has its own connections (two to PostgreSQL, one to the bus,
    one to the mail server) and works one job at a time:

    1. In a transaction, it claims the oldest due job with FOR UPDATE SKIP
       LOCKED. The row lock is the claim: other senders skip the job, and
       if this sender dies PostgreSQL ends the transaction and the job is
       free again at once, with nothing recorded.
    2. It composes the mail. For a digest: the candidates (digest.h), less
       the papers this subscriber was already sent (digest_paper). Nothing
       left means nothing new: the job ends as `empty` and no mail goes.
    3. It sends. Just before the final dot it commits, from its second
       connection, the job's mark in mail_handed, which only one sender can
       insert; if the insert fails or finds a mark, the message is aborted
       and the server discards it.
    4. It records the outcome and commits: sent (with the papers, so none
       goes twice, and the digest.sent event), retry later with backoff
       (4xx, timeouts), or bounced (5xx: the address is mailed no more).

    The window between the server's acceptance and the commit of step 4 is
    closed this way: a job found with a mark but no outcome (its sender
    died, or lost PostgreSQL, waiting for the server's answer) is recorded
    as sent, never sent again. The server had the whole message, and
    servers accept whole messages. We prefer this to sending again because a
    doubled digest is spam in the reader's inbox. What it costs: a sender
    that dies between its mark's commit and the final dot (the commit's
    flush is most of it, a few milliseconds) loses that digest, which is
    recorded as sent; so does a message the server refuses after the mark
    and before the outcome is recorded.
*/
#ifndef SENDER_H
#define SENDER_H

#include "paperbus.h"
#include "subscriptions.h"

typedef struct _sender_t sender_t;

//  A sender named NAME ("notify-sender-1") with settings from CONFIG, and
//  KEY to sign unsubscribe links. Returns NULL, having logged why, when
//  PostgreSQL cannot be reached or a setting cannot work.
sender_t *sender_new (pb_config_t *config, const subscriptions_key_t *key, const char *name);

//  Destroys the sender; accepts NULL and sets *self_p to NULL.
void sender_destroy (sender_t **self_p);

//  Works on the next due job. Returns 1 if there was one, 0 if none is due,
//  -1 when PostgreSQL or the bus failed (the job stays queued).
int sender_step (sender_t *self);

//  Waits up to TIMEOUT_MS for new jobs (a NOTIFY on mail_job) or for a
//  message on PIPE (which may be NULL). Returns 1 when PIPE has a message.
int sender_wait (sender_t *self, zsock_t *pipe, int timeout_ms);

//  The body of a zactor running a sender until it is told $TERM; ARGS is
//  a sender_args_t. Once started, it says "ready", or "failed" (having
//  logged why) and ends.
void sender_actor (zsock_t *pipe, void *args);

//  What sender_actor needs.
typedef struct {
    pb_config_t *config;            //  settings
    const subscriptions_key_t *key; //  signs unsubscribe links
    char name[64];                  //  for the log and pg_stat_activity
} sender_args_t;

#endif
