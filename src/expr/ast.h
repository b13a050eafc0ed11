/*
 * ast.h — the syntax tree of callscope's expression language.
 *
 * One tree serves both uses of the language: record filters compile it to
 * SQL (src/query/filter_compile.c), live conditions are checked by
 * cs_expr_validate_live() and then evaluated over Python objects inside the
 * traced process. Every node knows the column (1-based, in characters) where
 * it starts, so any later stage can point at it in an error.
 *
 * Nodes and the strings they hold live in the tree's arena: they are freed
 * together by cs_expr_tree_free(), never one by one.
 */
#ifndef CALLSCOPE_EXPR_AST_H
#define CALLSCOPE_EXPR_AST_H

#include <stddef.h>
#include <stdint.h>

enum cs_expr_kind {
    CS_EXPR_INT,       /* ival */
    CS_EXPR_FLOAT,     /* fval */
    CS_EXPR_STR,       /* str, len (may hold NUL bytes from escapes) */
    CS_EXPR_TRUE,
    CS_EXPR_FALSE,
    CS_EXPR_NONE,
    CS_EXPR_NAME,      /* str: the identifier */
    CS_EXPR_ATTR,      /* left.str */
    CS_EXPR_SUBSCRIPT, /* left[right] */
    CS_EXPR_CALL,      /* left(args[0], ..., args[nargs - 1]) */
    CS_EXPR_NEG,       /* -left */
    CS_EXPR_NOT,       /* not left */
    CS_EXPR_BINARY,    /* left op right, op one of ADD .. MOD */
    CS_EXPR_COMPARE,   /* left op right, op one of EQ .. NOT_IN (no chains) */
    CS_EXPR_AND,       /* left and right */
    CS_EXPR_OR,        /* left or right */
};

enum cs_expr_op {
    CS_OP_NONE,
    /* arithmetic */
    CS_OP_ADD,
    CS_OP_SUB,
    CS_OP_MUL,
    CS_OP_DIV,
    CS_OP_FLOORDIV,
    CS_OP_MOD,
    /* comparisons */
    CS_OP_EQ,
    CS_OP_NE,
    CS_OP_LT,
    CS_OP_LE,
    CS_OP_GT,
    CS_OP_GE,
    CS_OP_IN,
    CS_OP_NOT_IN,
    CS_OP_IS,
    CS_OP_IS_NOT,
};

struct cs_expr {
    enum cs_expr_kind kind;
    enum cs_expr_op op; /* BINARY and COMPARE */
    int column;         /* 1-based character column where the node starts */
    int op_column;      /* BINARY, COMPARE, ATTR ('.' ), CALL ('('): column of the operator */
    int64_t ival;
    double fval;
    const char *str; /* STR, NAME, ATTR: NUL-terminated, in the arena */
    size_t len;      /* length of str in bytes */
    struct cs_expr *left, *right;
    struct cs_expr **args;
    size_t nargs;
};

/* A parsed expression. `root` is never NULL in a tree cs_expr_parse returned. */
struct cs_expr_tree {
    struct cs_expr *root;
    void *arena; /* private to parser.c */
};

#endif
