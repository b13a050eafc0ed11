/*
 * parallel_scan.h — one read of call_rows split by id range between the
 * cores.
 *
 * SQLite runs a statement on one core, and a filter over millions of calls
 * is bound by that core. The calls are cut into consecutive id ranges, each
 * read on a connection (and a thread) of its own, and the caller combines
 * what the parts found: stats adds up totals, show concatenates the
 * selected calls (parts are in id order, so the result is too).
 */
#ifndef CALLSCOPE_QUERY_PARALLEL_SCAN_H
#define CALLSCOPE_QUERY_PARALLEL_SCAN_H

#include <sqlite3.h>
#include <stddef.h>

#include "query/filter.h"

#define CS_SCAN_MAX_PARTS 8
/* A scan binds ?1 and ?2 (a part's id range): a filter it reads numbers
 * its parameters from here (cs_filter_compile's first_param). */
#define CS_SCAN_FILTER_FIRST_PARAM 3

/* Called for every selected call of one part with its columns and that
 * part's state; returns 0 to go on, 1 to stop that part (the caller knows
 * why: cs_scan_parallel then returns 1), -1 when out of memory. */
typedef int (*cs_scan_row_fn)(sqlite3_value **columns, void *state);

/* How many parts a scan of the store on db gets: one per core, none with
 * fewer than a few hundred thousand calls (a thread and a connection cost
 * more than they save there); 1 to CS_SCAN_MAX_PARTS. */
int cs_scan_parts(sqlite3 *db);

/* Hands `columns` (SQL over "call_rows c", comma-separated) of every call
 * that `filter` selects (NULL: every call) to row(), part by part: part 0
 * on db, the others on connections of their own to `path`. nparts is what
 * cs_scan_parts said; states[i] goes with part i, the lowest ids first,
 * and within a part calls come in id order. Each part reads its range as
 * it is when the part starts. 0, 1 when row() stopped a part, or -1 with
 * the reason in err. */
int cs_scan_parallel(sqlite3 *db, const char *path, const char *columns, const struct cs_filter *filter,
                     void *const *states, int nparts, cs_scan_row_fn row, char *err, size_t errlen);

#endif
