"""ClickHouse's errors classified by its exception code, not the HTTP
status: a wrong password (516, HTTP 403), a revoked grant (497, 403), a
dropped table (60, 404) or a timeout (159, 408) is an outage (nothing goes
to the dead-letter topic, the batch waits and is stored once the cause is
gone), while a row whose values ClickHouse refuses (27) is found by
bisection and dead-lettered alone.

An extra worker (its own consumer group, database, Redis db and DLQ topic)
inserts through an HTTP front that forwards to the session's ClickHouse and
can be told to answer every INSERT with a given error, or to refuse the
blocks holding a marked row, as ClickHouse would."""

import json
import uuid

import pytest
import requests

from worker_helpers import worker_behind_front



@pytest.fixture
def errw(stack):
    with worker_behind_front(stack, "err", redis_db=7) as w:
        yield w


def stored(px, w, ids):
    return px.ch_rows("SELECT event_id, count() AS n FROM %s.events WHERE event_id IN (%s) "
                      "GROUP BY event_id" % (w.db, ", ".join("'%s'" % i for i in ids)))


def dead_letters(px, w, ids):
    return [m for m in px.kafka_messages(w.dlq) if any(i in (m.get("payload") or "") for i in ids)]


def health(w):
    return requests.get(w.health_url + "/health", timeout=5).json()


@pytest.mark.parametrize("status,code,what", [
    (403, 516, "wrong password"), (403, 497, "revoked grant"),
    (404, 60, "dropped table"), (408, 159, "timeout")])
def test_outage_errors_wait_and_dead_letter_nothing(px, errw, status, code, what):
    w = errw
    px.wait_until(lambda: health(w)["lag"] == 0 and health(w)["pending"] == 0,
                  timeout=60, desc="the extra worker caught up")
    w.front.fail = (status, code)
    events = [px.event("ch_outage", anonymous_id="anon_" + what.replace(" ", "_"))
              for _ in range(5)]
    ids = [e["event_id"] for e in events]
    assert px.post_batch(events).status_code == 202
    before = w.front.inserts
    px.wait_until(lambda: w.front.inserts >= before + 2, timeout=60,
                  desc="the worker retrying its insert (%s)" % what)
    # the worker reports its pause (its snapshot is published every 100 ms)
    px.wait_until(lambda: health(w)["paused"], timeout=10,
                  desc="the worker paused on a %s" % what)
    assert dead_letters(px, w, ids) == [], "dead-lettered on a %s" % what

    w.front.fail = None
    rows = px.wait_until(lambda: (lambda r: r if len(r) == 5 else None)(stored(px, w, ids)),
                         timeout=60, desc="stored once the %s is fixed" % what)
    assert all(int(r["n"]) == 1 for r in rows), rows
    assert dead_letters(px, w, ids) == []


def test_a_refused_row_is_found_by_bisection_and_dead_lettered_alone(px, errw):
    w = errw
    px.wait_until(lambda: health(w)["lag"] == 0 and health(w)["pending"] == 0,
                  timeout=60, desc="the extra worker caught up")
    marker = "poison_" + uuid.uuid4().hex[:8]
    w.front.poison = marker
    events = [px.event("bisect", anonymous_id="anon_bisect") for _ in range(64)]
    events[41]["properties"] = {"m": marker}
    ids = [e["event_id"] for e in events]
    before = w.front.inserts
    assert px.post_batch(events).status_code == 202

    good = [i for i in ids if i != ids[41]]
    rows = px.wait_until(lambda: (lambda r: r if len(r) == 63 else None)(stored(px, w, good)),
                         timeout=60, desc="the 63 good rows stored")
    assert all(int(r["n"]) == 1 for r in rows), rows
    dl = px.wait_until(lambda: dead_letters(px, w, [ids[41]]), timeout=30,
                       desc="the refused row in the DLQ")
    assert len(dl) == 1 and json.loads(dl[0]["payload"])["reason"].find("27") >= 0, dl
    assert stored(px, w, [ids[41]]) == []
    # sent as they are: PX_CLICKHOUSE_GZIP is 0 by default
    assert w.front.inserts > before and w.front.gzipped == 0
    # one block refused, then about 2 log2(64) = 12 blocks, not 64 rows
    # one at a time (the 64 events may come in two batches, and a block's
    # forward may time out on a loaded machine and be tried again)
    assert w.front.inserts - before <= 32, w.front.inserts - before


# -- insert blocks: batches of 8 rows accumulate into one insert --------------------

@pytest.fixture
def blockw(stack):
    # small batches, a long interval: every batch of a post goes into the
    # same insert block, sent once the oldest event waited 3 s; its
    # inserts gzip-compressed (the other workers send them as they are)
    with worker_behind_front(stack, "blk", redis_db=3,
                             env={"BATCH_SIZE": "8", "FLUSH_INTERVAL": "3000",
                                  "PX_CLICKHOUSE_GZIP": "1"}) as w:
        yield w


def test_batches_accumulate_into_one_insert_and_a_refused_row_is_dead_lettered(px, blockw):
    w = blockw
    px.wait_until(lambda: health(w)["lag"] == 0 and health(w)["pending"] == 0,
                  timeout=60, desc="the extra worker caught up")

    # 40 events, 5 batches of the worker: one insert
    events = [px.event("block", anonymous_id="anon_block") for _ in range(40)]
    ids = [e["event_id"] for e in events]
    before = w.front.inserts
    assert px.post_batch(events).status_code == 202
    rows = px.wait_until(lambda: (lambda r: r if len(r) == 40 else None)(stored(px, w, ids)),
                         timeout=60, desc="the 40 rows stored")
    assert all(int(r["n"]) == 1 for r in rows), rows
    # (a forward that timed out on a loaded machine is tried again)
    assert 1 <= w.front.inserts - before <= 2, w.front.inserts - before
    assert w.front.gzipped == w.front.inserts, "PX_CLICKHOUSE_GZIP=1 not applied"
    px.wait_until(lambda: health(w)["pending"] == 0, timeout=30,
                  desc="committed: nothing pending")

    # a poisoned row in the first batch of a block of five: found by
    # bisection in the block, dead-lettered from its encoded bytes, with
    # its origin and original message; the 39 others stored once
    marker = "poison_" + uuid.uuid4().hex[:8]
    w.front.poison = marker
    events = [px.event("block", anonymous_id="anon_block2") for _ in range(40)]
    events[3]["properties"] = {"m": marker}
    ids = [e["event_id"] for e in events]
    assert px.post_batch(events).status_code == 202
    good = [i for i in ids if i != ids[3]]
    rows = px.wait_until(lambda: (lambda r: r if len(r) == 39 else None)(stored(px, w, good)),
                         timeout=60, desc="the 39 good rows stored")
    assert all(int(r["n"]) == 1 for r in rows), rows
    dl = px.wait_until(lambda: dead_letters(px, w, [ids[3]]), timeout=30,
                       desc="the refused row in the DLQ")
    assert len(dl) == 1, dl
    rec = json.loads(dl[0]["payload"])
    assert "27" in rec["reason"] and rec["source"] == "worker", rec
    assert rec["message"]["event_id"] == ids[3], rec
    row = rec["payload"] if isinstance(rec["payload"], dict) else json.loads(rec["payload"])
    assert row["event_id"] == ids[3] and row["session_id"] and marker in row["properties"], row
    assert stored(px, w, [ids[3]]) == []
    px.wait_until(lambda: health(w)["pending"] == 0, timeout=30,
                  desc="committed: nothing pending")
