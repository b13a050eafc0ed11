/*
 * family_ints.h — reading a small int straight from its object, the one
 * piece of value capture whose layout differs between Python families.
 * Most arguments and results are small ints; this spares them a call into
 * the interpreter.
 */
#ifndef CALLSCOPE_FAMILY_INTS_H
#define CALLSCOPE_FAMILY_INTS_H

#include <Python.h>

#if PY_VERSION_HEX >= 0x030C0000
/* 3.12+: a "compact" int holds at most one digit, with its sign in the tag. */
static inline int cs_small_int(PyObject *v, int64_t *out)
{
    if (!PyUnstable_Long_IsCompact((PyLongObject *)v))
        return 0;
    *out = (int64_t)PyUnstable_Long_CompactValue((PyLongObject *)v);
    return 1;
}
#else
/* 3.8–3.11: the size's sign is the int's sign, its magnitude the digits. */
static inline int cs_small_int(PyObject *v, int64_t *out)
{
    Py_ssize_t size = Py_SIZE(v);
    if (size < -1 || size > 1)
        return 0;
    *out = size * (int64_t)((PyLongObject *)v)->ob_digit[0];
    return 1;
}
#endif

#endif
