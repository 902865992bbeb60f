"""docker-compose.yml is valid (Debian's docker-compose; no Docker engine),
refuses to run without a ClickHouse password, and hardens the PX services."""

import os
import shutil
import subprocess

import pytest
import yaml

from conftest import REPO

PATH = os.path.join(REPO, "docker-compose.yml")


def compose(*args, **env):
    exe = shutil.which("docker-compose")
    assert exe, "docker-compose not installed (scripts/install-deps.sh)"
    e = {k: v for k, v in os.environ.items() if not k.startswith("PX_")}
    e.update(env)
    return subprocess.run([exe, "-f", PATH] + list(args), cwd=REPO, env=e,
                          capture_output=True, timeout=120)


def test_docker_compose_config_is_valid():
    r = compose("config", "-q", PX_CLICKHOUSE_PASSWORD="s3cret")
    assert r.returncode == 0, (r.stdout + r.stderr).decode(errors="replace")
    r = compose("--profile", "geoip", "config", "-q", PX_CLICKHOUSE_PASSWORD="s3cret")
    assert r.returncode == 0, (r.stdout + r.stderr).decode(errors="replace")


def test_no_clickhouse_password_no_start():
    r = compose("config", "-q")
    out = (r.stdout + r.stderr).decode(errors="replace")
    assert r.returncode != 0 and "PX_CLICKHOUSE_PASSWORD" in out, out


@pytest.fixture(scope="module")
def config():
    r = compose("config", PX_CLICKHOUSE_PASSWORD="s3cret")
    assert r.returncode == 0, r.stderr
    return yaml.safe_load(r.stdout)["services"]


@pytest.mark.parametrize("service", ["nginx-px", "px-worker"])
def test_px_services_are_hardened(config, service):
    s = config[service]
    assert s["cap_drop"] == ["ALL"], s
    assert "no-new-privileges:true" in s["security_opt"], s
    assert s["read_only"] is True, s
    assert s["tmpfs"], s


def test_every_service_has_bounded_logs(config):
    for name, s in config.items():
        opts = s.get("logging", {}).get("options", {})
        assert "max-size" in opts and "max-file" in opts, name


def test_the_password_reaches_server_and_worker(config):
    assert config["clickhouse"]["environment"]["CLICKHOUSE_PASSWORD"] == "s3cret"
    assert config["px-worker"]["environment"]["CLICKHOUSE_PASSWORD"] == "s3cret"
