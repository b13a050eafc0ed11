/*
 * eval_guard.h — keeps C recursion through a frame evaluator within the
 * thread's stack.
 *
 * Without an evaluator of its own, the interpreter runs a Python call made
 * by Python code in the same C frame; through one (PEP 523), each call is an
 * entry into the interpreter, which charges CS_EVAL_ENTRY_UNITS against its
 * C recursion count (a few thousand levels), and takes C stack. So an
 * evaluator gives those units back for the frames it was the only cause of,
 * and watches the stack itself instead:
 * - A frame called straight from the bytecode of the frame the evaluator
 *   handed on before it finds the count lower by exactly one entry's
 *   charge: no C code in between counted itself. It gets the units back
 *   while it runs, so Python recursion counts as it does untraced. A frame
 *   called by C code that counted itself (a C cache wrapper) finds the
 *   count lower by more, and pays as it would untraced: a program that
 *   relies on the interpreter's limit for such recursion still meets it.
 * - Within a margin of the stack's end (1 MB, or an eighth of a smaller
 *   stack) the frame fails at once with RecursionError, as for any C
 *   recursion too deep, instead of the stack running out. Between two
 *   frames the C code in between is bounded by the interpreter's count.
 * 3.11 has one count for Python frames and C recursion, which charges a
 * Python frame the same whether it is run inline or through an evaluator:
 * nothing is given back there, and only the stack is watched; so it is
 * before 3.11 (below). From 3.14 the interpreter watches the stack itself.
 *
 * Used by the recorder's evaluator (frame_evaluator.c) and by the live
 * hooks' (live_monitoring.c).
 */
#ifndef CALLSCOPE_EVAL_GUARD_H
#define CALLSCOPE_EVAL_GUARD_H

#include "py/compat.h"

/* A floor below any address: never fails, never gives back. */
#define CS_STACK_UNKNOWN ((char *)1)

/* The address below which the calling thread's Python calls fail: its
 * stack's end plus the margin, or CS_STACK_UNKNOWN. */
char *cs_find_stack_floor(void);

#if !CS_RECURSION_COUNTED
/* From 3.14 the interpreter's own evaluator checks the stack pointer
 * against the thread's limits on every entry, which charges the frames an
 * evaluator of ours adds for exactly the stack they take: a deep recursion
 * fails with RecursionError before the stack ends, traced or not. */
struct cs_eval_guard {
    char unused;
};

static inline struct cs_eval_guard cs_eval_guard_enter(PyThreadState *ts, char **floor, int *count)
{
    (void)ts, (void)floor, (void)count;
    struct cs_eval_guard g = {0};
    return g;
}

static inline void cs_eval_guard_leave(PyThreadState *ts, int *count, struct cs_eval_guard g)
{
    (void)ts, (void)count, (void)g;
}

#elif defined(CS_RECURSION_REMAINING)

struct cs_eval_guard {
    int count; /* the interpreter's count before */
    int outer; /* the thread's count of the frame handed on before */
    int how;   /* 0 untouched, 1 failing, 2 given back */
};

/* Before passing a frame on. Per thread: *floor, its stack floor (NULL
 * until first needed), and *count, the count as the frame handed on last
 * started (0 at first). */
static inline struct cs_eval_guard cs_eval_guard_enter(PyThreadState *ts, char **floor, int *count)
{
    if (__builtin_expect(!*floor, 0))
        *floor = cs_find_stack_floor();
    char here;
    struct cs_eval_guard g = {CS_RECURSION_REMAINING(ts), *count, 0};
    if (&here <= *floor) {
        CS_RECURSION_REMAINING(ts) = 0;
        g.how = 1;
    }
#ifdef CS_EVAL_ENTRY_UNITS
    else if (*count - g.count == CS_EVAL_ENTRY_UNITS && *floor != CS_STACK_UNKNOWN) {
        CS_RECURSION_REMAINING(ts) += CS_EVAL_ENTRY_UNITS;
        g.how = 2;
    }
#endif
    *count = CS_RECURSION_REMAINING(ts);
    return g;
}

/* After the frame returned. */
static inline void cs_eval_guard_leave(PyThreadState *ts, int *count, struct cs_eval_guard g)
{
    if (g.how == 1)
        CS_RECURSION_REMAINING(ts) = g.count;
#ifdef CS_EVAL_ENTRY_UNITS
    else if (g.how == 2)
        CS_RECURSION_REMAINING(ts) -= CS_EVAL_ENTRY_UNITS;
#endif
    *count = g.outer;
}

#else
/* Before 3.11 every Python call is C recursion, untraced too, bounded by
 * the interpreter's depth count alone; the evaluator adds a C frame to each.
 * Near the stack's end the count is set to the limit while the frame
 * starts, which fails it with RecursionError. */
struct cs_eval_guard {
    int depth; /* the interpreter's count before */
    int failing;
};

static inline struct cs_eval_guard cs_eval_guard_enter(PyThreadState *ts, char **floor, int *count)
{
    (void)count;
    if (__builtin_expect(!*floor, 0))
        *floor = cs_find_stack_floor();
    char here;
    struct cs_eval_guard g = {CS_RECURSION_DEPTH(ts), 0};
    if (__builtin_expect(&here <= *floor, 0)) {
        CS_RECURSION_DEPTH(ts) = Py_GetRecursionLimit();
        CS_RECURSION_CLEAR_OVERFLOW(ts);
        g.failing = 1;
    }
    return g;
}

static inline void cs_eval_guard_leave(PyThreadState *ts, int *count, struct cs_eval_guard g)
{
    (void)count;
    if (g.failing)
        CS_RECURSION_DEPTH(ts) = g.depth;
}
#endif
#endif
