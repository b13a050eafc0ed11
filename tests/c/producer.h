/*
 * producer.h — a stand-in for the extension's capture layer, for the C tests
 * and the collector benchmark: writes events into a real ring exactly the
 * way a traced thread does (claim a chunk, EV_SYNC, EV_STREAM on the first
 * one, publish after every event, seal when full).
 *
 * Usage: tp_open(&p, ring, pid, tid); then for each event tp_begin, the
 * tp_* field writers, tp_end. Timestamps are explicit: tp_at() sets the
 * time (in ticks) of the next timed event.
 */
#ifndef CALLSCOPE_TEST_PRODUCER_H
#define CALLSCOPE_TEST_PRODUCER_H

#include <stdint.h>
#include <string.h>

#include "core/event.h"
#include "core/ring.h"

struct test_producer {
    struct cs_ring *ring;
    struct cs_chunk *chunk;
    uint32_t len;
    uint32_t pid;
    uint64_t tid, ppid;
    uint64_t stream_id, seq;
    uint64_t now, last; /* ticks: of the next timed event, of the previous */
    uint64_t base;      /* what the pending event's dt is relative to */
    int full;           /* no free chunk: the caller must drain the ring */
    unsigned char ev[CS_MAX_EVENT_BYTES];
    size_t evlen;
};

static inline void tp_open(struct test_producer *p, struct cs_ring *ring, uint32_t pid, uint64_t tid,
                           uint64_t start_ticks)
{
    memset(p, 0, sizeof *p);
    p->ring = ring;
    p->pid = pid;
    p->tid = tid;
    p->ppid = 1;
    p->stream_id = atomic_fetch_add(&ring->header->next_stream_id, 1);
    p->now = p->last = start_ticks;
}

static inline void tp_at(struct test_producer *p, uint64_t ticks) { p->now = ticks; }
static inline void tp_begin(struct test_producer *p, int tag) { p->evlen = 0; p->base = p->last; p->ev[p->evlen++] = (unsigned char)tag; }
static inline void tp_byte(struct test_producer *p, int b) { p->ev[p->evlen++] = (unsigned char)b; }
static inline void tp_varint(struct test_producer *p, uint64_t v) { p->evlen = (size_t)(cs_put_varint(p->ev + p->evlen, v) - p->ev); }
static inline void tp_svarint(struct test_producer *p, int64_t v) { p->evlen = (size_t)(cs_put_svarint(p->ev + p->evlen, v) - p->ev); }
static inline void tp_u64(struct test_producer *p, uint64_t v) { p->evlen = (size_t)(cs_put_u64(p->ev + p->evlen, v) - p->ev); }
static inline void tp_str(struct test_producer *p, const char *s) { p->evlen = (size_t)(cs_put_str(p->ev + p->evlen, s, strlen(s)) - p->ev); }
/* A container value (event.h): its tag and a placeholder for the byte
 * length of the rest, which tp_close_container fills in once the items are
 * written. Returns where the length goes. */
static inline size_t tp_open_container(struct test_producer *p, int tag)
{
    p->ev[p->evlen++] = (unsigned char)tag;
    p->evlen += 2;
    return p->evlen - 2;
}
static inline void tp_close_container(struct test_producer *p, size_t length_at)
{
    cs_put_u16(p->ev + length_at, (uint16_t)(p->evlen - length_at - 2));
}
static inline void tp_bytes(struct test_producer *p, const void *s, size_t n) { memcpy(p->ev + p->evlen, s, n); p->evlen += n; }

/* The dt field of a timed event. */
static inline void tp_dt(struct test_producer *p)
{
    tp_varint(p, p->now - p->last);
    p->last = p->now;
}

/* Claims the next chunk of the stream and starts it with SYNC (and STREAM
 * on the first). 0, or -1 when the ring has no free chunk. */
static inline int tp_next_chunk(struct test_producer *p)
{
    if (p->chunk)
        cs_chunk_seal(p->chunk);
    p->chunk = cs_ring_try_claim(p->ring, p->pid, p->stream_id, p->seq);
    if (!p->chunk)
        return -1;
    p->seq++;
    unsigned char *d = p->chunk->data;
    *d++ = EV_SYNC;
    /* SYNC carries the time the pending event's dt is relative to. */
    d = cs_put_u64(d, p->base);
    if (p->seq == 1) {
        *d++ = EV_STREAM;
        d = cs_put_varint(d, p->pid);
        d = cs_put_varint(d, p->tid);
        d = cs_put_varint(d, p->ppid);
    }
    p->len = (uint32_t)(d - p->chunk->data);
    cs_chunk_publish(p->chunk, p->len);
    return 0;
}

/* Appends the event built since tp_begin. 0, or -1 when the ring is full
 * (then call tp_end again after draining). */
static inline int tp_end(struct test_producer *p)
{
    if (!p->chunk || cs_chunk_capacity(p->ring) - p->len < p->evlen) {
        if (p->chunk) {
            cs_chunk_seal(p->chunk);
            p->chunk = NULL;
        }
        if (tp_next_chunk(p) != 0) {
            p->full = 1;
            return -1;
        }
    }
    memcpy(p->chunk->data + p->len, p->ev, p->evlen);
    p->len += (uint32_t)p->evlen;
    cs_chunk_publish(p->chunk, p->len);
    p->full = 0;
    return 0;
}

static inline void tp_seal(struct test_producer *p)
{
    if (p->chunk)
        cs_chunk_seal(p->chunk);
    p->chunk = NULL;
}

/* ---- whole events ---- */

/* EV_CODE with up to 8 argument names (NULL-terminated list). */
static inline int tp_code(struct test_producer *p, uint64_t id, const char *module, const char *qualname,
                          const char *filename, uint64_t line, const char *const *args)
{
    size_t n = 0;
    while (args && args[n])
        n++;
    tp_begin(p, EV_CODE);
    tp_varint(p, id);
    tp_str(p, module);
    tp_str(p, qualname);
    tp_str(p, filename);
    tp_varint(p, line);
    tp_varint(p, 0);
    tp_varint(p, n);
    for (size_t i = 0; i < n; i++)
        tp_str(p, args[i]);
    return tp_end(p);
}

static inline int tp_call_int(struct test_producer *p, uint64_t id, uint64_t at, int64_t arg)
{
    tp_begin(p, EV_CALL);
    tp_varint(p, id);
    tp_at(p, at);
    tp_dt(p);
    tp_byte(p, V_INT);
    tp_svarint(p, arg);
    return tp_end(p);
}

static inline int tp_return_int(struct test_producer *p, uint64_t at, int64_t value)
{
    tp_begin(p, EV_RETURN);
    tp_at(p, at);
    tp_dt(p);
    tp_byte(p, V_INT);
    tp_svarint(p, value);
    return tp_end(p);
}

/* A call of a function with no arguments. */
static inline int tp_call(struct test_producer *p, uint64_t id, uint64_t at)
{
    tp_begin(p, EV_CALL);
    tp_varint(p, id);
    tp_at(p, at);
    tp_dt(p);
    return tp_end(p);
}

static inline int tp_return_str(struct test_producer *p, uint64_t at, const char *value)
{
    tp_begin(p, EV_RETURN);
    tp_at(p, at);
    tp_dt(p);
    tp_byte(p, V_STR);
    tp_varint(p, strlen(value));
    tp_str(p, value);
    return tp_end(p);
}

/* A timed event with no other field (EV_RETURN_BARE, EV_STOP, ...). */
static inline int tp_timed(struct test_producer *p, int tag, uint64_t at)
{
    tp_begin(p, tag);
    tp_at(p, at);
    tp_dt(p);
    return tp_end(p);
}

/* EV_CALL_BARE, EV_RESUME, EV_CCALL. */
static inline int tp_enter(struct test_producer *p, int tag, uint64_t id, uint64_t at)
{
    tp_begin(p, tag);
    tp_varint(p, id);
    tp_at(p, at);
    tp_dt(p);
    return tp_end(p);
}

#endif
