/*
 * call_count.h — counting the calls of every Python function while a
 * `top --calls` runs: the counts behind its calls_per_s.
 *
 * A question that counts owns a table of calls per code object and puts it
 * in force as a watch of the internal kind CS_LIVE_COUNT (observer.h),
 * owned by its client: so the client leaving, a reset or a detach removes
 * it like any other watch. While such a watch is in force the family's
 * hooks report the start of every Python frame (a generator's or
 * coroutine's first step only: a resumption is not a call) to
 * cs_live_count_call, which adds one to the frame's code in each table in
 * force. No program code runs; a table allocates only when it meets more
 * functions than it has room for. The last such watch gone, the hooks
 * report nothing any more and cost nothing.
 */
#ifndef CALLSCOPE_LIVE_CALL_COUNT_H
#define CALLSCOPE_LIVE_CALL_COUNT_H

#include <Python.h>

#include <stdint.h>

/* The calls of each code object since the table was last cleared. */
struct cs_call_counts;

/* An empty table, or NULL without memory. */
struct cs_call_counts *cs_call_counts_new(void);
/* Drops the table and its references to code objects (GIL held). */
void cs_call_counts_free(struct cs_call_counts *t);
/* The calls of `code` counted since the last clear (GIL held). */
uint64_t cs_call_counts_get(const struct cs_call_counts *t, PyCodeObject *code);
/* Starts counting afresh: every count and code reference dropped (GIL). */
void cs_call_counts_clear(struct cs_call_counts *t);
/* Whether the table is counting now: a watch of it is in force. */
int cs_call_counts_in_force(const struct cs_call_counts *t);

/* How many tables are counting (read by the hooks, changed with the GIL):
 * nonzero, a family reports every frame start to cs_live_count_call. */
extern int cs_live_counting;

/* Adds one call of `code` to every table counting (GIL held). */
void cs_live_count_call(PyCodeObject *code);

/* The tables of the CS_LIVE_COUNT watches in force now become the ones
 * counting; how many. The families call it from cs_live_hooks_update,
 * before deciding what to instrument (GIL held). */
int cs_live_counting_update(void);
/* No table counts any more (cs_live_hooks_remove; GIL held). */
void cs_live_counting_stop(void);

#endif
