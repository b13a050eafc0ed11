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

#include "collector/log_replay.h"
#include "store/store.h"

/* Builds the rows of path into out_path. */
static int build_into(const char *path, const char *out_path, char *err, size_t errlen)
{
    sqlite3 *db = cs_store_open_readonly(path, err, errlen);
    if (!db)
        return -1;
    int rc = -1;
    struct cs_log_replay replay = {0};
    if (cs_store_deferred_recorder_alive(db))
        snprintf(err, errlen, "%s is still being recorded: its calls can be built once the recording ends", path);
    else if (cs_log_replay_open(&replay, db, path, out_path, err, errlen) == 0 &&
             cs_log_replay_more(&replay, db, err, errlen) == 0 && cs_log_replay_finish(&replay, db, err, errlen) == 0)
        rc = 0;
    cs_log_replay_free(&replay);
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
