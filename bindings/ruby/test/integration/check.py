"""Ruby binding against a real Pyroscope server (issue 20).

Runs test/integration/app.rb (75/25 CPU split between Workload#heavy under
endpoint=/checkout and Workload#light under endpoint=/search) once per
upload API, then asks the server's own query API for:
  - service_name = the application name, process_cpu profile types;
  - both hot methods, with a heavy/(heavy+light) split of 75% +- 3 points;
  - endpoint="/checkout" -> only heavy, endpoint="/search" -> only light;
  - none of the gem's own Ruby frames (Pyroscope.*) in the stacks;
  - the official gem's labels: push otel.scope.name, process.runtime.*;
    ingest spyName rbspy.
Exit 0 = all passed, 1 = a check failed, 77 = no server (skip).
"""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RUBY_DIR = os.path.dirname(os.path.dirname(HERE))
REPO = os.path.dirname(os.path.dirname(RUBY_DIR))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import pyro  # noqa: E402

failures = []


def check(cond, what):
    print("  %s %s" % ("ok  " if cond else "FAIL", what), flush=True)
    if not cond:
        failures.append(what)


def run_app(url, app, api, secs):
    load = [] if os.environ.get("PYROSCOPE_TEST_GEM") == "1" else [
        "-I", os.path.join(RUBY_DIR, "lib"), "-I", os.path.join(RUBY_DIR, "ext")]
    cmd = ["ruby"] + load + [os.path.join(HERE, "app.rb"), url, app, api,
                             str(secs)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                       cwd=RUBY_DIR)
    out = p.stdout + p.stderr
    lines = out.strip().splitlines()
    shown = lines[:6] + (["... %d more lines" % (len(lines) - 6)] if len(lines) > 6 else [])
    print("\n".join("  app: " + l for l in shown), flush=True)
    return p.returncode, out


def one_api(url, api):
    app = "ruby-it-%s-%d-%d" % (api, os.getpid(), int(time.time()))
    sel = '{service_name="%s"}' % app
    print("::: ruby integration: api=%s service_name=%s" % (api, app),
          flush=True)
    t0 = int(time.time() * 1000) - 60000
    rc, out = run_app(url, app, api, os.environ.get("RUBY_IT_SECONDS", "8"))
    check(rc == 0, "app exited 0 (rc %d)" % rc)
    check("upload rejected" not in out, "no upload rejected by the server")
    # On /ingest with spyName=rbspy the server itself renames Ruby
    # functions to "<file> <name>" (it did so for the official gem's
    # uploads too); files are relative to the app's working directory.
    pre = "test/workloads/work.rb " if api == "ingest" else ""
    heavy, light = pre + "Workload#heavy", pre + "Workload#light"
    try:
        st = pyro.wait_functions(url, pyro.CPU, sel, [heavy, light],
                                 timeout=120, start_ms=t0)
    except TimeoutError as exc:
        check(False, "heavy and light queryable: %s" % exc)
        return
    check(app in pyro.label_values(url, "service_name", sel, start_ms=t0),
          "service_name is the application name")
    types = pyro.profile_types(url, sel, start_ms=t0)
    check(pyro.CPU in types, "profile type %s present (%s)" % (pyro.CPU, types))
    split = 100.0 * st.split(heavy, light)
    check(abs(split - 75.0) <= 3.0, "split heavy/light %.1f%% (75 +- 3)" % split)
    ours = sorted(n for n in st.names()
                  if "Pyroscope." in n or "Pyroscope::" in n or "lib/pyroscope" in n)
    check(not ours, "no gem frames in the stacks (%s)" % ours)
    for tag, want, other in (("/checkout", heavy, light),
                             ("/search", light, heavy)):
        ts = pyro.stacks(url, pyro.CPU,
                         '{service_name="%s",endpoint="%s"}' % (app, tag),
                         start_ms=t0)
        check(ts.total.get(want, 0) > 0 and ts.total.get(other, 0) == 0,
              'endpoint="%s": %s=%d, %s=%d' % (tag, want, ts.total.get(want, 0),
                                               other, ts.total.get(other, 0)))
    labels = pyro.series(url, sel, start_ms=t0)
    lab = labels[0] if labels else {}
    check(lab.get("suite") == "ruby-integration", "static tag suite present")
    # push: the official gem's series labels.  This server keeps them but
    # lists dotted names only through LabelValues, not Series.
    if api == "push":
        ruby_ver = subprocess.run(["ruby", "-e", "print RUBY_ENGINE_VERSION"],
                                  capture_output=True, text=True).stdout
        for name, want in (("otel.scope.name", "com.grafana.pyroscope/ruby"),
                           ("process.runtime.name", "ruby"),
                           ("process.runtime.version", ruby_ver)):
            got = pyro.label_values(url, name, sel, start_ms=t0)
            check(got == [want], "label %s = %s (%s)" % (name, want, got))
    if api == "ingest":
        check(lab.get("pyroscope_spy") == "rbspy",
              "spyName rbspy like the official gem (%s)" % lab)
    top = ", ".join("%s %.1f%%" % (n, 100.0 * v / st.grand)
                    for n, v in st.top(4, by="total") if st.grand)
    print("  server: %s" % top, flush=True)


def span_profiles(url):
    """Pyroscope::Otel::SpanProcessor: span_id per sample, span_name label."""
    app = "ruby-it-otel-%d-%d" % (os.getpid(), int(time.time()))
    print("::: ruby integration: span profiles, service_name=%s" % app, flush=True)
    t0 = int(time.time() * 1000) - 60000
    load = [] if os.environ.get("PYROSCOPE_TEST_GEM") == "1" else [
        "-I", os.path.join(RUBY_DIR, "lib"), "-I", os.path.join(RUBY_DIR, "ext")]
    p = subprocess.run(["ruby"] + load + [os.path.join(HERE, "otel_app.rb"), url,
                        app, os.environ.get("RUBY_IT_SECONDS", "8")],
                       capture_output=True, text=True, timeout=600)
    check(p.returncode == 0 and "profile_id=00000000000000b2" in p.stdout,
          "otel app ran, span got pyroscope.profile.id (%s)" % (p.stdout + p.stderr).strip()[-300:])
    sel = '{service_name="%s"}' % app
    try:
        pyro.wait_functions(url, pyro.CPU, sel, ["Workload#work_a", "Workload#work_b"],
                            timeout=120, start_ms=t0)
    except TimeoutError as exc:
        check(False, "span app queryable: %s" % exc)
        return
    now = int(time.time() * 1000) + 60000
    for sid, want, other in (("00000000000000a1", "Workload#work_a", "Workload#work_b"),
                             ("00000000000000b2", "Workload#work_b", "Workload#work_a")):
        out = pyro.rpc(url, "SelectMergeSpanProfile", {
            "profile_typeID": pyro.CPU, "label_selector": sel,
            "span_selector": [sid], "start": str(t0), "end": str(now),
            "max_nodes": "16384"})
        st = pyro.flamegraph_stacks(out.get("flamegraph") or {})
        check(st.total.get(want, 0) > 0 and st.total.get(other, 0) == 0,
              "SelectMergeSpanProfile span %s: %s=%d, %s=%d" % (
                  sid, want, st.total.get(want, 0), other, st.total.get(other, 0)))
    st = pyro.stacks(url, pyro.CPU, '{service_name="%s",span_name="GET /search"}' % app,
                     start_ms=t0)
    check(st.total.get("Workload#work_b", 0) > 0 and st.total.get("Workload#work_a", 0) == 0,
          'span_name="GET /search": work_b=%d work_a=%d' % (
              st.total.get("Workload#work_b", 0), st.total.get("Workload#work_a", 0)))
    names = pyro.label_values(url, "span_id", sel, start_ms=t0)
    check(not names, "span_id is not a series label (%s)" % names[:3])


def main():
    try:
        srv = pyro.server()
    except pyro.Unavailable as exc:
        print("ruby integration: %s" % exc)
        return 1 if pyro.required() else 77
    apis = os.environ.get("RUBY_IT_APIS", "push ingest").split()
    for api in apis:
        one_api(srv.url, api)
    if os.environ.get("RUBY_IT_OTEL", "1") == "1":
        span_profiles(srv.url)
    if failures:
        print("ruby integration: %d check(s) failed:\n  %s"
              % (len(failures), "\n  ".join(failures)))
        return 1
    print("ruby integration: all checks passed (%s)" % ", ".join(apis))
    return 0


if __name__ == "__main__":
    sys.exit(main())
