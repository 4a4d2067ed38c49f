/*  The gateway's parts in-process: routing (old-style ids with a slash,
    405 against a path's meaning), rate limits, the cache's expiry, and the
    metrics text. The HTTP API itself is tested against real services in
    tests/integration/test_gateway.c. */
#include "gateway/cache.h"
#include "gateway/metrics.h"
#include "gateway/ratelimit.h"
#include "gateway/routes.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ==== routes ==== */

static int s_match (const char *method, const char *path, char *param, char *allow)
{
    return gw_route_match (method, path, param, 256, allow, 64);
}

Test (gateway_routes, ids_with_a_slash_reach_the_paper_and_its_similar_papers)
{
    char param[256], allow[64];
    int route = s_match ("GET", "/api/papers/hep-th/9901001", param, allow);
    cr_assert_geq (route, 0);
    cr_assert_str_eq (gw_routes[route].template, "/api/papers/{id}");
    cr_assert_str_eq (param, "hep-th/9901001");

    route = s_match ("GET", "/api/papers/hep-th/9901001/similar", param, allow);
    cr_assert_geq (route, 0);
    cr_assert_str_eq (gw_routes[route].template, "/api/papers/{id}/similar");
    cr_assert_str_eq (param, "hep-th/9901001");

    route = s_match ("DELETE", "/api/papers/2501.01234/vote", param, allow);
    cr_assert_geq (route, 0);
    cr_assert_str_eq (gw_routes[route].method, "DELETE");
    cr_assert_str_eq (param, "2501.01234");
}

Test (gateway_routes, a_wrong_method_is_a_405_with_allow_not_another_route)
{
    char param[256], allow[64];
    //  GET .../vote must not read as the paper "2501.01234/vote".
    cr_assert_eq (s_match ("GET", "/api/papers/2501.01234/vote", param, allow), -1);
    cr_assert_str_eq (allow, "POST, DELETE");
    cr_assert_eq (s_match ("PUT", "/api/search", param, allow), -1);
    cr_assert_str_eq (allow, "GET, HEAD");
    cr_assert_eq (s_match ("GET", "/api/nothing", param, allow), -1);
    cr_assert_str_eq (allow, "");
    //  An empty parameter matches nothing.
    cr_assert_eq (s_match ("GET", "/api/papers/", param, allow), -1);
}

Test (gateway_routes, head_is_served_as_get_and_files_keep_their_name)
{
    char param[256], allow[64];
    int route = s_match ("HEAD", "/static/app.js", param, allow);
    cr_assert_geq (route, 0);
    cr_assert_str_eq (gw_routes[route].template, "/static/{file}");
    cr_assert_str_eq (param, "app.js");
    route = s_match ("GET", "/", param, allow);
    cr_assert_geq (route, 0);
    cr_assert_eq (gw_routes[route].handler, gw_site_page);
}

Test (gateway_routes, every_route_has_a_handler_and_a_unique_method_and_template)
{
    for (size_t i = 0; i < gw_route_count; i++) {
        cr_assert_not_null (gw_routes[i].handler, "%s", gw_routes[i].template);
        for (size_t j = i + 1; j < gw_route_count; j++)
            cr_assert (strcmp (gw_routes[i].method, gw_routes[j].method) ||
                           strcmp (gw_routes[i].template, gw_routes[j].template),
                       "%s %s twice", gw_routes[i].method, gw_routes[i].template);
    }
}

/* ==== rate limits ==== */

Test (gateway_limits, a_client_gets_its_burst_then_waits_and_others_do_not)
{
    setenv ("PAPERBUS_GATEWAY_VOTES_PER_MINUTE", "3", 1);
    setenv ("PAPERBUS_GATEWAY_SIGNINS_PER_HOUR", "1", 1);
    char error[256];
    pb_config_t *config = pb_config_load (error, sizeof error);
    cr_assert_not_null (config, "%s", error);
    gw_limits_t *limits = gw_limits_new (config);
    for (int i = 0; i < 3; i++)
        cr_assert_eq (gw_limits_take (limits, GW_LIMIT_VOTE, "10.0.0.1"), 0, "vote %d", i);
    int wait_s = gw_limits_take (limits, GW_LIMIT_VOTE, "10.0.0.1");
    //  3 a minute: the next token comes within 20 s.
    cr_assert (wait_s >= 1 && wait_s <= 20, "wait %d s", wait_s);
    cr_assert_eq (gw_limits_take (limits, GW_LIMIT_VOTE, "10.0.0.2"), 0);
    cr_assert_eq (gw_limits_take (limits, GW_LIMIT_SIGNIN, "10.0.0.1"), 0);
    wait_s = gw_limits_take (limits, GW_LIMIT_SIGNIN, "10.0.0.1");
    cr_assert (wait_s > 20 * 60 && wait_s <= 3600, "wait %d s", wait_s);
    gw_limits_destroy (&limits);
    pb_config_destroy (&config);
    unsetenv ("PAPERBUS_GATEWAY_VOTES_PER_MINUTE");
    unsetenv ("PAPERBUS_GATEWAY_SIGNINS_PER_HOUR");
}

/* ==== cache ==== */

Test (gateway_cache, bodies_come_back_whole_until_they_expire)
{
    gw_cache_t *cache = gw_cache_new (80);
    gw_cache_put (cache, "a", "{\"x\":1}", 7);
    size_t size = 0;
    char *body = gw_cache_get (cache, "a", &size);
    cr_assert_not_null (body);
    cr_assert_eq (size, 7);
    cr_assert_str_eq (body, "{\"x\":1}");
    free (body);
    cr_assert_null (gw_cache_get (cache, "b", &size));
    usleep (100000);
    //  Expired: the first reader rebuilds, the next gets the old body meanwhile.
    cr_assert_null (gw_cache_get (cache, "a", &size), "an expired body was served to the first");
    body = gw_cache_get (cache, "a", &size);
    cr_assert_not_null (body, "the others waited for the rebuild");
    free (body);
    gw_cache_put (cache, "a", "{\"x\":2}", 7);
    body = gw_cache_get (cache, "a", &size);
    cr_assert_str_eq (body, "{\"x\":2}");
    free (body);
    //  Long past its time (two TTLs), nobody gets it.
    usleep (170000);
    cr_assert_null (gw_cache_get (cache, "a", &size), "a long-expired body was served");
    cr_assert_null (gw_cache_get (cache, "a", &size), "a long-expired body was served");
    gw_cache_destroy (&cache);

    gw_cache_t *off = gw_cache_new (0);
    gw_cache_put (off, "a", "x", 1);
    cr_assert_null (gw_cache_get (off, "a", &size), "a cache with TTL 0 kept something");
    gw_cache_destroy (&off);
}

Test (gateway_cache, a_full_cache_keeps_working)
{
    gw_cache_t *cache = gw_cache_new (60000);
    char key[32];
    for (int i = 0; i < 10000; i++) {
        snprintf (key, sizeof key, "k%d", i);
        gw_cache_put (cache, key, key, strlen (key));
    }
    size_t size;
    char *body = gw_cache_get (cache, "k9999", &size);
    cr_assert_not_null (body, "the newest body is gone");
    cr_assert_str_eq (body, "k9999");
    free (body);
    gw_cache_destroy (&cache);
}

/* ==== metrics ==== */

Test (gateway_metrics, requests_are_counted_by_route_template_status_and_latency)
{
    gw_metrics_t *metrics = gw_metrics_new ();
    char param[256], allow[64];
    int route = s_match ("GET", "/api/papers/2501.01234", param, allow);
    gw_metrics_request (metrics, route, 200, NULL, 0.0007);
    gw_metrics_request (metrics, route, 200, NULL, 0.2);
    gw_metrics_request (metrics, route, 404, "not_found", 0.003);
    gw_metrics_request (metrics, -1, 404, "not_found", 0.001);
    gw_metrics_bus_timeout (metrics, "index");
    gw_metrics_rate_limited (metrics, "vote");
    size_t size;
    char *text = gw_metrics_render (metrics, &size);
    cr_assert_not_null (text);
    cr_assert_eq (strlen (text), size);
    cr_assert (strstr (text, "paperbus_http_requests_total{method=\"GET\",route=\"/api/papers/"
                             "{id}\",status=\"200\"} 2\n"),
               "%s", text);
    cr_assert (strstr (text, "paperbus_http_requests_total{method=\"GET\",route=\"/api/papers/"
                             "{id}\",status=\"404\"} 1\n"));
    cr_assert (strstr (text, "paperbus_http_errors_total{method=\"any\",route=\"unmatched\","
                             "code=\"not_found\"} 1\n"));
    //  Cumulative buckets: 1 at 1 ms, 2 by 5 ms, 3 by 250 ms, 3 in all.
    cr_assert (strstr (text, "route=\"/api/papers/{id}\",le=\"0.001\"} 1\n"));
    cr_assert (strstr (text, "route=\"/api/papers/{id}\",le=\"0.005\"} 2\n"));
    cr_assert (strstr (text, "route=\"/api/papers/{id}\",le=\"0.25\"} 3\n"));
    cr_assert (strstr (text, "route=\"/api/papers/{id}\",le=\"+Inf\"} 3\n"));
    cr_assert (strstr (text, "paperbus_bus_timeouts_total{service=\"index\"} 1\n"));
    cr_assert (strstr (text, "paperbus_http_rate_limited_total{class=\"vote\"} 1\n"));
    //  The raw path never becomes a label.
    cr_assert_null (strstr (text, "2501.01234"));
    free (text);
    gw_metrics_destroy (&metrics);
}
