"""Bad input never raises: it is logged and counted; unserializable values
are reported per event and sent as null; settings errors do raise."""

import datetime
import decimal
import enum
import json
import logging
import uuid

import pytest

import px
from px.encode import encode


@pytest.mark.parametrize("args, kwargs", [
    ((None, "e"), {}),                      # no distinct id, no anonymous id
    (("", "e"), {}),
    (("u" * 201, "e"), {}),
    ((["u"], "e"), {}),
    (("u", ""), {}),
    (("u", None), {}),
    (("u", 7), {}),
    (("u", "x" * 201), {}),
    (("u", "tab\there"), {}),
    (("u", "e", ["not", "a", "dict"]), {}),
    (("u", "e"), {"context": "ctx"}),
    (("u", "e"), {"event_id": "not-a-uuid"}),
    (("u", "e"), {"event_id": 12}),
    (("u", "e"), {"timestamp": object()}),
    (("u", "e"), {"timestamp": float("nan")}),
    (("u", "e"), {"timestamp": -5}),
    (("u", "e"), {"anonymous_id": ""}),
])
def test_bad_input_is_counted_and_never_raises(server, make_client, caplog, args, kwargs):
    c = make_client(flush_interval=0)
    with caplog.at_level(logging.WARNING, logger="px"):
        assert c.track(*args, **kwargs) is None
    assert c.stats()["invalid"] == 1
    assert any("not tracked" in m for m in caplog.messages), caplog.messages
    assert c.flush(2) and server.requests == []


def test_bad_page_url(make_client):
    c = make_client()
    assert c.page("u", None) is None and c.page("u", "") is None
    assert c.stats()["invalid"] == 2


def test_an_event_past_max_event_bytes_is_dropped(make_client):
    c = make_client(max_event_bytes=1000)
    assert c.track("u", "e", {"s": "x" * 2000}) is None
    assert c.stats()["invalid"] == 1


class Color(enum.Enum):
    RED = "red"


def test_known_types_are_converted_silently(server, make_client, caplog):
    c = make_client(flush_interval=0)
    u = uuid.uuid4()
    with caplog.at_level(logging.WARNING, logger="px"):
        c.track("u", "e", {"when": datetime.datetime(2026, 1, 2, 3, 4, 5),
                           "day": datetime.date(2026, 1, 2), "id": u,
                           "price": decimal.Decimal("9.5"), "tags": {"b", "a"},
                           "pair": (1, 2), "color": Color.RED, "raw": b"ok",
                           1: "int key"})
        assert c.flush(5)
    assert caplog.messages == []
    p = server.events()[0]["properties"]
    assert p == {"when": "2026-01-02T03:04:05.000Z", "day": "2026-01-02",
                 "id": str(u), "price": 9.5, "tags": ["a", "b"], "pair": [1, 2],
                 "color": "red", "raw": "ok", "1": "int key"}
    assert c.stats()["unserializable"] == 0


def test_unserializable_values_are_reported_per_event_and_sent_as_null(
        server, make_client, caplog):
    c = make_client(flush_interval=30)
    loop = {"a": 1}
    loop["self"] = loop
    deep = cur = {}
    for _ in range(20):
        cur["d"] = {}
        cur = cur["d"]
    with caplog.at_level(logging.WARNING, logger="px"):
        bad = c.track("u", "bad", {"obj": object(), "nan": float("inf"),
                                   "loop": loop, "deep": deep,
                                   "bytes": b"\xff", "ok": 1})
        good = c.track("u", "good", {"ok": 2})
        assert c.flush(5)
    bad_ev, good_ev = server.events()
    assert (bad_ev["event_id"], good_ev["event_id"]) == (bad, good)
    p = bad_ev["properties"]
    assert p["obj"] is None and p["nan"] is None and p["bytes"] is None
    assert p["loop"] == {"a": 1, "self": None} and p["ok"] == 1
    # cut where the server's depth limit (16 in all) would refuse the batch
    assert json.dumps(p["deep"]).count("{") == 12
    assert good_ev["properties"] == {"ok": 2}
    assert c.stats()["unserializable"] == 1 and c.stats()["sent"] == 2
    (msg,) = [m for m in caplog.messages if "null" in m]
    assert bad in msg
    for path in ("properties.obj", "properties.nan", "properties.loop.self",
                 "properties.bytes", "nested deeper"):
        assert path in msg, msg


def test_every_event_encodes_within_the_servers_depth():
    for n in range(1, 30):
        v = cur = {}
        for _ in range(n):
            cur["x"] = {}
            cur = cur["x"]
        data, _ = encode({"event": "e", "properties": v})
        depth = max_depth = 0
        for ch in data.decode():
            depth += ch in "{[" and 1 or (ch in "}]" and -1 or 0)
            max_depth = max(max_depth, depth)
        # plus the envelope object and the events array
        assert max_depth + 2 <= 16, (n, max_depth)


def test_mutating_properties_after_track_changes_nothing(server, make_client):
    c = make_client(flush_interval=30)
    props = {"items": [1]}
    c.track("u", "e", props)
    props["items"].append(2)
    assert c.flush(5)
    assert server.events()[0]["properties"] == {"items": [1]}


@pytest.mark.parametrize("kw", [
    {"flush_at": 0}, {"max_queue": -1}, {"timeout": "1"}, {"on_full": "block"},
    {"max_retries": -1}, {"flush_interval": -1},
])
def test_bad_settings_raise(kw):
    with pytest.raises(ValueError):
        px.Client("k", "p", "http://127.0.0.1:9", **kw)


def test_bad_endpoint_and_key_raise():
    with pytest.raises(ValueError):
        px.Client("k", "p", "ftp://x")
    with pytest.raises(ValueError):
        px.Client("", "p")


def test_module_functions_before_init_do_not_raise():
    assert px.default_client() is None
    assert px.track("u", "e") is None and px.flush() is True
