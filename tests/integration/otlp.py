"""OTLP export against a real Pyroscope server: what test_otlp --workload
sends over /v1development/profiles must come back from the query API under
the application's service name, as process_cpu, with the 75/25 split the
workload burns, with each request tag selecting only its own function,
and with a span selector returning only that span's samples.

    python3 tests/integration/otlp.py BUILD_DIR
Env: PYROSCOPE_TEST_SERVER (else a server is started), PYROSCOPE_REQUIRE_SERVER.
"""
import os
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyro  # noqa: E402


def main(build):
    try:
        srv = pyro.server()
    except pyro.Unavailable as e:
        print("skip -", e)
        return 1 if pyro.required() else 77
    run = uuid.uuid4().hex[:12]
    start = int(time.time() * 1000) - 5000
    exe = os.path.join(build, "tests", "test_otlp")
    subprocess.run([exe, "--workload", srv.url, run], check=True, timeout=180)
    sel = '{service_name="test_otlp",run="%s"}' % run
    st = pyro.wait_functions(srv.url, pyro.CPU, sel, ["work_alpha", "work_beta"],
                             timeout=120, start_ms=start)
    types = pyro.profile_types(srv.url, sel, start_ms=start)
    split = st.split("work_alpha", "work_beta")
    print("otlp: types %s; work_alpha %.1f%% of alpha+beta (%d ms of CPU)"
          % (types, 100 * split, st.grand // 1000000))
    assert pyro.CPU in types, types
    assert abs(split - 0.75) <= 0.03, split
    only_a = pyro.stacks(srv.url, pyro.CPU, sel[:-1] + ',endpoint="/alpha"}',
                         start_ms=start)
    assert only_a.total.get("work_alpha", 0) > 0, only_a.top()
    assert only_a.total.get("work_beta", 0) == 0, only_a.top()
    print("otlp: endpoint=/alpha selects work_alpha only (%d ms)"
          % (only_a.total["work_alpha"] // 1000000))
    # Span profiles: one alpha chunk's span selects about 300 ms of alpha.
    span = pyro.stacks(srv.url, pyro.CPU, sel, start_ms=start,
                       span_ids=["%016x" % (0x5a5a0000 + 3)])
    ms = span.total.get("work_alpha", 0) / 1e6
    print("otlp: span %016x selects %d ms of work_alpha, %d ms of work_beta"
          % (0x5a5a0003, ms, span.total.get("work_beta", 0) / 1e6))
    assert 150 <= ms <= 450, span.top()
    assert span.total.get("work_beta", 0) == 0, span.top()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "build"))
