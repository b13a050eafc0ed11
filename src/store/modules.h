/*
 * modules.h — the virtual tables a recording's schema names (call_rows,
 * vals): every connection that reads a recording registers them first.
 * callscope's own do (the store's writer, cs_store_open_readonly); other
 * programs load callscope's SQLite extension (sqlite_extension.c), which
 * does the same.
 */
#ifndef CALLSCOPE_STORE_MODULES_H
#define CALLSCOPE_STORE_MODULES_H

#include "store/sqlite_api.h"

/* SQLITE_OK, or an SQLite error code. */
int cs_store_register_modules(sqlite3 *db);

/* The virtual tables keep prepared statements of their own on the
 * connection from cursor to cursor (a lookup in a subquery opens a cursor
 * per row) and finalize them when SQLite disconnects them. Their SQL
 * starts with this mark, so that code which finalizes a connection's
 * leftover statements (cs_store_close_readonly) leaves them alone. */
#define CS_MODULE_SQL_MARK "/* callscope module */ "

/* Whether st is one of those statements. */
int cs_store_module_statement(sqlite3_stmt *st);

#endif
