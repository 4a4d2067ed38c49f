/*  routes — the table, and matching a path against it. */
#include "routes.h"

#include <stdio.h>
#include <string.h>

const gw_route_t gw_routes[] = {
    {"GET", "/api/papers", gw_papers_list, GW_LIMIT_NONE},
    {"GET", "/api/papers/{id}/similar", gw_paper_similar, GW_LIMIT_NONE},
    {"POST", "/api/papers/{id}/vote", gw_vote_cast, GW_LIMIT_VOTE},
    {"DELETE", "/api/papers/{id}/vote", gw_vote_withdraw, GW_LIMIT_VOTE},
    {"GET", "/api/papers/{id}", gw_paper_get, GW_LIMIT_NONE},
    {"GET", "/api/search", gw_search, GW_LIMIT_NONE},
    {"POST", "/api/subscriptions", gw_subscribe, GW_LIMIT_SUBSCRIBE},
    {"GET", "/api/subscriptions/confirm", gw_subscription_confirm, GW_LIMIT_NONE},
    {"GET", "/api/unsubscribe", gw_unsubscribe, GW_LIMIT_NONE},
    {"POST", "/api/unsubscribe", gw_unsubscribe, GW_LIMIT_NONE},
    {"POST", "/api/signin", gw_signin, GW_LIMIT_SIGNIN},
    {"POST", "/api/session", gw_session_open, GW_LIMIT_SIGNIN},
    {"GET", "/api/session", gw_session_get, GW_LIMIT_NONE},
    {"DELETE", "/api/session", gw_session_close, GW_LIMIT_NONE},
    {"POST", "/api/tokens", gw_token_create, GW_LIMIT_NONE},
    {"GET", "/healthz", gw_healthz, GW_LIMIT_NONE},
    {"GET", "/metrics", gw_metrics_page, GW_LIMIT_NONE},
    {"GET", "/feeds/trending.atom", gw_feed_trending, GW_LIMIT_NONE},
    {"GET", "/feeds/search.atom", gw_feed_search, GW_LIMIT_NONE},
    {"GET", "/", gw_site_page, GW_LIMIT_NONE},
    {"GET", "/search", gw_site_page, GW_LIMIT_NONE},
    {"GET", "/signin", gw_site_page, GW_LIMIT_NONE},
    {"GET", "/papers/{id}", gw_site_page, GW_LIMIT_NONE},
    {"GET", "/static/{file}", gw_site_static, GW_LIMIT_NONE},
};
const size_t gw_route_count = sizeof gw_routes / sizeof gw_routes[0];

//  Matches PATH against TEMPLATE; on a match with a parameter, copies it.
static bool s_matches (const char *template, const char *path, char *param, size_t param_size)
{
    const char *open = strchr (template, '{');
    if (!open)
        return strcmp (template, path) == 0;
    size_t prefix = (size_t)(open - template);
    const char *suffix = strchr (open, '}') + 1;
    size_t suffix_length = strlen (suffix), path_length = strlen (path);
    if (path_length <= prefix + suffix_length || strncmp (path, template, prefix) != 0 ||
        strcmp (path + path_length - suffix_length, suffix) != 0)
        return false;
    size_t length = path_length - prefix - suffix_length;
    if (length >= param_size)
        return false;
    memcpy (param, path + prefix, length);
    param[length] = '\0';
    return true;
}

int gw_route_match (const char *method, const char *path, char *param_buffer, size_t param_size,
                    char *allow, size_t allow_size)
{
    const char *wanted = strcmp (method, "HEAD") == 0 ? "GET" : method;
    allow[0] = '\0';
    //  The first template the path matches is the path's meaning: a GET of
    //  ".../vote" is a 405, not a paper whose id ends in "/vote".
    const char *meaning = NULL;
    for (size_t i = 0; i < gw_route_count; i++) {
        const gw_route_t *route = &gw_routes[i];
        if (meaning && strcmp (meaning, route->template) != 0)
            continue;
        param_buffer[0] = '\0';
        if (!s_matches (route->template, path, param_buffer, param_size))
            continue;
        meaning = route->template;
        if (strcmp (route->method, wanted) == 0)
            return (int)i;
        //  Same path, another method: remember it for the 405's Allow.
        size_t used = strlen (allow);
        snprintf (allow + used, allow_size - used, "%s%s%s", used ? ", " : "", route->method,
                  strcmp (route->method, "GET") == 0 ? ", HEAD" : "");
    }
    return -1;
}
