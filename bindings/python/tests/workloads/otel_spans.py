"""Spans with the real opentelemetry-sdk and our PyroscopeSpanProcessor."""
import json
import sys
import time

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter)

import pyroscope
from pyroscope.otel import PyroscopeSpanProcessor


def spin(budget):
    end = time.thread_time() + budget
    while time.thread_time() < end:
        sum(range(100))


def in_root(budget):
    spin(budget)


def in_child(budget):
    spin(budget)


def outside(budget):
    spin(budget)


def main():
    pyroscope.configure(application_name="py.otel", server_address=sys.argv[1],
                        upload_interval=1)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(PyroscopeSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    for i in range(3):
        with tracer.start_as_current_span("GET /checkout"):
            in_root(0.15)
            with tracer.start_as_current_span("db query"):
                in_child(0.15)
        outside(0.1)
    pyroscope.shutdown()
    spans = [{"name": s.name, "span_id": format(s.context.span_id, "016x"),
              "trace_id": format(s.context.trace_id, "032x"),
              "parent": s.parent is not None,
              "attrs": dict(s.attributes)} for s in exporter.get_finished_spans()]
    print(json.dumps(spans))


main()
