"""The worker's /health sees a hung pipeline: with a ClickHouse that accepts
connections and never answers, /health (and /ready) turn 503 "stalled"
once nothing was consumed or stored for PX_HEALTH_STALL seconds while
messages wait, and 200 again once inserts go through. Docker's and
Kubernetes' health checks use /health.

An extra worker of its own consumer group writes to a database of its own
through a TCP proxy in front of the session's ClickHouse; the proxy can be
told to hang."""

import socket
import threading
import uuid

import pytest
import requests

from pxstack.base import free_port


class HangingProxy:
    """TCP proxy to target; while hang is set it relays nothing (new and
    open connections alike); unhang() closes what it held."""

    def __init__(self, target_port):
        self.target = ("127.0.0.1", target_port)
        self.port = free_port()
        self.hang = threading.Event()
        self.held = []
        self.lock = threading.Lock()
        self.srv = socket.create_server(("127.0.0.1", self.port))
        self.srv.settimeout(0.2)
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                c, _ = self.srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.held.append(c)
            if not self.hang.is_set():
                threading.Thread(target=self._relay, args=(c,), daemon=True).start()

    def _pipe(self, a, b):
        try:
            while not self.hang.is_set():
                data = a.recv(65536)
                if not data or self.hang.is_set():
                    break
                b.sendall(data)
        except OSError:
            pass

    def _relay(self, c):
        try:
            u = socket.create_connection(self.target, timeout=5)
        except OSError:
            c.close()
            return
        t = threading.Thread(target=self._pipe, args=(u, c), daemon=True)
        t.start()
        self._pipe(c, u)
        t.join(1)
        if not self.hang.is_set():
            c.close()
            u.close()

    def unhang(self):
        self.hang.clear()
        with self.lock:
            held, self.held = self.held, []
        for c in held:
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass

    def close(self):
        self.stop.set()
        self.srv.close()
        self.unhang()


@pytest.fixture
def hung(stack):
    proxy = HangingProxy(stack.clickhouse.http_port)
    db = "px_health_%s" % uuid.uuid4().hex[:8]
    w = stack.start_extra_worker("health-worker", extra_env={
        "CLICKHOUSE_URL": "http://127.0.0.1:%d" % proxy.port,
        "CLICKHOUSE_DATABASE": db,
        "KAFKA_GROUP_ID": "px-health-" + db,
        "REDIS_URL": stack.redis.url.rsplit("/", 1)[0] + "/6",
        "PX_HEALTH_STALL": "3",
    })
    try:
        yield proxy, w
    finally:
        w.stop(timeout=30)
        stack.extras.remove(w)
        proxy.close()
        requests.post(stack.clickhouse.url + "/", data="DROP DATABASE IF EXISTS %s" % db,
                      timeout=30)


def health(w):
    r = requests.get(w.health_url + "/health", timeout=5)
    return r.status_code, r.json()


def test_health_fails_while_inserts_hang_and_recovers(px, hung):
    proxy, w = hung
    # caught up with the topic: healthy
    def caught_up():
        code, body = health(w)
        return code == 200 and body["lag"] == 0 and body["pending"] == 0
    px.wait_until(caught_up, timeout=60, desc="the extra worker caught up")

    proxy.hang.set()
    ev = px.event("while_clickhouse_hangs")
    assert px.post_batch([ev]).status_code == 202
    code, body = px.wait_until(lambda: (lambda h: h if h[0] == 503 else None)(health(w)),
                               timeout=60, desc="/health 503 while inserts hang")
    assert body["status"] == "stalled" and body["reason"], body
    assert body["last_progress_ms_ago"] >= 3000, body
    assert requests.get(w.health_url + "/ready", timeout=5).status_code == 503

    proxy.unhang()
    px.wait_until(lambda: health(w)[0] == 200, timeout=90,
                  desc="/health 200 once inserts go through (%r)" % (health(w),))
    assert health(w)[1]["status"] in ("ok", "degraded")


def test_sigterm_while_inserts_hang_stops_within_the_budget(px, hung):
    """The stop budget (10 s) bounds the whole drain: the ClickHouse call in
    progress is abandoned at the deadline instead of waiting out its 30 s
    timeout, for each of the two batches. The batch not stored is read
    again at the next start."""
    import time
    proxy, w = hung
    px.wait_until(lambda: health(w)[1]["lag"] == 0 and health(w)[1]["pending"] == 0,
                  timeout=60, desc="the extra worker caught up")
    proxy.hang.set()
    events = [px.event("stop_while_hung") for _ in range(3)]
    assert px.post_batch(events).status_code == 202
    px.wait_until(lambda: health(w)[1]["pending"] > 0, timeout=30,
                  desc="a batch held by the hung insert")
    t0 = time.monotonic()
    w.stop(timeout=60)
    took = time.monotonic() - t0
    assert "stopped:" in open(w.log_path, errors="replace").read(), "not a clean exit"
    # 10 s of budget, then at most one call of the last attempt (curl is
    # abandoned within a second); before, each batch waited out its 30 s
    assert took < 20, "the stop took %.1f s" % took
