/*
 * recorder.h — turns what the hooks see into events in the calling thread's
 * stream. Called with the GIL held, from the hook callbacks only; never
 * calls the program's Python code (except a guarded __repr__ with --repr).
 */
#ifndef CALLSCOPE_RECORDER_H
#define CALLSCOPE_RECORDER_H

#include <Python.h>

#include "capture/code_info.h"
#include "capture/values.h"
#include "core/clock.h"
#include "core/stream_writer.h"

#define CS_MAX_HELD_UNWINDS 32
#define CS_MAX_BYPASSED 32 /* __init__ frames nested past the evaluator (3.13) */

/* One traced thread. */
struct cs_thread {
    struct cs_stream_writer writer;
    int suppressed;   /* > 0: inside @notrace code or a --repr call */
    /* Exits by an exception not yet identified (the profile function
     * before 3.12, see family_profile.c): their times, which of them are C
     * functions' (bit i), and the first frame they left. */
    int held_unwinds;
    uint64_t held_unwind_ticks[CS_MAX_HELD_UNWINDS];
    uint32_t held_c_raises;
    void *held_frame;
    /* With the frame evaluator, 3.8 to 3.13: the stack address below
     * which a Python call fails with RecursionError (NULL until known), and
     * (3.12, 3.13) the interpreter's C recursion count as the last frame
     * handed on started (hooks/eval_guard.h). */
    char *stack_floor;
    int eval_count;
    /* 3.13 with the frame evaluator: the frame it hands the interpreter
     * (until that starts), and the __init__ frames the interpreter ran past
     * it, which sys.monitoring reports instead (family_monitoring.c). */
    void *entering;
    void *bypassed[CS_MAX_BYPASSED];
    int nbypassed;
    struct cs_thread *next, *prev; /* all threads, for stop() and fork */
};


/* The calling thread's state, created on first use; NULL if out of memory
 * or not recording. The common case, a thread already known, is one load
 * of a thread-local variable. */
extern __thread struct cs_thread *cs_current_thread __attribute__((tls_model("initial-exec")));
struct cs_thread *cs_thread_create(void);

static inline struct cs_thread *cs_thread_get(void)
{
    struct cs_thread *t = cs_current_thread;
    return __builtin_expect(t != NULL, 1) ? t : cs_thread_create();
}

/* What to do with an event of a code object. @notrace code opens (on
 * start or resume) and closes (on return, yield or exception) a region in
 * which nothing is recorded. */
enum cs_verdict {
    CS_RECORD,
    CS_SKIP,      /* inside @notrace code, or a tracer-internal call */
    CS_UNTRACED,  /* the filters leave this code out */
};

static inline enum cs_verdict cs_entering(struct cs_thread *t, const struct cs_code_info *ci)
{
    if (ci->notrace) {
        t->suppressed++;
        return CS_SKIP;
    }
    if (!ci->traced)
        return CS_UNTRACED;
    return t->suppressed ? CS_SKIP : CS_RECORD;
}

/* The same from the code info's two flags, for a caller that cannot be
 * sure the code info outlived the frame. */
static inline enum cs_verdict cs_leaving_code(struct cs_thread *t, int notrace, int traced)
{
    if (notrace) {
        if (t->suppressed > 0)
            t->suppressed--;
        return CS_SKIP;
    }
    if (!traced)
        return CS_UNTRACED;
    return t->suppressed ? CS_SKIP : CS_RECORD;
}

static inline enum cs_verdict cs_leaving(struct cs_thread *t, const struct cs_code_info *ci)
{
    return cs_leaving_code(t, ci->notrace, ci->traced);
}

/* Code info ready for recording (id assigned), or NULL if not traced. */
struct cs_code_info *cs_recorder_code(PyCodeObject *code, PyObject *globals, PyObject *first_arg);

/* args: the values of the function's arguments; with --no-args NULL, or
 * for the start of a thread (ci->names_thread) just its first, `self`. */
void cs_record_call(struct cs_thread *t, struct cs_code_info *ci, PyCodeObject *code,
                    PyObject *const *args, uint64_t now);

/* --no-args, in the common case: room in the current chunk and the
 * function already defined in this stream. The whole event is written
 * inline; 0 when the caller must take cs_record_call instead. */
static inline int cs_record_call_bare(struct cs_thread *t, const struct cs_code_info *ci, uint64_t now)
{
    struct cs_stream_writer *w = &t->writer;
    size_t byte = (size_t)(ci->id >> 3);
    if (__builtin_expect(!w->chunk || w->pos > w->limit || byte >= w->defined_bytes ||
                             !(w->defined[byte] & (1u << (ci->id & 7))) || ci->names_thread,
                         0))
        return 0;
    w->depth++;
    unsigned char *p = w->pos;
    *p++ = EV_CALL_BARE;
    p = cs_put_varint(p, ci->id);
    cs_writer_commit(w, cs_writer_put_dt(w, p, now));
    return 1;
}

/* --no-args, a return or a yield with room in the current chunk; 0 when
 * the caller must take cs_record_exit instead. */
static inline int cs_record_exit_bare(struct cs_thread *t, int is_yield, uint64_t now)
{
    struct cs_stream_writer *w = &t->writer;
    if (__builtin_expect(!w->chunk || w->pos > w->limit, 0))
        return 0;
    if (w->depth > 0)
        w->depth--;
    unsigned char *p = w->pos;
    *p++ = is_yield ? EV_YIELD_BARE : EV_RETURN_BARE;
    cs_writer_commit(w, cs_writer_put_dt(w, p, now));
    return 1;
}
void cs_record_resume(struct cs_thread *t, struct cs_code_info *ci, PyCodeObject *code, uint64_t now);
/* A return (is_yield 0) or a yield; value may be NULL. */
void cs_record_exit(struct cs_thread *t, PyObject *value, int is_yield, uint64_t now);
void cs_record_unwind(struct cs_thread *t, PyObject *type, PyObject *value, uint64_t now);
/* Records the held-back exits, in order, as of this exception (the type,
 * the value, or both NULL when it is not known). */
void cs_record_held_unwinds(struct cs_thread *t, PyObject *type, PyObject *value);
void cs_record_c_call(struct cs_thread *t, PyObject *callable, uint64_t now);
/* The module and qualified name of a C callable (builtins, methods of C types). */
void cs_cfunc_names(PyObject *callable, char *module, size_t msize, char *qualname, size_t qsize);
void cs_record_c_exit(struct cs_thread *t, int raised, uint64_t now);
void cs_record_thread_name(struct cs_thread *t, unsigned long tid, PyObject *name);
/* The name of a threading.Thread object that runs in the calling thread. */
void cs_record_thread_object(struct cs_thread *t, PyObject *thread_obj);
void cs_record_log(struct cs_thread *t, PyObject *message, PyObject *fields);

/* Session control (session.c). The hooks that feed the recorder are
 * installed by the caller once start succeeded, and taken out before stop
 * (hooks/module.c): capture knows nothing of them. */
int cs_recorder_start(struct cs_ring *ring, const char *extra_excludes);
void cs_recorder_stop(void);
/* A thread's state was just created: list it, and join the ring if this
 * process has not yet. */
void cs_session_track_thread(struct cs_thread *t);

#endif
