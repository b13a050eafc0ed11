/*
 * checkpointer.c — the WAL copied into the main file on a thread of its own
 * (see checkpointer.h).
 */
#include "store/checkpointer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

struct cs_checkpointer {
    char *path;
    int frames;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int wanted; /* the WAL reached `frames` since the last checkpoint */
    int stop;
    _Atomic int64_t cpu_ns;
};

/* Runs in the writer's thread after each of its commits. */
static int on_commit(void *arg, sqlite3 *db, const char *schema, int frames_in_wal)
{
    (void)db, (void)schema;
    struct cs_checkpointer *c = arg;
    if (frames_in_wal >= c->frames) {
        pthread_mutex_lock(&c->lock);
        c->wanted = 1;
        pthread_cond_signal(&c->wake);
        pthread_mutex_unlock(&c->lock);
    }
    return SQLITE_OK;
}

static void *checkpointer_main(void *arg)
{
    struct cs_checkpointer *c = arg;
    sqlite3 *db = NULL;
    /* A first read makes the connection find the WAL: a checkpoint on a
     * connection that has read nothing yet does nothing. */
    if (sqlite3_open_v2(c->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA schema_version", NULL, NULL, NULL) != SQLITE_OK) {
        /* Nothing is lost: the WAL keeps every page, and the final
         * checkpoint copies them (or reports why it cannot). */
        sqlite3_close(db);
        db = NULL;
    }
    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (!c->wanted && !c->stop)
            pthread_cond_wait(&c->wake, &c->lock);
        if (c->stop)
            break;
        c->wanted = 0;
        pthread_mutex_unlock(&c->lock);
        /* A failure (a full disk, a reader holding old pages) leaves the
         * pages in the WAL for the next one. */
        if (db)
            sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        atomic_store(&c->cpu_ns, cs_thread_cpu_ns());
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    sqlite3_close(db);
    return NULL;
}

struct cs_checkpointer *cs_checkpointer_start(const char *path, sqlite3 *writer, int frames)
{
    struct cs_checkpointer *c = calloc(1, sizeof *c);
    if (!c || !(c->path = strdup(path))) {
        free(c);
        return NULL;
    }
    c->frames = frames;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->wake, NULL);
    if (pthread_create(&c->thread, NULL, checkpointer_main, c) != 0) {
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->wake);
        free(c->path);
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
    free(c->path);
    free(c);
}

int64_t cs_checkpointer_cpu_ns(const struct cs_checkpointer *c)
{
    return c ? atomic_load(&((struct cs_checkpointer *)c)->cpu_ns) : 0;
}
