/*
 * read_values.h — the SQL functions readers use to turn stored ids back
 * into text (docs/schema.md, "Values"):
 *
 *   cs_val(result)                   call_rows.result as text (the text
 *                                    of its vals row when it is an id)
 *   cs_args(args, function_id)       call_rows.args as the JSON object
 *                                    {"name": "rendered value", ...}:
 *                                    valid JSON whatever the file holds
 *   cs_args_text(args, function_id)  the same as name=value, name=value
 *                                    (what `show` prints)
 *   cs_arg_types(args, function_id)  the arguments' types, as the JSON
 *                                    object {"name": "type name", ...}
 *   cs_arg(args, function_id, name)  the text of the argument `name`
 *   cs_arg_is(args, function_id, name, pattern, glob)
 *                                    1 when the argument `name` is
 *                                    pattern (or GLOB-matches it)
 *   cs_has_value(args, pattern, glob)  1 when some argument's text is
 *                                    pattern (or GLOB-matches it)
 *   cs_each(args, function_id)       a table of the arguments: key (the
 *                                    name), value (its text) and type
 *
 * (NULL where there is nothing.) They do what the calls view does in SQL,
 * much faster: values and argument names are cached in C, and vals is
 * read by one forward scan instead of a lookup per value.
 * cs_store_open_readonly registers them on every reader's connection.
 */
#ifndef CALLSCOPE_READ_VALUES_H
#define CALLSCOPE_READ_VALUES_H

#include <sqlite3.h>

/* SQLITE_OK or an SQLite error code. */
int cs_read_values_register(sqlite3 *db);

#endif
