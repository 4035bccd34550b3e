"""75% / 25% CPU split between two functions, measured in thread CPU time."""
import sys
import time

import pyroscope

TOTAL = float(sys.argv[2]) if len(sys.argv) > 2 else 4.0  # CPU seconds


def burn(budget):
    end = time.thread_time() + budget
    x = 0
    while time.thread_time() < end:
        for i in range(100):
            x += i
    return x


def heavy_a(budget):
    end = time.thread_time() + budget
    x = 0
    while time.thread_time() < end:
        for i in range(100):
            x += i
    return x


def light_b(budget):
    end = time.thread_time() + budget
    x = 0
    while time.thread_time() < end:
        for i in range(100):
            x += i
    return x


def main():
    flags = set(sys.argv[3:])
    extra = {}
    if "qualified" in flags:
        extra = dict(api="ingest", qualified_names=True)
    elif "ingest" in flags:
        extra = dict(api="ingest")
    pyroscope.configure(application_name="py.split", server_address=sys.argv[1],
                        tags={"suite": "split"}, upload_interval=1.0, **extra)
    cycle = 0.0317
    tagged = "tagged" in flags  # per-request tags on each phase
    for _ in range(int(TOTAL / cycle)):
        if tagged:
            with pyroscope.tag_wrapper({"phase": "heavy"}):
                heavy_a(cycle * 0.75)
            with pyroscope.tag_wrapper({"phase": "light"}):
                light_b(cycle * 0.25)
        else:
            heavy_a(cycle * 0.75)
            light_b(cycle * 0.25)
    pyroscope.shutdown()


main()
