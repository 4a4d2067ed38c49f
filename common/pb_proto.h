/*  pb_proto — the message types of proto/messages.def, as C.

    For each message NAME the file declares the struct pb_NAME_t (starting
    with pb_present_t present), the schema pb_NAME_schema for pb_decode and
    pb_encode, and the field numbers PB_NAME_FIELD for pb_has/pb_set_present.
    Nothing here is typed by hand: change proto/messages.def instead.
*/
#ifndef PB_PROTO_H
#define PB_PROTO_H

#include "pb_codec.h"

#include <stdio.h>

//  C type of each field type; MAP names the nested message's struct.
#define PB_CTYPE_BOOL(sub)     bool
#define PB_CTYPE_INT(sub)      int64_t
#define PB_CTYPE_FLOAT(sub)    double
#define PB_CTYPE_STR(sub)      pb_str_t
#define PB_CTYPE_BIN(sub)      pb_str_t
#define PB_CTYPE_STR_LIST(sub) pb_str_list_t
#define PB_CTYPE_MAP(sub)      pb_##sub##_t
#define PB_CTYPE_MAP_LIST(sub) pb_list_t
#define PB_CTYPE_RAW_LIST(sub) pb_str_list_t

//  The struct of every message.
#define PB_MESSAGE(msg, doc)                                                                       \
    typedef struct {                                                                               \
        pb_present_t present;
#define PB_FIELD(msg, field, type, required, min, max, min_len, max_len, max_items, sub, doc)      \
    PB_CTYPE_##type (sub) field;
#define PB_END(msg)                                                                                \
    }                                                                                              \
    pb_##msg##_t;
#include "../proto/messages.def"
#undef PB_MESSAGE
#undef PB_FIELD
#undef PB_END

//  Field numbers, for pb_has () and pb_set_present ().
#define PB_MESSAGE(msg, doc) enum {
#define PB_FIELD(msg, field, type, required, min, max, min_len, max_len, max_items, sub, doc)      \
    PB_##msg##_##field,
#define PB_END(msg)                                                                                \
    PB_##msg##_FIELD_COUNT                                                                         \
    }                                                                                              \
    ;
#include "../proto/messages.def"
#undef PB_MESSAGE
#undef PB_FIELD
#undef PB_END

//  The schema of every message.
#define PB_MESSAGE(msg, doc) extern const pb_schema_t pb_##msg##_schema;
#define PB_FIELD(msg, field, type, required, min, max, min_len, max_len, max_items, sub, doc)
#define PB_END(msg)
#include "../proto/messages.def"
#undef PB_MESSAGE
#undef PB_FIELD
#undef PB_END

//  Every schema, in the order of proto/messages.def.
extern const pb_schema_t *const pb_proto_schemas[];
extern const size_t pb_proto_schema_count;

//  Prints the message reference of PROTOCOL.md: one table per message.
void pb_proto_print_markdown (FILE *out);

//  Prints the error table of PROTOCOL.md, from proto/errors.def.
void pb_proto_print_errors_markdown (FILE *out);

#endif
