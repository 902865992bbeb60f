"""A test-only HTTP front for chdb: current ClickHouse (chdb-core, 26.x,
in-process) behind the part of ClickHouse's HTTP interface px-worker uses.

    python3 -m pxstack.chdb_front --port N --data DIR   (from tools/)

Not a server for anything but tests. It answers:
- GET /ping (and GET / without a query): "Ok.\\n";
- a query in `?query=`, in the POST body, or both (ClickHouse's rule: the
  parameter, a newline, then the body, so `INSERT ... FORMAT JSONEachRow`
  in the URL takes its rows from the body);
- `Content-Encoding: gzip` (or deflate) request bodies;
- `database` (parameter or X-ClickHouse-Database), `default_format`
  (or X-ClickHouse-Format; TabSeparated otherwise), and any other URL
  parameter as a setting for that query only; credentials (`user`,
  `password`, X-ClickHouse-User/-Key, Basic auth) are accepted and ignored;
- errors as ClickHouse sends them: the status ClickHouse would use (500
  unless its exceptionCodeToHTTPStatus says otherwise),
  `X-ClickHouse-Exception-Code: N` and `Code: N. DB::Exception: ...`.

Tables live in one chdb Session on DIR, so they persist across requests
and restarts. Queries run one at a time (a lock): a Session is not made for
concurrent use. The server is a ThreadingHTTPServer on 127.0.0.1.

ChdbFront is the same program as a pxstack Service (start, wait_healthy,
stop, logs in DIR/logs/<name>.log) for the integration tests.
"""

import argparse
import gzip
import http.server
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib

from .base import Service, ServiceError, http_get

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# URL parameters that are not settings
NOT_SETTINGS = {"query", "database", "user", "password", "default_format",
                "query_id", "session_id", "session_timeout", "session_check",
                "compress", "decompress", "buffer_size", "wait_end_of_query",
                "quota_key", "role", "http_wait_end_of_query"}

# ClickHouse's exceptionCodeToHTTPStatus (src/Server/HTTP/), by error name
STATUS_BY_NAME = {}
for _status, _names in (
        (401, "REQUIRED_PASSWORD"),
        (403, "UNKNOWN_USER WRONG_PASSWORD AUTHENTICATION_FAILED "
              "SET_NON_GRANTED_ROLE ACCESS_DENIED"),
        (400, "BAD_ARGUMENTS CANNOT_COMPILE_REGEXP CANNOT_PARSE_TEXT "
              "CANNOT_PARSE_ESCAPE_SEQUENCE CANNOT_PARSE_QUOTED_STRING "
              "CANNOT_PARSE_DATE CANNOT_PARSE_DATETIME CANNOT_PARSE_NUMBER "
              "CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING CANNOT_PARSE_IPV4 "
              "CANNOT_PARSE_IPV6 CANNOT_PARSE_INPUT_ASSERTION_FAILED "
              "CANNOT_PARSE_UUID DUPLICATE_COLUMN ILLEGAL_COLUMN "
              "UNKNOWN_ELEMENT_IN_AST UNKNOWN_TYPE_OF_AST_NODE THERE_IS_NO_COLUMN "
              "TOO_DEEP_AST TOO_BIG_AST UNEXPECTED_AST_STRUCTURE SYNTAX_ERROR "
              "INCORRECT_DATA TYPE_MISMATCH VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE"),
        (404, "UNKNOWN_TABLE UNKNOWN_FUNCTION UNKNOWN_IDENTIFIER UNKNOWN_TYPE "
              "UNKNOWN_STORAGE UNKNOWN_DATABASE UNKNOWN_SETTING "
              "UNKNOWN_DIRECTION_OF_SORTING UNKNOWN_AGGREGATE_FUNCTION "
              "UNKNOWN_FORMAT UNKNOWN_DATABASE_ENGINE UNKNOWN_TYPE_OF_QUERY "
              "UNKNOWN_ROLE"),
        (413, "QUERY_IS_TOO_LARGE"),
        (501, "NOT_IMPLEMENTED"),
        (503, "SOCKET_TIMEOUT CANNOT_OPEN_FILE CANNOT_SCHEDULE_TASK"),
        (411, "HTTP_LENGTH_REQUIRED"),
        (408, "TIMEOUT_EXCEEDED"),
        (415, "UNSUPPORTED_MEDIA_TYPE")):
    for _n in _names.split():
        STATUS_BY_NAME[_n] = _status

# an INSERT whose rows are binary (the worker's RowBinary): table, the
# column list, the format
BINARY_INSERT = re.compile(
    r"\s*INSERT\s+INTO\s+([\w.`]+)\s*(\([^)]*\))?\s*FORMAT\s+(RowBinary|Native)\s*$",
    re.I)

CONTENT_TYPES = {
    "TabSeparated": "text/tab-separated-values; charset=UTF-8",
    "TSV": "text/tab-separated-values; charset=UTF-8",
    "JSONEachRow": "application/x-ndjson; charset=UTF-8",
    "JSON": "application/json; charset=UTF-8",
    "JSONCompact": "application/json; charset=UTF-8",
    "CSV": "text/csv; charset=UTF-8; header=absent",
}


class QueryError(Exception):
    """A ClickHouse exception: code, name (e.g. UNKNOWN_TABLE), text."""

    def __init__(self, code, name, text):
        super().__init__(text)
        self.code = code
        self.name = name
        self.text = text

    def __str__(self):
        return self.text

    @property
    def status(self):
        return STATUS_BY_NAME.get(self.name, 500)


def query_error(exc):
    """QueryError from a chdb exception (its text is ClickHouse's:
    "Code: N. DB::Exception: ... (NAME)")."""
    text = str(exc).strip()
    m = re.search(r"Code: (\d+)\.", text)
    code = int(m.group(1)) if m else 1000   # POCO_EXCEPTION, for lack of one
    names = re.findall(r"\(([A-Z][A-Z0-9_]+)\)", text)
    if not m:
        text = "Code: %d. DB::Exception: %s" % (code, text)
    return QueryError(code, names[-1] if names else "", text)


def sql_literal(value):
    """A SET value: a number as is, anything else as a quoted string."""
    if re.fullmatch(r"-?\d+(\.\d+)?", value):
        return value
    return "'%s'" % value.replace("\\", "\\\\").replace("'", "\\'")


class Engine:
    """One chdb Session, used by one query at a time."""

    def __init__(self, data_dir):
        from chdb import session as chs   # chdb-core: only the server needs it
        os.makedirs(data_dir, exist_ok=True)
        self.session = chs.Session(data_dir)
        self.spool = os.path.join(data_dir, "spool")
        self.lock = threading.Lock()
        self.version = self._run("SELECT version()").decode().strip()

    def _run(self, sql, fmt="TabSeparated"):
        try:
            r = self.session.query(sql, fmt)
        except Exception as e:  # chdb's ChdbError, RuntimeError
            raise query_error(e)
        if r is None:
            return b""
        get = getattr(r, "bytes", None)
        return get() if get is not None else str(r).encode()

    def execute(self, sql, fmt="TabSeparated", settings=None, database=None):
        """Run one statement; its output as bytes. The settings and the
        database hold for this statement only (as over ClickHouse's HTTP
        without a session)."""
        settings = settings or {}
        with self.lock:
            applied = []
            try:
                if database:
                    self._run("USE `%s`" % database.replace("`", ""))
                for name, value in settings.items():
                    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                        raise QueryError(115, "UNKNOWN_SETTING",
                                         "Code: 115. DB::Exception: Unknown "
                                         "setting '%s'. (UNKNOWN_SETTING)" % name)
                    self._run("SET %s = %s" % (name, sql_literal(value)))
                    applied.append(name)
                return self._run(sql, fmt)
            finally:
                for name in applied:
                    try:
                        self._run("SET %s = DEFAULT" % name)
                    except QueryError:
                        pass
                if database:
                    try:
                        self._run("USE default")
                    except QueryError:
                        pass

    def insert_from_file(self, m, body):
        """INSERT INTO t [(cols)] FORMAT RowBinary|Native with its rows in
        body, as an INSERT ... SELECT from a file holding them (the insert
        table gives the file its structure). Returns (sql, the file's
        path): the caller removes the file once the statement ran."""
        os.makedirs(self.spool, exist_ok=True)
        fd, path = tempfile.mkstemp(dir=self.spool, suffix=".bin")
        with os.fdopen(fd, "wb") as f:
            f.write(body)
        return ("INSERT INTO %s %s SELECT * FROM file('%s', '%s')" % (
            m.group(1), m.group(2) or "", path, m.group(3)), path)

    def close(self):
        with self.lock:
            try:
                self.session.close()
            except Exception:
                pass


def read_body(handler):
    """The request body, de-chunked and decompressed (Content-Encoding)."""
    h = handler.headers
    if h.get("Transfer-Encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline().strip():
                    pass   # trailers
                break
            parts.append(handler.rfile.read(size))
            handler.rfile.readline()
        body = b"".join(parts)
    else:
        body = handler.rfile.read(int(h.get("Content-Length") or 0))
    enc = h.get("Content-Encoding", "").strip().lower()
    if enc in ("", "identity", "none"):
        return body
    try:
        if enc in ("gzip", "x-gzip"):
            return gzip.decompress(body)
        if enc == "deflate":
            return zlib.decompress(body)
    except (OSError, EOFError, zlib.error) as e:
        raise QueryError(354, "CANNOT_DECOMPRESS",
                         "Code: 354. DB::Exception: inflate failed: %s. "
                         "(CANNOT_DECOMPRESS)" % e)
    raise QueryError(353, "UNKNOWN_COMPRESSION_METHOD",
                     "Code: 353. DB::Exception: Unknown Content-Encoding of "
                     "HTTP request: %s. (UNKNOWN_COMPRESSION_METHOD)" % enc)


def make_handler(engine, quiet=False):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "chdb-front"

        def log_message(self, fmt, *args):
            if not quiet:
                sys.stdout.write("%s %s\n" % (time.strftime("%H:%M:%S"), fmt % args))
                sys.stdout.flush()

        def _send(self, status, body, headers=None):
            if isinstance(body, str):
                body = body.encode()
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("X-ClickHouse-Server-Display-Name", "chdb-front")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _error(self, e):
            text = e.text
            if "(version " not in text:
                text += " (version %s)" % engine.version
            self.log_message("error %d: %s", e.code, e.text[:300].replace("\n", " "))
            self._send(e.status, text + "\n", {
                "X-ClickHouse-Exception-Code": str(e.code),
                "Content-Type": "text/plain; charset=UTF-8"})

        def do_HEAD(self):
            self.do_GET()

        def do_GET(self):
            self._handle(with_body=False)

        def do_POST(self):
            self._handle(with_body=True)

        def _handle(self, with_body):
            url = urllib.parse.urlsplit(self.path)
            params = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
            try:
                body = read_body(self) if with_body else b""
                if url.path in ("/ping", "/") and not params.get("query") and not body:
                    self._send(200, "Ok.\n", {"Content-Type": "text/html; charset=UTF-8"})
                    return
                if url.path not in ("/", ""):
                    self._send(404, "There is no handle %s\n" % url.path)
                    return
                query = params.get("query", "")
                binary = BINARY_INSERT.match(query) if body else None
                if binary:
                    # chdb takes a query as text: binary rows go in by a file
                    sql, spooled = engine.insert_from_file(binary, body)
                    query, body = "", b""
                if query and body:
                    query += "\n"
                try:
                    if not binary:
                        sql = query + body.decode("utf-8")
                except UnicodeDecodeError:
                    raise QueryError(
                        6, "CANNOT_PARSE_TEXT",
                        "Code: 6. DB::Exception: this test front takes UTF-8 "
                        "only. (CANNOT_PARSE_TEXT)")
                if not sql.strip():
                    raise QueryError(62, "SYNTAX_ERROR",
                                     "Code: 62. DB::Exception: Empty query. "
                                     "(SYNTAX_ERROR)")
                if re.match(r"\s*SET\s", sql, re.I):
                    # without a session, SET lasts for its own request only
                    self._send(200, "")
                    return
                fmt = (params.get("default_format")
                       or self.headers.get("X-ClickHouse-Format") or "TabSeparated")
                database = (params.get("database")
                            or self.headers.get("X-ClickHouse-Database"))
                settings = {k: v for k, v in params.items() if k not in NOT_SETTINGS}
                try:
                    out = engine.execute(sql, fmt, settings, database)
                finally:
                    if binary:
                        os.unlink(spooled)
                m = re.search(r"\bFORMAT\s+(\w+)\s*;?\s*$", sql[:4096], re.I)
                ctype = CONTENT_TYPES.get(m.group(1) if m else fmt,
                                          "text/plain; charset=UTF-8")
                self._send(200, out, {"Content-Type": ctype})
            except QueryError as e:
                self._error(e)

    return Handler


def serve(port, data_dir, host="127.0.0.1", quiet=False):
    engine = Engine(data_dir)
    server = http.server.ThreadingHTTPServer((host, port), make_handler(engine, quiet))
    server.daemon_threads = True

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("chdb-front: ClickHouse %s (chdb) on http://%s:%d, data in %s"
          % (engine.version, host, port, data_dir), flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        engine.close()
        print("chdb-front: stopped", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--data", required=True, help="chdb Session directory")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--quiet", action="store_true", help="no request log")
    a = p.parse_args(argv)
    serve(a.port, os.path.abspath(a.data), a.host, a.quiet)


class ChdbFront(Service):
    """The front as a pxstack service: DIR/logs/<name>.log, DIR/<name>/ the
    chdb data. Healthy when GET /ping answers Ok."""

    name = "chdb-front"
    marker = "pxstack.chdb_front"
    start_timeout = 60.0
    stop_timeout = 20.0

    def __init__(self, root, port, name="chdb-front"):
        self.name = name
        super().__init__(root)
        self.port = port
        self.data = os.path.join(self.root, name)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def ports(self):
        return [(self.name, self.port)]

    def preflight(self):
        import importlib.util
        if importlib.util.find_spec("chdb") is None:
            raise ServiceError("%s: the python3 module chdb is missing: "
                               "python3 -m pip install chdb-core" % self.name)

    def command(self):
        return [sys.executable, "-m", "pxstack.chdb_front",
                "--port", str(self.port), "--data", self.data]

    def env(self):
        e = dict(os.environ)
        e["PYTHONPATH"] = TOOLS + (os.pathsep + e["PYTHONPATH"]
                                   if e.get("PYTHONPATH") else "")
        return e

    def check(self):
        status, body = http_get(self.url + "/ping")
        return status == 200 and body == b"Ok.\n"

    def query(self, sql, timeout=30.0):
        """Run sql; the body as text. QueryError (code, name, text) when
        the front answers an error."""
        req = urllib.request.Request(self.url + "/", data=sql.encode(), method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.read().decode()
        except urllib.error.HTTPError as e:
            text = e.read().decode(errors="replace").strip()
            err = query_error(text)
            err.text = "HTTP %d: %s" % (e.code, text)
            raise err

    def rows(self, sql):
        """Rows of a SELECT (sql without FORMAT) as dicts."""
        return [json.loads(line) for line in
                self.query(sql + " FORMAT JSONEachRow").splitlines() if line.strip()]


if __name__ == "__main__":
    main()
