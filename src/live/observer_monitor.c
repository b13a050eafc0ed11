/*
 * observer_monitor.c — the monitor observer (`callscope monitor`): the
 * target's calls are counted and timed, and once per cycle one observation
 * sums them up for every thread.
 *
 * The agent thread decides when a cycle ends (agent.c, cycle_end) and
 * calls cs_live_monitor_report with the GIL held; the calls are counted
 * under the GIL too, so the numbers need no lock.
 */
#include "live/observer_internal.h"

#include "core/clock.h"
#include "util/textbuf.h"

void cs_obs_monitor_count(struct cs_live_watch *w, int64_t duration, int raised)
{
    w->calls++;
    w->failed += raised;
    w->total_ns += duration;
    if (w->calls == 1 || duration < w->min_ns)
        w->min_ns = duration;
    if (duration > w->max_ns)
        w->max_ns = duration;
}

void cs_live_monitor_report(struct cs_live_watch *w)
{
    /* no thread: a cycle covers them all; its duration is the cycle's */
    struct cs_observation_header h = {
        .command = w->req.command,
        .watch_id = (uint64_t)w->id,
        .wall_ns = (uint64_t)cs_wall_ns(),
        .thread = "",
        .duration_ns = (uint64_t)w->req.cycle_ns,
    };
    struct cs_textbuf b = {0};
    cs_observation_header_put(&b, &h);
    cs_obs_put_code(&b, (PyCodeObject *)PyTuple_GET_ITEM(w->codes, 0));
    cs_obs_put_varint(&b, (uint64_t)w->calls);
    cs_obs_put_varint(&b, (uint64_t)w->failed);
    cs_obs_put_varint(&b, (uint64_t)w->total_ns);
    cs_obs_put_varint(&b, (uint64_t)(w->calls ? w->min_ns : 0));
    cs_obs_put_varint(&b, (uint64_t)w->max_ns);
    w->calls = w->failed = 0;
    w->total_ns = w->min_ns = w->max_ns = 0;
    w->cycle_end += w->req.cycle_ns;
    cs_obs_deliver(w, &b);
}
