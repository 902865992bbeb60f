"""Batches: N events, T seconds of age, ~bytes; the wire format."""

import json
import re
import threading
import time
import uuid

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_batches_of_flush_at_events(server, make_client):
    c = make_client(flush_at=10, flush_interval=30)
    ids = [c.track("u1", "e%d" % i) for i in range(25)]
    reqs = server.wait_requests(2)
    assert [len(r.events) for r in reqs[:2]] == [10, 10]
    time.sleep(0.2)
    assert len(server.requests) == 2      # 5 wait for the interval
    assert c.flush(5)
    assert [len(r.events) for r in server.requests] == [10, 10, 5]
    assert server.ids() == ids


def test_a_partial_batch_goes_after_flush_interval(server, make_client):
    c = make_client(flush_at=100, flush_interval=0.3)
    t0 = time.monotonic()
    c.track("u1", "one")
    c.track("u1", "two")
    r = server.wait_requests(1)[0]
    assert len(r.events) == 2
    assert r.t - t0 >= 0.3


def test_batches_stay_under_max_batch_bytes(server, make_client):
    c = make_client(flush_at=100, flush_interval=30, max_batch_bytes=5000)
    for i in range(20):
        c.track("u1", "big", {"pad": "x" * 900})
    assert c.flush(5)
    sizes = [len(json.dumps(r.events)) for r in server.requests]
    assert len(sizes) >= 4 and max(sizes) <= 5000 + 100, sizes
    assert len(server.ids()) == 20


def test_wire_format(server, make_client):
    c = make_client(flush_interval=0)
    eid = c.track(42, "signup", {"plan": "pro"}, anonymous_id="anon_1",
                  context={"campaign": {"source": "mail"}})
    assert c.flush(5)
    r = server.requests[0]
    h = {k.lower(): v for k, v in r.headers.items()}
    assert h["authorization"] == "Bearer px_test_key"
    assert h["x-px-project-id"] == "proj_t"
    assert h["content-encoding"] == "gzip" and r.raw[:2] == b"\x1f\x8b"
    assert h["content-type"] == "application/json"
    assert ISO.match(r.envelope["sent_at"]), r.envelope
    (e,) = r.events
    assert e["event_id"] == eid and uuid.UUID(eid).version == 4
    assert e["user_id"] == "42" and e["anonymous_id"] == "anon_1"
    assert e["event"] == "signup" and e["properties"] == {"plan": "pro"}
    assert ISO.match(e["timestamp"]), e
    assert e["context"]["campaign"] == {"source": "mail"}
    assert e["context"]["library"]["name"] == "px-sdk-python"


def test_identify_and_page(server, make_client):
    c = make_client(flush_interval=0)
    c.identify("u9", {"email": "a@b.c"})
    c.page("u9", "https://shop.example/cart?x=1", title="Cart",
           referrer="https://google.com/")
    assert c.flush(5)
    ident, page = server.events()
    assert ident["event"] == "identify" and ident["properties"] == {"email": "a@b.c"}
    assert page["event"] == "page_view"
    assert page["context"]["page"] == {"url": "https://shop.example/cart?x=1",
                                       "path": "/cart", "title": "Cart",
                                       "referrer": "https://google.com/"}


def test_caller_given_event_id_and_timestamp(server, make_client):
    import datetime
    c = make_client(flush_interval=0)
    eid = str(uuid.uuid4())
    when = datetime.datetime(2026, 11, 30, 12, 0, 1, 500000,
                             tzinfo=datetime.timezone.utc)
    assert c.track("u", "paid", event_id=eid, timestamp=when) == eid
    c.track("u", "paid2", timestamp=1796040001.25)
    assert c.flush(5)
    a, b = server.events()
    assert a["event_id"] == eid and a["timestamp"] == "2026-11-30T12:00:01.500Z"
    assert b["timestamp"] == "2026-11-30T12:00:01.250Z"


def test_gzip_off(server, make_client):
    c = make_client(flush_interval=0, gzip=False)
    c.track("u", "plain")
    assert c.flush(5)
    r = server.requests[0]
    assert "Content-Encoding" not in r.headers and r.raw[:1] == b"{"


def test_track_from_many_threads(server, make_client):
    c = make_client(flush_at=50, flush_interval=0.05)
    got = []

    def burst(t):
        for i in range(200):
            got.append(c.track("u%d" % t, "e"))
    threads = [threading.Thread(target=burst, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert c.flush(10)
    assert sorted(server.ids()) == sorted(got) and len(got) == 800
    assert c.stats()["sent"] == 800 and c.stats()["queued"] == 0


def test_sync_mode_sends_in_the_call_without_a_thread(server, make_client):
    before = {t.name for t in threading.enumerate()}
    c = make_client(sync=True)
    eid = c.track("u", "lambda_event")
    assert server.ids() == [eid]          # already there when track returns
    assert "px-sender" not in {t.name for t in threading.enumerate()} - before
    assert c.stats()["sent"] == 1
