/*  records — a submitted paper checked and put in the one form ingest stores. */
#ifndef RECORDS_H
#define RECORDS_H

#include "paperbus.h"
#include "pb_paper.h"

//  A paper ready to store: every text normalised, the id resolved, dates in
//  UTC. Strings are owned; NULL means unknown.
typedef struct {
    char id[PB_PAPER_ID_MAX + 1]; //  "2501.01234", "hep-th/9901001", "doi:...", "t:..."
    int version;                  //  1 when the source does not say
    char *title;                  //  never empty
    char *abstract;               //  "" when absent
    char *authors;                //  names joined by 0x1f ("" when none)
    char *categories;             //  categories joined by 0x1f, the primary first
    char published[32];           //  "YYYY-MM-DD HH:MM:SS+00" or ""
    char updated[32];             //  same
    char listed[11];              //  "YYYY-MM-DD" or ""
    char *doi;                    //  or NULL
    char *comment;                //  or NULL
    char *journal_ref;            //  or NULL
    int64_t upvotes;              //  external signal, -1 when absent
} record_t;

//  Checks the encoded paper (DATA, SIZE bytes) and fills RECORD. Returns 0,
//  or -1 with REASON (at least 512 bytes) saying why it is rejected; POSITION
//  (at least 257 bytes) receives the submitter's position either way.
int record_from_msgpack (const void *data, size_t size, record_t *record, char *position,
                         char *reason);

//  Frees what RECORD owns and clears it.
void record_reset (record_t *record);

#endif
