import gzip
import os
import subprocess
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pprof  # noqa: E402


def _multipart_file(body, content_type, field="profile"):
    """The bytes of form field `field` of a multipart/form-data body."""
    params = dict(p.strip().split("=", 1) for p in content_type.split(";")[1:]
                  if "=" in p)
    boundary = params["boundary"].strip('"').encode()
    for part in body.split(b"--" + boundary):
        head, sep, data = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        if b'name="%s"' % field.encode() in head:
            return data[:-2] if data.endswith(b"\r\n") else data
    return None


RUNTIME_LABELS = ("otel.scope.name", "otel.scope.version",
                  "process.runtime.name", "process.runtime.version")


def parse_name(name):
    """'app.cpu{a=b,c=d}' -> ('app.cpu', {'a': 'b', 'c': 'd'})"""
    if "{" not in name:
        return name, {}
    base, rest = name.split("{", 1)
    rest = rest.rstrip("}")
    tags = dict(kv.split("=", 1) for kv in rest.split(",") if kv)
    return base, tags


class Upload:
    """One profile: from /ingest (tags in the name) or one series of a
    push.v1 PushRequest (tags = series labels)."""

    def __init__(self, query, profile_bytes, labels=None):
        self.query = query
        self.labels = labels  # push: every series label, __name__ included
        if labels is None:
            self.app, self.tags = parse_name(query.get("name", ""))
        else:
            self.app = labels.get("service_name", "")
            self.tags = {k: v for k, v in labels.items()
                         if k not in ("__name__", "service_name")}
        self.profile = pprof.Profile(profile_bytes)

    @property
    def type(self):
        if self.labels is not None:
            return self.labels.get("__name__")
        return "memory" if self.app.endswith(".memory") else "process_cpu"


def parse_push(body):
    """PushRequest -> [(series labels, raw pprof bytes)]."""
    out = []
    for f, _, series in pprof._fields(body):
        if f != 1:
            continue
        labels, raws = {}, []
        for ff, _, v in pprof._fields(series):
            d = {a: b for a, _, b in pprof._fields(v)}
            if ff == 1:
                labels[d.get(1, b"").decode()] = d.get(2, b"").decode()
            elif ff == 2 and d.get(1):
                raws.append(d[1])
        out += [(labels, r) for r in raws]
    return out


class IngestServer:
    def __init__(self):
        self.uploads = []
        self.lock = threading.Lock()
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(n)
                u = urllib.parse.urlparse(self.path)
                q = dict(urllib.parse.parse_qsl(u.query))
                ctype = self.headers.get("Content-Type", "")
                data = (_multipart_file(body, ctype)
                        if ctype.startswith("multipart/") else body)
                if self.headers.get("Content-Encoding") == "gzip":
                    data = gzip.decompress(data)
                if u.path == "/ingest" and data:
                    with outer.lock:
                        outer.uploads.append(Upload(q, data))
                elif u.path.endswith("PusherService/Push") and data:
                    ups = [Upload({}, raw, labels)
                           for labels, raw in parse_push(data)]
                    with outer.lock:
                        outer.uploads += ups
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.address = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def samples(self, type="process_cpu"):
        """[(tags, Sample)] over every upload of `type` received; tags are
        the upload's (name or series labels, without the runtime labels
        every upload carries) merged with the sample's."""
        with self.lock:
            return [({k: v for k, v in dict(u.tags, **s.labels).items()
                      if k not in RUNTIME_LABELS}, s)
                    for u in self.uploads
                    if u.type == type for s in u.profile.samples]


@pytest.fixture
def ingest():
    srv = IngestServer()
    yield srv
    srv.close()


def run_workload(name, *args, timeout=180, env_extra=None, expect_rc=0):
    """Run tests/workloads/<name>.py in a fresh interpreter."""
    env = dict(os.environ)
    env.update(env_extra or {})
    env["PYTHONPATH"] = HERE + os.pathsep + env.get("PYTHONPATH", "")
    p = subprocess.run([sys.executable, os.path.join(HERE, "workloads",
                                                     name + ".py")]
                       + [str(a) for a in args],
                       capture_output=True, text=True, timeout=timeout,
                       env=env, cwd=HERE)
    assert p.returncode == expect_rc, "workload %s: rc %d:\n%s\n%s" % (
        name, p.returncode, p.stdout, p.stderr)
    return p.stdout if expect_rc == 0 else p
