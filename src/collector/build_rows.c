/*
 * build_rows.c — the rows of a deferred recording (`callscope run
 * --defer-rows`), built from its event log by the collector fed as the
 * ring fed it while the program ran (event_log.h).
 *
 * The rows go into a new file beside the recording, which replaces it
 * once complete: a failure, or a kill, leaves the log as it was.
 */
#include "collector/collector.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collector/event_log.h"
#include "store/store.h"

struct building {
    struct cs_collector *c;
    struct cs_chunk_buffer buf;
    const char *path;
    char *err;
    size_t errlen;
};

static void deliver(void *ctx, uint64_t stream_id, uint32_t pid, const unsigned char *bytes, size_t n)
{
    cs_collector_deliver(ctx, stream_id, pid, bytes, n);
}

static void calibration(void *ctx, const struct cs_clock_calibration *cal)
{
    cs_collector_use_calibration(ctx, cal);
}

/* cs_store_each_event_block callback: non-zero stops. */
static int build_block(void *ctx, const void *blob, size_t len)
{
    struct building *b = ctx;
    char why[200];
    struct cs_event_log_sink sink = {deliver, calibration, b->c};
    if (cs_event_log_read(blob, len, &b->buf, &sink, why, sizeof why) != 0) {
        snprintf(b->err, b->errlen, "%s is corrupt: %s", b->path, why);
        return -1;
    }
    return cs_collector_error(b->c, b->err, b->errlen) != 0 ? -1 : 0;
}

/* meta's text at key, to free ("" if none); NULL when out of memory. */
static char *meta_text(sqlite3 *db, const char *key)
{
    sqlite3_stmt *st;
    const char *text = NULL;
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?", -1, &st, NULL) != SQLITE_OK)
        return strdup("");
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        text = (const char *)sqlite3_column_text(st, 0);
    char *copy = strdup(text ? text : "");
    sqlite3_finalize(st);
    return copy;
}

/* Builds the rows of path into out_path. */
static int build_into(const char *path, const char *out_path, char *err, size_t errlen)
{
    sqlite3 *db = cs_store_open_readonly(path, err, errlen);
    if (!db)
        return -1;
    int rc = -1;
    struct building b = {.path = path, .err = err, .errlen = errlen};
    char *command = NULL;
    if (cs_store_deferred_recorder_alive(db)) {
        snprintf(err, errlen, "%s is still being recorded: its calls can be built once the recording ends", path);
        goto done;
    }
    struct cs_collector_facts facts = {
        .ticks0 = (uint64_t)cs_store_meta_int(db, "ring_ticks0", 0),
        .monotonic0_ns = cs_store_meta_int(db, "ring_monotonic0_ns", 0),
        .wall0_ns = cs_store_meta_int(db, "started_wall_ns", 0),
        .capture_flags = (uint32_t)cs_store_meta_int(db, "capture_flags", 0),
        .lost_events = (uint64_t)cs_store_meta_int(db, "ring_lost_events", 0),
    };
    if (!(command = meta_text(db, "command"))) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    int64_t max_depth = cs_store_meta_int(db, "max_depth", -1);
    struct cs_collector_options options = {
        .db_path = out_path,
        .command_line = command,
        .min_duration_ns = cs_store_meta_int(db, "min_duration_ns", 0),
        .max_depth = max_depth < -1 || max_depth > INT32_MAX ? -1 : (int)max_depth,
    };
    b.c = cs_collector_open_building(&facts, &options, err, errlen);
    if (!b.c)
        goto done;
    if (cs_store_each_event_block(db, build_block, &b, err, errlen) == 0 &&
        cs_collector_finish(b.c, err, errlen) == 0)
        rc = 0;
done:
    cs_collector_free(b.c);
    free(command);
    cs_chunk_buffer_free(&b.buf);
    cs_store_close_readonly(db);
    return rc;
}

/* Whether the file at path (now) holds a deferred recording: 1, 0, or -1
 * with err (it does not open as a recording). */
static int is_deferred(const char *path, char *err, size_t errlen)
{
    sqlite3 *db = cs_store_open_readonly(path, err, errlen);
    if (!db)
        return -1;
    int deferred = cs_store_rows_deferred(db);
    cs_store_close_readonly(db);
    return deferred;
}

/* The file whose flock guards the build of its calls. */
static int open_recording(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        snprintf(err, errlen, errno == ENOENT ? "%s: no such file" : "cannot read %s: %m", path);
    return fd;
}

int cs_collector_lock_for_build(const char *path, char *err, size_t errlen)
{
    int fd = open_recording(path, err, errlen);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, errlen, "the calls of %s are being built", path);
        close(fd);
        return -1;
    }
    return fd;
}

/* Whether path is still the file lock_fd opened (and locked). */
static int still_the_locked_file(int lock_fd, const char *path)
{
    struct stat locked, now;
    return fstat(lock_fd, &locked) == 0 && stat(path, &now) == 0 && locked.st_ino == now.st_ino &&
           locked.st_dev == now.st_dev;
}

int cs_collector_build_rows_locked(const char *path, int lock_fd, int *built, char *err, size_t errlen)
{
    *built = 0;
    /* If another build has replaced the file locked since, path is a file
     * with its calls. */
    if (!still_the_locked_file(lock_fd, path))
        return is_deferred(path, err, errlen) < 0 ? -1 : 0;
    int deferred = is_deferred(path, err, errlen);
    if (deferred <= 0)
        return deferred;
    char building[PATH_MAX];
    if (snprintf(building, sizeof building, "%s.building", path) >= (int)sizeof building) {
        snprintf(err, errlen, "%s: the path is too long", path);
        return -1;
    }
    if (build_into(path, building, err, errlen) != 0 || !still_the_locked_file(lock_fd, path)) {
        /* (a new recording may have taken the path meanwhile: it stays) */
        if (!still_the_locked_file(lock_fd, path))
            snprintf(err, errlen, "%s was replaced while its calls were built: it is left as it is", path);
        unlink(building);
        cs_store_remove_side_files(building);
        return -1;
    }
    /* The log's write-ahead files must not outlive it: beside the new file
     * they would be read as its own. Everything in them was read above. */
    cs_store_remove_side_files(path);
    cs_store_remove_side_files(building);
    if (rename(building, path) != 0) {
        snprintf(err, errlen, "cannot replace %s: %m", path);
        unlink(building);
        return -1;
    }
    *built = 1;
    return 0;
}

int cs_collector_build_rows(const char *path, int *built, char *err, size_t errlen)
{
    int fd = open_recording(path, err, errlen);
    if (fd < 0)
        return -1;
    int rc = -1;
    if (flock(fd, LOCK_EX) != 0)
        snprintf(err, errlen, "cannot lock %s: %m", path);
    else
        rc = cs_collector_build_rows_locked(path, fd, built, err, errlen);
    close(fd); /* (and the lock with it) */
    return rc;
}
