#!/usr/bin/env python3
"""The sessions aggregate, before and after (docs/clickhouse.md,
"px.sessions_by_month and px.sessions_summary"), on ClickHouse 18.16.

Starts its own ClickHouse (tools/pxstack) in a temporary directory on free
loopback ports and makes two databases with the worker's own migrations
(build/px-schema-sql): `old` with migrations 1-4 only (px.sessions:
uniqExact(event_id) in one partition), `new` with all of them
(px.sessions_by_month: max(session_seq), monthly partitions). The same N
synthetic events go into each: 1,000 sessions open at a time, 25 events
each spread over 5 insert blocks of 5,000 rows (a session's rows merge
across parts, as with real interleaved visitors), sessions 5 minutes
apart, so 1M events are 40,000 sessions over ~4.5 months. Then, per database:

  insert: ClickHouse CPU (utime+stime of the server, merges included, until
          system.merges is empty) per event.  px.events is made a Null
          table here (the materialized view still sees every insert), and
          a third database has no aggregate: the difference is the
          aggregate's own CPU.  Each is run --rounds times, alternating,
          and the lowest kept (the machine is shared);
  size:   the aggregate's rows and bytes on disk after OPTIMIZE FINAL;
  query:  sessions per day for one week through px.sessions_summary (old:
          WHERE on start, new: on first_seen with
          enable_optimize_predicate_expression=1), best of 5, and the rows
          it read (system.query_log).

    python3 bench/sessions_bench.py [--events 1000000]

Figures, not a test: exit 0 whatever they are.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tools"))

from pxstack.base import free_port  # noqa: E402
from pxstack.clickhouse import ClickHouse  # noqa: E402

BLOCK = 5000
BASE_S = 1788220800          # 2026-09-01 00:00:00 UTC

# event n: session (n % 1000) + 1000 * (n // 25000), seq n // 1000 % 25 + 1
FILL = """
INSERT INTO {db}.events ({cols})
SELECT 'proj_1' AS project_id, concat('ev_', toString(n)) AS event_id,
  if(seq % 3 = 1, 'page_view', 'click') AS event,
  concat('anon_', toString(sess % 40000)) AS anonymous_id,
  concat('s_', toString(sess)) AS session_id, toUInt32(seq) AS session_seq,
  toDateTime({base} + sess * 300 + seq * 30) AS timestamp,
  toUInt64({base} + sess * 300 + seq * 30) * 1000 AS timestamp_ms,
  concat('/p/', toString(seq % 7)) AS page_path, 'GB' AS country
  {first}
FROM (SELECT number + {lo} AS n, n % 1000 + 1000 * intDiv(n, 25000) AS sess,
             intDiv(n, 1000) % 25 + 1 AS seq FROM system.numbers LIMIT {rows})
"""
COLS = ("project_id, event_id, event, anonymous_id, session_id, session_seq,"
        " timestamp, timestamp_ms, page_path, country")

WEEK = ("toDateTime('2026-09-08 00:00:00')", "toDateTime('2026-09-15 00:00:00')")
QUERY = {
    "old": "SELECT toDate(start) AS day, count(), avg(events) FROM {db}.sessions_summary"
           " WHERE project_id = 'proj_1' AND start >= %s AND start < %s"
           " GROUP BY day ORDER BY day" % WEEK,
    "new": "SELECT toDate(first_seen) AS day, count(), avg(events) FROM {db}.sessions_summary"
           " WHERE project_id = 'proj_1' AND first_seen >= %s AND first_seen < %s"
           " GROUP BY day ORDER BY day" % WEEK,
}
AGG = {"old": "sessions", "new": "sessions_by_month"}


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    def __init__(self, ch):
        self.ch = ch

    def q(self, sql, **params):
        r = requests.post(self.ch.url + "/", data=sql.encode(), params=params, timeout=900)
        if r.status_code != 200:
            raise RuntimeError("%s\n%s" % (r.text[:500], sql[:300]))
        return r.text

    def idle(self, timeout=600):
        end = time.time() + timeout
        while time.time() < end:
            if self.q("SELECT count() FROM system.merges").strip() == "0":
                return
            time.sleep(0.5)


def schema(db, kind):
    """The worker's statements for kind: none (the events table only), old
    (migrations 1-4) or new (all).  The events table is a Null one, so the
    CPU measured is the insert's and the aggregate's, not the events'."""
    tool = os.path.join(REPO, "build", "px-schema-sql")
    out = subprocess.run([tool, db], capture_output=True, text=True, check=True).stdout
    sts = [s for s in out.splitlines() if s.strip()][:{"none": 1, "old": 4}.get(kind, 99)]
    events = re.sub(r" ENGINE = ReplacingMergeTree\(\).*$", " ENGINE = Null", sts[0])
    if kind == "new":
        events = events.replace(" inserted_at DateTime)",
                                " inserted_at DateTime, session_first_ms UInt64)")
    return [events] + [st for st in sts[1:] if "ADD COLUMN" not in st]


def run(srv, pid, db, n):
    kind = db.rstrip("0123456789")
    srv.q("CREATE DATABASE IF NOT EXISTS %s" % db)
    for st in schema(db, kind):
        srv.q(st)
    first = ", toUInt64({base} + sess * 300 + 30) * 1000 AS session_first_ms".format(base=BASE_S)
    cols = COLS + (", session_first_ms" if kind == "new" else "")
    c0, t0 = cpu_seconds(pid), time.time()
    for lo in range(0, n, BLOCK):
        srv.q(FILL.format(db=db, cols=cols, base=BASE_S, lo=lo, rows=min(BLOCK, n - lo),
                          first=first if kind == "new" else ""))
    srv.idle()
    cpu, wall = cpu_seconds(pid) - c0, time.time() - t0
    if kind == "none":
        return {"cpu_us_per_event": cpu / n * 1e6, "wall_s": wall}
    agg = AGG[kind]
    parts = srv.q("SELECT count(), uniqExact(partition) FROM system.parts WHERE active"
                  " AND database = '%s' AND table = '%s'" % (db, agg)).split()
    srv.q("OPTIMIZE TABLE %s.%s FINAL" % (db, agg))
    rows, size = srv.q("SELECT sum(rows), sum(bytes) FROM system.parts WHERE active"
                       " AND database = '%s' AND table = '%s'" % (db, agg)).split()
    best, qid = None, None
    for i in range(5):
        qid = "sb-%s-%d-%d" % (db, i, os.getpid())
        t = time.time()
        srv.q(QUERY[kind].format(db=db), log_queries=1, query_id=qid,
              enable_optimize_predicate_expression=1 if kind == "new" else 0)
        d = time.time() - t
        best = d if best is None else min(best, d)
    read = None
    for _ in range(40):
        srv.q("SYSTEM FLUSH LOGS")
        got = srv.q("SELECT read_rows FROM system.query_log WHERE type = 2"
                    " AND query_id = '%s'" % qid).split()
        if got:
            read = int(got[0])
            break
        time.sleep(0.5)
    sessions = srv.q("SELECT count() FROM %s.sessions_summary" % db).strip()
    return {"cpu_us_per_event": cpu / n * 1e6, "wall_s": wall, "parts_before_optimize": parts[0],
            "partitions": parts[1], "agg_rows": int(rows), "agg_bytes": int(size),
            "sessions": sessions, "query_ms": best * 1000, "query_read_rows": read}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, default=1000000)
    p.add_argument("--rounds", type=int, default=2,
                   help="runs of each, alternating; the lowest CPU is kept")
    args = p.parse_args(argv)
    root = tempfile.mkdtemp(prefix="px-sessions-bench-")
    ch = ClickHouse(root, free_port(), free_port())
    try:
        ch.start()
        ch.wait_healthy()
        srv = Server(ch)
        pid = ch.pid()
        res = {}
        for rnd in range(args.rounds):
            for k in ("none", "old", "new"):
                r = run(srv, pid, "%s%d" % (k, rnd), args.events)
                if k not in res or r["cpu_us_per_event"] < res[k]["cpu_us_per_event"]:
                    res[k] = r
    finally:
        ch.stop()
        shutil.rmtree(root, ignore_errors=True)
    print("%d events, blocks of %d rows, ClickHouse %s" % (args.events, BLOCK, "18.16"))
    keys = ["cpu_us_per_event", "wall_s", "parts_before_optimize", "partitions", "agg_rows",
            "agg_bytes", "sessions", "query_ms", "query_read_rows"]
    base = res["none"]["cpu_us_per_event"]
    for k in ("old", "new"):
        res[k]["aggregate_cpu_us_per_event"] = res[k]["cpu_us_per_event"] - base
    keys.insert(1, "aggregate_cpu_us_per_event")
    print("events alone (no aggregate): %.2f us CPU per event, %.2f s"
          % (base, res["none"]["wall_s"]))
    print("%-26s %17s %16s" % ("", "old (px.sessions)", "new (by month)"))
    for k in keys:
        o, nw = res["old"][k], res["new"][k]
        fmt = (lambda v: "%.2f" % v) if isinstance(o, float) else str
        print("%-26s %17s %16s" % (k, fmt(o), fmt(nw)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
