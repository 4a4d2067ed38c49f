/*  harvest — harvesting arXiv in a thread of the ingest service.

    Every ingest worker runs a harvester. Each tick it tries to take the lease
    of one harvest that is due (its next_at has come, nobody else holds it),
    fetches the next page (OAI-PMH ListRecords or the query API), and stores
    the page's papers and the moved cursor in one transaction, which commits
    only while the lease is still its own. So one worker harvests a source at
    a time, requests are spaced by PAPERBUS_HARVEST_INTERVAL_MS, a worker that
    dies is replaced once its lease runs out, and the harvest resumes exactly
    where the last commit left it.
*/
#ifndef HARVEST_H
#define HARVEST_H

#include "paperbus.h"

//  Starts the harvester thread; OWNER names this worker in leases.
zactor_t *harvester_new (pb_config_t *config, const char *owner);

//  The OAI-PMH set of an arXiv category: "cs.LG" is "cs:cs:LG", "cs" is
//  "cs", "hep-th" is "physics:hep-th". Writes it into SET (at least 96 bytes).
void harvest_oai_set (const char *category, char *set);

#endif
