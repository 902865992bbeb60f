#!/usr/bin/env python3
"""What each Redis operation of the session store costs Redis, per field.

The session stage (docs/sessions.md, "State in Redis") reads claims and
visitor states with pipelined HMGETs of two windows, and writes them with
one compare-and-set script that HSETs every field through Lua's ARGV. This
starts a redis-server as the local stack runs it (tools/pxstack: AOF on,
appendfsync everysec) in a temporary directory on a free loopback port,
and measures Redis's own CPU (utime + stime of /proc/<pid>/stat) per
field for:

  HMGET, 2 windows, absent    a new event's claim (found in neither)
  HMGET, 2 windows, present   a known visitor's state
  HSET through Lua ARGV       how the write script sets a field
  HSET in MULTI/EXEC          the same fields as plain commands
  the store's script          px_kv_lua's visitor part: HMGET both windows
                              in Lua, compare, HSET (per visitor)

Batches of --fields new fields (claims look like the worker's: an
"e:<len>:<project>:<uuid>" field, an "<origin> <sid> <seq> <first>" value)
spread over 64 shard hashes like the worker's, --batches times, one round
trip per batch.

    python3 bench/redis_store_bench.py [--batches 300] [--fields 1000]

Figures, not a test: exit 0 whatever they are (1 when the bench fails).
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tools"))

from pxstack.base import free_port  # noqa: E402
from pxstack.redis import Redis  # noqa: E402

SHARDS = 64

# the write script's shape for events (session_store.c, px_kv_lua): a
# group's fields and values from ARGV into a table, one HSET, EXPIREAT
LUA_HSET = """local c, fv = tonumber(ARGV[1]), {}
for i = 1, 2 * c do fv[i] = ARGV[1 + i] end
redis.call('HSET', KEYS[1], unpack(fv))
redis.call('EXPIREAT', KEYS[1], ARGV[2 * c + 2])
return 1"""

# its visitor part: read both windows, compare with the value read, write
LUA_CAS = """local c, f = tonumber(ARGV[1]), {}
for i = 1, c do f[i] = ARGV[3 * i - 1] end
local cur = redis.call('HMGET', KEYS[1], unpack(f))
local prev = redis.call('HMGET', KEYS[2], unpack(f))
for i = 1, c do
  if (cur[i] or prev[i] or '') ~= ARGV[3 * i] then return 0 end
end
local fv = {}
for i = 1, c do fv[2 * i - 1] = ARGV[3 * i - 1]; fv[2 * i] = ARGV[3 * i + 1] end
redis.call('HSET', KEYS[1], unpack(fv))
redis.call('EXPIREAT', KEYS[1], ARGV[3 * c + 2])
return 1"""


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=60)

    def round_trip(self, payload):
        """Send payload and a PING; read until the PONG (every reply in)."""
        self.s.sendall(payload + resp("PING"))
        buf = b""
        while not buf.endswith(b"+PONG\r\n"):
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise RuntimeError("redis closed the connection")
            buf += chunk
        if b"\r\n-" in buf or buf.startswith(b"-"):
            raise RuntimeError("redis error: %r" % buf[:200])
        return buf


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        st = f.read()
    fields = st[st.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def by_shard(fields):
    groups = {}
    for f in fields:
        groups.setdefault(hash(f) % SHARDS, []).append(f)
    return groups


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", type=int, default=300)
    ap.add_argument("--fields", type=int, default=1000, help="fields per batch")
    args = ap.parse_args()

    root = tempfile.mkdtemp(prefix="px-redis-bench-")
    redis = Redis(root, free_port())
    redis.prepare()
    redis.start()
    try:
        redis.wait_healthy()
        pid = redis.pid()
        conn = Conn(redis.port)
        value = "3:123456 %s 12 1700000000000" % uuid.uuid4()
        batches = [by_shard(["e:2:p1:%s" % uuid.uuid4() for _ in range(args.fields)])
                   for _ in range(args.batches)]
        n = args.batches * args.fields
        results = []

        def measure(name, build):
            c0 = cpu_s(pid)
            for b in batches:
                conn.round_trip(b"".join(build(s, fs) for s, fs in b.items()))
            us = (cpu_s(pid) - c0) * 1e6 / n
            results.append((name, us))
            print("  %-30s %6.2f us of Redis CPU per field" % (name, us), flush=True)

        version = subprocess.run(["redis-server", "--version"], capture_output=True,
                                 text=True).stdout.split()
        print("%s (AOF everysec), %d batches of %d fields, %d shards"
              % (" ".join(version[:3]), args.batches, args.fields, SHARDS))
        measure("HMGET, 2 windows, absent", lambda s, fs:
                resp("HMGET", "E:1:%d" % s, *fs) + resp("HMGET", "E:0:%d" % s, *fs))
        measure("HSET through Lua ARGV", lambda s, fs:
                resp("EVAL", LUA_HSET, 1, "E:1:%d" % s, len(fs),
                     *[x for f in fs for x in (f, value)], 9999999999))
        measure("HMGET, 2 windows, present", lambda s, fs:
                resp("HMGET", "E:1:%d" % s, *fs) + resp("HMGET", "E:0:%d" % s, *fs))
        measure("HSET in MULTI/EXEC", lambda s, fs:
                resp("MULTI") + resp("HSET", "P:1:%d" % s,
                                     *[x for f in fs for x in (f, value)])
                + resp("EXPIREAT", "P:1:%d" % s, 9999999999) + resp("EXEC"))
        # the visitor CAS on the fields written above (value read = value)
        measure("the store's script (CAS)", lambda s, fs:
                resp("EVAL", LUA_CAS, 2, "P:1:%d" % s, "P:0:%d" % s, len(fs),
                     *[x for f in fs for x in (f, value, value)], 9999999999))
    finally:
        redis.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:  # figures, not a test: say why and fail the bench
        print("redis_store_bench: %s" % e, file=sys.stderr)
        sys.exit(1)
