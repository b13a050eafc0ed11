/*
 * noop_hook.c — `_noop_hook`, a bench-only extension: the cheapest hook a
 * tracer could install, so that `make bench` can show the floor under
 * callscope's own overhead on this machine.
 *
 * On 3.12+ the floor is a sys.monitoring PY_START + PY_RETURN callback written
 * in C that returns at once (bench/measure.py registers `noop` under a tool id
 * of its own). On 3.8–3.11 it is a C profile function installed with
 * PyEval_SetProfile that returns 0 (`set_profile(1)`).
 *
 * `clocked` (and `set_profile(3)`) does only what no timing tracer can
 * skip: it reads the clock callscope reads (the time stamp counter on
 * x86-64, CLOCK_MONOTONIC elsewhere) once per event, so the floor for
 * --no-args is this one. `set_eval(1)` is the same through a frame
 * evaluator (PEP 523), which is how callscope hooks Python functions (on
 * 3.12 and 3.13 when everything is traced, before unless --c-calls).
 *
 * The same module counts calls exactly (`counter` / `set_profile(2)`, read
 * with `count()`), so per-call figures divide by the real number of calls.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h> /* PyFrameObject on 3.8 */
#include <time.h>
#if PY_VERSION_HEX < 0x03090000
#define Py_BUILD_CORE 1
#include "internal/pycore_pystate.h" /* the interpreter's evaluator on 3.8 */
#undef Py_BUILD_CORE
#endif

static unsigned long long calls;
static volatile unsigned long long last_ticks; /* kept, so the read is not optimised away */

static inline unsigned long long ticks(void)
{
#if defined(__x86_64__)
    return __builtin_ia32_rdtsc();
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
#endif
}

/* sys.monitoring callbacks (vectorcall, so CPython calls them directly). */
static PyObject *noop(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self, (void)args, (void)nargs;
    Py_RETURN_NONE;
}

static PyObject *clocked(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self, (void)args, (void)nargs;
    last_ticks = ticks();
    Py_RETURN_NONE;
}

static PyObject *counter(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self, (void)args, (void)nargs;
    calls++;
    Py_RETURN_NONE;
}

/* PyEval_SetProfile functions. */
static int noop_profile(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
{
    (void)obj, (void)frame, (void)what, (void)arg;
    return 0;
}

static int clocked_profile(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
{
    (void)obj, (void)frame, (void)what, (void)arg;
    last_ticks = ticks();
    return 0;
}

static int counting_profile(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
{
    (void)obj, (void)frame, (void)arg;
    if (what == PyTrace_CALL)
        calls++;
    return 0;
}

/* set_profile(mode): 0 removes the profile function, 1 installs the no-op
 * one, 2 the counting one, 3 the clock-reading one. Only for this thread,
 * which is all bench uses. */
static PyObject *set_profile(PyObject *self, PyObject *arg)
{
    (void)self;
    long mode = PyLong_AsLong(arg);
    if (mode == -1 && PyErr_Occurred())
        return NULL;
    PyEval_SetProfile(mode == 1   ? noop_profile
                      : mode == 2 ? counting_profile
                      : mode == 3 ? clocked_profile
                                  : NULL,
                      NULL);
    Py_RETURN_NONE;
}

/* The frame evaluator (PEP 523) callscope uses: the default one, with the
 * clock read before and after. Before 3.11 it is handed frame objects, and
 * on 3.8 not the thread. */
#if PY_VERSION_HEX >= 0x030B0000
typedef struct _PyInterpreterFrame evaluated_frame;
#else
typedef PyFrameObject evaluated_frame;
#endif
static _PyFrameEvalFunction inner_eval;

#if PY_VERSION_HEX >= 0x03090000
static PyObject *clocked_eval(PyThreadState *ts, evaluated_frame *f, int throwflag)
{
    last_ticks = ticks();
    PyObject *r = inner_eval(ts, f, throwflag);
    last_ticks = ticks();
    return r;
}
#define current_evaluator _PyInterpreterState_GetEvalFrameFunc
#define set_evaluator _PyInterpreterState_SetEvalFrameFunc
#else
static PyObject *clocked_eval(evaluated_frame *f, int throwflag)
{
    last_ticks = ticks();
    PyObject *r = inner_eval(f, throwflag);
    last_ticks = ticks();
    return r;
}

static _PyFrameEvalFunction current_evaluator(PyInterpreterState *interp)
{
    return interp->eval_frame;
}

static void set_evaluator(PyInterpreterState *interp, _PyFrameEvalFunction fn)
{
    interp->eval_frame = fn;
}
#endif

/* set_eval(mode): 1 puts clocked_eval in front of the interpreter's
 * evaluator, 0 takes it away. */
static PyObject *set_eval(PyObject *self, PyObject *arg)
{
    (void)self;
    long mode = PyLong_AsLong(arg);
    if (mode == -1 && PyErr_Occurred())
        return NULL;
    PyInterpreterState *interp = PyThreadState_GET()->interp;
    if (mode && current_evaluator(interp) != clocked_eval) {
        inner_eval = current_evaluator(interp);
        set_evaluator(interp, clocked_eval);
    } else if (!mode && current_evaluator(interp) == clocked_eval) {
        set_evaluator(interp, inner_eval);
    }
    Py_RETURN_NONE;
}

static PyObject *count(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    unsigned long long n = calls;
    calls = 0;
    return PyLong_FromUnsignedLongLong(n);
}

static PyMethodDef methods[] = {
    {"noop", (PyCFunction)(void (*)(void))noop, METH_FASTCALL, "sys.monitoring callback that does nothing"},
    {"counter", (PyCFunction)(void (*)(void))counter, METH_FASTCALL, "sys.monitoring callback that counts"},
    {"clocked", (PyCFunction)(void (*)(void))clocked, METH_FASTCALL, "sys.monitoring callback that reads the clock"},
    {"set_profile", set_profile, METH_O, "0: none, 1: no-op C profile function, 2: counting one, 3: clocked one"},
    {"count", count, METH_NOARGS, "calls counted since the last count(), and reset"},
    {"set_eval", set_eval, METH_O, "1: a frame evaluator that reads the clock around each frame, 0: none"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_noop_hook", NULL, -1, methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__noop_hook(void)
{
    return PyModule_Create(&module);
}
