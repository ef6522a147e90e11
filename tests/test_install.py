"""The wheel installs one package, ``drumscribe``, and lives next to other projects.

A wheel is built from a copy of the checkout (``pip wheel --no-build-isolation``, offline)
and installed with ``pip install --no-deps --target`` into a folder together
with another distribution whose top-level packages are ``plugins`` and
``calibration``; both are then imported and used in a subprocess whose
``PYTHONPATH`` is that folder (the dependencies come from this environment).
These tests need the namespace layout (``scripts/namespace_rename.py``).
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_cfg = configparser.ConfigParser()
_cfg.read(ROOT / "setup.cfg")
NAMESPACED = "drumscribe.transcribe" in _cfg.get("options", "package_dir", fallback="")
pytestmark = pytest.mark.skipif(not NAMESPACED, reason="run scripts/namespace_rename.py first")

OTHER_SETUP = """\
[metadata]
name = other-project
version = 1.0

[options]
packages = plugins, calibration
"""


def _pip(*args):
    proc = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _source_copy(dest: Path) -> Path:
    """The checkout's files (tracked and untracked, not ignored), so no stale build/ leaks in."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True)
    names = listed.stdout.splitlines() if listed.returncode == 0 else None
    if names is None:
        shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(
            ".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__"))
        return dest
    for name in names:
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    dist = tmp_path_factory.mktemp("dist")
    src = _source_copy(tmp_path_factory.mktemp("src") / "drumscribe")
    _pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(dist), str(src))
    (whl,) = dist.glob("drumscribe-*.whl")
    return whl


def test_wheel_holds_one_top_level_package_and_the_shipped_data(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"drumscribe"}
    assert "drumscribe/models/default.pt" in names
    assert "drumscribe/calibration/default.yaml" in names
    assert "drumscribe/transcribe/cli.py" in names and "drumscribe/__main__.py" in names
    assert not [n for n in names if "/examples/" in n or n.startswith("drumscribe/tests/")]


def test_installs_next_to_a_project_with_top_level_plugins_and_calibration(wheel, tmp_path):
    other = tmp_path / "other"
    for pkg in ("plugins", "calibration"):
        (other / pkg).mkdir(parents=True)
        (other / pkg / "__init__.py").write_text(f"OWNER = 'other-project {pkg}'\n")
    (other / "setup.cfg").write_text(OTHER_SETUP)
    (other / "pyproject.toml").write_text('[build-system]\nrequires = ["setuptools"]\n'
                                          'build-backend = "setuptools.build_meta"\n')
    site = tmp_path / "site"
    _pip("install", "--no-deps", "--no-build-isolation", "--no-index", "--target", str(site),
         str(other), str(wheel))
    code = (
        "import plugins, calibration\n"
        "from drumscribe.transcribe.pipeline import make_plugin_manager, builtin_plugins\n"
        "from drumscribe.resources import shipped_model, shipped_calibration\n"
        "import drumscribe.calibration.cli\n"
        "_, info = make_plugin_manager()\n"
        "print(plugins.OWNER, '|', calibration.OWNER)\n"
        "print(sorted(info) == sorted(builtin_plugins()), shipped_model().is_file(),\n"
        "      str(shipped_calibration()).startswith(%r))\n" % str(site))
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["other-project plugins | other-project calibration",
                                        "True True True"]
    version = subprocess.run([sys.executable, "-m", "drumscribe", "--version"], capture_output=True,
                             text=True, env=env, cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("transcribe (drumscribe) ")
