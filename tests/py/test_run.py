"""`callscope run` behaves like `python3 app.py` for the program, and bad
input gets one clear line of error."""

import os
import struct
import subprocess
import sys
import time

from tests.py.support import CALLSCOPE, LIB, TracedProgram

PROGRAM = """
import os, sys
print("argv", sys.argv)
print("name", __name__, "path0", sys.path[0] == os.path.dirname(os.path.realpath(__file__)))
sys.stderr.write("to stderr\\n")
print("stdin", sys.stdin.read())
sys.exit(int(sys.argv[1]))
"""


class RunBehavesLikePython(TracedProgram):
    def test_output_and_exit_status_are_the_programs(self):
        script = self.write("app.py", PROGRAM)
        plain = self.run_plain(script, "7", "--port", "8000")
        traced = self.callscope("run", "--python", sys.executable, "-o", self.db, script, "7", "--port", "8000")
        self.assertEqual(plain.returncode, 7)
        self.assertEqual(traced.returncode, 7)
        self.assertEqual(traced.stdout, plain.stdout)
        self.assertEqual(traced.stderr, plain.stderr)
        self.assertIn(b"name __main__ path0 True", traced.stdout)

    def test_uncaught_exception_traceback_shows_only_the_program(self):
        script = self.write("app.py", "def f():\n    raise KeyError('k')\nf()\n")
        plain = self.run_plain(script)
        traced = self.callscope("run", "--python", sys.executable, "-o", self.db, script)
        self.assertEqual(traced.returncode, 1)
        self.assertEqual(traced.stderr, plain.stderr)
        self.assertEqual(self.query("select exception is not null from call_view where function='__main__.f'"),
                         [(1,)])

    def test_module_mode(self):
        self.write("pkg/__init__.py", "")
        self.write("pkg/cli.py", "import sys\ndef main(a):\n    return a\nprint(main(sys.argv[1:]), __name__)\n")
        traced = self.callscope("run", "--python", sys.executable, "-o", self.db, "-m", "pkg.cli", "x", "y")
        self.assertEqual(traced.returncode, 0, traced.stderr)
        self.assertEqual(traced.stdout, b"['x', 'y'] __main__\n")
        rows = self.calls("__main__.main")
        self.assertEqual(len(rows), 1)
        self.assertEqual(self.args_of(rows[0]), {"a": "['x', 'y']"})

    def test_unittest_main_runs(self):
        self.run_traced("""
            import unittest
            class T(unittest.TestCase):
                def test_one(self):
                    self.assertEqual(1 + 1, 2)
            if __name__ == "__main__":
                unittest.main()
        """)
        self.assertEqual(len(self.calls("__main__.T.test_one")), 1)

    def test_default_output_is_callscope_db_and_a_new_run_replaces_it(self):
        self.write("app.py", "def f(): pass\nf()\n")
        for _ in range(2):
            proc = self.callscope("run", "--python", sys.executable, "app.py")
            self.assertEqual(proc.returncode, 0, proc.stderr)
        self.db = os.path.join(self.dir, "callscope.db")
        self.assertEqual(len(self.calls("__main__.f")), 1)

    def test_python_m_callscope_works(self):
        self.write("app.py", "def f(): return 5\nf()\n")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.path.join(os.path.dirname(CALLSCOPE), "lib")
        proc = subprocess.run([sys.executable, "-m", "callscope", "run", "-o", self.db, "app.py"], cwd=self.dir,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(self.calls("__main__.f")[0]["result"], "5")


    def test_a_program_that_records_itself_runs_as_untraced(self):
        # callscope.record inside `callscope run` joins the run's recording
        script = self.write("app.py", """
            import os, callscope
            def inside(x):
                return x + 1
            def after(x):
                return x * 2
            with callscope.record("inner.db"):
                print(inside(1))
            print(after(2), os.path.exists("inner.db"))
        """)
        plain = self.run_plain(script, with_callscope=True)
        self.assertEqual(plain.returncode, 0, plain.stderr.decode())
        os.remove(os.path.join(self.dir, "inner.db"))
        traced = self.callscope("run", "--python", sys.executable, "-o", self.db, script)
        self.assertEqual(traced.returncode, 0, traced.stderr.decode())
        self.assertEqual(traced.stdout, b"2\n4 False\n")
        self.assertEqual(traced.stderr.decode(), "callscope: this process is recorded already; callscope.start("
                         "'inner.db') joins that recording and writes no file of its own\n")
        self.assertEqual([r["result"] for r in self.calls("__main__.inside")], ["2"])
        self.assertEqual([r["result"] for r in self.calls("__main__.after")], ["4"])

class BadInput(TracedProgram):
    def assert_one_line_error(self, proc, fragment):
        self.assertNotEqual(proc.returncode, 0)
        err = proc.stderr.decode()
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertTrue(err.startswith("callscope: "), err)
        self.assertIn(fragment, err)

    def test_missing_script(self):
        self.assert_one_line_error(self.callscope("run", "--python", sys.executable, "nope.py"), "nope.py")

    def test_script_that_does_not_compile(self):
        self.write("bad.py", "def f(:\n")
        proc = self.callscope("run", "--python", sys.executable, "-o", self.db, "bad.py")
        self.assert_one_line_error(proc, "cannot compile bad.py")

    def test_unknown_option(self):
        self.assert_one_line_error(self.callscope("run", "--frobnicate", "app.py"), "--frobnicate")

    def test_bad_number(self):
        self.write("app.py", "pass\n")
        self.assert_one_line_error(self.callscope("run", "--max-depth", "x", "app.py"), "--max-depth")

    def test_unwritable_output(self):
        self.write("app.py", "pass\n")
        proc = self.callscope("run", "--python", sys.executable, "-o", "/proc/no/such/dir/x.db", "app.py")
        self.assert_one_line_error(proc, "x.db")

    def test_full_disk(self):
        # A file system of 1 MB fills up early in the recording: the program
        # still runs to its end, with all its output, and callscope says
        # once, at the end, that the record could not be written.
        mnt = os.path.join(self.dir, "small")
        os.mkdir(mnt)
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if mounted.returncode != 0:
            self.skipTest("cannot mount a small file system here (needs root)")
        self.addCleanup(subprocess.run, ["umount", "-l", mnt])
        self.write("app.py", "def f(i):\n    return i\nfor i in range(300000):\n    f(i)\nprint('done')\n")
        proc = self.callscope("run", "--python", sys.executable, "-o", os.path.join(mnt, "x.db"), "app.py")
        self.assertEqual(proc.stdout, b"done\n")
        # the program's own exit status, and one line saying what was lost
        self.assertEqual(proc.returncode, 0)
        err = proc.stderr.decode()
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn("the disk is full; the program's calls after that point are not recorded", err)

    def test_a_program_that_cannot_be_started_leaves_nothing_behind(self):
        # fork fails (another user, allowed one process): one line, exit 1,
        # no shared-memory ring left, the recording closed (no -wal, -shm)
        from tests.py.test_attach import as_user, other_user_uid_or_skip
        import pwd
        import resource
        uid = other_user_uid_or_skip(self)
        gid = pwd.getpwuid(uid).pw_gid
        os.chmod(self.dir, 0o777)
        script = self.write("app.py", "print('never')\n")
        switch = as_user(uid, gid)
        def one_process():
            resource.setrlimit(resource.RLIMIT_NPROC, (1, 1))
            switch()
        def rings():
            return {n for n in os.listdir("/dev/shm")
                    if n.startswith("callscope-") and os.stat(os.path.join("/dev/shm", n)).st_uid == uid}
        before = rings()
        # (a sanitizer build's leak checker needs a process of its own at exit)
        options = ":".join(o for o in (os.environ.get("ASAN_OPTIONS"), "detect_leaks=0") if o)
        proc = self.callscope("run", "--python", sys.executable, "-o", self.db, script, preexec_fn=one_process,
                              env=dict(os.environ, ASAN_OPTIONS=options))
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(proc.stdout, b"")
        self.assertRegex(proc.stderr.decode(), r"^callscope: cannot start the program: [^\n]+\n$")
        self.assertEqual(rings(), before)
        self.assertEqual([n for n in os.listdir(self.dir) if n.startswith("trace.db-")], [])

    def test_empty_output_path(self):
        self.write("app.py", "pass\n")
        self.assert_one_line_error(self.callscope("run", "-o", "", "app.py"), "-o needs a file path")

    def test_missing_interpreter(self):
        self.write("app.py", "pass\n")
        proc = self.callscope("run", "--python", "/no/such/python", "-o", self.db, "app.py")
        self.assert_one_line_error(proc, "/no/such/python")

    def test_missing_module(self):
        proc = self.callscope("run", "--python", sys.executable, "-o", self.db, "-m", "no_such_module_xyz")
        self.assert_one_line_error(proc, "no_such_module_xyz")

    def test_extension_of_another_build(self):
        # An extension left from an older build meets a ring made by a newer
        # callscope binary (here, a ring of format 1 made by hand, as such a
        # binary's would be): one line saying so and how to rebuild, and the
        # program does not start.
        name = "callscope-test-%d-%d" % (os.getpid(), id(self))
        chunk, nchunks, data_offset = 65536, 4, 4096
        header = struct.pack("<IIIIQ", 0x43534331, 1, chunk, nchunks, data_offset)
        with open(os.path.join("/dev/shm", name), "wb") as f:
            f.write(header.ljust(data_offset + chunk * nchunks, b"\0"))
        self.addCleanup(os.unlink, os.path.join("/dev/shm", name))
        self.write("app.py", "open('started', 'w').close()\n")
        env = dict(os.environ, CALLSCOPE_RING_MAIN="/" + name, PYTHONPATH=LIB)
        proc = subprocess.run([sys.executable, "-m", "callscope._bootstrap", "app.py"], cwd=self.dir, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=60)
        self.assert_one_line_error(proc, "was made by another build of callscope (ring format 1; this one reads 2)")
        self.assertIn("build the extension again with: make PYTHON=%s" % sys.executable, proc.stderr.decode())
        self.assertFalse(os.path.exists(os.path.join(self.dir, "started")))


class Interrupts(TracedProgram):
    def test_uncaught_keyboard_interrupt_ends_like_python(self):
        script = self.write("app.py", "def f():\n    raise KeyboardInterrupt\nf()\n")
        plain = self.run_plain(script)
        traced = self.callscope("run", "--python", sys.executable, "-o", self.db, script)
        self.assertEqual(traced.returncode, plain.returncode)
        self.assertEqual(traced.stderr, plain.stderr)
        self.assertEqual(len(self.calls("__main__.f")), 1)


class RecorderKilled(TracedProgram):
    def test_the_program_does_not_outlive_its_recorder(self):
        # Killed outright, `callscope run` can neither forward signals nor
        # drain the ring: the program must not run on, orphaned, for ever.
        script = self.write("app.py", """
            import os, sys, time
            print(os.getpid(), flush=True)
            def spin(i):
                return i
            while True:
                spin(1)
        """)
        run = subprocess.Popen([CALLSCOPE, "run", "--python", sys.executable, "-o", self.db, script],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        self.targets.append(run)
        program = int(run.stdout.readline())
        run.kill()
        run.wait()
        for _ in range(1000):
            try:
                with open("/proc/%d/stat" % program) as f:
                    if f.read().split(")")[-1].split()[0] == "Z":
                        break
            except FileNotFoundError:
                break
            time.sleep(0.01)
        else:
            os.kill(program, 9)
            self.fail("the program went on running after its recorder was killed")
