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

#endif
