/*  pb_proto — schema tables generated from proto/messages.def, and the
    protocol reference printed from them. */
#include "pb_proto.h"
#include "pb_error.h"

#include <stddef.h>

#define PB_REQUIRED                true
#define PB_OPTIONAL                false
#define PB_SCHEMA_OF_BOOL(sub)     NULL
#define PB_SCHEMA_OF_INT(sub)      NULL
#define PB_SCHEMA_OF_FLOAT(sub)    NULL
#define PB_SCHEMA_OF_STR(sub)      NULL
#define PB_SCHEMA_OF_BIN(sub)      NULL
#define PB_SCHEMA_OF_STR_LIST(sub) NULL
#define PB_SCHEMA_OF_MAP(sub)      &pb_##sub##_schema
#define PB_SCHEMA_OF_MAP_LIST(sub) &pb_##sub##_schema
#define PB_SCHEMA_OF_RAW_LIST(sub) &pb_##sub##_schema

//  Pass 1: each message's description.
#define PB_MESSAGE(msg, doc) static const char s_##msg##_doc[] = doc;
#define PB_FIELD(msg, field, type, required, min, max, min_len, max_len, max_items, sub, doc)
#define PB_END(msg)
#include "../proto/messages.def"
#undef PB_MESSAGE
#undef PB_FIELD
#undef PB_END

//  Pass 2: each message's field table and schema.
#define PB_MESSAGE(msg, doc) static const pb_field_t s_##msg##_fields[] = {
#define PB_FIELD(msg, field, type, required, min, max, min_len, max_len, max_items, sub, doc)      \
    {#field,  PB_FIELD_##type, PB_##required, offsetof (pb_##msg##_t, field), min, max,            \
     min_len, max_len,         max_items,     PB_SCHEMA_OF_##type (sub),      doc},
#define PB_END(msg)                                                                                \
    }                                                                                              \
    ;                                                                                              \
    const pb_schema_t pb_##msg##_schema = {#msg, s_##msg##_fields,                                 \
                                           sizeof s_##msg##_fields / sizeof s_##msg##_fields[0],   \
                                           sizeof (pb_##msg##_t), s_##msg##_doc};
#include "../proto/messages.def"
#undef PB_MESSAGE
#undef PB_FIELD
#undef PB_END

//  Pass 3: the list of every schema.
const pb_schema_t *const pb_proto_schemas[] = {
#define PB_MESSAGE(msg, doc) &pb_##msg##_schema,
#define PB_FIELD(msg, field, type, required, min, max, min_len, max_len, max_items, sub, doc)
#define PB_END(msg)
#include "../proto/messages.def"
#undef PB_MESSAGE
#undef PB_FIELD
#undef PB_END
};

const size_t pb_proto_schema_count = sizeof pb_proto_schemas / sizeof pb_proto_schemas[0];

static void s_print_type (FILE *out, const pb_field_t *field)
{
    switch (field->type) {
    case PB_FIELD_BOOL:
        fputs ("bool", out);
        break;
    case PB_FIELD_INT:
        fputs ("int", out);
        break;
    case PB_FIELD_FLOAT:
        fputs ("float", out);
        break;
    case PB_FIELD_STR:
        fputs ("str", out);
        break;
    case PB_FIELD_BIN:
        fputs ("bin", out);
        break;
    case PB_FIELD_STR_LIST:
        fputs ("array of str", out);
        break;
    case PB_FIELD_MAP:
        fprintf (out, "map `%s`", field->schema->name);
        break;
    case PB_FIELD_MAP_LIST:
        fprintf (out, "array of map `%s`", field->schema->name);
        break;
    case PB_FIELD_RAW_LIST:
        fprintf (out, "array of map `%s`, each checked on its own", field->schema->name);
        break;
    }
}

static void s_print_limits (FILE *out, const pb_field_t *field)
{
    uint32_t max_len = field->max_len ? field->max_len : PB_CODEC_DEFAULT_MAX_LEN;
    uint32_t max_items = field->max_items ? field->max_items : PB_CODEC_DEFAULT_ITEMS;
    switch (field->type) {
    case PB_FIELD_INT:
        if (field->min || field->max)
            fprintf (out, "%lld..%lld", (long long)field->min, (long long)field->max);
        else
            fputs ("any int64", out);
        break;
    case PB_FIELD_STR:
    case PB_FIELD_BIN:
        fprintf (out, "%u..%u bytes", field->min_len, max_len);
        break;
    case PB_FIELD_STR_LIST:
        fprintf (out, "at most %u items of %u..%u bytes", max_items, field->min_len, max_len);
        break;
    case PB_FIELD_MAP_LIST:
        fprintf (out, "at most %u items", max_items);
        break;
    case PB_FIELD_RAW_LIST:
        fprintf (out, "at most %u items of at most %u bytes", max_items, max_len);
        break;
    default:
        fputs ("", out);
        break;
    }
}

void pb_proto_print_markdown (FILE *out)
{
    for (size_t m = 0; m < pb_proto_schema_count; m++) {
        const pb_schema_t *schema = pb_proto_schemas[m];
        fprintf (out, "### `%s`\n\n%s\n\n", schema->name, schema->doc);
        fprintf (out, "| field | type | required | limits | meaning |\n|---|---|---|---|---|\n");
        for (uint32_t f = 0; f < schema->field_count; f++) {
            const pb_field_t *field = &schema->fields[f];
            fprintf (out, "| `%s` | ", field->name);
            s_print_type (out, field);
            fprintf (out, " | %s | ", field->required ? "yes" : "no");
            s_print_limits (out, field);
            fprintf (out, " | %s |\n", field->doc);
        }
        fputs ("\n", out);
    }
}

void pb_proto_print_errors_markdown (FILE *out)
{
    fprintf (out, "| code | name | HTTP status | meaning |\n|---:|---|---:|---|\n");
#define PB_ERROR(name, wire, code, http, message)                                                  \
    fprintf (out, "| %d | `%s` | %d | %s |\n", code, wire, http, message);
#include "../proto/errors.def"
#undef PB_ERROR
}
