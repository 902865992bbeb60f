#!/usr/bin/env python3
"""The events table on current ClickHouse: the 18.16 form against the
current form (LowCardinality, codecs, ORDER BY with the event name), on
the same rows: disk size and three typical queries.

Runs in-process on chdb-core (ClickHouse 26.x; scripts/install-deps.sh
installs it), in a temporary directory. Both tables are made by the
worker's own migrations (build/px-schema-sql prints them), filled with the
same N synthetic rows (default 1,000,000: 4 projects, 40,000 visitors,
12 event names, 60 days, 40 countries, a dozen browsers, ~600 bytes of
properties and context each), merged (OPTIMIZE FINAL), then:

  size: bytes on disk, compressed and uncompressed, of each table;
  q1:   events per day by name for one project;
  q2:   unique visitors by country for a week of one project;
  q3:   a two-step funnel (page_view then signup within an hour) for a week;
each query run 5 times, best time, rows and bytes read.

    python3 bench/schema_bench.py [--rows 1000000] [--out FILE]

Figures, not a test: exit 0 whether the current form wins or not.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

FILL = """
INSERT INTO {db}.events
SELECT
    concat('proj_', toString(n % 4)) AS project_id,
    toString(generateUUIDv4()) AS event_id,
    ['page_view', 'page_view', 'page_view', 'click', 'click', 'scroll',
     'signup', 'login', 'add_to_cart', 'checkout_step', 'purchase', 'search'][
        1 + cityHash64(n) % 12] AS event,
    concat('anon_', toString(v)) AS anonymous_id,
    if(v % 5 = 0, concat('user_', toString(v)), '') AS user_id,
    lower(hex(sipHash128(toString(v), toString(intDiv(n, 400))))) AS session_id,
    toUInt32(1 + n % 25) AS session_seq,
    toDateTime('2026-09-01 00:00:00') + cityHash64(n, 7) % (60 * 86400) AS timestamp,
    toUInt64(timestamp) * 1000 + n % 1000 AS timestamp_ms,
    timestamp_ms - 150 AS client_timestamp_ms,
    timestamp + 1 AS received_at, timestamp_ms + 900 AS received_at_ms,
    concat('{{"plan":"', ['free', 'pro', 'enterprise'][1 + v % 3],
           '","cart_value":', toString(cityHash64(n, 3) % 500),
           ',"item_id":"sku_', toString(cityHash64(n, 4) % 2000),
           '","ab_test":"variant_', toString(v % 4), '"}}') AS properties,
    concat('{{"page":{{"url":"https://shop', toString(n % 4), '.example/p/',
           toString(cityHash64(n, 5) % 20), '?ref=nav","path":"/p/',
           toString(cityHash64(n, 5) % 20),
           '","title":"Product page"}},"screen":"1920x1080","locale":"en-US",',
           '"library":{{"name":"px-sdk-web","version":"0.1.0"}},"timezone":"Europe/Paris"}}')
        AS context,
    concat('https://shop', toString(n % 4), '.example/p/', toString(cityHash64(n, 5) % 20),
           '?ref=nav') AS page_url,
    concat('/p/', toString(cityHash64(n, 5) % 20)) AS page_path,
    'Product page' AS page_title,
    ['', 'https://www.google.com/', 'https://t.co/x', 'https://news.example/a'][
        1 + cityHash64(v, 9) % 4] AS referrer,
    ['', 'google.com', 't.co', 'news.example'][1 + cityHash64(v, 9) % 4] AS referrer_domain,
    ['direct', 'search', 'social', 'other'][1 + cityHash64(v, 9) % 4] AS referrer_type,
    ['', 'newsletter', 'google', 'twitter'][1 + cityHash64(v, 11) % 4] AS utm_source,
    ['', 'email', 'cpc', 'social'][1 + cityHash64(v, 11) % 4] AS utm_medium,
    ['', 'black_friday', 'winter', 'launch'][1 + cityHash64(v, 11) % 4] AS utm_campaign,
    '' AS utm_term, '' AS utm_content,
    if(v % 7 = 0, 'gclid', '') AS click_id_type,
    if(v % 7 = 0, hex(cityHash64(v)), '') AS click_id,
    IPv4NumToString(toUInt32(cityHash64(v, 13))) AS ip,
    concat('C', toString(cityHash64(v, 17) % 40)) AS country,
    concat('Country ', toString(cityHash64(v, 17) % 40)) AS country_name,
    concat('R', toString(cityHash64(v, 19) % 200)) AS region,
    concat('Region ', toString(cityHash64(v, 19) % 200)) AS region_name,
    concat('City ', toString(cityHash64(v, 23) % 1000)) AS city,
    (cityHash64(v, 29) % 18000) / 100.0 - 90 AS latitude,
    (cityHash64(v, 31) % 36000) / 100.0 - 180 AS longitude,
    'Europe/Paris' AS time_zone,
    toUInt32(cityHash64(v, 37) % 3000) AS asn,
    concat('AS org ', toString(cityHash64(v, 37) % 3000)) AS as_org,
    concat('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) ',
           'Chrome/', toString(110 + v % 12), '.0.0.0 Safari/537.36') AS user_agent,
    ['Chrome', 'Chrome', 'Firefox', 'Safari', 'Edge', 'Mobile Safari', 'Chrome Mobile',
     'Samsung Internet', 'Opera', 'Chrome Mobile iOS', 'Firefox Mobile', 'Other'][
        1 + cityHash64(v, 41) % 12] AS browser,
    toString(110 + v % 12) AS browser_version,
    ['Windows', 'Mac OS X', 'iOS', 'Android', 'Linux', 'Chrome OS'][
        1 + cityHash64(v, 43) % 6] AS os,
    toString(10 + v % 6) AS os_version,
    ['desktop', 'desktop', 'mobile', 'tablet'][1 + cityHash64(v, 47) % 4] AS device_type,
    ['', 'Apple', 'Samsung', 'Google'][1 + cityHash64(v, 53) % 4] AS device_brand,
    ['', 'iPhone', 'Galaxy S23', 'Pixel 8'][1 + cityHash64(v, 53) % 4] AS device_model,
    toUInt8(v % 50 = 0) AS is_bot,
    ['en-US', 'fr-FR', 'de-DE', 'es-ES'][1 + v % 4] AS locale,
    ['1920x1080', '1440x900', '390x844', '768x1024'][1 + cityHash64(v, 59) % 4] AS screen,
    'px-sdk-web' AS library, '0.1.0' AS library_version,
    toUInt16(1) AS schema_version,
    received_at AS inserted_at,
    toUInt64(timestamp_ms - (1 + n % 25) * 1000) AS session_first_ms
FROM (SELECT number AS n, cityHash64(number, 1) % {visitors} AS v FROM numbers({rows}))
"""

WEEK = "timestamp >= '2026-10-05 00:00:00' AND timestamp < '2026-10-12 00:00:00'"
QUERIES = [
    ("q1 events per day by name, one project",
     "SELECT toDate(timestamp) AS day, event, count() FROM {db}.events "
     "WHERE project_id = 'proj_1' GROUP BY day, event ORDER BY day, event"),
    ("q2 unique visitors by country, one week",
     "SELECT country, uniqExact(anonymous_id) AS visitors FROM {db}.events "
     "WHERE project_id = 'proj_1' AND " + WEEK + " GROUP BY country ORDER BY visitors DESC, country"),
    ("q3 funnel page_view -> signup within 1 h, one week",
     "SELECT countIf(s >= 1) AS viewed, countIf(s >= 2) AS signed_up FROM ("
     " SELECT anonymous_id, windowFunnel(3600)(timestamp, event = 'page_view',"
     " event = 'signup') AS s FROM {db}.events WHERE project_id = 'proj_1' AND "
     + WEEK + " AND event IN ('page_view', 'signup') GROUP BY anonymous_id)"),
]


def schema_statements(tool, db, current):
    out = subprocess.run([tool] + (["--current"] if current else []) + [db],
                         capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1000000, help="rows (1,000,000)")
    p.add_argument("--runs", type=int, default=5, help="runs of each query (5)")
    p.add_argument("--out", help="JSON results (default /tmp/px-bench/schema-<date>.json)")
    args = p.parse_args(argv)
    tool = os.path.join(REPO, "build", "px-schema-sql")
    if not os.access(tool, os.X_OK):
        p.error("build/px-schema-sql missing: ./configure && make")
    try:
        from chdb import session as chs
    except ImportError:
        p.error("chdb-core missing: scripts/install-deps.sh")

    root = tempfile.mkdtemp(prefix="px-schema-bench-")
    res = {"rows": args.rows, "tables": {}}
    try:
        s = chs.Session(os.path.join(root, "chdb"))
        q = lambda sql, fmt="TabSeparated": s.query(sql, fmt).bytes().decode()  # noqa: E731
        res["clickhouse"] = q("SELECT version()").strip()
        forms = (("18.16 form", "t1816", False), ("current form", "tcur", True))
        for label, db, current in forms:
            q("CREATE DATABASE %s" % db)
            for sql in schema_statements(tool, db, current):
                q(sql)
        t = time.monotonic()
        q(FILL.format(db="t1816", rows=args.rows, visitors=max(1, args.rows // 25)))
        res["fill_s"] = time.monotonic() - t
        q("INSERT INTO tcur.events SELECT * FROM t1816.events")
        for label, db, current in forms:
            q("OPTIMIZE TABLE %s.events FINAL" % db)
            size = json.loads(q(
                "SELECT sum(rows) AS rows, sum(bytes_on_disk) AS disk, "
                "sum(data_compressed_bytes) AS compressed, "
                "sum(data_uncompressed_bytes) AS uncompressed FROM system.parts "
                "WHERE database = '%s' AND table = 'events' AND active" % db, "JSONEachRow"))
            tab = {"size": size, "queries": {}}
            for name, sql in QUERIES:
                best, stat, answer = None, None, None
                for _ in range(args.runs):
                    out = json.loads(q(sql.format(db=db), "JSON"))
                    st = out["statistics"]
                    if best is None or st["elapsed"] < best:
                        best, stat = st["elapsed"], st
                    answer = out["data"]
                tab["queries"][name] = {"best_ms": best * 1000, "rows_read": stat["rows_read"],
                                        "bytes_read": stat["bytes_read"],
                                        "answer_rows": len(answer),
                                        "answer_digest": hash(json.dumps(answer, sort_keys=True))}
            res["tables"][label] = tab
        s.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)

    a, b = res["tables"]["18.16 form"], res["tables"]["current form"]
    print("PX schema benchmark: ClickHouse %s (chdb), %d rows, filled in %.1f s" % (
        res["clickhouse"], args.rows, res["fill_s"]))
    print("%-52s %14s %14s %8s" % ("", "18.16 form", "current form", "ratio"))
    for k in ("disk", "compressed", "uncompressed"):
        x, y = int(a["size"][k]), int(b["size"][k])
        print("%-52s %11.1f MB %11.1f MB %7.2fx" % ("bytes " + k, x / 1e6, y / 1e6, x / y))
    for name, _ in QUERIES:
        x, y = a["queries"][name], b["queries"][name]
        same = "same answer" if x["answer_digest"] == y["answer_digest"] else "ANSWERS DIFFER"
        print("%-52s %11.1f ms %11.1f ms %7.2fx  %s" % (
            name, x["best_ms"], y["best_ms"], x["best_ms"] / max(y["best_ms"], 1e-3), same))
        print("%-52s %11.1f MB %11.1f MB %7.2fx" % (
            "  read", x["bytes_read"] / 1e6, y["bytes_read"] / 1e6,
            x["bytes_read"] / max(y["bytes_read"], 1)))
    out = args.out or os.path.join("/tmp/px-bench", "schema-%s.json" % time.strftime(
        "%Y%m%d-%H%M%S"))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(res, f, indent=2)
    print("results: %s" % out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
