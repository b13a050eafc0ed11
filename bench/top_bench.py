"""What `callscope top` costs the process it samples: a CPU-bound target's
throughput while top runs, relative to the same target attached and idle.

    python3 bench/top_bench.py [PYTHON...]     (make top-bench: every Python)

For each Python, the target runs small calls in a loop and reports how many
it has done. Phases of SECONDS alternate: agent idle, then `callscope top -i
1` sampling at 100 Hz, the same with --calls (every call counted), and at
--hz 1000, repeated ROUNDS times; the median of each phase's rate is
compared. Two rates: per wall-clock second (what the program gets done) and
per CPU second of the whole process (the agent's own sampling work
included), which a loaded machine moves less. For --calls, also its rates
relative to top without --calls, from the same run, and the CPU time that
makes per Python call of the target.

Counting calls costs per call, which this shared machine's load blurs, so
where valgrind is installed --calls is also measured in instructions, as
live_bench.py measures observing: its target runs fib(12) under callgrind,
counted only while fib runs, with `top --hz 1` connected, without --calls
and then with; the ratio of instructions per fib call is what counting
costs every call, free of the machine's noise.
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import live_bench  # its callgrind target and helpers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CALLSCOPE = os.environ.get("CALLSCOPE_BIN", os.path.join(ROOT, "build", "callscope"))
BUILD = os.path.dirname(os.path.abspath(CALLSCOPE))
IR_WINDOW = os.path.join(BUILD, "bench", "ir_window.so")
IR_LOOPS = 100  # fib(12) calls counted per phase (465 Python calls each)
SECONDS = float(os.environ.get("SECONDS_PER_PHASE", "3"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))

CALLS_PER_LOOP = 201  # hot() and its leaf() calls
TARGET = r'''
import sys, time, threading
def leaf(x):
    return x * 2
def hot():
    s = 0
    for i in range(200):
        s += leaf(i)
    return s
done = 0
def report():
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        print(done, time.process_time(), time.perf_counter(), flush=True)
threading.Thread(target=report, daemon=True).start()
print("ready", flush=True)
while True:
    hot()
    done += 1
'''


def reading(p):
    p.stdin.write(b"?\n")
    p.stdin.flush()
    n, cpu, wall = p.stdout.readline().split()
    return int(n), float(cpu), float(wall)


def phase(p, top_args):
    top = None
    if top_args is not None:
        top = subprocess.Popen([CALLSCOPE, "top", str(p.pid), "-i", "1", "--format", "jsonl"] + top_args,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)  # connected and sampling
    n0, cpu0, wall0 = reading(p)
    time.sleep(SECONDS)
    n1, cpu1, wall1 = reading(p)
    if top:
        top.terminate()
        top.wait()
    return (n1 - n0) / (wall1 - wall0), (n1 - n0) / (cpu1 - cpu0)


def bench(python):
    p = subprocess.Popen([python, "-c", TARGET], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert p.stdout.readline().strip() == b"ready"
        subprocess.run([CALLSCOPE, "attach", str(p.pid)], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        results = {"idle": [], "100 Hz": [], "--calls": [], "1000 Hz": []}
        for _ in range(ROUNDS):
            results["idle"].append(phase(p, None))
            results["100 Hz"].append(phase(p, []))
            results["--calls"].append(phase(p, ["--calls"]))
            results["1000 Hz"].append(phase(p, ["--hz", "1000"]))
        subprocess.run([CALLSCOPE, "detach", str(p.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        p.kill()
        p.wait()
    wall = {k: statistics.median(r[0] for r in v) for k, v in results.items()}
    cpu = {k: statistics.median(r[1] for r in v) for k, v in results.items()}
    version = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             stdout=subprocess.PIPE).stdout.decode().strip()
    print("%-5s top at 100 Hz: throughput %.3f of idle (per CPU second %.3f); at 1000 Hz: %.3f (%.3f)"
          % (version, wall["100 Hz"] / wall["idle"], cpu["100 Hz"] / cpu["idle"],
             wall["1000 Hz"] / wall["idle"], cpu["1000 Hz"] / cpu["idle"]), flush=True)
    # CPU time per call, which another process on the machine moves less than wall time
    added_ns = (1 / cpu["--calls"] - 1 / cpu["100 Hz"]) / CALLS_PER_LOOP * 1e9
    print("%-5s top --calls at 100 Hz: throughput %.3f of idle (per CPU second %.3f), %.3f of top without "
          "--calls (%.3f); +%.0f ns of CPU per Python call"
          % (version, wall["--calls"] / wall["idle"], cpu["--calls"] / cpu["idle"],
             wall["--calls"] / wall["100 Hz"], cpu["--calls"] / cpu["100 Hz"], added_ns), flush=True)


def count_instructions(python):
    """Instructions per Python call of fib while `top --hz 1` runs, without
    and with --calls, under callgrind; None without valgrind."""
    if not shutil.which("valgrind") or not os.path.exists(IR_WINDOW):
        return None
    workdir = tempfile.mkdtemp(prefix="callscope-ir-")
    out = os.path.join(workdir, "callgrind.out")
    p = subprocess.Popen(["valgrind", "--tool=callgrind", "--collect-atstart=no", "--callgrind-out-file=" + out,
                          python, "-c", live_bench.IR_TARGET, IR_WINDOW, os.path.join(BUILD, "lib")],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         universal_newlines=True)
    phases = []
    try:
        if p.stdout.readline().strip() != "ready":
            raise RuntimeError("the target did not start under valgrind")
        live_bench.ask(p, "count 5")  # warm up: first calls specialise the bytecode
        phases.append(None)
        if live_bench.ask(p, "attach") != "attached 0":
            raise RuntimeError("the agent did not start under valgrind")
        live_bench.wait_for_socket(p.pid)
        for phase, extra in (("top", []), ("top --calls", ["--calls"])):
            # a round every 2 s: its first says the counting is in place;
            # the agent's work for the others lands in the count, the same
            # in both phases
            top = subprocess.Popen([CALLSCOPE, "top", str(p.pid), "--hz", "1", "-i", "2", "--format", "jsonl"] + extra,
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            top.stdout.readline()
            if live_bench.ask(p, "count %d" % IR_LOOPS) != "counted":
                raise RuntimeError("the target under valgrind stopped counting")
            phases.append(phase)
            top.terminate()
            top.wait()
            top.stdout.close()
    finally:
        p.kill()
        p.wait()
    counts = {}
    for i, phase in enumerate(phases, start=1):
        with open("%s.%d" % (out, i)) as f:
            total = next(int(line.split()[1]) for line in f if line.startswith("totals:"))
        if phase:
            counts[phase] = total / (IR_LOOPS * 465)  # fib(12) makes 465 calls
    shutil.rmtree(workdir, ignore_errors=True)
    return counts


def bench_instructions(python):
    version = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             stdout=subprocess.PIPE).stdout.decode().strip()
    try:
        counts = count_instructions(python)
    except (RuntimeError, OSError, StopIteration) as e:
        print("%-5s instructions: skipped (%s)" % (version, e), flush=True)
        return
    if counts:
        print("%-5s under callgrind: %.1f instructions per Python call with top, %.1f with top --calls: %.3fx"
              % (version, counts["top"], counts["top --calls"], counts["top --calls"] / counts["top"]), flush=True)


if __name__ == "__main__":
    for python in sys.argv[1:] or [sys.executable]:
        bench(python)
        bench_instructions(python)
