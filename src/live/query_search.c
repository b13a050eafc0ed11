/*
 * query_search.c — `callscope sc PID PATTERN` and `callscope sm PID PATTERN`:
 * the classes (sc), and the functions and methods (sm), of the modules the
 * process has loaded whose full names match a wildcard pattern, each with
 * its kind, module, file and first line — the names to give `trace`.
 *
 * The walk reads what the interpreter keeps in C structures and plain
 * dictionaries: sys.modules, each module's dict, each class's own dict
 * (PyDict_Next; no key is hashed or compared, no attribute is looked up, so
 * no property, __getattr__, metaclass or import of the program runs). Names
 * are the ones pattern.c resolves: `module.Class.method` as found in those
 * dictionaries, the function behind a staticmethod, classmethod, property
 * or functools.wraps decorator followed the same way.
 *
 * A process may hold hundreds of thousands of functions, and the agent holds
 * the GIL while it answers: the walk charges every dictionary entry and
 * every step of matching to a budget, and at most -n matches are described
 * (all of them counted while the budget lasts).
 */
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/values.h"
#include "live/pattern.h"
#include "live/query.h"
#include "py/compat.h"
#include "util/json.h"
#include "util/parse_number.h"

#define DEFAULT_LIMIT 100
#define MAX_LIMIT 10000
/* pattern.c reads a pattern into 512 bytes: a longer name could not be
 * given to trace, and a longer pattern could match nothing. */
#define MAX_NAME 500
#define MAX_CLASS_NESTING 8
/* Dictionary entries visited plus steps of wildcard matching: about a
 * second of work at most, for 100k functions a few ms. */
#define WORK_BUDGET 50000000LL
/* Longest file name written into the answer. */
#define MAX_FILE 1024

enum search_for { SEARCH_CLASSES, SEARCH_METHODS };

struct search {
    enum search_for what;
    const char *command; /* "sc" or "sm", for messages */
    const char *pattern;
    size_t prefix_len; /* of the pattern, before its first wildcard */
    int limit;
    int details; /* sc -d: bases and methods count */
    long long work_left;
    long long total;
    int shown;
    struct cs_textbuf *json;
    /* The text form, written once every match is known so that its columns
     * line up: rows of name, kind, location, details in `pool`. */
    struct row {
        size_t name, name_len, kind, kind_len, where, where_len, extra, extra_len;
    } *rows;
    struct cs_textbuf pool;
};

/* ---- wildcards ---- */

static size_t utf8_char_len(const char *s)
{
    unsigned char c = (unsigned char)*s;
    size_t n = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    for (size_t i = 1; i < n; i++)
        if (!s[i])
            return i;
    return n;
}

/* Whether name matches pattern, '*' standing for any text (dots included)
 * and '?' for one character. One pass with a single backtracking point:
 * at most len(pattern) * len(name) steps, each charged to the budget.
 * -1 when the budget is spent. */
static int wildcard_match(struct search *s, const char *pattern, const char *name)
{
    const char *star = NULL, *resume = NULL;
    long long steps = 0;
    while (*name) {
        steps++;
        if (*pattern == '?') {
            pattern++;
            name += utf8_char_len(name);
        } else if (*pattern == '*') {
            star = pattern++;
            resume = name;
        } else if (*pattern && *pattern == *name) {
            pattern++;
            name++;
        } else if (star) {
            pattern = star + 1;
            resume += utf8_char_len(resume);
            name = resume;
        } else {
            break;
        }
    }
    s->work_left -= steps;
    if (s->work_left < 0)
        return -1;
    if (*name)
        return 0;
    while (*pattern == '*')
        pattern++;
    return *pattern == 0;
}

/* ---- names ---- */

/* The UTF-8 text of an exact str (cached in it by Python), or NULL. */
static const char *text_of(PyObject *s, Py_ssize_t *n)
{
    if (!s || !PyUnicode_CheckExact(s))
        return NULL;
    const char *t = PyUnicode_AsUTF8AndSize(s, n);
    if (!t)
        PyErr_Clear(); /* a lone surrogate */
    return t;
}

/* Whether text is a name pattern.c accepts as one word of a pattern. */
static int is_word(const char *t, Py_ssize_t n)
{
    if (n <= 0)
        return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (!(c >= 0x80 || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
            return 0;
    }
    return 1;
}

/* The module and qualified name a class says it has: a class written in
 * Python keeps __module__ in its dict and its qualname in its C struct; a
 * class written in C has "module.Name" as tp_name. 0, or -1 when it does
 * not say. */
static int class_identity(PyTypeObject *cls, char *module, size_t module_size, char *qualname, size_t qual_size)
{
    if (cls->tp_flags & Py_TPFLAGS_HEAPTYPE) {
        PyObject *dict = cs_type_dict(cls);
        Py_ssize_t mn, qn;
        const char *m = text_of(cs_live_dict_str_item(dict, "__module__", -1), &mn);
        const char *q = text_of(((PyHeapTypeObject *)cls)->ht_qualname, &qn);
        Py_XDECREF(dict); /* the class keeps both */
        if (!m || !q || (size_t)mn >= module_size || (size_t)qn >= qual_size)
            return -1;
        snprintf(module, module_size, "%s", m);
        snprintf(qualname, qual_size, "%s", q);
        return 0;
    }
    const char *dot = strrchr(cls->tp_name, '.');
    if (!dot)
        return -1; /* a builtin: not of any module searched */
    snprintf(module, module_size, "%.*s", (int)(dot - cls->tp_name), cls->tp_name);
    snprintf(qualname, qual_size, "%s", dot + 1);
    return 0;
}

/* Length of the first `max` bytes of UTF-8 text cut at a character
 * boundary. */
static size_t utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
        max--;
    return max;
}

/* ---- matches ---- */

static void pool_add(struct search *s, const char *t, size_t n, size_t *off, size_t *len)
{
    *off = s->pool.len;
    *len = n;
    cs_textbuf_put(&s->pool, t, n);
}

/* Starts the JSON object and the text row of one match. Returns the row,
 * or NULL when the match is only counted (-n reached). */
static struct row *add_match(struct search *s, const char *name, const char *kind, const char *module,
                             PyObject *file, long long line)
{
    s->total++;
    if (s->shown >= s->limit)
        return NULL;
    struct row *r = &s->rows[s->shown];
    struct cs_textbuf *j = s->json;
    cs_textbuf_puts(j, s->shown++ ? ",{\"name\":" : "{\"name\":");
    cs_json_string(j, name, strlen(name));
    cs_textbuf_puts(j, ",\"kind\":");
    cs_json_string(j, kind, strlen(kind));
    cs_textbuf_puts(j, ",\"module\":");
    cs_json_string(j, module, strlen(module));
    Py_ssize_t fn = 0;
    const char *f = text_of(file, &fn);
    size_t flen = f ? utf8_cut(f, (size_t)fn, MAX_FILE) : 0;
    cs_textbuf_puts(j, ",\"file\":");
    if (f)
        cs_json_string(j, f, flen);
    else
        cs_textbuf_puts(j, "null");
    if (line > 0)
        cs_textbuf_printf(j, ",\"line\":%lld", line);
    else
        cs_textbuf_puts(j, ",\"line\":null");
    pool_add(s, name, strlen(name), &r->name, &r->name_len);
    pool_add(s, kind, strlen(kind), &r->kind, &r->kind_len);
    r->where = s->pool.len;
    if (f && line > 0)
        cs_textbuf_printf(&s->pool, "%.*s:%lld", (int)flen, f, line);
    else if (f)
        cs_textbuf_put(&s->pool, f, flen);
    r->where_len = s->pool.len - r->where;
    r->extra = s->pool.len;
    r->extra_len = 0;
    return r;
}

static void end_match(struct search *s)
{
    cs_textbuf_putc(s->json, '}');
}

/* What kind of definition a dictionary entry is, from what wraps the
 * function. */
static const char *kind_of(PyObject *v, int in_class)
{
    if (Py_TYPE(v) == &PyStaticMethod_Type)
        return "staticmethod";
    if (Py_TYPE(v) == &PyClassMethod_Type)
        return "classmethod";
    if (Py_TYPE(v) == &PyProperty_Type)
        return "property getter";
    return in_class ? "method" : "function";
}

static void report_function(struct search *s, const char *name, const char *module, PyObject *entry,
                            PyObject *function, int in_class)
{
    PyCodeObject *code = (PyCodeObject *)PyFunction_GET_CODE(function);
    if (add_match(s, name, kind_of(entry, in_class), module, code->co_filename, code->co_firstlineno))
        end_match(s);
}

/* Where a class is: __firstlineno__ (3.13+) in the file of its module, else
 * its first method's file and line. *file borrowed. */
static void class_location(PyObject *dict, PyObject *module_file, PyObject **file, long long *line, int *methods)
{
    *file = module_file;
    *line = 0;
    *methods = 0;
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (dict && PyDict_Next(dict, &pos, &key, &value)) {
        PyObject *fn = PyType_Check(value) ? NULL : cs_live_underlying_function(value);
        if (!fn)
            continue;
        ++*methods;
        PyCodeObject *code = (PyCodeObject *)PyFunction_GET_CODE(fn);
        if (*line == 0 || code->co_firstlineno < *line) {
            *line = code->co_firstlineno;
            *file = code->co_filename;
        }
    }
    PyObject *first = cs_live_dict_str_item(dict, "__firstlineno__", -1);
    if (first && PyLong_CheckExact(first)) {
        *line = PyLong_AsLongLong(first);
        *file = module_file ? module_file : *file;
    }
    PyErr_Clear();
}

static void report_class(struct search *s, const char *name, const char *module, PyTypeObject *cls,
                         PyObject *dict, PyObject *module_file)
{
    PyObject *file;
    long long line;
    int methods;
    class_location(dict, module_file, &file, &line, &methods);
    struct row *r = add_match(s, name, "class", module, file, line);
    if (!r)
        return;
    if (s->details) {
        cs_textbuf_puts(s->json, ",\"bases\":[");
        cs_textbuf_printf(&s->pool, "bases: ");
        PyObject *bases = cls->tp_bases;
        for (Py_ssize_t i = 0; bases && i < PyTuple_GET_SIZE(bases) && i < 64; i++) {
            char base[200];
            size_t n = cs_type_name((PyTypeObject *)PyTuple_GET_ITEM(bases, i), base, sizeof base);
            n = utf8_cut(base, n, sizeof base - 1);
            if (i)
                cs_textbuf_putc(s->json, ',');
            cs_json_string(s->json, base, n);
            cs_textbuf_printf(&s->pool, "%s%.*s", i ? ", " : "", (int)n, base);
        }
        cs_textbuf_printf(s->json, "],\"methods\":%d", methods);
        cs_textbuf_printf(&s->pool, "; methods: %d", methods);
        r->extra_len = s->pool.len - r->extra;
    }
    end_match(s);
}

/* ---- the walk ---- */

static int charge(struct search *s, long long n)
{
    s->work_left -= n;
    return s->work_left >= 0;
}

/* Appends ".word" to the name in buf (of length *len); 0, or -1 when the
 * name would be longer than trace reads. */
static int name_push(char *buf, size_t *len, const char *word, Py_ssize_t n)
{
    if (*len + 1 + (size_t)n > MAX_NAME)
        return -1;
    buf[(*len)++] = '.';
    memcpy(buf + *len, word, (size_t)n);
    *len += (size_t)n;
    buf[*len] = 0;
    return 0;
}

/* Whether a name in the walk can still match: the pattern's text before its
 * first wildcard and the name agree as far as both go. */
static int may_match(const struct search *s, const char *name, size_t len)
{
    size_t n = len < s->prefix_len ? len : s->prefix_len;
    return memcmp(name, s->pattern, n) == 0;
}

/* -1 when the budget is spent. */
static int visit_class(struct search *s, const char *module, PyObject *module_file, PyTypeObject *cls,
                       const char *qualname, char *name, size_t len, int nesting)
{
    PyObject *dict = cs_type_dict(cls);
    int rc = 0;
    if (s->what == SEARCH_CLASSES) {
        int m = wildcard_match(s, s->pattern, name);
        if (m < 0)
            rc = -1;
        else if (m)
            report_class(s, name, module, cls, dict, module_file);
    }
    /* The class's own entries: methods, and the classes defined in it. */
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (rc == 0 && dict && PyDict_Next(dict, &pos, &key, &value)) {
        if (!charge(s, 1)) {
            rc = -1;
            break;
        }
        Py_ssize_t kn;
        const char *k = text_of(key, &kn);
        size_t inner_len = len;
        if (!k || !is_word(k, kn) || name_push(name, &inner_len, k, kn) != 0)
            continue;
        if (PyType_Check(value)) {
            /* A class defined in this one (not one it merely refers to):
             * its qualname is this one's and the key. */
            char inner_module[256], inner_qual[MAX_NAME + 1], expected[MAX_NAME + 1];
            snprintf(expected, sizeof expected, "%s.%s", qualname, k);
            if (nesting < MAX_CLASS_NESTING && may_match(s, name, inner_len) &&
                class_identity((PyTypeObject *)value, inner_module, sizeof inner_module, inner_qual,
                               sizeof inner_qual) == 0 &&
                !strcmp(inner_module, module) && !strcmp(inner_qual, expected))
                rc = visit_class(s, module, module_file, (PyTypeObject *)value, inner_qual, name, inner_len,
                                 nesting + 1);
        } else if (s->what == SEARCH_METHODS) {
            PyObject *fn = cs_live_underlying_function(value);
            int m = fn ? wildcard_match(s, s->pattern, name) : 0;
            if (m < 0)
                rc = -1;
            else if (m)
                report_function(s, name, module, value, fn, 1);
        }
        name[len] = 0;
    }
    name[len] = 0;
    Py_XDECREF(dict);
    return rc;
}

static int visit_module(struct search *s, const char *module, size_t module_len, PyObject *dict)
{
    char name[MAX_NAME + 2];
    if (module_len > MAX_NAME)
        return 0;
    memcpy(name, module, module_len + 1);
    /* names in it start with "module.": prune what cannot match */
    if (!may_match(s, name, module_len) || (s->prefix_len > module_len && s->pattern[module_len] != '.'))
        return 0;
    PyObject *module_file = cs_live_dict_str_item(dict, "__file__", -1);
    if (module_file && !PyUnicode_CheckExact(module_file))
        module_file = NULL;
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(dict, &pos, &key, &value)) {
        if (!charge(s, 1))
            return -1;
        Py_ssize_t kn;
        const char *k = text_of(key, &kn);
        size_t len = module_len;
        if (!k || !is_word(k, kn) || name_push(name, &len, k, kn) != 0 || !may_match(s, name, len)) {
            name[module_len] = 0;
            continue;
        }
        int rc = 0;
        if (PyType_Check(value)) {
            /* defined in this module under this name, not imported into it */
            char class_module[256], qualname[MAX_NAME + 1];
            if (class_identity((PyTypeObject *)value, class_module, sizeof class_module, qualname,
                               sizeof qualname) == 0 &&
                !strcmp(class_module, module) && !strcmp(qualname, k))
                rc = visit_class(s, module, module_file, (PyTypeObject *)value, qualname, name, len, 0);
        } else if (s->what == SEARCH_METHODS) {
            PyObject *fn = cs_live_underlying_function(value);
            Py_ssize_t fmn;
            const char *fm = fn ? text_of(((PyFunctionObject *)fn)->func_module, &fmn) : NULL;
            /* functions defined here; those imported are listed where they
             * were defined */
            if (fm && (size_t)fmn == module_len && !memcmp(fm, module, module_len)) {
                int m = wildcard_match(s, s->pattern, name);
                if (m < 0)
                    rc = -1;
                else if (m)
                    report_function(s, name, module, value, fn, 0);
            }
        }
        name[module_len] = 0;
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* ---- the question ---- */

static int parse_arguments(struct search *s, int argc, char **argv, char *err, size_t errlen)
{
    s->limit = DEFAULT_LIMIT;
    s->pattern = NULL;
    for (int i = 0; i < argc; i++) {
        const char *v = NULL;
        if (!strcmp(argv[i], "-n") || !strcmp(argv[i], "--limit")) {
            v = i + 1 < argc ? argv[++i] : "";
        } else if (!strncmp(argv[i], "--limit=", 8)) {
            v = argv[i] + 8;
        } else if (s->what == SEARCH_CLASSES && (!strcmp(argv[i], "-d") || !strcmp(argv[i], "--details"))) {
            s->details = 1;
            continue;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            snprintf(err, errlen, "%s: unexpected option '%.100s' (%s takes PATTERN, -n N%s)", s->command, argv[i],
                     s->command, s->what == SEARCH_CLASSES ? ", -d" : "");
            return -1;
        } else if (s->pattern) {
            snprintf(err, errlen, "%s: one PATTERN only, not also '%.100s' (quote a pattern with wildcards)",
                     s->command, argv[i]);
            return -1;
        } else {
            s->pattern = argv[i];
            continue;
        }
        long long n;
        if (cs_parse_long(v, 1, MAX_LIMIT, &n) != 0) {
            snprintf(err, errlen, "%s: -n takes a number of matches from 1 to %d, not '%.100s'", s->command,
                     MAX_LIMIT, v);
            return -1;
        }
        s->limit = (int)n;
    }
    const char *example = s->what == SEARCH_CLASSES ? "'myapp.*Service'" : "'myapp.orders.OrderService.*'";
    if (!s->pattern || !s->pattern[0]) {
        snprintf(err, errlen, "%s: give a PATTERN, e.g. %s (* and ? are wildcards)", s->command, example);
        return -1;
    }
    size_t n = strlen(s->pattern);
    if (n > MAX_NAME) {
        snprintf(err, errlen, "%s: a pattern of %zu bytes is longer than any name trace takes (%d)", s->command,
                 n, MAX_NAME);
        return -1;
    }
    for (const char *p = s->pattern; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (!(c >= 0x80 || c == '_' || c == '.' || c == '*' || c == '?' || (c >= '0' && c <= '9') ||
              (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
            if (c < 0x20 || c == 0x7f)
                snprintf(err, errlen, "%s: a pattern holds names, dots and the wildcards * and ?, not control "
                         "characters", s->command);
            else
                snprintf(err, errlen, "%s: '%.200s' is not a pattern: '%c' cannot be part of a name (e.g. %s; * and ? "
                         "are the wildcards)", s->command, s->pattern, c, example);
            return -1;
        }
    }
    s->prefix_len = strcspn(s->pattern, "*?");
    return 0;
}

static void write_text(struct search *s, struct cs_textbuf *text)
{
    size_t name_width = 0, kind_width = 0;
    for (int i = 0; i < s->shown; i++) {
        if (s->rows[i].name_len > name_width)
            name_width = s->rows[i].name_len;
        if (s->rows[i].kind_len > kind_width)
            kind_width = s->rows[i].kind_len;
    }
    if (name_width > 60)
        name_width = 60;
    const char *pool = s->pool.data;
    for (int i = 0; i < s->shown && pool; i++) {
        struct row *r = &s->rows[i];
        cs_textbuf_printf(text, "%-*.*s  %-*.*s  %.*s", (int)name_width, (int)r->name_len, pool + r->name,
                          (int)kind_width, (int)r->kind_len, pool + r->kind, (int)r->where_len, pool + r->where);
        if (r->extra_len)
            cs_textbuf_printf(text, "\n    %.*s", (int)r->extra_len, pool + r->extra);
        cs_textbuf_putc(text, '\n');
    }
}

static int search(enum search_for what, int argc, char **argv, struct cs_live_answer *a)
{
    struct search s = {.what = what, .command = what == SEARCH_CLASSES ? "sc" : "sm", .json = &a->json,
                       .work_left = WORK_BUDGET};
    if (parse_arguments(&s, argc, argv, a->error, sizeof a->error) != 0)
        return -1;
    s.rows = calloc((size_t)s.limit, sizeof *s.rows);
    if (!s.rows) {
        snprintf(a->error, sizeof a->error, "%s: out of memory in the target", s.command);
        return -1;
    }
    cs_textbuf_puts(&a->json, "{\"pattern\":");
    cs_json_string(&a->json, s.pattern, strlen(s.pattern));
    cs_textbuf_puts(&a->json, ",\"matches\":[");
    /* sys.modules in import order; only modules, under names trace takes */
    PyObject *modules = PyImport_GetModuleDict();
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    int incomplete = 0;
    while (PyDict_Next(modules, &pos, &key, &value)) {
        Py_ssize_t kn;
        const char *k = text_of(key, &kn);
        if (!charge(&s, 1)) {
            incomplete = 1;
            break;
        }
        if (!k || !PyModule_Check(value))
            continue;
        int dotted_name = kn > 0;
        for (const char *w = k; dotted_name && w < k + kn;) {
            const char *dot = memchr(w, '.', (size_t)(k + kn - w));
            size_t wn = dot ? (size_t)(dot - w) : (size_t)(k + kn - w);
            dotted_name = is_word(w, (Py_ssize_t)wn);
            w += wn + 1;
        }
        PyObject *dict = PyModule_GetDict(value);
        if (!dotted_name || !dict)
            continue;
        if (visit_module(&s, k, (size_t)kn, dict) != 0) {
            incomplete = 1;
            break;
        }
    }
    PyErr_Clear();
    cs_textbuf_printf(&a->json, "],\"shown\":%d,\"total\":%lld,\"limit\":%d,\"complete\":%s}", s.shown, s.total,
                      s.limit, incomplete ? "false" : "true");
    write_text(&s, &a->text);
    if (incomplete)
        cs_textbuf_printf(&a->text, "%d shown of at least %lld matches: the search stopped at its limit of work "
                          "(give a longer pattern)\n", s.shown, s.total);
    else if (s.total > s.shown)
        cs_textbuf_printf(&a->text, "%d shown of %lld matches (-n %d)\n", s.shown, s.total, s.limit);
    else
        cs_textbuf_printf(&a->text, "%lld match%s\n", s.total, s.total == 1 ? "" : "es");
    free(s.rows);
    cs_textbuf_free(&s.pool);
    return 0;
}

int cs_query_sc(int argc, char **argv, struct cs_live_answer *answer)
{
    return search(SEARCH_CLASSES, argc, argv, answer);
}

int cs_query_sm(int argc, char **argv, struct cs_live_answer *answer)
{
    return search(SEARCH_METHODS, argc, argv, answer);
}
