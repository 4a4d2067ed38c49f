/*  The bus, as real processes over TCP on 127.0.0.1: each test starts its own
    bus (tests/run.sh builds it) on free ports, echo_worker processes, and
    talks to them with the client, worker and subscriber helpers. */
#include "pbtest.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#define HEARTBEAT_MS 200
#define WAIT_MS      400

//  A msgpack literal and its length, for request bodies.
#define BODY(literal) literal, sizeof literal - 1

static void s_setup (void)
{
    pb_log_init ("test", PB_LOG_ERROR);
    pbtest_bus_environment (HEARTBEAT_MS, WAIT_MS);
}

TestSuite (bus, .init = s_setup, .timeout = 60);

//  Decodes {"pid": N} from a reply.
static int64_t s_reply_pid (pb_reply_t *reply)
{
    const unsigned char *data = zframe_data (reply->body);
    size_t size = zframe_size (reply->body);
    //  81 a3 'p' 'i' 'd' <int>
    cr_assert (size >= 6 && data[0] == 0x81 && memcmp (data + 2, "pid", 3) == 0, "not a pid reply");
    const unsigned char *value = data + 5;
    if (*value <= 0x7f)
        return *value;
    int64_t pid = 0;
    int bytes = *value == 0xcd ? 2 : *value == 0xce ? 4 : *value == 0xd1 ? 2 : 4;
    for (int i = 1; i <= bytes; i++)
        pid = (pid << 8) | value[i];
    return pid;
}

Test (bus, requests_spread_over_three_workers)
{
    pid_t bus = pbtest_bus_start ();
    pid_t workers[3];
    for (int i = 0; i < 3; i++)
        workers[i] = pbtest_worker_start ("echo", 1);
    pbtest_wait_for_workers ("echo", 3);
    pb_config_t *config = pbtest_config ();
    pb_client_t *client = pb_client_new (config);
    //  Nine requests at once, each holding its worker for 100 ms: with one
    //  request per worker at a time, all three must take a share.
    for (int i = 0; i < 9; i++)
        cr_assert (pb_client_send (client, "echo.sleep", BODY ("\x81\xa2ms\x64")));
    int served[3] = {0};
    for (int i = 0; i < 9; i++) {
        pb_reply_t reply = {0};
        cr_assert_eq (pb_client_recv (client, 5000, &reply), 0, "reply %d missing", i);
        cr_assert_eq (reply.status, 0, "%s", reply.error);
        int64_t pid = s_reply_pid (&reply);
        for (int w = 0; w < 3; w++)
            served[w] += pid == workers[w];
        pb_reply_reset (&reply);
    }
    for (int w = 0; w < 3; w++)
        cr_assert_eq (served[w], 3, "worker %d served %d of 9", w, served[w]);
    pb_client_destroy (&client);
    pb_config_destroy (&config);
    for (int i = 0; i < 3; i++)
        kill (workers[i], SIGKILL);
    kill (bus, SIGKILL);
}

Test (bus, pipelined_requests_all_come_back_with_their_ids)
{
    pid_t bus = pbtest_bus_start ();
    pid_t worker = pbtest_worker_start ("echo", 16);
    pbtest_wait_for_workers ("echo", 1);
    pb_config_t *config = pbtest_config ();
    pb_client_t *client = pb_client_new (config);
    enum { REQUESTS = 2000 };
    char *seen = calloc (REQUESTS + 1, 1);
    for (int i = 0; i < REQUESTS; i++) {
        //  msgpack: the request's number, echoed back as the body.
        unsigned char body[3] = {0xcd, (unsigned char)(i >> 8), (unsigned char)i};
        cr_assert_eq (pb_client_send (client, "echo.echo", body, 3), (uint64_t)i + 1);
    }
    for (int i = 0; i < REQUESTS; i++) {
        pb_reply_t reply = {0};
        cr_assert_eq (pb_client_recv (client, 5000, &reply), 0, "only %d replies", i);
        cr_assert_eq (reply.status, 0, "%s", reply.error);
        const unsigned char *body = zframe_data (reply.body);
        int echoed = body[1] << 8 | body[2];
        cr_assert_eq ((uint64_t)echoed + 1, reply.request_id, "reply mixed up");
        cr_assert_not (seen[reply.request_id], "reply %llu twice",
                       (unsigned long long)reply.request_id);
        seen[reply.request_id] = 1;
        pb_reply_reset (&reply);
    }
    free (seen);
    pb_client_destroy (&client);
    pb_config_destroy (&config);
    kill (worker, SIGKILL);
    kill (bus, SIGKILL);
}

Test (bus, service_never_registered_answers_unknown_service_in_bounded_time)
{
    pid_t bus = pbtest_bus_start ();
    pb_config_t *config = pbtest_config ();
    pb_client_t *client = pb_client_new (config);
    pb_reply_t reply = {0};
    int64_t start = zclock_mono ();
    cr_assert_eq (pb_client_call (client, "index.search", BODY ("\x80"), 5000, 0, &reply), 0);
    cr_assert_eq (reply.status, PB_E_UNKNOWN_SERVICE, "%s", reply.error);
    cr_assert (strstr (reply.error, "unknown_service") && strstr (reply.error, "'index'"), "%s",
               reply.error);
    cr_assert_lt (zclock_mono () - start, WAIT_MS + 1000);
    pb_reply_reset (&reply);
    pb_client_destroy (&client);
    pb_config_destroy (&config);
    kill (bus, SIGKILL);
}

Test (bus, service_whose_workers_are_gone_answers_no_worker_in_bounded_time)
{
    pid_t bus = pbtest_bus_start ();
    pid_t worker = pbtest_worker_start ("echo", 1);
    pbtest_wait_for_workers ("echo", 1);
    kill (worker, SIGKILL);
    pbtest_wait_for_workers ("echo", 0);
    pb_config_t *config = pbtest_config ();
    pb_client_t *client = pb_client_new (config);
    pb_reply_t reply = {0};
    int64_t start = zclock_mono ();
    cr_assert_eq (pb_client_call (client, "echo.pid", BODY ("\x80"), 5000, 0, &reply), 0);
    cr_assert_eq (reply.status, PB_E_NO_WORKER, "%s", reply.error);
    cr_assert (strstr (reply.error, "no_worker") && strstr (reply.error, "'echo'"), "%s",
               reply.error);
    cr_assert_lt (zclock_mono () - start, WAIT_MS + 1000);
    pb_reply_reset (&reply);
    pb_client_destroy (&client);
    pb_config_destroy (&config);
    kill (bus, SIGKILL);
}

Test (bus, bad_method_and_unknown_operation_get_named_errors)
{
    pid_t bus = pbtest_bus_start ();
    pid_t worker = pbtest_worker_start ("echo", 1);
    pbtest_wait_for_workers ("echo", 1);
    pb_config_t *config = pbtest_config ();
    pb_client_t *client = pb_client_new (config);
    pb_reply_t reply = {0};
    cr_assert_eq (pb_client_call (client, "nodot", BODY ("\x80"), 2000, 0, &reply), 0);
    cr_assert_eq (reply.status, PB_E_INVALID, "%s", reply.error);
    cr_assert (strstr (reply.error, "'nodot' is not a method"), "%s", reply.error);
    cr_assert_eq (pb_client_call (client, "echo.fly", BODY ("\x80"), 2000, 0, &reply), 0);
    cr_assert_eq (reply.status, PB_E_UNKNOWN_COMMAND, "%s", reply.error);
    cr_assert (strstr (reply.error, "no operation 'fly'"), "%s", reply.error);
    cr_assert_eq (pb_client_call (client, "echo.sleep", BODY ("\x81\xa2ms\xa1x"), 2000, 0, &reply),
                  0);
    cr_assert_eq (reply.status, PB_E_WRONG_TYPE, "%s", reply.error);
    cr_assert (strstr (reply.error, "ms: expected int, got str"), "%s", reply.error);
    pb_reply_reset (&reply);
    pb_client_destroy (&client);
    pb_config_destroy (&config);
    kill (worker, SIGKILL);
    kill (bus, SIGKILL);
}

Test (bus, worker_killed_mid_request_gives_worker_died_and_others_keep_serving)
{
    pid_t bus = pbtest_bus_start ();
    pid_t doomed = pbtest_worker_start ("echo", 1);
    pbtest_wait_for_workers ("echo", 1);
    pb_config_t *config = pbtest_config ();
    pb_client_t *client = pb_client_new (config);
    cr_assert (pb_client_send (client, "echo.sleep", BODY ("\x81\xa2ms\xcd\x27\x10"))); //  10 s
    zclock_sleep (300);
    pid_t survivor = pbtest_worker_start ("echo", 1);
    pbtest_wait_for_workers ("echo", 2);
    int64_t killed_at = zclock_mono ();
    kill (doomed, SIGKILL);
    pb_reply_t reply = {0};
    cr_assert_eq (pb_client_recv (client, 5000, &reply), 0, "no reply after the worker died");
    cr_assert_eq (reply.status, PB_E_WORKER_DIED, "%s", reply.error);
    //  Within the heartbeat expiry (3 intervals), with slack for a loaded machine.
    cr_assert_lt (zclock_mono () - killed_at, HEARTBEAT_MS * (PB_BUS_LIVENESS + 4));
    cr_assert_eq (pb_client_call (client, "echo.pid", BODY ("\x80"), 2000, 0, &reply), 0);
    cr_assert_eq (reply.status, 0, "%s", reply.error);
    cr_assert_eq (s_reply_pid (&reply), survivor);
    pb_reply_reset (&reply);
    pb_client_destroy (&client);
    pb_config_destroy (&config);
    kill (survivor, SIGKILL);
    kill (bus, SIGKILL);
}

Test (bus, worker_stopped_with_sigterm_answers_what_it_holds_then_exits_0)
{
    pid_t bus = pbtest_bus_start ();
    pid_t worker = pbtest_worker_start ("echo", 4);
    pbtest_wait_for_workers ("echo", 1);
    pb_config_t *config = pbtest_config ();
    pb_client_t *client = pb_client_new (config);
    for (int i = 0; i < 4; i++)
        cr_assert (pb_client_send (client, "echo.sleep", BODY ("\x81\xa2ms\xcc\xc8"))); //  200 ms
    zclock_sleep (100);
    kill (worker, SIGTERM);
    for (int i = 0; i < 4; i++) {
        pb_reply_t reply = {0};
        cr_assert_eq (pb_client_recv (client, 5000, &reply), 0, "reply %d missing", i);
        cr_assert_eq (reply.status, 0, "request %d: %s", i, reply.error);
        pb_reply_reset (&reply);
    }
    cr_assert_eq (pbtest_wait (worker, 5000), 0, "the worker did not exit 0");
    pbtest_wait_for_workers ("echo", 0);
    pb_client_destroy (&client);
    pb_config_destroy (&config);
    kill (bus, SIGKILL);
}

Test (bus, bus_stopped_with_sigterm_exits_0)
{
    pid_t bus = pbtest_bus_start ();
    kill (bus, SIGTERM);
    cr_assert_eq (pbtest_wait (bus, 5000), 0);
}

/* ==== Garbage ==== */

static void s_raw_tcp_garbage (const char *endpoint, unsigned int *seed)
{
    int port = atoi (strrchr (endpoint, ':') + 1);
    for (int connection = 0; connection < 20; connection++) {
        int fd = socket (AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons ((uint16_t)port)};
        address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
        if (connect (fd, (struct sockaddr *)&address, sizeof address) == 0) {
            unsigned char junk[512];
            for (size_t i = 0; i < sizeof junk; i++)
                junk[i] = (unsigned char)rand_r (seed);
            ssize_t sent = send (fd, junk, sizeof junk, MSG_NOSIGNAL);
            (void)sent;
        }
        close (fd);
    }
}

Test (bus, ten_thousand_garbage_messages_on_every_port_leave_it_serving)
{
    pid_t bus = pbtest_bus_start ();
    pid_t worker = pbtest_worker_start ("echo", 4);
    pbtest_wait_for_workers ("echo", 1);
    pb_config_t *config = pbtest_config ();
    unsigned int seed = 42;

    //  Requests port: well-formed ZeroMQ, garbage content of every shape.
    zsock_t *dealer = zsock_new_dealer (pb_config_str (config, PB_CONF_BUS_REQUESTS));
    //  Events-in port: a publisher sending malformed events.
    zsock_t *pub = zsock_new_pub (NULL);
    zsock_connect (pub, "%s", pb_config_str (config, PB_CONF_BUS_EVENTS_IN));
    //  Events-out port: garbage subscriptions.
    zsock_t *xsub = zsock_new (ZMQ_XSUB);
    zsock_connect (xsub, "%s", pb_config_str (config, PB_CONF_BUS_EVENTS_OUT));
    zclock_sleep (200);
    for (int i = 0; i < 10000; i++) {
        zmsg_t *message = zmsg_new ();
        int frames = 1 + rand_r (&seed) % 12;
        for (int f = 0; f < frames; f++) {
            unsigned char junk[64];
            size_t size = (size_t)(rand_r (&seed) % 64);
            for (size_t b = 0; b < size; b++)
                junk[b] = (unsigned char)rand_r (&seed);
            //  Some messages start with a real header to reach deeper code.
            if (f == 0 && i % 3 == 0)
                zmsg_addstr (message, i % 2 ? PB_BUS_WORKER_HEADER : PB_BUS_CLIENT_HEADER);
            else
                zmsg_addmem (message, junk, size);
        }
        zmsg_send (&message, dealer);
        unsigned char event[40];
        for (size_t b = 0; b < sizeof event; b++)
            event[b] = (unsigned char)rand_r (&seed);
        zsock_send (pub, "b", event, (size_t)(rand_r (&seed) % 40));
        zsock_send (xsub, "b", event, (size_t)(rand_r (&seed) % 40));
    }
    s_raw_tcp_garbage (pb_config_str (config, PB_CONF_BUS_REQUESTS), &seed);
    s_raw_tcp_garbage (pb_config_str (config, PB_CONF_BUS_EVENTS_IN), &seed);
    s_raw_tcp_garbage (pb_config_str (config, PB_CONF_BUS_EVENTS_OUT), &seed);

    //  Still alive, still serving, and it counted what it dropped.
    pb_client_t *client = pb_client_new (config);
    pb_reply_t reply = {0};
    cr_assert_eq (pb_client_call (client, "echo.echo", BODY ("\xa2ok"), 5000, 2, &reply), 0, "%s",
                  reply.error);
    cr_assert_eq (reply.status, 0, "%s", reply.error);
    //  The garbage from other connections may still be queued at the bus:
    //  poll its counters until it has gone through (at least the two thirds
    //  without a valid header must be dropped, or answered with an error).
    pb_arena_t *arena = pb_arena_new ();
    pb_status_reply_t status = {0};
    for (int attempt = 0; attempt < 50; attempt++) {
        pb_reply_reset (&reply);
        pb_arena_reset (arena);
        cr_assert_eq (pb_client_call (client, "bus.status", BODY ("\x80"), 5000, 0, &reply), 0);
        pb_codec_error_t error;
        cr_assert_eq (pb_decode (zframe_data (reply.body), zframe_size (reply.body), 1 << 24,
                                 &pb_status_reply_schema, &status, arena, &error),
                      0, "%s", error.message);
        if (status.counters.dropped_frames + status.counters.errors > 6000 &&
            status.counters.dropped_events > 6000)
            break;
        zclock_sleep (100);
    }
    cr_assert_gt (status.counters.dropped_frames + status.counters.errors, 6000,
                  "only %lld dropped", (long long)status.counters.dropped_frames);
    cr_assert_gt (status.counters.dropped_events, 6000);
    pb_arena_destroy (&arena);
    pb_reply_reset (&reply);
    cr_assert_eq (kill (bus, 0), 0, "the bus died");
    pb_client_destroy (&client);
    zsock_destroy (&dealer);
    zsock_destroy (&pub);
    zsock_destroy (&xsub);
    pb_config_destroy (&config);
    kill (worker, SIGKILL);
    kill (bus, SIGKILL);
}

/* ==== Events ==== */

typedef struct {
    int64_t seqs[64];   //  seqs delivered, in order
    char bodies[64][8]; //  their bodies
    int count;          //  how many
} delivered_t;

static int s_collect (const pb_event_t *event, void *arg)
{
    delivered_t *delivered = arg;
    if (delivered->count < 64) {
        delivered->seqs[delivered->count] = event->seq;
        snprintf (delivered->bodies[delivered->count], 8, "%.*s", (int)event->size,
                  (const char *)event->payload);
    }
    delivered->count++;
    return 0;
}

typedef struct {
    const char *body; //  payload to append
    int64_t seq;      //  what the log gave it
} append_t;

static int s_append (pb_db_t *db, void *arg)
{
    append_t *append = arg;
    append->seq = pb_eventlog_append (db, "test.topic", append->body, strlen (append->body));
    return append->seq < 0 ? -1 : 0;
}

static int s_stop_loop (zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    (void)arg;
    return -1;
}

//  Runs LOOP until DELIVERED has COUNT events or TIMEOUT_MS passes.
static void s_wait_delivered (zloop_t *loop, delivered_t *delivered, int count, int timeout_ms)
{
    int64_t until = zclock_mono () + timeout_ms;
    while (delivered->count < count && zclock_mono () < until) {
        zloop_timer (loop, 20, 1, s_stop_loop, NULL);
        zloop_start (loop);
    }
}

Test (bus, subscriber_fills_a_gap_from_the_log_exactly_once)
{
    char *url = pbtest_database_new (true);
    pb_db_t *db = pbtest_connect (url);
    pid_t bus = pbtest_bus_start ();
    pb_config_t *config = pbtest_config ();
    pb_publisher_t *publisher = pb_publisher_new (config);
    pb_subscriber_t *subscriber = pb_subscriber_new (config, db);
    zloop_t *loop = zloop_new ();
    delivered_t delivered = {0};
    pb_subscriber_follow (subscriber, "test.topic", 0, s_collect, &delivered);
    pb_subscriber_attach (subscriber, loop);
    s_wait_delivered (loop, &delivered, 1, 500); //  let the subscription reach the bus

    //  Five events committed; only the first and the last are published,
    //  and the third is published twice, late.
    const char *bodies[] = {"one", "two", "three", "four", "five"};
    int64_t seqs[5];
    for (int i = 0; i < 5; i++) {
        append_t append = {bodies[i], 0};
        cr_assert_eq (pb_db_transaction (db, s_append, &append), 0);
        seqs[i] = append.seq;
    }
    pb_publisher_send (publisher, "test.topic", seqs[0], BODY ("one"));
    pb_publisher_send (publisher, "test.topic", seqs[4], BODY ("five"));
    s_wait_delivered (loop, &delivered, 5, 3000);
    pb_publisher_send (publisher, "test.topic", seqs[2], BODY ("three"));
    s_wait_delivered (loop, &delivered, 6, 500);

    cr_assert_eq (delivered.count, 5, "delivered %d events", delivered.count);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq (delivered.seqs[i], i + 1);
        cr_assert_str_eq (delivered.bodies[i], bodies[i]);
    }
    cr_assert_eq (pb_subscriber_replayed (subscriber), 3, "two, three, four come from the log");
    cr_assert_eq (pb_subscriber_position (subscriber, "test.topic"), 5);
    pb_subscriber_destroy (&subscriber);
    zloop_destroy (&loop);
    pb_publisher_destroy (&publisher);
    pb_config_destroy (&config);
    pb_db_destroy (&db);
    free (url);
    kill (bus, SIGKILL);
}

Test (bus, bus_killed_and_restarted_workers_and_subscribers_carry_on, .timeout = 90)
{
    char *url = pbtest_database_new (true);
    pb_db_t *db = pbtest_connect (url);
    pid_t bus = pbtest_bus_start ();
    pid_t worker = pbtest_worker_start ("echo", 1);
    pbtest_wait_for_workers ("echo", 1);
    pb_config_t *config = pbtest_config ();
    pb_publisher_t *publisher = pb_publisher_new (config);
    pb_subscriber_t *subscriber = pb_subscriber_new (config, db);
    zloop_t *loop = zloop_new ();
    delivered_t delivered = {0};
    pb_subscriber_follow (subscriber, "test.topic", 0, s_collect, &delivered);
    pb_subscriber_attach (subscriber, loop);
    s_wait_delivered (loop, &delivered, 1, 500);

    append_t first = {"before", 0};
    cr_assert_eq (pb_db_transaction (db, s_append, &first), 0);
    pb_publisher_send (publisher, "test.topic", first.seq, BODY ("before"));
    s_wait_delivered (loop, &delivered, 1, 3000);
    cr_assert_eq (delivered.count, 1);

    kill (bus, SIGKILL);
    pbtest_wait (bus, 2000);
    //  While the bus is down: one event committed, its publication lost.
    append_t lost = {"lost", 0};
    cr_assert_eq (pb_db_transaction (db, s_append, &lost), 0);
    pb_publisher_send (publisher, "test.topic", lost.seq, BODY ("lost"));
    s_wait_delivered (loop, &delivered, 2, HEARTBEAT_MS * 4);

    bus = pbtest_bus_start ();
    //  Nobody was restarted: the worker registers again by itself...
    pbtest_wait_for_workers ("echo", 1);
    pb_client_t *client = pb_client_new (config);
    pb_reply_t reply = {0};
    cr_assert_eq (pb_client_call (client, "echo.pid", BODY ("\x80"), 1000, 5, &reply), 0, "%s",
                  reply.error);
    cr_assert_eq (reply.status, 0, "%s", reply.error);
    cr_assert_eq (s_reply_pid (&reply), worker);
    //  ...and events flow again, live, from the same publisher object.
    append_t after = {"after", 0};
    cr_assert_eq (pb_db_transaction (db, s_append, &after), 0);
    int64_t deadline = zclock_mono () + 10000;
    int live_before = delivered.count;
    while (delivered.count < 3 && zclock_mono () < deadline) {
        pb_publisher_send (publisher, "test.topic", after.seq, BODY ("after"));
        s_wait_delivered (loop, &delivered, 3, 200);
    }
    cr_assert_eq (delivered.count, 3, "delivered %d (had %d before)", delivered.count, live_before);
    cr_assert_str_eq (delivered.bodies[1], "lost");
    cr_assert_str_eq (delivered.bodies[2], "after");
    //  Now a publication must arrive through the restarted bus by itself.
    append_t live = {"live", 0};
    cr_assert_eq (pb_db_transaction (db, s_append, &live), 0);
    int64_t replayed = pb_subscriber_replayed (subscriber);
    pb_publisher_send (publisher, "test.topic", live.seq, BODY ("live"));
    s_wait_delivered (loop, &delivered, 4, 2000);
    cr_assert_eq (delivered.count, 4);
    cr_assert_eq (pb_subscriber_replayed (subscriber), replayed,
                  "the last event came from the log, not the restarted bus");

    pb_reply_reset (&reply);
    pb_client_destroy (&client);
    pb_subscriber_destroy (&subscriber);
    zloop_destroy (&loop);
    pb_publisher_destroy (&publisher);
    pb_config_destroy (&config);
    pb_db_destroy (&db);
    free (url);
    kill (worker, SIGKILL);
    kill (bus, SIGKILL);
}

Test (bus, curve_encrypts_every_connection_and_refuses_plain_ones)
{
    char public_key[41], secret_key[41];
    cr_assert_eq (zmq_curve_keypair (public_key, secret_key), 0);
    setenv ("PAPERBUS_CURVE_SECRET_KEY", secret_key, 1);
    setenv ("PAPERBUS_CURVE_PUBLIC_KEY", public_key, 1);
    pid_t bus = pbtest_bus_start ();
    pid_t worker = pbtest_worker_start ("echo", 1);
    pbtest_wait_for_workers ("echo", 1);
    pb_config_t *config = pbtest_config ();
    pb_client_t *client = pb_client_new (config);
    pb_reply_t reply = {0};
    cr_assert_eq (pb_client_call (client, "echo.echo", BODY ("\xa6secret"), 3000, 0, &reply), 0,
                  "%s", reply.error);
    cr_assert_eq (reply.status, 0, "%s", reply.error);
    pb_client_destroy (&client);
    pb_config_destroy (&config);

    //  A client that does not speak CURVE gets no answer at all.
    setenv ("PAPERBUS_CURVE_PUBLIC_KEY", "off", 1);
    config = pbtest_config ();
    client = pb_client_new (config);
    cr_assert_eq (pb_client_call (client, "echo.echo", BODY ("\xa5plain"), 500, 0, &reply), -1);
    cr_assert_eq (reply.status, PB_E_TIMEOUT);
    pb_reply_reset (&reply);
    pb_client_destroy (&client);
    pb_config_destroy (&config);
    kill (worker, SIGKILL);
    kill (bus, SIGKILL);
}

Test (bus, oversized_message_is_refused_and_the_bus_serves_on)
{
    setenv ("PAPERBUS_MAX_FRAME", "65536", 1);
    pid_t bus = pbtest_bus_start ();
    pid_t worker = pbtest_worker_start ("echo", 1);
    pbtest_wait_for_workers ("echo", 1);
    pb_config_t *config = pbtest_config ();
    //  A client socket without the limit, sending 1 MB to a bus that takes 64 KB.
    zsock_t *big = zsock_new_dealer (pb_config_str (config, PB_CONF_BUS_REQUESTS));
    size_t size = 1 << 20;
    char *huge = calloc (1, size);
    zsock_send (big, "ssbb", PB_BUS_CLIENT_HEADER, "echo.echo", "\x00\x00\x00\x00\x00\x00\x00\x01",
                (size_t)8, huge, size);
    zsock_set_rcvtimeo (big, 1000);
    zmsg_t *answer = zmsg_recv (big);
    cr_assert_null (answer, "the bus answered a 1 MB message over a 64 KB limit");
    free (huge);
    zsock_destroy (&big);

    pb_client_t *client = pb_client_new (config);
    pb_reply_t reply = {0};
    cr_assert_eq (pb_client_call (client, "echo.echo", BODY ("\xa5small"), 3000, 0, &reply), 0,
                  "%s", reply.error);
    cr_assert_eq (reply.status, 0, "%s", reply.error);
    pb_reply_reset (&reply);
    pb_client_destroy (&client);
    pb_config_destroy (&config);
    kill (worker, SIGKILL);
    kill (bus, SIGKILL);
}

Test (bus, requests_for_made_up_services_leave_nothing_behind)
{
    pid_t bus = pbtest_bus_start ();
    pb_config_t *config = pbtest_config ();
    pb_client_t *client = pb_client_new (config);
    enum { NAMES = 10500 };
    for (int i = 0; i < NAMES; i++) {
        char method[32];
        snprintf (method, sizeof method, "made-up-%d.x", i);
        cr_assert (pb_client_send (client, method, BODY ("\x80")));
    }
    for (int i = 0; i < NAMES; i++) {
        pb_reply_t reply = {0};
        cr_assert_eq (pb_client_recv (client, 10000, &reply), 0, "reply %d missing", i);
        cr_assert_eq (reply.status, PB_E_UNKNOWN_SERVICE, "%s", reply.error);
        pb_reply_reset (&reply);
    }
    //  Forgotten within a heartbeat or two: bus.status stays small and readable.
    zclock_sleep (HEARTBEAT_MS * 3);
    pb_reply_t reply = {0};
    cr_assert_eq (pb_client_call (client, "bus.status", BODY ("\x80"), 3000, 0, &reply), 0);
    pb_arena_t *arena = pb_arena_new ();
    pb_status_reply_t status;
    pb_codec_error_t error;
    cr_assert_eq (pb_decode (zframe_data (reply.body), zframe_size (reply.body), 1 << 24,
                             &pb_status_reply_schema, &status, arena, &error),
                  0, "%s", error.message);
    cr_assert_lt (status.services.count, 10, "%u services still tracked", status.services.count);
    pb_arena_destroy (&arena);
    pb_reply_reset (&reply);
    pb_client_destroy (&client);
    pb_config_destroy (&config);
    kill (bus, SIGKILL);
}

Test (bus, a_worker_holding_a_request_too_long_gets_it_answered_timeout)
{
    setenv ("PAPERBUS_REQUEST_TIMEOUT_MS", "500", 1);
    pid_t bus = pbtest_bus_start ();
    pid_t worker = pbtest_worker_start ("echo", 1);
    pbtest_wait_for_workers ("echo", 1);
    pb_config_t *config = pbtest_config ();
    pb_client_t *client = pb_client_new (config);
    int64_t start = zclock_mono ();
    cr_assert (pb_client_send (client, "echo.sleep", BODY ("\x81\xa2ms\xcd\x0b\xb8"))); //  3 s
    pb_reply_t reply = {0};
    cr_assert_eq (pb_client_recv (client, 5000, &reply), 0);
    cr_assert_eq (reply.status, PB_E_TIMEOUT, "%s", reply.error);
    cr_assert_lt (zclock_mono () - start, 1500);
    pb_reply_reset (&reply);
    pb_client_destroy (&client);
    pb_config_destroy (&config);
    kill (worker, SIGKILL);
    kill (bus, SIGKILL);
}
