#!/usr/bin/env python3
"""px_limit_redis benchmark: how far a tier shared by N nginx nodes goes
over its limit, against the stated bound, and what the request path pays.

Starts Kafka, Redis and --nodes nginx nodes (the module from build/, a
private copy) in a temporary directory on free loopback ports. Each run
gives a fresh project of a tier of --limit events an hour; --threads
client threads send one-event requests (px_ack local) round robin over the
nodes, unpaced, for --seconds, and count the 202s:

  per-node     no px_limit_redis: the default, N x the limit
  global I     px_limit_redis interval=I, for each I of --intervals
  hung Redis   the last interval with redis-server stopped (SIGSTOP): the
               fallback share, limit / nodes per node

Printed per run: accepted, overshoot over the limit, the bound of
docs/nginx-module.md ((N - 1) x r x 2 x (sync period + round trip) + one
batch per other node; r the per-node request rate up to the first 429, the
sync period as measured from the limit_syncs counters), requests/s and
p50 / p99 latency.

    python3 bench/limit_redis_bench.py [--nodes 3] [--limit 600]
        [--intervals 20,100,500] [--threads 6] [--seconds 4] [--out FILE]

Figures, not a test: exit 0 whatever they are (1 when the bench fails).
"""

import argparse
import datetime
import json
import os
import shutil
import signal
import sys
import threading
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tools"))
sys.path.insert(0, HERE)

from ingest_bench import module_snapshot, say  # noqa: E402
from pxstack.stack import Ports, Stack  # noqa: E402

BATCH = "/api/v1/events/batch"
BODY = ('{"events":[{"event":"bench","anonymous_id":"anon_limit_bench",'
        '"properties":{}}]}')


def load(nodes, key, project, threads, seconds):
    """Unpaced one-event requests round robin over nodes from threads;
    returns ([(node, status, s since start)], latencies in s, elapsed s)."""
    statuses, latencies = [], []
    lock = threading.Lock()
    start = threading.Barrier(threads)
    headers = {"Authorization": "Bearer " + key, "X-PX-Project-ID": project,
               "Content-Type": "application/json"}

    def run(t):
        sessions = [requests.Session() for _ in nodes]
        mine_s, mine_l = [], []
        start.wait()
        begin = time.monotonic()
        end = begin + seconds
        i = t
        while time.monotonic() < end:
            k = i % len(nodes)
            t0 = time.monotonic()
            r = sessions[k].post(nodes[k].url + BATCH, data=BODY, headers=headers,
                                 timeout=10)
            mine_l.append(time.monotonic() - t0)
            mine_s.append((k, r.status_code, t0 - begin))
            i += 1
        with lock:
            statuses.extend(mine_s)
            latencies.extend(mine_l)

    ts = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return statuses, sorted(latencies), time.monotonic() - t0


def syncs(nodes):
    return sum(requests.get(n.url + "/api/v1/events/queue/status", timeout=5)
               .json()["counters"]["limit_syncs"] for n in nodes)


def redis_rtt(stack):
    t0 = time.monotonic()
    for _ in range(50):
        stack.redis.command_raw("PING")
    return (time.monotonic() - t0) / 50


def run(stack, name, args, n_run, interval_ms=None, hang=False):
    http_extra = "    px_limit_zone name=lb:1m;\n    px_tier bench %d/h;\n" % args.limit
    if interval_ms is not None:
        http_extra += "    px_limit_redis 127.0.0.1:%d nodes=%d interval=%dms;\n" % (
            stack.redis.port, args.nodes, interval_ms)
    key, project = "px_lb_%d" % n_run, "proj_lb_%d_%d" % (n_run, os.getpid())
    nodes = [stack.start_extra_nginx(
        "lb%d-%d" % (n_run, i), http_extra=http_extra,
        server_extra="        px_limit lb;\n        px_ack local;\n"
                     "        access_log off;\n",
        keys=["%s %s bench" % (key, project)], timeout=60) for i in range(args.nodes)]
    try:
        time.sleep(0.5)     # the producers connect, a first sync
        if hang:
            os.kill(stack.redis.pid(), signal.SIGSTOP)
            time.sleep(1.5)     # past the sync timeout (1s)
        syncs0 = syncs(nodes)
        statuses, lat, elapsed = load(nodes, key, project, args.threads, args.seconds)
        n_syncs = syncs(nodes) - syncs0
    finally:
        if hang:
            os.kill(stack.redis.pid(), signal.SIGCONT)
        for n in nodes:
            n.stop(timeout=20)
            stack.extras.remove(n)
    other = [s for _, s, _ in statuses if s not in (202, 429)]
    ok = sum(1 for _, s, _ in statuses if s == 202)
    per_node = [sum(1 for k, s, _ in statuses if k == i and s == 202)
                for i in range(args.nodes)]
    rate = len(statuses) / elapsed
    # the rate while under the limit: up to the first 429
    first = min([t for _, s, t in statuses if s == 429] or [elapsed])
    before = sum(1 for _, _, t in statuses if t < first)
    r_node = before / max(first, 1e-3) / args.nodes
    res = {"run": name, "accepted": ok, "per_node": per_node, "requests": len(statuses),
           "other_statuses": len(other), "requests_per_s": rate,
           "p50_ms": lat[len(lat) // 2] * 1000 if lat else None,
           "p99_ms": lat[int(len(lat) * 0.99)] * 1000 if lat else None}
    if interval_ms is not None and not hang:
        # the sync period as it was: the timer is late when worker 0 is
        # short of CPU (one sync a node counted per period)
        period = max(elapsed * args.nodes / max(n_syncs, 1), interval_ms / 1000.0)
        res["sync_period_ms"] = period * 1000
        res["bound"] = ((args.nodes - 1) * r_node * 2 * (period + args.rtt)
                        + (args.nodes - 1))
    res["overshoot"] = ok - args.limit
    say("%-14s accepted %5d (%s) overshoot %5d bound %s (period %s ms)  %5.0f req/s  "
        "p50 %.2f ms p99 %.2f ms%s"
        % (name, ok, per_node, res["overshoot"],
           "%.0f" % res["bound"] if "bound" in res else "-",
           "%.0f" % res["sync_period_ms"] if "sync_period_ms" in res else "-", rate,
           res["p50_ms"], res["p99_ms"],
           "  (%d other statuses)" % len(other) if other else ""))
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, default=3, help="nginx nodes (3)")
    p.add_argument("--limit", type=int, default=600, help="the tier's events an hour (600)")
    p.add_argument("--intervals", default="20,100,500", help="sync intervals, ms (20,100,500)")
    p.add_argument("--threads", type=int, default=6, help="client threads (6)")
    p.add_argument("--seconds", type=float, default=4.0, help="load per run, s (4)")
    p.add_argument("--out", help="JSON results (default build/limit-redis-bench.json)")
    args = p.parse_args(argv)
    intervals = [int(x) for x in args.intervals.split(",") if x]
    if not (2 <= args.nodes <= 8 and 10 <= args.limit <= 10 ** 6 and 1 <= args.threads <= 64
            and 0.5 <= args.seconds <= 30 and intervals
            and all(10 <= i <= 60000 for i in intervals)):
        p.error("nodes 2..8, limit 10..1e6, threads 1..64, seconds 0.5..30, "
                "intervals 10..60000 ms")

    root, snap = module_snapshot(p, "px-limit-redis-bench-")
    stack = Stack(root, ports=Ports.free(), build=snap, say=say)
    results = {"started": datetime.datetime.now().isoformat(timespec="seconds"),
               "machine": {"cpus": os.cpu_count(), "loadavg_at_start": os.getloadavg()},
               "settings": vars(args).copy(), "runs": []}
    try:
        os.makedirs(stack.logs_dir, exist_ok=True)
        for svc in (stack.kafka, stack.redis):
            svc.start()
        for svc in (stack.redis, stack.kafka):
            svc.wait_healthy(120)
        args.rtt = redis_rtt(stack)
        results["redis_rtt_ms"] = args.rtt * 1000
        say("redis round trip %.3f ms" % (args.rtt * 1000))
        n_run = 0
        plan = [("per-node", None, False)] + \
               [("global %dms" % i, i, False) for i in intervals] + \
               [("hung Redis", intervals[-1], True)]
        for name, interval_ms, hang in plan:
            n_run += 1
            results["runs"].append(run(stack, name, args, n_run, interval_ms, hang))
    finally:
        stack.down()
        shutil.rmtree(root, ignore_errors=True)

    print("\n%d nodes, limit %d/h, %d threads, %.0f s a run, Redis round trip %.2f ms\n"
          % (args.nodes, args.limit, args.threads, args.seconds, results["redis_rtt_ms"]))
    print("| run | accepted (per node) | over the limit | stated bound | sync period "
          "| req/s | p50 | p99 |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results["runs"]:
        print("| %s | %d (%s) | %d | %s | %s | %.0f | %.2f ms | %.2f ms |" % (
            r["run"], r["accepted"], ", ".join(map(str, r["per_node"])), r["overshoot"],
            "%.0f" % r["bound"] if "bound" in r else "-",
            "%.0f ms" % r["sync_period_ms"] if "sync_period_ms" in r else "-",
            r["requests_per_s"],
            r["p50_ms"], r["p99_ms"]))
    out = args.out or os.path.join(REPO, "build", "limit-redis-bench.json")
    with open(out, "w") as f:
        json.dump(results, f, indent=2)
    say("results: %s" % out)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
