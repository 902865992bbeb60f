"""The in-flight counters of the queue status stay true when a worker
process dies: the respawned process starts its slot from 0 (its
predecessor's messages died with it), and a worker process that exits
(quit, reload) takes what it never got a report for with it."""

import os
import signal
import time

import pytest

from module_helpers import DEMO_LINE, accepted, start_nginx, stop_nginx
from pxstack.base import free_port


@pytest.fixture
def stuck_nginx(stack):
    # no broker: px_ack local queues, nothing is ever reported (the messages
    # time out only after px_ack_timeout + 1 s)
    n = start_nginx(stack, "inflight", [DEMO_LINE],
                    kafka="127.0.0.1:%d" % free_port(),
                    server_extra="px_ack local;\n        px_ack_timeout 120s;")
    yield n
    stop_nginx(stack, n)


def in_flight(px, n):
    r = px.get("/api/v1/events/queue/status", base=n.url)
    assert r.status_code == 200, r.text
    return r.json()["in_flight"]


def fill(px, n, count=10):
    for i in range(count):
        accepted(px.post_batch([px.event("inflight_%d" % i) for _ in range(5)],
                               base=n.url), 5, [])
    return px.wait_until(lambda: (lambda f: f if f["total"] >= 5 * count else None)(
        in_flight(px, n)), timeout=10, desc="in-flight messages counted")


def test_a_crashed_worker_process_leaves_no_in_flight_count(px, stuck_nginx):
    n = stuck_nginx
    fill(px, n)
    old = n.worker_pids()
    for pid in old:
        os.kill(pid, signal.SIGKILL)
    px.wait_until(lambda: (lambda now: now if now and not set(now) & set(old) else None)(
        n.worker_pids()), timeout=20, desc="respawned worker processes")
    time.sleep(0.5)
    assert in_flight(px, n)["total"] == 0, in_flight(px, n)


def test_a_reload_leaves_no_in_flight_count(px, stuck_nginx):
    n = stuck_nginx
    fill(px, n)
    n.reload_and_wait(timeout=30)
    px.wait_until(lambda: in_flight(px, n)["total"] == 0, timeout=20,
                  desc="in-flight back to 0 once the old workers exited "
                       "(now %r)" % in_flight(px, n))
