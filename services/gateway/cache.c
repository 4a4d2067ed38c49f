/*  cache — a hash table of bodies with expiry, behind one lock. */
#include "cache.h"

#include <czmq.h>
#include <pthread.h>

#define ENTRIES_MAX 4096 //  bodies kept at once; past that, stale ones go, then all

typedef struct {
    int64_t expires_ms;
    bool refreshing; //  a request is building its successor
    size_t size;
    char body[];
} entry_t;

struct _gw_cache_t {
    pthread_mutex_t lock;
    zhashx_t *entries;
    int ttl_ms;
};

static void s_entry_destroy (void **entry_p)
{
    free (*entry_p);
    *entry_p = NULL;
}

gw_cache_t *gw_cache_new (int ttl_ms)
{
    gw_cache_t *self = calloc (1, sizeof *self);
    pthread_mutex_init (&self->lock, NULL);
    self->entries = zhashx_new ();
    zhashx_set_destructor (self->entries, s_entry_destroy);
    self->ttl_ms = ttl_ms;
    return self;
}

void gw_cache_destroy (gw_cache_t **self_p)
{
    gw_cache_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->entries);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

char *gw_cache_get (gw_cache_t *self, const char *key, size_t *size)
{
    if (self->ttl_ms == 0)
        return NULL;
    char *copy = NULL;
    pthread_mutex_lock (&self->lock);
    entry_t *entry = zhashx_lookup (self->entries, key);
    int64_t now = zclock_mono ();
    //  Past its time, the first reader rebuilds it while the others keep
    //  getting it for up to one more TTL: a burst does not all wait on
    //  the services at once when a popular answer expires.
    bool usable = entry && (entry->expires_ms > now ||
                            (entry->expires_ms + self->ttl_ms > now && entry->refreshing));
    if (entry && !usable && entry->expires_ms + self->ttl_ms > now)
        entry->refreshing = true;
    if (usable) {
        copy = malloc (entry->size + 1);
        memcpy (copy, entry->body, entry->size + 1);
        *size = entry->size;
    }
    pthread_mutex_unlock (&self->lock);
    return copy;
}

//  Drops the stale entries; when none were stale, drops them all.
static void s_make_room (gw_cache_t *self, int64_t now)
{
    zlistx_t *keys = zhashx_keys (self->entries);
    for (char *key = zlistx_first (keys); key; key = zlistx_next (keys)) {
        entry_t *entry = zhashx_lookup (self->entries, key);
        if (entry->expires_ms <= now)
            zhashx_delete (self->entries, key);
    }
    zlistx_destroy (&keys);
    if (zhashx_size (self->entries) >= ENTRIES_MAX)
        zhashx_purge (self->entries);
}

void gw_cache_put (gw_cache_t *self, const char *key, const char *body, size_t size)
{
    if (self->ttl_ms == 0)
        return;
    entry_t *entry = malloc (sizeof *entry + size + 1);
    memcpy (entry->body, body, size);
    entry->body[size] = '\0';
    entry->size = size;
    entry->refreshing = false;
    int64_t now = zclock_mono ();
    entry->expires_ms = now + self->ttl_ms;
    pthread_mutex_lock (&self->lock);
    if (zhashx_size (self->entries) >= ENTRIES_MAX)
        s_make_room (self, now);
    zhashx_update (self->entries, key, entry);
    pthread_mutex_unlock (&self->lock);
}
