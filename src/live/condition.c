/*
 * condition.c — evaluates a checked condition tree over one call's objects.
 *
 * Every operation maps to the C API call Python itself would make, so
 * `params[0] > 100` compares exactly as the program would; what the
 * validator refused (dunders, private names, other calls) never reaches
 * here. A method is called only on an object whose type is exactly str,
 * bytes, list, tuple or dict, so a subclass cannot slip its own code in
 * under an allowed name.
 */
#include "live/condition.h"

#include <stdio.h>
#include <string.h>

#include "expr/expr.h"

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
    if (tree && cs_expr_validate_live(tree->root, cs_expr_live_names, &e) != 0) {
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

void cs_live_condition_free(struct cs_live_condition *c)
{
    if (c->tree)
        cs_expr_tree_free(c->tree);
    c->tree = NULL;
}

static PyObject *evaluate(const struct cs_expr *e, const struct cs_live_call_values *v);

static PyObject *or_none(PyObject *o)
{
    o = o ? o : Py_None;
    Py_INCREF(o);
    return o;
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
        return v->kwargs ? or_none(v->kwargs) : PyDict_New();
    if (!strcmp(name, "self"))
        return or_none(v->self);
    if (!strcmp(name, "return_obj"))
        return or_none(v->return_obj);
    if (!strcmp(name, "throw_exp"))
        return or_none(v->throw_exp);
    PyErr_Format(PyExc_NameError, "name '%s' is not defined", name);
    return NULL;
}

static int exact_builtin_container(PyObject *o)
{
    return PyUnicode_CheckExact(o) || PyBytes_CheckExact(o) || PyList_CheckExact(o) || PyTuple_CheckExact(o) ||
           PyDict_CheckExact(o);
}

/* A condition must stay cheap: no step may build a huge value. */
#define MAX_RESULT 1000000

static Py_ssize_t sized_len(PyObject *o)
{
    if (PyUnicode_Check(o) || PyBytes_Check(o) || PyList_Check(o) || PyTuple_Check(o))
        return PyObject_Length(o);
    return -1;
}

static int too_large(Py_ssize_t n)
{
    if (n <= MAX_RESULT)
        return 0;
    PyErr_Format(PyExc_MemoryError, "a condition may not build values of over %d items", MAX_RESULT);
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

/* Methods whose result can be far larger than their object: width and
 * replacement are checked first. */
static int method_too_large(const char *name, PyObject *obj, PyObject *args)
{
    Py_ssize_t len = sized_len(obj);
    if (!strcmp(name, "center") || !strcmp(name, "ljust") || !strcmp(name, "rjust") || !strcmp(name, "zfill")) {
        PyObject *w = PyTuple_GET_SIZE(args) > 0 ? PyTuple_GET_ITEM(args, 0) : NULL;
        int overflow = 0;
        long long width = w && PyLong_Check(w) ? PyLong_AsLongLongAndOverflow(w, &overflow) : 0;
        return too_large(overflow ? MAX_RESULT + 1 : (Py_ssize_t)(width > MAX_RESULT ? MAX_RESULT + 1 : width));
    }
    if (!strcmp(name, "replace") && PyTuple_GET_SIZE(args) >= 2) {
        Py_ssize_t with = sized_len(PyTuple_GET_ITEM(args, 1));
        return with > 0 && len > 0 && too_large(len > MAX_RESULT / (with + 1) ? MAX_RESULT + 1 : len * (with + 1));
    }
    if (!strcmp(name, "join") && PyTuple_GET_SIZE(args) >= 1) {
        Py_ssize_t parts = sized_len(PyTuple_GET_ITEM(args, 0));
        return parts > 0 && len > 0 && too_large(len > MAX_RESULT / parts ? MAX_RESULT + 1 : len * parts);
    }
    return 0;
}

static PyObject *call(const struct cs_expr *e, const struct cs_live_call_values *v)
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
        PyObject *obj = evaluate(callee->left, v);
        if (!obj)
            return NULL;
        if (!exact_builtin_container(obj)) {
            PyErr_Format(PyExc_TypeError, "%s() may only be called on str, bytes, list, tuple or dict, not %.100s",
                         callee->str, Py_TYPE(obj)->tp_name);
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
        PyObject *a = evaluate(e->args[i], v);
        if (!a) {
            Py_CLEAR(args);
            break;
        }
        PyTuple_SET_ITEM(args, (Py_ssize_t)i, a);
    }
    PyObject *r = NULL;
    if (args && !(method_of && method_too_large(callee->str, method_of, args)))
        r = PyObject_Call(fn, args, NULL);
    Py_XDECREF(args);
    Py_XDECREF(method_of);
    Py_DECREF(fn);
    return r;
}

static PyObject *binary(const struct cs_expr *e, PyObject *a, PyObject *b)
{
    if (e->op == CS_OP_MUL && repetition_too_large(a, b))
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

static PyObject *compare(const struct cs_expr *e, PyObject *a, PyObject *b)
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

static PyObject *evaluate(const struct cs_expr *e, const struct cs_live_call_values *v)
{
    PyObject *a, *b, *r;
    int truth;
    switch (e->kind) {
    case CS_EXPR_INT: return PyLong_FromLongLong(e->ival);
    case CS_EXPR_FLOAT: return PyFloat_FromDouble(e->fval);
    case CS_EXPR_STR: return PyUnicode_DecodeUTF8(e->str, (Py_ssize_t)e->len, "replace");
    case CS_EXPR_TRUE: Py_RETURN_TRUE;
    case CS_EXPR_FALSE: Py_RETURN_FALSE;
    case CS_EXPR_NONE: Py_RETURN_NONE;
    case CS_EXPR_NAME: return name_value(e->str, v);
    case CS_EXPR_ATTR:
        a = evaluate(e->left, v);
        r = a ? PyObject_GetAttrString(a, e->str) : NULL;
        Py_XDECREF(a);
        return r;
    case CS_EXPR_SUBSCRIPT:
        a = evaluate(e->left, v);
        b = a ? evaluate(e->right, v) : NULL;
        r = b ? PyObject_GetItem(a, b) : NULL;
        Py_XDECREF(a);
        Py_XDECREF(b);
        return r;
    case CS_EXPR_CALL: return call(e, v);
    case CS_EXPR_NEG:
        a = evaluate(e->left, v);
        r = a ? PyNumber_Negative(a) : NULL;
        Py_XDECREF(a);
        return r;
    case CS_EXPR_NOT:
        a = evaluate(e->left, v);
        truth = a ? PyObject_IsTrue(a) : -1;
        Py_XDECREF(a);
        return truth < 0 ? NULL : PyBool_FromLong(!truth);
    case CS_EXPR_BINARY:
    case CS_EXPR_COMPARE:
        a = evaluate(e->left, v);
        b = a ? evaluate(e->right, v) : NULL;
        r = b ? (e->kind == CS_EXPR_BINARY ? binary(e, a, b) : compare(e, a, b)) : NULL;
        Py_XDECREF(a);
        Py_XDECREF(b);
        return r;
    case CS_EXPR_AND:
    case CS_EXPR_OR:
        /* Python's own: the deciding operand is the value */
        a = evaluate(e->left, v);
        truth = a ? PyObject_IsTrue(a) : -1;
        if (truth < 0) {
            Py_XDECREF(a);
            return NULL;
        }
        if ((e->kind == CS_EXPR_AND) != (truth != 0))
            return a;
        Py_DECREF(a);
        return evaluate(e->right, v);
    }
    PyErr_SetString(PyExc_TypeError, "unknown expression");
    return NULL;
}

int cs_live_condition_test(const struct cs_live_condition *c, const struct cs_live_call_values *v, char *err,
                           size_t errlen)
{
    PyObject *saved_type, *saved_value, *saved_tb;
    PyErr_Fetch(&saved_type, &saved_value, &saved_tb);
    PyObject *r = evaluate(c->tree->root, v);
    int truth = r ? PyObject_IsTrue(r) : -1;
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
