/*
 * values.h — encodes Python objects as event values (see core/event.h)
 * without running any of the program's Python code.
 *
 * Built-in scalars and shallow views of built-in containers are encoded
 * natively; any other object as its type name and address, or, with --repr,
 * as the text of its own __repr__ called under guard. The encoder never
 * writes past `limit`: what does not fit becomes V_ELIDED.
 */
#ifndef CALLSCOPE_VALUES_H
#define CALLSCOPE_VALUES_H

#include <Python.h>

#include "core/ring.h"

struct cs_value_limits {
    uint32_t max_string;
    uint32_t max_items;
    uint32_t max_nesting;
    int use_repr;
};

/* Returns the new end; `limit` must leave room for at least 32 bytes. */
unsigned char *cs_encode_value(unsigned char *p, unsigned char *limit, PyObject *v,
                               const struct cs_value_limits *lim, uint32_t nesting);

/* Exception type name and message (EV_UNWIND's payload). `value` may be an
 * exception instance or, before normalisation on old Pythons, any object;
 * both NULL when the exception is not known. */
unsigned char *cs_encode_exception(unsigned char *p, unsigned char *limit, PyObject *type,
                                   PyObject *value, const struct cs_value_limits *lim);

/* "module.Qualname" of a type, or just "Name" for builtins; into buf. */
size_t cs_type_name(PyTypeObject *t, char *buf, size_t size);

/* The value encoder must not re-enter tracing while it runs a __repr__. */
extern int (*cs_values_suspend_tracing)(int on);

#endif
