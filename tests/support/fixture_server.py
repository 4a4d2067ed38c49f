#!/usr/bin/python3
"""A local HTTP server for the ingest tests: serves the files under a data
folder the way remote sources would, including failures.

  GET /file/PATH            the file PATH under the data folder
  GET /flaky/PATH?fail=N    503 (Retry-After: 1) for the first N requests, then the file
  GET /atom/PATH            the "body" of a recorded response {"url","status_code","body"}
  GET /oai?verb=ListRecords[&resumptionToken=T]
                            oai/generic/ListRecords.xml, then the page its token names
  GET /api[/OPTION]?start=N the recorded arXiv API page for the query "testing" at start
                            N (0, 10, ... 50), its totalResults cut to the 60 recorded;
                            OPTION "empty-at-20" answers the first request at 20 with
                            an empty page, "slow" waits 300 ms before each answer
  anything else             404

Every request's path and User-Agent is appended to the log file, one line
each. The chosen port is written to the port file once it listens.
usage: fixture_server.py DATA_DIR PORT_FILE LOG_FILE
"""
import glob
import http.server
import json
import os
import re
import sys
import time
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

    def _oai(self, query):
        token = query.get("resumptionToken", ["ListRecords.xml"])[0]
        body = self._file(os.path.join("oai", "generic", os.path.basename(token)))
        if body is None:
            body = self._file(os.path.join("oai", "generic", "badResumptionToken.xml"))
        return self._send(200, body, [("Content-Type", "text/xml")])

    def _api(self, option, query):
        start = int(query.get("start", ["0"])[0])
        if option == "slow":
            time.sleep(0.3)
        key = "empty-at-%d" % start
        if option == key and not failures.get(key):
            failures[key] = 1
            empty = ('<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom"'
                     ' xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">'
                     "<opensearch:totalResults>60</opensearch:totalResults>"
                     "<opensearch:startIndex>%d</opensearch:startIndex></feed>" % start)
            return self._send(200, empty.encode())
        pattern = os.path.join(DATA, "atom", "q_testing_s%d_m10_*.json" % start)
        files = glob.glob(pattern)
        if not files:
            return self._send(404, b"no such page")
        with open(files[0]) as handle:
            body = json.load(handle)["body"]
        body = re.sub(r"<opensearch:totalResults>\d+<", "<opensearch:totalResults>60<", body)
        return self._send(200, body.encode(), [("Content-Type", "application/atom+xml")])

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        with open(LOG, "a") as log:
            log.write("%s %s\n" % (self.path, self.headers.get("User-Agent", "")))
        kind, _, relative = url.path.lstrip("/").partition("/")
        query = urllib.parse.parse_qs(url.query)
        if kind == "oai":
            return self._oai(query)
        if kind == "api":
            return self._api(relative, query)
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
