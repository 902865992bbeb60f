"""ngx_http_px_module: secrets stay out of logs (issue 8, section 5).

- A key in the body's envelope ("api_key", what the SDK's beacons send) is
  a key transport like the headers: accepted plain and gzip'd as
  text/plain, an unknown one refused with the same 401 JSON, and never
  copied into a Kafka message.
- A server's key (a key file line without origins) is refused in the query
  string (403 key_not_allowed_in_query); a key with origins still works
  there, for old clients.
- origin_required in a key file line: no Origin header, no events (403
  origin_required).
- The stack's nginx (tools/pxstack/templates/nginx.conf) logs requests with
  log_format px_masked: no query string, so no key, in the access log.
Real nginx + real Kafka.
"""

import gzip
import json
import os
import time
import uuid

import pytest

from module_helpers import (DEMO_LINE, accepted, assert_no_crash,
                            assert_not_in_raw, json_error, start_nginx,
                            stop_nginx, uid, wait_in_raw)

BATCH = "/api/v1/events/batch"
ALLOWED = "https://shop.example"
OTHER = "https://evil.example"
BEACON = "text/plain;charset=UTF-8"


def body_envelope(events, key=None, first=True):
    """The SDK's envelope: {"api_key":…,"events":[…],"sent_at":…}; first:
    the key before the events (the SDK's order), else after them."""
    sent_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if key is None:
        return json.dumps({"events": events, "sent_at": sent_at})
    if first:
        return json.dumps({"api_key": key, "events": events, "sent_at": sent_at})
    return json.dumps({"events": events, "sent_at": sent_at, "api_key": key})


def beacon(px, base, events, key=None, gz=False, params=None, headers=None,
           first=True, body=None):
    """What navigator.sendBeacon sends: a text/plain POST, no key header, no
    Content-Encoding (gzip is known by its magic bytes)."""
    data = (body if body is not None else body_envelope(events, key, first)).encode()
    if gz:
        data = gzip.compress(data)
    h = {"Content-Type": BEACON}
    h.update(headers or {})
    return px.http.post(base + BATCH, data=data, headers=h, params=params or {},
                        timeout=15)


@pytest.fixture(scope="module")
def keys_nginx(stack):
    run = uuid.uuid4().hex[:10]
    keys = {
        # a server's key: no origins
        "server": ("px_bodykey_secret_" + run, "proj_server_" + run),
        # a browser key: origins listed, so the query string is still allowed
        "web": ("px_webkey_secret_" + run, "proj_web_" + run),
        # origins listed and origin_required
        "strict": ("px_strictkey_secret_" + run, "proj_strict_" + run),
    }
    lines = [DEMO_LINE,
             "%s %s unlimited" % keys["server"],
             "%s %s unlimited %s http://localhost:3000" % (keys["web"] + (ALLOWED,)),
             "%s %s unlimited %s origin_required  # no Origin, no events"
             % (keys["strict"] + (ALLOWED,))]
    n = start_nginx(stack, "keys", lines)
    n.test_keys = keys
    n.key_lines = lines
    yield n
    stop_nginx(stack, n)


# -- the key in the body ------------------------------------------------------------

@pytest.mark.parametrize("gz,first", [(False, True), (True, True), (False, False)],
                         ids=["plain", "gzip", "key_after_events"])
def test_body_key_is_accepted(px, keys_nginx, gz, first):
    key, project = keys_nginx.test_keys["server"]
    events = [px.event("body_key"), px.event("body_key")]
    r = beacon(px, keys_nginx.url, events, key=key, gz=gz, first=first)
    assert "api_key" not in r.request.url
    assert "Authorization" not in r.request.headers
    accepted(r, 2, [])
    found = wait_in_raw(px, [e["event_id"] for e in events], timeout=10)
    for e in events:
        payload = found[e["event_id"]][0]
        assert json.loads(payload)["project_id"] == project
        assert key not in payload


def test_body_key_on_the_stacks_nginx(px):
    """The demo key in the body of a gzip'd beacon, with ?project_id= (what
    the SDK sends)."""
    ev = px.event("body_key_demo")
    r = beacon(px, px.base, [ev], key=px.key, gz=True,
               params={"project_id": px.project})
    accepted(r, 1, [])
    payload = wait_in_raw(px, [ev["event_id"]], timeout=10)[ev["event_id"]][0]
    assert json.loads(payload)["project_id"] == px.project


def test_body_key_is_not_in_any_kafka_message(px, keys_nginx):
    """Neither the accepted events' messages, their Kafka keys, nor the
    dead letter of a rejected event carry the body's key."""
    key, project = keys_nginx.test_keys["server"]
    marker = uid("leak")
    good = px.event("leak_check", anonymous_id=marker)
    bad = px.event("", anonymous_id=marker)          # empty_event_name: DLQ
    r = beacon(px, keys_nginx.url, [good, bad], key=key, gz=True)
    accepted(r, 1, [(1, bad["event_id"], "empty_event_name")])
    wait_in_raw(px, [good["event_id"]], timeout=10)
    px.wait_until(lambda: px.kafka_payloads_with(bad["event_id"], "px.events.dlq"),
                  timeout=20, desc="the rejected event in px.events.dlq")
    for topic in ("px.events.raw", "px.events.dlq"):
        for m in px.kafka_messages(topic):
            assert key not in (m.get("payload") or ""), (topic, m)
            assert key not in (m.get("key") or ""), (topic, m)


def test_unknown_body_key_gets_401(px, keys_nginx):
    marker = uid("badbody")
    ev = px.event("bad_body_key", anonymous_id=marker)
    for gz in (False, True):
        r = beacon(px, keys_nginx.url, [ev], key="px_unknown_" + marker, gz=gz)
        json_error(r, 401, "invalid_api_key")
    # an empty key is no key
    json_error(beacon(px, keys_nginx.url, [ev], key=""), 401, "missing_api_key")
    # a client without a valid key learns nothing about its body
    r = beacon(px, keys_nginx.url, None,
               body='{"api_key":"px_unknown_%s","events":[{"event":"x"}' % marker)
    json_error(r, 401, "invalid_api_key")
    r = beacon(px, keys_nginx.url, None, body='{"events":[{"event":"x"}],,')
    json_error(r, 401, "missing_api_key")
    assert_not_in_raw(px, [marker, ev["event_id"]], anon=marker)
    assert marker not in keys_nginx.error_log()


def test_body_key_is_checked_like_a_header_key(px, keys_nginx):
    """Project and origin rules apply to a body key too; a header key wins
    over a body key."""
    key, project = keys_nginx.test_keys["web"]
    ev = px.event("body_rules")
    json_error(beacon(px, keys_nginx.url, [ev], key=key,
                      params={"project_id": "proj_someone_else"}),
               403, "project_mismatch")
    json_error(beacon(px, keys_nginx.url, [ev], key=key, headers={"Origin": OTHER}),
               403, "origin_not_allowed")
    accepted(beacon(px, keys_nginx.url, [ev], key=key, headers={"Origin": ALLOWED}),
             1, [])
    other_key, other_project = keys_nginx.test_keys["server"]
    ev2 = px.event("header_wins")
    r = beacon(px, keys_nginx.url, [ev2], key="px_unknown_" + uid(),
               headers={"Authorization": "Bearer " + other_key})
    accepted(r, 1, [])
    payload = wait_in_raw(px, [ev2["event_id"]], timeout=10)[ev2["event_id"]][0]
    assert json.loads(payload)["project_id"] == other_project


# -- keys in the query string ---------------------------------------------------------

def test_server_key_in_query_is_refused(px, keys_nginx):
    key, project = keys_nginx.test_keys["server"]
    marker = uid("query")
    ev = px.event("server_key_in_query", anonymous_id=marker)
    r = px.post_batch([ev], key=key, project=project, auth="query",
                      base=keys_nginx.url, content_type=BEACON)
    assert "api_key=" in r.request.url
    json_error(r, 403, "key_not_allowed_in_query")
    # the demo key of the stack is a server's key as well
    r = px.post_batch([ev], auth="query", content_type=BEACON)
    json_error(r, 403, "key_not_allowed_in_query")
    assert_not_in_raw(px, [marker, ev["event_id"]], anon=marker)
    # the id of the key is logged, never the key (the request line, with the
    # query string, is nginx's own part of the line: docs/nginx-module.md)
    refused = [l for l in keys_nginx.error_log().splitlines()
               if "refused in the query string" in l]
    assert refused, keys_nginx.error_log()[-2000:]
    assert all(key not in l.split(", client:")[0] for l in refused), refused

    # a key with origins (a browser's) still works there, for old clients
    key, project = keys_nginx.test_keys["web"]
    ev = px.event("web_key_in_query")
    r = px.post_batch([ev], key=key, project=project, auth="query",
                      base=keys_nginx.url, content_type=BEACON,
                      headers={"Origin": ALLOWED})
    accepted(r, 1, [])
    wait_in_raw(px, [ev["event_id"]], timeout=10)


# -- origin_required ------------------------------------------------------------------

@pytest.mark.parametrize("auth", ["bearer", "body", "query"])
def test_origin_required_key(px, keys_nginx, auth):
    key, project = keys_nginx.test_keys["strict"]
    marker = uid("strict")
    ev = px.event("strict", anonymous_id=marker)

    def send(headers=None, event=ev):
        if auth == "body":
            return beacon(px, keys_nginx.url, [event], key=key, headers=headers)
        return px.post_batch([event], key=key, project=project, auth=auth,
                             base=keys_nginx.url, headers=headers)

    json_error(send(), 403, "origin_required")
    json_error(send({"Origin": OTHER}), 403, "origin_not_allowed")
    assert_not_in_raw(px, [marker, ev["event_id"]], anon=marker)

    ok = px.event("strict_ok")
    accepted(send({"Origin": ALLOWED}, ok), 1, [])
    payload = wait_in_raw(px, [ok["event_id"]], timeout=10)[ok["event_id"]][0]
    assert json.loads(payload)["project_id"] == project


def test_origin_required_without_origins_is_refused_by_nginx_t(px, keys_nginx):
    n = keys_nginx
    n.set_keys(n.key_lines + ["px_lonely_%s proj_lonely unlimited origin_required"
                              % uuid.uuid4().hex])
    old = set(n.worker_pids())
    try:
        with pytest.raises(Exception) as e:
            n.reload()
        msg = str(e.value)
        assert "origin_required needs at least one origin" in msg, msg
        assert "invalid line" in msg and "key file" in msg, msg
    finally:
        n.set_keys(n.key_lines)
    assert set(n.worker_pids()) == old
    key, project = n.test_keys["strict"]
    accepted(px.post_batch([px.event()], key=key, project=project, base=n.url,
                           headers={"Origin": ALLOWED}), 1, [])
    assert_no_crash(n)


# -- the access log -------------------------------------------------------------------

def test_access_log_of_the_stacks_nginx_has_no_query_key(px, stack):
    """The stack's nginx (tools/pxstack/templates/nginx.conf) logs
    log_format px_masked: $uri, not $request."""
    path = os.path.join(stack.logs_dir, stack.nginx.name + "-access.log")
    secret = "px_secret_query_" + uuid.uuid4().hex
    marker = uid("alog")
    r = px.post_batch([px.event("alog")], key=secret, auth="query",
                      params={"marker": marker}, content_type=BEACON)
    json_error(r, 401, "invalid_api_key")
    r = px.post_batch([px.event("alog")], auth="query", content_type=BEACON,
                      params={"marker": marker})
    json_error(r, 403, "key_not_allowed_in_query")

    def logged():
        with open(path, errors="replace") as f:
            lines = [l for l in f if BATCH in l]
        return lines if len([l for l in lines if '" 401 ' in l]) else None

    lines = px.wait_until(logged, timeout=10, desc="the request in %s" % path)
    with open(path, errors="replace") as f:
        text = f.read()
    assert secret not in text and px.key not in text and marker not in text
    assert "api_key" not in text
    assert any(('"POST %s HTTP/1.1" 401 ' % BATCH) in l for l in lines), lines[-5:]
