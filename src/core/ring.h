/*
 * ring.h — the shared-memory ring between traced processes and the collector.
 *
 * The ring is one POSIX shared-memory object: a header, then `nchunks`
 * fixed-size chunks. Many producers (every traced thread of every traced
 * process), one consumer (the collector).
 *
 * A producer thread claims a whole free chunk with a single compare-and-swap
 * (always the lowest free one, so that a collector keeping up recycles a
 * few chunks that stay in the caches), then fills it privately. After each
 * event it publishes the new end of its data with a release store to
 * `committed`, so whatever it wrote survives it: if the process is killed,
 * the collector still reads every committed byte.
 * A full chunk is sealed and the thread claims another. Each thread's chunks
 * carry (stream id, sequence number) so the consumer reads a thread's events
 * in order whatever order the chunks sit in. The ring's memory is reserved
 * in /dev/shm as claims reach further into it (CS_RING_FIRST_RESERVED at
 * first), and the consumer looks only as far as any claim went.
 *
 * The header also carries what every producer must agree on: the capture
 * options, the clock reference, and the global counters for code and stream
 * ids, so forked and spawned children share one id space.
 */
#ifndef CALLSCOPE_RING_H
#define CALLSCOPE_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/check.h"

#define CS_RING_MAGIC 0x43534331u /* "1CSC" */
#define CS_RING_VERSION 4
#define CS_RING_MAX_PRODUCERS 1024
#define CS_RING_DEFAULT_CHUNK (64 * 1024)
#define CS_RING_FIRST_RESERVED (4u << 20)
/* No single event may need more than this many bytes; producers seal a chunk
 * with less room left, and the value encoder stays within it. */
#define CS_MAX_EVENT_BYTES (8 * 1024)
#define CS_PATTERN_BYTES 4096
/* The most items of a container an event keeps (--max-items, and the
 * Python API's max_items, are capped here): the value encoder writes the
 * count of items kept as one byte (capture/values.c checks the bound). */
#define CS_MAX_ITEMS_LIMIT 100

enum cs_capture_flags {
    CS_OPT_NO_ARGS = 1 << 0,   /* timing only: no arguments, no results */
    CS_OPT_REPR = 1 << 1,      /* render other objects with their __repr__ */
    CS_OPT_C_CALLS = 1 << 2,   /* also record calls into C functions */
    CS_OPT_NO_STDLIB = 1 << 3, /* skip the standard library */
    CS_OPT_NO_SITE = 1 << 4,   /* skip site-packages / dist-packages */
    CS_OPT_DROP_WHEN_FULL = 1 << 5, /* --on-full drop (default: wait) */
    CS_OPT_DEEP_RECURSION = 1 << 6, /* 3.12: hook with sys.monitoring only, never the frame evaluator */
};

/* What every producer captures; written once by whoever creates the ring. */
struct cs_capture_options {
    uint32_t flags;
    uint32_t max_string;  /* characters of str/bytes kept */
    uint32_t max_items;   /* items of a container kept */
    uint32_t max_nesting; /* container nesting expanded */
    /* Path or module prefixes, each NUL-terminated, the list ended by an
     * empty string. Empty include list: everything not excluded. */
    char include[CS_PATTERN_BYTES];
    char exclude[CS_PATTERN_BYTES];
};

/* A chunk's life: FREE -> CLAIMING (one producer won the compare-and-swap)
 * -> OWNED (its header is filled in) -> SEALED (the producer moved on) ->
 * FREE (the collector read it). OWNED -> FREE too, when the collector has
 * read what a dead producer left. Every store of a state checks that it is
 * one of these steps (CS_ASSERT, cs_chunk_step_allowed). */
enum cs_chunk_state {
    CS_CHUNK_FREE = 0,
    CS_CHUNK_OWNED = 1,  /* a producer is writing into it */
    CS_CHUNK_SEALED = 2, /* the producer is done with it */
    CS_CHUNK_CLAIMING = 3, /* a producer is filling in the chunk header */
};

static inline int cs_chunk_step_allowed(uint32_t from, uint32_t to)
{
    switch (to) {
    case CS_CHUNK_CLAIMING: return from == CS_CHUNK_FREE;
    case CS_CHUNK_OWNED: return from == CS_CHUNK_CLAIMING;
    case CS_CHUNK_SEALED: return from == CS_CHUNK_OWNED;
    case CS_CHUNK_FREE: return from == CS_CHUNK_SEALED || from == CS_CHUNK_OWNED;
    default: return 0;
    }
}

struct cs_chunk {
    _Atomic uint32_t state;
    _Atomic uint32_t committed; /* bytes of data[] that are complete events */
    uint32_t pid;
    uint32_t reserved;
    uint64_t stream_id;
    uint64_t stream_seq;
    unsigned char data[];
};

struct cs_ring_header {
    uint32_t magic;
    uint32_t version;
    uint32_t chunk_size; /* including struct cs_chunk */
    uint32_t nchunks;
    uint64_t data_offset; /* of chunk 0 from the start of the mapping */
    /* Clock reference taken when the ring was created. */
    uint64_t ticks0;
    int64_t monotonic0_ns;
    int64_t wall0_ns;
    struct cs_capture_options options;
    _Atomic uint64_t next_code_id;
    _Atomic uint64_t next_stream_id;
    /* No chunk at or past this index was ever claimed: the consumer looks
     * at these only, a few with the lowest-first claims, not the whole ring. */
    _Atomic uint32_t claimed_bound;
    /* Producers claim only chunks below this: those whose memory is
     * reserved in /dev/shm, never one that could SIGBUS. A producer that
     * finds them all taken reserves as many again, up to the whole ring. */
    _Atomic uint32_t reserved_chunks;
    _Atomic uint32_t reserve_refused; /* /dev/shm had no more: the ring stays as it is */
    _Atomic uint32_t target_started; /* the traced program's code began */
    _Atomic int32_t collector_pid;   /* producers stop waiting for room if it dies; -1: gave up */
    _Atomic uint64_t lost_events;    /* total dropped, for the summary */
    _Atomic uint32_t producers_joined; /* ever registered: 0 means not yet started */
    _Atomic int32_t producers[CS_RING_MAX_PRODUCERS]; /* live producer pids */
};

struct cs_ring {
    struct cs_ring_header *header;
    size_t size;
    char name[64];
};

/* ---- lifecycle ---- */

/* Creates a new ring of about `bytes` bytes under a fresh name, readable and
 * writable by this user only. Only its first CS_RING_FIRST_RESERVED bytes
 * are reserved in /dev/shm at once, the rest as claims need it: reserving
 * all of it would cost every run the time to allocate and free memory that
 * a collector keeping up never touches. Returns 0, or -1 with a message in
 * err. */
int cs_ring_create(struct cs_ring *ring, size_t bytes, uint32_t chunk_size,
                   const struct cs_capture_options *options, char *err, size_t errlen);
/* Maps an existing ring by name (producers, and `callscope collect`). */
int cs_ring_open(struct cs_ring *ring, const char *name, char *err, size_t errlen);
void cs_ring_close(struct cs_ring *ring);
/* Removes the name; mappings stay valid until closed. */
void cs_ring_unlink(struct cs_ring *ring);
/* 1 when /dev/shm refused to reserve more of the ring: it stopped growing
 * short of its size, and producers waited or dropped events once it was
 * full. Then *had is the bytes of chunks it had and *size those it was
 * made with. 0 when it never refused. Read from the shared header, which
 * the traced program can write: for a message only. */
int cs_ring_growth_refused(const struct cs_ring *ring, size_t *had, size_t *size);

static inline struct cs_chunk *cs_ring_chunk(const struct cs_ring *ring, uint32_t i)
{
    return (struct cs_chunk *)((char *)ring->header + ring->header->data_offset +
                               (size_t)i * ring->header->chunk_size);
}

static inline size_t cs_chunk_capacity(const struct cs_ring *ring)
{
    return ring->header->chunk_size - sizeof(struct cs_chunk);
}

/* ---- producers ---- */

/* Claims a free chunk for (stream, seq) of process pid. Returns NULL when none
 * is free; the caller waits or drops according to its options. */
struct cs_chunk *cs_ring_try_claim(struct cs_ring *ring, uint32_t pid,
                                   uint64_t stream_id, uint64_t stream_seq);

static inline void cs_chunk_publish(struct cs_chunk *c, uint32_t committed)
{
    atomic_store_explicit(&c->committed, committed, memory_order_release);
}

static inline void cs_chunk_seal(struct cs_chunk *c)
{
    CS_ASSERT(cs_chunk_step_allowed(atomic_load_explicit(&c->state, memory_order_relaxed), CS_CHUNK_SEALED),
              "only the producer that owns a chunk seals it, once");
    atomic_store_explicit(&c->state, CS_CHUNK_SEALED, memory_order_release);
}

/* Registers / unregisters a process that writes into the ring. */
int cs_ring_add_producer(struct cs_ring *ring, pid_t pid);
void cs_ring_remove_producer(struct cs_ring *ring, pid_t pid);

/* ---- the consumer ---- */

/* Called with a stream's bytes in order: whole events, never split. */
typedef void (*cs_stream_bytes_fn)(void *ctx, uint64_t stream_id, uint32_t pid,
                                   const unsigned char *bytes, size_t n);

struct cs_ring_reader; /* per-chunk read offsets and per-stream progress */

struct cs_ring_reader *cs_ring_reader_new(struct cs_ring *ring);
void cs_ring_reader_free(struct cs_ring_reader *reader);
/* Hands every newly committed byte to fn and frees the chunks it finished.
 * Returns the number of bytes delivered. */
size_t cs_ring_read(struct cs_ring_reader *reader, cs_stream_bytes_fn fn, void *ctx);
/* Treats the chunks of processes that no longer exist as sealed, so the next
 * read delivers what they committed and frees them. Returns how many live
 * producer processes remain registered. */
int cs_ring_reap_dead(struct cs_ring_reader *reader);

#endif
