"""One answer per request, whatever fails after the body is read: the
producer's queue fills up mid-batch, no producer could be made, the broker
does not acknowledge in time. Each time the client reads exactly one HTTP
response (no second one after it), nginx logs no alert ("header already
sent"), and nothing is counted as accepted. Dead letters go to Kafka
outside the request's ack, so a DLQ topic that does not exist never holds
up or fails a request.

Each test runs its own nginx of the session stack: most point at a Kafka
port where nothing listens. Once a worker process knows no broker is up it
refuses requests at once, but lets one a second through (so the producer
reconnects): the first batch request a fresh nginx gets always goes through
to the producer, which the queue-full and ack-timeout tests rely on.
"""

import threading
import time

import pytest

from module_helpers import (DEMO_LINE, accepted, assert_no_crash, envelope,
                            json_error, knows_no_broker, raw_http,
                            start_nginx, stop_nginx, wait_in_raw)
from pxstack.base import free_port
from pxstack import DEMO_KEY, DEMO_PROJECT


def nowhere():
    """A Kafka address where nothing listens."""
    return "127.0.0.1:%d" % free_port()


@pytest.fixture
def nginx_of(stack):
    started = []

    def start(name, **kw):
        n = start_nginx(stack, name, [DEMO_LINE], **kw)
        started.append(n)
        return n

    yield start
    for n in started:
        stop_nginx(stack, n)


def one_response(n, events, timeout=15):
    """POST a batch on a raw connection that the server closes after its
    answer; (status, headers, body, seconds). Fails if anything follows the
    first response's body."""
    body = envelope(events).encode()
    req = (b"POST /api/v1/events/batch HTTP/1.1\r\nHost: t\r\n"
           b"Authorization: Bearer " + DEMO_KEY.encode() + b"\r\n"
           b"X-PX-Project-ID: " + DEMO_PROJECT.encode() + b"\r\n"
           b"Content-Type: application/json\r\nConnection: close\r\n"
           b"Content-Length: %d\r\n\r\n" % len(body)) + body
    t0 = time.monotonic()
    data, closed = raw_http(n.port, req, read_timeout=timeout)
    took = time.monotonic() - t0
    assert closed is not None, "the connection stayed open: %r" % data[:300]
    head, sep, rest = data.partition(b"\r\n\r\n")
    assert sep, "no complete response: %r" % data[:300]
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in
               (l.partition(":") for l in lines[1:])}
    assert "content-length" in headers, headers
    length = int(headers["content-length"])
    assert len(rest) == length, (
        "%d bytes after a %d-byte body: a second answer? %r"
        % (len(rest) - length, length, rest[length:length + 300]))
    return status, headers, rest, took


def counters(px, n):
    r = px.get("/api/v1/events/queue/status", base=n.url)
    assert r.status_code == 200, r.text
    return r.json()["counters"]


def assert_one_answer_logged(n, expected_emerg=None):
    """No second answer tried ("header already sent" is an alert), no crash;
    expected_emerg: an [emerg] line the test provoked on purpose."""
    log = n.error_log()
    assert "header already sent" not in log, log[-2000:]
    if expected_emerg is None:
        assert_no_crash(n)
        return
    bad = [l for l in log.splitlines()
           if "[alert]" in l or "exited on signal" in l
           or ("[emerg]" in l and expected_emerg not in l)]
    assert not bad, "\n".join(bad[-20:])


def test_queue_full_mid_batch_gets_one_503(px, nginx_of):
    n = nginx_of("qfull", kafka=nowhere(),
                 http_extra="    px_kafka_property queue.buffering.max.messages 100;",
                 server_extra="px_ack kafka;\n        px_ack_timeout 3s;")
    before = counters(px, n)
    status, headers, body, took = one_response(
        n, [px.event("qfull_%d" % i) for i in range(150)])
    assert status == 503, body
    assert b'"kafka_unavailable"' in body and b"queue is full" in body, body
    assert headers.get("retry-after", "").isdigit(), headers
    # answered when the queue filled, not after px_ack_timeout (3 s)
    assert took < 3.0, "the full queue was answered after %.2fs" % took
    after = counters(px, n)
    assert after["accepted"] == before["accepted"], (before, after)
    assert after["received"] - before["received"] == 150, (before, after)
    assert_one_answer_logged(n)


def test_no_producer_gets_one_503_at_once(px, nginx_of):
    # accepted one by one at nginx -t, refused by rd_kafka_new: idempotence
    # (on by default) needs acks=all
    n = nginx_of("noproducer", http_extra="    px_kafka_property acks 1;")
    assert "kafka producer not created" in n.error_log()
    before = counters(px, n)
    status, headers, body, took = one_response(n, [px.event("noproducer")])
    assert status == 503 and b"no Kafka producer" in body, body
    assert headers.get("retry-after", "").isdigit(), headers
    assert counters(px, n)["accepted"] == before["accepted"]
    assert_one_answer_logged(n, expected_emerg="kafka producer not created")


def test_ack_timeout_gets_one_503(px, nginx_of):
    n = nginx_of("acktimeout", kafka=nowhere(),
                 server_extra="px_ack kafka;\n        px_ack_timeout 1s;")
    before = counters(px, n)
    status, headers, body, took = one_response(
        n, [px.event("acktimeout_%d" % i) for i in range(3)])
    assert status == 503 and b"did not confirm" in body, body
    # not before px_ack_timeout (1 s): the answer waited for the broker
    assert took >= 0.9, took
    after = counters(px, n)
    assert after["accepted"] == before["accepted"], (before, after)
    assert_one_answer_logged(n)


def test_missing_dlq_topic_does_not_hold_up_the_request(px, nginx_of):
    n = nginx_of("nodlq", dlq_topic="px.events.no_such_dlq",
                 server_extra="px_ack kafka;\n        px_ack_timeout 3s;")
    good = px.event("nodlq_good")
    bad = px.event("nodlq_bad", timestamp="never")
    t0 = time.monotonic()
    r = px.post_batch([good, bad], base=n.url)
    took = time.monotonic() - t0
    accepted(r, 1, [(1, bad["event_id"], "invalid_timestamp")])
    # 202 (not 503) says the dead letter was not waited for; nor was
    # px_ack_timeout (3 s)
    assert took < 3.0, "a dead letter held the request for %.2fs" % took
    wait_in_raw(px, [good["event_id"]])
    # the retry of the same batch is answered the same, not 503
    accepted(px.post_batch([good, bad], base=n.url), 1)
    assert_one_answer_logged(n)


def test_dead_letters_are_capped_per_request(px, nginx_of):
    n = nginx_of("dlqcap", server_extra="px_dlq_max_events 2;")
    before = counters(px, n)
    bad = [px.event("dlqcap_%d" % i, timestamp="never") for i in range(5)]
    body = accepted(px.post_batch(bad + [px.event("dlqcap_good")], base=n.url), 1)
    assert len(body["rejected"]) == 5, body
    after = counters(px, n)
    assert after["dead_lettered"] - before["dead_lettered"] == 2, (before, after)
    assert after["dead_letters_dropped"] - before["dead_letters_dropped"] == 3, (before, after)
    assert after["rejected"] - before["rejected"] == 5, (before, after)


def test_no_broker_up_gets_503_at_once(px, nginx_of):
    n = nginx_of("nobroker", kafka=nowhere(),
                 server_extra="px_ack kafka;\n        px_ack_timeout 3s;")
    # not /ready, which says 503 from the start (no broker known up): what
    # lets requests be refused at once is each worker process having seen
    # that none is (it logs so), and each learns that on its own
    px.wait_until(lambda: knows_no_broker(n), timeout=20,
                  desc="each worker of %s logging no broker up" % n.name)
    before = counters(px, n)

    results = []

    def send(i):
        t0 = time.monotonic()
        r = px.post_batch([px.event("nobroker_%d" % i)], base=n.url, timeout=20)
        results.append((r, time.monotonic() - t0))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert len(results) == 8
    fast = []
    for r, took in results:
        body = json_error(r, 503, "kafka_unavailable")
        retry = r.headers.get("Retry-After", "")
        assert retry.isdigit() and 1 <= int(retry) <= 30, r.headers
        if "no Kafka broker is reachable" in body["message"]:
            fast.append(took)
    # each worker process lets one request a second through to the producer
    # (it waits px_ack_timeout); the rest are answered without waiting
    assert len(fast) >= 4, results
    # answered without waiting px_ack_timeout (3 s)
    assert max(fast) < 3.0, fast
    assert counters(px, n)["accepted"] == before["accepted"]
    assert_one_answer_logged(n)
