"""When to retry: exponential backoff with jitter, and Retry-After."""

import email.utils
import random
import time
from typing import Optional

# A Retry-After further away than this is taken as this (a broken header
# must not park the sender for days).
RETRY_AFTER_CAP = 3600.0


def delay(attempt: int, base: float, cap: float,
          retry_after: Optional[float] = None,
          rnd: Optional[float] = None) -> float:
    """Seconds before retry number `attempt` (0-based): base * 2^attempt,
    capped at `cap`, with jitter (50..100% of it), so that clients of one
    outage do not come back together. A Retry-After is a floor: the wait is
    at least that, plus up to 10% (the server's own jitter spreads clients
    too), and at least the backoff."""
    r = random.random() if rnd is None else rnd
    backoff = min(cap, base * (2.0 ** min(attempt, 62))) * (0.5 + r / 2)
    if retry_after is None:
        return backoff
    return max(min(retry_after, RETRY_AFTER_CAP) * (1 + r / 10), backoff)


def parse_retry_after(value: Optional[str],
                      now: Optional[float] = None) -> Optional[float]:
    """A Retry-After header (delta seconds or an HTTP date) in seconds, or
    None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
