"""The cost of live observation to the observed program, per Python.

    python3 bench/live_bench.py PYTHON...

A target runs a call-heavy loop (fib(12), about 460 calls, plus one call of
the function to observe). On request it measures, over a short while, the
rate of the rest of the program (fib) and the cost of one call of the
observed function, so every number comes from the same process: before
attach, attached and idle, while `callscope trace` observes the one
function (each call then becomes an observation sent to the client), the
same with a condition that keeps every other call, while `watch`, `stack`
and `monitor` observe it, while `watch` observes the generator it calls
(resumed once a call), and after detach. The phases are repeated in
rounds and the best rate of each kept (the machine is shared and noisy).
Ratios are to the unattached rate: attached and idle should stay within 1%,
and observing one function should cost the rest of the program nothing
measurable on 3.12+ and under 2% of its instructions on 3.8-3.10.

Timings on this shared machine move by several per cent from run to run,
so where valgrind is installed the same phases are also counted in
instructions: the target runs under callgrind, which counts only while
fib(12) runs (bench/ir_window.c), so the count per fib call is what the
rest of the program pays, free of the machine's noise. Under valgrind the
agent is started by the target itself, calling the extension's entry point
as `callscope attach` would (ptrace cannot attach to a program that
valgrind runs); everything after that is the real client and agent.
"""

import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CALLSCOPE = os.path.join(ROOT, "build", "callscope")
ROUNDS = 5
MEASURE_S = 0.4
IR_WINDOW = os.path.join(ROOT, "build", "bench", "ir_window.so")
IR_LOOPS = 100  # fib(12) calls counted per phase
CONDITION = ["--condition", "params[0] % 2 == 0 and cost >= 0"]
# The phases while target() is observed: (name, command, function, its options).
OBSERVING = (("tracing target()", "trace", "target", []),
             ("... with condition", "trace", "target", CONDITION),
             ("watching target()", "watch", "target", []),
             ("stack of target()", "stack", "target", []),
             ("monitoring target()", "monitor", "target", ["-c", "1"]),
             ("watching steps()", "watch", "steps", []))
PHASES = ("unattached", "attached, idle") + tuple(phase[0] for phase in OBSERVING) + ("after detach",)

# The program both targets run: fib is the rest of the program, target()
# the function observed.
FUNCTIONS = r'''
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

def leaf(x):
    return x + 1

def steps(k):  # a generator, resumed once
    yield k
    yield k + 1

def target(k):
    return leaf(k) + sum(steps(k))
'''

TARGET = r'''
import sys, time
''' + FUNCTIONS + r'''
def loop_rate(seconds):
    """Calls per second of fib(12) (the rest of the program) and the mean
    cost of one target() call, in µs, over about `seconds`."""
    n = 0
    rest = observed = 0.0
    clock = time.perf_counter
    end = clock() + seconds
    while True:
        t0 = clock()
        fib(12)
        t1 = clock()
        target(n)
        t2 = clock()
        rest += t1 - t0
        observed += t2 - t1
        n += 1
        if n % 16 == 0 and t2 >= end:
            return "%.1f %.3f" % (n / rest, observed / n * 1e6)

print("ready", flush=True)
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "measure":
        print(loop_rate(float(cmd[1])), flush=True)
'''


IR_TARGET = r'''
import ctypes, os, sys, sysconfig
window = ctypes.CDLL(sys.argv[1])
extension = os.path.join(sys.argv[2], "callscope", "_callscope" + sysconfig.get_config_var("EXT_SUFFIX"))
''' + FUNCTIONS + r'''
def count(loops):
    """Instructions are counted while fib(12) runs, not while target() does."""
    for i in range(loops):
        window.cs_ir_collect(1)
        fib(12)
        window.cs_ir_collect(0)
        target(i)
    window.cs_ir_dump()

def attach():
    agent = ctypes.CDLL(extension)
    agent.callscope_agent_attach.argtypes = [ctypes.c_char_p]
    path = "/tmp/callscope-%d/agent-%d.sock" % (os.geteuid(), os.getpid())
    return agent.callscope_agent_attach(path.encode())

print("ready", flush=True)
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "count":
        count(int(cmd[1]))
        print("counted", flush=True)
    elif cmd[0] == "attach":
        print("attached %d" % attach(), flush=True)
'''


def ask(p, line):
    p.stdin.write(line + "\n")
    p.stdin.flush()
    if not select.select([p.stdout], [], [], 300)[0]:
        raise RuntimeError("the target stopped answering")
    return p.stdout.readline().strip()


def wait_for_socket(pid, present=True):
    path = "/tmp/callscope-%d/agent-%d.sock" % (os.geteuid(), pid)
    for _ in range(1000):
        if os.path.exists(path) == present:
            return
        time.sleep(0.01)
    raise RuntimeError("the agent socket did not %s" % ("appear" if present else "go away"))


def detach(pid):
    subprocess.run([CALLSCOPE, "detach", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_socket(pid, present=False)


def measure(python):
    p = subprocess.Popen([python, "-c", TARGET], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         universal_newlines=True)
    best = {}

    def keep(phase):
        rate, cost = (float(x) for x in ask(p, "measure %s" % MEASURE_S).split())
        best[phase] = (max(best.get(phase, (0, 0))[0], rate), min(best.get(phase, (0, 1e9))[1], cost))

    try:
        if p.stdout.readline().strip() != "ready":
            raise RuntimeError("the target did not start")
        ask(p, "measure 0.2")  # warm up
        for _ in range(ROUNDS):
            keep("unattached")
            attach = subprocess.run([CALLSCOPE, "attach", str(p.pid)], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, universal_newlines=True)
            if attach.returncode != 0:
                raise RuntimeError(attach.stderr.strip())
            wait_for_socket(p.pid)
            keep("attached, idle")
            for phase, command, function, extra in OBSERVING:
                client = subprocess.Popen([CALLSCOPE, command, str(p.pid), "__main__." + function, "--format", "jsonl"]
                                          + extra, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                wait_installed(client, command)
                keep(phase)
                client.kill()
                client.wait()
                client.stdout.close()
            detach(p.pid)
            keep("after detach")
    finally:
        p.kill()
        p.wait()
    return best


def wait_installed(client, command):
    """Returns once the observation is in place: trace, whose JSON lines are
    observations only, says so on stderr; the others with their started
    event, the first line of their output."""
    if command == "trace":
        client.stderr.readline()
    else:
        client.stdout.readline()


def count_instructions(python, workdir):
    """Instructions per fib call in each phase, or None without valgrind."""
    out = os.path.join(workdir, "callgrind.out")
    p = subprocess.Popen(["valgrind", "--tool=callgrind", "--collect-atstart=no", "--callgrind-out-file=" + out,
                          python, "-c", IR_TARGET, IR_WINDOW, os.path.join(ROOT, "build", "lib")],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         universal_newlines=True)
    dumps = []

    def count(phase):
        if ask(p, "count %d" % IR_LOOPS) != "counted":
            raise RuntimeError("the target under valgrind stopped counting")
        dumps.append(phase)

    try:
        if p.stdout.readline().strip() != "ready":
            raise RuntimeError("the target did not start under valgrind")
        ask(p, "count 5")  # warm up: first calls specialise the bytecode
        dumps.append(None)
        count("unattached")
        if ask(p, "attach") != "attached 0":
            raise RuntimeError("the agent did not start under valgrind")
        wait_for_socket(p.pid)
        count("attached, idle")
        for phase, command, function, extra in OBSERVING:
            # The client writes to a file, so it never waits for this script.
            with open(os.path.join(workdir, "trace.jsonl"), "w+") as seen:
                client = subprocess.Popen([CALLSCOPE, command, str(p.pid), "__main__." + function, "--format", "jsonl"]
                                          + extra, stdout=seen, stderr=subprocess.PIPE)
                if command == "trace":
                    wait_installed(client, command)
                for _ in range(3000):  # the started event: the instrumentation is in place
                    if command == "trace" or os.path.getsize(seen.name) or client.poll() is not None:
                        break
                    time.sleep(0.01)
                count(phase)
                time.sleep(0.5)  # the last observations on their way
                client.kill()
                client.wait()
                seen.seek(0)
                observed = sum('"observation"' in line for line in seen)
            # (monitor reports once a cycle, not once a call)
            if command != "monitor" and observed < IR_LOOPS // 4:
                raise RuntimeError("%s saw %d of %d calls of target()" % (command, observed, IR_LOOPS))
        detach(p.pid)
        count("after detach")
    finally:
        p.kill()
        p.wait()
    calls = IR_LOOPS * 465  # fib(12) makes 465 calls
    counts = {}
    for i, phase in enumerate(dumps, start=1):
        with open("%s.%d" % (out, i)) as f:
            total = next(int(line.split()[1]) for line in f if line.startswith("totals:"))
        if phase:
            counts[phase] = total / calls
    return counts


def main():
    pythons = sys.argv[1:] or [sys.executable]
    print("live observation: a target looping on fib(12) + target(), best of %d rounds" % ROUNDS)
    for python in pythons:
        version = subprocess.run([python, "-c", "import sys;print('%d.%d' % sys.version_info[:2])"],
                                 stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
        try:
            best = measure(python)
        except (RuntimeError, OSError) as e:
            print("  Python %s: skipped (%s)" % (version, e))
            continue
        base = best["unattached"][0]
        print("  Python %s" % version)
        print("    %-18s %14s %8s %16s" % ("", "rest: fib/s", "ratio", "one target() µs"))
        for phase in PHASES:
            rate, cost = best[phase]
            print("    %-18s %14.0f %7.3fx %16.2f" % (phase, rate, rate / base, cost))
        if not shutil.which("valgrind") or not os.path.exists(IR_WINDOW):
            continue
        workdir = tempfile.mkdtemp(prefix="callscope-ir-")
        try:
            counts = count_instructions(python, workdir)
        except (RuntimeError, OSError, StopIteration) as e:
            print("    instructions: skipped (%s)" % e)
            continue
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        print("    %-18s %14s %8s   (under callgrind, %d fib(12) calls a phase)" % (
            "", "rest: instr/call", "ratio", IR_LOOPS))
        for phase in PHASES:
            print("    %-18s %14.1f %7.4fx" % (phase, counts[phase], counts[phase] / counts["unattached"]))


if __name__ == "__main__":
    main()
