"""`pip install` of the package works offline (Debian's setuptools as the
build backend, no index) into a virtual environment, and the installed
package runs a command."""
import os
import shutil
import subprocess
import sys

from conftest import HUTCH, SDK


def test_pip_install_offline_into_a_venv(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(SDK, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "tests"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "--no-build-isolation", "--no-index", str(src)],
                         capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stdout[-2000:] + pip.stderr[-2000:]
    code = ("import hutch_sandbox as hs; print(hs.__file__.startswith(%r)); "
            "print(hs.run(['echo', 'installed']).stdout, end='')" % str(venv))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, env=dict(env, HUTCH_BIN=HUTCH))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "True\ninstalled\n"
