"""`callscope view` end to end: the real viewer in a real terminal (tmux),
on real recordings and on a large synthetic store, checked by what a user
sees on the screen."""

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

from tests.py.support import CALLSCOPE, LIB, calls_as_late_rows, query_recording

TMUX = shutil.which("tmux")
DEADLINE = 60  # seconds to wait for a screen before failing

PROGRAM = """
import threading, time
import callscope

def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

def greet(name, times=1):
    return name * times

def fail(x):
    raise ValueError("bad %s" % x)

def slow():
    time.sleep(0.15)
    callscope.log("slept", seconds=0.15)

def medium():
    time.sleep(0.02)

def long_args(first, second, third, fourth):
    return len(first + second + third + fourth)

def worker():
    greet("w", 3)

fib(4)
greet("ab", 2)
try:
    fail(3)
except ValueError:
    pass
slow()
medium()
long_args("a" * 40, "b" * 40, "c" * 40, "d" * 20 + "-TAILMARK")
t = threading.Thread(target=worker, name="worker-1")
t.start()
t.join()
"""

FOLLOWED = """
import time

def tick(i):
    return i

for i in range(60):
    tick(i)
    time.sleep(0.05)
"""

_sockets = 0


class Screen:
    """One tmux server with one window running a command."""

    def __init__(self, command, cwd, width=80, height=24, env=None):
        global _sockets
        _sockets += 1
        self.socket = "callscope-view-%d-%d" % (os.getpid(), _sockets)
        self.tmux = [TMUX, "-L", self.socket, "-f", "/dev/null"]
        environ = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        environ.update(env or {})
        args = []
        for k, v in environ.items():
            args += ["-e", "%s=%s" % (k, v)]
        # after the viewer: its exit status and the terminal's modes, then wait
        shell = "%s; echo \"viewer exited $?\"; stty -a | tr ' ;' '\\n\\n' | grep -xE -- '-?(icanon|echo)'; exec sleep 600" % command
        subprocess.run(self.tmux + ["new-session", "-d", "-x", str(width), "-y", str(height), "-c", cwd] + args +
                       ["sh", "-c", shell], check=True, stdin=subprocess.DEVNULL)

    def text(self, escapes=False):
        proc = subprocess.run(self.tmux + ["capture-pane", "-p"] + (["-e"] if escapes else []),
                              stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        return proc.stdout.decode(errors="replace")

    def lines(self):
        return self.text().split("\n")

    def keys(self, *keys):
        subprocess.run(self.tmux + ["send-keys"] + list(keys), check=True, stdin=subprocess.DEVNULL)

    def typed(self, text):
        subprocess.run(self.tmux + ["send-keys", "-l", text], check=True, stdin=subprocess.DEVNULL)

    def resize(self, width, height):
        subprocess.run(self.tmux + ["resize-window", "-x", str(width), "-y", str(height)], check=True,
                       stdin=subprocess.DEVNULL)

    def wait(self, test, what, escapes=False, stable=True):
        """Polls the screen until test(text) holds on two captures in a row
        that are the same (the screen is not being drawn); fails with the
        screen."""
        end = time.monotonic() + DEADLINE
        previous = None
        while True:
            text = self.text(escapes)
            if test(text) and (text == previous or not stable):
                return text
            if time.monotonic() > end:
                raise AssertionError("screen never showed %s:\n%s" % (what, text))
            previous = text if test(text) else None
            time.sleep(0.05)

    def wait_for(self, needle):
        return self.wait(lambda t: needle in t, repr(needle))

    def status(self):
        lines = self.text().rstrip("\n").split("\n")
        return lines[-1] if lines else ""

    def close(self):
        subprocess.run(self.tmux + ["kill-server"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       stdin=subprocess.DEVNULL)


def selected_id(screen):
    """The selected call's id, from the status line ('call 12/40')."""
    import re
    m = re.search(r"call (\d+)/\d+", screen.status())
    return int(m.group(1)) if m else None


@unittest.skipUnless(TMUX, "tmux is not installed")
class ViewerTest(unittest.TestCase):
    """Records PROGRAM once for the class."""

    program = PROGRAM

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="callscope-view-")
        cls.db = os.path.join(cls.dir, "trace.db")
        script = os.path.join(cls.dir, "app.py")
        with open(script, "w") as f:
            f.write(textwrap.dedent(cls.program))
        proc = subprocess.run([CALLSCOPE, "run", "--no-stdlib", "--python", sys.executable, "-o", cls.db, script],
                              cwd=cls.dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, timeout=120, env=dict(os.environ, PYTHONPATH=LIB))
        if proc.returncode != 0:
            raise AssertionError("callscope run failed: %s" % proc.stderr.decode(errors="replace"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def setUp(self):
        self.screens = []

    def tearDown(self):
        for s in self.screens:
            s.close()

    def view(self, *args, width=80, height=24, env=None, db=None):
        command = " ".join([CALLSCOPE, "view", db or self.db] + list(args))
        if env and "TERM" in env:  # tmux sets TERM for its panes: set it for the viewer alone
            command = "TERM=%s %s" % (env["TERM"], command)
        screen = Screen(command, self.dir, width, height, env)
        self.screens.append(screen)
        return screen

    def ids(self, sql, *params):
        return [r[0] for r in query_recording(self.db, sql, params)]

    def search(self, s, pattern):
        s.keys("/")
        s.typed(pattern)
        s.keys("Enter")


class Viewer(ViewerTest):
    def test_tree_of_each_thread(self):
        s = self.view()
        text = s.wait_for("worker-1")
        self.assertRegex(text, r"callscope view · trace\.db · \d+ calls · finished")
        self.assertRegex(text, r"▾ pid \d+ · thread MainThread \(tid \d+\)")
        lines = s.lines()
        fib4 = next(i for i, l in enumerate(lines) if "fib(n=4) → 3" in l)
        fib3 = lines[fib4 + 1]
        self.assertIn("fib(n=3) → 2", fib3)
        indent = lambda l: len(l) - len(l.lstrip())
        self.assertGreater(indent(fib3), indent(lines[fib4]))
        self.assertRegex(text, r"greet\(name='ab', times=2\) → 'abab'  \[[\d.]+[nµm]?s\]")
        worker = next(i for i, l in enumerate(lines) if "thread worker-1" in l)
        self.assertIn("worker() → None", lines[worker + 1])
        self.assertIn("greet(name='w', times=3) → 'www'", lines[worker + 2])

    def test_long_lines_end_in_an_ellipsis_and_scroll_sideways(self):
        s = self.view()
        text = s.wait_for("long_args(")
        line = next(l for l in text.split("\n") if "long_args(" in l)
        self.assertEqual(len(line), 80, line)
        self.assertTrue(line.endswith("…"), line)
        self.assertNotIn("TAILMARK", text)
        # right, a quarter of the screen at a time, until the end shows
        for _ in range(20):
            before = s.text()
            if "TAILMARK" in before:
                break
            s.keys("Right")
            s.wait(lambda t: t != before, "the line scrolled")
        self.assertIn("TAILMARK", s.text())
        s.keys("0")
        s.wait(lambda t: "TAILMARK" not in t and "long_args(" in t, "scrolled back")

    def test_fold_and_unfold(self):
        s = self.view()
        s.wait_for("worker-1")
        self.search(s, r"fib\(n=4\)")
        s.wait(lambda t: selected_id(s) is not None, "a selected call")
        fib4 = self.ids("select id from call_view where function = '__main__.fib' and json_extract(args, '$.n') = '4'")
        self.assertEqual(selected_id(s), fib4[0])
        s.keys("Enter")
        text = s.wait_for("▸ fib(n=4) → 3")
        self.assertNotIn("fib(n=3)", text)
        self.assertIn("greet(name='ab', times=2)", text)
        s.keys("Enter")
        text = s.wait_for("fib(n=3)")
        self.assertNotIn("▸ fib", text)

    def test_fold_a_thread(self):
        s = self.view()
        s.wait_for("worker-1")
        s.keys("Enter")  # the first line: MainThread's heading
        text = s.wait(lambda t: "▸ pid" in t and "fib(" not in t, "MainThread folded")
        self.assertIn("thread worker-1", text)

    def test_search_next_and_previous(self):
        greets = self.ids("select id from call_view where function = '__main__.greet' order by id")
        self.assertEqual(len(greets), 2)
        s = self.view()
        s.wait_for("worker-1")
        self.search(s, "greet")
        s.wait(lambda t: selected_id(s) == greets[0], "the first greet selected")
        s.keys("n")
        s.wait(lambda t: selected_id(s) == greets[1], "the second greet selected")
        s.keys("n")
        s.wait_for("pattern not found")
        self.assertEqual(selected_id(s), greets[1])
        s.keys("N")
        s.wait(lambda t: selected_id(s) == greets[0], "back to the first greet")
        self.search(s, "no such thing here")
        s.wait_for("pattern not found")
        self.search(s, "(")
        s.wait_for("bad pattern")

    def test_filter_line(self):
        s = self.view()
        s.wait_for("worker-1")
        s.keys("f")
        s.typed("modu")
        text = s.wait_for("unknown field 'modu'; did you mean module?")
        caret = next(l for l in text.split("\n") if "unknown field" in l)
        self.assertEqual(caret.index("^"), len("filter: "))  # under column 1
        s.wait_for("Tab:  module")
        s.keys("Tab")
        s.wait(lambda t: s.status().rstrip() == "filter: module", "module completed")
        # Down and Up choose among the candidates; Enter takes the chosen one
        s.keys("C-u")
        s.typed("fu")
        s.wait_for("Tab:  func  function")
        s.keys("Down")
        s.wait_for("Tab: [func]  function")
        s.keys("Down")
        s.wait_for("Tab:  func [function]")
        s.keys("Down")  # round to the first
        s.wait_for("Tab: [func]  function")
        s.keys("Up")  # and back to the last
        s.wait_for("Tab:  func [function]")
        s.keys("Enter")
        s.wait(lambda t: s.status().rstrip() == "filter: function", "function taken")
        s.keys("C-u")
        s.typed("module")
        s.typed("== 'nosuch")
        s.wait_for("this string has no closing")
        s.typed("'")
        s.wait_for("no module is 'nosuch'")
        s.keys("C-u")
        s.typed("func == 'greet'")
        s.keys("Enter")
        applied = lambda t: t.rstrip("\n").split("\n")[-1].startswith("filter: func == 'greet'  q quit")
        text = s.wait(applied, "the filter applied")
        self.assertIn("greet(name='ab', times=2)", text)
        self.assertIn("greet(name='w', times=3)", text)
        self.assertNotIn("fib(", text)
        self.assertNotIn("worker()", text)
        # Esc leaves the filter as it was
        s.keys("f", "C-u")
        s.typed("func == 'fib'")
        s.keys("Escape")
        s.wait(applied, "the filter unchanged")
        self.assertNotIn("fib(", s.text())
        # an empty filter shows everything again
        s.keys("f", "C-u", "Enter")
        text = s.wait_for("fib(n=4)")
        self.assertNotIn("filter:", s.status())

    def test_filter_option(self):
        s = self.view("--filter", "\"exception != None\"")
        text = s.wait(lambda t: "fail(x=3)" in t and "filter: exception != None" in t, "the filtered calls")
        self.assertNotIn("fib(", text)
        proc = subprocess.run([CALLSCOPE, "view", self.db, "--filter", "fnuc == 'x'"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("unknown field 'fnuc'; did you mean func?", proc.stderr.decode())

    def test_details_pane(self):
        s = self.view()
        s.wait_for("worker-1")
        self.search(s, r"fail\(")
        s.wait(lambda t: selected_id(s) is not None, "a selected call")
        s.keys("d")
        text = s.wait_for("── details")
        self.assertRegex(text, r"function   __main__\.fail  \(call \d+, depth 1\)")
        self.assertRegex(text, r"file       .*app\.py:\d+")
        self.assertRegex(text, r"thread     MainThread \(tid \d+\) · pid \d+")
        self.assertRegex(text, r"exception  (ValueError: bad 3|<exception>)")
        self.assertIn("arguments  x: int = 3", text)
        self.assertRegex(text, r"duration   [\d.]+[nµm]?s \(self ")
        s.keys("j")
        text = s.wait_for("function   __main__.slow")
        self.assertIn("return     None", text)
        self.assertIn("arguments  (none)", text)
        self.assertIn("log        slept  seconds=0.15", text)
        s.keys("d")
        s.wait(lambda t: "── details" not in t, "the pane closed")

    def test_resize_and_too_small(self):
        s = self.view()
        s.wait_for("worker-1")
        s.resize(120, 40)
        text = s.wait(lambda t: any(len(l) == 120 and "long_args(" in l for l in t.split("\n")), "a wider line")
        line = next(l for l in text.split("\n") if "long_args(" in l)
        self.assertTrue(line.endswith("…"), line)
        self.assertEqual(len(text.rstrip("\n").split("\n")), 40)
        s.resize(30, 8)
        s.wait_for("terminal too small")
        s.resize(80, 24)
        text = s.wait_for("worker-1")
        self.assertNotIn("too small", text)
        s.keys("q")
        s.wait_for("viewer exited 0")

    def test_starts_too_small(self):
        s = self.view(width=35, height=8)
        text = s.wait_for("terminal too small")
        self.assertIn("need 40x10, have 35x8", text)
        s.keys("q")
        s.wait_for("viewer exited 0")

    def test_colors_and_no_color(self):
        green = "\x1b[32m"
        s = self.view()
        text = s.wait(lambda t: "worker-1" in t, "the tree", escapes=True)
        self.assertIn(green, text)  # short durations
        self.assertIn("\x1b[31m", text)  # slow(): 150 ms and more
        self.assertIn("\x1b[33m", text)  # medium(): 20 ms
        s.keys("q")
        for env, args in (({"NO_COLOR": "1"}, ()), ({}, ("--no-color",)), ({"TERM": "vt100"}, ())):
            s = self.view(*args, env=env)
            text = s.wait(lambda t: "worker-1" in t, "the tree", escapes=True)
            for code in ("\x1b[32m", "\x1b[31m", "\x1b[33m", "\x1b[36m"):
                self.assertNotIn(code, text)
            self.assertIn("\x1b[1m", text)  # bold still marks the names

    def test_quit_restores_the_terminal(self):
        s = self.view()
        s.wait_for("worker-1")
        s.keys("q")
        text = s.wait(lambda t: "viewer exited 0" in t and "\necho" in t, "the shell after the viewer")
        self.assertNotIn("callscope view ·", text)
        self.assertRegex(text, r"(?m)^icanon$")
        self.assertRegex(text, r"(?m)^echo$")

    def test_signals_restore_the_terminal(self):
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            s = self.view()
            s.wait_for("worker-1")
            pids = subprocess.run(["pgrep", "-f", "^%s view %s$" % (CALLSCOPE, self.db)], stdout=subprocess.PIPE)
            pids = [int(p) for p in pids.stdout.split()]
            self.assertEqual(len(pids), 1, pids)
            os.kill(pids[0], sig)
            text = s.wait(lambda t: "viewer exited %d" % (128 + sig) in t and "\necho" in t, "the shell")
            self.assertNotIn("callscope view ·", text)
            self.assertRegex(text, r"(?m)^icanon$")
            s.close()

    def test_bad_input_before_the_screen(self):
        def run(*args, **kwargs):
            return subprocess.run([CALLSCOPE, "view"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL, cwd=self.dir, **kwargs)

        missing = run(os.path.join(self.dir, "missing.db"))
        self.assertEqual(missing.returncode, 1)
        self.assertEqual(len(missing.stderr.decode().splitlines()), 1, missing.stderr)
        self.assertIn("missing.db", missing.stderr.decode())
        corrupt = os.path.join(self.dir, "corrupt.db")
        with open(corrupt, "wb") as f:
            f.write(b"not a database at all" * 100)
        proc = run(corrupt)
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(len(proc.stderr.decode().splitlines()), 1, proc.stderr)
        newer = os.path.join(self.dir, "newer.db")
        shutil.copy(self.db, newer)
        con = sqlite3.connect(newer)
        (version,), = con.execute("pragma user_version")
        con.execute("pragma user_version = %d" % (version + 1))
        con.commit()
        con.close()
        proc = run(newer)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("newer callscope", proc.stderr.decode())
        proc = run(self.db)  # stdout is a pipe
        self.assertEqual(proc.returncode, 1)
        self.assertIn("needs a terminal", proc.stderr.decode())
        self.assertEqual(proc.stdout, b"")
        proc = run(self.db, "--bogus")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("unknown option", proc.stderr.decode())


class FollowMode(ViewerTest):
    program = "pass\n"
    record_options = []

    def recorded_ticks(self, db):
        """How many calls the recording at db holds so far; raises
        sqlite3.Error while it cannot be read yet."""
        return query_recording(db, "select count(*) from calls")[0][0]

    def test_new_calls_appear_while_recording(self):
        script = os.path.join(self.dir, "ticks.py")
        with open(script, "w") as f:
            f.write(textwrap.dedent(FOLLOWED))
        db = os.path.join(self.dir, "follow.db")
        recorder = subprocess.Popen([CALLSCOPE, "run", "--no-stdlib", "--python", sys.executable, "-o", db]
                                    + self.record_options + [script],
                                    cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    stdin=subprocess.DEVNULL)
        try:
            end = time.monotonic() + DEADLINE
            error = None
            while True:  # until the first calls are in the store
                try:
                    # only once the collector made it: reading would create it
                    if os.path.exists(db) and self.recorded_ticks(db) > 2:
                        break
                except sqlite3.Error as e:  # not readable yet
                    error = e
                self.assertLess(time.monotonic(), end, "nothing recorded (last error: %s)" % error)
                time.sleep(0.05)
            s = self.view(db=db)
            s.wait_for("· recording")
            s.keys("F")
            import re
            seen = set()

            def newest(text):
                ticks = [int(m) for m in re.findall(r"tick\(i=(\d+)\)", text)]
                if ticks and "FOLLOW" in text:
                    seen.add(max(ticks))
                return len(seen) >= 3

            s.wait(newest, "new calls arriving")
            self.assertIn("· recording", s.text())
            self.assertEqual(recorder.wait(timeout=120), 0)
            text = s.wait(lambda t: "tick(i=59)" in t and "· finished" in t, "the last call, finished")
            self.assertIn("FOLLOW", text)
            s.keys("j")  # any key stops following
            s.wait(lambda t: "FOLLOW" not in t, "follow mode stopped")
        finally:
            if recorder.poll() is None:
                recorder.kill()
                recorder.wait()


class FollowModeDeferred(FollowMode):
    """The same with --defer-rows: the viewer follows a copy of the calls
    it builds from the event log as the recording commits it."""

    record_options = ["--defer-rows"]

    def recorded_ticks(self, db):
        proc = subprocess.run([CALLSCOPE, "show", db], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, timeout=60)
        if proc.returncode != 0:
            raise sqlite3.Error(proc.stderr.decode(errors="replace"))
        return proc.stdout.count(b"tick(")


LARGE_CALLS = 1000000
BLOCK = 100  # a root and its 99 children


class LargeStore(ViewerTest):
    """A store of a million calls, written straight with SQLite into the
    schema a real recording has."""

    program = "def f(n):\n    return n\nf(1)\n"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # every call a row of call_late, where a plain connection can add
        # calls one by one (call_rows, over call_chunks and call_late, is
        # read only)
        calls_as_late_rows(cls.db)
        con = sqlite3.connect(cls.db)
        fid = con.execute("select id from functions where qualname = 'f'").fetchone()[0]
        tid = con.execute("select id from threads order by id limit 1").fetchone()[0]
        base = con.execute("select max(id) from call_late").fetchone()[0]
        con.execute("drop index if exists calls_parent")

        def rows():
            for i in range(LARGE_CALLS):
                root = i - i % BLOCK
                depth = 0 if i == root else 1
                yield (base + 1 + i, None if depth == 0 else base + 1 + root, tid, fid, depth, i * 100,
                       50 if depth else 9999, 50, '["%d"]' % i, str(i), None, 0)

        # ints are stored inline in call_rows, as text (docs/schema.md)
        con.executemany("insert into call_late values (?,?,?,?,?,?,?,?,?,?,?,?)", rows())
        con.execute("update meta set value = (select count(*) from call_late) where key = 'calls'")
        con.commit()
        cls.last = con.execute("select max(id) from call_late").fetchone()[0]
        con.close()

    def test_paging_and_the_end(self):
        s = self.view()
        s.wait_for("f(n=0) → 0")
        s.keys("j", "j")
        s.wait(lambda t: selected_id(s) is not None, "a call selected")
        first = selected_id(s)
        s.keys("Space")
        s.wait(lambda t: (selected_id(s) or 0) > first + 10, "the next page")
        s.keys("b")
        s.wait(lambda t: selected_id(s) == first, "the previous page")
        s.keys("G")
        text = s.wait(lambda t: selected_id(s) == self.last, "the last call")
        self.assertIn("f(n=%d) → %d" % (LARGE_CALLS - 1, LARGE_CALLS - 1), text)
        s.keys("k")
        s.wait(lambda t: selected_id(s) == self.last - 1, "the call before the last")
        s.keys("g")
        s.wait(lambda t: "f(n=0) → 0" in t and selected_id(s) is None, "the top again")

    def test_fold_skips_a_large_subtree(self):
        s = self.view()
        s.wait_for("f(n=0) → 0")
        self.search(s, r"f\(n=%d\)" % (LARGE_CALLS - 2 * BLOCK))
        s.wait(lambda t: selected_id(s) is not None and "f(n=%d)" % (LARGE_CALLS - 2 * BLOCK) in t, "a root")
        s.keys("Enter")
        text = s.wait_for("▸ f(n=%d)" % (LARGE_CALLS - 2 * BLOCK))
        lines = text.split("\n")
        at = next(i for i, l in enumerate(lines) if "▸ f(n=" in l)
        self.assertIn("f(n=%d)" % (LARGE_CALLS - BLOCK), lines[at + 1])
        # going back up from the end passes over the folded calls
        s.keys("G")
        s.wait(lambda t: selected_id(s) == self.last, "the end")
        folded = "▸ f(n=%d)" % (LARGE_CALLS - 2 * BLOCK)
        for _ in range(10):
            before = s.text()
            if folded in before:
                break
            s.keys("b")
            s.wait(lambda t: t != before, "the previous page")
        lines = s.text().split("\n")
        at = next(i for i, l in enumerate(lines) if folded in l)
        self.assertIn("f(n=%d)" % (LARGE_CALLS - BLOCK), lines[at + 1])
        self.assertIn("f(n=%d)" % (LARGE_CALLS - 2 * BLOCK - 1), lines[at - 1])

    def test_search_far_away_and_cancel(self):
        s = self.view()
        s.wait_for("f(n=0) → 0")
        target = LARGE_CALLS - 3
        self.search(s, r"\(n=%d\)" % target)
        s.wait(lambda t: "f(n=%d) → %d" % (target, target) in t and selected_id(s) is not None, "a far match")
        s.keys("g")
        s.wait(lambda t: selected_id(s) is None, "the top")
        self.search(s, "never matches")
        s.wait(lambda t: "searching" in s.status() and "%" in s.status(), "the progress of the search",
               stable=False)
        s.keys("Escape")
        s.wait_for("search cancelled")

    def test_filter_on_a_large_store(self):
        s = self.view()
        s.wait_for("f(n=0) → 0")
        s.keys("f")
        s.typed("value == '%d'" % (LARGE_CALLS - 5))
        s.keys("Enter")
        text = s.wait(lambda t: "f(n=%d)" % (LARGE_CALLS - 5) in t, "the only match")
        self.assertNotIn("f(n=0)", text)
        s.keys("G")
        s.wait(lambda t: selected_id(s) is not None, "the match selected")


class ManyBlocks(ViewerTest):
    """A real recording of 20 blocks of 1,024 calls: the filter reads only
    the blocks the skip index says may hold what it asks for, paging both
    ways."""

    program = """
        def work(n):
            return n

        def rare(x):
            return x

        for i in range(20000):
            work(i % 1000)
            if i in (3000, 12345, 19000):
                rare('needle %d' % i)
        """

    def test_value_filter_pages_over_the_blocks_between(self):
        s = self.view("--filter", "\"arg == 'n' and value == '345'\"", height=12)
        s.wait_for("work(n=345) → 345")
        self.assertEqual(s.text().count("work(n=345)"), 9)  # a screen of the 20
        s.keys("G")
        s.wait(lambda t: selected_id(s) == max(self.ids("select id from call_rows where args = '[\"345\"]'")),
               "the last match")
        s.keys("g")
        s.wait(lambda t: selected_id(s) is None and "▾ pid" in t, "the top")
        s.keys("f", "C-u")
        s.typed("func == 'rare'")
        s.keys("Enter")
        text = s.wait(lambda t: "needle 19000" in t, "the three calls of rare")
        self.assertEqual([l.strip().split("  [")[0] for l in text.split("\n") if "rare(" in l],
                         ["rare(x='needle %d') → 'needle %d'" % (i, i) for i in (3000, 12345, 19000)])


if __name__ == "__main__":
    unittest.main()
