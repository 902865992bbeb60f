"""PX server-side SDK: product events from Python backends.

    import px
    px.init("px_live_...", "proj_shop", endpoint="https://px.example.com")
    px.track("user_42", "payment_succeeded", {"amount": 49.0})

px.init() makes the default client used by the functions below; px.Client
gives one per project. See sdk-python/README.md.
"""

from typing import Any, Dict, Mapping, Optional, Union

from .client import DROP_NEW, DROP_OLDEST, Client, Timestamp
from .log import logger
from .log import set_debug as debug
from .version import VERSION as __version__

__all__ = ["Client", "init", "track", "identify", "page", "flush", "shutdown",
           "stats", "debug", "default_client", "DROP_OLDEST", "DROP_NEW",
           "__version__"]

_default: Optional[Client] = None


def init(api_key: str, project_id: str, endpoint: str = "http://localhost:8000",
         **settings: Any) -> Client:
    """Make the default client (shutting down a previous one); settings are
    Client's keyword arguments."""
    global _default
    old, _default = _default, Client(api_key, project_id, endpoint, **settings)
    if old is not None:
        old.shutdown()
    return _default


def default_client() -> Optional[Client]:
    return _default


def _client() -> Optional[Client]:
    if _default is None:
        logger.warning("px: call px.init() first; event dropped")
    return _default


def track(distinct_id: Optional[Union[str, int]], event: str,
          properties: Optional[Mapping[str, Any]] = None,
          timestamp: Timestamp = None, event_id: Optional[str] = None,
          context: Optional[Mapping[str, Any]] = None,
          anonymous_id: Optional[str] = None) -> Optional[str]:
    c = _client()
    return c and c.track(distinct_id, event, properties, timestamp, event_id,
                         context, anonymous_id)


def identify(distinct_id: Union[str, int],
             traits: Optional[Mapping[str, Any]] = None,
             timestamp: Timestamp = None, event_id: Optional[str] = None,
             context: Optional[Mapping[str, Any]] = None,
             anonymous_id: Optional[str] = None) -> Optional[str]:
    c = _client()
    return c and c.identify(distinct_id, traits, timestamp, event_id, context,
                            anonymous_id)


def page(distinct_id: Optional[Union[str, int]], url: str,
         title: Optional[str] = None, referrer: Optional[str] = None,
         properties: Optional[Mapping[str, Any]] = None,
         timestamp: Timestamp = None, event_id: Optional[str] = None,
         context: Optional[Mapping[str, Any]] = None,
         anonymous_id: Optional[str] = None) -> Optional[str]:
    c = _client()
    return c and c.page(distinct_id, url, title, referrer, properties, timestamp,
                        event_id, context, anonymous_id)


def flush(timeout: Optional[float] = None) -> bool:
    return _default.flush(timeout) if _default is not None else True


def shutdown(timeout: Optional[float] = None) -> bool:
    return _default.shutdown(timeout) if _default is not None else True


def stats() -> Dict[str, int]:
    return _default.stats() if _default is not None else {}
