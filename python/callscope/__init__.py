"""callscope: a function-call tracer for CPython.

Record from inside a program::

    import callscope
    with callscope.record("trace.db"):
        work()

    callscope.start("trace.db", no_args=True); work(); callscope.stop()

    @callscope.notrace          # this function and all it calls: not recorded
    def noisy(): ...

    callscope.log("cache miss", key=k)   # a log event in the current call

Read the record with ``callscope show``, ``callscope stats``, ``callscope
sql`` or any SQLite client that loads callscope's SQLite extension (see
docs/schema.md)::

    con = callscope.connect("trace.db")   # sqlite3, with the extension loaded
    con.execute("select function, duration_ms from call_view").fetchall()
"""

import os
import sys

from callscope import _session

try:  # imported now: an import while recording would be recorded
    from callscope import _callscope as _extension
except ImportError:  # not built for this Python: start() and notrace() say so
    _extension = None

__all__ = ["start", "stop", "record", "notrace", "log", "connect", "sqlite_extension"]

_collector = None  # the `callscope collect` process of the active recording
# start() calls that joined a recording already under way (`callscope run`,
# or an outer start()), each ended by a stop() that leaves it running
_joined = 0
_told_joined = False

# Options of start()/record(), as `callscope collect` spells them.
_VALUE_OPTIONS = {
    "max_string": "--max-string",
    "max_items": "--max-items",
    "max_depth": "--max-depth",
    "min_duration": "--min-duration",
    "max_calls": "--max-calls",
    "buffer": "--buffer",
    "on_full": "--on-full",
}
_FLAG_OPTIONS = {
    "no_args": "--no-args",
    "repr": "--repr",
    "c_calls": "--c-calls",
    "no_stdlib": "--no-stdlib",
    "no_site_packages": "--no-site-packages",
    "deep_recursion": "--deep-recursion",
}
_LIST_OPTIONS = {"include": "--include", "exclude": "--exclude"}


def sqlite_extension():
    """The path of callscope's SQLite extension, which SQLite clients load
    to read a recording's calls (the call_rows virtual table)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "callscope_sqlite.so")


def connect(path, **kwargs):
    """A sqlite3 connection to the recording at path that can read its
    calls: callscope's SQLite extension is loaded into it. Raises
    RuntimeError, saying what to use instead, where this Python's sqlite3
    cannot load extensions (Pythons built without
    --enable-loadable-sqlite-extensions, such as pyenv's by default)."""
    import sqlite3

    if not hasattr(sqlite3.Connection, "enable_load_extension"):
        raise RuntimeError("this Python's sqlite3 cannot load extensions, which reading a recording's calls"
                           " needs; use `callscope sql %s ...`, or a Python built with"
                           " --enable-loadable-sqlite-extensions" % path)
    _wait_for_build(path)
    con = sqlite3.connect(path, **kwargs)
    try:
        con.enable_load_extension(True)
        con.load_extension(sqlite_extension())
        con.enable_load_extension(False)
    except BaseException:
        con.close()
        raise
    return con


def _wait_for_build(path):
    """Waits for the build of the calls of a deferred recording at path if
    one is under way: the builder holds an exclusive flock(2) on the file
    (docs/schema.md, "A deferred recording")."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return  # (sqlite3 says what is wrong with the path)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
    finally:
        os.close(fd)


def _collector_binary():
    path = os.path.join(_session.PACKAGE_DIR, "callscope")
    if not os.access(path, os.X_OK):
        raise RuntimeError("callscope: the collector is missing at %s; build it with `make`" % path)
    return path


# defer_rows's values, as `callscope collect` spells them.
_DEFER_ROWS = {False: None, None: None, True: "--defer-rows", "background": "--defer-rows",
               "later": "--defer-rows=later"}


def _command(path, options):
    cmd = [_collector_binary(), "collect", "-o", os.fspath(path), "--owner", str(os.getpid())]
    for key, value in options.items():
        if key == "defer_rows":
            if not isinstance(value, (bool, str, type(None))) or value not in _DEFER_ROWS:
                raise ValueError("callscope.start(): defer_rows is True, 'later' or False, not %r" % (value,))
            if _DEFER_ROWS[value]:
                cmd.append(_DEFER_ROWS[value])
        elif key in _VALUE_OPTIONS:
            cmd += [_VALUE_OPTIONS[key], str(value)]
        elif key in _FLAG_OPTIONS:
            if value:
                cmd.append(_FLAG_OPTIONS[key])
        elif key in _LIST_OPTIONS:
            for item in [value] if isinstance(value, str) else value:
                cmd += [_LIST_OPTIONS[key], item]
        else:
            raise TypeError("callscope.start() got an unknown option %r" % key)
    return cmd


def start(path="callscope.db", **options):
    """Starts recording every thread of this process into the database at
    `path` (replaced if it exists). Options mirror `callscope run`'s:
    no_args, repr, c_calls, include, exclude, no_stdlib, no_site_packages,
    deep_recursion, max_string, max_items, max_depth, min_duration (ms), max_calls, buffer
    (MB), on_full ('wait' or 'drop'), defer_rows (True: the events only,
    whose calls are built once stop() is called, in a process of their own;
    'later': by `callscope index PATH`).

    In a process that is recorded already (by `callscope run`, or an
    earlier start()), it joins that recording instead: the calls go on into
    the file being written, `path` is not made, and the matching stop()
    leaves that recording running."""
    global _collector, _joined, _told_joined
    command = _command(path, options)  # (unknown options are an error either way)
    if _collector is not None or (_extension is not None and _extension.recording()):
        _joined += 1
        if not _told_joined:
            _told_joined = True
            sys.stderr.write("callscope: this process is recorded already; callscope.start(%r) joins that "
                             "recording and writes no file of its own\n" % (os.fspath(path),))
        return
    unsupported = _session.unsupported_interpreter()
    if unsupported:
        raise RuntimeError("callscope: " + unsupported)
    # imported here, not with the package: `callscope run` loads the package
    # into every program it starts, which should find its modules as it
    # would without callscope (and not wait for subprocess's imports)
    import subprocess

    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    ring = proc.stdout.readline().decode().strip()
    if not ring.startswith("/callscope-"):
        proc.wait()
        raise RuntimeError("callscope: the collector could not start (exit status %s)" % proc.returncode)
    try:
        _session.join(ring, bool(options.get("no_stdlib")), bool(options.get("no_site_packages")))
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    _collector = proc


def stop():
    """Stops recording and waits until the database is complete (or, after
    a start() that joined a recording under way, leaves it running). With
    defer_rows, the events are complete: their calls are being built, and
    callscope's readers and connect() wait for them."""
    global _collector, _joined
    if _joined:
        _joined -= 1
        return
    if _collector is None:
        return
    _extension.stop()
    proc, _collector = _collector, None
    proc.stdout.close()
    if proc.wait() != 0:
        raise RuntimeError("callscope: the collector failed (exit status %s)" % proc.returncode)


class record:
    """``with callscope.record(path, **options):`` records the block (see
    start()). A class of callscope's own, so that no code of another module
    runs, and is recorded, as the block begins and ends."""

    def __init__(self, path="callscope.db", **options):
        self._path = path
        self._options = options

    def __enter__(self):
        start(self._path, **self._options)
        return self

    def __exit__(self, *exc_info):
        stop()
        return False


def notrace(func):
    """Decorator: the function, and everything it calls, is not recorded."""
    if _extension is None:
        raise RuntimeError("callscope: " + _session.extension_missing_message())
    target = func
    while hasattr(target, "__wrapped__") and not hasattr(target, "__code__"):
        target = target.__wrapped__
    code = getattr(target, "__code__", None)
    if code is None:
        raise TypeError("callscope.notrace needs a Python function, got %r" % (func,))
    _extension.notrace(code)
    return func


def log(message, **fields):
    """Records a log event attached to the call that is running."""
    if _extension is not None:
        _extension.log(str(message), fields or None)
