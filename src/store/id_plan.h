/*
 * id_plan.h — how the store's virtual tables (calls_vtab.c, vals_vtab.c)
 * serve constraints on their id column: both keep rows in chunks of
 * consecutive ids, so =, <, <=, >, >= on id and ORDER BY id (either way)
 * become a range of ids read in order, and everything else is a scan.
 * A table may also take tests of its other columns to answer itself
 * while it reads: comparisons with a value, and the narrowing functions
 * of store/narrowing.h (constraint ops SQLITE_INDEX_CONSTRAINT_FUNCTION
 * and above).
 */
#ifndef CALLSCOPE_ID_PLAN_H
#define CALLSCOPE_ID_PLAN_H

#include <stdint.h>

#include "store/sqlite_api.h"

/* xBestIndex for a table whose id is column id_column (and its rowid). */
int cs_id_plan_choose(sqlite3_index_info *info, int id_column);

/* A test of a column other than id: SQLite's op (=, <, <=, >, >=, or the
 * one a narrowing function's xFindFunction gave) and the value compared
 * with (the function's second argument). */
#define CS_ID_PLAN_MAX_TESTS 8
struct cs_id_plan_test {
    int column, op;
    sqlite3_value *arg;
};

/* The integers a bound gives, widened to the integers around a real: the
 * lowest a value >= it may be (lower), or the highest a value <= it may
 * be; none (INT64_MIN or INT64_MAX) for anything but a number. */
int64_t cs_id_plan_bound(sqlite3_value *value, int lower);

/* The columns the statement uses (a bit per column, as SQLite's colUsed,
 * for the first CS_ID_PLAN_COLUMNS columns), from the plan. */
#define CS_ID_PLAN_COLUMNS 16
unsigned cs_id_plan_columns(int plan);

/* xFilter's side: the range [lo, hi] of ids to read, in descending order
 * when *desc, and the tests (at most CS_ID_PLAN_MAX_TESTS, *ntests of
 * them), from the plan, idxStr and arguments cs_id_plan_choose chose. The
 * range is never narrower than the constraints (SQLite checks each row
 * against them again, tests too). */
void cs_id_plan_range(int plan, const char *idx, int argc, sqlite3_value **argv, int64_t *lo, int64_t *hi,
                      int *desc, struct cs_id_plan_test *tests, int *ntests);

#endif
