/*
 * code_copy.c — code objects with hooks, for live observation on 3.11 (see
 * code_copy.h).
 *
 * The entry hook is called by instructions put right after the code's
 * first RESUME:
 *
 *     PUSH_NULL; [EXTENDED_ARG]; LOAD_CONST <hook>; PRECALL 0 (+1 cache);
 *     CALL 0 (+4 caches); POP_TOP
 *
 * Every jump of the code starts and lands after that point and 3.11's jumps
 * are relative, so none changes. A generator or coroutine also goes on
 * after each yield and await, at a RESUME with a non-zero argument. Those
 * resume points are moved, with the instructions that must stay next to
 * them, into trampolines after the code's end, and their place holds a jump
 * there (of the same length, so nothing else moves):
 *
 *     yield:  YIELD_VALUE; RESUME 1            -> EXTENDED_ARG; JUMP_FORWARD
 *     await:  SEND; YIELD_VALUE; RESUME 2|3;   -> EXTENDED_ARG; JUMP_FORWARD;
 *             JUMP_BACKWARD_NO_INTERRUPT          NOP; NOP
 *
 * A trampoline runs the moved instructions, calls the resume hook, copies
 * the rest of the resumed line (see emit_continuation) and jumps back. An
 * await's trampoline calls the hook again where the awaited is done: a
 * throw() that the awaited handles by returning goes on there. The
 * interpreter looks at a suspended frame's neighbouring
 * instructions (the SEND before a YIELD_VALUE, the RESUME after it), which
 * is why they move together. A generator that is thrown into (throw(),
 * close(), a task cancelled) goes on from its YIELD_VALUE with an
 * exception: the exception table sends it through a second trampoline that
 * calls the resume hook, then to the handler the yield had (or raises it
 * on). Jumps back never check for signals, so no exception can appear
 * where the original had none.
 *
 * The exception table's offsets move by the entry hook's length, with new
 * entries for the trampolines; the location table gives the entry hook's
 * instructions no location, and a trampoline's the line they resume on. The two tables'
 * formats are CPython's Objects/locations.md and
 * Objects/exception_handling_notes.txt.
 */
#include "hooks/code_copy.h"
#if CS_PY_LIVE_BY_CODE_COPY

#include <stdlib.h>
#include <string.h>

static PyObject *not_understood(const char *what)
{
    PyErr_Format(PyExc_ValueError, "callscope: %s it does not understand", what);
    return NULL;
}

/* ---- the exception table: entries of four numbers, each in big-endian
 * 6-bit chunks (0x40: another follows); 0x80 marks an entry's first ---- */

struct exc_entry {
    unsigned start, len, target, depth_lasti; /* code units */
};

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

/* The entries of a table (at most n/4 of them), or -1. */
static Py_ssize_t exc_decode(PyObject *table, struct exc_entry *out)
{
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(table);
    Py_ssize_t n = PyBytes_GET_SIZE(table), i = 0, count = 0;
    while (i < n) {
        struct exc_entry *e = &out[count++];
        if (!(p[i] & 128) || exc_read(p, n, &i, &e->start) || exc_read(p, n, &i, &e->len) ||
            exc_read(p, n, &i, &e->target) || exc_read(p, n, &i, &e->depth_lasti))
            return -1;
    }
    return count;
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

static PyObject *exc_encode(const struct exc_entry *e, Py_ssize_t n)
{
    unsigned char *out = PyMem_Malloc((size_t)n * 24 + 1), *o = out;
    if (!out)
        return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < n; i++) {
        exc_write(&o, e[i].start, 1);
        exc_write(&o, e[i].len, 0);
        exc_write(&o, e[i].target, 0);
        exc_write(&o, e[i].depth_lasti, 0);
    }
    PyObject *table = PyBytes_FromStringAndSize((char *)out, o - out);
    PyMem_Free(out);
    return table;
}

/* The entry covering a unit, or -1. */
static int exc_covering(const struct exc_entry *e, Py_ssize_t n, unsigned unit)
{
    for (Py_ssize_t i = 0; i < n; i++)
        if (e[i].start <= unit && unit < e[i].start + e[i].len)
            return (int)i;
    return -1;
}

/* ---- the location table: entries of a first byte (0x80 | kind << 3 |
 * units - 1) and a payload by kind; its varints are little-endian 6-bit
 * chunks, and each entry steps the line from the one before ---- */

enum { LOC_ONE_LINE0 = 10, LOC_NO_COLUMNS = 13, LOC_LONG = 14, LOC_NONE = 15 };

struct location {
    int line, end_line, col, end_col; /* line -1: none; col -1: unknown */
};

static Py_ssize_t varint_end(const unsigned char *p, Py_ssize_t n, Py_ssize_t i)
{
    while (i < n && (p[i] & 64))
        i++;
    return i < n ? i + 1 : -1;
}

static int varint_read(const unsigned char *p, Py_ssize_t n, Py_ssize_t *i, unsigned *out)
{
    unsigned v = 0;
    for (int shift = 0; *i < n && shift < 32; shift += 6) {
        unsigned char b = p[(*i)++];
        v |= (unsigned)(b & 63) << shift;
        if (!(b & 64)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

static int svarint_read(const unsigned char *p, Py_ssize_t n, Py_ssize_t *i, int *out)
{
    unsigned v;
    if (varint_read(p, n, i, &v))
        return -1;
    *out = v & 1 ? -(int)(v >> 1) : (int)(v >> 1);
    return 0;
}

static void varint_write(unsigned char **o, unsigned v)
{
    for (; v >= 64; v >>= 6)
        *(*o)++ = (unsigned char)(64 | (v & 63));
    *(*o)++ = (unsigned char)v;
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

/* Each unit's location, and the line the table ends on (what the next
 * entry's step starts from); -1 for a table it does not understand. */
static int loc_decode(PyObject *table, int first_line, Py_ssize_t units, struct location *out, int *end_line)
{
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(table);
    Py_ssize_t n = PyBytes_GET_SIZE(table), i = 0, at = 0;
    int line = first_line;
    for (Py_ssize_t u = 0; u < units; u++)
        out[u] = (struct location){-1, -1, -1, -1};
    while (i < n) {
        if (!(p[i] & 128))
            return -1;
        int kind = (p[i] >> 3) & 15, len = (p[i] & 7) + 1;
        i++;
        struct location l = {-1, -1, -1, -1};
        unsigned a, b, c;
        int step;
        if (kind < LOC_ONE_LINE0) {
            if (i >= n)
                return -1;
            l.col = kind * 8 + ((p[i] >> 4) & 7);
            l.end_col = l.col + (p[i++] & 15);
            l.line = l.end_line = line;
        } else if (kind < LOC_NO_COLUMNS) {
            if (i + 2 > n)
                return -1;
            line += kind - LOC_ONE_LINE0;
            l.line = l.end_line = line;
            l.col = p[i++];
            l.end_col = p[i++];
        } else if (kind == LOC_NO_COLUMNS) {
            if (svarint_read(p, n, &i, &step))
                return -1;
            line += step;
            l.line = l.end_line = line;
        } else if (kind == LOC_LONG) {
            if (svarint_read(p, n, &i, &step) || varint_read(p, n, &i, &a) || varint_read(p, n, &i, &b) ||
                varint_read(p, n, &i, &c))
                return -1;
            line += step;
            l.line = line;
            l.end_line = line + (int)a;
            l.col = (int)b - 1;
            l.end_col = (int)c - 1;
        }
        for (int k = 0; k < len && at < units; k++)
            out[at++] = l;
    }
    *end_line = line;
    return 0;
}

/* Appends one entry per unit, stepping from *line. */
static void loc_append(unsigned char **o, const struct location *l, Py_ssize_t units, int *line)
{
    for (Py_ssize_t u = 0; u < units; u++) {
        if (l[u].line < 0) {
            *(*o)++ = (unsigned char)(0x80 | LOC_NONE << 3);
            continue;
        }
        int step = l[u].line - *line;
        *line = l[u].line;
        *(*o)++ = (unsigned char)(0x80 | LOC_LONG << 3);
        varint_write(o, step < 0 ? ((unsigned)-step << 1) | 1 : (unsigned)step << 1);
        varint_write(o, (unsigned)(l[u].end_line - l[u].line));
        varint_write(o, (unsigned)(l[u].col + 1));
        varint_write(o, (unsigned)(l[u].end_col + 1));
    }
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

/* The table with `units` units without location inserted at unit `at`,
 * then the trampolines' `extra` entries; NULL and a Python error. */
static PyObject *loc_table(PyObject *table, unsigned at, unsigned units, const struct location *extra,
                           Py_ssize_t nextra, int end_line)
{
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(table);
    Py_ssize_t n = PyBytes_GET_SIZE(table), i = 0;
    unsigned char *out = PyMem_Malloc((size_t)n + units + 64 + (size_t)nextra * 24), *o = out;
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
    if (bad || !inserted) {
        not_understood("a location table");
    } else {
        loc_append(&o, extra, nextra, &end_line);
        result = PyBytes_FromStringAndSize((char *)out, o - out);
    }
    PyMem_Free(out);
    return result;
}

/* ---- the bytecode: units of an opcode and an argument byte ---- */

static int jumps_forward(int op)
{
    return op == JUMP_FORWARD || op == JUMP_IF_FALSE_OR_POP || op == JUMP_IF_TRUE_OR_POP ||
           op == POP_JUMP_FORWARD_IF_FALSE || op == POP_JUMP_FORWARD_IF_TRUE || op == POP_JUMP_FORWARD_IF_NOT_NONE ||
           op == POP_JUMP_FORWARD_IF_NONE || op == FOR_ITER || op == SEND;
}

static int jumps_backward(int op)
{
    return op == JUMP_BACKWARD || op == JUMP_BACKWARD_NO_INTERRUPT || op == POP_JUMP_BACKWARD_IF_FALSE ||
           op == POP_JUMP_BACKWARD_IF_TRUE || op == POP_JUMP_BACKWARD_IF_NOT_NONE || op == POP_JUMP_BACKWARD_IF_NONE;
}

/* Marks every unit a jump or a handler lands on (3.11's jumps count from
 * the unit after theirs, and none of them has caches). */
static void mark_targets(const unsigned char *b, Py_ssize_t units, const struct exc_entry *e, Py_ssize_t ne,
                         unsigned char *landed)
{
    unsigned arg = 0;
    for (Py_ssize_t u = 0; u < units; u++) {
        int op = b[2 * u];
        arg = arg << 8 | b[2 * u + 1];
        Py_ssize_t to = -1;
        if (jumps_forward(op))
            to = u + 1 + (Py_ssize_t)arg;
        else if (jumps_backward(op))
            to = u + 1 - (Py_ssize_t)arg;
        if (to >= 0 && to < units)
            landed[to] = 1;
        if (op != EXTENDED_ARG)
            arg = 0;
    }
    for (Py_ssize_t i = 0; i < ne; i++)
        if (e[i].target < units)
            landed[e[i].target] = 1;
}

/* A place where a generator goes on after a yield or an await: the units
 * [start, start + len) that move into a trampoline. */
struct resume_point {
    unsigned start, len; /* 2 for a yield, 4 for an await's SEND loop */
    unsigned resume_arg;
    unsigned send_exit; /* an await: where its SEND jumps when the awaited is done */
    int handler;        /* the exception table entry covering it, or -1 */
};

/* The resume points, or -1 when some is of a shape this does not move. */
static Py_ssize_t find_resume_points(const unsigned char *b, Py_ssize_t units, const unsigned char *landed,
                                     const struct exc_entry *e, Py_ssize_t ne, unsigned first, struct resume_point *out)
{
    Py_ssize_t n = 0;
    for (Py_ssize_t u = first; u < units; u++) {
        if (b[2 * u] != RESUME || b[2 * u + 1] == 0)
            continue;
        struct resume_point *r = &out[n++];
        r->resume_arg = b[2 * u + 1];
        if (u >= 3 && b[2 * u - 2] == YIELD_VALUE && b[2 * u - 4] == SEND && b[2 * u - 6] != EXTENDED_ARG &&
            u + 1 < units && b[2 * u + 2] == JUMP_BACKWARD_NO_INTERRUPT && b[2 * u + 3] == 4) {
            r->start = (unsigned)u - 2;
            r->len = 4;
            r->send_exit = r->start + 1 + b[2 * u - 3];
        } else if (u >= 1 && b[2 * u - 2] == YIELD_VALUE && (u < 2 || b[2 * u - 4] != EXTENDED_ARG)) {
            r->start = (unsigned)u - 1;
            r->len = 2;
            r->send_exit = 0;
        } else {
            return -1;
        }
        /* Nothing may land inside (on an await's SEND is fine: the
         * trampoline starts with it). */
        for (unsigned k = 1; k < r->len; k++)
            if (landed[r->start + k])
                return -1;
        r->handler = exc_covering(e, ne, r->start);
        for (unsigned k = 1; k < r->len; k++)
            if (exc_covering(e, ne, r->start + k) != r->handler)
                return -1;
    }
    return n;
}

/* ---- writing code ---- */

#define MAX_JUMP 0xffff /* what one EXTENDED_ARG reaches */

/* What a unit of a trampoline is, for the two tables. */
struct unit_meta {
    struct location loc;
    int handled; /* an exception raised here goes to target */
    unsigned target, depth_lasti;
};

struct writer {
    unsigned char *b;
    unsigned n, cap;        /* units written, and room for */
    unsigned body;          /* the units before the trampolines */
    struct unit_meta *meta; /* of every unit; used from body on */
    struct unit_meta now;   /* what the units emitted next get */
    int failed;             /* out of memory, or past what jumps reach */
};

static void emit(struct writer *w, int op, unsigned arg)
{
    if (w->n == w->cap) {
        unsigned cap = w->cap * 2;
        unsigned char *b = cap <= 2 * MAX_JUMP ? PyMem_Realloc(w->b, 2 * (size_t)cap) : NULL;
        if (b)
            w->b = b;
        struct unit_meta *meta = b ? PyMem_Realloc(w->meta, cap * sizeof *meta) : NULL;
        if (meta)
            w->meta = meta;
        if (!b || !meta) {
            w->failed = 1;
            w->n = w->body; /* what follows is thrown away */
        } else {
            w->cap = cap;
        }
    }
    w->b[2 * w->n] = (unsigned char)op;
    w->b[2 * w->n + 1] = (unsigned char)arg;
    w->meta[w->n] = w->now;
    w->n++;
}

/* The call of a hook that is constant number `index`; 9 or 10 units. */
static void emit_hook_call(struct writer *w, unsigned index)
{
    emit(w, PUSH_NULL, 0);
    if (index > 255)
        emit(w, EXTENDED_ARG, index >> 8);
    emit(w, LOAD_CONST, index & 255);
    emit(w, PRECALL, 0);
    emit(w, CACHE, 0);
    emit(w, CALL, 0);
    for (int k = 0; k < 4; k++)
        emit(w, CACHE, 0);
    emit(w, POP_TOP, 0);
}

/* EXTENDED_ARG and a backward jump `op` to `to`. */
static int emit_jump_back(struct writer *w, int op, unsigned to)
{
    unsigned from = w->n + 2; /* the unit after the jump */
    if (to >= from || from - to > MAX_JUMP)
        return -1;
    emit(w, EXTENDED_ARG, (from - to) >> 8);
    emit(w, op, (from - to) & 255);
    return 0;
}

/* What the copy is made from, in the original's units. */
struct source {
    const unsigned char *b;
    Py_ssize_t units;
    const struct location *locs;
    const struct exc_entry *entries; /* their targets already in the copy's units */
    Py_ssize_t nentries;
    unsigned at, shift; /* the copy's unit of original unit u >= at is u + shift */
    const struct resume_point *points;
    Py_ssize_t npoints, current; /* the trampoline being written */
    /* jumps to a trampoline written later, set once it is */
    struct link {
        unsigned jump;
        Py_ssize_t point;
    } *links;
    Py_ssize_t nlinks, links_cap;
    unsigned *placed; /* each point's trampoline */
};

static void meta_of(const struct source *src, unsigned unit, struct unit_meta *m)
{
    int e = exc_covering(src->entries, src->nentries, unit + src->shift);
    m->loc = src->locs[unit];
    m->handled = e >= 0;
    m->target = e >= 0 ? src->entries[e].target : 0;
    m->depth_lasti = e >= 0 ? src->entries[e].depth_lasti : 0;
}

#define MAX_CONTINUED 1024 /* units of a line copied into one trampoline */

/* Goes on from original unit `from` (in the trampoline) for as long as the
 * instructions are on `line`, then jumps back to the body. A tracer's line
 * event then fires where the line changes, as it did in the original, and
 * not for the jump home: 3.11 reports a backward jump to an instruction
 * with a line even when that line has not changed. A forward jump is
 * followed; a conditional one is copied, with the line it lands on copied
 * too. The copy meets another resume point of the line in that point's
 * trampoline when it comes later (a forward jump, unreported); an earlier
 * one, or the end of what is copied, costs one line event too many. */
static int emit_continuation(struct writer *w, struct source *src, unsigned from, int line)
{
    struct {
        unsigned jump, to; /* a copied conditional jump's unit, and where it went */
    } pending[MAX_CONTINUED / 2];
    unsigned npending = 0, copied = 0, c = from;
    int first = 1;
    while (first || npending) {
        if (!first) { /* the next pending branch starts here */
            npending--;
            unsigned distance = w->n - (pending[npending].jump + 1);
            w->b[2 * (pending[npending].jump - 1) + 1] = (unsigned char)(distance >> 8);
            w->b[2 * pending[npending].jump + 1] = (unsigned char)(distance & 255);
            c = pending[npending].to;
        }
        first = 0;
        if (c >= src->units)
            return -1; /* a jump past the code's end: not code the interpreter made */
        int ends = 0; /* nothing falls through the last instruction copied */
        while (!ends) {
            unsigned op_at = c;
            while (op_at < src->units && src->b[2 * op_at] == EXTENDED_ARG)
                op_at++;
            unsigned next = op_at + 1;
            while (next < src->units && src->b[2 * next] == CACHE)
                next++;
            if (op_at >= src->units || src->locs[c].line != line || copied + (next - c) + 2 > MAX_CONTINUED)
                break;
            int op = src->b[2 * op_at];
            if (op == YIELD_VALUE || op == SEND) {
                Py_ssize_t k = src->current + 1;
                while (k < src->npoints && src->points[k].start != c)
                    k++;
                if (k == src->npoints || src->nlinks == src->links_cap)
                    break;
                w->now = (struct unit_meta){src->locs[c], 0, 0, 0};
                src->links[src->nlinks].jump = w->n + 1;
                src->links[src->nlinks++].point = k;
                emit(w, EXTENDED_ARG, 0);
                emit(w, JUMP_FORWARD, 0);
                copied += 2;
                ends = 1;
                continue;
            }
            if (op == RESUME || op == RETURN_GENERATOR)
                break;
            unsigned arg = 0;
            for (unsigned u = c; u <= op_at; u++)
                arg = arg << 8 | src->b[2 * u + 1];
            meta_of(src, op_at, &w->now);
            if (op == JUMP_FORWARD) {
                c = op_at + 1 + arg;
                if (c >= src->units)
                    return -1;
                continue;
            } else if (jumps_forward(op)) {
                pending[npending].jump = w->n + 1;
                pending[npending++].to = op_at + 1 + arg;
                emit(w, EXTENDED_ARG, 0);
                emit(w, op, 0);
                copied += 2;
            } else if (jumps_backward(op)) {
                if (arg > op_at + 1 - src->at || emit_jump_back(w, op, op_at + 1 - arg + src->shift) != 0)
                    return -1; /* (nothing lands before the entry hook) */
                copied += 2;
            } else {
                for (unsigned u = c; u < next; u++) {
                    meta_of(src, u, &w->now);
                    emit(w, src->b[2 * u], src->b[2 * u + 1]);
                }
                copied += next - c;
            }
            c = next;
            ends = op == JUMP_BACKWARD || op == JUMP_BACKWARD_NO_INTERRUPT || op == RETURN_VALUE ||
                   op == RAISE_VARARGS || op == RERAISE;
        }
        w->now = (struct unit_meta){{-1, -1, -1, -1}, 0, 0, 0};
        if (!ends && (c >= src->units || emit_jump_back(w, JUMP_BACKWARD_NO_INTERRUPT, c + src->shift) != 0))
            return -1;
    }
    return 0;
}

/* The trampoline of one resume point and the one for a throw() into it;
 * returns the unit of its YIELD_VALUE, or -1. */
static Py_ssize_t emit_trampoline(struct writer *w, struct source *src, const struct resume_point *p,
                                  unsigned hook_index)
{
    unsigned t = w->n, yield = p->start + (p->len == 4);
    src->placed[src->current] = t;
    const struct exc_entry *h = p->handler >= 0 ? &src->entries[p->handler] : NULL;
    /* the thrown-into trampoline's place is known once this one is written:
     * the YIELD_VALUE's entry is set then */
    if (p->len == 4) {
        meta_of(src, p->start, &w->now);
        emit(w, SEND, 0); /* its distance is known below */
        meta_of(src, yield, &w->now);
        emit(w, YIELD_VALUE, 0);
        meta_of(src, yield + 1, &w->now);
        emit(w, RESUME, p->resume_arg);
        emit_hook_call(w, hook_index);
        meta_of(src, yield + 2, &w->now);
        if (emit_jump_back(w, JUMP_BACKWARD_NO_INTERRUPT, t) != 0)
            return -1;
        w->b[2 * t + 1] = (unsigned char)(w->n - (t + 1));
        /* Where the awaited is done. A throw() that the awaited handles by
         * returning goes on from here, never passing RESUME: the hook
         * reports that step (in any other, it finds it reported). */
        meta_of(src, p->send_exit, &w->now);
        w->now.loc = src->locs[p->start];
        emit_hook_call(w, hook_index);
        if (emit_continuation(w, src, p->send_exit, src->locs[p->start].line) != 0)
            return -1;
    } else {
        meta_of(src, yield, &w->now);
        emit(w, YIELD_VALUE, 0);
        meta_of(src, yield + 1, &w->now);
        emit(w, RESUME, p->resume_arg);
        emit_hook_call(w, hook_index);
        if (emit_continuation(w, src, yield + 2, src->locs[yield].line) != 0)
            return -1;
    }
    if (w->failed)
        return -1;
    unsigned thrown = w->n;
    struct unit_meta *y = &w->meta[t + (p->len == 4)];
    y->handled = 1;
    y->target = thrown;
    y->depth_lasti = h ? h->depth_lasti : 0; /* none: all of the stack goes */
    w->now = (struct unit_meta){src->locs[yield], 0, 0, 0};
    emit_hook_call(w, hook_index);
    if (h) {
        if (emit_continuation(w, src, h->target - src->shift, src->locs[yield].line) != 0)
            return -1;
    } else {
        emit(w, RERAISE, 0);
    }
    /* the resume point's place in the body jumps here */
    unsigned head = p->start + src->shift, distance = t - (head + 2);
    if (distance > MAX_JUMP)
        return -1;
    w->b[2 * head] = EXTENDED_ARG;
    w->b[2 * head + 1] = (unsigned char)(distance >> 8);
    w->b[2 * head + 2] = JUMP_FORWARD;
    w->b[2 * head + 3] = (unsigned char)(distance & 255);
    for (unsigned u = 2; u < p->len; u++) {
        w->b[2 * (head + u)] = NOP;
        w->b[2 * (head + u) + 1] = 0;
    }
    return w->failed ? -1 : (Py_ssize_t)(t + (p->len == 4));
}

/* ---- the copy ---- */

int cs_code_copy_make(PyCodeObject *code, PyObject *entry_hook, PyObject *resume_hook, struct cs_code_copy *out)
{
    memset(out, 0, sizeof *out);
    int generator = (code->co_flags & (CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR)) != 0;
    /* co_code is the bytecode without the interpreter's specialisations */
    PyObject *bytecode = PyObject_GetAttrString((PyObject *)code, "co_code");
    if (!bytecode)
        return -1;
    const unsigned char *b = (const unsigned char *)PyBytes_AS_STRING(bytecode);
    Py_ssize_t units = PyBytes_GET_SIZE(bytecode) / 2, r = 0;
    while (r < units && b[2 * r] != RESUME)
        r++;
    Py_ssize_t nconsts = PyTuple_GET_SIZE(code->co_consts);
    unsigned char *landed = PyMem_Calloc((size_t)units + 1, 1);
    struct exc_entry *entries = PyMem_Calloc((size_t)PyBytes_GET_SIZE(code->co_exceptiontable) / 4 + 1, sizeof *entries);
    struct resume_point *points = PyMem_Calloc((size_t)units + 1, sizeof *points);
    struct location *locs = PyMem_Calloc((size_t)units + 1, sizeof *locs);
    struct exc_entry *all = NULL;
    struct writer w = {0};
    PyObject *copy = NULL, *newcode = NULL, *consts = NULL, *exc = NULL, *loc = NULL, *varnames = NULL,
             *freevars = NULL, *cellvars = NULL;
    Py_ssize_t ne = 0, npoints = 0, nall = 0;
    int end_line = 0;
    if (!landed || !entries || !points || !locs) {
        PyErr_NoMemory();
        goto done;
    }
    if (r >= units || nconsts > 0xfffd || units > MAX_JUMP) {
        not_understood("code of a shape");
        goto done;
    }
    unsigned at = (unsigned)r + 1; /* right after the first RESUME */
    if ((ne = exc_decode(code->co_exceptiontable, entries)) < 0 ||
        loc_decode(code->co_linetable, code->co_firstlineno, units, locs, &end_line) < 0) {
        not_understood("a table of code");
        goto done;
    }
    for (Py_ssize_t i = 0; i < ne; i++)
        if (entries[i].start < at || entries[i].target < at) {
            not_understood("an exception table");
            goto done;
        }
    mark_targets(b, units, entries, ne, landed);
    /* The entry hook goes in at `at`: no jump may cross that point. */
    for (unsigned u = 0; u < at; u++)
        if (landed[u] || jumps_forward(b[2 * u]) || jumps_backward(b[2 * u])) {
            not_understood("code that jumps near its start");
            goto done;
        }
    if (generator && (npoints = find_resume_points(b, units, landed, entries, ne, at, points)) < 0) {
        not_understood("a resume point");
        goto done;
    }
    w.cap = (unsigned)units + 64 + (unsigned)npoints * 64;
    w.b = PyMem_Malloc(2 * (size_t)w.cap);
    w.meta = PyMem_Calloc(w.cap, sizeof *w.meta);
    if (!w.b || !w.meta || (npoints && !(out->moved = PyMem_Calloc((size_t)npoints, sizeof *out->moved)))) {
        PyErr_NoMemory();
        goto done;
    }

    /* The body: the code with the entry hook's call after RESUME. */
    memcpy(w.b, b, 2 * (size_t)at);
    w.n = w.body = at;
    emit_hook_call(&w, (unsigned)nconsts);
    unsigned shift = w.n - at;
    memcpy(w.b + 2 * w.n, b + 2 * at, 2 * ((size_t)units - at));
    w.n = w.body = w.n + (unsigned)units - at;
    for (Py_ssize_t i = 0; i < ne; i++) {
        entries[i].start += shift;
        entries[i].target += shift;
    }

    /* The trampolines. */
    struct source src = {b, units, locs, entries, ne, at, shift, points, npoints, 0, NULL, 0, 8 * npoints, NULL};
    if (npoints && (!(src.links = PyMem_Calloc((size_t)src.links_cap, sizeof *src.links)) ||
                    !(src.placed = PyMem_Calloc((size_t)npoints, sizeof *src.placed)))) {
        PyMem_Free(src.links);
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t k = 0; k < npoints; k++) {
        src.current = k;
        Py_ssize_t yield = emit_trampoline(&w, &src, &points[k], (unsigned)nconsts + 1);
        if (yield < 0) {
            w.failed = 1;
            break;
        }
        out->moved[k].original = points[k].start + (points[k].len == 4);
        out->moved[k].copy = (unsigned)yield;
    }
    for (Py_ssize_t i = 0; i < src.nlinks && !w.failed; i++) {
        unsigned jump = src.links[i].jump, distance = src.placed[src.links[i].point] - (jump + 1);
        w.b[2 * (jump - 1) + 1] = (unsigned char)(distance >> 8);
        w.b[2 * jump + 1] = (unsigned char)(distance & 255);
    }
    PyMem_Free(src.links);
    PyMem_Free(src.placed);
    if (w.failed) {
        not_understood("code this long");
        goto done;
    }
    out->nmoved = npoints;
    out->entry_at = at;

    /* The exception table: the body's, then the trampolines' runs of units
     * with one handler. */
    all = PyMem_Calloc((size_t)ne + (w.n - w.body) + 1, sizeof *all);
    struct location *extra = PyMem_Calloc((size_t)(w.n - w.body) + 1, sizeof *extra);
    if (all)
        memcpy(all, entries, (size_t)ne * sizeof *all);
    nall = ne;
    if (!all || !extra) {
        PyMem_Free(extra);
        PyErr_NoMemory();
        goto done;
    }
    for (unsigned u = w.body; u < w.n; u++) {
        const struct unit_meta *m = &w.meta[u];
        extra[u - w.body] = m->loc;
        if (!m->handled)
            continue;
        struct exc_entry *last = nall > ne ? &all[nall - 1] : NULL;
        if (last && last->start + last->len == u && last->target == m->target && last->depth_lasti == m->depth_lasti)
            last->len++;
        else
            all[nall++] = (struct exc_entry){u, 1, m->target, m->depth_lasti};
    }
    loc = loc_table(code->co_linetable, at, shift, extra, w.n - w.body, end_line);
    PyMem_Free(extra);
    if (!loc)
        goto done;

    if (!(newcode = PyBytes_FromStringAndSize((char *)w.b, 2 * (Py_ssize_t)w.n)) ||
        !(consts = PyTuple_New(nconsts + 2)))
        goto done;
    for (Py_ssize_t k = 0; k < nconsts; k++) {
        Py_INCREF(PyTuple_GET_ITEM(code->co_consts, k));
        PyTuple_SET_ITEM(consts, k, PyTuple_GET_ITEM(code->co_consts, k));
    }
    Py_INCREF(entry_hook);
    PyTuple_SET_ITEM(consts, nconsts, entry_hook);
    Py_INCREF(resume_hook);
    PyTuple_SET_ITEM(consts, nconsts + 1, resume_hook);
    if (!(exc = exc_encode(all, nall)) ||
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
    PyMem_Free(landed);
    PyMem_Free(entries);
    PyMem_Free(points);
    PyMem_Free(locs);
    PyMem_Free(all);
    PyMem_Free(w.b);
    PyMem_Free(w.meta);
    if (!copy) {
        cs_code_copy_clear(out);
        return -1;
    }
    Py_INCREF(code);
    out->original = (PyObject *)code;
    out->copy = copy;
    return 0;
}

void cs_code_copy_clear(struct cs_code_copy *c)
{
    Py_CLEAR(c->original);
    Py_CLEAR(c->copy);
    PyMem_Free(c->moved);
    c->moved = NULL;
    c->nmoved = 0;
}

/* ---- putting it in place ---- */

static void replace_in_function(PyFunctionObject *f, PyObject *from, PyObject *to)
{
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

/* A suspended generator (or one not started) goes on in the other code
 * from the matching place; one running, or whose frame has no room for
 * the hook's call, is left as it is. */
static void replace_in_generator(PyGenObject *g, const struct cs_code_copy *c, int to_copy)
{
    PyObject *from = to_copy ? c->original : c->copy, *to = to_copy ? c->copy : c->original;
    _PyInterpreterFrame *f = (_PyInterpreterFrame *)g->gi_iframe;
    if ((g->gi_frame_state != FRAME_SUSPENDED && g->gi_frame_state != FRAME_CREATED) ||
        (PyObject *)f->f_code != from || (PyObject *)g->gi_code != from)
        return;
    PyCodeObject *old = (PyCodeObject *)from;
    /* resuming pushes the value sent in, and the hook's call two more */
    if (to_copy && f->stacktop + 3 > old->co_nlocalsplus + old->co_stacksize)
        return;
    Py_ssize_t unit = f->prev_instr - _PyCode_CODE(old), mapped = -1;
    if (unit < (Py_ssize_t)c->entry_at)
        mapped = unit;
    for (Py_ssize_t i = 0; i < c->nmoved && mapped < 0; i++)
        if ((Py_ssize_t)(to_copy ? c->moved[i].original : c->moved[i].copy) == unit)
            mapped = to_copy ? c->moved[i].copy : c->moved[i].original;
    if (mapped < 0)
        return;
    f->prev_instr = _PyCode_CODE((PyCodeObject *)to) + mapped;
    Py_INCREF(to);
    Py_SETREF(f->f_code, (PyCodeObject *)to);
    Py_INCREF(to);
    Py_SETREF(g->gi_code, (PyCodeObject *)to);
}

static void replace_everywhere(const struct cs_code_copy *c, int to_copy)
{
    PyObject *from = to_copy ? c->original : c->copy, *to = to_copy ? c->copy : c->original;
    struct _gc_runtime_state *gc = &PyThreadState_Get()->interp->gc;
    for (int g = 0; g <= NUM_GENERATIONS; g++) {
        PyGC_Head *head = g < NUM_GENERATIONS ? &gc->generations[g].head : &gc->permanent_generation.head;
        for (PyGC_Head *h = _PyGCHead_NEXT(head); h != head; h = _PyGCHead_NEXT(h)) {
            PyObject *obj = (PyObject *)(h + 1); /* the object follows its GC header */
            if (PyFunction_Check(obj))
                replace_in_function((PyFunctionObject *)obj, from, to);
            else if ((PyGen_CheckExact(obj) || PyCoro_CheckExact(obj) || PyAsyncGen_CheckExact(obj)))
                replace_in_generator((PyGenObject *)obj, c, to_copy);
        }
    }
}

void cs_code_copy_put_in_place(const struct cs_code_copy *c)
{
    replace_everywhere(c, 1);
}

void cs_code_copy_take_back(const struct cs_code_copy *c)
{
    replace_everywhere(c, 0);
}

#endif
