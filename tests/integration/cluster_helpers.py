"""Helpers for the ClickHouse cluster tests (test_clickhouse_cluster.py).

LostAnswers: an HTTP proxy in front of a ClickHouse node that forwards
every request, but answers the first `lose` successful inserts with an
error, as if the connection broke after ClickHouse stored the rows. The
worker then sends the same block again: the case that replicated block
deduplication exists for. A lost answer comes late (1.2 s), so the
retry is in another second than the first attempt: a row value taken
from the clock at each attempt (inserted_at) would make it another block.
"""

import threading
import time
from urllib.parse import parse_qs, urlparse

import requests

from worker_helpers import AnswerHandler, LoopbackServer

# headers of the worker's requests that ClickHouse needs as they were
FORWARDED = ("Content-Encoding", "Content-Type", "Authorization",
             "X-ClickHouse-User", "X-ClickHouse-Key")


class LostAnswers(LoopbackServer):
    def __init__(self, upstream, lose):
        """upstream: the ClickHouse service (its url, table_exists)."""
        self.upstream = upstream
        self.lose = lose
        self.lost = 0           # inserts stored upstream, answered with an error
        self.inserts = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(AnswerHandler):
            def _handle(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                headers = {h: self.headers[h] for h in FORWARDED if h in self.headers}
                r = requests.request(self.command, proxy.upstream.url + self.path,
                                     data=body, headers=headers, timeout=60)
                query = parse_qs(urlparse(self.path).query).get("query", [""])[0]
                insert = query.upper().startswith("INSERT")
                with proxy.lock:
                    proxy.inserts += insert
                    lose = insert and r.status_code == 200 and proxy.lost < proxy.lose
                    proxy.lost += lose
                if lose:
                    time.sleep(1.2)
                    self._answer(500, "Code: 210. DB::NetException: Connection "
                                      "reset by peer (test proxy: answer lost)")
                else:
                    self._answer(r.status_code, r.content)

            do_GET = do_POST = _handle

        super().__init__(Handler)

    def table_exists(self, database, table):
        return self.upstream.table_exists(database, table)
