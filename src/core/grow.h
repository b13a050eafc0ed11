/*
 * grow.h — how callscope's arrays grow: doubling when full, or until an
 * index fits.
 */
#ifndef CALLSCOPE_GROW_H
#define CALLSCOPE_GROW_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Doubles the capacity of a full array of items of item_size bytes (to
 * `first` items when it has none yet). Returns the resized block and
 * updates *cap; or NULL, leaving the block and *cap as they were, when the
 * memory or the size runs out. */
static inline void *cs_grow(void *items, size_t *cap, size_t item_size, size_t first)
{
    size_t n = *cap ? *cap * 2 : first;
    if (n < *cap || n > SIZE_MAX / item_size)
        return NULL;
    void *grown = realloc(items, n * item_size);
    if (grown)
        *cap = n;
    return grown;
}

/* Grows an array indexed by id, doubling its capacity (from `first` items
 * when it has none yet) until item `index` fits, the new items zeroed.
 * Returns the resized block and updates *cap; or NULL, leaving the block
 * and *cap as they were, when the memory or the size runs out. */
static inline void *cs_grow_to(void *items, size_t *cap, size_t item_size, size_t first, size_t index)
{
    size_t n = *cap ? *cap : first;
    while (n <= index) {
        if (n > SIZE_MAX / 2)
            return NULL;
        n *= 2;
    }
    if (n > SIZE_MAX / item_size)
        return NULL;
    char *grown = realloc(items, n * item_size);
    if (!grown)
        return NULL;
    memset(grown + *cap * item_size, 0, (n - *cap) * item_size);
    *cap = n;
    return grown;
}

#endif
