/*  pbtest_call — calls over the bus for the integration tests. */
#include "pbtest_call.h"

#include <criterion/criterion.h>
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ANSWERS 64   //  replies held at once
#define CALL_MS     5000 //  deadline of one call

static pbtest_answer_t *s_answers[MAX_ANSWERS]; //  not yet freed

//  The reply message of each method the tests call, and where it goes.
static const struct {
    const char *method;
    const pb_schema_t *schema;
    size_t offset; //  of the member in pbtest_answer_t
} s_replies[] = {
    {"index.search", &pb_index_search_reply_schema, offsetof (pbtest_answer_t, search)},
    {"index.similar", &pb_index_search_reply_schema, offsetof (pbtest_answer_t, search)},
    {"index.get", &pb_index_get_reply_schema, offsetof (pbtest_answer_t, get)},
    {"rank.vote", &pb_vote_reply_schema, offsetof (pbtest_answer_t, vote)},
    {"rank.unvote", &pb_vote_reply_schema, offsetof (pbtest_answer_t, vote)},
    {"rank.top", &pb_top_reply_schema, offsetof (pbtest_answer_t, top)},
    {"rank.votes", &pb_votes_reply_schema, offsetof (pbtest_answer_t, votes)},
    {"rank.signal", &pb_signal_recorded_schema, offsetof (pbtest_answer_t, signal)},
    {"ingest.submit", &pb_ingest_submit_reply_schema, offsetof (pbtest_answer_t, submit)},
    {"bus.status", &pb_status_reply_schema, offsetof (pbtest_answer_t, status)},
    {"notify.subscribe", &pb_subscribe_reply_schema, offsetof (pbtest_answer_t, subscribe)},
    {"notify.confirm", &pb_subscription_schema, offsetof (pbtest_answer_t, subscription)},
    {"notify.unsubscribe", &pb_unsubscribe_reply_schema, offsetof (pbtest_answer_t, unsubscribe)},
    {"notify.run", &pb_digests_run_reply_schema, offsetof (pbtest_answer_t, digests)},
    {"notify.status", &pb_notify_status_reply_schema, offsetof (pbtest_answer_t, notify)},
    {"notify.signin", &pb_signin_reply_schema, offsetof (pbtest_answer_t, signin)},
    {"notify.session", &pb_session_reply_schema, offsetof (pbtest_answer_t, session)},
    {"notify.whoami", &pb_session_reply_schema, offsetof (pbtest_answer_t, session)},
    {"notify.token", &pb_session_reply_schema, offsetof (pbtest_answer_t, session)},
    {"notify.signout", &pb_signout_reply_schema, offsetof (pbtest_answer_t, signout)},
};

static pbtest_answer_t *s_answer_new (void)
{
    for (int i = 0; i < MAX_ANSWERS; i++)
        if (!s_answers[i]) {
            s_answers[i] = calloc (1, sizeof (pbtest_answer_t));
            s_answers[i]->arena = pb_arena_new ();
            return s_answers[i];
        }
    cr_assert_fail ("more than %d replies held at once", MAX_ANSWERS);
    return NULL;
}

void pbtest_answer_free (pbtest_answer_t **answer_p)
{
    pbtest_answer_t *answer = *answer_p;
    if (!answer)
        return;
    for (int i = 0; i < MAX_ANSWERS; i++)
        if (s_answers[i] == answer)
            s_answers[i] = NULL;
    pb_reply_reset (&answer->reply);
    pb_arena_destroy (&answer->arena);
    free (answer);
    *answer_p = NULL;
}

void pbtest_answers_free_all (void)
{
    for (int i = 0; i < MAX_ANSWERS; i++)
        pbtest_answer_free (&s_answers[i]);
}

const char *pbtest_text (pb_str_t str, char *text, size_t size)
{
    snprintf (text, size, "%.*s", (int)str.len, str.ptr ? str.ptr : "");
    return text;
}

const char *pbtest_describe (const pbtest_answer_t *answer)
{
    static char text[1200];
    if (answer->reply.status == PB_OK)
        snprintf (text, sizeof text, "status 0");
    else
        snprintf (text, sizeof text, "status %d %s: %.*s", answer->reply.status,
                  pb_error_name (answer->reply.status), (int)answer->error.message.len,
                  answer->error.message.ptr ? answer->error.message.ptr : "");
    return text;
}

msgpack_packer pbtest_packer (msgpack_sbuffer *buffer)
{
    msgpack_sbuffer_clear (buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, buffer, msgpack_sbuffer_write);
    return packer;
}

pbtest_answer_t *pbtest_call (pb_client_t *client, const char *method, const void *body,
                              size_t size)
{
    pbtest_answer_t *answer = s_answer_new ();
    cr_assert_eq (pb_client_call (client, method, body, size, CALL_MS, 0, &answer->reply), 0,
                  "%s: no reply: %s", method, answer->reply.error);
    const pb_schema_t *schema = NULL;
    void *out = NULL;
    if (answer->reply.status != PB_OK) {
        schema = &pb_error_reply_schema;
        out = &answer->error;
    } else
        for (size_t i = 0; i < sizeof s_replies / sizeof s_replies[0] && !schema; i++)
            if (strcmp (method, s_replies[i].method) == 0) {
                schema = s_replies[i].schema;
                out = (char *)answer + s_replies[i].offset;
            }
    cr_assert (schema, "%s: no reply schema known to the test", method);
    pb_codec_error_t error;
    cr_assert_eq (pb_decode (zframe_data (answer->reply.body), zframe_size (answer->reply.body),
                             1 << 24, schema, out, answer->arena, &error),
                  0, "%s: a malformed reply: %s", method, error.message);
    return answer;
}

pbtest_answer_t *pbtest_submit (pb_client_t *client, msgpack_sbuffer *body,
                                const pb_paper_t *papers, size_t count)
{
    cr_assert_leq (count, PBTEST_SUBMIT_MAX);
    msgpack_sbuffer encoded[PBTEST_SUBMIT_MAX];
    pb_str_t raw[PBTEST_SUBMIT_MAX];
    for (size_t i = 0; i < count; i++) {
        msgpack_sbuffer_init (&encoded[i]);
        msgpack_packer packer;
        msgpack_packer_init (&packer, &encoded[i], msgpack_sbuffer_write);
        pb_encode (&pb_paper_schema, &papers[i], &packer);
        raw[i] = (pb_str_t){encoded[i].data, (uint32_t)encoded[i].size};
    }
    msgpack_packer packer = pbtest_packer (body);
    pb_ingest_submit_request_t request = {0};
    request.source = pb_str ("test");
    request.papers = (pb_str_list_t){raw, (uint32_t)count};
    pb_encode (&pb_ingest_submit_request_schema, &request, &packer);
    for (size_t i = 0; i < count; i++)
        msgpack_sbuffer_destroy (&encoded[i]);
    pbtest_answer_t *answer = pbtest_call (client, "ingest.submit", body->data, body->size);
    cr_assert_eq (answer->reply.status, PB_OK, "ingest.submit: %s", pbtest_describe (answer));
    return answer;
}

void pbtest_served (pb_client_t *client, const char *service_name, pbtest_served_t *out)
{
    memset (out, 0, sizeof *out);
    //  The request is copied out of its buffer before anything can fail the
    //  test, so that a failure leaks nothing.
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &buffer, msgpack_sbuffer_write);
    pb_status_request_t request = {0};
    request.workers = true;
    pb_set_present (&request, PB_status_request_workers);
    pb_encode (&pb_status_request_schema, &request, &packer);
    char body[64];
    size_t size = buffer.size;
    memcpy (body, buffer.data, size < sizeof body ? size : sizeof body);
    msgpack_sbuffer_destroy (&buffer);
    cr_assert_leq (size, sizeof body, "the bus.status request takes %zu bytes", size);

    pbtest_answer_t *answer = pbtest_call (client, "bus.status", body, size);
    cr_assert_eq (answer->reply.status, PB_OK, "bus.status: %s", pbtest_describe (answer));
    for (uint32_t s = 0; s < answer->status.services.count; s++) {
        const pb_service_status_t *service =
            (const pb_service_status_t *)answer->status.services.items + s;
        if (!pb_str_eq (service->name, service_name))
            continue;
        cr_assert (pb_has (service, PB_service_status_workers), "bus.status lists no workers");
        for (uint32_t w = 0; w < service->workers.count && out->count < PBTEST_SERVED_MAX; w++) {
            const pb_worker_status_t *worker =
                (const pb_worker_status_t *)service->workers.items + w;
            pbtest_text (worker->id, out->ids[out->count], PBTEST_WORKER_ID_MAX);
            out->served[out->count++] = worker->served;
        }
    }
    pbtest_answer_free (&answer);
}

pbtest_answer_t *pbtest_call_tracked (pb_client_t *client, const char *service, const char *method,
                                      const void *body, size_t size)
{
    pbtest_served_t before, after;
    pbtest_served (client, service, &before);
    pbtest_answer_t *answer = pbtest_call (client, method, body, size);
    pbtest_served (client, service, &after);
    for (size_t a = 0; a < after.count; a++) {
        int64_t earlier = 0;
        for (size_t b = 0; b < before.count; b++)
            if (strcmp (before.ids[b], after.ids[a]) == 0)
                earlier = before.served[b];
        if (after.served[a] == earlier + 1) {
            snprintf (answer->worker, sizeof answer->worker, "%s", after.ids[a]);
            return answer;
        }
    }
    cr_assert_fail ("%s: no live %s worker counts this reply (%s; %zu live workers before, "
                    "%zu after)",
                    method, service, pbtest_describe (answer), before.count, after.count);
    return NULL;
}
