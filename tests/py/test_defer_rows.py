"""`callscope run --defer-rows` keeps the events only, and the calls are
built from them afterwards (in the background once the program is done,
or with =later by `callscope index`): the same calls a recording without
the option has, whatever the program did."""

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

from tests.py.support import (CALLSCOPE, SERVING_PROGRAM, TracedProgram, in_terminal, on_terminal,
                              query_recording, script_with_extension)

# Threads, a child process, an exception caught and one that escapes a
# call, a generator, a recursion, values of several kinds and a log line:
# what the collector pairs and renders, all of it deterministic but for
# addresses.
PROGRAM = """
import logging, os, threading
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
def fails(x):
    raise ValueError("bad %s" % x)
def tries(x):
    try:
        fails(x)
    except ValueError:
        return "caught"
def gen(n):
    for i in range(n):
        yield {"i": i, "s": "x" * i}
def work(k):
    fib(8 + k)
    tries(k)
    return sorted(gen(3), key=lambda d: d["i"])[0]
# (forked before there are threads and handlers: the child's fork handlers
# walk weak sets of them, in an order of addresses)
pid = os.fork()
if pid == 0:
    work(4)
    os._exit(0)
os.waitpid(pid, 0)
threads = [threading.Thread(target=work, args=(k,), name="worker-%d" % k) for k in range(3)]
for t in threads:
    t.start()
    t.join()
logging.warning("done %d", 3)
work(9)
"""

# Each thread's calls in order, the first process's first (how threads and
# processes interleave is the program's timing, in any two recordings).
ROWS = ("select pid = (select min(pid) from processes), thread, function, args, result, exception, depth, flags,"
        " (select function from call_view p where p.id = c.parent_id) from call_view c"
        " order by 1 desc, thread, id")


def normalized(rows):
    """What differs between two runs of a program: addresses, thread
    idents, the time stamps of the directory it runs in."""
    def same(v):
        return re.sub(r"0x[0-9a-f]+|\b[0-9]{9,}\b", "N", v) if isinstance(v, str) else v
    return [tuple(same(v) for v in row) for row in rows]


def raw_query(db, sql):
    """A query of a deferred recording's own tables, which need no
    extension (readers through callscope are sent to `callscope index`)."""
    db = sqlite3.connect(db)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


class DeferRows(TracedProgram):
    def deferred(self, source, options=()):
        """A recording whose calls are left to `callscope index`."""
        proc = self.run_traced(source, options=["--defer-rows=later"] + list(options))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return proc

    def record(self, script, *options):
        proc = self.callscope("run", "--python", sys.executable, "-o", self.db, *options, script,
                              env=dict(os.environ, PYTHONHASHSEED="0"))
        self.assertEqual(proc.returncode, 0, proc.stderr)

    def index(self, path=None):
        return self.callscope("index", path or self.db)

    def test_the_calls_built_are_those_of_a_recording_without_the_option(self):
        script = self.write("app.py", PROGRAM)  # (once: its time stamps are among the values recorded)
        self.record(script)
        expected = normalized(self.query(ROWS))
        threads = self.query("select name from threads order by id")
        logs = self.query("select message from logs")
        self.assertGreater(len(expected), 100)
        self.record(script, "--defer-rows=later")
        # What was kept is the events, smaller than the calls they hold.
        self.assertEqual(raw_query(self.db, "select value from meta where key = 'rows'"), [("deferred",)])
        self.assertGreater(raw_query(self.db, "select count(*) from event_log")[0][0], 0)
        proc = self.index()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertRegex(proc.stderr.decode(), r"^callscope: %d calls built in " % len(expected))
        self.assertEqual(normalized(self.query(ROWS)), expected)
        self.assertEqual(self.query("select name from threads order by id"), threads)
        self.assertEqual(self.query("select message from logs"), logs)
        self.assertEqual(self.query("select count(*) from sqlite_master where name = 'event_log'"), [(0,)])
        self.assertEqual([f for f in os.listdir(self.dir) if f.startswith("trace.db")], ["trace.db"])
        # and it reads as any recording
        shown = self.callscope("show", self.db, "--no-color", "--filter", "function == '__main__.fails'")
        self.assertEqual(shown.returncode, 0, shown.stderr)
        self.assertIn("ValueError", shown.stdout.decode())

    def test_the_calls_are_built_in_the_background_and_readers_wait_for_them(self):
        script = self.write("app.py", PROGRAM)
        self.record(script)
        expected = normalized(self.query(ROWS))
        self.record(script, "--defer-rows")
        # read at once: the build that `callscope run` left running is waited for
        stats = self.callscope("stats", self.db, "--format", "jsonl", "--limit", "100000")
        self.assertEqual(stats.returncode, 0, stats.stderr)
        self.assertEqual(sum(json.loads(line)["count"] for line in stats.stdout.splitlines()), len(expected))
        self.assertEqual(normalized(self.query(ROWS)), expected)
        proc = self.index()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("nothing to build: %d calls already in" % len(expected), proc.stderr.decode())
        deadline = time.monotonic() + 60  # (the builder's last act, the rename, is done: it may still be exiting)
        while [f for f in os.listdir(self.dir) if f.startswith("trace.db")] != ["trace.db"]:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)

    def test_a_recording_in_place_of_one_being_built_is_the_one_kept(self):
        first = self.write("first.py", "def first(i):\n    return i\nfor i in range(200000):\n    first(i)\n")
        second = self.write("second.py", "def second(i):\n    return i\nfor i in range(100):\n    second(i)\n")
        for script in (first, second):  # the second while the first's calls may still be being built
            self.record(script, "--defer-rows")
        stats = self.callscope("stats", self.db, "--format", "jsonl", "--limit", "100000")
        self.assertEqual(stats.returncode, 0, stats.stderr)
        counts = {json.loads(line)["function"]: json.loads(line)["count"] for line in stats.stdout.splitlines()}
        self.assertEqual(counts.get("__main__.second"), 100)
        self.assertNotIn("__main__.first", counts)

    def test_the_summary_on_a_terminal_says_where_the_calls_are(self):
        script = self.write("app.py", "def f(i):\n    return i\nfor i in range(100):\n    f(i)\n")
        for option, says in (("--defer-rows=later", "`callscope index %s` builds its calls" % self.db),
                             ("--defer-rows", "its calls are being built (`callscope index %s` waits for them)"
                              % self.db)):
            status, out = on_terminal([CALLSCOPE, "run", option, "--python", sys.executable, "-o", self.db, script])
            self.assertEqual(status, 0, out)
            self.assertRegex(out.strip(), r"^callscope: [0-9.]+ kB of events recorded in %s; " % re.escape(self.db))
            self.assertIn(says, out)
        self.assertEqual(self.index().returncode, 0)

    def test_options_of_the_recording_hold_for_the_calls_built(self):
        source = """
            def level(n):
                return 0 if n == 0 else level(n - 1)
            level(6)
        """
        self.deferred(source, options=["--max-depth", "2", "--no-args"])
        self.assertEqual(self.index().returncode, 0)
        self.assertEqual(max(r[0] for r in self.query("select depth from calls")), 2)
        self.assertEqual(self.query("select count(*) from calls where args is not null or result is not null"),
                         [(0,)])
        self.assertEqual(self.query("select value from meta where key = 'no_args'"), [(1,)])

    def test_a_program_that_made_no_call_traced(self):
        self.deferred("print('hello')", options=["--include", os.path.join(self.dir, "nothing")])
        proc = self.index()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("0 calls built", proc.stderr.decode())
        self.assertEqual(self.query("select count(*) from calls"), [(0,)])

    def test_readers_say_the_calls_are_to_be_built(self):
        self.deferred("print('hello')")
        for command in (["show", self.db], ["stats", self.db], ["export", self.db, "--format", "jsonl"],
                        ["sql", self.db, "select 1"]):
            proc = self.callscope(*command)
            self.assertNotEqual(proc.returncode, 0, command)
            lines = proc.stderr.decode().splitlines()
            self.assertEqual(len(lines), 1, lines)
            self.assertIn("callscope index %s" % self.db, lines[0])
        # and so does the SQLite extension, for the programs that load it
        with self.assertRaisesRegex(sqlite3.OperationalError, "callscope index FILE"):
            script_with_extension(self.db, "select count(*) from call_view;")

    def test_what_index_and_run_refuse(self):
        proc = self.callscope("index", os.path.join(self.dir, "missing.db"))
        self.assertEqual(proc.returncode, 1)
        self.assertIn("no such file", proc.stderr.decode())
        self.assertEqual(self.callscope("index").returncode, 2)
        proc = self.callscope("run", "--defer-rows", "--max-calls", "10", self.write("x.py", "pass"))
        self.assertEqual(proc.returncode, 2)
        self.assertIn("--max-calls", proc.stderr.decode())
        proc = self.callscope("run", "--defer-rows=soon", self.write("x.py", "pass"))
        self.assertEqual(proc.returncode, 2)
        self.assertIn("--defer-rows=soon", proc.stderr.decode())

    def test_a_corrupt_log_is_said_so_and_left_as_it_was(self):
        self.deferred(PROGRAM)
        db = sqlite3.connect(self.db)
        with db:
            db.execute("update event_log set data = substr(data, 1, 10) || x'00ff00ff' || substr(data, 15)")
        db.close()
        with open(self.db, "rb") as f:
            before = f.read()
        proc = self.index()
        self.assertEqual(proc.returncode, 1)
        lines = proc.stderr.decode().splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("is corrupt", lines[0])
        with open(self.db, "rb") as f:
            self.assertEqual(f.read(), before)
        self.assertEqual([f for f in os.listdir(self.dir) if f.startswith("trace.db")], ["trace.db"])

    def test_a_full_disk_ends_the_recording_in_one_line(self):
        mnt = self.small_file_system("3m")
        db = os.path.join(mnt, "x.db")
        self.write("app.py", "def f(i):\n    return i\nfor i in range(1000000):\n    f(i)\nprint('done')\n")
        proc = self.callscope("run", "--defer-rows", "--python", sys.executable, "-o", db, "app.py")
        # the program runs to its end, with its own status
        self.assertEqual((proc.stdout, proc.returncode), (b"done\n", 0))
        err = proc.stderr.decode().strip().splitlines()
        self.assertEqual(len(err), 1, err)
        self.assertIn("the disk is full", err[0])
        # No build was started. One asked for either finds no room for the
        # calls (where the disk filled decides) and says so, leaving the
        # recording as it was, or builds the calls up to where it filled.
        files = sorted(os.listdir(mnt))
        proc = self.callscope("index", db)
        err = proc.stderr.decode().strip().splitlines()
        self.assertEqual(len(err), 1, err)
        if proc.returncode != 0:
            self.assertEqual(proc.returncode, 1)
            self.assertIn("the disk is full", err[0])
            self.assertEqual(sorted(os.listdir(mnt)), files)
            return
        count, first, last, unfinished = query_recording(
            db, "select count(result), min(cast(result as int)), max(cast(result as int)), count(*) - count(result)"
                " from call_view where function = '__main__.f'")[0]
        self.assertLess(count, 1000000)
        if count:
            self.assertEqual((first, last + 1), (0, count))
        self.assertLessEqual(unfinished, 1)

    def test_readers_see_the_calls_so_far_while_the_program_runs(self):
        script = self.write("app.py", SERVING_PROGRAM)
        copies = os.path.join(self.dir, "tmp")
        os.mkdir(copies)
        env = dict(os.environ, TMPDIR=copies)
        # what readers killed outright left: removed by the next reader when
        # its process is gone, and only then
        gone = subprocess.Popen(["true"])
        gone.wait()
        left = {}
        for name, pid in (("abandoned", gone.pid), ("alive", os.getpid())):
            left[name] = os.path.join(copies, "callscope-reading-%d-%s" % (pid, name))
            os.mkdir(left[name])
            for f in ("calls.db", "calls.db-wal", "calls.db-shm"):
                open(os.path.join(left[name], f), "w").close()
        recorder = subprocess.Popen([CALLSCOPE, "run", "--defer-rows", "--python", sys.executable, "-o", self.db,
                                     script], cwd=self.dir, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.targets.append(recorder)
        self.assertEqual(recorder.stdout.readline(), b"ready\n")
        ticks = "select count(*), count(distinct parent_id) from call_view where function = '__main__.tick'"
        serving = "select id, duration_ns from call_view where function = '__main__.serve'"
        # the recording commits its events every 100 ms: the readers see them
        # all soon, serve() running, with no end yet, and the ticks under it
        deadline = time.monotonic() + 60
        while True:
            proc = self.callscope("sql", self.db, ticks, env=env)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            if proc.stdout == b"50|1\n" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(proc.stdout, b"50|1\n")
        proc = self.callscope("sql", self.db, serving, env=env)
        serve_id = proc.stdout.decode().split("|")[0]
        self.assertEqual(proc.stdout.decode(), serve_id + "|\n")
        proc = self.callscope("show", self.db, env=env)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        shown = proc.stdout.decode()
        self.assertIn("serve()  [unfinished]", shown)
        self.assertIn("tick(i=49) → 49", shown)
        proc = self.callscope("stats", self.db, env=env)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("__main__.tick", proc.stdout.decode())
        # a reader that finds no room for its copy says so in one line
        proc = self.callscope("show", self.db, env=dict(env, TMPDIR=os.path.join(self.dir, "missing")))
        self.assertEqual(proc.returncode, 1)
        err = proc.stderr.decode().strip().splitlines()
        self.assertEqual(len(err), 2, err)  # (the first says it reads the calls so far)
        self.assertIn("cannot make a directory in %s" % os.path.join(self.dir, "missing"), err[1])
        # each reader's copy went with it, and the one abandoned too
        self.assertEqual(os.listdir(copies), [os.path.basename(left["alive"])])
        self.assertEqual(sorted(os.listdir(left["alive"])), ["calls.db", "calls.db-shm", "calls.db-wal"])
        # the recording as such stays a log, for its build
        self.assertEqual(raw_query(self.db, "select value from meta where key = 'rows'"), [("deferred",)])
        recorder.stdin.close()
        self.assertEqual(recorder.wait(60), 0)
        proc = self.callscope("sql", self.db, serving)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        served_id, duration = proc.stdout.decode().strip().split("|")
        self.assertEqual(served_id, serve_id)  # the copy's ids are the built file's
        self.assertGreater(int(duration), 0)

    def test_the_sqlite3_shell_reads_the_calls_so_far(self):
        if not shutil.which("sqlite3"):
            self.skipTest("sqlite3 is not installed")
        script = self.write("app.py", SERVING_PROGRAM)
        copies = os.path.join(self.dir, "tmp")
        os.mkdir(copies)
        recorder = subprocess.Popen([CALLSCOPE, "run", "--defer-rows", "--python", sys.executable, "-o", self.db,
                                     script], cwd=self.dir, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.targets.append(recorder)
        self.assertEqual(recorder.stdout.readline(), b"ready\n")
        typed = b"SELECT 'n=' || count(*) FROM call_view WHERE function = '__main__.tick';\n.quit\n"
        deadline = time.monotonic() + 60
        while True:  # (the recording commits its events every 100 ms)
            status, out = in_terminal([CALLSCOPE, "sql", self.db], typed=typed, env=dict(os.environ, TMPDIR=copies))
            self.assertEqual(status, 0, out)
            if "n=50" in out or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertIn("reading the calls so far", out)
        self.assertIn("n=50", out)
        self.assertEqual(os.listdir(copies), [])  # the copy went when the shell ended
        recorder.stdin.close()
        self.assertEqual(recorder.wait(60), 0)

    def test_a_recorder_killed_keeps_the_events_it_stored(self):
        script = self.write("app.py", """
            import time
            def tick(i):
                return i
            i = 0
            while True:
                tick(i)
                i += 1
                if i % 1000 == 0:
                    time.sleep(0.001)
        """)
        recorder = subprocess.Popen([CALLSCOPE, "run", "--defer-rows=later", "--python", sys.executable, "-o", self.db,
                                     script], cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.targets.append(recorder)
        # A recording under way is not built from.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if os.path.exists(self.db) and raw_query(self.db, "select count(*) from sqlite_master"
                                                              " where name = 'event_log'")[0][0]:
                break
            time.sleep(0.05)
        time.sleep(0.3)
        proc = self.index()
        self.assertEqual(proc.returncode, 1)
        self.assertIn("still being recorded", proc.stderr.decode())
        proc = self.callscope("show", "--limit", "3", self.db)  # the calls so far
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("tick(i=0) → 0", proc.stdout.decode())
        recorder.send_signal(signal.SIGKILL)
        recorder.wait()
        proc = self.index()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        count, first, last, unfinished = self.query(
            "select count(result), min(cast(result as int)), max(cast(result as int)), count(*) - count(result)"
            " from call_view where function = '__main__.tick'")[0]
        self.assertGreater(count, 0)
        # every tick from the first to the last stored is there, and at
        # most the one the events stored end in has no end
        self.assertEqual((first, last + 1), (0, count))
        self.assertLessEqual(unfinished, 1)
