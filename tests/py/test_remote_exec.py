"""Attaching through sys.remote_exec (PEP 768, Python 3.14 and later): the
real client, a real target of this test's Python, no ptrace of its threads."""

import os
import subprocess
import sys
import time
import unittest

from tests.py.live_support import PREAMBLE, LiveTarget

REMOTE_EXEC = sys.version_info >= (3, 14)

LEAF = '''
def leaf(x):
    return x + 1
'''


class RemoteExecAttach(LiveTarget):

    def start(self, body, *python_args, env=None):
        """A target whose stderr is kept: attaching must print nothing there."""
        script = self.write("target.py", PREAMBLE + LEAF + body)
        p = subprocess.Popen([sys.executable] + list(python_args) + [script], cwd=self.dir,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=dict(os.environ, **(env or {})))
        self.targets.append(p)
        self.assertEqual(self.read_line(p), "ready")
        return p

    def leftovers(self):
        return [d for d in os.listdir("/tmp") if d.startswith("callscope-attach-")]

    def setUp(self):
        super().setUp()
        self.before = set(self.leftovers())

    def assert_nothing_left(self, p):
        self.assertEqual(set(self.leftovers()) - self.before, set())
        self.tell(p, "quit")
        p.wait(timeout=30)
        self.assertEqual(p.stderr.read().decode(), "")
        self.assertEqual(p.returncode, 0)

    @unittest.skipUnless(REMOTE_EXEC, "sys.remote_exec is 3.14+")
    def test_attach_observe_detach(self):
        p = self.start("serve(lambda: leaf(1))\n")
        before = self.state(p)
        proc = self.live("attach", p.pid, "--via", "remote_exec", "--format", "text")
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        self.assertRegex(proc.stdout.decode(), r"agent started in %d \(Python 3\.\d+, via remote_exec\)" % p.pid)
        obs = self.observations("watch", p.pid, "__main__.leaf", "-n", "2")
        self.assertEqual([o["return_obj"] for o in obs], ["2", "2"])
        self.assertEqual(self.live("detach", p.pid).returncode, 0)
        for _ in range(500):
            if not os.path.exists(self.socket_path(p.pid)):
                break
            time.sleep(0.01)
        after = self.state(p)
        # The extension module is not left in sys.modules, nor any file open.
        self.assertEqual(after["modules"], before["modules"])
        self.assertEqual(after["fds"], before["fds"])
        self.assertEqual(after["tasks"], before["tasks"])
        self.assert_nothing_left(p)

    @unittest.skipUnless(REMOTE_EXEC, "sys.remote_exec is 3.14+")
    def test_live_commands_choose_remote_exec(self):
        p = self.start("serve(lambda: leaf(1))\n")
        proc = self.live("attach", p.pid, "--format", "text")
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        self.assertIn("via remote_exec", proc.stdout.decode())
        self.live("detach", p.pid)
        self.assert_nothing_left(p)

    @unittest.skipUnless(REMOTE_EXEC, "sys.remote_exec is 3.14+")
    def test_remote_debugging_disabled(self):
        for args, env in ((["-X", "disable-remote-debug"], None), ([], {"PYTHON_DISABLE_REMOTE_DEBUG": "1"})):
            p = self.start("serve(lambda: leaf(1))\n", *args, env=env)
            proc = self.live("attach", p.pid, "--via", "remote_exec")
            self.assertEqual(proc.returncode, 1)
            self.assertEqual(proc.stderr.decode(),
                             "callscope: process %d was started with remote debugging disabled (-X "
                             "disable-remote-debug or PYTHON_DISABLE_REMOTE_DEBUG), so sys.remote_exec cannot "
                             "reach it\n" % p.pid)
            self.assertFalse(os.path.exists(self.socket_path(p.pid)))
            # Chosen automatically, the own injector does it instead, and says so.
            proc = self.live("attach", p.pid, "--format", "text")
            self.assertEqual(proc.returncode, 0, proc.stderr.decode())
            self.assertIn("via ptrace", proc.stdout.decode())
            self.assertEqual(len(self.observations("watch", p.pid, "__main__.leaf", "-n", "1")), 1)
            self.live("detach", p.pid)
            self.assert_nothing_left(p)

    BLOCKED = '''
import threading
def worker():
    while True:
        leaf(1)
        time.sleep(0.01)
threading.Thread(target=worker, daemon=True).start()
print("ready", flush=True)
sys.stdin.readline()  # the main thread blocks in C until told
serve(lambda: leaf(1))
'''

    @unittest.skipUnless(REMOTE_EXEC, "sys.remote_exec is 3.14+")
    def test_main_thread_blocked_in_c(self):
        # Asked for remote_exec, the client waits for the main thread, says
        # so after a second, and attaches once it runs Python code again.
        p = self.start(self.BLOCKED)
        client = self.popen_live("attach", p.pid, "--via", "remote_exec", "--format", "text")
        time.sleep(2.5)
        self.assertIsNone(client.poll())
        self.tell(p, "go")
        self.assertEqual(self.read_line(p), "ready")  # serve() starts
        out, err = client.communicate(timeout=60)
        self.assertEqual(client.returncode, 0, err.decode())
        self.assertEqual(err.decode(), "callscope: waiting for process %d's main thread to run Python code "
                                       "(sys.remote_exec runs there)\n" % p.pid)
        self.assertIn("via remote_exec", out.decode())
        self.assertEqual(len(self.observations("watch", p.pid, "__main__.leaf", "-n", "1")), 1)
        self.live("detach", p.pid)
        self.assert_nothing_left(p)

    @unittest.skipUnless(REMOTE_EXEC, "sys.remote_exec is 3.14+")
    def test_blocked_main_thread_falls_back_to_ptrace(self):
        # Chosen automatically, ptrace takes over after a short wait; the
        # script the target runs later starts nothing and removes its files.
        p = self.start(self.BLOCKED)
        proc = self.live("attach", p.pid, "--format", "text")
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        self.assertIn("via ptrace", proc.stdout.decode())
        self.assertEqual(len(self.observations("watch", p.pid, "__main__.leaf", "-n", "1")), 1)
        self.assertEqual(self.live("detach", p.pid).returncode, 0)
        for _ in range(500):
            if not os.path.exists(self.socket_path(p.pid)):
                break
            time.sleep(0.01)
        self.tell(p, "go")
        self.assertEqual(self.read_line(p), "ready")  # serve() starts
        for _ in range(500):
            if not set(self.leftovers()) - self.before:
                break
            time.sleep(0.01)
        state = self.state(p)
        self.assertNotIn("callscope._callscope", state["modules"])
        time.sleep(0.2)
        self.assertFalse(os.path.exists(self.socket_path(p.pid)))  # no agent started behind the user's back
        self.assert_nothing_left(p)

    @unittest.skipIf(REMOTE_EXEC, "needs a Python without sys.remote_exec")
    def test_older_python_is_refused_clearly(self):
        p = self.start("serve(lambda: leaf(1))\n")
        proc = self.live("attach", p.pid, "--via", "remote_exec")
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(proc.stderr.decode(),
                         "callscope: sys.remote_exec needs Python 3.14 or later; process %d runs Python %d.%d "
                         "(use --via ptrace)\n" % (p.pid, sys.version_info[0], sys.version_info[1]))
        self.assert_nothing_left(p)


if __name__ == "__main__":
    unittest.main()
