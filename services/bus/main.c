/*  bus — the one process that binds. Requests go to services by name and are
    spread over their live workers; events go from publishers to every
    subscriber of their topic; bus.status tells what is connected. It keeps no
    state worth saving: after a restart, workers register again and clients
    retry. See proto/PROTOCOL.md. */
#include "broker.h"
#include "paperbus.h"

int main (void)
{
    pb_config_t *config = pb_service_start ("bus");
    broker_t *broker = broker_new (config);
    if (!broker) {
        pb_service_finish (&config);
        return 1;
    }
    pb_info ("bus ready: requests %s, events in %s, events out %s",
             pb_config_str (config, PB_CONF_BUS_REQUESTS),
             pb_config_str (config, PB_CONF_BUS_EVENTS_IN),
             pb_config_str (config, PB_CONF_BUS_EVENTS_OUT));
    broker_run (broker);
    pb_info ("bus stopping");
    broker_destroy (&broker);
    pb_service_finish (&config);
    return 0;
}
