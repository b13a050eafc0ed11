"""Live tests: a real target process running this test's Python, and the real
`callscope` client talking to the agent inside it."""

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import time

from tests.py.support import CALLSCOPE, LIB, TracedProgram

# The preamble every target runs. Until the agent is injected from outside,
# a target starts it through the entry point an injector calls.
PREAMBLE = r'''
import ctypes, json, os, select, sys, sysconfig, threading, time
def _start_agent():
    so = os.path.join(%(lib)r, "callscope", "_callscope" + sysconfig.get_config_var("EXT_SUFFIX"))
    path = "/tmp/callscope-%%d/agent-%%d.sock" %% (os.geteuid(), os.getpid())
    return ctypes.CDLL(so).callscope_agent_attach(path.encode())

def _state():
    """What attaching must leave as it found it."""
    state = {"profile": repr(sys.getprofile()),
             "thread_hook": repr(getattr(threading, "_profile_hook", None)),
             "fds": sorted(os.listdir("/proc/self/fd")),
             "tasks": len(os.listdir("/proc/self/task"))}
    if hasattr(sys, "monitoring"):
        state["tools"] = [sys.monitoring.get_tool(i) for i in range(6)]
        live = [i for i in range(6) if sys.monitoring.get_tool(i) == "callscope-live"]
        if live:
            state["global_events"] = sys.monitoring.get_events(live[0])
            state["local_events"] = {name: sys.monitoring.get_local_events(live[0], fn.__code__)
                                     for name, fn in globals().get("PROBED", {}).items()}
    return state

def serve(work, pause=0.02):
    """Runs work() in a loop; answers 'state' and 'attach' lines on stdin."""
    print("ready", flush=True)
    while True:
        work()
        if select.select([sys.stdin], [], [], pause)[0]:
            line = sys.stdin.readline().strip()
            if not line or line == "quit":
                return
            if line == "attach":
                print("attached %%d" %% _start_agent(), flush=True)
            elif line == "state":
                print(json.dumps(_state()), flush=True)
'''


class LiveTarget(TracedProgram):
    """Starts targets and runs live commands against them."""

    def setUp(self):
        super().setUp()
        self.targets = []

    def tearDown(self):
        for p in self.targets:
            if p.poll() is None:
                p.kill()
            p.wait()
            p.stdout.close()
            p.stdin.close()
        super().tearDown()

    def start_target(self, body, attach=True):
        source = PREAMBLE % {"lib": LIB} + textwrap.dedent(body)
        script = self.write("target.py", source)
        p = subprocess.Popen([sys.executable, script], cwd=self.dir, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.targets.append(p)
        self.assertEqual(self.read_line(p), "ready")
        if attach:
            self.tell(p, "attach")
            self.assertEqual(self.read_line(p), "attached 0")
            self.wait_for_socket(p.pid)
        return p

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

    def popen_live(self, *args):
        return subprocess.Popen([CALLSCOPE] + [str(a) for a in args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
