/*
 * observer.h — live observations inside the target: what happens when an
 * instrumented function starts and ends.
 *
 * A watch is one client's request (trace, watch or stack of one pattern).
 * The family's live hooks (hooks/live_*.c) call the cs_live_on_* functions
 * with the GIL held; they build observations and queue them for the agent
 * thread, which sends them. Nothing here runs the program's Python code.
 *
 * observer.c keeps each thread's open calls and hands them to the four
 * observers, one file each (observer_trace.c, observer_watch.c,
 * observer_stack.c, observer_monitor.c); observer_internal.h is what those
 * files share.
 */
#ifndef CALLSCOPE_LIVE_OBSERVER_H
#define CALLSCOPE_LIVE_OBSERVER_H

#include <Python.h>

#include "live/condition.h"
#include "live/protocol.h"
#include "util/textbuf.h"

struct cs_live_client;
struct cs_call_counts;

#define CS_LIVE_MAX_WATCHES 64

/* The watch kind of `top --calls` (call_count.h): it counts the calls of
 * every function and observes none. No request names it (protocol.c
 * accepts CS_LIVE_TRACE to CS_LIVE_MONITOR only): the agent's own question
 * makes it, through cs_live_watch_add_counting. */
enum { CS_LIVE_COUNT = 100 };

struct cs_live_watch {
    int id;
    struct cs_live_request req;
    struct cs_live_client *owner;
    PyObject *codes;        /* tuple of the code objects observed */
    char target_name[256];  /* module.qualname, for the observation */
    struct cs_live_condition cond; /* cond.tree NULL: no condition */
    long long sent;         /* observations sent */
    /* monitor: this cycle's statistics, and when it ends (cs_monotonic_ns) */
    long long calls, failed;
    int64_t total_ns, min_ns, max_ns, cycle_end;
    int done;               /* -n reached: ignored until the agent removes it */
    struct cs_call_counts *counts; /* CS_LIVE_COUNT: the table its calls go to (the question's) */
};

/* The watches in force, indexed by slot; NULL slots are free. Changed only
 * with the GIL held. */
extern struct cs_live_watch *cs_live_watches[CS_LIVE_MAX_WATCHES];

/* Appends `module.qualname` of code's function (its module known once a
 * frame of it named it: cs_code_info_named). */
void cs_live_function_name(struct cs_textbuf *name, PyCodeObject *code);

/* Names code from a frame that a stack walk (cs_family_walk_stack) found,
 * unless a frame of it named it already: the module from the frame's
 * globals, the class (before 3.11) from its first argument. */
void cs_live_name_walked_code(PyCodeObject *code, PyObject *globals, PyObject *first_arg);

/* How many arguments of a call of `code` are observed: its parameters,
 * *args and **kwargs included, up to a limit. */
int cs_live_code_nargs(PyCodeObject *code);

/* Whether any watch is in force (then the hooks have something to do). */
int cs_live_any_watch(void);
/* Whether any watch observes this code (a few pointer compares). */
int cs_live_is_target(PyCodeObject *code);
/* Whether the calling thread is inside a traced invocation (then every call
 * matters, not only the targets). */
int cs_live_thread_busy(void);
/* How many calls the calling thread has open (observed, or inside a
 * trace invocation). */
int cs_live_thread_open_calls(void);
/* How many trace invocations are open in all threads (GIL): while there
 * are none, only the targets' own calls matter anywhere. */
extern int cs_live_open_invocations;

/* frame: as cs_family_frame_args takes it; resumed: a generator or
 * coroutine goes on after a yield or await (when the family can tell). */
void cs_live_on_start(PyCodeObject *code, void *frame, int resumed);
/* how: 0 returned (value), 1 yielded (value), 2 raised (exc, may be NULL
 * when the family cannot see it). frame: the frame that ends, as for
 * cs_live_on_start. */
void cs_live_on_exit(PyCodeObject *code, void *frame, int how, PyObject *value);
/* The same, for an exit that happened at end_ns (cs_monotonic_ns's clock,
 * core/clock.h) and is reported later. */
void cs_live_on_exit_at(PyCodeObject *code, void *frame, int how, PyObject *value, int64_t end_ns);
void cs_live_on_c_call(PyObject *callable);
/* Whether a Python function called now, from the calling thread, would be
 * shown in an open trace invocation (within its --depth). */
int cs_live_callee_wanted(void);
void cs_live_on_c_exit(int raised);

/* The hooks were redone and may not report the ends of calls open now:
 * the observer forgets them (an invocation under way is not reported). */
void cs_live_forget_open_calls(void);

/* Family hooks (hooks/live_monitoring.c or hooks/live_profile.c). Install
 * or update the instrumentation for the current watches; 0 or -1 with a
 * Python error set. */
int cs_live_hooks_update(void);
/* Removes every hook; the interpreter is left as before the first update. */
void cs_live_hooks_remove(void);
/* Trace invocations are now open somewhere in the process (1), or none
 * any more (0): the hooks may watch for callees more widely meanwhile. */
void cs_live_hooks_widening(int open);

/* Implemented by the agent: queue a frame for a watch's client. */
void cs_live_send(struct cs_live_client *c, int kind, const void *payload, size_t len);
/* Implemented by the agent: a watch reached its -n. */
void cs_live_watch_finished(struct cs_live_watch *w);
/* Implemented by the agent: puts a CS_LIVE_COUNT watch counting into
 * `counts` in force for client c, as if c had asked for it (its leaving, a
 * reset or a detach removes it), with the hooks it needs. Its id, or -1
 * with err set. GIL held. */
int cs_live_watch_add_counting(struct cs_live_client *c, struct cs_call_counts *counts, char *err, size_t errlen);
/* Implemented by the agent: removes the watch with this id, if it is still
 * in force (a reset may have removed it), and updates the hooks. GIL held. */
void cs_live_watch_remove(int id);

/* Sends a monitor watch's statistics for the cycle that ended, and starts
 * the next one (GIL held). */
void cs_live_monitor_report(struct cs_live_watch *w);

#endif
