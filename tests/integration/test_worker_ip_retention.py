"""PX_IP_RETENTION_DAYS on ClickHouse 18.16 (Debian's, which has no column
TTL): the worker refuses to start, saying what it needs, instead of keeping
addresses it was told to expire. (On current ClickHouse the TTL is checked
in test_clickhouse_current.py.)"""

import uuid

import pytest


def test_ip_retention_on_old_clickhouse_stops_the_worker_with_a_reason(stack):
    db = "px_ipret_%s" % uuid.uuid4().hex[:8]
    with pytest.raises(Exception):
        w = stack.start_extra_worker("ipret-worker", timeout=30, extra_env={
            "CLICKHOUSE_DATABASE": db, "KAFKA_GROUP_ID": "px-" + db,
            "PX_IP_RETENTION_DAYS": "30"})
        stack.extras.remove(w)
        w.stop()
    with open(stack.logs_dir + "/ipret-worker.log", errors="replace") as f:
        log = f.read()
    assert "PX_IP_RETENTION_DAYS=30" in log and "19.6" in log, log[-2000:]
