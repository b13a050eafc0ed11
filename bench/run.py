"""`make bench`: callscope's overhead, per Python, as one table.

    python3 bench/run.py PYTHON...

For each interpreter given, bench/measure.py runs once, in that interpreter,
and measures everything in its own process (see its docstring for why). This
script only starts those runs one after the other (never in parallel: the
machine has two cores and the collector needs one), prints the table with
the targets beside the numbers, and writes the same results to
build/bench.json. The per-call overheads have the targets of issue 2; the
whole process (`callscope run` against plain Python: wall and CPU time of
json_decode, with and without --c-calls, and of a call-dense fib), the
file's bytes per call and the collector's sustained rate have those of
issue 22. A target missed is reported, never turned into a failure: a
benchmark on a shared machine is information, not a test. Beside the
collector's rate it prints its floor under schema 2's one row per call:
SQLite alone inserting the same rows (bench/sqlite_floor.c, built by `make
bench`), and, where valgrind is installed, the instructions per call of the
collector's threads.
"""

import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
MEASURE = os.path.join(ROOT, "bench", "measure.py")
TIMEOUT_S = 900  # one Python's whole measurement; far above the usual ~2 min

MODES = ["untraced", "no-op hook (floor)", "hook + clock (floor)", "evaluator + clock (floor)",
         "C-call hook + clock (floor)", "callscope --no-args", "callscope with args", "callscope --c-calls", "cProfile"]


def is_modern(version):
    """Whether this Python has sys.monitoring (3.12+)."""
    return tuple(int(x) for x in version.split(".")[:2]) >= (3, 12)


def targets(version, workload):
    """Per-call overhead targets (ns) of issue 2, by row, for the microbenchmark."""
    if workload != "fib":
        return {}
    modern = is_modern(version)
    out = {"callscope with args": 120 if modern else 200}
    if modern:
        out["callscope --no-args"] = 60
    return out


def verdict(ok):
    return "PASS" if ok else "MISS"


def print_workload(title, version, w):
    print("  %s — %s calls, best of %d per step" % (title, format(w["calls"], ",") if w["calls"] else "?", w["repeats"]))
    print("    %-27s %7s %12s %8s   %s" % ("", "ns/call", "overhead ns", "ratio", "target (overhead)"))
    goals = targets(version, "fib" if title.startswith("fib") else "")
    for mode in MODES:
        row = w["rows"].get(mode)
        if row is None:
            older_c_calls = "C-call" in mode and not is_modern(version)
            print("    %-27s %7s" % (mode, "before 3.12, the hook + clock row" if older_c_calls else "skipped"))
            continue
        goal = goals.get(mode)
        target = "<= %3d ns  %s" % (goal, verdict(row["overhead_ns"] <= goal)) if goal else ""
        overhead = "—" if mode == "untraced" else "%+.0f" % row["overhead_ns"]
        print("    %-27s %7.1f %12s %7.2fx   %s" % (mode, row["ns_per_call"], overhead, row["ratio"], target))


def print_instructions(counted):
    base = counted["untraced"]
    floor = counted.get("evaluator floor")
    print("    instructions per call under callgrind (they do not move from run to run): untraced %.0f,%s"
          " --no-args %.0f (+%.0f), with args %.0f (+%.0f)" % (
              base, " evaluator + clock floor %.0f (+%.0f)," % (floor, floor - base) if floor else "",
              counted["no-args"], counted["no-args"] - base, counted["args"], counted["args"] - base))


# Issue 22's targets for the whole process and the store.
WALL_RATIO_MAX = 1.5
CPU_RATIO_MAX = 2.0
BYTES_PER_CALL_MAX = 24
CALLS_PER_S_MIN = 5e6


def print_whole(wp):
    runs = wp["runs"]
    print("  whole process, `callscope run` against `python workloads.py WORKLOAD`, until the record is on disk;"
          " best of %d per side" % wp["repeats"])
    print("  (CPU: user + system of the whole process tree, the collector's threads and the traced Python included)")
    print("    %-31s %15s %15s   %-17s %-17s" % ("", "plain wall/CPU", "traced wall/CPU",
                                               "wall <= %.1fx" % WALL_RATIO_MAX, "CPU <= %.0fx" % CPU_RATIO_MAX))
    for r in runs:
        print("    %-31s %6.2f /%5.2f s %6.2f /%5.2f s   %5.2fx  %-9s %5.2fx  %s" % (
            r["name"], r["plain_wall_s"], r["plain_cpu_s"], r["traced_wall_s"], r["traced_cpu_s"],
            r["wall_ratio"], verdict(r["wall_ratio"] <= WALL_RATIO_MAX),
            r["cpu_ratio"], verdict(r["cpu_ratio"] <= CPU_RATIO_MAX)))
    print("    %-31s %10s %-17s %-22s %s" % ("the recording", "calls", "B/call <= %d" % BYTES_PER_CALL_MAX,
                                            "collector >= %.0f M/s" % (CALLS_PER_S_MIN / 1e6),
                                            "(file; CPU of its threads: decode, write, checkpoint)"))
    for r in runs:
        print("    %-31s %10s %6.1f  %-9s %6.2f M/s  %-9s (%.1f MB; %.2f, %.2f, %.2f s)" % (
            r["name"], format(r["calls"], ","), r["bytes_per_call"],
            verdict(r["bytes_per_call"] <= BYTES_PER_CALL_MAX), r["calls_per_s"] / 1e6,
            verdict(r["calls_per_s"] >= CALLS_PER_S_MIN), r["db_bytes"] / 1e6,
            r["collector_cpu_s"], r["writer_cpu_s"], r["checkpoint_cpu_s"]))
    deferred = [r for r in runs if "index_wall_s" in r]
    if deferred:
        print("    %-31s %15s   (`callscope index` after `callscope run --defer-rows`: the calls built afterwards)"
              % ("", "index wall/CPU"))
        for r in deferred:
            print("    %-31s %6.2f /%5.2f s   %5.2fx / %5.2fx the plain run's" % (
                r["name"], r["index_wall_s"], r["index_cpu_s"], r["index_wall_s"] / r["plain_wall_s"],
                r["index_cpu_s"] / r["plain_cpu_s"]))
    floor = wp.get("sqlite_floor")
    if floor:
        print("    %-36s %8.2f M calls/s   (json_decode's %s rows inserted one row per call by a bare loop: %.2f s CPU)"
              % ("SQLite alone (schema 2's floor)", floor["calls_per_s"] / 1e6, format(floor["rows"], ","),
                 floor["cpu_s"]))
        print("    %-36s %8.2f M calls/s   (the call rows alone, no values: %.2f s CPU)" % (
            "SQLite alone, call rows only", floor["call_rows_per_s"] / 1e6, floor["call_rows_cpu_s"]))
    counted = wp.get("instructions")
    if counted:
        print("    %-36s %8.0f decode, %.0f write   (instructions per call under callgrind, json_decode_small: "
              "they bound the rate as the CPU times above do, but do not move from run to run)" % (
                  "collector threads", counted["decode"], counted["write"]))
    capture = wp.get("capture_instructions")
    if counted and capture:
        program = capture["program"]
        whole = program + capture["capture"] + counted["decode"] + counted["write"]
        print("    %-36s %8.0f program, +%.0f capture, +%.0f decode, +%.0f write: %.2fx the program's own"
              % ("whole process, json_decode", program, capture["capture"], counted["decode"], counted["write"],
                 whole / program))
        print("    %-36s (instructions per call, each part counted under callgrind as above: the CPU ratio's"
              " stable counterpart, cache misses aside)" % "")


def measure(python):
    """Runs measure.py under `python`; returns its results or a reason why not."""
    if not os.access(python, os.X_OK):
        return None, "not found"
    try:
        p = subprocess.run([python, MEASURE, BUILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, "timed out after %d s (a recording that never finished?)" % TIMEOUT_S
    if p.returncode != 0:
        lines = p.stderr.decode(errors="replace").strip().splitlines()
        return None, "failed: %s" % (lines[-1] if lines else "exit status %d" % p.returncode)
    return json.loads(p.stdout), None


def main(pythons):
    if not pythons:
        sys.exit("usage: run.py PYTHON...")
    results = []
    began = time.time()
    print("callscope bench — per-call cost measured in one process per Python, interleaved;")
    print("overhead = ns/call minus untraced ns/call; per-call targets from issue 2, whole-process and store"
          " targets from issue 22 (PASS/MISS, never a failure)")
    # In version order (3.8 before 3.10), whatever order the paths came in.
    for python in sorted(pythons, key=lambda p: [int(n) for n in re.findall(r"\d+", p)]):
        print()
        r, why = measure(python)
        if r is None:
            print("%s: skipped, %s" % (python, why))
            results.append({"executable": python, "skipped": why})
            continue
        results.append(r)
        print("Python %s (%s)" % (r["python"], r["executable"]))
        for note in r["notes"]:
            print("  note: " + note)
        print_workload("fib(25)", r["python"], r["fib"])
        if r["fib"].get("instructions"):
            print_instructions(r["fib"]["instructions"])
        print_workload("json_decode, pure-Python json.decoder", r["python"], r["json_decode"])
        if r.get("whole_process"):
            print_whole(r["whole_process"])
        sys.stdout.flush()
    os.makedirs(BUILD, exist_ok=True)
    with open(os.path.join(BUILD, "bench.json"), "w") as f:
        json.dump(results, f, indent=1)
    print("\n%d Python(s) in %.0f s; results also in build/bench.json" % (len(pythons), time.time() - began))


if __name__ == "__main__":
    main(sys.argv[1:])
