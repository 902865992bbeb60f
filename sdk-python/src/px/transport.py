"""One keep-alive HTTP connection to the batch endpoint (http.client).

Owned by one thread at a time (the sender thread, or the caller in sync
mode). A connection the server closed between requests is reopened once
at once; any other failure is the caller's to retry.
"""

import gzip
import http.client
import json
import socket
import ssl
from typing import Any, List, NamedTuple, Optional
from urllib.parse import urlsplit

from .backoff import parse_retry_after
from .version import LIBRARY_NAME, VERSION

PATH = "/api/v1/events/batch"


class Answer(NamedTuple):
    status: int                    # 0: no answer (network error)
    retry_after: Optional[float]   # seconds, from Retry-After
    body: Any                      # the JSON body, or None
    error: str                     # what went wrong, for the log


class Transport:
    def __init__(self, endpoint: str, api_key: str, project_id: str,
                 compress: bool = True,
                 ssl_context: Optional[ssl.SSLContext] = None):
        u = urlsplit(endpoint if "://" in endpoint else "http://" + endpoint)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError("endpoint must be an http(s) URL, not %r" % endpoint)
        self.https = u.scheme == "https"
        self.host = u.hostname
        self.port = u.port or (443 if self.https else 80)
        self.path = u.path.rstrip("/") + PATH
        self.compress = compress
        self.ssl_context = ssl_context
        # the key in a header: a server's key is refused in the query
        # string (docs/api.md), and headers are never logged
        self.headers = {
            "Authorization": "Bearer " + api_key,
            "X-PX-Project-ID": project_id,
            "Content-Type": "application/json",
            "User-Agent": "%s/%s" % (LIBRARY_NAME, VERSION),
        }
        if compress:
            self.headers["Content-Encoding"] = "gzip"
        self.conn: Optional[http.client.HTTPConnection] = None

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        if self.https:
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout,
                                               context=self.ssl_context)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass
            self.conn = None

    def forget(self) -> None:
        """After fork: the socket is the parent's; drop it unclosed (closing
        would only close this process's descriptor, which is harmless, but
        an SSL close would write to the parent's stream)."""
        self.conn = None

    def post(self, events: List[bytes], sent_at: str, timeout: float) -> Answer:
        body = b'{"events":[' + b",".join(events) + b'],"sent_at":"' \
            + sent_at.encode() + b'"}'
        if self.compress:
            body = gzip.compress(body, 6)
        for fresh in (False, True):
            reused = self.conn is not None and not fresh
            if self.conn is None:
                self.conn = self._connect(timeout)
            elif self.conn.sock is not None:
                self.conn.sock.settimeout(timeout)
            try:
                self.conn.request("POST", self.path, body, self.headers)
                r = self.conn.getresponse()
                data = r.read()
            except (http.client.RemoteDisconnected, ConnectionResetError,
                    BrokenPipeError) as e:
                self.close()
                if reused:
                    continue    # the server closed an idle keep-alive connection
                return Answer(0, None, None, "%s: %s" % (type(e).__name__, e))
            except (OSError, http.client.HTTPException, socket.timeout) as e:
                self.close()
                return Answer(0, None, None, "%s: %s" % (type(e).__name__, e))
            if r.getheader("Connection", "").lower() == "close":
                self.close()
            return Answer(r.status, parse_retry_after(r.getheader("Retry-After")),
                          _json(data), "HTTP %d %s" % (r.status, data[:200].decode(
                              "utf-8", "replace")))
        return Answer(0, None, None, "connection closed")   # not reached


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None
