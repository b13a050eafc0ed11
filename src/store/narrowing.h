/*
 * narrowing.h — tests the call_rows table answers itself while it reads
 * its chunks, so that the calls a filter cannot keep never become rows of
 * SQL (each row SQLite sees costs more than deciding in C from the decoded
 * chunk):
 *
 *   cs_function_may(function_id, set)  0 when the set (read_sets.h) knows
 *                                      the function and it is not in it
 *   cs_value_may(args, text)           0 when no argument's text is text
 *   cs_value_may(result, text)         0 when the result's text is not text
 *
 * A filter puts them at the top of its WHERE clause beside its condition
 * (query/filter.h, `narrowing`) when every call it keeps passes them. Each
 * may say 1 for a call that fails, never 0 for one that passes: SQLite
 * checks the filter's own condition on every row it gets. As plain SQL
 * functions, for rows SQLite reads itself (call_late, call_rows of files
 * of schema 2), cs_value_may always says 1; the table answers it from the
 * chunk, looking up once which vals rows hold the text (calls_vtab.c).
 * The virtual table takes them over through xFindFunction, under the
 * constraint ops below (store/id_plan.h passes them to xFilter).
 */
#ifndef CALLSCOPE_NARROWING_H
#define CALLSCOPE_NARROWING_H

#include <stddef.h>
#include <stdint.h>

#include "store/sqlite_api.h"

enum cs_narrowing_op {
    CS_NARROW_FUNCTION = SQLITE_INDEX_CONSTRAINT_FUNCTION,
    CS_NARROW_VALUE,
};

/* The op and implementation of a narrowing function, for xFindFunction;
 * 0 when name is not one. */
int cs_narrowing_find(int nargs, const char *name, void (**fn)(sqlite3_context *, int, sqlite3_value **));

/* The vals ids whose text is a given text, as a table found them. */
struct cs_text_ids {
    const int64_t *ids; /* ascending */
    size_t n;
    int64_t known_up_to; /* ids above it were not there then: any may hold it */
};

/* Whether a stored args array (docs/schema.md: inline "text" or a vals
 * id per argument) may hold an argument whose text is text. */
int cs_args_may_hold(const char *args, size_t args_len, const char *text, size_t text_len,
                     const struct cs_text_ids *ids);

/* Whether an id of vals may be one with the text. */
int cs_text_id_may_match(const struct cs_text_ids *ids, int64_t id);

/* SQLITE_OK or an SQLite error code: both functions, on a reader's
 * connection. */
int cs_narrowing_register(sqlite3 *db);

#endif
