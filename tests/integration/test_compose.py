"""docker-compose.yml is valid (Debian's docker-compose; no Docker engine)."""

import os
import shutil
import subprocess

from conftest import REPO


def test_docker_compose_config_is_valid():
    path = os.path.join(REPO, "docker-compose.yml")
    assert os.path.exists(path), "docker-compose.yml is missing"
    exe = shutil.which("docker-compose")
    assert exe, "docker-compose not installed (scripts/install-deps.sh)"
    r = subprocess.run([exe, "-f", path, "config", "-q"], cwd=REPO,
                       capture_output=True, timeout=120)
    assert r.returncode == 0, (r.stdout + r.stderr).decode(errors="replace")
