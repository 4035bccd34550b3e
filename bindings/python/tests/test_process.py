import collections
import json

from conftest import run_workload


def count(ingest, fn):
    return sum(s.values[0] for _t, s in ingest.samples() if s.has(fn))


def test_all_threads_profiled_when_not_gil_only(ingest):
    run_workload("gil", ingest.address, "0")
    n_nogil, n_gil = count(ingest, "nogil_work"), count(ingest, "gil_work")
    print("gil_only=False: nogil_work %d gil_work %d" % (n_nogil, n_gil))
    assert n_gil >= 70
    assert n_nogil >= 60  # the thread inside hashlib (no GIL) is sampled


def test_gil_only_drops_threads_without_gil(ingest):
    run_workload("gil", ingest.address, "1")
    n_nogil, n_gil = count(ingest, "nogil_work"), count(ingest, "gil_work")
    print("gil_only=True: nogil_work %d gil_work %d" % (n_nogil, n_gil))
    assert n_gil >= 70
    assert n_nogil <= 10


def by_pid(ingest):
    out = collections.defaultdict(collections.Counter)
    for tags, s in ingest.samples():
        for fn in ("parent_before", "parent_after", "fork_child_work",
                   "mp_child_work"):
            if s.has(fn):
                out[fn][tags.get("pid")] += s.values[0]
    return out


def test_fork_children_keep_profiling(ingest):
    pids = json.loads(run_workload("forking", ingest.address, "continue")
                      .strip().splitlines()[-1])
    got = by_pid(ingest)
    print(pids, dict(got))
    assert set(got["parent_before"]) == {str(pids["parent"])}
    assert set(got["parent_after"]) == {str(pids["parent"])}
    assert set(got["fork_child_work"]) == {str(pids["fork"])}
    assert set(got["mp_child_work"]) == {str(pids["mp"])}
    assert got["fork_child_work"][str(pids["fork"])] >= 42
    assert got["mp_child_work"][str(pids["mp"])] >= 42  # incl. last window


def test_fork_stop_leaves_children_unprofiled(ingest):
    pids = json.loads(run_workload("forking", ingest.address, "stop")
                      .strip().splitlines()[-1])
    got = by_pid(ingest)
    print(pids, dict(got))
    assert not got["fork_child_work"] and not got["mp_child_work"]
    assert sum(got["parent_after"].values()) >= 20


import pytest

# functions of workloads/stress.py (names are bare, as pyroscope-io's)
STRESS_FUNCS = {"dyn_code", "recurse", "gen", "short_thread", "churn",
                "main"}  # noqa: E402


@pytest.mark.parametrize("mode", ["plain", "faulthandler"])
def test_real_segfault_still_crashes(ingest, mode):
    p = run_workload("crash", ingest.address, mode, expect_rc=-11)
    assert "crashing" in p.stdout and "survived" not in p.stdout
    if mode == "faulthandler":
        assert "Segmentation fault" in p.stderr


@pytest.mark.parametrize("reads", ["guarded", "syscall"])
def test_stress_frame_churn_at_1000hz(ingest, reads):
    out = run_workload("stress", ingest.address, 3.0,
                       env_extra={"PYROSCOPE_PYTHON_SAFE_READS": reads})
    assert out.strip().endswith("ok")
    total = named = 0
    unnamed = collections.Counter()
    for _t, s in ingest.samples():
        total += s.values[0]
        if any(f in STRESS_FUNCS for f in s.functions):
            named += s.values[0]
        else:
            unnamed[tuple(s.functions[:8])] += s.values[0]
    print("samples %d, with stress.* frames %d" % (total, named))
    for stack, n in unnamed.most_common(8):
        print("  without: %d %s" % (n, " <- ".join(stack)))
    assert total >= 500
    assert named >= 0.8 * total
