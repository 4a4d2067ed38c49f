/*  proto/: the protocol reference matches the schemas the code uses, and
    the generated message types behave as the schemas say. */
#include "paperbus.h"
#include "pbtest.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static char *s_generated (void (*print) (FILE *))
{
    char *text;
    size_t size;
    FILE *out = open_memstream (&text, &size);
    print (out);
    fclose (out);
    return text;
}

static void s_assert_protocol_contains (const char *what, char *generated)
{
    char *path = pbtest_repo_path ("proto/PROTOCOL.md");
    char *document = pbtest_read_file (path, NULL);
    cr_assert (document, "cannot read %s", path);
    cr_assert (strstr (document, generated),
               "proto/PROTOCOL.md is out of date: its %s differ from proto/*.def "
               "(regenerate with `paperctl proto` / `paperctl proto --errors`)",
               what);
    free (document);
    free (path);
}

Test (proto, protocol_document_lists_every_message_as_the_schemas_define_it)
{
    char *messages = s_generated (pb_proto_print_markdown);
    s_assert_protocol_contains ("message tables", messages);
    free (messages);
}

Test (proto, protocol_document_error_table_is_the_one_the_code_uses)
{
    char *errors = s_generated (pb_proto_print_errors_markdown);
    s_assert_protocol_contains ("error codes", errors);
    free (errors);
}

Test (proto, generated_status_reply_round_trips_with_nested_lists)
{
    pb_worker_status_t workers[2] = {{0}};
    workers[0].id = pb_str ("00a1b2c3d4");
    workers[0].credit = 16;
    workers[1].id = pb_str ("00a1b2c3d5");
    workers[1].credit = 1;
    workers[1].served = 7;
    pb_service_status_t service = {0};
    service.name = pb_str ("index");
    service.live_workers = 2;
    service.workers.items = workers;
    service.workers.count = 2;
    pb_set_present (&service, PB_service_status_workers);
    pb_status_reply_t reply = {0};
    reply.services.items = &service;
    reply.services.count = 1;
    reply.counters.requests = 42;

    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &buffer, msgpack_sbuffer_write);
    cr_assert_eq (pb_encode (&pb_status_reply_schema, &reply, &packer), 0);

    pb_arena_t *arena = pb_arena_new ();
    pb_status_reply_t decoded;
    pb_codec_error_t error;
    cr_assert_eq (pb_decode (buffer.data, buffer.size, 1 << 20, &pb_status_reply_schema, &decoded,
                             arena, &error),
                  0, "%s", error.message);
    cr_assert_eq (decoded.counters.requests, 42);
    cr_assert_eq (decoded.services.count, 1);
    pb_service_status_t *got = decoded.services.items;
    cr_assert (pb_str_eq (got->name, "index"));
    cr_assert (pb_has (got, PB_service_status_workers));
    cr_assert_eq (got->workers.count, 2);
    cr_assert_eq (((pb_worker_status_t *)got->workers.items)[1].served, 7);
    pb_arena_destroy (&arena);
    msgpack_sbuffer_destroy (&buffer);
}

Test (proto, error_reply_enforces_its_limits)
{
    //  {"code": 0, "name": "x", "message": "m"}: code must be 1..65535.
    const char body[] = "\x83\xa4"
                        "code\x00\xa4"
                        "name\xa1x\xa7"
                        "message\xa1m";
    pb_arena_t *arena = pb_arena_new ();
    pb_error_reply_t decoded;
    pb_codec_error_t error;
    cr_assert_eq (
        pb_decode (body, sizeof body - 1, 1 << 20, &pb_error_reply_schema, &decoded, arena, &error),
        -1);
    cr_assert (strstr (error.message, "code: 0 is outside 1..65535"), "%s", error.message);
    pb_arena_destroy (&arena);
}
