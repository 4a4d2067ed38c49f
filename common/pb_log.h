/*  pb_log — one line per event on stderr:

        2026-11-28T14:33:25.123Z info  ingest[1234]: stored 412 papers

    The level comes from PAPERBUS_LOG_LEVEL (see pb_config). Each line is
    written with a single write(2), so lines from several processes sharing a
    log file do not interleave.
*/
#ifndef PB_LOG_H
#define PB_LOG_H

typedef enum { PB_LOG_ERROR = 0, PB_LOG_WARN, PB_LOG_INFO, PB_LOG_DEBUG } pb_log_level_t;

//  Sets the service name and the most verbose level that is printed. Call
//  once at start, before any thread is created.
void pb_log_init (const char *service, pb_log_level_t level);

//  Parses "error", "warn", "info" or "debug"; returns -1 for anything else.
int pb_log_level_parse (const char *text);

//  True when a message at LEVEL would be printed; lets callers skip building
//  expensive debug output.
int pb_log_enabled (pb_log_level_t level);

//  Prints one line at LEVEL, printf-style.
void pb_log (pb_log_level_t level, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

#define pb_error(...) pb_log (PB_LOG_ERROR, __VA_ARGS__)
#define pb_warn(...)  pb_log (PB_LOG_WARN, __VA_ARGS__)
#define pb_info(...)  pb_log (PB_LOG_INFO, __VA_ARGS__)
#define pb_debug(...)                                                                              \
    do {                                                                                           \
        if (pb_log_enabled (PB_LOG_DEBUG))                                                         \
            pb_log (PB_LOG_DEBUG, __VA_ARGS__);                                                    \
    } while (0)

#endif
