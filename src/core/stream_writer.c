/*
 * stream_writer.c — claims, fills and seals one thread's chunks (see
 * stream_writer.h).
 */
#include "stream_writer.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Set once the collector is found gone: from then on this process drops
 * events at once instead of waiting for room that will never come. */
static int collector_gone;

void cs_writer_forget_collector(void)
{
    collector_gone = 0;
}

void cs_writer_init(struct cs_stream_writer *w, struct cs_ring *ring, uint32_t pid, uint32_t tid,
                    uint32_t parent_pid)
{
    memset(w, 0, sizeof *w);
    w->ring = ring;
    w->pid = pid;
    w->tid = tid;
    w->parent_pid = parent_pid;
}

static int collector_alive(struct cs_ring *ring)
{
    int32_t pid = atomic_load(&ring->header->collector_pid);
    if (pid < 0)
        return 0; /* it gave up (cannot write the store) */
    return pid == 0 || kill(pid, 0) == 0 || errno == EPERM;
}

/* Waits for a free chunk while the collector lives (--on-full wait). */
static struct cs_chunk *claim_waiting(struct cs_stream_writer *w)
{
    struct timespec pause = {0, 50 * 1000};
    for (unsigned spins = 0;; spins++) {
        struct cs_chunk *c = cs_ring_try_claim(w->ring, w->pid, w->stream_id, w->stream_seq);
        if (c)
            return c;
        /* Every ~10 ms: a producer must never hang because its reader died. */
        if (collector_gone || (spins % 200 == 199 && !collector_alive(w->ring))) {
            collector_gone = 1;
            return NULL;
        }
        nanosleep(&pause, NULL);
    }
}

/* A fresh chunk holds its header (EV_SYNC and its time, EV_STREAM and three
 * varints, EV_LOST and three) and still the room of a whole event, or
 * cs_writer_begin could never give that room. */
_Static_assert(1 + 8 + 1 + 3 * CS_VARINT_MAX + 1 + 3 * CS_VARINT_MAX + CS_MAX_EVENT_BYTES <=
                   CS_RING_DEFAULT_CHUNK - sizeof(struct cs_chunk),
               "a chunk holds its header and one event of CS_MAX_EVENT_BYTES");

static int claim_next_chunk(struct cs_stream_writer *w, uint64_t now)
{
    struct cs_ring_header *h = w->ring->header;
    if (w->stream_id == 0) {
        w->stream_id = atomic_fetch_add(&h->next_stream_id, 1);
        w->stream_seq = 0;
    }
    struct cs_chunk *c;
    if (h->options.flags & CS_OPT_DROP_WHEN_FULL)
        c = cs_ring_try_claim(w->ring, w->pid, w->stream_id, w->stream_seq);
    else
        c = claim_waiting(w);
    if (!c)
        return -1;
    w->chunk = c;
    w->stream_seq++;
    unsigned char *p = c->data;
    *p++ = EV_SYNC;
    p = cs_put_u64(p, now);
    w->last_ticks = now;
    if (w->stream_seq == 1) {
        *p++ = EV_STREAM;
        p = cs_put_varint(p, w->pid);
        p = cs_put_varint(p, w->tid);
        p = cs_put_varint(p, w->parent_pid);
    }
    if (w->lost) {
        *p++ = EV_LOST;
        p = cs_put_varint(p, w->lost);
        p = cs_put_varint(p, (uint64_t)(w->depth > 0 ? w->depth : 0));
        p = cs_put_varint(p, (uint64_t)(w->lost_low > 0 ? w->lost_low : 0));
        w->lost = 0;
    }
    w->limit = c->data + cs_chunk_capacity(w->ring) - CS_MAX_EVENT_BYTES;
    cs_writer_commit(w, p);
    return 0;
}

unsigned char *cs_writer_begin_slow(struct cs_stream_writer *w, uint64_t now)
{
    if (w->chunk) {
        cs_chunk_seal(w->chunk);
        w->chunk = NULL;
    }
    if (claim_next_chunk(w, now) != 0) {
        /* Counted in the ring at once: a process may end before it ever
         * gets a chunk again to say where its events went missing. */
        if (w->lost++ == 0)
            w->lost_low = w->depth; /* the depth before the first event lost */
        atomic_fetch_add_explicit(&w->ring->header->lost_events, 1, memory_order_relaxed);
        return NULL;
    }
    return w->pos;
}

int cs_writer_first_use_slow(struct cs_stream_writer *w, uint64_t id)
{
    size_t byte = (size_t)(id >> 3);
    if (byte >= w->defined_bytes) {
        size_t n = w->defined_bytes ? w->defined_bytes : 256;
        while (n <= byte)
            n *= 2;
        unsigned char *grown = realloc(w->defined, n);
        if (!grown)
            return 1; /* defining again is harmless; forgetting is not */
        memset(grown + w->defined_bytes, 0, n - w->defined_bytes);
        w->defined = grown;
        w->defined_bytes = n;
    }
    unsigned char bit = (unsigned char)(1u << (id & 7));
    if (w->defined[byte] & bit)
        return 0;
    w->defined[byte] |= bit;
    return 1;
}

void cs_writer_flush(struct cs_stream_writer *w)
{
    if (w->chunk) {
        cs_chunk_seal(w->chunk);
        w->chunk = NULL;
    }
}

void cs_writer_reset(struct cs_stream_writer *w, uint32_t pid, uint32_t parent_pid)
{
    w->chunk = NULL;
    w->pos = w->limit = NULL;
    w->stream_id = 0;
    w->stream_seq = 0;
    w->lost = 0;
    w->depth = 0;
    w->lost_low = 0;
    w->pid = pid;
    w->parent_pid = parent_pid;
    if (w->defined)
        memset(w->defined, 0, w->defined_bytes);
}

void cs_writer_free(struct cs_stream_writer *w)
{
    free(w->defined);
    w->defined = NULL;
    w->defined_bytes = 0;
}
