/*  pb_log — levelled, single-write log lines. */
#include "pb_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

//  The logger is the one piece of process-wide state in common/: it is set
//  once by pb_log_init before threads start and only read afterwards.
static struct {
    char service[32];     //  name printed on every line
    pb_log_level_t level; //  most verbose level printed
} s_log = {"paperbus", PB_LOG_INFO};

static const char *const s_level_names[] = {"error", "warn", "info", "debug"};

void pb_log_init (const char *service, pb_log_level_t level)
{
    snprintf (s_log.service, sizeof s_log.service, "%s", service);
    s_log.level = level;
}

int pb_log_level_parse (const char *text)
{
    for (int level = PB_LOG_ERROR; level <= PB_LOG_DEBUG; level++)
        if (strcmp (text, s_level_names[level]) == 0)
            return level;
    return -1;
}

int pb_log_enabled (pb_log_level_t level)
{
    return level <= s_log.level;
}

void pb_log (pb_log_level_t level, const char *format, ...)
{
    if (level > s_log.level)
        return;
    char line[2048];
    struct timeval now;
    gettimeofday (&now, NULL);
    struct tm utc;
    gmtime_r (&now.tv_sec, &utc);
    int used = (int)strftime (line, sizeof line, "%Y-%m-%dT%H:%M:%S", &utc);
    used += snprintf (line + used, sizeof line - (size_t)used,
                      ".%03dZ %-5s %s[%d]: ", (int)(now.tv_usec / 1000), s_level_names[level],
                      s_log.service, (int)getpid ());
    va_list args;
    va_start (args, format);
    int body = vsnprintf (line + used, sizeof line - (size_t)used - 1, format, args);
    va_end (args);
    if (body < 0)
        body = 0;
    used += body;
    if ((size_t)used > sizeof line - 2) {
        //  Truncated: mark it so nobody mistakes the cut for the whole message.
        used = (int)sizeof line - 5;
        memcpy (line + used, "...", 3);
        used += 3;
    }
    //  One line is one event: fold any newline inside the message.
    for (int i = 0; i < used; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[used++] = '\n';
    ssize_t written = write (STDERR_FILENO, line, (size_t)used);
    (void)written;
}
