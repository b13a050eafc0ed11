"""Names, messages and thread names come from the traced program: none of
them reaches a terminal as control characters (a title set, a screen
cleared), in show, stats, filter suggestions or the live commands."""

import unittest

from tests.py.live_support import LiveTarget

EVIL = "evil\\x1b]0;PWNED\\x07\\x1b[2J\\u009b"  # as Python source: ESC, BEL, and the C1 CSI

PROGRAM = '''
import threading
def f(x):
    raise ValueError("boom\\x1b[2J")
def g():
    return 1
f.__code__ = f.__code__.replace(co_name=NAME)
if hasattr(f.__code__, "co_qualname"):
    f.__code__ = f.__code__.replace(co_qualname=NAME)
def run():
    try:
        f(1)
    except ValueError:
        pass
    g()
t = threading.Thread(target=run, name="th\\x1b[31mred")
t.start()
t.join()
'''.replace("NAME", '"%s"' % EVIL)

CONTROL = [b"\x1b", b"\x07", b"\xc2\x9b"]


class TerminalSafety(LiveTarget):

    def assert_safe(self, out):
        for c in CONTROL:
            self.assertNotIn(c, out)

    def test_reader_commands_escape_program_text(self):
        self.run_traced(PROGRAM, options=["--no-stdlib"])
        show = self.callscope("show", self.db)
        self.assert_safe(show.stdout)
        self.assertIn(b"evil\\x1b]0;PWNED\\x07\\x1b[2J\\x9b(x=1) !! ValueError: boom\\x1b[2J", show.stdout)
        self.assertIn(b"thread th\\x1b[31mred", show.stdout)
        stats = self.callscope("stats", self.db)
        self.assert_safe(stats.stdout)
        self.assertIn(b"__main__.evil\\x1b]0;PWNED", stats.stdout)
        wrong = self.callscope("show", self.db, "--filter", "func == 'evi'")
        self.assertEqual(wrong.returncode, 2)
        self.assert_safe(wrong.stderr)
        self.assertIn(b"did you mean 'evil\\x1b]0;PWNED", wrong.stderr)

    def test_live_commands_escape_program_text(self):
        p = self.start_target('''
            def h(x):
                return x
            h.__code__ = h.__code__.replace(co_name="h\\x1b[2J")
            if hasattr(h.__code__, "co_qualname"):
                h.__code__ = h.__code__.replace(co_qualname="h\\x1b[2J")
            threading.current_thread().name = "main\\x1b]0;x\\x07"
            serve(lambda: h("v\\x1b[2J"))
        ''')
        for command in ("watch", "trace", "stack"):
            proc = self.live(command, p.pid, "__main__.h", "-n", "1", "--format", "tree")
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assert_safe(proc.stdout)
            self.assert_safe(proc.stderr)
            self.assertIn(b"main\\x1b]0;x\\x07", proc.stdout, command)
            self.assertIn(b"h\\x1b[2J", proc.stdout + proc.stderr, command)


if __name__ == "__main__":
    unittest.main()
