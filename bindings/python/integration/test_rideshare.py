"""Held-out check: the official Flask rideshare example from the Grafana
Pyroscope repository, unchanged, with this package in place of
pyroscope-io / pyroscope-otel, driven by HTTP requests; its handlers,
tags and span labels must arrive at the real server.

The example is read at run time from a git mirror of grafana/pyroscope
(RIDESHARE_REPO, default /work/.mirror/grafana+pyroscope/repo); it is not
copied into this repository."""
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

import pyro

REPO = os.environ.get("RIDESHARE_REPO", "/work/.mirror/grafana+pyroscope/repo")
EXAMPLE = "examples/language-sdk-instrumentation/python/rideshare/flask/lib"


def export_example(dest):
    if not os.path.isdir(REPO):
        if pyro.required() and os.environ.get("RIDESHARE_REQUIRED") == "1":
            pytest.fail("no grafana/pyroscope mirror at %s" % REPO)
        pytest.skip("no grafana/pyroscope mirror at %s" % REPO)
    archive = subprocess.run(["git", "-C", REPO, "archive", "HEAD", EXAMPLE],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return os.path.join(str(dest), EXAMPLE)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        assert r.status == 200, (url, r.status)
        return r.read()


def test_flask_rideshare_unchanged(server_url, tmp_path):
    lib = export_example(tmp_path)
    app = "python-rideshare-%s" % uuid.uuid4().hex[:8]
    port = free_port()
    env = dict(os.environ, PYROSCOPE_APPLICATION_NAME=app,
               PYROSCOPE_SERVER_ADDRESS=server_url, REGION="us-east",
               RIDESHARE_LISTEN_PORT=str(port),
               # its OTLP span exporter: keep it on loopback, nothing there
               OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9",
               OTEL_BSP_SCHEDULE_DELAY="60000")
    log = open(tmp_path / "server.log", "w")
    start = int(time.time() * 1000) - 60000
    proc = subprocess.Popen([sys.executable, "server.py"], cwd=lib, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        base = "http://127.0.0.1:%d" % port
        pyro.wait_for(lambda: proc.poll() is None and get(base + "/bike"),
                      timeout=120, interval=0.5, what="rideshare up")
        end = time.time() + 25
        n = 0
        while time.time() < end:
            for path in ("/bike", "/scooter", "/car"):
                assert b"ordered" in get(base + path)
                n += 1
        assert proc.poll() is None, open(tmp_path / "server.log").read()
        sel = '{service_name="%s"}' % app
        fns = ["bike", "scooter", "car", "order_bike", "order_scooter",
               "order_car", "find_nearest_vehicle"]
        st = pyro.wait_functions(server_url, pyro.CPU, sel, fns,
                                 start_ms=start, timeout=120)
        print("requests %d; top: %s" % (n, st.top(8, by="total")))
        t = st.total
        # 0.2 s bike, 0.3 s scooter, 0.4 + 0.2 s car per request
        assert t["order_car"] > t["order_scooter"] > t["order_bike"], t
        # tags: static region, per-request vehicle, span labels from otel
        assert pyro.label_values(server_url, "region", sel,
                                 start_ms=start) == ["us-east"]
        vehicles = pyro.label_values(server_url, "vehicle", sel,
                                     start_ms=start)
        assert set(vehicles) >= {"bike", "scooter", "car"}, vehicles
        names = pyro.label_values(server_url, "span_name", sel,
                                  start_ms=start)
        assert {"GET /bike", "GET /car"} <= set(names), names
        car = pyro.stacks(server_url, pyro.CPU,
                          '{service_name="%s", vehicle="car"}' % app,
                          start_ms=start)
        assert car.total.get("order_car", 0) > 0
        assert "order_bike" not in car.total, car.top(10, by="total")
        # mem_enabled=True in the example: memory profiles with its stacks
        mem = pyro.wait_functions(server_url, pyro.ALLOC_SPACE, sel,
                                  ["allocate_vehicle_memory"],
                                  start_ms=start, timeout=120)
        assert mem.total["allocate_vehicle_memory"] > 0
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
