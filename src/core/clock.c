/*
 * clock.c — calibrates producer ticks against CLOCK_MONOTONIC (see clock.h).
 */
#include "clock.h"

/* A (ticks, ns) pair read as close together as we can: the ns read is
 * bracketed by two tick reads and the pair with the narrowest bracket wins. */
static void reference_point(uint64_t *ticks, int64_t *ns)
{
    uint64_t best_width = UINT64_MAX;
    for (int i = 0; i < 5; i++) {
        uint64_t a = cs_ticks();
        int64_t t = cs_monotonic_ns();
        uint64_t b = cs_ticks();
        if (b - a < best_width) {
            best_width = b - a;
            *ticks = a + (b - a) / 2;
            *ns = t;
        }
    }
}

void cs_clock_calibration_start(struct cs_clock_calibration *c)
{
    reference_point(&c->ticks0, &c->ns0);
    /* 5 ms apart already pins the rate to a few parts per million. */
    struct timespec pause = {0, 5000000};
    nanosleep(&pause, NULL);
    reference_point(&c->ticks1, &c->ns1);
}

void cs_clock_calibration_update(struct cs_clock_calibration *c)
{
    reference_point(&c->ticks1, &c->ns1);
}

int64_t cs_clock_ticks_to_ns(const struct cs_clock_calibration *c, uint64_t ticks)
{
    if (CS_TICKS_ARE_NS)
        return (int64_t)ticks;
    double rate; /* ns per tick */
    if (c->ticks1 - c->ticks0 < 1000000 || c->ns1 <= c->ns0)
        rate = 1.0 / 2.0; /* too early to tell: assume a 2 GHz counter */
    else
        rate = (double)(c->ns1 - c->ns0) / (double)(c->ticks1 - c->ticks0);
    /* Signed difference: a producer may have read its ticks an instant before
     * the collector took its first reference point. */
    int64_t dticks = (int64_t)(ticks - c->ticks0);
    return cs_clock_add(c->ns0, cs_clock_ns_of((double)dticks * rate));
}
