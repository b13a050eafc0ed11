/*
 * filter_suggest.h — filter errors that suggest what the recording holds
 * (filter_suggest.c), for the filter's compiler.
 */
#ifndef CALLSCOPE_QUERY_FILTER_SUGGEST_H
#define CALLSCOPE_QUERY_FILTER_SUGGEST_H

#include <sqlite3.h>

#include "expr/expr.h"
#include "query/filter_fields.h"

/* '==' on a value no row of the field has: sets err to a message that
 * lists what exists and returns -1. 0 when the value exists, when there is
 * no database, or when the field's values are not checked. `pattern` is the
 * value as the field's column compares it (GLOB when glob is set). */
int cs_filter_check_value_exists(sqlite3 *db, const struct cs_filter_field *f, const struct cs_expr *value, int glob,
                                 const char *pattern, struct cs_expr_error *err);

/* `name` is no field: sets err to a message naming the nearest fields (or
 * all of them) and returns -1. */
int cs_filter_unknown_field(const struct cs_expr *name, struct cs_expr_error *err);

#endif
