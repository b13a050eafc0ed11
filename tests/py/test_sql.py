"""`callscope sql FILE [SQL...]`: SQL on a real recording through the
binary, compared with the same SQL through Python's sqlite3 module with
callscope's SQLite extension loaded; read
only, with nothing left beside the file; the other readers' one-line errors;
recorded text made safe on a terminal but intact in JSON; and the sqlite3
shell started when there is no SQL and a terminal on stdin."""

import csv
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import unittest

from tests.py.support import CALLSCOPE, TracedProgram, in_terminal, on_terminal, rows_by_python_sqlite3
from tests.py.test_reader_cli import BadFiles

PROGRAM = r'''
import threading
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
def greet(name, times=1, *rest, **extra):
    return ("hello, " + name + "\n") * times
def fail(why):
    raise ValueError("bad \x1b[31mred\x1b[0m " + why)
fib(5)
greet("a|b", 2, "x,y", quote='"q"')
try:
    fail("now")
except ValueError:
    pass
t = threading.Thread(target=fib, args=(3,), name="worker")
t.start()
t.join()
'''

CALLS_SQL = ("SELECT id, parent_id, thread_id, function_id, depth, start_ns, duration_ns, self_ns, args, result, "
             "exception, flags, arg_types FROM calls ORDER BY id")
VIEW_SQL = ("SELECT id, parent_id, pid, tid, thread, function, module, qualname, filename, lineno, depth, start, "
            "duration_ms, args, result, exception, flags FROM call_view ORDER BY id")


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class Sql(TracedProgram):
    def setUp(self):
        super().setUp()
        self.run_traced(PROGRAM)
        self.before = sorted(os.listdir(self.dir))

    def sql(self, *args, stdin=None):
        proc = subprocess.run([CALLSCOPE, "sql"] + list(args), cwd=self.dir, input=stdin, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=60, **({} if stdin is not None else
                                                                      {"stdin": subprocess.DEVNULL}))
        return proc

    def ok(self, *args, stdin=None):
        proc = self.sql(*args, stdin=stdin)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stderr, b"")
        return proc.stdout

    def rows(self, sql):
        return rows_by_python_sqlite3(self.db, sql)

    def as_sqlite_text(self, value):
        """A value as SQLite writes it as text, as list mode prints it. How
        many digits a real gets depends on SQLite's version (3.40 writes
        "%!.15g", later ones the shortest that reads back), so reals are
        written by the sqlite3 shell, which links the SQLite callscope
        links, not by this Python's sqlite3, which may bring its own."""
        if value is None:
            return b""
        if isinstance(value, float):
            shell = shutil.which("sqlite3")
            if shell:
                return subprocess.run([shell, ":memory:", "SELECT CAST(%r AS TEXT)" % value], stdout=subprocess.PIPE,
                                      check=True).stdout.strip()
            con = sqlite3.connect(":memory:")
            try:
                return con.execute("SELECT CAST(? AS TEXT)", (value,)).fetchone()[0].encode()
            finally:
                con.close()
        return str(value).encode()

    def assert_nothing_beside(self):
        self.assertEqual(sorted(os.listdir(self.dir)), self.before)

    def test_list_matches_sqlite3(self):
        for sql in (CALLS_SQL, VIEW_SQL):
            names, rows = self.rows(sql)
            self.assertGreater(len(rows), 8)
            expected = b"".join(b"|".join(self.as_sqlite_text(v) for v in row) + b"\n" for row in rows)
            self.assertEqual(self.ok(self.db, sql), expected)
            header = "|".join(names).encode() + b"\n"
            self.assertEqual(self.ok(self.db, sql, "--header"), header + expected)
        self.assert_nothing_beside()

    def test_csv_matches_sqlite3(self):
        for sql in (CALLS_SQL, VIEW_SQL):
            names, rows = self.rows(sql)
            out = self.ok("--format", "csv", "--header", self.db, sql)
            self.assertTrue(out.endswith(b"\r\n"))
            got = list(csv.reader(io.StringIO(out.decode(), newline="")))
            self.assertEqual(got[0], names)
            self.assertEqual(got[1:], [[self.as_sqlite_text(v).decode() for v in row] for row in rows])
        # the program's "a|b", "x,y", '"q"' and newlines came through quoted
        self.assertIn(b'"\'hello, a|b\\nhello, a|b\\n\'"', self.ok("--format", "csv", self.db, CALLS_SQL))

    def test_csv_quoting(self):
        out = self.ok("--format", "csv", self.db,
                      "SELECT 'a,b', 'say \"hi\"', 'one' || char(10) || 'two', '', NULL, 'plain', 7")
        self.assertEqual(out, b'"a,b","say ""hi""","one\ntwo","",,plain,7\r\n')
        self.assertEqual(list(csv.reader(io.StringIO(out.decode(), newline=""))),
                         [["a,b", 'say "hi"', "one\ntwo", "", "", "plain", "7"]])

    def test_json_matches_sqlite3(self):
        for sql in (CALLS_SQL, VIEW_SQL):
            _, rows = self.rows(sql)
            lines = self.ok("--format", "json", self.db, sql).decode().splitlines()
            self.assertEqual([json.loads(line) for line in lines], [list(row) for row in rows])
            # integers stay integers and reals reals
            for line, row in zip(lines, rows):
                for got, want in zip(json.loads(line), row):
                    self.assertIs(type(got), type(want), (got, want))

    def test_json_of_every_type(self):
        out = self.ok("--format", "json", self.db,
                      "SELECT 1, -9223372036854775808, 1.5, 0.1, 1e20, 1e-7, 1e999, -1e999, NULL, x'00ff7f', '',"
                      " 'q\"\\', CAST(x'41ff42' AS TEXT), char(0x2028), 'tab' || char(9) || char(0)")
        self.assertEqual(out.count(b"\n"), 1)
        row = json.loads(out)  # valid JSON, whatever the bytes were
        self.assertEqual(row[:6], [1, -9223372036854775808, 1.5, 0.1, 1e20, 1e-7])
        self.assertEqual(row[6:8], [float("inf"), float("-inf")])
        self.assertEqual(row[8:13], [None, "00ff7f", "", 'q"\\', "A\ufffdB"])
        self.assertEqual(row[13:], ["\u2028", "tab\t\x00"])
        self.assertIn(b",1e+20,", out)

    def test_several_statements(self):
        self.assertEqual(self.ok(self.db, "SELECT 1; SELECT 'a', 2;;  -- a comment\n SELECT count(*) > 0 FROM calls;"),
                         b"1\na|2\n1\n")
        self.assertEqual(self.ok(self.db, "SELECT 1", "SELECT 2 AS two", "--header"), b"1\n1\ntwo\n2\n")
        # from standard input: "-", or no SQL at all
        self.assertEqual(self.ok(self.db, "SELECT 0", "-", stdin=b"SELECT 1;\nSELECT 2;\n"), b"0\n1\n2\n")
        self.assertEqual(self.ok(self.db, "--format", "json", stdin=b"SELECT 'x'; SELECT NULL"), b'["x"]\n[null]\n')
        # an empty result still says its columns
        self.assertEqual(self.ok(self.db, "--header", "SELECT id FROM calls WHERE 0"), b"id\n")
        self.assertEqual(self.ok(self.db, "--", "-- nothing but a comment"), b"")
        self.assert_nothing_beside()

    def assert_one_line(self, proc, status, text):
        err = proc.stderr.decode()
        self.assertEqual(proc.returncode, status, err)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertTrue(err.startswith("callscope: "), err)
        self.assertIn(text, err)

    def test_writes_are_refused(self):
        before = digest(self.db)
        mtime = os.stat(self.db).st_mtime_ns
        for sql in ("DELETE FROM meta", "INSERT INTO meta VALUES ('x', 1)", "UPDATE call_late SET depth = 0",
                    "DROP TABLE vals", "CREATE TABLE t(x)", "CREATE TEMP TABLE t(x)", "PRAGMA user_version = 7",
                    "PRAGMA journal_mode = DELETE", "VACUUM", "VACUUM INTO 'copy.db'", "REINDEX",
                    "SELECT 1; DELETE FROM call_chunks"):
            proc = self.sql(self.db, sql)
            self.assert_one_line(proc, 2, "callscope: sql: refused, it would write")
            self.assertEqual(proc.stdout, b"1\n" if sql.startswith("SELECT 1") else b"")
        # call_rows, the virtual table of the calls, cannot be written at all
        for sql in ("UPDATE call_rows SET depth = 0", "SELECT 1; DELETE FROM call_rows"):
            proc = self.sql(self.db, sql)
            self.assert_one_line(proc, 2, "callscope: sql: table call_rows may not be modified")
            self.assertEqual(proc.stdout, b"1\n" if sql.startswith("SELECT 1") else b"")
        for sql in ("ATTACH 'other.db' AS o", "ATTACH '%s' AS o" % self.db):
            self.assert_one_line(self.sql(self.db, sql), 2, "callscope: sql: refused, ATTACH")
        self.assert_one_line(self.sql(self.db, "DELETE FROM calls"), 2, "callscope: sql: cannot modify calls")
        self.assertEqual(digest(self.db), before)
        self.assertEqual(os.stat(self.db).st_mtime_ns, mtime)
        self.assert_nothing_beside()

    def test_malformed_sql(self):
        proc = self.sql(self.db, "SELEC id FROM calls")
        self.assert_one_line(proc, 2, 'callscope: sql: near "SELEC": syntax error')
        self.assert_one_line(self.sql(self.db, "SELECT * FROM nowhere"), 2, "callscope: sql: no such table: nowhere")
        self.assert_one_line(self.sql(self.db, "SELECT json_extract('{', '$')"), 2, "callscope: sql: malformed JSON")
        self.assert_one_line(self.sql(self.db, " .tables"), 2, "callscope: sql: .tables is a command of the sqlite3 "
                                                             "shell, not SQL")
        # the statements before it ran
        proc = self.sql(self.db, "SELECT 1; SELECT (")
        self.assert_one_line(proc, 2, "callscope: sql: ")
        self.assertEqual(proc.stdout, b"1\n")
        self.assert_nothing_beside()

    def test_extension_path(self):
        proc = self.sql("--extension")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        path = proc.stdout.decode().strip()
        self.assertTrue(path.endswith("/callscope_sqlite.so") and os.path.isfile(path), path)
        self.assert_one_line(self.sql("--extension", self.db), 2, "--extension takes nothing else")

    def test_usage(self):
        self.assert_one_line(self.sql(), 2, "which recording")
        self.assert_one_line(self.sql(self.db, "--format", "yaml", "SELECT 1"), 2, "--format is list, csv or json")
        self.assert_one_line(self.sql(self.db), 2, "no SQL given")  # stdin is /dev/null
        # SQL that starts with "-" (a comment) goes after --
        self.assert_one_line(self.sql(self.db, "-- why\nSELECT 3"), 2, "unknown option")
        self.assertEqual(self.ok(self.db, "--", "-- why\nSELECT 3"), b"3\n")
        help_ = subprocess.run([CALLSCOPE, "sql", "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertEqual(help_.returncode, 0)
        self.assertIn(b"usage: callscope sql FILE [SQL...]", help_.stdout)
        listing = subprocess.run([CALLSCOPE, "--help"], stdout=subprocess.PIPE).stdout
        self.assertIn(b"  sql FILE [SQL...]", listing)

    def test_terminal_gets_escaped_text_and_json_the_text_itself(self):
        sql = "SELECT exception FROM calls WHERE exception IS NOT NULL"
        for fmt in ("list", "csv"):
            status, out = on_terminal([CALLSCOPE, "sql", "--format", fmt, self.db, sql])
            self.assertEqual(status, 0, out)
            self.assertNotIn("\x1b", out)
            self.assertIn(r"ValueError: bad \x1b[31mred\x1b[0m now", out)
        # into a pipe: the bytes as they are (list, csv) or valid JSON with the text intact
        self.assertEqual(self.ok(self.db, sql), b"ValueError: bad \x1b[31mred\x1b[0m now\n")
        row = json.loads(self.ok("--format", "json", self.db, sql))
        self.assertEqual(row, ["ValueError: bad \x1b[31mred\x1b[0m now"])
        # JSON on a terminal is JSON: its escapes are text already
        status, out = on_terminal([CALLSCOPE, "sql", "--format", "json", self.db, sql])
        self.assertNotIn("\x1b", out)
        self.assertIn(r"\u001b[31m", out)
        # names of columns too, and the error line
        status, out = on_terminal([CALLSCOPE, "sql", "--header", self.db, "SELECT 1 AS \"a\x1b]0;x\x07\""])
        self.assertNotIn("\x1b", out)
        self.assertNotIn("\x07", out)

    def test_missing_and_foreign_files_say_what_show_says(self):
        junk = self.write("junk.db", "this is not sqlite" * 100)
        other = os.path.join(self.dir, "other.db")
        con = sqlite3.connect(other)
        con.execute("create table t(x)")
        con.commit()
        con.close()
        newer = os.path.join(self.dir, "newer.db")
        shutil.copy(self.db, newer)
        con = sqlite3.connect(newer)
        con.execute("pragma user_version = 99")
        con.commit()
        con.close()
        for path in ("missing.db", junk, other, newer):
            proc = self.sql(path, "SELECT 1")
            self.assert_one_line(proc, 1, path)
            self.assertEqual(proc.stderr, self.callscope("show", path).stderr)
        # without SQL too, before any shell is looked for
        self.assertEqual(self.sql("missing.db").stderr, b"callscope: missing.db: no such file\n")

    def test_odd_paths(self):
        """Names a URI would read otherwise: "//" in front (an authority),
        and "?", "#", "%" and spaces."""
        odd = os.path.join(self.dir, "we ird?#%")
        os.makedirs(odd)
        shutil.copy(self.db, os.path.join(odd, "a b.db"))
        count = b"%d\n" % self.query("SELECT count(*) FROM calls")[0][0]
        for path in ("/" + self.db, os.path.join(odd, "a b.db"), os.path.join("we ird?#%", "a b.db")):
            self.assertEqual(self.ok(path, "SELECT count(*) FROM calls"), count, path)
            self.assertEqual(self.callscope("stats", path).returncode, 0, path)
        self.assertEqual(os.listdir(odd), ["a b.db"])

    def test_corrupt_recordings(self):
        """Every damaged copy: rows, or one line naming the file or the
        statement's fault, never a crash, nothing left beside it."""
        self.run_traced(PROGRAM + "for i in range(3000):\n    greet('x', i % 3)\n")
        problems = []
        for name, content in BadFiles.corruptions(self):
            folder = os.path.join(self.dir, "case")
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, "r.db")
            with open(path, "wb") as f:
                f.write(content)
            for sql in (CALLS_SQL, VIEW_SQL, "SELECT count(*), sum(length(args)) FROM calls"):
                proc = subprocess.run([CALLSCOPE, "sql", "--format", "json", path, sql], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=60)
                err = proc.stderr.decode(errors="replace")
                lines = err.splitlines()
                if proc.returncode not in (0, 1, 2) or "not an error" in err or (
                        proc.returncode and (len(lines) != 1 or path not in err and "callscope: sql: " not in err)):
                    problems.append("%s: exit %d, %r" % (name, proc.returncode, err[-300:]))
                for line in proc.stdout.splitlines():
                    json.loads(line)
            if os.listdir(folder) != ["r.db"]:
                problems.append("%s: left %s" % (name, sorted(os.listdir(folder))))
            shutil.rmtree(folder)
        self.assertEqual(problems, [], "\n".join(problems))


class SqlShell(TracedProgram):
    """No SQL and a terminal on stdin: the sqlite3 shell, read only, on a
    name that makes SQLite leave nothing beside the file."""

    def setUp(self):
        super().setUp()
        self.run_traced(PROGRAM)
        self.bin = os.path.join(self.dir, "bin")
        os.makedirs(self.bin)
        self.before = sorted(os.listdir(self.dir))

    def env_with_path(self, path):
        env = dict(os.environ)
        env["PATH"] = path
        return env

    def test_starts_the_shell_read_only(self):
        fake = os.path.join(self.bin, "sqlite3")
        with open(fake, "w") as f:
            f.write('#!/bin/sh\nfor a in "$@"; do echo "arg: $a"; done\n')
        os.chmod(fake, 0o755)
        status, out = in_terminal([CALLSCOPE, "sql", self.db], env=self.env_with_path(self.bin + ":/usr/bin:/bin"))
        self.assertEqual(status, 0, out)
        lines = out.splitlines()
        self.assertTrue(lines[0].startswith("callscope: sqlite3 on %s, read only" % self.db), out)
        extension = subprocess.run([CALLSCOPE, "sql", "--extension"], stdout=subprocess.PIPE,
                                   check=True).stdout.decode().strip()
        self.assertTrue(os.path.exists(extension), extension)
        self.assertEqual(lines[1:], ["arg: -readonly", "arg: -cmd", 'arg: .load "%s"' % extension,
                                     "arg: file://%s?immutable=1" % self.db], out)

    def test_without_the_shell_says_to_pass_sql(self):
        status, out = in_terminal([CALLSCOPE, "sql", self.db], env=self.env_with_path(self.bin))
        self.assertEqual(status, 2, out)
        self.assertEqual(len(out.strip().splitlines()), 1, out)
        self.assertIn("callscope: sql: no SQL given, and the sqlite3 shell is not installed: pass SQL", out)

    def test_the_real_shell_leaves_nothing_beside_the_file(self):
        if not shutil.which("sqlite3"):
            self.skipTest("sqlite3 is not installed")
        status, out = in_terminal([CALLSCOPE, "sql", self.db],
                                  typed=b"SELECT 'n=' || count(*) FROM calls;\nDELETE FROM meta;\n.quit\n")
        self.assertIn(status, (0, 1), out)  # 1: the shell says the DELETE failed
        self.assertIn("n=%d" % self.query("SELECT count(*) FROM calls")[0][0], out)
        self.assertIn("readonly", out)  # the DELETE: "attempt to write a readonly database"
        self.assertEqual(sorted(os.listdir(self.dir)), self.before)


if __name__ == "__main__":
    unittest.main()


LONG_CALLS = """
def inner(i):
    return i

def outer(k):
    for i in range(25000):
        inner(i)
    return k

for k in range(3):
    outer(k)
"""


class ComparisonsTheTableAnswers(TracedProgram):
    """call_rows tests comparisons of its number columns itself while it
    decodes a chunk (store/calls_vtab.c); its answers are SQLite's own,
    in either order, also where the matches are the rows of calls that
    ended after their chunk was written (call_late: here outer calls,
    whose rows come from the other stream)."""

    def setUp(self):
        super().setUp()
        self.run_traced(LONG_CALLS, options=("--no-stdlib",))

    def test_pushed_comparisons_give_sqlite_answers(self):
        (late,), = self.query("select count(*) from call_late where depth = 1")
        self.assertGreater(late, 0)  # an outer call: still running when its chunk was written
        for where, plain in (("depth <= 1", "depth + 0 <= 1"), ("depth = 1", "+depth = 1"),
                             ("duration_ns > 0 and depth < 2", "duration_ns + 0 > 0 and depth + 0 < 2"),
                             ("parent_id >= 3", "parent_id + 0 >= 3"),
                             ("function_id = 2 and start_ns > 1.5", "function_id + 0 = 2 and start_ns + 0 > 1.5")):
            for order in ("", " desc"):
                pushed = self.query("select id from call_rows where %s order by id%s" % (where, order))
                reference = self.query("select id from call_rows where %s order by id%s" % (plain, order))
                self.assertEqual(pushed, reference, where + order)
                self.assertTrue(pushed, where)
        first = self.query("select id from call_rows where id > 1 and depth <= 1 order by id limit 1")
        self.assertEqual(first, self.query("select min(id) from call_rows where id > 1 and depth + 0 <= 1"))
