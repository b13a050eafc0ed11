/*
 * scan_ranges.c — the blocks of calls a filter has to read (see
 * scan_ranges.h).
 */
#include "present/scan_ranges.h"

#include <stdlib.h>

#include "core/grow.h"
#include "present/common.h"
#include "store/call_blocks.h"

static int block_may_match(const struct cs_filter *f, const unsigned char *bloom)
{
    for (size_t i = 0; i < f->nclauses; i++) {
        const struct cs_filter_clause *cl = &f->clauses[i];
        size_t k = 0;
        while (k < cl->n && !cs_block_may_hold(bloom, cl->items[k]))
            k++;
        if (k == cl->n)
            return 0; /* holds none of them: no call of the block is kept */
    }
    return 1;
}

static int has_block(sqlite3 *db, int64_t id)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM call_blocks WHERE first_id = ?", -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_int64(st, 1, id - id % CS_BLOCK_CALLS);
    int found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

/* Whether the blocks can be trusted for [lo, hi]: the store keeps them
 * (from the first call to the last: rows written by other means have
 * none), and the clauses still speak for the whole recording (they were
 * read when functions and vals ended at the filter's ids). */
static int blocks_usable(sqlite3 *db, const struct cs_filter *f, int64_t lo, int64_t hi)
{
    return cs_query_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'call_blocks'", 0) == 1 &&
           cs_query_int(db, "SELECT max(id) FROM functions", 0) == f->max_function_id &&
           cs_query_int(db, "SELECT max(id) FROM vals", 0) == f->max_val_id && has_block(db, lo) && has_block(db, hi);
}

static int add_range(struct cs_scan_range **r, size_t *n, size_t *cap, int64_t lo, int64_t hi)
{
    if (*n && (*r)[*n - 1].hi + 1 == lo) { /* continues the last one */
        (*r)[*n - 1].hi = hi;
        return 0;
    }
    if (*n == *cap) {
        struct cs_scan_range *grown = cs_grow(*r, cap, sizeof *grown, 64);
        if (!grown)
            return -1;
        *r = grown;
    }
    (*r)[(*n)++] = (struct cs_scan_range){lo, hi};
    return 0;
}

static int whole(int64_t lo, int64_t hi, struct cs_scan_range **out, size_t *n)
{
    *n = 0;
    if (!(*out = malloc(sizeof **out)))
        return -1;
    (*out)[0] = (struct cs_scan_range){lo, hi};
    *n = 1;
    return 0;
}

int cs_scan_ranges(sqlite3 *db, const struct cs_filter *filter, int64_t lo, int64_t hi, struct cs_scan_range **out,
                   size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!filter || !filter->nclauses)
        return whole(lo, hi, out, n);
    /* One snapshot for the check and the blocks: a recording still being
     * written commits rows and their blocks together. */
    int own_txn = sqlite3_get_autocommit(db) && sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
    sqlite3_stmt *st = NULL;
    int rc = 0, usable = lo <= hi && blocks_usable(db, filter, lo, hi) &&
                         sqlite3_prepare_v2(db, "SELECT first_id, bloom FROM call_blocks WHERE first_id BETWEEN ?1 AND ?2"
                                                " ORDER BY first_id", -1, &st, NULL) == SQLITE_OK;
    size_t cap = 0;
    if (usable) {
        sqlite3_bind_int64(st, 1, lo - CS_BLOCK_CALLS + 1);
        sqlite3_bind_int64(st, 2, hi);
        int step = SQLITE_DONE;
        while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
            int64_t first = sqlite3_column_int64(st, 0), last = first + CS_BLOCK_CALLS - 1;
            const unsigned char *bloom = sqlite3_column_blob(st, 1);
            if (sqlite3_column_bytes(st, 1) != CS_BLOCK_BYTES || first % CS_BLOCK_CALLS) {
                usable = 0; /* not what this callscope writes: read it all */
                break;
            }
            if (block_may_match(filter, bloom))
                rc = add_range(out, n, &cap, first > lo ? first : lo, last < hi ? last : hi);
        }
        usable = usable && rc == 0 && step == SQLITE_DONE;
    }
    sqlite3_finalize(st);
    if (own_txn)
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc == 0 && usable)
        return 0;
    free(*out);
    return rc != 0 ? -1 : whole(lo, hi, out, n);
}
