/*
 * call_count.c — the tables of calls per code object that `top --calls`
 * fills (call_count.h), and the hook's side: one more call of a code.
 *
 * A table is an open-addressing hash of code object addresses, probed
 * linearly and kept at most half full, so a lookup is a multiply, a load
 * and a compare or two. It holds a reference to each code object it counts,
 * so an address cannot be a dead function's and then a new one's within
 * one round; the references go at each clear (each round of top).
 */
#include "live/call_count.h"

#include <stdlib.h>
#include <string.h>

#include "live/observer.h"

/* Room for this many functions before the first growth: most programs call
 * fewer in a round, so the hot path rarely allocates. */
#define FIRST_SLOTS 4096
/* Functions counted per round at most (a table of 8 MB); the calls of
 * functions met after that are not counted. */
#define MAX_FUNCTIONS (1u << 18)

struct slot {
    PyCodeObject *code; /* strong reference; NULL: free */
    uint64_t calls;
};

struct cs_call_counts {
    struct slot *slots;
    size_t mask; /* slots - 1: their number is a power of two */
    size_t used;
};

int cs_live_counting;
/* The tables counting, as cs_live_counting_update found them in force. */
static struct cs_call_counts *counting[CS_LIVE_MAX_WATCHES];

static inline size_t home_of(const PyCodeObject *code, size_t mask)
{
    /* code objects are 16-byte aligned: the low bits say nothing */
    return (size_t)((((uintptr_t)code >> 4) * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

static size_t find(const struct cs_call_counts *t, const PyCodeObject *code)
{
    size_t i = home_of(code, t->mask);
    while (t->slots[i].code && t->slots[i].code != code)
        i = (i + 1) & t->mask;
    return i;
}

struct cs_call_counts *cs_call_counts_new(void)
{
    struct cs_call_counts *t = calloc(1, sizeof *t);
    if (t && !(t->slots = calloc(FIRST_SLOTS, sizeof *t->slots))) {
        free(t);
        return NULL;
    }
    if (t)
        t->mask = FIRST_SLOTS - 1;
    return t;
}

/* Twice the slots, the counts moved over. -1 without memory or past
 * MAX_FUNCTIONS: the table stays as it was. */
static int grow(struct cs_call_counts *t)
{
    size_t n = (t->mask + 1) * 2;
    struct slot *bigger = n / 2 <= MAX_FUNCTIONS ? calloc(n, sizeof *bigger) : NULL;
    if (!bigger)
        return -1;
    struct slot *old = t->slots;
    size_t old_n = t->mask + 1;
    t->slots = bigger;
    t->mask = n - 1;
    for (size_t i = 0; i < old_n; i++)
        if (old[i].code)
            t->slots[find(t, old[i].code)] = old[i];
    free(old);
    return 0;
}

/* The first call of a code in this round: it takes a slot. */
static __attribute__((noinline)) void count_first(struct cs_call_counts *t, PyCodeObject *code, size_t i)
{
    if ((t->used + 1) * 2 > t->mask + 1) {
        if (grow(t) != 0)
            return; /* no room: not counted */
        i = find(t, code);
    }
    Py_INCREF(code);
    t->slots[i].code = code;
    t->slots[i].calls = 1;
    t->used++;
}

void cs_live_count_call(PyCodeObject *code)
{
    for (int k = 0; k < cs_live_counting; k++) {
        struct cs_call_counts *t = counting[k];
        size_t i = find(t, code);
        if (__builtin_expect(t->slots[i].code != NULL, 1))
            t->slots[i].calls++;
        else
            count_first(t, code, i);
    }
}

uint64_t cs_call_counts_get(const struct cs_call_counts *t, PyCodeObject *code)
{
    const struct slot *s = &t->slots[find(t, code)];
    return s->code ? s->calls : 0;
}

void cs_call_counts_clear(struct cs_call_counts *t)
{
    /* The references are dropped after the table is empty: a code object
     * freed by that may run a weakref callback, whose calls are counted
     * in the new round. */
    struct slot *old = t->slots, *fresh = calloc(t->mask + 1, sizeof *fresh);
    size_t n = t->mask + 1;
    if (!fresh) { /* no memory for a new array: emptied in place */
        for (size_t i = 0; i < n; i++) {
            PyCodeObject *code = old[i].code;
            old[i].code = NULL;
            Py_XDECREF(code);
        }
        t->used = 0;
        return;
    }
    t->slots = fresh;
    t->used = 0;
    for (size_t i = 0; i < n; i++)
        Py_XDECREF(old[i].code);
    free(old);
}

void cs_call_counts_free(struct cs_call_counts *t)
{
    if (!t)
        return;
    for (size_t i = 0; i <= t->mask; i++)
        Py_XDECREF(t->slots[i].code);
    free(t->slots);
    free(t);
}

int cs_call_counts_in_force(const struct cs_call_counts *t)
{
    for (int i = 0; i < CS_LIVE_MAX_WATCHES; i++)
        if (cs_live_watches[i] && cs_live_watches[i]->req.command == CS_LIVE_COUNT && cs_live_watches[i]->counts == t)
            return 1;
    return 0;
}

int cs_live_counting_update(void)
{
    int n = 0;
    for (int i = 0; i < CS_LIVE_MAX_WATCHES; i++)
        if (cs_live_watches[i] && cs_live_watches[i]->req.command == CS_LIVE_COUNT && cs_live_watches[i]->counts)
            counting[n++] = cs_live_watches[i]->counts;
    cs_live_counting = n;
    return n;
}

void cs_live_counting_stop(void)
{
    cs_live_counting = 0;
}
