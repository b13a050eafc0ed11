/*
 * parser.c — recursive-descent parser from tokens to the syntax tree
 * (grammar in expr.h).
 *
 * The tree is allocated from an arena owned by the cs_expr_tree, so an
 * error anywhere simply drops the whole arena. Reserved words that would
 * start something the language leaves out (lambda, comprehensions, if/else,
 * import, statements) are refused by name wherever they appear. `return` is
 * an ordinary name (a field of record filters) unless used as a statement.
 */
#include <stdlib.h>
#include <string.h>

#include "expr/expr.h"
#include "expr/lexer.h"

struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    max_align_t data[];
};

struct parser {
    const char *text;
    struct cs_tokens toks;
    size_t pos;
    int depth;
    struct arena_block *arena;
    struct cs_expr_error *err;
};

static void *arena_alloc(struct parser *p, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    struct arena_block *b = p->arena;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 4096 ? n : 4096;
        b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->next = p->arena;
        b->used = 0;
        b->cap = cap;
        p->arena = b;
    }
    void *out = (char *)b->data + b->used;
    b->used += n;
    memset(out, 0, n);
    return out;
}

static void arena_free(struct arena_block *b)
{
    while (b) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
}

static const struct cs_token *peek(struct parser *p)
{
    return &p->toks.items[p->pos];
}

static const struct cs_token *peek_at(struct parser *p, size_t k)
{
    size_t i = p->pos + k;
    return &p->toks.items[i < p->toks.n ? i : p->toks.n - 1];
}

static int is(struct parser *p, const char *s)
{
    return cs_tok_is(peek(p), p->text, s);
}

static struct cs_expr *node(struct parser *p, enum cs_expr_kind kind, int column)
{
    struct cs_expr *e = arena_alloc(p, sizeof *e);
    if (!e) {
        cs_expr_errorf(p->err, 0, "out of memory");
        return NULL;
    }
    e->kind = kind;
    e->column = column;
    return e;
}

static char *arena_strndup(struct parser *p, const char *s, size_t n)
{
    char *out = arena_alloc(p, n + 1);
    if (out) {
        memcpy(out, s, n);
        out[n] = '\0';
    }
    return out;
}

/* Words that start something the language leaves out, with the reason. */
static const struct {
    const char *word, *why;
} RESERVED[] = {
    {"lambda", "lambda expressions are not allowed"},
    {"for", "comprehensions ('for') are not allowed"},
    {"async", "comprehensions and 'async' are not allowed"},
    {"if", "conditional expressions ('x if c else y') are not allowed"},
    {"else", "conditional expressions ('x if c else y') are not allowed"},
    {"import", "import is not allowed"},
    {"from", "'from' (import or yield from) is not allowed"},
    {"yield", "'yield' is not allowed"},
    {"await", "'await' is not allowed"},
    {"def", "statements are not allowed ('def')"},
    {"class", "statements are not allowed ('class')"},
    {"del", "statements are not allowed ('del')"},
    {"pass", "statements are not allowed ('pass')"},
    {"global", "statements are not allowed ('global')"},
    {"nonlocal", "statements are not allowed ('nonlocal')"},
    {"assert", "statements are not allowed ('assert')"},
    {"raise", "statements are not allowed ('raise')"},
    {"try", "statements are not allowed ('try')"},
    {"except", "statements are not allowed ('except')"},
    {"finally", "statements are not allowed ('finally')"},
    {"while", "statements are not allowed ('while')"},
    {"with", "statements are not allowed ('with')"},
    {"as", "'as' is not allowed"},
    {"break", "statements are not allowed ('break')"},
    {"continue", "statements are not allowed ('continue')"},
    {"and", "'and' needs an expression on each side"},
    {"or", "'or' needs an expression on each side"},
    {"in", "'in' needs an expression on each side"},
    {"is", "'is' needs an expression on each side"},
};

static const char *reserved_reason(struct parser *p, const struct cs_token *t)
{
    if (t->kind != CS_TOK_NAME)
        return NULL;
    for (size_t i = 0; i < sizeof RESERVED / sizeof *RESERVED; i++)
        if (cs_tok_is(t, p->text, RESERVED[i].word))
            return RESERVED[i].why;
    return NULL;
}

/* The error for a token that cannot come where it is. */
static int unexpected(struct parser *p, const char *expected)
{
    const struct cs_token *t = peek(p);
    const char *why = reserved_reason(p, t);
    if (why)
        return cs_expr_errorf(p->err, t->column, "%s", why);
    /* 'return' is a name here (the record filters' field), but not a statement */
    if (p->pos > 0 && cs_tok_is(&p->toks.items[p->pos - 1], p->text, "return") && t->kind != CS_TOK_END)
        return cs_expr_errorf(p->err, p->toks.items[p->pos - 1].column, "statements are not allowed ('return')");
    if (t->kind == CS_TOK_END)
        return cs_expr_errorf(p->err, t->column, "the expression ends early: expected %s", expected);
    if (cs_tok_is(t, p->text, "="))
        return cs_expr_errorf(p->err, t->column, "'=' is assignment, which is not allowed; to compare, use '=='");
    if (cs_tok_is(t, p->text, ":"))
        return cs_expr_errorf(p->err, t->column, "':' is not allowed here (no slices, lambdas or dict displays)");
    if (t->kind == CS_TOK_STR)
        return cs_expr_errorf(p->err, t->column, "unexpected string: expected %s", expected);
    if (t->kind == CS_TOK_INT || t->kind == CS_TOK_FLOAT)
        return cs_expr_errorf(p->err, t->column, "unexpected number: expected %s", expected);
    return cs_expr_errorf(p->err, t->column, "unexpected '%.*s': expected %s", (int)t->len, p->text + t->offset,
                          expected);
}

static struct cs_expr *parse_expr(struct parser *p);

static int enter(struct parser *p)
{
    if (++p->depth > CS_EXPR_MAX_DEPTH)
        return cs_expr_errorf(p->err, peek(p)->column, "the expression is nested too deeply (the limit is %d)",
                              CS_EXPR_MAX_DEPTH);
    return 0;
}

static int expect(struct parser *p, const char *op, const char *expected)
{
    if (!is(p, op))
        return unexpected(p, expected);
    p->pos++;
    return 0;
}

static struct cs_expr *parse_atom(struct parser *p)
{
    const struct cs_token *t = peek(p);
    struct cs_expr *e;
    switch (t->kind) {
    case CS_TOK_INT:
        if (!(e = node(p, CS_EXPR_INT, t->column)))
            return NULL;
        e->ival = t->ival;
        p->pos++;
        return e;
    case CS_TOK_FLOAT:
        if (!(e = node(p, CS_EXPR_FLOAT, t->column)))
            return NULL;
        e->fval = t->fval;
        p->pos++;
        return e;
    case CS_TOK_STR:
        if (peek_at(p, 1)->kind == CS_TOK_STR)
            return cs_expr_errorf(p->err, peek_at(p, 1)->column,
                                  "adjacent strings are not joined here; write one string"),
                   NULL;
        if (!(e = node(p, CS_EXPR_STR, t->column)))
            return NULL;
        e->str = arena_strndup(p, t->str, t->str_len);
        e->len = t->str_len;
        if (!e->str)
            return cs_expr_errorf(p->err, 0, "out of memory"), NULL;
        p->pos++;
        return e;
    case CS_TOK_NAME:
        if (reserved_reason(p, t))
            return unexpected(p, "a value"), NULL;
        if (cs_tok_is(t, p->text, "True") || cs_tok_is(t, p->text, "False") || cs_tok_is(t, p->text, "None")) {
            char c = p->text[t->offset];
            e = node(p, c == 'T' ? CS_EXPR_TRUE : c == 'F' ? CS_EXPR_FALSE : CS_EXPR_NONE, t->column);
            p->pos++;
            return e;
        }
        if (cs_tok_is(t, p->text, "not"))
            return unexpected(p, "a value"), NULL;
        if (!(e = node(p, CS_EXPR_NAME, t->column)))
            return NULL;
        e->str = arena_strndup(p, p->text + t->offset, t->len);
        e->len = t->len;
        if (!e->str)
            return cs_expr_errorf(p->err, 0, "out of memory"), NULL;
        p->pos++;
        return e;
    case CS_TOK_OP:
        if (is(p, "(")) {
            int column = t->column;
            p->pos++;
            if (is(p, ")"))
                return cs_expr_errorf(p->err, column, "tuples ('()') are not allowed"), NULL;
            e = parse_expr(p);
            if (!e)
                return NULL;
            if (is(p, ","))
                return cs_expr_errorf(p->err, peek(p)->column, "tuples are not allowed"), NULL;
            if (expect(p, ")", "')'") != 0)
                return NULL;
            return e;
        }
        if (is(p, "["))
            return cs_expr_errorf(p->err, t->column, "list displays ('[...]') are not allowed"), NULL;
        if (is(p, "*"))
            return cs_expr_errorf(p->err, t->column, "starred expressions ('*x') are not allowed"), NULL;
        if (is(p, "+"))
            return cs_expr_errorf(p->err, t->column, "unary '+' is not supported"), NULL;
        return unexpected(p, "a value"), NULL;
    default:
        return unexpected(p, "a value"), NULL;
    }
}

static struct cs_expr *parse_call(struct parser *p, struct cs_expr *callee)
{
    struct cs_expr *args[CS_EXPR_MAX_ARGS];
    size_t n = 0;
    struct cs_expr *call = node(p, CS_EXPR_CALL, callee->column);
    if (!call)
        return NULL;
    call->op_column = peek(p)->column;
    call->left = callee;
    p->pos++; /* ( */
    while (!is(p, ")")) {
        if (peek(p)->kind == CS_TOK_NAME && cs_tok_is(peek_at(p, 1), p->text, "="))
            return cs_expr_errorf(p->err, peek(p)->column, "keyword arguments are not allowed"), NULL;
        if (is(p, "*"))
            return cs_expr_errorf(p->err, peek(p)->column, "starred arguments ('*x') are not allowed"), NULL;
        if (n == CS_EXPR_MAX_ARGS)
            return cs_expr_errorf(p->err, peek(p)->column, "too many arguments (the limit is %d)",
                                  CS_EXPR_MAX_ARGS),
                   NULL;
        struct cs_expr *a = parse_expr(p);
        if (!a)
            return NULL;
        args[n++] = a;
        if (is(p, ","))
            p->pos++;
        else if (!is(p, ")"))
            return unexpected(p, "',' or ')'"), NULL;
    }
    p->pos++; /* ) */
    if (n) {
        call->args = arena_alloc(p, n * sizeof *call->args);
        if (!call->args)
            return cs_expr_errorf(p->err, 0, "out of memory"), NULL;
        memcpy(call->args, args, n * sizeof *args);
    }
    call->nargs = n;
    return call;
}

static struct cs_expr *parse_postfix(struct parser *p)
{
    struct cs_expr *e = parse_atom(p);
    while (e) {
        const struct cs_token *t = peek(p);
        if (is(p, ".")) {
            p->pos++;
            const struct cs_token *name = peek(p);
            if (name->kind != CS_TOK_NAME)
                return unexpected(p, "an attribute name after '.'"), NULL;
            struct cs_expr *a = node(p, CS_EXPR_ATTR, e->column);
            if (!a)
                return NULL;
            a->op_column = name->column;
            a->left = e;
            a->str = arena_strndup(p, p->text + name->offset, name->len);
            a->len = name->len;
            if (!a->str)
                return cs_expr_errorf(p->err, 0, "out of memory"), NULL;
            p->pos++;
            e = a;
        } else if (is(p, "[")) {
            if (enter(p) != 0)
                return NULL;
            p->pos++;
            if (is(p, ":"))
                return cs_expr_errorf(p->err, peek(p)->column, "slices ('a[i:j]') are not allowed"), NULL;
            struct cs_expr *s = node(p, CS_EXPR_SUBSCRIPT, e->column);
            if (!s)
                return NULL;
            s->op_column = t->column;
            s->left = e;
            s->right = parse_expr(p);
            if (!s->right)
                return NULL;
            if (is(p, ":"))
                return cs_expr_errorf(p->err, peek(p)->column, "slices ('a[i:j]') are not allowed"), NULL;
            if (is(p, ","))
                return cs_expr_errorf(p->err, peek(p)->column, "tuples are not allowed"), NULL;
            if (expect(p, "]", "']'") != 0)
                return NULL;
            p->depth--;
            e = s;
        } else if (is(p, "(")) {
            if (enter(p) != 0)
                return NULL;
            e = parse_call(p, e);
            p->depth--;
        } else {
            break;
        }
    }
    return e;
}

static struct cs_expr *parse_unary(struct parser *p)
{
    if (!is(p, "-"))
        return parse_postfix(p);
    int column = peek(p)->column;
    if (enter(p) != 0)
        return NULL;
    p->pos++;
    struct cs_expr *operand = parse_unary(p);
    p->depth--;
    if (!operand)
        return NULL;
    /* Fold a minus into a number literal, so -5 is one INT node. */
    if (operand->kind == CS_EXPR_INT && operand->ival != INT64_MIN) {
        operand->ival = -operand->ival;
        operand->column = column;
        return operand;
    }
    if (operand->kind == CS_EXPR_FLOAT) {
        operand->fval = -operand->fval;
        operand->column = column;
        return operand;
    }
    struct cs_expr *e = node(p, CS_EXPR_NEG, column);
    if (e)
        e->left = operand;
    return e;
}

static enum cs_expr_op arith_op(struct parser *p, int additive)
{
    if (additive)
        return is(p, "+") ? CS_OP_ADD : is(p, "-") ? CS_OP_SUB : CS_OP_NONE;
    return is(p, "*") ? CS_OP_MUL : is(p, "/") ? CS_OP_DIV : is(p, "//") ? CS_OP_FLOORDIV : is(p, "%") ? CS_OP_MOD
                                                                                                      : CS_OP_NONE;
}

static struct cs_expr *parse_arith(struct parser *p, int additive)
{
    struct cs_expr *left = additive ? parse_arith(p, 0) : parse_unary(p);
    enum cs_expr_op op;
    while (left && (op = arith_op(p, additive)) != CS_OP_NONE) {
        struct cs_expr *e = node(p, CS_EXPR_BINARY, left->column);
        if (!e || enter(p) != 0)
            return NULL;
        e->op = op;
        e->op_column = peek(p)->column;
        p->pos++;
        e->left = left;
        e->right = additive ? parse_arith(p, 0) : parse_unary(p);
        p->depth--;
        if (!e->right)
            return NULL;
        left = e;
    }
    return left;
}

/* A comparison operator at the current token (consumed), or NONE. */
static enum cs_expr_op compare_op(struct parser *p)
{
    static const struct {
        const char *text;
        enum cs_expr_op op;
    } ops[] = {{"==", CS_OP_EQ}, {"!=", CS_OP_NE}, {"<=", CS_OP_LE}, {">=", CS_OP_GE},
               {"<", CS_OP_LT},  {">", CS_OP_GT},  {"in", CS_OP_IN}};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        if (is(p, ops[i].text)) {
            p->pos++;
            return ops[i].op;
        }
    if (is(p, "not") && cs_tok_is(peek_at(p, 1), p->text, "in")) {
        p->pos += 2;
        return CS_OP_NOT_IN;
    }
    if (is(p, "is")) {
        p->pos++;
        if (is(p, "not")) {
            p->pos++;
            return CS_OP_IS_NOT;
        }
        return CS_OP_IS;
    }
    return CS_OP_NONE;
}

static struct cs_expr *parse_comparison(struct parser *p)
{
    struct cs_expr *left = parse_arith(p, 1);
    if (!left)
        return NULL;
    int column = peek(p)->column;
    enum cs_expr_op op = compare_op(p);
    if (op == CS_OP_NONE)
        return left;
    struct cs_expr *e = node(p, CS_EXPR_COMPARE, left->column);
    if (!e)
        return NULL;
    e->op = op;
    e->op_column = column;
    e->left = left;
    e->right = parse_arith(p, 1);
    if (!e->right)
        return NULL;
    column = peek(p)->column;
    if (compare_op(p) != CS_OP_NONE)
        return cs_expr_errorf(p->err, column, "chained comparisons are not supported; write 'a < b and b < c'"),
               NULL;
    return e;
}

static struct cs_expr *parse_not(struct parser *p)
{
    if (!is(p, "not"))
        return parse_comparison(p);
    int column = peek(p)->column;
    if (enter(p) != 0)
        return NULL;
    p->pos++;
    struct cs_expr *e = node(p, CS_EXPR_NOT, column);
    if (e && !(e->left = parse_not(p)))
        e = NULL;
    p->depth--;
    return e;
}

static struct cs_expr *parse_logic(struct parser *p, int is_or)
{
    struct cs_expr *left = is_or ? parse_logic(p, 0) : parse_not(p);
    while (left && is(p, is_or ? "or" : "and")) {
        struct cs_expr *e = node(p, is_or ? CS_EXPR_OR : CS_EXPR_AND, left->column);
        if (!e || enter(p) != 0)
            return NULL;
        e->op_column = peek(p)->column;
        p->pos++;
        e->left = left;
        e->right = is_or ? parse_logic(p, 0) : parse_not(p);
        p->depth--;
        if (!e->right)
            return NULL;
        left = e;
    }
    return left;
}

static struct cs_expr *parse_expr(struct parser *p)
{
    if (enter(p) != 0)
        return NULL;
    struct cs_expr *e = parse_logic(p, 1);
    p->depth--;
    return e;
}

struct cs_expr_tree *cs_expr_parse(const char *text, struct cs_expr_error *err)
{
    struct parser p;
    memset(&p, 0, sizeof p);
    p.text = text;
    p.err = err;
    if (cs_lex(text, 0, &p.toks, err) != 0)
        return NULL;
    struct cs_expr_tree *tree = NULL;
    if (peek(&p)->kind == CS_TOK_END) {
        cs_expr_errorf(err, 1, "the expression is empty");
    } else {
        struct cs_expr *root = parse_expr(&p);
        if (root && peek(&p)->kind != CS_TOK_END)
            unexpected(&p, "an operator or the end");
        else if (root && (tree = malloc(sizeof *tree)) != NULL) {
            tree->root = root;
            tree->arena = p.arena;
            p.arena = NULL;
        } else if (root) {
            cs_expr_errorf(err, 0, "out of memory");
        }
    }
    arena_free(p.arena);
    cs_tokens_free(&p.toks);
    return tree;
}

void cs_expr_tree_free(struct cs_expr_tree *tree)
{
    if (!tree)
        return;
    arena_free(tree->arena);
    free(tree);
}
