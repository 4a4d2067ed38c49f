/*  accounts — who is asking, signing in and out, API tokens, and the
    subscription links.

    Identity belongs to notify (it mails the links and keeps accounts);
    the gateway only carries credentials to it: the pb_session cookie a
    browser got when it signed in, or an API token in an Authorization
    header. Each signed-in request asks notify who holds the credential
    (one lookup by primary key), so signing out, on any gateway, ends the
    session everywhere at once.
*/
#include "gateway.h"

#include <czmq.h>
#include <microhttpd.h>
#include <string.h>
#include <strings.h>

#define CREDENTIAL_MAX 256
#define COOKIE         "pb_session"

/* ==== Who is asking ==== */

//  Undoes an error answer, for a failure that is not the request's end.
static void s_response_clear (gw_response_t *response)
{
    if (!response->body_static)
        free (response->body);
    response->body = NULL;
    response->size = 0;
    response->status = 500;
    response->error_code = NULL;
}

//  Fills USER from a session reply.
static void s_user_from (json_t *reply, gw_user_t *user)
{
    snprintf (user->id, sizeof user->id, "%s", json_string_value (json_object_get (reply, "user")));
    snprintf (user->email, sizeof user->email, "%s",
              json_string_value (json_object_get (reply, "email")));
    snprintf (user->kind, sizeof user->kind, "%s",
              json_string_value (json_object_get (reply, "kind")));
}

int gw_identify (gateway_t *gateway, gw_request_t *request, gw_response_t *response)
{
    if (request->identified)
        return request->user.id[0] ? 1 : 0;
    request->identified = true;
    const char *authorization = gw_header (request, MHD_HTTP_HEADER_AUTHORIZATION);
    bool by_cookie = false;
    const char *credential = NULL;
    if (authorization && strncasecmp (authorization, "Bearer ", 7) == 0)
        credential = authorization + 7;
    else {
        credential = MHD_lookup_connection_value (request->connection, MHD_COOKIE_KIND, COOKIE);
        by_cookie = true;
    }
    if (!credential || !*credential || strlen (credential) > CREDENTIAL_MAX)
        return 0;
    request->credential = credential;
    json_t *reply =
        gw_call (gateway, "notify.whoami", json_pack ("{s:s}", "session", credential), response);
    if (!reply) {
        if (response->status >= 500)
            return -1;
        //  Unknown or expired: the reader is simply not signed in.
        s_response_clear (response);
        return 0;
    }
    s_user_from (reply, &request->user);
    json_decref (reply);
    request->user.by_cookie = by_cookie;
    return 1;
}

//  True when the request's Origin, if it has one, is this site.
static bool s_same_origin (gateway_t *gateway, gw_request_t *request)
{
    const char *origin = gw_header (request, "Origin");
    if (!origin)
        return true; //  not sent by a browser's cross-site form or script
    if (strcmp (origin, gateway->public_url) == 0)
        return true;
    const char *host = gw_header (request, MHD_HTTP_HEADER_HOST);
    const char *origin_host = strstr (origin, "://");
    return host && origin_host && strcmp (origin_host + 3, host) == 0;
}

int gw_require_user (gateway_t *gateway, gw_request_t *request, gw_response_t *response)
{
    int signed_in = gw_identify (gateway, request, response);
    if (signed_in < 0)
        return -1;
    if (signed_in == 0) {
        gw_error (response, 401, "unauthorized",
                  "sign in first (a session cookie or an API token in Authorization: Bearer)");
        return -1;
    }
    if (request->user.by_cookie && !s_same_origin (gateway, request)) {
        gw_error (response, 403, "forbidden",
                  "a request from another site's page cannot use your session");
        return -1;
    }
    return 0;
}

/* ==== Signing in and out ==== */

//  The value of FIELD of BODY when it is a string, else NULL with RESPONSE
//  answered naming it.
static const char *s_string_field (json_t *body, const char *field, gw_response_t *response)
{
    json_t *value = json_object_get (body, field);
    if (!value) {
        gw_error (response, 400, "missing_field", "%s: missing", field);
        return NULL;
    }
    if (!json_is_string (value)) {
        gw_error (response, 400, "wrong_type", "%s: must be a string", field);
        return NULL;
    }
    return json_string_value (value);
}

int gw_signin (gateway_t *gateway, gw_request_t *request, gw_response_t *response)
{
    json_t *body = gw_body_object (request, response);
    const char *email = body ? s_string_field (body, "email", response) : NULL;
    if (email) {
        json_t *reply =
            gw_call (gateway, "notify.signin", json_pack ("{s:s}", "email", email), response);
        if (reply) {
            gw_json (response, 202,
                     json_pack ("{s:O,s:s,s:O}", "email", json_object_get (reply, "email"),
                                "status", "link_sent", "expires_in_s",
                                json_object_get (reply, "expires_in_s")));
            json_decref (reply);
        }
    }
    json_decref (body);
    return 0;
}

//  Sets the session cookie to VALUE for MAX_AGE seconds (0 clears it).
static void s_set_cookie (gw_request_t *request, gw_response_t *response, const char *value,
                          long max_age)
{
    snprintf (response->set_cookie, sizeof response->set_cookie,
              COOKIE "=%s; Path=/; Max-Age=%ld; HttpOnly; SameSite=Lax%s", value, max_age,
              request->https ? "; Secure" : "");
}

int gw_session_open (gateway_t *gateway, gw_request_t *request, gw_response_t *response)
{
    json_t *body = gw_body_object (request, response);
    const char *token = body ? s_string_field (body, "token", response) : NULL;
    json_t *reply = NULL;
    if (token)
        reply = gw_call (gateway, "notify.session", json_pack ("{s:s}", "token", token), response);
    json_decref (body);
    if (!reply) {
        if (response->status == 404 || response->status == 422) {
            s_response_clear (response);
            gw_error (response, 401, "unauthorized",
                      "this sign-in link is unknown, used or expired; ask for a new one");
        }
        return 0;
    }
    int64_t now_ms = zclock_time ();
    long max_age =
        (long)((json_integer_value (json_object_get (reply, "expires_at")) - now_ms) / 1000);
    s_set_cookie (request, response, json_string_value (json_object_get (reply, "session")),
                  max_age > 0 ? max_age : 0);
    gw_json (response, 200,
             json_pack ("{s:{s:O,s:O}}", "user", "id", json_object_get (reply, "user"), "email",
                        json_object_get (reply, "email")));
    json_decref (reply);
    return 0;
}

int gw_session_get (gateway_t *gateway, gw_request_t *request, gw_response_t *response)
{
    int signed_in = gw_identify (gateway, request, response);
    if (signed_in < 0)
        return 0;
    if (signed_in == 0)
        gw_error (response, 401, "unauthorized", "not signed in");
    else
        gw_json (response, 200,
                 json_pack ("{s:{s:s,s:s,s:s}}", "user", "id", request->user.id, "email",
                            request->user.email, "kind", request->user.kind));
    return 0;
}

int gw_session_close (gateway_t *gateway, gw_request_t *request, gw_response_t *response)
{
    //  What authenticates the request is closed: the session of the cookie,
    //  or the API token of the Authorization header (how a script revokes it).
    const char *authorization = gw_header (request, MHD_HTTP_HEADER_AUTHORIZATION);
    bool by_cookie = !(authorization && strncasecmp (authorization, "Bearer ", 7) == 0);
    const char *credential =
        by_cookie ? MHD_lookup_connection_value (request->connection, MHD_COOKIE_KIND, COOKIE)
                  : authorization + 7;
    if (credential && *credential && strlen (credential) <= CREDENTIAL_MAX) {
        if (by_cookie && !s_same_origin (gateway, request)) {
            gw_error (response, 403, "forbidden",
                      "a request from another site's page cannot use your session");
            return 0;
        }
        json_t *reply = gw_call (gateway, "notify.signout",
                                 json_pack ("{s:s}", "session", credential), response);
        if (!reply)
            return 0;
        json_decref (reply);
    }
    s_set_cookie (request, response, "", 0);
    response->status = 204;
    return 0;
}

int gw_token_create (gateway_t *gateway, gw_request_t *request, gw_response_t *response)
{
    if (gw_require_user (gateway, request, response))
        return 0;
    json_t *body = gw_body_object (request, response);
    const char *label = body ? s_string_field (body, "label", response) : NULL;
    if (label) {
        json_t *reply = gw_call (
            gateway, "notify.token",
            json_pack ("{s:s,s:s}", "session", request->credential, "label", label), response);
        if (reply) {
            gw_json (response, 201,
                     json_pack ("{s:O,s:s,s:O}", "token", json_object_get (reply, "session"),
                                "label", label, "expires_at",
                                json_object_get (reply, "expires_at")));
            json_decref (reply);
        }
    }
    json_decref (body);
    return 0;
}

/* ==== Subscriptions ==== */

int gw_subscribe (gateway_t *gateway, gw_request_t *request, gw_response_t *response)
{
    static const char *known[] = {"email",    "query",   "categories", "authors",
                                  "trending", "cadence", "hour",       "time_zone"};
    json_t *body = gw_body_object (request, response);
    if (!body)
        return 0;
    const char *field;
    json_t *value;
    json_object_foreach (body, field, value)
    {
        size_t i = 0;
        while (i < sizeof known / sizeof known[0] && strcmp (known[i], field) != 0)
            i++;
        if (i == sizeof known / sizeof known[0]) {
            gw_error (response, 422, "invalid",
                      "%.64s: not a field of a subscription (email, query, categories, authors, "
                      "trending, cadence, hour, time_zone)",
                      field);
            json_decref (body);
            return 0;
        }
    }
    json_t *reply = gw_call (gateway, "notify.subscribe", body, response);
    if (reply) {
        gw_json (response, 202,
                 json_pack ("{s:O,s:s}", "email", json_object_get (reply, "email"), "status",
                            "confirmation_sent"));
        json_decref (reply);
    }
    return 0;
}

//  Where a browser following a mail's link lands: the page, with a word
//  on what happened.
static void s_redirect (gw_response_t *response, const char *location)
{
    s_response_clear (response);
    response->status = 303;
    snprintf (response->location, sizeof response->location, "%s", location);
}

//  Reads the token argument. Returns it, or NULL with RESPONSE answered.
static const char *s_token_arg (gw_request_t *request, gw_response_t *response)
{
    const char *token;
    if (gw_text_arg (request, response, "token", CREDENTIAL_MAX, &token))
        return NULL;
    if (!token || !*token) {
        gw_error (response, 400, "missing_field", "token: missing (it comes with the mailed link)");
        return NULL;
    }
    return token;
}

int gw_subscription_confirm (gateway_t *gateway, gw_request_t *request, gw_response_t *response)
{
    bool html = gw_wants_html (request);
    const char *token = s_token_arg (request, response);
    json_t *reply =
        token ? gw_call (gateway, "notify.confirm", json_pack ("{s:s}", "token", token), response)
              : NULL;
    if (reply) {
        if (html)
            s_redirect (response, "/?subscription=confirmed");
        else
            gw_json (response, 200,
                     json_pack ("{s:s,s:O,s:O}", "status", "confirmed", "email",
                                json_object_get (reply, "email"), "subscription", reply));
        json_decref (reply);
    } else if (html && response->status < 500) {
        //  notify says "has expired" of a link that was good once.
        bool expired = response->body && strstr (response->body, "has expired");
        s_redirect (response, expired ? "/?subscription=expired" : "/?subscription=invalid");
    }
    return 0;
}

int gw_unsubscribe (gateway_t *gateway, gw_request_t *request, gw_response_t *response)
{
    bool html = strcmp (request->method, "GET") == 0 && gw_wants_html (request);
    const char *token = s_token_arg (request, response);
    json_t *reply = token ? gw_call (gateway, "notify.unsubscribe",
                                     json_pack ("{s:s}", "token", token), response)
                          : NULL;
    if (reply) {
        if (html)
            s_redirect (response, "/?unsubscribed=1");
        else
            gw_json (response, 200, json_pack ("{s:s}", "status", "unsubscribed"));
        json_decref (reply);
    } else if (html && response->status < 500)
        s_redirect (response, "/?unsubscribed=invalid");
    return 0;
}
