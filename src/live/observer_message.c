/*
 * observer_message.c — the bytes of a live observation, as protocol.h lays
 * out MSG_OBSERVATION: its header, a function's name and place, arguments
 * and values in the event encoding of core/event.h; and the hand-over of a
 * finished observation to the agent thread.
 *
 * Everything here reads the program's objects without running its Python
 * code: names come from dictionaries and code objects, values through the
 * recorder's encoder.
 */
#include "live/observer_internal.h"

#include <unistd.h>

#include "capture/code_info.h"
#include "capture/recorder.h"
#include "capture/values.h"
#include "hooks/family.h"
#include "py/code.h"
#include "util/textbuf.h"

void cs_obs_put_varint(struct cs_textbuf *b, uint64_t v)
{
    unsigned char tmp[CS_VARINT_MAX];
    cs_textbuf_put(b, tmp, (size_t)(cs_put_varint(tmp, v) - tmp));
}

static void put_str(struct cs_textbuf *b, const char *s, size_t n)
{
    cs_obs_put_varint(b, n);
    cs_textbuf_put(b, s, n);
}

void cs_obs_put_cstr(struct cs_textbuf *b, const char *s)
{
    put_str(b, s, strlen(s));
}

/* A str object as UTF-8; anything else, or text that cannot be encoded,
 * as the empty string. */
static void put_unicode(struct cs_textbuf *b, PyObject *s)
{
    Py_ssize_t n = 0;
    const char *u = s && PyUnicode_Check(s) ? PyUnicode_AsUTF8AndSize(s, &n) : NULL;
    if (!u) {
        PyErr_Clear();
        u = "";
        n = 0;
    }
    put_str(b, u, (size_t)n);
}

void cs_obs_put_value(struct cs_textbuf *b, PyObject *v, int expand)
{
    static const size_t room = 64 * 1024;
    struct cs_value_limits lim = {.max_string = 200, .max_items = 10, .max_nesting = (uint32_t)expand};
    if (cs_textbuf_grow(b, room) != 0)
        return;
    unsigned char *start = (unsigned char *)b->data + b->len;
    unsigned char *end = cs_encode_value(start, start + room - 32, v, &lim, 0);
    b->len += (size_t)(end - start);
}

/* "module.qualname" of a code object whose names were resolved at its
 * start (see cs_obs_name_code). */
void cs_live_function_name(struct cs_textbuf *name, PyCodeObject *code)
{
    struct cs_code_info *ci = cs_code_info_of(code);
    if (ci && ci->module && PyUnicode_GetLength(ci->module) > 0) {
        cs_textbuf_puts(name, PyUnicode_AsUTF8(ci->module));
        cs_textbuf_putc(name, '.');
    }
    PyObject *qualname = ci && ci->qualname ? ci->qualname : NULL;
    if (qualname)
        Py_INCREF(qualname);
    else
        qualname = cs_py_code_qualname(code, NULL);
    const char *q = qualname ? PyUnicode_AsUTF8(qualname) : NULL;
    cs_textbuf_puts(name, q ? q : "?");
    Py_XDECREF(qualname);
    PyErr_Clear();
}

void cs_obs_put_code_line(struct cs_textbuf *b, PyCodeObject *code, int lineno)
{
    struct cs_textbuf name = {0};
    cs_live_function_name(&name, code);
    put_str(b, name.data ? name.data : "", name.len);
    cs_textbuf_free(&name);
    put_unicode(b, code->co_filename);
    cs_obs_put_varint(b, (uint64_t)lineno);
}

void cs_obs_put_code(struct cs_textbuf *b, PyCodeObject *code)
{
    cs_obs_put_code_line(b, code, code->co_firstlineno);
}

void cs_live_name_walked_code(PyCodeObject *code, PyObject *globals, PyObject *first_arg)
{
    struct cs_code_info *ci = cs_code_info_of(code);
    if (ci && !ci->module && !cs_code_info_named(code, globals, first_arg))
        PyErr_Clear();
}

/* As cs_live_name_walked_code, from a running frame of the code. */
void cs_obs_name_code(PyCodeObject *code, void *frame)
{
    struct cs_code_info *ci = cs_code_info_of(code);
    if (ci && ci->module)
        return;
    PyObject *first = NULL;
    if (code->co_argcount > 0)
        cs_family_frame_args(frame, code, 1, &first);
    if (!cs_code_info_named(code, cs_family_frame_globals(frame), first))
        PyErr_Clear();
}

void cs_obs_put_callable(struct cs_textbuf *b, PyObject *callable)
{
    char module[128], qualname[256], full[400];
    cs_cfunc_names(callable, module, sizeof module, qualname, sizeof qualname);
    snprintf(full, sizeof full, "%s%s%s", strcmp(module, "builtins") ? module : "",
             strcmp(module, "builtins") ? "." : "", qualname);
    cs_obs_put_cstr(b, full);
    cs_obs_put_cstr(b, "<built-in>");
    cs_obs_put_varint(b, 0);
}

/* The thread is named by its threading name and daemon flag, read from the
 * Thread's __dict__ in threading's own table: dictionary lookups only, no
 * property runs. */
void cs_obs_put_header(struct cs_textbuf *b, const struct cs_live_watch *w, int64_t wall, int64_t duration)
{
    PyObject *name = NULL;
    int daemon = 0;
    PyObject *modules = PyImport_GetModuleDict();
    PyObject *threading = modules ? PyDict_GetItemString(modules, "threading") : NULL;
    PyObject *active = threading ? PyObject_GetAttrString(threading, "_active") : NULL;
    if (active && PyDict_Check(active)) {
        PyObject *key = PyLong_FromUnsignedLong(PyThread_get_thread_ident());
        PyObject *t = key ? PyDict_GetItem(active, key) : NULL;
        Py_XDECREF(key);
        PyObject *dict = t ? PyObject_GenericGetDict(t, NULL) : NULL;
        if (dict) {
            name = PyDict_GetItemString(dict, "_name");
            PyObject *d = PyDict_GetItemString(dict, "_daemonic");
            daemon = d == Py_True;
            Py_XINCREF(name);
            Py_DECREF(dict);
        }
    }
    Py_XDECREF(active);
    PyErr_Clear();
    struct cs_observation_header h = {
        .command = w->req.command,
        .watch_id = (uint64_t)w->id,
        .wall_ns = (uint64_t)wall,
        .tid = (uint64_t)PyThread_get_thread_native_id(),
        .thread = "",
        .daemon = daemon,
        .duration_ns = (uint64_t)(duration > 0 ? duration : 0),
    };
    Py_ssize_t n = 0;
    const char *text = name && PyUnicode_Check(name) ? PyUnicode_AsUTF8AndSize(name, &n) : NULL;
    if (text) {
        h.thread = text;
        h.thread_len = (size_t)n;
    } else if (!threading && h.tid == (uint64_t)getpid()) {
        h.thread = "MainThread"; /* a program that never imported threading */
        h.thread_len = strlen(h.thread);
    }
    PyErr_Clear();
    cs_observation_header_put(b, &h);
    Py_XDECREF(name);
}

int cs_live_code_nargs(PyCodeObject *code)
{
    int n = code->co_argcount + code->co_kwonlyargcount;
    n += (code->co_flags & CO_VARARGS) != 0;
    n += (code->co_flags & CO_VARKEYWORDS) != 0;
    return n > CS_OBS_MAX_ARGS ? CS_OBS_MAX_ARGS : n;
}

int cs_obs_put_args(struct cs_textbuf *b, PyCodeObject *code, void *frame, int expand)
{
    int n = cs_live_code_nargs(code);
    PyObject *argv[CS_OBS_MAX_ARGS];
    cs_family_frame_args(frame, code, n, argv);
    PyObject *names = cs_py_code_arg_names(code, n);
    for (int i = 0; i < n; i++) {
        PyObject *name = names && i < PyTuple_GET_SIZE(names) ? PyTuple_GET_ITEM(names, i) : NULL;
        put_unicode(b, name);
        if (argv[i]) {
            cs_obs_put_value(b, argv[i], expand);
        } else {
            cs_textbuf_putc(b, V_UNBOUND);
        }
    }
    Py_XDECREF(names);
    PyErr_Clear();
    return n;
}

int cs_obs_first_arg_is_receiver(PyCodeObject *code)
{
    PyObject *names = code->co_argcount > 0 ? cs_py_code_arg_names(code, 1) : NULL;
    int receiver = names && PyTuple_GET_SIZE(names) == 1 &&
                   (PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(names, 0), "self") == 0 ||
                    PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(names, 0), "cls") == 0);
    Py_XDECREF(names);
    return receiver;
}

void cs_obs_deliver(struct cs_live_watch *w, struct cs_textbuf *b)
{
    if (!b->oom && !w->done) {
        cs_live_send(w->owner, CS_MSG_OBSERVATION, b->data, b->len);
        if (w->req.times >= 0 && ++w->sent >= w->req.times) {
            w->done = 1;
            cs_live_watch_finished(w);
        }
    }
    cs_textbuf_free(b);
}
