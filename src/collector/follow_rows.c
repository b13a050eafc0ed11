/*
 * follow_rows.c — a reader's copy of the calls of a deferred recording
 * under way (see follow_rows.h).
 */
#include "collector/follow_rows.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collector/log_replay.h"
#include "store/store.h"

struct cs_follow_rows {
    char *path;
    sqlite3 *log;             /* the recording, read-only */
    struct cs_log_replay replay;
    char dir[PATH_MAX];       /* private to this reader: the copy and its write-ahead files */
    char files[3][PATH_MAX + 16]; /* the copy, its -wal and -shm, ready for a signal handler */
    int complete;
};

#define COPY_PREFIX "callscope-reading-"
static const char *const copy_files[] = {"calls.db", "calls.db-wal", "calls.db-shm"};
#define NCOPY_FILES (sizeof copy_files / sizeof *copy_files)

/* Removes the copies that readers killed outright (SIGKILL, a crash) left
 * in tmp: the directories of COPY_PREFIX PID-XXXXXX of this user whose
 * process is gone. Only the files a copy has are removed from them, through
 * the directory opened without following links. */
static void remove_abandoned_copies(const char *tmp)
{
    DIR *d = opendir(tmp);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        if (strncmp(e->d_name, COPY_PREFIX, strlen(COPY_PREFIX)) != 0)
            continue;
        long pid = strtol(e->d_name + strlen(COPY_PREFIX), &end, 10);
        struct stat st;
        if (*end != '-' || pid <= 0 || pid > INT32_MAX || kill((pid_t)pid, 0) == 0 || errno != ESRCH ||
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode) ||
            st.st_uid != getuid())
            continue;
        int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            continue;
        for (size_t i = 0; i < NCOPY_FILES; i++)
            unlinkat(fd, copy_files[i], 0);
        close(fd);
        unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR); /* (fails, harmlessly, if anything else is in it) */
    }
    closedir(d);
}

struct cs_follow_rows *cs_follow_rows_open(const char *path, char *err, size_t errlen)
{
    struct cs_follow_rows *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    remove_abandoned_copies(tmp);
    if (snprintf(f->dir, sizeof f->dir, "%s/" COPY_PREFIX "%ld-XXXXXX", tmp, (long)getpid()) >= (int)sizeof f->dir ||
        !mkdtemp(f->dir)) {
        snprintf(err, errlen, "cannot make a directory in %s for the calls of %s so far: %m", tmp, path);
        f->dir[0] = '\0';
        cs_follow_rows_close(f);
        return NULL;
    }
    for (size_t i = 0; i < NCOPY_FILES; i++)
        snprintf(f->files[i], sizeof f->files[i], "%s/%s", f->dir, copy_files[i]);
    if (!(f->log = cs_store_open_readonly(path, err, errlen)) ||
        cs_log_replay_open(&f->replay, f->log, f->path, f->files[0], err, errlen) != 0 ||
        cs_follow_rows_catch_up(f, err, errlen) < 0) {
        cs_follow_rows_close(f);
        return NULL;
    }
    return f;
}

const char *cs_follow_rows_path(const struct cs_follow_rows *f)
{
    return f->files[0];
}

int cs_follow_rows_catch_up(struct cs_follow_rows *f, char *err, size_t errlen)
{
    if (f->complete)
        return 1;
    /* Asked before the blocks are read: a recording that had ended then
     * had committed its last block with its end. */
    int ended = !cs_store_deferred_recorder_alive(f->log);
    if (cs_log_replay_more(&f->replay, f->log, err, errlen) != 0)
        return -1;
    if (!ended) {
        cs_collector_show_so_far(f->replay.c);
        return cs_collector_error(f->replay.c, err, errlen) != 0 ? -1 : 0;
    }
    if (cs_log_replay_finish(&f->replay, f->log, err, errlen) != 0)
        return -1;
    f->complete = 1;
    return 1;
}

void cs_follow_rows_remove_files(const struct cs_follow_rows *f)
{
    if (!f || !f->dir[0])
        return;
    for (size_t i = 0; i < NCOPY_FILES; i++)
        unlink(f->files[i]);
    rmdir(f->dir);
}

void cs_follow_rows_close(struct cs_follow_rows *f)
{
    if (!f)
        return;
    cs_log_replay_free(&f->replay);
    if (f->log)
        cs_store_close_readonly(f->log);
    cs_follow_rows_remove_files(f);
    free(f->path);
    free(f);
}
