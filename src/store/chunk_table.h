/*
 * chunk_table.h — what the store's virtual tables over chunks
 * (calls_vtab.c, vals_vtab.c) have in common: the table and cursor they
 * start with, the decoded chunks they keep, and the prepared statements a
 * cursor reads its chunks with, kept by the table from cursor to cursor.
 *
 * A subquery that looks a call or a value up (the calls view does, for
 * every argument of every row) opens a cursor for each row of the query
 * around it; preparing a cursor's statements each time cost more than the
 * lookup itself. A closing cursor resets its statements, so that none
 * holds the connection's read open, and gives them back; the table
 * finalizes them when SQLite disconnects it. Their SQL starts with
 * CS_MODULE_SQL_MARK (modules.h).
 */
#ifndef CALLSCOPE_CHUNK_TABLE_H
#define CALLSCOPE_CHUNK_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "store/sqlite_api.h"

#define CS_VTAB_STATEMENTS 8

/* The statements every chunked table reads with, first in a set; a table
 * numbers its own from CS_VTAB_OWN on. */
enum { CS_VTAB_CHUNK_AT, CS_VTAB_CHUNKS, CS_VTAB_CHUNKS_DESC, CS_VTAB_DATA, CS_VTAB_OWN };

struct cs_vtab_statements {
    sqlite3_stmt *st[CS_VTAB_STATEMENTS]; /* each table numbers its own; NULL until first prepared */
    struct cs_vtab_statements *next;
};

/* A set from the idle list, or a new empty one; NULL when out of memory. */
struct cs_vtab_statements *cs_vtab_statements_take(struct cs_vtab_statements **idle);
/* Resets the set's statements and puts it back on the idle list. */
void cs_vtab_statements_give(struct cs_vtab_statements **idle, struct cs_vtab_statements *set);
/* Finalizes every idle set (xDisconnect). */
void cs_vtab_statements_free(struct cs_vtab_statements **idle);
/* Prepares set->st[i] from sql unless it is prepared already. */
int cs_vtab_prepare(sqlite3 *db, struct cs_vtab_statements *set, int i, const char *sql);

/* The chunks of `table` (call_chunks or val_chunks: first_id, last_id,
 * rows, data) that may hold ids in [lo, hi], from the one that starts at
 * or before lo, in order (descending when desc): *chunks is the statement
 * to step, whose columns are first_id, last_id and rows. */
int cs_vtab_chunks(sqlite3 *db, struct cs_vtab_statements *set, const char *table, int desc, int64_t lo, int64_t hi,
                   sqlite3_stmt **chunks);
/* Steps the statement whose column 0 is the blob of table's chunk at
 * first_id (SQLITE_ROW, or SQLITE_DONE when there is none); the caller
 * resets *data once it has decoded the blob. */
int cs_vtab_chunk_data(sqlite3 *db, struct cs_vtab_statements *set, const char *table, int64_t first_id,
                       sqlite3_stmt **data);

/* What each table's object starts with. */
struct cs_chunk_vtab {
    sqlite3_vtab base;
    sqlite3 *db;
    struct cs_vtab_statements *idle;
};

/* A table's shape, its module's aux: its columns, and the size of its
 * object (which starts with a struct cs_chunk_vtab). */
struct cs_chunk_vtab_shape {
    const char *declaration;
    size_t size;
};

/* xCreate and xConnect: declares the table and allocates its object,
 * zeroed, from the shape the module was registered with. */
int cs_chunk_vtab_connect(sqlite3 *db, void *shape, int argc, const char *const *argv, sqlite3_vtab **out,
                          char **errmsg);
/* xDisconnect's common part: the statements, then the object. */
void cs_chunk_vtab_free(struct cs_chunk_vtab *v);
/* Sets the table's error message; returns rc. */
int cs_chunk_vtab_fail(struct cs_chunk_vtab *v, int rc, const char *message);

/* What each cursor starts with. */
struct cs_chunk_cursor {
    sqlite3_vtab_cursor base;
    struct cs_chunk_vtab *vtab;
    struct cs_vtab_statements *st;
};

/* xOpen's common part: a cursor of `size` bytes, zeroed, with a set of
 * statements. */
int cs_chunk_cursor_open(struct cs_chunk_vtab *v, size_t size, sqlite3_vtab_cursor **out);
/* xClose's common part: gives the statements back, frees the cursor. */
void cs_chunk_cursor_free(struct cs_chunk_cursor *c);

/* A decoded chunk a table keeps for its cursors (the decoded data follows
 * it in the table's own struct). */
struct cs_chunk_slot {
    int64_t first_id, last_id; /* first_id 0: empty */
    uint64_t used;             /* when last used, by the table's clock */
    int pins;                  /* cursors reading it now: it stays */
};

/* Of the n slots at `slots`, `stride` bytes apart: the unpinned one that
 * holds the chunk at first_id, else the least recently used unpinned one;
 * NULL when every one is pinned. */
void *cs_chunk_slot_pick(void *slots, size_t stride, int n, int64_t first_id);

#endif
