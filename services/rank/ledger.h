/*  ledger — what rank keeps in PostgreSQL: votes, signals, the last
    trending.updated; and the rebuild of the standings from them.

    Every write runs in one transaction with the events it causes (vote.cast,
    signal.recorded, trending.updated), and each has a natural key (voter +
    paper; paper + source + value; the published top), so a retry after a
    lost connection or a killed worker changes nothing twice.
*/
#ifndef LEDGER_H
#define LEDGER_H

#include "paperbus.h"
#include "standings.h"

//  One vote of a batch. The caller fills paper and user; the ledger the rest.
typedef struct {
    const char *paper; //  normalised id
    const char *user;  //  voter
    bool known;        //  the paper exists
    bool changed;      //  this request cast (or withdrew) the vote
    int64_t cast_at;   //  when the vote was cast, ms since 1970
} ledger_vote_t;

//  Events committed by a write, to publish after it (seqs consecutive).
typedef struct {
    size_t count;
    int64_t *seqs;
    msgpack_sbuffer *bodies;
} ledger_events_t;

//  How much a signal source weighs in trending; from
//  PAPERBUS_RANK_SIGNAL_WEIGHTS ("hf=1,github=0.05,*=0.1").
typedef struct _ledger_weights_t ledger_weights_t;

//  Parses TEXT; NULL (after writing why into ERROR) when it is not a list
//  of source=weight with weights from 0 to 1000.
ledger_weights_t *ledger_weights_new (const char *text, char *error, size_t error_size);
void ledger_weights_destroy (ledger_weights_t **self_p);
double ledger_weight (const ledger_weights_t *self, const char *source);

//  Casts (UP) or withdraws COUNT votes at AT_MS in one transaction, with
//  their vote.cast events. Returns 0 once committed, -1 if not (nothing
//  was).
int ledger_votes (pb_db_t *db, bool up, ledger_vote_t *votes, size_t count, int64_t at_ms,
                  ledger_events_t *events);

//  Sets VOTED[i] when USER has a vote on PAPERS[i]. Returns 0, or -1.
int ledger_voted (pb_db_t *db, const char *user, const char *const *papers, size_t count,
                  bool *voted);

//  Records SOURCE's VALUE for PAPER at AT_MS (signal_observe in
//  0006_votes.sql), with a signal.recorded event when it gained. Sets
//  *GAIN. Returns 0 once committed, PB_E_NOT_FOUND for an unknown paper,
//  -1 on failure.
int ledger_signal (pb_db_t *db, const char *paper, const char *source, double value, int64_t at_ms,
                   double *gain, ledger_events_t *events);

//  Publishes TOP (COUNT ids, best first) as the new trending top unless it
//  is the top already published or the last one went out less than
//  INTERVAL_MS before NOW_MS; BODY is the trending.updated event. Sets
//  *SEQ to the event's seq, 0 when nothing was published. Returns 0 or -1.
int ledger_trending (pb_db_t *db, const char *const *top, size_t count, int64_t now_ms,
                     int64_t interval_ms, const msgpack_sbuffer *body, int64_t *seq);

//  The listing days of papers IDS (COUNT), for papers new to the standings:
//  lists each one found into STANDINGS. Returns 0, or -1.
int ledger_list_papers (pb_db_t *db, standings_t *standings, const char *const *ids, size_t count);

//  Where a rebuild leaves each followed topic.
typedef struct {
    int64_t papers;  //  paper.ingested
    int64_t votes;   //  vote.cast
    int64_t signals; //  signal.recorded
} ledger_positions_t;

//  Fills *STANDINGS (empty; made anew if the snapshot is read again) from one snapshot of
//  PostgreSQL: every paper, its votes and its weighted signal gains. Sets the topics' positions
//  that snapshot covers. Returns 0, or -1 after logging why.
int ledger_load (pb_db_t *db, standings_t **standings, const ledger_weights_t *weights,
                 ledger_positions_t *positions);

void ledger_events_free (ledger_events_t *events);

#endif
