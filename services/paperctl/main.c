/*  paperctl — the paperbus command-line client.

    paperctl status [--json]         what the bus knows: services, workers, queues
    paperctl health [SERVICE] [--timeout MS]
                                     exit 0 when the bus answers (and SERVICE has a live
                                     worker): the containers' health check
    paperctl call METHOD [JSON]      call any service; prints the reply as JSON
    paperctl publish TOPIC JSON      append an event to the log, then publish it
    paperctl ingest FILE... [--url URL]...  send papers from files (- for stdin) or URLs
    paperctl harvest arxiv --category C [--since D] [--api] [--base-url U] [--wait]
                                     harvest an arXiv category (OAI-PMH, or the query API)
    paperctl search QUERY [--limit N] [--offset N] [--sort S] [--json]
                                     search the index
    paperctl similar ID [--limit N] [--json]  papers like paper ID
    paperctl events                  list the event log's topics and their last seq
    paperctl events TOPIC [--after SEQ] [--limit N] [--follow]
                                     print TOPIC's events, one per line: SEQ TOPIC JSON
    paperctl migrate                 apply pending database migrations
    paperctl config [--markdown]     the effective settings, or the README table
    paperctl proto [--errors]        the message reference (or error table) of PROTOCOL.md
*/
#include "paperbus.h"
#include "pb_feed.h"
#include "pb_http.h"
#include "pb_json.h"

#include <errno.h>

#include <czmq.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EVENTS_PAGE    1000
#define FOLLOW_POLL_MS 200

static void s_usage (FILE *out)
{
    fprintf (out,
             "usage: paperctl COMMAND [OPTIONS]\n"
             "  status [--json]       what the bus knows: services, workers, queues, counters\n"
             "  health [SERVICE] [--timeout MS]\n"
             "                        exit 0 when the bus answers bus.status within MS (3000)\n"
             "                        and, given SERVICE (other than bus), it has a live worker;\n"
             "                        else say why and exit 1 (the containers' health check; a\n"
             "                        bus bound to tcp://*:PORT is asked at 127.0.0.1:PORT)\n"
             "  call METHOD [JSON]    call a service (\"bus.status\" '{}'); print the reply\n"
             "  publish TOPIC JSON    append an event to the log, then publish it on the bus\n"
             "  ingest FILE... [--url URL]...\n"
             "                        send the papers in FILEs (- for stdin) or at URLs to ingest\n"
             "  harvest arxiv --category C [--since YYYY-MM-DD] [--api] [--base-url U] [--wait]\n"
             "                        harvest an arXiv category, resuming an unfinished harvest\n"
             "  search QUERY [--limit N] [--offset N] [--sort relevance|date|trending] [--json]\n"
             "                        search the index (words, \"phrases\", -not, ti: au: cat:\n"
             "                        since: until: id:)\n"
             "  similar ID [--limit N] [--json]\n"
             "                        papers like paper ID\n"
             "  vote ID --user U [--json], unvote ID --user U [--json]\n"
             "                        cast (or withdraw) U's upvote for paper ID\n"
             "  trending [--window day|week|month|trending] [--date YYYY-MM-DD] [--limit N]\n"
             "           [--offset N] [--user U] [--json]\n"
             "                        the top papers of a day, week or month, or trending now\n"
             "  subscribe EMAIL [--query Q] [--category C]... [--author A]... [--trending N]\n"
             "            [--daily|--weekly] [--hour H] [--time-zone TZ] [--json]\n"
             "                        ask for digests; a confirmation mail goes to EMAIL first\n"
             "  confirm TOKEN         confirm a subscription (the token of the mailed link)\n"
             "  unsubscribe EMAIL | --token TOKEN\n"
             "                        delete a subscription, with its address and history\n"
             "  digests run [--now] [--no-wait] [--timeout S] [--json]\n"
             "                        send the digests due (--now: before their hour too), and\n"
             "                        wait until they are sent\n"
             "  digests status [--json]\n"
             "                        subscriptions and mails, by state\n"
             "  events                list the event log's topics and their last seq\n"
             "  events TOPIC [--after SEQ] [--limit N] [--follow]\n"
             "                        print TOPIC's events, one per line: SEQ TOPIC JSON\n"
             "  migrate               apply pending database migrations\n"
             "  config [--markdown]   show the effective settings (or the README table)\n"
             "  proto [--errors]      print the message reference (or error table)\n");
}

static pb_db_t *s_connect (pb_config_t *config)
{
    return pb_db_new (pb_config_str (config, PB_CONF_DATABASE_URL), "paperctl",
                      (int)pb_config_int (config, PB_CONF_DB_CONNECT_TIMEOUT));
}

//  Prints a msgpack body as one line of JSON.
static void s_print_body (pb_config_t *config, const void *data, size_t size)
{
    char error[256];
    json_t *json = pb_json_from_msgpack (
        data, size, (size_t)pb_config_int (config, PB_CONF_MAX_FRAME), error, sizeof error);
    if (!json) {
        printf ("\"<%zu bytes, not msgpack: %s>\"\n", size, error);
        return;
    }
    char *text = json_dumps (json, JSON_COMPACT | JSON_ENCODE_ANY);
    printf ("%s\n", text);
    free (text);
    json_decref (json);
}

//  Calls METHOD with BODY; on success leaves the reply in REPLY and returns 0.
static int s_call (pb_config_t *config, const char *method, const void *body, size_t size,
                   pb_reply_t *reply)
{
    pb_client_t *client = pb_client_new (config);
    if (!client)
        return -1;
    int rc = pb_client_call (client, method, body, size,
                             (int)pb_config_int (config, PB_CONF_REQUEST_TIMEOUT_MS), 2, reply);
    pb_client_destroy (&client);
    if (rc == 0 && reply->status == PB_OK)
        return 0;
    fprintf (stderr, "paperctl: %s failed: %s\n", method, reply->error);
    return -1;
}

/* ==== search, similar ==== */

//  Prints a snippet for a terminal: marked words in bold (or *stars* when
//  not a terminal), HTML entities decoded.
static void s_print_snippet (const char *snippet, size_t length)
{
    bool terminal = isatty (STDOUT_FILENO);
    static const struct {
        const char *from, *to_terminal, *to_text;
    } replacements[] = {{"<mark>", "\033[1m", "*"}, {"</mark>", "\033[0m", "*"},
                        {"&lt;", "<", "<"},         {"&gt;", ">", ">"},
                        {"&amp;", "&", "&"},        {"&quot;", "\"", "\""}};
    printf ("    ");
    for (size_t i = 0; i < length;) {
        bool replaced = false;
        for (size_t r = 0; r < sizeof replacements / sizeof replacements[0] && !replaced; r++) {
            size_t from = strlen (replacements[r].from);
            if (i + from <= length && memcmp (snippet + i, replacements[r].from, from) == 0) {
                fputs (terminal ? replacements[r].to_terminal : replacements[r].to_text, stdout);
                i += from;
                replaced = true;
            }
        }
        if (!replaced)
            putchar (snippet[i++]);
    }
    putchar ('\n');
}

static void s_print_hits (const pb_index_search_reply_t *reply, size_t offset)
{
    for (uint32_t i = 0; i < reply->hits.count; i++) {
        const pb_search_hit_t *hit = &((const pb_search_hit_t *)reply->hits.items)[i];
        printf ("%3zu. %.*s  %.*s  (%.3f%s)\n", offset + i + 1, (int)hit->id.len, hit->id.ptr,
                (int)hit->title.len, hit->title.ptr, hit->score,
                pb_has (hit, PB_search_hit_pinned) && hit->pinned ? ", exact match" : "");
        printf ("    ");
        for (uint32_t a = 0; a < hit->authors.count && a < 5; a++)
            printf ("%s%.*s", a ? ", " : "", (int)hit->authors.items[a].len,
                    hit->authors.items[a].ptr);
        if (hit->authors.count > 5)
            printf (" and %u more", hit->authors.count - 5);
        if (hit->categories.count)
            printf (" \xc2\xb7 %.*s", (int)hit->categories.items[0].len,
                    hit->categories.items[0].ptr);
        if (pb_has (hit, PB_search_hit_published))
            printf (" \xc2\xb7 %.*s", (int)hit->published.len, hit->published.ptr);
        printf ("\n");
        if (pb_has (hit, PB_search_hit_snippet) && hit->snippet.len)
            s_print_snippet (hit->snippet.ptr, hit->snippet.len);
    }
}

//  Calls METHOD with BODY and prints the hits, as JSON when AS_JSON.
static int s_hits_command (pb_config_t *config, const char *method, msgpack_sbuffer *body,
                           bool as_json, size_t offset)
{
    pb_reply_t reply = {0};
    if (s_call (config, method, body->data, body->size, &reply)) {
        pb_reply_reset (&reply);
        return 1;
    }
    int rc = 0;
    if (as_json)
        s_print_body (config, zframe_data (reply.body), zframe_size (reply.body));
    else {
        pb_arena_t *arena = pb_arena_new ();
        pb_index_search_reply_t hits;
        pb_codec_error_t error;
        if (pb_decode (zframe_data (reply.body), zframe_size (reply.body), zframe_size (reply.body),
                       &pb_index_search_reply_schema, &hits, arena, &error)) {
            fprintf (stderr, "paperctl: %s: a malformed reply: %s\n", method, error.message);
            rc = 1;
        } else {
            if (strcmp (method, "index.search") == 0)
                printf ("%s%lld papers\n", hits.total_exact ? "" : "about ", (long long)hits.total);
            if (pb_has (&hits, PB_index_search_reply_note))
                printf ("(%.*s)\n", (int)hits.note.len, hits.note.ptr);
            s_print_hits (&hits, offset);
        }
        pb_arena_destroy (&arena);
    }
    pb_reply_reset (&reply);
    return rc;
}

//  The number after OPTION, within 0..MAX, or -1 after saying why.
static long s_number_option (const char *option, const char *text, long max)
{
    char *end;
    long value = strtol (text, &end, 10);
    if (*text == '\0' || *end || value < 0 || value > max) {
        fprintf (stderr, "paperctl: %s wants a number from 0 to %ld\n", option, max);
        return -1;
    }
    return value;
}

static int s_search_command (pb_config_t *config, int argc, char **argv, bool similar)
{
    const char *subject = NULL, *sort = NULL;
    long limit = 10, offset = 0;
    bool as_json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--json") == 0)
            as_json = true;
        else if (strcmp (argv[i], "--limit") == 0 && i + 1 < argc) {
            if ((limit = s_number_option ("--limit", argv[++i], 100)) < 0)
                return 2;
        } else if (!similar && strcmp (argv[i], "--offset") == 0 && i + 1 < argc) {
            if ((offset = s_number_option ("--offset", argv[++i], 999)) < 0)
                return 2;
        } else if (!similar && strcmp (argv[i], "--sort") == 0 && i + 1 < argc)
            sort = argv[++i];
        else if (!subject && (argv[i][0] != '-' || argv[i][1] != '-'))
            subject = argv[i];
        else {
            s_usage (stderr);
            return 2;
        }
    }
    if (!subject) {
        s_usage (stderr);
        return 2;
    }
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &body, msgpack_sbuffer_write);
    if (similar) {
        pb_index_similar_request_t request = {0};
        request.id = pb_str (subject);
        request.limit = limit ? limit : 10;
        pb_set_present (&request, PB_index_similar_request_limit);
        pb_encode (&pb_index_similar_request_schema, &request, &packer);
    } else {
        pb_index_search_request_t request = {0};
        request.query = pb_str (subject);
        request.limit = limit;
        request.offset = offset;
        pb_set_present (&request, PB_index_search_request_limit);
        pb_set_present (&request, PB_index_search_request_offset);
        if (sort) {
            request.sort = pb_str (sort);
            pb_set_present (&request, PB_index_search_request_sort);
        }
        pb_encode (&pb_index_search_request_schema, &request, &packer);
    }
    int rc = s_hits_command (config, similar ? "index.similar" : "index.search", &body, as_json,
                             (size_t)offset);
    msgpack_sbuffer_destroy (&body);
    return rc;
}

/* ==== vote, unvote, trending ==== */

static int s_vote_command (pb_config_t *config, int argc, char **argv, bool up)
{
    const char *paper = NULL, *user = NULL;
    bool as_json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--json") == 0)
            as_json = true;
        else if (strcmp (argv[i], "--user") == 0 && i + 1 < argc)
            user = argv[++i];
        else if (!paper && argv[i][0] != '-')
            paper = argv[i];
        else {
            s_usage (stderr);
            return 2;
        }
    }
    if (!paper || !user) {
        fprintf (stderr, "usage: paperctl %s ID --user U [--json]\n", argv[0]);
        return 2;
    }
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &body, msgpack_sbuffer_write);
    pb_vote_request_t request = {.paper = pb_str (paper), .user = pb_str (user)};
    pb_encode (&pb_vote_request_schema, &request, &packer);
    pb_reply_t reply = {0};
    int rc = 1;
    if (s_call (config, up ? "rank.vote" : "rank.unvote", body.data, body.size, &reply) == 0) {
        pb_arena_t *arena = pb_arena_new ();
        pb_vote_reply_t vote;
        pb_codec_error_t error;
        if (as_json) {
            s_print_body (config, zframe_data (reply.body), zframe_size (reply.body));
            rc = 0;
        } else if (pb_decode (zframe_data (reply.body), zframe_size (reply.body),
                              zframe_size (reply.body), &pb_vote_reply_schema, &vote, arena,
                              &error))
            fprintf (stderr, "paperctl: a malformed reply: %s\n", error.message);
        else {
            printf ("%.*s: %lld upvote%s (%s)\n", (int)vote.paper.len, vote.paper.ptr,
                    (long long)vote.upvotes, vote.upvotes == 1 ? "" : "s",
                    up ? (vote.changed ? "vote counted" : "already counted")
                       : (vote.changed ? "vote withdrawn" : "there was no vote"));
            rc = 0;
        }
        pb_arena_destroy (&arena);
    }
    pb_reply_reset (&reply);
    msgpack_sbuffer_destroy (&body);
    return rc;
}

//  Calls METHOD with the JSON TEXT; returns the reply as JSON, or NULL.
static json_t *s_call_json (pb_config_t *config, const char *method, json_t *request)
{
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &body, msgpack_sbuffer_write);
    pb_json_to_msgpack (request, &packer);
    pb_reply_t reply = {0};
    json_t *json = NULL;
    if (s_call (config, method, body.data, body.size, &reply) == 0) {
        char error[256];
        json = pb_json_from_msgpack (zframe_data (reply.body), zframe_size (reply.body),
                                     (size_t)pb_config_int (config, PB_CONF_MAX_FRAME), error,
                                     sizeof error);
        if (!json)
            fprintf (stderr, "paperctl: %s: a malformed reply: %s\n", method, error);
    }
    pb_reply_reset (&reply);
    msgpack_sbuffer_destroy (&body);
    return json;
}

static void s_print_ranked (json_t *hits, size_t offset)
{
    size_t i;
    json_t *hit;
    json_array_foreach (hits, i, hit)
    {
        const char *title = json_string_value (json_object_get (hit, "title"));
        printf ("%3zu. %s  %s  (%lld upvote%s, score %.3f%s)\n", offset + i + 1,
                json_string_value (json_object_get (hit, "id")), title ? title : "(not indexed)",
                (long long)json_integer_value (json_object_get (hit, "upvotes")),
                json_integer_value (json_object_get (hit, "upvotes")) == 1 ? "" : "s",
                json_number_value (json_object_get (hit, "score")),
                json_is_true (json_object_get (hit, "voted")) ? ", voted" : "");
        json_t *authors = json_object_get (hit, "authors");
        if (json_array_size (authors)) {
            printf ("    ");
            for (size_t a = 0; a < json_array_size (authors) && a < 5; a++)
                printf ("%s%s", a ? ", " : "", json_string_value (json_array_get (authors, a)));
            if (json_array_size (authors) > 5)
                printf (" and %zu more", json_array_size (authors) - 5);
            const char *day = json_string_value (json_object_get (hit, "published"));
            if (day)
                printf (" \xc2\xb7 %s", day);
            printf ("\n");
        }
    }
}

static int s_trending_command (pb_config_t *config, int argc, char **argv)
{
    json_t *request = json_pack ("{s:s}", "window", "trending");
    bool as_json = false;
    long offset = 0;
    for (int i = 1; i < argc; i++) {
        long number;
        if (strcmp (argv[i], "--json") == 0)
            as_json = true;
        else if (strcmp (argv[i], "--window") == 0 && i + 1 < argc)
            json_object_set_new (request, "window", json_string (argv[++i]));
        else if (strcmp (argv[i], "--date") == 0 && i + 1 < argc)
            json_object_set_new (request, "date", json_string (argv[++i]));
        else if (strcmp (argv[i], "--user") == 0 && i + 1 < argc)
            json_object_set_new (request, "user", json_string (argv[++i]));
        else if (strcmp (argv[i], "--limit") == 0 && i + 1 < argc) {
            if ((number = s_number_option ("--limit", argv[++i], 100)) < 0)
                goto usage;
            json_object_set_new (request, "limit", json_integer (number ? number : 1));
        } else if (strcmp (argv[i], "--offset") == 0 && i + 1 < argc) {
            if ((offset = s_number_option ("--offset", argv[++i], 999)) < 0)
                goto usage;
            json_object_set_new (request, "offset", json_integer (offset));
        } else {
            s_usage (stderr);
            goto usage;
        }
    }
    json_t *top = s_call_json (config, "rank.top", request);
    json_decref (request);
    if (!top)
        return 1;
    //  Titles and authors come from the index, in one call for the page.
    json_t *ranked = json_object_get (top, "papers");
    json_t *ids = json_array ();
    size_t i;
    json_t *paper;
    json_array_foreach (ranked, i, paper) json_array_append (ids, json_object_get (paper, "id"));
    json_t *papers = NULL;
    if (json_array_size (ids)) {
        json_t *get = json_pack ("{s:o}", "ids", ids);
        papers = s_call_json (config, "index.get", get);
        json_decref (get);
        if (!papers) {
            json_decref (top);
            return 1;
        }
    } else
        json_decref (ids);
    json_t *hits = json_array ();
    json_array_foreach (ranked, i, paper)
    {
        json_t *found = NULL, *candidate;
        size_t j;
        json_array_foreach (json_object_get (papers, "papers"), j,
                            candidate) if (json_equal (json_object_get (candidate, "id"),
                                                       json_object_get (paper, "id"))) found =
            candidate;
        json_array_append_new (hits, pb_json_ranked_hit (paper, found));
    }
    json_t *out = json_object ();
    json_object_set (out, "window", json_object_get (top, "window"));
    if (json_object_get (top, "first_day")) {
        json_object_set (out, "first_day", json_object_get (top, "first_day"));
        json_object_set (out, "last_day", json_object_get (top, "last_day"));
    }
    json_object_set (out, "total", json_object_get (top, "total"));
    json_object_set (out, "hits", hits);
    if (as_json) {
        char *text = json_dumps (out, JSON_COMPACT);
        printf ("%s\n", text);
        free (text);
    } else {
        const char *first = json_string_value (json_object_get (top, "first_day"));
        const char *last = json_string_value (json_object_get (top, "last_day"));
        if (first && strcmp (first, last))
            printf ("%s to %s: %lld papers\n", first, last,
                    (long long)json_integer_value (json_object_get (top, "total")));
        else if (first)
            printf ("%s: %lld papers\n", first,
                    (long long)json_integer_value (json_object_get (top, "total")));
        else
            printf ("trending: %lld papers\n",
                    (long long)json_integer_value (json_object_get (top, "total")));
        s_print_ranked (hits, (size_t)offset);
    }
    json_decref (hits);
    json_decref (out);
    json_decref (papers);
    json_decref (top);
    return 0;
usage:
    json_decref (request);
    return 2;
}

/* ==== subscribe, confirm, unsubscribe, digests ==== */

//  Prints REPLY as JSON when AS_JSON; returns whether it did.
static bool s_print_json (json_t *reply, bool as_json)
{
    if (!as_json)
        return false;
    char *text = json_dumps (reply, JSON_COMPACT);
    printf ("%s\n", text);
    free (text);
    return true;
}

static void s_print_time (const char *label, json_int_t ms)
{
    time_t seconds = (time_t)(ms / 1000);
    struct tm tm;
    char text[32];
    gmtime_r (&seconds, &tm);
    strftime (text, sizeof text, "%Y-%m-%d %H:%M UTC", &tm);
    printf ("%s%s", label, text);
}

static int s_subscribe_command (pb_config_t *config, int argc, char **argv)
{
    json_t *request = json_object ();
    json_t *categories = json_array (), *authors = json_array ();
    bool as_json = false;
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        bool has_value = i + 1 < argc;
        if (strcmp (argv[i], "--json") == 0)
            as_json = true;
        else if (strcmp (argv[i], "--daily") == 0 || strcmp (argv[i], "--weekly") == 0)
            json_object_set_new (request, "cadence", json_string (argv[i] + 2));
        else if (strcmp (argv[i], "--query") == 0 && has_value)
            json_object_set_new (request, "query", json_string (argv[++i]));
        else if (strcmp (argv[i], "--category") == 0 && has_value)
            json_array_append_new (categories, json_string (argv[++i]));
        else if (strcmp (argv[i], "--author") == 0 && has_value)
            json_array_append_new (authors, json_string (argv[++i]));
        else if (strcmp (argv[i], "--trending") == 0 && has_value)
            json_object_set_new (request, "trending",
                                 json_integer (s_number_option ("--trending", argv[++i], 50)));
        else if (strcmp (argv[i], "--hour") == 0 && has_value)
            json_object_set_new (request, "hour",
                                 json_integer (s_number_option ("--hour", argv[++i], 23)));
        else if (strcmp (argv[i], "--time-zone") == 0 && has_value)
            json_object_set_new (request, "time_zone", json_string (argv[++i]));
        else if (!json_object_get (request, "email") && argv[i][0] != '-')
            json_object_set_new (request, "email", json_string (argv[i]));
        else
            goto usage;
    }
    if (!json_object_get (request, "email"))
        goto usage;
    if (json_array_size (categories))
        json_object_set (request, "categories", categories);
    if (json_array_size (authors))
        json_object_set (request, "authors", authors);
    json_t *reply = s_call_json (config, "notify.subscribe", request);
    rc = reply ? 0 : 1;
    if (reply && !s_print_json (reply, as_json)) {
        printf ("a confirmation mail is on its way to %s; nothing else is sent before its link "
                "is followed (it works until ",
                json_string_value (json_object_get (reply, "email")));
        s_print_time ("", json_integer_value (json_object_get (reply, "expires_at")));
        printf (")\n");
    }
    json_decref (reply);
    goto done;
usage:
    fprintf (stderr, "usage: paperctl subscribe EMAIL [--query Q] [--category C]... "
                     "[--author A]... [--trending N] [--daily|--weekly] [--hour H] "
                     "[--time-zone TZ] [--json]\n");
done:
    json_decref (categories);
    json_decref (authors);
    json_decref (request);
    return rc;
}

static int s_confirm_command (pb_config_t *config, int argc, char **argv)
{
    bool as_json = argc == 3 && strcmp (argv[2], "--json") == 0;
    if (argc != 2 && !as_json) {
        fprintf (stderr, "usage: paperctl confirm TOKEN [--json]\n");
        return 2;
    }
    json_t *request = json_pack ("{s:s}", "token", argv[1]);
    json_t *reply = s_call_json (config, "notify.confirm", request);
    json_decref (request);
    if (!reply)
        return 1;
    if (!s_print_json (reply, as_json))
        printf ("%s is subscribed: %s digests at %02lld:00 %s\n",
                json_string_value (json_object_get (reply, "email")),
                json_string_value (json_object_get (reply, "cadence")),
                (long long)json_integer_value (json_object_get (reply, "hour")),
                json_string_value (json_object_get (reply, "time_zone")));
    json_decref (reply);
    return 0;
}

static int s_unsubscribe_command (pb_config_t *config, int argc, char **argv)
{
    json_t *request = NULL;
    if (argc == 2 && argv[1][0] != '-')
        request = json_pack ("{s:s}", "email", argv[1]);
    else if (argc == 3 && strcmp (argv[1], "--token") == 0)
        request = json_pack ("{s:s}", "token", argv[2]);
    else {
        fprintf (stderr, "usage: paperctl unsubscribe EMAIL | --token TOKEN\n");
        return 2;
    }
    json_t *reply = s_call_json (config, "notify.unsubscribe", request);
    json_decref (request);
    if (!reply)
        return 1;
    printf ("%s\n", json_is_true (json_object_get (reply, "removed"))
                        ? "unsubscribed: the address and its history are deleted"
                        : "there was no subscription to delete");
    json_decref (reply);
    return 0;
}

//  The mail states of a notify.status reply, and how paperctl says them.
static const char *const s_mail_states[] = {"queued", "retrying", "sent",
                                            "empty",  "failed",   "bounced"};
static const char *const s_mail_state_labels[] = {"due",         "retrying later", "sent",
                                                  "nothing new", "given up",       "bounced"};

//  Prints the counts of a notify.status reply.
static void s_print_digest_counts (json_t *status)
{
    const char *const *names = s_mail_states, *const *labels = s_mail_state_labels;
    const char *separator = "";
    for (size_t i = 0; i < sizeof s_mail_states / sizeof *s_mail_states; i++) {
        json_int_t count = json_integer_value (json_object_get (status, names[i]));
        if (count || i == 2) {
            printf ("%s%lld %s", separator, (long long)count, labels[i]);
            separator = ", ";
        }
    }
    printf ("\n");
}

static int s_digests_command (pb_config_t *config, int argc, char **argv)
{
    bool run = argc >= 2 && strcmp (argv[1], "run") == 0;
    bool status = argc >= 2 && strcmp (argv[1], "status") == 0;
    bool force = false, wait = true, as_json = false;
    long timeout_s = 600;
    for (int i = 2; i < argc && (run || status); i++) {
        if (run && strcmp (argv[i], "--now") == 0)
            force = true;
        else if (run && strcmp (argv[i], "--no-wait") == 0)
            wait = false;
        else if (run && strcmp (argv[i], "--timeout") == 0 && i + 1 < argc)
            timeout_s = s_number_option ("--timeout", argv[++i], 86400);
        else if (strcmp (argv[i], "--json") == 0)
            as_json = true;
        else
            run = status = false;
    }
    if (!run && !status) {
        fprintf (stderr, "usage: paperctl digests run [--now] [--no-wait] [--timeout S] [--json]\n"
                         "       paperctl digests status [--json]\n");
        return 2;
    }
    if (status) {
        json_t *request = json_object ();
        json_t *reply = s_call_json (config, "notify.status", request);
        json_decref (request);
        if (!reply)
            return 1;
        if (!s_print_json (reply, as_json)) {
            printf ("%lld subscriptions (%lld bouncing), %lld waiting for confirmation; mails: ",
                    (long long)json_integer_value (json_object_get (reply, "subscriptions")),
                    (long long)json_integer_value (json_object_get (reply, "bouncing")),
                    (long long)json_integer_value (json_object_get (reply, "pending")));
            s_print_digest_counts (reply);
        }
        json_decref (reply);
        return 0;
    }
    json_t *request = json_pack ("{s:b}", "now", force);
    json_t *started = s_call_json (config, "notify.run", request);
    json_decref (request);
    if (!started)
        return 1;
    if (!wait) {
        if (!s_print_json (started, as_json))
            printf ("run %lld asked for\n",
                    (long long)json_integer_value (json_object_get (started, "run")));
        json_decref (started);
        return 0;
    }
    //  Wait until the scheduler has queued the run's digests, and each is
    //  sent, found empty, or set aside.
    json_t *progress = json_pack ("{s:O}", "run", json_object_get (started, "run"));
    json_t *reply = NULL;
    int64_t deadline = zclock_mono () + timeout_s * 1000;
    int rc = 0;
    while (true) {
        json_decref (reply);
        reply = s_call_json (config, "notify.status", progress);
        if (!reply) {
            rc = 1;
            break;
        }
        if (json_is_true (json_object_get (reply, "run_done")) &&
            json_integer_value (json_object_get (reply, "queued")) == 0)
            break;
        if (zclock_mono () > deadline || pb_service_stopping ()) {
            fprintf (stderr, "paperctl: the run is not over after %ld s\n", timeout_s);
            rc = 1;
            break;
        }
        zclock_sleep (200);
    }
    if (reply && !s_print_json (reply, as_json)) {
        json_int_t total = 0;
        for (size_t i = 0; i < sizeof s_mail_states / sizeof *s_mail_states; i++)
            total += json_integer_value (json_object_get (reply, s_mail_states[i]));
        printf ("%lld digest%s: ", (long long)total, total == 1 ? "" : "s");
        s_print_digest_counts (reply);
    }
    json_decref (reply);
    json_decref (progress);
    json_decref (started);
    return rc;
}

/* ==== status ==== */

static int s_status (pb_config_t *config, int argc, char **argv)
{
    bool as_json = argc > 1 && strcmp (argv[1], "--json") == 0;
    const char request[] = "\x81\xa7workers\xc3"; //  {"workers": true}
    pb_reply_t reply = {0};
    if (s_call (config, "bus.status", request, sizeof request - 1, &reply)) {
        pb_reply_reset (&reply);
        return 1;
    }
    int rc = 0;
    if (as_json)
        s_print_body (config, zframe_data (reply.body), zframe_size (reply.body));
    else {
        pb_status_reply_t status;
        pb_codec_error_t error;
        pb_arena_t *arena = pb_arena_new ();
        if (pb_decode (zframe_data (reply.body), zframe_size (reply.body),
                       (size_t)pb_config_int (config, PB_CONF_MAX_FRAME), &pb_status_reply_schema,
                       &status, arena, &error)) {
            fprintf (stderr, "paperctl: bad bus.status reply: %s\n", error.message);
            rc = 1;
        } else {
            pb_bus_counters_t *c = &status.counters;
            printf ("bus up %.1f s: %lld requests, %lld replies, %lld errors, %lld dropped "
                    "frames, %lld expired workers, %lld events (%lld dropped)\n\n",
                    (double)c->uptime_ms / 1000, (long long)c->requests, (long long)c->replies,
                    (long long)c->errors, (long long)c->dropped_frames,
                    (long long)c->expired_workers, (long long)c->events,
                    (long long)c->dropped_events);
            printf ("%-16s %8s %8s %9s %10s %8s %8s\n", "service", "workers", "queued", "in flight",
                    "requests", "errors", "expired");
            for (uint32_t i = 0; i < status.services.count; i++) {
                pb_service_status_t *service = (pb_service_status_t *)status.services.items + i;
                printf ("%-16.*s %8lld %8lld %9lld %10lld %8lld %8lld\n", (int)service->name.len,
                        service->name.ptr, (long long)service->live_workers,
                        (long long)service->queued, (long long)service->in_flight,
                        (long long)service->requests, (long long)service->errors,
                        (long long)service->expired_workers);
                for (uint32_t w = 0; w < service->workers.count; w++) {
                    pb_worker_status_t *worker = (pb_worker_status_t *)service->workers.items + w;
                    printf ("  worker %.*s: credit %lld, in flight %lld, served %lld, silent "
                            "%lld ms\n",
                            (int)worker->id.len, worker->id.ptr, (long long)worker->credit,
                            (long long)worker->in_flight, (long long)worker->served,
                            (long long)worker->silent_ms);
                }
            }
        }
        pb_arena_destroy (&arena);
    }
    pb_reply_reset (&reply);
    return rc;
}

/* ==== health ==== */

//  The endpoint to ask the bus at: ENDPOINT, or for a bind address with a
//  wildcard host (tcp://*:5555, tcp://0.0.0.0:5555, as the bus's own
//  container has it) the same port on 127.0.0.1. The caller frees it.
static char *s_health_endpoint (const char *endpoint)
{
    static const char *const wildcards[] = {"tcp://*:", "tcp://0.0.0.0:"};
    for (size_t i = 0; i < sizeof wildcards / sizeof wildcards[0]; i++) {
        size_t length = strlen (wildcards[i]);
        if (strncmp (endpoint, wildcards[i], length) == 0) {
            char *local = NULL;
            if (asprintf (&local, "tcp://127.0.0.1:%s", endpoint + length) < 0)
                return NULL;
            return local;
        }
    }
    return strdup (endpoint);
}

//  paperctl health [SERVICE] [--timeout MS]: 0 when the bus answers and
//  SERVICE (unless it is the bus) has a live worker; 1 with the reason.
static int s_health (pb_config_t *config, int argc, char **argv)
{
    const char *service = NULL;
    long timeout_ms = 3000;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--timeout") == 0 && i + 1 < argc) {
            if ((timeout_ms = s_number_option ("--timeout", argv[++i], 600000)) < 0)
                return 2;
        } else if (!service && argv[i][0] != '-')
            service = argv[i];
        else {
            s_usage (stderr);
            return 2;
        }
    }
    if (service && strcmp (service, "bus") == 0)
        service = NULL;
    if (service && !pb_bus_service_valid (service, strlen (service))) {
        fprintf (stderr, "paperctl: '%s' is not a service name\n", service);
        return 2;
    }
    if (timeout_ms < 10)
        timeout_ms = 10;
    char *endpoint = s_health_endpoint (pb_config_str (config, PB_CONF_BUS_REQUESTS));
    if (!endpoint)
        return 1;
    //  The client reads its endpoint from the configuration: load one that
    //  names the endpoint to ask.
    setenv ("PAPERBUS_BUS_REQUESTS", endpoint, 1);
    char error[1024];
    pb_config_t *asking = pb_config_load (error, sizeof error);
    if (!asking) {
        fprintf (stderr, "paperctl: unhealthy: %s\n", error);
        free (endpoint);
        return 1;
    }
    int rc = 1;
    pb_reply_t reply = {0};
    pb_client_t *client = pb_client_new (asking);
    const char request[] = "\x80"; //  {}
    if (!client)
        fprintf (stderr, "paperctl: unhealthy: cannot connect to the bus at %s\n", endpoint);
    else if (pb_client_call (client, "bus.status", request, sizeof request - 1, (int)timeout_ms, 0,
                             &reply) != 0)
        fprintf (stderr, "paperctl: unhealthy: the bus at %s did not answer within %ld ms\n",
                 endpoint, timeout_ms);
    else if (reply.status != PB_OK)
        fprintf (stderr, "paperctl: unhealthy: the bus at %s answered bus.status with %s\n",
                 endpoint, reply.error);
    else if (!service) {
        printf ("healthy: the bus at %s answers\n", endpoint);
        rc = 0;
    } else {
        pb_status_reply_t status;
        pb_codec_error_t codec_error;
        pb_arena_t *arena = pb_arena_new ();
        if (pb_decode (zframe_data (reply.body), zframe_size (reply.body),
                       (size_t)pb_config_int (config, PB_CONF_MAX_FRAME), &pb_status_reply_schema,
                       &status, arena, &codec_error))
            fprintf (stderr, "paperctl: unhealthy: a bad bus.status reply: %s\n",
                     codec_error.message);
        else {
            int64_t live = 0;
            for (uint32_t i = 0; i < status.services.count; i++) {
                pb_service_status_t *known = (pb_service_status_t *)status.services.items + i;
                if (known->name.len == strlen (service) &&
                    memcmp (known->name.ptr, service, known->name.len) == 0)
                    live = known->live_workers;
            }
            if (live > 0) {
                printf ("healthy: the bus at %s answers; %s has %lld live worker%s\n", endpoint,
                        service, (long long)live, live == 1 ? "" : "s");
                rc = 0;
            } else
                fprintf (stderr, "paperctl: unhealthy: %s has no live worker at the bus at %s\n",
                         service, endpoint);
        }
        pb_arena_destroy (&arena);
    }
    pb_reply_reset (&reply);
    pb_client_destroy (&client);
    pb_config_destroy (&asking);
    free (endpoint);
    return rc;
}

/* ==== call and publish ==== */

//  Parses TEXT as JSON and packs it into BUFFER; returns 0 or -1 (printed).
static int s_json_body (const char *text, msgpack_sbuffer *buffer)
{
    json_error_t error;
    json_t *json = json_loads (text, JSON_DECODE_ANY, &error);
    if (!json) {
        fprintf (stderr, "paperctl: not JSON (%s at character %d)\n", error.text, error.position);
        return -1;
    }
    msgpack_packer packer;
    msgpack_packer_init (&packer, buffer, msgpack_sbuffer_write);
    pb_json_to_msgpack (json, &packer);
    json_decref (json);
    return 0;
}

static int s_call_command (pb_config_t *config, int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        s_usage (stderr);
        return 2;
    }
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    if (s_json_body (argc == 3 ? argv[2] : "{}", &body)) {
        msgpack_sbuffer_destroy (&body);
        return 2;
    }
    pb_reply_t reply = {0};
    int rc = s_call (config, argv[1], body.data, body.size, &reply) ? 1 : 0;
    if (rc == 0)
        s_print_body (config, zframe_data (reply.body), zframe_size (reply.body));
    pb_reply_reset (&reply);
    msgpack_sbuffer_destroy (&body);
    return rc;
}

typedef struct {
    const char *topic;     //  where the event goes
    msgpack_sbuffer *body; //  its payload
    int64_t seq;           //  what the log gave it
} publication_t;

static int s_append_event (pb_db_t *db, void *arg)
{
    publication_t *publication = arg;
    publication->seq = pb_eventlog_append (db, publication->topic, publication->body->data,
                                           publication->body->size);
    return publication->seq < 0 ? -1 : 0;
}

static int s_publish (pb_config_t *config, int argc, char **argv)
{
    if (argc != 3) {
        s_usage (stderr);
        return 2;
    }
    if (!pb_eventlog_topic_valid (argv[1])) {
        fprintf (stderr, "paperctl publish: '%s' is not a topic name ([a-z0-9_.-])\n", argv[1]);
        return 2;
    }
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    int rc = 2;
    pb_db_t *db = NULL;
    pb_publisher_t *publisher = NULL;
    if (s_json_body (argv[2], &body))
        goto done;
    rc = 1;
    db = s_connect (config);
    publisher = pb_publisher_new (config);
    if (!db || !publisher)
        goto done;
    publication_t publication = {argv[1], &body, 0};
    if (pb_db_transaction (db, s_append_event, &publication)) {
        fprintf (stderr, "paperctl publish: %s\n", pb_db_error (db));
        goto done;
    }
    //  Committed first, then published: a subscriber that misses the
    //  publication finds the event in the log.
    zclock_sleep (200); //  let the new PUB connection reach the bus
    pb_publisher_send (publisher, argv[1], publication.seq, body.data, body.size);
    printf ("%s %lld\n", argv[1], (long long)publication.seq);
    rc = 0;
done:
    pb_publisher_destroy (&publisher);
    pb_db_destroy (&db);
    msgpack_sbuffer_destroy (&body);
    return rc;
}

/* ==== ingest ==== */

#define INGEST_BATCH   2000 //  papers per ingest.submit
#define INGEST_WINDOW  4    //  batches in flight at once, to keep every worker busy
#define INGEST_RESENDS 6    //  times a batch is sent again after a transient failure

//  A batch sent and not yet answered.
typedef struct {
    uint64_t request_id;     //  of its latest sending, 0 when the slot is free
    msgpack_sbuffer request; //  the encoded ingest.submit body
    int resends;             //  how often it was sent again
} ingest_batch_t;

typedef struct {
    pb_config_t *config;                     //  settings
    pb_client_t *client;                     //  to the bus
    const char *source;                      //  of the file being read
    char source_buffer[32];                  //  storage for source
    msgpack_sbuffer papers;                  //  encoded papers of the batch being filled
    size_t batch_count;                      //  how many are in it
    ingest_batch_t in_flight[INGEST_WINDOW]; //  sent, awaiting their replies
    int64_t totals[4];                       //  inserted, updated, unchanged, rejected
    bool failed;                             //  a batch could not be stored
} ingest_run_t;

static bool s_transient (int status)
{
    return status == PB_E_WORKER_DIED || status == PB_E_NO_WORKER || status == PB_E_TIMEOUT ||
           status == PB_E_UNAVAILABLE;
}

//  Counts and prints what became of a stored batch.
static void s_ingest_outcomes (ingest_run_t *run, pb_reply_t *reply)
{
    pb_ingest_submit_reply_t result;
    pb_codec_error_t error;
    pb_arena_t *arena = pb_arena_new ();
    if (pb_decode (zframe_data (reply->body), zframe_size (reply->body),
                   (size_t)pb_config_int (run->config, PB_CONF_MAX_FRAME),
                   &pb_ingest_submit_reply_schema, &result, arena, &error)) {
        fprintf (stderr, "paperctl ingest: unreadable reply: %s\n", error.message);
        run->failed = true;
    } else {
        run->totals[0] += result.inserted;
        run->totals[1] += result.updated;
        run->totals[2] += result.unchanged;
        run->totals[3] += result.rejected;
        for (uint32_t i = 0; i < result.outcomes.count; i++) {
            pb_ingest_outcome_t *outcome = (pb_ingest_outcome_t *)result.outcomes.items + i;
            if (pb_str_eq (outcome->outcome, "rejected"))
                printf ("rejected %.*s: %.*s\n", (int)outcome->position.len, outcome->position.ptr,
                        (int)outcome->reason.len, outcome->reason.ptr);
        }
    }
    pb_arena_destroy (&arena);
}

//  Waits for one reply and settles its batch: counted when stored, sent again
//  after a transient failure (ingest.submit is idempotent), or the run fails.
//  A deadline without any reply sends every batch in flight again.
static void s_ingest_settle_one (ingest_run_t *run)
{
    int timeout = (int)pb_config_int (run->config, PB_CONF_REQUEST_TIMEOUT_MS);
    pb_reply_t reply = {0};
    if (pb_client_recv (run->client, timeout, &reply)) {
        for (int b = 0; b < INGEST_WINDOW && !run->failed; b++) {
            ingest_batch_t *batch = &run->in_flight[b];
            if (!batch->request_id)
                continue;
            if (++batch->resends > INGEST_RESENDS || pb_service_stopping ()) {
                fprintf (stderr, "paperctl ingest: no answer from ingest after %d tries\n",
                         batch->resends);
                run->failed = true;
                break;
            }
            batch->request_id = pb_client_send (run->client, "ingest.submit", batch->request.data,
                                                batch->request.size);
        }
        return;
    }
    ingest_batch_t *batch = NULL;
    for (int b = 0; b < INGEST_WINDOW; b++)
        if (run->in_flight[b].request_id && run->in_flight[b].request_id == reply.request_id)
            batch = &run->in_flight[b];
    if (!batch) {
        pb_reply_reset (&reply); //  an answer to an earlier sending of a resent batch
        return;
    }
    if (reply.status == PB_OK) {
        s_ingest_outcomes (run, &reply);
        batch->request_id = 0;
    } else if (s_transient (reply.status) && ++batch->resends <= INGEST_RESENDS &&
               !pb_service_stopping ()) {
        pb_warn ("batch not stored (%s); sending it again", reply.error);
        zclock_sleep (100 << batch->resends);
        batch->request_id =
            pb_client_send (run->client, "ingest.submit", batch->request.data, batch->request.size);
    } else {
        fprintf (stderr, "paperctl ingest: a batch was not stored: %s\n", reply.error);
        run->failed = true;
        batch->request_id = 0;
    }
    pb_reply_reset (&reply);
}

static int s_ingest_busy (ingest_run_t *run)
{
    int busy = 0;
    for (int b = 0; b < INGEST_WINDOW; b++)
        busy += run->in_flight[b].request_id != 0;
    return busy;
}

//  Sends the papers collected so far as one ingest.submit, first making room
//  in the window.
static void s_ingest_flush (ingest_run_t *run)
{
    if (run->batch_count == 0 || run->failed)
        return;
    while (!run->failed && s_ingest_busy (run) == INGEST_WINDOW)
        s_ingest_settle_one (run);
    ingest_batch_t *batch = NULL;
    for (int b = 0; b < INGEST_WINDOW && !batch; b++)
        if (!run->in_flight[b].request_id)
            batch = &run->in_flight[b];
    if (!batch)
        return;
    msgpack_sbuffer_clear (&batch->request);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &batch->request, msgpack_sbuffer_write);
    msgpack_pack_map (&packer, 2);
    msgpack_pack_str_with_body (&packer, "source", 6);
    msgpack_pack_str_with_body (&packer, run->source, strlen (run->source));
    msgpack_pack_str_with_body (&packer, "papers", 6);
    msgpack_pack_array (&packer, (uint32_t)run->batch_count);
    msgpack_sbuffer_write (&batch->request, run->papers.data, run->papers.size);
    batch->resends = 0;
    batch->request_id =
        pb_client_send (run->client, "ingest.submit", batch->request.data, batch->request.size);
    msgpack_sbuffer_clear (&run->papers);
    run->batch_count = 0;
}

static void s_ingest_paper (const void *data, size_t size, void *arg)
{
    ingest_run_t *run = arg;
    msgpack_sbuffer_write (&run->papers, data, size);
    if (++run->batch_count == INGEST_BATCH)
        s_ingest_flush (run);
}

static void s_ingest_reject (const char *position, const char *reason, void *arg)
{
    ingest_run_t *run = arg;
    run->totals[3]++;
    printf ("rejected %s: %s\n", position, reason);
}

//  Reads a whole file, or standard input for "-". The caller frees it.
static char *s_read_all (const char *path, size_t *size)
{
    FILE *file = strcmp (path, "-") == 0 ? stdin : fopen (path, "rb");
    if (!file)
        return NULL;
    size_t capacity = 1 << 20, used = 0;
    char *data = malloc (capacity);
    size_t got;
    while (data && (got = fread (data + used, 1, capacity - used, file)) > 0) {
        used += got;
        if (used == capacity) {
            char *grown = realloc (data, capacity *= 2);
            if (!grown)
                free (data);
            data = grown;
        }
    }
    if (file != stdin)
        fclose (file);
    *size = used;
    return data;
}

/* ==== ingest: parsing files on two threads ==== */

#define PARSERS 2 //  files parsed at once; JSON parsing is most of the client's work

typedef struct {
    msgpack_sbuffer papers;  //  encoded papers, one after the other
    msgpack_sbuffer ends;    //  uint32 end offset of each paper in papers
    msgpack_sbuffer rejects; //  "position: reason\n" lines
    uint32_t reject_count;   //  how many lines
} parsed_t;

static void s_parsed_paper (const void *data, size_t size, void *arg)
{
    parsed_t *parsed = arg;
    msgpack_sbuffer_write (&parsed->papers, data, size);
    uint32_t end = (uint32_t)parsed->papers.size;
    msgpack_sbuffer_write (&parsed->ends, (const char *)&end, sizeof end);
}

static void s_parsed_reject (const char *position, const char *reason, void *arg)
{
    parsed_t *parsed = arg;
    char line[1024];
    int length = snprintf (line, sizeof line, "rejected %s: %s\n", position, reason);
    msgpack_sbuffer_write (&parsed->rejects, line,
                           (size_t)(length < (int)sizeof line ? length : (int)sizeof line - 1));
    parsed->reject_count++;
}

//  A parser thread: given a file name, answers with the file's papers
//  encoded, their end offsets, the rejected records and any error.
static void s_parser (zsock_t *pipe, void *arg)
{
    (void)arg;
    zsock_signal (pipe, 0);
    while (true) {
        char *command = NULL, *path = NULL;
        if (zsock_recv (pipe, "ss", &command, &path) < 0 || !command ||
            strcmp (command, "PARSE") != 0) {
            zstr_free (&command);
            zstr_free (&path);
            break; //  $TERM, or the pipe is gone
        }
        parsed_t parsed = {0};
        msgpack_sbuffer_init (&parsed.papers);
        msgpack_sbuffer_init (&parsed.ends);
        msgpack_sbuffer_init (&parsed.rejects);
        pb_feed_sink_t sink = {s_parsed_paper, s_parsed_reject, &parsed, NULL};
        size_t size;
        char *data = s_read_all (path, &size);
        char error[512] = "";
        const char *source = "jsonl";
        if (!data)
            snprintf (error, sizeof error, "cannot read %s: %s", path, strerror (errno));
        else {
            source = pb_feed_source (pb_feed_detect (data, size));
            if (pb_feed_parse (path, data, size, &sink, error, sizeof error) >= 0)
                error[0] = '\0';
        }
        free (data);
        zsock_send (pipe, "ssbbbs4", path, source, parsed.papers.data, parsed.papers.size,
                    parsed.ends.data, parsed.ends.size, parsed.rejects.data, parsed.rejects.size,
                    error, parsed.reject_count);
        msgpack_sbuffer_destroy (&parsed.papers);
        msgpack_sbuffer_destroy (&parsed.ends);
        msgpack_sbuffer_destroy (&parsed.rejects);
        zstr_free (&command);
        zstr_free (&path);
    }
}

//  Takes one parsed file from PARSER into the batches. Returns false if the
//  file was unusable.
static bool s_ingest_parsed (ingest_run_t *run, zactor_t *parser)
{
    char *path = NULL, *source = NULL, *error = NULL;
    zframe_t *papers = NULL, *ends = NULL, *rejects = NULL;
    uint32_t reject_count = 0;
    bool usable = true;
    if (zsock_recv (parser, "ssfffs4", &path, &source, &papers, &ends, &rejects, &error,
                    &reject_count) < 0)
        return false;
    if (*error) {
        fprintf (stderr, "paperctl ingest: %s\n", error);
        usable = false;
    }
    fwrite (zframe_data (rejects), 1, zframe_size (rejects), stdout);
    run->totals[3] += reject_count;
    //  Batches carry one source: change of source, change of batch.
    if (run->batch_count && strcmp (run->source, source) != 0)
        s_ingest_flush (run);
    snprintf (run->source_buffer, sizeof run->source_buffer, "%s", source);
    run->source = run->source_buffer;
    const char *data = (const char *)zframe_data (papers);
    const uint32_t *end = (const uint32_t *)zframe_data (ends);
    size_t count = zframe_size (ends) / sizeof *end;
    uint32_t begin = 0;
    for (size_t i = 0; i < count && !run->failed; i++) {
        uint32_t stop;
        memcpy (&stop, end + i, sizeof stop);
        s_ingest_paper (data + begin, stop - begin, run);
        begin = stop;
    }
    zframe_destroy (&papers);
    zframe_destroy (&ends);
    zframe_destroy (&rejects);
    zstr_free (&path);
    zstr_free (&source);
    zstr_free (&error);
    return usable;
}

static int s_ingest (pb_config_t *config, int argc, char **argv)
{
    if (argc < 2) {
        s_usage (stderr);
        return 2;
    }
    ingest_run_t run = {.config = config};
    run.client = pb_client_new (config);
    if (!run.client)
        return 1;
    msgpack_sbuffer_init (&run.papers);
    for (int b = 0; b < INGEST_WINDOW; b++)
        msgpack_sbuffer_init (&run.in_flight[b].request);
    pb_feed_sink_t sink = {s_ingest_paper, s_ingest_reject, &run, NULL};
    bool unusable = false;

    //  URLs are fetched and parsed here, one at a time (one connection).
    pb_http_t *http = NULL;
    zlistx_t *files = zlistx_new ();
    for (int i = 1; i < argc && !run.failed; i++) {
        if (strcmp (argv[i], "--url") != 0 || i + 1 >= argc) {
            zlistx_add_end (files, argv[i]);
            continue;
        }
        const char *url = argv[++i];
        if (!http)
            http = pb_http_new (config);
        pb_http_response_t response;
        char error[512];
        if (pb_http_get (http, url, &response, error, sizeof error)) {
            fprintf (stderr, "paperctl ingest: %s\n", error);
            unusable = true;
            continue;
        }
        //  arXiv answers a bad query with 400 and an Atom error entry, which
        //  the parser reports; other failures are errors here.
        if (response.status != 200 && response.status != 400) {
            fprintf (stderr, "paperctl ingest: %s answered HTTP %ld\n", url, response.status);
            free (response.body);
            unusable = true;
            continue;
        }
        if (run.batch_count)
            s_ingest_flush (&run);
        run.source = pb_feed_source (pb_feed_detect (response.body, response.size));
        if (pb_feed_parse (url, response.body, response.size, &sink, error, sizeof error) < 0) {
            fprintf (stderr, "paperctl ingest: %s\n", error);
            unusable = true;
        }
        s_ingest_flush (&run);
        free (response.body);
    }

    //  Files are parsed by two threads while this one sends and settles.
    zactor_t *parsers[PARSERS];
    zpoller_t *poller = zpoller_new (NULL);
    int busy = 0;
    for (int p = 0; p < PARSERS; p++) {
        parsers[p] = zactor_new (s_parser, NULL);
        zpoller_add (poller, parsers[p]);
    }
    for (int p = 0; p < PARSERS && zlistx_first (files); p++) {
        zsock_send (parsers[p], "ss", "PARSE", (char *)zlistx_detach (files, NULL));
        busy++;
    }
    while (busy && !run.failed && !pb_service_stopping ()) {
        zactor_t *ready = zpoller_wait (poller, -1);
        if (!ready)
            break;
        busy--;
        if (!s_ingest_parsed (&run, ready))
            unusable = true;
        if (zlistx_first (files)) {
            zsock_send (ready, "ss", "PARSE", (char *)zlistx_detach (files, NULL));
            busy++;
        }
    }
    zpoller_destroy (&poller);
    for (int p = 0; p < PARSERS; p++)
        zactor_destroy (&parsers[p]);
    zlistx_destroy (&files);
    s_ingest_flush (&run);

    while (!run.failed && s_ingest_busy (&run))
        s_ingest_settle_one (&run);
    for (int b = 0; b < INGEST_WINDOW; b++)
        msgpack_sbuffer_destroy (&run.in_flight[b].request);
    printf ("%lld inserted, %lld updated, %lld unchanged, %lld rejected\n",
            (long long)run.totals[0], (long long)run.totals[1], (long long)run.totals[2],
            (long long)run.totals[3]);
    msgpack_sbuffer_destroy (&run.papers);
    pb_client_destroy (&run.client);
    pb_http_destroy (&http);
    return run.failed || unusable || run.totals[3] ? 1 : 0;
}

/* ==== harvest ==== */

//  Decodes a harvest_status reply and prints it on one line; returns the
//  state ("done", ...) in STATE.
static int s_print_harvest (pb_config_t *config, pb_reply_t *reply, char *state)
{
    pb_harvest_status_t status;
    pb_codec_error_t error;
    pb_arena_t *arena = pb_arena_new ();
    int rc = pb_decode (zframe_data (reply->body), zframe_size (reply->body),
                        (size_t)pb_config_int (config, PB_CONF_MAX_FRAME),
                        &pb_harvest_status_schema, &status, arena, &error);
    if (rc == 0) {
        snprintf (state, 16, "%.*s", (int)status.state.len, status.state.ptr);
        printf ("%.*s %s: %lld pages, %lld papers%s%.*s\n", (int)status.source.len,
                status.source.ptr, state, (long long)status.pages, (long long)status.papers,
                status.last_error.len ? "; " : "", (int)status.last_error.len,
                status.last_error.ptr);
        fflush (stdout);
    } else
        fprintf (stderr, "paperctl harvest: unreadable reply: %s\n", error.message);
    pb_arena_destroy (&arena);
    return rc;
}

//  paperctl harvest arxiv --category C [--since D] [--api] [--base-url U] [--wait]
static int s_harvest_command (pb_config_t *config, int argc, char **argv)
{
    static const struct option options[] = {{"category", required_argument, NULL, 'c'},
                                            {"since", required_argument, NULL, 's'},
                                            {"api", no_argument, NULL, 'a'},
                                            {"base-url", required_argument, NULL, 'b'},
                                            {"wait", no_argument, NULL, 'w'},
                                            {NULL, 0, NULL, 0}};
    const char *category = NULL, *since = NULL, *base_url = NULL;
    bool api = false, wait = false;
    int option;
    optind = 1;
    while ((option = getopt_long (argc, argv, "", options, NULL)) != -1) {
        switch (option) {
        case 'c':
            category = optarg;
            break;
        case 's':
            since = optarg;
            break;
        case 'a':
            api = true;
            break;
        case 'b':
            base_url = optarg;
            break;
        case 'w':
            wait = true;
            break;
        default:
            s_usage (stderr);
            return 2;
        }
    }
    if (optind >= argc || strcmp (argv[optind], "arxiv") != 0 || !category) {
        fprintf (stderr, "usage: paperctl harvest arxiv --category CATEGORY [--since YYYY-MM-DD]"
                         " [--api] [--base-url URL] [--wait]\n");
        return 2;
    }
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &body, msgpack_sbuffer_write);
    pb_harvest_request_t request = {0};
    request.category = pb_str (category);
    request.method = pb_str (api ? "api" : "oai");
    pb_set_present (&request, PB_harvest_request_method);
    if (since) {
        request.since = pb_str (since);
        pb_set_present (&request, PB_harvest_request_since);
    }
    if (base_url) {
        request.base_url = pb_str (base_url);
        pb_set_present (&request, PB_harvest_request_base_url);
    }
    pb_encode (&pb_harvest_request_schema, &request, &packer);
    pb_reply_t reply = {0};
    char state[16] = "";
    int rc = s_call (config, "ingest.harvest", body.data, body.size, &reply) ? 1 : 0;
    char source[160];
    snprintf (source, sizeof source, "%s:%s", api ? "api" : "oai", category);
    if (rc == 0)
        rc = s_print_harvest (config, &reply, state) ? 1 : 0;
    pb_reply_reset (&reply);
    //  With --wait: follow it until it ends.
    while (rc == 0 && wait && strcmp (state, "done") != 0 && strcmp (state, "failed") != 0 &&
           !pb_service_stopping ()) {
        zclock_sleep (500);
        msgpack_sbuffer_clear (&body);
        pb_harvest_status_request_t query = {0};
        query.source = pb_str (source);
        pb_encode (&pb_harvest_status_request_schema, &query, &packer);
        rc = s_call (config, "ingest.harvest_status", body.data, body.size, &reply) ? 1 : 0;
        if (rc == 0)
            rc = s_print_harvest (config, &reply, state) ? 1 : 0;
        pb_reply_reset (&reply);
    }
    msgpack_sbuffer_destroy (&body);
    return rc ? rc : strcmp (state, "failed") == 0 ? 1 : 0;
}

/* ==== events, migrate, config, proto ==== */

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
    pb_config_t *config; //  for the frame limit
    int64_t last_seq;    //  highest seq printed
    int64_t printed;     //  events printed so far
    int64_t limit;       //  stop after this many (0: no limit)
} events_state_t;

//  Prints one event as "SEQ TOPIC JSON".
static int s_print_event (const pb_event_t *event, void *arg)
{
    events_state_t *state = arg;
    printf ("%lld %s ", (long long)event->seq, event->topic);
    s_print_body (state->config, event->payload, event->size);
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
    events_state_t state = {.config = config};
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
    if (strcmp (command, "status") == 0)
        rc = s_status (config, argc - 1, argv + 1);
    else if (strcmp (command, "health") == 0)
        rc = s_health (config, argc - 1, argv + 1);
    else if (strcmp (command, "call") == 0)
        rc = s_call_command (config, argc - 1, argv + 1);
    else if (strcmp (command, "publish") == 0)
        rc = s_publish (config, argc - 1, argv + 1);
    else if (strcmp (command, "harvest") == 0)
        rc = s_harvest_command (config, argc - 1, argv + 1);
    else if (strcmp (command, "ingest") == 0)
        rc = s_ingest (config, argc - 1, argv + 1);
    else if (strcmp (command, "events") == 0)
        rc = s_events (config, argc - 1, argv + 1);
    else if (strcmp (command, "search") == 0)
        rc = s_search_command (config, argc - 1, argv + 1, false);
    else if (strcmp (command, "similar") == 0)
        rc = s_search_command (config, argc - 1, argv + 1, true);
    else if (strcmp (command, "vote") == 0 || strcmp (command, "unvote") == 0)
        rc = s_vote_command (config, argc - 1, argv + 1, strcmp (command, "vote") == 0);
    else if (strcmp (command, "trending") == 0)
        rc = s_trending_command (config, argc - 1, argv + 1);
    else if (strcmp (command, "subscribe") == 0)
        rc = s_subscribe_command (config, argc - 1, argv + 1);
    else if (strcmp (command, "confirm") == 0)
        rc = s_confirm_command (config, argc - 1, argv + 1);
    else if (strcmp (command, "unsubscribe") == 0)
        rc = s_unsubscribe_command (config, argc - 1, argv + 1);
    else if (strcmp (command, "digests") == 0)
        rc = s_digests_command (config, argc - 1, argv + 1);
    else if (strcmp (command, "migrate") == 0)
        rc = s_migrate (config);
    else if (strcmp (command, "config") == 0) {
        if (argc > 2 && strcmp (argv[2], "--markdown") == 0)
            pb_config_print_markdown (stdout);
        else
            pb_config_print_values (config, stdout);
        rc = 0;
    } else if (strcmp (command, "proto") == 0) {
        if (argc > 2 && strcmp (argv[2], "--errors") == 0)
            pb_proto_print_errors_markdown (stdout);
        else
            pb_proto_print_markdown (stdout);
        rc = 0;
    } else {
        fprintf (stderr, "paperctl: unknown command '%s'\n", command);
        s_usage (stderr);
        rc = 2;
    }
    pb_service_finish (&config);
    return rc;
}
