/*  pb_codec — MessagePack messages decoded against a schema, with limits.

    A message is a msgpack map. Its schema (a pb_schema_t, generated from
    proto/) lists the fields: name, type, whether required, and limits. The
    decoder walks the bytes itself and checks every length against the bytes
    that remain and against the field's limit *before* allocating, so hostile
    input (the 5-byte `dd ff ff ff ff` that makes msgpack_unpack reserve 96 GB,
    a 100 MB length prefix, deep nesting) costs nothing and gets an error that
    names the field. Unknown fields are skipped; a missing or mistyped required
    field is reported by name; str fields must be valid UTF-8.

    Decoding is zero-copy: str and bin fields point into the input, which must
    outlive the decoded struct. Lists are allocated from a pb_arena_t whose
    total is bounded relative to the input size. Encoding uses msgpack-c.

    Every decoded struct starts with `pb_present_t present`: bit i is set when
    field i of the schema was given.
*/
#ifndef PB_CODEC_H
#define PB_CODEC_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PB_CODEC_MAX_FIELDS      64    //  fields in one schema (bits of pb_present_t)
#define PB_CODEC_MAX_DEPTH       32    //  nesting of maps and arrays
#define PB_CODEC_DEFAULT_MAX_LEN 65536 //  bytes of a str/bin field without its own limit
#define PB_CODEC_DEFAULT_ITEMS   65536 //  entries of a list field without its own limit
#define PB_CODEC_ALLOC_FACTOR    64    //  arena bytes allowed per input byte (plus 64 KiB)

typedef uint64_t pb_present_t;

//  A string or byte run inside the decoded frame; not NUL-terminated.
typedef struct {
    const char *ptr; //  first byte (inside the input frame)
    uint32_t len;    //  length in bytes
} pb_str_t;

//  A list of strings.
typedef struct {
    pb_str_t *items; //  COUNT strings, arena-allocated
    uint32_t count;  //  number of items
} pb_str_list_t;

//  A list of nested messages of one schema.
typedef struct {
    void *items;    //  COUNT structs of the nested schema's struct_size
    uint32_t count; //  number of items
} pb_list_t;

typedef enum {
    PB_FIELD_BOOL,     //  bool
    PB_FIELD_INT,      //  int64_t, msgpack int or uint
    PB_FIELD_FLOAT,    //  double, msgpack float or int
    PB_FIELD_STR,      //  pb_str_t, UTF-8 checked
    PB_FIELD_BIN,      //  pb_str_t, raw bytes
    PB_FIELD_STR_LIST, //  pb_str_list_t
    PB_FIELD_MAP,      //  an embedded struct of the nested schema
    PB_FIELD_MAP_LIST, //  pb_list_t of structs of the nested schema
    PB_FIELD_RAW_LIST  //  pb_str_list_t of encoded values, checked for structure only,
                       //  to be decoded one by one (so one bad item spoils only itself)
} pb_field_type_t;

typedef struct pb_schema_s pb_schema_t;

typedef struct {
    const char *name;          //  key in the msgpack map
    pb_field_type_t type;      //  what the value must be
    bool required;             //  missing (or nil) is an error
    size_t offset;             //  where the value goes in the struct
    int64_t min, max;          //  INT: allowed range (both 0: any int64)
    uint32_t min_len;          //  STR/BIN/STR_LIST items: shortest allowed, in bytes
    uint32_t max_len;          //  STR/BIN/STR_LIST items: longest allowed (0: default)
    uint32_t max_items;        //  lists: most entries allowed (0: default)
    const pb_schema_t *schema; //  MAP and MAP_LIST: the nested message
    const char *doc;           //  what the field means, for the protocol reference
} pb_field_t;

struct pb_schema_s {
    const char *name;         //  message name, used in error messages
    const pb_field_t *fields; //  the fields, at most PB_CODEC_MAX_FIELDS
    uint32_t field_count;     //  number of fields
    size_t struct_size;       //  size of the decoded C struct
    const char *doc;          //  what the message is, for the protocol reference
};

//  Why a decode failed: a pb_error_t code and a sentence naming the field.
typedef struct {
    int code;          //  PB_E_MALFORMED, PB_E_MISSING_FIELD, ...
    char message[256]; //  e.g. "papers[3].title: expected str, got int"
} pb_codec_error_t;

typedef struct _pb_arena_t pb_arena_t;

//  Creates an empty arena.
pb_arena_t *pb_arena_new (void);

//  Frees every block; accepts NULL and sets *self_p to NULL.
void pb_arena_destroy (pb_arena_t **self_p);

//  Returns SIZE zeroed bytes, 16-aligned, valid until reset or destroy;
//  NULL when out of memory.
void *pb_arena_alloc (pb_arena_t *self, size_t size);

//  A NUL-terminated copy of LENGTH bytes of TEXT in SELF, as a pb_str_t
//  (to fill a message to encode from text that will not outlive it).
pb_str_t pb_arena_str (pb_arena_t *self, const char *text, size_t length);

//  Forgets every allocation but keeps the first block for reuse.
void pb_arena_reset (pb_arena_t *self);

//  Bytes handed out since creation or the last reset.
size_t pb_arena_used (pb_arena_t *self);

//  Decodes the SIZE bytes at DATA as one message of SCHEMA into OUT (a struct
//  of schema->struct_size bytes, zeroed first). MAX_FRAME bounds SIZE. Lists
//  come from ARENA. Returns 0, or -1 with ERROR filled.
int pb_decode (const void *data, size_t size, size_t max_frame, const pb_schema_t *schema,
               void *out, pb_arena_t *arena, pb_codec_error_t *error);

//  Checks that DATA is exactly one well-formed msgpack value within the
//  limits (size, depth, lengths, UTF-8 of str) without decoding it.
int pb_codec_validate (const void *data, size_t size, size_t max_frame, pb_codec_error_t *error);

//  Packs IN, a struct of SCHEMA, as a msgpack map: the required fields and
//  the optional fields whose present bit is set.
int pb_encode (const pb_schema_t *schema, const void *in, msgpack_packer *packer);

//  True when the LEN bytes at TEXT are valid UTF-8 (no overlongs, no
//  surrogates, nothing above U+10FFFF).
bool pb_utf8_valid (const char *text, size_t len);

//  A pb_str_t over a NUL-terminated string.
pb_str_t pb_str (const char *text);

//  True when STR holds exactly TEXT.
bool pb_str_eq (pb_str_t str, const char *text);

//  Returns a NUL-terminated heap copy of STR; the caller frees it.
char *pb_str_dup (pb_str_t str);

//  True when field INDEX of the decoded struct MSG was present.
#define pb_has(msg, index) ((((msg)->present) >> (index)) & 1u)

//  Marks field INDEX of MSG as present, for encoding optional fields.
#define pb_set_present(msg, index) ((msg)->present |= (pb_present_t)1 << (index))

#endif
