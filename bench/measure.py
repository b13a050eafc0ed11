"""Measures callscope's overhead inside one interpreter; prints JSON.

    python measure.py BUILD_DIR

bench/run.py starts this script once per Python. Everything is timed here,
in one process, because the machine is shared and noisy: the six ways of
running a workload (untraced, a no-op hook, a hook that only reads the
clock, callscope --no-args, callscope with arguments, cProfile) are
interleaved repetition by repetition, in a rotating order. Each step of a workload is timed on its own and its best
repetition kept; a row's time is the sum of its steps' best times. Noise that
comes and goes then hits every row alike instead of one row's whole run, and
the ratios to the untraced row stay meaningful.

The timed region is the workload only: the tracer is started before and
stopped after it. For callscope that is the cost in the traced program (the
hook, reading arguments, writing events to the ring; waiting when the ring is
full); the collector runs in its own process, on the other core. What the
user waits for as a whole, collector included, is measured separately:
each workload as a whole process, `callscope run` against plain Python,
until the database is complete on disk (json_decode, with and without
--c-calls, and fib_whole, a call-dense 2.7 million calls). Each side's wall
time and the CPU time of its whole process tree (from RUSAGE_CHILDREN:
`callscope run`, its collector's threads, the traced Python) are its best of
a few runs, alternating the order of plain and traced runs. The collector's
sustained rate is the calls it stored over the CPU time of the busiest of
its three threads (meta collector_cpu_ns, writer_cpu_ns and
checkpoint_cpu_ns): the rate it keeps up with when the program produces
calls faster than it can take them.
"""

import cProfile
import gc
import json
import os
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.abspath(sys.argv[1])
sys.path[:0] = [BENCH_DIR, os.path.join(BUILD, "lib"), os.path.join(BUILD, "bench")]

import workloads  # noqa: E402

REPEATS = {"fib": 7, "json_decode": 2}
WHOLE_PROCESS_REPEATS = 3
NOOP_TOOL_ID = 3  # sys.monitoring id of the no-op hook (callscope prefers 4)
MODERN = sys.version_info >= (3, 12)

try:
    import _noop_hook
except ImportError:
    _noop_hook = None

try:
    import callscope
    import callscope._callscope  # noqa: F401  (the extension for this Python)
except ImportError:
    callscope = None


# ---- the ways of running a workload: each returns (start, stop) ----

def untraced(tmp):
    return (lambda: None), (lambda: None)


def bench_hook(callback_name, profile_mode, c_calls=False):
    """The bench-only hook: a C callback for PY_START and PY_RETURN (3.12+),
    and with c_calls for CALL, C_RETURN and C_RAISE too (what a tracer of C
    calls must hear on 3.12+), or a C profile function (older, which hears
    C calls anyway), that does nothing or only reads the clock."""
    def mode(tmp):
        if MODERN:
            mon = sys.monitoring
            events = [mon.events.PY_START, mon.events.PY_RETURN]
            if c_calls:
                events += [mon.events.CALL, mon.events.C_RETURN, mon.events.C_RAISE]

            def start():
                mon.use_tool_id(NOOP_TOOL_ID, "callscope-bench-noop")
                for e in events:
                    mon.register_callback(NOOP_TOOL_ID, e, getattr(_noop_hook, callback_name))
                mon.set_events(NOOP_TOOL_ID, sum(events))

            def stop():
                mon.set_events(NOOP_TOOL_ID, 0)
                for e in events:
                    mon.register_callback(NOOP_TOOL_ID, e, None)
                mon.free_tool_id(NOOP_TOOL_ID)

            return start, stop
        return (lambda: _noop_hook.set_profile(profile_mode)), (lambda: _noop_hook.set_profile(0))
    return mode


def evaluator_hook(tmp):
    """The bench-only frame evaluator that reads the clock around each frame."""
    return (lambda: _noop_hook.set_eval(1)), (lambda: _noop_hook.set_eval(0))


# After start(), the collector process is still starting (SQLite, its
# threads) on the machine's other core, and a step of a few milliseconds
# timed meanwhile shares the CPU with it: the per-call rows are the steady
# cost, so the step waits this long first. The whole-process row counts the
# start.
COLLECTOR_SETTLE_S = 0.1


def callscope_mode(**options):
    def mode(tmp):
        def start():
            callscope.start(os.path.join(tmp, "in-process.db"), **options)
            time.sleep(COLLECTOR_SETTLE_S)
        return start, callscope.stop
    return mode


def cprofile(tmp):
    profiler = cProfile.Profile()
    return profiler.enable, profiler.disable


MODES = [
    ("untraced", untraced),
    ("no-op hook (floor)", bench_hook("noop", 1) if _noop_hook else None),
    ("hook + clock (floor)", bench_hook("clocked", 3) if _noop_hook and hasattr(_noop_hook, "clocked") else None),
    ("evaluator + clock (floor)", evaluator_hook if _noop_hook else None),
    # Before 3.12 the profile function above is the only hook that hears C
    # calls: "hook + clock" is their floor there.
    ("C-call hook + clock (floor)", bench_hook("clocked", 3, c_calls=True) if _noop_hook and MODERN else None),
    ("callscope --no-args", callscope_mode(no_args=True) if callscope else None),
    ("callscope with args", callscope_mode() if callscope else None),
    ("callscope --c-calls", callscope_mode(c_calls=True) if callscope else None),
    ("cProfile", cprofile),
]


def run_steps(steps):
    """Runs every step; returns the time each took."""
    times = []
    for step in steps:
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return times


def count_calls(steps):
    """Calls made by the steps, counted exactly by the counting hook."""
    if MODERN:
        mon = sys.monitoring
        mon.use_tool_id(NOOP_TOOL_ID, "callscope-bench-count")
        mon.register_callback(NOOP_TOOL_ID, mon.events.PY_START, _noop_hook.counter)
        mon.set_events(NOOP_TOOL_ID, mon.events.PY_START)
        _noop_hook.count()
        for step in steps:  # inline: a function called here would be counted
            step()
        mon.set_events(NOOP_TOOL_ID, 0)
        mon.register_callback(NOOP_TOOL_ID, mon.events.PY_START, None)
        mon.free_tool_id(NOOP_TOOL_ID)
    else:
        _noop_hook.count()
        _noop_hook.set_profile(2)
        for step in steps:
            step()
        _noop_hook.set_profile(0)
    return _noop_hook.count()


def time_once(steps, mode, tmp):
    start, stop = mode(tmp)
    gc.collect()
    start()
    times = run_steps(steps)
    stop()
    return times


def in_process(name, tmp):
    steps = workloads.WORKLOADS[name]()
    run_steps(steps)  # warm up: imports, regex compilation, caches
    calls = count_calls(steps) if _noop_hook else None
    if calls is None and name == "fib":
        calls = workloads.fib_calls(workloads.FIB_N) + 1  # + the lambda
    modes = [(label, mode) for label, mode in MODES if mode]
    best = {}  # label -> best time of each step
    for rep in range(REPEATS[name]):
        k = rep % len(modes)
        for label, mode in modes[k:] + modes[:k]:
            times = time_once(steps, mode, tmp)
            best[label] = [min(pair) for pair in zip(best.get(label, times), times)]
    best = {label: sum(times) for label, times in best.items()}
    base = best["untraced"]
    rows = {}
    for label, mode in MODES:
        if label not in best or not calls:
            rows[label] = None
            continue
        rows[label] = {
            "seconds": best[label],
            "ns_per_call": best[label] / calls * 1e9,
            "overhead_ns": (best[label] - base) / calls * 1e9,
            "ratio": best[label] / base,
        }
    return {"calls": calls, "repeats": REPEATS[name], "rows": rows}


# The whole-process comparisons: (name, workloads.py argument, callscope run
# options). Runs of the same workload share their plain runs.
WHOLE_RUNS = [
    ("json_decode", "json_decode", []),
    ("json_decode --c-calls", "json_decode", ["--c-calls"]),
    ("fib", "fib_whole", []),
    # The events only: `callscope index` builds the calls afterwards, timed
    # on its own (docs/proposals/event-log.md).
    ("json_decode deferred", "json_decode", ["--defer-rows=later"]),
    ("json_decode --c-calls deferred", "json_decode", ["--c-calls", "--defer-rows=later"]),
    ("fib deferred", "fib_whole", ["--defer-rows=later"]),
]


def timed_run(cmd):
    """Runs cmd to its end; returns its wall time and the CPU time (user +
    system) of its whole process tree: every process it and its children
    waited for, so `callscope run`'s collector threads and the traced Python
    too."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def recording_meta(db):
    """The finished recording's size and what its meta says about it.
    meta.calls: the calls view needs callscope's SQLite extension."""
    size = sum(os.path.getsize(p) for p in (db, db + "-wal") if os.path.exists(p))
    con = sqlite3.connect(db)
    meta = dict(con.execute("select key, value from meta where key in"
                            " ('calls', 'collector_cpu_ns', 'writer_cpu_ns', 'checkpoint_cpu_ns')"))
    con.close()
    return size, {k: int(v) for k, v in meta.items()}


def whole_process(tmp):
    """`callscope run` against plain python on each of WHOLE_RUNS: wall time
    until each process (and so the record) is complete, and CPU time of its
    whole process tree. Each side's best of WHOLE_PROCESS_REPEATS, plain and
    traced runs in alternating order from one repetition to the next."""
    callscope_bin = os.path.join(BUILD, "callscope")
    workload_names = []
    for _, workload, _ in WHOLE_RUNS:
        if workload not in workload_names:
            workload_names.append(workload)
    best = {}  # (side, name) -> {"wall": s, "cpu": s}
    recorded = {}  # name -> [(size, meta)] of each traced run (of a deferred one: before its index)
    dbs = {name: os.path.join(tmp, "whole-%s.db" % re.sub(r"[^\w]+", "-", name)) for name, _, _ in WHOLE_RUNS}

    def keep(key, wall, cpu):
        b = best.setdefault(key, {"wall": wall, "cpu": cpu})
        b["wall"], b["cpu"] = min(b["wall"], wall), min(b["cpu"], cpu)

    for rep in range(WHOLE_PROCESS_REPEATS):
        for workload in workload_names:
            script = [os.path.join(BENCH_DIR, "workloads.py"), workload]
            runs = [("plain", workload, [sys.executable] + script)]
            for name, w, options in WHOLE_RUNS:
                if w == workload:
                    runs.append(("traced", name, [callscope_bin, "run", "--python", sys.executable, "-o", dbs[name]]
                                 + options + script))
            for side, name, cmd in runs[:: 1 if rep % 2 == 0 else -1]:
                if side == "traced":
                    for p in (dbs[name], dbs[name] + "-wal", dbs[name] + "-shm"):
                        if os.path.exists(p):
                            os.unlink(p)
                wall, cpu = timed_run(cmd)
                keep((side, name), wall, cpu)
                if side == "traced":
                    size, meta = recording_meta(dbs[name])
                    if "--defer-rows=later" in cmd:
                        keep(("index", name), *timed_run([callscope_bin, "index", dbs[name]]))
                        meta["calls"] = recording_meta(dbs[name])[1].get("calls", 0)
                    recorded.setdefault(name, []).append((size, meta))
    out = []
    for name, workload, options in WHOLE_RUNS:
        plain, traced = best[("plain", workload)], best[("traced", name)]
        size, meta = recorded[name][-1]
        calls = meta.get("calls", 0)
        # The collector's sustained rate: its calls over the CPU time of its
        # busiest thread, the best repetition's.
        busiest_s = min(max(m.get("collector_cpu_ns", 0), m.get("writer_cpu_ns", 0), m.get("checkpoint_cpu_ns", 0))
                        for _, m in recorded[name]) / 1e9
        out.append({
            "name": name,
            "workload": workload,
            "options": options,
            "plain_wall_s": plain["wall"],
            "plain_cpu_s": plain["cpu"],
            "traced_wall_s": traced["wall"],
            "traced_cpu_s": traced["cpu"],
            "wall_ratio": traced["wall"] / plain["wall"],
            "cpu_ratio": traced["cpu"] / plain["cpu"],
            "calls": calls,
            "calls_per_s": calls / busiest_s if busiest_s else 0.0,
            "collector_cpu_s": meta.get("collector_cpu_ns", 0) / 1e9,
            "writer_cpu_s": meta.get("writer_cpu_ns", 0) / 1e9,
            "checkpoint_cpu_s": meta.get("checkpoint_cpu_ns", 0) / 1e9,
            "db_bytes": size,
            "bytes_per_call": size / calls if calls else 0.0,
        })
        if ("index", name) in best:
            out[-1]["index_wall_s"] = best[("index", name)]["wall"]
            out[-1]["index_cpu_s"] = best[("index", name)]["cpu"]
    return {
        "repeats": WHOLE_PROCESS_REPEATS,
        "runs": out,
        "sqlite_floor": sqlite_floor(dbs["json_decode"], tmp),
        "instructions": collector_instructions(tmp),
        "capture_instructions": capture_instructions(tmp),
    }


# fib sizes counted under callgrind: the difference between the two is the
# calls alone, without start-up.
FIB_COUNTED = (14, 19)
FIB_COUNTED_SCRIPT = """
import sys
sys.path[:0] = [sys.argv[3], sys.argv[5]]
import workloads
mode, n = sys.argv[1], int(sys.argv[2])
if mode == "evaluator floor":
    import _noop_hook
    _noop_hook.set_eval(1)
elif mode != "untraced":
    import callscope
    callscope.start(sys.argv[4], no_args=mode == "no-args")
workloads.fib(n)
if mode == "evaluator floor":
    _noop_hook.set_eval(0)
elif mode != "untraced":
    callscope.stop()
"""


def instructions_in(callgrind_text):
    """The instruction count a callgrind output file reports."""
    m = re.search(r"^(?:summary|totals): (\d+)", callgrind_text, re.M)
    return int(m.group(1)) if m else 0


def fib_instructions(tmp):
    """Instructions per call of fib in the traced program, under callgrind:
    untraced, under the bench's evaluator that only reads the clock (the
    floor under callscope's own evaluator, when built), --no-args and with
    arguments. The timings above move by tens of nanoseconds from run to run
    on this machine; these do not. The collector runs in its own process,
    not counted. None without valgrind."""
    if not shutil.which("valgrind") or callscope is None:
        return None
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(callscope.__file__))))
    calls = workloads.fib_calls(FIB_COUNTED[1]) - workloads.fib_calls(FIB_COUNTED[0])
    per_call = {}
    for mode in ("untraced", "evaluator floor", "no-args", "args"):
        if mode == "evaluator floor" and not _noop_hook:
            continue
        counts = []
        for n in FIB_COUNTED:
            out = os.path.join(tmp, "fib-%s-%d.callgrind" % (mode.replace(" ", "-"), n))
            cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, sys.executable, "-c",
                   FIB_COUNTED_SCRIPT, mode, str(n), BENCH_DIR, os.path.join(tmp, "fib-counted.db"),
                   os.path.join(BUILD, "bench")]
            if subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode:
                return None
            with open(out) as f:
                counts.append(instructions_in(f.read()))
        per_call[mode] = (counts[1] - counts[0]) / calls
    return per_call


def collector_instructions(tmp):
    """Instructions per call of the collector's two busy threads (decoding,
    writing SQLite) recording json_decode_small under callgrind, which
    counts them the same on every run where timings on this shared machine
    move by a tenth or more. The busier of the two bounds the collector's
    rate. None without valgrind."""
    if not shutil.which("valgrind"):
        return None
    db = os.path.join(tmp, "counted.db")
    out = os.path.join(tmp, "collector.callgrind")
    cmd = ["valgrind", "--tool=callgrind", "--separate-threads=yes", "--callgrind-out-file=" + out,
           os.path.join(BUILD, "callscope"), "run", "--python", sys.executable, "-o", db,
           os.path.join(BENCH_DIR, "workloads.py"), "json_decode_small"]
    if subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode:
        return None
    con = sqlite3.connect(db)
    calls = int(con.execute("select value from meta where key = 'calls'").fetchone()[0])
    con.close()
    counted = {}
    for name in os.listdir(tmp):
        if not name.startswith("collector.callgrind-"):
            continue
        with open(os.path.join(tmp, name)) as f:
            text = f.read()
        # A thread is known by the function it started in.
        thread = "write" if "writer_main" in text else "checkpoint" if "checkpointer_main" in text else "decode"
        counted[thread] = counted.get(thread, 0) + instructions_in(text)
    if not calls or "decode" not in counted or "write" not in counted:
        return None
    return {"calls": calls, "decode": counted["decode"] / calls, "write": counted["write"] / calls}


# json_decode documents counted under callgrind: the difference between the
# two is the calls alone, without start-up, imports and first compilations.
JSON_COUNTED = (1, 3)
JSON_COUNTED_SCRIPT = """
import sys
sys.path[:0] = [sys.argv[3]]
import workloads
mode, documents, db = sys.argv[1], int(sys.argv[2]), sys.argv[4]
steps = workloads.json_decode_workload(documents=documents)
if mode == "args":
    import callscope
    callscope.start(db)
for step in steps:
    step()
if mode == "args":
    callscope.stop()
"""


def capture_instructions(tmp):
    """Instructions per call of json_decode in the traced program itself,
    untraced and recorded with arguments, under callgrind: what capturing
    the calls costs the program, beside what the collector's threads cost
    (collector_instructions). The collector runs in its own process, not
    counted here. None without valgrind."""
    if not shutil.which("valgrind") or callscope is None:
        return None
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(callscope.__file__))))
    counts, calls = {}, []
    for mode in ("untraced", "args"):
        for documents in JSON_COUNTED:
            out = os.path.join(tmp, "json-%s-%d.callgrind" % (mode, documents))
            db = os.path.join(tmp, "json-counted-%d.db" % documents)
            cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, sys.executable, "-c",
                   JSON_COUNTED_SCRIPT, mode, str(documents), BENCH_DIR, db]
            if subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode:
                return None
            with open(out) as f:
                counts[mode, documents] = instructions_in(f.read())
            if mode == "args":
                con = sqlite3.connect(db)
                calls.append(int(con.execute("select value from meta where key = 'calls'").fetchone()[0]))
                con.close()
    n = calls[1] - calls[0]
    if n <= 0:
        return None
    per_call = {mode: (counts[mode, JSON_COUNTED[1]] - counts[mode, JSON_COUNTED[0]]) / n
                for mode in ("untraced", "args")}
    return {"program": per_call["untraced"], "capture": per_call["args"] - per_call["untraced"]}


def sqlite_floor(db, tmp):
    """SQLite alone writing the recording's rows (bench/sqlite_floor.c):
    the collector's rate can be no higher. None when not built."""
    floor = os.path.join(BUILD, "sqlite_floor")
    if not os.access(floor, os.X_OK):
        return None
    out = subprocess.run([floor, db, os.path.join(tmp, "floor.db")], stdout=subprocess.PIPE,
                         universal_newlines=True)
    if out.returncode != 0:
        return None
    calls, rows, seconds, calls_seconds = out.stdout.split()
    return {"calls_per_s": int(calls) / float(seconds), "rows": int(rows), "cpu_s": float(seconds),
            "call_rows_per_s": int(calls) / float(calls_seconds), "call_rows_cpu_s": float(calls_seconds)}


def main():
    result = {"python": sys.version.split()[0], "executable": sys.executable, "notes": []}
    if callscope is None:
        result["notes"].append("the callscope extension is not built for this Python (make PYTHON=%s)" % sys.executable)
    if _noop_hook is None:
        result["notes"].append("no no-op hook for this Python (make bench-hook PYTHON=%s)" % sys.executable)
    bench_tmp = os.path.join(BUILD, "bench")
    os.makedirs(bench_tmp, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="run-", dir=bench_tmp)
    try:
        result["fib"] = in_process("fib", tmp)
        result["fib"]["instructions"] = fib_instructions(tmp)
        result["json_decode"] = in_process("json_decode", tmp)
        result["whole_process"] = whole_process(tmp) if callscope else None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
