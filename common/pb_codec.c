/*  pb_codec — a bounded msgpack reader and schema-driven encoder.

    The reader never trusts a length: every str/bin/ext body must fit in the
    bytes that remain, every array or map count must be at most the remaining
    bytes (each element takes at least one byte), and each field's own limit is
    checked before anything is allocated for it.
*/
#include "pb_codec.h"
#include "pb_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== Arena: bump allocation in growing blocks ==== */

typedef struct arena_block_s {
    struct arena_block_s *next; //  older block
    size_t size;                //  usable bytes in data
    size_t used;                //  bytes handed out
    _Alignas(16) unsigned char data[];
} arena_block_t;

struct _pb_arena_t {
    arena_block_t *head; //  newest block, where allocation happens
    size_t total;        //  bytes handed out since creation or reset
};

#define ARENA_FIRST_BLOCK 4096

pb_arena_t *pb_arena_new (void)
{
    return calloc (1, sizeof (pb_arena_t));
}

void pb_arena_destroy (pb_arena_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    arena_block_t *block = (*self_p)->head;
    while (block) {
        arena_block_t *next = block->next;
        free (block);
        block = next;
    }
    free (*self_p);
    *self_p = NULL;
}

void *pb_arena_alloc (pb_arena_t *self, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    arena_block_t *block = self->head;
    if (!block || block->size - block->used < size) {
        size_t block_size = block ? block->size * 2 : ARENA_FIRST_BLOCK;
        if (block_size < size)
            block_size = size;
        block = malloc (sizeof *block + block_size);
        if (!block)
            return NULL;
        block->size = block_size;
        block->used = 0;
        block->next = self->head;
        self->head = block;
    }
    void *memory = block->data + block->used;
    block->used += size;
    self->total += size;
    memset (memory, 0, size);
    return memory;
}

pb_str_t pb_arena_str (pb_arena_t *self, const char *text, size_t length)
{
    char *copy = pb_arena_alloc (self, length + 1);
    if (!copy)
        return (pb_str_t){"", 0};
    memcpy (copy, text, length);
    copy[length] = '\0';
    return (pb_str_t){copy, (uint32_t)length};
}

void pb_arena_reset (pb_arena_t *self)
{
    arena_block_t *block = self->head;
    if (!block)
        return;
    //  Keep the newest block, the largest, sized for the workload seen so
    //  far; free the older ones.
    arena_block_t *rest = block->next;
    while (rest) {
        arena_block_t *next = rest->next;
        free (rest);
        rest = next;
    }
    block->next = NULL;
    block->used = 0;
    self->total = 0;
}

size_t pb_arena_used (pb_arena_t *self)
{
    return self->total;
}

/* ==== UTF-8 ==== */

bool pb_utf8_valid (const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text;
    const unsigned char *end = p + len;
    while (p < end) {
        //  Text is mostly ASCII: skip it 32 bytes, then 8 bytes, at a time.
        while (end - p >= 32) {
            uint64_t chunk[4];
            memcpy (chunk, p, 32);
            if ((chunk[0] | chunk[1] | chunk[2] | chunk[3]) & 0x8080808080808080ULL)
                break;
            p += 32;
        }
        if (p == end)
            break;
        if (end - p >= 8) {
            uint64_t chunk;
            memcpy (&chunk, p, 8);
            if ((chunk & 0x8080808080808080ULL) == 0) {
                p += 8;
                continue;
            }
        }
        unsigned char c = *p;
        if (c < 0x80) {
            p++;
        } else if (c < 0xC2) {
            return false; //  stray continuation byte or overlong 2-byte form
        } else if (c < 0xE0) {
            if (end - p < 2 || (p[1] & 0xC0) != 0x80)
                return false;
            p += 2;
        } else if (c < 0xF0) {
            if (end - p < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
                return false;
            if (c == 0xE0 && p[1] < 0xA0)
                return false; //  overlong
            if (c == 0xED && p[1] >= 0xA0)
                return false; //  UTF-16 surrogate
            p += 3;
        } else if (c < 0xF5) {
            if (end - p < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 ||
                (p[3] & 0xC0) != 0x80)
                return false;
            if (c == 0xF0 && p[1] < 0x90)
                return false; //  overlong
            if (c == 0xF4 && p[1] >= 0x90)
                return false; //  above U+10FFFF
            p += 4;
        } else
            return false;
    }
    return true;
}

pb_str_t pb_str (const char *text)
{
    pb_str_t str = {text, (uint32_t)strlen (text)};
    return str;
}

bool pb_str_eq (pb_str_t str, const char *text)
{
    size_t len = strlen (text);
    return str.len == len && (len == 0 || memcmp (str.ptr, text, len) == 0);
}

char *pb_str_dup (pb_str_t str)
{
    char *copy = malloc ((size_t)str.len + 1);
    if (!copy)
        return NULL;
    if (str.len)
        memcpy (copy, str.ptr, str.len);
    copy[str.len] = '\0';
    return copy;
}

/* ==== Reader: one msgpack header at a time ==== */

typedef enum {
    KIND_NIL,
    KIND_BOOL,
    KIND_UINT,
    KIND_INT,
    KIND_FLOAT,
    KIND_STR,
    KIND_BIN,
    KIND_ARRAY,
    KIND_MAP,
    KIND_EXT
} value_kind_t;

static const char *const s_kind_names[] = {"nil", "bool", "int",   "int", "float",
                                           "str", "bin",  "array", "map", "ext"};

typedef struct {
    value_kind_t kind; //  what the header introduces
    uint64_t u;        //  UINT value, BOOL value
    int64_t i;         //  INT value (negative)
    double f;          //  FLOAT value
    uint32_t length;   //  STR/BIN/EXT bytes, ARRAY items, MAP pairs
    const char *body;  //  STR/BIN/EXT bytes
} header_t;

//  One step of the path to the value being decoded: a field name, or a list
//  index when name is NULL. Kept unformatted; only an error formats it.
typedef struct {
    const char *name; //  field name, or NULL for a list item
    uint32_t index;   //  list index
} path_step_t;

#define PATH_MAX_STEPS (2 * PB_CODEC_MAX_DEPTH + 4)

typedef struct {
    const unsigned char *pos;         //  next byte to read
    const unsigned char *end;         //  one past the last byte
    pb_arena_t *arena;                //  where lists go
    size_t budget;                    //  arena bytes this decode may still take
    pb_codec_error_t *error;          //  filled on failure
    path_step_t path[PATH_MAX_STEPS]; //  where in the message we are
    size_t path_len;                  //  steps in path
} reader_t;

static int s_fail (reader_t *r, int code, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

static int s_fail (reader_t *r, int code, const char *format, ...)
{
    if (!r->error)
        return -1;
    r->error->code = code;
    char *message = r->error->message;
    size_t room = sizeof r->error->message;
    size_t used = 0;
    for (size_t step = 0; step < r->path_len && step < PATH_MAX_STEPS && used < room; step++) {
        const path_step_t *at = &r->path[step];
        int added = at->name
                        ? snprintf (message + used, room - used, "%s%s", step ? "." : "", at->name)
                        : snprintf (message + used, room - used, "[%u]", at->index);
        used += added > 0 ? (size_t)added : 0;
    }
    if (r->path_len && used < room)
        used += (size_t)snprintf (message + used, room - used, ": ");
    if (used < room) {
        va_list args;
        va_start (args, format);
        vsnprintf (message + used, room - used, format, args);
        va_end (args);
    }
    return -1;
}

//  Enters a field (NAME) or a list item (NAME NULL, INDEX); s_path_pop leaves.
static inline void s_path_push (reader_t *r, const char *name, uint32_t index)
{
    if (r->path_len < PATH_MAX_STEPS)
        r->path[r->path_len] = (path_step_t){name, index};
    r->path_len++;
}

static inline void s_path_pop (reader_t *r)
{
    r->path_len--;
}

static inline size_t s_remaining (reader_t *r)
{
    return (size_t)(r->end - r->pos);
}

static inline uint64_t s_be (const unsigned char *p, int bytes)
{
    uint64_t value = 0;
    for (int i = 0; i < bytes; i++)
        value = (value << 8) | p[i];
    return value;
}

//  Takes BYTES big-endian bytes as an unsigned number.
static int s_take (reader_t *r, int bytes, uint64_t *value)
{
    if (s_remaining (r) < (size_t)bytes)
        return s_fail (r, PB_E_MALFORMED, "truncated: needs %d more bytes, %zu left", bytes,
                       s_remaining (r));
    *value = s_be (r->pos, bytes);
    r->pos += bytes;
    return 0;
}

//  Takes a body of LENGTH bytes (str, bin, ext), checking it is all there.
static int s_take_body (reader_t *r, header_t *h, uint64_t length)
{
    if (length > s_remaining (r))
        return s_fail (r, PB_E_MALFORMED, "truncated: %s of %llu bytes with %zu bytes left",
                       s_kind_names[h->kind], (unsigned long long)length, s_remaining (r));
    h->length = (uint32_t)length;
    h->body = (const char *)r->pos;
    r->pos += length;
    return 0;
}

//  Reads a container count and rejects one that cannot fit in what is left:
//  this is what defuses `dd ff ff ff ff`.
static int s_take_count (reader_t *r, header_t *h, uint64_t count)
{
    uint64_t min_bytes = h->kind == KIND_MAP ? count * 2 : count;
    if (min_bytes > s_remaining (r))
        return s_fail (r, PB_E_MALFORMED, "%s of %llu entries cannot fit in the %zu bytes left",
                       s_kind_names[h->kind], (unsigned long long)count, s_remaining (r));
    h->length = (uint32_t)count;
    return 0;
}

static int s_read_header (reader_t *r, header_t *h)
{
    if (r->pos >= r->end)
        return s_fail (r, PB_E_MALFORMED, "truncated: value expected, no bytes left");
    unsigned char byte = *r->pos++;
    uint64_t value = 0;
    if (byte <= 0x7f) {
        h->kind = KIND_UINT;
        h->u = byte;
        return 0;
    }
    if (byte >= 0xe0) {
        h->kind = KIND_INT;
        h->i = (int8_t)byte;
        return 0;
    }
    if (byte >= 0x80 && byte <= 0x8f) {
        h->kind = KIND_MAP;
        return s_take_count (r, h, byte & 0x0f);
    }
    if (byte >= 0x90 && byte <= 0x9f) {
        h->kind = KIND_ARRAY;
        return s_take_count (r, h, byte & 0x0f);
    }
    if (byte >= 0xa0 && byte <= 0xbf) {
        h->kind = KIND_STR;
        return s_take_body (r, h, byte & 0x1f);
    }
    switch (byte) {
    case 0xc0:
        h->kind = KIND_NIL;
        return 0;
    case 0xc2:
    case 0xc3:
        h->kind = KIND_BOOL;
        h->u = byte == 0xc3;
        return 0;
    case 0xc4:
    case 0xc5:
    case 0xc6:
        h->kind = KIND_BIN;
        if (s_take (r, 1 << (byte - 0xc4), &value))
            return -1;
        return s_take_body (r, h, value);
    case 0xc7:
    case 0xc8:
    case 0xc9:
        h->kind = KIND_EXT;
        if (s_take (r, 1 << (byte - 0xc7), &value))
            return -1;
        return s_take_body (r, h, value + 1); //  the type byte, then the data
    case 0xca: {
        h->kind = KIND_FLOAT;
        if (s_take (r, 4, &value))
            return -1;
        uint32_t bits = (uint32_t)value;
        float f;
        memcpy (&f, &bits, 4);
        h->f = f;
        return 0;
    }
    case 0xcb:
        h->kind = KIND_FLOAT;
        if (s_take (r, 8, &value))
            return -1;
        memcpy (&h->f, &value, 8);
        return 0;
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
        h->kind = KIND_UINT;
        return s_take (r, 1 << (byte - 0xcc), &h->u);
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: {
        int bytes = 1 << (byte - 0xd0);
        if (s_take (r, bytes, &value))
            return -1;
        //  Sign-extend from the encoded width.
        int shift = 64 - 8 * bytes;
        h->i = (int64_t)(value << shift) >> shift;
        h->kind = h->i < 0 ? KIND_INT : KIND_UINT;
        h->u = (uint64_t)h->i;
        return 0;
    }
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
        h->kind = KIND_EXT;
        return s_take_body (r, h, 1 + (1u << (byte - 0xd4)));
    case 0xd9:
    case 0xda:
    case 0xdb:
        h->kind = KIND_STR;
        if (s_take (r, 1 << (byte - 0xd9), &value))
            return -1;
        return s_take_body (r, h, value);
    case 0xdc:
    case 0xdd:
        h->kind = KIND_ARRAY;
        if (s_take (r, byte == 0xdc ? 2 : 4, &value))
            return -1;
        return s_take_count (r, h, value);
    case 0xde:
    case 0xdf:
        h->kind = KIND_MAP;
        if (s_take (r, byte == 0xde ? 2 : 4, &value))
            return -1;
        return s_take_count (r, h, value);
    default:
        return s_fail (r, PB_E_MALFORMED, "byte 0x%02x is not a msgpack type", byte);
    }
}

//  Walks past one complete value; CHECK_UTF8 also validates str contents.
static int s_skip (reader_t *r, int depth, bool check_utf8)
{
    if (depth > PB_CODEC_MAX_DEPTH)
        return s_fail (r, PB_E_TOO_LARGE, "nested deeper than %d levels", PB_CODEC_MAX_DEPTH);
    header_t h;
    if (s_read_header (r, &h))
        return -1;
    if (h.kind == KIND_STR && check_utf8 && !pb_utf8_valid (h.body, h.length))
        return s_fail (r, PB_E_INVALID_UTF8, "str is not valid UTF-8");
    if (h.kind == KIND_ARRAY || h.kind == KIND_MAP) {
        uint64_t values = h.kind == KIND_MAP ? (uint64_t)h.length * 2 : h.length;
        for (uint64_t i = 0; i < values; i++)
            if (s_skip (r, depth + 1, check_utf8))
                return -1;
    }
    return 0;
}

/* ==== Decoder: a map against a schema ==== */

static void *s_alloc (reader_t *r, uint64_t count, size_t item_size)
{
    uint64_t bytes = count * item_size;
    if (bytes > r->budget) {
        s_fail (r, PB_E_TOO_LARGE,
                "%llu entries would need %llu bytes, more than this message warrants",
                (unsigned long long)count, (unsigned long long)bytes);
        return NULL;
    }
    void *memory = pb_arena_alloc (r->arena, bytes ? (size_t)bytes : 1);
    if (!memory) {
        s_fail (r, PB_E_INTERNAL, "out of memory");
        return NULL;
    }
    r->budget -= bytes;
    return memory;
}

static int s_decode_map (reader_t *r, const pb_schema_t *schema, void *out, int depth);

static int s_expect (reader_t *r, header_t *h, value_kind_t kind)
{
    if (h->kind == kind)
        return 0;
    return s_fail (r, PB_E_WRONG_TYPE, "expected %s, got %s", s_kind_names[kind],
                   s_kind_names[h->kind]);
}

static int s_check_str (reader_t *r, const pb_field_t *field, header_t *h, bool utf8)
{
    uint32_t max_len = field->max_len ? field->max_len : PB_CODEC_DEFAULT_MAX_LEN;
    if (h->length > max_len)
        return s_fail (r, PB_E_TOO_LARGE, "%u bytes, longer than the limit of %u", h->length,
                       max_len);
    if (h->length < field->min_len)
        return s_fail (r, PB_E_INVALID, "%u bytes, shorter than the minimum of %u", h->length,
                       field->min_len);
    if (utf8 && !pb_utf8_valid (h->body, h->length))
        return s_fail (r, PB_E_INVALID_UTF8, "not valid UTF-8");
    return 0;
}

static int s_check_items (reader_t *r, const pb_field_t *field, header_t *h)
{
    uint32_t max_items = field->max_items ? field->max_items : PB_CODEC_DEFAULT_ITEMS;
    if (h->length > max_items)
        return s_fail (r, PB_E_TOO_LARGE, "%u entries, more than the limit of %u", h->length,
                       max_items);
    return 0;
}

static int s_decode_field (reader_t *r, const pb_field_t *field, header_t *h, void *slot, int depth)
{
    switch (field->type) {
    case PB_FIELD_BOOL:
        if (s_expect (r, h, KIND_BOOL))
            return -1;
        *(bool *)slot = h->u != 0;
        return 0;
    case PB_FIELD_INT: {
        int64_t value;
        if (h->kind == KIND_UINT) {
            if (h->u > INT64_MAX)
                return s_fail (r, PB_E_INVALID, "%llu is out of range", (unsigned long long)h->u);
            value = (int64_t)h->u;
        } else if (h->kind == KIND_INT)
            value = h->i;
        else
            return s_expect (r, h, KIND_INT);
        if ((field->min || field->max) && (value < field->min || value > field->max))
            return s_fail (r, PB_E_INVALID, "%lld is outside %lld..%lld", (long long)value,
                           (long long)field->min, (long long)field->max);
        *(int64_t *)slot = value;
        return 0;
    }
    case PB_FIELD_FLOAT:
        if (h->kind == KIND_FLOAT)
            *(double *)slot = h->f;
        else if (h->kind == KIND_UINT)
            *(double *)slot = (double)h->u;
        else if (h->kind == KIND_INT)
            *(double *)slot = (double)h->i;
        else
            return s_expect (r, h, KIND_FLOAT);
        return 0;
    case PB_FIELD_STR:
    case PB_FIELD_BIN: {
        bool is_str = field->type == PB_FIELD_STR;
        if (s_expect (r, h, is_str ? KIND_STR : KIND_BIN) || s_check_str (r, field, h, is_str))
            return -1;
        pb_str_t *str = slot;
        str->ptr = h->body;
        str->len = h->length;
        return 0;
    }
    case PB_FIELD_STR_LIST: {
        if (s_expect (r, h, KIND_ARRAY) || s_check_items (r, field, h))
            return -1;
        pb_str_list_t *list = slot;
        list->items = s_alloc (r, h->length, sizeof (pb_str_t));
        if (!list->items)
            return -1;
        for (uint32_t i = 0; i < h->length; i++) {
            s_path_push (r, NULL, i);
            header_t item;
            if (s_read_header (r, &item) || s_expect (r, &item, KIND_STR) ||
                s_check_str (r, field, &item, true))
                return -1;
            list->items[i].ptr = item.body;
            list->items[i].len = item.length;
            s_path_pop (r);
        }
        list->count = h->length;
        return 0;
    }
    case PB_FIELD_RAW_LIST: {
        if (s_expect (r, h, KIND_ARRAY) || s_check_items (r, field, h))
            return -1;
        pb_str_list_t *list = slot;
        list->items = s_alloc (r, h->length, sizeof (pb_str_t));
        if (!list->items)
            return -1;
        uint32_t max_len = field->max_len ? field->max_len : PB_CODEC_DEFAULT_MAX_LEN;
        for (uint32_t i = 0; i < h->length; i++) {
            s_path_push (r, NULL, i);
            const unsigned char *start = r->pos;
            if (s_skip (r, depth + 1, false))
                return -1;
            size_t length = (size_t)(r->pos - start);
            if (length > max_len)
                return s_fail (r, PB_E_TOO_LARGE, "%zu bytes, longer than the limit of %u", length,
                               max_len);
            list->items[i].ptr = (const char *)start;
            list->items[i].len = (uint32_t)length;
            s_path_pop (r);
        }
        list->count = h->length;
        return 0;
    }
    case PB_FIELD_MAP:
        //  The caller rewound to the header, so s_decode_map reads it itself.
        return s_decode_map (r, field->schema, slot, depth + 1);
    case PB_FIELD_MAP_LIST: {
        if (s_expect (r, h, KIND_ARRAY) || s_check_items (r, field, h))
            return -1;
        pb_list_t *list = slot;
        size_t item_size = field->schema->struct_size;
        list->items = s_alloc (r, h->length, item_size);
        if (!list->items)
            return -1;
        for (uint32_t i = 0; i < h->length; i++) {
            s_path_push (r, NULL, i);
            if (s_decode_map (r, field->schema, (char *)list->items + i * item_size, depth + 1))
                return -1;
            s_path_pop (r);
        }
        list->count = h->length;
        return 0;
    }
    }
    return s_fail (r, PB_E_INTERNAL, "schema field has an unknown type");
}

static const pb_field_t *s_find_field (const pb_schema_t *schema, const char *name, uint32_t length,
                                       uint32_t *index)
{
    for (uint32_t i = 0; i < schema->field_count; i++) {
        //  Keys are counted, not terminated, and may hold NUL bytes: compare
        //  lengths first, then bytes, never reading past either.
        const char *candidate = schema->fields[i].name;
        if (strlen (candidate) == length && memcmp (candidate, name, length) == 0) {
            *index = i;
            return &schema->fields[i];
        }
    }
    return NULL;
}

static int s_decode_map (reader_t *r, const pb_schema_t *schema, void *out, int depth)
{
    if (depth > PB_CODEC_MAX_DEPTH)
        return s_fail (r, PB_E_TOO_LARGE, "nested deeper than %d levels", PB_CODEC_MAX_DEPTH);
    header_t h;
    if (s_read_header (r, &h))
        return -1;
    if (h.kind != KIND_MAP)
        return s_fail (r, PB_E_WRONG_TYPE, "expected a %s map, got %s", schema->name,
                       s_kind_names[h.kind]);
    pb_present_t present = 0;
    for (uint32_t pair = 0; pair < h.length; pair++) {
        header_t key;
        if (s_read_header (r, &key))
            return -1;
        if (key.kind != KIND_STR)
            return s_fail (r, PB_E_MALFORMED, "a %s key is %s, not str", schema->name,
                           s_kind_names[key.kind]);
        uint32_t index;
        const pb_field_t *field = s_find_field (schema, key.body, key.length, &index);
        if (!field) {
            //  Unknown fields are how the protocol stays compatible: skip.
            if (s_skip (r, depth + 1, false))
                return -1;
            continue;
        }
        s_path_push (r, field->name, 0);
        if (present & ((pb_present_t)1 << index))
            return s_fail (r, PB_E_MALFORMED, "given twice");
        const unsigned char *value_start = r->pos;
        header_t value;
        if (s_read_header (r, &value))
            return -1;
        if (value.kind == KIND_NIL) {
            //  nil means absent; a required field is then missing.
            s_path_pop (r);
            continue;
        }
        if (field->type == PB_FIELD_MAP)
            r->pos = value_start;
        if (s_decode_field (r, field, &value, (char *)out + field->offset, depth))
            return -1;
        present |= (pb_present_t)1 << index;
        s_path_pop (r);
    }
    for (uint32_t i = 0; i < schema->field_count; i++)
        if (schema->fields[i].required && !(present & ((pb_present_t)1 << i)))
            return s_fail (r, PB_E_MISSING_FIELD, "missing required field '%s' of %s",
                           schema->fields[i].name, schema->name);
    *(pb_present_t *)out = present;
    return 0;
}

static void s_reader_init (reader_t *r, const void *data, size_t size, pb_codec_error_t *error)
{
    memset (r, 0, sizeof *r);
    r->pos = data;
    r->end = r->pos + size;
    r->error = error;
    if (error) {
        error->code = PB_OK;
        error->message[0] = '\0';
    }
}

int pb_decode (const void *data, size_t size, size_t max_frame, const pb_schema_t *schema,
               void *out, pb_arena_t *arena, pb_codec_error_t *error)
{
    reader_t r;
    s_reader_init (&r, data, size, error);
    memset (out, 0, schema->struct_size);
    if (size > max_frame)
        return s_fail (&r, PB_E_TOO_LARGE, "message of %zu bytes exceeds the limit of %zu", size,
                       max_frame);
    r.arena = arena;
    r.budget = size * PB_CODEC_ALLOC_FACTOR + 65536;
    if (s_decode_map (&r, schema, out, 0))
        return -1;
    if (r.pos != r.end)
        return s_fail (&r, PB_E_MALFORMED, "%zu trailing bytes after the %s message",
                       s_remaining (&r), schema->name);
    return 0;
}

int pb_codec_validate (const void *data, size_t size, size_t max_frame, pb_codec_error_t *error)
{
    reader_t r;
    s_reader_init (&r, data, size, error);
    if (size > max_frame)
        return s_fail (&r, PB_E_TOO_LARGE, "message of %zu bytes exceeds the limit of %zu", size,
                       max_frame);
    if (s_skip (&r, 0, true))
        return -1;
    if (r.pos != r.end)
        return s_fail (&r, PB_E_MALFORMED, "%zu trailing bytes after the value", s_remaining (&r));
    return 0;
}

/* ==== Encoder ==== */

static void s_pack_str (msgpack_packer *packer, pb_str_t str)
{
    msgpack_pack_str (packer, str.len);
    msgpack_pack_str_body (packer, str.ptr, str.len);
}

int pb_encode (const pb_schema_t *schema, const void *in, msgpack_packer *packer)
{
    pb_present_t present = *(const pb_present_t *)in;
    uint32_t count = 0;
    for (uint32_t i = 0; i < schema->field_count; i++)
        if (schema->fields[i].required || (present >> i & 1u))
            count++;
    if (msgpack_pack_map (packer, count))
        return -1;
    for (uint32_t i = 0; i < schema->field_count; i++) {
        const pb_field_t *field = &schema->fields[i];
        if (!field->required && !(present >> i & 1u))
            continue;
        const void *slot = (const char *)in + field->offset;
        s_pack_str (packer, pb_str (field->name));
        switch (field->type) {
        case PB_FIELD_BOOL:
            if (*(const bool *)slot)
                msgpack_pack_true (packer);
            else
                msgpack_pack_false (packer);
            break;
        case PB_FIELD_INT:
            msgpack_pack_int64 (packer, *(const int64_t *)slot);
            break;
        case PB_FIELD_FLOAT:
            msgpack_pack_double (packer, *(const double *)slot);
            break;
        case PB_FIELD_STR:
            s_pack_str (packer, *(const pb_str_t *)slot);
            break;
        case PB_FIELD_BIN: {
            const pb_str_t *bin = slot;
            msgpack_pack_bin (packer, bin->len);
            msgpack_pack_bin_body (packer, bin->ptr, bin->len);
            break;
        }
        case PB_FIELD_STR_LIST: {
            const pb_str_list_t *list = slot;
            msgpack_pack_array (packer, list->count);
            for (uint32_t item = 0; item < list->count; item++)
                s_pack_str (packer, list->items[item]);
            break;
        }
        case PB_FIELD_MAP:
            if (pb_encode (field->schema, slot, packer))
                return -1;
            break;
        case PB_FIELD_RAW_LIST: {
            const pb_str_list_t *list = slot;
            msgpack_pack_array (packer, list->count);
            for (uint32_t item = 0; item < list->count; item++)
                packer->callback (packer->data, list->items[item].ptr, list->items[item].len);
            break;
        }
        case PB_FIELD_MAP_LIST: {
            const pb_list_t *list = slot;
            msgpack_pack_array (packer, list->count);
            for (uint32_t item = 0; item < list->count; item++)
                if (pb_encode (field->schema,
                               (const char *)list->items + item * field->schema->struct_size,
                               packer))
                    return -1;
            break;
        }
        }
    }
    return 0;
}
