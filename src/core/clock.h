/*
 * clock.h — the cheap timestamp taken on the hot path, and its conversion.
 *
 * On x86-64 with an invariant TSC (every machine we target) producers read
 * the time stamp counter: a few nanoseconds, against ~20 ns for
 * clock_gettime. The counter is shared by all cores and processes, so the
 * collector alone converts ticks to nanoseconds, calibrating the tick rate
 * against CLOCK_MONOTONIC while it runs. Elsewhere ticks are nanoseconds.
 */
#ifndef CALLSCOPE_CLOCK_H
#define CALLSCOPE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* The clocks below are the only ones callscope reads outside the hot path:
 * every timeout, deadline and elapsed time goes through them. */

static inline int64_t cs_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* CLOCK_MONOTONIC in whole milliseconds, for timeouts counted in ms. */
static inline int64_t cs_monotonic_ms(void)
{
    return cs_monotonic_ns() / 1000000;
}

/* CPU time the calling thread has used, in ns. */
static inline int64_t cs_thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t cs_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#if defined(__x86_64__) && !defined(CALLSCOPE_NO_TSC)
#define CS_TICKS_ARE_NS 0
static inline uint64_t cs_ticks(void)
{
    return __builtin_ia32_rdtsc();
}
#else
#define CS_TICKS_ARE_NS 1
static inline uint64_t cs_ticks(void)
{
    return (uint64_t)cs_monotonic_ns();
}
#endif

/* Tick-to-nanosecond conversion: two reference points (ticks, monotonic ns)
 * define a line; the second one moves forward while recording so the
 * estimate of the rate keeps improving. */
struct cs_clock_calibration {
    uint64_t ticks0;
    int64_t ns0;
    uint64_t ticks1;
    int64_t ns1;
};

/* ns as an int64 from a product of ticks and a rate, saturated, and a sum
 * that wraps: the ticks in a ring, or a whole calibration in a log read
 * back, may be anything, and an overflow must not be undefined. */
static inline int64_t cs_clock_ns_of(double ns)
{
    if (ns != ns)
        return 0;
    if (ns <= -9.2e18)
        return INT64_MIN;
    if (ns >= 9.2e18)
        return INT64_MAX;
    return (int64_t)ns;
}

static inline int64_t cs_clock_add(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}

static inline int64_t cs_clock_sub(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a - (uint64_t)b);
}

void cs_clock_calibration_start(struct cs_clock_calibration *c);
/* Takes a fresh reference point; cheap enough to call every few ms. */
void cs_clock_calibration_update(struct cs_clock_calibration *c);
/* Monotonic nanoseconds of a tick count. */
int64_t cs_clock_ticks_to_ns(const struct cs_clock_calibration *c, uint64_t ticks);

#endif
