"""What happened to the events: counters any thread may bump."""

import threading
from typing import Dict

NAMES = (
    "queued",        # events waiting to be sent (a gauge, filled in by stats())
    "sent",          # accepted by the server (202)
    "rejected",      # refused one by one in a 202 answer, or a 4xx: not retried
    "invalid",       # bad input to track(): never queued
    "unserializable",  # events sent with values replaced by null
    "dropped_queue_full",  # the queue was full (drop_oldest or drop_new)
    "dropped_closed",  # tracked after shutdown()
    "failed",        # given up after max_retries
    "lost_at_exit",  # still unsent when the shutdown deadline passed
    "retries",       # requests retried (429, 5xx, network errors)
    "batches",       # requests answered 2xx
)


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._c = dict.fromkeys(NAMES, 0)

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._c[name] += n

    def snapshot(self) -> Dict[str, int]:
        with self._lock:
            return dict(self._c)

    def reset(self) -> None:
        """After fork: the child starts from zero (and a fresh lock, in case
        the parent's was held by another thread at the fork)."""
        self._lock = threading.Lock()
        self._c = dict.fromkeys(NAMES, 0)
