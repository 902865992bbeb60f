"""docker-compose.yml and docker-compose.staging.yml are valid (Debian's
docker-compose; no Docker engine), refuse to run without their secrets,
harden the PX services and name the processing service px-processor (the
seed's `docker-compose logs -f px-processor`); the staging file pins its
images, limits every service, restarts and health-checks them, and runs one
px-processor per partition of its 3."""

import os
import re
import shutil
import subprocess

import pytest
import yaml

from conftest import REPO

PATH = os.path.join(REPO, "docker-compose.yml")
STAGING = os.path.join(REPO, "docker-compose.staging.yml")
# what the staging file requires from the environment
STAGING_ENV = {"PX_VERSION": "1.2.3", "PX_CLICKHOUSE_PASSWORD": "s3cret",
               "PX_REDIS_PASSWORD": "r3dis"}
# long-running services: restarted and health-checked
SERVICES = ["kafka", "redis", "clickhouse", "nginx-px", "px-processor"]


def compose(*args, file=PATH, **env):
    exe = shutil.which("docker-compose")
    assert exe, "docker-compose not installed (scripts/install-deps.sh)"
    e = {k: v for k, v in os.environ.items()
         if not k.startswith("PX_") and k not in ("BATCH_SIZE", "FLUSH_INTERVAL")}
    e.update(env)
    return subprocess.run([exe, "-f", file] + list(args), cwd=REPO, env=e,
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


@pytest.fixture(scope="module")
def staging():
    r = compose("config", file=STAGING, **STAGING_ENV)
    assert r.returncode == 0, r.stderr
    return yaml.safe_load(r.stdout)["services"]


@pytest.fixture(params=["compose", "staging"])
def services(request, config, staging):
    return {"compose": config, "staging": staging}[request.param]


@pytest.mark.parametrize("service", ["nginx-px", "px-processor"])
def test_px_services_are_hardened(services, service):
    s = services[service]
    assert s["cap_drop"] == ["ALL"], s
    assert "no-new-privileges:true" in s["security_opt"], s
    assert s["read_only"] is True, s
    assert s["tmpfs"], s


def test_every_service_has_bounded_logs(services):
    for name, s in services.items():
        opts = s.get("logging", {}).get("options", {})
        assert "max-size" in opts and "max-file" in opts, name


def test_the_password_reaches_server_and_worker(config):
    assert config["clickhouse"]["environment"]["CLICKHOUSE_PASSWORD"] == "s3cret"
    assert config["px-processor"]["environment"]["CLICKHOUSE_PASSWORD"] == "s3cret"


def test_the_processor_is_px_processor_running_px_worker(services):
    """`docker-compose logs -f px-processor` names the service; the image
    (and the program in it) stays px-worker."""
    assert "px-worker" not in services
    s = services["px-processor"]
    assert re.search(r"/px-worker:[^/]+$", s["image"]), s["image"]
    assert s["healthcheck"]["test"] == [
        "CMD", "/usr/local/bin/worker-entrypoint.sh", "--healthcheck"]


# -- docker-compose.staging.yml ---------------------------------------------------

def test_staging_config_is_valid():
    r = compose("config", "-q", file=STAGING, **STAGING_ENV)
    assert r.returncode == 0, (r.stdout + r.stderr).decode(errors="replace")


@pytest.mark.parametrize("missing", sorted(STAGING_ENV))
def test_staging_needs_each_secret_and_the_version(missing):
    env = {k: v for k, v in STAGING_ENV.items() if k != missing}
    r = compose("config", "-q", file=STAGING, **env)
    out = (r.stdout + r.stderr).decode(errors="replace")
    assert r.returncode != 0 and missing in out, out


def test_staging_images_are_pinned(staging):
    for name, s in staging.items():
        assert "build" not in s, name
        image = s["image"]
        tag = image.rsplit(":", 1)[1] if ":" in image.split("/")[-1] else ""
        # a version: digits and dots (an image's own suffix allowed), never latest
        assert re.match(r"^\d+(\.\d+)+", tag), (name, image)
    assert staging["nginx-px"]["image"] == "px/nginx-px:1.2.3"
    assert staging["px-processor"]["image"] == "px/px-worker:1.2.3"


def test_staging_limits_restarts_and_health_checks(staging):
    for name, s in staging.items():
        assert float(s["cpus"]) > 0 and s["mem_limit"], name
        assert s["restart"] in ("unless-stopped", "always", "on-failure"), name
    for name in SERVICES:
        assert staging[name]["restart"] == "unless-stopped", name
        assert staging[name]["healthcheck"]["test"], name
    assert staging["kafka-init"]["restart"] == "on-failure"


def test_staging_secrets_come_from_the_environment(staging):
    env = staging["px-processor"]["environment"]
    assert env["CLICKHOUSE_PASSWORD"] == "s3cret"
    assert env["REDIS_URL"] == "redis://:r3dis@redis:6379/0"
    assert staging["clickhouse"]["environment"]["CLICKHOUSE_PASSWORD"] == "s3cret"
    assert "r3dis" in staging["redis"]["command"]
    assert staging["redis"]["environment"]["REDISCLI_AUTH"] == "r3dis"
    assert staging["nginx-px"]["environment"]["PX_DEMO_KEYS"] == "0"


def test_staging_runs_a_processor_per_partition(staging):
    script = "".join(staging["kafka-init"]["command"])
    m = re.search(r"--topic px\.events\.raw --partitions (\d+)", script)
    assert m and int(m.group(1)) == 3, script
    assert staging["px-processor"]["scale"] == 3
    assert staging["kafka"]["environment"]["KAFKA_NUM_PARTITIONS"] in (3, "3")
