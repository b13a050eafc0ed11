/*
 * store.c — the writing side of the store (see store.h).
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
#include "store/store.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/grow.h"
#include "store/call_blocks.h"
#include "store/checkpointer.h"
#include "store/schema.h"
#include "util/textbuf.h"

/* Ids of the window of recent calls whose rows wait to be sorted. Big enough
 * that only calls still running when it moves on (a few per thread) land
 * out of order, small enough to stay in cache. */
#ifndef WINDOW
#define WINDOW 65536
#endif
/* Batches handed over and not yet written: past this, the caller waits,
 * which is what slows the traced program down when SQLite cannot keep up
 * (the ring fills), instead of memory growing without bound. */
#define QUEUE_DEPTH 2
/* Rows per multi-row INSERT: one statement execution per group spreads
 * the statement's own setup and reset over many rows. */
#ifndef ROWS_PER_INSERT
#define ROWS_PER_INSERT 64
#endif
#define CALL_COLUMNS 12
/* The append statement leaves id out (see flush_group). */
#define APPEND_COLUMNS (CALL_COLUMNS - 1)
/* ... and for rows with neither exception nor flags, those two as well:
 * each parameter costs SQLite about as much per row as a column's whole
 * share of the insert does (bench/sqlite_floor.c shows it). */
#define PLAIN_COLUMNS (APPEND_COLUMNS - 2)
#define NO_TEXT UINT32_MAX
/* SQLite's page size, set before the schema exists: 4 KiB was measured
 * fastest for appends (bigger pages cost more per insert in the b-tree's
 * binary searches and cell shuffles) and no less dense. */
#define PAGE_SIZE 4096
/* The writer thread appends to the WAL; the checkpointer copies it into
 * the main file whenever it holds this many pages (64 MB). */
#ifndef AUTOCHECKPOINT_PAGES
#define AUTOCHECKPOINT_PAGES 16384
#endif
/* The page cache while recording (KiB): the hot end of the table. Kept
 * small on purpose: appends touch each new page once, and a cache that
 * recycles its pages was measured 20-30% faster than one that grows (every
 * new page a malloc and page faults); a transaction that dirties more
 * spills the surplus to the WAL early, which readers never see. */
#ifndef RECORDING_CACHE_KB
#define RECORDING_CACHE_KB 4096
#endif

struct pending_call {
    int64_t parent_id, thread_id, function_id, start_ns, duration_ns, self_ns;
    int64_t result; /* the vals row of the result, 0: inline (or none) */
    int32_t depth, flags;
    uint32_t args_off, args_len, result_off, result_len, exc_off, exc_len;
    unsigned char finished, filled, mode;
};

/* A row of vals waiting in a batch; its text is in the batch's text. */
struct val_entry {
    int64_t id;
    uint32_t off, len, type_off, type_len;
};

struct row_entry {
    int64_t id;
    struct pending_call p;
};

/* Rows on their way from the window to SQLite; text offsets point into
 * `text`. A batch can also close the transaction (after trimming). */
struct batch {
    struct row_entry *rows; /* from the window, in id order */
    size_t n, cap;
    struct row_entry *late; /* calls that started before the window */
    size_t nlate, late_cap;
    struct val_entry *vals; /* written first: rows may refer to them */
    size_t nvals, vals_cap;
    struct cs_textbuf text;
    int commit;        /* then COMMIT and BEGIN the next transaction */
    int64_t trim_keep; /* > 0: then trim calls to about this many */
    struct batch *next_free;
};

struct cs_store {
    sqlite3 *db;
    char *path;
    char error[512];
    atomic_int failed;
    pthread_mutex_t error_lock;
    int in_txn; /* under db_lock */

    /* The caller's side. */
    int64_t next_call_id;
    int64_t window_base;
    struct pending_call *window; /* text in cur->text */
    struct batch *cur;

    /* Between the two threads, under queue_lock. */
    pthread_mutex_t queue_lock;
    pthread_cond_t queue_changed;
    struct batch *queue[QUEUE_DEPTH];
    size_t queue_head, queue_len;
    struct batch *free_batches;
    int writer_busy, writer_stop, writer_started;
    pthread_t writer;
    _Atomic int64_t writer_cpu_ns; /* CPU time the writer thread has used */
    /* Copies the WAL into the main file while recording (checkpointer.h);
     * NULL before, after, or without a thread for it. */
    struct cs_checkpointer *checkpointer;
    int64_t checkpointer_cpu_ns; /* its CPU time, once it stopped */

    /* The connection: whoever steps SQLite holds db_lock; the caller
     * raises caller_waiting first so the writer lets it in. */
    pthread_mutex_t db_lock;
    atomic_int caller_waiting;

    /* The writer's side (or the caller's once the writer is idle). */
    _Atomic int64_t calls_written;
    int64_t max_id; /* the largest id in calls: the next append gets max_id + 1 */

    sqlite3_stmt *insert_call;
    sqlite3_stmt *replace_call;  /* a call's row in place of its CS_ROW_OPEN one */
    sqlite3_stmt *insert_val;
    sqlite3_stmt *insert_vals;   /* ROWS_PER_INSERT vals rows */
    sqlite3_stmt *insert_calls;  /* ROWS_PER_INSERT rows with their ids */
    sqlite3_stmt *append_calls;  /* ROWS_PER_INSERT rows numbered by SQLite */
    sqlite3_stmt *append_plain;  /* the same, no exception and no flags */
    sqlite3_stmt *append_vals;   /* ROWS_PER_INSERT vals rows numbered by SQLite */
    int64_t max_val_id;          /* the largest id in vals */
    sqlite3_stmt *insert_function;
    sqlite3_stmt *insert_process;
    sqlite3_stmt *insert_thread;
    sqlite3_stmt *update_thread_name;
    sqlite3_stmt *insert_log;
    sqlite3_stmt *insert_lost;
    sqlite3_stmt *set_meta;
    struct cs_call_blocks *blocks; /* the skip index, kept by whoever writes rows */
};

/* ---- errors ---- */

/* Keeps the first error only; either thread may meet one. */
static void fail(struct cs_store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct cs_store *s, const char *fmt, ...)
{
    pthread_mutex_lock(&s->error_lock);
    if (!atomic_load(&s->failed)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->error, sizeof s->error, fmt, ap);
        va_end(ap);
        atomic_store(&s->failed, 1);
    }
    pthread_mutex_unlock(&s->error_lock);
}

static int failed(const struct cs_store *s)
{
    return atomic_load(&s->failed);
}

/* Called with db_lock held (the message comes from the connection). */
static void fail_rc(struct cs_store *s, int rc, const char *doing)
{
    if (failed(s))
        return;
    if (rc == SQLITE_FULL)
        fail(s, "cannot write %s: the disk is full", s->path);
    else if (rc == SQLITE_IOERR || (rc & 0xff) == SQLITE_IOERR || rc == SQLITE_CANTOPEN)
        fail(s, "cannot %s %s: %s", doing, s->path,
             sqlite3_system_errno(s->db) ? strerror(sqlite3_system_errno(s->db)) : sqlite3_errstr(rc));
    else
        fail(s, "cannot %s %s: %s", doing, s->path, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
}

const char *cs_store_error(const struct cs_store *s)
{
    return failed(s) ? s->error : NULL;
}

/* ---- the connection's lock ---- */

static void lock_db(struct cs_store *s)
{
    atomic_fetch_add(&s->caller_waiting, 1);
    pthread_mutex_lock(&s->db_lock);
    atomic_fetch_sub(&s->caller_waiting, 1);
}

static void unlock_db(struct cs_store *s)
{
    pthread_mutex_unlock(&s->db_lock);
}

/* The writer's way in: it lets a waiting caller go first, since a mutex
 * released and taken again in a loop would starve it. */
static void writer_lock_db(struct cs_store *s)
{
    while (atomic_load(&s->caller_waiting))
        sched_yield();
    pthread_mutex_lock(&s->db_lock);
}

static int exec(struct cs_store *s, const char *sql)
{
    if (failed(s))
        return -1;
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        fail_rc(s, rc, "write");
        return -1;
    }
    return 0;
}

/* Runs a bound statement to completion and resets it. */
static int run(struct cs_store *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fail_rc(s, rc, "write");
        return -1;
    }
    return 0;
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *text, size_t n)
{
    if (text)
        sqlite3_bind_text(st, i, text, (int)n, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* ---- opening ---- */

static int prepare(struct cs_store *s, sqlite3_stmt **st, const char *sql)
{
    int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
    if (rc != SQLITE_OK) {
        fail_rc(s, rc, "prepare");
        return -1;
    }
    return 0;
}

/* "INSERT INTO <table><columns> VALUES (?,..),(?,..)...": ROWS_PER_INSERT
 * rows of `ncols` parameters each. */
static int prepare_multi(struct cs_store *s, sqlite3_stmt **st, const char *table, const char *columns, int ncols)
{
    char sql[ROWS_PER_INSERT * (CALL_COLUMNS * 2 + 4) + 256];
    int n = snprintf(sql, sizeof sql, "INSERT INTO %s%s VALUES ", table, columns);
    for (int r = 0; r < ROWS_PER_INSERT; r++) {
        n += snprintf(sql + n, sizeof sql - (size_t)n, "%s(?", r ? "," : "");
        for (int k = 1; k < ncols; k++)
            n += snprintf(sql + n, sizeof sql - (size_t)n, ",?");
        n += snprintf(sql + n, sizeof sql - (size_t)n, ")");
    }
    return prepare(s, st, sql);
}

static int prepare_all(struct cs_store *s)
{
    return prepare(s, &s->insert_call, "INSERT INTO call_rows VALUES (?,?,?,?,?,?,?,?,?,?,?,?)") ||
           prepare(s, &s->replace_call, "INSERT OR REPLACE INTO call_rows VALUES (?,?,?,?,?,?,?,?,?,?,?,?)") ||
           prepare(s, &s->insert_val, "INSERT INTO vals VALUES (?,?,?)") ||
           prepare_multi(s, &s->insert_vals, "vals", "", 3) ||
           prepare_multi(s, &s->append_vals, "vals", "(text, type)", 2) ||
           prepare_multi(s, &s->insert_calls, "call_rows", "", CALL_COLUMNS) ||
           prepare_multi(s, &s->append_calls, "call_rows",
                         "(parent_id, thread_id, function_id, depth, start_ns, duration_ns,"
                         " self_ns, args, result, exception, flags)",
                         APPEND_COLUMNS) ||
           prepare_multi(s, &s->append_plain, "call_rows",
                         "(parent_id, thread_id, function_id, depth, start_ns, duration_ns,"
                         " self_ns, args, result)",
                         PLAIN_COLUMNS) ||
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
    char side[4096];
    if (unlink(path) != 0 && errno != ENOENT) {
        snprintf(err, errlen, "cannot replace %s: %s", path, strerror(errno));
        return -1;
    }
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    return 0;
}

/* Settings for a single writer that can afford to lose the file in a crash
 * of the machine (synchronous=OFF) but not of the traced program. The
 * identifying pragmas go in before WAL so the main file's header carries
 * them even while everything else still sits in the WAL. */
static int configure(struct cs_store *s)
{
    char pragmas[256];
    snprintf(pragmas, sizeof pragmas, "PRAGMA page_size = %d; PRAGMA auto_vacuum = NONE;", PAGE_SIZE);
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
        fail_rc(s, rc, "create");
        return -1;
    }
    s->checkpointer = cs_checkpointer_start(s->path, s->db, AUTOCHECKPOINT_PAGES);
    if (!(s->blocks = cs_call_blocks_new(s->db))) {
        fail(s, "out of memory");
        return -1;
    }
    return prepare_all(s);
}

/* The writer's connection checkpoints for itself from here on; called with
 * the writer idle (db_lock held, or the writer stopped). */
static void stop_checkpointer(struct cs_store *s)
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
    if (!s->path || !s->window || !s->cur) {
        snprintf(err, errlen, "out of memory");
        cs_store_close(s);
        return NULL;
    }
    s->next_call_id = 1;
    s->window_base = 1;
    int rc = sqlite3_open_v2(path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        fail_rc(s, rc, "create");
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
    stop_checkpointer(s);
    sqlite3_stmt *all[] = {s->insert_call, s->replace_call, s->insert_val, s->insert_vals,
                           s->append_vals, s->insert_calls, s->append_calls, s->append_plain, s->insert_function, s->insert_process,
                           s->insert_thread, s->update_thread_name,
                           s->insert_log, s->insert_lost, s->set_meta};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        sqlite3_finalize(all[i]);
    cs_call_blocks_free(s->blocks);
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

/* ---- calls: binding ---- */

/* Binds every column but id, from parameter base + 1 on; all of them, or
 * (plain) all but exception and flags. */
static void bind_columns(sqlite3_stmt *st, int base, const struct pending_call *p, const char *text,
                         int plain)
{
    if (!text)
        text = ""; /* every stashed text was empty */
    if (p->parent_id)
        sqlite3_bind_int64(st, base + 1, p->parent_id);
    else
        sqlite3_bind_null(st, base + 1);
    sqlite3_bind_int64(st, base + 2, p->thread_id);
    sqlite3_bind_int64(st, base + 3, p->function_id);
    sqlite3_bind_int(st, base + 4, p->depth);
    sqlite3_bind_int64(st, base + 5, p->start_ns);
    if (p->finished) {
        sqlite3_bind_int64(st, base + 6, p->duration_ns);
        sqlite3_bind_int64(st, base + 7, p->self_ns);
    } else {
        sqlite3_bind_null(st, base + 6);
        sqlite3_bind_null(st, base + 7);
    }
    bind_text_or_null(st, base + 8, p->args_len == NO_TEXT ? NULL : text + p->args_off, p->args_len);
    if (p->result > 0)
        sqlite3_bind_int64(st, base + 9, p->result);
    else
        bind_text_or_null(st, base + 9, p->result_len == NO_TEXT ? NULL : text + p->result_off, p->result_len);
    if (plain)
        return;
    bind_text_or_null(st, base + 10, p->exc_len == NO_TEXT ? NULL : text + p->exc_off, p->exc_len);
    sqlite3_bind_int(st, base + 11, p->flags);
}

/* Whether a row can go through append_plain. */
static int is_plain(const struct pending_call *p)
{
    return p->exc_len == NO_TEXT && p->flags == 0;
}

static void bind_call(sqlite3_stmt *st, int base, int64_t id, const struct pending_call *p,
                      const char *text)
{
    sqlite3_bind_int64(st, base + 1, id);
    bind_columns(st, base + 1, p, text, 0);
}

/* Adds a written row to its block of the skip index (db_lock held). */
static void note_in_block(struct cs_store *s, int64_t id, const struct pending_call *p, const char *text)
{
    if (!text)
        text = "";
    int rc = cs_call_blocks_add(s->blocks, id, p->function_id, p->args_len == NO_TEXT ? NULL : text + p->args_off,
                                p->args_len == NO_TEXT ? 0 : p->args_len, p->result,
                                p->result_len == NO_TEXT ? NULL : text + p->result_off,
                                p->result_len == NO_TEXT ? 0 : p->result_len);
    /* A row written outside a transaction is committed at once: so is its
     * block, or readers would pass over it until the next commit. */
    if (rc == SQLITE_OK && !s->in_txn)
        rc = cs_call_blocks_write(s->blocks);
    if (rc != SQLITE_OK)
        fail_rc(s, rc, "write");
}

/* Runs a single-row insert with an explicit id (db_lock held). */
static void insert_one(struct cs_store *s, int64_t id, const struct pending_call *p, const char *text)
{
    sqlite3_stmt *st = p->mode == CS_ROW_REPLACES ? s->replace_call : s->insert_call;
    bind_call(st, 0, id, p, text);
    if (run(s, st) == 0) {
        note_in_block(s, id, p, text);
        if (p->mode != CS_ROW_REPLACES) /* its open row was counted */
            atomic_fetch_add(&s->calls_written, 1);
        if (id > s->max_id)
            s->max_id = id;
    }
}

/* Rows of a batch gathered for one multi-row INSERT: either a run of
 * consecutive ids that continue the table (appended), or rows with gaps
 * before them (inserted with their ids). An appended run of rows without
 * exception or flags, the common case, binds two parameters less each. */
struct group {
    const struct row_entry *row[ROWS_PER_INSERT];
    int n;
    int append, plain;
};

/* An append leaves id out, so SQLite numbers the row max(id) + 1 and takes
 * its fast path for a new last row: no uniqueness probe of the whole b-tree
 * per row (a fifth of the insert's cost), and one parameter less to bind.
 * The id it gave is checked, so a wrong guess can never go unnoticed. */
static void flush_group(struct cs_store *s, struct group *g, const char *text)
{
    if (g->n == 0 || failed(s)) {
        g->n = 0;
        return;
    }
    writer_lock_db(s);
    if (g->n < ROWS_PER_INSERT) {
        for (int k = 0; k < g->n; k++)
            insert_one(s, g->row[k]->id, &g->row[k]->p, text);
        unlock_db(s);
        g->n = 0;
        return;
    }
    int64_t last = g->row[g->n - 1]->id;
    int plain = g->append && g->plain;
    sqlite3_stmt *st = plain ? s->append_plain : g->append ? s->append_calls : s->insert_calls;
    for (int k = 0; k < g->n; k++) {
        if (plain)
            bind_columns(st, k * PLAIN_COLUMNS, &g->row[k]->p, text, 1);
        else if (g->append)
            bind_columns(st, k * APPEND_COLUMNS, &g->row[k]->p, text, 0);
        else
            bind_call(st, k * CALL_COLUMNS, g->row[k]->id, &g->row[k]->p, text);
    }
    if (run(s, st) == 0) {
        atomic_fetch_add(&s->calls_written, g->n);
        if (last > s->max_id) /* late rows of long calls may lie below it */
            s->max_id = last;
        if (g->append && sqlite3_last_insert_rowid(s->db) != last)
            fail(s, "internal error: call ids out of step in %s", s->path);
        for (int k = 0; k < g->n; k++) /* after the check: a block written meanwhile moves the last rowid */
            note_in_block(s, g->row[k]->id, &g->row[k]->p, text);
    }
    unlock_db(s);
    g->n = 0;
}

static int trim_locked(struct cs_store *s, int64_t keep);
static int commit_locked(struct cs_store *s);

static void bind_val(sqlite3_stmt *st, int base, const struct val_entry *v, const char *text)
{
    sqlite3_bind_text(st, base + 1, text + v->off, (int)v->len, SQLITE_STATIC);
    bind_text_or_null(st, base + 2, v->type_len == NO_TEXT ? NULL : text + v->type_off, v->type_len);
}

/* Writes vals rows [i, end) of a batch (db_lock held). Ids are given out in
 * order, so a full group usually continues the table and is appended as
 * the call rows are; otherwise each row goes in with its id. */
static void write_vals(struct cs_store *s, const struct val_entry *v, size_t n, const char *text)
{
    int append = n == ROWS_PER_INSERT;
    for (size_t k = 0; k < n && append; k++)
        append = v[k].id == s->max_val_id + 1 + (int64_t)k;
    if (append) {
        for (size_t k = 0; k < n; k++)
            bind_val(s->append_vals, (int)k * 2, &v[k], text);
        if (run(s, s->append_vals) == 0 && sqlite3_last_insert_rowid(s->db) != v[n - 1].id)
            fail(s, "internal error: value ids out of step in %s", s->path);
    } else if (n == ROWS_PER_INSERT) {
        for (size_t k = 0; k < n; k++) {
            sqlite3_bind_int64(s->insert_vals, (int)k * 3 + 1, v[k].id);
            bind_val(s->insert_vals, (int)k * 3 + 1, &v[k], text);
        }
        run(s, s->insert_vals);
    } else {
        for (size_t k = 0; k < n; k++) {
            sqlite3_bind_int64(s->insert_val, 1, v[k].id);
            bind_val(s->insert_val, 1, &v[k], text);
            if (run(s, s->insert_val) != 0)
                break;
        }
    }
    for (size_t k = 0; k < n; k++)
        if (v[k].id > s->max_val_id)
            s->max_val_id = v[k].id;
}

/* The writer's work for one batch; the batch is empty afterwards. */
static void write_batch(struct cs_store *s, struct batch *b)
{
    const char *text = b->text.data;
    for (size_t i = 0; i < b->nvals && !failed(s); i += ROWS_PER_INSERT) {
        size_t end = i + ROWS_PER_INSERT < b->nvals ? i + ROWS_PER_INSERT : b->nvals;
        writer_lock_db(s);
        write_vals(s, &b->vals[i], end - i, text);
        unlock_db(s);
    }
    for (size_t i = 0; i < b->nlate && !failed(s); i++) {
        writer_lock_db(s);
        insert_one(s, b->late[i].id, &b->late[i].p, text);
        unlock_db(s);
    }
    struct group g = {.n = 0};
    /* The highest id in the table once the rows gathered so far are in: an
     * append gets the next one. Rows of calls that ended late (a parent
     * whose children were flushed already) lie below it and keep their ids. */
    int64_t top = s->max_id;
    for (size_t i = 0; i < b->n && !failed(s); i++) {
        int64_t id = b->rows[i].id;
        int append = id == top + 1;
        int plain = is_plain(&b->rows[i].p);
        if (g.n && (g.append != append || (append && g.plain != plain) || g.n == ROWS_PER_INSERT))
            flush_group(s, &g, text);
        g.append = append;
        g.plain = plain;
        g.row[g.n++] = &b->rows[i];
        if (id > top)
            top = id;
    }
    flush_group(s, &g, text);
    if ((b->trim_keep > 0 || b->commit) && !failed(s)) {
        writer_lock_db(s);
        if (b->trim_keep > 0)
            trim_locked(s, b->trim_keep);
        if (b->commit && commit_locked(s) == 0 && exec(s, "BEGIN") == 0)
            s->in_txn = 1;
        unlock_db(s);
    }
    b->n = b->nlate = b->nvals = 0;
    b->commit = 0;
    b->trim_keep = 0;
    cs_textbuf_reset(&b->text);
}

/* ---- calls: the hand-over ---- */

int64_t cs_store_writer_cpu_ns(const struct cs_store *s)
{
    return atomic_load(&((struct cs_store *)s)->writer_cpu_ns);
}

int64_t cs_store_checkpointer_cpu_ns(const struct cs_store *s)
{
    return s->checkpointer ? cs_checkpointer_cpu_ns(s->checkpointer) : s->checkpointer_cpu_ns;
}

static void *writer_main(void *arg)
{
    struct cs_store *s = arg;
    pthread_mutex_lock(&s->queue_lock);
    for (;;) {
        while (s->queue_len == 0 && !s->writer_stop)
            pthread_cond_wait(&s->queue_changed, &s->queue_lock);
        if (s->queue_len == 0)
            break;
        struct batch *b = s->queue[s->queue_head];
        s->queue_head = (s->queue_head + 1) % QUEUE_DEPTH;
        s->queue_len--;
        s->writer_busy = 1;
        pthread_mutex_unlock(&s->queue_lock);
        write_batch(s, b);
        atomic_store(&s->writer_cpu_ns, cs_thread_cpu_ns());
        pthread_mutex_lock(&s->queue_lock);
        b->next_free = s->free_batches;
        s->free_batches = b;
        s->writer_busy = 0;
        pthread_cond_broadcast(&s->queue_changed);
    }
    pthread_mutex_unlock(&s->queue_lock);
    return NULL;
}

/* Hands the current batch to the writer (waiting while the queue is full)
 * and starts a new one. Without a writer thread, writes it here. */
static void hand_over(struct cs_store *s)
{
    struct batch *b = s->cur;
    pthread_mutex_lock(&s->queue_lock);
    if (!s->writer_started && !s->writer_stop) {
        if (pthread_create(&s->writer, NULL, writer_main, s) == 0)
            s->writer_started = 1;
        else
            s->writer_stop = 1; /* no thread: write in the caller from now on */
    }
    if (!s->writer_started) {
        pthread_mutex_unlock(&s->queue_lock);
        write_batch(s, b);
        return;
    }
    while (s->queue_len == QUEUE_DEPTH)
        pthread_cond_wait(&s->queue_changed, &s->queue_lock);
    s->queue[(s->queue_head + s->queue_len) % QUEUE_DEPTH] = b;
    s->queue_len++;
    struct batch *next = s->free_batches;
    if (next)
        s->free_batches = next->next_free;
    pthread_cond_broadcast(&s->queue_changed);
    pthread_mutex_unlock(&s->queue_lock);
    if (!next)
        next = calloc(1, sizeof *next);
    if (!next) {
        /* Keep a valid current batch: wait for the one just handed over. */
        fail(s, "out of memory");
        pthread_mutex_lock(&s->queue_lock);
        while (!s->free_batches)
            pthread_cond_wait(&s->queue_changed, &s->queue_lock);
        next = s->free_batches;
        s->free_batches = next->next_free;
        pthread_mutex_unlock(&s->queue_lock);
    }
    s->cur = next;
}

/* Waits until the writer has written everything handed over. */
static void wait_for_writer(struct cs_store *s)
{
    pthread_mutex_lock(&s->queue_lock);
    while (s->queue_len || s->writer_busy)
        pthread_cond_wait(&s->queue_changed, &s->queue_lock);
    pthread_mutex_unlock(&s->queue_lock);
}

static int grow_rows(struct row_entry **rows, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 1024;
    while (n < need)
        n *= 2;
    struct row_entry *grown = realloc(*rows, n * sizeof *grown);
    if (!grown)
        return -1;
    *rows = grown;
    *cap = n;
    return 0;
}

/* Moves the window's completed rows, in id order, into the current batch. */
static void window_to_batch(struct cs_store *s)
{
    int64_t used = s->next_call_id - s->window_base;
    if (used > WINDOW)
        used = WINDOW;
    struct batch *b = s->cur;
    if (grow_rows(&b->rows, &b->cap, b->n + (size_t)used) != 0) {
        fail(s, "out of memory");
        for (int64_t i = 0; i < used; i++)
            s->window[i].filled = 0;
        return;
    }
    for (int64_t i = 0; i < used; i++) {
        if (!s->window[i].filled)
            continue;
        b->rows[b->n].id = s->window_base + i;
        b->rows[b->n].p = s->window[i];
        b->n++;
        s->window[i].filled = 0;
    }
}

/* ---- transactions ---- */

int cs_store_begin(struct cs_store *s)
{
    int rc = 0;
    lock_db(s);
    if (!s->in_txn) {
        rc = exec(s, "BEGIN");
        if (rc == 0)
            s->in_txn = 1;
    }
    unlock_db(s);
    return rc;
}

/* db_lock held. */
static int commit_locked(struct cs_store *s)
{
    if (!s->in_txn)
        return failed(s) ? -1 : 0;
    /* the blocks of the rows this transaction wrote go with them */
    int rc = failed(s) ? SQLITE_OK : cs_call_blocks_write(s->blocks);
    if (rc != SQLITE_OK)
        fail_rc(s, rc, "write");
    s->in_txn = 0;
    if (failed(s)) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return exec(s, "COMMIT");
}

int cs_store_commit(struct cs_store *s)
{
    cs_store_sync(s);
    lock_db(s);
    int rc = commit_locked(s);
    unlock_db(s);
    return rc;
}

void cs_store_commit_async(struct cs_store *s, int64_t trim_keep)
{
    if (failed(s))
        return;
    window_to_batch(s);
    s->cur->commit = 1;
    s->cur->trim_keep = trim_keep;
    hand_over(s);
}

int cs_store_in_transaction(struct cs_store *s)
{
    lock_db(s);
    int in = s->in_txn;
    unlock_db(s);
    return in;
}

/* ---- calls: the caller's side ---- */

static void stash_text(struct cs_textbuf *b, const char *text, size_t n, uint32_t *off, uint32_t *len)
{
    if (!text || n >= NO_TEXT || b->len + n >= UINT32_MAX) {
        *len = NO_TEXT;
        *off = 0;
        return;
    }
    *off = (uint32_t)b->len;
    *len = (uint32_t)n;
    cs_textbuf_put(b, text, n);
}

static void row_to_pending(struct cs_textbuf *b, const struct cs_call_row *row, struct pending_call *p)
{
    p->parent_id = row->parent_id;
    p->thread_id = row->thread_id;
    p->function_id = row->function_id;
    p->start_ns = row->start_ns;
    p->duration_ns = row->duration_ns;
    p->self_ns = row->self_ns;
    p->depth = row->depth;
    p->flags = row->flags;
    p->finished = (unsigned char)(row->finished != 0);
    p->mode = (unsigned char)row->mode;
    p->result = row->result;
    stash_text(b, row->args, row->args_len, &p->args_off, &p->args_len);
    stash_text(b, row->result > 0 ? NULL : row->result_text, row->result_len, &p->result_off, &p->result_len);
    stash_text(b, row->exception, row->exception_len, &p->exc_off, &p->exc_len);
    p->filled = 1;
}

int64_t cs_store_next_call_id(struct cs_store *s)
{
    if (s->next_call_id - s->window_base >= WINDOW) {
        cs_store_flush_calls(s);
        s->window_base = s->next_call_id;
    }
    return s->next_call_id++;
}

void cs_store_add_call(struct cs_store *s, const struct cs_call_row *row)
{
    if (failed(s))
        return;
    struct batch *b = s->cur;
    int64_t slot = row->id - s->window_base;
    /* Rows of long calls (open ones, and the rows that replace them) go
     * with their ids, out of the window's order. */
    if (!row->mode && slot >= 0 && slot < WINDOW && !s->window[slot].filled) {
        row_to_pending(&b->text, row, &s->window[slot]);
    } else if (grow_rows(&b->late, &b->late_cap, b->nlate + 1) == 0) {
        /* A call that started before the window: written out of order. */
        b->late[b->nlate].id = row->id;
        row_to_pending(&b->text, row, &b->late[b->nlate].p);
        b->nlate++;
    } else {
        fail(s, "out of memory");
    }
    if (b->text.oom)
        fail(s, "out of memory");
}

void cs_store_add_value(struct cs_store *s, int64_t id, const char *text, size_t len, const char *type,
                        size_t type_len)
{
    if (failed(s))
        return;
    struct batch *b = s->cur;
    if (b->nvals == b->vals_cap) {
        struct val_entry *grown = cs_grow(b->vals, &b->vals_cap, sizeof *grown, 256);
        if (!grown) {
            fail(s, "out of memory");
            return;
        }
        b->vals = grown;
    }
    uint32_t off, n, type_off, type_n;
    stash_text(&b->text, text, len, &off, &n);
    stash_text(&b->text, type_len ? type : NULL, type_len, &type_off, &type_n);
    if (n == NO_TEXT || b->text.oom) {
        fail(s, "out of memory");
        return;
    }
    b->vals[b->nvals++] = (struct val_entry){id, off, n, type_off, type_n};
}

void cs_store_refer_result(struct cs_store *s, int64_t call_id, int64_t val_id)
{
    int64_t slot = call_id - s->window_base;
    if (slot >= 0 && slot < WINDOW && s->window[slot].filled && s->window[slot].result <= 0)
        s->window[slot].result = val_id; /* its inline text stays unused in the batch */
}

int cs_store_flush_calls(struct cs_store *s)
{
    if (failed(s))
        return -1;
    window_to_batch(s);
    if (s->cur->n || s->cur->nlate || s->cur->nvals)
        hand_over(s);
    return failed(s) ? -1 : 0;
}

int cs_store_sync(struct cs_store *s)
{
    cs_store_flush_calls(s);
    wait_for_writer(s);
    return failed(s) ? -1 : 0;
}

int64_t cs_store_calls_written(const struct cs_store *s)
{
    return atomic_load(&s->calls_written);
}

/* db_lock held. */
static int trim_locked(struct cs_store *s, int64_t keep)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db,
                                "DELETE FROM call_rows WHERE id < "
                                "(SELECT id FROM call_rows ORDER BY id DESC LIMIT 1 OFFSET ?)",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) {
        fail_rc(s, rc, "write");
        return -1;
    }
    sqlite3_bind_int64(st, 1, keep - 1);
    if (run(s, st) == 0)
        atomic_fetch_sub(&s->calls_written, sqlite3_changes(s->db));
    sqlite3_finalize(st);
    sqlite3_stmt *first;
    rc = sqlite3_prepare_v2(s->db, "SELECT min(id) FROM call_rows", -1, &first, NULL);
    if (rc == SQLITE_OK && sqlite3_step(first) == SQLITE_ROW && sqlite3_column_type(first, 0) == SQLITE_INTEGER)
        rc = cs_call_blocks_trim(s->blocks, sqlite3_column_int64(first, 0));
    sqlite3_finalize(first);
    if (rc != SQLITE_OK && !failed(s))
        fail_rc(s, rc, "write");
    return failed(s) ? -1 : 0;
}

int cs_store_trim_calls(struct cs_store *s, int64_t keep)
{
    if (keep <= 0 || failed(s))
        return failed(s) ? -1 : 0;
    if (cs_store_sync(s) != 0)
        return -1;
    lock_db(s);
    int rc = trim_locked(s, keep);
    /* Then the values no kept call refers to: one pass over the kept calls,
     * once, where each trim while recording would cost a pass. */
    if (rc == 0 && exec(s, "DELETE FROM vals WHERE id NOT IN ("
                           "SELECT result FROM call_rows WHERE typeof(result) = 'integer' UNION ALL "
                           "SELECT a.value FROM call_rows r, json_each(r.args) a WHERE a.type = 'integer')") != 0)
        rc = -1;
    unlock_db(s);
    return rc;
}

int cs_store_checkpoint(struct cs_store *s)
{
    wait_for_writer(s);
    lock_db(s);
    stop_checkpointer(s);
    int rc = exec(s, "PRAGMA wal_checkpoint(TRUNCATE)");
    unlock_db(s);
    return rc;
}

/* ---- the small tables ---- */

void cs_store_add_function(struct cs_store *s, int64_t id, const char *kind, const char *module,
                           size_t module_len, const char *qualname, size_t qualname_len,
                           const char *filename, size_t filename_len, int64_t lineno,
                           const char *arg_names_json, size_t arg_names_len)
{
    if (failed(s))
        return;
    lock_db(s);
    sqlite3_stmt *st = s->insert_function;
    /* name is module.qualname, the form users type and filters match. */
    struct cs_textbuf name = {0};
    cs_textbuf_put(&name, module, module_len);
    if (module_len)
        cs_textbuf_putc(&name, '.');
    cs_textbuf_put(&name, qualname, qualname_len);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, module, (int)module_len, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, qualname, (int)qualname_len, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, name.data ? name.data : "", (int)name.len, SQLITE_STATIC);
    bind_text_or_null(st, 6, filename, filename_len);
    if (filename)
        sqlite3_bind_int64(st, 7, lineno);
    else
        sqlite3_bind_null(st, 7);
    bind_text_or_null(st, 8, arg_names_json, arg_names_len);
    run(s, st);
    unlock_db(s);
    cs_textbuf_free(&name);
}

void cs_store_add_process(struct cs_store *s, int64_t pid, int64_t parent_pid)
{
    if (failed(s))
        return;
    lock_db(s);
    sqlite3_bind_int64(s->insert_process, 1, pid);
    if (parent_pid)
        sqlite3_bind_int64(s->insert_process, 2, parent_pid);
    else
        sqlite3_bind_null(s->insert_process, 2);
    run(s, s->insert_process);
    unlock_db(s);
}

void cs_store_add_thread(struct cs_store *s, int64_t id, int64_t pid, int64_t tid)
{
    if (failed(s))
        return;
    lock_db(s);
    sqlite3_bind_int64(s->insert_thread, 1, id);
    sqlite3_bind_int64(s->insert_thread, 2, pid);
    sqlite3_bind_int64(s->insert_thread, 3, tid);
    run(s, s->insert_thread);
    unlock_db(s);
}

void cs_store_set_thread_name(struct cs_store *s, int64_t id, const char *name, size_t len)
{
    if (failed(s))
        return;
    lock_db(s);
    sqlite3_bind_text(s->update_thread_name, 1, name, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(s->update_thread_name, 2, id);
    run(s, s->update_thread_name);
    unlock_db(s);
}

void cs_store_add_log(struct cs_store *s, int64_t call_id, int64_t thread_id, int64_t time_ns,
                      const char *message, size_t message_len, const char *fields,
                      size_t fields_len)
{
    if (failed(s))
        return;
    lock_db(s);
    sqlite3_stmt *st = s->insert_log;
    if (call_id)
        sqlite3_bind_int64(st, 1, call_id);
    else
        sqlite3_bind_null(st, 1);
    sqlite3_bind_int64(st, 2, thread_id);
    sqlite3_bind_int64(st, 3, time_ns);
    sqlite3_bind_text(st, 4, message, (int)message_len, SQLITE_STATIC);
    bind_text_or_null(st, 5, fields, fields_len);
    run(s, st);
    unlock_db(s);
}

void cs_store_add_lost(struct cs_store *s, int64_t thread_id, int64_t time_ns, int64_t count)
{
    if (failed(s))
        return;
    lock_db(s);
    if (thread_id >= 0)
        sqlite3_bind_int64(s->insert_lost, 1, thread_id);
    else
        sqlite3_bind_null(s->insert_lost, 1);
    sqlite3_bind_int64(s->insert_lost, 2, time_ns);
    sqlite3_bind_int64(s->insert_lost, 3, count);
    run(s, s->insert_lost);
    unlock_db(s);
}

void cs_store_set_meta_text(struct cs_store *s, const char *key, const char *value)
{
    if (failed(s))
        return;
    lock_db(s);
    sqlite3_bind_text(s->set_meta, 1, key, -1, SQLITE_STATIC);
    bind_text_or_null(s->set_meta, 2, value, value ? strlen(value) : 0);
    run(s, s->set_meta);
    unlock_db(s);
}

void cs_store_set_meta_int(struct cs_store *s, const char *key, int64_t value)
{
    if (failed(s))
        return;
    lock_db(s);
    sqlite3_bind_text(s->set_meta, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->set_meta, 2, value);
    run(s, s->set_meta);
    unlock_db(s);
}
