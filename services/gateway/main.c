/*  gateway — the front door: the JSON API, the Atom feeds and the web
    page, over HTTP/1.1 (libmicrohttpd).

    The gateway keeps nothing of its own and has no SQL: every answer is
    put together from the other services over the bus (rank for lists
    and votes, the index for what papers are and for search, notify for
    subscriptions and signing in). So any number of gateways can run
    behind any HTTP load balancer, and one killed loses nothing.

    A request is routed by one table (routes.h), rate-limited per client
    address where it mails someone or counts a vote (ratelimit.h), and
    answered by a handler. A service that is down or slow is a 503 naming
    it within PAPERBUS_GATEWAY_TIMEOUT_MS, never a hung connection.
    Answers for anonymous readers are kept for PAPERBUS_GATEWAY_CACHE_MS
    (cache.h). /healthz says whether the services are there; /metrics
    counts requests, latencies, errors and bus timeouts per route.

    `gateway --routes` prints the route table (the OpenAPI document in
    proto/ is checked against it).
*/
#include "cache.h"
#include "gateway.h"
#include "metrics.h"
#include "ratelimit.h"
#include "routes.h"
#include "server.h"

#include <libxml/parser.h>
#include <stdlib.h>
#include <string.h>

static void s_print_routes (void)
{
    for (size_t i = 0; i < gw_route_count; i++)
        printf ("%s %s\n", gw_routes[i].method, gw_routes[i].template);
}

int main (int argc, char *argv[])
{
    if (argc == 2 && strcmp (argv[1], "--routes") == 0) {
        s_print_routes ();
        return 0;
    }
    if (argc > 1) {
        fprintf (stderr, "usage: gateway [--routes]  (settings come from PAPERBUS_* variables)\n");
        return 2;
    }
    pb_config_t *config = pb_service_start ("gateway");
    const char *trust_proxy = pb_config_str (config, PB_CONF_GATEWAY_TRUST_PROXY);
    if (strcmp (trust_proxy, "on") != 0 && strcmp (trust_proxy, "off") != 0) {
        fprintf (stderr, "PAPERBUS_GATEWAY_TRUST_PROXY=%s: on or off\n", trust_proxy);
        return 2;
    }
    //  Links are made by appending paths, so the public URL loses a final '/'.
    char *public_url = strdup (pb_config_str (config, PB_CONF_PUBLIC_URL));
    size_t length = strlen (public_url);
    while (length && public_url[length - 1] == '/')
        public_url[--length] = '\0';

    gateway_t gateway = {
        .config = config,
        .public_url = public_url,
        .public_https = strncmp (public_url, "https://", 8) == 0,
        .trust_proxy = strcmp (trust_proxy, "on") == 0,
        .timeout_ms = (int)pb_config_int (config, PB_CONF_GATEWAY_TIMEOUT_MS),
        .cache = gw_cache_new ((int)pb_config_int (config, PB_CONF_GATEWAY_CACHE_MS)),
        .limits = gw_limits_new (config),
        .metrics = gw_metrics_new (),
    };
    xmlInitParser ();
    gw_site_init ();

    const char *address = pb_config_str (config, PB_CONF_HTTP_ADDRESS);
    int port = (int)pb_config_int (config, PB_CONF_HTTP_PORT);
    char problem[256];
    gw_server_t *server = gw_server_new (&gateway, address, port,
                                         (int)pb_config_int (config, PB_CONF_GATEWAY_THREADS),
                                         problem, sizeof problem);
    int status = 0;
    if (server) {
        pb_info ("serving http://%s:%d/ for %s", address, port, public_url);
        while (!pb_service_stopping ())
            zclock_sleep (100);
        pb_info ("stopping: finishing the requests in flight");
        gw_server_destroy (&server);
    } else {
        pb_error ("%s", problem);
        status = 1;
    }
    gw_metrics_destroy (&gateway.metrics);
    gw_limits_destroy (&gateway.limits);
    gw_cache_destroy (&gateway.cache);
    xmlCleanupParser ();
    free (public_url);
    pb_service_finish (&config);
    return status;
}
