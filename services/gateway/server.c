/*  server — libmicrohttpd in front of the route table, and the helpers
    handlers use to read a request and answer it. */
#include "server.h"

#include "ratelimit.h"
#include "metrics.h"
#include "routes.h"

#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define CONNECTION_TIMEOUT_S 30          //  a client silent this long is dropped
#define CONNECTIONS_MAX      4096        //  connections at once, all clients
#define CONNECTIONS_PER_IP   512         //  connections at once from one address
#define CONNECTION_MEMORY    (64u << 10) //  request line + headers + buffers

struct _gw_server_t {
    gateway_t *gateway;
    struct MHD_Daemon *daemon;
};

//  What the server keeps for one request while it arrives.
typedef struct {
    int64_t started_us;
    char *body;
    size_t body_size;
    bool body_too_large;
} pending_t;

/* ==== Helpers for handlers ==== */

void gw_json (gw_response_t *response, int status, json_t *json)
{
    response->status = status;
    response->content_type = "application/json; charset=utf-8";
    response->body = json_dumps (json, JSON_COMPACT);
    response->size = response->body ? strlen (response->body) : 0;
    json_decref (json);
}

void gw_error (gw_response_t *response, int status, const char *code, const char *format, ...)
{
    char message[1024];
    va_list args;
    va_start (args, format);
    vsnprintf (message, sizeof message, format, args);
    va_end (args);
    if (response->body && !response->body_static)
        free (response->body);
    response->body = NULL;
    response->error_code = code;
    gw_json (response, status,
             json_pack ("{s:{s:s,s:s}}", "error", "code", code, "message", message));
}

void gw_error_from_reply (gw_response_t *response, const char *service, int status,
                          const char *text)
{
    //  The text is "CODE name: message"; keep the message.
    const char *colon = strchr (text, ':');
    const char *message = colon ? colon + 2 : text;
    if (status == PB_E_NO_WORKER || status == PB_E_TIMEOUT || status == PB_E_WORKER_DIED ||
        status == PB_E_UNKNOWN_SERVICE)
        gw_error (response, 503, "unavailable", "%s is unavailable: %s", service, message);
    else
        gw_error (response, pb_error_http_status (status), pb_error_name (status), "%s", message);
    //  The services' limits (notify's: 5 mails an hour to an address) count
    //  over an hour.
    if (status == PB_E_RATE_LIMITED)
        response->retry_after = 3600;
}

const char *gw_arg (gw_request_t *request, const char *name)
{
    return MHD_lookup_connection_value (request->connection, MHD_GET_ARGUMENT_KIND, name);
}

const char *gw_header (gw_request_t *request, const char *name)
{
    return MHD_lookup_connection_value (request->connection, MHD_HEADER_KIND, name);
}

int gw_int_arg (gw_request_t *request, gw_response_t *response, const char *name, long fallback,
                long min, long max, long *value)
{
    const char *text = gw_arg (request, name);
    if (!text || !*text) {
        *value = fallback;
        return 0;
    }
    char *end;
    long number = strtol (text, &end, 10);
    if (*end || end - text > 9 || number < min || number > max) {
        gw_error (response, 422, "invalid", "%s: expected a whole number from %ld to %ld", name,
                  min, max);
        return -1;
    }
    *value = number;
    return 0;
}

int gw_text_arg (gw_request_t *request, gw_response_t *response, const char *name, size_t max_bytes,
                 const char **value)
{
    const char *text = gw_arg (request, name);
    *value = text;
    if (!text)
        return 0;
    size_t length = strlen (text);
    if (length > max_bytes) {
        gw_error (response, 413, "too_large", "%s: %zu bytes, at most %zu", name, length,
                  max_bytes);
        return -1;
    }
    if (!pb_utf8_valid (text, length)) {
        gw_error (response, 400, "invalid_utf8", "%s: not valid UTF-8", name);
        return -1;
    }
    for (size_t i = 0; i < length; i++)
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f) {
            gw_error (response, 400, "invalid", "%s: control characters are not allowed", name);
            return -1;
        }
    return 0;
}

json_t *gw_body_object (gw_request_t *request, gw_response_t *response)
{
    const char *type = gw_header (request, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!type || strncasecmp (type, "application/json", 16) != 0) {
        gw_error (response, 415, "unsupported_media_type",
                  "the body must be application/json, not %s", type ? type : "untyped");
        return NULL;
    }
    if (!request->body_size) {
        gw_error (response, 400, "malformed", "the body is empty; a JSON object was expected");
        return NULL;
    }
    json_error_t error;
    json_t *json = json_loadb (request->body, request->body_size, JSON_REJECT_DUPLICATES, &error);
    if (!json) {
        gw_error (response, 400, "malformed", "the body is not JSON: %s (line %d, column %d)",
                  error.text, error.line, error.column);
        return NULL;
    }
    if (!json_is_object (json)) {
        json_decref (json);
        gw_error (response, 400, "wrong_type", "the body must be a JSON object");
        return NULL;
    }
    return json;
}

bool gw_wants_html (gw_request_t *request)
{
    const char *accept = gw_header (request, MHD_HTTP_HEADER_ACCEPT);
    return accept && strstr (accept, "text/html") && !strstr (accept, "application/json");
}

/* ==== Serving ==== */

static int64_t s_now_us (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

//  Adds up the bytes of the query string, to refuse overlong URLs.
static enum MHD_Result s_count_argument (void *arg, enum MHD_ValueKind kind, const char *key,
                                         const char *value)
{
    (void)kind;
    size_t *total = arg;
    *total += strlen (key) + (value ? strlen (value) : 0) + 2;
    return MHD_YES;
}

//  The client's address: the socket's peer, or behind a trusted proxy the
//  last address X-Forwarded-For adds (the one the proxy saw).
static void s_client_address (gateway_t *gateway, gw_request_t *request)
{
    snprintf (request->client, sizeof request->client, "unknown");
    if (gateway->trust_proxy) {
        const char *forwarded = gw_header (request, "X-Forwarded-For");
        if (forwarded && *forwarded) {
            const char *last = strrchr (forwarded, ',');
            last = last ? last + 1 : forwarded;
            while (*last == ' ')
                last++;
            snprintf (request->client, sizeof request->client, "%.*s", (int)strcspn (last, " ,"),
                      last);
            const char *proto = gw_header (request, "X-Forwarded-Proto");
            request->https = proto && strcasecmp (proto, "https") == 0;
            return;
        }
    }
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info (request->connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (info && info->client_addr) {
        socklen_t length = info->client_addr->sa_family == AF_INET6 ? sizeof (struct sockaddr_in6)
                                                                    : sizeof (struct sockaddr_in);
        getnameinfo (info->client_addr, length, request->client, sizeof request->client, NULL, 0,
                     NI_NUMERICHOST);
    }
}

//  Sends RESPONSE with the headers every response carries.
static enum MHD_Result s_send (struct MHD_Connection *connection, gw_response_t *response)
{
    struct MHD_Response *reply = MHD_create_response_from_buffer (
        response->size, response->body,
        response->body_static ? MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_FREE);
    if (!reply)
        return MHD_NO;
    response->body = NULL; //  libmicrohttpd owns it now
    if (response->content_type)
        MHD_add_response_header (reply, MHD_HTTP_HEADER_CONTENT_TYPE, response->content_type);
    MHD_add_response_header (reply, MHD_HTTP_HEADER_CACHE_CONTROL,
                             response->cache_control ? response->cache_control : "no-store");
    MHD_add_response_header (reply, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header (reply, "Referrer-Policy", "same-origin");
    if (response->content_type && strncmp (response->content_type, "text/html", 9) == 0) {
        MHD_add_response_header (reply, "Content-Security-Policy",
                                 "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                 "script-src 'self'; object-src 'none'; base-uri 'none'; "
                                 "frame-ancestors 'none'; form-action 'self'");
        MHD_add_response_header (reply, "X-Frame-Options", "DENY");
    }
    if (response->location[0])
        MHD_add_response_header (reply, MHD_HTTP_HEADER_LOCATION, response->location);
    if (response->set_cookie[0])
        MHD_add_response_header (reply, MHD_HTTP_HEADER_SET_COOKIE, response->set_cookie);
    if (response->allow[0])
        MHD_add_response_header (reply, MHD_HTTP_HEADER_ALLOW, response->allow);
    if (response->etag[0])
        MHD_add_response_header (reply, MHD_HTTP_HEADER_ETAG, response->etag);
    if (response->retry_after > 0) {
        char seconds[16];
        snprintf (seconds, sizeof seconds, "%d", response->retry_after);
        MHD_add_response_header (reply, MHD_HTTP_HEADER_RETRY_AFTER, seconds);
    }
    enum MHD_Result queued = MHD_queue_response (connection, (unsigned)response->status, reply);
    MHD_destroy_response (reply);
    return queued;
}

static const char *s_limit_name[] = {"none", "signin", "subscribe", "vote"};

//  Routes REQUEST and runs its handler, or answers the error that stops it.
//  Returns the route's index, or -1.
static int s_dispatch (gateway_t *gateway, gw_request_t *request, gw_response_t *response,
                       const pending_t *pending)
{
    size_t url_bytes = strlen (request->path);
    MHD_get_connection_values (request->connection, MHD_GET_ARGUMENT_KIND, s_count_argument,
                               &url_bytes);
    if (url_bytes > GW_URL_MAX) {
        gw_error (response, 414, "uri_too_long", "the URL is %zu bytes; at most %d", url_bytes,
                  GW_URL_MAX);
        return -1;
    }
    if (pending->body_too_large) {
        gw_error (response, 413, "too_large", "the body is over %d bytes", GW_BODY_MAX);
        return -1;
    }
    if (!pb_utf8_valid (request->path, strlen (request->path))) {
        gw_error (response, 400, "invalid_utf8", "the path is not valid UTF-8");
        return -1;
    }
    char param[GW_URL_MAX + 1];
    int index = gw_route_match (request->method, request->path, param, sizeof param,
                                response->allow, sizeof response->allow);
    if (index < 0) {
        if (response->allow[0])
            gw_error (response, 405, "method_not_allowed", "%s is not allowed here; allowed: %s",
                      request->method, response->allow);
        else
            gw_error (response, 404, "not_found", "nothing here: %s", request->path);
        return -1;
    }
    const gw_route_t *route = &gw_routes[index];
    request->param = param[0] ? param : NULL;
    if (route->limit != GW_LIMIT_NONE) {
        int wait_s = gw_limits_take (gateway->limits, route->limit, request->client);
        if (wait_s > 0) {
            gw_metrics_rate_limited (gateway->metrics, s_limit_name[route->limit]);
            gw_error (response, 429, "rate_limited", "too many %s requests from %s; retry in %d s",
                      s_limit_name[route->limit], request->client, wait_s);
            response->retry_after = wait_s;
            return index;
        }
    }
    route->handler (gateway, request, response);
    //  The parameter lives on this stack frame only.
    request->param = NULL;
    return index;
}

static enum MHD_Result s_access (void *cls, struct MHD_Connection *connection, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **state)
{
    (void)version;
    gateway_t *gateway = cls;
    pending_t *pending = *state;
    if (!pending) {
        pending = calloc (1, sizeof *pending);
        if (!pending)
            return MHD_NO;
        pending->started_us = s_now_us ();
        *state = pending;
        //  A body announced too large is refused before it is read.
        const char *length = MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                          MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (length && strtoull (length, NULL, 10) > GW_BODY_MAX)
            pending->body_too_large = true;
        else
            return MHD_YES;
    }
    if (*upload_data_size) {
        size_t size = *upload_data_size;
        *upload_data_size = 0;
        if (pending->body_too_large || pending->body_size + size > GW_BODY_MAX) {
            pending->body_too_large = true;
            free (pending->body);
            pending->body = NULL;
            return MHD_YES;
        }
        char *body = realloc (pending->body, pending->body_size + size + 1);
        if (!body)
            return MHD_NO;
        memcpy (body + pending->body_size, upload_data, size);
        pending->body = body;
        pending->body_size += size;
        body[pending->body_size] = '\0';
        return MHD_YES;
    }

    gw_request_t request = {.connection = connection,
                            .method = strcmp (method, "HEAD") == 0 ? "GET" : method,
                            .path = url,
                            .body = pending->body,
                            .body_size = pending->body_size};
    s_client_address (gateway, &request);
    if (!request.https)
        request.https = gateway->public_https;
    gw_response_t response = {.status = 500};
    int route = s_dispatch (gateway, &request, &response, pending);
    if (!response.body && !response.size && response.status == 500)
        gw_error (&response, 500, "internal", "the handler gave no answer");
    double seconds = (double)(s_now_us () - pending->started_us) / 1e6;
    gw_metrics_request (gateway->metrics, route, response.status, response.error_code, seconds);
    if (response.status >= 500)
        pb_warn ("%s %s from %s: %d %s (%.1f ms)", method, url, request.client, response.status,
                 response.error_code ? response.error_code : "", seconds * 1e3);
    else if (pb_log_enabled (PB_LOG_DEBUG))
        pb_log (PB_LOG_DEBUG, "%s %s from %s: %d (%.2f ms)", method, url, request.client,
                response.status, seconds * 1e3);
    enum MHD_Result sent = s_send (connection, &response);
    if (response.body && !response.body_static)
        free (response.body);
    return sent;
}

static void s_completed (void *cls, struct MHD_Connection *connection, void **state,
                         enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)connection;
    (void)code;
    pending_t *pending = *state;
    if (pending) {
        free (pending->body);
        free (pending);
        *state = NULL;
    }
}

static void s_log (void *cls, const char *format, va_list args)
{
    (void)cls;
    char line[512];
    vsnprintf (line, sizeof line, format, args);
    line[strcspn (line, "\n")] = '\0';
    pb_info ("libmicrohttpd: %s", line);
}

gw_server_t *gw_server_new (gateway_t *gateway, const char *address, int port, int threads,
                            char *error, size_t error_size)
{
    char service[16];
    snprintf (service, sizeof service, "%d", port);
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICHOST, .ai_socktype = SOCK_STREAM};
    struct addrinfo *found = NULL;
    int rc = getaddrinfo (address, service, &hints, &found);
    if (rc) {
        snprintf (error, error_size, "PAPERBUS_HTTP_ADDRESS=%s: %s", address, gai_strerror (rc));
        return NULL;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (found->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    gw_server_t *self = calloc (1, sizeof *self);
    self->gateway = gateway;
    self->daemon = MHD_start_daemon (
        flags, (uint16_t)port, NULL, NULL, s_access, gateway, MHD_OPTION_SOCK_ADDR, found->ai_addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)CONNECTION_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTIONS_MAX,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)CONNECTIONS_PER_IP,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY, MHD_OPTION_NOTIFY_COMPLETED,
        s_completed, NULL, MHD_OPTION_EXTERNAL_LOGGER, s_log, NULL, MHD_OPTION_END);
    freeaddrinfo (found);
    if (!self->daemon) {
        snprintf (error, error_size, "cannot listen on %s:%d (taken, or not an address here)",
                  address, port);
        free (self);
        return NULL;
    }
    return self;
}

void gw_server_destroy (gw_server_t **self_p)
{
    gw_server_t *self = *self_p;
    if (!self)
        return;
    MHD_stop_daemon (self->daemon);
    free (self);
    *self_p = NULL;
}
