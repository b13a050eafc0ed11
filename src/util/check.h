/*
 * check.h — CS_ASSERT, for invariants that no type or _Static_assert can
 * hold: checked wherever the tests run (the library `make test-c` links,
 * the sanitized build and the fuzzers; the Makefile's CHECKS=1 sets
 * -DCS_CHECKS), compiled away in the release build, where the expression
 * is not even evaluated. So it may read atomics or walk state that the hot
 * path must not pay for.
 *
 * Put an assertion where the invariant lives, beside the code that relies
 * on it, and say in its message what breaks if it fails.
 */
#ifndef CALLSCOPE_UTIL_CHECK_H
#define CALLSCOPE_UTIL_CHECK_H

#ifdef CS_CHECKS
#include <stdio.h>
#include <stdlib.h>

__attribute__((cold, noreturn)) static inline void cs_assert_failed(const char *what, const char *file, int line)
{
    fprintf(stderr, "callscope: internal check failed at %s:%d: %s\n", file, line, what);
    abort();
}

#define CS_ASSERT(cond, why) ((cond) ? (void)0 : cs_assert_failed(#cond " (" why ")", __FILE__, __LINE__))
#else
#define CS_ASSERT(cond, why) ((void)0)
#endif

#endif
