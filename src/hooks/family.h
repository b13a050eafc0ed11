/*
 * family.h — what each family of Python versions provides.
 *
 * The recording hooks of each family live behind this interface, one file
 * per family, each compiled whole for its versions only:
 *   family_monitoring.c  3.12 and later: sys.monitoring (PEP 669) with a tool
 *                        id of our own, or when everything is traced the
 *                        frame evaluator for Python functions;
 *   family_profile.c     3.8 to 3.11: the frame evaluator, or with
 *                        --deep-recursion PyEval_SetProfile on every
 *                        thread, which also reports C calls (--c-calls).
 * The frame evaluator (PEP 523, frame_evaluator.c) and the reading of the
 * interpreter's frames (interp_frame.h) serve both families.
 * The family turns interpreter events into calls of recorder.h.
 *
 * Versions are told apart in one place, py/compat.h (its accessors and
 * CS_PY_* feature macros); no other file tests PY_VERSION_HEX. The files
 * that differ by version test those macros: whole-file guards for the two
 * families above, for live observation (live_monitoring.c 3.12+,
 * live_profile.c and live_evaluator.c before, code_copy.c and code_copy.h
 * for 3.11), and feature tests inside this header, family_monitoring.c,
 * frame_evaluator.c and .h, live_monitoring.c, py/code.c, live/readable.c
 * and live/query_memory.c.
 */
#ifndef CALLSCOPE_FAMILY_H
#define CALLSCOPE_FAMILY_H

#include "py/compat.h"

/* Starts delivering events in every thread. -1 with a Python error set. */
int cs_family_install(void);
/* Stops delivering events and leaves the interpreter's hooks as they were. */
void cs_family_uninstall(void);

/* The argument values of a frame that is starting (borrowed; NULL for an
 * empty slot). `frame` is what the family's hooks see: an interpreter frame
 * (3.12+, NULL for the running one) or a frame object (before). */
void cs_family_frame_args(void *frame, PyCodeObject *code, int n, PyObject **out);
/* Whether a profile-function frame that returns is suspending (yield or
 * await) rather than finishing (before 3.12 only). */
int cs_family_frame_is_yielding(void *frame);
/* The globals of the frame a hook was handed (borrowed). */
PyObject *cs_family_frame_globals(void *frame);
/* The code of the frame a hook was handed (borrowed). */
PyCodeObject *cs_family_frame_code(void *frame);
/* What a stack walk calls for each frame: its code, its globals and its
 * first argument (borrowed), and the line it is at. */
typedef void cs_frame_visit(void *ctx, PyCodeObject *code, PyObject *globals, PyObject *first_arg, int lineno);

/* Calls visit(ctx, code, globals, first_arg, line) for the calling thread's
 * frames, innermost first, at most max_frames of them, starting from the
 * frame a hook was handed (before 3.12: a frame object that may be about to
 * run, not yet the thread's current one) or, when NULL or from 3.12, from
 * the running one. first_arg (NULL when not needed) names methods on
 * Pythons whose code objects lack a qualname. */
void cs_family_walk_stack(void *frame, cs_frame_visit *visit, void *ctx, int max_frames);
/* Visits f (a new reference, released) and its callers, innermost first:
 * any thread's stack, from cs_thread_frame(ts) (GIL held). */
void cs_family_walk_frames(PyFrameObject *f, cs_frame_visit *visit, void *ctx, int max_frames);

#if CS_PY_HAS_MONITORING
/* sys.monitoring, shared by the recorder and the live hooks (3.12+). */
PyObject *cs_monitoring_module(void);
/* The bit of the event named like a callback ("PY_START"), or -1. */
long cs_monitoring_event(PyObject *mon, const char *name);
/* Takes the first free tool id of `order` under `name` and registers the
 * callbacks, each for the event its ml_name names. The id, or -1 with a
 * Python error set. */
int cs_monitoring_take_tool(PyObject *mon, const int *order, size_t n, const char *name, PyMethodDef *callbacks,
                            size_t ncallbacks);
/* Turns the tool's events off, unregisters its callbacks and frees the id. */
void cs_monitoring_release_tool(PyObject *mon, int id, PyMethodDef *callbacks, size_t ncallbacks);
#else
/* Sets (or, with NULL, clears) a thread's C profile function (before 3.12). */
void cs_family_set_profile(PyThreadState *ts, Py_tracefunc fn);
#endif

#endif
