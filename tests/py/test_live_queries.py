"""The live questions (`thread`, ...) asked of real running processes."""

import json
import os
import time
import unittest

from tests.py.live_support import LiveTarget

THREADS = '''
import threading
stop = threading.Event()

def spin():
    x = 0
    while not stop.is_set():
        x += 1

def sleeper():
    stop.wait()

threading.Thread(target=spin, name="spinner", daemon=True).start()
threading.Thread(target=sleeper, name="sleepy").start()
try:
    serve(lambda: None)
finally:
    stop.set()
'''


class ThreadTest(LiveTarget):
    def answer(self, *args):
        proc = self.live(*args)  # a pipe: one JSON line
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        line = json.loads(proc.stdout)
        self.assertEqual((line["type"], line["command"]), ("result", args[0]))
        return line["data"]

    def test_every_thread_with_its_state_and_stack(self):
        p = self.start_target(THREADS)
        before = self.state(p)
        time.sleep(0.3)  # the spinner uses some CPU
        data = self.answer("thread", p.pid)
        threads = {t["name"]: t for t in data["threads"]}
        self.assertEqual(set(threads), {"MainThread", "spinner", "sleepy"})  # not the agent's own thread
        self.assertEqual(data["count"], 3)
        tasks = {int(t) for t in os.listdir("/proc/%d/task" % p.pid)}
        for t in threads.values():
            self.assertIn(t["native_id"], tasks)
            self.assertIsInstance(t["ident"], int)
            self.assertIn(t["state"], ("running", "sleeping", "waiting for I/O"))
            self.assertGreaterEqual(t["cpu_ms"], 0)
        self.assertEqual(threads["MainThread"]["native_id"], p.pid)
        self.assertEqual([threads[n]["daemon"] for n in ("MainThread", "spinner", "sleepy")], [False, True, False])
        self.assertGreater(threads["spinner"]["cpu_ms"], threads["sleepy"]["cpu_ms"])
        sleepy = [f["function"] for f in threads["sleepy"]["stack"]]
        self.assertIn("__main__.sleeper", sleepy)
        self.assertEqual(sleepy[-1], "threading.Thread._bootstrap")  # outermost last
        self.assertIn("__main__.spin", [f["function"] for f in threads["spinner"]["stack"]])
        main = threads["MainThread"]["stack"]
        self.assertEqual(main[-1]["function"], "__main__.<module>")
        self.assertTrue(all(f["filename"] and f["lineno"] > 0 for f in main))
        # asking changed nothing the program can see (the agent closes the
        # question's connection a moment after answering)
        for _ in range(100):
            after = self.state(p)
            if after == before:
                break
            time.sleep(0.05)
        self.assertEqual(after, before)

    def test_depth_and_the_text_form(self):
        p = self.start_target(THREADS)
        data = self.answer("thread", p.pid, "-d", "1")
        self.assertTrue(all(len(t["stack"]) == 1 for t in data["threads"]))
        proc = self.live("thread", p.pid, "--format", "text", "-d", "2")
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        lines = proc.stdout.decode().splitlines()
        heads = [l for l in lines if not l.startswith("    at ")]
        self.assertEqual(sorted(l.split('"')[1] for l in heads), ["MainThread", "sleepy", "spinner"])
        self.assertTrue(all(" tid=" in l and " state=" in l and " cpu=" in l for l in heads))
        self.assertEqual(len(lines) - len(heads), 6)

    def test_bad_arguments(self):
        p = self.start_target(THREADS)
        for args, said in ((["-d", "x"], "-d takes a number of frames"), (["--bogus"], "unexpected argument")):
            proc = self.live("thread", p.pid, *args)
            self.assertEqual(proc.returncode, 1)
            self.assertIn(said, proc.stderr.decode())
            self.assertEqual(json.loads(proc.stdout)["type"], "error")
        proc = self.live("thread", "abc")
        self.assertNotEqual(proc.returncode, 0)


if __name__ == "__main__":
    unittest.main()
