/*  pb_config — environment settings with validation. */
#include "pb_config.h"
#include "pb_log.h"

#include <errno.h>
#include <libpq-fe.h>
#include <zmq.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    KIND_LEVEL,
    KIND_STRING,
    KIND_INT,
    KIND_ENDPOINT,
    KIND_DB_URL,
    KIND_CURVE_KEY
} setting_kind_t;

typedef struct {
    const char *variable;    //  environment variable name
    setting_kind_t kind;     //  how the value is validated
    const char *fallback;    //  default when the variable is unset
    int64_t min, max;        //  bounds of INT settings
    const char *description; //  one sentence for the README table
} setting_t;

static const setting_t s_settings[PB_CONF_COUNT] = {
#define PB_SETTING(id, variable, kind, fallback, min, max, description)                            \
    [PB_CONF_##id] = {variable, KIND_##kind, fallback, min, max, description},
#include "pb_config.def"
#undef PB_SETTING
};

struct _pb_config_t {
    char *text[PB_CONF_COUNT];     //  effective value of each setting, owned
    int64_t number[PB_CONF_COUNT]; //  parsed value of INT and LEVEL settings
};

//  Appends one problem line to ERROR.
static void s_complain (char *error, size_t error_size, const char *format, ...)
{
    size_t used = strnlen (error, error_size);
    if (used + 1 >= error_size)
        return;
    if (used > 0)
        used += (size_t)snprintf (error + used, error_size - used, "; ");
    va_list args;
    va_start (args, format);
    vsnprintf (error + used, error_size - used, format, args);
    va_end (args);
}

static int s_parse_int (const char *text, int64_t *value)
{
    errno = 0;
    char *end;
    long long parsed = strtoll (text, &end, 10);
    if (errno || end == text || *end != '\0')
        return -1;
    *value = parsed;
    return 0;
}

//  tcp://host:port (port 1..65535 or *), ipc://path or inproc://name.
static int s_endpoint_valid (const char *text)
{
    if (strncmp (text, "ipc://", 6) == 0)
        return text[6] != '\0';
    if (strncmp (text, "inproc://", 9) == 0)
        return text[9] != '\0';
    if (strncmp (text, "tcp://", 6) != 0)
        return 0;
    const char *colon = strrchr (text + 6, ':');
    if (!colon || colon == text + 6)
        return 0;
    if (strcmp (colon + 1, "*") == 0)
        return 1;
    int64_t port;
    return s_parse_int (colon + 1, &port) == 0 && port >= 1 && port <= 65535;
}

static int s_validate (pb_config_t *self, int index, const char *value, char *error,
                       size_t error_size)
{
    const setting_t *setting = &s_settings[index];
    switch (setting->kind) {
    case KIND_LEVEL: {
        int level = pb_log_level_parse (value);
        if (level < 0) {
            s_complain (error, error_size, "%s=%s: not one of error, warn, info, debug",
                        setting->variable, value);
            return -1;
        }
        self->number[index] = level;
        return 0;
    }
    case KIND_INT: {
        int64_t number;
        if (s_parse_int (value, &number) || number < setting->min || number > setting->max) {
            s_complain (error, error_size, "%s=%s: not an integer in %lld..%lld", setting->variable,
                        value, (long long)setting->min, (long long)setting->max);
            return -1;
        }
        self->number[index] = number;
        return 0;
    }
    case KIND_ENDPOINT:
        if (!s_endpoint_valid (value)) {
            s_complain (error, error_size,
                        "%s=%s: not a ZeroMQ endpoint (tcp://host:port, ipc://path, inproc://name)",
                        setting->variable, value);
            return -1;
        }
        return 0;
    case KIND_DB_URL: {
        char *parse_error = NULL;
        PQconninfoOption *options = PQconninfoParse (value, &parse_error);
        if (!options) {
            s_complain (error, error_size, "%s: not a PostgreSQL connection string: %s",
                        setting->variable, parse_error ? parse_error : "out of memory");
            PQfreemem (parse_error);
            return -1;
        }
        PQconninfoFree (options);
        return 0;
    }
    case KIND_CURVE_KEY: {
        uint8_t key[32];
        if (strcmp (value, "off") != 0 && (strlen (value) != 40 || !zmq_z85_decode (key, value))) {
            s_complain (error, error_size, "%s: not `off` nor a 40-character Z85 CURVE key",
                        setting->variable);
            return -1;
        }
        return 0;
    }
    case KIND_STRING:
        if (*value == '\0') {
            s_complain (error, error_size, "%s is set but empty", setting->variable);
            return -1;
        }
        return 0;
    }
    return -1;
}

pb_config_t *pb_config_load (char *error, size_t error_size)
{
    if (error_size)
        error[0] = '\0';
    pb_config_t *self = calloc (1, sizeof *self);
    if (!self) {
        s_complain (error, error_size, "out of memory");
        return NULL;
    }
    int failed = 0;
    for (int index = 0; index < PB_CONF_COUNT; index++) {
        const setting_t *setting = &s_settings[index];
        const char *value = getenv (setting->variable);
        if (!value && setting->kind == KIND_DB_URL)
            value = getenv ("DATABASE_URL");
        if (!value)
            value = setting->fallback;
        if (s_validate (self, index, value, error, error_size))
            failed = 1;
        self->text[index] = strdup (value);
        if (!self->text[index]) {
            s_complain (error, error_size, "out of memory");
            failed = 1;
        }
    }
    if (failed)
        pb_config_destroy (&self);
    return self;
}

void pb_config_destroy (pb_config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pb_config_t *self = *self_p;
    for (int index = 0; index < PB_CONF_COUNT; index++)
        free (self->text[index]);
    free (self);
    *self_p = NULL;
}

const char *pb_config_str (pb_config_t *self, pb_setting_t setting)
{
    return self->text[setting];
}

int64_t pb_config_int (pb_config_t *self, pb_setting_t setting)
{
    return self->number[setting];
}

const char *pb_config_variable (pb_setting_t setting)
{
    return s_settings[setting].variable;
}

void pb_config_print_markdown (FILE *out)
{
    fprintf (out, "| variable | default | what it does |\n|---|---|---|\n");
    for (int index = 0; index < PB_CONF_COUNT; index++)
        fprintf (out, "| `%s` | `%s` | %s |\n", s_settings[index].variable,
                 s_settings[index].fallback, s_settings[index].description);
}

void pb_config_print_values (pb_config_t *self, FILE *out)
{
    for (int index = 0; index < PB_CONF_COUNT; index++)
        fprintf (out, "%s=%s\n", s_settings[index].variable, self->text[index]);
}
