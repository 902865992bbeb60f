"""pxstack command line.

    python3 tools/pxstack up     [--dir DIR] [--free-ports] [--json] [--no-sample]
                                 [--nginx-port P] [--kafka-port P] [--redis-port P]
                                 [--clickhouse-port P]
    python3 tools/pxstack down   [--dir DIR]
    python3 tools/pxstack status [--dir DIR] [--json]

DIR defaults to <repo>/.px-stack. Human text goes to stderr; with --json,
stdout carries exactly one JSON object.
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
import uuid

if __package__ in (None, ""):
    # run as a script (python3 tools/pxstack/cli.py): import the package
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pxstack.base import PortInUse, ServiceError  # noqa: E402
from pxstack.stack import DEMO_KEY, DEMO_PROJECT, REPO, Ports, Stack  # noqa: E402


def say(msg=""):
    print(msg, file=sys.stderr, flush=True)


def _ports(args, stack_dir):
    """Ports for `up`: recorded ones for an existing stack, else defaults,
    --free-ports, or the --*-port options."""
    state_file = os.path.join(stack_dir, "stack.json")
    ports = None
    if os.path.exists(state_file) and not args.free_ports:
        try:
            with open(state_file) as f:
                ports = Ports(**json.load(f)["ports"])
        except (OSError, ValueError, KeyError, TypeError):
            ports = None
    if ports is None:
        ports = Ports.free() if args.free_ports else Ports()
    for opt, field in (("nginx_port", "nginx"), ("kafka_port", "kafka"),
                       ("redis_port", "redis"), ("clickhouse_port", "clickhouse_http")):
        v = getattr(args, opt)
        if v:
            setattr(ports, field, v)
    return ports


def _describe(stack):
    i = stack.info()
    say("")
    say("PX stack in %s" % stack.root)
    say("  nginx + px module  %s   (POST /api/v1/events/batch, GET /health)" % i["nginx"])
    say("  Kafka (KRaft)      %s      topics px.events.raw, px.events.dlq" % i["kafka"])
    say("  Redis              %s" % i["redis"])
    say("  ClickHouse HTTP    %s   (database px, table events)" % i["clickhouse"])
    say("  px-worker          %s" % stack.worker.binary)
    say("  demo key           %s  (project %s)" % (DEMO_KEY, DEMO_PROJECT))
    say("  logs               %s/" % stack.logs_dir)
    say("  stop with          make down   (python3 tools/pxstack down --dir %s)"
        % shlex.quote(stack.root))


def _sample(stack, timeout=30.0):
    """Send one event with curl and show its row from ClickHouse."""
    event_id = str(uuid.uuid4())
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    body = json.dumps({
        "events": [{
            "event": "page_view", "event_id": event_id,
            "anonymous_id": "anon_pxstack_sample", "timestamp": now,
            "properties": {"source": "pxstack up"},
            "context": {"page": {"url": "http://localhost/", "path": "/",
                                 "title": "pxstack sample"},
                        "library": {"name": "curl", "version": "0"}},
        }],
        "sent_at": now,
    })
    cmd = ["curl", "-sS", "-X", "POST", stack.nginx.url + "/api/v1/events/batch",
           "-H", "Authorization: Bearer " + DEMO_KEY,
           "-H", "X-PX-Project-ID: " + DEMO_PROJECT,
           "-H", "Content-Type: application/json",
           "-d", body, "-w", "\nHTTP %{http_code}\n"]
    say("")
    say("$ " + " ".join(shlex.quote(c) for c in cmd[:-2]))
    r = subprocess.run(cmd, capture_output=True, timeout=30)
    out = "\n".join(l for l in r.stdout.decode(errors="replace").splitlines()
                    if l.strip())
    say(out)
    if r.returncode != 0 or not out.endswith("HTTP 202"):
        say("pxstack: the sample batch was not accepted; see %s/nginx-error.log"
            % stack.logs_dir)
        return False
    sql = ("SELECT * FROM px.events WHERE event_id = '%s' FORMAT Vertical" % event_id)
    say("")
    say("$ echo %s | curl -sS %s/ --data-binary @-" % (shlex.quote(sql), stack.clickhouse.url))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = stack.clickhouse.query(sql)
        if rows.strip():
            say(rows.rstrip())
            return True
        time.sleep(0.25)
    say("pxstack: event %s did not reach ClickHouse within %.0fs; see %s/worker.log"
        % (event_id, timeout, stack.logs_dir))
    return False


def cmd_up(args):
    stack_dir = os.path.abspath(args.dir)
    stack = Stack(stack_dir, ports=_ports(args, stack_dir), say=say)
    t0 = time.monotonic()
    if all(s.running() for s in stack.services):
        say("pxstack: the stack in %s is already running" % stack_dir)
    try:
        stack.up()
    except PortInUse as e:
        say("pxstack: up failed: %s" % e)
        say("pxstack: stop what holds them, or choose other ports (--free-ports, "
            "--nginx-port ...)")
        return 1
    except ServiceError as e:
        say("pxstack: up failed: %s" % e)
        say("pxstack: logs are in %s/" % stack.logs_dir)
        return 1
    say("pxstack: stack healthy after %.1fs" % (time.monotonic() - t0))
    if args.json:
        print(json.dumps(stack.info()), flush=True)
        return 0
    _describe(stack)
    if not args.no_sample and not _sample(stack):
        return 1
    return 0


def cmd_down(args):
    stack = Stack(os.path.abspath(args.dir), say=say)
    stopped = stack.down()
    if stopped:
        say("pxstack: stopped %s" % ", ".join(stopped))
    else:
        say("pxstack: nothing was running in %s" % stack.root)
    return 0


def cmd_status(args):
    stack_dir = os.path.abspath(args.dir)
    if not os.path.exists(os.path.join(stack_dir, "stack.json")):
        if args.json:
            print(json.dumps({"dir": stack_dir, "services": []}), flush=True)
        say("pxstack: no stack has been started in %s" % stack_dir)
        return 3
    stack = Stack(stack_dir, say=say)
    st = stack.status()
    if args.json:
        print(json.dumps({"dir": stack_dir, "services": st}), flush=True)
    else:
        say("PX stack in %s" % stack_dir)
        for s in st:
            say("  %-10s %-8s pid %-8s ports %s" % (
                s["name"], "running" if s["running"] else "stopped",
                s["pid"] or "-", ",".join(str(p) for p in s["ports"])))
        say("  logs in %s/" % stack.logs_dir)
    return 0 if all(s["running"] for s in st) else 3


def main(argv=None):
    p = argparse.ArgumentParser(prog="pxstack", description="PX local stack")
    sub = p.add_subparsers(dest="cmd", required=True)
    default_dir = os.environ.get("PX_STACK_DIR") or os.path.join(REPO, ".px-stack")

    up = sub.add_parser("up", help="start the stack (what is not running yet)")
    up.add_argument("--dir", default=default_dir)
    up.add_argument("--free-ports", action="store_true",
                    help="pick free loopback ports instead of 8000/9092/6379/8123")
    up.add_argument("--json", action="store_true",
                    help="print one JSON object describing the stack on stdout")
    up.add_argument("--no-sample", action="store_true",
                    help="do not send the sample batch")
    for name in ("nginx", "kafka", "redis", "clickhouse"):
        up.add_argument("--%s-port" % name, type=int, default=0)
    up.set_defaults(func=cmd_up)

    down = sub.add_parser("down", help="stop the stack")
    down.add_argument("--dir", default=default_dir)
    down.set_defaults(func=cmd_down)

    status = sub.add_parser("status", help="show what runs (exit 3 if not all)")
    status.add_argument("--dir", default=default_dir)
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    args = p.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
