/*
 * compat.h — everything callscope reads of the interpreter that differs
 * between CPython versions, and the only place that tests PY_VERSION_HEX
 * for it.
 *
 * The hooks read interpreter frames, thread states and objects directly on
 * the hot path, where the public API would cost a call and its checks per
 * event. Those layouts move between versions (and some live in internal
 * headers), so each is reached through one small inline accessor here.
 * Other files test the version only to choose a whole hook family
 * (CS_PY_HAS_MONITORING) or a piece of one.
 *
 *   3.8–3.10  frames are frame objects; f_localsplus; cell2arg
 *   3.11      _PyInterpreterFrame; cframe->current_frame; prev_instr
 *   3.12      sys.monitoring; c_recursion_remaining; PyErr_GetRaisedException
 *   3.13      f_executable, instr_ptr, ts->current_frame; __init__ frames
 *             run past the frame evaluator (CALL_ALLOC_AND_ENTER_INIT)
 *   3.14      frame structs in their own header; f_executable and
 *             localsplus hold tagged stack references; the C recursion
 *             count is gone (the interpreter checks the stack pointer)
 *   3.15      frame states renumbered (FRAME_CLEARED is the finished one);
 *             PY_UNWIND and PY_THROW may be local events
 */
#ifndef CALLSCOPE_PY_COMPAT_H
#define CALLSCOPE_PY_COMPAT_H

#include <Python.h>
#include <stdint.h>

#if PY_VERSION_HEX < 0x03080000
#error "callscope needs CPython 3.8 or later"
#endif
/* A free-threaded interpreter runs frames without the GIL callscope's
 * per-thread state and code extras rely on. `make` stops here; the CLI and
 * the Python package say the same in one line before trying to load it. */
#ifdef Py_GIL_DISABLED
#error "callscope does not support free-threaded CPython builds (Py_GIL_DISABLED); use the default build"
#endif

#define CS_PY_AT_LEAST(major, minor) (PY_VERSION_HEX >= (((major) << 24) | ((minor) << 16)))

/* Code objects know their qualified name (before, it is worked out from
 * the first argument's class). */
#define CS_PY_CODE_HAS_QUALNAME CS_PY_AT_LEAST(3, 11)
/* sys.monitoring (PEP 669): the family of hooks of 3.12 and later. */
#define CS_PY_HAS_MONITORING CS_PY_AT_LEAST(3, 12)
/* 3.13 only: CALL_ALLOC_AND_ENTER_INIT runs a plain class's __init__ past
 * any frame evaluator (3.14 no longer specialises calls under one). */
#define CS_PY_INIT_PAST_EVALUATOR (CS_PY_AT_LEAST(3, 13) && !CS_PY_AT_LEAST(3, 14))
/* The interpreter can visit the objects its collector tracks without
 * building a list of them (PyUnstable_GC_VisitObjects). */
#define CS_PY_HAS_GC_VISIT CS_PY_AT_LEAST(3, 12)

/* How many digits an int holds: its size is that many tp_itemsize beyond
 * tp_basicsize. */
static inline long long cs_long_digit_count(PyObject *o)
{
#if CS_PY_AT_LEAST(3, 12)
    return (long long)(((PyLongObject *)o)->long_value.lv_tag >> 3);
#else
    return Py_SIZE(o) < 0 ? -(long long)Py_SIZE(o) : (long long)Py_SIZE(o);
#endif
}

/* Dicts carry the version tag of PEP 509, changed by every change of their
 * contents (3.14 replaced it with a watcher tag that is not). */
#define CS_PY_HAS_DICT_VERSION (!CS_PY_AT_LEAST(3, 14))

#if CS_PY_HAS_DICT_VERSION
static inline uint64_t cs_dict_version(PyObject *d)
{
    /* deprecated for readers since 3.12, and still kept by every mutation */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    return ((PyDictObject *)d)->ma_version_tag;
#pragma GCC diagnostic pop
}
#endif

/* The interpreter the calling thread runs in. */
static inline const PyInterpreterState *cs_interpreter(void)
{
#if CS_PY_AT_LEAST(3, 9)
    return PyInterpreterState_Get();
#else
    return PyThreadState_GET()->interp;
#endif
}

/* A dict whose keys and values are all in its own table (not a split table
 * sharing keys with other instances' dicts). */
static inline int cs_dict_is_combined(PyObject *d)
{
    return ((PyDictObject *)d)->ma_values == NULL;
}

/* sys.monitoring accepts PY_UNWIND and PY_THROW as local events (3.15):
 * exceptions are then reported for the instrumented code alone. */
#define CS_PY_LOCAL_UNWIND CS_PY_AT_LEAST(3, 15)

/* Before 3.11 the interpreter calls its frame evaluator for every frame
 * anyway, so one of callscope's in front costs other code almost nothing
 * (docs/live.md has the numbers); from 3.11 it stops Python calls from
 * running inline. The live hooks of 3.8 to 3.10 are built on it. */
#define CS_PY_LIVE_BY_EVALUATOR (!CS_PY_AT_LEAST(3, 11))

/* 3.11 runs Python calls inline, past any frame evaluator (and one in place
 * would stop that, at a cost to every call): its live hooks put a copy of
 * the observed code, with a call to callscope at its start, in place of the
 * original (hooks/code_copy.h). */
#define CS_PY_LIVE_BY_CODE_COPY (CS_PY_AT_LEAST(3, 11) && !CS_PY_AT_LEAST(3, 12))

/* Before 3.12 the StopIteration a generator lets out becomes RuntimeError
 * (PEP 479) only after its frame has left the frame evaluator. */
#define CS_PY_STOP_CONVERTED_LATE (!CS_PY_AT_LEAST(3, 12))

/* ---- internal headers ---- */

#if CS_PY_AT_LEAST(3, 11)
#define Py_BUILD_CORE 1
/* Internal headers are written for the interpreter's own warning flags. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "internal/pycore_code.h"
#include "internal/pycore_frame.h"
#if CS_PY_LIVE_BY_CODE_COPY
/* (Python.h defined the public spelling of these already) */
#undef _PyGC_FINALIZED
#include "internal/pycore_gc.h"
#include "internal/pycore_interp.h"
#endif
#if CS_PY_AT_LEAST(3, 14)
#include "internal/pycore_interpframe.h"
#include "internal/pycore_stackref.h"
#endif
#pragma GCC diagnostic pop
#undef Py_BUILD_CORE
#include <opcode.h> /* RETURN_GENERATOR, RESUME */
typedef _PyInterpreterFrame cs_frame;
#else
#if !CS_PY_AT_LEAST(3, 9)
#define Py_BUILD_CORE 1
#include "internal/pycore_pystate.h" /* the interpreter's evaluator */
#undef Py_BUILD_CORE
#endif
#include <frameobject.h>
typedef PyFrameObject cs_frame;
#endif

#ifndef Py_NewRef
static inline PyObject *cs_py_new_ref(PyObject *o)
{
    Py_INCREF(o);
    return o;
}
#define Py_NewRef(o) cs_py_new_ref((PyObject *)(o))
#endif

/* ---- interpreter frames ---- */

#if CS_PY_AT_LEAST(3, 11)
/* The running frame of the calling thread. */
static inline cs_frame *cs_current_frame(void)
{
    PyThreadState *ts = PyThreadState_GET();
#if CS_PY_AT_LEAST(3, 13)
    return ts->current_frame;
#else
    return ts->cframe->current_frame;
#endif
}
#endif

/* The frame another thread runs now, as a frame object (new reference, or
 * NULL when it runs none). The GIL is held, so that thread is not running. */
static inline PyFrameObject *cs_thread_frame(PyThreadState *ts)
{
#if CS_PY_AT_LEAST(3, 9)
    return PyThreadState_GetFrame(ts);
#else
    Py_XINCREF(ts->frame);
    return ts->frame;
#endif
}

/* The kernel's id of the thread a thread state belongs to, or -1 on
 * Pythons that do not keep it (before 3.11: threading's Thread has it). */
static inline long long cs_thread_native_id(PyThreadState *ts)
{
#if CS_PY_AT_LEAST(3, 11)
    return (long long)ts->native_thread_id;
#else
    (void)ts;
    return -1;
#endif
}

/* What a frame slot holds, as a borrowed object or NULL. From 3.14 slots
 * are tagged stack references; an empty one, or a tagged int (which the
 * interpreter keeps only for its own loop state), reads as NULL. */
#if CS_PY_AT_LEAST(3, 14)
typedef _PyStackRef cs_slot;
static inline PyObject *cs_slot_object(cs_slot s)
{
    if (PyStackRef_IsNull(s) || PyStackRef_IsTaggedInt(s))
        return NULL;
    return PyStackRef_AsPyObjectBorrow(s);
}
#else
typedef PyObject *cs_slot;
static inline PyObject *cs_slot_object(cs_slot s)
{
    return s;
}
#endif

static inline PyCodeObject *cs_frame_code(cs_frame *f)
{
#if CS_PY_AT_LEAST(3, 14)
    return (PyCodeObject *)PyStackRef_AsPyObjectBorrow(f->f_executable);
#elif CS_PY_AT_LEAST(3, 13)
    return (PyCodeObject *)f->f_executable;
#else
    return f->f_code;
#endif
}

/* The frame's globals (borrowed). */
static inline PyObject *cs_frame_globals(cs_frame *f)
{
    return f->f_globals;
}

/* Local slot i, before any cell the frame made of it is looked through. */
static inline PyObject *cs_frame_slot(cs_frame *f, int i)
{
#if CS_PY_AT_LEAST(3, 11)
    return cs_slot_object(f->localsplus[i]);
#else
    return f->f_localsplus[i];
#endif
}

/* The argument values (borrowed; NULL for an empty slot). */
static inline void cs_frame_args(cs_frame *f, PyCodeObject *code, int n, PyObject **out)
{
    for (int i = 0; i < n; i++) {
        PyObject *v = cs_frame_slot(f, i);
#if CS_PY_AT_LEAST(3, 11)
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
                    PyObject *cell = cs_frame_slot(f, (int)(code->co_nlocals + c));
                    v = cell && PyCell_Check(cell) ? PyCell_GET(cell) : NULL;
                }
        }
#endif
        out[i] = v;
    }
}

/* The argument names, in order, as a tuple (new reference). */
static inline PyObject *cs_code_arg_names(PyCodeObject *code, int nargs)
{
#if CS_PY_AT_LEAST(3, 11)
    return PyTuple_GetSlice(code->co_localsplusnames, 0, nargs);
#else
    return PyTuple_GetSlice(code->co_varnames, 0, nargs);
#endif
}

/* The position of the argument called `name` among the first nargs, or -1.
 * The names are the code's own str objects: comparing runs no program code,
 * and allocates nothing (a condition looks a parameter up on every call). */
static inline int cs_code_arg_index(PyCodeObject *code, int nargs, const char *name)
{
#if CS_PY_AT_LEAST(3, 11)
    PyObject *names = code->co_localsplusnames;
#else
    PyObject *names = code->co_varnames;
#endif
    for (int i = 0; i < nargs && i < PyTuple_GET_SIZE(names); i++) {
        PyObject *n = PyTuple_GET_ITEM(names, i);
        if (PyUnicode_CheckExact(n) && PyUnicode_CompareWithASCIIString(n, name) == 0)
            return i;
    }
    return -1;
}

/* Whether the frame is a generator's, coroutine's or async generator's. */
static inline int cs_frame_of_generator(cs_frame *f)
{
#if CS_PY_AT_LEAST(3, 11)
    return f->owner == FRAME_OWNED_BY_GENERATOR;
#else
    return f->f_gen != NULL;
#endif
}

#if CS_PY_AT_LEAST(3, 11)
/* The object a generator's frame is stored in. */
static inline PyGenObject *cs_frame_generator(cs_frame *f)
{
    return (PyGenObject *)((char *)f - offsetof(PyGenObject, gi_iframe));
}
#endif

/* Whether a generator's frame is about to run for the first time. */
static inline int cs_frame_just_created(cs_frame *f)
{
#if CS_PY_AT_LEAST(3, 13)
    return _Py_OPCODE(f->instr_ptr[-1]) == RETURN_GENERATOR;
#elif CS_PY_AT_LEAST(3, 11)
    /* It stopped right after making the generator object. */
    return _Py_OPCODE(*f->prev_instr) == RETURN_GENERATOR;
#else
    return f->f_lasti < 0;
#endif
}

/* Whether a generator's frame that returns, or has just left its
 * evaluator, is suspended (a yield or an await) rather than finished.
 * FRAME_STATE_FINISHED follows the renumbering of 3.15. */
static inline int cs_frame_suspended(cs_frame *f)
{
#if CS_PY_AT_LEAST(3, 12)
    return !FRAME_STATE_FINISHED(cs_frame_generator(f)->gi_frame_state);
#elif CS_PY_AT_LEAST(3, 11)
    /* 3.11 marks it completed only after the evaluator has returned. */
    return cs_frame_generator(f)->gi_frame_state == FRAME_SUSPENDED;
#elif CS_PY_AT_LEAST(3, 10)
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

/* The API's names for co_extra (unstable from 3.12, private before). */
#if CS_PY_AT_LEAST(3, 12)
#define cs_request_code_extra_index PyUnstable_Eval_RequestCodeExtraIndex
#define cs_code_get_extra PyUnstable_Code_GetExtra
#define cs_code_set_extra PyUnstable_Code_SetExtra
#else
#define cs_request_code_extra_index _PyEval_RequestCodeExtraIndex
#define cs_code_get_extra _PyCode_GetExtra
#define cs_code_set_extra _PyCode_SetExtra
#endif

static inline void *cs_code_extra_at(PyCodeObject *code, Py_ssize_t index)
{
    const struct cs_code_extra_slots *e = (const struct cs_code_extra_slots *)code->co_extra;
    return e && index < e->size ? e->slots[index] : NULL;
}

/* ---- frame objects (the profile function's frames, before 3.12) ---- */

#if !CS_PY_HAS_MONITORING
/* The interpreter frame a frame object stands for. */
static inline cs_frame *cs_frame_of_object(PyFrameObject *f)
{
#if CS_PY_AT_LEAST(3, 11)
    return f->f_frame;
#else
    return f;
#endif
}

/* Whether a frame object's PY_START-like profile event is a resume (the
 * frame has run before: a generator after a yield or an await). */
static inline int cs_frame_object_resumed(PyFrameObject *f)
{
#if CS_PY_AT_LEAST(3, 11)
    /* The event fires at the frame's RESUME instruction, whose argument is
     * 0 at the start of the function and non-zero after a yield or await. */
    _Py_CODEUNIT instr = *f->f_frame->prev_instr;
    int op = _Py_OPCODE(instr);
    if (op == RESUME || op == RESUME_QUICK)
        return _Py_OPARG(instr) != 0;
    return _PyInterpreterFrame_LASTI(f->f_frame) > 2;
#else
    return f->f_lasti >= 0;
#endif
}

/* Sets (or, with NULL, clears) a thread's C profile function. */
static inline void cs_set_thread_profile(PyThreadState *ts, Py_tracefunc fn)
{
#if CS_PY_AT_LEAST(3, 9)
    _PyEval_SetProfile(ts, fn, NULL);
#else
    PyObject *old = ts->c_profileobj;
    ts->c_profilefunc = fn;
    ts->c_profileobj = NULL;
    ts->use_tracing = (fn != NULL) || (ts->c_tracefunc != NULL);
    Py_XDECREF(old);
#endif
}
#endif

#if CS_PY_LIVE_BY_EVALUATOR
/* The same without the sys.setprofile audit event, which would run the
 * program's audit hooks: for a profile function set and cleared around
 * one call, where a thread had none. */
static inline void cs_set_thread_profile_unaudited(PyThreadState *ts, Py_tracefunc fn)
{
    ts->c_profilefunc = fn;
    ts->c_profileobj = NULL;
#if CS_PY_AT_LEAST(3, 10)
    ts->cframe->use_tracing = (fn != NULL) || (ts->c_tracefunc != NULL);
#else
    ts->use_tracing = (fn != NULL) || (ts->c_tracefunc != NULL);
#endif
}
#endif

/* The calling frame of a frame object (new reference, or NULL). */
static inline PyFrameObject *cs_frame_object_back(PyFrameObject *f)
{
#if CS_PY_AT_LEAST(3, 9)
    return PyFrame_GetBack(f);
#else
    Py_XINCREF(f->f_back);
    return f->f_back;
#endif
}

/* ---- the frame evaluator (PEP 523) ---- */

#if CS_PY_AT_LEAST(3, 9)
#define cs_eval_call(fn, ts, f, throwflag) (fn)((ts), (f), (throwflag))
#define cs_eval_func_get _PyInterpreterState_GetEvalFrameFunc
#define cs_eval_func_set _PyInterpreterState_SetEvalFrameFunc
/* How an evaluator of callscope's is declared. */
#define CS_EVALUATOR(name) PyObject *name(PyThreadState *ts, cs_frame *f, int throwflag)
#define CS_EVALUATOR_ENTRY(name) name
#else
/* 3.8's evaluators are not handed the thread, and it has no accessors. */
#define cs_eval_call(fn, ts, f, throwflag) ((void)(ts), (fn)((f), (throwflag)))
static inline _PyFrameEvalFunction cs_eval_func_get(PyInterpreterState *interp)
{
    return interp->eval_frame;
}
static inline void cs_eval_func_set(PyInterpreterState *interp, _PyFrameEvalFunction fn)
{
    interp->eval_frame = fn;
}
#define CS_EVALUATOR(name)                                                                                             \
    PyObject *name##_with_thread(PyThreadState *ts, cs_frame *f, int throwflag);                                       \
    static PyObject *name##_38(PyFrameObject *f, int throwflag)                                                        \
    {                                                                                                                  \
        return name##_with_thread(PyThreadState_GET(), f, throwflag);                                                  \
    }                                                                                                                  \
    static PyObject *name##_with_thread(PyThreadState *ts, cs_frame *f, int throwflag)
#define CS_EVALUATOR_ENTRY(name) name##_38
#endif

/* ---- a pending exception, kept aside ---- */

struct cs_pending {
#if CS_PY_AT_LEAST(3, 12)
    PyObject *exc;
#else
    PyObject *type, *value, *tb;
#endif
};

static inline struct cs_pending cs_pending_set_aside(void)
{
    struct cs_pending p;
#if CS_PY_AT_LEAST(3, 12)
    p.exc = PyErr_GetRaisedException();
#else
    PyErr_Fetch(&p.type, &p.value, &p.tb);
#endif
    return p;
}

/* Its type, when it is known apart from the value (before 3.12), else
 * NULL; and its value (borrowed; before 3.12 possibly not normalised). */
static inline PyObject *cs_pending_type(struct cs_pending p)
{
#if CS_PY_AT_LEAST(3, 12)
    (void)p;
    return NULL;
#else
    return p.type;
#endif
}

static inline PyObject *cs_pending_value(struct cs_pending p)
{
#if CS_PY_AT_LEAST(3, 12)
    return p.exc;
#else
    return p.value;
#endif
}

static inline void cs_pending_restore(struct cs_pending p)
{
#if CS_PY_AT_LEAST(3, 12)
    PyErr_SetRaisedException(p.exc);
#else
    PyErr_Restore(p.type, p.value, p.tb);
#endif
}

/* ---- C recursion through an evaluator (see hooks/eval_guard.h) ----
 *
 * CS_RECURSION_COUNTED: the interpreter counts C recursion in a field of
 * the thread state, which an evaluator entry charges; from 3.14 it checks
 * the stack pointer against the thread's stack limits instead, so an
 * evaluator's frames are charged for exactly the stack they take. */
#define CS_RECURSION_COUNTED (!CS_PY_AT_LEAST(3, 14))
#if CS_PY_AT_LEAST(3, 14)
#elif CS_PY_AT_LEAST(3, 12)
#define CS_RECURSION_REMAINING(ts) ((ts)->c_recursion_remaining)
/* What an entry into the interpreter's own evaluator charges the count
 * (PY_EVAL_C_STACK_UNITS in CPython's ceval.c, 3.12 and 3.13). */
#define CS_EVAL_ENTRY_UNITS 2
#elif CS_PY_AT_LEAST(3, 11)
#define CS_RECURSION_REMAINING(ts) ((ts)->recursion_remaining)
#else
/* Before 3.11: a depth that counts up to the recursion limit. */
#define CS_RECURSION_DEPTH(ts) ((ts)->recursion_depth)
#if CS_PY_AT_LEAST(3, 10)
#define CS_RECURSION_CLEAR_OVERFLOW(ts) ((void)(ts))
#else
/* else 3.8 and 3.9 let the count past its limit once it overflowed */
#define CS_RECURSION_CLEAR_OVERFLOW(ts) ((ts)->overflowed = 0)
#endif
#endif

/* ---- types ---- */

/* A type's own dict (new reference, or NULL). From 3.12 a static built-in
 * type keeps it in the interpreter, and tp_dict is NULL. */
static inline PyObject *cs_type_dict(PyTypeObject *t)
{
#if CS_PY_AT_LEAST(3, 12)
    return PyType_GetDict(t);
#else
    Py_XINCREF(t->tp_dict);
    return t->tp_dict;
#endif
}

/* The dict that holds an object's attributes (borrowed), or NULL when it
 * has none or keeps them as inline values (3.11+), whose names are its
 * class's shared keys and so always exact str. Never creates the dict, as
 * _PyObject_GetDictPtr does from 3.11 for an object with inline values
 * (which would also stop their use for good). */
static inline PyObject *cs_instance_dict(PyObject *obj)
{
#if CS_PY_AT_LEAST(3, 11)
    if (Py_TYPE(obj)->tp_flags & Py_TPFLAGS_MANAGED_DICT) {
#if CS_PY_AT_LEAST(3, 13)
        /* MANAGED_DICT_OFFSET, three words before the object */
        return ((PyObject **)obj)[-3];
#elif CS_PY_AT_LEAST(3, 12)
        /* a PyDictOrValues three words before the object: values when
         * its low bit is set (pycore_object.h) */
        uintptr_t dict_or_values = ((uintptr_t *)obj)[-3];
        return dict_or_values & 1 ? NULL : (PyObject *)dict_or_values;
#else
        /* the values pointer four words before the object, the dict three
         * (pycore_object.h) */
        return ((void **)obj)[-4] ? NULL : ((PyObject **)obj)[-3];
#endif
    }
#endif
    PyObject **slot = _PyObject_GetDictPtr(obj);
    return slot ? *slot : NULL;
}

/* ---- texts ---- */

/* Before 3.12 a str made by the legacy wchar_t API gets its length and
 * kind on first use: 0, or -1 with an error. */
static inline int cs_str_ready(PyObject *s)
{
#if CS_PY_AT_LEAST(3, 12)
    (void)s;
    return 0;
#else
    return PyUnicode_READY(s);
#endif
}

/* ---- ints ---- */

/* Reads a small int straight from its object: most arguments and results
 * are small ints, and this spares them a call into the interpreter. */
static inline int cs_small_int(PyObject *v, int64_t *out)
{
#if CS_PY_AT_LEAST(3, 12)
    /* A "compact" int holds at most one digit, with its sign in the tag. */
    if (!PyUnstable_Long_IsCompact((PyLongObject *)v))
        return 0;
    *out = (int64_t)PyUnstable_Long_CompactValue((PyLongObject *)v);
    return 1;
#else
    /* The size's sign is the int's sign, its magnitude the digits. */
    Py_ssize_t size = Py_SIZE(v);
    if (size < -1 || size > 1)
        return 0;
    *out = size * (int64_t)((PyLongObject *)v)->ob_digit[0];
    return 1;
#endif
}

#endif
