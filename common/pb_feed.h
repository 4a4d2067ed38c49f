/*  pb_feed — paper sources recognised from their content and parsed into
    `paper` messages (proto/messages.def), ready for ingest.submit.

    Sources: JSON Lines (the arxiv-daily shape, the Kaggle arXiv snapshot, and
    minimal records with only a title and an abstract or summary), Hugging
    Face daily_papers JSON, arXiv API Atom responses (current and older
    spellings), OAI-PMH ListRecords/GetRecord in the arXiv and oai_dc
    formats, RSS 2.0 and RSS 1.0 listings, and recorded HTTP responses
    ({"url", "status_code", "body"}) holding any of these. XML is parsed by
    libxml2 with no network access and no entity declarations accepted, so an
    entity-expansion attack is refused before it can expand. A record the parser cannot read is
   reported with its position and the rest go on; whether a readable record is acceptable (an id
   that is no arXiv id, a field over its limit) is ingest's call.
*/
#ifndef PB_FEED_H
#define PB_FEED_H

#include <stddef.h>

typedef enum {
    PB_FEED_UNKNOWN,
    PB_FEED_JSON_LINES, //  one JSON object per line
    PB_FEED_HF_DAILY,   //  Hugging Face /api/daily_papers: an array of {paper: {...}}
    PB_FEED_HTML,       //  an HTML page: an error page where a feed was expected
    PB_FEED_ATOM,       //  arXiv API response
    PB_FEED_OAI,        //  OAI-PMH response
    PB_FEED_RSS,        //  RSS 2.0 or RSS 1.0 (RDF) listing
    PB_FEED_RECORDED,   //  a recorded HTTP response, {"url", "status_code", "body"}
} pb_feed_format_t;

//  Where a paged source says the next page is (filled when the sink has one).
typedef struct {
    char resumption_token[512]; //  OAI-PMH: "" when the list is complete
    long complete_list_size;    //  OAI-PMH: -1 when not given
    long total_results;         //  Atom: opensearch:totalResults, -1 when absent
    long start_index;           //  Atom: opensearch:startIndex
    long items_per_page;        //  Atom: opensearch:itemsPerPage
    long entries;               //  entries in this page, papers or not (errors excluded)
    long errors;                //  Atom: error entries (an arXiv API error answer)
} pb_feed_page_t;

//  Where parsed papers go.
typedef struct {
    //  One paper as an encoded `paper` message (valid until the call returns).
    void (*paper) (const void *data, size_t size, void *arg);
    //  A record that could not be read, at POSITION ("file:line"), and why.
    void (*reject) (const char *position, const char *reason, void *arg);
    void *arg;            //  passed to both
    pb_feed_page_t *page; //  where paging information goes, or NULL
} pb_feed_sink_t;

//  Recognises the format of the SIZE bytes at DATA.
pb_feed_format_t pb_feed_detect (const char *data, size_t size);

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
