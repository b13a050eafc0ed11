"""The Python API: start/stop, record(), @notrace and log()."""

import contextlib
import io
import json
import os
import sys
import sysconfig
import unittest
from unittest import mock

import callscope
from tests.py.support import TracedProgram


def square(x):
    return x * x


@callscope.notrace
def hidden(x):
    return square(x) + 1


class Api(TracedProgram):
    def test_free_threaded_interpreter_is_refused(self):
        # No free-threaded CPython can be had here: the build flag that marks
        # one is what is made to say so.
        real = sysconfig.get_config_var
        flagged = lambda name: 1 if name == "Py_GIL_DISABLED" else real(name)
        with mock.patch("sysconfig.get_config_var", flagged):
            with self.assertRaises(RuntimeError) as caught:
                callscope.start(self.db)
        self.assertEqual(str(caught.exception),
                         "callscope: %s is a free-threaded build of Python %d.%d, which callscope does not support; "
                         "use the default build" % ((sys.executable,) + sys.version_info[:2]))
        self.assertFalse(os.path.exists(self.db))

    def test_record_context_manager(self):
        with callscope.record(self.db):
            square(3)
        rows = self.calls("tests.py.test_api.square")
        self.assertEqual(len(rows), 1)
        self.assertEqual(self.args_of(rows[0]), {"x": "3"})
        self.assertEqual(rows[0]["result"], "9")

    def test_start_stop_with_options(self):
        callscope.start(self.db, no_args=True)
        try:
            square(4)
        finally:
            callscope.stop()
        row = self.calls("tests.py.test_api.square")[0]
        self.assertIsNone(row["args"])

    def test_notrace_skips_the_function_and_what_it_calls(self):
        with callscope.record(self.db):
            hidden(2)
            square(5)
        self.assertEqual(self.calls("tests.py.test_api.hidden"), [])
        self.assertEqual([self.args_of(r)["x"] for r in self.calls("tests.py.test_api.square")], ["5"])

    def test_log_is_attached_to_the_current_call(self):
        def with_log(k):
            callscope.log("cache miss", key=k)
            return k

        with callscope.record(self.db):
            with_log("abc")
        call = self.query("select id from call_view where qualname like '%with_log'")[0][0]
        logs = self.query("select call_id, message, fields from logs")
        self.assertEqual(len(logs), 1)
        self.assertEqual(logs[0][0], call)
        self.assertEqual(logs[0][1], "cache miss")
        self.assertIn("abc", logs[0][2])

    def test_a_class_made_before_start_has_every_init_recorded(self):
        # The interpreter has specialised `Point(i)` before the recording
        # starts (3.13 then runs __init__ past a frame evaluator).
        class Point:
            def __init__(self, x):
                self.x = x

        def make(n):
            for i in range(n):
                Point(i)

        make(1000)
        with callscope.record(self.db):
            make(100)
        make(10)
        rows = self.calls("tests.py.test_api.Api.test_a_class_made_before_start_has_every_init_recorded.<locals>.Point.__init__")
        self.assertEqual([self.args_of(r)["x"] for r in rows], [str(i) for i in range(100)])

    def test_recordings_one_after_another(self):
        for i in range(3):
            path = os.path.join(self.dir, "run%d.db" % i)
            with callscope.record(path):
                square(i)
            self.db = path
            self.assertEqual([self.args_of(r)["x"] for r in self.calls("tests.py.test_api.square")], [str(i)])

    def test_log_and_names_outside_a_recording_do_nothing(self):
        with callscope.record(self.db):
            pass
        callscope.log("nobody listens", k=1)
        self.assertEqual(self.query("select count(*) from logs"), [(0,)])

    def test_a_recording_inside_a_recording_joins_it(self):
        other = os.path.join(self.dir, "other.db")
        with contextlib.redirect_stderr(io.StringIO()):  # (one line says it joins)
            with callscope.record(self.db):
                with callscope.record(other):
                    square(1)
                square(2)  # the inner block's end leaves the outer recording running
        square(3)
        self.assertEqual([self.args_of(r)["x"] for r in self.calls("tests.py.test_api.square")], ["1", "2"])
        self.assertFalse(os.path.exists(other))
        # nothing of callscope's own shows: neither its context manager nor an import it makes
        names = {n for (n,) in self.query("select function from call_view")}
        self.assertEqual({n for n in names if "callscope" in n or "fromlist" in n or "__exit__" in n}, set())

    def test_unknown_option_is_an_error(self):
        with self.assertRaises(TypeError):
            callscope.start(self.db, frobnicate=True)
        for wrong in ("soon", 1, 0.5):
            with self.assertRaises(ValueError):
                callscope.start(self.db, defer_rows=wrong)
        self.assertFalse(callscope._extension.recording())

    def test_deferred_rows_are_built_once_stopped(self):
        callscope.start(self.db, defer_rows=True)
        try:
            for i in range(200):
                square(i)
        finally:
            callscope.stop()
        # the build may be under way: readers wait for it
        rows = self.calls("tests.py.test_api.square")
        self.assertEqual([r["result"] for r in rows], [str(i * i) for i in range(200)])

    def test_deferred_rows_later_wait_for_callscope_index(self):
        import sqlite3
        callscope.start(self.db, defer_rows="later")
        try:
            square(7)
        finally:
            callscope.stop()
        con = sqlite3.connect(self.db)
        self.assertEqual(con.execute("select value from meta where key = 'rows'").fetchall(), [("deferred",)])
        con.close()
        proc = self.callscope("index", self.db)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        rows = self.calls("tests.py.test_api.square")
        self.assertEqual([r["result"] for r in rows], ["49"])

    def test_a_recording_started_inside_notrace_code_records_what_follows(self):
        second = os.path.join(self.dir, "second.db")

        @callscope.notrace
        def switch():
            callscope.stop()
            callscope.start(second)

        callscope.start(self.db)
        try:
            switch()
            square(6)
        finally:
            callscope.stop()
        self.db = second
        self.assertEqual([self.args_of(r)["x"] for r in self.calls("tests.py.test_api.square")], ["6"])

    def test_tracing_state_is_restored_after_stop(self):
        before = sys.getprofile()
        with callscope.record(self.db):
            pass
        self.assertIs(sys.getprofile(), before)
        if sys.version_info >= (3, 12):
            self.assertTrue(all(sys.monitoring.get_tool(i) is None for i in (3, 4)))
        if sys.version_info >= (3, 11):  # before, such recursion crashes untraced
            # The frame evaluator is gone too: Python calls take no C stack
            # again, so recursion far past what the stack holds works.
            def down(n):
                return 0 if n == 0 else 1 + down(n - 1)
            limit = sys.getrecursionlimit()
            sys.setrecursionlimit(250000)
            try:
                self.assertEqual(down(200000), 200000)
            finally:
                sys.setrecursionlimit(limit)


if __name__ == "__main__":
    unittest.main()
