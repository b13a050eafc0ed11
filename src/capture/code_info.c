/*
 * code_info.c — per-code-object facts, kept in co_extra (see code_info.h),
 * and the include/exclude decision made once per code object and session.
 */
#include "code_info.h"

#include "core/event.h"
#include "py/code.h"


struct prefix_list {
    char **items;
    size_t count;
};
static struct prefix_list includes, excludes;

static void free_info(void *p)
{
    struct cs_code_info *ci = p;
    if (!ci)
        return;
    Py_XDECREF(ci->module);
    Py_XDECREF(ci->qualname);
    Py_XDECREF(ci->arg_names);
    PyMem_RawFree(ci);
}

int cs_code_info_init(void)
{
    if (cs_rec.code_extra_index < 0)
        cs_rec.code_extra_index = cs_py_request_code_extra(free_info);
    return cs_rec.code_extra_index < 0 ? -1 : 0;
}

static void list_free(struct prefix_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->count = 0;
}

static int list_parse(struct prefix_list *l, const char *packed)
{
    list_free(l);
    for (const char *s = packed; s && *s; s += strlen(s) + 1) {
        char **grown = realloc(l->items, (l->count + 1) * sizeof *grown);
        if (!grown)
            return -1;
        l->items = grown;
        if (!(l->items[l->count] = strdup(s)))
            return -1;
        l->count++;
    }
    return 0;
}

int cs_filters_set(const char *include_list, const char *exclude_list)
{
    return list_parse(&includes, include_list) || list_parse(&excludes, exclude_list) ? -1 : 0;
}

void cs_filters_clear(void)
{
    list_free(&includes);
    list_free(&excludes);
}

/* A path pattern matches files under it; a module pattern matches the
 * module and its submodules. */
static int matches(const struct prefix_list *l, const char *file, const char *module)
{
    for (size_t i = 0; i < l->count; i++) {
        const char *pat = l->items[i];
        size_t n = strlen(pat);
        if (strchr(pat, '/') || pat[0] == '<') {
            if (file && strncmp(file, pat, n) == 0)
                return 1;
        } else if (module && strncmp(module, pat, n) == 0 && (module[n] == 0 || module[n] == '.')) {
            return 1;
        }
    }
    return 0;
}

static int decide_traced(PyCodeObject *code, const char *module)
{
    const char *file = PyUnicode_Check(code->co_filename) ? PyUnicode_AsUTF8(code->co_filename) : NULL;
    if (!file)
        PyErr_Clear();
    if (matches(&excludes, file, module))
        return 0;
    return includes.count == 0 || matches(&includes, file, module);
}

struct cs_code_info *cs_code_info_of(PyCodeObject *code)
{
    struct cs_code_info *ci = cs_py_code_extra(code, cs_rec.code_extra_index);
    if (ci)
        return ci;
    ci = PyMem_RawCalloc(1, sizeof *ci);
    if (!ci)
        return NULL;
    if (cs_py_set_code_extra(code, cs_rec.code_extra_index, ci) != 0) {
        PyErr_Clear();
        PyMem_RawFree(ci);
        return NULL;
    }
    return ci;
}

static PyObject *module_name(PyObject *globals)
{
    PyObject *name = NULL;
    if (globals && PyDict_Check(globals)) {
        name = PyDict_GetItemString(globals, "__name__");
        if (name && !PyUnicode_Check(name))
            name = NULL;
    }
    if (!name)
        return PyUnicode_FromString("");
    Py_INCREF(name);
    return name;
}

static int is_thread_bootstrap(struct cs_code_info *ci)
{
    return PyUnicode_Check(ci->module) && PyUnicode_CompareWithASCIIString(ci->module, "threading") == 0 &&
           PyUnicode_CompareWithASCIIString(ci->qualname, "Thread._bootstrap_inner") == 0;
}

struct cs_code_info *cs_code_info_named(PyCodeObject *code, PyObject *globals, PyObject *first_arg)
{
    struct cs_code_info *ci = cs_code_info_of(code);
    if (!ci)
        return NULL;
    if (!ci->module) {
        int nargs = code->co_argcount + code->co_kwonlyargcount;
        uint8_t flags = 0;
        if (code->co_flags & CO_VARARGS) {
            nargs++;
            flags |= CS_CODE_VARARGS;
        }
        if (code->co_flags & CO_VARKEYWORDS) {
            nargs++;
            flags |= CS_CODE_VARKEYWORDS;
        }
        if (code->co_flags & (CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR | CO_ITERABLE_COROUTINE))
            flags |= CS_CODE_GENERATOR;
        ci->nargs = (uint16_t)nargs;
        ci->flags = flags;
        ci->module = module_name(globals);
        ci->qualname = cs_py_code_qualname(code, first_arg);
        ci->arg_names = cs_py_code_arg_names(code, nargs);
        if (!ci->module || !ci->qualname || !ci->arg_names) {
            PyErr_Clear();
            Py_CLEAR(ci->module);
            Py_CLEAR(ci->qualname);
            Py_CLEAR(ci->arg_names);
            return NULL;
        }
        ci->names_thread = (uint8_t)is_thread_bootstrap(ci);
    }
    return ci;
}

struct cs_code_info *cs_code_info_resolve(PyCodeObject *code, PyObject *globals, PyObject *first_arg)
{
    struct cs_code_info *ci = cs_code_info_named(code, globals, first_arg);
    if (!ci)
        return NULL;
    const char *module = PyUnicode_AsUTF8(ci->module);
    if (!module)
        PyErr_Clear();
    ci->traced = (uint8_t)decide_traced(code, module);
    ci->id = 0; /* assigned by the recorder from the ring's counter */
    ci->session = cs_rec.session;
    return ci;
}
