/*  mailer — see mailer.h. */
#include "mailer.h"
#include "message.h"

#include <curl/curl.h>
#include <string.h>

struct _mailer_t {
    CURL *curl;                  //  one easy handle: libcurl keeps its connection open
    char *url;                   //  PAPERBUS_SMTP_URL
    char error[CURL_ERROR_SIZE]; //  libcurl's message for the last failure
};

//  The message being sent, as libcurl's read callback sees it.
typedef struct {
    const char *data;         //  the whole message
    size_t size;              //  its bytes
    size_t offset;            //  bytes given to libcurl so far
    mailer_commit_fn *commit; //  runs before the final dot
    void *arg;                //  for commit
    bool committed;           //  commit ran and agreed
    bool aborted;             //  commit refused
} upload_t;

mailer_t *mailer_new (pb_config_t *config, char *problem, size_t problem_size)
{
    const char *url = pb_config_str (config, PB_CONF_SMTP_URL);
    if (strncmp (url, "smtp://", 7) != 0 && strncmp (url, "smtps://", 8) != 0) {
        snprintf (problem, problem_size,
                  "PAPERBUS_SMTP_URL: '%s' is not smtp://HOST:PORT or smtps://HOST:PORT", url);
        return NULL;
    }
    const char *tls = pb_config_str (config, PB_CONF_SMTP_TLS);
    long use_ssl = strcmp (tls, "require") == 0 ? CURLUSESSL_ALL
                   : strcmp (tls, "try") == 0   ? CURLUSESSL_TRY
                   : strcmp (tls, "off") == 0   ? CURLUSESSL_NONE
                                                : -1;
    if (use_ssl < 0) {
        snprintf (problem, problem_size, "PAPERBUS_SMTP_TLS: '%s' is not try, require or off", tls);
        return NULL;
    }
    mailer_t *self = calloc (1, sizeof *self);
    self->curl = curl_easy_init ();
    self->url = strdup (url);
    if (!self->curl || !self->url) {
        snprintf (problem, problem_size, "libcurl could not start");
        mailer_destroy (&self);
        return NULL;
    }
    CURL *curl = self->curl;
    curl_easy_setopt (curl, CURLOPT_URL, self->url);
    curl_easy_setopt (curl, CURLOPT_USE_SSL, use_ssl);
    const char *ca_file = pb_config_str (config, PB_CONF_SMTP_CA_FILE);
    if (strcmp (ca_file, "system") != 0)
        curl_easy_setopt (curl, CURLOPT_CAINFO, ca_file);
    const char *user = pb_config_str (config, PB_CONF_SMTP_USER);
    if (strcmp (user, "none") != 0) {
        curl_easy_setopt (curl, CURLOPT_USERNAME, user);
        curl_easy_setopt (curl, CURLOPT_PASSWORD, pb_config_str (config, PB_CONF_SMTP_PASSWORD));
    }
    long timeout_ms = (long)pb_config_int (config, PB_CONF_SMTP_TIMEOUT_MS);
    curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    //  A whole message within the timeout, and no step stalled longer than it.
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, timeout_ms * 2);
    curl_easy_setopt (curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt (curl, CURLOPT_LOW_SPEED_TIME, (timeout_ms + 999) / 1000);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, self->error);
    return self;
}

void mailer_destroy (mailer_t **self_p)
{
    if (!*self_p)
        return;
    mailer_t *self = *self_p;
    if (self->curl)
        curl_easy_cleanup (self->curl);
    free (self->url);
    free (self);
    *self_p = NULL;
}

//  libcurl asks for the message in pieces; when it is all given, the
//  commit decides whether libcurl may end it (returning 0 here makes
//  libcurl send the final dot).
static size_t s_read (char *buffer, size_t size, size_t count, void *arg)
{
    upload_t *upload = arg;
    size_t room = size * count;
    size_t left = upload->size - upload->offset;
    if (left > 0) {
        size_t take = left < room ? left : room;
        memcpy (buffer, upload->data + upload->offset, take);
        upload->offset += take;
        return take;
    }
    if (!upload->committed) {
        if (upload->commit && upload->commit (upload->arg)) {
            upload->aborted = true;
            return CURL_READFUNC_ABORT;
        }
        upload->committed = true;
    }
    return 0;
}

mailer_outcome_t mailer_send (mailer_t *self, const char *from, const char *to, const char *data,
                              size_t size, mailer_commit_fn *commit, void *arg, char *reason,
                              size_t reason_size)
{
    upload_t upload = {.data = data, .size = size, .commit = commit, .arg = arg};
    struct curl_slist *recipients = curl_slist_append (NULL, to);
    if (!recipients) {
        snprintf (reason, reason_size, "out of memory");
        return MAILER_TEMPORARY;
    }
    char mail_from[MESSAGE_ADDRESS_MAX + 3];
    snprintf (mail_from, sizeof mail_from, "<%s>", from);
    CURL *curl = self->curl;
    curl_easy_setopt (curl, CURLOPT_MAIL_FROM, mail_from);
    curl_easy_setopt (curl, CURLOPT_MAIL_RCPT, recipients);
    curl_easy_setopt (curl, CURLOPT_READFUNCTION, s_read);
    curl_easy_setopt (curl, CURLOPT_READDATA, &upload);
    //  No CURLOPT_INFILESIZE: with a known size libcurl ends the data without
    //  asking again, and the commit would never run.
    self->error[0] = 0;
    CURLcode result = curl_easy_perform (curl);
    long code = 0;
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_setopt (curl, CURLOPT_MAIL_RCPT, NULL);
    curl_slist_free_all (recipients);
    if (result == CURLE_OK) {
        snprintf (reason, reason_size, "accepted (%ld)", code);
        return MAILER_SENT;
    }
    snprintf (reason, reason_size, "%s (SMTP %ld)",
              self->error[0] ? self->error : curl_easy_strerror (result), code);
    if (upload.aborted)
        return MAILER_ABORTED;
    //  After the final dot, only a 4xx or 5xx is an answer; anything else
    //  (the last code seen is DATA's 354) means the answer never came.
    if (upload.committed && code < 400)
        return MAILER_UNKNOWN;
    //  A 5xx is final for this address or message only when it answers the
    //  recipient or the message itself. A 5xx to MAIL FROM or AUTH is about
    //  us (the sender address, the credentials): retried, so that a
    //  misconfiguration does not mark every subscriber as bouncing.
    bool about_recipient = strstr (self->error, "RCPT") != NULL || upload.committed ||
                           strstr (self->error, "DATA") != NULL;
    if (code >= 500 && code < 600 && about_recipient)
        return MAILER_BOUNCED;
    return MAILER_TEMPORARY;
}
