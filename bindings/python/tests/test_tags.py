import collections

import pytest

from conftest import run_workload

# function -> the tags its samples must carry (beyond the static env=test)
EXPECT = {
    "work_x": {"worker": "x"},
    "work_y": {"worker": "y"},
    "work_nested": {"worker": "x", "inner": "1"},
    "work_untagged": {},
    "work_thread_tag": {"th": "main"},
}


def check(ingest, expect_min):
    seen = collections.Counter()
    wrong = []
    for tags, s in ingest.samples():
        assert tags.get("env") == "test", tags
        other = {k: v for k, v in tags.items() if k != "env"}
        for fn, want in EXPECT.items():
            if s.has(fn):
                seen[fn] += s.values[0]
                if other != want:
                    wrong.append((fn, other, s.values[0]))
    print(dict(seen), wrong[:5])
    assert not wrong, wrong[:10]
    for fn, n in expect_min.items():
        assert seen[fn] >= n, (fn, seen)


def test_tags_follow_threads(ingest):
    run_workload("tags", ingest.address, "threads")
    check(ingest, {"work_x": 30, "work_y": 30, "work_nested": 10,
                   "work_untagged": 10, "work_thread_tag": 15})


def test_tags_follow_asyncio_tasks(ingest):
    run_workload("tags", ingest.address, "asyncio")
    check(ingest, {"work_x": 20, "work_y": 20, "work_nested": 10,
                   "work_untagged": 10})
