"""ngx_http_px_module rate limits: px_limit_zone / px_tier / px_limit on an
extra nginx with 2 worker processes, real Kafka. Quotas are events per
project per clock hour (and per clock minute for a burst), shared by the
workers through shared memory and kept across reload."""

import os
import re
import subprocess
import threading
import time
import uuid

import pytest
import requests

from module_helpers import (accepted, assert_not_in_raw, envelope, in_topic,
                            json_error, start_nginx, stop_nginx, uid)
from pxstack.base import free_port

BATCH = "/api/v1/events/batch"
N_KEYS = 8


@pytest.fixture(scope="module")
def rl(stack):
    """The rate-limited nginx and its keys: rl.keys[tier] = [(key, project)]."""
    run = uuid.uuid4().hex[:8]
    keys = {t: [("px_%s_%s_%d" % (t, run, i), "proj_%s_%s_%d" % (t, run, i))
                for i in range(N_KEYS)]
            for t in ("free", "pro", "enterprise")}
    lines = ["%s %s %s" % (k, p, t) for t in keys for k, p in keys[t]]
    # one project with a key of each of two tiers
    mixed = {t: ("px_mixed_%s_%s" % (t, run), "proj_mixed_%s" % run)
             for t in ("free", "pro")}
    lines += ["%s %s %s" % (k, p, t) for t, (k, p) in mixed.items()]
    pidlog = os.path.join(stack.logs_dir, "rl-%s-pids.log" % run)
    n = start_nginx(stack, "ratelimit", lines, http_extra="""
    px_limit_zone name=px_rl:1m;
    px_tier free 60/h burst=20/m;
    px_tier pro 100/h;
    px_tier enterprise unlimited;
    log_format px_pid '$pid $status';
""", server_extra="""
        px_limit px_rl;
        access_log %s px_pid;
""" % pidlog)
    n.tier_keys = keys
    n.mixed = mixed
    n.pidlog = pidlog
    n.used = {t: 0 for t in keys}
    yield n
    stop_nginx(stack, n)


def take_key(rl, tier):
    """A key whose project no other test has used."""
    i = rl.used[tier]
    assert i < N_KEYS, "out of %s keys" % tier
    rl.used[tier] += 1
    return rl.tier_keys[tier][i]


def away_from_boundary(period, margin):
    """Wait past the next window start (clock hour / minute) if it is less
    than margin seconds away."""
    left = period - time.time() % period
    if left < margin:
        time.sleep(left + 1.0)


def post(px, rl, key, project, events, session=None):
    """One POST on a new connection (so both workers get requests)."""
    body = envelope(events)
    return (session or requests).post(rl.url + BATCH, data=body, timeout=15, headers={
        "Authorization": "Bearer " + key, "X-PX-Project-ID": project,
        "Content-Type": "application/json"})


def hdr_int(r, name):
    v = r.headers.get(name)
    assert v is not None and v.isdigit(), "%s: %r (%d %s)" % (name, v, r.status_code, r.headers)
    return int(v)


def check_429(r, limit, window, remaining=0):
    json_error(r, 429, "rate_limited")
    retry = hdr_int(r, "Retry-After")
    assert 1 <= retry <= window, retry
    assert hdr_int(r, "X-RateLimit-Limit") == limit
    # what is left (a batch bigger than that is refused whole)
    assert hdr_int(r, "X-RateLimit-Remaining") == remaining
    reset = hdr_int(r, "X-RateLimit-Reset")
    assert abs(reset - retry) <= 1 and reset <= window, (reset, retry)
    return retry


def hammer(px, rl, key, project, n, threads=8):
    """n single-event requests from `threads` threads at once; returns
    [(event, response)]."""
    events = [px.event("rl", anonymous_id="anon_rl_%d" % (i % 16)) for i in range(n)]
    out = [None] * n
    nxt = [0]
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def run():
        start.wait()
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= n:
                return
            try:
                out[i] = (events[i], post(px, rl, key, project, [events[i]]))
            except Exception as e:  # noqa: BLE001 - reported below
                out[i] = (events[i], e)
    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    errors = [r for _, r in out if isinstance(r, Exception)]
    assert not errors, errors[:3]
    return out


def counters(px, rl):
    r = px.get("/api/v1/events/queue/status", base=rl.url)
    assert r.status_code == 200, r.text
    return r.json()["counters"]


def test_pro_quota_is_exact_under_concurrent_load(px, rl):
    key, project = take_key(rl, "pro")
    away_from_boundary(3600, 60)
    before = counters(px, rl)
    with open(rl.pidlog) as f:
        logged = len(f.readlines())

    out = hammer(px, rl, key, project, 150)

    ok = [(e, r) for e, r in out if r.status_code == 202]
    limited = [(e, r) for e, r in out if r.status_code == 429]
    other = [(r.status_code, r.text) for e, r in out if r.status_code not in (202, 429)]
    assert not other, other[:5]
    assert (len(ok), len(limited)) == (100, 50), (len(ok), len(limited))

    # each accepted request took one of the 100: remaining 99 .. 0, once each
    for _, r in ok:
        accepted(r, 1, [])
        assert hdr_int(r, "X-RateLimit-Limit") == 100
        assert 1 <= hdr_int(r, "X-RateLimit-Reset") <= 3600
    assert sorted(hdr_int(r, "X-RateLimit-Remaining") for _, r in ok) == list(range(100))
    for _, r in limited:
        check_429(r, 100, 3600)

    # both worker processes served the load
    with open(rl.pidlog) as f:
        pids = {line.split()[0] for line in f.readlines()[logged:]}
    assert len(pids) == 2, "requests were served by workers %s" % pids

    # the 100 are in Kafka, the 50 are not
    ids_ok = [e["event_id"] for e, _ in ok]
    ids_no = [e["event_id"] for e, _ in limited]
    found = in_topic(px, ids_ok + ids_no)
    assert all(len(found[i]) == 1 for i in ids_ok), \
        [i for i in ids_ok if len(found[i]) != 1][:5]
    assert all(found[i] == [] for i in ids_no)

    after = counters(px, rl)
    assert after["rate_limited"] - before["rate_limited"] == 50
    assert after["accepted"] - before["accepted"] == 100


def test_free_tier_burst_per_minute(px, rl):
    key, project = take_key(rl, "free")
    away_from_boundary(60, 10)
    away_from_boundary(3600, 10)
    out = hammer(px, rl, key, project, 30)
    ok = [r for _, r in out if r.status_code == 202]
    limited = [r for _, r in out if r.status_code == 429]
    assert (len(ok), len(limited)) == (20, 10), [r.status_code for _, r in out]
    for r in ok:
        assert hdr_int(r, "X-RateLimit-Limit") == 60
        # the minute binds: reset within the minute
        assert 1 <= hdr_int(r, "X-RateLimit-Reset") <= 60
    assert sorted(hdr_int(r, "X-RateLimit-Remaining") for r in ok) == list(range(20))
    left = 60 - time.time() % 60
    for r in limited:
        retry = check_429(r, 60, 60)
        assert abs(retry - left) <= 2, (retry, left)

    # a sequential one now is refused too, with the same answer
    check_429(post(px, rl, key, project, [px.event()]), 60, 60)


def test_batch_counts_each_event_all_or_nothing(px, rl):
    key, project = take_key(rl, "pro")
    away_from_boundary(3600, 30)
    anon = uid("anon_batch")

    r = post(px, rl, key, project, [px.event("b5", anonymous_id=anon) for _ in range(5)])
    accepted(r, 5, [])
    assert hdr_int(r, "X-RateLimit-Remaining") == 95

    # 96 > 95 left: the whole batch is refused and nothing is counted
    big = [px.event("b96", anonymous_id=anon) for _ in range(96)]
    r = post(px, rl, key, project, big)
    check_429(r, 100, 3600, remaining=95)

    r = post(px, rl, key, project, [px.event("b95", anonymous_id=anon) for _ in range(95)])
    accepted(r, 95, [])
    assert hdr_int(r, "X-RateLimit-Remaining") == 0

    check_429(post(px, rl, key, project, [px.event()]), 100, 3600)
    found = in_topic(px, [e["event_id"] for e in big])
    assert all(v == [] for v in found.values())


def test_rejected_events_and_bad_requests_do_not_count(px, rl):
    key, project = take_key(rl, "pro")
    away_from_boundary(3600, 30)

    good = [px.event("ok") for _ in range(3)]
    bad = [px.event("", event_id=str(uuid.uuid4())), {"event_id": str(uuid.uuid4())}]
    r = post(px, rl, key, project, good + bad)
    body = accepted(r, 3)
    assert [x["error"] for x in body["rejected"]] == ["empty_event_name", "missing_event_name"]
    assert hdr_int(r, "X-RateLimit-Remaining") == 97

    # a batch of invalid events only: nothing taken
    r = post(px, rl, key, project, [{"event": 5}, {"event": ""}])
    accepted(r, 0)
    assert hdr_int(r, "X-RateLimit-Remaining") == 97

    # malformed requests: nothing taken
    r = requests.post(rl.url + BATCH, data=b"{not json", timeout=10, headers={
        "Authorization": "Bearer " + key, "Content-Type": "application/json"})
    json_error(r, 400, "invalid_json")
    r = requests.post(rl.url + BATCH, data=b'{"events":[]}', timeout=10, headers={
        "Authorization": "Bearer " + key, "Content-Type": "application/json"})
    json_error(r, 400, "empty_batch")

    r = post(px, rl, key, project, [px.event()])
    accepted(r, 1, [])
    assert hdr_int(r, "X-RateLimit-Remaining") == 96


def test_reload_keeps_the_counters(px, rl):
    key, project = take_key(rl, "pro")
    fkey, fproject = take_key(rl, "free")
    away_from_boundary(3600, 60)
    away_from_boundary(60, 20)

    r = post(px, rl, key, project, [px.event() for _ in range(10)])
    accepted(r, 10, [])
    assert hdr_int(r, "X-RateLimit-Remaining") == 90
    r = post(px, rl, fkey, fproject, [px.event() for _ in range(15)])
    accepted(r, 15, [])
    assert hdr_int(r, "X-RateLimit-Remaining") == 5

    rl.reload_and_wait()

    r = post(px, rl, key, project, [px.event()])
    accepted(r, 1, [])
    assert hdr_int(r, "X-RateLimit-Remaining") == 89
    r = post(px, rl, fkey, fproject, [px.event() for _ in range(6)])
    check_429(r, 60, 60, remaining=5)
    r = post(px, rl, fkey, fproject, [px.event() for _ in range(5)])
    accepted(r, 5, [])
    assert hdr_int(r, "X-RateLimit-Remaining") == 0


def test_unlimited_tier_is_never_limited(px, rl):
    key, project = take_key(rl, "enterprise")
    out = hammer(px, rl, key, project, 150)
    assert [r.status_code for _, r in out] == [202] * 150
    r = post(px, rl, key, project, [px.event() for _ in range(500)])
    accepted(r, 500, [])
    for _, r in out[:10]:
        assert "Retry-After" not in r.headers


def test_projects_are_counted_apart(px, rl):
    key1, project1 = take_key(rl, "pro")
    key2, project2 = take_key(rl, "pro")
    away_from_boundary(3600, 30)
    r = post(px, rl, key1, project1, [px.event() for _ in range(100)])
    accepted(r, 100, [])
    check_429(post(px, rl, key1, project1, [px.event()]), 100, 3600)
    r = post(px, rl, key2, project2, [px.event()])
    accepted(r, 1, [])
    assert hdr_int(r, "X-RateLimit-Remaining") == 99


# -- quotas that are exact, fair and cheap (issue 8, section 3) ----------------

def test_batch_larger_than_the_tier_gets_413_not_429(px, rl):
    key, project = take_key(rl, "free")
    away_from_boundary(60, 10)
    r = post(px, rl, key, project, [px.event() for _ in range(21)])
    body = json_error(r, 413, "batch_exceeds_tier")
    assert "20" in body["message"] and "free" in body["message"], body
    assert "Retry-After" not in r.headers, r.headers
    # nothing was counted: the whole burst is still there
    r = post(px, rl, key, project, [px.event() for _ in range(20)])
    accepted(r, 20, [])
    assert hdr_int(r, "X-RateLimit-Remaining") == 0


def test_nginx_t_warns_when_a_batch_can_exceed_a_tier(rl):
    r = subprocess.run(rl.command() + ["-t"], capture_output=True, timeout=30,
                       env=rl.env())
    out = (r.stdout + r.stderr).decode(errors="replace")
    assert r.returncode == 0, out
    assert re.search(r'\[warn\].*px_max_events 500 .*tier "free".*\(20\)', out), out
    assert 'tier "pro"' in out and "enterprise" not in out, out


def test_project_at_zero_gets_429_before_its_body_is_read(px, rl):
    key, project = take_key(rl, "pro")
    away_from_boundary(3600, 30)
    accepted(post(px, rl, key, project, [px.event() for _ in range(100)]), 100, [])
    before = counters(px, rl)

    # invalid events only, which would go to the DLQ, and a body that is not
    # even JSON: both refused before the body is read
    marker = uid("zero")
    r = post(px, rl, key, project, [{"event": "", "properties": {"m": marker}},
                                    {"event": 5, "properties": {"m": marker}}])
    check_429(r, 100, 3600)
    r = requests.post(rl.url + BATCH, data=b"{not json " + marker.encode(), timeout=10,
                      headers={"Authorization": "Bearer " + key,
                               "X-PX-Project-ID": project,
                               "Content-Type": "application/json"})
    check_429(r, 100, 3600)

    after = counters(px, rl)
    assert after["received"] == before["received"], (before, after)
    assert after["rejected"] == before["rejected"], (before, after)
    assert_not_in_raw(px, [marker])


def test_keys_of_two_tiers_of_one_project_count_apart(px, rl):
    (fkey, project), (pkey, _) = rl.mixed["free"], rl.mixed["pro"]
    away_from_boundary(60, 10)
    away_from_boundary(3600, 30)
    accepted(post(px, rl, fkey, project, [px.event() for _ in range(20)]), 20, [])
    check_429(post(px, rl, fkey, project, [px.event()]), 60, 60)
    # the pro key of the same project has its own counter ...
    r = post(px, rl, pkey, project, [px.event() for _ in range(30)])
    accepted(r, 30, [])
    assert hdr_int(r, "X-RateLimit-Remaining") == 70
    # ... and does not lift the free key's
    check_429(post(px, rl, fkey, project, [px.event()]), 60, 60)


@pytest.mark.parametrize("directive", ["px_limit px_stats;",
                                       "px_limit_zone name=px_stats:256k;"])
def test_the_statistics_zone_is_not_a_limit_zone(px, stack, directive):
    where = {"http_extra": "    " + directive} if "zone" in directive else \
        {"server_extra": directive}
    with pytest.raises(Exception) as e:
        n = start_nginx(stack, "statszone", [], **where)
        stop_nginx(stack, n)
    assert "px_stats" in str(e.value) and "statistics zone" in str(e.value), e.value


def test_an_outage_does_not_burn_quota(px, stack):
    key, project = "px_outage_%s" % uid("k")[-8:], uid("proj_outage")
    n = start_nginx(stack, "outagequota", ["%s %s tiny" % (key, project)],
                    kafka="127.0.0.1:%d" % free_port(), http_extra="""
    px_limit_zone name=px_outage:1m;
    px_tier tiny 10/h;
""", server_extra="""
        px_limit px_outage;
        px_ack_timeout 1s;
""")
    try:
        away_from_boundary(3600, 30)
        # the client retries its batch of 5 through the outage: each try
        # reaches the producer (each is the first of its second) and ends
        # in 503; without the refund the third would be 429
        for _ in range(3):
            r = post(px, n, key, project, [px.event() for _ in range(5)])
            json_error(r, 503, "kafka_unavailable")
        # the broker is back (the zone survives the reload): the whole
        # hour's quota is there
        n.kafka = stack.kafka.bootstrap
        n.reload_and_wait()
        r = px.wait_until(lambda: (lambda r: r if r.status_code != 503 else None)(
            post(px, n, key, project, [px.event() for _ in range(10)])),
            timeout=30, interval=1, desc="an answer other than 503 after the reload")
        accepted(r, 10, [])
        assert hdr_int(r, "X-RateLimit-Remaining") == 0
    finally:
        stop_nginx(stack, n)


def test_a_minute_boundary_under_load_counts_exactly(px, rl):
    """Two worker processes on either side of a minute boundary: each
    window takes its burst, no more (a process whose clock is a little
    behind counts into the newer window instead of resetting it)."""
    key, project = take_key(rl, "free")
    away_from_boundary(3600, 30)
    # start 1.5 s before the next minute, hammer across it for ~3 s
    left = 60 - time.time() % 60
    if left < 3:
        time.sleep(left + 1)
        left = 60 - time.time() % 60
    time.sleep(max(0, left - 1.5))
    t_end = time.monotonic() + 3.0
    out = []
    lock = threading.Lock()

    def run():
        s = requests.Session()
        while time.monotonic() < t_end:
            r = post(px, rl, key, project, [px.event("boundary")], session=s)
            with lock:
                out.append(r.status_code)
    ts = [threading.Thread(target=run) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    ok = out.count(202)
    assert set(out) <= {202, 429}, set(out)
    # the old window's burst (20) and the new one's (20): never more
    assert 20 < ok <= 40, (ok, len(out))
