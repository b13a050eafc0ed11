/*
 * lexer.h — splits an expression into tokens (internal to src/expr and the
 * filter completion, which lexes partial input).
 */
#ifndef CALLSCOPE_EXPR_LEXER_H
#define CALLSCOPE_EXPR_LEXER_H

#include <stddef.h>
#include <stdint.h>

#include "expr/expr.h"

enum cs_tok_kind {
    CS_TOK_END,
    CS_TOK_INT,
    CS_TOK_FLOAT,
    CS_TOK_STR,
    CS_TOK_NAME, /* identifiers and keywords alike */
    CS_TOK_OP,   /* punctuation and operators, text in src/len */
};

struct cs_token {
    enum cs_tok_kind kind;
    size_t offset; /* byte offset in the source */
    size_t len;    /* bytes of source text */
    int column;    /* 1-based character column */
    int64_t ival;
    double fval;
    char *str;      /* STR: the decoded value (malloc'd, NUL-terminated) */
    size_t str_len; /* STR: its length */
    int unterminated; /* STR in tolerant mode: no closing quote */
};

struct cs_tokens {
    struct cs_token *items;
    size_t n;
};

/* Tokenises text into *out (ending with one CS_TOK_END). In tolerant mode
 * (for completion) an unclosed string is a STR token with `unterminated`
 * set and an unknown character ends the input instead of failing.
 * 0, or -1 with err filled. */
int cs_lex(const char *text, int tolerant, struct cs_tokens *out, struct cs_expr_error *err);
void cs_tokens_free(struct cs_tokens *t);

/* Token text equals s (for NAME and OP tokens). */
int cs_tok_is(const struct cs_token *t, const char *text, const char *s);

#endif
