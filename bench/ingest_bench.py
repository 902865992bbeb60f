#!/usr/bin/env python3
"""Ingestion benchmark: nginx + ngx_http_px_module against a real Kafka broker.

Starts its own Kafka (KRaft) and nginx with the module from build/ (never the
local stack, never build-asan/) in a temporary directory on free loopback
ports, runs, prints a table, writes it as JSON and stops everything, also
on Ctrl-C and errors.  In one run, one nginx (2 worker processes):

  a. single-event requests, px_ack kafka      wrk -t2 -cC -dD   req/s, p50/p99
  b. single-event requests, px_ack local      the same
  c. 50-event gzip batches, px_ack kafka       events/s
  d. `return 202 '{"accepted":1}';`            the ceiling; ratio b / d
  g. the same 50 events as a Segment batch (POST /v1/batch, px_segment),
     gzip, px_ack kafka                         events/s, next to c
  e. open loop at a fixed rate (1,000 req/s for 10 s, px_ack kafka): p50/p99
     from the intended send time (no coordinated omission); Debian has no
     wrk2, so a small bounded asyncio load generator does it
  f. memory: nginx worker RSS idle / peak per run / after; RSS growth per
     in-flight request; bytes per project in a px_limit_zone (a second
     nginx with 20,000 keys of distinct projects on a 1m zone: projects
     held = projects sent - projects evicted, from the error log)

    python3 bench/ingest_bench.py [--duration 10] [--connections 128]
        [--rate 1000] [--rate-duration 10] [--zone-keys 20000] [--out FILE]

Goals (2-core machine): >= 50,000 events/s with batches and ack=kafka;
p99 < 10 ms at 1,000 req/s; single-event ack=local >= 50% of bare nginx.
Figures, not a test: the exit status is 0 whether goals are met or not
(1 only when the benchmark itself fails).
"""

import argparse
import asyncio
import datetime
import gzip
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tools"))

from pxstack.base import free_port  # noqa: E402
from pxstack.stack import Ports, Stack  # noqa: E402

BENCH_KEY = "px_bench_0123456789abcdef"
BENCH_PROJECT = "proj_bench"
UA = ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 "
      "Firefox/128.0")

GOALS = {
    "batch_events_per_s": 50000,
    "p99_ms_at_rate": 10.0,
    "local_vs_bare": 0.50,
}


def say(msg=""):
    print(msg, file=sys.stderr, flush=True)


# --- bodies ---------------------------------------------------------------------

PAGES = ["/", "/pricing", "/docs/getting-started", "/blog/2026/launch",
         "/products/widget-pro", "/cart", "/checkout", "/account/settings"]
EVENTS = ["page_view", "page_view", "page_view", "click", "add_to_cart",
          "signup_started", "scroll_depth", "video_play"]
REFERRERS = ["", "https://www.google.com/", "https://t.co/xyz",
             "https://news.ycombinator.com/", "https://shop.example/"]


def iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (int(ts * 1000) % 1000)


def make_event(rnd, now, i):
    path = rnd.choice(PAGES)
    q = "?utm_source=newsletter&utm_medium=email&utm_campaign=nov" if i % 5 == 0 else ""
    ev = {
        "event": rnd.choice(EVENTS),
        "anonymous_id": "anon_%08x" % rnd.getrandbits(32),
        "timestamp": iso(now - 0.25 * (50 - i)),
        "properties": {"plan": rnd.choice(["free", "pro", "team"]),
                       "value": rnd.randint(1, 500),
                       "experiment": "checkout_v%d" % rnd.randint(1, 3),
                       "logged_in": bool(i % 2)},
        "context": {
            "page": {"url": "https://shop.example%s%s" % (path, q), "path": path,
                     "title": "Shop - %s" % path.strip("/").replace("/", " ").title(),
                     "referrer": rnd.choice(REFERRERS)},
            "locale": "en-GB", "timezone": "Europe/London",
            "screen": {"width": 1920, "height": 1080, "density": 1},
            "library": {"name": "px-web", "version": "1.0.0"},
        },
    }
    if i % 3 == 0:
        ev["user_id"] = "user_%05d" % rnd.randint(1, 99999)
    return ev


def segment_call(ev, i):
    """A PX event of make_event() as the Segment call a client would send."""
    call = {"type": "track", "event": ev["event"], "anonymousId": ev["anonymous_id"],
            "messageId": str(uuid.UUID(int=random.Random(i).getrandbits(128))),
            "timestamp": ev["timestamp"], "properties": ev["properties"],
            "context": dict(ev["context"], userAgent=UA), "integrations": {}}
    if "user_id" in ev:
        call["userId"] = ev["user_id"]
    return call


def write_bodies(d):
    """single.json (one event), batch50.json.gz (50 events, gzip) and
    segment50.json.gz (the same 50 as a Segment batch, gzip)."""
    rnd = random.Random(42)
    now = time.time()
    single = {"events": [make_event(rnd, now, 49)], "sent_at": iso(now)}
    batch = {"events": [make_event(rnd, now, i) for i in range(50)],
             "sent_at": iso(now)}
    s = json.dumps(single, separators=(",", ":")).encode()
    b = json.dumps(batch, separators=(",", ":")).encode()
    bz = gzip.compress(b, 6)
    seg = {"batch": [segment_call(ev, i) for i, ev in enumerate(batch["events"])],
           "sentAt": iso(now), "writeKey": BENCH_KEY}
    sz = gzip.compress(json.dumps(seg, separators=(",", ":")).encode(), 6)
    paths = {"single": os.path.join(d, "single.json"),
             "batch": os.path.join(d, "batch50.json.gz"),
             "segment": os.path.join(d, "segment50.json.gz")}
    with open(paths["single"], "wb") as f:
        f.write(s)
    with open(paths["batch"], "wb") as f:
        f.write(bz)
    with open(paths["segment"], "wb") as f:
        f.write(sz)
    return paths, {"single_bytes": len(s), "batch_bytes": len(b),
                   "batch_gzip_bytes": len(bz), "segment_gzip_bytes": len(sz)}


# --- process memory -------------------------------------------------------------

def module_snapshot(parser, prefix):
    """A temp dir with a private copy of build/'s module: a `make` elsewhere
    rewriting the .so under a running nginx crashes its workers (and every
    one it forks). SIGTERM then behaves like Ctrl-C, so the caller's finally
    stops everything. Returns (root, snapshot build dir)."""
    build = os.path.join(REPO, "build")
    if not os.path.exists(os.path.join(build, "ngx_http_px_module.so")):
        parser.error("build/ngx_http_px_module.so missing: ./configure && make")

    def on_term(signum, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_term)

    root = tempfile.mkdtemp(prefix=prefix)
    snap = os.path.join(root, "build")
    os.makedirs(snap)
    shutil.copy2(os.path.join(build, "ngx_http_px_module.so"), snap)
    say("bench: stack in %s (module copied from %s)" % (root, build))
    return root, snap


def children(pid):
    out = []
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            out = [int(x) for x in f.read().split()]
    except OSError:
        for p in os.listdir("/proc"):
            if p.isdigit():
                try:
                    with open("/proc/%s/stat" % p) as f:
                        st = f.read()
                    if int(st[st.rfind(")") + 2:].split()[1]) == pid:
                        out.append(int(p))
                except (OSError, ValueError, IndexError):
                    pass
    return out


def proc_status(pid, field):
    """A kB field of /proc/pid/status (VmRSS, VmHWM) in bytes, or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def nginx_workers(n):
    master = n.pid()
    if master is None:
        return []
    # the nginx master's workers (skip cache manager etc.: there are none)
    return children(master)


def workers_rss(n):
    return {pid: proc_status(pid, "VmRSS") or 0 for pid in nginx_workers(n)}


class RssSampler:
    """Peak of the summed RSS of nginx's workers while running (every 0.1 s)."""

    def __init__(self, n):
        self.n = n
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, sum(workers_rss(self.n).values()))

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *a):
        self._stop.set()
        self._t.join(2)


# --- wrk ------------------------------------------------------------------------

def run_wrk(url, body, duration, connections, threads=2, encoding="",
            key=BENCH_KEY, events=1):
    """wrk with bench/wrk/post.lua; the PXJSON summary as a dict."""
    env = dict(os.environ, BODY_FILE=body, CONTENT_ENCODING=encoding,
               API_KEY=key or "", EVENTS_PER_REQ=str(events))
    cmd = ["wrk", "-t%d" % threads, "-c%d" % connections, "-d%ds" % duration,
           "--timeout", "10s", "--latency", "-s",
           os.path.join(HERE, "wrk", "post.lua"), url]
    r = subprocess.run(cmd, capture_output=True, env=env,
                       timeout=duration + 60)
    out = r.stdout.decode(errors="replace")
    m = re.search(r"^PXJSON (.*)$", out, re.M)
    if r.returncode != 0 or not m:
        raise RuntimeError("wrk failed (%d): %s %s" % (
            r.returncode, out[-2000:], r.stderr.decode(errors="replace")[-2000:]))
    res = json.loads(m.group(1))
    secs = res["duration_us"] / 1e6
    res["rps"] = res["requests"] / secs
    ok = res["requests"] - res["errors"]["status"]
    res["ok_requests"] = ok
    res["events_per_s"] = ok * events / secs
    res["p50_ms"] = res["latency_us"]["50"] / 1000.0
    res["p99_ms"] = res["latency_us"]["99"] / 1000.0
    res["command"] = " ".join(cmd)
    return res


# --- open-loop load at a fixed rate ---------------------------------------------

async def _open_loop(host, port, path, body, headers, rate, duration, conns):
    total = int(rate * duration)
    req = ("POST %s HTTP/1.1\r\nHost: %s:%d\r\n%s"
           "Content-Length: %d\r\n\r\n" % (
               path, host, port,
               "".join("%s: %s\r\n" % kv for kv in headers.items()),
               len(body))).encode() + body
    queue = asyncio.Queue()
    lat, statuses, errors = [], {}, [0]
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.2

    async def conn_worker():
        reader = writer = None
        while True:
            t_sched = await queue.get()
            if t_sched is None:
                break
            for attempt in (0, 1):
                try:
                    if writer is None:
                        reader, writer = await asyncio.open_connection(host, port)
                    writer.write(req)
                    head = await reader.readuntil(b"\r\n\r\n")
                    status = int(head.split(b" ", 2)[1])
                    m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
                    if m:
                        await reader.readexactly(int(m.group(1)))
                    lat.append(loop.time() - t_sched)
                    statuses[status] = statuses.get(status, 0) + 1
                    if re.search(rb"(?i)\r\nconnection:\s*close", head):
                        writer.close()
                        writer = None
                    break
                except (OSError, asyncio.IncompleteReadError,
                        asyncio.LimitOverrunError, ValueError, IndexError):
                    if writer is not None:
                        writer.close()
                    writer = None
                    if attempt == 1:
                        errors[0] += 1
        if writer is not None:
            writer.close()

    workers = [asyncio.ensure_future(conn_worker()) for _ in range(conns)]
    for i in range(total):
        t = t0 + i / rate
        d = t - loop.time()
        if d > 0:
            await asyncio.sleep(d)
        queue.put_nowait(t)
    for _ in workers:
        queue.put_nowait(None)
    done, pending = await asyncio.wait(workers, timeout=15)
    for p in pending:
        p.cancel()
    sent_for = loop.time() - t0
    return lat, statuses, errors[0] + queue.qsize(), total, sent_for


def open_loop(url, body_file, rate, duration, conns=64):
    m = re.match(r"http://([^:/]+):(\d+)(/.*)", url)
    host, port, path = m.group(1), int(m.group(2)), m.group(3)
    with open(body_file, "rb") as f:
        body = f.read()
    headers = {"Authorization": "Bearer " + BENCH_KEY,
               "Content-Type": "application/json", "User-Agent": UA}
    lat, statuses, errors, total, secs = asyncio.run(_open_loop(
        host, port, path, body, headers, rate, duration, conns))
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(len(lat) * p / 100.0))] * 1000 if lat else None
    return {"target_rps": rate, "duration_s": duration, "scheduled": total,
            "completed": len(lat), "errors": errors, "statuses": statuses,
            "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99),
            "p999_ms": pct(99.9), "max_ms": lat[-1] * 1000 if lat else None,
            "achieved_rps": len(lat) / secs if secs else 0,
            "connections": conns}


# --- helpers --------------------------------------------------------------------

def get_json(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def queue_counters(n):
    try:
        return get_json(n.url + "/api/v1/events/queue/status").get("counters", {})
    except (OSError, ValueError):
        return {}


def counter_delta(a, b):
    return {k: b.get(k, 0) - a.get(k, 0) for k in b if isinstance(b.get(k), int)}


def wait_drained(n, timeout=30):
    """Until the module has no messages in flight (after an ack=local run)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if get_json(n.url + "/api/v1/events/queue/status")["in_flight"]["total"] == 0:
                return True
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    return False


# --- the px_limit zone: bytes per project -----------------------------------------

def zone_bench(stack, nkeys, zone_size="1m"):
    keys = ["pxz_%016x proj_z%06d free" % (i, i) for i in range(nkeys)]
    n = stack.start_extra_nginx(
        "bench-zone",
        http_extra="    px_limit_zone name=pxz:%s;\n"
                   "    px_tier free 1000/h burst=100/m;\n" % zone_size,
        server_extra="        access_log off;\n"
                     "        location = /bench/zone { px_batch; px_limit pxz; "
                     "px_ack local; }\n",
        keys=keys, timeout=60)
    body = json.dumps({"events": [{"event": "ping"}]}).encode()
    m = re.match(r"http://([^:/]+):(\d+)", n.url)
    host, port = m.group(1), int(m.group(2))
    statuses = {}
    lock = threading.Lock()
    t0 = time.monotonic()

    def send(part):
        import http.client
        c = http.client.HTTPConnection(host, port, timeout=10)
        for i in part:
            c.request("POST", "/bench/zone", body=body, headers={
                "Authorization": "Bearer pxz_%016x" % i,
                "Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            with lock:
                statuses[r.status] = statuses.get(r.status, 0) + 1
        c.close()

    parts = [range(k, nkeys, 4) for k in range(4)]
    ts = [threading.Thread(target=send, args=(p,)) for p in parts]
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    secs = time.monotonic() - t0
    time.sleep(0.5)
    evicted = 0
    errlog = os.path.join(stack.logs_dir, "bench-zone-error.log")
    with open(errlog, errors="replace") as f:
        for line in f:
            m = re.search(r"px: (\d+) projects evicted from rate limit zone", line)
            if m:
                evicted += int(m.group(1))
    full = 0
    with open(errlog, errors="replace") as f:
        full = sum(1 for l in f if "is full" in l)
    n.stop(timeout=10)
    size = 1024 * 1024 * int(zone_size.rstrip("m"))
    held = nkeys - evicted if evicted else None  # no eviction: a lower bound only
    # the node: ngx_rbtree_node_t up to color (4 pointers-sized = 32 bytes)
    # + ngx_http_px_limit_node_t up to data (56 bytes on x86-64) + the id;
    # ngx_slab rounds that up to a power of two
    plen = len("proj_z000000")
    node = 32 + 56 + plen
    slot = 8
    while slot < node:
        slot *= 2
    return {"zone_size": size, "projects_sent": nkeys, "evicted": evicted,
            "projects_held": held if held else nkeys,
            "bytes_per_project": size / held if held else None,
            "node_bytes": node, "slab_slot_bytes": slot, "zone_full_errors": full,
            "statuses": statuses, "requests_per_s": nkeys / secs,
            "key_file_keys": nkeys}


# --- main -----------------------------------------------------------------------

def fmt(v, spec="%.0f"):
    return "-" if v is None else spec % v


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=int, default=10, help="s per wrk run (10)")
    p.add_argument("--connections", type=int, default=128,
                   help="wrk connections (128)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    p.add_argument("--rate", type=int, default=1000, help="open-loop req/s (1000)")
    p.add_argument("--rate-duration", type=int, default=10,
                   help="s of open-loop load (10)")
    p.add_argument("--zone-keys", type=int, default=20000,
                   help="distinct projects sent to the 1m px_limit zone "
                        "(20000; 0: skip)")
    p.add_argument("--access-log", action="store_true",
                   help="keep nginx's access log on (default off for the "
                        "benchmarked locations)")
    p.add_argument("--kafka-property", action="append", default=[],
                   metavar="NAME=VALUE",
                   help="extra px_kafka_property for the benchmarked nginx")
    p.add_argument("--out", help="JSON results file (default "
                   "/tmp/px-bench/ingest-<date>.json)")
    p.add_argument("--keep", action="store_true",
                   help="leave the temp directory (logs) in place")
    args = p.parse_args(argv)
    if not (1 <= args.duration <= 600 and 1 <= args.rate_duration <= 120
            and 1 <= args.rate <= 20000 and 1 <= args.connections <= 1000):
        p.error("duration 1..600 s, rate-duration 1..120 s, rate 1..20000, "
                "connections 1..1000")
    for tool in ("wrk", "kcat"):
        if not shutil.which(tool):
            p.error("%s not found (scripts/install-deps.sh)" % tool)

    root, snap = module_snapshot(p, "px-ingest-bench-")
    ports = Ports.free()
    stack = Stack(root, ports=ports, build=snap, say=say)
    results = {"started": datetime.datetime.now().isoformat(timespec="seconds"),
               "machine": {"cpus": os.cpu_count(), "uname": " ".join(os.uname()),
                       "loadavg_at_start": os.getloadavg()},
               "settings": vars(args).copy(), "goals": GOALS}
    rc = 1
    try:
        os.makedirs(stack.logs_dir, exist_ok=True)
        stack.kafka.start()
        stack.kafka.wait_healthy(120)
        paths, sizes = write_bodies(root)
        results["bodies"] = sizes
        log = "" if args.access_log else "        access_log off;\n"
        props = "".join("    px_kafka_property %s %s;\n" % tuple(kv.split("=", 1))
                        for kv in args.kafka_property)
        n = stack.start_extra_nginx(
            "bench-nginx",
            http_extra=props + "    px_limit_zone name=bench:10m;\n"
                       "    px_tier bench 1000000000/h;\n",
            server_extra=log +
            "        location = /bench/kafka { px_batch; px_limit bench; px_ack kafka; }\n"
            "        location = /bench/local { px_batch; px_limit bench; px_ack local; }\n"
            "        location = /bench/bare  { return 202 '{\"accepted\":1}'; }\n"
            "        location = /bench/segment/v1/batch { px_segment; px_limit bench; px_ack kafka; }\n"
            "        location = /bench/metrics { px_metrics; }\n",
            keys=["%s %s bench" % (BENCH_KEY, BENCH_PROJECT)], timeout=60)
        base = n.url
        # warm up: producer connected, first requests served
        run_wrk(base + "/bench/kafka", paths["single"], 2, 8)
        wait_drained(n)
        mem = {"idle_workers_rss": workers_rss(n)}
        mem["idle_rss_total"] = sum(mem["idle_workers_rss"].values())
        say("nginx workers %s, idle RSS %.1f MB" % (
            list(mem["idle_workers_rss"]), mem["idle_rss_total"] / 1e6))

        runs = {}
        plan = [
            ("a_single_kafka", "/bench/kafka", paths["single"], "", 1),
            ("b_single_local", "/bench/local", paths["single"], "", 1),
            ("c_batch50_gzip_kafka", "/bench/kafka", paths["batch"], "gzip", 50),
            ("d_bare_return_202", "/bench/bare", paths["single"], "", 1),
            ("g_segment50_gzip_kafka", "/bench/segment/v1/batch", paths["segment"],
             "gzip", 50),
        ]
        for name, path, body, enc, events in plan:
            before = queue_counters(n)
            say("%s: wrk -t%d -c%d -d%ds %s%s ..." % (
                name, args.threads, args.connections, args.duration, base, path))
            with RssSampler(n) as s:
                r = run_wrk(base + path, body, args.duration, args.connections,
                            threads=args.threads, encoding=enc, events=events)
            wait_drained(n)
            r["module_counters"] = counter_delta(before, queue_counters(n))
            r["peak_rss_total"] = s.peak
            runs[name] = r
            say("  %.0f req/s, %.0f events/s, p50 %.2f ms, p99 %.2f ms, "
                "non-2xx %d, peak workers RSS %.1f MB" % (
                    r["rps"], r["events_per_s"], r["p50_ms"], r["p99_ms"],
                    r["errors"]["status"], s.peak / 1e6))
        results["wrk"] = runs

        say("e: open loop %d req/s for %d s on /bench/kafka ..." % (
            args.rate, args.rate_duration))
        before = queue_counters(n)
        ol = open_loop(base + "/bench/kafka", paths["single"], args.rate,
                       args.rate_duration)
        wait_drained(n)
        ol["module_counters"] = counter_delta(before, queue_counters(n))
        results["open_loop_kafka"] = ol
        say("  completed %d/%d (%.0f req/s), p50 %s ms, p99 %s ms, max %s ms, "
            "statuses %s" % (ol["completed"], ol["scheduled"], ol["achieved_rps"],
                             fmt(ol["p50_ms"], "%.2f"), fmt(ol["p99_ms"], "%.2f"),
                             fmt(ol["max_ms"], "%.1f"), ol["statuses"]))
        say("e2: the same on /bench/local ...")
        ol2 = open_loop(base + "/bench/local", paths["single"], args.rate,
                        args.rate_duration)
        wait_drained(n)
        results["open_loop_local"] = ol2
        say("  p50 %s ms, p99 %s ms" % (fmt(ol2["p50_ms"], "%.2f"),
                                         fmt(ol2["p99_ms"], "%.2f")))

        mem["after_workers_rss"] = workers_rss(n)
        mem["after_rss_total"] = sum(mem["after_workers_rss"].values())
        peak_k = runs["a_single_kafka"]["peak_rss_total"]
        mem["rss_growth_per_inflight_request_kafka"] = (
            (peak_k - mem["idle_rss_total"]) / args.connections)
        results["memory"] = mem
        try:
            with urllib.request.urlopen(base + "/bench/metrics", timeout=5) as r:
                results["module_metrics_tail"] = r.read().decode()[-3000:]
        except OSError:
            pass
        n.stop(timeout=20)

        if args.zone_keys:
            say("f: px_limit_zone name=pxz:1m, %d keys of distinct projects ..."
                % args.zone_keys)
            z = zone_bench(stack, args.zone_keys)
            results["limit_zone"] = z
            say("  held %d projects (evicted %d): %.0f bytes per project "
                "(node %d B in a %d B slab slot)" % (
                    z["projects_held"], z["evicted"], z["bytes_per_project"] or 0,
                    z["node_bytes"], z["slab_slot_bytes"]))
        rc = 0
    except KeyboardInterrupt:
        say("ingest bench: interrupted")
        rc = 130
    except Exception as e:
        say("ingest bench: failed: %s" % e)
        say("ingest bench: logs in %s/logs" % root)
        args.keep = True
        rc = 1
    finally:
        try:
            stack.down()
        except Exception as e:  # keep going: remove what we can
            say("ingest bench: stopping the stack: %s" % e)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    results["machine"]["loadavg_at_end"] = os.getloadavg()
    if rc == 0:
        report(results, args)
    return rc


def report(res, args):
    w = res["wrk"]
    a, b, c, d = (w["a_single_kafka"], w["b_single_local"],
                  w["c_batch50_gzip_kafka"], w["d_bare_return_202"])
    ol, ol2 = res["open_loop_kafka"], res["open_loop_local"]
    ratio = b["rps"] / d["rps"] if d["rps"] else 0
    ratio_k = a["rps"] / d["rps"] if d["rps"] else 0
    res["ratios"] = {"local_vs_bare": ratio, "kafka_vs_bare": ratio_k}
    g = GOALS

    def ok(x):
        return "MET" if x else "MISSED"
    rows = [
        ("a single event, ack=kafka", "%.0f req/s" % a["rps"],
         "p50 %.2f / p99 %.2f ms" % (a["p50_ms"], a["p99_ms"]), ""),
        ("b single event, ack=local", "%.0f req/s" % b["rps"],
         "p50 %.2f / p99 %.2f ms" % (b["p50_ms"], b["p99_ms"]), ""),
        ("c 50-event gzip batch, ack=kafka", "%.0f events/s" % c["events_per_s"],
         "%.0f req/s, p50 %.2f / p99 %.2f ms" % (c["rps"], c["p50_ms"], c["p99_ms"]),
         "goal >= %d events/s: %s" % (g["batch_events_per_s"],
                                      ok(c["events_per_s"] >= g["batch_events_per_s"]))),
        ("d bare nginx return 202", "%.0f req/s" % d["rps"],
         "p50 %.2f / p99 %.2f ms" % (d["p50_ms"], d["p99_ms"]), ""),
        ("g 50-call gzip Segment batch, ack=kafka",
         "%.0f events/s" % w["g_segment50_gzip_kafka"]["events_per_s"],
         "%.0f req/s, p50 %.2f / p99 %.2f ms" % (
             w["g_segment50_gzip_kafka"]["rps"], w["g_segment50_gzip_kafka"]["p50_ms"],
             w["g_segment50_gzip_kafka"]["p99_ms"]),
         "%.0f%% of c" % (100 * w["g_segment50_gzip_kafka"]["events_per_s"]
                          / c["events_per_s"] if c["events_per_s"] else 0)),
        ("  ratio b / d (local vs bare)", "%.0f%%" % (100 * ratio), "",
         "goal >= %d%%: %s" % (100 * g["local_vs_bare"], ok(ratio >= g["local_vs_bare"]))),
        ("  ratio a / d (kafka vs bare)", "%.0f%%" % (100 * ratio_k), "", ""),
        ("e %d req/s open loop, ack=kafka" % ol["target_rps"],
         "p99 %s ms" % fmt(ol["p99_ms"], "%.2f"),
         "p50 %s, p99.9 %s, max %s ms; %d/%d ok" % (
             fmt(ol["p50_ms"], "%.2f"), fmt(ol["p999_ms"], "%.2f"),
             fmt(ol["max_ms"], "%.1f"), ol["statuses"].get(202, 0), ol["scheduled"]),
         "goal p99 < %g ms: %s" % (g["p99_ms_at_rate"], ok(
             ol["p99_ms"] is not None and ol["p99_ms"] < g["p99_ms_at_rate"]))),
        ("  the same, ack=local", "p99 %s ms" % fmt(ol2["p99_ms"], "%.2f"),
         "p50 %s ms" % fmt(ol2["p50_ms"], "%.2f"), ""),
    ]
    m = res["memory"]
    rows.append(("f nginx workers RSS (2)", "%.1f MB idle" % (m["idle_rss_total"] / 1e6),
                 "peak a %.1f / b %.1f / c %.1f / d %.1f MB; after %.1f MB" % (
                     a["peak_rss_total"] / 1e6, b["peak_rss_total"] / 1e6,
                     c["peak_rss_total"] / 1e6, d["peak_rss_total"] / 1e6,
                     m["after_rss_total"] / 1e6), ""))
    rows.append(("  RSS growth per in-flight request",
                 "%.1f KB" % (m["rss_growth_per_inflight_request_kafka"] / 1024),
                 "(peak a - idle) / %d connections" % args.connections, ""))
    z = res.get("limit_zone")
    if z:
        rows.append(("  px_limit_zone bytes per project",
                     fmt(z["bytes_per_project"], "%.0f B") if z["evicted"]
                     else "< %.0f B (no eviction)" % (z["zone_size"] / z["projects_sent"]),
                     "1m zone held %d of %d projects; node %d B -> slab %d B" % (
                         z["projects_held"], z["projects_sent"], z["node_bytes"],
                         z["slab_slot_bytes"]), ""))
    print()
    print("PX ingest benchmark, %s, %d CPUs, wrk -t%d -c%d -d%ds" % (
        res["started"], res["machine"]["cpus"], args.threads, args.connections,
        args.duration))
    print("bodies: single event %d B JSON; batch 50 events %d B JSON, %d B gzip" % (
        res["bodies"]["single_bytes"], res["bodies"]["batch_bytes"],
        res["bodies"]["batch_gzip_bytes"]))
    wid = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(r[i].ljust(wid[i]) for i in range(4)).rstrip())
    bad = {k: v["errors"] for k, v in w.items()
           if any(v["errors"].values())}
    if bad:
        print("wrk errors (non-2xx counted in 'status'): %s" % json.dumps(bad))
    # every 202'd event must have been delivered to the broker
    for k, v in list(w.items()) + [("e_open_loop_kafka", ol)]:
        mc = v.get("module_counters") or {}
        if mc.get("requests"):
            print("module %-22s accepted %d delivered %d failed %d "
                  "rate-limited %d rejected %d" % (
                      k, mc.get("accepted", 0), mc.get("delivered", 0),
                      mc.get("failed", 0), mc.get("rate_limited", 0),
                      mc.get("rejected", 0)))
    out = args.out or os.path.join(
        "/tmp/px-bench", "ingest-%s.json" % time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(res, f, indent=2, default=str)
    print("results: %s" % out)


if __name__ == "__main__":
    sys.exit(main())
