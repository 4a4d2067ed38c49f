/*  Bus benchmark: requests and events through the paperbus bus, side by side
    in the same run with plain ZeroMQ doing the least it can:

    - requests (100-byte msgpack body, echoed): a DEALER talking straight to
      a ROUTER server ("direct"), through a plain zmq_proxy ROUTER/DEALER hop
      ("zmq_proxy"), and through the bus with pb_client and pb_worker ("bus");
      one request at a time (latency p50/p99, requests/s) and pipelined (100
      in flight, requests/s), with 1 and 4 workers;
    - events (100-byte body): raw PUB to SUB, and PUB to the bus to SUB; the
      subscriber parses every event and decodes its body.

    Every role runs in its own process over TCP on 127.0.0.1, as in a
    deployment: the benchmark re-executes itself with a role argument.
    Prints a markdown section. */
#include "paperbus.h"
#include "pbbench.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BODY_BYTES     100
#define SYNC_REQUESTS  5000
#define PIPE_REQUESTS  50000
#define PIPE_WINDOW    100
#define EVENTS         1000000
#define FRONT          "tcp://127.0.0.1:5601"
#define BACK           "tcp://127.0.0.1:5602"
#define BUS_REQUESTS   "tcp://127.0.0.1:5611"
#define BUS_EVENTS_IN  "tcp://127.0.0.1:5612"
#define BUS_EVENTS_OUT "tcp://127.0.0.1:5613"
#define RAW_EVENTS     "tcp://127.0.0.1:5621"

static char s_self[4096]; //  this program, re-executed for each role

/* ==== Roles (child processes) ==== */

//  A ROUTER (bound) or DEALER (connected) that sends back what it receives.
static int s_echo_server (int type, const char *endpoint)
{
    void *context = zmq_ctx_new ();
    void *socket = zmq_socket (context, type);
    int hwm = 0;
    zmq_setsockopt (socket, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (socket, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if ((type == ZMQ_ROUTER ? zmq_bind (socket, endpoint) : zmq_connect (socket, endpoint)) != 0)
        return 1;
    while (1) {
        zmq_msg_t message;
        zmq_msg_init (&message);
        if (zmq_msg_recv (&message, socket, 0) < 0)
            break;
        int more = zmq_msg_more (&message);
        zmq_msg_send (&message, socket, more ? ZMQ_SNDMORE : 0);
    }
    return 0;
}

static int s_proxy (void)
{
    void *context = zmq_ctx_new ();
    void *front = zmq_socket (context, ZMQ_ROUTER);
    void *back = zmq_socket (context, ZMQ_DEALER);
    int hwm = 0;
    zmq_setsockopt (front, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (back, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (zmq_bind (front, FRONT) || zmq_bind (back, BACK))
        return 1;
    zmq_proxy (front, back, NULL);
    return 0;
}

static int s_bench_echo (const pb_request_t *request, pb_response_t *response, void *arg)
{
    (void)arg;
    msgpack_sbuffer_write (&response->body, request->body, request->size);
    return 0;
}

static int s_bus_worker (void)
{
    pb_config_t *config = pb_service_start ("bench-worker");
    pb_worker_t *worker = pb_worker_new (config, "bench");
    pb_worker_set_credit (worker, PIPE_WINDOW);
    pb_worker_handle (worker, "echo", s_bench_echo, NULL);
    pb_worker_run (worker);
    pb_worker_destroy (&worker);
    pb_service_finish (&config);
    return 0;
}

//  Sends COUNT events of TOPIC with 100-byte bodies, as fast as it can.
static int s_publisher (const char *endpoint, bool bind, int count)
{
    void *context = zmq_ctx_new ();
    void *socket = zmq_socket (context, ZMQ_PUB);
    int hwm = 0;
    zmq_setsockopt (socket, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if ((bind ? zmq_bind (socket, endpoint) : zmq_connect (socket, endpoint)) != 0)
        return 1;
    zclock_sleep (1000); //  let the subscriber's subscription arrive
    unsigned char body[BODY_BYTES];
    memset (body, 'x', sizeof body);
    body[0] = 0x81; //  {"d": <str of 95 bytes>}
    body[1] = 0xa1;
    body[2] = 'd';
    body[3] = 0xd9;
    body[4] = BODY_BYTES - 5;
    for (int i = 1; i <= count; i++) {
        zframe_t *frame = pb_bus_event_frame ("bench.event", i, body, sizeof body);
        zmq_send (socket, zframe_data (frame), zframe_size (frame), 0);
        zframe_destroy (&frame);
    }
    zclock_sleep (5000); //  the subscriber stops us when it is done
    return 0;
}

/* ==== Processes ==== */

static pid_t s_spawn (char *const argv[], char *const environment[])
{
    pid_t pid = fork ();
    if (pid == 0) {
        for (int i = 0; environment && environment[i]; i++)
            putenv (environment[i]);
        execv (argv[0], argv);
        _exit (127);
    }
    return pid;
}

static pid_t s_role (const char *role, const char *argument)
{
    char *argv[] = {s_self, (char *)role, (char *)argument, NULL};
    return s_spawn (argv, NULL);
}

static char *s_bus_environment[] = {
    "PAPERBUS_BUS_REQUESTS=" BUS_REQUESTS,
    "PAPERBUS_BUS_EVENTS_IN=" BUS_EVENTS_IN,
    "PAPERBUS_BUS_EVENTS_OUT=" BUS_EVENTS_OUT,
    "PAPERBUS_LOG_LEVEL=error",
    NULL,
};

static pid_t s_start_bus (void)
{
    char program[4200];
    snprintf (program, sizeof program, "%s/bus", getenv ("PAPERBUS_BIN_DIR"));
    char *argv[] = {program, NULL};
    pid_t pid = s_spawn (argv, s_bus_environment);
    zclock_sleep (300);
    return pid;
}

static pid_t s_start_bus_worker (void)
{
    char *argv[] = {s_self, "bus-worker", NULL};
    return s_spawn (argv, s_bus_environment);
}

static void s_stop (pid_t *pids, int count)
{
    for (int i = 0; i < count; i++)
        if (pids[i] > 0) {
            kill (pids[i], SIGKILL);
            waitpid (pids[i], NULL, 0);
        }
}

/* ==== Request measurements ==== */

typedef struct {
    double p50_us, p99_us; //  one at a time
    double sync_rate;      //  requests/s one at a time
    double pipe_rate;      //  requests/s pipelined
} request_result_t;

static int s_compare (const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static unsigned char s_body[BODY_BYTES];

//  Plain ZeroMQ client: DEALER, body only, replies counted.
static void s_measure_plain (const char *endpoint, request_result_t *result)
{
    void *context = zmq_ctx_new ();
    void *socket = zmq_socket (context, ZMQ_DEALER);
    zmq_connect (socket, endpoint);
    char reply[256];
    //  Warm up: the first request also waits for the connection.
    zmq_send (socket, s_body, sizeof s_body, 0);
    zmq_recv (socket, reply, sizeof reply, 0);
    double *latencies = malloc (SYNC_REQUESTS * sizeof *latencies);
    int64_t start = pbbench_now_ns ();
    for (int i = 0; i < SYNC_REQUESTS; i++) {
        int64_t sent = pbbench_now_ns ();
        zmq_send (socket, s_body, sizeof s_body, 0);
        zmq_recv (socket, reply, sizeof reply, 0);
        latencies[i] = (double)(pbbench_now_ns () - sent) / 1000.0;
    }
    result->sync_rate = SYNC_REQUESTS / ((double)(pbbench_now_ns () - start) / 1e9);
    qsort (latencies, SYNC_REQUESTS, sizeof *latencies, s_compare);
    result->p50_us = latencies[SYNC_REQUESTS / 2];
    result->p99_us = latencies[SYNC_REQUESTS * 99 / 100];
    free (latencies);
    start = pbbench_now_ns ();
    int sent = 0, received = 0;
    while (received < PIPE_REQUESTS) {
        while (sent < PIPE_REQUESTS && sent - received < PIPE_WINDOW) {
            zmq_send (socket, s_body, sizeof s_body, 0);
            sent++;
        }
        zmq_recv (socket, reply, sizeof reply, 0);
        received++;
    }
    result->pipe_rate = PIPE_REQUESTS / ((double)(pbbench_now_ns () - start) / 1e9);
    zmq_close (socket);
    zmq_ctx_term (context);
}

static void s_measure_bus (request_result_t *result)
{
    for (char **assignment = s_bus_environment; *assignment; assignment++)
        putenv (*assignment);
    char error[512];
    pb_config_t *config = pb_config_load (error, sizeof error);
    pb_client_t *client = pb_client_new (config);
    pb_reply_t reply = {0};
    pb_client_call (client, "bench.echo", s_body, sizeof s_body, 5000, 3, &reply);
    double *latencies = malloc (SYNC_REQUESTS * sizeof *latencies);
    int64_t start = pbbench_now_ns ();
    for (int i = 0; i < SYNC_REQUESTS; i++) {
        int64_t sent = pbbench_now_ns ();
        pb_client_send (client, "bench.echo", s_body, sizeof s_body);
        pb_client_recv (client, 5000, &reply);
        latencies[i] = (double)(pbbench_now_ns () - sent) / 1000.0;
    }
    result->sync_rate = SYNC_REQUESTS / ((double)(pbbench_now_ns () - start) / 1e9);
    qsort (latencies, SYNC_REQUESTS, sizeof *latencies, s_compare);
    result->p50_us = latencies[SYNC_REQUESTS / 2];
    result->p99_us = latencies[SYNC_REQUESTS * 99 / 100];
    free (latencies);
    start = pbbench_now_ns ();
    int sent = 0, received = 0;
    while (received < PIPE_REQUESTS) {
        while (sent < PIPE_REQUESTS && sent - received < PIPE_WINDOW) {
            pb_client_send (client, "bench.echo", s_body, sizeof s_body);
            sent++;
        }
        if (pb_client_recv (client, 5000, &reply))
            break;
        received++;
    }
    result->pipe_rate = received / ((double)(pbbench_now_ns () - start) / 1e9);
    pb_reply_reset (&reply);
    pb_client_destroy (&client);
    pb_config_destroy (&config);
}

typedef enum { DIRECT, PROXY, BUS } path_t;

static void s_measure_path (path_t path, int workers, request_result_t *result)
{
    pid_t pids[8] = {0};
    int count = 0;
    if (path == DIRECT)
        pids[count++] = s_role ("direct-server", FRONT);
    else if (path == PROXY) {
        pids[count++] = s_role ("proxy", NULL);
        for (int w = 0; w < workers; w++)
            pids[count++] = s_role ("proxy-worker", BACK);
    } else {
        pids[count++] = s_start_bus ();
        for (int w = 0; w < workers; w++)
            pids[count++] = s_start_bus_worker ();
    }
    zclock_sleep (500);
    if (path == BUS)
        s_measure_bus (result);
    else
        s_measure_plain (FRONT, result);
    s_stop (pids, count);
}

/* ==== Event measurements ==== */

typedef struct {
    pb_present_t present;
    pb_str_t d;
} bench_event_t;

static const pb_field_t s_event_fields[] = {
    {"d", PB_FIELD_STR, true, offsetof (bench_event_t, d), 0, 0, 0, 1024, 0, NULL, NULL},
};
static const pb_schema_t s_event_schema = {"bench_event", s_event_fields, 1, sizeof (bench_event_t),
                                           NULL};

//  Subscribes at ENDPOINT, has COUNT events published, and returns events/s
//  received and decoded (counting from the first event to the last seen).
static double s_measure_events (bool through_bus, int64_t *delivered)
{
    pid_t pids[2] = {0};
    int count = 0;
    const char *subscribe_to = through_bus ? BUS_EVENTS_OUT : RAW_EVENTS;
    if (through_bus)
        pids[count++] = s_start_bus ();
    void *context = zmq_ctx_new ();
    void *socket = zmq_socket (context, ZMQ_SUB);
    int hwm = 0;
    zmq_setsockopt (socket, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt (socket, ZMQ_SUBSCRIBE, "bench.event", strlen ("bench.event") + 1);
    int timeout = 2000;
    zmq_setsockopt (socket, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    if (through_bus)
        zmq_connect (socket, subscribe_to);
    else
        zmq_connect (socket, RAW_EVENTS);
    char count_text[16];
    snprintf (count_text, sizeof count_text, "%d", EVENTS);
    char *argv[] = {s_self, through_bus ? "publisher-connect" : "publisher-bind",
                    through_bus ? BUS_EVENTS_IN : RAW_EVENTS, count_text, NULL};
    pids[count++] = s_spawn (argv, NULL);

    pb_arena_t *arena = pb_arena_new ();
    unsigned char buffer[512];
    int64_t received = 0, first = 0, last = 0;
    char topic[PB_EVENT_TOPIC_MAX + 1];
    while (received < EVENTS) {
        int size = zmq_recv (socket, buffer, sizeof buffer, 0);
        if (size < 0)
            break;
        int64_t seq;
        const void *body;
        size_t body_size;
        bench_event_t event;
        pb_codec_error_t error;
        if (pb_bus_event_parse (buffer, (size_t)size, topic, &seq, &body, &body_size) == 0 &&
            pb_decode (body, body_size, 1024, &s_event_schema, &event, arena, &error) == 0) {
            if (received == 0)
                first = pbbench_now_ns ();
            last = pbbench_now_ns ();
            received++;
        }
    }
    pb_arena_destroy (&arena);
    zmq_close (socket);
    zmq_ctx_term (context);
    s_stop (pids, count);
    *delivered = received;
    return received > 1 ? (double)(received - 1) / ((double)(last - first) / 1e9) : 0;
}

/* ==== Main ==== */

int main (int argc, char **argv)
{
    if (argc >= 2) {
        if (strcmp (argv[1], "direct-server") == 0)
            return s_echo_server (ZMQ_ROUTER, argv[2]);
        if (strcmp (argv[1], "proxy") == 0)
            return s_proxy ();
        if (strcmp (argv[1], "proxy-worker") == 0)
            return s_echo_server (ZMQ_DEALER, argv[2]);
        if (strcmp (argv[1], "bus-worker") == 0)
            return s_bus_worker ();
        if (strncmp (argv[1], "publisher-", 10) == 0 && argc == 4)
            return s_publisher (argv[2], strcmp (argv[1], "publisher-bind") == 0, atoi (argv[3]));
        return 2;
    }
    if (!getenv ("PAPERBUS_BIN_DIR")) {
        fprintf (stderr, "bench_bus: PAPERBUS_BIN_DIR is unset; run make bench\n");
        return 1;
    }
    ssize_t length = readlink ("/proc/self/exe", s_self, sizeof s_self - 1);
    if (length <= 0)
        return 1;
    s_self[length] = '\0';
    pb_log_init ("bench", PB_LOG_ERROR);
    memset (s_body, 'x', sizeof s_body);
    s_body[0] = 0x81;
    s_body[1] = 0xa1;
    s_body[2] = 'd';
    s_body[3] = 0xd9;
    s_body[4] = BODY_BYTES - 5;

    printf ("## Bus: requests\n\n");
    printf ("100-byte msgpack body echoed by the worker; client, bus (or proxy) and workers are "
            "separate processes over TCP on 127.0.0.1; median of %d runs. One at a time: %d "
            "requests, each sent after the previous reply. Pipelined: %d requests with %d in "
            "flight.\n\n",
            PBBENCH_RUNS, SYNC_REQUESTS, PIPE_REQUESTS, PIPE_WINDOW);
    printf ("| path | workers | p50 µs | p99 µs | one at a time req/s | pipelined req/s | p50 vs "
            "zmq_proxy |\n|---|---:|---:|---:|---:|---:|---:|\n");
    const char *names[] = {"direct DEALER→ROUTER", "zmq_proxy hop", "paperbus bus"};
    for (int workers = 1; workers <= 4; workers += 3) {
        request_result_t runs[3][PBBENCH_RUNS];
        for (int run = 0; run < PBBENCH_RUNS; run++)
            for (int path = DIRECT; path <= BUS; path++) {
                if (path == DIRECT && workers > 1)
                    continue;
                s_measure_path ((path_t)path, workers, &runs[path][run]);
            }
        double proxy_p50 = 0;
        for (int path = DIRECT; path <= BUS; path++) {
            if (path == DIRECT && workers > 1)
                continue;
            double p50[PBBENCH_RUNS], p99[PBBENCH_RUNS], sync[PBBENCH_RUNS], pipe[PBBENCH_RUNS];
            for (int run = 0; run < PBBENCH_RUNS; run++) {
                p50[run] = runs[path][run].p50_us;
                p99[run] = runs[path][run].p99_us;
                sync[run] = runs[path][run].sync_rate;
                pipe[run] = runs[path][run].pipe_rate;
            }
            double median_p50 = pbbench_median (p50, PBBENCH_RUNS);
            if (path == PROXY)
                proxy_p50 = median_p50;
            char ratio[16] = "";
            if (path != DIRECT)
                snprintf (ratio, sizeof ratio, "%.2f", median_p50 / proxy_p50);
            printf ("| %s | %d | %.0f | %.0f | %.0f | %.0f | %s |\n", names[path],
                    path == DIRECT ? 1 : workers, median_p50, pbbench_median (p99, PBBENCH_RUNS),
                    pbbench_median (sync, PBBENCH_RUNS), pbbench_median (pipe, PBBENCH_RUNS),
                    ratio);
            fflush (stdout);
        }
    }

    printf ("\n## Bus: events\n\n");
    printf ("%d events of %d-byte bodies from one publisher process to one subscriber, which "
            "parses each event frame and decodes its body; events/s from the first to the last "
            "received; median of %d runs.\n\n",
            EVENTS, BODY_BYTES, PBBENCH_RUNS);
    printf ("| path | events/s delivered and decoded | delivered of %d | vs raw |\n"
            "|---|---:|---:|---:|\n",
            EVENTS);
    double rates[2][PBBENCH_RUNS];
    int64_t delivered[2][PBBENCH_RUNS];
    double delivered_as_double[PBBENCH_RUNS];
    for (int run = 0; run < PBBENCH_RUNS; run++)
        for (int bus = 0; bus <= 1; bus++)
            rates[bus][run] = s_measure_events (bus, &delivered[bus][run]);
    double raw_rate = 0;
    for (int bus = 0; bus <= 1; bus++) {
        for (int run = 0; run < PBBENCH_RUNS; run++)
            delivered_as_double[run] = (double)delivered[bus][run];
        double rate = pbbench_median (rates[bus], PBBENCH_RUNS);
        if (!bus)
            raw_rate = rate;
        printf ("| %s | %.0f | %.0f | %.2f |\n", bus ? "PUB → bus → SUB" : "raw PUB → SUB", rate,
                pbbench_median (delivered_as_double, PBBENCH_RUNS), rate / raw_rate);
    }
    printf ("\n");
    return 0;
}
