#!/usr/bin/env python3
"""sdk-python benchmark: what track() costs the caller, and how many events
one Python process pushes through a local nginx with the module.

Starts its own Kafka (KRaft) and nginx with the module from build/ (a
private copy, as bench/ingest_bench.py does) on free loopback ports, then:

  a. track() cost, sender idle: N calls while nothing is sent (a batch is
     never due), µs per call (mean, p50, p99 over blocks of 1,000 calls),
     for a small event (3 properties) and a larger one (20 properties,
     nested);
  b. track() cost while the sender thread sends to nginx (px_ack kafka):
     the caller and the sender share the GIL;
  c. events/s one process delivers (202 from nginx after Kafka's ack): N
     small events tracked as fast as possible, then flush(); the rate is N
     over the time until flush() returns; for flush_at 100 and 500.

    python3 bench/sdk_python_bench.py [--events 200000] [--out FILE]

Figures, not a test: exit status 0 whether or not they please (1 only when
the benchmark itself fails).
"""

import argparse
import datetime
import json
import logging
import os
import shutil
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tools"))
sys.path.insert(0, os.path.join(REPO, "sdk-python", "src"))

import px  # noqa: E402
from ingest_bench import module_snapshot, say  # noqa: E402
from pxstack.stack import Ports, Stack  # noqa: E402

KEY, PROJECT = "px_bench_0123456789abcdef", "proj_bench"
SMALL = {"plan": "pro", "amount": 49.0, "currency": "EUR"}
LARGE = dict({"k%d" % i: "value %d" % i for i in range(16)},
             cart={"items": [{"sku": "A-%d" % i, "qty": i} for i in range(5)]},
             amount=49.0, paid=True, coupon=None)


def track_cost(client, n, props, block=1000):
    """µs per track() call: mean (wall clock, and the process's CPU time,
    which a loaded machine inflates less), and p50 / p99 of per-block
    means."""
    per_block = []
    cpu = time.process_time()
    t_all = time.perf_counter()
    for b in range(n // block):
        t0 = time.perf_counter()
        for i in range(block):
            client.track("user_42", "order_paid", props)
        per_block.append((time.perf_counter() - t0) / block * 1e6)
    calls = n // block * block
    total = (time.perf_counter() - t_all) / calls * 1e6
    cpu = (time.process_time() - cpu) / calls * 1e6
    q = statistics.quantiles(per_block, n=100)
    return {"calls": calls, "mean_us": round(total, 2), "cpu_us": round(cpu, 2),
            "p50_us": round(q[49], 2), "p99_us": round(q[98], 2)}


def idle_client(endpoint, n):
    # nothing is due: flush_at, flush_interval and max_batch_bytes out of reach
    return px.Client(KEY, PROJECT, endpoint, flush_at=n + 1, flush_interval=3600,
                     max_queue=n + 1, max_batch_bytes=1 << 40, shutdown_timeout=0)


def discard(c):
    """Shut an idle client down without its 'lost at exit' warning."""
    log = logging.getLogger("px")
    level = log.level
    log.setLevel(logging.CRITICAL)
    c.shutdown(timeout=0)
    log.setLevel(level)


def throughput(endpoint, n, flush_at):
    c = px.Client(KEY, PROJECT, endpoint, flush_at=flush_at, max_queue=n + 1,
                  flush_interval=0.05)
    t0 = time.perf_counter()
    for i in range(n):
        c.track("user_%d" % (i % 1000), "order_paid", SMALL)
    t_track = time.perf_counter() - t0
    ok = c.flush(timeout=300)
    took = time.perf_counter() - t0
    s = c.stats()
    c.shutdown(timeout=5)
    return {"events": n, "flush_at": flush_at, "flushed": ok,
            "seconds": round(took, 2), "events_per_s": round(s["sent"] / took),
            "track_phase_s": round(t_track, 2), "sent": s["sent"],
            "batches": s["batches"], "retries": s["retries"],
            "rejected": s["rejected"], "dropped": s["dropped_queue_full"]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=200000,
                   help="events per measurement (200000)")
    p.add_argument("--out", help="JSON results (default /tmp/px-bench/"
                   "sdk-python-<date>.json)")
    args = p.parse_args(argv)
    if not 10000 <= args.events <= 5000000:
        p.error("--events 10000..5000000")
    n = args.events
    res = {"started": datetime.datetime.now().isoformat(timespec="seconds"),
           "python": sys.version.split()[0], "cpus": os.cpu_count(),
           "loadavg_at_start": os.getloadavg(), "events": n}

    # a. no server needed: nothing is sent
    for name, props in (("small", SMALL), ("large", LARGE)):
        c = idle_client("http://127.0.0.1:9", n)
        res["a_track_idle_" + name] = track_cost(c, n, props)
        discard(c)
        say("a. track(), sender idle, %s event: %s" % (name, res["a_track_idle_" + name]))

    root, snap = module_snapshot(p, "px-sdk-python-bench-")
    stack = Stack(root, ports=Ports.free(), build=snap, say=say)
    rc = 1
    try:
        os.makedirs(stack.logs_dir, exist_ok=True)
        stack.kafka.start()
        stack.kafka.wait_healthy(120)
        ngx = stack.start_extra_nginx(
            "bench-nginx", server_extra="        access_log off;\n",
            keys=["%s %s bench" % (KEY, PROJECT)], timeout=60)
        # warm up: the producer connected
        c = px.Client(KEY, PROJECT, ngx.url, sync=True)
        c.track("warm", "warm_up")
        c.shutdown()

        c = px.Client(KEY, PROJECT, ngx.url, max_queue=n + 1, flush_interval=0.05)
        res["b_track_while_sending"] = track_cost(c, n, SMALL)
        c.flush(timeout=300)
        c.shutdown(timeout=5)
        say("b. track() while sending: %s" % res["b_track_while_sending"])

        for fa in (100, 500):
            r = throughput(ngx.url, n, fa)
            res["c_throughput_flush_at_%d" % fa] = r
            say("c. one process to nginx, flush_at %d: %s" % (fa, r))
        rc = 0
    except KeyboardInterrupt:
        rc = 130
    except Exception as e:
        say("sdk-python bench: failed: %s (logs in %s/logs)" % (e, root))
    finally:
        stack.down()
        if rc == 0:
            shutil.rmtree(root, ignore_errors=True)
    res["loadavg_at_end"] = os.getloadavg()
    out = args.out or "/tmp/px-bench/sdk-python-%s.json" % time.strftime("%Y%m%d-%H%M%S")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(res, f, indent=2)
    print(json.dumps(res, indent=2))
    say("results: %s" % out)
    return rc


if __name__ == "__main__":
    sys.exit(main())
