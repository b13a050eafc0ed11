/*
 * family_monitoring.c — Python 3.12 and later: sys.monitoring (PEP 669), or
 * when everything is traced the frame evaluator (frame_evaluator.c) for
 * Python functions.
 *
 * callscope takes a tool id of its own, so debuggers, coverage and cProfile
 * keep theirs. Callbacks are C functions; arguments are read straight from
 * the interpreter frame that is starting. Code the filters skip answers
 * DISABLE, so the interpreter stops reporting it at all.
 */
#include "py/compat.h"
#if CS_PY_HAS_MONITORING

#include <stdint.h>

#include "capture/recorder.h"
#include "hooks/family.h"
#include "hooks/frame_evaluator.h"
#include "hooks/interp_frame.h"

static int tool_id = -1;
static PyObject *disable; /* sys.monitoring.DISABLE */

#define CALLBACK(name) static PyObject *name(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
#define RETURN_NONE return Py_NewRef(Py_None)

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
    struct cs_code_info *ci = cs_code_info_current(cs_code_extra_of((PyCodeObject *)args[0]));
    if (!ci || (!ci->id && ci->traced)) {
        ci = cs_frame_resolve(code, cs_current_frame());
        if (!ci)
            RETURN_NONE;
    }
    enum cs_verdict v = cs_entering(t, ci);
    if (v == CS_RECORD) {
        if (!cs_rec.no_args || !cs_record_call_bare(t, ci, now))
            cs_frame_record_call(t, ci, code, cs_current_frame(), now);
    } else if (v == CS_UNTRACED && ci->names_thread) {
        cs_frame_name_thread(t, code, cs_current_frame());
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
    struct cs_code_info *ci = cs_code_info_current(cs_code_extra_of((PyCodeObject *)args[0]));
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
    struct cs_code_info *ci = cs_code_info_current(cs_code_extra_of((PyCodeObject *)args[0]));
    if (!t || !ci)
        RETURN_NONE;
    enum cs_verdict v = cs_leaving(t, ci);
    if (v == CS_RECORD) {
        if (how == RAISED)
            cs_record_unwind(t, NULL, args[2], now);
        else if (!cs_rec.no_args || !cs_record_exit_bare(t, how == YIELDED, now))
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

#if CS_PY_INIT_PAST_EVALUATOR
/* ---- 3.13: __init__ run past the frame evaluator ----
 *
 * 3.13 runs the __init__ of a new instance of a plain class straight from
 * the instruction that makes it (CALL_ALLOC_AND_ENTER_INIT), past any frame
 * evaluator. So with the evaluator (frame_evaluator.c), every __init__ code also gets
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

void cs_monitoring_watch_init(PyCodeObject *code)
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
                cs_monitoring_watch_init((PyCodeObject *)PyFunction_GET_CODE(init));
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
    _PyInterpreterFrame *f = cs_current_frame();
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
    if (!t || !t->nbypassed || t->bypassed[t->nbypassed - 1] != cs_current_frame())
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

/* CALL fires for every call; only C callables are recorded here (Python
 * functions report their own start). C_RETURN / C_RAISE follow only those. */
static int is_c_callable(PyObject *callable)
{
    return PyCFunction_Check(callable) || Py_TYPE(callable) == &PyMethodDescr_Type;
}

/* args: the caller's code, the offset in it, the callable, its first argument. */
static int c_call_recorded(struct cs_thread *t, PyObject *const *args)
{
    return t && !t->suppressed && is_c_callable(args[2]) &&
           cs_frame_c_calls_recorded((PyCodeObject *)args[0], cs_current_frame());
}

CALLBACK(on_call)
{
    (void)self, (void)nargs;
    struct cs_thread *t = cs_thread_get();
    /* The clock after the check: most calls are not recorded here, and
     * the check is no part of the C call's time. */
    if (c_call_recorded(t, args))
        cs_record_c_call(t, args[2], cs_ticks());
    RETURN_NONE;
}

static PyObject *on_c_exit(PyObject *const *args, int raised)
{
    uint64_t now = cs_ticks();
    struct cs_thread *t = cs_thread_get();
    if (c_call_recorded(t, args))
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

#if CS_PY_INIT_PAST_EVALUATOR
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
    int evaluator = cs_evaluator_wanted(), c_calls = cs_rec.ring.header->options.flags & CS_OPT_C_CALLS;
    /* The callbacks wanted: the Python ones unless the evaluator takes
     * their place, and those of C calls with --c-calls. */
    PyMethodDef *table = callbacks;
    size_t first = evaluator ? NPY_CALLBACKS : 0, end = c_calls ? NCALLBACKS : NPY_CALLBACKS, local = 0;
#if CS_PY_INIT_PAST_EVALUATOR
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
#if CS_PY_INIT_PAST_EVALUATOR
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
    if (evaluator)
        cs_evaluator_install();
    return 0;
}

void cs_family_uninstall(void)
{
    cs_evaluator_uninstall();
    if (tool_id < 0)
        return;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
#if CS_PY_INIT_PAST_EVALUATOR
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

void cs_family_frame_args(void *frame, PyCodeObject *code, int n, PyObject **out)
{
    cs_frame_args(frame ? frame : cs_current_frame(), code, n, out);
}

PyObject *cs_family_frame_globals(void *frame)
{
    return cs_frame_globals(frame ? frame : cs_current_frame());
}

PyCodeObject *cs_family_frame_code(void *frame)
{
    return cs_frame_code(frame ? frame : cs_current_frame());
}

void cs_family_walk_stack(void *frame, cs_frame_visit *visit, void *ctx, int max_frames)
{
    (void)frame; /* the events of sys.monitoring come from the running frame */
    PyFrameObject *f = PyEval_GetFrame();
    Py_XINCREF(f);
    cs_family_walk_frames(f, visit, ctx, max_frames);
}


void cs_family_walk_frames(PyFrameObject *f, cs_frame_visit *visit, void *ctx, int max_frames)
{
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

#endif
