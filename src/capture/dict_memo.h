/*
 * dict_memo.h — the encodings of dicts passed again unchanged.
 *
 * Programs pass the same small dict at call after call: a module's table
 * of escapes (json's BACKSLASH, at every py_scanstring call), a config, a
 * memo that has stopped growing. Encoding it again costs a walk of its
 * items and a copy of each. While a dict keeps its address and its version
 * tag (PEP 509: every change of its contents gives it a new one, and a new
 * dict gets one never given before), its encoding cannot have changed, if
 * what it shows are immutable scalars: the encoding kept from the last time
 * is copied instead.
 *
 * Only exact dicts (a subclass may iterate in its own order) with a
 * combined table (3.13 changes a split instance dict's values in place,
 * keeping its tag) are kept, and only when every item shown is an exact
 * str, int, float, bool or None, so that nothing the encoding shows can
 * change without the dict's own tag changing. Only encodings made and
 * replayed with plenty of room in the event are kept: with less, the
 * encoder would cut values short, and the copy would not be what it
 * writes. The limits it was made under (the recording's, or a live
 * command's) and the interpreter (from 3.12 each counts versions on its
 * own) are part of the key.
 *
 * Interpreters of 3.14 and later have no version tag: nothing is kept there
 * (CS_PY_HAS_DICT_VERSION). The table is the process's and used under the
 * GIL, like the rest of the capture.
 */
#ifndef CALLSCOPE_DICT_MEMO_H
#define CALLSCOPE_DICT_MEMO_H

#include <Python.h>

#include "capture/values.h"
#include "py/compat.h"

/* An encoding kept is at most this long; it is made and replayed only when
 * the event has at least CS_DICT_MEMO_ROOM bytes left. */
#define CS_DICT_MEMO_MAX_BYTES 240

#if CS_PY_HAS_DICT_VERSION

/* The encoding of `d` kept from when it was last encoded under the same
 * limits, if `d` has not changed since; NULL otherwise. */
const unsigned char *cs_dict_memo_find(PyObject *d, const struct cs_value_limits *lim, size_t *len);

/* Keeps the encoding [bytes, bytes + len) of `d` under `lim`, whose items
 * shown were all immutable scalars. */
void cs_dict_memo_keep(PyObject *d, const struct cs_value_limits *lim, const unsigned char *bytes, size_t len);

/* Whether `d` may be kept at all: an exact dict with a combined table. */
static inline int cs_dict_memo_eligible(PyObject *d)
{
    return Py_TYPE(d) == &PyDict_Type && cs_dict_is_combined(d);
}

#endif

/* Whether an item of a dict leaves its encoding unchangeable while the
 * dict's tag stays the same. */
static inline int cs_dict_memo_scalar(PyObject *v)
{
    PyTypeObject *t = Py_TYPE(v);
    return t == &PyUnicode_Type || t == &PyLong_Type || t == &PyFloat_Type || t == &PyBool_Type ||
           v == Py_None;
}

#endif
