"""The stack tool itself: `up` twice is harmless, a taken port is named."""

import json
import os
import socket
import subprocess
import sys

from conftest import REPO

PXSTACK = [sys.executable, os.path.join(REPO, "tools", "pxstack")]


def run(*args, timeout=120):
    return subprocess.run(PXSTACK + list(args), capture_output=True, text=True,
                          timeout=timeout)


def test_up_again_sees_the_running_stack(stack):
    pids = {s.name: s.pid() for s in stack.services}
    r = run("up", "--dir", stack.root, "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)  # exactly one JSON object on stdout
    assert info == stack.info()
    assert info["api_key"] == "px_test_1234567890abcdef"
    assert "already running" in r.stderr
    assert {s.name: s.pid() for s in stack.services} == pids

    r = run("status", "--dir", stack.root, "--json")
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert all(s["running"] for s in st["services"]), st


def test_up_names_a_port_that_is_taken(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        r = run("up", "--dir", str(tmp_path / "stack"), "--free-ports",
                "--redis-port", str(port), timeout=60)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert str(port) in r.stderr and "in use" in r.stderr, r.stderr
    assert r.stdout == ""
    # nothing was started
    run_dir = tmp_path / "stack" / "run"
    assert not run_dir.exists() or not list(run_dir.iterdir())


def test_status_without_a_stack_exits_3(tmp_path):
    r = run("status", "--dir", str(tmp_path))
    assert r.returncode == 3
    assert "no stack" in r.stderr


def test_extra_nginx_with_its_own_keys_and_directives(px):
    n = px.extra_nginx("nginx-extra-keys",
                       server_extra="location = /extra-probe { return 204; }",
                       keys=["px_test_extra_only_key_000 proj_extra unlimited"])
    try:
        assert px.get("/extra-probe", base=n.url).status_code == 204
        assert px.post_batch([px.event()], base=n.url).status_code == 401
        r = px.post_batch([px.event()], base=n.url, key="px_test_extra_only_key_000",
                          project="proj_extra")
        assert r.status_code == 202, r.text
    finally:
        n.stop()
