"""PX_IP_RETENTION_DAYS on ClickHouse 18.16 (Debian's, which has no column
TTL): the worker refuses to start, saying what it needs, instead of keeping
addresses it was told to expire. (On current ClickHouse the TTL is checked
in test_clickhouse_current.py.)"""

from worker_helpers import worker_refusing_to_start


def test_ip_retention_on_old_clickhouse_stops_the_worker_with_a_reason(stack):
    log = worker_refusing_to_start(stack, "ipret-worker", PX_IP_RETENTION_DAYS=30)
    assert "PX_IP_RETENTION_DAYS=30" in log and "19.6" in log, log[-2000:]
