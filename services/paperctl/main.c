/*  paperctl — the paperbus command-line client.

    paperctl config [--markdown]     the effective settings, or the README table
    paperctl migrate                 apply pending database migrations
    paperctl events                  list the event log's topics and their last seq
    paperctl events TOPIC [--after SEQ] [--limit N] [--follow]
                                     print TOPIC's events, one per line: SEQ TOPIC JSON
*/
#include "paperbus.h"

#include <czmq.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENTS_PAGE    1000
#define FOLLOW_POLL_MS 200

static void s_usage (FILE *out)
{
    fprintf (out, "usage: paperctl COMMAND [OPTIONS]\n"
                  "  config [--markdown]   show the effective settings (or the README table)\n"
                  "  migrate               apply pending database migrations\n"
                  "  events                list the event log's topics and their last seq\n"
                  "  events TOPIC [--after SEQ] [--limit N] [--follow]\n"
                  "                        print TOPIC's events, one per line: SEQ TOPIC JSON\n");
}

static pb_db_t *s_connect (pb_config_t *config)
{
    return pb_db_new (pb_config_str (config, PB_CONF_DATABASE_URL), "paperctl",
                      (int)pb_config_int (config, PB_CONF_DB_CONNECT_TIMEOUT));
}

static int s_config (pb_config_t *config, int argc, char **argv)
{
    if (argc > 1 && strcmp (argv[1], "--markdown") == 0)
        pb_config_print_markdown (stdout);
    else
        pb_config_print_values (config, stdout);
    return 0;
}

static int s_migrate (pb_config_t *config)
{
    pb_db_t *db = s_connect (config);
    if (!db)
        return 1;
    int applied = 0;
    int rc = pb_migrate (db, pb_migrations, pb_migration_count, &applied);
    if (rc == 0)
        printf ("schema up to date: %d migration(s) applied now, %zu known\n", applied,
                pb_migration_count);
    pb_db_destroy (&db);
    return rc ? 1 : 0;
}

typedef struct {
    int64_t last_seq; //  highest seq printed
    int64_t printed;  //  events printed so far
    int64_t limit;    //  stop after this many (0: no limit)
} events_state_t;

//  Writes a msgpack object as JSON: str as JSON strings, bin as its size.
static void s_print_json (FILE *out, msgpack_object object)
{
    switch (object.type) {
    case MSGPACK_OBJECT_NIL:
        fputs ("null", out);
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        fputs (object.via.boolean ? "true" : "false", out);
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        fprintf (out, "%llu", (unsigned long long)object.via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        fprintf (out, "%lld", (long long)object.via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        fprintf (out, "%.17g", object.via.f64);
        break;
    case MSGPACK_OBJECT_STR:
        fputc ('"', out);
        for (uint32_t i = 0; i < object.via.str.size; i++) {
            unsigned char c = (unsigned char)object.via.str.ptr[i];
            if (c == '"' || c == '\\')
                fprintf (out, "\\%c", c);
            else if (c < 0x20)
                fprintf (out, "\\u%04x", c);
            else
                fputc (c, out);
        }
        fputc ('"', out);
        break;
    case MSGPACK_OBJECT_ARRAY:
        fputc ('[', out);
        for (uint32_t i = 0; i < object.via.array.size; i++) {
            if (i)
                fputc (',', out);
            s_print_json (out, object.via.array.ptr[i]);
        }
        fputc (']', out);
        break;
    case MSGPACK_OBJECT_MAP:
        fputc ('{', out);
        for (uint32_t i = 0; i < object.via.map.size; i++) {
            if (i)
                fputc (',', out);
            s_print_json (out, object.via.map.ptr[i].key);
            fputc (':', out);
            s_print_json (out, object.via.map.ptr[i].val);
        }
        fputc ('}', out);
        break;
    case MSGPACK_OBJECT_BIN:
    case MSGPACK_OBJECT_EXT:
        fprintf (out, "\"<%u bytes>\"", object.via.bin.size);
        break;
    }
}

//  Prints one event as "SEQ TOPIC PAYLOAD", the payload as JSON.
static int s_print_event (const pb_event_t *event, void *arg)
{
    events_state_t *state = arg;
    printf ("%lld %s ", (long long)event->seq, event->topic);
    pb_codec_error_t error;
    if (pb_codec_validate (event->payload, event->size, event->size, &error) == 0) {
        //  Validated first: msgpack_unpack is only safe on bounded input.
        msgpack_zone zone;
        msgpack_zone_init (&zone, 2048);
        msgpack_object object;
        if (msgpack_unpack (event->payload, event->size, NULL, &zone, &object) ==
            MSGPACK_UNPACK_SUCCESS)
            s_print_json (stdout, object);
        msgpack_zone_destroy (&zone);
    } else
        printf ("\"<%zu bytes, not msgpack: %s>\"", event->size, error.message);
    putchar ('\n');
    state->last_seq = event->seq;
    state->printed++;
    return state->limit && state->printed >= state->limit ? -1 : 0;
}

//  Prints each topic with the seq of its last event.
static int s_list_topics (pb_db_t *db)
{
    PGresult *result =
        pb_db_query (db, "SELECT topic, last_seq FROM event_topic ORDER BY topic", NULL);
    if (!result) {
        pb_error ("cannot read the event log: %s", pb_db_error (db));
        return 1;
    }
    for (int row = 0; row < PQntuples (result); row++)
        printf ("%s %s\n", PQgetvalue (result, row, 0), PQgetvalue (result, row, 1));
    PQclear (result);
    return 0;
}

static int s_events (pb_config_t *config, int argc, char **argv)
{
    static const struct option options[] = {{"after", required_argument, NULL, 'a'},
                                            {"limit", required_argument, NULL, 'l'},
                                            {"follow", no_argument, NULL, 'f'},
                                            {NULL, 0, NULL, 0}};
    events_state_t state = {0};
    bool follow = false;
    int option;
    optind = 1;
    while ((option = getopt_long (argc, argv, "", options, NULL)) != -1) {
        char *end;
        switch (option) {
        case 'a':
            state.last_seq = strtoll (optarg, &end, 10);
            if (*end || state.last_seq < 0) {
                fprintf (stderr, "paperctl events: --after wants a sequence number, not '%s'\n",
                         optarg);
                return 2;
            }
            break;
        case 'l':
            state.limit = strtoll (optarg, &end, 10);
            if (*end || state.limit < 1) {
                fprintf (stderr, "paperctl events: --limit wants a positive number, not '%s'\n",
                         optarg);
                return 2;
            }
            break;
        case 'f':
            follow = true;
            break;
        default:
            s_usage (stderr);
            return 2;
        }
    }
    const char *topic = optind < argc ? argv[optind] : NULL;
    if (topic && !pb_eventlog_topic_valid (topic)) {
        fprintf (stderr, "paperctl events: '%s' is not a topic name ([a-z0-9_.-], 1..%d bytes)\n",
                 topic, PB_EVENT_TOPIC_MAX);
        return 2;
    }
    pb_db_t *db = s_connect (config);
    if (!db)
        return 1;
    if (!topic) {
        int rc = s_list_topics (db);
        pb_db_destroy (&db);
        return rc;
    }
    int rc = 0;
    while (!pb_service_stopping ()) {
        int read = pb_eventlog_read (db, topic, state.last_seq, EVENTS_PAGE, s_print_event, &state);
        if (read < 0) {
            pb_error ("cannot read the event log: %s", pb_db_error (db));
            rc = 1;
            break;
        }
        fflush (stdout);
        if (state.limit && state.printed >= state.limit)
            break;
        if (read == EVENTS_PAGE)
            continue;
        if (!follow)
            break;
        zclock_sleep (FOLLOW_POLL_MS);
    }
    pb_db_destroy (&db);
    return rc;
}

int main (int argc, char **argv)
{
    if (argc < 2 || strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0) {
        s_usage (argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    pb_config_t *config = pb_service_start ("paperctl");
    const char *command = argv[1];
    int rc;
    if (strcmp (command, "config") == 0)
        rc = s_config (config, argc - 1, argv + 1);
    else if (strcmp (command, "migrate") == 0)
        rc = s_migrate (config);
    else if (strcmp (command, "events") == 0)
        rc = s_events (config, argc - 1, argv + 1);
    else {
        fprintf (stderr, "paperctl: unknown command '%s'\n", command);
        s_usage (stderr);
        rc = 2;
    }
    pb_service_finish (&config);
    return rc;
}
