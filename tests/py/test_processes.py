"""Threads and processes all land in one file, and whatever way the program
ends, what it recorded is kept."""

import os
import signal
import sys
import unittest

from tests.py.support import CALLSCOPE, SERVING_PROGRAM, TracedProgram


class ThreadsAndProcesses(TracedProgram):
    def test_twenty_threads_with_their_names(self):
        self.run_traced("""
            import threading
            def work(i):
                return i * i
            threads = [threading.Thread(target=work, args=(i,), name="worker-%d" % i) for i in range(20)]
            for t in threads: t.start()
            for t in threads: t.join()
        """)
        rows = self.calls("__main__.work")
        self.assertEqual(len(rows), 20)
        self.assertEqual(sorted(int(self.args_of(r)["i"]) for r in rows), list(range(20)))
        self.assertEqual(len({r["tid"] for r in rows}), 20)
        self.assertEqual({r["thread"] for r in rows}, {"worker-%d" % i for i in range(20)})

    def test_threads_are_named_when_the_standard_library_is_not_traced(self):
        self.run_traced("""
            import threading
            def work(i):
                return i
            t = threading.Thread(target=work, args=(1,), name="quiet-worker")
            t.start()
            t.join()
        """, options=("--no-stdlib",))
        rows = self.calls("__main__.work")
        self.assertEqual([r["thread"] for r in rows], ["quiet-worker"])
        self.assertEqual(self.query("select count(*) from functions where module = 'threading'"), [(0,)])

    def test_thread_started_before_tracing_is_named(self):
        # The API starts recording while a thread already runs.
        script = self.write("app.py", """
            import threading, time, callscope
            go = threading.Event()
            def late():
                return 1
            def body():
                go.wait()
                late()
            t = threading.Thread(target=body, name="early-bird")
            t.start()
            with callscope.record(%r):
                go.set()
                t.join()
        """ % os.path.join(self.dir, "api.db"))
        proc = self.run_plain(script, with_callscope=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.db = os.path.join(self.dir, "api.db")
        rows = self.calls("__main__.late")
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0]["thread"], "early-bird")

    def test_fork_child_lands_in_same_file(self):
        self.run_traced("""
            import os
            def in_child():
                return "child"
            def in_parent():
                return "parent"
            pid = os.fork()
            if pid == 0:
                in_child()
                os._exit(0)
            os.waitpid(pid, 0)
            in_parent()
        """)
        child, parent = self.calls("__main__.in_child"), self.calls("__main__.in_parent")
        self.assertEqual(len(child), 1)
        self.assertEqual(len(parent), 1)
        self.assertNotEqual(child[0]["pid"], parent[0]["pid"])
        self.assertEqual(child[0]["result"], "'child'")
        # the thread that forked goes on in the child under its own name
        self.assertEqual((child[0]["thread"], parent[0]["thread"]), ("MainThread", "MainThread"))

    def test_a_child_forked_by_another_thread_keeps_that_thread_s_name(self):
        self.run_traced("""
            import os, threading
            def in_child():
                return "child"
            def fork_here():
                pid = os.fork()
                if pid == 0:
                    in_child()
                    os._exit(0)
                os.waitpid(pid, 0)
            worker = threading.Thread(target=fork_here, name="forker")
            worker.start()
            worker.join()
        """)
        child = self.calls("__main__.in_child")
        self.assertEqual([r["thread"] for r in child], ["forker"])
        out = self.callscope("show", self.db, "--no-color").stdout.decode()
        self.assertIn("pid %d · thread forker (tid %d)" % (child[0]["pid"], child[0]["pid"]), out)

    def test_subprocess_and_multiprocessing_children(self):
        self.write("child.py", "def child_work(x):\n    return x + 1\nchild_work(41)\n")
        self.run_traced("""
            import multiprocessing, os, subprocess, sys
            def square(x):
                return x * x
            if __name__ == "__main__":
                subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "child.py")], check=True)
                for method in ("fork", "spawn"):
                    with multiprocessing.get_context(method).Pool(2) as pool:
                        print(pool.map(square, [1, 2, 3]))
        """)
        self.assertEqual(self.calls("__main__.child_work")[0]["result"], "42")
        squares = self.query("select pid, result from call_view where qualname = 'square'")
        self.assertEqual(sorted(r for _, r in squares), ["1", "1", "4", "4", "9", "9"])
        main_pid = self.query("select pid from call_view where function = '__main__.<module>' order by id")[0][0]
        self.assertTrue(all(pid != main_pid for pid, _ in squares))

    def test_os_exit_keeps_everything(self):
        proc = self.run_traced("""
            import os
            def before_exit(n):
                return n
            for i in range(1000):
                before_exit(i)
            os._exit(3)
        """, check=False)
        self.assertEqual(proc.returncode, 3)
        self.assertEqual(len(self.calls("__main__.before_exit")), 1000)
        # <module> never returned: kept with no end time.
        self.assertEqual(self.query("select duration_ns from call_view where function='__main__.<module>'"),
                         [(None,)])

    def test_sigkill_of_the_program_keeps_what_it_wrote(self):
        proc = self.run_traced("""
            import os, signal
            def work(n):
                return n
            for i in range(5000):
                work(i)
            os.kill(os.getpid(), signal.SIGKILL)
        """, check=False)
        self.assertEqual(proc.returncode, -signal.SIGKILL)
        self.assertEqual(len(self.calls("__main__.work")), 5000)

    def test_signal_exit_status_passes_through(self):
        proc = self.run_traced("import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n", check=False)
        self.assertEqual(proc.returncode, -signal.SIGTERM)

    def test_sigterm_to_callscope_reaches_the_program(self):
        import subprocess
        script = self.write("app.py", """
            import sys, time
            def waiting():
                print("ready", flush=True)
                time.sleep(60)
            waiting()
        """)
        proc = subprocess.Popen([CALLSCOPE, "run", "--python", sys.executable, "-o", self.db, script],
                                stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        self.assertEqual(proc.stdout.readline(), b"ready\n")
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(60), -signal.SIGTERM)
        rows = self.calls("__main__.waiting")
        self.assertEqual(len(rows), 1)
        self.assertIsNone(rows[0]["duration_ns"])  # it never returned

    def test_the_record_can_be_read_while_the_program_runs(self):
        import sqlite3
        import subprocess
        import time
        script = self.write("app.py", SERVING_PROGRAM)
        proc = subprocess.Popen([CALLSCOPE, "run", "--python", sys.executable, "-o", self.db,
                                 script], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            self.assertEqual(proc.stdout.readline(), b"ready\n")
            count, error = 0, None
            for _ in range(100):  # the collector commits at least every 100 ms
                try:
                    count = self.query("select count(*) from call_view where function='__main__.tick'")[0][0]
                except sqlite3.OperationalError as e:
                    count, error = 0, e
                if count == 50:
                    break
                time.sleep(0.1)
            self.assertEqual(count, 50, "last error: %s" % error)
            # serve() is still running: it is there too, with no end yet, and
            # the ticks hang from it
            for _ in range(100):
                running = self.query("select id, duration_ns from call_view where function = '__main__.serve'")
                if running:
                    break
                time.sleep(0.1)
            self.assertEqual(len(running), 1)
            self.assertIsNone(running[0][1])
            parents = self.query("select distinct parent_id from call_view where function = '__main__.tick'")
            self.assertEqual(parents, [(running[0][0],)])
        finally:
            proc.stdin.close()
            proc.wait(60)
        self.assertEqual(proc.returncode, 0)
        # once it ended, its one row has its duration
        done = self.query("select id, duration_ns from call_view where function = '__main__.serve'")
        self.assertEqual(len(done), 1)
        self.assertEqual(done[0][0], running[0][0])
        self.assertIsNotNone(done[0][1])
        self.assertEqual(self.query("select value from meta where key = 'calls'"),
                         self.query("select count(*) from call_rows"))


if __name__ == "__main__":
    unittest.main()
