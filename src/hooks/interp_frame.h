/*
 * interp_frame.h — reading the frames the interpreter runs.
 *
 * From 3.11 a running Python function is a _PyInterpreterFrame, which the
 * frame evaluator (frame_evaluator.c) is handed and sys.monitoring callbacks
 * (family_monitoring.c) find as the thread's current frame; a frame object
 * only points to it. Before 3.11 the frame object is the frame, and both
 * the evaluator and the profile function are handed it. Its layout moves
 * between versions: py/compat.h reads it; this file records calls from it.
 */
#ifndef CALLSCOPE_INTERP_FRAME_H
#define CALLSCOPE_INTERP_FRAME_H

#include "py/compat.h"

#include "capture/recorder.h"

static inline void *cs_code_extra_of(PyCodeObject *code)
{
    return cs_code_extra_at(code, cs_rec.code_extra_index);
}

/* The helpers below take the frame that starts: the running one for the
 * hooks' callbacks, the one about to run for the evaluator. They are out of
 * line so the common paths need no large stack frame. */

/* The first start of a code object in this session: is it traced? */
struct cs_code_info *cs_frame_resolve(PyCodeObject *code, cs_frame *f);
/* A call with its arguments; or with --no-args, the uncommon case (a new
 * chunk, a function's first use, or the start of a thread, whose `self`
 * names it). */
void cs_frame_record_call(struct cs_thread *t, struct cs_code_info *ci, PyCodeObject *code, cs_frame *f,
                          uint64_t now);
/* Every new thread starts in code that names it (ci->names_thread), even
 * when that code is not traced. */
void cs_frame_name_thread(struct cs_thread *t, PyCodeObject *code, cs_frame *f);
/* --c-calls: whether the C functions a frame of `code` calls are recorded,
 * which they are when that code is (callscope's own, the filters'
 * exclusions and the code that started the program are left out with
 * what they call). Code that started before the recording is resolved
 * now. */
int cs_frame_c_calls_recorded(PyCodeObject *code, cs_frame *f);

#endif
