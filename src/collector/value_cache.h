/*
 * value_cache.h — the values the collector stores are rows of the store's
 * vals table, each written once and referred to by id from call rows (see
 * docs/schema.md, "Values").
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
 * 0 when it is new: the caller then renders it, stores its row under the
 * id cs_value_cache_add gives, and uses that. */
int64_t cs_value_cache_find(struct cs_value_cache *vc, const void *bytes, size_t len);

/* Remembers a new value (right after a cs_value_cache_find that returned
 * 0 for the same bytes) and returns its id, counting up from 1. */
int64_t cs_value_cache_add(struct cs_value_cache *vc, const void *bytes, size_t len);

#endif
