"""`callscope tui`: the live commands in one screen, driven in a real
terminal (tmux) against a real running process, checked by what the user
sees and by what is left in the process."""

import os
import re
import subprocess
import time
import unittest

from tests.py.live_support import LiveTarget
from tests.py.support import CALLSCOPE
from tests.py.test_view import TMUX, Screen

TARGET = '''
def leaf(x):
    return x * 2

def branch(n):
    return sum(leaf(i) for i in range(n))

def work():
    branch(3)

serve(work, pause=0.05)
'''


@unittest.skipUnless(TMUX, "tmux is not installed")
def reverse_lines(lines):
    """Each line of a screen captured with its escapes, or None where no
    text of it is in reverse video. The capture turns an attribute on
    once and leaves it on: a line right under a reverse one (the first
    process under the title) starts reverse with no code of its own, so
    the state is carried from line to line."""
    out, reverse = [], False
    for line in lines:
        shown = False
        for m in re.finditer(r"\x1b\[([0-9;]*)m|([^\x1b]+)", line):
            if m.group(2) is not None:
                shown = shown or (reverse and m.group(2).strip() != "")
                continue
            for code in (m.group(1) or "0").split(";"):
                if code in ("0", ""):
                    reverse = False
                elif code == "7":
                    reverse = True
                elif code == "27":
                    reverse = False
        out.append(line if shown else None)
    return out


class LiveTui(LiveTarget):
    def screen(self, args, width=120, height=30):
        s = Screen("%s tui %s" % (CALLSCOPE, args), self.dir, width, height)
        self.addCleanup(s.close)
        # reports keep arriving while the test looks: a screen need not be still
        s.wait_for = lambda needle: s.wait(lambda t: needle in t, repr(needle), stable=False)
        return s

    def test_trace_watch_threads_delete_detach(self):
        p = self.start_target(TARGET, attach=False)  # the TUI attaches
        s = self.screen(str(p.pid))
        s.wait_for("callscope tui · pid %d" % p.pid)
        s.keys("t")
        s.wait_for("trace pattern:")
        s.typed("__main__.branch")
        s.keys("Enter")
        tree = s.wait(lambda t: "] __main__.leaf " in t and "] __main__.branch " in t, "a call tree", stable=False)
        self.assertIn("thread=MainThread", tree)
        self.assertIn("received", tree)
        # Down goes from the newest report's first line to its traced call;
        # Enter folds that call to its line, hiding what it called
        s.keys("Down")
        s.keys("Enter")
        s.wait(lambda t: re.search(r"\(\+\d+\) \[[^]]+\] __main__\.branch ", t), "a folded call", stable=False)
        # and on a report's first line, Enter folds the whole report
        s.keys("Up")
        s.keys("Enter")
        s.wait(lambda t: re.search(r"\(\+\d+\) \d{4}-\d\d-\d\d .*thread=MainThread", t), "a folded report",
               stable=False)
        s.keys("c")
        s.wait_for("records cleared")
        s.keys("w")
        s.typed("__main__.leaf")
        s.keys("Enter")
        watched = s.wait(lambda t: "params: x=" in t and "return: " in t, "a watch report", stable=False)
        self.assertIn(">watch", watched)  # the new observation is selected
        s.keys("T")
        s.wait(lambda t: '"MainThread"' in t and "__main__.<module>" in t, "the threads", stable=False)
        s.keys("P")  # a second of top
        s.wait(lambda t: "SELF%" in t and "__main__." in t, "a top table", stable=False)
        s.keys("Escape")
        s.keys("x")
        s.wait_for("observation removed")
        listed = s.text()
        self.assertIn("trace   __main__.branch", listed)
        self.assertNotIn("watch   __main__.leaf", listed)
        s.keys("d")
        s.wait_for("detached from process %d" % p.pid)
        for _ in range(300):
            if not os.path.exists(self.socket_path(p.pid)):
                break
            time.sleep(0.01)
        self.assertFalse(os.path.exists(self.socket_path(p.pid)))  # the agent ended
        s.keys("q")
        s.wait_for("viewer exited 0")
        self.assertIsNone(p.poll())  # the program runs on

    def test_patterns_complete_from_the_loaded_functions(self):
        p = self.start_target(TARGET)
        s = self.screen(str(p.pid))
        s.wait_for("callscope tui · pid %d" % p.pid)
        s.keys("t")
        s.typed("__main__.bra")
        s.keys("Tab")
        s.wait_for("trace pattern: __main__.branch")  # the one function there is
        s.keys("C-u")
        s.typed("__main__.")
        s.keys("Tab")
        s.wait_for("functions: Down and Up choose")
        s.keys("Down")
        chosen = s.wait(lambda t: any(l.startswith("trace pattern: __main__.") and len(l.strip()) > 24
                                      for l in t.split("\n")), "a candidate in the line", stable=False)
        name = [l for l in chosen.split("\n") if l.startswith("trace pattern: ")][0].split(": ", 1)[1].strip()
        self.assertTrue(name.startswith("__main__.") and len(name) > len("__main__."), name)
        s.keys("Enter")
        s.wait(lambda t: "trace   %s" % name in t, "the observation started")
        s.keys("q")
        s.wait_for("viewer exited 0")

    def test_choosing_the_process(self):
        p = self.start_target(TARGET, attach=False)
        s = self.screen("")
        s.wait_for("choose a Python process")
        s.wait_for("%8d  " % p.pid)
        # move the highlight (reverse video) onto the target's line
        for _ in range(1000):
            lines = s.text(escapes=True).split("\n")
            lit = [re.sub(r"\x1b\[[0-9;]*m", "", l) for i, l in enumerate(reverse_lines(lines)) if l and i > 0]
            pids = re.findall(r"^ *(\d+)  ", lit[0]) if lit else []
            if pids and int(pids[0]) == p.pid:
                break
            # the list is ordered by pid, and other processes may be listed
            # on either side of the target (or off the screen): go toward it
            s.keys("Down" if pids and int(pids[0]) < p.pid else "Up")
            time.sleep(0.02)
        else:
            self.fail("the target's line was never highlighted:\n%s" % s.text())
        s.keys("Enter")
        s.wait_for("callscope tui · pid %d" % p.pid)
        s.keys("q")
        s.wait_for("viewer exited 0")

    def test_a_pattern_that_does_not_resolve_is_said_and_nothing_starts(self):
        p = self.start_target(TARGET)
        s = self.screen(str(p.pid))
        s.wait_for("callscope tui · pid %d" % p.pid)
        s.keys("t")
        s.typed("nomodule.f")
        s.keys("Enter")
        s.wait(lambda t: "not loaded in the target" in t, "the agent's refusal")
        s.keys("q")
        s.wait_for("viewer exited 0")

    def test_bad_arguments(self):
        for args, said, status in ((["abc"], "'abc' is not a process id", 2), (["1", "2"], "usage: callscope tui", 2),
                                   (["999999999"], "no process 999999999", 1)):
            proc = subprocess.run([CALLSCOPE, "tui"] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL)
            self.assertEqual(proc.returncode, status, args)
            self.assertIn(said, proc.stderr.decode())
        p = self.start_target(TARGET)
        proc = subprocess.run([CALLSCOPE, "tui", str(p.pid)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("tui needs a terminal", proc.stderr.decode())


if __name__ == "__main__":
    unittest.main()
