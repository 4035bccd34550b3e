"""pyroscope.otel.PyroscopeSpanProcessor with the real opentelemetry-sdk,
checked on the decoded profiles (tests/workloads/otel_spans.py)."""
import json

import pytest

from conftest import run_workload

pytest.importorskip("opentelemetry.sdk.trace")

ROOT_NAME = "GET /checkout"


@pytest.fixture(scope="module", params=["push", "ingest"])
def run(request):
    from conftest import IngestServer
    srv = IngestServer()
    try:
        out = json.loads(run_workload("otel_spans", srv.address, request.param)
                         .strip().splitlines()[-1])
        out["api"] = request.param
        out["samples"] = srv.samples()
        yield out
    finally:
        srv.close()


def by_name(run):
    spans = {}
    for s in run["spans"]:
        spans.setdefault(s["name"], []).append(s)
    return spans


def labels_of(run, fn):
    """[(span_id, span_name, trace_id, weight)] of the samples in `fn`."""
    out = [(t.get("span_id"), t.get("span_name"), t.get("trace_id"),
            s.values[0]) for t, s in run["samples"] if s.has(fn)]
    assert out, "no samples in %s" % fn
    return out


def assert_span(run, fn, span):
    for sid, name, tid, _ in labels_of(run, fn):
        assert (sid, name, tid) == (span["span_id"], span["name"],
                                    span["trace_id"]), fn


def assert_unlabelled(run, fn):
    for sid, name, tid, _ in labels_of(run, fn):
        assert (sid, name, tid) == (None, None, None), fn


def ours(run):
    if not run["ours"]:
        pytest.skip("pyroscope-otel's processor replaced ours")


def test_root_span_labels_and_profile_id(run):
    spans = by_name(run)
    roots, children = spans[ROOT_NAME], spans["db query"]
    assert len(roots) == 3 and len(children) == 3
    for s in roots:  # the root span points at its profile
        assert s["attrs"]["pyroscope.profile.id"] == s["span_id"]
    for s in children:  # only root spans do
        assert "pyroscope.profile.id" not in s["attrs"]
    root_ids = {s["span_id"]: s for s in roots}
    for fn in ("in_root", "in_child"):
        seen = set()
        for sid, name, tid, _ in labels_of(run, fn):
            # child-span work carries its root's labels: no relabelling
            assert sid in root_ids, (fn, sid)
            assert name == ROOT_NAME and tid == root_ids[sid]["trace_id"]
            seen.add(sid)
        assert len(seen) >= 2, (fn, seen)  # every root gets its own
    assert_unlabelled(run, "outside")


def test_labels_come_from_the_core_span_api_on_push(run):
    ours(run)
    n = len(run["spans"]) - len(by_name(run)["db query"])  # local roots
    if run["api"] == "push":
        # one begin per local root, plus outer's again once inner1 ended;
        # every begin ended (handoff's by A, at its next span event)
        assert run["calls"] == {"begin": n + 1, "end": n + 1}, run["calls"]
    else:  # /ingest: the core records no spans, thread tags do it
        assert run["calls"] == {"begin": 0, "end": 0}, run["calls"]


def test_nested_roots_and_out_of_order_ends(run):
    ours(run)
    sp = {k: v[0] for k, v in by_name(run).items()}
    assert_span(run, "n_outer", sp["outer"])
    assert_span(run, "n_inner1", sp["inner1"])  # the newest root labels
    assert_span(run, "n_back_outer", sp["outer"])  # and gives way back
    assert_span(run, "n_inner2", sp["inner2"])
    assert_span(run, "n_after_outer", sp["inner2"])  # outer ended first
    assert_unlabelled(run, "n_outside")


def test_span_ended_on_another_thread(run):
    ours(run)
    sp = {k: v[0] for k, v in by_name(run).items()}
    assert_span(run, "h_a_in", sp["handoff"])
    # B ended A's span: B's own root still labels B, and B is clean after
    assert_span(run, "h_b_own_before", sp["b own"])
    assert_span(run, "h_b_own_after", sp["b own"])
    assert_unlabelled(run, "h_b_outside")
    # A dropped the ended root at its next span event: no stale labels
    assert_span(run, "h_a_next", sp["next"])
    assert_unlabelled(run, "h_a_after")


def test_native_span_args():
    from pyroscope import _native
    with pytest.raises(ValueError):
        _native.span_begin(0, "x")  # 0 means "no span"
    for bad in (-1, 1 << 64):
        with pytest.raises(OverflowError):
            _native.span_begin(bad, "x")
    with pytest.raises(TypeError):
        _native.span_begin("1", "x")
    _native.span_begin((1 << 64) - 1, None)
    _native.span_end()
    _native.span_end()  # extra ends are ignored
