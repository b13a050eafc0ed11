/*
 * live_evaluator.c — live observation hooks on Python 3.8 to 3.10.
 *
 * These Pythons hand every frame, started or resumed, to the interpreter's
 * frame evaluator (PEP 523) through a pointer they call anyway. While
 * something is observed, callscope's evaluator stands in front of the one
 * it finds: for a frame whose code is not observed it tests one bit and
 * passes the frame on, so the rest of the program runs as fast as before
 * (docs/live.md, "What observing costs", has the measurements). The frames
 * of observed code, and every frame of a thread inside a trace invocation,
 * are reported with their arguments at the start and their return value or
 * exception at the end, on every thread, however the function was reached.
 *
 * C functions are not frames: a thread inside a trace invocation gets a C
 * profile function for the length of it, unless the program runs a
 * profiler of its own there, which is left alone (the trace then shows no
 * C calls). Nothing is asked of the program's own profile or trace
 * functions, which keep working while callscope observes.
 *
 * While `top --calls` counts calls (live/call_count.h) every bit is set as
 * well: each frame then takes the slower path, where the frames that start
 * are counted and only those observed go further.
 */
#include "py/compat.h"
#if CS_PY_LIVE_BY_EVALUATOR

#include <stdint.h>

#include "hooks/family.h"
#include "live/call_count.h"
#include "live/observer.h"

static _PyFrameEvalFunction inner_eval; /* the evaluator found at install */
#define PASS_ON(ts, f, throwflag) cs_eval_call(inner_eval, ts, f, throwflag)
static int installed;
/* Another evaluator was put in front of ours, so it could not be taken out:
 * it stays in the chain and passes every frame on. */
static int stranded;

/* One bit per hash of the observed code objects' addresses: a frame whose
 * bit is clear is not observed (set bits are confirmed by the observer).
 * While a trace invocation is open anywhere, or calls are counted, every
 * bit is set, since any frame may be one of its callees, or counts; then
 * observed_bits, always the targets' alone, tells the frames to observe
 * from those only counted. */
#define TARGET_BITS 1024
static uint64_t target_bits[TARGET_BITS / 64];
static uint64_t observed_bits[TARGET_BITS / 64];

static inline unsigned target_hash(const PyCodeObject *code)
{
    return (unsigned)((uintptr_t)code >> 6) % TARGET_BITS;
}

static inline int bit_set(const uint64_t *bits, const PyCodeObject *code)
{
    unsigned h = target_hash(code);
    return (bits[h / 64] >> (h % 64)) & 1;
}

#define maybe_target(code) bit_set(target_bits, (code))

/* The bits for the watches in force; all of them while `open`. */
static void mark_targets(int open)
{
    memset(observed_bits, 0, sizeof observed_bits);
    for (int i = 0; i < CS_LIVE_MAX_WATCHES; i++) {
        struct cs_live_watch *w = cs_live_watches[i];
        for (Py_ssize_t k = 0; w && k < PyTuple_GET_SIZE(w->codes); k++) {
            unsigned h = target_hash((PyCodeObject *)PyTuple_GET_ITEM(w->codes, k));
            observed_bits[h / 64] |= 1ull << (h % 64);
        }
    }
    if (open || cs_live_counting)
        memset(target_bits, 0xff, sizeof target_bits);
    else
        memcpy(target_bits, observed_bits, sizeof target_bits);
}

/* ---- C calls inside a trace invocation ---- */

static int c_calls(PyObject *obj, PyFrameObject *f, int what, PyObject *arg)
{
    (void)obj, (void)f;
    /* Python frames come through the evaluator. */
    if (what == PyTrace_C_CALL)
        cs_live_on_c_call(arg);
    else if (what == PyTrace_C_RETURN || what == PyTrace_C_EXCEPTION)
        cs_live_on_c_exit(what == PyTrace_C_EXCEPTION);
    return 0;
}

/* ---- the evaluator ---- */

/* The exception a frame let out, for the report: an exception instance,
 * or NULL when it is not known without running program code (a pending
 * exception not yet made into an instance, of a class of the program's,
 * whose __init__ would run). Builtin exception classes are instantiated
 * here as the interpreter would do it itself a moment later. */
static PyObject *raised_value(struct cs_pending *p)
{
    PyObject *type = cs_pending_type(*p), *value = cs_pending_value(*p);
    if (value && PyExceptionInstance_Check(value))
        return value;
    if (type && PyExceptionClass_Check(type) && !PyType_HasFeature((PyTypeObject *)type, Py_TPFLAGS_HEAPTYPE)) {
        PyErr_NormalizeException(&p->type, &p->value, &p->tb);
        if (PyErr_Occurred()) /* (it failed: no memory) */
            PyErr_Clear();
        value = cs_pending_value(*p);
        return value && PyExceptionInstance_Check(value) ? value : NULL;
    }
    return NULL;
}

static __attribute__((noinline)) PyObject *observe_frame(PyThreadState *ts, cs_frame *f, int throwflag,
                                                        PyCodeObject *code)
{
    int gen = cs_frame_of_generator(f);
    int resumed = gen && !cs_frame_just_created(f);
    if (cs_live_counting) {
        /* a generator thrown into before its first step never runs */
        if (!resumed && !throwflag)
            cs_live_count_call(code);
        if (!bit_set(observed_bits, code) && !cs_live_thread_busy())
            return PASS_ON(ts, f, throwflag);
    }
    /* A frame thrown into (throw(), a task cancelled) starts with the
     * exception pending: reading its arguments must neither see nor clear it. */
    struct cs_pending thrown = {0};
    if (throwflag)
        thrown = cs_pending_set_aside();
    cs_live_on_start(code, f, resumed);
    if (throwflag)
        cs_pending_restore(thrown);
    /* The code object may go with the frame, which reporting still needs. */
    Py_INCREF(code);
    int c_profile = 0;
    if (cs_live_thread_busy() && !ts->c_profilefunc) {
        cs_set_thread_profile_unaudited(ts, c_calls);
        c_profile = 1;
    }
    PyObject *result = PASS_ON(ts, f, throwflag);
    if (result) {
        cs_live_on_exit(code, f, gen && cs_frame_suspended(f) ? 1 : 0, result);
    } else {
        struct cs_pending p = cs_pending_set_aside();
        cs_live_on_exit(code, f, 2, raised_value(&p));
        cs_pending_restore(p);
    }
    /* The invocation that needed C calls is over (or the hooks went). */
    if (c_profile && ts->c_profilefunc == c_calls && (!cs_live_thread_busy() || !installed))
        cs_set_thread_profile_unaudited(ts, NULL);
    Py_DECREF(code);
    return result;
}

/* The path every frame of the program takes: a few instructions before
 * the frame is passed on. (Once the hooks are removed no bit is set, so a
 * stranded evaluator passes everything on.) */
static CS_EVALUATOR(evaluate)
{
    PyCodeObject *code = cs_frame_code(f);
    if (__builtin_expect(!maybe_target(code), 1))
        return PASS_ON(ts, f, throwflag);
    return installed ? observe_frame(ts, f, throwflag, code) : PASS_ON(ts, f, throwflag);
}

#define OURS CS_EVALUATOR_ENTRY(evaluate)

int cs_live_hooks_update(void)
{
    if (!cs_live_any_watch()) {
        cs_live_hooks_remove();
        return 0;
    }
    cs_live_counting_update();
    mark_targets(cs_live_open_invocations);
    if (installed)
        return 0;
    /* Left inside another evaluator by the last round of observing, ours
     * is still called through it and serves again as it is. */
    if (!stranded) {
        PyInterpreterState *interp = PyThreadState_Get()->interp;
        inner_eval = cs_eval_func_get(interp);
        cs_eval_func_set(interp, OURS);
    }
    installed = 1;
    return 0;
}

void cs_live_hooks_remove(void)
{
    if (!installed)
        return;
    installed = 0;
    cs_live_counting_stop();
    memset(target_bits, 0, sizeof target_bits);
    memset(observed_bits, 0, sizeof observed_bits);
    cs_live_forget_open_calls(); /* their ends go unseen from now on */
    PyInterpreterState *interp = PyThreadState_Get()->interp;
    /* Frames still running return through evaluate(), which passes them
     * on from now; one put in front of ours keeps calling it the same way. */
    stranded = cs_eval_func_get(interp) != OURS;
    if (!stranded)
        cs_eval_func_set(interp, inner_eval);
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts; ts = PyThreadState_Next(ts))
        if (ts->c_profilefunc == c_calls)
            cs_set_thread_profile_unaudited(ts, NULL);
}

void cs_live_hooks_widening(int open)
{
    if (!installed)
        return;
    mark_targets(open);
}

#endif
