"""A scripted HTTP server for the SDK's unit tests.

`server` answers POST /api/v1/events/batch from a script: a list of
answers used in order, then the default (202, every event accepted). An
answer is (status, headers dict, body), or a callable taking the request
and returning one, or "hang" (no answer until the test ends). Every
request is recorded: time, headers, the decoded events.
"""

import gzip
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
sys.path.insert(0, SRC)


class Request:
    def __init__(self, headers, raw):
        self.t = time.monotonic()
        self.headers = headers
        self.raw = raw
        body = gzip.decompress(raw) if headers.get("Content-Encoding") == "gzip" else raw
        self.envelope = json.loads(body)
        self.events = self.envelope["events"]
        self.ids = [e["event_id"] for e in self.events]


class ScriptedServer:
    def __init__(self):
        self.script = []
        self.requests = []
        self.released = threading.Event()
        self.lock = threading.Lock()
        srv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                req = Request(dict(self.headers), raw)
                with srv.lock:
                    srv.requests.append(req)
                    answer = srv.script.pop(0) if srv.script else None
                if answer == "hang":
                    srv.released.wait(30)
                    self.close_connection = True   # the client sees no answer
                    return
                if callable(answer):
                    answer = answer(req)
                status, headers, body = answer or (
                    202, {}, {"accepted": len(req.events), "rejected": []})
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def events(self):
        with self.lock:
            return [e for r in self.requests for e in r.events]

    def ids(self):
        return [e["event_id"] for e in self.events()]

    def wait_requests(self, n, timeout=10):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if len(self.requests) >= n:
                return self.requests
            time.sleep(0.01)
        raise AssertionError("%d request(s) after %ss, wanted %d"
                             % (len(self.requests), timeout, n))

    def close(self):
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = ScriptedServer()
    yield s
    s.close()


@pytest.fixture
def make_client(server):
    """px.Client against the scripted server; shut down after the test."""
    import px
    made = []

    def make(**kw):
        kw.setdefault("retry_base", 0.05)
        kw.setdefault("retry_max", 0.2)
        c = px.Client("px_test_key", "proj_t", server.url, **kw)
        made.append(c)
        return c
    yield make
    server.released.set()
    for c in made:
        c.shutdown(timeout=2)


def answer(status, retry_after=None, body=None):
    h = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return (status, h, body if body is not None else {"error": "x", "message": "m"})
