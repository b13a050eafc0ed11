/*
 * condition.c — evaluates a checked condition tree over one call's objects.
 *
 * Every operation maps to the C API call Python itself would make, so
 * `params[0] > 100` compares exactly as the program would; what the
 * validator refused (dunders, private names, other calls) never reaches
 * here. Operands are read only when that runs no program code
 * (readable.h); a method is called only on an object whose type is exactly
 * str, bytes, list, tuple or dict. Each step's result size and the whole
 * evaluation's work are bounded.
 */
#include "live/condition.h"

#include <stdio.h>
#include <string.h>

#include "expr/expr.h"
#include "live/readable.h"
#include "py/code.h"

/* Whether the tree reads what is only known when the call ends. */
static int reads_outcome(const struct cs_expr *e)
{
    if (!e)
        return 0;
    if (e->kind == CS_EXPR_NAME)
        return !strcmp(e->str, "cost") || !strcmp(e->str, "return_obj") || !strcmp(e->str, "throw_exp");
    for (size_t i = 0; i < e->nargs; i++)
        if (reads_outcome(e->args[i]))
            return 1;
    return reads_outcome(e->left) || reads_outcome(e->right);
}

int cs_live_condition_compile(struct cs_live_condition *c, const char *text, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    struct cs_expr_error e = {0};
    struct cs_expr_tree *tree = cs_expr_parse(text, &e);
    if (tree && cs_expr_validate_live_condition(tree->root, &e) != 0) {
        cs_expr_tree_free(tree);
        tree = NULL;
    }
    if (!tree) {
        if (e.column > 0)
            snprintf(err, errlen, "condition, column %d: %s", e.column, e.message);
        else
            snprintf(err, errlen, "condition: %s", e.message);
        return -1;
    }
    c->tree = tree;
    c->needs_exit = reads_outcome(tree->root);
    return 0;
}

/* The first name in the tree that is neither callscope's nor one of the
 * code's first nargs arguments, or NULL. */
static const struct cs_expr *unknown_name(const struct cs_expr *e, PyCodeObject *code, int nargs)
{
    if (!e)
        return NULL;
    if (e->kind == CS_EXPR_NAME)
        return cs_expr_is_live_name(e->str) || cs_py_code_arg_index(code, nargs, e->str) >= 0 ? NULL : e;
    if (e->kind == CS_EXPR_CALL && e->left->kind == CS_EXPR_NAME) {
        /* a builtin's name where it is called */
    } else {
        const struct cs_expr *u = unknown_name(e->left, code, nargs);
        if (u)
            return u;
    }
    for (size_t i = 0; i < e->nargs; i++) {
        const struct cs_expr *u = unknown_name(e->args[i], code, nargs);
        if (u)
            return u;
    }
    return unknown_name(e->right, code, nargs);
}

int cs_live_condition_check_names(const struct cs_live_condition *c, PyCodeObject *code, int nargs,
                                  const char *function, char *err, size_t errlen)
{
    const struct cs_expr *u = c->tree ? unknown_name(c->tree->root, code, nargs) : NULL;
    if (!u)
        return 0;
    char params[300] = "";
    size_t at = 0;
    PyObject *names = cs_py_code_arg_names(code, nargs);
    for (Py_ssize_t i = 0; names && i < PyTuple_GET_SIZE(names) && at + 8 < sizeof params; i++) {
        const char *n = PyUnicode_AsUTF8(PyTuple_GET_ITEM(names, i));
        int w = snprintf(params + at, sizeof params - at, "%s%s", i ? ", " : "", n ? n : "?");
        at = w < 0 ? sizeof params : at + (size_t)w;
    }
    Py_XDECREF(names);
    PyErr_Clear();
    snprintf(err, errlen,
             "condition, column %d: unknown name '%s': %s has %s%s; a condition can also use cost, params, args, "
             "kwargs, self, return_obj and throw_exp",
             u->column, u->str, function, params[0] ? "the parameters " : "no parameters", params);
    return -1;
}

void cs_live_condition_free(struct cs_live_condition *c)
{
    if (c->tree)
        cs_expr_tree_free(c->tree);
    c->tree = NULL;
}

/* One evaluation: the call's values and what it may still read. */
struct eval {
    const struct cs_live_call_values *v;
    struct cs_read_budget budget;
};

static PyObject *evaluate(const struct cs_expr *e, struct eval *x);

static PyObject *or_none(PyObject *o)
{
    o = o ? o : Py_None;
    Py_INCREF(o);
    return o;
}

/* The arguments only a keyword can pass: the keyword-only parameters, then
 * the **kwargs dict's items (a new dict: the program's is not touched).
 * Keys are the code's own names and the str keys CPython put in **kwargs,
 * so no program code runs to hash or compare them. */
static PyObject *keyword_arguments(const struct cs_live_call_values *v)
{
    int first = v->code ? v->code->co_argcount : 0;
    int kwonly = v->code ? v->code->co_kwonlyargcount : 0;
    if (first + kwonly > v->nargv)
        kwonly = v->nargv > first ? v->nargv - first : 0;
    if (!kwonly)
        return v->kwargs ? or_none(v->kwargs) : PyDict_New();
    PyObject *d = PyDict_New();
    PyObject *names = d ? cs_py_code_arg_names(v->code, first + kwonly) : NULL;
    for (int i = first; names && i < first + kwonly; i++)
        if (v->argv[i] && PyDict_SetItem(d, PyTuple_GET_ITEM(names, i), v->argv[i]) != 0)
            Py_CLEAR(names);
    int ok = names && (!v->kwargs || !PyDict_CheckExact(v->kwargs) || PyDict_Update(d, v->kwargs) == 0);
    Py_XDECREF(names);
    if (!ok)
        Py_CLEAR(d);
    return d;
}

static PyObject *name_value(const char *name, const struct cs_live_call_values *v)
{
    if (!strcmp(name, "cost"))
        return PyFloat_FromDouble(v->cost_ms);
    if (!strcmp(name, "params") || !strcmp(name, "args")) {
        PyObject *t = PyTuple_New(v->nparams);
        for (int i = 0; t && i < v->nparams; i++)
            PyTuple_SET_ITEM(t, i, or_none(v->params[i]));
        return t;
    }
    if (!strcmp(name, "kwargs"))
        return keyword_arguments(v);
    if (!strcmp(name, "self"))
        return or_none(v->self);
    if (!strcmp(name, "return_obj"))
        return or_none(v->return_obj);
    if (!strcmp(name, "throw_exp"))
        return or_none(v->throw_exp);
    /* any other name is a parameter's (checked when the watch was added) */
    int i = v->code ? cs_py_code_arg_index(v->code, v->nargv, name) : -1;
    if (i >= 0 && v->argv[i])
        return or_none(v->argv[i]);
    PyErr_Format(PyExc_NameError, i >= 0 ? "parameter '%s' has no value" : "name '%s' is not defined", name);
    return NULL;
}

/* A condition must stay cheap: no step may build a value of over
 * CS_MAX_RESULT items or characters, nor an int of over MAX_INT_BITS bits,
 * whose arithmetic grows faster than its size. */
#define MAX_RESULT CS_MAX_RESULT
#define MAX_INT_BITS (1 << 16)
/* int() of a longer text: Python's own default limit (readable.h). */
#define MAX_INT_TEXT CS_MAX_INT_DIGITS
/* From 3.12 a floor division by an int of over 9,000 bits (300 digits of
 * 30 bits) of one some 4,500 bits longer imports _pylong to do it. */
#define MAX_DIVISOR_BITS 8192

static Py_ssize_t sized_len(PyObject *o)
{
    if (PyUnicode_Check(o) || PyBytes_Check(o) || PyList_Check(o) || PyTuple_Check(o))
        return PyObject_Length(o);
    return -1;
}

static int too_large(long long n)
{
    return cs_too_large(n) != 0;
}

static long long int_bits(PyObject *o)
{
    return PyLong_CheckExact(o) ? (long long)_PyLong_NumBits(o) : 0;
}

static int int_too_large(long long bits)
{
    if (bits <= MAX_INT_BITS)
        return 0;
    PyErr_Format(PyExc_MemoryError, "a condition may not compute with ints of over %d bits", MAX_INT_BITS);
    return 1;
}

/* Repetition (`'x' * n`) is checked before it happens. */
static int repetition_too_large(PyObject *a, PyObject *b)
{
    PyObject *seq = sized_len(a) >= 0 ? a : b, *count = seq == a ? b : a;
    Py_ssize_t len = sized_len(seq);
    if (len < 0 || !PyLong_Check(count))
        return 0;
    int overflow = 0;
    long long n = PyLong_AsLongLongAndOverflow(count, &overflow);
    return too_large(overflow > 0 || (n > 0 && len > 0 && n > MAX_RESULT / len) ? MAX_RESULT + 1 : 0);
}

/* What an operator would build or cost, checked before it runs. */
static int operation_too_large(int op, PyObject *a, PyObject *b)
{
    switch (op) {
    case CS_OP_MUL:
        return repetition_too_large(a, b) || int_too_large(int_bits(a) + int_bits(b));
    case CS_OP_ADD: {
        Py_ssize_t la = sized_len(a), lb = sized_len(b);
        return (la >= 0 && lb >= 0 && too_large((long long)la + lb)) || int_too_large(int_bits(a)) ||
               int_too_large(int_bits(b));
    }
    case CS_OP_FLOORDIV:
        if (int_bits(b) > MAX_DIVISOR_BITS) {
            PyErr_Format(PyExc_MemoryError, "a condition may not floor-divide by ints of over %d bits",
                         MAX_DIVISOR_BITS);
            return 1;
        }
        return int_too_large(int_bits(a));
    case CS_OP_MOD:
        if (PyUnicode_Check(a) || PyBytes_Check(a)) {
            /* '%500000000d' % 1: a width is a size the format picks */
            PyErr_SetString(PyExc_TypeError, "%-formatting is not allowed in a condition");
            return 1;
        }
        return int_too_large(int_bits(a)) || int_too_large(int_bits(b));
    default:
        return int_too_large(int_bits(a)) || int_too_large(int_bits(b));
    }
}

/* The characters or bytes of a text (str or bytes), else 0. */
static long long text_len(PyObject *o)
{
    return PyUnicode_Check(o) || PyBytes_Check(o) ? sized_len(o) : 0;
}

/* A search for a text in a text compares up to the product of their
 * lengths (3.8 and 3.9 do for a long pattern; strip() with a long set of
 * characters does on any version): charged as that many characters. */
static int search_too_long(struct cs_read_budget *b, PyObject *haystack, PyObject *needle)
{
    long long n = text_len(haystack), m = text_len(needle);
    return cs_read_charge(b, n && m ? n / CS_READ_CHUNK * m + m : 0) != 0;
}

/* join() builds its parts and a separator between each two. */
static int join_too_large(PyObject *sep, PyObject *parts)
{
    long long total = 0, count = 0, item_len;
    if (PyUnicode_Check(parts) || PyBytes_Check(parts)) {
        count = text_len(parts);
        total = count;
    } else {
        PyObject *it = PyObject_GetIter(parts), *item;
        if (!it)
            return 1;
        while (total <= MAX_RESULT && (item = PyIter_Next(it)) != NULL) {
            item_len = text_len(item);
            Py_DECREF(item);
            total += item_len;
            count++;
        }
        Py_DECREF(it);
        if (PyErr_Occurred())
            return 1;
    }
    return too_large(count > 1 ? total + text_len(sep) * (count - 1) : total);
}

/* The most a method may multiply its object's length by: hex() writes two
 * digits a byte (and a separator), encode() and decode() write up to 4
 * bytes a character in UTF-8 and up to 10 characters ('\U0001f600') for
 * one backslashreplace escapes, and changing case writes up to 3 ('\ufb03'
 * upper is 'FFI'). 1 for the others; -1 with an error. */
static int growth(const char *name, PyObject *obj, PyObject *args)
{
    int width = PyUnicode_Check(obj) ? cs_text_width(obj) : 1;
    if (width < 0)
        return -1;
    if (!strcmp(name, "hex"))
        return PyTuple_GET_SIZE(args) > 0 ? 3 : 2;
    if (!strcmp(name, "encode") || !strcmp(name, "decode")) {
        /* the codec and error handler are checked to be among these */
        PyObject *codec = PyTuple_GET_SIZE(args) > 0 ? PyTuple_GET_ITEM(args, 0) : NULL;
        PyObject *errors = PyTuple_GET_SIZE(args) > 1 ? PyTuple_GET_ITEM(args, 1) : NULL;
        const char *c = codec && PyUnicode_Check(codec) ? PyUnicode_AsUTF8(codec) : "utf-8";
        const char *e = errors && PyUnicode_Check(errors) ? PyUnicode_AsUTF8(errors) : "strict";
        if (!c || !e)
            return -1;
        if (!strcasecmp(e, "backslashreplace"))
            return width == 1 && PyUnicode_Check(obj) ? 1 : 10;
        return PyUnicode_Check(obj) && strncasecmp(c, "utf", 3) == 0 ? width : 1;
    }
    if (!strcmp(name, "upper") || !strcmp(name, "lower") || !strcmp(name, "casefold") || !strcmp(name, "title") ||
        !strcmp(name, "capitalize") || !strcmp(name, "swapcase"))
        return width == 1 ? 1 : 3;
    return 1;
}

/* Methods whose result can be far larger than their object: width,
 * replacement, parts and growth are checked first. */
static int method_too_large(const char *name, PyObject *obj, PyObject *args)
{
    Py_ssize_t len = sized_len(obj);
    if (!strcmp(name, "center") || !strcmp(name, "ljust") || !strcmp(name, "rjust") || !strcmp(name, "zfill")) {
        PyObject *w = PyTuple_GET_SIZE(args) > 0 ? PyTuple_GET_ITEM(args, 0) : NULL;
        int overflow = 0;
        long long width = w && PyLong_Check(w) ? PyLong_AsLongLongAndOverflow(w, &overflow) : 0;
        return too_large(overflow ? MAX_RESULT + 1 : width);
    }
    if (!strcmp(name, "replace") && PyTuple_GET_SIZE(args) >= 2) {
        Py_ssize_t with = sized_len(PyTuple_GET_ITEM(args, 1));
        return with > 0 && len > 0 && too_large(len > MAX_RESULT / (with + 1) ? MAX_RESULT + 1 : len * (with + 1));
    }
    if (!strcmp(name, "join") && PyTuple_GET_SIZE(args) >= 1)
        return join_too_large(obj, PyTuple_GET_ITEM(args, 0));
    if (!strcmp(name, "split") || !strcmp(name, "rsplit") || !strcmp(name, "splitlines"))
        return len > 0 && too_large((long long)len + 1); /* one part per character at most */
    if (!strcmp(name, "encode") || !strcmp(name, "decode")) {
        /* Another codec is looked up through the program's codec search
         * functions, and may be imported. */
        static const char *const codecs[] = {"utf-8", "utf8", "ascii", "latin-1", "latin1", NULL};
        static const char *const handlers[] = {"strict", "replace", "ignore", "backslashreplace", NULL};
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(args) && i < 2; i++) {
            const char *arg = PyUnicode_Check(PyTuple_GET_ITEM(args, i)) ? PyUnicode_AsUTF8(PyTuple_GET_ITEM(args, i))
                                                                          : NULL;
            const char *const *allowed = i == 0 ? codecs : handlers;
            int ok = 0;
            for (size_t k = 0; arg && allowed[k]; k++)
                ok |= !strcasecmp(arg, allowed[k]);
            if (!ok) {
                PyErr_Clear();
                PyErr_Format(PyExc_TypeError, "%s() may only use utf-8, ascii or latin-1 (strict, replace, "
                                              "ignore or backslashreplace) in a condition", name);
                return 1;
            }
        }
    }
    int factor = growth(name, obj, args);
    return factor < 0 || (factor > 1 && too_large((long long)text_len(obj) * factor));
}

/* Methods that search their object for a text given first (strip()'s is
 * a set of characters, each looked for in it). */
static int searches(const char *name)
{
    static const char *const names[] = {"find", "rfind", "index", "rindex", "count", "split", "rsplit",
                                        "partition", "rpartition", "replace", "strip", "lstrip", "rstrip", NULL};
    for (size_t i = 0; names[i]; i++)
        if (!strcmp(name, names[i]))
            return 1;
    return 0;
}

/* The builtins a condition may call, on readable arguments only: len()
 * needs only a built-in container, whatever it holds; str() reads an
 * exception's message too; int() of a long text is refused. */
static PyObject *call_builtin(const char *name, PyObject *fn, PyObject *args, struct eval *x)
{
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    if (!strcmp(name, "len") && n == 1) {
        if (cs_readable_shallow(PyTuple_GET_ITEM(args, 0)) != 0)
            return NULL;
    } else if (!strcmp(name, "str") && n == 1) {
        return cs_read_str(&x->budget, PyTuple_GET_ITEM(args, 0));
    } else {
        if (cs_readable(&x->budget, args) != 0)
            return NULL;
        if (!strcmp(name, "int") && n >= 1) {
            Py_ssize_t len = PyUnicode_Check(PyTuple_GET_ITEM(args, 0)) || PyBytes_Check(PyTuple_GET_ITEM(args, 0))
                                 ? PyObject_Length(PyTuple_GET_ITEM(args, 0))
                                 : 0;
            if (len > MAX_INT_TEXT) {
                PyErr_Format(PyExc_MemoryError, "int() of a text of over %d characters is not allowed in a condition",
                             MAX_INT_TEXT);
                return NULL;
            }
        }
        if (!strcmp(name, "round") && n == 2 && PyLong_Check(PyTuple_GET_ITEM(args, 0)) &&
            PyLong_Check(PyTuple_GET_ITEM(args, 1))) {
            /* round(x, -k) of an int computes 10 ** k, of k * 3.33 bits */
            int overflow = 0;
            long long nd = PyLong_AsLongLongAndOverflow(PyTuple_GET_ITEM(args, 1), &overflow);
            long long bits = overflow < 0 || nd < -MAX_INT_BITS ? MAX_INT_BITS + 1 : nd < 0 ? -nd * 10 / 3 : 0;
            if (int_too_large(int_bits(PyTuple_GET_ITEM(args, 0))) || int_too_large(bits))
                return NULL;
        }
    }
    return PyObject_Call(fn, args, NULL);
}

static int readable_keys(struct cs_read_budget *b, PyObject *dict)
{
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(dict, &pos, &k, &v))
        if (cs_readable(b, k) != 0)
            return -1;
    return 0;
}

static PyObject *call(const struct cs_expr *e, struct eval *x)
{
    PyObject *fn = NULL, *method_of = NULL;
    const struct cs_expr *callee = e->left;
    if (callee->kind == CS_EXPR_NAME) {
        fn = PyDict_GetItemString(PyEval_GetBuiltins(), callee->str);
        if (!fn) {
            PyErr_Format(PyExc_NameError, "name '%s' is not defined", callee->str);
            return NULL;
        }
        Py_INCREF(fn);
    } else if (callee->kind == CS_EXPR_ATTR) {
        PyObject *obj = evaluate(callee->left, x);
        if (!obj)
            return NULL;
        /* The method compares, hashes or copies the object's items: they
         * must be readable too (dict.get only hashes its keys; keys(),
         * values() and items() are views, read when they are used). */
        int dict = PyDict_CheckExact(obj);
        int views = dict && (!strcmp(callee->str, "keys") || !strcmp(callee->str, "values") ||
                             !strcmp(callee->str, "items"));
        int keys_only = dict && !strcmp(callee->str, "get");
        if (!PyUnicode_CheckExact(obj) && !PyBytes_CheckExact(obj) && !PyList_CheckExact(obj) &&
            !PyTuple_CheckExact(obj) && !PyDict_CheckExact(obj)) {
            PyErr_Format(PyExc_TypeError, "%s() may only be called on str, bytes, list, tuple or dict, not %.100s",
                         callee->str, Py_TYPE(obj)->tp_name);
            Py_DECREF(obj);
            return NULL;
        }
        if (!views && (keys_only ? readable_keys(&x->budget, obj) : cs_readable(&x->budget, obj)) != 0) {
            Py_DECREF(obj);
            return NULL;
        }
        fn = PyObject_GetAttrString(obj, callee->str);
        method_of = obj;
        if (!fn) {
            Py_DECREF(obj);
            return NULL;
        }
    } else {
        PyErr_SetString(PyExc_TypeError, "this call is not allowed");
        return NULL;
    }
    PyObject *args = PyTuple_New((Py_ssize_t)e->nargs);
    for (size_t i = 0; args && i < e->nargs; i++) {
        PyObject *a = evaluate(e->args[i], x);
        if (!a) {
            Py_CLEAR(args);
            break;
        }
        PyTuple_SET_ITEM(args, (Py_ssize_t)i, a);
    }
    PyObject *r = NULL;
    if (args && method_of) {
        if (cs_readable(&x->budget, args) == 0 && !method_too_large(callee->str, method_of, args) &&
            !(searches(callee->str) && PyTuple_GET_SIZE(args) > 0 &&
              search_too_long(&x->budget, method_of, PyTuple_GET_ITEM(args, 0))))
            r = PyObject_Call(fn, args, NULL);
    } else if (args) {
        r = call_builtin(callee->str, fn, args, x);
    }
    Py_XDECREF(args);
    Py_XDECREF(method_of);
    Py_DECREF(fn);
    return r;
}

static PyObject *binary(const struct cs_expr *e, PyObject *a, PyObject *b)
{
    if (operation_too_large(e->op, a, b))
        return NULL;
    switch (e->op) {
    case CS_OP_ADD: return PyNumber_Add(a, b);
    case CS_OP_SUB: return PyNumber_Subtract(a, b);
    case CS_OP_MUL: return PyNumber_Multiply(a, b);
    case CS_OP_DIV: return PyNumber_TrueDivide(a, b);
    case CS_OP_FLOORDIV: return PyNumber_FloorDivide(a, b);
    case CS_OP_MOD: return PyNumber_Remainder(a, b);
    default: break;
    }
    PyErr_SetString(PyExc_TypeError, "unknown operator");
    return NULL;
}

static PyObject *compare(const struct cs_expr *e, PyObject *a, PyObject *b, struct eval *x)
{
    int r;
    switch (e->op) {
    case CS_OP_EQ: return PyObject_RichCompare(a, b, Py_EQ);
    case CS_OP_NE: return PyObject_RichCompare(a, b, Py_NE);
    case CS_OP_LT: return PyObject_RichCompare(a, b, Py_LT);
    case CS_OP_LE: return PyObject_RichCompare(a, b, Py_LE);
    case CS_OP_GT: return PyObject_RichCompare(a, b, Py_GT);
    case CS_OP_GE: return PyObject_RichCompare(a, b, Py_GE);
    case CS_OP_IN:
    case CS_OP_NOT_IN:
        if (cs_read_charge(&x->budget, sized_len(b) > 0 ? sized_len(b) : 1) != 0 ||
            search_too_long(&x->budget, b, a))
            return NULL;
        r = PySequence_Contains(b, a);
        if (r < 0)
            return NULL;
        return PyBool_FromLong(e->op == CS_OP_IN ? r : !r);
    case CS_OP_IS: return PyBool_FromLong(a == b);
    case CS_OP_IS_NOT: return PyBool_FromLong(a != b);
    default: break;
    }
    PyErr_SetString(PyExc_TypeError, "unknown comparison");
    return NULL;
}

/* The truth of a value the program's __bool__ or __len__ would decide is
 * not read. */
static int truth_of(PyObject *o)
{
    return cs_readable_shallow(o) != 0 ? -1 : PyObject_IsTrue(o);
}

static PyObject *evaluate(const struct cs_expr *e, struct eval *x)
{
    PyObject *a, *b, *r;
    int truth;
    if (cs_read_charge(&x->budget, 1) != 0)
        return NULL;
    switch (e->kind) {
    case CS_EXPR_INT: return PyLong_FromLongLong(e->ival);
    case CS_EXPR_FLOAT: return PyFloat_FromDouble(e->fval);
    case CS_EXPR_STR: return PyUnicode_DecodeUTF8(e->str, (Py_ssize_t)e->len, "replace");
    case CS_EXPR_TRUE: Py_RETURN_TRUE;
    case CS_EXPR_FALSE: Py_RETURN_FALSE;
    case CS_EXPR_NONE: Py_RETURN_NONE;
    case CS_EXPR_NAME: return name_value(e->str, x->v);
    case CS_EXPR_ATTR:
        a = evaluate(e->left, x);
        r = a ? cs_read_attribute(&x->budget, a, e->str) : NULL;
        Py_XDECREF(a);
        return r;
    case CS_EXPR_SUBSCRIPT:
        a = evaluate(e->left, x);
        b = a ? evaluate(e->right, x) : NULL;
        r = b ? cs_read_item(&x->budget, a, b) : NULL;
        Py_XDECREF(a);
        Py_XDECREF(b);
        return r;
    case CS_EXPR_CALL: return call(e, x);
    case CS_EXPR_NEG:
        a = evaluate(e->left, x);
        r = a && cs_readable(&x->budget, a) == 0 && !int_too_large(int_bits(a)) ? PyNumber_Negative(a) : NULL;
        Py_XDECREF(a);
        return r;
    case CS_EXPR_NOT:
        a = evaluate(e->left, x);
        truth = a ? truth_of(a) : -1;
        Py_XDECREF(a);
        return truth < 0 ? NULL : PyBool_FromLong(!truth);
    case CS_EXPR_BINARY:
    case CS_EXPR_COMPARE:
        a = evaluate(e->left, x);
        b = a ? evaluate(e->right, x) : NULL;
        /* `is` compares identities, whatever the objects are. */
        if (b && !(e->kind == CS_EXPR_COMPARE && (e->op == CS_OP_IS || e->op == CS_OP_IS_NOT)) &&
            (cs_readable(&x->budget, a) != 0 || cs_readable(&x->budget, b) != 0)) {
            Py_DECREF(b);
            b = NULL;
        }
        r = b ? (e->kind == CS_EXPR_BINARY ? binary(e, a, b) : compare(e, a, b, x)) : NULL;
        Py_XDECREF(a);
        Py_XDECREF(b);
        return r;
    case CS_EXPR_AND:
    case CS_EXPR_OR:
        /* Python's own: the deciding operand is the value */
        a = evaluate(e->left, x);
        truth = a ? truth_of(a) : -1;
        if (truth < 0) {
            Py_XDECREF(a);
            return NULL;
        }
        if ((e->kind == CS_EXPR_AND) != (truth != 0))
            return a;
        Py_DECREF(a);
        return evaluate(e->right, x);
    }
    PyErr_SetString(PyExc_TypeError, "unknown expression");
    return NULL;
}

int cs_live_condition_test(const struct cs_live_condition *c, const struct cs_live_call_values *v, char *err,
                           size_t errlen)
{
    PyObject *saved_type, *saved_value, *saved_tb;
    PyErr_Fetch(&saved_type, &saved_value, &saved_tb);
    struct eval x = {v, {CS_READ_BUDGET}};
    PyObject *r = evaluate(c->tree->root, &x);
    int truth = r ? truth_of(r) : -1;
    Py_XDECREF(r);
    if (truth < 0) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyObject *text = value ? PyObject_Str(value) : NULL;
        const char *msg = text ? PyUnicode_AsUTF8(text) : NULL;
        snprintf(err, errlen, "%s: %s", type ? ((PyTypeObject *)type)->tp_name : "error", msg ? msg : "");
        Py_XDECREF(text);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        PyErr_Clear();
    }
    PyErr_Restore(saved_type, saved_value, saved_tb);
    return truth;
}
