/*
 * live_monitoring.c — live observation hooks on Python 3.12 and later.
 *
 * The agent takes a sys.monitoring tool id of its own, only while something
 * is observed. The target functions' code objects get local events (start,
 * resume, return, yield), so the rest of the program is not instrumented at
 * all; only exceptions (PY_UNWIND and PY_THROW cannot be local before 3.15)
 * are reported process-wide. A trace widens to callees as they are reached: the CALL
 * event of instrumented code names the function about to run, and while an
 * invocation is under way (and within its depth) that function's code gets
 * the same local events before it starts. Python code that the
 * interpreter or C code runs without a CALL event naming it (a sort key,
 * a property, an operator, `with`) is found by a frame evaluator of ours,
 * put in place only while invocations are open (see "callees reached from
 * C code" below).
 *
 * While `top --calls` counts calls (live/call_count.h), PY_START is also a
 * global event of the tool: every function's start then reaches on_start,
 * which counts it, and passes on to the observer only the starts of code
 * that has our local events, as before.
 */
#include "py/compat.h"
#if CS_PY_HAS_MONITORING

#include "hooks/eval_guard.h"
#include "hooks/family.h"
#include "live/call_count.h"
#include "live/observer.h"

static int tool_id = -1;
static PyObject *mon;          /* sys.monitoring, while installed */
static PyObject *instrumented; /* set of code objects given local events */
static long local_events;      /* what they were given */

#define CALLBACK(name) static PyObject *name(PyObject *self, PyObject *const *args, Py_ssize_t nargs)

/* Whether the code has our local events already: read from the code
 * object, since a set lookup hashes the whole code. The start event's
 * index is 0 (PY_MONITORING_EVENT_PY_START, public only from 3.13). */
static inline int has_our_events(PyObject *code)
{
    _PyCoMonitoringData *m = ((PyCodeObject *)code)->_co_monitoring;
    return m && (m->local_monitors.tools[0] & (1 << tool_id));
}

CALLBACK(on_start)
{
    (void)self, (void)nargs;
    PyCodeObject *code = (PyCodeObject *)args[0];
    if (cs_live_counting) {
        cs_live_count_call(code);
        /* a global event: only the code we instrumented is observed */
        if (!has_our_events((PyObject *)code))
            Py_RETURN_NONE;
    }
    cs_live_on_start(code, NULL, 0);
    Py_RETURN_NONE;
}

CALLBACK(on_resume)
{
    (void)self, (void)nargs;
    cs_live_on_start((PyCodeObject *)args[0], NULL, 1);
    Py_RETURN_NONE;
}

CALLBACK(on_return)
{
    (void)self, (void)nargs;
    cs_live_on_exit((PyCodeObject *)args[0], NULL, 0, args[2]);
    Py_RETURN_NONE;
}

CALLBACK(on_yield)
{
    (void)self, (void)nargs;
    cs_live_on_exit((PyCodeObject *)args[0], NULL, 1, args[2]);
    Py_RETURN_NONE;
}

CALLBACK(on_unwind)
{
    (void)self, (void)nargs;
    cs_live_on_exit((PyCodeObject *)args[0], NULL, 2, args[2]);
    Py_RETURN_NONE;
}

static int is_c_callable(PyObject *callable)
{
    return PyCFunction_Check(callable) || Py_TYPE(callable) == &PyMethodDescr_Type;
}

/* The code a Python-level callable runs: a function's, a method's, a
 * class's __init__, an instance's __call__ (dictionary lookups only). */
static PyObject *code_of_callable(PyObject *callable)
{
    if (PyMethod_Check(callable))
        callable = PyMethod_GET_FUNCTION(callable);
    if (PyFunction_Check(callable))
        return PyFunction_GET_CODE(callable);
    PyTypeObject *type = PyType_Check(callable) ? (PyTypeObject *)callable : Py_TYPE(callable);
    const char *name = PyType_Check(callable) ? "__init__" : "__call__";
    PyObject *mro = type->tp_mro;
    for (Py_ssize_t i = 0; mro && i < PyTuple_GET_SIZE(mro); i++) {
        PyObject *dict = ((PyTypeObject *)PyTuple_GET_ITEM(mro, i))->tp_dict;
        PyObject *v = dict ? PyDict_GetItemString(dict, name) : NULL;
        if (v)
            return PyFunction_Check(v) ? PyFunction_GET_CODE(v) : NULL;
    }
    return NULL;
}

static int set_local(PyObject *code, long events)
{
    PyObject *r = PyObject_CallMethod(mon, "set_local_events", "iOl", tool_id, code, events);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

static void instrument(PyObject *code)
{
    if (has_our_events(code))
        return;
    int known = PySet_Contains(instrumented, code);
    if (known == 0 && set_local(code, local_events) == 0)
        PySet_Add(instrumented, code);
    if (PyErr_Occurred())
        PyErr_Clear();
}

CALLBACK(on_call)
{
    (void)self;
    if (!cs_live_thread_busy())
        Py_RETURN_NONE;
    if (is_c_callable(args[2]))
        cs_live_on_c_call(args[2]);
    if (mon && instrumented && cs_live_callee_wanted()) {
        /* The Python code about to run; or, for a C function or class
         * handed a Python callable first (map, filter, reduce), that one's. */
        PyObject *code = code_of_callable(args[2]);
        if (!code && nargs > 3)
            code = code_of_callable(args[3]);
        if (code)
            instrument(code);
    }
    Py_RETURN_NONE;
}

CALLBACK(on_c_return)
{
    (void)self, (void)nargs;
    if (is_c_callable(args[2]))
        cs_live_on_c_exit(0);
    Py_RETURN_NONE;
}

CALLBACK(on_c_raise)
{
    (void)self, (void)nargs;
    if (is_c_callable(args[2]))
        cs_live_on_c_exit(1);
    Py_RETURN_NONE;
}

/* ---- callees reached from C code ----
 *
 * A CALL event names the callable and its first argument only, and the code
 * the interpreter runs for an operator, a property, `with` or a sort key
 * given by keyword makes no CALL event naming it at all. So while trace
 * invocations are open, an evaluator of ours (PEP 523) sees every Python
 * frame as it is about to run, and when it belongs to an open invocation
 * (within its depth) gives its code the local events first. The rest of
 * the process pays for the evaluator meanwhile, tens of ns per Python
 * call, and nothing once the last invocation has ended and it is taken out
 * again. It is put only in front of the interpreter's own evaluator, never
 * a debugger's or the recorder's: CALL events alone serve then. */
static int widening;     /* a trace widens to callees (cs_live_hooks_update) */
static int discovering;  /* discover() is in place and meant to act */
static __thread char *stack_floor __attribute__((tls_model("initial-exec")));
static __thread int eval_count __attribute__((tls_model("initial-exec")));

static PyObject *discover(PyThreadState *ts, cs_frame *f, int throwflag)
{
    if (discovering && cs_live_callee_wanted()) {
        PyObject *code = (PyObject *)cs_family_frame_code(f);
        if (!has_our_events(code)) {
            /* thrown into: the pending exception is the frame's */
            PyObject *thrown = throwflag ? PyErr_GetRaisedException() : NULL;
            instrument(code);
            if (throwflag)
                PyErr_SetRaisedException(thrown);
        }
    }
    struct cs_eval_guard guard = cs_eval_guard_enter(ts, &stack_floor, &eval_count);
    PyObject *result = _PyEval_EvalFrameDefault(ts, f, throwflag);
    cs_eval_guard_leave(ts, &eval_count, guard);
    return result;
}

/* Puts discover() in front of the interpreter's evaluator, or takes it out.
 * An evaluator installed in front of ours meanwhile keeps calling it, and
 * it then passes frames on untouched. */
static void set_discovering(int on)
{
    PyInterpreterState *interp = PyInterpreterState_Get();
    _PyFrameEvalFunction now = _PyInterpreterState_GetEvalFrameFunc(interp);
    if (on && now == _PyEval_EvalFrameDefault)
        _PyInterpreterState_SetEvalFrameFunc(interp, discover);
    else if (!on && now == discover)
        _PyInterpreterState_SetEvalFrameFunc(interp, _PyEval_EvalFrameDefault);
    discovering = on && _PyInterpreterState_GetEvalFrameFunc(interp) == discover;
}

void cs_live_hooks_widening(int open)
{
    if (!open || (widening && tool_id >= 0))
        set_discovering(open);
}

static PyMethodDef callbacks[] = {
    {"PY_START", (PyCFunction)(void (*)(void))on_start, METH_FASTCALL, NULL},
    {"PY_RESUME", (PyCFunction)(void (*)(void))on_resume, METH_FASTCALL, NULL},
    {"PY_THROW", (PyCFunction)(void (*)(void))on_resume, METH_FASTCALL, NULL},
    {"PY_RETURN", (PyCFunction)(void (*)(void))on_return, METH_FASTCALL, NULL},
    {"PY_YIELD", (PyCFunction)(void (*)(void))on_yield, METH_FASTCALL, NULL},
    {"PY_UNWIND", (PyCFunction)(void (*)(void))on_unwind, METH_FASTCALL, NULL},
    {"CALL", (PyCFunction)(void (*)(void))on_call, METH_FASTCALL, NULL},
    {"C_RETURN", (PyCFunction)(void (*)(void))on_c_return, METH_FASTCALL, NULL},
    {"C_RAISE", (PyCFunction)(void (*)(void))on_c_raise, METH_FASTCALL, NULL},
};
#define NCALLBACKS (sizeof callbacks / sizeof *callbacks)

int cs_live_hooks_update(void)
{
    int any = 0, observing = 0, widen = 0;
    for (int i = 0; i < CS_LIVE_MAX_WATCHES; i++) {
        struct cs_live_watch *w = cs_live_watches[i];
        any |= w != NULL;
        observing |= w && w->req.command != CS_LIVE_COUNT;
        widen |= w && w->req.command == CS_LIVE_TRACE && (w->req.depth > 0 || !w->req.skip_builtin);
    }
    int counting = cs_live_counting_update();
    if (!any) {
        cs_live_hooks_remove();
        return 0;
    }
    /* Callees instrumented so far lose their events below. */
    cs_live_forget_open_calls();
    widening = widen;
    if (!widen)
        set_discovering(0);
    if (!mon && !(mon = cs_monitoring_module()))
        return -1;
    if (!instrumented && !(instrumented = PySet_New(NULL)))
        return -1;
    /* The recorder prefers 4, 3, 2, 5: start at the other end. */
    static const int order[] = {5, 2, 3, 4};
    if (tool_id < 0 &&
        (tool_id = cs_monitoring_take_tool(mon, order, sizeof order / sizeof *order, "callscope-live", callbacks,
                                           NCALLBACKS)) < 0) {
        cs_live_hooks_remove();
        return -1;
    }
    long events = cs_monitoring_event(mon, "PY_START") | cs_monitoring_event(mon, "PY_RESUME") | cs_monitoring_event(mon, "PY_RETURN") |
                  cs_monitoring_event(mon, "PY_YIELD");
    if (widen)
        events |= cs_monitoring_event(mon, "CALL") | cs_monitoring_event(mon, "C_RETURN") | cs_monitoring_event(mon, "C_RAISE");
    long exceptions = cs_monitoring_event(mon, "PY_UNWIND") | cs_monitoring_event(mon, "PY_THROW");
#if CS_PY_LOCAL_UNWIND
    /* Exceptions elsewhere in the program then cost it nothing either. */
    events |= exceptions;
    long global = 0;
    (void)observing;
#else
    /* (counting alone ends no observed call: no exception matters) */
    long global = observing ? exceptions : 0;
#endif
    if (counting)
        global |= cs_monitoring_event(mon, "PY_START");

    /* Start again from exactly the targets; callees are found anew. */
    PyObject *targets = PySet_New(NULL);
    int rc = targets ? 0 : -1;
    for (int i = 0; rc == 0 && i < CS_LIVE_MAX_WATCHES; i++) {
        struct cs_live_watch *w = cs_live_watches[i];
        for (Py_ssize_t k = 0; w && rc == 0 && k < PyTuple_GET_SIZE(w->codes); k++)
            rc = PySet_Add(targets, PyTuple_GET_ITEM(w->codes, k));
    }
    PyObject *old = rc == 0 ? PySequence_List(instrumented) : NULL;
    for (Py_ssize_t k = 0; old && rc == 0 && k < PyList_GET_SIZE(old); k++) {
        PyObject *code = PyList_GET_ITEM(old, k);
        if (!PySet_Contains(targets, code))
            rc = set_local(code, 0);
    }
    Py_XDECREF(old);
    if (rc == 0 && (rc = PySet_Clear(instrumented)) == 0) {
        local_events = events;
        PyObject *list = PySequence_List(targets);
        for (Py_ssize_t k = 0; list && rc == 0 && k < PyList_GET_SIZE(list); k++)
            if ((rc = set_local(PyList_GET_ITEM(list, k), events)) == 0)
                rc = PySet_Add(instrumented, PyList_GET_ITEM(list, k));
        rc = list ? rc : -1;
        Py_XDECREF(list);
    }
    Py_XDECREF(targets);
    if (rc == 0) {
        PyObject *r = PyObject_CallMethod(mon, "set_events", "il", tool_id, global);
        Py_XDECREF(r);
        rc = r ? 0 : -1;
    }
    return rc;
}

void cs_live_hooks_remove(void)
{
    cs_live_counting_stop();
    cs_live_forget_open_calls();
    set_discovering(0);
    widening = 0;
    if (tool_id >= 0 && mon) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyObject *codes = instrumented ? PySequence_List(instrumented) : NULL;
        for (Py_ssize_t k = 0; codes && k < PyList_GET_SIZE(codes); k++)
            set_local(PyList_GET_ITEM(codes, k), 0);
        Py_XDECREF(codes);
        PyErr_Clear();
        PyErr_Restore(type, value, tb);
        cs_monitoring_release_tool(mon, tool_id, callbacks, NCALLBACKS);
    }
    tool_id = -1;
    Py_CLEAR(instrumented);
    Py_CLEAR(mon);
}

#endif
