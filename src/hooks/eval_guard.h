/*
 * eval_guard.h — keeps C recursion through a frame evaluator within the
 * thread's stack (3.12 and later).
 *
 * Without an evaluator of its own, the interpreter runs a Python call made
 * by Python code in the same C frame; through one (PEP 523), each call is C
 * recursion, which it counts against a limit of a few thousand levels, far
 * below the recursion limit Python code may set, and which a small thread
 * stack may not even hold. So an evaluator watches the stack itself, around
 * the frame it passes on. Within a margin of the stack's end (1 MB, or a
 * quarter of a smaller stack), the frame fails at once with RecursionError,
 * as for any C recursion too deep, instead of the stack running out. Short
 * of it, when the interpreter's count runs low, it lends CS_GUARD_LEND more
 * levels to that frame (and takes them back when it returns), so a program
 * recurses as deep as the stack allows. Between two such looks the C code in
 * between is bounded by the interpreter's count: under a hundred levels, a
 * few hundred kilobytes at most.
 *
 * Used by the recorder's evaluator (family_monitoring.c) and by the live
 * hooks' (live_monitoring.c).
 */
#ifndef CALLSCOPE_EVAL_GUARD_H
#define CALLSCOPE_EVAL_GUARD_H

#include <Python.h>
#if PY_VERSION_HEX >= 0x030C0000

#define CS_GUARD_LOW_COUNT 32
#define CS_GUARD_LEND 32
/* A floor below any address: never fails, never lends. */
#define CS_STACK_UNKNOWN ((char *)1)

/* The address below which the calling thread's Python calls fail: its
 * stack's end plus the margin, or CS_STACK_UNKNOWN. */
char *cs_find_stack_floor(void);

struct cs_eval_guard {
    int count; /* the interpreter's count before */
    int how;   /* 0 untouched, 1 failing, 2 lent */
};

/* Before passing a frame on. *floor is the thread's floor, found on first
 * use (NULL until then). */
static inline struct cs_eval_guard cs_eval_guard_enter(PyThreadState *ts, char **floor)
{
    if (__builtin_expect(!*floor, 0))
        *floor = cs_find_stack_floor();
    char here;
    struct cs_eval_guard g = {ts->c_recursion_remaining, 0};
    if (&here <= *floor) {
        ts->c_recursion_remaining = 0;
        g.how = 1;
    } else if (g.count < CS_GUARD_LOW_COUNT && *floor != CS_STACK_UNKNOWN) {
        ts->c_recursion_remaining += CS_GUARD_LEND;
        g.how = 2;
    }
    return g;
}

/* After the frame returned. */
static inline void cs_eval_guard_leave(PyThreadState *ts, struct cs_eval_guard g)
{
    if (g.how == 1)
        ts->c_recursion_remaining = g.count;
    else if (g.how == 2)
        ts->c_recursion_remaining -= CS_GUARD_LEND;
}

#endif
#endif
