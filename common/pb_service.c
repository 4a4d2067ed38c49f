/*  pb_service — configuration, logging and signals at start; clean exit. */
#include "pb_service.h"
#include "pb_log.h"

#include <czmq.h>
#include <stdlib.h>

pb_config_t *pb_service_start (const char *name)
{
    char error[2048];
    pb_config_t *config = pb_config_load (error, sizeof error);
    if (!config) {
        pb_log_init (name, PB_LOG_INFO);
        pb_error ("invalid configuration: %s", error);
        exit (2);
    }
    pb_log_init (name, (pb_log_level_t)pb_config_int (config, PB_CONF_LOG_LEVEL));
    //  czmq's handler turns SIGINT and SIGTERM into zsys_interrupted, which
    //  blocking czmq calls notice; the loop then winds down by itself.
    zsys_init ();
    zsys_catch_interrupts ();
    zsys_set_linger ((size_t)pb_config_int (config, PB_CONF_LINGER_MS));
    zsys_set_logident (name);
    return config;
}

bool pb_service_stopping (void)
{
    return zsys_interrupted != 0;
}

void pb_service_finish (pb_config_t **config_p)
{
    pb_config_destroy (config_p);
    zsys_shutdown ();
}
