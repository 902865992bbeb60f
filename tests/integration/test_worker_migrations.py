"""Workers that start together on a fresh database.

A deployment of several replicas (k8s, compose --scale) starts its workers
at the same moment, and on a new install each of them finds no tables and
runs the migrations. They all read and write the bookkeeping table
<db>.schema_migrations (a TinyLog on 18.16, which refuses a read that
meets a write: "File not found ... tmp_sizes.json"); the tables' own
statements are IF NOT EXISTS and idempotent. Every worker must start, not
exit with status 1 to be restarted by its supervisor (docs/clickhouse.md,
the top of the page).
"""

import os
import re
import uuid

from pxstack.base import free_port
from pxstack.stack import sanitizer_env
from pxstack.worker import Worker

WORKERS = 4


def start_together(stack, db):
    ws = []
    for i in range(WORKERS):
        name = "mig%d-%s" % (i, db[-6:])
        # a topic of their own (they read nothing), their own dead letters
        # and Redis db: other tests' events, sessions and dead letters are
        # not theirs to touch
        env = dict(stack.worker.extra_env, CLICKHOUSE_DATABASE=db,
                   KAFKA_GROUP_ID="px-" + db, KAFKA_TOPIC="px.mig." + db,
                   KAFKA_DLQ_TOPIC="px.mig.dlq." + db)
        ws.append(Worker(stack.root, stack.worker_bin, stack.kafka.bootstrap,
                         re.sub(r"/\d+$", "/9", stack.redis.url), stack.clickhouse,
                         geoip_dir=stack.worker.geoip_dir, health_port=free_port(),
                         extra_env=env, name=name,
                         sanitizer_env=sanitizer_env(stack.logs_dir, name,
                                                     stack.worker_bin)))
    stack.extras.extend(ws)
    for w in ws:            # no wait between them: they migrate at once
        w.start()
    return ws


def test_workers_starting_together_on_a_fresh_database_all_start(px, stack):
    for attempt in range(3):    # the race is a matter of milliseconds
        db = "px_mig_%s" % uuid.uuid4().hex[:12]
        ws = start_together(stack, db)
        try:
            for w in ws:
                w.wait_healthy(60)
            logs = ""
            for w in ws:
                with open(os.path.join(stack.logs_dir, w.name + ".log"),
                          errors="replace") as f:
                    logs += f.read()
            assert "level=error" not in logs, logs[-3000:]

            latest = int(px.ch("SELECT max(version) FROM %s.schema_migrations" % db))
            tables = set(px.ch("SHOW TABLES FROM %s" % db).split())
            assert latest >= 12
            assert {"events", "sessions_by_month", "sessions_by_month_mv",
                    "sessions_summary", "schema_migrations"} <= tables, tables
            # migration 10 dropped the old view after every worker's
            # migration 3 made it: the last word on it is a drop; and
            # sessions_summary (11 drops the old one, 12 makes the new one
            # under that name) is there: a worker whose run failed after
            # its 11 goes on with its own 12
            assert "sessions_mv" not in tables, tables
            summary = px.ch("SHOW CREATE TABLE %s.sessions_summary" % db)
            assert "sessions_by_month" in summary, summary
        finally:
            for w in ws:
                w.stop(timeout=10)
                stack.extras.remove(w)
            px.ch("DROP DATABASE IF EXISTS %s" % db)
