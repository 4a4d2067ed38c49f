/*  records — from a decoded `paper` message to a record_t, or a reason. */
#include "records.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNIT_SEPARATOR '\x1f' //  joins list items for the database; never in normalised text

static char *s_normalized (pb_str_t text)
{
    return pb_text_normalize (text.ptr, text.len);
}

//  Joins the normalised, non-empty items of LIST with the unit separator.
static char *s_joined (const pb_str_list_t *list)
{
    size_t total = 1;
    for (uint32_t i = 0; i < list->count; i++)
        total += list->items[i].len + 1;
    char *joined = malloc (total);
    size_t used = 0;
    for (uint32_t i = 0; i < list->count; i++) {
        char *item = s_normalized (list->items[i]);
        size_t length = strlen (item);
        if (length) {
            if (used)
                joined[used++] = UNIT_SEPARATOR;
            memcpy (joined + used, item, length);
            used += length;
        }
        free (item);
    }
    joined[used] = '\0';
    return joined;
}

//  Parses a date field into OUT; returns -1 with REASON when it is not one.
static int s_date (const pb_paper_t *paper, int field, pb_str_t text, const char *name, char *out,
                   char *reason)
{
    out[0] = '\0';
    if (!pb_has (paper, field) || text.len == 0)
        return 0;
    char buffer[65];
    snprintf (buffer, sizeof buffer, "%.*s", (int)text.len, text.ptr);
    int64_t seconds;
    if (pb_date_parse (buffer, &seconds)) {
        snprintf (reason, 512, "%s '%s' is not a date (RFC 3339, RFC 2822 or YYYY-MM-DD)", name,
                  buffer);
        return -1;
    }
    pb_date_format (seconds, out);
    return 0;
}

//  A paper that fails to decode still has its position reported: read that
//  field alone, every other field being unknown to this schema.
typedef struct {
    pb_present_t present;
    pb_str_t position;
} position_only_t;

static const pb_field_t s_position_fields[] = {
    {"position", PB_FIELD_STR, false, offsetof (position_only_t, position), 0, 0, 0, 256, 0, NULL,
     NULL},
};
static const pb_schema_t s_position_schema = {"paper", s_position_fields, 1,
                                              sizeof (position_only_t), NULL};

static void s_position_only (const void *data, size_t size, char *position)
{
    pb_arena_t *arena = pb_arena_new ();
    position_only_t only;
    pb_codec_error_t error;
    if (pb_decode (data, size, size, &s_position_schema, &only, arena, &error) == 0 &&
        pb_has (&only, 0))
        snprintf (position, 257, "%.*s", (int)only.position.len, only.position.ptr);
    pb_arena_destroy (&arena);
}

int record_from_msgpack (const void *data, size_t size, record_t *record, char *position,
                         char *reason)
{
    memset (record, 0, sizeof *record);
    record->upvotes = -1;
    position[0] = '\0';
    pb_arena_t *arena = pb_arena_new ();
    pb_paper_t paper;
    pb_codec_error_t error;
    int rc = -1;
    if (pb_decode (data, size, size, &pb_paper_schema, &paper, arena, &error)) {
        snprintf (reason, 512, "%s", error.message);
        s_position_only (data, size, position);
        goto done;
    }
    if (pb_has (&paper, PB_paper_position))
        snprintf (position, 257, "%.*s", (int)paper.position.len, paper.position.ptr);

    record->title = s_normalized (paper.title);
    if (!*record->title) {
        snprintf (reason, 512, "the title is empty");
        goto done;
    }
    record->abstract =
        pb_has (&paper, PB_paper_abstract) ? s_normalized (paper.abstract) : strdup ("");
    record->authors = s_joined (&paper.authors);
    record->categories = s_joined (&paper.categories);
    if (pb_has (&paper, PB_paper_doi) && paper.doi.len)
        record->doi = s_normalized (paper.doi);
    if (pb_has (&paper, PB_paper_comment) && paper.comment.len)
        record->comment = s_normalized (paper.comment);
    if (pb_has (&paper, PB_paper_journal_ref) && paper.journal_ref.len)
        record->journal_ref = s_normalized (paper.journal_ref);
    if (pb_has (&paper, PB_paper_upvotes))
        record->upvotes = paper.upvotes;

    if (s_date (&paper, PB_paper_published, paper.published, "published", record->published,
                reason) ||
        s_date (&paper, PB_paper_updated, paper.updated, "updated", record->updated, reason))
        goto done;
    if (pb_has (&paper, PB_paper_listed) && paper.listed.len) {
        char listed[32];
        if (s_date (&paper, PB_paper_listed, paper.listed, "listed", listed, reason))
            goto done;
        memcpy (record->listed, listed, 10);
        record->listed[10] = '\0';
    }

    int version_in_id = 0;
    if (pb_has (&paper, PB_paper_id) && paper.id.len) {
        if (pb_arxiv_id_parse (paper.id.ptr, paper.id.len, record->id, &version_in_id)) {
            snprintf (reason, 512, "id '%.*s' is not an arXiv identifier", (int)paper.id.len,
                      paper.id.ptr);
            goto done;
        }
    } else {
        //  No arXiv id: a stable one, so that the same record maps to the
        //  same row every time.
        char first_author[513] = "";
        char *separator = strchr (record->authors, UNIT_SEPARATOR);
        snprintf (first_author, sizeof first_author, "%.*s",
                  separator ? (int)(separator - record->authors) : (int)strlen (record->authors),
                  record->authors);
        pb_paper_stable_id (record->doi, record->title, first_author, record->id);
    }
    if (version_in_id && pb_has (&paper, PB_paper_version) && paper.version != version_in_id) {
        snprintf (reason, 512, "the id says version %d but the version field says %lld",
                  version_in_id, (long long)paper.version);
        goto done;
    }
    record->version = version_in_id                       ? version_in_id
                      : pb_has (&paper, PB_paper_version) ? (int)paper.version
                                                          : 1;
    rc = 0;
done:
    pb_arena_destroy (&arena);
    if (rc)
        record_reset (record);
    return rc;
}

void record_reset (record_t *record)
{
    free (record->title);
    free (record->abstract);
    free (record->authors);
    free (record->categories);
    free (record->doi);
    free (record->comment);
    free (record->journal_ref);
    memset (record, 0, sizeof *record);
    record->upvotes = -1;
}
