"""`callscope show --filter` and `callscope stats --filter` on a real
recording: what matches, how it combines with the other options, and the
errors a user sees for a wrong filter."""

import json
import time
import unittest

from tests.py.support import TracedProgram

PROGRAM = """
import threading

def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

def greet(name, times=1):
    return name * times

def fail(x):
    raise ValueError("bad %s" % x)

def worker():
    greet("w", 3)

fib(4)
greet("ab", 2)
try:
    fail(3)
except ValueError:
    pass
t = threading.Thread(target=worker, name="worker-1")
t.start()
t.join()
"""


class Filter(TracedProgram):
    def setUp(self):
        super().setUp()
        self.before = time.time() - 60
        self.run_traced(PROGRAM, options=("--no-stdlib",))

    def show(self, expr, *options):
        proc = self.callscope("show", self.db, "--no-color", "--filter", expr, *options)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        return proc.stdout.decode()

    def show_jsonl(self, expr, *options):
        out = self.show(expr, "--format", "jsonl", *options)
        return [json.loads(line) for line in out.splitlines()]

    def stats(self, expr, *options):
        proc = self.callscope("stats", self.db, "--format", "jsonl", "--filter", expr, *options)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        return {r["function"]: r for r in map(json.loads, proc.stdout.decode().splitlines())}

    def test_argument_value_selects_the_call_and_its_subtree(self):
        out = self.show("func == 'fib' and arg == 'n' and value == '3'")
        lines = out.splitlines()
        self.assertRegex(lines[0], r"^pid \d+ · thread MainThread")
        self.assertTrue(lines[1].startswith("fib(n=3) → 2"), out)
        # its whole subtree: fib(2), fib(1), fib(0), fib(1)
        self.assertEqual(len(lines), 6, out)
        self.assertIn("├─ fib(n=2) → 1", out)
        self.assertNotIn("fib(n=4)", out)
        self.assertNotIn("greet", out)

    def test_same_argument_is_meant(self):
        # greet has an argument named name and one whose value is 2, but no
        # argument that is both
        self.assertEqual(self.show_jsonl("arg == 'name' and value == '2'"), [])
        rows = self.show_jsonl("arg == 'times' and value == 2")
        self.assertEqual([r["args"] for r in rows], [{"name": "'ab'", "times": "2"}])

    def test_named_argument_with_a_text_value_exact_or_pattern(self):
        rows = self.show_jsonl("arg == 'name' and value == \"'ab'\"")
        self.assertEqual([(r["function"], r["args"]) for r in rows], [("__main__.greet", {"name": "'ab'", "times": "2"})])
        rows = self.show_jsonl("arg == 'name' and value == \"'w%'\"")
        self.assertEqual([(r["thread"], r["args"]) for r in rows], [("worker-1", {"name": "'w'", "times": "3"})])
        # the same value under another name does not count
        self.assertEqual(self.show_jsonl("arg == 'times' and value == \"'ab'\""), [])
        self.assertEqual(set(self.stats("arg == 'x' and value == '3'")), {"__main__.fail"})

    def test_text_patterns_threads_and_exceptions(self):
        rows = self.show_jsonl("thread == 'worker%' and func == 'greet'")
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0]["thread"], "worker-1")
        self.assertEqual(rows[0]["return"], "'www'")
        rows = self.show_jsonl("exception != None and module == '__main__'")
        self.assertEqual([r["function"] for r in rows], ["__main__.fail"])
        self.assertTrue(rows[0]["exception"].startswith(("ValueError: bad 3", "<exception>")), rows[0])
        rows = self.show_jsonl("function == '__main__.g%' and not thread == 'worker-1'")
        self.assertEqual(len(rows), 1)
        self.assertEqual([r["args"]["name"] for r in rows], ["'ab'"])

    def test_time_and_duration(self):
        since = time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(self.before))
        self.assertEqual(len(self.show_jsonl("func == 'fib' and time >= '%s'" % since)), 9)
        self.assertEqual(self.show_jsonl("time < '2001/01/01'"), [])
        self.assertEqual(self.show_jsonl("duration > 60000"), [])
        # dates past what nanoseconds since 1970 hold compare as far away, not wrapped round
        everything = len(self.show_jsonl("depth >= 0"))
        self.assertEqual(len(self.show_jsonl("time <= '9999/12/31'")), everything)
        self.assertEqual(len(self.show_jsonl("time > '1000/01/01'")), everything)
        self.assertEqual(self.show_jsonl("time > '9999/12/31 23:59'"), [])
        self.assertEqual(self.show_jsonl("time == '2400/01/01'"), [])

    def test_combines_with_other_options(self):
        rows = self.show_jsonl("func == 'fib' and value == '4'", "--max-depth", "1")
        self.assertEqual([r["args"]["n"] for r in rows], ["4", "3", "2"])
        rows = self.show_jsonl("func == 'fib'", "--function", "greet")
        self.assertEqual(rows, [])  # both must match
        rows = self.show_jsonl("depth >= 0", "--function", "greet", "--limit", "1")
        self.assertEqual([r["function"] for r in rows], ["__main__.greet"])

    def test_stats_counts_only_matching_calls(self):
        rows = self.stats("function == '__main__.fib'")
        self.assertEqual(list(rows), ["__main__.fib"])
        self.assertEqual(rows["__main__.fib"]["count"], 9)
        rows = self.stats("module == '__main__' and (value == '1' or value == '0')")
        self.assertEqual(rows["__main__.fib"]["count"], 5)
        rows = self.stats("thread == 'worker-1' and module == '__main__'")
        self.assertEqual(set(rows), {"__main__.worker", "__main__.greet"})
        self.assertEqual(rows["__main__.greet"]["count"], 1)
        self.assertEqual(self.stats("duration > 60000"), {})
        proc = self.callscope("stats", self.db, "--filter", "func == 'greet'", "--sort", "count")
        self.assertRegex(proc.stdout.decode().splitlines()[1], r"^\s*2\s.*__main__\.greet")

    def assert_filter_error(self, expr, caret_column, message, command="show"):
        proc = self.callscope(command, self.db, "--filter", expr)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertEqual(proc.stdout, b"")
        lines = proc.stderr.decode().splitlines()
        self.assertEqual(len(lines), 3, lines)
        self.assertEqual(lines[0], "  " + expr)
        self.assertEqual(lines[1], " " * (caret_column + 1) + "^")
        self.assertEqual(lines[2], "callscope: --filter: " + message)

    def test_errors_point_at_the_column_and_suggest(self):
        self.assert_filter_error("module == '__mai'", 11, "no module is '__mai'; did you mean '__main__'?")
        self.assert_filter_error("func == 'gret'", 9, "no func is 'gret'; did you mean 'greet'?", "stats")
        self.assert_filter_error("function == 'greet'", 13,
                                 "no function is 'greet'; did you mean '__main__.greet'?")
        self.assert_filter_error("arg == 'nmae'", 8, "no arg is 'nmae'; did you mean 'name'?")
        self.assert_filter_error("tid > 1 and fnuc == 'fib'", 13, "unknown field 'fnuc'; did you mean func?")
        # nothing close: every field is listed, type included
        self.assert_filter_error("zzzzzz == 1", 1, "unknown field 'zzzzzz'; the fields are time, tid, pid, thread, "
                                 "module, func, function, file, line, depth, duration, arg, value, type, return, "
                                 "exception")
        self.assert_filter_error("module < 'x'", 8, "'<' does not apply to module; module takes == or !=")
        self.assert_filter_error("depth == '1'", 10, "depth is a number: write it without quotes, e.g. depth == 1")
        self.assert_filter_error("module == 3", 11,
                                 "module is text (a module): put the value in quotes, e.g. module == 'app%'")
        self.assert_filter_error("func == 'fib' and", 18, "the expression ends early: expected a value")
        self.assert_filter_error("lambda: 1", 1, "lambda expressions are not allowed", "stats")
        self.assert_filter_error("type > 'int'", 6, "'>' does not apply to type; type takes == or !=")
        # the types the recording has, as pytrace lists them
        self.assert_filter_error("type == 'blue'", 9,
                                 "no type is 'blue'; the recording has 'int', 'bool', 'NoneType' and 'str'")
        self.assert_filter_error("type == 'st'", 9, "no type is 'st'; did you mean 'str'?")
        self.assert_filter_error("type == 1", 9, "type is text (a type name): put the value in quotes, e.g. type == 'int'")

    def test_argument_types(self):
        """Every argument is recorded with its type: str and int arguments
        are told apart, also within one call."""
        self.assertEqual(set(self.stats("type == 'str'")), {"__main__.greet"})
        self.assertEqual(set(self.stats("arg == 'times' and type == 'int'")), {"__main__.greet"})
        self.assertEqual(set(self.stats("arg == 'name' and type == 'int'")), set())
        self.assertEqual(self.stats("func == 'fib' and type == 'int'")["__main__.fib"]["count"], 9)

    def test_pytrace_special_argument_names(self):
        """'return value' and 'exception' as argument names are about the
        call's return value and exception, as pytrace documents."""
        self.assertEqual(set(self.stats("arg == 'return value' and value == \"'abab'\"")), {"__main__.greet"})
        self.assertEqual(set(self.stats("arg == 'return value' and type == 'str'")), {"__main__.greet"})
        self.assertEqual(self.stats("arg == 'return value' and type == 'int'")["__main__.fib"]["count"], 9)
        self.assertEqual(set(self.stats("arg == 'exception'")), {"__main__.fail"})
        self.assertEqual(set(self.stats("arg == 'exception' and type == 'ValueError'")), {"__main__.fail"})
        self.assertEqual(set(self.stats("arg == 'exception' and value == '%bad 3'")), {"__main__.fail"})
        self.assertEqual(self.stats("arg == 'exception' and type == 'KeyError'"), {})
        # the same call's return value, not some argument's
        self.assertEqual(self.stats("arg == 'return value' and value == '4'"), {})
        self.assertEqual(set(self.stats("func == 'fib' and not (arg == 'return value' and value == '0')")),
                         {"__main__.fib"})
        self.assertEqual(self.stats("func == 'fib' and not (arg == 'return value' and type == 'int')"), {})

    def test_long_or_lists_and_deep_nesting(self):
        # A generated list of alternatives matches like a short one, however long.
        names = " or ".join("func == 'fib'" if i == 150 else "depth == %d" % (1000 + i) for i in range(200))
        self.assertEqual(set(self.stats(names)), {"__main__.fib"})
        self.assertEqual(self.stats(names)["__main__.fib"]["count"], 9)
        per_arg = " or ".join("(arg == 'name' and value == \"'%s'\")" % v for v in ["x%d" % i for i in range(60)] + ["ab"])
        self.assertEqual(set(self.stats(per_arg)), {"__main__.greet"})
        # Nesting SQLite cannot hold is a filter error (exit 2), in every command.
        self.assertEqual(set(self.stats("not " * 26 + "func == 'fib'")), {"__main__.fib"})
        for command in (["show"], ["stats"], ["export", "--format", "jsonl"]):
            proc = self.callscope(*command, self.db, "--filter", "not " * 40 + "func == 'fib'")
            self.assertEqual(proc.returncode, 2, proc.stderr.decode())
            self.assertTrue(proc.stderr.decode().endswith(
                "callscope: --filter: the filter nests 'and', 'or' and 'not' too deeply (the limit is about 30 levels)\n"),
                proc.stderr.decode())

    def test_missing_filter_value_is_a_usage_error(self):
        proc = self.callscope("show", self.db, "--filter")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("--filter needs a value", proc.stderr.decode())

    def test_help_mentions_filter(self):
        for command in ("show", "stats"):
            proc = self.callscope(command, "--help")
            self.assertIn("--filter EXPR", proc.stdout.decode())


if __name__ == "__main__":
    unittest.main()


LARGE_PROGRAM = """
import threading

def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

def leaf(i):
    return i

def batch(k):
    return sum(leaf(i) for i in range(100))

def worker():
    for k in range(20):
        batch(k)

t = threading.Thread(target=worker, name="batches")
t.start()
fib(28)
t.join()
"""


class LargeRecording(TracedProgram):
    """Over a million calls: stats and the selection of show and export are
    read in parts, one per core; the answers must be those of one plain
    scan. An export that selects more than a million calls reads each
    thread with the filter instead of holding the selection."""

    @classmethod
    def setUpClass(cls):
        cls.shared = TracedProgram("run")
        cls.shared.setUp()
        cls.shared.run_traced(LARGE_PROGRAM, options=("--no-stdlib",))

    @classmethod
    def tearDownClass(cls):
        cls.shared.tearDown()

    def setUp(self):
        self.dir, self.db, self.targets = self.shared.dir, self.shared.db, []

    def tearDown(self):
        pass

    def jsonl(self, *args):
        proc = self.callscope(*args)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        return [json.loads(line) for line in proc.stdout.decode().splitlines()]

    def test_the_recording_is_large_enough_to_be_split(self):
        self.assertGreater(self.query("select count(*) from call_rows")[0][0], 1000000)

    def test_show_with_more_selected_calls_than_it_holds(self):
        # every call selected (over a million): read thread by thread as the walk goes
        plain = self.callscope("show", self.db, "--no-color", "--max-depth", "2")
        selected = self.callscope("show", self.db, "--no-color", "--max-depth", "2", "--filter", "depth >= 0")
        self.assertEqual(plain.returncode, 0, plain.stderr)
        self.assertEqual(selected.returncode, 0, selected.stderr)
        self.assertIn(b"fib(n=26)", selected.stdout)
        self.assertEqual(selected.stdout, plain.stdout)

    def test_export_with_a_filter_keeps_exactly_the_matching_calls(self):
        batches = self.jsonl("export", self.db, "--format", "jsonl", "--filter", "func == 'batch' or func == 'leaf'")
        expected = [r[0] for r in self.query(
            "select c.id from call_rows c join functions f on f.id = c.function_id"
            " where f.qualname in ('batch', 'leaf') order by c.id")]
        self.assertEqual([r["id"] for r in batches], expected)
        # more than a million match: read with the filter, thread by thread
        everything = self.callscope("export", self.db, "--format", "folded")
        matching_all = self.callscope("export", self.db, "--format", "folded", "--filter", "depth >= 0")
        self.assertEqual(everything.returncode, 0, everything.stderr)
        self.assertEqual(matching_all.returncode, 0, matching_all.stderr)
        self.assertEqual(matching_all.stdout, everything.stdout)

    def test_stats_add_up_to_what_sql_counts(self):
        expected = {name: (count, total, mx) for name, count, total, mx in self.query(
            "select f.name, count(*), sum(c.duration_ns), max(c.duration_ns) from call_rows c"
            " join functions f on f.id = c.function_id group by f.name")}
        got = {r["function"]: r for r in self.jsonl("stats", self.db, "--format", "jsonl", "--limit", "1000")}
        self.assertEqual(set(got), set(expected))
        for name, (count, total, mx) in expected.items():
            self.assertEqual(got[name]["count"], count, name)
            self.assertAlmostEqual(got[name]["total_ms"], total / 1e6, places=3, msg=name)
            self.assertAlmostEqual(got[name]["max_ms"], mx / 1e6, places=5, msg=name)

    def test_stats_filter_counts_every_match(self):
        expected = self.query("select count(*) from calls c join functions f on f.id = c.function_id"
                              " where f.qualname = 'fib' and json_extract(c.args, '$.n') = '9'")[0][0]
        self.assertGreater(expected, 100)
        got = self.jsonl("stats", self.db, "--format", "jsonl", "--filter", "func == 'fib' and arg == 'n' and value == '9'")
        self.assertEqual([(r["function"], r["count"]) for r in got], [("__main__.fib", expected)])

    def test_show_selects_calls_in_every_part_with_their_subtrees(self):
        batches = [r[0] for r in self.query(
            "select c.id from call_rows c join functions f on f.id = c.function_id where f.qualname = 'batch'"
            " order by c.id")]
        self.assertEqual(len(batches), 20)
        rows = self.jsonl("show", self.db, "--format", "jsonl", "--filter", "func == 'batch'")
        self.assertEqual([r["id"] for r in rows if r["function"].endswith(".batch")], batches)
        # each batch with its generator steps and its 100 leaf calls, nothing else
        leaves = [r for r in rows if r["function"].endswith(".leaf")]
        self.assertEqual(len(leaves), 2000)
        self.assertEqual({r["thread"] for r in rows}, {"batches"})
        first = self.jsonl("show", self.db, "--format", "jsonl", "--filter", "func == 'fib' and arg == 'n' and value == '3'",
                           "--max-depth", "0")
        expected = self.query("select count(*) from calls c join functions f on f.id = c.function_id"
                              " where f.qualname = 'fib' and json_extract(c.args, '$.n') = '3'")[0][0]
        self.assertEqual(len(first), expected)
        self.assertEqual(sorted(r["id"] for r in first), [r["id"] for r in first])


SKIPPED_BLOCKS = """
def work(n, tag):
    return n * 2

def rare(x):
    return x

for i in range(20000):
    work(i % 1000, 'even' if i % 2 == 0 else 'odd')
    if i == 12345:
        rare('needle')
"""


class CountsOfAProgram(TracedProgram):
    """A recording of PROGRAM, and how many calls a filter keeps in it."""

    PROGRAM = "pass\n"

    def setUp(self):
        super().setUp()
        self.run_traced(self.PROGRAM, options=("--no-stdlib",))

    def count(self, expr):
        proc = self.callscope("stats", self.db, "--format", "jsonl", "--filter", expr)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        return sum(json.loads(line)["count"] for line in proc.stdout.decode().splitlines())


class FilterOverManyBlocks(CountsOfAProgram):
    """Filters the store's skip index narrows (call_blocks: a filter of what
    each 1,024 calls hold) find the same calls as reading every call."""

    PROGRAM = SKIPPED_BLOCKS

    def test_the_index_is_there(self):
        (blocks, calls), = self.query("select count(*), (select count(*) from call_rows) from call_blocks")
        self.assertEqual(calls, 20002)  # with <module>
        self.assertEqual(blocks, 20)  # ids 1 to 20,002

    def test_narrowed_filters_find_every_call(self):
        self.assertEqual(self.count("func == 'rare'"), 1)
        self.assertEqual(self.count("arg == 'x' and value == \"'needle'\""), 1)
        self.assertEqual(self.count("value == \"'needle'\""), 1)
        self.assertEqual(self.count("arg == 'n' and value == '345'"), 20)
        self.assertEqual(self.count("value == \"'odd'\""), 10000)
        self.assertEqual(self.count("return == '690'"), 20)
        self.assertEqual(self.count("func == 'work' and arg == 'tag' and value == \"'even'\""), 10000)
        # not narrowed (or, not): the same answers
        self.assertEqual(self.count("func == 'rare' or value == '345'"), 21)
        self.assertEqual(self.count("not func == 'work'"), 2)  # rare and <module>
        proc = self.callscope("show", self.db, "--format", "jsonl", "--filter", "func == 'rare'")
        rows = [json.loads(line) for line in proc.stdout.decode().splitlines()]
        self.assertEqual([(r["function"], r["args"]) for r in rows], [("__main__.rare", {"x": "'needle'"})])

    def test_no_call_matches(self):
        self.assertEqual(self.count("arg == 'n' and value == '1000'"), 0)
        self.assertEqual(self.count("func == 'rare' and value == '345'"), 0)

    def test_blocks_of_another_format_are_not_trusted(self):
        # Blocks that say nothing (all bits clear) would rule every call
        # out; a file whose blocks are of another format is read in full.
        import sqlite3
        con = sqlite3.connect(self.db)
        self.assertEqual(con.execute("select value from meta where key = 'call_blocks_format'").fetchone(), (1,))
        con.execute("update call_blocks set bloom = zeroblob(length(bloom))")
        con.execute("update meta set value = 99 where key = 'call_blocks_format'")
        con.commit()
        con.close()
        self.assertEqual(self.count("arg == 'n' and value == '345'"), 20)
        self.assertEqual(self.count("func == 'rare'"), 1)


VALUES_TWO_WAYS = """
def label(i):
    return 'label-%d' % (i % 3)

def echo(s):
    return s

for i in range(6000):
    echo(label(i))
"""


class ValuesStoredTwoWays(CountsOfAProgram):
    """A value's text is stored inline the first time a call returns it and
    as a vals row after that; the call table rules out calls by either
    form while it reads (store/narrowing.h), and a filter on the text
    still finds every call, as SQL over the calls view counts them."""

    PROGRAM = VALUES_TWO_WAYS

    def test_results_and_arguments_by_text(self):
        (inline, by_id), = self.query("select sum(typeof(result) = 'text'), sum(typeof(result) = 'integer')"
                                      " from call_rows")
        self.assertGreater(inline, 0)
        self.assertGreater(by_id, 0)
        (returned,), = self.query("select count(*) from calls where result = ?", "'label-1'")
        self.assertEqual(returned, 4000)  # label's and echo's
        self.assertEqual(self.count("return == \"'label-1'\""), returned)
        self.assertEqual(self.count("value == \"'label-2'\""), 2000)
        self.assertEqual(self.count("arg == 's' and value == \"'label-0'\""), 2000)
        self.assertEqual(self.count("func == 'echo' and return == \"'label-0'\""), 2000)
        self.assertEqual(self.count("return == \"'label-9'\""), 0)
        proc = self.callscope("export", self.db, "--format", "jsonl", "--filter", "value == \"'label-2'\"")
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        rows = [json.loads(line) for line in proc.stdout.decode().splitlines()]
        self.assertEqual(len(rows), 2000)
        self.assertEqual({r["args"]["s"] for r in rows}, {"'label-2'"})

