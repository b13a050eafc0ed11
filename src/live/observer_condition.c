/*
 * observer_condition.c — a watch's --condition decided for one call: the
 * call's arguments, receiver, result and cost are read from its frame and
 * handed to the condition (condition.h), which runs with the GIL held in
 * the thread that made the call.
 *
 * A condition that raises counts as false; its client is told once, so a
 * condition that fails on every call does not flood it.
 */
#include "live/observer_internal.h"

#include "hooks/family.h"
#include "util/textbuf.h"

__thread int cs_obs_in_condition __attribute__((tls_model("initial-exec")));

int cs_obs_condition_holds(struct cs_live_watch *w, PyCodeObject *code, void *frame, int64_t duration, int how,
                           PyObject *value)
{
    if (!w->cond.tree)
        return 1;
    int n = cs_live_code_nargs(code);
    PyObject *argv[CS_OBS_MAX_ARGS];
    cs_family_frame_args(frame, code, n, argv);
    struct cs_live_call_values v = {.params = argv, .nparams = n, .code = code, .argv = argv, .nargv = n,
                                    .cost_ms = (double)duration / 1e6};
    if (code->co_flags & CO_VARKEYWORDS)
        v.kwargs = argv[--v.nparams];
    /* a method's receiver is `self`, not one of its params */
    if (cs_obs_first_arg_is_receiver(code)) {
        v.self = argv[0];
        v.params++;
        v.nparams--;
    }
    if (how == 2)
        v.throw_exp = value;
    else if (how == 0)
        v.return_obj = value;
    char err[300];
    cs_obs_in_condition++;
    int r = cs_live_condition_test(&w->cond, &v, err, sizeof err);
    cs_obs_in_condition--;
    if (r < 0 && !w->cond.reported) {
        char text[400];
        w->cond.reported = 1;
        snprintf(text, sizeof text, "the condition raised %s; such calls count as false (said once)", err);
        struct cs_textbuf b = {0};
        cs_obs_put_cstr(&b, text);
        if (!b.oom)
            cs_live_send(w->owner, CS_MSG_NOTICE, b.data, b.len);
        cs_textbuf_free(&b);
    }
    return r == 1;
}
