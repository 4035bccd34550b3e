"""pyroscope.otel.PyroscopeSpanProcessor with the real opentelemetry-sdk."""
import json

import pytest

from conftest import run_workload

pytest.importorskip("opentelemetry.sdk.trace")


def test_root_span_labels_and_profile_id(ingest):
    spans = json.loads(run_workload("otel_spans", ingest.address)
                       .strip().splitlines()[-1])
    roots = [s for s in spans if not s["parent"]]
    children = [s for s in spans if s["parent"]]
    assert len(roots) == 3 and len(children) == 3
    for s in roots:  # the root span points at its profile
        assert s["attrs"]["pyroscope.profile.id"] == s["span_id"]
    for s in children:  # only root spans do
        assert "pyroscope.profile.id" not in s["attrs"]
    root_ids = {s["span_id"]: s for s in roots}
    seen = {"in_root": set(), "in_child": set()}
    outside = 0
    for tags, s in ingest.samples():
        for fn in seen:
            if s.has(fn):
                sid = tags.get("span_id")
                assert sid in root_ids, (fn, tags)
                assert tags["span_name"] == "GET /checkout", tags
                assert tags["trace_id"] == root_ids[sid]["trace_id"]
                seen[fn].add(sid)
        if s.has("outside"):
            assert "span_id" not in tags, tags
            outside += s.values[0]
    # child-span work carries its root span's id, and each root got samples
    assert len(seen["in_root"]) >= 2 and len(seen["in_child"]) >= 2, seen
    assert outside > 0
