/*
 * live_profile.c — live observation hooks on Python 3.8 to 3.11.
 *
 * These Pythons have no per-function events, so while something is
 * observed every thread gets a C profile function that returns at once for
 * code that is not a target (outside a traced invocation). Threads started
 * meanwhile get it through threading.setprofile. Threads that already had a
 * profile function (a profiler, or callscope recording) keep theirs: the
 * agent refuses to observe rather than take it away. Everything is put back
 * when the last watch ends.
 */
#include <Python.h>
#if PY_VERSION_HEX < 0x030C0000

#include <frameobject.h>

#include "hooks/family.h"
#include "live/observer.h"

static int installed;
static PyObject *previous_thread_hook; /* threading._profile_hook before us */

static int profile(PyObject *obj, PyFrameObject *f, int what, PyObject *arg)
{
    (void)obj;
    switch (what) {
    case PyTrace_CALL:
        cs_live_on_start(cs_family_frame_code(f), f, 0);
        break;
    case PyTrace_RETURN:
        /* No value: the frame ends by an exception, which these Pythons
         * keep out of the profile function's sight. */
        cs_live_on_exit(cs_family_frame_code(f), f, !arg ? 2 : cs_family_frame_is_yielding(f) ? 1 : 0, arg);
        break;
    case PyTrace_C_CALL:
        cs_live_on_c_call(arg);
        break;
    case PyTrace_C_RETURN:
    case PyTrace_C_EXCEPTION:
        cs_live_on_c_exit(what == PyTrace_C_EXCEPTION);
        break;
    }
    return 0;
}

/* threading.setprofile() target for threads started while observing. */
static PyObject *thread_hook(PyObject *self, PyObject *args)
{
    (void)self, (void)args;
    if (installed)
        cs_family_set_profile(PyThreadState_Get(), profile);
    Py_RETURN_NONE;
}

static PyMethodDef thread_hook_def = {"_callscope_live_thread_hook", thread_hook, METH_VARARGS, NULL};

static PyObject *threading_module(void)
{
    PyObject *modules = PyImport_GetModuleDict();
    PyObject *m = modules ? PyDict_GetItemString(modules, "threading") : NULL;
    Py_XINCREF(m);
    return m;
}

int cs_live_hooks_update(void)
{
    int any = 0;
    for (int i = 0; i < CS_LIVE_MAX_WATCHES; i++)
        any |= cs_live_watches[i] != NULL;
    if (!any) {
        cs_live_hooks_remove();
        return 0;
    }
    if (installed)
        return 0;
    PyInterpreterState *interp = PyThreadState_Get()->interp;
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts; ts = PyThreadState_Next(ts))
        if (ts->c_profilefunc && ts->c_profilefunc != profile) {
            PyErr_SetString(PyExc_RuntimeError,
                            "a profiler (sys.setprofile) is active in the target; on Python 3.11 and "
                            "older callscope cannot observe alongside it");
            return -1;
        }
    PyObject *threading = threading_module();
    if (threading) {
        previous_thread_hook = PyObject_GetAttrString(threading, "_profile_hook");
        PyErr_Clear();
        PyObject *hook = PyCFunction_New(&thread_hook_def, NULL);
        PyObject *r = hook ? PyObject_CallMethod(threading, "setprofile", "O", hook) : NULL;
        Py_XDECREF(hook);
        Py_XDECREF(r);
        Py_DECREF(threading);
        if (!r) {
            Py_CLEAR(previous_thread_hook);
            return -1;
        }
    }
    installed = 1;
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts; ts = PyThreadState_Next(ts))
        cs_family_set_profile(ts, profile);
    return 0;
}

void cs_live_hooks_remove(void)
{
    if (!installed)
        return;
    installed = 0;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *threading = threading_module();
    if (threading) {
        PyObject *r = PyObject_CallMethod(threading, "setprofile", "O",
                                          previous_thread_hook ? previous_thread_hook : Py_None);
        Py_XDECREF(r);
        Py_DECREF(threading);
    }
    Py_CLEAR(previous_thread_hook);
    PyErr_Clear();
    PyInterpreterState *interp = PyThreadState_Get()->interp;
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts; ts = PyThreadState_Next(ts))
        if (ts->c_profilefunc == profile)
            cs_family_set_profile(ts, NULL);
    PyErr_Restore(type, value, tb);
}

#endif
