"""Generators and coroutines of every shape the interpreter resumes, for
test_live.WhatTheProgramSees: `look [NAME...]` drives each (sends, throws,
close, cancellation, async generators) and prints what the program saw,
with and without a tracer's line events; `kept` finishes generators made
before any attach."""
import asyncio, json, sys, traceback, contextlib

def s_loop(n):
    for i in range(n):
        yield i * 2

def s_try(tag):
    total = 0
    try:
        while True:
            try:
                got = yield total
            except KeyError:
                got = 100
            if got is None:
                break
            total += got
    finally:
        total += 1
    return "%s-%d" % (tag, total)

def s_inner():
    try:
        x = yield 1
    except KeyError:
        return "inner-handled"
    return x

def s_delegate():
    r = yield from s_inner()
    y = yield r
    return y

def s_cond():
    x = (yield) or 3
    y = yield x if x > 2 else -x
    return x, y

def s_walrus():
    x = 0
    while (x := (yield x)) is not None: pass
    return "walrus"

@contextlib.contextmanager
def s_with():
    yield "inside"

# A line of 300 constants after its yield: EXTENDED_ARG for the hooks'
# constants, and more of the line than a trampoline copies at once.
exec("def s_many_consts():\n    return (yield -1) + " + " + ".join(str(i) for i in range(300)))

def s_closure(k):
    def add(v):
        return v + k
    got = yield add(1)
    while got is not None:
        got = yield add(got)

async def s_await(x):
    await asyncio.sleep(0)
    try:
        await asyncio.sleep(10 if x < 0 else 0)
    except asyncio.CancelledError:
        return "cancelled"
    return x * 2

async def s_agen(n):
    for i in range(n):
        try:
            yield i
        except ValueError:
            yield -1
    async with asyncio.Lock():
        yield "locked"

def run(name):
    out = []
    def rec(f):
        try:
            out.append(repr(f()))
        except BaseException as e:
            out.append("%s%r@%s" % (type(e).__name__, e.args, [f.lineno for f in traceback.extract_tb(e.__traceback__)][-2:]))
    if name == "s_loop":
        rec(lambda: list(s_loop(4)))
    elif name == "s_try":
        g = s_try("t"); rec(lambda: next(g)); rec(lambda: g.send(2)); rec(lambda: g.throw(KeyError())); rec(lambda: g.send(None))
        g = s_try("u"); rec(lambda: next(g)); rec(lambda: g.throw(ValueError("v")))
        g = s_try("w"); rec(lambda: next(g)); rec(lambda: g.close()); rec(lambda: g.gi_frame)
        g = s_try("x"); rec(lambda: next(g)); rec(lambda: g.gi_frame.f_lineno)
    elif name == "s_delegate":
        g = s_delegate(); rec(lambda: next(g)); rec(lambda: g.throw(KeyError())); rec(lambda: g.send(5))
        g = s_delegate(); rec(lambda: next(g)); rec(lambda: g.send(3)); rec(lambda: g.throw(OSError("o")))
        g = s_delegate(); rec(lambda: next(g)); rec(lambda: g.gi_yieldfrom is not None); rec(lambda: g.close())
    elif name == "s_cond":
        for first in (None, 7, 1):
            g = s_cond(); rec(lambda: next(g)); rec(lambda: g.send(first)); rec(lambda: g.send("y"))
    elif name == "s_walrus":
        g = s_walrus(); rec(lambda: next(g)); rec(lambda: g.send(4)); rec(lambda: g.send(None))
    elif name == "s_with":
        def use():
            with s_with() as v:
                return v
        def fail():
            with s_with():
                raise KeyError("k")
        rec(use); rec(fail)
    elif name == "s_many_consts":
        g = s_many_consts(); rec(lambda: next(g)); rec(lambda: g.send(1))
        g = s_many_consts(); rec(lambda: next(g)); rec(lambda: g.send("v"))
    elif name == "s_closure":
        g = s_closure(10); rec(lambda: next(g)); rec(lambda: g.send(5)); rec(lambda: g.send(None))
    elif name == "s_await":
        async def main():
            t = asyncio.ensure_future(s_await(-1))
            await asyncio.sleep(0); await asyncio.sleep(0)
            t.cancel()
            return await t, await s_await(4)
        rec(lambda: asyncio.run(main()))
    elif name == "s_agen":
        async def main():
            a = s_agen(3)
            r = [await a.asend(None), await a.athrow(ValueError()), await a.asend(None)]
            r.append([v async for v in a])
            b = s_agen(2)
            r.append(await b.__anext__())
            await b.aclose()
            return r
        rec(lambda: asyncio.run(main()))
    return out

def traced(name):
    seen = []
    def tracer(frame, event, arg):
        if frame.f_code.co_name == name:
            seen.append((event, frame.f_lineno))
            return tracer
        return None
    sys.settrace(tracer)
    try:
        out = run(name)
    finally:
        sys.settrace(None)
    return {"out": out, "lines": seen, "untraced": run(name)}

NAMES = [n for n in dir() if n.startswith("s_")]
kept = s_try("kept"); next(kept); kept.send(7)   # suspended before any attach
fresh = s_try("fresh")                            # made, not started
print("ready", flush=True)
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "look":
        print(json.dumps({n: traced(n) for n in (cmd[1:] or NAMES)}), flush=True)
    elif cmd[0] == "kept":
        r = []
        for g in (kept, fresh):
            try:
                r.append(next(g)); g.send(None)
            except StopIteration as e:
                r.append(e.value)
        print(json.dumps(r), flush=True)
