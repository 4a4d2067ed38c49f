/*  broker — the bus's routing core: requests to named services, events from
    publishers to subscribers, the bus.status service. */
#ifndef BROKER_H
#define BROKER_H

#include "pb_config.h"

typedef struct _broker_t broker_t;

//  Binds the request and event endpoints from CONFIG. Returns NULL, after
//  logging which endpoint failed, when one cannot be bound.
broker_t *broker_new (pb_config_t *config);

//  Unbinds and frees everything; accepts NULL and sets *self_p to NULL.
void broker_destroy (broker_t **self_p);

//  Routes until SIGINT or SIGTERM. Returns 0.
int broker_run (broker_t *self);

#endif
