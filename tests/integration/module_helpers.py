"""Helpers for the nginx module tests (test_module_*.py).

- json_error(): a response is the module's JSON error with a given status
  and code.
- accepted(): a 202 body {"accepted":N,"rejected":[...]}.
- assert_not_in_raw(): nothing carrying given markers reached
  px.events.raw (checked after a sentinel event of the same visitor, so in
  the same partition, is there).
- start_nginx(): an extra nginx of the session stack with its own key file
  and the ModuleNginx helpers (error log, worker pids, reload and wait),
  stopped by the test's fixture (stop_nginx) or by stack.down().
- raw_http(): one HTTP exchange over a plain socket.
"""

import json
import os
import re
import socket
import sys
import time
import uuid

from conftest import REPO

sys.path.insert(0, os.path.join(REPO, "tools"))

from pxstack.nginx import Nginx, write_keys  # noqa: E402
from pxstack.stack import DEMO_KEY_LINE as DEMO_LINE  # noqa: E402,F401

_seq = [0]


def uid(prefix="m"):
    return "%s_%s" % (prefix, uuid.uuid4().hex[:16])


def json_error(r, status, code=None):
    """r is status with a JSON body {"error":code,"message":"..."}."""
    assert r.status_code == status, "expected %d, got %d: %s" % (
        status, r.status_code, r.text[:500])
    ctype = r.headers.get("Content-Type", "")
    assert ctype.startswith("application/json"), (ctype, r.text[:300])
    body = r.json()
    assert isinstance(body, dict), body
    assert set(body) == {"error", "message"}, body
    assert isinstance(body["message"], str) and body["message"], body
    if code is not None:
        assert body["error"] == code, "expected error %r, got %r" % (code, body)
    return body


def accepted(r, n=None, rejected=None):
    """r is 202 {"accepted":N,"rejected":[...]}; rejected: the expected
    [(index, event_id or None, error)] (None: not checked)."""
    assert r.status_code == 202, "expected 202, got %d: %s" % (
        r.status_code, r.text[:500])
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    body = r.json()
    assert set(body) == {"accepted", "rejected"}, body
    assert isinstance(body["accepted"], int) and isinstance(body["rejected"], list), body
    if n is not None:
        assert body["accepted"] == n, body
    if rejected is not None:
        got = [(x.get("index"), x.get("event_id"), x.get("error"))
               for x in body["rejected"]]
        assert got == list(rejected), body
        for x in body["rejected"]:
            assert set(x) == {"index", "event_id", "error"}, x
    return body


def in_topic(px, needles, topic="px.events.raw", ignore=()):
    """{needle: [payload, ...]} of the messages of topic containing it
    (messages containing any of ignore left out)."""
    msgs = [m.get("payload") or "" for m in px.kafka_messages(topic)]
    msgs = [m for m in msgs if not any(i in m for i in ignore)]
    return {n: [m for m in msgs if n in m] for n in needles}


def assert_not_in_raw(px, markers, anon=None, base=None, dlq=True):
    """Nothing in px.events.raw (and, with dlq, px.events.dlq) carries any
    of markers. First a good event of the same visitor (anon) is posted and
    awaited in px.events.raw: had the refused request produced anything, it
    would be in the same partition before it."""
    anon = anon or ("anon_" + uuid.uuid4().hex[:12])
    sentinel = px.event("sentinel", anonymous_id=anon)
    r = px.post_batch([sentinel], base=base)
    accepted(r, 1)
    px.wait_until(lambda: px.kafka_payloads_with(sentinel["event_id"]),
                  timeout=20, desc="the sentinel event in px.events.raw")
    ignore = [sentinel["event_id"]]
    found = in_topic(px, markers, ignore=ignore)
    assert all(v == [] for v in found.values()), \
        "refused input reached px.events.raw: %r" % found
    if dlq:
        found = in_topic(px, markers, "px.events.dlq", ignore=ignore)
        assert all(v == [] for v in found.values()), \
            "refused input reached px.events.dlq: %r" % found


def wait_in_raw(px, event_ids, timeout=20):
    """Wait until each event_id is in px.events.raw; returns {id: [payload]}."""
    def check():
        found = in_topic(px, event_ids)
        return found if all(found.values()) else None
    return px.wait_until(check, timeout=timeout,
                         desc="%d event(s) in px.events.raw" % len(event_ids))


def knows_no_broker(n, since=0):
    """Whether every worker process of n has logged, past byte `since` of
    its error log, that no broker is up: each learns it on its own, and
    until then sends requests on to the producer."""
    logged = {int(m) for m in re.findall(
        r"\] (\d+)#\d+: px: kafka: no broker is up", n.error_log()[since:])}
    pids = set(n.worker_pids())
    return bool(pids) and pids <= logged


class ModuleNginx(Nginx):
    """An nginx of the stack with its own key file."""

    def set_keys(self, lines):
        write_keys(self.keys, lines)

    def error_log(self):
        path = os.path.join(self.logs_dir, self.name + "-error.log")
        try:
            with open(path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def worker_pids(self):
        """pids of this nginx's worker processes (children of the master)."""
        master = self.pid()
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    st = f.read()
            except OSError:
                continue
            fields = st[st.rfind(")") + 2:].split()
            if int(fields[1]) == master and fields[0] not in ("Z", "X"):
                out.append(int(d))
        return sorted(out)

    def reload_and_wait(self, timeout=20):
        """nginx -s reload (re-rendered config, SIGHUP); wait until the old
        workers have gone and new ones answer."""
        old = set(self.worker_pids())
        self.reload()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = set(self.worker_pids())
            if now and not (now & old):
                return
            time.sleep(0.1)
        raise AssertionError("%s: old workers %s still running after reload "
                             "(now %s)" % (self.name, old, self.worker_pids()))


def start_nginx(stack, name, keys, http_extra="", server_extra="",
                health_status=(200,), timeout=30.0, realip=False, kafka=None,
                dlq_topic="px.events.dlq"):
    """An extra nginx of the stack (Stack.start_extra_nginx, stopped by
    stack.down() at the latest) named name + a unique suffix, with its own
    key file of lines keys; realip: the harness's loopback realip config
    (off by default: tests that want it say so in server_extra); kafka:
    other brokers than the stack's; dlq_topic: its px_kafka_dlq_topic."""
    _seq[0] += 1
    n = stack.start_extra_nginx("%s%d" % (name, _seq[0]), http_extra, server_extra,
                                health_status=health_status, timeout=timeout,
                                keys=keys, realip=realip, kafka=kafka,
                                dlq_topic=dlq_topic)
    n.__class__ = ModuleNginx  # the same object, with the helpers above
    return n


def stop_nginx(stack, n):
    n.stop(timeout=20)
    if n in stack.extras:
        stack.extras.remove(n)


def assert_no_crash(n):
    """The nginx error log has no alert or crash lines."""
    log = n.error_log()
    bad = [l for l in log.splitlines()
           if "[alert]" in l or "[emerg]" in l
           or re.search(r"exited on signal|core dumped", l)]
    assert not bad, "%s error log:\n%s" % (n.name, "\n".join(bad[-20:]))


def raw_http(port, data, read_timeout=10.0, host="127.0.0.1"):
    """Send data (bytes) on a new connection, read until the peer closes
    or read_timeout; returns (bytes read, seconds until close or None)."""
    s = socket.create_connection((host, port), timeout=5)
    try:
        s.sendall(data)
        s.settimeout(read_timeout)
        t0 = time.monotonic()
        chunks = []
        closed = None
        try:
            while True:
                c = s.recv(65536)
                if not c:
                    closed = time.monotonic() - t0
                    break
                chunks.append(c)
        except socket.timeout:
            pass
        except ConnectionResetError:
            closed = time.monotonic() - t0
        return b"".join(chunks), closed
    finally:
        s.close()


def envelope(events):
    return json.dumps({"events": events,
                       "sent_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
