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
        return 0;
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

PyObject *cs_read_attribute(PyObject *obj, const char *name)
{
    if (scalar(obj) || container(obj))
        return PyObject_GetAttrString(obj, name); /* the type's own C attributes */
    PyTypeObject *type = Py_TYPE(obj);
    if (type->tp_getattro != PyObject_GenericGetAttr) {
        PyErr_Format(PyExc_TypeError, "attributes of a %.100s are not readable: its class computes them itself",
                     type->tp_name);
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

PyObject *cs_read_str(struct cs_read_budget *b, PyObject *o)
{
    if (PyExceptionInstance_Check(o)) {
        PyObject *args = ((PyBaseExceptionObject *)o)->args;
        if (!str_is_builtin(Py_TYPE(o))) {
            PyErr_Format(PyExc_TypeError, "str() of a %.100s is not readable: its class defines __str__",
                         Py_TYPE(o)->tp_name);
            return NULL;
        }
        if (args && cs_readable(b, args) != 0)
            return NULL;
        if (PyObject_TypeCheck(o, (PyTypeObject *)PyExc_OSError)) {
            /* its message names its files */
            PyOSErrorObject *e = (PyOSErrorObject *)o;
            if ((e->filename && cs_readable(b, e->filename) != 0) || (e->filename2 && cs_readable(b, e->filename2) != 0))
                return NULL;
        }
        return PyObject_Str(o);
    }
    if (cs_readable(b, o) != 0)
        return NULL;
    return PyObject_Str(o);
}
