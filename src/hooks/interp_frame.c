/*
 * interp_frame.c — recording a call from an interpreter frame (see
 * interp_frame.h).
 */
#include "hooks/interp_frame.h"

struct cs_code_info *cs_frame_resolve(PyCodeObject *code, cs_frame *f)
{
    /* A frame thrown into starts with the exception pending, which naming
     * its function must not clear. */
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    /* The first argument names methods before 3.11, also when a closure
     * took it into a cell. */
    PyObject *first = NULL;
    if (code->co_argcount)
        cs_frame_args(f, code, 1, &first);
    struct cs_code_info *ci = cs_recorder_code(code, cs_frame_globals(f), first);
    PyErr_Restore(type, value, tb);
    return ci;
}

void cs_frame_record_call(struct cs_thread *t, struct cs_code_info *ci, PyCodeObject *code, cs_frame *f,
                          uint64_t now)
{
    PyObject *argv[256];
    int n = cs_rec.no_args ? (ci->names_thread ? 1 : 0) : (ci->nargs > 255 ? 255 : ci->nargs);
    cs_frame_args(f, code, n, argv);
    cs_record_call(t, ci, code, cs_rec.no_args && !ci->names_thread ? NULL : argv, now);
}

int cs_frame_c_calls_recorded(PyCodeObject *code, cs_frame *f)
{
    struct cs_code_info *ci = cs_code_info_current(cs_code_extra_of(code));
    if (!ci)
        ci = cs_frame_resolve(code, f);
    return ci && ci->traced;
}

void cs_frame_name_thread(struct cs_thread *t, PyCodeObject *code, cs_frame *f)
{
    PyObject *self_arg = NULL;
    cs_frame_args(f, code, 1, &self_arg);
    if (self_arg)
        cs_record_thread_object(t, self_arg);
}

