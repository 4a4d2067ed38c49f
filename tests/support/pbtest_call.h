/*  pbtest_call — calls over the bus for the integration tests: a call with
    a deadline whose reply is decoded by method, and which of a service's
    workers answered it.

    Answers live on the heap and are listed until freed, so that a test that
    fails half-way leaves its suite's teardown something to free (with
    pbtest_answers_free_all) rather than leaks for LeakSanitizer to report. */
#ifndef PBTEST_CALL_H
#define PBTEST_CALL_H

#include "paperbus.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PBTEST_WORKER_ID_MAX 80 //  bytes of a worker's name in bus.status
#define PBTEST_SERVED_MAX    8  //  workers of one service pbtest_served lists
#define PBTEST_SUBMIT_MAX    64 //  papers of one pbtest_submit

//  One reply, and the message decoded from it: the method's reply message
//  when the status is 0, else the error_reply.
typedef struct {
    pb_reply_t reply;                   //  status and body (owned)
    pb_arena_t *arena;                  //  lists of the decoded message
    pb_index_search_reply_t search;     //  index.search and index.similar
    pb_index_get_reply_t get;           //  index.get
    pb_vote_reply_t vote;               //  rank.vote and rank.unvote
    pb_top_reply_t top;                 //  rank.top
    pb_votes_reply_t votes;             //  rank.votes
    pb_signal_recorded_t signal;        //  rank.signal
    pb_ingest_submit_reply_t submit;    //  ingest.submit
    pb_status_reply_t status;           //  bus.status
    pb_subscribe_reply_t subscribe;     //  notify.subscribe
    pb_subscription_t subscription;     //  notify.confirm
    pb_unsubscribe_reply_t unsubscribe; //  notify.unsubscribe
    pb_digests_run_reply_t digests;     //  notify.run
    pb_notify_status_reply_t notify;    //  notify.status
    pb_signin_reply_t signin;           //  notify.signin
    pb_session_reply_t session;         //  notify.session, notify.whoami and notify.token
    pb_signout_reply_t signout;         //  notify.signout
    pb_error_reply_t error;             //  when the status is not 0
    char worker[PBTEST_WORKER_ID_MAX];  //  the worker that answered, when tracked
} pbtest_answer_t;

//  A packer that starts BUFFER afresh, for a request body.
msgpack_packer pbtest_packer (msgpack_sbuffer *buffer);

//  Calls METHOD with BODY (SIZE bytes of msgpack) through CLIENT and
//  decodes the reply; fails the test when no reply comes, it is malformed,
//  or the test knows no reply message for METHOD.
pbtest_answer_t *pbtest_call (pb_client_t *client, const char *method, const void *body,
                              size_t size);

//  Frees an answer and takes it off the list; nothing when *ANSWER_P is NULL.
void pbtest_answer_free (pbtest_answer_t **answer_p);

//  Frees every answer not yet freed: for the suites' teardowns.
void pbtest_answers_free_all (void);

//  What an answer says, for failure messages (a static buffer).
const char *pbtest_describe (const pbtest_answer_t *answer);

//  STR as a NUL-terminated string in TEXT (SIZE bytes).
const char *pbtest_text (pb_str_t str, char *text, size_t size);

//  Sends PAPERS (COUNT, up to PBTEST_SUBMIT_MAX) to ingest.submit through
//  CLIENT, source "test", and fails the test unless the reply is a success.
//  BODY holds the request: the caller's, freed by its teardown, so that a
//  call that fails the test leaks nothing.
pbtest_answer_t *pbtest_submit (pb_client_t *client, msgpack_sbuffer *body,
                                const pb_paper_t *papers, size_t count);

//  The live workers of a service and the replies each has sent.
typedef struct {
    size_t count;
    char ids[PBTEST_SERVED_MAX][PBTEST_WORKER_ID_MAX];
    int64_t served[PBTEST_SERVED_MAX];
} pbtest_served_t;

//  Fills OUT with SERVICE's live workers and their served counters, from
//  bus.status asked through CLIENT.
void pbtest_served (pb_client_t *client, const char *service, pbtest_served_t *out);

//  Calls METHOD like pbtest_call, and names in the answer's worker the
//  SERVICE worker that answered: the one whose served count went up.
pbtest_answer_t *pbtest_call_tracked (pb_client_t *client, const char *service, const char *method,
                                      const void *body, size_t size);

#endif
