"""What `callscope top` costs the process it samples: a CPU-bound target's
throughput while top runs, relative to the same target attached and idle.

    python3 bench/top_bench.py [PYTHON...]     (make top-bench: every Python)

For each Python, the target runs small calls in a loop and reports how many
it has done. Phases of SECONDS alternate: agent idle, then `callscope top -i
1` sampling at 100 Hz (and at --hz 1000), repeated ROUNDS times; the median
of each phase's rate is compared. Two rates: per wall-clock second (what
the program gets done) and per CPU second of the whole process (the agent's
own sampling work included), which a loaded machine moves less.
"""

import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CALLSCOPE = os.environ.get("CALLSCOPE_BIN", os.path.join(ROOT, "build", "callscope"))
SECONDS = float(os.environ.get("SECONDS_PER_PHASE", "3"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))

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
        results = {"idle": [], "100 Hz": [], "1000 Hz": []}
        for _ in range(ROUNDS):
            results["idle"].append(phase(p, None))
            results["100 Hz"].append(phase(p, []))
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


if __name__ == "__main__":
    for python in sys.argv[1:] or [sys.executable]:
        bench(python)
