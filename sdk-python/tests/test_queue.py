"""The bounded queue: full means drop-oldest or drop-new, counted."""

import time


def fill_behind_a_hung_request(server, c, n):
    """The first request hangs, so the sender is busy and the queue fills."""
    server.script = ["hang"]
    first = c.track("u", "first")
    server.wait_requests(1)
    return first, [c.track("u", "e%d" % i) for i in range(n)]


def test_drop_oldest(server, make_client):
    c = make_client(max_queue=5, flush_at=100, flush_interval=0)
    first, ids = fill_behind_a_hung_request(server, c, 8)
    assert all(ids)
    s = c.stats()
    assert s["dropped_queue_full"] == 3 and s["queued"] == 5
    server.released.set()        # the hung request gets no answer: retried
    assert c.flush(10)
    sent = server.ids()
    assert sent.count(first) >= 2 and set(sent) == {first} | set(ids[3:])


def test_drop_new(server, make_client):
    c = make_client(max_queue=5, flush_at=100, flush_interval=0, on_full="drop_new")
    first, ids = fill_behind_a_hung_request(server, c, 8)
    assert ids[5:] == [None, None, None] and all(ids[:5])
    assert c.stats()["dropped_queue_full"] == 3
    server.released.set()
    assert c.flush(10)
    assert set(server.ids()) == {first} | set(ids[:5])


def test_track_does_not_wait_for_the_network(server, make_client):
    c = make_client(max_queue=10000, flush_at=10, flush_interval=0)
    server.script = ["hang"] * 3
    t0 = time.monotonic()
    for i in range(2000):
        c.track("u", "e")
    # far below the seconds a hung request takes (no timing goal: bench/)
    assert time.monotonic() - t0 < 5
    assert c.stats()["queued"] >= 1900


def test_a_sender_error_drops_the_batch_not_the_sender(server, make_client, monkeypatch):
    c = make_client(flush_interval=0)
    real = c._delivery.send
    calls = []

    def broken_once(*a):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug")
        return real(*a)
    monkeypatch.setattr(c._delivery, "send", broken_once)
    c.track("u", "lost")
    assert c.flush(5)           # settled (dropped), flush does not hang
    eid = c.track("u", "next")
    assert c.flush(5)
    assert server.ids() == [eid] and c.stats()["failed"] == 1
