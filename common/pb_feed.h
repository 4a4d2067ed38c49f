/*  pb_feed — paper sources recognised from their content and parsed into
    `paper` messages (proto/messages.def), ready for ingest.submit.

    Today: JSON Lines (the arxiv-daily shape, the Kaggle arXiv snapshot, and
    minimal records with only a title and an abstract or summary) and Hugging
    Face daily_papers JSON. A record the parser cannot read is reported with
    its position and the rest go on; whether a readable record is acceptable
    (an id that is no arXiv id, a field over its limit) is ingest's call.
*/
#ifndef PB_FEED_H
#define PB_FEED_H

#include <stddef.h>

typedef enum {
    PB_FEED_UNKNOWN,
    PB_FEED_JSON_LINES, //  one JSON object per line
    PB_FEED_HF_DAILY,   //  Hugging Face /api/daily_papers: an array of {paper: {...}}
    PB_FEED_HTML,       //  an HTML page: an error page where a feed was expected
} pb_feed_format_t;

//  Where parsed papers go.
typedef struct {
    //  One paper as an encoded `paper` message (valid until the call returns).
    void (*paper) (const void *data, size_t size, void *arg);
    //  A record that could not be read, at POSITION ("file:line"), and why.
    void (*reject) (const char *position, const char *reason, void *arg);
    void *arg; //  passed to both
} pb_feed_sink_t;

//  Recognises the format of the SIZE bytes at DATA.
pb_feed_format_t pb_feed_detect (const char *data, size_t size);

//  The name of FORMAT, for messages ("JSON Lines").
const char *pb_feed_format_name (pb_feed_format_t format);

//  Parses DATA, whose NAME (a file name, or "-") gives positions and, for
//  arxiv-daily files named YYYY-MM-DD.jsonl, the listing day. Returns the
//  number of papers passed to the sink, or -1 when the whole input is
//  unusable (ERROR says why: an HTML page, an unknown format, a truncated
//  JSON document).
long pb_feed_parse (const char *name, const char *data, size_t size, pb_feed_sink_t *sink,
                    char *error, size_t error_size);

//  The source name ingest records for FORMAT ("jsonl", "hf").
const char *pb_feed_source (pb_feed_format_t format);

#endif
