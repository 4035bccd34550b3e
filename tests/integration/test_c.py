#!/usr/bin/env python3
"""C integration checks against a real Grafana Pyroscope server.

Every upload path of the C core runs a program built to a known 75/25 split
and the result is read back through the server's own query API:

  ingest      examples/request_tags over /ingest (one series per tag set)
  push        examples/request_tags over push.v1.PusherService/Push
  ingest-cpu  examples/cpu_hotspots over /ingest (the demo program)
  heap        tests/integration/it_app heap (alloc and inuse, 3:1 bytes)
  lock        tests/integration/it_app lock: the mutex profile charges
              the holders it_hold_major/minor (3:1 contentions, same hold)
  block       the same run's block profile: the waiters it_wait_major/minor
  heap-push, lock-push   the same over the push API
  heap-otlp, lock-otlp   the same over OTLP (/v1development/profiles)
  preload     tests/integration/it_plain under LD_PRELOAD, no code change

For each: service_name is the application name (no ".cpu"), the profile
types appear, the hot functions appear in SelectMergeStacktraces with the
split within 3 points, and a tag selector returns only that tag's stacks.

usage: test_c.py [--build DIR] [--reuse-only] [--only NAME,...]
                 [--table FILE]
Exit 0 all passed, 1 a check failed, 77 no server (skip) unless
PYROSCOPE_REQUIRE_SERVER=1 (then 1).
"""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pyro  # noqa: E402

TOLERANCE = 0.03
RUN_TIMEOUT = 180


class Failed(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failed(msg)


class Path:
    """One upload path: how to run it and what the server must show."""

    def __init__(self, name, cmd, env, types, split_type, major, minor,
                 tag=None, only=None, absent=None, extra_splits=()):
        self.name = name
        self.cmd = cmd
        self.env = env
        self.types = types            # profile type IDs that must appear
        self.split_type = split_type  # type the split is read from
        self.major, self.minor = major, minor
        self.tag = tag                # label selector part, e.g. 'k="v"'
        self.only = only              # function the tag selects
        self.absent = absent          # function it must not return
        self.extra_splits = extra_splits  # more types with the same split
        self.app = env["PYROSCOPE_APPLICATION_NAME"]
        self.result = {"accepted": "no"}


def paths(build, prefix, want):
    lib = os.path.join(build, "libpyroscope.so")
    ex = os.path.join(build, "examples")
    tb = os.path.join(build, "tests")
    base = {"PYROSCOPE_UPLOAD_INTERVAL": "3s", "PYROSCOPE_LOG_LEVEL": "warn"}

    def env(app, **kw):
        e = dict(base, PYROSCOPE_APPLICATION_NAME=prefix + app)
        e.update(kw)
        return e

    cpu = [pyro.CPU, pyro.SAMPLES]
    heap = [pyro.ALLOC_SPACE, pyro.ALLOC_OBJECTS, pyro.INUSE_SPACE,
            pyro.INUSE_OBJECTS]
    lock = [pyro.MUTEX_COUNT, pyro.MUTEX_DELAY]
    tags = dict(tag='endpoint="/checkout"', only="price_cart",
                absent="render_search")
    heap_kw = dict(tag='part="minor"', only="it_alloc_minor",
                   absent="it_alloc_major", extra_splits=(pyro.INUSE_SPACE,))
    block = [pyro.BLOCK_COUNT, pyro.BLOCK_DELAY]
    # The server's OTLP receiver names a profile after its period type, so
    # over OTLP the IDs read name:type:unit:name:unit (ingest_handler.go /
    # convert.go in grafana/pyroscope); the converter sends the pprof
    # profile's name as the period type for that reason.
    def otlp_ids(ids, name):
        return [":".join(t.split(":")[:3] + [name, t.split(":")[4]])
                for t in ids]
    heap_otlp = otlp_ids(heap, "memory")
    lock_otlp = otlp_ids(lock, "mutex")
    lock_kw = dict(tag='part="minor"', only="it_hold_minor",
                   absent="it_hold_major", extra_splits=(pyro.MUTEX_DELAY,))
    block_kw = dict(tag='part="minor"', only="it_wait_minor",
                    absent="it_wait_major", extra_splits=(pyro.BLOCK_DELAY,))
    all_paths = [
        Path("ingest", [os.path.join(ex, "request_tags"), "300"],
             env("ingest"), cpu, pyro.CPU, "price_cart", "render_search",
             **tags),
        Path("push", [os.path.join(ex, "request_tags"), "300"],
             env("push", PYROSCOPE_API="push"), cpu, pyro.CPU, "price_cart",
             "render_search", **tags),
        Path("ingest-cpu", [os.path.join(ex, "cpu_hotspots"), "3"],
             env("ingest-cpu"), cpu, pyro.CPU, "hot_compress",
             "hot_checksum", tag='example="cpu_hotspots"',
             only="hot_compress"),
        Path("heap", [os.path.join(tb, "it_app"), "heap"], env("heap"),
             heap, pyro.ALLOC_SPACE, "it_alloc_major", "it_alloc_minor",
             **heap_kw),
        Path("heap-push", [os.path.join(tb, "it_app"), "heap"],
             env("heap-push", PYROSCOPE_API="push"), heap, pyro.ALLOC_SPACE,
             "it_alloc_major", "it_alloc_minor", **heap_kw),
        Path("lock", [os.path.join(tb, "it_app"), "lock"], env("lock"),
             lock, pyro.MUTEX_COUNT, "it_hold_major", "it_hold_minor",
             **lock_kw),
        Path("block", [os.path.join(tb, "it_app"), "lock"], env("block"),
             block, pyro.BLOCK_COUNT, "it_wait_major", "it_wait_minor",
             **block_kw),
        Path("lock-push", [os.path.join(tb, "it_app"), "lock"],
             env("lock-push", PYROSCOPE_API="push"), lock, pyro.MUTEX_COUNT,
             "it_hold_major", "it_hold_minor", **lock_kw),
        Path("heap-otlp", [os.path.join(tb, "it_app"), "heap"],
             env("heap-otlp", PYROSCOPE_API="otlp"), heap_otlp, heap_otlp[0],
             "it_alloc_major", "it_alloc_minor",
             **dict(heap_kw, extra_splits=(heap_otlp[2],))),
        Path("lock-otlp", [os.path.join(tb, "it_app"), "lock"],
             env("lock-otlp", PYROSCOPE_API="otlp"), lock_otlp, lock_otlp[0],
             "it_hold_major", "it_hold_minor",
             **dict(lock_kw, extra_splits=(lock_otlp[1],))),
        Path("preload", [os.path.join(tb, "it_plain"), "split", "3"],
             env("preload", LD_PRELOAD=lib, PYROSCOPE_LABELS="job=split"),
             cpu, pyro.CPU, "it_cpu_major", "it_cpu_minor",
             tag='job="solo"', only="it_cpu_solo", absent="it_cpu_major"),
    ]
    # The second preload process: same service, another static label.
    solo = Path("preload-solo", [os.path.join(tb, "it_plain"), "solo", "1"],
                env("preload", LD_PRELOAD=lib, PYROSCOPE_LABELS="job=solo"),
                cpu, pyro.CPU, "it_cpu_solo", None)
    out = [p for p in all_paths if not want or p.name in want]
    if any(p.name == "preload" for p in out):
        out.append(solo)
    return out


def run(p, server_url):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.update(p.env)
    env["PYROSCOPE_SERVER_ADDRESS"] = server_url
    r = subprocess.run(p.cmd, env=env, capture_output=True, text=True,
                       timeout=RUN_TIMEOUT)
    log = (r.stdout + r.stderr).strip()
    check(r.returncode == 0, "%s: %s exited %d:\n%s" % (p.name, p.cmd,
                                                        r.returncode, log))
    for bad in ("rejected", "upload failed", "undelivered"):
        check(bad not in r.stderr, "%s: the SDK logged %r:\n%s" % (
            p.name, bad, r.stderr))
    p.result["accepted"] = "yes"


def verify(p, url, t0_ms):
    sel = '{service_name="%s"}' % p.app
    win = dict(start_ms=t0_ms - 120000)
    res = p.result
    # service_name is the application name, and only that.
    names = pyro.wait_for(
        lambda: [n for n in pyro.label_values(url, "service_name", sel, **win)],
        timeout=120, what="service_name %s" % p.app)
    check(names == [p.app], "%s: service_name %s, want [%s]" % (
        p.name, names, p.app))
    res["service_name"] = names[0]
    fns = [p.major] + ([p.minor] if p.minor else [])
    st = pyro.wait_stable(url, p.split_type, sel, fns, timeout=120, **win)
    types = pyro.profile_types(url, sel, **win)
    missing = [t for t in p.types if t not in types]
    check(not missing, "%s: types %s missing from %s" % (p.name, missing,
                                                         types))
    res["types"] = ", ".join(t.split(":")[0] + ":" + t.split(":")[1]
                             for t in p.types)
    if not p.minor:
        res["functions"] = "%s %d" % (p.major, st.total[p.major])
        return
    res["functions"] = "%s %d, %s %d (of %d)" % (
        p.major, st.total[p.major], p.minor, st.total[p.minor], st.grand)
    splits = []
    for t in (p.split_type,) + tuple(p.extra_splits):
        s = st if t == p.split_type else pyro.wait_stable(
            url, t, sel, fns, timeout=120, **win)
        v = s.split(p.major, p.minor)
        splits.append("%s %.1f%%" % (t.split(":")[1], 100 * v))
        check(abs(v - 0.75) <= TOLERANCE, "%s: %s split %s/%s = %.3f, want "
              "0.75 +- %.2f" % (p.name, t, p.major, p.minor, v, TOLERANCE))
    res["split"] = ", ".join(splits)
    if p.tag:
        tsel = '{service_name="%s",%s}' % (p.app, p.tag)
        ts = pyro.wait_stable(url, p.split_type, tsel, [p.only], timeout=120,
                              **win)
        other = p.absent
        check(ts.total.get(other, 0) == 0 if other else True,
              "%s: %s returned %s (%d)" % (p.name, tsel, other,
                                           ts.total.get(other, 0)))
        res["tag filter"] = "%s: %s %d, %s %d" % (
            p.tag, p.only, ts.total.get(p.only, 0), other or "-",
            ts.total.get(other, 0) if other else 0)


def table(checked):
    cols = ["accepted", "service_name", "types", "functions", "split",
            "tag filter"]
    lines = ["| path | " + " | ".join(cols) + " |",
             "|---" * (len(cols) + 1) + "|"]
    for p in checked:
        lines.append("| %s | %s |" % (p.name, " | ".join(
            str(p.result.get(c, "")) for c in cols)))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(pyro.REPO, "build"))
    ap.add_argument("--reuse-only", action="store_true",
                    help="skip unless PYROSCOPE_TEST_SERVER names a server")
    ap.add_argument("--only", default="")
    ap.add_argument("--table", default="")
    a = ap.parse_args()
    if a.reuse_only and not os.environ.get("PYROSCOPE_TEST_SERVER"):
        if pyro.required():
            print("FAIL: PYROSCOPE_REQUIRE_SERVER=1 but PYROSCOPE_TEST_SERVER "
                  "is unset (tests/integration/run.sh sets it)")
            return 1
        print("skip: PYROSCOPE_TEST_SERVER unset (tests/integration/run.sh "
              "starts a real server and runs this)")
        return 77
    try:
        srv = pyro.server()
    except pyro.Unavailable as e:
        print("%s: %s" % ("FAIL" if pyro.required() else "skip", e))
        return 1 if pyro.required() else 77
    prefix = "server-it-%x-%d-" % (int(time.time()), os.getpid())
    want = set(filter(None, a.only.split(",")))
    todo = paths(os.path.abspath(a.build), prefix, want)
    t0_ms = int(time.time() * 1000)
    failures = []
    ran = []
    # Run every program first, then read everything back: the server's
    # ingestion delay (seconds) overlaps instead of adding up.
    for p in todo:
        print("run   %-12s %s" % (p.name, " ".join(p.cmd[:1] + p.cmd[1:])),
              flush=True)
        try:
            run(p, srv.url)
            ran.append(p)
        except (Failed, subprocess.TimeoutExpired) as e:
            failures.append((p.name, str(e)))
    for p in ran:
        if p.name == "preload-solo":
            continue
        try:
            verify(p, srv.url, t0_ms)
            print("ok    %-12s %s" % (p.name, p.result), flush=True)
        except (Failed, TimeoutError) as e:
            failures.append((p.name, str(e)))
            print("FAIL  %-12s %s" % (p.name, e), flush=True)
    shown = [p for p in todo if p.name != "preload-solo"]
    print(table(shown))
    if a.table:
        with open(a.table, "w") as f:
            f.write(table(shown) + "\n")
    for name, msg in failures:
        print("FAIL %s: %s" % (name, msg))
    if failures and srv.proc:
        print("--- server log tail:\n" + srv.log_tail())
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
