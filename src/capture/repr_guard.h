/*
 * repr_guard.h — a time bound for the program's own __repr__ under --repr.
 *
 * A __repr__ that never returns would otherwise stop the traced program for
 * good. While a guarded repr runs, a watchdog thread watches its deadline;
 * past it, the watchdog raises callscope.ReprTimeout (a BaseException, so a
 * bare `except Exception` in the repr does not swallow it) in the thread
 * that runs the repr, again after every further bound if the repr catches
 * it. Only Python code notices such an exception: a repr blocked inside C
 * (a lock, a sleep) is not stopped.
 *
 * Both calls need the GIL; the watchdog starts on first use (and again in
 * a forked child) and ends with cs_repr_guard_stop.
 */
#ifndef CALLSCOPE_REPR_GUARD_H
#define CALLSCOPE_REPR_GUARD_H

#define CS_REPR_BOUND_S 1
#define CS_REPR_BOUND_TEXT "1 s"

/* Before calling the repr: a slot to pass to cs_repr_guard_leave, or -1
 * when no guard can be had (the repr must then not be called). */
int cs_repr_guard_enter(void);

/* After it: 1 if the watchdog had to stop it (any exception it raised that
 * has not arrived yet is withdrawn), else 0. */
int cs_repr_guard_leave(int slot);

/* Ends the watchdog, if this process runs one. Called with the GIL, which
 * it lets go while it waits. */
void cs_repr_guard_stop(void);

#endif
