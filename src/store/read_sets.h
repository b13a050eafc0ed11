/*
 * read_sets.h — a set of ids as a bitmap, tested from SQL:
 *
 *   cs_in_set(set, id)   1 when bit `id` of the blob `set` is set, else 0
 *
 * A filter on a field of functions (module, function, file, ...) is
 * resolved once to the set of matching function ids; testing a bit per
 * call is several times cheaper than an IN (SELECT ...) lookup per call.
 * cs_store_open_readonly registers it on every reader's connection.
 */
#ifndef CALLSCOPE_READ_SETS_H
#define CALLSCOPE_READ_SETS_H

#include <sqlite3.h>

/* SQLITE_OK or an SQLite error code. */
int cs_read_sets_register(sqlite3 *db);

#endif
