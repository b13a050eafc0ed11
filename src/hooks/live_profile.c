/*
 * live_profile.c — live observation hooks on Python 3.11.
 *
 * These Pythons have no per-function events, so while something is
 * observed every thread gets a C profile function that returns at once for
 * code that is not a target (outside a traced invocation). Threads started
 * meanwhile get it through threading.setprofile. Threads that already had a
 * profile function (a profiler, or callscope recording) keep theirs: the
 * agent refuses to observe rather than take it away. Everything is put back
 * when the last watch ends.
 */
#include "py/compat.h"
#if !CS_PY_HAS_MONITORING && !CS_PY_LIVE_BY_EVALUATOR

#include "hooks/family.h"
#include "live/observer.h"

static int installed;
static PyObject *previous_thread_hook; /* threading._profile_hook before us */

/* These Pythons call the profile function after the pending exception has
 * been taken away, so a frame that ends by an exception is only known to
 * have raised. Its exit is held back, with a reference to the frame and
 * the time it ended, until the thread's next event: if the exception has
 * been caught by then (it is sys.exc_info() inside the handler) and its
 * traceback passes through the first frame held, the exits are reported
 * with it, so watch -e and conditions on throw_exp see it. */
#define MAX_HELD 32     /* frames one exception is held through */
#define HELD_THREADS 64 /* threads holding one at a time; others report at once */
struct held_exits {
    PyThreadState *ts; /* NULL: the slot is free */
    int n;
    PyFrameObject *frames[MAX_HELD]; /* strong references */
    int64_t ends[MAX_HELD];
};
static struct held_exits held[HELD_THREADS];
static _Thread_local struct held_exits *mine;

/* Reports the held exits, with the exception when it is the one they
 * raised (or without it), and frees the slot. */
static void release_held(struct held_exits *h, int report)
{
    /* Taken out of the slot first: reporting may see this thread's events. */
    struct held_exits out = *h;
    h->n = 0;
    h->ts = NULL;
    PyObject *type = NULL, *value = NULL, *tb = NULL;
    int known = 0;
    if (report) {
        PyErr_GetExcInfo(&type, &value, &tb);
        if (value && PyExceptionInstance_Check(value)) {
            PyObject *trace = PyException_GetTraceback(value);
            for (PyTracebackObject *x = (PyTracebackObject *)trace; x && !known; x = x->tb_next)
                known = x->tb_frame == out.frames[0];
            Py_XDECREF(trace);
        }
    }
    for (int i = 0; i < out.n; i++) {
        if (report)
            cs_live_on_exit_at(cs_family_frame_code(out.frames[i]), out.frames[i], 2, known ? value : NULL,
                               out.ends[i]);
        Py_DECREF(out.frames[i]);
    }
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

static void hold_exit(PyFrameObject *f)
{
    PyThreadState *ts = PyThreadState_Get();
    struct held_exits *h = mine && mine->ts == ts ? mine : NULL;
    for (int i = 0; !h && i < HELD_THREADS; i++)
        if (!held[i].ts)
            h = &held[i];
    if (!h || h->n == MAX_HELD) {
        if (h)
            release_held(h, 1);
        else { /* no room: report it now, without the exception */
            cs_live_on_exit(cs_family_frame_code(f), f, 2, NULL);
            return;
        }
    }
    h->ts = ts;
    Py_INCREF(f);
    h->frames[h->n] = f;
    h->ends[h->n++] = cs_live_now_ns();
    mine = h;
}

static int profile(PyObject *obj, PyFrameObject *f, int what, PyObject *arg)
{
    (void)obj;
    /* Anything but the exception leaving one more frame settles it. */
    if (mine && mine->n && mine->ts == PyThreadState_Get() && !(what == PyTrace_RETURN && !arg) &&
        what != PyTrace_C_EXCEPTION)
        release_held(mine, 1);
    switch (what) {
    case PyTrace_CALL:
        cs_live_on_start(cs_family_frame_code(f), f, 0);
        break;
    case PyTrace_RETURN:
        if (!arg) /* raised: see hold_exit */
            hold_exit(f);
        else
            cs_live_on_exit(cs_family_frame_code(f), f, cs_family_frame_is_yielding(f) ? 1 : 0, arg);
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
    cs_live_forget_open_calls(); /* their ends go unseen from now on */
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
    for (int i = 0; i < HELD_THREADS; i++) /* their watches are gone: nothing to report */
        if (held[i].ts)
            release_held(&held[i], 0);
    PyInterpreterState *interp = PyThreadState_Get()->interp;
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts; ts = PyThreadState_Next(ts))
        if (ts->c_profilefunc == profile)
            cs_family_set_profile(ts, NULL);
    PyErr_Restore(type, value, tb);
}

/* A busy thread's profile function already sees every call it makes. */
void cs_live_hooks_widening(int open)
{
    (void)open;
}

#endif
