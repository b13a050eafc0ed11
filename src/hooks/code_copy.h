/*
 * code_copy.h — observing a function on 3.11 by its code object's copy.
 *
 * 3.11 runs Python-to-Python calls inline, where no hook of a C extension
 * is called (a frame evaluator would stop the inlining, at a cost to every
 * call of the program). What an observed function runs, though, is its
 * code object's bytecode: callscope makes a copy of that code object with
 * a few instructions after its RESUME that call callscope's entry hook, and
 * puts the copy wherever the program holds the original — in every function
 * object, and among the constants of the code that makes new ones (nested
 * functions). The copy's exception table is shifted past them and its
 * location table marks them as having no location, so tracebacks, line
 * events of a tracer, `inspect.signature` and pickling are as before; only
 * `f.__code__` is another object (with the same names, lines and
 * behaviour) while observed. Generators' and coroutines' code is not
 * copied: a copy would see only their first step.
 */
#ifndef CALLSCOPE_HOOKS_CODE_COPY_H
#define CALLSCOPE_HOOKS_CODE_COPY_H

#include "py/compat.h"
#if CS_PY_LIVE_BY_CODE_COPY

/* A copy of `code` that calls `hook()` (with no arguments, its result
 * dropped) each time a frame of it starts; NULL with a Python error set
 * when the code is not of a shape this understands. */
PyObject *cs_code_copy_with_hook(PyCodeObject *code, PyObject *hook);

/* Puts `to` in place of `from` in every function object of the
 * interpreter and in the constants of their code. Allocates nothing. */
void cs_code_replace_everywhere(PyObject *from, PyObject *to);

#endif
#endif
