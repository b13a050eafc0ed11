"""A small program to try callscope on: a few nested calls, a recursive
function, a generator, an exception and a worker thread.

    build/callscope run examples/demo.py
    build/callscope show
"""

import threading


class Inventory:
    def __init__(self):
        self.items = {}

    def add(self, name, count=1):
        self.items[name] = self.items.get(name, 0) + count
        return self.items[name]

    def take(self, name, count):
        if self.items.get(name, 0) < count:
            raise ValueError("only %d %s left" % (self.items.get(name, 0), name))
        self.items[name] -= count
        return self.items[name]


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def countdown(n):
    while n > 0:
        yield n
        n -= 1


def restock(inventory):
    for name in ("apple", "pear"):
        inventory.add(name, 3)


def main():
    inventory = Inventory()
    inventory.add("apple")
    worker = threading.Thread(target=restock, args=(inventory,), name="restocker")
    worker.start()
    worker.join()
    try:
        inventory.take("pear", 10)
    except ValueError as e:
        print("refused:", e)
    print("fib(6) =", fib(6))
    print("countdown:", list(countdown(3)))


if __name__ == "__main__":
    main()
