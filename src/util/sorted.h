/*
 * sorted.h — searching an ascending array of 64-bit integers (ids, pids).
 */
#ifndef CALLSCOPE_UTIL_SORTED_H
#define CALLSCOPE_UTIL_SORTED_H

#include <stddef.h>
#include <stdint.h>

/* The index of the first of the n ascending values a[] that is not less
 * than key: n when every one is less. */
static inline size_t cs_lower_bound_i64(const int64_t *a, size_t n, int64_t key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

#endif
