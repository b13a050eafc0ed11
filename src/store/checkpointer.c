/*
 * checkpointer.c — the WAL copied into the main file on a thread of its own
 * (see checkpointer.h).
 *
 * SQLite starts the WAL over from its beginning only when a write
 * transaction begins with every frame already copied. The checkpointer
 * runs while the writer goes on committing, so it never copies the frames
 * of the last few commits; left at that, the WAL would grow for the whole
 * recording. Once the checkpointer has caught up, the writer's next commit
 * past the threshold copies that small remainder itself, and the WAL starts
 * over with the next transaction.
 */
#include "store/checkpointer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

struct cs_checkpointer {
    sqlite3 *db; /* the checkpointer's own connection */
    int frames;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int wanted; /* the WAL reached `frames` since the last checkpoint */
    int stop;
    atomic_int caught_up; /* its last checkpoint copied the whole WAL it saw */
    _Atomic int64_t cpu_ns;
};

/* Runs in the writer's thread after each of its commits, outside any
 * transaction. */
static int on_commit(void *arg, sqlite3 *db, const char *schema, int frames_in_wal)
{
    (void)schema;
    struct cs_checkpointer *c = arg;
    if (frames_in_wal < c->frames)
        return SQLITE_OK;
    if (atomic_exchange(&c->caught_up, 0)) {
        /* Only what was committed since the checkpointer's pass is left. */
        sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        return SQLITE_OK;
    }
    pthread_mutex_lock(&c->lock);
    c->wanted = 1;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    return SQLITE_OK;
}

static void *checkpointer_main(void *arg)
{
    struct cs_checkpointer *c = arg;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (!c->wanted && !c->stop)
            pthread_cond_wait(&c->wake, &c->lock);
        if (c->stop)
            break;
        c->wanted = 0;
        pthread_mutex_unlock(&c->lock);
        /* A failure (a full disk, a reader holding old pages) leaves the
         * pages in the WAL for the next checkpoint, or the final one,
         * which reports it. */
        int in_wal = 0, copied = 0;
        int all = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &in_wal, &copied) == SQLITE_OK &&
                  in_wal > 0 && copied == in_wal;
        atomic_store(&c->cpu_ns, cs_thread_cpu_ns());
        pthread_mutex_lock(&c->lock);
        if (all) {
            /* The rest is the writer's, at its next commit: asked for
             * meanwhile or not, another pass would only compete with it. */
            atomic_store(&c->caught_up, 1);
            c->wanted = 0;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* The checkpointer's connection. Like the writer's, it does not sync:
 * callscope keeps the file through a crash of the program, not of the
 * machine. A first read makes it find the WAL: a checkpoint on a
 * connection that has read nothing yet does nothing. */
static sqlite3 *open_connection(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 10000);
    if (sqlite3_exec(db, "PRAGMA synchronous = OFF; PRAGMA schema_version", NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

struct cs_checkpointer *cs_checkpointer_start(const char *path, sqlite3 *writer, int frames)
{
    struct cs_checkpointer *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (!(c->db = open_connection(path))) {
        free(c);
        return NULL;
    }
    c->frames = frames;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->wake, NULL);
    if (pthread_create(&c->thread, NULL, checkpointer_main, c) != 0) {
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->wake);
        sqlite3_close(c->db);
        free(c);
        return NULL;
    }
    /* Replaces SQLite's automatic checkpoints, which are a WAL hook too. */
    sqlite3_wal_hook(writer, on_commit, c);
    return c;
}

void cs_checkpointer_stop(struct cs_checkpointer *c, sqlite3 *writer)
{
    if (!c)
        return;
    sqlite3_wal_autocheckpoint(writer, c->frames);
    pthread_mutex_lock(&c->lock);
    c->stop = 1;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->wake);
    sqlite3_close(c->db);
    free(c);
}

int64_t cs_checkpointer_cpu_ns(const struct cs_checkpointer *c)
{
    return c ? atomic_load(&((struct cs_checkpointer *)c)->cpu_ns) : 0;
}
