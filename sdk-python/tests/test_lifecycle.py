"""Exit, shutdown and fork: nothing queued is lost at a normal exit, the
exit waits at most shutdown_timeout, a forked child has its own sender."""

import os
import subprocess
import sys
import textwrap
import time

from conftest import SRC


def run_script(code, timeout=30):
    env = dict(os.environ, PYTHONPATH=SRC)
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                       capture_output=True, text=True, timeout=timeout)
    return p, time.monotonic() - t0


def test_atexit_sends_what_is_queued(server):
    p, _ = run_script("""
        import px
        px.init("k", "p", %r, flush_interval=60, flush_at=1000)
        for i in range(250):
            px.track("u", "at_exit", {"i": i})
        print("queued", px.stats()["queued"])
    """ % server.url)
    assert p.returncode == 0, p.stderr
    assert "queued 250" in p.stdout
    assert sorted(e["properties"]["i"] for e in server.events()) == list(range(250))


def test_atexit_gives_up_at_the_deadline_and_says_what_was_lost(server):
    server.script = ["hang"] * 5
    p, took = run_script("""
        import px
        px.init("k", "p", %r, flush_interval=0, shutdown_timeout=1.5)
        for i in range(10):
            px.track("u", "stuck")
    """ % server.url)
    assert p.returncode == 0, p.stderr
    assert took < 1.5 + 5, took          # the deadline, plus interpreter start
    assert "dropped" in p.stderr and "shutdown deadline" in p.stderr, p.stderr


def test_atexit_reports_a_batch_whose_request_outlives_the_deadline(server):
    """The sender has every event in one request, begun before exit and
    never answered: they are reported and counted lost, not dropped
    silently when the interpreter ends."""
    server.script = ["hang"] * 5
    p, took = run_script("""
        import time, px
        c = px.Client("k", "p", %r, flush_interval=0, shutdown_timeout=1.0)
        c.track("u", "in_flight")
        time.sleep(0.5)                     # the request is under way
        print("queued", c.stats()["queued"])
        print("shutdown", c.shutdown(), c.stats()["lost_at_exit"])
    """ % server.url)
    assert p.returncode == 0, p.stderr
    assert "queued 0" in p.stdout, p.stdout
    assert "shutdown False 1" in p.stdout, (p.stdout, p.stderr)
    assert "before the server answered" in p.stderr, p.stderr
    assert took < 1.0 + 5, took


def test_shutdown_then_track_is_dropped(server, make_client):
    c = make_client(flush_interval=60)
    eid = c.track("u", "before")
    assert c.shutdown(5) is True
    assert server.ids() == [eid]
    assert c.track("u", "after") is None
    assert c.stats()["dropped_closed"] == 1


def test_retry_after_past_the_deadline_is_not_waited_for(server, make_client):
    server.script = [(503, {"Retry-After": "30"}, {"error": "kafka_unavailable",
                                                    "message": "m"})]
    c = make_client(flush_interval=0)
    c.track("u", "e")
    server.wait_requests(1)
    t0 = time.monotonic()
    assert c.shutdown(2) is False
    assert time.monotonic() - t0 < 2.5
    assert c.stats()["lost_at_exit"] == 1


def test_fork_child_gets_its_own_sender(server, make_client):
    c = make_client(flush_interval=60, flush_at=1000)
    parent_ids = [c.track("u", "parent_%d" % i) for i in range(3)]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:      # the child: its own events, its own thread
        try:
            os.close(r)
            assert c.stats()["queued"] == 0
            ids = [c.track("u", "child_%d" % i) for i in range(4)]
            ok = c.flush(10)
            os.write(w, (",".join(ids) + "|" + str(ok)).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        data += chunk
    os.waitpid(pid, 0)
    child_ids, ok = data.decode().split("|")
    assert ok == "True"
    assert c.flush(10)
    sent = server.ids()
    # each event once: the child did not resend the parent's queue
    assert sorted(sent) == sorted(parent_ids + child_ids.split(","))


def test_fork_while_the_sender_is_busy(server, make_client):
    """The parent's sender holds a request open at the fork; the child's
    client still works (fresh lock and connection)."""
    server.script = ["hang"]
    c = make_client(flush_interval=0)
    c.track("u", "hung")
    server.wait_requests(1)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            c.track("u", "from_child")
            code = 0 if c.flush(5) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert "from_child" in [e["event"] for e in server.events()]
