"""ngx_http_px_module: every bad input gets its status and JSON error, and
nothing of a refused request reaches px.events.raw; invalid events beside
good ones are listed in the 202 body (and dead-lettered), the good ones are
accepted. Real nginx + real Kafka (the session stack)."""

import gzip
import json
import os
import time
import uuid
import zlib

import pytest
import requests

from module_helpers import (DEMO_LINE, accepted, assert_no_crash,
                            assert_not_in_raw, envelope, in_topic,
                            json_error, raw_http, start_nginx, stop_nginx,
                            uid, wait_in_raw)

BATCH = "/api/v1/events/batch"


def _bad(px, marker, **fields):
    """An event carrying marker in its first member (copied to the output,
    so a message made of it would contain the marker)."""
    ev = {"marker": marker}
    ev.update(px.event("bad_input", anonymous_id=marker))
    ev.update(fields)
    return ev


# -- envelope errors: 400, nothing produced -----------------------------------

def _envelope_cases():
    m = "MARKER"
    ev = '{"event":"x","event_id":"%s","anonymous_id":"' + m + '"}'
    return [
        ("non_json", b"this is not JSON " + m.encode(), "invalid_json"),
        ("non_json_binary", b"\x00\x01\x02garbage " + m.encode(), "invalid_json"),
        ("truncated_json",
         ('{"events":[' + ev + ',{"event":"y","anonymous_id":"' + m).encode(),
         "invalid_json"),
        ("truncated_after_array", ('{"events":[' + ev + ']').encode(), "invalid_json"),
        ("trailing_garbage", ('{"events":[' + ev + ']} xyz').encode(), "invalid_json"),
        ("top_level_array", ('[' + ev + ']').encode(), "invalid_envelope"),
        ("top_level_string", ('"' + m + '"').encode(), "invalid_envelope"),
        ("top_level_number", b"42", "invalid_envelope"),
        ("top_level_null", b"null", "invalid_envelope"),
        ("events_missing", ('{"batch":[' + ev + ']}').encode(), "invalid_envelope"),
        ("events_object", ('{"events":' + ev + '}').encode(), "invalid_envelope"),
        ("events_string", ('{"events":"' + m + '"}').encode(), "invalid_envelope"),
        ("events_number", b'{"events":5}', "invalid_envelope"),
        ("events_null", b'{"events":null}', "invalid_envelope"),
        ("events_twice",
         ('{"events":[' + ev + '],"events":[' + ev + ']}').encode(),
         "invalid_envelope"),
        ("empty_array", b'{"events":[],"sent_at":"2024-01-01T00:00:00Z"}',
         "empty_batch"),
    ]


@pytest.mark.parametrize("body,code", [c[1:] for c in _envelope_cases()],
                         ids=[c[0] for c in _envelope_cases()])
def test_bad_envelope_gets_400_and_produces_nothing(px, body, code):
    marker = uid("env")
    eid = str(uuid.uuid4())
    body = body.replace(b"MARKER", marker.encode())
    if b"%s" in body:
        body = body.replace(b"%s", eid.encode())
    r = px.post_batch(body=body)
    json_error(r, 400, code)
    assert_not_in_raw(px, [marker, eid], anon=marker)


def test_invalid_utf8_gets_400_and_produces_nothing(px):
    marker = uid("utf8")
    good = px.event("good_beside_bad_utf8", anonymous_id=marker)
    bad = px.event("bad_utf8", anonymous_id=marker)
    body = envelope([good, bad]).encode()
    # a lone continuation byte, an overlong "/" and a truncated sequence
    body = body.replace(b'"bad_utf8"', b'"bad\x80\xc0\xaf\xe2\x82_utf8"')
    r = px.post_batch(body=body)
    json_error(r, 400, "invalid_json")
    assert_not_in_raw(px, [good["event_id"], bad["event_id"]], anon=marker)


def test_invalid_utf8_in_a_key_gets_400(px):
    marker = uid("utf8k")
    ev = px.event("bad_utf8_key", anonymous_id=marker)
    body = envelope([ev]).encode().replace(b'"properties"', b'"prop\xff"')
    r = px.post_batch(body=body)
    json_error(r, 400, "invalid_json")
    assert_not_in_raw(px, [ev["event_id"]], anon=marker)


def test_max_events_exactly_is_accepted(px):
    anon = uid("anon500")
    events = [px.event("bulk", anonymous_id=anon) for _ in range(500)]
    r = px.post_batch(events)
    accepted(r, 500, [])


def test_too_many_events_gets_413_and_produces_nothing(px):
    anon = uid("anon501")
    events = [px.event("bulk", anonymous_id=anon) for _ in range(501)]
    r = px.post_batch(events)
    json_error(r, 413, "too_many_events")
    assert_not_in_raw(px, [events[0]["event_id"], events[-1]["event_id"]], anon=anon)


@pytest.mark.parametrize("where", ["properties", "envelope_member", "event_name"])
def test_10000_deep_nesting_gets_400_too_deep(px, where):
    marker = uid("deep")
    eid = str(uuid.uuid4())
    depth = 10000
    if where == "properties":
        body = ('{"events":[{"event":"deep","event_id":"%s","anonymous_id":"%s",'
                '"properties":%s%s}]}' % (eid, marker, "[" * depth, "]" * depth))
    elif where == "envelope_member":
        body = ('{"events":[{"event":"deep","event_id":"%s","anonymous_id":"%s"}],'
                '"extra":%s1%s}' % (eid, marker, '{"a":' * depth, "}" * depth))
    else:
        body = ('{"events":[{"event_id":"%s","anonymous_id":"%s","event":%s}]}'
                % (eid, marker, '{"a":' * depth + "1" + "}" * depth))
    # refused while streaming, at depth px_max_depth: no tree is built
    # (how fast is bench material, not a test's)
    r = px.post_batch(body=body)
    json_error(r, 400, "too_deep")
    assert_not_in_raw(px, [marker, eid], anon=marker)


# -- one invalid event beside a good one: 202, rejected listed ------------------

def _reject_cases():
    L = "x"
    return [
        # id, extra fields (or a callable(marker, eid) -> raw event JSON), reason, event_id echoed
        ("missing_event_name", {"event": None}, "missing_event_name", True),
        ("empty_event_name", {"event": ""}, "empty_event_name", True),
        ("event_name_201_chars", {"event": "n" * 201}, "event_name_too_long", True),
        ("event_name_nul", {"event": "sign\u0000up"}, "event_name_control_chars", True),
        ("event_name_newline", {"event": "a\nb"}, "event_name_control_chars", True),
        ("event_name_number", {"event": 42}, "event_name_not_string", True),
        ("event_name_object", {"event": {"a": 1}}, "event_name_not_string", True),
        ("event_name_array", {"event": ["a"]}, "event_name_not_string", True),
        ("event_name_null", {"event": None, "__null_name": True}, "event_name_not_string", True),
        ("event_name_bool", {"event": True}, "event_name_not_string", True),
        ("event_id_not_uuid", {"event_id": "not-a-uuid"}, "invalid_event_id", False),
        ("event_id_number", {"event_id": 12345}, "invalid_event_id", False),
        ("event_id_object", {"event_id": {"a": 1}}, "invalid_event_id", False),
        ("event_id_empty", {"event_id": ""}, "invalid_event_id", False),
        ("timestamp_words", {"timestamp": "yesterday"}, "invalid_timestamp", True),
        ("timestamp_number", {"timestamp": 1700000000}, "invalid_timestamp", True),
        ("timestamp_bad_date", {"timestamp": "2024-13-45T25:61:61Z"}, "invalid_timestamp", True),
        ("properties_string", {"properties": "x"}, "properties_not_object", True),
        ("properties_array", {"properties": [1, 2]}, "properties_not_object", True),
        ("properties_number", {"properties": 3}, "properties_not_object", True),
        ("context_number", {"context": 5}, "context_not_object", True),
        ("context_array", {"context": ["a"]}, "context_not_object", True),
        ("anonymous_id_number", {"anonymous_id": 7}, "anonymous_id_not_string", True),
        ("user_id_object", {"user_id": {"id": 1}}, "user_id_not_string", True),
        ("anonymous_id_201_chars", {"anonymous_id": "a" * 201}, "id_too_long", True),
        ("string_8193_bytes", {"properties": {"big": L * 8193}}, "string_too_long", True),
        ("key_8193_bytes", {"properties": {L * 8193: 1}}, "string_too_long", True),
        ("too_many_keys", {"properties": {"k%d" % i: i for i in range(257)}},
         "too_many_keys", True),
        ("event_too_large", {"properties": {"s%d" % i: L * 8000 for i in range(5)}},
         "event_too_large", True),
        ("duplicate_member", "dup", "duplicate_member", True),
        ("duplicate_event_id", "dup_id", "duplicate_member", "any"),
        ("event_is_string", "string", "event_not_object", False),
        ("event_is_array", "array", "event_not_object", False),
        ("event_is_null", "null", "event_not_object", False),
    ]


def _raw_bad_event(kind, marker, eid):
    if kind == "dup":
        return ('{"marker":"%s","event":"a","event_id":"%s","anonymous_id":"%s",'
                '"event":"b"}' % (marker, eid, marker))
    if kind == "dup_id":
        return ('{"marker":"%s","event":"a","event_id":"%s","anonymous_id":"%s",'
                '"event_id":"%s"}' % (marker, eid, marker, uuid.uuid4()))
    if kind == "string":
        return json.dumps("event_" + marker)
    if kind == "array":
        return json.dumps([marker, {"event": "x"}])
    return "null"


@pytest.mark.parametrize("fields,reason,echo", [c[1:] for c in _reject_cases()],
                         ids=[c[0] for c in _reject_cases()])
def test_invalid_event_is_rejected_and_good_one_accepted(px, fields, reason, echo):
    marker = uid("rej")
    good = px.event("good_beside_bad", anonymous_id=uid("good"))
    eid = str(uuid.uuid4())
    if isinstance(fields, str):
        bad_json = _raw_bad_event(fields, marker, eid)
    else:
        bad = _bad(px, marker, event_id=eid)
        if fields.get("__null_name"):
            bad["event"] = None
        elif "event" in fields and fields["event"] is None:
            del bad["event"]
        for k, v in fields.items():
            if k.startswith("__") or (k == "event" and v is None):
                continue
            bad[k] = v
        bad_json = json.dumps(bad)
    good2 = px.event("good_after_bad", anonymous_id=uid("good"))
    body = '{"events":[%s,%s,%s],"sent_at":"%s"}' % (
        json.dumps(good), bad_json, json.dumps(good2),
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    r = px.post_batch(body=body)
    if echo == "any":  # which of two event_ids is echoed is not specified
        b = accepted(r, 2)
        assert [(x["index"], x["error"]) for x in b["rejected"]] == [(1, reason)], b
    else:
        accepted(r, 2, [(1, eid if echo else None, reason)])

    # 202 means the broker has the good ones
    found = in_topic(px, [good["event_id"], good2["event_id"], marker, eid])
    assert len(found[good["event_id"]]) == 1, found
    assert len(found[good2["event_id"]]) == 1, found
    assert found[marker] == [] and found[eid] == [], \
        "the rejected event reached px.events.raw: %r" % found

    # ... and the rejected one is dead-lettered with its reason
    if isinstance(fields, str) and fields in ("string", "array", "null"):
        return  # no member of it is copied: nothing to find it by

    def dlq():
        for p in in_topic(px, [marker], "px.events.dlq")[marker]:
            d = json.loads(p)
            if d.get("reason") == reason:
                return d
        return None
    d = px.wait_until(dlq, timeout=15, desc="the rejected event in px.events.dlq")
    assert d["source"] == "ingest", d


def test_200_char_event_name_is_accepted(px):
    ev = px.event("n" * 200)
    accepted(px.post_batch([ev]), 1, [])


def test_900kb_string_rejects_the_event_not_the_batch(px):
    marker = uid("big")
    good = px.event("good_beside_big", anonymous_id=uid("good"))
    bad = _bad(px, marker, properties={"blob": "b" * (900 * 1024)})
    r = px.post_batch([good, bad])
    assert len(r.request.body) > 900 * 1024
    accepted(r, 1, [(1, bad["event_id"], "string_too_long")])
    found = in_topic(px, [good["event_id"], bad["event_id"], marker])
    assert len(found[good["event_id"]]) == 1
    assert found[bad["event_id"]] == [] and found[marker] == [], found


def test_3mb_body_gets_413_by_content_length(px):
    marker = uid("huge")
    ev = _bad(px, marker, properties={"blob": "h" * (3 * 1024 * 1024)})
    r = px.post_batch([ev])
    json_error(r, 413, "body_too_large")
    assert_not_in_raw(px, [marker, ev["event_id"]], anon=marker)


def test_3mb_chunked_body_gets_413_json(px):
    """No Content-Length: the limit is found while reading; the answer is
    still the module's JSON error (nginx's own client_max_body_size, 1m by
    default, must not answer first with an HTML page)."""
    marker = uid("hugechunk")
    ev = _bad(px, marker, properties={"blob": "h" * (3 * 1024 * 1024)})
    data = envelope([ev]).encode()

    def gen():
        for i in range(0, len(data), 65536):
            yield data[i:i + 65536]
    r = requests.post(px.base + BATCH, data=gen(), timeout=30, headers={
            "Authorization": "Bearer " + px.key,
            "Content-Type": "application/json"})
    json_error(r, 413, "body_too_large")
    assert_not_in_raw(px, [marker, ev["event_id"]], anon=marker)


def test_chunked_body_is_accepted(px):
    events = [px.event("chunked_%d" % i) for i in range(3)]
    data = envelope(events).encode()

    def gen():
        for i in range(0, len(data), 100):
            yield data[i:i + 100]
    r = requests.post(px.base + BATCH, data=gen(), timeout=15, headers={
        "Authorization": "Bearer " + px.key, "Content-Type": "application/json"})
    assert r.request.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in r.request.headers
    accepted(r, 3, [])
    wait_in_raw(px, [e["event_id"] for e in events], timeout=5)


def test_chunked_gzip_body_is_accepted(px):
    events = [px.event("chunked_gz_%d" % i) for i in range(3)]
    data = gzip.compress(envelope(events).encode())

    def gen():
        for i in range(0, len(data), 50):
            yield data[i:i + 50]
    r = requests.post(px.base + BATCH, data=gen(), timeout=15, headers={
        "Authorization": "Bearer " + px.key, "Content-Type": "application/json",
        "Content-Encoding": "gzip"})
    accepted(r, 3, [])
    wait_in_raw(px, [e["event_id"] for e in events], timeout=5)


def test_empty_body_gets_400(px):
    r = px.post_batch(body=b"")
    assert r.request.headers.get("Content-Length") == "0"
    json_error(r, 400, "empty_body")


def test_empty_gzip_body_gets_400(px):
    r = px.post_batch(body=b"", headers={"Content-Encoding": "gzip"})
    json_error(r, 400, "empty_body")


# -- gzip ---------------------------------------------------------------------------

def test_gzip_batch_is_accepted(px):
    events = [px.event("gz_ok_%d" % i) for i in range(3)]
    accepted(px.post_batch(events, gzip=True), 3, [])
    wait_in_raw(px, [e["event_id"] for e in events], timeout=5)


def test_gzip_body_without_content_encoding_is_inflated(px):
    """The magic bytes decide, not only the header."""
    events = [px.event("gz_magic")]
    body = gzip.compress(envelope(events).encode())
    accepted(px.post_batch(body=body), 1, [])


@pytest.mark.parametrize("kind", ["garbage_after_magic", "truncated", "bad_crc",
                                  "trailing_garbage"])
def test_corrupt_gzip_gets_400(px, kind):
    marker = uid("gzbad")
    ev = px.event("gz_bad", anonymous_id=marker)
    good = gzip.compress(envelope([ev]).encode())
    if kind == "garbage_after_magic":
        body = b"\x1f\x8b\x08\x00" + os.urandom(200)
    elif kind == "truncated":
        body = good[:len(good) // 2]
    elif kind == "bad_crc":
        body = good[:-8] + bytes([good[-8] ^ 0xff]) + good[-7:]
    else:
        body = good + b"not gzip at all"
    r = px.post_batch(body=body, headers={"Content-Encoding": "gzip"})
    json_error(r, 400, "invalid_gzip")
    assert_not_in_raw(px, [marker, ev["event_id"]], anon=marker)


def _whitespace_gzip(events, spaces):
    """A valid batch padded with whitespace inside the JSON, gzip'd hard:
    a few KB that inflate to `spaces` bytes."""
    head = b'{"events":['
    tail = envelope(events).encode()[len('{"events":['):]
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out = [c.compress(head)]
    chunk = b" " * (1 << 20)
    left = spaces
    while left > 0:
        out.append(c.compress(chunk[:min(left, len(chunk))]))
        left -= len(chunk)
    out.append(c.compress(tail))
    out.append(c.flush())
    return b"".join(out)


def test_gzip_bomb_gets_413_quickly(px):
    marker = uid("bomb")
    ev = px.event("bomb", anonymous_id=marker)
    body = _whitespace_gzip([ev], 64 * 1024 * 1024)  # 64 MB of JSON whitespace
    assert len(body) < 128 * 1024, len(body)
    # inflating stops at px_max_inflated_size (10m), not after 64 MB: the
    # output cap itself is unit-tested (tests/unit/test_inflate.c)
    r = px.post_batch(body=body, headers={"Content-Encoding": "gzip"})
    json_error(r, 413, "inflated_body_too_large")
    assert_not_in_raw(px, [marker, ev["event_id"]], anon=marker)


def test_gzip_bomb_just_over_the_cap_gets_413(px):
    marker = uid("bomb11")
    ev = px.event("bomb", anonymous_id=marker)
    body = _whitespace_gzip([ev], 11 * 1024 * 1024)
    assert len(body) < 32 * 1024
    json_error(px.post_batch(body=body, headers={"Content-Encoding": "gzip"}),
               413, "inflated_body_too_large")
    assert_not_in_raw(px, [marker, ev["event_id"]], anon=marker)


def test_gzip_over_the_inflate_ratio_gets_413(px):
    """px_max_inflate_ratio (default 100): a body that inflates 1000x is
    refused even though it stays under px_max_inflated_size."""
    marker = uid("ratio")
    ev = px.event("ratio", anonymous_id=marker)
    body = _whitespace_gzip([ev], 4 * 1024 * 1024)  # ~4 KB -> 4 MB: > 100x
    ratio = (4 * 1024 * 1024) / len(body)
    assert ratio > 500, ratio
    r = px.post_batch(body=body, headers={"Content-Encoding": "gzip"})
    json_error(r, 413, "inflated_body_too_large")
    assert_not_in_raw(px, [marker, ev["event_id"]], anon=marker)


def test_content_encoding_gzip_on_a_plain_body_gets_400(px):
    marker = uid("lie")
    ev = px.event("lie", anonymous_id=marker)
    r = px.post_batch([ev], headers={"Content-Encoding": "gzip"})
    json_error(r, 400, "content_encoding_mismatch")
    assert_not_in_raw(px, [marker, ev["event_id"]], anon=marker)


@pytest.mark.parametrize("enc", ["br", "deflate", "compress", "zstd", "gzip, br"])
def test_unknown_content_encoding_gets_415(px, enc):
    marker = uid("enc")
    ev = px.event("enc", anonymous_id=marker)
    r = px.post_batch([ev], headers={"Content-Encoding": enc})
    json_error(r, 415, "unsupported_encoding")
    assert_not_in_raw(px, [marker, ev["event_id"]], anon=marker)


@pytest.mark.parametrize("ctype", ["application/x-www-form-urlencoded",
                                   "multipart/form-data; boundary=x",
                                   "text/html", "application/xml",
                                   "application/jsonx", "text/plain2"])
def test_unsupported_content_type_gets_415(px, ctype):
    marker = uid("ctype")
    ev = px.event("ctype", anonymous_id=marker)
    r = px.post_batch([ev], content_type=ctype)
    json_error(r, 415, "unsupported_media_type")
    assert_not_in_raw(px, [marker, ev["event_id"]], anon=marker)


@pytest.mark.parametrize("ctype", ["text/plain", "text/plain;charset=UTF-8",
                                   "application/json; charset=utf-8",
                                   "Application/JSON"])
def test_json_and_text_plain_are_accepted(px, ctype):
    ev = px.event("ctype_ok")
    accepted(px.post_batch([ev], content_type=ctype), 1, [])
    wait_in_raw(px, [ev["event_id"]], timeout=5)


# -- keys ---------------------------------------------------------------------------

@pytest.mark.parametrize("auth", ["bearer", "header", "query"])
def test_missing_key_gets_401(px, auth):
    marker = uid("nokey")
    ev = px.event("nokey", anonymous_id=marker)
    r = px.post_batch([ev], key="", auth=auth)
    json_error(r, 401, "missing_api_key")
    assert_not_in_raw(px, [marker, ev["event_id"]], anon=marker)


@pytest.mark.parametrize("headers", [{"Authorization": "Bearer "},
                                     {"Authorization": "Basic dXNlcjpwYXNz"}],
                         ids=["empty_bearer", "basic_auth"])
def test_unusable_authorization_gets_401_missing(px, headers):
    r = px.post_batch([px.event()], key="", headers=headers)
    json_error(r, 401, "missing_api_key")


@pytest.mark.parametrize("auth", ["bearer", "header", "query"])
def test_unknown_key_gets_401(px, auth):
    marker = uid("badkey")
    ev = px.event("badkey", anonymous_id=marker)
    r = px.post_batch([ev], key="px_unknown_" + marker, auth=auth)
    json_error(r, 401, "invalid_api_key")
    assert_not_in_raw(px, [marker, ev["event_id"]], anon=marker)


def test_unknown_key_is_not_logged(px, stack):
    key = "px_secret_" + uuid.uuid4().hex
    json_error(px.post_batch([px.event()], key=key), 401, "invalid_api_key")
    logs = ""
    for f in os.listdir(stack.logs_dir):
        if f.startswith("nginx"):
            with open(os.path.join(stack.logs_dir, f), errors="replace") as fh:
                logs += fh.read()
    assert key not in logs


@pytest.mark.parametrize("where", ["header", "query"])
def test_key_for_another_project_gets_403(px, where):
    marker = uid("proj")
    ev = px.event("proj", anonymous_id=marker)
    if where == "query":
        # ?project_id= beside a header key (the demo key, a server's key,
        # may not be in the query string itself)
        r = px.post_batch([ev], project="",
                          params={"project_id": "proj_someone_else"})
    else:
        r = px.post_batch([ev], project="proj_someone_else")
    json_error(r, 403, "project_mismatch")
    assert_not_in_raw(px, [marker, ev["event_id"]], anon=marker)


# -- methods ----------------------------------------------------------------------

@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_wrong_method_gets_405_with_allow(px, method):
    marker = uid("meth")
    ev = px.event("meth", anonymous_id=marker)
    r = px.http.request(method, px.base + BATCH, data=envelope([ev]), timeout=10,
                        headers={"Authorization": "Bearer " + px.key,
                                 "Content-Type": "application/json"})
    json_error(r, 405, "method_not_allowed")
    allow = [m.strip() for m in r.headers.get("Allow", "").split(",")]
    assert "POST" in allow, r.headers
    assert method not in allow
    assert_not_in_raw(px, [marker, ev["event_id"]], anon=marker)


def test_head_gets_405_without_body(px):
    r = px.http.head(px.base + BATCH, timeout=10)
    assert r.status_code == 405
    assert "POST" in r.headers.get("Allow", "")


# -- slow body: nginx's client_body_timeout -------------------------------------

@pytest.fixture(scope="module")
def slow_nginx(stack):
    n = start_nginx(stack, "slowbody", [DEMO_LINE],
                    server_extra="client_body_timeout 2s;")
    yield n
    stop_nginx(stack, n)


def test_slow_body_is_timed_out_without_harm(px, slow_nginx):
    n = slow_nginx
    marker = uid("slow")
    ev = px.event("slow", anonymous_id=marker)
    body = envelope([ev]).encode()
    head = ("POST %s HTTP/1.1\r\nHost: localhost\r\n"
            "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n\r\n" % (BATCH, px.key, len(body))).encode()
    t0 = time.monotonic()
    got, closed = raw_http(n.port, head + body[:len(body) // 2], read_timeout=12)
    assert closed is not None, "nginx kept the stalled connection open 12s " \
                               "(client_body_timeout 2s); read %r" % got[:200]
    # not before client_body_timeout (2 s): it was the timeout that closed it
    assert time.monotonic() - t0 >= 1.5
    # nginx answers 408 or just closes; never a 2xx
    assert got == b"" or got.startswith(b"HTTP/1.1 408"), got[:300]

    # several stalled at once, and one that stalls in the headers
    import threading
    threads = [threading.Thread(target=raw_http, args=(
        n.port, head + body[:10]), kwargs={"read_timeout": 10}) for _ in range(5)]
    for t in threads:
        t.start()
    # meanwhile normal requests are served
    accepted(px.post_batch([px.event()], base=n.url), 1, [])
    for t in threads:
        t.join()

    r = px.get("/health", base=n.url)
    assert r.status_code == 200 and r.json()["status"] == "ok"
    accepted(px.post_batch([px.event()], base=n.url), 1, [])
    assert n.running()
    with open(os.path.join(n.logs_dir, n.name + "-access.log")) as f:
        access = f.read()
    assert access.count('"POST %s HTTP/1.1" 408 ' % BATCH) == 6, access[-3000:]
    assert_no_crash(n)
    assert_not_in_raw(px, [marker, ev["event_id"]], anon=marker)
