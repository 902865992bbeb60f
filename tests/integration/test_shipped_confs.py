"""The nginx configurations PX ships (conf/nginx.conf for a Debian host,
docker/nginx.conf for the image) pass `nginx -t` with the built module, and
they hold what they promise: bounded memory for slow clients, a connection
cap per address, status locations for this host only, nginx's own errors as
JSON, the seed's tiers."""

import os
import re
import shutil
import subprocess

import pytest

from conftest import REPO
from pxstack.nginx import NGINX
from pxstack.stack import build_dir

CONFS = {"debian": "conf/nginx.conf", "docker": "docker/nginx.conf"}


ENTRYPOINT = os.path.join(REPO, "docker", "nginx-entrypoint.sh")


def localize(text, tmp, module):
    """The conf with its host paths pointed into tmp (the module, keys,
    pid, logs, temp dirs); nothing else changed. The image's conf reads its
    keys and realip list from the entrypoint's run dir (tmp here)."""
    keys = os.path.join(REPO, "conf", "keys.conf")
    text = re.sub(r"load_module \S+;", "load_module %s;" % module, text)
    text = re.sub(r"px_keys /etc/\S+;", "px_keys %s;" % keys, text)
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
    args = ["-t", "-p", str(tmp_path) + "/", "-c", str(path)]
    if request.param == "docker":
        # as the image starts it: the entrypoint links the keys and writes
        # the realip list, then runs nginx
        keys = tmp_path / "keys"
        keys.mkdir()
        shutil.copy(os.path.join(REPO, "conf", "keys.conf"), keys / "keys.conf")
        r = run_entrypoint(tmp_path, args, PX_KEYS_DIR=str(keys))
    else:
        r = subprocess.run([NGINX] + args, capture_output=True, timeout=60)
    return raw, r.returncode, (r.stdout + r.stderr).decode(errors="replace")


def run_entrypoint(run_dir, args, **env):
    e = dict(os.environ, PX_RUN_DIR=str(run_dir),
             PATH=os.path.dirname(NGINX) + ":" + os.environ.get("PATH", ""))
    e.update(env)
    return subprocess.run(["sh", ENTRYPOINT] + list(args), env=e,
                          capture_output=True, timeout=60)


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


# -- the image's entrypoint: no key in the image, trusted proxies by env -------

def test_no_key_file_stops_with_a_message(tmp_path):
    (tmp_path / "keys").mkdir()
    r = run_entrypoint(tmp_path, ["-t"], PX_KEYS_DIR=str(tmp_path / "keys"))
    err = r.stderr.decode()
    assert r.returncode == 1 and "no key file" in err and "PX_DEMO_KEYS" in err, err
    assert not (tmp_path / "keys.conf").exists()


def test_demo_keys_only_when_asked(tmp_path):
    demo = tmp_path / "demo.conf"
    demo.write_text("px_test_1234567890abcdef proj_demo_uuid enterprise\n")
    r = run_entrypoint(tmp_path, ["-v"], PX_KEYS_DIR=str(tmp_path / "none"),
                       PX_DEMO_KEYS="1", PX_DEMO_KEYS_FILE=str(demo))
    assert r.returncode == 0, r.stderr
    assert "WARNING" in r.stderr.decode()
    assert (tmp_path / "keys.conf").read_text() == demo.read_text()


def test_mounted_keys_are_linked_so_replacements_are_seen(tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "keys.conf").write_text("k1 p1 free\n")
    r = run_entrypoint(tmp_path, ["-v"], PX_KEYS_DIR=str(keys))
    assert r.returncode == 0, r.stderr
    # an editor writes a new file and renames it over the old one
    (keys / "keys.conf.new").write_text("k2 p2 pro\n")
    os.rename(keys / "keys.conf.new", keys / "keys.conf")
    assert (tmp_path / "keys.conf").read_text() == "k2 p2 pro\n"


def test_trusted_proxies_from_the_environment(tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "keys.conf").write_text("")
    r = run_entrypoint(tmp_path, ["-v"], PX_KEYS_DIR=str(keys),
                       PX_TRUSTED_PROXIES="172.16.0.0/12 10.0.0.1 ::1")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "realip.conf").read_text().split("\n") == [
        "set_real_ip_from 172.16.0.0/12;", "set_real_ip_from 10.0.0.1;",
        "set_real_ip_from ::1;", ""]
    r = run_entrypoint(tmp_path, ["-v"], PX_KEYS_DIR=str(keys),
                       PX_TRUSTED_PROXIES="10.0.0.1; deny all")
    assert r.returncode == 1 and b"not an address" in r.stderr, r.stderr
