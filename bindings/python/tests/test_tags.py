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
    "work_nested_y": {"worker": "y", "inner": "1"},
    "work_deco": {"deco": "1"},
    "awork_deco": {"deco": "1"},
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
                   "work_nested_y": 10, "work_untagged": 10,
                   "work_thread_tag": 15, "work_deco": 5})


def test_tags_follow_asyncio_tasks(ingest):
    run_workload("tags", ingest.address, "asyncio")
    check(ingest, {"work_x": 20, "work_y": 20, "work_nested": 10,
                   "work_nested_y": 10, "work_untagged": 10, "awork_deco": 5})


def test_report_thread_id_and_name(ingest):
    main_ident = run_workload("tags", ingest.address, "report").split()[-1]
    seen = collections.defaultdict(set)
    for tags, s in ingest.samples():
        for fn in ("work_x", "work_y", "work_untagged"):
            if s.has(fn):
                seen[fn].add((tags.get("thread_name"), tags.get("thread_id")))
    print(dict(seen))
    assert {n for n, _ in seen["work_x"]} == {"alpha"}
    assert {n for n, _ in seen["work_y"]} == {"beta"}
    assert seen["work_untagged"] == {("MainThread", main_ident)}
    (_, xid), = seen["work_x"]
    (_, yid), = seen["work_y"]
    assert xid and yid and xid != yid != main_ident
