"""How fast `callscope export` writes each format from a large store.

Builds a store of N synthetic calls with build/collector_bench (fib(25)
trees, one int argument and result each: the collector's real writer, no
Python involved), then times `callscope export` into a file for every
format and prints seconds, calls per second, output size and peak memory.

    make export-bench                 (2 million calls)
    python3 bench/export_bench.py [calls] [--keep PATH]
"""

import os
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD", os.path.join(ROOT, "build"))
FORMATS = ("perfetto", "chrome-json", "firefox", "speedscope", "folded", "svg", "jsonl")


def main():
    calls = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 2000000
    work = tempfile.mkdtemp(prefix="callscope-export-bench-")
    db = os.path.join(work, "bench.db")
    subprocess.run([os.path.join(BUILD, "collector_bench"), str(calls), db], check=True, stdout=subprocess.DEVNULL)
    con = sqlite3.connect(db)  # whole fib trees: a little more
    calls = int(con.execute("select value from meta where key = 'calls'").fetchone()[0])
    con.close()
    print("store: %d calls, %.0f MB" % (calls, os.path.getsize(db) / 1e6))
    print("%-14s %8s %12s %10s %10s" % ("format", "seconds", "calls/s", "output MB", "max RSS MB"))
    try:
        for fmt in FORMATS:
            out = os.path.join(work, "out." + fmt)
            start = time.perf_counter()
            proc = subprocess.Popen([os.path.join(BUILD, "callscope"), "export", db, "--format", fmt, "-o", out])
            _, status, usage = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode:
                sys.exit("export --format %s failed" % fmt)
            print("%-14s %8.2f %12s %10.1f %10.0f" % (fmt, seconds, "{:,.0f}".format(calls / seconds),
                                                    os.path.getsize(out) / 1e6, usage.ru_maxrss / 1024))
            os.unlink(out)
    finally:
        for name in os.listdir(work):
            os.unlink(os.path.join(work, name))
        os.rmdir(work)


if __name__ == "__main__":
    main()
