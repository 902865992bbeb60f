"""sdk-python (px-sdk) against the real stack: what it tracks lands in
ClickHouse exactly once, with its fields, also across a period in which
the module answers 503 (an nginx of the stack whose Kafka is nowhere,
reloaded onto the real broker while the SDK keeps retrying the same
batches); a per-event reject is dropped, the rest stored."""

import logging
import os
import sys
import time

import pytest

from conftest import REPO
from module_helpers import DEMO_LINE, start_nginx, stop_nginx, uid
from pxstack import DEMO_KEY, DEMO_PROJECT
from pxstack.base import free_port

sys.path.insert(0, os.path.join(REPO, "sdk-python", "src"))
import px as sdk  # noqa: E402  (the fixture `px` is the test helpers)


def stored_counts(px, ids):
    rows = px.ch_rows("SELECT event_id, count() AS n FROM px.events WHERE "
                      "event_id IN (%s) GROUP BY event_id"
                      % ", ".join("'%s'" % i for i in ids))
    return {r["event_id"]: int(r["n"]) for r in rows}


def wait_stored_once(px, ids, timeout=90):
    px.wait_until(lambda: len(stored_counts(px, ids)) == len(ids), timeout=timeout,
                  interval=0.5, desc="%d SDK events in ClickHouse (worker log:\n%s)"
                  % (len(ids), px.log("worker.log")))
    px.worker_settled()
    counts = stored_counts(px, ids)
    assert counts == {i: 1 for i in ids}, counts


@pytest.fixture
def client():
    made = []

    def make(endpoint, **kw):
        c = sdk.Client(DEMO_KEY, DEMO_PROJECT, endpoint, **kw)
        made.append(c)
        return c
    yield make
    for c in made:
        c.shutdown(timeout=5)


def test_events_land_once_with_their_fields(px, client):
    c = client(px.base, flush_at=20, flush_interval=0.2)
    user = uid("py_user")
    ids = [c.track(user, "py_order_%d" % i, {"i": i, "amount": 9.5})
           for i in range(45)]
    ids.append(c.identify(user, {"plan": "pro"}, anonymous_id=uid("py_anon")))
    ids.append(c.page(user, "https://shop.example/cart?utm_source=mail",
                      title="Cart"))
    # one event the server refuses on its own (a string past 8 KiB): the
    # 202 lists it, the SDK drops it, its batch is stored
    too_long = c.track(user, "py_too_long", {"s": "x" * 9000})
    assert all(ids) and too_long
    assert c.flush(timeout=60)
    s = c.stats()
    assert (s["sent"], s["rejected"], s["queued"]) == (47, 1, 0), s

    wait_stored_once(px, ids)
    assert stored_counts(px, [too_long]) == {}
    rows = {r["event_id"]: r for r in px.rows_for(
        ids, "event_id, event, user_id, properties, page_path, page_title, "
             "library, utm_source")}
    assert rows[ids[3]]["event"] == "py_order_3"
    assert rows[ids[3]]["user_id"] == user
    assert '"amount":9.5' in rows[ids[3]]["properties"]
    assert rows[ids[-2]]["event"] == "identify"
    page = rows[ids[-1]]
    assert (page["event"], page["page_path"], page["page_title"],
            page["utm_source"]) == ("page_view", "/cart", "Cart", "mail")
    assert page["library"] == "px-sdk-python"


def test_a_503_period_loses_nothing_and_stores_once(px, stack, client, caplog):
    # Kafka nowhere: the module answers 503 + Retry-After
    n = start_nginx(stack, "sdkpy503", [DEMO_LINE],
                    kafka="127.0.0.1:%d" % free_port(),
                    server_extra="px_ack kafka;\n        px_ack_timeout 2s;")
    try:
        c = client(n.url, flush_at=20, flush_interval=0.1, retry_base=0.2,
                   retry_max=2.0)
        user = uid("py_outage")
        ids = [c.track(user, "py_outage_%d" % i, {"i": i}) for i in range(60)]
        with caplog.at_level(logging.WARNING, logger="px"):
            px.wait_until(lambda: c.stats()["retries"] >= 3, timeout=60,
                          interval=0.2, desc="the SDK retrying 503 answers")
        assert c.stats()["sent"] == 0, c.stats()
        assert any("HTTP 503" in m and "kafka_unavailable" in m
                   for m in caplog.messages), caplog.messages
        ids += [c.track(user, "py_during_%d" % i) for i in range(20)]
        time.sleep(0.5)

        # the broker comes back: the same nginx, on the stack's Kafka
        n.kafka = stack.kafka.bootstrap
        n.reload_and_wait()
        assert c.flush(timeout=90), c.stats()
        s = c.stats()
        assert s["sent"] == 80 and s["retries"] >= 3, s
        assert s["failed"] == s["lost_at_exit"] == s["rejected"] == 0, s
        wait_stored_once(px, ids)
    finally:
        stop_nginx(stack, n)
