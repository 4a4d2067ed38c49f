/*  ratelimit — token buckets per client address and kind of request.

    Each gateway keeps its own buckets in memory: behind a load balancer
    with N gateways a client gets at most N times the rate, which is fine
    for what these limits are for (stopping a script from mailing sign-in
    links to strangers, or stuffing votes), and needs no shared store.
    Idle buckets are forgotten, so memory stays bounded by the clients
    active within one refill period.
*/
#ifndef GW_RATELIMIT_H
#define GW_RATELIMIT_H

#include "routes.h"

//  Rates from CONFIG (PAPERBUS_GATEWAY_*_PER_*).
gw_limits_t *gw_limits_new (pb_config_t *config);

void gw_limits_destroy (gw_limits_t **self_p);

//  Takes one request of kind LIMIT by CLIENT. Returns 0 when allowed, else
//  the whole seconds until the next one would be.
int gw_limits_take (gw_limits_t *self, gw_limit_t limit, const char *client);

#endif
