/*
 * store.c — the writing side of the store (see store.h): opening,
 * configuring and closing the connection, and its first error. The rest of
 * the writing side is in store_calls.c, store_transactions.c and
 * store_tables.c (store_internal.h says which does what).
 *
 * Two threads share the work. The caller's thread (the collector) gives
 * out call ids, keeps completed rows in the window until they can go out
 * sorted, and hands them over in batches; a writer thread, started with the
 * first batch, binds them and steps SQLite. Rendering and decoding thus run
 * on one core while SQLite, most of the cost per call, runs on the other.
 * Batches, commits and trims go through one FIFO, so they reach the file
 * in the order they were asked for. The few rows of the small tables are
 * written by the caller directly, holding the connection's lock; the writer
 * takes that lock per group of rows and steps aside while the caller waits.
 */
#include "store/store_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/schema.h"

/* ---- errors ---- */

/* Keeps the first error only; either thread may meet one. */
void cs_store_fail(struct cs_store *s, const char *fmt, ...)
{
    pthread_mutex_lock(&s->error_lock);
    if (atomic_load(&s->failed) != STORE_ERROR) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->error, sizeof s->error, fmt, ap);
        va_end(ap);
        atomic_store(&s->failed, STORE_ERROR);
    }
    pthread_mutex_unlock(&s->error_lock);
}

int cs_store_is_disk_full(struct cs_store *s, int rc)
{
    if (rc == SQLITE_FULL)
        return 1;
    /* SQLite says SQLITE_FULL for a write that found no room; growing a
     * file in other ways (the -shm index, a truncate) says IOERR. */
    int e = s->db ? sqlite3_system_errno(s->db) : 0;
    return (rc & 0xff) == SQLITE_IOERR && (e == ENOSPC || e == EDQUOT);
}

/* Called with db_lock held (the message comes from the connection). */
void cs_store_fail_rc(struct cs_store *s, int rc, const char *doing)
{
    if (failed(s) == STORE_ERROR)
        return;
    if (s->recording && cs_store_is_disk_full(s, rc))
        cs_store_pause_for_room(s);
    else if (failed(s))
        return; /* what fails while the disk is full is what it stopped */
    else if (rc == SQLITE_FULL)
        cs_store_fail(s, "cannot write %s: the disk is full", s->path);
    else if (rc == SQLITE_IOERR || (rc & 0xff) == SQLITE_IOERR || rc == SQLITE_CANTOPEN)
        cs_store_fail(s, "cannot %s %s: %s", doing, s->path,
             sqlite3_system_errno(s->db) ? strerror(sqlite3_system_errno(s->db)) : sqlite3_errstr(rc));
    else
        cs_store_fail(s, "cannot %s %s: %s", doing, s->path, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
}

const char *cs_store_error(const struct cs_store *s)
{
    return failed(s) == STORE_ERROR ? s->error : NULL;
}

int cs_store_exec(struct cs_store *s, const char *sql)
{
    if (failed(s))
        return -1;
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        cs_store_fail_rc(s, rc, "write");
        return -1;
    }
    return 0;
}


/* ---- opening ---- */

static int prepare(struct cs_store *s, sqlite3_stmt **st, const char *sql)
{
    int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
    if (rc != SQLITE_OK) {
        cs_store_fail_rc(s, rc, "prepare");
        return -1;
    }
    return 0;
}

static int prepare_all(struct cs_store *s)
{
    return prepare(s, &s->insert_chunk, "INSERT INTO call_chunks VALUES (?,?,?,?)") ||
           prepare(s, &s->insert_late, "INSERT OR REPLACE INTO call_late VALUES (?,?,?,?,?,?,?,?,?,?,?,?)") ||
           prepare(s, &s->insert_val_chunk, "INSERT INTO val_chunks VALUES (?,?,?,?)") ||
           prepare(s, &s->insert_function,
                   "INSERT OR REPLACE INTO functions VALUES (?,?,?,?,?,?,?,?)") ||
           prepare(s, &s->insert_process, "INSERT OR IGNORE INTO processes VALUES (?,?)") ||
           prepare(s, &s->insert_thread, "INSERT OR IGNORE INTO threads VALUES (?,?,?,NULL)") ||
           prepare(s, &s->update_thread_name, "UPDATE threads SET name = ? WHERE id = ?") ||
           prepare(s, &s->insert_log, "INSERT INTO logs VALUES (NULL,?,?,?,?,?)") ||
           prepare(s, &s->insert_lost, "INSERT INTO lost VALUES (NULL,?,?,?)") ||
           prepare(s, &s->set_meta, "INSERT OR REPLACE INTO meta VALUES (?,?)");
}

/* Only an older callscope store may be replaced: a mistyped -o must not
 * destroy someone's other database. */
static int remove_old_store(const char *path, char *err, size_t errlen)
{
    switch (cs_schema_file_kind(path)) {
    case CS_FILE_MISSING:
        return 0;
    case CS_FILE_EMPTY:
    case CS_FILE_CALLSCOPE:
        break;
    case CS_FILE_UNREADABLE:
        snprintf(err, errlen, "cannot replace %s: %s", path, strerror(errno));
        return -1;
    default:
        snprintf(err, errlen, "%s exists and is not a callscope database; not replacing it", path);
        return -1;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        snprintf(err, errlen, "cannot replace %s: %s", path, strerror(errno));
        return -1;
    }
    cs_store_remove_side_files(path);
    return 0;
}

void cs_store_remove_side_files(const char *path)
{
    char side[4096];
    if (snprintf(side, sizeof side, "%s-wal", path) < (int)sizeof side)
        unlink(side);
    if (snprintf(side, sizeof side, "%s-shm", path) < (int)sizeof side)
        unlink(side);
}

/* Settings for a single writer that can afford to lose the file in a crash
 * of the machine (synchronous=OFF) but not of the traced program. The
 * identifying pragmas go in before WAL so the main file's header carries
 * them even while everything else still sits in the WAL. */
static int configure(struct cs_store *s)
{
    char pragmas[256];
    /* synchronous = OFF from the first write: creating the file is then
     * not a dozen fsyncs that the program's start would wait for */
    snprintf(pragmas, sizeof pragmas, "PRAGMA page_size = %d; PRAGMA auto_vacuum = NONE; PRAGMA synchronous = OFF;",
             PAGE_SIZE);
    int rc = sqlite3_exec(s->db, pragmas, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = cs_schema_create(s->db);
    if (rc == SQLITE_OK) {
        snprintf(pragmas, sizeof pragmas,
                 "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; PRAGMA cache_size = -%d;"
                 "PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = %d;",
                 RECORDING_CACHE_KB, AUTOCHECKPOINT_PAGES);
        rc = sqlite3_exec(s->db, pragmas, NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        cs_store_fail_rc(s, rc, "create");
        return -1;
    }
    s->checkpointer = cs_checkpointer_start(s->path, s->db, AUTOCHECKPOINT_PAGES);
    if (!(s->blocks = cs_call_blocks_new(s->db))) {
        cs_store_fail(s, "out of memory");
        return -1;
    }
    return prepare_all(s);
}

/* The writer's connection checkpoints for itself from here on; called with
 * the writer idle (db_lock held, or the writer stopped). */
void cs_store_stop_checkpointer(struct cs_store *s)
{
    if (!s->checkpointer)
        return;
    s->checkpointer_cpu_ns = cs_checkpointer_cpu_ns(s->checkpointer);
    cs_checkpointer_stop(s->checkpointer, s->db);
    s->checkpointer = NULL;
}

static void free_batch(struct batch *b)
{
    if (!b)
        return;
    free(b->rows);
    free(b->order);
    free(b->late);
    free(b->vals);
    cs_textbuf_free(&b->text);
    free(b);
}

struct cs_store *cs_store_create(const char *path, char *err, size_t errlen)
{
    /* Process-wide: no allocation statistics (a mutex per malloc). Fails
     * harmlessly if SQLite was already initialised. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    if (remove_old_store(path, err, errlen) != 0)
        return NULL;
    struct cs_store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->error_lock, NULL);
    pthread_mutex_init(&s->queue_lock, NULL);
    pthread_cond_init(&s->queue_changed, NULL);
    pthread_mutex_init(&s->db_lock, NULL);
    s->path = strdup(path);
    s->window = calloc(WINDOW, sizeof *s->window);
    s->cur = calloc(1, sizeof *s->cur);
    s->chunk_encoder = cs_chunk_encoder_new(CHUNK_ZSTD_LEVEL);
    s->val_encoder = cs_val_encoder_new(CHUNK_ZSTD_LEVEL);
    if (!s->path || !s->window || !s->cur || !s->chunk_encoder || !s->val_encoder) {
        snprintf(err, errlen, "out of memory");
        cs_store_close(s);
        return NULL;
    }
    s->next_call_id = 1;
    s->window_base = 1;
    int rc = sqlite3_open_v2(path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        cs_store_fail_rc(s, rc, "create");
    } else {
        /* A reader opening the file while its schema is being made (before
         * WAL, readers lock it for a moment) must not fail the recording. */
        sqlite3_busy_timeout(s->db, 10000);
        configure(s);
    }
    if (failed(s)) {
        snprintf(err, errlen, "%s", s->error);
        cs_store_close(s);
        return NULL;
    }
    s->recording = 1;
    return s;
}

static void stop_writer(struct cs_store *s)
{
    if (!s->writer_started)
        return;
    pthread_mutex_lock(&s->queue_lock);
    s->writer_stop = 1;
    pthread_cond_broadcast(&s->queue_changed);
    pthread_mutex_unlock(&s->queue_lock);
    pthread_join(s->writer, NULL);
    s->writer_started = 0;
}

void cs_store_close(struct cs_store *s)
{
    if (!s)
        return;
    if (s->db && !failed(s))
        cs_store_commit(s);
    stop_writer(s);
    cs_store_stop_checkpointer(s);
    sqlite3_stmt *all[] = {s->insert_chunk, s->insert_late, s->insert_val_chunk, s->insert_function, s->insert_process,
                           s->insert_thread, s->update_thread_name,
                           s->insert_log, s->insert_lost, s->set_meta, s->insert_event_block};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        sqlite3_finalize(all[i]);
    cs_call_blocks_free(s->blocks);
    cs_chunk_encoder_free(s->chunk_encoder);
    cs_val_encoder_free(s->val_encoder);
    cs_textbuf_free(&s->chunk_blob);
    cs_textbuf_free(&s->journal);
    sqlite3_close(s->db);
    free_batch(s->cur);
    for (size_t i = 0; i < s->queue_len; i++) /* only if the writer never ran */
        free_batch(s->queue[(s->queue_head + i) % QUEUE_DEPTH]);
    while (s->free_batches) {
        struct batch *b = s->free_batches;
        s->free_batches = b->next_free;
        free_batch(b);
    }
    free(s->window);
    free(s->path);
    pthread_mutex_destroy(&s->error_lock);
    pthread_mutex_destroy(&s->queue_lock);
    pthread_cond_destroy(&s->queue_changed);
    pthread_mutex_destroy(&s->db_lock);
    free(s);
}
