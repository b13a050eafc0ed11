/*
 * fuzz_event_log.c — libFuzzer harness: a deferred recording's event log
 * (collector/event_log.h) as a file may hold it, and the collector that
 * builds calls from it fed whatever records a block holds.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../c/collector_util.h"
#include "collector/collector.h"
#include "collector/event_log.h"

static void ignore_delivery(void *ctx, uint64_t stream_id, uint32_t pid, const unsigned char *bytes, size_t n)
{
    (void)ctx, (void)stream_id, (void)pid, (void)bytes, (void)n;
}

static void ignore_calibration(void *ctx, const struct cs_clock_calibration *cal)
{
    (void)ctx, (void)cal;
}

static void deliver(void *ctx, uint64_t stream_id, uint32_t pid, const unsigned char *bytes, size_t n)
{
    cs_collector_deliver(ctx, stream_id, pid, bytes, n);
}

static void calibrate(void *ctx, const struct cs_clock_calibration *cal)
{
    cs_collector_use_calibration(ctx, cal);
}

static struct cs_collector *collector;
static char path[64];
static unsigned inputs;

static void remove_file(void)
{
    tu_remove_db(path);
}

/* The collector the records go to; a fresh one now and then, so that the
 * file it writes stays small. */
static struct cs_collector *current_collector(void)
{
    if (collector && ++inputs % 5000 == 0) {
        char err[256];
        cs_collector_finish(collector, err, sizeof err);
        cs_collector_free(collector);
        collector = NULL;
    }
    if (!collector) {
        if (!path[0]) {
            snprintf(path, sizeof path, "/tmp/fuzz-event-log-%d.db", (int)getpid());
            atexit(remove_file);
        }
        remove_file();
        struct cs_collector_facts facts = {.ticks0 = 1000, .monotonic0_ns = 1000};
        struct cs_collector_options options = {.db_path = path, .max_depth = -1};
        char err[256];
        collector = cs_collector_open_building(&facts, &options, err, sizeof err);
        if (!collector) {
            fprintf(stderr, "fuzz_event_log: %s\n", err);
            abort();
        }
    }
    return collector;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    struct cs_chunk_buffer buf = {0};
    /* The bytes as a stored block. */
    struct cs_event_log_sink quiet = {ignore_delivery, ignore_calibration, NULL};
    cs_event_log_read(data, size, &buf, &quiet, err, sizeof err);
    /* The bytes as the records of a block that decompresses (after the
     * room a log keeps for the length of its column: event_log.c). */
    struct cs_event_log log;
    cs_event_log_init(&log);
    cs_textbuf_put(&log.records, "\0\0\0\0\0", 5);
    cs_textbuf_put(&log.records, data, size);
    if (cs_event_log_seal(&log, err, sizeof err) == 1) {
        struct cs_event_log_sink sink = {deliver, calibrate, current_collector()};
        cs_event_log_read(log.blob.data, log.blob.len, &buf, &sink, err, sizeof err);
    }
    cs_event_log_free(&log);
    cs_chunk_buffer_free(&buf);
    return 0;
}
