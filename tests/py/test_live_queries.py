"""The live questions (`thread`, ...) asked of real running processes."""

import json
import os
import select
import signal
import subprocess
import sys
import time
import unittest

from tests.py.live_support import LiveTarget
from tests.py.support import CALLSCOPE, MONITORING

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


class QueryTarget(LiveTarget):
    """Asks a live target one question."""

    def answer(self, *args):
        proc = self.live(*args)  # a pipe: one JSON line
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        line = json.loads(proc.stdout)
        self.assertEqual((line["type"], line["command"]), ("result", args[0]))
        return line["data"]


class ThreadTest(QueryTarget):
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


# A package the target imports for sc, sm and inspect: classes, methods of
# every kind, and traps that count every time program code runs (a
# metaclass's attribute hooks, a property, __getattr__, a module
# __getattr__, a dict key's __eq__ and __hash__).
ORDERS = """\
import functools
from myapp.util import helper

def timed(f):
    @functools.wraps(f)
    def wrapper(*a, **k):
        return f(*a, **k)
    return wrapper

class OrderService:
    rate = 3

    def process(self, order):
        return order

    @staticmethod
    def validate(order):
        return True

    @classmethod
    def create(cls):
        return cls()

    @property
    def total(self):
        return 1

    @timed
    def ship(self):
        pass

    class Inner:
        def process(self):
            pass

class UserService(OrderService):
    pass

class Helper:
    pass

def process(x):
    return x
"""

UTIL = """\
def helper():
    pass
"""

TRAPS = """\
TOUCHED = [0]

def touch(*_):
    TOUCHED[0] += 1

class Meta(type):
    def __getattribute__(cls, name):
        touch()
        return type.__getattribute__(cls, name)
    def __getattr__(cls, name):
        touch()
        raise AttributeError(name)
    def __dir__(cls):
        touch()
        return []

class Configured(metaclass=Meta):
    limit = 7
    def run(self):
        pass

class Lazy:
    def __init__(self):
        self.plain = 1
    @property
    def value(self):
        touch()
        return 2
    def work(self):
        pass

class Dynamic:
    def __init__(self):
        self.plain = 1
    def __getattr__(self, name):
        touch()
        return 3

class Key:
    def __hash__(self):
        touch()
        return 1
    def __eq__(self, other):
        touch()
        return False

lazy = Lazy()
dynamic = Dynamic()
_secret = "s3"
config = {"timeout": 30, "hosts": ["a", "b"], "nested": {"deep": {"deeper": [1, 2]}}}

def __getattr__(name):
    touch()
    raise AttributeError(name)
"""

PACKAGE_TARGET = """
import myapp.orders, myapp.traps as traps
# every trap fires once here, so the count shows they work
traps.Configured.limit; traps.lazy.value; traps.dynamic.missing
try:
    traps.missing
except AttributeError:
    pass
vars(traps)[traps.Key()] = 1  # hashes it
traps.Key() == 1
BASELINE = traps.TOUCHED[0]

def report():
    with open("touched.tmp", "w") as f:
        f.write(str(traps.TOUCHED[0]))
    os.replace("touched.tmp", "touched")

serve(report)
"""


class PackageTarget(QueryTarget):
    """A target that has imported myapp (written to its directory)."""

    def start_package_target(self):
        self.write("myapp/__init__.py", "")
        self.write("myapp/orders.py", ORDERS)
        self.write("myapp/util.py", UTIL)
        self.write("myapp/traps.py", TRAPS)
        return self.start_target(PACKAGE_TARGET)

    def touched(self):
        """How often the traps ran, as the target last reported."""
        time.sleep(0.2)  # a few rounds of serve()
        with open(os.path.join(self.dir, "touched")) as f:
            return int(f.read())


    def refused(self, *args):
        """Runs a command that must fail: its one line of error."""
        proc = self.live(*args)
        self.assertEqual(proc.returncode, 1, proc.stdout.decode())
        lines = proc.stderr.decode().splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertEqual(json.loads(proc.stdout)["type"], "error")
        return lines[0]


def line_of(source, text):
    return next(i for i, l in enumerate(source.splitlines(), 1) if text in l)


class SearchTest(PackageTarget):
    def test_methods_of_a_class_with_kind_file_and_line(self):
        p = self.start_package_target()
        data = self.answer("sm", p.pid, "myapp.orders.OrderService.*")
        found = {m["name"]: m for m in data["matches"]}
        prefix = "myapp.orders.OrderService."
        kinds = {"process": "method", "validate": "staticmethod", "create": "classmethod",
                 "total": "property getter", "ship": "method", "Inner.process": "method"}
        self.assertEqual(set(found), {prefix + n for n in kinds})
        for name, kind in kinds.items():
            self.assertEqual(found[prefix + name]["kind"], kind)
            self.assertEqual(found[prefix + name]["module"], "myapp.orders")
            self.assertEqual(found[prefix + name]["file"], os.path.join(self.dir, "myapp", "orders.py"))
        # the line of the def, or of its first decorator
        self.assertEqual(found[prefix + "process"]["line"], line_of(ORDERS, "def process(self, order)"))
        self.assertEqual(found[prefix + "validate"]["line"], line_of(ORDERS, "@staticmethod"))
        # functools.wraps is followed to the function written in the class
        self.assertEqual(found[prefix + "ship"]["line"], line_of(ORDERS, "@timed"))
        self.assertEqual((data["shown"], data["total"], data["complete"]), (6, 6, True))

    def test_wildcards_anywhere(self):
        p = self.start_package_target()
        names = {m["name"] for m in self.answer("sm", p.pid, "*.process")["matches"]}
        self.assertLessEqual({"myapp.orders.OrderService.process", "myapp.orders.OrderService.Inner.process",
                              "myapp.orders.process"}, names)
        self.assertTrue(all(n.endswith(".process") for n in names))
        names = {m["name"] for m in self.answer("sm", p.pid, "myapp.?rders.proc*")["matches"]}
        self.assertEqual(names, {"myapp.orders.process"})
        # functions are listed where they are defined, not where imported
        names = {m["name"] for m in self.answer("sm", p.pid, "myapp.*helper")["matches"]}
        self.assertEqual(names, {"myapp.util.helper"})
        self.assertEqual(self.answer("sm", p.pid, "nothing.*")["matches"], [])

    def test_classes_with_bases_and_the_text_form(self):
        p = self.start_package_target()
        data = self.answer("sc", p.pid, "myapp.*Service", "-d")
        found = {m["name"]: m for m in data["matches"]}
        self.assertEqual(set(found), {"myapp.orders.OrderService", "myapp.orders.UserService"})
        service = found["myapp.orders.OrderService"]
        self.assertEqual((service["kind"], service["bases"], service["methods"]), ("class", ["object"], 5))
        self.assertEqual(found["myapp.orders.UserService"]["bases"], ["myapp.orders.OrderService"])
        # 3.13+ keeps the class's own line; before, the line of its first method
        expected = line_of(ORDERS, "class OrderService") if sys.version_info >= (3, 13) else \
            line_of(ORDERS, "def process(self, order)")
        self.assertEqual(service["line"], expected)
        nested = self.answer("sc", p.pid, "*.Inner")["matches"]
        self.assertEqual([m["name"] for m in nested], ["myapp.orders.OrderService.Inner"])
        proc = self.live("sc", p.pid, "myapp.orders.*Service", "--format", "text")
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        lines = proc.stdout.decode().splitlines()
        self.assertEqual(lines[-1], "2 matches")
        self.assertTrue(lines[0].startswith("myapp.orders.OrderService  class  "), lines)
        self.assertTrue(lines[0].endswith("orders.py:%d" % expected), lines)

    def test_the_limit_counts_every_match(self):
        p = self.start_package_target()
        data = self.answer("sm", p.pid, "*", "-n", "5")
        self.assertEqual((len(data["matches"]), data["shown"], data["limit"]), (5, 5, 5))
        self.assertGreater(data["total"], 100)  # the standard library's functions too
        everything = self.answer("sm", p.pid, "*", "-n", "10000")
        self.assertEqual(everything["total"], data["total"])
        self.assertEqual(len(everything["matches"]), min(10000, data["total"]))
        proc = self.live("sm", p.pid, "*", "-n", "2", "--format", "text")
        lines = proc.stdout.decode().splitlines()
        self.assertEqual(len(lines), 3)
        self.assertEqual(lines[-1], "2 shown of %d matches (-n 2)" % data["total"])

    def test_runs_no_program_code(self):
        p = self.start_package_target()
        before = self.touched()
        self.assertGreaterEqual(before, 6)  # the traps work
        names = {m["name"] for m in self.answer("sm", p.pid, "myapp.traps.*")["matches"]}
        self.assertLessEqual({"myapp.traps.Configured.run", "myapp.traps.Lazy.value", "myapp.traps.touch"}, names)
        self.answer("sc", p.pid, "*", "-d", "-n", "10000")
        self.answer("sm", p.pid, "*", "-n", "10000")
        self.assertEqual(self.touched(), before)

    def test_bad_patterns_and_options(self):
        p = self.start_package_target()
        for args, said in ((["sc"], "give a PATTERN"),
                           (["sm", "my app"], "' ' cannot be part of a name"),
                           (["sm", "a.b;c"], "';' cannot be part of a name"),
                           (["sm", "x" * 600], "longer than any name"),
                           (["sm", "a", "b"], "one PATTERN only"),
                           (["sm", "a.*", "-n", "0"], "-n takes a number of matches"),
                           (["sc", "a.*", "-n", "x"], "-n takes a number of matches"),
                           (["sm", "a.*", "-d"], "unexpected option '-d'"),
                           (["sc", "a.*", "--bogus"], "unexpected option")):
            line = self.refused(args[0], p.pid, *args[1:])
            self.assertIn(said, line)


class InspectTest(PackageTarget):
    def test_globals_attributes_and_items(self):
        p = self.start_package_target()
        data = self.answer("inspect", p.pid, "myapp.traps.config", "-x", "4")
        self.assertEqual(data["value"], {"timeout": 30, "hosts": ["a", "b"], "nested": {"deep": {"deeper": [1, 2]}}})
        self.assertEqual((data["expr"], data["type"]), ("myapp.traps.config", "dict"))
        self.assertEqual(data["repr"], "{'timeout': 30, 'hosts': ['a', 'b'], 'nested': {'deep': {'deeper': [1, 2]}}}")
        cases = (("myapp.traps.config['hosts'][1]", "b"),
                 ("myapp.traps.config['hosts'][-1]", "b"),
                 ("myapp.traps.lazy.plain", 1),            # an instance's __dict__ entry
                 ("myapp.traps._secret", "s3"),            # private names may be read
                 ("myapp.traps.Configured.limit", 7),      # a class's dict, not its metaclass
                 ("myapp.orders.OrderService.rate", 3),
                 ("myapp.traps.lazy.__dict__", {"plain": 1}),
                 ("myapp.traps.Configured", "<class 'myapp.traps.Configured'>"))
        for expr, value in cases:
            self.assertEqual(self.answer("inspect", p.pid, expr)["value"], value, expr)
        # a global of the main script by its own name
        self.assertEqual(self.answer("inspect", p.pid, "BASELINE")["value"], self.touched())
        # -x: containers deeper than it are cut, as in recordings
        cut = self.answer("inspect", p.pid, "myapp.traps.config")["value"]
        self.assertEqual(cut["hosts"], ["a", "b"])
        self.assertIsInstance(cut["nested"]["deep"], str)
        self.assertIn("…", cut["nested"]["deep"])
        obj = self.answer("inspect", p.pid, "myapp.traps.lazy")
        self.assertEqual(obj["type"], "myapp.traps.Lazy")
        self.assertRegex(obj["value"], r"^<myapp\.traps\.Lazy object at 0x[0-9a-f]+>$")

    def test_the_text_form(self):
        p = self.start_package_target()
        proc = self.live("inspect", p.pid, "myapp.traps.config['nested']", "--format", "text", "-x", "1")
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        self.assertEqual(proc.stdout.decode(), "myapp.traps.config['nested'] = {'deep': {…}}\n")

    def test_runs_no_program_code(self):
        p = self.start_package_target()
        before = self.touched()
        for expr, said in (("myapp.traps.lazy.value", "defines it as a property"),
                           ("myapp.traps.dynamic.missing", "its class computes them itself"),
                           ("myapp.traps.dynamic.plain", "its class computes them itself"),
                           ("myapp.traps.missing", "its __getattr__, program code, is not called"),
                           ("myapp.traps.Configured.missing", "a metaclass's are not consulted")):
            self.assertIn(said, self.refused("inspect", p.pid, expr))
        self.assertEqual(self.answer("inspect", p.pid, "myapp.traps.Configured.limit")["value"], 7)
        self.answer("inspect", p.pid, "myapp.traps.__dict__")  # the Key in it is not hashed or compared
        self.assertEqual(self.touched(), before)

    def test_bad_paths(self):
        p = self.start_package_target()
        for args, said in ((["myapp.traps.touch()"], "nothing is called"),
                           (["myapp.traps.config['a' + 'b']"], "a key is a literal"),
                           (["myapp.traps.config[myapp]"], "a key is a literal"),
                           (["myapp.traps.config['nope']"], "myapp.traps.config['nope']: no such key"),
                           (["myapp.traps.config['hosts'][7]"], "index out of range"),
                           (["myapp.traps.config +"], "column"),
                           (["myapp.traps.touch.__globals__"], "'__globals__' is not read"),
                           (["myapp.traps.lazy.__init__"], "'__init__' is not read"),
                           (["myapp.traps.lazy.f_globals"], "reaches the interpreter's frames"),
                           (["myapp.traps.touch.__name__"], "attributes of a function are not read"),
                           (["nowhere.x"], "no loaded module or global of __main__ is named 'nowhere'"),
                           (["myapp.traps.nothing"], "module 'myapp.traps' has no global 'nothing'"),
                           ([], "give an EXPR"),
                           (["a", "b"], "one EXPR only"),
                           (["a", "-x", "17"], "-x takes a depth from 0 to 16"),
                           (["a", "--bogus"], "unexpected option")):
            self.assertIn(said, self.refused("inspect", p.pid, *args), args)
        proc = self.live("inspect", p.pid, "a" * 5000)  # longer than the client sends
        self.assertNotEqual(proc.returncode, 0)
        self.assertEqual(self.answer("inspect", p.pid, "myapp.traps.config['timeout']")["value"], 30)  # still fine
LOGGERS = r"""
import logging
MAIN = threading.get_ident()
COUNTS = {"foreign_getattribute": 0, "spy": 0, "handler_getattr": 0, "emitted": 0, "rounds": 0}

class CountingLogger(logging.Logger):
    # any attribute read from another thread than the program's is the agent's
    def __getattribute__(self, name):
        if threading.get_ident() != MAIN:
            COUNTS["foreign_getattribute"] += 1
        return object.__getattribute__(self, name)
    @property
    def spy(self):
        COUNTS["spy"] += 1
        return 1

class CountingHandler(logging.Handler):
    def __getattr__(self, name):
        COUNTS["handler_getattr"] += 1
        raise AttributeError(name)
    def emit(self, record):
        COUNTS["emitted"] += 1

logging.basicConfig(level=logging.WARNING)          # root: a StreamHandler on stderr
db = logging.getLogger("app.db")
db.setLevel(logging.INFO)
db.propagate = False
db.addHandler(logging.FileHandler("app.log", delay=True))
db.addHandler(CountingHandler(level=logging.DEBUG))
sub = logging.getLogger("app.db.pool")               # no level: app.db's is its effective one
logging.getLogger("svc.worker").disabled = True      # "svc" is only a placeholder
logging.setLoggerClass(CountingLogger)
custom = logging.getLogger("app.custom")
logging.setLoggerClass(logging.Logger)

def work():
    db.debug("query")                                # emitted only while app.db is at DEBUG
    custom.warning
    COUNTS["rounds"] += 1
    with open("counts.tmp", "w") as f:
        json.dump(COUNTS, f)
    os.replace("counts.tmp", "counts.json")

serve(work)
"""


class LoggerTest(QueryTarget):
    def counts(self):
        with open(os.path.join(self.dir, "counts.json")) as f:
            return json.load(f)

    def emitted_after_a_while(self):
        """The number of records emitted, once the program has run work() a
        few more times."""
        first = self.counts()
        while True:
            time.sleep(0.02)
            now = self.counts()
            if now["rounds"] >= first["rounds"] + 5:
                return now["emitted"]

    def test_loggers_levels_and_handlers_without_running_program_code(self):
        p = self.start_target(LOGGERS)
        data = self.answer("logger", p.pid)
        loggers = {l["name"]: l for l in data["loggers"]}
        self.assertEqual(list(loggers), ["root", "app.custom", "app.db", "app.db.pool", "svc.worker"])
        self.assertEqual(data["count"], 5)
        root, db, pool = loggers["root"], loggers["app.db"], loggers["app.db.pool"]
        self.assertEqual((root["level_name"], root["effective_level_name"]), ("WARNING", "WARNING"))
        self.assertEqual((db["level"], db["effective_level"], db["propagate"]), (20, 20, False))
        self.assertEqual((pool["level_name"], pool["effective_level_name"]), ("NOTSET", "INFO"))
        self.assertEqual(loggers["app.custom"]["effective_level_name"], "WARNING")
        self.assertEqual(loggers["app.custom"]["type"], "CountingLogger")
        self.assertTrue(loggers["svc.worker"]["disabled"])
        self.assertEqual(root["handlers"][0]["type"], "StreamHandler")
        self.assertEqual(root["handlers"][0]["stream"], "<stderr>")
        file_handler, counting = db["handlers"]
        self.assertEqual(file_handler["filename"], os.path.join(self.dir, "app.log"))
        self.assertEqual((counting["type"], counting["level_name"]), ("CountingHandler", "DEBUG"))
        # the text form says the same
        proc = self.live("logger", p.pid, "--format", "text")
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        text = proc.stdout.decode()
        self.assertIn("app.db level=INFO effective=INFO propagate=False disabled=False\n", text)
        self.assertIn("    handler CountingHandler level=DEBUG\n", text)
        counts = self.counts()
        self.assertEqual((counts["foreign_getattribute"], counts["spy"], counts["handler_getattr"]), (0, 0, 0))

    def test_level_set_takes_effect_and_reset_puts_it_back(self):
        p = self.start_target(LOGGERS)
        self.assertEqual(self.emitted_after_a_while(), 0)  # DEBUG records dropped (and cached so)
        data = self.answer("logger", p.pid, "app.db", "--level", "debug")
        self.assertEqual(data["changed"], {"name": "app.db", "previous_level_name": "INFO", "level_name": "DEBUG",
                                           "level": 10})
        self.assertEqual(data["loggers"][0]["level_name"], "DEBUG")
        # logging's cache of isEnabledFor answers was emptied: records flow
        self.assertGreater(self.emitted_after_a_while(), 0)
        self.assertEqual(self.answer("logger", p.pid, "app.db.pool")["loggers"][0]["effective_level_name"], "DEBUG")
        self.answer("logger", p.pid, "app.custom", "--level", "5")
        proc = self.live("reset", p.pid, "--all")
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        self.assertEqual(json.loads(proc.stdout)["data"]["levels_restored"], 2)
        self.assertEqual(self.answer("logger", p.pid, "app.db")["loggers"][0]["level_name"], "INFO")
        self.assertEqual(self.answer("logger", p.pid, "app.custom")["loggers"][0]["level_name"], "NOTSET")
        stopped = self.emitted_after_a_while()
        self.assertEqual(self.emitted_after_a_while(), stopped)
        self.assertEqual(self.counts()["foreign_getattribute"], 0)
        # detach puts back a level too
        self.answer("logger", p.pid, "root", "--level", "ERROR")
        self.assertEqual(self.live("detach", p.pid).returncode, 0)
        self.attach(p)
        self.assertEqual(self.answer("logger", p.pid, "root")["loggers"][0]["level_name"], "WARNING")

    def test_bad_arguments(self):
        p = self.start_target(LOGGERS)
        for args, said in ((["--level", "DEBUG"], "--level needs the name"),
                           (["app.db", "--level", "LOUD"], "unknown level 'LOUD'"),
                           (["app.db", "--level", "-3"], "a level number is from 0"),
                           (["app.db", "--level"], "--level needs a level"),
                           (["nosuch"], "no logger named 'nosuch'"),
                           (["svc"], "no logger named 'svc'"),
                           (["a", "b"], "one logger name at a time"),
                           (["--bogus"], "unexpected option"),
                           (["x" * 2000], "too many or too long arguments")):
            proc = self.live("logger", p.pid, *args)
            self.assertNotEqual(proc.returncode, 0, args)
            self.assertIn(said, proc.stderr.decode())
            self.assertEqual(len(proc.stderr.decode().strip().splitlines()), 1)
        self.assertEqual(self.answer("logger", p.pid, "app.db")["loggers"][0]["level_name"], "INFO")

    def test_a_process_without_logging(self):
        p = self.start_target(THREADS)
        proc = self.live("logger", p.pid)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("has not imported logging", proc.stderr.decode())


MEMORY = r"""
import tracemalloc
MAIN = threading.get_ident()
COUNTS = {"sizeof": 0, "getattr": 0, "rounds": 0}

class Leaky:
    def __sizeof__(self):               # sys.getsizeof would run this
        COUNTS["sizeof"] += 1
        return 1
    def __getattr__(self, name):
        COUNTS["getattr"] += 1
        raise AttributeError(name)

store = []
def grow():
    store.append([Leaky() for _ in range(50)])  # the line that allocates

def work():
    grow()
    COUNTS["rounds"] += 1
    COUNTS["tracing"] = tracemalloc.is_tracing()
    COUNTS["gc_imported"] = "gc" in sys.modules
    COUNTS["leaky"] = sum(len(x) for x in store)
    with open("counts.tmp", "w") as f:
        json.dump(COUNTS, f)
    os.replace("counts.tmp", "counts.json")

serve(work, pause=0.005)
"""


class MemoryTest(LiveTarget):
    answer = LoggerTest.answer
    counts = LoggerTest.counts

    def test_rss_gc_and_the_types_with_most_objects(self):
        p = self.start_target(MEMORY)
        first = self.answer("memory", p.pid, "-n", "50")
        self.assertGreater(first["rss_bytes"], 1 << 20)
        self.assertGreaterEqual(first["rss_peak_bytes"], first["rss_bytes"])
        self.assertEqual(len(first["gc"]["counts"]), 3)
        self.assertEqual(len(first["gc"]["thresholds"]), 3)
        self.assertTrue(first["gc"]["enabled"])
        self.assertTrue(first["objects"]["gc_tracked_only"])
        self.assertLessEqual(len(first["objects"]["top"]), 50)
        leaky = {t["type"]: t for t in first["objects"]["top"]}["__main__.Leaky"]
        before = self.counts()["leaky"]
        while self.counts()["leaky"] < before + 5000:  # the program goes on allocating
            time.sleep(0.05)
        later = self.answer("memory", p.pid, "-n", "50", "--sort", "count")
        self.assertEqual(later["objects"]["sort"], "count")
        counts = [t["count"] for t in later["objects"]["top"]]
        self.assertEqual(counts, sorted(counts, reverse=True))
        leaky_later = {t["type"]: t for t in later["objects"]["top"]}["__main__.Leaky"]
        self.assertGreater(leaky_later["count"], leaky["count"] + 4000)
        self.assertEqual(leaky_later["bytes"] // leaky_later["count"], leaky["bytes"] // leaky["count"])
        self.assertGreater(later["rss_growth_since_s"], 0)
        self.assertEqual(later["tracemalloc"], {"tracing": False})
        self.assertEqual(len(self.answer("memory", p.pid, "-n", "2")["objects"]["top"]), 2)
        proc = self.live("memory", p.pid, "--format", "text", "-n", "3")
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        text = proc.stdout.decode()
        self.assertIn("RSS ", text)
        self.assertIn("gc: counts ", text)
        self.assertIn("tracemalloc is off", text)
        c = self.counts()
        self.assertEqual((c["sizeof"], c["getattr"], c["gc_imported"]), (0, 0, False))  # nothing of the program ran

    def test_tracemalloc_for_a_while_then_off_again(self):
        p = self.start_target(MEMORY)
        data = self.answer("memory", p.pid, "--tracemalloc", "0.5", "-n", "5")
        tm = data["tracemalloc"]
        self.assertTrue(tm["tracing"])
        self.assertEqual(tm["since"], "in 0.5 s")
        top = tm["grew"][0]
        self.assertEqual((os.path.basename(top["filename"]), top["lineno"]), ("target.py", self.grow_line()))
        self.assertGreater(top["growth_bytes"], 0)
        self.assertLessEqual(len(tm["grew"]), 5)
        rounds = self.counts()["rounds"]
        while self.counts()["rounds"] < rounds + 3:
            time.sleep(0.02)
        self.assertFalse(self.counts()["tracing"])  # off again, as it was
        self.assertEqual(self.counts()["sizeof"], 0)

    def test_sites_since_the_last_answer_when_the_program_traces(self):
        p = self.start_target(MEMORY.replace("import tracemalloc", "import tracemalloc; tracemalloc.start()"))
        first = self.answer("memory", p.pid)["tracemalloc"]
        self.assertEqual(first["since"], "since tracing started")
        rounds = self.counts()["rounds"]
        while self.counts()["rounds"] < rounds + 20:
            time.sleep(0.02)
        second = self.answer("memory", p.pid)["tracemalloc"]
        self.assertTrue(second["since"].startswith("in the "), second["since"])
        self.assertIn(("target.py", self.grow_line()),
                      [(os.path.basename(s["filename"]), s["lineno"]) for s in second["grew"]])
        self.assertTrue(self.counts()["tracing"])  # the program's tracing is left on

    def grow_line(self):
        with open(os.path.join(self.dir, "target.py")) as f:
            return [i for i, l in enumerate(f, 1) if "the line that allocates" in l][0]

    def test_bad_arguments(self):
        p = self.start_target(MEMORY)
        for args, said in ((["-n", "0"], "-n takes a number of rows"), (["-n", "x"], "-n takes a number"),
                           (["-n", "100000"], "-n takes"), (["--sort", "size"], "--sort takes bytes or count"),
                           (["--tracemalloc", "0"], "--tracemalloc takes seconds"),
                           (["--tracemalloc", "1e9"], "--tracemalloc takes seconds"),
                           (["--tracemalloc", "nan"], "--tracemalloc takes seconds"),
                           (["--tracemalloc"], "--tracemalloc needs a value"), (["--bogus"], "unexpected argument")):
            proc = self.live("memory", p.pid, *args)
            self.assertEqual(proc.returncode, 1, args)
            self.assertIn(said, proc.stderr.decode())
            self.assertEqual(len(proc.stderr.decode().strip().splitlines()), 1)


BUSY = r"""
stop = threading.Event()

def leaf(x):
    return x * 2

def hot():
    s = 0
    for i in range(300):
        s += leaf(i)
    return s

def busy():  # CPU-bound: gives up the GIL only when the interpreter asks it to
    while not stop.is_set():
        hot()

def sleeper():
    while not stop.wait(0.01):
        pass

threading.Thread(target=busy, name="busy", daemon=True).start()
threading.Thread(target=sleeper, name="sleepy", daemon=True).start()
try:
    serve(lambda: None)
finally:
    stop.set()
"""


class TopTarget(LiveTarget):
    def rounds(self, proc):
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        lines = [json.loads(l) for l in proc.stdout.decode().splitlines()]
        self.assertTrue(all((l["type"], l["command"]) == ("result", "top") for l in lines))
        return [l["data"] for l in lines]


class TopTest(TopTarget):

    def test_where_the_cpu_time_goes_round_after_round(self):
        p = self.start_target(BUSY)
        rounds = self.rounds(self.live("top", p.pid, "-i", "0.5", "-n", "2", "--rows", "5"))
        self.assertEqual([r["round"] for r in rounds], [1, 2])
        for r in rounds:
            self.assertGreater(r["samples"], 0)
            self.assertLessEqual(len(r["functions"]), 5)
            by_name = {f["function"]: f for f in r["functions"]}
            hot, leaf = by_name["__main__.hot"], by_name["__main__.leaf"]
            self.assertGreater(hot["total_ms"], 0)
            self.assertGreaterEqual(hot["total_ms"], hot["self_ms"])
            self.assertGreaterEqual(hot["total_ms"], leaf["total_ms"])  # hot calls leaf
            self.assertEqual(leaf["self_ms"], leaf["total_ms"])
            self.assertEqual((os.path.basename(hot["filename"]), hot["calls_per_s"]), ("target.py", None))
            # the sleeping thread spends (next to) no CPU time: not where the time goes
            self.assertIn(r["functions"][0]["function"], ("__main__.hot", "__main__.leaf"))
            sleepy = by_name.get("__main__.sleeper", {"total_ms": 0})
            self.assertLess(sleepy["total_ms"] * 10, hot["total_ms"])
            self.assertEqual(r["functions"], sorted(r["functions"], key=lambda f: -f["self_ms"]))
        proc = self.live("top", p.pid, "-i", "0.3", "-n", "1", "--format", "text")
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        text = proc.stdout.decode()
        self.assertTrue(text.startswith("callscope top: round 1, "), text)
        self.assertIn("__main__.hot (", text)
        self.assertNotIn("\033", text)  # not a terminal: no redrawing

    def test_other_clients_are_served_while_top_samples_and_ctrl_c_ends_it(self):
        p = self.start_target(BUSY)
        top = self.popen_live("top", p.pid, "-i", "1000", "-n", "1")
        data = json.loads(self.live("thread", p.pid).stdout)["data"]
        self.assertIn("sleepy", [t["name"] for t in data["threads"]])
        self.assertIsNone(top.poll())  # still sampling its first round
        top.send_signal(signal.SIGINT)
        top.communicate()
        self.assertEqual(top.returncode, 1)  # no round printed yet
        top = self.popen_live("top", p.pid, "-i", "0.2")
        first = json.loads(top.stdout.readline())
        self.assertEqual(first["data"]["round"], 1)
        top.send_signal(signal.SIGINT)
        top.communicate()
        self.assertEqual(top.returncode, 0)

    def test_bad_arguments(self):
        p = self.start_target(BUSY)
        for args, said in ((["-i", "0"], "-i takes a number from 0.1"), (["-i", "x"], "-i takes a number"),
                           (["-i", "nan"], "-i takes a number"), (["-n", "0"], "-n takes a number from 1"),
                           (["-n", "1.5"], "-n takes a whole number"), (["--rows", "0"], "--rows takes"),
                           (["--hz", "5000"], "--hz takes a number from 1 to 1000"), (["-i"], "-i takes"),
                           (["--bogus"], "unexpected argument"), (["--calls", "x"], "unexpected argument 'x'"),
                           (["--calls", "-i", "--calls"], "-i takes a number")):
            proc = self.live("top", p.pid, *args)
            self.assertEqual(proc.returncode, 1, args)
            self.assertIn(said, proc.stderr.decode())
            self.assertEqual(len(proc.stderr.decode().strip().splitlines()), 1)
        proc = self.live("thread", p.pid, "--calls")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("unexpected argument '--calls'", proc.stderr.decode())
        self.assertEqual(len(proc.stderr.decode().strip().splitlines()), 1)
        # no live process there: one line, before anything is counted anywhere
        self.tell(p, "quit")
        p.wait(timeout=30)
        proc = self.live("top", p.pid, "--calls")
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("no process %d" % p.pid, proc.stderr.decode())
        self.assertEqual(len(proc.stderr.decode().strip().splitlines()), 1)


# A known shape of calls: hot() calls leaf() 300 times, and leaf() is where
# the time goes, so both are in every round's table.
COUNTED = r"""
stop = threading.Event()

def leaf(x):
    for _ in range(40):
        x += 1
    return x

def hot():
    s = 0
    for i in range(300):
        s += leaf(i)
    return s

def busy():
    while not stop.is_set():
        hot()

threading.Thread(target=busy, name="busy", daemon=True).start()
try:
    serve(lambda: None)
finally:
    stop.set()
"""


class TopCallsTest(TopTarget):
    """`top --calls`: every call counted while it runs, nothing after."""

    def assert_idle_again(self, p, idle):
        """The process as it was before the counting client came: the agent
        removes what it installed once it sees the client leave."""
        for _ in range(200):
            now = self.state(p)
            if now == idle:
                break
            time.sleep(0.02)
        self.assertEqual(now, idle)

    def assert_counting(self, p):
        during = self.state(p)
        if MONITORING:  # a global PY_START of callscope's tool
            self.assertIn("callscope-live", during["tools"])
            self.assertTrue(during["global_events"] & sys.monitoring.events.PY_START)
        elif "eval_frame_is_default" in during:  # 3.9-3.11: an evaluator of callscope's sees every frame
            self.assertFalse(during["eval_frame_is_default"])
        return during

    def check_counts(self, rounds):
        """The counts of the rounds that sampled the busy thread (a loaded
        machine may leave it unsampled for a round), at least one."""
        checked = 0
        for r in rounds:
            by_name = {f["function"]: f for f in r["functions"]}
            self.assertTrue(all(f["calls"] is not None for f in r["functions"]), r)
            hot, leaf = by_name.get("__main__.hot"), by_name.get("__main__.leaf")
            if not hot:
                continue
            checked += 1
            self.assertGreater(hot["calls"], 0)
            self.assertGreater(hot["calls_per_s"], 0)
            for f in (hot, leaf) if leaf else (hot,):
                self.assertAlmostEqual(f["calls_per_s"], f["calls"] / r["interval_s"],
                                       delta=f["calls_per_s"] / 100 + 1)
            if leaf:
                self.assertGreater(leaf["calls_per_s"], 0)
                # each hot() calls leaf() 300 times; the end of a round may cut one
                self.assertLessEqual(abs(leaf["calls"] - 300 * hot["calls"]), 300, (hot, leaf))
            # busy() started before counting and never returns: a call is its start
            self.assertEqual(by_name.get("__main__.busy", {"calls": 0})["calls"], 0)
        self.assertGreater(checked, 0, rounds)

    def next_rounds(self, top, n):
        """The next n rounds a running `top --format jsonl` prints."""
        return [json.loads(top.stdout.readline())["data"] for _ in range(n)]

    def fresh_rounds(self, top, n):
        """The next n rounds made from now on: those printed already are
        skipped (the client's output is unbuffered here, so select sees
        every line waiting)."""
        while select.select([top.stdout], [], [], 0)[0]:
            top.stdout.readline()
        top.stdout.readline()  # the round under way now began before
        return self.next_rounds(top, n)

    def test_calls_per_function_while_top_runs_and_none_after(self):
        p = self.start_target(COUNTED)
        idle = self.state(p)
        rounds = self.rounds(self.live("top", p.pid, "-i", "0.5", "-n", "3", "--rows", "10", "--calls"))
        self.assertEqual([r["round"] for r in rounds], [1, 2, 3])
        self.check_counts(rounds)
        proc = self.live("top", p.pid, "-i", "0.3", "-n", "3", "--calls", "--format", "text")
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        lines = proc.stdout.decode().splitlines()
        self.assertEqual(lines[1].split(), ["SELF%", "TOTAL%", "SELF", "ms", "TOTAL", "ms", "CALLS/s", "FUNCTION"])
        hot = [l.split() for l in lines if "__main__.hot (" in l]
        self.assertTrue(hot, lines)
        self.assertTrue(all(float(h[4]) > 0 for h in hot), hot)  # the calls/s column
        # the client gone, the counting went with it
        self.assert_idle_again(p, idle)
        for r in self.rounds(self.live("top", p.pid, "-i", "0.3", "-n", "1")):
            self.assertTrue(r["functions"])
            self.assertEqual({(f["calls"], f["calls_per_s"]) for f in r["functions"]}, {(None, None)})
        proc = self.live("top", p.pid, "-i", "0.3", "-n", "1", "--format", "text")
        self.assertNotIn("CALLS/s", proc.stdout.decode())

    def test_the_counting_goes_with_its_client_however_it_ends(self):
        p = self.start_target(COUNTED)
        idle = self.state(p)
        for stop in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            top = self.popen_live("top", p.pid, "-i", "0.2", "--calls")
            self.check_counts(self.next_rounds(top, 3))
            self.assert_counting(p)
            top.send_signal(stop)
            top.communicate(timeout=30)
            if stop != signal.SIGKILL:
                self.assertEqual(top.returncode, 0)
            self.assert_idle_again(p, idle)

    def test_reset_and_detach_end_it_and_leave_the_process_as_it_was(self):
        p = self.start_target(COUNTED, attach=False)
        before = self.state(p)
        self.attach(p)
        idle = self.state(p)
        top = self.popen_live("top", p.pid, "-i", "0.2", "--calls")
        self.check_counts(self.next_rounds(top, 3))
        proc = self.live("reset", p.pid, "--all")
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        self.assertEqual(json.loads(proc.stdout)["data"]["removed"], 1)
        out, _ = top.communicate(timeout=30)
        self.assertEqual(top.returncode, 0)
        last = json.loads(out.decode().splitlines()[-1])
        self.assertEqual(last, {"type": "event", "command": "top", "event": "top_stopped", "data": {"reason": "reset"}})
        self.assert_idle_again(p, idle)

        top = self.popen_live("top", p.pid, "-i", "0.2", "--calls", "--format", "text")
        self.assertIn(b"CALLS/s", top.stdout.readline() + top.stdout.readline())
        proc = self.live("detach", p.pid)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        _, err = top.communicate(timeout=30)
        self.assertEqual(top.returncode, 0)
        self.assertEqual(err.decode().strip(), "callscope: top was stopped by a detach")
        for _ in range(300):
            if not os.path.exists(self.socket_path(p.pid)):
                break
            time.sleep(0.01)
        self.assert_idle_again(p, before)

    def test_two_counting_clients_and_a_trace_at_once(self):
        p = self.start_target(COUNTED)
        idle = self.state(p)
        a = subprocess.Popen([CALLSCOPE, "top", str(p.pid), "-i", "0.2", "--calls"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, bufsize=0)
        self.check_counts(self.next_rounds(a, 3))
        self.check_counts(self.rounds(self.live("top", p.pid, "-i", "0.3", "-n", "3", "--calls")))
        # a trace meanwhile sees its own calls only: hot() and the 300 leaf() calls it makes
        trace = self.live("trace", p.pid, "__main__.hot", "-n", "1", "--format", "jsonl")
        self.assertEqual(trace.returncode, 0, trace.stderr.decode())
        tree = json.loads(trace.stdout)["call_tree"][0]
        self.assertEqual(tree["function"], "__main__.hot")
        self.assertEqual([c["function"] for c in tree["children"]], ["__main__.leaf"] * 300)
        # the first client still counts after the others are gone
        self.assert_counting(p)
        self.check_counts(self.fresh_rounds(a, 3))
        a.kill()
        a.communicate(timeout=30)
        self.assert_idle_again(p, idle)


if __name__ == "__main__":
    unittest.main()
