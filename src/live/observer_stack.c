/*
 * observer_stack.c — the stack observer (`callscope stack`): at each start
 * of the target, the frames that called it, innermost first, up to the
 * request's depth.
 */
#include "live/observer_internal.h"

#include "core/clock.h"
#include "hooks/family.h"
#include "util/textbuf.h"

struct stack_walk {
    struct cs_textbuf *frames;
    int n;
};

/* One caller's frame: its function (named from the frame if no frame of
 * its code has named it yet), file and the line it is at. */
static void put_frame(void *walk_, PyCodeObject *code, PyObject *globals, PyObject *first_arg, int lineno)
{
    struct stack_walk *walk = walk_;
    cs_live_name_walked_code(code, globals, first_arg);
    cs_obs_put_code_line(walk->frames, code, lineno);
    walk->n++;
}

void cs_obs_stack_observe(struct cs_live_watch *w, PyCodeObject *code, void *frame)
{
    struct cs_textbuf frames = {0}, b = {0};
    struct stack_walk walk = {&frames, 0};
    cs_family_walk_stack(frame, put_frame, &walk, w->req.depth);
    cs_obs_put_header(&b, w, cs_wall_ns(), 0);
    cs_obs_put_code(&b, code);
    cs_obs_put_varint(&b, (uint64_t)walk.n);
    cs_textbuf_put(&b, frames.data, frames.len);
    cs_textbuf_free(&frames);
    cs_obs_deliver(w, &b);
}
