/*
 * stream_writer.h — one traced thread's side of the ring.
 *
 * A writer owns at most one chunk at a time. cs_writer_begin() guarantees
 * CS_MAX_EVENT_BYTES of room (sealing the current chunk and claiming a new
 * one when needed, then writing EV_SYNC and, the first time, EV_STREAM);
 * the caller encodes one event there and hands the new end to
 * cs_writer_commit(), which publishes it. Nothing here knows about Python,
 * so the same writer serves the extension and the C tests.
 */
#ifndef CALLSCOPE_STREAM_WRITER_H
#define CALLSCOPE_STREAM_WRITER_H

#include <stdint.h>

#include "core/event.h"
#include "core/ring.h"

struct cs_stream_writer {
    struct cs_ring *ring;
    struct cs_chunk *chunk;
    unsigned char *pos;   /* where the next event goes */
    unsigned char *limit; /* past this, the next event may not fit */
    uint64_t last_ticks;  /* dt of the next event is relative to this */
    uint64_t stream_id;   /* 0 until the first chunk is claimed */
    uint64_t stream_seq;  /* of the next chunk */
    uint64_t lost;        /* events dropped since the last chunk */
    int64_t depth;        /* call depth, reported with EV_LOST */
    int64_t lost_low;     /* the least depth since the first event lost */
    uint32_t pid, tid, parent_pid;
    unsigned char *defined; /* bitset: function ids already defined in this stream */
    size_t defined_bytes;
};

void cs_writer_init(struct cs_stream_writer *w, struct cs_ring *ring, uint32_t pid, uint32_t tid,
                    uint32_t parent_pid);
/* A new ring, a new collector: writers may wait for room again. */
void cs_writer_forget_collector(void);
/* Room for one event, or NULL when the event must be dropped (ring full with
 * --on-full drop, or the collector is gone): the drop is counted. The
 * common case — room left in the current chunk — stays inline. */
unsigned char *cs_writer_begin_slow(struct cs_stream_writer *w, uint64_t now);

static inline unsigned char *cs_writer_begin(struct cs_stream_writer *w, uint64_t now)
{
    if (__builtin_expect(w->chunk != NULL && w->pos <= w->limit, 1))
        return w->pos;
    return cs_writer_begin_slow(w, now);
}

static inline unsigned char *cs_writer_put_dt(struct cs_stream_writer *w, unsigned char *p,
                                              uint64_t now)
{
    uint64_t dt = now > w->last_ticks ? now - w->last_ticks : 0;
    if (now > w->last_ticks)
        w->last_ticks = now;
    return cs_put_varint(p, dt);
}

static inline void cs_writer_commit(struct cs_stream_writer *w, unsigned char *end)
{
    CS_ASSERT(end >= w->chunk->data && end <= w->chunk->data + cs_chunk_capacity(w->ring),
              "an event stays within the room cs_writer_begin guaranteed");
    w->pos = end;
    cs_chunk_publish(w->chunk, (uint32_t)(end - w->chunk->data));
}

/* A call ended (its event written or dropped). */
static inline void cs_writer_left_call(struct cs_stream_writer *w)
{
    if (w->depth > 0)
        w->depth--;
    if (w->lost && w->depth < w->lost_low)
        w->lost_low = w->depth;
}

/* True the first time an id is seen by this stream: define it now. */
int cs_writer_first_use_slow(struct cs_stream_writer *w, uint64_t id);

static inline int cs_writer_first_use(struct cs_stream_writer *w, uint64_t id)
{
    size_t byte = (size_t)(id >> 3);
    if (__builtin_expect(byte < w->defined_bytes && (w->defined[byte] & (1u << (id & 7))), 1))
        return 0;
    return cs_writer_first_use_slow(w, id);
}
/* Seals the current chunk (thread exit, stop); the writer can go on later. */
void cs_writer_flush(struct cs_stream_writer *w);
/* Forgets everything tied to the ring (after fork in the child, or stop):
 * the chunk is left alone, the next event starts a new stream. */
void cs_writer_reset(struct cs_stream_writer *w, uint32_t pid, uint32_t parent_pid);
void cs_writer_free(struct cs_stream_writer *w);

#endif
