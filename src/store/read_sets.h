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
 *
 * The call table tests the same sets itself while it reads (narrowing.h).
 * cs_store_open_readonly registers cs_in_set on every reader's connection.
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

/* SQLITE_OK or an SQLite error code. */
int cs_read_sets_register(sqlite3 *db);

#endif
