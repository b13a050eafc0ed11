/*
 * ir_window.c — bench-only: lets a program under callgrind count the
 * instructions of chosen stretches of its own run (bench/live_bench.py).
 *
 * Started with --collect-atstart=no, callgrind counts nothing until
 * cs_ir_collect(1) and stops at cs_ir_collect(0); cs_ir_dump() writes what
 * was counted since the last dump to a file of its own. Instruction counts
 * do not move with the load of a shared machine, so they can tell a 1%
 * difference that timings here cannot.
 */
#include <valgrind/callgrind.h>

static int collecting;

void cs_ir_collect(int on)
{
    if (!on != !collecting) {
        CALLGRIND_TOGGLE_COLLECT;
        collecting = !collecting;
    }
}

void cs_ir_dump(void)
{
    CALLGRIND_DUMP_STATS;
}
