/*
 * value_cache.h — the values the collector stores are rows of the store's
 * vals table, each written once and referred to by id from call rows (see
 * docs/schema.md, "Values").
 *
 * A result met for the first time is kept inline in its call's row
 * instead: most results (a parser's tokens with their positions) are met
 * once, and a row of their own would cost more than their text. Met again,
 * it gets its vals row like any other value, and the first call's row, if
 * it has not been handed to SQLite yet, refers to that row too (a result
 * passed up through a wrapper is met twice in a row).
 *
 * Values are looked up by their captured bytes, not by their rendering:
 * rendering is a pure function of those bytes, so a value met before costs
 * a hash and a compare, and a shared value is never rendered again.
 *
 * Memory is bounded (value_cache.c keeps two generations of a few
 * megabytes): a value not met for a long while is forgotten, and when it
 * comes back it gets a second vals row with the same text, which readers
 * never notice.
 */
#ifndef CALLSCOPE_VALUE_CACHE_H
#define CALLSCOPE_VALUE_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct cs_value_cache;

/* NULL when out of memory. */
struct cs_value_cache *cs_value_cache_new(void);
void cs_value_cache_free(struct cs_value_cache *vc);

/* The id of the value whose captured bytes are [bytes, bytes + len), or
 * 0 when it has no vals row: it is new (*held_by = 0), or was met once and
 * kept inline in the row of call *held_by. Either way the caller renders
 * it, and either stores its row under the id cs_value_cache_add gives
 * (the row of *held_by may then refer to it as well), or, if it is new,
 * keeps the text inline and calls cs_value_cache_add_inline. */
int64_t cs_value_cache_find(struct cs_value_cache *vc, const void *bytes, size_t len, int64_t *held_by);

/* Gives the value of the cs_value_cache_find just before (same bytes) its
 * id, counting up from 1. */
int64_t cs_value_cache_add(struct cs_value_cache *vc, const void *bytes, size_t len);

/* Remembers the new value of the find just before as met once, kept
 * inline in the row of call call_id (> 0), with no vals row yet. */
void cs_value_cache_add_inline(struct cs_value_cache *vc, const void *bytes, size_t len, int64_t call_id);

/* Forgets every value (their rows were lost: see cs_store_resume), so
 * that each is stored anew when met again, under a new id; the ids go on
 * counting up. Counts as a turn. */
void cs_value_cache_forget(struct cs_value_cache *vc);

/* How many times the generations have turned over. A value found before
 * the last turn is still known until the next one: a caller that keeps ids
 * on its own finds the value again after each turn, which keeps it known. */
uint64_t cs_value_cache_turns(const struct cs_value_cache *vc);

#endif
