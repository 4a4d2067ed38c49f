/*  pb_error — paperbus error codes.

    The codes come from proto/errors.def, the single table an integrator also
    reads in proto/PROTOCOL.md. A code travels on the bus as its number; its
    name is the lower-case form of NAME (for example "missing_field").
*/
#ifndef PB_ERROR_H
#define PB_ERROR_H

typedef enum {
    PB_OK = 0,
#define PB_ERROR(name, wire, code, http, message) PB_E_##name = code,
#include "../proto/errors.def"
#undef PB_ERROR
} pb_error_t;

//  Returns the wire name of CODE ("missing_field"), or "unknown" for a code
//  not in the table.
const char *pb_error_name (int code);

//  Returns the one-line description of CODE from the table.
const char *pb_error_message (int code);

//  Returns the HTTP status the gateway answers with for CODE (500 if unknown).
int pb_error_http_status (int code);

//  Returns the code whose wire name is NAME, or -1.
int pb_error_from_name (const char *name);

#endif
