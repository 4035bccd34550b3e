"""Spans with the real opentelemetry-sdk and our PyroscopeSpanProcessor.

argv: server address, api ("push" or "ingest").  Each phase burns CPU in a
function of its own, so the test can tell from the decoded profiles which
labels each phase's samples carried.  Prints one JSON line: the finished
spans, and how often the processor called the core's span API.
"""
import json
import queue
import sys
import threading
import time

from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter)

import pyroscope
import pyroscope.otel
from pyroscope import _native
from pyroscope.otel import PyroscopeSpanProcessor

DEADLINE = 60  # s: a hand-off that takes this long is a hang


def spin(budget):
    # CPU time, not wall time: a loaded machine still gets ~budget*rate
    # samples per phase.
    end = time.thread_time() + budget
    while time.thread_time() < end:
        sum(range(100))


# One function per phase: the profiles name the phase a sample ran in.
def in_root():
    spin(0.12)


def in_child():
    spin(0.12)


def outside():
    spin(0.12)


def n_outer():
    spin(0.12)


def n_inner1():
    spin(0.12)


def n_back_outer():
    spin(0.12)


def n_inner2():
    spin(0.12)


def n_after_outer():
    spin(0.12)


def n_outside():
    spin(0.12)


def h_a_in():
    spin(0.12)


def h_b_own_before():
    spin(0.12)


def h_b_own_after():
    spin(0.12)


def h_b_outside():
    spin(0.12)


def h_a_next():
    spin(0.12)


def h_a_after():
    spin(0.12)


calls = {"begin": 0, "end": 0}


def count(name, fn):
    def wrapped(*a):
        calls[name] += 1
        return fn(*a)
    return wrapped


def basic(tracer):
    for i in range(3):
        with tracer.start_as_current_span("GET /checkout"):
            in_root()
            with tracer.start_as_current_span("db query"):
                in_child()
        outside()


def nested(tracer):
    # Local roots inside a local root (context=Context(): no parent),
    # ended in and out of order, all on this thread.
    outer = tracer.start_span("outer")
    n_outer()
    inner1 = tracer.start_span("inner1", context=Context())
    n_inner1()
    inner1.end()
    n_back_outer()
    inner2 = tracer.start_span("inner2", context=Context())
    n_inner2()
    outer.end()  # before inner2: out of order
    n_after_outer()
    inner2.end()
    n_outside()


def handoff(tracer):
    # A span started on this thread (A) and ended on thread B, while B is
    # inside a root span of its own.
    spans, done, errors = queue.Queue(), threading.Event(), []

    def b():
        try:
            with tracer.start_as_current_span("b own"):
                h_b_own_before()
                spans.get(timeout=DEADLINE).end()
                h_b_own_after()
            h_b_outside()
        except Exception as e:  # reported by A
            errors.append(repr(e))
        finally:
            done.set()

    t = threading.Thread(target=b)
    t.start()
    h = tracer.start_span("handoff")
    h_a_in()
    spans.put(h)
    if not done.wait(DEADLINE) or errors:
        raise SystemExit("thread B: %s" % (errors or "timed out"))
    t.join(DEADLINE)
    # A's next span event drops the root B ended.
    with tracer.start_as_current_span("next"):
        h_a_next()
    h_a_after()


def main():
    api = sys.argv[2] if len(sys.argv) > 2 else "push"
    pyroscope.configure(application_name="py.otel", server_address=sys.argv[1],
                        upload_interval=1, api=api)
    _native.span_begin = count("begin", _native.span_begin)
    _native.span_end = count("end", _native.span_end)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(PyroscopeSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    basic(tracer)
    nested(tracer)
    handoff(tracer)
    pyroscope.shutdown()
    spans = [{"name": s.name, "span_id": format(s.context.span_id, "016x"),
              "trace_id": format(s.context.trace_id, "032x"),
              "parent": s.parent is not None,
              "attrs": dict(s.attributes)} for s in exporter.get_finished_spans()]
    print(json.dumps({"spans": spans, "calls": calls,
                      # False when pyroscope-otel's file replaced ours
                      "ours": hasattr(pyroscope.otel, "_relabel")}))


main()
