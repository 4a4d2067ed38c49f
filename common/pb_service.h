/*  pb_service — the life of a paperbus process.

    pb_service_start reads and validates the configuration (an invalid value
    stops the process with a message naming it), sets up logging, and lets
    SIGINT/SIGTERM set a flag instead of killing the process, so the main loop
    can finish the request in flight, flush, and exit 0. ZeroMQ sockets close
    with a bounded linger (PAPERBUS_LINGER_MS) rather than czmq's default 0,
    which would drop unsent messages.
*/
#ifndef PB_SERVICE_H
#define PB_SERVICE_H

#include "pb_config.h"

#include <stdbool.h>

//  Starts a process called NAME: config, logging, signals. Returns the
//  config; on an invalid configuration it prints why and exits with status 2.
pb_config_t *pb_service_start (const char *name);

//  True once SIGINT or SIGTERM has arrived.
bool pb_service_stopping (void);

//  Releases what pb_service_start set up; call last, before exiting 0.
void pb_service_finish (pb_config_t **config_p);

#endif
