/*  The message codec: round trips, schema errors named by field, and hostile
    bytes (bombs, truncation, deep nesting, bad UTF-8) that must fail cleanly
    without allocating more than the input warrants. Under AddressSanitizer a
    96 GB allocation attempt aborts the test, so passing proves it never
    happens. */
#include "paperbus.h"

#include <criterion/criterion.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ==== A test schema: a batch of papers ==== */

typedef struct {
    pb_present_t present;
    pb_str_t id;
    int64_t version;
    pb_str_t title;
    pb_str_list_t authors;
    double score;
    bool withdrawn;
    pb_str_t blob;
} paper_t;

enum {
    PAPER_ID,
    PAPER_VERSION,
    PAPER_TITLE,
    PAPER_AUTHORS,
    PAPER_SCORE,
    PAPER_WITHDRAWN,
    PAPER_BLOB
};

static const pb_field_t s_paper_fields[] = {
    {"id", PB_FIELD_STR, true, offsetof (paper_t, id), 0, 0, 1, 64, 0, NULL, NULL},
    {"version", PB_FIELD_INT, true, offsetof (paper_t, version), 1, 1000, 0, 0, 0, NULL, NULL},
    {"title", PB_FIELD_STR, true, offsetof (paper_t, title), 0, 0, 1, 1000, 0, NULL, NULL},
    {"authors", PB_FIELD_STR_LIST, false, offsetof (paper_t, authors), 0, 0, 1, 200, 100, NULL,
     NULL},
    {"score", PB_FIELD_FLOAT, false, offsetof (paper_t, score), 0, 0, 0, 0, 0, NULL, NULL},
    {"withdrawn", PB_FIELD_BOOL, false, offsetof (paper_t, withdrawn), 0, 0, 0, 0, 0, NULL, NULL},
    {"blob", PB_FIELD_BIN, false, offsetof (paper_t, blob), 0, 0, 0, 1024, 0, NULL, NULL},
};
static const pb_schema_t s_paper_schema = {"paper", s_paper_fields, 7, sizeof (paper_t), NULL};

typedef struct {
    pb_present_t present;
    int64_t count;
} meta_t;

static const pb_field_t s_meta_fields[] = {
    {"count", PB_FIELD_INT, true, offsetof (meta_t, count), 0, 0, 0, 0, 0, NULL, NULL},
};
static const pb_schema_t s_meta_schema = {"meta", s_meta_fields, 1, sizeof (meta_t), NULL};

typedef struct {
    pb_present_t present;
    pb_str_t source;
    pb_list_t papers;
    meta_t meta;
} batch_t;

static const pb_field_t s_batch_fields[] = {
    {"source", PB_FIELD_STR, true, offsetof (batch_t, source), 0, 0, 0, 0, 0, NULL, NULL},
    {"papers", PB_FIELD_MAP_LIST, true, offsetof (batch_t, papers), 0, 0, 0, 0, 1000,
     &s_paper_schema, NULL},
    {"meta", PB_FIELD_MAP, false, offsetof (batch_t, meta), 0, 0, 0, 0, 0, &s_meta_schema, NULL},
};
static const pb_schema_t s_batch_schema = {"batch", s_batch_fields, 3, sizeof (batch_t), NULL};

//  All fields optional and the struct large: lets a tiny input ask for a
//  lot of memory, which the allocation budget must refuse.
typedef struct {
    pb_present_t present;
    char padding[4096];
} roomy_t;
static const pb_schema_t s_roomy_schema = {"roomy", NULL, 0, sizeof (roomy_t), NULL};
typedef struct {
    pb_present_t present;
    pb_list_t rooms;
} roomy_list_t;
static const pb_field_t s_roomy_list_fields[] = {
    {"rooms", PB_FIELD_MAP_LIST, true, offsetof (roomy_list_t, rooms), 0, 0, 0, 0, 0,
     &s_roomy_schema, NULL},
};
static const pb_schema_t s_roomy_list_schema = {"roomy_list", s_roomy_list_fields, 1,
                                                sizeof (roomy_list_t), NULL};

/* ==== Helpers ==== */

static msgpack_sbuffer s_buffer;
static msgpack_packer s_packer;
static pb_arena_t *s_arena;

static void s_setup (void)
{
    msgpack_sbuffer_init (&s_buffer);
    msgpack_packer_init (&s_packer, &s_buffer, msgpack_sbuffer_write);
    s_arena = pb_arena_new ();
}

static void s_teardown (void)
{
    msgpack_sbuffer_destroy (&s_buffer);
    pb_arena_destroy (&s_arena);
}

TestSuite (codec, .init = s_setup, .fini = s_teardown);

static void s_key (const char *key)
{
    msgpack_pack_str (&s_packer, strlen (key));
    msgpack_pack_str_body (&s_packer, key, strlen (key));
}

static void s_str (const char *value)
{
    s_key (value);
}

//  Packs a valid paper map with the given title (raw bytes, LEN of them).
static void s_pack_paper (const char *title, size_t len)
{
    msgpack_pack_map (&s_packer, 3);
    s_key ("id");
    s_str ("2501.01234");
    s_key ("version");
    msgpack_pack_int (&s_packer, 2);
    s_key ("title");
    msgpack_pack_str (&s_packer, len);
    msgpack_pack_str_body (&s_packer, title, len);
}

static int s_decode_paper (const void *data, size_t size, paper_t *paper, pb_codec_error_t *error)
{
    return pb_decode (data, size, 1 << 20, &s_paper_schema, paper, s_arena, error);
}

/* ==== Round trips and schema rules ==== */

Test (codec, round_trip_keeps_every_field)
{
    pb_str_t authors[] = {pb_str ("Ada Lovelace"), pb_str ("Émile Borel")};
    paper_t in = {0};
    in.id = pb_str ("hep-th/9901001");
    in.version = 3;
    in.title = pb_str ("On $\\alpha$-stable laws");
    in.authors.items = authors;
    in.authors.count = 2;
    in.score = 2.5;
    in.withdrawn = true;
    in.blob.ptr = "\x00\x01\x02";
    in.blob.len = 3;
    pb_set_present (&in, PAPER_AUTHORS);
    pb_set_present (&in, PAPER_SCORE);
    pb_set_present (&in, PAPER_WITHDRAWN);
    pb_set_present (&in, PAPER_BLOB);
    cr_assert_eq (pb_encode (&s_paper_schema, &in, &s_packer), 0);

    paper_t out;
    pb_codec_error_t error;
    cr_assert_eq (s_decode_paper (s_buffer.data, s_buffer.size, &out, &error), 0, "%s",
                  error.message);
    cr_assert (pb_str_eq (out.id, "hep-th/9901001"));
    cr_assert_eq (out.version, 3);
    cr_assert (pb_str_eq (out.title, "On $\\alpha$-stable laws"));
    cr_assert_eq (out.authors.count, 2);
    cr_assert (pb_str_eq (out.authors.items[1], "Émile Borel"));
    cr_assert_float_eq (out.score, 2.5, 1e-12);
    cr_assert (out.withdrawn);
    cr_assert_eq (out.blob.len, 3);
    cr_assert_eq (memcmp (out.blob.ptr, "\x00\x01\x02", 3), 0);
    cr_assert (pb_has (&out, PAPER_AUTHORS) && pb_has (&out, PAPER_BLOB));
}

Test (codec, optional_fields_left_out_are_absent)
{
    s_pack_paper ("A title", 7);
    paper_t out;
    pb_codec_error_t error;
    cr_assert_eq (s_decode_paper (s_buffer.data, s_buffer.size, &out, &error), 0);
    cr_assert_not (pb_has (&out, PAPER_AUTHORS));
    cr_assert_not (pb_has (&out, PAPER_SCORE));
    cr_assert (pb_has (&out, PAPER_TITLE));
}

Test (codec, unknown_fields_are_ignored)
{
    msgpack_pack_map (&s_packer, 5);
    s_key ("future_field");
    msgpack_pack_array (&s_packer, 2);
    msgpack_pack_map (&s_packer, 1);
    s_key ("deep");
    msgpack_pack_nil (&s_packer);
    msgpack_pack_double (&s_packer, 1.5);
    s_key ("id");
    s_str ("2501.00001");
    s_key ("version");
    msgpack_pack_int (&s_packer, 1);
    s_key ("title");
    s_str ("Kept");
    s_key ("another_unknown");
    msgpack_pack_bin (&s_packer, 2);
    msgpack_pack_bin_body (&s_packer, "ab", 2);
    paper_t out;
    pb_codec_error_t error;
    cr_assert_eq (s_decode_paper (s_buffer.data, s_buffer.size, &out, &error), 0, "%s",
                  error.message);
    cr_assert (pb_str_eq (out.title, "Kept"));
}

Test (codec, missing_required_field_is_named)
{
    msgpack_pack_map (&s_packer, 2);
    s_key ("id");
    s_str ("2501.00001");
    s_key ("version");
    msgpack_pack_int (&s_packer, 1);
    paper_t out;
    pb_codec_error_t error;
    cr_assert_eq (s_decode_paper (s_buffer.data, s_buffer.size, &out, &error), -1);
    cr_assert_eq (error.code, PB_E_MISSING_FIELD);
    cr_assert (strstr (error.message, "'title'"), "message: %s", error.message);
}

Test (codec, nil_required_field_counts_as_missing)
{
    msgpack_pack_map (&s_packer, 3);
    s_key ("id");
    s_str ("2501.00001");
    s_key ("version");
    msgpack_pack_int (&s_packer, 1);
    s_key ("title");
    msgpack_pack_nil (&s_packer);
    paper_t out;
    pb_codec_error_t error;
    cr_assert_eq (s_decode_paper (s_buffer.data, s_buffer.size, &out, &error), -1);
    cr_assert_eq (error.code, PB_E_MISSING_FIELD);
}

Test (codec, wrong_type_is_named_with_both_types)
{
    msgpack_pack_map (&s_packer, 3);
    s_key ("id");
    s_str ("2501.00001");
    s_key ("version");
    msgpack_pack_int (&s_packer, 1);
    s_key ("title");
    msgpack_pack_int (&s_packer, 42);
    paper_t out;
    pb_codec_error_t error;
    cr_assert_eq (s_decode_paper (s_buffer.data, s_buffer.size, &out, &error), -1);
    cr_assert_eq (error.code, PB_E_WRONG_TYPE);
    cr_assert_str_eq (error.message, "title: expected str, got int");
}

Test (codec, error_in_nested_list_names_the_path)
{
    msgpack_pack_map (&s_packer, 2);
    s_key ("source");
    s_str ("test");
    s_key ("papers");
    msgpack_pack_array (&s_packer, 2);
    s_pack_paper ("Fine", 4);
    msgpack_pack_map (&s_packer, 3);
    s_key ("id");
    s_str ("2501.00002");
    s_key ("version");
    msgpack_pack_int (&s_packer, 5000);
    s_key ("title");
    s_str ("Version out of range");
    batch_t out;
    pb_codec_error_t error;
    cr_assert_eq (
        pb_decode (s_buffer.data, s_buffer.size, 1 << 20, &s_batch_schema, &out, s_arena, &error),
        -1);
    cr_assert_eq (error.code, PB_E_INVALID);
    cr_assert (strstr (error.message, "papers[1].version"), "message: %s", error.message);
}

Test (codec, nested_map_and_list_decode)
{
    msgpack_pack_map (&s_packer, 3);
    s_key ("source");
    s_str ("arxiv");
    s_key ("meta");
    msgpack_pack_map (&s_packer, 1);
    s_key ("count");
    msgpack_pack_int (&s_packer, -7);
    s_key ("papers");
    msgpack_pack_array (&s_packer, 3);
    for (int i = 0; i < 3; i++)
        s_pack_paper ("Paper", 5);
    batch_t out;
    pb_codec_error_t error;
    cr_assert_eq (
        pb_decode (s_buffer.data, s_buffer.size, 1 << 20, &s_batch_schema, &out, s_arena, &error),
        0, "%s", error.message);
    cr_assert_eq (out.papers.count, 3);
    cr_assert_eq (((paper_t *)out.papers.items)[2].version, 2);
    cr_assert_eq (out.meta.count, -7);
}

Test (codec, duplicate_field_is_rejected)
{
    msgpack_pack_map (&s_packer, 4);
    s_key ("id");
    s_str ("2501.00001");
    s_key ("version");
    msgpack_pack_int (&s_packer, 1);
    s_key ("title");
    s_str ("One");
    s_key ("title");
    s_str ("Two");
    paper_t out;
    pb_codec_error_t error;
    cr_assert_eq (s_decode_paper (s_buffer.data, s_buffer.size, &out, &error), -1);
    cr_assert (strstr (error.message, "title: given twice"), "message: %s", error.message);
}

Test (codec, string_limits_are_enforced_per_field)
{
    char title[1001];
    memset (title, 'x', sizeof title);
    s_pack_paper (title, sizeof title);
    paper_t out;
    pb_codec_error_t error;
    cr_assert_eq (s_decode_paper (s_buffer.data, s_buffer.size, &out, &error), -1);
    cr_assert_eq (error.code, PB_E_TOO_LARGE);
    cr_assert (strstr (error.message, "title: 1001 bytes"), "message: %s", error.message);

    msgpack_sbuffer_clear (&s_buffer);
    s_pack_paper ("", 0);
    cr_assert_eq (s_decode_paper (s_buffer.data, s_buffer.size, &out, &error), -1);
    cr_assert_eq (error.code, PB_E_INVALID);
}

Test (codec, list_item_limit_is_enforced)
{
    msgpack_pack_map (&s_packer, 4);
    s_key ("id");
    s_str ("2501.00001");
    s_key ("version");
    msgpack_pack_int (&s_packer, 1);
    s_key ("title");
    s_str ("Many authors");
    s_key ("authors");
    msgpack_pack_array (&s_packer, 101);
    for (int i = 0; i < 101; i++)
        s_str ("A");
    paper_t out;
    pb_codec_error_t error;
    cr_assert_eq (s_decode_paper (s_buffer.data, s_buffer.size, &out, &error), -1);
    cr_assert_eq (error.code, PB_E_TOO_LARGE);
    cr_assert (strstr (error.message, "authors: 101 entries"), "message: %s", error.message);
}

Test (codec, trailing_bytes_are_rejected)
{
    s_pack_paper ("Title", 5);
    msgpack_pack_nil (&s_packer);
    paper_t out;
    pb_codec_error_t error;
    cr_assert_eq (s_decode_paper (s_buffer.data, s_buffer.size, &out, &error), -1);
    cr_assert (strstr (error.message, "1 trailing bytes"), "message: %s", error.message);
}

Test (codec, frame_over_the_limit_is_rejected_before_reading)
{
    s_pack_paper ("Title", 5);
    paper_t out;
    pb_codec_error_t error;
    cr_assert_eq (
        pb_decode (s_buffer.data, s_buffer.size, 8, &s_paper_schema, &out, s_arena, &error), -1);
    cr_assert_eq (error.code, PB_E_TOO_LARGE);
}

/* ==== Hostile bytes ==== */

Test (codec, array_bomb_is_refused_without_allocating)
{
    //  msgpack_unpack would reserve 2^32 objects (about 96 GB) for this.
    const unsigned char bomb[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    pb_codec_error_t error;
    cr_assert_eq (pb_codec_validate (bomb, sizeof bomb, 1 << 20, &error), -1);
    cr_assert_eq (error.code, PB_E_MALFORMED);
    cr_assert (strstr (error.message, "4294967295 entries cannot fit"), "message: %s",
               error.message);

    //  The same bomb as the value of a list field.
    const unsigned char nested[] = {0x82, 0xa6, 's', 'o', 'u', 'r', 'c',  'e',  0xa1, 'x',  0xa6,
                                    'p',  'a',  'p', 'e', 'r', 's', 0xdd, 0xff, 0xff, 0xff, 0xff};
    batch_t out;
    cr_assert_eq (
        pb_decode (nested, sizeof nested, 1 << 20, &s_batch_schema, &out, s_arena, &error), -1);
    cr_assert (strstr (error.message, "papers"), "message: %s", error.message);
    cr_assert_eq (pb_arena_used (s_arena), 0);
}

Test (codec, map_bomb_is_refused)
{
    const unsigned char bomb[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0};
    paper_t out;
    pb_codec_error_t error;
    cr_assert_eq (s_decode_paper (bomb, sizeof bomb, &out, &error), -1);
    cr_assert_eq (error.code, PB_E_MALFORMED);
}

Test (codec, hundred_megabyte_length_prefix_is_truncation)
{
    //  str32 and bin32 announcing 100,000,000 bytes, followed by three.
    const unsigned char str[] = {0xdb, 0x05, 0xf5, 0xe1, 0x00, 'a', 'b', 'c'};
    const unsigned char bin[] = {0xc6, 0x05, 0xf5, 0xe1, 0x00, 'a', 'b', 'c'};
    pb_codec_error_t error;
    cr_assert_eq (pb_codec_validate (str, sizeof str, 1 << 20, &error), -1);
    cr_assert (strstr (error.message, "100000000 bytes with 3 bytes left"), "message: %s",
               error.message);
    cr_assert_eq (pb_codec_validate (bin, sizeof bin, 1 << 20, &error), -1);
    cr_assert_eq (error.code, PB_E_MALFORMED);
}

Test (codec, deep_nesting_is_refused)
{
    unsigned char deep[1000];
    memset (deep, 0x91, sizeof deep - 1); //  arrays of one array of one ...
    deep[sizeof deep - 1] = 0xc0;
    pb_codec_error_t error;
    cr_assert_eq (pb_codec_validate (deep, sizeof deep, 1 << 20, &error), -1);
    cr_assert_eq (error.code, PB_E_TOO_LARGE);
    cr_assert (strstr (error.message, "nested deeper"), "message: %s", error.message);

    //  The same inside an unknown field of a message.
    msgpack_pack_map (&s_packer, 4);
    s_key ("junk");
    msgpack_sbuffer_write (&s_buffer, (const char *)deep, sizeof deep);
    s_key ("id");
    s_str ("x");
    s_key ("version");
    msgpack_pack_int (&s_packer, 1);
    s_key ("title");
    s_str ("t");
    paper_t out;
    cr_assert_eq (s_decode_paper (s_buffer.data, s_buffer.size, &out, &error), -1);
    cr_assert_eq (error.code, PB_E_TOO_LARGE);
}

Test (codec, invalid_utf8_is_rejected_in_fields_and_lists)
{
    const char *bad[] = {
        "\xc0\xaf",         //  overlong '/'
        "\xed\xa0\x80",     //  UTF-16 surrogate
        "\xf4\x90\x80\x80", //  above U+10FFFF
        "\xe2\x82",         //  truncated sequence
        "ok\xff",           //  never valid
        "\x80",             //  lone continuation byte
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msgpack_sbuffer_clear (&s_buffer);
        s_pack_paper (bad[i], strlen (bad[i]));
        paper_t out;
        pb_codec_error_t error;
        cr_assert_eq (s_decode_paper (s_buffer.data, s_buffer.size, &out, &error), -1, "case %zu",
                      i);
        cr_assert_eq (error.code, PB_E_INVALID_UTF8, "case %zu: %s", i, error.message);
        cr_assert (strstr (error.message, "title"), "case %zu: %s", i, error.message);
    }
    msgpack_sbuffer_clear (&s_buffer);
    msgpack_pack_map (&s_packer, 4);
    s_key ("id");
    s_str ("x");
    s_key ("version");
    msgpack_pack_int (&s_packer, 1);
    s_key ("title");
    s_str ("t");
    s_key ("authors");
    msgpack_pack_array (&s_packer, 2);
    s_str ("Fine Name");
    msgpack_pack_str (&s_packer, 2);
    msgpack_pack_str_body (&s_packer, "\xc3\x28", 2);
    paper_t out;
    pb_codec_error_t error;
    cr_assert_eq (s_decode_paper (s_buffer.data, s_buffer.size, &out, &error), -1);
    cr_assert_str_eq (error.message, "authors[1]: not valid UTF-8");
}

Test (codec, valid_utf8_of_every_length_is_accepted)
{
    const char *good = "a é € 𝛼 ü";
    cr_assert (pb_utf8_valid (good, strlen (good)));
    cr_assert (pb_utf8_valid ("", 0));
    cr_assert (pb_utf8_valid ("\xf4\x8f\xbf\xbf", 4)); //  U+10FFFF
    cr_assert (pb_utf8_valid ("\xee\x80\x80", 3));     //  U+E000, just past surrogates
}

Test (codec, every_truncation_of_a_message_fails_cleanly)
{
    msgpack_pack_map (&s_packer, 2);
    s_key ("source");
    s_str ("truncation");
    s_key ("papers");
    msgpack_pack_array (&s_packer, 2);
    s_pack_paper ("First paper", 11);
    s_pack_paper ("Second paper", 12);
    for (size_t cut = 0; cut < s_buffer.size; cut++) {
        //  A private copy of exactly CUT bytes, so ASan sees any over-read.
        unsigned char *prefix = malloc (cut ? cut : 1);
        memcpy (prefix, s_buffer.data, cut);
        batch_t out;
        pb_codec_error_t error;
        cr_assert_eq (pb_decode (prefix, cut, 1 << 20, &s_batch_schema, &out, s_arena, &error), -1,
                      "a %zu-byte prefix decoded", cut);
        cr_assert_neq (error.code, PB_OK);
        free (prefix);
        pb_arena_reset (s_arena);
    }
}

Test (codec, random_bytes_and_bit_flips_never_crash)
{
    srand (12345);
    s_pack_paper ("A perfectly ordinary title", 26);
    unsigned char *buffer = malloc (512);
    int accepted = 0;
    for (int round = 0; round < 20000; round++) {
        size_t size;
        if (round % 2) {
            size = (size_t)(rand () % 512);
            for (size_t i = 0; i < size; i++)
                buffer[i] = (unsigned char)rand ();
        } else {
            size = s_buffer.size;
            memcpy (buffer, s_buffer.data, size);
            buffer[rand () % size] ^= (unsigned char)(1u << (rand () % 8));
        }
        paper_t out;
        pb_codec_error_t error;
        if (s_decode_paper (buffer, size, &out, &error) == 0) {
            accepted++;
            cr_assert (pb_utf8_valid (out.title.ptr, out.title.len));
            cr_assert (out.version >= 1 && out.version <= 1000);
        }
        pb_codec_validate (buffer, size, 1 << 20, &error);
        pb_arena_reset (s_arena);
    }
    free (buffer);
    //  Some flips (inside the title text) leave a valid message.
    cr_assert_gt (accepted, 0);
}

Test (codec, allocation_is_bounded_by_input_size)
{
    //  60,000 empty maps: 60 KB of input asking for 60,000 structs of 4 KB.
    msgpack_pack_map (&s_packer, 1);
    s_key ("rooms");
    msgpack_pack_array (&s_packer, 60000);
    for (int i = 0; i < 60000; i++)
        msgpack_pack_map (&s_packer, 0);
    roomy_list_t out;
    pb_codec_error_t error;
    cr_assert_eq (pb_decode (s_buffer.data, s_buffer.size, 1 << 20, &s_roomy_list_schema, &out,
                             s_arena, &error),
                  -1);
    cr_assert_eq (error.code, PB_E_TOO_LARGE);
    cr_assert (strstr (error.message, "more than this message warrants"), "message: %s",
               error.message);
    cr_assert_lt (pb_arena_used (s_arena), s_buffer.size * PB_CODEC_ALLOC_FACTOR + 65536);
}

Test (codec, integers_of_every_width_decode)
{
    const int64_t values[] = {1, 127, 128, 255, 256, 65535, 65536, 1000};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        msgpack_sbuffer_clear (&s_buffer);
        msgpack_pack_map (&s_packer, 3);
        s_key ("id");
        s_str ("x");
        s_key ("title");
        s_str ("t");
        s_key ("version");
        msgpack_pack_int64 (&s_packer, values[i]);
        paper_t out;
        pb_codec_error_t error;
        int rc = s_decode_paper (s_buffer.data, s_buffer.size, &out, &error);
        if (values[i] <= 1000) {
            cr_assert_eq (rc, 0, "%lld: %s", (long long)values[i], error.message);
            cr_assert_eq (out.version, values[i]);
        } else
            cr_assert_eq (rc, -1);
    }
    //  Signed encodings of small positive numbers are ints too.
    const unsigned char int8_five[] = {0x83, 0xa2, 'i', 'd', 0xa1, 'x', 0xa5, 't',
                                       'i',  't',  'l', 'e', 0xa1, 't', 0xa7, 'v',
                                       'e',  'r',  's', 'i', 'o',  'n', 0xd0, 0x05};
    paper_t out;
    pb_codec_error_t error;
    cr_assert_eq (s_decode_paper (int8_five, sizeof int8_five, &out, &error), 0, "%s",
                  error.message);
    cr_assert_eq (out.version, 5);
}

Test (codec, error_codes_have_wire_names)
{
    cr_assert_str_eq (pb_error_name (PB_E_MISSING_FIELD), "missing_field");
    cr_assert_eq (pb_error_from_name ("no_worker"), PB_E_NO_WORKER);
    cr_assert_eq (pb_error_http_status (PB_E_TIMEOUT), 504);
    cr_assert_str_eq (pb_error_name (9999), "unknown");
}

Test (codec, utf8_check_never_reads_past_the_end)
{
    //  Exact-size heap buffers: AddressSanitizer reports any byte read beyond.
    for (size_t len = 0; len <= 100; len++) {
        char *ascii = malloc (len ? len : 1);
        memset (ascii, 'a', len);
        cr_assert (pb_utf8_valid (ascii, len), "length %zu", len);
        if (len >= 2) {
            memcpy (ascii + len - 2, "\xc3\xa9", 2); //  é as the last character
            cr_assert (pb_utf8_valid (ascii, len), "length %zu with é", len);
            ascii[len - 1] = 'a'; //  now a lead byte without its continuation
            cr_assert_not (pb_utf8_valid (ascii, len), "length %zu, cut é", len);
        }
        free (ascii);
    }
}

Test (codec, keys_with_nul_bytes_never_match_and_never_overread)
{
    //  "title\0" + 5000 bytes looks like "title" to strncmp; it is an
    //  unknown key, and comparing it must not read past the name "title".
    msgpack_pack_map (&s_packer, 4);
    size_t length = 6 + 5000;
    char *key = malloc (length);
    memcpy (key, "title", 6);
    memset (key + 6, 'A', 5000);
    msgpack_pack_str (&s_packer, length);
    msgpack_pack_str_body (&s_packer, key, length);
    s_str ("not the title");
    s_key ("id");
    s_str ("x");
    s_key ("version");
    msgpack_pack_int (&s_packer, 1);
    s_key ("title");
    s_str ("The title");
    free (key);
    paper_t out;
    pb_codec_error_t error;
    cr_assert_eq (s_decode_paper (s_buffer.data, s_buffer.size, &out, &error), 0, "%s",
                  error.message);
    cr_assert (pb_str_eq (out.title, "The title"));
}
