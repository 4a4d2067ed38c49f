/*  pb_migrate — one transaction per migration, serialised by an advisory lock. */
#include "pb_migrate.h"
#include "pb_log.h"

#include <stdlib.h>
#include <string.h>

//  Any fixed number: it names paperbus's migration lock among advisory locks.
#define MIGRATION_LOCK_KEY "7023561134211"

typedef struct {
    const pb_migration_t *migration; //  the one being applied
    bool applied;                    //  set when this call applied it
    bool changed;                    //  set when the applied file differs
} migration_step_t;

static int s_apply_one (pb_db_t *db, void *arg)
{
    migration_step_t *step = arg;
    step->applied = false;
    step->changed = false;
    if (pb_db_run (db, "SELECT pg_advisory_xact_lock (" MIGRATION_LOCK_KEY ")", NULL) < 0)
        return -1;
    if (pb_db_script (db, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                          " name text PRIMARY KEY,"
                          " checksum text NOT NULL,"
                          " applied_at timestamptz NOT NULL DEFAULT now())"))
        return -1;
    pb_db_params_t params = {0};
    pb_db_params_text (&params, step->migration->name);
    pb_db_params_text (&params, step->migration->sql);
    PGresult *found = pb_db_query (
        db, "SELECT checksum = md5 ($2) FROM schema_migrations WHERE name = $1", &params);
    if (!found)
        return -1;
    bool already = PQntuples (found) == 1;
    step->changed = already && strcmp (PQgetvalue (found, 0, 0), "t") != 0;
    PQclear (found);
    if (already)
        return step->changed ? -1 : 0;
    if (pb_db_script (db, step->migration->sql))
        return -1;
    if (pb_db_run (db, "INSERT INTO schema_migrations (name, checksum) VALUES ($1, md5 ($2))",
                   &params) < 0)
        return -1;
    step->applied = true;
    return 0;
}

int pb_migrate (pb_db_t *db, const pb_migration_t *list, size_t count, int *applied)
{
    int applied_count = 0;
    for (size_t i = 0; i < count; i++) {
        migration_step_t step = {&list[i], false, false};
        if (pb_db_transaction (db, s_apply_one, &step)) {
            if (step.changed)
                pb_error ("migration %s was applied from a different file; add a new migration "
                          "instead of editing an applied one",
                          list[i].name);
            else
                pb_error ("migration %s failed: %s", list[i].name, pb_db_error (db));
            if (applied)
                *applied = applied_count;
            return -1;
        }
        if (step.applied) {
            pb_info ("applied migration %s", list[i].name);
            applied_count++;
        }
    }
    if (applied)
        *applied = applied_count;
    return 0;
}
