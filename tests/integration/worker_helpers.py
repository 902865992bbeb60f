"""Helpers for the px-worker failure tests (test_worker_failures.py).

Those tests kill services, so they run on a stack of their own (module
fixture in the test file), never on the session's. Here: a client bound to
a Stack, a background event sender that records what was answered 202
(retrying 503s like the SDK, with the same event_ids), the exactly-once
checks against ClickHouse, and worker health / RSS / consumer-group probes.
"""

import gzip
import json
import os
import re
import subprocess
import threading
import time
import urllib.request
import uuid
from collections import Counter
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import requests

from pxstack import DEMO_KEY, DEMO_PROJECT
from pxstack.base import free_port, prometheus_values, wait_until
from pxstack.stack import sanitizer_env
from pxstack.worker import Worker


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def tag(prefix):
    """A short unique marker for one test's visitors."""
    return "%s%s" % (prefix, uuid.uuid4().hex[:8])


def log_tail(path, lines=40):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


class Client:
    """ClickHouse, worker health and Kafka access for one Stack."""

    def __init__(self, stack):
        self.stack = stack
        self.project = DEMO_PROJECT

    # -- ClickHouse ---------------------------------------------------------------

    def ch(self, sql, timeout=20):
        r = requests.post(self.stack.clickhouse.url + "/", data=sql.encode(),
                          timeout=timeout)
        assert r.status_code == 200, "ClickHouse %d: %s\n%s" % (r.status_code, r.text, sql)
        return r.text

    def ch_rows(self, sql):
        out = self.ch(sql + " FORMAT JSONEachRow")
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def where(self, visitors):
        return "project_id = '%s' AND anonymous_id IN (%s)" % (
            self.project, ", ".join("'%s'" % v for v in sorted(visitors)))

    def stored_count(self, visitors):
        """uniqExact(event_id) of these visitors (0 while ClickHouse is down)."""
        try:
            return int(self.ch("SELECT uniqExact(event_id) FROM px.events WHERE %s"
                               % self.where(visitors), timeout=5).strip() or 0)
        except (requests.RequestException, AssertionError):
            return 0

    # -- worker ---------------------------------------------------------------------

    @staticmethod
    def health(worker):
        """The worker's /health as a dict, or None when it does not answer."""
        if not worker.health_url:
            return None
        try:
            r = requests.get(worker.health_url + "/health", timeout=2)
            return r.json()
        except (requests.RequestException, ValueError):
            return None

    @staticmethod
    def metrics(worker):
        """{metric line name with labels: value} from /metrics ({} if down)."""
        try:
            text = requests.get(worker.health_url + "/metrics", timeout=2).text
        except requests.RequestException:
            return {}
        return prometheus_values(text)

    @staticmethod
    def rss_mb(pid):
        """VmRSS of pid in MB (None when the process is gone)."""
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024.0
        except OSError:
            return None
        return None

    def worker_log(self, worker=None, lines=40):
        w = worker or self.stack.worker
        return log_tail(w.log_path, lines)

    # -- Kafka ------------------------------------------------------------------------

    def kafka_messages(self, topic, timeout=30):
        return self.stack.kafka.messages(topic, timeout)

    def kafka_produce(self, topic, payload, partition=None, key=None):
        """One message straight into topic with kcat (no nginx)."""
        cmd = ["kcat", "-P", "-b", self.stack.kafka.bootstrap, "-t", topic]
        if partition is not None:
            cmd += ["-p", str(partition)]
        data = payload if isinstance(payload, bytes) else payload.encode()
        if key is not None:
            cmd += ["-K", "\t"]
            data = key.encode() + b"\t" + data
        # one message: kcat splits on newlines, the payloads have none
        assert b"\n" not in data
        r = subprocess.run(cmd, input=data, capture_output=True, timeout=30)
        assert r.returncode == 0, "kcat -P failed: %s" % r.stderr.decode(errors="replace")

    def group_lag(self, group="px-worker", topic="px.events.raw"):
        """{partition: (current offset, log end, lag)} of the consumer group
        from Kafka's ConsumerGroupCommand (committed offsets)."""
        k = self.stack.kafka
        r = subprocess.run(
            k._java("org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
                    "--bootstrap-server", k.bootstrap, "--describe", "--group", group),
            capture_output=True, timeout=90, cwd=k.dir)
        out = r.stdout.decode(errors="replace")
        assert r.returncode == 0, "ConsumerGroupCommand failed:\n%s\n%s" % (
            out, r.stderr.decode(errors="replace")[-2000:])
        lag = {}
        for line in out.splitlines():
            cols = line.split()
            if len(cols) >= 6 and cols[1] == topic:
                cur = int(cols[3]) if cols[3].isdigit() else None
                end = int(cols[4]) if cols[4].isdigit() else None
                lag[int(cols[2])] = (cur, end, (end - cur) if cur is not None
                                     and end is not None else None)
        return lag, out


class AnswerHandler(BaseHTTPRequestHandler):
    """A quiet HTTP/1.1 handler with _answer(status, text or bytes)."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self, status, body):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class LoopbackServer:
    """handler (an AnswerHandler class) served on a free loopback port by
    a background thread: self.url; close() when done."""

    def __init__(self, handler):
        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class FakeClickHouse(LoopbackServer):
    """An HTTP server that plays a ClickHouse that is down for inserts:
    statements a worker runs at start (CREATE ..., SELECT max(version) of the
    migrations) succeed, every INSERT gets 503. A second worker can thus
    start and join the consumer group while the real ClickHouse is down
    (a worker waits for ClickHouse before it joins); it stores nothing."""

    def __init__(self):
        self.inserts = 0
        fake = self

        class Handler(AnswerHandler):
            def _handle(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                query = " ".join(parse_qs(urlparse(self.path).query).get("query", []))
                if not query and self.headers.get("Content-Encoding") != "gzip":
                    query = body.decode("utf-8", "replace")
                if "INSERT" in query.upper():
                    fake.inserts += 1
                    self._answer(503, "Code: 210. DB::NetException: Connection "
                                      "refused (fake ClickHouse: down for inserts)")
                elif query.lstrip().upper().startswith("SELECT"):
                    self._answer(200, "999\n")     # every migration applied
                else:
                    self._answer(200, "")

            do_GET = do_POST = _handle

        super().__init__(Handler)

    def table_exists(self, database, table):
        return True


def start_worker_with(stack, name, clickhouse, timeout=60.0, **env):
    """An extra px-worker of the stack's group (like stack.start_extra_worker)
    that talks to `clickhouse` (e.g. a FakeClickHouse) instead of the
    stack's. Stopped by stack.down() or restore()."""
    e = dict(stack.worker.extra_env)
    e.update({k: str(v) for k, v in env.items()})
    w = Worker(stack.root, stack.worker_bin, stack.kafka.bootstrap, stack.redis.url,
               clickhouse, geoip_dir=stack.worker.geoip_dir, health_port=free_port(),
               extra_env=e, sanitizer_env=sanitizer_env(stack.logs_dir, name,
                                                        stack.worker_bin),
               name=name)
    w.start()
    stack.extras.append(w)
    try:
        w.wait_healthy(timeout)
    except BaseException:
        w.stop(timeout=5)
        raise
    return w


def worker_refusing_to_start(stack, name, **env):
    """Start an extra worker (a database and group of its own) with env,
    expect it not to become healthy, and return its log: what it said."""
    db = "px_%s_%s" % (name.replace("-", "_"), uuid.uuid4().hex[:8])
    try:
        w = stack.start_extra_worker(name, timeout=30, extra_env=dict(
            {"CLICKHOUSE_DATABASE": db, "KAFKA_GROUP_ID": "px-" + db},
            **{k: str(v) for k, v in env.items()}))
    except Exception:
        pass
    else:
        stack.extras.remove(w)
        w.stop()
        raise AssertionError("%s started with %s" % (name, env))
    with open(os.path.join(stack.logs_dir, name + ".log"), errors="replace") as f:
        return f.read()


def kafka_admin(stack, main, *args, timeout=120):
    """Run one of Kafka's admin tools (TopicCommand, ConfigCommand...)."""
    k = stack.kafka
    r = subprocess.run(k._java(main, "--bootstrap-server", k.bootstrap, *args),
                       capture_output=True, timeout=timeout, cwd=k.dir)
    assert r.returncode == 0, "%s %s failed:\n%s\n%s" % (
        main, " ".join(args), r.stdout.decode(errors="replace")[-2000:],
        r.stderr.decode(errors="replace")[-2000:])
    return r.stdout.decode(errors="replace")


def create_topic(stack, topic, partitions=1, **config):
    """Create a topic; config: topic settings (max_message_bytes=...)."""
    args = ["--create", "--topic", topic, "--partitions", str(partitions),
            "--replication-factor", "1"]
    for k, v in config.items():
        args += ["--config", "%s=%s" % (k.replace("_", "."), v)]
    kafka_admin(stack, "org.apache.kafka.tools.TopicCommand", *args)


def alter_topic(stack, topic, **config):
    """Change a topic's settings (max_message_bytes=...)."""
    kafka_admin(stack, "kafka.admin.ConfigCommand", "--alter", "--entity-type",
                "topics", "--entity-name", topic, "--add-config",
                ",".join("%s=%s" % (k.replace("_", "."), v) for k, v in config.items()))


def topic_exists(stack, topic):
    meta = stack.kafka.metadata()
    return any(t.get("topic") == topic and not t.get("error")
               for t in meta.get("topics", []))


class Sender:
    """Posts events for a set of visitors through nginx, in batches, from a
    background thread (start/stop) or inline (send_burst). Every event
    answered 202 is recorded in `accepted` (event_id -> visitor). A batch
    answered 503 (or not answered) is sent again with the same event_ids
    until 202, like the SDK; any other status is an error."""

    def __init__(self, stack, prefix, nvisitors=5, per_batch=10, pause=0.1,
                 retry_timeout=180.0):
        self.base = stack.nginx.url
        self.tag = tag(prefix)
        self.visitors = ["%s-v%02d" % (self.tag, i) for i in range(nvisitors)]
        self.per_batch = per_batch
        self.pause = pause
        self.retry_timeout = retry_timeout
        self.accepted = {}
        self.statuses = Counter()
        self.errors = []
        self.retried_batches = 0
        self.http = requests.Session()
        self.lock = threading.Lock()
        self._n = 0
        self._stop = threading.Event()
        self._thread = None

    def make_events(self, n):
        evs = []
        for _ in range(n):
            v = self.visitors[self._n % len(self.visitors)]
            self._n += 1
            evs.append({
                "event": "page_view",
                "event_id": str(uuid.uuid4()),
                "anonymous_id": v,
                "timestamp": now_iso(),
                "properties": {"wf": self.tag, "n": self._n},
                "context": {"page": {"url": "http://localhost/wf/%d" % self._n,
                                     "path": "/wf/%d" % self._n,
                                     "title": "worker failure test"},
                            "library": {"name": "pytest", "version": "1"}},
            })
        return evs

    def _post(self, events):
        body = json.dumps({"events": events, "sent_at": now_iso()})
        return self.http.post(self.base + "/api/v1/events/batch", data=body,
                              headers={"Content-Type": "application/json",
                                       "Authorization": "Bearer " + DEMO_KEY,
                                       "X-PX-Project-ID": DEMO_PROJECT},
                              timeout=20)

    def send(self, events):
        """Send one batch, retrying 503s / connection errors until 202."""
        deadline = time.monotonic() + self.retry_timeout
        first = True
        while True:
            if not first:
                with self.lock:
                    self.retried_batches += 1
            first = False
            try:
                r = self._post(events)
                status = r.status_code
            except requests.RequestException as e:
                status, r = "conn:%s" % type(e).__name__, None
            with self.lock:
                self.statuses[status] += 1
            if status == 202:
                with self.lock:
                    for ev in events:
                        self.accepted[ev["event_id"]] = ev["anonymous_id"]
                return True
            if status != 503 and not str(status).startswith("conn:"):
                with self.lock:
                    self.errors.append("%s: %s" % (status, r.text[:300] if r is not None else ""))
                return False
            if time.monotonic() > deadline:
                with self.lock:
                    self.errors.append("batch still not accepted after %.0fs (last %s)"
                                       % (self.retry_timeout, status))
                return False
            time.sleep(0.5)

    def send_burst(self, total, per_batch=None):
        per_batch = per_batch or self.per_batch
        while total > 0:
            k = min(per_batch, total)
            self.send(self.make_events(k))
            total -= k

    def _loop(self, limit):
        while not self._stop.is_set():
            if limit is not None and self._n >= limit:
                break
            self.send(self.make_events(self.per_batch))
            if self.pause:
                self._stop.wait(self.pause)

    def start(self, limit=None):
        """Send in the background until stop() (or `limit` events)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(limit,),
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout=240):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            assert not self._thread.is_alive(), "sender thread did not stop"
            self._thread = None

    def count(self):
        with self.lock:
            return len(self.accepted)

    def wait_accepted(self, n, timeout=120):
        return wait_until(lambda: self.count() >= n, timeout=timeout, interval=0.1,
                          desc="%d events accepted (have %d)" % (n, self.count()))

    def summary(self):
        return "%d accepted, statuses %s, %d retries, errors %s" % (
            self.count(), dict(self.statuses), self.retried_batches, self.errors[:5])


def assert_exactly_once(client, sender, timeout=180, sessions=True, worker_logs=()):
    """Every event the sender got 202 for is in px.events exactly once:
    the same event_ids (none missing, none extra), FINAL count and
    uniqExact both equal to their number, no event_id with two rows that
    differ (session_id / session_seq / timestamp_ms): a true duplicate.
    With sessions: each visitor has ONE session_id and seqs 1..n.
    Returns {"visible_identical_rows": k} (replays not merged yet)."""
    assert not sender.errors, "sender errors: " + sender.summary()
    ids = dict(sender.accepted)
    assert ids, "no event was accepted: " + sender.summary()
    visitors = sorted(set(ids.values()))
    where = client.where(visitors)
    logs = "\n".join("--- %s ---\n%s" % (w.name, client.worker_log(w, 30))
                     for w in worker_logs)

    try:
        wait_until(lambda: client.stored_count(visitors) >= len(ids), timeout=timeout,
                   interval=0.5, desc="%d events in ClickHouse" % len(ids))
    except AssertionError as e:
        have = {r["event_id"] for r in client.ch_rows(
            "SELECT DISTINCT event_id FROM px.events WHERE %s" % where)}
        missing = set(ids) - have
        raise AssertionError("%s: %d of %d accepted events missing (e.g. %s); %s\n%s"
                             % (e, len(missing), len(ids), sorted(missing)[:5],
                                sender.summary(), logs))

    rows = client.ch_rows(
        "SELECT event_id, count() AS n, uniqExact(session_id) AS sids, "
        "uniqExact(session_seq) AS seqs, uniqExact(timestamp_ms) AS tss, "
        "groupUniqArray(session_id) AS sessions "
        "FROM px.events WHERE %s GROUP BY event_id" % where)
    stored = {r["event_id"] for r in rows}
    missing = set(ids) - stored
    extra = stored - set(ids)
    assert not missing, "%d accepted events not stored, e.g. %s; %s\n%s" % (
        len(missing), sorted(missing)[:5], sender.summary(), logs)
    assert not extra, "%d events stored that were never answered 202, e.g. %s\n%s" % (
        len(extra), sorted(extra)[:5], logs)
    different = [r for r in rows if int(r["sids"]) > 1 or int(r["seqs"]) > 1
                 or int(r["tss"]) > 1]
    assert not different, ("%d event_ids stored twice with different rows (true "
                           "duplicates), e.g. %s\n%s" % (len(different), different[:3], logs))
    visible = sum(int(r["n"]) - 1 for r in rows if int(r["n"]) > 1)

    final = int(client.ch("SELECT count() FROM px.events FINAL WHERE %s" % where).strip())
    uniq = int(client.ch("SELECT uniqExact(event_id) FROM px.events WHERE %s"
                         % where).strip())
    assert final == len(ids), "FINAL count %d != %d accepted events" % (final, len(ids))
    assert uniq == len(ids), "uniqExact(event_id) %d != %d accepted" % (uniq, len(ids))

    if sessions:
        assert_one_session_each(client, sender, logs)
    return {"visible_identical_rows": visible, "events": len(ids)}


def assert_one_session_each(client, sender, logs=""):
    """Each visitor's events (all within seconds: far below the session
    timeout) carry one session_id, with session_seq 1..n."""
    per_visitor = Counter(sender.accepted.values())
    rows = client.ch_rows(
        "SELECT visitor, groupUniqArray(sid) AS sessions, "
        "groupArray(seq) AS seqs FROM (SELECT event_id, any(anonymous_id) "
        "AS visitor, any(session_id) AS sid, any(session_seq) AS "
        "seq FROM px.events WHERE %s GROUP BY event_id) GROUP BY visitor"
        % client.where(per_visitor))
    problems = []
    for r in rows:
        v = r["visitor"]
        seqs = sorted(int(s) for s in r["seqs"])
        if len(r["sessions"]) != 1 or "" in r["sessions"]:
            problems.append("%s: %d sessions %s" % (v, len(r["sessions"]), r["sessions"][:4]))
        if seqs != list(range(1, per_visitor[v] + 1)):
            dup = [s for s, c in Counter(seqs).items() if c > 1][:5]
            problems.append("%s: seqs not 1..%d (min %s max %s, repeated %s)" % (
                v, per_visitor[v], seqs[0] if seqs else None,
                seqs[-1] if seqs else None, dup))
    assert not problems, "sessions broken:\n  %s\n%s" % ("\n  ".join(problems), logs)


METRIC_RE = re.compile(r'^px_worker_events_total\{stage="(\w+)"\}$')


def stage_counts(client, worker):
    out = {}
    for k, v in client.metrics(worker).items():
        m = METRIC_RE.match(k)
        if m:
            out[m.group(1)] = int(v)
    return out


class ErrorFront:
    """ClickHouse's HTTP interface, forwarded; `fail` = (status, code)
    answers every INSERT with that error; rows holding `poison` make their
    block refused with code 27. Counts the INSERTs, and those of them sent
    gzip-compressed."""

    def __init__(self, target):
        self.target = target
        self.fail = None
        self.poison = None
        self.inserts = 0
        self.gzipped = 0
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _answer(self, status, body, code=None):
                data = body.encode()
                self.send_response(status)
                if code is not None:
                    self.send_header("X-ClickHouse-Exception-Code", str(code))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                gz = self.headers.get("Content-Encoding") == "gzip"
                if "INSERT" in urllib.request.unquote(self.path).upper():
                    front.inserts += 1
                    front.gzipped += 1 if gz else 0
                    if front.fail:
                        status, code = front.fail
                        return self._answer(status, "Code: %d. DB::Exception: "
                                            "(error front) refused" % code, code)
                    rows = gzip.decompress(body) if gz else body
                    if front.poison and front.poison.encode() in rows:
                        return self._answer(500, "Code: 27. DB::Exception: Cannot "
                                            "parse input: (error front) poison", 27)
                req = urllib.request.Request(front.target + self.path, data=body,
                                             method="POST")
                for h in ("Content-Encoding", "Authorization", "Content-Type"):
                    if self.headers.get(h):
                        req.add_header(h, self.headers[h])
                try:
                    with urllib.request.urlopen(req, timeout=30) as r:
                        return self._answer(r.status, r.read().decode("utf-8", "replace"))
                except urllib.error.HTTPError as e:
                    return self._answer(e.code, e.read().decode("utf-8", "replace"))

            def do_GET(self):
                with urllib.request.urlopen(front.target + self.path, timeout=30) as r:
                    self._answer(r.status, r.read().decode("utf-8", "replace"))

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def worker_behind_front(stack, name, redis_db, env=None):
    """An extra worker of its own consumer group, database, DLQ topic and
    Redis db (and settings env), inserting through an ErrorFront (w.front);
    w.db and w.dlq name its database and topic. Everything is removed
    afterwards."""
    run = uuid.uuid4().hex[:8]
    front = ErrorFront(stack.clickhouse.url)
    db, dlq = "px_%s_%s" % (name, run), "px.events.dlq.%s%s" % (name, run)
    stack.kafka.topics[dlq] = 1
    stack.kafka.create_topics([dlq])
    w = stack.start_extra_worker(name + "-worker", extra_env={
        "CLICKHOUSE_URL": front.url, "CLICKHOUSE_DATABASE": db,
        "KAFKA_GROUP_ID": "px-%s-%s" % (name, run), "KAFKA_DLQ_TOPIC": dlq,
        "REDIS_URL": stack.redis.url.rsplit("/", 1)[0] + "/%d" % redis_db,
        **(env or {}),
    })
    w.db, w.dlq, w.front, w.stack = db, dlq, front, stack
    try:
        yield w
    finally:
        w.stop(timeout=30)
        stack.extras.remove(w)
        front.close()
        stack.kafka.topics.pop(dlq, None)
        requests.post(stack.clickhouse.url + "/", data="DROP DATABASE IF EXISTS %s" % db,
                      timeout=30)
