/*
 * readable.h — what a live condition may read of the program's objects
 * without running any of the program's code.
 *
 * A condition compares, hashes, iterates and converts values. On built-in
 * scalars, and on containers of exactly the built-in types that hold only
 * such values, the interpreter does that in its own C code; on anything
 * else it may call the program's methods (__eq__, __hash__, __len__,
 * __iter__, __str__, properties, __getattr__), which can take any time and
 * change what the program computes (an iterator consumed, a cache filled).
 * Those values are "not readable": the operation raises, the condition
 * counts as false, and the client is told why once.
 *
 * Each check charges the items it looks at to the evaluation's budget, so
 * one evaluation does bounded work whatever the values hold.
 */
#ifndef CALLSCOPE_LIVE_READABLE_H
#define CALLSCOPE_LIVE_READABLE_H

#include <Python.h>

/* Items one evaluation may look at, over all its checks and steps. */
#define CS_READ_BUDGET 2000000

struct cs_read_budget {
    long long left; /* starts at CS_READ_BUDGET */
};

/* Charges n items; -1 with a Python error when the budget is spent. */
int cs_read_charge(struct cs_read_budget *b, long long n);

/* 0 when every operation on o runs only the interpreter's own code: None,
 * bool, int, float, complex, str, bytes, and tuple, list, dict, set,
 * frozenset and dict views of exactly those types holding readable values
 * (to a nesting of 32). -1 with a Python error naming what is not. */
int cs_readable(struct cs_read_budget *b, PyObject *o);

/* 0 when o is a built-in value whose truth and len() are its own (a
 * built-in scalar or container, whatever it holds); -1 with an error. */
int cs_readable_shallow(PyObject *o);

/* obj.name without running program code: a built-in value's own
 * attribute, an exception's C-level attributes (args...), a __slots__
 * member, or an instance's __dict__ entry when no property or other
 * descriptor of its class takes the name and the class keeps Python's own
 * attribute lookup. New reference, or NULL with an error. */
PyObject *cs_read_attribute(PyObject *obj, const char *name);

/* obj[key]: a tuple, list, str or bytes by int (or slice of ints), or a dict
 * whose keys are readable by a readable key. New reference, or NULL. */
PyObject *cs_read_item(struct cs_read_budget *b, PyObject *obj, PyObject *key);

/* str(o) for a readable o, or for an exception whose class and bases
 * define no __str__ of the program's and whose args are readable. */
PyObject *cs_read_str(struct cs_read_budget *b, PyObject *o);

#endif
