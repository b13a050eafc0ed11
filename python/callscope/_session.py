"""Joining a collector's ring from this interpreter: what every way of
recording (``callscope run``, child processes, the Python API) shares."""

import os
import sys
import sysconfig
import threading

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _stdlib_paths():
    paths = {sysconfig.get_paths().get(k) for k in ("stdlib", "platstdlib")}
    return [p.rstrip("/") + "/" for p in paths if p] + ["<frozen "]


def _site_paths():
    import site

    found = set(getattr(site, "getsitepackages", lambda: [])())
    found.update(sysconfig.get_paths().get(k) for k in ("purelib", "platlib"))
    user = getattr(site, "getusersitepackages", lambda: None)()
    if user:
        found.add(user)
    return [p.rstrip("/") + "/" for p in found if p]


def excludes(no_stdlib, no_site):
    """Path prefixes this interpreter must not trace."""
    out = [PACKAGE_DIR + "/"]
    if no_stdlib:
        out += _stdlib_paths()
    if no_site:
        out += _site_paths()
    return out


_fork_hook = False


def join(ring_name, no_stdlib=False, no_site=False):
    from callscope import _callscope

    # Names of the threads already running, read before tracing starts so
    # that reading them is not recorded.
    names = [(t.native_id, t.name) for t in threading.enumerate() if getattr(t, "native_id", None)]
    paths = excludes(no_stdlib, no_site)
    global _fork_hook
    if not _fork_hook and hasattr(os, "register_at_fork"):
        # after threading's own hook, which makes the forking thread the
        # child's main thread
        os.register_at_fork(after_in_child=_callscope.forked)
        _fork_hook = True
    _callscope.start(ring_name, paths, names)
    return _callscope


def unsupported_interpreter():
    """Why callscope cannot trace this interpreter, or None."""
    import sysconfig

    if sys.version_info < (3, 8):
        return "Python 3.8 or later is needed, not %d.%d (%s)" % (sys.version_info[0], sys.version_info[1],
                                                                   sys.executable)
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        return ("%s is a free-threaded build of Python %d.%d, which callscope does not support; "
                "use the default build" % (sys.executable, sys.version_info[0], sys.version_info[1]))
    return None


def extension_missing_message():
    v = sys.version_info
    return (
        "the extension is not built for Python %d.%d (%s); build it with: make PYTHON=%s"
        % (v[0], v[1], sys.executable, sys.executable)
    )


def join_failed_message(error):
    """One line for a join that failed: the extension's reason, and for a
    ring of another build, how to build this interpreter's extension anew."""
    message = str(error)
    if message.startswith("callscope: "):
        message = message[len("callscope: "):]
    if "another build of callscope" in message:
        message += "; build the extension again with: make PYTHON=%s" % sys.executable
    return message


def env_flags():
    """--no-stdlib / --no-site-packages, passed down to child processes."""
    flags = os.environ.get("CALLSCOPE_FLAGS", "")
    return "no-stdlib" in flags.split(","), "no-site" in flags.split(",")
