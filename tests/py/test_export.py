"""`callscope export` end to end: real programs recorded with the binary,
exported in every format, and checked the way the tools that read them
would (json, xml.etree), against what the database says."""

import codecs
import collections
import decimal
import json
import os
import re
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
import xml.etree.ElementTree as ET

from tests.py.support import CALLSCOPE, LIB, TracedProgram, calls_as_late_rows, on_terminal, query_recording

FORMATS = ("perfetto", "chrome-json", "firefox", "speedscope", "folded", "svg", "jsonl")

# Nested calls, a named thread, a generator, an exception and a child process.
PROGRAM = """
import subprocess, sys, threading

def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

def numbers():
    yield 1
    yield 2

def fail():
    raise ValueError("bad value")

def worker():
    fib(5)

t = threading.Thread(target=worker, name="worker-1")
t.start()
t.join()
sum(numbers())
try:
    fail()
except ValueError:
    pass
fib(4)
subprocess.run([sys.executable, sys.argv[1]], check=True)
"""

CHILD = """
def child_work(k):
    return k * 2
child_work(21)
"""

# Ends inside three calls: they never get a duration.
EXITS = """
import os
def helper():
    return 1
def inner():
    os._exit(0)
def outer():
    helper()
    inner()
outer()
"""

SVG = "{http://www.w3.org/2000/svg}"


# The tables of the Firefox Profiler's processed profile (version 56, see
# src/types/profile.js of firefox-devtools/profiler at that version): every
# column each thread's tables must have.
FIREFOX_TABLES = {
    "samples": {"stack", "timeDeltas", "weight"},
    "markers": {"data", "name", "startTime", "endTime", "phase", "category"},
    "stackTable": {"frame", "prefix"},
    "frameTable": {"address", "inlineDepth", "category", "subcategory", "func", "nativeSymbol", "innerWindowID",
                   "line", "column"},
    "funcTable": {"name", "isJS", "relevantForJS", "resource", "fileName", "lineNumber", "columnNumber"},
    "resourceTable": {"lib", "name", "host", "type"},
    "nativeSymbols": {"libIndex", "address", "name", "functionSize"},
}
FIREFOX_THREAD_FIELDS = {"processType", "processStartupTime", "processShutdownTime", "registerTime",
                         "unregisterTime", "pausedRanges", "name", "isMainThread", "processName", "pid",
                         "tid"} | set(FIREFOX_TABLES)


def load_firefox(text):
    """The profile with every number exact (decimal.Decimal for fractions)."""
    return json.loads(text, parse_float=decimal.Decimal)


def ns(ms):
    """Milliseconds as written (a Decimal or an int) in integer nanoseconds."""
    value = decimal.Decimal(ms) * 1000000
    assert value == value.to_integral_value(), ms
    return int(value)


def firefox_samples(profile, thread):
    """(time in ns, stack as function names root first or None, weight in ns) of each sample."""
    strings = profile["shared"]["stringArray"]
    stacks, frames, funcs = thread["stackTable"], thread["frameTable"], thread["funcTable"]

    def names(stack):
        out = []
        while stack is not None:
            out.append(strings[funcs["name"][frames["func"][stacks["frame"][stack]]]])
            stack = stacks["prefix"][stack]
        return tuple(reversed(out))

    samples, at = [], 0
    for stack, delta, weight in zip(thread["samples"]["stack"], thread["samples"]["timeDeltas"],
                                    thread["samples"]["weight"]):
        at += ns(delta)
        samples.append((at, None if stack is None else names(stack), ns(weight)))
    return samples


def firefox_self_ns(profile):
    """Function name -> the weight of the samples it is the leaf of, in ns, over every thread."""
    out = collections.Counter()
    for thread in profile["threads"]:
        for _, stack, weight in firefox_samples(profile, thread):
            if stack:
                out[stack[-1]] += weight
    return out


def record(directory, source, *args):
    """Records source (written to app.py) into directory/trace.db; returns the path."""
    for name, text in (("app.py", source), ("child.py", CHILD)):
        with open(os.path.join(directory, name), "w") as f:
            f.write(textwrap.dedent(text))
    db = os.path.join(directory, "trace.db")
    proc = subprocess.run([CALLSCOPE, "run", "--no-stdlib", "--python", sys.executable, "-o", db,
                           os.path.join(directory, "app.py")] + list(args),
                          cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if proc.returncode not in (0,):
        raise AssertionError("callscope run failed: %s" % proc.stderr.decode(errors="replace"))
    return db


def db_calls(db):
    """Every call as a dict, with pid/tid/thread, by id."""
    names, rows = query_recording(db, "select c.id, c.parent_id, c.depth, c.start_ns, c.duration_ns, c.self_ns,"
                                      " c.args, c.result, c.exception, c.thread_id, t.pid, t.tid, t.name as thread,"
                                      " f.name as function from calls c join threads t on t.id = c.thread_id"
                                      " join functions f on f.id = c.function_id order by c.id", with_names=True)
    calls = [dict(zip(names, r)) for r in rows]
    return {c["id"]: c for c in calls}


def stack_of(calls, call):
    names = []
    while call is not None:
        names.append(calls[call["id"]]["function"])
        call = calls.get(call["parent_id"])
    return tuple(reversed(names))


class Exported(unittest.TestCase):
    """One recording of PROGRAM shared by the tests, exported once per format."""

    source = PROGRAM
    args = ("child.py",)

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="callscope-export-")
        cls.db = record(cls.dir, cls.source, *[os.path.join(cls.dir, a) for a in cls.args])
        cls.calls = db_calls(cls.db)
        cls.out = {}
        for fmt in FORMATS:
            proc = subprocess.run([CALLSCOPE, "export", cls.db, "--format", fmt], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, timeout=120)
            cls.out[fmt] = proc

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def output(self, fmt):
        proc = self.out[fmt]
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stderr, b"")  # no progress bar without a terminal
        return proc.stdout.decode()

    def named(self, function):
        return [c for c in self.calls.values() if c["function"] == function]

    def expected_end(self, call):
        return call["start_ns"] + call["duration_ns"]


class ChromeJson(Exported):
    def events(self):
        return json.loads(self.output("chrome-json"))["traceEvents"]

    def test_one_complete_event_per_call(self):
        slices = {e["args"]["call_id"]: e for e in self.events() if e["ph"] == "X"}
        self.assertEqual(sorted(slices), sorted(self.calls))
        previous = {}  # (thread, parent) -> the call before, among its callees
        for call in sorted(self.calls.values(), key=lambda c: c["id"]):
            e = slices[call["id"]]
            self.assertEqual(e["name"], call["function"])
            self.assertEqual((e["pid"], e["tid"]), (call["pid"], call["tid"]))
            # The recorded start, unless the clock put it before its caller's
            # start or before the end of the call before it.
            start = call["start_ns"] / 1000
            before = previous.get((call["thread_id"], call["parent_id"]))
            if call["parent_id"]:
                start = max(start, slices[call["parent_id"]]["ts"])
            if before:
                start = max(start, slices[before]["ts"] + slices[before]["dur"])
            previous[call["thread_id"], call["parent_id"]] = call["id"]
            self.assertAlmostEqual(e["ts"], start, places=3)
            shift = start - call["start_ns"] / 1000
            self.assertLess(shift, 50)  # a clock glitch, not a bug
            self.assertAlmostEqual(e["dur"], call["duration_ns"] / 1000, delta=shift + 0.001)

    def test_slices_nest_as_the_calls_do(self):
        by_thread = collections.defaultdict(list)
        for e in self.events():
            if e["ph"] == "X":
                by_thread[e["pid"], e["tid"]].append(e)
        self.assertGreaterEqual(len(by_thread), 3)  # main, worker-1, the child
        for slices in by_thread.values():
            slices.sort(key=lambda e: (e["ts"], -e["dur"], e["args"]["call_id"]))
            stack = []
            for e in slices:
                while stack and self.calls[stack[-1]["args"]["call_id"]]["id"] != self.calls[
                        e["args"]["call_id"]]["parent_id"] and e["ts"] >= stack[-1]["ts"] + stack[-1]["dur"]:
                    stack.pop()
                call = self.calls[e["args"]["call_id"]]
                if stack:
                    top = stack[-1]
                    self.assertLessEqual(e["ts"] + e["dur"], top["ts"] + top["dur"] + 1e-6, e)
                    self.assertEqual(top["args"]["call_id"], call["parent_id"], e)
                else:
                    self.assertIsNone(call["parent_id"], e)
                stack.append(e)

    def test_thread_and_process_names(self):
        meta = [e for e in self.events() if e["ph"] == "M"]
        threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in meta if e["name"] == "thread_name"}
        expected = {(c["pid"], c["tid"]): c["thread"] or "?" for c in self.calls.values()}
        self.assertEqual(threads, expected)
        self.assertIn("worker-1", threads.values())
        processes = {e["pid"]: e["args"]["name"] for e in meta if e["name"] == "process_name"}
        self.assertEqual(set(processes), {c["pid"] for c in self.calls.values()})
        main_pid = self.named("__main__.<module>")[0]["pid"]
        child_pid = self.named("__main__.child_work")[0]["pid"]
        self.assertIn("app.py", processes[main_pid])
        self.assertEqual(processes[child_pid], "pid %d (child of %d)" % (child_pid, main_pid))

    def test_arguments_results_and_exceptions(self):
        slices = {e["args"]["call_id"]: e for e in self.events() if e["ph"] == "X"}
        top_fib = min((c for c in self.named("__main__.fib") if c["args"] == '{"n":"4"}'), key=lambda c: c["id"])
        self.assertEqual(slices[top_fib["id"]]["args"]["args"], {"n": "4"})
        self.assertEqual(slices[top_fib["id"]]["args"]["return"], "3")
        fail = slices[self.named("__main__.fail")[0]["id"]]
        self.assertIn("ValueError: bad value", fail["args"]["exception"])
        self.assertNotIn("return", fail["args"])
        steps = [slices[c["id"]] for c in self.named("__main__.numbers")]
        self.assertEqual([s["args"].get("yield") for s in steps][:2], ["1", "2"])


# The part of Perfetto's trace schema (google/perfetto, protos/perfetto/trace/)
# that `--format perfetto` writes, so protoc decodes it by field name and type.
PERFETTO_SCHEMA = """
syntax = "proto2";
package perfetto.protos;
message Entry { optional uint64 iid = 1; optional string name = 2; }
message SourceLocation { optional uint64 iid = 1; optional string file_name = 2;
                         optional string function_name = 3; optional uint32 line_number = 4; }
message InternedData { repeated Entry event_categories = 1; repeated Entry event_names = 2;
                       repeated Entry debug_annotation_names = 3; repeated SourceLocation source_locations = 4; }
message DebugAnnotation { optional uint64 name_iid = 1; optional bool bool_value = 2; optional int64 int_value = 4;
                          optional string string_value = 6; }
message TrackEvent { repeated uint64 category_iids = 3; repeated DebugAnnotation debug_annotations = 4;
                     optional int32 type = 9; optional uint64 name_iid = 10; optional uint64 track_uuid = 11;
                     optional string name = 23; optional uint64 source_location_iid = 34; }
message ProcessDescriptor { optional int32 pid = 1; optional string process_name = 6; }
message ThreadDescriptor { optional int32 pid = 1; optional int32 tid = 2; optional string thread_name = 5; }
message TrackDescriptor { optional uint64 uuid = 1; optional string name = 2; optional ProcessDescriptor process = 3;
                          optional ThreadDescriptor thread = 4; optional uint64 parent_uuid = 5; }
message TracePacket { optional uint64 timestamp = 8; optional uint32 trusted_packet_sequence_id = 10;
                      optional TrackEvent track_event = 11; optional InternedData interned_data = 12;
                      optional uint32 sequence_flags = 13; optional TrackDescriptor track_descriptor = 60; }
message Trace { repeated TracePacket packet = 1; }
"""

SLICE_BEGIN, SLICE_END, INSTANT = 1, 2, 3


def parse_text_format(text):
    """protoc's text output as nested dicts of lists: {"packet": [{"timestamp": [5], ...}]}."""
    root = collections.defaultdict(list)
    stack = [root]
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line == "}":
            stack.pop()
        elif line.endswith(" {"):
            child = collections.defaultdict(list)
            stack[-1][line[:-2]].append(child)
            stack.append(child)
        else:
            key, value = line.split(": ", 1)
            if value.startswith('"'):
                value = codecs.escape_decode(value[1:-1].encode())[0].decode()
            elif value in ("true", "false"):
                value = value == "true"
            else:
                value = int(value)
            stack[-1][key].append(value)
    assert stack == [root], "unbalanced braces"
    return root


def decode_pftrace(raw, directory):
    """(the Trace as parse_text_format gives it, None), or (None, protoc's error)."""
    schema = os.path.join(directory, "perfetto_trace.proto")
    with open(schema, "w") as f:
        f.write(PERFETTO_SCHEMA)
    decoded = subprocess.run(["protoc", "-I", directory, "--decode=perfetto.protos.Trace", schema],
                             input=raw, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if decoded.returncode:
        return None, decoded.stderr.decode(errors="replace")
    return parse_text_format(decoded.stdout.decode()), None


HAVE_PROTOC = shutil.which("protoc") is not None


@unittest.skipUnless(HAVE_PROTOC, "protoc is not installed (Debian: protobuf-compiler)")
class PerfettoProto(Exported):
    """The protobuf trace, decoded by protoc against Perfetto's field numbers."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.raw = cls.out["perfetto"].stdout
        cls.trace, cls.decode_error = decode_pftrace(cls.raw, cls.dir)

    def setUp(self):
        self.assertEqual(self.out["perfetto"].returncode, 0, self.out["perfetto"].stderr)
        self.assertIsNone(self.decode_error)

    def packets(self):
        return self.trace["packet"]

    def events(self):
        """(packet, event) of each track event, in file order."""
        return [(p, p["track_event"][0]) for p in self.packets() if p["track_event"]]

    def interned(self, field):
        table = {}
        for p in self.packets():
            for data in p["interned_data"]:
                for entry in data[field]:
                    iid = entry["iid"][0]
                    self.assertNotIn(iid, table)  # an iid is never redefined
                    table[iid] = entry
        return table

    def annotations(self, event):
        names = {iid: e["name"][0] for iid, e in self.interned("debug_annotation_names").items()}
        out = {}
        for a in event["debug_annotations"]:
            value = (a["string_value"] or a["int_value"] or a["bool_value"])[0]
            out[names[a["name_iid"][0]]] = value
        return out

    def test_perfetto_proto_is_another_name_for_it(self):
        proc = subprocess.run([CALLSCOPE, "export", self.db, "--format", "perfetto-proto"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=120)
        self.assertEqual((proc.returncode, proc.stderr), (0, b""))
        self.assertEqual(proc.stdout, self.raw)

    def test_decode_raw_reads_a_trace_of_packets(self):
        raw = subprocess.run(["protoc", "--decode_raw"], input=self.raw, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(raw.returncode, 0, raw.stderr)
        top = [line for line in raw.stdout.decode().splitlines() if not line.startswith(" ")]
        self.assertTrue(top)
        self.assertEqual(set(top), {"1 {", "}"})  # only field 1: TracePacket

    def test_one_sequence_cleared_first(self):
        packets = self.packets()
        self.assertEqual({p["trusted_packet_sequence_id"][0] for p in packets}, {1})
        self.assertEqual(packets[0]["sequence_flags"], [1])  # SEQ_INCREMENTAL_STATE_CLEARED
        for p, event in self.events():
            if event["name_iid"] or event["category_iids"] or event["debug_annotations"]:
                self.assertEqual(p["sequence_flags"], [2])  # SEQ_NEEDS_INCREMENTAL_STATE

    def test_a_begin_and_an_end_per_call(self):
        types = collections.Counter(e["type"][0] for _, e in self.events())
        self.assertEqual(types[SLICE_BEGIN], len(self.calls))
        self.assertEqual(types[SLICE_END], len(self.calls))

    def test_threads_and_processes_have_tracks(self):
        descriptors = [p["track_descriptor"][0] for p in self.packets() if p["track_descriptor"]]
        uuids = [d["uuid"][0] for d in descriptors]
        self.assertEqual(len(uuids), len(set(uuids)))
        processes = {d["process"][0]["pid"][0]: d for d in descriptors if d["process"]}
        threads = {(d["thread"][0]["pid"][0], d["thread"][0]["tid"][0]): d["thread"][0]["thread_name"][0]
                   for d in descriptors if d["thread"]}
        expected = {(c["pid"], c["tid"]): c["thread"] or "?" for c in self.calls.values()}
        self.assertEqual(threads, expected)
        self.assertIn("worker-1", threads.values())
        self.assertEqual(set(processes), {c["pid"] for c in self.calls.values()})
        for d in descriptors:
            if d["thread"]:  # a thread's track sits in its process's
                self.assertEqual(d["parent_uuid"], processes[d["thread"][0]["pid"][0]]["uuid"])

    def test_slices_are_the_calls_with_their_names_and_times(self):
        names = {iid: e["name"][0] for iid, e in self.interned("event_names").items()}
        tracks = {}
        for p in self.packets():
            for d in p["track_descriptor"]:
                if d["thread"]:
                    tracks[d["uuid"][0]] = (d["thread"][0]["pid"][0], d["thread"][0]["tid"][0])
        json_slices = {e["args"]["call_id"]: e for e in json.loads(self.output("chrome-json"))["traceEvents"]
                       if e["ph"] == "X"}
        stacks = collections.defaultdict(list)  # track -> [(call id, begin ts)]
        seen = set()
        for p, event in self.events():
            kind, track, ts = event["type"][0], event["track_uuid"][0], p["timestamp"][0]
            if kind == SLICE_BEGIN:
                call_id = self.annotations(event)["call_id"]
                call = self.calls[call_id]
                self.assertEqual(names[event["name_iid"][0]], call["function"])
                self.assertEqual(tracks[track], (call["pid"], call["tid"]))
                # the JSON's start to the nanosecond (both nest calls the same way), and the recorded start
                self.assertEqual(ts, round(json_slices[call_id]["ts"] * 1000))
                self.assertLess(ts - call["start_ns"], 50000)  # a clock glitch at most
                self.assertGreaterEqual(ts, call["start_ns"])
                stacks[track].append((call_id, ts))
                seen.add(call_id)
            elif kind == SLICE_END:
                call_id, begin = stacks[track].pop()
                self.assertEqual(ts, begin + round(json_slices[call_id]["dur"] * 1000))
                if begin == self.calls[call_id]["start_ns"]:
                    self.assertLessEqual(ts, self.expected_end(self.calls[call_id]))
        self.assertEqual(seen, set(self.calls))
        self.assertFalse(any(stacks.values()))

    def test_arguments_results_exceptions_and_source(self):
        begins = {}
        for _, event in self.events():
            if event["type"][0] == SLICE_BEGIN:
                begins[self.annotations(event)["call_id"]] = event
        top_fib = min((c for c in self.named("__main__.fib") if c["args"] == '{"n":"4"}'), key=lambda c: c["id"])
        args = self.annotations(begins[top_fib["id"]])
        self.assertEqual(args["args"], "n=4")
        self.assertEqual(args["return"], "3")
        fail = self.annotations(begins[self.named("__main__.fail")[0]["id"]])
        self.assertIn("ValueError: bad value", fail["exception"])
        self.assertNotIn("return", fail)
        steps = [self.annotations(begins[c["id"]]) for c in self.named("__main__.numbers")]
        self.assertEqual([s.get("yield") for s in steps][:2], ["1", "2"])
        locations = self.interned("source_locations")
        where = locations[begins[top_fib["id"]]["source_location_iid"][0]]
        self.assertTrue(where["file_name"][0].endswith("app.py"))
        self.assertEqual(where["line_number"], [4])
        self.assertEqual(where["function_name"], ["__main__.fib"])
        categories = {iid: e["name"][0] for iid, e in self.interned("event_categories").items()}
        self.assertEqual({categories[e["category_iids"][0]] for e in begins.values()}, {"python"})


class Firefox(Exported):
    """The Firefox Profiler's processed profile, checked against its schema
    and against what the database and `callscope stats` say."""

    def profile(self):
        return load_firefox(self.output("firefox"))

    def test_meta_and_shared_tables(self):
        profile = self.profile()
        meta = profile["meta"]
        self.assertEqual(meta["preprocessedProfileVersion"], 56)
        for key, kind in (("interval", (int, decimal.Decimal)), ("startTime", (int, decimal.Decimal)),
                          ("processType", int), ("product", str), ("stackwalk", int), ("version", int),
                          ("markerSchema", list), ("categories", list)):
            self.assertIsInstance(meta[key], kind, key)
        con = sqlite3.connect(self.db)
        wall = con.execute("select value from meta where key = 'started_wall_ns'").fetchone()
        con.close()
        if wall:
            self.assertEqual(ns(meta["startTime"]), int(wall[0]))
        # the default category is the first grey one; each has a first subcategory
        self.assertIn("grey", [c["color"] for c in meta["categories"]])
        for category in meta["categories"]:
            self.assertTrue(category["subcategories"])
        for schema in meta["markerSchema"]:
            self.assertTrue({"name", "display", "fields"} <= set(schema))
            for field in schema["fields"]:
                self.assertTrue({"key", "format"} <= set(field))
        self.assertEqual(profile["libs"], [])
        self.assertTrue(all(isinstance(s, str) for s in profile["shared"]["stringArray"]))

    def test_every_table_is_whole_and_points_inside(self):
        profile = self.profile()
        strings = profile["shared"]["stringArray"]
        ncategories = len(profile["meta"]["categories"])
        self.assertEqual(len(profile["threads"]), len({(c["pid"], c["tid"]) for c in self.calls.values()}))
        for thread in profile["threads"]:
            self.assertEqual(set(thread) - {"processName"}, FIREFOX_THREAD_FIELDS - {"processName"})
            self.assertIsInstance(thread["pid"], str)
            self.assertIsInstance(thread["tid"], int)
            for name, columns in FIREFOX_TABLES.items():
                table = thread[name]
                self.assertEqual(set(table) - {"length", "weightType"}, columns, name)
                for column in columns:
                    self.assertEqual(len(table[column]), table["length"], (name, column))
            samples, stacks = thread["samples"], thread["stackTable"]
            frames, funcs, markers = thread["frameTable"], thread["funcTable"], thread["markers"]
            self.assertEqual(samples["weightType"], "tracing-ms")
            self.assertTrue(all(s is None or 0 <= s < stacks["length"] for s in samples["stack"]))
            self.assertTrue(all(d >= 0 for d in samples["timeDeltas"]))  # in time order
            self.assertTrue(all(w >= 0 for w in samples["weight"]))
            for i, (frame, prefix) in enumerate(zip(stacks["frame"], stacks["prefix"])):
                self.assertTrue(0 <= frame < frames["length"])
                self.assertTrue(prefix is None or 0 <= prefix < i)  # a prefix comes before its stacks
            self.assertTrue(all(0 <= f < funcs["length"] for f in frames["func"]))
            self.assertTrue(all(0 <= c < ncategories for c in frames["category"]))
            self.assertTrue(all(0 <= n < len(strings) for n in funcs["name"]))
            self.assertTrue(all(f is None or 0 <= f < len(strings) for f in funcs["fileName"]))
            self.assertTrue(all(0 <= n < len(strings) for n in markers["name"]))
            self.assertTrue(all(0 <= c < ncategories for c in markers["category"]))

    def test_threads_and_processes(self):
        threads = {(int(t["pid"]), t["tid"]): t for t in self.profile()["threads"]}
        expected = {(c["pid"], c["tid"]): c["thread"] or "?" for c in self.calls.values()}
        self.assertEqual({k: t["name"] for k, t in threads.items()}, expected)
        main_pid = self.named("__main__.<module>")[0]["pid"]
        child_pid = self.named("__main__.child_work")[0]["pid"]
        self.assertIn("app.py", threads[main_pid, main_pid]["processName"])
        self.assertEqual(threads[child_pid, child_pid]["processName"], "pid %d (child of %d)" % (child_pid, main_pid))
        self.assertEqual({k for k, t in threads.items() if t["isMainThread"]}, {(main_pid, main_pid),
                                                                                (child_pid, child_pid)})

    def test_self_time_per_function_is_what_the_database_says(self):
        want = collections.Counter()
        for call in self.calls.values():
            want[call["function"]] += call["self_ns"]
        self.assertEqual(firefox_self_ns(self.profile()), +want)

    def test_each_thread_weighs_what_its_outermost_calls_lasted(self):
        for thread in self.profile()["threads"]:
            roots = [c for c in self.calls.values() if (c["pid"], c["tid"]) == (int(thread["pid"]), thread["tid"])
                     and c["parent_id"] is None]
            self.assertTrue(roots)
            self.assertEqual(sum(ns(w) for w in thread["samples"]["weight"]), sum(c["duration_ns"] for c in roots))

    def test_samples_are_the_calls_running_then(self):
        """Each sample is the innermost call running at its time, as
        chrome-json places the calls: the stack chart draws them where they ran."""
        spans = collections.defaultdict(list)  # (pid, tid) -> (start, end, depth, call)
        for e in json.loads(self.output("chrome-json"))["traceEvents"]:
            if e["ph"] == "X":
                call = self.calls[e["args"]["call_id"]]
                start = round(decimal.Decimal(str(e["ts"])) * 1000)
                spans[e["pid"], e["tid"]].append((start, start + round(decimal.Decimal(str(e["dur"])) * 1000),
                                                  call["depth"], call))
        profile = self.profile()
        for thread in profile["threads"]:
            calls = spans[int(thread["pid"]), thread["tid"]]
            samples = firefox_samples(profile, thread)
            for (at, stack, weight), following in zip(samples, samples[1:] + [None]):
                until = following[0] if following else at
                running = [c for c in calls if c[0] <= at and until <= c[1] and (c[0] < until or c[0] == at)]
                if stack is None:  # between two outermost calls
                    self.assertEqual(weight, 0)
                    self.assertFalse([c for c in running if c[0] < at < c[1]])
                    continue
                innermost = max(running, key=lambda c: c[2])
                self.assertEqual(stack, stack_of(self.calls, innermost[3]), at)
                self.assertLessEqual(weight, until - at)
            self.assertIsNone(samples[-1][1])  # idle after the last call
            self.assertEqual(samples[-1][0], max(c[1] for c in calls))

    def test_tid_selects_one_thread(self):
        worker = self.named("__main__.worker")[0]
        proc = subprocess.run([CALLSCOPE, "export", self.db, "--format", "firefox", "--tid", str(worker["tid"])],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        profile = load_firefox(proc.stdout)
        self.assertEqual([(t["name"], t["tid"]) for t in profile["threads"]], [("worker-1", worker["tid"])])
        self.assertEqual(set(firefox_self_ns(profile)), {"__main__.worker", "__main__.fib"})


class FirefoxAgainstStats(TracedProgram):
    """A recording large enough for the columns to go through their
    temporary files, in two threads: per function, the weights of the
    profile are the self time `callscope stats` reports."""

    def test_weights_are_the_self_time_stats_reports(self):
        self.run_traced("""
            import threading
            def fib(n):
                return n if n < 2 else fib(n - 1) + fib(n - 2)
            def spin(k):
                return sum(range(k))
            t = threading.Thread(target=fib, args=(16,))
            t.start()
            fib(19)
            for i in range(300):
                spin(i)
            t.join()
        """, options=["--no-stdlib"])
        out = os.path.join(self.dir, "profile.json")
        proc = self.callscope("export", self.db, "--format", "firefox", "-o", out)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertGreater(os.path.getsize(out), 4 * 65536)
        with open(out) as f:
            profile = load_firefox(f.read())
        stats = self.callscope("stats", self.db, "--format", "jsonl")
        self.assertEqual(stats.returncode, 0, stats.stderr)
        want = {}
        for line in stats.stdout.decode().splitlines():
            row = json.loads(line, parse_float=decimal.Decimal)
            if row["self_ms"]:
                want[row["function"]] = ns(row["self_ms"])
        self.assertEqual(dict(firefox_self_ns(profile)), want)
        self.assertEqual(len(profile["threads"]), 2)
        roots = self.query("select sum(duration_ns) from calls where parent_id is null")[0][0]
        self.assertEqual(sum(ns(w) for t in profile["threads"] for w in t["samples"]["weight"]), roots)


class LostEnd(Exported):
    """A call whose end was lost (NULL duration) but whose caller went on."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        calls_as_late_rows(cls.db)  # every call a row of call_late, which a plain connection can change
        con = sqlite3.connect(cls.db)
        con.execute("update call_late set duration_ns = null, self_ns = null"
                    " where id = (select c.id from call_late c join functions f on f.id = c.function_id"
                    " where f.name = '__main__.fail')")
        con.commit()
        con.close()
        cls.calls = db_calls(cls.db)
        proc = subprocess.run([CALLSCOPE, "export", cls.db, "--format", "chrome-json"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=120)
        cls.out = {"chrome-json": proc}

    def test_it_ends_where_the_next_call_starts(self):
        events = {e["args"]["call_id"]: e for e in json.loads(self.output("chrome-json"))["traceEvents"]
                  if e["ph"] == "X"}
        fail = self.named("__main__.fail")[0]
        later = min(c["id"] for c in self.calls.values()
                    if c["id"] > fail["id"] and c["tid"] == fail["tid"] and c["depth"] <= fail["depth"])
        ev = events[fail["id"]]
        self.assertTrue(ev["args"]["unfinished"])
        self.assertAlmostEqual(ev["ts"] + ev["dur"], self.calls[later]["start_ns"] / 1000, places=3)


class Speedscope(Exported):
    def test_file_shape(self):
        doc = json.loads(self.output("speedscope"))
        self.assertEqual(doc["$schema"], "https://www.speedscope.app/file-format-schema.json")
        threads = {(c["pid"], c["tid"]) for c in self.calls.values()}
        self.assertEqual(len(doc["profiles"]), len(threads))
        for frame in doc["shared"]["frames"]:
            self.assertIsInstance(frame["name"], str)
        fib = [f for f in doc["shared"]["frames"] if f["name"] == "__main__.fib"]
        self.assertEqual(len(fib), 1)
        self.assertTrue(fib[0]["file"].endswith("app.py"))
        self.assertEqual(fib[0]["line"], 4)

    def test_events_balance_and_nest_per_thread(self):
        doc = json.loads(self.output("speedscope"))
        frames = doc["shared"]["frames"]
        opened = collections.Counter()
        for profile in doc["profiles"]:
            self.assertEqual(profile["type"], "evented")
            self.assertEqual(profile["unit"], "nanoseconds")
            stack, last = [], profile["startValue"]
            for ev in profile["events"]:
                self.assertGreaterEqual(ev["at"], last)
                last = ev["at"]
                name = frames[ev["frame"]]["name"]
                if ev["type"] == "O":
                    stack.append(ev["frame"])
                    opened[name] += 1
                else:
                    self.assertEqual(ev["type"], "C")
                    self.assertTrue(stack, "close without open")
                    self.assertEqual(stack.pop(), ev["frame"])
            self.assertEqual(stack, [])
            self.assertLessEqual(last, profile["endValue"])
        self.assertEqual(opened, collections.Counter(c["function"] for c in self.calls.values()))

    def test_profiles_are_named_after_threads(self):
        doc = json.loads(self.output("speedscope"))
        names = [p["name"] for p in doc["profiles"]]
        for c in self.calls.values():
            self.assertIn("pid %d · thread %s (tid %d)" % (c["pid"], c["thread"] or "?", c["tid"]), names)
        self.assertTrue(any("worker-1" in n for n in names), names)


class Folded(Exported):
    def stacks(self):
        out = {}
        for line in self.output("folded").splitlines():
            stack, weight = line.rsplit(" ", 1)
            self.assertNotIn(stack, out)  # aggregated: one line per stack
            out[stack] = int(weight)
        return out

    def expected(self):
        want = collections.Counter()
        for call in self.calls.values():
            want[";".join(stack_of(self.calls, call))] += call["self_ns"]
        return {k: v for k, v in want.items() if v > 0}

    def test_weights_are_self_time_per_stack(self):
        self.assertEqual(self.stacks(), self.expected())

    def test_weights_sum_to_the_total_self_time(self):
        total = sum(c["self_ns"] for c in self.calls.values())
        self.assertEqual(sum(self.stacks().values()), total)
        self.assertGreater(total, 0)

    def test_recursion_and_threads(self):
        stacks = self.stacks()
        self.assertIn("__main__.worker;__main__.fib;__main__.fib;__main__.fib;__main__.fib;__main__.fib", stacks)
        self.assertIn("__main__.<module>;__main__.fail", stacks)
        self.assertIn("__main__.<module>;__main__.child_work", stacks)  # the child's own <module>


class FlameGraph(Exported):
    def frames(self):
        root = ET.fromstring(self.output("svg"))
        self.assertEqual(root.tag, SVG + "svg")
        return root, [g for g in root.iter(SVG + "g") if g.get("class") == "f"]

    def totals(self):
        totals = collections.Counter()
        for call in self.calls.values():
            totals[stack_of(self.calls, call)] += call["duration_ns"]
        return totals

    def test_one_rect_per_stack_with_name_and_time(self):
        root, frames = self.frames()
        totals = self.totals()
        everything = sum(v for k, v in totals.items() if len(k) == 1)
        shown = [k for k, v in totals.items() if v >= everything / 20000 and v > 0]
        self.assertEqual(len(frames), len(shown) + 1)  # and "all"
        titles = collections.Counter()
        for g in frames:
            self.assertIsNotNone(g.find(SVG + "rect"))
            title = g.find(SVG + "title").text
            m = re.match(r"^(\S+) \((\d+(?:\.\d+)?)(ns|µs|ms|s), (\d+\.\d\d)%, self ", title)
            self.assertIsNotNone(m, title)
            titles[m.group(1)] += 1
        self.assertEqual(titles["all"], 1)
        by_name = collections.Counter(k[-1] for k in shown)
        self.assertEqual(titles - collections.Counter({"all": 1}), by_name)

    def test_the_cut_is_exact_at_one_in_20000(self):
        # Whole of 40001 ns: 3 ns is over 1/20000 of it and is drawn, 2 ns is under and is left out.
        db = os.path.join(self.dir, "cut.db")
        shutil.copy(record(tempfile.mkdtemp(dir=self.dir), "def small():\n    pass\n"
                           "def large():\n    pass\nsmall()\nlarge()\n"), db)
        (start,), = query_recording(db, "select min(start_ns) from call_rows")
        calls_as_late_rows(db)  # every call a row of call_late, which a plain connection can change
        con = sqlite3.connect(db)
        with con:
            # Both calls go inside the shortened <module>: recording the first call of a session can take longer.
            for name, at, ns in (("<module>", 0, 40001), ("small", 10, 2), ("large", 20, 3)):
                con.execute("update call_late set start_ns = ?, duration_ns = ?, self_ns = ? where function_id ="
                            " (select id from functions where qualname = ?)",
                            (start + at, ns, ns if name != "<module>" else 39996, name))
        con.close()
        proc = subprocess.run([CALLSCOPE, "export", db, "--format", "svg"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        root = ET.fromstring(proc.stdout.decode())
        names = sorted(g.get("data-n") for g in root.iter(SVG + "g") if g.get("class") == "f")
        self.assertEqual(names, ["__main__.<module>", "__main__.large", "all"])
        self.assertIn("1 frame under 1/20000 of the total left out", proc.stdout.decode())
        # the footer is drawn below the bottom bar ("all"), not over it (12 px text)
        footer = [t for t in root.iter(SVG + "text") if (t.text or "").endswith("left out")][0]
        bottom = max(int(g.find(SVG + "rect").get("y")) + int(g.find(SVG + "rect").get("height"))
                     for g in root.iter(SVG + "g") if g.get("class") == "f")
        self.assertGreaterEqual(int(footer.get("y")) - 12, bottom)
        self.assertLessEqual(int(footer.get("y")), int(root.get("height")))

    def test_widths_follow_total_time(self):
        root, frames = self.frames()
        widths = {g.find(SVG + "title").text.split(" ")[0]: float(g.find(SVG + "rect").get("width"))
                  for g in frames if g.find(SVG + "title").text.startswith(("all ", "__main__.<module> "))}
        self.assertAlmostEqual(widths["all"], 1180, places=1)
        self.assertLess(widths["__main__.<module>"], widths["all"] + 0.01)

    def test_frames_sit_on_their_callers(self):
        root, frames = self.frames()
        rects = [(float(r.get("x")), float(r.get("width")), int(r.get("y")))
                 for r in (g.find(SVG + "rect") for g in frames)]
        rows = collections.defaultdict(list)
        for x, w, y in rects:
            self.assertGreaterEqual(x, 10 - 0.01)
            self.assertLessEqual(x + w, 1190 + 0.02)
            rows[y].append((x, w))
        bottom = max(rows)
        self.assertEqual(len(rows[bottom]), 1)  # "all"
        for y, row in rows.items():
            row.sort()
            for (x1, w1), (x2, _) in zip(row, row[1:]):
                self.assertLessEqual(x1 + w1, x2 + 0.02)  # no overlap in a row
            if y != bottom:
                below = rows[y + 16]
                for x, w in row:  # each frame stands on a caller
                    self.assertTrue(any(bx - 0.02 <= x and x + w <= bx + bw + 0.02 for bx, bw in below), (x, w, y))

    def test_zoom_script_and_no_external_resources(self):
        text = self.output("svg")
        root, frames = self.frames()
        scripts = [s.text for s in root.iter(SVG + "script")]
        self.assertTrue(any("function zoom" in s for s in scripts))
        self.assertNotRegex(text, r"(href|src)\s*=")
        self.assertIn('onload="init()"', text)

    def test_labels_are_cut_to_fit(self):
        root, frames = self.frames()
        for g in frames:
            label = g.find(SVG + "text").text or ""
            name = g.get("data-n")
            width = float(g.find(SVG + "rect").get("width"))
            self.assertTrue(label == name or (label.endswith("..") and name.startswith(label[:-2])) or label == "",
                            (label, name))
            self.assertLessEqual(len(label) * 7.3, max(width - 6, 0) + 7.3 * 3)


class JsonLines(Exported):
    def test_same_as_show(self):
        show = subprocess.run([CALLSCOPE, "show", self.db, "--format", "jsonl"], stdout=subprocess.PIPE, timeout=60)
        self.assertEqual(self.output("jsonl"), show.stdout.decode())
        self.assertEqual(len(self.output("jsonl").splitlines()), len(self.calls))

    def test_tid_selects_one_thread(self):
        worker = self.named("__main__.worker")[0]
        proc = subprocess.run([CALLSCOPE, "export", self.db, "--format", "jsonl", "--tid", str(worker["tid"])],
                              stdout=subprocess.PIPE, timeout=60)
        rows = [json.loads(line) for line in proc.stdout.decode().splitlines()]
        self.assertEqual({r["tid"] for r in rows}, {worker["tid"]})
        self.assertEqual({r["thread"] for r in rows}, {"worker-1"})
        self.assertEqual(len(rows), sum(1 for c in self.calls.values() if c["tid"] == worker["tid"]))

    def test_filter_keeps_the_matching_calls(self):
        proc = subprocess.run([CALLSCOPE, "export", self.db, "--format", "jsonl", "--filter",
                               "function == '__main__.fib' and arg == 'n' and value == '2'"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        rows = [json.loads(line) for line in proc.stdout.decode().splitlines()]
        expected = [c for c in self.calls.values() if c["function"] == "__main__.fib" and json.loads(c["args"])["n"] == "2"]
        self.assertTrue(expected)
        self.assertEqual(len(rows), len(expected))
        self.assertEqual({r["args"]["n"] for r in rows}, {"2"})

    def test_bad_filter_is_a_usage_error(self):
        out = os.path.join(self.dir, "never.json")
        proc = subprocess.run([CALLSCOPE, "export", self.db, "--format", "chrome-json", "-o", out, "--filter",
                               "modul == 'x'"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("unknown field 'modul'", proc.stderr.decode())
        self.assertFalse(os.path.exists(out))

    def test_pid_selects_one_process(self):
        child = self.named("__main__.child_work")[0]
        proc = subprocess.run([CALLSCOPE, "export", self.db, "--format", "folded", "--pid", str(child["pid"])],
                              stdout=subprocess.PIPE, timeout=60)
        stacks = [line.rsplit(" ", 1)[0] for line in proc.stdout.decode().splitlines()]
        self.assertTrue(stacks)
        self.assertTrue(all(s.startswith("__main__.<module>") for s in stacks), stacks)
        self.assertIn("__main__.<module>;__main__.child_work", stacks)
        self.assertNotIn("__main__.<module>;__main__.fib", stacks)


class Unfinished(Exported):
    """os._exit inside inner(): <module>, outer and inner never end."""

    source = EXITS
    args = ()

    def test_calls_are_recorded_unfinished(self):
        self.assertEqual({c["function"] for c in self.calls.values() if c["duration_ns"] is None},
                         {"__main__.<module>", "__main__.outer", "__main__.inner"})

    def test_chrome_json_marks_them_and_keeps_nesting(self):
        events = {e["args"]["call_id"]: e for e in json.loads(self.output("chrome-json"))["traceEvents"]
                  if e["ph"] == "X"}
        self.assertEqual(len(events), len(self.calls))
        by_name = {self.calls[i]["function"]: e for i, e in events.items()}
        for name in ("__main__.<module>", "__main__.outer", "__main__.inner"):
            self.assertTrue(by_name[name]["args"]["unfinished"])
            self.assertEqual(by_name[name]["cat"], "unfinished")
        self.assertNotIn("unfinished", by_name["__main__.helper"]["args"])

        def end(e):
            return e["ts"] + e["dur"]

        outer, helper, inner = by_name["__main__.outer"], by_name["__main__.helper"], by_name["__main__.inner"]
        module = by_name["__main__.<module>"]
        self.assertGreaterEqual(end(outer), end(helper) - 1e-6)  # lasts at least as long as what it called
        self.assertGreaterEqual(inner["ts"], end(helper) - 1e-6)
        self.assertLessEqual(end(inner), end(outer) + 1e-6)
        self.assertLessEqual(end(outer), end(module) + 1e-6)

    @unittest.skipUnless(HAVE_PROTOC, "protoc is not installed (Debian: protobuf-compiler)")
    def test_perfetto_closes_them_at_the_settled_end(self):
        self.assertEqual(self.out["perfetto"].returncode, 0, self.out["perfetto"].stderr)
        trace, error = decode_pftrace(self.out["perfetto"].stdout, self.dir)
        self.assertIsNone(error)
        names = {e["iid"][0]: e["name"][0] for p in trace["packet"] for d in p["interned_data"]
                 for e in d["event_names"]}
        categories = {e["iid"][0]: e["name"][0] for p in trace["packet"] for d in p["interned_data"]
                      for e in d["event_categories"]}
        json_ends = {self.calls[e["args"]["call_id"]]["function"]: round((e["ts"] + e["dur"]) * 1000)
                     for e in json.loads(self.output("chrome-json"))["traceEvents"] if e["ph"] == "X"}
        seq, stack = [], []
        for p in trace["packet"]:
            for event in p["track_event"]:
                if event["type"] == [SLICE_BEGIN]:
                    name = names[event["name_iid"][0]]
                    stack.append(name)
                    seq.append(("O", name, categories[event["category_iids"][0]]))
                elif event["type"] == [SLICE_END]:
                    name = stack.pop()
                    seq.append(("C", name))
                    self.assertEqual(p["timestamp"][0], json_ends[name])  # where the JSON ends it
        self.assertEqual(seq, [("O", "__main__.<module>", "unfinished"), ("O", "__main__.outer", "unfinished"),
                               ("O", "__main__.helper", "python"), ("C", "__main__.helper"),
                               ("O", "__main__.inner", "unfinished"), ("C", "__main__.inner"),
                               ("C", "__main__.outer"), ("C", "__main__.<module>")])

    def test_firefox_counts_their_time(self):
        profile = load_firefox(self.output("firefox"))
        (thread,) = profile["threads"]
        stacks = {stack for _, stack, _ in firefox_samples(profile, thread)}
        self.assertIn(("__main__.<module>", "__main__.outer", "__main__.helper"), stacks)
        # inner ran until the exit, after the last thing recorded (helper's end): no time is known of it
        self.assertNotIn(("__main__.<module>", "__main__.outer", "__main__.inner"), stacks)
        module = [e for e in json.loads(self.output("chrome-json"))["traceEvents"]
                  if e["ph"] == "X" and e["name"] == "__main__.<module>"][0]
        # the whole of <module> as chrome-json closes it, and helper's own time
        self.assertEqual(sum(ns(w) for w in thread["samples"]["weight"]),
                         round(decimal.Decimal(str(module["dur"])) * 1000))
        self.assertEqual(firefox_self_ns(profile)["__main__.helper"], self.named("__main__.helper")[0]["self_ns"])

    def test_speedscope_closes_them(self):
        doc = json.loads(self.output("speedscope"))
        frames = doc["shared"]["frames"]
        (profile,) = doc["profiles"]
        seq = [(ev["type"], frames[ev["frame"]]["name"]) for ev in profile["events"]]
        self.assertEqual(seq, [("O", "__main__.<module>"), ("O", "__main__.outer"), ("O", "__main__.helper"),
                               ("C", "__main__.helper"), ("O", "__main__.inner"), ("C", "__main__.inner"),
                               ("C", "__main__.outer"), ("C", "__main__.<module>")])

    def test_folded_counts_their_time(self):
        stacks = dict(line.rsplit(" ", 1) for line in self.output("folded").splitlines())
        self.assertIn("__main__.<module>;__main__.outer", stacks)
        self.assertIn("__main__.<module>;__main__.outer;__main__.helper", stacks)
        helper = self.named("__main__.helper")[0]
        self.assertEqual(int(stacks["__main__.<module>;__main__.outer;__main__.helper"]), helper["self_ns"])

    def test_svg_is_well_formed(self):
        root = ET.fromstring(self.output("svg"))
        titles = [g.find(SVG + "title").text for g in root.iter(SVG + "g") if g.get("class") == "f"]
        self.assertTrue(any(t.startswith("__main__.outer ") for t in titles), titles)


class FilteredOut(TracedProgram):
    """A kept call whose caller a filter leaves out stays where it ran, in
    every format: `c` starts after `a` ended and lasts as long as it did."""

    def test_each_format_keeps_the_calls_in_place(self):
        self.run_traced("""
            def b(): pass
            def a(): b()
            def c(): sum(range(20000))
            def main(): a(); c()
            main()
        """, options=["--no-stdlib"])
        a, c = (self.calls("__main__." + n)[0] for n in "ac")
        def export(fmt):
            proc = self.callscope("export", self.db, "--format", fmt, "--filter", "func == 'a' or func == 'c'",
                                  "-o", "-")  # -o -: stdout
            self.assertEqual(proc.returncode, 0, proc.stderr.decode())
            return proc.stdout.decode()
        events = {e["name"]: e for e in json.loads(export("chrome-json"))["traceEvents"] if e["ph"] == "X"}
        self.assertEqual(set(events), {"__main__.a", "__main__.c"})
        self.assertGreaterEqual(events["__main__.c"]["ts"], events["__main__.a"]["ts"] + events["__main__.a"]["dur"])
        self.assertAlmostEqual(events["__main__.c"]["dur"], c["duration_ns"] / 1000, places=3)
        profile = json.loads(export("speedscope"))
        frames = [f["name"] for f in profile["shared"]["frames"]]
        opened = {}
        spans = {}
        for e in profile["profiles"][0]["events"]:
            if e["type"] == "O":
                opened[frames[e["frame"]]] = e["at"]
            else:
                spans[frames[e["frame"]]] = (opened.pop(frames[e["frame"]]), e["at"])
        self.assertEqual(set(spans), {"__main__.a", "__main__.c"})
        self.assertGreaterEqual(spans["__main__.c"][0], spans["__main__.a"][1])
        self.assertEqual(spans["__main__.c"][1] - spans["__main__.c"][0], c["duration_ns"])
        folded = dict(line.rsplit(" ", 1) for line in export("folded").splitlines())
        self.assertEqual(folded, {"__main__.a": str(a["self_ns"]), "__main__.c": str(c["duration_ns"])})
        self.assertEqual(dict(firefox_self_ns(load_firefox(export("firefox")))),
                         {"__main__.a": a["self_ns"], "__main__.c": c["duration_ns"]})
        svg = export("svg")
        self.assertIn("__main__.a", svg)
        self.assertIn("__main__.c", svg)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "-")))

class Logs(TracedProgram):
    """callscope.log() rows show where they were made: under their call in
    `show`, as instant events in chrome-json and markers in firefox (only for
    the calls exported)."""

    def test_log_rows_are_shown_and_exported(self):
        script = self.write("app.py", """
            import callscope
            def leaf():
                return 1
            def work(k):
                callscope.log("cache miss", key=k)
                leaf()
                callscope.log("done")
                return k
            def quiet():
                callscope.log("\\x1b]0;title\\x07")
            work("abc")
            quiet()
        """)
        proc = self.callscope("run", "--python", sys.executable, "--no-stdlib", "-o", self.db, script,
                              env=dict(os.environ, PYTHONPATH=LIB))
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        shown = self.callscope("show", self.db, "--no-color").stdout.decode().splitlines()[1:]
        self.assertEqual([re.sub(r"  \[.*?\]$", "", line) for line in shown], [
            "<module>() \u2192 None",
            "\u251c\u2500 work(k='abc') \u2192 'abc'",
            "\u2502  \u251c\u2500 \u00b7 log: cache miss  key='abc'",
            "\u2502  \u251c\u2500 \u00b7 log: done",
            "\u2502  \u2514\u2500 leaf() \u2192 1",
            "\u2514\u2500 quiet() \u2192 None",
            "   \u2514\u2500 \u00b7 log: \\x1b]0;title\\x07",
        ])
        work = self.calls("__main__.work")[0]
        def instants(*options):
            out = self.callscope("export", self.db, "--format", "chrome-json", *options).stdout.decode()
            return [(e["name"], e["args"]) for e in json.loads(out)["traceEvents"] if e["ph"] == "i"]
        self.assertEqual(instants("--filter", "func == 'work'"), [
            ("cache miss", {"call_id": work["id"], "fields": {"key": "'abc'"}}),
            ("done", {"call_id": work["id"]})])
        self.assertEqual(len(instants()), 3)
        out = self.callscope("export", self.db, "--format", "firefox", "--filter", "func == 'work'").stdout
        (thread,) = json.loads(out)["threads"]
        markers = thread["markers"]
        self.assertEqual([d["message"] for d in markers["data"]], ["cache miss", "done"])
        self.assertEqual({d["callId"] for d in markers["data"]}, {work["id"]})
        self.assertEqual(json.loads(markers["data"][0]["fields"]), {"key": "'abc'"})
        self.assertNotIn("fields", markers["data"][1])
        self.assertEqual(markers["phase"], [0, 0])  # instants

class UnnamedThread(TracedProgram):
    """A thread the recording has no name for (started by _thread) is
    named the same way by show and by every export."""

    def test_one_naming_everywhere(self):
        self.run_traced("""
            import _thread
            def work():
                return 1
            done = _thread.allocate_lock()
            done.acquire()
            def bare():
                work()
                done.release()
            _thread.start_new_thread(bare, ())
            done.acquire()
        """, options=["--no-stdlib"])
        row = self.calls("__main__.work")[0]
        self.assertIsNone(row["thread"])
        title = "pid %d · thread ? (tid %d)" % (row["pid"], row["tid"])
        show = self.callscope("show", self.db, "--no-color").stdout.decode()
        self.assertIn(title + "\n", show)
        speedscope = json.loads(self.callscope("export", self.db, "--format", "speedscope").stdout)
        self.assertIn(title, [p["name"] for p in speedscope["profiles"]])
        trace = json.loads(self.callscope("export", self.db, "--format", "chrome-json").stdout)
        names = {(e["pid"], e["tid"]): e["args"]["name"] for e in trace["traceEvents"]
                 if e["ph"] == "M" and e["name"] == "thread_name"}
        self.assertEqual(names[row["pid"], row["tid"]], "?")


class WhileRecording(TracedProgram):
    def test_export_of_a_recording_still_being_written(self):
        script = self.write("app.py", """
            import time
            def ready():
                return 1
            def wait():
                time.sleep(60)
            ready()
            wait()
            """)
        run = subprocess.Popen([CALLSCOPE, "run", "--no-stdlib", "--python", sys.executable, "-o", self.db, script],
                               cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(1200):  # a deadline only so that a broken collector cannot hang the suite
                try:
                    # wait() runs on: its row shows once it has run for 100 ms
                    if os.path.exists(self.db) and len(self.query("select id from calls")) >= 3:
                        break
                except sqlite3.Error:
                    pass
                time.sleep(0.1)
            else:
                self.fail("the recording never showed the running calls")
            proc = self.callscope("export", self.db, "--format", "chrome-json")
            self.assertEqual(proc.returncode, 0, proc.stderr)
            slices = {e["name"]: e for e in json.loads(proc.stdout)["traceEvents"] if e["ph"] == "X"}
            self.assertEqual(set(slices), {"__main__.ready", "__main__.wait", "__main__.<module>"})
            self.assertNotIn("unfinished", slices["__main__.ready"]["args"])
            self.assertTrue(slices["__main__.wait"]["args"]["unfinished"])
            self.assertTrue(slices["__main__.<module>"]["args"]["unfinished"])
        finally:
            run.terminate()
            run.wait(60)


class Errors(TracedProgram):
    def assert_one_line_error(self, proc, fragment, code=None):
        self.assertNotEqual(proc.returncode, 0)
        if code is not None:
            self.assertEqual(proc.returncode, code)
        err = proc.stderr.decode()
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn(fragment, err)

    def recorded(self):
        self.run_traced("def f(n):\n    return n\nfor i in range(2000):\n    f(i)\n", options=("--no-stdlib",))

    def test_bad_files(self):
        self.assert_one_line_error(self.callscope("export", "missing.db", "--format", "folded"), "missing.db", 1)
        junk = self.write("junk.db", "this is not sqlite" * 100)
        self.assert_one_line_error(self.callscope("export", junk, "--format", "folded"), "not a callscope database")
        self.recorded()
        con = sqlite3.connect(self.db)
        con.execute("pragma user_version = 99")
        con.commit()
        con.close()
        self.assert_one_line_error(self.callscope("export", self.db, "--format", "chrome-json"), "newer")

    def test_unknown_or_missing_format_lists_the_formats(self):
        self.recorded()
        for args in (("--format", "pprof"), ()):
            proc = self.callscope("export", self.db, *args)
            self.assert_one_line_error(proc, "perfetto, chrome-json, firefox, speedscope, folded, svg or jsonl", 2)
        self.assert_one_line_error(self.callscope("export", self.db, "--format", "svg", "--tid", "x"), "--tid", 2)

    def test_unwritable_output(self):
        self.recorded()
        out = os.path.join(self.dir, "no", "such", "dir", "trace.json")
        proc = self.callscope("export", self.db, "--format", "chrome-json", "-o", out)
        self.assert_one_line_error(proc, "cannot write %s: No such file or directory" % out, 1)

    def test_full_disk_on_stdout(self):
        self.recorded()
        with open("/dev/full", "wb") as full:
            proc = subprocess.run([CALLSCOPE, "export", self.db, "--format", "jsonl"], stdout=full,
                                  stderr=subprocess.PIPE, timeout=60)
        self.assert_one_line_error(proc, "callscope: writing stdout: No space left on device", 1)

    def test_failed_write_leaves_no_file_and_keeps_the_old_one(self):
        self.recorded()
        out = os.path.join(self.dir, "trace.json")
        with open(out, "w") as f:
            f.write("previous")

        def small_files():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            # room for SQLite's shared-memory file, not for the export
            resource.setrlimit(resource.RLIMIT_FSIZE, (100000, 100000))

        proc = subprocess.run([CALLSCOPE, "export", self.db, "--format", "chrome-json", "-o", out],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=small_files, timeout=60)
        self.assert_one_line_error(proc, "callscope: writing %s: File too large" % out, 1)
        with open(out) as f:
            self.assertEqual(f.read(), "previous")
        self.assertFalse(os.path.exists(out + ".tmp"))

    def test_output_file_replaced_whole(self):
        self.recorded()
        out = os.path.join(self.dir, "trace.folded")
        proc = self.callscope("export", self.db, "--format", "folded", "-o", out)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual((proc.stdout, proc.stderr), (b"", b""))
        with open(out) as f:
            self.assertRegex(f.read(), r"^__main__\.<module> \d+\n")
        self.assertFalse(os.path.exists(out + ".tmp"))

    def test_progress_bar_only_on_a_terminal(self):
        self.recorded()
        out = os.path.join(self.dir, "trace.json")
        status, err = on_terminal([CALLSCOPE, "export", self.db, "--format", "chrome-json", "-o", out],
                                  stdout_too=False)
        self.assertEqual(status, 0)
        self.assertIn("exporting", err)
        self.assertIn("%", err)
        self.assertTrue(err.endswith("\r\x1b[K"), repr(err))  # erased when done
        with open(out) as f:
            json.load(f)
        proc = self.callscope("export", self.db, "--format", "chrome-json", "-o", out)
        self.assertEqual(proc.stderr, b"")


if __name__ == "__main__":
    unittest.main()
