"""Sending one batch until the server has it: retries, splits, drops.

- 2xx: done; the events of "rejected" are logged and counted, never
  retried (the server put them in its dead-letter topic).
- 429, 5xx, 408, no answer: retried, same body (so the same event_ids:
  the worker stores a retried event once), after backoff.delay().
- 400 / 413 of a batch of several events: split in two and each half
  sent, so one event the server refuses costs only itself.
- any other 4xx (a wrong key, say): the batch is dropped and logged.
"""

import time
from typing import Any, Callable, List, NamedTuple, Optional

from .backoff import delay
from .counters import Counters
from .encode import iso_time
from .log import logger
from .transport import Answer, Transport


class Item(NamedTuple):
    data: bytes       # the event's JSON
    event_id: str
    name: str         # the event name, for the log
    t: float          # time.monotonic() when queued


def retryable(status: int) -> bool:
    return status in (0, 408, 429) or status >= 500


class Delivery:
    def __init__(self, transport: Transport, counters: Counters,
                 retry_base: float, retry_max: float,
                 max_retries: Optional[int], timeout: float):
        self.transport = transport
        self.counters = counters
        self.retry_base = retry_base
        self.retry_max = retry_max
        self.max_retries = max_retries
        self.timeout = timeout

    def send(self, items: List[Item], deadline: Callable[[], Optional[float]],
             wait: Callable[[float], bool]) -> None:
        """Settle items: sent, rejected, dropped or lost. deadline() is the
        monotonic time to give up at (None: none); wait(s) sleeps s seconds
        and says False when the deadline comes first."""
        todo = [items]
        while todo:
            self._one(todo.pop(), todo, deadline, wait)

    def _one(self, batch: List[Item], todo: List[List[Item]],
             deadline: Callable[[], Optional[float]],
             wait: Callable[[float], bool]) -> None:
        attempt = 0
        while True:
            timeout = self.timeout
            dl = deadline()
            if dl is not None:
                timeout = min(timeout, dl - time.monotonic())
                if timeout <= 0:
                    return self.lose(batch, "the shutdown deadline passed")
            a = self.transport.post([i.data for i in batch], iso_time(time.time()),
                                    timeout)
            if 200 <= a.status < 300:
                return self._accepted(batch, a)
            if a.status in (400, 413) and len(batch) > 1:
                half = len(batch) // 2
                logger.debug("%s: splitting a batch of %d", a.error, len(batch))
                todo.append(batch[half:])
                todo.append(batch[:half])
                return None
            if not retryable(a.status):
                return self._drop(batch, "rejected", a.error)
            if self.max_retries is not None and attempt >= self.max_retries:
                return self._drop(batch, "failed", "%s, after %d retries"
                                  % (a.error, attempt))
            d = delay(attempt, self.retry_base, self.retry_max, a.retry_after)
            attempt += 1
            self.counters.add("retries")
            logger.warning("px: %s; retrying %d event(s) in %.1fs", a.error,
                           len(batch), d)
            if not wait(d):
                return self.lose(batch, "the shutdown deadline came before "
                                 "the retry (%s)" % a.error)

    def _accepted(self, batch: List[Item], a: Answer) -> None:
        rejected: Any = a.body.get("rejected") if isinstance(a.body, dict) else None
        n = 0
        for r in rejected if isinstance(rejected, list) else ():
            i = r.get("index") if isinstance(r, dict) else None
            if isinstance(i, int) and 0 <= i < len(batch):
                n += 1
                logger.warning("px: the server rejected event %r %s: %s",
                               batch[i].name, batch[i].event_id, r.get("error"))
        self.counters.add("rejected", n)
        self.counters.add("sent", len(batch) - n)
        self.counters.add("batches")
        logger.debug("sent %d event(s), %d rejected", len(batch), n)

    def _drop(self, batch: List[Item], counter: str, why: str) -> None:
        self.counters.add(counter, len(batch))
        logger.error("px: dropped %d event(s): %s (event_ids %s)", len(batch), why,
                     ", ".join(i.event_id for i in batch[:5])
                     + (", ..." if len(batch) > 5 else ""))

    def lose(self, batch: List[Item], why: str) -> None:
        if batch:
            self._drop(batch, "lost_at_exit", why)
