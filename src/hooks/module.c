/*
 * module.c — the `callscope._callscope` extension module: what the Python
 * side (python/callscope) calls to start and stop recording into a ring,
 * and the live agent's entry for an attach through sys.remote_exec.
 */
#include <Python.h>

#include <unistd.h>

#include "capture/recorder.h"
#include "hooks/family.h"
#include "live/agent_entry.h"

static struct cs_ring ring; /* mapped while a session may still write */

/* start(ring_name, excludes[, thread_names]): joins the ring a collector
 * created and starts tracing every thread. `excludes` adds path prefixes of
 * this interpreter (its standard library for --no-stdlib, callscope's own
 * files...); `thread_names`, a list of (native id, name) of the threads
 * running already, is recorded before the hooks go in, so that naming them
 * is not itself recorded. */
static PyObject *start(PyObject *self, PyObject *args)
{
    (void)self;
    const char *name;
    PyObject *excludes, *thread_names = NULL;
    if (!PyArg_ParseTuple(args, "sO!|O!:start", &name, &PyList_Type, &excludes, &PyList_Type, &thread_names))
        return NULL;
    if (cs_rec.recording) {
        PyErr_SetString(PyExc_RuntimeError, "callscope is already recording in this process");
        return NULL;
    }
    char packed[CS_PATTERN_BYTES];
    size_t n = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(excludes); i++) {
        Py_ssize_t len;
        const char *s = PyUnicode_AsUTF8AndSize(PyList_GET_ITEM(excludes, i), &len);
        if (!s)
            return NULL;
        if (n + (size_t)len + 2 > sizeof packed)
            break;
        memcpy(packed + n, s, (size_t)len + 1);
        n += (size_t)len + 1;
    }
    packed[n] = 0;
    char err[256];
    if (ring.header)
        cs_ring_close(&ring);
    if (cs_ring_open(&ring, name, err, sizeof err) != 0) {
        PyErr_Format(PyExc_RuntimeError, "callscope: %s", err);
        return NULL;
    }
    if (cs_recorder_start(&ring, packed) != 0)
        return NULL;
    struct cs_thread *t = cs_thread_get();
    for (Py_ssize_t i = 0; t && thread_names && i < PyList_GET_SIZE(thread_names); i++) {
        unsigned long tid;
        PyObject *thread_name;
        if (PyArg_ParseTuple(PyList_GET_ITEM(thread_names, i), "kU", &tid, &thread_name))
            cs_record_thread_name(t, tid, thread_name);
        PyErr_Clear();
    }
    if (cs_family_install() != 0) {
        cs_rec.recording = 0;
        return NULL;
    }
    /* `callscope run` reports an exit before this point as its own failure
     * to start; from here on the program's own code runs (set here rather
     * than by a call the recording would show). */
    atomic_store(&ring.header->target_started, 1);
    Py_RETURN_NONE;
}

static PyObject *stop(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    if (cs_rec.recording)
        cs_family_uninstall(); /* first: no hook may run into a stopped recorder */
    cs_recorder_stop();
    Py_RETURN_NONE;
}

static PyObject *recording(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    return PyBool_FromLong(cs_rec.recording);
}

static PyObject *thread_name(PyObject *self, PyObject *args)
{
    (void)self;
    unsigned long tid;
    PyObject *name;
    if (!PyArg_ParseTuple(args, "kU:thread_name", &tid, &name))
        return NULL;
    struct cs_thread *t = cs_rec.recording ? cs_thread_get() : NULL;
    if (t)
        cs_record_thread_name(t, tid, name);
    Py_RETURN_NONE;
}

/* os.register_at_fork(after_in_child=...): in a forked child the thread
 * that forked goes on under a new pid and tid, and threading has made it
 * the child's main thread (its hook, registered first, has run); its name
 * is recorded for the new thread. Read from threading's module dictionary
 * and the thread's instance dictionary: no code of the program runs. */
static PyObject *forked(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    struct cs_thread *t = cs_rec.recording ? cs_thread_get() : NULL;
    PyObject *modules = PyImport_GetModuleDict();
    PyObject *threading = t && modules ? PyDict_GetItemString(modules, "threading") : NULL;
    PyObject *dict = threading && PyModule_Check(threading) ? PyModule_GetDict(threading) : NULL;
    PyObject *main_thread = dict ? PyDict_GetItemString(dict, "_main_thread") : NULL;
    if (main_thread)
        cs_record_thread_object(t, main_thread);
    PyErr_Clear();
    Py_RETURN_NONE;
}

static PyObject *log_event(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *message, *fields = Py_None;
    if (!PyArg_ParseTuple(args, "U|O:log", &message, &fields))
        return NULL;
    struct cs_thread *t = cs_rec.recording ? cs_thread_get() : NULL;
    if (t && !t->suppressed)
        cs_record_log(t, message, fields);
    Py_RETURN_NONE;
}

/* @notrace: the code and everything it calls is not recorded. */
static PyObject *notrace(PyObject *self, PyObject *code)
{
    (void)self;
    if (!PyCode_Check(code)) {
        PyErr_SetString(PyExc_TypeError, "notrace() needs a code object");
        return NULL;
    }
    if (cs_code_info_init() != 0)
        return NULL;
    struct cs_code_info *ci = cs_code_info_of((PyCodeObject *)code);
    if (!ci)
        return PyErr_NoMemory();
    ci->notrace = 1;
    Py_RETURN_NONE;
}

/* agent_attach(socket_path) -> int: starts the live agent, as an attaching
 * injector's call of callscope_agent_attach() does; used by a script that
 * sys.remote_exec runs in the target (attach/inject_remote_exec.c). */
static PyObject *agent_attach(PyObject *self, PyObject *path)
{
    (void)self;
    const char *p = PyUnicode_Check(path) ? PyUnicode_AsUTF8(path) : NULL;
    if (!p) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "agent_attach() needs the socket path as a str");
        return NULL;
    }
    return PyLong_FromLong(callscope_agent_attach(p));
}

static PyMethodDef methods[] = {
    {"start", start, METH_VARARGS, "start(ring_name, excludes): record into the ring"},
    {"stop", stop, METH_NOARGS, "stop(): stop recording; calls still open stay unfinished"},
    {"recording", recording, METH_NOARGS, "recording() -> bool"},
    {"thread_name", thread_name, METH_VARARGS, "thread_name(native_id, name)"},
    {"forked", forked, METH_NOARGS, "forked(): names the thread that goes on in a forked child"},
    {"log", log_event, METH_VARARGS, "log(message, fields): a log event in the current call"},
    {"notrace", notrace, METH_O, "notrace(code): never record this code or what it calls"},
    {"agent_attach", agent_attach, METH_O, "agent_attach(socket_path): start the live agent"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_callscope", "callscope's capture engine", -1, methods, NULL, NULL, NULL, NULL,
};

__attribute__((visibility("default"))) PyMODINIT_FUNC PyInit__callscope(void)
{
    return PyModule_Create(&module);
}
