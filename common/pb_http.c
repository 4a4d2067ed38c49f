/*  pb_http — GET with one connection, a size cap, retries and backoff. */
#include "pb_http.h"
#include "pb_log.h"

#include <curl/curl.h>
#include <czmq.h>
#include <stdlib.h>
#include <string.h>

struct _pb_http_t {
    CURL *curl;           //  one easy handle: one connection, reused
    char *user_agent;     //  sent with every request
    long timeout_ms;      //  per attempt
    int retries;          //  temporary failures retried (4)
    int first_backoff_ms; //  before the first retry (1 s; doubles each time)
};

typedef struct {
    char *data;     //  what arrived so far
    size_t size;    //  its bytes
    bool too_large; //  went past PB_HTTP_MAX_BODY
} body_t;

static size_t s_write (char *data, size_t size, size_t count, void *arg)
{
    body_t *body = arg;
    size_t bytes = size * count;
    if (body->size + bytes > PB_HTTP_MAX_BODY) {
        body->too_large = true;
        return 0; //  makes curl stop with CURLE_WRITE_ERROR
    }
    char *grown = realloc (body->data, body->size + bytes + 1);
    if (!grown)
        return 0;
    body->data = grown;
    memcpy (body->data + body->size, data, bytes);
    body->size += bytes;
    body->data[body->size] = '\0';
    return bytes;
}

pb_http_t *pb_http_new (pb_config_t *config)
{
    pb_http_t *self = calloc (1, sizeof *self);
    curl_global_init (CURL_GLOBAL_DEFAULT);
    self->curl = curl_easy_init ();
    self->user_agent = strdup (pb_config_str (config, PB_CONF_HTTP_USER_AGENT));
    self->timeout_ms = (long)pb_config_int (config, PB_CONF_HTTP_TIMEOUT_MS);
    self->retries = 4;
    self->first_backoff_ms = 1000;
    if (!self->curl) {
        pb_http_destroy (&self);
        return NULL;
    }
    return self;
}

void pb_http_destroy (pb_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    curl_easy_cleanup ((*self_p)->curl);
    free ((*self_p)->user_agent);
    free (*self_p);
    *self_p = NULL;
}

//  Temporary failures: worth asking again after a pause.
static bool s_temporary (CURLcode code, long status)
{
    if (code == CURLE_OPERATION_TIMEDOUT || code == CURLE_COULDNT_CONNECT ||
        code == CURLE_RECV_ERROR || code == CURLE_SEND_ERROR || code == CURLE_GOT_NOTHING ||
        code == CURLE_PARTIAL_FILE)
        return true;
    return code == CURLE_OK && (status == 429 || status >= 500);
}

int pb_http_get (pb_http_t *self, const char *url, pb_http_response_t *response, char *error,
                 size_t error_size)
{
    memset (response, 0, sizeof *response);
    CURL *curl = self->curl;
    int backoff_ms = self->first_backoff_ms;
    for (int attempt = 0;; attempt++) {
        body_t body = {0};
        curl_easy_setopt (curl, CURLOPT_URL, url);
        curl_easy_setopt (curl, CURLOPT_USERAGENT, self->user_agent);
        curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, self->timeout_ms);
        curl_easy_setopt (curl, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt (curl, CURLOPT_MAXREDIRS, 5L);
        curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt (curl, CURLOPT_ACCEPT_ENCODING, "");
        curl_easy_setopt (curl, CURLOPT_MAXCONNECTS, 1L);
        curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_write);
        curl_easy_setopt (curl, CURLOPT_WRITEDATA, &body);
        CURLcode code = curl_easy_perform (curl);
        long status = 0;
        curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
        response->attempts = attempt + 1;
        if (body.too_large) {
            free (body.data);
            snprintf (error, error_size, "%s: the response exceeds %u MB", url,
                      PB_HTTP_MAX_BODY >> 20);
            return -1;
        }
        if (!s_temporary (code, status) || attempt >= self->retries || zsys_interrupted) {
            if (code != CURLE_OK) {
                free (body.data);
                snprintf (error, error_size, "%s: %s (after %d attempts)", url,
                          curl_easy_strerror (code), attempt + 1);
                return -1;
            }
            response->status = status;
            response->body = body.data ? body.data : strdup ("");
            response->size = body.size;
            return 0;
        }
        free (body.data);
        //  Retry-After (seconds), when the server says how long to wait.
        curl_off_t retry_after = 0;
        curl_easy_getinfo (curl, CURLINFO_RETRY_AFTER, &retry_after);
        //  Capped: a server asking for a day's pause gets a minute.
        int pause_ms =
            retry_after > 0 ? (int)(retry_after > 60 ? 60000 : retry_after * 1000) : backoff_ms;
        pb_warn ("%s: %s; trying again in %d ms", url,
                 code != CURLE_OK ? curl_easy_strerror (code) : "a temporary HTTP error", pause_ms);
        for (int slept = 0; slept < pause_ms && !zsys_interrupted; slept += 100)
            zclock_sleep (pause_ms - slept < 100 ? pause_ms - slept : 100);
        backoff_ms = backoff_ms < 30000 ? backoff_ms * 2 : 60000;
    }
}
