/*
 * log_replay.c — feeding a deferred recording's event log to a building
 * collector (see log_replay.h).
 */
#include "collector/log_replay.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/event_log.h"
#include "store/store.h"

static void deliver(void *ctx, uint64_t stream_id, uint32_t pid, const unsigned char *bytes, size_t n)
{
    cs_collector_deliver(ctx, stream_id, pid, bytes, n);
}

static void calibration(void *ctx, const struct cs_clock_calibration *cal)
{
    cs_collector_use_calibration(ctx, cal);
}

/* cs_store_each_event_block callback: non-zero stops. */
static int feed_block(void *ctx, int64_t seq, const void *blob, size_t len)
{
    struct cs_log_replay *r = ctx;
    char why[200];
    struct cs_event_log_sink sink = {deliver, calibration, r->c};
    if (cs_event_log_read(blob, len, &r->buf, &sink, why, sizeof why) != 0) {
        snprintf(r->err, r->errlen, "%s is corrupt: %s", r->path, why);
        return -1;
    }
    r->last_seq = seq;
    return cs_collector_error(r->c, r->err, r->errlen) != 0 ? -1 : 0;
}

int cs_log_replay_open(struct cs_log_replay *r, sqlite3 *log_db, const char *path, const char *out_path, char *err,
                       size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    struct cs_collector_facts facts = {
        .ticks0 = (uint64_t)cs_store_meta_int(log_db, "ring_ticks0", 0),
        .monotonic0_ns = cs_store_meta_int(log_db, "ring_monotonic0_ns", 0),
        .wall0_ns = cs_store_meta_int(log_db, "started_wall_ns", 0),
        .capture_flags = (uint32_t)cs_store_meta_int(log_db, "capture_flags", 0),
        .lost_events = (uint64_t)cs_store_meta_int(log_db, "ring_lost_events", 0),
    };
    if (!(r->command = cs_store_meta_text(log_db, "command"))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int64_t max_depth = cs_store_meta_int(log_db, "max_depth", -1);
    struct cs_collector_options options = {
        .db_path = out_path,
        .command_line = r->command,
        .min_duration_ns = cs_store_meta_int(log_db, "min_duration_ns", 0),
        .max_depth = max_depth < -1 || max_depth > INT32_MAX ? -1 : (int)max_depth,
    };
    r->c = cs_collector_open_building(&facts, &options, err, errlen);
    return r->c ? 0 : -1;
}

int cs_log_replay_more(struct cs_log_replay *r, sqlite3 *log_db, char *err, size_t errlen)
{
    r->err = err;
    r->errlen = errlen;
    return cs_store_each_event_block(log_db, r->last_seq, feed_block, r, err, errlen) == 0 ? 0 : -1;
}

int cs_log_replay_finish(struct cs_log_replay *r, sqlite3 *log_db, char *err, size_t errlen)
{
    /* (a log tells what the producers dropped only with its end) */
    cs_collector_set_ring_lost(r->c, (uint64_t)cs_store_meta_int(log_db, "ring_lost_events", 0));
    return cs_collector_finish(r->c, err, errlen);
}

void cs_log_replay_free(struct cs_log_replay *r)
{
    cs_collector_free(r->c);
    free(r->command);
    cs_chunk_buffer_free(&r->buf);
    memset(r, 0, sizeof *r);
}
