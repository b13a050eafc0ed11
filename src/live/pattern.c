/*
 * pattern.c — finds the code objects a live pattern names.
 *
 * Patterns: `module.func`, `module.Class.method`, `pkg.mod.Outer.Inner.method`,
 * the words `module [Class] method`, or `module.outer.<locals>.inner` for a
 * nested function. Only modules the target has already
 * imported are searched (nothing is imported into it), and names are looked
 * up in module and class dictionaries directly, so no property, metaclass or
 * __getattr__ of the program runs. Observing the code object catches every
 * way the function is reached: references taken earlier, bound methods,
 * callbacks kept in containers.
 */
#include "live/pattern.h"

#include <stdio.h>
#include <string.h>

/* Joins the words of `module [Class] method` with dots. */
static void normalise(const char *pattern, char *out, size_t size)
{
    size_t n = 0;
    int gap = 0;
    for (const char *p = pattern; *p && n + 1 < size; p++) {
        if (*p == ' ' || *p == '\t') {
            gap = n > 0;
            continue;
        }
        if (gap && n + 1 < size)
            out[n++] = '.';
        gap = 0;
        out[n++] = *p;
    }
    out[n] = 0;
}

/* The first character of the dotted words that no Python name can hold
 * (ASCII letters, digits, '_' and any non-ASCII letter can), or NULL. */
static const char *not_a_name(const char *dotted)
{
    for (const char *p = dotted; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (!(c >= 0x80 || c == '_' || c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
              (c >= 'A' && c <= 'Z')))
            return p;
    }
    return NULL;
}

/* A name in a class's own dictionary or its bases', without descriptors. */
static PyObject *class_lookup(PyTypeObject *type, PyObject *name)
{
    PyObject *mro = type->tp_mro;
    for (Py_ssize_t i = 0; mro && i < PyTuple_GET_SIZE(mro); i++) {
        PyObject *dict = ((PyTypeObject *)PyTuple_GET_ITEM(mro, i))->tp_dict;
        PyObject *v = dict ? PyDict_GetItemWithError(dict, name) : NULL;
        if (v)
            return v;
    }
    return NULL;
}

static PyObject *member(PyObject *owner, const char *name)
{
    PyObject *key = PyUnicode_FromString(name);
    if (!key)
        return NULL;
    PyObject *v = NULL;
    if (PyModule_Check(owner))
        v = PyDict_GetItemWithError(PyModule_GetDict(owner), key);
    else if (PyType_Check(owner))
        v = class_lookup((PyTypeObject *)owner, key);
    Py_DECREF(key);
    return v;
}

PyObject *cs_live_dict_str_item(PyObject *dict, const char *name, Py_ssize_t max_scan)
{
    size_t len = strlen(name);
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (dict && PyDict_Check(dict) && max_scan-- != 0 && PyDict_Next(dict, &pos, &key, &value)) {
        if (!PyUnicode_CheckExact(key))
            continue;
        Py_ssize_t n;
        const char *text = PyUnicode_AsUTF8AndSize(key, &n);
        if (!text)
            PyErr_Clear(); /* a key with a lone surrogate: no name */
        else if ((size_t)n == len && memcmp(text, name, len) == 0)
            return value;
    }
    return NULL;
}

/* How many attributes a function or a wrapper may have for its __wrapped__
 * to be looked for: a wrapper has a handful. */
#define WRAPPER_DICT_SCAN 64

PyObject *cs_live_underlying_function(PyObject *v)
{
    for (int hops = 0; v && hops < 16; hops++) {
        if (PyFunction_Check(v)) {
            PyObject *dict = ((PyFunctionObject *)v)->func_dict;
            PyObject *wrapped = cs_live_dict_str_item(dict, "__wrapped__", WRAPPER_DICT_SCAN);
            if (!wrapped)
                return v;
            v = wrapped;
        } else if (PyMethod_Check(v)) {
            v = PyMethod_GET_FUNCTION(v);
        } else if (Py_TYPE(v) == &PyStaticMethod_Type || Py_TYPE(v) == &PyClassMethod_Type) {
            PyObject *fn = PyObject_GetAttrString(v, "__func__");
            Py_XDECREF(fn); /* the descriptor keeps it alive */
            v = fn;
        } else if (Py_TYPE(v) == &PyProperty_Type) {
            PyObject *fn = PyObject_GetAttrString(v, "fget");
            Py_XDECREF(fn);
            v = fn;
        } else if (!PyType_Check(v) && Py_TYPE(v)->tp_dictoffset > 0) {
            /* A wrapper written in C that says what it wraps, as
             * functools.lru_cache does: its instance dict is read in place,
             * so no attribute lookup runs the program's code. */
            PyObject *dict = *(PyObject **)((char *)v + Py_TYPE(v)->tp_dictoffset);
            v = cs_live_dict_str_item(dict, "__wrapped__", WRAPPER_DICT_SCAN);
        } else {
            return NULL;
        }
    }
    PyErr_Clear();
    return NULL;
}

/* A function defined inside `code` and named `name`, at any nesting. */
static PyObject *nested_code(PyCodeObject *code, const char *name, int level)
{
    PyObject *consts = code->co_consts;
    for (Py_ssize_t i = 0; level < 8 && consts && i < PyTuple_GET_SIZE(consts); i++) {
        PyObject *c = PyTuple_GET_ITEM(consts, i);
        if (!PyCode_Check(c))
            continue;
        if (PyUnicode_CompareWithASCIIString(((PyCodeObject *)c)->co_name, name) == 0)
            return c;
        PyObject *deeper = nested_code((PyCodeObject *)c, name, level + 1);
        if (deeper)
            return deeper;
    }
    return NULL;
}

PyObject *cs_live_resolve(const char *pattern, const char *nested, char *name_out, size_t name_size, char *err,
                          size_t errlen)
{
    char dotted[512];
    normalise(pattern, dotted, sizeof dotted);
    /* A name as callscope prints it, `module.outer.<locals>.inner`: the
     * function defined inside outer, as with -nm inner. */
    char inner[256];
    char *locals = strstr(dotted, ".<locals>.");
    const char *last = strrchr(dotted, '.');
    if (locals && last[1] && !(nested && nested[0])) {
        snprintf(inner, sizeof inner, "%s", last + 1);
        *locals = 0;
        nested = inner;
    }
    if (!dotted[0] || dotted[0] == '.' || strstr(dotted, "..") || dotted[strlen(dotted) - 1] == '.') {
        snprintf(err, errlen, "'%s' is not a pattern: write module.function or module.Class.method", pattern);
        return NULL;
    }
    const char *odd = not_a_name(dotted);
    if (odd) {
        snprintf(err, errlen, "'%s' is not a pattern: '%c' cannot be part of a Python name", pattern, *odd);
        return NULL;
    }
    /* The longest dotted prefix that is an imported module. */
    PyObject *modules = PyImport_GetModuleDict();
    PyObject *owner = NULL;
    char *rest = NULL;
    for (char *cut = dotted + strlen(dotted); cut;) {
        char saved = *cut;
        *cut = 0;
        owner = PyDict_GetItemString(modules, dotted);
        *cut = saved;
        if (owner && PyModule_Check(owner)) {
            rest = *cut ? cut + 1 : cut;
            break;
        }
        owner = NULL;
        char *dot = NULL; /* the last dot before cut */
        for (char *p = dotted; p < cut; p++)
            if (*p == '.')
                dot = p;
        cut = dot;
    }
    if (!owner) {
        char *dot = strchr(dotted, '.');
        snprintf(err, errlen, "module '%.*s' is not loaded in the target (callscope imports nothing there)",
                 dot ? (int)(dot - dotted) : (int)strlen(dotted), dotted);
        return NULL;
    }
    if (!*rest) {
        snprintf(err, errlen, "'%s' is a module: name a function in it", dotted);
        return NULL;
    }
    PyObject *v = owner;
    char path[512];
    snprintf(path, sizeof path, "%.*s", (int)(rest - dotted - 1), dotted);
    for (char *word = rest; word && *word;) {
        char *dot = strchr(word, '.');
        if (dot)
            *dot = 0;
        if (!PyModule_Check(v) && !PyType_Check(v)) {
            snprintf(err, errlen, "'%s' is not a module or class, so it has no '%s'", path, word);
            return NULL;
        }
        PyObject *next = member(v, word);
        if (!next) {
            PyErr_Clear();
            snprintf(err, errlen, "'%s' has no attribute '%s'", path, word);
            return NULL;
        }
        size_t used = strlen(path);
        snprintf(path + used, sizeof path - used, ".%s", word);
        v = next;
        word = dot ? dot + 1 : NULL;
    }
    PyObject *fn = cs_live_underlying_function(v);
    if (!fn) {
        if (PyType_Check(v))
            snprintf(err, errlen, "'%s' is a class: name one of its methods (e.g. %s.__init__)", path, path);
        else if (PyCFunction_Check(v) || Py_TYPE(v) == &PyMethodDescr_Type)
            snprintf(err, errlen, "'%s' is a built-in function: only Python functions can be observed", path);
        else
            snprintf(err, errlen, "'%s' is a %s, not a function", path, Py_TYPE(v)->tp_name);
        return NULL;
    }
    PyObject *code = PyFunction_GET_CODE(fn);
    if (nested && nested[0]) {
        code = nested_code((PyCodeObject *)code, nested, 0);
        if (!code) {
            snprintf(err, errlen, "'%s' defines no function named '%s'", path, nested);
            return NULL;
        }
        size_t used = strlen(path);
        snprintf(path + used, sizeof path - used, ".<locals>.%s", nested);
    }
    snprintf(name_out, name_size, "%s", path);
    return PyTuple_Pack(1, code);
}
