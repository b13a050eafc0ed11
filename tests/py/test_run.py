"""`callscope run` behaves like `python3 app.py` for the program, and bad
input gets one clear line of error."""

import errno
import json
import os
import re
import struct
import subprocess
import sys
import time

from tests.py.support import CALLSCOPE, LIB, TracedProgram, on_terminal, query_recording

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
        mnt = self.small_file_system("1m")
        self.write("app.py", "def f(i):\n    return i\nfor i in range(300000):\n    f(i)\nprint('done')\n")
        proc = self.callscope("run", "--python", sys.executable, "-o", os.path.join(mnt, "x.db"), "app.py")
        self.assertEqual(proc.stdout, b"done\n")
        # the program's own exit status, and one line saying what was lost
        self.assertEqual(proc.returncode, 0)
        err = proc.stderr.decode()
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn("the disk is full; the program's calls after that point are not recorded", err)
        # with how many; what was committed before (if anything) stays readable
        lost = int(re.search(r"\((\d+) calls lost\)$", err.strip()).group(1))
        stats = self.callscope("stats", os.path.join(mnt, "x.db"))
        self.assertEqual(stats.returncode, 0, stats.stderr)
        recorded = re.search(r"^\s*(\d+) .*__main__\.f\b", stats.stdout.decode(), re.M)
        self.assertGreaterEqual(lost, 300000 - (int(recorded.group(1)) if recorded else 0))

    def test_a_full_dev_shm_stops_the_buffer_short_and_says_so(self):
        # /dev/shm (a file system of 6 MB of its own, in a mount namespace)
        # holds the ring's first 4 MB and refuses the next: the buffer stays
        # at 4 of the 64 MB asked, the program waits for the collector
        # instead, every call is recorded, and the summary on the terminal
        # says why the buffer was smaller.
        if subprocess.run(["unshare", "-m", "true"], stderr=subprocess.DEVNULL).returncode != 0:
            self.skipTest("cannot make a mount namespace here (needs root)")
        # (arguments the collector takes far longer to read than the program
        # to write, each character checked for a repr of its own, so that
        # the ring fills and asks for more)
        self.write("app.py", "def f(s):\n    return s\nfor i in range(200000):\n    f('\\u00e9' * 100 + str(i))\n"
                             "print('done')\n")
        script = ("mount -t tmpfs -o size=6m callscope-test /dev/shm && exec \"$0\" run --buffer 64 "
                  "--python \"$1\" -o \"$2\" \"$3\"")
        status, out = on_terminal(["unshare", "-m", "sh", "-c", script, CALLSCOPE, sys.executable, self.db,
                                   os.path.join(self.dir, "app.py")])
        self.assertEqual(status, 0, out)
        self.assertIn("done", out)
        self.assertIn("calls recorded in %s; the buffer stopped at 4 of 64 MB: /dev/shm is full" % self.db, out)
        self.assertEqual(self.query("select count(*) from calls where function_id ="
                                    " (select id from functions where name = '__main__.f')"), [(200000,)])

    def test_full_disk_then_room_again(self):
        # The disk fills after the program's first calls were committed, and
        # room comes back while it still runs: the calls made meanwhile are
        # lost and counted, the later ones recorded, every reader reads the
        # file, and one line says how many were lost and that recording
        # resumed. Each step waits for the one before (signal files), so
        # nothing depends on timing: when the program has made its second
        # lot of calls, a one-megabyte buffer that makes it wait for the
        # collector means the collector tried to write them.
        mnt = self.small_file_system("4m")
        db = os.path.join(mnt, "x.db")
        # `shared` is first stored while the disk is full (its row lost), then
        # passed again after the gap; `later` is running across the gap.
        self.write("app.py", """
            import os, sys, time
            def f(i, shared):
                return (i, shared)
            def wait_for(name):
                while True:
                    try:
                        os.stat(name)
                        return
                    except FileNotFoundError:
                        time.sleep(0.01)
            def later(shared):
                for i in range(1000, 1001000):
                    f(i, shared)
                open("during", "wb").close()
                wait_for("room")
                # calls until the test has seen some of them recorded
                i = 2000000
                while True:
                    for k in range(100):
                        f(i, shared)
                        i += 1
                    try:
                        os.stat("seen")
                        return i
                    except FileNotFoundError:
                        time.sleep(0.01)
            for i in range(1000):
                f(i, "before")
            open("before", "wb").close()
            wait_for("full")
            print("done", later(("made", "while full")) - 2000000)
            sys.exit(3)
        """)
        proc = subprocess.Popen([CALLSCOPE, "run", "--python", sys.executable, "--buffer", "1", "-o", db, "app.py"],
                                cwd=self.dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL)
        self.addCleanup(proc.wait)
        self.addCleanup(proc.kill)

        def signal(name):
            open(os.path.join(self.dir, name), "w").close()

        def one(sql):
            return query_recording(db, sql)[0][0]

        def f_calls(where):
            return one("select count(*) from call_rows c join functions f on f.id = c.function_id"
                       " where f.qualname = 'f' and " + where)

        def until(what, condition):
            deadline = time.monotonic() + 120
            while not condition():
                self.assertIsNone(proc.poll(), "callscope ended while waiting for " + what)
                self.assertLess(time.monotonic(), deadline, "waited too long for " + what)
                time.sleep(0.02)

        exists = lambda name: lambda: os.path.exists(os.path.join(self.dir, name))
        until("the first calls", exists("before"))
        until("the first calls to be committed", lambda: f_calls("c.id > 0") == 1000)
        filler = os.open(os.path.join(mnt, "filler"), os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(filler, b"\0" * 4096):
                pass
        except OSError as e:
            self.assertEqual(e.errno, errno.ENOSPC)
        finally:
            os.close(filler)
        signal("full")
        until("the calls made while the disk was full", exists("during"))
        os.unlink(os.path.join(mnt, "filler"))
        signal("room")
        until("calls recorded after the gap", lambda: f_calls("cast(json_extract(c.args, '$[0]') as integer) >= 2000000") > 0)
        signal("seen")
        out, err = proc.communicate(timeout=120)
        self.assertRegex(out.decode(), r"^done \d+\n$")
        made_after = int(out.split()[1])
        self.assertEqual(proc.returncode, 3)
        lines = err.decode().strip().splitlines()
        self.assertEqual(len(lines), 1, err)
        lost = one("select value from meta where key = 'disk_full_lost_calls'")
        self.assertRegex(lines[0], r"^callscope: %d calls were not recorded in %s while its disk was full;"
                                   r" recording resumed once there was room$" % (lost, re.escape(db)))
        self.assertGreaterEqual(one("select value from meta where key = 'disk_full_gaps'"), 1)
        self.assertEqual(one("select value from meta where key = 'finished'"), 1)
        # before and after the gap, in order; the calls of the gap missing
        before = f_calls("cast(json_extract(c.args, '$[0]') as integer) < 1000")
        during = f_calls("cast(json_extract(c.args, '$[0]') as integer) between 1000 and 1000999")
        after = f_calls("cast(json_extract(c.args, '$[0]') as integer) >= 2000000")
        self.assertEqual(before, 1000)
        self.assertGreater(after, 0)
        self.assertLess(during, 1000000)
        self.assertLessEqual(after, made_after)
        # every call of f is in the file or counted lost; the other calls
        # lost are wait_for("full"), which ended while the disk was full, and
        # maybe wait_for("room"), which ends as the gap does
        self.assertIn(lost - (1000000 - during) - (made_after - after), (1, 2))
        # every value a call refers to is there
        self.assertEqual(one("select count(*) from call_rows c, json_each(c.args) a"
                                             " where a.type = 'integer' and not exists"
                                             " (select 1 from vals v where v.id = a.value)"), 0)
        self.assertEqual(one("select count(*) from call_rows c where typeof(c.result) = 'integer'"
                                             " and not exists (select 1 from vals v where v.id = c.result)"), 0)
        self.assertEqual(one("select count(*) from call_rows c where not exists"
                                             " (select 1 from functions f where f.id = c.function_id)"), 0)
        # and the readers read it
        stats = self.callscope("stats", db)
        self.assertEqual(stats.returncode, 0, stats.stderr)
        self.assertRegex(stats.stdout.decode(), r"\b%d .*__main__\.f\b" % (before + during + after))
        self.assertEqual(stats.stderr.decode(), "callscope: %d calls were not recorded while the disk was full;"
                                                " these numbers are lower bounds\n" % lost)
        show = self.callscope("show", "--format", "jsonl", db)
        self.assertEqual(show.returncode, 0, show.stderr)
        shown = [json.loads(line) for line in show.stdout.decode().splitlines()]
        args = [c["args"] for c in shown if c.get("function") == "__main__.f"]
        self.assertEqual(len(args), before + during + after)
        self.assertEqual(args[0], {"i": "0", "shared": "'before'"})
        self.assertGreaterEqual(int(args[-1]["i"]), 2000000)
        self.assertEqual(args[-1]["shared"], "('made', 'while full')")
        # the call running across the gap: its argument's row was lost
        later = [c for c in shown if c.get("function") == "__main__.later"]
        self.assertEqual(len(later), 1)
        self.assertEqual(later[0]["args"], {})
        self.assertEqual(query_recording(db, "select c.args, c.flags & 8 from call_rows c join functions f"
                                             " on f.id = c.function_id where f.qualname = 'later'"), [(None, 8)])
        self.assertEqual(one("select value from meta where key = 'calls'"), one("select count(*) from call_rows"))
        for fmt in ("perfetto", "folded", "speedscope"):
            exported = self.callscope("export", "--format", fmt, "-o", os.path.join(self.dir, "out." + fmt), db)
            self.assertEqual(exported.returncode, 0, exported.stderr)

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
        self.assert_one_line_error(proc, "was made by another build of callscope (ring format 1; this one reads ")
        self.assertRegex(proc.stderr.decode(), r"this one reads ([2-9]|\d\d+)\)")
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
