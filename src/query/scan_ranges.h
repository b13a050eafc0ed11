/*
 * scan_ranges.h — which calls a filtered scan must read at all: the id
 * ranges of the blocks of calls (store/call_blocks.h) that may hold what
 * the filter's clauses name, or everything.
 */
#ifndef CALLSCOPE_QUERY_SCAN_RANGES_H
#define CALLSCOPE_QUERY_SCAN_RANGES_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "query/filter.h"

struct cs_scan_range {
    int64_t lo, hi; /* ids, both included */
};

/* The ranges within [lo, hi] (in id order, not overlapping) that hold
 * every call `filter` may select: [lo, hi] itself when the filter has no
 * clause, the store no skip index (an older recording), or the recording
 * has new functions the clauses do not know. 0, or -1 when out
 * of memory; *out is the caller's to free. */
int cs_scan_ranges(sqlite3 *db, const struct cs_filter *filter, int64_t lo, int64_t hi, struct cs_scan_range **out,
                   size_t *n);

#endif
