"""Segment's and RudderStack's own clients, unmodified, send to PX with only
their host changed: segment-analytics-python and rudder-sdk-python (PyPI),
@segment/analytics-node (npm, tests/segment-node). One call of every type
(track, page, screen, identify, group, alias) lands in ClickHouse exactly
once, also when the client's first attempts got a 503 and it retried on
its own: a FlakyFront before PX answers 503 after forwarding the batch (the
events reached Kafka: the retry's copies are duplicates that the
messageId-derived event_id dedupes) or relays a PX without a broker."""

import json
import os
import subprocess
import uuid

import pytest

from conftest import REPO
from module_helpers import DEMO_LINE, start_nginx, stop_nginx
from pxstack.base import free_port
from segment_helpers import FlakyFront

NODE_DIR = os.path.join(REPO, "tests", "segment-node")
NAMES = {"Order Completed", "page_view", "screen_view", "identify", "group", "alias"}


@pytest.fixture(scope="module")
def down_nginx(stack):
    """A PX whose Kafka is nowhere: its Segment locations answer 503."""
    n = start_nginx(stack, "segdown", [DEMO_LINE],
                    kafka="127.0.0.1:%d" % free_port(),
                    server_extra="px_ack_timeout 1s;")
    yield n
    stop_nginx(stack, n)


@pytest.fixture
def front(px, down_nginx):
    fronts = []

    def make(plan):
        f = FlakyFront(px.base, plan, down_url=down_nginx.url)
        fronts.append(f)
        return f
    yield make
    for f in fronts:
        f.close()


def python_calls(client, user, anon, ctx):
    client.track(user, "Order Completed", {"total": 42.5}, context=dict(ctx), anonymous_id=anon)
    client.page(user, "Docs", "Pricing", {"url": "https://shop.example/pricing"},
                context=dict(ctx), anonymous_id=anon)
    client.screen(user, None, "Settings", context=dict(ctx), anonymous_id=anon)
    client.identify(user, {"plan": "pro"}, context=dict(ctx), anonymous_id=anon)
    client.group(user, "grp_" + user, {"seats": 3}, context=dict(ctx), anonymous_id=anon)
    client.alias(anon, user, context=dict(ctx))


def stored_once(px, user):
    """Wait for the six rows of user, let the worker settle, then check no
    event is stored twice; the rows."""
    px.wait_until(lambda: len(px.ch_rows(
        "SELECT event_id FROM px.events WHERE user_id = '%s'" % user)) >= 6,
        timeout=60, desc="the six calls of %s in ClickHouse" % user)
    px.worker_settled()
    rows = px.ch_rows("SELECT event_id, event, anonymous_id, properties, library, "
                      "user_agent, locale FROM px.events WHERE user_id = '%s'" % user)
    assert len(rows) == 6, rows
    assert {r["event"] for r in rows} == NAMES, rows
    assert len({r["event_id"] for r in rows}) == 6, rows
    return {r["event"]: r for r in rows}


def check_mapping(rows, library, anon):
    props = {k: v["properties"] if isinstance(v["properties"], dict)
             else json.loads(v["properties"]) for k, v in rows.items()}
    assert props["Order Completed"] == {"total": 42.5}, props
    assert props["page_view"]["name"] == "Pricing", props
    assert props["page_view"]["url"] == "https://shop.example/pricing", props
    assert props["screen_view"]["name"] == "Settings", props
    assert props["identify"] == {"plan": "pro"}, props
    assert props["group"]["traits"] == {"seats": 3}, props
    assert props["alias"] == {"previous_id": anon}, props
    for r in rows.values():
        assert r["library"] == library, r
        assert r["locale"] == "de-DE", r
        assert "test" in r["user_agent"], r


def duplicates_in_kafka(px, user):
    """How many raw messages of user Kafka holds (retries included)."""
    return len(px.kafka_payloads_with('"user_id":"%s"' % user))


def test_python_client_every_type_once_after_503s(px, front):
    from segment.analytics.client import Client

    f = front(["down", "lost"])
    user, anon = "segpy_" + uuid.uuid4().hex[:10], "anon_" + uuid.uuid4().hex[:10]
    errors = []
    c = Client(write_key=px.key, host=f.url, gzip=True, max_retries=6,
               upload_interval=0.1, on_error=lambda e, b: errors.append(e))
    python_calls(c, user, anon, {"userAgent": "Mozilla/5.0 (py test)",
                                 "locale": "de-DE", "ip": "81.2.69.142"})
    c.flush()
    c.join()
    assert errors == [], errors
    assert [s for _, s in f.seen] == [503, 503, 200], f.seen
    assert all(p == "/v1/batch" for p, _ in f.seen), f.seen

    rows = stored_once(px, user)
    check_mapping(rows, "analytics-python", anon)
    # the lost 503's batch reached Kafka too: twice there, once stored
    assert duplicates_in_kafka(px, user) == 12
    # a server's key: the call's context.ip is the event's address
    msg = json.loads(px.kafka_payloads_with('"user_id":"%s"' % user)[0]["payload"])
    assert msg["ip"] == "81.2.69.142", msg


def test_node_client_every_type_once_after_503s(px, front):
    f = front(["lost", "down"])
    user, anon = "segnode_" + uuid.uuid4().hex[:10], "anon_" + uuid.uuid4().hex[:10]
    out = subprocess.run(
        ["node", os.path.join(NODE_DIR, "send.js"),
         json.dumps({"host": f.url, "writeKey": px.key, "userId": user,
                     "anonymousId": anon})],
        cwd=NODE_DIR, capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["errors"] == [], res
    assert res["statuses"] == [503, 503, 200], res
    assert [s for _, s in f.seen] == [503, 503, 200], f.seen

    rows = stored_once(px, user)
    check_mapping(rows, "@segment/analytics-node", anon)
    assert duplicates_in_kafka(px, user) == 12


def test_rudderstack_python_client_every_type_once(px, front):
    """rudder-sdk-python posts to <dataPlaneUrl>/v1/batch, gzip'd, with
    the write key only in Authorization: Basic."""
    from rudderstack.analytics.client import Client

    f = front(["lost"])
    user, anon = "segrudder_" + uuid.uuid4().hex[:10], "anon_" + uuid.uuid4().hex[:10]
    errors = []
    c = Client(write_key=px.key, host=f.url, max_retries=6, upload_interval=0.1,
               on_error=lambda e, b: errors.append(e))
    python_calls(c, user, anon, {"userAgent": "Mozilla/5.0 (rudder test)",
                                 "locale": "de-DE"})
    c.flush()
    c.join()
    assert errors == [], errors
    assert [s for _, s in f.seen] == [503, 200], f.seen
    rows = stored_once(px, user)
    check_mapping(rows, "analytics-python", anon)
