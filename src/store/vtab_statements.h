/*
 * vtab_statements.h — the prepared statements a cursor of the store's
 * virtual tables (calls_vtab.c, vals_vtab.c) reads its chunks with, kept
 * by the table from cursor to cursor.
 *
 * A subquery that looks a call or a value up (the calls view does, for
 * every argument of every row) opens a cursor for each row of the query
 * around it; preparing a cursor's statements each time cost more than the
 * lookup itself. A closing cursor resets its statements, so that none
 * holds the connection's read open, and gives them back; the table
 * finalizes them when SQLite disconnects it. Their SQL starts with
 * CS_MODULE_SQL_MARK (modules.h).
 */
#ifndef CALLSCOPE_VTAB_STATEMENTS_H
#define CALLSCOPE_VTAB_STATEMENTS_H

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

/* xConnect's common part: declares the table and allocates its object of
 * `size` bytes, zeroed, which starts with its sqlite3_vtab. */
int cs_vtab_connect(sqlite3 *db, const char *declaration, size_t size, sqlite3_vtab **out);

#endif
