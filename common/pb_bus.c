/*  pb_bus — socket creation, method names, event frames. */
#include "pb_bus.h"
#include "pb_error.h"
#include "pb_eventlog.h"
#include "pb_log.h"
#include "pb_proto.h"

#include <string.h>

#define WAIT_LOG_FIRST_GAP_MS 5000  //  from the first "waiting" line to the next
#define WAIT_LOG_MAX_GAP_MS   60000 //  longest silence in the log while waiting

static bool s_curve_enabled (const char *key)
{
    return key && strcmp (key, "off") != 0;
}

zsock_t *pb_bus_socket (pb_config_t *config, pb_bus_role_t role, const char *endpoint)
{
    static const int types[] = {
        [PB_BUS_ROUTER] = ZMQ_ROUTER, [PB_BUS_XSUB] = ZMQ_XSUB, [PB_BUS_XPUB] = ZMQ_XPUB,
        [PB_BUS_DEALER] = ZMQ_DEALER, [PB_BUS_PUB] = ZMQ_PUB,   [PB_BUS_SUB] = ZMQ_SUB};
    bool binds = role == PB_BUS_ROUTER || role == PB_BUS_XSUB || role == PB_BUS_XPUB;
    zsock_t *socket = zsock_new (types[role]);
    if (!socket)
        return NULL;
    zsock_set_linger (socket, (int)pb_config_int (config, PB_CONF_LINGER_MS));
    zsock_set_maxmsgsize (socket, pb_config_int (config, PB_CONF_MAX_FRAME));
    //  Events and pipelined requests come in bursts; let queues absorb them.
    zsock_set_sndhwm (socket, 100000);
    zsock_set_rcvhwm (socket, 100000);
    if (role == PB_BUS_ROUTER)
        zsock_set_router_mandatory (socket, 0);

    const char *secret = pb_config_str (config, PB_CONF_CURVE_SECRET_KEY);
    const char *server_public = pb_config_str (config, PB_CONF_CURVE_PUBLIC_KEY);
    if (binds && s_curve_enabled (secret)) {
        zsock_set_curve_server (socket, 1);
        zsock_set_curve_secretkey (socket, secret);
    } else if (!binds && s_curve_enabled (server_public)) {
        //  Each connection gets a fresh client key pair: the bus encrypts
        //  every connection; client authentication (zauth) is not switched on.
        zcert_t *cert = zcert_new ();
        zcert_apply (cert, socket);
        zcert_destroy (&cert);
        zsock_set_curve_serverkey (socket, server_public);
    }

    int rc = binds ? zsock_bind (socket, "%s", endpoint) : zsock_connect (socket, "%s", endpoint);
    if (rc < 0) {
        pb_error ("cannot %s %s: %s%s", binds ? "bind" : "connect to", endpoint,
                  zmq_strerror (zmq_errno ()),
                  binds && zmq_errno () == EADDRINUSE ? " (the port is taken; is a bus already "
                                                        "running?)"
                                                      : "");
        zsock_destroy (&socket);
        return NULL;
    }
    return socket;
}

bool pb_bus_service_valid (const char *name, size_t length)
{
    if (length == 0 || length > PB_BUS_SERVICE_MAX)
        return false;
    for (size_t i = 0; i < length; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

bool pb_bus_method_split (const char *method, size_t length, size_t *service_length)
{
    if (length > PB_BUS_METHOD_MAX)
        return false;
    const char *dot = memchr (method, '.', length);
    if (!dot || !pb_bus_service_valid (method, (size_t)(dot - method)))
        return false;
    size_t operation_length = length - (size_t)(dot - method) - 1;
    if (operation_length == 0 || operation_length > 63)
        return false;
    for (const char *c = dot + 1; c < method + length; c++)
        if (*c <= ' ' || *c > '~')
            return false;
    *service_length = (size_t)(dot - method);
    return true;
}

void pb_bus_pack_error (msgpack_packer *packer, int code, const char *message)
{
    pb_error_reply_t error = {0};
    error.code = code;
    error.name = pb_str (pb_error_name (code));
    error.message = pb_str (message);
    pb_encode (&pb_error_reply_schema, &error, packer);
}

size_t pb_bus_status_text (int status, char *text)
{
    if (status < 0 || status > 99999)
        status = 500;
    char digits[8];
    size_t count = 0;
    do {
        digits[count++] = (char)('0' + status % 10);
        status /= 10;
    } while (status);
    for (size_t i = 0; i < count; i++)
        text[i] = digits[count - 1 - i];
    text[count] = '\0';
    return count;
}

zframe_t *pb_bus_event_frame (const char *topic, int64_t seq, const void *body, size_t size)
{
    size_t topic_length = strlen (topic);
    zframe_t *frame = zframe_new (NULL, topic_length + 1 + 8 + size);
    if (!frame)
        return NULL;
    unsigned char *data = zframe_data (frame);
    memcpy (data, topic, topic_length);
    data[topic_length] = '\0';
    uint64_t bits = (uint64_t)seq;
    for (int i = 7; i >= 0; i--, bits >>= 8)
        data[topic_length + 1 + i] = (unsigned char)bits;
    if (size)
        memcpy (data + topic_length + 9, body, size);
    return frame;
}

int pb_bus_event_parse (const void *data, size_t size, char *topic_buffer, int64_t *seq,
                        const void **body, size_t *body_size)
{
    const unsigned char *bytes = data;
    size_t scan = size < PB_EVENT_TOPIC_MAX + 1 ? size : PB_EVENT_TOPIC_MAX + 1;
    const unsigned char *nul = memchr (bytes, '\0', scan);
    if (!nul || nul == bytes)
        return -1;
    size_t topic_length = (size_t)(nul - bytes);
    if (size - topic_length - 1 < 8)
        return -1;
    memcpy (topic_buffer, bytes, topic_length);
    topic_buffer[topic_length] = '\0';
    if (!pb_eventlog_topic_valid (topic_buffer))
        return -1;
    uint64_t bits = 0;
    for (int i = 0; i < 8; i++)
        bits = (bits << 8) | nul[1 + i];
    *seq = (int64_t)bits;
    *body = nul + 9;
    *body_size = size - topic_length - 9;
    return 0;
}

void pb_bus_wait_silent (pb_bus_wait_t *wait, const char *endpoint, int64_t silent_ms)
{
    int64_t now = zclock_mono ();
    if (!wait->since) {
        wait->since = now - silent_ms;
        wait->gap = WAIT_LOG_FIRST_GAP_MS;
        wait->next_log = now + wait->gap;
        pb_warn ("waiting for the bus at %s: no answer for %.1f s; reconnecting until it answers",
                 endpoint, (double)silent_ms / 1000);
        return;
    }
    if (now < wait->next_log)
        return;
    pb_warn ("still waiting for the bus at %s (%.0f s so far); is it running, and reachable "
             "at that address?",
             endpoint, (double)(now - wait->since) / 1000);
    wait->gap = wait->gap * 2 > WAIT_LOG_MAX_GAP_MS ? WAIT_LOG_MAX_GAP_MS : wait->gap * 2;
    wait->next_log = now + wait->gap;
}

void pb_bus_wait_over (pb_bus_wait_t *wait, const char *endpoint)
{
    if (!wait->since)
        return;
    pb_info ("reached the bus at %s after %.1f s", endpoint,
             (double)(zclock_mono () - wait->since) / 1000);
    wait->since = 0;
}
