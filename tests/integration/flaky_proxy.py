#!/usr/bin/env python3
"""A reverse proxy on 127.0.0.1:PORT in front of a real Alertmanager at UPSTREAM,
for the tests of a failing Alertmanager: while the file MODE holds "503", every
request is answered 503 Service Unavailable, as an Alertmanager behind a proxy
whose backend is gone; otherwise it is forwarded to UPSTREAM and the answer
relayed. It counts what it answered in MODE.count ("503 N" and "200 N" lines).

Usage: flaky_proxy.py PORT UPSTREAM MODE
"""
import http.server
import sys
import urllib.error
import urllib.request

PORT, UPSTREAM, MODE = int(sys.argv[1]), sys.argv[2].rstrip("/"), sys.argv[3]
counts = {}


def count(code):
    counts[code] = counts.get(code, 0) + 1
    with open(MODE + ".count", "w") as f:
        for k in sorted(counts):
            f.write("%d %d\n" % (k, counts[k]))


class Proxy(http.server.BaseHTTPRequestHandler):
    def relay(self):
        try:
            with open(MODE) as f:
                failing = f.read().strip() == "503"
        except OSError:
            failing = False
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if failing:
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            count(503)
            return
        req = urllib.request.Request(UPSTREAM + self.path, data=body or None, method=self.command)
        if self.headers.get("Content-Type"):
            req.add_header("Content-Type", self.headers["Content-Type"])
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                code, data = r.status, r.read()
        except urllib.error.HTTPError as e:
            code, data = e.code, e.read()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        count(code)

    do_GET = relay
    do_POST = relay

    def log_message(self, fmt, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Proxy).serve_forever()
