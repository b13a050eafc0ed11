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

/* Items one evaluation may look at, over all its checks and steps. A
 * text, bytes or int counts one more item for every CS_READ_CHUNK
 * characters or bytes it holds: comparing, hashing or copying it reads all
 * of them, so a list of a million references to one long text costs what
 * comparing it does. */
#define CS_READ_BUDGET 2000000
#define CS_READ_CHUNK 64

/* No step of a condition builds a value of over this many items or
 * characters. */
#define CS_MAX_RESULT 1000000

struct cs_read_budget {
    long long left; /* starts at CS_READ_BUDGET */
};

/* Charges n items; -1 with a Python error when the budget is spent. */
int cs_read_charge(struct cs_read_budget *b, long long n);

/* 0 when a value of n items may be built; else -1 with a MemoryError. */
int cs_too_large(long long n);

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
 * attribute lookup. Not an io stream's (its C getters read the attributes
 * of the stream it wraps), nor any object's whose __dict__ or class
 * __dict__ has a key that is not exactly a str (the lookup would compare
 * it with the name, running its __eq__). New reference, or NULL with an
 * error. */
PyObject *cs_read_attribute(struct cs_read_budget *b, PyObject *obj, const char *name);

/* obj[key]: a tuple, list, str or bytes by int (or slice of ints), or a dict
 * whose keys are readable by a readable key. New reference, or NULL. */
PyObject *cs_read_item(struct cs_read_budget *b, PyObject *obj, PyObject *key);

/* str(o) for a readable o, or for an exception whose class and bases
 * define no __str__ of the program's and whose args, and the fields its
 * __str__ formats (an OSError's errno and strerror, a SyntaxError's msg,
 * a UnicodeError's reason...), are readable. Refused when the text could
 * pass CS_MAX_RESULT characters, or would convert an int of over
 * CS_MAX_INT_DIGITS digits. */
PyObject *cs_read_str(struct cs_read_budget *b, PyObject *o);

/* How much a text may grow when re-encoded: 1 when it is ASCII, 2 when
 * latin-1, 3 within the BMP, 4 beyond (its UTF-8 bytes per character at
 * most); -1 with an error. */
int cs_text_width(PyObject *s);

/* Python's own default limit on int/str conversions. A program may lift
 * it, but a longer conversion grows as the square of its length, and from
 * 3.12 one of over 6,000 digits imports _pylong (program-visible, and it
 * runs import hooks). */
#define CS_MAX_INT_DIGITS 4300

#endif
