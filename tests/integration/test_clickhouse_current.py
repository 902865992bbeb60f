"""px-worker against current ClickHouse (26.x), next to the stack's 18.16.

Every other test stores into Debian's ClickHouse 18.16; production runs
current releases (docker-compose: 24.8). Here a test-only HTTP front for
chdb (tools/pxstack/chdb_front.py: ClickHouse 26.x in-process, from the
chdb-core package) stands in for a current server, and a second real
px-worker writes to it: its own consumer group (it reads px.events.raw from
the beginning, auto.offset.reset=earliest), its own Redis database (so the
session worker's dedupe keys do not make it drop everything) and its own
dead-letter topic. So the worker's migrations run on 26.x, and its inserts
are the very bodies it posts (gzip'd JSONEachRow with
input_format_skip_unknown_fields=1 in the URL).

Checked: the migrations' tables and views exist on 26.x; events sent through
the session's nginx are stored there exactly once with the same enriched
columns as in 18.16; the sessions view works; one request of 120 events a
month apart (more partitions than max_partitions_per_insert_block allows in
one block, which 26.x refuses with code 252) is stored within seconds,
with the event after it.
"""

import datetime
import gzip
import re
import time
import uuid

import pytest
import requests

from pxstack.base import free_port, prometheus_values, tail
from pxstack.chdb_front import ChdbFront, QueryError

LONDON = "81.2.69.142"
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
          "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36")
DLQ_TOPIC = "px.events.dlq.ch26"

# the columns compared between 18.16 and 26.x (all but session_id, which
# each worker draws for itself, and inserted_at); DateTimes as epoch
# seconds, so neither server's time zone matters
COLUMNS = (
    "event_id, project_id, event, anonymous_id, user_id, session_seq,"
    " toUnixTimestamp(timestamp) AS ts, timestamp_ms, client_timestamp_ms,"
    " toUnixTimestamp(received_at) AS recv, received_at_ms,"
    " properties, context, page_url, page_path, page_title,"
    " referrer, referrer_domain, referrer_type,"
    " utm_source, utm_medium, utm_campaign, utm_term, utm_content,"
    " click_id_type, click_id, ip, country, country_name, region,"
    " region_name, city, latitude, longitude, time_zone, asn, as_org,"
    " user_agent, browser, browser_version, os, os_version, device_type,"
    " device_brand, device_model, is_bot, locale, screen, library,"
    " library_version, schema_version")


def in_list(ids):
    return ", ".join("'%s'" % i.replace("'", "") for i in ids)


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def normalized(row):
    """A row with every value as text, floats rounded (18.16 and 26.x
    print some floats differently)."""
    out = {}
    for k, v in row.items():
        if isinstance(v, float) or k in ("latitude", "longitude"):
            out[k] = "%.4f" % float(v)
        else:
            out[k] = str(v)
    return out


@pytest.fixture(scope="module")
def ch26(stack):
    """The chdb front on a free port, its data and log in the stack's dir."""
    front = ChdbFront(stack.root, free_port(), name="chdb-front")
    front.start()
    try:
        front.wait_healthy(90)
        yield front
    finally:
        front.stop()


@pytest.fixture(scope="module")
def worker26(stack, ch26):
    """A second px-worker storing into the chdb front."""
    stack.kafka.topics[DLQ_TOPIC] = 1
    stack.kafka.create_topics([DLQ_TOPIC])
    redis5 = stack.redis.url.rsplit("/", 1)[0] + "/5"
    w = stack.start_extra_worker("worker-ch26", extra_env={
        "CLICKHOUSE_URL": ch26.url,
        "KAFKA_GROUP_ID": "px-worker-ch26",
        "KAFKA_DLQ_TOPIC": DLQ_TOPIC,
        "REDIS_URL": redis5,
        "PX_IP_RETENTION_DAYS": "30",
        "PX_SESSIONS_TTL_DAYS": "400",
    }, timeout=90)
    try:
        # its /health answers before the migrations are done: wait for them
        wait_for(lambda: migrations(ch26) == list(range(1, 13)), 60,
                 "the migrations on 26.x", w, ch26)
        yield w
    finally:
        w.stop()


def migrations(front):
    try:
        return [int(r["version"]) for r in front.rows(
            "SELECT version FROM px.schema_migrations ORDER BY version")]
    except QueryError:
        return None


def wait_for(fn, timeout, desc, worker, front):
    """Poll fn until truthy; on timeout fail with both logs' last lines."""
    deadline = time.monotonic() + timeout
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() > deadline:
            pytest.fail("timed out after %ds waiting for %s (last: %r)\n"
                        "--- %s ---\n%s\n--- %s ---\n%s" % (
                            timeout, desc, last, worker.log_path,
                            tail(worker.log_path, 40), front.log_path,
                            tail(front.log_path, 20)), pytrace=False)
        time.sleep(0.2)


def metrics(worker):
    text = requests.get(worker.health_url + "/metrics", timeout=5).text
    return prometheus_values(text)


def ch_errors(worker):
    return sum(v for k, v in metrics(worker).items()
               if k.startswith("px_worker_clickhouse_errors_total"))


def test_the_front_speaks_clickhouse_http(ch26):
    """The subset of ClickHouse's HTTP interface the worker uses, and the
    partition limit the event-time policy is about."""
    base = ch26.url
    r = requests.get(base + "/ping", timeout=5)
    assert (r.status_code, r.text) == (200, "Ok.\n")
    version = requests.get(base + "/", params={"query": "SELECT version()"},
                           timeout=10).text.strip()
    assert int(version.split(".")[0]) >= 24, version

    r = requests.post(base + "/", data=b"SELECT * FROM px_nowhere.t", timeout=10)
    assert r.status_code == 404, r.text
    assert r.headers["X-ClickHouse-Exception-Code"] == "81"
    assert r.text.startswith("Code: 81. DB::Exception: "), r.text

    ch26.query("CREATE DATABASE IF NOT EXISTS scratch")
    t = "scratch.front_%s" % uuid.uuid4().hex[:8]
    r = requests.post(base + "/", auth=("default", ""), timeout=30, data=(
        "CREATE TABLE %s (d DateTime, s String) ENGINE = MergeTree"
        " PARTITION BY toYYYYMM(d) ORDER BY d" % t).encode())
    assert r.status_code == 200, r.text
    start = datetime.datetime(2010, 1, 15)

    def insert(months, **settings):
        rows = "".join('{"d":%d,"s":"m%d","unknown":1}\n' % (
            (start + datetime.timedelta(days=31 * m)).timestamp(), m)
            for m in range(months))
        return requests.post(
            base + "/", params=dict(settings, query="INSERT INTO %s FORMAT JSONEachRow" % t),
            data=gzip.compress(rows.encode()), timeout=30,
            headers={"Content-Encoding": "gzip"}, auth=("default", ""))

    r = insert(3, input_format_skip_unknown_fields=1)
    assert r.status_code == 200, r.text
    r = insert(3, input_format_skip_unknown_fields=0)   # a setting of its own
    assert r.status_code == 400 and r.headers["X-ClickHouse-Exception-Code"] == "117", r.text
    r = insert(101, input_format_skip_unknown_fields=1)
    assert r.status_code == 500, r.text
    assert r.headers["X-ClickHouse-Exception-Code"] == "252", r.text
    assert "TOO_MANY_PARTS" in r.text
    assert ch26.query("SELECT count() FROM %s" % t).strip() == "3"
    ch26.query("DROP TABLE %s" % t)


def test_migrations_on_current_clickhouse(px, ch26, worker26):
    tables = {r["name"]: r["engine"] for r in ch26.rows(
        "SELECT name, engine FROM system.tables WHERE database = 'px'")}
    assert tables == {
        "schema_migrations": "TinyLog",
        "events": "ReplacingMergeTree",
        "sessions": "AggregatingMergeTree",
        "sessions_by_month": "AggregatingMergeTree",
        "sessions_by_month_mv": "MaterializedView",
        "sessions_summary": "View",
    }, tables
    assert migrations(ch26) == list(range(1, 13))
    # the same columns and value types as the stack's 18.16; 26.x stores
    # the low-cardinality ones dictionary-coded
    cols = "SELECT name, type FROM system.columns WHERE database = 'px' AND table = '%s'"
    plain = lambda t: re.sub(r"^LowCardinality\((.*)\)$", r"\1", t)  # noqa: E731
    # (18.16's system.columns has no position: both list them in table order)
    for table in ("events", "sessions", "sessions_by_month", "sessions_summary"):
        got = [(r["name"], plain(r["type"])) for r in ch26.rows(cols % table)]
        ref = [(r["name"], r["type"]) for r in px.ch_rows(cols % table)]
        assert got == ref, table


def test_current_clickhouse_gets_the_tables_that_serve_analytics(px, ch26, worker26):
    """On 26.x the events table has LowCardinality strings, codecs and an
    ORDER BY with the event name; 18.16 keeps the tables it can take."""
    types = {r["name"]: r["type"] for r in ch26.rows(
        "SELECT name, type FROM system.columns WHERE database = 'px' AND table = 'events'")}
    for col in ("project_id", "event", "country", "browser", "os", "device_type",
                "utm_source", "referrer_type"):
        assert types[col] == "LowCardinality(String)", (col, types[col])
    for col in ("event_id", "properties", "context", "user_agent"):
        assert types[col] == "String", (col, types[col])
    create = ch26.rows("SHOW CREATE TABLE px.events")[0]["statement"]
    assert "CODEC(ZSTD(1))" in create and "CODEC(Delta(4), ZSTD(1))" in create, create
    assert re.search(r"ORDER BY \(project_id, toDate\(timestamp\), event, event_id\)",
                     create), create
    old = px.ch("SHOW CREATE TABLE px.events FORMAT TSVRaw")
    assert "LowCardinality" not in old and "CODEC" not in old, old
    assert "ORDER BY (project_id, toDate(timestamp), event_id)" in old, old


def test_events_stored_once_with_the_same_enrichment(px, ch26, worker26):
    visitor = "anon_ch26_" + uuid.uuid4().hex[:8]
    now = datetime.datetime.utcnow().replace(microsecond=0)
    page = {"url": "http://localhost/pricing?utm_source=news&utm_medium=email"
                   "&utm_campaign=launch&gclid=abc123",
            "path": "/pricing", "title": "Pricing",
            "referrer": "https://www.google.com/search?q=px"}
    events = [px.event(name, anonymous_id=visitor,
                       timestamp=iso(now - datetime.timedelta(seconds=10 - i)),
                       properties={"i": i, "plan": "pro", "text": "é \"q\""},
                       context={"page": dict(page, path="/p%d" % i),
                                "library": {"name": "pytest", "version": "1"},
                                "locale": "en-GB", "screen": {"width": 1280, "height": 800}})
              for i, name in enumerate(["page_view", "page_view", "click", "page_view"])]
    headers = {"X-Forwarded-For": LONDON, "User-Agent": CHROME}
    r = px.post_batch(events[:2], headers=headers)
    assert r.status_code == 202, r.text
    r = px.post_batch(events[2:], headers=headers, gzip=True)
    assert r.status_code == 202, r.text
    # an SDK retry: the same event_id again is a duplicate, dropped by both
    r = px.post_batch([events[0]], headers=headers)
    assert r.status_code == 202, r.text

    ids = [e["event_id"] for e in events]
    where = "event_id IN (%s)" % in_list(ids)
    ref = px.wait_until(lambda: (lambda rows: rows if len(rows) == 4 else None)(
        px.ch_rows("SELECT %s FROM px.events FINAL WHERE %s" % (COLUMNS, where))),
        timeout=30, desc="4 rows in 18.16")
    got = wait_for(lambda: (lambda rows: rows if len(rows) == 4 else None)(
        ch26.rows("SELECT %s FROM px.events WHERE %s" % (COLUMNS, where))),
        30, "4 rows on 26.x", worker26, ch26)
    # exactly once: no second row for any event, and the session worker
    # stored the same
    counts = ch26.rows("SELECT event_id, count() AS n FROM px.events WHERE %s "
                       "GROUP BY event_id" % where)
    assert sorted(int(c["n"]) for c in counts) == [1, 1, 1, 1], counts
    by_id = {r["event_id"]: normalized(r) for r in ref}
    for row in got:
        row = normalized(row)
        assert row == by_id[row["event_id"]], row["event_id"]
    sample = normalized(got[0])
    assert (sample["country"], sample["city"]) == ("GB", "London"), sample
    assert sample["browser"] == "Chrome" and sample["device_type"] == "desktop", sample
    assert sample["utm_source"] == "news" and sample["click_id_type"] != "", sample
    assert sample["referrer_type"] == "search", sample
    sessions = ch26.rows("SELECT DISTINCT session_id FROM px.events WHERE %s" % where)
    assert len(sessions) == 1 and sessions[0]["session_id"], sessions


def test_sessions_on_current_clickhouse(px, ch26, worker26):
    visitor = "anon_ch26s_" + uuid.uuid4().hex[:8]
    now = datetime.datetime.utcnow().replace(microsecond=0)
    events = [px.event(name, anonymous_id=visitor,
                       timestamp=iso(now - datetime.timedelta(seconds=30 - 10 * i)),
                       context={"page": {"url": "http://localhost/s%d" % i,
                                         "path": "/s%d" % i, "title": "s"},
                                "library": {"name": "pytest", "version": "1"}})
              for i, name in enumerate(["page_view", "click", "page_view"])]
    r = px.post_batch(events, headers={"X-Forwarded-For": LONDON, "User-Agent": CHROME})
    assert r.status_code == 202, r.text

    cols = ("visitor, user_id, start_ms, end_ms, toUnixTimestamp(start) AS start_s,"
            " toUnixTimestamp(end) AS end_s, duration_s, events, page_views,"
            " entry_page, exit_page, referrer_domain, referrer_type, utm_source,"
            " country, city, browser, os, device_type")
    sql = ("SELECT %s FROM px.sessions_summary WHERE project_id = '%s' AND visitor = '%s'"
           % (cols, px.project, visitor))

    def complete(rows):
        return rows if len(rows) == 1 and int(rows[0]["events"]) == 3 else None

    got = wait_for(lambda: complete(ch26.rows(sql)), 30, "the session on 26.x",
                   worker26, ch26)[0]
    ref = px.wait_until(lambda: complete(px.ch_rows(sql)), timeout=30,
                        desc="the session in 18.16")[0]
    assert normalized(got) == normalized(ref)
    assert (int(got["page_views"]), got["entry_page"], got["exit_page"]) == (2, "/s0", "/s2"), got
    assert float(got["duration_s"]) == 20.0, got
    assert got["country"] == "GB" and got["browser"] == "Chrome", got


def test_120_months_in_one_request_on_current_clickhouse(px, ch26, worker26):
    errors_before = ch_errors(worker26)
    visitor = "anon_ch26m_" + uuid.uuid4().hex[:8]
    now = datetime.datetime.utcnow().replace(microsecond=0)
    events = [px.event("months_%d" % m, anonymous_id=visitor,
                       timestamp=iso(now - datetime.timedelta(days=31 * m)))
              for m in range(120)]
    t0 = time.monotonic()
    r = px.post_batch(events)
    assert r.status_code == 202 and r.json()["accepted"] == 120, r.text
    after = px.event("after_the_months", anonymous_id=visitor)
    r = px.post_batch([after])
    assert r.status_code == 202, r.text

    ids = [e["event_id"] for e in events] + [after["event_id"]]
    sql = "SELECT uniqExact(event_id) FROM px.events WHERE event_id IN (%s)" % in_list(ids)
    wait_for(lambda: ch26.query(sql).strip() == "121", 30,
             "the 121 events on 26.x", worker26, ch26)
    took = time.monotonic() - t0
    assert took < 15, "stored only after %.1fs" % took
    rows = ch26.rows("SELECT event, timestamp_ms, client_timestamp_ms, "
                     "toYYYYMM(timestamp) AS month FROM px.events "
                     "WHERE event_id IN (%s)" % in_list(ids))
    assert len(rows) == 121
    assert len({r["month"] for r in rows}) <= 2, sorted({r["month"] for r in rows})
    # the client's time is kept
    clients = {r["event"]: int(r["client_timestamp_ms"]) for r in rows}
    assert abs(clients["months_119"] - (now - datetime.timedelta(days=31 * 119)).replace(
        tzinfo=datetime.timezone.utc).timestamp() * 1000) < 120000, clients["months_119"]
    assert ch_errors(worker26) == errors_before, tail(worker26.log_path, 20)


def test_no_clickhouse_error_on_current_clickhouse(ch26, worker26):
    """Last: nothing the worker sent in this module was refused by 26.x
    (a row refused would count as an error too, before its dead letter)."""
    assert ch_errors(worker26) == 0, tail(worker26.log_path, 30)
    assert "Code: " not in tail(worker26.log_path, 400), tail(worker26.log_path, 30)


def test_ip_retention_is_a_column_ttl_on_current_clickhouse(ch26, worker26):
    """PX_IP_RETENTION_DAYS=30: ClickHouse empties the raw address 30 days
    after received_at (docs/deploy.md, "Personal data")."""
    create = wait_for(lambda: (lambda r: r if r and "TTL" in r[0]["statement"] else None)(
        ch26.rows("SHOW CREATE TABLE px.events")), 30, "the ip column's TTL",
        worker26, ch26)[0]["statement"]
    assert re.search(r"`?ip`? String( CODEC\(ZSTD\(1\)\))? TTL received_at \+ "
                     r"toIntervalDay\(30\)", create), create


def test_sessions_ttl_on_current_clickhouse(ch26, worker26):
    """PX_SESSIONS_TTL_DAYS=400: a table TTL on sessions_by_month, from the
    session's first event (docs/clickhouse.md, "Retention")."""
    create = wait_for(lambda: (lambda r: r if r and "TTL" in r[0]["statement"] else None)(
        ch26.rows("SHOW CREATE TABLE px.sessions_by_month")), 30,
        "the sessions' TTL", worker26, ch26)[0]["statement"]
    assert "TTL first_seen + toIntervalDay(400)" in create, create
    assert "PARTITION BY toYYYYMM(first_seen)" in create, create
