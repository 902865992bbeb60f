"""A PX stack whose ClickHouse is a cluster: ZooKeeper and two
clickhouse-server nodes (Debian's 18.16), 2 shards x 1 replica, the
px-worker in cluster mode (PX_CLICKHOUSE_CLUSTER, docs/clickhouse.md).

Each node's config.xml gets the cluster in <remote_servers> (both nodes on
127.0.0.1, told apart by their native ports), its <macros> ({shard},
{replica} of the replicated tables' ZooKeeper paths), <zookeeper> and
<distributed_ddl> (the queue that ON CLUSTER statements go through).
One replica per shard, but each node still has an interserver port: a
replica without one never becomes active in ZooKeeper, and an ALTER of a
replicated table waits for the active replicas (18.16 answers "some
replicas are inactive" to the worker's ADD COLUMN migration otherwise).
"""

from .base import free_port
from .clickhouse import ClickHouse
from .stack import Ports, Stack
from .zookeeper import ZooKeeper

CLUSTER = "px"

NODE_XML = """\
    <remote_servers>
        <{cluster}>
{shards}        </{cluster}>
    </remote_servers>
    <macros>
        <shard>{shard}</shard>
        <replica>{replica}</replica>
    </macros>
    <zookeeper>
        <node>
            <host>127.0.0.1</host>
            <port>{zk_port}</port>
        </node>
        <session_timeout_ms>4000</session_timeout_ms>
    </zookeeper>
    <distributed_ddl>
        <path>/clickhouse/task_queue/ddl</path>
    </distributed_ddl>
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <interserver_http_port>{interserver_port}</interserver_http_port>
"""

SHARD_XML = """\
            <shard>
                <internal_replication>true</internal_replication>
                <replica>
                    <host>127.0.0.1</host>
                    <port>{tcp_port}</port>
                </replica>
            </shard>
"""


def node_config(cluster, tcp_ports, index, zk_port, interserver_port):
    """The extra config.xml of node index (0-based) of a cluster whose
    shard i is the one server listening on tcp_ports[i]."""
    shards = "".join(SHARD_XML.format(tcp_port=p) for p in tcp_ports)
    return NODE_XML.format(cluster=cluster, shards=shards,
                           shard="%02d" % (index + 1),
                           replica="node%d" % (index + 1), zk_port=zk_port,
                           interserver_port=interserver_port)


class ClusterStack(Stack):
    """Stack with ZooKeeper and two ClickHouse shards. self.clickhouse is
    node 1 (the worker's CLICKHOUSE_URL, where tests query the Distributed
    tables); self.clickhouse2 is node 2."""

    def __init__(self, root, ports=None, cluster=CLUSTER, worker_env=None,
                 **kw):
        ports = ports or Ports.free()
        env = {"PX_CLICKHOUSE_CLUSTER": cluster}
        env.update(worker_env or {})
        super().__init__(root, ports=ports, worker_env=env, **kw)
        self.cluster = cluster
        self.zookeeper = ZooKeeper(self.root, free_port())
        http = [ports.clickhouse_http, free_port()]
        tcp = [ports.clickhouse_tcp, free_port()]
        self.nodes = [
            ClickHouse(self.root, http[i], tcp[i],
                       name="clickhouse" if i == 0 else "clickhouse%d" % (i + 1),
                       extra_config=node_config(cluster, tcp, i,
                                                self.zookeeper.port,
                                                free_port()))
            for i in range(2)]
        self.clickhouse, self.clickhouse2 = self.nodes
        self.worker.clickhouse = self.clickhouse

    @property
    def backends(self):
        return [self.kafka, self.redis, self.zookeeper] + self.nodes

    def up(self, timeout=180.0):
        # the nodes open their ZooKeeper session at start: ZooKeeper first
        self.zookeeper.start()
        self.zookeeper.wait_healthy()
        return super().up(timeout)

    def down(self):
        stopped = super().down()
        for svc in [self.clickhouse2, self.zookeeper]:
            if svc.stop():
                stopped.append(svc.name)
        return stopped
