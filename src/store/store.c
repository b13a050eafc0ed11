/*
 * store.c — the writing side of the store (see store.h).
 */
#include "store/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/schema.h"
#include "store/textbuf.h"

/* Ids of the window of recent calls whose rows wait to be sorted. Big enough
 * that only calls still running when it moves on (a few per thread) land
 * out of order, small enough to stay in cache. */
#define WINDOW 65536
/* Rows per multi-row INSERT: one statement execution per group spreads
 * the statement's own setup and reset over many rows. */
#define ROWS_PER_INSERT 64
#define CALL_COLUMNS 12
/* The append statement leaves id out (see flush_group). */
#define APPEND_COLUMNS (CALL_COLUMNS - 1)
#define NO_TEXT UINT32_MAX
/* SQLite's page size, set before the schema exists: 4 KiB was measured
 * fastest for appends (bigger pages cost more per insert in the b-tree's
 * binary searches and cell shuffles) and no less dense. */
#define PAGE_SIZE 4096
/* The page cache while recording (KiB): the hot end of the table and
 * what one transaction dirties. */
#define RECORDING_CACHE_KB 65536
/* At the end, building the index sorts every row: a cache (and so a
 * sorter budget) big enough for a few million rows keeps the sort in
 * memory, and a helper thread shares it, the traced program having ended. */
#define INDEXING_CACHE_KB 400000
#define INDEXING_THREADS 2

struct pending_call {
    int64_t parent_id, thread_id, function_id, start_ns, duration_ns, self_ns;
    int32_t depth, flags;
    uint32_t args_off, args_len, result_off, result_len, exc_off, exc_len;
    unsigned char finished, filled;
};

struct cs_store {
    sqlite3 *db;
    char *path;
    char error[512];
    int failed;
    int in_txn;

    int64_t next_call_id;
    int64_t window_base;
    struct pending_call *window;
    struct cs_textbuf window_text;
    int64_t calls_written;
    int64_t max_id; /* the largest id in calls: the next append gets max_id + 1 */

    sqlite3_stmt *insert_call;
    sqlite3_stmt *insert_calls;  /* ROWS_PER_INSERT rows with their ids */
    sqlite3_stmt *append_calls;  /* ROWS_PER_INSERT rows numbered by SQLite */
    sqlite3_stmt *insert_function;
    sqlite3_stmt *insert_process;
    sqlite3_stmt *insert_thread;
    sqlite3_stmt *update_thread_name;
    sqlite3_stmt *insert_log;
    sqlite3_stmt *insert_lost;
    sqlite3_stmt *set_meta;
};

/* ---- errors ---- */

static void fail_rc(struct cs_store *s, int rc, const char *doing)
{
    if (s->failed)
        return;
    s->failed = 1;
    if (rc == SQLITE_FULL)
        snprintf(s->error, sizeof s->error, "cannot write %s: the disk is full", s->path);
    else if (rc == SQLITE_IOERR || (rc & 0xff) == SQLITE_IOERR || rc == SQLITE_CANTOPEN)
        snprintf(s->error, sizeof s->error, "cannot %s %s: %s", doing, s->path,
                 sqlite3_system_errno(s->db) ? strerror(sqlite3_system_errno(s->db))
                                             : sqlite3_errstr(rc));
    else
        snprintf(s->error, sizeof s->error, "cannot %s %s: %s", doing, s->path,
                 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
}

const char *cs_store_error(const struct cs_store *s)
{
    return s->failed ? s->error : NULL;
}

static int exec(struct cs_store *s, const char *sql)
{
    if (s->failed)
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

/* "INSERT INTO calls<columns> VALUES (?,..),(?,..)...": rows of `ncols`
 * parameters each. */
static int prepare_multi(struct cs_store *s, sqlite3_stmt **st, const char *columns, int ncols)
{
    char sql[ROWS_PER_INSERT * (CALL_COLUMNS * 2 + 4) + 256];
    int n = snprintf(sql, sizeof sql, "INSERT INTO calls%s VALUES ", columns);
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
    return prepare(s, &s->insert_call, "INSERT INTO calls VALUES (?,?,?,?,?,?,?,?,?,?,?,?)") ||
           prepare_multi(s, &s->insert_calls, "", CALL_COLUMNS) ||
           prepare_multi(s, &s->append_calls,
                         "(parent_id, thread_id, function_id, depth, start_ns, duration_ns,"
                         " self_ns, args, result, exception, flags)",
                         APPEND_COLUMNS) ||
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
                 "PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 16384;",
                 RECORDING_CACHE_KB);
        rc = sqlite3_exec(s->db, pragmas, NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        fail_rc(s, rc, "create");
        return -1;
    }
    return prepare_all(s);
}

struct cs_store *cs_store_create(const char *path, char *err, size_t errlen)
{
    /* Process-wide: no allocation statistics (a mutex per malloc). Fails
     * harmlessly if SQLite was already initialised. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    if (remove_old_store(path, err, errlen) != 0)
        return NULL;
    struct cs_store *s = calloc(1, sizeof *s);
    if (s) {
        s->path = strdup(path);
        s->window = calloc(WINDOW, sizeof *s->window);
    }
    if (!s || !s->path || !s->window) {
        snprintf(err, errlen, "out of memory");
        cs_store_close(s);
        return NULL;
    }
    s->next_call_id = 1;
    s->window_base = 1;
    int rc = sqlite3_open_v2(path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        fail_rc(s, rc, "create");
    else
        configure(s);
    if (s->failed) {
        snprintf(err, errlen, "%s", s->error);
        cs_store_close(s);
        return NULL;
    }
    return s;
}

void cs_store_close(struct cs_store *s)
{
    if (!s)
        return;
    if (s->db && !s->failed)
        cs_store_commit(s);
    sqlite3_stmt *all[] = {s->insert_call, s->insert_calls, s->append_calls, s->insert_function,
                           s->insert_process, s->insert_thread, s->update_thread_name,
                           s->insert_log, s->insert_lost, s->set_meta};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        sqlite3_finalize(all[i]);
    sqlite3_close(s->db);
    cs_textbuf_free(&s->window_text);
    free(s->window);
    free(s->path);
    free(s);
}

/* ---- transactions ---- */

int cs_store_begin(struct cs_store *s)
{
    if (s->in_txn)
        return 0;
    if (exec(s, "BEGIN") != 0)
        return -1;
    s->in_txn = 1;
    return 0;
}

int cs_store_commit(struct cs_store *s)
{
    if (!s->in_txn)
        return s->failed ? -1 : 0;
    cs_store_flush_calls(s);
    if (s->failed) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        s->in_txn = 0;
        return -1;
    }
    s->in_txn = 0;
    return exec(s, "COMMIT");
}

int cs_store_in_transaction(const struct cs_store *s)
{
    return s->in_txn;
}

/* ---- calls ---- */

/* Binds every column but id, from parameter base + 1 on. */
static void bind_columns(sqlite3_stmt *st, int base, const struct pending_call *p, const char *text)
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
    bind_text_or_null(st, base + 9, p->result_len == NO_TEXT ? NULL : text + p->result_off,
                      p->result_len);
    bind_text_or_null(st, base + 10, p->exc_len == NO_TEXT ? NULL : text + p->exc_off, p->exc_len);
    sqlite3_bind_int(st, base + 11, p->flags);
}

static void bind_call(sqlite3_stmt *st, int base, int64_t id, const struct pending_call *p,
                      const char *text)
{
    sqlite3_bind_int64(st, base + 1, id);
    bind_columns(st, base + 1, p, text);
}

/* Runs a single-row insert with an explicit id. */
static void insert_one(struct cs_store *s, int64_t id, const struct pending_call *p, const char *text)
{
    bind_call(s->insert_call, 0, id, p, text);
    if (run(s, s->insert_call) == 0) {
        s->calls_written++;
        if (id > s->max_id)
            s->max_id = id;
    }
}

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
    stash_text(b, row->args, row->args_len, &p->args_off, &p->args_len);
    stash_text(b, row->result, row->result_len, &p->result_off, &p->result_len);
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
    if (s->failed)
        return;
    int64_t slot = row->id - s->window_base;
    if (slot >= 0 && slot < WINDOW && !s->window[slot].filled) {
        row_to_pending(&s->window_text, row, &s->window[slot]);
        if (s->window_text.oom) {
            s->failed = 1;
            snprintf(s->error, sizeof s->error, "out of memory");
        }
        return;
    }
    /* A call that started before the window: written at once, out of order. */
    struct pending_call p;
    struct cs_textbuf own = {0};
    row_to_pending(&own, row, &p);
    if (own.oom) {
        s->failed = 1;
        snprintf(s->error, sizeof s->error, "out of memory");
    } else {
        insert_one(s, row->id, &p, own.data);
    }
    cs_textbuf_free(&own);
}

/* Rows of the window gathered for one multi-row INSERT: either a run of
 * consecutive ids that continue the table (appended), or rows with gaps
 * before them (inserted with their ids). */
struct group {
    int64_t slot[ROWS_PER_INSERT];
    int n;
    int append;
};

/* An append leaves id out, so SQLite numbers the row max(id) + 1 and takes
 * its fast path for a new last row: no uniqueness probe of the whole b-tree
 * per row (a fifth of the insert's cost), and one parameter less to bind.
 * The id it gave is checked, so a wrong guess can never go unnoticed. */
static void flush_group(struct cs_store *s, struct group *g)
{
    const char *text = s->window_text.data;
    if (g->n == 0 || s->failed) {
        g->n = 0;
        return;
    }
    if (g->n < ROWS_PER_INSERT) {
        for (int k = 0; k < g->n; k++)
            insert_one(s, s->window_base + g->slot[k], &s->window[g->slot[k]], text);
        g->n = 0;
        return;
    }
    int64_t last = s->window_base + g->slot[g->n - 1];
    sqlite3_stmt *st = g->append ? s->append_calls : s->insert_calls;
    for (int k = 0; k < g->n; k++) {
        const struct pending_call *p = &s->window[g->slot[k]];
        if (g->append)
            bind_columns(st, k * APPEND_COLUMNS, p, text);
        else
            bind_call(st, k * CALL_COLUMNS, s->window_base + g->slot[k], p, text);
    }
    if (run(s, st) == 0) {
        s->calls_written += g->n;
        if (last > s->max_id) /* late rows of long calls may lie below it */
            s->max_id = last;
        if (g->append && sqlite3_last_insert_rowid(s->db) != last) {
            s->failed = 1;
            snprintf(s->error, sizeof s->error, "internal error: call ids out of step in %s", s->path);
        }
    }
    g->n = 0;
}

int cs_store_flush_calls(struct cs_store *s)
{
    int64_t used = s->next_call_id - s->window_base;
    if (used > WINDOW)
        used = WINDOW;
    struct group g = {.n = 0};
    /* The highest id in the table once the rows gathered so far are in: an
     * append gets the next one. Rows of calls that ended late (a parent
     * whose children were flushed already) lie below it and keep their ids. */
    int64_t top = s->max_id;
    for (int64_t i = 0; i < used && !s->failed; i++) {
        if (!s->window[i].filled)
            continue;
        int64_t id = s->window_base + i;
        int append = id == top + 1;
        if (g.n && (g.append != append || g.n == ROWS_PER_INSERT))
            flush_group(s, &g);
        g.append = append;
        g.slot[g.n++] = i;
        if (id > top)
            top = id;
    }
    flush_group(s, &g);
    for (int64_t i = 0; i < used; i++)
        s->window[i].filled = 0;
    cs_textbuf_reset(&s->window_text);
    return s->failed ? -1 : 0;
}

int64_t cs_store_calls_written(const struct cs_store *s)
{
    return s->calls_written;
}

int cs_store_trim_calls(struct cs_store *s, int64_t keep)
{
    if (keep <= 0 || s->failed)
        return s->failed ? -1 : 0;
    if (cs_store_flush_calls(s) != 0)
        return -1;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db,
                                "DELETE FROM calls WHERE id < "
                                "(SELECT id FROM calls ORDER BY id DESC LIMIT 1 OFFSET ?)",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) {
        fail_rc(s, rc, "write");
        return -1;
    }
    sqlite3_bind_int64(st, 1, keep - 1);
    if (run(s, st) == 0)
        s->calls_written -= sqlite3_changes(s->db);
    sqlite3_finalize(st);
    return s->failed ? -1 : 0;
}

int cs_store_build_indexes(struct cs_store *s)
{
    if (s->failed || cs_store_flush_calls(s) != 0)
        return -1;
    char pragmas[128];
    snprintf(pragmas, sizeof pragmas, "PRAGMA cache_size = -%d; PRAGMA threads = %d;",
             INDEXING_CACHE_KB, INDEXING_THREADS);
    int rc = sqlite3_exec(s->db, pragmas, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = cs_schema_build_indexes(s->db);
    if (rc != SQLITE_OK) {
        fail_rc(s, rc, "index");
        return -1;
    }
    return 0;
}

int cs_store_checkpoint(struct cs_store *s)
{
    return exec(s, "PRAGMA wal_checkpoint(TRUNCATE)");
}

/* ---- the small tables ---- */

void cs_store_add_function(struct cs_store *s, int64_t id, const char *kind, const char *module,
                           size_t module_len, const char *qualname, size_t qualname_len,
                           const char *filename, size_t filename_len, int64_t lineno,
                           const char *arg_names_json, size_t arg_names_len)
{
    if (s->failed)
        return;
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
    cs_textbuf_free(&name);
}

void cs_store_add_process(struct cs_store *s, int64_t pid, int64_t parent_pid)
{
    if (s->failed)
        return;
    sqlite3_bind_int64(s->insert_process, 1, pid);
    if (parent_pid)
        sqlite3_bind_int64(s->insert_process, 2, parent_pid);
    else
        sqlite3_bind_null(s->insert_process, 2);
    run(s, s->insert_process);
}

void cs_store_add_thread(struct cs_store *s, int64_t id, int64_t pid, int64_t tid)
{
    if (s->failed)
        return;
    sqlite3_bind_int64(s->insert_thread, 1, id);
    sqlite3_bind_int64(s->insert_thread, 2, pid);
    sqlite3_bind_int64(s->insert_thread, 3, tid);
    run(s, s->insert_thread);
}

void cs_store_set_thread_name(struct cs_store *s, int64_t id, const char *name, size_t len)
{
    if (s->failed)
        return;
    sqlite3_bind_text(s->update_thread_name, 1, name, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(s->update_thread_name, 2, id);
    run(s, s->update_thread_name);
}

void cs_store_add_log(struct cs_store *s, int64_t call_id, int64_t thread_id, int64_t time_ns,
                      const char *message, size_t message_len, const char *fields,
                      size_t fields_len)
{
    if (s->failed)
        return;
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
}

void cs_store_add_lost(struct cs_store *s, int64_t thread_id, int64_t time_ns, int64_t count)
{
    if (s->failed)
        return;
    sqlite3_bind_int64(s->insert_lost, 1, thread_id);
    sqlite3_bind_int64(s->insert_lost, 2, time_ns);
    sqlite3_bind_int64(s->insert_lost, 3, count);
    run(s, s->insert_lost);
}

void cs_store_set_meta_text(struct cs_store *s, const char *key, const char *value)
{
    if (s->failed)
        return;
    sqlite3_bind_text(s->set_meta, 1, key, -1, SQLITE_STATIC);
    bind_text_or_null(s->set_meta, 2, value, value ? strlen(value) : 0);
    run(s, s->set_meta);
}

void cs_store_set_meta_int(struct cs_store *s, const char *key, int64_t value)
{
    if (s->failed)
        return;
    sqlite3_bind_text(s->set_meta, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->set_meta, 2, value);
    run(s, s->set_meta);
}
