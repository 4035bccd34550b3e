"""OpenTelemetry span profiles: link traces to profiles.

Drop-in for the ``pyroscope-otel`` package (same module path, class and
constants)::

    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from pyroscope.otel import PyroscopeSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(PyroscopeSpanProcessor())
    trace.set_tracer_provider(provider)

For each local root span (no parent, or a remote parent: the first span of
this service in a trace) the processor sets the span attribute
``pyroscope.profile.id`` to the span id, and the CPU samples taken on the
thread that started the span, until it ends, carry the labels ``span_id``,
``span_name`` and ``trace_id``.  Grafana uses the attribute to find the
span's samples.  Child spans do not relabel.

How the labels get there depends on the upload API:

* ``api="push"`` (the default) or a ``file://`` address: ``span_id`` and
  ``span_name`` are the core's span labels (``pyroscope_span_begin``): no
  new tag set per span on our side.  ``trace_id``, which pyroscope-otel
  also sends, is a thread tag (:func:`pyroscope.add_thread_tag`).
* ``api="ingest"``, or wall-clock sampling (``oncpu=False``): the core
  records no span labels there (an /ingest series per span; wall samples
  are taken by another thread), so all three are thread tags, as
  pyroscope-otel does it.

The labels are per thread.  A thread carries those of its newest open
local root (as with pyroscope-otel, a root started inside another one
takes over; unlike it, the enclosing root's labels come back when the
inner one ends, and ending roots out of order is fine).  A span ended on another thread than the one that started it
is only marked ended there: the starting thread drops its labels at its
next span start or end (the core's span state can only be changed by its
own thread), and the ending thread's own labels are not touched.
"""
import logging
import threading
import typing

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

import pyroscope
from pyroscope import _native

__all__ = ["PyroscopeSpanProcessor", "PROFILE_ID_SPAN_ATTRIBUTE_KEY",
           "PROFILE_ID_PYROSCOPE_TAG_KEY", "SPAN_NAME_PYROSCOPE_TAG_KEY",
           "TRACE_ID_PYROSCOPE_TAG_KEY"]

PROFILE_ID_SPAN_ATTRIBUTE_KEY = "pyroscope.profile.id"
PROFILE_ID_PYROSCOPE_TAG_KEY = "span_id"
SPAN_NAME_PYROSCOPE_TAG_KEY = "span_name"
TRACE_ID_PYROSCOPE_TAG_KEY = "trace_id"

_LOG = logging.getLogger("pyroscope")


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


def _core_spans():
    """True when the core records span labels for the running profiler."""
    cfg = pyroscope._config
    if cfg is None:
        return True  # not configured yet: "push" is the default
    if cfg.get("wall"):
        return False
    return (cfg.get("api") != "ingest" or
            cfg.get("server_address", "").startswith("file://"))


class _Root:
    """A local root span a thread began; `ended` may be set by any thread
    (under _lock, with its removal from _open), everything else belongs
    to the thread that began it."""

    __slots__ = ("span_id", "name", "trace_id", "core", "ended")

    def __init__(self, span):
        self.span_id = span.context.span_id
        self.name = span.name
        self.trace_id = _trace_id(span)
        self.core = _core_spans()  # decided once: end as we began
        self.ended = False

    def apply(self):
        if self.core:
            _native.span_begin(self.span_id, self.name)
        else:
            pyroscope.add_thread_tag(PROFILE_ID_PYROSCOPE_TAG_KEY,
                                     format(self.span_id, "016x"))
            pyroscope.add_thread_tag(SPAN_NAME_PYROSCOPE_TAG_KEY,
                                     _tag_value(self.name))
        pyroscope.add_thread_tag(TRACE_ID_PYROSCOPE_TAG_KEY, self.trace_id)

    def unapply(self):
        if self.core:
            _native.span_end()
        else:
            pyroscope.remove_thread_tag(PROFILE_ID_PYROSCOPE_TAG_KEY,
                                        format(self.span_id, "016x"))
            pyroscope.remove_thread_tag(SPAN_NAME_PYROSCOPE_TAG_KEY,
                                        _tag_value(self.name))
        pyroscope.remove_thread_tag(TRACE_ID_PYROSCOPE_TAG_KEY,
                                    self.trace_id)


class _Thread(threading.local):
    def __init__(self):
        self.roots = []  # _Root begun on this thread, oldest first
        self.applied = None  # the _Root whose labels the thread carries


# Shared by every processor instance: the core's span state is one per
# thread, so two processors on one provider must not both begin a span.
_lock = threading.Lock()
_open = {}  # (trace id, span id) -> _Root, for on_end on any thread
_thread = _Thread()


def _relabel():
    """On the calling thread: forget its roots ended here or elsewhere,
    then carry the labels of the newest one still open.  The core is
    given one span at a time (never nested: its nesting keeps the
    outermost, and a count that an end on the wrong thread or out of
    order would skew), so every change is an end and a begin here."""
    st = _thread
    if not st.roots and st.applied is None:
        return
    # No lock: `ended` only ever turns True, and one missed now is seen
    # at the next call.  The common case (a child span) rebuilds nothing.
    if any(r.ended for r in st.roots):
        st.roots = [r for r in st.roots if not r.ended]
    want = st.roots[-1] if st.roots else None
    if want is st.applied:
        return
    try:
        if st.applied is not None:
            st.applied.unapply()
        # Recorded before applying: a half-applied root is still undone
        # (undoing what was never done is harmless).
        st.applied = want
        if want is not None:
            want.apply()
    except Exception as e:  # never fail the application's span
        _LOG.debug("pyroscope.otel: span labels: %s", e)


class PyroscopeSpanProcessor(SpanProcessor):
    """Span processor that links local root spans to their profile
    samples."""

    def on_start(self, span: Span,
                 parent_context: typing.Optional[Context] = None) -> None:
        if not _is_root_span(span):
            _relabel()  # roots ended on other threads since the last call
            return
        span.set_attribute(PROFILE_ID_SPAN_ATTRIBUTE_KEY, _span_id(span))
        key = (span.context.trace_id, span.context.span_id)
        with _lock:
            if key in _open:  # another processor instance has it
                return
            r = _open[key] = _Root(span)
        _thread.roots.append(r)
        _relabel()

    def on_end(self, span: ReadableSpan) -> None:
        if _is_root_span(span):
            key = (span.context.trace_id, span.context.span_id)
            with _lock:
                r = _open.pop(key, None)
                if r is not None:
                    r.ended = True
        # Only this thread's own roots change here; a root of another
        # thread is dropped by that thread (the core is per thread).
        _relabel()

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
