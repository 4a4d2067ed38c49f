/*  pb_paper_queue — ids from paper.ingested, read again in batches. */
#include "pb_paper_queue.h"
#include "pb_codec.h"
#include "pb_log.h"
#include "pb_proto.h"

#include <stdlib.h>

struct _pb_paper_queue_t {
    pb_paper_reader_fn *reader;
    void *arg;
    char *ids[PB_PAPER_QUEUE_MAX]; //  waiting, owned
    size_t count;
};

pb_paper_queue_t *pb_paper_queue_new (pb_paper_reader_fn *reader, void *arg)
{
    pb_paper_queue_t *self = calloc (1, sizeof *self);
    self->reader = reader;
    self->arg = arg;
    return self;
}

void pb_paper_queue_destroy (pb_paper_queue_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pb_paper_queue_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        free (self->ids[i]);
    free (self);
    *self_p = NULL;
}

int pb_paper_queue_flush (pb_paper_queue_t *self)
{
    if (!self->count)
        return 0;
    if (self->reader ((const char *const *)self->ids, self->count, self->arg))
        return -1;
    for (size_t i = 0; i < self->count; i++)
        free (self->ids[i]);
    self->count = 0;
    return 0;
}

int pb_paper_queue_on_event (const pb_event_t *event, void *arg)
{
    pb_paper_queue_t *self = arg;
    pb_arena_t *arena = pb_arena_new ();
    pb_paper_ingested_t body;
    pb_codec_error_t error;
    int rc = 0;
    if (pb_decode (event->payload, event->size, event->size, &pb_paper_ingested_schema, &body,
                   arena, &error))
        //  A bad event cannot become good: skip it, loudly.
        pb_error ("paper.ingested %lld is malformed (%s); skipped", (long long)event->seq,
                  error.message);
    else if (self->count == PB_PAPER_QUEUE_MAX && pb_paper_queue_flush (self))
        rc = -1; //  the subscriber offers it again
    else
        self->ids[self->count++] = pb_str_dup (body.id);
    pb_arena_destroy (&arena);
    return rc;
}

static int s_on_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    pb_paper_queue_flush (arg);
    return 0;
}

void pb_paper_queue_attach (pb_paper_queue_t *self, zloop_t *loop, int flush_ms)
{
    zloop_timer (loop, (size_t)flush_ms, 0, s_on_timer, self);
}
