"""The whole PX stack in one directory: Kafka, Redis, ClickHouse, nginx with
the PX module, px-worker.

Layout of DIR:
    stack.json          ports and build dir of this stack (read by status/down)
    logs/               every service's log (kafka.log, redis.log,
                        clickhouse.log + clickhouse-server{,.err}.log,
                        nginx.log + nginx-error.log + nginx-access.log,
                        worker.log, sanitizer reports asan-*/ubsan-*)
    run/<service>.pid   pids of running services
    kafka/ redis/ clickhouse/ nginx/   configs and data
    keys.conf           px_keys file with the demo key
"""

import dataclasses
import json
import os
import re
import subprocess
import sys
import time

from .base import (PortInUse, Service, ServiceError, free_port, port_in_use,
                   write_file)
from .clickhouse import ClickHouse
from .kafka import Kafka
from .nginx import Nginx, write_keys
from .redis import Redis
from .worker import Worker

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_KEY = "px_test_1234567890abcdef"
DEMO_PROJECT = "proj_demo_uuid"
DEMO_KEY_LINE = "%s %s enterprise" % (DEMO_KEY, DEMO_PROJECT)


@dataclasses.dataclass
class Ports:
    nginx: int = 8000
    kafka: int = 9092
    kafka_controller: int = 9093
    redis: int = 6379
    clickhouse_http: int = 8123
    clickhouse_tcp: int = 9000
    worker_health: int = 8091

    @classmethod
    def free(cls):
        """Ports that are free now on 127.0.0.1 (for tests)."""
        return cls(**{f.name: free_port() for f in dataclasses.fields(cls)})

    def as_dict(self):
        return dataclasses.asdict(self)


def build_dir(repo=REPO):
    """PX_BUILD_DIR (relative to the repo or absolute), default build/."""
    d = os.environ.get("PX_BUILD_DIR") or "build"
    return d if os.path.isabs(d) else os.path.join(repo, d)


def default_geoip_dir(repo=REPO):
    d = os.environ.get("PX_GEOIP_DIR")
    if d:
        return d
    d = os.path.join(repo, "tests", "data", "geoip")
    return d if os.path.isdir(d) else None


def _needed_libs(path):
    """DT_NEEDED entries of an ELF file ([] when readelf is unavailable)."""
    try:
        out = subprocess.run(["readelf", "-d", path], capture_output=True,
                             timeout=10).stdout.decode(errors="replace")
    except (OSError, subprocess.TimeoutExpired):
        return []
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def _runtime_path(lib):
    try:
        out = subprocess.run(["gcc", "-print-file-name=" + lib], capture_output=True,
                             timeout=10).stdout.decode().strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out if os.path.isabs(out) and os.path.exists(out) else None


def sanitizer_env(logs_dir, name, binary, preload=False, leaks=True):
    """Environment for a sanitizer-built program: errors are fatal and
    reported to DIR/logs/{asan,ubsan}-<name>.<pid>. With preload (a stock
    binary loading a sanitized module) the runtimes go into LD_PRELOAD."""
    libs = _needed_libs(binary) if binary and os.path.exists(binary) else []
    san = [l for l in libs if re.match(r"lib(asan|ubsan|tsan|lsan)\.so", l)]
    if not san and "san" not in os.path.basename(os.path.dirname(binary or "")):
        return {}
    env = {
        "ASAN_OPTIONS": os.environ.get("PX_ASAN_OPTIONS") or ":".join([
            "halt_on_error=1", "abort_on_error=0", "exitcode=86",
            "detect_leaks=%d" % (1 if leaks else 0),
            "log_path=" + os.path.join(logs_dir, "asan-" + name),
            "allocator_may_return_null=1",
        ]),
        "UBSAN_OPTIONS": os.environ.get("PX_UBSAN_OPTIONS") or ":".join([
            "halt_on_error=1", "print_stacktrace=1",
            "log_path=" + os.path.join(logs_dir, "ubsan-" + name),
        ]),
        "LSAN_OPTIONS": os.environ.get("PX_LSAN_OPTIONS") or
        "suppressions=" + os.path.join(REPO, "tests", "lsan.supp")
        if os.path.exists(os.path.join(REPO, "tests", "lsan.supp")) else "",
    }
    if not env["LSAN_OPTIONS"]:
        del env["LSAN_OPTIONS"]
    if preload:
        paths = [p for p in (_runtime_path(l) for l in sorted(san)) if p]
        # libasan must come first in the initial library list
        paths.sort(key=lambda p: 0 if "libasan" in p else 1)
        if paths:
            env["LD_PRELOAD"] = " ".join(paths)
    return env


def _say(msg):
    print(msg, file=sys.stderr, flush=True)


class Stack:
    def __init__(self, root, ports=None, build=None, geoip_dir=None,
                 worker_env=None, nginx_http_extra="", nginx_server_extra="",
                 keys=None, say=_say):
        """root: the stack directory; ports: Ports (default: those recorded
        in root/stack.json, else the standard ones); build: directory with
        ngx_http_px_module.so and px-worker (default $PX_BUILD_DIR or
        build/); keys: px_keys lines (default: the demo key)."""
        self.root = os.path.abspath(root)
        self.state_file = os.path.join(self.root, "stack.json")
        state = self._load_state()
        if ports is None:
            ports = (Ports(**{k: v for k, v in state["ports"].items()
                              if k in Ports.__dataclass_fields__})
                     if state.get("ports") else Ports())
        self.ports = ports
        self.build = os.path.abspath(build or state.get("build") or build_dir())
        self.say = say
        self.logs_dir = os.path.join(self.root, "logs")
        self.keys_file = os.path.join(self.root, "keys.conf")
        self.key_lines = list(keys) if keys is not None else [DEMO_KEY_LINE]
        self.module = os.path.join(self.build, "ngx_http_px_module.so")
        self.worker_bin = os.path.join(self.build, "px-worker")

        self.kafka = Kafka(self.root, ports.kafka, ports.kafka_controller)
        self.redis = Redis(self.root, ports.redis)
        self.clickhouse = ClickHouse(self.root, ports.clickhouse_http,
                                     ports.clickhouse_tcp)
        self.nginx = self._make_nginx("nginx", ports.nginx, nginx_http_extra,
                                      nginx_server_extra)
        self.worker = Worker(
            self.root, self.worker_bin, self.kafka.bootstrap, self.redis.url,
            self.clickhouse, geoip_dir=geoip_dir or default_geoip_dir(),
            health_port=ports.worker_health, extra_env=worker_env,
            sanitizer_env=sanitizer_env(self.logs_dir, "worker", self.worker_bin))
        self.extras = []

    # -- composition ----------------------------------------------------------

    def _make_nginx(self, name, port, http_extra="", server_extra="",
                    module=True, health_status=(200,), keys=None, realip=True,
                    kafka=None, dlq_topic="px.events.dlq"):
        mod = self.module if module else None
        keys_file = self.keys_file
        if keys is not None:
            # its own key file: DIR/<name>/keys.conf
            keys_file = os.path.join(self.root, name, "keys.conf")
            write_keys(keys_file, keys)
        return Nginx(
            self.root, port, mod, kafka or self.kafka.bootstrap, keys_file,
            os.path.join(REPO, "sdk-web"), name=name, http_extra=http_extra,
            server_extra=server_extra, health_status=health_status,
            realip=realip, dlq_topic=dlq_topic, sanitizer_env=sanitizer_env(self.logs_dir, name, mod, preload=True,
                                        leaks=False) if mod else {})

    @property
    def backends(self):
        return [self.kafka, self.redis, self.clickhouse]

    @property
    def services(self):
        return self.backends + [self.nginx, self.worker] + self.extras

    def _load_state(self):
        try:
            with open(self.state_file) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def _save_state(self):
        write_file(self.state_file, json.dumps(
            {"ports": self.ports.as_dict(), "build": self.build}, indent=2) + "\n")

    def info(self):
        """What runs where (the `up --json` object)."""
        return {
            "dir": self.root,
            "nginx": self.nginx.url,
            "clickhouse": self.clickhouse.url,
            "kafka": self.kafka.bootstrap,
            "redis": self.redis.url,
            "worker": self.worker.health_url,
            "api_key": DEMO_KEY,
            "project_id": DEMO_PROJECT,
        }

    # -- lifecycle --------------------------------------------------------------

    def check_ports(self, services=None):
        """ServiceError naming every port that a service which is not
        running needs but something else holds."""
        busy = []
        for svc in services or self.services:
            if not svc.running():
                busy += [(svc.name, label, p) for label, p in svc.busy_ports()]
        if busy:
            raise PortInUse("port%s already in use: %s" % (
                "s" if len(busy) > 1 else "",
                ", ".join("%d (%s)" % (p, label) for _, label, p in busy)))

    def up(self, timeout=180.0):
        """Start whatever is not running and wait until all are healthy.
        Returns {service name: True if started now, False if already running}.
        On failure, stops what this call started and raises ServiceError."""
        os.makedirs(self.logs_dir, exist_ok=True)
        self.check_ports()
        for svc in self.services:
            if not svc.running():
                svc.preflight()
        write_keys(self.keys_file, self.key_lines)
        self._save_state()
        deadline = time.monotonic() + timeout
        started = {}
        try:
            for group in (self.backends, [self.nginx, self.worker]):
                for svc in group:
                    t0 = time.monotonic()
                    started[svc.name] = svc.start()
                    svc._t0 = t0
                # wait for the quick ones first, so the times printed are
                # each service's own
                for svc in sorted(group, key=lambda s: s.start_timeout):
                    svc.wait_healthy(max(1.0, min(svc.start_timeout,
                                                  deadline - time.monotonic())))
                    if started[svc.name]:
                        self.say("pxstack: %-10s healthy after %.1fs" % (
                            svc.name, time.monotonic() - svc._t0))
                    else:
                        self.say("pxstack: %-10s already running (pid %s)" % (
                            svc.name, svc.pid()))
        except BaseException:
            for svc in reversed(self.services):
                if started.get(svc.name):
                    try:
                        svc.stop(timeout=10)
                    except Exception:
                        pass
            raise
        return started

    def start_extra_nginx(self, name, http_extra="", server_extra="", port=None,
                          module=True, health_status=(200,), timeout=30.0,
                          keys=None, realip=True, kafka=None,
                          dlq_topic="px.events.dlq"):
        """Another nginx (prefix DIR/<name>, logs DIR/logs/<name>-*.log) with
        the same module and Kafka plus extra directives; keys: its own px_keys
        lines (default: the stack's key file); realip: trust X-Forwarded-For
        from loopback; kafka: other brokers ("host:port", e.g. a port where
        nothing listens); dlq_topic: its px_kafka_dlq_topic. Stopped by
        down(); stop it earlier with .stop()."""
        n = self._make_nginx(name, port or free_port(), http_extra, server_extra,
                             module=module, health_status=health_status, keys=keys,
                             realip=realip, kafka=kafka, dlq_topic=dlq_topic)
        n.start()
        self.extras.append(n)
        try:
            n.wait_healthy(timeout)
        except BaseException:
            n.stop(timeout=5)
            raise
        return n

    def start_extra_worker(self, name, extra_env=None, health_port=None,
                           timeout=60.0):
        """Another px-worker like the main one (same Kafka, Redis, ClickHouse,
        consumer group unless extra_env says otherwise) named `name`: log
        DIR/logs/<name>.log, pid DIR/run/<name>.pid, its own health port
        (free unless given). Stopped by down(); earlier with .stop()."""
        env = dict(self.worker.extra_env)
        env.update(extra_env or {})
        w = Worker(
            self.root, self.worker_bin, self.kafka.bootstrap, self.redis.url,
            self.clickhouse, geoip_dir=self.worker.geoip_dir,
            health_port=health_port or free_port(), extra_env=env,
            sanitizer_env=sanitizer_env(self.logs_dir, name, self.worker_bin),
            name=name)
        w.start()
        self.extras.append(w)
        try:
            w.wait_healthy(timeout)
        except BaseException:
            w.stop(timeout=5)
            raise
        return w

    def down(self):
        """Stop everything (front to back). Returns the names stopped."""
        stopped = []
        order = self.extras + [self.worker, self.nginx, self.kafka, self.redis,
                               self.clickhouse]
        for svc in order:
            if svc.stop():
                stopped.append(svc.name)
        # anything else with a pid file here (an extra nginx started by a
        # test process that has gone away)
        run = os.path.join(self.root, "run")
        if os.path.isdir(run):
            for f in sorted(os.listdir(run)):
                if f.endswith(".pid"):
                    svc = Service(self.root)
                    svc.name = f[:-4]
                    svc.pidfile = os.path.join(run, f)
                    svc.log_path = os.path.join(self.logs_dir, svc.name + ".log")
                    if svc.stop(timeout=10):
                        stopped.append(svc.name)
        self.extras = []
        return stopped

    def status(self):
        """[{name, running, pid, ports}] for each service."""
        return [{"name": s.name, "running": s.running(), "pid": s.pid(),
                 "ports": [p for _, p in s.ports()]} for s in self.services]

    def sanitizer_reports(self):
        """[(path, text)] of sanitizer report files under DIR/logs."""
        out = []
        if os.path.isdir(self.logs_dir):
            for f in sorted(os.listdir(self.logs_dir)):
                if re.match(r"(asan|ubsan|lsan|tsan)-", f):
                    p = os.path.join(self.logs_dir, f)
                    with open(p, errors="replace") as fh:
                        out.append((p, fh.read()))
        return out


__all__ = ["Stack", "Ports", "DEMO_KEY", "DEMO_PROJECT", "REPO", "port_in_use"]
