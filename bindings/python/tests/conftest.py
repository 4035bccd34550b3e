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


def parse_name(name):
    """'app.cpu{a=b,c=d}' -> ('app.cpu', {'a': 'b', 'c': 'd'})"""
    if "{" not in name:
        return name, {}
    base, rest = name.split("{", 1)
    rest = rest.rstrip("}")
    tags = dict(kv.split("=", 1) for kv in rest.split(",") if kv)
    return base, tags


class Upload:
    def __init__(self, query, profile_bytes):
        self.query = query
        self.app, self.tags = parse_name(query.get("name", ""))
        self.profile = pprof.Profile(profile_bytes)


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
                if u.path == "/ingest" and data:
                    with outer.lock:
                        outer.uploads.append(Upload(q, data))
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

    def samples(self):
        """[(upload tags, Sample)] over every upload received."""
        with self.lock:
            return [(u.tags, s) for u in self.uploads
                    for s in u.profile.samples]


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
