/*
 * code.c — what a code object says of itself (see code.h).
 */
#include "py/code.h"

#include <string.h>

#if !CS_PY_CODE_HAS_QUALNAME
/* Before 3.11: find the class in the first argument's MRO (or the first
 * argument itself, for classmethods) whose dict holds a function with this
 * code. Dictionary lookups only: no Python code runs. */
static int runs_code(PyObject *function, PyCodeObject *code)
{
    int found = function && PyFunction_Check(function) && PyFunction_GET_CODE(function) == (PyObject *)code;
    Py_XDECREF(function);
    return found;
}

/* Whether a class attribute is the function of this code: plain, a class
 * or static method, or a property's getter, setter or deleter (their
 * wrappers' attributes are C members: no Python code runs). */
static int is_defined_by(PyObject *attr, PyCodeObject *code)
{
    if (Py_TYPE(attr) == &PyClassMethod_Type || Py_TYPE(attr) == &PyStaticMethod_Type)
        return runs_code(PyObject_GetAttrString(attr, "__func__"), code);
    if (Py_TYPE(attr) == &PyProperty_Type)
        return runs_code(PyObject_GetAttrString(attr, "fget"), code) ||
               runs_code(PyObject_GetAttrString(attr, "fset"), code) ||
               runs_code(PyObject_GetAttrString(attr, "fdel"), code);
    return PyFunction_Check(attr) && PyFunction_GET_CODE(attr) == (PyObject *)code;
}

/* The class's own qualified name: a heap type's __qualname__, or a
 * built-in type's name without its module. */
static PyObject *class_qualname(PyTypeObject *cls)
{
    if (cls->tp_flags & Py_TPFLAGS_HEAPTYPE)
        return Py_NewRef(((PyHeapTypeObject *)cls)->ht_qualname);
    const char *dot = strrchr(cls->tp_name, '.');
    return PyUnicode_FromString(dot ? dot + 1 : cls->tp_name);
}

static PyObject *qualname_from_class(PyCodeObject *code, PyObject *first_arg)
{
    if (!first_arg)
        return NULL;
    PyTypeObject *start = PyType_Check(first_arg) ? (PyTypeObject *)first_arg : Py_TYPE(first_arg);
    PyObject *mro = start->tp_mro;
    if (!mro || !PyTuple_Check(mro))
        return NULL;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(mro); i++) {
        PyTypeObject *cls = (PyTypeObject *)PyTuple_GET_ITEM(mro, i);
        PyObject *attr = cls->tp_dict ? PyDict_GetItemWithError(cls->tp_dict, code->co_name) : NULL;
        if (attr && is_defined_by(attr, code)) {
            PyObject *owner = class_qualname(cls);
            PyObject *q = owner ? PyUnicode_FromFormat("%U.%U", owner, code->co_name) : NULL;
            Py_XDECREF(owner);
            return q;
        }
    }
    PyErr_Clear();
    return NULL;
}
#endif

PyObject *cs_py_code_qualname(PyCodeObject *code, PyObject *first_arg)
{
#if CS_PY_CODE_HAS_QUALNAME
    (void)first_arg;
    return Py_NewRef(code->co_qualname);
#else
    PyObject *q = qualname_from_class(code, first_arg);
    if (q)
        return q;
    PyErr_Clear();
    return Py_NewRef(code->co_name);
#endif
}

Py_ssize_t cs_py_request_code_extra(freefunc free_fn)
{
    return cs_request_code_extra_index(free_fn);
}

void *cs_py_code_extra(PyCodeObject *code, Py_ssize_t index)
{
    void *extra = NULL;
    if (cs_code_get_extra((PyObject *)code, index, &extra) != 0)
        PyErr_Clear();
    return extra;
}

int cs_py_set_code_extra(PyCodeObject *code, Py_ssize_t index, void *value)
{
    return cs_code_set_extra((PyObject *)code, index, value);
}
