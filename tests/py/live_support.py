"""Live tests: a real target process running this test's Python, and the real
`callscope` client talking to the agent inside it."""

import json
import os
import select
import subprocess
import sys
import textwrap
import time

from tests.py.support import CALLSCOPE, TracedProgram

# The preamble every target runs: a loop that also answers questions about
# the process's state on stdin.
PREAMBLE = r'''
import json, os, select, sys, threading, time
# Imported before the first look at the fds: from 3.14 libffi keeps one open
# on itself once ctypes is loaded.
import ctypes
def _state():
    """What attaching must leave as it found it."""
    state = {"profile": repr(sys.getprofile()),
             "thread_hook": repr(getattr(threading, "_profile_hook", None)),
             "fds": sorted(os.listdir("/proc/self/fd")),
             "tasks": len(os.listdir("/proc/self/task")),
             "modules": sorted(m for m in sys.modules if "callscope" in m)}
    try:  # whose frame evaluator runs Python frames (3.9+)
        api = ctypes.pythonapi
        api.PyInterpreterState_Get.restype = ctypes.c_void_p
        get = api._PyInterpreterState_GetEvalFrameFunc
        get.restype, get.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
        default = ctypes.cast(api._PyEval_EvalFrameDefault, ctypes.c_void_p).value
        state["eval_frame_is_default"] = get(api.PyInterpreterState_Get()) == default
    except AttributeError:
        pass
    if hasattr(sys, "monitoring"):
        state["tools"] = [sys.monitoring.get_tool(i) for i in range(6)]
        live = [i for i in range(6) if sys.monitoring.get_tool(i) == "callscope-live"]
        if live:
            state["global_events"] = sys.monitoring.get_events(live[0])
            state["local_events"] = {name: sys.monitoring.get_local_events(live[0], fn.__code__)
                                     for name, fn in globals().get("PROBED", {}).items()}
    return state

def serve(work, pause=0.02):
    """Runs work() in a loop; answers 'state' lines on stdin."""
    print("ready", flush=True)
    while True:
        work()
        if select.select([sys.stdin], [], [], pause)[0]:
            line = sys.stdin.readline().strip()
            if not line or line == "quit":
                return
            if line == "state":
                print(json.dumps(_state()), flush=True)
'''


class LiveTarget(TracedProgram):
    """Starts targets and runs live commands against them."""

    def start_target(self, body, attach=True):
        source = PREAMBLE + textwrap.dedent(body)
        script = self.write("target.py", source)
        p = subprocess.Popen([sys.executable, script], cwd=self.dir, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.targets.append(p)
        self.assertEqual(self.read_line(p), "ready")
        if attach:
            self.attach(p)
        return p

    def attach(self, p):
        proc = self.live("attach", p.pid)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        self.wait_for_socket(p.pid)

    def socket_path(self, pid):
        return "/tmp/callscope-%d/agent-%d.sock" % (os.geteuid(), pid)

    def wait_for_socket(self, pid):
        for _ in range(500):
            if os.path.exists(self.socket_path(pid)):
                return
            time.sleep(0.01)
        self.fail("the agent never listened")

    def tell(self, p, line):
        p.stdin.write((line + "\n").encode())
        p.stdin.flush()

    def read_line(self, p, timeout=30):
        ready = select.select([p.stdout], [], [], timeout)[0]
        if not ready:
            self.fail("the target said nothing for %ds" % timeout)
        return p.stdout.readline().decode().strip()

    def state(self, p):
        self.tell(p, "state")
        return json.loads(self.read_line(p))

    def live(self, *args, timeout=60):
        return subprocess.run([CALLSCOPE] + [str(a) for a in args], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=timeout)

    def observations(self, *args):
        """Runs a live command with --format jsonl; its observation objects."""
        proc = self.live(*args, "--format", "jsonl")
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        lines = [json.loads(l) for l in proc.stdout.decode().splitlines()]
        return [l for l in lines if l["type"] == "observation"]

    def wait_installed(self, client, command):
        """Returns once a live command's observation is in place: its
        `*_started` event (JSON lines of watch, stack, monitor), or, for
        trace, whose JSON lines are observations only, its stderr line."""
        if command == "trace":
            self.assertIn(b"tracing", client.stderr.readline())
        else:
            self.assertIn(b'"event":"%s_started"' % command.encode(), client.stdout.readline())

    def popen_live(self, *args):
        return subprocess.Popen([CALLSCOPE] + [str(a) for a in args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
