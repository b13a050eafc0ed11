"""The program fuzz_filter records once, when it starts, and runs every
filter on: a few thousand calls in several blocks of the skip index, with
arguments of many types, return values, exceptions, generators, a
coroutine, methods, named threads and a call that never ends."""

import asyncio
import sys
import threading
import types

# A module of its own, with a file name, for `module`, `file` and `function`.
MODELS = '''
class Model:
    def __init__(self, name, **fields):
        self.name = name
        self.fields = fields

    def save(self, force=False):
        if self.name.startswith("bad"):
            raise KeyError(self.name)
        return len(self.fields)

    def __repr__(self):
        return "Model(%r)" % self.name


def load(key, default=None):
    return Model(key, id=hash(key) % 97) if key else default
'''
models = types.ModuleType("app.models")
exec(compile(MODELS, "/srv/app/models.py", "exec"), models.__dict__)
sys.modules["app.models"] = models


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def greet(name, times=1, *rest, sep=" ", **extra):
    return sep.join([name] * times)


def fail(x, why="bad %s_100% [x]*?"):
    raise ValueError(why.replace("%s", str(x)))


def odd_text(s, b, f, z, flag, nothing):
    return (s, b, f, z, flag, nothing)


def countdown(n):
    while n > 0:
        yield n
        n -= 1


async def fetch(url, delay=0):
    await asyncio.sleep(delay)
    return {"url": url, "status": 200}


async def gather_all(urls):
    return await asyncio.gather(*(fetch(u) for u in urls))


def rare(tag):
    return "rare:" + tag


def worker(count, label):
    total = 0
    for i in range(count):
        total += len(greet(label, i % 3))
        try:
            models.load("bad" + label if i % 7 == 0 else label).save()
        except KeyError:
            pass
    return total


def never_ends(event):
    event.wait()


def main():
    stuck = threading.Event()
    threading.Thread(target=never_ends, args=(stuck,), name="stuck*[1]", daemon=True).start()
    for i in range(150):
        fib(i % 6)
        greet("ab", i % 4, "x", sep="-", colour="red")
        if i == 75:
            rare("middle")
        if i % 30 == 0:
            try:
                fail(i)
            except ValueError:
                pass
    odd_text("quote ' and \" and \\ and \n", b"\x00\xff", 1.5e-7, 3 + 4j, True, None)
    odd_text("100%_done", bytearray(b"ab"), float("inf"), -0.0, False, [1, {"k": (2, 3)}])
    odd_text("ünïcödé ✓", b"", 2 ** 70, {1, 2}, ..., object())
    print(sum(countdown(50)))
    print(asyncio.run(gather_all(["http://a/%d" % i for i in range(5)])))
    threads = [threading.Thread(target=worker, args=(60, "w%d" % i), name="worker-%d" % i) for i in range(2)]
    threads.append(threading.Thread(target=worker, args=(40, "x_y"), name="100% x_y"))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(150):
        fib(i % 8)
    rare("end")
    try:
        fail(0, "it's over: %s")
    except ValueError:
        pass


main()
