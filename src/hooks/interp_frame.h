/*
 * interp_frame.h — reading the frames the interpreter runs.
 *
 * From 3.11 a running Python function is a _PyInterpreterFrame, which the
 * frame evaluator (frame_evaluator.c) is handed and sys.monitoring callbacks
 * (family_monitoring.c) find as the thread's current frame; a frame object
 * only points to it. Before 3.11 the frame object is the frame, and both
 * the evaluator and the profile function are handed it. Its layout moves
 * between versions; what callscope reads of it is here, once.
 */
#ifndef CALLSCOPE_INTERP_FRAME_H
#define CALLSCOPE_INTERP_FRAME_H

#include <Python.h>
#include <stdint.h>

#if PY_VERSION_HEX >= 0x030B0000
#define Py_BUILD_CORE 1
#include "internal/pycore_code.h"
#include "internal/pycore_frame.h"
#undef Py_BUILD_CORE
#include <opcode.h> /* RETURN_GENERATOR */
typedef _PyInterpreterFrame cs_frame;
#else
#include <frameobject.h>
typedef PyFrameObject cs_frame;
#endif

#include "capture/recorder.h"

#if PY_VERSION_HEX >= 0x030B0000
static inline cs_frame *cs_current_frame(void)
{
    PyThreadState *ts = PyThreadState_GET();
#if PY_VERSION_HEX >= 0x030D0000
    return ts->current_frame;
#else
    return ts->cframe->current_frame;
#endif
}
#endif

static inline PyCodeObject *cs_frame_code(cs_frame *f)
{
#if PY_VERSION_HEX >= 0x030D0000
    return (PyCodeObject *)f->f_executable;
#else
    return f->f_code;
#endif
}

static inline PyObject **cs_frame_locals(cs_frame *f)
{
#if PY_VERSION_HEX >= 0x030B0000
    return f->localsplus;
#else
    return f->f_localsplus;
#endif
}

/* The argument values (borrowed; NULL for an empty slot). */
static inline void cs_frame_args(cs_frame *f, PyCodeObject *code, int n, PyObject **out)
{
    PyObject **locals = cs_frame_locals(f);
    for (int i = 0; i < n; i++) {
        PyObject *v = locals[i];
#if PY_VERSION_HEX >= 0x030B0000
        /* One captured by a closure has been wrapped in a cell in its own
         * slot by the time the frame runs. */
        if (v && PyCell_Check(v) && (_PyLocals_GetKind(code->co_localspluskinds, i) & CO_FAST_CELL))
            v = PyCell_GET(v);
#else
        /* Before 3.11 the cell takes the value and the local slot is empty. */
        if (!v && code->co_cell2arg) {
            Py_ssize_t ncells = PyTuple_GET_SIZE(code->co_cellvars);
            for (Py_ssize_t c = 0; c < ncells; c++)
                if (code->co_cell2arg[c] == i) {
                    PyObject *cell = locals[code->co_nlocals + c];
                    v = cell && PyCell_Check(cell) ? PyCell_GET(cell) : NULL;
                }
        }
#endif
        out[i] = v;
    }
}

/* Whether the frame is a generator's, coroutine's or async generator's. */
static inline int cs_frame_of_generator(cs_frame *f)
{
#if PY_VERSION_HEX >= 0x030B0000
    return f->owner == FRAME_OWNED_BY_GENERATOR;
#else
    return f->f_gen != NULL;
#endif
}

#if PY_VERSION_HEX >= 0x030B0000
/* The object a generator's frame is stored in. */
static inline PyGenObject *cs_frame_generator(cs_frame *f)
{
    return (PyGenObject *)((char *)f - offsetof(PyGenObject, gi_iframe));
}
#endif

/* Whether a generator's frame is about to run for the first time. */
static inline int cs_frame_just_created(cs_frame *f)
{
#if PY_VERSION_HEX >= 0x030D0000
    return _Py_OPCODE(f->instr_ptr[-1]) == RETURN_GENERATOR;
#elif PY_VERSION_HEX >= 0x030B0000
    /* It stopped right after making the generator object. */
    return _Py_OPCODE(*f->prev_instr) == RETURN_GENERATOR;
#else
    return f->f_lasti < 0;
#endif
}

/* Whether a generator's frame that returns, or has just left its
 * evaluator, is suspended (a yield or an await) rather than finished. */
static inline int cs_frame_suspended(cs_frame *f)
{
#if PY_VERSION_HEX >= 0x030C0000
    return !FRAME_STATE_FINISHED(cs_frame_generator(f)->gi_frame_state);
#elif PY_VERSION_HEX >= 0x030B0000
    /* 3.11 marks it completed only after the evaluator has returned. */
    return cs_frame_generator(f)->gi_frame_state == FRAME_SUSPENDED;
#elif PY_VERSION_HEX >= 0x030A0000
    return f->f_state == FRAME_SUSPENDED;
#else
    return f->f_stacktop != NULL; /* where a yield saved its stack */
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
    const struct cs_code_extra_slots *e = (const struct cs_code_extra_slots *)code->co_extra;
    return e && cs_code_extra_index < e->size ? e->slots[cs_code_extra_index] : NULL;
}

/* The helpers below take the frame that starts: the running one for the
 * hooks' callbacks, the one about to run for the evaluator. They are out of
 * line so the common paths need no large stack frame. */

/* The first start of a code object in this session: is it traced? */
struct cs_code_info *cs_frame_resolve(PyCodeObject *code, cs_frame *f);
/* A call with its arguments; or with --no-args, the uncommon case (a new
 * chunk, a function's first use, or the start of a thread, whose `self`
 * names it). */
void cs_frame_record_call(struct cs_thread *t, struct cs_code_info *ci, PyCodeObject *code, cs_frame *f,
                          uint64_t now);
/* Every new thread starts in code that names it (ci->names_thread), even
 * when that code is not traced. */
void cs_frame_name_thread(struct cs_thread *t, PyCodeObject *code, cs_frame *f);

#endif
