"""Events as the API takes them (docs/api.md): checks and JSON encoding.

Everything here runs in the caller's thread, in track(): a bad argument is
reported there (BadInput, which the client logs and counts, never raises
to the application), and what is queued is bytes, so a dict the caller
changes afterwards does not change the event.
"""

import datetime
import decimal
import enum
import json
import math
import os
import re
import time
import uuid
from typing import Any, Dict, List, Mapping, Optional, Tuple

# The server's limits (libpx/px_limits.h, nginx's px_max_* defaults).
MAX_NAME = 200          # bytes of an event name
MAX_ID = 200            # bytes of anonymous_id / user_id
MAX_DEPTH = 16          # open containers in a whole batch document
# the envelope object, the events array and the event object take 3 levels
ENVELOPE_DEPTH = 3

_dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode
_HEX = frozenset("0123456789abcdefABCDEF")
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}
_second = [(-1, "")]   # (the last whole second formatted, its text)


class BadInput(ValueError):
    """An argument the event cannot be built from: the event is dropped."""


def iso_time(t: float) -> str:
    """Epoch seconds as ISO-8601 UTC with milliseconds, like the browser
    SDK's Date.toISOString(): 2026-11-30T12:00:00.000Z."""
    ms = int(t * 1000)
    sec = ms // 1000
    cached = _second[0]      # one tuple: threads never see half of it
    if cached[0] != sec:      # strftime once a second, not once an event
        cached = (sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)))
        _second[0] = cached
    return "%s.%03dZ" % (cached[1], ms % 1000)


def new_event_id() -> str:
    """A random (version 4) UUID; a few times quicker than
    str(uuid.uuid4()), which builds a UUID object first."""
    h = os.urandom(16).hex()
    return "%s-%s-4%s-%s%s-%s" % (h[:8], h[8:12], h[13:16], _VARIANT[h[16]],
                                  h[17:20], h[20:])


def _datetime_iso(d: datetime.datetime) -> str:
    # naive datetimes are taken as UTC (datetime.utcnow() style)
    if d.tzinfo is None:
        d = d.replace(tzinfo=datetime.timezone.utc)
    return iso_time(d.timestamp())


def timestamp_of(value: Any) -> str:
    """The event's time: None (now), a datetime, epoch seconds, or an
    ISO-8601 string (sent as given: the server checks it)."""
    if value is None:
        return iso_time(time.time())
    if isinstance(value, datetime.datetime):
        return _datetime_iso(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or value < 0:
            raise BadInput("timestamp %r is not a time" % (value,))
        return iso_time(float(value))
    if isinstance(value, str) and value:
        return value
    raise BadInput("timestamp must be a datetime, epoch seconds or an ISO-8601 "
                   "string, not %s" % type(value).__name__)


def check_name(event: Any) -> str:
    if not isinstance(event, str) or not event:
        raise BadInput("event name must be a non-empty string, not %r" % (event,))
    if len(event.encode("utf-8", "surrogatepass")) > MAX_NAME:
        raise BadInput("event name longer than %d bytes" % MAX_NAME)
    if _CONTROL.search(event):
        raise BadInput("event name %r has control characters" % event)
    return event


def check_id(value: Any, what: str) -> str:
    """A distinct / anonymous id: a non-empty string (an int is taken as
    its decimal string), at most MAX_ID bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        raise BadInput("%s must be a non-empty string, not %r" % (what, value))
    if len(value.encode("utf-8", "surrogatepass")) > MAX_ID:
        raise BadInput("%s longer than %d bytes" % (what, MAX_ID))
    return value


def check_event_id(value: Any) -> str:
    """A caller's event_id (a UUID or its 36-character string), else a new
    uuid4. It is the dedupe key: a retry of the same business event (a
    webhook delivered twice, say) can pass the same one."""
    if value is None:
        return new_event_id()
    if isinstance(value, uuid.UUID):
        return str(value)
    if (isinstance(value, str) and len(value) == 36
            and all(value[i] == "-" for i in (8, 13, 18, 23))
            and all(c in _HEX for i, c in enumerate(value)
                    if i not in (8, 13, 18, 23))):
        return value
    raise BadInput("event_id must be a UUID, not %r" % (value,))


def check_mapping(value: Any, what: str) -> Optional[Mapping]:
    if value is None or type(value) is dict or isinstance(value, Mapping):
        return value
    raise BadInput("%s must be a dict, not %s" % (what, type(value).__name__))


class _Sanitizer:
    """A JSON-ready copy of a value: known types converted, the rest (and
    NaN, cycles, nesting past the server's depth) replaced by None and
    reported by path."""

    def __init__(self, depth_limit: int):
        self.depth_limit = depth_limit
        self.problems: List[str] = []
        self.path_ids: set = set()

    def value(self, v: Any, path: str, depth: int) -> Any:
        if v is None or isinstance(v, (str, bool, int)):
            return v
        if isinstance(v, float):
            if math.isfinite(v):
                return v
            return self.bad(path, "%r is not a JSON number" % v)
        if isinstance(v, enum.Enum):
            return self.value(v.value, path, depth)
        if isinstance(v, datetime.datetime):
            return _datetime_iso(v)
        if isinstance(v, (datetime.date, datetime.time)):
            return v.isoformat()
        if isinstance(v, uuid.UUID):
            return str(v)
        if isinstance(v, decimal.Decimal):
            return self.value(float(v), path, depth)
        if isinstance(v, (bytes, bytearray)):
            try:
                return bytes(v).decode("utf-8")
            except UnicodeDecodeError:
                return self.bad(path, "bytes that are not UTF-8")
        if isinstance(v, (Mapping, list, tuple, set, frozenset)):
            return self.container(v, path, depth + 1)
        return self.bad(path, "%s is not JSON serializable" % type(v).__name__)

    def container(self, v: Any, path: str, depth: int) -> Any:
        if depth > self.depth_limit:
            return self.bad(path, "nested deeper than %d levels" % self.depth_limit)
        if id(v) in self.path_ids:
            return self.bad(path, "circular reference")
        self.path_ids.add(id(v))
        try:
            if isinstance(v, Mapping):
                out = {}
                for k, x in v.items():
                    if isinstance(k, enum.Enum):
                        k = k.value
                    if not isinstance(k, str):
                        if isinstance(k, (int, float, bool)) or k is None:
                            k = json.dumps(k)
                        else:
                            self.bad("%s.%r" % (path, k), "key of type %s"
                                     % type(k).__name__)
                            continue
                    out[k] = self.value(x, "%s.%s" % (path, k), depth)
                return out
            items = sorted(v, key=repr) if isinstance(v, (set, frozenset)) else v
            return [self.value(x, "%s[%d]" % (path, i), depth)
                    for i, x in enumerate(items)]
        finally:
            self.path_ids.discard(id(v))

    def bad(self, path: str, why: str) -> None:
        self.problems.append("%s: %s" % (path, why))
        return None


def encode(event: Dict[str, Any], max_depth: int = MAX_DEPTH) -> Tuple[bytes, List[str]]:
    """The event as compact UTF-8 JSON, and the problems found (paths of
    values sent as null). The common case is one C-speed json call; only
    an event that fails it, or that has enough brackets that it might nest
    past the server's limit, is walked in Python."""
    limit = max_depth - ENVELOPE_DEPTH
    try:
        data = _dumps(event).encode("utf-8")
    except (TypeError, ValueError, RecursionError, UnicodeEncodeError):
        data = None
    if data is not None and data.count(b"{") + data.count(b"[") <= limit + 1:
        return data, []
    s = _Sanitizer(limit)
    clean = {k: s.value(v, k, 0) for k, v in event.items()}
    try:
        return _dumps(clean).encode("utf-8"), s.problems
    except UnicodeEncodeError:   # lone surrogates in a string
        return (_dumps(clean).encode("utf-8", "replace"),
                s.problems + ["a string has lone surrogates (sent as '?')"])
