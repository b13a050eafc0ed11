"""The live commands' JSON lines, as a Peeka user's scripts read them: the
fields and types of Peeka's documented examples, and its jq and Python
recipes run unchanged on callscope's output, giving the answers they promise."""

import collections
import glob
import json
import os
import pty
import select
import shutil
import subprocess
import sys
import time
import unittest

from tests.py.live_support import LiveTarget
from tests.py.support import CALLSCOPE

CALCULATOR = '''
import math, time

class Logger:
    def info(self, text):
        return len(text)

class Calculator:
    def __init__(self):
        self.log = Logger()

    def _validate(self, x):
        return x >= 0

    def _compute(self, x):
        if x % 3 == 0:
            time.sleep(0.002)  # some invocations are clearly slower
        return math.sqrt(x) + self._square(x)

    def _square(self, x):
        return x * x

    def calculate(self, x, y=1, *more, scale=1, **options):
        self._validate(x)
        value = self._compute(x) * scale
        self.log.info("done")
        return value

calc = Calculator()
n = [0]

def slow(n):
    if n % 2 == 0:
        time.sleep(0.11)
    return n

def work():
    n[0] += 1
    calc.calculate(n[0], 2, 3, scale=2, tag="t")
    calc.calculate(n[0] + 5, debug=True)

serve(work)
'''

# The function the watch recipe's `.data.duration_ms > 100` picks out.
SLOW = '''
import time
count = [0]

def slow(n):
    if n % 2 == 0:
        time.sleep(0.11)
    return n

def work():
    count[0] += 1
    slow(count[0])

serve(work, pause=0)
'''

# Peeka's `trace` page, "Data Processing and Analysis": its Python recipe.
ANALYZE_TRACE = r'''
import json
import sys
from collections import defaultdict
# Count total duration and occurrences of sub-calls
stats = defaultdict(lambda: {"count": 0, "total_ms": 0})
for line in sys.stdin:
    data = json.loads(line)
    if data["type"] == "observation":
        def traverse(node):
            if "function" in node:
                stats[node["function"]]["count"] += 1
                stats[node["function"]]["total_ms"] += node.get("duration_ms", 0)
            for child in node.get("children", []):
                traverse(child)
        for root in data["call_tree"]:
            traverse(root)
# Sort by total duration
sorted_stats = sorted(stats.items(), key=lambda x: x[1]["total_ms"], reverse=True)
print("Top 10 Time-Consuming Functions:")
print(f"{'Function':<60} {'Count':>10} {'Total (ms)':>15} {'Avg (ms)':>12}")
print("-" * 100)
for func, stat in sorted_stats[:10]:
    avg_ms = stat["total_ms"] / stat["count"]
    print(f"{func:<60} {stat['count']:>10} {stat['total_ms']:>15.2f} {avg_ms:>12.2f}")
'''


def nodes(tree):
    """Every node of a call_tree (a list of roots), depth first."""
    for node in tree:
        yield node
        yield from nodes(node.get("children", []))


@unittest.skipUnless(shutil.which("jq"), "jq is not installed (scripts/install-deps.sh installs it)")
class PeekaTraceRecipes(LiveTarget):
    """`callscope trace ... > trace.jsonl`, then every jq recipe of Peeka's
    trace page, as written there."""

    @classmethod
    def setUpClass(cls):
        cls.recorded = None

    def trace_file(self):
        if PeekaTraceRecipes.recorded is None:
            p = self.start_target(CALCULATOR)
            path = os.path.join(self.dir, "trace.jsonl")
            with open(path, "wb") as out:  # a file, not a terminal: JSON lines without being asked
                proc = subprocess.run([CALLSCOPE, "trace", str(p.pid), "__main__.Calculator.calculate", "-n", "12"],
                                      stdout=out, stderr=subprocess.PIPE, timeout=120)
            self.assertEqual(proc.returncode, 0, proc.stderr.decode())
            with open(path) as f:
                PeekaTraceRecipes.recorded = f.read()
        path = os.path.join(self.dir, "trace.jsonl")
        with open(path, "w") as f:
            f.write(PeekaTraceRecipes.recorded)
        lines = [json.loads(l) for l in PeekaTraceRecipes.recorded.splitlines()]
        return path, lines

    def sh(self, script, path):
        proc = subprocess.run(["bash", "-o", "pipefail", "-c", script], stdin=open(path), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        return proc.stdout.decode()

    def test_the_observation_has_the_documented_fields_and_types(self):
        path, lines = self.trace_file()
        self.assertEqual({l["type"] for l in lines}, {"observation"})  # trace prints observations only
        self.assertEqual(len(lines), 12)
        for o in lines:
            self.assertIsInstance(o["watch_id"], str)
            self.assertIsInstance(o["timestamp"], float)
            self.assertLess(abs(o["timestamp"] - time.time()), 600)
            self.assertEqual(o["func_name"], "__main__.Calculator.calculate")
            self.assertIsInstance(o["location"], str)
            self.assertIsInstance(o["call_tree"], list)
            self.assertEqual(len(o["call_tree"]), 1)
            self.assertIsInstance(o["total_duration_ms"], float)
            self.assertEqual(o["node_count"], len(list(nodes(o["call_tree"]))))
            root = o["call_tree"][0]
            self.assertEqual((root["depth"], root["function"]), (0, "__main__.Calculator.calculate"))
            self.assertEqual(root["duration_ms"], o["total_duration_ms"])
            for node in nodes(o["call_tree"]):
                self.assertEqual(set(node) & {"depth", "function", "filename", "lineno", "duration_ms", "children"},
                                 {"depth", "function", "filename", "lineno", "duration_ms", "children"})
                for child in node["children"]:
                    self.assertEqual(child["depth"], node["depth"] + 1)
            self.assertEqual([n["function"] for n in root["children"]],
                             ["__main__.Calculator._validate", "__main__.Calculator._compute",
                              "__main__.Logger.info"])
        self.assertEqual(len({o["watch_id"] for o in lines}), 1)

    def test_extract_the_call_tree(self):
        path, lines = self.trace_file()
        out = self.sh("jq '.call_tree'", path)
        decoder, at, got = json.JSONDecoder(), 0, []
        while out[at:].strip():
            while out[at].isspace():
                at += 1
            value, at = decoder.raw_decode(out, at)
            got.append(value)
        self.assertEqual(got, [o["call_tree"] for o in lines])

    def test_average_duration(self):
        path, lines = self.trace_file()
        mean = sum(o["total_duration_ms"] for o in lines) / len(lines)
        out = self.sh("""jq '.total_duration_ms' | awk '{sum+=$1; count++} END {print "avg:", sum/count, "ms"}'""",
                      path)
        self.assertTrue(out.startswith("avg: ") and out.rstrip().endswith(" ms"), out)
        self.assertAlmostEqual(float(out.split()[1]), mean, delta=mean * 1e-4)
        for recipe in ("jq -s 'map(select(.type == \"observation\")) | map(.total_duration_ms) | add / length'",
                       "jq -s 'map(.total_duration_ms) | add / length'"):
            self.assertAlmostEqual(float(self.sh(recipe, path)), mean, delta=mean * 1e-9)

    def test_slowest_sub_call(self):
        path, lines = self.trace_file()
        out = self.sh("jq '.call_tree | .. | objects | select(.duration_ms != null) | {function, duration_ms}' | "
                      "jq -s 'sort_by(.duration_ms) | reverse | .[0]'", path)
        slowest = max((n for o in lines for n in nodes(o["call_tree"])), key=lambda n: n["duration_ms"])
        self.assertEqual(json.loads(out), {"function": slowest["function"], "duration_ms": slowest["duration_ms"]})

    def test_call_frequency(self):
        path, lines = self.trace_file()
        out = self.sh("jq '.call_tree | .. | objects | select(.function != null) | .function' | "
                      "sort | uniq -c | sort -rn", path)
        counted = {json.loads(l.split(None, 1)[1]): int(l.split()[0]) for l in out.splitlines()}
        want = collections.Counter(n["function"] for o in lines for n in nodes(o["call_tree"]))
        self.assertEqual(counted, dict(want))
        self.assertEqual(counted["__main__.Calculator.calculate"], 12)

    def test_flame_graph_lines(self):
        path, lines = self.trace_file()
        every = [(n["function"], n["duration_ms"]) for o in lines for n in nodes(o["call_tree"])]
        for sep in (" ", ";"):
            out = self.sh("jq -r '.call_tree | .. | objects | select(.function != null) | "
                          "\"\\(.function)%s\\(.duration_ms)\"'" % sep, path)
            got = [(l.rsplit(sep, 1)[0], float(l.rsplit(sep, 1)[1])) for l in out.splitlines()]
            self.assertEqual(got, every)

    def test_the_python_recipe(self):
        path, lines = self.trace_file()
        script = self.write("analyze_trace.py", ANALYZE_TRACE)
        out = self.sh("%s %s" % (sys.executable, script), path).splitlines()
        self.assertEqual(out[0], "Top 10 Time-Consuming Functions:")
        rows = {l.split()[0]: (int(l.split()[1]), float(l.split()[2])) for l in out[3:]}
        self.assertEqual(out[3].split()[0], "__main__.Calculator.calculate")  # the root takes the most time
        total = sum(o["total_duration_ms"] for o in lines)
        self.assertEqual(rows["__main__.Calculator.calculate"][0], 12)
        self.assertAlmostEqual(rows["__main__.Calculator.calculate"][1], total, delta=0.01)
        self.assertEqual(rows["__main__.Logger.info"][0], 12)


class PeekaWatchContract(LiveTarget):
    """A `watch` observation has the fields of Peeka's README example, typed."""

    def test_arguments_result_and_counts_are_typed(self):
        p = self.start_target(CALCULATOR)
        proc = self.live("watch", p.pid, "__main__.Calculator.calculate", "-n", "4")  # a pipe: JSON lines
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        lines = [json.loads(l) for l in proc.stdout.decode().splitlines()]
        self.assertEqual([l["type"] for l in lines], ["event"] + ["observation"] * 4 + ["event"])
        started, stopped = lines[0], lines[-1]
        self.assertEqual(started["event"], "watch_started")
        self.assertEqual(started["data"]["function"], "__main__.Calculator.calculate")
        self.assertEqual((stopped["event"], stopped["data"]["reason"], stopped["data"]["observations"]),
                         ("watch_stopped", "count", 4))
        obs = lines[1:-1]
        self.assertEqual([o["count"] for o in obs], [1, 2, 3, 4])
        self.assertEqual({o["watch_id"] for o in obs}, {started["data"]["watch_id"]})
        for o in obs:
            self.assertIsInstance(o["timestamp"], float)
            self.assertIs(o["success"], True)
            self.assertIsInstance(o["duration_ms"], float)
            self.assertEqual(o["data"]["duration_ms"], o["duration_ms"])
            x = o["args"][0]
            self.assertIsInstance(x, int)
            if o["kwargs"].get("tag"):  # calc.calculate(n, 2, 3, scale=2, tag="t"): *more spread, self left out
                self.assertEqual(o["args"], [x, 2, 3])
                self.assertEqual(o["kwargs"], {"scale": 2, "tag": "t"})
                self.assertAlmostEqual(o["result"], (x ** 0.5 + x * x) * 2)
            else:  # calc.calculate(n + 5, debug=True)
                self.assertEqual(o["args"], [x, 1])
                self.assertEqual(o["kwargs"], {"scale": 1, "debug": True})
                self.assertAlmostEqual(o["result"], x ** 0.5 + x * x)
            self.assertIsInstance(o["result"], float)

    def test_an_exception_and_an_entry(self):
        p = self.start_target('''
            def f(a, b=None):
                if a % 2:
                    raise KeyError(a)
                return {"a": a, "b": b, "list": [1, 2.5, None, True], "t": (1, "x")}
            k = [0]
            def work():
                k[0] += 1
                try:
                    f(k[0], b=b"raw")
                except KeyError as e:
                    seen[0] = len(e.args)  # a call in the handler: 3.8-3.11 see the exception then
            seen = [0]
            serve(work)
        ''')
        lines = self.observations("watch", p.pid, "__main__.f", "-n", "4")
        failed = [o for o in lines if o["success"] is False]
        ok = [o for o in lines if o["success"] is True]
        self.assertTrue(failed and ok)
        for o in failed:
            self.assertIsNone(o["result"])
            self.assertEqual(o["exception"], "KeyError: %d" % o["args"][0])
        for o in ok:
            a = o["args"][0]
            self.assertEqual(o["args"], [a, "b'raw'"])  # bytes have no JSON form: their repr
            self.assertEqual(o["result"], {"a": a, "b": "b'raw'", "list": [1, 2.5, None, True], "t": [1, "x"]})
        entry = self.observations("watch", p.pid, "__main__.f", "-n", "1", "-b")[0]
        self.assertEqual(entry["at"], "entry")
        self.assertIsNone(entry["success"])
        self.assertIsNone(entry["result"])

    @unittest.skipUnless(shutil.which("jq"), "jq is not installed")
    def test_the_readme_recipes(self):
        p = self.start_target(SLOW)
        path = os.path.join(self.dir, "observations.jsonl")
        with open(path, "wb") as out:
            proc = subprocess.run([CALLSCOPE, "watch", str(p.pid), "__main__.slow", "-n", "6"], stdout=out,
                                  stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        with open(path) as f:
            lines = [json.loads(l) for l in f]
        def jq(program):
            out = subprocess.run(["jq", "-c", program, path], stdout=subprocess.PIPE, check=True).stdout.decode()
            return [json.loads(l) for l in out.splitlines()]
        self.assertEqual(jq('select(.type == "observation")'), [l for l in lines if l["type"] == "observation"])
        slow = jq('select(.type == "observation" and .data.duration_ms > 100)')
        self.assertEqual([o["args"][0] % 2 for o in slow], [0, 0, 0])  # the calls that slept 110 ms
        self.assertTrue(all(o["duration_ms"] > 100 for o in slow))


class OutputForm(LiveTarget):
    """JSON lines for programs, the tree for people, for every live command."""

    def test_a_terminal_gets_the_tree(self):
        p = self.start_target(CALCULATOR)
        master, slave = pty.openpty()
        client = subprocess.Popen([CALLSCOPE, "trace", str(p.pid), "__main__.Calculator.calculate", "-n", "1",
                                   "--no-color"], stdout=slave, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        os.close(slave)
        out = b""
        while select.select([master], [], [], 60)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the client ended and closed the terminal
                break
            if not chunk:
                break
            out += chunk
        client.wait(timeout=60)
        os.close(master)
        text = out.decode()
        self.assertIn("thread=MainThread", text)
        self.assertRegex(text, r"\[[\d.]+(ns|µs|ms)\] __main__\.Calculator\.calculate ")
        self.assertNotIn('"type"', text)

    def test_attach_reset_and_detach_answer_in_json(self):
        p = self.start_target(CALCULATOR, attach=False)
        attach = self.live("attach", p.pid)
        self.assertEqual(attach.returncode, 0, attach.stderr.decode())
        status, success = [json.loads(l) for l in attach.stdout.decode().splitlines()]
        self.assertEqual((status["type"], status["level"]), ("status", "info"))
        self.assertEqual((success["type"], success["command"]), ("success", "attach"))
        self.assertEqual((success["data"]["pid"], success["data"]["agent"]), (p.pid, "started"))
        self.assertTrue(os.path.samefile(success["data"]["socket"], self.socket_path(p.pid)))
        client = self.popen_live("watch", p.pid, "__main__.Calculator._square")
        self.assertIn(b'"watch_started"', client.stdout.readline())
        reset = self.live("reset", p.pid, "__main__.Calculator._square")
        self.assertEqual(json.loads(reset.stdout), {"type": "success", "command": "reset",
                                                    "data": {"pid": p.pid, "removed": 1, "levels_restored": 0}})
        out, _ = client.communicate(timeout=30)
        self.assertEqual(json.loads(out.decode().splitlines()[-1])["event"], "watch_stopped")
        detach = self.live("detach", p.pid)
        self.assertEqual(json.loads(detach.stdout), {"type": "success", "command": "detach", "data": {"pid": p.pid}})
        again = self.live("detach", p.pid)
        self.assertEqual(again.returncode, 1)
        error = json.loads(again.stdout)
        self.assertEqual((error["type"], error["command"]), ("error", "detach"))
        self.assertIn("no callscope agent in process %d" % p.pid, error["error"])
        self.assertIn("no callscope agent in process %d" % p.pid, again.stderr.decode())  # and for a person

    def test_patterns_as_separate_words(self):
        p = self.start_target(CALCULATOR)
        obs = self.observations("trace", p.pid, "__main__", "Calculator", "_compute", "-n", "1")
        self.assertEqual(obs[0]["func_name"], "__main__.Calculator._compute")
        bad = self.live("trace", "12x", "__main__.f")
        self.assertEqual(bad.returncode, 2)
        self.assertIn("'12x' is not a process id", bad.stderr.decode())

    def live_agents(self):
        """The processes of this user with an agent listening, as callscope finds them."""
        pids = set()
        for path in glob.glob("/tmp/callscope-%d*/agent-*.sock" % os.geteuid()):
            pid = int(os.path.basename(path)[6:-5])
            try:
                os.kill(pid, 0)
                pids.add(pid)
            except ProcessLookupError:
                pass
        return pids

    def test_the_pid_may_be_left_out_when_one_process_has_an_agent(self):
        p = self.start_target(CALCULATOR)
        if self.live_agents() != {p.pid}:
            self.skipTest("other processes of this user have agents: %s" % (self.live_agents() - {p.pid}))
        obs = self.observations("watch", "__main__.Calculator._square", "-n", "1")
        self.assertEqual(obs[0]["func_name"], "__main__.Calculator._square")
        q = self.start_target(CALCULATOR)
        proc = self.live("trace", "__main__.Calculator._square", "-n", "1")
        self.assertEqual(proc.returncode, 2)
        said = proc.stderr.decode()
        self.assertIn("which process?", said)
        self.assertIn(str(p.pid), said)
        self.assertIn(str(q.pid), said)
        self.assertEqual(json.loads(proc.stdout)["type"], "error")


class TraceArguments(LiveTarget):
    """`trace --args`: each node with its call's arguments, as Peeka's
    factorial example shows them."""

    TARGET = '''
        def factorial(n):
            return 1 if n <= 1 else n * factorial(n - 1)
        def greet(name, *, loud=False):
            return name.upper() if loud else name
        def work():
            factorial(5)
            greet("ann", loud=True)
        serve(work)
    '''

    def test_the_tree_shows_each_calls_arguments(self):
        p = self.start_target(self.TARGET)
        proc = self.live("trace", p.pid, "__main__.factorial", "-n", "1", "-d", "10", "--args", "--format", "tree",
                         "--no-color")
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        calls = [l.split("] ", 1)[1].split(" ")[0] for l in proc.stdout.decode().splitlines() if "] " in l]
        self.assertEqual(calls, ["__main__.factorial(n=%d)" % n for n in (5, 4, 3, 2, 1)])
        obs = self.observations("trace", p.pid, "__main__.factorial", "-n", "1", "-d", "10", "--args")
        self.assertEqual([node["args"] for node in nodes(obs[0]["call_tree"])], [{"n": n} for n in (5, 4, 3, 2, 1)])
        obs = self.observations("trace", p.pid, "__main__.greet", "-n", "1", "--args")
        self.assertEqual(obs[0]["call_tree"][0]["args"], {"name": "ann", "loud": True})
        # without --args the nodes are as before
        obs = self.observations("trace", p.pid, "__main__.factorial", "-n", "1")
        self.assertNotIn("args", obs[0]["call_tree"][0])


class AFloodOfObservations(LiveTarget):
    """A client that reads slower than observations come: the agent drops
    observations (never the frames that end or explain), counts them, and
    says how many once the client has caught up."""

    def test_drops_are_counted_and_the_end_still_arrives(self):
        p = self.start_target('''
            def f(*args):
                return len(args)
            data = ["x" * 200 + str(i) for i in range(100)]
            def work():
                for i in range(1000):
                    f(*data)
            serve(work, pause=0)
        ''')
        wanted = 20000  # about 2 KB each: more than the agent keeps for one client
        client = self.popen_live("watch", p.pid, "__main__.f", "-n", str(wanted), "-x", "3")
        time.sleep(3)  # not reading: the pipe, the socket and then the agent's queue fill up
        out, err = client.communicate(timeout=300)
        self.assertEqual(client.returncode, 0, err.decode())
        lines = [json.loads(l) for l in out.decode().splitlines()]
        received = sum(1 for l in lines if l["type"] == "observation")
        notices = [l["message"] for l in lines if l["type"] == "event" and l["event"] == "notice"]
        dropped = sum(int(m.split()[0]) for m in notices if "dropped" in m)
        self.assertGreater(dropped, 0, notices)
        self.assertEqual(received + dropped, wanted)
        self.assertEqual(lines[-1]["event"], "watch_stopped")  # the end was not dropped
        self.assertEqual(lines[-1]["data"]["observations"], wanted)


class ConditionsNameParameters(LiveTarget):
    """Peeka's documented conditions, which name the function's parameters."""

    TARGET = '''
        def handle(x, y, *rest, debug=False, **extra):
            return x + y
        k = [0]
        def work():
            k[0] += 1
            handle(k[0], 3, debug=k[0] % 3 == 0)
            handle("prefix-%d" % k[0], "", k[0], flag=1)
        serve(work)
    '''

    def watched(self, condition, n=4):
        if not hasattr(self, "handler"):
            self.handler = self.start_target(self.TARGET)
        p = self.handler
        return self.observations("watch", p.pid, "__main__.handle", "-n", str(n), "--condition", condition)

    def test_arithmetic_on_parameters(self):
        for o in self.watched("x + y > 10"):
            self.assertGreater(o["args"][0] + o["args"][1], 10)

    def test_string_methods_on_parameters(self):
        obs = self.watched("str(x).startswith('prefix')")
        self.assertTrue(all(o["args"][0].startswith("prefix-") for o in obs))

    def test_keyword_arguments(self):
        obs = self.watched("kwargs.get('debug') == True")
        self.assertTrue(obs)
        self.assertTrue(all(o["kwargs"]["debug"] is True and o["args"][0] % 3 == 0 for o in obs))
        obs = self.watched("kwargs.get('flag') == 1 and len(rest) == 1")
        self.assertTrue(all(o["args"][0].startswith("prefix-") for o in obs))

    def test_a_name_that_is_no_parameter(self):
        self.watched("x > 0", n=1)  # starts the target
        proc = self.live("watch", self.handler.pid, "__main__.handle", "--condition", "z > 1", "-n", "1")
        self.assertEqual(proc.returncode, 1)
        said = proc.stderr.decode()
        self.assertIn("unknown name 'z'", said)
        self.assertIn("x, y, debug, rest, extra", said)
        # names callscope refuses before anything runs stay refused
        proc = self.live("watch", self.handler.pid, "__main__.handle", "--condition", "_secret > 1")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("names starting with '_' are private", proc.stderr.decode())


if __name__ == "__main__":
    unittest.main()
