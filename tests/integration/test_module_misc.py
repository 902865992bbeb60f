"""ngx_http_px_module: key transports, origins and CORS, key file reload,
/health, queue status counters, Prometheus metrics, client IP through the
realip module. Real nginx + real Kafka."""

import json
import os
import re
import signal
import uuid

import pytest

from pxstack import ServiceError
from module_helpers import (DEMO_LINE, accepted, assert_no_crash,
                            assert_not_in_raw,
                            json_error, start_nginx, stop_nginx, uid,
                            wait_in_raw)

BATCH = "/api/v1/events/batch"
ALLOWED = "https://shop.example"
OTHER = "https://evil.example"


# -- keys -------------------------------------------------------------------------

@pytest.mark.parametrize("auth,ctype", [("bearer", "application/json"),
                                        ("header", "application/json"),
                                        ("body", "text/plain;charset=UTF-8")],
                         ids=["authorization_bearer", "x_px_api_key", "beacon_body"])
def test_key_transports_are_accepted(px, auth, ctype):
    events = [px.event("auth_" + auth), px.event("auth_" + auth)]
    if auth == "body":
        # what the SDK's beacons send: the key in the envelope, the project
        # in the query string, no header
        body = json.dumps({"api_key": px.key, "events": events})
        r = px.post_batch(body=body, key="", project="", content_type=ctype,
                          params={"project_id": px.project})
        assert "api_key=" not in r.request.url and "project_id=" in r.request.url
        assert "Authorization" not in r.request.headers
    else:
        r = px.post_batch(events, auth=auth, content_type=ctype)
    accepted(r, 2, [])
    found = wait_in_raw(px, [e["event_id"] for e in events], timeout=5)
    for e in events:
        payload = json.loads(found[e["event_id"]][0])
        assert payload["project_id"] == px.project


def test_beacon_with_gzip_and_no_project_uses_the_keys_project(px):
    ev = px.event("beacon_gz")
    body = json.dumps({"api_key": px.key, "events": [ev]}).encode()
    import gzip
    r = px.http.post(px.base + BATCH, data=gzip.compress(body), timeout=10,
                     headers={"Content-Type": "text/plain;charset=UTF-8"})
    accepted(r, 1, [])
    payload = json.loads(wait_in_raw(px, [ev["event_id"]], timeout=5)[ev["event_id"]][0])
    assert payload["project_id"] == px.project


@pytest.fixture(scope="module")
def cors_nginx(stack):
    run = uuid.uuid4().hex[:8]
    keys = {
        "open": ("px_open_" + run, "proj_open_" + run),
        "shop": ("px_shop_" + run, "proj_shop_" + run),
        "old": ("px_old_" + run, "proj_old_" + run),
    }
    lines = [DEMO_LINE,
             "%s %s unlimited" % keys["open"],
             "%s %s unlimited %s http://localhost:3000   # two origins" % (keys["shop"] + (ALLOWED,)),
             "%s %s unlimited" % keys["old"]]
    n = start_nginx(stack, "cors", lines,
                    server_extra="px_cors_origins %s http://localhost:3000;" % ALLOWED)
    n.test_keys = keys
    n.key_lines = lines
    yield n
    stop_nginx(stack, n)


def test_key_with_origins_refuses_another_origin(px, cors_nginx):
    key, project = cors_nginx.test_keys["shop"]
    marker = uid("origin")
    ev = px.event("origin", anonymous_id=marker)
    r = px.post_batch([ev], key=key, project=project, base=cors_nginx.url,
                      headers={"Origin": OTHER})
    json_error(r, 403, "origin_not_allowed")
    assert_not_in_raw(px, [marker, ev["event_id"]], anon=marker, base=None)

    ok = px.event("origin_ok")
    r = px.post_batch([ok], key=key, project=project, base=cors_nginx.url,
                      headers={"Origin": ALLOWED})
    accepted(r, 1, [])
    assert r.headers.get("Access-Control-Allow-Origin") == ALLOWED
    # no Origin (server-side sender): the key is usable
    accepted(px.post_batch([px.event()], key=key, project=project,
                           base=cors_nginx.url), 1, [])
    # a key without an origin list takes any origin
    key2, project2 = cors_nginx.test_keys["open"]
    accepted(px.post_batch([px.event()], key=key2, project=project2,
                           base=cors_nginx.url, headers={"Origin": OTHER}), 1, [])


def test_cors_preflight_for_an_allowed_origin(px, cors_nginx):
    r = px.http.options(cors_nginx.url + BATCH, timeout=10, headers={
        "Origin": ALLOWED, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, content-encoding, authorization"})
    assert r.status_code == 204, (r.status_code, r.text, r.request.headers)
    h = r.headers
    assert h.get("Access-Control-Allow-Origin") == ALLOWED, h
    methods = [m.strip() for m in h.get("Access-Control-Allow-Methods", "").split(",")]
    assert "POST" in methods, h
    allowed = [x.strip().lower() for x in h.get("Access-Control-Allow-Headers", "").split(",")]
    for want in ("content-type", "content-encoding", "authorization", "x-px-api-key",
                 "x-px-project-id"):
        assert want in allowed, h
    assert int(h.get("Access-Control-Max-Age", "0")) > 0, h
    assert "Origin" in h.get("Vary", ""), h
    assert r.content == b""


def test_cors_preflight_for_every_listed_origin(px, cors_nginx):
    """px_cors_origins takes a list (docs/nginx-module.md: `origin ...`):
    the second origin of `px_cors_origins https://shop.example
    http://localhost:3000;` is allowed too."""
    r = px.http.options(cors_nginx.url + BATCH, timeout=10, headers={
        "Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"})
    assert r.status_code == 204, (r.status_code, r.text)
    assert r.headers.get("Access-Control-Allow-Origin") == "http://localhost:3000"


def test_cors_preflight_for_another_origin_gets_403(px, cors_nginx):
    r = px.http.options(cors_nginx.url + BATCH, timeout=10, headers={
        "Origin": OTHER, "Access-Control-Request-Method": "POST"})
    json_error(r, 403, "origin_not_allowed")
    assert "Access-Control-Allow-Origin" not in r.headers


def test_cors_headers_on_the_post_answer(px, cors_nginx):
    key, project = cors_nginx.test_keys["open"]
    r = px.post_batch([px.event()], key=key, project=project, base=cors_nginx.url,
                      headers={"Origin": ALLOWED})
    accepted(r, 1, [])
    assert r.headers.get("Access-Control-Allow-Origin") == ALLOWED
    expose = r.headers.get("Access-Control-Expose-Headers", "")
    assert "Retry-After" in expose and "X-RateLimit-Remaining" in expose
    # an origin not in px_cors_origins gets no CORS headers
    r = px.post_batch([px.event()], key=key, project=project, base=cors_nginx.url,
                      headers={"Origin": OTHER})
    assert "Access-Control-Allow-Origin" not in r.headers


def test_key_file_reload(px, cors_nginx):
    n = cors_nginx
    old_key, old_project = n.test_keys["old"]
    new_key, new_project = "px_new_" + uuid.uuid4().hex, "proj_new_" + uuid.uuid4().hex[:8]
    accepted(px.post_batch([px.event()], key=old_key, project=old_project, base=n.url), 1, [])
    json_error(px.post_batch([px.event()], key=new_key, project=new_project, base=n.url),
               401, "invalid_api_key")

    lines = [l for l in n.key_lines if not l.startswith(old_key)]
    lines.append("%s %s unlimited" % (new_key, new_project))
    n.set_keys(lines)
    n.reload_and_wait()

    ev = px.event("reloaded_key")
    r = px.post_batch([ev], key=new_key, project=new_project, base=n.url)
    accepted(r, 1, [])
    payload = json.loads(wait_in_raw(px, [ev["event_id"]], timeout=5)[ev["event_id"]][0])
    assert payload["project_id"] == new_project
    json_error(px.post_batch([px.event()], key=old_key, project=old_project, base=n.url),
               401, "invalid_api_key")
    # the other keys still work
    key, project = n.test_keys["open"]
    accepted(px.post_batch([px.event()], key=key, project=project, base=n.url), 1, [])
    n.key_lines = lines
    assert_no_crash(n)
    # the key itself is never written to a log
    assert new_key not in n.error_log() and old_key not in n.error_log()


def test_broken_key_file_on_reload_keeps_the_old_keys(px, cors_nginx):
    n = cors_nginx
    key, project = n.test_keys["open"]
    n.set_keys(n.key_lines + ["just_a_key_without_project"])
    old = set(n.worker_pids())
    try:
        # nginx -t (which the harness runs before a reload) names the line
        with pytest.raises(ServiceError) as e:
            n.reload()
        assert "key file" in str(e.value) and "line" in str(e.value), e.value
        # a real SIGHUP, as systemctl reload sends it without nginx -t: the
        # master refuses the new configuration and keeps the old workers
        log_before = len(n.error_log())
        os.kill(n.pid(), signal.SIGHUP)
        px.wait_until(lambda: "[emerg]" in n.error_log()[log_before:], timeout=10,
                      desc="the refused reload logged")
        refused = n.error_log()[log_before:]
        assert "line" in refused and "just_a_key_without_project" not in refused, refused
        assert set(n.worker_pids()) == old
        accepted(px.post_batch([px.event()], key=key, project=project, base=n.url), 1, [])
    finally:
        n.set_keys(n.key_lines)
    assert set(n.worker_pids()) == old
    accepted(px.post_batch([px.event()], key=key, project=project, base=n.url), 1, [])


# -- health, queue status, metrics ----------------------------------------------

def test_health_json(px):
    def up():
        r = px.get("/health")
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"].startswith("application/json")
        b = r.json()
        return b if b["kafka"]["state"] == "up" else None
    b = px.wait_until(up, timeout=10, desc="/health with Kafka up")
    assert b["status"] == "ok"
    assert isinstance(b["version"], str) and re.match(r"\d+\.\d+", b["version"]), b
    assert b["kafka"]["brokers_up"] >= 1
    assert isinstance(b["kafka"]["in_flight"], int)


def test_health_refuses_post(px):
    r = px.http.post(px.base + "/health", data=b"x", timeout=10)
    json_error(r, 405, "method_not_allowed")
    assert "GET" in r.headers.get("Allow", "")


def test_queue_status_counters_move(px):
    def status():
        r = px.get("/api/v1/events/queue/status")
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"].startswith("application/json")
        return r.json()
    before = status()
    for k in ("requests", "received", "accepted", "rejected", "rate_limited",
              "delivered", "failed", "dead_lettered"):
        assert isinstance(before["counters"][k], int), before
    assert isinstance(before["in_flight"]["total"], int)
    assert isinstance(before["in_flight"]["workers"], dict)

    good = [px.event("qs"), px.event("qs")]
    bad = [{"event_id": str(uuid.uuid4())}, px.event("qs", timestamp="never")]
    r = px.post_batch(good + bad)
    accepted(r, 2)
    json_error(px.post_batch(body=b"nope"), 400, "invalid_json")

    def moved():
        a = status()
        return a if a["counters"]["delivered"] - before["counters"]["delivered"] >= 2 else None
    after = px.wait_until(moved, timeout=5, desc="delivered counter moving")
    d = {k: after["counters"][k] - before["counters"][k] for k in before["counters"]}
    assert d["requests"] == 2, d
    assert d["received"] == 4, d
    assert d["accepted"] == 2, d
    assert d["rejected"] == 2, d
    assert d["rate_limited"] == 0, d
    assert d["failed"] == 0, d
    rb, ra = before["rejected_by_reason"], after["rejected_by_reason"]
    assert ra["missing_event_name"] - rb["missing_event_name"] == 1
    assert ra["invalid_timestamp"] - rb["invalid_timestamp"] == 1
    assert sum(ra.values()) - sum(rb.values()) == 2
    assert after["in_flight"]["total"] >= 0


@pytest.fixture(scope="module")
def metrics_nginx(stack):
    n = start_nginx(stack, "metrics", [DEMO_LINE], server_extra="""
        location = /metrics { px_metrics; }
""")
    yield n
    stop_nginx(stack, n)


def parse_prometheus(text):
    """{(name, labels): value} and {name: type}; every line well formed."""
    samples, types = {}, {}
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            assert typ in ("counter", "gauge", "histogram", "summary", "untyped"), line
            types[name] = typ
            continue
        if line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.eE+]+|NaN|\+Inf)$', line)
        assert m, "not Prometheus text format: %r" % line
        samples[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return samples, types


def test_metrics_prometheus_text(px, metrics_nginx):
    n = metrics_nginx
    r = px.get("/metrics", base=n.url)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain"), r.headers
    before, types = parse_prometheus(r.text)
    assert types.get("px_events_total") == "counter"
    assert types.get("px_request_duration_ms") == "histogram"

    accepted(px.post_batch([px.event(), px.event(), {"event": ""}], base=n.url), 2)
    json_error(px.post_batch([px.event()], key="px_nope", base=n.url), 401)

    def moved():
        s, _ = parse_prometheus(px.get("/metrics", base=n.url).text)
        return s if s.get(("px_events_total", '{result="delivered"}'), 0) \
            - before.get(("px_events_total", '{result="delivered"}'), 0) >= 2 else None
    after = px.wait_until(moved, timeout=5, desc="delivered moving in /metrics")

    def delta(name, labels=""):
        return after.get((name, labels), 0) - before.get((name, labels), 0)
    assert delta("px_events_total", '{result="received"}') == 3
    assert delta("px_events_total", '{result="accepted"}') == 2
    assert delta("px_events_total", '{result="rejected"}') == 1
    assert delta("px_rejected_events_total", '{reason="empty_event_name"}') == 1
    assert delta("px_responses_total", '{code="202"}') == 1
    assert delta("px_responses_total", '{code="401"}') == 1

    buckets = sorted(((float(k[1][5:-2]) if "+Inf" not in k[1] else float("inf")), v)
                     for k, v in after.items() if k[0] == "px_request_duration_ms_bucket")
    assert len(buckets) >= 5, buckets
    assert buckets[-1][0] == float("inf")
    counts = [v for _, v in buckets]
    assert counts == sorted(counts), "histogram buckets not cumulative: %r" % buckets
    assert after[("px_request_duration_ms_count", "")] == buckets[-1][1]
    assert ("px_request_duration_ms_sum", "") in after
    assert delta("px_request_duration_ms_count") >= 1
    # a gauge each worker refreshes from librdkafka's statistics (1 s)
    px.wait_until(lambda: all(parse_prometheus(px.get("/metrics", base=n.url).text)[0]
                              [("px_kafka_brokers_up", "")] >= 1 for _ in range(6)),
                  timeout=10, desc="px_kafka_brokers_up >= 1")


# -- client IP ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def realip_nginx(stack):
    n = start_nginx(stack, "realip", [DEMO_LINE], server_extra="""
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Forwarded-For;
""")
    yield n
    stop_nginx(stack, n)


def test_client_ip_honours_x_forwarded_for_with_realip(px, realip_nginx):
    ev = px.event("xff")
    r = px.post_batch([ev], base=realip_nginx.url,
                      headers={"X-Forwarded-For": "203.0.113.7"})
    accepted(r, 1, [])
    payload = json.loads(wait_in_raw(px, [ev["event_id"]], timeout=5)[ev["event_id"]][0])
    assert payload["ip"] == "203.0.113.7", payload


@pytest.fixture(scope="module")
def plain_nginx(stack):
    n = start_nginx(stack, "norealip", [DEMO_LINE], realip=False)
    yield n
    stop_nginx(stack, n)


def test_client_ip_ignores_x_forwarded_for_without_realip(px, plain_nginx):
    ev = px.event("xff_plain")
    r = px.post_batch([ev], base=plain_nginx.url,
                      headers={"X-Forwarded-For": "203.0.113.9"})
    accepted(r, 1, [])
    payload = json.loads(wait_in_raw(px, [ev["event_id"]], timeout=5)[ev["event_id"]][0])
    assert payload["ip"] == "127.0.0.1", payload


def test_server_fields_cannot_be_spoofed(px):
    ev = px.event("spoof", project_id="proj_other", ip="10.9.9.9", received_at="2000-01-01T00:00:00Z")
    accepted(px.post_batch([ev]), 1, [])
    payload = json.loads(wait_in_raw(px, [ev["event_id"]], timeout=5)[ev["event_id"]][0])
    assert payload["project_id"] == px.project
    assert payload["ip"] == "127.0.0.1"
    assert not payload["received_at"].startswith("2000")
