/*  proto/openapi.json, the HTTP API's reference: a well-formed OpenAPI 3.1
    document whose references all resolve, whose routes are exactly those
    of the contract (services/gateway/API.md) and of the gateway itself
    (`gateway --routes`, one "METHOD /template" a line), whose error codes
    are errors.def's and the gateway's own, and whose API errors all have
    the one error shape. */
#include "pbtest.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_ROUTES 64 //  routes one set holds

//  A set of routes, each "METHOD /template".
typedef struct {
    char items[MAX_ROUTES][160];
    size_t count;
} routes_t;

static const char *const s_methods[] = {"get",  "put",   "post",  "delete", "options",
                                        "head", "patch", "trace", NULL};

//  The error codes the gateway has besides those of errors.def.
static const char *const s_gateway_codes[] = {"unauthorized",       "forbidden",
                                              "method_not_allowed", "unsupported_media_type",
                                              "uri_too_long",       NULL};

static json_t *s_document (void)
{
    char *path = pbtest_repo_path ("proto/openapi.json");
    json_error_t error;
    json_t *document = json_load_file (path, JSON_REJECT_DUPLICATES, &error);
    cr_assert (document, "%s:%d: %s", path, error.line, error.text);
    free (path);
    return document;
}

static void s_routes_add (routes_t *routes, const char *method, const char *path)
{
    cr_assert_lt (routes->count, MAX_ROUTES, "more than %d routes", MAX_ROUTES);
    char route[160];
    snprintf (route, sizeof route, "%s %s", method, path);
    for (char *c = route; *c && *c != ' '; c++)
        *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c);
    for (size_t i = 0; i < routes->count; i++)
        cr_assert_str_neq (routes->items[i], route, "%s is listed twice", route);
    snprintf (routes->items[routes->count++], sizeof routes->items[0], "%s", route);
}

static bool s_routes_have (const routes_t *routes, const char *route)
{
    for (size_t i = 0; i < routes->count; i++)
        if (strcmp (routes->items[i], route) == 0)
            return true;
    return false;
}

//  Fails the test unless A (named A_NAME) and B hold the same routes,
//  listing those each lacks.
static void s_routes_assert_equal (const routes_t *a, const char *a_name, const routes_t *b,
                                   const char *b_name)
{
    char missing[4096] = "";
    size_t used = 0;
    for (size_t i = 0; i < a->count; i++)
        if (!s_routes_have (b, a->items[i]))
            used += (size_t)snprintf (missing + used, sizeof missing - used,
                                      "\n  %s: in %s, not in %s", a->items[i], a_name, b_name);
    for (size_t i = 0; i < b->count && used < sizeof missing; i++)
        if (!s_routes_have (a, b->items[i]))
            used += (size_t)snprintf (missing + used, sizeof missing - used,
                                      "\n  %s: in %s, not in %s", b->items[i], b_name, a_name);
    cr_assert_eq (used, 0, "%s and %s disagree:%s", a_name, b_name, missing);
    cr_assert_gt (a->count, 0, "%s lists no route", a_name);
}

//  The routes of the document: each operation of each path.
static void s_document_routes (json_t *document, routes_t *routes)
{
    const char *path;
    json_t *item;
    json_object_foreach (json_object_get (document, "paths"), path, item)
    {
        size_t before = routes->count;
        for (int i = 0; s_methods[i]; i++)
            if (json_object_get (item, s_methods[i]))
                s_routes_add (routes, s_methods[i], path);
        cr_assert_gt (routes->count, before, "path %s has no operation", path);
    }
}

//  The routes of API.md's table: rows "| GET, POST | `/a`, `/b` | ...".
static void s_contract_routes (routes_t *routes)
{
    char *path = pbtest_repo_path ("services/gateway/API.md");
    char *text = pbtest_read_file (path, NULL);
    cr_assert (text, "cannot read %s", path);
    free (path);
    for (char *line = strtok (text, "\n"); line; line = strtok (NULL, "\n")) {
        if (strncmp (line, "| ", 2) != 0 || !strchr ("GPD", line[2]) ||
            strncmp (line, "| method", 8) == 0)
            continue;
        char *methods = line + 2, *paths = strchr (methods, '|');
        cr_assert (paths, "API.md: a route row without columns: %s", line);
        *paths++ = 0;
        char *paths_end = strchr (paths, '|');
        cr_assert (paths_end, "API.md: a route row without a third column: %s", line);
        *paths_end = 0;
        for (char *method = methods; *method;) {
            size_t length = strcspn (method, ", ");
            if (length > 0) {
                char name[16];
                snprintf (name, sizeof name, "%.*s", (int)length, method);
                for (char *quoted = strchr (paths, '`'); quoted;
                     quoted = strchr (quoted + 1, '`')) {
                    char *end = strchr (quoted + 1, '`');
                    cr_assert (end, "API.md: an unclosed ` in %s", paths);
                    char template[128];
                    snprintf (template, sizeof template, "%.*s", (int)(end - quoted - 1),
                              quoted + 1);
                    s_routes_add (routes, name, template);
                    quoted = end;
                }
            }
            method += length;
            method += strspn (method, ", ");
        }
    }
    free (text);
}

//  Resolves a local reference ("#/components/schemas/Hit") in DOCUMENT.
static json_t *s_resolve (json_t *document, const char *reference)
{
    if (strncmp (reference, "#/", 2) != 0)
        return NULL;
    char copy[256];
    snprintf (copy, sizeof copy, "%s", reference + 2);
    json_t *node = document;
    for (char *part = strtok (copy, "/"); part && node; part = strtok (NULL, "/"))
        node = json_object_get (node, part);
    return node;
}

//  Counts the references under NODE, failing on one that does not resolve.
static size_t s_check_references (json_t *document, json_t *node)
{
    size_t count = 0;
    if (json_is_object (node)) {
        const char *key;
        json_t *value;
        json_object_foreach (node, key, value)
        {
            if (strcmp (key, "$ref") == 0) {
                cr_assert (json_is_string (value), "a $ref that is not a string");
                cr_assert (s_resolve (document, json_string_value (value)),
                           "$ref %s does not resolve", json_string_value (value));
                count++;
            } else
                count += s_check_references (document, value);
        }
    } else if (json_is_array (node)) {
        size_t i;
        json_t *value;
        json_array_foreach (node, i, value) count += s_check_references (document, value);
    }
    return count;
}

//  RESPONSE, or what its $ref names.
static json_t *s_deref (json_t *document, json_t *node)
{
    json_t *reference = json_object_get (node, "$ref");
    return reference ? s_resolve (document, json_string_value (reference)) : node;
}

Test (openapi, document_is_openapi_3_1_and_every_reference_resolves)
{
    json_t *document = s_document ();
    const char *version = json_string_value (json_object_get (document, "openapi"));
    cr_assert (version && strncmp (version, "3.1.", 4) == 0, "openapi is %s, not 3.1.x",
               version ? version : "missing");
    cr_assert (json_is_string (json_object_get (json_object_get (document, "info"), "title")));
    cr_assert_gt (s_check_references (document, document), 50);
    //  Every operation: a unique operationId, responses, and a declared
    //  parameter for each {name} of its path.
    json_t *ids = json_object ();
    const char *path;
    json_t *item;
    json_object_foreach (json_object_get (document, "paths"), path, item)
    {
        for (int m = 0; s_methods[m]; m++) {
            json_t *operation = json_object_get (item, s_methods[m]);
            if (!operation)
                continue;
            const char *id = json_string_value (json_object_get (operation, "operationId"));
            cr_assert (id, "%s %s has no operationId", s_methods[m], path);
            cr_assert_null (json_object_get (ids, id), "operationId %s is used twice", id);
            json_object_set_new (ids, id, json_true ());
            cr_assert_gt (json_object_size (json_object_get (operation, "responses")), 0,
                          "%s %s has no responses", s_methods[m], path);
            for (const char *brace = strchr (path, '{'); brace; brace = strchr (brace + 1, '{')) {
                char name[64];
                snprintf (name, sizeof name, "%.*s", (int)strcspn (brace + 1, "}"), brace + 1);
                bool declared = false;
                size_t i;
                json_t *parameter;
                json_array_foreach (json_object_get (operation, "parameters"), i, parameter)
                {
                    parameter = s_deref (document, parameter);
                    const char *in = json_string_value (json_object_get (parameter, "in"));
                    const char *named = json_string_value (json_object_get (parameter, "name"));
                    declared |=
                        in && named && strcmp (in, "path") == 0 && strcmp (named, name) == 0;
                }
                cr_assert (declared, "%s %s does not declare its path parameter %s", s_methods[m],
                           path, name);
            }
        }
    }
    json_decref (ids);
    json_decref (document);
}

Test (openapi, routes_are_those_of_the_api_contract)
{
    json_t *document = s_document ();
    routes_t documented = {0}, contract = {0};
    s_document_routes (document, &documented);
    s_contract_routes (&contract);
    s_routes_assert_equal (&documented, "proto/openapi.json", &contract, "services/gateway/API.md");
    json_decref (document);
}

Test (openapi, routes_are_those_the_gateway_serves)
{
    char *allocated = pbtest_program ("gateway");
    char program[4096];
    snprintf (program, sizeof program, "%s", allocated);
    free (allocated);
    struct stat info;
    if (stat (program, &info) != 0) {
        char *main_c = pbtest_repo_path ("services/gateway/main.c");
        bool written = stat (main_c, &info) == 0;
        free (main_c);
        //  Until the gateway has a main.c there is no program to ask.
        if (!written)
            cr_skip_test ("the gateway is not written yet (no services/gateway/main.c)");
        cr_assert_fail ("%s is missing: build it (make test-binaries)", program);
    }
    char output[] = "/tmp/pbtest-routes-XXXXXX";
    close (mkstemp (output));
    char *argv[] = {program, "--routes", NULL};
    int status = pbtest_wait (pbtest_spawn (argv, NULL, output), 10000);
    char *text = pbtest_read_file (output, NULL);
    unlink (output);
    cr_assert_eq (status, 0, "gateway --routes exited with %d: %s", status, text ? text : "");
    routes_t served = {0}, documented = {0};
    for (char *line = strtok (text, "\n"); line; line = strtok (NULL, "\n")) {
        char method[16], template[128], extra;
        cr_assert_eq (sscanf (line, "%15s %127s %c", method, template, &extra), 2,
                      "gateway --routes: '%s' is not METHOD /template", line);
        s_routes_add (&served, method, template);
    }
    free (text);
    json_t *document = s_document ();
    s_document_routes (document, &documented);
    s_routes_assert_equal (&documented, "proto/openapi.json", &served, "gateway --routes");
    json_decref (document);
}

Test (openapi, error_codes_are_those_of_errors_def_and_the_gateways_own)
{
    json_t *document = s_document ();
    json_t *codes = json_object_get (
        json_object_get (
            json_object_get (
                json_object_get (
                    json_object_get (
                        json_object_get (json_object_get (document, "components"), "schemas"),
                        "Error"),
                    "properties"),
                "error"),
            "properties"),
        "code");
    json_t *names = json_object_get (codes, "enum");
    cr_assert (json_is_array (names), "components.schemas.Error has no code enum");
    json_t *expected = json_object ();
#define PB_ERROR(name, wire, code, http, text) json_object_set_new (expected, wire, json_true ());
#include "../proto/errors.def"
#undef PB_ERROR
    for (int i = 0; s_gateway_codes[i]; i++)
        json_object_set_new (expected, s_gateway_codes[i], json_true ());
    size_t i;
    json_t *name;
    json_array_foreach (names, i, name)
    {
        cr_assert (json_object_get (expected, json_string_value (name)),
                   "error code %s is neither in errors.def nor the gateway's own",
                   json_string_value (name));
        json_object_del (expected, json_string_value (name));
    }
    const char *left = json_object_iter_key (json_object_iter (expected));
    cr_assert_null (left, "error code %s is missing from the Error schema", left);
    json_decref (expected);
    json_decref (document);
}

Test (openapi, api_errors_have_the_error_shape_and_limited_routes_a_retry_after)
{
    json_t *document = s_document ();
    json_t *error_schema = s_resolve (document, "#/components/schemas/Error");
    cr_assert (error_schema);
    size_t errors_checked = 0, limited = 0;
    const char *path;
    json_t *item;
    json_object_foreach (json_object_get (document, "paths"), path, item)
    {
        for (int m = 0; s_methods[m]; m++) {
            json_t *operation = json_object_get (item, s_methods[m]);
            if (!operation)
                continue;
            json_t *responses = json_object_get (operation, "responses");
            const char *status;
            json_t *response;
            json_object_foreach (responses, status, response)
            {
                response = s_deref (document, response);
                cr_assert (response, "%s %s: response %s does not resolve", s_methods[m], path,
                           status);
                if (atoi (status) < 400 || strncmp (path, "/api/", 5) != 0)
                    continue;
                json_t *schema = json_object_get (
                    json_object_get (json_object_get (response, "content"), "application/json"),
                    "schema");
                cr_assert (schema && s_deref (document, schema) == error_schema,
                           "%s %s: response %s is not application/json Error", s_methods[m], path,
                           status);
                errors_checked++;
            }
            //  Every API operation may meet a service that is down.
            if (strncmp (path, "/api/", 5) == 0)
                cr_assert (json_object_get (responses, "503"), "%s %s: no 503", s_methods[m], path);
            //  Signed-in operations answer 401; limited ones 429 with Retry-After.
            if (json_object_get (operation, "security"))
                cr_assert (json_object_get (responses, "401"), "%s %s: no 401", s_methods[m], path);
            const char *class =
                json_string_value (json_object_get (operation, "x-paperbus-rate-limit"));
            if (class) {
                cr_assert (strcmp (class, "signin") == 0 || strcmp (class, "subscribe") == 0 ||
                               strcmp (class, "vote") == 0,
                           "%s %s: rate limit class %s", s_methods[m], path, class);
                json_t *too_many = s_deref (document, json_object_get (responses, "429"));
                cr_assert (json_object_get (json_object_get (too_many, "headers"), "Retry-After"),
                           "%s %s: no 429 with Retry-After", s_methods[m], path);
                limited++;
            }
        }
    }
    cr_assert_gt (errors_checked, 100);
    cr_assert_eq (limited, 5,
                  "%zu operations are rate-limited, not 5 (signin: POST /api/signin and "
                  "/api/session; subscribe; vote: POST and DELETE)",
                  limited);
    json_decref (document);
}
