/*  digest — what goes into a digest, asked of the other services over the
    bus: the new papers matching a subscription (index.search, newest
    first) and the trending top (rank.top), then each paper's title,
    authors and abstract (index.get).

    Many subscribers follow the same things (a category, the trending top),
    so a source remembers each answer while its sender works through a run
    of digests, and forgets everything when the run is over (the sender
    finds nothing more to send) or after a minute: a run asks the index once
    per distinct interest, not once per subscriber.
*/
#ifndef DIGEST_H
#define DIGEST_H

#include "message.h"
#include "paperbus.h"

#define DIGEST_AUTHORS_SHOWN 3
#define DIGEST_EXCERPT_BYTES 300

typedef struct _digest_source_t digest_source_t;

//  What one subscription follows.
typedef struct {
    const char *query;             //  its query, or ""
    const char *const *categories; //  categories (any of them)
    size_t category_count;         //  how many
    const char *const *authors;    //  authors (any of them)
    size_t author_count;           //  how many
    int trending;                  //  the trending top N, 0 for none
    const char *since;             //  only papers from this day on ("YYYY-MM-DD"), or NULL
    size_t limit;                  //  most matching papers wanted
} digest_interest_t;

//  The ids of the papers a digest may show, best first. Strings live in
//  the arena given to digest_source_candidates.
typedef struct {
    const char **trending; //  the trending top, best first
    size_t trending_count; //  how many
    const char **matching; //  new matching papers, newest first
    size_t matching_count; //  how many
} digest_candidates_t;

//  A source asking the services through CLIENT, waiting up to TIMEOUT_MS
//  for each answer.
digest_source_t *digest_source_new (pb_client_t *client, int timeout_ms);

//  Destroys the source; accepts NULL and sets *self_p to NULL.
void digest_source_destroy (digest_source_t **self_p);

//  Forgets every answer remembered.
void digest_source_forget (digest_source_t *self);

//  Finds the candidates for INTEREST. Returns 0, or -1 with PROBLEM set
//  when a service could not answer (the digest is then tried again later).
int digest_source_candidates (digest_source_t *self, const digest_interest_t *interest,
                              pb_arena_t *arena, digest_candidates_t *candidates, char *problem,
                              size_t problem_size);

//  Fills PAPERS[i] for IDS[i] (titles, authors, excerpts; strings owned by
//  the source until it forgets). A paper the index no longer holds gets a
//  NULL title. Returns 0, or -1 with PROBLEM set.
int digest_source_papers (digest_source_t *self, const char *const *ids, size_t count,
                          message_paper_t *papers, char *problem, size_t problem_size);

//  Asks the index whether QUERY parses. Returns 0 if it does; otherwise the
//  pb_error_t code of the answer, with PROBLEM set.
int digest_source_check_query (digest_source_t *self, const char *query, char *problem,
                               size_t problem_size);

#endif
