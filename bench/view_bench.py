"""How quickly `callscope view` answers on a large store.

Builds a store of N synthetic calls with build/collector_bench (fib(25)
trees in one thread), runs the viewer in a tmux window of 80x24 and prints
how long the screen takes to show the result of each action: the first
screen, G (the end), a page up, g, a page down, folding a root, a search
that matches nothing (literal and regular expression), and filters that
match nothing: one on an argument's value (the skip index rules out every
block) and one on depth (every call is read). Needs tmux.

    make view-bench                 (2 million calls)
    python3 bench/view_bench.py [calls] [--keep PATH]
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD", os.path.join(ROOT, "build"))


class Screen:
    def __init__(self, command):
        self.tmux = ["tmux", "-L", "callscope-view-bench-%d" % os.getpid(), "-f", "/dev/null"]
        subprocess.run(self.tmux + ["new-session", "-d", "-x", "80", "-y", "24", "-e", "LANG=C.UTF-8",
                                    command + "; sleep 600"], check=True)

    def text(self):
        return subprocess.run(self.tmux + ["capture-pane", "-p"], stdout=subprocess.PIPE).stdout.decode()

    def status(self):
        return self.text().rstrip("\n").split("\n")[-1]

    def keys(self, *keys):
        subprocess.run(self.tmux + ["send-keys"] + list(keys), check=True)

    def timed(self, test, limit=600):
        start = time.perf_counter()
        while time.perf_counter() - start < limit:
            if test(self.text()):
                return time.perf_counter() - start
            time.sleep(0.002)
        sys.exit("view_bench: the screen never changed as expected:\n" + self.text())

    def close(self):
        subprocess.run(self.tmux + ["kill-server"], stderr=subprocess.DEVNULL)


def main():
    args = sys.argv[1:]
    keep = None
    if "--keep" in args:
        keep = args[args.index("--keep") + 1]
    calls = int(args[0]) if args and args[0].isdigit() else 2000000
    if not shutil.which("tmux"):
        sys.exit("view_bench: needs tmux")
    work = tempfile.mkdtemp(prefix="callscope-view-bench-")
    db = keep or os.path.join(work, "bench.db")
    if not os.path.exists(db):
        subprocess.run([os.path.join(BUILD, "collector_bench"), str(calls), db], check=True, stdout=subprocess.DEVNULL)
    s = Screen("%s view %s" % (os.path.join(BUILD, "callscope"), db))
    try:
        first = s.timed(lambda t: "fib(" in t)
        total = re.search(r"· (\d+) calls", s.text()).group(1)
        print("store: %s calls, %.0f MB" % (total, os.path.getsize(db) / 1e6))
        print("%-32s %8.3f s" % ("first screen", first))
        steps = [
            ("G (the last call)", ["G"], lambda t: "call %s/" % total in t),
            ("b (page up)", ["b"], lambda t: "call %s/" % total not in t),
            ("g (the top)", ["g"], lambda t: "▾ pid" in t.split("\n")[1]),
            ("space (page down)", ["Space"], lambda t: "▾ pid" not in t.split("\n")[1]),
            ("fold the first root", ["g", "j", "Enter"], lambda t: "▸ fib" in t),
            ("search, no match (literal)", ["Enter", "g", "/", "no such text", "Enter"],
             lambda t: "not found" in t),
            ("search, no match (regex)", ["g", "/", "no such [t]ext", "Enter"], lambda t: "not found" in t),
            ("filter, value no call has", ["f", "arg == 'n' and value == '99'", "Enter"],
             lambda t: "q quit" in t.rstrip("\n").split("\n")[-1]),
            ("filter, no match", ["f", "C-u", "depth == 99", "Enter"],
             lambda t: "q quit" in t.rstrip("\n").split("\n")[-1] and "depth" in t),
        ]
        for name, keys, test in steps:
            time.sleep(0.1)
            s.keys(*keys)
            print("%-32s %8.3f s" % (name, s.timed(test)))
    finally:
        s.close()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
