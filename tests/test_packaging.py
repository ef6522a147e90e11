"""Packaging: what a wheel installs, shipped data, the built-ins, import cost.

The wheel itself (built, installed into a fresh venv outside the checkout, run on
examples/example.mp3) is checked by ``scripts/ci_wheel.sh`` in CI; these tests
cover what can be seen from the editable install.
"""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
from pathlib import Path

import pytest

import drumscribe
from drumscribe import resources
from drumscribe.transcribe import pipeline
from drumscribe.transcribe.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _setup_cfg():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return cfg


def test_shipped_model_and_calibration_are_package_data():
    assert resources.shipped_model().is_file()
    assert resources.shipped_calibration().is_file()
    data = _setup_cfg()["options.package_data"]
    assert "*.pt" in data["drumscribe.models"]
    assert any(k.split(".")[-1] == "calibration" and "*.yaml" in v for k, v in data.items())


def test_builtins_are_listed_once_in_setup_cfg():
    listed = [ln.split("=")[0].strip() for ln in
              _setup_cfg()["options.entry_points"]["drumscribe"].strip().splitlines()]
    assert sorted(listed) == list(pipeline.builtin_plugins())
    assert not hasattr(pipeline, "BUILTIN_PLUGINS")


def test_autoload_off_loads_builtins_only(monkeypatch):
    class Fake:
        name, value, group = "fake", "fake_mod", "drumscribe"
        dist = type("D", (), {"metadata": {"Name": "drumscribe-fake"}, "version": "9"})()

        def load(self):
            raise AssertionError("a third-party plugin was loaded")

    real = pipeline.importlib.metadata.entry_points
    monkeypatch.setattr(pipeline.importlib.metadata, "entry_points",
                        lambda group: list(real(group=group)) + [Fake()])
    _, info = pipeline.make_plugin_manager()  # the suite runs with autoload off
    assert set(info) == set(pipeline.builtin_plugins())
    monkeypatch.delenv(pipeline.AUTOLOAD_ENV)
    _, info = pipeline.make_plugin_manager(entry_points="builtin")
    assert "fake" not in info
    with pytest.raises(Exception, match="a third-party plugin was loaded"):
        pipeline.make_plugin_manager()


def test_env_model_does_not_get_the_shipped_calibration(tmp_path, monkeypatch):
    """$DRUMSCRIBE_MODEL names another model: the shipped calibration (fitted for the
    shipped model) must not be attached, or the run fails with 'fitted for another model'."""
    import shutil

    from drumscribe.transcribe.api import TranscriptionSession

    other = tmp_path / "other.pt"
    shutil.copy(resources.shipped_model(), other)
    monkeypatch.setenv("DRUMSCRIBE_MODEL", str(other))
    session = TranscriptionSession()
    assert session.config.postprocessing.calibration_file is None
    monkeypatch.delenv("DRUMSCRIBE_MODEL")
    session = TranscriptionSession()
    assert session.config.postprocessing.calibration_file == str(resources.shipped_calibration())


def test_library_import_loads_no_torch():
    code = ("import sys, drumscribe, drumscribe.transcribe.api, drumscribe.transcribe.cli, drumscribe.transcribe.testing, "
            "drumscribe.calibration.cli\n"
            "from drumscribe.transcribe.pipeline import make_plugin_manager\n"
            "make_plugin_manager()\n"
            "print(sorted(m for m in ('torch', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT.parent)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_version(capsys):
    with pytest.raises(SystemExit) as ei:
        main(["--version"])
    assert ei.value.code == 0
    assert capsys.readouterr().out.strip() == f"transcribe (drumscribe) {drumscribe.__version__}"


def test_python_m_drumscribe():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "drumscribe", "--version"], capture_output=True,
                         text=True, env=env, cwd=ROOT.parent)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"transcribe (drumscribe) {drumscribe.__version__}"


def test_doctests_of_the_error_run_and_config_helpers():
    import doctest

    from drumscribe.transcribe import config, errors, run

    for mod in (errors, run, config):
        result = doctest.testmod(mod)
        assert result.failed == 0 and result.attempted > 0, mod.__name__
