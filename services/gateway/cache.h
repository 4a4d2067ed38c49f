/*  cache — answers built for anonymous readers, kept for a moment.

    Most requests are the same few pages (the trending list, the day's
    list, popular searches) asked by readers who are not signed in; the
    answer to each changes at most every few seconds. Keeping the built
    body for PAPERBUS_GATEWAY_CACHE_MS turns a burst of identical requests
    into one set of bus calls. Signed-in readers get the cached body with
    their own votes laid over it, fetched fresh.
*/
#ifndef GW_CACHE_H
#define GW_CACHE_H

#include "gateway.h"

//  A cache whose entries live TTL_MS (0: a cache that keeps nothing).
gw_cache_t *gw_cache_new (int ttl_ms);

void gw_cache_destroy (gw_cache_t **self_p);

//  A copy of the body stored under KEY while it is fresh (the caller frees
//  it), or NULL: then the caller builds it and puts it. For one TTL after
//  a body expires, only the first caller gets NULL; the others get the
//  old body while that one builds the new.
char *gw_cache_get (gw_cache_t *self, const char *key, size_t *size);

//  Stores a copy of BODY under KEY.
void gw_cache_put (gw_cache_t *self, const char *key, const char *body, size_t size);

#endif
