import pytest

from conftest import run_workload


@pytest.mark.parametrize("reads", ["guarded", "syscall"])
def test_75_25_split_recovered(ingest, reads):
    run_workload("split", ingest.address, 4.0,
                 env_extra={"PYROSCOPE_PYTHON_SAFE_READS": reads})
    assert ingest.uploads, "nothing uploaded"
    u = ingest.uploads[0]
    assert u.labels["__name__"] == "process_cpu"  # push API, as pyroscope-io
    assert u.app == "py.split"
    assert u.tags.get("suite") == "split"
    assert u.profile.period == 10000000  # 100 Hz
    a = b = other = 0
    for _tags, s in ingest.samples():
        n = s.values[0]
        if s.has("heavy_a"):
            a += n
        elif s.has("light_b"):
            b += n
        else:
            other += n
    total = a + b
    assert total >= 300, (a, b, other)
    share = 100.0 * a / total
    print("heavy_a %d, light_b %d, other %d -> %.1f%%" % (a, b, other, share))
    assert abs(share - 75.0) <= 3.0, (a, b, share)
    # The Python frames are real: bare function names as pyroscope-io
    # reports them, file and line.
    s = next(s for _t, s in ingest.samples() if s.has("heavy_a"))
    fn, file, line = next(f for f in s.frames if f[0].endswith("heavy_a"))
    assert fn == "heavy_a"
    assert file.endswith("workloads/split.py")
    assert 22 <= line <= 27
    assert any(f[0] == "main" for f in s.frames)


def test_qualified_names_and_ingest_api(ingest):
    run_workload("split", ingest.address, 1.0, "qualified")
    u = ingest.uploads[0]
    assert u.labels is None and u.query["spyName"] == "pyspy"
    # /ingest names the series after the application alone (the server
    # tells types apart by the sample types) and sends no format=pprof
    # with a multipart body.
    assert u.app == "py.split"
    assert "format" not in u.query
    fns = {f for _t, s in ingest.samples() for f in s.functions}
    assert "split.heavy_a" in fns and "split.main" in fns, sorted(fns)[:20]
