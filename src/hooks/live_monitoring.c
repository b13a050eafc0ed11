/*
 * live_monitoring.c — live observation hooks on Python 3.12 and later.
 *
 * The agent takes a sys.monitoring tool id of its own, only while something
 * is observed. The target functions' code objects get local events (start,
 * resume, return, yield), so the rest of the program is not instrumented at
 * all; only exceptions (PY_UNWIND, PY_THROW cannot be local) are reported
 * process-wide. A trace that shows callees widens to every function while
 * it is in force; its callbacks return at once outside an invocation.
 */
#include <Python.h>
#if PY_VERSION_HEX >= 0x030C0000

#include "hooks/family.h"
#include "live/observer.h"

static int tool_id = -1;
static PyObject *instrumented; /* list of code objects given local events */

#define CALLBACK(name) static PyObject *name(PyObject *self, PyObject *const *args, Py_ssize_t nargs)

CALLBACK(on_start)
{
    (void)self, (void)nargs;
    cs_live_on_start((PyCodeObject *)args[0], NULL);
    Py_RETURN_NONE;
}

CALLBACK(on_return)
{
    (void)self, (void)nargs;
    cs_live_on_exit((PyCodeObject *)args[0], 0, args[2]);
    Py_RETURN_NONE;
}

CALLBACK(on_yield)
{
    (void)self, (void)nargs;
    cs_live_on_exit((PyCodeObject *)args[0], 1, args[2]);
    Py_RETURN_NONE;
}

CALLBACK(on_unwind)
{
    (void)self, (void)nargs;
    cs_live_on_exit((PyCodeObject *)args[0], 2, args[2]);
    Py_RETURN_NONE;
}

static int is_c_callable(PyObject *callable)
{
    return PyCFunction_Check(callable) || Py_TYPE(callable) == &PyMethodDescr_Type;
}

CALLBACK(on_call)
{
    (void)self, (void)nargs;
    if (is_c_callable(args[2]))
        cs_live_on_c_call(args[2]);
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

static PyMethodDef callbacks[] = {
    {"PY_START", (PyCFunction)(void (*)(void))on_start, METH_FASTCALL, NULL},
    {"PY_RESUME", (PyCFunction)(void (*)(void))on_start, METH_FASTCALL, NULL},
    {"PY_THROW", (PyCFunction)(void (*)(void))on_start, METH_FASTCALL, NULL},
    {"PY_RETURN", (PyCFunction)(void (*)(void))on_return, METH_FASTCALL, NULL},
    {"PY_YIELD", (PyCFunction)(void (*)(void))on_yield, METH_FASTCALL, NULL},
    {"PY_UNWIND", (PyCFunction)(void (*)(void))on_unwind, METH_FASTCALL, NULL},
    {"CALL", (PyCFunction)(void (*)(void))on_call, METH_FASTCALL, NULL},
    {"C_RETURN", (PyCFunction)(void (*)(void))on_c_return, METH_FASTCALL, NULL},
    {"C_RAISE", (PyCFunction)(void (*)(void))on_c_raise, METH_FASTCALL, NULL},
};
#define NCALLBACKS (sizeof callbacks / sizeof *callbacks)

static PyObject *monitoring(void)
{
    PyObject *sys = PyImport_ImportModule("sys");
    PyObject *m = sys ? PyObject_GetAttrString(sys, "monitoring") : NULL;
    Py_XDECREF(sys);
    return m;
}

static long bit_of(PyObject *mon, const char *name)
{
    PyObject *events = PyObject_GetAttrString(mon, "events");
    PyObject *v = events ? PyObject_GetAttrString(events, name) : NULL;
    long bit = v ? PyLong_AsLong(v) : -1;
    Py_XDECREF(v);
    Py_XDECREF(events);
    return bit;
}

/* Ids nobody else uses; the recorder prefers 4, 3, 2, 5, so start at the
 * other end. */
static int take_tool_id(PyObject *mon)
{
    static const int order[] = {5, 2, 3, 4};
    for (size_t i = 0; i < sizeof order / sizeof *order; i++) {
        PyObject *owner = PyObject_CallMethod(mon, "get_tool", "i", order[i]);
        if (!owner)
            return -1;
        int taken = owner != Py_None;
        Py_DECREF(owner);
        if (taken)
            continue;
        PyObject *r = PyObject_CallMethod(mon, "use_tool_id", "is", order[i], "callscope-live");
        if (!r)
            return -1;
        Py_DECREF(r);
        for (size_t k = 0; k < NCALLBACKS; k++) {
            PyObject *fn = PyCFunction_New(&callbacks[k], NULL);
            long bit = bit_of(mon, callbacks[k].ml_name);
            r = fn && bit >= 0 ? PyObject_CallMethod(mon, "register_callback", "ilO", order[i], bit, fn) : NULL;
            Py_XDECREF(fn);
            if (!r)
                return -1;
            Py_DECREF(r);
        }
        return order[i];
    }
    PyErr_SetString(PyExc_RuntimeError, "every sys.monitoring tool id is in use in the target");
    return -1;
}

static int set_local(PyObject *mon, PyObject *code, long events)
{
    PyObject *r = PyObject_CallMethod(mon, "set_local_events", "iOl", tool_id, code, events);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

int cs_live_hooks_update(void)
{
    PyObject *mon = monitoring();
    if (!mon)
        return -1;
    int any = 0, widen = 0, c_calls = 0;
    for (int i = 0; i < CS_LIVE_MAX_WATCHES; i++) {
        struct cs_live_watch *w = cs_live_watches[i];
        if (!w)
            continue;
        any = 1;
        if (w->req.command == CS_LIVE_TRACE && w->req.depth > 0) {
            widen = 1;
            c_calls |= !w->req.skip_builtin;
        }
    }
    if (!any) {
        Py_DECREF(mon);
        cs_live_hooks_remove();
        return 0;
    }
    if (tool_id < 0 && (tool_id = take_tool_id(mon)) < 0) {
        Py_DECREF(mon);
        cs_live_hooks_remove();
        return -1;
    }
    long local = bit_of(mon, "PY_START") | bit_of(mon, "PY_RESUME") | bit_of(mon, "PY_RETURN") |
                 bit_of(mon, "PY_YIELD");
    long global = bit_of(mon, "PY_UNWIND") | bit_of(mon, "PY_THROW");
    if (widen)
        global |= local;
    if (c_calls)
        global |= bit_of(mon, "CALL") | bit_of(mon, "C_RETURN") | bit_of(mon, "C_RAISE");

    /* Local events: exactly the targets' code objects. */
    PyObject *now = PyList_New(0);
    int rc = now ? 0 : -1;
    for (int i = 0; rc == 0 && i < CS_LIVE_MAX_WATCHES; i++) {
        struct cs_live_watch *w = cs_live_watches[i];
        for (Py_ssize_t k = 0; w && rc == 0 && k < PyTuple_GET_SIZE(w->codes); k++)
            rc = PyList_Append(now, PyTuple_GET_ITEM(w->codes, k));
    }
    for (Py_ssize_t k = 0; rc == 0 && instrumented && k < PyList_GET_SIZE(instrumented); k++) {
        PyObject *code = PyList_GET_ITEM(instrumented, k);
        int kept = PySequence_Contains(now, code);
        rc = kept < 0 ? -1 : kept ? 0 : set_local(mon, code, 0);
    }
    for (Py_ssize_t k = 0; rc == 0 && k < PyList_GET_SIZE(now); k++)
        rc = set_local(mon, PyList_GET_ITEM(now, k), local);
    if (rc == 0) {
        Py_XSETREF(instrumented, now);
        now = NULL;
        PyObject *r = PyObject_CallMethod(mon, "set_events", "il", tool_id, global);
        Py_XDECREF(r);
        rc = r ? 0 : -1;
    }
    Py_XDECREF(now);
    Py_DECREF(mon);
    return rc;
}

void cs_live_hooks_remove(void)
{
    if (tool_id < 0)
        return;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *mon = monitoring();
    if (mon) {
        PyObject *r = PyObject_CallMethod(mon, "set_events", "ii", tool_id, 0);
        Py_XDECREF(r);
        for (Py_ssize_t k = 0; instrumented && k < PyList_GET_SIZE(instrumented); k++)
            set_local(mon, PyList_GET_ITEM(instrumented, k), 0);
        for (size_t k = 0; k < NCALLBACKS; k++) {
            long bit = bit_of(mon, callbacks[k].ml_name);
            r = bit >= 0 ? PyObject_CallMethod(mon, "register_callback", "ilO", tool_id, bit, Py_None) : NULL;
            Py_XDECREF(r);
        }
        r = PyObject_CallMethod(mon, "free_tool_id", "i", tool_id);
        Py_XDECREF(r);
        Py_DECREF(mon);
    }
    Py_CLEAR(instrumented);
    PyErr_Clear();
    PyErr_Restore(type, value, tb);
    tool_id = -1;
}

#endif
