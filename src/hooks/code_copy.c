/*
 * code_copy.c — code objects with an entry hook, for live observation on
 * 3.11 (see code_copy.h).
 *
 * The hook is called by four instructions put right after the code's
 * RESUME (and the EXTENDED_ARG its constant's index may need):
 *
 *     PUSH_NULL; LOAD_CONST <hook>; PRECALL 0 (+1 cache); CALL 0 (+4); POP_TOP
 *
 * Every jump of the code starts and lands after that point and 3.11's jumps
 * are relative, so none changes. The exception table's offsets (code units,
 * all past the point) move by the inserted length; the location table gets
 * an entry without location for the inserted units, splitting the entry
 * they land in. The two tables' formats are CPython's
 * Objects/locations.md and Objects/exception_handling_notes.txt.
 */
#include "hooks/code_copy.h"
#if CS_PY_LIVE_BY_CODE_COPY

#include <string.h>

/* ---- the exception table: entries of four numbers, each in big-endian
 * 6-bit chunks (0x40: another follows); 0x80 marks an entry's first ---- */

static int exc_read(const unsigned char *p, Py_ssize_t n, Py_ssize_t *i, unsigned *out)
{
    unsigned v = 0;
    for (int k = 0; k < 6 && *i < n; k++) {
        unsigned char b = p[(*i)++];
        v = (v << 6) | (b & 63);
        if (!(b & 64)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

static void exc_write(unsigned char **o, unsigned v, int first)
{
    unsigned char chunk[6];
    int k = 0;
    do
        chunk[k++] = v & 63;
    while ((v >>= 6) != 0);
    for (int j = k - 1; j >= 0; j--)
        *(*o)++ = (unsigned char)(chunk[j] | (j ? 64 : 0) | (first && j == k - 1 ? 128 : 0));
}

static PyObject *shift_exception_table(PyObject *table, unsigned at, unsigned by)
{
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(table);
    Py_ssize_t n = PyBytes_GET_SIZE(table), i = 0;
    unsigned char *out = PyMem_Malloc((size_t)n * 2 + 32), *o = out;
    if (!out)
        return PyErr_NoMemory();
    while (i < n) {
        unsigned start, len, target, depth_lasti;
        if (!(p[i] & 128) || exc_read(p, n, &i, &start) || exc_read(p, n, &i, &len) ||
            exc_read(p, n, &i, &target) || exc_read(p, n, &i, &depth_lasti) || start < at || target < at) {
            PyMem_Free(out);
            PyErr_SetString(PyExc_ValueError, "callscope: an exception table it does not understand");
            return NULL;
        }
        exc_write(&o, start + by, 1);
        exc_write(&o, len, 0);
        exc_write(&o, target + by, 0);
        exc_write(&o, depth_lasti, 0);
    }
    PyObject *shifted = PyBytes_FromStringAndSize((char *)out, o - out);
    PyMem_Free(out);
    return shifted;
}

/* ---- the location table: entries of a first byte (0x80 | kind << 3 |
 * units - 1) and a payload by kind; its varints are little-endian ---- */

enum { LOC_ONE_LINE0 = 10, LOC_NO_COLUMNS = 13, LOC_LONG = 14, LOC_NONE = 15 };

static Py_ssize_t varint_end(const unsigned char *p, Py_ssize_t n, Py_ssize_t i)
{
    while (i < n && (p[i] & 64))
        i++;
    return i < n ? i + 1 : -1;
}

static Py_ssize_t payload_end(const unsigned char *p, Py_ssize_t n, Py_ssize_t i, int kind)
{
    if (kind < LOC_ONE_LINE0) /* short form: one byte */
        return i + 1 <= n ? i + 1 : -1;
    if (kind < LOC_NO_COLUMNS) /* one-line forms: two bytes */
        return i + 2 <= n ? i + 2 : -1;
    if (kind == LOC_NO_COLUMNS)
        return varint_end(p, n, i);
    if (kind == LOC_LONG) {
        for (int k = 0; k < 4 && i >= 0; k++)
            i = varint_end(p, n, i);
        return i;
    }
    return i;
}

static void put_no_location(unsigned char **o, unsigned units)
{
    for (; units; units -= units > 8 ? 8 : units)
        *(*o)++ = (unsigned char)(0x80 | (LOC_NONE << 3) | ((units > 8 ? 8 : units) - 1));
}

/* The rest of a split entry: its location again, with no line step. */
static int put_rest(unsigned char **o, const unsigned char *p, Py_ssize_t at, Py_ssize_t end, int kind,
                    unsigned units)
{
    unsigned char head = (unsigned char)(0x80 | (units - 1));
    if (kind < LOC_ONE_LINE0) { /* short forms step no line */
        *(*o)++ = (unsigned char)(head | kind << 3);
        *(*o)++ = p[at + 1];
    } else if (kind < LOC_NO_COLUMNS) {
        *(*o)++ = (unsigned char)(head | LOC_ONE_LINE0 << 3);
        *(*o)++ = p[at + 1];
        *(*o)++ = p[at + 2];
    } else if (kind == LOC_NO_COLUMNS) {
        *(*o)++ = (unsigned char)(head | LOC_NO_COLUMNS << 3);
        *(*o)++ = 0;
    } else if (kind == LOC_LONG) {
        Py_ssize_t rest = varint_end(p, end, at + 1); /* past the line step */
        if (rest < 0)
            return -1;
        *(*o)++ = (unsigned char)(head | LOC_LONG << 3);
        *(*o)++ = 0;
        memcpy(*o, p + rest, (size_t)(end - rest));
        *o += end - rest;
    } else {
        *(*o)++ = (unsigned char)(head | LOC_NONE << 3);
    }
    return 0;
}

static PyObject *insert_no_location(PyObject *table, unsigned at, unsigned units)
{
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(table);
    Py_ssize_t n = PyBytes_GET_SIZE(table), i = 0;
    unsigned char *out = PyMem_Malloc((size_t)n + units + 64), *o = out;
    if (!out)
        return PyErr_NoMemory();
    unsigned pos = 0;
    int inserted = 0, bad = 0;
    while (i < n && !bad) {
        int kind = (p[i] >> 3) & 15;
        unsigned len = (p[i] & 7) + 1;
        Py_ssize_t end = (p[i] & 128) ? payload_end(p, n, i + 1, kind) : -1;
        if (end < 0) {
            bad = 1;
            break;
        }
        if (!inserted && pos == at) {
            put_no_location(&o, units);
            inserted = 1;
        }
        if (!inserted && pos < at && at < pos + len) {
            *o++ = (unsigned char)((p[i] & ~7) | (at - pos - 1));
            memcpy(o, p + i + 1, (size_t)(end - i - 1));
            o += end - i - 1;
            put_no_location(&o, units);
            bad = put_rest(&o, p, i, end, kind, pos + len - at) != 0;
            inserted = 1;
        } else {
            memcpy(o, p + i, (size_t)(end - i));
            o += end - i;
        }
        pos += len;
        i = end;
    }
    if (!inserted && !bad && pos == at) {
        put_no_location(&o, units);
        inserted = 1;
    }
    PyObject *result = NULL;
    if (bad || !inserted)
        PyErr_SetString(PyExc_ValueError, "callscope: a location table it does not understand");
    else
        result = PyBytes_FromStringAndSize((char *)out, o - out);
    PyMem_Free(out);
    return result;
}

/* ---- the copy ---- */

PyObject *cs_code_copy_with_hook(PyCodeObject *code, PyObject *hook)
{
    if (code->co_flags & (CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR | CO_ITERABLE_COROUTINE)) {
        PyErr_SetString(PyExc_ValueError, "callscope: a generator's code is not copied");
        return NULL;
    }
    /* co_code is the bytecode without the interpreter's specialisations */
    PyObject *bytecode = PyObject_GetAttrString((PyObject *)code, "co_code");
    if (!bytecode)
        return NULL;
    const unsigned char *b = (const unsigned char *)PyBytes_AS_STRING(bytecode);
    Py_ssize_t nbytes = PyBytes_GET_SIZE(bytecode), r = 0;
    while (r < nbytes && b[r] != RESUME)
        r += 2;
    Py_ssize_t nconsts = PyTuple_GET_SIZE(code->co_consts);
    if (r >= nbytes || nconsts > 0xffff) {
        Py_DECREF(bytecode);
        PyErr_SetString(PyExc_ValueError, "callscope: code of a shape it does not copy");
        return NULL;
    }
    unsigned at = (unsigned)(r / 2) + 1; /* in code units, right after RESUME */
    unsigned char hook_code[24];
    int n = 0;
#define EMIT(op, arg) (hook_code[n++] = (unsigned char)(op), hook_code[n++] = (unsigned char)(arg))
    if (nconsts > 255)
        EMIT(EXTENDED_ARG, nconsts >> 8);
    EMIT(PUSH_NULL, 0);
    EMIT(LOAD_CONST, nconsts & 255);
    EMIT(PRECALL, 0);
    EMIT(CACHE, 0);
    EMIT(CALL, 0);
    for (int k = 0; k < 4; k++)
        EMIT(CACHE, 0);
    EMIT(POP_TOP, 0);
#undef EMIT
    unsigned units = (unsigned)n / 2;
    PyObject *copy = NULL, *consts = NULL, *exc = NULL, *loc = NULL, *varnames = NULL, *freevars = NULL,
             *cellvars = NULL;
    PyObject *newcode = PyBytes_FromStringAndSize(NULL, nbytes + n);
    if (!newcode)
        goto done;
    char *d = PyBytes_AS_STRING(newcode);
    memcpy(d, b, 2 * (size_t)at);
    memcpy(d + 2 * at, hook_code, (size_t)n);
    memcpy(d + 2 * at + n, b + 2 * at, (size_t)(nbytes - 2 * at));
    consts = PyTuple_New(nconsts + 1);
    if (!consts)
        goto done;
    for (Py_ssize_t k = 0; k < nconsts; k++) {
        Py_INCREF(PyTuple_GET_ITEM(code->co_consts, k));
        PyTuple_SET_ITEM(consts, k, PyTuple_GET_ITEM(code->co_consts, k));
    }
    Py_INCREF(hook);
    PyTuple_SET_ITEM(consts, nconsts, hook);
    if (!(exc = shift_exception_table(code->co_exceptiontable, at, units)) ||
        !(loc = insert_no_location(code->co_linetable, at, units)) ||
        !(varnames = PyObject_GetAttrString((PyObject *)code, "co_varnames")) ||
        !(freevars = PyObject_GetAttrString((PyObject *)code, "co_freevars")) ||
        !(cellvars = PyObject_GetAttrString((PyObject *)code, "co_cellvars")))
        goto done;
    /* (the C constructor: code.replace() would run the program's audit hooks) */
    copy = (PyObject *)PyCode_NewWithPosOnlyArgs(code->co_argcount, code->co_posonlyargcount,
                                                 code->co_kwonlyargcount, code->co_nlocals, code->co_stacksize + 2,
                                                 code->co_flags, newcode, consts, code->co_names, varnames, freevars,
                                                 cellvars, code->co_filename, code->co_name, code->co_qualname,
                                                 code->co_firstlineno, loc, exc);
done:
    Py_DECREF(bytecode);
    Py_XDECREF(newcode);
    Py_XDECREF(consts);
    Py_XDECREF(exc);
    Py_XDECREF(loc);
    Py_XDECREF(varnames);
    Py_XDECREF(freevars);
    Py_XDECREF(cellvars);
    return copy;
}

/* ---- putting it in place ---- */

static void replace_in(PyObject *obj, PyObject *from, PyObject *to)
{
    if (!PyFunction_Check(obj))
        return;
    PyFunctionObject *f = (PyFunctionObject *)obj;
    if (f->func_code == from) {
        Py_INCREF(to);
        Py_SETREF(f->func_code, to);
        f->func_version = 0; /* as assigning __code__ does: no call keeps the old one specialised */
    }
    /* A nested function's code is a constant of its parent's: the parent
     * makes its new function objects from the copy. */
    PyObject *consts = ((PyCodeObject *)f->func_code)->co_consts;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(consts); i++)
        if (PyTuple_GET_ITEM(consts, i) == from) {
            Py_INCREF(to);
            Py_SETREF(((PyTupleObject *)consts)->ob_item[i], to);
        }
}

void cs_code_replace_everywhere(PyObject *from, PyObject *to)
{
    struct _gc_runtime_state *gc = &PyThreadState_Get()->interp->gc;
    for (int g = 0; g <= NUM_GENERATIONS; g++) {
        PyGC_Head *head = g < NUM_GENERATIONS ? &gc->generations[g].head : &gc->permanent_generation.head;
        for (PyGC_Head *h = _PyGCHead_NEXT(head); h != head; h = _PyGCHead_NEXT(h))
            replace_in((PyObject *)(h + 1), from, to); /* the object follows its GC header */
    }
}

#endif
