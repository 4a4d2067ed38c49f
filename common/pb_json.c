/*  pb_json — conversions between msgpack and JSON. */
#include "pb_json.h"
#include "pb_codec.h"

#include <stdio.h>
#include <string.h>

static json_t *s_from_object (msgpack_object object)
{
    switch (object.type) {
    case MSGPACK_OBJECT_NIL:
        return json_null ();
    case MSGPACK_OBJECT_BOOLEAN:
        return json_boolean (object.via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return object.via.u64 > INT64_MAX ? json_real ((double)object.via.u64)
                                          : json_integer ((json_int_t)object.via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return json_integer (object.via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return json_real (object.via.f64);
    case MSGPACK_OBJECT_STR:
        return json_stringn (object.via.str.ptr, object.via.str.size);
    case MSGPACK_OBJECT_BIN:
    case MSGPACK_OBJECT_EXT: {
        char text[32];
        snprintf (text, sizeof text, "<%u bytes>", object.via.bin.size);
        return json_string (text);
    }
    case MSGPACK_OBJECT_ARRAY: {
        json_t *array = json_array ();
        for (uint32_t i = 0; i < object.via.array.size; i++)
            json_array_append_new (array, s_from_object (object.via.array.ptr[i]));
        return array;
    }
    case MSGPACK_OBJECT_MAP: {
        json_t *map = json_object ();
        for (uint32_t i = 0; i < object.via.map.size; i++) {
            msgpack_object key = object.via.map.ptr[i].key;
            char name[256];
            if (key.type == MSGPACK_OBJECT_STR)
                snprintf (name, sizeof name, "%.*s", (int)key.via.str.size, key.via.str.ptr);
            else
                snprintf (name, sizeof name, "<key %d>", (int)i);
            json_object_set_new (map, name, s_from_object (object.via.map.ptr[i].val));
        }
        return map;
    }
    }
    return json_null ();
}

json_t *pb_json_from_msgpack (const void *data, size_t size, size_t max_frame, char *error,
                              size_t error_size)
{
    pb_codec_error_t codec_error;
    if (pb_codec_validate (data, size, max_frame, &codec_error)) {
        snprintf (error, error_size, "%s", codec_error.message);
        return NULL;
    }
    //  Validated: every length fits the input, so unpacking is bounded.
    msgpack_zone zone;
    msgpack_zone_init (&zone, 4096);
    msgpack_object object;
    json_t *json = NULL;
    if (msgpack_unpack (data, size, NULL, &zone, &object) == MSGPACK_UNPACK_SUCCESS)
        json = s_from_object (object);
    else
        snprintf (error, error_size, "msgpack-c could not unpack the value");
    msgpack_zone_destroy (&zone);
    return json;
}

int pb_json_to_msgpack (const json_t *json, msgpack_packer *packer)
{
    switch (json_typeof (json)) {
    case JSON_NULL:
        return msgpack_pack_nil (packer);
    case JSON_TRUE:
        return msgpack_pack_true (packer);
    case JSON_FALSE:
        return msgpack_pack_false (packer);
    case JSON_INTEGER:
        return msgpack_pack_int64 (packer, json_integer_value (json));
    case JSON_REAL:
        return msgpack_pack_double (packer, json_real_value (json));
    case JSON_STRING: {
        size_t length = json_string_length (json);
        msgpack_pack_str (packer, length);
        return msgpack_pack_str_body (packer, json_string_value (json), length);
    }
    case JSON_ARRAY: {
        msgpack_pack_array (packer, json_array_size (json));
        size_t index;
        json_t *item;
        json_array_foreach (json, index, item) pb_json_to_msgpack (item, packer);
        return 0;
    }
    case JSON_OBJECT: {
        msgpack_pack_map (packer, json_object_size (json));
        const char *key;
        json_t *value;
        json_object_foreach ((json_t *)json, key, value)
        {
            msgpack_pack_str (packer, strlen (key));
            msgpack_pack_str_body (packer, key, strlen (key));
            pb_json_to_msgpack (value, packer);
        }
        return 0;
    }
    }
    return -1;
}

json_t *pb_json_ranked_hit (json_t *ranked, json_t *paper)
{
    json_t *hit = json_object ();
    json_object_set (hit, "id", json_object_get (ranked, "id"));
    if (paper) {
        json_object_set (hit, "title", json_object_get (paper, "title"));
        json_object_set (hit, "authors", json_object_get (paper, "authors"));
        json_object_set (hit, "categories", json_object_get (paper, "categories"));
        //  Version 1's day, else the listing day.
        const char *day = json_string_value (json_object_get (paper, "published"));
        if (!day)
            day = json_string_value (json_object_get (paper, "listed"));
        if (day)
            json_object_set_new (hit, "published", json_stringn (day, strnlen (day, 10)));
    }
    json_object_set (hit, "score", json_object_get (ranked, "score"));
    json_object_set (hit, "upvotes", json_object_get (ranked, "upvotes"));
    if (json_object_get (ranked, "voted"))
        json_object_set (hit, "voted", json_object_get (ranked, "voted"));
    return hit;
}
