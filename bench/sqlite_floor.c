/*
 * sqlite_floor.c — the floor under a collector that writes one SQLite row
 * per call (the store of schema 2): how fast SQLite itself writes the rows
 * of a recording, with nothing else to do. The store of schema 3 writes
 * chunks of calls instead (src/store/call_chunks.h); bench/run.py prints
 * this floor beside its rate, to show what the chunks saved.
 *
 * It reads every call_rows and vals row of a finished recording into
 * memory, then inserts them into plain tables of schema 2's layout in a
 * new file, with the store's pragmas (WAL, synchronous off, 64-row statements, rows appended
 * without their ids, and call rows without exception and flags where they
 * have none, a commit every 100,000 rows), and reports the CPU time
 * of the inserts alone. The collector must
 * also decode events and render values, so its rate on the same recording
 * is at most this one (bench/run.py prints both).
 *
 *   build/sqlite_floor RECORDING.db [scratch.db]
 * prints: calls rows seconds calls_seconds (the CPU time of all the
 * inserts, and of the call rows' alone: what one row per call costs
 * SQLite before any value is stored)
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "store/modules.h"

/* As the store writes: 64-row statements (store.c), and a commit about as
 * often as the collector asks for one at this rate (every 100 ms, or
 * 200,000 rows: collector.c). */
#define ROWS_PER_INSERT 64
#define ROWS_PER_COMMIT 100000

/* One table's rows, each column an integer, a text or NULL, bound the way
 * the store binds them (texts without a copy). */
struct cell {
    int type; /* SQLITE_INTEGER, SQLITE_TEXT or SQLITE_NULL */
    int len;
    sqlite3_int64 i;
    char *text;
};

struct table {
    int ncols;
    size_t nrows;
    struct cell *cells; /* nrows * ncols */
};

static void fail(const char *what, sqlite3 *db)
{
    fprintf(stderr, "sqlite_floor: %s: %s\n", what, db ? sqlite3_errmsg(db) : "out of memory");
    exit(1);
}

static void load(sqlite3 *db, const char *name, struct table *t)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT * FROM %s ORDER BY id", name);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail(name, db);
    t->ncols = sqlite3_column_count(st);
    size_t cap = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (t->nrows == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            t->cells = realloc(t->cells, cap * (size_t)t->ncols * sizeof *t->cells);
            if (!t->cells)
                fail(name, NULL);
        }
        for (int c = 0; c < t->ncols; c++) {
            struct cell *x = &t->cells[t->nrows * (size_t)t->ncols + (size_t)c];
            x->type = sqlite3_column_type(st, c);
            if (x->type == SQLITE_INTEGER) {
                x->i = sqlite3_column_int64(st, c);
            } else if (x->type != SQLITE_NULL) {
                x->type = SQLITE_TEXT;
                x->len = sqlite3_column_bytes(st, c);
                x->text = malloc((size_t)x->len + 1);
                if (!x->text)
                    fail(name, NULL);
                memcpy(x->text, sqlite3_column_text(st, c), (size_t)x->len + 1);
            }
        }
        t->nrows++;
    }
    sqlite3_finalize(st);
}

/* columns: "" for all of them, or a list without the id, so that SQLite
 * numbers the rows itself, appending, as the store does for call rows. */
static sqlite3_stmt *multi_insert(sqlite3 *db, const char *name, const char *columns, int ncols, int rows)
{
    size_t size = 64 + strlen(columns) + (size_t)rows * ((size_t)ncols * 2 + 3);
    char *sql = malloc(size);
    if (!sql)
        fail(name, NULL);
    size_t n = (size_t)snprintf(sql, size, "INSERT INTO %s%s VALUES ", name, columns);
    for (int r = 0; r < rows; r++) {
        sql[n++] = r ? ',' : ' ';
        sql[n++] = '(';
        for (int c = 0; c < ncols; c++) {
            if (c)
                sql[n++] = ',';
            sql[n++] = '?';
        }
        sql[n++] = ')';
    }
    sql[n] = 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
        fail(name, db);
    free(sql);
    return st;
}

static void exec(sqlite3 *db, const char *sql)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        fail(sql, db);
}

/* Whether rows [r, r + n) carry the ids top + 1, top + 2, ... */
static int numbered_from(const struct table *t, size_t r, int n, sqlite3_int64 top)
{
    for (int k = 0; k < n; k++) {
        const struct cell *id = &t->cells[(r + (size_t)k) * (size_t)t->ncols];
        if (id->type != SQLITE_INTEGER || id->i != top + 1 + k)
            return 0;
    }
    return 1;
}

/* Whether the columns from `from` on are NULL or 0 in rows [r, r + n). */
static int left_unset(const struct table *t, size_t r, int n, int from)
{
    for (int k = 0; k < n; k++)
        for (int c = from; c < t->ncols; c++) {
            const struct cell *x = &t->cells[(r + (size_t)k) * (size_t)t->ncols + (size_t)c];
            if (x->type == SQLITE_TEXT || (x->type == SQLITE_INTEGER && x->i != 0))
                return 0;
        }
    return 1;
}

/* Inserts the rows, committing every ROWS_PER_COMMIT; *since_commit carries
 * over from one table to the next, as one recording's batches mix them.
 * append_columns: the columns but the id (the first), so that SQLite
 * numbers the rows; plain_columns: the first plain_width of those, for
 * groups in which the rest are NULL or 0 (call rows with no exception and
 * no flags). As the store writes them. */
static void insert_all(sqlite3 *db, const char *name, const char *append_columns, const char *plain_columns,
                       int plain_width, const struct table *t, size_t *since_commit)
{
    sqlite3_stmt *group = multi_insert(db, name, "", t->ncols, ROWS_PER_INSERT);
    sqlite3_stmt *single = multi_insert(db, name, "", t->ncols, 1);
    sqlite3_stmt *append = multi_insert(db, name, append_columns, t->ncols - 1, ROWS_PER_INSERT);
    sqlite3_stmt *plain = plain_columns ? multi_insert(db, name, plain_columns, plain_width, ROWS_PER_INSERT) : NULL;
    sqlite3_int64 top = 0;
    for (size_t r = 0; r < t->nrows;) {
        int whole = t->nrows - r >= ROWS_PER_INSERT;
        int appended = whole && numbered_from(t, r, ROWS_PER_INSERT, top);
        int shorter = appended && plain && left_unset(t, r, ROWS_PER_INSERT, 1 + plain_width);
        sqlite3_stmt *st = shorter ? plain : appended ? append : whole ? group : single;
        int rows = whole ? ROWS_PER_INSERT : 1;
        int first = appended ? 1 : 0, width = shorter ? plain_width : t->ncols - first;
        for (int k = 0; k < rows; k++)
            for (int c = first; c < first + width; c++) {
                const struct cell *x = &t->cells[(r + (size_t)k) * (size_t)t->ncols + (size_t)c];
                int at = k * width + (c - first) + 1;
                if (x->type == SQLITE_INTEGER)
                    sqlite3_bind_int64(st, at, x->i);
                else if (x->type == SQLITE_TEXT)
                    sqlite3_bind_text(st, at, x->text, x->len, SQLITE_STATIC);
                else
                    sqlite3_bind_null(st, at);
            }
        if (sqlite3_step(st) != SQLITE_DONE)
            fail(name, db);
        sqlite3_reset(st);
        const struct cell *last_id = &t->cells[(r + (size_t)rows - 1) * (size_t)t->ncols];
        if (last_id->type == SQLITE_INTEGER && last_id->i > top)
            top = last_id->i;
        r += (size_t)rows;
        *since_commit += (size_t)rows;
        if (*since_commit >= ROWS_PER_COMMIT) {
            exec(db, "COMMIT; BEGIN");
            *since_commit = 0;
        }
    }
    sqlite3_finalize(group);
    sqlite3_finalize(single);
    sqlite3_finalize(append);
    sqlite3_finalize(plain);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: sqlite_floor RECORDING.db [scratch.db]\n");
        return 2;
    }
    const char *scratch = argc > 2 ? argv[2] : "/tmp/callscope-sqlite-floor.db";
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    sqlite3 *src;
    if (sqlite3_open_v2(argv[1], &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        cs_store_register_modules(src) != SQLITE_OK)
        fail(argv[1], src);
    struct table calls = {0}, vals = {0};
    load(src, "call_rows", &calls);
    load(src, "vals", &vals);
    sqlite3_close(src);

    char wal[4096];
    snprintf(wal, sizeof wal, "%s-wal", scratch);
    unlink(scratch);
    unlink(wal);
    sqlite3 *db;
    /* One thread, as the store's writer: no SQLite mutexes (store.c opens
     * its connection the same way). */
    if (sqlite3_open_v2(scratch, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK)
        fail(scratch, db);
    exec(db, "PRAGMA page_size = 4096; PRAGMA auto_vacuum = NONE");
    /* schema 2's tables of calls and values, one row each */
    exec(db, "CREATE TABLE vals(id INTEGER PRIMARY KEY, text TEXT NOT NULL, type TEXT);"
             "CREATE TABLE call_rows(id INTEGER PRIMARY KEY, parent_id INTEGER, thread_id INTEGER NOT NULL,"
             " function_id INTEGER NOT NULL, depth INTEGER NOT NULL, start_ns INTEGER NOT NULL, duration_ns INTEGER,"
             " self_ns INTEGER, args TEXT, result, exception TEXT, flags INTEGER NOT NULL DEFAULT 0)");
    exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; PRAGMA cache_size = -4096;"
             "PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 0; BEGIN");
    /* No checkpoints here: the store runs them on a thread of their own. */
    size_t since_commit = 0;
    int64_t start = cs_thread_cpu_ns();
    insert_all(db, "vals", "(text, type)", NULL, 0, &vals, &since_commit);
    int64_t calls_start = cs_thread_cpu_ns();
    insert_all(db, "call_rows",
               "(parent_id, thread_id, function_id, depth, start_ns, duration_ns, self_ns, args, result, exception, flags)",
               "(parent_id, thread_id, function_id, depth, start_ns, duration_ns, self_ns, args, result)", 9,
               &calls, &since_commit);
    exec(db, "COMMIT");
    int64_t end = cs_thread_cpu_ns(), cpu = end - start, calls_cpu = end - calls_start;
    sqlite3_close(db);
    unlink(scratch);
    unlink(wal);
    printf("%zu %zu %.3f %.3f\n", calls.nrows, calls.nrows + vals.nrows, (double)cpu / 1e9, (double)calls_cpu / 1e9);
    return 0;
}
