"""px-worker --replay-dlq: dead letters re-driven through the normal
pipeline once their cause is fixed, exactly once with the normal path.

An extra worker (own consumer group, database, Redis db and DLQ topic, as in
test_worker_clickhouse_errors.py) inserts through an HTTP front that refuses
the rows holding a marker with code 27, as ClickHouse refuses a value. Its
dead letters carry the origin of their message ("origin") and, for a row,
the original message ("message"); the replay produces that message to
px.events.raw with the header px-origin, and the worker's dedupe treats it
as a replay of the original (same session), not as a duplicate.

Before the change: there was no --replay-dlq (every test fails at the first
run of it: "unexpected argument"), dead letters had no origin, and a message
produced again was a true duplicate of the one that had claimed its
event_id, so it was dropped and never stored."""

import json
import re
import subprocess
import time
import uuid

import pytest
import requests

from pxstack.stack import sanitizer_env
from worker_helpers import worker_behind_front


@pytest.fixture
def rw(stack):
    with worker_behind_front(stack, "replay", redis_db=6) as w:
        yield w


def health(w):
    return requests.get(w.health_url + "/health", timeout=5).json()


def caught_up(px, w):
    px.wait_until(lambda: health(w)["lag"] == 0 and health(w)["pending"] == 0,
                  timeout=60, desc="the extra worker caught up")


def replay(w, *args):
    """Run px-worker --replay-dlq on w's DLQ topic; (rc, counts, output)."""
    st = w.stack
    env = dict(sanitizer_env(st.logs_dir, "replay-dlq", st.worker_bin))
    env["PATH"] = "/usr/bin:/bin"
    r = subprocess.run([st.worker_bin, "--replay-dlq", *args,
                        "--kafka-bootstrap-servers", st.kafka.bootstrap,
                        "--kafka-dlq-topic", w.dlq, "--kafka-topic", "px.events.raw"],
                       capture_output=True, timeout=120, env=env)
    out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
    counts = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", out)}
    return r.returncode, counts, out


def rows(px, w, ids):
    return px.ch_rows(
        "SELECT event_id, count() AS n, groupUniqArray(session_id) AS sids, "
        "groupUniqArray(session_seq) AS seqs, uniqExact(timestamp_ms) AS tss "
        "FROM %s.events WHERE event_id IN (%s) GROUP BY event_id"
        % (w.db, ", ".join("'%s'" % i for i in ids)))


def dead_letters(px, w, needle):
    return [json.loads(m["payload"]) for m in px.kafka_messages(w.dlq)
            if needle in (m.get("payload") or "")]


def raw_with(px, needle):
    return [m for m in px.kafka_messages("px.events.raw")
            if needle in (m.get("payload") or "")]


def refuse_some(px, w, n=5, bad=(1, 3)):
    """n events of one visitor, those at `bad` refused by ClickHouse; returns
    (ids, bad ids, visitor) once the good ones are stored and the bad ones
    dead-lettered."""
    caught_up(px, w)
    marker = "poison_" + uuid.uuid4().hex[:8]
    w.front.poison = marker
    visitor = "anon_replay_" + uuid.uuid4().hex[:8]
    events = [px.event("replay", anonymous_id=visitor) for _ in range(n)]
    for i in bad:
        events[i]["properties"] = {"m": marker}
    ids = [e["event_id"] for e in events]
    bad_ids = [ids[i] for i in bad]
    assert px.post_batch(events).status_code == 202
    px.wait_until(lambda: len(rows(px, w, ids)) == n - len(bad), timeout=60,
                  desc="the good rows stored")
    for i in bad_ids:
        px.wait_until(lambda: dead_letters(px, w, i), timeout=30,
                      desc="the refused row in the DLQ")
    caught_up(px, w)
    return ids, bad_ids, visitor


def assert_once(px, w, ids):
    """Each event in ClickHouse once: one row, or identical rows (a replay
    not merged yet), and one session for all (seqs 1..n)."""
    got = {r["event_id"]: r for r in rows(px, w, ids)}
    assert set(got) == set(ids), (sorted(set(ids) - set(got)), got)
    for r in got.values():
        assert len(r["sids"]) == 1 and len(r["seqs"]) == 1 and int(r["tss"]) == 1, r
    assert len({r["sids"][0] for r in got.values()}) == 1, got
    assert sorted(int(r["seqs"][0]) for r in got.values()) == list(range(1, len(ids) + 1))
    final = int(px.ch("SELECT count() FROM %s.events FINAL WHERE event_id IN (%s)"
                      % (w.db, ", ".join("'%s'" % i for i in ids))).strip())
    assert final == len(ids), final


def test_refused_rows_redriven_once_with_their_session_twice_nothing_twice(px, rw):
    w = rw
    ids, bad, _ = refuse_some(px, w)
    for i in bad:
        (dl,) = dead_letters(px, w, i)
        assert "Code: 27" in dl["reason"] and dl["source"] == "worker", dl
        assert re.match(r"^\d+:\d+$", dl["origin"]), dl
        assert dl["message"]["event_id"] == i and dl["message"]["project_id"], dl

    w.front.poison = None                      # the cause is fixed
    rc, n, out = replay(w, "--reason", "Code: 27")
    assert rc == 0, out
    assert n["selected"] == 2 and n["redriven"] == 2 and n["failed"] == 0, out
    px.wait_until(lambda: len(rows(px, w, ids)) == len(ids), timeout=60,
                  desc="the re-driven rows stored")
    caught_up(px, w)
    assert_once(px, w, ids)
    assert all(int(r["n"]) == 1 for r in rows(px, w, ids)), rows(px, w, ids)

    # (b) again: a replay of the same origins, identical rows at most
    rc, n, out = replay(w, "--reason", "Code: 27")
    assert rc == 0 and n["redriven"] == 2, out
    px.wait_until(lambda: len(raw_with(px, bad[0])) >= 3, timeout=30,
                  desc="the second re-drive in px.events.raw")
    time.sleep(2)
    caught_up(px, w)
    assert_once(px, w, ids)
    assert len(dead_letters(px, w, bad[0])) == 1      # not refused again


def test_filters_and_dry_run_select_only_what_they_should(px, rw):
    w = rw
    t0 = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    _, bad, _ = refuse_some(px, w, n=3, bad=(1,))
    junk = "junk_" + uuid.uuid4().hex[:8]
    subprocess.run(["kcat", "-P", "-b", w.stack.kafka.bootstrap, "-t", "px.events.raw"],
                   input=('{"event":"%s","event_id":"%s"}' % (junk, junk)).encode(),
                   check=True, timeout=30)
    px.wait_until(lambda: dead_letters(px, w, junk), timeout=30,
                  desc="the unparsable message in the DLQ")
    before = len(raw_with(px, bad[0])), len(raw_with(px, junk))

    def selected(*args):
        rc, n, out = replay(w, *args, "--dry-run")
        assert rc == 0 and n["would_redrive"] == n["selected"], out
        return n["selected"]

    # (older dead letters of this topic: unparsable messages of earlier tests)
    assert selected("--since", t0) == 2
    assert selected("--reason", "Code: 27") == 1
    assert selected("--reason", "Code: 27", "--since", t0) == 1
    assert selected("--reason", "no such reason") == 0
    assert selected("--since", "2999-01-01T00:00:00Z") == 0
    assert selected("--reason", "Code: 27", "--until", t0) == 0
    assert selected("--reason", "Code: 27", "--until", "2999-01-01T00:00:00Z") == 1
    time.sleep(1)
    assert (len(raw_with(px, bad[0])), len(raw_with(px, junk))) == before, \
        "--dry-run produced something"

    # the filters select, for real, only the refused row
    rc, n, out = replay(w, "--reason", "Code: 27", "--since", "2000-01-01T00:00:00Z")
    assert rc == 0 and n["redriven"] == 1, out
    px.wait_until(lambda: len(raw_with(px, bad[0])) == before[0] + 1, timeout=30,
                  desc="the refused row re-driven")
    assert len(raw_with(px, junk)) == before[1]


def test_unparsable_redriven_is_dead_lettered_again(px, rw):
    w = rw
    caught_up(px, w)
    t0 = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    junk = "junk_" + uuid.uuid4().hex[:8]
    # valid JSON, no project_id: the worker cannot make a row of it
    subprocess.run(["kcat", "-P", "-b", w.stack.kafka.bootstrap, "-t", "px.events.raw"],
                   input=('{"event":"%s","event_id":"%s"}' % (junk, junk)).encode(),
                   check=True, timeout=30)
    (first,) = px.wait_until(lambda: dead_letters(px, w, junk), timeout=30,
                             desc="the unparsable message in the DLQ")
    assert re.match(r"^\d+:\d+$", first["origin"]), first

    # (a new worker reads px.events.raw from its beginning: the unparsable
    # messages of earlier tests may be dead-lettered after t0 too)
    expected = len([d for d in dead_letters(px, w, "") if d["at"] >= t0])
    rc, n, out = replay(w, "--since", t0)
    assert rc == 0 and n["selected"] == expected and n["redriven"] == expected, out
    dls = px.wait_until(lambda: (lambda d: d if len(d) == 2 else None)(
        dead_letters(px, w, junk)), timeout=30, desc="dead-lettered again")
    # the same payload, the same origin: not lost, not stored
    assert dls[1]["payload"] == dls[0]["payload"], dls
    assert dls[1]["origin"] == dls[0]["origin"], dls
    caught_up(px, w)
    assert px.ch_rows("SELECT event_id FROM %s.events WHERE event_id = '%s'"
                      % (w.db, junk)) == []
