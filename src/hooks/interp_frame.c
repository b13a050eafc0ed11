/*
 * interp_frame.c — recording a call from an interpreter frame (see
 * interp_frame.h).
 */
#include "hooks/interp_frame.h"
#if PY_VERSION_HEX >= 0x030B0000

struct cs_code_info *cs_frame_resolve(PyCodeObject *code, _PyInterpreterFrame *f)
{
    return cs_recorder_code(code, f->f_globals, code->co_argcount ? f->localsplus[0] : NULL);
}

void cs_frame_record_call(struct cs_thread *t, struct cs_code_info *ci, PyCodeObject *code, _PyInterpreterFrame *f,
                          uint64_t now)
{
    PyObject *argv[256];
    int n = cs_active_no_args ? (ci->names_thread ? 1 : 0) : (ci->nargs > 255 ? 255 : ci->nargs);
    cs_frame_args(f, code, n, argv);
    cs_record_call(t, ci, code, cs_active_no_args && !ci->names_thread ? NULL : argv, now);
}

void cs_frame_name_thread(struct cs_thread *t, PyCodeObject *code, _PyInterpreterFrame *f)
{
    PyObject *self_arg = NULL;
    cs_frame_args(f, code, 1, &self_arg);
    if (self_arg)
        cs_record_thread_object(t, self_arg);
}

#endif
