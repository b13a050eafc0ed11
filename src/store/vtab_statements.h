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

#include "store/sqlite_api.h"

#define CS_VTAB_STATEMENTS 6

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

#endif
