/*
 * observer.c — builds trace, watch and stack observations from the start
 * and exit events of instrumented code.
 *
 * Each thread keeps a stack of the calls it saw start: the targets' calls
 * always, and every call while an invocation of a traced target is under
 * way. An exit pops the top when it belongs to the same code: the events
 * arrive in stack order, and only frames started after the watch began are
 * ever pushed, so a frame that was already running exits unnoticed.
 *
 * A trace invocation collects one node per shown call, in the order calls
 * start (a preorder walk of its tree), and is encoded and queued when the
 * target returns. Watches are checked by slot and id whenever used, so
 * removing one (the agent does that, with the GIL) needs no visit to the
 * threads: their leftovers are dropped the next time they are seen.
 */
#include "live/observer.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "capture/code_info.h"
#include "capture/recorder.h"
#include "capture/values.h"
#include "hooks/family.h"
#include "py/code.h"
#include "util/textbuf.h"

struct cs_live_watch *cs_live_watches[CS_LIVE_MAX_WATCHES];

#define MAX_NODES 20000   /* per trace invocation; more are counted, not kept */
#define MAX_INVOCATIONS 8 /* trace invocations open at once in one thread */
#define MAX_ARGS 64

struct node {
    int depth;
    uint8_t flags;
    int64_t start, duration;
    PyObject *what; /* code object or C callable (strong) */
    unsigned char *args; /* --args: (name, value) pairs encoded at the call */
    size_t args_len;
    int nargs;
};

struct invocation {
    int slot, id;      /* the trace watch */
    size_t base;       /* stack level of the target's call */
    struct node *nodes;
    size_t n, cap;
    size_t omitted;
    int64_t wall_ns;
    int shows_stdlib; /* the target is in the standard library: so are the calls worth seeing */
};

struct open_call {
    PyObject *code; /* borrowed: only compared */
    int64_t start;
    int is_c;
    /* per open invocation: the node of this call, or -1 when hidden; and
     * the display depth its shown children get */
    int node[MAX_INVOCATIONS];
    int child_depth[MAX_INVOCATIONS];
    /* watch: arguments captured at entry (encoded), for the finish */
    unsigned char *args; /* (NULL for a call without arguments) */
    size_t args_len;
    int nargs;
    int captured;
    uint64_t refused; /* bit per watch slot: its condition was false at entry */
};

struct live_thread {
    struct open_call *stack;
    size_t depth, cap;
    struct invocation inv[MAX_INVOCATIONS];
    int ninv;
    unsigned epoch; /* what is open above belongs to this epoch */
};

/* initial-exec: one load per event, as for the recorder's thread state */
static __thread struct live_thread *me __attribute__((tls_model("initial-exec")));
/* Trace invocations open in all threads (the GIL guards it): the hooks
 * widen to callees only while there are any. */
int cs_live_open_invocations;
#define open_invocations cs_live_open_invocations
/* Bumped when the hooks lose track of the calls open in threads (their
 * instrumentation was redone): each thread drops what it had open at its
 * next event, since the ends of those calls may never be reported. */
static unsigned epoch;
static pthread_key_t thread_key;
static pthread_once_t thread_key_once = PTHREAD_ONCE_INIT;

/* A thread that ends gives its state back. Without the GIL no reference can
 * be dropped: an invocation still open then (rare) keeps its code objects. */
static void free_thread_state(void *p)
{
    struct live_thread *t = p;
    for (size_t d = 0; d < t->depth; d++)
        PyMem_RawFree(t->stack[d].args);
    PyMem_RawFree(t->stack);
    for (int k = 0; k < t->ninv; k++)
        PyMem_RawFree(t->inv[k].nodes);
    PyMem_RawFree(t);
}

static void make_thread_key(void)
{
    pthread_key_create(&thread_key, free_thread_state);
}

static struct live_thread *thread_state(void)
{
    if (!me && (me = PyMem_RawCalloc(1, sizeof *me)) != NULL) {
        me->epoch = epoch;
        pthread_once(&thread_key_once, make_thread_key);
        pthread_setspecific(thread_key, me);
    }
    return me;
}

int64_t cs_live_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct cs_live_watch *watch_at(int slot, int id)
{
    struct cs_live_watch *w = cs_live_watches[slot];
    return w && w->id == id ? w : NULL;
}

static int code_matches(const struct cs_live_watch *w, PyObject *code)
{
    Py_ssize_t n = PyTuple_GET_SIZE(w->codes);
    for (Py_ssize_t i = 0; i < n; i++)
        if (PyTuple_GET_ITEM(w->codes, i) == code)
            return 1;
    return 0;
}

int cs_live_is_target(PyCodeObject *code)
{
    for (int i = 0; i < CS_LIVE_MAX_WATCHES; i++)
        if (cs_live_watches[i] && code_matches(cs_live_watches[i], (PyObject *)code))
            return 1;
    return 0;
}

int cs_live_thread_busy(void)
{
    return me && me->ninv > 0 && me->epoch == epoch;
}

int cs_live_thread_open_calls(void)
{
    return me && me->epoch == epoch ? (int)me->depth : 0;
}

/* ---- the message buffer ---- */

static void put_varint(struct cs_textbuf *b, uint64_t v)
{
    unsigned char tmp[CS_VARINT_MAX];
    cs_textbuf_put(b, tmp, (size_t)(cs_put_varint(tmp, v) - tmp));
}

static void put_str(struct cs_textbuf *b, const char *s, size_t n)
{
    put_varint(b, n);
    cs_textbuf_put(b, s, n);
}

static void put_cstr(struct cs_textbuf *b, const char *s)
{
    put_str(b, s, strlen(s));
}

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

static void put_value(struct cs_textbuf *b, PyObject *v, int expand)
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
 * start (see name_code). */
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

static void put_function_name(struct cs_textbuf *b, PyCodeObject *code)
{
    struct cs_textbuf name = {0};
    cs_live_function_name(&name, code);
    put_str(b, name.data ? name.data : "", name.len);
    cs_textbuf_free(&name);
}

/* The code's function, file and first line. */
static void put_code(struct cs_textbuf *b, PyCodeObject *code)
{
    put_function_name(b, code);
    put_unicode(b, code->co_filename);
    put_varint(b, (uint64_t)code->co_firstlineno);
}

/* Names a code object from its first running frame: the module from the
 * frame's globals, the class (before 3.11) from its first argument. */
static void name_code(PyCodeObject *code, void *frame)
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

static void put_callable(struct cs_textbuf *b, PyObject *callable)
{
    char module[128], qualname[256], full[400];
    cs_cfunc_names(callable, module, sizeof module, qualname, sizeof qualname);
    snprintf(full, sizeof full, "%s%s%s", strcmp(module, "builtins") ? module : "",
             strcmp(module, "builtins") ? "." : "", qualname);
    put_cstr(b, full);
    put_cstr(b, "<built-in>");
    put_varint(b, 0);
}

/* The running thread's name and daemon flag, from threading's own table
 * (dictionary lookups only). */
/* The header of an observation made now in the calling thread: its
 * threading name and daemon flag, read from the Thread's __dict__ (no
 * property runs). */
static void put_header(struct cs_textbuf *b, struct cs_live_watch *w, int64_t wall, int64_t duration)
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

/* Queues an observation and counts it toward -n. */
static void deliver(struct cs_live_watch *w, struct cs_textbuf *b)
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

/* ---- stack ---- */

struct stack_ctx {
    struct cs_textbuf *b;
    int n;
};

static void visit_frame(void *ctx_, PyCodeObject *code, PyObject *globals, PyObject *first_arg, int lineno)
{
    struct stack_ctx *ctx = ctx_;
    struct cs_code_info *ci = cs_code_info_of(code);
    if (ci && !ci->module && !cs_code_info_named(code, globals, first_arg))
        PyErr_Clear();
    put_function_name(ctx->b, code);
    put_unicode(ctx->b, code->co_filename);
    put_varint(ctx->b, (uint64_t)lineno);
    ctx->n++;
}

static void observe_stack(struct cs_live_watch *w, PyCodeObject *code, void *frame)
{
    struct cs_textbuf frames = {0}, b = {0};
    struct stack_ctx ctx = {&frames, 0};
    cs_family_walk_stack(frame, visit_frame, &ctx, w->req.depth);
    put_header(&b, w, wall_ns(), 0);
    put_code(&b, code);
    put_varint(&b, (uint64_t)ctx.n);
    cs_textbuf_put(&b, frames.data, frames.len);
    cs_textbuf_free(&frames);
    deliver(w, &b);
}

/* ---- watch ---- */

int cs_live_code_nargs(PyCodeObject *code)
{
    int n = code->co_argcount + code->co_kwonlyargcount;
    n += (code->co_flags & CO_VARARGS) != 0;
    n += (code->co_flags & CO_VARKEYWORDS) != 0;
    return n > MAX_ARGS ? MAX_ARGS : n;
}

/* Appends the (name, value) pairs of a call's arguments; returns how many. */
static int encode_args(struct cs_textbuf *b, PyCodeObject *code, void *frame, int expand)
{
    int n = cs_live_code_nargs(code);
    PyObject *argv[MAX_ARGS];
    cs_family_frame_args(frame, code, n, argv);
    PyObject *names = cs_py_code_arg_names(code, n);
    for (int i = 0; i < n; i++) {
        PyObject *name = names && i < PyTuple_GET_SIZE(names) ? PyTuple_GET_ITEM(names, i) : NULL;
        put_unicode(b, name);
        if (argv[i]) {
            put_value(b, argv[i], expand);
        } else {
            cs_textbuf_putc(b, V_UNBOUND);
        }
    }
    Py_XDECREF(names);
    PyErr_Clear();
    return n;
}

/* Names and values of the arguments, encoded once per call. */
static void capture_args(struct open_call *c, PyCodeObject *code, void *frame, int expand)
{
    struct cs_textbuf b = {0};
    c->nargs = encode_args(&b, code, frame, expand);
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
    PyObject *names = code->co_argcount > 0 ? cs_py_code_arg_names(code, 1) : NULL;
    if (names && PyTuple_GET_SIZE(names) == 1 &&
        (PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(names, 0), "self") == 0 ||
         PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(names, 0), "cls") == 0))
        shape |= CS_ARGS_RECEIVER;
    Py_XDECREF(names);
    PyErr_Clear();
    int positional = code->co_argcount < nargs ? code->co_argcount : nargs;
    cs_textbuf_putc(b, (char)shape);
    put_varint(b, (uint64_t)positional);
}

static void observe_watch(struct cs_live_watch *w, PyCodeObject *code, struct open_call *c, int at, int64_t duration,
                          PyObject *value)
{
    struct cs_textbuf b = {0};
    put_header(&b, w, wall_ns(), duration);
    put_code(&b, code);
    cs_textbuf_putc(&b, (char)at);
    put_arg_shape(&b, code, c->nargs);
    put_varint(&b, (uint64_t)c->nargs);
    cs_textbuf_put(&b, c->args, c->args_len);
    if (at == CS_AT_RETURN) {
        put_value(&b, value ? value : Py_None, w->req.expand);
    } else if (at == CS_AT_EXCEPTION) {
        if (value) {
            char tname[200];
            cs_type_name(Py_TYPE(value), tname, sizeof tname);
            put_cstr(&b, tname);
            PyObject *args = PyExceptionInstance_Check(value) ? PyObject_GetAttrString(value, "args") : NULL;
            PyObject *msg = args && PyTuple_Check(args) && PyTuple_GET_SIZE(args) == 1 ? PyTuple_GET_ITEM(args, 0) : args;
            put_value(&b, msg ? msg : Py_None, w->req.expand);
            Py_XDECREF(args);
            PyErr_Clear();
        } else {
            put_cstr(&b, "<exception>");
            cs_textbuf_putc(&b, V_NONE);
        }
    }
    deliver(w, &b);
}

/* ---- monitor ---- */

void cs_live_monitor_report(struct cs_live_watch *w)
{
    struct cs_textbuf b = {0};
    cs_textbuf_putc(&b, (char)w->req.command);
    put_varint(&b, (uint64_t)w->id);
    put_varint(&b, (uint64_t)wall_ns());
    put_varint(&b, 0); /* no thread: a cycle covers them all */
    put_cstr(&b, "");
    cs_textbuf_putc(&b, 0);
    put_varint(&b, (uint64_t)w->req.cycle_ns);
    put_code(&b, (PyCodeObject *)PyTuple_GET_ITEM(w->codes, 0));
    put_varint(&b, (uint64_t)w->calls);
    put_varint(&b, (uint64_t)w->failed);
    put_varint(&b, (uint64_t)w->total_ns);
    put_varint(&b, (uint64_t)(w->calls ? w->min_ns : 0));
    put_varint(&b, (uint64_t)w->max_ns);
    w->calls = w->failed = 0;
    w->total_ns = w->min_ns = w->max_ns = 0;
    w->cycle_end += w->req.cycle_ns;
    deliver(w, &b);
}

static void count_call(struct cs_live_watch *w, int64_t duration, int raised)
{
    w->calls++;
    w->failed += raised;
    w->total_ns += duration;
    if (w->calls == 1 || duration < w->min_ns)
        w->min_ns = duration;
    if (duration > w->max_ns)
        w->max_ns = duration;
}

/* ---- trace ---- */

static const char *stdlib_prefix(void)
{
    static char prefix[1024];
    static int known;
    if (!known) {
        known = 1;
        PyObject *modules = PyImport_GetModuleDict();
        PyObject *os = modules ? PyDict_GetItemString(modules, "os") : NULL;
        PyObject *dict = os ? PyModule_GetDict(os) : NULL;
        PyObject *file = dict ? PyDict_GetItemString(dict, "__file__") : NULL;
        const char *f = file && PyUnicode_Check(file) ? PyUnicode_AsUTF8(file) : NULL;
        const char *slash = f ? strrchr(f, '/') : NULL;
        if (slash && (size_t)(slash - f) + 2 < sizeof prefix)
            snprintf(prefix, sizeof prefix, "%.*s/", (int)(slash - f), f);
        PyErr_Clear();
    }
    return prefix;
}

/* Whether code belongs to the standard library (frozen modules included). */
static int in_stdlib(PyObject *code)
{
    PyObject *fn = ((PyCodeObject *)code)->co_filename;
    const char *f = PyUnicode_Check(fn) ? PyUnicode_AsUTF8(fn) : NULL;
    if (!f) {
        PyErr_Clear();
        return 0;
    }
    if (f[0] == '<')
        return strncmp(f, "<frozen", 7) == 0;
    const char *lib = stdlib_prefix();
    return lib[0] && strncmp(f, lib, strlen(lib)) == 0 && !strstr(f + strlen(lib), "-packages/");
}

/* --skip-builtin: C functions are hidden, and so is the standard library,
 * unless the traced function is part of it (so the traced function itself
 * is never hidden). */
static int hidden(const struct cs_live_watch *w, const struct invocation *inv, PyObject *what, int is_c)
{
    if (!w->req.skip_builtin)
        return 0;
    return is_c || (!inv->shows_stdlib && in_stdlib(what));
}

static void free_invocation(struct invocation *inv)
{
    for (size_t i = 0; i < inv->n; i++) {
        Py_XDECREF(inv->nodes[i].what);
        PyMem_RawFree(inv->nodes[i].args);
    }
    PyMem_RawFree(inv->nodes);
    memset(inv, 0, sizeof *inv);
}

/* Drops the calls and invocations of an earlier epoch. */
static void catch_up(void)
{
    if (!me || me->epoch == epoch)
        return;
    for (size_t d = 0; d < me->depth; d++)
        PyMem_RawFree(me->stack[d].args);
    me->depth = 0;
    for (int k = 0; k < me->ninv; k++)
        free_invocation(&me->inv[k]);
    me->ninv = 0;
    me->epoch = epoch;
}

void cs_live_forget_open_calls(void)
{
    epoch++;
    if (open_invocations) {
        open_invocations = 0;
        cs_live_hooks_widening(0);
    }
}

static void add_node(struct invocation *inv, struct open_call *c, int k, const struct cs_live_watch *w, void *frame,
                     int resumed)
{
    int depth = me->depth - 1 == inv->base ? 0 : me->stack[me->depth - 2].child_depth[k];
    c->node[k] = -1;
    c->child_depth[k] = depth;
    if (depth == 0)
        inv->shows_stdlib = !c->is_c && in_stdlib(c->code);
    if (depth > w->req.depth || hidden(w, inv, c->code, c->is_c))
        return;
    c->child_depth[k] = depth + 1;
    if (inv->n == inv->cap) {
        size_t cap = inv->cap ? inv->cap * 2 : 64;
        struct node *nodes = inv->n < MAX_NODES ? PyMem_RawRealloc(inv->nodes, cap * sizeof *nodes) : NULL;
        if (!nodes) {
            inv->omitted++;
            return;
        }
        inv->nodes = nodes;
        inv->cap = cap;
    }
    struct node *nd = &inv->nodes[inv->n];
    nd->depth = depth;
    nd->flags = c->is_c ? CS_NODE_BUILTIN : 0;
    nd->start = c->start;
    nd->duration = -1;
    nd->what = c->code;
    Py_INCREF(nd->what);
    nd->args = NULL;
    nd->args_len = 0;
    nd->nargs = 0;
    if (w->req.node_args && !c->is_c && !resumed) { /* a resumed step's locals are not its arguments */
        /* kept shallow: a tree of many calls, each with its arguments */
        struct cs_textbuf args = {0};
        nd->nargs = encode_args(&args, (PyCodeObject *)c->code, frame, 1);
        if (args.oom) {
            cs_textbuf_free(&args);
            nd->nargs = 0;
        } else {
            nd->args = (unsigned char *)args.data;
            nd->args_len = args.len;
            nd->flags |= CS_NODE_ARGS;
        }
    }
    c->node[k] = (int)inv->n++;
}

/* Encodes the finished tree; nodes shorter than --min-duration are hidden
 * with what they called. */
static void observe_trace(struct cs_live_watch *w, struct invocation *inv, int64_t total)
{
    struct cs_textbuf nodes = {0}, b = {0};
    size_t shown = 0;
    int hide_below = -1; /* depth of a hidden subtree's root, or -1 */
    for (size_t i = 0; i < inv->n; i++) {
        struct node *nd = &inv->nodes[i];
        if (hide_below >= 0 && nd->depth > hide_below)
            continue;
        hide_below = -1;
        if (nd->duration < 0)
            nd->flags |= CS_NODE_UNFINISHED;
        if (i > 0 && nd->duration >= 0 && nd->duration < w->req.min_duration_ns) {
            hide_below = nd->depth;
            continue;
        }
        put_varint(&nodes, (uint64_t)nd->depth);
        put_varint(&nodes, (uint64_t)(nd->duration >= 0 ? nd->duration : 0));
        cs_textbuf_putc(&nodes, (char)nd->flags);
        if (nd->flags & CS_NODE_BUILTIN)
            put_callable(&nodes, nd->what);
        else
            put_code(&nodes, (PyCodeObject *)nd->what);
        if (nd->flags & CS_NODE_ARGS) {
            put_varint(&nodes, (uint64_t)nd->nargs);
            cs_textbuf_put(&nodes, nd->args, nd->args_len);
        }
        shown++;
    }
    put_header(&b, w, inv->wall_ns, total);
    put_varint(&b, shown);
    cs_textbuf_put(&b, nodes.data, nodes.len);
    cs_textbuf_free(&nodes);
    deliver(w, &b);
}

/* ---- conditions ---- */

static __thread int evaluating __attribute__((tls_model("initial-exec"))); /* a condition runs: its own calls are not observed */

/* Whether a watch's condition holds for the call of `code` in `frame`
 * (true without a condition). A condition that raises counts as false and
 * is reported to its client once. */
static int condition_holds(struct cs_live_watch *w, PyCodeObject *code, void *frame, int64_t duration, int how,
                           PyObject *value)
{
    if (!w->cond.tree)
        return 1;
    int n = cs_live_code_nargs(code);
    PyObject *argv[MAX_ARGS];
    cs_family_frame_args(frame, code, n, argv);
    struct cs_live_call_values v = {.params = argv, .nparams = n, .code = code, .argv = argv, .nargv = n,
                                    .cost_ms = (double)duration / 1e6};
    if (code->co_flags & CO_VARKEYWORDS)
        v.kwargs = argv[--v.nparams];
    /* a method's receiver is `self`, not one of its params */
    PyObject *names = code->co_argcount > 0 ? cs_py_code_arg_names(code, 1) : NULL;
    if (names && PyTuple_GET_SIZE(names) == 1 &&
        (PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(names, 0), "self") == 0 ||
         PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(names, 0), "cls") == 0)) {
        v.self = argv[0];
        v.params++;
        v.nparams--;
    }
    Py_XDECREF(names);
    if (how == 2)
        v.throw_exp = value;
    else if (how == 0)
        v.return_obj = value;
    char err[300];
    evaluating++;
    int r = cs_live_condition_test(&w->cond, &v, err, sizeof err);
    evaluating--;
    if (r < 0 && !w->cond.reported) {
        char text[400];
        w->cond.reported = 1;
        snprintf(text, sizeof text, "the condition raised %s; such calls count as false (said once)", err);
        struct cs_textbuf b = {0};
        put_cstr(&b, text);
        if (!b.oom)
            cs_live_send(w->owner, CS_MSG_NOTICE, b.data, b.len);
        cs_textbuf_free(&b);
    }
    return r == 1;
}

/* ---- events ---- */

static struct open_call *push(PyObject *code, int is_c)
{
    struct live_thread *t = thread_state();
    if (!t)
        return NULL;
    if (t->depth == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 32;
        struct open_call *s = PyMem_RawRealloc(t->stack, cap * sizeof *s);
        if (!s)
            return NULL;
        t->stack = s;
        t->cap = cap;
    }
    struct open_call *c = &t->stack[t->depth++];
    memset(c, 0, sizeof *c);
    c->code = code;
    c->is_c = is_c;
    c->start = cs_live_now_ns();
    return c;
}

/* Places a new call in every open trace invocation (frame: as the hook was
 * handed it; NULL for a C call). */
static void add_to_invocations(struct open_call *c, void *frame, int resumed)
{
    for (int k = 0; k < me->ninv; k++) {
        struct invocation *inv = &me->inv[k];
        struct cs_live_watch *w = watch_at(inv->slot, inv->id);
        if (w && me->depth - 1 > inv->base)
            add_node(inv, c, k, w, frame, resumed);
    }
}

void cs_live_on_start(PyCodeObject *code, void *frame, int resumed)
{
    catch_up();
    int busy = cs_live_thread_busy();
    if (evaluating || (!busy && !cs_live_is_target(code)))
        return;
    struct open_call *c = push((PyObject *)code, 0);
    if (!c)
        return;
    name_code(code, frame);
    add_to_invocations(c, frame, resumed);
    for (int i = 0; i < CS_LIVE_MAX_WATCHES; i++) {
        struct cs_live_watch *w = cs_live_watches[i];
        if (!w || w->done || !code_matches(w, (PyObject *)code))
            continue;
        /* decided now when the condition needs nothing from the end */
        if ((w->req.command == CS_LIVE_STACK || !w->cond.needs_exit) && !condition_holds(w, code, frame, 0, -1, NULL)) {
            c->refused |= 1ull << i;
            continue;
        }
        switch (w->req.command) {
        case CS_LIVE_STACK:
            observe_stack(w, code, frame);
            break;
        case CS_LIVE_WATCH:
            if (!c->captured)
                capture_args(c, code, frame, w->req.expand);
            if ((w->req.when & CS_AT_ENTRY) && !resumed)
                observe_watch(w, code, c, CS_AT_ENTRY, 0, NULL);
            break;
        case CS_LIVE_TRACE: {
            int open = 0;
            for (int k = 0; k < me->ninv; k++)
                open |= me->inv[k].slot == i && me->inv[k].id == w->id;
            if (open || me->ninv == MAX_INVOCATIONS)
                break; /* a recursive call: part of the outer tree */
            int k = me->ninv++;
            if (open_invocations++ == 0)
                cs_live_hooks_widening(1);
            struct invocation *inv = &me->inv[k];
            memset(inv, 0, sizeof *inv);
            inv->slot = i;
            inv->id = w->id;
            inv->base = me->depth - 1;
            inv->wall_ns = wall_ns();
            add_node(inv, c, k, w, frame, resumed);
            break;
        }
        }
    }
}

static void end_invocations_at(size_t level, int64_t end, void *frame, int how, PyObject *value)
{
    for (int k = 0; k < me->ninv;) {
        struct invocation *inv = &me->inv[k];
        if (inv->base != level) {
            k++;
            continue;
        }
        struct cs_live_watch *w = watch_at(inv->slot, inv->id);
        int64_t total = inv->n ? end - inv->nodes[0].start : 0;
        if (w && !w->done && total >= w->req.entrance_ns &&
            (!w->cond.needs_exit || condition_holds(w, (PyCodeObject *)me->stack[level].code, frame, total, how, value)))
            observe_trace(w, inv, total);
        free_invocation(inv);
        /* keep the array dense; per-call node slots move with it */
        int last = --me->ninv;
        if (--open_invocations == 0)
            cs_live_hooks_widening(0);
        if (k != last) {
            me->inv[k] = me->inv[last];
            for (size_t d = 0; d < me->depth; d++) {
                me->stack[d].node[k] = me->stack[d].node[last];
                me->stack[d].child_depth[k] = me->stack[d].child_depth[last];
            }
        }
        memset(&me->inv[last], 0, sizeof me->inv[last]);
    }
}

/* How a step that ended without finishing its frame is marked: a
 * coroutine's by an await, a generator's by a yield. */
static int suspension(PyCodeObject *code)
{
    return code->co_flags & (CO_COROUTINE | CO_ITERABLE_COROUTINE | CO_ASYNC_GENERATOR) ? CS_NODE_AWAIT
                                                                                         : CS_NODE_YIELD;
}

static void pop(void *frame, int how, PyObject *value, int64_t end)
{
    struct open_call *c = &me->stack[me->depth - 1];
    int64_t duration = end - c->start;
    for (int k = 0; k < me->ninv; k++) {
        int idx = c->node[k];
        if (me->depth - 1 >= me->inv[k].base && idx >= 0 && (size_t)idx < me->inv[k].n) {
            struct node *nd = &me->inv[k].nodes[idx];
            nd->duration = duration;
            if (how == 1 && !c->is_c)
                nd->flags |= suspension((PyCodeObject *)c->code);
            if (how == 2)
                nd->flags |= CS_NODE_RAISED;
        }
    }
    if (!c->is_c) {
        for (int i = 0; i < CS_LIVE_MAX_WATCHES; i++) {
            struct cs_live_watch *w = cs_live_watches[i];
            if (w && !w->done && w->req.command == CS_LIVE_MONITOR && how != 1 && code_matches(w, c->code) &&
                !(c->refused & (1ull << i)) &&
                (!w->cond.needs_exit || condition_holds(w, (PyCodeObject *)c->code, frame, duration, how, value)))
                count_call(w, duration, how == 2);
            if (!w || w->done || w->req.command != CS_LIVE_WATCH || !c->captured || !code_matches(w, c->code) ||
                (c->refused & (1ull << i)))
                continue;
            int at = how == 2 ? CS_AT_EXCEPTION : CS_AT_RETURN;
            /* a generator or coroutine that suspends has not finished */
            if (how != 1 && (w->req.when & at) && duration >= w->req.entrance_ns &&
                (!w->cond.needs_exit || condition_holds(w, (PyCodeObject *)c->code, frame, duration, how, value)))
                observe_watch(w, (PyCodeObject *)c->code, c, at, duration, value);
        }
    }
    PyMem_RawFree(c->args);
    c->args = NULL;
    end_invocations_at(me->depth - 1, end, frame, how, value);
    me->depth--;
}

void cs_live_on_exit(PyCodeObject *code, void *frame, int how, PyObject *value)
{
    cs_live_on_exit_at(code, frame, how, value, cs_live_now_ns());
}

void cs_live_on_exit_at(PyCodeObject *code, void *frame, int how, PyObject *value, int64_t end)
{
    catch_up();
    if (!me || me->depth == 0 || evaluating)
        return;
    /* A C call whose end went unreported (it raised past its caller)
     * cannot outlive the frame that made it. */
    while (me->depth >= 2 && me->stack[me->depth - 1].is_c && me->stack[me->depth - 2].code == (PyObject *)code)
        pop(NULL, 2, NULL, end);
    if (me->stack[me->depth - 1].code == (PyObject *)code && !me->stack[me->depth - 1].is_c)
        pop(frame, how, value, end);
}

int cs_live_callee_wanted(void)
{
    if (!cs_live_thread_busy() || me->depth == 0)
        return 0;
    const struct open_call *top = &me->stack[me->depth - 1];
    for (int k = 0; k < me->ninv; k++) {
        struct cs_live_watch *w = watch_at(me->inv[k].slot, me->inv[k].id);
        if (w && top->child_depth[k] <= w->req.depth)
            return 1;
    }
    return 0;
}

void cs_live_on_c_call(PyObject *callable)
{
    if (!cs_live_thread_busy() || evaluating)
        return;
    struct open_call *c = push(callable, 1);
    if (c)
        add_to_invocations(c, NULL, 0);
}

void cs_live_on_c_exit(int raised)
{
    catch_up();
    if (!me || me->depth == 0 || !me->stack[me->depth - 1].is_c || evaluating)
        return;
    pop(NULL, raised ? 2 : 0, NULL, cs_live_now_ns());
}
