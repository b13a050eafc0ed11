/*
 * pattern.h — from a live pattern (`module.Class.method`) to the code
 * objects to observe.
 */
#ifndef CALLSCOPE_LIVE_PATTERN_H
#define CALLSCOPE_LIVE_PATTERN_H

#include <Python.h>

/* A tuple of code objects (new reference) and the function's dotted name
 * in name_out; or NULL with a one-line reason in err (no Python error is
 * left set). `nested` (may be empty) names a function defined inside the
 * target. GIL held. */
PyObject *cs_live_resolve(const char *pattern, const char *nested, char *name_out, size_t name_size, char *err,
                          size_t errlen);

/* The Python function behind a dictionary entry of a module or class: the
 * entry itself, or what a method, staticmethod, classmethod, property
 * (its getter), functools.wraps decorator or C wrapper naming what it wraps
 * (functools.lru_cache) holds (borrowed); NULL when there is none. Reads C
 * fields and dictionaries only. GIL held. */
PyObject *cs_live_underlying_function(PyObject *v);

/* dict[name] for an exact str key equal to name (UTF-8), found by walking
 * the dict: no key is hashed or compared, so a key of the program's type
 * never has its __eq__ run. Looks at no more than max_scan entries (< 0:
 * all). Borrowed, or NULL. */
PyObject *cs_live_dict_str_item(PyObject *dict, const char *name, Py_ssize_t max_scan);

#endif
