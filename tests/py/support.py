"""Shared helpers: run a program under the real `callscope` binary and read
the database it wrote with sqlite3."""

import json
import os
import pty
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CALLSCOPE = os.path.abspath(os.environ.get("CALLSCOPE_BIN", os.path.join(ROOT, "build", "callscope")))


class TracedProgram(unittest.TestCase):
    """A test case with a scratch directory and helpers to run programs."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="callscope-test-")
        self.db = os.path.join(self.dir, "trace.db")
        self.targets = []  # long-running processes a test started: killed at its end

    def tearDown(self):
        for p in self.targets:
            if p.poll() is None:
                p.kill()
            p.wait()
            for f in (p.stdin, p.stdout, p.stderr):
                if f:
                    f.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, name, source):
        path = os.path.join(self.dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(textwrap.dedent(source))
        return path

    def callscope(self, *args, timeout=120, **kwargs):
        return subprocess.run(
            [CALLSCOPE] + list(args), cwd=self.dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL, timeout=timeout, **kwargs
        )

    def run_traced(self, source, *args, options=(), check=True):
        script = self.write("app.py", source)
        proc = self.callscope("run", "--python", sys.executable, "-o", self.db, *options, script, *args)
        if check and proc.returncode != 0:
            self.fail("callscope run failed (%d): %s" % (proc.returncode, proc.stderr.decode(errors="replace")))
        return proc

    def run_plain(self, script, *args, with_callscope=False):
        """The script under plain Python; `with_callscope` lets it import callscope."""
        env = dict(os.environ)
        if with_callscope:
            env["PYTHONPATH"] = LIB
        return subprocess.run([sys.executable, script] + list(args), cwd=self.dir, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=120, env=env)

    def query(self, sql, *params):
        con = sqlite3.connect(self.db)
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()

    def calls(self, function):
        """Rows of call_view for a function named module.qualname, in order."""
        con = sqlite3.connect(self.db)
        con.row_factory = sqlite3.Row
        try:
            rows = con.execute("select * from call_view where function = ? order by id", (function,)).fetchall()
        finally:
            con.close()
        return [dict(r) for r in rows]

    def args_of(self, row):
        return json.loads(row["args"]) if row["args"] else {}


MONITORING = sys.version_info >= (3, 12)
# Live observation before 3.11 goes through the frame evaluator (live_evaluator.c).
LIVE_BY_EVALUATOR = sys.version_info < (3, 11)
# Untraced, Python calls made by Python code run in one C frame; through the
# frame evaluator each takes C stack (before 3.11 they take it anyway).
INLINE_CALLS = sys.version_info >= (3, 11)
LIB = os.path.join(os.path.dirname(CALLSCOPE), "lib")


def on_terminal(args, env=None, stdout_too=True):
    """Runs a command with a pseudo-terminal as stderr (and stdout, unless
    stdout_too is false: then stdout is discarded); returns its exit status
    and what it wrote to the terminal."""

    master, slave = pty.openpty()
    proc = subprocess.Popen(args, stdout=slave if stdout_too else subprocess.DEVNULL, stderr=slave,
                            stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    proc.wait(60)
    return proc.returncode, b"".join(chunks).decode(errors="replace")
