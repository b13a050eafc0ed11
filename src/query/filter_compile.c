/*
 * filter_compile.c — compiles a record filter (see filter.h) into SQL.
 *
 * Each comparison is "field op value" (or "value op field"); the field
 * decides the column, the operators allowed and the type the value must
 * have. Comparisons on an argument (arg, value) joined by `and` are grouped
 * into one EXISTS over cs_each(c.args, c.function_id), the call's arguments, so that `arg == 'n' and
 * value == '5'` is about one argument. Nothing from the expression is ever
 * pasted into the SQL text: values are bound parameters.
 */
#include "query/filter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/grow.h"
#include "query/call_rows.h"
#include "query/common.h"
#include "query/filter_fields.h"
#include "query/filter_suggest.h"
#include "store/call_blocks.h"
#include "util/textbuf.h"

/* ---- the compiler's state ---- */

struct compiler {
    sqlite3 *db;
    int64_t wall0;
    struct cs_textbuf sql;
    struct cs_textbuf narrowing; /* becomes out->narrowing */
    struct cs_filter *out;
    size_t cap;
    struct cs_expr_error *err;
    char value_column[96]; /* set while `value` is cs_arg(c.args, c.function_id, ?N) */
    char arg_param[24];    /* then also: ?N, the parameter's name */
    int any_value;         /* set while `value == X` means "some argument is X" (cs_has_value) */
    /* set while arg, value and type are about the return value or the
     * exception (pytrace's `arg == 'return value'`, `arg == 'exception'`) */
    const struct pseudo_arg *pseudo;
    int necessary;         /* what is being compiled must hold for every call kept (not under or, not) */
};

/* ---- clauses for the skip index ---- */

/* More items than this make a clause that nearly every block passes. */
#define MAX_CLAUSE_ITEMS 4096

/* Adds a clause (taking what it points to) when what was just compiled is
 * necessary; 0 or -1 (out of memory). */
static int add_clause(struct compiler *c, struct cs_filter_clause clause)
{
    struct cs_filter *f = c->out;
    int wanted = c->necessary && (clause.text || (clause.n && clause.n <= MAX_CLAUSE_ITEMS));
    struct cs_filter_clause *grown = wanted ? realloc(f->clauses, (f->nclauses + 1) * sizeof *grown) : NULL;
    if (!grown) {
        free(clause.items);
        free(clause.text);
        return wanted ? cs_expr_errorf(c->err, 0, "out of memory") : 0;
    }
    f->clauses = grown;
    f->clauses[f->nclauses++] = clause;
    return 0;
}

/* `value == text` or `return == text` (no wildcard), where it is
 * necessary. */
static int need_text(struct compiler *c, int kind, const char *text, size_t len)
{
    if (!c->db || !c->necessary)
        return 0;
    char *copy = malloc(len + 1);
    if (!copy)
        return cs_expr_errorf(c->err, 0, "out of memory");
    memcpy(copy, text, len);
    copy[len] = '\0';
    return add_clause(c, (struct cs_filter_clause){.text = copy, .text_len = len, .text_kind = kind});
}

/* pytrace's special argument names: the return value and the exception,
 * with their text and type. */
struct pseudo_arg {
    const char *name, *present, *arg, *value, *type;
};

static const struct pseudo_arg PSEUDO_ARGS[] = {
    {"return value", "c.result IS NOT NULL", "'return value'", CS_RESULT_SQL, "cs_val_type(c.result)"},
    {"exception", "c.exception IS NOT NULL", "'exception'", "c.exception",
     "substr(c.exception, 1, instr(c.exception || ':', ':') - 1)"},
};

static const char *column_of(const struct compiler *c, const struct cs_filter_field *f)
{
    if (c->pseudo && strcmp(f->name, "arg") == 0)
        return c->pseudo->arg;
    if (c->pseudo && strcmp(f->name, "value") == 0)
        return c->pseudo->value;
    if (c->pseudo && strcmp(f->name, "type") == 0)
        return c->pseudo->type;
    return c->value_column[0] && strcmp(f->name, "value") == 0 ? c->value_column : f->column;
}

static int add_param(struct compiler *c, struct cs_filter_param p)
{
    struct cs_filter *f = c->out;
    if (f->nparams == c->cap) {
        struct cs_filter_param *grown = cs_grow(f->params, &c->cap, sizeof *grown, 8);
        if (!grown) {
            free(p.s);
            return cs_expr_errorf(c->err, 0, "out of memory");
        }
        f->params = grown;
    }
    f->params[f->nparams++] = p;
    cs_textbuf_printf(&c->sql, "?%d", f->first_param + (int)f->nparams - 1);
    return 0;
}

/* Adds `before` ?N `after`, N the parameter just added, to the narrowing
 * (filter.h): a test every call kept passes, which the call table answers
 * while it reads (a comparison of one of its columns, or a function of
 * store/narrowing.h). Only where what is being compiled is necessary. */
static void add_narrowing(struct compiler *c, const char *before, const char *after)
{
    if (c->necessary && c->db)
        cs_textbuf_printf(&c->narrowing, "%s%s?%d%s", c->narrowing.len ? " AND " : "", before,
                          c->out->first_param + (int)c->out->nparams - 1, after);
}

/* The same for `column op ?N` when the column is one of call_rows' own. */
static void add_narrowing_comparison(struct compiler *c, const char *column, const char *op)
{
    char before[64];
    if (strncmp(column, "c.", 2) == 0 && strspn(column + 2, "abcdefghijklmnopqrstuvwxyz_") == strlen(column + 2) &&
        snprintf(before, sizeof before, "%s %s ", column, op) < (int)sizeof before)
        add_narrowing(c, before, "");
}

static int add_text(struct compiler *c, const char *s, size_t n)
{
    char *copy = malloc(n + 1);
    if (!copy)
        return cs_expr_errorf(c->err, 0, "out of memory");
    memcpy(copy, s, n);
    copy[n] = '\0';
    return add_param(c, (struct cs_filter_param){.type = SQLITE_TEXT, .s = copy});
}

static int add_int(struct compiler *c, int64_t v)
{
    return add_param(c, (struct cs_filter_param){.type = SQLITE_INTEGER, .i = v});
}

static int add_double(struct compiler *c, double v)
{
    return add_param(c, (struct cs_filter_param){.type = SQLITE_FLOAT, .d = v});
}

/* ---- values ---- */

/* Does the pattern hold an unescaped % or _? */
static int has_wildcard(const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' && (s[1] == '%' || s[1] == '_' || s[1] == '\\'))
            s++;
        else if (*s == '%' || *s == '_')
            return 1;
    }
    return 0;
}

/* The pattern as a GLOB pattern (glob = 1) or as the literal text it
 * stands for when it has no wildcard (glob = 0). */
static void translate_pattern(const char *s, int glob, struct cs_textbuf *b)
{
    for (; *s; s++) {
        if (*s == '\\' && (s[1] == '%' || s[1] == '_' || s[1] == '\\')) {
            s++;
            cs_textbuf_putc(b, *s); /* a literal % or _ (not special in GLOB) */
            continue;
        }
        if (!glob) {
            cs_textbuf_putc(b, *s);
        } else if (*s == '%') {
            cs_textbuf_putc(b, '*');
        } else if (*s == '_') {
            cs_textbuf_putc(b, '?');
        } else if (*s == '*' || *s == '?' || *s == '[') {
            cs_textbuf_putc(b, '[');
            cs_textbuf_putc(b, *s);
            cs_textbuf_putc(b, ']');
        } else {
            cs_textbuf_putc(b, *s);
        }
    }
}

/* Python's repr of a float: the shortest text that reads back the same. */
static void float_repr(double v, char *buf, size_t len)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    if (!strpbrk(buf, ".eEn"))
        strncat(buf, ".0", len - strlen(buf) - 1);
}


/* ---- comparisons ---- */

/* A value of the kind a text field holds, for messages. */
static const char *text_example(const struct cs_filter_field *f)
{
    static const char *const examples[][2] = {
        {"thread", "MainThread"}, {"module", "app%"},      {"func", "Handler.%"},   {"function", "app.%"},
        {"file", "%/app.py"},     {"arg", "user"},         {"type", "int"},         {"exception", "ValueError%"},
    };
    for (size_t i = 0; i < sizeof examples / sizeof *examples; i++)
        if (strcmp(examples[i][0], f->name) == 0)
            return examples[i][1];
    return "app%";
}

static int is_literal(const struct cs_expr *e)
{
    return e->kind == CS_EXPR_INT || e->kind == CS_EXPR_FLOAT || e->kind == CS_EXPR_STR || e->kind == CS_EXPR_TRUE ||
           e->kind == CS_EXPR_FALSE || e->kind == CS_EXPR_NONE;
}

static enum cs_expr_op flip(enum cs_expr_op op)
{
    switch (op) {
    case CS_OP_LT: return CS_OP_GT;
    case CS_OP_LE: return CS_OP_GE;
    case CS_OP_GT: return CS_OP_LT;
    case CS_OP_GE: return CS_OP_LE;
    default: return op;
    }
}

static const char *sql_op(enum cs_expr_op op)
{
    switch (op) {
    case CS_OP_EQ: return "=";
    case CS_OP_NE: return "<>";
    default: return cs_expr_op_name(op);
    }
}

static const char *describe(const struct cs_expr *e)
{
    switch (e->kind) {
    case CS_EXPR_CALL: return "calls are";
    case CS_EXPR_ATTR: return "attributes are";
    case CS_EXPR_SUBSCRIPT: return "subscripts are";
    case CS_EXPR_BINARY:
    case CS_EXPR_NEG: return "arithmetic is";
    case CS_EXPR_COMPARE: return "a comparison as a value is";
    default: return "this is";
    }
}

static int compile_time(struct compiler *c, const struct cs_filter_field *f, enum cs_expr_op op, const struct cs_expr *v)
{
    int64_t lo, span;
    if (v->kind != CS_EXPR_STR || cs_filter_parse_time(v->str, &lo, &span) != 0)
        return cs_expr_errorf(c->err, v->column,
                              "time takes a local date and time in quotes, like '2026/11/24 13:45:00' "
                              "(seconds and fractions optional)");
    lo -= c->wall0;
    int64_t hi = lo + span;
    const char *col = f->column;
    switch (op) {
    case CS_OP_EQ:
        cs_textbuf_printf(&c->sql, "(%s >= ", col);
        if (add_int(c, lo) != 0)
            return -1;
        add_narrowing_comparison(c, col, ">=");
        cs_textbuf_printf(&c->sql, " AND %s < ", col);
        if (add_int(c, hi) != 0)
            return -1;
        add_narrowing_comparison(c, col, "<");
        cs_textbuf_putc(&c->sql, ')');
        return 0;
    case CS_OP_NE:
        cs_textbuf_printf(&c->sql, "(%s < ", col);
        if (add_int(c, lo) != 0)
            return -1;
        cs_textbuf_printf(&c->sql, " OR %s >= ", col);
        if (add_int(c, hi) != 0)
            return -1;
        cs_textbuf_putc(&c->sql, ')');
        return 0;
    default:
        break;
    }
    /* one comparison: < or >= the start or the end of the span */
    const char *sql = op == CS_OP_LT || op == CS_OP_LE ? "<" : ">=";
    cs_textbuf_printf(&c->sql, "%s %s ", col, sql);
    if (add_int(c, op == CS_OP_LT || op == CS_OP_GE ? lo : hi) != 0)
        return -1;
    add_narrowing_comparison(c, col, sql);
    return 0;
}

/* Text comparison: exact when there is no wildcard, GLOB otherwise; '!='
 * also keeps rows where the column is NULL (no exception, no name). */
static int compile_text(struct compiler *c, const struct cs_filter_field *f, enum cs_expr_op op, const char *s, size_t n,
                        const struct cs_expr *v)
{
    int glob = has_wildcard(s);
    struct cs_textbuf pat = {0};
    translate_pattern(s, glob, &pat);
    if (pat.oom) {
        cs_textbuf_free(&pat);
        return cs_expr_errorf(c->err, 0, "out of memory");
    }
    (void)n;
    const char *p = cs_textbuf_cstr(&pat);
    if (op == CS_OP_EQ && v && !c->pseudo && cs_filter_check_value_exists(c->db, f, v, glob, p, c->err) != 0) {
        cs_textbuf_free(&pat);
        return -1;
    }
    int text_needed = op == CS_OP_EQ && !glob &&
                      (strcmp(f->name, "return") == 0 ||
                       (strcmp(f->name, "value") == 0 && (c->any_value || c->value_column[0])));
    if (text_needed && need_text(c, strcmp(f->name, "return") == 0 ? CS_ITEM_RESULT : CS_ITEM_ARG, p, pat.len)) {
        cs_textbuf_free(&pat);
        return -1;
    }
    if (op == CS_OP_EQ && (c->any_value || c->value_column[0]) && strcmp(f->name, "value") == 0) {
        if (c->any_value) /* answered from the stored array, without a row per argument */
            cs_textbuf_puts(&c->sql, "cs_has_value(c.args, ");
        else /* compared in place, without a copy of each call's value */
            cs_textbuf_printf(&c->sql, "cs_arg_is(c.args, c.function_id, %s, ", c->arg_param);
        int rc = add_text(c, p, pat.len);
        if (rc == 0 && text_needed)
            add_narrowing(c, "cs_value_may(c.args, ", ")");
        cs_textbuf_printf(&c->sql, ", %d)", glob);
        cs_textbuf_free(&pat);
        return rc;
    }
    if (op == CS_OP_EQ)
        cs_textbuf_printf(&c->sql, "%s %s ", column_of(c, f), glob ? "GLOB" : "=");
    else
        cs_textbuf_printf(&c->sql, "coalesce(%s %s ", column_of(c, f), glob ? "NOT GLOB" : "<>");
    int rc = add_text(c, p, pat.len);
    if (rc == 0 && text_needed && strcmp(f->name, "return") == 0)
        add_narrowing(c, "cs_value_may(c.result, ", ")");
    if (op != CS_OP_EQ)
        cs_textbuf_puts(&c->sql, ", 1)");
    cs_textbuf_free(&pat);
    return rc;
}

static int compile_value(struct compiler *c, const struct cs_expr *e, const struct cs_filter_field *f, enum cs_expr_op op,
                         const struct cs_expr *value);

static int bind_param(sqlite3_stmt *st, int index, const struct cs_filter_param *p)
{
    if (p->type == SQLITE_INTEGER)
        return sqlite3_bind_int64(st, index, p->i);
    if (p->type == SQLITE_FLOAT)
        return sqlite3_bind_double(st, index, p->d);
    if (p->type == SQLITE_BLOB)
        return sqlite3_bind_blob(st, index, p->s, (int)p->n, SQLITE_STATIC);
    return sqlite3_bind_text(st, index, p->s, -1, SQLITE_STATIC);
}

static int add_blob(struct compiler *c, const unsigned char *bytes, size_t n)
{
    char *copy = malloc(n ? n : 1);
    if (!copy)
        return cs_expr_errorf(c->err, 0, "out of memory");
    memcpy(copy, bytes, n);
    return add_param(c, (struct cs_filter_param){.type = SQLITE_BLOB, .s = copy, .n = n});
}

/* Marks in `pairs` (cs_in_set's two bits per id) each id `sql` lists. */
static int mark_ids(sqlite3_stmt *st, unsigned char *pairs, int64_t max_id, unsigned bit)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        if (id >= 0 && id <= max_id)
            pairs[id / 4] |= (unsigned char)(bit << (id % 4 * 2));
    }
    return rc == SQLITE_DONE ? 0 : -1;
}

/* The comparison just written from `mark` on, with its parameters from
 * `first_param` on, is "c.function_id IN (SELECT f.id FROM functions f
 * WHERE ...)". The set of function ids it selects is computed now, once,
 * and each call tests two bits (cs_in_set, store/read_sets.h) instead of
 * looking its function up; a function the recording (still being written)
 * defines after this is unknown to the set and still goes through the
 * lookup. */
static int resolve_functions(struct compiler *c, size_t mark, size_t first_param)
{
    static const char prefix[] = "c.function_id IN (";
    const char *fragment = c->sql.data + mark;
    size_t len = c->sql.len - mark, plen = sizeof prefix - 1;
    if (c->sql.oom || len < plen + 1 || strncmp(fragment, prefix, plen) != 0)
        return 0; /* not that shape: leave it as it is */
    int64_t max_id = cs_query_int(c->db, "SELECT max(id) FROM functions", -1);
    if (max_id < 0 || max_id > (1 << 26))
        return 0;
    char *subquery = strndup(fragment + plen, len - plen - 1);
    char *whole = strndup(fragment, len);
    size_t nbytes = (size_t)max_id / 4 + 1;
    unsigned char *pairs = calloc(nbytes, 1);
    sqlite3_stmt *known = NULL, *selected = NULL;
    int ok = subquery && whole && pairs &&
             sqlite3_prepare_v2(c->db, "SELECT id FROM functions", -1, &known, NULL) == SQLITE_OK &&
             sqlite3_prepare_v2(c->db, subquery, -1, &selected, NULL) == SQLITE_OK;
    for (size_t i = first_param; ok && i < c->out->nparams; i++)
        bind_param(selected, c->out->first_param + (int)i, &c->out->params[i]);
    /* Known first: an id that appears in between is selected but unknown,
     * so it is looked up, as it should be. */
    ok = ok && mark_ids(known, pairs, max_id, 1) == 0 && mark_ids(selected, pairs, max_id, 2) == 0;
    sqlite3_finalize(known);
    sqlite3_finalize(selected);
    int result = 0;
    if (ok && c->necessary) {
        /* the calls kept are calls of these functions, or of ones defined
         * after now: max_function_id tells */
        size_t n = 0, cap = 0;
        uint64_t *items = NULL;
        for (int64_t id = 0; id <= max_id && result == 0; id++) {
            if (!(pairs[id / 4] >> (id % 4 * 2) & 2))
                continue;
            uint64_t *grown = n == cap ? cs_grow(items, &cap, sizeof *grown, 16) : items;
            if (!grown)
                result = cs_expr_errorf(c->err, 0, "out of memory");
            else
                (items = grown)[n++] = cs_block_hash_id(CS_ITEM_FUNCTION, id);
        }
        if (result == 0) /* none: no call is kept, and the scan finds none */
            result = add_clause(c, (struct cs_filter_clause){.items = items, .n = n});
        else
            free(items);
    }
    if (ok && result == 0) {
        c->sql.len = mark;
        cs_textbuf_puts(&c->sql, "coalesce(cs_in_set(");
        result = add_blob(c, pairs, nbytes);
        cs_textbuf_printf(&c->sql, ", c.function_id), %s)", whole);
        if (result == 0)
            add_narrowing(c, "cs_function_may(c.function_id, ", ")");
    }
    free(subquery);
    free(whole);
    free(pairs);
    return result;
}

static int compile_compare(struct compiler *c, const struct cs_expr *e)
{
    const struct cs_expr *name = e->left, *value = e->right;
    enum cs_expr_op op = e->op;
    if (name->kind != CS_EXPR_NAME && value->kind == CS_EXPR_NAME) {
        name = e->right;
        value = e->left;
        op = flip(op);
    }
    if (name->kind != CS_EXPR_NAME) {
        if (is_literal(name))
            return cs_expr_errorf(c->err, name->column,
                                  "a comparison needs a field on one side, e.g. duration > 5 or module == 'app%%'");
        return cs_expr_errorf(c->err, name->column, "%s not supported in filters; compare a field with a value",
                              describe(name));
    }
    const struct cs_filter_field *f = cs_filter_find_field(name->str);
    if (!f)
        return cs_filter_unknown_field(name, c->err);
    if (value->kind == CS_EXPR_NAME)
        return cs_filter_find_field(value->str)
                   ? cs_expr_errorf(c->err, value->column, "compare a field with a value, not with another field")
                   : cs_expr_errorf(c->err, value->column,
                                    "'%s' is not a value: text goes in quotes ('%s'); fields are compared with "
                                    "values",
                                    value->str, value->str);
    if (!is_literal(value))
        return cs_expr_errorf(c->err, value->column, "%s not supported in filters; compare %s with a value",
                              describe(value), f->name);

    /* None, and 'is' / 'is not' */
    if (op == CS_OP_IS || op == CS_OP_IS_NOT) {
        if (value->kind != CS_EXPR_NONE)
            return cs_expr_errorf(c->err, e->op_column, "'%s' only compares with None; use '%s'",
                                  cs_expr_op_name(op), op == CS_OP_IS ? "==" : "!=");
        op = op == CS_OP_IS ? CS_OP_EQ : CS_OP_NE;
    }
    unsigned need = op == CS_OP_EQ || op == CS_OP_NE ? OPS_EQ : OPS_ORDER;
    if (!(f->ops & need) || op == CS_OP_IN || op == CS_OP_NOT_IN) {
        const char *const *ops = cs_filter_field_ops(f->name);
        struct cs_textbuf msg = {0};
        cs_textbuf_printf(&msg, "'%s' does not apply to %s; %s takes ", cs_expr_op_name(op), f->name, f->name);
        for (size_t i = 0; ops[i]; i++)
            cs_textbuf_printf(&msg, "%s%s", i == 0 ? "" : ops[i + 1] ? ", " : " or ", ops[i]);
        cs_expr_errorf(c->err, e->op_column, "%s", cs_textbuf_cstr(&msg));
        cs_textbuf_free(&msg);
        return -1;
    }
    /* Fields of functions and threads are looked up once, not joined per
     * call: c.function_id IN (SELECT f.id FROM functions f WHERE ...). */
    const char *close = "";
    size_t mark = c->sql.len, first_param = c->out->nparams;
    if (strncmp(f->column, "f.", 2) == 0) {
        cs_textbuf_puts(&c->sql, "c.function_id IN (SELECT f.id FROM functions f WHERE ");
        close = ")";
    } else if (strncmp(f->column, "t.", 2) == 0) {
        cs_textbuf_puts(&c->sql, "c.thread_id IN (SELECT t.id FROM threads t WHERE ");
        close = ")";
    }
    if (compile_value(c, e, f, op, value) != 0)
        return -1;
    cs_textbuf_puts(&c->sql, close);
    if (strncmp(f->column, "f.", 2) == 0 && c->db)
        return resolve_functions(c, mark, first_param);
    return 0;
}

/* The comparison proper, once the field, operator and value are known to fit. */
static int compile_value(struct compiler *c, const struct cs_expr *e, const struct cs_filter_field *f, enum cs_expr_op op,
                         const struct cs_expr *value)
{
    if (value->kind == CS_EXPR_NONE && f->type != FT_REPR) {
        if (op != CS_OP_EQ && op != CS_OP_NE)
            return cs_expr_errorf(c->err, e->op_column, "None only compares with == and !=");
        cs_textbuf_printf(&c->sql, "%s IS %sNULL", column_of(c, f), op == CS_OP_EQ ? "" : "NOT ");
        return 0;
    }

    switch (f->type) {
    case FT_TIME:
        return compile_time(c, f, op, value);
    case FT_INT:
    case FT_MS:
        if (value->kind == CS_EXPR_STR)
            return cs_expr_errorf(c->err, value->column, "%s is a number%s: write it without quotes, e.g. %s %s %s",
                                  f->name, f->type == FT_MS ? " of milliseconds" : "", f->name, cs_expr_op_name(op),
                                  strspn(value->str, "0123456789.") == value->len && value->len ? value->str : "5");
        if (value->kind != CS_EXPR_INT && value->kind != CS_EXPR_FLOAT)
            return cs_expr_errorf(c->err, value->column, "%s is a number, not %s", f->name,
                                  value->kind == CS_EXPR_TRUE ? "True" : "False");
        cs_textbuf_printf(&c->sql, "%s %s ", f->column, sql_op(op));
        int rc = f->type == FT_MS ? add_double(c, (value->kind == CS_EXPR_INT ? (double)value->ival : value->fval) * 1e6)
                 : value->kind == CS_EXPR_INT ? add_int(c, value->ival)
                                              : add_double(c, value->fval);
        if (rc == 0 && op != CS_OP_NE)
            add_narrowing_comparison(c, f->column, sql_op(op));
        return rc;
    case FT_TEXT:
        if (value->kind != CS_EXPR_STR)
            return cs_expr_errorf(c->err, value->column, "%s is text (%s): put the value in quotes, e.g. %s %s '%s'",
                                  f->name, f->what, f->name, cs_expr_op_name(op), text_example(f));
        return compile_text(c, f, op, value->str, value->len, value);
    case FT_REPR: {
        /* values are stored as repr text: 5 is '5', True is 'True' */
        char buf[64];
        const char *s = buf;
        switch (value->kind) {
        case CS_EXPR_INT: snprintf(buf, sizeof buf, "%lld", (long long)value->ival); break;
        case CS_EXPR_FLOAT: float_repr(value->fval, buf, sizeof buf); break;
        case CS_EXPR_TRUE: s = "True"; break;
        case CS_EXPR_FALSE: s = "False"; break;
        case CS_EXPR_NONE: s = "None"; break;
        default: s = value->str;
        }
        return compile_text(c, f, op, s, strlen(s), value->kind == CS_EXPR_STR ? value : NULL);
    }
    default:
        return cs_expr_errorf(c->err, e->column, "field '%s' cannot be compared", f->name);
    }
}

/* ---- conditions ---- */

/* 1 if every comparison in e is about one argument (arg, value, type). */
static int per_arg(const struct cs_expr *e)
{
    switch (e->kind) {
    case CS_EXPR_AND:
    case CS_EXPR_OR: return per_arg(e->left) && per_arg(e->right);
    case CS_EXPR_NOT: return per_arg(e->left);
    case CS_EXPR_COMPARE: {
        const struct cs_expr *n = e->left->kind == CS_EXPR_NAME ? e->left : e->right;
        const struct cs_filter_field *f = n->kind == CS_EXPR_NAME ? cs_filter_find_field(n->str) : NULL;
        return f && f->per_arg;
    }
    default: return 0;
    }
}

/* Flattens an and-chain into parts (left to right). */
static size_t flatten_and(const struct cs_expr *e, const struct cs_expr **parts, size_t n, size_t max)
{
    if (e->kind == CS_EXPR_AND) {
        n = flatten_and(e->left, parts, n, max);
        return flatten_and(e->right, parts, n, max);
    }
    if (n < max)
        parts[n] = e;
    return n + 1;
}

static int compile_cond(struct compiler *c, const struct cs_expr *e, int in_arg, int depth);

static const struct cs_filter_field *compared_field(const struct cs_expr *e)
{
    if (e->kind != CS_EXPR_COMPARE)
        return NULL;
    const struct cs_expr *n = e->left->kind == CS_EXPR_NAME ? e->left : e->right;
    return n->kind == CS_EXPR_NAME ? cs_filter_find_field(n->str) : NULL;
}

/* The common case `arg == 'n' and value <op> X...`, with a plain name:
 * cs_arg() reads the one value directly, which is several times faster
 * than walking every argument with cs_each. Returns
 * the index of the arg comparison, or -1 if the parts are not that shape. */
static int single_named_arg(const struct cs_expr *const *parts, size_t n)
{
    int arg = -1;
    for (size_t i = 0; i < n; i++) {
        const struct cs_filter_field *f = compared_field(parts[i]);
        if (!f || !f->per_arg)
            return -1;
        if (strcmp(f->name, "arg") == 0) {
            const struct cs_expr *v = parts[i]->left->kind == CS_EXPR_NAME ? parts[i]->right : parts[i]->left;
            if (arg >= 0 || parts[i]->op != CS_OP_EQ || v->kind != CS_EXPR_STR || v->len == 0 || v->len > 40 ||
                strspn(v->str, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != v->len ||
                strchr(v->str, '_'))
                return -1; /* '_' is a wildcard: leave patterns to cs_each */
            arg = (int)i;
        } else if (strcmp(f->name, "value") != 0) {
            return -1;
        }
    }
    return arg;
}

static int compile_named_arg(struct compiler *c, const struct cs_expr *const *parts, size_t n, int arg, int depth)
{
    /* checks the name like any arg comparison (and suggests on a typo) */
    size_t mark = c->sql.len, nparams = c->out->nparams;
    if (compile_compare(c, parts[arg]) != 0)
        return -1;
    c->sql.len = mark;
    while (c->out->nparams > nparams)
        free(c->out->params[--c->out->nparams].s);
    const struct cs_expr *name = parts[arg]->left->kind == CS_EXPR_NAME ? parts[arg]->right : parts[arg]->left;
    /* The one value, read by position; NULL when the call has no such
     * parameter (or was recorded without arguments). An `==` on the value
     * is false for NULL already; otherwise the parameter must exist. */
    int has_eq = 0;
    for (size_t i = 0; i < n; i++)
        has_eq |= (int)i != arg && parts[i]->op == CS_OP_EQ;
    cs_textbuf_putc(&c->sql, '(');
    size_t at = c->sql.len;
    if (add_text(c, name->str, name->len) != 0)
        return -1;
    char param[24];
    snprintf(param, sizeof param, "%.*s", (int)(c->sql.len - at), c->sql.data + at);
    c->sql.len = at;
    snprintf(c->value_column, sizeof c->value_column, "cs_arg(c.args, c.function_id, %s)", param);
    snprintf(c->arg_param, sizeof c->arg_param, "%s", param);
    if (!has_eq)
        cs_textbuf_printf(&c->sql, "%s IS NOT NULL", c->value_column);
    int rc = 0, first = has_eq; /* nothing written yet to join with AND */
    for (size_t i = 0; i < n && rc == 0; i++) {
        if ((int)i == arg)
            continue;
        if (!first)
            cs_textbuf_puts(&c->sql, " AND ");
        first = 0;
        rc = compile_cond(c, parts[i], 1, depth + 1);
    }
    c->value_column[0] = c->arg_param[0] = '\0';
    cs_textbuf_putc(&c->sql, ')');
    return rc;
}

/* The pseudo argument `arg == 'return value'` (or 'exception') among
 * the parts names, or NULL. */
static const struct pseudo_arg *pseudo_arg_of(const struct cs_expr *const *parts, size_t n, size_t *at)
{
    for (size_t i = 0; i < n; i++) {
        const struct cs_filter_field *f = compared_field(parts[i]);
        const struct cs_expr *v = f ? (parts[i]->left->kind == CS_EXPR_NAME ? parts[i]->right : parts[i]->left) : NULL;
        if (!f || strcmp(f->name, "arg") != 0 || parts[i]->op != CS_OP_EQ || v->kind != CS_EXPR_STR)
            continue;
        for (size_t k = 0; k < sizeof PSEUDO_ARGS / sizeof *PSEUDO_ARGS; k++)
            if (strcmp(v->str, PSEUDO_ARGS[k].name) == 0) {
                *at = i;
                return &PSEUDO_ARGS[k];
            }
    }
    return NULL;
}

static int compile_exists(struct compiler *c, const struct cs_expr *const *parts, size_t n, int depth)
{
    size_t at;
    const struct pseudo_arg *pseudo = pseudo_arg_of(parts, n, &at);
    if (pseudo) {
        /* the call's return value or exception, with what else is said of it */
        cs_textbuf_printf(&c->sql, "(%s", pseudo->present);
        c->pseudo = pseudo;
        int rc = 0;
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (i == at)
                continue;
            cs_textbuf_puts(&c->sql, " AND ");
            rc = compile_cond(c, parts[i], 1, depth + 1);
        }
        c->pseudo = NULL;
        cs_textbuf_putc(&c->sql, ')');
        return rc;
    }
    int arg = single_named_arg(parts, n);
    if (arg >= 0)
        return compile_named_arg(c, parts, n, arg, depth);
    if (n == 1 && compared_field(parts[0]) && strcmp(compared_field(parts[0])->name, "value") == 0 &&
        parts[0]->op == CS_OP_EQ) {
        /* `value == X` alone: "some argument is X", see compile_text */
        c->any_value = 1;
        int rc = compile_compare(c, parts[0]);
        c->any_value = 0;
        return rc;
    }
    cs_textbuf_puts(&c->sql, "EXISTS (SELECT 1 FROM cs_each(c.args, c.function_id) a WHERE ");
    for (size_t i = 0; i < n; i++) {
        if (i)
            cs_textbuf_puts(&c->sql, " AND ");
        if (compile_cond(c, parts[i], 1, depth + 1) != 0)
            return -1;
    }
    cs_textbuf_putc(&c->sql, ')');
    return 0;
}

static int compile_and(struct compiler *c, const struct cs_expr *e, int depth)
{
    const struct cs_expr *parts[256], *args[256];
    size_t n = flatten_and(e, parts, 0, 256), nargs = 0;
    if (n > 256)
        return cs_expr_errorf(c->err, e->column, "too many conditions joined by 'and' (the limit is 256)");
    cs_textbuf_putc(&c->sql, '(');
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (per_arg(parts[i])) {
            args[nargs++] = parts[i];
            continue;
        }
        if (!first)
            cs_textbuf_puts(&c->sql, " AND ");
        first = 0;
        if (compile_cond(c, parts[i], 0, depth + 1) != 0)
            return -1;
    }
    if (nargs) {
        if (!first)
            cs_textbuf_puts(&c->sql, " AND ");
        if (nargs == 1 ? compile_cond(c, args[0], 0, depth + 1) : compile_exists(c, args, nargs, depth))
            return -1;
    }
    cs_textbuf_putc(&c->sql, ')');
    return 0;
}

/* `a or b or c ...` as one flat SQL chain, without a parenthesis per
 * `or`: SQLite's parser has room for only a few dozen open ones. */
static int compile_or_chain(struct compiler *c, const struct cs_expr *e, int in_arg, int depth)
{
    if (e->kind != CS_EXPR_OR || (!in_arg && per_arg(e)))
        return compile_cond(c, e, in_arg, depth + 1);
    if (compile_or_chain(c, e->left, in_arg, depth) != 0)
        return -1;
    cs_textbuf_puts(&c->sql, " OR ");
    return compile_or_chain(c, e->right, in_arg, depth);
}

static int compile_cond(struct compiler *c, const struct cs_expr *e, int in_arg, int depth)
{
    if (depth > 4 * CS_EXPR_MAX_DEPTH)
        return cs_expr_errorf(c->err, e->column, "the filter is nested too deeply");
    int necessary = c->necessary;
    if (!in_arg && per_arg(e)) {
        /* about one argument: "some argument ...", and not: "no argument ..." */
        if (e->kind == CS_EXPR_NOT) {
            cs_textbuf_puts(&c->sql, "NOT ");
            e = e->left;
            c->necessary = 0;
        }
        const struct cs_expr *parts[256];
        size_t n = flatten_and(e, parts, 0, 256);
        if (n > 256)
            return cs_expr_errorf(c->err, e->column, "too many conditions joined by 'and' (the limit is 256)");
        int rc = compile_exists(c, parts, n, depth);
        c->necessary = necessary;
        return rc;
    }
    switch (e->kind) {
    case CS_EXPR_AND:
        if (in_arg) {
            cs_textbuf_putc(&c->sql, '(');
            if (compile_cond(c, e->left, 1, depth + 1) != 0)
                return -1;
            cs_textbuf_puts(&c->sql, " AND ");
            if (compile_cond(c, e->right, 1, depth + 1) != 0)
                return -1;
            cs_textbuf_putc(&c->sql, ')');
            return 0;
        }
        return compile_and(c, e, depth);
    case CS_EXPR_OR: {
        /* neither side alone must hold */
        c->necessary = 0;
        cs_textbuf_putc(&c->sql, '(');
        int rc = compile_or_chain(c, e, in_arg, depth);
        cs_textbuf_putc(&c->sql, ')');
        c->necessary = necessary;
        return rc;
    }
    case CS_EXPR_NOT: {
        c->necessary = 0;
        cs_textbuf_puts(&c->sql, "NOT (");
        int rc = compile_cond(c, e->left, in_arg, depth + 1);
        cs_textbuf_putc(&c->sql, ')');
        c->necessary = necessary;
        return rc;
    }
    case CS_EXPR_COMPARE:
        return compile_compare(c, e);
    case CS_EXPR_NAME:
        if (cs_filter_find_field(e->str))
            return cs_expr_errorf(c->err, e->column,
                                  "'%s' alone is not a condition; compare it with a value, e.g. %s", e->str,
                                  strcmp(e->str, "exception") == 0 ? "exception != None" : "duration > 5");
        return cs_filter_unknown_field(e, c->err);
    default:
        if (is_literal(e))
            return cs_expr_errorf(c->err, e->column, "a value alone is not a condition; compare a field with it");
        return cs_expr_errorf(c->err, e->column, "%s not supported in filters; compare a field with a value",
                              describe(e));
    }
}

/* SQLite's parser holds every open parenthesis (and a few entries per
 * NOT) on a stack of about a hundred; past this many, a filter is refused
 * as a filter error rather than failing later as an unreadable query. */
#define MAX_SQL_NESTING 30

/* The deepest parenthesis nesting of the SQL, outside its quoted texts. */
static int sql_nesting(const char *sql)
{
    int depth = 0, deepest = 0;
    char quote = 0;
    for (const char *p = sql; *p; p++) {
        if (quote)
            quote = *p == quote ? 0 : quote; /* a doubled quote closes and reopens */
        else if (*p == '\'' || *p == '"')
            quote = *p;
        else if (*p == '(' && ++depth > deepest)
            deepest = depth;
        else if (*p == ')')
            depth--;
    }
    return deepest;
}

int cs_filter_compile(sqlite3 *db, const char *text, int first_param, struct cs_filter *out,
                      struct cs_expr_error *err)
{
    memset(out, 0, sizeof *out);
    out->first_param = first_param;
    struct cs_expr_tree *tree = cs_expr_parse(text, err);
    if (!tree)
        return -1;
    struct compiler c;
    memset(&c, 0, sizeof c);
    c.db = db;
    c.wall0 = db ? cs_store_wall_start(db) : 0;
    c.out = out;
    c.err = err;
    c.necessary = 1;
    if (db) /* before the clauses are read from them */
        out->max_function_id = cs_query_int(db, "SELECT max(id) FROM functions", 0);
    int rc = compile_cond(&c, tree->root, 0, 0);
    cs_expr_tree_free(tree);
    if (rc == 0 && !c.sql.oom && sql_nesting(cs_textbuf_cstr(&c.sql)) > MAX_SQL_NESTING)
        rc = cs_expr_errorf(err, 0, "the filter nests 'and', 'or' and 'not' too deeply (the limit is about %d levels)",
                            MAX_SQL_NESTING);
    if (rc == 0 && (c.sql.oom || c.narrowing.oom))
        rc = cs_expr_errorf(err, 0, "out of memory");
    if (rc == 0) {
        out->sql = strdup(cs_textbuf_cstr(&c.sql));
        out->narrowing = c.narrowing.len ? strdup(cs_textbuf_cstr(&c.narrowing)) : NULL;
        if (!out->sql || (c.narrowing.len && !out->narrowing))
            rc = cs_expr_errorf(err, 0, "out of memory");
    }
    cs_textbuf_free(&c.sql);
    cs_textbuf_free(&c.narrowing);
    if (rc != 0)
        cs_filter_free(out);
    return rc;
}

void cs_filter_append_where(const struct cs_filter *f, struct cs_textbuf *sql)
{
    if (f->narrowing)
        cs_textbuf_printf(sql, " AND %s", f->narrowing);
    cs_textbuf_printf(sql, " AND (%s)", f->sql);
}

int cs_filter_bind(const struct cs_filter *f, sqlite3_stmt *st)
{
    for (size_t i = 0; i < f->nparams; i++) {
        int rc = bind_param(st, f->first_param + (int)i, &f->params[i]);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

void cs_filter_free(struct cs_filter *f)
{
    for (size_t i = 0; i < f->nparams; i++)
        free(f->params[i].s);
    free(f->params);
    free(f->sql);
    free(f->narrowing);
    for (size_t i = 0; i < f->nclauses; i++) {
        free(f->clauses[i].items);
        free(f->clauses[i].text);
    }
    free(f->clauses);
    memset(f, 0, sizeof *f);
}

void cs_filter_print_error(const char *text, const struct cs_expr_error *err)
{
    if (err->column > 0) {
        char caret[CS_EXPR_MAX_LENGTH * 2 + 64];
        cs_expr_caret(text, err->column, "  ", caret, sizeof caret);
        fputs(caret, stderr);
    }
    cs_error("--filter: %s", err->message);
}
