/*
 * observer_internal.h — what the files of the live observer share (not for
 * use outside src/live/observer*.c; the public side is observer.h): the
 * calls each thread has open, the trace invocations under way, and the
 * entry points of each observer.
 *
 * The observer is split by concern: observer.c keeps each thread's stack of
 * open calls and hands every start and exit to the observers that want it;
 * observer_trace.c, observer_watch.c, observer_stack.c and
 * observer_monitor.c are the four observers; observer_condition.c decides a
 * watch's --condition for one call; observer_message.c writes the bytes of
 * an observation (protocol.h, MSG_OBSERVATION) and queues them.
 */
#ifndef CALLSCOPE_LIVE_OBSERVER_INTERNAL_H
#define CALLSCOPE_LIVE_OBSERVER_INTERNAL_H

#include "live/observer.h"

#define CS_OBS_MAX_NODES 20000   /* per trace invocation; more are counted, not kept */
#define CS_OBS_MAX_INVOCATIONS 8 /* trace invocations open at once in one thread */
#define CS_OBS_MAX_ARGS 64       /* arguments observed per call (cs_live_code_nargs) */

/* One shown call of a trace invocation's tree. */
struct cs_obs_trace_node {
    int depth;
    uint8_t flags;
    int64_t start, duration;
    PyObject *what; /* code object or C callable (strong) */
    unsigned char *args; /* --args: (name, value) pairs encoded at the call */
    size_t args_len;
    int nargs;
};

/* A call of a traced target under way, with the tree of what it called. */
struct cs_obs_invocation {
    int slot, id;      /* the trace watch */
    size_t base;       /* stack level of the target's call */
    struct cs_obs_trace_node *nodes;
    size_t n, cap;
    size_t omitted;
    int64_t wall_ns;
    int shows_stdlib; /* the target is in the standard library: so are the calls worth seeing */
};

struct cs_obs_open_call {
    PyObject *code; /* borrowed: only compared */
    int64_t start;
    int is_c;
    /* per open invocation: the node of this call, or -1 when hidden; and
     * the display depth its shown children get */
    int node[CS_OBS_MAX_INVOCATIONS];
    int child_depth[CS_OBS_MAX_INVOCATIONS];
    /* watch: arguments captured at entry (encoded), for the finish */
    unsigned char *args; /* (NULL for a call without arguments) */
    size_t args_len;
    int nargs;
    int captured;
    uint64_t refused; /* bit per watch slot: its condition was false at entry */
};

/* What one thread has open: its calls, innermost last, and the trace
 * invocations among them. */
struct cs_obs_thread {
    struct cs_obs_open_call *stack;
    size_t depth, cap;
    struct cs_obs_invocation inv[CS_OBS_MAX_INVOCATIONS];
    int ninv;
    unsigned epoch; /* what is open above belongs to this epoch */
};

/* The watch in this slot if it is still the one with this id: a removed
 * watch's leftovers in a thread are recognised by that and dropped. */
static inline struct cs_live_watch *cs_obs_watch_at(int slot, int id)
{
    struct cs_live_watch *w = cs_live_watches[slot];
    return w && w->id == id ? w : NULL;
}

/* Whether the watch observes this code object (a few pointer compares). */
static inline int cs_obs_watch_observes(const struct cs_live_watch *w, PyObject *code)
{
    Py_ssize_t n = PyTuple_GET_SIZE(w->codes);
    for (Py_ssize_t i = 0; i < n; i++)
        if (PyTuple_GET_ITEM(w->codes, i) == code)
            return 1;
    return 0;
}

/* ---- trace (observer_trace.c) ---- */

/* The target of trace watch w, in `slot`, starts as the thread's open call
 * c: an invocation begins unless one of w is open already (a recursive
 * call is part of the outer tree). */
void cs_obs_trace_begin(struct cs_obs_thread *t, struct cs_obs_open_call *c, int slot, struct cs_live_watch *w,
                        void *frame, int resumed);
/* Places a new call, the thread's innermost, in every open invocation
 * (frame: as the hook was handed it; NULL for a C call). */
void cs_obs_trace_add_call(struct cs_obs_thread *t, struct cs_obs_open_call *c, void *frame, int resumed);
/* The thread's innermost call ends after `duration` ns (how: as
 * cs_live_on_exit takes it): its nodes get their time and how it ended. */
void cs_obs_trace_call_ended(struct cs_obs_thread *t, int64_t duration, int how);
/* The invocations whose target is the call at stack level `level` end at
 * `end`: each is observed if it qualifies, then closed. */
void cs_obs_trace_end_at(struct cs_obs_thread *t, size_t level, int64_t end, void *frame, int how, PyObject *value);
/* Whether a Python call made now by the thread's innermost call would be
 * shown in one of its open invocations. */
int cs_obs_trace_wants_callee(const struct cs_obs_thread *t);
/* Releases an invocation's nodes (GIL held) and clears it. */
void cs_obs_trace_free(struct cs_obs_invocation *inv);
/* Every thread's invocations are abandoned: none counts as open now. */
void cs_obs_trace_forget_all(void);

/* ---- watch (observer_watch.c) ---- */

/* Names and values of the call's arguments, encoded once per call and kept
 * in c for every watch of the code and for the finish. */
void cs_obs_watch_capture(struct cs_obs_open_call *c, PyCodeObject *code, void *frame, int expand);
/* Observes c at `at` (one CS_AT_*): value is the return value or the
 * exception. */
void cs_obs_watch_observe(struct cs_live_watch *w, PyCodeObject *code, struct cs_obs_open_call *c, int at,
                          int64_t duration, PyObject *value);

/* ---- stack (observer_stack.c) ---- */

/* Observes the stack that called `code`, running in `frame`. */
void cs_obs_stack_observe(struct cs_live_watch *w, PyCodeObject *code, void *frame);

/* ---- monitor (observer_monitor.c) ---- */

/* Adds a finished call to the monitor watch's cycle. */
void cs_obs_monitor_count(struct cs_live_watch *w, int64_t duration, int raised);

/* ---- conditions (observer_condition.c) ---- */

/* Set while a condition runs: the calls it makes are not observed. */
extern __thread int cs_obs_in_condition __attribute__((tls_model("initial-exec")));
/* Whether a watch's condition holds for the call of `code` in `frame`
 * (true without a condition). how, value: as cs_live_on_exit takes them,
 * how -1 at entry. */
int cs_obs_condition_holds(struct cs_live_watch *w, PyCodeObject *code, void *frame, int64_t duration, int how,
                           PyObject *value);

/* ---- the bytes of an observation (observer_message.c) ---- */

void cs_obs_put_varint(struct cs_textbuf *b, uint64_t v);
void cs_obs_put_cstr(struct cs_textbuf *b, const char *s);
/* A value as the event encoding writes it, nested `expand` levels. */
void cs_obs_put_value(struct cs_textbuf *b, PyObject *v, int expand);
/* The header of an observation of watch w made now in the calling thread. */
void cs_obs_put_header(struct cs_textbuf *b, const struct cs_live_watch *w, int64_t wall, int64_t duration);
/* The code's function, file and first line. */
void cs_obs_put_code(struct cs_textbuf *b, PyCodeObject *code);
/* The code's function and file, and a line of it. */
void cs_obs_put_code_line(struct cs_textbuf *b, PyCodeObject *code, int lineno);
/* A C function's name, "<built-in>" and line 0, in the place of a code's. */
void cs_obs_put_callable(struct cs_textbuf *b, PyObject *callable);
/* Appends the (name, value) pairs of a call's arguments; returns how many. */
int cs_obs_put_args(struct cs_textbuf *b, PyCodeObject *code, void *frame, int expand);
/* Whether the code's first parameter is a method's receiver: named self
 * or cls. A failure to read the names leaves its error set. */
int cs_obs_first_arg_is_receiver(PyCodeObject *code);
/* Names a code object from its first running frame, for
 * cs_live_function_name. */
void cs_obs_name_code(PyCodeObject *code, void *frame);
/* Queues the observation in b for w's client and counts it toward -n;
 * frees b. */
void cs_obs_deliver(struct cs_live_watch *w, struct cs_textbuf *b);

#endif
