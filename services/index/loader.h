/*  loader — papers from PostgreSQL into the index.

    loader_load reads every paper in one REPEATABLE READ snapshot, through a
    cursor in pages (never one giant result set), together with the last
    seq of paper.ingested in that same snapshot: the index then holds
    exactly the papers those events describe, and following the topic from
    that seq misses nothing. loader_refresh reads the current rows of a
    batch of papers named by later events and puts them again (a paper no
    longer stored is removed).
*/
#ifndef LOADER_H
#define LOADER_H

#include "index.h"
#include "paperbus.h"

//  Loads every paper into *INDEX (empty). Returns 0 with *POSITION the seq
//  of paper.ingested the snapshot includes, or -1 (logged). A retried
//  transaction replaces *INDEX with a new one, so nothing of a failed
//  attempt stays.
int loader_load (pb_db_t *db, index_t **index, int64_t *position);

//  Reads papers IDS (COUNT of them) again and puts them. Returns 0, or -1
//  when the database could not be read (nothing changed; try again).
int loader_refresh (pb_db_t *db, index_t *index, const char *const *ids, size_t count);

#endif
