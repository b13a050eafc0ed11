/*
 * read_sets.h — a set of ids, decided once, tested from SQL:
 *
 *   cs_in_set(set, id)        1 when id is in the set, 0 when it is not,
 *                             and NULL when the set does not know id
 *   cs_function_may(id, set)  0 when the set knows id and it is not in it,
 *                             else 1
 *
 * The blob holds two bits per id (id 4k+j in byte k, bits 2j and 2j+1):
 * "known" and "in the set". A filter on a field of functions (module,
 * function, file, ...) is resolved once to the set of matching function
 * ids; testing two bits per call is several times cheaper than an
 * IN (SELECT ...) lookup per call, which stays for the ids the set does not
 * know (functions a recording still being written defines later).
 *
 * cs_function_may is what a filter asks of the calls table besides its
 * condition when every call it keeps is of the set's functions: the
 * call_rows virtual table takes it over (its column first, as SQLite
 * requires of a function a virtual table answers itself) and skips the
 * other calls while it reads its chunks, before SQLite sees a row
 * (calls_vtab.c). cs_store_open_readonly registers both on every reader's
 * connection.
 */
#ifndef CALLSCOPE_READ_SETS_H
#define CALLSCOPE_READ_SETS_H

#include <stddef.h>
#include <stdint.h>

#include "store/sqlite_api.h"

/* The two bits of id in a set of n bytes: bit 0 "known", bit 1 "in it". */
static inline unsigned cs_set_bits(const unsigned char *set, size_t n, int64_t id)
{
    return set && id >= 0 && (uint64_t)id / 4 < n ? (set[id / 4] >> (id % 4 * 2)) & 3u : 0;
}

/* Whether a row of function id may be kept: not known to be outside. */
static inline int cs_set_may_hold(const unsigned char *set, size_t n, int64_t id)
{
    unsigned bits = cs_set_bits(set, n, id);
    return !(bits & 1) || (bits & 2);
}

/* cs_function_may's implementation, for a virtual table's xFindFunction. */
void cs_sql_function_may(sqlite3_context *ctx, int argc, sqlite3_value **argv);

/* SQLITE_OK or an SQLite error code. */
int cs_read_sets_register(sqlite3 *db);

#endif
