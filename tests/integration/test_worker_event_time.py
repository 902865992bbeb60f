"""The event-time policy (docs/worker.md): a client controls an event's time,
so one request can carry events a hundred months apart; a ClickHouse insert
block spanning more than 100 monthly partitions is refused
(max_partitions_per_insert_block) and would stall the stream. The worker
stores events older than PX_MAX_EVENT_AGE (30 days) at received_at, keeping
the client's time in client_timestamp_ms, and the next event is stored
within seconds."""

import datetime
import time


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_120_months_in_one_request_then_a_normal_event(px):
    now = datetime.datetime.utcnow().replace(microsecond=0)
    events = []
    for m in range(120):
        ts = now - datetime.timedelta(days=31 * m)
        events.append(px.event("months_%d" % m, anonymous_id="anon_months",
                               timestamp=iso(ts)))
    r = px.post_batch(events)
    assert r.status_code == 202 and r.json()["accepted"] == 120, r.text

    after = px.event("after_the_months")
    r = px.post_batch([after])
    assert r.status_code == 202, r.text
    px.wait_until(lambda: px.rows_for([after["event_id"]]), timeout=30,
                  desc="the next event stored (worker log:\n%s)" % px.log("worker.log"))

    ids = [e["event_id"] for e in events]
    rows = px.wait_until(lambda: (lambda rows: rows if len(rows) == 120 else None)(
        px.rows_for(ids, columns="event_id, timestamp_ms, client_timestamp_ms, "
                                  "received_at")), timeout=30, desc="120 rows")
    sent = {e["event_id"]: e for e in events}
    received_ms = time.time() * 1000
    months = set()
    for row in rows:
        ts, client = int(row["timestamp_ms"]), int(row["client_timestamp_ms"])
        m = int(sent[row["event_id"]]["event"].split("_")[1])
        months.add(time.strftime("%Y%m", time.gmtime(ts / 1000)))
        if m == 0:
            assert abs(ts - client) < 1000, row
        elif 31 * m > 30:
            # stored at received_at; the client's time kept
            assert abs(ts - received_ms) < 120000, row
            assert abs(client - (received_ms - m * 31 * 86400000)) < 120000, row
    assert len(months) <= 2, months
