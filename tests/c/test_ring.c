/*
 * test_ring.c — the shared-memory ring and the per-thread stream writer,
 * without Python: ordering of each stream across chunks, producers in other
 * processes that die without sealing, a full ring in drop and wait modes.
 *
 * Each test event is EV_LOST carrying a sequence number, so the consumer
 * can check that every stream arrives complete and in order.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "core/clock.h"
#include "core/stream_writer.h"

#define MAX_STREAMS 64

struct seen {
    uint64_t next[MAX_STREAMS]; /* next expected sequence number per stream */
    uint64_t events;
    uint64_t gap_depth, gap_low; /* of the last EV_LOST with a depth (the writer's own) */
    int out_of_order;
    int malformed;
};

static void on_bytes(void *ctx, uint64_t stream_id, uint32_t pid, const unsigned char *bytes, size_t n)
{
    (void)pid;
    struct seen *s = ctx;
    struct cs_reader r = {bytes, bytes + n, 0};
    while (r.p < r.end && !r.error) {
        int tag = cs_get_byte(&r);
        if (tag == EV_SYNC) {
            cs_get_u64(&r);
        } else if (tag == EV_STREAM) {
            cs_get_varint(&r), cs_get_varint(&r), cs_get_varint(&r);
        } else if (tag == EV_LOST) {
            uint64_t seq = cs_get_varint(&r);
            uint64_t depth = cs_get_varint(&r), low = cs_get_varint(&r);
            if (depth) {
                s->gap_depth = depth;
                s->gap_low = low;
            }
            if (stream_id < MAX_STREAMS) {
                if (seq != s->next[stream_id])
                    s->out_of_order++;
                s->next[stream_id] = seq + 1;
            }
            s->events++;
        } else {
            s->malformed++;
            return;
        }
    }
    if (r.error)
        s->malformed++;
}

/* One test event: EV_LOST(seq, 0, 0) — a fixed, checkable payload. */
static int write_event(struct cs_stream_writer *w, uint64_t seq)
{
    unsigned char *p = cs_writer_begin(w, cs_ticks());
    if (!p)
        return -1;
    *p++ = EV_LOST;
    p = cs_put_varint(p, seq);
    p = cs_put_varint(p, 0);
    p = cs_put_varint(p, 0);
    cs_writer_commit(w, p);
    return 0;
}

static struct cs_ring make_ring(size_t bytes, uint32_t flags)
{
    struct cs_capture_options o;
    memset(&o, 0, sizeof o);
    o.flags = flags;
    struct cs_ring ring;
    char err[256];
    if (cs_ring_create(&ring, bytes, 0, &o, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    atomic_store(&ring.header->collector_pid, (int32_t)getpid());
    return ring;
}

static void drain(struct cs_ring_reader *reader, struct seen *s)
{
    while (cs_ring_read(reader, on_bytes, s) > 0)
        ;
}

static void two_streams_interleaved(void)
{
    struct cs_ring ring = make_ring(1 << 20, 0);
    struct cs_ring_reader *reader = cs_ring_reader_new(&ring);
    struct cs_stream_writer a, b;
    cs_writer_init(&a, &ring, (uint32_t)getpid(), 1, 0);
    cs_writer_init(&b, &ring, (uint32_t)getpid(), 2, 0);
    struct seen s = {0};
    int failed_writes = 0;
    /* Far more than fits in the ring at once: chunks are reused while both
     * streams keep writing, and the consumer must keep each in order. */
    for (uint64_t i = 0; i < 400000; i++) {
        failed_writes += write_event(&a, i) != 0;
        if (i % 3 == 0)
            failed_writes += write_event(&b, i / 3) != 0;
        if (i % 5000 == 0)
            drain(reader, &s);
    }
    CHECK_INT(failed_writes, 0);
    cs_writer_flush(&a);
    cs_writer_flush(&b);
    drain(reader, &s);
    CHECK_INT(s.events, 400000 + 133334);
    CHECK_INT(s.out_of_order, 0);
    CHECK_INT(s.malformed, 0);
    CHECK_INT(s.next[a.stream_id], 400000);
    CHECK_INT(s.next[b.stream_id], 133334);
    cs_writer_free(&a);
    cs_writer_free(&b);
    cs_ring_reader_free(reader);
    cs_ring_unlink(&ring);
    cs_ring_close(&ring);
}

/* A collector that keeps up leaves the ring's far end untouched: claims take
 * the lowest free chunk, so a program writing fifty rings' worth through a
 * 4 MB ring maps only its first few pages, and the reader looks at those
 * chunks only. */
static void a_kept_up_ring_uses_its_first_chunks(void)
{
    struct cs_ring ring = make_ring(4 << 20, 0);
    struct cs_ring_reader *reader = cs_ring_reader_new(&ring);
    struct cs_stream_writer w;
    cs_writer_init(&w, &ring, (uint32_t)getpid(), 1, 0);
    struct seen s = {0};
    uint64_t n = 0;
    while (n * 4 < 50u * ring.size) { /* an event is 4 bytes or more */
        CHECK_INT(write_event(&w, n), 0);
        n++;
        if (n % 1000 == 0)
            drain(reader, &s);
    }
    cs_writer_flush(&w);
    drain(reader, &s);
    CHECK_INT(s.events, n);
    CHECK_INT(s.out_of_order, 0);
    CHECK(ring.header->nchunks >= 60);
    CHECK(atomic_load(&ring.header->claimed_bound) <= 3);
    cs_writer_free(&w);
    cs_ring_reader_free(reader);
    cs_ring_unlink(&ring);
    cs_ring_close(&ring);
}

/* Children write and die without sealing (as after SIGKILL): once reaped,
 * every event they published is delivered. */
static void dying_producers_lose_nothing(void)
{
    struct cs_ring ring = make_ring(4 << 20, 0);
    struct cs_ring_reader *reader = cs_ring_reader_new(&ring);
    enum { CHILDREN = 3, EVENTS = 50000 };
    pid_t kids[CHILDREN];
    for (int k = 0; k < CHILDREN; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            struct cs_stream_writer w;
            cs_writer_init(&w, &ring, (uint32_t)getpid(), (uint32_t)getpid(), 0);
            cs_ring_add_producer(&ring, getpid());
            for (uint64_t i = 0; i < EVENTS; i++)
                write_event(&w, i);
            _exit(0); /* no flush, no unregister */
        }
    }
    struct seen s = {0};
    int remaining = CHILDREN;
    while (remaining > 0) {
        cs_ring_read(reader, on_bytes, &s);
        int status;
        if (waitpid(-1, &status, WNOHANG) > 0)
            remaining--;
    }
    while (cs_ring_reap_dead(reader) > 0)
        ;
    drain(reader, &s);
    CHECK_INT(s.events, CHILDREN * EVENTS);
    CHECK_INT(s.out_of_order, 0);
    CHECK_INT(s.malformed, 0);
    CHECK_INT(cs_ring_reap_dead(reader), 0);
    CHECK_INT(atomic_load(&ring.header->producers_joined), CHILDREN);
    /* Every chunk is free again. */
    int busy = 0;
    for (uint32_t i = 0; i < ring.header->nchunks; i++)
        busy += atomic_load(&cs_ring_chunk(&ring, i)->state) != CS_CHUNK_FREE;
    CHECK_INT(busy, 0);
    cs_ring_reader_free(reader);
    cs_ring_unlink(&ring);
    cs_ring_close(&ring);
}

static void full_ring_drops_and_counts(void)
{
    struct cs_ring ring = make_ring(1, CS_OPT_DROP_WHEN_FULL); /* the minimum: 4 chunks */
    struct cs_ring_reader *reader = cs_ring_reader_new(&ring);
    struct cs_stream_writer w;
    cs_writer_init(&w, &ring, (uint32_t)getpid(), 1, 0);
    uint64_t written = 0, dropped = 0;
    for (uint64_t i = 0; i < 200000; i++) {
        if (write_event(&w, written) == 0)
            written++;
        else
            dropped++;
    }
    CHECK(dropped > 0);
    CHECK_INT(atomic_load(&ring.header->lost_events), dropped);
    struct seen s = {0};
    drain(reader, &s);
    /* After the consumer made room, the next event says how many were lost. */
    CHECK(write_event(&w, written) == 0);
    cs_writer_flush(&w);
    drain(reader, &s);
    CHECK_INT(s.events, written + 1 + 1); /* the events, then EV_LOST(dropped), then the last one */
    CHECK_INT(s.malformed, 0);
    cs_writer_free(&w);
    cs_ring_reader_free(reader);
    cs_ring_unlink(&ring);
    cs_ring_close(&ring);
}

/* While events are dropped the thread returns from two calls and makes
 * one: the gap's EV_LOST says it is one call shallower than before, and
 * that it went two calls shallower meanwhile. */
static void a_gap_says_how_shallow_the_thread_went(void)
{
    struct cs_ring ring = make_ring(1, CS_OPT_DROP_WHEN_FULL);
    struct cs_ring_reader *reader = cs_ring_reader_new(&ring);
    struct cs_stream_writer w;
    cs_writer_init(&w, &ring, (uint32_t)getpid(), 1, 0);
    w.depth = 3;
    uint64_t written = 0;
    while (write_event(&w, written) == 0)
        written++;
    cs_writer_left_call(&w);
    cs_writer_left_call(&w);
    w.depth++;
    struct seen s = {0};
    drain(reader, &s);
    CHECK(write_event(&w, written) == 0);
    cs_writer_flush(&w);
    drain(reader, &s);
    CHECK_INT(s.gap_depth, 2);
    CHECK_INT(s.gap_low, 1);
    cs_writer_free(&w);
    cs_ring_reader_free(reader);
    cs_ring_unlink(&ring);
    cs_ring_close(&ring);
}

/* A ring larger than its first reservation: a producer that finds the
 * reserved chunks taken reserves more itself, doubling, up to the whole
 * ring, so nothing is dropped before the whole ring is full, and every
 * event written is read in order. */
static void the_ring_is_reserved_as_claims_need_it(void)
{
    struct cs_ring ring = make_ring(32u << 20, CS_OPT_DROP_WHEN_FULL);
    uint32_t first = atomic_load(&ring.header->reserved_chunks);
    CHECK(first >= 4 && first < ring.header->nchunks / 4);
    struct cs_ring_reader *reader = cs_ring_reader_new(&ring);
    struct cs_stream_writer w;
    cs_writer_init(&w, &ring, (uint32_t)getpid(), 1, 0);
    uint64_t written = 0;
    while (write_event(&w, written) == 0) /* nothing read: until the whole ring is full */
        written++;
    CHECK_INT(atomic_load(&ring.header->reserved_chunks), ring.header->nchunks);
    CHECK_INT(atomic_load(&ring.header->claimed_bound), ring.header->nchunks);
    struct seen s = {0};
    drain(reader, &s);
    CHECK(write_event(&w, written) == 0);
    cs_writer_flush(&w);
    drain(reader, &s);
    /* the events, then EV_LOST for the one write that found the ring full,
     * then the last event */
    CHECK_INT(s.events, written + 2);
    CHECK_INT(s.malformed, 0);
    cs_writer_free(&w);
    cs_ring_reader_free(reader);
    cs_ring_unlink(&ring);
    cs_ring_close(&ring);
}

static void producers_stop_waiting_when_the_collector_gives_up(void)
{
    struct cs_ring ring = make_ring(1, 0); /* wait mode */
    struct cs_stream_writer w;
    cs_writer_init(&w, &ring, (uint32_t)getpid(), 1, 0);
    uint64_t written = 0;
    atomic_store(&ring.header->collector_pid, -1);
    /* Without a consumer the ring fills; the writer must not wait forever. */
    for (uint64_t i = 0; i < 100000; i++)
        written += write_event(&w, written) == 0;
    CHECK(written > 0);
    CHECK(written < 100000);
    CHECK_INT(atomic_load(&ring.header->lost_events), 100000 - written);
    cs_writer_free(&w);
    cs_ring_unlink(&ring);
    cs_ring_close(&ring);
}

static void opening_rings(void)
{
    struct cs_ring ring = make_ring(1 << 20, 0);
    struct cs_ring other;
    char err[256];
    CHECK(cs_ring_open(&other, ring.name, err, sizeof err) == 0);
    CHECK_INT(other.header->nchunks, ring.header->nchunks);
    cs_ring_close(&other);
    cs_ring_unlink(&ring);
    cs_ring_close(&ring);
    CHECK(cs_ring_open(&other, ring.name, err, sizeof err) != 0);
    CHECK(strstr(err, "cannot open") != NULL);
}

/* A ring left by a collector that was killed is removed by the next one. */
static void stale_rings_are_removed(void)
{
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0);
    char name[64];
    snprintf(name, sizeof name, "/callscope-%d-deadbeef", (int)dead);
    int fd = shm_open(name, O_RDWR | O_CREAT, 0600);
    CHECK(fd >= 0);
    close(fd);
    struct cs_ring ring = make_ring(1 << 20, 0);
    fd = shm_open(name, O_RDWR, 0);
    CHECK(fd < 0);
    if (fd >= 0) {
        close(fd);
        shm_unlink(name);
    }
    cs_ring_unlink(&ring);
    cs_ring_close(&ring);
}

int main(int argc, char **argv)
{
    CHECK_SELECT(argc, argv);
    /* The give-up test comes last: a writer that saw its collector give up
     * drops everything from then on, in the whole process. */
    CHECK_RUN(stale_rings_are_removed());
    CHECK_RUN(two_streams_interleaved());
    CHECK_RUN(a_kept_up_ring_uses_its_first_chunks());
    CHECK_RUN(dying_producers_lose_nothing());
    CHECK_RUN(full_ring_drops_and_counts());
    CHECK_RUN(a_gap_says_how_shallow_the_thread_went());
    CHECK_RUN(the_ring_is_reserved_as_claims_need_it());
    CHECK_RUN(opening_rings());
    CHECK_RUN(producers_stop_waiting_when_the_collector_gives_up());
    return CHECK_REPORT("test_ring");
}
