/*  echo_worker — a worker for the bus tests. It serves SERVICE (argv[1],
    default "echo"):

      SERVICE.echo    replies with the request body unchanged
      SERVICE.pid     replies {"pid": its process id}
      SERVICE.sleep   sleeps for the request's {"ms": N}, then replies {"pid": ...}

    so a test can see which worker served a request, and hold a worker busy.
    The credit comes from PAPERBUS_WORKER_CREDIT or argv[2]. */
#include "paperbus.h"

#include <stdlib.h>
#include <unistd.h>

typedef struct {
    pb_present_t present;
    int64_t ms;
} sleep_request_t;

static const pb_field_t s_sleep_fields[] = {
    {"ms", PB_FIELD_INT, true, offsetof (sleep_request_t, ms), 0, 600000, 0, 0, 0, NULL, NULL},
};
static const pb_schema_t s_sleep_schema = {"sleep_request", s_sleep_fields, 1,
                                           sizeof (sleep_request_t), NULL};

static void s_reply_pid (pb_response_t *response)
{
    msgpack_pack_map (&response->packer, 1);
    msgpack_pack_str (&response->packer, 3);
    msgpack_pack_str_body (&response->packer, "pid", 3);
    msgpack_pack_int (&response->packer, (int)getpid ());
}

static int s_echo (const pb_request_t *request, pb_response_t *response, void *arg)
{
    (void)arg;
    msgpack_sbuffer_write (&response->body, request->body, request->size);
    return 0;
}

static int s_pid (const pb_request_t *request, pb_response_t *response, void *arg)
{
    (void)request;
    (void)arg;
    s_reply_pid (response);
    return 0;
}

static int s_sleep (const pb_request_t *request, pb_response_t *response, void *arg)
{
    (void)arg;
    sleep_request_t sleep_request;
    pb_codec_error_t error;
    pb_arena_t *arena = pb_arena_new ();
    int rc = pb_decode (request->body, request->size, 1 << 20, &s_sleep_schema, &sleep_request,
                        arena, &error);
    pb_arena_destroy (&arena);
    if (rc) {
        pb_response_error (response, error.code, "%s", error.message);
        return -1;
    }
    zclock_sleep ((int)sleep_request.ms);
    s_reply_pid (response);
    return 0;
}

int main (int argc, char **argv)
{
    pb_config_t *config = pb_service_start ("echo_worker");
    pb_worker_t *worker = pb_worker_new (config, argc > 1 ? argv[1] : "echo");
    if (argc > 2)
        pb_worker_set_credit (worker, atoi (argv[2]));
    pb_worker_handle (worker, "echo", s_echo, NULL);
    pb_worker_handle (worker, "pid", s_pid, NULL);
    pb_worker_handle (worker, "sleep", s_sleep, NULL);
    int rc = pb_worker_run (worker);
    pb_worker_destroy (&worker);
    pb_service_finish (&config);
    return rc == 0 ? 0 : 1;
}
