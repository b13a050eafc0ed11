"""Runs a program under the tracer for ``callscope run``.

    python -m callscope._bootstrap SCRIPT [ARGS...]
    python -m callscope._bootstrap -m MODULE [ARGS...]

The program sees what ``python SCRIPT ARGS`` would give it: the same argv,
``__name__ == "__main__"``, ``sys.path[0]``, streams and exit status; an
uncaught exception's traceback shows only the program's frames.
"""

import os
import sys
import types

from callscope import _session


def _fail(message, status=2):
    sys.stderr.write("callscope: %s\n" % message)
    sys.stderr.flush()
    os._exit(status)


def _own_path_entries():
    """sys.path entries that only exist because callscope put them there."""
    ours = {os.path.dirname(_session.PACKAGE_DIR), os.path.join(_session.PACKAGE_DIR, "_autostart")}
    return [p for p in sys.path if os.path.abspath(p or ".") in ours]


def _trim_traceback_hook(main_globals, hook):
    """An excepthook that hides the frames above the program's own."""

    def trimmed(etype, value, tb):
        t = tb
        while t is not None and t.tb_frame.f_globals is not main_globals:
            t = t.tb_next
        if t is None:
            t = tb
        if isinstance(value, BaseException):
            value.__traceback__ = t  # what the interpreter's hook displays
        hook(etype, value, t)

    return trimmed


def _prepare_script(path, args):
    try:
        with open(path, "rb") as f:
            source = f.read()
    except OSError as e:
        _fail("cannot open %s: %s" % (path, e.strerror or e))
    # From 3.9 on the interpreter names the main script by its absolute path.
    filename = os.path.abspath(path) if sys.version_info >= (3, 9) else path
    try:
        code = compile(source, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as e:
        where = " (line %s)" % e.lineno if getattr(e, "lineno", None) else ""
        _fail("cannot compile %s: %s%s" % (path, getattr(e, "msg", None) or e, where), 1)
    sys.argv[:] = [path] + args
    sys.path[0] = os.path.dirname(os.path.realpath(path))
    main = types.ModuleType("__main__")
    main.__file__ = filename
    main.__cached__ = None
    import importlib.machinery

    main.__loader__ = importlib.machinery.SourceFileLoader("__main__", filename)
    main.__builtins__ = __builtins__
    return main, code


def _prepare_module(name, args):
    import runpy

    try:
        mod_name, spec, code = runpy._get_module_details(name)
    except Exception as e:  # runpy reports a missing module with its own error type
        _fail(str(e) or "no module named %s" % name, 1)
    main = types.ModuleType("__main__")
    main.__file__ = spec.origin
    main.__cached__ = spec.cached
    main.__loader__ = spec.loader
    main.__package__ = spec.parent
    main.__spec__ = spec
    main.__builtins__ = __builtins__
    sys.argv[:] = [spec.origin] + args
    return main, code


def main():
    args = sys.argv[1:]
    unsupported = _session.unsupported_interpreter()
    if unsupported:
        _fail(unsupported)
    if not args or (args[0] == "-m" and len(args) < 2):
        _fail("usage: python -m callscope._bootstrap (SCRIPT | -m MODULE) [ARGS...]")
    ring = os.environ.pop("CALLSCOPE_RING_MAIN", None)
    if not ring:
        _fail("CALLSCOPE_RING_MAIN is not set: use `callscope run`")
    for entry in _own_path_entries():
        sys.path.remove(entry)
    if args[0] == "-m":
        main_module, code = _prepare_module(args[1], args[2:])
    else:
        main_module, code = _prepare_script(args[0], args[1:])
    try:
        from callscope import _callscope  # noqa: F401
    except ImportError as e:
        if "_callscope" in str(e) and "No module named" in str(e):
            _fail(_session.extension_missing_message())
        _fail("cannot load the extension: %s" % e)
    sys.modules["__main__"] = main_module
    no_stdlib, no_site = _session.env_flags()
    try:
        _session.join(ring, no_stdlib, no_site)
    except RuntimeError as e:
        _fail(_session.join_failed_message(e))
    globals_ = main_module.__dict__
    try:
        exec(code, globals_)
    except SystemExit:
        raise
    except BaseException:
        sys.excepthook = _trim_traceback_hook(globals_, sys.excepthook)
        raise


if __name__ == "__main__":
    main()
