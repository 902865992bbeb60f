#!/usr/bin/env python3
"""px-worker benchmark: Kafka -> enrich -> sessions/dedupe -> ClickHouse.

Starts its own Kafka, Redis and ClickHouse (tools/pxstack) in a temporary
directory on free loopback ports (never the local stack), with a private
copy of build/px-worker (never build-asan/), and:

  1. generates N realistic messages in the module's format (libpx/
     px_message.h): user agents from a head of current browsers plus a Zipf
     tail over uap-core's tests/test_ua.yaml plus ~2% one-off versions; IPs
     from MaxMind's test databases (81.2.69.142, 2001:218::, 89.160.20.112,
     216.160.83.56, ...) and random IPv4/IPv6; pages, referrers, UTM and
     click ids; visitors with ~25 events over 3 hours; 4 projects;
  2. pre-fills px.events.raw with them (kcat -P -K '\\t' -l, lz4) BEFORE
     any worker runs;
  3. the ceiling: the same raw messages `kcat -C ... -e | clickhouse-client
     --query "INSERT INTO bench.raw FORMAT JSONEachRow"`, timed;
  4. starts px-worker (GeoIP: tests/data/geoip, uap-core regexes,
     referrer/UTM, sessions and dedupe in Redis) and measures until
     ClickHouse has N rows: events/s, CPU s per million events (utime+stime
     of /proc/<pid>/stat, all threads), peak RSS (VmHWM), UA cache hit ratio
     (px_worker_ua_cache_total on /metrics), plus the CPU that Redis,
     ClickHouse and Kafka spent meanwhile;
  5. UA miss cost: M events (default 50,000) from a second topic through two
     fresh workers, default cache and PX_UA_CACHE_SIZE=1; miss cost =
     CPU difference / miss-count difference.
  6. with --compare SETTING=VALUE[,...]: the same N messages again through
     fresh workers (own consumer group, ClickHouse database and Redis db,
     dropped after the run), with those settings (B) and without (A) in the
     order A B B A A B B A ... (so that a drift over the runs weighs on both
     sides), until --rounds runs of each (the main run is A's first); each
     run's total CPU per stored event and its parts, and each side's
     median.  Single runs vary by ~10 % here: judge a lever on ranges.

    python3 bench/worker_bench.py [--events 1000000] [--batch-size 3000]
        [--miss-events 50000] [--compare PX_SESSION_CACHE_MB=0 --rounds 3]
        [--timeout 900] [--out FILE]

Goals (2-core machine): >= 50,000 events/s, <= 20 us CPU per event, peak RSS
< 200 MB.  Figures, not a test: exit 0 whether goals are met or not.
"""

import argparse
import datetime
import gzip
import ipaddress
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tools"))

from pxstack.base import free_port, prometheus_values  # noqa: E402
from pxstack.stack import Ports, Stack, default_geoip_dir  # noqa: E402
from pxstack.worker import Worker  # noqa: E402

# the worker's PX_BLOCK_ROWS default (px-worker/src/base/config.c)
WORKER_BLOCK_ROWS = 50000

GOALS = {"total_cpu_us_per_event": 25.0, "events_per_s": 50000, "cpu_us_per_event": 20.0,
         "peak_rss_bytes": 200 * 1024 * 1024}
TOPIC = "px.events.raw"
MISS_TOPIC = "px.bench.uamiss"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def say(msg=""):
    print(msg, file=sys.stderr, flush=True)


# --- the data set ------------------------------------------------------------------

HEAD_UAS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
]
SITES = ["https://shop.example", "https://www.acme.test", "https://blog.example.org",
         "https://app.saas.example"]
PATHS = ["/", "/pricing", "/features", "/docs/getting-started", "/docs/api",
         "/blog/2026/11/launch", "/blog/how-we-scaled", "/products/widget-pro",
         "/products/widget-mini", "/cart", "/checkout", "/checkout/thanks",
         "/account", "/account/settings", "/search", "/about", "/careers",
         "/contact", "/integrations/slack", "/changelog"]
REFERRERS = (["", "", "", ""] +  # direct
             ["https://www.google.com/", "https://www.google.co.uk/search?q=widgets",
              "https://www.bing.com/search?q=acme", "https://duckduckgo.com/",
              "https://www.facebook.com/", "https://t.co/abc123",
              "https://www.linkedin.com/feed/", "https://news.ycombinator.com/item?id=1",
              "https://www.reddit.com/r/programming/", "https://github.com/acme/widget",
              "https://partner.example.net/review"])
UTMS = ["", "", "", "", "", "",
        "utm_source=newsletter&utm_medium=email&utm_campaign=nov_2026",
        "utm_source=google&utm_medium=cpc&utm_campaign=brand&utm_term=widgets&gclid=Cj0KCQiA",
        "utm_source=facebook&utm_medium=social&utm_content=carousel&fbclid=IwAR2x",
        "utm_source=twitter&utm_medium=social", "msclkid=7f1e2d3c"]
EVENTS = ["page_view"] * 6 + ["click", "scroll_depth", "add_to_cart", "signup_started",
                              "signup_completed", "video_play", "search", "checkout_step"]
LOCALES = ["en-US", "en-GB", "de-DE", "fr-FR", "ja-JP", "pt-BR", "es-ES"]
PROJECTS = ["proj_shop", "proj_acme", "proj_blog", "proj_saas"]


def load_test_uas():
    path = "/usr/share/uap-core/tests/test_ua.yaml"
    try:
        import yaml
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        with open(path) as f:
            return [c["user_agent_string"] for c in yaml.load(f, Loader=loader)["test_cases"]
                    if c.get("user_agent_string")]
    except ImportError:
        with open(path) as f:
            return [m.group(1).replace("''", "'") for m in
                    re.finditer(r"user_agent_string: '(.*)'\s*$", f.read(), re.M)]


def geoip_test_ips(geoip_dir):
    """One or two addresses in each network of MaxMind's City test data."""
    ips = ["81.2.69.142", "81.2.69.160", "2001:218::", "89.160.20.112",
           "216.160.83.56", "2a02:cf40::1", "67.43.156.1", "175.16.199.1"]
    try:
        with open(os.path.join(geoip_dir, "GeoIP2-City-Test.json")) as f:
            for rec in json.load(f):
                net = ipaddress.ip_network(list(rec)[0], strict=False)
                if net.version == 6 and net.network_address.ipv4_mapped is None \
                        and str(net).startswith("::"):
                    continue
                ips.append(str(net.network_address + 1))
    except (OSError, ValueError, TypeError):
        pass
    return ips


def zipf_cdf(n, s):
    w = [1.0 / (k ** s) for k in range(1, n + 1)]
    tot = sum(w)
    acc, out = 0.0, []
    for x in w:
        acc += x / tot
        out.append(acc)
    return out


def iso(ms):
    return (datetime.datetime.fromtimestamp(ms // 1000, datetime.timezone.utc)
            .strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % (ms % 1000))


def generate(path, n, geoip_dir, seed=1):
    """Write n lines "<key>\\t<value>"; returns stats of the mix."""
    import bisect
    rnd = random.Random(seed)
    js = lambda s: json.dumps(s)  # noqa: E731
    test_uas = load_test_uas()
    rnd.shuffle(test_uas)
    head_cdf = zipf_cdf(len(HEAD_UAS), 1.0)
    tail_cdf = zipf_cdf(len(test_uas), 1.1)
    head_js = [js(u) for u in HEAD_UAS]
    tail_js = [js(u) for u in test_uas]
    known_ips = geoip_test_ips(geoip_dir)
    visitors = max(1, n // 25)
    now_ms = int(time.time() * 1000)
    start_ms = now_ms - 3 * 3600 * 1000
    step = (3 * 3600 * 1000) / max(1, n)
    stats = {"events": n, "visitors": visitors, "distinct_test_uas": len(test_uas),
             "known_ips": len(known_ips)}
    rr = rnd.random
    with open(path, "w") as f:
        for i in range(n):
            v = rnd.randrange(visitors)
            vr = random.Random(v)   # a visitor keeps its UA, IP and project
            project = PROJECTS[v % 4]
            x = vr.random()
            if x < 0.60:
                ua = head_js[bisect.bisect_left(head_cdf, vr.random())]
            elif x < 0.98:
                ua = tail_js[min(len(tail_js) - 1, bisect.bisect_left(tail_cdf, vr.random()))]
            else:   # a one-off build number: a cache miss
                ua = js("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                        "(KHTML, like Gecko) Chrome/131.0.%d.%d Safari/537.36"
                        % (vr.randrange(10000), vr.randrange(300)))
            y = vr.random()
            if y < 0.15:
                ip = vr.choice(known_ips)
            elif y < 0.93:
                ip = "%d.%d.%d.%d" % (vr.randrange(1, 224), vr.randrange(256),
                                      vr.randrange(256), vr.randrange(1, 255))
            else:
                ip = "2a0%x:%x:%x::%x" % (vr.randrange(1, 10), vr.randrange(65536),
                                          vr.randrange(65536), vr.randrange(65536))
            anon = "anon_%07d" % v
            site = SITES[v % 4]
            page = PATHS[int(rr() * len(PATHS))]
            utm = UTMS[int(rr() * len(UTMS))]
            url = site + page + ("?" + utm if utm else "")
            ref = REFERRERS[int(rr() * len(REFERRERS))] if rr() < 0.5 else site + "/"
            ev = EVENTS[int(rr() * len(EVENTS))]
            recv = int(start_ms + i * step)
            client = recv - int(rr() * 2000)
            h = "%032x" % rnd.getrandbits(128)
            eid = "%s-%s-4%s-a%s-%s" % (h[:8], h[8:12], h[13:16], h[17:20], h[20:])
            user = (',"user_id":"user_%06d"' % v) if v % 3 == 0 else ""
            props = ('{"plan":"%s","value":%d,"logged_in":%s,"experiment":"exp_%d"}'
                     % (("free", "pro", "team")[v % 3], int(rr() * 500),
                        "true" if user else "false", int(rr() * 4)))
            ctx = ('{"page":{"url":%s,"path":"%s","title":"%s","referrer":%s},'
                   '"locale":"%s","timezone":"Europe/London",'
                   '"screen":{"width":%d,"height":%d},'
                   '"library":{"name":"px-web","version":"1.2.0"}}'
                   % (js(url), page, "Page " + page, js(ref), LOCALES[v % 7],
                      (1920, 1440, 390, 412)[v % 4], (1080, 900, 844, 915)[v % 4]))
            value = ('{"event":"%s","anonymous_id":"%s"%s,"properties":%s,"context":%s,'
                     '"event_id":"%s","timestamp":"%s","client_timestamp":"%s",'
                     '"project_id":"%s","received_at":"%s","ip":"%s","user_agent":%s,'
                     '"schema_version":1}'
                     % (ev, anon, user, props, ctx, eid, iso(client), iso(client),
                        project, iso(recv), ip, ua))
            f.write("%s/%s\t%s\n" % (project, anon, value))
    return stats


# --- processes ---------------------------------------------------------------------

def cpu_seconds(pid):
    """utime + stime of pid (all threads) in seconds, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except (OSError, TypeError):
        return None
    fields = st[st.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_kb(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, TypeError):
        return None
    return None


def metrics(url):
    """{name{labels}: value} from a Prometheus text page ({} on error)."""
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=3) as r:
            return prometheus_values(r.read().decode())
    except OSError:
        return {}


def ch_count(stack, db, table="events"):
    try:
        return int(stack.clickhouse.query(
            "SELECT count() FROM %s.%s" % (db, table)).strip() or 0)
    except Exception:
        return 0


def ch_distinct(stack, db):
    try:
        return int(stack.clickhouse.query(
            "SELECT uniqExact(project_id, event_id) FROM %s.events" % db).strip() or 0)
    except Exception:
        return 0


def ch_client(stack, query, stdin=None, timeout=600, settings=()):
    return subprocess.run(
        ["clickhouse-client", "--host", "127.0.0.1", "--port",
         str(stack.clickhouse.tcp_port), "--query", query] + list(settings),
        stdin=stdin, capture_output=True, timeout=timeout)


def ch_http(stack, body, query=None, gzip_body=False, timeout=600):
    """POST body to ClickHouse (query in the URL when given); the answer."""
    url = stack.clickhouse.url + "/"
    if query:
        url += "?query=" + urllib.parse.quote(query)
    req = urllib.request.Request(url, data=gzip.compress(body, 1) if gzip_body else body)
    if gzip_body:
        req.add_header("Content-Encoding", "gzip")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read()


def ch_wait_idle(stack, quiet=3, timeout=180):
    """Wait until ClickHouse merges nothing and its active parts stay the
    same for `quiet` polls 1 s apart; seconds waited (None on timeout)."""
    t0 = time.monotonic()
    last, calm = None, 0
    while time.monotonic() - t0 < timeout:
        time.sleep(1)
        try:
            merging = int(stack.clickhouse.query("SELECT count() FROM system.merges"))
            parts = stack.clickhouse.query(
                "SELECT count(), sum(rows) FROM system.parts WHERE active")
        except Exception:
            continue
        calm = calm + 1 if merging == 0 and parts == last else 0
        last = parts
        if calm >= quiet:
            return time.monotonic() - t0
    return None


def ch_same_schema(stack, src, dst):
    """Create database dst with src's tables and materialized views (not its
    plain views), in dependency order."""
    for sql in ("DROP DATABASE IF EXISTS %s" % dst, "CREATE DATABASE %s" % dst):
        stack.clickhouse.query(sql)
    rows = stack.clickhouse.query(
        "SELECT name, engine FROM system.tables WHERE database = '%s' "
        "AND engine != 'View' ORDER BY engine = 'MaterializedView', name" % src)
    for line in rows.splitlines():
        name = line.split("\t")[0]
        ddl = stack.clickhouse.query("SHOW CREATE TABLE %s.%s FORMAT TSVRaw" % (src, name))
        stack.clickhouse.query(ddl.replace("%s." % src, "%s." % dst))


def same_table_ceiling(stack, root, pids, timeout, block_rows):
    """clickhouse-client loading the worker's own output rows (px.events,
    JSONEachRow) into the same schema (events, the sessions view and
    table) in blocks of the worker's rows per insert: seconds, events/s and
    ClickHouse CPU per row until it is idle again.  (One block of 1M rows,
    the client's default, does not fit 18.16's memory limit.)"""
    path = os.path.join(root, "rows.jsonl")
    with open(path, "wb") as f:
        r = subprocess.run(
            ["clickhouse-client", "--host", "127.0.0.1", "--port",
             str(stack.clickhouse.tcp_port), "--query",
             "SELECT * FROM px.events FORMAT JSONEachRow"],
            stdout=f, stderr=subprocess.PIPE, timeout=timeout)
    if r.returncode:
        raise RuntimeError("export: %s" % r.stderr.decode()[-500:])
    ch_same_schema(stack, "px", "ceiling")
    ch_wait_idle(stack)
    c0 = cpu_seconds(pids["clickhouse"])
    t = time.monotonic()
    with open(path, "rb") as f:
        r = ch_client(stack, "INSERT INTO ceiling.events FORMAT JSONEachRow",
                      stdin=f, timeout=timeout,
                      settings=["--max_insert_block_size=%d" % block_rows])
    secs = time.monotonic() - t
    if r.returncode:
        raise RuntimeError("ceiling load: %s" % r.stderr.decode()[-500:])
    ch_wait_idle(stack)
    cpu = cpu_seconds(pids["clickhouse"]) - c0
    rows = ch_count(stack, "ceiling")
    return {"rows": rows, "seconds": secs, "events_per_s": rows / secs,
            "clickhouse_cpu_s": cpu, "clickhouse_us_per_row": cpu / rows * 1e6}


def insert_levers(stack, pids, sizes, timeout):
    """ClickHouse CPU per row (merges included) for the worker's own rows
    inserted by HTTP in blocks of each size, JSONEachRow (gzip, as the worker
    sends) and RowBinary, into the same schema with and without the sessions
    view: what the insert levers of bench/README.md are measured with."""
    out = []
    for size in sizes:
        for fmt in ("JSONEachRow", "RowBinary"):
            for mv in (True, False):
                db = "lever"
                ch_same_schema(stack, "px", db)
                if not mv:
                    stack.clickhouse.query("DROP TABLE %s.sessions_by_month_mv" % db)
                total = ch_count(stack, "px")
                blocks = []
                for off in range(0, total, size):
                    blocks.append(ch_http(stack, (
                        "SELECT * FROM px.events ORDER BY received_at_ms, event_id "
                        "LIMIT %d OFFSET %d FORMAT %s" % (size, off, fmt)).encode()))
                ch_wait_idle(stack)
                c0 = cpu_seconds(pids["clickhouse"])
                for b in blocks:
                    ch_http(stack, b, "INSERT INTO %s.events FORMAT %s" % (db, fmt),
                            gzip_body=fmt == "JSONEachRow")
                ch_wait_idle(stack)
                cpu = cpu_seconds(pids["clickhouse"]) - c0
                rows = ch_count(stack, db)
                out.append({"block_rows": size, "format": fmt, "sessions_view": mv,
                            "rows": rows, "inserts": len(blocks),
                            "clickhouse_us_per_row": cpu / rows * 1e6})
                say("  insert lever: %6d-row blocks, %-11s %-17s %.1f us/row" % (
                    size, fmt, "with sessions view" if mv else "events alone",
                    out[-1]["clickhouse_us_per_row"]))
    return out


def produce(stack, topic, path, timeout=600):
    t0 = time.monotonic()
    r = subprocess.run(
        ["kcat", "-b", stack.kafka.bootstrap, "-P", "-t", topic, "-K", "\t",
         "-l", "-X", "compression.codec=lz4", "-X", "linger.ms=50",
         "-X", "batch.num.messages=10000", "-X", "queue.buffering.max.messages=1000000",
         "-X", "queue.buffering.max.kbytes=1048576", path],
        capture_output=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("kcat -P failed: %s" % r.stderr.decode(errors="replace")[-2000:])
    return time.monotonic() - t0


def run_worker(w, stack, db, n, timeout, extra_pids=None, perf=None, peers=()):
    """Start worker w (and peers: more workers of its group, started with
    it), sample until ClickHouse db.events has n rows; figures, the workers'
    CPU and counters summed, peak RSS the largest of them.
    perf: a path: `perf record -g` the worker meanwhile, report written there."""
    extra_pids = extra_pids or {}
    other0 = {k: cpu_seconds(p) for k, p in extra_pids.items()}
    t0 = time.monotonic()
    w.start()
    if peers:
        # after w's migrations: workers starting together on a fresh
        # database race on its schema_migrations table (a TinyLog)
        w.wait_healthy(120)
    for x in peers:
        x.start()
    pid = w.pid()
    pids = [pid] + [x.pid() for x in peers]

    def all_cpu():
        return sum(cpu_seconds(p) or 0 for p in pids)

    def all_metrics():
        out = {}
        for x in (w,) + tuple(peers):
            for k, v in metrics(x.health_url).items():
                out[k] = out.get(k, 0) + v
        return out

    def peak_rss(last):
        got = [proc_kb(p, "VmHWM") for p in pids]
        return max([g for g in got if g] or [last or 0]) or None
    perf_proc = None
    if perf:
        perf_proc = subprocess.Popen(
            # system-wide, filtered to the worker at report time: `-p` follows
            # only the threads present when perf attaches, and the worker's
            # inserter thread may not be started yet
            ["perf", "record", "-F", "999", "-g", "-a", "-o", perf + ".data"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = []          # (t, cpu, stored)
    rows = 0
    last_ch = 0.0
    deadline = t0 + timeout
    hwm = None
    progress = (0, t0)     # (stored, when): no progress for 60 s is a failure
    while time.monotonic() < deadline:
        time.sleep(0.25)
        for x in (w,) + tuple(peers):
            if x.pid() is None:
                raise RuntimeError("px-worker exited (status %s); see %s" % (
                    x.exit_code(), x.log_path))
        now = time.monotonic()
        cpu = all_cpu()
        m = all_metrics()
        stored = m.get('px_worker_events_total{stage="stored"}', 0)
        samples.append((now - t0, cpu, stored))
        if stored > progress[0]:
            progress = (stored, now)
        elif now - progress[1] > 60:
            from pxstack.base import tail
            raise RuntimeError("px-worker stored nothing for 60 s (%d of %d); "
                               "last log lines:\n%s" % (stored, n, tail(w.log_path, 5)))
        hwm = peak_rss(hwm)
        if stored >= n or now - last_ch > 2.0:
            last_ch = now
            rows = ch_count(stack, db)
            if rows >= n and peers:
                # a partition moved as the peers joined is read again by
                # its new owner: replays, the same rows, merged away later
                rows = ch_distinct(stack, db)
            if rows >= n:
                break
    wall = time.monotonic() - t0
    cpu = all_cpu()
    hwm = peak_rss(hwm)
    m = all_metrics()
    other = {k: (cpu_seconds(p) or 0) - (other0[k] or 0) for k, p in extra_pids.items()}
    # the rows are in, but ClickHouse still merges what they made: its cost too
    idle_s = ch_wait_idle(stack) if rows >= n else None
    other_idle = {k: (cpu_seconds(p) or 0) - (other0[k] or 0) for k, p in extra_pids.items()}
    if perf_proc is not None:
        perf_proc.send_signal(signal.SIGINT)
        try:
            perf_proc.wait(30)
        except subprocess.TimeoutExpired:
            perf_proc.kill()
    w.stop(timeout=30)
    for x in peers:
        x.stop(timeout=30)
    if perf_proc is not None:
        with open(perf, "w") as f:
            subprocess.run(["perf", "report", "-i", perf + ".data", "--stdio",
                            "--pid", str(pid), "--percentage", "relative",
                            "--no-children", "--sort", "dso,symbol", "-g", "none",
                            "--percent-limit", "0.7"],
                           stdout=f, stderr=subprocess.DEVNULL, timeout=300)
    if rows < n:
        raise RuntimeError("ClickHouse has %d of %d rows after %.0f s (see %s)"
                           % (rows, n, wall, w.log_path))
    hit = m.get('px_worker_ua_cache_total{result="hit"}', 0)
    miss = m.get('px_worker_ua_cache_total{result="miss"}', 0)
    vhit = m.get('px_worker_session_cache_total{result="hit"}', 0)
    vmiss = m.get('px_worker_session_cache_total{result="miss"}', 0)

    def first(frac):
        for t, c, s in samples:
            if s >= frac * n:
                return t, c, s
        return None
    a, b = first(0.1), first(0.9)
    steady = {}
    if a and b and b[2] > a[2] and b[0] > a[0]:
        steady = {"events_per_s": (b[2] - a[2]) / (b[0] - a[0]),
                  "cpu_us_per_event": (b[1] - a[1]) / (b[2] - a[2]) * 1e6}
    first_stored = next((t for t, c, s in samples if s > 0), None)
    return {"events": n, "rows": rows, "wall_s": wall,
            "events_per_s": n / wall, "cpu_s": cpu,
            "cpu_s_per_million": cpu / n * 1e6, "cpu_us_per_event": cpu / n * 1e6,
            "peak_rss_bytes": hwm, "ua_cache_hit": hit, "ua_cache_miss": miss,
            "ua_hit_ratio": hit / (hit + miss) if hit + miss else None,
            "session_cache_hit": vhit, "session_cache_miss": vmiss,
            "steady_10_90": steady, "first_stored_after_s": first_stored,
            "other_cpu_s": other, "other_cpu_until_idle_s": other_idle,
            "clickhouse_idle_after_s": idle_s,
            "consumed": m.get('px_worker_events_total{stage="consumed"}'),
            "stored": m.get('px_worker_events_total{stage="stored"}'),
            "dead_lettered": m.get('px_worker_events_total{stage="dead_lettered"}'),
            "deduplicated": m.get('px_worker_events_total{stage="deduplicated"}'),
            "sessions_started": m.get("px_worker_sessions_started_total"),
            "batches": m.get("px_worker_batches_total"),
            "batch_ms_sum": m.get("px_worker_batch_duration_ms_sum")}


def total_parts(w):
    """{"total", "worker", "redis", "clickhouse"}: CPU us per stored event."""
    idle = w["other_cpu_until_idle_s"]
    parts = {"worker": w["cpu_s"], "redis": idle.get("redis", 0),
             "clickhouse": idle.get("clickhouse", 0)}
    out = {k: v / w["rows"] * 1e6 for k, v in parts.items()}
    out["total"] = sum(out.values())
    return out


def parse_compare(text):
    settings = {}
    for item in filter(None, text.split(",")):
        k, sep, v = item.partition("=")
        if not sep or not re.match(r"^[A-Z][A-Z0-9_]*$", k):
            raise SystemExit("--compare: %r is not SETTING=VALUE" % item)
        settings[k] = v
    return settings


def compare_order(rounds):
    """The sides of the runs after A's first: B B A A B B ... (A B B A A B
    B A ...), so that a drift over the runs (more data held by Redis and
    ClickHouse) weighs on both sides alike, until each has `rounds` runs."""
    order, n = [], {"A": 1, "B": 0}
    pattern = "BBAA"
    i = 0
    while n["A"] < rounds or n["B"] < rounds:
        side = pattern[i % 4]
        i += 1
        if n[side] < rounds:
            n[side] += 1
            order.append((side, n[side]))
    return order


def compare_runs(stack, env, args, pids, geoip_dir, extra_workers, first):
    """A (env) and B (env + --compare) on the same messages, each run on a
    fresh group, ClickHouse database and Redis db, dropped after it (what
    a run leaves must not cost the next ones); A's first run is the main
    one."""
    b_env = parse_compare(args.compare)
    runs = [("A", 1, first)]
    rdb = 3
    for side, r in compare_order(max(1, min(args.rounds, 7))):
        label = "%s%d" % (side.lower(), r)
        db = "bench_" + label
        url = re.sub(r"/\d+$", "/%d" % rdb, stack.redis.url)
        e = dict(env, CLICKHOUSE_DATABASE=db, KAFKA_GROUP_ID="px-bench-" + label,
                 REDIS_URL=url)
        if side == "B":
            e.update(b_env)
        wk = make_worker(stack, "worker-" + label, e, geoip_dir)
        extra_workers.append(wk)
        say("compare: run %s (%s) ..." % (label, args.compare if side == "B" else "as A"))
        w = run_worker(wk, stack, db, args.events, args.timeout, pids)
        wk.stop()
        ch_http(stack, ("DROP DATABASE IF EXISTS %s" % db).encode())
        subprocess.run(["redis-cli", "-p", str(stack.redis.port), "-n", str(rdb),
                        "FLUSHDB", "SYNC"], capture_output=True, timeout=120)
        ch_wait_idle(stack)
        runs.append((side, r, w))
        t = total_parts(w)
        say("  total %.1f us (worker %.1f, redis %.1f, clickhouse %.1f), "
            "peak RSS %.1f MiB" % (t["total"], t["worker"], t["redis"],
                                   t["clickhouse"], (w["peak_rss_bytes"] or 0) / 1048576))
    out = {"settings": b_env, "order": [s for s, r, w in runs], "runs": [
        dict(side=side, round=r, peak_rss_bytes=w["peak_rss_bytes"],
             events_per_s=w["events_per_s"], **total_parts(w)) for side, r, w in runs]}
    for side in ("A", "B"):
        mine = sorted(x["total"] for x in out["runs"] if x["side"] == side)
        out["median_" + side] = mine[len(mine) // 2] if len(mine) % 2 else \
            (mine[len(mine) // 2 - 1] + mine[len(mine) // 2]) / 2
    return out


def make_worker(stack, name, env, geoip_dir):
    return Worker(stack.root, stack.worker_bin, stack.kafka.bootstrap,
                  env.pop("REDIS_URL", stack.redis.url), stack.clickhouse,
                  geoip_dir=geoip_dir, health_port=free_port(), extra_env=env,
                  name=name)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=1000000, help="N (1,000,000)")
    p.add_argument("--batch-size", type=int, default=3000,
                   help="BATCH_SIZE (3000, the worker's default)")
    p.add_argument("--flush-interval", type=int, default=3000,
                   help="FLUSH_INTERVAL ms (3000, the worker's default)")
    p.add_argument("--block-rows", type=int,
                   help="PX_BLOCK_ROWS, rows per insert at most (the worker's default)")
    p.add_argument("--block-mb", type=int,
                   help="PX_BLOCK_MB, MB per insert at most (the worker's default)")
    p.add_argument("--gzip", type=int, metavar="LEVEL",
                   help="PX_CLICKHOUSE_GZIP, gzip level of the insert bodies "
                   "(the worker's default)")
    p.add_argument("--session-cache-mb", type=int, metavar="MB",
                   help="PX_SESSION_CACHE_MB, visitor states kept between "
                   "batches (the worker's default; 0: off)")
    p.add_argument("--workers", type=int, default=1,
                   help="px-worker processes in the consumer group (1; the topic "
                   "has 4 partitions): events/s and CPU are theirs together")
    p.add_argument("--compare", metavar="SETTING=VALUE[,...]", default="",
                   help="after the main run (A), runs with these worker settings (B) "
                   "and A's again in the order A B B A A B ..., each on a fresh "
                   "group, database and Redis db (e.g. PX_SESSION_CACHE_MB=0)")
    p.add_argument("--rounds", type=int, default=2,
                   help="runs of each side with --compare (2; at most 7)")
    p.add_argument("--levers", metavar="SIZES", default="",
                   help="after the run, ClickHouse CPU per row of the worker's rows "
                   "inserted in blocks of each size (e.g. 1000,5000,20000), JSONEachRow "
                   "and RowBinary, with and without the sessions view")
    p.add_argument("--miss-events", type=int, default=50000,
                   help="events for the UA miss-cost runs (50,000; 0: skip)")
    p.add_argument("--no-ceiling", action="store_true", help="skip the kcat | "
                   "clickhouse-client ceiling")
    p.add_argument("--timeout", type=int, default=900,
                   help="s the worker may take for N events (900)")
    p.add_argument("--perf", metavar="FILE", help="perf record the main worker run; "
                   "flat profile (dso, symbol) written to FILE")
    p.add_argument("--out", help="JSON results (default /tmp/px-bench/worker-<date>.json)")
    p.add_argument("--keep", action="store_true", help="keep the temp directory")
    args = p.parse_args(argv)
    if not (1000 <= args.events <= 20000000 and 0 <= args.miss_events <= args.events
            and 10 <= args.timeout <= 7200 and 1 <= args.workers <= 4):
        p.error("events 1,000..20,000,000; miss-events 0..events; timeout 10..7200 s; "
                "workers 1..4")
    for tool in ("kcat", "clickhouse-client"):
        if not shutil.which(tool):
            p.error("%s not found (scripts/install-deps.sh)" % tool)
    build = os.path.join(REPO, "build")
    if not os.access(os.path.join(build, "px-worker"), os.X_OK):
        p.error("build/px-worker missing: ./configure && make")
    geoip_dir = default_geoip_dir()
    if not geoip_dir:
        p.error("no GeoIP test data: set PX_GEOIP_DIR (tests/data/geoip)")

    def on_term(signum, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_term)

    root = tempfile.mkdtemp(prefix="px-worker-bench-")
    snap = os.path.join(root, "build")   # a `make` elsewhere cannot swap it
    os.makedirs(snap)
    shutil.copy2(os.path.join(build, "px-worker"), snap)
    env = {"BATCH_SIZE": str(args.batch_size),
           "FLUSH_INTERVAL": str(args.flush_interval)}
    if args.block_rows:
        env["PX_BLOCK_ROWS"] = str(args.block_rows)
    if args.block_mb:
        env["PX_BLOCK_MB"] = str(args.block_mb)
    if args.gzip is not None:
        env["PX_CLICKHOUSE_GZIP"] = str(args.gzip)
    if args.session_cache_mb is not None:
        env["PX_SESSION_CACHE_MB"] = str(args.session_cache_mb)
    stack = Stack(root, ports=Ports.free(), build=snap, geoip_dir=geoip_dir,
                  worker_env=env, say=say)
    extra_workers = []
    res = {"started": datetime.datetime.now().isoformat(timespec="seconds"),
           "machine": {"cpus": os.cpu_count(), "uname": " ".join(os.uname()),
                       "loadavg_at_start": os.getloadavg()},
           "settings": vars(args).copy(), "goals": GOALS, "geoip_dir": geoip_dir}
    rc = 1
    say("worker bench: stack in %s, worker copied from %s" % (root, build))
    try:
        os.makedirs(stack.logs_dir, exist_ok=True)
        stack.kafka.topics[MISS_TOPIC] = 4
        for s in stack.backends:
            s.start()
        for s in stack.backends:
            s.wait_healthy(150)
        data = os.path.join(root, "events.tsv")
        t = time.monotonic()
        res["dataset"] = generate(data, args.events, geoip_dir)
        res["dataset"]["bytes"] = os.path.getsize(data)
        res["dataset"]["generate_s"] = time.monotonic() - t
        say("generated %d messages (%.0f MB) in %.1f s" % (
            args.events, res["dataset"]["bytes"] / 1e6, res["dataset"]["generate_s"]))
        secs = produce(stack, TOPIC, data)
        res["produce"] = {"seconds": secs, "events_per_s": args.events / secs}
        say("pre-filled %s with kcat -P in %.1f s (%.0f msg/s)" % (TOPIC, secs, args.events / secs))
        if args.miss_events:
            small = os.path.join(root, "events-small.tsv")
            with open(data) as src, open(small, "w") as dst:
                for i, line in enumerate(src):
                    if i >= args.miss_events:
                        break
                    dst.write(line)
            produce(stack, MISS_TOPIC, small)

        if not args.no_ceiling:
            q = ("CREATE TABLE IF NOT EXISTS bench.raw (event String, event_id String, "
                 "anonymous_id String, user_id String, project_id String, "
                 "timestamp String, received_at String, ip String, user_agent String, "
                 "schema_version UInt8) ENGINE = MergeTree() ORDER BY (project_id, event_id)")
            for sql in ("CREATE DATABASE IF NOT EXISTS bench", q):
                r = ch_client(stack, sql)
                if r.returncode:
                    raise RuntimeError("clickhouse-client: %s" % r.stderr.decode()[-500:])
            cmd = ("kcat -b %s -C -t %s -o beginning -e -q -f '%%s\\n' | "
                   "clickhouse-client --host 127.0.0.1 --port %d "
                   "--input_format_skip_unknown_fields=1 "
                   "--query 'INSERT INTO bench.raw FORMAT JSONEachRow'" % (
                       stack.kafka.bootstrap, TOPIC, stack.clickhouse.tcp_port))
            say("ceiling: %s" % cmd)
            t = time.monotonic()
            r = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True,
                               timeout=args.timeout)
            secs = time.monotonic() - t
            if r.returncode:
                raise RuntimeError("ceiling failed: %s" % r.stderr.decode()[-1000:])
            rows = ch_count(stack, "bench", "raw")
            res["ceiling"] = {"seconds": secs, "rows": rows, "events_per_s": rows / secs,
                              "command": cmd}
            say("  %d rows in %.1f s: %.0f events/s" % (rows, secs, rows / secs))
            ch_wait_idle(stack)   # its merges are not the worker's

        pids = {"redis": stack.redis.pid(), "clickhouse": stack.clickhouse.pid(),
                "kafka": stack.kafka.pid()}
        say("px-worker: %d events, BATCH_SIZE=%d FLUSH_INTERVAL=%d, GeoIP %s ..." % (
            args.events, args.batch_size, args.flush_interval, geoip_dir))
        peers = [make_worker(stack, "worker-peer%d" % i, dict(env), geoip_dir)
                 for i in range(1, args.workers)]
        extra_workers.extend(peers)
        w = run_worker(stack.worker, stack, "px", args.events, args.timeout, pids,
                       perf=os.path.abspath(args.perf) if args.perf else None,
                       peers=peers)
        res["worker"] = w
        say("  %.0f events/s (steady %.0f), %.1f us CPU/event (steady %.1f), "
            "peak RSS %.1f MiB, UA hit ratio %.4f" % (
                w["events_per_s"], w["steady_10_90"].get("events_per_s", 0),
                w["cpu_us_per_event"], w["steady_10_90"].get("cpu_us_per_event", 0),
                (w["peak_rss_bytes"] or 0) / 1048576, w["ua_hit_ratio"] or 0))
        if not args.no_ceiling:
            say("same-table ceiling: clickhouse-client loads the worker's %d rows "
                "into the same schema ..." % w["rows"])
            c = same_table_ceiling(stack, root, pids, args.timeout,
                                   args.block_rows or WORKER_BLOCK_ROWS)
            res["same_table_ceiling"] = c
            say("  %d rows in %.1f s: %.0f events/s, ClickHouse %.1f us/row" % (
                c["rows"], c["seconds"], c["events_per_s"], c["clickhouse_us_per_row"]))
        if args.levers:
            res["insert_levers"] = insert_levers(
                stack, pids, [int(x) for x in args.levers.split(",")], args.timeout)
        try:
            res["sample_row"] = stack.clickhouse.query(
            "SELECT event, browser, os, device_type, country, city, asn, referrer_type, "
            "utm_source, session_id, session_seq FROM px.events WHERE country != '' "
            "LIMIT 1 FORMAT JSONEachRow")
        except Exception as e:
            res["sample_row"] = "(%s)" % e

        if args.compare:
            res["compare"] = compare_runs(stack, env, args, pids, geoip_dir,
                                          extra_workers, w)

        if args.miss_events:
            runs = {}
            for label, db, rdb, extra in (("cached", "bench_ua_cached", 1, {}),
                                          ("cache_1", "bench_ua_nocache", 2,
                                           {"PX_UA_CACHE_SIZE": "1"})):
                e = dict(env, KAFKA_TOPIC=MISS_TOPIC, CLICKHOUSE_DATABASE=db,
                         KAFKA_GROUP_ID="px-bench-" + label,
                         REDIS_URL=re.sub(r"/\d+$", "/%d" % rdb, stack.redis.url), **extra)
                wk = make_worker(stack, "worker-" + label, e, geoip_dir)
                extra_workers.append(wk)
                say("UA miss cost: %d events, %s ..." % (args.miss_events, label))
                runs[label] = run_worker(wk, stack, db, args.miss_events, args.timeout)
            c, u = runs["cached"], runs["cache_1"]
            dm = u["ua_cache_miss"] - c["ua_cache_miss"]
            res["ua_miss_cost"] = {
                "runs": runs, "extra_misses": dm,
                "us_per_miss": (u["cpu_s"] - c["cpu_s"]) / dm * 1e6 if dm > 0 else None}
            say("  %.0f extra misses cost %.2f s CPU: %.1f us per miss" % (
                dm, u["cpu_s"] - c["cpu_s"], res["ua_miss_cost"]["us_per_miss"] or 0))
        rc = 0
    except KeyboardInterrupt:
        say("worker bench: interrupted")
        rc = 130
    except Exception as e:
        say("worker bench: failed: %s" % e)
        say("worker bench: logs in %s/logs" % root)
        args.keep = True
        rc = 1
    finally:
        for wk in extra_workers:
            try:
                wk.stop(timeout=10)
            except Exception:
                pass
        try:
            stack.down()
        except Exception as e:
            say("worker bench: stopping the stack: %s" % e)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    res["machine"]["loadavg_at_end"] = os.getloadavg()
    if rc == 0:
        report(res, args)
    return rc


def report(res, args):
    w = res["worker"]
    g = GOALS
    st = w["steady_10_90"]

    def ok(x):
        return "MET" if x else "MISSED"
    idle = w["other_cpu_until_idle_s"]
    stored = w["rows"]
    parts = {"worker": w["cpu_s"], "redis": idle.get("redis", 0),
             "clickhouse": idle.get("clickhouse", 0)}
    total_us = sum(parts.values()) / stored * 1e6
    rows = [
        ("TOTAL CPU per stored event", "%.1f us" % total_us,
         "worker + Redis + ClickHouse, until ClickHouse is idle (merges in): " + ", ".join(
             "%s %.1f us (%.0f%%)" % (k, v / stored * 1e6, 100 * v / sum(parts.values()))
             for k, v in parts.items()),
         "goal <= %g us: %s" % (g["total_cpu_us_per_event"],
                                ok(total_us <= g["total_cpu_us_per_event"]))),
        ("  events/s", "%.0f events/s" % w["events_per_s"],
         "ClickHouse idle %s s after the last row; Kafka %.1f CPU s" % (
             "%.0f" % w["clickhouse_idle_after_s"] if w["clickhouse_idle_after_s"] is not None
             else "(not within 180)", idle.get("kafka", 0)), ""),
        ("px-worker, all enrichment", "%.0f events/s" % w["events_per_s"],
         "%d events in %.1f s (start to last row); steady 10-90%%: %.0f/s" % (
             w["events"], w["wall_s"], st.get("events_per_s", 0)),
         "goal >= %d: %s" % (g["events_per_s"], ok(w["events_per_s"] >= g["events_per_s"]))),
        ("  CPU per event", "%.1f us" % w["cpu_us_per_event"],
         "%.1f CPU s per million; steady %.1f us" % (
             w["cpu_s_per_million"], st.get("cpu_us_per_event", 0)),
         "goal <= %g us: %s" % (g["cpu_us_per_event"],
                                ok(w["cpu_us_per_event"] <= g["cpu_us_per_event"]))),
        ("  peak RSS (VmHWM)", "%.1f MiB" % ((w["peak_rss_bytes"] or 0) / 1048576), "",
         "goal < 200 MiB: %s" % ok((w["peak_rss_bytes"] or 1e12) < g["peak_rss_bytes"])),
        ("  UA cache", "%.2f%% hits" % (100 * (w["ua_hit_ratio"] or 0)),
         "%d hits, %d misses" % (w["ua_cache_hit"], w["ua_cache_miss"]), ""),
        ("  visitor cache", "%.2f%% hits" % (
            100 * w["session_cache_hit"] / max(1, w["session_cache_hit"] + w["session_cache_miss"])),
         "%d visitor states not read from Redis, %d read (PX_SESSION_CACHE_MB)" % (
             w["session_cache_hit"], w["session_cache_miss"]), ""),
        ("  other CPU meanwhile", "", ", ".join(
            "%s %.1f s" % kv for kv in sorted(w["other_cpu_s"].items())), ""),
    ]
    mc = res.get("ua_miss_cost")
    if mc:
        rows.append(("  UA miss cost", fmt_us(mc["us_per_miss"]),
                     "CPU(cache=1) - CPU(cache=10000) over %d events / %.0f extra misses"
                     % (args.miss_events, mc["extra_misses"]), ""))
    c = res.get("same_table_ceiling")
    if c:
        rows.append(("same-table ceiling", "%.0f events/s" % c["events_per_s"],
                     "clickhouse-client, the worker's %d rows into the same schema "
                     "(JSONEachRow), ClickHouse %.1f us/row" % (
                         c["rows"], c["clickhouse_us_per_row"]),
                     "worker = %.0f%% of it" % (100 * w["events_per_s"] / c["events_per_s"])))
    cmp_ = res.get("compare")
    if cmp_:
        for x in cmp_["runs"]:
            rows.append(("  compare %s%d" % (x["side"], x["round"]), "%.1f us" % x["total"],
                         "worker %.1f, redis %.1f, clickhouse %.1f us; peak RSS %.1f MiB" % (
                             x["worker"], x["redis"], x["clickhouse"],
                             (x["peak_rss_bytes"] or 0) / 1048576), ""))
        b = ",".join("%s=%s" % kv for kv in cmp_["settings"].items())
        rows.append(("compare: median total", "A %.1f / B %.1f us" % (
            cmp_["median_A"], cmp_["median_B"]), "B = A with %s" % b, ""))
    for lv in res.get("insert_levers", []):
        rows.append(("  insert lever", "%.1f us/row" % lv["clickhouse_us_per_row"],
                     "ClickHouse CPU, %d-row blocks, %s, %s" % (
                         lv["block_rows"], lv["format"],
                         "with the sessions view" if lv["sessions_view"] else "events alone"),
                     ""))
    c = res.get("ceiling")
    if c:
        rows.append(("raw ceiling: kcat | clickhouse-client", "%.0f events/s" % c["events_per_s"],
                     "%d rows in %.1f s, JSONEachRow into bench.raw (MergeTree)" % (
                         c["rows"], c["seconds"]), "worker = %.0f%% of it" % (
                             100 * w["events_per_s"] / c["events_per_s"])))
    rows.append(("pre-fill: kcat -P", "%.0f msg/s" % res["produce"]["events_per_s"],
                 "%.0f MB of messages" % (res["dataset"]["bytes"] / 1e6), ""))
    print()
    print("PX worker benchmark, %s, %d CPUs, N=%d, %s, BATCH_SIZE=%d, FLUSH_INTERVAL=%d%s%s%s%s" % (
        res["started"], res["machine"]["cpus"], args.events,
        "%d workers (CPU, counters and events/s of all; peak RSS of the largest)"
        % args.workers if args.workers > 1 else "1 worker", args.batch_size,
        args.flush_interval,
        ", PX_BLOCK_ROWS=%d" % args.block_rows if args.block_rows else "",
        ", PX_BLOCK_MB=%d" % args.block_mb if args.block_mb else "",
        ", PX_CLICKHOUSE_GZIP=%d" % args.gzip if args.gzip is not None else "",
        ", PX_SESSION_CACHE_MB=%d" % args.session_cache_mb
        if args.session_cache_mb is not None else ""))
    wid = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(r[i].ljust(wid[i]) for i in range(4)).rstrip())
    print("worker counters: consumed %s stored %s dead-lettered %s deduplicated %s "
          "sessions %s inserts %s" % (w["consumed"], w["stored"], w["dead_lettered"],
                                      w["deduplicated"], w["sessions_started"], w["batches"]))
    if res.get("sample_row"):
        print("sample row: %s" % res["sample_row"].strip())
    out = args.out or os.path.join(
        "/tmp/px-bench", "worker-%s.json" % time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(res, f, indent=2, default=str)
    print("results: %s" % out)


def fmt_us(v):
    return "-" if v is None else "%.1f us" % v


if __name__ == "__main__":
    sys.exit(main())
