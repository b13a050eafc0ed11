/*
 * query_memory.c — `callscope memory PID [-n N] [--sort bytes|count]
 * [--tracemalloc SECONDS]`: how much memory the process holds and where.
 *
 *   - RSS and peak (/proc/self/statm, status) and how RSS grew since the
 *     agent's first `memory` answer;
 *   - the collector: counts, thresholds, collections per generation
 *     (gc.get_count, get_threshold, get_stats: C functions);
 *   - the types with the most instances or bytes among the objects the
 *     collector tracks (containers and instances of classes: ints, strs,
 *     floats, bytes are not tracked and not counted), each object's size
 *     taken from its type (tp_basicsize + tp_itemsize * length), never from
 *     sys.getsizeof, which calls a __sizeof__ the program may define;
 *   - with tracemalloc tracing, the allocation sites (file:line of the
 *     allocating frame) that grew since the last answer; --tracemalloc S
 *     traces for S seconds (started and stopped again if it was off) and
 *     answers then, from the agent's loop, so no other client waits.
 *
 * gc and _tracemalloc are used through their C functions. When the program
 * has not imported them, a private instance of the built-in module is made
 * from the interpreter's table of built-in modules: no import runs, and
 * sys.modules is left as it was.
 */
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "live/query.h"
#include "py/compat.h"
#include "util/json.h"
#include "util/parse_number.h"

#define DEFAULT_TOP 20
#define MAX_TOP 1000
#define MAX_OBJECTS_VISITED 50000000LL /* then the counts say they are partial */
#define MAX_TYPES 65536                /* distinct types counted; others go to one row */
#define MAX_SITES 1000000              /* distinct allocation sites kept */
#define MAX_TRACE_SECONDS 3600

/* ---- the built-in modules, without importing ---- */

static PyObject *plain_get(PyObject *dict, const char *name)
{
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (dict && PyDict_Check(dict) && PyDict_Next(dict, &pos, &key, &value))
        if (PyUnicode_CheckExact(key) && PyUnicode_CompareWithASCIIString(key, name) == 0)
            return value;
    return NULL;
}

/* A private instance of a built-in module (new reference), made by its
 * init function as an import would, but not registered anywhere. */
static PyObject *private_instance(const char *name)
{
    for (struct _inittab *t = PyImport_Inittab; t && t->name; t++) {
        if (strcmp(t->name, name) != 0 || !t->initfunc)
            continue;
        PyObject *made = t->initfunc();
        if (!made || PyModule_Check(made))
            return made; /* single-phase init: the module itself */
        if (!PyObject_TypeCheck(made, &PyModuleDef_Type)) {
            Py_DECREF(made);
            return NULL;
        }
        /* multi-phase: a spec is anything with a `name` attribute */
        PyModuleDef *def = (PyModuleDef *)made;
        PyObject *spec = PyModule_New("callscope-spec");
        PyObject *module = NULL;
        if (spec && PyModule_AddStringConstant(spec, "name", name) == 0)
            module = PyModule_FromDefAndSpec(def, spec);
        if (module && PyModule_ExecDef(module, def) != 0)
            Py_CLEAR(module);
        Py_XDECREF(spec);
        return module;
    }
    return NULL;
}

/* One of a built-in module's C functions (borrowed; the module is kept for
 * the agent's life), or NULL. */
static PyObject *builtin_function(const char *module_name, const char *function)
{
    static PyObject *kept[2];
    static const char *names[2] = {"gc", "_tracemalloc"};
    int which = strcmp(module_name, "gc") == 0 ? 0 : 1;
    PyObject *module = plain_get(PyImport_GetModuleDict(), module_name);
    if (!module || !PyModule_CheckExact(module)) {
        if (!kept[which])
            kept[which] = private_instance(names[which]);
        PyErr_Clear();
        module = kept[which];
    }
    PyObject *f = module ? plain_get(PyModule_GetDict(module), function) : NULL;
    return f && PyCFunction_Check(f) ? f : NULL;
}

/* Calls a built-in module's C function (new reference, or NULL with no
 * error left). */
static PyObject *call_builtin(const char *module, const char *function, PyObject *args)
{
    PyObject *f = builtin_function(module, function);
    PyObject *result = f ? PyObject_CallObject(f, args) : NULL;
    if (!result)
        PyErr_Clear();
    return result;
}

/* ---- RSS ---- */

static long long first_rss = -1;
static int64_t first_rss_ns;

static void rss_answer(struct cs_live_answer *a)
{
    long long pages_resident = -1, peak_kb = -1;
    FILE *f = fopen("/proc/self/statm", "re");
    if (f) {
        if (fscanf(f, "%*s %lld", &pages_resident) != 1)
            pages_resident = -1;
        fclose(f);
    }
    f = fopen("/proc/self/status", "re");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %lld kB", &peak_kb) == 1)
            break;
    if (f)
        fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    long long rss = pages_resident < 0 ? -1 : pages_resident * (page > 0 ? page : 4096);
    int64_t now = cs_monotonic_ns();
    if (first_rss < 0 && rss >= 0) {
        first_rss = rss;
        first_rss_ns = now;
    }
    double since = (double)(now - first_rss_ns) / 1e9;
    int first = now == first_rss_ns;
    cs_textbuf_printf(&a->json, "\"rss_bytes\":%lld,\"rss_peak_bytes\":%lld,\"rss_growth_bytes\":%lld,"
                                "\"rss_growth_since_s\":%.3f",
                      rss, peak_kb < 0 ? -1 : peak_kb * 1024, rss - first_rss, since);
    if (first)
        cs_textbuf_printf(&a->text, "RSS %.1f MiB (peak %.1f MiB); its growth is counted from this first answer\n",
                          (double)rss / 1048576.0, (double)peak_kb / 1024.0);
    else
        cs_textbuf_printf(&a->text, "RSS %.1f MiB (peak %.1f MiB), %+.1f MiB since the first answer %.1f s ago\n",
                          (double)rss / 1048576.0, (double)peak_kb / 1024.0, (double)(rss - first_rss) / 1048576.0,
                          since);
}

/* ---- the collector ---- */

static void put_int_list(struct cs_textbuf *json, struct cs_textbuf *text, PyObject *seq)
{
    cs_textbuf_putc(json, '[');
    for (Py_ssize_t i = 0; seq && PyTuple_Check(seq) && i < PyTuple_GET_SIZE(seq) && i < 8; i++) {
        PyObject *v = PyTuple_GET_ITEM(seq, i);
        long long n = PyLong_CheckExact(v) ? PyLong_AsLongLong(v) : -1;
        PyErr_Clear();
        cs_textbuf_printf(json, i ? ",%lld" : "%lld", n);
        cs_textbuf_printf(text, " %lld", n);
    }
    cs_textbuf_putc(json, ']');
}

/* One field of each generation's get_stats() dict, as a tuple. */
static PyObject *stats_field(PyObject *stats, const char *name)
{
    Py_ssize_t n = stats && PyList_Check(stats) ? PyList_GET_SIZE(stats) : 0;
    PyObject *out = PyTuple_New(n);
    for (Py_ssize_t i = 0; out && i < n; i++) {
        PyObject *v = plain_get(PyList_GET_ITEM(stats, i), name);
        v = v && PyLong_CheckExact(v) ? v : Py_None;
        Py_INCREF(v);
        PyTuple_SET_ITEM(out, i, v);
    }
    return out;
}

/* One more list of the gc answer: a field of its JSON, "name [...]" in its
 * line of text. */
static void gc_list(struct cs_live_answer *a, const char *name, PyObject *list)
{
    cs_textbuf_printf(&a->json, ",\"%s\":", name);
    cs_textbuf_printf(&a->text, ", %s", name);
    put_int_list(&a->json, &a->text, list);
}

static void gc_answer(struct cs_live_answer *a)
{
    PyObject *count = call_builtin("gc", "get_count", NULL);
    PyObject *threshold = call_builtin("gc", "get_threshold", NULL);
    PyObject *stats = call_builtin("gc", "get_stats", NULL);
    PyObject *enabled = call_builtin("gc", "isenabled", NULL);
    PyObject *collections = stats_field(stats, "collections"), *uncollectable = stats_field(stats, "uncollectable");
    PyErr_Clear();
    cs_textbuf_printf(&a->json, ",\"gc\":{\"enabled\":%s,\"counts\":",
                      enabled == Py_True ? "true" : enabled == Py_False ? "false" : "null");
    cs_textbuf_printf(&a->text, "gc%s: counts", enabled == Py_False ? " (disabled)" : "");
    put_int_list(&a->json, &a->text, count);
    gc_list(a, "thresholds", threshold);
    gc_list(a, "collections", collections);
    gc_list(a, "uncollectable", uncollectable);
    cs_textbuf_putc(&a->json, '}');
    cs_textbuf_putc(&a->text, '\n');
    Py_XDECREF(count);
    Py_XDECREF(threshold);
    Py_XDECREF(stats);
    Py_XDECREF(enabled);
    Py_XDECREF(collections);
    Py_XDECREF(uncollectable);
}

/* ---- objects by type ---- */

struct type_row {
    PyTypeObject *type; /* NULL: a free slot; (PyTypeObject *)1: the "other types" row */
    long long count, bytes;
};

struct type_table {
    struct type_row *rows;
    size_t cap, used;
    long long visited;
    int partial; /* stopped at MAX_OBJECTS_VISITED */
    struct type_row other;
};

static size_t type_slot(const struct type_table *t, PyTypeObject *type)
{
    size_t h = ((uintptr_t)type >> 4) * 0x9E3779B97F4A7C15ull;
    size_t i = h & (t->cap - 1);
    while (t->rows[i].type && t->rows[i].type != type)
        i = (i + 1) & (t->cap - 1);
    return i;
}

static int type_table_grow(struct type_table *t)
{
    struct type_table bigger = *t;
    bigger.cap = t->cap ? t->cap * 2 : 1024;
    bigger.rows = calloc(bigger.cap, sizeof *bigger.rows);
    if (!bigger.rows)
        return -1;
    for (size_t i = 0; i < t->cap; i++)
        if (t->rows[i].type)
            bigger.rows[type_slot(&bigger, t->rows[i].type)] = t->rows[i];
    free(t->rows);
    *t = bigger;
    return 0;
}

/* The object's own block, as its type lays it out: what it owns elsewhere
 * (a list's item array, a dict's table) is not in it. Items are counted
 * for the variable-size built-ins whose ob_size is their length (tuples,
 * bytes, ints, classes and their subclasses); other types with items
 * (3.11+ generators, frames) keep something else there. */
static long long object_bytes(PyObject *o)
{
    PyTypeObject *t = Py_TYPE(o);
    long long n = t->tp_basicsize;
    if (!t->tp_itemsize)
        return n;
    long long items = -1;
    if (PyTuple_Check(o) || PyBytes_Check(o) || PyType_Check(o))
        items = Py_SIZE(o);
    else if (PyLong_Check(o))
        items = cs_long_digit_count(o);
    return items > 0 ? n + (long long)t->tp_itemsize * items : n;
}

/* Counts one object. 0 to go on, -1 to stop (the visit bound). */
static int count_object(struct type_table *t, PyObject *o)
{
    if (++t->visited > MAX_OBJECTS_VISITED) {
        t->partial = 1;
        return -1;
    }
    PyTypeObject *type = Py_TYPE(o);
    struct type_row *row;
    if (t->used * 2 >= t->cap && (t->used >= MAX_TYPES || type_table_grow(t) != 0)) {
        size_t i = type_slot(t, type); /* full: known types still count, new ones go to "other" */
        row = t->rows[i].type ? &t->rows[i] : &t->other;
    } else {
        size_t i = type_slot(t, type);
        if (!t->rows[i].type) {
            t->rows[i].type = type;
            t->used++;
        }
        row = &t->rows[i];
    }
    row->count++;
    row->bytes += object_bytes(o);
    return 0;
}

#if CS_PY_HAS_GC_VISIT
static int visit_object(PyObject *o, void *ctx)
{
    return count_object(ctx, o) == 0; /* the visitor goes on while it returns 1 */
}
#endif

/* Every object the collector tracks, without building a list where the
 * interpreter lets us (3.12+); before, gc.get_objects one generation at a
 * time (a list of references, 8 bytes per object, while counting). */
static void count_objects(struct type_table *t)
{
    if (type_table_grow(t) != 0)
        return;
#if CS_PY_HAS_GC_VISIT
    PyUnstable_GC_VisitObjects(visit_object, t);
#else
    for (int generation = 0; generation < 3 && !t->partial; generation++) {
        PyObject *args = Py_BuildValue("(i)", generation);
        PyObject *objects = args ? call_builtin("gc", "get_objects", args) : NULL;
        Py_XDECREF(args);
        for (Py_ssize_t i = 0; objects && PyList_Check(objects) && i < PyList_GET_SIZE(objects); i++)
            if (count_object(t, PyList_GET_ITEM(objects, i)) != 0)
                break;
        Py_XDECREF(objects);
    }
    PyErr_Clear();
#endif
}

enum sort_by { BY_BYTES, BY_COUNT };
static enum sort_by sorting;

static int by_size(const void *x, const void *y)
{
    const struct type_row *a = x, *b = y;
    long long ka = sorting == BY_BYTES ? a->bytes : a->count, kb = sorting == BY_BYTES ? b->bytes : b->count;
    return ka < kb ? 1 : ka > kb ? -1 : 0;
}

/* module.qualname of a class, from what the type keeps in C and its dict's
 * __module__ (no descriptor or metaclass runs). */
static void type_name(PyTypeObject *t, char *out, size_t outlen)
{
    const char *module = NULL, *qualname = NULL;
    PyObject *dict = NULL;
    if (t->tp_flags & Py_TPFLAGS_HEAPTYPE) {
        dict = cs_type_dict(t);
        PyObject *m = plain_get(dict, "__module__");
        PyObject *q = ((PyHeapTypeObject *)t)->ht_qualname;
        module = m && PyUnicode_CheckExact(m) ? PyUnicode_AsUTF8(m) : NULL;
        qualname = q && PyUnicode_CheckExact(q) ? PyUnicode_AsUTF8(q) : NULL;
        PyErr_Clear();
    }
    if (qualname && module && strcmp(module, "builtins") != 0)
        snprintf(out, outlen, "%s.%s", module, qualname);
    else
        snprintf(out, outlen, "%s", qualname ? qualname : t->tp_name);
    Py_XDECREF(dict);
}

static void types_answer(struct cs_live_answer *a, int top)
{
    struct type_table t = {0};
    count_objects(&t);
    size_t n = 0;
    for (size_t i = 0; i < t.cap; i++)
        if (t.rows[i].type)
            t.rows[n++] = t.rows[i];
    if (t.other.count)
        t.rows[n++] = t.other; /* the table is never full: a slot is free */
    qsort(t.rows, n, sizeof *t.rows, by_size);
    long long all_count = 0, all_bytes = 0;
    for (size_t i = 0; i < n; i++) {
        all_count += t.rows[i].count;
        all_bytes += t.rows[i].bytes;
    }
    cs_textbuf_printf(&a->json, ",\"objects\":{\"gc_tracked_only\":true,\"count\":%lld,\"bytes\":%lld,"
                                "\"types\":%zu,\"complete\":%s,\"sort\":\"%s\",\"top\":[",
                      all_count, all_bytes, n, t.partial ? "false" : "true", sorting == BY_BYTES ? "bytes" : "count");
    cs_textbuf_printf(&a->text, "objects the collector tracks: %lld, %.1f MiB in %zu types%s (by %s; ints, strs, "
                                "floats, bytes are not tracked; sizes leave out buffers objects own)\n",
                      all_count, (double)all_bytes / 1048576.0, n, t.partial ? ", counting stopped early" : "",
                      sorting == BY_BYTES ? "bytes" : "count");
    cs_textbuf_printf(&a->text, "%12s %14s  %s\n", "count", "bytes", "type");
    for (size_t i = 0; i < n && (int)i < top; i++) {
        char name[300];
        if (t.rows[i].type == t.other.type)
            snprintf(name, sizeof name, "(other types)");
        else
            type_name(t.rows[i].type, name, sizeof name);
        cs_textbuf_puts(&a->json, i ? ",{\"type\":" : "{\"type\":");
        cs_json_string(&a->json, name, strlen(name));
        cs_textbuf_printf(&a->json, ",\"count\":%lld,\"bytes\":%lld}", t.rows[i].count, t.rows[i].bytes);
        cs_textbuf_printf(&a->text, "%12lld %14lld  %s\n", t.rows[i].count, t.rows[i].bytes, name);
    }
    cs_textbuf_puts(&a->json, "]}");
    free(t.rows);
}

/* ---- tracemalloc: allocation sites ---- */

struct site {
    char *key;        /* "filename\0" + lineno as text, malloc'd; NULL: free */
    int lineno;
    long long bytes, blocks;
};

struct site_table {
    struct site *sites;
    size_t cap, used;
    int full; /* sites past MAX_SITES were not kept */
};

static size_t hash_text(const char *s)
{
    size_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static size_t site_slot(const struct site_table *t, const char *file, int lineno)
{
    size_t i = (hash_text(file) ^ (size_t)lineno * 0x9E3779B97F4A7C15ull) & (t->cap - 1);
    while (t->sites[i].key && (t->sites[i].lineno != lineno || strcmp(t->sites[i].key, file) != 0))
        i = (i + 1) & (t->cap - 1);
    return i;
}

static void sites_free(struct site_table *t)
{
    for (size_t i = 0; i < t->cap; i++)
        free(t->sites[i].key);
    free(t->sites);
    memset(t, 0, sizeof *t);
}

static int sites_grow(struct site_table *t)
{
    struct site_table bigger = {NULL, t->cap ? t->cap * 2 : 4096, t->used, t->full};
    bigger.sites = calloc(bigger.cap, sizeof *bigger.sites);
    if (!bigger.sites)
        return -1;
    for (size_t i = 0; i < t->cap; i++)
        if (t->sites[i].key)
            bigger.sites[site_slot(&bigger, t->sites[i].key, t->sites[i].lineno)] = t->sites[i];
    free(t->sites);
    *t = bigger;
    return 0;
}

static void sites_add(struct site_table *t, const char *file, int lineno, long long bytes)
{
    if (t->used * 2 >= t->cap && (t->used >= MAX_SITES || sites_grow(t) != 0)) {
        t->full = 1;
        size_t i = site_slot(t, file, lineno);
        if (t->sites[i].key) {
            t->sites[i].bytes += bytes;
            t->sites[i].blocks++;
        }
        return;
    }
    size_t i = site_slot(t, file, lineno);
    if (!t->sites[i].key) {
        t->sites[i].key = strdup(file);
        if (!t->sites[i].key)
            return;
        t->sites[i].lineno = lineno;
        t->used++;
    }
    t->sites[i].bytes += bytes;
    t->sites[i].blocks++;
}

static int tracing(void)
{
    PyObject *on = call_builtin("_tracemalloc", "is_tracing", NULL);
    int yes = on == Py_True;
    Py_XDECREF(on);
    return yes;
}

/* The traced blocks now, by the site of their most recent frame. The list
 * _tracemalloc builds holds a tuple per block while it is read. */
static int take_sites(struct site_table *t)
{
    memset(t, 0, sizeof *t);
    if (sites_grow(t) != 0)
        return -1;
    PyObject *traces = call_builtin("_tracemalloc", "_get_traces", NULL);
    if (!traces || !PyList_Check(traces)) {
        Py_XDECREF(traces);
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(traces); i++) {
        /* (domain, size, frames, ...): frames most recent first, each
         * (filename, lineno) */
        PyObject *trace = PyList_GET_ITEM(traces, i);
        if (!PyTuple_Check(trace) || PyTuple_GET_SIZE(trace) < 3)
            continue;
        PyObject *size = PyTuple_GET_ITEM(trace, 1), *frames = PyTuple_GET_ITEM(trace, 2);
        const char *file = "<unknown>";
        int lineno = 0;
        if (PyTuple_Check(frames) && PyTuple_GET_SIZE(frames) > 0) {
            PyObject *frame = PyTuple_GET_ITEM(frames, 0);
            if (PyTuple_Check(frame) && PyTuple_GET_SIZE(frame) == 2 && PyUnicode_Check(PyTuple_GET_ITEM(frame, 0)) &&
                PyLong_Check(PyTuple_GET_ITEM(frame, 1))) {
                const char *f = PyUnicode_AsUTF8(PyTuple_GET_ITEM(frame, 0));
                file = f ? f : file;
                lineno = (int)PyLong_AsLong(PyTuple_GET_ITEM(frame, 1));
            }
        }
        PyErr_Clear();
        sites_add(t, file, lineno, PyLong_Check(size) ? PyLong_AsLongLong(size) : 0);
        PyErr_Clear();
    }
    Py_DECREF(traces);
    return 0;
}

struct growth {
    const struct site *now;
    long long bytes, blocks; /* growth */
};

static int by_growth(const void *x, const void *y)
{
    const struct growth *a = x, *b = y;
    return a->bytes < b->bytes ? 1 : a->bytes > b->bytes ? -1 : 0;
}

/* The sites of `now` that grew since `before`, most first. */
static void sites_answer(struct cs_live_answer *a, const struct site_table *now, const struct site_table *before,
                         const char *since, int top)
{
    struct growth *rows = malloc(sizeof *rows * (now->used + 1));
    size_t n = 0;
    for (size_t i = 0; rows && i < now->cap; i++) {
        const struct site *s = &now->sites[i];
        if (!s->key)
            continue;
        long long bytes = s->bytes, blocks = s->blocks;
        if (before && before->cap) {
            const struct site *old = &before->sites[site_slot(before, s->key, s->lineno)];
            if (old->key) {
                bytes -= old->bytes;
                blocks -= old->blocks;
            }
        }
        if (bytes > 0)
            rows[n++] = (struct growth){s, bytes, blocks};
    }
    if (rows)
        qsort(rows, n, sizeof *rows, by_growth);
    PyObject *memory = call_builtin("_tracemalloc", "get_traced_memory", NULL);
    long long traced = -1, peak = -1;
    if (memory && PyTuple_Check(memory) && PyTuple_GET_SIZE(memory) == 2) {
        traced = PyLong_AsLongLong(PyTuple_GET_ITEM(memory, 0));
        peak = PyLong_AsLongLong(PyTuple_GET_ITEM(memory, 1));
        PyErr_Clear();
    }
    Py_XDECREF(memory);
    cs_textbuf_printf(&a->json, ",\"tracemalloc\":{\"tracing\":true,\"traced_bytes\":%lld,\"peak_bytes\":%lld,"
                                "\"sites\":%zu,\"since\":",
                      traced, peak, now->used);
    cs_json_string(&a->json, since, strlen(since));
    cs_textbuf_printf(&a->json, ",\"complete\":%s,\"grew\":[", now->full ? "false" : "true");
    cs_textbuf_printf(&a->text, "tracemalloc: %.1f MiB traced (peak %.1f MiB) at %zu sites; grew %s:\n",
                      (double)traced / 1048576.0, (double)peak / 1048576.0, now->used, since);
    cs_textbuf_printf(&a->text, "%12s %10s  %s\n", "+bytes", "+blocks", "site");
    for (size_t i = 0; i < n && (int)i < top; i++) {
        cs_textbuf_puts(&a->json, i ? ",{\"filename\":" : "{\"filename\":");
        cs_json_string(&a->json, rows[i].now->key, strlen(rows[i].now->key));
        cs_textbuf_printf(&a->json, ",\"lineno\":%d,\"bytes\":%lld,\"blocks\":%lld,\"growth_bytes\":%lld,"
                                    "\"growth_blocks\":%lld}",
                          rows[i].now->lineno, rows[i].now->bytes, rows[i].now->blocks, rows[i].bytes, rows[i].blocks);
        cs_textbuf_printf(&a->text, "%12lld %10lld  %s:%d\n", rows[i].bytes, rows[i].blocks, rows[i].now->key,
                          rows[i].now->lineno);
    }
    cs_textbuf_puts(&a->json, "]}");
    free(rows);
}

/* The sites as of the last answer while tracing, for the next one. */
static struct site_table last_sites;
static int64_t last_sites_ns;

/* ---- the answer ---- */

struct options {
    int top;
    double trace_seconds; /* --tracemalloc; 0: not asked */
};

static int parse_options(int argc, char **argv, struct options *o, char *err, size_t errlen)
{
    o->top = DEFAULT_TOP;
    o->trace_seconds = 0;
    sorting = BY_BYTES;
    for (int i = 0; i < argc; i++) {
        const char *opt = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int known = !strcmp(opt, "-n") || !strcmp(opt, "--top") || !strcmp(opt, "--sort") ||
                    !strcmp(opt, "--tracemalloc");
        if (!known) {
            snprintf(err, errlen, "memory: unexpected argument '%.100s' (memory takes -n N, --sort bytes|count, "
                                  "--tracemalloc SECONDS)", opt);
            return -1;
        }
        if (!v) {
            snprintf(err, errlen, "memory: %s needs a value", opt);
            return -1;
        }
        i++;
        if (!strcmp(opt, "--sort")) {
            if (strcmp(v, "bytes") != 0 && strcmp(v, "count") != 0) {
                snprintf(err, errlen, "memory: --sort takes bytes or count, not '%.60s'", v);
                return -1;
            }
            sorting = !strcmp(v, "bytes") ? BY_BYTES : BY_COUNT;
        } else if (!strcmp(opt, "--tracemalloc")) {
            double s;
            if (cs_parse_double(v, 0.1, &s) != 0 || s > MAX_TRACE_SECONDS) {
                snprintf(err, errlen, "memory: --tracemalloc takes seconds from 0.1 to %d, not '%.60s'",
                         MAX_TRACE_SECONDS, v);
                return -1;
            }
            o->trace_seconds = s;
        } else {
            long long n;
            if (cs_parse_long(v, 1, MAX_TOP, &n) != 0) {
                snprintf(err, errlen, "memory: -n takes a number of rows from 1 to %d, not '%.60s'", MAX_TOP, v);
                return -1;
            }
            o->top = (int)n;
        }
    }
    return 0;
}

/* Everything but the allocation sites, into an open JSON object. */
static void memory_answer(struct cs_live_answer *a, int top)
{
    cs_textbuf_putc(&a->json, '{');
    rss_answer(a);
    gc_answer(a);
    types_answer(a, top);
}

/* --tracemalloc S: traced from the question until the answer. */
struct traced_question {
    struct cs_live_later later;
    int started; /* the agent turned tracing on, and turns it off */
    int top;
    double seconds;
    enum sort_by sorting;
    struct site_table before;
};

static int traced_step(struct cs_live_later *self, struct cs_live_answer *a)
{
    struct traced_question *q = (struct traced_question *)self;
    if (!tracing()) {
        snprintf(a->error, sizeof a->error, "memory: tracemalloc was stopped in the process before the answer");
        return CS_LATER_ERROR;
    }
    struct site_table now;
    if (take_sites(&now) != 0) {
        sites_free(&now);
        snprintf(a->error, sizeof a->error, "memory: could not read tracemalloc's traces");
        return CS_LATER_ERROR;
    }
    sorting = q->sorting;
    memory_answer(a, q->top);
    char since[64];
    snprintf(since, sizeof since, "in %.1f s", q->seconds);
    sites_answer(a, &now, &q->before, since, q->top);
    cs_textbuf_putc(&a->json, '}');
    sites_free(&now);
    return CS_LATER_LAST;
}

static void traced_end(struct cs_live_later *self)
{
    struct traced_question *q = (struct traced_question *)self;
    if (q->started && tracing()) { /* as it was: off */
        PyObject *done = call_builtin("_tracemalloc", "stop", NULL);
        Py_XDECREF(done);
    }
    sites_free(&q->before);
    free(q);
}

int cs_query_memory(int argc, char **argv, struct cs_live_answer *a)
{
    struct options o;
    if (parse_options(argc, argv, &o, a->error, sizeof a->error) != 0)
        return -1;
    if (o.trace_seconds > 0) {
        struct traced_question *q = calloc(1, sizeof *q);
        if (!q) {
            snprintf(a->error, sizeof a->error, "out of memory in the target");
            return -1;
        }
        if (!tracing()) {
            PyObject *args = Py_BuildValue("(i)", 1); /* one frame: the allocating line */
            PyObject *done = args ? call_builtin("_tracemalloc", "start", args) : NULL;
            Py_XDECREF(done);
            Py_XDECREF(args);
            q->started = tracing();
            if (!q->started) {
                free(q);
                snprintf(a->error, sizeof a->error, "memory: tracemalloc could not be started in the process");
                return -1;
            }
        }
        if (take_sites(&q->before) != 0) {
            q->top = o.top;
            traced_end(&q->later);
            snprintf(a->error, sizeof a->error, "memory: could not read tracemalloc's traces");
            return -1;
        }
        q->top = o.top;
        q->seconds = o.trace_seconds;
        q->sorting = sorting;
        q->later.due_ns = cs_monotonic_ns() + (int64_t)(o.trace_seconds * 1e9);
        q->later.step = traced_step;
        q->later.end = traced_end;
        a->later = &q->later;
        return 0;
    }
    memory_answer(a, o.top);
    if (tracing()) {
        struct site_table now;
        if (take_sites(&now) == 0) {
            char since[64];
            if (last_sites.cap)
                snprintf(since, sizeof since, "in the %.1f s since the last answer",
                         (double)(cs_monotonic_ns() - last_sites_ns) / 1e9);
            else
                snprintf(since, sizeof since, "since tracing started");
            sites_answer(a, &now, &last_sites, since, o.top);
            sites_free(&last_sites);
            last_sites = now;
            last_sites_ns = cs_monotonic_ns();
        } else {
            sites_free(&now);
            cs_textbuf_puts(&a->json, ",\"tracemalloc\":null");
        }
    } else {
        cs_textbuf_puts(&a->json, ",\"tracemalloc\":{\"tracing\":false}");
        cs_textbuf_puts(&a->text, "tracemalloc is off (--tracemalloc SECONDS traces for a while)\n");
    }
    cs_textbuf_putc(&a->json, '}');
    PyErr_Clear();
    return 0;
}
