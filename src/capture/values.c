/*
 * values.c — Python objects to event values, natively (see values.h).
 *
 * Only exact built-in types are read field by field: their layout is known
 * and reading them cannot call back into Python. Subclasses of built-ins are
 * read through the base type's fields and tagged with their own name.
 */
#include "values.h"

#include "capture/dict_memo.h"
#include "capture/repr_guard.h"
#include "core/clock.h"
#include "core/event.h"
#include "py/compat.h"
#include "util/check.h"
#include "util/utf8.h"

int (*cs_values_suspend_tracing)(int on);

/* The count of a container's items kept is written as one byte, patched in
 * after the items: a varint of one byte holds up to 127. */
_Static_assert(CS_MAX_ITEMS_LIMIT < 128, "the count of items kept fits one varint byte");

/* Room for a tag, a type name and a varint: what V_ELIDED/V_OBJECT need. */
#define SMALL_VALUE_BYTES 160

size_t cs_type_name(PyTypeObject *t, char *buf, size_t size)
{
    const char *module = NULL, *qualname = NULL;
    Py_ssize_t mlen = 0, qlen = 0;
    if (t->tp_flags & Py_TPFLAGS_HEAPTYPE) {
        PyHeapTypeObject *ht = (PyHeapTypeObject *)t;
        if (ht->ht_qualname && PyUnicode_Check(ht->ht_qualname))
            qualname = PyUnicode_AsUTF8AndSize(ht->ht_qualname, &qlen);
        PyObject *mod = t->tp_dict ? PyDict_GetItemString(t->tp_dict, "__module__") : NULL;
        if (mod && PyUnicode_Check(mod))
            module = PyUnicode_AsUTF8AndSize(mod, &mlen);
        if (!qualname)
            PyErr_Clear();
    }
    if (!qualname) {
        /* Static types spell "module.Name" in tp_name, builtins just "Name". */
        return (size_t)snprintf(buf, size, "%s", t->tp_name) < size ? strlen(buf) : size - 1;
    }
    int n;
    if (module && strcmp(module, "builtins") != 0)
        n = snprintf(buf, size, "%.*s.%.*s", (int)mlen, module, (int)qlen, qualname);
    else
        n = snprintf(buf, size, "%.*s", (int)qlen, qualname);
    return n < 0 ? 0 : ((size_t)n < size ? (size_t)n : size - 1);
}

/* Names of recently seen types. Objects are most often `self`, so working
 * the name out each time (a dictionary lookup and a format) would cost more
 * than the rest of the call. A slot is trusted while the type's version tag
 * is valid and unchanged: tags are never given to two types, and assigning
 * a type's attributes (its __module__) gives it a new one. */
#define TYPE_NAME_SLOTS 256
struct type_name_slot {
    const PyTypeObject *type;
    unsigned int version;
    unsigned int len;
    char name[120];
};
static struct type_name_slot type_names[TYPE_NAME_SLOTS];

static unsigned char *put_type_name(unsigned char *p, PyTypeObject *t)
{
    int cacheable = (t->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG) && t->tp_version_tag != 0;
    struct type_name_slot *slot = &type_names[((uintptr_t)t >> 4) % TYPE_NAME_SLOTS];
    if (cacheable && slot->type == t && slot->version == t->tp_version_tag)
        return cs_put_str(p, slot->name, slot->len);
    char name[128];
    size_t n = cs_type_name(t, name, sizeof name);
    if (cacheable && n <= sizeof slot->name) {
        slot->type = t;
        slot->version = t->tp_version_tag;
        slot->len = (unsigned int)n;
        memcpy(slot->name, name, n);
    }
    return cs_put_str(p, name, n);
}

static unsigned char *put_elided(unsigned char *p, PyObject *v, Py_ssize_t len)
{
    *p++ = V_ELIDED;
    p = put_type_name(p, Py_TYPE(v));
    return cs_put_varint(p, len < 0 ? 0 : (uint64_t)len);
}

/* UTF-8 of the first `max` code points of a str, within `room` bytes.
 * Lone surrogates become the text \udXXX. Returns bytes written. */
static size_t utf8_prefix(PyObject *s, Py_ssize_t max, unsigned char *out, size_t room)
{
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    if (n > max)
        n = max;
    if (kind == PyUnicode_1BYTE_KIND && PyUnicode_IS_ASCII(s)) {
        size_t k = (size_t)n < room ? (size_t)n : room;
        memcpy(out, data, k);
        return k;
    }
    size_t w = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        unsigned char tmp[8];
        size_t k;
        if (c < 0xd800 || c > 0xdfff)
            k = cs_utf8_encode(c, tmp);
        else /* a lone surrogate has no UTF-8: written as its escape */
            k = (size_t)snprintf((char *)tmp, sizeof tmp, "\\u%04x", (unsigned)c);
        if (w + k > room)
            break;
        memcpy(out + w, tmp, k);
        w += k;
    }
    return w;
}

/* The length and prefix of an ASCII str (PyUnicode_IS_ASCII), after its
 * tag: one byte a character, so the prefix's length is known first. */
static inline unsigned char *put_ascii_body(unsigned char *p, unsigned char *limit, PyObject *s,
                                            uint32_t max_chars)
{
    Py_ssize_t length = PyUnicode_GET_LENGTH(s);
    p = cs_put_varint(p, (uint64_t)length);
    size_t room = (size_t)(limit - p) > CS_VARINT_MAX ? (size_t)(limit - p) - CS_VARINT_MAX : 0;
    size_t n = length < (Py_ssize_t)max_chars ? (size_t)length : max_chars;
    return cs_put_str(p, PyUnicode_DATA(s), n < room ? n : room);
}

/* A str's length and UTF-8 prefix, after its tag. */
static unsigned char *put_text_body(unsigned char *p, unsigned char *limit, PyObject *s, uint32_t max_chars)
{
    if (PyUnicode_IS_ASCII(s))
        return put_ascii_body(p, limit, s, max_chars);
    p = cs_put_varint(p, (uint64_t)PyUnicode_GET_LENGTH(s));
    size_t room = (size_t)(limit - p) > CS_VARINT_MAX ? (size_t)(limit - p) - CS_VARINT_MAX : 0;
    /* Write the bytes after a maximal-length prefix slot, then move them
     * down once their length is known. */
    unsigned char *body = p + CS_VARINT_MAX;
    size_t n = utf8_prefix(s, (Py_ssize_t)max_chars, body, room);
    unsigned char *after_len = cs_put_varint(p, n);
    memmove(after_len, body, n);
    return after_len + n;
}

static unsigned char *put_text(unsigned char *p, unsigned char *limit, uint8_t tag, PyObject *s,
                               uint32_t max_chars)
{
    *p++ = tag;
    return put_text_body(p, limit, s, max_chars);
}

static unsigned char *put_bytes(unsigned char *p, unsigned char *limit, PyObject *b,
                                uint32_t max_bytes)
{
    Py_ssize_t total = PyBytes_GET_SIZE(b);
    size_t n = (size_t)total < max_bytes ? (size_t)total : max_bytes;
    size_t room = (size_t)(limit - p) > 2 * CS_VARINT_MAX + 1 ? (size_t)(limit - p) - 2 * CS_VARINT_MAX - 1 : 0;
    if (n > room)
        n = room;
    *p++ = V_BYTES;
    p = cs_put_varint(p, (uint64_t)total);
    return cs_put_str(p, PyBytes_AS_STRING(b), n);
}

/* A container starts with its tag and the byte length of the rest (event.h),
 * patched by close_container once the items are in; its items stay within
 * what that length can say. Returns where the length goes. */
static unsigned char *open_container(unsigned char **p, unsigned char **limit, uint8_t tag)
{
    unsigned char *length_at = *p + 1;
    **p = tag;
    *p += 3;
    if (*limit - *p > UINT16_MAX)
        *limit = *p + UINT16_MAX;
    return length_at;
}

static unsigned char *close_container(unsigned char *length_at, unsigned char *p)
{
    cs_put_u16(length_at, (uint16_t)(p - (length_at + 2)));
    return p;
}

static unsigned char *put_sequence(unsigned char *p, unsigned char *limit, uint8_t tag,
                                   PyObject *const *items, Py_ssize_t total,
                                   const struct cs_value_limits *lim, uint32_t nesting)
{
    CS_ASSERT(lim->max_items <= CS_MAX_ITEMS_LIMIT, "the count of items kept is one byte");
    Py_ssize_t shown = total < (Py_ssize_t)lim->max_items ? total : (Py_ssize_t)lim->max_items;
    unsigned char *length_at = open_container(&p, &limit, tag);
    p = cs_put_varint(p, (uint64_t)total);
    unsigned char *count_at = p;
    *p++ = 0; /* patched below: items that fit (max_items < 128 keeps it one byte) */
    Py_ssize_t i = 0;
    for (; i < shown && limit - p > SMALL_VALUE_BYTES * 2; i++)
        p = cs_encode_value(p, limit - SMALL_VALUE_BYTES, items[i], lim, nesting + 1);
    *count_at = (unsigned char)i;
    return close_container(length_at, p);
}

static unsigned char *put_set(unsigned char *p, unsigned char *limit, uint8_t tag, PyObject *set,
                              const struct cs_value_limits *lim, uint32_t nesting)
{
    Py_ssize_t total = PySet_GET_SIZE(set);
    unsigned char *length_at = open_container(&p, &limit, tag);
    p = cs_put_varint(p, (uint64_t)total);
    unsigned char *count_at = p;
    *p++ = 0;
    unsigned shown = 0;
    /* The set iterator is C code and never calls back into Python. */
    PyObject *it = PyObject_GetIter(set);
    if (!it) {
        PyErr_Clear();
        return close_container(length_at, p);
    }
    PyObject *item;
    while (shown < lim->max_items && limit - p > SMALL_VALUE_BYTES * 2 && (item = PyIter_Next(it))) {
        p = cs_encode_value(p, limit - SMALL_VALUE_BYTES, item, lim, nesting + 1);
        Py_DECREF(item);
        shown++;
    }
    Py_DECREF(it);
    PyErr_Clear();
    *count_at = (unsigned char)shown;
    return close_container(length_at, p);
}

/* Room an event must have left for a dict's encoding to be kept or
 * replayed: with this much, no item of a kept encoding (at most
 * CS_DICT_MEMO_MAX_BYTES in all) is cut short for room, so the encoder
 * would write it exactly as kept. */
#define DICT_MEMO_ROOM (CS_DICT_MEMO_MAX_BYTES + SMALL_VALUE_BYTES * 4 + CS_VARINT_MAX + 8)

static unsigned char *put_dict(unsigned char *p, unsigned char *limit, PyObject *d,
                               const struct cs_value_limits *lim, uint32_t nesting)
{
#if CS_PY_HAS_DICT_VERSION
    int keep = limit - p >= DICT_MEMO_ROOM && cs_dict_memo_eligible(d);
    if (keep) {
        size_t len;
        const unsigned char *known = cs_dict_memo_find(d, lim, &len);
        if (known) {
            memcpy(p, known, len);
            return p + len;
        }
    }
    unsigned char *start = p;
#endif
    unsigned char *length_at = open_container(&p, &limit, V_DICT);
    p = cs_put_varint(p, (uint64_t)PyDict_GET_SIZE(d));
    unsigned char *count_at = p;
    *p++ = 0;
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    unsigned shown = 0;
    int scalars = 1; /* every item shown leaves the encoding unchangeable */
    while (shown < lim->max_items && limit - p > SMALL_VALUE_BYTES * 4 && PyDict_Next(d, &pos, &key, &value)) {
        p = cs_encode_value(p, limit - SMALL_VALUE_BYTES * 2, key, lim, nesting + 1);
        p = cs_encode_value(p, limit - SMALL_VALUE_BYTES, value, lim, nesting + 1);
        scalars &= cs_dict_memo_scalar(key) & cs_dict_memo_scalar(value);
        shown++;
    }
    *count_at = (unsigned char)shown;
    p = close_container(length_at, p);
#if CS_PY_HAS_DICT_VERSION
    if (keep && scalars)
        cs_dict_memo_keep(d, lim, start, (size_t)(p - start));
#else
    (void)scalars;
#endif
    return p;
}

static unsigned char *put_object(unsigned char *p, PyObject *v)
{
    *p++ = V_OBJECT;
    p = put_type_name(p, Py_TYPE(v));
    return cs_put_varint(p, (uint64_t)(uintptr_t)v);
}

/* Functions, methods, classes and modules are shown by name, as Python
 * shows them, from their C fields. */
static int put_named(unsigned char **pp, PyObject *v)
{
    const char *kind;
    PyObject *name = NULL;
    char buf[160];
    if (PyFunction_Check(v)) {
        kind = "function";
        name = ((PyFunctionObject *)v)->func_qualname;
    } else if (PyMethod_Check(v) && PyFunction_Check(PyMethod_GET_FUNCTION(v))) {
        kind = "bound method";
        name = ((PyFunctionObject *)PyMethod_GET_FUNCTION(v))->func_qualname;
    } else if (PyCFunction_Check(v)) {
        kind = "built-in function";
        unsigned char *p = *pp;
        *p++ = V_NAMED;
        p = cs_put_str(p, kind, strlen(kind));
        const char *n = ((PyCFunctionObject *)v)->m_ml->ml_name;
        p = cs_put_str(p, n, strnlen(n, 100));
        *pp = cs_put_varint(p, (uint64_t)(uintptr_t)v);
        return 1;
    } else if (PyType_Check(v)) {
        size_t n = cs_type_name((PyTypeObject *)v, buf, sizeof buf);
        unsigned char *p = *pp;
        *p++ = V_NAMED;
        p = cs_put_str(p, "class", 5);
        p = cs_put_str(p, buf, n);
        *pp = cs_put_varint(p, (uint64_t)(uintptr_t)v);
        return 1;
    } else if (PyModule_CheckExact(v)) {
        kind = "module";
        PyObject *dict = PyModule_GetDict(v);
        name = dict ? PyDict_GetItemString(dict, "__name__") : NULL;
    } else {
        return 0;
    }
    Py_ssize_t len = 0;
    const char *text = name && PyUnicode_Check(name) ? PyUnicode_AsUTF8AndSize(name, &len) : NULL;
    if (!text) {
        PyErr_Clear();
        return 0;
    }
    unsigned char *p = *pp;
    *p++ = V_NAMED;
    p = cs_put_str(p, kind, strlen(kind));
    p = cs_put_str(p, text, (size_t)len < 100 ? (size_t)len : 100);
    *pp = cs_put_varint(p, (uint64_t)(uintptr_t)v);
    return 1;
}

/* Types whose __repr__ once took longer than SLOW_REPR_NS: their objects
 * are shown by type and address from then on, so a slow repr costs the
 * program once, not on every call. The types are kept alive so their
 * addresses cannot be reused by others. */
#define SLOW_REPR_NS 10000000
#define MAX_SLOW_TYPES 64
static PyTypeObject *slow_repr_types[MAX_SLOW_TYPES];
static int nslow_repr_types;

static int repr_is_slow(PyTypeObject *t)
{
    for (int i = 0; i < nslow_repr_types; i++)
        if (slow_repr_types[i] == t)
            return 1;
    return 0;
}

static void note_repr_time(PyTypeObject *t, int64_t ns)
{
    if (ns > SLOW_REPR_NS && nslow_repr_types < MAX_SLOW_TYPES) {
        Py_INCREF(t);
        slow_repr_types[nslow_repr_types++] = t;
    }
}

static unsigned char *put_object(unsigned char *p, PyObject *v);

/* --repr: the object's own __repr__, with tracing suspended so it cannot
 * recurse into the tracer, and any exception it raises swallowed. */
static unsigned char *put_repr(unsigned char *p, unsigned char *limit, PyObject *v,
                               const struct cs_value_limits *lim)
{
    int guard = repr_is_slow(Py_TYPE(v)) ? -1 : cs_repr_guard_enter();
    if (guard < 0)
        return put_object(p, v);
    int64_t started = cs_monotonic_ns();
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    int was = cs_values_suspend_tracing ? cs_values_suspend_tracing(1) : 0;
    PyObject *text = NULL;
    if (Py_EnterRecursiveCall(" in callscope repr") == 0) {
        text = PyObject_Repr(v);
        Py_LeaveRecursiveCall();
    }
    int stopped = cs_repr_guard_leave(guard);
    if (cs_values_suspend_tracing)
        cs_values_suspend_tracing(was);
    note_repr_time(Py_TYPE(v), cs_monotonic_ns() - started);
    if (stopped)
        Py_CLEAR(text); /* whatever it made after the exception was raised in it */
    if (text && PyUnicode_Check(text)) {
        *p++ = V_REPR;
        p = put_type_name(p, Py_TYPE(v));
        p = put_text_body(p, limit, text, lim->max_string);
    } else {
        PyObject *etype = PyErr_Occurred();
        *p++ = V_REPR_FAILED;
        p = put_type_name(p, Py_TYPE(v));
        p = cs_put_varint(p, (uint64_t)(uintptr_t)v);
        const char *ename = stopped ? "callscope.ReprTimeout (after " CS_REPR_BOUND_TEXT ")"
                            : etype   ? ((PyTypeObject *)etype)->tp_name
                                      : "TypeError";
        p = cs_put_str(p, ename, strlen(ename) > 80 ? 80 : strlen(ename));
    }
    Py_XDECREF(text);
    PyErr_Clear();
    PyErr_Restore(type, value, tb);
    return p;
}

static unsigned char *put_int(unsigned char *p, PyObject *v)
{
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (!overflow && !(x == -1 && PyErr_Occurred())) {
        *p++ = V_INT;
        return cs_put_svarint(p, x);
    }
    PyErr_Clear();
    /* Big ints: decimal text is C code, but past a few thousand digits it
     * is slow (and refused from 3.11 on), so very large ones give their size. */
    size_t bits = _PyLong_NumBits(v);
    char buf[96];
    if (bits <= 256) {
        /* int's own repr, in C, also for a subclass: str(v) would run the
         * subclass's __str__ (an IntEnum's), which is the program's code. */
        PyObject *s = PyLong_Type.tp_repr(v);
        if (s) {
            Py_ssize_t n;
            const char *u = PyUnicode_AsUTF8AndSize(s, &n);
            if (u) {
                *p++ = V_BIGINT;
                p = cs_put_str(p, u, (size_t)n);
                Py_DECREF(s);
                return p;
            }
            Py_DECREF(s);
        }
        PyErr_Clear();
    }
    int n = snprintf(buf, sizeof buf, "<int of %zu bits>", bits);
    *p++ = V_BIGINT;
    return cs_put_str(p, buf, (size_t)n);
}

/* An instance of a subclass of a built-in type (IntEnum, OrderedDict,
 * a str subclass...): its base part encoded natively, tagged with its name. */
static int builtin_base(PyObject *v)
{
    unsigned long f = Py_TYPE(v)->tp_flags;
    return (f & (Py_TPFLAGS_LONG_SUBCLASS | Py_TPFLAGS_UNICODE_SUBCLASS | Py_TPFLAGS_BYTES_SUBCLASS |
                 Py_TPFLAGS_LIST_SUBCLASS | Py_TPFLAGS_TUPLE_SUBCLASS | Py_TPFLAGS_DICT_SUBCLASS)) != 0 ||
           PyFloat_Check(v);
}

static unsigned char *encode_builtin(unsigned char *p, unsigned char *limit, PyObject *v,
                                     const struct cs_value_limits *lim, uint32_t nesting)
{
    if (PyLong_Check(v))
        return put_int(p, v);
    if (PyUnicode_Check(v))
        return put_text(p, limit, V_STR, v, lim->max_string);
    if (PyFloat_Check(v)) {
        double d = PyFloat_AS_DOUBLE(v);
        uint64_t bits;
        memcpy(&bits, &d, 8);
        *p++ = V_FLOAT;
        return cs_put_u64(p, bits);
    }
    if (PyBytes_Check(v))
        return put_bytes(p, limit, v, lim->max_string);
    if (nesting >= lim->max_nesting) {
        Py_ssize_t len = PyTuple_Check(v) ? PyTuple_GET_SIZE(v)
                         : PyList_Check(v) ? PyList_GET_SIZE(v)
                         : PyDict_Check(v) ? PyDict_GET_SIZE(v)
                         : PyAnySet_Check(v) ? PySet_GET_SIZE(v) : 0;
        return put_elided(p, v, len);
    }
    if (PyTuple_Check(v))
        return put_sequence(p, limit, V_TUPLE, &PyTuple_GET_ITEM(v, 0), PyTuple_GET_SIZE(v), lim, nesting);
    if (PyList_Check(v))
        return put_sequence(p, limit, V_LIST, PyList_GET_SIZE(v) ? &PyList_GET_ITEM(v, 0) : NULL,
                            PyList_GET_SIZE(v), lim, nesting);
    if (PyDict_Check(v))
        return put_dict(p, limit, v, lim, nesting);
    return put_object(p, v);
}

unsigned char *cs_encode_value(unsigned char *p, unsigned char *limit, PyObject *v,
                               const struct cs_value_limits *lim, uint32_t nesting)
{
    if (limit - p < SMALL_VALUE_BYTES) {
        /* Out of budget: keep the event well-formed with the shortest value. */
        *p++ = V_ELIDED;
        p = cs_put_str(p, "…", 3);
        return cs_put_varint(p, 0);
    }
    if (v == NULL) {
        *p++ = V_UNBOUND;
        return p;
    }
    if (Py_TYPE(v) == &PyUnicode_Type && PyUnicode_IS_ASCII(v)) { /* the commonest value of all */
        *p++ = V_STR;
        return put_ascii_body(p, limit, v, lim->max_string);
    }
    int64_t small;
    if (Py_TYPE(v) == &PyLong_Type && cs_small_int(v, &small)) {
        *p++ = V_INT;
        return cs_put_svarint(p, small);
    }
    if (v == Py_None) {
        *p++ = V_NONE;
        return p;
    }
    if (v == Py_True || v == Py_False) {
        *p++ = v == Py_True ? V_TRUE : V_FALSE;
        return p;
    }
    PyTypeObject *t = Py_TYPE(v);
    if (t == &PyLong_Type || t == &PyUnicode_Type || t == &PyFloat_Type || t == &PyBytes_Type ||
        t == &PyTuple_Type || t == &PyList_Type || t == &PyDict_Type)
        return encode_builtin(p, limit, v, lim, nesting);
    if (t == &PySet_Type || t == &PyFrozenSet_Type) {
        if (nesting >= lim->max_nesting)
            return put_elided(p, v, PySet_GET_SIZE(v));
        return put_set(p, limit, t == &PySet_Type ? V_SET : V_FROZENSET, v, lim, nesting);
    }
    if (put_named(&p, v))
        return p;
    if (lim->use_repr)
        return put_repr(p, limit, v, lim);
    if (builtin_base(v) && !PyType_Check(v)) {
        *p++ = V_SUBCLASS;
        p = put_type_name(p, t);
        return encode_builtin(p, limit, v, lim, nesting);
    }
    return put_object(p, v);
}

unsigned char *cs_encode_exception(unsigned char *p, unsigned char *limit, PyObject *type,
                                   PyObject *value, const struct cs_value_limits *lim)
{
    if (!type && value)
        type = (PyObject *)Py_TYPE(value);
    if (type && PyType_Check(type))
        p = put_type_name(p, (PyTypeObject *)type);
    else /* the profile hook (--deep-recursion before 3.12) is not told which */
        p = cs_put_str(p, "<exception>", 11);
    /* The message: str(exc) is the lone str argument, as Python prints it. */
    struct cs_value_limits message_limits = *lim;
    message_limits.use_repr = 0;
    if (message_limits.max_string < 400)
        message_limits.max_string = 400;
    /* Before 3.12 an exception raised by C code may not have been made yet:
     * its value is then the constructor's arguments (a tuple), its lone
     * argument, or nothing, read here as the instance's args would be. */
    PyObject *args = NULL, *lone = NULL;
    if (value && PyExceptionInstance_Check(value))
        args = ((PyBaseExceptionObject *)value)->args;
    else if (value && PyTuple_Check(value))
        args = value;
    else if (value && value != Py_None)
        lone = value;
    else if (!type || !PyType_Check(type))
        return cs_encode_value(p, limit, Py_None, &message_limits, 0); /* not known at all */
    if (args && PyTuple_CheckExact(args) && PyTuple_GET_SIZE(args) == 1)
        lone = PyTuple_GET_ITEM(args, 0);
    if (lone) {
        /* KeyError shows its key as repr() ('k', not k); for an exact str
         * that is C code, safe to run here. */
        if (PyUnicode_CheckExact(lone) && PyErr_GivenExceptionMatches(type, PyExc_KeyError)) {
            PyObject *text = PyObject_Repr(lone);
            if (text) {
                p = cs_encode_value(p, limit, text, &message_limits, 0);
                Py_DECREF(text);
                return p;
            }
            PyErr_Clear();
        }
        return cs_encode_value(p, limit, lone, &message_limits, 0);
    }
    if (!args || (PyTuple_CheckExact(args) && PyTuple_GET_SIZE(args) == 0)) {
        *p++ = V_STR; /* no message */
        p = cs_put_varint(p, 0);
        return cs_put_varint(p, 0);
    }
    return cs_encode_value(p, limit, args, &message_limits, 0);
}
