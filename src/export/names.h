/*
 * names.h — the names every export format gives: a recorded process is its
 * command for the first, "pid N (child of M)" for the processes it
 * started; a function is its module.qualname, by name_id for the formats
 * that merge equal names (folded stacks, the flame graph).
 */
#ifndef CALLSCOPE_EXPORT_NAMES_H
#define CALLSCOPE_EXPORT_NAMES_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "export/export.h"

/* The name of process pid into out (at most size - 1 bytes): "pid N (child
 * of M)" when its parent M is recorded too (is_child), else the recorded
 * command (NULL: "python"). */
void cs_export_process_name(char *out, size_t size, int64_t pid, int is_child, int64_t parent,
                            const char *command);

/* Calls visit(ctx, pid, name) for each recorded process in pid order.
 * 0, or -1 when the store could not be read or visit returned non-zero
 * (which stops the walk). */
int cs_export_each_process(sqlite3 *db, int (*visit)(void *ctx, int64_t pid, const char *name), void *ctx);

/* The name of each name_id of x->fns (an array to free; its strings are
 * x->fns'), or NULL when out of memory. */
const char **cs_export_names_by_id(const struct cs_export *x);

#endif
