#!/usr/bin/env python3
"""Measure /ingest against push.v1.PusherService/Push on a real server.

Runs examples/request_tags once per API through a counting proxy (loopback;
it forwards every request to the server and counts requests and body bytes
per path), then asks the server's query API what it made of the data:
series per profile type, label values, a query by tag.

    PYROSCOPE_TEST_SERVER=http://127.0.0.1:4040 \
        tests/integration/measure_api.py [--build build] [--requests 300]

Prints one markdown table (docs/internals/upload.md keeps the numbers).
"""
import argparse
import http.server
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pyro  # noqa: E402


class Counter:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.bytes = 0
        self.statuses = {}
        self.froms = set()  # /ingest: one `from` per window


def proxy(target, counter):
    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n)
            hdrs = {k: v for k, v in self.headers.items()
                    if k.lower() not in ("host", "content-length",
                                         "connection")}
            req = urllib.request.Request(target + self.path, data=body,
                                         headers=hdrs, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    status, out = r.status, r.read()
            except urllib.error.HTTPError as e:
                status, out = e.code, e.read()
            with counter.lock:
                counter.requests += 1
                counter.bytes += n
                counter.statuses[status] = counter.statuses.get(status, 0) + 1
                q = urllib.parse.parse_qs(urllib.parse.urlparse(
                    self.path).query)
                counter.froms.update(q.get("from", []))
            self.send_response(status)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def measure(url, build, api, requests, interval_s, prefix):
    c = Counter()
    px = proxy(url, c)
    app = prefix + api
    env = dict(os.environ, PYROSCOPE_APPLICATION_NAME=app,
               PYROSCOPE_SERVER_ADDRESS="http://127.0.0.1:%d"
               % px.server_address[1],
               PYROSCOPE_UPLOAD_INTERVAL="%ds" % interval_s,
               PYROSCOPE_API=api)
    t0 = time.time()
    subprocess.run([os.path.join(build, "examples", "request_tags"),
                    str(requests)], env=env, check=True,
                   capture_output=True, timeout=300)
    wall = time.time() - t0
    px.shutdown()
    sel = '{service_name="%s"}' % app
    st = pyro.wait_stable(url, pyro.CPU, sel, ["price_cart", "render_search"],
                          timeout=120)
    ser = [s for s in pyro.series(url, sel)
           if s.get("__profile_type__") == pyro.CPU]
    tagged = pyro.stacks(url, pyro.CPU, '{service_name="%s",'
                         'endpoint="/checkout"}' % app)
    # push sends one request per window (CPU only here); /ingest one per
    # tag set per window, all with the window's `from`.
    windows = len(c.froms) if api == "ingest" else c.requests
    return {
        "api": api, "wall s": "%.1f" % wall, "requests": c.requests, "windows": windows,
        "requests/window": "%.1f" % (c.requests / windows),
        "bytes": c.bytes, "bytes/window": c.bytes // windows,
        "statuses": c.statuses, "cpu series": len(ser),
        "endpoint values": pyro.label_values(url, "endpoint", sel),
        "split": "%.1f%%" % (100 * st.split("price_cart", "render_search")),
        "endpoint=/checkout": "price_cart %.2f s, render_search %.2f s" % (
            tagged.total.get("price_cart", 0) / 1e9,
            tagged.total.get("render_search", 0) / 1e9),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(pyro.REPO, "build"))
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--interval", type=int, default=2)
    a = ap.parse_args()
    url = pyro.server().url
    prefix = "server-measure-%x-" % int(time.time())
    rows = [measure(url, os.path.abspath(a.build), api, a.requests,
                    a.interval, prefix) for api in ("ingest", "push")]
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |")
    print("|---" * len(cols) + "|")
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
