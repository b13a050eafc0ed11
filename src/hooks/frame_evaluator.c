/*
 * frame_evaluator.c — Python functions recorded through PEP 523 (see
 * frame_evaluator.h).
 *
 * Every Python frame, started or resumed, is evaluated by the function the
 * interpreter holds; callscope puts its own in front of the one it finds.
 * Reading the clock around that call costs about two thirds of what a
 * sys.monitoring PY_START/PY_RETURN pair does on 3.12, and a small part of
 * what a profile function does before, which makes the interpreter run
 * every instruction through its tracing path (bench/run.py prints these
 * floors). The return value or exception is at hand when the frame
 * returns. From 3.11 the interpreter then no longer runs Python calls
 * inline in one C frame, which is part of that cost, and each call becomes
 * C recursion (before, its C frame adds to the interpreter's own); both are
 * kept within the thread's stack by eval_guard.h.
 */
#include "hooks/frame_evaluator.h"

#include "hooks/eval_guard.h"
#include "hooks/interp_frame.h"

static _PyFrameEvalFunction inner_eval; /* the evaluator found at install */
#define PASS_ON(ts, f, throwflag) cs_eval_call(inner_eval, ts, f, throwflag)
static int installed;
/* Another evaluator was put in front of ours, so uninstall could not take
 * ours out: it stays in the chain, passing frames on. */
static int stranded;

/* The message of the RuntimeError a generator's StopIteration becomes
 * (PEP 479) when the interpreter converts it only after the frame has left
 * the evaluator, or NULL. */
static const char *converted_stop(int co_flags, PyObject *type)
{
    int async_gen = co_flags & CO_ASYNC_GENERATOR;
    if (PyErr_GivenExceptionMatches(type, PyExc_StopIteration))
        return co_flags & CO_COROUTINE ? "coroutine raised StopIteration"
               : async_gen                   ? "async generator raised StopIteration"
                                             : "generator raised StopIteration";
    if (async_gen && PyErr_GivenExceptionMatches(type, PyExc_StopAsyncIteration))
        return "async generator raised StopAsyncIteration";
    return NULL;
}

/* The frame let an exception out: it is the pending one. `gen_flags`: the
 * code's flags if the frame was a generator's, else 0. */
static __attribute__((noinline)) void record_raised(struct cs_thread *t, int gen_flags, uint64_t now)
{
    /* The one a frame let out is kept aside while it is recorded. */
    struct cs_pending p = cs_pending_set_aside();
    PyObject *type = cs_pending_type(p);
    const char *stop = CS_PY_STOP_CONVERTED_LATE && gen_flags && type ? converted_stop(gen_flags, type) : NULL;
    if (stop) {
        PyObject *message = PyUnicode_FromString(stop);
        cs_record_unwind(t, PyExc_RuntimeError, message, now);
        Py_XDECREF(message);
    } else {
        cs_record_unwind(t, type, cs_pending_value(p), now);
    }
    cs_pending_restore(p);
}

/* Passes the frame on, within the thread's stack (eval_guard.h). */
static inline PyObject *run_guarded(PyThreadState *ts, struct cs_thread *t, cs_frame *f, int throwflag)
{
    struct cs_eval_guard guard = cs_eval_guard_enter(ts, &t->stack_floor, &t->eval_count);
    PyObject *result = PASS_ON(ts, f, throwflag);
    cs_eval_guard_leave(ts, &t->eval_count, guard);
    return result;
}

/* A frame passed on without being recorded. It takes C stack all the same
 * (from 3.11 the evaluator keeps the interpreter from running calls
 * inline), so it is guarded too: untraced code may recurse deeply. */
static __attribute__((noinline)) PyObject *pass_on_guarded(PyThreadState *ts, struct cs_thread *t, cs_frame *f,
                                                           int throwflag)
{
    return run_guarded(ts, t, f, throwflag);
}

static CS_EVALUATOR(evaluate)
{
    PyCodeObject *code = cs_frame_code(f);
    struct cs_thread *t = cs_rec.recording ? cs_thread_get() : NULL;
    if (!t)
        return PASS_ON(ts, f, throwflag);
    struct cs_code_info *ci = cs_code_info_current(cs_code_extra_of(code));
    int gen = cs_frame_of_generator(f), co_flags = code->co_flags;
    /* Calling a generator function runs its frame (from 3.11) only up to
     * the point where the generator object is made; the call starts when
     * it is first resumed. */
    if (!gen && (co_flags & (CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR)))
        return PASS_ON(ts, f, throwflag);
    uint64_t now = cs_ticks();
    int resumed = gen && !cs_frame_just_created(f);
    if (!ci || (!ci->id && ci->traced)) {
        ci = cs_frame_resolve(code, f);
        if (!ci)
            return pass_on_guarded(ts, t, f, throwflag);
#if CS_PY_INIT_PAST_EVALUATOR
        cs_monitoring_watch_init(code);
#endif
    }
    enum cs_verdict v = cs_entering(t, ci);
    if (v == CS_UNTRACED) {
        if (ci->names_thread && !resumed)
            cs_frame_name_thread(t, code, f);
        return pass_on_guarded(ts, t, f, throwflag);
    }
    if (v == CS_RECORD) {
        /* A frame thrown into (throw(), a task cancelled) starts with the
         * exception pending: capturing its arguments must neither see nor
         * clear it. */
        struct cs_pending thrown = {0};
        if (throwflag)
            thrown = cs_pending_set_aside();
        if (resumed)
            cs_record_resume(t, ci, code, now);
        else if (!cs_rec.no_args || !cs_record_call_bare(t, ci, now))
            cs_frame_record_call(t, ci, code, f, now);
        if (throwflag)
            cs_pending_restore(thrown);
    }
    uint32_t session = cs_rec.session;
    /* The code info goes with the code object, which the frame may hold
     * the last reference to. */
    int notrace = ci->notrace, traced = ci->traced;
#if CS_PY_INIT_PAST_EVALUATOR
    t->entering = f;
    PyObject *result = run_guarded(ts, t, f, throwflag);
    t->entering = NULL;
#else
    PyObject *result = run_guarded(ts, t, f, throwflag);
#endif
    now = cs_ticks();
    /* A frame of an earlier session (a new one resets what @notrace left
     * open) leaves no trace in this one. */
    if (cs_rec.session != session || cs_leaving_code(t, notrace, traced) != CS_RECORD || !cs_rec.recording)
        return result;
    if (!result) {
        record_raised(t, gen ? co_flags : 0, now);
        return NULL;
    }
    int yielded = gen && cs_frame_suspended(f);
    if (!cs_rec.no_args || !cs_record_exit_bare(t, yielded, now))
        cs_record_exit(t, result, yielded, now);
    return result;
}

int cs_evaluator_wanted(void)
{
    const struct cs_capture_options *o = &cs_rec.ring.header->options;
    /* Each Python call then takes more C stack: --deep-recursion asks for
     * the family's other hook. */
    if (o->flags & CS_OPT_DEEP_RECURSION)
        return 0;
#if CS_PY_HAS_MONITORING
    /* Code left out by a filter costs nothing under sys.monitoring, which
     * stops reporting it, but would still pass through the evaluator. */
    return !o->include[0] && !o->exclude[0] && !(o->flags & (CS_OPT_NO_STDLIB | CS_OPT_NO_SITE));
#else
    /* A profile function costs every frame, traced or not, more than the
     * evaluator does (C calls, reported only to it, come from one too). */
    return 1;
#endif
}

#define OURS CS_EVALUATOR_ENTRY(evaluate)

void cs_evaluator_install(void)
{
    /* Left inside another library's evaluator by the last session, ours is
     * still called, through it: it serves again as it is. */
    if (!stranded) {
        PyInterpreterState *interp = PyThreadState_GET()->interp;
        inner_eval = cs_eval_func_get(interp);
        cs_eval_func_set(interp, OURS);
    }
    installed = 1;
}

void cs_evaluator_uninstall(void)
{
    if (!installed)
        return;
    /* Frames still running return through evaluate(), which passes them on
     * once the session is over; an evaluator installed after ours keeps
     * calling it the same way. */
    PyInterpreterState *interp = PyThreadState_GET()->interp;
    stranded = cs_eval_func_get(interp) != OURS;
    if (!stranded)
        cs_eval_func_set(interp, inner_eval);
    installed = 0;
}
