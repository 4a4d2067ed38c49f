/*  health — /healthz for load balancers and orchestrators, /metrics for
    Prometheus.

    /healthz asks the bus what it knows (bus.status): the gateway is
    healthy when the bus answers and every service it calls has a live
    worker. A load balancer then sends no reader to a gateway that could
    only answer 503.
*/
#include "gateway.h"
#include "metrics.h"

#include <string.h>

//  The services the gateway needs.
static const char *s_needed[] = {"ingest", "index", "rank", "notify"};

int gw_healthz (gateway_t *gateway, gw_request_t *request, gw_response_t *response)
{
    (void)request;
    json_t *status = gw_call (gateway, "bus.status", json_object (), response);
    if (!status) {
        //  Keep the shape of a health answer, with the reason.
        gw_json (
            response, 503,
            json_pack ("{s:s,s:s}", "status", "unavailable", "problem", "the bus did not answer"));
        response->error_code = "unavailable";
        return 0;
    }
    json_t *services = json_object ();
    json_t *missing = json_array ();
    for (size_t n = 0; n < sizeof s_needed / sizeof s_needed[0]; n++) {
        json_int_t live = 0;
        size_t i;
        json_t *service;
        json_array_foreach (
            json_object_get (status, "services"), i,
            service) if (strcmp (json_string_value (json_object_get (service, "name")),
                                 s_needed[n]) == 0) live =
            json_integer_value (json_object_get (service, "live_workers"));
        json_object_set_new (services, s_needed[n], json_pack ("{s:I}", "live_workers", live));
        if (live == 0)
            json_array_append_new (missing, json_string (s_needed[n]));
    }
    json_decref (status);
    bool healthy = json_array_size (missing) == 0;
    json_t *body =
        json_pack ("{s:s,s:o}", "status", healthy ? "ok" : "unavailable", "services", services);
    if (!healthy)
        json_object_set_new (body, "missing", missing);
    else
        json_decref (missing);
    gw_json (response, healthy ? 200 : 503, body);
    if (!healthy)
        response->error_code = "unavailable";
    return 0;
}

int gw_metrics_page (gateway_t *gateway, gw_request_t *request, gw_response_t *response)
{
    (void)request;
    response->body = gw_metrics_render (gateway->metrics, &response->size);
    response->status = response->body ? 200 : 500;
    response->content_type = "text/plain; version=0.0.4; charset=utf-8";
    return 0;
}
