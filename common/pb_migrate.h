/*  pb_migrate — applies deploy/migrations/NNNN_name.sql, each once.

    Each migration runs in its own transaction under an advisory lock, so
    several services starting at once apply it exactly once between them; the
    applied list, with a checksum of each file, is the schema_migrations
    table. A migration whose file changed after it was applied is an error:
    fix forward with a new migration instead.
*/
#ifndef PB_MIGRATE_H
#define PB_MIGRATE_H

#include "pb_db.h"

typedef struct {
    const char *name; //  "0001_event_log", from the file name
    const char *sql;  //  the file's text
} pb_migration_t;

//  The migrations of this build, in order (generated from deploy/migrations).
extern const pb_migration_t pb_migrations[];
extern const size_t pb_migration_count;

//  Applies the migrations in LIST (COUNT of them, in order) that the database
//  has not applied yet. Sets *APPLIED to how many it applied (may be NULL).
//  Returns 0, or -1 after logging which migration failed and why.
int pb_migrate (pb_db_t *db, const pb_migration_t *list, size_t count, int *applied);

#endif
