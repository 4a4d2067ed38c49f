/*  pb_error — lookups over the error table in proto/errors.def. */
#include "pb_error.h"

#include <stddef.h>
#include <string.h>

typedef struct {
    int code;            //  the number sent on the wire
    const char *name;    //  wire name, lower case
    int http_status;     //  what the gateway answers with
    const char *message; //  one-line description
} error_entry_t;

static const error_entry_t s_errors[] = {
    {PB_OK, "ok", 200, "success"},
#define PB_ERROR(name, wire, code, http, message) {code, wire, http, message},
#include "../proto/errors.def"
#undef PB_ERROR
};

#define ERROR_COUNT (sizeof s_errors / sizeof s_errors[0])

static const error_entry_t *s_find (int code)
{
    for (size_t i = 0; i < ERROR_COUNT; i++)
        if (s_errors[i].code == code)
            return &s_errors[i];
    return NULL;
}

const char *pb_error_name (int code)
{
    const error_entry_t *entry = s_find (code);
    return entry ? entry->name : "unknown";
}

const char *pb_error_message (int code)
{
    const error_entry_t *entry = s_find (code);
    return entry ? entry->message : "unknown error code";
}

int pb_error_http_status (int code)
{
    const error_entry_t *entry = s_find (code);
    return entry ? entry->http_status : 500;
}

int pb_error_from_name (const char *name)
{
    for (size_t i = 0; i < ERROR_COUNT; i++)
        if (strcmp (s_errors[i].name, name) == 0)
            return s_errors[i].code;
    return -1;
}
