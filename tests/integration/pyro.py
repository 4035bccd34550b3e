"""Talk to a real Grafana Pyroscope server from the integration tests.

Standard library only, so every binding's suite can import it:

    sys.path.insert(0, "<repo>/tests/integration")
    import pyro
    srv = pyro.server()            # env PYROSCOPE_TEST_SERVER, or start one
    fns = pyro.wait_functions(srv.url, "process_cpu:cpu:nanoseconds:cpu:nanoseconds",
                              '{service_name="app"}', ["hot_a", "hot_b"])

`server()` reuses the server named by PYROSCOPE_TEST_SERVER (a base URL) or
starts the one in ../shared/pyroscope-server/ (run.sh) on a free port and
stops it at exit.  When neither exists it raises Unavailable; callers skip
locally and fail in CI (PYROSCOPE_REQUIRE_SERVER=1, which .ci/run sets).

Queries go to the server's own API (connect/JSON on QuerierService).  A
merged flame graph is turned into per-function totals: `total[fn]` is the
value of every stack that contains fn (counted once per stack), `self[fn]`
the value where fn is the leaf.
"""
import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

CPU = "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
SAMPLES = "process_cpu:samples:count:cpu:nanoseconds"
ALLOC_SPACE = "memory:alloc_space:bytes:space:bytes"
ALLOC_OBJECTS = "memory:alloc_objects:count:space:bytes"
INUSE_SPACE = "memory:inuse_space:bytes:space:bytes"
INUSE_OBJECTS = "memory:inuse_objects:count:space:bytes"
# The period type of a mutex profile is contentions/count (as Go writes it);
# the server builds the ID as name:type:unit:period_type:period_unit.
MUTEX_DELAY = "mutex:delay:nanoseconds:contentions:count"
MUTEX_COUNT = "mutex:contentions:count:contentions:count"
BLOCK_DELAY = "block:delay:nanoseconds:contentions:count"
BLOCK_COUNT = "block:contentions:count:contentions:count"


class Unavailable(Exception):
    """No real server here (the shared copy is absent)."""


def required():
    return os.environ.get("PYROSCOPE_REQUIRE_SERVER") == "1"


def shared_dir():
    cands = [os.environ.get("PYROSCOPE_SHARED_SERVER", ""),
             os.path.join(REPO, "..", "shared", "pyroscope-server")]
    for d in cands:
        if d and os.path.isfile(os.path.join(d, "run.sh")):
            return os.path.abspath(d)
    return None


def _free_port():
    """A port p such that p, p+5055, p+5059 and p+3906 are all free."""
    for _ in range(200):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        if p + 5059 > 65000:
            continue
        ok = True
        for q in (p + 5055, p + 5059, p + 3906):
            t = socket.socket()
            try:
                t.bind(("127.0.0.1", q))
            except OSError:
                ok = False
            finally:
                t.close()
        if ok:
            return p
    raise RuntimeError("no free port set for the server")


def ready(url, timeout=2.0):
    try:
        with urllib.request.urlopen(url + "/ready", timeout=timeout) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


class Server:
    def __init__(self, url, proc=None, log=None):
        self.url = url
        self.proc = proc
        self.log = log

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self, n=40):
        if not self.log or not os.path.exists(self.log):
            return ""
        with open(self.log, errors="replace") as f:
            return "".join(f.readlines()[-n:])


_server = None


def _stop_on_sigterm(srv):
    """atexit does not run when SIGTERM kills us (a CI timeout, say): stop
    the server we started first, unless the program has its own handler."""
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return

        def on_term(signum, frame):
            srv.stop()
            os._exit(128 + signum)
        signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread
        pass


def server(start_timeout=240):
    """The server the tests talk to; started once per process."""
    global _server
    if _server:
        return _server
    env_url = os.environ.get("PYROSCOPE_TEST_SERVER")
    if env_url:
        env_url = env_url.rstrip("/")
        deadline = time.time() + start_timeout
        while not ready(env_url):
            if time.time() > deadline:
                raise RuntimeError("PYROSCOPE_TEST_SERVER=%s never became ready"
                                   % env_url)
            time.sleep(0.5)
        _server = Server(env_url)
        return _server
    d = shared_dir()
    if not d:
        raise Unavailable("no real Pyroscope server: ../shared/pyroscope-server "
                          "is absent and PYROSCOPE_TEST_SERVER is unset")
    work = os.environ.get("PYROSCOPE_SERVER_WORK",
                          os.path.join(REPO, "build", "pyroscope-server"))
    os.makedirs(work, exist_ok=True)
    port = _free_port()
    data = os.path.join(work, "data-%d-%d" % (os.getpid(), port))
    log = data + ".log"
    env = dict(os.environ)
    env.setdefault("PYROSCOPE_SERVER_BIN", os.path.join(work, "pyroscope-server"))
    os.makedirs(data, exist_ok=True)
    with open(log, "w") as lf:
        # cwd=data: the server keeps its metastore raft log relative to it.
        proc = subprocess.Popen(["bash", os.path.join(d, "run.sh"), data, str(port)],
                                stdout=lf, stderr=subprocess.STDOUT, env=env,
                                cwd=data, start_new_session=True)
    srv = Server("http://127.0.0.1:%d" % port, proc, log)
    atexit.register(srv.stop)
    _stop_on_sigterm(srv)
    deadline = time.time() + start_timeout
    while not ready(srv.url):
        if proc.poll() is not None:
            raise RuntimeError("server exited with %s:\n%s" % (proc.returncode,
                                                                 srv.log_tail()))
        if time.time() > deadline:
            srv.stop()
            raise RuntimeError("server not ready after %ds:\n%s" % (start_timeout,
                                                                     srv.log_tail()))
        time.sleep(0.5)
    _server = srv
    return srv


def rpc(url, method, body, timeout=30):
    req = urllib.request.Request(
        "%s/querier.v1.QuerierService/%s" % (url, method),
        data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"{}")


def _window(start_ms, end_ms):
    now = int(time.time() * 1000)
    return (start_ms if start_ms is not None else now - 3600 * 1000,
            end_ms if end_ms is not None else now + 60 * 1000)


def profile_types(url, selector="{}", start_ms=None, end_ms=None):
    """Profile type IDs that have data for the selector."""
    s, e = _window(start_ms, end_ms)
    out = rpc(url, "Series", {"matchers": [selector], "start": str(s), "end": str(e),
                               "labelNames": ["__profile_type__"]})
    ids = set()
    for ser in out.get("labelsSet", []):
        for lab in ser.get("labels", []):
            if lab.get("name") == "__profile_type__":
                ids.add(lab.get("value"))
    return sorted(ids)


def label_values(url, name, selector="{}", start_ms=None, end_ms=None):
    s, e = _window(start_ms, end_ms)
    out = rpc(url, "LabelValues", {"name": name, "matchers": [selector],
                                   "start": str(s), "end": str(e)})
    return sorted(out.get("names", []))


def series(url, selector="{}", start_ms=None, end_ms=None):
    """List of label dicts, one per series."""
    s, e = _window(start_ms, end_ms)
    out = rpc(url, "Series", {"matchers": [selector], "start": str(s), "end": str(e)})
    return [{l["name"]: l.get("value", "") for l in ser.get("labels", [])}
            for ser in out.get("labelsSet", [])]


class Stacks:
    """Per-function totals of one merged flame graph."""

    def __init__(self, total, totals, selfs):
        self.grand = total
        self.total = totals
        self.self = selfs

    def share(self, fn):
        return self.total.get(fn, 0) / self.grand if self.grand else 0.0

    def split(self, a, b):
        """a's share of (a + b), by inclusive totals."""
        ta, tb = self.total.get(a, 0), self.total.get(b, 0)
        return ta / (ta + tb) if ta + tb else 0.0

    def names(self):
        return set(self.total)

    def top(self, n=10, by="self"):
        d = self.self if by == "self" else self.total
        items = [kv for kv in d.items() if kv[0] != "total" and kv[1] > 0]
        return sorted(items, key=lambda kv: -kv[1])[:n]


def flamegraph_stacks(fg):
    names = fg.get("names", [])
    levels = [[int(v) for v in lv.get("values", [])] for lv in fg.get("levels", [])]
    totals, selfs = {}, {}
    # nodes of the previous level: (x, end, name, set of names on the path)
    prev = []
    for lv in levels:
        cur = []
        x_end = 0
        pi = 0
        for i in range(0, len(lv) - 3, 4):
            x = x_end + lv[i]
            tot, slf, name = lv[i + 1], lv[i + 2], names[lv[i + 3]]
            x_end = x + tot
            while pi < len(prev) and prev[pi][1] <= x:
                pi += 1
            path = prev[pi][3] if pi < len(prev) and prev[pi][0] <= x else frozenset()
            if name not in path and name != "total":
                totals[name] = totals.get(name, 0) + tot
            selfs[name] = selfs.get(name, 0) + slf
            cur.append((x, x_end, name, path | {name}))
        prev = cur
    return Stacks(int(fg.get("total", 0)), totals, selfs)


def stacks(url, profile_type, selector, start_ms=None, end_ms=None, max_nodes=16384,
           span_ids=None):
    """Merged stacks; span_ids (16-hex-digit strings) keeps only those spans."""
    s, e = _window(start_ms, end_ms)
    body = {"profile_typeID": profile_type, "label_selector": selector,
            "start": str(s), "end": str(e), "max_nodes": str(max_nodes)}
    if span_ids:
        body["span_selector"] = list(span_ids)
    out = rpc(url, "SelectMergeStacktraces", body)
    return flamegraph_stacks(out.get("flamegraph") or {})


def wait_for(pred, timeout=90, interval=1.0, what="condition"):
    """Poll pred() until it returns a truthy value or the deadline passes."""
    deadline = time.time() + timeout
    last_exc = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last_exc = exc
        if time.time() > deadline:
            raise TimeoutError("timed out after %ss waiting for %s%s" % (
                timeout, what, (" (last error: %s)" % last_exc) if last_exc else ""))
        time.sleep(interval)


def wait_functions(url, profile_type, selector, fns, min_total=1, timeout=90,
                   start_ms=None, end_ms=None):
    """Wait until every function in fns has at least min_total in the merged
    stacks for selector; returns the Stacks."""
    def probe():
        st = stacks(url, profile_type, selector, start_ms, end_ms)
        return st if all(st.total.get(f, 0) >= min_total for f in fns) else None
    return wait_for(probe, timeout, what="%s in %s %s" % (fns, profile_type, selector))


def wait_stable(url, profile_type, selector, fns, min_total=1, timeout=120,
                settle=3.0, start_ms=None, end_ms=None):
    """Like wait_functions, then keep polling until the merged totals stop
    changing (every window of the run has been ingested); returns the
    Stacks of the last poll."""
    st = wait_functions(url, profile_type, selector, fns, min_total, timeout,
                        start_ms, end_ms)
    deadline = time.time() + timeout
    while time.time() < deadline:
        time.sleep(settle)
        nxt = stacks(url, profile_type, selector, start_ms, end_ms)
        if nxt.grand == st.grand:
            return nxt
        st = nxt
    return st


def main(argv):
    """CLI: pyro.py start | top TYPE SELECTOR | types SELECTOR"""
    if argv[:1] == ["start"]:
        srv = server()
        print(srv.url, flush=True)
        try:
            srv.proc.wait()
        except KeyboardInterrupt:
            srv.stop()
        return 0
    url = os.environ.get("PYROSCOPE_TEST_SERVER", "http://127.0.0.1:4040").rstrip("/")
    if argv[:1] == ["types"]:
        print("\n".join(profile_types(url, argv[1] if len(argv) > 1 else "{}")))
        return 0
    if argv[:1] == ["top"] and len(argv) >= 3:
        st = stacks(url, argv[1], argv[2])
        for fn, v in st.top(int(argv[3]) if len(argv) > 3 else 10):
            print("%6.1f%%  %s" % (100.0 * v / st.grand if st.grand else 0, fn))
        return 0
    print(main.__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
