"""Integration test harness: the real PX stack on free loopback ports.

The session fixture `stack` starts Kafka (KRaft), Redis, ClickHouse, nginx
with the built PX module and px-worker through tools/pxstack in a pytest
temp directory, on ports picked free at start, so a local stack
(`make up`, ports 8000/9092/6379/8123) is never touched. A service that
cannot start makes every test that needs it fail (error), never skip.

Build directory: $PX_BUILD_DIR (e.g. build-asan for the sanitizer build),
default build/. Logs: <tmp>/logs/, printed when the stack fails; set
PX_KEEP_STACK=1 to leave the stack running after the session (its
directory is printed).

The `px` fixture gives the helpers: px.event(), px.post_batch(),
px.ch_rows(), px.kafka_messages(), px.wait_until(), px.extra_nginx().
"""

import gzip as gzip_mod
import json
import os
import subprocess
import sys
import time
import uuid

import pytest
import requests

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tools"))

from pxstack import DEMO_KEY, DEMO_PROJECT, Ports, ServiceError, Stack  # noqa: E402
from pxstack.base import prometheus_values, tail, wait_until  # noqa: E402


class PX:
    """Helpers bound to one running stack."""

    def __init__(self, stack):
        self.stack = stack
        self.base = stack.nginx.url
        self.key = DEMO_KEY
        self.project = DEMO_PROJECT
        self.http = requests.Session()

    # -- events and batches -------------------------------------------------------

    @staticmethod
    def event(name="page_view", **fields):
        """One event with a fresh event_id (fields override/extend)."""
        ev = {
            "event": name,
            "event_id": str(uuid.uuid4()),
            "anonymous_id": "anon_" + uuid.uuid4().hex[:12],
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "properties": {"test": True},
            "context": {"page": {"url": "http://localhost/t", "path": "/t",
                                 "title": "integration test"},
                        "library": {"name": "pytest", "version": "1"}},
        }
        ev.update(fields)
        return ev

    def post_batch(self, events=None, key=None, project=None, gzip=False,
                   body=None, headers=None, params=None, base=None,
                   content_type="application/json", auth="bearer", timeout=15):
        """POST to /api/v1/events/batch. events: a list (wrapped in the
        envelope with sent_at); body: raw bytes/str instead; gzip: compress
        and send Content-Encoding: gzip; key/project: None for the demo ones,
        "" to leave out; auth: "bearer", "header" (X-PX-API-Key) or "query"."""
        key = self.key if key is None else key
        project = self.project if project is None else project
        if body is None:
            body = json.dumps({"events": events or [],
                               "sent_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                        time.gmtime())})
        if isinstance(body, str):
            body = body.encode()
        h = {"Content-Type": content_type} if content_type else {}
        q = dict(params or {})
        if key:
            if auth == "bearer":
                h["Authorization"] = "Bearer " + key
            elif auth == "header":
                h["X-PX-API-Key"] = key
            else:
                q["api_key"] = key
        if project:
            if auth == "query":
                q["project_id"] = project
            else:
                h["X-PX-Project-ID"] = project
        if gzip:
            body = gzip_mod.compress(body)
            h["Content-Encoding"] = "gzip"
        h.update(headers or {})
        return self.http.post((base or self.base) + "/api/v1/events/batch",
                              data=body, headers=h, params=q, timeout=timeout)

    def get(self, path, base=None, **kw):
        kw.setdefault("timeout", 10)
        return self.http.get((base or self.base) + path, **kw)

    # -- ClickHouse ----------------------------------------------------------------

    def ch(self, sql):
        """Run sql on ClickHouse over HTTP; the body as text."""
        r = requests.post(self.stack.clickhouse.url + "/", data=sql.encode(), timeout=15)
        assert r.status_code == 200, "ClickHouse %d: %s\n%s" % (r.status_code, r.text, sql)
        return r.text

    def ch_rows(self, sql):
        """Rows of a SELECT as dicts (sql without FORMAT)."""
        out = self.ch(sql + " FORMAT JSONEachRow")
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def rows_for(self, event_ids, columns="event_id, event, project_id"):
        ids = ", ".join("'%s'" % i.replace("'", "") for i in event_ids)
        return self.ch_rows("SELECT %s FROM px.events WHERE event_id IN (%s)"
                            % (columns, ids))

    # -- Kafka -----------------------------------------------------------------------

    def kafka_messages(self, topic="px.events.raw", timeout=30):
        """Every message now in topic, as kcat -J dicts (Kafka.messages)."""
        return self.stack.kafka.messages(topic, timeout)

    def kafka_payloads_with(self, needle, topic="px.events.raw"):
        """Messages of topic whose payload contains needle."""
        return [m for m in self.kafka_messages(topic)
                if needle in (m.get("payload") or "")]

    # -- misc ------------------------------------------------------------------------

    wait_until = staticmethod(wait_until)

    def worker_settled(self, timeout=30):
        """Wait until the stack's worker has nothing left to do: no consumer
        lag, and its consumed and stored counters unchanged for 1 s (four
        looks): whatever Kafka held, a duplicate included, has been read and
        stored or dropped. Use before checking that nothing is stored twice."""
        url = self.stack.worker.health_url + "/metrics"
        seen = []

        def look():
            m = prometheus_values(requests.get(url, timeout=5).text)
            lag = sum(v for k, v in m.items()
                      if k.startswith("px_worker_consumer_lag{"))
            now = (m.get('px_worker_events_total{stage="consumed"}'),
                   m.get('px_worker_events_total{stage="stored"}'))
            seen.append(now if lag == 0 else None)
            return len(seen) >= 4 and None not in seen[-4:] \
                and len(set(seen[-4:])) == 1
        wait_until(look, timeout=timeout, interval=0.25,
                   desc="the worker settled (lag 0, counters still)")

    def extra_nginx(self, name, http_extra="", server_extra="", **kw):
        """Start another nginx with the module and extra directives (see
        Stack.start_extra_nginx); stopped with the stack or by .stop()."""
        return self.stack.start_extra_nginx(name, http_extra, server_extra, **kw)

    def log(self, name, lines=40):
        """The last lines of DIR/logs/<name> (e.g. "worker.log")."""
        return tail(os.path.join(self.stack.logs_dir, name), lines)


def serve_stack(tmp_path_factory, name, label, make=Stack):
    """A whole stack on free ports in a new temp dir, for a fixture to yield
    from: fails (never skips) when it cannot start; stopped afterwards (left
    running with PX_KEEP_STACK=1); any sanitizer report fails the run.
    make: the Stack class (e.g. pxstack.cluster.ClusterStack)."""
    root = str(tmp_path_factory.mktemp(name))
    s = make(root, ports=Ports.free())
    t0 = time.monotonic()
    error = None
    try:
        s.up(timeout=float(os.environ.get("PX_STACK_TIMEOUT", "180")))
    except ServiceError as e:
        error = str(e)
    if error is not None:
        s.down()
        pytest.fail("the %s did not start (logs in %s/logs):\n%s"
                    % (label, root, error), pytrace=False)
    sys.stderr.write("\npxstack: %s up in %.1fs in %s\n"
                     % (label, time.monotonic() - t0, root))
    try:
        yield s
    finally:
        if os.environ.get("PX_KEEP_STACK") == "1":
            sys.stderr.write("\npxstack: %s left running in %s (python3 "
                             "tools/pxstack down --dir %s)\n" % (label, root, root))
        else:
            s.down()
    reports = s.sanitizer_reports()
    if reports:
        pytest.fail("sanitizer reports:\n" + "\n".join(
            "--- %s ---\n%s" % (p, text[-4000:]) for p, text in reports), pytrace=False)


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    yield from serve_stack(tmp_path_factory, "pxstack", "PX stack")


@pytest.fixture
def px(stack):
    """Helpers for one test; fails the test (not skip) if a service died."""
    dead = [svc.name for svc in stack.backends + [stack.nginx, stack.worker]
            if not svc.running()]
    if dead:
        pytest.fail("services not running: %s\n%s" % (", ".join(dead), "\n".join(
            "--- %s ---\n%s" % (n, tail(os.path.join(stack.logs_dir, n + ".log")))
            for n in dead)), pytrace=False)
    return PX(stack)
