"""`callscope attach`: injecting into live Python processes.

The targets are real interpreters (this test's own Python) blocked or busy in
the ways a service is: computing, sleeping, in accept(), select(), read() on
a pipe, with several threads. The injected library is a stand-in for the
agent (build/tests/fixture_entry.so, chosen with CALLSCOPE_ATTACH_LIBRARY)
that logs each call; the real extension is checked separately. After each
injection the target must carry on exactly as it would have: same output,
same exit status, same fds and signal dispositions, sleeps that end on time.
"""

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest

from tests.py.support import CALLSCOPE, LIB, ROOT, TracedProgram

# Next to the binary under test (build/tests), or in the main build when the
# binary is another build of it (build/asan/callscope).
FIXTURE = next((f for f in (os.path.join(os.path.dirname(CALLSCOPE), "tests", "fixture_entry.so"),
                            os.path.join(ROOT, "build", "tests", "fixture_entry.so")) if os.path.exists(f)),
               os.path.join(ROOT, "build", "tests", "fixture_entry.so"))
VERSION = "%d.%d" % sys.version_info[:2]
GDB = shutil.which("gdb")
VIAS = ("ptrace", "gdb")

PRELUDE = """
import os, select, signal, socket, sys, threading, time
def say(*parts):
    print(*parts, flush=True)
"""


class AttachTest(TracedProgram):
    def setUp(self):
        super().setUp()
        if not os.path.exists(FIXTURE):
            self.fail("%s is missing: run make" % FIXTURE)
        self.log = os.path.join(self.dir, "entry.log")

    # ---- helpers ----

    def start(self, source, env=None, python=None, preexec=None, cwd=None):
        """A target running `source`; returns once it printed READY."""
        script = self.write("target_%d.py" % len(self.targets), PRELUDE + textwrap.dedent(source))
        e = dict(os.environ, CALLSCOPE_FIXTURE_LOG=self.log)
        e.update(env or {})
        p = subprocess.Popen([python or sys.executable, script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, env=e, cwd=cwd or self.dir, preexec_fn=preexec)
        self.targets.append(p)
        first = self.line(p)
        if first != "READY":
            self.fail("the target did not start: %s" % (first + "\n" + self.rest(p)[0]))
        return p

    def line(self, p, timeout=20):
        ready, _, _ = select.select([p.stdout], [], [], timeout)
        if not ready:
            self.fail("the target printed nothing for %d s" % timeout)
        return p.stdout.readline().decode().rstrip("\n")

    def rest(self, p, timeout=60):
        """The target's remaining output and its exit status."""
        out, _ = p.communicate(timeout=timeout)
        return out.decode(), p.returncode

    def wait_blocked(self, p):
        """Until the target's main thread sleeps in the kernel."""
        for _ in range(200):
            with open("/proc/%d/stat" % p.pid) as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "S":
                    return
            time.sleep(0.01)
        self.fail("the target never blocked")

    def attach(self, pid, via=None, library=FIXTURE, env=None, timeout=60, binary=None, preexec=None):
        e = dict(os.environ)
        e.pop("CALLSCOPE_ATTACH_LIBRARY", None)
        if library:
            e["CALLSCOPE_ATTACH_LIBRARY"] = library
        e.update(env or {})
        # the text form: the JSON lines a pipe gets by default are LiveJsonContract's
        args = [binary or CALLSCOPE, "attach", str(pid), "--format", "text"] + (["--via", via] if via else [])
        proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                              env=e, timeout=timeout, preexec_fn=preexec)
        return proc.returncode, proc.stdout.decode(), proc.stderr.decode()

    def attach_ok(self, pid, via=None, **kw):
        rc, out, err = self.attach(pid, via, **kw)
        self.assertEqual(rc, 0, err)
        used = via or "ptrace"
        self.assertEqual(out, "callscope: agent started in %d (Python %s, via %s)\n" % (pid, VERSION, used))
        self.assertEqual(err, "")

    def entries(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return [line.split(" ", 2) for line in f.read().splitlines()]

    def assert_entry_ran(self, pid, times=1):
        entries = self.entries()
        self.assertEqual(len(entries), times, entries)
        sock = "/tmp/callscope-%d/agent-%d.sock" % (os.geteuid(), pid)
        for got_pid, tid, path in entries:
            self.assertEqual((int(got_pid), int(tid), path), (pid, pid, sock))

    def process_state(self, pid):
        """What an injection must not change: fds and signal dispositions."""
        fds = {}
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                fds[fd] = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                pass
        with open("/proc/%d/status" % pid) as f:
            sigs = [l for l in f if l.startswith(("SigBlk", "SigIgn", "SigCgt"))]
        return fds, sigs

    def skip_without(self, via):
        if via == "gdb" and not GDB:
            self.skipTest("gdb is not installed")


# Pure Python work until told to stop (a line on stdin, looked at every
# 20000 steps); the checksum says whether every step was done right.
WORK = """
P = 1000000007
def work_until_stopped():
    total = i = 0
    while True:
        for _ in range(20000):
            total = (total + i * i) % P
            i += 1
        if select.select([0], [], [], 0)[0]:
            return i, total
"""


def checksum(n):
    """sum(i*i for i in range(n)) % P, as the target computes it."""
    return (n - 1) * n * (2 * n - 1) // 6 % 1000000007


class AttachTargets(AttachTest):
    """Each kind of target, by each way of injecting."""

    def check_busy(self, via, times):
        p = self.start(WORK + textwrap.dedent("""
            say("READY")
            n, total = work_until_stopped()
            say(n, total)
            sys.exit(3)
        """))
        for _ in range(times):
            self.attach_ok(p.pid, via)
        self.assertIsNone(p.poll())
        p.stdin.write(b"stop\n")
        p.stdin.flush()
        out, status = self.rest(p)
        self.assertEqual(status, 3, out)
        n, total = map(int, out.split())
        self.assertEqual(total, checksum(n))
        self.assert_entry_ran(p.pid, times)

    def test_busy_ptrace(self):
        self.check_busy("ptrace", 1)

    def test_busy_gdb(self):
        self.skip_without("gdb")
        self.check_busy("gdb", 1)

    def test_busy_twenty_times(self):
        self.check_busy(None, 20)

    def check_sleep(self, via):
        p = self.start("""
            say("READY")
            t0 = time.monotonic()
            time.sleep(4.0)
            say("slept %.3f" % (time.monotonic() - t0))
        """)
        ready = time.monotonic()
        self.wait_blocked(p)
        before = self.process_state(p.pid)
        self.attach_ok(p.pid, via)
        if time.monotonic() - ready > 3.5:
            self.skipTest("the machine was too slow: the sleep may be over before the attach")
        self.assertEqual(self.process_state(p.pid), before)
        out, status = self.rest(p)
        self.assertEqual(status, 0, out)
        slept = float(out.split()[1])
        self.assertGreaterEqual(slept, 4.0)  # not cut short by the borrowed thread's interrupted call
        self.assert_entry_ran(p.pid)

    def test_sleep_ptrace(self):
        self.check_sleep("ptrace")

    def test_sleep_gdb(self):
        self.skip_without("gdb")
        self.check_sleep("gdb")

    def test_accept_ptrace(self):
        self.check_accept("ptrace")

    def test_accept_gdb(self):
        self.skip_without("gdb")
        self.check_accept("gdb")

    def check_accept(self, via):
        port_file = os.path.join(self.dir, "port")
        p = self.start("""
            server = socket.socket()
            server.bind(("127.0.0.1", 0))
            server.listen(1)
            with open(%r, "w") as f:
                f.write(str(server.getsockname()[1]))
            say("READY")
            conn, _ = server.accept()
            data = conn.recv(100)
            conn.sendall(data.upper())
            conn.close()
            say("served", data.decode())
        """ % port_file)
        with open(port_file) as f:
            port = int(f.read())
        self.wait_blocked(p)
        before = self.process_state(p.pid)
        self.attach_ok(p.pid, via)
        self.assertEqual(self.process_state(p.pid), before)
        with socket.create_connection(("127.0.0.1", port), timeout=20) as c:
            c.sendall(b"hello")
            self.assertEqual(c.recv(100), b"HELLO")
        out, status = self.rest(p)
        self.assertEqual((out, status), ("served hello\n", 0))
        self.assert_entry_ran(p.pid)

    def check_pipe(self, via, how):
        p = self.start("""
            say("READY")
            if %r == "select":
                r, _, _ = select.select([0], [], [], 30)
                assert r == [0], r
            data = os.read(0, 100)
            say("read", data.decode().strip())
        """ % how)
        self.wait_blocked(p)
        before = self.process_state(p.pid)
        self.attach_ok(p.pid, via)
        self.assertEqual(self.process_state(p.pid), before)
        time.sleep(0.1)
        self.assertIsNone(p.poll(), "the target did not go back to waiting")
        p.stdin.write(b"ping\n")
        p.stdin.flush()
        out, status = self.rest(p)
        self.assertEqual((out, status), ("read ping\n", 0))
        self.assert_entry_ran(p.pid)

    def test_read_pipe_ptrace(self):
        self.check_pipe("ptrace", "read")

    def test_read_pipe_gdb(self):
        self.skip_without("gdb")
        self.check_pipe("gdb", "read")

    def test_select_ptrace(self):
        self.check_pipe("ptrace", "select")

    def test_select_gdb(self):
        self.skip_without("gdb")
        self.check_pipe("gdb", "select")

    def check_threads(self, via):
        # Four threads computing, the main thread blocked reading stdin.
        p = self.start(WORK.replace("select.select([0], [], [], 0)[0]", "stop") + textwrap.dedent("""
            stop = False
            results = {}
            def worker(k):
                results[k] = work_until_stopped()
            threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
            for t in threads:
                t.start()
            say("READY")
            os.read(0, 100)
            stop = True
            for t in threads:
                t.join()
            for k in range(4):
                say(*results[k])
        """))
        self.wait_blocked(p)
        self.attach_ok(p.pid, via)
        p.stdin.write(b"stop\n")
        p.stdin.flush()
        out, status = self.rest(p)
        self.assertEqual(status, 0, out)
        lines = out.splitlines()
        self.assertEqual(len(lines), 4, out)
        for line in lines:
            n, total = map(int, line.split())
            self.assertEqual(total, checksum(n))
        self.assert_entry_ran(p.pid)

    def test_threads_ptrace(self):
        self.check_threads("ptrace")

    def test_threads_gdb(self):
        self.skip_without("gdb")
        self.check_threads("gdb")


class AttachSignals(AttachTest):
    def test_signal_during_injection_is_delivered(self):
        # The fixture sends SIGUSR1 to its own thread while the injector
        # holds it: the injector must pass it on, not swallow it.
        p = self.start("""
            got = []
            signal.signal(signal.SIGUSR1, lambda s, f: got.append(s))
            say("READY")
            deadline = time.monotonic() + 20
            while not got and time.monotonic() < deadline:
                time.sleep(0.05)
            say("signals", len(got))
        """, env={"CALLSCOPE_FIXTURE_SIGNAL": str(int(signal.SIGUSR1))})
        self.wait_blocked(p)
        self.attach_ok(p.pid, "ptrace")
        out, status = self.rest(p)
        self.assertEqual((out, status), ("signals 1\n", 0))
        self.assert_entry_ran(p.pid)

    def test_stopped_target_is_refused(self):
        p = self.start("""
            say("READY")
            time.sleep(1)
            say("done")
        """)
        os.kill(p.pid, signal.SIGSTOP)
        try:
            for _ in range(100):
                with open("/proc/%d/stat" % p.pid) as f:
                    if f.read().rsplit(")", 1)[1].split()[0] == "T":
                        break
                time.sleep(0.01)
            rc, out, err = self.attach(p.pid)
            self.assertEqual(rc, 1)
            self.assertRegex(err, r"^callscope: process %d \(python[.\d]*\) is stopped; resume it first "
                                  r"\(kill -CONT %d\)\n$" % (p.pid, p.pid))
        finally:
            os.kill(p.pid, signal.SIGCONT)
        self.assertEqual(self.rest(p), ("done\n", 0))
        self.assertEqual(self.entries(), [])


class AttachErrors(AttachTest):
    def test_dead_pid(self):
        p = subprocess.Popen([sys.executable, "-c", "pass"])
        p.wait()
        rc, out, err = self.attach(p.pid)
        self.assertEqual((rc, out, err), (1, "", "callscope: no process with pid %d\n" % p.pid))

    def test_not_python(self):
        p = subprocess.Popen(["sleep", "100"])
        self.targets.append(p)
        time.sleep(0.1)
        rc, out, err = self.attach(p.pid)
        self.assertEqual(rc, 1)
        self.assertEqual(err, "callscope: process %d (sleep) is not a Python process (no libpython and no Python "
                              "interpreter in %s)\n" % (p.pid, os.path.realpath(shutil.which("sleep"))))
        self.assertIsNone(p.poll())

    def test_free_threaded_build_is_refused(self):
        # No free-threaded CPython can be had here: a copy of this one named
        # as such a build is stands in for its executable.
        name = "python%d.%dt" % sys.version_info[:2]
        exe = os.path.join(self.dir, name)
        shutil.copy2(os.path.realpath(sys.executable), exe)
        # (found its standard library through PYTHONHOME, away from its prefix)
        p = subprocess.Popen([exe, "-c", "import time; print('READY', flush=True); time.sleep(30)"],
                             stdout=subprocess.PIPE, env=dict(os.environ, PYTHONHOME=sys.base_prefix))
        self.targets.append(p)
        self.assertEqual(p.stdout.readline().decode().strip(), "READY")
        rc, out, err = self.attach(p.pid)
        self.assertEqual(rc, 1)
        self.assertEqual(err, "callscope: process %d (%s) runs a free-threaded build of Python %d.%d, which callscope "
                              "does not support\n" % ((p.pid, name[:15]) + sys.version_info[:2]))
        self.assertIsNone(p.poll())

    def test_bad_arguments(self):
        for args, msg in ((["abc"], "'abc' is not a process id"), (["1", "--via", "x"], "--via is remote_exec, ptrace or gdb"),
                          (["1", "2"], "one PID only"), (["--bogus"], "unknown option '--bogus'")):
            proc = subprocess.run([CALLSCOPE, "attach"] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.assertEqual(proc.returncode, 2, args)
            self.assertIn(msg, proc.stderr.decode())

    def check_exit_during_attach(self, via):
        # The entry ends the process: the injector must notice and say so.
        p = self.start("""
            say("READY")
            time.sleep(30)
        """, env={"CALLSCOPE_FIXTURE_EXIT": "7"})
        self.wait_blocked(p)
        rc, out, err = self.attach(p.pid, via)
        self.assertEqual(rc, 1)
        self.assertIn("callscope: process %d exited during attach" % p.pid, err)
        self.assertEqual(self.rest(p), ("", 7))

    def test_exit_during_attach_ptrace(self):
        self.check_exit_during_attach("ptrace")

    def test_exit_during_attach_gdb(self):
        self.skip_without("gdb")
        self.check_exit_during_attach("gdb")

    def test_racing_exits(self):
        # Targets that end on their own while callscope attaches: each attach
        # ends promptly with success or a clear error, never a hang or crash.
        for k in range(8):
            p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(%f)" % (0.05 + 0.02 * k)],
                                 env=dict(os.environ, CALLSCOPE_FIXTURE_LOG=self.log))
            self.targets.append(p)
            time.sleep(0.04)
            rc, out, err = self.attach(p.pid)
            self.assertIn(rc, (0, 1), err)
            if rc:
                self.assertRegex(err, r"^callscope: (no process with pid|process \d+ (exited during attach|is exiting)"
                                      r"|process \d+ \(python3?[.\d]*\) is not a Python process)")
            self.assertEqual(p.wait(timeout=20), 0)

    def check_load_failure(self, via):
        bogus = self.write("bogus.so", "not a shared object\n")
        p = self.start("""
            say("READY")
            sys.stdin.readline()  # until the test is done attaching (however slow gdb is)
            say("done")
        """)
        rc, out, err = self.attach(p.pid, via, library=bogus)
        self.assertEqual(rc, 1)
        self.assertRegex(err, r"^callscope: cannot load the agent into process %d: .*bogus\.so.*" % p.pid)
        self.assertEqual(self.rest(p), ("done\n", 0))

    def test_load_failure_ptrace(self):
        self.check_load_failure("ptrace")

    def test_load_failure_gdb(self):
        self.skip_without("gdb")
        self.check_load_failure("gdb")

    def test_library_without_entry(self):
        libm = "/lib/x86_64-linux-gnu/libm.so.6"
        if not os.path.exists(libm):
            self.skipTest("no %s" % libm)
        p = self.start("""
            say("READY")
            time.sleep(0.5)
            say("done")
        """)
        rc, out, err = self.attach(p.pid, "ptrace", library=libm)
        self.assertEqual(rc, 1)
        self.assertIn("cannot find its callscope_agent_attach", err)
        self.assertEqual(self.rest(p), ("done\n", 0))

    def test_agent_results(self):
        cases = {
            "1": (0, "callscope: agent already running in %d (Python %s, via ptrace)\n", ""),
            "2": (1, "", "callscope: the Python interpreter in process %d is not running"),
            "3": (1, "", "callscope: the agent could not start in process %d"),
            # an agent that never finishes ending: attach tries again for a second, then says so
            "4": (1, "", "callscope: the agent in process %d is still ending after a detach; try again"),
            "42": (1, "", "callscope: the agent in process %d answered 42"),
        }
        for value, (want_rc, want_out, want_err) in cases.items():
            p = self.start("""
                say("READY")
                time.sleep(30)
            """, env={"CALLSCOPE_FIXTURE_RESULT": value})
            rc, out, err = self.attach(p.pid)
            self.assertEqual(rc, want_rc, err)
            self.assertEqual(out, want_out % (p.pid, VERSION) if want_out else "")
            self.assertTrue(err.startswith(want_err % p.pid if want_err else ""), err)
            self.assertIsNone(p.poll())
            p.kill()

    def test_missing_extension_build(self):
        # A callscope whose package has no extension file for this Python.
        bindir = os.path.join(self.dir, "fake")
        os.makedirs(os.path.join(bindir, "lib", "callscope"))
        shutil.copy(CALLSCOPE, os.path.join(bindir, "callscope"))
        open(os.path.join(bindir, "lib", "callscope", "_bootstrap.py"), "w").close()
        p = self.start("""
            say("READY")
            time.sleep(30)
        """)
        rc, out, err = self.attach(p.pid, library=None, binary=os.path.join(bindir, "callscope"))
        self.assertEqual(rc, 1)
        tag = VERSION.replace(".", "")
        self.assertRegex(err, r"^callscope: callscope is not built for Python %s \(no .*/_callscope\.cpython-%s-"
                              r"x86_64-linux-gnu\.so\); build it with `make PYTHON=.*python3[.\d]*`\n$"
                         % (VERSION.replace(".", r"\."), tag))
        self.assertEqual(self.entries(), [])

    def test_real_extension(self):
        # Until the agent is built into the extension, the clear error is
        # what attach must say; once it is, the agent starts.
        ext = os.path.join(LIB, "callscope", "_callscope.cpython-%s-x86_64-linux-gnu.so" % VERSION.replace(".", ""))
        if not os.path.exists(ext):
            self.fail("%s is missing: run make all-pythons" % ext)
        nm = subprocess.run(["nm", "-D", "--defined-only", ext], stdout=subprocess.PIPE).stdout.decode()
        exported = any(l.split()[-1] == "callscope_agent_attach" for l in nm.splitlines() if l.strip())
        p = self.start("""
            say("READY")
            time.sleep(0.5)
            say("done")
        """)
        rc, out, err = self.attach(p.pid, "ptrace", library=None)
        if exported:
            self.assertEqual((rc, err), (0, ""))
            self.assertRegex(out, r"^callscope: agent (started|already running) in %d \(Python %s, via ptrace\)\n$"
                             % (p.pid, VERSION.replace(".", r"\.")))
        else:
            self.assertEqual(rc, 1)
            self.assertIn("cannot find its callscope_agent_attach", err)
        self.assertEqual(self.rest(p), ("done\n", 0))


OTHER_USER = "callscope-test"


def as_user(uid, gid):
    """A preexec_fn that runs the child as uid:gid."""
    def switch():
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    return switch


def other_user_uid():
    """The uid of a user made for these tests, or None."""
    import pwd
    try:
        return pwd.getpwnam(OTHER_USER).pw_uid
    except KeyError:
        pass
    if os.geteuid() != 0 or not shutil.which("useradd"):
        return None
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", OTHER_USER],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return pwd.getpwnam(OTHER_USER).pw_uid
    except KeyError:
        return None


def other_user_uid_or_skip(test):
    """The uid of OTHER_USER, or the test is skipped (it needs root)."""
    if os.geteuid() != 0:
        test.skipTest("needs root to run processes as other users")
    uid = other_user_uid()
    if uid is None:
        test.skipTest("cannot create the user %s" % OTHER_USER)
    return uid


class AttachOtherUser(AttachTest):
    def setUp(self):
        super().setUp()
        self.uid = other_user_uid_or_skip(self)

    def test_non_root_client_is_refused(self):
        import pwd
        user = pwd.getpwnam(OTHER_USER)
        target = subprocess.Popen(["sleep", "100"], preexec_fn=as_user(user.pw_uid, user.pw_gid))
        self.targets.append(target)
        time.sleep(0.1)
        # The client: nobody, who must be able to run the binary at all.
        nobody = pwd.getpwnam("nobody")
        probe = subprocess.run([CALLSCOPE, "--help"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               preexec_fn=as_user(nobody.pw_uid, nobody.pw_gid))
        if probe.returncode != 0:
            self.skipTest("user nobody cannot run %s" % CALLSCOPE)
        rc, out, err = self.attach(target.pid, preexec=as_user(nobody.pw_uid, nobody.pw_gid))
        self.assertEqual(rc, 1)
        self.assertEqual(err, "callscope: not permitted: process %d (sleep) belongs to %s (uid %d); only root (or a "
                              "process with CAP_SYS_PTRACE) can attach to another user's process\n"
                         % (target.pid, OTHER_USER, user.pw_uid))
        self.assertIsNone(target.poll())

    def test_root_attaches_to_other_user(self):
        # The socket path carries the target's uid, not the caller's.
        python = "/usr/bin/python3"
        if not os.path.exists(python):
            self.skipTest("no Python readable by another user (pyenv lives under /root)")
        import pwd
        user = pwd.getpwnam(OTHER_USER)
        shared = tempfile.mkdtemp(prefix="callscope-attach-")
        self.addCleanup(shutil.rmtree, shared, True)
        os.chmod(shared, 0o777)
        self.log = os.path.join(shared, "entry.log")
        script = os.path.join(shared, "t.py")
        with open(script, "w") as f:
            f.write("import time\nprint('READY', flush=True)\ntime.sleep(0.5)\nprint('done', flush=True)\n")
        p = subprocess.Popen([python, script], stdout=subprocess.PIPE, cwd=shared,
                             env=dict(os.environ, CALLSCOPE_FIXTURE_LOG=self.log),
                             preexec_fn=as_user(user.pw_uid, user.pw_gid))
        self.targets.append(p)
        self.assertEqual(self.line(p), "READY")
        rc, out, err = self.attach(p.pid)
        if rc and "cannot load the agent" in err:
            self.skipTest("the fixture is not readable by %s: %s" % (OTHER_USER, err.strip()))
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"^callscope: agent started in %d \(Python 3\.\d+, via ptrace\)\n$" % p.pid)
        self.assertEqual(self.rest(p), ("done\n", 0))
        entries = self.entries()
        self.assertEqual(entries, [[str(p.pid), str(p.pid), "/tmp/callscope-%d/agent-%d.sock" % (user.pw_uid, p.pid)]])


if __name__ == "__main__":
    unittest.main()
