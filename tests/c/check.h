/*
 * check.h — the assertion macros of the C tests. A test program is a list of
 * named cases run from main():
 *
 *     int main(int argc, char **argv)
 *     {
 *         CHECK_SELECT(argc, argv);
 *         CHECK_RUN(test_pairing());
 *         CHECK_RUN(test_show_tree(db));
 *         return CHECK_REPORT("test_name");
 *     }
 *
 * A case is named after the function it calls (test_pairing, test_show_tree).
 * Each program counts passed and failed checks, reports a failure with file,
 * line and case, and ends with CHECK_REPORT, which prints
 *     test_name: 42 passed, 0 failed
 * (naming the cases that failed) and returns the exit status, non-zero on any
 * failure. Given a case's name as its argument, with or without "test_"
 * (`test_collector pairing`, or `make test-c T=collector CASE=pairing`), a
 * program runs that case alone; a name no case has is a failure that lists
 * the names there are.
 */
#ifndef CALLSCOPE_CHECK_H
#define CALLSCOPE_CHECK_H

#include <stdio.h>
#include <string.h>

/* Enough for the largest program's cases; more are run but not listed. */
#define CHECK_MAX_CASES 64

static int check_passed, check_failed;
static const char *check_only; /* the one case the command line asked for, or NULL */
/* Cases are kept as the text of their call, "test_show_tree(db)": the name is
 * what comes before the "(". */
static const char *check_case = "main"; /* the case running; "main" before the first */
static const char *check_cases[CHECK_MAX_CASES];
static int check_case_count, check_cases_run;
static const char *check_failed_cases[CHECK_MAX_CASES];
static int check_failed_case_count;

#define CHECK_SELECT(argc, argv) (check_only = (argc) > 1 ? (argv)[1] : NULL)

static inline int check_name_length(const char *call)
{
    return (int)strcspn(call, "(");
}

static inline int check_name_is(const char *call, const char *wanted)
{
    int length = check_name_length(call);
    if ((int)strlen(wanted) == length && strncmp(call, wanted, (size_t)length) == 0)
        return 1;
    return strncmp(call, "test_", 5) == 0 && check_name_is(call + 5, wanted);
}

/* Whether the case `call` is to run; if so, it becomes the case that
 * failures name. */
static inline int check_case_starts(const char *call)
{
    if (check_case_count < CHECK_MAX_CASES)
        check_cases[check_case_count++] = call;
    if (check_only && !check_name_is(call, check_only))
        return 0;
    check_case = call;
    check_cases_run++;
    return 1;
}

#define CHECK_RUN(call)                                                                  \
    do {                                                                                 \
        if (check_case_starts(#call))                                                    \
            call;                                                                        \
    } while (0)

/* Counts a failure of the running case and starts its message. */
static inline void check_fails(const char *file, int line)
{
    check_failed++;
    if (check_failed_case_count == 0 || check_failed_cases[check_failed_case_count - 1] != check_case) {
        if (check_failed_case_count < CHECK_MAX_CASES)
            check_failed_cases[check_failed_case_count++] = check_case;
    }
    fprintf(stderr, "%s:%d: in %.*s: ", file, line, check_name_length(check_case), check_case);
}

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (cond) {                                                                      \
            check_passed++;                                                              \
        } else {                                                                         \
            check_fails(__FILE__, __LINE__);                                             \
            fprintf(stderr, "check failed: %s\n", #cond);                                \
        }                                                                                \
    } while (0)

#define CHECK_INT(actual, expected)                                                      \
    do {                                                                                 \
        long long a_ = (long long)(actual), e_ = (long long)(expected);                  \
        if (a_ == e_) {                                                                  \
            check_passed++;                                                              \
        } else {                                                                         \
            check_fails(__FILE__, __LINE__);                                             \
            fprintf(stderr, "%s is %lld, expected %lld\n", #actual, a_, e_);             \
        }                                                                                \
    } while (0)

#define CHECK_STR(actual, expected)                                                      \
    do {                                                                                 \
        const char *a_ = (actual), *e_ = (expected);                                     \
        if ((a_ == NULL && e_ == NULL) || (a_ && e_ && strcmp(a_, e_) == 0)) {           \
            check_passed++;                                                              \
        } else {                                                                         \
            check_fails(__FILE__, __LINE__);                                             \
            fprintf(stderr, "%s is \"%s\", expected \"%s\"\n", #actual,                  \
                    a_ ? a_ : "(null)", e_ ? e_ : "(null)");                             \
        }                                                                                \
    } while (0)

/* The last line of a program: its counts, the cases that failed, and the
 * exit status. */
static inline int check_report(const char *program)
{
    if (check_only && check_cases_run == 0) {
        fprintf(stderr, "%s: no case is named %s; the cases are:\n", program, check_only);
        for (int i = 0; i < check_case_count; i++)
            fprintf(stderr, "    %.*s\n", check_name_length(check_cases[i]), check_cases[i]);
        return 2;
    }
    printf("%s: %d passed, %d failed", program, check_passed, check_failed);
    for (int i = 0; i < check_failed_case_count; i++) {
        const char *call = check_failed_cases[i];
        printf("%s%.*s", i ? ", " : " (in ", check_name_length(call), call);
    }
    printf("%s\n", check_failed_case_count ? ")" : "");
    return check_failed ? 1 : 0;
}

#define CHECK_REPORT(name) check_report(name)

#endif
