/*
 * recorder.c — encodes calls, returns, exceptions and logs as events in the
 * calling thread's stream (see recorder.h and core/event.h).
 */
#include "recorder.h"

#include <pthread.h>
#include <unistd.h>

#include "capture/values.h"
#include "core/event.h"
#include "py/code.h"


__thread struct cs_thread *cs_current_thread __attribute__((tls_model("initial-exec")));

struct cs_thread *cs_thread_create(void)
{
    if (!cs_rec.recording)
        return NULL;
    struct cs_thread *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    cs_writer_init(&t->writer, &cs_rec.ring, (uint32_t)getpid(), (uint32_t)gettid(),
                   (uint32_t)getppid());
    cs_current_thread = t;
    cs_session_track_thread(t);
    return t;
}

struct cs_code_info *cs_recorder_code(PyCodeObject *code, PyObject *globals, PyObject *first_arg)
{
    struct cs_code_info *ci = cs_code_info_current(cs_py_code_extra(code, cs_rec.code_extra_index));
    if (!ci) {
        ci = cs_code_info_resolve(code, globals, first_arg);
        if (!ci)
            return NULL;
    }
    if (!ci->id && ci->traced)
        ci->id = atomic_fetch_add(&cs_rec.ring.header->next_code_id, 1);
    return ci;
}

static unsigned char *put_pystr(unsigned char *p, PyObject *s, size_t max)
{
    Py_ssize_t n = 0;
    const char *u = s && PyUnicode_Check(s) ? PyUnicode_AsUTF8AndSize(s, &n) : NULL;
    if (!u) {
        PyErr_Clear();
        return cs_put_str(p, "", 0);
    }
    return cs_put_str(p, u, (size_t)n < max ? (size_t)n : max);
}

/* EV_CODE, the first time this stream uses the function. The strings are
 * bounded so a definition always fits in one event. */
static unsigned char *define_code(struct cs_thread *t, unsigned char *p, struct cs_code_info *ci,
                                  PyCodeObject *code)
{
    if (!cs_writer_first_use(&t->writer, ci->id))
        return p;
    *p++ = EV_CODE;
    p = cs_put_varint(p, ci->id);
    p = put_pystr(p, ci->module, 512);
    p = put_pystr(p, ci->qualname, 512);
    p = put_pystr(p, code->co_filename, 1024);
    p = cs_put_varint(p, (uint64_t)code->co_firstlineno);
    p = cs_put_varint(p, ci->flags);
    Py_ssize_t n = PyTuple_GET_SIZE(ci->arg_names);
    /* 255 names of at most 20 bytes stay well inside an event. */
    if (n > 255)
        n = 255;
    p = cs_put_varint(p, (uint64_t)n);
    for (Py_ssize_t i = 0; i < n; i++)
        p = put_pystr(p, PyTuple_GET_ITEM(ci->arg_names, i), 20);
    return p;
}

/* Where an event's values must end, given where they start: the
 * CS_MAX_EVENT_BYTES that cs_writer_begin guarantees, less the room of what
 * may already stand before `p` (the tag and dt that begin_leaving writes). */
#define EVENT_HEAD_ROOM 64
_Static_assert(1 + CS_VARINT_MAX <= EVENT_HEAD_ROOM, "an event's tag and dt fit the room kept before its values");

static inline unsigned char *values_limit(unsigned char *p)
{
    return p + CS_MAX_EVENT_BYTES - EVENT_HEAD_ROOM;
}

/* The depth changes after cs_writer_begin, whether the event is dropped
 * or not: the EV_LOST that begin may write first gives the depth before
 * this event, which the collector then applies. */

void cs_record_call(struct cs_thread *t, struct cs_code_info *ci, PyCodeObject *code,
                    PyObject *const *args, uint64_t now)
{
    unsigned char *p = cs_writer_begin(&t->writer, now);
    t->writer.depth++;
    if (!p)
        return;
    unsigned char *limit = values_limit(p);
    p = define_code(t, p, ci, code);
    if (cs_rec.no_args) {
        *p++ = EV_CALL_BARE;
        p = cs_put_varint(p, ci->id);
        p = cs_writer_put_dt(&t->writer, p, now);
    } else {
        *p++ = EV_CALL;
        p = cs_put_varint(p, ci->id);
        p = cs_writer_put_dt(&t->writer, p, now);
        int n = ci->nargs > 255 ? 255 : ci->nargs;
        for (int i = 0; i < n; i++)
            p = cs_encode_value(p, limit, args[i], &cs_rec.limits, 0);
    }
    cs_writer_commit(&t->writer, p);
    if (ci->names_thread && ci->nargs > 0 && args && args[0])
        cs_record_thread_object(t, args[0]);
}

void cs_record_resume(struct cs_thread *t, struct cs_code_info *ci, PyCodeObject *code, uint64_t now)
{
    unsigned char *p = cs_writer_begin(&t->writer, now);
    t->writer.depth++;
    if (!p)
        return;
    p = define_code(t, p, ci, code);
    *p++ = EV_RESUME;
    p = cs_put_varint(p, ci->id);
    p = cs_writer_put_dt(&t->writer, p, now);
    cs_writer_commit(&t->writer, p);
}

/* Starts an event that ends a call (tag, then dt). The depth drops even
 * when the event itself has to be dropped. NULL: dropped. */
static unsigned char *begin_leaving(struct cs_thread *t, unsigned char tag, uint64_t now)
{
    unsigned char *p = cs_writer_begin(&t->writer, now);
    cs_writer_left_call(&t->writer);
    if (!p)
        return NULL;
    *p++ = tag;
    return cs_writer_put_dt(&t->writer, p, now);
}

void cs_record_exit(struct cs_thread *t, PyObject *value, int is_yield, uint64_t now)
{
    unsigned char tag = cs_rec.no_args ? (is_yield ? EV_YIELD_BARE : EV_RETURN_BARE)
                                          : (is_yield ? EV_YIELD : EV_RETURN);
    unsigned char *p = begin_leaving(t, tag, now);
    if (!p)
        return;
    if (!cs_rec.no_args)
        p = cs_encode_value(p, values_limit(p), value, &cs_rec.limits, 0);
    cs_writer_commit(&t->writer, p);
}

void cs_record_unwind(struct cs_thread *t, PyObject *type, PyObject *value, uint64_t now)
{
    unsigned char *p = begin_leaving(t, EV_UNWIND, now);
    if (!p)
        return;
    p = cs_encode_exception(p, values_limit(p), type, value, &cs_rec.limits);
    cs_writer_commit(&t->writer, p);
}

void cs_record_held_unwinds(struct cs_thread *t, PyObject *type, PyObject *value)
{
    for (int i = 0; i < t->held_unwinds; i++) {
        if (t->held_c_raises & (1u << i))
            cs_record_c_exit(t, 1, t->held_unwind_ticks[i]);
        else
            cs_record_unwind(t, type, value, t->held_unwind_ticks[i]);
    }
    t->held_unwinds = 0;
    t->held_c_raises = 0;
    t->held_frame = NULL;
}

/* ---- C functions (--c-calls): ids cached by their method definition ---- */

struct cfunc_slot {
    const void *key;
    uint64_t id;
    uint32_t session;
};
static struct cfunc_slot cfunc_cache[4096];

void cs_cfunc_names(PyObject *callable, char *module, size_t msize, char *qualname, size_t qsize)
{
    module[0] = 0;
    if (PyCFunction_Check(callable)) {
        PyCFunctionObject *f = (PyCFunctionObject *)callable;
        PyObject *self = f->m_self;
        if (self && PyModule_Check(self)) {
            const char *m = PyModule_GetName(self);
            snprintf(module, msize, "%s", m ? m : "");
            PyErr_Clear();
            snprintf(qualname, qsize, "%s", f->m_ml->ml_name);
        } else if (self && self != Py_None) {
            char tname[128];
            cs_type_name(PyType_Check(self) ? (PyTypeObject *)self : Py_TYPE(self), tname, sizeof tname);
            snprintf(qualname, qsize, "%s.%s", tname, f->m_ml->ml_name);
        } else {
            snprintf(qualname, qsize, "%s", f->m_ml->ml_name);
        }
        if (!module[0] && f->m_module && PyUnicode_Check(f->m_module))
            snprintf(module, msize, "%s", PyUnicode_AsUTF8(f->m_module));
    } else if (Py_TYPE(callable) == &PyMethodDescr_Type) {
        PyMethodDescrObject *d = (PyMethodDescrObject *)callable;
        char tname[128];
        cs_type_name(PyDescr_TYPE(d), tname, sizeof tname);
        snprintf(qualname, qsize, "%s.%s", tname, d->d_method->ml_name);
    } else {
        char tname[128];
        cs_type_name(Py_TYPE(callable), tname, sizeof tname);
        snprintf(qualname, qsize, "%s", tname);
    }
    if (!module[0])
        snprintf(module, msize, "builtins");
    PyErr_Clear();
}

static const void *cfunc_key(PyObject *callable)
{
    if (PyCFunction_Check(callable))
        return ((PyCFunctionObject *)callable)->m_ml;
    if (Py_TYPE(callable) == &PyMethodDescr_Type)
        return ((PyMethodDescrObject *)callable)->d_method;
    return Py_TYPE(callable);
}

void cs_record_c_call(struct cs_thread *t, PyObject *callable, uint64_t now)
{
    unsigned char *p = cs_writer_begin(&t->writer, now);
    t->writer.depth++;
    if (!p)
        return;
    const void *key = cfunc_key(callable);
    struct cfunc_slot *slot = &cfunc_cache[((uintptr_t)key >> 4) % (sizeof cfunc_cache / sizeof *cfunc_cache)];
    if (slot->key != key || slot->session != cs_rec.session) {
        slot->key = key;
        slot->session = cs_rec.session;
        slot->id = atomic_fetch_add(&cs_rec.ring.header->next_code_id, 1);
    }
    if (cs_writer_first_use(&t->writer, slot->id)) {
        char module[128], qualname[256];
        cs_cfunc_names(callable, module, sizeof module, qualname, sizeof qualname);
        *p++ = EV_CFUNC;
        p = cs_put_varint(p, slot->id);
        p = cs_put_str(p, module, strlen(module));
        p = cs_put_str(p, qualname, strlen(qualname));
    }
    *p++ = EV_CCALL;
    p = cs_put_varint(p, slot->id);
    p = cs_writer_put_dt(&t->writer, p, now);
    cs_writer_commit(&t->writer, p);
}

void cs_record_c_exit(struct cs_thread *t, int raised, uint64_t now)
{
    unsigned char *p = begin_leaving(t, raised ? EV_CRAISE : EV_CRETURN, now);
    if (p)
        cs_writer_commit(&t->writer, p);
}

/* ---- thread names and logs ---- */

void cs_record_thread_name(struct cs_thread *t, unsigned long tid, PyObject *name)
{
    unsigned char *p = cs_writer_begin(&t->writer, cs_ticks());
    if (!p)
        return;
    *p++ = EV_THREAD_NAME;
    p = cs_put_varint(p, tid);
    p = put_pystr(p, name, 200);
    cs_writer_commit(&t->writer, p);
}

/* threading.Thread._bootstrap_inner(self) runs in the new thread: its
 * `_name` is the thread's name. Read through the instance dictionary only. */
void cs_record_thread_object(struct cs_thread *t, PyObject *thread_obj)
{
    PyObject *key = PyUnicode_FromString("_name");
    if (!key) {
        PyErr_Clear();
        return;
    }
    t->suppressed++;
    PyObject *name = PyObject_GenericGetAttr(thread_obj, key);
    t->suppressed--;
    Py_DECREF(key);
    if (name && PyUnicode_Check(name))
        cs_record_thread_name(t, t->writer.tid, name);
    Py_XDECREF(name);
    PyErr_Clear();
}

void cs_record_log(struct cs_thread *t, PyObject *message, PyObject *fields)
{
    uint64_t now = cs_ticks();
    unsigned char *p = cs_writer_begin(&t->writer, now);
    if (!p)
        return;
    unsigned char *limit = values_limit(p);
    *p++ = EV_LOG;
    p = cs_writer_put_dt(&t->writer, p, now);
    p = put_pystr(p, message, 2000);
    struct cs_value_limits lim = cs_rec.limits;
    lim.use_repr = 0;
    p = cs_encode_value(p, limit, fields ? fields : Py_None, &lim, 0);
    cs_writer_commit(&t->writer, p);
}
