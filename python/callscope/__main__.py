"""``python -m callscope ...`` is ``callscope ...``."""

import os
import sys

from callscope import _session


def main():
    binary = os.path.join(_session.PACKAGE_DIR, "callscope")
    if not os.access(binary, os.X_OK):
        sys.stderr.write("callscope: the callscope binary is missing at %s; build it with `make`\n" % binary)
        sys.exit(2)
    args = sys.argv[1:]
    if args[:1] == ["run"] and "--python" not in args:
        args = ["run", "--python", sys.executable] + args[1:]
    os.execv(binary, [binary] + args)


if __name__ == "__main__":
    main()
