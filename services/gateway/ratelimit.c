/*  ratelimit — token buckets in a hash table behind one lock. */
#include "ratelimit.h"

#include <czmq.h>
#include <math.h>
#include <pthread.h>

#define BUCKETS_MAX 100000 //  clients remembered at once, before idle ones are dropped

typedef struct {
    double tokens;
    int64_t refilled_ms;
} bucket_t;

struct _gw_limits_t {
    pthread_mutex_t lock;
    zhashx_t *buckets;  //  "kind client" -> bucket_t
    double capacity[4]; //  per gw_limit_t: burst, the rate per period
    double per_ms[4];   //  refill per millisecond
};

static void s_bucket_destroy (void **bucket_p)
{
    free (*bucket_p);
    *bucket_p = NULL;
}

gw_limits_t *gw_limits_new (pb_config_t *config)
{
    gw_limits_t *self = calloc (1, sizeof *self);
    pthread_mutex_init (&self->lock, NULL);
    self->buckets = zhashx_new ();
    zhashx_set_destructor (self->buckets, s_bucket_destroy);
    const double hour_ms = 3600e3, minute_ms = 60e3;
    self->capacity[GW_LIMIT_SIGNIN] =
        (double)pb_config_int (config, PB_CONF_GATEWAY_SIGNINS_PER_HOUR);
    self->per_ms[GW_LIMIT_SIGNIN] = self->capacity[GW_LIMIT_SIGNIN] / hour_ms;
    self->capacity[GW_LIMIT_SUBSCRIBE] =
        (double)pb_config_int (config, PB_CONF_GATEWAY_SUBSCRIBES_PER_HOUR);
    self->per_ms[GW_LIMIT_SUBSCRIBE] = self->capacity[GW_LIMIT_SUBSCRIBE] / hour_ms;
    self->capacity[GW_LIMIT_VOTE] =
        (double)pb_config_int (config, PB_CONF_GATEWAY_VOTES_PER_MINUTE);
    self->per_ms[GW_LIMIT_VOTE] = self->capacity[GW_LIMIT_VOTE] / minute_ms;
    return self;
}

void gw_limits_destroy (gw_limits_t **self_p)
{
    gw_limits_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->buckets);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

//  Drops the buckets that have filled up again: their clients are idle.
static void s_forget_idle (gw_limits_t *self, int64_t now)
{
    zlistx_t *keys = zhashx_keys (self->buckets);
    for (char *key = zlistx_first (keys); key; key = zlistx_next (keys)) {
        bucket_t *bucket = zhashx_lookup (self->buckets, key);
        gw_limit_t limit = (gw_limit_t)(key[0] - '0');
        double tokens = bucket->tokens + (double)(now - bucket->refilled_ms) * self->per_ms[limit];
        if (tokens >= self->capacity[limit])
            zhashx_delete (self->buckets, key);
    }
    zlistx_destroy (&keys);
}

int gw_limits_take (gw_limits_t *self, gw_limit_t limit, const char *client)
{
    char key[80];
    snprintf (key, sizeof key, "%d %s", (int)limit, client);
    int64_t now = zclock_mono ();
    int wait_s = 0;
    pthread_mutex_lock (&self->lock);
    bucket_t *bucket = zhashx_lookup (self->buckets, key);
    if (!bucket) {
        if (zhashx_size (self->buckets) >= BUCKETS_MAX)
            s_forget_idle (self, now);
        bucket = malloc (sizeof *bucket);
        *bucket = (bucket_t){self->capacity[limit], now};
        zhashx_insert (self->buckets, key, bucket);
    }
    bucket->tokens += (double)(now - bucket->refilled_ms) * self->per_ms[limit];
    if (bucket->tokens > self->capacity[limit])
        bucket->tokens = self->capacity[limit];
    bucket->refilled_ms = now;
    if (bucket->tokens >= 1)
        bucket->tokens -= 1;
    else {
        //  Whole seconds, rounded up (but not for floating-point dust).
        wait_s = (int)ceil ((1 - bucket->tokens) / self->per_ms[limit] / 1000 - 1e-6);
        if (wait_s < 1)
            wait_s = 1;
    }
    pthread_mutex_unlock (&self->lock);
    return wait_s;
}
