/*
 * observer.c — the calls each thread has open, and what every start and
 * exit of instrumented code is handed to: the trace, watch, stack and
 * monitor observers (observer_*.c; observer_internal.h says which is
 * where).
 *
 * Each thread keeps a stack of the calls it saw start: the targets' calls
 * always, and every call while an invocation of a traced target is under
 * way. An exit pops the top when it belongs to the same code: the events
 * arrive in stack order, and only frames started after the watch began are
 * ever pushed, so a frame that was already running exits unnoticed.
 *
 * Watches are checked by slot and id whenever used, so removing one (the
 * agent does that, with the GIL) needs no visit to the threads: their
 * leftovers are dropped the next time they are seen.
 */
#include "live/observer_internal.h"

#include <pthread.h>

#include "core/clock.h"

struct cs_live_watch *cs_live_watches[CS_LIVE_MAX_WATCHES];

/* initial-exec: one load per event, as for the recorder's thread state */
static __thread struct cs_obs_thread *me __attribute__((tls_model("initial-exec")));
/* Bumped when the hooks lose track of the calls open in threads (their
 * instrumentation was redone): each thread drops what it had open at its
 * next event, since the ends of those calls may never be reported. */
static unsigned epoch;
static pthread_key_t thread_key;
static pthread_once_t thread_key_once = PTHREAD_ONCE_INIT;

/* A thread that ends gives its state back. Without the GIL no reference can
 * be dropped: an invocation still open then (rare) keeps its code objects. */
static void free_thread_state(void *p)
{
    struct cs_obs_thread *t = p;
    for (size_t d = 0; d < t->depth; d++)
        PyMem_RawFree(t->stack[d].args);
    PyMem_RawFree(t->stack);
    for (int k = 0; k < t->ninv; k++)
        PyMem_RawFree(t->inv[k].nodes);
    PyMem_RawFree(t);
}

static void make_thread_key(void)
{
    pthread_key_create(&thread_key, free_thread_state);
}

static struct cs_obs_thread *thread_state(void)
{
    if (!me && (me = PyMem_RawCalloc(1, sizeof *me)) != NULL) {
        me->epoch = epoch;
        pthread_once(&thread_key_once, make_thread_key);
        pthread_setspecific(thread_key, me);
    }
    return me;
}

int cs_live_any_watch(void)
{
    for (int i = 0; i < CS_LIVE_MAX_WATCHES; i++)
        if (cs_live_watches[i])
            return 1;
    return 0;
}

int cs_live_is_target(PyCodeObject *code)
{
    for (int i = 0; i < CS_LIVE_MAX_WATCHES; i++)
        if (cs_live_watches[i] && cs_obs_watch_observes(cs_live_watches[i], (PyObject *)code))
            return 1;
    return 0;
}

int cs_live_thread_busy(void)
{
    return me && me->ninv > 0 && me->epoch == epoch;
}

int cs_live_thread_open_calls(void)
{
    return me && me->epoch == epoch ? (int)me->depth : 0;
}

/* Drops the calls and invocations of an earlier epoch. */
static void catch_up(void)
{
    if (!me || me->epoch == epoch)
        return;
    for (size_t d = 0; d < me->depth; d++)
        PyMem_RawFree(me->stack[d].args);
    me->depth = 0;
    for (int k = 0; k < me->ninv; k++)
        cs_obs_trace_free(&me->inv[k]);
    me->ninv = 0;
    me->epoch = epoch;
}

void cs_live_forget_open_calls(void)
{
    epoch++;
    cs_obs_trace_forget_all();
}

static struct cs_obs_open_call *push(PyObject *code, int is_c)
{
    struct cs_obs_thread *t = thread_state();
    if (!t)
        return NULL;
    if (t->depth == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 32;
        struct cs_obs_open_call *s = PyMem_RawRealloc(t->stack, cap * sizeof *s);
        if (!s)
            return NULL;
        t->stack = s;
        t->cap = cap;
    }
    struct cs_obs_open_call *c = &t->stack[t->depth++];
    memset(c, 0, sizeof *c);
    c->code = code;
    c->is_c = is_c;
    c->start = cs_monotonic_ns();
    return c;
}

void cs_live_on_start(PyCodeObject *code, void *frame, int resumed)
{
    catch_up();
    int busy = cs_live_thread_busy();
    if (cs_obs_in_condition || (!busy && !cs_live_is_target(code)))
        return;
    struct cs_obs_open_call *c = push((PyObject *)code, 0);
    if (!c)
        return;
    cs_obs_name_code(code, frame);
    cs_obs_trace_add_call(me, c, frame, resumed);
    for (int i = 0; i < CS_LIVE_MAX_WATCHES; i++) {
        struct cs_live_watch *w = cs_live_watches[i];
        if (!w || w->done || !cs_obs_watch_observes(w, (PyObject *)code))
            continue;
        /* decided now when the condition needs nothing from the end */
        if ((w->req.command == CS_LIVE_STACK || !w->cond.needs_exit) &&
            !cs_obs_condition_holds(w, code, frame, 0, -1, NULL)) {
            c->refused |= 1ull << i;
            continue;
        }
        switch (w->req.command) {
        case CS_LIVE_STACK:
            cs_obs_stack_observe(w, code, frame);
            break;
        case CS_LIVE_WATCH:
            if (!c->captured)
                cs_obs_watch_capture(c, code, frame, w->req.expand);
            if ((w->req.when & CS_AT_ENTRY) && !resumed)
                cs_obs_watch_observe(w, code, c, CS_AT_ENTRY, 0, NULL);
            break;
        case CS_LIVE_TRACE:
            cs_obs_trace_begin(me, c, i, w, frame, resumed);
            break;
        }
    }
}

/* The thread's innermost call ends at `end`: it is counted, observed and
 * taken off the stack, and the invocations it was the target of end. */
static void pop(void *frame, int how, PyObject *value, int64_t end)
{
    struct cs_obs_open_call *c = &me->stack[me->depth - 1];
    int64_t duration = end - c->start;
    cs_obs_trace_call_ended(me, duration, how);
    if (!c->is_c) {
        for (int i = 0; i < CS_LIVE_MAX_WATCHES; i++) {
            struct cs_live_watch *w = cs_live_watches[i];
            if (w && !w->done && w->req.command == CS_LIVE_MONITOR && how != 1 &&
                cs_obs_watch_observes(w, c->code) && !(c->refused & (1ull << i)) &&
                (!w->cond.needs_exit ||
                 cs_obs_condition_holds(w, (PyCodeObject *)c->code, frame, duration, how, value)))
                cs_obs_monitor_count(w, duration, how == 2);
            if (!w || w->done || w->req.command != CS_LIVE_WATCH || !c->captured ||
                !cs_obs_watch_observes(w, c->code) || (c->refused & (1ull << i)))
                continue;
            int at = how == 2 ? CS_AT_EXCEPTION : CS_AT_RETURN;
            /* a generator or coroutine that suspends has not finished */
            if (how != 1 && (w->req.when & at) && duration >= w->req.entrance_ns &&
                (!w->cond.needs_exit ||
                 cs_obs_condition_holds(w, (PyCodeObject *)c->code, frame, duration, how, value)))
                cs_obs_watch_observe(w, (PyCodeObject *)c->code, c, at, duration, value);
        }
    }
    PyMem_RawFree(c->args);
    c->args = NULL;
    cs_obs_trace_end_at(me, me->depth - 1, end, frame, how, value);
    me->depth--;
}

void cs_live_on_exit(PyCodeObject *code, void *frame, int how, PyObject *value)
{
    cs_live_on_exit_at(code, frame, how, value, cs_monotonic_ns());
}

void cs_live_on_exit_at(PyCodeObject *code, void *frame, int how, PyObject *value, int64_t end)
{
    catch_up();
    if (!me || me->depth == 0 || cs_obs_in_condition)
        return;
    /* A C call whose end went unreported (it raised past its caller)
     * cannot outlive the frame that made it. */
    while (me->depth >= 2 && me->stack[me->depth - 1].is_c && me->stack[me->depth - 2].code == (PyObject *)code)
        pop(NULL, 2, NULL, end);
    if (me->stack[me->depth - 1].code == (PyObject *)code && !me->stack[me->depth - 1].is_c)
        pop(frame, how, value, end);
}

int cs_live_callee_wanted(void)
{
    if (!cs_live_thread_busy() || me->depth == 0)
        return 0;
    return cs_obs_trace_wants_callee(me);
}

void cs_live_on_c_call(PyObject *callable)
{
    if (!cs_live_thread_busy() || cs_obs_in_condition)
        return;
    struct cs_obs_open_call *c = push(callable, 1);
    if (c)
        cs_obs_trace_add_call(me, c, NULL, 0);
}

void cs_live_on_c_exit(int raised)
{
    catch_up();
    if (!me || me->depth == 0 || !me->stack[me->depth - 1].is_c || cs_obs_in_condition)
        return;
    pop(NULL, raised ? 2 : 0, NULL, cs_monotonic_ns());
}
