/*
 * query_thread.c — `callscope thread PID`: every thread of the process that
 * runs Python, with its name, ident, native id, daemon flag, state and CPU
 * time, and the Python stack it is in now.
 *
 * Threads are taken from the interpreter's own list of thread states (so a
 * thread started from C is there too); names and flags come from threading's
 * `_active` table, read as plain dict entries and instance attributes
 * (readable.h), never through Thread's properties. CPU time and state are
 * the kernel's, from /proc/self/task.
 */
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hooks/family.h"
#include "live/observer.h"
#include "live/query.h"
#include "live/readable.h"
#include "py/compat.h"
#include "util/json.h"
#include "util/parse_number.h"

#define DEFAULT_DEPTH 10
#define MAX_DEPTH 200
#define MAX_THREADS 4096

/* What threading knows of a thread, when it made it. */
struct thread_facts {
    PyObject *name; /* str, borrowed from the Thread's __dict__ via a new ref */
    int daemon;     /* -1 unknown */
    long long native_id;
};

/* The Thread object threading keeps for `ident`, if any (borrowed). Walks
 * `_active` with PyDict_Next: no key is hashed or compared. */
static PyObject *thread_object(PyObject *active, unsigned long ident)
{
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (active && PyDict_Next(active, &pos, &key, &value))
        if (PyLong_CheckExact(key) && PyLong_AsUnsignedLong(key) == ident)
            return value;
    PyErr_Clear();
    return NULL;
}

static PyObject *threading_active(void)
{
    PyObject *modules = PyImport_GetModuleDict();
    PyObject *threading = NULL;
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(modules, &pos, &key, &value))
        if (PyUnicode_CheckExact(key) && PyUnicode_CompareWithASCIIString(key, "threading") == 0)
            threading = value;
    if (!threading || !PyModule_CheckExact(threading))
        return NULL; /* not imported: no thread has a threading name */
    PyObject *globals = PyModule_GetDict(threading);
    pos = 0;
    while (globals && PyDict_Next(globals, &pos, &key, &value))
        if (PyUnicode_CheckExact(key) && PyUnicode_CompareWithASCIIString(key, "_active") == 0)
            return PyDict_CheckExact(value) ? value : NULL;
    return NULL;
}

static void facts_of(PyObject *thread, struct thread_facts *f)
{
    f->name = NULL;
    f->daemon = -1;
    f->native_id = -1;
    if (!thread)
        return;
    struct cs_read_budget budget = {CS_READ_BUDGET};
    PyObject *name = cs_read_attribute(&budget, thread, "_name");
    if (name && PyUnicode_CheckExact(name))
        f->name = name;
    else
        Py_XDECREF(name);
    PyObject *daemon = cs_read_attribute(&budget, thread, "_daemonic");
    if (daemon && PyBool_Check(daemon))
        f->daemon = daemon == Py_True;
    Py_XDECREF(daemon);
    PyObject *native = cs_read_attribute(&budget, thread, "_native_id");
    if (native && PyLong_CheckExact(native))
        f->native_id = PyLong_AsLongLong(native);
    Py_XDECREF(native);
    PyErr_Clear();
}

/* The kernel's word on a thread: its state letter and CPU time (user +
 * system, ms). 0, or -1 when /proc does not have it. */
static int kernel_facts(long long tid, char *state, double *cpu_ms)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/self/task/%lld/stat", tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* the command name is in parentheses and may hold anything: read past
     * its last ')' */
    char *p = strrchr(buf, ')');
    unsigned long long utime, stime;
    if (!p || sscanf(p + 1, " %c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu", state, &utime, &stime) != 3)
        return -1;
    long ticks = sysconf(_SC_CLK_TCK);
    *cpu_ms = (double)(utime + stime) * 1000.0 / (double)(ticks > 0 ? ticks : 100);
    return 0;
}

static const char *state_name(char state)
{
    switch (state) {
    case 'R': return "running";
    case 'S': return "sleeping";
    case 'D': return "waiting for I/O";
    case 'T':
    case 't': return "stopped";
    case 'Z': return "zombie";
    default: return "other";
    }
}

struct stack_out {
    struct cs_textbuf *json, *text;
    int n;
};

static void visit_frame(void *ctx_, PyCodeObject *code, PyObject *globals, PyObject *first_arg, int lineno)
{
    struct stack_out *o = ctx_;
    cs_live_name_walked_code(code, globals, first_arg);
    struct cs_textbuf name = {0};
    cs_live_function_name(&name, code);
    const char *file = PyUnicode_AsUTF8(code->co_filename);
    PyErr_Clear();
    cs_textbuf_puts(o->json, o->n++ ? ",{\"function\":" : "{\"function\":");
    cs_json_string(o->json, name.data ? name.data : "", name.len);
    cs_textbuf_puts(o->json, ",\"filename\":");
    cs_json_string(o->json, file ? file : "", file ? strlen(file) : 0);
    cs_textbuf_printf(o->json, ",\"lineno\":%d}", lineno);
    cs_textbuf_printf(o->text, "    at %.*s (%s:%d)\n", (int)name.len, name.data ? name.data : "", file ? file : "?",
                      lineno);
    cs_textbuf_free(&name);
}

static int parse_depth(int argc, char **argv, int *depth, char *err, size_t errlen)
{
    *depth = DEFAULT_DEPTH;
    for (int i = 0; i < argc; i++) {
        const char *v = NULL;
        if (!strcmp(argv[i], "-d") || !strcmp(argv[i], "--depth"))
            v = i + 1 < argc ? argv[++i] : "";
        else if (!strncmp(argv[i], "--depth=", 8))
            v = argv[i] + 8;
        else {
            snprintf(err, errlen, "thread: unexpected argument '%.100s' (thread takes -d N)", argv[i]);
            return -1;
        }
        long long d;
        if (cs_parse_long(v, 0, MAX_DEPTH, &d) != 0) {
            snprintf(err, errlen, "thread: -d takes a number of frames from 0 to %d, not '%.100s'", MAX_DEPTH, v);
            return -1;
        }
        *depth = (int)d;
    }
    return 0;
}

int cs_query_thread(int argc, char **argv, struct cs_live_answer *a)
{
    int depth;
    if (parse_depth(argc, argv, &depth, a->error, sizeof a->error) != 0)
        return -1;
    PyObject *active = threading_active();
    PyThreadState *self = PyThreadState_Get();
    int count = 0;
    cs_textbuf_puts(&a->json, "{\"threads\":[");
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(self->interp); ts && count < MAX_THREADS;
         ts = PyThreadState_Next(ts)) {
        if (ts == self)
            continue; /* the agent's own thread, answering this */
        struct thread_facts f;
        facts_of(thread_object(active, ts->thread_id), &f);
        long long native = f.native_id > 0 ? f.native_id : cs_thread_native_id(ts);
        char state = '?';
        double cpu_ms = -1;
        int known = native > 0 && kernel_facts(native, &state, &cpu_ms) == 0;
        const char *name = f.name ? PyUnicode_AsUTF8(f.name) : NULL;
        PyErr_Clear();
        cs_textbuf_puts(&a->json, count++ ? ",{\"name\":" : "{\"name\":");
        if (name)
            cs_json_string(&a->json, name, strlen(name));
        else
            cs_textbuf_puts(&a->json, "null");
        cs_textbuf_printf(&a->json, ",\"ident\":%lu,\"native_id\":", ts->thread_id);
        if (native > 0)
            cs_textbuf_printf(&a->json, "%lld", native);
        else
            cs_textbuf_puts(&a->json, "null");
        cs_textbuf_printf(&a->json, ",\"daemon\":%s", f.daemon < 0 ? "null" : f.daemon ? "true" : "false");
        if (known)
            cs_textbuf_printf(&a->json, ",\"state\":\"%s\",\"cpu_ms\":%.3f", state_name(state), cpu_ms);
        else
            cs_textbuf_puts(&a->json, ",\"state\":null,\"cpu_ms\":null");
        cs_textbuf_printf(&a->text, "\"%s\" ident=%lu", name ? name : "?", ts->thread_id);
        if (native > 0)
            cs_textbuf_printf(&a->text, " tid=%lld", native);
        if (f.daemon >= 0)
            cs_textbuf_printf(&a->text, " daemon=%s", f.daemon ? "True" : "False");
        if (known)
            cs_textbuf_printf(&a->text, " state=%s cpu=%.1fms", state_name(state), cpu_ms);
        cs_textbuf_putc(&a->text, '\n');
        cs_textbuf_puts(&a->json, ",\"stack\":[");
        struct stack_out out = {&a->json, &a->text, 0};
        cs_family_walk_frames(cs_thread_frame(ts), visit_frame, &out, depth);
        PyErr_Clear();
        cs_textbuf_puts(&a->json, "]}");
        Py_XDECREF(f.name);
    }
    cs_textbuf_printf(&a->json, "],\"count\":%d}", count);
    return 0;
}
