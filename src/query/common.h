/*
 * common.h — what every command that reads a recording or talks to a live
 * agent shares (show, stats, export, view, sql, the live commands, and the
 * reading side of src/query: the filter's files, the call rows, the scans
 * and their option parsing in cli/reader_options.c): opening a store with a one-line error, reading single values
 * from it, the --format and FILE arguments, formatting durations, deciding
 * on color, and printing JSON values. It brings in the utilities they all
 * use too: the error printer and exit statuses (util/error.h), number
 * parsing (util/parse_number.h) and terminal-safe text (util/safe_text.h).
 */
#ifndef CALLSCOPE_QUERY_COMMON_H
#define CALLSCOPE_QUERY_COMMON_H

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>

#include "util/error.h"
#include "util/parse_number.h"
#include "util/safe_text.h"
#include "util/textbuf.h"

#define CS_DEFAULT_DB "callscope.db"

/* 850ns, 12.3µs, 12.3ms, 1.23s: three significant digits. */
void cs_format_duration(int64_t ns, char *buf, size_t len);

/* Color only on a terminal, and never with NO_COLOR or --no-color. */
int cs_want_color(int no_color_option);

/* Opens a store for reading, printing the error. NULL on failure. A
 * recording made with --defer-rows whose program still runs is read
 * through a private copy of its calls so far (collector/follow_rows.h),
 * which cs_catch_up_store extends and cs_close_store removes. */
sqlite3 *cs_open_store(const char *path);
/* Brings the copy of a deferred recording under way that db reads up to
 * what the recording holds now (nothing to do for any other db): 0, or -1
 * with a one-line message. */
int cs_catch_up_store(sqlite3 *db, char *err, size_t errlen);
/* The path of the copy db reads, or NULL when it reads a recording itself. */
const char *cs_reading_copy_path(sqlite3 *db);
/* Removes the files of that copy, from a signal handler that ends the
 * reader (async-signal-safe). */
void cs_remove_reading_copy(void);
/* Waits for the build of a deferred recording's calls at path if one is
 * under way (it holds an exclusive flock on the file; collector.h). A
 * note says so unless quietly. */
void cs_wait_for_build(const char *path, int quietly);
/* Closes what cs_open_store opened. */
void cs_close_store(sqlite3 *db);
/* Why the last read of db failed, in words. SQLite's own message is reset
 * by the calls that clean up after a failure, and would then say "not an
 * error": a file that fails to read back is called damaged instead. */
const char *cs_db_error(sqlite3 *db);

/* Appends 'a', 'b'<last>'c': a list of names in quotes for a message. */
void cs_quote_list(struct cs_textbuf *b, const char *const *items, size_t n, const char *last);

/* The first column of the first row of sql as an integer; fallback when
 * there is no row or the SQL fails. */
int64_t cs_query_int(sqlite3 *db, const char *sql, int64_t fallback);
/* started_wall_ns of the store (0 if absent). */
int64_t cs_store_wall_start(sqlite3 *db);

/* Column text with NULL as NULL. */
static inline const char *cs_col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* --format: `text_format` (tree, table) or jsonl, into *jsonl; -1 after
 * printing the error. */
int cs_parse_format(const char *value, const char *text_format, int *jsonl);

/* After getopt_long over cs_getopt_argv's copy: the optional FILE and
 * nothing after it; -1 after printing the error. */
int cs_take_path(const char *command, int argc, char **args, const char **path);

/* A copy of argv with a program name in front and NULL at the end, for
 * getopt_long (which reads from index 1). free() it. */
char **cs_getopt_argv(int argc, char **argv, const char *name);

/* JSON output helpers: a string or null. */
void cs_json_text_or_null(struct cs_textbuf *b, const char *s);

/* --pid or --tid (-1: not given) names no thread of the recording: one
 * line saying so, with those it has. Returns 1 when that was said. */
int cs_no_such_thread(sqlite3 *db, const char *path, long long pid, long long tid);

#endif
