/*
 * ring.c — the shared-memory ring: creation, chunk claims, and the consumer
 * side that turns chunks back into ordered per-thread byte streams.
 */
#include "ring.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"

static size_t header_bytes(void)
{
    size_t page = 4096;
    return (sizeof(struct cs_ring_header) + page - 1) / page * page;
}

/* A collector that was killed leaves its ring behind in /dev/shm; the pid
 * in the name tells whether its owner still lives. */
static void remove_stale_rings(void)
{
    DIR *dir = opendir("/dev/shm");
    if (!dir)
        return;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        int pid;
        char name[300];
        if (sscanf(e->d_name, "callscope-%d-", &pid) != 1 || pid <= 0)
            continue;
        if (kill(pid, 0) == 0 || errno == EPERM)
            continue;
        snprintf(name, sizeof name, "/%s", e->d_name);
        shm_unlink(name); /* fails harmlessly for another user's ring */
    }
    closedir(dir);
}

int cs_ring_create(struct cs_ring *ring, size_t bytes, uint32_t chunk_size,
                   const struct cs_capture_options *options, char *err, size_t errlen)
{
    memset(ring, 0, sizeof *ring);
    remove_stale_rings();
    if (chunk_size < 2 * CS_MAX_EVENT_BYTES)
        chunk_size = 2 * CS_MAX_EVENT_BYTES;
    size_t nchunks = bytes / chunk_size;
    if (nchunks < 4)
        nchunks = 4;
    size_t size = header_bytes() + nchunks * (size_t)chunk_size;

    int fd = -1;
    for (int attempt = 0; attempt < 16 && fd < 0; attempt++) {
        snprintf(ring->name, sizeof ring->name, "/callscope-%d-%08lx", (int)getpid(),
                 (unsigned long)(cs_ticks() ^ ((uint64_t)attempt << 20)) & 0xfffffffful);
        fd = shm_open(ring->name, O_RDWR | O_CREAT | O_EXCL, 0600);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        snprintf(err, errlen, "cannot create shared memory for the ring: %s", strerror(errno));
        return -1;
    }
    /* posix_fallocate, unlike ftruncate alone, fails now rather than with
     * SIGBUS later when /dev/shm cannot hold what producers write into. */
    size_t first = CS_RING_FIRST_RESERVED / chunk_size;
    if (first < 4)
        first = 4;
    if (first > nchunks)
        first = nchunks;
    size_t reserved = header_bytes() + first * (size_t)chunk_size;
    int rc = ftruncate(fd, (off_t)size) == 0 ? posix_fallocate(fd, 0, (off_t)reserved) : errno;
    if (rc != 0) {
        snprintf(err, errlen, "cannot reserve %zu MB of shared memory for the ring in /dev/shm: %s",
                 (reserved + (1u << 20) - 1) >> 20, strerror(rc));
        close(fd);
        shm_unlink(ring->name);
        return -1;
    }
    void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (mem == MAP_FAILED) {
        snprintf(err, errlen, "cannot map the ring: %s", strerror(errno));
        shm_unlink(ring->name);
        return -1;
    }
    struct cs_ring_header *h = mem;
    h->chunk_size = chunk_size;
    h->nchunks = (uint32_t)nchunks;
    h->data_offset = header_bytes();
    h->ticks0 = cs_ticks();
    h->monotonic0_ns = cs_monotonic_ns();
    h->wall0_ns = cs_wall_ns();
    h->options = *options;
    atomic_store(&h->next_code_id, 1);
    atomic_store(&h->next_stream_id, 1);
    atomic_store(&h->reserved_chunks, (uint32_t)first);
    h->version = CS_RING_VERSION;
    atomic_thread_fence(memory_order_release);
    h->magic = CS_RING_MAGIC;
    ring->header = h;
    ring->size = size;
    return 0;
}

int cs_ring_open(struct cs_ring *ring, const char *name, char *err, size_t errlen)
{
    memset(ring, 0, sizeof *ring);
    snprintf(ring->name, sizeof ring->name, "%s", name);
    int fd = shm_open(name, O_RDWR, 0);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open the ring %s: %s", name, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || (size_t)st.st_size < sizeof(struct cs_ring_header)) {
        snprintf(err, errlen, "the ring %s is not a callscope ring", name);
        close(fd);
        return -1;
    }
    void *mem = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (mem == MAP_FAILED) {
        snprintf(err, errlen, "cannot map the ring %s: %s", name, strerror(errno));
        return -1;
    }
    struct cs_ring_header *h = mem;
    if (h->magic == CS_RING_MAGIC && h->version != CS_RING_VERSION) {
        /* an extension left over from an older build, say, beside a newer binary */
        snprintf(err, errlen, "the ring %s was made by another build of callscope (ring format %u; this one reads %u)",
                 name, h->version, CS_RING_VERSION);
        munmap(mem, (size_t)st.st_size);
        return -1;
    }
    if (h->magic != CS_RING_MAGIC || h->data_offset + (size_t)h->nchunks * h->chunk_size > (size_t)st.st_size) {
        snprintf(err, errlen, "the ring %s is not a callscope ring", name);
        munmap(mem, (size_t)st.st_size);
        return -1;
    }
    ring->header = h;
    ring->size = (size_t)st.st_size;
    return 0;
}

void cs_ring_close(struct cs_ring *ring)
{
    if (ring->header)
        munmap(ring->header, ring->size);
    ring->header = NULL;
}

void cs_ring_unlink(struct cs_ring *ring)
{
    if (ring->name[0])
        shm_unlink(ring->name);
}

int cs_ring_growth_refused(const struct cs_ring *ring, size_t *had, size_t *size)
{
    const struct cs_ring_header *h = ring->header;
    if (!atomic_load_explicit(&h->reserve_refused, memory_order_relaxed))
        return 0;
    *size = ring->size - header_bytes();
    *had = (size_t)atomic_load_explicit(&h->reserved_chunks, memory_order_relaxed) * h->chunk_size;
    if (*had > *size)
        *had = *size;
    return 1;
}

/* ---- producers ---- */

/* Reserves twice the chunks reserved so far (up to the whole ring) when
 * all of those are taken; 1 if it did (or another producer did meanwhile),
 * 0 when there is no more to be had. Producers race here harmlessly: a
 * range reserved twice is reserved, and the count only goes up. */
static int reserve_more(struct cs_ring *ring, uint32_t reserved)
{
    struct cs_ring_header *h = ring->header;
    uint32_t nchunks = (uint32_t)((ring->size - h->data_offset) / h->chunk_size);
    if (nchunks > h->nchunks)
        nchunks = h->nchunks;
    uint32_t want = reserved * 2 < nchunks ? reserved * 2 : nchunks;
    if (want <= reserved || atomic_load_explicit(&h->reserve_refused, memory_order_relaxed))
        return 0;
    /* Opened by name each time, not kept open: a program may close every
     * descriptor it did not open itself, and one of its own files could
     * then take the number. */
    int fd = shm_open(ring->name, O_RDWR, 0);
    if (fd < 0)
        return 0; /* the collector has gone and removed it */
    int rc, tries = 0;
    do /* a signal of the program's own may cut it short: not a refusal */
        rc = posix_fallocate(fd, (off_t)(h->data_offset + (size_t)reserved * h->chunk_size),
                             (off_t)((size_t)(want - reserved) * h->chunk_size));
    while (rc == EINTR && ++tries < 16);
    close(fd);
    if (rc != 0) {
        atomic_store_explicit(&h->reserve_refused, 1, memory_order_relaxed); /* /dev/shm is full */
        return 0;
    }
    /* Published only once reserved: a chunk below the count never SIGBUSes. */
    uint32_t seen = reserved;
    while (seen < want && !atomic_compare_exchange_weak_explicit(&h->reserved_chunks, &seen, want,
                                                                 memory_order_release, memory_order_relaxed))
        ;
    return 1;
}

/* The lowest free chunk below n, claimed; NULL when all are taken. */
static struct cs_chunk *claim_below(struct cs_ring *ring, uint32_t n, uint32_t pid, uint64_t stream_id,
                                    uint64_t stream_seq)
{
    struct cs_ring_header *h = ring->header;
    /* The lowest free chunk, always: the collector frees chunks soon after
     * they are sealed, so the few in use stay in the caches and their pages
     * stay mapped. Going round the whole ring instead touches every page of
     * it once in each process, a page fault each (16k per 64 MB), and brings
     * every byte in cold from memory. */
    for (uint32_t i = 0; i < n; i++) {
        struct cs_chunk *c = cs_ring_chunk(ring, i);
        uint32_t expected = CS_CHUNK_FREE;
        if (atomic_load_explicit(&c->state, memory_order_relaxed) != CS_CHUNK_FREE)
            continue;
        if (!atomic_compare_exchange_strong_explicit(&c->state, &expected, CS_CHUNK_CLAIMING,
                                                     memory_order_acquire, memory_order_relaxed))
            continue;
        c->pid = pid;
        c->stream_id = stream_id;
        c->stream_seq = stream_seq;
        atomic_store_explicit(&c->committed, 0, memory_order_relaxed);
        /* The consumer ignores CLAIMING chunks: the header is only trusted
         * once OWNED is visible. */
        CS_ASSERT(cs_chunk_step_allowed(atomic_load_explicit(&c->state, memory_order_relaxed), CS_CHUNK_OWNED),
                  "the chunk this producer won is still CLAIMING");
        /* Only ever raised, so a consumer that missed this chunk in one
         * sweep finds it in the next. */
        uint32_t bound = atomic_load_explicit(&h->claimed_bound, memory_order_relaxed);
        while (bound < i + 1 &&
               !atomic_compare_exchange_weak_explicit(&h->claimed_bound, &bound, i + 1,
                                                      memory_order_relaxed, memory_order_relaxed))
            ;
        atomic_store_explicit(&c->state, CS_CHUNK_OWNED, memory_order_release);
        return c;
    }
    return NULL;
}

struct cs_chunk *cs_ring_try_claim(struct cs_ring *ring, uint32_t pid, uint64_t stream_id,
                                   uint64_t stream_seq)
{
    struct cs_ring_header *h = ring->header;
    for (;;) {
        uint32_t n = atomic_load_explicit(&h->reserved_chunks, memory_order_acquire);
        if (n > h->nchunks)
            n = h->nchunks;
        struct cs_chunk *c = claim_below(ring, n, pid, stream_id, stream_seq);
        if (c || !reserve_more(ring, n))
            return c;
    }
}

int cs_ring_add_producer(struct cs_ring *ring, pid_t pid)
{
    for (int i = 0; i < CS_RING_MAX_PRODUCERS; i++) {
        int32_t expected = 0;
        if (atomic_compare_exchange_strong(&ring->header->producers[i], &expected, (int32_t)pid)) {
            atomic_fetch_add(&ring->header->producers_joined, 1);
            return 0;
        }
    }
    return -1;
}

void cs_ring_remove_producer(struct cs_ring *ring, pid_t pid)
{
    for (int i = 0; i < CS_RING_MAX_PRODUCERS; i++) {
        int32_t expected = (int32_t)pid;
        if (atomic_compare_exchange_strong(&ring->header->producers[i], &expected, 0))
            return;
    }
}

/* ---- the consumer ---- */

struct cs_ring_reader {
    struct cs_ring *ring;
    uint32_t *read_offset; /* per chunk: bytes already delivered */
    unsigned char *dead;   /* per chunk: its process is gone, treat as sealed */
    uint64_t *next_seq;    /* per stream id: the chunk sequence number due */
    uint32_t nchunks;      /* as the ring was when opened: the header is shared */
    size_t nstreams;
};

struct cs_ring_reader *cs_ring_reader_new(struct cs_ring *ring)
{
    struct cs_ring_reader *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->ring = ring;
    r->nchunks = ring->header->nchunks;
    r->read_offset = calloc(r->nchunks, sizeof *r->read_offset);
    r->dead = calloc(r->nchunks, 1);
    if (!r->read_offset || !r->dead) {
        cs_ring_reader_free(r);
        return NULL;
    }
    return r;
}

void cs_ring_reader_free(struct cs_ring_reader *r)
{
    if (!r)
        return;
    free(r->read_offset);
    free(r->dead);
    free(r->next_seq);
    free(r);
}

static uint64_t *stream_next_seq(struct cs_ring_reader *r, uint64_t stream_id)
{
    if (stream_id >= r->nstreams) {
        size_t n = r->nstreams ? r->nstreams : 64;
        while (n <= stream_id)
            n *= 2;
        uint64_t *grown = realloc(r->next_seq, n * sizeof *grown);
        if (!grown)
            return NULL;
        memset(grown + r->nstreams, 0, (n - r->nstreams) * sizeof *grown);
        r->next_seq = grown;
        r->nstreams = n;
    }
    return &r->next_seq[stream_id];
}

/* How many chunks, from the first, any producer has claimed so far. */
static uint32_t claimed_bound(const struct cs_ring_reader *r)
{
    uint32_t n = atomic_load_explicit(&r->ring->header->claimed_bound, memory_order_acquire);
    return n < r->nchunks ? n : r->nchunks; /* the producers' word, not trusted past the ring */
}

size_t cs_ring_read(struct cs_ring_reader *r, cs_stream_bytes_fn fn, void *ctx)
{
    struct cs_ring *ring = r->ring;
    size_t delivered = 0;
    /* Freeing a stream's chunk can make its next chunk due, possibly at an
     * index already passed: sweep again while sweeps free chunks. */
    for (int sweep = 0; sweep < 8; sweep++) {
        int freed = 0;
        uint32_t n = claimed_bound(r);
        for (uint32_t i = 0; i < n; i++) {
            struct cs_chunk *c = cs_ring_chunk(ring, i);
            uint32_t state = atomic_load_explicit(&c->state, memory_order_acquire);
            if (state != CS_CHUNK_OWNED && state != CS_CHUNK_SEALED)
                continue;
            uint64_t *due = stream_next_seq(r, c->stream_id);
            if (!due || *due != c->stream_seq)
                continue;
            /* state was loaded first: if it said SEALED, committed is final. */
            uint32_t end = atomic_load_explicit(&c->committed, memory_order_acquire);
            if (end > cs_chunk_capacity(ring))
                end = (uint32_t)cs_chunk_capacity(ring); /* never trust a producer's word blindly */
            if (end > r->read_offset[i]) {
                fn(ctx, c->stream_id, c->pid, c->data + r->read_offset[i], end - r->read_offset[i]);
                delivered += end - r->read_offset[i];
                r->read_offset[i] = end;
            }
            if (state == CS_CHUNK_SEALED || r->dead[i]) {
                if (r->dead[i]) {
                    /* Re-read: a dead producer cannot write any more. */
                    uint32_t last = atomic_load_explicit(&c->committed, memory_order_acquire);
                    if (last > end && last <= cs_chunk_capacity(ring)) {
                        fn(ctx, c->stream_id, c->pid, c->data + end, last - end);
                        delivered += last - end;
                    }
                }
                r->read_offset[i] = 0;
                r->dead[i] = 0;
                (*due)++;
                CS_ASSERT(cs_chunk_step_allowed(state, CS_CHUNK_FREE),
                          "the collector frees only chunks it has read to their end");
                atomic_store_explicit(&c->state, CS_CHUNK_FREE, memory_order_release);
                freed++;
            }
        }
        if (!freed)
            break;
    }
    return delivered;
}

static int process_exists(int32_t pid)
{
    return kill(pid, 0) == 0 || errno == EPERM;
}

int cs_ring_reap_dead(struct cs_ring_reader *r)
{
    struct cs_ring *ring = r->ring;
    uint32_t n = claimed_bound(r);
    for (uint32_t i = 0; i < n; i++) {
        struct cs_chunk *c = cs_ring_chunk(ring, i);
        uint32_t state = atomic_load_explicit(&c->state, memory_order_acquire);
        if (state == CS_CHUNK_OWNED && !r->dead[i] && !process_exists((int32_t)c->pid))
            r->dead[i] = 1;
    }
    int live = 0;
    for (int i = 0; i < CS_RING_MAX_PRODUCERS; i++) {
        int32_t pid = atomic_load(&ring->header->producers[i]);
        if (!pid)
            continue;
        if (process_exists(pid))
            live++;
        else
            atomic_compare_exchange_strong(&ring->header->producers[i], &pid, 0);
    }
    return live;
}
