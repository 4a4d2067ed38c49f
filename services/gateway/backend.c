/*  backend — bus calls from the server's threads.

    ZeroMQ sockets belong to one thread, so each server thread opens its
    own bus connection the first time it needs one, and closes it when the
    thread ends. A call that gets no answer in time closes the connection
    too: a fresh one drops the request still queued for a bus that is
    down, so it is not delivered, stale, when the bus comes back.
*/
#include "gateway.h"

#include "metrics.h"
#include "pb_json.h"

#include <pthread.h>
#include <string.h>

static pthread_key_t s_client_key;
static pthread_once_t s_client_key_once = PTHREAD_ONCE_INIT;

static void s_client_destroy (void *client)
{
    pb_client_t *self = client;
    pb_client_destroy (&self);
}

static void s_client_key_make (void)
{
    pthread_key_create (&s_client_key, s_client_destroy);
}

static pb_client_t *s_client (gateway_t *gateway)
{
    pthread_once (&s_client_key_once, s_client_key_make);
    pb_client_t *client = pthread_getspecific (s_client_key);
    if (!client) {
        client = pb_client_new (gateway->config);
        pthread_setspecific (s_client_key, client);
    }
    return client;
}

static void s_client_drop (void)
{
    pb_client_t *client = pthread_getspecific (s_client_key);
    pthread_setspecific (s_client_key, NULL);
    pb_client_abandon (&client);
}

json_t *gw_call (gateway_t *gateway, const char *method, json_t *request, gw_response_t *response)
{
    char service[32];
    snprintf (service, sizeof service, "%.*s", (int)strcspn (method, "."), method);

    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &buffer, msgpack_sbuffer_write);
    pb_json_to_msgpack (request, &packer);
    json_decref (request);

    pb_client_t *client = s_client (gateway);
    pb_reply_t reply = {0};
    int rc = client ? pb_client_call (client, method, buffer.data, buffer.size, gateway->timeout_ms,
                                      0, &reply)
                    : -1;
    msgpack_sbuffer_destroy (&buffer);
    if (rc) {
        gw_metrics_bus_timeout (gateway->metrics, service);
        s_client_drop ();
        pb_reply_reset (&reply);
        gw_error (response, 503, "unavailable", "%s did not answer within %d ms", service,
                  gateway->timeout_ms);
        return NULL;
    }
    if (reply.status) {
        gw_error_from_reply (response, service, reply.status, reply.error);
        pb_reply_reset (&reply);
        return NULL;
    }
    char problem[256];
    size_t size = zframe_size (reply.body);
    json_t *json =
        pb_json_from_msgpack (zframe_data (reply.body), size, size, problem, sizeof problem);
    pb_reply_reset (&reply);
    if (!json)
        gw_error (response, 502, "internal", "%s answered something unreadable: %s", service,
                  problem);
    return json;
}
