/*  metrics — lock-free counters, rendered on demand. */
#include "metrics.h"

#include "routes.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUTES_MAX 64 //  rows: the route table, plus one for paths no route has

static const int s_statuses[] = {200, 201, 202, 204, 303, 304, 400, 401, 403, 404, 405,
                                 409, 413, 414, 415, 422, 429, 500, 502, 503, 504};
#define STATUSES (sizeof s_statuses / sizeof s_statuses[0])

static const double s_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                   0.05,   0.1,   0.25,   0.5,   1,    2.5};
#define BUCKETS (sizeof s_buckets / sizeof s_buckets[0])

static const char *s_codes[] = {
    "malformed",    "missing_field", "wrong_type", "invalid_utf8",       "too_large",
    "invalid",      "not_found",     "conflict",   "unavailable",        "rate_limited",
    "internal",     "unauthorized",  "forbidden",  "method_not_allowed", "unsupported_media_type",
    "uri_too_long", "other"};
#define CODES (sizeof s_codes / sizeof s_codes[0])

static const char *s_services[] = {"bus", "ingest", "index", "rank", "notify", "other"};
#define SERVICES (sizeof s_services / sizeof s_services[0])

static const char *s_kinds[] = {"signin", "subscribe", "vote"};
#define KINDS (sizeof s_kinds / sizeof s_kinds[0])

typedef struct {
    atomic_ullong by_status[STATUSES + 1]; //  the last: any other status
    atomic_ullong by_code[CODES];
    atomic_ullong buckets[BUCKETS]; //  not cumulative; summed when rendered
    atomic_ullong count;
    atomic_ullong sum_us;
} route_counters_t;

struct _gw_metrics_t {
    route_counters_t routes[ROUTES_MAX];
    atomic_ullong bus_timeouts[SERVICES];
    atomic_ullong rate_limited[KINDS];
    atomic_ullong cache_hits;
};

gw_metrics_t *gw_metrics_new (void)
{
    assert (gw_route_count < ROUTES_MAX);
    //  calloc's zeroes are valid initial atomics.
    return calloc (1, sizeof (gw_metrics_t));
}

void gw_metrics_destroy (gw_metrics_t **self_p)
{
    free (*self_p);
    *self_p = NULL;
}

static size_t s_find (const char *const *names, size_t count, const char *name)
{
    for (size_t i = 0; i < count - 1; i++)
        if (strcmp (names[i], name) == 0)
            return i;
    return count - 1;
}

void gw_metrics_request (gw_metrics_t *self, int route, int status, const char *error_code,
                         double seconds)
{
    size_t row = route >= 0 && (size_t)route < gw_route_count ? (size_t)route : gw_route_count;
    route_counters_t *counters = &self->routes[row];
    size_t s = 0;
    while (s < STATUSES && s_statuses[s] != status)
        s++;
    atomic_fetch_add_explicit (&counters->by_status[s], 1, memory_order_relaxed);
    if (error_code)
        atomic_fetch_add_explicit (&counters->by_code[s_find (s_codes, CODES, error_code)], 1,
                                   memory_order_relaxed);
    size_t b = 0;
    while (b < BUCKETS && seconds > s_buckets[b])
        b++;
    if (b < BUCKETS)
        atomic_fetch_add_explicit (&counters->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit (&counters->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit (&counters->sum_us, (unsigned long long)(seconds * 1e6),
                               memory_order_relaxed);
}

void gw_metrics_bus_timeout (gw_metrics_t *self, const char *service)
{
    atomic_fetch_add_explicit (&self->bus_timeouts[s_find (s_services, SERVICES, service)], 1,
                               memory_order_relaxed);
}

void gw_metrics_rate_limited (gw_metrics_t *self, const char *kind)
{
    for (size_t k = 0; k < KINDS; k++)
        if (strcmp (s_kinds[k], kind) == 0)
            atomic_fetch_add_explicit (&self->rate_limited[k], 1, memory_order_relaxed);
}

void gw_metrics_cache_hit (gw_metrics_t *self)
{
    atomic_fetch_add_explicit (&self->cache_hits, 1, memory_order_relaxed);
}

//  The labels of route ROW: method and template.
static void s_route_labels (size_t row, char *labels, size_t size)
{
    if (row < gw_route_count)
        snprintf (labels, size, "method=\"%s\",route=\"%s\"", gw_routes[row].method,
                  gw_routes[row].template);
    else
        snprintf (labels, size, "method=\"any\",route=\"unmatched\"");
}

char *gw_metrics_render (gw_metrics_t *self, size_t *size)
{
    char *text = NULL;
    FILE *out = open_memstream (&text, size);
    if (!out)
        return NULL;
    char labels[160];
    fprintf (out, "# HELP paperbus_http_requests_total HTTP requests answered, by route and "
                  "status.\n# TYPE paperbus_http_requests_total counter\n");
    for (size_t row = 0; row <= gw_route_count; row++) {
        s_route_labels (row, labels, sizeof labels);
        for (size_t s = 0; s <= STATUSES; s++) {
            unsigned long long n = atomic_load (&self->routes[row].by_status[s]);
            if (!n)
                continue;
            if (s < STATUSES)
                fprintf (out, "paperbus_http_requests_total{%s,status=\"%d\"} %llu\n", labels,
                         s_statuses[s], n);
            else
                fprintf (out, "paperbus_http_requests_total{%s,status=\"other\"} %llu\n", labels,
                         n);
        }
    }
    fprintf (out, "# HELP paperbus_http_errors_total HTTP error answers, by route and error "
                  "code.\n# TYPE paperbus_http_errors_total counter\n");
    for (size_t row = 0; row <= gw_route_count; row++) {
        s_route_labels (row, labels, sizeof labels);
        for (size_t c = 0; c < CODES; c++) {
            unsigned long long n = atomic_load (&self->routes[row].by_code[c]);
            if (n)
                fprintf (out, "paperbus_http_errors_total{%s,code=\"%s\"} %llu\n", labels,
                         s_codes[c], n);
        }
    }
    fprintf (out, "# HELP paperbus_http_request_duration_seconds Time from a request's first "
                  "byte to its answer.\n# TYPE paperbus_http_request_duration_seconds histogram\n");
    for (size_t row = 0; row <= gw_route_count; row++) {
        route_counters_t *counters = &self->routes[row];
        unsigned long long count = atomic_load (&counters->count);
        if (!count)
            continue;
        s_route_labels (row, labels, sizeof labels);
        unsigned long long cumulative = 0;
        for (size_t b = 0; b < BUCKETS; b++) {
            cumulative += atomic_load (&counters->buckets[b]);
            fprintf (out, "paperbus_http_request_duration_seconds_bucket{%s,le=\"%g\"} %llu\n",
                     labels, s_buckets[b], cumulative);
        }
        fprintf (out, "paperbus_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %llu\n",
                 labels, count);
        fprintf (out, "paperbus_http_request_duration_seconds_sum{%s} %.6f\n", labels,
                 (double)atomic_load (&counters->sum_us) / 1e6);
        fprintf (out, "paperbus_http_request_duration_seconds_count{%s} %llu\n", labels, count);
    }
    fprintf (out, "# HELP paperbus_bus_timeouts_total Bus calls that got no answer in time, by "
                  "service.\n# TYPE paperbus_bus_timeouts_total counter\n");
    for (size_t s = 0; s < SERVICES; s++)
        fprintf (out, "paperbus_bus_timeouts_total{service=\"%s\"} %llu\n", s_services[s],
                 atomic_load (&self->bus_timeouts[s]));
    fprintf (out, "# HELP paperbus_http_rate_limited_total Requests refused by a rate limit.\n"
                  "# TYPE paperbus_http_rate_limited_total counter\n");
    for (size_t k = 0; k < KINDS; k++)
        fprintf (out, "paperbus_http_rate_limited_total{class=\"%s\"} %llu\n", s_kinds[k],
                 atomic_load (&self->rate_limited[k]));
    fprintf (out,
             "# HELP paperbus_gateway_cache_hits_total Answers served from the cache.\n"
             "# TYPE paperbus_gateway_cache_hits_total counter\n"
             "paperbus_gateway_cache_hits_total %llu\n",
             atomic_load (&self->cache_hits));
    fclose (out);
    return text;
}
