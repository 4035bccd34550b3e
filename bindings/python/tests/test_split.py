import pytest

from conftest import run_workload


@pytest.mark.parametrize("reads", ["guarded", "syscall"])
def test_75_25_split_recovered(ingest, reads):
    run_workload("split", ingest.address, 4.0,
                 env_extra={"PYROSCOPE_PYTHON_SAFE_READS": reads})
    assert ingest.uploads, "nothing uploaded"
    q = ingest.uploads[0].query
    assert q["spyName"] == "pyroscope-python"
    assert q["sampleRate"] == "100"
    assert "format" not in q  # multipart body: format=pprof would be a 422
    assert ingest.uploads[0].app == "py.split"
    assert ingest.uploads[0].tags.get("suite") == "split"
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
    # The Python frames are real: module-qualified names, file and line.
    s = next(s for _t, s in ingest.samples() if s.has("heavy_a"))
    fn, file, line = next(f for f in s.frames if f[0].endswith("heavy_a"))
    assert fn == "split.heavy_a"
    assert file.endswith("workloads/split.py")
    assert 22 <= line <= 27
    assert any(f[0] == "split.main" for f in s.frames)
