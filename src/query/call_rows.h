/*
 * call_rows.h — reading calls the way every reader walks them: one thread
 * at a time, in id order (which is start order within a thread, so a stack
 * of ancestors rebuilds the call tree without loading it), and writing one
 * call as the JSON line that `show --format jsonl` and `export --format
 * jsonl` both print.
 */
#ifndef CALLSCOPE_QUERY_CALL_ROWS_H
#define CALLSCOPE_QUERY_CALL_ROWS_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "util/textbuf.h"

/* A call's arguments as the JSON object {"name": "value", ...} and its
 * result as text, from a row c of call_rows (store/read_values.h). */
#define CS_ARGS_SQL "cs_args(c.args, c.function_id)"
/* The same as name=value, name=value, for printing. */
#define CS_ARGS_TEXT_SQL "cs_args_text(c.args, c.function_id)"
#define CS_RESULT_SQL "cs_val(c.result)"
/* A logs row's fields as `show` and the viewer print them: name=value, ... */
#define CS_LOG_FIELDS_TEXT_SQL "(SELECT group_concat(key || '=' || value, ', ') FROM json_each(fields))"

/* The columns of CS_CALL_ROW_SQL, in order. */
enum { C_ID, C_PARENT, C_DEPTH, C_START, C_DURATION, C_ARGS, C_RESULT, C_EXCEPTION, C_FLAGS,
       C_FUNCTION, C_QUALNAME, C_NAME, C_MODULE, C_FILENAME, C_LINENO, C_SELF };

/* One thread's calls, in id order: the SQL up to its WHERE clause, which
 * selects the thread (?1). A reader that narrows the rows further appends
 * " AND <condition over c (calls) and f (functions)>" and then
 * CS_CALL_ROW_ORDER. */
#define CS_CALL_ROW_COLUMNS_WITH(args_sql)                                                     \
    "c.id, c.parent_id, c.depth, c.start_ns, c.duration_ns, " args_sql ", " CS_RESULT_SQL ", c.exception," \
    " c.flags, c.function_id, f.qualname, f.name, f.module, f.filename, f.lineno, c.self_ns"
#define CS_CALL_ROW_COLUMNS CS_CALL_ROW_COLUMNS_WITH(CS_ARGS_SQL)
#define CS_CALL_ROW_FROM " FROM call_rows c LEFT JOIN functions f ON f.id = c.function_id WHERE c.thread_id = ?1"
#define CS_CALL_ROW_SQL "SELECT " CS_CALL_ROW_COLUMNS CS_CALL_ROW_FROM
#define CS_CALL_ROW_ORDER " ORDER BY c.id"
/* Narrows CS_CALL_ROW_SQL to the ids from ?2 up to (not including) ?3, in
 * order: how readers fetch the calls a selection found. */
#define CS_CALL_ROW_RANGE " AND c.id >= ?2 AND c.id < ?3" CS_CALL_ROW_ORDER

struct cs_thread_info {
    int64_t row, pid, tid; /* row: threads.id */
    char *name;            /* NULL when unknown */
};

/* The threads with pid and tid (-1: any), in the order their first call
 * started. 0, or -1 (out of memory or an SQL error, see sqlite3_errmsg). */
int cs_load_threads(sqlite3 *db, long long pid, long long tid, struct cs_thread_info **out, size_t *n);
void cs_free_threads(struct cs_thread_info *threads, size_t n);

/* A thread as every reader names it: "pid P · thread NAME (tid T)", NAME
 * "?" when the recording has none. Raw: the name is the program's, to be
 * escaped for a terminal and quoted for JSON by the caller. */
void cs_thread_title(const struct cs_thread_info *t, char *out, size_t size);

/* Appends the C_ARGS column of a row, the object cs_args() built: valid
 * JSON whatever the file holds (store/read_values.h); {} for NULL. */
void cs_json_args_object(struct cs_textbuf *b, const char *args);

/* Appends the JSON line of the current row of a CS_CALL_ROW_SQL statement,
 * newline included; wall0 is the store's started_wall_ns. */
void cs_call_json_line(struct cs_textbuf *b, sqlite3_stmt *st, const struct cs_thread_info *t, int64_t wall0);

#endif
