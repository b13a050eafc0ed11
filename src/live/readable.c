/*
 * readable.c — what a live condition may read (see readable.h).
 */
#include "live/readable.h"

#include <string.h>

#include "py/compat.h"

#define MAX_NESTING 32

int cs_read_charge(struct cs_read_budget *b, long long n)
{
    b->left -= n;
    if (b->left >= 0)
        return 0;
    PyErr_Format(PyExc_MemoryError, "the condition reads more than %d items in one call", CS_READ_BUDGET);
    return -1;
}

int cs_too_large(long long n)
{
    if (n <= CS_MAX_RESULT)
        return 0;
    PyErr_Format(PyExc_MemoryError, "a condition may not build values of over %d items", CS_MAX_RESULT);
    return -1;
}

static int not_readable(PyObject *o)
{
    PyErr_Format(PyExc_TypeError,
                 "a %.100s is not readable: reading it could run the program's own code (only built-in values "
                 "and containers of them are)",
                 Py_TYPE(o)->tp_name);
    return -1;
}

static int scalar(PyObject *o)
{
    return o == Py_None || PyBool_Check(o) || PyLong_CheckExact(o) || PyFloat_CheckExact(o) ||
           PyComplex_CheckExact(o) || PyUnicode_CheckExact(o) || PyBytes_CheckExact(o);
}

/* The characters or bytes that comparing, hashing or copying a scalar
 * reads. */
static long long scalar_size(PyObject *o)
{
    if (PyUnicode_CheckExact(o))
        return PyUnicode_GetLength(o);
    if (PyBytes_CheckExact(o))
        return PyBytes_GET_SIZE(o);
    if (PyLong_CheckExact(o))
        return (long long)(_PyLong_NumBits(o) / 8);
    return 0;
}

static int dict_view(PyObject *o)
{
    return Py_TYPE(o) == &PyDictKeys_Type || Py_TYPE(o) == &PyDictValues_Type || Py_TYPE(o) == &PyDictItems_Type;
}

static int container(PyObject *o)
{
    return PyTuple_CheckExact(o) || PyList_CheckExact(o) || PyDict_CheckExact(o) || Py_TYPE(o) == &PySet_Type ||
           PyFrozenSet_CheckExact(o) || dict_view(o);
}

static int readable_at(struct cs_read_budget *b, PyObject *o, int nesting)
{
    if (cs_read_charge(b, 1) != 0)
        return -1;
    if (scalar(o))
        return cs_read_charge(b, scalar_size(o) / CS_READ_CHUNK);
    if (!container(o))
        return not_readable(o);
    if (nesting >= MAX_NESTING) {
        PyErr_Format(PyExc_TypeError, "a value nested over %d levels deep is not readable", MAX_NESTING);
        return -1;
    }
    if (PyTuple_CheckExact(o) || PyList_CheckExact(o)) {
        /* Items are read by index: a list may not change under us, as
         * nothing here runs Python code. */
        for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(o); i++)
            if (readable_at(b, PySequence_Fast_GET_ITEM(o, i), nesting + 1) != 0)
                return -1;
        return 0;
    }
    if (PyDict_CheckExact(o)) {
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (PyDict_Next(o, &pos, &k, &v))
            if (readable_at(b, k, nesting + 1) != 0 || readable_at(b, v, nesting + 1) != 0)
                return -1;
        return 0;
    }
    /* Sets and dict views: their iterators are the interpreter's own. */
    PyObject *it = PyObject_GetIter(o), *item;
    if (!it)
        return -1;
    int rc = 0;
    while (rc == 0 && (item = PyIter_Next(it)) != NULL) {
        rc = readable_at(b, item, nesting + 1);
        Py_DECREF(item);
    }
    Py_DECREF(it);
    return rc == 0 && PyErr_Occurred() ? -1 : rc;
}

int cs_readable(struct cs_read_budget *b, PyObject *o)
{
    return readable_at(b, o, 0);
}

int cs_readable_shallow(PyObject *o)
{
    return scalar(o) || container(o) ? 0 : not_readable(o);
}

/* The class in the MRO whose dict holds name, and what it holds (new
 * references), or NULLs: dictionary lookups with a str key, no metaclass
 * involved. */
static PyObject *class_attribute(PyTypeObject *type, PyObject *name, PyTypeObject **owner)
{
    PyObject *mro = type->tp_mro;
    for (Py_ssize_t i = 0; mro && i < PyTuple_GET_SIZE(mro); i++) {
        PyTypeObject *cls = (PyTypeObject *)PyTuple_GET_ITEM(mro, i);
        PyObject *dict = cs_type_dict(cls);
        PyObject *found = dict ? PyDict_GetItemWithError(dict, name) : NULL;
        Py_XINCREF(found);
        Py_XDECREF(dict);
        if (found || PyErr_Occurred()) {
            if (owner)
                *owner = cls;
            return found;
        }
    }
    return NULL;
}

/* Whether a class is one of the interpreter's io streams, or derives from
 * one: their C getters (closed, name, mode, newlines) read the attributes
 * of the stream they wrap, which may be a Python class of the program's. */
static int is_stream(PyTypeObject *type)
{
    PyObject *mro = type->tp_mro;
    for (Py_ssize_t i = 0; mro && i < PyTuple_GET_SIZE(mro); i++)
        if (!strcmp(((PyTypeObject *)PyTuple_GET_ITEM(mro, i))->tp_name, "_io._IOBase"))
            return 1;
    return 0;
}

/* 1 when every key of dict (NULL: none) is exactly a str, 0 when not, -1
 * with an error when the budget is spent. A name looked up in a dict is
 * compared with each key of the same hash: a str subclass (or any other
 * object) as a key would have its __eq__ run. */
static int str_keys_only(struct cs_read_budget *b, PyObject *dict)
{
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    if (!dict || !PyDict_Check(dict))
        return 1;
    if (cs_read_charge(b, PyDict_GET_SIZE(dict)) != 0)
        return -1;
    while (PyDict_Next(dict, &pos, &k, &v))
        if (!PyUnicode_CheckExact(k))
            return 0;
    return 1;
}

/* Whether looking a name up on obj compares only exact str keys: those of
 * its own __dict__ and of its classes' (the interpreter's own classes hold
 * nothing else, and cannot be given other keys). 1, 0 or -1. */
static int lookup_is_plain(struct cs_read_budget *b, PyObject *obj)
{
    int plain = str_keys_only(b, cs_instance_dict(obj));
    PyObject *mro = Py_TYPE(obj)->tp_mro;
    for (Py_ssize_t i = 0; plain == 1 && mro && i < PyTuple_GET_SIZE(mro); i++) {
        PyTypeObject *cls = (PyTypeObject *)PyTuple_GET_ITEM(mro, i);
        if (cls->tp_flags & Py_TPFLAGS_HEAPTYPE) {
            PyObject *dict = cs_type_dict(cls);
            plain = str_keys_only(b, dict);
            Py_XDECREF(dict);
        }
    }
    return plain;
}

/* For a classmethod over another descriptor, that descriptor's type, whose
 * __get__ 3.9 to 3.12 call on reading it (a property's getter, a __get__
 * written in Python); else NULL. */
static PyTypeObject *classmethod_chain(PyObject *found)
{
    if (Py_TYPE(found) != &PyClassMethod_Type)
        return NULL;
    PyObject *func = PyObject_GetAttrString(found, "__func__"); /* a member */
    PyTypeObject *chained = NULL;
    if (func && Py_TYPE(func)->tp_descr_get && !PyFunction_Check(func))
        chained = Py_TYPE(func);
    Py_XDECREF(func); /* the classmethod keeps it, and so its type */
    PyErr_Clear();
    return chained;
}

PyObject *cs_read_attribute(struct cs_read_budget *b, PyObject *obj, const char *name)
{
    if (scalar(obj) || container(obj))
        return PyObject_GetAttrString(obj, name); /* the type's own C attributes */
    PyTypeObject *type = Py_TYPE(obj);
    if (type->tp_getattro != PyObject_GenericGetAttr) {
        PyErr_Format(PyExc_TypeError, "attributes of a %.100s are not readable: its class computes them itself",
                     type->tp_name);
        return NULL;
    }
    if (is_stream(type)) {
        PyErr_Format(PyExc_TypeError, "attributes of a %.100s are not readable: it is a stream, whose "
                     "attributes come from the stream it wraps", type->tp_name);
        return NULL;
    }
    int plain = lookup_is_plain(b, obj);
    if (plain <= 0) {
        if (plain == 0)
            PyErr_Format(PyExc_TypeError, "attributes of a %.100s are not readable: its __dict__ or its class's "
                         "has a key that is not a plain str", type->tp_name);
        return NULL;
    }
    PyObject *key = PyUnicode_FromString(name);
    if (!key)
        return NULL;
    PyObject *found = class_attribute(type, key, NULL);
    /* C getters and __slots__ members read memory, and a plain class value
     * is just read; a property, or a descriptor written in Python, runs the
     * program's code. */
    PyTypeObject *kind = found ? Py_TYPE(found) : NULL;
    PyTypeObject *chained = found ? classmethod_chain(found) : NULL;
    if (chained) {
        PyErr_Format(PyExc_TypeError, "%.100s.%s is not readable: the class defines it as a classmethod over a "
                     "%.100s", type->tp_name, name, chained->tp_name);
        Py_DECREF(found);
        Py_DECREF(key);
        return NULL;
    }
    if (kind && kind->tp_descr_get && (kind == &PyProperty_Type || (kind->tp_flags & Py_TPFLAGS_HEAPTYPE))) {
        PyErr_Format(PyExc_TypeError, "%.100s.%s is not readable: the class defines it as a %.100s", type->tp_name,
                     name, Py_TYPE(found)->tp_name);
        Py_DECREF(found);
        Py_DECREF(key);
        return NULL;
    }
    Py_XDECREF(found);
    PyObject *r = PyErr_Occurred() ? NULL : PyObject_GenericGetAttr(obj, key);
    Py_DECREF(key);
    return r;
}

PyObject *cs_read_item(struct cs_read_budget *b, PyObject *obj, PyObject *key)
{
    if (PyTuple_CheckExact(obj) || PyList_CheckExact(obj) || PyUnicode_CheckExact(obj) || PyBytes_CheckExact(obj)) {
        int index = PyLong_CheckExact(key) || PyBool_Check(key);
        if (PySlice_Check(key)) {
            PySliceObject *s = (PySliceObject *)key;
            index = (s->start == Py_None || PyLong_CheckExact(s->start)) &&
                    (s->stop == Py_None || PyLong_CheckExact(s->stop)) &&
                    (s->step == Py_None || PyLong_CheckExact(s->step));
        }
        if (!index) {
            PyErr_Format(PyExc_TypeError, "a %.100s is indexed by an int here, not a %.100s", Py_TYPE(obj)->tp_name,
                         Py_TYPE(key)->tp_name);
            return NULL;
        }
        if (PySlice_Check(key) && cs_read_charge(b, PyObject_Length(obj)) != 0)
            return NULL;
        return PyObject_GetItem(obj, key);
    }
    if (PyDict_CheckExact(obj)) {
        /* A lookup compares the key with the keys of its hash. */
        if (cs_readable(b, key) != 0)
            return NULL;
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (PyDict_Next(obj, &pos, &k, &v))
            if (cs_readable(b, k) != 0)
                return NULL;
        return PyObject_GetItem(obj, key);
    }
    not_readable(obj);
    return NULL;
}

/* Whether the class that defines __str__ for this type is a built-in one:
 * one written in Python (a heap type) would run the program's code. */
static int str_is_builtin(PyTypeObject *type)
{
    PyObject *key = PyUnicode_FromString("__str__");
    PyTypeObject *owner = NULL;
    PyObject *found = key ? class_attribute(type, key, &owner) : NULL;
    int builtin = found && !(owner->tp_flags & Py_TPFLAGS_HEAPTYPE);
    Py_XDECREF(found);
    Py_XDECREF(key);
    PyErr_Clear();
    return builtin;
}

int cs_text_width(PyObject *s)
{
    if (cs_str_ready(s) != 0)
        return -1;
    if (PyUnicode_IS_ASCII(s))
        return 1;
    switch (PyUnicode_KIND(s)) {
    case PyUnicode_1BYTE_KIND: return 2;
    case PyUnicode_2BYTE_KIND: return 3;
    default: return 4;
    }
}

/* The most characters repr(o) of a readable o may take (str(o) when top:
 * a text is then itself), or -1 with an error when that passes
 * CS_MAX_RESULT, or an int in it has over CS_MAX_INT_DIGITS digits. */
static long long text_bound(PyObject *o, int top, int nesting)
{
    long long n;
    if (o == Py_None || PyBool_Check(o))
        return 5;
    if (PyFloat_CheckExact(o))
        return 32;
    if (PyComplex_CheckExact(o))
        return 68;
    if (PyLong_CheckExact(o)) {
        n = (long long)((double)_PyLong_NumBits(o) * 0.30103) + 1; /* digits: log10(2) is 0.30102999... */
        if (n > CS_MAX_INT_DIGITS) {
            PyErr_Format(PyExc_MemoryError, "a condition may not convert ints of over %d digits to text",
                         CS_MAX_INT_DIGITS);
            return -1;
        }
        return n + 1;
    }
    if (PyUnicode_CheckExact(o)) {
        /* its repr writes a character as up to 4 (\xe9), 6 (\u20ac) or 10
         * (\U0001f600) */
        int width = cs_text_width(o);
        if (width < 0)
            return -1;
        n = PyUnicode_GetLength(o);
        if (top)
            return n; /* str() returns the text itself */
        n = n * (width <= 2 ? 4 : width == 3 ? 6 : 10) + 2;
    } else if (PyBytes_CheckExact(o)) {
        n = (long long)PyBytes_GET_SIZE(o) * 4 + 3;
    } else if (nesting >= MAX_NESTING) {
        PyErr_Format(PyExc_TypeError, "a value nested over %d levels deep is not readable", MAX_NESTING);
        return -1;
    } else if (PyTuple_CheckExact(o) || PyList_CheckExact(o)) {
        n = 3;
        for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(o) && n <= CS_MAX_RESULT; i++) {
            long long item = text_bound(PySequence_Fast_GET_ITEM(o, i), 0, nesting + 1);
            if (item < 0)
                return -1;
            n += item + 2;
        }
    } else if (PyDict_CheckExact(o)) {
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        n = 2;
        while (n <= CS_MAX_RESULT && PyDict_Next(o, &pos, &k, &v)) {
            long long kn = text_bound(k, 0, nesting + 1), vn = kn < 0 ? -1 : text_bound(v, 0, nesting + 1);
            if (vn < 0)
                return -1;
            n += kn + vn + 4;
        }
    } else {
        /* sets, frozensets and dict views: "frozenset({...})",
         * "dict_items([(k, v), ...])" */
        PyObject *it = PyObject_GetIter(o), *item;
        if (!it)
            return -1;
        n = 20;
        while (n <= CS_MAX_RESULT && (item = PyIter_Next(it)) != NULL) {
            long long in = text_bound(item, 0, nesting + 1);
            Py_DECREF(item);
            if (in < 0) {
                Py_DECREF(it);
                return -1;
            }
            n += in + 2;
        }
        Py_DECREF(it);
        if (PyErr_Occurred())
            return -1;
    }
    return cs_too_large(n) ? -1 : n;
}

PyObject *cs_read_str(struct cs_read_budget *b, PyObject *o)
{
    if (PyExceptionInstance_Check(o)) {
        if (!str_is_builtin(Py_TYPE(o))) {
            PyErr_Format(PyExc_TypeError, "str() of a %.100s is not readable: its class defines __str__",
                         Py_TYPE(o)->tp_name);
            return NULL;
        }
        /* What the built-in __str__ formats: the args, and some classes'
         * own fields, which the program may set to anything. */
        PyObject *fields[5] = {((PyBaseExceptionObject *)o)->args};
        size_t n = 1;
        if (PyObject_TypeCheck(o, (PyTypeObject *)PyExc_OSError)) {
            PyOSErrorObject *e = (PyOSErrorObject *)o; /* "[Errno 2] strerror: 'filename'" */
            fields[n++] = e->myerrno;
            fields[n++] = e->strerror;
            fields[n++] = e->filename;
            fields[n++] = e->filename2;
        } else if (PyObject_TypeCheck(o, (PyTypeObject *)PyExc_SyntaxError)) {
            PySyntaxErrorObject *e = (PySyntaxErrorObject *)o; /* "msg (filename, line 1)" */
            fields[n++] = e->msg;
            fields[n++] = e->filename;
            fields[n++] = e->lineno;
        } else if (PyObject_TypeCheck(o, (PyTypeObject *)PyExc_UnicodeEncodeError) ||
                   PyObject_TypeCheck(o, (PyTypeObject *)PyExc_UnicodeDecodeError) ||
                   PyObject_TypeCheck(o, (PyTypeObject *)PyExc_UnicodeTranslateError)) {
            /* "'utf-8' codec can't decode byte 0xff in position 0: reason":
             * one character of its object, none of its args */
            PyUnicodeErrorObject *e = (PyUnicodeErrorObject *)o;
            if ((e->object && cs_readable(b, e->object) != 0) || (fields[0] && cs_readable(b, fields[0]) != 0))
                return NULL;
            fields[0] = e->encoding;
            fields[n++] = e->reason;
#if CS_PY_AT_LEAST(3, 11)
        } else if (PyObject_TypeCheck(o, (PyTypeObject *)PyExc_BaseExceptionGroup)) {
            fields[n++] = ((PyBaseExceptionGroupObject *)o)->msg; /* "msg (2 sub-exceptions)" */
#endif
        }
        long long size = 64;
        for (size_t i = 0; i < n; i++) {
            long long part = fields[i] && cs_readable(b, fields[i]) == 0 ? text_bound(fields[i], 0, 0) : 0;
            if (PyErr_Occurred())
                return NULL;
            size += part;
        }
        return cs_too_large(size) ? NULL : PyObject_Str(o);
    }
    if (cs_readable(b, o) != 0 || text_bound(o, 1, 0) < 0)
        return NULL;
    return PyObject_Str(o);
}
