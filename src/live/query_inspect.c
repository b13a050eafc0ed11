/*
 * query_inspect.c — `callscope inspect PID EXPR`: the value of a module
 * global or of an attribute path from one (`myapp.config.settings.timeout`,
 * `myapp.cache._store['k']`), rendered as recordings render values.
 *
 * EXPR is parsed by the expression language (src/expr) and must be a name
 * followed by attributes and subscripts with literal keys. Its leading
 * names are the longest dotted name of a loaded module (or, when none is, a
 * global of __main__); from there each step reads without running program
 * code: a module's global and a class's attribute from their dicts, entry
 * by entry (no module __getattr__, no metaclass, no descriptor's __get__),
 * an object's attribute through cs_read_attribute (an instance __dict__
 * entry, a __slots__ member, a built-in's C attribute: never a property or
 * __getattr__), a subscript through cs_read_item (built-in sequences and
 * dicts only). Names starting with '_' may be read, as the user is looking
 * inside; what reaches frames, code or a function's globals may not.
 *
 * The value is encoded by the capture encoder (values.c: built-in values
 * natively, anything else by type and address, never __repr__) and rendered
 * here by the recordings' renderers (collector/decode.c for the text,
 * collector/value_json.c for typed JSON), so it reads as in `callscope show`
 * and in `watch`.
 */
#include <Python.h>

#include <frameobject.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/values.h"
#include "collector/decode.h"
#include "collector/value_json.h"
#include "expr/expr.h"
#include "live/pattern.h"
#include "live/query.h"
#include "live/readable.h"
#include "py/compat.h"
#include "util/json.h"
#include "util/parse_number.h"

#define DEFAULT_EXPAND 2
#define MAX_EXPAND 16
#define MAX_STEPS 64
#define MAX_MODULE_NAME 512
/* What one value may take once encoded; its rendering is a few times that. */
#define VALUE_ROOM (256u << 10)

/* Attributes that reach the interpreter's frames, code and a function's
 * globals. Unlike a condition's refusals (validate_live.c), method names
 * such as format or system need not be refused: inspect reads an attribute
 * and never calls what it finds. */
static const char *const REACHES_INTERNALS[] = {
    "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await", "cr_origin",
    "ag_frame", "ag_code", "ag_await", "f_back", "f_globals", "f_locals", "f_builtins", "f_code", "f_trace",
    "tb_frame", "tb_next", "func_globals", "func_code", "func_closure", "cell_contents", NULL,
};

/* The dunder names worth reading that hold plain data. */
static const char *const DUNDERS_ALLOWED[] = {
    "__dict__", "__name__", "__qualname__", "__module__", "__doc__", "__file__", "__all__", "__version__",
    "__class__", "__slots__", "__path__", NULL,
};

static int listed(const char *name, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (!strcmp(name, list[i]))
            return 1;
    return 0;
}

/* Objects whose attributes are the interpreter's own machinery: reading
 * them (f_locals) may even change the frame. */
static int is_internal(PyObject *o)
{
    PyTypeObject *t = Py_TYPE(o);
    return PyFrame_Check(o) || PyCode_Check(o) || PyTraceBack_Check(o) || PyGen_Check(o) || PyCoro_CheckExact(o) ||
           PyAsyncGen_CheckExact(o) || PyCell_Check(o) || t == &PyCFunction_Type || PyFunction_Check(o) ||
           PyMethod_Check(o);
}

struct inspect {
    const char *text; /* EXPR as typed */
    char error[600];
    struct cs_read_budget budget;
};

/* Sets the error from the expression's column and message. */
static int fail_at(struct inspect *in, int column, const char *fmt, const char *what)
{
    char message[300];
    snprintf(message, sizeof message, fmt, what);
    if (column > 0)
        snprintf(in->error, sizeof in->error, "inspect: %s (column %d of '%.200s')", message, column, in->text);
    else
        snprintf(in->error, sizeof in->error, "inspect: %s", message);
    return -1;
}

/* The Python error's message, which the readers phrase for people, as
 * the error of the step `shown` (the path so far). */
static int fail_python(struct inspect *in, const char *shown)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    const char *text = NULL;
    /* exceptions raised here are the interpreter's own classes with a str
     * argument: read it from the C struct, not through __str__ */
    if (value && PyExceptionInstance_Check(value)) {
        PyObject *args = ((PyBaseExceptionObject *)value)->args;
        if (args && PyTuple_Check(args) && PyTuple_GET_SIZE(args) > 0 &&
            PyUnicode_CheckExact(PyTuple_GET_ITEM(args, 0)))
            text = PyUnicode_AsUTF8(PyTuple_GET_ITEM(args, 0));
    } else if (value && PyUnicode_CheckExact(value)) {
        text = PyUnicode_AsUTF8(value); /* not yet normalised */
    }
    int key_error = type && PyErr_GivenExceptionMatches(type, PyExc_KeyError);
    int index_error = type && PyErr_GivenExceptionMatches(type, PyExc_IndexError);
    PyErr_Clear();
    if (key_error)
        snprintf(in->error, sizeof in->error, "inspect: %.300s: no such key", shown);
    else if (index_error)
        snprintf(in->error, sizeof in->error, "inspect: %.300s: index out of range", shown);
    else
        snprintf(in->error, sizeof in->error, "inspect: %.300s: %.250s", shown, text ? text : "cannot be read");
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    return -1;
}

/* The steps of EXPR from its first name on, into steps[]; their number or
 * -1. */
static int flatten(struct inspect *in, const struct cs_expr *e, const struct cs_expr **steps)
{
    int n = 0;
    const struct cs_expr *chain[MAX_STEPS];
    for (;;) {
        if (n == MAX_STEPS)
            return fail_at(in, e->column, "a path of over %s steps", "64");
        chain[n++] = e;
        if (e->kind == CS_EXPR_NAME)
            break;
        if (e->kind != CS_EXPR_ATTR && e->kind != CS_EXPR_SUBSCRIPT)
            return fail_at(in, e->column, "%s",
                           "EXPR is a global or an attribute path: names, .attributes and [literal keys] "
                           "(myapp.config.settings.timeout, myapp.cache._store['k']); nothing is called or "
                           "computed");
        e = e->left;
    }
    for (int i = 0; i < n; i++)
        steps[i] = chain[n - 1 - i];
    return n;
}

/* A subscript's key, as the literal it is (new reference), or NULL. */
static PyObject *literal_key(struct inspect *in, const struct cs_expr *k)
{
    switch (k->kind) {
    case CS_EXPR_INT: return PyLong_FromLongLong(k->ival);
    case CS_EXPR_FLOAT: return PyFloat_FromDouble(k->fval);
    case CS_EXPR_TRUE: return Py_NewRef(Py_True);
    case CS_EXPR_FALSE: return Py_NewRef(Py_False);
    case CS_EXPR_NONE: return Py_NewRef(Py_None);
    case CS_EXPR_STR: {
        PyObject *s = PyUnicode_DecodeUTF8(k->str, (Py_ssize_t)k->len, "strict");
        if (!s) {
            PyErr_Clear();
            fail_at(in, k->column, "%s", "a key must be valid UTF-8 text");
        }
        return s;
    }
    case CS_EXPR_NEG:
        if (k->left->kind == CS_EXPR_INT)
            return PyLong_FromLongLong(-k->left->ival);
        if (k->left->kind == CS_EXPR_FLOAT)
            return PyFloat_FromDouble(-k->left->fval);
        break;
    default: break;
    }
    fail_at(in, k->column, "%s", "a key is a literal: 'text', 12, -1, True, None");
    return NULL;
}

struct key_text {
    char text[120];
};

/* A literal key as Python shows it ('k', 12), for messages. */
static struct key_text key_text(PyObject *key)
{
    struct key_text out = {""};
    unsigned char buf[256];
    struct cs_value_limits lim = {.max_string = 60, .max_items = 1, .max_nesting = 1};
    unsigned char *end = cs_encode_value(buf, buf + sizeof buf - 32, key, &lim, 0);
    struct cs_reader r = {buf, end, 0};
    struct cs_textbuf t = {0};
    if (cs_render_value(&r, &t) == 0 && !t.oom)
        snprintf(out.text, sizeof out.text, "%.*s", (int)t.len, t.data);
    cs_textbuf_free(&t);
    return out;
}

/* The module named by the longest run of leading names that sys.modules
 * holds; *used is how many steps it took. Borrowed, or NULL. */
static PyObject *leading_module(const struct cs_expr **steps, int n, int *used)
{
    char name[MAX_MODULE_NAME];
    PyObject *modules = PyImport_GetModuleDict();
    int words = 0;
    while (words < n && (words == 0 || steps[words]->kind == CS_EXPR_ATTR))
        words++;
    for (int k = words; k > 0; k--) {
        size_t len = 0;
        int fits = 1;
        for (int i = 0; i < k && fits; i++) {
            size_t wn = strlen(steps[i]->str);
            fits = len + wn + 2 < sizeof name;
            if (fits) {
                if (i)
                    name[len++] = '.';
                memcpy(name + len, steps[i]->str, wn);
                len += wn;
                name[len] = 0;
            }
        }
        PyObject *m = fits ? cs_live_dict_str_item(modules, name, -1) : NULL;
        if (m && PyModule_Check(m)) {
            *used = k;
            return m;
        }
    }
    return NULL;
}

/* A class's attribute as its dicts hold it, base by base: no descriptor's
 * __get__, no metaclass. Borrowed, or NULL. */
static PyObject *class_entry(PyTypeObject *cls, const char *name)
{
    if (!strcmp(name, "__dict__"))
        return NULL; /* handled by the caller: a copy */
    PyObject *mro = cls->tp_mro;
    for (Py_ssize_t i = 0; mro && i < PyTuple_GET_SIZE(mro); i++) {
        PyObject *dict = cs_type_dict((PyTypeObject *)PyTuple_GET_ITEM(mro, i));
        PyObject *v = cs_live_dict_str_item(dict, name, -1);
        Py_XDECREF(dict); /* the class keeps it, and so v */
        if (v)
            return v;
    }
    return NULL;
}

/* obj.name read without program code (new reference), or NULL with
 * in->error set. */
static PyObject *read_attribute(struct inspect *in, PyObject *obj, const struct cs_expr *step, const char *shown)
{
    const char *name = step->str;
    if (name[0] == '_' && name[1] == '_' && !listed(name, DUNDERS_ALLOWED))
        return fail_at(in, step->op_column, "'%.100s' is not read: of the dunder names inspect reads only "
                       "__dict__, __name__, __qualname__, __module__, __doc__, __file__, __all__, __version__, "
                       "__class__, __slots__ and __path__", name), NULL;
    if (listed(name, REACHES_INTERNALS))
        return fail_at(in, step->op_column, "'%s' is not read: it reaches the interpreter's frames, code or globals",
                       name), NULL;
    if (PyModule_Check(obj)) {
        PyObject *globals = PyModule_GetDict(obj);
        if (!strcmp(name, "__dict__"))
            return Py_NewRef(globals); /* encoding reads it as it is */
        PyObject *v = cs_live_dict_str_item(globals, name, -1);
        if (!v)
            snprintf(in->error, sizeof in->error, "inspect: module '%.200s' has no global '%.100s'%s", shown, name,
                     cs_live_dict_str_item(globals, "__getattr__", -1)
                         ? " (its __getattr__, program code, is not called)" : "");
        return v ? Py_NewRef(v) : NULL;
    }
    if (PyType_Check(obj)) {
        if (!strcmp(name, "__dict__")) {
            /* the dict itself, not the mappingproxy Python would give */
            PyObject *dict = cs_type_dict((PyTypeObject *)obj);
            if (!dict)
                snprintf(in->error, sizeof in->error, "inspect: class %.200s has no dict", shown);
            return dict;
        }
        PyObject *v = class_entry((PyTypeObject *)obj, name);
        if (!v)
            snprintf(in->error, sizeof in->error, "inspect: class %.200s has no attribute '%.100s' in its dict or "
                     "its bases' (a metaclass's are not consulted)", shown, name);
        return v ? Py_NewRef(v) : NULL;
    }
    if (is_internal(obj))
        return fail_at(in, step->op_column, "the attributes of a %.100s are not read (they are the interpreter's)",
                       Py_TYPE(obj)->tp_name), NULL;
    PyObject *v = cs_read_attribute(&in->budget, obj, name);
    if (!v) {
        char path[400];
        snprintf(path, sizeof path, "%.250s.%.100s", shown, name);
        fail_python(in, path);
    }
    return v;
}

/* The value EXPR names (new reference), or NULL with in->error set; the
 * path as far as read in *shown. */
static PyObject *evaluate(struct inspect *in, const struct cs_expr **steps, int n, char *shown, size_t shown_size)
{
    int used = 0;
    PyObject *v = leading_module(steps, n, &used);
    if (v) {
        Py_INCREF(v);
        int len = 0;
        for (int i = 0; i < used; i++)
            len += snprintf(shown + len, shown_size - (size_t)len, "%s%s", i ? "." : "", steps[i]->str);
    } else {
        /* a global of the program's main script */
        PyObject *main = cs_live_dict_str_item(PyImport_GetModuleDict(), "__main__", -1);
        PyObject *global = main && PyModule_Check(main)
                               ? cs_live_dict_str_item(PyModule_GetDict(main), steps[0]->str, -1) : NULL;
        if (!global) {
            snprintf(in->error, sizeof in->error, "inspect: no loaded module or global of __main__ is named "
                     "'%.200s' (callscope imports nothing there)", steps[0]->str);
            return NULL;
        }
        v = Py_NewRef(global);
        used = 1;
        snprintf(shown, shown_size, "%s", steps[0]->str);
    }
    for (int i = used; i < n && v; i++) {
        const struct cs_expr *step = steps[i];
        PyObject *next;
        if (step->kind == CS_EXPR_ATTR) {
            next = read_attribute(in, v, step, shown);
        } else {
            PyObject *key = literal_key(in, step->right);
            next = key ? cs_read_item(&in->budget, v, key) : NULL;
            if (key) {
                size_t len = strlen(shown);
                snprintf(shown + len, shown_size - len, "[%s]", key_text(key).text);
                if (!next)
                    fail_python(in, shown);
            }
            Py_XDECREF(key);
        }
        Py_DECREF(v);
        v = next;
        /* the path so far */
        size_t len = strlen(shown);
        if (v && step->kind == CS_EXPR_ATTR)
            snprintf(shown + len, shown_size - len, ".%s", step->str);
    }
    return v;
}

static int parse_arguments(int argc, char **argv, const char **expr, int *expand, char *err, size_t errlen)
{
    *expr = NULL;
    *expand = DEFAULT_EXPAND;
    for (int i = 0; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "-x") || !strcmp(argv[i], "--expand")) {
            v = i + 1 < argc ? argv[++i] : "";
        } else if (!strncmp(argv[i], "--expand=", 9)) {
            v = argv[i] + 9;
        } else if (argv[i][0] == '-') {
            snprintf(err, errlen, "inspect: unexpected option '%.100s' (inspect takes EXPR and -x N)", argv[i]);
            return -1;
        } else if (*expr) {
            snprintf(err, errlen, "inspect: one EXPR only, not also '%.100s' (quote an EXPR with spaces or "
                     "brackets)", argv[i]);
            return -1;
        } else {
            *expr = argv[i];
            continue;
        }
        long long x;
        if (cs_parse_long(v, 0, MAX_EXPAND, &x) != 0) {
            snprintf(err, errlen, "inspect: -x takes a depth from 0 to %d, not '%.100s'", MAX_EXPAND, v);
            return -1;
        }
        *expand = (int)x;
    }
    if (!*expr || !**expr) {
        snprintf(err, errlen, "inspect: give an EXPR: a module global or an attribute path, e.g. "
                 "myapp.config.settings.timeout or \"myapp.cache._store['k']\"");
        return -1;
    }
    return 0;
}

/* Encodes v and renders it as text and as typed JSON into the answer. */
static int render(PyObject *v, int expand, const char *expr, struct cs_live_answer *a)
{
    unsigned char *buf = malloc(VALUE_ROOM);
    if (!buf) {
        snprintf(a->error, sizeof a->error, "inspect: out of memory in the target");
        return -1;
    }
    /* texts and containers shown longer than in a recording: one value is
     * asked for, and looked at */
    struct cs_value_limits lim = {.max_string = 4096, .max_items = 100, .max_nesting = (uint32_t)expand};
    unsigned char *end = cs_encode_value(buf, buf + VALUE_ROOM - 32, v, &lim, 0);
    struct cs_textbuf repr = {0}, value = {0}, scratch = {0};
    struct cs_reader r = {buf, end, 0};
    struct cs_text type = cs_value_type(&r);
    int rc = cs_render_value(&r, &repr);
    r = (struct cs_reader){buf, end, 0};
    if (rc == 0)
        rc = cs_value_json(&r, &value, &scratch);
    if (rc != 0 || repr.oom || value.oom) {
        snprintf(a->error, sizeof a->error, "inspect: the value could not be rendered");
    } else {
        cs_textbuf_puts(&a->json, "{\"expr\":");
        cs_json_string(&a->json, expr, strlen(expr));
        cs_textbuf_puts(&a->json, ",\"type\":");
        cs_json_string(&a->json, type.s ? type.s : "", type.s ? type.n : 0);
        cs_textbuf_puts(&a->json, ",\"value\":");
        cs_textbuf_put(&a->json, value.data, value.len);
        cs_textbuf_puts(&a->json, ",\"repr\":");
        cs_json_string(&a->json, repr.data ? repr.data : "", repr.len);
        cs_textbuf_printf(&a->json, ",\"expand\":%d}", expand);
        cs_textbuf_printf(&a->text, "%s = ", expr);
        cs_textbuf_put(&a->text, repr.data, repr.len);
        cs_textbuf_putc(&a->text, '\n');
    }
    free(buf);
    cs_textbuf_free(&repr);
    cs_textbuf_free(&value);
    cs_textbuf_free(&scratch);
    return rc != 0 || repr.oom || value.oom ? -1 : 0;
}

int cs_query_inspect(int argc, char **argv, struct cs_live_answer *a)
{
    const char *expr;
    int expand;
    if (parse_arguments(argc, argv, &expr, &expand, a->error, sizeof a->error) != 0)
        return -1;
    struct inspect in = {.text = expr, .budget = {CS_READ_BUDGET}};
    struct cs_expr_error perr = {0};
    struct cs_expr_tree *tree = cs_expr_parse(expr, &perr);
    if (!tree) {
        snprintf(a->error, sizeof a->error, "inspect: %.300s (column %d of '%.200s')", perr.message, perr.column,
                 expr);
        return -1;
    }
    const struct cs_expr *steps[MAX_STEPS];
    int n = flatten(&in, tree->root, steps);
    PyObject *v = NULL;
    char shown[1024] = "";
    if (n > 0)
        v = evaluate(&in, steps, n, shown, sizeof shown);
    cs_expr_tree_free(tree);
    PyErr_Clear();
    if (!v) {
        snprintf(a->error, sizeof a->error, "%s", in.error[0] ? in.error : "inspect: the value cannot be read");
        return -1;
    }
    int rc = render(v, expand, expr, a);
    Py_DECREF(v);
    return rc;
}
