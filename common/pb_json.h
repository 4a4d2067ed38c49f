/*  pb_json — msgpack bodies to and from JSON (jansson), for the command
    line and the HTTP gateway. */
#ifndef PB_JSON_H
#define PB_JSON_H

#include <jansson.h>
#include <msgpack.h>
#include <stddef.h>

//  Converts the msgpack value in DATA (checked against MAX_FRAME and
//  validated first) to JSON. bin values become "<N bytes>". Returns a new
//  reference, or NULL with ERROR (ERROR_SIZE bytes) telling why.
json_t *pb_json_from_msgpack (const void *data, size_t size, size_t max_frame, char *error,
                              size_t error_size);

//  Packs JSON as msgpack (integers as ints, reals as float64). Returns 0.
int pb_json_to_msgpack (const json_t *json, msgpack_packer *packer);

//  A paper of a list (RANKED: a ranked_paper of rank.top or rank.votes) as
//  a search hit, with what the index holds of it (PAPER: an indexed_paper,
//  or NULL): id, title, authors, categories, published (the day), score,
//  upvotes, and voted when RANKED says. The one shape of a listed paper,
//  for `paperctl trending --json` and the gateway. Returns a new reference.
json_t *pb_json_ranked_hit (json_t *ranked, json_t *paper);

#endif
