/*
 * interp_frame.h — reading the interpreter's own frames (3.11 and later).
 *
 * From 3.11 a running Python function is a _PyInterpreterFrame, which the
 * frame evaluator (frame_evaluator.c) is handed and sys.monitoring callbacks
 * (family_monitoring.c) find as the thread's current frame. Its layout moves
 * between versions; what callscope reads of it is here, once.
 */
#ifndef CALLSCOPE_INTERP_FRAME_H
#define CALLSCOPE_INTERP_FRAME_H

#include <Python.h>
#if PY_VERSION_HEX >= 0x030B0000

#define Py_BUILD_CORE 1
#include "internal/pycore_code.h"
#include "internal/pycore_frame.h"
#undef Py_BUILD_CORE
#include <opcode.h> /* RETURN_GENERATOR */
#include <stdint.h>

#include "capture/recorder.h"

static inline _PyInterpreterFrame *cs_current_frame(void)
{
    PyThreadState *ts = PyThreadState_GET();
#if PY_VERSION_HEX >= 0x030D0000
    return ts->current_frame;
#else
    return ts->cframe->current_frame;
#endif
}

static inline PyCodeObject *cs_frame_code(_PyInterpreterFrame *f)
{
#if PY_VERSION_HEX >= 0x030D0000
    return (PyCodeObject *)f->f_executable;
#else
    return f->f_code;
#endif
}

/* Arguments sit first in the frame's locals; one captured by a closure
 * has already been wrapped in a cell when the frame starts running. */
static inline void cs_frame_args(_PyInterpreterFrame *f, PyCodeObject *code, int n, PyObject **out)
{
    for (int i = 0; i < n; i++) {
        PyObject *v = f->localsplus[i];
        if (v && PyCell_Check(v) && (_PyLocals_GetKind(code->co_localspluskinds, i) & CO_FAST_CELL))
            v = PyCell_GET(v);
        out[i] = v;
    }
}

/* The generator, coroutine or async generator whose frame this is, or
 * NULL: such a frame is stored inside its object. */
static inline PyGenObject *cs_frame_generator(_PyInterpreterFrame *f)
{
    if (f->owner != FRAME_OWNED_BY_GENERATOR)
        return NULL;
    return (PyGenObject *)((char *)f - offsetof(PyGenObject, gi_iframe));
}

/* Whether a generator's frame is about to run for the first time: it
 * stopped right after making the generator object. */
static inline int cs_frame_just_created(_PyInterpreterFrame *f)
{
#if PY_VERSION_HEX >= 0x030D0000
    return _Py_OPCODE(f->instr_ptr[-1]) == RETURN_GENERATOR;
#else
    return _Py_OPCODE(*f->prev_instr) == RETURN_GENERATOR;
#endif
}

/* Whether a generator's frame that has just left its evaluator is
 * suspended (a yield or an await) rather than finished. */
static inline int cs_generator_suspended(PyGenObject *gen)
{
#if PY_VERSION_HEX >= 0x030C0000
    return !FRAME_STATE_FINISHED(gen->gi_frame_state);
#else
    /* 3.11 marks it completed only after the evaluator has returned. */
    return gen->gi_frame_state == FRAME_SUSPENDED;
#endif
}

/* co_extra points to a size and an array of slots (CPython's
 * codeobject.c, unchanged since 3.6). Reading it directly saves a call and
 * its checks on every event; the slot is only ever set through the API. */
struct cs_code_extra_slots {
    Py_ssize_t size;
    void *slots[1];
};

static inline void *cs_code_extra_of(PyCodeObject *code)
{
    const struct cs_code_extra_slots *e = code->co_extra;
    return e && cs_code_extra_index < e->size ? e->slots[cs_code_extra_index] : NULL;
}

/* The helpers below take the frame that starts: the running one for the
 * sys.monitoring callbacks, the one about to run for the evaluator. They
 * are out of line so the common paths need no large stack frame. */

/* The first start of a code object in this session: is it traced? */
struct cs_code_info *cs_frame_resolve(PyCodeObject *code, _PyInterpreterFrame *f);
/* A call with its arguments; or with --no-args, the uncommon case (a new
 * chunk, a function's first use, or the start of a thread, whose `self`
 * names it). */
void cs_frame_record_call(struct cs_thread *t, struct cs_code_info *ci, PyCodeObject *code,
                          _PyInterpreterFrame *f, uint64_t now);
/* Every new thread starts in code that names it (ci->names_thread), even
 * when that code is not traced. */
void cs_frame_name_thread(struct cs_thread *t, PyCodeObject *code, _PyInterpreterFrame *f);

#endif
#endif
