"""The client: checks and queues events in the caller's thread, sends them
from one background thread (or in the call, in sync mode).

Threads: track() takes the lock only to append to the queue; the sender
thread waits on `_work` until a batch is due (flush_at events, about
max_batch_bytes, the oldest event flush_interval old, a flush() or a
shutdown), sends it outside the lock, then counts it settled and wakes
flush() callers waiting on `_done`.
"""

import atexit
import collections
import datetime
import os
import threading
import time
import weakref
from typing import Any, Deque, Dict, List, Mapping, Optional, Union
from urllib.parse import urlsplit

from .counters import Counters
from .delivery import Delivery, Item
from .encode import (MAX_DEPTH, BadInput, check_event_id, check_id, check_mapping,
                     check_name, encode, timestamp_of)
from .log import logger, set_debug
from .transport import Transport
from .version import LIBRARY_NAME, VERSION

Timestamp = Union[None, datetime.datetime, float, int, str]
DROP_OLDEST, DROP_NEW = "drop_oldest", "drop_new"
_LIBRARY = {"name": LIBRARY_NAME, "version": VERSION}
_DROP_LOG_EVERY = 10.0   # seconds between two "queue full" warnings


class Client:
    """One project's event sender. Settings are keyword arguments; see
    sdk-python/README.md for each. A bad setting raises ValueError here;
    a bad event never raises (it is logged and counted)."""

    def __init__(self, api_key: str, project_id: str,
                 endpoint: str = "http://localhost:8000", *,
                 flush_at: int = 100, flush_interval: float = 0.5,
                 max_batch_bytes: int = 500_000, max_queue: int = 10_000,
                 on_full: str = DROP_OLDEST, gzip: bool = True,
                 timeout: float = 10.0, retry_base: float = 0.5,
                 retry_max: float = 30.0, max_retries: Optional[int] = None,
                 shutdown_timeout: float = 5.0, sync: bool = False,
                 max_event_bytes: int = 32768, max_depth: int = MAX_DEPTH,
                 debug: bool = False, ssl_context: Any = None) -> None:
        for name, v in (("api_key", api_key), ("project_id", project_id)):
            if not isinstance(v, str) or not v:
                raise ValueError("%s must be a non-empty string" % name)
        _positive(flush_at=flush_at, max_batch_bytes=max_batch_bytes,
                  max_queue=max_queue, timeout=timeout, retry_base=retry_base,
                  retry_max=retry_max, max_event_bytes=max_event_bytes,
                  max_depth=max_depth)
        if flush_interval < 0 or shutdown_timeout < 0:
            raise ValueError("flush_interval and shutdown_timeout must be >= 0")
        if max_retries is not None and max_retries < 0:
            raise ValueError("max_retries must be >= 0 or None")
        if on_full not in (DROP_OLDEST, DROP_NEW):
            raise ValueError("on_full must be %r or %r" % (DROP_OLDEST, DROP_NEW))
        if debug:
            set_debug(True)
        self.project_id = project_id
        self.flush_at = flush_at
        self.flush_interval = flush_interval
        self.max_batch_bytes = max_batch_bytes
        self.max_queue = max_queue
        self.on_full = on_full
        self.shutdown_timeout = shutdown_timeout
        self.sync = sync
        self.max_event_bytes = max_event_bytes
        self.max_depth = max_depth
        self.counters = Counters()
        self._transport = Transport(endpoint, api_key, project_id, gzip, ssl_context)
        # sync mode gives up sooner: the caller is waiting
        self._delivery = Delivery(self._transport, self.counters, retry_base,
                                  retry_max, 3 if sync and max_retries is None
                                  else max_retries, timeout)
        self._context = {"library": _LIBRARY}
        self._closed = False
        self._fresh_state()
        _clients.add(self)
        atexit.register(_shutdown_at_exit, weakref.ref(self))

    def _fresh_state(self) -> None:
        """Locks, queue and thread: new at start and in a forked child."""
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._done = threading.Condition(self._lock)
        self._send_lock = threading.Lock()   # sync mode: one sender at a time
        self._queue: Deque[Item] = collections.deque()
        self._queue_bytes = 0
        self._enqueued = 0      # events ever queued
        self._settled = 0       # of those, sent, rejected, dropped or lost
        self._flushers = 0
        self._deadline: Optional[float] = None
        self._thread: Optional[threading.Thread] = None
        # the batch the sender thread has in hand, and whether shutdown()
        # gave it up as lost (its request outlived the deadline)
        self._inflight: List[Item] = []
        self._inflight_lost = False
        self._pid = os.getpid()
        self._last_drop_log = 0.0

    # -- events ---------------------------------------------------------------

    def track(self, distinct_id: Optional[Union[str, int]], event: str,
              properties: Optional[Mapping[str, Any]] = None,
              timestamp: Timestamp = None, event_id: Optional[str] = None,
              context: Optional[Mapping[str, Any]] = None,
              anonymous_id: Optional[str] = None) -> Optional[str]:
        """Queue one event for `distinct_id` (sent as user_id; anonymous_id
        ties it to a browser's visitor). Returns its event_id, or None when
        it was not queued (bad input, queue full with drop_new, after
        shutdown): never raises, never waits on the network (except in sync
        mode)."""
        try:
            ev: Dict[str, Any] = {"event": check_name(event),
                                  "event_id": check_event_id(event_id)}
            if anonymous_id is not None:
                ev["anonymous_id"] = check_id(anonymous_id, "anonymous_id")
            if distinct_id is not None or anonymous_id is None:
                ev["user_id"] = check_id(distinct_id, "distinct_id")
            ev["timestamp"] = timestamp_of(timestamp)
            ev["properties"] = check_mapping(properties, "properties") or {}
            ctx = check_mapping(context, "context")
            ev["context"] = dict(ctx, library=_LIBRARY) if ctx else self._context
            data, problems = encode(ev, self.max_depth)
            if len(data) > self.max_event_bytes:
                raise BadInput("the event is %d bytes of JSON, more than "
                               "max_event_bytes (%d)" % (len(data), self.max_event_bytes))
        except Exception as e:   # BadInput, or anything odd: never raise
            self.counters.add("invalid")
            logger.warning("px: event %r not tracked: %s", event, e)
            return None
        if problems:
            self.counters.add("unserializable")
            logger.warning("px: event %r %s sent with null for: %s", event,
                           ev["event_id"], "; ".join(problems))
        return self._enqueue(Item(data, ev["event_id"], event, time.monotonic()))

    def identify(self, distinct_id: Union[str, int],
                 traits: Optional[Mapping[str, Any]] = None,
                 timestamp: Timestamp = None, event_id: Optional[str] = None,
                 context: Optional[Mapping[str, Any]] = None,
                 anonymous_id: Optional[str] = None) -> Optional[str]:
        """An "identify" event: the user's traits as its properties; with
        anonymous_id, it links a browser visitor to the user."""
        return self.track(distinct_id, "identify", traits, timestamp, event_id,
                          context, anonymous_id)

    def page(self, distinct_id: Optional[Union[str, int]], url: str,
             title: Optional[str] = None, referrer: Optional[str] = None,
             properties: Optional[Mapping[str, Any]] = None,
             timestamp: Timestamp = None, event_id: Optional[str] = None,
             context: Optional[Mapping[str, Any]] = None,
             anonymous_id: Optional[str] = None) -> Optional[str]:
        """A "page_view" (the browser SDK's name) of a page the server
        rendered: context.page gets url, path, title and referrer."""
        try:
            if not isinstance(url, str) or not url:
                raise BadInput("url must be a non-empty string, not %r" % (url,))
            page = {"url": url, "path": urlsplit(url).path or "/"}
            if title is not None:
                page["title"] = str(title)
            if referrer is not None:
                page["referrer"] = str(referrer)
            ctx = dict(check_mapping(context, "context") or {})
            old = ctx.get("page")
            ctx["page"] = dict(old, **page) if isinstance(old, Mapping) else page
        except Exception as e:
            self.counters.add("invalid")
            logger.warning("px: page view not tracked: %s", e)
            return None
        return self.track(distinct_id, "page_view", properties, timestamp,
                          event_id, ctx, anonymous_id)

    # -- the queue -------------------------------------------------------------

    def _enqueue(self, item: Item) -> Optional[str]:
        with self._lock:
            if self._pid != os.getpid():   # forked without os.fork's hooks
                self._after_fork()
            if self._closed:
                self.counters.add("dropped_closed")
                logger.warning("px: event %r tracked after shutdown(): dropped",
                               item.name)
                return None
            q = self._queue
            if len(q) >= self.max_queue:
                self.counters.add("dropped_queue_full")
                self._log_drop()
                if self.on_full == DROP_NEW:
                    return None
                old = q.popleft()
                self._queue_bytes -= len(old.data)
                self._settled += 1
            q.append(item)
            self._queue_bytes += len(item.data)
            self._enqueued += 1
            if self.sync:
                pass
            elif self._thread is None:
                self._start_thread()
            elif (len(q) == 1 or len(q) >= self.flush_at
                  or self._queue_bytes >= self.max_batch_bytes):
                self._work.notify()
        if self.sync:
            self._send_sync()
        return item.event_id

    def _log_drop(self) -> None:
        now = time.monotonic()
        if now - self._last_drop_log >= _DROP_LOG_EVERY:
            self._last_drop_log = now
            logger.warning("px: queue full (max_queue %d, %s): %d event(s) "
                           "dropped so far", self.max_queue, self.on_full,
                           self.counters.snapshot()["dropped_queue_full"])

    def _take(self) -> List[Item]:
        """The next batch off the queue (lock held): up to flush_at events
        and about max_batch_bytes of JSON, at least one."""
        q, out, size = self._queue, [], 0
        while q and len(out) < self.flush_at:
            n = len(q[0].data) + 1
            if out and size + n > self.max_batch_bytes:
                break
            size += n
            out.append(q.popleft())
        self._queue_bytes -= size - len(out)
        return out

    def _due(self) -> Optional[float]:
        """0 when a batch is due now, else seconds until it is (None: the
        queue is empty). Lock held."""
        q = self._queue
        if not q:
            return None
        if (len(q) >= self.flush_at or self._queue_bytes >= self.max_batch_bytes
                or self._flushers or self._closed):
            return 0.0
        return max(0.0, q[0].t + self.flush_interval - time.monotonic())

    def _settle(self, n: int) -> None:
        with self._lock:
            self._settled += n
            self._done.notify_all()

    # -- the sender thread -----------------------------------------------------

    def _start_thread(self) -> None:
        t = threading.Thread(target=self._run, name="px-sender", daemon=True)
        self._thread = t
        t.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                while True:
                    wait = self._due()
                    if wait == 0:
                        batch = self._take()
                        if self._past_deadline():   # lose the rest at once
                            batch.extend(self._queue)
                            self._queue.clear()
                            self._queue_bytes = 0
                        self._inflight = batch
                        self._inflight_lost = False
                        break
                    if wait is None and self._closed:
                        return
                    self._work.wait(wait)
            self._deliver(batch)

    def _deliver(self, batch: List[Item]) -> None:
        """Send a batch and count it settled, whatever happens: a bug here
        must not kill the sender or leave flush() waiting forever."""
        try:
            self._delivery.send(batch, self._get_deadline, self._wait)
        except Exception:
            self.counters.add("failed", len(batch))
            logger.exception("px: sending failed; %d event(s) dropped", len(batch))
        with self._lock:
            self._inflight = []
            if self._inflight_lost:
                # shutdown() counted them lost and settled them; the answer
                # came after all: it is what the counters now say
                self._inflight_lost = False
                self.counters.add("lost_at_exit", -len(batch))
                return
        self._settle(len(batch))

    def _past_deadline(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def _get_deadline(self) -> Optional[float]:
        return self._deadline

    def _wait(self, seconds: float) -> bool:
        """Backoff sleep; False (at once) if the shutdown deadline would
        pass first. shutdown() wakes it to look again."""
        end = time.monotonic() + seconds
        with self._lock:
            while True:
                if self._deadline is not None and end > self._deadline:
                    return False
                left = end - time.monotonic()
                if left <= 0:
                    return True
                self._work.wait(left)

    def _send_sync(self) -> None:
        with self._send_lock:
            while True:
                with self._lock:
                    batch = self._take()
                if not batch:
                    return
                self._deliver(batch)

    # -- control ---------------------------------------------------------------

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Send everything queued now, without waiting for flush_interval,
        and wait until it is settled (sent, or dropped for good), at most
        `timeout` seconds (None: no limit; during an outage that is until
        the server is back). True if it all settled in time."""
        if self.sync:
            self._send_sync()
            return True
        end = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            target = self._enqueued
            if self._settled >= target:
                return True
            if self._thread is None and not self._closed:
                self._start_thread()
            self._flushers += 1
            self._work.notify()
            try:
                while self._settled < target:
                    left = None if end is None else end - time.monotonic()
                    if left is not None and left <= 0:
                        return False
                    self._done.wait(left)
                return True
            finally:
                self._flushers -= 1

    def shutdown(self, timeout: Optional[float] = None) -> bool:
        """Stop taking events, send what is queued within `timeout` seconds
        (default shutdown_timeout), stop the thread. What is still unsent
        at the deadline is counted lost_at_exit and logged. True if nothing
        was lost. Called at exit (atexit) for every client."""
        limit = self.shutdown_timeout if timeout is None else timeout
        lost_before = self.counters.snapshot()["lost_at_exit"]
        with self._lock:
            self._closed = True
            self._deadline = time.monotonic() + limit
            thread = self._thread
            self._work.notify_all()
        if self.sync:
            self._send_sync()
        elif thread is not None:
            # each request's timeout ends at the deadline: a second more is
            # enough for the thread to count what it could not send
            thread.join(max(0.0, self._deadline - time.monotonic()) + 1.0)
        with self._lock:
            left = list(self._queue)
            self._queue.clear()
            self._queue_bytes = 0
            stuck: List[Item] = []
            if thread is not None and thread.is_alive() and self._inflight \
                    and not self._inflight_lost:
                # a request begun before shutdown() outlived the deadline:
                # at exit nobody will see its answer
                stuck = self._inflight
                self._inflight_lost = True
            self._settled += len(left) + len(stuck)
            self._done.notify_all()
        self._delivery.lose(left, "the shutdown deadline passed")
        self._delivery.lose(stuck, "the shutdown deadline passed before the "
                            "server answered their request")
        if thread is None or not thread.is_alive():
            self._transport.close()
        lost = self.counters.snapshot()["lost_at_exit"] - lost_before
        logger.debug("shutdown: %s", self.stats())
        return lost == 0

    def stats(self) -> Dict[str, int]:
        """The counters (counters.NAMES) and the queue's length."""
        s = self.counters.snapshot()
        with self._lock:
            s["queued"] = len(self._queue)
        return s

    # -- fork --------------------------------------------------------------------

    def _after_fork(self) -> None:
        """In a forked child (gunicorn, celery, multiprocessing): the sender
        thread did not come along and the lock may have been held by it.
        The queue is the parent's to send; the child starts empty, with its
        own lock, connection and (on its first event) thread."""
        self._fresh_state()
        self._transport.forget()
        self.counters.reset()


def _positive(**values: Any) -> None:
    for name, v in values.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
            raise ValueError("%s must be a positive number, not %r" % (name, v))


def _shutdown_at_exit(ref: "weakref.ReferenceType[Client]") -> None:
    c = ref()
    if c is not None and not c._closed:
        c.shutdown()


_clients: "weakref.WeakSet[Client]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for c in list(_clients):
        c._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
