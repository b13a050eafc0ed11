/*
 * family_monitoring.c — Python 3.12 and later: sys.monitoring (PEP 669), or
 * when everything is traced the frame evaluator (PEP 523) for Python functions
 * (see "the frame evaluator" below).
 *
 * callscope takes a tool id of its own, so debuggers, coverage and cProfile
 * keep theirs. Callbacks are C functions; arguments are read straight from
 * the interpreter frame that is starting. Code the filters skip answers
 * DISABLE, so the interpreter stops reporting it at all.
 */
#include <Python.h>
#if PY_VERSION_HEX >= 0x030C0000

#define Py_BUILD_CORE 1
#include "internal/pycore_frame.h"
#undef Py_BUILD_CORE
#include <opcode.h> /* RETURN_GENERATOR */
#include <stdint.h>

#include "capture/recorder.h"
#include "hooks/eval_guard.h"
#include "hooks/family.h"

static int tool_id = -1;
static PyObject *disable; /* sys.monitoring.DISABLE */

static inline _PyInterpreterFrame *current_frame(void)
{
    PyThreadState *ts = PyThreadState_GET();
#if PY_VERSION_HEX >= 0x030D0000
    return ts->current_frame;
#else
    return ts->cframe->current_frame;
#endif
}

static inline PyObject *frame_globals(_PyInterpreterFrame *f)
{
    return f->f_globals;
}

/* Arguments sit first in the frame's locals; one captured by a closure
 * has already been wrapped in a cell when the start event fires. */
static inline void frame_args(_PyInterpreterFrame *f, PyCodeObject *code, int n, PyObject **out)
{
    for (int i = 0; i < n; i++) {
        PyObject *v = f->localsplus[i];
        if (v && PyCell_Check(v) && (_PyLocals_GetKind(code->co_localspluskinds, i) & CO_FAST_CELL))
            v = PyCell_GET(v);
        out[i] = v;
    }
}

/* co_extra points to a size and an array of slots (CPython's
 * codeobject.c, unchanged since 3.6). Reading it directly saves a call and
 * its checks on every event; the slot is only ever set through the API. */
struct code_extra_slots {
    Py_ssize_t size;
    void *slots[1];
};

static inline void *extra_of(PyObject *code)
{
    const struct code_extra_slots *e = ((PyCodeObject *)code)->co_extra;
    return e && cs_code_extra_index < e->size ? e->slots[cs_code_extra_index] : NULL;
}

#define CALLBACK(name) static PyObject *name(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
#define RETURN_NONE return Py_NewRef(Py_None)

/* The helpers below take the frame that starts: the running one for the
 * sys.monitoring callbacks, the one about to run for the evaluator. They
 * are kept out of line so the common paths need no large stack frame. */

/* The first start of a code object in this session: is it traced? */
static __attribute__((noinline)) struct cs_code_info *resolve(PyCodeObject *code, _PyInterpreterFrame *f)
{
    return cs_recorder_code(code, frame_globals(f), code->co_argcount ? f->localsplus[0] : NULL);
}

/* A call with its arguments; or with --no-args, the uncommon case (a new
 * chunk, a function's first use, or the start of a thread, whose `self`
 * names it). */
static __attribute__((noinline)) void record_frame_call(struct cs_thread *t, struct cs_code_info *ci,
                                                        PyCodeObject *code, _PyInterpreterFrame *f, uint64_t now)
{
    PyObject *argv[256];
    int n = cs_active_no_args ? (ci->names_thread ? 1 : 0) : (ci->nargs > 255 ? 255 : ci->nargs);
    frame_args(f, code, n, argv);
    cs_record_call(t, ci, code, cs_active_no_args && !ci->names_thread ? NULL : argv, now);
}

/* Every new thread starts in code that names it, even when the standard
 * library is not traced. */
static __attribute__((noinline)) void name_thread(struct cs_thread *t, PyCodeObject *code, _PyInterpreterFrame *f)
{
    PyObject *self_arg = NULL;
    frame_args(f, code, 1, &self_arg);
    if (self_arg)
        cs_record_thread_object(t, self_arg);
}

/* The callback's answer: DISABLE stops the interpreter from reporting
 * untraced code again, but only local events may give it. */
static inline PyObject *answer(enum cs_verdict v, int local_event)
{
    return Py_NewRef(v == CS_UNTRACED && local_event ? disable : Py_None);
}

CALLBACK(on_start)
{
    (void)self, (void)nargs;
    uint64_t now = cs_ticks();
    struct cs_thread *t = cs_thread_get();
    if (!t)
        RETURN_NONE;
    PyCodeObject *code = (PyCodeObject *)args[0];
    struct cs_code_info *ci = cs_code_info_current(extra_of(args[0]));
    if (!ci || (!ci->id && ci->traced)) {
        ci = resolve(code, current_frame());
        if (!ci)
            RETURN_NONE;
    }
    enum cs_verdict v = cs_entering(t, ci);
    if (v == CS_RECORD) {
        if (!cs_active_no_args || !cs_record_call_bare(t, ci, now))
            record_frame_call(t, ci, code, current_frame(), now);
    } else if (v == CS_UNTRACED && ci->names_thread) {
        name_thread(t, code, current_frame());
        RETURN_NONE; /* and keep being told: every new thread starts here */
    }
    return answer(v, 1);
}

/* A generator or coroutine resumed (PY_RESUME), or resumed by throw()
 * (PY_THROW, not a local event). */
static PyObject *on_resumed(PyObject *const *args, int local_event)
{
    uint64_t now = cs_ticks();
    struct cs_thread *t = cs_thread_get();
    struct cs_code_info *ci = cs_code_info_current(extra_of(args[0]));
    if (!t || !ci)
        RETURN_NONE;
    enum cs_verdict v = cs_entering(t, ci);
    if (v == CS_RECORD)
        cs_record_resume(t, ci, (PyCodeObject *)args[0], now);
    return answer(v, local_event);
}

enum frame_exit { RETURNED, YIELDED, RAISED };

/* The frame returned or yielded args[2], or (PY_UNWIND, not a local event)
 * let the exception args[2] out. */
static PyObject *on_left(PyObject *const *args, enum frame_exit how)
{
    uint64_t now = cs_ticks();
    struct cs_thread *t = cs_thread_get();
    struct cs_code_info *ci = cs_code_info_current(extra_of(args[0]));
    if (!t || !ci)
        RETURN_NONE;
    enum cs_verdict v = cs_leaving(t, ci);
    if (v == CS_RECORD) {
        if (how == RAISED)
            cs_record_unwind(t, NULL, args[2], now);
        else if (!cs_active_no_args || !cs_record_exit_bare(t, how == YIELDED, now))
            cs_record_exit(t, args[2], how == YIELDED, now);
    }
    return answer(v, how != RAISED);
}

CALLBACK(on_resume)
{
    (void)self, (void)nargs;
    return on_resumed(args, 1);
}

CALLBACK(on_throw)
{
    (void)self, (void)nargs;
    return on_resumed(args, 0);
}

CALLBACK(on_return)
{
    (void)self, (void)nargs;
    return on_left(args, RETURNED);
}

CALLBACK(on_yield)
{
    (void)self, (void)nargs;
    return on_left(args, YIELDED);
}

CALLBACK(on_unwind)
{
    (void)self, (void)nargs;
    return on_left(args, RAISED);
}

#if PY_VERSION_HEX >= 0x030D0000
/* ---- 3.13: __init__ run past the frame evaluator ----
 *
 * 3.13 runs the __init__ of a new instance of a plain class straight from
 * the instruction that makes it (CALL_ALLOC_AND_ENTER_INIT), past any frame
 * evaluator. So with the evaluator (below), every __init__ code also gets
 * local sys.monitoring events. A start that is not the frame the evaluator
 * has just handed on is such a frame, and is recorded here, as is its
 * return, or its unwind: PY_UNWIND cannot be local, so it is reported for
 * every frame, and acted on only for those. The codes are found as the
 * evaluator first meets them, which it always does (an instruction takes
 * that shortcut only after the ordinary call has run for the class once),
 * and at install in the classes that exist already. */
static PyObject *init_monitoring; /* sys.monitoring while the evaluator is in */
static PyObject *init_codes;      /* list of the codes given local events */
static long init_events;          /* PY_START | PY_RETURN */

static void watch_init(PyCodeObject *code)
{
    if (!init_codes || PyUnicode_CompareWithASCIIString(code->co_name, "__init__") != 0)
        return;
    PyObject *pending = PyErr_GetRaisedException();
    PyObject *r = PyObject_CallMethod(init_monitoring, "set_local_events", "iOl", tool_id, code, init_events);
    if (!r || PyList_Append(init_codes, (PyObject *)code) != 0)
        PyErr_Clear();
    Py_XDECREF(r);
    PyErr_SetRaisedException(pending);
}

/* Every class alive now (the __subclasses__ of object, transitively): their
 * __init__ may already be run past the evaluator. */
static void watch_existing_inits(void)
{
    PyObject *classes = PyList_New(0), *seen = PySet_New(NULL);
    if (classes && seen && PyList_Append(classes, (PyObject *)&PyBaseObject_Type) == 0) {
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(classes); i++) {
            PyTypeObject *cls = (PyTypeObject *)PyList_GET_ITEM(classes, i);
            PyObject *init = (cls->tp_flags & Py_TPFLAGS_HEAPTYPE) && cls->tp_dict
                                 ? PyDict_GetItemString(cls->tp_dict, "__init__") : NULL;
            if (init && PyFunction_Check(init))
                watch_init((PyCodeObject *)PyFunction_GET_CODE(init));
            /* type's own method: a class may define __subclasses__ */
            PyObject *subs = PyObject_CallMethod((PyObject *)&PyType_Type, "__subclasses__", "O", (PyObject *)cls);
            for (Py_ssize_t k = 0; subs && k < PyList_GET_SIZE(subs); k++) {
                PyObject *sub = PyList_GET_ITEM(subs, k);
                if (PySet_Contains(seen, sub) == 0 && PySet_Add(seen, sub) == 0)
                    PyList_Append(classes, sub);
            }
            Py_XDECREF(subs);
        }
    }
    PyErr_Clear();
    Py_XDECREF(classes);
    Py_XDECREF(seen);
}

CALLBACK(on_init_start)
{
    struct cs_thread *t = cs_thread_get();
    _PyInterpreterFrame *f = current_frame();
    if (!t)
        RETURN_NONE;
    if (f == t->entering) { /* the evaluator's: it records it */
        t->entering = NULL;
        RETURN_NONE;
    }
    if (t->nbypassed == CS_MAX_BYPASSED)
        RETURN_NONE;
    t->bypassed[t->nbypassed++] = f;
    return on_start(self, args, nargs);
}

static PyObject *on_init_left(PyObject *const *args, enum frame_exit how)
{
    struct cs_thread *t = cs_thread_get();
    if (!t || !t->nbypassed || t->bypassed[t->nbypassed - 1] != current_frame())
        RETURN_NONE;
    t->nbypassed--;
    return on_left(args, how);
}

CALLBACK(on_init_return)
{
    (void)self, (void)nargs;
    return on_init_left(args, RETURNED);
}

CALLBACK(on_init_unwind)
{
    (void)self, (void)nargs;
    return on_init_left(args, RAISED);
}
#endif

/* ---- the frame evaluator: Python functions through PEP 523 ----
 *
 * Every Python frame, started or resumed, is evaluated by the function the
 * interpreter holds; callscope puts its own in front of the one it finds.
 * Reading the clock around that call costs about two thirds of what a
 * sys.monitoring PY_START/PY_RETURN pair does (bench/run.py prints both
 * floors), and the return value or exception is at hand when it returns.
 * The interpreter then no longer runs Python calls inline in one C frame,
 * which is part of that cost, and code the filters leave out pays it too:
 * with --include, --exclude or --no-stdlib the sys.monitoring callbacks
 * above, which switch untraced code off, deliver instead (use_evaluator).
 * Each call through it is C recursion, kept within the thread's stack by
 * eval_guard.h. */

static _PyFrameEvalFunction inner_eval; /* the evaluator found at install */
static int evaluator_installed;
/* Another evaluator was put in front of ours, so stop() could not take
 * ours out: it stays in the chain, passing frames on. */
static int evaluator_stranded;

/* Whether a generator's frame is about to run for the first time: it
 * stopped right after making the generator object (its state already says
 * "executing" when the evaluator is called). */
static inline int just_created(_PyInterpreterFrame *f)
{
#if PY_VERSION_HEX >= 0x030D0000
    return _Py_OPCODE(f->instr_ptr[-1]) == RETURN_GENERATOR;
#else
    return _Py_OPCODE(*f->prev_instr) == RETURN_GENERATOR;
#endif
}

static inline PyCodeObject *code_of(_PyInterpreterFrame *f)
{
#if PY_VERSION_HEX >= 0x030D0000
    return (PyCodeObject *)f->f_executable;
#else
    return f->f_code;
#endif
}

static __attribute__((noinline)) void record_raised(struct cs_thread *t, uint64_t now)
{
    PyObject *exc = PyErr_GetRaisedException();
    cs_record_unwind(t, NULL, exc, now);
    PyErr_SetRaisedException(exc);
}

static PyObject *evaluate(PyThreadState *ts, _PyInterpreterFrame *f, int throwflag)
{
    PyCodeObject *code = code_of(f);
    struct cs_thread *t = cs_recording ? cs_thread_get() : NULL;
    if (!t)
        return inner_eval(ts, f, throwflag);
    struct cs_code_info *ci = cs_code_info_current(extra_of((PyObject *)code));
    PyGenObject *gen = f->owner == FRAME_OWNED_BY_GENERATOR ? _PyFrame_GetGenerator(f) : NULL;
    /* Calling a generator function runs its frame only up to the point
     * where the generator object is made; the call starts when it is
     * first resumed. */
    if (!gen && (code->co_flags & (CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR)))
        return inner_eval(ts, f, throwflag);
    uint64_t now = cs_ticks();
    int resumed = gen && !just_created(f);
    if (!ci || (!ci->id && ci->traced)) {
        ci = resolve(code, f);
        if (!ci)
            return inner_eval(ts, f, throwflag);
#if PY_VERSION_HEX >= 0x030D0000
        watch_init(code);
#endif
    }
    enum cs_verdict v = cs_entering(t, ci);
    if (v == CS_UNTRACED) {
        if (ci->names_thread && !resumed)
            name_thread(t, code, f);
        return inner_eval(ts, f, throwflag);
    }
    if (v == CS_RECORD) {
        /* Thrown into (throw(), a task cancelled): the exception is pending,
         * and capturing arguments must neither see nor clear it. */
        PyObject *thrown = throwflag ? PyErr_GetRaisedException() : NULL;
        if (resumed)
            cs_record_resume(t, ci, code, now);
        else if (!cs_active_no_args || !cs_record_call_bare(t, ci, now))
            record_frame_call(t, ci, code, f, now);
        if (throwflag)
            PyErr_SetRaisedException(thrown);
    }
    uint32_t session = cs_session;
    /* The code info goes with the code object, which the frame may hold
     * the last reference to. */
    int notrace = ci->notrace, traced = ci->traced;
    struct cs_eval_guard guard = cs_eval_guard_enter(ts, &t->stack_floor, &t->eval_count);
#if PY_VERSION_HEX >= 0x030D0000
    t->entering = f;
    PyObject *result = inner_eval(ts, f, throwflag);
    t->entering = NULL;
#else
    PyObject *result = inner_eval(ts, f, throwflag);
#endif
    cs_eval_guard_leave(ts, &t->eval_count, guard);
    now = cs_ticks();
    /* A frame of an earlier session (a new one resets what @notrace left
     * open) leaves no trace in this one. */
    if (cs_session != session || cs_leaving_code(t, notrace, traced) != CS_RECORD || !cs_recording)
        return result;
    if (!result) {
        record_raised(t, now);
        return NULL;
    }
    int yielded = gen && !FRAME_STATE_FINISHED(gen->gi_frame_state);
    if (!cs_active_no_args || !cs_record_exit_bare(t, yielded, now))
        cs_record_exit(t, result, yielded, now);
    return result;
}

/* Whether Python functions come through the evaluator: when
 * everything is traced, unless --deep-recursion. Code left out by a filter
 * costs nothing under sys.monitoring, which stops reporting it, but would
 * still pass through the evaluator. */
static int use_evaluator(void)
{
    const struct cs_capture_options *o = &cs_active_ring.header->options;
    return !o->include[0] && !o->exclude[0] && !(o->flags & (CS_OPT_NO_STDLIB | CS_OPT_NO_SITE | CS_OPT_DEEP_RECURSION));
}

/* CALL fires for every call; only C callables are recorded here (Python
 * functions report their own start). C_RETURN / C_RAISE follow only those. */
static int is_c_callable(PyObject *callable)
{
    return PyCFunction_Check(callable) || Py_TYPE(callable) == &PyMethodDescr_Type;
}

CALLBACK(on_call)
{
    (void)self, (void)nargs;
    uint64_t now = cs_ticks();
    struct cs_thread *t = cs_thread_get();
    if (t && !t->suppressed && is_c_callable(args[2]))
        cs_record_c_call(t, args[2], now);
    RETURN_NONE;
}

static PyObject *on_c_exit(PyObject *const *args, int raised)
{
    uint64_t now = cs_ticks();
    struct cs_thread *t = cs_thread_get();
    if (t && !t->suppressed && is_c_callable(args[2]))
        cs_record_c_exit(t, raised, now);
    RETURN_NONE;
}

CALLBACK(on_c_return)
{
    (void)self, (void)nargs;
    return on_c_exit(args, 0);
}

CALLBACK(on_c_raise)
{
    (void)self, (void)nargs;
    return on_c_exit(args, 1);
}

static PyMethodDef callbacks[] = {
    {"PY_START", (PyCFunction)(void (*)(void))on_start, METH_FASTCALL, NULL},
    {"PY_RESUME", (PyCFunction)(void (*)(void))on_resume, METH_FASTCALL, NULL},
    {"PY_RETURN", (PyCFunction)(void (*)(void))on_return, METH_FASTCALL, NULL},
    {"PY_YIELD", (PyCFunction)(void (*)(void))on_yield, METH_FASTCALL, NULL},
    {"PY_UNWIND", (PyCFunction)(void (*)(void))on_unwind, METH_FASTCALL, NULL},
    {"PY_THROW", (PyCFunction)(void (*)(void))on_throw, METH_FASTCALL, NULL},
    {"CALL", (PyCFunction)(void (*)(void))on_call, METH_FASTCALL, NULL},
    {"C_RETURN", (PyCFunction)(void (*)(void))on_c_return, METH_FASTCALL, NULL},
    {"C_RAISE", (PyCFunction)(void (*)(void))on_c_raise, METH_FASTCALL, NULL},
};
#define NCALLBACKS (sizeof callbacks / sizeof *callbacks)
#define NPY_CALLBACKS 6 /* the first six; the rest only with --c-calls */

#if PY_VERSION_HEX >= 0x030D0000
/* With the evaluator on 3.13: the __init__ frames run past it, then the C
 * calls as above. */
static PyMethodDef evaluator_callbacks[] = {
    {"PY_START", (PyCFunction)(void (*)(void))on_init_start, METH_FASTCALL, NULL},  /* local */
    {"PY_RETURN", (PyCFunction)(void (*)(void))on_init_return, METH_FASTCALL, NULL}, /* local */
    {"PY_UNWIND", (PyCFunction)(void (*)(void))on_init_unwind, METH_FASTCALL, NULL},
    {"CALL", (PyCFunction)(void (*)(void))on_call, METH_FASTCALL, NULL},
    {"C_RETURN", (PyCFunction)(void (*)(void))on_c_return, METH_FASTCALL, NULL},
    {"C_RAISE", (PyCFunction)(void (*)(void))on_c_raise, METH_FASTCALL, NULL},
};
#define NLOCAL_INIT_CALLBACKS 2
#define NINIT_CALLBACKS 3
#endif

PyObject *cs_monitoring_module(void)
{
    PyObject *sys = PyImport_ImportModule("sys");
    if (!sys)
        return NULL;
    PyObject *m = PyObject_GetAttrString(sys, "monitoring");
    Py_DECREF(sys);
    return m;
}

long cs_monitoring_event(PyObject *mon, const char *name)
{
    PyObject *events = PyObject_GetAttrString(mon, "events");
    PyObject *v = events ? PyObject_GetAttrString(events, name) : NULL;
    long bit = v ? PyLong_AsLong(v) : -1;
    Py_XDECREF(v);
    Py_XDECREF(events);
    return bit;
}

int cs_monitoring_take_tool(PyObject *mon, const int *order, size_t n, const char *name, PyMethodDef *callbacks,
                            size_t ncallbacks)
{
    for (size_t i = 0; i < n; i++) {
        PyObject *owner = PyObject_CallMethod(mon, "get_tool", "i", order[i]);
        if (!owner)
            return -1;
        int taken = owner != Py_None;
        Py_DECREF(owner);
        if (taken)
            continue;
        PyObject *r = PyObject_CallMethod(mon, "use_tool_id", "is", order[i], name);
        if (!r)
            return -1;
        Py_DECREF(r);
        for (size_t k = 0; k < ncallbacks; k++) {
            long bit = cs_monitoring_event(mon, callbacks[k].ml_name);
            PyObject *fn = bit >= 0 ? PyCFunction_New(&callbacks[k], NULL) : NULL;
            r = fn ? PyObject_CallMethod(mon, "register_callback", "ilO", order[i], bit, fn) : NULL;
            Py_XDECREF(fn);
            if (!r) {
                cs_monitoring_release_tool(mon, order[i], callbacks, ncallbacks);
                return -1;
            }
            Py_DECREF(r);
        }
        return order[i];
    }
    PyErr_Format(PyExc_RuntimeError, "every sys.monitoring tool id is in use (%s needs one)", name);
    return -1;
}

void cs_monitoring_release_tool(PyObject *mon, int id, PyMethodDef *callbacks, size_t ncallbacks)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *r = PyObject_CallMethod(mon, "set_events", "ii", id, 0);
    Py_XDECREF(r);
    for (size_t k = 0; k < ncallbacks; k++) {
        long bit = cs_monitoring_event(mon, callbacks[k].ml_name);
        r = bit >= 0 ? PyObject_CallMethod(mon, "register_callback", "ilO", id, bit, Py_None) : NULL;
        Py_XDECREF(r);
    }
    r = PyObject_CallMethod(mon, "free_tool_id", "i", id);
    Py_XDECREF(r);
    PyErr_Clear();
    PyErr_Restore(type, value, tb);
}

int cs_family_install(void)
{
    /* Unassigned ids first, then the profiler's. */
    static const int order[] = {4, 3, 2, 5};
    int evaluator = use_evaluator(), c_calls = cs_active_ring.header->options.flags & CS_OPT_C_CALLS;
    /* The callbacks wanted: the Python ones unless the evaluator takes
     * their place, and those of C calls with --c-calls. */
    PyMethodDef *table = callbacks;
    size_t first = evaluator ? NPY_CALLBACKS : 0, end = c_calls ? NCALLBACKS : NPY_CALLBACKS, local = 0;
#if PY_VERSION_HEX >= 0x030D0000
    if (evaluator) {
        table = evaluator_callbacks;
        first = 0;
        end = NINIT_CALLBACKS + (c_calls ? NCALLBACKS - NPY_CALLBACKS : 0);
        local = NLOCAL_INIT_CALLBACKS;
    }
#endif
    if (end > first) {
        PyObject *mon = cs_monitoring_module();
        if (!mon)
            return -1;
        if (!disable && !(disable = PyObject_GetAttrString(mon, "DISABLE"))) {
            Py_DECREF(mon);
            return -1;
        }
        tool_id = cs_monitoring_take_tool(mon, order, sizeof order / sizeof *order, "callscope", table + first,
                                          end - first);
        long mask = 0;
        for (size_t i = first + local; tool_id >= 0 && i < end; i++)
            mask |= cs_monitoring_event(mon, table[i].ml_name);
        /* Tracing resumes wherever an earlier session answered DISABLE. */
        PyObject *r = tool_id >= 0 ? PyObject_CallMethod(mon, "restart_events", NULL) : NULL;
        Py_XDECREF(r);
        r = r ? PyObject_CallMethod(mon, "set_events", "il", tool_id, mask) : NULL;
        Py_XDECREF(r);
#if PY_VERSION_HEX >= 0x030D0000
        if (r && local) {
            init_monitoring = Py_NewRef(mon);
            init_events = cs_monitoring_event(mon, "PY_START") | cs_monitoring_event(mon, "PY_RETURN");
            if (!(init_codes = PyList_New(0)))
                r = NULL;
            else
                watch_existing_inits();
        }
#endif
        Py_DECREF(mon);
        if (!r) {
            if (tool_id >= 0) {
                PyObject *type, *value, *tb;
                PyErr_Fetch(&type, &value, &tb);
                cs_family_uninstall();
                PyErr_Restore(type, value, tb);
            }
            return -1;
        }
    }
    if (evaluator) {
        /* Left inside another library's evaluator by the last session, ours
         * is still called, through it: it serves again as it is. */
        if (!evaluator_stranded) {
            PyInterpreterState *interp = PyInterpreterState_Get();
            inner_eval = _PyInterpreterState_GetEvalFrameFunc(interp);
            _PyInterpreterState_SetEvalFrameFunc(interp, evaluate);
        }
        evaluator_installed = 1;
    }
    return 0;
}

void cs_family_uninstall(void)
{
    if (evaluator_installed) {
        /* Frames still running return through evaluate(), which passes
         * them on once the session is over; an evaluator installed after
         * ours keeps calling it the same way. */
        PyInterpreterState *interp = PyInterpreterState_Get();
        evaluator_stranded = _PyInterpreterState_GetEvalFrameFunc(interp) != evaluate;
        if (!evaluator_stranded)
            _PyInterpreterState_SetEvalFrameFunc(interp, inner_eval);
        evaluator_installed = 0;
    }
    if (tool_id < 0)
        return;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
#if PY_VERSION_HEX >= 0x030D0000
    /* Freeing the tool id leaves local events in place on 3.13. */
    for (Py_ssize_t i = 0; init_codes && i < PyList_GET_SIZE(init_codes); i++) {
        PyObject *r = PyObject_CallMethod(init_monitoring, "set_local_events", "iOi", tool_id,
                                          PyList_GET_ITEM(init_codes, i), 0);
        Py_XDECREF(r);
    }
    Py_CLEAR(init_codes);
    Py_CLEAR(init_monitoring);
    PyErr_Clear();
#endif
    PyObject *mon = cs_monitoring_module();
    if (mon) {
        cs_monitoring_release_tool(mon, tool_id, callbacks, NCALLBACKS);
        Py_DECREF(mon);
    }
    PyErr_Clear();
    PyErr_Restore(type, value, tb);
    tool_id = -1;
}

PyObject *cs_family_arg_names(PyCodeObject *code, int nargs)
{
    PyObject *names = PyTuple_GetSlice(code->co_localsplusnames, 0, nargs);
    return names;
}

PyObject *cs_family_qualname(PyCodeObject *code, PyObject *first_arg)
{
    (void)first_arg;
    return Py_NewRef(code->co_qualname);
}

void cs_family_frame_args(void *frame, PyCodeObject *code, int n, PyObject **out)
{
    frame_args(frame ? frame : current_frame(), code, n, out);
}

PyObject *cs_family_frame_globals(void *frame)
{
    return frame_globals(frame ? frame : current_frame());
}

PyCodeObject *cs_family_frame_code(void *frame)
{
    return code_of(frame ? frame : current_frame());
}

void cs_family_walk_stack(void (*visit)(void *ctx, PyCodeObject *code, PyObject *globals, PyObject *first_arg, int lineno), void *ctx, int max_frames)
{
    PyFrameObject *f = PyEval_GetFrame();
    Py_XINCREF(f);
    for (int i = 0; f && i < max_frames; i++) {
        PyCodeObject *code = PyFrame_GetCode(f);
        PyObject *globals = PyFrame_GetGlobals(f);
        visit(ctx, code, globals, NULL, PyFrame_GetLineNumber(f));
        Py_XDECREF(globals);
        Py_DECREF(code);
        PyFrameObject *back = PyFrame_GetBack(f);
        Py_DECREF(f);
        f = back;
    }
    Py_XDECREF(f);
}

Py_ssize_t cs_family_request_code_extra(freefunc free_fn)
{
    return PyUnstable_Eval_RequestCodeExtraIndex(free_fn);
}

void *cs_family_code_extra(PyCodeObject *code, Py_ssize_t index)
{
    void *extra = NULL;
    if (PyUnstable_Code_GetExtra((PyObject *)code, index, &extra) != 0)
        PyErr_Clear();
    return extra;
}

int cs_family_set_code_extra(PyCodeObject *code, Py_ssize_t index, void *value)
{
    return PyUnstable_Code_SetExtra((PyObject *)code, index, value);
}

#endif
