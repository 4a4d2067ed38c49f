/*  Configuration: defaults, validation that names the variable, the
    DATABASE_URL fallback, and the README table kept in step with the code. */
#include "paperbus.h"
#include "pbtest.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static void s_clear_environment (void)
{
    for (int setting = 0; setting < PB_CONF_COUNT; setting++)
        unsetenv (pb_config_variable ((pb_setting_t)setting));
    unsetenv ("DATABASE_URL");
}

TestSuite (config, .init = s_clear_environment);

Test (config, defaults_apply_when_nothing_is_set)
{
    char error[1024];
    pb_config_t *config = pb_config_load (error, sizeof error);
    cr_assert (config, "%s", error);
    cr_assert_eq (pb_config_int (config, PB_CONF_HTTP_PORT), 8080);
    cr_assert_eq (pb_config_int (config, PB_CONF_LOG_LEVEL), PB_LOG_INFO);
    cr_assert_str_eq (pb_config_str (config, PB_CONF_BUS_REQUESTS), "tcp://127.0.0.1:5555");
    cr_assert_str_eq (pb_config_str (config, PB_CONF_BUS_EVENTS_IN), "tcp://127.0.0.1:5556");
    cr_assert_str_eq (pb_config_str (config, PB_CONF_BUS_EVENTS_OUT), "tcp://127.0.0.1:5557");
    pb_config_destroy (&config);
    cr_assert_null (config);
    pb_config_destroy (&config);
}

Test (config, valid_values_are_used)
{
    setenv ("PAPERBUS_HTTP_PORT", "9090", 1);
    setenv ("PAPERBUS_LOG_LEVEL", "debug", 1);
    setenv ("PAPERBUS_BUS_REQUESTS", "tcp://bus.internal:7000", 1);
    char error[1024];
    pb_config_t *config = pb_config_load (error, sizeof error);
    cr_assert (config, "%s", error);
    cr_assert_eq (pb_config_int (config, PB_CONF_HTTP_PORT), 9090);
    cr_assert_eq (pb_config_int (config, PB_CONF_LOG_LEVEL), PB_LOG_DEBUG);
    cr_assert_str_eq (pb_config_str (config, PB_CONF_BUS_REQUESTS), "tcp://bus.internal:7000");
    pb_config_destroy (&config);
}

Test (config, invalid_values_are_errors_naming_the_variable)
{
    const char *cases[][3] = {
        {"PAPERBUS_HTTP_PORT", "eighty", "PAPERBUS_HTTP_PORT=eighty: not an integer in 1..65535"},
        {"PAPERBUS_HTTP_PORT", "70000", "PAPERBUS_HTTP_PORT=70000: not an integer in 1..65535"},
        {"PAPERBUS_HTTP_PORT", "80x", "PAPERBUS_HTTP_PORT=80x"},
        {"PAPERBUS_LOG_LEVEL", "loud", "PAPERBUS_LOG_LEVEL=loud: not one of"},
        {"PAPERBUS_BUS_REQUESTS", "127.0.0.1:5555", "PAPERBUS_BUS_REQUESTS=127.0.0.1:5555: not a"},
        {"PAPERBUS_BUS_EVENTS_IN", "tcp://host:99999", "PAPERBUS_BUS_EVENTS_IN=tcp://host:99999"},
        {"PAPERBUS_DATABASE_URL", "postgresql://[broken",
         "PAPERBUS_DATABASE_URL: not a PostgreSQL"},
        {"PAPERBUS_VAR_DIR", "", "PAPERBUS_VAR_DIR is set but empty"},
        {"PAPERBUS_LINGER_MS", "-1", "PAPERBUS_LINGER_MS=-1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_clear_environment ();
        setenv (cases[i][0], cases[i][1], 1);
        char error[1024];
        pb_config_t *config = pb_config_load (error, sizeof error);
        cr_assert_null (config, "%s=%s was accepted", cases[i][0], cases[i][1]);
        cr_assert (strstr (error, cases[i][2]), "case %zu: got '%s'", i, error);
    }
}

Test (config, every_problem_is_reported_at_once)
{
    setenv ("PAPERBUS_HTTP_PORT", "0", 1);
    setenv ("PAPERBUS_LOG_LEVEL", "verbose", 1);
    char error[1024];
    cr_assert_null (pb_config_load (error, sizeof error));
    cr_assert (strstr (error, "PAPERBUS_HTTP_PORT") && strstr (error, "PAPERBUS_LOG_LEVEL"),
               "got '%s'", error);
}

Test (config, database_url_falls_back_to_DATABASE_URL)
{
    setenv ("DATABASE_URL", "postgresql://elsewhere/db", 1);
    char error[1024];
    pb_config_t *config = pb_config_load (error, sizeof error);
    cr_assert_str_eq (pb_config_str (config, PB_CONF_DATABASE_URL), "postgresql://elsewhere/db");
    pb_config_destroy (&config);
    setenv ("PAPERBUS_DATABASE_URL", "host=127.0.0.1 dbname=mine", 1);
    config = pb_config_load (error, sizeof error);
    cr_assert_str_eq (pb_config_str (config, PB_CONF_DATABASE_URL), "host=127.0.0.1 dbname=mine");
    pb_config_destroy (&config);
}

Test (config, endpoints_of_every_transport_are_accepted)
{
    const char *good[] = {"tcp://*:5555", "tcp://[::1]:5555", "ipc:///tmp/paperbus.sock",
                          "inproc://bus"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        setenv ("PAPERBUS_BUS_REQUESTS", good[i], 1);
        char error[1024];
        pb_config_t *config = pb_config_load (error, sizeof error);
        cr_assert (config, "%s rejected: %s", good[i], error);
        pb_config_destroy (&config);
    }
}

Test (config, readme_documents_every_setting_with_its_default)
{
    char *path = pbtest_repo_path ("README.md");
    char *readme = pbtest_read_file (path, NULL);
    cr_assert (readme, "cannot read %s", path);
    char *table;
    size_t size;
    FILE *out = open_memstream (&table, &size);
    pb_config_print_markdown (out);
    fclose (out);
    //  Each row of the generated table must appear in the README verbatim.
    for (char *row = strtok (table, "\n"); row; row = strtok (NULL, "\n"))
        cr_assert (strstr (readme, row),
                   "README.md lacks the row: %s\n(paste the output of "
                   "`paperctl config --markdown`)",
                   row);
    free (table);
    free (readme);
    free (path);
}
