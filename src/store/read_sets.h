/*
 * read_sets.h — a set of ids, decided once, tested from SQL:
 *
 *   cs_in_set(set, id)   1 when id is in the set, 0 when it is not, and
 *                        NULL when the set does not know id
 *
 * The blob holds two bits per id (id 4k+j in byte k, bits 2j and 2j+1):
 * "known" and "in the set". A filter on a field of functions (module,
 * function, file, ...) is resolved once to the set of matching function
 * ids; testing two bits per call is several times cheaper than an
 * IN (SELECT ...) lookup per call, which stays for the ids the set does not
 * know (functions a recording still being written defines later).
 * cs_store_open_readonly registers it on every reader's connection.
 */
#ifndef CALLSCOPE_READ_SETS_H
#define CALLSCOPE_READ_SETS_H

#include <sqlite3.h>

/* SQLITE_OK or an SQLite error code. */
int cs_read_sets_register(sqlite3 *db);

#endif
