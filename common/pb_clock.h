/*  pb_clock — the wall-clock time, which a test can set.

    Services that keep time-dependent state (rank's decaying scores) read
    the time here. With PAPERBUS_CLOCK_FILE set, the time is whatever that
    file says when it is read, so a test can move a running service days
    ahead without waiting.
*/
#ifndef PB_CLOCK_H
#define PB_CLOCK_H

#include <stdint.h>

//  Takes the time from FILE from now on ("none" or NULL: the system clock).
void pb_clock_use (const char *file);

//  Milliseconds since 1970, UTC. A clock file that cannot be read or
//  parsed gives the system clock, with a warning.
int64_t pb_clock_now_ms (void);

#endif
