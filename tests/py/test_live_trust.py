"""What the live client trusts: only the target's own agent, in a directory
nobody else could have made, and none of what it says."""

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import time
import unittest

from tests.py.live_support import LiveTarget
from tests.py.support import CALLSCOPE
from tests.py.test_attach import OTHER_USER, as_user, other_user_uid_or_skip

HELLO, OBSERVATION, DONE = 0x41, 0x44, 0x45
TRACE = 1

# A target that plays its own agent: it listens at its agent socket itself
# (so the socket is truly the target's), greets, reads the request and
# answers with the frames the test wrote into files.
FAKE_AGENT = r'''
import os, socket, struct, sys
hello, frame, mode = open("hello", "rb").read(), open("frame", "rb").read(), sys.argv[1]
d = "/tmp/callscope-%d" % os.geteuid()
os.makedirs(d, mode=0o700, exist_ok=True)
path = "%s/agent-%d.sock" % (d, os.getpid())
s = socket.socket(socket.AF_UNIX)
s.bind(path)
s.listen(1)
print("ready", flush=True)
c, _ = s.accept()
if mode != "silent":  # a silent one never greets
    c.sendall(hello)
    n = struct.unpack("<I", c.recv(4))[0]
    while n:
        n -= len(c.recv(n))
    if mode == "half":  # announces a frame, sends part of it, stalls
        c.sendall(struct.pack("<IB", 100, OBSERVATION) + b"abc")
    else:
        c.sendall(frame)
c.recv(1)
os.unlink(path)
'''.replace("OBSERVATION", str(OBSERVATION))


def varint(v):
    out = b""
    while v >= 0x80:
        out += bytes([(v & 0x7f) | 0x80])
        v >>= 7
    return out + bytes([v])


def text(t):
    return varint(len(t)) + t


def frame(kind, payload):
    return struct.pack("<IB", len(payload) + 1, kind) + payload


def trace_frame(depths):
    """A trace observation whose nodes have these depths."""
    header = bytes([TRACE]) + varint(1) + varint(int(time.time() * 1e9)) + varint(7) + text(b"MainThread") + b"\0" + \
        varint(1000)
    nodes = b"".join(varint(d) + varint(10) + b"\0" + text(b"f%d" % i) + text(b"x.py") + varint(i + 1)
                     for i, d in enumerate(depths))
    return header + varint(len(depths)) + nodes


class FakeAgents(LiveTarget):
    """Targets that play their own agent (FAKE_AGENT)."""

    def fake_agent(self, observation=b"", mode="answer"):
        script = self.write("fake.py", FAKE_AGENT)
        for name, data in (("hello", frame(HELLO, text(b"3.12.0") + varint(0))),
                           ("frame", frame(OBSERVATION, observation) + frame(DONE, varint(1)))):
            with open(os.path.join(self.dir, name), "wb") as f:
                f.write(data)
        p = subprocess.Popen([sys.executable, script, mode], cwd=self.dir, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        self.targets.append(p)
        self.assertEqual(self.read_line(p), "ready")
        return p


class ClientTrustsOnlyTheAgent(FakeAgents):

    def test_hostile_trees_are_refused_not_rendered_out_of_bounds(self):
        for depths in ([0, 2**32 - 1], [0, 2**31], [0, 1, 2**63], [3], [0, 1, 3]):
            for fmt in ("tree", "jsonl"):
                p = self.fake_agent(trace_frame(depths))
                proc = self.live("trace", p.pid, "__main__.f", "--format", fmt, "-n", "1")
                self.assertEqual(proc.returncode, 0, (depths, fmt, proc.stderr.decode()))
                self.assertIn("an observation could not be read; skipped", proc.stdout.decode() + proc.stderr.decode())
                p.wait(timeout=30)

    def test_a_deep_chain_is_rendered_without_recursion(self):
        # 200,000 nested calls: linear work, and no stack to overflow.
        depth = 200000
        p = self.fake_agent(trace_frame(range(depth)))
        proc = self.live("trace", p.pid, "__main__.f", "--format", "jsonl", "-n", "1", timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        line = [l for l in proc.stdout.decode().splitlines() if '"observation"' in l][0]
        # (too deep for json.loads itself: its structure is checked as text)
        self.assertEqual(line.count('{"depth":'), depth)
        self.assertEqual(line.count('"children":[]'), 1)
        self.assertIn('{"depth":%d,"function":"f%d"' % (depth - 1, depth - 1), line)
        self.assertIn("]}" * depth + '],"total_duration_ms":', line)
        self.assertTrue(line.endswith(',"node_count":%d}}' % depth))
        p = self.fake_agent(trace_frame(range(depth)))
        proc = self.live("trace", p.pid, "__main__.f", "--format", "tree", "-n", "1", timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        lines = proc.stdout.decode().splitlines()
        self.assertEqual(sum(1 for l in lines if "x.py:" in l), depth)
        self.assertIn("(depth %d) " % (depth - 1), [l for l in lines if "f%d " % (depth - 1) in l][0])

    def test_a_socket_of_another_process_is_not_talked_to(self):
        p = self.start_target("serve(lambda: None)\n", attach=False)
        path = self.socket_path(p.pid)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        impostor = socket.socket(socket.AF_UNIX)
        impostor.bind(path)
        impostor.listen(1)
        self.addCleanup(impostor.close)
        self.addCleanup(os.unlink, path)
        proc = self.live("watch", p.pid, "__main__.serve", "-n", "1")
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(proc.stderr.decode(),
                         "callscope: %s is served by process %d (uid %d), not by process %d's agent (uid %d); not "
                         "talking to it\n" % (path, os.getpid(), os.geteuid(), p.pid, os.geteuid()))
        conn, _ = impostor.accept()
        conn.settimeout(5)
        self.assertEqual(conn.recv(1024), b"")  # the request never reached it
        conn.close()


class ClientNeverHangs(FakeAgents):
    """An agent that stalls is given up on, with one line; Ctrl-C works."""

    def live_with_timeout(self, *args):
        return subprocess.run([CALLSCOPE] + [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, timeout=60,
                              env=dict(os.environ, CALLSCOPE_LIVE_TIMEOUT="1"))

    def test_no_hello(self):
        p = self.fake_agent(mode="silent")
        proc = self.live_with_timeout("watch", p.pid, "__main__.f")
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(proc.stderr.decode(), "callscope: the agent in process %d did not answer within 1 s\n" % p.pid)

    def test_half_a_frame(self):
        p = self.fake_agent(mode="half")
        proc = self.live_with_timeout("watch", p.pid, "__main__.f")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("callscope: the agent stopped in the middle of a message for 1 s; giving up\n",
                      proc.stderr.decode())

    def test_ctrl_c_while_waiting_for_the_agent(self):
        p = self.fake_agent(mode="silent")
        client = self.popen_live("watch", p.pid, "__main__.f")  # the default wait is 10 s
        time.sleep(1)
        client.send_signal(signal.SIGINT)
        out, err = client.communicate(timeout=5)
        self.assertEqual(err.decode(), "callscope: interrupted while waiting for the agent in process %d\n" % p.pid)
        self.assertEqual(client.returncode, 1)

    def test_a_condition_over_several_lines_arrives_whole(self):
        p = self.start_target("""
            def f(a, b):
                return a + b
            state = {"i": 0}
            def work():
                state["i"] += 1
                f(state["i"], -5 if state["i"] % 2 else 3)
            serve(work)
        """)
        obs = self.observations("watch", p.pid, "__main__.f", "-n", "4", "--condition",
                                "params[1] == -5\nor params[1] >= 0")
        self.assertEqual(sorted({o["params"]["b"] for o in obs}), ["-5", "3"])


class AnotherUserCannotPreemptTheDirectory(LiveTarget):
    """Someone else made /tmp/callscope-<uid> before its owner did: the agent
    of a process of that owner listens in a private directory instead, and
    nothing is sent to, or read from, the one made by someone else."""

    PROGRAM = "import time\ndef f(i):\n    return i * 2\nprint('ready', flush=True)\n" \
              "for i in range(3000):\n    f(i)\n    time.sleep(0.02)\n"

    def setUp(self):
        super().setUp()
        self.uid = other_user_uid_or_skip(self)
        if not os.path.exists("/usr/bin/python3"):
            self.skipTest("no Python readable by another user (pyenv lives under /root)")
        self.dir_path = "/tmp/callscope-%d" % self.uid
        self.remove_dirs()  # left by other tests of that user's processes
        self.addCleanup(self.remove_dirs)
        import pwd
        import tempfile
        shared = tempfile.mkdtemp(prefix="callscope-preempt-")
        self.addCleanup(shutil.rmtree, shared, True)
        os.chmod(shared, 0o755)
        script = os.path.join(shared, "t.py")
        with open(script, "w") as f:
            f.write(self.PROGRAM)
        gid = pwd.getpwnam(OTHER_USER).pw_gid
        self.target = subprocess.Popen(["/usr/bin/python3", script], stdout=subprocess.PIPE, cwd=shared,
                                       stdin=subprocess.DEVNULL, preexec_fn=as_user(self.uid, gid))
        self.targets.append(self.target)
        self.assertEqual(self.read_line(self.target), "ready")

    def remove_dirs(self):
        if os.path.islink(self.dir_path):
            os.unlink(self.dir_path)
        elif os.path.exists(self.dir_path):
            shutil.rmtree(self.dir_path)
        for private in self.private_dirs():
            shutil.rmtree(private, True)

    def private_dirs(self):
        return ["/tmp/" + n for n in os.listdir("/tmp") if n.startswith("callscope-%d." % self.uid)]

    def observed_elsewhere(self, why, untouched):
        proc = self.live("watch", self.target.pid, "__main__.f", "-n", "1", "--format", "jsonl")
        err = proc.stderr.decode()
        if proc.returncode and "cannot load the agent" in err:
            self.skipTest("the extension is not readable by %s: %s" % (OTHER_USER, err.strip()))
        self.assertEqual(proc.returncode, 0, err)
        private = self.private_dirs()
        self.assertEqual(len(private), 1, private)
        self.assertEqual(err, "callscope: %s %s; the agent listens in %s instead\n" % (self.dir_path, why, private[0]))
        st = os.lstat(private[0])
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (self.uid, 0o700))
        self.assertEqual(os.listdir(private[0]), ["agent-%d.sock" % self.target.pid])
        observations = [json.loads(l) for l in proc.stdout.decode().splitlines() if '"observation"' in l]
        self.assertEqual(len(observations), 1)
        self.assertEqual(untouched(), [])  # nothing was made where someone else could listen
        # A later command finds the agent there, and detaching removes its socket.
        proc = self.live("detach", self.target.pid)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        for _ in range(500):
            if not os.listdir(private[0]):
                break
            time.sleep(0.01)
        self.assertEqual(os.listdir(private[0]), [])

    def test_a_directory_of_another_owner(self):
        os.mkdir(self.dir_path, 0o700)
        self.observed_elsewhere("belongs to uid 0, not to uid %d whose agent it is for" % self.uid,
                                lambda: os.listdir(self.dir_path))

    def test_a_directory_open_to_others(self):
        os.mkdir(self.dir_path)
        os.chown(self.dir_path, self.uid, -1)
        os.chmod(self.dir_path, 0o777)
        self.observed_elsewhere("is open to other users (mode 0777, not 0700)", lambda: os.listdir(self.dir_path))

    def test_a_symbolic_link(self):
        os.symlink(self.dir, self.dir_path)
        before = sorted(os.listdir(self.dir))
        self.observed_elsewhere("is a symbolic link, not a directory of uid %d" % self.uid,
                                lambda: sorted(set(os.listdir(self.dir)) - set(before)))


if __name__ == "__main__":
    unittest.main()


class AgentServesEveryClient(LiveTarget):
    """The agent reads each client without blocking: one that stalls, or
    sends what is not a request, holds up nobody else."""

    def raw_client(self, p):
        s = socket.socket(socket.AF_UNIX)
        s.connect(self.socket_path(p.pid))
        s.settimeout(10)
        self.addCleanup(s.close)
        n, kind = struct.unpack("<IB", s.recv(5, socket.MSG_WAITALL))
        self.assertEqual(kind, HELLO)
        s.recv(n - 1, socket.MSG_WAITALL)  # the rest of the hello
        return s

    def test_a_stalled_client_holds_up_no_other(self):
        p = self.start_target("def leaf(x):\n    return x\nserve(lambda: leaf(1))\n")
        stalled = self.raw_client(p)
        stalled.sendall(struct.pack("<IB", 100, 1) + b"abc")  # a request begun, never finished
        huge = self.raw_client(p)
        huge.sendall(struct.pack("<IB", 16 << 20, 1))  # announces 16 MiB
        obs = self.observations("watch", p.pid, "__main__.leaf", "-n", "2")
        self.assertEqual([o["return_obj"] for o in obs], ["1", "1"])
        # the one that announced too much was dropped: its connection ends
        data = b""
        while True:
            chunk = huge.recv(4096)
            if not chunk:
                break
            data += chunk
        self.assertEqual(data, b"")

    def test_out_of_range_fields_are_refused(self):
        p = self.start_target("def leaf(x):\n    return x\nserve(lambda: leaf(1))\n")
        s = self.raw_client(p)
        request = b"command=4\npattern=__main__.leaf\ncycle_ns=9223372036854775807\n"
        s.sendall(struct.pack("<IB", len(request) + 1, 1) + request)
        n, kind = struct.unpack("<IB", s.recv(5, socket.MSG_WAITALL))
        payload = s.recv(n - 1, socket.MSG_WAITALL)
        self.assertEqual(kind, 0x43)  # an error, and nothing installed
        self.assertIn(b"the request's cycle_ns is out of range", payload)


@unittest.skipUnless(sys.version_info[:2] == (3, 11), "3.11 observes a function through a copy of its code")
class HostileBytecode(LiveTarget):
    """Code objects the program made itself, with bytecode or tables no
    compiler writes: observing them copies nothing that could go wrong (it
    falls back to a profile function), and the program runs on."""

    def test_odd_code_is_observed_without_a_copy(self):
        p = self.start_target("""
            import types
            def shape():
                x = yield 1
                return x
            code = shape.__code__
            raw = bytearray(code.co_code)
            def patched(**changes):
                f = types.FunctionType(code.replace(**changes), globals(), "odd")
                return f
            resume = [i for i in range(0, len(raw), 2) if raw[i] == 151 and raw[i + 1] == 1][0]  # RESUME 1
            far = bytearray(raw)
            far[resume + 2:resume + 4] = bytes([110, 250])  # JUMP_FORWARD past the end
            lone = bytearray(raw)
            lone[resume - 2:resume] = bytes([9, 0])  # a RESUME 1 with no YIELD_VALUE before it
            odd_jump = patched(co_code=bytes(far))
            odd_resume = patched(co_code=bytes(lone))
            odd_table = patched(co_exceptiontable=b"\\x80\\xff\\xff\\x7f")
            odd_lines = patched(co_linetable=b"\\xff\\x01\\x02")
            def fine(n):
                return n + 1
            serve(lambda: fine(1))
        """)
        for name in ("odd_jump", "odd_resume", "odd_table", "odd_lines"):
            client = self.popen_live("watch", p.pid, "__main__." + name, "--format", "jsonl")
            first = client.stdout.readline()
            client.kill()
            out, err = client.communicate()
            self.assertIn(b'"event":"watch_started"', first, err.decode())
        obs = self.observations("watch", p.pid, "__main__.fine", "-n", "2")
        self.assertEqual([o["return_obj"] for o in obs], ["2", "2"])
        self.assertIsNone(p.poll())
