"""The Dockerfile's recipe, as far as it can be checked without a Docker
engine: every Debian package its stages install exists in this machine's
Debian release, the module is built against the same nginx version that
the nginx-px image runs, and the files it copies are in the repository.
(The build itself is what `make` does; the shipped docker/nginx.conf with
the built module passes `nginx -t` in tests/integration/test_shipped_confs.py.)"""

import os
import re
import shutil
import subprocess

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def dockerfile():
    with open(os.path.join(REPO, "Dockerfile")) as f:
        text = f.read()
    return text.replace("\\\n", " ")


def stages(text):
    """{stage name: its instructions} of a multi-stage Dockerfile."""
    parts = re.split(r"^FROM \S+ AS (\S+)\s*$", text, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def installs(stage_text):
    """The package arguments of the stage's apt-get install lines."""
    out = []
    for m in re.finditer(r"apt-get install ([^&|;]*)", stage_text):
        out += [w for w in m.group(1).split() if not w.startswith("-")]
    return out


def test_every_stage_is_bookworm_and_installs_known_packages():
    if not shutil.which("apt-cache"):
        pytest.skip("no apt-cache on this machine")
    text = dockerfile()
    assert re.search(r"^ARG DEBIAN_IMAGE=debian:bookworm", text, re.M)
    names = set()
    for name, body in stages(text).items():
        for pkg in installs(body):
            names.add(pkg.split("=", 1)[0])
    assert {"nginx", "nginx-dev", "librdkafka-dev", "librdkafka1"} <= names, names
    r = subprocess.run(["apt-cache", "show", "--no-all-versions"] + sorted(names),
                       capture_output=True, timeout=120)
    found = set(re.findall(r"^Package: (\S+)$", r.stdout.decode(errors="replace"), re.M))
    missing = sorted(names - found)
    assert not missing, "not in this machine's Debian: %s" % missing


def test_module_and_nginx_are_the_same_version():
    st = stages(dockerfile())
    assert re.search(r"^ARG NGINX_VERSION=\S+", dockerfile(), re.M)
    build, runtime = installs(st["build"]), installs(st["nginx-px"])
    assert "nginx=${NGINX_VERSION}" in build and "nginx-dev=${NGINX_VERSION}" in build, build
    assert "nginx=${NGINX_VERSION}" in runtime, runtime
    for name in ("build", "nginx-px"):
        assert re.search(r"^ARG NGINX_VERSION\s*$", st[name], re.M), name


def test_copied_files_exist_and_no_key_is_baked_in():
    text = dockerfile()
    for src in re.findall(r"^COPY (?!--from)(?:--\S+ )*(\S+) \S+\s*$", text, re.M):
        if src != ".":
            assert os.path.exists(os.path.join(REPO, src)), src
    # the demo key file goes only where PX_DEMO_KEYS=1 looks for it
    for src, dst in re.findall(r"^COPY (?:--\S+ )*(\S+) (\S+)\s*$", text, re.M):
        if src.endswith("keys.conf"):
            assert dst == "/usr/share/px/keys.demo.conf", dst
