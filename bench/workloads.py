"""The two workloads `make bench` traces.

- fib: naive recursive Fibonacci, the worst case for a tracer: almost
  nothing but calls, one int argument and an int result each.
- json_decode: the standard library's pure-Python JSON decoder (the C
  accelerators switched off) parsing 18 documents of 1,000 nested records
  each, as a service decoding messages would. Real code with realistic calls:
  several arguments (one of them the whole document as a str, which a tracer
  must cut short), dict/list/str results, no generators, about 1.0 million
  calls, deterministic.

A workload is a list of steps (no-argument functions) run one after the
other; bench/measure.py times each step on its own, so that a burst of noise
on the shared machine spoils one short step rather than the whole run.

Run as a script (`python workloads.py json_decode`) it runs the workload once,
which is what the whole-process comparison of bench/measure.py times.
"""

import json
import json.decoder
import json.scanner
import sys

FIB_N = 25
FIB_WHOLE_N = 30  # the whole-process run: 2.7 million calls
JSON_DOCUMENTS = 18
JSON_RECORDS = 1000  # per document


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def fib_calls(n):
    """How many calls fib(n) makes."""
    a, b = 1, 1  # calls of fib(0), fib(1)
    for _ in range(n - 1):
        a, b = b, a + b + 1
    return b if n >= 1 else a


def make_document(first, records=JSON_RECORDS):
    """A JSON text of `records` nested records numbered from `first`, built
    without calling any Python function per record (so building it adds no
    traced calls)."""
    items = []
    for i in range(first, first + records):
        items.append({
            "id": i,
            "name": "user%05d" % i,
            "email": "user%05d@example.org" % i,
            "active": i % 3 == 0,
            "score": i * 0.37,
            "tags": ["t%d" % (i % 7), "t%d" % (i % 11), "grp-%d" % (i % 5)],
            "address": {"street": "%d Main Street" % i, "city": "City %d" % (i % 50), "zip": "%05d" % i},
            "history": [{"day": 0, "amount": i}, {"day": 1, "amount": i + 1}, {"day": 2, "amount": i + 2}],
        })
    return json.dumps(items)


def pure_python_decoder():
    """A JSONDecoder that uses only the pure-Python scanner and scanstring."""
    json.decoder.scanstring = json.decoder.py_scanstring  # used by JSONObject
    decoder = json.JSONDecoder()
    decoder.parse_string = json.decoder.py_scanstring
    decoder.scan_once = json.scanner.py_make_scanner(decoder)
    return decoder


def json_decode_workload(documents=JSON_DOCUMENTS):
    decoder = pure_python_decoder()
    texts = [make_document(k * JSON_RECORDS) for k in range(documents)]
    return [lambda text=text: decoder.decode(text) for text in texts]


def json_decode_small_workload():
    """The same documents, three of them (about 170,000 calls): for runs
    under valgrind, which are fifty times slower."""
    return json_decode_workload(documents=3)


def fib_workload():
    return [lambda: fib(FIB_N)]


def fib_whole_workload():
    """fib(FIB_WHOLE_N), 2.7 million calls at once: the call-dense workload
    of the whole-process comparison, where fib(FIB_N) would be over before
    the start-up of Python and of the collector stopped counting."""
    return [lambda: fib(FIB_WHOLE_N)]


WORKLOADS = {"fib": fib_workload, "fib_whole": fib_whole_workload, "json_decode": json_decode_workload,
             "json_decode_small": json_decode_small_workload}

if __name__ == "__main__":
    for step in WORKLOADS[sys.argv[1]]():
        step()
