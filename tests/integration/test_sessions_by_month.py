"""Sessions by month on the stack's ClickHouse 18.16 (docs/clickhouse.md,
"px.sessions_by_month and px.sessions_summary").

Checked: a session's events are counted once through a re-inserted block
(a replay reaches the materialized view again) and with a late event that
moves its start back; a session whose late event falls in the month before
its first event stays one row of its first event's month; a WHERE on
first_seen in sessions_summary reads only the matching months."""

import datetime
import time
import uuid

import requests

from worker_helpers import worker_refusing_to_start

MIN_MS = 60 * 1000


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def summary(px, where):
    return px.ch_rows("SELECT session_id, toUnixTimestamp(first_seen) AS first_s,"
                      " start_ms, end_ms, events, page_views, entry_page, exit_page"
                      " FROM px.sessions_summary WHERE %s" % where)


def test_replay_and_late_event_counted_once(px):
    visitor = "anon_sbm_" + uuid.uuid4().hex[:8]
    t0 = (int(time.time()) - 600) * 1000
    page = lambda p: {"page": {"url": "http://localhost" + p, "path": p,  # noqa: E731
                               "title": "t"}, "library": {"name": "pytest", "version": "1"}}
    first = [px.event("page_view", anonymous_id=visitor, timestamp=iso(t0), context=page("/a")),
             px.event("click", anonymous_id=visitor, timestamp=iso(t0 + MIN_MS),
                      context=page("/a"))]
    assert px.post_batch(first).status_code == 202
    where = "project_id = '%s' AND visitor = '%s'" % (px.project, visitor)
    px.wait_until(lambda: [r for r in summary(px, where) if int(r["events"]) == 2],
                  timeout=30, desc="the session's first two events")

    # late, 15 min before the start (within PX_SESSION_TIMEOUT): same session
    late = px.event("page_view", anonymous_id=visitor, timestamp=iso(t0 - 15 * MIN_MS),
                    context=page("/z"))
    assert px.post_batch([late]).status_code == 202
    rows = px.wait_until(lambda: (lambda r: r if r and int(r[0]["events"]) == 3 else None)(
        summary(px, where)), timeout=30, desc="the late event in the session")
    s = rows[0]
    assert len(rows) == 1, rows
    # first_seen: the first event's time, not the start the late one moved
    # (times as the worker corrected them for each batch's clock skew: a
    # few seconds off what was sent)
    start, end = int(s["start_ms"]), int(s["end_ms"])
    assert abs(int(s["first_s"]) - t0 // 1000) <= 5, s
    assert abs(int(s["first_s"]) * 1000 - 15 * MIN_MS - start) <= 5000, s
    assert abs(end - start - 16 * MIN_MS) <= 5000, s
    assert (int(s["page_views"]), s["entry_page"], s["exit_page"]) == (2, "/z", "/a"), s

    # a replay: the stored rows inserted again, as a worker does after a
    # crash between its insert and its commit; the view sees them again
    ids = ", ".join("'%s'" % e["event_id"] for e in first + [late])
    px.ch("INSERT INTO px.events SELECT * FROM px.events WHERE event_id IN (%s)" % ids)
    assert px.ch("SELECT count() FROM px.events WHERE event_id IN (%s)" % ids).strip() == "6"
    again = summary(px, where)
    assert len(again) == 1 and again[0] == s, again

    # every row of it in the month of its first event, one row once merged
    px.ch("OPTIMIZE TABLE px.sessions_by_month FINAL")
    parts = px.ch_rows("SELECT _partition_id AS p, count() AS n FROM px.sessions_by_month"
                       " WHERE session_id = '%s' GROUP BY p" % s["session_id"])
    month = time.strftime("%Y%m", time.gmtime(int(s["first_s"])))
    assert parts == [{"p": month, "n": "1"}], parts


def test_late_event_of_the_month_before_stays_in_the_first_events_month(px):
    """Rows as the worker writes them (session_first_ms the same on each)
    across a month boundary: the late one is in November, the session in
    December's partition, its start in November."""
    sid = str(uuid.uuid4())
    dec = int(datetime.datetime(2026, 12, 1, 0, 5, tzinfo=datetime.timezone.utc)
              .timestamp() * 1000)
    rows = [(1, dec, "e1"), (2, dec + MIN_MS, "e2"), (3, dec - 15 * MIN_MS, "e3")]
    for seq, ts, eid in rows:
        px.ch("INSERT INTO px.events (project_id, event_id, event, anonymous_id,"
              " session_id, session_seq, timestamp, timestamp_ms, session_first_ms)"
              " VALUES ('p_sbm', '%s-%s', 'page_view', 'a', '%s', %d,"
              " toDateTime(%d), %d, %d)" % (sid, eid, sid, seq, ts // 1000, ts, dec))
    px.ch("OPTIMIZE TABLE px.sessions_by_month FINAL")
    parts = px.ch_rows("SELECT _partition_id AS p FROM px.sessions_by_month"
                       " WHERE session_id = '%s'" % sid)
    assert parts == [{"p": "202612"}], parts
    got = summary(px, "session_id = '%s'" % sid)
    assert len(got) == 1, got
    assert (int(got[0]["events"]), int(got[0]["start_ms"])) == (3, dec - 15 * MIN_MS), got


def read_rows(px, sql, query_id):
    """Rows ClickHouse read for sql, from system.query_log."""
    r = requests.post(px.stack.clickhouse.url + "/", data=sql.encode(), timeout=15,
                      params={"log_queries": 1, "query_id": query_id,
                              "enable_optimize_predicate_expression": 1})
    assert r.status_code == 200, r.text

    def logged():
        px.ch("SYSTEM FLUSH LOGS")
        got = px.ch("SELECT read_rows FROM system.query_log WHERE type = 2"
                    " AND query_id = '%s'" % query_id).split()
        return got or None
    return int(px.wait_until(logged, timeout=30, desc="the query in query_log")[0])


def test_where_on_first_seen_reads_only_its_months(px):
    """With predicates pushed into views (18.16: the setting
    enable_optimize_predicate_expression=1; current servers: by default),
    a time filter on the summary reads only the partitions it names."""
    project = "p_sbm_prune_" + uuid.uuid4().hex[:6]
    months = [datetime.datetime(2025, m, 10, tzinfo=datetime.timezone.utc) for m in (1, 2, 3)]
    for i, d in enumerate(months):
        ms = int(d.timestamp() * 1000)
        values = ", ".join(
            "('%s', 'ev-%s-%d-%d', 'page_view', 'v%d', 's-%s-%d-%d', 1, toDateTime(%d), %d, %d)"
            % (project, project, i, k, k, project, i, k, ms // 1000, ms, ms) for k in range(50))
        px.ch("INSERT INTO px.events (project_id, event_id, event, anonymous_id, session_id,"
              " session_seq, timestamp, timestamp_ms, session_first_ms) VALUES " + values)
    base = "SELECT count() FROM px.sessions_summary WHERE project_id = '%s'" % project
    q = uuid.uuid4().hex
    all_rows = read_rows(px, base, "all-" + q)
    feb = read_rows(px, base + " AND first_seen >= toDateTime('2025-02-01 00:00:00')"
                    " AND first_seen < toDateTime('2025-03-01 00:00:00')", "feb-" + q)
    assert px.ch(base + " AND first_seen >= toDateTime('2025-02-01 00:00:00')"
                 " AND first_seen < toDateTime('2025-03-01 00:00:00')").strip() == "50"
    assert feb >= 50 and feb <= all_rows // 2, (feb, all_rows)


def test_sessions_ttl_on_old_clickhouse_stops_the_worker_with_a_reason(stack):
    """PX_SESSIONS_TTL_DAYS on 18.16 (no table TTL): the worker does not
    start, and says what it needs (the TTL itself: test_clickhouse_current)."""
    log = worker_refusing_to_start(stack, "sttl-worker", PX_SESSIONS_TTL_DAYS=400)
    assert "PX_SESSIONS_TTL_DAYS=400" in log and "19.6" in log, log[-2000:]
