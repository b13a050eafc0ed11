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

#endif
