/*
 * family_profile.c — Python 3.8 to 3.11: Python calls through the frame
 * evaluator (frame_evaluator.c), or with --deep-recursion a C profile
 * function (PyEval_SetProfile) on every thread; C calls (--c-calls) through
 * that profile function in either case.
 *
 * Threads that exist at start get the function directly; threads started
 * later get it through threading.setprofile(), whose hook installs the C
 * function on its first event and steps aside. Arguments are read from the
 * frame the call event hands us.
 */
#include "py/compat.h"
#if !CS_PY_HAS_MONITORING

#include "capture/recorder.h"
#include "capture/values.h"
#include "hooks/family.h"
#include "hooks/frame_evaluator.h"
#include "hooks/interp_frame.h"

static int installed;
static int python_calls; /* the profile function records them (else the evaluator) */
static int c_calls;      /* and C calls */

/* The frame a frame object stands for (from 3.11 it only points to it). */
#define frame_of cs_frame_of_object

static inline PyCodeObject *frame_code(PyFrameObject *f)
{
    return cs_frame_code(frame_of(f));
}

/* Is this call event the first start of a generator/coroutine frame, or a
 * resume after a yield? */
static int is_resume(PyFrameObject *f, struct cs_code_info *ci)
{
    if (!(ci->flags & CS_CODE_GENERATOR))
        return 0;
    return cs_frame_object_resumed(f);
}

/* Did this return event end the frame, or suspend it at a yield? */
static int is_yield(PyFrameObject *f)
{
    return cs_frame_of_generator(frame_of(f)) && cs_frame_suspended(frame_of(f));
}

static struct cs_code_info *info_for(PyFrameObject *f, PyCodeObject *code)
{
    struct cs_code_info *ci = cs_code_info_current(cs_code_extra_of(code));
    if (ci && (ci->id || !ci->traced))
        return ci;
    return cs_frame_resolve(code, frame_of(f));
}

/* The profile hook is called after the interpreter has taken the pending
 * exception away, so a frame that ends by an exception is only known to
 * have raised. Its exit is held back until the thread's next event: if the
 * exception has been caught by then (it is sys.exc_info() inside the
 * handler) and its traceback passes through the first frame held, the
 * exits are recorded with it; otherwise as "<exception>". A C function the
 * exception leaves meanwhile (--c-calls) is held with them, in order.
 * Holding them back changes no times: each keeps its own timestamp. */
static void release_unwinds(struct cs_thread *t)
{
    PyObject *type = NULL, *value = NULL, *tb = NULL;
    int known = 0;
    PyErr_GetExcInfo(&type, &value, &tb);
    if (value && PyExceptionInstance_Check(value)) {
        PyObject *trace = PyException_GetTraceback(value);
        for (PyTracebackObject *x = (PyTracebackObject *)trace; x && !known; x = x->tb_next)
            known = (void *)x->tb_frame == t->held_frame;
        Py_XDECREF(trace);
    }
    cs_record_held_unwinds(t, known ? type : NULL, known ? value : NULL);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

static void hold_unwind(struct cs_thread *t, PyFrameObject *f, int c_function, uint64_t now)
{
    if (t->held_unwinds == CS_MAX_HELD_UNWINDS)
        release_unwinds(t);
    if (t->held_unwinds == 0)
        t->held_frame = f;
    if (c_function)
        t->held_c_raises |= 1u << t->held_unwinds;
    t->held_unwind_ticks[t->held_unwinds++] = now;
}

static int profile(PyObject *obj, PyFrameObject *f, int what, PyObject *arg)
{
    (void)obj;
    uint64_t now = cs_ticks();
    struct cs_thread *t = cs_thread_get();
    if (!t || (!python_calls && (what == PyTrace_CALL || what == PyTrace_RETURN)))
        return 0;
    /* Anything but the exception leaving one more frame (Python or C)
     * settles it. */
    if (t->held_unwinds && !(what == PyTrace_RETURN && arg == NULL) && what != PyTrace_C_EXCEPTION)
        release_unwinds(t);
    switch (what) {
    case PyTrace_CALL: {
        PyCodeObject *code = frame_code(f);
        struct cs_code_info *ci = info_for(f, code);
        if (!ci || cs_entering(t, ci) != CS_RECORD)
            return 0;
        if (is_resume(f, ci)) {
            cs_record_resume(t, ci, code, now);
        } else if (cs_rec.no_args && cs_record_call_bare(t, ci, now)) {
            /* timing only: written inline */
        } else {
            PyObject *argv[256];
            int n = ci->nargs > 255 ? 255 : ci->nargs;
            cs_frame_args(frame_of(f), code, n, argv);
            cs_record_call(t, ci, code, argv, now);
        }
        return 0;
    }
    case PyTrace_RETURN: {
        struct cs_code_info *ci = cs_code_info_current(cs_code_extra_of(frame_code(f)));
        if (!ci || cs_leaving(t, ci) != CS_RECORD)
            return 0;
        if (!arg)
            hold_unwind(t, f, 0, now); /* no value: it ends by an exception */
        else if (!cs_rec.no_args || !cs_record_exit_bare(t, is_yield(f), now))
            cs_record_exit(t, arg, is_yield(f), now);
        return 0;
    }
    case PyTrace_C_CALL:
        if (c_calls && !t->suppressed && cs_frame_c_calls_recorded(frame_code(f), frame_of(f)))
            cs_record_c_call(t, arg, now);
        return 0;
    case PyTrace_C_RETURN:
    case PyTrace_C_EXCEPTION:
        if (c_calls && !t->suppressed && cs_frame_c_calls_recorded(frame_code(f), frame_of(f))) {
            if (what == PyTrace_C_EXCEPTION && t->held_unwinds)
                hold_unwind(t, f, 1, now); /* after the frames held */
            else
                cs_record_c_exit(t, what == PyTrace_C_EXCEPTION, now);
        }
        return 0;
    }
    return 0;
}

void cs_family_set_profile(PyThreadState *ts, Py_tracefunc fn)
{
    cs_set_thread_profile(ts, fn);
}

/* threading.setprofile() target: runs as a Python-level profiler in each
 * new thread, once, and replaces itself with the C function. It runs
 * within Thread._bootstrap_inner, whose `self` names the thread. */
static PyObject *thread_hook(PyObject *self, PyObject *args)
{
    (void)self;
    if (!installed)
        Py_RETURN_NONE;
    cs_family_set_profile(PyThreadState_Get(), profile);
    struct cs_thread *t = cs_thread_get();
    PyObject *frame = PyTuple_GET_SIZE(args) > 0 ? PyTuple_GET_ITEM(args, 0) : NULL;
    /* The evaluator names threads itself. */
    if (!t || !frame || !PyFrame_Check(frame) || !python_calls)
        Py_RETURN_NONE;
    Py_INCREF(frame);
    for (int up = 0; frame && up < 4; up++) {
        PyFrameObject *f = (PyFrameObject *)frame;
        PyCodeObject *code = frame_code(f);
        PyObject *self = code->co_argcount > 0 ? cs_frame_slot(frame_of(f), 0) : NULL;
        if (self && PyUnicode_CompareWithASCIIString(code->co_name, "_bootstrap_inner") == 0) {
            cs_record_thread_object(t, self);
            break;
        }
        PyObject *back = (PyObject *)cs_frame_object_back(f);
        Py_DECREF(frame);
        frame = back;
    }
    Py_XDECREF(frame);
    Py_RETURN_NONE;
}

static PyMethodDef thread_hook_def = {"_callscope_thread_hook", thread_hook, METH_VARARGS, NULL};

static int set_threading_hook(PyObject *hook)
{
    PyObject *threading = PyImport_ImportModule("threading");
    if (!threading)
        return -1;
    PyObject *r = PyObject_CallMethod(threading, "setprofile", "O", hook);
    Py_DECREF(threading);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

int cs_family_install(void)
{
    int evaluator = cs_evaluator_wanted(), want_c_calls = cs_rec.ring.header->options.flags & CS_OPT_C_CALLS;
    if (evaluator)
        cs_evaluator_install();
    if (evaluator && !want_c_calls)
        return 0;
    PyObject *hook = PyCFunction_New(&thread_hook_def, NULL);
    if (!hook || set_threading_hook(hook) != 0) {
        Py_XDECREF(hook);
        cs_evaluator_uninstall();
        return -1;
    }
    Py_DECREF(hook);
    installed = 1;
    python_calls = !evaluator;
    c_calls = want_c_calls;
    PyInterpreterState *interp = PyThreadState_Get()->interp;
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts; ts = PyThreadState_Next(ts))
        cs_family_set_profile(ts, profile);
    return 0;
}

void cs_family_uninstall(void)
{
    cs_evaluator_uninstall();
    if (!installed)
        return;
    installed = 0;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (set_threading_hook(Py_None) != 0)
        PyErr_Clear();
    PyInterpreterState *interp = PyThreadState_Get()->interp;
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts; ts = PyThreadState_Next(ts))
        if (ts->c_profilefunc == profile)
            cs_family_set_profile(ts, NULL);
    PyErr_Restore(type, value, tb);
}

void cs_family_frame_args(void *frame, PyCodeObject *code, int n, PyObject **out)
{
    cs_frame_args(frame_of(frame), code, n, out);
}

PyObject *cs_family_frame_globals(void *frame)
{
    return cs_frame_globals(frame_of(frame));
}

int cs_family_frame_is_yielding(void *frame)
{
    return is_yield(frame);
}

PyCodeObject *cs_family_frame_code(void *frame)
{
    return frame_code(frame);
}

void cs_family_walk_stack(void *frame, cs_frame_visit *visit, void *ctx, int max_frames)
{
    PyFrameObject *f = frame ? (PyFrameObject *)frame : PyEval_GetFrame();
    Py_XINCREF(f);
    cs_family_walk_frames(f, visit, ctx, max_frames);
}


void cs_family_walk_frames(PyFrameObject *f, cs_frame_visit *visit, void *ctx, int max_frames)
{
    for (int i = 0; f && i < max_frames; i++) {
        PyObject *globals = cs_frame_globals(frame_of(f));
        PyCodeObject *code = frame_code(f);
        PyObject *first = NULL;
        if (code->co_argcount > 0)
            cs_frame_args(frame_of(f), code, 1, &first);
        /* A frame that has not run a line yet (its start, on 3.11 in the
         * instructions a live copy put before its first) is at its def. */
        int line = PyFrame_GetLineNumber(f);
        visit(ctx, code, globals, first, line > 0 ? line : code->co_firstlineno);
        PyFrameObject *back = cs_frame_object_back(f);
        Py_DECREF(f);
        f = back;
    }
    Py_XDECREF(f);
}

#endif
