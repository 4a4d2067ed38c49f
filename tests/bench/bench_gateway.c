/*  bench_gateway — the HTTP front door under load, with the whole stack on
    this machine: wrk against GET /api/papers?window=trending and
    GET /api/search, requests/s and p99.

    The stack: bus, ingest, index, rank and two gateways, one as deployed
    (anonymous answers cached for PAPERBUS_GATEWAY_CACHE_MS) and one with
    the cache off, so every request goes through the bus to rank and the
    index. The corpus (../shared/corpus, else the bundled sample) is
    loaded through ingest, and votes are cast through rank so the lists
    have something in them. Beside the API, in the same run: the same
    gateway serving a static file from memory (the HTTP ceiling of
    libmicrohttpd on this machine, with wrk on the same 2 cores) and, for
    search, a different query on every request so the cache cannot help.
    Each figure is the median of RUNS wrk runs.
*/
#include "paperbus.h"
#include "pbbench.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define RUNS          3
#define SECONDS       8
#define CONNECTIONS   64
#define VOTED_PAPERS  2000
#define VOTES         20000
#define WINDOW        512 //  votes in flight
#define CACHED_PORT   8191
#define UNCACHED_PORT 8192
#define DATABASE      "paperbus_bench_gateway"

static char *s_environment[] = {"PAPERBUS_BUS_REQUESTS=tcp://127.0.0.1:5671",
                                "PAPERBUS_BUS_EVENTS_IN=tcp://127.0.0.1:5672",
                                "PAPERBUS_BUS_EVENTS_OUT=tcp://127.0.0.1:5673",
                                "PAPERBUS_LOG_LEVEL=error",
                                "PAPERBUS_HTTP_ADDRESS=127.0.0.1",
                                NULL};

typedef struct {
    double requests_per_s;
    double p50_ms, p99_ms;
    long errors; //  non-2xx answers and socket errors
} load_t;

//  A wrk latency like "5.23ms", "812.00us" or "1.02s", in milliseconds.
static double s_wrk_ms (const char *text)
{
    char *end;
    double value = strtod (text, &end);
    if (strncmp (end, "us", 2) == 0)
        return value / 1000;
    if (strncmp (end, "ms", 2) == 0)
        return value;
    if (*end == 's')
        return value * 1000;
    return value;
}

//  One wrk run against URL (with SCRIPT, or NULL). Returns 0 with LOAD.
static int s_wrk_once (const char *url, const char *script, load_t *load)
{
    char command[4096];
    snprintf (command, sizeof command, "wrk -t2 -c%d -d%ds --latency %s%s '%s' 2>&1", CONNECTIONS,
              SECONDS, script ? "-s " : "", script ? script : "", url);
    FILE *out = popen (command, "r");
    if (!out)
        return -1;
    *load = (load_t){0};
    char line[512];
    while (fgets (line, sizeof line, out)) {
        char *p = line + strspn (line, " \t");
        if (strncmp (p, "Requests/sec:", 13) == 0)
            load->requests_per_s = strtod (p + 13, NULL);
        else if (strncmp (p, "50%", 3) == 0)
            load->p50_ms = s_wrk_ms (p + 3 + strspn (p + 3, " \t"));
        else if (strncmp (p, "99%", 3) == 0)
            load->p99_ms = s_wrk_ms (p + 3 + strspn (p + 3, " \t"));
        else if (strncmp (p, "Non-2xx or 3xx responses:", 25) == 0)
            load->errors += strtol (p + 25, NULL, 10);
        else if (strncmp (p, "Socket errors:", 14) == 0) {
            //  "Socket errors: connect 0, read 0, write 0, timeout 0"
            for (char *n = p + 14; *n; n++)
                if (*n >= '0' && *n <= '9') {
                    load->errors += strtol (n, &n, 10);
                    n--;
                }
        }
    }
    return pclose (out) == 0 && load->requests_per_s > 0 ? 0 : -1;
}

//  RUNS runs; the median of each figure.
static load_t s_wrk (const char *url, const char *script)
{
    double rps[RUNS], p50[RUNS], p99[RUNS];
    long errors = 0;
    for (int run = 0; run < RUNS; run++) {
        load_t load;
        if (s_wrk_once (url, script, &load)) {
            fprintf (stderr, "bench_gateway: wrk failed on %s\n", url);
            load = (load_t){0};
        }
        rps[run] = load.requests_per_s;
        p50[run] = load.p50_ms;
        p99[run] = load.p99_ms;
        errors += load.errors;
    }
    return (load_t){pbbench_median (rps, RUNS), pbbench_median (p50, RUNS),
                    pbbench_median (p99, RUNS), errors};
}

//  Casts VOTES votes on the first VOTED_PAPERS papers, heavy-tailed so
//  the lists have an order: paper i gets about VOTES / (i + 1) / H votes.
static long s_cast_votes (pb_config_t *config, pbbench_paper_t *papers, size_t count)
{
    pb_client_t *client = pb_client_new (config);
    size_t voted = count < VOTED_PAPERS ? count : VOTED_PAPERS;
    long sent = 0, answered = 0, refused = 0;
    uint64_t state = 42;
    msgpack_sbuffer body;
    msgpack_sbuffer_init (&body);
    while (answered < VOTES) {
        while (sent < VOTES && sent - answered < WINDOW) {
            //  Zipf-like: the square of a uniform number favours small indices.
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            double u = (double)(state >> 11) / 9007199254740992.0;
            size_t paper = (size_t)(u * u * (double)voted);
            char user[32];
            snprintf (user, sizeof user, "bench-%ld", sent);
            msgpack_sbuffer_clear (&body);
            msgpack_packer packer;
            msgpack_packer_init (&packer, &body, msgpack_sbuffer_write);
            msgpack_pack_map (&packer, 2);
            msgpack_pack_str_with_body (&packer, "paper", 5);
            msgpack_pack_str_with_body (&packer, papers[paper].id, strlen (papers[paper].id));
            msgpack_pack_str_with_body (&packer, "user", 4);
            msgpack_pack_str_with_body (&packer, user, strlen (user));
            if (!pb_client_send (client, "rank.vote", body.data, body.size))
                break;
            sent++;
        }
        pb_reply_t reply = {0};
        if (pb_client_recv (client, 10000, &reply))
            break;
        refused += reply.status != 0;
        answered++;
        pb_reply_reset (&reply);
    }
    msgpack_sbuffer_destroy (&body);
    pb_client_destroy (&client);
    return answered - refused;
}

//  Waits until URL answers 200 (up to 60 s).
static int s_wait_http (const char *url)
{
    char command[1024];
    snprintf (command, sizeof command, "curl -fsS -o /dev/null '%s' 2>/dev/null", url);
    for (int i = 0; i < 600; i++) {
        if (system (command) == 0)
            return 0;
        usleep (100000);
    }
    return -1;
}

//  How many papers a search for a common word finds, through the gateway.
static long s_indexed (int port)
{
    char command[256];
    snprintf (command, sizeof command,
              "curl -fsS 'http://127.0.0.1:%d/api/search?q=model&per_page=1' | "
              "grep -o '\"total\":[0-9]*' | cut -d: -f2",
              port);
    FILE *out = popen (command, "r");
    long total = -1;
    if (out) {
        if (fscanf (out, "%ld", &total) != 1)
            total = -1;
        pclose (out);
    }
    return total;
}

//  A wrk script that asks each query of QUERIES in turn, percent-encoded.
static char *s_search_script (const char *queries)
{
    char *path = strdup ("/tmp/bench_gateway_XXXXXX.lua");
    int fd = mkstemps (path, 4);
    FILE *out = fd >= 0 ? fdopen (fd, "w") : NULL;
    if (!out) {
        free (path);
        return NULL;
    }
    fprintf (out,
             "local queries = {}\n"
             "for line in io.lines(\"%s\") do\n"
             "  if #line > 0 then queries[#queries + 1] = line end\n"
             "end\n"
             "local i = math.random(#queries)\n"
             "local function encode(s)\n"
             "  return (s:gsub(\"[^%%w%%-_%%.~]\", function(c)\n"
             "    return string.format(\"%%%%%%02X\", string.byte(c)) end))\n"
             "end\n"
             "request = function()\n"
             "  i = i %% #queries + 1\n"
             "  local page = math.random(5)\n"
             "  return wrk.format(\"GET\", \"/api/search?q=\" .. encode(queries[i]) .. "
             "\"&page=\" .. page)\n"
             "end\n",
             queries);
    fclose (out);
    return path;
}

static void s_row (const char *what, const load_t *load, const char *versus)
{
    printf ("| %s | %.0f | %.2f | %.2f | %ld | %s |\n", what, load->requests_per_s, load->p50_ms,
            load->p99_ms, load->errors, versus);
}

int main (void)
{
    pb_log_init ("bench", PB_LOG_WARN);
    const char *url = getenv ("PAPERBUS_DATABASE_URL");
    const char *bin = getenv ("PAPERBUS_BIN_DIR");
    const char *root = getenv ("PAPERBUS_ROOT") ?: ".";
    if (!url || !bin) {
        fprintf (stderr, "bench_gateway: run it with make bench\n");
        return 1;
    }
    if (system ("command -v wrk >/dev/null") != 0) {
        printf ("## Gateway: HTTP under load\n\nNot measured: wrk is not installed (Debian "
                "package wrk; `make bench` installs it).\n\n");
        return 0;
    }
    for (char **assignment = s_environment; *assignment; assignment++)
        putenv (*assignment);
    char error[256];
    pb_config_t *config = pb_config_load (error, sizeof error);
    pb_db_t *admin = pb_db_new (url, "bench", 30);
    if (!config || !admin)
        return 1;
    pb_db_run (admin, "DROP DATABASE IF EXISTS " DATABASE " WITH (FORCE)", NULL);
    if (pb_db_run (admin, "CREATE DATABASE " DATABASE, NULL) < 0) {
        fprintf (stderr, "bench_gateway: %s\n", pb_db_error (admin));
        return 1;
    }
    pb_db_destroy (&admin);
    char *database_url = pbbench_database_url (url, DATABASE);
    char database[4200];
    snprintf (database, sizeof database, "PAPERBUS_DATABASE_URL=%s", database_url);
    setenv ("PAPERBUS_DATABASE_URL", database_url, 1);

    char *no_extra[] = {database, NULL};
    pid_t bus = pbbench_start (bin, "bus", s_environment, NULL);
    usleep (300000);
    pid_t ingest = pbbench_start (bin, "ingest", s_environment, no_extra);
    usleep (500000); //  ingest applies the migrations before the others look
    pid_t index = pbbench_start (bin, "index", s_environment, no_extra);
    pid_t rank = pbbench_start (bin, "rank", s_environment, no_extra);
    //  notify only so that /healthz finds every service it needs.
    pid_t notify = pbbench_start (bin, "notify", s_environment, no_extra);
    char cached_port[64], uncached_port[64];
    snprintf (cached_port, sizeof cached_port, "PAPERBUS_HTTP_PORT=%d", CACHED_PORT);
    snprintf (uncached_port, sizeof uncached_port, "PAPERBUS_HTTP_PORT=%d", UNCACHED_PORT);
    char *cached_extra[] = {database, cached_port, NULL};
    char *uncached_extra[] = {database, uncached_port, "PAPERBUS_GATEWAY_CACHE_MS=0", NULL};
    pid_t cached = pbbench_start (bin, "gateway", s_environment, cached_extra);
    pid_t uncached = pbbench_start (bin, "gateway", s_environment, uncached_extra);

    //  The corpus, through ingest, as a deployment would load it.
    pbbench_paper_t *papers = NULL;
    const char *corpus = NULL;
    size_t count = pbbench_load_papers (0, &papers, &corpus);
    char command[8192];
    snprintf (command, sizeof command,
              "cd '%s' && d=../shared/corpus; [ -d $d/arxiv-daily ] || d=deploy/sample; "
              "PAPERBUS_LOG_LEVEL=error '%s/paperctl' ingest $d/arxiv-daily/*.jsonl $d/hf/*.json "
              ">/dev/null",
              root, bin);
    int64_t load_start = pbbench_now_ns ();
    if (system (command) != 0)
        fprintf (stderr, "bench_gateway: loading the corpus failed\n");
    long votes = s_cast_votes (config, papers, count);
    //  The index follows ingest's events; wait until it has them all.
    char health[128];
    snprintf (health, sizeof health, "http://127.0.0.1:%d/api/papers?window=trending",
              UNCACHED_PORT);
    s_wait_http (health);
    long indexed = -1, before;
    int waited_s = 0;
    do {
        before = indexed;
        sleep (1);
        indexed = s_indexed (UNCACHED_PORT);
    } while ((indexed != before || indexed <= 0) && ++waited_s < 300);
    double load_s = (double)(pbbench_now_ns () - load_start) / 1e9;
    fprintf (stderr,
             "bench_gateway: %zu records read, %ld papers match \"model\", %ld votes, in %.1f s\n",
             count, indexed, votes, load_s);

    char trending_cached[128], trending_uncached[128], static_file[128], search_cached[160],
        search_uncached[160];
    snprintf (trending_cached, sizeof trending_cached,
              "http://127.0.0.1:%d/api/papers?window=trending", CACHED_PORT);
    snprintf (trending_uncached, sizeof trending_uncached,
              "http://127.0.0.1:%d/api/papers?window=trending", UNCACHED_PORT);
    snprintf (static_file, sizeof static_file, "http://127.0.0.1:%d/healthz", CACHED_PORT);
    snprintf (search_cached, sizeof search_cached,
              "http://127.0.0.1:%d/api/search?q=language%%20model", CACHED_PORT);
    snprintf (search_uncached, sizeof search_uncached, "http://127.0.0.1:%d/", UNCACHED_PORT);
    char queries[4200];
    snprintf (queries, sizeof queries, "%s/../shared/corpus/queries.txt", root);
    if (access (queries, R_OK) != 0)
        snprintf (queries, sizeof queries, "%s/tests/data/queries.txt", root);
    char *script = s_search_script (queries);

    char static_url[128];
    snprintf (static_url, sizeof static_url, "http://127.0.0.1:%d/static/app.css", CACHED_PORT);
    load_t ceiling = s_wrk (static_url, NULL);
    load_t health_load = s_wrk (static_file, NULL);
    load_t trending = s_wrk (trending_cached, NULL);
    load_t trending_bus = s_wrk (trending_uncached, NULL);
    load_t search = s_wrk (search_cached, NULL);
    load_t search_bus = s_wrk (search_uncached, script);

    printf ("## Gateway: HTTP under load\n\n");
    printf ("The whole stack on this machine (bus, ingest, index, rank, notify, gateway), the "
            "%zu records of %s loaded through ingest and %ld votes cast through rank (load %.0f "
            "s). wrk "
            "with 2 threads and %d connections on the same 2 cores, %d s per run, median of "
            "%d runs. Gateways with the default %d threads; \"cached\" is the gateway as "
            "deployed (anonymous answers kept for PAPERBUS_GATEWAY_CACHE_MS, 1 s), \"no "
            "cache\" a second gateway with PAPERBUS_GATEWAY_CACHE_MS=0, where every request "
            "makes its bus calls (trending: rank.top, index.get; search: index.search, "
            "rank.votes). Search without the cache asks a different query of the %s on each "
            "request, pages 1-5. Beside them, in the same run: a static file from the "
            "gateway's memory, the HTTP ceiling here, and /healthz (one bus.status call).\n\n",
            count, corpus, votes, load_s, CONNECTIONS, SECONDS, RUNS, 4,
            strstr (queries, "shared") ? "144 queries of shared/corpus/queries.txt"
                                       : "queries of tests/data/queries.txt");
    printf ("| request | requests/s | p50 ms | p99 ms | errors | versus |\n"
            "|---|---:|---:|---:|---:|---|\n");
    char versus[128];
    s_row ("static file (`/static/app.css`)", &ceiling, "the ceiling");
    snprintf (versus, sizeof versus, "%.0f%% of the ceiling",
              100 * health_load.requests_per_s / ceiling.requests_per_s);
    s_row ("`/healthz` (bus.status)", &health_load, versus);
    snprintf (versus, sizeof versus, "%.0f%% of the ceiling",
              100 * trending.requests_per_s / ceiling.requests_per_s);
    s_row ("**trending**, cached", &trending, versus);
    snprintf (versus, sizeof versus, "%.2f× cached",
              trending_bus.requests_per_s / trending.requests_per_s);
    s_row ("trending, no cache", &trending_bus, versus);
    snprintf (versus, sizeof versus, "%.0f%% of the ceiling",
              100 * search.requests_per_s / ceiling.requests_per_s);
    s_row ("search, one query, cached", &search, versus);
    snprintf (versus, sizeof versus, "%.2f× cached",
              search_bus.requests_per_s / search.requests_per_s);
    s_row ("search, a new query each time, no cache", &search_bus, versus);
    bool met = trending.requests_per_s >= 10000 && trending.p99_ms <= 20 && trending.errors == 0;
    bool met_bus = trending_bus.requests_per_s >= 10000 && trending_bus.p99_ms <= 20 &&
                   trending_bus.errors == 0;
    printf ("\nTarget: trending at ≥ 10,000 requests/s with p99 ≤ 20 ms: %s as deployed "
            "(%.0f/s, p99 %.2f ms); %s with the cache off (%.0f/s, p99 %.2f ms).\n\n",
            met ? "met" : "**not met**", trending.requests_per_s, trending.p99_ms,
            met_bus ? "also met" : "**not met**", trending_bus.requests_per_s, trending_bus.p99_ms);

    if (script) {
        unlink (script);
        free (script);
    }
    pid_t pids[] = {cached, uncached, notify, rank, index, ingest, bus};
    for (size_t i = 0; i < sizeof pids / sizeof pids[0]; i++) {
        kill (pids[i], SIGTERM);
        waitpid (pids[i], NULL, 0);
    }
    pbbench_papers_free (papers, count);
    free (database_url);
    pb_config_destroy (&config);
    return 0;
}
