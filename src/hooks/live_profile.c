/*
 * live_profile.c — live observation hooks on Python 3.11.
 *
 * 3.11 has no per-function events and runs Python calls inline, past any
 * frame evaluator. An observed function's code object is therefore put
 * aside for a copy that calls callscope when a frame of it starts, and when
 * a generator or coroutine of it goes on after a yield or await
 * (code_copy.h). That call reports the start and gives the thread a C
 * profile function for as long as the observed call (or step) lasts: it
 * sees the call's end, and the callees a trace shows. The program's own
 * profile function, if the thread has one, is kept and called first for
 * every event, so it sees everything as before. The rest of the program
 * runs untouched.
 *
 * Code the copier does not understand is not copied: while such code is
 * observed, every thread gets the C profile function instead, and threads
 * started meanwhile get it through threading.setprofile. Threads that
 * already had a profile function keep theirs: the agent then refuses to
 * observe rather than take it away. Everything is put back when the last
 * watch ends.
 *
 * Counting every call (`top --calls`, live/call_count.h) needs to see the
 * calls that run inline: a frame evaluator of callscope's stands in front
 * of the interpreter's for as long as calls are counted (see "counting
 * every call" below).
 */
#include "py/compat.h"
#if !CS_PY_HAS_MONITORING && !CS_PY_LIVE_BY_EVALUATOR

#include "core/clock.h"
#include "hooks/code_copy.h"
#include "hooks/eval_guard.h"
#include "hooks/family.h"
#include "live/call_count.h"
#include "live/observer.h"

static int installed;  /* observing: the copies are in place */
static int everywhere; /* ... and a profile function is on every thread */

/* The code objects put aside and their copies in place (strong references). */
#define MAX_COPIES 64
static struct cs_code_copy copies[MAX_COPIES];
static int ncopies;

/* The code a frame runs, as the watches know it: the original of a copy. */
static PyCodeObject *original_of(PyFrameObject *f)
{
    PyCodeObject *code = cs_family_frame_code(f);
    for (int i = 0; i < ncopies; i++)
        if ((PyObject *)code == copies[i].copy)
            return (PyCodeObject *)copies[i].original;
    return code;
}
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
            cs_live_on_exit_at(original_of(out.frames[i]), out.frames[i], 2, known ? value : NULL,
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
            cs_live_on_exit(original_of(f), f, 2, NULL);
            return;
        }
    }
    h->ts = ts;
    Py_INCREF(f);
    h->frames[h->n] = f;
    h->ends[h->n++] = cs_monotonic_ns();
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
    case PyTrace_CALL: {
        cs_frame *frame = cs_frame_of_object(f);
        cs_live_on_start(original_of(f), f, cs_frame_of_generator(frame) && !cs_frame_just_created(frame));
        break;
    }
    case PyTrace_RETURN:
        if (!arg) /* raised: see hold_exit */
            hold_exit(f);
        else
            cs_live_on_exit(original_of(f), f, cs_family_frame_is_yielding(f) ? 1 : 0, arg);
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

/* ---- a profile function for the length of one observed call ---- */

/* Threads given it, with the profile function they had (the program's, or
 * none), which is called first for every event. Looked up by thread state;
 * a slot of a thread that ended is taken again. */
#define CALL_THREADS 64
static struct {
    PyThreadState *ts;
    Py_tracefunc kept;
} watching[CALL_THREADS];

static int slot_of(PyThreadState *ts)
{
    for (int i = 0; i < CALL_THREADS; i++)
        if (watching[i].ts == ts)
            return i;
    return -1;
}

static void stop_watching(PyThreadState *ts, int slot);

static int during_call(PyObject *obj, PyFrameObject *f, int what, PyObject *arg)
{
    PyThreadState *ts = PyThreadState_Get();
    int slot = slot_of(ts);
    int rc = slot >= 0 && watching[slot].kept ? watching[slot].kept(obj, f, what, arg) : 0;
    profile(NULL, f, what, arg);
    /* The observed call, and any it was inside of, has ended. */
    if ((what == PyTrace_RETURN || !installed) && cs_live_thread_open_calls() == 0 &&
        !(mine && mine->n && mine->ts == ts))
        stop_watching(ts, slot);
    return rc;
}

/* Sets during_call on the thread in front of its own profile function,
 * keeping what sys.getprofile() returns. No audit event: nothing of the
 * program runs. */
static void start_watching(PyThreadState *ts)
{
    if (ts->c_profilefunc == during_call || ts->c_profilefunc == profile)
        return;
    int slot = -1;
    for (int i = 0; i < CALL_THREADS && slot < 0; i++)
        if (!watching[i].ts || watching[i].ts == ts)
            slot = i;
    if (slot < 0)
        return; /* that many threads in observed calls at once: this one's end goes unseen */
    watching[slot].ts = ts;
    watching[slot].kept = ts->c_profilefunc;
    ts->c_profilefunc = during_call;
    ts->cframe->use_tracing = 255; /* what 3.11 ORs into each opcode while tracing */
}

static void stop_watching(PyThreadState *ts, int slot)
{
    if (ts->c_profilefunc != during_call)
        return;
    ts->c_profilefunc = slot >= 0 ? watching[slot].kept : NULL;
    ts->cframe->use_tracing = ts->c_profilefunc || ts->c_tracefunc ? 255 : 0;
    if (slot >= 0)
        watching[slot].ts = NULL;
}

/* ---- the hook the copies call ---- */

/* Called by a copy's instructions, in the frame that starts or goes on. */
static void report_start(int resumed)
{
    /* A thread whose calls a profile function of callscope's sees already
     * (inside an observed call, or all of them) had this start reported. */
    PyThreadState *ts = PyThreadState_Get();
    int seen = everywhere || ts->c_profilefunc == during_call;
    PyFrameObject *f = installed && !seen ? PyEval_GetFrame() : NULL;
    if (f) {
        cs_live_on_start(original_of(f), f, resumed);
        if (cs_live_thread_open_calls() > 0)
            start_watching(ts);
    }
}

/* Not builtin functions: a profiler of the program's sees no C call for
 * them. A generator thrown into calls `resumed` with the exception on the
 * frame's stack, none pending. */
static PyObject *entered(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    (void)self, (void)args, (void)nargsf, (void)kwnames;
    report_start(0);
    Py_RETURN_NONE;
}

static PyObject *resumed(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    (void)self, (void)args, (void)nargsf, (void)kwnames;
    report_start(1);
    Py_RETURN_NONE;
}

typedef struct {
    PyObject_HEAD
    vectorcallfunc call;
} entry_hook_object;

static PyTypeObject entry_hook_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "callscope.entry_hook",
    .tp_basicsize = sizeof(entry_hook_object),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(entry_hook_object, call),
    .tp_call = PyVectorcall_Call,
};

/* For the life of the process: copies left in running frames call them. */
static entry_hook_object *entry_hook, *resume_hook;

static int make_hooks(void)
{
    if (!entry_hook && PyType_Ready(&entry_hook_type) == 0 &&
        (entry_hook = PyObject_New(entry_hook_object, &entry_hook_type)))
        entry_hook->call = entered;
    if (entry_hook && !resume_hook && (resume_hook = PyObject_New(entry_hook_object, &entry_hook_type)))
        resume_hook->call = resumed;
    return entry_hook && resume_hook ? 0 : -1;
}

static void put_originals_back(void)
{
    for (int i = 0; i < ncopies; i++) {
        cs_code_copy_take_back(&copies[i]);
        cs_code_copy_clear(&copies[i]);
    }
    ncopies = 0;
}

/* Copies of the watches' code in place; 1 if some code could not be
 * copied, 0, or -1 with a Python error set. */
static int put_copies_in_place(void)
{
    if (make_hooks() != 0)
        return -1;
    int uncopied = 0;
    for (int w = 0; w < CS_LIVE_MAX_WATCHES; w++) {
        struct cs_live_watch *watch = cs_live_watches[w];
        for (Py_ssize_t k = 0; watch && k < PyTuple_GET_SIZE(watch->codes); k++) {
            PyObject *code = PyTuple_GET_ITEM(watch->codes, k);
            int known = 0;
            for (int i = 0; i < ncopies && !known; i++)
                known = copies[i].original == code;
            if (known)
                continue;
            if (ncopies == MAX_COPIES || cs_code_copy_make((PyCodeObject *)code, (PyObject *)entry_hook,
                                                           (PyObject *)resume_hook, &copies[ncopies]) != 0) {
                PyErr_Clear();
                uncopied = 1;
                continue;
            }
            cs_code_copy_put_in_place(&copies[ncopies++]);
        }
    }
    return uncopied;
}

/* ---- a profile function on every thread (code not copied) ---- */

/* threading.setprofile() target for threads started while observing. */
static PyObject *thread_hook(PyObject *self, PyObject *args)
{
    (void)self, (void)args;
    if (everywhere)
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

static int profile_everywhere(void)
{
    if (everywhere)
        return 0;
    PyInterpreterState *interp = PyThreadState_Get()->interp;
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts; ts = PyThreadState_Next(ts))
        if (ts->c_profilefunc && ts->c_profilefunc != profile && ts->c_profilefunc != during_call) {
            PyErr_SetString(PyExc_RuntimeError,
                            "a profiler (sys.setprofile) is active in the target; on Python 3.11 callscope "
                            "cannot observe this function's code alongside it");
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
    everywhere = 1;
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts; ts = PyThreadState_Next(ts)) {
        stop_watching(ts, slot_of(ts));
        cs_family_set_profile(ts, profile);
    }
    return 0;
}

static void profile_nowhere(void)
{
    if (!everywhere)
        return;
    everywhere = 0;
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
}

/* ---- counting every call (top --calls) ----
 *
 * With an evaluator of its own (PEP 523) in place the interpreter no longer
 * runs Python calls inline: every frame, started or resumed, comes through
 * it. That costs every call of the program (docs/live.md has the
 * measurements), so it is there only while calls are counted. Each call
 * then takes C stack, which eval_guard.h keeps within the thread's. */
static _PyFrameEvalFunction count_inner; /* the evaluator found */
static int counter_in_chain; /* ours is called: in place, or stranded inside another */
static __thread char *stack_floor __attribute__((tls_model("initial-exec")));
static __thread int eval_count __attribute__((tls_model("initial-exec")));

static CS_EVALUATOR(count_frames)
{
    PyCodeObject *code = cs_frame_code(f);
    /* A generator function's call runs its frame only up to making the
     * generator; the generator's first step is the start (as PY_START says
     * on 3.12). One thrown into before that step never runs. */
    if (cs_live_counting && !throwflag &&
        (cs_frame_of_generator(f) ? cs_frame_just_created(f)
                                  : !(code->co_flags & (CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR))))
        cs_live_count_call(code);
    struct cs_eval_guard guard = cs_eval_guard_enter(ts, &stack_floor, &eval_count);
    PyObject *result = cs_eval_call(count_inner, ts, f, throwflag);
    cs_eval_guard_leave(ts, &eval_count, guard);
    return result;
}

#define COUNTER CS_EVALUATOR_ENTRY(count_frames)

/* Puts count_frames in front of the interpreter's evaluator, or takes it
 * out. One that another evaluator was put in front of meanwhile cannot be
 * taken out: it stays in the chain, passing frames on, and serves again
 * as it is when counting starts again. */
static void count_every_call(int on)
{
    PyInterpreterState *interp = PyThreadState_Get()->interp;
    if (on && !counter_in_chain) {
        count_inner = cs_eval_func_get(interp);
        cs_eval_func_set(interp, COUNTER);
        counter_in_chain = 1;
    } else if (!on && counter_in_chain && cs_eval_func_get(interp) == COUNTER) {
        cs_eval_func_set(interp, count_inner);
        counter_in_chain = 0;
    }
}

/* ---- the family's interface ---- */

int cs_live_hooks_update(void)
{
    if (!cs_live_any_watch()) {
        cs_live_hooks_remove();
        return 0;
    }
    /* Calls under way ran the copies being replaced: forgotten. */
    cs_live_forget_open_calls();
    put_originals_back();
    int uncopied = put_copies_in_place();
    if (uncopied < 0 || (uncopied && profile_everywhere() != 0)) {
        put_originals_back();
        return -1;
    }
    if (!uncopied)
        profile_nowhere();
    installed = 1;
    count_every_call(cs_live_counting_update() > 0);
    return 0;
}

void cs_live_hooks_remove(void)
{
    if (!installed)
        return;
    installed = 0;
    cs_live_counting_stop();
    count_every_call(0);
    cs_live_forget_open_calls(); /* their ends go unseen from now on */
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    put_originals_back();
    profile_nowhere();
    for (int i = 0; i < HELD_THREADS; i++) /* their watches are gone: nothing to report */
        if (held[i].ts)
            release_held(&held[i], 0);
    PyInterpreterState *interp = PyThreadState_Get()->interp;
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts; ts = PyThreadState_Next(ts))
        stop_watching(ts, slot_of(ts));
    PyErr_Restore(type, value, tb);
}

/* A thread inside a trace invocation has a profile function already. */
void cs_live_hooks_widening(int open)
{
    (void)open;
}

#endif
