/*
 * validate_live.c — the safety check a live condition passes before it is
 * evaluated inside the traced process.
 *
 * The evaluator (src/live) only ever sees trees accepted here. The rule is
 * an allow-list: read the given names, literals, subscripts and public
 * attributes; compare, compute, combine; call a handful of pure builtins and
 * plain methods of str/bytes/list/tuple/dict. What classic sandbox escapes
 * need — dunders and private names, frame/code/generator internals,
 * getattr/eval/open/type, str.format's attribute access — is refused by name
 * before anything runs.
 */
#include <stdio.h>
#include <string.h>

#include "expr/expr.h"

const char *const cs_expr_live_names[] = {"cost", "params", "args", "kwargs", "self", "return_obj", "throw_exp",
                                          NULL};

const char *const cs_expr_live_builtins[] = {"len", "str", "int", "float", "abs", "min", "max", "round", "bool",
                                             NULL};

/* Methods of str, bytes, list, tuple and dict that only read their object
 * and return a new value. Not here on purpose: format and format_map (they
 * read attributes through the format string), anything that mutates (pop,
 * append, clear, update, setdefault, sort, ...), encode/decode error handlers
 * aside, nothing that takes a callable. */
const char *const cs_expr_live_methods[] = {
    "startswith", "endswith", "lower", "upper", "strip", "lstrip", "rstrip", "find", "rfind", "count",
    "index", "rindex", "get", "keys", "values", "items", "split", "rsplit", "splitlines", "join",
    "isdigit", "isalpha", "isalnum", "isspace", "islower", "isupper", "isnumeric", "isdecimal", "istitle",
    "casefold", "title", "capitalize", "swapcase", "partition", "rpartition", "replace", "removeprefix",
    "removesuffix", "zfill", "center", "ljust", "rjust", "hex", "decode", "encode", "isascii", NULL,
};

/* Attribute names that lead from an object to frames, code, globals or the
 * class hierarchy, on any Python version (names starting with '_' are
 * refused separately). */
static const char *const DENIED_ATTRS[] = {
    "gi_frame", "gi_code", "gi_yieldfrom", "gi_running", "gi_suspended",
    "cr_frame", "cr_code", "cr_await", "cr_origin", "cr_running", "cr_suspended",
    "ag_frame", "ag_code", "ag_await", "ag_running",
    "f_back", "f_globals", "f_locals", "f_builtins", "f_code", "f_trace", "f_lasti", "f_lineno", "f_generator",
    "tb_frame", "tb_next", "tb_lasti", "tb_lineno",
    "func_globals", "func_code", "func_closure", "func_defaults", "func_dict", "func_name",
    "im_func", "im_self", "im_class", "cell_contents",
    "mro", "format", "format_map", "register", "load_module", "exec_module",
    "modules", "builtins", "globals", "locals", "system", "popen",
    NULL,
};

static int in_list(const char *name, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(name, list[i]) == 0)
            return 1;
    return 0;
}

/* Why reading this attribute is refused, or NULL if it may be read. */
static const char *attr_refusal(const char *name)
{
    if (name[0] == '_')
        return name[1] == '_' ? "dunder attributes are not allowed" : "private attributes (starting with '_') are not allowed";
    if (strncmp(name, "co_", 3) == 0)
        return "code object attributes are not allowed";
    if (in_list(name, DENIED_ATTRS))
        return "it reaches interpreter internals or runs code";
    return NULL;
}

/* Which plain names a tree may read: those listed, and, for a condition
 * over a call, any other (taken for one of the function's parameters). */
struct names {
    const char *const *allowed;
    int parameters;
};

static int validate(const struct cs_expr *e, const struct names *allowed, struct cs_expr_error *err, int depth);

static int validate_call(const struct cs_expr *e, const struct names *allowed, struct cs_expr_error *err, int depth)
{
    const struct cs_expr *callee = e->left;
    if (callee->kind == CS_EXPR_NAME) {
        if (!in_list(callee->str, cs_expr_live_builtins))
            return cs_expr_errorf(err, callee->column,
                                  "calling '%s' is not allowed; the builtins a condition can call are len, str, "
                                  "int, float, abs, min, max, round and bool",
                                  callee->str);
    } else if (callee->kind == CS_EXPR_ATTR) {
        const char *why = attr_refusal(callee->str);
        if (why)
            return cs_expr_errorf(err, callee->op_column, "attribute '%s' is not allowed: %s", callee->str, why);
        if (!in_list(callee->str, cs_expr_live_methods))
            return cs_expr_errorf(err, callee->op_column,
                                  "calling method '%s' is not allowed; only plain methods of str, bytes, list, "
                                  "tuple and dict such as startswith, lower, split, get, keys can be called",
                                  callee->str);
        /* The object the method is called on: any allowed value, but not a
         * bare builtin or type name (str.join is fine on a value, not on str). */
        if (validate(callee->left, allowed, err, depth + 1) != 0)
            return -1;
    } else {
        return cs_expr_errorf(err, e->op_column,
                              "only the allowed builtins and methods can be called, not the result of an "
                              "expression");
    }
    for (size_t i = 0; i < e->nargs; i++)
        if (validate(e->args[i], allowed, err, depth + 1) != 0)
            return -1;
    return 0;
}

static int validate(const struct cs_expr *e, const struct names *allowed, struct cs_expr_error *err, int depth)
{
    if (depth > 4 * CS_EXPR_MAX_DEPTH)
        return cs_expr_errorf(err, e->column, "the expression is nested too deeply");
    switch (e->kind) {
    case CS_EXPR_INT:
    case CS_EXPR_FLOAT:
    case CS_EXPR_STR:
    case CS_EXPR_TRUE:
    case CS_EXPR_FALSE:
    case CS_EXPR_NONE:
        return 0;
    case CS_EXPR_NAME:
        if (e->str[0] == '_')
            return cs_expr_errorf(err, e->column, "name '%s' is not allowed: names starting with '_' are private",
                                  e->str);
        if (in_list(e->str, allowed->allowed))
            return 0;
        if (in_list(e->str, cs_expr_live_builtins))
            return cs_expr_errorf(err, e->column, "'%s' can only be called, as %s(...)", e->str, e->str);
        if (allowed->parameters)
            return 0;
        {
            /* Build a readable list of the allowed names. */
            char names[256] = "";
            size_t at = 0;
            for (size_t i = 0; allowed->allowed[i] && at + 2 < sizeof names; i++) {
                int w = snprintf(names + at, sizeof names - at, "%s%s", i ? ", " : "", allowed->allowed[i]);
                at = w < 0 ? sizeof names : at + (size_t)w;
            }
            if (!allowed->allowed[0])
                snprintf(names, sizeof names, "no names");
            return cs_expr_errorf(err, e->column, "unknown name '%s'; a condition can use %s", e->str, names);
        }
    case CS_EXPR_ATTR: {
        const char *why = attr_refusal(e->str);
        if (why)
            return cs_expr_errorf(err, e->op_column, "attribute '%s' is not allowed: %s", e->str, why);
        return validate(e->left, allowed, err, depth + 1);
    }
    case CS_EXPR_CALL:
        return validate_call(e, allowed, err, depth);
    case CS_EXPR_NEG:
    case CS_EXPR_NOT:
        return validate(e->left, allowed, err, depth + 1);
    case CS_EXPR_SUBSCRIPT:
    case CS_EXPR_BINARY:
    case CS_EXPR_COMPARE:
    case CS_EXPR_AND:
    case CS_EXPR_OR:
        if (validate(e->left, allowed, err, depth + 1) != 0)
            return -1;
        return validate(e->right, allowed, err, depth + 1);
    }
    return cs_expr_errorf(err, e->column, "unknown expression node");
}

int cs_expr_validate_live(const struct cs_expr *root, const char *const allowed_names[], struct cs_expr_error *err)
{
    static const char *const none[] = {NULL};
    struct names names = {allowed_names ? allowed_names : none, 0};
    return validate(root, &names, err, 0);
}

int cs_expr_validate_live_condition(const struct cs_expr *root, struct cs_expr_error *err)
{
    struct names names = {cs_expr_live_names, 1};
    return validate(root, &names, err, 0);
}

int cs_expr_is_live_name(const char *name)
{
    return in_list(name, cs_expr_live_names);
}
