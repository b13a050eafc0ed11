"""What is recorded for each call: arguments by name, rendered values,
results, exceptions, generators, coroutines, options."""

import json
import math
import os
import sys
import unittest

from tests.py.support import INLINE_CALLS, MONITORING, TracedProgram


class Arguments(TracedProgram):
    def test_every_kind_of_parameter_by_name(self):
        self.run_traced("""
            def f(a, b=2, *rest, c, d=4, **extra):
                return a
            def g(x, /, y):
                return y
            f(1, c=3, e=5)
            f(1, 2, 3, c=None, d="s")
            g(7, y=8)
        """)
        first, second = self.calls("__main__.f")
        self.assertEqual(self.args_of(first), {"a": "1", "b": "2", "c": "3", "d": "4", "rest": "()",
                                               "extra": "{'e': 5}"})
        self.assertEqual(self.args_of(second)["rest"], "(3,)")
        self.assertEqual(self.args_of(second)["d"], "'s'")
        self.assertEqual(self.args_of(second)["c"], "None")
        self.assertEqual(self.args_of(self.calls("__main__.g")[0]), {"x": "7", "y": "8"})

    def test_values_render_without_running_program_code(self):
        self.run_traced("""
            class Loud:
                def __repr__(self):
                    raise SystemExit("repr must not run")
            class Num(int):
                pass
            class Flag(int):  # as an IntFlag with a high bit: too big for a C long
                def __str__(self):
                    raise SystemExit("str must not run")
                __repr__ = __str__
            def f(v):
                return v
            for v in [0, -5, 2**70, 1.5, 1e16, float("inf"), True, None, "it's", b"\\xff\\x00a",
                      [1, [2, [3, [4]]]], (1,), {"k": [1]}, {3}, frozenset(), Loud(), Num(3),
                      list(range(100)), Flag(2**70)]:
                f(v)
        """)
        got = [self.args_of(r)["v"] for r in self.calls("__main__.f")]
        self.assertEqual(got[:10], ["0", "-5", str(2**70), "1.5", "1e+16", "inf", "True", "None", '"it\'s"',
                                    "b'\\xff\\x00a'"])
        self.assertTrue(got[10].startswith("[1, [2, "), got[10])
        self.assertEqual(got[11:15], ["(1,)", "{'k': [1]}", "{3}", "frozenset()"])
        self.assertRegex(got[15], r"^<__main__\.Loud object at 0x[0-9a-f]+>$")
        self.assertIn("Num", got[16])
        self.assertIn("…", got[17])
        self.assertIn("100", got[17])
        self.assertIn(str(2**70), got[18])
        self.assertIn("Flag", got[18])
        # each argument's type is recorded with it (calls.arg_types)
        types = [json.loads(r["arg_types"])["v"] for r in self.calls("__main__.f")]
        self.assertEqual(types, ["int", "int", "int", "float", "float", "float", "bool", "NoneType", "str", "bytes",
                                 "list", "tuple", "dict", "set", "frozenset", "__main__.Loud", "__main__.Num", "list",
                                 "__main__.Flag"])

    def test_a_dict_passed_again_shows_what_it_holds_at_each_call(self):
        # The same dict at every call, changed between some of them in every
        # way a dict can change; each call shows it as it was then.
        self.run_traced("""
            def f(d):
                return len(d)
            class Holder:
                pass
            d = {"a": 1, "b": "x"}
            f(d); f(d)
            d["c"] = 2.5; f(d)
            d["a"] = 1; f(d)          # the same value again
            d["a"] = True; f(d)       # equal, but another value
            del d["b"]; f(d)
            d.update(e=None); f(d)
            d.pop("e"); f(d)
            d.setdefault("z", "new"); f(d)
            d.setdefault("z", "other"); f(d)
            d.popitem(); f(d)
            d.update([("m", -7)]); f(d)
            d.__init__(n=8); f(d)
            d.clear(); f(d)
            d["s"] = "one"; f(d)
            d["s"] = "two"; f(d)
            h = Holder()
            h.__dict__.update(p=1)
            f(h.__dict__)
            h.p = 2; f(h.__dict__)
            h.q = 3; f(h.__dict__)
            for i in range(3):        # new dicts, likely at a freed one's address
                f({"i": i})
            inner = [1]
            e = {"l": inner}
            f(e); inner.append(2); f(e)   # a list inside: its change shows too
        """)
        got = [self.args_of(r)["d"] for r in self.calls("__main__.f")]
        self.assertEqual(got, [
            "{'a': 1, 'b': 'x'}", "{'a': 1, 'b': 'x'}", "{'a': 1, 'b': 'x', 'c': 2.5}",
            "{'a': 1, 'b': 'x', 'c': 2.5}", "{'a': True, 'b': 'x', 'c': 2.5}", "{'a': True, 'c': 2.5}",
            "{'a': True, 'c': 2.5, 'e': None}", "{'a': True, 'c': 2.5}", "{'a': True, 'c': 2.5, 'z': 'new'}",
            "{'a': True, 'c': 2.5, 'z': 'new'}", "{'a': True, 'c': 2.5}", "{'a': True, 'c': 2.5, 'm': -7}",
            "{'a': True, 'c': 2.5, 'm': -7, 'n': 8}", "{}", "{'s': 'one'}", "{'s': 'two'}",
            "{'p': 1}", "{'p': 2}", "{'p': 2, 'q': 3}",
            "{'i': 0}", "{'i': 1}", "{'i': 2}",
            "{'l': [1]}", "{'l': [1, 2]}"])

    def test_functions_classes_and_modules_by_name(self):
        self.run_traced("""
            import json
            class K:
                pass
            def f(*a):
                return a
            f(K, json, len, f)
        """)
        self.assertEqual(json.loads(self.calls("__main__.f")[0]["arg_types"]), {"a": "tuple"})
        self.assertEqual(self.calls("__main__.f")[0]["result"][:65],
                         "(<class '__main__.K'>, <module 'json'>, <built-in function len>, ")
        self.assertRegex(self.calls("__main__.f")[0]["result"], r"<function f at 0x[0-9a-f]+>\)$")

    def test_methods_and_properties_are_named_by_their_class(self):
        self.run_traced("""
            class Box:
                def __init__(self):
                    self._v = 1
                @property
                def v(self):
                    return self._v
                @v.setter
                def v(self, value):
                    self._v = value
                @classmethod
                def make(cls):
                    return cls()
                def later(self):  # self is kept in a cell for the closure
                    return (lambda: self._v)()
            b = Box.make()
            b.v = b.v + 1
            b.later()
        """)
        self.assertEqual(len(self.calls("__main__.Box.later")), 1)
        self.assertEqual(len(self.calls("__main__.Box.make")), 1)
        self.assertEqual(len(self.calls("__main__.Box.__init__")), 1)
        self.assertEqual(len(self.calls("__main__.Box.v")), 2)  # the getter, then the setter

    def test_object_shows_its_type_as_it_is_at_the_call(self):
        self.run_traced("""
            class Thing:
                def touch(self):
                    return None
            t = Thing()
            t.touch()
            Thing.__module__ = "renamed"
            t.touch()
        """)
        first, second = [self.args_of(r)["self"] for r in self.calls("__main__.Thing.touch")]
        self.assertRegex(first, r"^<__main__\.Thing object at 0x")
        self.assertRegex(second, r"^<renamed\.Thing object at 0x")

    def test_huge_string_is_cut(self):
        self.run_traced("""
            def f(s):
                return len(s)
            f("x" * 10_000_000)
        """, options=["--max-string", "50"])
        row = self.calls("__main__.f")[0]
        shown = self.args_of(row)["s"]
        self.assertTrue(shown.startswith("'xxxx"))
        self.assertIn("…", shown)
        self.assertLess(len(shown), 200)
        self.assertEqual(row["result"], "10000000")

    def test_non_utf8_bytes_and_surrogates(self):
        self.run_traced("""
            def f(b, s):
                return b
            f(b"\\x80\\xfe\\xff", "a\\udcff")
        """)
        row = self.calls("__main__.f")[0]
        self.assertEqual(self.args_of(row)["b"], "b'\\x80\\xfe\\xff'")
        self.assertEqual(row["result"], "b'\\x80\\xfe\\xff'")
        self.assertIn("udcff", self.args_of(row)["s"])

    def test_repr_option_survives_a_raising_repr(self):
        self.run_traced("""
            class Good:
                def __repr__(self):
                    return "Good!"
            class Bad:
                def __repr__(self):
                    raise ValueError("no")
            def f(x):
                return x
            f(Good())
            f(Bad())
            print("done")
        """, options=["--repr"])
        good, bad = self.calls("__main__.f")
        self.assertEqual(self.args_of(good)["x"], "Good!")
        self.assertIn("ValueError", self.args_of(bad)["x"])
        self.assertEqual([json.loads(r["arg_types"])["x"] for r in (good, bad)], ["__main__.Good", "__main__.Bad"])
        self.assertEqual(self.calls("__main__.Bad.__repr__"), [])  # the guarded repr is not traced

    def test_a_slow_repr_is_called_once(self):
        self.run_traced("""
            import time
            class Slow:
                calls = 0
                def __repr__(self):
                    Slow.calls += 1
                    time.sleep(0.05)
                    return "Slow!"
            def f(x):
                return None
            for i in range(5):
                f(Slow())
            print(Slow.calls)
        """, options=["--repr"])
        shown = [self.args_of(r)["x"] for r in self.calls("__main__.f")]
        self.assertEqual(shown[0], "Slow!")
        self.assertTrue(all(s.startswith("<__main__.Slow object at 0x") for s in shown[1:]), shown)

    def test_a_repr_that_never_returns_is_stopped(self):
        # Untraced this program ends at once (nothing calls repr); under
        # --repr each spinning repr is stopped after the bound, in every
        # thread, even one that swallows the first stop.
        proc = self.run_traced("""
            import threading
            class Spin:
                def __repr__(self):
                    while True:
                        try:
                            sum(range(100))
                        except Exception:
                            pass
            class SpinToo(Spin):  # a type of its own: Spin is shown by address once known to be slow
                pass
            class Stubborn:
                def __repr__(self):
                    try:
                        while True:
                            pass
                    except BaseException:
                        pass
                    while True:
                        pass
            def f(x):
                return 7
            results = [f(Spin())]
            worker = threading.Thread(target=lambda: results.append(f(SpinToo())))
            worker.start()
            worker.join()
            results.append(f(Stubborn()))
            print("done", results)
        """, options=["--repr"])
        self.assertEqual(proc.stdout.decode(), "done [7, 7, 7]\n")
        shown = [self.args_of(r)["x"] for r in self.calls("__main__.f")]
        self.assertEqual(len(shown), 3)
        for text in shown:
            self.assertRegex(text, r"^<__main__\.(Spin|SpinToo|Stubborn) object at 0x[0-9a-f]+; repr raised "
                                   r"callscope\.ReprTimeout \(after 1 s\)>$")
        self.assertEqual(len({r["tid"] for r in self.calls("__main__.f")}), 2)

    def test_no_args_records_timing_only(self):
        self.run_traced("def f(x):\n    return x\nf(3)\n", options=["--no-args"])
        row = self.calls("__main__.f")[0]
        self.assertIsNone(row["args"])
        self.assertIsNone(row["result"])
        self.assertGreater(row["duration_ns"], 0)

    def test_no_args_keeps_the_call_tree(self):
        self.run_traced("""
            def leaf(i):
                return i
            def mid():
                leaf(1)
                leaf(2)
                return leaf(3)
            def main():
                mid()
                mid()
            main()
        """, options=["--no-args"])
        mids = self.calls("__main__.mid")
        leaves = self.calls("__main__.leaf")
        main = self.calls("__main__.main")
        self.assertEqual((len(main), len(mids), len(leaves)), (1, 2, 6))
        self.assertEqual({r["parent_id"] for r in mids}, {main[0]["id"]})
        self.assertEqual(sorted(r["parent_id"] for r in leaves), sorted([m["id"] for m in mids] * 3))
        for r in main + mids + leaves:
            self.assertIsNone(r["exception"], r)
            self.assertIsNotNone(r["duration_ns"], r)

    def test_no_args_with_threads_names_them(self):
        """Timing only, the standard library traced too: a thread's start
        (where callscope learns its name) is recorded like any call."""
        proc = self.run_traced("""
            import threading
            def work():
                return 1
            t = threading.Thread(target=work, name="worker-7")
            t.start()
            t.join()
            print("done")
        """, options=["--no-args"])
        self.assertEqual(proc.stdout, b"done\n")
        self.assertIn(("worker-7",), self.query("select name from threads"))
        self.assertEqual(len(self.calls("__main__.work")), 1)


class Results(TracedProgram):
    def test_exception_is_recorded(self):
        self.run_traced("""
            def boom(x):
                raise ValueError("bad value %d" % x)
            try:
                boom(4)
            except ValueError:
                pass
        """)
        row = self.calls("__main__.boom")[0]
        self.assertIsNone(row["result"])
        self.assertEqual(row["exception"], "ValueError: bad value 4")

    def test_exceptions_raised_by_c_code_read_as_python_prints_them(self):
        # Before 3.12 such an exception may not be made yet when its frame
        # ends: its value is then the arguments, or nothing.
        self.run_traced("""
            def missing(d, k):
                return d[k]
            def exhausted():
                return next(iter([]))
            for k in ("k", (1, 2), 5):
                try:
                    missing({}, k)
                except KeyError:
                    pass
            try:
                exhausted()
            except StopIteration:
                pass
        """)
        self.assertEqual([r["exception"] for r in self.calls("__main__.missing")],
                         ["KeyError: 'k'", "KeyError: (1, 2)", "KeyError: 5"])
        self.assertEqual(self.calls("__main__.exhausted")[0]["exception"], "StopIteration")

    def test_stop_iteration_out_of_a_generator_is_the_runtime_error_its_caller_gets(self):
        proc = self.run_traced("""
            def gen():
                yield 1
                next(iter([]))
            try:
                list(gen())
            except RuntimeError as e:
                print(e)
        """)
        self.assertEqual(proc.stdout.decode().splitlines(), ["generator raised StopIteration"])
        self.assertEqual(self.calls("__main__.gen")[-1]["exception"], "RuntimeError: generator raised StopIteration")

    SEVERAL_FRAMES = """
        def boom(x):
            raise KeyError(x)
        def middle(x):
            return boom(x)
        def report(e):
            return repr(e)
        try:
            middle("k")
        except KeyError as e:
            report(e)
        def fatal():
            raise RuntimeError("the end")
        fatal()
    """

    def test_exception_through_several_frames_on_every_python(self):
        # Under the profile function (--deep-recursion before 3.12) the type
        # is learnt in the handler that catches it, so a handler that calls
        # anything (or an uncaught exception) names it; C functions the
        # exception leaves on the way are recorded in their place.
        for options in ((), ("--c-calls",), ("--deep-recursion",), ("--deep-recursion", "--c-calls")):
            with self.subTest(options=options):
                proc = self.run_traced(self.SEVERAL_FRAMES, options=options, check=False)
                self.assertEqual(proc.returncode, 1)
                self.assertEqual(self.calls("__main__.boom")[0]["exception"], "KeyError: 'k'")
                self.assertEqual(self.calls("__main__.middle")[0]["exception"], "KeyError: 'k'")
                self.assertEqual(self.calls("__main__.fatal")[0]["exception"], "RuntimeError: the end")

    def test_nested_calls_parent_depth_and_self_time(self):
        self.run_traced("""
            def leaf():
                return 1
            def mid():
                return leaf() + leaf()
            mid()
        """)
        mid = self.calls("__main__.mid")[0]
        leaves = self.calls("__main__.leaf")
        self.assertEqual([l["parent_id"] for l in leaves], [mid["id"], mid["id"]])
        self.assertEqual([l["depth"] for l in leaves], [mid["depth"] + 1] * 2)
        self.assertEqual(mid["result"], "2")
        self.assertLessEqual(mid["self_ns"], mid["duration_ns"])
        self.assertGreaterEqual(mid["duration_ns"], sum(l["duration_ns"] for l in leaves))

    def test_recursion_5000_deep(self):
        self.run_traced("""
            import sys
            sys.setrecursionlimit(20000)
            def down(n):
                return 0 if n == 0 else 1 + down(n - 1)
            print(down(5000))
        """)
        rows = self.calls("__main__.down")
        self.assertEqual(len(rows), 5001)
        self.assertEqual(max(r["depth"] for r in rows) - min(r["depth"] for r in rows), 5000)
        self.assertEqual(rows[0]["result"], "5000")

    DEEP = """
        import sys, threading
        sys.setrecursionlimit(250000)
        def down(n):
            return 0 if n == 0 else 1 + down(n - 1)
        def deepest():
            try:
                print(down(200000))
            except RecursionError:
                print("RecursionError")
        deepest()
        t = threading.Thread(target=deepest)
        t.start()
        t.join()
        print("still running")
    """

    @unittest.skipUnless(INLINE_CALLS, "before 3.11 such recursion crashes untraced")
    def test_recursion_past_the_stack_is_a_recursion_error_not_a_crash(self):
        # Through the frame evaluator each call takes C stack: near the end
        # of it the call fails as Python's own deep C recursion does.
        proc = self.run_traced(self.DEEP, options=("--no-args",))
        self.assertEqual(proc.stdout.decode().splitlines(), ["RecursionError", "RecursionError", "still running"])
        rows = self.calls("__main__.down")
        self.assertGreater(len(rows), 10000)  # as deep as the stack allows, well past the 5,000 of 3.12's C limit

    @unittest.skipUnless(INLINE_CALLS, "--deep-recursion matters on 3.11+")
    def test_deep_recursion_goes_as_deep_as_untraced(self):
        script = self.write("deep.py", self.DEEP)
        plain = self.run_plain(script)
        self.assertEqual(plain.stdout.decode().splitlines(), ["200000", "200000", "still running"])
        proc = self.run_traced(self.DEEP, options=("--no-args", "--deep-recursion"))
        self.assertEqual(proc.stdout, plain.stdout)
        self.assertEqual(self.query("select count(*) from call_rows r join functions f on f.id = r.function_id"
                                    " where f.qualname = 'down'")[0][0], 400002)

    @unittest.skipUnless(getattr(getattr(sys, "_jit", None), "is_available", lambda: False)(),
                         "this Python has no JIT")
    def test_every_call_is_recorded_under_the_jit(self):
        # PYTHON_JIT=1 (3.14+) compiles the hot loop; both hook families
        # must still see each call it makes.
        script = self.write("jit.py", """
            import sys
            def leaf(i):
                return i + 1
            def loop(n):
                t = 0
                for i in range(n):
                    t += leaf(i)
                return t
            class C:
                def __init__(self, x):
                    self.x = x
            for i in range(3000):
                C(i)
            print(sys._jit.is_enabled(), loop(100000))
        """)
        for options in ((), ("--no-stdlib",)):
            proc = self.callscope("run", "--python", sys.executable, "-o", self.db, *options, script,
                                  env=dict(os.environ, PYTHON_JIT="1"))
            self.assertEqual(proc.stdout.decode().split(), ["True", "5000050000"], proc.stderr.decode())
            self.assertEqual(len(self.calls("__main__.leaf")), 100000, options)
            self.assertEqual(len(self.calls("__main__.C.__init__")), 3000, options)

    def test_generator_resumes_are_separate_calls(self):
        self.run_traced("""
            def gen(n):
                for i in range(n):
                    yield i * 10
            print(list(gen(3)))
        """)
        rows = self.calls("__main__.gen")
        self.assertEqual(len(rows), 4)
        self.assertEqual(self.args_of(rows[0]), {"n": "3"})
        self.assertEqual([r["result"] for r in rows], ["0", "10", "20", "None"])
        self.assertEqual([r["flags"] & 1 for r in rows], [0, 1, 1, 1])  # resumes
        self.assertEqual([r["flags"] & 2 for r in rows], [2, 2, 2, 0])  # suspended by yield

    def test_every_init_of_a_class_is_recorded(self):
        # The interpreter specialises `C(i)` after a few calls; each __init__
        # must still be there (3.13 runs it past a frame evaluator).
        self.run_traced("""
            class C:
                def __init__(self, x):
                    self.x = x
            for i in range(1000):
                C(i)
        """)
        rows = self.calls("__main__.C.__init__")
        self.assertEqual(len(rows), 1000)
        self.assertEqual(self.args_of(rows[-1])["x"], "999")

    def test_throw_into_a_generator_or_task_not_started(self):
        # The thrown exception is pending while the start (with arguments
        # whose capture clears Python errors: -1, a set) is recorded.
        proc = self.run_traced("""
            import asyncio
            def gen(n, s):
                yield n
            try:
                gen(-1, {1, 2}).throw(ValueError("thrown"))
            except ValueError as e:
                print("caught", e)
            async def work(n, s):
                await asyncio.sleep(1)
            async def main():
                task = asyncio.ensure_future(work(-1, {3}))
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    print("cancelled")
            asyncio.run(main())
        """)
        self.assertEqual(proc.stdout.decode().splitlines(), ["caught thrown", "cancelled"])
        self.assertEqual(proc.stderr, b"")
        # Where the frame runs at all (not under sys.monitoring on 3.13, as with --deep-recursion), it ends by the exception.
        for row in self.calls("__main__.gen"):
            self.assertEqual(row["exception"], "ValueError: thrown")

    @unittest.skipUnless(INLINE_CALLS, "before 3.11 such recursion crashes untraced")
    def test_deep_c_recursion_between_python_calls_is_a_recursion_error(self):
        # sorted() calls back with a large C frame that costs the
        # interpreter's count one level: the stack, not the count, runs out
        # first unless the evaluator watches it.
        proc = self.run_traced("""
            import sys
            sys.setrecursionlimit(10 ** 6)
            def f(n):
                return 0 if n == 0 else sorted([1], key=lambda x: f(n - 1))[0]
            try:
                f(3000)
            except RecursionError:
                print("RecursionError")
        """, options=("--no-args",))
        self.assertEqual(proc.stdout.decode().splitlines(), ["RecursionError"])

    @unittest.skipUnless(MONITORING, "before 3.12 such recursion crashes untraced: no C recursion limit")
    def test_recursion_through_c_code_meets_the_interpreter_limit_as_untraced(self):
        # Each level passes through functools' C cache wrapper, which counts
        # itself against the interpreter's C recursion limit: the program
        # meets that limit traced as it does untraced.
        source = """
            import functools, sys
            sys.setrecursionlimit(10 ** 6)
            @functools.lru_cache(None)
            def fib(n):
                return n if n <= 1 else fib(n - 1) + fib(n - 2)
            try:
                fib(10000)
                print("no error")
            except RecursionError:
                print("RecursionError")
        """
        plain = self.run_plain(self.write("lru.py", source))
        traced = self.run_traced(source, options=("--no-args",))
        self.assertEqual(traced.stdout, plain.stdout)
        self.assertEqual(plain.stdout.decode().splitlines(), ["RecursionError"])

    def test_recursion_in_a_thread_with_a_small_stack(self):
        # Each call through the frame evaluator takes C stack, traced or left
        # out by a filter: near the end of a 256 KB stack the call fails with
        # RecursionError rather than the program crashing.
        self.write("deep.py", """
            def down(n):
                return 0 if n == 0 else 1 + down(n - 1)
        """)
        for options in (("--no-args",), ("--exclude", "deep")):
            with self.subTest(options=options):
                proc = self.run_traced("""
                    import sys, threading
                    from deep import down
                    def run():
                        try:
                            print(down(900))
                        except RecursionError:
                            print("RecursionError")
                    threading.stack_size(256 * 1024)
                    t = threading.Thread(target=run)
                    t.start()
                    t.join()
                    print("done")
                """, options=options)
                self.assertIn(proc.stdout.decode().splitlines()[0], ("900", "RecursionError"))
                self.assertEqual(proc.stdout.decode().splitlines()[1:], ["done"])

    def test_asyncio(self):
        self.run_traced("""
            import asyncio
            async def work(n):
                await asyncio.sleep(0.01)
                return n * 2
            async def main():
                return await asyncio.gather(work(1), work(2))
            print(asyncio.run(main()))
        """)
        rows = self.calls("__main__.work")
        self.assertGreaterEqual(len(rows), 4)  # a start and a resume each
        self.assertEqual(sorted(r["result"] for r in rows if not r["flags"] & 2), ["2", "4"])
        starts = [self.args_of(r) for r in rows if not r["flags"] & 1]
        self.assertEqual(sorted(a["n"] for a in starts), ["1", "2"])

    def test_c_calls_option(self):
        self.run_traced("""
            import json, math
            def f():
                return len(json.dumps([1, 2]))
            def g():
                return math.sqrt(-1)
            f()
            try:
                g()
            except ValueError:
                pass
        """, options=["--c-calls"])
        names = {r[0] for r in self.query("select function from call_view where flags & 4")}
        self.assertIn("builtins.len", names)
        # Each C call in its place in the tree, and an exception out of one
        # named in the Python function it leaves.
        f, g = self.calls("__main__.f")[0], self.calls("__main__.g")[0]
        self.assertEqual([c["parent_id"] for c in self.calls("builtins.len")].count(f["id"]), 1)
        self.assertEqual([c["parent_id"] for c in self.calls("math.sqrt")], [g["id"]])
        try:  # the message differs between versions (3.14 names the input)
            math.sqrt(-1)
        except ValueError as e:
            self.assertEqual(g["exception"], "ValueError: %s" % e)

    def test_c_calls_of_callscope_itself_are_not_recorded(self):
        # naming the threads running at the start, and telling `run` that
        # the program starts, are done before the hooks go in
        self.run_traced("""
            import threading
            ready = threading.Event()
            t = threading.Thread(target=ready.wait, name="early")
            t.start()
            def f():
                return 1
            f()
            ready.set()
            t.join()
        """, options=["--c-calls", "--no-stdlib"])
        names = {r[0] for r in self.query("select function from call_view")}
        self.assertEqual([n for n in names if "callscope" in n], [])
        self.assertLessEqual({"MainThread", "early"}, {r[0] for r in self.query("select name from threads")})

    def test_c_calls_are_those_of_the_code_recorded(self):
        # not the exec() that starts the program, nor the lock calls of the
        # standard library's shutdown (left out by --no-stdlib)
        self.run_traced("""
            import threading
            def f(x):
                return len(str(x))
            threading.Thread(target=f, args=(1,)).start()
            print(f(3))
        """, options=["--c-calls", "--no-stdlib"])
        self.assertEqual(sorted(r[0] for r in self.query("select function from call_view")),
                         ["__main__.<module>", "__main__.f", "__main__.f", "builtins.len", "builtins.len",
                          "builtins.print"])

    def test_include_and_exclude(self):
        self.write("lib/helper.py", "def help_me(x):\n    return x\n")
        self.run_traced("""
            import sys, os
            sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
            import helper
            def mine():
                return helper.help_me(1)
            mine()
        """, options=["--exclude", "helper"])
        self.assertEqual(len(self.calls("__main__.mine")), 1)
        self.assertEqual(self.calls("helper.help_me"), [])

    def test_include_by_path_and_trace_modules(self):
        self.write("mine/work.py", "def job(x):\n    return x * 2\n")
        source = """
            import sys, os, json
            sys.path.insert(0, os.path.join(os.path.dirname(__file__), "mine"))
            import work
            def top():
                return work.job(json.loads("2"))
            top()
        """
        self.run_traced(source, options=["--include", os.path.join(self.dir, "mine")])
        self.assertEqual(len(self.calls("work.job")), 1)
        self.assertEqual(self.calls("__main__.top"), [])
        self.assertEqual(self.query("select count(*) from call_view where module like 'json%'"), [(0,)])
        os.environ["TRACE_MODULES"] = os.path.join(self.dir, "mine")
        try:
            self.run_traced(source)
        finally:
            del os.environ["TRACE_MODULES"]
        self.assertEqual(len(self.calls("work.job")), 1)
        self.assertEqual(self.calls("__main__.top"), [])

    def test_no_stdlib(self):
        self.run_traced("import json\ndef f():\n    return json.dumps({'a': 1})\nf()\n", options=["--no-stdlib"])
        self.assertEqual(len(self.calls("__main__.f")), 1)
        self.assertEqual(self.query("select count(*) from call_view where module like 'json%'"), [(0,)])


if __name__ == "__main__":
    unittest.main()
