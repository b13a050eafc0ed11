"""Shared helpers: run a program under the real `callscope` binary and read
the database it wrote with sqlite3."""

import ast
import json
import os
import pty
import select
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CALLSCOPE = os.path.abspath(os.environ.get("CALLSCOPE_BIN", os.path.join(ROOT, "build", "callscope")))

# A program that makes 50 calls under one still running, says "ready" and
# waits for a line on its standard input before it returns: a recording
# read while the program runs.
SERVING_PROGRAM = """
import sys
def tick(i):
    return i
def serve():
    for i in range(50):
        tick(i)
    print("ready", flush=True)
    sys.stdin.readline()
serve()
"""


def sql_literal(value):
    """value as an SQL literal, for SQL run by `callscope sql`."""
    if value is None:
        return "NULL"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, bytes):
        return "X'%s'" % value.hex()
    return "'%s'" % str(value).replace("'", "''")


def inline_params(sql, params):
    """sql with each ? outside quotes replaced by the next parameter."""
    out, rest, quote = [], list(params), None
    for ch in sql:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "?":
            out.append(sql_literal(rest.pop(0)))
            continue
        out.append(ch)
    return "".join(out)


def query_recording(db, sql, params=(), with_names=False):
    """Rows of sql on the recording db, read as a user reads it: through
    Python's sqlite3 with callscope's SQLite extension loaded
    (callscope.connect) where this Python can load extensions, else through
    `callscope sql`, the documented way for the others."""
    if hasattr(sqlite3.Connection, "enable_load_extension"):
        names, rows = rows_by_python_sqlite3(db, sql, params)
    else:
        proc = subprocess.run([CALLSCOPE, "sql", "--format", "json", "--header", db, inline_params(sql, params)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=300)
        if proc.returncode != 0:
            raise sqlite3.OperationalError(proc.stderr.decode(errors="replace").strip())
        lines = [json.loads(line) for line in proc.stdout.decode().splitlines() if line]
        names = lines[0] if lines else []
        rows = [tuple(r) for r in lines[1:]]
    return (names, rows) if with_names else rows


# A Python whose sqlite3 can load extensions, to read recordings with
# Python's sqlite3 where the Python under test cannot: Debian's own.
SYSTEM_PYTHON = "/usr/bin/python3"
READ_WITH_EXTENSION = r"""
import ast, sys
sys.path.insert(0, sys.argv[1])
import callscope
con = callscope.connect(sys.argv[2])
cur = con.execute(sys.argv[3], ast.literal_eval(sys.argv[4]))
rows = cur.fetchall()
print(repr(([d[0] for d in cur.description or ()], rows)))
"""


def rows_by_python_sqlite3(db, sql, params=()):
    """(column names, rows) of sql on the recording db through Python's
    sqlite3 module with callscope's extension loaded: in this Python if it
    can load extensions, else in SYSTEM_PYTHON."""
    if hasattr(sqlite3.Connection, "enable_load_extension"):
        sys.path.insert(0, LIB)
        try:
            import callscope
        finally:
            sys.path.remove(LIB)
        con = callscope.connect(db)
        try:
            cur = con.execute(sql, params)
            return [d[0] for d in cur.description or ()], cur.fetchall()
        finally:
            con.close()
    proc = subprocess.run([SYSTEM_PYTHON, "-c", READ_WITH_EXTENSION, LIB, db, sql, repr(tuple(params))],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=300)
    if proc.returncode != 0:
        raise sqlite3.OperationalError(proc.stderr.decode(errors="replace").strip().splitlines()[-1])
    return ast.literal_eval(proc.stdout.decode())


RUN_WITH_EXTENSION = r"""
import sys
sys.path.insert(0, sys.argv[1])
import callscope
con = callscope.connect(sys.argv[2])
con.executescript(sys.argv[3])
con.commit()
"""


def script_with_extension(db, script):
    """Runs an SQL script on the recording db through Python's sqlite3 with
    callscope's extension loaded (in SYSTEM_PYTHON where this Python
    cannot load extensions): for tests that damage a recording."""
    proc = subprocess.run([sys.executable if hasattr(sqlite3.Connection, "enable_load_extension") else SYSTEM_PYTHON,
                           "-c", RUN_WITH_EXTENSION, LIB, db, script],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=300)
    if proc.returncode != 0:
        raise sqlite3.OperationalError(proc.stderr.decode(errors="replace").strip().splitlines()[-1])


def calls_as_late_rows(db):
    """Moves every call of the recording db out of its chunks into
    call_late, where a recording keeps the calls that ended after their
    chunk was written: a test can then change them row by row."""
    script_with_extension(db, "CREATE TEMP TABLE moved AS SELECT * FROM call_rows; DELETE FROM call_chunks;"
                              " INSERT OR REPLACE INTO call_late SELECT * FROM moved;")


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
        return query_recording(self.db, sql, params)

    def small_file_system(self, size):
        """A tmpfs of `size` mounted for this test, or the test skipped."""
        mnt = os.path.join(self.dir, "small")
        os.mkdir(mnt)
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", mnt],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if mounted.returncode != 0:
            self.skipTest("cannot mount a small file system here (needs root)")
        self.addCleanup(subprocess.run, ["umount", "-l", mnt])
        return mnt

    def calls(self, function):
        """Rows of call_view for a function named module.qualname, in order."""
        names, rows = query_recording(self.db, "select * from call_view where function = ? order by id", (function,),
                                      with_names=True)
        return [dict(zip(names, r)) for r in rows]

    def args_of(self, row):
        return json.loads(row["args"]) if row["args"] else {}


MONITORING = sys.version_info >= (3, 12)
# Live observation before 3.11 goes through the frame evaluator (live_evaluator.c).
LIVE_BY_EVALUATOR = sys.version_info < (3, 11)
# Untraced, Python calls made by Python code run in one C frame; through the
# frame evaluator each takes C stack (before 3.11 they take it anyway).
INLINE_CALLS = sys.version_info >= (3, 11)
LIB = os.path.join(os.path.dirname(CALLSCOPE), "lib")


def read_terminal(master, proc, timeout):
    """What proc wrote to the pseudo-terminal `master` until it closed it
    (or `timeout` s passed: it is then killed); its exit status and that
    text."""
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)
    return proc.returncode, b"".join(chunks).decode(errors="replace")


def on_terminal(args, env=None, stdout_too=True):
    """Runs a command with a pseudo-terminal as stderr (and stdout, unless
    stdout_too is false: then stdout is discarded); returns its exit status
    and what it wrote to the terminal."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, stdout=slave if stdout_too else subprocess.DEVNULL, stderr=slave,
                            stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    return read_terminal(master, proc, 60)


def in_terminal(args, typed=b"", env=None, timeout=30):
    """Runs a command with a pseudo-terminal as stdin, stdout and stderr,
    types `typed` into it; returns its exit status and what it wrote."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    if typed:
        os.write(master, typed)
    return read_terminal(master, proc, timeout)
