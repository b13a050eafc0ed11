"""Runs the Python test suite (tests/py) under every interpreter given.

    python3 tests/run_python_tests.py PYTHON...

Each interpreter runs the same unittest suite against the extension built
for it; the last line sums them up as "N passed, N failed".
"""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(python):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(ROOT, "build", "lib")
    env["CALLSCOPE_BIN"] = os.path.abspath(os.environ.get("CALLSCOPE_BIN") or os.path.join(ROOT, "build", "callscope"))
    env.pop("NO_COLOR", None)
    proc = subprocess.run(
        [python, "-m", "unittest", "discover", "-s", os.path.join(ROOT, "tests", "py"), "-t", ROOT, "-v"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    out = proc.stdout.decode(errors="replace")
    ran = re.search(r"^Ran (\d+) test", out, re.M)
    failed = re.search(r"^FAILED \((.*)\)", out, re.M)
    total = int(ran.group(1)) if ran else 0
    bad = 0
    if failed:
        bad = sum(int(n) for n in re.findall(r"(?:failures|errors)=(\d+)", failed.group(1)))
    if proc.returncode != 0 and bad == 0:
        bad = max(1, total)
    skipped = re.search(r"skipped=(\d+)", out)
    return total - bad, bad, int(skipped.group(1)) if skipped else 0, out


def main():
    pythons = sys.argv[1:] or [sys.executable]
    passed = failed = skipped = 0
    for python in pythons:
        version = subprocess.run([python, "-c", "import sys;print('%d.%d' % sys.version_info[:2])"],
                                 stdout=subprocess.PIPE).stdout.decode().strip()
        p, f, s, out = run(python)
        print("Python %-5s %4d passed, %d failed, %d skipped" % (version, p, f, s), flush=True)
        if f:
            print(out)
        passed += p
        failed += f
        skipped += s
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
