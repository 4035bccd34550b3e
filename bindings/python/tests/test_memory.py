"""mem_enabled=True: sampled Python allocations with Python stacks."""
from conftest import run_workload


def shares(ingest, index):
    a = b = other = 0
    for _tags, s in ingest.samples("memory"):
        v = s.values[index]
        if s.has("alloc_a"):
            a += v
        elif s.has("alloc_b"):
            b += v
        else:
            other += v
    return a, b, other


def test_memory_split_alloc_and_inuse(ingest):
    # 64 KiB between samples: the ~96 MB kept alive get ~1500 samples, so
    # the in-use split has a standard error of about 1 point (at 512 KiB
    # it would be ~3 points, too coarse for a 3-point check).
    live, sampled = map(int, run_workload("mem_split", ingest.address,
                                          60, 64 << 10).split()[-2:])
    # Poisson by bytes: ~1.06 GB / 64 KiB = ~16000 samples
    assert 13000 < sampled < 20000, sampled
    mem = [u for u in ingest.uploads if u.type == "memory"]
    assert mem, "no memory profile uploaded"
    assert mem[0].profile.sample_types == [
        ("alloc_objects", "count"), ("alloc_space", "bytes"),
        ("inuse_objects", "count"), ("inuse_space", "bytes")]
    assert mem[0].app == "py.mem"
    # alloc_space: 3:1 by construction (60 rounds * 16 MB of bytearrays)
    a, b, other = shares(ingest, 1)
    share = 100.0 * a / (a + b)
    print("alloc_space a %d b %d other %d -> %.1f%%" % (a, b, other, share))
    assert abs(share - 75.0) <= 3.0, (a, b)
    # the estimate of total bytes is unbiased: 60*4000*4400 = 1.056 GB
    assert 0.85e9 < a + b < 1.25e9, a + b
    # alloc_objects: 264k bytearrays, each a 56-byte object plus its
    # 4 kB buffer, plus list storage.  The small blocks are sampled only
    # ~240 times in all here (each stands for ~1200 objects), hence the
    # wider bounds on the object split.
    ao, bo, _ = shares(ingest, 0)
    print("alloc_objects a %d b %d" % (ao, bo))
    assert 0.35e6 < ao + bo < 1.5e6, (ao, bo)
    assert abs(100.0 * ao / (ao + bo) - 75.0) <= 12.0, (ao, bo)
    # in-use space: the last window's totals (each window carries the live
    # set at its end), 3:1 and close to what the program keeps
    last = mem[-1]
    ia = sum(s.values[3] for s in last.profile.samples if s.has("alloc_a"))
    ib = sum(s.values[3] for s in last.profile.samples if s.has("alloc_b"))
    print("inuse a %d b %d, program keeps %d" % (ia, ib, live))
    assert abs(100.0 * ia / (ia + ib) - 75.0) <= 3.0, (ia, ib)
    assert 0.85 * live < ia + ib < 1.15 * live, (ia + ib, live)
    # real Python stacks: the function, its file and line, and its caller
    s = next(s for _t, s in ingest.samples("memory") if s.has("alloc_a"))
    # (3.11 runs list comprehensions in a <listcomp> frame of their own)
    assert s.functions[0] in ("alloc_a", "<listcomp>"), s.functions
    fn, file, line = next(f for f in s.frames if f[0] == "alloc_a")
    assert file.endswith("workloads/mem_split.py"), s.frames
    assert 11 <= line <= 13, line
    assert "main" in s.functions and "<module>" in s.functions, s.functions


def test_memory_default_rate(ingest):
    # the default 512 KiB: ~1.06 GB / 512 KiB = ~2000 samples (plus the
    # interpreter's own small allocations); the alloc split holds
    sampled = int(run_workload("mem_split", ingest.address, 60).split()[-1])
    assert 1700 < sampled < 2600, sampled
    a, b, _ = shares(ingest, 1)
    assert abs(100.0 * a / (a + b) - 75.0) <= 3.0, (a, b)
    assert 0.85e9 < a + b < 1.25e9, a + b


def test_memory_sample_size_changes_sample_count(ingest):
    # 16 MiB between samples: far fewer samples, same estimated total
    out = run_workload("mem_split", ingest.address, 60, 16 << 20)
    sampled = int(out.split()[-1])
    assert 30 < sampled < 110, sampled  # ~63 expected
    a, b, _ = shares(ingest, 1)
    assert 0.5e9 < a + b < 1.7e9, a + b
