"""Recording options that decide what is kept, and a record that cannot be
written."""

import json
import os
import resource
import sys
import unittest

from tests.py.support import TracedProgram

DEEP = """
def level(n):
    return 0 if n == 0 else level(n - 1)
for i in range(3):
    level(4)
"""


class KeptCalls(TracedProgram):
    def test_max_depth(self):
        self.run_traced(DEEP, options=["--max-depth", "2"])
        depths = [r[0] for r in self.query("select depth from calls")]
        self.assertTrue(depths)
        self.assertLessEqual(max(depths), 2)

    def test_min_duration_keeps_only_slow_calls(self):
        self.run_traced("""
            import time
            def fast():
                return 1
            def slow():
                time.sleep(0.03)
            for i in range(20):
                fast()
            slow()
        """, options=["--min-duration", "10"])
        self.assertEqual(len(self.calls("__main__.slow")), 1)
        self.assertEqual(self.calls("__main__.fast"), [])

    def test_max_calls_keeps_the_newest(self):
        self.run_traced("""
            def f(i, name):
                return i
            for i in range(1000):
                f(i, "name %d" % i)
        """, options=["--max-calls", "100"])
        rows = self.calls("__main__.f")
        self.assertLessEqual(len(self.query("select id from calls")), 100)
        self.assertEqual(self.args_of(rows[-1]), {"i": "999", "name": "'name 999'"})
        # The values only the deleted calls referred to went with them.
        self.assertLessEqual(self.query("select count(*) from vals")[0][0], 100)
        self.assertEqual(self.query("select count(*) from vals where text = ?", "'name 0'")[0][0], 0)

    def test_max_calls_keeps_the_skip_index_in_step(self):
        # Many blocks of 1,024 calls deleted, a needle in the ones kept:
        # --filter (which reads only the blocks that may hold it) finds it,
        # and the blocks of deleted calls are gone with them.
        self.run_traced("""
            def f(i):
                return i
            for i in range(30000):
                f(i % 500)
            f(123456)
        """, options=["--max-calls", "3000"])
        proc = self.callscope("stats", self.db, "--format", "jsonl", "--filter", "arg == 'i' and value == '123456'")
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        self.assertEqual([json.loads(line)["count"] for line in proc.stdout.decode().splitlines()], [1])
        proc = self.callscope("stats", self.db, "--format", "jsonl", "--filter", "value == '7'")
        kept = self.query("select count(*) from call_rows where args = '[\"7\"]'")[0][0]
        self.assertGreater(kept, 0)
        self.assertEqual(sum(json.loads(line)["count"] for line in proc.stdout.decode().splitlines()), kept)
        first_block = self.query("select min(first_id) from call_blocks")[0][0]
        self.assertLessEqual(first_block, self.query("select min(id) from call_rows")[0][0])
        self.assertGreater(first_block, 20000)

    def test_drop_when_full_counts_what_was_lost(self):
        proc = self.run_traced("""
            def f(i):
                return i
            for i in range(300000):
                f(i)
        """, options=["--buffer", "1", "--on-full", "drop"])
        kept = len(self.calls("__main__.f"))
        located = self.query("select coalesce(sum(count), 0) from lost")[0][0]
        lost = int(self.query("select value from meta where key = 'lost_events'")[0][0])
        self.assertEqual(located, lost)
        # No call's identity is guessed across a gap: the module is the one
        # root, its result is its own, and every call under it is f's.
        module = self.calls("__main__.<module>")
        self.assertEqual(len(module), 1)
        self.assertIn(module[0]["result"], ("None", None))  # (None: its end was among the events lost)
        self.assertEqual(self.query("select function from call_view where parent_id is null and module = '__main__'"),
                         [("__main__.<module>",)])
        self.assertEqual(self.query("select count(*) from call_view where parent_id = ? and function != '__main__.f'",
                                    module[0]["id"]), [(0,)])
        self.assertEqual(self.query("select count(*) from call_view where function = '__main__.f'"
                                    " and (depth != 1 or parent_id != ?)", module[0]["id"]), [(0,)])
        # what --limit leaves out is not followed by where its events went
        shown = self.callscope("show", self.db, "--limit", "5", "--no-color").stdout.decode().splitlines()
        self.assertTrue(shown[-1].startswith("(stopped after 5 calls"), shown)
        # Every call is either kept or accounted for by its two lost events
        # (a call whose return was lost still has its row).
        self.assertGreaterEqual(kept + lost // 2 + 2, 300000)
        self.assertLessEqual(kept, 300000)
        if lost:
            stats = self.callscope("stats", self.db)
            self.assertEqual(stats.returncode, 0)
            self.assertIn("%d events were lost" % lost, stats.stderr.decode())

    def test_wait_when_full_keeps_everything(self):
        self.run_traced("""
            def f(i):
                return i
            for i in range(200000):
                f(i)
        """, options=["--buffer", "1"])
        self.assertEqual(len(self.calls("__main__.f")), 200000)
        self.assertEqual(self.query("select count(*) from lost"), [(0,)])


class Failures(TracedProgram):
    def test_record_that_cannot_be_written(self):
        def small_file_limit():
            resource.setrlimit(resource.RLIMIT_FSIZE, (3 << 20, 3 << 20))

        # results that do not compress, so the record outgrows the limit
        script = self.write("app.py", """
            import random
            random.seed(1)
            def f(i):
                return "%064x" % random.getrandbits(256)
            for i in range(200000):
                f(i)
            print("program finished")
        """)
        import subprocess
        from tests.py.support import CALLSCOPE
        proc = subprocess.run([CALLSCOPE, "run", "--python", sys.executable, "--buffer", "1", "-o", self.db, script],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=small_file_limit,
                              timeout=300)
        # the program ran to its end, and its own exit status is passed on;
        # one line says what was lost
        self.assertEqual(proc.returncode, 0)
        self.assertEqual(proc.stdout, b"program finished\n")
        err = proc.stderr.decode()
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn("cannot write", err)
        self.assertIn("the program's calls after that point are not recorded", err)

    def test_segfault_keeps_what_was_recorded(self):
        proc = self.run_traced("""
            import ctypes
            def before(i):
                return i
            for i in range(100):
                before(i)
            ctypes.string_at(0)
        """, check=False)
        self.assertLess(proc.returncode, 0)
        self.assertEqual(len(self.calls("__main__.before")), 100)

    def test_unsupported_python(self):
        old = sorted(p for p in (os.path.join(os.environ.get("PYENV_ROOT", "/root/.pyenv"), "versions", v,
                                              "bin", "python3") for v in ("3.7.16", "3.6.15")) if os.path.exists(p))
        if not old:
            self.skipTest("no Python older than 3.8 here")
        self.write("app.py", "pass\n")
        proc = self.callscope("run", "--python", old[0], "-o", self.db, "app.py")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("Python 3.8 or later", proc.stderr.decode())


if __name__ == "__main__":
    unittest.main()
