"""The nginx configurations PX ships (conf/nginx.conf for a Debian host,
docker/nginx.conf for the image) pass `nginx -t` with the built module, and
they hold what they promise: bounded memory for slow clients, a connection
cap per address, status locations for this host only, nginx's own errors as
JSON, the seed's tiers."""

import os
import re
import subprocess

import pytest

from conftest import REPO
from pxstack.nginx import NGINX
from pxstack.stack import build_dir

CONFS = {"debian": "conf/nginx.conf", "docker": "docker/nginx.conf"}


def localize(text, tmp, module):
    """The conf with its host paths pointed into tmp (the module, keys,
    pid, logs, temp dirs); nothing else changed."""
    keys = os.path.join(REPO, "conf", "keys.conf")
    text = re.sub(r"load_module \S+;", "load_module %s;" % module, text)
    text = re.sub(r"px_keys \S+;", "px_keys %s;" % keys, text)
    text = re.sub(r"^user \S+;", "", text, flags=re.M)
    text = re.sub(r"pid \S+;", "pid %s/nginx.pid;" % tmp, text)
    text = re.sub(r"(error_log|access_log) /(var|dev)/\S+", r"\1 %s/log" % tmp, text)
    text = text.replace("/tmp/nginx/", "%s/" % tmp)
    return text


@pytest.fixture(params=sorted(CONFS))
def conf(request, tmp_path):
    module = os.path.join(build_dir(), "ngx_http_px_module.so")
    with open(os.path.join(REPO, CONFS[request.param])) as f:
        raw = f.read()
    path = tmp_path / "nginx.conf"
    path.write_text(localize(raw, tmp_path, module))
    r = subprocess.run([NGINX, "-t", "-p", str(tmp_path) + "/", "-c", str(path)],
                       capture_output=True, timeout=60)
    return raw, r.returncode, (r.stdout + r.stderr).decode(errors="replace")


def test_nginx_t_accepts_it(conf):
    raw, rc, out = conf
    assert rc == 0, out
    assert "[emerg]" not in out, out
    # the one expected warning: the free tier cannot take a 500-event batch
    warns = [l for l in out.splitlines() if "[warn]" in l]
    assert all('tier "free"' in l for l in warns), warns


def test_memory_is_bounded(conf):
    raw = conf[0]
    assert re.search(r"client_body_buffer_size 64k;", raw)
    assert re.search(r"client_body_timeout 10s;", raw)
    assert re.search(r"client_header_timeout 10s;", raw)
    assert re.search(r"limit_conn_zone \$binary_remote_addr zone=px_conn:", raw)
    assert re.search(r"limit_conn px_conn \d+;", raw)


def test_status_locations_answer_this_host_only(conf):
    raw = conf[0]
    for loc in ("/api/v1/events/queue/status", "/metrics"):
        block = re.search(r"location = %s \{(.*?)\}" % re.escape(loc), raw, re.S)
        assert block, loc
        assert "allow 127.0.0.1;" in block.group(1) and "deny all;" in block.group(1), loc


def test_json_errors_and_seed_tiers(conf):
    raw = conf[0]
    assert "px_json_errors on;" in raw
    tiers = re.findall(r"^\s*px_tier (\S+)", raw, re.M)
    assert tiers == ["free", "pro", "enterprise"], tiers
    assert "log_format px_masked" in raw and " px_masked;" in raw
