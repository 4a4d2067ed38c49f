/*  pbtest — shared helpers for the paperbus test suites. */
#include "pbtest.h"

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <czmq.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *s_admin_url (void)
{
    const char *url = getenv ("PAPERBUS_DATABASE_URL");
    cr_assert (url, "PAPERBUS_DATABASE_URL is unset: run the tests with tests/run.sh (make test)");
    return url;
}

//  Builds a key=value connection string: the admin URL's host, port and user,
//  with DBNAME as the database.
static char *s_url_with_database (const char *dbname)
{
    char *error = NULL;
    PQconninfoOption *options = PQconninfoParse (s_admin_url (), &error);
    cr_assert (options, "bad PAPERBUS_DATABASE_URL: %s", error ? error : "?");
    char url[1024] = "";
    size_t used = 0;
    for (PQconninfoOption *option = options; option->keyword; option++) {
        if (!option->val || strcmp (option->keyword, "dbname") == 0)
            continue;
        used += (size_t)snprintf (url + used, sizeof url - used, "%s='%s' ", option->keyword,
                                  option->val);
    }
    snprintf (url + used, sizeof url - used, "dbname='%s'", dbname);
    PQconninfoFree (options);
    return strdup (url);
}

pb_db_t *pbtest_connect (const char *url)
{
    pb_db_t *db = pb_db_new (url, "pbtest", 30);
    cr_assert (db, "cannot connect to %s", url);
    return db;
}

char *pbtest_database_new (bool migrated)
{
    static int serial;
    char name[64];
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    snprintf (name, sizeof name, "pbtest_%d_%ld_%d", (int)getpid (), (long)now.tv_nsec, ++serial);
    pb_db_t *admin = pbtest_connect (s_admin_url ());
    //  CREATE DATABASE takes no parameters; format's %I quotes the name.
    pb_db_params_t params = {0};
    pb_db_params_text (&params, name);
    PGresult *statement =
        pb_db_query (admin, "SELECT format ('CREATE DATABASE %I', $1::text)", &params);
    cr_assert (statement, "%s", pb_db_error (admin));
    cr_assert_eq (pb_db_script (admin, PQgetvalue (statement, 0, 0)), 0, "%s", pb_db_error (admin));
    PQclear (statement);
    pb_db_destroy (&admin);
    char *url = s_url_with_database (name);
    if (migrated) {
        pb_db_t *db = pbtest_connect (url);
        cr_assert_eq (pb_migrate (db, pb_migrations, pb_migration_count, NULL), 0);
        pb_db_destroy (&db);
    }
    return url;
}

char *pbtest_repo_path (const char *relative)
{
    const char *root = getenv ("PAPERBUS_ROOT");
    char path[4096];
    snprintf (path, sizeof path, "%s/%s", root ? root : ".", relative);
    return strdup (path);
}

char *pbtest_program (const char *name)
{
    const char *dir = getenv ("PAPERBUS_BIN_DIR");
    cr_assert (dir, "PAPERBUS_BIN_DIR is unset: run the tests with tests/run.sh (make test)");
    char path[4096];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    return strdup (path);
}

int pbtest_shell (const char *command)
{
    int status = system (command);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

pid_t pbtest_spawn (char *const argv[], char *const environment[], const char *output_path)
{
    pid_t pid = fork ();
    cr_assert (pid >= 0);
    if (pid == 0) {
        //  A test that fails half-way must not leave its programs behind.
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        for (int i = 0; environment && environment[i]; i++)
            putenv (environment[i]);
        if (output_path) {
            int fd = open (output_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0 || dup2 (fd, STDOUT_FILENO) < 0)
                _exit (126);
            close (fd);
        }
        execv (argv[0], argv);
        _exit (127);
    }
    return pid;
}

int pbtest_wait (pid_t pid, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        int status;
        pid_t done = waitpid (pid, &status, WNOHANG);
        if (done == pid) {
            if (WIFEXITED (status))
                return WEXITSTATUS (status);
            return 128 + WTERMSIG (status);
        }
        usleep (10 * 1000);
    }
    return -1;
}

char *pbtest_read_file (const char *path, size_t *size)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return NULL;
    fseek (file, 0, SEEK_END);
    long length = ftell (file);
    fseek (file, 0, SEEK_SET);
    char *data = malloc ((size_t)length + 1);
    size_t got = fread (data, 1, (size_t)length, file);
    fclose (file);
    data[got] = '\0';
    if (size)
        *size = got;
    return data;
}

int pbtest_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    cr_assert_eq (bind (fd, (struct sockaddr *)&address, sizeof address), 0);
    socklen_t length = sizeof address;
    getsockname (fd, (struct sockaddr *)&address, &length);
    close (fd);
    return ntohs (address.sin_port);
}

void pbtest_bus_environment (int heartbeat_ms, int wait_ms)
{
    const char *names[] = {"PAPERBUS_BUS_REQUESTS", "PAPERBUS_BUS_EVENTS_IN",
                           "PAPERBUS_BUS_EVENTS_OUT"};
    for (int i = 0; i < 3; i++) {
        char endpoint[64];
        snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", pbtest_free_port ());
        setenv (names[i], endpoint, 1);
    }
    char number[32];
    snprintf (number, sizeof number, "%d", heartbeat_ms);
    setenv ("PAPERBUS_HEARTBEAT_MS", number, 1);
    snprintf (number, sizeof number, "%d", wait_ms);
    setenv ("PAPERBUS_BUS_WAIT_MS", number, 1);
}

pb_config_t *pbtest_config (void)
{
    char error[1024];
    pb_config_t *config = pb_config_load (error, sizeof error);
    cr_assert (config, "invalid test configuration: %s", error);
    return config;
}

static bool s_bus_status (pb_config_t *config, pb_status_reply_t *status, pb_arena_t *arena,
                          pb_reply_t *reply)
{
    pb_client_t *client = pb_client_new (config);
    bool ok = client && pb_client_call (client, "bus.status", "\x80", 1, 300, 0, reply) == 0 &&
              reply->status == PB_OK;
    pb_codec_error_t error;
    if (ok && status)
        ok = pb_decode (zframe_data (reply->body), zframe_size (reply->body), 1 << 24,
                        &pb_status_reply_schema, status, arena, &error) == 0;
    pb_client_destroy (&client);
    return ok;
}

pid_t pbtest_bus_start (void)
{
    char *program = pbtest_program ("bus");
    char *argv[] = {program, NULL};
    pid_t pid = pbtest_spawn (argv, NULL, NULL);
    free (program);
    pb_config_t *config = pbtest_config ();
    bool up = false;
    for (int attempt = 0; attempt < 50 && !up; attempt++) {
        pb_reply_t reply = {0};
        up = s_bus_status (config, NULL, NULL, &reply);
        pb_reply_reset (&reply);
    }
    pb_config_destroy (&config);
    cr_assert (up, "the bus did not answer bus.status");
    return pid;
}

pid_t pbtest_worker_start (const char *service, int credit)
{
    char *program = pbtest_program ("../tests/programs/echo_worker");
    char credit_text[16];
    snprintf (credit_text, sizeof credit_text, "%d", credit);
    char *argv[] = {program, (char *)service, credit_text, NULL};
    pid_t pid = pbtest_spawn (argv, NULL, NULL);
    free (program);
    return pid;
}

void pbtest_wait_for_workers (const char *service, int live)
{
    pb_config_t *config = pbtest_config ();
    int64_t seen = -1;
    for (int attempt = 0; attempt < 100 && seen != live; attempt++) {
        pb_arena_t *arena = pb_arena_new ();
        pb_reply_t reply = {0};
        pb_status_reply_t status;
        seen = -1;
        if (s_bus_status (config, &status, arena, &reply))
            for (uint32_t i = 0; i < status.services.count; i++) {
                pb_service_status_t *entry = (pb_service_status_t *)status.services.items + i;
                if (pb_str_eq (entry->name, service))
                    seen = entry->live_workers;
            }
        pb_reply_reset (&reply);
        pb_arena_destroy (&arena);
        if (seen != live)
            zclock_sleep (100);
    }
    pb_config_destroy (&config);
    cr_assert_eq (seen, live, "the bus shows %lld live %s workers, not %d", (long long)seen,
                  service, live);
}

bool pbtest_running (pid_t pid)
{
    int status;
    return waitpid (pid, &status, WNOHANG) == 0;
}

void pbtest_paperctl_ingest (const char *file)
{
    char *program = pbtest_program ("paperctl");
    char *path = pbtest_repo_path (file);
    char *argv[] = {program, "ingest", path, NULL};
    char output_path[] = "/tmp/pbtest-paperctl-XXXXXX";
    close (mkstemp (output_path));
    int status = pbtest_wait (pbtest_spawn (argv, NULL, output_path), 60000);
    free (path);
    free (program);
    static char output[4096];
    char *text = pbtest_read_file (output_path, NULL);
    snprintf (output, sizeof output, "%s", text ? text : "");
    free (text);
    unlink (output_path);
    cr_assert_eq (status, 0, "paperctl ingest %s: %s", file, output);
}

void pbtest_stack_start (pbtest_stack_t *stack, int heartbeat_ms, int wait_ms)
{
    pbtest_bus_environment (heartbeat_ms, wait_ms);
    stack->url = pbtest_database_new (true);
    setenv ("PAPERBUS_DATABASE_URL", stack->url, 1);
    stack->db = pbtest_connect (stack->url);
    stack->bus = pbtest_bus_start ();
    char *program = pbtest_program ("ingest");
    char *argv[] = {program, NULL};
    stack->ingest = pbtest_spawn (argv, NULL, NULL);
    free (program);
    pbtest_wait_for_workers ("ingest", 1);
    stack->config = pbtest_config ();
    stack->client = pb_client_new (stack->config);
    cr_assert (stack->client);
}

void pbtest_stack_stop (pbtest_stack_t *stack)
{
    if (stack->ingest > 0)
        kill (stack->ingest, SIGKILL);
    if (stack->bus > 0)
        kill (stack->bus, SIGKILL);
    pb_client_destroy (&stack->client);
    pb_config_destroy (&stack->config);
    pb_db_destroy (&stack->db);
    free (stack->url);
    *stack = (pbtest_stack_t){0};
}

#define MAX_SERVICE_WORKERS 4 //  service workers one test runs

static pid_t s_service_workers[MAX_SERVICE_WORKERS]; //  started, not yet stopped

pid_t pbtest_service_spawn (const char *name)
{
    char *program = pbtest_program (name);
    char *argv[] = {program, NULL};
    pid_t pid = pbtest_spawn (argv, NULL, NULL);
    free (program);
    for (int i = 0; i < MAX_SERVICE_WORKERS; i++)
        if (s_service_workers[i] == 0) {
            s_service_workers[i] = pid;
            break;
        }
    return pid;
}

pid_t pbtest_service_start (const char *name, int live)
{
    pid_t pid = pbtest_service_spawn (name);
    pbtest_wait_for_workers (name, live);
    return pid;
}

void pbtest_service_stop (const char *name, pid_t pid, int signal, int wait_ms, int live)
{
    kill (pid, signal);
    if (pbtest_wait (pid, wait_ms) < 0) {
        kill (pid, SIGKILL);
        pbtest_wait (pid, 5000);
    }
    pbtest_service_forget (pid);
    pbtest_wait_for_workers (name, live);
}

void pbtest_service_forget (pid_t pid)
{
    for (int i = 0; i < MAX_SERVICE_WORKERS; i++)
        if (s_service_workers[i] == pid)
            s_service_workers[i] = 0;
}

void pbtest_services_kill_all (void)
{
    for (int i = 0; i < MAX_SERVICE_WORKERS; i++)
        if (s_service_workers[i] > 0) {
            kill (s_service_workers[i], SIGKILL);
            s_service_workers[i] = 0;
        }
}

/* ==== The mail catcher ==== */

pid_t pbtest_mailcatcher_spawn (const char *work_dir, const char *mail_dir,
                                const char *const *options)
{
    char *script = pbtest_repo_path ("deploy/mailcatcher.py");
    char ready[4200], output[4200], shell[4300];
    snprintf (ready, sizeof ready, "%s/smtp.port", work_dir);
    snprintf (output, sizeof output, "%s/smtp.out", work_dir);
    //  Through sh, for its stderr to go to a file of the test (the shell
    //  execs, so the catcher keeps the pid).
    snprintf (shell, sizeof shell, "exec \"$0\" \"$@\" 2>>'%s/smtp.err'", work_dir);
    char *argv[32] = {"/bin/sh",      "-c",  shell,   "/usr/bin/python3", script, "--port", "0",
                      "--ready-file", ready, "--dir", (char *)mail_dir};
    size_t argc = 11;
    for (size_t i = 0; options && options[i] && argc < 31; i++)
        argv[argc++] = (char *)options[i];
    argv[argc] = NULL;
    unlink (ready);
    pid_t pid = pbtest_spawn (argv, NULL, output);
    free (script);
    return pid;
}

int pbtest_mailcatcher_wait (pid_t pid, const char *work_dir)
{
    char ready[4200];
    snprintf (ready, sizeof ready, "%s/smtp.port", work_dir);
    int port = 0;
    for (int waited = 0; waited < 15000 && port == 0; waited += 20) {
        char *text = pbtest_read_file (ready, NULL);
        port = text ? atoi (text) : 0;
        free (text);
        if (port == 0) {
            cr_assert (pbtest_running (pid), "the mail catcher exited at start");
            usleep (20000);
        }
    }
    cr_assert_gt (port, 0, "the mail catcher did not say its port within 15 s");
    char url[64];
    snprintf (url, sizeof url, "smtp://127.0.0.1:%d", port);
    setenv ("PAPERBUS_SMTP_URL", url, 1);
    return port;
}

void pbtest_mailcatcher_stop (pid_t *pid)
{
    if (*pid <= 0)
        return;
    kill (*pid, SIGTERM);
    if (pbtest_wait (*pid, 5000) < 0) {
        kill (*pid, SIGKILL);
        pbtest_wait (*pid, 5000);
    }
    *pid = 0;
}
