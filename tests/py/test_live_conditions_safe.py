"""Hostile live conditions: whatever a condition says, observing never runs
the program's code nor changes what it computes, and no condition makes the
target build huge values or work without bound."""

import json
import time
import unittest

from tests.py.live_support import LiveTarget

# handle() sums an iterator it is given, and its objects count every
# method of theirs that runs; the target prints both after each call.
PROGRAM = '''
import sys
RAN = []
class Sneaky:
    def __getattr__(self, name):
        RAN.append("__getattr__")
        return 1
    def __eq__(self, other):
        RAN.append("__eq__")
        return True
    def __hash__(self):
        RAN.append("__hash__")
        return 1
    def __len__(self):
        RAN.append("__len__")
        return 3
    def __bool__(self):
        RAN.append("__bool__")
        return True
    def __str__(self):
        RAN.append("__str__")
        return "sneaky"
    def __iter__(self):
        RAN.append("__iter__")
        return iter([1, 2])
    def __lt__(self, other):
        RAN.append("__lt__")
        return True
    __gt__ = __le__ = __ge__ = __lt__

class Plain:
    """Python's own attribute lookup: its __dict__ is readable, its property not."""
    def __init__(self):
        self.x = 1
    @property
    def slow(self):
        RAN.append("property")
        return 5

def handle(n, items, obj, mixed, plain, **options):
    return n + sum(items)

print("ready", flush=True)
for line in sys.stdin:
    if line.strip() != "go":
        break
    result = handle(150, iter(range(5)), Sneaky(), [1, Sneaky()], Plain(), debug=True)
    print(json.dumps({"result": result, "ran": RAN}), flush=True)
'''

# (condition, what the user is told: a part of the notice, or None when the
# condition is fine and must match)
HOSTILE = [
    ("max(params[1]) >= 0", "range_iterator is not readable"),
    ("' '.join(params[1]) != ''", "range_iterator is not readable"),
    ("99 not in params[1]", "range_iterator is not readable"),
    ("min(params[1]) < 0", "range_iterator is not readable"),
    ("params[4].slow > 0", "Plain.slow is not readable: the class defines it as a property"),
    ("params[2].missing == 1", "attributes of a Sneaky are not readable"),
    ("params[2] == 1", "Sneaky is not readable"),
    ("params[2] > 1", "Sneaky is not readable"),
    ("1 in params[3]", "Sneaky is not readable"),
    ("params[3].count(1) > 0", "Sneaky is not readable"),
    ("params[3].index(1) >= 0", "Sneaky is not readable"),
    ("len(params[2]) > 0", "Sneaky is not readable"),
    ("not params[2]", "Sneaky is not readable"),
    ("params[2] and True", "Sneaky is not readable"),
    ("str(params[2]) == 'x'", "Sneaky is not readable"),
    ("bool(params[2])", "Sneaky is not readable"),
    ("int(params[2]) > 0", "Sneaky is not readable"),
    ("abs(params[2]) > 0", "Sneaky is not readable"),
    ("max(params[3]) > 0", "Sneaky is not readable"),
    ("'abc'.encode('idna') == 'x'", "may only use utf-8, ascii or latin-1"),
    ("'abc'.encode().decode('rot13') == ''", "may only use utf-8, ascii or latin-1"),
    ("len('%500000000d' % 1) < 0", "%-formatting is not allowed"),
    ("len(('a' * 1000000).split('a')) > 0", "over 1000000 items"),
    ("len('x' * 1000000 + 'x' * 1000000) > 0", "over 1000000 items"),
    ("len('x' * 2000000) > 0", "over 1000000 items"),
    ("int('1' * 1000000, 2) * int('1' * 1000000, 2) > 0", "int() of a text of over 20000 characters"),
    ("int('f' * 5000, 16) * int('f' * 5000, 16) * int('f' * 5000, 16) * int('f' * 5000, 16) > 0",
     "ints of over 65536 bits"),
    ("'x'.center(1000000000) == ''", "over 1000000 items"),
    # fine: built-in values, a __dict__ entry, list length, a dict lookup
    ("params[0] > 100", None),
    ("params[4].x == 1", None),
    ("len(params[3]) == 2", None),
    ("kwargs.get('debug') == True", None),
    ("params[3][0] == 1", None),
    ("return_obj == 160", None),
]


class ConditionsReadOnly(LiveTarget):

    def go(self, p):
        self.tell(p, "go")
        return json.loads(self.read_line(p))

    def test_hostile_conditions_change_nothing(self):
        p = self.start_target("exec(%r)" % PROGRAM.replace("import sys", "import sys, json"), attach=False)
        self.attach(p)
        baseline = self.go(p)
        self.assertEqual(baseline, {"result": 160, "ran": []})
        failures = []
        for condition, told in HOSTILE:
            client = self.popen_live("watch", p.pid, "__main__.handle", "-s", "--condition", condition,
                                     "--format", "jsonl")
            first = client.stdout.readline()
            if b'"status"' not in first:
                client.kill()
                failures.append("%s: refused by the client: %s" % (condition, client.communicate()[1].decode()))
                continue
            outcomes = [self.go(p) for _ in range(3)]
            time.sleep(0.2)
            client.kill()
            out, err = client.communicate()
            lines = [json.loads(l) for l in out.decode().splitlines() if l.strip()]
            observed = [l for l in lines if l.get("type") == "observation"]
            events = [l for l in lines if l.get("type") == "event"]
            if outcomes != [baseline] * 3:
                failures.append("%s: the program computed %s" % (condition, outcomes))
            if told is None:
                if len(observed) != 3 or events:
                    failures.append("%s: %d observations, events %s" % (condition, len(observed), events))
            elif observed or len(events) != 1 or told not in json.dumps(events[0]):
                failures.append("%s: %d observations, events %s" % (condition, len(observed), events))
        self.assertEqual(failures, [], "\n".join(failures))


if __name__ == "__main__":
    unittest.main()
