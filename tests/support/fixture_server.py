#!/usr/bin/python3
"""A local HTTP server for the ingest tests: serves the files under a data
folder the way remote sources would, including failures.

  GET /file/PATH            the file PATH under the data folder
  GET /flaky/PATH?fail=N    503 (Retry-After: 1) for the first N requests, then the file
  GET /atom/PATH            the "body" of a recorded response {"url","status_code","body"}
  anything else             404

Every request's path and User-Agent is appended to the log file, one line
each. The chosen port is written to the port file once it listens.
usage: fixture_server.py DATA_DIR PORT_FILE LOG_FILE
"""
import http.server
import json
import os
import sys
import urllib.parse

DATA, PORT_FILE, LOG = sys.argv[1], sys.argv[2], sys.argv[3]
failures = {}


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, status, body, headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _file(self, relative):
        path = os.path.realpath(os.path.join(DATA, relative))
        if not path.startswith(os.path.realpath(DATA)) or not os.path.isfile(path):
            return None
        with open(path, "rb") as handle:
            return handle.read()

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        with open(LOG, "a") as log:
            log.write("%s %s\n" % (self.path, self.headers.get("User-Agent", "")))
        kind, _, relative = url.path.lstrip("/").partition("/")
        body = self._file(relative)
        if body is None:
            return self._send(404, b"not found")
        if kind == "flaky":
            wanted = int(urllib.parse.parse_qs(url.query).get("fail", ["1"])[0])
            seen = failures.get(url.path, 0)
            if seen < wanted:
                failures[url.path] = seen + 1
                return self._send(503, b"busy", [("Retry-After", "1")])
        if kind == "atom":
            recorded = json.loads(body)
            return self._send(recorded["status_code"], recorded["body"].encode())
        if kind in ("file", "flaky"):
            return self._send(200, body)
        return self._send(404, b"not found")


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
with open(PORT_FILE, "w") as handle:
    handle.write(str(server.server_address[1]))
server.serve_forever()
