/*
 * check.h — the assertion macros of the C tests. Each test program counts
 * passed and failed checks, reports failures with file and line, and ends
 * with CHECK_REPORT("test_name"), which prints
 *     test_name: 42 passed, 0 failed
 * and returns the exit status (non-zero on any failure).
 */
#ifndef CALLSCOPE_CHECK_H
#define CALLSCOPE_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (cond) {                                                                      \
            check_passed++;                                                              \
        } else {                                                                         \
            check_failed++;                                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);     \
        }                                                                                \
    } while (0)

#define CHECK_INT(actual, expected)                                                      \
    do {                                                                                 \
        long long a_ = (long long)(actual), e_ = (long long)(expected);                  \
        if (a_ == e_) {                                                                  \
            check_passed++;                                                              \
        } else {                                                                         \
            check_failed++;                                                              \
            fprintf(stderr, "%s:%d: %s is %lld, expected %lld\n", __FILE__, __LINE__,    \
                    #actual, a_, e_);                                                    \
        }                                                                                \
    } while (0)

#define CHECK_STR(actual, expected)                                                      \
    do {                                                                                 \
        const char *a_ = (actual), *e_ = (expected);                                     \
        if ((a_ == NULL && e_ == NULL) || (a_ && e_ && strcmp(a_, e_) == 0)) {           \
            check_passed++;                                                              \
        } else {                                                                         \
            check_failed++;                                                              \
            fprintf(stderr, "%s:%d: %s is \"%s\", expected \"%s\"\n", __FILE__, __LINE__, \
                    #actual, a_ ? a_ : "(null)", e_ ? e_ : "(null)");                    \
        }                                                                                \
    } while (0)

#define CHECK_REPORT(name)                                                               \
    (printf("%s: %d passed, %d failed\n", (name), check_passed, check_failed),           \
     check_failed ? 1 : 0)

#endif
