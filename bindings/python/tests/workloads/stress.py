"""Frame churn under a high sample rate: threads that start and die,
generators, coroutines, exceptions, deep recursion and dynamically compiled
code that is freed right after it ran (its code objects die while samples
that point at them wait to be symbolized)."""
import asyncio
import sys
import threading
import time

import pyroscope

SECONDS = float(sys.argv[2])  # of the process's CPU time, all threads


def running(end):
    """Until the process used its CPU budget (a loaded machine gives it
    less CPU per second), or for at most 20 times as long in wall time."""
    cpu_end, wall_end = end
    return time.process_time() < cpu_end and time.monotonic() < wall_end


def dyn_code(i):
    src = "def f_%d(n):\n    return sum(j * j for j in range(n))\n" % i
    ns = {}
    exec(compile(src, "<dyn %d>" % i, "exec"), ns)
    return ns["f_%d" % i](300)


def recurse(n):
    if n == 0:
        try:
            raise ValueError("x")
        except ValueError:
            return sum(range(50))
    return recurse(n - 1) + 1


def gen(n):
    for i in range(n):
        yield recurse(i % 40)


async def coro(n):
    s = 0
    for i in range(n):
        s += recurse(i % 30)
        if i % 10 == 0:
            await asyncio.sleep(0)
    return s


def short_thread(k):
    return sum(gen(20)) + dyn_code(k)


def churn(end):
    i = 0
    while running(end):
        i += 1
        dyn_code(i)
        sum(gen(30))
        asyncio.run(coro(50))
        if i % 5 == 0:
            ts = [threading.Thread(target=short_thread, args=(i * 10 + j,))
                  for j in range(3)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()


def main():
    pyroscope.configure(application_name="py.stress",
                        server_address=sys.argv[1], sample_rate=1000,
                        upload_interval=0.5, gil_only=False)
    end = (time.process_time() + SECONDS, time.monotonic() + 20 * SECONDS)
    workers = [threading.Thread(target=churn, args=(end,)) for _ in range(3)]
    for w in workers:
        w.start()
    churn(end)
    for w in workers:
        w.join()
    pyroscope.shutdown()
    print("ok")


main()
