/*  pb_clock — system time, or a test's file. */
#include "pb_clock.h"
#include "pb_log.h"
#include "pb_paper.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *s_file;

void pb_clock_use (const char *file)
{
    free (s_file);
    s_file = file && strcmp (file, "none") ? strdup (file) : NULL;
}

static int64_t s_system_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

int64_t pb_clock_now_ms (void)
{
    if (!s_file)
        return s_system_ms ();
    char text[64] = "";
    FILE *file = fopen (s_file, "r");
    size_t length = file ? fread (text, 1, sizeof text - 1, file) : 0;
    if (file)
        fclose (file);
    text[length] = '\0';
    text[strcspn (text, "\r\n")] = '\0';
    char *end;
    long long milliseconds = strtoll (text, &end, 10);
    if (*text && !*end)
        return milliseconds;
    int64_t seconds;
    if (*text && pb_date_parse (text, &seconds) == 0)
        return seconds * 1000;
    pb_warn ("clock file %s holds no time ('%s'); using the system clock", s_file, text);
    return s_system_ms ();
}
