/*
 * expr.h — the public interface of the expression language (src/expr):
 * parsing, errors with a column and a caret line, the validator for live
 * conditions, and the "did you mean" helpers.
 *
 * This folder depends on nothing but the C library: the Python extension
 * (live conditions) and the callscope binary (record filters) both link it.
 *
 * Grammar, a subset of Python expressions, loosest binding first:
 *
 *     expr       := or
 *     or         := and ('or' and)*
 *     and        := not ('and' not)*
 *     not        := 'not' not | comparison
 *     comparison := sum [compop sum]       (one operator: no chains)
 *     compop     := '==' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'not' 'in'
 *                 | 'is' | 'is' 'not'
 *     sum        := term (('+' | '-') term)*
 *     term       := unary (('*' | '/' | '//' | '%') unary)*
 *     unary      := '-' unary | postfix
 *     postfix    := atom ('.' NAME | '[' expr ']' | '(' [expr (',' expr)* [',']] ')')*
 *     atom       := INT | FLOAT | STRING | NAME | True | False | None | '(' expr ')'
 *
 * Anything else (lambda, comprehensions, :=, =, **, if/else, import,
 * f-strings, ;, statements, ..., starred, keyword arguments, slices,
 * displays, bitwise operators) is refused with an error that names it.
 */
#ifndef CALLSCOPE_EXPR_EXPR_H
#define CALLSCOPE_EXPR_EXPR_H

#include <stddef.h>

#include "expr/ast.h"

/* Limits that keep a hostile expression from exhausting the stack or memory. */
#define CS_EXPR_MAX_LENGTH 4096 /* bytes of source text */
#define CS_EXPR_MAX_DEPTH 64    /* nesting of parentheses, calls, operators */
#define CS_EXPR_MAX_ARGS 16     /* arguments of one call */

struct cs_expr_error {
    int column;         /* 1-based character column, 0 if none */
    char message[512];  /* one line, no trailing newline */
};

/* Sets err (column and printf-style message); returns -1 for convenience. */
int cs_expr_errorf(struct cs_expr_error *err, int column, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Parses `text`. NULL with *err filled on a syntax error or out of memory. */
struct cs_expr_tree *cs_expr_parse(const char *text, struct cs_expr_error *err);
void cs_expr_tree_free(struct cs_expr_tree *tree);

/* The name of an operator as written ("==", "not in", "//"). */
const char *cs_expr_op_name(enum cs_expr_op op);

/* The character column (1-based) of byte offset `offset` in text. */
int cs_expr_column_of(const char *text, size_t offset);

/* Two lines, each ending in '\n': `indent` + the expression (tabs and
 * control characters shown as spaces), then `indent` + spaces + '^' under
 * `column`. Truncated to fit `len`; always NUL-terminated. */
void cs_expr_caret(const char *text, int column, const char *indent, char *buf, size_t len);

/* ---- live conditions ---- */

/* The names a live condition can read: cost, params, args, kwargs, self,
 * return_obj, throw_exp; NULL-terminated. */
extern const char *const cs_expr_live_names[];
/* The builtins a live condition can call: len str int float abs min max round bool. */
extern const char *const cs_expr_live_builtins[];
/* The methods a live condition can call on str, bytes, list, tuple, dict. */
extern const char *const cs_expr_live_methods[];

/* 0 if `root` only reads the given names (NULL-terminated), reads no
 * attribute that starts with '_' or is a frame/code/generator internal, and
 * calls only the allowed builtins and methods; else -1 with err naming the
 * first offence and its column. Nothing is evaluated. */
int cs_expr_validate_live(const struct cs_expr *root, const char *const allowed_names[],
                          struct cs_expr_error *err);
/* The same for a live condition: the names of cs_expr_live_names, and any
 * other plain name, which names a parameter of the observed function (the
 * agent checks that against the function: cs_live_condition_check_names). */
int cs_expr_validate_live_condition(const struct cs_expr *root, struct cs_expr_error *err);
/* Whether name is one of cs_expr_live_names. */
int cs_expr_is_live_name(const char *name);

/* ---- suggestions ---- */

/* Levenshtein distance between two strings (bytes), capped at 255. */
int cs_edit_distance(const char *a, const char *b);

/* Fills out[] with up to max candidates nearest to word: those within a
 * distance of max(2, strlen(word) / 3), nearest first, ties in the given
 * order; a candidate that starts with word counts as distance 1. Returns
 * how many. */
size_t cs_nearest(const char *word, const char *const *candidates, size_t ncandidates, const char **out,
                  size_t max);

#endif
