"""Overhead of profiling a pure-Python CPU workload at 100 Hz, with and
without memory profiling (mem_enabled=True at the default 512 KiB
mem_heap_sample_size).  The workload allocates constantly (dicts, strings,
lists), so the "-mem" rows measure the allocator hooks' cost.

Driver:  python bench.py --ours PY [--official PY] [--rounds 5] [--seconds 3]
Each measurement runs in a fresh interpreter (`worker` mode); modes are
interleaved round by round and the median is reported as a ratio against the
unprofiled run.  Uploads go to a local HTTP sink so their cost is included.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def workload(n):
    # Pure Python: recursion, dict and list churn, string formatting.
    def fib(k):
        return k if k < 2 else fib(k - 1) + fib(k - 2)

    acc = 0
    for i in range(n):
        acc += fib(18)
        d = {j: str(j) for j in range(200)}
        acc += sum(len(v) for v in d.values())
        acc += len(sorted([(j * 7919) % 1000 for j in range(300)]))
    return acc


def worker(mode, server, iters):
    if mode != "none":
        import pyroscope
        pyroscope.configure(application_name="bench." + mode,
                            server_address=server, sample_rate=100,
                            mem_enabled="mem" in mode,
                            cpu_enabled=not mode.endswith("memonly"))
    t0, c0 = time.perf_counter(), time.process_time()
    workload(iters)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if mode != "none":
        import pyroscope
        pyroscope.shutdown()
    print(json.dumps({"wall": wall, "cpu": cpu}))


class Sink(BaseHTTPRequestHandler):
    count = 0

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Sink.count += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


def calibrate(seconds):
    n, t = 1, 0.0
    while t < 0.2:
        n *= 2
        t0 = time.perf_counter()
        workload(n)
        t = time.perf_counter() - t0
    return max(1, int(n * seconds / t))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", required=True, help="python with pyroscope-c")
    ap.add_argument("--official", help="python with pyroscope-io")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--seconds", type=float, default=1.5)
    args = ap.parse_args()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    server = "http://127.0.0.1:%d" % httpd.server_address[1]
    iters = calibrate(args.seconds)
    # ours-memonly: cpu_enabled=False, i.e. the allocator hooks' own cost
    modes = [("none", args.ours), ("ours", args.ours),
             ("ours-mem", args.ours), ("ours-memonly", args.ours)]
    if args.official:
        modes += [("official", args.official),
                  ("official-mem", args.official)]
    res = {m: [] for m, _ in modes}
    env = dict(os.environ)
    for r in range(args.rounds):
        order = modes if r % 2 == 0 else modes[::-1]
        for m, py in order:
            out = subprocess.run([py, os.path.abspath(__file__), "worker", m,
                                  server, str(iters)], capture_output=True,
                                 text=True, env=env, timeout=600)
            if out.returncode != 0:
                print("%s failed:\n%s" % (m, out.stderr[-2000:]))
                res[m].append(None)
                continue
            res[m].append(json.loads(out.stdout.strip().splitlines()[-1]))
    httpd.shutdown()
    print("workload: %d iterations (~%.1f s), %d rounds, %d uploads received"
          % (iters, args.seconds, args.rounds, Sink.count))
    print("ratios are medians over rounds of (mode / unprofiled run of the "
          "same round)")
    print("%-12s %9s %9s %9s %9s" % ("mode", "wall s", "wall x", "cpu s",
                                    "cpu x"))
    for m, _ in modes:
        pairs = [(x, b) for x, b in zip(res[m], res["none"]) if x and b]
        if not pairs:
            print("%-12s failed" % m)
            continue
        w = statistics.median(x["wall"] for x, _ in pairs)
        c = statistics.median(x["cpu"] for x, _ in pairs)
        wx = statistics.median(x["wall"] / b["wall"] for x, b in pairs)
        cx = statistics.median(x["cpu"] / b["cpu"] for x, b in pairs)
        print("%-12s %9.3f %9.3f %9.3f %9.3f" % (m, w, wx, c, cx))

if __name__ == "__main__":
    main()
