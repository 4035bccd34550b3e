"""OpenTelemetry span profiles: link traces to profiles.

Drop-in for the ``pyroscope-otel`` package (same module path, class and
constants)::

    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from pyroscope.otel import PyroscopeSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(PyroscopeSpanProcessor())
    trace.set_tracer_provider(provider)

For each root span (no parent, or a remote parent: the first span of this
service in a trace) the processor sets the span attribute
``pyroscope.profile.id`` to the span id, and tags the CPU samples taken on
the thread while the span is open with ``span_id``, ``span_name`` and
``trace_id``.  Grafana uses the attribute to find the span's samples.

The tags go through :func:`pyroscope.add_thread_tag`, as in
pyroscope-otel, so they follow the thread that started the span.
"""
import typing

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

import pyroscope

__all__ = ["PyroscopeSpanProcessor", "PROFILE_ID_SPAN_ATTRIBUTE_KEY",
           "PROFILE_ID_PYROSCOPE_TAG_KEY", "SPAN_NAME_PYROSCOPE_TAG_KEY",
           "TRACE_ID_PYROSCOPE_TAG_KEY"]

PROFILE_ID_SPAN_ATTRIBUTE_KEY = "pyroscope.profile.id"
PROFILE_ID_PYROSCOPE_TAG_KEY = "span_id"
SPAN_NAME_PYROSCOPE_TAG_KEY = "span_name"
TRACE_ID_PYROSCOPE_TAG_KEY = "trace_id"


def _is_root_span(span):
    return span.parent is None or span.parent.is_remote


def _span_id(span):
    return format(span.context.span_id, "016x")


def _trace_id(span):
    return format(span.context.trace_id, "032x")


def _tag_value(v):
    # Tag values may not hold { } , = or control characters (they would
    # break the series syntax); span names can, so replace those.
    return "".join("_" if (c in "{},=" or ord(c) < 32) else c
                   for c in v) or "_"


class PyroscopeSpanProcessor(SpanProcessor):
    """Span processor that links root spans to their profile samples."""

    def on_start(self, span: Span,
                 parent_context: typing.Optional[Context] = None) -> None:
        if not _is_root_span(span):
            return
        sid = _span_id(span)
        span.set_attribute(PROFILE_ID_SPAN_ATTRIBUTE_KEY, sid)
        pyroscope.add_thread_tag(PROFILE_ID_PYROSCOPE_TAG_KEY, sid)
        pyroscope.add_thread_tag(SPAN_NAME_PYROSCOPE_TAG_KEY,
                                 _tag_value(span.name))
        pyroscope.add_thread_tag(TRACE_ID_PYROSCOPE_TAG_KEY, _trace_id(span))

    def on_end(self, span: ReadableSpan) -> None:
        if not _is_root_span(span):
            return
        pyroscope.remove_thread_tag(PROFILE_ID_PYROSCOPE_TAG_KEY,
                                    _span_id(span))
        pyroscope.remove_thread_tag(SPAN_NAME_PYROSCOPE_TAG_KEY,
                                    _tag_value(span.name))
        pyroscope.remove_thread_tag(TRACE_ID_PYROSCOPE_TAG_KEY,
                                    _trace_id(span))

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
