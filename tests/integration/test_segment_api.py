"""The Segment API (px_segment) on raw HTTP: what each call maps to, the
auth forms (Basic, writeKey, a browser key's origin), and the battery of
bad inputs, each answered in Segment's error shape
{"success":false,"code":…,"message":…} with the batch API's codes, or, for
a bad call inside a good batch, 200 with the call rejected, counted and
dead-lettered."""

import gzip
import json
import time
import uuid

import pytest
import requests

from module_helpers import DEMO_LINE, in_topic, start_nginx, stop_nginx, wait_in_raw
from pxstack import DEMO_KEY, DEMO_PROJECT
from segment_helpers import basic, post_segment, segment_error, segment_ok

BROWSER_KEY = "px_live_segbrowser0000001"
TINY_KEY = "px_live_segtiny000000001"
KEYS = [DEMO_LINE,
        "%s %s enterprise https://shop.example" % (BROWSER_KEY, DEMO_PROJECT),
        "%s %s tiny" % (TINY_KEY, DEMO_PROJECT)]


@pytest.fixture(scope="module")
def seg(stack):
    """Small Segment limits, a tiny tier, and a location that takes any
    path (/seg/...) so that unknown calls reach the handler."""
    n = start_nginx(stack, "segapi", KEYS,
                    http_extra="    px_limit_zone name=segq:1m;\n"
                               "    px_tier enterprise unlimited;\n"
                               "    px_tier tiny 4/h;",
                    server_extra="px_limit segq;\n"
                                 "        px_segment_max_event_size 2k;\n"
                                 "        px_segment_max_batch_size 8k;\n"
                                 "        location /seg/ { px_segment; }")
    yield n
    stop_nginx(stack, n)


def call(user, **kw):
    c = {"type": "track", "event": "seg_api", "userId": user,
         "messageId": str(uuid.uuid4()),
         "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    c.update(kw)
    return c


def batch(*calls):
    return {"batch": list(calls),
            "sentAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def counters(px, n):
    return px.get("/api/v1/events/queue/status", base=n.url).json()["counters"]


def payloads(px, ids):
    return {i: json.loads(p[0]) for i, p in wait_in_raw(px, ids).items()}


# -- what goes through ---------------------------------------------------------

def test_single_calls_with_write_key_in_body(px, seg):
    user = "segsingle_" + uuid.uuid4().hex[:8]
    ids = []
    for name, body in [("track", call(user)),
                       ("page", call(user, type=None, name="Home")),
                       ("screen", call(user, type=None, name="Main")),
                       ("identify", call(user, traits={"a": 1})),
                       ("group", call(user, groupId="g")),
                       ("alias", call(user, previousId="old"))]:
        ids.append(body["messageId"])
        segment_ok(post_segment(seg.url, name, body, auth="body"), 1, [])
    got = payloads(px, ids)
    assert [got[i]["event"] for i in ids] == [
        "seg_api", "page_view", "screen_view", "identify", "group", "alias"]
    assert got[ids[1]]["properties"] == {"name": "Home"}


def test_basic_auth_gzip_and_context(px, seg):
    user = "seggz_" + uuid.uuid4().hex[:8]
    c = call(user, context={"ip": "81.2.69.142", "userAgent": "UA-seg",
                            "page": {"url": "https://x.example/p"}})
    segment_ok(post_segment(seg.url, "batch", batch(c), gzip=True), 1, [])
    msg = payloads(px, [c["messageId"]])[c["messageId"]]
    assert msg["ip"] == "81.2.69.142" and msg["user_agent"] == "UA-seg", msg
    assert msg["context"]["page"]["url"] == "https://x.example/p", msg
    assert "ip" not in msg["context"] and "userAgent" not in msg["context"], msg
    assert msg["user_id"] == user and msg["event_id"] == c["messageId"], msg


def test_browser_key_context_ip_is_not_used(px, seg):
    c = call("segbrowser_" + uuid.uuid4().hex[:8], context={"ip": "81.2.69.142"})
    r = post_segment(seg.url, "batch", batch(c), key=BROWSER_KEY,
                     headers={"Origin": "https://shop.example"})
    segment_ok(r, 1, [])
    msg = payloads(px, [c["messageId"]])[c["messageId"]]
    assert msg["ip"] == "127.0.0.1", msg


def test_bad_calls_rejected_counted_and_dead_lettered(px, seg):
    user = "segbad_" + uuid.uuid4().hex[:8]
    good = call(user)
    nameless = call(user)
    del nameless["event"]
    bad = [call(user, type="bogus"), call(user, userId=None),
           nameless, call(user, timestamp="yesterday"),
           call(user, properties={"big": "x" * 2100})]
    before = counters(px, seg)
    r = post_segment(seg.url, "batch", batch(good, *bad))
    segment_ok(r, 1, [(1, "invalid_type"), (2, "missing_user_id"),
                      (3, "missing_event_name"), (4, "invalid_timestamp"),
                      (5, "event_too_large")])
    after = counters(px, seg)
    assert after["rejected"] - before["rejected"] == 5, (before, after)
    ids = [b["messageId"] for b in bad[:4]]
    found = px.wait_until(lambda: (lambda f: f if all(f.values()) else None)(
        in_topic(px, ids, "px.events.dlq")), timeout=20, desc="dead letters")
    reasons = {i: json.loads(found[i][0])["reason"] for i in ids}
    assert reasons == dict(zip(ids, ["invalid_type", "missing_user_id",
                                     "missing_event_name", "invalid_timestamp"]))


# -- the battery: each bad request, its answer ----------------------------------

BAD = [
    ("invalid_json", "batch", b'{"batch":[', 400),
    ("invalid_json_utf8", "batch", b'{"batch":[{"event":"\xff"}]}', 400),
    ("invalid_envelope_array", "batch", b'[]', 400),
    ("invalid_envelope_no_batch", "batch", b'{"events":[]}', 400),
    ("invalid_envelope_single_not_object", "track", b'"x"', 400),
    ("empty_batch", "batch", b'{"batch":[]}', 400),
    ("too_deep", "track", b'{"properties":' + b'[' * 40 + b']' * 40 + b'}', 400),
]


@pytest.mark.parametrize("code,name,body,status", BAD, ids=[b[0] for b in BAD])
def test_bad_body(seg, code, name, body, status):
    segment_error(post_segment(seg.url, name, body), status,
                  code.split("_utf8")[0].split("_array")[0].split("_no_")[0]
                  .split("_single")[0])


def test_empty_body(seg):
    segment_error(post_segment(seg.url, "batch", b""), 400, "empty_body")


def test_no_key(seg):
    segment_error(post_segment(seg.url, "batch", batch(call("u")), auth=None),
                  401, "missing_api_key")


def test_unknown_keys(seg):
    segment_error(post_segment(seg.url, "batch", batch(call("u")), key="px_nope"),
                  401, "invalid_api_key")
    segment_error(post_segment(seg.url, "batch", batch(call("u")), key="px_nope",
                               auth="body"), 401, "invalid_api_key")
    segment_error(requests.post(seg.url + "/v1/batch", data=json.dumps(batch(call("u"))),
                                headers={"Authorization": "Basic !!!not-base64",
                                         "Content-Type": "application/json"}),
                  401, "invalid_api_key")


def test_invalid_json_without_key_is_401(seg):
    # as for the batch API: without a valid key, nothing about the body
    segment_error(post_segment(seg.url, "batch", b'{"batch":[', auth=None),
                  401, "missing_api_key")


def test_project_and_origin(seg):
    segment_error(post_segment(seg.url, "batch", batch(call("u")),
                               headers={"X-PX-Project-ID": "other"}),
                  403, "project_mismatch")
    segment_error(post_segment(seg.url, "batch", batch(call("u")), key=BROWSER_KEY,
                               headers={"Origin": "https://evil.example"}),
                  403, "origin_not_allowed")


def test_method_type_encoding(seg):
    r = requests.get(seg.url + "/v1/batch", headers={"Authorization": basic(DEMO_KEY)})
    segment_error(r, 405, "method_not_allowed")
    segment_error(post_segment(seg.url, "batch", batch(call("u")),
                               content_type="text/xml"), 415, "unsupported_media_type")
    segment_error(post_segment(seg.url, "batch", json.dumps(batch(call("u"))),
                               headers={"Content-Encoding": "gzip"}),
                  400, "content_encoding_mismatch")
    segment_error(post_segment(seg.url, "batch", b"\x1f\x8b\x08\x00broken"),
                  400, "invalid_gzip")


def test_unknown_call(seg):
    segment_error(post_segment(seg.url.replace("/v1", "") + "/seg", "bogus",
                               batch(call("u"))), 404, "not_found")


def test_segment_batch_size_limit(seg):
    big = batch(*[call("u", properties={"p": "x" * 1500}) for _ in range(6)])
    segment_error(post_segment(seg.url, "batch", big), 413, "body_too_large")
    segment_error(post_segment(seg.url, "batch", big, gzip=True), 413,
                  "inflated_body_too_large")


def test_quota_429_with_retry_after(seg):
    user = "segtiny_" + uuid.uuid4().hex[:8]
    segment_ok(post_segment(seg.url, "batch", batch(*[call(user) for _ in range(4)]),
                            key=TINY_KEY), 4)
    r = post_segment(seg.url, "batch", batch(call(user)), key=TINY_KEY)
    segment_error(r, 429, "rate_limited")
    assert r.headers.get("Retry-After", "").isdigit(), r.headers


def test_kafka_down_503(px, stack):
    from pxstack.base import free_port
    n = start_nginx(stack, "segnokafka", [DEMO_LINE],
                    kafka="127.0.0.1:%d" % free_port(), server_extra="px_ack_timeout 1s;")
    try:
        r = post_segment(n.url, "batch", batch(call("u")))
        segment_error(r, 503, "kafka_unavailable")
        assert r.headers.get("Retry-After", "").isdigit(), r.headers
    finally:
        stop_nginx(stack, n)
