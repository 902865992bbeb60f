"""Helpers for the Segment API tests (test_segment_*.py).

- segment_error(): a response is the Segment-shaped error
  {"success":false,"code":…,"message":…} with a given status and code.
- segment_ok(): a 200 {"success":true,"accepted":N,"rejected":[…]}.
- post_segment(): POST a Segment body to /v1/<call> of an nginx.
- FlakyFront: a loopback HTTP front for the real clients that answers the
  first requests with a 503, after (lost) forwarding them to PX or by
  relaying a PX that has no broker, then forwards everything: the clients'
  own retries then carry the same calls again.
"""

import base64
import gzip as gzip_mod
import http.server
import json
import threading

import requests

from pxstack import DEMO_KEY


def segment_error(r, status, code=None):
    assert r.status_code == status, "expected %d, got %d: %s" % (
        status, r.status_code, r.text[:500])
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    body = r.json()
    assert set(body) == {"success", "code", "message"}, body
    assert body["success"] is False and body["message"], body
    if code is not None:
        assert body["code"] == code, "expected code %r, got %r" % (code, body)
    return body


def segment_ok(r, n=None, rejected=None):
    """rejected: the expected [(index, error)] (None: not checked)."""
    assert r.status_code == 200, "expected 200, got %d: %s" % (r.status_code, r.text[:500])
    body = r.json()
    assert set(body) == {"success", "accepted", "rejected"}, body
    assert body["success"] is True, body
    if n is not None:
        assert body["accepted"] == n, body
    if rejected is not None:
        assert [(x["index"], x["error"]) for x in body["rejected"]] == list(rejected), body
    return body


def basic(key):
    return "Basic " + base64.b64encode((key + ":").encode()).decode()


def post_segment(base, call, body, key=DEMO_KEY, auth="basic", gzip=False,
                 headers=None, content_type="application/json", timeout=15):
    """auth: "basic" (Authorization: Basic key:), "body" (writeKey in the
    body), None (no key at all)."""
    if not isinstance(body, (str, bytes)):
        body = dict(body)
        if auth == "body":
            body["writeKey"] = key
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    h = {"Content-Type": content_type} if content_type else {}
    if auth == "basic":
        h["Authorization"] = basic(key)
    if gzip:
        body = gzip_mod.compress(body)
        h["Content-Encoding"] = "gzip"
    h.update(headers or {})
    return requests.post(base + "/v1/" + call, data=body, headers=h, timeout=timeout)


class FlakyFront:
    """plan: what each request in turn gets, then "pass" for the rest:
    "lost" forwards it to PX (the events reach Kafka) but answers 503, as
    when an answer is lost; "down" relays it to `down_url` (a PX whose
    Kafka is unreachable: its own 503 and Retry-After)."""

    def __init__(self, target_url, plan, down_url=None):
        self.target = target_url
        self.down = down_url
        self.plan = list(plan)
        self.seen = []          # (path, status answered)
        self.lock = threading.Lock()
        front = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with front.lock:
                    step = front.plan.pop(0) if front.plan else "pass"
                hdrs = {k: v for k, v in self.headers.items()
                        if k.lower() not in ("host", "content-length", "connection")}
                url = (front.down if step == "down" else front.target) + self.path
                r = requests.post(url, data=body, headers=hdrs, timeout=30)
                status, out, extra = r.status_code, r.content, {}
                if "Retry-After" in r.headers:
                    extra["Retry-After"] = r.headers["Retry-After"]
                if step == "lost":
                    status = 503
                    out = b'{"success":false,"code":"kafka_unavailable","message":"lost"}'
                    extra = {"Retry-After": "1"}
                with front.lock:
                    front.seen.append((self.path, status))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                for k, v in extra.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(out)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
