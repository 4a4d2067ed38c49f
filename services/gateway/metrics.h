/*  metrics — what /metrics reports, in Prometheus's text format 0.0.4.

    Counters are atomics in fixed arrays (one row per route of the table),
    so counting a request takes no lock. Labels are the route's template
    and method, never the raw path, so the number of series is bounded.
*/
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include "gateway.h"

gw_metrics_t *gw_metrics_new (void);

void gw_metrics_destroy (gw_metrics_t **self_p);

//  Counts a request answered with STATUS (and ERROR_CODE, or NULL) after
//  SECONDS. ROUTE is its index in gw_routes, or -1 when none matched.
void gw_metrics_request (gw_metrics_t *self, int route, int status, const char *error_code,
                         double seconds);

//  Counts a bus call to SERVICE that got no answer in time.
void gw_metrics_bus_timeout (gw_metrics_t *self, const char *service);

//  Counts a request refused by the rate limit of kind KIND.
void gw_metrics_rate_limited (gw_metrics_t *self, const char *kind);

//  Counts an answer served from the cache.
void gw_metrics_cache_hit (gw_metrics_t *self);

//  The metrics as text (the caller frees it).
char *gw_metrics_render (gw_metrics_t *self, size_t *size);

#endif
