"""Our own workloads against a real Pyroscope server, read back through
its query API (issue 20's Python row)."""
import os
import subprocess
import sys
import time
import uuid

import pytest

import pyro

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = os.path.join(HERE, "..", "tests", "workloads")


def unique(prefix):
    return "python-%s-%s" % (prefix, uuid.uuid4().hex[:8])


@pytest.mark.parametrize("api", ["push", "ingest"])
def test_cpu_split_and_tag_filter(server_url, api, tmp_path):
    app = unique("split-" + api)
    src = open(os.path.join(WORKLOADS, "split.py")).read().replace(
        'application_name="py.split"', 'application_name=%r' % app)
    # From a file at an absolute path, as an application runs: for
    # spyName=pyspy over /ingest the server renames functions whose file
    # is not absolute to "<file> <function>" (og/convert/pprof/profile.go).
    script = tmp_path / "split_app.py"
    script.write_text(src)
    start = int(time.time() * 1000) - 60000
    subprocess.run([sys.executable, str(script), server_url, "4.0", "tagged",
                    api], check=True, timeout=300)
    sel = '{service_name="%s"}' % app
    st = pyro.wait_functions(server_url, pyro.CPU, sel,
                             ["heavy_a", "light_b", "main"], start_ms=start)
    share = 100 * st.split("heavy_a", "light_b")
    print("real server (%s): heavy_a %.1f%%" % (api, share))
    assert abs(share - 75.0) <= 3.0, st.top(10, by="total")
    assert pyro.label_values(server_url, "suite", sel, start_ms=start) == \
        ["split"]
    # labels the official SDK sends too (Series() leaves dotted ones out;
    # LabelValues has them)
    assert pyro.label_values(server_url, "process.runtime.name", sel,
                             start_ms=start) == ["cpython"]
    # a per-request tag selects only the work done under it
    for phase, mine, theirs in (("heavy", "heavy_a", "light_b"),
                                ("light", "light_b", "heavy_a")):
        tagged = pyro.stacks(server_url, pyro.CPU,
                             '{service_name="%s", phase="%s"}' % (app, phase),
                             start_ms=start)
        got, other = tagged.total.get(mine, 0), tagged.total.get(theirs, 0)
        print("real server (%s): phase=%s: %s %.2f s, %s %.2f s" % (
            api, phase, mine, got / 1e9, theirs, other / 1e9))
        assert got > 0 and other == 0, tagged.top()


def test_memory_and_wall_profiles(server_url):
    app = unique("mem")
    start = int(time.time() * 1000) - 60000
    env = dict(os.environ, PYTHONPATH=os.path.join(HERE, "..", "tests"))
    src = open(os.path.join(WORKLOADS, "mem_split.py")).read().replace(
        'application_name="py.mem"', 'application_name=%r' % app)
    subprocess.run([sys.executable, "-c", src, server_url, "60"], check=True,
                   timeout=300, env=env)
    sel = '{service_name="%s"}' % app
    types = pyro.wait_for(
        lambda: [t for t in pyro.profile_types(server_url, sel, start_ms=start)
                 if t.startswith("memory:")], what="memory types")
    assert pyro.ALLOC_SPACE in types and pyro.INUSE_SPACE in types, types
    st = pyro.wait_functions(server_url, pyro.ALLOC_SPACE, sel,
                             ["alloc_a", "alloc_b"], start_ms=start)
    share = 100 * st.split("alloc_a", "alloc_b")
    print("real server: alloc_a %.1f%% of alloc_space" % share)
    assert abs(share - 75.0) <= 3.0, st.top(10, by="total")

    app = unique("wall")
    src = open(os.path.join(WORKLOADS, "wall_split.py")).read().replace(
        'application_name="py.wall"', 'application_name=%r' % app)
    out = subprocess.run([sys.executable, "-c", src, server_url, "5", "wall"],
                         check=True, timeout=300, env=env, capture_output=True,
                         text=True).stdout
    slept, computed = map(float, out.split()[-2:])
    sel = '{service_name="%s"}' % app
    st = pyro.wait_functions(server_url, pyro.CPU, sel,
                             ["sleep_phase", "compute"], start_ms=start)
    share = 100 * st.split("sleep_phase", "compute")
    want = 100 * slept / (slept + computed)
    print("real server: wall sleep %.1f%% (program %.1f%%)" % (share, want))
    assert abs(share - want) <= 3.0
