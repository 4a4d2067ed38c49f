/*  What containers rely on: a worker started before the bus says that it
    waits for the bus, then serves once the bus is up; SIGTERM stops a worker
    within 10 s even with the bus gone; `paperctl health` fails without a bus
    or without a live worker of the service, and passes with both. */
#include "pbtest.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TestSuite (deploy, .timeout = 60);

//  Starts PROGRAM ARG with its stderr (the log) to LOG_PATH.
static pid_t s_spawn_logged (const char *program, const char *arg, const char *log_path)
{
    char *command;
    cr_assert_geq (asprintf (&command, "exec '%s' %s 2>'%s'", program, arg, log_path), 0);
    char *argv[] = {"/bin/sh", "-c", command, NULL};
    char *env[] = {"PAPERBUS_LOG_LEVEL=info", NULL};
    pid_t pid = pbtest_spawn (argv, env, NULL);
    free (command);
    return pid;
}

//  Waits up to TIMEOUT_MS for the file at PATH to hold TEXT.
static bool s_log_has (const char *path, const char *text, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 50) {
        char *log = pbtest_read_file (path, NULL);
        bool found = log && strstr (log, text);
        free (log);
        if (found)
            return true;
        usleep (50 * 1000);
    }
    return false;
}

//  Runs `paperctl health ARGS` and returns its exit status; its output goes
//  to OUTPUT_PATH (stdout) and stays on stderr for the test log.
static int s_health (const char *args, const char *output_path)
{
    char *program = pbtest_program ("paperctl");
    char *command;
    cr_assert_geq (asprintf (&command, "'%s' health %s >'%s' 2>&1", program, args, output_path), 0);
    int status = pbtest_shell (command);
    free (command);
    free (program);
    return status;
}

Test (deploy, a_worker_started_before_the_bus_says_it_waits_then_serves)
{
    pbtest_bus_environment (100, 500);
    char log_path[] = "/tmp/pbtest-deploy-log-XXXXXX";
    close (mkstemp (log_path));
    char *worker_program = pbtest_program ("../tests/programs/echo_worker");
    pid_t worker = s_spawn_logged (worker_program, "echo", log_path);

    char waiting[128];
    snprintf (waiting, sizeof waiting, "waiting for the bus at %s",
              getenv ("PAPERBUS_BUS_REQUESTS"));
    cr_assert (s_log_has (log_path, waiting, 5000), "no '%s' in the worker's log", waiting);

    pid_t bus = pbtest_bus_start ();
    pbtest_wait_for_workers ("echo", 1);
    cr_assert (s_log_has (log_path, "reached the bus at", 5000),
               "the worker did not say it reached the bus");

    char output[] = "/tmp/pbtest-deploy-health-XXXXXX";
    close (mkstemp (output));
    //  A READY the worker queued before it gave up its first socket may
    //  register a ghost for a few heartbeats, until the bus expires it.
    char *text = NULL;
    for (int attempt = 0; attempt < 50; attempt++) {
        free (text);
        cr_assert_eq (s_health ("echo", output), 0);
        text = pbtest_read_file (output, NULL);
        if (strstr (text, "echo has 1 live worker"))
            break;
        usleep (100000);
    }
    cr_assert (strstr (text, "echo has 1 live worker"), "health said: %s", text);
    free (text);

    kill (worker, SIGTERM);
    cr_assert_eq (pbtest_wait (worker, 10000), 0, "the worker did not stop within 10 s");
    kill (bus, SIGTERM);
    cr_assert_eq (pbtest_wait (bus, 10000), 0, "the bus did not stop within 10 s");
    unlink (output);
    unlink (log_path);
    free (worker_program);
}

Test (deploy, sigterm_stops_a_worker_within_10_s_with_the_bus_gone)
{
    pbtest_bus_environment (100, 500);
    pid_t bus = pbtest_bus_start ();
    pid_t worker = pbtest_worker_start ("echo", 1);
    pbtest_wait_for_workers ("echo", 1);
    kill (bus, SIGKILL);
    pbtest_wait (bus, 5000);
    kill (worker, SIGTERM);
    int64_t start = zclock_mono ();
    cr_assert_eq (pbtest_wait (worker, 10000), 0, "the worker did not stop within 10 s");
    cr_assert_lt (zclock_mono () - start, 10000);
}

Test (deploy, paperctl_health_needs_the_bus_and_a_live_worker)
{
    pbtest_bus_environment (100, 500);
    char output[] = "/tmp/pbtest-deploy-health-XXXXXX";
    close (mkstemp (output));

    cr_assert_eq (s_health ("bus --timeout 300", output), 1);
    char *text = pbtest_read_file (output, NULL);
    cr_assert (strstr (text, "did not answer within 300 ms"), "health said: %s", text);
    free (text);

    pid_t bus = pbtest_bus_start ();
    cr_assert_eq (s_health ("bus", output), 0);
    cr_assert_eq (s_health ("echo", output), 1);
    text = pbtest_read_file (output, NULL);
    cr_assert (strstr (text, "echo has no live worker"), "health said: %s", text);
    free (text);
    cr_assert_eq (s_health ("'Not A Service'", output), 2);

    //  The bus's own container has its bind address, with a wildcard host.
    char *requests = strdup (getenv ("PAPERBUS_BUS_REQUESTS"));
    char wildcard[64];
    snprintf (wildcard, sizeof wildcard, "tcp://*:%s", strrchr (requests, ':') + 1);
    setenv ("PAPERBUS_BUS_REQUESTS", wildcard, 1);
    cr_assert_eq (s_health ("bus", output), 0);
    setenv ("PAPERBUS_BUS_REQUESTS", requests, 1);

    pid_t worker = pbtest_worker_start ("echo", 1);
    pbtest_wait_for_workers ("echo", 1);
    cr_assert_eq (s_health ("echo", output), 0);

    kill (worker, SIGTERM);
    pbtest_wait (worker, 10000);
    kill (bus, SIGTERM);
    pbtest_wait (bus, 10000);
    unlink (output);
    free (requests);
}
