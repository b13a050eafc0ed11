"""`callscope show` and `callscope stats` on a real recording, through the
binary, on a pipe and on a terminal."""

import json
import os
import random
import re
import shutil
import stat
import sqlite3
import subprocess
import unittest

from tests.py.support import CALLSCOPE, TracedProgram, calls_as_late_rows, on_terminal, script_with_extension
from tests.py.test_attach import as_user

PROGRAM = """
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
def fail():
    raise RuntimeError("nope")
fib(4)
try:
    fail()
except RuntimeError:
    pass
"""

JSONL_KEYS = {"id", "parent_id", "pid", "tid", "thread", "depth", "function", "module", "filename", "lineno",
              "start", "duration_ms", "args", "return", "exception", "resumed", "yielded"}


class Show(TracedProgram):
    def setUp(self):
        super().setUp()
        self.run_traced(PROGRAM)

    def test_tree(self):
        proc = self.callscope("show", self.db)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        out = proc.stdout.decode()
        self.assertIn("fib(n=4) → 3", out)
        self.assertRegex(out, r"[├└]─ fib\(n=3\) → 2  \[[0-9.]+(ns|µs|ms)\]")
        self.assertIn("fail() !! RuntimeError: nope", out)
        self.assertNotIn("\x1b[", out)  # no color into a pipe

    def test_jsonl_has_exactly_the_documented_keys(self):
        proc = self.callscope("show", self.db, "--format", "jsonl", "--function", "*fib")
        rows = [json.loads(line) for line in proc.stdout.decode().splitlines()]
        self.assertEqual(len(rows), 9)
        for row in rows:
            self.assertEqual(set(row), JSONL_KEYS)
        top = rows[0]
        self.assertEqual(top["function"], "__main__.fib")
        self.assertEqual(top["args"], {"n": "4"})
        self.assertEqual(top["return"], "3")
        self.assertIsNone(top["exception"])
        self.assertGreater(top["duration_ms"], 0)

    def test_a_selection_that_matches_nothing_says_what_exists(self):
        pid = json.loads(self.callscope("show", self.db, "--format", "jsonl").stdout.decode().splitlines()[0])["pid"]
        for options, said in ((["--pid", "1"], "no process 1 in %s; its processes are %d" % (self.db, pid)),
                              (["--tid", "1"], "no thread 1 in %s; its threads are %d" % (self.db, pid)),
                              (["--pid", str(pid), "--tid", "1"], "no thread 1 of process %d in %s" % (pid, self.db)),
                              (["--function", "fibb"], "no function in %s matches 'fibb'; did you mean 'fib'?"
                               % self.db),
                              (["--function", "nomatch.*"], "no function in %s matches 'nomatch.*' (it has %d; "
                               "`callscope stats %s` lists them)"
                               % (self.db, self.query("SELECT count(DISTINCT qualname) FROM functions")[0][0],
                                  self.db))):
            proc = self.callscope("show", self.db, *options)
            self.assertEqual((proc.returncode, proc.stdout), (2, b""), options)
            self.assertEqual(proc.stderr.decode(), "callscope: %s\n" % said)
            if "--function" not in options:  # export says the same, and writes nothing
                out = os.path.join(self.dir, "out.folded")
                proc = self.callscope("export", self.db, "--format", "folded", "-o", out, *options)
                self.assertEqual((proc.returncode, proc.stdout), (2, b""), options)
                self.assertEqual(proc.stderr.decode(), "callscope: %s\n" % said)
                self.assertFalse(os.path.exists(out))
        proc = self.callscope("show", self.db, "--pid", str(pid), "--function", "fib")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("fib(n=4) → 3", proc.stdout.decode())

    def test_jsonl_tells_generator_steps_apart(self):
        self.run_traced("def gen():\n    yield 1\n    yield 2\n    return 3\n"
                        "def drain():\n    g = gen()\n    next(g)\n    next(g)\n    next(g, None)\n"
                        "drain()\n")
        for command in (["show", "--format", "jsonl"], ["export", "--format", "jsonl"]):
            proc = self.callscope(*command, "--filter", "func == 'gen'", self.db)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            rows = [json.loads(line) for line in proc.stdout.decode().splitlines()]
            self.assertEqual([(r["return"], r["resumed"], r["yielded"]) for r in rows if r["function"] == "__main__.gen"],
                             [("1", False, True), ("2", True, True), ("3", True, False)], command)

    def test_limit_and_depth(self):
        proc = self.callscope("show", self.db, "--format", "jsonl", "--function", "*fib", "--limit", "3")
        self.assertEqual(len(proc.stdout.decode().splitlines()), 3)

    def test_color_on_a_terminal_unless_no_color(self):
        code, out = on_terminal([CALLSCOPE, "show", self.db])
        self.assertEqual(code, 0)
        self.assertIn("\x1b[", out)
        env = dict(os.environ, NO_COLOR="1")
        code, out = on_terminal([CALLSCOPE, "show", self.db], env=env)
        self.assertEqual(code, 0)
        self.assertNotIn("\x1b[", out)
        self.assertIn("fib(n=4)", out)


class Stats(TracedProgram):
    def setUp(self):
        super().setUp()
        self.run_traced(PROGRAM)

    def test_table(self):
        proc = self.callscope("stats", self.db, "--sort", "count")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        lines = proc.stdout.decode().splitlines()
        self.assertRegex(lines[0], r"count\s+total\s+self\s+mean\s+max")
        self.assertRegex(lines[1], r"^\s*9\s.*__main__\.fib")

    def test_jsonl(self):
        proc = self.callscope("stats", self.db, "--format", "jsonl")
        rows = {r["function"]: r for r in map(json.loads, proc.stdout.decode().splitlines())}
        fib = rows["__main__.fib"]
        self.assertEqual(fib["count"], 9)
        self.assertLessEqual(fib["self_ms"], fib["total_ms"])
        self.assertGreaterEqual(fib["max_ms"], fib["mean_ms"])


class ReadOnlyRecordings(TracedProgram):
    """A finished recording is read without writing anything, by anyone who
    may read the file."""

    def setUp(self):
        super().setUp()
        self.run_traced(PROGRAM)

    def test_reading_creates_nothing_beside_the_file(self):
        before = sorted(os.listdir(self.dir))
        out = os.path.join(self.make_dir(), "out.folded")
        for command in (["show"], ["stats"], ["export", "--format", "folded", "-o", out],
                        ["show", "--filter", "func == 'fib'"]):
            proc = self.callscope(*command, self.db)
            self.assertEqual(proc.returncode, 0, (command, proc.stderr))
            self.assertEqual(sorted(os.listdir(self.dir)), before, command)

    def make_dir(self):
        d = os.path.join(self.dir, "..", os.path.basename(self.dir) + "-out")
        os.makedirs(d)
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def test_export_into_a_fifo_writes_through_it(self):
        # (as into /dev/null: the device stays a device, not a file put in its place)
        fifo = os.path.join(self.make_dir(), "pipe")
        os.mkfifo(fifo)
        import threading
        got = []
        reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()), daemon=True)
        reader.start()
        proc = self.callscope("export", self.db, "--format", "folded", "-o", fifo)
        reader.join(30)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertTrue(stat.S_ISFIFO(os.stat(fifo).st_mode))
        self.assertIn(b"fib", got[0])
        self.assertEqual(os.listdir(os.path.dirname(fifo)), ["pipe"])

    def test_a_reader_who_may_not_write(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to read as another user")
        import pwd
        nobody = pwd.getpwnam("nobody")
        os.chmod(self.dir, 0o755)
        os.chmod(self.db, 0o644)

        as_nobody = as_user(nobody.pw_uid, nobody.pw_gid)
        probe = subprocess.run([CALLSCOPE, "--help"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               preexec_fn=as_nobody)
        if probe.returncode != 0:
            self.skipTest("user nobody cannot run %s" % CALLSCOPE)
        proc = subprocess.run([CALLSCOPE, "stats", self.db], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              preexec_fn=as_nobody)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("__main__.fib", proc.stdout.decode())
        self.assertEqual(sorted(os.listdir(self.dir)), ["app.py", "trace.db"])


class BadFiles(TracedProgram):
    def assert_one_line_error(self, proc, fragment):
        self.assertNotEqual(proc.returncode, 0)
        err = proc.stderr.decode()
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn(fragment, err)

    def test_missing_file(self):
        for cmd in ("show", "stats"):
            self.assert_one_line_error(self.callscope(cmd, "missing.db"), "missing.db")

    def test_not_a_database(self):
        path = self.write("junk.db", "this is not sqlite" * 100)
        for cmd in ("show", "stats"):
            self.assert_one_line_error(self.callscope(cmd, path), "not a callscope database")

    def test_other_sqlite_database(self):
        path = os.path.join(self.dir, "other.db")
        con = sqlite3.connect(path)
        con.execute("create table t(x)")
        con.commit()
        con.close()
        self.assert_one_line_error(self.callscope("show", path), "not a callscope database")

    def copy_with_schema_version(self, version):
        self.run_traced("pass\n")
        path = os.path.join(self.dir, "v%d.db" % version)
        shutil.copy(self.db, path)
        con = sqlite3.connect(path)
        con.execute("pragma user_version = %d" % version)
        con.commit()
        con.close()
        return path

    def test_newer_schema(self):
        self.assert_one_line_error(self.callscope("stats", self.copy_with_schema_version(99)), "newer")

    def test_schema_2_is_read(self):
        """A recording of schema 2 (every call a row of the table call_rows,
        every value a row of vals) reads as the same recording of schema 4
        does, by every reader."""
        self.run_traced(PROGRAM + "def greet(s, n):\n    return s * n\nfor i in range(3000):\n    greet('x', i % 3)\n")
        v2 = os.path.join(self.dir, "v2.db")
        shutil.copy(self.db, v2)
        con = sqlite3.connect(v2)
        views = con.execute("select sql from sqlite_schema where type = 'view' order by name").fetchall()
        con.close()
        script_with_extension(v2, """
            CREATE TABLE plain_calls(id INTEGER PRIMARY KEY, parent_id INTEGER, thread_id INTEGER NOT NULL,
                function_id INTEGER NOT NULL, depth INTEGER NOT NULL, start_ns INTEGER NOT NULL, duration_ns INTEGER,
                self_ns INTEGER, args TEXT, result, exception TEXT, flags INTEGER NOT NULL DEFAULT 0);
            INSERT INTO plain_calls SELECT * FROM call_rows;
            CREATE TABLE plain_vals(id INTEGER PRIMARY KEY, text TEXT NOT NULL, type TEXT);
            INSERT INTO plain_vals SELECT * FROM vals;
            DROP VIEW call_view; DROP VIEW calls;
            DROP TABLE call_rows; DROP TABLE vals; DROP TABLE call_chunks; DROP TABLE call_late; DROP TABLE val_chunks;
            ALTER TABLE plain_calls RENAME TO call_rows; ALTER TABLE plain_vals RENAME TO vals;
            PRAGMA user_version = 2; UPDATE meta SET value = 2 WHERE key = 'schema_version';
        """ + ";".join(sql for (sql,) in views) + ";")
        con = sqlite3.connect(v2)  # plain tables now: no extension needed
        self.assertEqual(con.execute("pragma user_version").fetchone()[0], 2)
        self.assertGreater(con.execute("select count(*) from calls").fetchone()[0], 3000)
        con.close()
        for command in (["show", "--format", "jsonl"], ["stats"], ["export", "--format", "chrome-json"],
                        ["show", "--filter", "func == 'greet' and value == '2'"],
                        ["sql", "--format", "json", "SELECT * FROM call_view ORDER BY id"]):
            command = command[:1] + ["FILE"] + command[1:]
            got = {}
            for name, path in (("now", self.db), ("v2", v2)):
                proc = self.callscope(*[path if a == "FILE" else a for a in command])
                self.assertEqual(proc.returncode, 0, (command, name, proc.stderr))
                got[name] = proc.stdout
            self.assertEqual(got["v2"], got["now"], command)
            self.assertGreater(len(got["v2"]), 100, command)

    def test_schema_3_is_read(self):
        """A recording written by a callscope of schema 3, whose chunks of
        calls have the first layout (a result passed up is kept twice),
        reads as the same program recorded today does, by every reader. The
        fixture is that program (fixtures/passed_up.py) as schema 3 recorded
        it."""
        fixtures = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
        with open(os.path.join(fixtures, "passed_up.py")) as f:
            self.run_traced(f.read(), options=("--no-stdlib",))
        old = os.path.join(self.dir, "schema3.db")
        shutil.copy(os.path.join(fixtures, "schema3_passed_up.db"), old)
        con = sqlite3.connect(old)
        self.assertEqual(con.execute("pragma user_version").fetchone()[0], 3)
        con.close()
        varying = ("id", "parent_id", "pid", "tid", "start", "duration_ms", "filename")

        def calls_in(path):
            proc = self.callscope("show", path, "--format", "jsonl")
            self.assertEqual(proc.returncode, 0, proc.stderr)
            calls = [json.loads(line) for line in proc.stdout.decode().splitlines()]
            return [{k: v for k, v in c.items() if k not in varying} for c in calls]

        now, then = calls_in(self.db), calls_in(old)
        self.assertEqual(len(then), 602)
        self.assertEqual(then, now)
        self.assertIn({"function": "__main__.wrapper", "args": {"i": "8"}, "return": "('v', 8)"},
                      [{k: c[k] for k in ("function", "args", "return")} for c in then])
        query = "select f.name, c.depth, c.args, c.result from calls c join functions f on f.id = c.function_id order by c.id"
        for command in (["sql", "--format", "json", query], ["show", "--filter", "return == \"('v', 8)\""],
                        ["stats", "--sort", "count"], ["export", "--format", "folded"]):
            got = {}
            for name, path in (("now", self.db), ("then", old)):
                proc = self.callscope(command[0], path, *command[1:])
                self.assertEqual(proc.returncode, 0, (command, name, proc.stderr))
                got[name] = proc.stdout
            self.assertGreater(len(got["then"]), 20, command)
            if command[0] == "sql":
                self.assertEqual(got["then"], got["now"])

    def test_older_schema(self):
        """A version 1 file (calls a table, values inline) is refused with a
        line that says to record again, by every reader."""
        older = self.copy_with_schema_version(1)
        for command in (["show"], ["stats"], ["export", "--format", "jsonl"]):
            self.assert_one_line_error(self.callscope(*command, older), "older callscope (schema 1; this one reads 2 to 4)")

    def test_truncated_database(self):
        self.run_traced(PROGRAM)
        with open(self.db, "r+b") as f:
            f.truncate(os.path.getsize(self.db) // 2)
        for cmd in ("show", "stats"):
            proc = self.callscope(cmd, self.db)
            self.assertIn(proc.returncode, (0, 1))  # never a crash
            if proc.returncode:
                self.assertEqual(len(proc.stderr.decode().strip().splitlines()), 1, proc.stderr)

    def corruptions(self):
        """(name, bytes) of damaged copies of a real recording: cut short,
        bytes overwritten in every part of the file, tables and indexes
        dropped or given other contents."""
        with open(self.db, "rb") as f:
            data = f.read()
        size, page = len(data), int.from_bytes(data[16:18], "big") or 65536
        out = [("cut at %d" % n, data[:n]) for n in (0, 50, 99, 100, 512, page, page + 7, size // 3, size // 2,
                                                      size - page, size - 1)]
        rng = random.Random(7)
        for i in range(18):
            at = rng.randrange(100, size - 64) if i else 0
            damaged = bytearray(data)
            damaged[at:at + 64] = bytes(rng.randrange(256) for _ in range(64))
            out.append(("64 bytes at %d" % at, bytes(damaged)))
        for i in range(1, size // page):  # each page in turn filled with one byte
            if i % max(1, size // page // 8) == 0:
                out.append(("page %d" % (i + 1), data[:i * page] + b"\xff" * page + data[(i + 1) * page:]))
        # Calls in chunks, damaged; then calls as single rows (call_late),
        # damaged value by value.
        chunked = ("drop table call_chunks", "drop table call_late", "update call_chunks set data = X'00'",
                   "update call_chunks set data = X'01ff01'", "update call_chunks set rows = rows + 1",
                   "update call_chunks set rows = 0", "update call_chunks set last_id = last_id - 1",
                   "update call_chunks set first_id = first_id + 100000",
                   "update call_chunks set data = substr(data, 1, length(data) - 9)",
                   "update call_chunks set data = substr(data, 1, 3) || X'ff' || substr(data, 5)",
                   "update call_chunks set data = 'text'", "update call_chunks set data = NULL",
                   "drop table val_chunks", "update val_chunks set data = X'01ff01'",
                   "update val_chunks set rows = rows + 1", "update val_chunks set last_id = last_id + 5",
                   "update val_chunks set data = substr(data, 1, length(data) - 9)")
        single = ("update call_late set start_ns = 'x'", "update call_late set depth = -5",
                  "update call_late set thread_id = 999", "update call_late set parent_id = id")
        for sql in ("drop view call_view", "drop table functions", "drop table threads",
                    "drop table vals", "drop table meta", "delete from meta", "delete from functions",
                    "delete from threads", "update functions set name = NULL") + chunked + single:
            path = os.path.join(self.dir, "sql.db")
            shutil.copy(self.db, path)
            if sql in single:
                calls_as_late_rows(path)
            con = sqlite3.connect(path)
            try:
                con.executescript(sql)
                con.commit()
            except sqlite3.DatabaseError:
                continue
            finally:
                con.close()
            with open(path, "rb") as f:
                out.append((sql, f.read()))
            os.unlink(path)
        return out

    def test_corrupt_recordings(self):
        """Every damaged file gives its calls as far as they can be read, or
        one line naming the file and what is wrong, never a crash or a
        message that says nothing (SQLite's "not an error"), and reading it
        leaves nothing beside it."""
        self.run_traced(PROGRAM + "def greet(s, n):\n    return s * n\nfor i in range(3000):\n    greet('x', i % 3)\n")
        cases = self.corruptions()
        self.assertGreaterEqual(len(cases), 45)
        problems = []
        for name, content in cases:
            folder = os.path.join(self.dir, "case")
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, "r.db")
            with open(path, "wb") as f:
                f.write(content)
            for command in (["show"], ["stats"], ["export", "--format", "chrome-json"],
                            ["export", "--format", "jsonl"], ["show", "--filter", "func == 'fib'"]):
                proc = self.callscope(*command, path)
                err = proc.stderr.decode(errors="replace")
                lines = err.strip().splitlines()
                said = lines[-1] if lines else ""
                # a filter error shows the filter and a caret above its line
                one_line = len(lines) == 1 or said.startswith("callscope: --filter: ")
                if proc.returncode not in (0, 1, 2) or "not an error" in err or (proc.returncode and (
                        not one_line or path not in said and "--filter" not in said)):
                    problems.append("%s, %s: exit %d, %r" % (name, " ".join(command), proc.returncode, err[-300:]))
            if os.listdir(folder) != ["r.db"]:
                problems.append("%s: left %s" % (name, sorted(os.listdir(folder))))
            shutil.rmtree(folder)
        self.assertEqual(problems, [], "\n".join(problems))

    def test_damaged_values(self):
        """Argument arrays that do not parse, ids with no vals row and bad
        argument names are shown as far as they go, by every reader and
        filter, never a crash."""
        self.run_traced(PROGRAM + "fib(3)\nfail.__doc__\n" + "def g(s, t): return s\ng('a' * 40, [1])\n")
        calls_as_late_rows(self.db)
        con = sqlite3.connect(self.db)
        con.executescript("""
            update call_late set args = 'x"\\' where id % 3 = 0;
            update call_late set args = '[99999999,"' where id % 3 = 1;
            update call_late set result = 123456789 where id % 2 = 0;
            update functions set arg_names = '["a' where id % 2 = 0;
        """)
        con.commit()
        con.close()
        for command in (["show"], ["stats"], ["export", "--format", "chrome-json"], ["export", "--format", "jsonl"],
                        ["export", "--format", "perfetto"],
                        ["show", "--filter", "value == '1'"], ["stats", "--filter", "type == 'int'"],
                        ["show", "--filter", "value == '1%' or type == 'str'"]):
            proc = self.callscope(*command, self.db)
            self.assertEqual(proc.returncode, 0, (command, proc.stderr))
        jsonl = self.callscope("export", "--format", "jsonl", self.db).stdout.decode().splitlines()
        self.assertTrue(all(isinstance(json.loads(line)["args"], dict) for line in jsonl))

    def test_meta_changed_after_recording(self):
        self.run_traced(PROGRAM)
        for change, says in (("update meta set value = 2 where key = 'schema_version'", "format 'callscope', schema 2"),
                             ("update meta set value = 'other' where key = 'format'", "format 'other', schema 4")):
            copy = os.path.join(self.dir, "changed.db")
            shutil.copy(self.db, copy)
            con = sqlite3.connect(copy)
            con.execute(change)
            con.commit()
            con.close()
            for command in ("show", "stats"):
                proc = self.callscope(command, copy)
                self.assert_one_line_error(proc, "%s is not a callscope recording as written: its meta table says "
                                                 "%s, where its header says schema 4" % (copy, says))
            os.unlink(copy)

    def test_extreme_times(self):
        """Start and end times at the ends of their range are printed as far
        as they go (under UBSan too: no signed overflow), never a crash."""
        self.run_traced(PROGRAM)
        calls_as_late_rows(self.db)
        con = sqlite3.connect(self.db)
        con.executescript("""
            update call_late set start_ns = 9223372036854775807 where id = 2;
            update call_late set start_ns = -9223372036854775807 where id = 3;
        """)
        con.commit()
        con.close()
        for command in (["show", "--format", "jsonl"], ["export", "--format", "jsonl"], ["stats"]):
            proc = self.callscope(*command, self.db)
            self.assertEqual(proc.returncode, 0, (command, proc.stderr))
            self.assertEqual(proc.stderr, b"", command)
        lines = [json.loads(l) for l in self.callscope("show", "--format", "jsonl", self.db).stdout.splitlines()]
        self.assertEqual(len(lines), self.query("select count(*) from call_rows")[0][0])

    def test_odd_names_and_inline_values_still_print_valid_json(self):
        """Argument names and inline values with quotes, backslashes or
        control characters (never written so by callscope) come out as
        valid JSON from every JSON writer."""
        self.run_traced(PROGRAM)
        calls_as_late_rows(self.db)
        con = sqlite3.connect(self.db)
        con.executescript(r"""
            update functions set arg_names = '["a\"b", "c\u0001", "d' || char(9) || 'e"]';
            update call_late set args = '["x\"y", "1' || char(10) || '2", "\\"]';
        """)
        con.commit()
        con.close()
        outputs = [self.callscope("show", self.db, "--format", "jsonl"),
                   self.callscope("export", self.db, "--format", "jsonl"),
                   self.callscope("export", self.db, "--format", "chrome-json")]
        for proc in outputs:
            self.assertEqual(proc.returncode, 0, proc.stderr)
        rows = [json.loads(line) for line in outputs[0].stdout.decode().splitlines()]
        self.assertTrue(rows)
        for r in rows:
            self.assertEqual(len(r["args"]), 3, r["args"])
        self.assertEqual(rows, [json.loads(line) for line in outputs[1].stdout.decode().splitlines()])
        events = json.loads(outputs[2].stdout.decode())["traceEvents"]
        self.assertTrue(any(len(e.get("args", {}).get("args", {})) == 3 for e in events))
        tree = self.callscope("show", self.db, "--no-color")
        self.assertEqual(tree.returncode, 0, tree.stderr)


if __name__ == "__main__":
    unittest.main()
