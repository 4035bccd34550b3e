#!/usr/bin/env python3
"""A stand-in for a Pyroscope server's /ingest endpoint, for the demo.

Accepts POST /ingest (multipart field "profile" or a raw body) and
/push.v1.PusherService/Push, saves each profile under OUT_DIR with its
series name, and prints one line per request.  Standard library only.

    ingest_server.py PORT OUT_DIR
"""
import email.parser
import email.policy
import os
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    count = 0

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        url = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(url.query)
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("multipart/form-data"):
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
            parts = {p.get_param("name", header="content-disposition"): p
                     for p in msg.iter_parts()}
            body = parts["profile"].get_payload(decode=True)
        name = query.get("name", [url.path])[0]
        Handler.count += 1
        path = os.path.join(OUT, "%04d.pb.gz" % Handler.count)
        with open(path, "wb") as f:
            f.write(body)
        print("received %s: %d bytes -> %s" % (name, len(body), path),
              flush=True)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    OUT = sys.argv[2]
    os.makedirs(OUT, exist_ok=True)
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
