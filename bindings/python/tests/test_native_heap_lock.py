"""Native heap + lock profiling (LD_PRELOAD=libpyroscope.so, zero-code
mode) inside a multi-threaded Python process: no deadlock (the run must
finish within its deadline), the program's output is unchanged, and heap
and mutex profiles arrive.  The slowdown is printed (no timed assertion;
the machine is loaded).  PYROSCOPE_PRELOAD_LIB names the shared core
(ci.sh builds it); the test skips without it unless
PYROSCOPE_REQUIRE_PRELOAD=1."""
import glob
import os
import subprocess
import sys
import time

import pytest

import pprof
from conftest import HERE

LIB = os.environ.get("PYROSCOPE_PRELOAD_LIB")


def run(env_extra, timeout=300):
    env = dict(os.environ, **env_extra)
    t = time.monotonic()
    p = subprocess.run([sys.executable,
                        os.path.join(HERE, "workloads", "heap_lock.py")],
                       capture_output=True, text=True, env=env,
                       timeout=timeout)
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout, time.monotonic() - t


def test_heap_and_lock_in_python_process(tmp_path):
    if not LIB:
        if os.environ.get("PYROSCOPE_REQUIRE_PRELOAD") == "1":
            pytest.fail("PYROSCOPE_PRELOAD_LIB is not set")
        pytest.skip("PYROSCOPE_PRELOAD_LIB is not set")
    plain, t_plain = run({})
    prof, t_prof = run({
        "LD_PRELOAD": LIB, "PYROSCOPE_APPLICATION_NAME": "py.heaplock",
        "PYROSCOPE_SERVER_ADDRESS": "file://%s" % tmp_path,
        "PYROSCOPE_PROFILE_TYPES": "cpu,heap,lock",
        "PYROSCOPE_UPLOAD_INTERVAL": "1"})
    print("plain %.2fs, heap+lock+cpu %.2fs (x%.2f)"
          % (t_plain, t_prof, t_prof / t_plain))
    assert prof == plain  # same results with the hooks in every malloc/lock
    profiles = [pprof.Profile(open(f, "rb").read())
                for f in glob.glob(os.path.join(str(tmp_path), "**", "*"),
                                   recursive=True) if os.path.isfile(f)]
    by_type = {}
    for p in profiles:
        by_type.setdefault(p.sample_types[0][0], []).append(p)
    assert "alloc_objects" in by_type, list(by_type)
    assert "contentions" in by_type, list(by_type)
    heap = sum(p.total(1) for p in by_type["alloc_objects"])
    locks = sum(p.total(0) for p in by_type["contentions"])
    assert heap > 0 and locks > 0, (heap, locks)
