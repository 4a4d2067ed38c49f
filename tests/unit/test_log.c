/*  Logging: levels filter, one line per event, newlines folded. */
#include "paperbus.h"

#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <unistd.h>

Test (log, level_names_parse_and_others_do_not)
{
    cr_assert_eq (pb_log_level_parse ("debug"), PB_LOG_DEBUG);
    cr_assert_eq (pb_log_level_parse ("error"), PB_LOG_ERROR);
    cr_assert_eq (pb_log_level_parse ("DEBUG"), -1);
    cr_assert_eq (pb_log_level_parse (""), -1);
}

Test (log, lines_carry_level_service_and_pid_and_fold_newlines, .init = cr_redirect_stderr)
{
    pb_log_init ("tester", PB_LOG_INFO);
    pb_info ("first\nsecond");
    pb_debug ("hidden at info level");
    fflush (stderr);
    char expected[64];
    snprintf (expected, sizeof expected, " info  tester[%d]: first second\n", (int)getpid ());
    FILE *captured = cr_get_redirected_stderr ();
    char line[256] = "";
    cr_assert (fgets (line, sizeof line, captured));
    cr_assert (strstr (line, expected), "line: %s", line);
    cr_assert_null (fgets (line, sizeof line, captured), "debug line printed: %s", line);
}
