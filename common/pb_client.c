/*  pb_client — requests over the bus, pipelined or with Lazy Pirate retries. */
#include "pb_client.h"
#include "pb_bus.h"
#include "pb_error.h"
#include "pb_log.h"
#include "pb_proto.h"

#include <stdlib.h>
#include <string.h>

struct _pb_client_t {
    pb_config_t *config; //  settings (not owned)
    zsock_t *socket;     //  DEALER to the bus
    uint64_t next_id;    //  id of the next request
    int64_t max_frame;   //  largest reply body accepted
};

pb_client_t *pb_client_new (pb_config_t *config)
{
    pb_client_t *self = calloc (1, sizeof *self);
    self->config = config;
    self->max_frame = pb_config_int (config, PB_CONF_MAX_FRAME);
    self->socket =
        pb_bus_socket (config, PB_BUS_DEALER, pb_config_str (config, PB_CONF_BUS_REQUESTS));
    if (!self->socket) {
        free (self);
        return NULL;
    }
    return self;
}

void pb_client_destroy (pb_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zsock_destroy (&(*self_p)->socket);
    free (*self_p);
    *self_p = NULL;
}

void pb_client_abandon (pb_client_t **self_p)
{
    if (self_p && *self_p)
        zsock_set_linger ((*self_p)->socket, 0);
    pb_client_destroy (self_p);
}

uint64_t pb_client_send (pb_client_t *self, const char *method, const void *body, size_t size)
{
    uint64_t id = ++self->next_id;
    uint8_t id_bytes[8];
    for (int i = 7, shift = 0; i >= 0; i--, shift += 8)
        id_bytes[i] = (uint8_t)(id >> shift);
    void *socket = zsock_resolve (self->socket);
    if (zmq_send (socket, PB_BUS_CLIENT_HEADER, 4, ZMQ_SNDMORE) < 0 ||
        zmq_send (socket, method, strlen (method), ZMQ_SNDMORE) < 0 ||
        zmq_send (socket, id_bytes, 8, ZMQ_SNDMORE) < 0 || zmq_send (socket, body, size, 0) < 0)
        return 0;
    return id;
}

//  Fills REPLY->error from an error_reply body.
static void s_describe_error (pb_client_t *self, pb_reply_t *reply)
{
    pb_error_reply_t error;
    pb_codec_error_t codec_error;
    pb_arena_t *arena = pb_arena_new ();
    if (reply->body &&
        pb_decode (zframe_data (reply->body), zframe_size (reply->body), (size_t)self->max_frame,
                   &pb_error_reply_schema, &error, arena, &codec_error) == 0)
        snprintf (reply->error, sizeof reply->error, "%d %.*s: %.*s", reply->status,
                  (int)error.name.len, error.name.ptr, (int)error.message.len, error.message.ptr);
    else
        snprintf (reply->error, sizeof reply->error, "%d %s: %s", reply->status,
                  pb_error_name (reply->status), pb_error_message (reply->status));
    pb_arena_destroy (&arena);
}

int pb_client_recv (pb_client_t *self, int timeout_ms, pb_reply_t *reply)
{
    pb_reply_reset (reply);
    int64_t deadline = zclock_mono () + timeout_ms;
    int rc = -1;
    while (rc != 0) {
        //  Poll only when nothing is queued: a pipelining client usually
        //  finds its next reply already there.
        if (!(zsock_events (self->socket) & ZMQ_POLLIN)) {
            int64_t left = deadline - zclock_mono ();
            zmq_pollitem_t item = {zsock_resolve (self->socket), 0, ZMQ_POLLIN, 0};
            if (left < 0 || zmq_poll (&item, 1, (long)left) <= 0)
                break;
        }
        //  [header] request_id status body
        zmq_msg_t parts[5];
        int count = 0;
        bool more = true;
        void *socket = zsock_resolve (self->socket);
        while (more) {
            zmq_msg_t *part = &parts[count < 4 ? count : 4];
            zmq_msg_init (part);
            if (zmq_msg_recv (part, socket, 0) < 0) {
                zmq_msg_close (part);
                break;
            }
            more = zmq_msg_more (part);
            if (count < 4)
                count++;
            else {
                zmq_msg_close (part);
                count = 5;
            }
        }
        if (count == 4 && zmq_msg_size (&parts[0]) == 4 &&
            memcmp (zmq_msg_data (&parts[0]), PB_BUS_CLIENT_HEADER, 4) == 0 &&
            zmq_msg_size (&parts[1]) == 8 && zmq_msg_size (&parts[2]) < 16) {
            const uint8_t *id = zmq_msg_data (&parts[1]);
            reply->request_id = 0;
            for (int i = 0; i < 8; i++)
                reply->request_id = (reply->request_id << 8) | id[i];
            char status[16];
            memcpy (status, zmq_msg_data (&parts[2]), zmq_msg_size (&parts[2]));
            status[zmq_msg_size (&parts[2])] = '\0';
            reply->status = atoi (status);
            reply->body = zframe_new (zmq_msg_data (&parts[3]), zmq_msg_size (&parts[3]));
            if (reply->status != PB_OK)
                s_describe_error (self, reply);
            rc = 0;
        } else
            pb_warn ("dropped a malformed reply from the bus");
        for (int i = 0; i < count && i < 4; i++)
            zmq_msg_close (&parts[i]);
    }
    return rc;
}

int pb_client_call (pb_client_t *self, const char *method, const void *body, size_t size,
                    int timeout_ms, int retries, pb_reply_t *reply)
{
    for (int attempt = 0; attempt <= retries; attempt++) {
        uint64_t id = pb_client_send (self, method, body, size);
        int64_t deadline = zclock_mono () + timeout_ms;
        while (id) {
            int64_t left = deadline - zclock_mono ();
            if (left < 0 || pb_client_recv (self, (int)left, reply))
                break;
            if (reply->request_id == id)
                return 0;
            //  A late reply to an earlier attempt: not ours any more.
            pb_reply_reset (reply);
        }
        if (zsys_interrupted)
            break;
        if (attempt < retries) {
            //  Lazy Pirate: a fresh socket drops whatever the old one queued.
            pb_warn ("no reply to %s within %d ms; reconnecting and retrying (%d of %d)", method,
                     timeout_ms, attempt + 1, retries);
            //  Linger 0: the old request must not be sent after all.
            zsock_set_linger (self->socket, 0);
            zsock_destroy (&self->socket);
            self->socket = pb_bus_socket (self->config, PB_BUS_DEALER,
                                          pb_config_str (self->config, PB_CONF_BUS_REQUESTS));
            if (!self->socket)
                break;
        }
    }
    pb_reply_reset (reply);
    reply->status = PB_E_TIMEOUT;
    snprintf (reply->error, sizeof reply->error,
              "%d timeout: no reply to %s from the bus within %d ms (%d attempts)", PB_E_TIMEOUT,
              method, timeout_ms, retries + 1);
    return -1;
}

void pb_reply_reset (pb_reply_t *reply)
{
    zframe_destroy (&reply->body);
    memset (reply, 0, sizeof *reply);
}
