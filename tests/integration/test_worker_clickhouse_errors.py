"""ClickHouse's errors classified by its exception code, not the HTTP
status: a wrong password (516, HTTP 403), a revoked grant (497, 403), a
dropped table (60, 404) or a timeout (159, 408) is an outage (nothing goes
to the dead-letter topic, the batch waits and is stored once the cause is
gone), while a row whose values ClickHouse refuses (27) is found by
bisection and dead-lettered alone.

An extra worker (its own consumer group, database, Redis db and DLQ topic)
inserts through an HTTP front that forwards to the session's ClickHouse and
can be told to answer every INSERT with a given error, or to refuse the
blocks holding a marked row, as ClickHouse would."""

import gzip
import json
import threading
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from pxstack.base import free_port


class ErrorFront:
    """ClickHouse's HTTP interface, forwarded; `fail` = (status, code)
    answers every INSERT with that error; rows holding `poison` make their
    block refused with code 27. Counts the INSERTs."""

    def __init__(self, target):
        self.target = target
        self.fail = None
        self.poison = None
        self.inserts = 0
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


@pytest.fixture
def errw(stack):
    run = uuid.uuid4().hex[:8]
    front = ErrorFront(stack.clickhouse.url)
    db, dlq = "px_err_%s" % run, "px.events.dlq.err%s" % run
    stack.kafka.topics[dlq] = 1
    stack.kafka.create_topics([dlq])
    w = stack.start_extra_worker("err-worker", extra_env={
        "CLICKHOUSE_URL": front.url, "CLICKHOUSE_DATABASE": db,
        "KAFKA_GROUP_ID": "px-err-" + run, "KAFKA_DLQ_TOPIC": dlq,
        "REDIS_URL": stack.redis.url.rsplit("/", 1)[0] + "/7",
    })
    w.db, w.dlq, w.front = db, dlq, front
    try:
        yield w
    finally:
        w.stop(timeout=30)
        stack.extras.remove(w)
        front.close()
        stack.kafka.topics.pop(dlq, None)
        requests.post(stack.clickhouse.url + "/", data="DROP DATABASE IF EXISTS %s" % db,
                      timeout=30)


def stored(px, w, ids):
    return px.ch_rows("SELECT event_id, count() AS n FROM %s.events WHERE event_id IN (%s) "
                      "GROUP BY event_id" % (w.db, ", ".join("'%s'" % i for i in ids)))


def dead_letters(px, w, ids):
    return [m for m in px.kafka_messages(w.dlq) if any(i in (m.get("payload") or "") for i in ids)]


def health(w):
    return requests.get(w.health_url + "/health", timeout=5).json()


@pytest.mark.parametrize("status,code,what", [
    (403, 516, "wrong password"), (403, 497, "revoked grant"),
    (404, 60, "dropped table"), (408, 159, "timeout")])
def test_outage_errors_wait_and_dead_letter_nothing(px, errw, status, code, what):
    w = errw
    px.wait_until(lambda: health(w)["lag"] == 0 and health(w)["pending"] == 0,
                  timeout=60, desc="the extra worker caught up")
    w.front.fail = (status, code)
    events = [px.event("ch_outage", anonymous_id="anon_" + what.replace(" ", "_"))
              for _ in range(5)]
    ids = [e["event_id"] for e in events]
    assert px.post_batch(events).status_code == 202
    before = w.front.inserts
    px.wait_until(lambda: w.front.inserts >= before + 2, timeout=60,
                  desc="the worker retrying its insert (%s)" % what)
    # the worker reports its pause (its snapshot is published every 100 ms)
    px.wait_until(lambda: health(w)["paused"], timeout=10,
                  desc="the worker paused on a %s" % what)
    assert dead_letters(px, w, ids) == [], "dead-lettered on a %s" % what

    w.front.fail = None
    rows = px.wait_until(lambda: (lambda r: r if len(r) == 5 else None)(stored(px, w, ids)),
                         timeout=60, desc="stored once the %s is fixed" % what)
    assert all(int(r["n"]) == 1 for r in rows), rows
    assert dead_letters(px, w, ids) == []


def test_a_refused_row_is_found_by_bisection_and_dead_lettered_alone(px, errw):
    w = errw
    px.wait_until(lambda: health(w)["lag"] == 0 and health(w)["pending"] == 0,
                  timeout=60, desc="the extra worker caught up")
    marker = "poison_" + uuid.uuid4().hex[:8]
    w.front.poison = marker
    events = [px.event("bisect", anonymous_id="anon_bisect") for _ in range(64)]
    events[41]["properties"] = {"m": marker}
    ids = [e["event_id"] for e in events]
    before = w.front.inserts
    assert px.post_batch(events).status_code == 202

    good = [i for i in ids if i != ids[41]]
    rows = px.wait_until(lambda: (lambda r: r if len(r) == 63 else None)(stored(px, w, good)),
                         timeout=60, desc="the 63 good rows stored")
    assert all(int(r["n"]) == 1 for r in rows), rows
    dl = px.wait_until(lambda: dead_letters(px, w, [ids[41]]), timeout=30,
                       desc="the refused row in the DLQ")
    assert len(dl) == 1 and json.loads(dl[0]["payload"])["reason"].find("27") >= 0, dl
    assert stored(px, w, [ids[41]]) == []
    # one block refused, then about 2 log2(64) = 12 blocks, not 64 rows
    # one at a time (the 64 events may come in two batches, and a block's
    # forward may time out on a loaded machine and be tried again)
    assert w.front.inserts - before <= 32, w.front.inserts - before
