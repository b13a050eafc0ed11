/*
 * observer_trace.c — the trace observer (`callscope trace`): each call of
 * the target, with the tree of the calls it made down to the request's
 * depth, timed, sent when the target returns.
 *
 * An invocation collects one node per shown call, in the order calls start
 * (a preorder walk of its tree), and is encoded when its target's call
 * ends. A thread keeps up to CS_OBS_MAX_INVOCATIONS open at once (targets
 * of several watches calling each other); each open call records, per
 * invocation, its node and the depth its children are shown at.
 */
#include "live/observer_internal.h"

#include "core/clock.h"
#include "util/textbuf.h"

/* Trace invocations open in all threads (the GIL guards it): the hooks
 * widen to callees only while there are any. */
int cs_live_open_invocations;

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
static int hidden(const struct cs_live_watch *w, const struct cs_obs_invocation *inv, PyObject *what, int is_c)
{
    if (!w->req.skip_builtin)
        return 0;
    return is_c || (!inv->shows_stdlib && in_stdlib(what));
}

void cs_obs_trace_free(struct cs_obs_invocation *inv)
{
    for (size_t i = 0; i < inv->n; i++) {
        Py_XDECREF(inv->nodes[i].what);
        PyMem_RawFree(inv->nodes[i].args);
    }
    PyMem_RawFree(inv->nodes);
    memset(inv, 0, sizeof *inv);
}

void cs_obs_trace_forget_all(void)
{
    if (cs_live_open_invocations) {
        cs_live_open_invocations = 0;
        cs_live_hooks_widening(0);
    }
}

/* Gives the thread's innermost call c its place in invocation k: a node
 * when it is shown, and the depth its children are shown at. */
static void add_node(struct cs_obs_thread *t, struct cs_obs_invocation *inv, struct cs_obs_open_call *c, int k,
                     const struct cs_live_watch *w, void *frame, int resumed)
{
    int depth = t->depth - 1 == inv->base ? 0 : t->stack[t->depth - 2].child_depth[k];
    c->node[k] = -1;
    c->child_depth[k] = depth;
    if (depth == 0)
        inv->shows_stdlib = !c->is_c && in_stdlib(c->code);
    if (depth > w->req.depth || hidden(w, inv, c->code, c->is_c))
        return;
    c->child_depth[k] = depth + 1;
    if (inv->n == inv->cap) {
        size_t cap = inv->cap ? inv->cap * 2 : 64;
        struct cs_obs_trace_node *nodes =
            inv->n < CS_OBS_MAX_NODES ? PyMem_RawRealloc(inv->nodes, cap * sizeof *nodes) : NULL;
        if (!nodes) {
            inv->omitted++;
            return;
        }
        inv->nodes = nodes;
        inv->cap = cap;
    }
    struct cs_obs_trace_node *nd = &inv->nodes[inv->n];
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
        nd->nargs = cs_obs_put_args(&args, (PyCodeObject *)c->code, frame, 1);
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
static void observe_trace(struct cs_live_watch *w, struct cs_obs_invocation *inv, int64_t total)
{
    struct cs_textbuf nodes = {0}, b = {0};
    size_t shown = 0;
    int hide_below = -1; /* depth of a hidden subtree's root, or -1 */
    for (size_t i = 0; i < inv->n; i++) {
        struct cs_obs_trace_node *nd = &inv->nodes[i];
        if (hide_below >= 0 && nd->depth > hide_below)
            continue;
        hide_below = -1;
        if (nd->duration < 0)
            nd->flags |= CS_NODE_UNFINISHED;
        if (i > 0 && nd->duration >= 0 && nd->duration < w->req.min_duration_ns) {
            hide_below = nd->depth;
            continue;
        }
        cs_obs_put_varint(&nodes, (uint64_t)nd->depth);
        cs_obs_put_varint(&nodes, (uint64_t)(nd->duration >= 0 ? nd->duration : 0));
        cs_textbuf_putc(&nodes, (char)nd->flags);
        if (nd->flags & CS_NODE_BUILTIN)
            cs_obs_put_callable(&nodes, nd->what);
        else
            cs_obs_put_code(&nodes, (PyCodeObject *)nd->what);
        if (nd->flags & CS_NODE_ARGS) {
            cs_obs_put_varint(&nodes, (uint64_t)nd->nargs);
            cs_textbuf_put(&nodes, nd->args, nd->args_len);
        }
        shown++;
    }
    cs_obs_put_header(&b, w, inv->wall_ns, total);
    cs_obs_put_varint(&b, shown);
    cs_textbuf_put(&b, nodes.data, nodes.len);
    cs_textbuf_free(&nodes);
    cs_obs_deliver(w, &b);
}

void cs_obs_trace_begin(struct cs_obs_thread *t, struct cs_obs_open_call *c, int slot, struct cs_live_watch *w,
                        void *frame, int resumed)
{
    int open = 0;
    for (int k = 0; k < t->ninv; k++)
        open |= t->inv[k].slot == slot && t->inv[k].id == w->id;
    if (open || t->ninv == CS_OBS_MAX_INVOCATIONS)
        return; /* a recursive call: part of the outer tree */
    int k = t->ninv++;
    if (cs_live_open_invocations++ == 0)
        cs_live_hooks_widening(1);
    struct cs_obs_invocation *inv = &t->inv[k];
    memset(inv, 0, sizeof *inv);
    inv->slot = slot;
    inv->id = w->id;
    inv->base = t->depth - 1;
    inv->wall_ns = cs_wall_ns();
    add_node(t, inv, c, k, w, frame, resumed);
}

void cs_obs_trace_add_call(struct cs_obs_thread *t, struct cs_obs_open_call *c, void *frame, int resumed)
{
    for (int k = 0; k < t->ninv; k++) {
        struct cs_obs_invocation *inv = &t->inv[k];
        struct cs_live_watch *w = cs_obs_watch_at(inv->slot, inv->id);
        if (w && t->depth - 1 > inv->base)
            add_node(t, inv, c, k, w, frame, resumed);
    }
}

/* How a step that ended without finishing its frame is marked: a
 * coroutine's by an await, a generator's by a yield. */
static int suspension(PyCodeObject *code)
{
    return code->co_flags & (CO_COROUTINE | CO_ITERABLE_COROUTINE | CO_ASYNC_GENERATOR) ? CS_NODE_AWAIT
                                                                                         : CS_NODE_YIELD;
}

void cs_obs_trace_call_ended(struct cs_obs_thread *t, int64_t duration, int how)
{
    struct cs_obs_open_call *c = &t->stack[t->depth - 1];
    for (int k = 0; k < t->ninv; k++) {
        int idx = c->node[k];
        if (t->depth - 1 >= t->inv[k].base && idx >= 0 && (size_t)idx < t->inv[k].n) {
            struct cs_obs_trace_node *nd = &t->inv[k].nodes[idx];
            nd->duration = duration;
            if (how == 1 && !c->is_c)
                nd->flags |= suspension((PyCodeObject *)c->code);
            if (how == 2)
                nd->flags |= CS_NODE_RAISED;
        }
    }
}

void cs_obs_trace_end_at(struct cs_obs_thread *t, size_t level, int64_t end, void *frame, int how, PyObject *value)
{
    for (int k = 0; k < t->ninv;) {
        struct cs_obs_invocation *inv = &t->inv[k];
        if (inv->base != level) {
            k++;
            continue;
        }
        struct cs_live_watch *w = cs_obs_watch_at(inv->slot, inv->id);
        int64_t total = inv->n ? end - inv->nodes[0].start : 0;
        if (w && !w->done && total >= w->req.entrance_ns &&
            (!w->cond.needs_exit ||
             cs_obs_condition_holds(w, (PyCodeObject *)t->stack[level].code, frame, total, how, value)))
            observe_trace(w, inv, total);
        cs_obs_trace_free(inv);
        /* keep the array dense; per-call node slots move with it */
        int last = --t->ninv;
        if (--cs_live_open_invocations == 0)
            cs_live_hooks_widening(0);
        if (k != last) {
            t->inv[k] = t->inv[last];
            for (size_t d = 0; d < t->depth; d++) {
                t->stack[d].node[k] = t->stack[d].node[last];
                t->stack[d].child_depth[k] = t->stack[d].child_depth[last];
            }
        }
        memset(&t->inv[last], 0, sizeof t->inv[last]);
    }
}

int cs_obs_trace_wants_callee(const struct cs_obs_thread *t)
{
    const struct cs_obs_open_call *top = &t->stack[t->depth - 1];
    for (int k = 0; k < t->ninv; k++) {
        struct cs_live_watch *w = cs_obs_watch_at(t->inv[k].slot, t->inv[k].id);
        if (w && top->child_depth[k] <= w->req.depth)
            return 1;
    }
    return 0;
}
