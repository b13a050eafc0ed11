/*
 * code_copy.h — observing a function on 3.11 by its code object's copy.
 *
 * 3.11 runs Python-to-Python calls inline, where no hook of a C extension
 * is called (a frame evaluator would stop the inlining, at a cost to every
 * call of the program). What an observed function runs, though, is its
 * code object's bytecode: callscope makes a copy of that code object that
 * calls callscope's hooks where a frame of it starts and, for a generator
 * or coroutine, where it goes on after each yield and await. The copy is
 * put wherever the program holds the original: in every function object,
 * among the constants of the code that makes new ones (nested functions),
 * and in the suspended generators and coroutines made from it. Its
 * exception table and location table are redone to match, so tracebacks,
 * line events of a tracer, `inspect.signature` and pickling are as before;
 * only `f.__code__` (and a suspended generator's `gi_code` and `f_lasti`)
 * is another object while observed, with the same names, lines and
 * behaviour.
 */
#ifndef CALLSCOPE_HOOKS_CODE_COPY_H
#define CALLSCOPE_HOOKS_CODE_COPY_H

#include "py/compat.h"
#if CS_PY_LIVE_BY_CODE_COPY

struct cs_code_copy {
    PyObject *original, *copy; /* strong references */
    unsigned entry_at;         /* the units before it are the same in both */
    /* Where a suspended generator stands in each: at a YIELD_VALUE. */
    Py_ssize_t nmoved;
    struct {
        unsigned original, copy;
    } *moved;
};

/* A copy of `code` that calls `entry_hook()` each time a frame of it
 * starts and `resume_hook()` each time a generator or coroutine of it goes
 * on after a yield or await (with no arguments, their results dropped).
 * -1 with a Python error set when the code is not of a shape this
 * understands. */
int cs_code_copy_make(PyCodeObject *code, PyObject *entry_hook, PyObject *resume_hook, struct cs_code_copy *out);
void cs_code_copy_clear(struct cs_code_copy *c);

/* Puts the copy in place of the original (or back) in every function
 * object of the interpreter, in the constants of their code and in the
 * suspended generators and coroutines. Allocates nothing. */
void cs_code_copy_put_in_place(const struct cs_code_copy *c);
void cs_code_copy_take_back(const struct cs_code_copy *c);

#endif
#endif
