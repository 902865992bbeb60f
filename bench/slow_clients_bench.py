#!/usr/bin/env python3
"""Slow clients benchmark: what 500 senders that trickle their batch bodies
cost nginx + ngx_http_px_module in memory.

Starts nginx with the module from build/ (a private copy) in a temporary
directory on a free loopback port, with no Kafka needed (px_ack local: the
request reads its body whatever the broker does). For each profile, opens
--clients connections that send their headers (Content-Length: ~1 MB) and
the first 512 KB of the body at once (a buffer that was only allocated
would not show in RSS), then one more byte a second for --hold seconds,
and samples the summed RSS of nginx's worker processes. Prints a table and
writes it as JSON.

    python3 bench/slow_clients_bench.py [--clients 500] [--hold 5] [--out FILE]

Profiles:
  shipped      the shipped configurations' settings (conf/nginx.conf):
               client_body_buffer_size 64k, 10 s timeouts, 64 connections
               per address (all clients here come from 127.0.0.1)
  shipped-nocap  the same without the per-address cap (many addresses)
  before       client_body_buffer_size 1m and nginx's 60 s timeouts

Figures, not a test: exit 0 whatever they are (1 when the bench fails).
"""

import argparse
import datetime
import json
import os
import shutil
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tools"))
sys.path.insert(0, HERE)

from ingest_bench import RssSampler, module_snapshot, say, workers_rss  # noqa: E402
from pxstack import DEMO_KEY, DEMO_PROJECT  # noqa: E402
from pxstack.base import free_port  # noqa: E402
from pxstack.stack import DEMO_KEY_LINE, Ports, Stack  # noqa: E402

BODY_LEN = 1000000          # under px_max_body_size (1m)
FIRST = 512 * 1024          # body bytes sent at once, then a byte a second

LIMITS = """
    client_header_timeout 10s;
    client_body_timeout 10s;
    limit_conn_zone $binary_remote_addr zone=px_conn:10m;
    limit_conn_status 429;
"""

PROFILES = [
    ("shipped", LIMITS, "client_body_buffer_size 64k;\n"
     "        limit_conn px_conn 64;\n"),
    ("shipped-nocap", LIMITS, "client_body_buffer_size 64k;\n"),
    ("before", "", "client_body_buffer_size 1m;\n"),
]


def slow_client(port, stop, counters, lock):
    """One connection trickling its body until stop is set; counts whether
    it was still open at the end (held) or answered early (refused)."""
    head = ("POST /api/v1/events/batch HTTP/1.1\r\nHost: bench\r\n"
            "Authorization: Bearer %s\r\nX-PX-Project-ID: %s\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % (DEMO_KEY, DEMO_PROJECT, BODY_LEN)).encode()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
    except OSError:
        with lock:
            counters["connect_failed"] += 1
        return
    try:
        s.sendall(head + b"{" + b" " * (FIRST - 1))
        s.settimeout(1.0)
        answered = False
        while not stop.is_set():
            try:
                if s.recv(4096):
                    answered = True
                    break
            except socket.timeout:
                pass
            try:
                s.sendall(b" ")
            except OSError:
                answered = True
                break
        with lock:
            counters["refused" if answered else "held"] += 1
    finally:
        s.close()


def run_profile(stack, name, http_extra, server_extra, clients, hold):
    n = stack.start_extra_nginx(
        "slow-" + name, http_extra=http_extra,
        server_extra="        px_ack local;\n        client_max_body_size 2m;\n"
                     "        " + server_extra,
        keys=[DEMO_KEY_LINE], kafka="127.0.0.1:%d" % free_port(), timeout=60)
    try:
        time.sleep(1.0)
        idle = sum(workers_rss(n).values())
        stop = threading.Event()
        lock = threading.Lock()
        counters = {"held": 0, "refused": 0, "connect_failed": 0}
        threads = [threading.Thread(target=slow_client,
                                    args=(n.port, stop, counters, lock), daemon=True)
                   for _ in range(clients)]
        with RssSampler(n) as rss:
            for t in threads:
                t.start()
            time.sleep(hold)
            stop.set()
            for t in threads:
                t.join(10)
        time.sleep(1.0)
        after = sum(workers_rss(n).values())
        held = counters["held"]
        res = dict(counters, idle_rss=idle, peak_rss=rss.peak, after_rss=after,
                   per_held_kb=(rss.peak - idle) / 1024.0 / held if held else None)
        say("%-14s held %3d refused %3d  RSS idle %.1f MB, peak %.1f MB, after %.1f MB"
            % (name, held, counters["refused"], idle / 1e6, rss.peak / 1e6, after / 1e6))
        return res
    finally:
        n.stop(timeout=20)
        stack.extras.remove(n)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=500, help="slow clients (500)")
    p.add_argument("--hold", type=int, default=5, help="s they trickle (5)")
    p.add_argument("--out", help="JSON results (default build/slow-clients-bench.json)")
    args = p.parse_args(argv)
    if not (1 <= args.clients <= 900 and 1 <= args.hold <= 9):
        p.error("clients 1..900 (worker_connections 1024), hold 1..9 s (under the 10 s timeout)")

    root, snap = module_snapshot(p, "px-slow-bench-")
    stack = Stack(root, ports=Ports.free(), build=snap, say=say)
    os.makedirs(stack.logs_dir, exist_ok=True)
    results = {"started": datetime.datetime.now().isoformat(timespec="seconds"),
               "settings": vars(args).copy(), "profiles": {}}
    try:
        for name, http_extra, server_extra in PROFILES:
            results["profiles"][name] = run_profile(stack, name, http_extra,
                                                    server_extra, args.clients, args.hold)
    finally:
        stack.down()
        shutil.rmtree(root, ignore_errors=True)

    print("\n| profile | held | refused | RSS idle | RSS peak | per held connection |")
    print("|---|---|---|---|---|---|")
    for name, r in results["profiles"].items():
        print("| %s | %d | %d | %.1f MB | %.1f MB | %s |" % (
            name, r["held"], r["refused"], r["idle_rss"] / 1e6, r["peak_rss"] / 1e6,
            "%.0f KB" % r["per_held_kb"] if r["per_held_kb"] is not None else "-"))
    out = args.out or os.path.join(REPO, "build", "slow-clients-bench.json")
    with open(out, "w") as f:
        json.dump(results, f, indent=2)
    say("results: %s" % out)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(1)
