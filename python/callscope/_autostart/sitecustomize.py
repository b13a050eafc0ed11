"""Starts recording in Python processes that a traced program starts
(subprocess, multiprocessing's spawn and forkserver), then hands over to the
sitecustomize this one hides, if any."""

# What handing over to a hidden sitecustomize needs is imported before the
# recording starts: callscope's own imports are not the program's calls.
import importlib.machinery
import importlib.util
import os
import sys


def _record_this_process():
    ring = os.environ.get("CALLSCOPE_RING")
    if not ring or os.environ.get("CALLSCOPE_RING_MAIN"):
        return  # the main program is started by callscope._bootstrap
    try:
        from callscope import _session

        _session.join(ring, *_session.env_flags())
    except Exception:
        pass  # another Python version, or the recording is over: run untraced


def _chain():
    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec and spec.loader:
        module = importlib.util.module_from_spec(spec)
        sys.modules["sitecustomize"] = module
        spec.loader.exec_module(module)


_record_this_process()
_chain()
