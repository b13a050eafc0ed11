/*
 * code.h — what a code object says of itself, whatever the Python version:
 * its qualified name and argument names, and a slot for callscope's own data
 * (co_extra). Read without running the program's Python code.
 */
#ifndef CALLSCOPE_PY_CODE_H
#define CALLSCOPE_PY_CODE_H

#include "py/compat.h"

/* The qualified name within its module (new reference). Before 3.11 code
 * objects lack it, so it is worked out from the first argument's class
 * (dictionary lookups only); NULL first_arg gives the bare name there. */
PyObject *cs_py_code_qualname(PyCodeObject *code, PyObject *first_arg);

/* The position of the argument `name` among the first nargs, or -1. */
static inline int cs_py_code_arg_index(PyCodeObject *code, int nargs, const char *name)
{
    return cs_code_arg_index(code, nargs, name);
}

/* The argument names, in order, as a tuple (new reference). */
static inline PyObject *cs_py_code_arg_names(PyCodeObject *code, int nargs)
{
    return cs_code_arg_names(code, nargs);
}

/* Per-code slot for our data (co_extra), through the interpreter's API;
 * the hot path reads it with cs_code_extra_at() (compat.h). */
Py_ssize_t cs_py_request_code_extra(freefunc free_fn);
void *cs_py_code_extra(PyCodeObject *code, Py_ssize_t index);
int cs_py_set_code_extra(PyCodeObject *code, Py_ssize_t index, void *value);

#endif
