/*  pbtest — what the paperbus tests share: a fresh database per test on the
    PostgreSQL that tests/run.sh started, and paths to built programs. */
#ifndef PBTEST_H
#define PBTEST_H

#include "paperbus.h"

#include <stddef.h>
#include <sys/types.h>

//  Creates an empty database with a unique name and returns a connection
//  string for it (the caller frees it). MIGRATED also applies the schema.
char *pbtest_database_new (bool migrated);

//  Connects to the database at URL, failing the test if it cannot.
pb_db_t *pbtest_connect (const char *url);

//  Returns the path of a file in the repository ("README.md").
char *pbtest_repo_path (const char *relative);

//  Returns the path of a built program ("paperctl").
char *pbtest_program (const char *name);

//  Runs a shell command and returns its exit status (-1 if it did not exit).
int pbtest_shell (const char *command);

//  Starts ARGV with ENVIRONMENT additions ("NAME=value", NULL-terminated),
//  stdout to OUTPUT_PATH (or inherited when NULL). Returns the pid.
pid_t pbtest_spawn (char *const argv[], char *const environment[], const char *output_path);

//  Waits up to TIMEOUT_MS for PID to exit; returns its exit status, 128+signal
//  if killed, or -1 on timeout.
int pbtest_wait (pid_t pid, int timeout_ms);

//  Returns a TCP port on 127.0.0.1 that was free a moment ago.
int pbtest_free_port (void);

//  Points this process (and the programs it starts) at a bus of its own:
//  three free ports, a short heartbeat (HEARTBEAT_MS) and wait (WAIT_MS).
void pbtest_bus_environment (int heartbeat_ms, int wait_ms);

//  Loads the configuration from the environment, failing the test if invalid.
pb_config_t *pbtest_config (void);

//  Starts the bus program and waits until it answers bus.status. Returns its pid.
pid_t pbtest_bus_start (void);

//  Starts the echo_worker test program for SERVICE with CREDIT.
pid_t pbtest_worker_start (const char *service, int credit);

//  Waits until the bus reports LIVE workers for SERVICE (up to 10 s).
void pbtest_wait_for_workers (const char *service, int live);

//  Reads a whole file (NUL-terminated); the caller frees it. NULL if absent.
char *pbtest_read_file (const char *path, size_t *size);

//  True while PID has not exited.
bool pbtest_running (pid_t pid);

//  Runs paperctl ingest on FILE (a path in the repository), failing the test
//  (with paperctl's output) unless it succeeds.
void pbtest_paperctl_ingest (const char *file);

//  What the integration suites run their tests against: a bus of their own
//  and an ingest worker on a fresh database, and a client of that bus.
typedef struct {
    char *url;           //  of the database
    pb_db_t *db;         //  a connection to it
    pid_t bus, ingest;   //  the processes
    pb_config_t *config; //  the environment's configuration
    pb_client_t *client; //  a client of the bus
} pbtest_stack_t;

//  Starts STACK: the bus environment (HEARTBEAT_MS, WAIT_MS, as for
//  pbtest_bus_environment), a migrated database that PAPERBUS_DATABASE_URL
//  names, the bus, an ingest worker (once it is live) and a client. The
//  programs started take the environment as it is, so set what they need first.
void pbtest_stack_start (pbtest_stack_t *stack, int heartbeat_ms, int wait_ms);

//  Kills STACK's processes and frees the rest of it.
void pbtest_stack_stop (pbtest_stack_t *stack);

//  Starts the service program NAME ("rank"), to be killed by
//  pbtest_services_kill_all if still running. Returns its pid.
pid_t pbtest_service_spawn (const char *name);

//  Starts the service program NAME and waits until the bus shows LIVE
//  workers of that service.
pid_t pbtest_service_start (const char *name, int live);

//  Sends SIGNAL to service worker PID, waits up to WAIT_MS for it to exit
//  (then kills it) and for the bus to show LIVE workers of service NAME.
void pbtest_service_stop (const char *name, pid_t pid, int signal, int wait_ms, int live);

//  Takes PID off the service workers to kill: it has exited and been
//  reaped, and its pid may already be another process's.
void pbtest_service_forget (pid_t pid);

//  Kills every service worker started and not yet stopped: for teardowns.
void pbtest_services_kill_all (void);

//  Starts the development mail catcher (deploy/mailcatcher.py) on a free
//  port, keeping mails in MAIL_DIR and its port, output and errors in files
//  of WORK_DIR, with OPTIONS more (NULL-terminated; NULL for none). Returns
//  its pid at once: start other processes, then pbtest_mailcatcher_wait.
pid_t pbtest_mailcatcher_spawn (const char *work_dir, const char *mail_dir,
                                const char *const *options);

//  Waits (up to 15 s) for the catcher PID of WORK_DIR to say its port, and
//  points the processes started afterwards at it (PAPERBUS_SMTP_URL).
//  Returns the port.
int pbtest_mailcatcher_wait (pid_t pid, const char *work_dir);

//  Stops the catcher *PID (if any) and sets it to 0.
void pbtest_mailcatcher_stop (pid_t *pid);

#endif
