"""The walking skeleton: events posted to nginx end up as rows in ClickHouse."""

import json
import time


def _accepted(r):
    assert r.status_code == 202, "expected 202, got %d: %s" % (r.status_code, r.text)
    body = r.json()
    return body.get("accepted")


def test_batch_of_three_becomes_three_rows(px):
    anon = "anon_pipeline_three"
    events = [px.event(name, anonymous_id=anon)
              for name in ("page_view", "signup", "purchase")]
    ids = [e["event_id"] for e in events]

    r = px.post_batch(events)
    assert _accepted(r) == 3, r.text

    px.wait_until(lambda: len(px.rows_for(ids)) >= 3, timeout=30,
                  desc="3 rows in px.events (worker log:\n%s)" % px.log("worker.log"))
    # whatever Kafka still held is read: nothing may be stored twice
    px.worker_settled()
    rows = px.rows_for(ids)
    got = sorted((r["event_id"], r["event"], r["project_id"]) for r in rows)
    want = sorted((e["event_id"], e["event"], px.project) for e in events)
    assert got == want


def test_gzip_batch_is_stored(px):
    events = [px.event("gz_%d" % i) for i in range(2)]
    ids = [e["event_id"] for e in events]
    r = px.post_batch(events, gzip=True)
    assert _accepted(r) == 2, r.text
    px.wait_until(lambda: len(px.rows_for(ids)) == 2, timeout=30,
                  desc="2 gzip'd events in px.events")


def test_each_event_is_one_kafka_message_keyed_by_visitor(px):
    ev = px.event("keyed", anonymous_id="anon_keyed_check")
    r = px.post_batch([ev])
    assert _accepted(r) == 1, r.text
    # 202 means the broker has it: no waiting needed
    msgs = px.kafka_payloads_with(ev["event_id"])
    assert len(msgs) == 1, msgs
    assert msgs[0]["key"] == "%s/%s" % (px.project, "anon_keyed_check")
    payload = json.loads(msgs[0]["payload"])
    assert payload["event"] == "keyed"
    assert payload["project_id"] == px.project
