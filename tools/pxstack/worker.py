"""px-worker: the built consumer daemon (PX_BUILD_DIR/px-worker).

Configured by the environment names of docs/worker.md; output to
DIR/logs/worker.log. Healthy when the process is alive and ClickHouse has
the table px.events (the worker creates it at start).
"""

import os
import urllib.request

from .base import Service, ServiceError


class Worker(Service):
    name = "worker"
    marker = "px-worker"
    start_timeout = 60.0
    stop_timeout = 20.0

    def __init__(self, root, binary, kafka, redis_url, clickhouse,
                 geoip_dir=None, health_port=None, extra_env=None,
                 sanitizer_env=None, name="worker"):
        """kafka: "host:port"; clickhouse: a ClickHouse service (for the
        health check and its URL); extra_env: variables to add/override."""
        self.name = name
        super().__init__(root)
        self.binary = binary
        self.kafka = kafka
        self.redis_url = redis_url
        self.clickhouse = clickhouse
        self.geoip_dir = geoip_dir
        self.health_port = health_port
        self.extra_env = dict(extra_env or {})
        self.sanitizer_env = dict(sanitizer_env or {})

    def preflight(self):
        if not os.access(self.binary, os.X_OK):
            raise ServiceError("%s: %s not built: run ./configure && make"
                               % (self.name, self.binary))

    def command(self):
        return [self.binary]

    def env(self):
        e = dict(os.environ)
        e.update({
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka,
            "REDIS_URL": self.redis_url,
            "CLICKHOUSE_URL": self.clickhouse.url,
            "BATCH_SIZE": "1000",
            "FLUSH_INTERVAL": "200",
        })
        if self.geoip_dir:
            e["PX_GEOIP_DIR"] = self.geoip_dir
        if self.health_port:
            e["PX_HEALTH_PORT"] = str(self.health_port)
        e.update(self.sanitizer_env)
        e.update(self.extra_env)
        return e

    @property
    def health_url(self):
        return ("http://127.0.0.1:%d" % self.health_port
                if self.health_port else None)

    def ports(self):
        return [("worker health", self.health_port)] if self.health_port else []

    def check(self):
        if not self.clickhouse.table_exists("px", "events"):
            return False
        if not self.health_port:
            return True
        try:
            with urllib.request.urlopen(self.health_url + "/health",
                                        timeout=2) as r:
                return r.status == 200
        except OSError:
            return False
