"""`callscope trace/watch/stack/reset/detach` against real running processes."""

import json
import os
import signal
import subprocess
import sys
import time
import unittest

from tests.py.live_support import LiveTarget
from tests.py.support import LIVE_BY_EVALUATOR, MONITORING

SHOP = '''
import json as _json

def leaf(x):
    return len(str(x)) + x

def helper(n):
    return sum(leaf(i) for i in range(n))

class Shop:
    name = "main-shop"

    def process(self, order, qty=2, *rest, **kw):
        total = helper(3)
        _json.dumps({"order": order})
        if order % 4 == 0:
            raise ValueError("bad order %d" % order)
        return total + qty

    @staticmethod
    def check(code):
        return code * 2

    @classmethod
    def make(cls, n):
        return n + 1

    def outer(self, n):
        def inner(k):
            return k + 1
        return inner(n)

shop = Shop()
process = shop.process          # bound method taken before any attach
handlers = {"go": Shop.check}   # a callback kept in a dict
counter = [0]
seen = [0]

def work():
    counter[0] += 1
    try:
        process(counter[0], tag="x")
    except ValueError as e:
        seen[0] = len(e.args)  # a call while handling it: 3.8-3.11 see the exception then
    handlers["go"](counter[0])
    Shop.make(counter[0])
    shop.outer(counter[0])

serve(work)
'''



def tree_functions(tree, out=None):
    """(depth, function) of each node of a call_tree (a list of roots) or node, in order."""
    out = [] if out is None else out
    for node in tree if isinstance(tree, list) else [tree]:
        out.append((node["depth"], node["function"]))
        for child in node["children"]:
            tree_functions(child, out)
    return out


class TraceTest(LiveTarget):
    def test_trace_prints_the_call_tree_with_timings(self):
        p = self.start_target(SHOP)
        proc = self.live("trace", p.pid, "__main__.Shop.process", "-n", "2", "--no-color", "--format", "tree")
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        out = proc.stdout.decode()
        self.assertEqual(out.count("thread=MainThread"), 2, out)
        self.assertRegex(out, r"\[\d+(\.\d+)?(ns|µs|ms)\] __main__\.Shop\.process .*target\.py:\d+")
        self.assertRegex(out, r"\n└─ \[[^]]+\] __main__\.helper ")
        self.assertRegex(out, r"\n    ├─ \[[^]]+\] __main__\.(helper\.<locals>\.)?<genexpr> .*\[yield\]\n    │   └─ \[[^]]+\] __main__\.leaf")
        self.assertNotIn("json", out.replace("target.py", ""), "the standard library is hidden by default")
        self.assertIn("tracing __main__.Shop.process", proc.stderr.decode())

    def test_a_standard_library_function_is_traced_with_its_own_callees(self):
        # --skip-builtin hides the standard library under the program's own
        # functions; a traced function of the standard library is shown, and
        # so are the standard-library functions it calls, C functions are not.
        p = self.start_target('''
            import json
            serve(lambda: json.dumps({"a": [1, 2]}))
        ''')
        obs = self.observations("trace", p.pid, "json.dumps", "-n", "1")
        self.assertEqual(len(obs), 1)
        tree = tree_functions(obs[0]["call_tree"])
        self.assertEqual(tree[0], (0, "json.dumps"))
        self.assertIn((1, "json.encoder.JSONEncoder.encode"), tree)
        self.assertFalse(any(f.startswith("_json") for _, f in tree), tree)

    def test_jsonl_tree_depth_and_builtins(self):
        p = self.start_target(SHOP)
        obs = self.observations("trace", p.pid, "__main__.Shop.process", "-n", "1")
        self.assertEqual(len(obs), 1)
        o = obs[0]
        for key in ("watch_id", "timestamp", "func_name", "location", "call_tree", "total_duration_ms",
                    "node_count", "thread", "tid"):
            self.assertIn(key, o)
        self.assertEqual(o["func_name"], "__main__.Shop.process")
        self.assertEqual(o["tid"], p.pid)
        funcs = tree_functions(o["call_tree"])
        self.assertEqual(o["node_count"], len(funcs))
        self.assertEqual(funcs[0], (0, "__main__.Shop.process"))
        self.assertIn((1, "__main__.helper"), funcs)
        self.assertIn((3, "__main__.leaf"), funcs)  # process > helper > genexpr > leaf
        self.assertEqual(len(o["call_tree"]), 1)  # a list of roots: the traced call
        self.assertGreaterEqual(o["call_tree"][0]["duration_ms"], max(
            c["duration_ms"] for c in o["call_tree"][0]["children"]))

        shallow = self.observations("trace", p.pid, "__main__.Shop.process", "-n", "1", "-d", "1")
        self.assertEqual({d for d, _ in tree_functions(shallow[0]["call_tree"])}, {0, 1})

        with_builtins = self.observations("trace", p.pid, "__main__.Shop.process", "-n", "1", "-d", "5",
                                          "--no-skip-builtin")
        names = [f for _, f in tree_functions(with_builtins[0]["call_tree"])]
        self.assertIn("len", names)
        self.assertIn("json.dumps", names)

    def test_callbacks_passed_to_map(self):
        p = self.start_target('''
            def double(x):
                return 2 * x
            def batch(items):
                return list(map(double, items))
            serve(lambda: batch([1, 2, 3]))
        ''')
        obs = self.observations("trace", p.pid, "__main__.batch", "-n", "2")
        # the first invocation finds double() as it is handed to map
        names = [f for _, f in tree_functions(obs[-1]["call_tree"])]
        self.assertEqual(names.count("__main__.double"), 3, names)

    def test_callees_reached_from_c_code(self):
        """Python code the interpreter or C code runs for the target: a sort
        key given by keyword, a property, operators, a context manager."""
        p = self.start_target('''
            class Box:
                def __init__(self, v):
                    self.v = v
                @property
                def size(self):
                    return self.v * 2
                def __getitem__(self, i):
                    return self.v + i
                def __add__(self, other):
                    return Box(self.v + other.v)
                def __enter__(self):
                    return self
                def __exit__(self, *exc):
                    return False
            def key(x):
                return -x
            def run():
                b = Box(3)
                with b:
                    s = b.size + b[1]
                return sorted([3, 1, 2], key=key), s, b + b
            serve(run)
        ''')
        obs = self.observations("trace", p.pid, "__main__.run", "-n", "2")
        for o in obs:
            names = [f for _, f in tree_functions(o["call_tree"])]
            self.assertEqual(names.count("__main__.key"), 3, names)
            for method in ("__init__", "size", "__getitem__", "__add__", "__enter__", "__exit__"):
                self.assertIn("__main__.Box." + method, names)
            self.assertEqual(names.count("__main__.Box.__init__"), 2, names)

    def test_a_trace_after_one_reset_mid_invocation(self):
        """The invocation under way at a reset never ends in the observer's
        eyes; the next trace must not suffer from it."""
        p = self.start_target('''
            def key(x):
                return -x
            def slow():
                time.sleep(0.3)
                return sorted([2, 1], key=key)
            def other():
                return sorted([2, 1], key=key)
            serve(lambda: (slow(), other()))
        ''')
        client = self.popen_live("trace", p.pid, "__main__.slow", "--format", "jsonl")
        self.wait_installed(client, "trace")
        self.assertIn(b"observation", client.stdout.readline())
        time.sleep(0.1)  # within the next slow()'s sleep: an invocation is under way
        self.assertEqual(self.live("reset", p.pid, "--all").returncode, 0)
        client.kill()
        client.communicate()
        obs = self.observations("trace", p.pid, "__main__.other", "-n", "1")
        names = [f for _, f in tree_functions(obs[0]["call_tree"])]
        self.assertEqual(names, ["__main__.other", "__main__.key", "__main__.key"])

    def test_min_duration_and_entrance_time(self):
        p = self.start_target(SHOP)
        obs = self.observations("trace", p.pid, "__main__.Shop.process", "-n", "1", "--min-duration", "10000")
        self.assertEqual(tree_functions(obs[0]["call_tree"]), [(0, "__main__.Shop.process")])
        # nothing lasts a minute: no invocation qualifies, and the client is
        # stopped by the test, not by -n
        client = self.popen_live("trace", p.pid, "__main__.Shop.process", "-n", "1", "-et", "60000",
                                 "--format", "jsonl")
        time.sleep(1.5)
        self.assertIsNone(client.poll())
        client.send_signal(signal.SIGINT)
        out, err = client.communicate(timeout=30)
        self.assertEqual(client.returncode, 0, err.decode())
        self.assertNotIn(b'"observation"', out)

    def test_exception_marks_the_node(self):
        p = self.start_target(SHOP)
        obs = self.observations("trace", p.pid, "__main__.Shop.process", "-n", "8")
        raised = [o for o in obs if o["call_tree"][0].get("raised")]
        self.assertEqual(len(raised), 2)


class WatchTest(LiveTarget):
    def test_arguments_and_results(self):
        p = self.start_target(SHOP)
        obs = self.observations("watch", p.pid, "__main__ Shop process", "-n", "4")
        self.assertEqual(len(obs), 4)
        returned = [o for o in obs if o["at"] == "return"]
        raised = [o for o in obs if o["at"] == "exception"]
        self.assertEqual(len(returned), 3)
        self.assertEqual(len(raised), 1)
        r = returned[0]
        self.assertEqual(r["params"]["qty"], "2")
        self.assertEqual(r["params"]["kw"], "{'tag': 'x'}")
        self.assertEqual(r["params"]["rest"], "()")
        self.assertRegex(r["params"]["self"], r"<__main__\.Shop object at 0x[0-9a-f]+>")
        self.assertEqual(r["return_obj"], "8")  # helper(3) = 1 + 2 + 3, + qty
        order = int(raised[0]["params"]["order"])
        self.assertEqual(order % 4, 0)
        self.assertEqual(raised[0]["throw_exp"], "ValueError: bad order %d" % order)

    def test_when_to_observe(self):
        p = self.start_target(SHOP)
        entry = self.observations("watch", p.pid, "__main__.Shop.process", "-n", "2", "-b")
        self.assertEqual([o["at"] for o in entry], ["entry", "entry"])
        self.assertNotIn("return_obj", entry[0])
        errors = self.observations("watch", p.pid, "__main__.Shop.process", "-n", "2", "-e")
        self.assertEqual([o["at"] for o in errors], ["exception", "exception"])

    def test_expansion_depth(self):
        p = self.start_target('''
            def take(data):
                return len(data)
            serve(lambda: take({"a": [1, [2, [3]]]}))
        ''')
        deep = self.observations("watch", p.pid, "__main__.take", "-n", "1", "-x", "4")
        self.assertEqual(deep[0]["params"]["data"], "{'a': [1, [2, [3]]]}")
        flat = self.observations("watch", p.pid, "__main__.take", "-n", "1", "-x", "1")
        self.assertNotEqual(flat[0]["params"]["data"], "{'a': [1, [2, [3]]]}")
        self.assertTrue(flat[0]["params"]["data"].startswith("{'a': "))

    def test_every_kind_of_function_and_reference(self):
        p = self.start_target(SHOP)
        for pattern, extra, key, expected in [
            ("__main__.Shop.check", [], "code", None),       # staticmethod, through a dict
            ("__main__.Shop.make", [], "n", None),           # classmethod
            ("__main__.Shop.outer", ["-nm", "inner"], "k", None),  # nested function
            ("__main__.Shop.outer.<locals>.inner", [], "k", None),  # the same, named as callscope prints it
            ("__main__.leaf", [], "x", None),
        ]:
            obs = self.observations("watch", p.pid, pattern, "-n", "1", *extra)
            self.assertEqual(len(obs), 1, pattern)
            self.assertIn(key, obs[0]["params"], pattern)
            int(obs[0]["params"][key])

    def test_decorated_functions_are_observed_through_what_they_wrap(self):
        # Both functions share the decorator's wrapper code: observing one
        # must not report the other. lru_cache's wrapper is written in C.
        p = self.start_target('''
            import functools, itertools

            def logged(fn):
                @functools.wraps(fn)
                def wrapper(*args):
                    return fn(*args)
                return wrapper

            @logged
            def first(x):
                return x + 1

            @logged
            def second(x):
                return x + 2

            @functools.lru_cache(maxsize=None)
            def cached(n):
                return n * 2

            counter = itertools.count()
            serve(lambda: (first(1), second(1), cached(next(counter))))
        ''')
        obs = self.observations("watch", p.pid, "__main__.first", "-n", "3")
        self.assertEqual([(o["func_name"], o["return_obj"]) for o in obs], [("__main__.first", "2")] * 3)
        obs = self.observations("watch", p.pid, "__main__.cached", "-n", "2")
        self.assertEqual(len(obs), 2)
        for o in obs:
            self.assertEqual(o["func_name"], "__main__.cached")
            self.assertEqual(int(o["return_obj"]), 2 * int(o["params"]["n"]))

    def test_a_function_without_arguments_is_reported_when_it_returns(self):
        p = self.start_target("""
            def tick():
                return 42
            serve(tick)
        """)
        obs = self.observations("watch", p.pid, "__main__.tick", "-n", "2")
        self.assertEqual([(o["params"], o["return_obj"]) for o in obs], [({}, "42")] * 2)

    def test_threads_generators_and_async(self):
        p = self.start_target('''
            import asyncio, threading

            def produce(n):
                for i in range(n):
                    yield i

            async def fetch(x):
                await asyncio.sleep(0)
                return x * 2

            def job(k):
                return sum(produce(k)) + asyncio.run(fetch(k))

            def worker():
                while True:
                    job(3)
                    time.sleep(0.01)

            threading.Thread(target=worker, name="worker-1", daemon=True).start()
            serve(lambda: None)
        ''')
        obs = self.observations("watch", p.pid, "__main__.job", "-n", "1")
        self.assertEqual(obs[0]["thread"], "worker-1")
        self.assertEqual(obs[0]["return_obj"], "9")
        self.assertNotEqual(obs[0]["tid"], p.pid)
        gen = self.observations("watch", p.pid, "__main__.produce", "-n", "2", "-b")
        self.assertEqual(len(gen), 2)
        # a coroutine is done when it returns, not when it awaits
        done = self.observations("watch", p.pid, "__main__.fetch", "-n", "2")
        self.assertEqual([o["return_obj"] for o in done], ["6", "6"])
        co = self.observations("trace", p.pid, "__main__.job", "-n", "1")
        names = [f for _, f in tree_functions(co[0]["call_tree"])]
        self.assertIn("__main__.produce", names)
        self.assertIn("__main__.fetch", names)
        # each step of a generator ends in a yield, of a coroutine in an await
        steps = {}
        pending = list(co[0]["call_tree"])
        while pending:
            node = pending.pop()
            pending.extend(node["children"])
            steps.setdefault(node["function"], []).append((node.get("yield", False), node.get("await", False)))
        self.assertIn((True, False), steps["__main__.produce"])
        self.assertIn((False, True), steps["__main__.fetch"])
        self.assertNotIn((False, True), steps["__main__.produce"])
        self.assertNotIn((True, False), steps["__main__.fetch"])


class ConditionTest(LiveTarget):
    def test_conditions_on_arguments_self_and_outcome(self):
        p = self.start_target(SHOP)
        for condition, check in [
            ("params[0] % 3 == 0", lambda o: int(o["params"]["order"]) % 3 == 0),
            ("kwargs.get('tag') == 'x' and str(params[0]).isdigit() and len(args) == 3",
             lambda o: o["params"]["kw"] == "{'tag': 'x'}"),
            ("self.name.startswith('main') and params[1] == 2", lambda o: o["params"]["qty"] == "2"),
            ("return_obj == 8 and cost >= 0", lambda o: o.get("return_obj") == "8"),
        ]:
            obs = self.observations("watch", p.pid, "__main__.Shop.process", "-n", "3", "--condition", condition)
            self.assertEqual(len(obs), 3, condition)
            for o in obs:
                self.assertTrue(check(o), (condition, o))
        failed = self.observations("watch", p.pid, "__main__.Shop.process", "-n", "2", "-e",
                                   "--condition", "params[0] % 8 == 0")
        self.assertEqual([int(o["params"]["order"]) % 8 for o in failed], [0, 0])
        failed = self.observations("watch", p.pid, "__main__.Shop.process", "-n", "1", "-e",
                                   "--condition", "'bad order' in str(throw_exp)")
        self.assertEqual(len(failed), 1)

    def test_trace_and_stack_conditions(self):
        p = self.start_target(SHOP)
        obs = self.observations("trace", p.pid, "__main__.Shop.process", "-n", "2",
                                "--condition", "params[0] % 2 == 1 and cost > 0")
        self.assertEqual(len(obs), 2)
        self.assertTrue(all(not o["call_tree"][0].get("raised") for o in obs))  # odd orders never raise
        stacks = self.observations("stack", p.pid, "__main__.leaf", "-n", "2", "--condition", "params[0] == 2")
        self.assertEqual(len(stacks), 2)

    def test_a_condition_that_raises_counts_as_false_and_is_reported_once(self):
        p = self.start_target(SHOP)
        for condition, error in [("params[7] > 1", "IndexError"),
                                 ("len('x' * 100000000) > 0", "MemoryError"),
                                 ("params[0].missing", "AttributeError")]:
            client = self.popen_live("watch", p.pid, "__main__.Shop.process", "--condition", condition,
                                     "--format", "jsonl")
            time.sleep(1.5)
            client.send_signal(signal.SIGINT)
            out, err = client.communicate(timeout=30)
            self.assertEqual(client.returncode, 0, err.decode())
            lines = [json.loads(l) for l in out.decode().splitlines()]
            notices = [l for l in lines if l["type"] == "event" and l["event"] == "notice"]
            self.assertEqual(len(notices), 1, lines)
            self.assertIn(error, notices[0]["message"])
            self.assertFalse([l for l in lines if l["type"] == "observation"])
        self.assertIn("fds", self.state(p))  # unharmed

    def test_unsafe_conditions_are_refused_before_anything_runs(self):
        p = self.start_target(SHOP)
        before = self.state(p)
        for condition, message in [("self.__class__", "dunder attributes are not allowed"),
                                   ("__import__('os').system('touch /tmp/pwned')", "is not allowed"),
                                   ("params[0] ==", "")]:
            proc = self.live("watch", p.pid, "__main__.Shop.process", "--condition", condition)
            self.assertEqual(proc.returncode, 2)
            err = proc.stderr.decode().splitlines()
            self.assertTrue(err[-1].startswith("callscope: --condition: "), err)
            self.assertIn(message, err[-1])
            self.assertEqual(err[-2].strip(), "^")
        self.assertEqual(self.state(p).get("tools"), before.get("tools"))

    def test_the_agent_checks_conditions_itself(self):
        """A client that skips the check gets the same refusal from the agent."""
        import socket
        import struct
        p = self.start_target(SHOP)
        s = socket.socket(socket.AF_UNIX)
        s.connect(self.socket_path(p.pid))
        f = s.makefile("rb")

        def frame():
            n = struct.unpack("<I", f.read(4))[0]
            body = f.read(n)
            return body[0], body[1:]

        self.assertEqual(frame()[0], 0x41)  # hello
        request = "command=2\npattern=__main__.Shop.process\ncondition=params.__class__.__bases__\n".encode()
        s.sendall(struct.pack("<IB", len(request) + 1, 1) + request)
        kind, payload = frame()
        self.assertEqual(kind, 0x43)  # error
        self.assertIn(b"dunder attributes are not allowed", payload)
        s.close()


class MonitorTest(LiveTarget):
    def test_statistics_per_cycle(self):
        p = self.start_target(SHOP)
        obs = self.observations("monitor", p.pid, "__main__.Shop.process", "-c", "0.5", "-n", "3")
        self.assertEqual(len(obs), 3)
        for o in obs:
            self.assertEqual(o["func_name"], "__main__.Shop.process")
            self.assertEqual(o["cycle_s"], 0.5)
            self.assertGreater(o["calls"], 3)
            self.assertEqual(o["success"] + o["failed"], o["calls"])
            self.assertLessEqual(abs(o["failed"] - o["calls"] / 4), 1.5)  # every fourth order raises
            self.assertLessEqual(o["min_ms"], o["avg_ms"])
            self.assertLessEqual(o["avg_ms"], o["max_ms"])
        stamps = [o["timestamp"] for o in obs]
        self.assertEqual(stamps, sorted(stamps))
        odd = self.observations("monitor", p.pid, "__main__.Shop.process", "-c", "0.5", "-n", "1",
                                "--condition", "params[0] % 2 == 1")
        self.assertEqual(odd[0]["failed"], 0)
        self.assertGreater(odd[0]["calls"], 1)

    def test_bad_cycle(self):
        p = self.start_target(SHOP)
        proc = self.live("monitor", p.pid, "__main__.Shop.process", "-c", "0")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("-c takes a cycle in seconds", proc.stderr.decode())


class StackTest(LiveTarget):
    def test_stack_shows_the_callers(self):
        p = self.start_target(SHOP)
        proc = self.live("stack", p.pid, "__main__.leaf", "-n", "1", "--no-color", "--format", "tree")
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        out = proc.stdout.decode()
        self.assertIn("thread=MainThread", out)
        callers = [l.split()[1] for l in out.splitlines() if l.strip().startswith("at ")]
        self.assertEqual(callers[0], "__main__.leaf")
        with open(os.path.join(self.dir, "target.py")) as f:
            def_line = [l.rstrip() for l in f].index("def leaf(x):") + 1
        first = [l for l in out.splitlines() if l.strip().startswith("at ")][0]
        self.assertTrue(first.endswith("target.py:%d)" % def_line), first)  # the frame starts at its def
        self.assertIn("__main__.helper", callers)
        self.assertIn("__main__.Shop.process", callers)
        self.assertIn("__main__.work", callers)
        obs = self.observations("stack", p.pid, "__main__.leaf", "-n", "1", "-d", "2")
        self.assertEqual(len(obs[0]["stack"]), 2)


    def test_each_step_of_a_generator_is_a_start(self):
        """stack reports every step: the first, each resumption, a throw()
        into a yield, and a throw() the delegate of a `yield from` handles
        by returning (the delegating generator then goes on past its await
        loop without resuming)."""
        p = self.start_target("""
            def inner():
                try:
                    yield 1
                except KeyError:
                    return "handled"

            def delegating():
                r = yield from inner()
                yield r
                yield 3

            kept = []

            def round():
                d = delegating()
                kept.append(d)  # never finished, so never closed
                next(d)                # 1: the first step
                d.throw(KeyError())    # 2: handled by inner, which returns
                next(d)                # 3: resumed at a yield
                try:
                    d.throw(OSError()) # 4: thrown into a yield, no handler
                except OSError:
                    pass

            print("ready", flush=True)
            for line in sys.stdin:
                round()
                print("done", flush=True)
        """)
        client = self.popen_live("stack", p.pid, "__main__.delegating", "-n", "4", "--format", "jsonl")
        self.wait_installed(client, "stack")
        self.tell(p, "go")
        self.assertEqual(self.read_line(p), "done")
        out, err = client.communicate(timeout=30)
        self.assertEqual(client.returncode, 0, err.decode())
        self.assertEqual(len([l for l in out.decode().splitlines() if '"observation"' in l]), 4)

class ErrorsTest(LiveTarget):
    def check_error(self, args, message, status=1):
        proc = self.live(*args)
        self.assertEqual(proc.returncode, status, proc.stderr.decode())
        err = proc.stderr.decode().strip().splitlines()
        self.assertTrue(err and message in err[0], "%r not in %r" % (message, err))
        return proc

    def test_bad_patterns_get_one_clear_line(self):
        p = self.start_target(SHOP)
        self.check_error(["trace", p.pid, "nosuch.mod.f"], "module 'nosuch' is not loaded in the target")
        self.check_error(["trace", p.pid, "__main__.Shop.nope"], "'__main__.Shop' has no attribute 'nope'")
        self.check_error(["trace", p.pid, "__main__.Shop"], "'__main__.Shop' is a class")
        self.check_error(["watch", p.pid, "__main__.len"], "has no attribute 'len'")
        self.check_error(["watch", p.pid, "os.getpid"], "'os.getpid' is a built-in function")
        self.check_error(["watch", p.pid, "__main__.counter"], "'__main__.counter' is a list, not a function")
        self.check_error(["trace", p.pid, "__main__..x"], "is not a pattern")
        self.check_error(["trace", p.pid, "__main__ Shop pro-cess"], "'-' cannot be part of a Python name")
        self.check_error(["trace", p.pid, "__main__.Shop.outer", "-nm", "missing"], "defines no function named 'missing'")
        # the target is unharmed and still answers
        self.assertIn("fds", self.state(p))

    def test_bad_usage(self):
        p = self.start_target(SHOP)
        self.check_error(["trace"], "which process?", status=2)
        self.check_error(["trace", p.pid], "which function?", status=2)
        self.check_error(["trace", "abc", "m.f"], "'abc' is not a process id", status=2)
        self.check_error(["trace", p.pid, "m.f", "-n", "0"], "-n takes a positive count", status=2)
        self.check_error(["trace", p.pid, "m.f", "-d", "x"], "--depth takes a number", status=2)
        self.check_error(["watch", p.pid, "m.f", "--bogus"], "unknown option '--bogus'", status=2)
        self.check_error(["reset", p.pid], "reset needs a PATTERN or --all", status=2)

    def test_the_first_command_attaches(self):
        p = self.start_target(SHOP, attach=False)
        self.check_error(["detach", p.pid], "no callscope agent in process %d" % p.pid)
        self.assertEqual(len(self.observations("watch", p.pid, "__main__.leaf", "-n", "1")), 1)
        self.assertTrue(os.path.exists(self.socket_path(p.pid)))

    def test_dead_and_foreign_processes(self):
        dead = self.start_target("serve(lambda: None)", attach=False)
        self.tell(dead, "quit")
        dead.wait(timeout=30)
        self.check_error(["trace", dead.pid, "m.f"], "no process %d" % dead.pid)
        sleeper = subprocess.Popen(["sleep", "60"])
        try:
            self.check_error(["trace", sleeper.pid, "m.f"], "not a Python process")
        finally:
            sleeper.kill()
            sleeper.wait()


class AlongsideTheProgramsProfiler(LiveTarget):
    """A profiler and a tracer the program runs itself (sys.setprofile,
    sys.settrace, as cProfile or coverage would) see every call while
    callscope observes, and are in place, unchanged, after detach."""

    def test_profile_and_trace_functions_keep_working(self):
        p = self.start_target(SHOP.replace("serve(work)", """
SEEN = {"profile": 0, "trace": 0}
def profiler(frame, event, arg):
    if event == "call" and frame.f_code.co_name == "leaf":
        SEEN["profile"] += 1
def tracer(frame, event, arg):
    if event == "call" and frame.f_code.co_name == "leaf":
        SEEN["trace"] += 1
    return None
sys.setprofile(profiler)
sys.settrace(tracer)
def work_and_count():
    before = dict(SEEN)
    work()
    print("counted", SEEN["profile"] - before["profile"], SEEN["trace"] - before["trace"],
          sys.getprofile() is profiler, sys.gettrace() is tracer, flush=True)
def loop():
    while True:  # one line out for each line in
        line = sys.stdin.readline().strip()
        if line in ("quit", ""):
            return
        work_and_count()
print("ready", flush=True)
loop()
"""), attach=True)
        # one round of work: leaf runs 3 times, seen by both of the program's hooks
        self.tell(p, "go")
        self.assertEqual(self.read_line(p), "counted 3 3 True True")
        for command in (["watch", p.pid, "__main__.leaf", "-n", "2"], ["trace", p.pid, "__main__.helper", "-n", "1"]):
            client = self.popen_live(*command, "--format", "jsonl")
            self.wait_installed(client, command[0])
            for _ in range(3):
                self.tell(p, "go")
                self.assertEqual(self.read_line(p), "counted 3 3 True True")
            out, err = client.communicate(timeout=30)
            self.assertEqual(client.returncode, 0, err.decode())
            self.assertEqual(len([l for l in out.decode().splitlines() if '"observation"' in l]),
                             int(command[-1]), out.decode())
        self.assertEqual(self.live("detach", p.pid).returncode, 0)
        self.tell(p, "go")
        self.assertEqual(self.read_line(p), "counted 3 3 True True")


class WhatTheProgramSees(LiveTarget):
    """An observed function gives the program the same results, exceptions,
    traceback lines, signature and pickling; only on 3.11 is its __code__
    another object while observed (docs/live.md), and it is the original
    again after detach."""

    def test_the_observed_function_looks_the_same(self):
        p = self.start_target("""
import inspect, pickle, traceback
def checked(a, b=2, *rest, key=None, **kw):
    if a < 0:
        raise ValueError("negative %d" % a)
    return a * b
def look():
    try:
        checked(-1)
    except ValueError:
        lines = [(f.name, f.lineno, f.line) for f in traceback.extract_tb(sys.exc_info()[2])]
    return {"result": checked(3, 4), "lines": lines, "signature": str(inspect.signature(checked)),
            "pickles": pickle.loads(pickle.dumps(checked)) is checked, "code": id(checked.__code__),
            "name": checked.__code__.co_name, "firstlineno": checked.__code__.co_firstlineno}
print("ready", flush=True)
for line in sys.stdin:
    print(json.dumps(look()), flush=True)
""", attach=False)
        def look():
            self.tell(p, "look")
            return json.loads(self.read_line(p))
        before = look()
        self.attach(p)
        client = self.popen_live("watch", p.pid, "__main__.checked", "--format", "jsonl")
        self.assertIn(b'"event":"watch_started"', client.stdout.readline())
        during = look()
        self.assertIn(b'"observation"', client.stdout.readline())
        client.kill()
        client.communicate()
        self.assertEqual(self.live("detach", p.pid).returncode, 0)
        after = look()
        same = {k: v for k, v in before.items() if k != "code"}
        self.assertEqual({k: v for k, v in during.items() if k != "code"}, same)
        self.assertEqual(after, before)
        if MONITORING or LIVE_BY_EVALUATOR:
            self.assertEqual(during["code"], before["code"])
        else:  # 3.11: a copy with a call to callscope at its start
            self.assertNotEqual(during["code"], before["code"])


    def test_every_resume_shape_runs_the_same(self):
        """tests/py/resume_shapes.py: each generator and coroutine shape,
        watched in turn, gives the program the same values, exceptions,
        traceback lines and tracer line events as unobserved; generators
        suspended (or made) before the attach finish correctly while
        watched; after detach everything is as before."""
        with open(os.path.join(os.path.dirname(__file__), "resume_shapes.py")) as f:
            source = f.read()
        p = subprocess.Popen([sys.executable, self.write("shapes.py", source)], cwd=self.dir,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.targets.append(p)
        self.assertEqual(self.read_line(p), "ready")
        def ask(command):
            self.tell(p, command)
            return json.loads(self.read_line(p))
        before = ask("look")
        self.assertGreaterEqual(len(before), 10)
        self.attach(p)
        for name in before:
            client = self.popen_live("watch", p.pid, "__main__." + name, "--format", "jsonl")
            self.assertIn(b'"event":"watch_started"', client.stdout.readline())
            self.assertEqual(ask("look " + name)[name], before[name], name)
            if name == "s_try":
                # what the watch saw end: returned, thrown out of, closed
                # (3.11's profile function is not told which exception ends
                # a frame; close() catches it in C, out of callscope's sight)
                closed = "GeneratorExit" if MONITORING or LIVE_BY_EVALUATOR else "<exception>"
                ends = [json.loads(client.stdout.readline()) for _ in range(3)]
                self.assertEqual([o.get("return_obj") or o["throw_exp"].split(":")[0] for o in ends],
                                 ["'t-103'", "ValueError", closed])
            client.kill()
            client.communicate()
        client = self.popen_live("watch", p.pid, "__main__.s_try", "--format", "jsonl")
        self.assertIn(b'"event":"watch_started"', client.stdout.readline())
        self.assertEqual(ask("kept"), ["kept-8", 0, "fresh-1"])
        finished = []
        while len(finished) < 2:
            line = client.stdout.readline()
            self.assertTrue(line, "the watch ended early")
            if b'"observation"' in line:
                finished.append(json.loads(line)["return_obj"])
        self.assertEqual(finished, ["'kept-8'", "'fresh-1'"])
        client.kill()
        client.communicate()
        self.assertEqual(self.live("detach", p.pid).returncode, 0)
        self.assertEqual(ask("look"), before)

    def test_a_generator_thrown_into_reports_the_step(self):
        """A step that starts with throw() (a cancelled task) is seen, with
        the exception that ends it."""
        p = self.start_target("""
def plain():
    yield 1
    yield 2
def work():
    q = plain()
    next(q)
    try:
        q.throw(OSError("into a yield without a handler"))
    except OSError as e:
        len(e.args)  # a call while handling it: 3.8-3.11 see the exception then
serve(work)
""")
        obs = self.observations("watch", p.pid, "__main__.plain", "-n", "1", "-e")
        self.assertEqual(obs[0]["throw_exp"], "OSError: into a yield without a handler")

class LifecycleTest(LiveTarget):
    def test_attach_replaces_a_socket_left_by_an_earlier_process_of_the_same_pid(self):
        # A process killed while attached leaves its socket file; pids come
        # round again. Once attach returns, the path is the new agent's.
        import socket
        p = self.start_target(SHOP, attach=False)
        path = self.socket_path(p.pid)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        if os.path.exists(path):
            os.unlink(path)
        dead = socket.socket(socket.AF_UNIX)
        dead.bind(path)
        dead.close()
        proc = self.live("attach", p.pid)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        hello = s.recv(5)
        s.close()
        self.assertEqual(hello[4], 0x41)

    def test_attach_removes_the_sockets_of_processes_that_ended(self):
        import socket
        ended = subprocess.Popen(["true"])
        ended.wait()
        directory = os.path.dirname(self.socket_path(os.getpid()))
        os.makedirs(directory, mode=0o700, exist_ok=True)
        dead, alive = self.socket_path(ended.pid), self.socket_path(os.getpid())
        for path in (dead, alive):
            if os.path.exists(path):
                os.unlink(path)
            s = socket.socket(socket.AF_UNIX)
            s.bind(path)
            s.close()
        try:
            self.start_target(SHOP)
            self.assertFalse(os.path.exists(dead))
            self.assertTrue(os.path.exists(alive))  # its process runs: not ours to judge
        finally:
            for path in (dead, alive):
                if os.path.exists(path):
                    os.unlink(path)

    def test_detach_leaves_the_process_as_it_was(self):
        p = self.start_target(SHOP, attach=False)
        before = self.state(p)
        self.attach(p)
        for args in (["trace", "__main__.Shop.process", "--no-skip-builtin"], ["watch", "__main__.leaf"],
                     ["stack", "__main__.helper"]):
            self.assertEqual(len(self.observations(args[0], p.pid, *args[1:], "-n", "2")), 2)
        proc = self.live("detach", p.pid)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        for _ in range(300):
            if not os.path.exists(self.socket_path(p.pid)):
                break
            time.sleep(0.01)
        self.assertFalse(os.path.exists(self.socket_path(p.pid)))
        time.sleep(0.2)
        after = self.state(p)
        self.assertEqual(after["profile"], before["profile"])
        self.assertEqual(after["thread_hook"], before["thread_hook"])
        self.assertEqual(after.get("tools"), before.get("tools"))
        self.assertEqual(after["fds"], before["fds"])
        self.assertEqual(after["tasks"], before["tasks"])
        self.assertEqual(after.get("eval_frame_is_default"), before.get("eval_frame_is_default"))
        # and it can be attached again
        self.attach(p)
        self.assertEqual(len(self.observations("watch", p.pid, "__main__.leaf", "-n", "1")), 1)

    def test_attach_observe_detach_a_hundred_times_under_load(self):
        p = self.start_target('''
            import threading
            def spin(k):
                return sum(i * k for i in range(200))
            def worker():
                while True:
                    spin(3)
            for i in range(2):
                threading.Thread(target=worker, name="load-%d" % i, daemon=True).start()
            serve(lambda: spin(1), pause=0.001)
        ''', attach=False)
        before = self.state(p)
        for round in range(100):
            obs = self.observations("watch", p.pid, "__main__.spin", "-n", "1")
            self.assertEqual(len(obs), 1, round)
            self.assertIn(obs[0]["return_obj"], ("19900", "59700"))
            proc = self.live("detach", p.pid)
            self.assertEqual(proc.returncode, 0, proc.stderr.decode())
            for _ in range(500):
                if not os.path.exists(self.socket_path(p.pid)):
                    break
                time.sleep(0.01)
        time.sleep(0.2)
        after = self.state(p)
        self.assertEqual(after["fds"], before["fds"])
        self.assertEqual(after["tasks"], before["tasks"])
        self.assertEqual(after.get("tools"), before.get("tools"))
        self.assertEqual(after["thread_hook"], before["thread_hook"])
        self.assertIsNone(p.poll())

    def test_a_client_that_goes_away_takes_its_instrumentation(self):
        p = self.start_target(SHOP)
        idle = self.state(p)
        for stop in (signal.SIGINT, signal.SIGKILL):
            client = self.popen_live("trace", p.pid, "__main__.Shop.process", "--format", "tree")
            line = client.stdout.readline()
            self.assertIn(b"thread=MainThread", line)
            during = self.state(p)
            if MONITORING:
                self.assertIn("callscope-live", during["tools"])
            else:
                # 3.8-3.10: the evaluator is in place (3.9+: the test can see
                # it); 3.11: a copy of the code. No thread's profile changed.
                if LIVE_BY_EVALUATOR and "eval_frame_is_default" in idle:
                    self.assertFalse(during["eval_frame_is_default"])
                self.assertEqual((during["profile"], during["thread_hook"]), (idle["profile"], idle["thread_hook"]))
            client.send_signal(stop)
            client.communicate(timeout=30)
            if stop == signal.SIGINT:
                self.assertEqual(client.returncode, 0)
            for _ in range(200):
                now = self.state(p)
                if now == idle:
                    break
                time.sleep(0.02)
            self.assertEqual(now.get("tools"), idle.get("tools"))
            self.assertEqual(now["thread_hook"], idle["thread_hook"])
            self.assertEqual(now.get("eval_frame_is_default"), idle.get("eval_frame_is_default"))

    @unittest.skipUnless(MONITORING, "local events exist from Python 3.12")
    def test_only_the_target_and_its_callees_are_instrumented(self):
        p = self.start_target(SHOP.replace("serve(work)", """
def unrelated(n):
    return n
PROBED = {"process": Shop.process, "helper": helper, "leaf": leaf, "unrelated": unrelated}
serve(lambda: (work(), unrelated(1)))
"""))
        client = self.popen_live("trace", p.pid, "__main__.Shop.process", "--format", "jsonl")
        self.wait_installed(client, "trace")
        self.assertIn(b"observation", client.stdout.readline())
        state = self.state(p)
        client.kill()
        client.communicate()
        events = sys.monitoring.events
        exceptions = events.PY_UNWIND | events.PY_THROW
        if sys.version_info >= (3, 15):  # local events there too: other code's exceptions are not reported
            self.assertEqual(state["global_events"], 0)
            self.assertEqual(state["local_events"]["process"] & exceptions, exceptions)
            self.assertEqual(state["local_events"]["helper"] & exceptions, exceptions)
        else:
            self.assertEqual(state["global_events"], exceptions)
        self.assertTrue(state["local_events"]["process"] & events.PY_START)
        self.assertTrue(state["local_events"]["helper"] & events.PY_START)  # reached in an invocation
        self.assertEqual(state["local_events"]["unrelated"], 0)
        # between invocations the interpreter's own evaluator runs frames
        self.assertTrue(state["eval_frame_is_default"])

    def test_reset_removes_watches_of_other_clients(self):
        p = self.start_target(SHOP)
        client = self.popen_live("watch", p.pid, "__main__.leaf", "--format", "jsonl")
        self.assertIn(b'"event":"watch_started"', client.stdout.readline())
        proc = self.live("reset", p.pid, "--all", "--format", "text")
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        self.assertIn("removed 1 watch", proc.stderr.decode())
        # the client whose watch went is told, and ends
        out, _ = client.communicate(timeout=30)
        self.assertEqual(client.returncode, 0)
        last = json.loads(out.decode().splitlines()[-1])
        self.assertEqual((last["type"], last["event"], last["data"]["reason"]), ("event", "watch_stopped", "reset"))

    def test_two_clients_at_once(self):
        p = self.start_target(SHOP)
        a = self.popen_live("watch", p.pid, "__main__.leaf", "-n", "3", "--format", "jsonl")
        b = self.popen_live("trace", p.pid, "__main__.helper", "-n", "3", "--format", "jsonl")
        out_a, _ = a.communicate(timeout=60)
        out_b, _ = b.communicate(timeout=60)
        self.assertEqual(out_a.count(b'"observation"'), 3)
        self.assertEqual(out_b.count(b'"observation"'), 3)


if __name__ == "__main__":
    unittest.main()
