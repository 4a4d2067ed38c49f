/*  routes — the gateway's one table of what it serves.

    A template has at most one parameter, {id} or {file}, which may hold
    slashes (old-style arXiv ids do: hep-th/9901001); routes are tried in
    table order, so a longer suffix ("/api/papers/{id}/similar") comes
    before its shorter form ("/api/papers/{id}"). The table is also what
    `gateway --routes` prints, which a test compares with the OpenAPI
    document, and what /metrics labels requests with.
*/
#ifndef GW_ROUTES_H
#define GW_ROUTES_H

#include "gateway.h"

//  How a route is rate-limited (per client address).
typedef enum { GW_LIMIT_NONE, GW_LIMIT_SIGNIN, GW_LIMIT_SUBSCRIBE, GW_LIMIT_VOTE } gw_limit_t;

typedef struct {
    const char *method;   //  "GET" (also answers HEAD), "POST", "DELETE"
    const char *template; //  "/api/papers/{id}"
    gw_handler_fn *handler;
    gw_limit_t limit;
} gw_route_t;

extern const gw_route_t gw_routes[];
extern const size_t gw_route_count;

//  Finds the route for METHOD and PATH; PARAM gets the template's parameter
//  (a pointer into PATH, with PARAM_SIZE bytes copied into PARAM_BUFFER).
//  Returns the route's index, or -1: then ALLOW lists the methods PATH
//  does have ("" when no route has that path: a 404).
int gw_route_match (const char *method, const char *path, char *param_buffer, size_t param_size,
                    char *allow, size_t allow_size);

#endif
