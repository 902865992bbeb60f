"""`pip install ./sdk-python` works: into a fresh venv, offline (the build
backend is this machine's setuptools + wheel, which scripts/install-deps.sh
provides), and the installed package (with py.typed) sends an event."""

import os
import shutil
import subprocess
import sys

from conftest import SRC

PKG = os.path.dirname(SRC)


def test_pip_install_into_a_venv(tmp_path, server):
    src = tmp_path / "sdk-python"       # a copy: pip builds in the tree
    shutil.copytree(PKG, src, ignore=shutil.ignore_patterns(
        "tests", "__pycache__", "build", "*.egg-info"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages",
                    "--without-pip", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    p = subprocess.run([sys.executable, "-m", "pip", "--python", py, "install",
                        "--no-index", "--no-build-isolation", "-q", str(src)],
                       capture_output=True, text=True)
    assert p.returncode == 0, "pip install failed (scripts/install-deps.sh " \
        "installs setuptools and wheel):\n" + p.stdout + p.stderr
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    p = subprocess.run([py, "-c", """if 1:
        import os, sys, px
        here = os.path.dirname(px.__file__)
        assert here.startswith(sys.prefix), here
        assert os.path.exists(os.path.join(here, "py.typed"))
        c = px.Client("k", "p", sys.argv[1], sync=True)
        print(c.track("u", "installed", {"version": px.__version__}))
    """, server.url], cwd=str(tmp_path), env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert server.ids() == [p.stdout.strip()]
    assert server.events()[0]["properties"] == {"version": "0.1.0"}
