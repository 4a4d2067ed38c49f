/*  pb_config — settings from the environment, validated at start.

    Every setting is declared once in pb_config.def with its default and its
    allowed values. pb_config_load reads them all; a value that is set but
    invalid is an error naming the variable and what it allows, never a silent
    fallback to the default.
*/
#ifndef PB_CONFIG_H
#define PB_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
#define PB_SETTING(id, variable, kind, fallback, min, max, description) PB_CONF_##id,
#include "pb_config.def"
#undef PB_SETTING
    PB_CONF_COUNT
} pb_setting_t;

typedef struct _pb_config_t pb_config_t;

//  Reads and validates every setting. Returns NULL when any value is invalid,
//  with every problem described in ERROR (separated by "; ").
pb_config_t *pb_config_load (char *error, size_t error_size);

//  Destroys the config; accepts NULL and sets *self_p to NULL.
void pb_config_destroy (pb_config_t **self_p);

//  Returns the value of SETTING as text (the default when unset).
const char *pb_config_str (pb_config_t *self, pb_setting_t setting);

//  Returns the value of an INT or LEVEL setting.
int64_t pb_config_int (pb_config_t *self, pb_setting_t setting);

//  Returns the environment variable that sets SETTING.
const char *pb_config_variable (pb_setting_t setting);

//  Prints the settings as a markdown table (variable, default, meaning): the
//  README's configuration table is this output.
void pb_config_print_markdown (FILE *out);

//  Prints each setting's effective value as VARIABLE=value lines.
void pb_config_print_values (pb_config_t *self, FILE *out);

#endif
