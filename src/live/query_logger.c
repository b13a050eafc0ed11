/*
 * query_logger.c — `callscope logger PID [NAME] [--level LEVEL]`: the
 * process's loggers with their own and effective levels, handlers,
 * propagate and disabled flags; and, asked explicitly, one logger's level
 * changed, which `reset` and `detach` put back.
 *
 * Everything is read from what logging keeps in plain dicts and instance
 * attributes (the module's globals, Logger.manager.loggerDict, each
 * logger's and handler's own attributes): no property, method, __getattr__
 * or import of the program runs, and the effective level is worked out here
 * by walking `parent` as Logger.getEffectiveLevel would. A process that has
 * not imported logging has no loggers to show; nothing is imported.
 *
 * Changing a level does what Logger.setLevel does, without calling it (a
 * subclass may override it, and its lock could be held by a thread waiting
 * for the GIL the agent holds): the instance's `level` is stored, and every
 * logger's `_cache` of isEnabledFor answers is emptied. The GIL is held
 * throughout and no bytecode runs in between, so no thread sees half of it.
 */
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "live/query.h"
#include "py/compat.h"
#include "util/json.h"

#define MAX_LOGGERS 20000     /* listed; more are counted, not shown */
#define MAX_HANDLERS 64       /* per logger */
#define MAX_PARENT_HOPS 1000  /* a `parent` chain longer than this is a loop */
#define MAX_CHANGES 256       /* loggers whose level the agent changed */
#define MAX_LEVEL 1000000000L

/* ---- reading without running program code ---- */

/* The value under `name` in dict (borrowed), found by walking the entries:
 * no key is hashed or compared by its own methods. */
static PyObject *plain_get(PyObject *dict, const char *name)
{
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    if (!dict || !PyDict_Check(dict))
        return NULL;
    while (PyDict_Next(dict, &pos, &key, &value))
        if (PyUnicode_CheckExact(key) && PyUnicode_CompareWithASCIIString(key, name) == 0)
            return value;
    PyErr_Clear();
    return NULL;
}

static int str_keys_only(PyObject *dict)
{
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (dict && PyDict_Next(dict, &pos, &key, &value))
        if (!PyUnicode_CheckExact(key))
            return 0;
    return 1;
}

/* Types whose every class dict in the MRO has only exact str keys: a name
 * is looked up in them without any key's __eq__ running. Checked once per
 * answer (classes seldom change, but may). */
static PyTypeObject *plain_types[64];
static int n_plain_types;

static int type_is_plain(PyTypeObject *t)
{
    for (int i = 0; i < n_plain_types; i++)
        if (plain_types[i] == t)
            return 1;
    PyObject *mro = t->tp_mro;
    if (!mro || !PyTuple_Check(mro))
        return 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(mro); i++) {
        PyObject *dict = cs_type_dict((PyTypeObject *)PyTuple_GET_ITEM(mro, i));
        int ok = str_keys_only(dict);
        Py_XDECREF(dict);
        if (!ok)
            return 0;
    }
    if (n_plain_types < (int)(sizeof plain_types / sizeof plain_types[0]))
        plain_types[n_plain_types++] = t;
    return 1;
}

/* Whether a class in t's MRO defines `name` (then reading or writing it on
 * an instance could run a descriptor). */
static int class_defines(PyTypeObject *t, const char *name)
{
    PyObject *mro = t->tp_mro;
    for (Py_ssize_t i = 0; mro && i < PyTuple_GET_SIZE(mro); i++) {
        PyObject *dict = cs_type_dict((PyTypeObject *)PyTuple_GET_ITEM(mro, i));
        int found = plain_get(dict, name) != NULL;
        Py_XDECREF(dict);
        if (found)
            return 1;
    }
    return 0;
}

/* An instance attribute as stored on the object (new reference), or NULL:
 * only when no class of the object defines the name (no descriptor runs)
 * and its dicts' keys are plain str. PyObject_GenericGetAttr reads the
 * instance's own storage and never calls a __getattr__ or
 * __getattribute__ of the program (those are reached through the type's
 * slot, not through it). */
static PyObject *field(PyObject *obj, const char *name)
{
    if (!obj || !type_is_plain(Py_TYPE(obj)) || !str_keys_only(cs_instance_dict(obj)) ||
        class_defines(Py_TYPE(obj), name))
        return NULL;
    PyObject *key = PyUnicode_FromString(name);
    PyObject *value = key ? PyObject_GenericGetAttr(obj, key) : NULL;
    Py_XDECREF(key);
    if (!value)
        PyErr_Clear();
    return value;
}

static long long int_field(PyObject *obj, const char *name, long long otherwise)
{
    PyObject *v = field(obj, name);
    long long out = otherwise;
    if (v && PyLong_CheckExact(v)) {
        int overflow;
        out = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow || (out == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            out = otherwise;
        }
    }
    Py_XDECREF(v);
    return out;
}

/* -1 unknown, else 0/1 */
static int bool_field(PyObject *obj, const char *name)
{
    PyObject *v = field(obj, name);
    int out = -1;
    if (v && PyBool_Check(v))
        out = v == Py_True;
    else if (v && PyLong_CheckExact(v)) /* logging allows a plain 0/1 */
        out = PyLong_AsLong(v) != 0;
    PyErr_Clear();
    Py_XDECREF(v);
    return out;
}

/* ---- what logging keeps ---- */

struct logging_module {
    PyObject *globals;          /* the module's dict (borrowed) */
    PyTypeObject *logger_type;  /* logging.Logger */
    PyTypeObject *stream_handler, *file_handler; /* may be NULL */
    PyObject *root;             /* logging.root */
    PyObject *logger_dict;      /* Logger.manager.loggerDict (new reference) */
    long long manager_disable;  /* logging.disable(level) in force */
};

static int find_logging(struct logging_module *lm, char *err, size_t errlen)
{
    memset(lm, 0, sizeof *lm);
    PyObject *logging = plain_get(PyImport_GetModuleDict(), "logging");
    if (!logging || !PyModule_CheckExact(logging)) {
        snprintf(err, errlen, "logger: the process has not imported logging (callscope imports nothing there)");
        return -1;
    }
    lm->globals = PyModule_GetDict(logging);
    PyObject *logger = plain_get(lm->globals, "Logger");
    PyObject *stream = plain_get(lm->globals, "StreamHandler");
    PyObject *file = plain_get(lm->globals, "FileHandler");
    lm->root = plain_get(lm->globals, "root");
    if (!logger || !PyType_Check(logger) || !lm->root || !PyObject_TypeCheck(lm->root, (PyTypeObject *)logger)) {
        snprintf(err, errlen, "logger: logging's Logger class or root logger is not where logging keeps them");
        return -1;
    }
    lm->logger_type = (PyTypeObject *)logger;
    lm->stream_handler = stream && PyType_Check(stream) ? (PyTypeObject *)stream : NULL;
    lm->file_handler = file && PyType_Check(file) ? (PyTypeObject *)file : NULL;
    /* Logger.manager is a class attribute; loggerDict the manager's own */
    PyObject *type_dict = cs_type_dict(lm->logger_type);
    PyObject *manager = plain_get(type_dict, "manager");
    Py_XINCREF(manager);
    Py_XDECREF(type_dict);
    PyObject *loggers = field(manager, "loggerDict");
    lm->manager_disable = int_field(manager, "disable", 0);
    Py_XDECREF(manager);
    if (!loggers || !PyDict_Check(loggers)) {
        Py_XDECREF(loggers);
        snprintf(err, errlen, "logger: logging's Logger.manager.loggerDict is not a dict");
        return -1;
    }
    lm->logger_dict = loggers;
    return 0;
}

static void release_logging(struct logging_module *lm)
{
    Py_CLEAR(lm->logger_dict);
}

static int is_logger(const struct logging_module *lm, PyObject *o)
{
    return o && PyObject_TypeCheck(o, lm->logger_type);
}

/* The name logging gives a level ("DEBUG"), from _levelToName read as a
 * plain dict, or "Level N" as logging says it. */
static void level_name(const struct logging_module *lm, long long level, char *out, size_t outlen)
{
    PyObject *names = plain_get(lm->globals, "_levelToName");
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (names && PyDict_Check(names) && PyDict_Next(names, &pos, &key, &value)) {
        if (PyLong_CheckExact(key) && PyUnicode_CheckExact(value) && PyLong_AsLongLong(key) == level) {
            const char *s = PyUnicode_AsUTF8(value);
            if (s) {
                snprintf(out, outlen, "%s", s);
                return;
            }
        }
        PyErr_Clear();
    }
    snprintf(out, outlen, "Level %lld", level);
}

/* Logger.getEffectiveLevel, walked here: the first non-zero level up the
 * `parent` chain, 0 (NOTSET) when none has one. */
static long long effective_level(PyObject *logger)
{
    PyObject *at = logger;
    Py_XINCREF(at);
    long long level = 0;
    for (int hops = 0; at && hops < MAX_PARENT_HOPS; hops++) {
        level = int_field(at, "level", 0);
        if (level)
            break;
        PyObject *parent = field(at, "parent");
        Py_DECREF(at);
        at = parent && parent != Py_None ? parent : NULL;
        if (!at)
            Py_XDECREF(parent);
    }
    Py_XDECREF(at);
    return level;
}

/* ---- the changes the agent made, for reset and detach ---- */

struct level_change {
    PyObject *logger;   /* strong reference */
    PyObject *previous; /* the level before the first change (an int) */
    PyObject *set_to;   /* the level the agent stored last */
    char name[256];
};
static struct level_change changes[MAX_CHANGES];
static int n_changes;

/* Every logger's `_cache` dict of isEnabledFor answers, as
 * Manager._clear_cache empties them: those of loggerDict's loggers and the
 * root's. `check` only: -1 when one holds anything but int -> bool (then
 * emptying it could run the program's finalizers), without emptying. */
static int clear_caches(const struct logging_module *lm, int check)
{
    PyObject *key, *logger;
    Py_ssize_t pos = 0;
    int at_root = 0;
    for (;;) {
        if (!PyDict_Next(lm->logger_dict, &pos, &key, &logger)) {
            if (at_root++)
                break;
            logger = lm->root;
        }
        if (!is_logger(lm, logger))
            continue;
        PyObject *cache = field(logger, "_cache");
        if (cache && PyDict_CheckExact(cache)) {
            Py_ssize_t p = 0;
            PyObject *k, *v;
            while (check && PyDict_Next(cache, &p, &k, &v))
                if (!PyLong_CheckExact(k) || !PyBool_Check(v)) {
                    Py_DECREF(cache);
                    return -1;
                }
            if (!check)
                PyDict_Clear(cache);
        }
        Py_XDECREF(cache);
    }
    return 0;
}

/* Stores `level` (an int) as the logger's own attribute. 0 or -1. */
static int store_level(PyObject *logger, PyObject *level)
{
    PyObject *key = PyUnicode_FromString("level");
    int rc = key ? PyObject_GenericSetAttr(logger, key, level) : -1;
    Py_XDECREF(key);
    if (rc != 0)
        PyErr_Clear();
    return rc;
}

int cs_live_logger_levels_restore(const char *name)
{
    struct logging_module lm;
    char err[200];
    int have_logging = find_logging(&lm, err, sizeof err) == 0;
    int restored = 0;
    for (int i = 0; i < n_changes;) {
        struct level_change *c = &changes[i];
        if (name && name[0] && strcmp(name, c->name) != 0) {
            i++;
            continue;
        }
        /* put back only what is still the agent's: a level the program
         * set since is the program's choice */
        PyObject *now = field(c->logger, "level");
        int still_ours = now && PyLong_CheckExact(now) && PyObject_RichCompareBool(now, c->set_to, Py_EQ) == 1;
        PyErr_Clear();
        Py_XDECREF(now);
        if (still_ours && store_level(c->logger, c->previous) == 0)
            restored++;
        Py_DECREF(c->logger);
        Py_DECREF(c->previous);
        Py_DECREF(c->set_to);
        changes[i] = changes[--n_changes];
    }
    if (have_logging) {
        if (restored)
            clear_caches(&lm, 0);
        release_logging(&lm);
    }
    PyErr_Clear();
    return restored;
}

/* ---- the answer ---- */

struct options {
    const char *name;  /* one logger, or NULL for all */
    const char *level; /* --level: the new level, as typed */
};

static int parse_options(int argc, char **argv, struct options *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--level") || !strcmp(argv[i], "-l")) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "logger: --level needs a level (DEBUG, INFO, WARNING, ERROR, CRITICAL or a number)");
                return -1;
            }
            o->level = argv[++i];
        } else if (!strncmp(argv[i], "--level=", 8)) {
            o->level = argv[i] + 8;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            snprintf(err, errlen, "logger: unexpected option '%.100s' (logger takes [NAME] [--level LEVEL])", argv[i]);
            return -1;
        } else if (o->name) {
            snprintf(err, errlen, "logger: one logger name at a time, not '%.100s' too", argv[i]);
            return -1;
        } else {
            o->name = argv[i];
            if (strlen(o->name) >= sizeof changes[0].name) {
                snprintf(err, errlen, "logger: a logger name is at most %zu characters", sizeof changes[0].name - 1);
                return -1;
            }
        }
    }
    if (o->level && !o->name) {
        snprintf(err, errlen, "logger: --level needs the name of the logger to change (\"root\" for the root logger)");
        return -1;
    }
    return 0;
}

/* The level the user typed: a number, or a name logging knows (its
 * _nameToLevel, so levels the program added with addLevelName count). */
static int parse_level(const struct logging_module *lm, const char *text, long long *level, char *err,
                       size_t errlen)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (*text && !*end) {
        if (v < 0 || v > MAX_LEVEL) {
            snprintf(err, errlen, "logger: a level number is from 0 to %ld, not '%.40s'", MAX_LEVEL, text);
            return -1;
        }
        *level = v;
        return 0;
    }
    char upper[64];
    size_t n = strlen(text);
    if (n && n < sizeof upper) {
        for (size_t i = 0; i <= n; i++)
            upper[i] = (char)(text[i] >= 'a' && text[i] <= 'z' ? text[i] - 32 : text[i]);
        PyObject *found = plain_get(plain_get(lm->globals, "_nameToLevel"), upper);
        if (found && PyLong_CheckExact(found)) {
            *level = PyLong_AsLongLong(found);
            if (!PyErr_Occurred())
                return 0;
            PyErr_Clear();
        }
    }
    snprintf(err, errlen, "logger: unknown level '%.60s' (DEBUG, INFO, WARNING, ERROR, CRITICAL, NOTSET, "
                          "a level the program named, or a number)", text);
    return -1;
}

static void describe_stream(PyObject *stream, char *out, size_t outlen)
{
    /* the process's standard streams by name; any other by type and address
     * (its .name would run io's getters, which read the stream it wraps) */
    static const char *const std[][2] = {
        {"stdout", "<stdout>"}, {"stderr", "<stderr>"}, {"__stdout__", "<stdout>"}, {"__stderr__", "<stderr>"}};
    for (size_t i = 0; i < sizeof std / sizeof std[0]; i++)
        if (stream && stream == PySys_GetObject(std[i][0])) {
            snprintf(out, outlen, "%s", std[i][1]);
            return;
        }
    snprintf(out, outlen, "<%s object at %p>", stream ? Py_TYPE(stream)->tp_name : "None", (void *)stream);
}

static void put_json_text(struct cs_textbuf *b, const char *s)
{
    cs_json_string(b, s, strlen(s));
}

/* level < 0: not readable without running the program's code (null) */
static void put_level(const struct logging_module *lm, struct cs_live_answer *a, const char *key, long long level)
{
    char name[64];
    if (level < 0) {
        cs_textbuf_printf(&a->json, ",\"%s\":null,\"%s_name\":null", key, key);
        return;
    }
    level_name(lm, level, name, sizeof name);
    cs_textbuf_printf(&a->json, ",\"%s\":%lld,\"%s_name\":", key, level, key);
    put_json_text(&a->json, name);
}

static void handler_answer(const struct logging_module *lm, struct cs_live_answer *a, PyObject *h, int first)
{
    PyTypeObject *t = Py_TYPE(h);
    const char *type_name = t->tp_name;
    cs_textbuf_puts(&a->json, first ? "{\"type\":" : ",{\"type\":");
    put_json_text(&a->json, type_name);
    long long level = int_field(h, "level", -1);
    char lname[64] = "?";
    if (level >= 0)
        level_name(lm, level, lname, sizeof lname);
    put_level(lm, a, "level", level);
    cs_textbuf_printf(&a->text, "    handler %s level=%s", type_name, lname);
    PyObject *name = field(h, "_name");
    const char *s = name && PyUnicode_CheckExact(name) ? PyUnicode_AsUTF8(name) : NULL;
    PyErr_Clear();
    if (s) {
        cs_textbuf_puts(&a->json, ",\"name\":");
        put_json_text(&a->json, s);
        cs_textbuf_printf(&a->text, " name=%s", s);
    }
    Py_XDECREF(name);
    if (lm->file_handler && PyObject_TypeCheck(h, lm->file_handler)) {
        PyObject *file = field(h, "baseFilename");
        const char *f = file && PyUnicode_CheckExact(file) ? PyUnicode_AsUTF8(file) : NULL;
        PyErr_Clear();
        cs_textbuf_puts(&a->json, ",\"filename\":");
        if (f)
            put_json_text(&a->json, f);
        else
            cs_textbuf_puts(&a->json, "null");
        cs_textbuf_printf(&a->text, " file=%s", f ? f : "?");
        Py_XDECREF(file);
    } else if (lm->stream_handler && PyObject_TypeCheck(h, lm->stream_handler)) {
        PyObject *stream = field(h, "stream");
        char desc[200];
        describe_stream(stream, desc, sizeof desc);
        cs_textbuf_puts(&a->json, ",\"stream\":");
        put_json_text(&a->json, desc);
        cs_textbuf_printf(&a->text, " stream=%s", desc);
        Py_XDECREF(stream);
    }
    cs_textbuf_putc(&a->json, '}');
    cs_textbuf_putc(&a->text, '\n');
}

static void logger_answer(const struct logging_module *lm, struct cs_live_answer *a, const char *name,
                          PyObject *logger, int first)
{
    long long level = int_field(logger, "level", -1), effective = effective_level(logger);
    int propagate = bool_field(logger, "propagate"), disabled = bool_field(logger, "disabled");
    char lname[64] = "?", ename[64];
    if (level >= 0)
        level_name(lm, level, lname, sizeof lname);
    level_name(lm, effective, ename, sizeof ename);
    cs_textbuf_puts(&a->json, first ? "{\"name\":" : ",{\"name\":");
    put_json_text(&a->json, name);
    cs_textbuf_printf(&a->json, ",\"type\":");
    put_json_text(&a->json, Py_TYPE(logger)->tp_name);
    put_level(lm, a, "level", level);
    put_level(lm, a, "effective_level", effective);
    cs_textbuf_printf(&a->json, ",\"propagate\":%s,\"disabled\":%s,\"handlers\":[",
                      propagate < 0 ? "null" : propagate ? "true" : "false",
                      disabled < 0 ? "null" : disabled ? "true" : "false");
    cs_textbuf_printf(&a->text, "%s level=%s effective=%s propagate=%s disabled=%s\n", name, lname, ename,
                      propagate < 0 ? "?" : propagate ? "True" : "False", disabled < 0 ? "?" : disabled ? "True" : "False");
    PyObject *handlers = field(logger, "handlers");
    if (handlers && PyList_Check(handlers))
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(handlers) && i < MAX_HANDLERS; i++)
            handler_answer(lm, a, PyList_GET_ITEM(handlers, i), i == 0);
    Py_XDECREF(handlers);
    cs_textbuf_puts(&a->json, "]}");
}

struct named_logger {
    const char *name; /* UTF-8 of the loggerDict key, alive while the dict holds it */
    PyObject *logger; /* borrowed from loggerDict */
};

static int by_name(const void *x, const void *y)
{
    return strcmp(((const struct named_logger *)x)->name, ((const struct named_logger *)y)->name);
}

/* The logger called `name` (borrowed): "root" is the root logger. */
static PyObject *logger_named(const struct logging_module *lm, const char *name)
{
    if (!strcmp(name, "root"))
        return lm->root;
    PyObject *found = plain_get(lm->logger_dict, name);
    return is_logger(lm, found) ? found : NULL;
}

static int set_level(const struct logging_module *lm, struct cs_live_answer *a, const char *name,
                     PyObject *logger, const char *level_text)
{
    long long level;
    if (parse_level(lm, level_text, &level, a->error, sizeof a->error) != 0)
        return -1;
    PyObject *previous = field(logger, "level");
    if (!previous || !PyLong_CheckExact(previous)) {
        Py_XDECREF(previous);
        snprintf(a->error, sizeof a->error,
                 "logger: %.200s keeps its level where callscope cannot set it without running the program's code "
                 "(its class defines 'level', or the attribute is not an int)", name);
        return -1;
    }
    if (clear_caches(lm, 1) != 0) {
        Py_DECREF(previous);
        snprintf(a->error, sizeof a->error, "logger: a logger's _cache holds something else than logging puts "
                                             "there; not changing levels");
        return -1;
    }
    int slot = -1;
    for (int i = 0; i < n_changes && slot < 0; i++)
        if (changes[i].logger == logger)
            slot = i;
    if (slot < 0 && n_changes == MAX_CHANGES) {
        Py_DECREF(previous);
        snprintf(a->error, sizeof a->error, "logger: %d loggers changed already; `callscope reset` puts them back",
                 MAX_CHANGES);
        return -1;
    }
    PyObject *value = PyLong_FromLongLong(level);
    if (!value || store_level(logger, value) != 0) {
        PyErr_Clear();
        Py_XDECREF(value);
        Py_DECREF(previous);
        snprintf(a->error, sizeof a->error, "logger: could not set the level of %.200s", name);
        return -1;
    }
    clear_caches(lm, 0);
    char before[64], after[64];
    level_name(lm, PyLong_AsLongLong(previous), before, sizeof before);
    level_name(lm, level, after, sizeof after);
    if (slot < 0) { /* the first change: keep what it was */
        slot = n_changes++;
        changes[slot].logger = logger;
        Py_INCREF(logger);
        changes[slot].previous = previous;
        snprintf(changes[slot].name, sizeof changes[slot].name, "%s", name);
    } else {
        Py_DECREF(changes[slot].set_to);
        Py_DECREF(previous);
    }
    changes[slot].set_to = value;
    cs_textbuf_puts(&a->json, "\"changed\":{\"name\":");
    put_json_text(&a->json, name);
    cs_textbuf_puts(&a->json, ",\"previous_level_name\":");
    put_json_text(&a->json, before);
    cs_textbuf_puts(&a->json, ",\"level_name\":");
    put_json_text(&a->json, after);
    cs_textbuf_printf(&a->json, ",\"level\":%lld},", level);
    cs_textbuf_printf(&a->text, "%s: level %s -> %s (callscope reset puts it back)\n", name, before, after);
    return 0;
}

int cs_query_logger(int argc, char **argv, struct cs_live_answer *a)
{
    struct options o;
    if (parse_options(argc, argv, &o, a->error, sizeof a->error) != 0)
        return -1;
    n_plain_types = 0;
    struct logging_module lm;
    if (find_logging(&lm, a->error, sizeof a->error) != 0)
        return -1;
    int rc = 0;
    cs_textbuf_putc(&a->json, '{');
    if (o.name) {
        PyObject *logger = logger_named(&lm, o.name);
        if (!logger) {
            snprintf(a->error, sizeof a->error, "logger: no logger named '%.200s' in the process", o.name);
            rc = -1;
        } else if (!o.level || set_level(&lm, a, o.name, logger, o.level) == 0) {
            cs_textbuf_puts(&a->json, "\"loggers\":[");
            logger_answer(&lm, a, o.name, logger, 1);
            cs_textbuf_puts(&a->json, "],\"count\":1");
        } else {
            rc = -1;
        }
    } else {
        struct named_logger *list = malloc(sizeof *list * (MAX_LOGGERS + 1));
        Py_ssize_t pos = 0;
        PyObject *key, *value;
        size_t n = 0, more = 0;
        if (list)
            list[n++] = (struct named_logger){"root", lm.root};
        while (list && PyDict_Next(lm.logger_dict, &pos, &key, &value)) {
            const char *name = PyUnicode_CheckExact(key) && is_logger(&lm, value) ? PyUnicode_AsUTF8(key) : NULL;
            PyErr_Clear();
            if (!name)
                continue; /* a PlaceHolder: a dotted prefix with no logger of its own */
            if (n <= MAX_LOGGERS)
                list[n++] = (struct named_logger){name, value};
            else
                more++;
        }
        if (!list) {
            snprintf(a->error, sizeof a->error, "out of memory in the target");
            rc = -1;
        } else {
            qsort(list + 1, n - 1, sizeof *list, by_name);
            cs_textbuf_puts(&a->json, "\"loggers\":[");
            for (size_t i = 0; i < n; i++)
                logger_answer(&lm, a, list[i].name, list[i].logger, i == 0);
            cs_textbuf_printf(&a->json, "],\"count\":%zu,\"not_shown\":%zu", n, more);
            if (more)
                cs_textbuf_printf(&a->text, "(%zu more loggers not shown)\n", more);
        }
        free(list);
    }
    if (rc == 0) {
        cs_textbuf_printf(&a->json, ",\"disable\":%lld}", lm.manager_disable);
        if (lm.manager_disable) {
            char name[64];
            level_name(&lm, lm.manager_disable, name, sizeof name);
            cs_textbuf_printf(&a->text, "(logging.disable(%s) is in force: records at or below it are dropped)\n", name);
        }
    }
    release_logging(&lm);
    PyErr_Clear();
    return rc;
}
