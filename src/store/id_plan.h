/*
 * id_plan.h — how the store's virtual tables (calls_vtab.c, vals_vtab.c)
 * serve constraints on their id column: both keep rows in chunks of
 * consecutive ids, so =, <, <=, >, >= on id and ORDER BY id (either way)
 * become a range of ids read in order, and everything else is a scan.
 * A table may also answer one set test on one column itself
 * (CS_ID_PLAN_SET_OP: cs_function_may, store/read_sets.h).
 */
#ifndef CALLSCOPE_ID_PLAN_H
#define CALLSCOPE_ID_PLAN_H

#include <stdint.h>

#include "store/sqlite_api.h"

/* The constraint op a table's xFindFunction gives cs_function_may. */
#define CS_ID_PLAN_SET_OP SQLITE_INDEX_CONSTRAINT_FUNCTION

/* xBestIndex for a table whose id is column id_column (and its rowid), and
 * whose column set_column (-1: none) takes CS_ID_PLAN_SET_OP tests. */
int cs_id_plan_choose(sqlite3_index_info *info, int id_column, int set_column);

/* The columns the statement uses (a bit per column, as SQLite's colUsed,
 * for the first CS_ID_PLAN_COLUMNS columns), from the plan. */
#define CS_ID_PLAN_COLUMNS 16
unsigned cs_id_plan_columns(int plan);

/* xFilter's side: the range [lo, hi] of ids to read, in descending order
 * when *desc, and the set test's argument (NULL: none), from the plan and
 * arguments cs_id_plan_choose chose. The range is never narrower than the
 * constraints, and the set test never drops a row it would keep (SQLite
 * checks each row against them again). */
void cs_id_plan_range(int plan, int argc, sqlite3_value **argv, int64_t *lo, int64_t *hi, int *desc,
                      sqlite3_value **set);

#endif
