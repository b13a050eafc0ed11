/*
 * observer_watch.c — the watch observer (`callscope watch`): one
 * observation per call of the target, at its entry, return or exception
 * (the request's `when`), with its arguments and its result.
 *
 * The arguments are encoded when the call starts, while the frame still
 * holds them as they were passed, and kept with the open call for the
 * observation at its end.
 */
#include "live/observer_internal.h"

#include "capture/values.h"
#include "core/clock.h"
#include "util/textbuf.h"

void cs_obs_watch_capture(struct cs_obs_open_call *c, PyCodeObject *code, void *frame, int expand)
{
    struct cs_textbuf b = {0};
    c->nargs = cs_obs_put_args(&b, code, frame, expand);
    c->args = (unsigned char *)b.data;
    c->args_len = b.len;
    c->captured = 1;
}

/* Which of the arguments are what (protocol.h, WATCH), so that a client
 * can tell positional arguments from keyword ones and the receiver from
 * both, as the call's caller saw them. */
static void put_arg_shape(struct cs_textbuf *b, PyCodeObject *code, int nargs)
{
    int shape = 0;
    int all = code->co_argcount + code->co_kwonlyargcount + ((code->co_flags & CO_VARARGS) != 0) +
              ((code->co_flags & CO_VARKEYWORDS) != 0);
    if (all == nargs) { /* when arguments were cut, the last ones are not *args, **kwargs */
        if (code->co_flags & CO_VARARGS)
            shape |= CS_ARGS_VARARGS;
        if (code->co_flags & CO_VARKEYWORDS)
            shape |= CS_ARGS_VARKEYWORDS;
    }
    if (cs_obs_first_arg_is_receiver(code))
        shape |= CS_ARGS_RECEIVER;
    PyErr_Clear();
    int positional = code->co_argcount < nargs ? code->co_argcount : nargs;
    cs_textbuf_putc(b, (char)shape);
    cs_obs_put_varint(b, (uint64_t)positional);
}

void cs_obs_watch_observe(struct cs_live_watch *w, PyCodeObject *code, struct cs_obs_open_call *c, int at,
                          int64_t duration, PyObject *value)
{
    struct cs_textbuf b = {0};
    cs_obs_put_header(&b, w, cs_wall_ns(), duration);
    cs_obs_put_code(&b, code);
    cs_textbuf_putc(&b, (char)at);
    put_arg_shape(&b, code, c->nargs);
    cs_obs_put_varint(&b, (uint64_t)c->nargs);
    cs_textbuf_put(&b, c->args, c->args_len);
    if (at == CS_AT_RETURN) {
        cs_obs_put_value(&b, value ? value : Py_None, w->req.expand);
    } else if (at == CS_AT_EXCEPTION) {
        if (value) {
            char tname[200];
            cs_type_name(Py_TYPE(value), tname, sizeof tname);
            cs_obs_put_cstr(&b, tname);
            PyObject *args = PyExceptionInstance_Check(value) ? PyObject_GetAttrString(value, "args") : NULL;
            PyObject *msg = args && PyTuple_Check(args) && PyTuple_GET_SIZE(args) == 1 ? PyTuple_GET_ITEM(args, 0) : args;
            cs_obs_put_value(&b, msg ? msg : Py_None, w->req.expand);
            Py_XDECREF(args);
            PyErr_Clear();
        } else {
            cs_obs_put_cstr(&b, "<exception>");
            cs_textbuf_putc(&b, V_NONE);
        }
    }
    cs_obs_deliver(w, &b);
}
