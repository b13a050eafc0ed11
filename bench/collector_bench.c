/*
 * collector_bench.c — how fast the collector turns events into rows, and how
 * many bytes a call costs in the store.
 *
 * A synthetic producer writes fib-like calls (one int argument, an int
 * result) into a real ring; whenever the ring is full the collector drains
 * it. Only the time spent inside the collector is counted, so the figure is
 * the collector's own rate, independent of any traced program.
 *
 *   make build/collector_bench   (or: cc -O2 -D_GNU_SOURCE -Isrc -Itests/c bench/collector_bench.c
 *                                 plus every .c of src/collector, src/store, src/core; -lsqlite3 -lm)
 *   build/collector_bench [calls] [db path]
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collector/collector.h"
#include "core/clock.h"
#include "producer.h"

struct bench {
    struct test_producer p;
    struct cs_collector *c;
    int64_t collector_ns;
    long long calls;
    char err[512];
};

static void drain(struct bench *b)
{
    int64_t start = cs_monotonic_ns();
    if (cs_collector_step(b->c, b->err, sizeof b->err) < 0) {
        fprintf(stderr, "collector_bench: %s\n", b->err);
        exit(1);
    }
    b->collector_ns += cs_monotonic_ns() - start;
}

/* Retries an event until the ring has room. */
static void put(struct bench *b, int rc)
{
    while (rc != 0) {
        drain(b);
        rc = tp_end(&b->p);
    }
}

static uint64_t fib(struct bench *b, int n, uint64_t at, int64_t *result)
{
    put(b, tp_call_int(&b->p, 1, at, n));
    at += 25;
    int64_t r = n;
    if (n >= 2) {
        int64_t x, y;
        at = fib(b, n - 1, at, &x);
        at = fib(b, n - 2, at, &y);
        r = x + y;
    }
    at += 25;
    put(b, tp_return_int(&b->p, at, r));
    b->calls++;
    *result = r;
    return at;
}

int main(int argc, char **argv)
{
    long long target = argc > 1 ? atoll(argv[1]) : 2000000;
    const char *path = argc > 2 ? argv[2] : "/tmp/callscope-bench.db";
    struct cs_capture_options opts = {0};
    struct cs_ring ring;
    static struct bench b;
    if (cs_ring_create(&ring, 64 << 20, CS_RING_DEFAULT_CHUNK, &opts, b.err, sizeof b.err) != 0) {
        fprintf(stderr, "collector_bench: %s\n", b.err);
        return 1;
    }
    cs_ring_unlink(&ring);
    struct cs_collector_options o = {.db_path = path, .command_line = "bench", .max_depth = -1};
    b.c = cs_collector_open(&ring, &o, b.err, sizeof b.err);
    if (!b.c) {
        fprintf(stderr, "collector_bench: %s\n", b.err);
        return 1;
    }
    uint64_t t = ring.header->ticks0 + 100;
    tp_open(&b.p, &ring, (uint32_t)getpid(), 1, t);
    static const char *const args[] = {"n", NULL};
    put(&b, tp_code(&b.p, 1, "__main__", "fib", "/bench/fib.py", 1, args));
    int64_t r;
    while (b.calls < target)
        t = fib(&b, 25, t + 10, &r);
    tp_seal(&b.p);
    drain(&b);
    int64_t rows_ns = b.collector_ns;
    if (getenv("BENCH_NO_FINISH")) { /* for profiling the steady state alone */
        printf("collector rate   %.2f M calls/s\n", (double)b.calls / ((double)rows_ns / 1e9) / 1e6);
        return 0;
    }
    int64_t start = cs_monotonic_ns();
    struct stat st;
    if (cs_collector_finish(b.c, b.err, sizeof b.err) != 0) {
        fprintf(stderr, "collector_bench: %s\n", b.err);
        return 1;
    }
    int64_t finish_ns = cs_monotonic_ns() - start;
    struct cs_collector_totals totals;
    cs_collector_totals(b.c, &totals);
    cs_collector_free(b.c);
    stat(path, &st);
    printf("calls            %llu\n", (unsigned long long)totals.calls);
    printf("collector rate   %.2f M calls/s (%.3f s reading, decoding and inserting)\n",
           (double)totals.calls / ((double)rows_ns / 1e9) / 1e6, (double)rows_ns / 1e9);
    printf("finish           %.3f s (last checkpoint)\n", (double)finish_ns / 1e9);
    printf("overall rate     %.2f M calls/s including finish\n",
           (double)totals.calls / ((double)(rows_ns + finish_ns) / 1e9) / 1e6);
    printf("db size          %.1f MB, %.1f bytes per call (the finished file)\n", (double)st.st_size / 1e6,
           (double)st.st_size / (double)totals.calls);
    cs_ring_close(&ring);
    return 0;
}
