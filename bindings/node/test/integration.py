"""Driver of bindings/node/integration.sh (see there)."""
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_DIR = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(NODE_DIR))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import pyro  # noqa: E402

PKG = "pyroscope-nodejs-native"


def run(cmd, cwd, log):
    with open(log, "a") as lf:
        r = subprocess.run(cmd, cwd=cwd, stdout=lf, stderr=subprocess.STDOUT)
    if r.returncode:
        with open(log) as lf:
            sys.stderr.write(lf.read()[-4000:])
        raise SystemExit("FAIL: %s exited with %d" % (" ".join(cmd), r.returncode))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read()


def main():
    try:
        srv = pyro.server()
    except pyro.Unavailable as exc:
        print("node integration: %s" % exc)
        return 1 if pyro.required() else 77
    work = tempfile.mkdtemp(prefix="pyro-node-it-")
    log = os.path.join(work, "npm.log")
    app = None
    try:
        # The app's directory: the tarball of this package plus express and
        # morgan from npm, the example's index.js with the package renamed.
        tgz = subprocess.run(["npm", "pack", "--silent", "--pack-destination", work], cwd=NODE_DIR,
                             check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        adir = os.path.join(work, "app")
        os.makedirs(adir)
        with open(os.path.join(HERE, "rideshare", "index.js")) as f:
            src = f.read()
        assert src.count("require('@pyroscope/nodejs')") == 1
        with open(os.path.join(adir, "index.js"), "w") as f:
            f.write(src.replace("require('@pyroscope/nodejs')", "require('%s')" % PKG))
        with open(os.path.join(adir, "package.json"), "w") as f:
            json.dump({"name": "rideshare-app-express", "version": "1.0.0", "private": True}, f)
        run(["npm", "install", "--no-audit", "--no-fund", os.path.join(work, tgz),
             "express@^4.21.2", "morgan@^1.10.0"], adir, log)

        name = "node-helper-rideshare-%d" % random.randrange(1 << 30)
        port = free_port()
        env = dict(os.environ, PYROSCOPE_SERVER_ADDRESS=srv.url, PYROSCOPE_APPLICATION_NAME=name,
                   RIDESHARE_LISTEN_PORT=str(port), REGION="eu-north",
                   PYROSCOPE_FLUSH_INTERVAL_MS="2000",
                   # as the example's Dockerfile sets it
                   PYROSCOPE_WALL_COLLECT_CPU_TIME="true")
        app_log = open(os.path.join(work, "app.log"), "w")
        app = subprocess.Popen(["node", "index.js"], cwd=adir, env=env, stdout=app_log,
                               stderr=subprocess.STDOUT)
        base = "http://127.0.0.1:%d" % port
        pyro.wait_for(lambda: get(base + "/") is not None, timeout=60, what="the app to listen")
        # car : bike : scooter handlers busy-wait 1 : 0.5 : 0.25 s.
        t0 = int(time.time() * 1000) - 5000
        for _ in range(8):
            for v in ("bike", "car", "scooter"):
                assert get(base + "/" + v) == b"Vehicle found"
        sel = '{service_name="%s"}' % name

        # Wait for every vehicle's data to be queryable, then check.
        def all_vehicles():
            vs = pyro.label_values(srv.url, "vehicle", sel, start_ms=t0)
            return vs if {"bike", "car", "scooter"} <= set(vs) else None
        pyro.wait_for(all_vehicles, timeout=120, what="vehicle labels of %s" % name)
        types = pyro.profile_types(srv.url, sel, start_ms=t0)
        print("# profile types: %s" % types)
        for t in (pyro.CPU, "wall:wall:nanoseconds:wall:nanoseconds", "wall:samples:count:wall:nanoseconds",
                  pyro.INUSE_SPACE):
            assert t in types, "%s not in %s" % (t, types)
        regions = pyro.label_values(srv.url, "region", sel, start_ms=t0)
        assert regions == ["eu-north"], regions
        rt = pyro.label_values(srv.url, "process.runtime.name", sel, start_ms=t0)
        assert rt == ["nodejs"], rt

        fns = {"bike": "bikeSearchHandler", "car": "carSearchHandler", "scooter": "scooterSearchHandler"}

        def per_vehicle():
            """CPU ns under each vehicle label; the label's handler must be
            on its stacks and the other handlers must not."""
            tot = {}
            for v, fn in fns.items():
                st = pyro.stacks(srv.url, pyro.CPU, '{service_name="%s",vehicle="%s"}' % (name, v), start_ms=t0)
                here = sum(val for f, val in st.total.items() if (":%s:" % fn) in f)
                others = [f for f in st.total if any((":%s:" % o) in f for o in fns.values() if o != fn)]
                assert not others, "vehicle=%s stacks hold %s" % (v, others)
                tot[v] = st.grand if here >= 0.8 * st.grand else 0
            return tot

        # The handlers busy-wait on wall time (car 1 s, bike 0.5 s, scooter
        # 0.25 s), so their CPU is 4 : 2 : 1 whatever the machine's load.
        # Wait until every label has data and the totals stop growing (the
        # app uploads every 2 s).
        last = {"v": None}

        def settled():
            t = per_vehicle()
            if min(t.values()) > 0 and t == last["v"]:
                return t
            last["v"] = t
            time.sleep(3)
            return None
        tot = pyro.wait_for(settled, timeout=120, what="stable per-vehicle CPU of %s" % name)
        s = sum(tot.values())
        share = {v: m / s for v, m in tot.items()}
        print("# handler CPU by vehicle label (s): %s share: %s" % (
            {v: round(m / 1e9, 2) for v, m in tot.items()}, {v: round(100 * x, 1) for v, x in share.items()}))
        for v, want in (("car", 4 / 7), ("bike", 2 / 7), ("scooter", 1 / 7)):
            assert abs(share[v] - want) <= 0.03, "%s share %.1f%% vs %.1f%%" % (v, 100 * share[v], 100 * want)
        print("node integration: OK (%s, api=%s)" % (name, os.environ.get("PYROSCOPE_API", "default")))
        return 0
    finally:
        if app is not None:
            app.terminate()
            try:
                app.wait(timeout=30)
            except subprocess.TimeoutExpired:
                app.kill()
        if os.environ.get("KEEP_WORK"):
            print("work dir: %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
