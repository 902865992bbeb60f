"""Retries: backoff with jitter, Retry-After, same event_ids; 202 rejects;
splits on 400/413; drops on other 4xx."""

import logging
import time

from conftest import answer
from px.backoff import delay, parse_retry_after


def test_backoff_grows_with_jitter_and_a_cap():
    assert delay(0, 1, 60, rnd=0) == 0.5 and delay(0, 1, 60, rnd=1) == 1
    assert delay(3, 1, 60, rnd=1) == 8 and delay(3, 1, 60, rnd=0) == 4
    assert delay(30, 1, 60, rnd=1) == 60 and delay(1000, 1, 60, rnd=0.5) == 45
    # Retry-After is a floor, with up to 10% on top
    assert delay(0, 1, 60, retry_after=5, rnd=0) == 5
    assert abs(delay(0, 1, 60, retry_after=5, rnd=1) - 5.5) < 1e-9
    assert delay(6, 1, 60, retry_after=2, rnd=1) == 60      # backoff bigger
    assert delay(0, 1, 60, retry_after=10 ** 9, rnd=0) == 3600


def test_retry_after_parsing():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("-3") is None
    d = parse_retry_after("Mon, 30 Nov 2026 12:00:10 GMT", now=1796040000.0)
    assert d == 10.0
    assert parse_retry_after("Mon, 30 Nov 2026 12:00:10 GMT", now=1796040020.0) == 0.0


def test_503_with_retry_after_is_retried_with_the_same_event_ids(server, make_client):
    server.script = [answer(503, 1), answer(429, 1)]
    c = make_client(flush_interval=30, flush_at=3)
    ids = [c.track("u", "e%d" % i) for i in range(3)]
    assert c.flush(10)
    r = server.requests
    assert len(r) == 3 and r[0].ids == r[1].ids == r[2].ids == ids
    # the retries waited for Retry-After (1 s), not the 50 ms backoff
    assert r[1].t - r[0].t >= 1.0 and r[2].t - r[1].t >= 1.0
    s = c.stats()
    assert s["retries"] == 2 and s["sent"] == 3 and s["queued"] == 0


def test_backoff_without_retry_after_and_network_errors(server, make_client):
    server.script = [answer(500), answer(502), answer(503), answer(408)]
    c = make_client(flush_interval=0, retry_base=0.1, retry_max=10)
    eid = c.track("u", "e")
    assert c.flush(10)
    t = [r.t for r in server.requests]
    assert [r.ids for r in server.requests] == [[eid]] * 5
    gaps = [b - a for a, b in zip(t, t[1:])]
    # 0.1 * 2^n, jittered to 50..100%
    for n, g in enumerate(gaps):
        assert 0.1 * 2 ** n * 0.5 <= g <= 0.1 * 2 ** n + 0.5, gaps


def test_connection_refused_until_the_server_is_there(make_client):
    import socket
    import px
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    c = px.Client("k", "p", "http://127.0.0.1:%d" % port, retry_base=0.05,
                  retry_max=0.1, max_retries=3, flush_interval=0)
    c.track("u", "e")
    assert c.flush(5)
    assert c.stats()["failed"] == 1 and c.stats()["retries"] == 3
    c.shutdown(1)


def test_rejected_events_are_dropped_and_logged_not_retried(server, make_client, caplog):
    def reject_second(req):
        return (202, {}, {"accepted": 2, "rejected": [
            {"index": 1, "event_id": req.ids[1], "error": "string_too_long"}]})
    server.script = [reject_second]
    c = make_client(flush_interval=30, flush_at=3)
    with caplog.at_level(logging.WARNING, logger="px"):
        ids = [c.track("u", "e%d" % i) for i in range(3)]
        assert c.flush(5)
    assert len(server.requests) == 1
    s = c.stats()
    assert s["rejected"] == 1 and s["sent"] == 2
    assert any(ids[1] in m and "string_too_long" in m for m in caplog.messages), \
        caplog.messages


def test_400_is_split_so_only_the_bad_event_is_lost(server, make_client):
    def refuse_bad(req):
        if any(e["properties"].get("bad") for e in req.events):
            return answer(400, body={"error": "too_deep", "message": "m"})
        return None
    server.script = [refuse_bad] * 20
    c = make_client(flush_interval=30, flush_at=8)
    ids = [c.track("u", "e", {"bad": i == 5}) for i in range(8)]
    assert c.flush(5)
    stored = set()
    for r in server.requests:
        if not any(e["properties"]["bad"] for e in r.events):
            stored.update(r.ids)
    assert stored == set(ids) - {ids[5]}
    assert c.stats()["rejected"] == 1 and c.stats()["sent"] == 7


def test_413_halves_the_batch(server, make_client):
    def too_big(req):
        if len(req.events) > 2:
            return answer(413, body={"error": "too_many_events", "message": "m"})
        return None
    server.script = [too_big] * 20
    c = make_client(flush_interval=30, flush_at=8)
    ids = [c.track("u", "e%d" % i) for i in range(8)]
    assert c.flush(5)
    assert sorted(i for r in server.requests if len(r.ids) <= 2 for i in r.ids) \
        == sorted(ids)
    assert c.stats()["sent"] == 8


def test_a_wrong_key_drops_the_batch_and_says_so(server, make_client, caplog):
    server.script = [answer(401, body={"error": "invalid_api_key", "message": "m"})]
    c = make_client(flush_interval=0)
    with caplog.at_level(logging.ERROR, logger="px"):
        c.track("u", "e")
        assert c.flush(5)
    assert len(server.requests) == 1 and c.stats()["rejected"] == 1
    assert any("invalid_api_key" in m for m in caplog.messages)


def test_max_retries_gives_up(server, make_client):
    server.script = [answer(503)] * 10
    c = make_client(flush_interval=0, max_retries=2)
    c.track("u", "e")
    assert c.flush(5)
    assert len(server.requests) == 3 and c.stats()["failed"] == 1
    time.sleep(0.1)
    assert len(server.requests) == 3
