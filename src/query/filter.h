/*
 * filter.h — record filters: an expression of the expression language
 * (src/expr) compiled into a parameterised SQL condition over the store, as
 * used by `show --filter`, `stats --filter` and the viewer's completion.
 *
 *     module == 'myapp%' and duration > 5
 *     arg == 'n' and value == '5'          (the same argument)
 *     time >= '2026/11/24 13:45' and exception != None
 *
 * The condition refers only to `c`, the call_rows table (fields of functions and
 * threads become `c.function_id IN (SELECT ...)`, evaluated once); values are
 * bound parameters, numbered from `first_param`. docs/filter.md describes
 * the language for users.
 */
#ifndef CALLSCOPE_QUERY_FILTER_H
#define CALLSCOPE_QUERY_FILTER_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "expr/expr.h"
#include "util/textbuf.h"

/* The FROM clause a condition is written against. */
#define CS_FILTER_FROM "call_rows c"

struct cs_filter_param {
    int type; /* SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT or SQLITE_BLOB */
    int64_t i;
    double d;
    char *s;  /* text, or the bytes of a blob */
    size_t n; /* a blob's size */
};

/* Something every call the filter keeps holds, for the skip index
 * (store/call_blocks.h): one of the items (hashes, as cs_block_hash()
 * makes them), e.g. one of the ids of the functions `module == 'app%'`
 * names; or, with `text`, the value `text` as an argument (kind
 * CS_ITEM_ARG) or a result (CS_ITEM_RESULT): stored inline, or as any vals
 * row with that text, which the scan looks up (vals grows while a program
 * records). A block of calls that holds none of a clause's items has no
 * call to read. */
struct cs_filter_clause {
    uint64_t *items;
    size_t n;
    char *text; /* NULL: the items are the clause */
    size_t text_len;
    int text_kind;
};

struct cs_filter {
    char *sql; /* the condition, e.g. "(c.function_id IN (SELECT f.id FROM functions f WHERE
                * f.module GLOB ?2) AND c.duration_ns > ?3)" */
    struct cs_filter_param *params;
    size_t nparams;
    int first_param;
    /* All of them hold for every call kept (none without a database). The
     * functions were those up to max_function_id: a recording that has
     * grown since may have new ones that match. */
    struct cs_filter_clause *clauses;
    size_t nclauses;
    int64_t max_function_id;
    /* NULL, or a condition every call kept meets, for the top level of a
     * WHERE clause beside `sql` ("... AND <narrowing> AND <sql>"): the
     * functions the filter names, which the store's call table tests
     * while it reads its chunks (cs_function_may, store/read_sets.h), so
     * that the other calls never reach SQLite. Same parameters as sql. */
    char *narrowing;
};

/* Compiles `text`. With a database, string values compared with '==' on
 * module, func, function, file, thread and arg are checked against what
 * the recording holds (an error suggests the values that exist), and times
 * are taken relative to its start; db may be NULL (no checks, times from
 * the epoch). 0, or -1 with err set (column and message). */
int cs_filter_compile(sqlite3 *db, const char *text, int first_param, struct cs_filter *out,
                      struct cs_expr_error *err);

/* Parses 'YYYY/MM/DD[ HH:MM[:SS[.fff]]]' ('-' and 'T' also accepted) as
 * local time: the interval [*lo, *lo + *span) in ns since the epoch, its
 * span being the precision written (a day, a minute, a second, ...). 0 or -1. */
int cs_filter_parse_time(const char *s, int64_t *lo, int64_t *span);

/* Appends " AND <narrowing> AND (<condition>)" to a WHERE clause over
 * CS_FILTER_FROM: the calls the filter keeps, the narrowing first so that
 * the call table tests it while it reads. */
void cs_filter_append_where(const struct cs_filter *f, struct cs_textbuf *sql);

/* Binds the filter's parameters to st; SQLite's result code. */
int cs_filter_bind(const struct cs_filter *f, sqlite3_stmt *st);

void cs_filter_free(struct cs_filter *f);

/* Prints the expression, a caret under the error's column, and
 * "callscope: --filter: <message>" on stderr. */
void cs_filter_print_error(const char *text, const struct cs_expr_error *err);

/* ---- fields, for completion and messages ---- */

/* The field names, NULL-terminated, in the order documented. */
extern const char *const cs_filter_field_names[];

/* The operators a field supports ("==", "!=", ...), NULL-terminated; NULL
 * for an unknown field. */
const char *const *cs_filter_field_ops(const char *field);

/* SQL listing a field's existing values as one column `v`, or NULL. */
const char *cs_filter_field_values_sql(const char *field);

/* ---- completion (filter_complete.c) ---- */

struct cs_completion {
    size_t from; /* the candidates replace text[from .. cursor) */
    char **items;
    size_t n;
};

/* Candidates for the text before `cursor`: field names where a condition
 * starts, then the field's operators, then its existing values (quoted),
 * then 'and' / 'or'. db may be NULL (no values). 0, or -1 out of memory. */
int cs_filter_complete(sqlite3 *db, const char *text, size_t cursor, struct cs_completion *out);
void cs_completion_free(struct cs_completion *c);

#endif
