/*
 * calls_vtab.h — `call_rows`, the virtual table that shows the calls of a
 * recording as one row per call (docs/schema.md), read from the chunks of
 * call_chunks and the single rows of call_late (call_chunks.h).
 *
 * Every connection that reads a recording registers the module before
 * touching call_rows (modules.h).
 *
 * The table is read only. Constraints on id (=, <, <=, >, >=) and ORDER
 * BY id (either way) are served from the chunks' ids, so a range of ids
 * costs the chunks it touches, a lookup one chunk.
 */
#ifndef CALLSCOPE_CALLS_VTAB_H
#define CALLSCOPE_CALLS_VTAB_H

#include "store/sqlite_api.h"

#define CS_CALLS_MODULE "callscope_calls"

/* SQLITE_OK, or an SQLite error code. */
int cs_calls_vtab_register(sqlite3 *db);

#endif
