"""make install: the files it installs, and a systemd unit that matches the
worker it installs (Type=notify only when px-worker can sd_notify)."""

import os
import re
import subprocess

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def install(tmp_path, *make_args):
    dest = tmp_path / "root"
    r = subprocess.run(["make", "-s", "-C", REPO, "install", "DESTDIR=%s" % dest,
                        "PREFIX=/usr"] + list(make_args),
                       capture_output=True, timeout=600)
    assert r.returncode == 0, (r.stdout + r.stderr).decode(errors="replace")[-3000:]
    return dest


def unit(dest, name="px-worker.service"):
    return (dest / "usr/lib/systemd/system" / name).read_text()


@pytest.fixture(scope="module")
def configured():
    if not os.path.exists(os.path.join(REPO, "config.mk")):
        pytest.fail("run ./configure first (make test does)")
    with open(os.path.join(REPO, "config.mk")) as f:
        return f.read()


def test_install_puts_everything_in_place(tmp_path, configured):
    dest = install(tmp_path)
    for path in ("usr/bin/px-worker",
                 "usr/lib/nginx/modules/ngx_http_px_module.so",
                 "usr/share/px/conf/nginx.conf", "usr/share/px/conf/px-worker.conf",
                 "usr/lib/systemd/system/px-worker.service",
                 "usr/lib/systemd/system/px-geoipupdate.service",
                 "usr/lib/systemd/system/px-geoipupdate.timer"):
        assert (dest / path).exists(), path
    u = unit(dest)
    assert "/usr/local/" not in u, "PREFIX not applied"
    assert "ExecStart=/usr/bin/px-worker" in u
    assert re.search(r"^RestartPreventExitStatus=2$", u, re.M)
    assert re.search(r"^StartLimitBurst=\d+$", u, re.M)
    if "PX_HAVE_SYSTEMD" in configured:
        assert re.search(r"^Type=notify$", u, re.M), u
        assert re.search(r"^WatchdogSec=\d+$", u, re.M), u


def test_a_worker_without_libsystemd_gets_a_simple_unit(tmp_path, configured):
    dest = install(tmp_path, "SYSTEMD_CFLAGS=")
    u = unit(dest)
    assert re.search(r"^Type=simple$", u, re.M), u
    assert "Type=notify" not in u and "NotifyAccess" not in u, u
    assert "WatchdogSec" not in u, "a worker that cannot notify would be killed"
