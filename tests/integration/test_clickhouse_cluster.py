"""ClickHouse cluster mode (issue 14, docs/clickhouse.md "Cluster mode"):
the px-worker with PX_CLICKHOUSE_CLUSTER on a real cluster.

A stack of its own (module fixture `cstack`, tools/pxstack/cluster.py):
Kafka, Redis, nginx, Apache ZooKeeper and two Debian clickhouse-server
nodes, 2 shards x 1 replica. The worker inserts through node 1 into the
Distributed px.events (insert_distributed_sync=1); the tests read through
it too. Events go through the real nginx (worker_helpers.Sender); the
exactly-once check is worker_helpers.assert_exactly_once.

Checked: the tables on both nodes; a retried insert of blocks ClickHouse
stored (answers lost by a proxy) is dropped, count() exact without FINAL;
node 2 SIGKILLed under load and started again loses and doubles nothing,
visitors stay on one shard, sessions are whole; a bad or unknown cluster
name stops the worker at start; the 21.8+ form of the cluster statements
parses on ClickHouse 26.x (chdb, no stack needed).
"""

import json
import os
import subprocess
import sys
import time

import pytest

from cluster_helpers import LostAnswers
from conftest import serve_stack
from pxstack.cluster import ClusterStack
from pxstack.stack import build_dir
from worker_helpers import Client, Sender, assert_exactly_once, wait_until


@pytest.fixture(scope="module")
def cstack(tmp_path_factory):
    yield from serve_stack(tmp_path_factory, "pxcluster", "cluster stack",
                           make=ClusterStack)


def restore(stack):
    """Every service running and healthy, the worker with its cluster
    settings only."""
    for svc in stack.backends + [stack.nginx]:
        if not svc.running():
            svc.start()
        svc.wait_healthy()
    w = stack.worker
    if set(w.extra_env) != {"PX_CLICKHOUSE_CLUSTER"} or not w.running():
        w.stop()
        w.extra_env = {"PX_CLICKHOUSE_CLUSTER": stack.cluster}
        w.start()
    w.wait_healthy()


@pytest.fixture
def fx(cstack):
    restore(cstack)
    yield Client(cstack)
    restore(cstack)


def node_query(node, sql):
    return node.query(sql).strip()


def duplicated_blocks(stack):
    """Inserted blocks each node dropped as a duplicate of one it has."""
    return sum(int(node_query(n, "SELECT sum(value) FROM system.events WHERE "
                                 "event = 'DuplicatedInsertedBlocks'") or 0)
               for n in stack.nodes)


def assert_visitors_on_one_shard(fx, sender):
    """Each visitor's events are on one node, and both nodes hold some."""
    per_node = []
    for node in fx.stack.nodes:
        rows = node_query(node, "SELECT DISTINCT anonymous_id FROM px.events_local "
                                "WHERE %s" % fx.where(set(sender.accepted.values())))
        per_node.append(set(rows.split()))
    assert all(per_node), "a shard holds none of the visitors: %s" % per_node
    both = per_node[0] & per_node[1]
    assert not both, "visitors with events on both shards: %s" % sorted(both)[:5]


def report(name, result):
    sys.stderr.write("\n%s: %s\n" % (name, result))


# chdb (ClickHouse 26.x, as test_clickhouse_current.py uses it) in a child
# process: EXPLAIN AST of each statement on stdin; the local tables and the
# view (ON CLUSTER and replication taken out: chdb has neither) are run
CHDB_CHECK = r"""
import json, re, sys
from chdb import session
s = session.Session()
s.query("CREATE DATABASE px")
out = []
for st in sys.stdin.read().splitlines():
    res = {"sql": st[:90]}
    try:
        s.query("EXPLAIN AST " + st)
        local = re.sub(r"Replicated(\w+)\('[^']*', '[^']*'\)", r"\1()",
                       st.replace(" ON CLUSTER px", ""))
        # the Distributed tables (and the view over them) need a cluster
        if "Distributed(" not in st and "sessions_summary" not in st:
            s.query(local)
            res["ran"] = True
    except Exception as e:
        res["error"] = str(e)[:400]
    out.append(res)
print(json.dumps(out))
"""


def test_current_cluster_statements_parse_on_26x():
    """The cluster statements of a 21.8+ server (LowCardinality, codecs)
    parse on ClickHouse 26.x; its local tables and view are created."""
    binary = os.path.join(build_dir(), "px-schema-sql")
    sql = subprocess.run([binary, "--current", "--cluster", "px", "px"],
                         capture_output=True, text=True, check=True).stdout
    assert "LowCardinality(String)" in sql and "ON CLUSTER px" in sql, sql[:300]
    r = subprocess.run([sys.executable, "-c", CHDB_CHECK], input=sql,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    results = json.loads(r.stdout.splitlines()[-1])
    assert len(results) == len(sql.splitlines()) == 16, results
    assert not [x for x in results if "error" in x], results
    assert sum(1 for x in results if x.get("ran")) == 9, results


def test_migrations_make_replicated_and_distributed_tables(fx):
    want = {"events": "Distributed", "events_local": "ReplicatedReplacingMergeTree",
            "sessions": "Distributed",
            "sessions_local": "ReplicatedAggregatingMergeTree",
            "sessions_by_month": "Distributed",
            "sessions_by_month_local": "ReplicatedAggregatingMergeTree",
            "sessions_by_month_mv": "MaterializedView", "sessions_summary": "View"}
    for node in fx.stack.nodes:
        rows = node_query(node, "SELECT name, engine FROM system.tables "
                                "WHERE database = 'px' AND name != 'schema_migrations'")
        have = dict(line.split("\t") for line in rows.splitlines())
        assert have == want, "%s: %s" % (node.name, have)
        ddl = node_query(node, "SHOW CREATE TABLE px.events")
        assert "Distributed(px, px, events_local, sipHash64(project_id" in ddl, ddl
        ddl = node_query(node, "SHOW CREATE TABLE px.events_local")
        assert "/clickhouse/tables/{shard}/px/events_local" in ddl, ddl
    # the replicas registered in ZooKeeper, one per shard
    zk = node_query(fx.stack.clickhouse, "SELECT name FROM system.zookeeper "
                                         "WHERE path = '/clickhouse/tables'")
    assert sorted(zk.split()) == ["01", "02"], zk


def test_retried_insert_of_a_stored_block_is_dropped(fx):
    """The answers of 2 inserts that ClickHouse stored are lost: the
    worker sends the block again, and the shards drop the copies."""
    stack = fx.stack
    proxy = LostAnswers(stack.clickhouse, lose=2)
    try:
        dup0 = duplicated_blocks(stack)
        w = stack.worker
        w.stop()
        w.extra_env = {"PX_CLICKHOUSE_CLUSTER": stack.cluster, "CLICKHOUSE_URL": proxy.url}
        w.start()
        w.wait_healthy()
        s = Sender(stack, "clost", nvisitors=8, per_batch=20, pause=0)
        for k in range(1, 4):       # 3 batches at least
            s.send_burst(60)
            wait_until(lambda: fx.stored_count(s.visitors) >= 60 * k, 60,
                       desc="burst %d stored" % k)
        result = assert_exactly_once(fx, s, worker_logs=[w])
        assert proxy.lost == 2, "answers lost: %d of %d inserts" % (proxy.lost, proxy.inserts)
        # no copy was ever stored: count() without FINAL, merged or not
        n = int(fx.ch("SELECT count() FROM px.events WHERE %s"
                      % fx.where(s.visitors)).strip())
        assert n == len(s.accepted), "%d rows for %d events" % (n, len(s.accepted))
        dropped = duplicated_blocks(stack) - dup0
        assert dropped >= proxy.lost, "%d blocks dropped as duplicates, %d resent" % (
            dropped, proxy.lost)
    finally:
        proxy.close()
    report("lost answers", dict(result, inserts=proxy.inserts, resent=proxy.lost,
                                duplicate_blocks_dropped=dropped))


def test_shard_killed_under_load(fx):
    """Node 2 (a shard the worker does not talk to) is SIGKILLed while
    events flow and started again: every 202'd event is stored once and
    read through the Distributed table; sessions are whole."""
    stack = fx.stack
    node2 = stack.clickhouse2
    errors0 = fx.metrics(stack.worker).get("px_worker_clickhouse_errors_total", 0)
    s = Sender(stack, "ckill", nvisitors=12, per_batch=10, pause=0.05).start()
    try:
        s.wait_accepted(200)
        wait_until(lambda: fx.stored_count(s.visitors) > 0, 30, desc="first events stored")
        node2.kill()
        down_at = time.monotonic()
        # an insert needs every shard: the worker holds its batch and pauses
        wait_until(lambda: (fx.health(stack.worker) or {}).get("paused") is True,
                   30, desc="the worker paused while a shard is down")
        accepted_down = s.count()
        time.sleep(max(0.0, 5 - (time.monotonic() - down_at)))
        node2.start()
        node2.wait_healthy()
        n = s.count()
        s.wait_accepted(n + 200)
    finally:
        s.stop()
        if not node2.running():
            node2.start()
    assert s.count() > accepted_down, "nginx stopped accepting: " + s.summary()
    result = assert_exactly_once(fx, s, worker_logs=[stack.worker])
    assert_visitors_on_one_shard(fx, s)

    per_visitor = {}
    for v in s.accepted.values():
        per_visitor[v] = per_visitor.get(v, 0) + 1
    rows = fx.ch_rows("SELECT visitor, count() AS sessions, sum(events) AS events "
                      "FROM px.sessions_summary WHERE project_id = '%s' AND visitor "
                      "IN (%s) GROUP BY visitor" % (fx.project, ", ".join(
                          "'%s'" % v for v in per_visitor)))
    got = {r["visitor"]: (int(r["sessions"]), int(r["events"])) for r in rows}
    assert got == {v: (1, k) for v, k in per_visitor.items()}, got
    report("shard killed", dict(result, errors=fx.metrics(stack.worker).get(
        "px_worker_clickhouse_errors_total", 0) - errors0, accepted=s.summary()))


@pytest.mark.parametrize("cluster, why", [
    ("px-1", r'invalid cluster name \"px-1\" (letters, digits and _ only)'),
    ("nosuch", "Requested cluster 'nosuch' not found"),   # ClickHouse's answer
])
def test_bad_cluster_setting_stops_the_worker_at_start(fx, cluster, why):
    """A cluster name the worker cannot write into a statement, or one the
    servers do not know: the worker says so and exits 1 (no retry loop)."""
    env = fx.stack.worker.env()
    env.update({"PX_CLICKHOUSE_CLUSTER": cluster, "PX_HEALTH_PORT": "0",
                "CLICKHOUSE_DATABASE": "px_bad"})
    r = subprocess.run([fx.stack.worker_bin], env=env, capture_output=True,
                       text=True, timeout=60)
    out = r.stdout + r.stderr
    assert r.returncode == 1, "exit %d:\n%s" % (r.returncode, out[-2000:])
    errors = [line for line in out.splitlines() if "level=error" in line]
    assert errors and why in errors[-1], out[-2000:]
